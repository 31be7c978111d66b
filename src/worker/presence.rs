//! Each process announces itself in Redis, refreshed every second and lapsing a few
//! seconds after the process is gone: in the registry of live processes
//! (`{prefix}:processes`, which the reconciler reads to find the leases and stream entries
//! of gone workers) and in a hash of its own (`{prefix}:processes:{name}`: role, version,
//! start), so operators can see which API and worker processes are alive and under which
//! unique consumer name each reads the streams.

use std::time::Duration;

use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use super::process::ProcessInfo;
use crate::queue::Redis;

/// A process refreshes its presence this often; it lapses after `EXPIRE_SECS` without
/// one, and the reconciler then gives its leased deliveries and stream entries back.
const REFRESH: Duration = Duration::from_secs(1);
const EXPIRE_SECS: u64 = 4;

#[derive(Clone)]
pub struct Presence {
    redis: Redis,
    process: ProcessInfo,
}

impl Presence {
    pub fn new(redis: Redis, process: ProcessInfo) -> Self {
        Self { redis, process }
    }

    fn key(&self) -> String {
        self.redis
            .keys
            .key(&format!("{}{}", crate::queue::PROCESSES, self.process.name))
    }

    pub async fn run(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let key = self.key();
        let mut conn = self.redis.conn.clone();
        loop {
            let _: () = redis::pipe()
                .hset_multiple(
                    &key,
                    &[
                        ("role", self.process.role.as_str()),
                        ("version", env!("CARGO_PKG_VERSION")),
                        ("started_at", &self.process.started_at.to_rfc3339()),
                    ],
                )
                .expire(&key, EXPIRE_SECS as i64)
                .query_async(&mut conn)
                .await?;
            // Its own command: under Redis Cluster the registry may live on another node.
            self.redis
                .refresh_presence(&self.process.name, EXPIRE_SECS * 1000)
                .await?;
            tokio::select! {
                () = tokio::time::sleep(REFRESH) => {}
                () = shutdown.cancelled() => break,
            }
        }
        let _: () = conn.del(&key).await?;
        self.redis.leave_presence(&self.process.name).await?;
        Ok(())
    }
}
