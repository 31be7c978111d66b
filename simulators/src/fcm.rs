//! The FCM HTTP v1 simulator: an OAuth token endpoint (`POST /token`, JWT bearer grant
//! signed by a known service account) and `POST /v1/projects/{project}/messages:send`,
//! which wants a bearer token this endpoint issued and a well-formed message, and answers
//! errors in Google's shape. Serves HTTP/1.1 and cleartext HTTP/2.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use super::faults::{Fault, Faults};
use super::inbox::{Accepted, Inbox};
use super::server::{Handler, Reply, SimRequest, form_pairs};
use super::tokens::{self, now_unix};

/// The OAuth scope Google requires for FCM sends. Stated here as Google states it, not
/// taken from the client, so that the simulator catches a client that asks for another.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// A service account the token endpoint trusts.
#[derive(Clone)]
pub struct TrustedAccount {
    pub client_email: String,
    pub key_id: String,
    pub project_id: String,
    /// DER `RSAPublicKey`.
    pub public_key: Vec<u8>,
}

/// The FCM simulator's state.
pub struct FcmSimulator {
    inbox: Arc<Inbox>,
    faults: Arc<Faults>,
    accounts: Vec<TrustedAccount>,
    /// The `aud` assertions must carry: this endpoint's own URL.
    token_uri: String,
    /// How long issued access tokens live.
    token_lifetime: Duration,
    issued: Mutex<HashMap<String, (String, Instant)>>,
}

