//! The erasure job: once a child's personal-data consent has been withdrawn and the delay
//! has passed, everything held about the child is removed, the account included. What is
//! kept proves only that processing was lawful and leads back to no one: the consent
//! records (kind, text version, times) under a random pseudonym of the child and a keyed
//! digest of the parent who gave them, and a count of erased students per grade and region.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::security::blind_index::BlindIndex;
use crate::store::erasure::{self, DueErasure, KeptConsent};
use crate::store::{Db, StoreError, consents};

/// How often the job looks for due erasures.
const POLL: Duration = Duration::from_secs(5);

/// The blind-index purpose of the digest that stands for the parent in a kept consent.
pub const CONSENT_GIVER_PURPOSE: &str = "erased-consent-giver";

/// Erases every due child, one transaction each; returns how many.
pub async fn erase_due(db: &Db, index: &BlindIndex) -> Result<u64, StoreError> {
    let mut erased = 0;
    loop {
        let mut tx = db.begin().await?;
        let Some(due) = erasure::claim_due(&mut *tx).await? else {
            return Ok(erased);
        };
        let pseudonym = erase_one(&mut tx, index, &due).await?;
        tx.commit().await?;
        // The pseudonym, not the account id: the log must not link the two either.
        tracing::info!(pseudonym = %pseudonym, "erased a child's personal data");
        erased += 1;
    }
}

async fn erase_one(
    tx: &mut sqlx::PgConnection,
    index: &BlindIndex,
    due: &DueErasure,
) -> Result<Uuid, StoreError> {
    let student = due.student;
    let email = erasure::lock_account(&mut *tx, student)
        .await?
        .unwrap_or_default();
    // Random, so that nothing computed from the account id finds the kept records.
    let pseudonym = Uuid::new_v4();
    erasure::insert_subject(&mut *tx, pseudonym, due.requested_at).await?;
    for record in consents::history(&mut *tx, student).await? {
        let giver = index.digest(CONSENT_GIVER_PURPOSE, &record.parent_id.to_string());
        erasure::keep_consent(
            &mut *tx,
            &KeptConsent {
                subject_pseudonym: pseudonym,
                giver_digest: &giver,
                kind: &record.kind,
                text_version: &record.text_version,
                given_at: record.given_at,
                superseded_at: record.superseded_at,
                withdrawn_at: record.withdrawn_at,
            },
        )
        .await?;
    }
    erasure::count_in_statistics(&mut *tx, student).await?;
    erasure::remove_student(&mut *tx, student, &email).await?;
    Ok(pseudonym)
}

/// The background task: polls for due erasures until shutdown.
pub async fn run(db: Db, index: BlindIndex, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        erase_due(&db, &index).await?;
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
