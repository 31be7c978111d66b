//! Apple Push Notification service over HTTP/2 with token-based auth: an ES256 provider
//! token minted from the team's `.p8` key, cached and re-minted every 20–50 minutes (never
//! per request: Apple answers 429 TooManyProviderTokenUpdates), the payload and headers
//! built with `a2`'s public types, and Apple's answers mapped to [`SendError`]. The same
//! code talks to api.push.apple.com over TLS and to the simulator over cleartext HTTP/2.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use a2::request::notification::{
    CollapseId, DefaultNotificationBuilder, NotificationBuilder, NotificationOptions, Priority,
    PushType,
};
use a2::request::payload::PayloadLike;
use a2::{ErrorBody, ErrorReason};
use serde_json::json;

use super::jwt::{Es256Key, JwtError, now_unix};
use super::transport::{self, RATE_LIMIT_RETRY, UNAVAILABLE_RETRY};
use super::{Channel, ChannelKind, Delivered, OutboundMessage, SendError, SendResult};
use crate::settings::Secret;

/// Apple's production host.
pub const PRODUCTION_URL: &str = "https://api.push.apple.com";
/// Apple's development (sandbox) host.
pub const SANDBOX_URL: &str = "https://api.sandbox.push.apple.com";
/// The largest payload Apple accepts for an alert, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// Shortest and longest provider-token lifetime we allow: Apple rejects tokens older than
/// an hour and refuses updates more often than every 20 minutes.
pub const TOKEN_REFRESH_RANGE: (Duration, Duration) =
    (Duration::from_secs(20 * 60), Duration::from_secs(50 * 60));

/// Everything the APNs client needs.
#[derive(Debug, Clone)]
pub struct ApnsConfig {
    /// `https://api.push.apple.com`, the sandbox, or a simulator's `http://host:port`.
    pub base_url: String,
    /// The app's bundle id, sent as `apns-topic`.
    pub topic: String,
    pub key_id: String,
    pub team_id: String,
    /// The `.p8` key (PKCS#8 PEM).
    pub key: Secret,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Age at which the provider token is re-minted (20–50 minutes).
    pub token_refresh: Duration,
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    #[error("APNs key: {0}")]
    Key(#[from] JwtError),
    #[error("APNs HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The APNs channel.
pub struct ApnsClient {
    http: reqwest::Client,
    base_url: String,
    topic: String,
    tokens: ProviderTokens,
}

impl ApnsClient {
    /// Reads the key and builds the HTTP/2 client; nothing is sent yet.
    pub fn new(config: ApnsConfig) -> Result<Self, ApnsError> {
        let signer = Es256Key::from_pem(config.key.expose())?;
        let refresh = config
            .token_refresh
            .clamp(TOKEN_REFRESH_RANGE.0, TOKEN_REFRESH_RANGE.1);
        Ok(Self {
            http: transport::client(config.timeout, true)?,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            topic: config.topic,
            tokens: ProviderTokens::new(signer, config.key_id, config.team_id, refresh),
        })
    }

    /// How many provider tokens this client has minted (tests and metrics).
    pub fn tokens_minted(&self) -> u64 {
        self.tokens.minted()
    }

    async fn attempt(&self, request: &ApnsRequest, jwt: &str) -> Verdict {
        let mut http = self
            .http
            .post(format!(
                "{}/3/device/{}",
                self.base_url, request.device_token
            ))
            .header("authorization", format!("bearer {jwt}"))
            .header("content-type", "application/json")
            .body(request.payload.clone());
        for (name, value) in &request.headers {
            http = http.header(*name, value);
        }
        let response = match http.send().await {
            Ok(response) => response,
            Err(err) => return Verdict::Done(Err(transport::transport_failure(err))),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(err) => return Verdict::Done(Err(transport::transport_failure(err))),
        };
        if status == 200 {
            let provider_id = headers
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| request.apns_id.clone());
            return Verdict::Done(Ok(Delivered { provider_id }));
        }
        let reason = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.reason);
        classify(
            status,
            reason.as_ref(),
            transport::retry_after(&headers, default_retry(status)),
        )
    }
}

