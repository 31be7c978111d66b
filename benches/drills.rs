//! Fault drills for the notification hub: an urgent cancellation reaching 2,000 families
//! (11,300 deliveries by push, SMS and e-mail), and at one third of it delivered, a fault:
//!
//! - `kill-one-of-two`: `kill -9` of one of two `bilet work` processes; the other finishes;
//! - `kill-only`: `kill -9` of the only worker, a new one started at once;
//! - `term-only`: SIGTERM to the only worker, a new one started at once;
//! - `redis-emptied`: every key of the prefix deleted (SCAN + UNLINK), as a Redis restarted
//!   without persistence would come back;
//! - `postgres-terminated`: PostgreSQL terminates every backend of the database
//!   (`pg_terminate_backend`), as a failover or an operator would;
//! - `undisturbed` (only when asked for): the same run without a fault, to compare with.
//!
//! Each run has a database and a Redis prefix of its own, `bilet simulate` in its own
//! process, and workers with the hub's default settings (no `BILET_HUB_*` is set). The
//! event is cancelled as the API does; the ledger is polled every 20 ms until one third of
//! the deliveries are delivered, the fault strikes, and from then on the delivered count is
//! sampled every 50 ms until every delivery is final. Then, from every message the
//! simulators kept and the ledger: **duplicates** (messages beyond one per delivery; each
//! device, phone and address has exactly one), **lost** (deliveries not delivered, and
//! recipients who got nothing), the time from the fault to the last delivery (**whole
//! again**), and the **longest gap** in delivery progress after the fault.
//!
//! ```sh
//! cargo bench --bench drills                                   # every fault, 3 runs each
//! cargo bench --bench drills -- --faults kill-only --runs 1    # see `--help` and BENCHMARKS.md
//! ```

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use support::seed::{self, CHANNELS, Population};
use support::{Process, WorkerKeys, Workers, thousands};

/// A number from the environment, else `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// What strikes at one third of the deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Fault {
    /// `kill -9` of one of two workers; the survivor must finish.
    KillOneOfTwo,
    /// `kill -9` of the only worker; a new one is started at once.
    KillOnly,
    /// SIGTERM to the only worker; a new one is started at once.
    TermOnly,
    /// Every key of the Redis prefix deleted (SCAN + UNLINK).
    RedisEmptied,
    /// Every backend of the database terminated (`pg_terminate_backend`).
    PostgresTerminated,
    /// No fault: the same run undisturbed, for comparison.
    Undisturbed,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::KillOneOfTwo => "kill -9 one of two workers",
            Fault::KillOnly => "kill -9 the only worker, start another",
            Fault::TermOnly => "SIGTERM the only worker, start another",
            Fault::RedisEmptied => "Redis forgets every key",
            Fault::PostgresTerminated => "PostgreSQL terminates every backend",
            Fault::Undisturbed => "no fault",
        }
    }

    fn workers(self) -> usize {
        if self == Fault::KillOneOfTwo { 2 } else { 1 }
    }
}

const EVERY_FAULT: [Fault; 5] = [
    Fault::KillOneOfTwo,
    Fault::KillOnly,
    Fault::TermOnly,
    Fault::RedisEmptied,
    Fault::PostgresTerminated,
];

#[derive(Parser, Debug)]
#[command(
    about = "Fault drills for the notification hub: a fault at one third of an urgent cancellation, \
             and what it cost in duplicates, losses and time"
)]
struct Args {
    /// Families (a student and one parent each) signed up for the cancelled event.
    /// Env: BENCH_FAMILIES.
    #[arg(long, default_value_t = env_or("BENCH_FAMILIES", 2000))]
    families: usize,
    /// Runs of each drill. Env: BENCH_RUNS.
    #[arg(long, default_value_t = env_or("BENCH_RUNS", 3))]
    runs: usize,
    /// The drills, comma-separated: kill-one-of-two, kill-only, term-only, redis-emptied,
    /// postgres-terminated (the default: all five), undisturbed (a run without a fault).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = EVERY_FAULT)]
    faults: Vec<Fault>,
    /// PostgreSQL server (each run creates and drops its own database there).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Redis server (each run uses and then deletes its own key prefix).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Seconds a run may take from the cancellation until every delivery is final.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Keep each run's database, Redis keys and worker logs. Env: BENCH_KEEP=1.
    #[arg(long, default_value_t = std::env::var_os("BENCH_KEEP").is_some())]
    keep: bool,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.families >= 3, "--families must be at least 3");
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let started = Utc::now();
    let mut results = Vec::new();
    for fault in &args.faults {
        for run in 1..=args.runs {
            eprintln!("\n== {} (run {run} of {})", fault.name(), args.runs);
            let result = drill(&args, *fault, run).await;
            if let Err(err) = &result {
                eprintln!("the drill failed: {err:#}");
            }
            results.push((*fault, run, result));
        }
    }
    println!("{}", report(&args, started, &results));
    let failed = results.iter().any(|(_, _, r)| match r {
        Ok(o) => o.lost() > 0,
        Err(_) => true,
    });
    anyhow::ensure!(
        !failed,
        "a drill lost deliveries or did not finish (see above)"
    );
    Ok(())
}

