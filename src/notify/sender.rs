//! A channel's sender: reads delivery jobs (taking over those a dead consumer left
//! unacknowledged), claims their ledger rows (a row already delivered, failed or leased
//! elsewhere is skipped, so a redelivered job sends nothing twice), sends through the
//! channel concurrently, records every outcome, and only then acknowledges the jobs.
//! Retries back off exponentially with jitter and honour Retry-After; past the limit, or on
//! a permanent failure, a delivery is dead-lettered; a dead token is deactivated.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use futures_util::StreamExt;
use rand::Rng as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::hub::{Hub, IDLE};
use super::in_flight::InFlightLimit;
use super::links;
use super::providers::{ChannelKind, OutboundMessage, Recipient, SendError};
use super::streams::{Consumer, SENDERS_GROUP};
use crate::domain::domain_events::{Kind, UnreadableEvent};
use crate::domain::ids::DeliveryId;
use crate::domain::roles::Role;
use crate::privacy::vault::fields;
use crate::store::deliveries::{self, ClaimedDelivery, Outcome};
use crate::store::{self, StoreError};

/// Kinds whose push offers approve / decline buttons: requests for a parent's decision,
/// which stop standing once the sign-up is decided, withdrawn or expired, or the event is
/// cancelled or has begun.
const DECISION_KINDS: [Kind; 3] = [
    Kind::SignupRequested,
    Kind::WaitlistPromoted,
    Kind::SignupExpiringSoon,
];
/// Kinds about an event that stop standing once it is cancelled or over (the cancellation
/// notice itself supersedes them).
const EVENT_NOTICE_KINDS: [Kind; 2] = [Kind::EventRescheduled, Kind::OrganizerNotice];
/// Kinds about one start of an event, that stop standing once it is cancelled, moved or
/// has begun, or the recipient is no longer approved for it.
const START_KINDS: [Kind; 1] = [Kind::EventReminder];
/// Kinds that are not essential: their e-mail carries a one-click unsubscribe.
const OPTIONAL_KINDS: [Kind; 9] = [
    Kind::EventReminder,
    Kind::SignupApproved,
    Kind::SignupDeclined,
    Kind::SignupExpired,
    Kind::SignupWithdrawn,
    Kind::OrganizerNotice,
    Kind::ResultsReady,
    Kind::RecommendationsReady,
    Kind::ChildCheckedIn,
];
/// The app's notification category for approve / decline actions.
pub const DECISION_CATEGORY: &str = "SIGNUP_DECISION";

pub fn task_name(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Apns => "hub-sender-apns",
        ChannelKind::Fcm => "hub-sender-fcm",
        ChannelKind::Rustore => "hub-sender-rustore",
        ChannelKind::Sms => "hub-sender-sms",
        ChannelKind::Email => "hub-sender-email",
    }
}

/// The sender task of one channel.
pub async fn run(
    hub: Hub,
    channel: ChannelKind,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut consumer = Consumer::new(
        hub.streams.deliveries(channel.as_str()),
        SENDERS_GROUP,
        format!("{}:{}", hub.consumer, channel.as_str()),
        hub.settings.claim_idle,
    );
    hub.streams
        .ensure_group(&consumer.stream, consumer.group)
        .await?;
    let mut limit = InFlightLimit::new(hub.settings.concurrency);
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
        let entries = consumer.next(&hub.streams, hub.settings.batch).await?;
        if entries.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(IDLE) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
            continue;
        }
        let ids: Vec<DeliveryId> = entries
            .iter()
            .filter_map(|e| e.value.parse::<Uuid>().ok().map(DeliveryId))
            .collect();
        // A database error (a lost connection, a failover) is retried here with the jobs in
        // hand: they are ours, and another consumer would only take them over after the
        // claim-idle time. Sending them again is safe, since the claim skips what is done.
        let mut failures = 0u32;
        while let Err(err) = send_batch(&hub, channel, &ids, &mut limit).await {
            if shutdown.is_cancelled() {
                return Err(err.into());
            }
            failures += 1;
            if failures == 1 {
                tracing::warn!(channel = channel.as_str(), error = %crate::telemetry::error_chain(&err), "a round failed on the database; retrying it");
            }
            tokio::time::sleep(retry_pause(failures)).await;
        }
        let stream_ids: Vec<String> = entries.into_iter().map(|e| e.stream_id).collect();
        consumer.ack(&hub.streams, &stream_ids).await?;
    }
}

