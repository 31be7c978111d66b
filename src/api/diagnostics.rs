//! Online tests: the catalog, attempts that survive a lost connection (idempotent answers
//! with per-question sequence numbers, offline batches, a server-owned timer, idempotent
//! finishing) and results, which only the student and their linked parents see.
//!
//! Questions are served without answer keys or scoring weights, and only inside an
//! attempt (so a timed quiz cannot be read before its timer starts).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::JsonBody;
use super::profiles::linked_child;
use super::security::{BearerAuth, Caller, Role};
use crate::diagnostics::answers::{AnswerValue, RawValue};
use crate::diagnostics::attempts::{self, AttemptError, Outcome, Submitted};
use crate::diagnostics::catalog::{QuestionKind, TestDefinition};
use crate::diagnostics::scoring::Scored;
use crate::diagnostics::{Catalog, Rules};
use crate::domain::ids::AccountId;
use crate::http::problem::{FieldError, Problem, ProblemDocument};
use crate::state::AppState;
use crate::store;
use crate::store::diagnostics::{AnswerRow, AttemptRow, ResultRow};

/// Answers one batch may carry.
pub const MAX_BATCH: usize = 200;

pub struct DiagnosticsApi;

/// Where the calling student stands with a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TestStatus {
    NotStarted,
    /// An attempt is open: resume it with `open_attempt_id`.
    InProgress,
    /// Finished at least once and none open; a new attempt may be started.
    Finished,
}

/// A test of the catalog.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TestSummary {
    /// Stable id, e.g. `klimov-ddo`.
    pub id: String,
    /// The current version, e.g. `klimov-ddo/1`; attempts keep the version they began with.
    pub version: String,
    pub title: String,
    /// A few words, for lists.
    pub short_title: String,
    /// What the test measures, in Russian.
    pub measures: String,
    pub description: String,
    pub question_count: u32,
    pub estimated_minutes: u32,
    /// Timed tests only: the time from the start of an attempt, kept by the server.
    pub time_limit_seconds: Option<u64>,
    /// For students only.
    pub status: Option<TestStatus>,
    /// For students with an open attempt.
    pub open_attempt_id: Option<Uuid>,
    /// For students: attempts finished.
    pub finished_count: Option<i64>,
    pub last_finished_at: Option<DateTime<Utc>>,
}

/// A scale a test reports on.
#[derive(Debug, Object)]
pub struct ScaleView {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// A range of scores and its meaning.
#[derive(Debug, Object)]
pub struct BandView {
    pub id: String,
    pub min: u32,
    pub max: u32,
    pub label: String,
}

/// A test with what it reports; its questions come with an attempt.
#[derive(Debug, Object)]
pub struct TestDetail {
    #[oai(flatten)]
    pub summary: TestSummary,
    pub instructions: String,
    pub scales: Vec<ScaleView>,
    pub bands: Vec<BandView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum QuestionType {
    /// Answer with `option`.
    Single,
    /// Answer with `options` (one or more).
    Multiple,
    /// Answer with `rating`, a whole number from `min` to `max`.
    Rating,
}

/// A choice of a question.
#[derive(Debug, Object)]
pub struct OptionView {
    pub id: String,
    pub text: String,
}

/// A question, without anything that would reveal how it is scored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct QuestionView {
    pub id: String,
    #[oai(rename = "type")]
    pub question_type: QuestionType,
    pub text: String,
    /// For `single` and `multiple`.
    pub options: Vec<OptionView>,
    /// For `rating`.
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub min_label: Option<String>,
    pub max_label: Option<String>,
}

/// An answer's value: exactly one field, the one the question's `type` asks for.
#[derive(Debug, Clone, Default, Object, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct AnswerValueBody {
    /// For `single`: the chosen option's id.
    pub option: Option<String>,
    /// For `multiple`: the chosen options' ids.
    pub options: Option<Vec<String>>,
    /// For `rating`.
    pub rating: Option<i64>,
}

