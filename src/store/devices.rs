//! Push devices: registered per account and device session, moved to the account (and
//! session) that registers a token last, deactivated when a provider says the token is
//! dead or when the session they were registered in ends (see `sessions`).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, SessionId};

/// A device as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub token: String,
    pub account_id: AccountId,
    pub platform: String,
    pub app_version: String,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// Registers (or refreshes) a token for `account` under `session` (none: tied to no
/// session, as the demo seeds them), taking it from any other account or session.
pub async fn upsert(
    exec: impl PgExecutor<'_>,
    token: &str,
    account: AccountId,
    session: Option<SessionId>,
    platform: &str,
    app_version: &str,
    locale: &str,
) -> StoreResult<DeviceRow> {
    Ok(sqlx::query_as::<_, DeviceRow>(
        "INSERT INTO devices (token, account_id, platform, app_version, locale, session_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (token) DO UPDATE SET account_id = $2, platform = $3, app_version = $4,
             locale = $5, session_id = $6, updated_at = now(), deactivated_at = NULL,
             deactivation_reason = NULL
         RETURNING token, account_id, platform, app_version, locale, created_at, updated_at, deactivated_at",
    )
    .bind(token)
    .bind(account.0)
    .bind(platform)
    .bind(app_version)
    .bind(locale)
    .bind(session.map(|s| s.0))
    .fetch_one(exec)
    .await?)
}

/// Removes the caller's token (logout); false when it is not theirs.
pub async fn remove(
    exec: impl PgExecutor<'_>,
    token: &str,
    account: AccountId,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE devices SET deactivated_at = now(), deactivation_reason = 'logout'
         WHERE token = $1 AND account_id = $2 AND deactivated_at IS NULL",
    )
    .bind(token)
    .bind(account.0)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stops using a token the provider rejected.
pub async fn deactivate(exec: impl PgExecutor<'_>, token: &str, reason: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE devices SET deactivated_at = now(), deactivation_reason = $2
         WHERE token = $1 AND deactivated_at IS NULL",
    )
    .bind(token)
    .bind(reason)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn find(exec: impl PgExecutor<'_>, token: &str) -> StoreResult<Option<DeviceRow>> {
    Ok(sqlx::query_as::<_, DeviceRow>(
        "SELECT token, account_id, platform, app_version, locale, created_at, updated_at, deactivated_at
         FROM devices WHERE token = $1",
    )
    .bind(token)
    .fetch_optional(exec)
    .await?)
}

/// A device as held, for the export.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRecord {
    pub token: String,
    pub platform: String,
    pub app_version: String,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub deactivation_reason: Option<String>,
}

/// Every device of an account, deactivated ones too.
pub async fn of_account(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<DeviceRecord>> {
    Ok(sqlx::query_as::<_, DeviceRecord>(
        "SELECT token, platform, app_version, locale, created_at, updated_at, deactivated_at,
                deactivation_reason
         FROM devices WHERE account_id = $1 ORDER BY created_at DESC, token",
    )
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}