/// What one drill measured.
struct Outcome {
    deliveries: u64,
    /// Delivered rows when the fault struck, and how long after the cancellation.
    struck_at: (u64, Duration),
    /// What the fault did (keys deleted, backends terminated, the old worker's exit).
    detail: String,
    /// Messages accepted beyond one per recipient, per channel.
    duplicates: BTreeMap<&'static str, u64>,
    /// Messages to recipients the seed did not make (none expected).
    strangers: u64,
    /// For each recipient who got a message twice, when the first and the second copy
    /// arrived, in seconds after the fault.
    copies: Vec<(f64, f64)>,
    /// Deliveries sent more than once (`attempts` > 1) by channel and the reason their
    /// first attempt gave way (`last_error`).
    retried: Vec<(String, String, i64)>,
    /// Per process and channel (processes by the order they first recorded an outcome):
    /// deliveries recorded, and the last one's `delivered_at` after the fault.
    recorders: Vec<(usize, String, i64, f64)>,
    /// Messages the simulators counted as accepted, and delivered rows in the ledger.
    accepted: u64,
    delivered: u64,
    /// Ledger rows in another final state than `delivered`, by status.
    not_delivered: Vec<(String, i64)>,
    /// Recipients who got nothing, per channel.
    unreached: BTreeMap<&'static str, u64>,
    /// When the fault struck.
    struck_wall: DateTime<Utc>,
    /// From the fault to the last `delivered_at`.
    whole_after: Option<f64>,
    /// The longest time the delivered count stood still after the fault, and when (after
    /// the fault) that pause began.
    longest_gap: (Duration, Duration),
    /// Ledger polls that failed after the fault (PostgreSQL terminated the bench's too).
    failed_polls: u64,
    /// What the workers logged about recovering, and their warnings and errors.
    logs: Vec<String>,
}

impl Outcome {
    fn duplicates(&self) -> u64 {
        self.duplicates.values().sum::<u64>() + self.strangers
    }

    fn lost(&self) -> u64 {
        let rows: i64 = self.not_delivered.iter().map(|(_, n)| n).sum();
        rows as u64 + self.unreached.values().sum::<u64>()
    }
}

