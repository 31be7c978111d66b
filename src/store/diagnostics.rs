//! Test attempts, the answers saved in them and their scored results.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, AttemptId};

/// An attempt as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: AttemptId,
    pub student_id: AccountId,
    pub test_id: String,
    pub test_version: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
}

/// One saved answer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AnswerRow {
    pub question_id: String,
    pub value: Value,
    pub seq: i32,
    pub client_time: DateTime<Utc>,
    pub saved_at: DateTime<Utc>,
}

/// A result with the attempt it scores.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResultRow {
    pub attempt_id: AttemptId,
    pub student_id: AccountId,
    pub test_id: String,
    pub test_version: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub scores: Value,
    pub summary: String,
    pub created_at: DateTime<Utc>,
}

const ATTEMPT: &str = "id, student_id, test_id, test_version, status, started_at, deadline, \
                       finished_at, last_activity_at";

const RESULT: &str = "SELECT r.attempt_id, a.student_id, a.test_id, a.test_version, a.started_at,
        a.finished_at, r.scores, r.summary, r.created_at
    FROM test_results r JOIN test_attempts a ON a.id = r.attempt_id";

/// Starts an attempt unless the student has one open for the test; `None` then.
pub async fn insert_attempt(
    exec: impl PgExecutor<'_>,
    id: Uuid,
    student: AccountId,
    test_id: &str,
    test_version: &str,
    time_limit: Option<Duration>,
) -> StoreResult<Option<AttemptRow>> {
    let limit_ms = time_limit.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok(sqlx::query_as::<_, AttemptRow>(&format!(
        "INSERT INTO test_attempts (id, student_id, test_id, test_version, deadline)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
         ON CONFLICT (student_id, test_id) WHERE status = 'in_progress' DO NOTHING
         RETURNING {ATTEMPT}"
    ))
    .bind(id)
    .bind(student.0)
    .bind(test_id)
    .bind(test_version)
    .bind(limit_ms)
    .fetch_optional(exec)
    .await?)
}

/// The student's open attempt at a test, locked.
pub async fn open_attempt_for_update(
    exec: impl PgExecutor<'_>,
    student: AccountId,
    test_id: &str,
) -> StoreResult<Option<AttemptRow>> {
    Ok(sqlx::query_as::<_, AttemptRow>(&format!(
        "SELECT {ATTEMPT} FROM test_attempts
         WHERE student_id = $1 AND test_id = $2 AND status = 'in_progress' FOR UPDATE"
    ))
    .bind(student.0)
    .bind(test_id)
    .fetch_optional(exec)
    .await?)
}

/// A student's attempt (`None` for anyone else's).
pub async fn attempt_of(
    exec: impl PgExecutor<'_>,
    id: Uuid,
    student: AccountId,
) -> StoreResult<Option<AttemptRow>> {
    Ok(sqlx::query_as::<_, AttemptRow>(&format!(
        "SELECT {ATTEMPT} FROM test_attempts WHERE id = $1 AND student_id = $2"
    ))
    .bind(id)
    .bind(student.0)
    .fetch_optional(exec)
    .await?)
}

