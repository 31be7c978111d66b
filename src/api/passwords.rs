//! Passwords: changing one (with the current one; the other sessions end) and resetting a
//! forgotten one with a code e-mailed to the address (every session ends). The owner is
//! told by e-mail whenever their password changes.
//!
//! A reset request answers the same whether or not the address has an account. Reset
//! codes are stored as keyed digests only, work once, for 15 minutes, and allow five
//! wrong guesses; requests and guesses are rate-limited per e-mail and client address.

use chrono::{Duration as ChronoDuration, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::ApiTag;
use super::auth::{NoContentResponse, limit_attempts, new_code};
use super::body::JsonBody;
use super::fields::Fields;
use super::security::{BearerAuth, ClientInfo};
use crate::domain::domain_events::{self, DomainEvent, Kind, SealedCode};
use crate::domain::email::Email;
use crate::domain::ids::AccountId;
use crate::domain::password::NewPassword;
use crate::http::problem::{FieldError, Problem};
use crate::notify::codes;
use crate::security::{login_throttle, password};
use crate::state::AppState;
use crate::store;
use crate::store::accounts::MailedCode;

/// How long a password-reset code stays valid.
const RESET_TTL_MINUTES: i64 = 15;
/// Wrong reset codes allowed before a new reset must be requested.
const RESET_ATTEMPTS: i32 = 5;

pub struct PasswordsApi;

/// A new password for the caller, proven by the current one.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 10 characters, not a common one, not built from the e-mail address or
    /// the names on the profile.
    pub new_password: String,
}

/// Asks for a password-reset code by e-mail.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

/// The app should ask for the code sent to the address.
#[derive(Debug, Object)]
pub struct ResetAccepted {
    /// Always `reset_requested`, whether or not the address has an account.
    pub status: String,
    /// How long the code is valid.
    pub code_expires_in_seconds: u64,
}

/// The code from the reset e-mail and the new password.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmation {
    pub email: String,
    /// Six digits.
    pub code: String,
    /// At least 10 characters, not a common one, not built from the e-mail address or
    /// the names on the profile.
    pub new_password: String,
}

