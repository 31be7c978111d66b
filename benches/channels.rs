//! Delivery-channel throughput: 10,000 messages through each client to its simulator, with
//! 1 sender task and with 32, reporting messages per second and the client's CPU time per
//! message. The simulators run in a separate `bilet simulate` process, so the CPU time
//! measured here (this process: clients, runtime, message building) is the client's alone.
//!
//! `cargo bench --bench channels` (set `BENCH_MESSAGES` for another count).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bilet::notify::providers::{
    Channel, ChannelKind, Channels, OutboundMessage, PushConfig, Recipient,
};
use bilet::settings::Environment;
use cpu_time::ProcessTime;
use tokio::io::{AsyncBufReadExt, BufReader};

fn main() -> anyhow::Result<()> {
    let messages: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(messages))
}

async fn run(messages: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("bilet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (mut child, addresses, client_settings) = start_simulators(&dir).await?;
    let config = PushConfig::load(&client_settings)?;
    let channels = Channels::from_config(&config, Environment::Production).await?;
    let http = reqwest::Client::new();

    println!("{messages} messages per run; simulators in a separate process (bilet simulate)\n");
    println!("| channel | senders | messages/s | client CPU µs/message | errors |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for kind in ChannelKind::ALL {
        let channel = channels
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("{kind} is disabled"))?;
        for senders in [1usize, 32] {
            // Warm the connection (and the JWT / OAuth token) outside the measurement.
            let _ = channel.send(&message(kind, usize::MAX)).await;
            let (elapsed, cpu, errors) = measure(channel.clone(), kind, messages, senders).await;
            println!(
                "| {kind} | {senders} | {:.0} | {:.1} | {errors} |",
                messages as f64 / elapsed.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / messages as f64,
            );
            http.delete(format!("{}/sim/messages", addresses[kind.as_str()].1))
                .send()
                .await?;
        }
    }
    channels.shutdown().await;
    child.kill().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Sends `messages` messages from `senders` tasks; returns wall time, this process's CPU
/// time and the number of sends that failed.
async fn measure(
    channel: Arc<dyn Channel>,
    kind: ChannelKind,
    messages: usize,
    senders: usize,
) -> (Duration, Duration, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let cpu = ProcessTime::now();
    let started = Instant::now();
    let tasks: Vec<_> = (0..senders)
        .map(|_| {
            let (channel, next, errors) = (channel.clone(), next.clone(), errors.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= messages {
                        break;
                    }
                    if channel.send(&message(kind, i)).await.is_err() {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    (
        started.elapsed(),
        cpu.elapsed(),
        errors.load(Ordering::Relaxed),
    )
}

fn message(kind: ChannelKind, i: usize) -> OutboundMessage {
    let to = match kind {
        ChannelKind::Sms => Recipient::Phone(format!("+7916{:07}", i % 10_000_000)),
        ChannelKind::Email => Recipient::Email(format!("bench{i}@example.org")),
        _ => Recipient::DeviceToken(format!("bench{i:x}")),
    };
    let mut message = OutboundMessage::new(
        kind,
        to,
        "event_moved",
        "Событие перенесено",
        "Экскурсия на завод перенесена на субботу, 12:00. Подробности в приложении.",
    );
    message.urgent = i.is_multiple_of(2);
    message.collapse_key = Some(format!("event-{}", i % 100));
    message.link = Some("https://bilet.ru/e/7f3a".into());
    message.data = BTreeMap::from([("event_id".into(), (i % 100).to_string())]);
    message
}

type Addresses = BTreeMap<String, (String, String)>;

/// Starts `bilet simulate` on free ports; returns it, per channel its address and
/// inspection URL, and the client settings it wrote.
async fn start_simulators(
    dir: &Path,
) -> anyhow::Result<(tokio::process::Child, Addresses, std::path::PathBuf)> {
    let config = dir.join("simulate.toml");
    std::fs::write(
        &config,
        format!(
            "[simulators]\napns_port = 0\nfcm_port = 0\nrustore_port = 0\nsms_port = 0\n\
             smtp_port = 0\nsmtp_inspect_port = 0\ncredentials_dir = \"{}\"\n",
            dir.join("credentials").display()
        ),
    )?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bilet"))
        .arg("simulate")
        .env("BILET_PUSH_CONFIG", &config)
        .env("BILET_LOG_FILTER", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut addresses = Addresses::new();
    let mut client_settings = None;
    while client_settings.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await??
            .ok_or_else(|| anyhow::anyhow!("bilet simulate exited"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(path) = line.strip_prefix("client settings: BILET_PUSH_CONFIG=") {
            client_settings = Some(std::path::PathBuf::from(path));
        }
        if let [name, url, "inspect", inspect] = words[..] {
            let addr = url.split("://").nth(1).unwrap_or_default().to_owned();
            let inspect = inspect.trim_end_matches("/sim/messages").to_owned();
            addresses.insert(name.to_owned(), (addr, inspect));
        }
    }
    let client_settings =
        client_settings.ok_or_else(|| anyhow::anyhow!("no client settings announced"))?;
    Ok((child, addresses, client_settings))
}
