//! Who is using the console, and the guard every console request passes.
//!
//! A staff member signs in with their account's e-mail and password; the console then
//! holds a random session token in a cookie (`HttpOnly`, `SameSite=Strict`, `Path=/console`,
//! `Secure` when the public URL is https) and keeps only its keyed digest in PostgreSQL.
//! Every sign-in makes a new token (and ends the one the browser held), a session idle
//! longer than [`IDLE`] or older than [`LIFETIME`] is over, and signing out ends it.
//!
//! Every POST must come from the console's own pages: its `Origin` (or, without one, its
//! `Referer`) must be this service, and its form must carry the CSRF token, a keyed digest
//! of the session token (before sign-in, of a random cookie the sign-in page set).

use std::time::Duration;

use base64::Engine as _;
use poem::http::{HeaderMap, HeaderValue, Method, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use rand::RngCore as _;

use super::words::Lang;
use crate::domain::ids::{AccountId, OrganizationId};
use crate::domain::roles::Role;
use crate::state::AppState;
use crate::store;

/// A session unused this long is over.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session is over this long after sign-in, however busy.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

const SESSION_COOKIE: &str = "bilet_console";
const LOGIN_COOKIE: &str = "bilet_console_login";
const LANG_COOKIE: &str = "bilet_console_lang";
const SECOND_STEP_COOKIE: &str = "bilet_console_code";

/// How long a sign-in whose password was right waits for the second factor's code.
pub const SECOND_STEP_FOR: Duration = Duration::from_secs(5 * 60);

/// A signed-in staff member.
#[derive(Debug, Clone)]
pub struct Staff {
    pub account: AccountId,
    pub email: String,
    pub role: Role,
    pub organization: Option<OrganizationId>,
    pub organization_name: Option<String>,
}

impl Staff {
    /// The staff member as the access audit records them.
    pub fn actor(&self) -> store::audit::Actor<'_> {
        store::audit::Actor::Person {
            id: self.account,
            role: self.role.as_str(),
        }
    }
}

/// What every console handler knows about the request.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub staff: Option<Staff>,
    /// The token the page's forms carry.
    pub csrf: String,
    /// The path of this page, for the language switch.
    pub path: String,
    pub request_id: Option<String>,
}

/// Reads the cookie `name` from the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A `Set-Cookie` value for the console's cookies; `max_age` 0 deletes it.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if state.settings.hub.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|secs| format!("; Max-Age={secs}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .expect("cookie values are base64url or a language code")
}

fn session_digest(state: &AppState, token: &str) -> Vec<u8> {
    state.index.digest("console-session", token)
}

fn csrf_for(state: &AppState, purpose: &str, token: &str) -> String {
    state.index.token(purpose, token)
}

/// Starts a session for `account` and returns the `Set-Cookie` headers: the new session
/// cookie and the sign-in cookie deleted. The session the browser held before, if any,
/// is ended, so a token planted before sign-in is worth nothing after it.
pub async fn start(
    state: &AppState,
    request_headers: &HeaderMap,
    account: AccountId,
) -> Result<Vec<HeaderValue>, store::StoreError> {
    if let Some(old) = cookie(request_headers, SESSION_COOKIE) {
        store::console_sessions::end(&state.db, &session_digest(state, old)).await?;
    }
    let token = random_token();
    let expires_at = chrono::Utc::now()
        + chrono::Duration::from_std(LIFETIME).unwrap_or(chrono::Duration::hours(12));
    store::console_sessions::insert(
        &state.db,
        &session_digest(state, &token),
        account,
        expires_at,
    )
    .await?;
    Ok(vec![
        set_cookie(state, SESSION_COOKIE, &token, None),
        set_cookie(state, LOGIN_COOKIE, "", Some(0)),
    ])
}

