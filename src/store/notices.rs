//! Free-text notices organizers send to an event's participants and their parents.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, EventId};

pub async fn insert(
    exec: impl PgExecutor<'_>,
    id: Uuid,
    event: EventId,
    by: AccountId,
    text: &str,
    outbox_event_id: Uuid,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO notices (id, event_id, created_by, text, outbox_event_id) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(event.0)
        .bind(by.0)
        .bind(text)
        .bind(outbox_event_id)
        .execute(exec)
        .await?;
    Ok(())
}

pub async fn text(exec: impl PgExecutor<'_>, id: Uuid) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT text FROM notices WHERE id = $1")
        .bind(id)
        .fetch_optional(exec)
        .await?)
}

/// The organization that sent a notice and the domain event announcing it.
pub async fn owner(exec: impl PgExecutor<'_>, id: Uuid) -> StoreResult<Option<(Uuid, Uuid)>> {
    Ok(sqlx::query_as(
        "SELECT e.organization_id, n.outbox_event_id FROM notices n JOIN events e ON e.id = n.event_id
         WHERE n.id = $1",
    )
    .bind(id)
    .fetch_optional(exec)
    .await?)
}
