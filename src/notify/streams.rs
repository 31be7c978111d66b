//! The hub's Redis streams: domain events for fan-out, one delivery stream per channel,
//! and the dead letters. Entries carry ids only; the ledger in PostgreSQL holds the rest,
//! so a Redis that loses everything loses no work (the reconciler refills the streams).

use crate::domain::ids::DeliveryId;
use std::time::Duration;

use redis::streams::{
    StreamAutoClaimReply, StreamClaimReply, StreamId, StreamRangeReply, StreamReadReply,
};
use redis::{RedisResult, Value};

use crate::queue::{Keys, Redis};

/// The consumer group that fans domain events out.
pub const FANOUT_GROUP: &str = "fanout";
/// The consumer group of each channel's senders.
pub const SENDERS_GROUP: &str = "senders";
/// Entries added per pipeline round trip.
const PIPELINE: usize = 1000;
/// How long a fan-out's lag is kept ([`Streams::note_fanout_lag`]): longer than any
/// backlog takes to send.
const FANOUT_LAG_KEPT: Duration = Duration::from_secs(3600);

/// The hash tag of a channel's deliveries stream, which its answer marks share.
fn deliveries_tag(channel: &str) -> String {
    format!("deliveries:{channel}")
}

/// The domain events' stream under `keys`' prefix: `{prefix}:hub:{events}`.
pub fn events_stream(keys: &Keys) -> String {
    keys.tagged("hub", "events", "")
}

/// A channel's deliveries stream under `keys`' prefix: `{prefix}:hub:{deliveries:<channel>}`.
/// Under Redis Cluster each channel's stream (and its answer marks) lives on one node, and
/// the channels spread over the nodes.
pub fn deliveries_stream(keys: &Keys, channel: &str) -> String {
    keys.tagged("hub", &deliveries_tag(channel), "")
}

/// Stream names under the deployment's prefix.
#[derive(Clone)]
pub struct Streams {
    redis: Redis,
}

/// One entry read from a stream: its stream id and the id it carries.
#[derive(Debug, Clone)]
pub struct Entry {
    pub stream_id: String,
    pub value: String,
}

impl Streams {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// The domain events for fan-out: `{prefix}:hub:{events}`.
    pub fn events(&self) -> String {
        events_stream(&self.redis.keys)
    }

    /// A channel's deliveries: `{prefix}:hub:{deliveries:<channel>}`.
    pub fn deliveries(&self, channel: &str) -> String {
        deliveries_stream(&self.redis.keys, channel)
    }

    /// The dead letters: `{prefix}:hub:{dead-letters}`.
    pub fn dead_letters(&self) -> String {
        self.redis.keys.tagged("hub", "dead-letters", "")
    }

    /// Creates a stream and its group if either is missing (after a Redis restart, say).
    pub async fn ensure_group(&self, stream: &str, group: &str) -> RedisResult<()> {
        let mut conn = self.redis.conn.clone();
        let created: RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Appends one entry per value (field `id`), pipelined.
    pub async fn add_all(&self, stream: &str, values: &[String]) -> RedisResult<()> {
        let mut conn = self.redis.conn.clone();
        for chunk in values.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for value in chunk {
                pipe.cmd("XADD")
                    .arg(stream)
                    .arg("*")
                    .arg("id")
                    .arg(value)
                    .ignore();
            }
            pipe.query_async::<()>(&mut conn).await?;
        }
        Ok(())
    }

