//! The deadline worker: finishes and scores timed attempts once their deadline and the
//! offline grace period after it have passed (so answers queued offline before the
//! deadline can still arrive), and abandons untimed attempts left untouched too long.
//! Each attempt is claimed with `FOR UPDATE SKIP LOCKED`, so any number of `bilet work`
//! processes can run it side by side.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::attempts::{self, AttemptError, Rules};
use super::catalog::Catalog;
use crate::store::Db;
use crate::store::diagnostics as store;

/// How often the worker looks for due attempts.
const POLL: Duration = Duration::from_secs(5);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Closed {
    pub finished: u64,
    pub abandoned: u64,
}

/// One pass: finishes every expired timed attempt (one transaction each), then abandons
/// idle untimed ones.
pub async fn close_due(db: &Db, catalog: &Catalog, rules: Rules) -> Result<Closed, AttemptError> {
    let mut closed = Closed::default();
    loop {
        let mut tx = db.begin().await?;
        let Some(attempt) = store::claim_expired(&mut *tx, rules.offline_grace).await? else {
            break;
        };
        match attempts::definition(catalog, &attempt) {
            Ok(def) => {
                attempts::finalize(&mut tx, &def, &attempt).await?;
                closed.finished += 1;
                tracing::info!(attempt = %attempt.id, test = %attempt.test_version, "finished an attempt whose time ran out");
            }
            Err(err) => {
                // Scoring is impossible without the definition; leaving the attempt open
                // would stop the worker on it forever.
                store::abandon(&mut *tx, attempt.id.0).await?;
                closed.abandoned += 1;
                tracing::error!(attempt = %attempt.id, error = %err, "abandoned an attempt that cannot be scored");
            }
        }
        tx.commit().await?;
    }
    let idle = store::abandon_idle(db, rules.abandon_after).await?;
    if idle > 0 {
        tracing::info!(count = idle, "abandoned idle attempts");
    }
    closed.abandoned += idle;
    Ok(closed)
}

/// The background task: a pass every few seconds until shutdown.
pub async fn run(
    db: Db,
    catalog: Arc<Catalog>,
    rules: Rules,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        close_due(&db, &catalog, rules).await?;
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
