//! Small server-rendered pages for families without the app: the approval page an SMS or
//! e-mail links to (opening it shows the request and changes nothing, so link previewers
//! cannot decide; the parent's tap posts the decision through the same rules as the API),
//! and one-click unsubscribe from non-essential mail.
//!
//! The pages are rendered from the console's templates (`src/console/templates/
//! family_page.html`) with the console's headers: its stylesheet file and nothing else,
//! never framed, and a POST from another site (a foreign `Origin` or `Referer`) is refused
//! before it can decide or unsubscribe anything.

use poem::http::{HeaderMap, StatusCode, header};
use poem::web::{Data, Form, Path};
use poem::{Endpoint, IntoResponse, Request, Response, handler};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::events::{EventStatus, SignupStatus};
use crate::domain::ids::{AccountId, SignupId};
use crate::http::problem::Problem;
use crate::notify::fanout::format_local;
use crate::notify::links;
use crate::participation::{self, Decision, ParticipationError};
use crate::state::AppState;
use crate::store;

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    decision: String,
}

/// GET: shows the request. Changes nothing.
#[handler]
pub async fn show_approval(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    match approval_context(&state, &token).await {
        Ok(Some((_, _, Some(settled)))) => page(StatusCode::GONE, settled.title, settled.body),
        Ok(Some((link, event_line, None)))
            if link.used_at.is_none() && link.expires_at > chrono::Utc::now() =>
        {
            render(
                StatusCode::OK,
                FamilyPage {
                    title: "Нужно ваше согласие",
                    text: "Ваш ребёнок записался на профессиональную пробу:",
                    event_line: Some(event_line),
                    form: Some(PageForm::Decision),
                },
            )
        }
        Ok(Some((link, _, _))) if link.used_at.is_some() => page(
            StatusCode::GONE,
            "Ссылка уже использована",
            "Решение по этой записи уже принято.",
        ),
        Ok(Some(_)) => page(
            StatusCode::GONE,
            "Срок ссылки истёк",
            "Откройте приложение, чтобы посмотреть запись.",
        ),
        Ok(None) => not_found(),
        Err(err) => failed(err),
    }
}

/// POST: the parent's tap. Uses the link once and decides through the API's rules.
#[handler]
pub async fn decide_approval(
    state: Data<&AppState>,
    Path(token): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "decline" => Decision::Decline,
        _ => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Непонятный ответ",
                "Выберите «Одобрить» или «Отклонить».",
            );
        }
    };
    let Some(link_id) = links::approval_link_id(&state.index, &token) else {
        return not_found();
    };
    let result: Result<Option<Result<SignupStatus, ParticipationError>>, store::StoreError> =
        async {
            let mut tx = state.db.begin().await?;
            let Some(link) = store::approval_links::use_once(&mut *tx, link_id).await? else {
                return Ok(None);
            };
            let outcome = participation::decide(
                &mut tx,
                SignupId(link.signup_id.0),
                AccountId(link.parent_id.0),
                decision,
                None,
            )
            .await;
            match outcome {
                Ok(row) => {
                    tx.commit().await?;
                    Ok(Some(Ok(row.status)))
                }
                Err(err) => Ok(Some(Err(err))),
            }
        }
        .await;
    match result {
        Ok(Some(Ok(SignupStatus::Approved))) => page(
            StatusCode::OK,
            "Спасибо!",
            "Участие одобрено. Ребёнок получит уведомление.",
        ),
        Ok(Some(Ok(_))) => page(
            StatusCode::OK,
            "Спасибо!",
            "Запись отклонена. Место передано следующему в очереди.",
        ),
        Ok(Some(Err(ParticipationError::AlreadyDecided(status)))) => page(
            StatusCode::CONFLICT,
            "Решение уже принято",
            if status == SignupStatus::Approved {
                "Другой родитель уже одобрил эту запись."
            } else {
                "Другой родитель уже отклонил эту запись."
            },
        ),
        Ok(Some(Err(ParticipationError::Store(err)))) => failed(err),
        Ok(Some(Err(_))) => page(
            StatusCode::CONFLICT,
            "Запись больше не ждёт решения",
            "Откройте приложение, чтобы посмотреть её состояние.",
        ),
        Ok(None) => page(
            StatusCode::GONE,
            "Ссылка недействительна",
            "Ссылка уже использована или её срок истёк.",
        ),
        Err(err) => failed(err),
    }
}

