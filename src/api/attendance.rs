//! After the sign-up: the student's check-in code, the organizer's scan at the door and
//! attendance by hand, the mentor's assessment, the student's feedback, what the family
//! sees of them, and the organization's feedback in aggregate only.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::JsonBody;
use super::fields::Fields;
use super::security::{BearerAuth, Caller, Role};
use crate::domain::attendance::{
    self as rules, AssessmentLevel, AttendanceStatus, MIN_FEEDBACK_GROUP,
};
use crate::domain::ids::{AccountId, EventId, OrganizationId, SignupId};
use crate::domain::names::ShortText;
use crate::http::problem::Problem;
use crate::participation::attendance::{self as steps, AttendanceError, Opinion};
use crate::security::check_in;
use crate::state::AppState;
use crate::store::{
    self, attendance::AssessmentRow, attendance::AttendanceRow, attendance::FeedbackRow,
};

pub struct AttendanceApi;

/// A check-in code to show as a QR at the door.
#[derive(Debug, Object)]
pub struct CheckInCode {
    /// base64url, under 80 characters: encode it as a QR as it is.
    pub code: String,
    /// Ask for a new code before this moment; the app refreshes it while the screen is open.
    pub expires_at: DateTime<Utc>,
    /// How long a code is valid, in seconds (60).
    pub valid_seconds: i64,
}

/// A scanned code, as the organizer's device read it from the student's screen.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    pub code: String,
}

/// Present or absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AttendanceMark {
    Present,
    Absent,
}

/// Attendance marked by hand (a phone that died, a student without the app).
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceRequest {
    pub status: AttendanceMark,
}

/// Whether a student came to an event.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttendanceView {
    pub signup_id: Uuid,
    pub event_id: Uuid,
    /// `present` or `absent`.
    pub status: String,
    /// `scan` (the check-in code) or `manual`.
    pub method: String,
    /// When the student was first marked present.
    pub checked_in_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// The level a mentor saw a student reach: `beginner` (tried it with help at every step),
/// `confident` (did the task with little help), `advanced` (did it alone and went further).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Beginner,
    Confident,
    Advanced,
}

impl Level {
    fn domain(self) -> AssessmentLevel {
        match self {
            Level::Beginner => AssessmentLevel::Beginner,
            Level::Confident => AssessmentLevel::Confident,
            Level::Advanced => AssessmentLevel::Advanced,
        }
    }
}

