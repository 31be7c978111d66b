//! Delivery channels: one client per provider (APNs, FCM, RuStore, an SMS gateway, SMTP)
//! behind the one [`Channel`] trait the hub calls, the channel-neutral [`OutboundMessage`],
//! and the answer every provider reply maps to: delivered, retry after, permanent, or
//! token invalid.

pub mod apns;
pub mod config;
pub mod email;
pub mod fcm;
pub mod jwt;
pub mod registry;
pub mod rustore;
pub mod sms;
mod transport;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use uuid::Uuid;

pub use bilet_channels::ChannelKind;
pub use config::{ConfigError, PushConfig};
pub use registry::{ChannelMode, Channels, ChannelsError};

/// Where a notice goes. Personal data: never logged (use [`Recipient::fingerprint`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// A push token from APNs, FCM or RuStore.
    DeviceToken(String),
    /// A phone number in E.164 form, `+79991234567`.
    Phone(String),
    /// An e-mail address.
    Email(String),
}

impl Recipient {
    /// The address itself, for the provider request only.
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::DeviceToken(s) | Recipient::Phone(s) | Recipient::Email(s) => s,
        }
    }

    /// A short tag safe for logs: 8 hex digits of an HMAC-SHA-256 under a key made at
    /// process start. Stable within one process, so a log can tie failures for the same
    /// recipient together; unkeyed, a hash of a phone number could be reversed by trying
    /// every number.
    pub fn fingerprint(&self) -> String {
        static KEY: std::sync::OnceLock<ring::hmac::Key> = std::sync::OnceLock::new();
        let key = KEY.get_or_init(|| {
            let mut bytes = [0u8; 32];
            // `fill` fails only when the OS has no random source; the zero key then still
            // yields short tags, just guessable ones.
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes)
        });
        let tag = ring::hmac::sign(key, self.as_str().as_bytes());
        tag.as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Recipient::DeviceToken(_) => "DeviceToken",
            Recipient::Phone(_) => "Phone",
            Recipient::Email(_) => "Email",
        };
        write!(f, "{kind}(#{})", self.fingerprint())
    }
}

/// One notice for one recipient on one channel, already rendered and localised. The
/// texts carry no personal data; `data` carries ids only.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// Unique per delivery attempt series; sent as `apns-id` and as the e-mail Message-ID,
    /// so a provider that deduplicates sees a retry as the same message.
    pub delivery_id: Uuid,
    /// The channel this message is meant for; a client refuses another channel's message.
    pub channel: ChannelKind,
    pub to: Recipient,
    /// A short machine name of the notice, e.g. `event_cancelled`.
    pub kind: String,
    /// Urgent notices wake the device (APNs priority 10, Android priority high).
    pub urgent: bool,
    /// Notices with the same key are kept as one while the device is offline (FCM's
    /// `android.collapse_key`: the event, since FCM keeps at most four keys per device).
    pub collapse_key: Option<String>,
    /// Notices with the same key replace each other where the phone shows them (APNs'
    /// `apns-collapse-id`, FCM's `android.notification.tag`): the event for notices about
    /// one, else the notification, so a notice sent twice shows once.
    pub replaces: Option<String>,
    pub title: String,
    /// Short plain text; for e-mail, the text part.
    pub body: String,
    /// Ids only (`event_id`, `signup_id`, `notification_id`), passed to the app.
    pub data: BTreeMap<String, String>,
    /// A short link into the app or site; SMS texts always keep it.
    pub link: Option<String>,
    /// The HTML part of an e-mail; when absent it is made from the text.
    pub html_body: Option<String>,
    /// The app's notification category for actionable notices (APNs `category`).
    pub category: Option<String>,
    /// Essential mail (a cancellation, a move) has no `List-Unsubscribe`; the rest must.
    pub essential: bool,
    /// One-click unsubscribe URL for non-essential mail (RFC 8058).
    pub unsubscribe_url: Option<String>,
    /// How long a provider may keep trying to reach the device; zero means once.
    pub ttl: Duration,
}

