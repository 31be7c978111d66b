//! The attempt lifecycle, each step one transaction: start (or resume the open attempt),
//! save one answer, save a batch queued offline, finish and score. The API and the
//! deadline worker both go through here, so the rules hold whoever acts.
//!
//! Concurrency: every step that changes an attempt first locks its row, so answers to one
//! attempt, its finishing and the worker are serialised; finishing twice finds the
//! attempt already finished and returns the stored result.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::answers::{self, AnswerValue, Late, RawValue, Sequence};
use super::catalog::{Catalog, TestDefinition};
use super::scoring;
use crate::domain::Reason;
use crate::domain::domain_events::{DomainEvent, ResultsReady};
use crate::domain::ids::AccountId;
use crate::domain::ids::AttemptId;
use crate::store::diagnostics::{self as store, AnswerRow, AttemptRow, OwnedAnswer, ResultRow};
use crate::store::{Db, StoreError, outbox};

/// Why a step was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("no such test")]
    UnknownTest,
    /// Not found, or another student's.
    #[error("no such attempt")]
    NotFound,
    #[error("no such question in this test")]
    UnknownQuestion,
    /// Fields of the request refused, with the reason for each.
    #[error("invalid answer")]
    Invalid(Vec<(String, Reason)>),
    /// The attempt is finished or abandoned and takes no more answers.
    #[error("the attempt is {0}")]
    Closed(String),
    /// A newer answer (or the same sequence number with another value) is stored.
    #[error("a newer answer is stored")]
    Stale(Box<AnswerRow>),
    #[error("{}", .0.explain())]
    Late(Late),
    /// An untimed test is finished only once every question is answered.
    #[error("{missing} questions are unanswered")]
    Incomplete { missing: usize },
    #[error("the attempt was abandoned")]
    Abandoned,
    /// Stored data this build cannot read (a test version missing from the catalog).
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AttemptError {
    fn from(err: sqlx::Error) -> Self {
        AttemptError::Store(err.into())
    }
}

/// What the diagnostics rules need from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// How long after a timed test's deadline answers made before it are still taken.
    pub offline_grace: Duration,
    /// How long an untimed attempt may sit untouched before it is abandoned.
    pub abandon_after: Duration,
}

/// Starts an attempt at the current version of a test, or returns the student's open
/// one (`false`). An open timed attempt whose time and grace are over is finished and
/// scored first, and a new one started.
pub async fn start(
    db: &Db,
    catalog: &Catalog,
    rules: Rules,
    student: AccountId,
    test_id: &str,
) -> Result<(AttemptRow, bool), AttemptError> {
    let def = catalog.latest(test_id).ok_or(AttemptError::UnknownTest)?;
    let mut tx = db.begin().await?;
    if let Some(open) = store::open_attempt_for_update(&mut *tx, student, test_id).await? {
        if !is_expired(&open, rules.offline_grace, Utc::now()) {
            return Ok((open, false));
        }
        let def = definition(catalog, &open)?;
        finalize(&mut tx, &def, &open).await?;
    }
    let inserted = store::insert_attempt(
        &mut *tx,
        Uuid::now_v7(),
        student,
        &def.id,
        &def.version_tag(),
        def.time_limit,
    )
    .await?;
    let (attempt, created) = match inserted {
        Some(row) => (row, true),
        // A concurrent start won; its attempt is committed and visible now.
        None => (
            store::open_attempt_for_update(&mut *tx, student, test_id)
                .await?
                .ok_or(AttemptError::Store(StoreError::NotFound))?,
            false,
        ),
    };
    tx.commit().await?;
    Ok((attempt, created))
}

/// A student's attempt with its answers.
pub async fn load(
    db: &Db,
    student: AccountId,
    attempt: Uuid,
) -> Result<(AttemptRow, Vec<AnswerRow>), AttemptError> {
    let row = store::attempt_of(db, attempt, student)
        .await?
        .ok_or(AttemptError::NotFound)?;
    let answers = store::answers(db, attempt).await?;
    Ok((row, answers))
}

/// One answer as received.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub question_id: String,
    pub value: RawValue,
    pub seq: i64,
    pub client_time: DateTime<Utc>,
}

