//! Cookie sessions of the organizer console: only a keyed digest of each token is stored.
//! A session is live until it is ended (sign-out, a new sign-in of the same browser), has
//! been idle longer than the idle limit, or reaches its absolute expiry.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, OrganizationId};
use crate::domain::roles::Role;

pub async fn insert(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
    account: AccountId,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO console_sessions (token_digest, account_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(digest)
    .bind(account.0)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The account behind a live session, touching `last_seen_at`; a session idle for longer
/// than `idle_secs` is ended instead and `None` is returned.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveConsoleSession {
    pub account_id: AccountId,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub organization_id: Option<OrganizationId>,
    pub organization_name: Option<String>,
}

pub async fn touch(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
    idle_secs: i64,
) -> StoreResult<Option<LiveConsoleSession>> {
    Ok(sqlx::query_as::<_, LiveConsoleSession>(
        "WITH live AS (
             UPDATE console_sessions SET last_seen_at = now()
             WHERE token_digest = $1 AND ended_at IS NULL AND expires_at > now()
               AND last_seen_at > now() - make_interval(secs => $2)
             RETURNING account_id
         )
         SELECT a.id AS account_id, a.email::text AS email, a.role, a.organization_id,
                o.name AS organization_name
         FROM live JOIN accounts a ON a.id = live.account_id
         LEFT JOIN organizations o ON o.id = a.organization_id
         WHERE a.erased_at IS NULL AND a.disabled_at IS NULL AND a.role IN ('organizer', 'admin')",
    )
    .bind(digest)
    .bind(idle_secs as f64)
    .fetch_optional(exec)
    .await?)
}

/// Ends one session (sign-out, or the old session of a browser signing in again).
pub async fn end(exec: impl PgExecutor<'_>, digest: &[u8]) -> StoreResult<()> {
    sqlx::query(
        "UPDATE console_sessions SET ended_at = now() WHERE token_digest = $1 AND ended_at IS NULL",
    )
    .bind(digest)
    .execute(exec)
    .await?;
    Ok(())
}

/// Ends every live session of an account (it was disabled); returns how many.
pub async fn end_all(exec: impl PgExecutor<'_>, account: AccountId) -> StoreResult<u64> {
    Ok(sqlx::query(
        "UPDATE console_sessions SET ended_at = now() WHERE account_id = $1 AND ended_at IS NULL",
    )
    .bind(account.0)
    .execute(exec)
    .await?
    .rows_affected())
}