impl OutboundMessage {
    /// A message with the usual defaults: a fresh delivery id, not urgent, essential, no
    /// data, one day to live.
    pub fn new(
        channel: ChannelKind,
        to: Recipient,
        kind: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            delivery_id: Uuid::now_v7(),
            channel,
            to,
            kind: kind.into(),
            urgent: false,
            collapse_key: None,
            replaces: None,
            title: title.into(),
            body: body.into(),
            data: BTreeMap::new(),
            link: None,
            html_body: None,
            category: None,
            essential: true,
            unsubscribe_url: None,
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The provider's id for it (apns-id, FCM message name, SMS id, SMTP queue id).
    pub provider_id: String,
}

/// Why a message was not delivered; every provider answer and transport failure maps to
/// exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again no sooner than `after` (rate limits, provider outages, timeouts,
    /// dropped connections).
    #[error("retry after {after:?}: {reason}")]
    RetryAfter { after: Duration, reason: String },
    /// Sending this message again will not help (bad request, bad credentials, payload too
    /// large, rejected address).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The device token or number is no longer valid: stop using it.
    #[error("the recipient's token is no longer valid")]
    TokenInvalid,
}

impl SendError {
    /// A retry-after error.
    pub fn retry(after: Duration, reason: impl Into<String>) -> Self {
        SendError::RetryAfter {
            after,
            reason: reason.into(),
        }
    }

    /// A permanent error.
    pub fn permanent(reason: impl Into<String>) -> Self {
        SendError::Permanent(reason.into())
    }

    /// A short label for logs and metrics: `retry_after`, `permanent`, `token_invalid`.
    pub fn label(&self) -> &'static str {
        match self {
            SendError::RetryAfter { .. } => "retry_after",
            SendError::Permanent(_) => "permanent",
            SendError::TokenInvalid => "token_invalid",
        }
    }
}

/// What a send came to.
pub type SendResult = Result<Delivered, SendError>;

/// A delivery channel. The hub holds one `Arc<dyn Channel>` per channel; `send` never
/// panics and never returns before the provider answered, the timeout passed or the
/// connection failed.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// Which channel this is.
    fn kind(&self) -> ChannelKind;

    /// Sends one message and maps the provider's answer.
    async fn send(&self, message: &OutboundMessage) -> SendResult;
}

/// Refuses a message meant for another channel or carrying the wrong kind of recipient;
/// returns the recipient's address.
fn recipient_for(kind: ChannelKind, message: &OutboundMessage) -> Result<&str, SendError> {
    if message.channel != kind {
        return Err(SendError::permanent(format!(
            "a {} message was sent to the {kind} channel",
            message.channel
        )));
    }
    match (&message.to, kind) {
        (
            Recipient::DeviceToken(token),
            ChannelKind::Apns | ChannelKind::Fcm | ChannelKind::Rustore,
        ) if !token.is_empty() => Ok(token),
        (Recipient::Phone(phone), ChannelKind::Sms) => Ok(phone),
        (Recipient::Email(address), ChannelKind::Email) => Ok(address),
        _ => Err(SendError::permanent(format!(
            "the {kind} channel cannot send to this kind of recipient"
        ))),
    }
}

/// Logs the result of one send with ids only.
fn log_result(kind: ChannelKind, message: &OutboundMessage, result: &SendResult) {
    match result {
        Ok(delivered) => tracing::debug!(
            channel = kind.as_str(),
            delivery_id = %message.delivery_id,
            provider_id = %delivered.provider_id,
            "delivered"
        ),
        Err(err) => tracing::info!(
            channel = kind.as_str(),
            delivery_id = %message.delivery_id,
            recipient = %message.to.fingerprint(),
            outcome = err.label(),
            error = %err,
            "not delivered"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_never_prints_its_address() {
        let phone = Recipient::Phone("+79991234567".into());
        let printed = format!("{phone:?}");
        assert!(!printed.contains("9991234567"), "{printed}");
        assert_eq!(phone.fingerprint().len(), 8);
        assert_eq!(phone.fingerprint(), phone.clone().fingerprint());
    }

    #[test]
    fn a_client_refuses_another_channels_message_or_recipient() {
        let message = OutboundMessage::new(
            ChannelKind::Sms,
            Recipient::Email("a@b.c".into()),
            "k",
            "t",
            "b",
        );
        assert!(matches!(
            recipient_for(ChannelKind::Apns, &message),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            recipient_for(ChannelKind::Sms, &message),
            Err(SendError::Permanent(_))
        ));
    }
}
