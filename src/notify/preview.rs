//! What a change to an event would send, before it is made: the console shows an organizer
//! who will be told of a cancellation, a move or a notice, by which channels, whether it
//! goes out as urgent, and the exact texts. It is worked out by the fan-out's own steps
//! (its audience, the kind's policy and plan, the templates and their values), on the
//! sign-ups as they are now, so the preview and the fan-out cannot disagree.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::fanout::{Context, audience};
use super::policy;
use super::providers::apns;
use super::providers::sms::{FittedText, fit_text};
use super::providers::{ChannelKind, OutboundMessage, Recipient};
use super::templates::Templates;
use crate::domain::domain_events::{Concerned, Kind};
use crate::domain::events::is_urgent;
use crate::domain::ids::AccountId;
use crate::store::deliveries::{self, Relation};
use crate::store::events::EventRow;
use crate::store::{Db, StoreError};

/// The change being previewed.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    Cancel { reason: &'a str },
    Reschedule { new_starts_at: DateTime<Utc> },
    Notice { text: &'a str },
}

impl Change<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Change::Cancel { .. } => Kind::EventCancelled,
            Change::Reschedule { .. } => Kind::EventRescheduled,
            Change::Notice { .. } => Kind::OrganizerNotice,
        }
    }
}

/// One text as a group of recipients will get it.
#[derive(Debug, Clone)]
pub struct PreviewText {
    /// `subject` (the student) or `parent`.
    pub audience: &'static str,
    pub language: String,
    pub title: String,
    pub body: String,
    /// The SMS as sent: the body fitted to at most two segments.
    pub sms: Option<FittedText>,
    /// The size of its APNs payload in bytes, as the sender would build it (at most
    /// [`apns::MAX_PAYLOAD_BYTES`]); `None` when it could not be built (too large).
    pub push_bytes: Option<usize>,
    /// How many recipients get this text.
    pub recipients: usize,
}

/// The size in bytes of the APNs payload of a notice of `kind` with these texts, built by
/// the APNs sender's own function with the ids the kind's pushes carry.
pub fn push_payload_bytes(kind: Kind, title: &str, body: &str, urgent: bool) -> Option<usize> {
    let mut message = OutboundMessage::new(
        ChannelKind::Apns,
        Recipient::DeviceToken("0".repeat(64)),
        kind.as_str(),
        title,
        body,
    );
    message.urgent = urgent;
    let id = uuid::Uuid::nil().to_string();
    for field in ["notification_id", "delivery_id"]
        .iter()
        .chain(policy::policy(kind).data)
    {
        message.data.insert((*field).to_owned(), id.clone());
    }
    apns::build_request(&message, "ru.bilet.app")
        .ok()
        .map(|request| request.payload.len())
}

/// What a free-text notice costs as it is typed: its length, the SMS segments of the
/// students' text and the size of its push payload.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct NoticeSize {
    pub chars: usize,
    pub sms_segments: Option<usize>,
    pub push_bytes: Option<usize>,
    pub push_limit: usize,
}

pub fn notice_size(
    templates: &Templates,
    event: &EventRow,
    text: &str,
    language: &str,
) -> NoticeSize {
    let context = Context::for_event(event).with_notice(text);
    let rendered = templates.render(
        Kind::OrganizerNotice,
        Relation::Subject,
        language,
        &context.values(language),
    );
    NoticeSize {
        chars: text.chars().count(),
        sms_segments: rendered
            .as_ref()
            .and_then(|t| fit_text(&t.body, None).ok())
            .map(|f| f.segments),
        push_bytes: rendered
            .and_then(|t| push_payload_bytes(Kind::OrganizerNotice, &t.title, &t.body, false)),
        push_limit: apns::MAX_PAYLOAD_BYTES,
    }
}

