//! Accounts and device sessions: register (with e-mail verification), log in, rotate
//! refresh tokens with reuse detection, log out, list and revoke sessions.
//!
//! Responses never reveal whether an e-mail is registered: registration always answers
//! 202 and mails the address (a code, or a note that an account exists), and every failed
//! login is the same 401.
//!
//! A registration waiting for its code keeps the password and role it was made with until
//! the code expires: registering the address again with the same password and role sends a
//! fresh code, with anything else only a note, so whoever verifies the address ends up
//! with the credentials its first registrant chose. Failed logins slow further attempts
//! on the account down (see `security::login_throttle`) instead of locking it.

use chrono::{Duration as ChronoDuration, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use rand::Rng as _;
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::JsonBody;
use super::fields::Fields;
use super::security::{BearerAuth, ClientInfo, Role};
use crate::domain::domain_events::{
    AccountNotice, DomainEvent, Kind, PendingRegistration, SealedCode,
};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::names::ShortText;
use crate::domain::password::NewPassword;
use crate::http::problem::Problem;
use crate::notify::codes;
use crate::security::{login_throttle, password, rate_limit, tokens, totp};
use crate::state::AppState;
use crate::store::accounts::MailedCode;
use crate::store::{self, accounts::NewAccount};

/// How long an e-mail verification code stays valid.
const CODE_TTL_MINUTES: i64 = 15;
/// Wrong codes allowed before a new registration is needed.
const CODE_ATTEMPTS: i32 = 5;

pub struct AuthApi;

/// The longest device name, in characters; the API document states the same.
pub const DEVICE_NAME_CHARS: usize = 100;

/// Who registers from the app; staff accounts are created by an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RegisterRole {
    Student,
    Parent,
}

/// Language of the messages sent to this account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize, Default)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    #[default]
    Ru,
    En,
}

/// A new student or parent account.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    /// At least 10 characters, not one of the commonly used passwords.
    pub password: String,
    pub role: RegisterRole,
    #[serde(default)]
    pub locale: Option<Locale>,
}

/// The app should ask for the code sent to the e-mail address.
#[derive(Debug, Object)]
pub struct RegisterAccepted {
    /// Always `verification_sent`, whether or not the address already had an account.
    pub status: String,
    /// How long the code is valid.
    pub code_expires_in_seconds: u64,
}

/// The device a session lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Ios,
    Android,
    Web,
    Other,
}

impl Platform {
    fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Web => "web",
            Platform::Other => "other",
        }
    }
}

/// The device, as its owner will see it in their list of sessions.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// E.g. "iPhone Марии"; 1–100 characters.
    pub name: String,
    pub platform: Platform,
}

/// The code from the verification e-mail.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub email: String,
    /// Six digits.
    pub code: String,
    pub device: DeviceInfo,
}

#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    pub device: DeviceInfo,
    /// The current six-digit code of the account's authenticator app, for a staff account
    /// whose second factor is on (the console's `/console/second-factor`); without it such
    /// a login answers 401 `second-factor-required`. Each code works once.
    #[oai(validator(pattern = "^[0-9]{6}$"))]
    pub totp_code: Option<String>,
}

#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login, verification or refresh; each works once.
    pub refresh_token: String,
}

/// Tokens for one device session.
#[derive(Debug, Object)]
pub struct TokenPair {
    /// Send as `Authorization: Bearer …`; valid for `expires_in` seconds.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: u64,
    /// Exchange at `/v1/auth/refresh` for a new pair; single use.
    pub refresh_token: String,
    pub session_id: Uuid,
    pub account_id: Uuid,
    /// `student`, `parent`, `organizer` or `admin`.
    pub role: String,
}

/// A device session of the caller.
#[derive(Debug, Object)]
pub struct DeviceSession {
    pub id: Uuid,
    pub device_name: String,
    pub platform: String,
    pub created_at: chrono::DateTime<Utc>,
    pub last_seen_at: chrono::DateTime<Utc>,
    /// The session this request was made from.
    pub current: bool,
}

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// A message is on its way to the address.
    #[oai(status = 202)]
    Accepted(Json<RegisterAccepted>),
}

#[derive(ApiResponse)]
pub enum TokensResponse {
    /// A live session and its tokens.
    #[oai(status = 200)]
    Ok(Json<TokenPair>),
}

