//! Sign-ups as stored: seat holders waiting for a parent or approved, the waitlist in
//! order, decisions, endings, and the rows the deadline worker claims.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::events::{EventStatus, SignupStatus};
use crate::domain::ids::{AccountId, EventId, SignupId};

/// Statuses that hold a seat.
pub const HOLDING: [&str; 2] = ["pending_parent", "approved"];

/// A sign-up as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignupRow {
    pub id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    #[sqlx(try_from = "String")]
    pub status: SignupStatus,
    pub queue_position: i64,
    pub created_at: DateTime<Utc>,
    pub requested_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<Uuid>,
    pub decision_comment: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    /// The linked parent who signed the child up, when a parent did.
    pub signed_up_by: Option<AccountId>,
}

impl SignupRow {
    pub fn holds_seat(&self) -> bool {
        HOLDING.contains(&self.status.as_str())
    }
}

const COLUMNS: &str = "id, event_id, student_id, status, queue_position, created_at, requested_at,
    expires_at, decided_at, decided_by, decision_comment, ended_at, end_reason, signed_up_by";

/// The wait for a parent: when it began, when it ends, when to remind.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub reminder_due_at: DateTime<Utc>,
}

/// Inserts a sign-up: on the waitlist (`wait` is `None`), or holding a seat, waiting for a
/// parent (`Some(wait)`) or, when a linked parent signs the child up (`by_parent`),
/// approved by that parent at once. `Conflict("signups_one_live")` when the student already
/// has a live one.
pub async fn insert(
    exec: impl PgExecutor<'_>,
    id: SignupId,
    event: EventId,
    student: AccountId,
    wait: Option<Wait>,
    by_parent: Option<AccountId>,
) -> StoreResult<SignupRow> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "INSERT INTO signups (id, event_id, student_id, status, requested_at, expires_at, reminder_due_at,
                              decided_at, decided_by, signed_up_by)
         VALUES ($1, $2, $3,
                 CASE WHEN $4::timestamptz IS NULL THEN 'waitlisted'
                      WHEN $7::uuid IS NOT NULL THEN 'approved' ELSE 'pending_parent' END,
                 $4,
                 CASE WHEN $7::uuid IS NULL THEN $5::timestamptz END,
                 CASE WHEN $7::uuid IS NULL THEN $6::timestamptz END,
                 CASE WHEN $4::timestamptz IS NOT NULL AND $7::uuid IS NOT NULL THEN now() END,
                 CASE WHEN $4::timestamptz IS NOT NULL THEN $7::uuid END,
                 $7)
         RETURNING {COLUMNS}"
    ))
    .bind(id.0)
    .bind(event.0)
    .bind(student.0)
    .bind(wait.map(|w| w.requested_at))
    .bind(wait.map(|w| w.expires_at))
    .bind(wait.map(|w| w.reminder_due_at))
    .bind(by_parent.map(|p| p.0))
    .fetch_one(exec)
    .await?)
}

pub async fn find(exec: impl PgExecutor<'_>, id: SignupId) -> StoreResult<Option<SignupRow>> {
    Ok(
        sqlx::query_as::<_, SignupRow>(&format!("SELECT {COLUMNS} FROM signups WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(exec)
            .await?,
    )
}

/// The sign-up, locked: decisions and endings on one sign-up serialise here.
pub async fn lock(exec: impl PgExecutor<'_>, id: SignupId) -> StoreResult<Option<SignupRow>> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "SELECT {COLUMNS} FROM signups WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(exec)
    .await?)
}

/// Records the first parent's decision.
pub async fn decide(
    exec: impl PgExecutor<'_>,
    id: SignupId,
    status: SignupStatus,
    parent: AccountId,
    comment: Option<&str>,
) -> StoreResult<SignupRow> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "UPDATE signups SET status = $2, decided_at = now(), decided_by = $3, decision_comment = $4
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id.0)
    .bind(status.as_str())
    .bind(parent.0)
    .bind(comment)
    .fetch_one(exec)
    .await?)
}

/// Ends a sign-up (`withdrawn`, `expired`, `cancelled`).
pub async fn end(
    exec: impl PgExecutor<'_>,
    id: SignupId,
    status: SignupStatus,
    by: Option<AccountId>,
    reason: &str,
) -> StoreResult<SignupRow> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "UPDATE signups SET status = $2, ended_at = now(), ended_by = $3, end_reason = $4
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id.0)
    .bind(status.as_str())
    .bind(by.map(|b| b.0))
    .bind(reason)
    .fetch_one(exec)
    .await?)
}

/// The first student on the event's waitlist, locked.
pub async fn first_waitlisted(
    exec: impl PgExecutor<'_>,
    event: EventId,
) -> StoreResult<Option<SignupRow>> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "SELECT {COLUMNS} FROM signups WHERE event_id = $1 AND status = 'waitlisted'
         ORDER BY queue_position LIMIT 1 FOR UPDATE"
    ))
    .bind(event.0)
    .fetch_optional(exec)
    .await?)
}

