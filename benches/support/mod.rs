//! Helpers for the benchmarks that drive `bilet` child processes: migrating a database of
//! their own, seeding it (`seed`), starting `bilet simulate` on free ports and `bilet work`
//! with the bench's keys, waiting until the workers are idle, reading what the simulators
//! accepted, stopping children, reading a process's CPU time and memory from `/proc`, and
//! dropping a benchmark's database and Redis keys. Included with `#[path]`.

// Each bench includes this module and uses a part of it.
#![allow(dead_code)]

pub mod seed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bilet::privacy::Vault;
use bilet::security::cipher::Cipher;
use bilet::settings::KeyList;
use chrono::{DateTime, Utc};
use seed::CHANNELS;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The release `bilet` binary cargo built for this bench.
pub fn bilet_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bilet"))
}

/// A child process, stopped with SIGTERM (then SIGKILL after 10 s) when dropped.
pub struct Process(pub Child);

impl Process {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Whether it already exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.0.try_wait(), Ok(None))
    }

    pub fn stop(&mut self) {
        if self.exited() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    /// Sends a signal (`-KILL`, `-TERM`) without waiting for the process to exit.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.0.id().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill {signal} {} failed", self.0.id());
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Per simulator (`apns`, …, `email`): its address and its inspection base URL.
pub type Simulators = BTreeMap<String, (String, String)>;

/// Starts `bilet simulate` on free ports, keeping its credentials in `dir`; returns the
/// process, the simulators, and the client settings it wrote (a channels TOML).
pub async fn start_simulators(dir: &Path) -> anyhow::Result<(Process, Simulators, PathBuf)> {
    let config = dir.join("simulate.toml");
    // Providers' answer time: BENCH_LATENCY (e.g. 40ms) plus up to BENCH_LATENCY_JITTER.
    let mut latency = String::new();
    for (key, var) in [
        ("latency", "BENCH_LATENCY"),
        ("latency_jitter", "BENCH_LATENCY_JITTER"),
    ] {
        if let Ok(value) = std::env::var(var) {
            latency.push_str(&format!("{key} = \"{value}\"\n"));
        }
    }
    std::fs::write(
        &config,
        format!(
            "[simulators]\napns_port = 0\nfcm_port = 0\nrustore_port = 0\nsms_port = 0\n\
             smtp_port = 0\nsmtp_inspect_port = 0\ncredentials_dir = \"{}\"\n{latency}",
            dir.join("credentials").display()
        ),
    )?;
    let mut child = Command::new(bilet_binary())
        .arg("simulate")
        .env("BILET_PUSH_CONFIG", &config)
        .env("BILET_LOG_FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let process = Process(child);
    let mut lines = BufReader::new(tokio::process::ChildStdout::from_std(stdout)?).lines();
    let mut simulators = Simulators::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await??
            .ok_or_else(|| anyhow::anyhow!("bilet simulate exited"))?;
        if let Some(path) = line.strip_prefix("client settings: BILET_PUSH_CONFIG=") {
            // Keep reading its output so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((process, simulators, PathBuf::from(path)));
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [name, url, "inspect", inspect] = words[..] {
            let addr = url.split("://").nth(1).unwrap_or_default().to_owned();
            let inspect = inspect.trim_end_matches("/sim/messages").to_owned();
            simulators.insert(name.to_owned(), (addr, inspect));
        }
    }
}

/// utime + stime of a process, in clock ticks (USER_HZ, 100 a second); 0 once it is gone.
pub fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name may hold spaces; fields are counted after its closing parenthesis:
    // utime and stime are the 14th and 15th fields, the 12th and 13th after the name.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| -> u64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    field(11) + field(12)
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in KiB; 0 when unreadable.
pub fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Busy and total jiffies of the whole machine (the `cpu` line of `/proc/stat`).
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    // idle and iowait are the 4th and 5th values.
    let idle = values.get(3).unwrap_or(&0) + values.get(4).unwrap_or(&0);
    (total - idle, total)
}

/// CPU ticks of every live process whose command is one of `names`, by pid.
pub fn ticks_of_named(names: &[&str]) -> BTreeMap<u32, u64> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if names.contains(&comm.trim()) {
            found.insert(pid, cpu_ticks(pid));
        }
    }
    found
}

