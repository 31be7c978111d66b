//! The erasure job: once a child's personal-data consent has been withdrawn and the delay
//! has passed, their personal data is erased, leaving anonymised statistics (grade,
//! region) and an audit record.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::ids::AccountId;
use crate::store::audit::{self, Actor, AuditAction};
use crate::store::{Db, StoreError, consents};

/// How often the job looks for due erasures.
const POLL: Duration = Duration::from_secs(5);

/// Erases every due child, one transaction each; returns how many.
pub async fn erase_due(db: &Db) -> Result<u64, StoreError> {
    let mut erased = 0;
    loop {
        let mut tx = db.begin().await?;
        let Some(student) = consents::claim_due_erasure(&mut *tx).await? else {
            return Ok(erased);
        };
        erase_one(&mut tx, student).await?;
        tx.commit().await?;
        tracing::info!(subject = %student, "erased a child's personal data");
        erased += 1;
    }
}

async fn erase_one(tx: &mut sqlx::PgConnection, student: AccountId) -> Result<(), StoreError> {
    consents::erase_student(tx, student).await?;
    audit::record(
        &mut *tx,
        Actor::System,
        student,
        AuditAction::ErasePersonalData,
        None,
    )
    .await
}

/// The background task: polls for due erasures until shutdown.
pub async fn run(db: Db, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        erase_due(&db).await?;
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