/// Writes answers, many requests' answers in one statement and one commit. It keeps what
/// never changes once an attempt is started (whose it is, its test version) for the
/// attempts answered lately, so an answer is checked against its test before it reaches
/// the database; whether the attempt is still in progress and in time is the database's
/// to say, in that statement.
///
/// A commit is most of an answer's cost (the WAL flush), so answers that arrive while one
/// is being committed go together in the next: one flush for several, none waiting for a
/// timer. Each request is answered only after its commit. Answers to the same question
/// of the same attempt go in separate statements, in the order they came.
pub struct AnswerWriter {
    known: std::sync::Mutex<HashMap<Uuid, Known>>,
    queue: tokio::sync::mpsc::Sender<Pending>,
}

/// An attempt's fixed facts.
#[derive(Debug, Clone)]
struct Known {
    student: AccountId,
    def: std::sync::Arc<TestDefinition>,
}

/// An answer waiting for the next statement, and who waits for it.
struct Pending {
    answer: OwnedAnswer,
    written: tokio::sync::oneshot::Sender<Option<AnswerRow>>,
}

impl AnswerWriter {
    /// About a region's open attempts; an entry is some 100 bytes. When full, the map
    /// starts again empty.
    const KNOWN_MAX: usize = 100_000;
    /// The most answers in one statement.
    const BATCH_MAX: usize = 256;

    /// Starts the writing task; it ends when the writer is dropped.
    pub fn start(db: Db) -> Self {
        let (queue, pending) = tokio::sync::mpsc::channel(4 * Self::BATCH_MAX);
        tokio::spawn(write_answers(db, pending));
        Self {
            known: Default::default(),
            queue,
        }
    }

    fn known(&self, attempt: Uuid) -> Option<Known> {
        self.known.lock().ok()?.get(&attempt).cloned()
    }

    /// The facts of a student's attempt in progress: kept, or read (one query, no lock)
    /// and kept. `None` for another's attempt, one not in progress, or a failed read:
    /// the full path then says why.
    async fn facts(
        &self,
        db: &Db,
        catalog: &Catalog,
        attempt: Uuid,
        student: AccountId,
    ) -> Option<Known> {
        if let Some(known) = self.known(attempt) {
            return (known.student == student).then_some(known);
        }
        let row = store::attempt_of(db, attempt, student).await.ok()??;
        if row.status != "in_progress" {
            return None;
        }
        let def = definition(catalog, &row).ok()?;
        Some(self.remember(&row, &def))
    }

    /// Keeps an attempt's facts, and returns them.
    fn remember(&self, row: &AttemptRow, def: &std::sync::Arc<TestDefinition>) -> Known {
        let facts = Known {
            student: row.student_id,
            def: def.clone(),
        };
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= Self::KNOWN_MAX {
                known.clear();
            }
            known.insert(row.id.0, facts.clone());
        }
        facts
    }

    /// Writes the answer with whatever else is waiting; `None` when it was not written
    /// (see [`store::save_answers_at_once`]) or the writing failed, and the caller takes
    /// the full path.
    async fn write(&self, answer: OwnedAnswer) -> Option<AnswerRow> {
        let (written, row) = tokio::sync::oneshot::channel();
        self.queue.send(Pending { answer, written }).await.ok()?;
        row.await.ok().flatten()
    }
}

/// The writing task: takes what is waiting (at most one answer per attempt and question),
/// writes it in one statement, tells each request what became of its answer.
async fn write_answers(db: Db, mut pending: tokio::sync::mpsc::Receiver<Pending>) {
    let mut next: Vec<Pending> = Vec::new();
    let mut writing: Option<sqlx::PgConnection> = None;
    loop {
        if next.is_empty() {
            match pending.recv().await {
                Some(first) => next.push(first),
                None => return,
            }
        }
        while next.len() < AnswerWriter::BATCH_MAX
            && let Ok(more) = pending.try_recv()
        {
            next.push(more);
        }
        let mut questions = std::collections::HashSet::new();
        let (batch, later): (Vec<Pending>, Vec<Pending>) = next
            .drain(..)
            .partition(|p| questions.insert((p.answer.attempt, p.answer.question.clone())));
        next = later;
        let (answers, waiting): (Vec<OwnedAnswer>, Vec<_>) =
            batch.into_iter().map(|p| (p.answer, p.written)).unzip();
        let mut written: HashMap<(Uuid, String), AnswerRow> = match write_batch(
            &db,
            &mut writing,
            &answers,
        )
        .await
        {
            Ok(rows) => rows
                .into_iter()
                .map(|(attempt, row)| ((attempt, row.question_id.clone()), row))
                .collect(),
            Err(err) => {
                // Each request then takes the full path on its own, which reports the
                // error or, if this statement did commit, finds its answer stored. The
                // connection is not trusted again.
                tracing::warn!(answers = answers.len(), error = %err, "could not write a batch of answers");
                writing = None;
                HashMap::new()
            }
        };
        for (answer, to) in answers.into_iter().zip(waiting) {
            let _ = to.send(written.remove(&(answer.attempt, answer.question)));
        }
    }
}

