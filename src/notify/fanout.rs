//! Fan-out: turns one domain event into notifications, one per recipient, and deliveries,
//! one per recipient, channel and device, written to the ledger in one transaction (with
//! COPY, so a cancellation reaching 100,000 families is a few statements), then queues a
//! job per delivery that is due now. Fanning out the same event twice writes nothing twice:
//! the event row is locked and marked fanned out in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::hub::Hub;
use super::links;
use super::policy::{self, Audience, Plan};
use crate::domain::events::utc_offset;
use crate::domain::ids::EventId;
use crate::store::deliveries::{self, NewDelivery, NewNotification, Relation};
use crate::store::{self, StoreError};

/// Payload fields copied into a notification's `data` (ids and kinds only).
const ID_FIELDS: &[&str] = &[
    "event_id",
    "signup_id",
    "student_id",
    "notice_id",
    "attempt_id",
    "test_id",
    "request_id",
];

/// What one fan-out did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanOutReport {
    pub notifications: usize,
    pub deliveries: usize,
    pub queued: usize,
}

/// Events read per round.
const BATCH: usize = 16;

/// The fan-out task: reads domain events (taking over those a dead consumer left
/// unacknowledged), fans each out, and acknowledges it only after its ledger rows are
/// committed.
pub async fn run(hub: Hub, shutdown: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    let mut consumer = super::streams::Consumer::new(
        hub.streams.events(),
        super::streams::FANOUT_GROUP,
        format!("{}:fanout", hub.consumer),
        hub.settings.claim_idle,
    );
    hub.streams
        .ensure_group(&consumer.stream, consumer.group)
        .await?;
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        if !hub.owns_prefix() {
            // Another installation holds the prefix: its jobs are not ours to take.
            tokio::select! {
                () = tokio::time::sleep(super::hub::IDLE) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
            continue;
        }
        let entries = consumer.next(&hub.streams, BATCH).await?;
        if entries.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(super::hub::IDLE) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
            continue;
        }
        for entry in entries {
            if let Ok(event_id) = entry.value.parse::<Uuid>() {
                let report = fan_out(&hub, event_id).await?;
                tracing::debug!(event = %event_id, notifications = report.notifications, deliveries = report.deliveries, "fanned out");
            }
            consumer.ack(&hub.streams, &[entry.stream_id]).await?;
        }
    }
}