impl FcmSimulator {
    /// A simulator whose token endpoint (at `token_uri`) trusts `accounts`.
    pub fn new(
        inbox: Arc<Inbox>,
        faults: Arc<Faults>,
        accounts: Vec<TrustedAccount>,
        token_uri: String,
    ) -> Self {
        Self {
            inbox,
            faults,
            accounts,
            token_uri,
            token_lifetime: Duration::from_secs(3599),
            issued: Mutex::default(),
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
        let reply = match (&request.method, request.path.as_str()) {
            (&Method::POST, "/token") => self.grant(&request),
            (&Method::POST, path) => match send_path_project(path) {
                Some(project) => self.send(project.to_owned(), request).await,
                None => google_error(404, "NOT_FOUND", "Not found", None),
            },
            _ => google_error(404, "NOT_FOUND", "Not found", None),
        };
        count(&self.inbox, &reply);
        reply
    }

    /// The JWT bearer grant: checks the assertion as Google's endpoint does.
    fn grant(&self, request: &SimRequest) -> Reply {
        let form: BTreeMap<String, String> = form_pairs(&request.body).into_iter().collect();
        let refuse = |description: &str| {
            Reply::json(
                400,
                &json!({"error": "invalid_grant", "error_description": description}),
            )
        };
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return Reply::json(400, &json!({"error": "unsupported_grant_type"}));
        }
        let Some(assertion) = form.get("assertion") else {
            return refuse("Missing assertion");
        };
        let Ok(decoded) = tokens::decode(assertion) else {
            return refuse("Invalid JWT");
        };
        if decoded.header["alg"] != "RS256" {
            return refuse("Invalid JWT: alg");
        }
        let Some(account) = self
            .accounts
            .iter()
            .find(|a| decoded.header["kid"] == a.key_id.as_str())
        else {
            return refuse("Invalid JWT Signature.");
        };
        if !tokens::verify_rs256(&decoded, &account.public_key) {
            return refuse("Invalid JWT Signature.");
        }
        let claims = &decoded.claims;
        if claims["iss"] != account.client_email.as_str() {
            return refuse("Invalid issuer");
        }
        if claims["aud"] != self.token_uri.as_str() {
            return refuse("Invalid JWT: aud");
        }
        let scopes = claims["scope"].as_str().unwrap_or_default();
        if !scopes.split(' ').any(|s| s == SCOPE) {
            return Reply::json(400, &json!({"error": "invalid_scope"}));
        }
        let now = now_unix();
        let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
            return refuse("Invalid JWT: iat/exp");
        };
        if exp <= now || iat > now + 60 || exp.saturating_sub(iat) > 3600 {
            return refuse(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
            );
        }
        let token = format!("ya29.sim-{}", uuid::Uuid::new_v4().simple());
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                token.clone(),
                (
                    account.project_id.clone(),
                    Instant::now() + self.token_lifetime,
                ),
            );
        self.inbox.access_token_issued();
        Reply::json(
            200,
            &json!({
                "access_token": token,
                "expires_in": self.token_lifetime.as_secs(),
                "token_type": "Bearer",
            }),
        )
    }

    async fn send(&self, project: String, request: SimRequest) -> Reply {
        let bearer = request.bearer().map(str::to_owned);
        let authorized_project = bearer.as_ref().and_then(|token| {
            let issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
            issued
                .get(token)
                .filter(|(_, expires)| Instant::now() < *expires)
                .map(|(project, _)| project.clone())
        });
        let Some(authorized_project) = authorized_project else {
            return unauthenticated();
        };
        if authorized_project != project {
            return google_error(
                403,
                "PERMISSION_DENIED",
                "SenderId mismatch",
                Some("SENDER_ID_MISMATCH"),
            );
        }
        let message = match validate_message(&request.body, true) {
            Ok(message) => message,
            Err(reply) => return reply,
        };
        let token = message["token"].as_str().unwrap_or_default().to_owned();
        match self.faults.check(&token) {
            None => {}
            Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::Drop) => return Reply::Drop,
            Some(Fault::Unregistered) => {
                return google_error(
                    404,
                    "NOT_FOUND",
                    "Requested entity was not found.",
                    Some("UNREGISTERED"),
                );
            }
            Some(Fault::BadToken) => {
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "The registration token is not a valid FCM registration token",
                    Some("INVALID_ARGUMENT"),
                );
            }
            Some(Fault::RateLimited(after)) => {
                return google_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Quota exceeded.",
                    Some("QUOTA_EXCEEDED"),
                )
                .with_header("retry-after", after.as_secs().to_string());
            }
            Some(Fault::Unavailable(after)) => {
                return google_error(
                    503,
                    "UNAVAILABLE",
                    "The service is currently unavailable.",
                    Some("UNAVAILABLE"),
                )
                .with_header("retry-after", after.as_secs().to_string());
            }
            Some(Fault::ServerError) => {
                return google_error(
                    500,
                    "INTERNAL",
                    "Internal error encountered.",
                    Some("INTERNAL"),
                );
            }
            Some(Fault::TempFail) => {
                return google_error(
                    503,
                    "UNAVAILABLE",
                    "The service is currently unavailable.",
                    Some("UNAVAILABLE"),
                );
            }
            Some(Fault::ExpiredAuth) => {
                if let Some(bearer) = &bearer {
                    self.issued
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(bearer);
                }
                return unauthenticated();
            }
            Some(Fault::Reject) => {
                return google_error(
                    403,
                    "PERMISSION_DENIED",
                    "SenderId mismatch",
                    Some("SENDER_ID_MISMATCH"),
                );
            }
            Some(Fault::Status(status)) => {
                return google_error(status, "UNKNOWN", "Injected status", None);
            }
        }
        let id = format!("0:{}", uuid::Uuid::new_v4().simple());
        self.inbox.accept(accepted(&request, &id, token, message));
        Reply::json(
            200,
            &json!({ "name": format!("projects/{project}/messages/{id}") }),
        )
    }
}

/// Counts a reply in the inbox's stats.
pub(super) fn count(inbox: &Inbox, reply: &Reply) {
    match reply {
        Reply::Drop => inbox.dropped(),
        Reply::Respond(response) if response.status() != 200 => inbox.rejected(),
        Reply::Respond(_) => {}
    }
}

/// The record of an accepted push.
pub(super) fn accepted(request: &SimRequest, id: &str, token: String, message: Value) -> Accepted {
    let version = format!("{:?}", request.version);
    Accepted {
        id: id.to_owned(),
        to: token,
        received_at: chrono::Utc::now(),
        headers: BTreeMap::from([("http-version".to_owned(), version)]),
        body: message,
    }
}

/// `projects/{project}` of `/v1/projects/{project}/messages:send`.
pub(super) fn send_path_project(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/projects/")?
        .strip_suffix("/messages:send")
        .filter(|p| !p.is_empty() && !p.contains('/'))
}

