//! Erasure as stored: claiming a due erasure, what is kept (pseudonymised consent records
//! and counts by grade and region), and removing every other row about the child.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::AccountId;

/// A due erasure, claimed for the caller's transaction.
#[derive(Debug, Clone)]
pub struct DueErasure {
    pub student: AccountId,
    pub requested_at: DateTime<Utc>,
}

/// Claims one due erasure, skipping those another worker holds and those of a child that
/// domain events still waiting for fan-out mention (so that the family is told of the
/// withdrawal before the ids it needs are gone; the erasure runs on the next round).
pub async fn claim_due(exec: impl PgExecutor<'_>) -> StoreResult<Option<DueErasure>> {
    let row: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT e.student_id, e.requested_at FROM erasures e
         WHERE e.done_at IS NULL AND e.due_at <= now()
           AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.fanned_out_at IS NULL
                           AND strpos(o.payload::text, e.student_id::text) > 0)
         ORDER BY e.due_at LIMIT 1 FOR UPDATE OF e SKIP LOCKED",
    )
    .fetch_optional(exec)
    .await?;
    Ok(row.map(|(student, requested_at)| DueErasure {
        student: AccountId(student),
        requested_at,
    }))
}

/// Locks the child's account for the erasure; returns its e-mail address (invitations are
/// addressed to it), or `None` when the account is gone.
pub async fn lock_account(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT email::text FROM accounts WHERE id = $1 FOR UPDATE")
            .bind(student.0)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn insert_subject(
    exec: impl PgExecutor<'_>,
    pseudonym: Uuid,
    requested_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO erased_subjects (pseudonym, requested_at) VALUES ($1, $2)")
        .bind(pseudonym)
        .bind(requested_at)
        .execute(exec)
        .await?;
    Ok(())
}

/// A consent record as kept after erasure: no ids, no identity proof, no address.
pub struct KeptConsent<'a> {
    pub subject_pseudonym: Uuid,
    pub giver_digest: &'a [u8],
    pub kind: &'a str,
    pub text_version: &'a str,
    pub given_at: DateTime<Utc>,
    pub superseded_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

pub async fn keep_consent(exec: impl PgExecutor<'_>, kept: &KeptConsent<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO erased_consents (id, subject_pseudonym, giver_digest, kind, text_version,
             given_at, superseded_at, withdrawn_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::new_v4())
    .bind(kept.subject_pseudonym)
    .bind(kept.giver_digest)
    .bind(kept.kind)
    .bind(kept.text_version)
    .bind(kept.given_at)
    .bind(kept.superseded_at)
    .bind(kept.withdrawn_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// Counts the child in the statistics of their grade and region (nothing else is kept).
pub async fn count_in_statistics(exec: impl PgExecutor<'_>, student: AccountId) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO erasure_statistics (grade, region, erased)
         SELECT grade, region, 1 FROM student_profiles WHERE account_id = $1
         ON CONFLICT (grade, region) DO UPDATE SET erased = erasure_statistics.erased + 1",
    )
    .bind(student.0)
    .execute(exec)
    .await?;
    Ok(())
}

/// Removes every row about the child, the account last (`$1` is the account id). Rows of others that merely mention the child (a parent's notifications
/// and stored responses about them, domain events) go too; the seats the child's sign-ups
/// held are given back. Rows where the child acted on someone else's data (the access
/// audit) keep the act but lose the actor.
const REMOVE: &[&str] = &[
    "UPDATE events e SET seats_held = e.seats_held - s.held, updated_at = now()
     FROM (SELECT event_id, count(*)::int AS held FROM signups
           WHERE student_id = $1 AND status IN ('pending_parent', 'approved') GROUP BY event_id) s
     WHERE e.id = s.event_id",
    "DELETE FROM approval_links WHERE signup_id IN (SELECT id FROM signups WHERE student_id = $1)",
    "DELETE FROM deliveries WHERE account_id = $1 OR notification_id IN (
         SELECT id FROM notifications WHERE account_id = $1 OR strpos(data::text, $1::text) > 0)",
    "DELETE FROM notifications WHERE account_id = $1 OR strpos(data::text, $1::text) > 0",
    "DELETE FROM outbox WHERE strpos(payload::text, $1::text) > 0",
    "DELETE FROM feedback WHERE student_id = $1",
    "DELETE FROM assessments WHERE student_id = $1",
    "DELETE FROM attendance WHERE student_id = $1",
    "DELETE FROM check_in_codes_used WHERE student_id = $1",
    "DELETE FROM signups WHERE student_id = $1",
    "UPDATE signups SET signed_up_by = NULL WHERE signed_up_by = $1",
    "UPDATE signups SET decided_by = NULL WHERE decided_by = $1",
    "UPDATE signups SET ended_by = NULL WHERE ended_by = $1",
    "DELETE FROM test_answers WHERE attempt_id IN (SELECT id FROM test_attempts WHERE student_id = $1)",
    "DELETE FROM test_results WHERE attempt_id IN (SELECT id FROM test_attempts WHERE student_id = $1)",
    "DELETE FROM test_attempts WHERE student_id = $1",
    "DELETE FROM devices WHERE account_id = $1",
    "DELETE FROM notification_preferences WHERE account_id = $1",
    "DELETE FROM calendar_feeds WHERE account_id = $1",
    "DELETE FROM idempotency_keys WHERE account_id = $1
         OR position(convert_to($1::text, 'UTF8') IN response_body) > 0",
    "DELETE FROM link_codes WHERE student_id = $1",
    "DELETE FROM email_verifications WHERE account_id = $1",
    "DELETE FROM family_links WHERE student_id = $1",
    "DELETE FROM family_link_requests WHERE student_id = $1",
    "DELETE FROM password_resets WHERE account_id = $1",
    "DELETE FROM snils_conflicts WHERE claimant_id = $1 OR holder_id = $1",
    "DELETE FROM snils_registry WHERE account_id = $1",
    "DELETE FROM access_audit WHERE subject_id = $1",
    "UPDATE access_audit SET actor_id = NULL, actor_role = 'erased' WHERE actor_id = $1",
    "DELETE FROM consents WHERE student_id = $1",
    "DELETE FROM device_sessions WHERE account_id = $1",
    "DELETE FROM student_profiles WHERE account_id = $1",
    "DELETE FROM erasures WHERE student_id = $1",
    "DELETE FROM accounts WHERE id = $1",
];

pub async fn remove_student(
    conn: &mut sqlx::PgConnection,
    student: AccountId,
    email: &str,
) -> StoreResult<()> {
    // Invitations are addressed to the child's e-mail, not to the account.
    sqlx::query("DELETE FROM invitations WHERE student_email = $1::citext")
        .bind(email)
        .execute(&mut *conn)
        .await?;
    for statement in REMOVE {
        sqlx::query(statement)
            .bind(student.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
