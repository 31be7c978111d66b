//! Helpers for the benchmarks that drive `bilet` child processes: starting `bilet
//! simulate` on free ports, stopping children, reading a process's CPU time and memory from
//! `/proc`, and dropping a benchmark's database. Included with `#[path]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    std::fs::write(
        &config,
        format!(
            "[simulators]\napns_port = 0\nfcm_port = 0\nrustore_port = 0\nsms_port = 0\n\
             smtp_port = 0\nsmtp_inspect_port = 0\ncredentials_dir = \"{}\"\n",
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