/// Writes one batch on the writer's own connection, opening one first if it has none.
/// That connection is the pool's no longer (the pool opens another in its place, and
/// closing the pool does not wait for it), and it plans the statement once for any number
/// of answers (`plan_cache_mode = force_generic_plan`): left to choose, PostgreSQL plans
/// it again for every batch, which cost more than the batch itself.
async fn write_batch(
    db: &Db,
    writing: &mut Option<sqlx::PgConnection>,
    answers: &[OwnedAnswer],
) -> Result<Vec<(Uuid, AnswerRow)>, StoreError> {
    let conn = match writing {
        Some(conn) => conn,
        None => {
            let mut conn = db.acquire().await?.detach();
            sqlx::query("SET plan_cache_mode = force_generic_plan")
                .execute(&mut conn)
                .await?;
            writing.insert(conn)
        }
    };
    store::save_answers_at_once(&mut *conn, answers).await
}

/// Saves one answer. A retried request (same sequence number and value) gets the stored
/// answer back and changes nothing, even once the attempt is closed.
///
/// A valid answer to the student's attempt in progress goes to the [`AnswerWriter`],
/// whose one statement also checks the attempt is still in progress and before its
/// deadline; anything else (another's attempt, an invalid answer, one within the grace
/// period, a replay, an attempt finished meanwhile) takes the full path below, which says
/// exactly why.
pub async fn save_answer(
    db: &Db,
    catalog: &Catalog,
    writer: &AnswerWriter,
    rules: Rules,
    student: AccountId,
    attempt: Uuid,
    answer: &Submitted,
) -> Result<AnswerRow, AttemptError> {
    if let Some(facts) = writer.facts(db, catalog, attempt, student).await
        && let Ok((seq, value)) = check(&facts.def, answer)
    {
        let owned = OwnedAnswer {
            attempt,
            student,
            question: answer.question_id.clone(),
            value: json!(value),
            seq,
            client_time: answer.client_time,
        };
        if let Some(saved) = writer.write(owned).await {
            return Ok(saved);
        }
    }
    let mut tx = db.begin().await?;
    let row = store::lock_for_answers(&mut tx, attempt, student)
        .await?
        .ok_or(AttemptError::NotFound)?;
    let def = definition(catalog, &row)?;
    writer.remember(&row, &def);
    let (seq, value) = check(&def, answer)?;
    let value_json = json!(value);
    // Lateness is reported before closure: once a timed test's time is over, that is
    // the reason, whether or not the worker has already scored it.
    let late = answers::admit(
        row.deadline,
        rules.offline_grace,
        Utc::now(),
        answer.client_time,
    )
    .err();
    let refusal = match late {
        Some(late) => Some(AttemptError::Late(late)),
        None if row.status != "in_progress" => Some(AttemptError::Closed(row.status.clone())),
        None => None,
    };
    if let Some(refusal) = refusal {
        let stored = store::answer(&mut *tx, attempt, &answer.question_id).await?;
        return match stored.filter(|s| is_replay(s, seq, &value)) {
            Some(stored) => Ok(stored),
            None => Err(refusal),
        };
    }
    let saved = store::save_answer(
        &mut *tx,
        attempt,
        &answer.question_id,
        &value_json,
        seq,
        answer.client_time,
    )
    .await?;
    let saved = match saved {
        Some(saved) => saved,
        None => {
            let stored = store::answer(&mut *tx, attempt, &answer.question_id)
                .await?
                .ok_or(AttemptError::Store(StoreError::NotFound))?;
            if !is_replay(&stored, seq, &value) {
                return Err(AttemptError::Stale(Box::new(stored)));
            }
            stored
        }
    };
    tx.commit().await?;
    Ok(saved)
}

