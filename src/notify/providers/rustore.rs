//! RuStore push, for Android phones without Google services: FCM-like v1 JSON
//! (`POST {base}/v1/projects/{project}/messages:send`) with the project's service token as
//! bearer. A 404 for a token means the token is invalid.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::transport::{self, ApiError, RATE_LIMIT_RETRY, UNAVAILABLE_RETRY};
use super::{Channel, ChannelKind, Delivered, OutboundMessage, SendError, SendResult};
use crate::settings::Secret;

/// RuStore's push host.
pub const PRODUCTION_URL: &str = "https://vkpns.rustore.ru";

/// Everything the RuStore client needs.
#[derive(Clone)]
pub struct RustoreConfig {
    /// `https://vkpns.rustore.ru` or a simulator's `http://host:port`.
    pub base_url: String,
    pub project_id: String,
    /// The project's service token from the RuStore console.
    pub service_token: Secret,
    pub timeout: Duration,
}

impl fmt::Debug for RustoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustoreConfig")
            .field("base_url", &self.base_url)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// The RuStore channel.
pub struct RustoreClient {
    http: reqwest::Client,
    send_url: String,
    service_token: Secret,
}

impl RustoreClient {
    /// Builds the HTTP client; nothing is sent yet.
    pub fn new(config: RustoreConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: transport::client(config.timeout, false)?,
            send_url: format!(
                "{}/v1/projects/{}/messages:send",
                config.base_url.trim_end_matches('/'),
                config.project_id
            ),
            service_token: config.service_token,
        })
    }
}

#[async_trait::async_trait]
impl Channel for RustoreClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Rustore
    }

    #[tracing::instrument(name = "rustore_send", skip_all, fields(delivery_id = %message.delivery_id))]
    async fn send(&self, message: &OutboundMessage) -> SendResult {
        let result = async {
            let body = build_body(message)?;
            let response = self
                .http
                .post(&self.send_url)
                .bearer_auth(self.service_token.expose())
                .json(&body)
                .send()
                .await
                .map_err(transport::transport_failure)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response
                .bytes()
                .await
                .map_err(transport::transport_failure)?;
            if status == 200 {
                #[derive(Deserialize)]
                struct Sent {
                    #[serde(default)]
                    name: Option<String>,
                }
                let name = serde_json::from_slice::<Sent>(&bytes)
                    .ok()
                    .and_then(|s| s.name);
                return Ok(Delivered {
                    provider_id: name.unwrap_or_else(|| message.delivery_id.to_string()),
                });
            }
            let default = if status == 429 {
                RATE_LIMIT_RETRY
            } else {
                UNAVAILABLE_RETRY
            };
            Err(classify(
                status,
                &ApiError::parse(&bytes),
                transport::retry_after(&headers, default),
            ))
        }
        .await;
        super::log_result(ChannelKind::Rustore, message, &result);
        result
    }
}

/// Maps RuStore's answers: 404 → token invalid, 429 and 5xx → retry, the rest permanent
/// (401/403 mean the service token is wrong, which no retry fixes).
fn classify(status: u16, error: &ApiError, retry: Duration) -> SendError {
    match status {
        404 => SendError::TokenInvalid,
        400 if error.blames_token() => SendError::TokenInvalid,
        429 | 500..=599 => SendError::retry(retry, error.describe(status)),
        _ => SendError::permanent(error.describe(status)),
    }
}

/// The `messages:send` body: `message.token`, `notification`, `data` (ids, kind, link)
/// and `android.ttl`. RuStore documents neither priority nor a collapse key, so neither is
/// sent.
pub fn build_body(message: &OutboundMessage) -> Result<serde_json::Value, SendError> {
    let token = super::recipient_for(ChannelKind::Rustore, message)?;
    Ok(json!({
        "message": {
            "token": token,
            "notification": {"title": message.title, "body": message.body},
            "data": super::fcm::push_data(message),
            "android": {"ttl": format!("{}s", message.ttl.as_secs())},
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustore_answers_map_to_outcomes() {
        let retry = Duration::from_secs(3);
        let empty = ApiError::default();
        assert_eq!(classify(404, &empty, retry), SendError::TokenInvalid);
        assert!(
            matches!(classify(429, &empty, retry), SendError::RetryAfter { after, .. } if after == retry)
        );
        assert!(matches!(
            classify(502, &empty, retry),
            SendError::RetryAfter { .. }
        ));
        assert!(matches!(
            classify(401, &empty, retry),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            classify(400, &empty, retry),
            SendError::Permanent(_)
        ));
    }
}
