//! Device sessions and the refresh tokens rotated within them.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, OrganizationId, SessionId};
use crate::domain::roles::Role;

pub async fn create(
    exec: impl PgExecutor<'_>,
    id: SessionId,
    account: AccountId,
    device_name: &str,
    platform: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO device_sessions (id, account_id, device_name, platform) VALUES ($1, $2, $3, $4)",
    )
    .bind(id.0)
    .bind(account.0)
    .bind(device_name)
    .bind(platform)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn insert_refresh_token(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
    session: SessionId,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO refresh_tokens (digest, session_id, expires_at) VALUES ($1, $2, $3)")
        .bind(digest)
        .bind(session.0)
        .bind(expires_at)
        .execute(exec)
        .await?;
    Ok(())
}

/// A refresh token with its session and account, locked for rotation.
#[derive(Debug, sqlx::FromRow)]
pub struct RefreshRow {
    pub session_id: SessionId,
    pub account_id: AccountId,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub erased_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
}

pub async fn refresh_token_for_update(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
) -> StoreResult<Option<RefreshRow>> {
    Ok(sqlx::query_as::<_, RefreshRow>(
        "SELECT t.session_id, s.account_id, a.role, t.expires_at, t.used_at, s.revoked_at, a.erased_at,
                a.disabled_at
         FROM refresh_tokens t
         JOIN device_sessions s ON s.id = t.session_id
         JOIN accounts a ON a.id = s.account_id
         WHERE t.digest = $1
         FOR UPDATE OF t, s",
    )
    .bind(digest)
    .fetch_optional(exec)
    .await?)
}

pub async fn mark_refresh_token_used(exec: impl PgExecutor<'_>, digest: &[u8]) -> StoreResult<()> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE digest = $1")
        .bind(digest)
        .execute(exec)
        .await?;
    Ok(())
}

/// Ends sessions and, in the same statement, unregisters the push devices registered
/// under them, so a device whose session ended receives no more pushes. `$1` is the
/// account, `$2` the reason; `filter` picks the sessions.
fn ending(filter: &str) -> String {
    format!(
        "WITH ended AS (
             UPDATE device_sessions SET revoked_at = now(), revoke_reason = $2
             WHERE account_id = $1 AND revoked_at IS NULL AND {filter}
             RETURNING id),
         unregistered AS (
             UPDATE devices SET deactivated_at = now(), deactivation_reason = 'session ended'
             WHERE session_id IN (SELECT id FROM ended) AND deactivated_at IS NULL)
         SELECT count(*) FROM ended"
    )
}

/// Revokes a session of `account` and unregisters its devices; false when there is no
/// such live session.
pub async fn revoke(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    session: SessionId,
    reason: &str,
) -> StoreResult<bool> {
    let ended: i64 = sqlx::query_scalar(&ending("id = $3"))
        .bind(account.0)
        .bind(reason)
        .bind(session.0)
        .fetch_one(exec)
        .await?;
    Ok(ended == 1)
}

/// Revokes every live session of an account and unregisters their devices.
pub async fn revoke_all(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    reason: &str,
) -> StoreResult<u64> {
    let ended: i64 = sqlx::query_scalar(&ending("true"))
        .bind(account.0)
        .bind(reason)
        .fetch_one(exec)
        .await?;
    Ok(ended as u64)
}

/// Revokes every live session of an account but `keep`, and unregisters their devices.
pub async fn revoke_all_except(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    keep: SessionId,
    reason: &str,
) -> StoreResult<u64> {
    let ended: i64 = sqlx::query_scalar(&ending("id <> $3"))
        .bind(account.0)
        .bind(reason)
        .bind(keep.0)
        .fetch_one(exec)
        .await?;
    Ok(ended as u64)
}

/// The live session behind an access token, with the account's current role; touches
/// `last_seen_at` at most once a minute.
#[derive(Debug, sqlx::FromRow)]
pub struct LiveSession {
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub organization_id: Option<OrganizationId>,
}

pub async fn live(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    session: SessionId,
) -> StoreResult<Option<LiveSession>> {
    Ok(sqlx::query_as::<_, LiveSession>(
        "WITH touched AS (
             UPDATE device_sessions SET last_seen_at = now()
             WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL
               AND last_seen_at < now() - interval '1 minute'
         )
         SELECT a.role, a.organization_id FROM device_sessions s JOIN accounts a ON a.id = s.account_id
         WHERE s.id = $1 AND s.account_id = $2 AND s.revoked_at IS NULL AND a.erased_at IS NULL
           AND a.disabled_at IS NULL",
    )
    .bind(session.0)
    .bind(account.0)
    .fetch_optional(exec)
    .await?)
}

/// A device session as listed to its owner.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: SessionId,
    pub device_name: String,
    pub platform: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn list_live(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<SessionRow>> {
    Ok(sqlx::query_as::<_, SessionRow>(
        "SELECT id, device_name, platform, created_at, last_seen_at FROM device_sessions
         WHERE account_id = $1 AND revoked_at IS NULL ORDER BY last_seen_at DESC",
    )
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}

/// A device session as held, ended ones too, for the export.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionHistoryRow {
    pub id: SessionId,
    pub device_name: String,
    pub platform: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

/// Every session of an account, live or ended, newest first.
pub async fn history(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<SessionHistoryRow>> {
    Ok(sqlx::query_as::<_, SessionHistoryRow>(
        "SELECT id, device_name, platform, created_at, last_seen_at, revoked_at, revoke_reason
         FROM device_sessions WHERE account_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}
