//! Domain events: what happened, written to the outbox in the transaction of the change
//! and announced to the people concerned. One enum, so that the compiler checks every step
//! from the change to the message: `outbox::append` takes it, the fan-out matches on it,
//! the policy and the templates are keyed by its [`Kind`], and a kind the code does not
//! know, read back from the database, is an error rather than a silent skip.
//!
//! Stored as two columns: `kind` (the tag) and `payload` (the variant's fields), which is
//! the adjacently tagged serde form `{"kind": …, "payload": {…}}`. Field names are the
//! ones the outbox has always held, so rows written before this type read back.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::consents::ConsentKind;
use super::ids::{AccountId, AttemptId, EventId, LinkRequestId, NoticeId, SignupId};

/// Something that happened and that people may have to hear of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum DomainEvent {
    /// A registration's e-mail code (sealed: only the e-mail sender opens it).
    EmailVerificationRequested(SealedCode),
    /// Someone tried to register an address that already has an account.
    RegistrationAttempted(AccountNotice),
    /// Someone tried to register an address whose registration awaits its code.
    RegistrationPending(PendingRegistration),
    /// A password reset's code (sealed).
    PasswordResetRequested(SealedCode),
    PasswordChanged(PasswordChanged),
    /// An administrator removed a SNILS another person had claimed: enter it again.
    SnilsReentryRequired(AccountNotice),
    /// A student signed up: a parent must decide.
    SignupRequested(SignupChange),
    /// A seat freed up for a waitlisted student: a parent must decide.
    WaitlistPromoted(SignupChange),
    /// The decision window is closing.
    SignupExpiringSoon(SignupChange),
    SignupApproved(SignupChange),
    SignupDeclined(SignupChange),
    /// Nobody decided in time.
    SignupExpired(SignupChange),
    SignupWithdrawn(SignupChange),
    EventCancelled(EventCancelled),
    EventRescheduled(EventRescheduled),
    /// An organizer's free-text notice to everyone signed up.
    OrganizerNotice(OrganizerNotice),
    FamilyLinkRequested(FamilyLinkRequested),
    FamilyLinkAdded(FamilyLinkAdded),
    FamilyLinkDeclined(FamilyLinkDeclined),
    FamilyLinkRemoved(FamilyLinkRemoved),
    ConsentGiven(ConsentChange),
    ConsentWithdrawn(ConsentChange),
    /// The personal-data consent was withdrawn: the child's data is erased at
    /// `erasure_due_at` unless a parent gives it again.
    PersonalDataConsentWithdrawn(ConsentChange),
    ResultsReady(ResultsReady),
    /// What happened at a practical event (attendance, the mentor's level, the student's
    /// own opinion) brought recommendations the family has not been told of.
    RecommendationsReady(RecommendationsReady),
    /// The child was checked in at the door of an event: their parents hear they arrived.
    ChildCheckedIn(ChildCheckedIn),
    /// An approved event starts in `hours_before` hours: time, place, what to bring.
    EventReminder(EventReminder),
}

/// A notice about one account and nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountNotice {
    pub account_id: AccountId,
}