/// Fans out one domain event (by its outbox `event_id`) and queues what is due now.
pub async fn fan_out(hub: &Hub, event_id: Uuid) -> Result<FanOutReport, StoreError> {
    let mut tx = hub.db.begin().await?;
    let Some(event) = store::outbox::lock_for_fanout(&mut *tx, event_id).await? else {
        return Ok(FanOutReport::default());
    };
    if event.fanned_out_at.is_some() {
        // Seen before (a job redelivered after a crash): nothing to do. Its deliveries
        // are in the ledger, and any whose job was lost is queued again by the reconciler.
        // Touching them here would lock rows the senders are working on.
        return Ok(FanOutReport::default());
    }
    let Some(policy) = policy::policy(&event.kind) else {
        deliveries::mark_fanned_out(&mut *tx, event_id).await?;
        tx.commit().await?;
        return Ok(FanOutReport::default());
    };
    let payload = &event.payload;
    let audience = audience(&mut tx, policy.audience, payload).await?;
    let accounts: Vec<Uuid> = audience.keys().copied().collect();
    let recipients = deliveries::recipients(&mut *tx, &accounts).await?;
    let context = Context::load(hub, &mut tx, payload).await?;
    let urgent = payload
        .get("urgent")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let now = Utc::now();
    let escalation = chrono::Duration::from_std(hub.settings.escalation_delay)
        .unwrap_or(chrono::Duration::minutes(15));

    let mut notifications = Vec::with_capacity(recipients.len());
    let mut planned_rows = Vec::with_capacity(recipients.len() * 2);
    let mut links_to_insert = Vec::new();
    let mut rendered: HashMap<(Relation, String), Option<super::templates::Text>> = HashMap::new();
    for recipient in &recipients {
        let Some(&relation) = audience.get(&recipient.account_id) else {
            continue;
        };
        let Some(plan) = policy.plan_for(relation) else {
            continue;
        };
        let language = recipient
            .language
            .clone()
            .unwrap_or_else(|| recipient.account_locale.clone());
        let text = rendered
            .entry((relation, language.clone()))
            .or_insert_with(|| {
                hub.templates
                    .render(&event.kind, relation, &language, &context.values(&language))
            })
            .clone();
        let Some(text) = text else { continue };
        let planned =
            policy::plan_deliveries(&event.kind, plan, urgent, recipient, now, escalation);
        if planned.is_empty() && !policy.inbox {
            continue;
        }
        let notification_id = Uuid::now_v7();
        let mut data = serde_json::Map::new();
        data.insert("kind".into(), json!(event.kind));
        data.insert("notification_id".into(), json!(notification_id));
        for field in ID_FIELDS {
            if let Some(value) = payload.get(*field).filter(|v| !v.is_null()) {
                data.insert((*field).into(), value.clone());
            }
        }
        let needs_link = plan == Plan::ApprovalRequest
            && planned.iter().any(|d| matches!(d.channel, "sms" | "email"));
        let link = match (needs_link, payload.get("signup_id").and_then(Value::as_str)) {
            (true, Some(signup)) => {
                let link_id = Uuid::now_v7();
                let expires_at = payload
                    .get("expires_at")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or(now + chrono::Duration::days(2));
                links_to_insert.push((
                    link_id,
                    signup.parse::<Uuid>().ok(),
                    recipient.account_id,
                    expires_at,
                ));
                Some(format!(
                    "{}/a/{}",
                    hub.settings.public_url,
                    links::approval_token(&hub.index, link_id)
                ))
            }
            _ => None,
        };
        notifications.push(NewNotification {
            id: notification_id,
            event_id,
            account_id: recipient.account_id,
            kind: event.kind.clone(),
            urgent,
            title: text.title,
            body: text.body,
            data: Value::Object(data),
            link,
            inbox: policy.inbox,
            event_created_at: event.created_at,
        });
        for delivery in planned {
            let due = delivery.at <= now;
            planned_rows.push(NewDelivery {
                id: Uuid::now_v7(),
                notification_id,
                account_id: recipient.account_id,
                channel: delivery.channel,
                device_token: delivery.device_token,
                escalation: delivery.escalation,
                next_attempt_at: delivery.at,
                queued_at: due.then_some(now),
            });
        }
    }
    deliveries::copy_notifications(&mut tx, &notifications).await?;
    deliveries::copy_deliveries(&mut tx, &planned_rows).await?;
    insert_links(&mut tx, &links_to_insert).await?;
    deliveries::mark_fanned_out(&mut *tx, event_id).await?;
    tx.commit().await?;

    let due: Vec<(Uuid, String)> = planned_rows
        .iter()
        .filter(|d| d.queued_at.is_some())
        .map(|d| (d.id, d.channel.to_owned()))
        .collect();
    let report = FanOutReport {
        notifications: notifications.len(),
        deliveries: planned_rows.len(),
        queued: due.len(),
    };
    hub.enqueue(due).await;
    Ok(report)
}

