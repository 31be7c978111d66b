//! What happened at an event, as stored: attendance (scanned or marked by hand), the check-in
//! codes already presented, the mentor's assessment and the student's feedback. Reminders,
//! recommendations and the calendar read them through [`attended`] and the finders here.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::error::StoreResult;
use crate::domain::attendance::{AssessmentLevel, AttendanceMethod, AttendanceStatus};
use crate::domain::events::ProfessionArea;
use crate::domain::ids::{AccountId, EventId, SignupId};

/// A sign-up's attendance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttendanceRow {
    pub signup_id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    #[sqlx(try_from = "String")]
    pub status: AttendanceStatus,
    #[sqlx(try_from = "String")]
    pub method: AttendanceMethod,
    pub marked_by: AccountId,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const ATTENDANCE: &str =
    "signup_id, event_id, student_id, status, method, marked_by, checked_in_at, updated_at";

/// What is recorded: the sign-up, its event and student, and how.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pub signup_id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    pub status: AttendanceStatus,
    pub method: AttendanceMethod,
    pub by: AccountId,
}

pub async fn find(
    exec: impl PgExecutor<'_>,
    signup: SignupId,
) -> StoreResult<Option<AttendanceRow>> {
    Ok(sqlx::query_as::<_, AttendanceRow>(&format!(
        "SELECT {ATTENDANCE} FROM attendance WHERE signup_id = $1"
    ))
    .bind(signup.0)
    .fetch_optional(exec)
    .await?)
}

/// Records attendance, replacing what was there; the first time present is kept.
pub async fn record(exec: impl PgExecutor<'_>, mark: Mark) -> StoreResult<AttendanceRow> {
    Ok(sqlx::query_as::<_, AttendanceRow>(&format!(
        "INSERT INTO attendance (signup_id, event_id, student_id, status, method, marked_by, checked_in_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 = 'present' THEN now() END)
         ON CONFLICT (signup_id) DO UPDATE SET status = EXCLUDED.status, method = EXCLUDED.method,
             marked_by = EXCLUDED.marked_by, updated_at = now(),
             checked_in_at = COALESCE(attendance.checked_in_at, EXCLUDED.checked_in_at)
         RETURNING {ATTENDANCE}"
    ))
    .bind(mark.signup_id.0)
    .bind(mark.event_id.0)
    .bind(mark.student_id.0)
    .bind(mark.status.as_str())
    .bind(mark.method.as_str())
    .bind(mark.by.0)
    .fetch_one(exec)
    .await?)
}

/// Where a check-in code was presented before, if it was: the event and the student.
pub async fn code_used_at(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
) -> StoreResult<Option<(EventId, AccountId)>> {
    Ok(sqlx::query_as::<_, (EventId, AccountId)>(
        "SELECT event_id, student_id FROM check_in_codes_used WHERE code_digest = $1",
    )
    .bind(digest)
    .fetch_optional(exec)
    .await?)
}

/// Remembers that a code was presented at an event (a second time changes nothing).
pub async fn remember_code(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
    event: EventId,
    student: AccountId,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO check_in_codes_used (code_digest, event_id, student_id) VALUES ($1, $2, $3)
         ON CONFLICT (code_digest) DO NOTHING",
    )
    .bind(digest)
    .bind(event.0)
    .bind(student.0)
    .execute(exec)
    .await?;
    Ok(())
}

/// Forgets codes presented more than a day ago: they expired long before.
pub async fn forget_old_codes(exec: impl PgExecutor<'_>) -> StoreResult<u64> {
    let done =
        sqlx::query("DELETE FROM check_in_codes_used WHERE used_at < now() - interval '1 day'")
            .execute(exec)
            .await?;
    Ok(done.rows_affected())
}

/// The mentor's assessment of a sign-up.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssessmentRow {
    pub signup_id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    #[sqlx(try_from = "String")]
    pub level: AssessmentLevel,
    pub comment: Option<String>,
    pub assessed_by: AccountId,
    pub updated_at: DateTime<Utc>,
}

const ASSESSMENT: &str = "signup_id, event_id, student_id, level, comment, assessed_by, updated_at";

pub async fn assessment(
    exec: impl PgExecutor<'_>,
    signup: SignupId,
) -> StoreResult<Option<AssessmentRow>> {
    Ok(sqlx::query_as::<_, AssessmentRow>(&format!(
        "SELECT {ASSESSMENT} FROM assessments WHERE signup_id = $1"
    ))
    .bind(signup.0)
    .fetch_optional(exec)
    .await?)
}