fn default_retry(status: u16) -> Duration {
    if status == 429 {
        RATE_LIMIT_RETRY
    } else {
        UNAVAILABLE_RETRY
    }
}

#[async_trait::async_trait]
impl Channel for ApnsClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Apns
    }

    #[tracing::instrument(name = "apns_send", skip_all, fields(delivery_id = %message.delivery_id))]
    async fn send(&self, message: &OutboundMessage) -> SendResult {
        let result = async {
            let request = build_request(message, &self.topic)?;
            let jwt = self.tokens.current()?;
            match self.attempt(&request, &jwt).await {
                Verdict::Done(result) => result,
                Verdict::ProviderTokenExpired => {
                    self.tokens.expire(&jwt);
                    let fresh = self.tokens.current()?;
                    match self.attempt(&request, &fresh).await {
                        Verdict::Done(result) => result,
                        Verdict::ProviderTokenExpired => Err(SendError::retry(
                            RATE_LIMIT_RETRY,
                            "APNs rejected a freshly minted provider token as expired",
                        )),
                    }
                }
            }
        }
        .await;
        super::log_result(ChannelKind::Apns, message, &result);
        result
    }
}

/// What one request came to.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Done(SendResult),
    /// 403 ExpiredProviderToken: re-mint once and send again.
    ProviderTokenExpired,
}

/// Maps Apple's status and reason. `retry` is the delay the answer asked for (or ours).
fn classify(status: u16, reason: Option<&ErrorReason>, retry: Duration) -> Verdict {
    let described = match reason {
        Some(reason) => format!("{status} {reason:?}"),
        None => status.to_string(),
    };
    let result = match (status, reason) {
        (410, _) => Err(SendError::TokenInvalid),
        (400, Some(ErrorReason::BadDeviceToken | ErrorReason::DeviceTokenNotForTopic)) => {
            Err(SendError::TokenInvalid)
        }
        (403, Some(ErrorReason::ExpiredProviderToken)) => return Verdict::ProviderTokenExpired,
        (429, _) | (500..=599, _) => Err(SendError::retry(retry, described)),
        _ => Err(SendError::permanent(described)),
    };
    Verdict::Done(result)
}