#[derive(ApiResponse)]
pub enum ResetResponse {
    /// If the address has an account, a code is on its way to it.
    #[oai(status = 202)]
    Accepted(Json<ResetAccepted>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Auth")]
impl PasswordsApi {
    /// Change the caller's password. Needs the current one (wrong: 422 on
    /// `current_password`; repeated guesses are slowed down like logins); every other
    /// session of the account ends, and the owner is told by e-mail.
    #[oai(
        path = "/me/password",
        method = "post",
        operation_id = "change_password"
    )]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<ChangePasswordRequest>,
    ) -> Result<NoContentResponse, Problem> {
        let caller = auth.0;
        let account = store::accounts::find(&state.db, caller.account)
            .await?
            .ok_or_else(Problem::internal)?;
        let names = store::accounts::profile_names(&state.db, caller.account).await?;
        let mut fields = Fields::new();
        let new_password = fields.check(
            "new_password",
            NewPassword::parse_for(&body.new_password, &account.email, &names),
        );
        fields.finish()?;
        let Some(new_password) = new_password else {
            return Err(Problem::internal());
        };

        let subject = state.index.token("rate-email", &account.email);
        login_throttle::admit(&state.redis, &subject, slowdown(&state))
            .await
            .map_err(Problem::rate_limited)?;
        let current = password::verify(
            body.current_password.clone(),
            Some(account.password_hash.clone()),
        )
        .await
        .map_err(Problem::internal_from)?;
        if !current {
            return Err(Problem::validation(vec![FieldError::new(
                "current_password",
                "is not the current password",
            )]));
        }
        login_throttle::succeeded(&state.redis, &subject).await;

        let hash = password::hash(new_password.expose().to_owned())
            .await
            .map_err(Problem::internal_from)?;
        let mut tx = state.db.begin().await?;
        store::accounts::set_password(&mut *tx, caller.account, &hash).await?;
        store::sessions::revoke_all_except(
            &mut *tx,
            caller.account,
            caller.session,
            "password changed",
        )
        .await?;
        announce_change(&mut tx, caller.account).await?;
        tx.commit().await?;
        Ok(NoContentResponse::Done)
    }

    /// Ask for a password-reset code by e-mail. Always 202 with the same body, whether or
    /// not the address has an account; rate-limited per e-mail and client address.
    #[oai(
        path = "/auth/password-reset",
        method = "post",
        operation_id = "request_password_reset"
    )]
    async fn request_reset(
        &self,
        state: Data<&AppState>,
        client: ClientInfo,
        body: JsonBody<ResetRequest>,
    ) -> Result<ResetResponse, Problem> {
        let mut fields = Fields::new();
        let email = fields.check("email", Email::parse(&body.email));
        fields.finish()?;
        let Some(email) = email else {
            return Err(Problem::internal());
        };
        limit_attempts(&state, "reset", &email, &client).await?;

        let mut tx = state.db.begin().await?;
        let account = store::accounts::find_by_email(&mut *tx, email.as_str()).await?;
        if let Some(account) =
            account.filter(|a| a.email_verified_at.is_some() && a.erased_at.is_none())
        {
            let id = account.id;
            let code = new_code();
            let expires_at = Utc::now() + ChronoDuration::minutes(RESET_TTL_MINUTES);
            let digest = reset_digest(&state, id, &code);
            store::accounts::set_code(&mut *tx, MailedCode::PasswordReset, id, &digest, expires_at)
                .await?;
            store::outbox::append(
                &mut *tx,
                &DomainEvent::PasswordResetRequested(SealedCode {
                    account_id: id,
                    code_enc: codes::seal(&state.vault, Kind::PasswordResetRequested, id.0, &code),
                    expires_at,
                }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ResetResponse::Accepted(Json(ResetAccepted {
            status: "reset_requested".to_owned(),
            code_expires_in_seconds: (RESET_TTL_MINUTES * 60) as u64,
        })))
    }

    /// Set a new password with the code from the reset e-mail. The code works once; a
    /// wrong, used or expired one is 401. Every session of the account ends (log in with
    /// the new password), and the owner is told by e-mail.
    #[oai(
        path = "/auth/password-reset/confirm",
        method = "post",
        operation_id = "confirm_password_reset"
    )]
    async fn confirm_reset(
        &self,
        state: Data<&AppState>,
        client: ClientInfo,
        body: JsonBody<ResetConfirmation>,
    ) -> Result<NoContentResponse, Problem> {
        let mut fields = Fields::new();
        let email = fields.check("email", Email::parse(&body.email));
        if let Some(email) = &email {
            fields.check(
                "new_password",
                NewPassword::parse_for(&body.new_password, email.as_str(), &[]),
            );
        }
        fields.finish()?;
        let Some(email) = email else {
            return Err(Problem::internal());
        };
        limit_attempts(&state, "reset-confirm", &email, &client).await?;
        let invalid = || Problem::unauthorized("the code is wrong or has expired");

        let mut tx = state.db.begin().await?;
        let account = store::accounts::find_by_email(&mut *tx, email.as_str())
            .await?
            .filter(|a| a.email_verified_at.is_some() && a.erased_at.is_none())
            .ok_or_else(invalid)?;
        let id = account.id;
        let pending = store::accounts::code_for_update(&mut *tx, MailedCode::PasswordReset, id)
            .await?
            .ok_or_else(invalid)?;
        let fresh = pending.expires_at > Utc::now() && pending.attempts < RESET_ATTEMPTS;
        if !fresh || pending.code_digest != reset_digest(&state, id, body.code.trim()) {
            store::accounts::count_failed_code(&mut *tx, MailedCode::PasswordReset, id).await?;
            tx.commit().await?;
            return Err(invalid());
        }
        // The names are known only now; a refusal leaves the code usable for a better
        // password.
        let names = store::accounts::profile_names(&mut *tx, id).await?;
        let mut fields = Fields::new();
        let new_password = fields.check(
            "new_password",
            NewPassword::parse_for(&body.new_password, email.as_str(), &names),
        );
        fields.finish()?;
        let Some(new_password) = new_password else {
            return Err(Problem::internal());
        };
        let hash = password::hash(new_password.expose().to_owned())
            .await
            .map_err(Problem::internal_from)?;
        store::accounts::set_password(&mut *tx, id, &hash).await?;
        store::accounts::delete_code(&mut *tx, MailedCode::PasswordReset, id).await?;
        store::sessions::revoke_all(&mut *tx, id, "password reset").await?;
        announce_change(&mut tx, id).await?;
        tx.commit().await?;
        login_throttle::succeeded(
            &state.redis,
            &state.index.token("rate-email", email.as_str()),
        )
        .await;
        Ok(NoContentResponse::Done)
    }
}

/// The login slowdown configured for this service.
pub fn slowdown(state: &AppState) -> login_throttle::Slowdown {
    login_throttle::Slowdown {
        free_failures: state.settings.auth.login_free_failures,
        max_delay: state.settings.auth.login_max_delay,
    }
}

/// The stored form of a reset code: a keyed digest bound to the account.
fn reset_digest(state: &AppState, account: AccountId, code: &str) -> Vec<u8> {
    state
        .index
        .digest("reset-code", &format!("{account}:{code}"))
}

/// Queues the "your password was changed" e-mail, in the caller's transaction.
async fn announce_change(tx: &mut sqlx::PgConnection, account: AccountId) -> Result<(), Problem> {
    store::outbox::append(
        &mut *tx,
        &DomainEvent::PasswordChanged(domain_events::PasswordChanged {
            account_id: account,
            changed_at: Utc::now(),
        }),
    )
    .await?;
    Ok(())
}
