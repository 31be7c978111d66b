//! Administration: the dead letters of the hub, and replaying them once the cause is fixed.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use super::ApiTag;
use super::notices::{FailedDeliveryView, failed_view};
use super::problem::Problem;
use super::security::{BearerAuth, Role};
use crate::notify::hub::Hub;
use crate::startup::AppState;
use crate::store;

pub struct AdminApi;

#[derive(ApiResponse)]
pub enum DeadLettersResponse {
    /// Newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<FailedDeliveryView>>),
}

#[derive(ApiResponse)]
pub enum ReplayResponse {
    /// Queued again with a fresh retry budget.
    #[oai(status = 202)]
    Accepted,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Admin")]
impl AdminApi {
    /// Deliveries dead-lettered after the retry limit or a permanent error.
    #[oai(
        path = "/admin/dead-letters",
        method = "get",
        operation_id = "list_dead_letters"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        limit: Query<Option<i64>>,
    ) -> Result<DeadLettersResponse, Problem> {
        auth.0.require(Role::Admin)?;
        let limit = limit.0.unwrap_or(100).clamp(1, 1000);
        let rows = store::deliveries::dead_letters(&state.db, limit).await?;
        Ok(DeadLettersResponse::Ok(Json(
            rows.into_iter().map(failed_view).collect(),
        )))
    }

    /// Replay a dead letter.
    #[oai(
        path = "/admin/dead-letters/:delivery_id/replay",
        method = "post",
        operation_id = "replay_dead_letter"
    )]
    async fn replay(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        delivery_id: Path<Uuid>,
    ) -> Result<ReplayResponse, Problem> {
        auth.0.require(Role::Admin)?;
        let channel = store::deliveries::replay(&state.db, delivery_id.0)
            .await?
            .ok_or_else(|| Problem::not_found("no such dead letter"))?;
        Hub::new(&state)
            .enqueue(vec![(delivery_id.0, channel)])
            .await;
        Ok(ReplayResponse::Accepted)
    }
}