/// The mentor's assessment.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentRequest {
    pub level: Level,
    /// Up to 500 characters, for the family.
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AssessmentView {
    pub signup_id: Uuid,
    pub event_id: Uuid,
    /// `beginner`, `confident` or `advanced`.
    pub level: String,
    pub comment: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The student's feedback on an event they attended.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// 1 (did not like it) to 5 (loved it).
    pub rating: i64,
    /// Would the student like to try this profession further?
    pub wants_to_continue: bool,
    /// Up to 500 characters; seen by the family only, never by the organization.
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FeedbackView {
    pub signup_id: Uuid,
    pub event_id: Uuid,
    pub rating: i16,
    pub wants_to_continue: bool,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What happened at the event of a sign-up, for the family: each part absent until it exists.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SignupOutcome {
    pub signup_id: Uuid,
    pub attendance: Option<AttendanceView>,
    pub assessment: Option<AssessmentView>,
    pub feedback: Option<FeedbackView>,
}

/// The feedback on an event in aggregate, for its organization. Below `min_answers`
/// answers only the count is given: one or two answers could be read off an average.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FeedbackSummary {
    pub event_id: Uuid,
    pub answers: i64,
    /// The fewest answers for which the aggregates are shown (3).
    pub min_answers: i64,
    /// Mean rating, 1–5, rounded to one decimal.
    pub average_rating: Option<f64>,
    /// Share of answers wanting to try the profession further, 0–1, rounded to two decimals.
    pub wants_to_continue_share: Option<f64>,
}

#[derive(ApiResponse)]
pub enum CheckInCodeResponse {
    #[oai(status = 200)]
    Ok(Json<CheckInCode>),
}

#[derive(ApiResponse)]
pub enum AttendanceResponse {
    /// The student's attendance; scanning the same student again answers the same.
    #[oai(status = 200)]
    Ok(Json<AttendanceView>),
}

#[derive(ApiResponse)]
pub enum AssessmentResponse {
    #[oai(status = 200)]
    Ok(Json<AssessmentView>),
}

#[derive(ApiResponse)]
pub enum FeedbackResponse {
    /// Recorded; feedback is given once.
    #[oai(status = 201)]
    Created(Json<FeedbackView>),
}

#[derive(ApiResponse)]
pub enum OutcomeResponse {
    #[oai(status = 200)]
    Ok(Json<SignupOutcome>),
}

#[derive(ApiResponse)]
pub enum FeedbackSummaryResponse {
    #[oai(status = 200)]
    Ok(Json<FeedbackSummary>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Attendance")]
impl AttendanceApi {
    /// The calling student's check-in code: signed, bound to the student, valid for 60
    /// seconds. The app shows it as a QR at the door and asks for a new one before
    /// `expires_at`, so a screenshot sent to a friend soon stops working.
    #[oai(
        path = "/me/check-in-code",
        method = "get",
        operation_id = "get_check_in_code"
    )]
    async fn get_check_in_code(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<CheckInCodeResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let issued = check_in::issue(&state.index, caller.account, Utc::now());
        Ok(CheckInCodeResponse::Ok(Json(CheckInCode {
            code: issued.code,
            expires_at: issued.expires_at,
            valid_seconds: check_in::VALID_FOR.num_seconds(),
        })))
    }

    /// The organizer's device submits a scanned check-in code, from an hour before the
    /// start to the end of their organization's event. The student must hold an approved
    /// sign-up. Scanning the same student again answers the same attendance; the parents are
    /// told once that their child arrived (`child_checked_in`). A forged code is 422
    /// `check-in-code-invalid`, an expired one 422 `check-in-code-expired`, one already
    /// used at another event 409 `check-in-code-used`.
    #[oai(
        path = "/events/:event_id/check-ins",
        method = "post",
        operation_id = "check_in"
    )]
    async fn check_in(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
        body: JsonBody<CheckInRequest>,
    ) -> Result<AttendanceResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let mut tx = state.db.begin().await?;
        let row = steps::check_in(
            &mut tx,
            &state.index,
            EventId(event_id.0),
            organization,
            auth.0.account,
            &body.code,
            Utc::now(),
        )
        .await
        .map_err(attendance_problem)?;
        tx.commit().await?;
        Ok(AttendanceResponse::Ok(Json(attendance_view(row))))
    }

    /// The organizer marks a student of their event present or absent by hand, from an hour
    /// before the start to 7 days after the end. Marking present the first time tells the
    /// parents, as a scan does.
    #[oai(
        path = "/events/:event_id/attendance/:signup_id",
        method = "put",
        operation_id = "put_attendance"
    )]
    async fn put_attendance(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
        signup_id: Path<Uuid>,
        body: JsonBody<AttendanceRequest>,
    ) -> Result<AttendanceResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let status = match body.status {
            AttendanceMark::Present => AttendanceStatus::Present,
            AttendanceMark::Absent => AttendanceStatus::Absent,
        };
        let mut tx = state.db.begin().await?;
        let row = steps::mark(
            &mut tx,
            EventId(event_id.0),
            organization,
            auth.0.account,
            SignupId(signup_id.0),
            status,
            Utc::now(),
        )
        .await
        .map_err(attendance_problem)?;
        tx.commit().await?;
        Ok(AttendanceResponse::Ok(Json(attendance_view(row))))
    }

    /// The mentor (an organizer of the event's organization) records the level the student
    /// reached and a short comment, within 7 days after the event ended, for a student who
    /// attended. Another call replaces it.
    #[oai(
        path = "/signups/:signup_id/assessment",
        method = "put",
        operation_id = "put_assessment"
    )]
    async fn put_assessment(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        signup_id: Path<Uuid>,
        body: JsonBody<AssessmentRequest>,
    ) -> Result<AssessmentResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let mut fields = Fields::new();
        let comment = optional_comment(&mut fields, body.comment.as_deref());
        fields.finish()?;
        let mut tx = state.db.begin().await?;
        let row = steps::assess(
            &mut tx,
            SignupId(signup_id.0),
            organization,
            auth.0.account,
            body.level.domain(),
            comment.as_deref(),
            Utc::now(),
        )
        .await
        .map_err(attendance_problem)?;
        tx.commit().await?;
        announce_recommendations(&state, row.student_id, row.event_id).await;
        Ok(AssessmentResponse::Ok(Json(assessment_view(row))))
    }

    /// The student of the sign-up rates the event they attended, once it has ended: 1–5,
    /// and whether they would like to go further. Given once; a second time is 409
    /// `feedback-given`. Nobody else may give it (a parent or an organizer is 403, another
    /// student 404).
    #[oai(
        path = "/signups/:signup_id/feedback",
        method = "post",
        operation_id = "give_feedback"
    )]
    async fn give_feedback(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        signup_id: Path<Uuid>,
        body: JsonBody<FeedbackRequest>,
    ) -> Result<FeedbackResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let mut fields = Fields::new();
        if !rules::RATING.contains(&body.rating) {
            fields.reject("rating", "must be from 1 to 5");
        }
        let comment = optional_comment(&mut fields, body.comment.as_deref());
        fields.finish()?;
        let opinion = Opinion {
            rating: body.rating as i16,
            wants_to_continue: body.wants_to_continue,
            comment: comment.as_deref(),
        };
        let mut tx = state.db.begin().await?;
        let row = steps::give_feedback(
            &mut tx,
            SignupId(signup_id.0),
            caller.account,
            opinion,
            Utc::now(),
        )
        .await
        .map_err(attendance_problem)?;
        tx.commit().await?;
        announce_recommendations(&state, row.student_id, row.event_id).await;
        Ok(FeedbackResponse::Created(Json(feedback_view(row))))
    }

    /// What happened at the event of a sign-up: attendance, the mentor's assessment and the
    /// student's feedback, for the student and their linked parents only.
    #[oai(
        path = "/signups/:signup_id/outcome",
        method = "get",
        operation_id = "get_signup_outcome"
    )]
    async fn get_outcome(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        signup_id: Path<Uuid>,
    ) -> Result<OutcomeResponse, Problem> {
        let caller = auth.0;
        let id = SignupId(signup_id.0);
        let signup = store::signups::find(&state.db, id)
            .await?
            .ok_or_else(|| Problem::not_found("no such sign-up"))?;
        let allowed = match caller.role {
            Role::Student => caller.account == signup.student_id,
            Role::Parent => {
                store::families::is_linked(&state.db, caller.account, signup.student_id).await?
            }
            _ => false,
        };
        if !allowed {
            return Err(Problem::not_found("no such sign-up"));
        }
        Ok(OutcomeResponse::Ok(Json(outcome_of(&state.db, id).await?)))
    }

    /// The feedback on the organizer's event in aggregate: how many answered and, from 3
    /// answers on, the mean rating and the share wanting to go further. Never one student's
    /// answer, and no comments.
    #[oai(
        path = "/events/:event_id/feedback-summary",
        method = "get",
        operation_id = "get_feedback_summary"
    )]
    async fn get_feedback_summary(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
    ) -> Result<FeedbackSummaryResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let event = super::events::find_own(&state, organization, EventId(event_id.0)).await?;
        let totals = store::attendance::feedback_totals(&state.db, event.id).await?;
        let enough = totals.answers >= MIN_FEEDBACK_GROUP;
        let answers = totals.answers as f64;
        Ok(FeedbackSummaryResponse::Ok(Json(FeedbackSummary {
            event_id: event.id.0,
            answers: totals.answers,
            min_answers: MIN_FEEDBACK_GROUP,
            average_rating: enough
                .then(|| (totals.rating_sum as f64 / answers * 10.0).round() / 10.0),
            wants_to_continue_share: enough
                .then(|| (totals.wanting_to_continue as f64 / answers * 100.0).round() / 100.0),
        })))
    }
}

