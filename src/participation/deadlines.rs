//! The sign-up deadline worker: reminds parents at half the approval window and expires
//! requests nobody decided, releasing their seats to the waitlist. Several workers can run
//! at once: rows are claimed with `SKIP LOCKED` and re-checked under the event's lock.
//! It also forgets check-in codes presented long ago (they expired within a minute).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Result, end_live};
use crate::domain::domain_events::DomainEvent;
use crate::domain::events::SignupStatus;
use crate::store::{self, Db};

/// How often the worker looks for due reminders and expiries.
const POLL: Duration = Duration::from_secs(1);
const BATCH: i64 = 100;

/// Sends every due reminder; returns how many.
pub async fn remind_due(db: &Db) -> Result<usize> {
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let due = store::signups::take_due_reminders(&mut *tx, BATCH).await?;
        for signup in &due {
            let event = store::events::find(&mut *tx, signup.event_id).await?;
            if let Some(event) = event {
                super::announce(
                    &mut tx,
                    DomainEvent::SignupExpiringSoon(super::change(signup, &event)),
                )
                .await?;
            }
        }
        tx.commit().await?;
        total += due.len();
        if due.len() < BATCH as usize {
            return Ok(total);
        }
    }
}

/// Expires every sign-up whose approval window has closed; returns how many.
pub async fn expire_due(db: &Db) -> Result<usize> {
    let mut total = 0;
    loop {
        let mut claim = db.begin().await?;
        let due = store::signups::claim_expired(&mut *claim, BATCH).await?;
        // Only the ids are kept: each is ended in its own transaction, taking the locks in
        // the usual order (event, then sign-up).
        claim.commit().await?;
        for signup in &due {
            let mut tx = db.begin().await?;
            let current = store::signups::find(&mut *tx, signup.id).await?;
            let still_due = current.is_some_and(|s| {
                s.status == SignupStatus::PendingParent
                    && s.expires_at.is_some_and(|at| at <= chrono::Utc::now())
            });
            if still_due {
                end_live(
                    &mut tx,
                    signup.id,
                    None,
                    SignupStatus::Expired,
                    "no_decision",
                )
                .await?;
            }
            tx.commit().await?;
        }
        total += due.len();
        if due.len() < BATCH as usize {
            return Ok(total);
        }
    }
}

/// How often spent check-in codes are forgotten.
const FORGET_CODES_EVERY: Duration = Duration::from_secs(600);

/// The background task.
pub async fn run(db: Db, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut forgot_codes_at: Option<std::time::Instant> = None;
    loop {
        remind_due(&db).await?;
        expire_due(&db).await?;
        if forgot_codes_at.is_none_or(|at| at.elapsed() >= FORGET_CODES_EVERY) {
            store::attendance::forget_old_codes(&db).await?;
            forgot_codes_at = Some(std::time::Instant::now());
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