/// One drill: its own database, prefix, simulators and workers, all removed afterwards.
async fn drill(args: &Args, fault: Fault, run: usize) -> anyhow::Result<Outcome> {
    let name = format!(
        "bilet_drill_{}_{}_{run}",
        Utc::now().timestamp(),
        format!("{fault:?}").to_lowercase()
    );
    let database_url = format!("{}/{name}", args.postgres.trim_end_matches('/'));
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir)?;
    let redis = redis::Client::open(args.redis.as_str())?;
    let mut workers: Vec<Process> = Vec::new();
    let mut simulate = None;
    let mut pool = None;
    let outcome = async {
        support::migrate(&database_url)?;
        let (sim, simulators, client_settings) = support::start_simulators(&dir).await?;
        simulate = Some(sim);
        let db = pool.insert(
            PgPoolOptions::new()
                .max_connections(2)
                .connect(&database_url)
                .await?,
        );
        let keys = WorkerKeys::generate();
        let population = {
            let mut conn = db.acquire().await?;
            let population = seed::seed(&mut conn, args.families, &keys.vault()).await?;
            seed::settle(&mut conn).await?;
            population
        };
        let spawner = Workers {
            database_url: database_url.clone(),
            redis_url: args.redis.clone(),
            prefix: name.clone(),
            keys,
            // The client settings `bilet simulate` wrote, as they are: default pools.
            push_config: client_settings,
        };
        for _ in 0..fault.workers() {
            workers.push(start_worker(&spawner, &dir, workers.len())?);
        }
        let mut redis_conn = redis.get_multiplexed_async_connection().await?;
        support::wait_idle(&mut redis_conn, &name, &mut workers).await?;
        eprintln!(
            "{} deliveries to {} families; {} worker(s) idle; cancelling",
            thousands(population.total()),
            thousands(args.families as u64),
            workers.len()
        );
        let mut outcome = watch(args, fault, db, &population, &spawner, &dir, &mut workers).await?;
        for worker in &mut workers {
            worker.stop();
        }
        let http = reqwest::Client::new();
        let stats = support::sim_stats(&http, &simulators).await?;
        outcome.accepted = CHANNELS
            .iter()
            .map(|c| support::accepted_of(&stats, c))
            .sum();
        let received = support::messages_per_recipient(&http, &simulators).await?;
        let struck = outcome.struck_wall;
        count_messages(&mut outcome, &population, &received, struck);
        outcome.logs = summarize_logs(&dir, workers.len());
        Ok(outcome)
    }
    .await;

    for worker in &mut workers {
        worker.stop();
    }
    if let Some(mut sim) = simulate {
        sim.stop();
    }
    if let Some(pool) = pool {
        pool.close().await;
    }
    if args.keep {
        eprintln!(
            "kept the database {name}, the Redis keys {name}:* and the worker logs in {}",
            dir.display()
        );
    } else {
        support::drop_database(&args.postgres, &name).await;
        if let Err(err) = support::clear_prefix(&redis, &name).await {
            eprintln!("could not clear the Redis prefix {name}: {err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome
}

/// Starts the `index`th worker of a run, logging JSON at `info` (the reconciler reports
/// what it recovered at that level) to the run's folder.
fn start_worker(spawner: &Workers, dir: &std::path::Path, index: usize) -> anyhow::Result<Process> {
    spawner.start(
        &dir.join(format!("worker-{index}.log")),
        "info",
        &[("BILET_LOG_FORMAT", "json".to_owned())],
    )
}

/// The ledger's counts: rows, delivered, and not yet final (pending or sending).
struct Ledger {
    rows: u64,
    delivered: u64,
    open: u64,
}

async fn ledger(db: &PgPool) -> anyhow::Result<Ledger> {
    let (rows, delivered, open): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status = 'delivered'),
                count(*) FILTER (WHERE status IN ('pending', 'sending'))
         FROM deliveries",
    )
    .fetch_one(db)
    .await?;
    Ok(Ledger {
        rows: rows as u64,
        delivered: delivered as u64,
        open: open as u64,
    })
}