/// What happened at the event of a sign-up, as far as it is recorded (for the family's view
/// and their export).
pub async fn outcome_of(db: &store::Db, id: SignupId) -> Result<SignupOutcome, Problem> {
    Ok(SignupOutcome {
        signup_id: id.0,
        attendance: store::attendance::find(db, id).await?.map(attendance_view),
        assessment: store::attendance::assessment(db, id)
            .await?
            .map(assessment_view),
        feedback: store::attendance::feedback(db, id)
            .await?
            .map(feedback_view),
    })
}

/// The caller's organization; only organizers record attendance and assessments.
fn organizer_of(caller: &Caller) -> Result<OrganizationId, Problem> {
    caller.require(Role::Organizer)?;
    caller.organization.ok_or_else(Problem::internal)
}

/// A comment, trimmed; empty is none; too long is a field error.
fn optional_comment(fields: &mut Fields, comment: Option<&str>) -> Option<String> {
    let text = comment.map(str::trim).filter(|c| !c.is_empty())?;
    fields
        .check("comment", ShortText::parse(text, rules::COMMENT_CHARS))
        .map(|t| t.as_str().to_owned())
}

/// Refusals as problems, each with its own type.
pub fn attendance_problem(err: AttendanceError) -> Problem {
    use AttendanceError as E;
    let detail = err.to_string();
    match err {
        E::EventNotFound => Problem::not_found("no such event"),
        E::SignupNotFound => Problem::not_found("no such sign-up"),
        E::CodeForged => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "check-in-code-invalid",
            "Check-in code invalid",
            detail,
        ),
        E::CodeExpired => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "check-in-code-expired",
            "Check-in code expired",
            detail,
        ),
        E::CodeUsed => Problem::conflict("check-in-code-used", "Check-in code used", detail),
        E::NotApproved => Problem::conflict("not-approved", "Not approved for this event", detail),
        E::CheckInClosed => Problem::conflict("check-in-closed", "Check-in closed", detail),
        E::AttendanceClosed => Problem::conflict("attendance-closed", "Attendance closed", detail),
        E::NotAttended => Problem::conflict("not-attended", "Not attended", detail),
        E::AssessmentClosed => Problem::conflict("assessment-closed", "Assessment closed", detail),
        E::EventNotOver => Problem::conflict("event-not-over", "Event not over", detail),
        E::FeedbackGiven => Problem::conflict("feedback-given", "Feedback given", detail),
        E::Store(err) => err.into(),
    }
}