/// Moves a waitlisted sign-up onto a seat, waiting for a parent again.
pub async fn promote(
    exec: impl PgExecutor<'_>,
    id: SignupId,
    wait: Wait,
) -> StoreResult<SignupRow> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "UPDATE signups SET status = 'pending_parent', requested_at = $2, expires_at = $3,
             reminder_due_at = $4, reminded_at = NULL
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id.0)
    .bind(wait.requested_at)
    .bind(wait.expires_at)
    .bind(wait.reminder_due_at)
    .fetch_one(exec)
    .await?)
}

/// Moves a waitlisted sign-up a parent made onto a seat, approved by that parent at once.
pub async fn promote_approved(
    exec: impl PgExecutor<'_>,
    id: SignupId,
    parent: AccountId,
) -> StoreResult<SignupRow> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "UPDATE signups SET status = 'approved', requested_at = now(), decided_at = now(),
             decided_by = $2
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id.0)
    .bind(parent.0)
    .fetch_one(exec)
    .await?)
}

/// The sign-up an attendance or feedback step is about, with its event's times and
/// organization, locked (after the event, as every change takes them).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignupAtEvent {
    pub id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    #[sqlx(try_from = "String")]
    pub status: SignupStatus,
    pub organization_id: crate::domain::ids::OrganizationId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub event_status: EventStatus,
}

pub async fn at_event(
    exec: impl PgExecutor<'_>,
    id: SignupId,
) -> StoreResult<Option<SignupAtEvent>> {
    Ok(sqlx::query_as::<_, SignupAtEvent>(
        "SELECT s.id, s.event_id, s.student_id, s.status, e.organization_id, e.starts_at, e.ends_at,
                e.status AS event_status
         FROM signups s JOIN events e ON e.id = s.event_id WHERE s.id = $1",
    )
    .bind(id.0)
    .fetch_optional(exec)
    .await?)
}

/// The student's approved sign-up for an event, if there is one.
pub async fn approved_for(
    exec: impl PgExecutor<'_>,
    event: EventId,
    student: AccountId,
) -> StoreResult<Option<SignupRow>> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "SELECT {COLUMNS} FROM signups WHERE event_id = $1 AND student_id = $2 AND status = 'approved'"
    ))
    .bind(event.0)
    .bind(student.0)
    .fetch_optional(exec)
    .await?)
}

/// Whether the student already has a live sign-up for this event.
pub async fn has_live(
    exec: impl PgExecutor<'_>,
    event: EventId,
    student: AccountId,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM signups WHERE event_id = $1 AND student_id = $2
                        AND status IN ('pending_parent', 'approved', 'waitlisted'))",
    )
    .bind(event.0)
    .bind(student.0)
    .fetch_one(exec)
    .await?)
}

/// Whether the student holds a seat at another event overlapping this time.
pub async fn holds_overlapping(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM signups s JOIN events e ON e.id = s.event_id
             WHERE s.student_id = $1 AND s.status IN ('pending_parent', 'approved')
               AND e.status = 'published' AND e.starts_at < $3 AND e.ends_at > $2)",
    )
    .bind(student.0)
    .bind(starts_at)
    .bind(ends_at)
    .fetch_one(exec)
    .await?)
}

/// Claims up to `limit` sign-ups whose parents did not decide in time.
pub async fn claim_expired(exec: impl PgExecutor<'_>, limit: i64) -> StoreResult<Vec<SignupRow>> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "SELECT {COLUMNS} FROM signups WHERE status = 'pending_parent' AND expires_at <= now()
         ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// Claims and marks up to `limit` sign-ups due a reminder to their parents.
pub async fn take_due_reminders(
    exec: impl PgExecutor<'_>,
    limit: i64,
) -> StoreResult<Vec<SignupRow>> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "UPDATE signups SET reminded_at = now()
         WHERE id IN (
             SELECT id FROM signups
             WHERE status = 'pending_parent' AND reminded_at IS NULL AND reminder_due_at <= now()
               AND expires_at > now()
             ORDER BY reminder_due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}"
    ))
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// Ends every live sign-up of an event; returns how many.
pub async fn cancel_all_live(exec: impl PgExecutor<'_>, event: EventId) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE signups SET status = 'cancelled', ended_at = now(), end_reason = 'event_cancelled'
         WHERE event_id = $1 AND status IN ('pending_parent', 'approved', 'waitlisted')",
    )
    .bind(event.0)
    .execute(exec)
    .await?;
    Ok(done.rows_affected())
}