/// A code mailed to an account, sealed for the e-mail sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedCode {
    pub account_id: AccountId,
    pub code_enc: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRegistration {
    pub account_id: AccountId,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordChanged {
    pub account_id: AccountId,
    pub changed_at: DateTime<Utc>,
}

/// A sign-up changed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignupChange {
    pub signup_id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    /// The sign-up's status after the change.
    pub status: String,
    /// When the parent's decision window closes, while one is open.
    pub expires_at: Option<DateTime<Utc>>,
    pub event_starts_at: DateTime<Utc>,
    /// Why it ended (withdrawn or expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who ended it, when a person did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<AccountId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCancelled {
    pub event_id: EventId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Within 48 hours of the start: every channel at once, quiet hours ignored.
    pub urgent: bool,
    pub signups_cancelled: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRescheduled {
    pub event_id: EventId,
    pub old_starts_at: DateTime<Utc>,
    pub old_ends_at: DateTime<Utc>,
    pub new_starts_at: DateTime<Utc>,
    pub new_ends_at: DateTime<Utc>,
    pub place_changed: bool,
    /// The old or the new start is within 48 hours.
    pub urgent: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizerNotice {
    pub notice_id: NoticeId,
    pub event_id: EventId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyLinkRequested {
    pub student_id: AccountId,
    pub request_id: LinkRequestId,
    /// The adult asking to join.
    pub actor_id: AccountId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyLinkAdded {
    pub student_id: AccountId,
    /// The adult who joined.
    pub subject_id: AccountId,
    /// Who linked them: the adult themself, or the parent who confirmed.
    pub actor_id: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<LinkRequestId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyLinkDeclined {
    pub student_id: AccountId,
    /// The adult refused.
    pub subject_id: AccountId,
    /// The parent who declined.
    pub actor_id: AccountId,
    pub request_id: LinkRequestId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyLinkRemoved {
    pub student_id: AccountId,
    /// The parent who left.
    pub actor_id: AccountId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentChange {
    pub student_id: AccountId,
    pub kind: ConsentKind,
    /// The parent who gave or withdrew it.
    pub actor_id: AccountId,
    /// When the child's data is erased (personal-data consent withdrawn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure_due_at: Option<DateTime<Utc>>,
}

/// New recommendations for a student, drawn after `event_id` took place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationsReady {
    pub student_id: AccountId,
    pub event_id: EventId,
    /// How many recommended events are new to the family.
    pub new_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsReady {
    pub attempt_id: AttemptId,
    pub student_id: AccountId,
    pub test_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildCheckedIn {
    pub signup_id: SignupId,
    pub event_id: EventId,
    pub student_id: AccountId,
    pub event_starts_at: DateTime<Utc>,
    pub checked_in_at: DateTime<Utc>,
}

/// A reminder before an event, raised once per (event, offset, start time) by
/// `participation::reminders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventReminder {
    pub event_id: EventId,
    /// The start this reminder is for: a reminder whose event has since moved is dropped
    /// before sending.
    pub starts_at: DateTime<Utc>,
    /// 24 or 2.
    pub hours_before: u16,
}

/// Who a domain event concerns, as the fan-out looks them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concerned {
    /// One account.
    Account(AccountId),
    /// A student (the subject) and their parents.
    StudentFamily(AccountId),
    /// A change in a child's family: the parents linked to the child except the one who
    /// acted, as parents; and the adult joining or refused, when there is one, as subject.
    FamilyChange {
        student: AccountId,
        actor: AccountId,
        subject: Option<AccountId>,
    },
    /// Everyone signed up for the event, and their parents.
    EventParticipants(EventId),
    /// Everyone whose sign-up for the event the cancellation ended, and their parents.
    CancelledParticipants(EventId),
    /// Everyone approved for the event, and their parents.
    ApprovedParticipants(EventId),
}

/// The ids and times a notice may show or carry, as far as the event has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub event_id: Option<EventId>,
    pub signup_id: Option<SignupId>,
    pub student_id: Option<AccountId>,
    pub notice_id: Option<NoticeId>,
    pub attempt_id: Option<AttemptId>,
    pub request_id: Option<LinkRequestId>,
    pub test_id: Option<String>,
    /// The practical event's start, as the event announced it.
    pub starts_at: Option<DateTime<Utc>>,
    pub old_starts_at: Option<DateTime<Utc>>,
    pub new_starts_at: Option<DateTime<Utc>>,
    /// When a decision window or a code expires.
    pub expires_at: Option<DateTime<Utc>>,
    pub consent: Option<ConsentKind>,
    pub erasure_due_at: Option<DateTime<Utc>>,
    /// How long before the start a reminder goes out, in hours.
    pub hours_before: Option<u16>,
}

impl DomainEvent {
    pub fn kind(&self) -> Kind {
        match self {
            DomainEvent::EmailVerificationRequested(_) => Kind::EmailVerificationRequested,
            DomainEvent::RegistrationAttempted(_) => Kind::RegistrationAttempted,
            DomainEvent::RegistrationPending(_) => Kind::RegistrationPending,
            DomainEvent::PasswordResetRequested(_) => Kind::PasswordResetRequested,
            DomainEvent::PasswordChanged(_) => Kind::PasswordChanged,
            DomainEvent::SnilsReentryRequired(_) => Kind::SnilsReentryRequired,
            DomainEvent::SignupRequested(_) => Kind::SignupRequested,
            DomainEvent::WaitlistPromoted(_) => Kind::WaitlistPromoted,
            DomainEvent::SignupExpiringSoon(_) => Kind::SignupExpiringSoon,
            DomainEvent::SignupApproved(_) => Kind::SignupApproved,
            DomainEvent::SignupDeclined(_) => Kind::SignupDeclined,
            DomainEvent::SignupExpired(_) => Kind::SignupExpired,
            DomainEvent::SignupWithdrawn(_) => Kind::SignupWithdrawn,
            DomainEvent::EventCancelled(_) => Kind::EventCancelled,
            DomainEvent::EventRescheduled(_) => Kind::EventRescheduled,
            DomainEvent::OrganizerNotice(_) => Kind::OrganizerNotice,
            DomainEvent::FamilyLinkRequested(_) => Kind::FamilyLinkRequested,
            DomainEvent::FamilyLinkAdded(_) => Kind::FamilyLinkAdded,
            DomainEvent::FamilyLinkDeclined(_) => Kind::FamilyLinkDeclined,
            DomainEvent::FamilyLinkRemoved(_) => Kind::FamilyLinkRemoved,
            DomainEvent::ConsentGiven(_) => Kind::ConsentGiven,
            DomainEvent::ConsentWithdrawn(_) => Kind::ConsentWithdrawn,
            DomainEvent::PersonalDataConsentWithdrawn(_) => Kind::PersonalDataConsentWithdrawn,
            DomainEvent::ResultsReady(_) => Kind::ResultsReady,
            DomainEvent::RecommendationsReady(_) => Kind::RecommendationsReady,
            DomainEvent::ChildCheckedIn(_) => Kind::ChildCheckedIn,
            DomainEvent::EventReminder(_) => Kind::EventReminder,
        }
    }

    /// Who it concerns.
    pub fn concerned(&self) -> Concerned {
        match self {
            DomainEvent::EmailVerificationRequested(c) | DomainEvent::PasswordResetRequested(c) => {
                Concerned::Account(c.account_id)
            }
            DomainEvent::RegistrationAttempted(n) | DomainEvent::SnilsReentryRequired(n) => {
                Concerned::Account(n.account_id)
            }
            DomainEvent::RegistrationPending(p) => Concerned::Account(p.account_id),
            DomainEvent::PasswordChanged(p) => Concerned::Account(p.account_id),
            DomainEvent::SignupRequested(s)
            | DomainEvent::WaitlistPromoted(s)
            | DomainEvent::SignupExpiringSoon(s)
            | DomainEvent::SignupApproved(s)
            | DomainEvent::SignupDeclined(s)
            | DomainEvent::SignupExpired(s)
            | DomainEvent::SignupWithdrawn(s) => Concerned::StudentFamily(s.student_id),
            DomainEvent::EventCancelled(e) => Concerned::CancelledParticipants(e.event_id),
            DomainEvent::EventRescheduled(e) => Concerned::EventParticipants(e.event_id),
            DomainEvent::OrganizerNotice(n) => Concerned::EventParticipants(n.event_id),
            DomainEvent::FamilyLinkRequested(r) => Concerned::FamilyChange {
                student: r.student_id,
                actor: r.actor_id,
                subject: None,
            },
            DomainEvent::FamilyLinkAdded(a) => Concerned::FamilyChange {
                student: a.student_id,
                actor: a.actor_id,
                subject: Some(a.subject_id),
            },
            DomainEvent::FamilyLinkDeclined(d) => Concerned::FamilyChange {
                student: d.student_id,
                actor: d.actor_id,
                subject: Some(d.subject_id),
            },
            DomainEvent::FamilyLinkRemoved(r) => Concerned::FamilyChange {
                student: r.student_id,
                actor: r.actor_id,
                subject: None,
            },
            DomainEvent::ConsentGiven(c)
            | DomainEvent::ConsentWithdrawn(c)
            | DomainEvent::PersonalDataConsentWithdrawn(c) => Concerned::FamilyChange {
                student: c.student_id,
                actor: c.actor_id,
                subject: None,
            },
            DomainEvent::ResultsReady(r) => Concerned::StudentFamily(r.student_id),
            DomainEvent::RecommendationsReady(r) => Concerned::StudentFamily(r.student_id),
            DomainEvent::ChildCheckedIn(c) => Concerned::StudentFamily(c.student_id),
            DomainEvent::EventReminder(r) => Concerned::ApprovedParticipants(r.event_id),
        }
    }

    /// Whether it goes out on every channel at once, ignoring quiet hours.
    pub fn urgent(&self) -> bool {
        match self {
            DomainEvent::EventCancelled(e) => e.urgent,
            DomainEvent::EventRescheduled(e) => e.urgent,
            _ => false,
        }
    }

    /// The ids and times its notices may show or carry.
    pub fn facts(&self) -> Facts {
        match self {
            DomainEvent::EmailVerificationRequested(c) | DomainEvent::PasswordResetRequested(c) => {
                Facts {
                    expires_at: Some(c.expires_at),
                    ..Facts::default()
                }
            }
            DomainEvent::RegistrationPending(p) => Facts {
                expires_at: Some(p.expires_at),
                ..Facts::default()
            },
            DomainEvent::RegistrationAttempted(_)
            | DomainEvent::SnilsReentryRequired(_)
            | DomainEvent::PasswordChanged(_) => Facts::default(),
            DomainEvent::SignupRequested(s)
            | DomainEvent::WaitlistPromoted(s)
            | DomainEvent::SignupExpiringSoon(s)
            | DomainEvent::SignupApproved(s)
            | DomainEvent::SignupDeclined(s)
            | DomainEvent::SignupExpired(s)
            | DomainEvent::SignupWithdrawn(s) => Facts {
                event_id: Some(s.event_id),
                signup_id: Some(s.signup_id),
                student_id: Some(s.student_id),
                starts_at: Some(s.event_starts_at),
                expires_at: s.expires_at,
                ..Facts::default()
            },
            DomainEvent::EventCancelled(e) => Facts {
                event_id: Some(e.event_id),
                starts_at: Some(e.starts_at),
                ..Facts::default()
            },
            DomainEvent::EventRescheduled(e) => Facts {
                event_id: Some(e.event_id),
                starts_at: Some(e.new_starts_at),
                old_starts_at: Some(e.old_starts_at),
                new_starts_at: Some(e.new_starts_at),
                ..Facts::default()
            },
            DomainEvent::OrganizerNotice(n) => Facts {
                event_id: Some(n.event_id),
                notice_id: Some(n.notice_id),
                ..Facts::default()
            },
            DomainEvent::FamilyLinkRequested(r) => Facts {
                student_id: Some(r.student_id),
                request_id: Some(r.request_id),
                ..Facts::default()
            },
            DomainEvent::FamilyLinkAdded(a) => Facts {
                student_id: Some(a.student_id),
                request_id: a.request_id,
                ..Facts::default()
            },
            DomainEvent::FamilyLinkDeclined(d) => Facts {
                student_id: Some(d.student_id),
                request_id: Some(d.request_id),
                ..Facts::default()
            },
            DomainEvent::FamilyLinkRemoved(r) => Facts {
                student_id: Some(r.student_id),
                ..Facts::default()
            },
            DomainEvent::ConsentGiven(c)
            | DomainEvent::ConsentWithdrawn(c)
            | DomainEvent::PersonalDataConsentWithdrawn(c) => Facts {
                student_id: Some(c.student_id),
                consent: Some(c.kind),
                erasure_due_at: c.erasure_due_at,
                ..Facts::default()
            },
            DomainEvent::ResultsReady(r) => Facts {
                student_id: Some(r.student_id),
                attempt_id: Some(r.attempt_id),
                test_id: Some(r.test_id.clone()),
                ..Facts::default()
            },
            DomainEvent::RecommendationsReady(r) => Facts {
                student_id: Some(r.student_id),
                event_id: Some(r.event_id),
                ..Facts::default()
            },
            DomainEvent::ChildCheckedIn(c) => Facts {
                event_id: Some(c.event_id),
                signup_id: Some(c.signup_id),
                student_id: Some(c.student_id),
                starts_at: Some(c.event_starts_at),
                ..Facts::default()
            },
            DomainEvent::EventReminder(r) => Facts {
                event_id: Some(r.event_id),
                starts_at: Some(r.starts_at),
                hours_before: Some(r.hours_before),
                ..Facts::default()
            },
        }
    }

    /// The two outbox columns: the kind and the payload.
    pub fn to_stored(&self) -> (Kind, Value) {
        let mut tagged = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // Every variant holds a struct of plain fields: it always serializes as an
            // object, as the tests of this module check for each kind.
            _ => unreachable!("a domain event serializes as an object"),
        };
        (self.kind(), tagged.remove("payload").unwrap_or(Value::Null))
    }

    /// Reads an event back from the outbox columns; a kind this build does not know, or a
    /// payload that does not fit its kind, is an error.
    pub fn from_stored(kind: &str, payload: Value) -> Result<Self, UnreadableEvent> {
        let known: Kind = kind.parse()?;
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload })).map_err(
            |err| UnreadableEvent::Payload {
                kind: known,
                reason: err.to_string(),
            },
        )
    }
}

/// A domain event read from the database that this build cannot act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnreadableEvent {
    #[error("unknown domain event kind `{0}`")]
    UnknownKind(String),
    #[error("the payload of a `{kind}` event does not fit it: {reason}")]
    Payload { kind: Kind, reason: String },
}

