//! Single-use approval links for parents without the app.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, SignupId};

pub async fn insert(
    exec: impl PgExecutor<'_>,
    ids: &[Uuid],
    signups: &[Uuid],
    parents: &[Uuid],
    expiries: &[DateTime<Utc>],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO approval_links (id, signup_id, parent_id, expires_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[])",
    )
    .bind(ids)
    .bind(signups)
    .bind(parents)
    .bind(expiries)
    .execute(exec)
    .await?;
    Ok(())
}

/// A link as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub id: Uuid,
    pub signup_id: SignupId,
    pub parent_id: AccountId,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

pub async fn find(exec: impl PgExecutor<'_>, id: Uuid) -> StoreResult<Option<LinkRow>> {
    Ok(sqlx::query_as::<_, LinkRow>(
        "SELECT id, signup_id, parent_id, expires_at, used_at FROM approval_links WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(exec)
    .await?)
}

/// Uses a live link once; `None` when it is unknown, used or expired.
pub async fn use_once(exec: impl PgExecutor<'_>, id: Uuid) -> StoreResult<Option<LinkRow>> {
    Ok(sqlx::query_as::<_, LinkRow>(
        "UPDATE approval_links SET used_at = now()
         WHERE id = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING id, signup_id, parent_id, expires_at, used_at",
    )
    .bind(id)
    .fetch_optional(exec)
    .await?)
}

/// Every approval link sent to a parent, newest first.
pub async fn for_parent(exec: impl PgExecutor<'_>, parent: Uuid) -> StoreResult<Vec<LinkRow>> {
    Ok(sqlx::query_as::<_, LinkRow>(
        "SELECT id, signup_id, parent_id, expires_at, used_at FROM approval_links
         WHERE parent_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(parent)
    .fetch_all(exec)
    .await?)
}