/// A student's live sign-ups for events that have not started, locked.
pub async fn live_upcoming_for_student(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<SignupRow>> {
    Ok(sqlx::query_as::<_, SignupRow>(&format!(
        "SELECT {COLUMNS} FROM signups s
         WHERE s.student_id = $1 AND s.status IN ('pending_parent', 'approved', 'waitlisted')
           AND EXISTS (SELECT 1 FROM events e WHERE e.id = s.event_id AND e.ends_at > now())
         ORDER BY s.created_at FOR UPDATE"
    ))
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// A sign-up with the event it is for, as families see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignupListing {
    pub id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    #[sqlx(try_from = "String")]
    pub status: SignupStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<Uuid>,
    pub end_reason: Option<String>,
    pub waitlist_ahead: Option<i64>,
    pub event_title: String,
    pub event_starts_at: DateTime<Utc>,
    pub event_ends_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub event_status: EventStatus,
    pub student_given_name: Option<String>,
}

const LISTING: &str = "SELECT s.id, s.event_id, s.student_id, s.status, s.created_at, s.expires_at,
        s.decided_at, s.decided_by, s.end_reason,
        CASE WHEN s.status = 'waitlisted' THEN (
            SELECT count(*) FROM signups w
            WHERE w.event_id = s.event_id AND w.status = 'waitlisted' AND w.queue_position < s.queue_position)
        END AS waitlist_ahead,
        e.title AS event_title, e.starts_at AS event_starts_at, e.ends_at AS event_ends_at,
        e.status AS event_status, p.given_name AS student_given_name
    FROM signups s JOIN events e ON e.id = s.event_id
    LEFT JOIN student_profiles p ON p.account_id = s.student_id";

pub async fn listing(
    exec: impl PgExecutor<'_>,
    id: SignupId,
) -> StoreResult<Option<SignupListing>> {
    Ok(
        sqlx::query_as::<_, SignupListing>(&format!("{LISTING} WHERE s.id = $1"))
            .bind(id.0)
            .fetch_optional(exec)
            .await?,
    )
}

/// A student's sign-ups, newest first.
pub async fn for_student(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<SignupListing>> {
    Ok(sqlx::query_as::<_, SignupListing>(&format!(
        "{LISTING} WHERE s.student_id = $1 ORDER BY s.created_at DESC"
    ))
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// Sign-ups waiting for this parent's decision, across their children, soonest expiry first.
pub async fn pending_for_parent(
    exec: impl PgExecutor<'_>,
    parent: AccountId,
) -> StoreResult<Vec<SignupListing>> {
    Ok(sqlx::query_as::<_, SignupListing>(&format!(
        "{LISTING} JOIN family_links l ON l.student_id = s.student_id AND l.parent_id = $1
         WHERE s.status = 'pending_parent' ORDER BY s.expires_at"
    ))
    .bind(parent.0)
    .fetch_all(exec)
    .await?)
}

/// One line of an event's roster, before health data is opened.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RosterRow {
    pub signup_id: SignupId,
    pub student_id: AccountId,
    #[sqlx(try_from = "String")]
    pub status: SignupStatus,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub grade: Option<i16>,
    pub health_enc: Option<String>,
    pub health_consent: bool,
}

/// The live sign-ups of an event: seat holders by sign-up time, then the waitlist in order.
pub async fn roster(exec: impl PgExecutor<'_>, event: EventId) -> StoreResult<Vec<RosterRow>> {
    Ok(sqlx::query_as::<_, RosterRow>(
        "SELECT s.id AS signup_id, s.student_id, s.status, p.given_name, p.surname, p.grade, p.health_enc,
                EXISTS (SELECT 1 FROM consents c WHERE c.student_id = s.student_id AND c.kind = 'health_data'
                        AND c.superseded_at IS NULL AND c.withdrawn_at IS NULL) AS health_consent
         FROM signups s LEFT JOIN student_profiles p ON p.account_id = s.student_id
         WHERE s.event_id = $1 AND s.status IN ('pending_parent', 'approved', 'waitlisted')
         ORDER BY (s.status = 'waitlisted'), s.queue_position",
    )
    .bind(event.0)
    .fetch_all(exec)
    .await?)
}

/// Counts by status, for tests and operators.
pub async fn count_by_status(
    exec: impl PgExecutor<'_>,
    event: EventId,
) -> StoreResult<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT status, count(*) FROM signups WHERE event_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(event.0)
    .fetch_all(exec)
    .await?)
}

/// Live sign-ups of each of an organization's events, counted by status.
pub async fn counts_for_organization(
    exec: impl PgExecutor<'_>,
    organization: crate::domain::ids::OrganizationId,
) -> StoreResult<Vec<(Uuid, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT s.event_id, s.status, count(*) FROM signups s JOIN events e ON e.id = s.event_id
         WHERE e.organization_id = $1 AND s.status IN ('pending_parent', 'approved', 'waitlisted')
         GROUP BY 1, 2",
    )
    .bind(organization.0)
    .fetch_all(exec)
    .await?)
}