/// GET: confirms what unsubscribing means. Changes nothing.
#[handler]
pub async fn show_unsubscribe(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    match links::unsubscribe_target(&state.index, &token) {
        Some(_) => render(
            StatusCode::OK,
            FamilyPage {
                title: "Отписаться от писем",
                text: "Вы больше не будете получать такие письма. Важные сообщения об отмене и переносе проб продолжат приходить.",
                event_line: None,
                form: Some(PageForm::Unsubscribe),
            },
        ),
        None => not_found(),
    }
}

/// POST: one-click unsubscribe (RFC 8058) from e-mail for one kind of notice.
#[handler]
pub async fn unsubscribe(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Some((account, kind)) = links::unsubscribe_target(&state.index, &token) else {
        return not_found();
    };
    let account = AccountId(account);
    let result: Result<(), store::StoreError> = async {
        let mut prefs = store::notifications::preferences(&state.db, account)
            .await?
            .unwrap_or(store::notifications::PreferencesRow {
                language: "ru".to_owned(),
                time_zone: "Europe/Moscow".to_owned(),
                quiet_from: None,
                quiet_to: None,
                disabled: Value::Object(Default::default()),
            });
        let map = prefs
            .disabled
            .as_object_mut()
            .ok_or(store::StoreError::NotFound)?;
        let list = map.entry(kind).or_insert_with(|| Value::Array(Vec::new()));
        if let Some(items) = list.as_array_mut()
            && !items.iter().any(|v| v == "email")
        {
            items.push(Value::from("email"));
        }
        store::notifications::set_preferences(&state.db, account, &prefs).await
    }
    .await;
    match result {
        Ok(()) => page(StatusCode::OK, "Готово", "Вы отписались от этих писем."),
        Err(err) => failed(err),
    }
}

/// Why a request no longer waits for a decision, as the page says it.
struct Settled {
    title: &'static str,
    body: &'static str,
}

/// What became of a sign-up that no longer awaits a parent, if it does not.
fn settled(
    signup_status: SignupStatus,
    event: Option<&store::events::EventRow>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Settled> {
    let event_over = event.is_none_or(|e| e.status == EventStatus::Cancelled || e.starts_at <= now);
    match signup_status {
        SignupStatus::Approved => Some(Settled {
            title: "Решение уже принято",
            body: "Участие в этой пробе уже одобрено.",
        }),
        SignupStatus::Declined => Some(Settled {
            title: "Решение уже принято",
            body: "Эта запись уже отклонена.",
        }),
        SignupStatus::PendingParent if !event_over => None,
        _ if event.is_some_and(|e| e.status == EventStatus::Cancelled) => Some(Settled {
            title: "Проба отменена",
            body: "Организатор отменил эту пробу, решение больше не нужно.",
        }),
        _ => Some(Settled {
            title: "Запись больше не ждёт решения",
            body: "Откройте приложение, чтобы посмотреть её состояние.",
        }),
    }
}

/// The link, one line describing the event, and whether the request is settled, when the
/// token is genuine and known.
async fn approval_context(
    state: &AppState,
    token: &str,
) -> Result<Option<(store::approval_links::LinkRow, String, Option<Settled>)>, store::StoreError> {
    let Some(id) = links::approval_link_id(&state.index, token) else {
        return Ok(None);
    };
    let Some(link) = store::approval_links::find(&state.db, id).await? else {
        return Ok(None);
    };
    let Some(signup) = store::signups::find(&state.db, SignupId(link.signup_id.0)).await? else {
        return Ok(None);
    };
    let event = store::events::find(&state.db, signup.event_id).await?;
    let settled = settled(signup.status, event.as_ref(), chrono::Utc::now());
    let line = event
        .map(|e| {
            let place = e.city.map(|c| format!(", {c}")).unwrap_or_default();
            format!(
                "«{}» — {}{place}",
                e.title,
                format_local(e.starts_at, &e.time_zone, "ru")
            )
        })
        .unwrap_or_default();
    Ok(Some((link, line, settled)))
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Ссылка не найдена",
        "Проверьте ссылку из сообщения.",
    )
}

