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
use super::policy::{self, Plan};
use crate::domain::consents::ConsentKind;
use crate::domain::domain_events::{Concerned, DomainEvent, Facts, UnreadableEvent};
use crate::domain::events::utc_offset;
use crate::domain::ids::{AccountId, DeliveryId, DomainEventId, EventId, NotificationId};
use crate::notify::providers::ChannelKind;
use crate::store::deliveries::{self, NewDelivery, NewNotification, Participants, Relation};
use crate::store::{self, StoreError};

/// Why a fan-out did not happen.
#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outbox holds an event this build cannot read. It stays there, not fanned out:
    /// the reconciler offers it again, and a build that knows it fans it out.
    #[error("domain event {event_id} cannot be read: {reason}")]
    Unreadable {
        event_id: DomainEventId,
        reason: UnreadableEvent,
    },
}

impl From<sqlx::Error> for FanOutError {
    fn from(err: sqlx::Error) -> Self {
        FanOutError::Store(err.into())
    }
}

/// What one fan-out did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanOutReport {
    pub notifications: usize,
    pub deliveries: usize,
    pub queued: usize,
}

/// Events read per round.
const BATCH: usize = 16;
/// A fan-out that took this long to queue its jobs tells the reconciler (see
/// [`super::streams::Streams::note_fanout_lag`]); shorter ones are far below
/// `BILET_HUB_REQUEUE_AFTER`.
const NOTED_LAG: std::time::Duration = std::time::Duration::from_secs(1);
/// Jobs queued per second at the least while the senders work beside the queuing (about
/// 80,000 were measured at a million recipients): bounds the lag noted before queuing.
const QUEUED_PER_SEC_AT_LEAST: u64 = 20_000;

/// Tells the reconciler of a fan-out's lag, when it matters.
async fn note_lag(hub: &Hub, lag: std::time::Duration) {
    if lag >= NOTED_LAG
        && let Err(err) = hub.streams.note_fanout_lag(lag).await
    {
        tracing::warn!(error = %err, "could not note the fan-out's lag; the reconciler may queue its jobs twice");
    }
}

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
                match fan_out(&hub, DomainEventId(event_id)).await {
                    Ok(report) => {
                        tracing::debug!(event = %event_id, notifications = report.notifications, deliveries = report.deliveries, "fanned out");
                    }
                    Err(err @ FanOutError::Unreadable { .. }) => {
                        // Not skipped in silence: it is left in the outbox and said each
                        // time it comes round again, until a build that knows it runs.
                        tracing::error!(error = %err, "a domain event was left in the outbox unannounced");
                    }
                    Err(FanOutError::Store(err)) => return Err(err.into()),
                }
            }
            consumer.ack(&hub.streams, &[entry.stream_id]).await?;
        }
    }
}

