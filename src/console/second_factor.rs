//! The staff's optional second factor (TOTP, RFC 6238: 30-second steps, six digits, the
//! step before or after accepted, HMAC-SHA1 on `ring`): enrolled from
//! `/console/second-factor` (the `otpauth://` URI and the secret shown; it is on only once
//! a first code confirms it), its secret encrypted at rest with the data key, and asked at
//! sign-in after the password (`/console/login/code`). A code is accepted once: the step
//! it belongs to is recorded and no code of that or an earlier step works again. Code
//! guesses are limited as password guesses are: the per-address limit of sign-in and the
//! per-account slowdown, with `Retry-After`.

use askama::Template;
use chrono::{DateTime, Utc};
use poem::http::{StatusCode, header};
use poem::web::{Data, Redirect};
use poem::{Body, IntoResponse, Request, Response, handler};

use super::pages::{self, Answer, FormData, Frame, shown_local};
use super::session::{self, Ctx};
use super::signin::{finish_sign_in, landing};
use super::words::Lang;
use crate::api::auth::{
    SECOND_FACTOR_SECRET_FIELD as SECRET_FIELD, SecondFactor, check_second_factor,
};
use crate::api::security::ClientInfo;
use crate::domain::ids::AccountId;
use crate::domain::roles::Role;
use crate::security::totp;
use crate::state::AppState;
use crate::store;

/// The issuer and label authenticator apps show; no e-mail, so the URI holds no personal
/// data.
const ISSUER: &str = "bilet";
const LABEL: &str = "console";

/// Checks a code of `account`'s second factor and uses it up (the API's check, shared
/// with `POST /v1/auth/login`); a failure to check is shown as the console's error page.
async fn check_code(
    state: &AppState,
    lang: Lang,
    client: &ClientInfo,
    account: AccountId,
    code: &str,
    enable: bool,
) -> Result<SecondFactor, Response> {
    check_second_factor(state, client, account, code, enable)
        .await
        .map_err(|problem| pages::failed(lang, &problem))
}

#[derive(Template)]
#[template(path = "second_factor_code.html")]
struct CodePage {
    f: Frame,
    error: Option<String>,
}

fn code_page(ctx: &Ctx, status: StatusCode, error: Option<String>) -> Response {
    pages::render(
        status,
        &CodePage {
            f: Frame::new(ctx, ctx.lang.words().code_title),
            error,
        },
    )
}

/// `/console/login/code`: the code step of a sign-in whose password was right.
#[handler]
pub async fn show_code(state: Data<&AppState>, ctx: Data<&Ctx>, req: &Request) -> Response {
    if let Some(staff) = &ctx.staff {
        return Redirect::see_other(landing(staff.role)).into_response();
    }
    match session::second_step_account(&state, req.headers()).await {
        Ok(Some(_)) => code_page(&ctx, StatusCode::OK, None),
        Ok(None) => Redirect::see_other("/console/login").into_response(),
        Err(err) => pages::failed(ctx.lang, &err),
    }
}