/// Saving an answer.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutAnswerRequest {
    pub value: AnswerValueBody,
    /// The app's sequence number for this question, raised at every change (1, 2, …). A
    /// stored answer with a higher number is never overwritten; resending the same number
    /// and value is a harmless retry.
    pub seq: i64,
    /// When the student answered, by the device's clock (RFC 3339).
    pub client_time: DateTime<Utc>,
}

/// An answer as stored.
#[derive(Debug, Object)]
pub struct AnswerView {
    pub question_id: String,
    pub value: AnswerValueBody,
    pub seq: i32,
    pub client_time: DateTime<Utc>,
    /// When the server saved it.
    pub saved_at: DateTime<Utc>,
}

/// How far the student got.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PositionView {
    pub answered: u32,
    pub total: u32,
    /// The first unanswered question in order; absent when all are answered.
    pub next_question_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AttemptStatus {
    InProgress,
    Finished,
    /// Untimed and left untouched for the abandonment period.
    Abandoned,
}

/// An attempt, everything needed to resume it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttemptView {
    pub id: Uuid,
    pub test_id: String,
    /// The version this attempt follows, e.g. `klimov-ddo/1`.
    pub test_version: String,
    pub status: AttemptStatus,
    pub started_at: DateTime<Utc>,
    /// Timed tests: when time runs out, fixed by the server at the start.
    pub deadline: Option<DateTime<Utc>>,
    /// The server's clock, to correct the device's.
    pub server_time: DateTime<Utc>,
    /// Timed tests: seconds left (0 once the deadline has passed).
    pub time_left_seconds: Option<i64>,
    /// Timed tests: answers made before the deadline are taken until this moment.
    pub answers_accepted_until: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub position: PositionView,
    pub questions: Vec<QuestionView>,
    pub answers: Vec<AnswerView>,
}

/// One answer the app queued without a connection.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchAnswer {
    pub question_id: String,
    pub value: AnswerValueBody,
    pub seq: i64,
    pub client_time: DateTime<Utc>,
}

/// Answers queued offline, oldest first or in any order.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 200 answers.
    pub answers: Vec<BatchAnswer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BatchOutcome {
    /// Saved.
    Saved,
    /// Already stored with this `seq` and value: the batch was sent before.
    Unchanged,
    /// The batch holds a higher `seq` for the same question; this one was skipped.
    Superseded,
    /// Refused; see `problem`.
    Rejected,
}

/// What became of one answer of a batch.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BatchItemResult {
    pub question_id: String,
    pub seq: i64,
    pub outcome: BatchOutcome,
    /// The stored answer, for `saved` and `unchanged`.
    pub answer: Option<AnswerView>,
    /// Why it was refused, for `rejected`: `stale-answer`, `late-answer`,
    /// `attempt-closed`, `validation` or `not-found` (no such question).
    pub problem: Option<ProblemDocument>,
}

/// The outcome of each answer, in the order sent.
#[derive(Debug, Object)]
pub struct BatchResponseBody {
    pub items: Vec<BatchItemResult>,
    pub position: PositionView,
}

/// One scale's score.
#[derive(Debug, Object)]
pub struct ScaleScoreView {
    pub id: String,
    pub name: String,
    pub score: u32,
    /// The highest score possible on this scale.
    pub max: u32,
    /// `weak`, `moderate` or `strong`.
    pub band: String,
    /// The band in Russian.
    pub band_label: String,
}

/// A scored attempt.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ResultView {
    pub attempt_id: Uuid,
    pub student_id: Uuid,
    pub test_id: String,
    pub test_version: String,
    pub test_title: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub scales: Vec<ScaleScoreView>,
    /// The leading scales, strongest first: Klimov's leading types (all tied at the top),
    /// the three letters of the Holland code; empty for the quiz.
    pub top: Vec<String>,
    /// The Holland code, e.g. `SAE`.
    pub code: Option<String>,
    pub answered: u32,
    pub questions: u32,
    /// What the result means, in Russian.
    pub summary: String,
}

/// One test in a side-by-side view of a child's results.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TestResultsEntry {
    pub test_id: String,
    pub title: String,
    pub short_title: String,
    pub finished_count: i64,
    /// The latest result; absent when the test was never finished.
    pub latest: Option<ResultView>,
}