#[derive(ApiResponse)]
pub enum NoContentResponse {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum ListSessionsResponse {
    /// The caller's live sessions, most recently seen first.
    #[oai(status = 200)]
    Ok(Json<Vec<DeviceSession>>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Auth")]
impl AuthApi {
    /// Register a student or parent. Always 202: a code goes to the address if it is new,
    /// a note if it already has an account. While an earlier registration of the address
    /// waits for its code, the same password and role get a fresh code and anything else
    /// only a note: its password and role change only once its code has expired.
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        client: ClientInfo,
        body: JsonBody<RegisterRequest>,
    ) -> Result<RegisterResponse, Problem> {
        let mut fields = Fields::new();
        let email = fields.check("email", Email::parse(&body.email));
        let password = fields.check(
            "password",
            NewPassword::parse_for(&body.password, body.email.trim(), &[]),
        );
        fields.finish()?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(Problem::internal());
        };
        limit_attempts(&state, "register", &email, &client).await?;

        let hash = password::hash(password.expose().to_owned())
            .await
            .map_err(Problem::internal_from)?;
        let role = match body.role {
            RegisterRole::Student => Role::Student,
            RegisterRole::Parent => Role::Parent,
        };
        // Whether this is the pending registration again. Checked against a dummy hash
        // when there is none, so every registration costs the same time.
        let pending_hash = store::accounts::find_by_email(&state.db, email.as_str())
            .await?
            .filter(|row| row.email_verified_at.is_none())
            .map(|row| row.password_hash);
        let same_password = password::verify(password.expose().to_owned(), pending_hash.clone())
            .await
            .map_err(Problem::internal_from)?;
        let now = Utc::now();
        let expires_at = now + ChronoDuration::minutes(CODE_TTL_MINUTES);

        let mut tx = state.db.begin().await?;
        let existing = store::accounts::find_by_email_for_update(&mut *tx, email.as_str()).await?;
        let send_code_to = match existing {
            None => {
                let id = AccountId::new();
                store::accounts::insert(
                    &mut *tx,
                    &NewAccount {
                        id,
                        email: email.as_str(),
                        password_hash: &hash,
                        role,
                        organization: None,
                        verified: false,
                    },
                )
                .await?;
                Some(id)
            }
            Some(row)
                if row.email_verified_at.is_none()
                    && matches!(row.role, Role::Student | Role::Parent) =>
            {
                let id = row.id;
                let pending =
                    store::accounts::code_for_update(&mut *tx, MailedCode::Verification, id)
                        .await?;
                match pending.filter(|p| p.expires_at > now) {
                    // The earlier registration has expired: this one replaces it.
                    None => {
                        store::accounts::set_unverified_password(&mut *tx, id, &hash, role).await?;
                        Some(id)
                    }
                    // The same registration again (a lost or burnt code): a fresh code.
                    Some(_)
                        if same_password
                            && pending_hash.as_deref() == Some(row.password_hash.as_str())
                            && row.role == role =>
                    {
                        Some(id)
                    }
                    // Someone else, or the owner with other credentials: nothing changes;
                    // the mailbox is told that a registration is waiting, and until when.
                    Some(pending) => {
                        store::outbox::append(
                            &mut *tx,
                            &DomainEvent::RegistrationPending(PendingRegistration {
                                account_id: row.id,
                                expires_at: pending.expires_at,
                            }),
                        )
                        .await?;
                        None
                    }
                }
            }
            Some(row) => {
                store::outbox::append(
                    &mut *tx,
                    &DomainEvent::RegistrationAttempted(AccountNotice { account_id: row.id }),
                )
                .await?;
                None
            }
        };
        if let Some(id) = send_code_to {
            let code = new_code();
            let digest = state.index.digest("email-code", &format!("{id}:{code}"));
            store::accounts::set_code(&mut *tx, MailedCode::Verification, id, &digest, expires_at)
                .await?;
            store::outbox::append(
                &mut *tx,
                &DomainEvent::EmailVerificationRequested(SealedCode {
                    account_id: id,
                    code_enc: codes::seal(
                        &state.vault,
                        Kind::EmailVerificationRequested,
                        id.0,
                        &code,
                    ),
                    expires_at,
                }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(RegisterResponse::Accepted(Json(RegisterAccepted {
            status: "verification_sent".to_owned(),
            code_expires_in_seconds: (CODE_TTL_MINUTES * 60) as u64,
        })))
    }

    /// Confirm the e-mail address with the code sent to it; opens the first session.
    #[oai(path = "/auth/verify", method = "post", operation_id = "verify_email")]
    async fn verify(
        &self,
        state: Data<&AppState>,
        client: ClientInfo,
        body: JsonBody<VerifyRequest>,
    ) -> Result<TokensResponse, Problem> {
        let mut fields = Fields::new();
        let email = fields.check("email", Email::parse(&body.email));
        let device = parse_device(&mut fields, &body.device);
        fields.finish()?;
        let (Some(email), Some(device)) = (email, device) else {
            return Err(Problem::internal());
        };
        limit_attempts(&state, "verify", &email, &client).await?;
        let invalid = || Problem::unauthorized("the code is wrong or has expired");

        let mut tx = state.db.begin().await?;
        let account = store::accounts::find_by_email(&mut *tx, email.as_str())
            .await?
            .ok_or_else(invalid)?;
        let id = account.id;
        let pending = store::accounts::code_for_update(&mut *tx, MailedCode::Verification, id)
            .await?
            .ok_or_else(invalid)?;
        let digest = state
            .index
            .digest("email-code", &format!("{id}:{}", body.code.trim()));
        let fresh = pending.expires_at > Utc::now() && pending.attempts < CODE_ATTEMPTS;
        if !fresh || pending.code_digest != digest {
            store::accounts::count_failed_code(&mut *tx, MailedCode::Verification, id).await?;
            tx.commit().await?;
            return Err(invalid());
        }
        store::accounts::mark_verified(&mut *tx, id).await?;
        store::accounts::delete_code(&mut *tx, MailedCode::Verification, id).await?;
        let pair = open_session(&state, &mut tx, id, account.role, &device).await?;
        tx.commit().await?;
        Ok(TokensResponse::Ok(Json(pair)))
    }

    /// Log in on a device. Any failure is the same 401, whether or not the e-mail exists.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        client: ClientInfo,
        body: JsonBody<LoginRequest>,
    ) -> Result<TokensResponse, Problem> {
        let mut fields = Fields::new();
        let email = fields.check("email", Email::parse(&body.email));
        let device = parse_device(&mut fields, &body.device);
        let code = match body.totp_code.as_deref() {
            None => None,
            Some(code) => fields.check("totp_code", totp::parse_code(code)),
        };
        fields.finish()?;
        let (Some(email), Some(device)) = (email, device) else {
            return Err(Problem::internal());
        };
        let account = check_login(&state, &client, &email, body.password.clone()).await?;
        if second_factor_on(&state, &account).await? {
            let Some(code) = code else {
                return Err(Problem::second_factor_required(
                    "this account has a second factor: send totp_code, the app's current code",
                ));
            };
            match check_second_factor(&state, &client, account.id, code, false).await? {
                SecondFactor::Accepted => {}
                SecondFactor::Refused => {
                    return Err(Problem::second_factor_required(
                        "the code is wrong, of another time, or used before",
                    ));
                }
                SecondFactor::Limited(wait) => return Err(Problem::rate_limited(wait)),
            }
        }
        let mut tx = state.db.begin().await?;
        let pair = open_session(&state, &mut tx, account.id, account.role, &device).await?;
        tx.commit().await?;
        Ok(TokensResponse::Ok(Json(pair)))
    }

    /// Exchange a refresh token for a new pair. Presenting a token that was already used
    /// ends its whole session (someone else may hold a copy) and answers 401.
    #[oai(
        path = "/auth/refresh",
        method = "post",
        operation_id = "refresh_tokens"
    )]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        body: JsonBody<RefreshRequest>,
    ) -> Result<TokensResponse, Problem> {
        let digest = tokens::refresh_digest(body.refresh_token.trim());
        let invalid = || Problem::unauthorized("the refresh token is not valid; log in again");
        let mut tx = state.db.begin().await?;
        let row = store::sessions::refresh_token_for_update(&mut *tx, &digest)
            .await?
            .ok_or_else(invalid)?;
        let account = row.account_id;
        let session = row.session_id;
        if row.used_at.is_some() {
            if row.revoked_at.is_none() {
                store::sessions::revoke(&mut *tx, account, session, "refresh token reused").await?;
                tracing::warn!(session = %session, "refresh token reused; session revoked");
            }
            tx.commit().await?;
            return Err(invalid());
        }
        if row.revoked_at.is_some()
            || row.erased_at.is_some()
            || row.disabled_at.is_some()
            || row.expires_at <= Utc::now()
        {
            return Err(invalid());
        }
        store::sessions::mark_refresh_token_used(&mut *tx, &digest).await?;
        let (refresh_token, new_digest) = tokens::new_refresh_token();
        let expires_at = Utc::now() + refresh_ttl(&state);
        store::sessions::insert_refresh_token(&mut *tx, &new_digest, session, expires_at).await?;
        tx.commit().await?;
        Ok(TokensResponse::Ok(Json(TokenPair {
            access_token: state.tokens.issue(account, session, row.role),
            token_type: "Bearer".to_owned(),
            expires_in: state.tokens.ttl().as_secs(),
            refresh_token,
            session_id: session.0,
            account_id: account.0,
            role: row.role.as_str().to_owned(),
        })))
    }

