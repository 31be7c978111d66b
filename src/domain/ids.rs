//! Typed ids, so an account id can never be passed where a session id is expected.

use std::fmt;

use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

typed_id!(
    /// A person's account (student, parent, organizer or admin).
    AccountId
);
typed_id!(
    /// A device session: one login on one device, and the refresh tokens rotated in it.
    SessionId
);
typed_id!(
    /// An organization (площадка) that organizers belong to.
    OrganizationId
);
typed_id!(
    /// A consent record.
    ConsentId
);
typed_id!(
    /// A parent's invitation to a child.
    InvitationId
);
typed_id!(
    /// An adult's request to join a child's family, awaiting a linked parent's decision.
    LinkRequestId
);
typed_id!(
    /// A practical event (профессиональная проба).
    EventId
);
typed_id!(
    /// A student's sign-up for an event.
    SignupId
);
typed_id!(
    /// A SNILS conflict: someone tried to save a SNILS another profile holds.
    SnilsConflictId
);
typed_id!(
    /// An organizer's free-text notice to everyone signed up for an event.
    NoticeId
);
typed_id!(
    /// One attempt at a diagnostic test.
    AttemptId
);
typed_id!(
    /// A domain event in the outbox: one state change to announce.
    DomainEventId
);
typed_id!(
    /// One person's notice of a domain event (the inbox entry).
    NotificationId
);
typed_id!(
    /// One delivery of a notification: one person, one channel, one device.
    DeliveryId
);