/// A child's results, one entry per test of the catalog.
#[derive(Debug, Object)]
pub struct ChildResults {
    pub child_id: Uuid,
    pub tests: Vec<TestResultsEntry>,
}

#[derive(ApiResponse)]
pub enum TestsResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<TestSummary>>),
}

#[derive(ApiResponse)]
pub enum TestResponse {
    #[oai(status = 200)]
    Ok(Json<TestDetail>),
}

#[derive(ApiResponse)]
pub enum StartAttemptResponse {
    /// A new attempt; for a timed test the clock is running.
    #[oai(status = 201)]
    Created(Json<AttemptView>),
    /// The student's open attempt at this test, to resume.
    #[oai(status = 200)]
    Existing(Json<AttemptView>),
}

#[derive(ApiResponse)]
pub enum AttemptResponse {
    #[oai(status = 200)]
    Ok(Json<AttemptView>),
}

#[derive(ApiResponse)]
pub enum AnswerResponse {
    /// Saved, or already saved with this `seq` and value.
    #[oai(status = 200)]
    Ok(Json<AnswerView>),
}

#[derive(ApiResponse)]
pub enum BatchResponse {
    /// Each answer judged on its own.
    #[oai(status = 200)]
    Ok(Json<BatchResponseBody>),
}

#[derive(ApiResponse)]
pub enum ResultResponse {
    #[oai(status = 200)]
    Ok(Json<ResultView>),
}

#[derive(ApiResponse)]
pub enum ResultsResponse {
    /// Newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<ResultView>>),
}

