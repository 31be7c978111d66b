//! This database's installation id, which owns a Redis key prefix.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;

pub async fn id(exec: impl PgExecutor<'_>) -> StoreResult<Uuid> {
    Ok(sqlx::query_scalar("SELECT id FROM installation")
        .fetch_one(exec)
        .await?)
}
