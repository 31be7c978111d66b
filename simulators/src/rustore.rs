//! The RuStore push simulator: `POST /v1/projects/{project}/messages:send` with the
//! project's service token as bearer and an FCM-like message (no priority, no collapse
//! key); an unknown token is a 404.

use std::sync::Arc;

use hyper::Method;
use serde_json::json;

use super::faults::{Fault, Faults};
use super::fcm::{accepted, count, google_error, send_path_project, validate_message};
use super::inbox::Inbox;
use super::server::{Handler, Reply, SimRequest};

/// The RuStore simulator's state.
pub struct RustoreSimulator {
    inbox: Arc<Inbox>,
    faults: Arc<Faults>,
    project_id: String,
    service_token: String,
}

impl RustoreSimulator {
    /// A simulator for `project_id` that accepts `service_token`.
    pub fn new(
        inbox: Arc<Inbox>,
        faults: Arc<Faults>,
        project_id: String,
        service_token: String,
    ) -> Self {
        Self {
            inbox,
            faults,
            project_id,
            service_token,
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
        count(&self.inbox, &reply);
        reply
    }

    async fn respond(&self, request: SimRequest) -> Reply {
        let project = match (&request.method, send_path_project(&request.path)) {
            (&Method::POST, Some(project)) => project.to_owned(),
            _ => return google_error(404, "NOT_FOUND", "Not found", None),
        };
        if request.bearer() != Some(self.service_token.as_str()) {
            return google_error(401, "UNAUTHENTICATED", "invalid service token", None);
        }
        if project != self.project_id {
            return google_error(
                403,
                "PERMISSION_DENIED",
                "project not found for this token",
                None,
            );
        }
        let message = match validate_message(&request.body, false) {
            Ok(message) => message,
            Err(reply) => return reply,
        };
        let token = message["token"].as_str().unwrap_or_default().to_owned();
        match self.faults.check(&token) {
            None => {}
            Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::Drop) => return Reply::Drop,
            Some(Fault::Unregistered | Fault::BadToken) => {
                return google_error(404, "NOT_FOUND", "token not found", None);
            }
            Some(Fault::RateLimited(after)) => {
                return google_error(429, "RESOURCE_EXHAUSTED", "too many requests", None)
                    .with_header("retry-after", after.as_secs().to_string());
            }
            Some(Fault::Unavailable(after)) => {
                return google_error(503, "UNAVAILABLE", "service unavailable", None)
                    .with_header("retry-after", after.as_secs().to_string());
            }
            Some(Fault::ServerError) => {
                return google_error(500, "INTERNAL", "internal error", None);
            }
            Some(Fault::TempFail) => {
                return google_error(503, "UNAVAILABLE", "service unavailable", None);
            }
            Some(Fault::ExpiredAuth) => {
                return google_error(401, "UNAUTHENTICATED", "invalid service token", None);
            }
            Some(Fault::Reject) => {
                return google_error(403, "PERMISSION_DENIED", "forbidden", None);
            }
            Some(Fault::Status(status)) => {
                return google_error(status, "UNKNOWN", "injected", None);
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.inbox.accept(accepted(&request, &id, token, message));
        Reply::json(200, &json!({}))
    }
}