#[derive(ApiResponse)]
pub enum ChildResultsResponse {
    #[oai(status = 200)]
    Ok(Json<ChildResults>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Diagnostics")]
impl DiagnosticsApi {
    /// The tests of the catalog: what each measures, its length and time limit, and, for a
    /// student, where they stand in it.
    #[oai(path = "/tests", method = "get", operation_id = "list_tests")]
    async fn list_tests(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<TestsResponse, Problem> {
        let statuses = statuses(&state, &auth.0).await?;
        Ok(TestsResponse::Ok(Json(
            state
                .catalog
                .current()
                .iter()
                .map(|def| summary(def, statuses.as_ref()))
                .collect(),
        )))
    }

    /// One test, with its scales and bands (its questions come with an attempt).
    #[oai(path = "/tests/:test_id", method = "get", operation_id = "get_test")]
    async fn get_test(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        test_id: Path<String>,
    ) -> Result<TestResponse, Problem> {
        let def = state
            .catalog
            .latest(&test_id.0)
            .ok_or_else(|| Problem::not_found("no such test"))?;
        let statuses = statuses(&state, &auth.0).await?;
        Ok(TestResponse::Ok(Json(TestDetail {
            summary: summary(&def, statuses.as_ref()),
            instructions: def.instructions.clone(),
            scales: def
                .scales
                .iter()
                .map(|s| ScaleView {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
            bands: def
                .bands
                .iter()
                .map(|b| BandView {
                    id: b.id.clone(),
                    min: b.min,
                    max: b.max,
                    label: b.label.clone(),
                })
                .collect(),
        })))
    }

    /// A student starts a test. With an attempt already open, that one is returned (200),
    /// so tapping "start" twice never makes two. For a timed test the server fixes the
    /// deadline now.
    #[oai(
        path = "/tests/:test_id/attempts",
        method = "post",
        operation_id = "start_attempt"
    )]
    async fn start_attempt(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        test_id: Path<String>,
    ) -> Result<StartAttemptResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let (attempt, created) = attempts::start(
            &state.db,
            &state.catalog,
            rules(&state),
            caller.account,
            &test_id.0,
        )
        .await?;
        let answers = if created {
            Vec::new()
        } else {
            store::diagnostics::answers(&state.db, attempt.id.0).await?
        };
        let view = attempt_view(&state, &attempt, answers)?;
        Ok(if created {
            StartAttemptResponse::Created(Json(view))
        } else {
            StartAttemptResponse::Existing(Json(view))
        })
    }

    /// Resume an attempt: its questions, the answers saved so far, the position and the
    /// time left.
    #[oai(
        path = "/attempts/:attempt_id",
        method = "get",
        operation_id = "get_attempt"
    )]
    async fn get_attempt(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        attempt_id: Path<Uuid>,
    ) -> Result<AttemptResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let (attempt, answers) = attempts::load(&state.db, caller.account, attempt_id.0).await?;
        Ok(AttemptResponse::Ok(Json(attempt_view(
            &state, &attempt, answers,
        )?)))
    }

    /// Save an answer. Idempotent: a retried request (same `seq` and value) gets the
    /// stored answer back. A lower `seq` than the stored one, or the same `seq` with
    /// another value, is refused with 409 `stale-answer`; after a timed test's deadline,
    /// with 409 `late-answer` unless made before it and sent within the grace period; on
    /// a finished attempt, with 409 `attempt-closed`.
    #[oai(
        path = "/attempts/:attempt_id/answers/:question_id",
        method = "put",
        operation_id = "put_answer"
    )]
    async fn put_answer(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        attempt_id: Path<Uuid>,
        question_id: Path<String>,
        body: JsonBody<PutAnswerRequest>,
    ) -> Result<AnswerResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let body = body.0;
        let submitted = Submitted {
            question_id: question_id.0,
            value: raw_value(body.value),
            seq: body.seq,
            client_time: body.client_time,
        };
        let saved = attempts::save_answer(
            &state.db,
            &state.catalog,
            &state.answer_writer,
            rules(&state),
            caller.account,
            attempt_id.0,
            &submitted,
        )
        .await?;
        Ok(AnswerResponse::Ok(Json(answer_view(saved))))
    }

    /// Save answers the app queued without a connection. Each is judged on its own and
    /// reported in order: refused ones (stale, late, invalid) do not stop the others.
    /// Sending the same batch again changes nothing.
    #[oai(
        path = "/attempts/:attempt_id/answers:batch",
        method = "post",
        operation_id = "post_answers_batch"
    )]
    async fn post_answers_batch(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        request: &Request,
        attempt_id: Path<Uuid>,
        body: JsonBody<BatchRequest>,
    ) -> Result<BatchResponse, Problem> {
        // The router reads `answers:batch` as `answers` and a parameter; only the exact
        // custom method is this operation.
        if request.raw_path_param("batch") != Some(":batch") {
            return Err(Problem::not_found("no such resource"));
        }
        let caller = auth.0;
        caller.require(Role::Student)?;
        let batch = body.0.answers;
        if batch.is_empty() || batch.len() > MAX_BATCH {
            return Err(Problem::validation(vec![FieldError::new(
                "answers",
                format!("send 1 to {MAX_BATCH} answers"),
            )]));
        }
        let submitted: Vec<Submitted> = batch
            .into_iter()
            .map(|a| Submitted {
                question_id: a.question_id,
                value: raw_value(a.value),
                seq: a.seq,
                client_time: a.client_time,
            })
            .collect();
        let outcomes = attempts::save_batch(
            &state.db,
            &state.catalog,
            rules(&state),
            caller.account,
            attempt_id.0,
            &submitted,
        )
        .await?;
        let (attempt, answers) = attempts::load(&state.db, caller.account, attempt_id.0).await?;
        let def = attempts::definition(&state.catalog, &attempt).map_err(Problem::from)?;
        let items = submitted
            .iter()
            .zip(outcomes)
            .map(|(sent, outcome)| {
                let (outcome, answer, problem) = match outcome {
                    Outcome::Saved(row) => (BatchOutcome::Saved, Some(answer_view(row)), None),
                    Outcome::Unchanged(row) => {
                        (BatchOutcome::Unchanged, Some(answer_view(row)), None)
                    }
                    Outcome::Superseded => (BatchOutcome::Superseded, None, None),
                    Outcome::Rejected(err) => (
                        BatchOutcome::Rejected,
                        None,
                        Some(Problem::from(err).document()),
                    ),
                };
                BatchItemResult {
                    question_id: sent.question_id.clone(),
                    seq: sent.seq,
                    outcome,
                    answer,
                    problem,
                }
            })
            .collect();
        Ok(BatchResponse::Ok(Json(BatchResponseBody {
            items,
            position: position(&def, &answers),
        })))
    }

    /// Finish and score an attempt. Idempotent: finishing again, or twice at once, returns
    /// the same result, scored once. An untimed test needs every question answered (409
    /// `answers-missing`); a timed one may be finished at any time, unanswered questions
    /// scoring nothing.
    #[oai(
        path = "/attempts/:attempt_id/finish",
        method = "post",
        operation_id = "finish_attempt"
    )]
    async fn finish_attempt(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        attempt_id: Path<Uuid>,
    ) -> Result<ResultResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let result =
            attempts::finish(&state.db, &state.catalog, caller.account, attempt_id.0).await?;
        Ok(ResultResponse::Ok(Json(result_view(
            &state.catalog,
            result,
        )?)))
    }

    /// The result of a finished attempt, for the student and their linked parents only.
    #[oai(
        path = "/attempts/:attempt_id/result",
        method = "get",
        operation_id = "get_result"
    )]
    async fn get_result(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        attempt_id: Path<Uuid>,
    ) -> Result<ResultResponse, Problem> {
        let caller = auth.0;
        let hidden = || Problem::not_found("no such result");
        let result = store::diagnostics::result(&state.db, attempt_id.0)
            .await?
            .ok_or_else(hidden)?;
        let student = AccountId(result.student_id.0);
        let allowed = match caller.role {
            Role::Student => caller.account == student,
            Role::Parent => store::families::is_linked(&state.db, caller.account, student).await?,
            Role::Organizer | Role::Admin => false,
        };
        if !allowed {
            return Err(hidden());
        }
        Ok(ResultResponse::Ok(Json(result_view(
            &state.catalog,
            result,
        )?)))
    }

    /// The calling student's results, newest first.
    #[oai(path = "/me/results", method = "get", operation_id = "list_my_results")]
    async fn list_my_results(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<ResultsResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let rows = store::diagnostics::results_of(&state.db, caller.account).await?;
        Ok(ResultsResponse::Ok(Json(
            rows.into_iter()
                .map(|row| result_view(&state.catalog, row))
                .collect::<Result<_, _>>()?,
        )))
    }

    /// A linked child's results side by side: every test of the catalog with the child's
    /// latest result in it. Call it for each child to compare children.
    #[oai(
        path = "/children/:child_id/results",
        method = "get",
        operation_id = "list_child_results"
    )]
    async fn list_child_results(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: super::security::ClientInfo,
        child_id: Path<Uuid>,
    ) -> Result<ChildResultsResponse, Problem> {
        let child = linked_child(&state, &auth.0, child_id.0).await?;
        store::audit::record(
            &state.db,
            auth.0.actor(),
            child,
            store::audit::AuditAction::ReadResults,
            client.request_id.as_deref(),
        )
        .await?;
        let mut latest: HashMap<String, ResultRow> =
            store::diagnostics::latest_results(&state.db, child)
                .await?
                .into_iter()
                .map(|r| (r.test_id.clone(), r))
                .collect();
        let counts: HashMap<String, i64> = store::diagnostics::statuses(&state.db, child)
            .await?
            .into_iter()
            .map(|s| (s.test_id, s.finished))
            .collect();
        let tests = state
            .catalog
            .current()
            .iter()
            .map(|def| {
                Ok(TestResultsEntry {
                    test_id: def.id.clone(),
                    title: def.title.clone(),
                    short_title: def.short_title.clone(),
                    finished_count: counts.get(&def.id).copied().unwrap_or(0),
                    latest: latest
                        .remove(&def.id)
                        .map(|row| result_view(&state.catalog, row))
                        .transpose()?,
                })
            })
            .collect::<Result<_, Problem>>()?;
        Ok(ChildResultsResponse::Ok(Json(ChildResults {
            child_id: child.0,
            tests,
        })))
    }
}

