//! The relay: moves new outbox rows into the events stream. Rows are claimed with
//! `FOR UPDATE SKIP LOCKED` so several relays can run at once, and a row counts as relayed
//! only once its XADD succeeded (the claim's transaction commits after it).

use tokio_util::sync::CancellationToken;

use super::hub::{Hub, IDLE};
use crate::store;

/// Rows relayed per transaction.
const BATCH: i64 = 500;

/// Relays one batch; returns how many rows it moved.
pub async fn relay_once(hub: &Hub) -> anyhow::Result<usize> {
    let mut tx = hub.db.begin().await?;
    let rows = store::outbox::claim_unrelayed(&mut *tx, BATCH).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let event_ids: Vec<String> = rows.iter().map(|(_, event)| event.to_string()).collect();
    hub.streams
        .add_all(&hub.streams.events(), &event_ids)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    store::outbox::mark_relayed(&mut *tx, &ids).await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// The relay task.
pub async fn run(hub: Hub, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        if !hub.owns_prefix() {
            // Another installation holds the prefix: its jobs are not ours to take.
            tokio::select! {
                () = tokio::time::sleep(IDLE) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
            continue;
        }
        if relay_once(&hub).await? == 0 {
            tokio::select! {
                () = tokio::time::sleep(IDLE) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }
}
