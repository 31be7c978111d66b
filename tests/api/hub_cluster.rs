//! The hub on a Redis Cluster of three masters (`scripts/dev redis-cluster`): every
//! stream in one hash slot with whatever is pipelined with it, the channels spread over
//! the masters, and the cluster losing everything mid-cancellation losing no message.

use std::collections::BTreeSet;
use std::time::Duration;

use bilet::notify::providers::ChannelKind;
use bilet::settings::Secret;

use crate::helpers::{eventually, keys_by_node, redis_cluster_url, spawn_app_with};

#[tokio::test]
async fn a_cancellation_goes_out_through_a_redis_cluster_whose_masters_lose_everything_mid_delivery()
 {
    let cluster = redis_cluster_url().await;
    let app = spawn_app_with(|s| {
        s.redis.url = Secret::new(cluster);
        s.redis.cluster = true;
    })
    .await;
    let redis = app.state.redis.clone();
    eventually(
        Duration::from_secs(10),
        "this process in the registry of live processes (one key, read on a cluster)",
        || async { (!redis.live_processes().await.ok()?.is_empty()).then_some(()) },
    )
    .await;

    // Sign-ups, a cancellation, and Redis emptied on every master twice while the first
    // sends are held: each child hears once (asserted inside).
    let tokens = crate::hub::flushed_twice_mid_cancellation(&app).await;
    assert_eq!(tokens.len(), 12);

    let streams = app.state.hub().streams;
    let placed = keys_by_node(&app.settings.redis.prefix).await;
    let node_of = |key: &str| -> Vec<&str> {
        placed
            .iter()
            .filter(|(_, keys)| keys.iter().any(|k| k == key))
            .map(|(node, _)| *node)
            .collect()
    };
    let channel_streams: Vec<String> = ChannelKind::ALL
        .iter()
        .map(|channel| streams.deliveries(channel.as_str()))
        .collect();
    let mut nodes_used = BTreeSet::new();
    for stream in std::iter::once(streams.events()).chain(channel_streams.iter().cloned()) {
        let on = node_of(&stream);
        assert_eq!(on.len(), 1, "{stream} lives on one master: {on:?}");
        nodes_used.insert(on[0]);
    }
    assert!(
        nodes_used.len() >= 2,
        "the streams spread over the masters: {nodes_used:?}"
    );
    // The senders' answer marks share their channel stream's slot (one pipeline sets or
    // reads a batch of them), so each sits on its stream's master.
    let marks: Vec<(&str, &String)> = placed
        .iter()
        .flat_map(|(node, keys)| keys.iter().map(move |k| (*node, k)))
        .filter(|(_, key)| key.contains(":answered:"))
        .collect();
    assert!(
        marks
            .iter()
            .any(|(_, key)| key.starts_with(&streams.deliveries("apns"))),
        "the APNs sends after the flushes are marked: {marks:?}"
    );
    for (node, key) in &marks {
        let stream = channel_streams
            .iter()
            .find(|stream| key.starts_with(&format!("{stream}:answered:")))
            .expect("a mark under a channel's stream");
        assert_eq!(node_of(stream), [*node], "{key} beside {stream}");
    }
}