    /// Appends a dead letter with its reason.
    pub async fn add_dead_letter(
        &self,
        delivery: &str,
        channel: &str,
        reason: &str,
    ) -> RedisResult<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("XADD")
            .arg(self.dead_letters())
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*")
            .arg("id")
            .arg(delivery)
            .arg("channel")
            .arg(channel)
            .arg("reason")
            .arg(reason)
            .query_async::<()>(&mut conn)
            .await
    }

    /// Reads up to `count` new entries for `consumer`, without blocking (the connection is
    /// shared by the whole process; callers pause briefly when nothing came). A missing
    /// stream or group (Redis lost its data) is recreated.
    pub async fn read(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> RedisResult<Vec<Entry>> {
        let mut conn = self.redis.conn.clone();
        let reply: RedisResult<Option<StreamReadReply>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query_async(&mut conn)
            .await;
        match reply {
            Ok(reply) => Ok(reply
                .map(|r| r.keys.into_iter().flat_map(|k| k.ids).map(entry).collect())
                .unwrap_or_default()),
            Err(err) if err.code() == Some("NOGROUP") => {
                self.ensure_group(stream, group).await?;
                Ok(Vec::new())
            }
            Err(err) => Err(err),
        }
    }

    /// Takes over entries another consumer read but did not acknowledge within
    /// `min_idle_ms` (it died mid-batch).
    pub async fn claim_abandoned(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle_ms: u64,
        count: usize,
    ) -> RedisResult<Vec<Entry>> {
        let mut conn = self.redis.conn.clone();
        let reply: RedisResult<StreamAutoClaimReply> = redis::cmd("XAUTOCLAIM")
            .arg(stream)
            .arg(group)
            .arg(consumer)
            .arg(min_idle_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await;
        match reply {
            Ok(reply) => Ok(reply.claimed.into_iter().map(entry).collect()),
            Err(err) if err.code() == Some("NOGROUP") => {
                self.ensure_group(stream, group).await?;
                Ok(Vec::new())
            }
            Err(err) => Err(err),
        }
    }

    /// Takes back the entries that consumers of processes no longer `live` read and never
    /// acknowledged: each is queued again as a new entry and the old one removed, at once
    /// rather than after the claim-idle time. Consumer names are `{process}:{role}`.
    /// Returns how many were taken back.
    pub async fn take_back_from_gone(
        &self,
        stream: &str,
        group: &str,
        live: &[String],
        claimer: &str,
    ) -> RedisResult<usize> {
        let mut conn = self.redis.conn.clone();
        let pending: RedisResult<Vec<(String, String, u64, u64)>> = redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .arg("-")
            .arg("+")
            .arg(PIPELINE)
            .query_async(&mut conn)
            .await;
        let pending = match pending {
            Ok(pending) => pending,
            Err(err) if err.code() == Some("NOGROUP") => return Ok(0),
            Err(err) => return Err(err),
        };
        let gone: Vec<String> = pending
            .into_iter()
            .filter(|(_, consumer, _, _)| {
                let process = consumer
                    .rsplit_once(':')
                    .map_or(consumer.as_str(), |(p, _)| p);
                !live.iter().any(|l| l == process)
            })
            .map(|(id, ..)| id)
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let claimed: StreamClaimReply = redis::cmd("XCLAIM")
            .arg(stream)
            .arg(group)
            .arg(claimer)
            .arg(0)
            .arg(&gone)
            .query_async(&mut conn)
            .await?;
        let entries: Vec<Entry> = claimed.ids.into_iter().map(entry).collect();
        let mut pipe = redis::pipe();
        for entry in &entries {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("id")
                .arg(&entry.value)
                .ignore();
        }
        pipe.cmd("XACK").arg(stream).arg(group).arg(&gone).ignore();
        pipe.cmd("XDEL").arg(stream).arg(&gone).ignore();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(entries.len())
    }

    fn fanout_lag_key(&self) -> String {
        self.redis.keys.key("hub:fanout-lag")
    }

    /// Records that a fan-out's last job reached its stream `lag` after the fan-out stamped
    /// its deliveries queued (it plans and writes the whole ledger first, then queues): the
    /// reconciler adds the longest such lag of the last hour to the time after which it
    /// takes a queued delivery for lost, so a million-recipient fan-out's jobs are not
    /// queued a second time while they wait in the streams. Single-key commands, so it
    /// holds under Redis Cluster; two fan-outs racing may keep the smaller lag, which
    /// only re-queues jobs the senders then find done.
    pub async fn note_fanout_lag(&self, lag: Duration) -> RedisResult<()> {
        let secs = lag.as_secs() + 1;
        let key = self.fanout_lag_key();
        let mut conn = self.redis.conn.clone();
        let known: Option<u64> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        if known.is_some_and(|known| known >= secs) {
            return Ok(());
        }
        redis::cmd("SET")
            .arg(&key)
            .arg(secs)
            .arg("EX")
            .arg(FANOUT_LAG_KEPT.as_secs())
            .query_async(&mut conn)
            .await
    }

    /// The longest fan-out lag of the last hour ([`Streams::note_fanout_lag`]); zero when
    /// none was noted.
    pub async fn fanout_lag(&self) -> RedisResult<Duration> {
        let mut conn = self.redis.conn.clone();
        let secs: Option<u64> = redis::cmd("GET")
            .arg(self.fanout_lag_key())
            .query_async(&mut conn)
            .await?;
        Ok(Duration::from_secs(secs.unwrap_or(0)))
    }

    /// A delivery's answer mark, in its channel stream's slot, so that a sender's marks
    /// are set and read in one pipeline under Redis Cluster too.
    fn answered_key(&self, channel: &str, delivery: DeliveryId) -> String {
        self.redis.keys.tagged(
            "hub",
            &deliveries_tag(channel),
            &format!("answered:{delivery}"),
        )
    }

    /// Marks deliveries as accepted by their providers, with the providers' ids, for
    /// `ttl`. This is the first record of an answer, written within a millisecond of it
    /// (the ledger's follows a few milliseconds later): a sender that dies in between
    /// leaves the mark, and whoever claims the delivery again records it instead of
    /// sending it twice (see [`Streams::answered`]). Losing the marks (Redis flushed)
    /// loses no message, only this protection.
    pub async fn mark_answered(
        &self,
        channel: &str,
        answers: &[(DeliveryId, &str)],
        ttl: Duration,
    ) -> RedisResult<()> {
        if answers.is_empty() {
            return Ok(());
        }
        let mut conn = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for (delivery, provider_id) in answers {
            pipe.cmd("SET")
                .arg(self.answered_key(channel, *delivery))
                .arg(*provider_id)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await
    }

    /// The providers' ids of those `deliveries` a provider has already accepted, by their
    /// marks; `None` for the others. One pipelined round trip (the channel's marks share
    /// a hash slot, so it holds under Redis Cluster too).
    pub async fn answered(
        &self,
        channel: &str,
        deliveries: &[DeliveryId],
    ) -> RedisResult<Vec<Option<String>>> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for delivery in deliveries {
            pipe.cmd("GET").arg(self.answered_key(channel, *delivery));
        }
        pipe.query_async(&mut conn).await
    }

    /// Acknowledges and deletes handled entries.
    pub async fn ack(&self, stream: &str, group: &str, ids: &[String]) -> RedisResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.redis.conn.clone();
        redis::pipe()
            .cmd("XACK")
            .arg(stream)
            .arg(group)
            .arg(ids)
            .ignore()
            .cmd("XDEL")
            .arg(stream)
            .arg(ids)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
    }

    /// How long ago, by the Redis server's clock, the oldest entry still in `stream` was
    /// added; `None` when the stream is empty or missing. Handled entries are deleted, so
    /// this is the oldest job not yet handled.
    pub async fn oldest_age(&self, stream: &str) -> RedisResult<Option<Duration>> {
        let mut conn = self.redis.conn.clone();
        let ((seconds, micros), oldest): ((u64, u64), StreamRangeReply) = redis::pipe()
            .cmd("TIME")
            .cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        let now_ms = seconds * 1000 + micros / 1000;
        Ok(oldest.ids.first().map(|entry| {
            // Entry ids are `<milliseconds>-<sequence>`, stamped by the server when added.
            let added_ms = entry
                .id
                .split('-')
                .next()
                .and_then(|ms| ms.parse::<u64>().ok())
                .unwrap_or(now_ms);
            Duration::from_millis(now_ms.saturating_sub(added_ms))
        }))
    }

    /// Length and, per group, entries read but not acknowledged and entries not yet read.
    pub async fn stats(&self, stream: &str) -> RedisResult<StreamStats> {
        let mut conn = self.redis.conn.clone();
        let length: u64 = redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut conn)
            .await?;
        let groups: RedisResult<Vec<Vec<Value>>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query_async(&mut conn)
            .await;
        let (mut pending, mut lag) = (0, 0);
        for group in groups.unwrap_or_default() {
            for pair in group.chunks(2) {
                if let [Value::BulkString(name), value] = pair {
                    let number = match value {
                        Value::Int(n) => *n as u64,
                        _ => 0,
                    };
                    match name.as_slice() {
                        b"pending" => pending += number,
                        b"lag" => lag += number,
                        _ => {}
                    }
                }
            }
        }
        Ok(StreamStats {
            length,
            pending,
            lag,
        })
    }
}