impl From<AttemptError> for Problem {
    fn from(err: AttemptError) -> Self {
        match err {
            AttemptError::UnknownTest => Problem::not_found("no such test"),
            AttemptError::NotFound => Problem::not_found("no such attempt"),
            AttemptError::UnknownQuestion => Problem::not_found("no such question in this test"),
            AttemptError::Invalid(fields) => Problem::validation(
                fields
                    .into_iter()
                    .map(|(field, reason)| FieldError::new(field, reason))
                    .collect(),
            ),
            AttemptError::Closed(status) => Problem::conflict(
                "attempt-closed",
                "Attempt closed",
                format!("the attempt is {status} and takes no more answers"),
            ),
            AttemptError::Stale(stored) => Problem::conflict(
                "stale-answer",
                "Stale answer",
                format!(
                    "a newer answer to this question is stored (seq {}); send a higher seq to change it",
                    stored.seq
                ),
            ),
            AttemptError::Late(late) => {
                Problem::conflict("late-answer", "Answer too late", late.explain())
            }
            AttemptError::Incomplete { missing } => Problem::conflict(
                "answers-missing",
                "Answers missing",
                format!("{missing} questions are still unanswered; answer them, then finish"),
            ),
            AttemptError::Abandoned => Problem::conflict(
                "attempt-abandoned",
                "Attempt abandoned",
                "the attempt was left unfinished too long; start the test again",
            ),
            AttemptError::Corrupt(reason) => Problem::internal_from(reason),
            AttemptError::Store(err) => err.into(),
        }
    }
}

