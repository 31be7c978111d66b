//! The APNs simulator: `POST /3/device/{token}` over HTTP/2 only (cleartext, prior
//! knowledge), checking what Apple checks: a well-formed, correctly signed, unexpired ES256
//! provider token from a known key and team; the `apns-*` headers; a JSON payload with
//! `aps` of at most 4 KB. Answers with Apple's statuses and `{"reason": …}` bodies.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use hyper::{Method, Version};
use serde_json::json;

use super::faults::{Fault, Faults};
use super::inbox::{Accepted, Inbox};
use super::server::{Handler, Reply, SimRequest};
use super::tokens::{self, now_unix};

/// The largest payload Apple accepts for an alert, in bytes. Stated here as Apple states
/// it, not taken from the client, so that the simulator catches a client that is wrong.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Apple rejects provider tokens older than this.
const TOKEN_MAX_AGE_SECS: u64 = 3600;

/// A key the simulator trusts: key id, team id and public point.
#[derive(Clone)]
pub struct TrustedKey {
    pub key_id: String,
    pub team_id: String,
    pub public_key: Vec<u8>,
}

/// The APNs simulator's state.
pub struct ApnsSimulator {
    inbox: Arc<Inbox>,
    faults: Arc<Faults>,
    keys: Vec<TrustedKey>,
    /// Provider tokens this simulator has declared expired.
    expired: Mutex<HashSet<String>>,
    /// Provider tokens whose signature was checked (with their `iat`), as Apple checks a
    /// token once rather than on every request.
    verified: Mutex<std::collections::HashMap<String, u64>>,
}

impl ApnsSimulator {
    /// A simulator that trusts `keys`, records into `inbox` and applies `faults`.
    pub fn new(inbox: Arc<Inbox>, faults: Arc<Faults>, keys: Vec<TrustedKey>) -> Self {
        Self {
            inbox,
            faults,
            keys,
            expired: Mutex::default(),
            verified: Mutex::default(),
        }
    }

    /// The request handler for [`super::server::spawn`].
    pub fn handler(self) -> Handler {
        let this = Arc::new(self);
        Arc::new(move |request| {
            let this = this.clone();
            Box::pin(async move { this.handle(request).await })
        })
    }

    async fn handle(&self, request: SimRequest) -> Reply {
        if let Some(reply) = self.inbox.inspect(&request) {
            return reply;
        }
        self.faults.answer_delay().await;
        let reply = self.respond(request).await;
        match &reply {
            Reply::Drop => self.inbox.dropped(),
            Reply::Respond(response) if response.status() != 200 => self.inbox.rejected(),
            Reply::Respond(_) => {}
        }
        reply
    }

