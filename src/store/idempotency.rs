//! Idempotency keys: the first response to a non-idempotent request, kept for 24 hours so
//! a retry with the same key gets it back.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::error::StoreResult;
use crate::domain::ids::AccountId;

/// A key as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct KeyRow {
    pub operation: String,
    pub request_digest: Vec<u8>,
    pub response_status: Option<i16>,
    pub response_type: Option<String>,
    pub response_body: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
}

/// Claims a key for a new request; false when it is already taken.
pub async fn claim(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    key: &str,
    operation: &str,
    digest: &[u8],
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (account_id, key, operation, request_digest)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(account.0)
    .bind(key)
    .bind(operation)
    .bind(digest)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    key: &str,
) -> StoreResult<Option<KeyRow>> {
    Ok(sqlx::query_as::<_, KeyRow>(
        "SELECT operation, request_digest, response_status, response_type, response_body, created_at
         FROM idempotency_keys WHERE account_id = $1 AND key = $2",
    )
    .bind(account.0)
    .bind(key)
    .fetch_optional(exec)
    .await?)
}

/// Takes over a key whose first request vanished without an answer (or that expired),
/// if it still looks as it did when read; false when someone else took it first.
pub async fn take_over(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    key: &str,
    seen_created_at: DateTime<Utc>,
    operation: &str,
    digest: &[u8],
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE idempotency_keys SET created_at = now(), completed_at = NULL, operation = $4,
             request_digest = $5, response_status = NULL, response_type = NULL, response_body = NULL
         WHERE account_id = $1 AND key = $2 AND created_at = $3",
    )
    .bind(account.0)
    .bind(key)
    .bind(seen_created_at)
    .bind(operation)
    .bind(digest)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn complete(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    key: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = $3, response_type = $4, response_body = $5,
             completed_at = now()
         WHERE account_id = $1 AND key = $2",
    )
    .bind(account.0)
    .bind(key)
    .bind(status as i16)
    .bind(content_type)
    .bind(body)
    .execute(exec)
    .await?;
    Ok(())
}

/// Forgets a key (its request failed on our side, so a retry must run again).
pub async fn release(exec: impl PgExecutor<'_>, account: AccountId, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2")
        .bind(account.0)
        .bind(key)
        .execute(exec)
        .await?;
    Ok(())
}

/// Deletes keys older than `before`; returns how many.
pub async fn purge(exec: impl PgExecutor<'_>, before: DateTime<Utc>) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before)
        .execute(exec)
        .await?;
    Ok(done.rows_affected())
}

/// A key as held about its account, for the export.
#[derive(Debug, sqlx::FromRow)]
pub struct KeyRecord {
    pub key: String,
    pub operation: String,
    pub created_at: DateTime<Utc>,
    pub response_status: Option<i16>,
    pub response_body: Option<Vec<u8>>,
}

/// Every key an account used that is still kept.
pub async fn of_account(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<KeyRecord>> {
    Ok(sqlx::query_as::<_, KeyRecord>(
        "SELECT key, operation, created_at, response_status, response_body FROM idempotency_keys
         WHERE account_id = $1 ORDER BY created_at DESC, key",
    )
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}
