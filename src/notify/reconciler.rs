//! The reconciler: the ledger is the truth, Redis only carries work, and Redis may lose
//! everything at any moment. Each pass recreates missing streams and groups, takes back
//! leases of senders that died mid-send, queues due deliveries that are in no stream
//! (scheduled retries, quiet hours and escalations falling due, jobs Redis lost, but not
//! jobs still waiting behind a backlog), and re-queues domain events whose fan-out job was
//! lost.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::hub::Hub;
use super::providers::ChannelKind;
use super::streams::{FANOUT_GROUP, SENDERS_GROUP};
use crate::queue::PrefixClaim;
use crate::store::deliveries;

/// Deliveries queued per pass.
const BATCH: i64 = 5_000;
/// How often the reconciler runs.
const PASS: Duration = Duration::from_millis(500);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Redis was found without the hub's data (its first start, or the data was lost).
    pub redis_reset: bool,
    pub leases_released: u64,
    /// Deliveries falling due (retries, escalations, the end of quiet hours).
    pub deliveries_queued: usize,
    /// Deliveries whose job Redis lost, queued again.
    pub deliveries_requeued: usize,
    pub events_requeued: usize,
    /// Stream entries that gone workers had read and not acknowledged, queued again.
    pub entries_taken_back: usize,
}

/// A lease taken this recently is left alone even if its process has not announced
/// itself yet (it may have just started).
const LEASE_GRACE_SECS: i64 = 5;

/// Workers whose presence lapsed (killed, or cut off): their leases and the stream entries
/// they held are given back at once, not after the lease and the claim-idle time.
async fn take_back_from_gone_workers(hub: &Hub, report: &mut Reconciled) -> anyhow::Result<()> {
    let mut live = hub.streams.redis().live_processes().await?;
    if live.is_empty() {
        // Presence is not running here (an API-only process): nobody can be judged gone.
        return Ok(());
    }
    if !live.contains(&hub.consumer) {
        live.push(hub.consumer.clone());
    }
    report.leases_released +=
        deliveries::release_leases_of_gone(&hub.db, &live, LEASE_GRACE_SECS).await?;
    let mut streams = vec![(hub.streams.events(), FANOUT_GROUP)];
    for channel in ChannelKind::ALL {
        streams.push((hub.streams.deliveries(channel.as_str()), SENDERS_GROUP));
    }
    for (stream, group) in streams {
        report.entries_taken_back += hub
            .streams
            .take_back_from_gone(&stream, group, &live, &hub.consumer)
            .await?;
    }
    Ok(())
}

pub async fn reconcile_once(hub: &Hub) -> anyhow::Result<Reconciled> {
    let redis_reset = match hub.streams.redis().claim_prefix(hub.installation).await? {
        PrefixClaim::Theirs(holder) => {
            if !hub.prefix_lost.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    holder = %holder,
                    ours = %hub.installation,
                    "another installation took this Redis prefix (BILET_REDIS_PREFIX): stopped consuming until it is ours again"
                );
            }
            return Ok(Reconciled::default());
        }
        PrefixClaim::Claimed => true,
        PrefixClaim::Ours => false,
    };
    if hub.prefix_lost.swap(false, Ordering::Relaxed) {
        tracing::warn!("the Redis prefix is this installation's again: consuming");
    }
    hub.ensure_groups().await?;
    let pass_started = crate::store::outbox::now(&hub.db).await?;
    let mut report = Reconciled {
        redis_reset,
        leases_released: deliveries::release_expired_leases(&hub.db).await?,
        ..Reconciled::default()
    };
    take_back_from_gone_workers(hub, &mut report).await?;
    // A Redis that lost its data holds no job: every one queued before is lost, so it is
    // queued again now rather than after `requeue_after`.
    // Otherwise a delivery is taken for lost after `requeue_after`, plus the longest lag
    // of a recent fan-out between stamping its deliveries queued and queuing their jobs.
    let stale = if redis_reset {
        0
    } else {
        (hub.settings.requeue_after + hub.streams.fanout_lag().await?).as_secs() as i64
    };
    // How long the oldest job in each channel's stream has waited: deliveries queued just
    // before it may be waiting behind it, not lost.
    let mut waiting = Vec::new();
    for channel in ChannelKind::ALL {
        let stream = hub.streams.deliveries(channel.as_str());
        if let Some(age) = hub.streams.oldest_age(&stream).await? {
            waiting.push((channel, age.as_secs_f64()));
        }
    }
    loop {
        let due =
            deliveries::take_unqueued_due(&hub.db, stale, &waiting, BATCH, pass_started).await?;
        let count = due.len();
        let lost = due.iter().filter(|d| d.lost).count();
        report.deliveries_requeued += lost;
        report.deliveries_queued += count - lost;
        hub.enqueue(due.into_iter().map(|d| (d.id, d.channel)))
            .await;
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
    let recovered = report.leases_released
        + (report.deliveries_requeued + report.events_requeued + report.entries_taken_back) as u64;
    if report.redis_reset && recovered > 0 {
        tracing::warn!(
            leases_released = report.leases_released,
            deliveries_requeued = report.deliveries_requeued,
            events_requeued = report.events_requeued,
            "Redis had lost the hub's streams; recreated them and queued the lost work again from the ledger"
        );
    } else if recovered > 0 {
        tracing::info!(
            leases_released = report.leases_released,
            entries_taken_back = report.entries_taken_back,
            deliveries_requeued = report.deliveries_requeued,
            events_requeued = report.events_requeued,
            "recovered work the streams had lost or dead senders held"
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
