//! What a simulator accepted, kept in memory, and the inspection API every simulator
//! serves beside its provider API: `GET /sim/messages[?to=…]`, `DELETE /sim/messages`,
//! `GET /sim/stats`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hyper::Method;
use serde::{Deserialize, Serialize};

use super::server::{Reply, SimRequest};

/// One message a simulator accepted, for one recipient.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Accepted {
    /// The id the simulator answered with.
    pub id: String,
    /// Device token, phone number (E.164) or e-mail address.
    pub to: String,
    pub received_at: DateTime<Utc>,
    /// The provider-relevant request headers (`apns-*`, `http-version`, mail headers).
    pub headers: BTreeMap<String, String>,
    /// The payload as the provider saw it (JSON; for mail the decoded parts).
    pub body: serde_json::Value,
}

/// Counters a simulator keeps, for tests and `GET /sim/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    pub accepted: u64,
    pub rejected: u64,
    pub dropped: u64,
    /// Distinct APNs provider tokens (JWTs) presented.
    pub provider_tokens: u64,
    /// OAuth access tokens the FCM token endpoint issued.
    pub access_tokens_issued: u64,
    /// Connections opened to the simulator (SMTP).
    pub connections: u64,
}

#[derive(Default)]
struct State {
    messages: Vec<Accepted>,
    stats: Stats,
    provider_tokens: HashSet<String>,
}

/// The accepted messages and counters of one simulator.
#[derive(Default)]
pub struct Inbox {
    state: Mutex<State>,
}

impl Inbox {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means a handler panicked mid-update; the data is usable.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    /// Keeps an accepted message.
    pub fn accept(&self, message: Accepted) {
        self.with(|s| {
            s.stats.accepted += 1;
            s.messages.push(message);
        });
    }

    /// Counts a request answered with an error.
    pub fn rejected(&self) {
        self.with(|s| s.stats.rejected += 1);
    }

    /// Counts a connection dropped on purpose.
    pub fn dropped(&self) {
        self.with(|s| s.stats.dropped += 1);
    }

    /// Counts a new connection (SMTP).
    pub fn connection_opened(&self) {
        self.with(|s| s.stats.connections += 1);
    }

    /// Counts an OAuth access token issued (FCM).
    pub fn access_token_issued(&self) {
        self.with(|s| s.stats.access_tokens_issued += 1);
    }

    /// Records an APNs provider token; the stats count distinct ones.
    pub fn provider_token_seen(&self, jwt: &str) {
        self.with(|s| {
            if s.provider_tokens.insert(jwt.to_owned()) {
                s.stats.provider_tokens += 1;
            }
        });
    }

    /// Accepted messages, all or for one recipient, oldest first.
    pub fn messages(&self, to: Option<&str>) -> Vec<Accepted> {
        self.with(|s| {
            s.messages
                .iter()
                .filter(|m| to.is_none_or(|to| m.to == to))
                .cloned()
                .collect()
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.with(|s| s.stats.clone())
    }

    /// Forgets every message and counter.
    pub fn clear(&self) {
        self.with(|s| *s = State::default());
    }

    /// Waits until `to` has at least `count` messages, or `timeout` passes.
    pub async fn wait_for(&self, to: &str, count: usize, timeout: Duration) -> Vec<Accepted> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages(Some(to));
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Answers the inspection API, or `None` when the path is not under `/sim/`.
    pub fn inspect(&self, request: &SimRequest) -> Option<Reply> {
        let reply = match (&request.method, request.path.as_str()) {
            (&Method::GET, "/sim/messages") => {
                let to = request
                    .query_pairs()
                    .into_iter()
                    .find(|(k, _)| k == "to")
                    .map(|(_, v)| v);
                Reply::json(200, &serde_json::json!(self.messages(to.as_deref())))
            }
            (&Method::DELETE, "/sim/messages") => {
                self.clear();
                Reply::text(204, "")
            }
            (&Method::GET, "/sim/stats") => Reply::json(200, &serde_json::json!(self.stats())),
            (_, path) if path.starts_with("/sim/") => Reply::text(404, "no such inspection path"),
            _ => return None,
        };
        Some(reply)
    }
}
