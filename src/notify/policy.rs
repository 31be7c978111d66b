//! Who hears of each kind of domain event, and how: the channels for each recipient from
//! the kind's plan, their devices, what they can be reached by, their preferences and
//! quiet hours. Urgent notices (a change within 48 hours of the start) go out on every
//! channel at once and ignore quiet hours; a channel a person switched off for them only
//! escalates, so they can never be silenced everywhere.

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};

use bilet_channels::ChannelKind;

use crate::domain::domain_events::{DomainEvent, Kind};
use crate::domain::events::utc_offset;
use crate::store::deliveries::{RecipientRow, Relation};

/// How a notice reaches one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Transactional mail (codes): e-mail only, whatever the preferences.
    EmailOnly,
    /// Push to every device; e-mail when there is none.
    Informational,
    /// A parent must decide: push now and SMS if it stays unseen; without the app, SMS
    /// and e-mail now, each with a single-use link.
    ApprovalRequest,
    /// An event was cancelled or moved: push and e-mail, and SMS too when urgent.
    EventChange,
    /// A change to who may act for a child (a family link, a consent): push to every
    /// device and e-mail at once, SMS only when neither reaches them. It cannot be switched
    /// off and ignores quiet hours: a parent must learn at once that someone else acted
    /// for their child, while there is still time to object.
    FamilySecurity,
    /// A reminder a day ahead: push to every device; without the app, e-mail, else SMS.
    /// Preferences and quiet hours apply.
    Reminder,
    /// A reminder shortly before the start: push to every device; without the app, SMS,
    /// else e-mail. Preferences and quiet hours apply.
    ReminderSoon,
}

/// The policy of one kind.
#[derive(Debug, Clone, Copy)]
pub struct KindPolicy {
    pub kind: Kind,
    /// The plan for the person the notice is about (`None`: they get nothing).
    pub subject: Option<Plan>,
    /// The plan for their parents.
    pub parent: Option<Plan>,
    /// Whether it shows in the app's inbox.
    pub inbox: bool,
    /// The placeholders its templates may use.
    pub placeholders: &'static [&'static str],
    /// The ids a push of this kind carries (besides `kind`, `notification_id` and
    /// `delivery_id`); the app fetches the details by them.
    pub data: &'static [&'static str],
}

const EVENT: &[&str] = &["event_title", "starts_at", "expires_at"];
const CONSENT: &[&str] = &["consent_kind", "erasure_due_at"];