/// Holds a sign-in whose password was right until the second factor's code is given:
/// records it (a keyed digest of a new random token) and returns the `Set-Cookie` header
/// carrying the token. A waiting sign-in the browser held before is ended.
pub async fn start_second_step(
    state: &AppState,
    request_headers: &HeaderMap,
    account: AccountId,
) -> Result<HeaderValue, store::StoreError> {
    if let Some(old) = cookie(request_headers, SECOND_STEP_COOKIE) {
        store::second_factors::end_pending(&state.db, &second_step_digest(state, old)).await?;
    }
    let token = random_token();
    let expires_at = chrono::Utc::now()
        + chrono::Duration::from_std(SECOND_STEP_FOR).unwrap_or(chrono::Duration::minutes(5));
    store::second_factors::insert_pending(
        &state.db,
        &second_step_digest(state, &token),
        account,
        expires_at,
    )
    .await?;
    Ok(set_cookie(
        state,
        SECOND_STEP_COOKIE,
        &token,
        Some(SECOND_STEP_FOR.as_secs()),
    ))
}

/// The account whose sign-in waits for its code in this browser, if any.
pub async fn second_step_account(
    state: &AppState,
    request_headers: &HeaderMap,
) -> Result<Option<AccountId>, store::StoreError> {
    match cookie(request_headers, SECOND_STEP_COOKIE) {
        Some(token) => {
            store::second_factors::pending(&state.db, &second_step_digest(state, token)).await
        }
        None => Ok(None),
    }
}

/// Ends the browser's waiting sign-in; returns the `Set-Cookie` header deleting it.
pub async fn end_second_step(
    state: &AppState,
    request_headers: &HeaderMap,
) -> Result<HeaderValue, store::StoreError> {
    if let Some(token) = cookie(request_headers, SECOND_STEP_COOKIE) {
        store::second_factors::end_pending(&state.db, &second_step_digest(state, token)).await?;
    }
    Ok(set_cookie(state, SECOND_STEP_COOKIE, "", Some(0)))
}

fn second_step_digest(state: &AppState, token: &str) -> Vec<u8> {
    state.index.digest("console-second-step", token)
}

/// Whether the browser's session is still live, touching it: a page left open on the live
/// progress counts as use. False once it was signed out, its account disabled, or it
/// reached its absolute expiry.
pub async fn still_live(
    state: &AppState,
    request_headers: &HeaderMap,
) -> Result<bool, store::StoreError> {
    let Some(token) = cookie(request_headers, SESSION_COOKIE) else {
        return Ok(false);
    };
    let live = store::console_sessions::touch(
        &state.db,
        &session_digest(state, token),
        IDLE.as_secs() as i64,
    )
    .await?;
    Ok(live.is_some())
}

/// Ends the browser's session; returns the `Set-Cookie` header deleting it.
pub async fn end(
    state: &AppState,
    request_headers: &HeaderMap,
) -> Result<HeaderValue, store::StoreError> {
    if let Some(token) = cookie(request_headers, SESSION_COOKIE) {
        store::console_sessions::end(&state.db, &session_digest(state, token)).await?;
    }
    Ok(set_cookie(state, SESSION_COOKIE, "", Some(0)))
}

