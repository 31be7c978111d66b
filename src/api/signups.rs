//! Sign-ups: a student signs up (holding a seat or joining the waitlist), a linked parent
//! approves or declines from a notification, either withdraws. Sign-up and decision
//! accept an `Idempotency-Key`, so a retry on a bad connection never acts twice.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::{JsonBody, OptionalJsonBody};
use super::events::participation_problem;
use super::fields::Fields;
use super::security::{BearerAuth, Role};
use crate::domain::ids::{AccountId, EventId, SignupId};
use crate::domain::names::ShortText;
use crate::http::problem::Problem;
use crate::participation::{self, Actor, Decision};
use crate::state::AppState;
use crate::store::{self, signups::SignupListing};

pub struct SignupsApi;

/// The longest decision comment, in characters; the API document states the same.
pub const COMMENT_CHARS: usize = 500;

/// A sign-up as the family sees it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SignupView {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_title: String,
    pub event_starts_at: DateTime<Utc>,
    pub event_ends_at: DateTime<Utc>,
    /// `published` or `cancelled`.
    pub event_status: String,
    pub student_account_id: Uuid,
    pub student_given_name: Option<String>,
    /// `pending_parent` (a seat is held until `expires_at`), `approved`, `declined`,
    /// `expired`, `withdrawn`, `waitlisted` or `cancelled` (the event was).
    pub status: String,
    /// For `waitlisted`: 1 is next in line.
    pub waitlist_position: Option<i64>,
    /// For `pending_parent`: when the request lapses without a decision.
    pub expires_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by_account_id: Option<Uuid>,
    /// Why it ended, e.g. `withdrawn`, `no_decision`, `consent_withdrawn`, `event_cancelled`.
    pub end_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A parent's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Approve,
    Decline,
}

/// Signing up takes nothing but the event: send `{}`, or no body at all.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {}

/// A parent signs their child up for an event.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildSignUpRequest {
    pub event_id: Uuid,
}

#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: DecisionKind,
    /// Up to 500 characters, shown to the child.
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreatedSignupResponse {
    /// Signed up: `pending_parent` with a seat held (`approved` when a parent signed the
    /// child up), or `waitlisted` when full.
    #[oai(status = 201)]
    Created(Json<SignupView>),
}

#[derive(ApiResponse)]
pub enum SignupResponse {
    #[oai(status = 200)]
    Ok(Json<SignupView>),
}