/// The policy of every kind, in the order of `Kind::ALL`: a kind without a policy, or
/// listed out of order, does not compile (see the check below the table).
pub const POLICIES: &[KindPolicy] = &[
    KindPolicy {
        kind: Kind::EmailVerificationRequested,
        subject: Some(Plan::EmailOnly),
        parent: None,
        inbox: false,
        placeholders: &["code", "expires_at"],
        data: &[],
    },
    KindPolicy {
        kind: Kind::RegistrationAttempted,
        subject: Some(Plan::EmailOnly),
        parent: None,
        inbox: false,
        placeholders: &[],
        data: &[],
    },
    KindPolicy {
        kind: Kind::SnilsReentryRequired,
        subject: Some(Plan::EmailOnly),
        parent: None,
        inbox: false,
        placeholders: &[],
        data: &[],
    },
    KindPolicy {
        kind: Kind::SignupRequested,
        subject: None,
        parent: Some(Plan::ApprovalRequest),
        inbox: true,
        placeholders: EVENT,
        data: &["event_id", "signup_id", "student_id"],
    },
    KindPolicy {
        kind: Kind::WaitlistPromoted,
        subject: Some(Plan::Informational),
        parent: Some(Plan::ApprovalRequest),
        inbox: true,
        placeholders: EVENT,
        data: &["event_id", "signup_id", "student_id"],
    },
    KindPolicy {
        kind: Kind::SignupExpiringSoon,
        subject: None,
        parent: Some(Plan::ApprovalRequest),
        inbox: true,
        placeholders: EVENT,
        data: &["event_id", "signup_id", "student_id"],
    },
    KindPolicy {
        kind: Kind::SignupApproved,
        subject: Some(Plan::Informational),
        parent: None,
        inbox: true,
        placeholders: EVENT,
        data: &["event_id", "signup_id", "student_id"],
    },
    KindPolicy {
        kind: Kind::SignupDeclined,
        subject: Some(Plan::Informational),
        parent: None,
        inbox: true,
        placeholders: EVENT,
        data: &["event_id", "signup_id", "student_id"],
    },
    KindPolicy {
        kind: Kind::SignupExpired,
        subject: Some(Plan::Informational),
        parent: Some(Plan::Informational),
        inbox: true,
        placeholders: EVENT,
        data: &["event_id", "signup_id", "student_id"],
    },
    KindPolicy {
        kind: Kind::SignupWithdrawn,
        subject: Some(Plan::Informational),
        parent: Some(Plan::Informational),
        inbox: true,
        placeholders: EVENT,
        data: &["event_id", "signup_id", "student_id"],
    },
    KindPolicy {
        kind: Kind::EventCancelled,
        subject: Some(Plan::EventChange),
        parent: Some(Plan::EventChange),
        inbox: true,
        placeholders: &["event_title", "starts_at", "reason"],
        data: &["event_id"],
    },
    KindPolicy {
        kind: Kind::EventRescheduled,
        subject: Some(Plan::EventChange),
        parent: Some(Plan::EventChange),
        inbox: true,
        placeholders: &["event_title", "old_starts_at", "new_starts_at"],
        data: &["event_id"],
    },
    KindPolicy {
        kind: Kind::OrganizerNotice,
        subject: Some(Plan::Informational),
        parent: Some(Plan::Informational),
        inbox: true,
        placeholders: &["event_title", "notice"],
        data: &["event_id", "notice_id"],
    },
    KindPolicy {
        kind: Kind::FamilyLinkRequested,
        subject: None,
        parent: Some(Plan::FamilySecurity),
        inbox: true,
        placeholders: &[],
        data: &["student_id", "request_id"],
    },
    KindPolicy {
        kind: Kind::FamilyLinkAdded,
        subject: Some(Plan::Informational),
        parent: Some(Plan::FamilySecurity),
        inbox: true,
        placeholders: &[],
        data: &["student_id"],
    },
    KindPolicy {
        kind: Kind::FamilyLinkDeclined,
        subject: Some(Plan::Informational),
        parent: None,
        inbox: true,
        placeholders: &[],
        data: &["student_id", "request_id"],
    },
    KindPolicy {
        kind: Kind::FamilyLinkRemoved,
        subject: None,
        parent: Some(Plan::FamilySecurity),
        inbox: true,
        placeholders: &[],
        data: &["student_id"],
    },
    KindPolicy {
        kind: Kind::ConsentGiven,
        subject: None,
        parent: Some(Plan::FamilySecurity),
        inbox: true,
        placeholders: CONSENT,
        data: &["student_id"],
    },
    KindPolicy {
        kind: Kind::ConsentWithdrawn,
        subject: None,
        parent: Some(Plan::FamilySecurity),
        inbox: true,
        placeholders: CONSENT,
        data: &["student_id"],
    },
    KindPolicy {
        kind: Kind::PersonalDataConsentWithdrawn,
        subject: None,
        parent: Some(Plan::FamilySecurity),
        inbox: true,
        placeholders: CONSENT,
        data: &["student_id"],
    },
    KindPolicy {
        kind: Kind::ResultsReady,
        subject: Some(Plan::Informational),
        parent: Some(Plan::Informational),
        inbox: true,
        placeholders: &["test_title"],
        data: &["attempt_id", "student_id", "test_id"],
    },
    KindPolicy {
        kind: Kind::RecommendationsReady,
        subject: Some(Plan::Informational),
        parent: Some(Plan::Informational),
        inbox: true,
        placeholders: &["event_title"],
        data: &["event_id", "student_id"],
    },
    // Accounts and sign-in: mailed to the address, never in the inbox.
    KindPolicy {
        kind: Kind::RegistrationPending,
        subject: Some(Plan::EmailOnly),
        parent: None,
        inbox: false,
        placeholders: &["expires_at"],
        data: &[],
    },
    KindPolicy {
        kind: Kind::PasswordResetRequested,
        subject: Some(Plan::EmailOnly),
        parent: None,
        inbox: false,
        placeholders: &["code", "expires_at"],
        data: &[],
    },
    KindPolicy {
        kind: Kind::PasswordChanged,
        subject: Some(Plan::EmailOnly),
        parent: None,
        inbox: false,
        placeholders: &[],
        data: &[],
    },
    // The child arrived at an event: the parents only; optional in the preferences (an
    // inbox kind), push or, without the app, e-mail.
    KindPolicy {
        kind: Kind::ChildCheckedIn,
        subject: None,
        parent: Some(Plan::Informational),
        inbox: true,
        placeholders: &["event_title", "starts_at"],
        data: &["event_id", "signup_id", "student_id"],
    },
    KindPolicy {
        kind: Kind::EventReminder,
        subject: Some(Plan::Reminder),
        parent: Some(Plan::Reminder),
        inbox: true,
        placeholders: &[
            "event_title",
            "starts_at",
            "starts_in",
            "place",
            "what_to_bring",
        ],
        data: &["event_id"],
    },
];