    /// Log out: ends the session this request was made from.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<NoContentResponse, Problem> {
        let caller = auth.0;
        store::sessions::revoke(&state.db, caller.account, caller.session, "logout").await?;
        Ok(NoContentResponse::Done)
    }

    /// The caller's live device sessions.
    #[oai(path = "/me/sessions", method = "get", operation_id = "list_sessions")]
    async fn list_sessions(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<ListSessionsResponse, Problem> {
        let caller = auth.0;
        let rows = store::sessions::list_live(&state.db, caller.account).await?;
        Ok(ListSessionsResponse::Ok(Json(
            rows.into_iter()
                .map(|row| DeviceSession {
                    current: row.id == caller.session,
                    id: row.id.0,
                    device_name: row.device_name,
                    platform: row.platform,
                    created_at: row.created_at,
                    last_seen_at: row.last_seen_at,
                })
                .collect(),
        )))
    }

    /// End one of the caller's sessions (e.g. a lost phone). Another account's session
    /// is 404, as if it did not exist.
    #[oai(
        path = "/me/sessions/:session_id",
        method = "delete",
        operation_id = "revoke_session"
    )]
    async fn revoke_session(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        session_id: Path<Uuid>,
    ) -> Result<NoContentResponse, Problem> {
        let caller = auth.0;
        if store::sessions::revoke(
            &state.db,
            caller.account,
            SessionId(session_id.0),
            "revoked by owner",
        )
        .await?
        {
            Ok(NoContentResponse::Done)
        } else {
            Err(Problem::not_found("no such session"))
        }
    }
}