/// The guard around every console route: language, session, the CSRF token, and the
/// checks every POST must pass; the console's headers go on every answer.
pub async fn guard<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let state = req
        .data::<AppState>()
        .cloned()
        .expect("the app state is attached to every route");
    let mut set_cookies = Vec::new();
    let asked = req
        .uri()
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lang")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|code| Lang::parse(&code));
    let lang = match asked {
        Some(lang) => {
            set_cookies.push(set_cookie(
                &state,
                LANG_COOKIE,
                lang.code(),
                Some(365 * 24 * 3600),
            ));
            lang
        }
        None => cookie(req.headers(), LANG_COOKIE)
            .and_then(Lang::parse)
            .unwrap_or(Lang::Ru),
    };
    let session_token = cookie(req.headers(), SESSION_COOKIE).map(str::to_owned);
    let staff = match &session_token {
        Some(token) => {
            let live = store::console_sessions::touch(
                &state.db,
                &session_digest(&state, token),
                IDLE.as_secs() as i64,
            )
            .await;
            match live {
                Ok(live) => live.and_then(staff_of),
                Err(err) => return Ok(super::pages::failed(lang, &err)),
            }
        }
        None => None,
    };
    let csrf = match (&staff, &session_token) {
        (Some(_), Some(token)) => csrf_for(&state, "console-csrf", token),
        _ => {
            let nonce = match cookie(req.headers(), LOGIN_COOKIE) {
                Some(nonce) => nonce.to_owned(),
                None => {
                    let nonce = random_token();
                    set_cookies.push(set_cookie(&state, LOGIN_COOKIE, &nonce, Some(3600)));
                    nonce
                }
            };
            csrf_for(&state, "console-login-csrf", &nonce)
        }
    };
    if req.method() == Method::POST {
        let refused = if !same_origin(req.headers(), &state.settings.hub.public_url) {
            true
        } else {
            let body = req.take_body().into_bytes().await?;
            let sent = form_urlencoded::parse(&body)
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            req.set_body(Body::from_bytes(body));
            !constant_time_eq(sent.as_bytes(), csrf.as_bytes())
        };
        if refused {
            tracing::info!("a console form was refused: wrong origin or CSRF token");
            let mut response = super::pages::form_expired(lang);
            secure(response.headers_mut());
            return Ok(response);
        }
    }
    let request_id = req
        .data::<crate::http::request_id::RequestId>()
        .map(|id| id.as_str().to_owned());
    req.set_data(Ctx {
        lang,
        staff,
        csrf,
        path: req.uri().path().to_owned(),
        request_id,
    });
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => super::pages::error_page(lang, &err),
    };
    for value in set_cookies {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    secure(response.headers_mut());
    Ok(response)
}

fn staff_of(live: store::console_sessions::LiveConsoleSession) -> Option<Staff> {
    Some(Staff {
        account: live.account_id,
        email: live.email,
        role: live.role,
        organization: live.organization_id,
        organization_name: live.organization_name,
    })
}

/// The console's CSP: its own script and stylesheet files only, no inline code, requests
/// (the live progress) and forms back to this service only, never in a frame.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The console's headers; the edge adds `nosniff` and `X-Frame-Options`. The referrer
/// policy is `same-origin`, not the edge's `no-referrer`: under `no-referrer` browsers send
/// `Origin: null` even on a same-origin form POST, which the origin check must refuse;
/// `same-origin` still sends nothing to other sites.
pub fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Whether a POST comes from this service: its `Origin` (else its `Referer`) must be the
/// origin the request was sent to (its `Host`), or that of `BILET_PUBLIC_URL`. A POST with
/// neither is refused: every browser sends `Origin` on a form POST.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let claimed = match (headers.get(header::ORIGIN), headers.get(header::REFERER)) {
        (Some(origin), _) => origin.to_str().ok().map(str::to_owned),
        (None, Some(referer)) => referer
            .to_str()
            .ok()
            .and_then(|r| url::Url::parse(r).ok())
            .map(|u| u.origin().ascii_serialization()),
        (None, None) => None,
    };
    let Some(claimed) = claimed.filter(|c| c != "null") else {
        return false;
    };
    let public = url::Url::parse(public_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    if public.as_deref() == Some(claimed.as_str()) {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let scheme = if public_url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    claimed == format!("{scheme}://{host}")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn a_post_must_come_from_this_host_or_the_public_url() {
        let public = "https://bilet.example.ru";
        assert!(same_origin(
            &headers(&[
                ("origin", "https://bilet.example.ru"),
                ("host", "10.0.0.5:8080")
            ]),
            public
        ));
        assert!(same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:4000"),
                ("host", "127.0.0.1:4000")
            ]),
            "http://127.0.0.1:8080"
        ));
        assert!(!same_origin(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "bilet.example.ru")
            ]),
            public
        ));
        assert!(!same_origin(
            &headers(&[("origin", "null"), ("host", "bilet.example.ru")]),
            public
        ));
        assert!(!same_origin(
            &headers(&[("host", "bilet.example.ru")]),
            public
        ));
        assert!(same_origin(
            &headers(&[
                ("referer", "https://bilet.example.ru/console/events"),
                ("host", "x")
            ]),
            public
        ));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let map = headers(&[("cookie", "a=1; bilet_console=tok; b=2")]);
        assert_eq!(cookie(&map, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&map, LOGIN_COOKIE), None);
    }
}