fn failed(err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Что-то пошло не так",
        "Попробуйте ещё раз через минуту.",
    )
}

/// What a family's page shows: a title, a sentence, the event it is about, and the form
/// of the decision or the unsubscribe button.
#[derive(askama::Template)]
#[template(path = "family_page.html")]
struct FamilyPage {
    title: &'static str,
    text: &'static str,
    event_line: Option<String>,
    form: Option<PageForm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageForm {
    Decision,
    Unsubscribe,
}

/// A page with just a title and a sentence.
fn page(status: StatusCode, title: &'static str, text: &'static str) -> Response {
    render(
        status,
        FamilyPage {
            title,
            text,
            event_line: None,
            form: None,
        },
    )
}

/// Renders a family's page from the console's templates, with the console's headers:
/// its stylesheet file only, no script, forms back here only, never in a frame, and a
/// `same-origin` referrer policy (under `no-referrer` a browser sends `Origin: null` on
/// the page's own form, which `same_site_posts_only` must refuse).
fn render(status: StatusCode, page: FamilyPage) -> Response {
    let mut response = crate::console::pages::render(status, &page);
    crate::console::session::secure(response.headers_mut());
    response
}

/// Wraps a page's POST: refuses it with 403 when it comes from another site, so a page
/// elsewhere cannot approve a sign-up or unsubscribe someone by posting here.
pub async fn same_site_posts_only<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let public_url = req
        .data::<AppState>()
        .map(|state| state.settings.hub.public_url.clone())
        .unwrap_or_default();
    if !is_same_site(req.headers(), &public_url) {
        // A problem document, with the pages' headers like every answer at this path.
        let mut refused =
            Problem::forbidden("this form may only be sent from the service's own page")
                .to_response();
        crate::console::session::secure(refused.headers_mut());
        return Ok(refused);
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Whether a POST comes from our own pages: its `Origin`, else its `Referer`, must be the
/// origin of `BILET_PUBLIC_URL` (`Origin: null` is foreign). A POST with neither is let
/// through: mail clients send one-click unsubscribes (RFC 8058) without them, and a
/// browser always sends `Origin` on a cross-site form POST.
pub fn is_same_site(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(own) = origin_of(public_url) else {
        return false;
    };
    let claimed = match (headers.get(header::ORIGIN), headers.get(header::REFERER)) {
        (Some(origin), _) => origin,
        (None, Some(referer)) => referer,
        (None, None) => return true,
    };
    claimed
        .to_str()
        .ok()
        .and_then(origin_of)
        .is_some_and(|origin| origin == own)
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, without a default port.
fn origin_of(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|a| !a.is_empty() && !a.contains('@'))?
        .to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn only_posts_from_our_own_origin_or_without_origin_are_same_site() {
        let own = "https://bilet.example.ru/";
        let same = |pairs: &[(header::HeaderName, &str)]| is_same_site(&headers(pairs), own);
        assert!(same(&[]));
        assert!(same(&[(header::ORIGIN, "https://bilet.example.ru")]));
        assert!(same(&[(header::ORIGIN, "https://BILET.example.ru:443")]));
        assert!(same(&[(header::REFERER, "https://bilet.example.ru/a/x?y")]));
        assert!(!same(&[(header::ORIGIN, "https://evil.example")]));
        assert!(!same(&[(header::ORIGIN, "null")]));
        assert!(!same(&[(header::ORIGIN, "http://bilet.example.ru")]));
        assert!(!same(&[(
            header::ORIGIN,
            "https://bilet.example.ru.evil.example"
        )]));
        assert!(!same(&[(
            header::REFERER,
            "https://evil.example/https://bilet.example.ru"
        )]));
        assert!(!same(&[(
            header::REFERER,
            "https://bilet.example.ru@evil.example/"
        )]));
        // Origin decides when both are sent.
        assert!(!same(&[
            (header::ORIGIN, "https://evil.example"),
            (header::REFERER, "https://bilet.example.ru/a/x"),
        ]));
    }

    #[test]
    fn the_csp_allows_only_the_stylesheet_file_and_no_frames() {
        let response = page(StatusCode::OK, "t", "x");
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("style-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(response.headers()[header::REFERRER_POLICY], "same-origin");
    }
}