/// CPU ticks the processes named in `before` and `after` used in between (processes that
/// started in between count whole; those that ended are lost).
pub fn ticks_between(before: &BTreeMap<u32, u64>, after: &BTreeMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, t)| t.saturating_sub(*before.get(pid).unwrap_or(&0)))
        .sum()
}

/// Drops a benchmark's database, disconnecting whoever is still in it.
pub async fn drop_database(postgres: &str, name: &str) {
    let url = format!("{}/postgres", postgres.trim_end_matches('/'));
    if let Ok(mut conn) = PgConnection::connect(&url).await {
        let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        if let Err(err) = sqlx::query(&statement).execute(&mut conn).await {
            eprintln!("could not drop {name}: {err}");
        }
        let _ = conn.close().await;
    }
}

/// The keys a bench's workers are given, so that they can open the phones it sealed.
pub struct WorkerKeys {
    pub data: KeyList,
    pub index: KeyList,
    pub token: KeyList,
}

impl WorkerKeys {
    pub fn generate() -> Self {
        Self {
            data: KeyList::generate("bench-d"),
            index: KeyList::generate("bench-i"),
            token: KeyList::generate("bench-t"),
        }
    }

    /// The vault the workers open personal data with.
    pub fn vault(&self) -> Vault {
        Vault::new(Cipher::new(self.data.clone()))
    }
}

