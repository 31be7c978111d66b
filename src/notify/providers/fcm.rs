//! Firebase Cloud Messaging, HTTP v1: `POST {base}/v1/projects/{project}/messages:send`
//! with an OAuth2 access token got from a service account (a signed RS256 JWT bearer grant
//! to the account's `token_uri`), cached and refreshed before it expires. Google's
//! answers map to [`SendError`]; a 401 refreshes the token once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::jwt::{JwtError, Rs256Key, now_unix};
use super::transport::{self, ApiError, RATE_LIMIT_RETRY, UNAVAILABLE_RETRY};
use super::{Channel, ChannelKind, Delivered, OutboundMessage, SendError, SendResult};

/// Google's FCM host.
pub const PRODUCTION_URL: &str = "https://fcm.googleapis.com";
/// The OAuth scope FCM sends need.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// An access token this close to expiry is refreshed before use.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The fields of a Firebase service-account JSON file that matter here.
#[derive(Clone, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    pub token_uri: String,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// Everything the FCM client needs.
#[derive(Debug, Clone)]
pub struct FcmConfig {
    /// `https://fcm.googleapis.com` or a simulator's `http://host:port`.
    pub base_url: String,
    pub service_account: ServiceAccount,
    /// Per-request timeout (token requests too).
    pub timeout: Duration,
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    #[error("FCM service account key: {0}")]
    Key(#[from] JwtError),
    #[error("FCM HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The FCM channel.
pub struct FcmClient {
    http: reqwest::Client,
    send_url: String,
    tokens: AccessTokens,
}

impl FcmClient {
    /// Reads the key and builds the clients; nothing is sent yet.
    pub fn new(config: FcmConfig) -> Result<Self, FcmError> {
        let account = config.service_account;
        let send_url = format!(
            "{}/v1/projects/{}/messages:send",
            config.base_url.trim_end_matches('/'),
            account.project_id
        );
        Ok(Self {
            http: transport::client(config.timeout, true)?,
            send_url,
            tokens: AccessTokens {
                key: Rs256Key::from_pem(&account.private_key)?,
                http: transport::client(config.timeout, false)?,
                account,
                current: RwLock::new(None),
                refresh: tokio::sync::Mutex::new(()),
                fetched: Default::default(),
            },
        })
    }

    /// How many access tokens this client has fetched (tests and metrics).
    pub fn tokens_fetched(&self) -> u64 {
        self.tokens
            .fetched
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn attempt(&self, body: &serde_json::Value, access_token: &str) -> Verdict {
        let response = match self
            .http
            .post(&self.send_url)
            .bearer_auth(access_token)
            .json(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => return Verdict::Done(Err(transport::transport_failure(err))),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(err) => return Verdict::Done(Err(transport::transport_failure(err))),
        };
        if status == 200 {
            #[derive(Deserialize)]
            struct Sent {
                name: String,
            }
            return Verdict::Done(match serde_json::from_slice::<Sent>(&bytes) {
                Ok(sent) => Ok(Delivered {
                    provider_id: sent.name,
                }),
                Err(_) => Err(SendError::permanent(
                    "FCM answered 200 without a message name",
                )),
            });
        }
        let default = if status == 429 {
            RATE_LIMIT_RETRY
        } else {
            UNAVAILABLE_RETRY
        };
        classify(
            status,
            &ApiError::parse(&bytes),
            transport::retry_after(&headers, default),
        )
    }
}

#[async_trait::async_trait]
impl Channel for FcmClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Fcm
    }

    #[tracing::instrument(name = "fcm_send", skip_all, fields(delivery_id = %message.delivery_id))]
    async fn send(&self, message: &OutboundMessage) -> SendResult {
        let result = async {
            let body = build_body(message)?;
            let token = self.tokens.get().await?;
            match self.attempt(&body, &token).await {
                Verdict::Done(result) => result,
                Verdict::Unauthenticated => {
                    self.tokens.invalidate(&token);
                    let fresh = self.tokens.get().await?;
                    match self.attempt(&body, &fresh).await {
                        Verdict::Done(result) => result,
                        Verdict::Unauthenticated => Err(SendError::retry(
                            RATE_LIMIT_RETRY,
                            "FCM rejected a freshly issued access token",
                        )),
                    }
                }
            }
        }
        .await;
        super::log_result(ChannelKind::Fcm, message, &result);
        result
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Done(SendResult),
    /// 401: refresh the access token once and send again.
    Unauthenticated,
}

/// Maps FCM's status and error body; `retry` is the delay the answer asked for (or ours).
fn classify(status: u16, error: &ApiError, retry: Duration) -> Verdict {
    let code = error.error_code().unwrap_or(error.status.as_str());
    let result = match (status, code) {
        (401, _) => return Verdict::Unauthenticated,
        (_, "UNREGISTERED") | (404, _) => Err(SendError::TokenInvalid),
        (400, "INVALID_ARGUMENT") if error.blames_token() => Err(SendError::TokenInvalid),
        (429, _) | (_, "QUOTA_EXCEEDED") => Err(SendError::retry(retry, error.describe(status))),
        // Google documents INTERNAL (500) like UNAVAILABLE: retry with backoff.
        (500..=599, _) => Err(SendError::retry(retry, error.describe(status))),
        _ => Err(SendError::permanent(error.describe(status))),
    };
    Verdict::Done(result)
}

/// The `messages:send` body, built in one place: `message.token`, `notification`, `data`
/// (ids, plus the notice kind and link), and `android` with priority HIGH for urgent
/// notices, the TTL and the collapse key.
pub fn build_body(message: &OutboundMessage) -> Result<serde_json::Value, SendError> {
    let token = super::recipient_for(ChannelKind::Fcm, message)?;
    let mut android = json!({
        "priority": if message.urgent { "HIGH" } else { "NORMAL" },
        "ttl": format!("{}s", message.ttl.as_secs()),
    });
    if let Some(key) = &message.collapse_key {
        android["collapse_key"] = json!(key);
    }
    if let Some(tag) = &message.replaces {
        android["notification"] = json!({"tag": tag});
    }
    Ok(json!({
        "message": {
            "token": token,
            "notification": {"title": message.title, "body": message.body},
            "data": push_data(message),
            "android": android,
        }
    }))
}

/// The data keys a push carries: the message's ids, its kind and its link.
pub(super) fn push_data(message: &OutboundMessage) -> BTreeMap<String, String> {
    let mut data = message.data.clone();
    data.insert("kind".into(), message.kind.clone());
    if let Some(link) = &message.link {
        data.insert("link".into(), link.clone());
    }
    data
}

/// True while an access token expiring at `expires` has more than the margin left.
fn usable(expires: Instant, now: Instant) -> bool {
    now + REFRESH_MARGIN < expires
}

/// OAuth access tokens for the service account: fetched on first use, reused until five
/// minutes before expiry, refreshed by one sender while the others wait.
struct AccessTokens {
    key: Rs256Key,
    http: reqwest::Client,
    account: ServiceAccount,
    current: RwLock<Option<(Arc<str>, Instant)>>,
    refresh: tokio::sync::Mutex<()>,
    fetched: std::sync::atomic::AtomicU64,
}

impl AccessTokens {
    fn valid(&self) -> Option<Arc<str>> {
        // A poisoned lock only means a reader panicked; the value is whole.
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        current
            .as_ref()
            .filter(|(_, expires)| usable(*expires, now))
            .map(|(token, _)| token.clone())
    }

    async fn get(&self) -> Result<Arc<str>, SendError> {
        if let Some(token) = self.valid() {
            return Ok(token);
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(token) = self.valid() {
            return Ok(token);
        }
        let (token, lifetime) = self.fetch().await?;
        let token: Arc<str> = token.into();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    fn invalidate(&self, failed: &str) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current
            .as_ref()
            .is_some_and(|(token, _)| &**token == failed)
        {
            *current = None;
        }
    }

    /// The JWT bearer grant (RFC 7523) to the account's `token_uri`.
    async fn fetch(&self) -> Result<(String, Duration), SendError> {
        let iat = now_unix();
        let assertion = self
            .key
            .sign(
                &self.account.private_key_id,
                &json!({
                    "iss": self.account.client_email,
                    "scope": SCOPE,
                    "aud": self.account.token_uri,
                    "iat": iat,
                    "exp": iat + 3600,
                }),
            )
            .map_err(|err| SendError::permanent(format!("FCM OAuth assertion: {err}")))?;
        let response = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(transport::transport_failure)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(transport::transport_failure)?;
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
            expires_in: u64,
        }
        #[derive(Deserialize, Default)]
        struct Refused {
            #[serde(default)]
            error: String,
        }
        match status {
            200 => {
                let granted: Granted = serde_json::from_slice(&bytes).map_err(|_| {
                    SendError::retry(UNAVAILABLE_RETRY, "the OAuth answer has no access token")
                })?;
                self.fetched
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    expires_in = granted.expires_in,
                    "fetched an FCM access token"
                );
                Ok((
                    granted.access_token,
                    Duration::from_secs(granted.expires_in),
                ))
            }
            429 | 500..=599 => Err(SendError::retry(
                transport::retry_after(&headers, UNAVAILABLE_RETRY),
                format!("the OAuth token endpoint answered {status}"),
            )),
            _ => {
                let refused: Refused = serde_json::from_slice(&bytes).unwrap_or_default();
                Err(SendError::permanent(format!(
                    "the OAuth token endpoint refused the service account: {status} {}",
                    refused.error
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::providers::Recipient;

    fn error(body: &str) -> ApiError {
        ApiError::parse(body.as_bytes())
    }

    #[test]
    fn the_body_carries_token_notification_ids_and_android_options() {
        let mut message = OutboundMessage::new(
            ChannelKind::Fcm,
            Recipient::DeviceToken("tok".into()),
            "event_moved",
            "Перенос",
            "Событие перенесено на 12:00",
        );
        message.urgent = true;
        message.collapse_key = Some("event-7".into());
        message.replaces = Some("event-7".into());
        message.ttl = Duration::from_secs(3600);
        message.data.insert("event_id".into(), "7".into());
        let body = build_body(&message).unwrap();
        assert_eq!(body["message"]["token"], "tok");
        assert_eq!(body["message"]["notification"]["title"], "Перенос");
        assert_eq!(body["message"]["data"]["event_id"], "7");
        assert_eq!(body["message"]["android"]["priority"], "HIGH");
        assert_eq!(body["message"]["android"]["ttl"], "3600s");
        assert_eq!(body["message"]["android"]["collapse_key"], "event-7");
        assert_eq!(body["message"]["android"]["notification"]["tag"], "event-7");
    }

    #[test]
    fn an_access_token_is_refreshed_five_minutes_before_it_expires() {
        let now = Instant::now();
        let expires = now + Duration::from_secs(3599);
        assert!(usable(expires, now));
        assert!(usable(expires, now + Duration::from_secs(3599 - 301)));
        assert!(!usable(expires, now + Duration::from_secs(3599 - 300)));
    }

    #[test]
    fn google_answers_map_to_outcomes() {
        let retry = Duration::from_secs(9);
        let unregistered = error(
            r#"{"error":{"code":404,"status":"NOT_FOUND","message":"Requested entity was not found.","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#,
        );
        assert_eq!(
            classify(404, &unregistered, retry),
            Verdict::Done(Err(SendError::TokenInvalid))
        );
        let bad_token = error(
            r#"{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"The registration token is not a valid FCM registration token"}}"#,
        );
        assert_eq!(
            classify(400, &bad_token, retry),
            Verdict::Done(Err(SendError::TokenInvalid))
        );
        let bad_field = error(
            r#"{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"Invalid value at 'message.android.ttl'"}}"#,
        );
        assert!(matches!(
            classify(400, &bad_field, retry),
            Verdict::Done(Err(SendError::Permanent(_)))
        ));
        assert_eq!(classify(401, &error(""), retry), Verdict::Unauthenticated);
        for status in [429, 503, 500] {
            assert!(matches!(
                classify(status, &error(""), retry),
                Verdict::Done(Err(SendError::RetryAfter { after, .. })) if after == retry
            ));
        }
        let mismatch = error(
            r#"{"error":{"code":403,"status":"PERMISSION_DENIED","details":[{"@type":"x","errorCode":"SENDER_ID_MISMATCH"}]}}"#,
        );
        assert!(matches!(
            classify(403, &mismatch, retry),
            Verdict::Done(Err(SendError::Permanent(reason))) if reason.contains("SENDER_ID_MISMATCH")
        ));
    }
}