/// Cancels the event, strikes at one third delivered, and follows the ledger until every
/// delivery is final.
async fn watch(
    args: &Args,
    fault: Fault,
    db: &PgPool,
    population: &Population,
    spawner: &Workers,
    dir: &std::path::Path,
    workers: &mut Vec<Process>,
) -> anyhow::Result<Outcome> {
    let total = population.total();
    let third = total.div_ceil(3);
    {
        let mut conn = db.acquire().await?;
        seed::cancel(&mut conn, population).await?;
    }
    let cancelled = Instant::now();
    let deadline = cancelled + Duration::from_secs(args.timeout);
    let at_fault = loop {
        let now = ledger(db).await?;
        if now.delivered >= third {
            break now.delivered;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {total} delivered after {} s",
            now.delivered,
            args.timeout
        );
        anyhow::ensure!(!workers.iter_mut().any(Process::exited), "a worker exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let struck_wall: DateTime<Utc> = Utc::now();
    let struck = Instant::now();
    let struck_after = struck - cancelled;
    let mut detail = strike(args, fault, workers, spawner, dir).await?;
    eprintln!(
        "struck at {} of {} delivered, {:.2} s after the cancellation: {detail}",
        thousands(at_fault),
        thousands(total),
        struck_after.as_secs_f64()
    );

    // From the fault on: the delivered count every 50 ms, until nothing is open.
    let mut samples: Vec<(Duration, u64)> = vec![(Duration::ZERO, at_fault)];
    let mut failed_polls = 0;
    let mut old_exit: Option<Duration> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if fault == Fault::TermOnly && old_exit.is_none() && workers[0].exited() {
            old_exit = Some(struck.elapsed());
        }
        match ledger(db).await {
            Ok(now) => {
                samples.push((struck.elapsed(), now.delivered));
                if now.rows == total && now.open == 0 {
                    break;
                }
            }
            Err(_) => failed_polls += 1,
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not every delivery final {} s after the cancellation",
            args.timeout
        );
        // The survivors must keep going (the signalled worker aside).
        let struck_worker = usize::from(matches!(
            fault,
            Fault::KillOneOfTwo | Fault::KillOnly | Fault::TermOnly
        ));
        anyhow::ensure!(
            !workers.iter_mut().skip(struck_worker).any(Process::exited),
            "a worker exited"
        );
    }
    if fault == Fault::TermOnly {
        let waited = Instant::now();
        while !workers[0].exited() && waited.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let exit = old_exit.or_else(|| workers[0].exited().then(|| struck.elapsed()));
        let status = workers[0].0.try_wait().ok().flatten();
        match (exit, status) {
            (Some(after), Some(status)) => write!(
                detail,
                "; the stopped worker exited {:.2} s after SIGTERM ({status})",
                after.as_secs_f64()
            )?,
            _ => detail.push_str("; the stopped worker had not exited after 60 s"),
        }
    }

    let whole_after: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(delivered_at) - $1)::float8 FROM deliveries",
    )
    .bind(struck_wall)
    .fetch_one(db)
    .await?;
    let not_delivered: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM deliveries WHERE status <> 'delivered'
         GROUP BY status ORDER BY status",
    )
    .fetch_all(db)
    .await?;
    let retried: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT channel, coalesce(last_error, ''), count(*) FROM deliveries WHERE attempts > 1
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(db)
    .await?;
    let recorders: Vec<(usize, String, i64, f64)> = sqlx::query_as::<_, (i64, String, i64, f64)>(
        "SELECT dense_rank() OVER (ORDER BY first) - 1, channel, n, last FROM (
             SELECT leased_by, channel, count(*) AS n,
                    extract(epoch FROM max(delivered_at) - $1)::float8 AS last,
                    min(min(delivered_at)) OVER (PARTITION BY leased_by) AS first
             FROM deliveries WHERE status = 'delivered' GROUP BY leased_by, channel) AS per
         ORDER BY 1, 2",
    )
    .bind(struck_wall)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|(p, c, n, last)| (p as usize, c, n, last))
    .collect();
    let delivered = samples.last().map(|(_, d)| *d).unwrap_or(0);
    Ok(Outcome {
        deliveries: total,
        struck_at: (at_fault, struck_after),
        detail,
        duplicates: BTreeMap::new(),
        strangers: 0,
        copies: Vec::new(),
        retried,
        recorders,
        struck_wall,
        accepted: 0,
        delivered,
        not_delivered,
        unreached: BTreeMap::new(),
        whole_after,
        longest_gap: longest_gap(&samples),
        failed_polls,
        logs: Vec::new(),
    })
}

/// Injects the fault; says what it did.
async fn strike(
    args: &Args,
    fault: Fault,
    workers: &mut Vec<Process>,
    spawner: &Workers,
    dir: &std::path::Path,
) -> anyhow::Result<String> {
    Ok(match fault {
        Fault::KillOneOfTwo => {
            workers[0].signal("-KILL")?;
            format!("worker {} killed", workers[0].id())
        }
        Fault::KillOnly | Fault::TermOnly => {
            let signal = if fault == Fault::KillOnly {
                "-KILL"
            } else {
                "-TERM"
            };
            workers[0].signal(signal)?;
            let index = workers.len();
            workers.push(start_worker(spawner, dir, index)?);
            format!(
                "worker {} sent {}, worker {} started",
                workers[0].id(),
                &signal[1..],
                workers[index].id()
            )
        }
        Fault::RedisEmptied => {
            let redis = redis::Client::open(args.redis.as_str())?;
            let deleted = support::clear_prefix(&redis, &spawner.prefix).await?;
            format!("{deleted} keys of the prefix deleted")
        }
        Fault::PostgresTerminated => {
            let admin = format!("{}/postgres", args.postgres.trim_end_matches('/'));
            let mut conn = PgConnection::connect(&admin).await?;
            // Only the backends of this run's database (named like its prefix): the filter
            // applies to the subquery's rows, so no other database's backend is touched.
            let terminated: i64 = sqlx::query_scalar(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
                 FROM (SELECT pid FROM pg_stat_activity WHERE datname = $1) AS backends",
            )
            .bind(&spawner.prefix)
            .fetch_one(&mut conn)
            .await?;
            conn.close().await?;
            format!("{terminated} backends terminated")
        }
        Fault::Undisturbed => "nothing done".to_owned(),
    })
}

