//! SNILS conflicts: a claimant tried to save a SNILS another profile holds. The SNILS is
//! kept only as its blind-index digest; an administrator settles each conflict.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, SnilsConflictId};

/// A conflict as stored (without the digest, which never leaves the store).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConflictRow {
    pub id: SnilsConflictId,
    pub claimant_id: AccountId,
    pub holder_id: AccountId,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
    pub attempts: i32,
    pub status: String,
    pub decision: Option<String>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, claimant_id, holder_id, created_at, last_attempt_at, attempts, status, \
                       decision, decided_by, decided_at";

/// Whether an administrator refused this claimant this SNILS for good (`keep_holder`).
pub async fn refused_for_good(
    exec: impl PgExecutor<'_>,
    claimant: AccountId,
    digest: &[u8],
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM snils_conflicts
                        WHERE claimant_id = $1 AND digest = $2 AND decision = 'keep_holder')",
    )
    .bind(claimant.0)
    .bind(digest)
    .fetch_one(exec)
    .await?)
}

/// Opens a conflict, or counts one more try on the open one of this claimant and SNILS;
/// returns its id.
pub async fn open_or_count(
    exec: impl PgExecutor<'_>,
    claimant: AccountId,
    holder: AccountId,
    digest: &[u8],
) -> StoreResult<SnilsConflictId> {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO snils_conflicts (id, digest, claimant_id, holder_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (claimant_id, digest) WHERE status = 'open' DO UPDATE
             SET attempts = snils_conflicts.attempts + 1, last_attempt_at = now(),
                 holder_id = EXCLUDED.holder_id
         RETURNING id",
    )
    .bind(SnilsConflictId::new().0)
    .bind(digest)
    .bind(claimant.0)
    .bind(holder.0)
    .fetch_one(exec)
    .await?;
    Ok(SnilsConflictId(id))
}

/// Conflicts, open ones first, then oldest first; at most `limit`.
pub async fn list(exec: impl PgExecutor<'_>, limit: i64) -> StoreResult<Vec<ConflictRow>> {
    Ok(sqlx::query_as::<_, ConflictRow>(&format!(
        "SELECT {COLUMNS} FROM snils_conflicts
         ORDER BY status = 'open' DESC, created_at, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// A conflict with its digest, locked for the caller's transaction.
pub async fn lock(
    exec: impl PgExecutor<'_>,
    id: SnilsConflictId,
) -> StoreResult<Option<(ConflictRow, Vec<u8>)>> {
    #[derive(sqlx::FromRow)]
    struct Locked {
        #[sqlx(flatten)]
        row: ConflictRow,
        digest: Vec<u8>,
    }
    let locked = sqlx::query_as::<_, Locked>(&format!(
        "SELECT {COLUMNS}, digest FROM snils_conflicts WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(exec)
    .await?;
    Ok(locked.map(|l| (l.row, l.digest)))
}

/// Settles an open conflict with a decision; returns it as now stored.
pub async fn settle(
    exec: impl PgExecutor<'_>,
    id: SnilsConflictId,
    decision: &str,
    by: AccountId,
) -> StoreResult<ConflictRow> {
    Ok(sqlx::query_as::<_, ConflictRow>(&format!(
        "UPDATE snils_conflicts SET status = 'settled', decision = $2, decided_by = $3,
             decided_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id.0)
    .bind(decision)
    .bind(by.0)
    .fetch_one(exec)
    .await?)
}

/// Every conflict a person is part of, as claimant, holder or the administrator who
/// settled it, newest first.
pub async fn involving(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<ConflictRow>> {
    Ok(sqlx::query_as::<_, ConflictRow>(&format!(
        "SELECT {COLUMNS} FROM snils_conflicts WHERE claimant_id = $1 OR holder_id = $1 OR decided_by = $1
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}
