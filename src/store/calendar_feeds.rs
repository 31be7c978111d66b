//! Calendar subscriptions: one per account, kept as a nonce and the digest of its token,
//! and the events a feed lists.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, EventId};
use crate::domain::roles::Role;

/// The account's feed: its nonce and the digest of the token made from it.
pub async fn find(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Option<(Vec<u8>, Vec<u8>)>> {
    Ok(
        sqlx::query_as("SELECT nonce, token_digest FROM calendar_feeds WHERE account_id = $1")
            .bind(account.0)
            .fetch_optional(exec)
            .await?,
    )
}

/// Sets the account's feed, replacing the one it had.
pub async fn replace(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    nonce: &[u8],
    digest: &[u8],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO calendar_feeds (account_id, nonce, token_digest) VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO UPDATE
             SET nonce = excluded.nonce, token_digest = excluded.token_digest, created_at = now()",
    )
    .bind(account.0)
    .bind(nonce)
    .bind(digest)
    .execute(exec)
    .await?;
    Ok(())
}

/// Revokes the account's feed; false when it had none.
pub async fn revoke(exec: impl PgExecutor<'_>, account: AccountId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM calendar_feeds WHERE account_id = $1")
        .bind(account.0)
        .execute(exec)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The live student or parent account a token digest belongs to.
pub async fn owner(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
) -> StoreResult<Option<(AccountId, Role)>> {
    let row: Option<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT a.id, a.role FROM calendar_feeds f JOIN accounts a ON a.id = f.account_id
         WHERE f.token_digest = $1 AND a.erased_at IS NULL AND a.role IN ('student', 'parent')",
    )
    .bind(digest)
    .fetch_optional(exec)
    .await?;
    Ok(row.and_then(|(id, role)| Role::parse(&role).map(|role| (AccountId(id), role))))
}

/// One event in a family's feed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedEvent {
    pub id: EventId,
    pub title: String,
    pub description: String,
    pub format: String,
    pub city: Option<String>,
    pub address: Option<String>,
    pub online_link: Option<String>,
    pub what_to_bring: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub cancelled: bool,
    pub sequence: i32,
    pub updated_at: DateTime<Utc>,
}

/// The events the account's family is approved for (a student's own; a parent's linked
/// children's), and those of them the organizer cancelled, by start; once each.
pub async fn events(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    limit: i64,
) -> StoreResult<Vec<FeedEvent>> {
    Ok(sqlx::query_as::<_, FeedEvent>(
        "SELECT e.id, e.title, e.description, e.format, e.city, e.address, e.online_link,
                e.what_to_bring, e.starts_at, e.ends_at, (e.status = 'cancelled') AS cancelled,
                e.sequence, e.updated_at
         FROM events e
         WHERE e.id IN (
             SELECT s.event_id FROM signups s
             WHERE (s.student_id = $1
                    OR s.student_id IN (SELECT l.student_id FROM family_links l
                                        WHERE l.parent_id = $1))
               AND (s.status = 'approved'
                    OR (s.status = 'cancelled' AND s.end_reason = 'event_cancelled'
                        AND s.decided_at IS NOT NULL)))
         ORDER BY e.starts_at DESC, e.id
         LIMIT $2",
    )
    .bind(account.0)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}
