//! What recommendations read: upcoming published events a student could sign up for, and
//! the profession areas of events the student has attended.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, EventId};

/// An event that could be recommended.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: EventId,
    pub title: String,
    pub profession_area: String,
    pub format: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub accessibility: Vec<String>,
    pub seats_left: i32,
}

/// Published events in `areas` that start in the future, still take sign-ups, fit the
/// grade, are online or in the student's region, and that the student has not already
/// signed up for; soonest first.
pub async fn upcoming_events(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    grade: i16,
    region: &str,
    areas: &[String],
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    Ok(sqlx::query_as::<_, EventRow>(
        "SELECT e.id, e.title, e.profession_area, e.format, e.region, e.city, e.starts_at,
             e.ends_at, e.accessibility, e.capacity - e.seats_held AS seats_left
         FROM events e
         WHERE e.status = 'published' AND e.starts_at > now() AND e.signup_deadline > now()
           AND e.grade_min <= $2 AND e.grade_max >= $2
           AND (e.format = 'online' OR e.region = $3)
           AND e.profession_area = ANY($4)
           AND NOT EXISTS (
               SELECT 1 FROM signups s WHERE s.event_id = e.id AND s.student_id = $1
                 AND s.status IN ('pending_parent', 'approved', 'waitlisted'))
         ORDER BY e.starts_at, e.id
         LIMIT $5",
    )
    .bind(student.0)
    .bind(grade)
    .bind(region)
    .bind(areas)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// Records that the family was told of these recommended events; returns those it had
/// not been told of before (the ones this call recorded).
pub async fn mark_announced(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    events: &[EventId],
) -> StoreResult<Vec<EventId>> {
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.0).collect();
    Ok(sqlx::query_scalar::<_, EventId>(
        "INSERT INTO recommendation_announcements (student_id, event_id)
         SELECT $1, unnest($2::uuid[])
         ON CONFLICT DO NOTHING
         RETURNING event_id",
    )
    .bind(student)
    .bind(ids)
    .fetch_all(exec)
    .await?)
}