    async fn respond(&self, request: SimRequest) -> Reply {
        if request.version != Version::HTTP_2 {
            return Reply::text(505, "APNs speaks HTTP/2 only");
        }
        let Some(device_token) = request.path.strip_prefix("/3/device/").map(str::to_owned) else {
            return reason(404, "BadPath");
        };
        if request.method != Method::POST {
            return reason(405, "MethodNotAllowed");
        }
        let Some(provider_token) = request
            .header("authorization")
            .and_then(|v| v.strip_prefix("bearer "))
            .map(str::to_owned)
        else {
            return reason(403, "MissingProviderToken");
        };
        if let Err(why) = self.check_provider_token(&provider_token) {
            return reason(403, why);
        }
        self.inbox.provider_token_seen(&provider_token);
        if self.is_expired(&provider_token) {
            return reason(403, "ExpiredProviderToken");
        }
        if let Err(why) = check_headers(&request) {
            return reason(400, why);
        }
        if device_token.is_empty()
            || !device_token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return reason(400, "BadDeviceToken");
        }
        match self.faults.check(&device_token) {
            None => {}
            Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::Drop) => return Reply::Drop,
            Some(Fault::Unregistered) => {
                return Reply::json(
                    410,
                    &json!({"reason": "Unregistered", "timestamp": now_unix() * 1000}),
                );
            }
            Some(Fault::BadToken) => return reason(400, "BadDeviceToken"),
            Some(Fault::RateLimited(after)) => {
                return reason(429, "TooManyRequests")
                    .with_header("retry-after", after.as_secs().to_string());
            }
            Some(Fault::Unavailable(after)) => {
                return reason(503, "ServiceUnavailable")
                    .with_header("retry-after", after.as_secs().to_string());
            }
            Some(Fault::ServerError) => return reason(500, "InternalServerError"),
            Some(Fault::TempFail) => return reason(503, "Shutdown"),
            Some(Fault::ExpiredAuth) => {
                self.expired
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(provider_token);
                return reason(403, "ExpiredProviderToken");
            }
            Some(Fault::Reject) => return reason(400, "TopicDisallowed"),
            Some(Fault::Status(status)) => return reason(status, "BadPath"),
        }
        if request.body.is_empty() {
            return reason(400, "PayloadEmpty");
        }
        if request.body.len() > MAX_PAYLOAD_BYTES {
            return reason(413, "PayloadTooLarge");
        }
        let payload: serde_json::Value = match serde_json::from_slice(&request.body) {
            Ok(value @ serde_json::Value::Object(_)) if value["aps"].is_object() => value,
            _ => return reason(400, "BadPayload"),
        };
        let apns_id = request
            .header("apns-id")
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase());
        let mut headers: BTreeMap<String, String> = request
            .headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("apns-"))
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect();
        headers.insert("http-version".into(), "HTTP/2".into());
        self.inbox.accept(Accepted {
            id: apns_id.clone(),
            to: device_token,
            received_at: chrono::Utc::now(),
            headers,
            body: payload,
        });
        Reply::text(200, "")
            .with_header("apns-id", apns_id)
            .with_header("apns-unique-id", uuid::Uuid::new_v4().to_string())
    }

    fn is_expired(&self, provider_token: &str) -> bool {
        self.expired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(provider_token)
    }

    /// Apple's checks of the provider token (signature once, age every time); the error is
    /// the reason it answers.
    fn check_provider_token(&self, token: &str) -> Result<(), &'static str> {
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .copied();
        let issued = match known {
            Some(issued) => issued,
            None => {
                let issued = self.verify_provider_token(token)?;
                self.verified
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(token.to_owned(), issued);
                issued
            }
        };
        let now = now_unix();
        if issued > now + 60 {
            return Err("InvalidProviderToken");
        }
        if now.saturating_sub(issued) > TOKEN_MAX_AGE_SECS {
            return Err("ExpiredProviderToken");
        }
        Ok(())
    }

    /// Checks the token's form, key, team and signature; returns its `iat`.
    fn verify_provider_token(&self, token: &str) -> Result<u64, &'static str> {
        let decoded = tokens::decode(token).map_err(|_| "InvalidProviderToken")?;
        if decoded.header["alg"] != "ES256" {
            return Err("InvalidProviderToken");
        }
        let key = self
            .keys
            .iter()
            .find(|k| decoded.header["kid"] == k.key_id.as_str())
            .ok_or("InvalidProviderToken")?;
        if decoded.claims["iss"] != key.team_id.as_str() {
            return Err("InvalidProviderToken");
        }
        if !tokens::verify_es256(&decoded, &key.public_key) {
            return Err("InvalidProviderToken");
        }
        decoded.claims["iat"].as_u64().ok_or("InvalidProviderToken")
    }
}

/// Apple's checks of the `apns-*` headers.
fn check_headers(request: &SimRequest) -> Result<(), &'static str> {
    match request.header("apns-topic") {
        Some(topic) if !topic.is_empty() => {}
        _ => return Err("MissingTopic"),
    }
    if let Some(kind) = request.header("apns-push-type")
        && ![
            "alert",
            "background",
            "voip",
            "complication",
            "fileprovider",
            "mdm",
            "location",
            "liveactivity",
            "pushtotalk",
        ]
        .contains(&kind)
    {
        return Err("InvalidPushType");
    }
    if let Some(priority) = request.header("apns-priority")
        && !["1", "5", "10"].contains(&priority)
    {
        return Err("BadPriority");
    }
    if let Some(expiration) = request.header("apns-expiration")
        && expiration.parse::<u64>().is_err()
    {
        return Err("BadExpirationDate");
    }
    if let Some(collapse) = request.header("apns-collapse-id")
        && collapse.len() > 64
    {
        return Err("BadCollapseId");
    }
    if let Some(id) = request.header("apns-id")
        && uuid::Uuid::try_parse(id).is_err()
    {
        return Err("BadMessageId");
    }
    Ok(())
}

fn reason(status: u16, reason: &str) -> Reply {
    Reply::json(status, &json!({ "reason": reason }))
}
