//! Events as stored: drafts, publishing, the seats they hold, listing with a keyset
//! cursor, cancelling and rescheduling.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::events::{EventFormat, EventStatus, ProfessionArea};
use crate::domain::ids::{AccountId, EventId, OrganizationId};

/// An event as stored: typed ids, and the closed vocabularies as enums (a value the code
/// does not know fails to decode).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: EventId,
    pub organization_id: OrganizationId,
    pub organization_name: String,
    pub title: String,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub profession_area: ProfessionArea,
    #[sqlx(try_from = "String")]
    pub format: EventFormat,
    pub region: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub grade_min: i16,
    pub grade_max: i16,
    pub capacity: i32,
    pub seats_held: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub accessibility: Vec<String>,
    pub signup_deadline: DateTime<Utc>,
    pub approval_window_secs: i64,
    #[sqlx(try_from = "String")]
    pub status: EventStatus,
    pub published_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub what_to_bring: Option<String>,
    pub online_link: Option<String>,
    /// Raised by every update, reschedule and cancellation (the calendar's SEQUENCE).
    pub sequence: i32,
    pub updated_at: DateTime<Utc>,
}

/// Where a page ends: the last event's start and id.
pub type Position = (DateTime<Utc>, Uuid);

const SELECT: &str =
    "SELECT e.id, e.organization_id, o.name AS organization_name, e.title, e.description,
        e.profession_area, e.format, e.region, e.city, e.address, e.grade_min, e.grade_max,
        e.capacity, e.seats_held, e.starts_at, e.ends_at, e.time_zone, e.accessibility,
        e.signup_deadline, extract(epoch FROM e.approval_window)::bigint AS approval_window_secs,
        e.status, e.published_at, e.cancelled_at, e.cancel_reason, e.created_at,
        e.what_to_bring, e.online_link, e.sequence, e.updated_at
    FROM events e JOIN organizations o ON o.id = e.organization_id";

/// Everything an organizer sets on an event.
#[derive(Debug, Clone)]
pub struct EventFields {
    pub title: String,
    pub description: String,
    pub profession_area: String,
    pub format: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub grade_min: i16,
    pub grade_max: i16,
    pub capacity: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub accessibility: Vec<String>,
    pub signup_deadline: DateTime<Utc>,
    pub approval_window_secs: i64,
    pub what_to_bring: Option<String>,
    pub online_link: Option<String>,
}

pub async fn insert(
    exec: impl PgExecutor<'_>,
    id: EventId,
    organization: OrganizationId,
    created_by: AccountId,
    f: &EventFields,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO events (id, organization_id, created_by, title, description, profession_area,
             format, region, city, address, grade_min, grade_max, capacity, starts_at, ends_at,
             time_zone, accessibility, signup_deadline, approval_window, what_to_bring, online_link)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             $19 * interval '1 second', $20, $21)",
    )
    .bind(id.0)
    .bind(organization.0)
    .bind(created_by.0)
    .bind(&f.title)
    .bind(&f.description)
    .bind(&f.profession_area)
    .bind(&f.format)
    .bind(&f.region)
    .bind(&f.city)
    .bind(&f.address)
    .bind(f.grade_min)
    .bind(f.grade_max)
    .bind(f.capacity)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(&f.time_zone)
    .bind(&f.accessibility)
    .bind(f.signup_deadline)
    .bind(f.approval_window_secs as f64)
    .bind(&f.what_to_bring)
    .bind(&f.online_link)
    .execute(exec)
    .await?;
    Ok(())
}