/// A request ready to send: the path's device token, Apple's headers and the JSON body.
#[derive(Debug, Clone)]
pub struct ApnsRequest {
    pub device_token: String,
    pub apns_id: String,
    pub headers: Vec<(&'static str, String)>,
    pub payload: String,
}

/// Builds the payload and headers in one place, from `a2`'s types: `aps.alert` with the
/// title and body, `category` when given, custom keys with ids only; `apns-priority` 10
/// for urgent notices and 5 otherwise; `apns-expiration` from the TTL; `apns-collapse-id`
/// per event. A payload over 4 KB is a permanent failure.
pub fn build_request(message: &OutboundMessage, topic: &str) -> Result<ApnsRequest, SendError> {
    let device_token = super::recipient_for(ChannelKind::Apns, message)?;
    if !device_token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(SendError::TokenInvalid);
    }
    let apns_id = message.delivery_id.hyphenated().to_string();
    let collapse_id = match &message.replaces {
        Some(key) => Some(
            CollapseId::new(key)
                .map_err(|_| SendError::permanent("collapse key over APNs' 64 bytes"))?,
        ),
        None => None,
    };
    let expiration = if message.ttl.is_zero() {
        0
    } else {
        now_unix() + message.ttl.as_secs()
    };
    let options = NotificationOptions {
        apns_id: Some(&apns_id),
        apns_push_type: Some(PushType::Alert),
        apns_expiration: Some(expiration),
        apns_priority: Some(if message.urgent {
            Priority::High
        } else {
            Priority::Normal
        }),
        apns_topic: Some(topic),
        apns_collapse_id: collapse_id,
    };
    let mut builder = DefaultNotificationBuilder::new()
        .set_title(&message.title)
        .set_body(&message.body);
    if message.urgent {
        builder = builder.set_sound("default");
    }
    if let Some(category) = &message.category {
        builder = builder.set_category(category);
    }
    let mut payload = builder.build(device_token, options);
    let kind = message.kind.as_str();
    let custom = message
        .data
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("kind", kind)]);
    for (key, value) in custom {
        payload
            .add_custom_data(key, &value)
            .map_err(|err| SendError::permanent(format!("APNs payload: {err}")))?;
    }
    let json = payload
        .to_json_string()
        .map_err(|err| SendError::permanent(format!("APNs payload: {err}")))?;
    if json.len() > MAX_PAYLOAD_BYTES {
        return Err(SendError::permanent(format!(
            "APNs payload is {} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit",
            json.len()
        )));
    }
    let options = payload.get_options();
    let mut headers = vec![("apns-push-type", PushType::Alert.to_string())];
    if let Some(topic) = options.apns_topic {
        headers.push(("apns-topic", topic.to_owned()));
    }
    if let Some(priority) = &options.apns_priority {
        headers.push(("apns-priority", priority.to_string()));
    }
    if let Some(expiration) = options.apns_expiration {
        headers.push(("apns-expiration", expiration.to_string()));
    }
    if let Some(collapse) = &options.apns_collapse_id {
        headers.push(("apns-collapse-id", collapse.value.to_owned()));
    }
    headers.push(("apns-id", apns_id.clone()));
    Ok(ApnsRequest {
        device_token: device_token.to_owned(),
        apns_id,
        headers,
        payload: json,
    })
}

/// The cached provider token: minted on first use and again once it is `refresh` old or
/// Apple called it expired, never per request.
struct ProviderTokens {
    signer: Es256Key,
    key_id: String,
    team_id: String,
    refresh: Duration,
    current: Mutex<Option<(Arc<str>, Instant)>>,
    minted: std::sync::atomic::AtomicU64,
}

impl ProviderTokens {
    fn new(signer: Es256Key, key_id: String, team_id: String, refresh: Duration) -> Self {
        Self {
            signer,
            key_id,
            team_id,
            refresh,
            current: Mutex::new(None),
            minted: Default::default(),
        }
    }