/// What became of one answer of a batch.
#[derive(Debug)]
pub enum Outcome {
    /// Saved.
    Saved(AnswerRow),
    /// Already stored with this sequence number and value (a replayed batch).
    Unchanged(AnswerRow),
    /// The batch holds a newer answer to the same question; this one was skipped.
    Superseded,
    /// Refused, for the reason given.
    Rejected(AttemptError),
}

/// Saves answers the app queued offline, in one transaction. Each answer is judged on its
/// own: late or stale ones are refused one by one and the rest are saved. Sending the
/// same batch again changes nothing and reports the same answers as unchanged.
pub async fn save_batch(
    db: &Db,
    catalog: &Catalog,
    rules: Rules,
    student: AccountId,
    attempt: Uuid,
    batch: &[Submitted],
) -> Result<Vec<Outcome>, AttemptError> {
    let mut tx = db.begin().await?;
    let row = store::lock_for_answers(&mut tx, attempt, student)
        .await?
        .ok_or(AttemptError::NotFound)?;
    let def = definition(catalog, &row)?;
    let mut stored: HashMap<String, AnswerRow> = store::answers(&mut *tx, attempt)
        .await?
        .into_iter()
        .map(|a| (a.question_id.clone(), a))
        .collect();
    // Within a batch, the highest sequence number per question is the one that counts.
    let mut newest: HashMap<&str, (usize, i64)> = HashMap::new();
    for (index, item) in batch.iter().enumerate() {
        let entry = newest
            .entry(item.question_id.as_str())
            .or_insert((index, item.seq));
        if item.seq > entry.1 {
            *entry = (index, item.seq);
        }
    }
    let now = Utc::now();
    let mut outcomes = Vec::with_capacity(batch.len());
    for (index, item) in batch.iter().enumerate() {
        if newest
            .get(item.question_id.as_str())
            .is_some_and(|(winner, _)| *winner != index)
        {
            outcomes.push(Outcome::Superseded);
            continue;
        }
        let (seq, value) = match check(&def, item) {
            Ok(checked) => checked,
            Err(err) => {
                outcomes.push(Outcome::Rejected(err));
                continue;
            }
        };
        let previous = stored.get(&item.question_id);
        let decision = answers::sequence(
            previous
                .and_then(|s| stored_value(s).map(|v| (s.seq, v)))
                .as_ref()
                .map(|(seq, v)| (*seq, v)),
            seq,
            &value,
        );
        let outcome = match decision {
            Sequence::Replay => previous.cloned().map(Outcome::Unchanged),
            Sequence::Stale => previous
                .cloned()
                .map(|s| Outcome::Rejected(AttemptError::Stale(Box::new(s)))),
            Sequence::Apply => Some(
                match answers::admit(row.deadline, rules.offline_grace, now, item.client_time) {
                    Err(late) => Outcome::Rejected(AttemptError::Late(late)),
                    Ok(()) if row.status != "in_progress" => {
                        Outcome::Rejected(AttemptError::Closed(row.status.clone()))
                    }
                    Ok(()) => {
                        match store::save_answer(
                            &mut *tx,
                            attempt,
                            &item.question_id,
                            &json!(value),
                            seq,
                            item.client_time,
                        )
                        .await?
                        {
                            Some(saved) => {
                                stored.insert(saved.question_id.clone(), saved.clone());
                                Outcome::Saved(saved)
                            }
                            None => Outcome::Rejected(AttemptError::Corrupt(
                                "the stored answer changed while locked".into(),
                            )),
                        }
                    }
                },
            ),
        };
        outcomes.push(outcome.ok_or(AttemptError::Corrupt("no stored answer".into()))?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Finishes and scores an attempt, or returns the result of an already finished one, so
/// finishing twice (or twice at once) gives the same result once.
pub async fn finish(
    db: &Db,
    catalog: &Catalog,
    student: AccountId,
    attempt: Uuid,
) -> Result<ResultRow, AttemptError> {
    let mut tx = db.begin().await?;
    let row = store::attempt_for_update(&mut *tx, attempt, student)
        .await?
        .ok_or(AttemptError::NotFound)?;
    match row.status.as_str() {
        "finished" => {}
        "abandoned" => return Err(AttemptError::Abandoned),
        _ => {
            let def = definition(catalog, &row)?;
            if def.time_limit.is_none() {
                let answered = store::answers(&mut *tx, attempt).await?.len();
                let missing = def.questions.len().saturating_sub(answered);
                if missing > 0 {
                    return Err(AttemptError::Incomplete { missing });
                }
            }
            finalize(&mut tx, &def, &row).await?;
        }
    }
    let result = store::result(&mut *tx, attempt)
        .await?
        .ok_or(AttemptError::Store(StoreError::NotFound))?;
    tx.commit().await?;
    Ok(result)
}

/// Scores a locked open attempt, stores the result, marks it finished and announces it in
/// the outbox, all in the caller's transaction. The event carries ids only.
pub async fn finalize(
    tx: &mut sqlx::PgConnection,
    def: &TestDefinition,
    attempt: &AttemptRow,
) -> Result<(), AttemptError> {
    let answers: HashMap<String, AnswerValue> = store::answers(&mut *tx, attempt.id.0)
        .await?
        .iter()
        .filter_map(|a| stored_value(a).map(|v| (a.question_id.clone(), v)))
        .collect();
    let scored = scoring::score(def, &answers);
    store::finish(&mut *tx, attempt.id.0, &json!(scored), &scored.summary).await?;
    outbox::append(
        &mut *tx,
        &DomainEvent::ResultsReady(ResultsReady {
            attempt_id: AttemptId(attempt.id.0),
            student_id: AccountId(attempt.student_id.0),
            test_id: attempt.test_id.clone(),
        }),
    )
    .await?;
    Ok(())
}

/// Whether a timed attempt's time and grace period are over.
pub fn is_expired(attempt: &AttemptRow, grace: Duration, now: DateTime<Utc>) -> bool {
    let grace = chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::zero());
    attempt.deadline.is_some_and(|d| d + grace < now)
}

/// The definition an attempt was started under.
pub fn definition(
    catalog: &Catalog,
    attempt: &AttemptRow,
) -> Result<std::sync::Arc<TestDefinition>, AttemptError> {
    catalog.version(&attempt.test_version).ok_or_else(|| {
        AttemptError::Corrupt(format!(
            "test version {} is not in the catalog",
            attempt.test_version
        ))
    })
}

/// A stored value, read back.
pub fn stored_value(answer: &AnswerRow) -> Option<AnswerValue> {
    serde_json::from_value(answer.value.clone()).ok()
}

fn is_replay(stored: &AnswerRow, seq: i32, value: &AnswerValue) -> bool {
    stored.seq == seq && stored_value(stored).as_ref() == Some(value)
}

/// The sequence numbers an answer may carry (stored as a 32-bit integer); the API
/// document states the same bounds.
pub const SEQ_RANGE: std::ops::RangeInclusive<i64> = 1..=2_147_483_647;

/// Checks an answer's sequence number and value; every refused field at once.
fn check(def: &TestDefinition, answer: &Submitted) -> Result<(i32, AnswerValue), AttemptError> {
    let question = def
        .question(&answer.question_id)
        .ok_or(AttemptError::UnknownQuestion)?;
    let mut refused = Vec::new();
    let seq = Some(answer.seq)
        .filter(|s| SEQ_RANGE.contains(s))
        .and_then(|s| i32::try_from(s).ok());
    if seq.is_none() {
        refused.push((
            "seq".to_owned(),
            format!(
                "must be a whole number from {} to {}",
                SEQ_RANGE.start(),
                SEQ_RANGE.end()
            ),
        ));
    }
    let value = match answers::check_value(question, &answer.value) {
        Ok(value) => Some(value),
        Err((field, reason)) => {
            refused.push((format!("value.{field}"), reason));
            None
        }
    };
    match (seq, value) {
        (Some(seq), Some(value)) if refused.is_empty() => Ok((seq, value)),
        _ => Err(AttemptError::Invalid(refused)),
    }
}

impl From<&crate::settings::DiagnosticsSettings> for Rules {
    fn from(settings: &crate::settings::DiagnosticsSettings) -> Self {
        Self {
            offline_grace: settings.offline_grace,
            abandon_after: settings.abandon_after,
        }
    }
}