/// Reminders up to this many hours ahead go by SMS to those without the app.
pub const SOON_HOURS: u16 = 2;

/// The plan for one event, where it depends on more than the kind: a reminder shortly
/// before the start reaches those without the app by SMS.
pub fn plan_of(event: &DomainEvent, plan: Plan) -> Plan {
    match (plan, event) {
        (Plan::Reminder, DomainEvent::EventReminder(r)) if r.hours_before <= SOON_HOURS => {
            Plan::ReminderSoon
        }
        _ => plan,
    }
}

/// The JSON Schemas of a kind's push payloads, as published in `mobile-contract/push/`:
/// the APNs payload, and the `data` map of FCM and RuStore messages.
pub fn push_schemas(policy: &KindPolicy) -> (serde_json::Value, serde_json::Value) {
    use serde_json::{Map, Value, json};
    let uuid = json!({ "type": "string", "format": "uuid" });
    let mut properties = Map::new();
    properties.insert("kind".into(), json!({ "const": policy.kind }));
    for field in ["notification_id", "delivery_id"].iter().chain(policy.data) {
        // Tests are named by catalog ids (`klimov-ddo`); everything else by UUID.
        let schema = if *field == "test_id" {
            json!({ "type": "string" })
        } else {
            uuid.clone()
        };
        properties.insert((*field).into(), schema);
    }
    let mut required: Vec<Value> = properties.keys().cloned().map(Value::from).collect();
    required.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    let data = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("{}: data of an FCM or RuStore message", policy.kind),
        "description": "Ids only; the app fetches details by them. No personal data.",
        "type": "object",
        "properties": Value::Object(properties.clone()),
        "required": required.clone(),
        "additionalProperties": false,
    });
    let mut apns_properties = properties;
    apns_properties.insert(
        "aps".into(),
        json!({
            "type": "object",
            "properties": {
                "alert": {
                    "type": "object",
                    "properties": { "title": { "type": "string" }, "body": { "type": "string" } },
                    "required": ["title", "body"],
                    "additionalProperties": false,
                },
                "category": { "const": "SIGNUP_DECISION" },
                "sound": { "type": "string" },
                "mutable-content": { "enum": [0, 1] },
            },
            "required": ["alert"],
            "additionalProperties": false,
        }),
    );
    let mut apns_required = required;
    apns_required.push(Value::from("aps"));
    let apns = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("{}: APNs payload", policy.kind),
        "description": "A localised alert and ids only; the app fetches details by them. No personal data.",
        "type": "object",
        "properties": Value::Object(apns_properties),
        "required": apns_required,
        "additionalProperties": false,
    });
    (apns, data)
}

// Every kind has its policy, at its own index.
const _: () = {
    assert!(POLICIES.len() == Kind::ALL.len());
    let mut i = 0;
    while i < POLICIES.len() {
        assert!(POLICIES[i].kind as usize == i);
        assert!(Kind::ALL[i] as usize == i);
        i += 1;
    }
};

pub fn policy(kind: Kind) -> &'static KindPolicy {
    &POLICIES[kind as usize]
}

impl KindPolicy {
    pub fn plan_for(&self, relation: Relation) -> Option<Plan> {
        match relation {
            Relation::Subject => self.subject,
            Relation::Parent => self.parent,
        }
    }
}

