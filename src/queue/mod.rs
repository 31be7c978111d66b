//! Redis: the connection every process shares, and the key prefix that keeps one
//! deployment's (or one test's) keys and streams apart from another's.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::dependency::DependencyError;
use crate::settings::RedisSettings;

/// A multiplexed, self-reconnecting Redis connection with this deployment's key prefix.
#[derive(Clone)]
pub struct Redis {
    pub conn: ConnectionManager,
    pub keys: Keys,
}

/// Builds key names under one prefix: `{prefix}:{name}`.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }
}

/// Where each process announces itself: `{prefix}:processes:{name}`, expiring when the
/// process stops refreshing it.
pub const PROCESSES: &str = "processes:";

/// Who holds this prefix, as a process claiming it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixClaim {
    /// Nobody did: the prefix is new, or Redis lost its data (restarted empty, flushed).
    Claimed,
    /// This installation already did.
    Ours,
    /// Another installation (another database) holds it.
    Theirs(String),
}

impl Redis {
    /// The names of the processes whose presence has not lapsed.
    pub async fn live_processes(&self) -> redis::RedisResult<Vec<String>> {
        let prefix = self.keys.key(PROCESSES);
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut names = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            names.extend(
                keys.into_iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)),
            );
            if next == 0 {
                return Ok(names);
            }
            cursor = next;
        }
    }

    /// The installation holding the key prefix, if any, without claiming it.
    pub async fn prefix_holder(&self) -> redis::RedisResult<Option<String>> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(self.keys.key("installation"))
            .query_async(&mut conn)
            .await
    }

    /// Claims the key prefix for an installation (`{prefix}:installation`, set if absent).
    pub async fn claim_prefix(&self, installation: uuid::Uuid) -> redis::RedisResult<PrefixClaim> {
        let key = self.keys.key("installation");
        let ours = installation.to_string();
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&ours)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        if set.is_some() {
            return Ok(PrefixClaim::Claimed);
        }
        let holder: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        Ok(match holder {
            Some(holder) if holder != ours => PrefixClaim::Theirs(holder),
            _ => PrefixClaim::Ours,
        })
    }
}

/// Connects and checks the server answers; fails fast with the address and the reason.
pub async fn connect(settings: &RedisSettings) -> Result<Redis, DependencyError> {
    let failed = |reason: String| DependencyError::redis(settings.address(), reason);
    let client =
        redis::Client::open(settings.url.expose()).map_err(|err| failed(err.to_string()))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    let mut conn = tokio::time::timeout(
        settings.connect_timeout,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| failed("timed out".to_owned()))?
    .map_err(|err| failed(describe(&err)))?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map_err(|err| failed(describe(&err)))?;
    Ok(Redis {
        conn,
        keys: Keys::new(settings.prefix.clone()),
    })
}

impl Redis {
    /// A PING bounded by `timeout`, for readiness checks.
    pub async fn ping(&self, timeout: Duration) -> Result<(), String> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(timeout, redis::cmd("PING").query_async::<String>(&mut conn))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(describe(&err)),
            Err(_) => Err("timed out".to_owned()),
        }
    }
}

fn describe(err: &redis::RedisError) -> String {
    if err.is_connection_refusal() {
        "connection refused".to_owned()
    } else if err.is_timeout() {
        "timed out".to_owned()
    } else {
        err.to_string()
    }
}