/// A student's attempt, locked for the caller's transaction.
pub async fn attempt_for_update(
    exec: impl PgExecutor<'_>,
    id: Uuid,
    student: AccountId,
) -> StoreResult<Option<AttemptRow>> {
    Ok(sqlx::query_as::<_, AttemptRow>(&format!(
        "SELECT {ATTEMPT} FROM test_attempts WHERE id = $1 AND student_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(student.0)
    .fetch_optional(exec)
    .await?)
}

/// Locks a student's attempt for saving answers, so that answers to one attempt and its
/// finishing are serialised, and records activity on an open one. Activity is written
/// at most once a minute: the abandonment clock counts days, and rewriting an indexed
/// column at every answer would cost every answer an index update.
pub async fn lock_for_answers(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    student: AccountId,
) -> StoreResult<Option<AttemptRow>> {
    let row = sqlx::query_as::<_, AttemptRow>(&format!(
        "SELECT {ATTEMPT} FROM test_attempts WHERE id = $1 AND student_id = $2
         FOR NO KEY UPDATE"
    ))
    .bind(id)
    .bind(student.0)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = &row
        && row.status == "in_progress"
        && row.last_activity_at < Utc::now() - chrono::Duration::minutes(1)
    {
        sqlx::query("UPDATE test_attempts SET last_activity_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(row)
}

/// Every answer of an attempt.
pub async fn answers(exec: impl PgExecutor<'_>, attempt: Uuid) -> StoreResult<Vec<AnswerRow>> {
    Ok(sqlx::query_as::<_, AnswerRow>(
        "SELECT question_id, value, seq, client_time, saved_at FROM test_answers
         WHERE attempt_id = $1",
    )
    .bind(attempt)
    .fetch_all(exec)
    .await?)
}

/// The stored answer to one question.
pub async fn answer(
    exec: impl PgExecutor<'_>,
    attempt: Uuid,
    question: &str,
) -> StoreResult<Option<AnswerRow>> {
    Ok(sqlx::query_as::<_, AnswerRow>(
        "SELECT question_id, value, seq, client_time, saved_at FROM test_answers
         WHERE attempt_id = $1 AND question_id = $2",
    )
    .bind(attempt)
    .bind(question)
    .fetch_optional(exec)
    .await?)
}

/// Saves an answer unless one with an equal or higher sequence number is stored; returns
/// the saved row, or `None` when the stored answer was kept.
pub async fn save_answer(
    exec: impl PgExecutor<'_>,
    attempt: Uuid,
    question: &str,
    value: &Value,
    seq: i32,
    client_time: DateTime<Utc>,
) -> StoreResult<Option<AnswerRow>> {
    Ok(sqlx::query_as::<_, AnswerRow>(
        "INSERT INTO test_answers (attempt_id, question_id, value, seq, client_time)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (attempt_id, question_id) DO UPDATE
             SET value = EXCLUDED.value, seq = EXCLUDED.seq,
                 client_time = EXCLUDED.client_time, saved_at = now()
             WHERE test_answers.seq < EXCLUDED.seq
         RETURNING question_id, value, seq, client_time, saved_at",
    )
    .bind(attempt)
    .bind(question)
    .bind(value)
    .bind(seq)
    .bind(client_time)
    .fetch_optional(exec)
    .await?)
}

/// Saves answers to attempts in progress and before their deadlines, several attempts'
/// at once, in one statement and one commit: the attempts' rows are locked for the
/// statement in the order of their ids (so two such statements cannot deadlock, and a
/// finish waits for it or sees the attempt finished), each touched at most once a minute,
/// and each answer inserted or, if its `seq` is newer, updated. At most one answer per
/// attempt and question. Returns the answers written, with their attempts; one that is
/// missing was not written (no such attempt of that student in progress and in time, or
/// a stored answer as new), and its caller looks closer.
pub async fn save_answers_at_once(
    exec: impl PgExecutor<'_>,
    answers: &[OwnedAnswer],
) -> StoreResult<Vec<(Uuid, AnswerRow)>> {
    let column = |f: fn(&OwnedAnswer) -> Uuid| answers.iter().map(f).collect::<Vec<_>>();
    let rows: Vec<SavedInBatch> = sqlx::query_as(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::int[],
                                  $6::timestamptz[])
                 AS i(attempt_id, student_id, question_id, value, seq, client_time)
         ), attempt AS (
             SELECT t.id, t.student_id, t.last_activity_at FROM test_attempts t
             WHERE t.id = ANY($1) AND t.status = 'in_progress'
               AND (t.deadline IS NULL OR t.deadline >= now())
             ORDER BY t.id
             FOR NO KEY UPDATE
         ), touched AS (
             UPDATE test_attempts t SET last_activity_at = now() FROM attempt a
             WHERE t.id = a.id AND a.last_activity_at < now() - interval '1 minute'
         )
         INSERT INTO test_answers AS stored (attempt_id, question_id, value, seq, client_time)
         SELECT i.attempt_id, i.question_id, i.value, i.seq, i.client_time
         FROM input i JOIN attempt a ON a.id = i.attempt_id AND a.student_id = i.student_id
         ON CONFLICT (attempt_id, question_id) DO UPDATE
             SET value = EXCLUDED.value, seq = EXCLUDED.seq,
                 client_time = EXCLUDED.client_time, saved_at = now()
             WHERE stored.seq < EXCLUDED.seq
         RETURNING attempt_id, question_id, value, seq, client_time, saved_at",
    )
    .bind(column(|a| a.attempt))
    .bind(column(|a| a.student.0))
    .bind(
        answers
            .iter()
            .map(|a| a.question.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(answers.iter().map(|a| &a.value).collect::<Vec<_>>())
    .bind(answers.iter().map(|a| a.seq).collect::<Vec<_>>())
    .bind(answers.iter().map(|a| a.client_time).collect::<Vec<_>>())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.attempt_id, row.answer))
        .collect())
}

/// An answer written by [`save_answers_at_once`], with its attempt.
#[derive(sqlx::FromRow)]
struct SavedInBatch {
    attempt_id: Uuid,
    #[sqlx(flatten)]
    answer: AnswerRow,
}

/// An answer to one student's attempt, checked against its test, to write with others.
#[derive(Debug, Clone)]
pub struct OwnedAnswer {
    pub attempt: Uuid,
    pub student: AccountId,
    pub question: String,
    pub value: Value,
    pub seq: i32,
    pub client_time: DateTime<Utc>,
}

/// Stores the result and marks the attempt finished; call with the attempt locked.
pub async fn finish(
    conn: &mut sqlx::PgConnection,
    attempt: Uuid,
    scores: &Value,
    summary: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE test_attempts SET status = 'finished', finished_at = now()
         WHERE id = $1 AND status = 'in_progress'",
    )
    .bind(attempt)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO test_results (attempt_id, scores, summary) VALUES ($1, $2, $3)")
        .bind(attempt)
        .bind(scores)
        .bind(summary)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The result of an attempt.
pub async fn result(exec: impl PgExecutor<'_>, attempt: Uuid) -> StoreResult<Option<ResultRow>> {
    Ok(
        sqlx::query_as::<_, ResultRow>(&format!("{RESULT} WHERE r.attempt_id = $1"))
            .bind(attempt)
            .fetch_optional(exec)
            .await?,
    )
}

/// Every result of a student, newest first.
pub async fn results_of(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<ResultRow>> {
    Ok(sqlx::query_as::<_, ResultRow>(&format!(
        "{RESULT} WHERE a.student_id = $1 ORDER BY r.created_at DESC, r.attempt_id DESC"
    ))
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// The latest result of each test a student finished.
pub async fn latest_results(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<ResultRow>> {
    Ok(sqlx::query_as::<_, ResultRow>(
        "SELECT DISTINCT ON (a.test_id) r.attempt_id, a.student_id, a.test_id, a.test_version,
             a.started_at, a.finished_at, r.scores, r.summary, r.created_at
         FROM test_results r JOIN test_attempts a ON a.id = r.attempt_id
         WHERE a.student_id = $1
         ORDER BY a.test_id, r.created_at DESC, r.attempt_id DESC",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// Per test: the open attempt, the number of finished attempts and the last finish.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TestStatusRow {
    pub test_id: String,
    pub open_attempt_id: Option<AttemptId>,
    pub finished: i64,
    pub last_finished_at: Option<DateTime<Utc>>,
}

pub async fn statuses(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<TestStatusRow>> {
    Ok(sqlx::query_as::<_, TestStatusRow>(
        "SELECT test_id,
             (array_agg(id) FILTER (WHERE status = 'in_progress'))[1] AS open_attempt_id,
             count(*) FILTER (WHERE status = 'finished') AS finished,
             max(finished_at) AS last_finished_at
         FROM test_attempts WHERE student_id = $1 GROUP BY test_id",
    )
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}

/// Claims one open timed attempt whose deadline plus `grace` has passed, skipping those
/// another worker holds.
pub async fn claim_expired(
    exec: impl PgExecutor<'_>,
    grace: Duration,
) -> StoreResult<Option<AttemptRow>> {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    Ok(sqlx::query_as::<_, AttemptRow>(&format!(
        "SELECT {ATTEMPT} FROM test_attempts
         WHERE status = 'in_progress' AND deadline IS NOT NULL
           AND deadline + $1 * interval '1 millisecond' < now()
         ORDER BY deadline LIMIT 1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(grace_ms)
    .fetch_optional(exec)
    .await?)
}

/// Abandons open untimed attempts without activity for `idle`; returns how many.
pub async fn abandon_idle(exec: impl PgExecutor<'_>, idle: Duration) -> StoreResult<u64> {
    let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
    let done = sqlx::query(
        "UPDATE test_attempts SET status = 'abandoned'
         WHERE status = 'in_progress' AND deadline IS NULL
           AND last_activity_at < now() - $1 * interval '1 millisecond'",
    )
    .bind(idle_ms)
    .execute(exec)
    .await?;
    Ok(done.rows_affected())
}

/// Abandons one open attempt.
pub async fn abandon(exec: impl PgExecutor<'_>, attempt: Uuid) -> StoreResult<()> {
    sqlx::query(
        "UPDATE test_attempts SET status = 'abandoned' WHERE id = $1 AND status = 'in_progress'",
    )
    .bind(attempt)
    .execute(exec)
    .await?;
    Ok(())
}

/// Every attempt of a student, open or not, newest first.
pub async fn attempts_of(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<AttemptRow>> {
    Ok(sqlx::query_as::<_, AttemptRow>(&format!(
        "SELECT {ATTEMPT} FROM test_attempts WHERE student_id = $1 ORDER BY started_at DESC, id DESC"
    ))
    .bind(student.0)
    .fetch_all(exec)
    .await?)
}