/// One delivery to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDelivery {
    pub channel: ChannelKind,
    pub device_token: Option<String>,
    pub escalation: bool,
    pub at: DateTime<Utc>,
}

/// The channel of a device's platform (`devices.platform`).
pub fn push_channel(platform: &str) -> Option<ChannelKind> {
    match platform {
        "ios" => Some(ChannelKind::Apns),
        "android-fcm" => Some(ChannelKind::Fcm),
        "android-rustore" => Some(ChannelKind::Rustore),
        _ => None,
    }
}

/// Decides the deliveries of one notice to one person.
pub fn plan_deliveries(
    kind: Kind,
    plan: Plan,
    urgent: bool,
    recipient: &RecipientRow,
    now: DateTime<Utc>,
    escalation_delay: Duration,
) -> Vec<PlannedDelivery> {
    let disabled = |group: &str| {
        recipient
            .disabled
            .as_ref()
            .and_then(|d| d.get(kind.as_str()))
            .and_then(|v| v.as_array())
            .is_some_and(|list| list.iter().any(|c| c.as_str() == Some(group)))
    };
    let pushes: Vec<PlannedDelivery> = recipient
        .device_tokens
        .iter()
        .zip(&recipient.device_platforms)
        .filter_map(|(token, platform)| {
            push_channel(platform).map(|channel| PlannedDelivery {
                channel,
                device_token: Some(token.clone()),
                escalation: false,
                at: now,
            })
        })
        .collect();
    let single = |channel: ChannelKind| PlannedDelivery {
        channel,
        device_token: None,
        escalation: false,
        at: now,
    };
    let (has_push, has_sms, has_email) = (
        !pushes.is_empty(),
        recipient.has_phone,
        recipient.email_usable,
    );
    let mut planned: Vec<PlannedDelivery> = Vec::new();
    match plan {
        Plan::EmailOnly => {
            // Transactional mail goes to the address on the account, verified or not: a
            // verification code is how an address becomes verified.
            planned.push(single(ChannelKind::Email));
            return planned;
        }
        Plan::Informational => {
            if has_push && !disabled("push") {
                planned.extend(pushes);
            } else if has_email && !disabled("email") {
                planned.push(single(ChannelKind::Email));
            }
        }
        Plan::ApprovalRequest => {
            if has_push && !disabled("push") {
                planned.extend(pushes);
                if has_sms && !disabled("sms") {
                    planned.push(PlannedDelivery {
                        escalation: true,
                        at: now + escalation_delay,
                        ..single(ChannelKind::Sms)
                    });
                }
            } else {
                if has_sms && !disabled("sms") {
                    planned.push(single(ChannelKind::Sms));
                }
                if has_email && !disabled("email") {
                    planned.push(single(ChannelKind::Email));
                }
            }
        }
        Plan::EventChange if urgent => {
            // Every channel at once; one switched off escalates instead of going silent.
            let mut later = Vec::new();
            let mut add = |deliveries: Vec<PlannedDelivery>, off: bool| {
                if off {
                    later.extend(deliveries)
                } else {
                    planned.extend(deliveries)
                }
            };
            if has_push {
                add(pushes, disabled("push"));
            }
            if has_sms {
                add(vec![single(ChannelKind::Sms)], disabled("sms"));
            }
            if has_email {
                add(vec![single(ChannelKind::Email)], disabled("email"));
            }
            if planned.is_empty() && !later.is_empty() {
                let first = later.remove(0);
                planned.push(first);
            }
            planned.extend(later.into_iter().map(|d| PlannedDelivery {
                escalation: true,
                at: now + escalation_delay,
                ..d
            }));
            return planned;
        }
        Plan::FamilySecurity => {
            planned.extend(pushes);
            if has_email {
                planned.push(single(ChannelKind::Email));
            }
            if planned.is_empty() && has_sms {
                planned.push(single(ChannelKind::Sms));
            }
            return planned;
        }
        Plan::Reminder | Plan::ReminderSoon => {
            let order = if plan == Plan::ReminderSoon {
                [ChannelKind::Sms, ChannelKind::Email]
            } else {
                [ChannelKind::Email, ChannelKind::Sms]
            };
            if has_push && !disabled("push") {
                planned.extend(pushes);
            } else if let Some(channel) = order.into_iter().find(|channel| match channel {
                ChannelKind::Sms => has_sms && !disabled("sms"),
                _ => has_email && !disabled("email"),
            }) {
                planned.push(single(channel));
            }
        }
        Plan::EventChange => {
            if has_push && !disabled("push") {
                planned.extend(pushes);
            }
            if has_email && !disabled("email") {
                planned.push(single(ChannelKind::Email));
            }
            if planned.is_empty() && has_sms && !disabled("sms") {
                planned.push(single(ChannelKind::Sms));
            }
        }
    }
    if !urgent && plan != Plan::EmailOnly {
        let (from, to) = (recipient.quiet_from, recipient.quiet_to);
        let zone = recipient.time_zone.as_deref().unwrap_or("Europe/Moscow");
        for delivery in &mut planned {
            delivery.at = after_quiet_hours(delivery.at, from, to, zone);
        }
    }
    planned
}