    fn minted(&self) -> u64 {
        self.minted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The token to use now. Signing is a few microseconds, so it happens under the lock:
    /// concurrent senders never mint twice.
    fn current(&self) -> Result<Arc<str>, SendError> {
        self.current_at(Instant::now())
    }

    fn current_at(&self, now: Instant) -> Result<Arc<str>, SendError> {
        // A poisoned lock only means another sender panicked while holding it; the cached
        // value is still a whole token or none.
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, minted)) = current.as_ref()
            && now.saturating_duration_since(*minted) < self.refresh
        {
            return Ok(token.clone());
        }
        let token: Arc<str> = self
            .signer
            .sign(
                &self.key_id,
                &json!({"iss": self.team_id, "iat": now_unix()}),
            )
            .map_err(|err| SendError::permanent(format!("APNs provider token: {err}")))?
            .into();
        self.minted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(key_id = %self.key_id, "minted an APNs provider token");
        *current = Some((token.clone(), now));
        Ok(token)
    }

    /// Forgets `failed` if it is still the current token (concurrent 403s re-mint once).
    fn expire(&self, failed: &str) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current
            .as_ref()
            .is_some_and(|(token, _)| &**token == failed)
        {
            *current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::providers::Recipient;

    fn message() -> OutboundMessage {
        let mut message = OutboundMessage::new(
            ChannelKind::Apns,
            Recipient::DeviceToken("abc123".into()),
            "event_cancelled",
            "Событие отменено",
            "Экскурсия на завод в субботу отменена",
        );
        message.data.insert("event_id".into(), "42".into());
        message
    }

    fn tokens(refresh: Duration) -> ProviderTokens {
        let key =
            Es256Key::from_pem(&crate::simulators::tokens::generate_es256_pem().unwrap()).unwrap();
        ProviderTokens::new(key, "KEY".into(), "TEAM".into(), refresh)
    }

    #[test]
    fn the_payload_has_the_alert_and_ids_and_the_headers_say_priority_and_collapse() {
        let mut urgent = message();
        urgent.urgent = true;
        urgent.replaces = Some("event-42".into());
        urgent.category = Some("EVENT_CHANGE".into());
        let request = build_request(&urgent, "ru.bilet.app").unwrap();
        let payload: serde_json::Value = serde_json::from_str(&request.payload).unwrap();
        assert_eq!(payload["aps"]["alert"]["title"], "Событие отменено");
        assert_eq!(payload["aps"]["category"], "EVENT_CHANGE");
        assert_eq!(payload["event_id"], "42");
        assert_eq!(payload["kind"], "event_cancelled");
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("apns-priority").as_deref(), Some("10"));
        assert_eq!(header("apns-collapse-id").as_deref(), Some("event-42"));
        assert_eq!(header("apns-topic").as_deref(), Some("ru.bilet.app"));
        assert_eq!(header("apns-push-type").as_deref(), Some("alert"));
        let normal = build_request(&message(), "t").unwrap();
        assert!(normal.headers.contains(&("apns-priority", "5".into())));
    }

    #[test]
    fn a_payload_over_four_kilobytes_is_permanent() {
        let mut big = message();
        big.body = "ы".repeat(2100);
        assert!(matches!(
            build_request(&big, "t"),
            Err(SendError::Permanent(reason)) if reason.contains("4096")
        ));
    }

    #[test]
    fn apple_answers_map_to_outcomes() {
        let retry = Duration::from_secs(7);
        let token_invalid = Verdict::Done(Err(SendError::TokenInvalid));
        assert_eq!(
            classify(410, Some(&ErrorReason::Unregistered), retry),
            token_invalid
        );
        assert_eq!(
            classify(400, Some(&ErrorReason::BadDeviceToken), retry),
            token_invalid
        );
        assert_eq!(
            classify(403, Some(&ErrorReason::ExpiredProviderToken), retry),
            Verdict::ProviderTokenExpired
        );
        for status in [429, 500, 503] {
            assert!(matches!(
                classify(status, None, retry),
                Verdict::Done(Err(SendError::RetryAfter { after, .. })) if after == retry
            ));
        }
        for (status, reason) in [
            (400, ErrorReason::BadTopic),
            (403, ErrorReason::InvalidProviderToken),
            (413, ErrorReason::PayloadTooLarge),
        ] {
            assert!(matches!(
                classify(status, Some(&reason), retry),
                Verdict::Done(Err(SendError::Permanent(_)))
            ));
        }
    }

    #[test]
    fn the_provider_token_is_cached_until_it_is_due_or_expired() {
        let tokens = tokens(Duration::from_secs(40 * 60));
        let start = Instant::now();
        let first = tokens.current_at(start).unwrap();
        let later = tokens
            .current_at(start + Duration::from_secs(39 * 60))
            .unwrap();
        assert_eq!(first, later);
        assert_eq!(tokens.minted(), 1);
        let due = tokens
            .current_at(start + Duration::from_secs(40 * 60))
            .unwrap();
        assert_ne!(first, due);
        tokens.expire(&first);
        assert_eq!(
            tokens
                .current_at(start + Duration::from_secs(41 * 60))
                .unwrap(),
            due
        );
        tokens.expire(&due);
        assert_ne!(
            tokens
                .current_at(start + Duration::from_secs(41 * 60))
                .unwrap(),
            due
        );
        assert_eq!(tokens.minted(), 3);
    }
}