/// Claims, sends and records a batch of deliveries; returns how many were claimed.
///
/// Rows are claimed `BILET_HUB_CONCURRENCY` at a time (a claim is a round trip to the
/// database), the next chunk as soon as fewer than a window's worth are left to send, and
/// sent through a window that refills as answers arrive, as wide as the channel's
/// [`InFlightLimit`] allows: a slow answer does not hold up the others, and no more is in
/// flight than the provider's speed needs. Each answer is marked in Redis the moment it
/// arrives, and outcomes are recorded as soon as the previous record is written: a crash or
/// a lost database connection re-sends only what was truly in flight. Once outcomes cannot
/// be written, nothing more is sent: a send whose outcome is not recorded goes again.
pub async fn send_batch(
    hub: &Hub,
    channel: ChannelKind,
    ids: &[DeliveryId],
    limit: &mut InFlightLimit,
) -> Result<usize, StoreError> {
    let ceiling = hub.settings.concurrency.max(1);
    let unmarked = std::sync::atomic::AtomicUsize::new(0);
    let (done, mut answered) = tokio::sync::mpsc::channel::<Answered>(ceiling);
    let sending = async {
        let mut unclaimed = ids;
        let mut ready = std::collections::VecDeque::<Claimed>::new();
        let mut claiming = None;
        let mut in_flight = futures_util::stream::FuturesUnordered::new();
        let (mut claimed_count, mut left_to_lease) = (0, 0);
        loop {
            if claiming.is_none() && ready.len() < limit.current() && !unclaimed.is_empty() {
                let (next, rest) = unclaimed.split_at(ceiling.min(unclaimed.len()));
                unclaimed = rest;
                claiming = Some(Box::pin(claim_chunk(hub, channel, next)));
            }
            // The window refills in steps of an eighth of it, not a send per answer: sends
            // written together share the connection's writes and their answers its reads.
            let room = limit.current().saturating_sub(in_flight.len());
            let refill = room > 0 && (room * 8 >= limit.current() || in_flight.is_empty());
            while refill && in_flight.len() < limit.current() {
                let Some(claimed) = ready.pop_front() else {
                    break;
                };
                // A row that waited half its lease for a place (a provider timing out
                // with the window at its narrowest) is left to its lease: the reconciler
                // gives it back and it is sent then, rather than sent by a holder whose
                // lease may end before the answer comes.
                if claimed
                    .lease_ends
                    .saturating_duration_since(tokio::time::Instant::now())
                    < hub.settings.lease / 2
                {
                    left_to_lease += 1;
                    continue;
                }
                in_flight.push(send_claimed(hub, channel, claimed, &unmarked));
            }
            if in_flight.is_empty() && claiming.is_none() {
                break;
            }
            tokio::select! {
                claimed = async { claiming.as_mut().expect("guarded").await }, if claiming.is_some() => {
                    claiming = None;
                    let claimed = claimed?;
                    claimed_count += claimed.len();
                    ready.extend(claimed);
                }
                Some(sent) = in_flight.next(), if !in_flight.is_empty() => {
                    let (took, answer) = sent;
                    match took {
                        Some(Took::Answered(took)) => limit.answered(took),
                        Some(Took::Throttled) => limit.throttled(),
                        None => {}
                    }
                    // The recorder only stops early on its own error, reported below; sending
                    // on would only make messages whose outcome cannot be written.
                    if done.send(answer?).await.is_err() {
                        break;
                    }
                }
            }
        }
        hub.metrics
            .in_flight_limit(channel.as_str(), limit.current());
        if left_to_lease > 0 {
            tracing::warn!(
                channel = channel.as_str(),
                deliveries = left_to_lease,
                "deliveries waited half their lease for a place in flight; left for the reconciler to give back"
            );
        }
        drop(done);
        Ok::<usize, StoreError>(claimed_count)
    };
    let recording = async {
        let (mut batch, mut sent, mut recorded) = (Vec::new(), 0, 0);
        while answered.recv_many(&mut batch, ceiling).await > 0 {
            // Answers a few milliseconds apart share one statement and one commit (each
            // commit waits for the WAL's flush): the provider's acceptance is already
            // marked in Redis, so the wait sends nothing twice after a crash.
            let gathered_until = tokio::time::Instant::now() + hub.settings.record_gather;
            while batch.len() < ceiling {
                let room = ceiling - batch.len();
                match tokio::time::timeout_at(gathered_until, answered.recv_many(&mut batch, room))
                    .await
                {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            recorded += record(hub, channel, &batch).await?;
            sent += batch.len() as u64;
            batch.clear();
        }
        Ok::<_, StoreError>((sent, recorded))
    };
    let (sending, recording) = tokio::join!(sending, recording);
    let (sent, recorded) = recording?;
    let claimed = sending?;
    let unmarked = unmarked.into_inner();
    if unmarked > 0 {
        // Redis is away: the ledger still records every answer, only a crash in the next
        // few milliseconds would send these again.
        tracing::warn!(
            channel = channel.as_str(),
            answers = unmarked,
            "could not mark provider answers in Redis"
        );
    }
    if recorded < sent {
        // Leases ran out before the sends finished: those rows were handed to another
        // attempt, which records its own outcome.
        tracing::warn!(
            channel = channel.as_str(),
            sent,
            recorded,
            "outcomes arrived after their leases expired"
        );
    }
    Ok(claimed)
}

/// A claimed delivery, with the provider's id if an earlier attempt's send was accepted,
/// and when its lease ends.
struct Claimed {
    delivery: ClaimedDelivery,
    accepted_before: Option<String>,
    lease_ends: tokio::time::Instant,
}

/// An answered delivery on its way to the ledger.
struct Answered {
    id: DeliveryId,
    attempts: i32,
    outcome: Outcome,
    lease_ends: tokio::time::Instant,
}

/// What a send says of the provider's speed.
enum Took {
    /// It answered (accepting or refusing) after this long.
    Answered(std::time::Duration),
    /// It asked to be tried again later: a rate limit, an outage, a timeout.
    Throttled,
}

/// Claims one chunk of the batch's rows and looks up which an earlier attempt had sent.
async fn claim_chunk(
    hub: &Hub,
    channel: ChannelKind,
    ids: &[DeliveryId],
) -> Result<Vec<Claimed>, StoreError> {
    let claimed = {
        let mut conn = hub.db.acquire().await?;
        deliveries::claim(
            &mut conn,
            ids,
            hub.settings.lease.as_secs() as i64,
            &hub.consumer,
            deliveries::Settled {
                by_signup: &DECISION_KINDS.map(Kind::as_str),
                by_event: &EVENT_NOTICE_KINDS.map(Kind::as_str),
                by_start: &START_KINDS.map(Kind::as_str),
            },
        )
        .await?
    };
    let lease_ends = tokio::time::Instant::now() + hub.settings.lease;
    let mut accepted_before = accepted_before(hub, channel, &claimed).await;
    Ok(claimed
        .into_iter()
        .map(|delivery| Claimed {
            accepted_before: accepted_before.remove(&delivery.id),
            delivery,
            lease_ends,
        })
        .collect())
}

/// Sends one claimed delivery (unless an earlier attempt's send was accepted: then it is
/// recorded, not sent again), marks a provider's acceptance in Redis, and turns the answer
/// into the ledger's outcome.
async fn send_claimed(
    hub: &Hub,
    channel: ChannelKind,
    claimed: Claimed,
    unmarked: &std::sync::atomic::AtomicUsize,
) -> (Option<Took>, Result<Answered, StoreError>) {
    let Claimed {
        delivery,
        accepted_before,
        lease_ends,
    } = claimed;
    let (took, result) = match accepted_before {
        // Accepted under an earlier attempt whose sender died before the ledger had it:
        // recorded now, not sent again.
        Some(provider_id) => (None, Ok(provider_id)),
        None => {
            let (result, took) = send_one(hub, channel, &delivery).await;
            if let Ok(provider_id) = &result {
                let mark = [(delivery.id, provider_id.as_str())];
                if hub
                    .streams
                    .mark_answered(channel.as_str(), &mark, hub.settings.lease * 2)
                    .await
                    .is_err()
                {
                    unmarked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let took = took.map(|took| match &result {
                Err(SendError::RetryAfter { .. }) => Took::Throttled,
                _ => Took::Answered(took),
            });
            (took, result)
        }
    };
    let answer = outcome_of(hub, channel, &delivery, result)
        .await
        .map(|outcome| Answered {
            id: delivery.id,
            attempts: delivery.attempts,
            outcome,
            lease_ends,
        });
    (took, answer)
}

/// The providers' ids of the claimed deliveries a provider accepted under an earlier
/// attempt (by their Redis marks). Only a second or later attempt can have one; when
/// Redis cannot say, they are sent again (at least once, never lost).
async fn accepted_before(
    hub: &Hub,
    channel: ChannelKind,
    claimed: &[ClaimedDelivery],
) -> std::collections::HashMap<DeliveryId, String> {
    let again: Vec<DeliveryId> = claimed
        .iter()
        .filter(|d| d.attempts > 1)
        .map(|d| d.id)
        .collect();
    if again.is_empty() {
        return Default::default();
    }
    match hub.streams.answered(channel.as_str(), &again).await {
        Ok(marks) => {
            let found: std::collections::HashMap<DeliveryId, String> = again
                .into_iter()
                .zip(marks)
                .filter_map(|(id, mark)| Some((id, mark?)))
                .collect();
            if !found.is_empty() {
                tracing::info!(
                    channel = channel.as_str(),
                    deliveries = found.len(),
                    "recorded deliveries a provider had accepted before their sender stopped; not sending them again"
                );
            }
            found
        }
        Err(err) => {
            tracing::warn!(channel = channel.as_str(), deliveries = again.len(), error = %err, "could not read answer marks from Redis; sending these again");
            Default::default()
        }
    }
}

/// Records outcomes, retrying a database error until the earliest of their leases runs
/// out: the providers have answered, and an outcome not written is a message sent again.
async fn record(hub: &Hub, channel: ChannelKind, batch: &[Answered]) -> Result<u64, StoreError> {
    let lease_ends = batch
        .iter()
        .map(|answered| answered.lease_ends)
        .min()
        .unwrap_or_else(tokio::time::Instant::now);
    let outcomes: Vec<(DeliveryId, i32, &Outcome)> = batch
        .iter()
        .map(|answered| (answered.id, answered.attempts, &answered.outcome))
        .collect();
    let mut failures = 0u32;
    loop {
        let written = async {
            let mut conn = hub.db.acquire().await?;
            deliveries::record(&mut conn, &outcomes).await
        }
        .await;
        match written {
            Ok(recorded) => {
                if failures > 0 {
                    tracing::info!(
                        channel = channel.as_str(),
                        outcomes = batch.len(),
                        failures,
                        "outcomes recorded after the database came back"
                    );
                }
                return Ok(recorded);
            }
            Err(err) => {
                failures += 1;
                let pause = retry_pause(failures);
                if tokio::time::Instant::now() + pause >= lease_ends {
                    return Err(err);
                }
                if failures == 1 {
                    tracing::warn!(channel = channel.as_str(), outcomes = batch.len(), error = %crate::telemetry::error_chain(&err), "could not record outcomes; retrying");
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// 50 ms, doubling, at most 2 s.
fn retry_pause(failures: u32) -> std::time::Duration {
    std::time::Duration::from_millis(50u64 << failures.saturating_sub(1).min(5))
        .min(std::time::Duration::from_secs(2))
}

/// What a provider's answer means for the ledger (dead-lettering or deactivating a token
/// on the way).
async fn outcome_of(
    hub: &Hub,
    channel: ChannelKind,
    delivery: &ClaimedDelivery,
    result: Result<String, SendError>,
) -> Result<Outcome, StoreError> {
    let now = Utc::now();
    let label = match &result {
        Ok(_) => "delivered",
        Err(err) => err.label(),
    };
    hub.metrics.delivery(channel.as_str(), label);
    Ok(match result {
        Ok(provider_id) => {
            let latency = (now - delivery.event_created_at)
                .to_std()
                .unwrap_or_default();
            hub.metrics.delivery_latency(channel.as_str(), latency);
            Outcome::Delivered { provider_id }
        }
        Err(SendError::RetryAfter { after, reason })
            if delivery.attempts < hub.settings.max_attempts =>
        {
            let wait =
                backoff(hub, delivery.attempts).max(Duration::from_std(after).unwrap_or_default());
            Outcome::Retry {
                at: now + wait,
                reason,
            }
        }
        Err(SendError::RetryAfter { reason, .. }) => {
            dead_letter(
                hub,
                delivery,
                &format!("gave up after {} attempts: {reason}", delivery.attempts),
            )
            .await
        }
        Err(SendError::Permanent(reason)) => {
            dead_letter(hub, delivery, &format!("permanent: {reason}")).await
        }
        Err(SendError::TokenInvalid) => {
            if let Some(token) = &delivery.device_token {
                store::devices::deactivate(
                    &hub.db,
                    token,
                    "the provider reported the token invalid",
                )
                .await?;
            }
            Outcome::Failed {
                reason: "token_invalid".to_owned(),
            }
        }
    })
}

async fn dead_letter(hub: &Hub, delivery: &ClaimedDelivery, reason: &str) -> Outcome {
    if let Err(err) = hub
        .streams
        .add_dead_letter(&delivery.id.to_string(), delivery.channel.as_str(), reason)
        .await
    {
        // The ledger status is the record; the stream is a convenience for operators.
        tracing::warn!(delivery = %delivery.id, error = %err, "could not append to the dead-letter stream");
    }
    Outcome::Dead {
        reason: reason.to_owned(),
    }
}

/// Exponential backoff from the configured base, capped at ten minutes, with ±20% jitter.
fn backoff(hub: &Hub, attempts: i32) -> Duration {
    let base = hub.settings.retry_base.as_millis() as f64;
    let exponent = attempts.saturating_sub(1).clamp(0, 20);
    let raw = (base * 2f64.powi(exponent)).min(600_000.0);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    Duration::milliseconds((raw * jitter) as i64)
}

/// Builds the message for one delivery and sends it: the provider's id on success, and how
/// long the provider took to answer if it was asked.
async fn send_one(
    hub: &Hub,
    channel: ChannelKind,
    delivery: &ClaimedDelivery,
) -> (Result<String, SendError>, Option<std::time::Duration>) {
    let message = match message_for(hub, channel, delivery).await {
        Ok(message) => message,
        Err(err) => return (Err(err), None),
    };
    let started = std::time::Instant::now();
    let result = hub
        .channels
        .send(&message)
        .await
        .map(|delivered| delivered.provider_id);
    (result, Some(started.elapsed()))
}

/// The message one delivery sends: its recipient opened, its codes filled in, its collapse
/// keys, category and unsubscribe link set.
async fn message_for(
    hub: &Hub,
    channel: ChannelKind,
    delivery: &ClaimedDelivery,
) -> Result<OutboundMessage, SendError> {
    let to = match channel {
        ChannelKind::Apns | ChannelKind::Fcm | ChannelKind::Rustore => delivery
            .device_token
            .clone()
            .map(Recipient::DeviceToken)
            .ok_or_else(|| SendError::permanent("a push delivery without a device"))?,
        ChannelKind::Sms => {
            let sealed = delivery
                .phone_enc
                .as_deref()
                .ok_or_else(|| SendError::permanent("no phone number on the profile"))?;
            let field = if delivery.role == Role::Student {
                fields::STUDENT_PHONE
            } else {
                fields::PARENT_PHONE
            };
            let phone = hub
                .vault
                .open(field, delivery.account_id.0, sealed)
                .map_err(|_| SendError::permanent("the phone number could not be decrypted"))?;
            Recipient::Phone(phone)
        }
        ChannelKind::Email => Recipient::Email(delivery.email.clone()),
    };
    // A kind this build does not know cannot be sent as the policy meant it: it fails,
    // visibly in the ledger, rather than going out half-dressed.
    let kind: Kind = delivery
        .kind
        .parse()
        .map_err(|err: UnreadableEvent| SendError::permanent(err.to_string()))?;
    let (mut title, mut body) = (delivery.title.clone(), delivery.body.clone());
    super::codes::fill(
        hub,
        kind,
        delivery.notification_id.0,
        delivery.account_id.0,
        channel == ChannelKind::Email,
        &mut title,
        &mut body,
    )
    .await?;
    let mut message = OutboundMessage::new(channel, to, kind.as_str(), title, body);
    message.delivery_id = delivery.id.0;
    message.urgent = delivery.urgent;
    message.data = data_of(&delivery.data);
    message
        .data
        .insert("delivery_id".to_owned(), delivery.id.to_string());
    message.collapse_key = message.data.get("event_id").cloned();
    message.replaces = message
        .collapse_key
        .clone()
        .or_else(|| message.data.get("notification_id").cloned());
    if matches!(channel, ChannelKind::Sms | ChannelKind::Email) {
        message.link = delivery.link.clone();
    }
    if DECISION_KINDS.contains(&kind) {
        message.category = Some(DECISION_CATEGORY.to_owned());
    }
    if OPTIONAL_KINDS.contains(&kind) {
        message.essential = false;
        message.unsubscribe_url = Some(format!(
            "{}/u/{}",
            hub.settings.public_url,
            links::unsubscribe_token(&hub.index, delivery.account_id.0, kind.as_str())
        ));
    }
    if delivery.urgent {
        message.ttl = std::time::Duration::from_secs(6 * 3600);
    }
    Ok(message)
}

/// A notification's `data` as the string map push payloads and the inbox carry.
pub fn data_of(data: &Value) -> BTreeMap<String, String> {
    data.as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