#[derive(ApiResponse)]
pub enum SignupsResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<SignupView>>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Signups")]
impl SignupsApi {
    /// The calling student signs up. Needs a linked parent with current personal-data
    /// consent, the grade in range, the deadline not passed, no sign-up already, and no
    /// overlapping event held. A retry with the same `Idempotency-Key` and body returns
    /// the first answer; the same key with another body is 422; a retry while the first
    /// is still running is 409.
    #[oai(
        path = "/events/:event_id/signups",
        method = "post",
        operation_id = "sign_up"
    )]
    async fn sign_up(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] _idempotency_key: Header<Option<String>>,
        _body: OptionalJsonBody<SignUpRequest>,
    ) -> Result<CreatedSignupResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let mut tx = state.db.begin().await?;
        let signup = participation::sign_up(&mut tx, EventId(event_id.0), caller.account)
            .await
            .map_err(participation_problem)?;
        tx.commit().await?;
        Ok(CreatedSignupResponse::Created(Json(
            view(&state, signup.id).await?,
        )))
    }

    /// A linked parent signs their child up. The parent is the one who decides, so the
    /// sign-up is `approved` at once and the child is told by push (`signup_approved`); when
    /// the event is full the child joins the waitlist (`waitlisted`) and is approved the
    /// moment a seat is theirs. Every other rule is the student's own sign-up's: the
    /// child's grade, a parent's current personal-data consent, the deadline, no sign-up
    /// already, no overlapping event. A parent not linked to the child gets 404 and nothing
    /// changes. Accepts an `Idempotency-Key` like `sign_up`.
    #[oai(
        path = "/children/:child_id/signups",
        method = "post",
        operation_id = "sign_up_child"
    )]
    async fn sign_up_child(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        child_id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] _idempotency_key: Header<Option<String>>,
        body: JsonBody<ChildSignUpRequest>,
    ) -> Result<CreatedSignupResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Parent)?;
        let mut tx = state.db.begin().await?;
        let signup = participation::sign_up_for_child(
            &mut tx,
            EventId(body.event_id),
            AccountId(child_id.0),
            caller.account,
        )
        .await
        .map_err(participation_problem)?;
        tx.commit().await?;
        Ok(CreatedSignupResponse::Created(Json(
            view(&state, signup.id).await?,
        )))
    }

    /// A linked parent approves or declines. The first decision wins; the same decision
    /// again returns the same answer; a different one afterwards is 409. Accepts an
    /// `Idempotency-Key` like sign-up.
    #[oai(
        path = "/signups/:signup_id/decision",
        method = "post",
        operation_id = "decide_signup"
    )]
    async fn decide(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        signup_id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] _idempotency_key: Header<Option<String>>,
        body: JsonBody<DecisionRequest>,
    ) -> Result<SignupResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Parent)?;
        let mut fields = Fields::new();
        let comment = match body
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => Some(None),
            Some(text) => fields
                .check("comment", ShortText::parse(text, COMMENT_CHARS))
                .map(|t| Some(t.as_str().to_owned())),
        };
        fields.finish()?;
        let decision = match body.decision {
            DecisionKind::Approve => Decision::Approve,
            DecisionKind::Decline => Decision::Decline,
        };
        let mut tx = state.db.begin().await?;
        let signup = participation::decide(
            &mut tx,
            SignupId(signup_id.0),
            caller.account,
            decision,
            comment.flatten().as_deref(),
        )
        .await
        .map_err(participation_problem)?;
        tx.commit().await?;
        Ok(SignupResponse::Ok(Json(view(&state, signup.id).await?)))
    }

    /// The student, or a linked parent, withdraws; a held seat goes to the first student
    /// on the waitlist. Withdrawing twice answers the same.
    #[oai(
        path = "/signups/:signup_id/withdraw",
        method = "post",
        operation_id = "withdraw_signup"
    )]
    async fn withdraw(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        signup_id: Path<Uuid>,
    ) -> Result<SignupResponse, Problem> {
        let caller = auth.0;
        let actor = match caller.role {
            Role::Student => Actor::Student(caller.account),
            Role::Parent => Actor::Parent(caller.account),
            _ => {
                return Err(Problem::forbidden(
                    "only the student or a linked parent may withdraw",
                ));
            }
        };
        let mut tx = state.db.begin().await?;
        let signup = participation::withdraw(&mut tx, SignupId(signup_id.0), actor)
            .await
            .map_err(participation_problem)?;
        tx.commit().await?;
        Ok(SignupResponse::Ok(Json(view(&state, signup.id).await?)))
    }

    /// One sign-up, for the student and their linked parents.
    #[oai(
        path = "/signups/:signup_id",
        method = "get",
        operation_id = "get_signup"
    )]
    async fn get_signup(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        signup_id: Path<Uuid>,
    ) -> Result<SignupResponse, Problem> {
        let caller = auth.0;
        let listing = store::signups::listing(&state.db, SignupId(signup_id.0))
            .await?
            .ok_or_else(|| Problem::not_found("no such sign-up"))?;
        let student = listing.student_id;
        let allowed = match caller.role {
            Role::Student => caller.account == student,
            Role::Parent => store::families::is_linked(&state.db, caller.account, student).await?,
            _ => false,
        };
        if !allowed {
            return Err(Problem::not_found("no such sign-up"));
        }
        Ok(SignupResponse::Ok(Json(to_view(listing))))
    }

    /// The calling student's sign-ups, newest first.
    #[oai(path = "/me/signups", method = "get", operation_id = "list_my_signups")]
    async fn list_mine(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<SignupsResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let rows = store::signups::for_student(&state.db, caller.account).await?;
        Ok(SignupsResponse::Ok(Json(
            rows.into_iter().map(to_view).collect(),
        )))
    }

    /// Sign-ups waiting for the calling parent's decision, across their children, the
    /// soonest to lapse first.
    #[oai(
        path = "/me/approvals",
        method = "get",
        operation_id = "list_my_approvals"
    )]
    async fn list_approvals(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<SignupsResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Parent)?;
        let rows = store::signups::pending_for_parent(&state.db, caller.account).await?;
        Ok(SignupsResponse::Ok(Json(
            rows.into_iter().map(to_view).collect(),
        )))
    }
}

async fn view(state: &AppState, id: SignupId) -> Result<SignupView, Problem> {
    store::signups::listing(&state.db, id)
        .await?
        .map(to_view)
        .ok_or_else(Problem::internal)
}

fn to_view(row: SignupListing) -> SignupView {
    SignupView {
        id: row.id.0,
        event_id: row.event_id.0,
        event_title: row.event_title,
        event_starts_at: row.event_starts_at,
        event_ends_at: row.event_ends_at,
        event_status: row.event_status.as_str().to_owned(),
        student_account_id: row.student_id.0,
        student_given_name: row.student_given_name,
        status: row.status.as_str().to_owned(),
        waitlist_position: row.waitlist_ahead.map(|ahead| ahead + 1),
        expires_at: row.expires_at,
        decided_at: row.decided_at,
        decided_by_account_id: row.decided_by,
        end_reason: row.end_reason,
        created_at: row.created_at,
    }
}
