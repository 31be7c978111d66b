//! The hub: what its tasks share, and the tasks a `bilet serve` or `bilet work` process
//! runs (relay, fan-out, one sender per channel, reconciler). Any number of processes may
//! run them side by side: each reads the streams under its own consumer name.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::providers::{ChannelKind, Channels};
use super::streams::{FANOUT_GROUP, SENDERS_GROUP, Streams};
use super::templates::Templates;
use super::{fanout, reconciler, relay, sender};
use crate::diagnostics::catalog::Catalog;
use crate::domain::ids::DeliveryId;
use crate::metrics::Metrics;
use crate::privacy::Vault;
use crate::security::blind_index::BlindIndex;
use crate::settings::HubSettings;
use crate::store::Db;
use crate::worker::Supervisor;

/// What the hub's tasks share.
#[derive(Clone)]
pub struct Hub {
    pub db: Db,
    pub streams: Streams,
    pub templates: Arc<Templates>,
    pub channels: Arc<Channels>,
    /// The test catalog, for the titles in "results ready".
    pub catalog: Arc<Catalog>,
    pub vault: Vault,
    pub index: BlindIndex,
    pub settings: HubSettings,
    pub metrics: Metrics,
    /// This process's consumer name in every group.
    pub consumer: String,
    /// The installation that owns the Redis prefix.
    pub installation: Uuid,
    /// Set while another installation holds the prefix: nothing is consumed or queued.
    pub prefix_lost: Arc<std::sync::atomic::AtomicBool>,
}

/// Jobs turned into stream entries at a time by [`Hub::enqueue`].
const ENQUEUE_CHUNK: usize = 50_000;

impl Hub {
    /// Whether the Redis prefix is this installation's (the reconciler checks each pass).
    pub fn owns_prefix(&self) -> bool {
        !self.prefix_lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Queues delivery jobs, one per channel stream. A failure here loses nothing: the
    /// rows stay pending and the reconciler queues them again.
    pub async fn enqueue(&self, due: impl IntoIterator<Item = (DeliveryId, ChannelKind)>) {
        // A chunk at a time, so that a million jobs never exist as a million strings.
        let mut due = due.into_iter().peekable();
        while due.peek().is_some() {
            let mut by_channel: std::collections::BTreeMap<ChannelKind, Vec<String>> =
                Default::default();
            for (id, channel) in due.by_ref().take(ENQUEUE_CHUNK) {
                by_channel.entry(channel).or_default().push(id.to_string());
            }
            for (channel, ids) in by_channel {
                if let Err(err) = self
                    .streams
                    .add_all(&self.streams.deliveries(channel.as_str()), &ids)
                    .await
                {
                    tracing::warn!(channel = channel.as_str(), jobs = ids.len(), error = %err, "could not queue jobs; the reconciler will");
                }
            }
        }
    }

    /// Creates every stream and group the hub reads (again, after Redis lost them).
    /// Creates the streams and groups that are missing (at the first start, or after Redis
    /// lost its data).
    pub async fn ensure_groups(&self) -> redis::RedisResult<()> {
        self.streams
            .ensure_group(&self.streams.events(), FANOUT_GROUP)
            .await?;
        for channel in ChannelKind::ALL {
            self.streams
                .ensure_group(&self.streams.deliveries(channel.as_str()), SENDERS_GROUP)
                .await?;
        }
        Ok(())
    }

    /// Refreshes the metrics measured from Redis and the ledger; a failure only leaves
    /// them stale.
    pub async fn measure(&self) {
        // Labelled by name, not by key (keys carry the prefix and their hash tags).
        let mut streams = vec![
            ("events".to_owned(), self.streams.events()),
            ("dead-letters".to_owned(), self.streams.dead_letters()),
        ];
        streams.extend(ChannelKind::ALL.iter().map(|c| {
            (
                format!("deliveries:{}", c.as_str()),
                self.streams.deliveries(c.as_str()),
            )
        }));
        for (name, stream) in streams {
            if let Ok(stats) = self.streams.stats(&stream).await {
                self.metrics
                    .stream(&name, stats.length, stats.pending, stats.lag);
            }
        }
        if let Ok(totals) = crate::store::deliveries::totals(&self.db).await {
            for (channel, status, count) in totals {
                self.metrics.ledger(&channel, &status, count);
            }
        }
    }

    /// Registers the hub's tasks with the supervisor.
    pub fn register(self, supervisor: &Supervisor) {
        let hub = self;
        let relay_hub = hub.clone();
        supervisor.register("hub-relay", move |shutdown| {
            relay::run(relay_hub.clone(), shutdown)
        });
        let fanout_hub = hub.clone();
        supervisor.register("hub-fanout", move |shutdown| {
            fanout::run(fanout_hub.clone(), shutdown)
        });
        for channel in ChannelKind::ALL {
            if hub.channels.get(channel).is_none() {
                continue;
            }
            let sender_hub = hub.clone();
            supervisor.register(sender::task_name(channel), move |shutdown| {
                sender::run(sender_hub.clone(), channel, shutdown)
            });
        }
        supervisor.register("hub-reconciler", move |shutdown| {
            reconciler::run(hub.clone(), shutdown)
        });
    }
}

/// How long the hub's loops wait when there is nothing to do.
pub const IDLE: Duration = Duration::from_millis(50);