/// Fans out one domain event (by its outbox `event_id`) and queues what is due now.
///
/// An event's participants (a cancellation may reach a million families) are read through
/// a cursor a page at a time, and each page's rows are written with COPY before the next
/// is read, all in the one transaction that marks the event fanned out; what stays in
/// memory to the end is the due deliveries' ids and channels (17 bytes each), queued
/// after the commit.
pub async fn fan_out(hub: &Hub, event_id: DomainEventId) -> Result<FanOutReport, FanOutError> {
    let mut tx = hub.db.begin().await?;
    let Some(row) = store::outbox::lock_for_fanout(&mut *tx, event_id.0).await? else {
        return Ok(FanOutReport::default());
    };
    if row.fanned_out_at.is_some() {
        // Seen before (a job redelivered after a crash): nothing to do. Its deliveries
        // are in the ledger, and any whose job was lost is queued again by the reconciler.
        // Touching them here would lock rows the senders are working on.
        return Ok(FanOutReport::default());
    }
    let event = DomainEvent::from_stored(&row.kind, row.payload)
        .map_err(|reason| FanOutError::Unreadable { event_id, reason })?;
    let facts = event.facts();
    let context = Context::load(hub, &mut tx, &facts).await?;
    let mut page = Page::new(hub, &event, facts, context, event_id, row.created_at);
    let mut due = Vec::new();
    let mut report = FanOutReport::default();
    match participants(event.concerned()) {
        Some((event, which)) => {
            deliveries::open_event_recipients(&mut tx, event, which).await?;
            loop {
                let rows =
                    deliveries::next_event_recipients(&mut tx, hub.settings.fanout_page).await?;
                if rows.is_empty() {
                    break;
                }
                for row in &rows {
                    let relation = if row.is_parent {
                        Relation::Parent
                    } else {
                        Relation::Subject
                    };
                    page.add(&row.recipient, relation);
                }
                due.push(page.write(&mut tx, &mut report).await?);
            }
        }
        None => {
            let audience = audience(&mut tx, event.concerned()).await?;
            let accounts: Vec<AccountId> = audience.keys().copied().collect();
            for recipient in deliveries::recipients(&mut *tx, &accounts).await? {
                if let Some(&relation) = audience.get(&recipient.account_id) {
                    page.add(&recipient, relation);
                }
            }
            due.push(page.write(&mut tx, &mut report).await?);
        }
    }
    deliveries::mark_fanned_out(&mut *tx, event_id).await?;
    tx.commit().await?;
    // The deliveries were stamped queued when planning began; their jobs reach the streams
    // only from now on. A long fan-out says so before it queues (the reconciler runs
    // meanwhile), with a generous bound on the queuing, and again with the true lag after.
    let planned_at = page.now;
    let lag = || (Utc::now() - planned_at).to_std().unwrap_or_default();
    let queuing = std::time::Duration::from_secs(report.queued as u64 / QUEUED_PER_SEC_AT_LEAST);
    note_lag(hub, lag() + queuing).await;
    hub.enqueue(due.into_iter().flatten()).await;
    note_lag(hub, lag()).await;
    Ok(report)
}

/// The rows of one page of recipients, built from the event and written together.
struct Page<'a> {
    hub: &'a Hub,
    event: DomainEvent,
    event_id: DomainEventId,
    event_created_at: DateTime<Utc>,
    kind: crate::domain::domain_events::Kind,
    policy: &'static policy::KindPolicy,
    facts: Facts,
    context: Context,
    urgent: bool,
    ids: Vec<(&'static str, String)>,
    now: DateTime<Utc>,
    escalation: chrono::Duration,
    /// Texts by audience and language, rendered once per event.
    rendered: HashMap<(Relation, String), Option<super::templates::Text>>,
    notifications: Vec<NewNotification>,
    deliveries: Vec<NewDelivery>,
    links: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>)>,
}

impl<'a> Page<'a> {
    fn new(
        hub: &'a Hub,
        event: &DomainEvent,
        facts: Facts,
        context: Context,
        event_id: DomainEventId,
        event_created_at: DateTime<Utc>,
    ) -> Self {
        let kind = event.kind();
        let policy = policy::policy(kind);
        Self {
            hub,
            event: event.clone(),
            event_id,
            event_created_at,
            kind,
            policy,
            ids: push_ids(&facts, policy.data),
            facts,
            context,
            urgent: event.urgent(),
            now: Utc::now(),
            escalation: chrono::Duration::from_std(hub.settings.escalation_delay)
                .unwrap_or(chrono::Duration::minutes(15)),
            rendered: HashMap::new(),
            notifications: Vec::new(),
            deliveries: Vec::new(),
            links: Vec::new(),
        }
    }

