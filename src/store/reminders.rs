//! Reminders before events: which are due, and the row that makes each one raised once
//! per (event, offset, start time).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::EventId;

/// A reminder that is due and not raised yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueReminder {
    pub event_id: EventId,
    pub hours_before: i16,
    pub starts_at: DateTime<Utc>,
}

/// Published events with an approved sign-up whose reminder of `hours_before` is due at
/// `now` (the start is at most that far ahead, and not yet as close as `until_hours`, the
/// next reminder's offset) and not raised for the event's current start.
pub async fn due(
    exec: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    hours_before: i16,
    until_hours: i16,
    limit: i64,
) -> StoreResult<Vec<DueReminder>> {
    Ok(sqlx::query_as::<_, DueReminder>(
        "SELECT e.id AS event_id, $2::smallint AS hours_before, e.starts_at
         FROM events e
         WHERE e.status = 'published'
           AND e.starts_at > $1 + make_interval(hours => $3::int)
           AND e.starts_at <= $1 + make_interval(hours => $2::int)
           AND EXISTS (SELECT 1 FROM signups s WHERE s.event_id = e.id AND s.status = 'approved')
           AND NOT EXISTS (SELECT 1 FROM event_reminders r
                           WHERE r.event_id = e.id AND r.hours_before = $2
                             AND r.starts_at = e.starts_at)
         ORDER BY e.starts_at, e.id
         LIMIT $4",
    )
    .bind(now)
    .bind(hours_before)
    .bind(until_hours)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// Records the reminder as raised under the outbox event `outbox_event_id`; false when
/// it was raised already (by another worker, or before a crash), so nothing more is done.
pub async fn record(
    exec: impl PgExecutor<'_>,
    reminder: &DueReminder,
    outbox_event_id: Uuid,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO event_reminders (event_id, hours_before, starts_at, outbox_event_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT (event_id, hours_before, starts_at) DO NOTHING",
    )
    .bind(reminder.event_id.0)
    .bind(reminder.hours_before)
    .bind(reminder.starts_at)
    .bind(outbox_event_id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}