/// Replaces every field of an event (drafts, and published events whose schedule, place
/// and grades do not change).
pub async fn update(exec: impl PgExecutor<'_>, id: EventId, f: &EventFields) -> StoreResult<()> {
    sqlx::query(
        "UPDATE events SET title = $2, description = $3, profession_area = $4, format = $5,
             region = $6, city = $7, address = $8, grade_min = $9, grade_max = $10, capacity = $11,
             starts_at = $12, ends_at = $13, time_zone = $14, accessibility = $15,
             signup_deadline = $16, approval_window = $17 * interval '1 second',
             what_to_bring = $18, online_link = $19, updated_at = now(),
             sequence = sequence + CASE WHEN status = 'draft' THEN 0 ELSE 1 END
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(&f.title)
    .bind(&f.description)
    .bind(&f.profession_area)
    .bind(&f.format)
    .bind(&f.region)
    .bind(&f.city)
    .bind(&f.address)
    .bind(f.grade_min)
    .bind(f.grade_max)
    .bind(f.capacity)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(&f.time_zone)
    .bind(&f.accessibility)
    .bind(f.signup_deadline)
    .bind(f.approval_window_secs as f64)
    .bind(&f.what_to_bring)
    .bind(&f.online_link)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn find(exec: impl PgExecutor<'_>, id: EventId) -> StoreResult<Option<EventRow>> {
    Ok(
        sqlx::query_as::<_, EventRow>(&format!("{SELECT} WHERE e.id = $1"))
            .bind(id.0)
            .fetch_optional(exec)
            .await?,
    )
}

/// The event, locked for the caller's transaction: seat changes on one event serialise here.
pub async fn lock(exec: impl PgExecutor<'_>, id: EventId) -> StoreResult<Option<EventRow>> {
    Ok(
        sqlx::query_as::<_, EventRow>(&format!("{SELECT} WHERE e.id = $1 FOR UPDATE OF e"))
            .bind(id.0)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn publish(exec: impl PgExecutor<'_>, id: EventId) -> StoreResult<()> {
    sqlx::query("UPDATE events SET status = 'published', published_at = now(), updated_at = now() WHERE id = $1")
        .bind(id.0)
        .execute(exec)
        .await?;
    Ok(())
}

/// Takes a seat if one is free; false when the event is full.
pub async fn take_seat(exec: impl PgExecutor<'_>, id: EventId) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE events SET seats_held = seats_held + 1 WHERE id = $1 AND seats_held < capacity",
    )
    .bind(id.0)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn release_seat(exec: impl PgExecutor<'_>, id: EventId) -> StoreResult<()> {
    sqlx::query("UPDATE events SET seats_held = seats_held - 1 WHERE id = $1 AND seats_held > 0")
        .bind(id.0)
        .execute(exec)
        .await?;
    Ok(())
}

pub async fn cancel(exec: impl PgExecutor<'_>, id: EventId, reason: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE events SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2,
             seats_held = 0, updated_at = now(), sequence = sequence + 1
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(reason)
    .execute(exec)
    .await?;
    Ok(())
}

/// New times and, optionally, a new place.
pub struct NewSchedule<'a> {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub signup_deadline: DateTime<Utc>,
    pub time_zone: &'a str,
    pub format: &'a str,
    pub region: Option<&'a str>,
    pub city: Option<&'a str>,
    pub address: Option<&'a str>,
}

pub async fn reschedule(
    exec: impl PgExecutor<'_>,
    id: EventId,
    s: &NewSchedule<'_>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE events SET starts_at = $2, ends_at = $3, signup_deadline = $4, time_zone = $5,
             format = $6, region = $7, city = $8, address = $9, updated_at = now(),
             sequence = sequence + 1
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(s.signup_deadline)
    .bind(s.time_zone)
    .bind(s.format)
    .bind(s.region)
    .bind(s.city)
    .bind(s.address)
    .execute(exec)
    .await?;
    Ok(())
}

/// What a student's listing is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub grade: i16,
    pub region: Option<String>,
    pub city: Option<String>,
    pub profession_area: Option<String>,
    pub format: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Features every listed event must offer.
    pub features: Vec<String>,
}

/// Published, upcoming events for a grade, by start then id, after the cursor.
pub async fn list_published(
    exec: impl PgExecutor<'_>,
    filter: &EventFilter,
    after: Option<Position>,
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    let (after_start, after_id) = after.unzip();
    Ok(sqlx::query_as::<_, EventRow>(&format!(
        "{SELECT}
         WHERE e.status = 'published' AND e.starts_at > now()
           AND e.grade_min <= $1 AND e.grade_max >= $1
           AND ($2::text IS NULL OR e.region = $2 OR e.format = 'online')
           AND ($3::text IS NULL OR lower(e.city) = lower($3) OR e.format = 'online')
           AND ($4::text IS NULL OR e.profession_area = $4)
           AND ($5::text IS NULL OR e.format = $5)
           AND ($6::timestamptz IS NULL OR e.starts_at >= $6)
           AND ($7::timestamptz IS NULL OR e.starts_at < $7)
           AND e.accessibility @> $8
           AND ($9::timestamptz IS NULL OR (e.starts_at, e.id) > ($9, $10))
         ORDER BY e.starts_at, e.id
         LIMIT $11"
    ))
    .bind(filter.grade)
    .bind(&filter.region)
    .bind(&filter.city)
    .bind(&filter.profession_area)
    .bind(&filter.format)
    .bind(filter.from)
    .bind(filter.to)
    .bind(&filter.features)
    .bind(after_start)
    .bind(after_id)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// An organization's events, every status, by start then id, after the cursor.
pub async fn list_for_organization(
    exec: impl PgExecutor<'_>,
    organization: OrganizationId,
    after: Option<Position>,
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    let (after_start, after_id) = after.unzip();
    Ok(sqlx::query_as::<_, EventRow>(&format!(
        "{SELECT}
         WHERE e.organization_id = $1
           AND ($2::timestamptz IS NULL OR (e.starts_at, e.id) > ($2, $3))
         ORDER BY e.starts_at, e.id
         LIMIT $4"
    ))
    .bind(organization.0)
    .bind(after_start)
    .bind(after_id)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

#[cfg(test)]
mod tests {
    use crate::domain::events::ProfessionArea;

    /// The values inside the last `profession_area IN (...)` check of the migrations.
    fn checked_profession_areas() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        let mut last = None;
        for file in files {
            let sql = std::fs::read_to_string(file).unwrap();
            for (at, _) in sql.match_indices("profession_area IN (") {
                let list = &sql[at + "profession_area IN (".len()..];
                let list = &list[..list.find(')').unwrap()];
                last = Some(
                    list.split(',')
                        .map(|value| value.trim().trim_matches('\'').to_owned())
                        .collect(),
                );
            }
        }
        last.expect("a migration checks events.profession_area")
    }

    #[test]
    fn the_database_checks_exactly_the_profession_areas_of_the_code() {
        let code: Vec<&str> = ProfessionArea::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(checked_profession_areas(), code);
    }
}
