//! The outbox: domain events written in the same transaction as the change they announce.

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;

/// Appends one event; returns its id. Call it inside the transaction of the change.
pub async fn append(exec: impl PgExecutor<'_>, kind: &str, payload: Value) -> StoreResult<Uuid> {
    let event_id = Uuid::now_v7();
    sqlx::query("INSERT INTO outbox (event_id, kind, payload) VALUES ($1, $2, $3)")
        .bind(event_id)
        .bind(kind)
        .bind(payload)
        .execute(exec)
        .await?;
    Ok(event_id)
}

/// One stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: Uuid,
    pub kind: String,
    pub payload: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub relayed_at: Option<chrono::DateTime<chrono::Utc>>,
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