fn attendance_view(row: AttendanceRow) -> AttendanceView {
    AttendanceView {
        signup_id: row.signup_id.0,
        event_id: row.event_id.0,
        status: row.status.as_str().to_owned(),
        method: row.method.as_str().to_owned(),
        checked_in_at: row.checked_in_at,
        updated_at: row.updated_at,
    }
}

fn assessment_view(row: AssessmentRow) -> AssessmentView {
    AssessmentView {
        signup_id: row.signup_id.0,
        event_id: row.event_id.0,
        level: row.level.as_str().to_owned(),
        comment: row.comment,
        updated_at: row.updated_at,
    }
}

fn feedback_view(row: FeedbackRow) -> FeedbackView {
    FeedbackView {
        signup_id: row.signup_id.0,
        event_id: row.event_id.0,
        rating: row.rating,
        wants_to_continue: row.wants_to_continue,
        comment: row.comment,
        created_at: row.created_at,
    }
}

/// Tells the family of recommendations the new fact brought (see
/// [`super::recommendations::announce_new`]). The fact is committed already, so a failure
/// here is logged, not answered: the next assessment or feedback announces what is new.
async fn announce_recommendations(state: &AppState, student: AccountId, event: EventId) {
    if let Err(problem) = super::recommendations::announce_new(state, student, event).await {
        tracing::warn!(event = %event, error = %problem, "could not announce new recommendations");
    }
}