/// The moment quiet hours end if `at` falls within them, else `at`.
pub fn after_quiet_hours(
    at: DateTime<Utc>,
    from: Option<i16>,
    to: Option<i16>,
    zone: &str,
) -> DateTime<Utc> {
    let (Some(from), Some(to)) = (from, to) else {
        return at;
    };
    if from == to {
        return at;
    }
    let offset = utc_offset(zone);
    let local = at.with_timezone(&offset);
    let minute = (local.hour() * 60 + local.minute()) as i16;
    let quiet = if from < to {
        minute >= from && minute < to
    } else {
        minute >= from || minute < to
    };
    if !quiet {
        return at;
    }
    let end =
        NaiveTime::from_hms_opt((to / 60) as u32, (to % 60) as u32, 0).expect("minutes of a day");
    let mut day = local.date_naive();
    if minute >= to && from > to {
        day = day.succ_opt().unwrap_or(day);
    }
    day.and_time(end)
        .and_local_timezone(offset)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::AccountId;
    use crate::domain::roles::Role;
    use serde_json::json;

    fn person(devices: &[(&str, &str)], phone: bool, email: bool) -> RecipientRow {
        RecipientRow {
            account_id: AccountId(uuid::Uuid::nil()),
            role: Role::Parent,
            email_usable: email,
            has_phone: phone,
            language: None,
            account_locale: "ru".into(),
            time_zone: None,
            quiet_from: None,
            quiet_to: None,
            disabled: None,
            device_tokens: devices.iter().map(|(t, _)| t.to_string()).collect(),
            device_platforms: devices.iter().map(|(_, p)| p.to_string()).collect(),
        }
    }

    fn channels(planned: &[PlannedDelivery]) -> Vec<(&str, bool)> {
        planned
            .iter()
            .map(|d| (d.channel.as_str(), d.escalation))
            .collect()
    }

    #[test]
    fn an_approval_request_pushes_then_escalates_to_sms() {
        let now = Utc::now();
        let who = person(&[("t1", "ios"), ("t2", "android-rustore")], true, true);
        let planned = plan_deliveries(
            Kind::SignupRequested,
            Plan::ApprovalRequest,
            false,
            &who,
            now,
            Duration::minutes(15),
        );
        assert_eq!(
            channels(&planned),
            [("apns", false), ("rustore", false), ("sms", true)]
        );
        assert_eq!(planned[2].at, now + Duration::minutes(15));
    }

    #[test]
    fn a_parent_without_the_app_gets_sms_and_email_at_once() {
        let who = person(&[], true, true);
        let planned = plan_deliveries(
            Kind::SignupRequested,
            Plan::ApprovalRequest,
            false,
            &who,
            Utc::now(),
            Duration::minutes(15),
        );
        assert_eq!(channels(&planned), [("sms", false), ("email", false)]);
    }

    #[test]
    fn an_urgent_change_goes_everywhere_and_cannot_be_silenced_everywhere() {
        let now = Utc::now();
        let mut who = person(&[("t1", "android-fcm")], true, true);
        let planned = plan_deliveries(
            Kind::EventCancelled,
            Plan::EventChange,
            true,
            &who,
            now,
            Duration::minutes(5),
        );
        assert_eq!(
            channels(&planned),
            [("fcm", false), ("sms", false), ("email", false)]
        );
        who.disabled = Some(json!({ "event_cancelled": ["push", "sms", "email"] }));
        let planned = plan_deliveries(
            Kind::EventCancelled,
            Plan::EventChange,
            true,
            &who,
            now,
            Duration::minutes(5),
        );
        assert_eq!(
            channels(&planned),
            [("fcm", false), ("sms", true), ("email", true)]
        );
    }

    #[test]
    fn a_reminder_pushes_and_reaches_those_without_the_app_by_mail_or_soon_by_sms() {
        let now = Utc::now();
        let plan = |who: &RecipientRow, plan| {
            channels(&plan_deliveries(
                Kind::EventReminder,
                plan,
                false,
                who,
                now,
                Duration::minutes(5),
            ))
            .into_iter()
            .map(|(c, _)| c.to_owned())
            .collect::<Vec<_>>()
        };
        let with_app = person(&[("t1", "ios")], true, true);
        let without_app = person(&[], true, true);
        assert_eq!(plan(&with_app, Plan::Reminder), ["apns"]);
        assert_eq!(plan(&with_app, Plan::ReminderSoon), ["apns"]);
        assert_eq!(plan(&without_app, Plan::Reminder), ["email"]);
        assert_eq!(plan(&without_app, Plan::ReminderSoon), ["sms"]);
        let mut no_sms = without_app.clone();
        no_sms.disabled = Some(json!({ "event_reminder": ["sms"] }));
        assert_eq!(plan(&no_sms, Plan::ReminderSoon), ["email"]);
        let mut quiet = with_app.clone();
        quiet.quiet_from = Some(0);
        quiet.quiet_to = Some(23 * 60 + 59);
        let held = plan_deliveries(
            Kind::EventReminder,
            Plan::ReminderSoon,
            false,
            &quiet,
            now,
            Duration::minutes(5),
        );
        assert!(held[0].at > now, "quiet hours hold a reminder");
    }

    #[test]
    fn a_non_urgent_change_skips_sms() {
        let who = person(&[("t1", "ios")], true, true);
        let planned = plan_deliveries(
            Kind::EventRescheduled,
            Plan::EventChange,
            false,
            &who,
            Utc::now(),
            Duration::minutes(5),
        );
        assert_eq!(channels(&planned), [("apns", false), ("email", false)]);
    }

    #[test]
    fn quiet_hours_hold_non_urgent_notices_until_morning() {
        // 23:30 Moscow time is 20:30 UTC; quiet from 22:00 to 08:00.
        let at = DateTime::parse_from_rfc3339("2026-12-01T20:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let held = after_quiet_hours(at, Some(22 * 60), Some(8 * 60), "Europe/Moscow");
        assert_eq!(held.to_rfc3339(), "2026-12-02T05:00:00+00:00");
        let early = DateTime::parse_from_rfc3339("2026-12-01T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            after_quiet_hours(early, Some(22 * 60), Some(8 * 60), "Europe/Moscow").to_rfc3339(),
            "2026-12-01T05:00:00+00:00"
        );
        let noon = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            after_quiet_hours(noon, Some(22 * 60), Some(8 * 60), "Europe/Moscow"),
            noon
        );
    }

    #[test]
    fn a_family_change_reaches_every_device_and_the_mailbox_whatever_the_preferences() {
        let now = Utc::now();
        let mut who = person(&[("t1", "ios"), ("t2", "android-fcm")], true, true);
        who.disabled = Some(json!({ "consent_withdrawn": ["push", "email", "sms"] }));
        who.quiet_from = Some(0);
        who.quiet_to = Some(23 * 60 + 59);
        let planned = plan_deliveries(
            Kind::ConsentWithdrawn,
            Plan::FamilySecurity,
            false,
            &who,
            now,
            Duration::minutes(15),
        );
        assert_eq!(
            channels(&planned),
            [("apns", false), ("fcm", false), ("email", false)]
        );
        assert!(
            planned.iter().all(|d| d.at == now),
            "not held by quiet hours"
        );
        let without_app_or_mail = person(&[], true, false);
        let planned = plan_deliveries(
            Kind::ConsentWithdrawn,
            Plan::FamilySecurity,
            false,
            &without_app_or_mail,
            now,
            Duration::minutes(15),
        );
        assert_eq!(channels(&planned), [("sms", false)]);
    }
}