/// The longest run of samples without progress: its length, and when it began.
fn longest_gap(samples: &[(Duration, u64)]) -> (Duration, Duration) {
    let mut longest = (Duration::ZERO, Duration::ZERO);
    let Some(&(mut since, mut count)) = samples.first() else {
        return longest;
    };
    for &(at, delivered) in &samples[1..] {
        if delivered > count {
            if at - since > longest.0 {
                longest = (at - since, since);
            }
            since = at;
            count = delivered;
        }
    }
    longest
}

/// Duplicates and unreached recipients, from what the simulators kept: each seeded
/// device, phone and address must have exactly one message. For the duplicates, when
/// their first and second copies arrived.
fn count_messages(
    outcome: &mut Outcome,
    population: &Population,
    received: &BTreeMap<(&'static str, String), Vec<DateTime<Utc>>>,
    struck: DateTime<Utc>,
) {
    let mut expected = std::collections::BTreeSet::new();
    let since = |at: &DateTime<Utc>| (*at - struck).num_milliseconds() as f64 / 1000.0;
    for (channel, to) in &population.recipients {
        let key = (*channel, to.clone());
        let times = received.get(&key).map(Vec::as_slice).unwrap_or_default();
        match times {
            [] => *outcome.unreached.entry(channel).or_default() += 1,
            [_] => {}
            [first, second, ..] => {
                *outcome.duplicates.entry(channel).or_default() += times.len() as u64 - 1;
                outcome.copies.push((since(first), since(second)));
            }
        }
        expected.insert(key);
    }
    outcome.strangers = received
        .iter()
        .filter(|(key, _)| !expected.contains(*key))
        .map(|(_, times)| times.len() as u64)
        .sum();
}

/// What the workers logged: the reconciler's recoveries summed, and every warning or
/// error counted by its message (worker logs carry ids and counts, no personal data).
fn summarize_logs(dir: &std::path::Path, workers: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for index in 0..workers {
        let text =
            std::fs::read_to_string(dir.join(format!("worker-{index}.log"))).unwrap_or_default();
        let mut recovered: BTreeMap<&str, u64> = BTreeMap::new();
        let mut passes = 0;
        let mut complaints: BTreeMap<String, u64> = BTreeMap::new();
        for line in text.lines() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let message = entry["message"].as_str().unwrap_or_default();
            if message.starts_with("recovered work") || message.starts_with("Redis had lost") {
                passes += 1;
                for field in [
                    "leases_released",
                    "entries_taken_back",
                    "deliveries_requeued",
                    "events_requeued",
                ] {
                    *recovered.entry(field).or_default() += entry[field].as_u64().unwrap_or(0);
                }
            }
            let level = entry["level"].as_str().unwrap_or_default();
            if level == "WARN" || level == "ERROR" {
                let mut what = format!("{level} {message}");
                for field in ["task", "channel", "error"] {
                    if let Some(value) = entry[field].as_str() {
                        let value: String = value.chars().take(120).collect();
                        write!(what, " {field}={value}").unwrap_or_default();
                    }
                }
                *complaints.entry(what).or_default() += 1;
            }
        }
        let mut summary = format!("worker {index}:");
        if passes > 0 {
            let parts: Vec<String> = recovered
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            write!(
                summary,
                " recovered in {passes} reconciler pass(es): {}.",
                parts.join(", ")
            )
            .unwrap_or_default();
        }
        for (what, n) in &complaints {
            write!(summary, " {n}× {what}.").unwrap_or_default();
        }
        if passes == 0 && complaints.is_empty() {
            summary.push_str(" nothing recovered, no warnings.");
        }
        lines.push(summary);
    }
    lines
}