async fn insert_links(
    tx: &mut sqlx::PgConnection,
    links: &[(Uuid, Option<Uuid>, Uuid, DateTime<Utc>)],
) -> Result<(), StoreError> {
    let rows: Vec<_> = links
        .iter()
        .filter_map(|(id, signup, parent, at)| signup.map(|s| (*id, s, *parent, *at)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let signups: Vec<Uuid> = rows.iter().map(|r| r.1).collect();
    let parents: Vec<Uuid> = rows.iter().map(|r| r.2).collect();
    let expiries: Vec<DateTime<Utc>> = rows.iter().map(|r| r.3).collect();
    store::approval_links::insert(&mut *tx, &ids, &signups, &parents, &expiries).await
}

/// Who hears of the event, and as what; a parent who is also the subject hears as subject.
async fn audience(
    tx: &mut sqlx::PgConnection,
    audience: Audience,
    payload: &Value,
) -> Result<HashMap<Uuid, Relation>, StoreError> {
    let id = |field: &str| {
        payload
            .get(field)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Uuid>().ok())
    };
    let mut who = HashMap::new();
    match audience {
        Audience::Account => {
            if let Some(account) = id("account_id") {
                who.insert(account, Relation::Subject);
            }
        }
        Audience::StudentFamily => {
            if let Some(student) = id("student_id") {
                for parent in deliveries::parents_of(&mut *tx, student).await? {
                    who.insert(parent, Relation::Parent);
                }
                who.insert(student, Relation::Subject);
            }
        }
        Audience::FamilyChange => {
            if let Some(student) = id("student_id") {
                let (actor, subject) = (id("actor_id"), id("subject_id"));
                for parent in deliveries::parents_of(&mut *tx, student).await? {
                    if Some(parent) != actor && Some(parent) != subject {
                        who.insert(parent, Relation::Parent);
                    }
                }
                if let Some(subject) = subject.filter(|s| Some(*s) != actor) {
                    who.insert(subject, Relation::Subject);
                }
            }
        }
        Audience::EventParticipants | Audience::CancelledParticipants => {
            if let Some(event) = id("event_id") {
                let cancelled = audience == Audience::CancelledParticipants;
                for (account, is_parent) in
                    deliveries::event_audience(&mut *tx, event, cancelled).await?
                {
                    let relation = if is_parent {
                        Relation::Parent
                    } else {
                        Relation::Subject
                    };
                    who.entry(account)
                        .and_modify(|r| {
                            if relation == Relation::Subject {
                                *r = relation
                            }
                        })
                        .or_insert(relation);
                }
            }
        }
    }
    Ok(who)
}

/// The values templates are filled with, looked up once per event.
struct Context {
    event_title: String,
    time_zone: String,
    starts_at: Option<DateTime<Utc>>,
    old_starts_at: Option<DateTime<Utc>>,
    new_starts_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    reason: String,
    notice: String,
    test_title: String,
    consent_kind: String,
    erasure_due_at: Option<DateTime<Utc>>,
}

fn time_field(payload: &Value, field: &str) -> Option<DateTime<Utc>> {
    payload
        .get(field)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl Context {
    async fn load(
        hub: &Hub,
        tx: &mut sqlx::PgConnection,
        payload: &Value,
    ) -> Result<Self, StoreError> {
        let id = |field: &str| {
            payload
                .get(field)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Uuid>().ok())
        };
        let event = match id("event_id") {
            Some(event) => store::events::find(&mut *tx, EventId(event)).await?,
            None => None,
        };
        let notice = match id("notice_id") {
            Some(notice) => store::notices::text(&mut *tx, notice)
                .await?
                .unwrap_or_default(),
            None => String::new(),
        };
        Ok(Self {
            event_title: event.as_ref().map(|e| e.title.clone()).unwrap_or_default(),
            time_zone: event
                .as_ref()
                .map(|e| e.time_zone.clone())
                .unwrap_or_else(|| "Europe/Moscow".to_owned()),
            starts_at: time_field(payload, "event_starts_at")
                .or_else(|| time_field(payload, "starts_at"))
                .or(event.as_ref().map(|e| e.starts_at)),
            old_starts_at: time_field(payload, "old_starts_at"),
            new_starts_at: time_field(payload, "new_starts_at"),
            expires_at: time_field(payload, "expires_at"),
            reason: event
                .as_ref()
                .and_then(|e| e.cancel_reason.clone())
                .unwrap_or_default(),
            notice,
            test_title: payload
                .get("test_id")
                .and_then(Value::as_str)
                .and_then(|id| hub.catalog.latest(id))
                .map(|test| test.title.clone())
                .unwrap_or_default(),
            consent_kind: payload
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            erasure_due_at: time_field(payload, "erasure_due_at"),
        })
    }

    fn values(&self, language: &str) -> HashMap<&'static str, String> {
        let when = |t: Option<DateTime<Utc>>| {
            t.map(|t| format_local(t, &self.time_zone, language))
                .unwrap_or_default()
        };
        HashMap::from([
            ("event_title", self.event_title.clone()),
            ("starts_at", when(self.starts_at)),
            ("old_starts_at", when(self.old_starts_at)),
            ("new_starts_at", when(self.new_starts_at)),
            ("expires_at", when(self.expires_at)),
            ("reason", self.reason.clone()),
            ("notice", self.notice.clone()),
            ("test_title", self.test_title.clone()),
            ("consent_kind", consent_words(&self.consent_kind, language)),
            ("erasure_due_at", when(self.erasure_due_at)),
            // `{code}` stays in the text: the e-mail sender fills it in (see `codes`).
        ])
    }
}

/// What a consent covers, as the sentence "… withdrew the consent {consent_kind}" needs it.
fn consent_words(kind: &str, language: &str) -> String {
    let words = match (kind, language) {
        ("personal_data", "en") => "to the processing of the child's personal data",
        ("health_data", "en") => "to the processing of the child's health data",
        ("photo_video", "en") => "to photos and videos of the child",
        ("personal_data", _) => "на обработку персональных данных ребёнка",
        ("health_data", _) => "на обработку сведений о здоровье ребёнка",
        ("photo_video", _) => "на фото- и видеосъёмку ребёнка",
        _ => "",
    };
    words.to_owned()
}

/// "5 декабря, 14:00" or "5 December, 14:00", in the event's local time.
pub fn format_local(at: DateTime<Utc>, zone: &str, language: &str) -> String {
    const RU: [&str; 12] = [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let local = at.with_timezone(&utc_offset(zone));
    let months = if language == "en" { EN } else { RU };
    format!(
        "{} {}, {:02}:{:02}",
        local.day(),
        months[local.month0() as usize],
        local.hour(),
        local.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_events_local_time() {
        let at = DateTime::parse_from_rfc3339("2026-12-05T11:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_local(at, "Europe/Moscow", "ru"), "5 декабря, 14:00");
        assert_eq!(
            format_local(at, "Asia/Vladivostok", "en"),
            "5 December, 21:00"
        );
    }
}