/// One consumer of one stream's group: what it reads next.
pub struct Consumer {
    pub stream: String,
    pub group: &'static str,
    pub name: String,
    claim_idle: Duration,
    last_claim: std::time::Instant,
}

impl Consumer {
    pub fn new(stream: String, group: &'static str, name: String, claim_idle: Duration) -> Self {
        Self {
            stream,
            group,
            name,
            claim_idle,
            last_claim: std::time::Instant::now(),
        }
    }

    /// Up to `count` entries: those a dead consumer left unacknowledged for `claim_idle`
    /// (looked for twice per `claim_idle`), else new ones; empty when there are none.
    pub async fn next(&mut self, streams: &Streams, count: usize) -> RedisResult<Vec<Entry>> {
        if self.last_claim.elapsed() >= self.claim_idle / 2 {
            self.last_claim = std::time::Instant::now();
            let idle_ms = self.claim_idle.as_millis() as u64;
            let abandoned = streams
                .claim_abandoned(&self.stream, self.group, &self.name, idle_ms, count)
                .await?;
            if !abandoned.is_empty() {
                return Ok(abandoned);
            }
        }
        streams
            .read(&self.stream, self.group, &self.name, count)
            .await
    }

    /// Acknowledges handled entries.
    pub async fn ack(&self, streams: &Streams, ids: &[String]) -> RedisResult<()> {
        streams.ack(&self.stream, self.group, ids).await
    }
}

/// A stream's size and how far its consumers are behind.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamStats {
    pub length: u64,
    pub pending: u64,
    pub lag: u64,
}

/// An entry; one without a readable `id` field gets an empty value, which consumers
/// acknowledge and drop rather than leave pending forever.
fn entry(id: StreamId) -> Entry {
    let value = match id.map.get("id") {
        Some(Value::BulkString(bytes)) => String::from_utf8(bytes.clone()).unwrap_or_default(),
        Some(Value::SimpleString(text)) => text.clone(),
        _ => String::new(),
    };
    Entry {
        stream_id: id.id,
        value,
    }
}