fn report(
    args: &Args,
    started: DateTime<Utc>,
    results: &[(Fault, usize, anyhow::Result<Outcome>)],
) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let deliveries = results
        .iter()
        .find_map(|(_, _, r)| r.as_ref().ok().map(|o| o.deliveries))
        .unwrap_or(0);
    line(format!(
        "\nhub fault drills, {}: {} families, {} deliveries, the fault at one third delivered; \
         `bilet work` with the default hub settings; {} run(s) each\n",
        started.format("%Y-%m-%d %H:%M UTC"),
        thousands(args.families as u64),
        thousands(deliveries),
        args.runs
    ));
    line(
        "| fault | run | struck at (delivered, after the cancel) | duplicates | lost | \
         fault → whole again | longest gap after the fault |"
            .into(),
    );
    line("| --- | ---: | ---: | ---: | ---: | ---: | ---: |".into());
    for (fault, run, result) in results {
        match result {
            Ok(o) => line(format!(
                "| {} | {run} | {} ({:.2} s) | {} | {} | {} | {:.2} s |",
                fault.name(),
                thousands(o.struck_at.0),
                o.struck_at.1.as_secs_f64(),
                o.duplicates(),
                o.lost(),
                o.whole_after
                    .map(|s| format!("{s:.2} s"))
                    .unwrap_or_else(|| "never".into()),
                o.longest_gap.0.as_secs_f64(),
            )),
            Err(err) => line(format!(
                "| {} | {run} | failed: {} | | | | |",
                fault.name(),
                format!("{err:#}").replace('|', "/")
            )),
        }
    }
    line(String::new());
    for (fault, run, result) in results {
        let Ok(o) = result else { continue };
        line(format!("{} — run {run}: {}.", fault.name(), o.detail));
        let duplicates: Vec<String> = o
            .duplicates
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let unreached: Vec<String> = o
            .unreached
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let not_delivered: Vec<String> = o
            .not_delivered
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        line(format!(
            "  simulators accepted {} messages for {} delivered rows; duplicates by channel: {}{}; \
             rows not delivered: {}; recipients with nothing: {}; longest gap began {:.2} s after \
             the fault{}",
            thousands(o.accepted),
            thousands(o.delivered),
            if duplicates.is_empty() {
                "none".to_owned()
            } else {
                duplicates.join(", ")
            },
            if o.strangers > 0 {
                format!(" (and {} to unknown recipients)", o.strangers)
            } else {
                String::new()
            },
            if not_delivered.is_empty() {
                "none".to_owned()
            } else {
                not_delivered.join(", ")
            },
            if unreached.is_empty() {
                "none".to_owned()
            } else {
                unreached.join(", ")
            },
            o.longest_gap.1.as_secs_f64(),
            if o.failed_polls > 0 {
                format!("; {} ledger poll(s) of the bench failed", o.failed_polls)
            } else {
                String::new()
            },
        ));
        if !o.copies.is_empty() {
            let range = |values: Vec<f64>| {
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                format!("{min:+.3} s to {max:+.3} s")
            };
            line(format!(
                "  sent twice: first copies accepted {}, second copies {}, after the fault",
                range(o.copies.iter().map(|c| c.0).collect()),
                range(o.copies.iter().map(|c| c.1).collect()),
            ));
        }
        if !o.retried.is_empty() {
            let retried: Vec<String> = o
                .retried
                .iter()
                .map(|(channel, why, n)| format!("{channel} {n} ({why})"))
                .collect();
            line(format!(
                "  deliveries attempted more than once: {}",
                retried.join(", ")
            ));
        }
        let mut processes: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (process, channel, n, last) in &o.recorders {
            processes
                .entry(*process)
                .or_default()
                .push(format!("{channel} {n} (last {last:+.2} s)"));
        }
        for (process, channels) in processes {
            line(format!(
                "  process {} recorded: {}",
                process + 1,
                channels.join(", ")
            ));
        }
        for log in &o.logs {
            line(format!("  {log}"));
        }
    }
    out
}