fn rules(state: &AppState) -> Rules {
    Rules::from(&state.settings.diagnostics)
}

/// The student's standing in each test; `None` for other roles.
async fn statuses(
    state: &AppState,
    caller: &Caller,
) -> Result<Option<HashMap<String, store::diagnostics::TestStatusRow>>, Problem> {
    if caller.role != Role::Student {
        return Ok(None);
    }
    Ok(Some(
        store::diagnostics::statuses(&state.db, caller.account)
            .await?
            .into_iter()
            .map(|s| (s.test_id.clone(), s))
            .collect(),
    ))
}

fn summary(
    def: &TestDefinition,
    statuses: Option<&HashMap<String, store::diagnostics::TestStatusRow>>,
) -> TestSummary {
    let mine = statuses.map(|s| s.get(&def.id));
    TestSummary {
        id: def.id.clone(),
        version: def.version_tag(),
        title: def.title.clone(),
        short_title: def.short_title.clone(),
        measures: def.measures.clone(),
        description: def.description.clone(),
        question_count: u32::try_from(def.questions.len()).unwrap_or(u32::MAX),
        estimated_minutes: def.estimated_minutes,
        time_limit_seconds: def.time_limit.map(|d| d.as_secs()),
        status: mine.map(|row| match row {
            Some(row) if row.open_attempt_id.is_some() => TestStatus::InProgress,
            Some(row) if row.finished > 0 => TestStatus::Finished,
            _ => TestStatus::NotStarted,
        }),
        open_attempt_id: mine
            .flatten()
            .and_then(|r| r.open_attempt_id)
            .map(|id| id.0),
        finished_count: mine.map(|r| r.map_or(0, |r| r.finished)),
        last_finished_at: mine.flatten().and_then(|r| r.last_finished_at),
    }
}

fn question_view(question: &crate::diagnostics::catalog::Question) -> QuestionView {
    let options = |choices: &[crate::diagnostics::catalog::Choice]| {
        choices
            .iter()
            .map(|c| OptionView {
                id: c.id.clone(),
                text: c.text.clone(),
            })
            .collect()
    };
    let (question_type, options, range) = match &question.kind {
        QuestionKind::Single { options: o } => (QuestionType::Single, options(o), None),
        QuestionKind::Multiple { options: o } => (QuestionType::Multiple, options(o), None),
        QuestionKind::Rating {
            min,
            max,
            min_label,
            max_label,
        } => (
            QuestionType::Rating,
            Vec::new(),
            Some((*min, *max, min_label.clone(), max_label.clone())),
        ),
    };
    QuestionView {
        id: question.id.clone(),
        question_type,
        text: question.text.clone(),
        options,
        min: range.as_ref().map(|r| r.0),
        max: range.as_ref().map(|r| r.1),
        min_label: range.as_ref().map(|r| r.2.clone()),
        max_label: range.map(|r| r.3),
    }
}

