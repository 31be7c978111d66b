//! The staff's TOTP second factor (the secret encrypted, when it was switched on, the last
//! step used) and the console sign-ins waiting for its code.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::AccountId;

/// An account's second factor as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecondFactorRow {
    pub secret_enc: String,
    /// `None` while enrolment waits for its first code.
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
}

pub async fn find(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Option<SecondFactorRow>> {
    Ok(sqlx::query_as::<_, SecondFactorRow>(
        "SELECT secret_enc, enabled_at, last_step FROM staff_second_factors WHERE account_id = $1",
    )
    .bind(account.0)
    .fetch_optional(exec)
    .await?)
}

/// Starts (or starts over) an enrolment with a new secret; false when the second factor
/// is already on (it must be switched off first).
pub async fn begin(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    secret_enc: &str,
) -> StoreResult<bool> {
    let started = sqlx::query(
        "INSERT INTO staff_second_factors (account_id, secret_enc) VALUES ($1, $2)
         ON CONFLICT (account_id) DO UPDATE
             SET secret_enc = EXCLUDED.secret_enc, last_step = NULL, created_at = now()
             WHERE staff_second_factors.enabled_at IS NULL",
    )
    .bind(account.0)
    .bind(secret_enc)
    .execute(exec)
    .await?
    .rows_affected();
    Ok(started == 1)
}

/// Uses the code of `step`: only if no code of this or a later step was used before (a
/// code works once), and, with `enable`, switches the second factor on. False when the
/// step was already used.
pub async fn use_step(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    step: i64,
    enable: bool,
) -> StoreResult<bool> {
    let used = sqlx::query(
        "UPDATE staff_second_factors
         SET last_step = $2, enabled_at = CASE WHEN $3 THEN coalesce(enabled_at, now()) ELSE enabled_at END
         WHERE account_id = $1 AND (last_step IS NULL OR last_step < $2)",
    )
    .bind(account.0)
    .bind(step)
    .bind(enable)
    .execute(exec)
    .await?
    .rows_affected();
    Ok(used == 1)
}

/// Switches the second factor off.
pub async fn remove(exec: impl PgExecutor<'_>, account: AccountId) -> StoreResult<()> {
    sqlx::query("DELETE FROM staff_second_factors WHERE account_id = $1")
        .bind(account.0)
        .execute(exec)
        .await?;
    Ok(())
}

/// Records a sign-in waiting for its code.
pub async fn insert_pending(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
    account: AccountId,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO console_second_steps (token_digest, account_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(digest)
    .bind(account.0)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The account of a sign-in still waiting for its code (not expired).
pub async fn pending(exec: impl PgExecutor<'_>, digest: &[u8]) -> StoreResult<Option<AccountId>> {
    let account: Option<Uuid> = sqlx::query_scalar(
        "SELECT account_id FROM console_second_steps WHERE token_digest = $1 AND expires_at > now()",
    )
    .bind(digest)
    .fetch_optional(exec)
    .await?;
    Ok(account.map(AccountId))
}

/// Ends a waiting sign-in (its code was given, or a new sign-in replaced it), and any
/// expired ones.
pub async fn end_pending(exec: impl PgExecutor<'_>, digest: &[u8]) -> StoreResult<()> {
    sqlx::query("DELETE FROM console_second_steps WHERE token_digest = $1 OR expires_at <= now()")
        .bind(digest)
        .execute(exec)
        .await?;
    Ok(())
}