/// Records or replaces the assessment of a sign-up.
pub async fn put_assessment(
    exec: impl PgExecutor<'_>,
    signup: SignupId,
    event: EventId,
    student: AccountId,
    level: AssessmentLevel,
    comment: Option<&str>,
    by: AccountId,
) -> StoreResult<AssessmentRow> {
    Ok(sqlx::query_as::<_, AssessmentRow>(&format!(
        "INSERT INTO assessments (signup_id, event_id, student_id, level, comment, assessed_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (signup_id) DO UPDATE SET level = EXCLUDED.level, comment = EXCLUDED.comment,
             assessed_by = EXCLUDED.assessed_by, updated_at = now()
         RETURNING {ASSESSMENT}"
    ))
    .bind(signup.0)
    .bind(event.0)
    .bind(student.0)
    .bind(level.as_str())
    .bind(comment)
    .bind(by.0)
    .fetch_one(exec)
    .await?)
}

/// The student's feedback on a sign-up's event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedbackRow {
    pub signup_id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    pub rating: i16,
    pub wants_to_continue: bool,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

const FEEDBACK: &str =
    "signup_id, event_id, student_id, rating, wants_to_continue, comment, created_at";

pub async fn feedback(
    exec: impl PgExecutor<'_>,
    signup: SignupId,
) -> StoreResult<Option<FeedbackRow>> {
    Ok(sqlx::query_as::<_, FeedbackRow>(&format!(
        "SELECT {FEEDBACK} FROM feedback WHERE signup_id = $1"
    ))
    .bind(signup.0)
    .fetch_optional(exec)
    .await?)
}

/// The feedback as given; `Conflict("feedback_pkey")` when it was given already.
#[derive(Debug, Clone)]
pub struct NewFeedback<'a> {
    pub signup_id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    pub rating: i16,
    pub wants_to_continue: bool,
    pub comment: Option<&'a str>,
}

pub async fn insert_feedback(
    exec: impl PgExecutor<'_>,
    new: &NewFeedback<'_>,
) -> StoreResult<FeedbackRow> {
    Ok(sqlx::query_as::<_, FeedbackRow>(&format!(
        "INSERT INTO feedback (signup_id, event_id, student_id, rating, wants_to_continue, comment)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {FEEDBACK}"
    ))
    .bind(new.signup_id.0)
    .bind(new.event_id.0)
    .bind(new.student_id.0)
    .bind(new.rating)
    .bind(new.wants_to_continue)
    .bind(new.comment)
    .fetch_one(exec)
    .await?)
}

/// The feedback on an event, in aggregate: how many answered, the mean rating and how many
/// want to go further. Never one student's answer.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct FeedbackTotals {
    pub answers: i64,
    pub rating_sum: i64,
    pub wanting_to_continue: i64,
}

pub async fn feedback_totals(
    exec: impl PgExecutor<'_>,
    event: EventId,
) -> StoreResult<FeedbackTotals> {
    Ok(sqlx::query_as::<_, FeedbackTotals>(
        "SELECT count(*) AS answers, COALESCE(sum(rating), 0)::bigint AS rating_sum,
                count(*) FILTER (WHERE wants_to_continue) AS wanting_to_continue
         FROM feedback WHERE event_id = $1",
    )
    .bind(event.0)
    .fetch_one(exec)
    .await?)
}

/// One event a student attended, with what the mentor and the student made of it: the facts
/// recommendations rest on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttendedEvent {
    pub signup_id: SignupId,
    pub event_id: EventId,
    pub event_title: String,
    #[sqlx(try_from = "String")]
    pub profession_area: ProfessionArea,
    pub ends_at: DateTime<Utc>,
    pub checked_in_at: Option<DateTime<Utc>>,
    /// The mentor's level, once assessed.
    pub level: Option<String>,
    /// The student's rating (1–5), once given.
    pub rating: Option<i16>,
    /// Whether the student wants to go further, once they said.
    pub wants_to_continue: Option<bool>,
}

/// The events a student was marked present at, most recent first.
pub async fn attended(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<AttendedEvent>> {
    Ok(sqlx::query_as::<_, AttendedEvent>(
        "SELECT a.signup_id, a.event_id, e.title AS event_title, e.profession_area, e.ends_at,
                a.checked_in_at, s.level, f.rating, f.wants_to_continue
         FROM attendance a JOIN events e ON e.id = a.event_id
         LEFT JOIN assessments s ON s.signup_id = a.signup_id
         LEFT JOIN feedback f ON f.signup_id = a.signup_id
         WHERE a.student_id = $1 AND a.status = 'present'
         ORDER BY e.ends_at DESC",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}
