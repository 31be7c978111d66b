//! `bilet doctor`: a first-run check on one screen. It looks and changes nothing: whether
//! PostgreSQL and Redis answer, whether the migrations are current, which channels are
//! real and which simulated, where `bilet simulate` listens, and what production still
//! needs.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::notify::providers::registry::{self, ChannelPlan};
use crate::notify::providers::{ChannelKind, PushConfig};
use crate::settings::{Environment, Settings};
use crate::store;

/// How one line of the report reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Works.
    Ok,
    /// Worth knowing; nothing to do in development.
    Info,
    /// Needed before production.
    Todo,
    /// Broken: the service cannot run like this.
    Fail,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Info => "info",
            Verdict::Todo => "todo",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub subject: String,
    pub detail: String,
}

/// Everything `bilet doctor` found.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, verdict: Verdict, subject: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding {
            verdict,
            subject: subject.into(),
            detail: detail.into(),
        });
    }

    /// True when nothing is broken (to-dos for production do not count).
    pub fn healthy(&self) -> bool {
        self.findings.iter().all(|f| f.verdict != Verdict::Fail)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .findings
            .iter()
            .map(|x| x.subject.chars().count())
            .max()
            .unwrap_or(0);
        for finding in &self.findings {
            writeln!(
                f,
                "{:<4}  {:<width$}  {}",
                finding.verdict.label(),
                finding.subject,
                finding.detail
            )?;
        }
        Ok(())
    }
}

/// Runs every check; each dependency is given at most its connect timeout.
pub async fn examine(settings: &Settings) -> Report {
    let mut report = Report::default();
    report.add(
        Verdict::Info,
        "environment",
        match settings.env {
            Environment::Development => "development (BILET_ENV=production for a deployment)",
            Environment::Production => "production",
        },
    );
    let installation = check_postgres(settings, &mut report).await;
    check_redis(settings, installation.as_deref(), &mut report).await;
    match PushConfig::load(&settings.push_config) {
        Ok(config) => {
            check_channels(&config, settings.env, &mut report);
            check_simulate(&config.simulators.credentials_dir, &mut report).await;
        }
        Err(err) => report.add(Verdict::Fail, "channels", err.to_string()),
    }
    check_keys(settings, &mut report);
    report
}

/// PostgreSQL and the migrations; returns the database's installation id when known.
async fn check_postgres(settings: &Settings, report: &mut Report) -> Option<String> {
    let subject = format!("PostgreSQL {}", settings.database.address());
    let db = match store::database::connect_existing(&settings.database).await {
        Ok(db) => db,
        Err(err) => {
            report.add(
                Verdict::Fail,
                subject,
                format!("{} (setting {})", err.reason, err.setting),
            );
            return None;
        }
    };
    match store::database::server_version(&db).await {
        Ok(version) => report.add(Verdict::Ok, subject, format!("answers ({version})")),
        Err(reason) => report.add(Verdict::Fail, subject, reason),
    }
    match store::database::migration_status(&db).await {
        Ok(status) if !status.failed.is_empty() => report.add(
            Verdict::Fail,
            "migrations",
            format!("failed and not finished: {:?}", status.failed),
        ),
        Ok(status) if status.pending.is_empty() => report.add(
            Verdict::Ok,
            "migrations",
            match status.unknown {
                0 => format!("current ({} applied)", status.applied),
                n => format!(
                    "current ({} applied; {n} more from a newer bilet)",
                    status.applied
                ),
            },
        ),
        Ok(status) => report.add(
            Verdict::Fail,
            "migrations",
            format!(
                "{} of {} not applied, first {} (`bilet migrate` applies them; `bilet serve` \
                 does at start)",
                status.pending.len(),
                status.applied + status.pending.len(),
                status.pending[0]
            ),
        ),
        Err(reason) => report.add(Verdict::Fail, "migrations", reason),
    }
    let installation = store::installation::id(&db)
        .await
        .ok()
        .map(|id| id.to_string());
    db.close().await;
    installation
}

