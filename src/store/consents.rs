//! Consent records: one current record per kind and child, with the history kept.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, ConsentId};

/// A consent record as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub id: ConsentId,
    pub kind: String,
    pub student_id: AccountId,
    pub parent_id: AccountId,
    pub text_version: String,
    pub given_at: DateTime<Utc>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub identity_proof_enc: String,
    pub superseded_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawn_by: Option<Uuid>,
}

pub struct NewConsent<'a> {
    pub id: ConsentId,
    pub kind: &'a str,
    pub student: AccountId,
    pub parent: AccountId,
    pub text_version: &'a str,
    pub client_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub identity_proof_enc: &'a str,
}

/// Records a consent, superseding the current one of its kind (kept as history).
pub async fn give(conn: &mut sqlx::PgConnection, consent: &NewConsent<'_>) -> StoreResult<()> {
    sqlx::query(
        "UPDATE consents SET superseded_at = now()
         WHERE student_id = $1 AND kind = $2 AND superseded_at IS NULL AND withdrawn_at IS NULL",
    )
    .bind(consent.student.0)
    .bind(consent.kind)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO consents (id, kind, student_id, parent_id, text_version, client_address,
             user_agent, identity_proof_enc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(consent.id.0)
    .bind(consent.kind)
    .bind(consent.student.0)
    .bind(consent.parent.0)
    .bind(consent.text_version)
    .bind(consent.client_address)
    .bind(consent.user_agent)
    .bind(consent.identity_proof_enc)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Withdraws the current consent of a kind; returns it, or `None` when there is none.
pub async fn withdraw(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    kind: &str,
    by: AccountId,
) -> StoreResult<Option<ConsentRow>> {
    Ok(sqlx::query_as::<_, ConsentRow>(
        "UPDATE consents SET withdrawn_at = now(), withdrawn_by = $3
         WHERE student_id = $1 AND kind = $2 AND superseded_at IS NULL AND withdrawn_at IS NULL
         RETURNING *",
    )
    .bind(student.0)
    .bind(kind)
    .bind(by.0)
    .fetch_optional(exec)
    .await?)
}

/// Every record for a child, newest first.
pub async fn history(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<ConsentRow>> {
    Ok(sqlx::query_as::<_, ConsentRow>(
        "SELECT * FROM consents WHERE student_id = $1 ORDER BY given_at DESC, id DESC",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// Every record a parent gave, for their export.
pub async fn given_by(
    exec: impl PgExecutor<'_>,
    parent: AccountId,
) -> StoreResult<Vec<ConsentRow>> {
    Ok(sqlx::query_as::<_, ConsentRow>(
        "SELECT * FROM consents WHERE parent_id = $1 ORDER BY given_at DESC, id DESC",
    )
    .bind(parent.0)
    .fetch_all(exec)
    .await?)
}

/// Whether the child has a current consent of this kind.
pub async fn is_current(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    kind: &str,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM consents WHERE student_id = $1 AND kind = $2
                        AND superseded_at IS NULL AND withdrawn_at IS NULL)",
    )
    .bind(student.0)
    .bind(kind)
    .fetch_one(exec)
    .await?)
}

/// Schedules the erasure of a child's personal data (keeps an earlier due date).
pub async fn schedule_erasure(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    due_at: DateTime<Utc>,
) -> StoreResult<DateTime<Utc>> {
    // An erasure already scheduled sooner keeps its time; that time is returned.
    let due: Option<DateTime<Utc>> = sqlx::query_scalar(
        "INSERT INTO erasures (student_id, due_at) VALUES ($1, $2)
         ON CONFLICT (student_id) DO UPDATE SET due_at = LEAST(erasures.due_at, EXCLUDED.due_at), done_at = NULL
         WHERE erasures.done_at IS NULL
         RETURNING due_at",
    )
    .bind(student.0)
    .bind(due_at)
    .fetch_optional(exec)
    .await?;
    Ok(due.unwrap_or(due_at))
}

/// Cancels a pending erasure (consent given again before it was due).
pub async fn cancel_erasure(exec: impl PgExecutor<'_>, student: AccountId) -> StoreResult<()> {
    sqlx::query("DELETE FROM erasures WHERE student_id = $1 AND done_at IS NULL")
        .bind(student.0)
        .execute(exec)
        .await?;
    Ok(())
}

/// A child's erasure, scheduled or pending.
#[derive(Debug, sqlx::FromRow)]
pub struct ErasureRow {
    pub requested_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

pub async fn erasure_of(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Option<ErasureRow>> {
    Ok(sqlx::query_as::<_, ErasureRow>(
        "SELECT requested_at, due_at FROM erasures WHERE student_id = $1",
    )
    .bind(student.0)
    .fetch_optional(exec)
    .await?)
}
