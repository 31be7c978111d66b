//! The outbox: domain events written in the same transaction as the change they announce.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::domain_events::DomainEvent;
use crate::domain::ids::{DomainEventId, EventId, OrganizationId};

/// Appends one event; returns its id. Call it inside the transaction of the change.
pub async fn append(exec: impl PgExecutor<'_>, event: &DomainEvent) -> StoreResult<Uuid> {
    append_with_id(exec, Uuid::now_v7(), event).await
}

/// Appends one event under an id chosen by the caller (who records it elsewhere too).
pub async fn append_with_id(
    exec: impl PgExecutor<'_>,
    event_id: Uuid,
    event: &DomainEvent,
) -> StoreResult<Uuid> {
    let (kind, payload) = event.to_stored();
    sqlx::query("INSERT INTO outbox (event_id, kind, payload) VALUES ($1, $2, $3)")
        .bind(event_id)
        .bind(kind.as_str())
        .bind(payload)
        .execute(exec)
        .await?;
    Ok(event_id)
}

/// One stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: DomainEventId,
    pub kind: String,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    pub relayed_at: Option<DateTime<Utc>>,
}

/// Events in order, for inspection and tests.
pub async fn list(exec: impl PgExecutor<'_>, kind: Option<&str>) -> StoreResult<Vec<OutboxRow>> {
    Ok(sqlx::query_as::<_, OutboxRow>(
        "SELECT id, event_id, kind, payload, created_at, relayed_at FROM outbox
         WHERE $1::text IS NULL OR kind = $1 ORDER BY id",
    )
    .bind(kind)
    .fetch_all(exec)
    .await?)
}

/// Claims up to `limit` events not yet relayed, skipping rows another relay holds.
pub async fn claim_unrelayed(
    exec: impl PgExecutor<'_>,
    limit: i64,
) -> StoreResult<Vec<(i64, Uuid)>> {
    Ok(sqlx::query_as(
        "SELECT id, event_id FROM outbox WHERE relayed_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

pub async fn mark_relayed(exec: impl PgExecutor<'_>, ids: &[i64]) -> StoreResult<()> {
    sqlx::query("UPDATE outbox SET relayed_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(exec)
        .await?;
    Ok(())
}

/// An event locked for fan-out.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedEvent {
    pub event_id: DomainEventId,
    pub kind: String,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    pub fanned_out_at: Option<DateTime<Utc>>,
}

/// Locks an event for fan-out, so two workers given the same event fan it out once.
pub async fn lock_for_fanout(
    exec: impl PgExecutor<'_>,
    event_id: Uuid,
) -> StoreResult<Option<LockedEvent>> {
    Ok(sqlx::query_as::<_, LockedEvent>(
        "SELECT event_id, kind, payload, created_at, fanned_out_at FROM outbox WHERE event_id = $1 FOR UPDATE",
    )
    .bind(event_id)
    .fetch_optional(exec)
    .await?)
}

/// The sealed code (`code_enc`) of the domain event behind a notification, for the e-mail
/// sender (see `notify::codes`).
pub async fn sealed_code_of_notification(
    exec: impl PgExecutor<'_>,
    notification: Uuid,
) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT o.payload->>'code_enc' FROM notifications n JOIN outbox o ON o.event_id = n.event_id
         WHERE n.id = $1",
    )
    .bind(notification)
    .fetch_optional(exec)
    .await?
    .flatten())
}

/// Domain events written since `since` that the relay has not moved to Redis yet.
pub async fn unrelayed_since(exec: impl PgExecutor<'_>, since: DateTime<Utc>) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE relayed_at IS NULL AND created_at >= $1",
    )
    .bind(since)
    .fetch_one(exec)
    .await?)
}

/// The database's clock, against which the outbox's `created_at` is written.
pub async fn now(exec: impl PgExecutor<'_>) -> StoreResult<DateTime<Utc>> {
    Ok(sqlx::query_scalar("SELECT now()").fetch_one(exec).await?)
}

/// A domain event announcing a change to a practical event (a cancellation, a move, an
/// organizer's notice), as the console lists them with their delivery reports.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Announcement {
    /// The outbox event id; its notifications carry it as `event_id`.
    pub id: DomainEventId,
    pub kind: String,
    /// The practical event it is about.
    pub event_id: EventId,
    pub event_title: String,
    pub organization_id: OrganizationId,
    pub created_at: DateTime<Utc>,
    pub fanned_out_at: Option<DateTime<Utc>>,
}

const ANNOUNCEMENT: &str =
    "SELECT o.event_id AS id, o.kind, e.id AS event_id, e.title AS event_title,
        e.organization_id, o.created_at, o.fanned_out_at
    FROM outbox o JOIN events e ON e.id = (o.payload->>'event_id')::uuid
    WHERE o.kind IN ('event_cancelled', 'event_rescheduled', 'organizer_notice')";

/// One announcement by its outbox event id.
pub async fn announcement(
    exec: impl PgExecutor<'_>,
    id: Uuid,
) -> StoreResult<Option<Announcement>> {
    Ok(
        sqlx::query_as::<_, Announcement>(&format!("{ANNOUNCEMENT} AND o.event_id = $1"))
            .bind(id)
            .fetch_optional(exec)
            .await?,
    )
}

/// An organization's announcements, newest first; with `event`, only that event's.
pub async fn announcements(
    exec: impl PgExecutor<'_>,
    organization: Uuid,
    event: Option<Uuid>,
    limit: i64,
) -> StoreResult<Vec<Announcement>> {
    Ok(sqlx::query_as::<_, Announcement>(&format!(
        "{ANNOUNCEMENT} AND e.organization_id = $1 AND ($2::uuid IS NULL OR e.id = $2)
         ORDER BY o.id DESC LIMIT $3"
    ))
    .bind(organization)
    .bind(event)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}