/// Redis, and who holds this deployment's key prefix.
async fn check_redis(settings: &Settings, installation: Option<&str>, report: &mut Report) {
    let subject = format!("Redis {}", settings.redis.address());
    let prefix = &settings.redis.prefix;
    let redis = match crate::queue::connect(&settings.redis).await {
        Ok(redis) => redis,
        Err(err) => {
            report.add(
                Verdict::Fail,
                subject,
                format!("{} (setting {})", err.reason, err.setting),
            );
            return;
        }
    };
    let holder = tokio::time::timeout(Duration::from_secs(5), redis.prefix_holder()).await;
    match (holder, installation) {
        (Ok(Ok(None)), _) => report.add(
            Verdict::Ok,
            subject,
            format!("answers; prefix `{prefix}` is free (the first process claims it)"),
        ),
        (Ok(Ok(Some(holder))), Some(ours)) if holder == ours => report.add(
            Verdict::Ok,
            subject,
            format!("answers; prefix `{prefix}` belongs to this database"),
        ),
        (Ok(Ok(Some(holder))), Some(ours)) => report.add(
            Verdict::Fail,
            subject,
            format!(
                "prefix `{prefix}` belongs to installation {holder}, this database is \
                 {ours}: give this deployment its own BILET_REDIS_PREFIX"
            ),
        ),
        (Ok(Ok(Some(holder))), None) => report.add(
            Verdict::Info,
            subject,
            format!("answers; prefix `{prefix}` belongs to installation {holder}"),
        ),
        (Ok(Err(err)), _) => report.add(Verdict::Fail, subject, err.to_string()),
        (Err(_), _) => report.add(Verdict::Fail, subject, "timed out"),
    }
}

fn check_channels(config: &PushConfig, env: Environment, report: &mut Report) {
    let mut simulated = Vec::new();
    for kind in ChannelKind::ALL {
        let subject = format!("channel {kind}");
        match registry::plan(config, kind) {
            Ok(ChannelPlan::Provider(description)) => {
                report.add(Verdict::Ok, subject, format!("real: {description}"));
            }
            Ok(ChannelPlan::Simulator) => {
                simulated.push(kind.as_str());
                let verdict = match env {
                    Environment::Development => Verdict::Info,
                    Environment::Production => Verdict::Fail,
                };
                report.add(
                    verdict,
                    subject,
                    "simulated: no credentials, so `bilet serve` starts a simulator on a free port",
                );
            }
            Ok(ChannelPlan::Disabled) => report.add(Verdict::Info, subject, "disabled"),
            Err(reason) => report.add(Verdict::Fail, subject, reason),
        }
    }
    if !simulated.is_empty() && env == Environment::Development {
        report.add(
            Verdict::Todo,
            "for production",
            format!(
                "credentials for {} (push-config/channels.toml, README \"Delivery channels\")",
                simulated.join(", ")
            ),
        );
    }
}

/// Where a `bilet simulate` of this checkout listens, from the addresses it wrote.
async fn check_simulate(dir: &Path, report: &mut Report) {
    let file = dir.join(bilet_channels::SIMULATOR_ADDRESSES_FILE);
    let Ok(text) = std::fs::read_to_string(&file) else {
        report.add(
            Verdict::Info,
            "bilet simulate",
            format!(
                "not started here (no {}); `bilet serve` has its own",
                file.display()
            ),
        );
        return;
    };
    let mut listening = Vec::new();
    let mut silent = Vec::new();
    for (name, address) in text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
    {
        let name = name.trim_start_matches("BILET_SIM_").to_ascii_lowercase();
        let target = address.trim_start_matches("http://");
        let up = match target.parse::<SocketAddr>() {
            Ok(addr) => {
                tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                    .await
                    .is_ok_and(|c| c.is_ok())
            }
            Err(_) => false,
        };
        if up {
            listening.push(format!("{name} {target}"));
        } else {
            silent.push(format!("{name} {target}"));
        }
    }
    match (listening.is_empty(), silent.is_empty()) {
        (false, true) => report.add(
            Verdict::Ok,
            "bilet simulate",
            format!(
                "listening: {} (. {} in a shell)",
                listening.join(", "),
                file.display()
            ),
        ),
        (true, _) => report.add(
            Verdict::Info,
            "bilet simulate",
            format!("not running (its last addresses in {})", file.display()),
        ),
        (false, false) => report.add(
            Verdict::Fail,
            "bilet simulate",
            format!(
                "partly up: {} answer, {} do not",
                listening.join(", "),
                silent.join(", ")
            ),
        ),
    }
}

fn check_keys(settings: &Settings, report: &mut Report) {
    let keys = &settings.keys;
    let missing: Vec<&str> = [
        ("BILET_KEYS_DATA", keys.data_keys.is_none()),
        ("BILET_KEYS_INDEX", keys.index_key.is_none()),
        ("BILET_KEYS_TOKEN", keys.token_keys.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, missing)| missing.then_some(name))
    .collect();
    if missing.is_empty() {
        report.add(Verdict::Ok, "keys", "data, index and token keys are given");
    } else {
        report.add(
            Verdict::Todo,
            "for production",
            format!(
                "{} (development keys are kept in {}; `bilet admin generate-key ID` makes one)",
                missing.join(", "),
                keys.dev_keys_file.display()
            ),
        );
    }
}
