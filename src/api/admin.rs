//! Administration: the dead letters of the hub, and replaying them once the cause is fixed;
//! SNILS conflicts, and settling them.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::JsonBody;
use super::notices::{FailedDeliveryView, failed_view};
use super::security::{BearerAuth, ClientInfo, Role};
use crate::domain::domain_events::{AccountNotice, DomainEvent};
use crate::domain::ids::{AccountId, SnilsConflictId};
use crate::http::problem::{FieldError, Problem};
use crate::state::AppState;
use crate::store;
use crate::store::audit::{self, AuditAction};
use crate::store::snils_conflicts::ConflictRow;

/// Rows per listing when the operator does not say, and at most.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// The `limit` of a listing, or the 422 naming it.
fn page_limit(limit: Option<i64>) -> Result<i64, Problem> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Problem::validation(vec![FieldError::new(
            "limit",
            format!("must be from 1 to {MAX_LIMIT}"),
        )]))
    }
}

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

/// Someone tried to save a SNILS another profile holds. The SNILS itself is never shown.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SnilsConflictView {
    pub id: Uuid,
    /// Who tried to save the SNILS.
    pub claimant_account_id: Uuid,
    /// Whose profile holds it.
    pub holder_account_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
    /// How many times the claimant tried while the conflict was open.
    pub attempts: i32,
    /// `open` or `settled`.
    pub status: String,
    /// `keep_holder` or `reassign`, once settled.
    pub decision: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

pub fn conflict_view(row: ConflictRow) -> SnilsConflictView {
    SnilsConflictView {
        id: row.id.0,
        claimant_account_id: row.claimant_id.0,
        holder_account_id: row.holder_id.0,
        created_at: row.created_at,
        last_attempt_at: row.last_attempt_at,
        attempts: row.attempts,
        status: row.status,
        decision: row.decision,
        decided_at: row.decided_at,
    }
}

/// How an administrator settles a SNILS conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SnilsDecision {
    /// The holder keeps the SNILS; the claimant is refused it for good.
    KeepHolder,
    /// The SNILS is removed from the holder's profile (they are told by e-mail to enter
    /// theirs again) and the claimant may now save it.
    Reassign,
}

impl SnilsDecision {
    fn as_str(self) -> &'static str {
        match self {
            SnilsDecision::KeepHolder => "keep_holder",
            SnilsDecision::Reassign => "reassign",
        }
    }
}

/// Settling a SNILS conflict.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveSnilsConflictRequest {
    pub decision: SnilsDecision,
}

#[derive(ApiResponse)]
pub enum SnilsConflictsResponse {
    /// Open conflicts first, then the oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<SnilsConflictView>>),
}

#[derive(ApiResponse)]
pub enum ResolveSnilsConflictResponse {
    /// Settled.
    #[oai(status = 200)]
    Ok(Json<SnilsConflictView>),
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
        let limit = page_limit(limit.0)?;
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
        replay_dead_letter(&state, delivery_id.0).await?;
        Ok(ReplayResponse::Accepted)
    }

    /// SNILS conflicts: someone tried to save a SNILS another profile holds.
    #[oai(
        path = "/admin/snils-conflicts",
        method = "get",
        operation_id = "list_snils_conflicts"
    )]
    async fn list_snils_conflicts(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        limit: Query<Option<i64>>,
    ) -> Result<SnilsConflictsResponse, Problem> {
        auth.0.require(Role::Admin)?;
        let limit = page_limit(limit.0)?;
        let rows = store::snils_conflicts::list(&state.db, limit).await?;
        Ok(SnilsConflictsResponse::Ok(Json(
            rows.into_iter().map(conflict_view).collect(),
        )))
    }

    /// Settle a SNILS conflict. Recorded in the access audit of both people.
    #[oai(
        path = "/admin/snils-conflicts/:conflict_id/resolve",
        method = "post",
        operation_id = "resolve_snils_conflict"
    )]
    async fn resolve_snils_conflict(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
        conflict_id: Path<Uuid>,
        body: JsonBody<ResolveSnilsConflictRequest>,
    ) -> Result<ResolveSnilsConflictResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Admin)?;
        let settled = settle_snils_conflict(
            &state,
            caller.account,
            caller.actor(),
            SnilsConflictId(conflict_id.0),
            body.decision,
            client.request_id.as_deref(),
        )
        .await?;
        Ok(ResolveSnilsConflictResponse::Ok(Json(conflict_view(
            settled,
        ))))
    }
}

/// Puts a dead letter back in line with a fresh retry budget and queues it; shared by the
/// API and the console's admin page.
pub async fn replay_dead_letter(state: &AppState, delivery: Uuid) -> Result<(), Problem> {
    let delivery = crate::domain::ids::DeliveryId(delivery);
    let channel = store::deliveries::replay(&state.db, delivery)
        .await?
        .ok_or_else(|| Problem::not_found("no such dead letter"))?;
    state.hub().enqueue(vec![(delivery, channel)]).await;
    Ok(())
}

/// Settles an open SNILS conflict as the admin `by` decided, in one transaction: with
/// `reassign` the SNILS leaves the holder's profile (they are asked by e-mail to enter
/// theirs again), and both people's access audit records the decision. Shared by the API
/// and the console's admin page.
pub async fn settle_snils_conflict(
    state: &AppState,
    by: AccountId,
    actor: audit::Actor<'_>,
    id: SnilsConflictId,
    decision: SnilsDecision,
    request_id: Option<&str>,
) -> Result<ConflictRow, Problem> {
    let mut tx = state.db.begin().await?;
    let (conflict, digest) = store::snils_conflicts::lock(&mut *tx, id)
        .await?
        .ok_or_else(|| Problem::not_found("no such SNILS conflict"))?;
    if conflict.status != "open" {
        return Err(Problem::conflict(
            "conflict-settled",
            "Conflict already settled",
            "this SNILS conflict was settled before",
        ));
    }
    let (claimant, holder) = (
        AccountId(conflict.claimant_id.0),
        AccountId(conflict.holder_id.0),
    );
    // The holder may have changed their SNILS since; then there is nothing to remove.
    if decision == SnilsDecision::Reassign
        && store::profiles::snils_holder(&mut *tx, &digest).await? == Some(holder)
    {
        store::profiles::remove_snils(&mut tx, holder).await?;
        store::outbox::append(
            &mut *tx,
            &DomainEvent::SnilsReentryRequired(AccountNotice { account_id: holder }),
        )
        .await?;
        audit::record(
            &mut *tx,
            actor,
            holder,
            AuditAction::SnilsRemoved,
            request_id,
        )
        .await?;
    }
    let settled = store::snils_conflicts::settle(&mut *tx, id, decision.as_str(), by).await?;
    for person in [claimant, holder] {
        audit::record(
            &mut *tx,
            actor,
            person,
            AuditAction::SnilsConflictResolved,
            request_id,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(settled)
}