/// A validated device.
pub struct Device {
    name: String,
    platform: Platform,
}

fn parse_device(fields: &mut Fields, device: &DeviceInfo) -> Option<Device> {
    let name = fields.check(
        "device.name",
        ShortText::parse(&device.name, DEVICE_NAME_CHARS),
    )?;
    Some(Device {
        name: name.as_str().to_owned(),
        platform: device.platform,
    })
}

fn refresh_ttl(state: &AppState) -> ChronoDuration {
    ChronoDuration::from_std(state.settings.auth.refresh_token_ttl)
        .unwrap_or(ChronoDuration::days(60))
}

/// Creates a device session with its first refresh token, inside the caller's transaction.
pub async fn open_session(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    account: AccountId,
    role: Role,
    device: &Device,
) -> Result<TokenPair, Problem> {
    let session = SessionId::new();
    store::sessions::create(
        &mut *tx,
        session,
        account,
        &device.name,
        device.platform.as_str(),
    )
    .await?;
    let (refresh_token, digest) = tokens::new_refresh_token();
    store::sessions::insert_refresh_token(
        &mut *tx,
        &digest,
        session,
        Utc::now() + refresh_ttl(state),
    )
    .await?;
    Ok(TokenPair {
        access_token: state.tokens.issue(account, session, role),
        token_type: "Bearer".to_owned(),
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token,
        session_id: session.0,
        account_id: account.0,
        role: role.as_str().to_owned(),
    })
}

/// Counts an attempt against the account and the client address; 429 once either is over.
pub(super) async fn limit_attempts(
    state: &AppState,
    scope: &str,
    email: &Email,
    client: &ClientInfo,
) -> Result<(), Problem> {
    let auth = &state.settings.auth;
    let account_key = state.index.token("rate-email", email.as_str());
    let per_account = rate_limit::hit(
        &state.redis,
        &format!("{scope}:account"),
        &account_key,
        auth.limit_per_account,
    )
    .await;
    let per_address = rate_limit::hit(
        &state.redis,
        &format!("{scope}:address"),
        &client.address_key(),
        auth.limit_per_address,
    )
    .await;
    match (per_account, per_address) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(a), Err(b)) => Err(Problem::rate_limited(a.max(b))),
        (Err(wait), _) | (_, Err(wait)) => Err(Problem::rate_limited(wait)),
    }
}

