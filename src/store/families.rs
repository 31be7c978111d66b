//! Parent–child links, the one-time link codes a child's app shows, and invitations.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, InvitationId};

/// Locks the student's account row, serialising link changes for one child.
pub async fn lock_student(exec: impl PgExecutor<'_>, student: AccountId) -> StoreResult<bool> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM accounts WHERE id = $1 AND role = 'student' AND erased_at IS NULL FOR UPDATE",
    )
    .bind(student.0)
    .fetch_optional(exec)
    .await?;
    Ok(found.is_some())
}

pub async fn parent_count(exec: impl PgExecutor<'_>, student: AccountId) -> StoreResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM family_links WHERE student_id = $1")
            .bind(student.0)
            .fetch_one(exec)
            .await?,
    )
}

pub async fn is_linked(
    exec: impl PgExecutor<'_>,
    parent: AccountId,
    student: AccountId,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM family_links WHERE parent_id = $1 AND student_id = $2)",
    )
    .bind(parent.0)
    .bind(student.0)
    .fetch_one(exec)
    .await?)
}

pub async fn link(
    exec: impl PgExecutor<'_>,
    parent: AccountId,
    student: AccountId,
    via: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO family_links (parent_id, student_id, via) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(parent.0)
    .bind(student.0)
    .bind(via)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn unlink(
    exec: impl PgExecutor<'_>,
    parent: AccountId,
    student: AccountId,
) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM family_links WHERE parent_id = $1 AND student_id = $2")
        .bind(parent.0)
        .bind(student.0)
        .execute(exec)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A linked person as listed: their id, names (first name and surname only) and when.
#[derive(Debug, sqlx::FromRow)]
pub struct LinkedPerson {
    pub account_id: Uuid,
    pub surname: Option<String>,
    pub given_name: Option<String>,
    pub grade: Option<i16>,
    pub linked_at: DateTime<Utc>,
}

pub async fn children(
    exec: impl PgExecutor<'_>,
    parent: AccountId,
) -> StoreResult<Vec<LinkedPerson>> {
    Ok(sqlx::query_as::<_, LinkedPerson>(
        "SELECT l.student_id AS account_id, p.surname, p.given_name, p.grade, l.linked_at
         FROM family_links l LEFT JOIN student_profiles p ON p.account_id = l.student_id
         WHERE l.parent_id = $1 ORDER BY l.linked_at",
    )
    .bind(parent.0)
    .fetch_all(exec)
    .await?)
}

pub async fn parents(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<LinkedPerson>> {
    Ok(sqlx::query_as::<_, LinkedPerson>(
        "SELECT l.parent_id AS account_id, p.surname, p.given_name, NULL::smallint AS grade, l.linked_at
         FROM family_links l LEFT JOIN parent_profiles p ON p.account_id = l.parent_id
         WHERE l.student_id = $1 ORDER BY l.linked_at",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// Ids of the parents linked to a student.
pub async fn parent_ids(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<AccountId>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT parent_id FROM family_links WHERE student_id = $1 ORDER BY linked_at",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?;
    Ok(ids.into_iter().map(AccountId).collect())
}

/// Replaces the student's unused codes with a new one.
pub async fn replace_link_code(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    digest: &[u8],
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "WITH retired AS (DELETE FROM link_codes WHERE student_id = $1 AND used_at IS NULL)
         INSERT INTO link_codes (digest, student_id, expires_at) VALUES ($2, $1, $3)",
    )
    .bind(student.0)
    .bind(digest)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// Marks a live code used and returns its student; `None` for unknown, used or expired.
pub async fn redeem_link_code(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
) -> StoreResult<Option<AccountId>> {
    let student: Option<Uuid> = sqlx::query_scalar(
        "UPDATE link_codes SET used_at = now()
         WHERE digest = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING student_id",
    )
    .bind(digest)
    .fetch_optional(exec)
    .await?;
    Ok(student.map(AccountId))
}

pub async fn create_invitation(
    exec: impl PgExecutor<'_>,
    id: InvitationId,
    parent: AccountId,
    student_email: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO invitations (id, parent_id, student_email, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id.0)
    .bind(parent.0)
    .bind(student_email)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// An open invitation as a child sees it.
#[derive(Debug, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub parent_id: Uuid,
    pub parent_surname: Option<String>,
    pub parent_given_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Open invitations addressed to the e-mail of `student`.
pub async fn open_invitations(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<InvitationRow>> {
    Ok(sqlx::query_as::<_, InvitationRow>(
        "SELECT i.id, i.parent_id, p.surname AS parent_surname, p.given_name AS parent_given_name,
                i.created_at, i.expires_at
         FROM invitations i
         JOIN accounts s ON s.email = i.student_email AND s.id = $1
         LEFT JOIN parent_profiles p ON p.account_id = i.parent_id
         WHERE i.accepted_at IS NULL AND i.declined_at IS NULL AND i.expires_at > now()
         ORDER BY i.created_at",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// Closes an open invitation addressed to `student` (accepted or declined); returns the
/// inviting parent, or `None` when there is no such open invitation for this student.
pub async fn close_invitation(
    exec: impl PgExecutor<'_>,
    id: InvitationId,
    student: AccountId,
    accept: bool,
) -> StoreResult<Option<AccountId>> {
    let parent: Option<Uuid> = sqlx::query_scalar(
        "UPDATE invitations i SET
             accepted_at = CASE WHEN $3 THEN now() END,
             declined_at = CASE WHEN $3 THEN NULL ELSE now() END
         FROM accounts s
         WHERE i.id = $1 AND s.id = $2 AND s.email = i.student_email
           AND i.accepted_at IS NULL AND i.declined_at IS NULL AND i.expires_at > now()
         RETURNING i.parent_id",
    )
    .bind(id.0)
    .bind(student.0)
    .bind(accept)
    .fetch_optional(exec)
    .await?;
    Ok(parent.map(AccountId))
}

/// A link code as held (the code itself is only a digest).
#[derive(Debug, sqlx::FromRow)]
pub struct LinkCodeRow {
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Every link code a student's app showed, newest first.
pub async fn link_codes_of(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<LinkCodeRow>> {
    Ok(sqlx::query_as::<_, LinkCodeRow>(
        "SELECT created_at, expires_at, used_at FROM link_codes WHERE student_id = $1
         ORDER BY created_at DESC",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// An invitation as held.
#[derive(Debug, sqlx::FromRow)]
pub struct InvitationRecord {
    pub id: Uuid,
    pub parent_id: Uuid,
    pub student_email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub declined_at: Option<DateTime<Utc>>,
}

/// Every invitation a parent sent, or that was addressed to a student's e-mail, newest
/// first.
pub async fn invitations_involving(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<InvitationRecord>> {
    Ok(sqlx::query_as::<_, InvitationRecord>(
        "SELECT i.id, i.parent_id, i.student_email::text AS student_email, i.created_at,
                i.expires_at, i.accepted_at, i.declined_at
         FROM invitations i
         WHERE i.parent_id = $1
            OR i.student_email = (SELECT email FROM accounts WHERE id = $1 AND role = 'student')
         ORDER BY i.created_at DESC, i.id DESC",
    )
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}
