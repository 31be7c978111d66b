//! Signing in to the console with a staff account, and out again. The password check and
//! its rate limits are the API's own (`api::auth::check_login`); each sign-in and
//! sign-out is in the access audit.

use askama::Template;
use poem::http::{HeaderMap, StatusCode, header};
use poem::web::{Data, Redirect};
use poem::{Body, IntoResponse, Request, Response, handler};

use super::pages::{self, FormData, Frame};
use super::session::{self, Ctx};
use crate::api::auth::check_login;
use crate::api::security::ClientInfo;
use crate::domain::email::Email;
use crate::domain::ids::AccountId;
use crate::domain::roles::Role;
use crate::state::AppState;
use crate::store::{self, audit::AuditAction};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    f: Frame,
    email: String,
    error: Option<String>,
}

/// `/console`: the events, or the sign-in page.
#[handler]
pub async fn home(ctx: Data<&Ctx>) -> Response {
    let to = match &ctx.staff {
        Some(staff) => landing(staff.role),
        None => "/console/login",
    };
    Redirect::see_other(to).into_response()
}

/// Where a staff member lands after signing in.
pub fn landing(role: Role) -> &'static str {
    if role == Role::Admin {
        "/console/admin/dead-letters"
    } else {
        "/console/events"
    }
}

#[handler]
pub async fn show_login(ctx: Data<&Ctx>) -> Response {
    if let Some(staff) = &ctx.staff {
        return Redirect::see_other(landing(staff.role)).into_response();
    }
    let w = ctx.lang.words();
    pages::render(
        StatusCode::OK,
        &LoginPage {
            f: Frame::new(&ctx, w.sign_in_title),
            email: String::new(),
            error: None,
        },
    )
}

#[handler]
pub async fn login(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    client: ClientInfo,
    req: &Request,
    body: Body,
) -> Response {
    let w = ctx.lang.words();
    let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
    let email_text = form.get("email");
    let refuse = |status: StatusCode, error: String| {
        pages::render(
            status,
            &LoginPage {
                f: Frame::new(&ctx, w.sign_in_title),
                email: email_text.clone(),
                error: Some(error),
            },
        )
    };
    let Ok(email) = Email::parse(&email_text) else {
        return refuse(StatusCode::UNAUTHORIZED, w.bad_credentials.to_owned());
    };
    let account = match check_login(&state, &client, &email, form.get("password")).await {
        Ok(account) => account,
        Err(problem) if problem.status() == StatusCode::TOO_MANY_REQUESTS => {
            let wait = problem.retry_after().unwrap_or(1);
            let mut response = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!("{} {wait} {}.", w.too_many_attempts, w.seconds),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, wait.into());
            return response;
        }
        Err(problem) if problem.status() == StatusCode::UNAUTHORIZED => {
            return refuse(StatusCode::UNAUTHORIZED, w.bad_credentials.to_owned());
        }
        Err(problem) => return pages::problem(&ctx, &problem),
    };
    // Students and parents have no console; they are told what a wrong password is told.
    let role = account.role;
    if !matches!(role, Role::Organizer | Role::Admin) {
        return refuse(StatusCode::UNAUTHORIZED, w.bad_credentials.to_owned());
    }
    let account_id = account.id;
    // With the second factor on, the password only opens the code step.
    match store::second_factors::find(&state.db, account_id).await {
        Ok(Some(factor)) if factor.enabled_at.is_some() => {
            return match session::start_second_step(&state, req.headers(), account_id).await {
                Ok(cookie) => {
                    let mut response = Redirect::see_other("/console/login/code").into_response();
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                    response
                }
                Err(err) => pages::failed(ctx.lang, &err),
            };
        }
        Ok(_) => {}
        Err(err) => return pages::failed(ctx.lang, &err),
    }
    finish_sign_in(&state, &ctx, req.headers(), account_id, role).await
}

/// Signs a staff member in whose every factor was checked: a new session, the sign-in in
/// the access audit, and on to their landing page.
pub async fn finish_sign_in(
    state: &AppState,
    ctx: &Ctx,
    request_headers: &HeaderMap,
    account_id: AccountId,
    role: Role,
) -> Response {
    let started = async {
        let cookies = session::start(state, request_headers, account_id).await?;
        store::audit::record_on(
            &state.db,
            store::audit::Actor::Person {
                id: account_id,
                role: role.as_str(),
            },
            account_id,
            AuditAction::ConsoleSignIn,
            None,
            ctx.request_id.as_deref(),
        )
        .await?;
        Ok::<_, store::StoreError>(cookies)
    }
    .await;
    match started {
        Ok(cookies) => {
            let mut response = Redirect::see_other(landing(role)).into_response();
            for cookie in cookies {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(err) => pages::failed(ctx.lang, &err),
    }
}

#[handler]
pub async fn logout(state: Data<&AppState>, ctx: Data<&Ctx>, req: &Request) -> Response {
    let ended = async {
        if let Some(staff) = &ctx.staff {
            store::audit::record_on(
                &state.db,
                staff.actor(),
                staff.account,
                AuditAction::ConsoleSignOut,
                None,
                ctx.request_id.as_deref(),
            )
            .await?;
        }
        session::end(&state, req.headers()).await
    }
    .await;
    match ended {
        Ok(cookie) => {
            let mut response = Redirect::see_other("/console/login").into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(err) => pages::failed(ctx.lang, &err),
    }
}