fn unauthenticated() -> Reply {
    google_error(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        None,
    )
}

/// An error in Google's shape, with an FCM error code when given.
pub(super) fn google_error(
    code: u16,
    status: &str,
    message: &str,
    fcm_code: Option<&str>,
) -> Reply {
    let mut details = Vec::new();
    if let Some(fcm_code) = fcm_code {
        details.push(json!({
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": fcm_code,
        }));
    }
    Reply::json(
        code,
        &json!({"error": {"code": code, "message": message, "status": status, "details": details}}),
    )
}

fn invalid(message: String, field: &str) -> Reply {
    Reply::json(
        400,
        &json!({"error": {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.BadRequest",
                 "fieldViolations": [{"field": field, "description": "Invalid value"}]},
            ],
        }}),
    )
}

/// Checks a `messages:send` body as FCM does (RuStore checks the same shape, without the
/// FCM-only fields when `fcm` is false); returns the `message` object.
pub(super) fn validate_message(body: &[u8], fcm: bool) -> Result<Value, Reply> {
    let Ok(Value::Object(mut root)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid("Invalid JSON payload received.".into(), "message"));
    };
    if let Some(unknown) = root
        .keys()
        .find(|k| *k != "message" && *k != "validate_only")
    {
        return Err(invalid(
            format!("Invalid JSON payload received. Unknown name \"{unknown}\""),
            unknown,
        ));
    }
    let Some(Value::Object(message)) = root.remove("message") else {
        return Err(invalid("Missing message".into(), "message"));
    };
    let known = [
        "token",
        "topic",
        "condition",
        "notification",
        "data",
        "android",
        "apns",
        "webpush",
        "fcm_options",
        "name",
    ];
    if let Some(unknown) = message.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            format!("Invalid JSON payload received. Unknown name \"{unknown}\" at 'message'"),
            &format!("message.{unknown}"),
        ));
    }
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|k| message.contains_key(**k))
        .count();
    if targets != 1 {
        return Err(invalid(
            "Exactly one of token, topic or condition must be set".into(),
            "message",
        ));
    }
    match message.get("token") {
        Some(Value::String(token)) if !token.is_empty() => {}
        _ => {
            return Err(invalid(
                "The registration token is not a valid FCM registration token".into(),
                "message.token",
            ));
        }
    }
    if let Some(notification) = message.get("notification") {
        let ok = notification.as_object().is_some_and(|n| {
            n.iter()
                .all(|(k, v)| ["title", "body", "image"].contains(&k.as_str()) && v.is_string())
        });
        if !ok {
            return Err(invalid(
                "Invalid value at 'message.notification'".into(),
                "message.notification",
            ));
        }
    }
    if let Some(data) = message.get("data") {
        let ok = data
            .as_object()
            .is_some_and(|d| d.values().all(Value::is_string));
        if !ok {
            return Err(invalid(
                "Invalid value at 'message.data': values must be strings".into(),
                "message.data",
            ));
        }
    }
    if let Some(android) = message.get("android") {
        let Some(android) = android.as_object() else {
            return Err(invalid(
                "Invalid value at 'message.android'".into(),
                "message.android",
            ));
        };
        if let Some(ttl) = android.get("ttl") {
            let ok = ttl.as_str().is_some_and(|t| {
                t.strip_suffix('s')
                    .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok_and(|n| n >= 0.0))
            });
            if !ok {
                return Err(invalid(
                    "Invalid value at 'message.android.ttl'".into(),
                    "message.android.ttl",
                ));
            }
        }
        if let Some(priority) = android.get("priority") {
            let ok = fcm
                && priority.as_str().is_some_and(|p| {
                    p.eq_ignore_ascii_case("high") || p.eq_ignore_ascii_case("normal")
                });
            if !ok {
                return Err(invalid(
                    "Invalid value at 'message.android.priority'".into(),
                    "message.android.priority",
                ));
            }
        }
        if let Some(collapse) = android.get("collapse_key")
            && !(fcm && collapse.is_string())
        {
            return Err(invalid(
                "Invalid value at 'message.android.collapse_key'".into(),
                "message.android.collapse_key",
            ));
        }
    }
    Ok(Value::Object(message))
}
