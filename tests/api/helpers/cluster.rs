//! The tests' Redis Cluster: three masters on 127.0.0.1:7101-7103, started by
//! `scripts/dev redis-cluster` (which `scripts/dev test` runs first) or, when a test finds
//! them down, by the test itself through the same script.

use std::time::Duration;

use tokio::sync::OnceCell;

/// The masters' addresses.
pub const CLUSTER_NODES: [&str; 3] = ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"];

/// `BILET_REDIS_URL` for the cluster: its nodes' URLs, separated by commas.
pub async fn redis_cluster_url() -> String {
    static STARTED: OnceCell<()> = OnceCell::const_new();
    STARTED
        .get_or_init(|| async {
            if cluster_ok().await {
                return;
            }
            let status = tokio::process::Command::new("bash")
                .args(["scripts/dev", "redis-cluster"])
                .status()
                .await
                .expect("run scripts/dev redis-cluster");
            assert!(status.success(), "scripts/dev redis-cluster failed");
            assert!(cluster_ok().await, "the Redis Cluster did not come up");
        })
        .await;
    CLUSTER_NODES
        .iter()
        .map(|node| format!("redis://{node}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A plain connection to one server, or to one node of a cluster (commands on it see
/// that node's keys only), by its URL.
pub async fn node_connection(url: &str) -> Option<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url).ok()?;
    tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .ok()?
    .ok()
}

async fn cluster_ok() -> bool {
    for node in CLUSTER_NODES {
        let Some(mut conn) = node_connection(&format!("redis://{node}")).await else {
            return false;
        };
        let info: redis::RedisResult<String> = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await;
        let ok = info.is_ok_and(|info| {
            info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
        });
        if !ok {
            return false;
        }
    }
    true
}

/// The keys under `prefix` that each node holds, by node.
pub async fn keys_by_node(prefix: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut found = Vec::new();
    for node in CLUSTER_NODES {
        let Some(mut conn) = node_connection(&format!("redis://{node}")).await else {
            continue;
        };
        found.push((node, scan(&mut conn, prefix).await));
    }
    found
}

/// Every key under `prefix` on a connection's server (one node of a cluster, or a single
/// server).
pub async fn scan(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    let pattern = format!("{prefix}:*");
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let Ok((next, found)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
        else {
            return keys;
        };
        keys.extend(found);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// Deletes every key under `prefix` on a connection's server, one key a command (keys of
/// several slots cannot share a DEL on a cluster node).
pub async fn delete_all(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys = scan(conn, prefix).await;
    if keys.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    for key in &keys {
        pipe.cmd("UNLINK").arg(key).ignore();
    }
    let _: redis::RedisResult<()> = pipe.query_async(conn).await;
}
