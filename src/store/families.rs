//! Parent–child links, the one-time link codes a child's app shows, and invitations.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, InvitationId, LinkRequestId};

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

/// How a link came about: the child's code, the child accepting an invitation, or a code
/// a linked parent created for another adult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkVia {
    Code,
    Invitation,
    ParentCode,
}

impl LinkVia {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkVia::Code => "code",
            LinkVia::Invitation => "invitation",
            LinkVia::ParentCode => "parent_code",
        }
    }
}

/// Links parent and child; `confirmed_by` is the linked parent who agreed, when one had to.
pub async fn link(
    exec: impl PgExecutor<'_>,
    parent: AccountId,
    student: AccountId,
    via: LinkVia,
    confirmed_by: Option<AccountId>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO family_links (parent_id, student_id, via, confirmed_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(parent.0)
    .bind(student.0)
    .bind(via.as_str())
    .bind(confirmed_by.map(|c| c.0))
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
    pub account_id: AccountId,
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

/// Replaces the unused codes the same person made for this student with a new one:
/// the student's own (`created_by` none) or a linked parent's.
pub async fn replace_link_code(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    created_by: Option<AccountId>,
    digest: &[u8],
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "WITH retired AS (
             DELETE FROM link_codes
             WHERE student_id = $1 AND used_at IS NULL AND created_by IS NOT DISTINCT FROM $4
         )
         INSERT INTO link_codes (digest, student_id, expires_at, created_by) VALUES ($2, $1, $3, $4)",
    )
    .bind(student.0)
    .bind(digest)
    .bind(expires_at)
    .bind(created_by.map(|c| c.0))
    .execute(exec)
    .await?;
    Ok(())
}

/// A redeemed code: whose it is, and which linked parent made it (none: the child).
#[derive(Debug, Clone, Copy)]
pub struct RedeemedCode {
    pub student: AccountId,
    pub created_by: Option<AccountId>,
}

/// Marks a live code used; `None` for unknown, used or expired.
pub async fn redeem_link_code(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
) -> StoreResult<Option<RedeemedCode>> {
    let row: Option<(Uuid, Option<Uuid>)> = sqlx::query_as(
        "UPDATE link_codes SET used_at = now()
         WHERE digest = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING student_id, created_by",
    )
    .bind(digest)
    .fetch_optional(exec)
    .await?;
    Ok(row.map(|(student, created_by)| RedeemedCode {
        student: AccountId(student),
        created_by: created_by.map(AccountId),
    }))
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
    pub id: InvitationId,
    pub parent_id: AccountId,
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

/// Opens a request to join a child's family, or returns the one already open for the
/// same adult and child.
pub async fn open_link_request(
    exec: &mut sqlx::PgConnection,
    id: LinkRequestId,
    student: AccountId,
    requester: AccountId,
    via: LinkVia,
    expires_at: DateTime<Utc>,
) -> StoreResult<(LinkRequestId, bool)> {
    let created: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO family_link_requests (id, student_id, requester_id, via, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (student_id, requester_id) WHERE decided_at IS NULL DO NOTHING
         RETURNING id",
    )
    .bind(id.0)
    .bind(student.0)
    .bind(requester.0)
    .bind(via.as_str())
    .bind(expires_at)
    .fetch_optional(&mut *exec)
    .await?;
    if let Some(id) = created {
        return Ok((LinkRequestId(id), true));
    }
    let open: Uuid = sqlx::query_scalar(
        "SELECT id FROM family_link_requests
         WHERE student_id = $1 AND requester_id = $2 AND decided_at IS NULL",
    )
    .bind(student.0)
    .bind(requester.0)
    .fetch_one(&mut *exec)
    .await?;
    Ok((LinkRequestId(open), false))
}

/// A request to join a family, with the requester's names (first name and surname only).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRequestRow {
    pub id: LinkRequestId,
    pub student_id: AccountId,
    pub requester_id: AccountId,
    pub via: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision: Option<String>,
    pub requester_given_name: Option<String>,
    pub requester_surname: Option<String>,
}

const LINK_REQUEST: &str = "SELECT r.id, r.student_id, r.requester_id, r.via, r.created_at, r.expires_at,
        r.decided_at, r.decision, p.given_name AS requester_given_name, p.surname AS requester_surname
 FROM family_link_requests r LEFT JOIN parent_profiles p ON p.account_id = r.requester_id";

pub async fn link_request(
    exec: impl PgExecutor<'_>,
    id: LinkRequestId,
) -> StoreResult<Option<LinkRequestRow>> {
    Ok(
        sqlx::query_as::<_, LinkRequestRow>(&format!("{LINK_REQUEST} WHERE r.id = $1"))
            .bind(id.0)
            .fetch_optional(exec)
            .await?,
    )
}

/// Locks a request for a decision (after the child's row, the order every link change
/// takes); `None` when it does not exist.
pub async fn lock_link_request(
    exec: impl PgExecutor<'_>,
    id: LinkRequestId,
) -> StoreResult<Option<LinkRequestRow>> {
    Ok(sqlx::query_as::<_, LinkRequestRow>(&format!(
        "{LINK_REQUEST} WHERE r.id = $1 FOR UPDATE OF r"
    ))
    .bind(id.0)
    .fetch_optional(exec)
    .await?)
}

/// Records a linked parent's decision on an open request.
pub async fn decide_link_request(
    exec: impl PgExecutor<'_>,
    id: LinkRequestId,
    by: AccountId,
    confirmed: bool,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE family_link_requests
         SET decided_at = now(), decided_by = $2, decision = CASE WHEN $3 THEN 'confirmed' ELSE 'declined' END
         WHERE id = $1 AND decided_at IS NULL",
    )
    .bind(id.0)
    .bind(by.0)
    .bind(confirmed)
    .execute(exec)
    .await?;
    Ok(())
}

/// The requests an account can see, newest first: those it made, those about its linked
/// children, and (for a student) those about itself.
pub async fn link_requests_for(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<LinkRequestRow>> {
    Ok(sqlx::query_as::<_, LinkRequestRow>(&format!(
        "{LINK_REQUEST}
         WHERE r.requester_id = $1 OR r.student_id = $1
            OR r.student_id IN (SELECT student_id FROM family_links WHERE parent_id = $1)
         ORDER BY r.created_at DESC, r.id DESC LIMIT 100"
    ))
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}

/// A link code as held (the code itself is only a digest).
#[derive(Debug, sqlx::FromRow)]
pub struct LinkCodeRow {
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Every link code a student's app showed, or a parent made for another adult, newest
/// first.
pub async fn link_codes_of(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<LinkCodeRow>> {
    Ok(sqlx::query_as::<_, LinkCodeRow>(
        "SELECT created_at, expires_at, used_at FROM link_codes
         WHERE (student_id = $1 AND created_by IS NULL) OR created_by = $1
         ORDER BY created_at DESC",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// An invitation as held.
#[derive(Debug, sqlx::FromRow)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub parent_id: AccountId,
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