fn raw_value(body: AnswerValueBody) -> RawValue {
    RawValue {
        option: body.option,
        options: body.options,
        rating: body.rating,
    }
}

fn answer_view(row: AnswerRow) -> AnswerView {
    let value = match attempts::stored_value(&row) {
        Some(AnswerValue::Option(option)) => AnswerValueBody {
            option: Some(option),
            ..AnswerValueBody::default()
        },
        Some(AnswerValue::Options(options)) => AnswerValueBody {
            options: Some(options),
            ..AnswerValueBody::default()
        },
        Some(AnswerValue::Rating(rating)) => AnswerValueBody {
            rating: Some(i64::from(rating)),
            ..AnswerValueBody::default()
        },
        None => AnswerValueBody::default(),
    };
    AnswerView {
        question_id: row.question_id,
        value,
        seq: row.seq,
        client_time: row.client_time,
        saved_at: row.saved_at,
    }
}

fn position(def: &TestDefinition, answers: &[AnswerRow]) -> PositionView {
    let answered = |id: &str| answers.iter().any(|a| a.question_id == id);
    PositionView {
        answered: u32::try_from(def.questions.iter().filter(|q| answered(&q.id)).count())
            .unwrap_or(u32::MAX),
        total: u32::try_from(def.questions.len()).unwrap_or(u32::MAX),
        next_question_id: def
            .questions
            .iter()
            .find(|q| !answered(&q.id))
            .map(|q| q.id.clone()),
    }
}

fn attempt_view(
    state: &AppState,
    attempt: &AttemptRow,
    answers: Vec<AnswerRow>,
) -> Result<AttemptView, Problem> {
    let def = attempts::definition(&state.catalog, attempt)?;
    let now = Utc::now();
    let grace = chrono::Duration::from_std(state.settings.diagnostics.offline_grace)
        .unwrap_or_else(|_| chrono::Duration::zero());
    let position = position(&def, &answers);
    let mut answers: Vec<AnswerView> = answers.into_iter().map(answer_view).collect();
    let order = |id: &str| def.questions.iter().position(|q| q.id == id);
    answers.sort_by_key(|a| order(&a.question_id));
    Ok(AttemptView {
        id: attempt.id.0,
        test_id: attempt.test_id.clone(),
        test_version: attempt.test_version.clone(),
        status: match attempt.status.as_str() {
            "finished" => AttemptStatus::Finished,
            "abandoned" => AttemptStatus::Abandoned,
            _ => AttemptStatus::InProgress,
        },
        started_at: attempt.started_at,
        deadline: attempt.deadline,
        server_time: now,
        time_left_seconds: attempt.deadline.map(|d| (d - now).num_seconds().max(0)),
        answers_accepted_until: attempt.deadline.map(|d| d + grace),
        finished_at: attempt.finished_at,
        position,
        questions: def.questions.iter().map(question_view).collect(),
        answers,
    })
}

/// A stored result as shown to the family.
pub fn result_view(catalog: &Catalog, row: ResultRow) -> Result<ResultView, Problem> {
    let scored: Scored = serde_json::from_value(row.scores).map_err(Problem::internal_from)?;
    let test_title = catalog
        .version(&row.test_version)
        .map(|d| d.title.clone())
        .unwrap_or_else(|| row.test_id.clone());
    Ok(ResultView {
        attempt_id: row.attempt_id.0,
        student_id: row.student_id.0,
        test_id: row.test_id,
        test_version: row.test_version,
        test_title,
        started_at: row.started_at,
        finished_at: row.finished_at,
        scales: scored
            .scales
            .into_iter()
            .map(|s| ScaleScoreView {
                id: s.id,
                name: s.name,
                score: s.score,
                max: s.max,
                band: s.band,
                band_label: s.band_label,
            })
            .collect(),
        top: scored.top,
        code: scored.code,
        answered: scored.answered,
        questions: scored.questions,
        summary: row.summary,
    })
}