    /// Plans the notification and deliveries of one recipient, if the policy and the
    /// templates give them any.
    fn add(&mut self, recipient: &deliveries::RecipientRow, relation: Relation) {
        let (hub, kind, policy, now) = (self.hub, self.kind, self.policy, self.now);
        let Some(plan) = policy.plan_for(relation) else {
            return;
        };
        let plan = policy::plan_of(&self.event, plan);
        let language = recipient
            .language
            .clone()
            .unwrap_or_else(|| recipient.account_locale.clone());
        let context = &self.context;
        let text = self
            .rendered
            .entry((relation, language.clone()))
            .or_insert_with(|| {
                hub.templates
                    .render(kind, relation, &language, &context.values(&language))
            })
            .clone();
        let Some(text) = text else { return };
        let planned =
            policy::plan_deliveries(kind, plan, self.urgent, recipient, now, self.escalation);
        if planned.is_empty() && !policy.inbox {
            return;
        }
        let notification_id = NotificationId::new();
        let mut data = serde_json::Map::new();
        data.insert("kind".into(), json!(kind));
        data.insert("notification_id".into(), json!(notification_id));
        for (field, value) in &self.ids {
            data.insert((*field).into(), json!(value));
        }
        let needs_link = plan == Plan::ApprovalRequest
            && planned
                .iter()
                .any(|d| matches!(d.channel, ChannelKind::Sms | ChannelKind::Email));
        let link = match (needs_link, self.facts.signup_id) {
            (true, Some(signup)) => {
                let link_id = Uuid::now_v7();
                let expires_at = self
                    .facts
                    .expires_at
                    .unwrap_or(now + chrono::Duration::days(2));
                self.links
                    .push((link_id, signup.0, recipient.account_id.0, expires_at));
                Some(format!(
                    "{}/a/{}",
                    hub.settings.public_url,
                    links::approval_token(&hub.index, link_id)
                ))
            }
            _ => None,
        };
        self.notifications.push(NewNotification {
            id: notification_id,
            event_id: self.event_id,
            account_id: recipient.account_id,
            kind: kind.as_str().to_owned(),
            urgent: self.urgent,
            title: text.title,
            body: text.body,
            data: Value::Object(data),
            link,
            inbox: policy.inbox,
            event_created_at: self.event_created_at,
        });
        for delivery in planned {
            let due = delivery.at <= now;
            self.deliveries.push(NewDelivery {
                id: DeliveryId::new(),
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

    /// Writes the page's rows in the transaction and empties it; returns the deliveries
    /// due now, to queue once the transaction has committed.
    async fn write(
        &mut self,
        tx: &mut sqlx::PgConnection,
        report: &mut FanOutReport,
    ) -> Result<Vec<(DeliveryId, ChannelKind)>, StoreError> {
        deliveries::copy_notifications(&mut *tx, &self.notifications).await?;
        deliveries::copy_deliveries(&mut *tx, &self.deliveries).await?;
        insert_links(&mut *tx, &self.links).await?;
        let due: Vec<(DeliveryId, ChannelKind)> = self
            .deliveries
            .iter()
            .filter(|d| d.queued_at.is_some())
            .map(|d| (d.id, d.channel))
            .collect();
        report.notifications += self.notifications.len();
        report.deliveries += self.deliveries.len();
        report.queued += due.len();
        self.notifications.clear();
        self.deliveries.clear();
        self.links.clear();
        Ok(due)
    }
}

async fn insert_links(
    tx: &mut sqlx::PgConnection,
    rows: &[(Uuid, Uuid, Uuid, DateTime<Utc>)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let signups: Vec<Uuid> = rows.iter().map(|r| r.1).collect();
    let parents: Vec<Uuid> = rows.iter().map(|r| r.2).collect();
    let expiries: Vec<DateTime<Utc>> = rows.iter().map(|r| r.3).collect();
    store::approval_links::insert(&mut *tx, &ids, &signups, &parents, &expiries).await
}

/// The ids a push of the kind carries (its policy's `data`), from the event's facts.
fn push_ids(facts: &Facts, wanted: &[&'static str]) -> Vec<(&'static str, String)> {
    wanted
        .iter()
        .filter_map(|field| {
            let value = match *field {
                "event_id" => facts.event_id.map(|id| id.to_string()),
                "signup_id" => facts.signup_id.map(|id| id.to_string()),
                "student_id" => facts.student_id.map(|id| id.to_string()),
                "notice_id" => facts.notice_id.map(|id| id.to_string()),
                "attempt_id" => facts.attempt_id.map(|id| id.to_string()),
                "request_id" => facts.request_id.map(|id| id.to_string()),
                "test_id" => facts.test_id.clone(),
                _ => None,
            };
            value.map(|v| (*field, v))
        })
        .collect()
}

/// The event and which of its participants, when a notice goes to an event's participants.
fn participants(concerned: Concerned) -> Option<(EventId, Participants)> {
    match concerned {
        Concerned::EventParticipants(event) => Some((event, Participants::Live)),
        Concerned::CancelledParticipants(event) => Some((event, Participants::Cancelled)),
        Concerned::ApprovedParticipants(event) => Some((event, Participants::Approved)),
        _ => None,
    }
}

/// Who hears of the event, and as what; a parent who is also the subject hears as subject.
pub(crate) async fn audience(
    tx: &mut sqlx::PgConnection,
    concerned: Concerned,
) -> Result<HashMap<AccountId, Relation>, StoreError> {
    let mut who = HashMap::new();
    match concerned {
        Concerned::Account(account) => {
            who.insert(account, Relation::Subject);
        }
        Concerned::StudentFamily(student) => {
            for parent in deliveries::parents_of(&mut *tx, student).await? {
                who.insert(parent, Relation::Parent);
            }
            who.insert(student, Relation::Subject);
        }
        Concerned::FamilyChange {
            student,
            actor,
            subject,
        } => {
            for parent in deliveries::parents_of(&mut *tx, student).await? {
                if parent != actor && Some(parent) != subject {
                    who.insert(parent, Relation::Parent);
                }
            }
            if let Some(subject) = subject.filter(|s| *s != actor) {
                who.insert(subject, Relation::Subject);
            }
        }
        Concerned::EventParticipants(_)
        | Concerned::CancelledParticipants(_)
        | Concerned::ApprovedParticipants(_) => {
            let Some((event, which)) = participants(concerned) else {
                unreachable!("an event's participants")
            };
            for (account, is_parent) in deliveries::event_audience(&mut *tx, event, which).await? {
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
    Ok(who)
}

/// The values templates are filled with, looked up once per event.
pub(crate) struct Context {
    event_title: String,
    time_zone: String,
    starts_at: Option<DateTime<Utc>>,
    old_starts_at: Option<DateTime<Utc>>,
    new_starts_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    reason: String,
    notice: String,
    test_title: String,
    consent: Option<ConsentKind>,
    erasure_due_at: Option<DateTime<Utc>>,
    /// In person: city and address; online: the link, when there is one.
    place: Option<String>,
    what_to_bring: Option<String>,
    hours_before: Option<u16>,
}

/// Where an event takes place, as a reminder says it.
fn place_of(event: &store::events::EventRow) -> Option<String> {
    match (&event.city, &event.address, &event.online_link) {
        (_, _, Some(link)) if event.format == crate::domain::events::EventFormat::Online => {
            Some(link.clone())
        }
        (Some(city), Some(address), _) => Some(format!("{city}, {address}")),
        _ => None,
    }
}

impl Context {
    async fn load(
        hub: &Hub,
        tx: &mut sqlx::PgConnection,
        facts: &Facts,
    ) -> Result<Self, StoreError> {
        let event = match facts.event_id {
            Some(event) => store::events::find(&mut *tx, event).await?,
            None => None,
        };
        let notice = match facts.notice_id {
            Some(notice) => store::notices::text(&mut *tx, notice.0)
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
            starts_at: facts.starts_at.or(event.as_ref().map(|e| e.starts_at)),
            old_starts_at: facts.old_starts_at,
            new_starts_at: facts.new_starts_at,
            expires_at: facts.expires_at,
            reason: event
                .as_ref()
                .and_then(|e| e.cancel_reason.clone())
                .unwrap_or_default(),
            notice,
            test_title: facts
                .test_id
                .as_deref()
                .and_then(|id| hub.catalog.latest(id))
                .map(|test| test.title.clone())
                .unwrap_or_default(),
            consent: facts.consent,
            erasure_due_at: facts.erasure_due_at,
            place: event.as_ref().and_then(place_of),
            what_to_bring: event.as_ref().and_then(|e| e.what_to_bring.clone()),
            hours_before: facts.hours_before,
        })
    }

    /// The values of a notice about `event` that is not written yet (the console's preview
    /// of a cancellation, a move or a notice): the caller sets what the change adds.
    pub(crate) fn for_event(event: &store::events::EventRow) -> Self {
        Self {
            event_title: event.title.clone(),
            time_zone: event.time_zone.clone(),
            starts_at: Some(event.starts_at),
            old_starts_at: None,
            new_starts_at: None,
            expires_at: None,
            reason: String::new(),
            notice: String::new(),
            test_title: String::new(),
            consent: None,
            erasure_due_at: None,
            place: place_of(event),
            what_to_bring: event.what_to_bring.clone(),
            hours_before: None,
        }
    }

    pub(crate) fn with_reason(mut self, reason: &str) -> Self {
        self.reason = reason.to_owned();
        self
    }

    pub(crate) fn with_notice(mut self, notice: &str) -> Self {
        self.notice = notice.to_owned();
        self
    }

    pub(crate) fn with_move(mut self, old: DateTime<Utc>, new: DateTime<Utc>) -> Self {
        self.old_starts_at = Some(old);
        self.new_starts_at = Some(new);
        self
    }

    pub(crate) fn values(&self, language: &str) -> HashMap<&'static str, String> {
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
            (
                "consent_kind",
                self.consent
                    .map(|kind| consent_words(kind, language))
                    .unwrap_or_default()
                    .to_owned(),
            ),
            ("erasure_due_at", when(self.erasure_due_at)),
            ("starts_in", starts_in(self.hours_before, language)),
            ("place", place_words(self.place.as_deref(), language)),
            (
                "what_to_bring",
                bring_words(self.what_to_bring.as_deref(), language),
            ),
            // `{code}` stays in the text: the e-mail sender fills it in (see `codes`).
        ])
    }
}

/// "завтра" / "через 2 часа", as a reminder's title needs it.
fn starts_in(hours: Option<u16>, language: &str) -> String {
    match (hours, language) {
        (None, _) => String::new(),
        (Some(24), "en") => "tomorrow".to_owned(),
        (Some(24), _) => "завтра".to_owned(),
        (Some(h), "en") => format!("in {h} hours"),
        (Some(h), _) => format!("через {h} {}", hours_word(h)),
    }
}

fn hours_word(h: u16) -> &'static str {
    match (h % 10, h % 100) {
        (1, n) if n != 11 => "час",
        (2..=4, n) if !(12..=14).contains(&n) => "часа",
        _ => "часов",
    }
}

/// " Место: …." or "", so a reminder without a place reads well.
fn place_words(place: Option<&str>, language: &str) -> String {
    match (place, language) {
        (None, _) => String::new(),
        (Some(place), "en") => format!(" Where: {place}."),
        (Some(place), _) => format!(" Место: {place}."),
    }
}

/// " С собой: …." or "".
fn bring_words(what: Option<&str>, language: &str) -> String {
    match (what, language) {
        (None, _) => String::new(),
        (Some(what), "en") => format!(" Bring: {what}."),
        (Some(what), _) => format!(" С собой: {what}."),
    }
}

/// What a consent covers, as the sentence "… withdrew the consent {consent_kind}" needs it.
fn consent_words(kind: ConsentKind, language: &str) -> &'static str {
    match (kind, language) {
        (ConsentKind::PersonalData, "en") => "to the processing of the child's personal data",
        (ConsentKind::HealthData, "en") => "to the processing of the child's health data",
        (ConsentKind::PhotoVideo, "en") => "to photos and videos of the child",
        (ConsentKind::PersonalData, _) => "на обработку персональных данных ребёнка",
        (ConsentKind::HealthData, _) => "на обработку сведений о здоровье ребёнка",
        (ConsentKind::PhotoVideo, _) => "на фото- и видеосъёмку ребёнка",
    }
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
    fn a_reminder_says_when_in_words() {
        assert_eq!(starts_in(Some(24), "ru"), "завтра");
        assert_eq!(starts_in(Some(2), "ru"), "через 2 часа");
        assert_eq!(starts_in(Some(5), "ru"), "через 5 часов");
        assert_eq!(starts_in(Some(2), "en"), "in 2 hours");
        assert_eq!(bring_words(None, "ru"), "");
        assert_eq!(
            bring_words(Some("сменную обувь"), "ru"),
            " С собой: сменную обувь."
        );
    }

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