/// Creates the database of `database_url` and applies the migrations (`bilet migrate`).
pub fn migrate(database_url: &str) -> anyhow::Result<()> {
    let status = Command::new(bilet_binary())
        .arg("migrate")
        .env("BILET_DATABASE_URL", database_url)
        .env("BILET_LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "bilet migrate failed: {status}");
    Ok(())
}

/// What every `bilet work` process of a bench shares: its database, Redis and prefix, keys
/// and channel settings.
pub struct Workers {
    pub database_url: String,
    pub redis_url: String,
    pub prefix: String,
    pub keys: WorkerKeys,
    pub push_config: PathBuf,
}

impl Workers {
    /// Starts `bilet work` with `settings` added (nothing else of the hub's is set: the
    /// rest are the defaults), logging at `log_filter` to `log`.
    pub fn start(
        &self,
        log: &Path,
        log_filter: &str,
        settings: &[(&str, String)],
    ) -> anyhow::Result<Process> {
        let log = std::fs::File::create(log)?;
        Ok(Process(
            Command::new(bilet_binary())
                .arg("work")
                .env("BILET_DATABASE_URL", &self.database_url)
                .env("BILET_REDIS_URL", &self.redis_url)
                .env("BILET_REDIS_PREFIX", &self.prefix)
                .env("BILET_KEYS_DATA", self.keys.data.to_setting())
                .env("BILET_KEYS_INDEX", self.keys.index.to_setting())
                .env("BILET_KEYS_TOKEN", self.keys.token.to_setting())
                .env("BILET_PUSH_CONFIG", &self.push_config)
                .env("BILET_LOG_FILTER", log_filter)
                .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?,
        ))
    }
}

/// Waits until every worker has announced itself (`{prefix}:processes:*`) and the groups
/// of every stream exist (each hub task creates its group as it starts), then a second
/// more.
pub async fn wait_idle(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    workers: &mut [Process],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let keys = bilet::queue::Keys::new(prefix);
    let mut streams = vec![(bilet::notify::streams::events_stream(&keys), "fanout")];
    streams.extend(CHANNELS.iter().map(|c| {
        (
            bilet::notify::streams::deliveries_stream(&keys, c),
            "senders",
        )
    }));
    loop {
        anyhow::ensure!(
            !workers.iter_mut().any(Process::exited),
            "bilet work exited at startup (see its log)"
        );
        let processes: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:processes:*"))
            .query_async(redis)
            .await?;
        let mut ready = processes.len() >= workers.len();
        for (stream, group) in &streams {
            ready &= has_group(redis, stream, group).await;
        }
        if ready {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "bilet work did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a stream and its group exist.
async fn has_group(
    redis: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    group: &str,
) -> bool {
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(redis)
        .await
        .unwrap_or_default();
    groups
        .iter()
        .any(|g| field(g, "name").is_some_and(|n| n == redis::Value::BulkString(group.into())))
}

/// A field of an XINFO reply (a flat array of names and values, or a map).
pub fn field(reply: &redis::Value, name: &str) -> Option<redis::Value> {
    let is = |k: &redis::Value| match k {
        redis::Value::BulkString(b) => b == name.as_bytes(),
        redis::Value::SimpleString(s) => s == name,
        _ => false,
    };
    match reply {
        redis::Value::Array(items) => items
            .chunks(2)
            .find(|pair| pair.len() == 2 && is(&pair[0]))
            .map(|pair| pair[1].clone()),
        redis::Value::Map(pairs) => pairs.iter().find(|(k, _)| is(k)).map(|(_, v)| v.clone()),
        _ => None,
    }
}

pub fn int(value: &redis::Value) -> Option<i64> {
    match value {
        redis::Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// Each simulator's counters (`/sim/stats`), by channel.
pub async fn sim_stats(
    http: &reqwest::Client,
    simulators: &Simulators,
) -> anyhow::Result<BTreeMap<&'static str, serde_json::Value>> {
    let mut stats = BTreeMap::new();
    for channel in CHANNELS {
        let (_, inspect) = simulators
            .get(channel)
            .ok_or_else(|| anyhow::anyhow!("no {channel} simulator"))?;
        let body: serde_json::Value = http
            .get(format!("{inspect}/sim/stats"))
            .send()
            .await?
            .json()
            .await?;
        stats.insert(channel, body);
    }
    Ok(stats)
}

/// Messages a simulator accepted, from its counters.
pub fn accepted_of(stats: &BTreeMap<&'static str, serde_json::Value>, channel: &str) -> u64 {
    stats
        .get(channel)
        .and_then(|s| s["accepted"].as_u64())
        .unwrap_or(0)
}

/// When each recipient (device token, phone number, e-mail address) was sent a message,
/// per channel, oldest first, from every message the simulators kept (`/sim/messages`).
pub async fn messages_per_recipient(
    http: &reqwest::Client,
    simulators: &Simulators,
) -> anyhow::Result<BTreeMap<(&'static str, String), Vec<DateTime<Utc>>>> {
    let mut received: BTreeMap<(&'static str, String), Vec<DateTime<Utc>>> = BTreeMap::new();
    for channel in CHANNELS {
        let (_, inspect) = simulators
            .get(channel)
            .ok_or_else(|| anyhow::anyhow!("no {channel} simulator"))?;
        let messages: Vec<serde_json::Value> = http
            .get(format!("{inspect}/sim/messages"))
            .send()
            .await?
            .json()
            .await?;
        for message in messages {
            let to = message["to"].as_str().unwrap_or_default().to_owned();
            let at = message["received_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default();
            received.entry((channel, to)).or_default().push(at);
        }
    }
    for times in received.values_mut() {
        times.sort();
    }
    Ok(received)
}

/// Deletes every key under a prefix (SCAN and UNLINK, as the hub's keys are spread over
/// many); returns how many there were.
pub async fn clear_prefix(redis: &redis::Client, prefix: &str) -> anyhow::Result<u64> {
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let (mut cursor, mut deleted) = (0u64, 0u64);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            deleted += redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<u64>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// 282500 → "282,500".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