macro_rules! kinds {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// The kind of a domain event, and of the notices announcing it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($variant),+
        }

        impl Kind {
            /// Every kind, in the order of the notification policies' table.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),+];

            /// The name in the outbox, the ledger, template files and push payloads.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name),+
                }
            }
        }
    };
}

kinds! {
    EmailVerificationRequested => "email_verification_requested",
    RegistrationAttempted => "registration_attempted",
    SnilsReentryRequired => "snils_reentry_required",
    SignupRequested => "signup_requested",
    WaitlistPromoted => "waitlist_promoted",
    SignupExpiringSoon => "signup_expiring_soon",
    SignupApproved => "signup_approved",
    SignupDeclined => "signup_declined",
    SignupExpired => "signup_expired",
    SignupWithdrawn => "signup_withdrawn",
    EventCancelled => "event_cancelled",
    EventRescheduled => "event_rescheduled",
    OrganizerNotice => "organizer_notice",
    FamilyLinkRequested => "family_link_requested",
    FamilyLinkAdded => "family_link_added",
    FamilyLinkDeclined => "family_link_declined",
    FamilyLinkRemoved => "family_link_removed",
    ConsentGiven => "consent_given",
    ConsentWithdrawn => "consent_withdrawn",
    PersonalDataConsentWithdrawn => "personal_data_consent_withdrawn",
    ResultsReady => "results_ready",
    RecommendationsReady => "recommendations_ready",
    RegistrationPending => "registration_pending",
    PasswordResetRequested => "password_reset_requested",
    PasswordChanged => "password_changed",
    ChildCheckedIn => "child_checked_in",
    EventReminder => "event_reminder",
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = UnreadableEvent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnreadableEvent::UnknownKind(s.to_owned()))
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn one_of_each() -> Vec<DomainEvent> {
        let (a, b, c) = (AccountId::new(), AccountId::new(), AccountId::new());
        let t = at("2026-12-05T11:00:00Z");
        let code = SealedCode {
            account_id: a,
            code_enc: "sealed".into(),
            expires_at: t,
        };
        let signup = SignupChange {
            signup_id: SignupId::new(),
            event_id: EventId::new(),
            student_id: a,
            status: "pending_parent".into(),
            expires_at: Some(t),
            event_starts_at: t,
            reason: None,
            by: None,
        };
        let consent = ConsentChange {
            student_id: a,
            kind: ConsentKind::PersonalData,
            actor_id: b,
            erasure_due_at: None,
        };
        vec![
            DomainEvent::EmailVerificationRequested(code.clone()),
            DomainEvent::RegistrationAttempted(AccountNotice { account_id: a }),
            DomainEvent::RegistrationPending(PendingRegistration {
                account_id: a,
                expires_at: t,
            }),
            DomainEvent::PasswordResetRequested(code),
            DomainEvent::PasswordChanged(PasswordChanged {
                account_id: a,
                changed_at: t,
            }),
            DomainEvent::SnilsReentryRequired(AccountNotice { account_id: a }),
            DomainEvent::SignupRequested(signup.clone()),
            DomainEvent::WaitlistPromoted(signup.clone()),
            DomainEvent::SignupExpiringSoon(signup.clone()),
            DomainEvent::SignupApproved(signup.clone()),
            DomainEvent::SignupDeclined(signup.clone()),
            DomainEvent::SignupExpired(SignupChange {
                reason: Some("no decision".into()),
                ..signup.clone()
            }),
            DomainEvent::SignupWithdrawn(SignupChange {
                by: Some(b),
                ..signup
            }),
            DomainEvent::EventCancelled(EventCancelled {
                event_id: EventId::new(),
                starts_at: t,
                ends_at: t,
                urgent: true,
                signups_cancelled: 3,
            }),
            DomainEvent::EventRescheduled(EventRescheduled {
                event_id: EventId::new(),
                old_starts_at: t,
                old_ends_at: t,
                new_starts_at: t,
                new_ends_at: t,
                place_changed: false,
                urgent: false,
            }),
            DomainEvent::OrganizerNotice(OrganizerNotice {
                notice_id: NoticeId::new(),
                event_id: EventId::new(),
            }),
            DomainEvent::FamilyLinkRequested(FamilyLinkRequested {
                student_id: a,
                request_id: LinkRequestId::new(),
                actor_id: b,
            }),
            DomainEvent::FamilyLinkAdded(FamilyLinkAdded {
                student_id: a,
                subject_id: c,
                actor_id: b,
                request_id: None,
            }),
            DomainEvent::FamilyLinkDeclined(FamilyLinkDeclined {
                student_id: a,
                subject_id: c,
                actor_id: b,
                request_id: LinkRequestId::new(),
            }),
            DomainEvent::FamilyLinkRemoved(FamilyLinkRemoved {
                student_id: a,
                actor_id: b,
            }),
            DomainEvent::ConsentGiven(consent.clone()),
            DomainEvent::ConsentWithdrawn(consent.clone()),
            DomainEvent::PersonalDataConsentWithdrawn(ConsentChange {
                erasure_due_at: Some(t),
                ..consent
            }),
            DomainEvent::ResultsReady(ResultsReady {
                attempt_id: AttemptId::new(),
                student_id: a,
                test_id: "klimov-ddo".into(),
            }),
            DomainEvent::RecommendationsReady(RecommendationsReady {
                student_id: a,
                event_id: EventId::new(),
                new_count: 3,
            }),
            DomainEvent::ChildCheckedIn(ChildCheckedIn {
                signup_id: SignupId::new(),
                event_id: EventId::new(),
                student_id: a,
                event_starts_at: t,
                checked_in_at: t,
            }),
            DomainEvent::EventReminder(EventReminder {
                event_id: EventId::new(),
                starts_at: t,
                hours_before: 24,
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips_through_the_outbox_columns() {
        let events = one_of_each();
        let mut kinds: Vec<Kind> = events.iter().map(DomainEvent::kind).collect();
        kinds.sort();
        assert_eq!(kinds, Kind::ALL, "one example of every kind");
        for event in events {
            let (kind, payload) = event.to_stored();
            assert!(payload.is_object(), "{kind}: {payload}");
            let back = DomainEvent::from_stored(kind.as_str(), payload).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn an_unknown_kind_or_a_payload_that_does_not_fit_is_an_error() {
        assert_eq!(
            DomainEvent::from_stored("event_canceled", serde_json::json!({})),
            Err(UnreadableEvent::UnknownKind("event_canceled".into()))
        );
        let err = DomainEvent::from_stored(
            "event_cancelled",
            serde_json::json!({ "event_id": EventId::new(), "urgnet": true }),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                UnreadableEvent::Payload {
                    kind: Kind::EventCancelled,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rows_written_before_the_type_read_back() {
        // A cancellation as `organizer::cancel_event` wrote it with `json!`.
        let payload = serde_json::json!({
            "event_id": "0190a0c4-7d2e-7a8b-9c1d-2e3f4a5b6c7d",
            "starts_at": "2026-12-05T11:00:00Z",
            "ends_at": "2026-12-05T14:00:00Z",
            "urgent": true,
            "signups_cancelled": 12,
        });
        let event = DomainEvent::from_stored("event_cancelled", payload).unwrap();
        assert!(event.urgent());
        assert_eq!(event.kind(), Kind::EventCancelled);
        // A sign-up announcement, with the `status` and `expires_at` it always carried.
        let payload = serde_json::json!({
            "signup_id": "0190a0c4-7d2e-7a8b-9c1d-2e3f4a5b6c7e",
            "event_id": "0190a0c4-7d2e-7a8b-9c1d-2e3f4a5b6c7d",
            "student_id": "0190a0c4-7d2e-7a8b-9c1d-2e3f4a5b6c7f",
            "status": "pending_parent",
            "expires_at": null,
            "event_starts_at": "2026-12-05T11:00:00Z",
        });
        let event = DomainEvent::from_stored("signup_requested", payload).unwrap();
        assert_eq!(event.facts().expires_at, None);
    }
}