/// Who would be told, how, and what.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    pub urgent: bool,
    pub students: usize,
    pub parents: usize,
    /// Deliveries going out at once, per channel group.
    pub push: usize,
    pub sms: usize,
    pub email: usize,
    /// Deliveries held back to escalate later (a channel the person switched off).
    pub later: usize,
    /// People no channel reaches (only the app's inbox will show it).
    pub unreachable: usize,
    pub texts: Vec<PreviewText>,
}

/// Works out the preview of `change` to `event`.
pub async fn preview(
    db: &Db,
    templates: &Templates,
    escalation_delay: std::time::Duration,
    event: &EventRow,
    change: Change<'_>,
) -> Result<Preview, StoreError> {
    let now = Utc::now();
    let kind = change.kind();
    let kind_policy = policy::policy(kind);
    let (urgent, context) = match change {
        Change::Cancel { reason } => (
            is_urgent(event.starts_at, now),
            Context::for_event(event).with_reason(reason),
        ),
        Change::Reschedule { new_starts_at } => (
            is_urgent(event.starts_at, now) || is_urgent(new_starts_at, now),
            Context::for_event(event).with_move(event.starts_at, new_starts_at),
        ),
        Change::Notice { text } => (false, Context::for_event(event).with_notice(text)),
    };
    // Before the change, the sign-ups a cancellation will end are the live ones.
    let mut conn = db.acquire().await?;
    let who = audience(&mut conn, Concerned::EventParticipants(event.id)).await?;
    let accounts: Vec<AccountId> = who.keys().copied().collect();
    let recipients = deliveries::recipients(&mut *conn, &accounts).await?;
    drop(conn);
    let escalation =
        chrono::Duration::from_std(escalation_delay).unwrap_or(chrono::Duration::minutes(15));
    let mut preview = Preview {
        urgent,
        ..Preview::default()
    };
    let mut languages: BTreeMap<(&'static str, String), usize> = BTreeMap::new();
    for recipient in &recipients {
        let Some(&relation) = who.get(&recipient.account_id) else {
            continue;
        };
        let Some(plan) = kind_policy.plan_for(relation) else {
            continue;
        };
        let audience = match relation {
            Relation::Subject => {
                preview.students += 1;
                "subject"
            }
            Relation::Parent => {
                preview.parents += 1;
                "parent"
            }
        };
        let language = recipient
            .language
            .clone()
            .unwrap_or_else(|| recipient.account_locale.clone());
        *languages.entry((audience, language)).or_default() += 1;
        let planned = policy::plan_deliveries(kind, plan, urgent, recipient, now, escalation);
        if planned.is_empty() {
            preview.unreachable += 1;
        }
        for delivery in planned {
            if delivery.escalation || delivery.at > now {
                preview.later += 1;
                continue;
            }
            match delivery.channel {
                ChannelKind::Sms => preview.sms += 1,
                ChannelKind::Email => preview.email += 1,
                ChannelKind::Apns | ChannelKind::Fcm | ChannelKind::Rustore => preview.push += 1,
            }
        }
    }
    // Every audience the kind has, in Russian at least, even when nobody is signed up yet.
    let mut shown: BTreeSet<(&'static str, String)> = languages.keys().cloned().collect();
    for (audience, plan) in [
        ("subject", kind_policy.subject),
        ("parent", kind_policy.parent),
    ] {
        if plan.is_some() {
            shown.insert((audience, "ru".to_owned()));
        }
    }
    for (audience, language) in shown {
        let relation = if audience == "subject" {
            Relation::Subject
        } else {
            Relation::Parent
        };
        let Some(text) = templates.render(kind, relation, &language, &context.values(&language))
        else {
            continue;
        };
        preview.texts.push(PreviewText {
            audience,
            recipients: languages
                .get(&(audience, language.clone()))
                .copied()
                .unwrap_or(0),
            language,
            sms: fit_text(&text.body, None).ok(),
            push_bytes: push_payload_bytes(kind, &text.title, &text.body, urgent),
            title: text.title,
            body: text.body,
        });
    }
    Ok(preview)
}
