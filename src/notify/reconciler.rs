//! The reconciler: the ledger is the truth, Redis only carries work, and Redis may lose
//! everything at any moment. Each pass recreates missing streams and groups, takes back
//! leases of senders that died mid-send, queues due deliveries that are in no stream
//! (scheduled retries, quiet hours and escalations falling due, jobs Redis lost, but not
//! jobs still waiting behind a backlog), and re-queues domain events whose fan-out job was
//! lost.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::hub::Hub;
use super::providers::ChannelKind;
use crate::store::deliveries;

/// Deliveries queued per pass.
const BATCH: i64 = 5_000;
/// How often the reconciler runs.
const PASS: Duration = Duration::from_millis(500);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    pub leases_released: u64,
    pub deliveries_queued: usize,
    pub events_requeued: usize,
}

pub async fn reconcile_once(hub: &Hub) -> anyhow::Result<Reconciled> {
    hub.ensure_groups().await?;
    let mut report = Reconciled {
        leases_released: deliveries::release_expired_leases(&hub.db).await?,
        ..Reconciled::default()
    };
    let stale = hub.settings.requeue_after.as_secs() as i64;
    // How long the oldest job in each channel's stream has waited: deliveries queued just
    // before it may be waiting behind it, not lost.
    let mut waiting = Vec::new();
    for channel in ChannelKind::ALL {
        let stream = hub.streams.deliveries(channel.as_str());
        if let Some(age) = hub.streams.oldest_age(&stream).await? {
            waiting.push((channel.as_str().to_owned(), age.as_secs_f64()));
        }
    }
    loop {
        let due = deliveries::take_unqueued_due(&hub.db, stale, &waiting, BATCH).await?;
        let count = due.len();
        report.deliveries_queued += count;
        hub.enqueue(due).await;
        if count < BATCH as usize {
            break;
        }
    }
    let lost = deliveries::stale_unfanned_events(&hub.db, stale, 1_000).await?;
    if !lost.is_empty() {
        let ids: Vec<i64> = lost.iter().map(|(id, ..)| *id).collect();
        let events: Vec<String> = lost
            .iter()
            .map(|(_, event, ..)| event.to_string())
            .collect();
        hub.streams.add_all(&hub.streams.events(), &events).await?;
        crate::store::outbox::mark_relayed(&hub.db, &ids).await?;
        report.events_requeued = events.len();
    }
    if report.leases_released > 0 || report.events_requeued > 0 {
        tracing::info!(
            leases_released = report.leases_released,
            deliveries_queued = report.deliveries_queued,
            events_requeued = report.events_requeued,
            "reconciled the streams with the ledger"
        );
    }
    Ok(report)
}

/// The reconciler task.
pub async fn run(hub: Hub, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        reconcile_once(&hub).await?;
        tokio::select! {
            () = tokio::time::sleep(PASS) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