#[handler]
pub async fn submit_code(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    client: ClientInfo,
    req: &Request,
    body: Body,
) -> Response {
    async {
        let w = ctx.lang.words();
        let account = session::second_step_account(&state, req.headers())
            .await
            .map_err(|err| pages::failed(ctx.lang, &err))?
            .ok_or_else(|| Redirect::see_other("/console/login").into_response())?;
        let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
        match check_code(&state, ctx.lang, &client, account, &form.get("code"), false).await? {
            SecondFactor::Accepted => {}
            SecondFactor::Refused => {
                return Err(code_page(
                    &ctx,
                    StatusCode::UNAUTHORIZED,
                    Some(w.wrong_code.to_owned()),
                ));
            }
            SecondFactor::Limited(wait) => {
                let mut response = code_page(
                    &ctx,
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(format!("{} {wait} {}.", w.too_many_attempts, w.seconds)),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, wait.into());
                return Err(response);
            }
        }
        let ended = session::end_second_step(&state, req.headers())
            .await
            .map_err(|err| pages::failed(ctx.lang, &err))?;
        // The account may have been disabled (or lost its staff role) since the password.
        let role = store::accounts::find(&state.db, account)
            .await
            .map_err(|err| pages::failed(ctx.lang, &err))?
            .filter(|a| a.disabled_at.is_none() && a.erased_at.is_none())
            .map(|a| a.role)
            .filter(|r| matches!(r, Role::Organizer | Role::Admin))
            .ok_or_else(|| {
                code_page(
                    &ctx,
                    StatusCode::UNAUTHORIZED,
                    Some(w.bad_credentials.to_owned()),
                )
            })?;
        let mut response = finish_sign_in(&state, &ctx, req.headers(), account, role).await;
        response.headers_mut().append(header::SET_COOKIE, ended);
        Ok(response)
    }
    .await
    .unwrap_or_else(|page: Response| page)
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct EnrolPage {
    f: Frame,
    /// When it was switched on.
    on_since: Option<String>,
    /// While enrolment waits for its first code: the URI and the secret.
    pending: Option<(String, String)>,
    error: Option<String>,
}

/// `/console/second-factor`: whether it is on, enrolment, switching it off.
#[handler]
pub async fn show(state: Data<&AppState>, ctx: Data<&Ctx>) -> Response {
    enrol_page(&state, &ctx, StatusCode::OK, None)
        .await
        .unwrap_or_else(|p| p)
}

async fn enrol_page(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    error: Option<String>,
) -> Answer {
    let staff = pages::signed_in(ctx)?;
    let w = ctx.lang.words();
    let factor = store::second_factors::find(&state.db, staff.account)
        .await
        .map_err(|err| pages::failed(ctx.lang, &err))?;
    let (on_since, pending) = match factor {
        Some(f) => match f.enabled_at {
            Some(at) => (Some(moscow(at)), None),
            None => {
                let secret = state
                    .vault
                    .open(SECRET_FIELD, staff.account.0, &f.secret_enc)
                    .map_err(|err| pages::failed(ctx.lang, &err))?;
                (
                    None,
                    Some((totp::otpauth_uri(ISSUER, LABEL, &secret), secret)),
                )
            }
        },
        None => (None, None),
    };
    Ok(pages::render(
        status,
        &EnrolPage {
            f: Frame::new(ctx, w.second_factor),
            on_since,
            pending,
            error,
        },
    ))
}

fn moscow(at: DateTime<Utc>) -> String {
    shown_local(at, "Europe/Moscow")
}

/// Starts (or starts over) enrolment with a new secret.
#[handler]
pub async fn start(state: Data<&AppState>, ctx: Data<&Ctx>) -> Response {
    async {
        let staff = pages::signed_in(&ctx)?;
        let secret = totp::new_secret();
        let sealed = state.vault.seal(SECRET_FIELD, staff.account.0, &secret);
        store::second_factors::begin(&state.db, staff.account, &sealed)
            .await
            .map_err(|err| pages::failed(ctx.lang, &err))?;
        Ok(Redirect::see_other("/console/second-factor").into_response())
    }
    .await
    .unwrap_or_else(|page: Response| page)
}

/// Confirms enrolment with a first code: from then on sign-in asks for one.
#[handler]
pub async fn confirm(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    client: ClientInfo,
    body: Body,
) -> Response {
    answer_with_code(&state, &ctx, &client, body, true).await
}

/// Switches the second factor off; a current code is asked, so a session left open is
/// not enough to do it.
#[handler]
pub async fn off(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    client: ClientInfo,
    body: Body,
) -> Response {
    answer_with_code(&state, &ctx, &client, body, false).await
}

async fn answer_with_code(
    state: &AppState,
    ctx: &Ctx,
    client: &ClientInfo,
    body: Body,
    enable: bool,
) -> Response {
    async {
        let staff = pages::signed_in(ctx)?;
        let w = ctx.lang.words();
        let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
        match check_code(
            state,
            ctx.lang,
            client,
            staff.account,
            &form.get("code"),
            enable,
        )
        .await?
        {
            SecondFactor::Accepted => {}
            SecondFactor::Refused => {
                return enrol_page(
                    state,
                    ctx,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(w.wrong_code.to_owned()),
                )
                .await;
            }
            SecondFactor::Limited(wait) => {
                let mut response = enrol_page(
                    state,
                    ctx,
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(format!("{} {wait} {}.", w.too_many_attempts, w.seconds)),
                )
                .await?;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, wait.into());
                return Ok(response);
            }
        }
        if !enable {
            store::second_factors::remove(&state.db, staff.account)
                .await
                .map_err(|err| pages::failed(ctx.lang, &err))?;
        }
        Ok(Redirect::see_other("/console/second-factor").into_response())
    }
    .await
    .unwrap_or_else(|page: Response| page)
}
