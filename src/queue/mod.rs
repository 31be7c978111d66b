//! Redis: the connection every process shares, and the key prefix that keeps one
//! deployment's (or one test's) keys and streams apart from another's.
//!
//! Redis is one server or a Redis Cluster (`BILET_REDIS_CLUSTER`). Every command and
//! every pipeline here touches keys of one hash slot: each stream is hash-tagged
//! ([`Keys::tagged`]) together with whatever is pipelined with it, so a cluster never
//! refuses a pipeline as cross-slot; nothing scans the keyspace.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::dependency::DependencyError;
use crate::settings::RedisSettings;

/// A multiplexed, self-reconnecting Redis connection with this deployment's key prefix.
#[derive(Clone)]
pub struct Redis {
    pub conn: Connection,
    pub keys: Keys,
}

/// One server's self-reconnecting connection, or a cluster's (a multiplexed connection
/// to each master, routing each command by its key's slot and following the cluster's
/// redirections).
#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
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

    /// A key in the hash slot of `tag`: `{prefix}:{group}:{{tag}}:{rest}`, or without
    /// `rest` when it is empty. Keys of one tag live on one Redis Cluster node, so they
    /// may share a pipeline; a stream's tag is its own (a stream and its consumer group
    /// are one key), and what is pipelined with a stream takes the stream's tag.
    pub fn tagged(&self, group: &str, tag: &str, rest: &str) -> String {
        if rest.is_empty() {
            format!("{}:{group}:{{{tag}}}", self.prefix)
        } else {
            format!("{}:{group}:{{{tag}}}:{rest}", self.prefix)
        }
    }
}

/// Where each process announces itself: `{prefix}:processes:{name}` (a hash of its role,
/// version and start), expiring when the process stops refreshing it.
pub const PROCESSES: &str = "processes:";

/// The registry of live processes, `{prefix}:processes`: a sorted set of process names
/// scored by when their presence lapses, by the Redis server's clock. One key, so that
/// listing the live processes is one command on one node, under Redis Cluster too.
pub const PROCESS_REGISTRY: &str = "processes";

/// Refreshes a process in the registry (KEYS[1]) until ARGV[2] ms from now, by the
/// server's clock, and forgets those that lapsed.
const REFRESH_PRESENCE: &str = r"
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
";

/// The registry's (KEYS[1]) processes whose presence has not lapsed.
const LIVE_PROCESSES: &str = r"
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ms, '+inf')
";

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
        let mut conn = self.conn.clone();
        redis::cmd("EVAL")
            .arg(LIVE_PROCESSES)
            .arg(1)
            .arg(self.keys.key(PROCESS_REGISTRY))
            .query_async(&mut conn)
            .await
    }

    /// Keeps `process` in the registry of live processes for `for_ms` more milliseconds.
    pub async fn refresh_presence(&self, process: &str, for_ms: u64) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("EVAL")
            .arg(REFRESH_PRESENCE)
            .arg(1)
            .arg(self.keys.key(PROCESS_REGISTRY))
            .arg(process)
            .arg(for_ms)
            .query_async(&mut conn)
            .await
    }

    /// Takes `process` off the registry of live processes (it is stopping).
    pub async fn leave_presence(&self, process: &str) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("ZREM")
            .arg(self.keys.key(PROCESS_REGISTRY))
            .arg(process)
            .query_async(&mut conn)
            .await
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
    let conn = if settings.cluster {
        let client = redis::cluster::ClusterClientBuilder::new(settings.nodes())
            .connection_timeout(settings.connect_timeout)
            .response_timeout(Duration::from_secs(5))
            .retries(2)
            .max_retry_wait(2_000)
            .build()
            .map_err(|err| failed(err.to_string()))?;
        tokio::time::timeout(settings.connect_timeout, client.get_async_connection())
            .await
            .map_err(|_| failed("timed out".to_owned()))?
            .map(Connection::Cluster)
            .map_err(|err| failed(describe(&err)))?
    } else {
        let client =
            redis::Client::open(settings.url.expose()).map_err(|err| failed(err.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        tokio::time::timeout(
            settings.connect_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| failed("timed out".to_owned()))?
        .map(Connection::Single)
        .map_err(|err| failed(describe(&err)))?
    };
    let redis = Redis {
        conn,
        keys: Keys::new(settings.prefix.clone()),
    };
    redis.ping(settings.connect_timeout).await.map_err(failed)?;
    Ok(redis)
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