/// The account whose e-mail and password these are, under the login rate limits: attempts
/// per client address, and the per-account slowdown after failures. Every refusal is the
/// same 401. Shared by `POST /v1/auth/login` and the console's sign-in.
pub async fn check_login(
    state: &AppState,
    client: &ClientInfo,
    email: &Email,
    password: String,
) -> Result<store::accounts::AccountRow, Problem> {
    limit_address(state, "login", client).await?;
    let subject = state.index.token("rate-email", email.as_str());
    login_throttle::admit(&state.redis, &subject, super::passwords::slowdown(state))
        .await
        .map_err(Problem::rate_limited)?;
    let account = store::accounts::find_by_email(&state.db, email.as_str()).await?;
    let usable = account.filter(|a| {
        a.email_verified_at.is_some() && a.erased_at.is_none() && a.disabled_at.is_none()
    });
    let matches = password::verify(password, usable.as_ref().map(|a| a.password_hash.clone()))
        .await
        .map_err(Problem::internal_from)?;
    let Some(account) = usable.filter(|_| matches) else {
        return Err(Problem::unauthorized("the e-mail or password is wrong"));
    };
    login_throttle::succeeded(&state.redis, &subject).await;
    Ok(account)
}

/// The vault field a staff second factor's secret is sealed under (bound to the account).
pub(crate) const SECOND_FACTOR_SECRET_FIELD: &str = "staff_second_factors.secret";

/// Whether `account` is staff with a TOTP second factor switched on.
async fn second_factor_on(
    state: &AppState,
    account: &store::accounts::AccountRow,
) -> Result<bool, Problem> {
    if !matches!(account.role, Role::Organizer | Role::Admin) {
        return Ok(false);
    }
    Ok(store::second_factors::find(&state.db, account.id)
        .await?
        .is_some_and(|factor| factor.enabled_at.is_some()))
}

/// What a second-factor code came to.
pub(crate) enum SecondFactor {
    Accepted,
    /// Wrong, of another time, or used before.
    Refused,
    /// Too many guesses: try again in this many seconds.
    Limited(u64),
}

/// Checks a code of `account`'s TOTP second factor and uses it up (a code works once),
/// under the sign-in's per-address limit and a per-account slowdown after failures; with
/// `enable`, a pending enrolment is switched on by it. Shared by `POST /v1/auth/login` and
/// the console's code step.
pub(crate) async fn check_second_factor(
    state: &AppState,
    client: &ClientInfo,
    account: AccountId,
    code: &str,
    enable: bool,
) -> Result<SecondFactor, Problem> {
    if let Err(problem) = limit_address(state, "login", client).await {
        return Ok(SecondFactor::Limited(problem.retry_after().unwrap_or(1)));
    }
    let subject = state
        .index
        .token("rate-second-factor", &account.to_string());
    if let Err(wait) =
        login_throttle::admit(&state.redis, &subject, super::passwords::slowdown(state)).await
    {
        return Ok(SecondFactor::Limited(wait));
    }
    let Some(factor) = store::second_factors::find(&state.db, account).await? else {
        return Ok(SecondFactor::Refused);
    };
    let secret = state
        .vault
        .open(SECOND_FACTOR_SECRET_FIELD, account.0, &factor.secret_enc)
        .map_err(Problem::internal_from)?;
    let Some(secret) = totp::base32_decode(&secret) else {
        return Err(Problem::internal_from(
            "a stored second-factor secret is not base32",
        ));
    };
    let Some(step) = totp::matching_step(&secret, code, Utc::now().timestamp()) else {
        return Ok(SecondFactor::Refused);
    };
    if !store::second_factors::use_step(&state.db, account, step, enable).await? {
        return Ok(SecondFactor::Refused);
    }
    login_throttle::succeeded(&state.redis, &subject).await;
    Ok(SecondFactor::Accepted)
}

/// Counts an attempt against the client address alone; 429 once it is over.
pub(crate) async fn limit_address(
    state: &AppState,
    scope: &str,
    client: &ClientInfo,
) -> Result<(), Problem> {
    rate_limit::hit(
        &state.redis,
        &format!("{scope}:address"),
        &client.address_key(),
        state.settings.auth.limit_per_address,
    )
    .await
    .map_err(Problem::rate_limited)
}

/// A six-digit code.
pub(super) fn new_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), 6);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
        }
    }
}
