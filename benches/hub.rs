//! The notification hub under its heaviest single event: an urgent cancellation reaching
//! 100,000 students and parents, each by push on every device, SMS and e-mail at once.
//!
//! The bench creates a database of its own, migrates it (`bilet migrate`), starts the
//! provider simulators (`bilet simulate`, a separate process) and `bilet work` (the hub
//! alone, idle until the cancellation), seeds with bulk SQL an organizer, an event starting
//! in 30 hours and its approved sign-ups (students with one parent each, phones encrypted
//! with the keys the worker is given, a mix of devices), then cancels the event as the API
//! does (`participation::organizer::cancel_event` in one transaction) and starts the clock
//! at the commit. It reports when every ledger row is written and every job is in Redis,
//! when every delivery is recorded as delivered (checked against what the simulators
//! accepted), per channel when its deliveries went out, and the worker's CPU time and peak
//! memory. Then, in the same run, the floor: the same notification and delivery rows written
//! with COPY (the ledger's own COPY code, into empty tables of the same shape, indexes and
//! foreign keys) and the same jobs XADDed in pipelined batches. It drops its database and
//! its Redis keys at the end.
//!
//! ```sh
//! cargo bench --bench hub                               # 100,000 recipients, 1 worker
//! BENCH_RECIPIENTS=10000 cargo bench --bench hub        # a quick run
//! cargo bench --bench hub -- --workers 2 --pg-profile   # see `--help` and BENCHMARKS.md
//! ```

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bilet::domain::ids::{AccountId, DeliveryId, DomainEventId, NotificationId};
use bilet::notify::providers::ChannelKind;
use bilet::notify::streams::Streams;
use bilet::queue::{Keys, Redis};
use bilet::store::deliveries::{self, NewDelivery, NewNotification};
use chrono::{DateTime, Utc};
use clap::Parser;
use sqlx::{Connection, PgConnection};
use support::seed::{CHANNELS, Population};
use support::{
    Process, WorkerKeys, Workers, accepted_of, clear_prefix, cpu_ticks, field, int, sim_stats,
    status_kib, thousands, wait_idle,
};
use uuid::Uuid;

/// A number from the environment, else `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[derive(Parser, Debug)]
#[command(about = "Notification hub: cancelling an event with many recipients")]
struct Args {
    /// Recipients: half students, half their parents (one each). Env: BENCH_RECIPIENTS.
    #[arg(long, default_value_t = env_or("BENCH_RECIPIENTS", 100_000))]
    recipients: usize,
    /// `bilet work` processes. Env: BENCH_WORKERS.
    #[arg(long, default_value_t = env_or("BENCH_WORKERS", 1))]
    workers: usize,
    /// The workers' BILET_HUB_CONCURRENCY: sends in flight per channel per process.
    /// Env: BENCH_CONCURRENCY.
    #[arg(long, default_value_t = env_or("BENCH_CONCURRENCY", 256))]
    concurrency: usize,
    /// The workers' BILET_HUB_BATCH: jobs read per round. Env: BENCH_BATCH.
    #[arg(long, default_value_t = env_or("BENCH_BATCH", 1024))]
    batch: usize,
    /// SMTP connections per worker (`[email] pool_size`, at most 256). Env: BENCH_EMAIL_POOL.
    #[arg(long, default_value_t = env_or("BENCH_EMAIL_POOL", 256))]
    email_pool: usize,
    /// PostgreSQL server (the bench creates and drops its own database there).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Sample PostgreSQL's active statements (pg_stat_activity, every 10 ms) while the hub
    /// works, and list where its time goes. Env: BENCH_PG_PROFILE=1.
    #[arg(long, default_value_t = std::env::var_os("BENCH_PG_PROFILE").is_some())]
    pg_profile: bool,
    /// Have PostgreSQL log the plans of the hub's statements slower than this many
    /// milliseconds (auto_explain, set on the bench's database only) to the server log.
    #[arg(long)]
    explain_slower_than: Option<u64>,
    /// Seconds to wait for every delivery before giving up.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

const TICKS_PER_SECOND: f64 = 100.0; // USER_HZ on Linux

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.recipients >= 2 && args.recipients.is_multiple_of(2),
        "--recipients must be an even number (students and one parent each)"
    );
    anyhow::ensure!(args.workers >= 1, "--workers must be at least 1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let unix = Utc::now().timestamp();
    let name = format!("bilet_bench_hub_{unix}");
    let database_url = format!("{}/{name}", args.postgres.trim_end_matches('/'));
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir)?;
    let keys = WorkerKeys::generate();
    let vault = keys.vault();
    let redis = redis::Client::open(args.redis.as_str())?;
    let mut workers = Vec::new();
    let mut simulate = None;
    let outcome: anyhow::Result<String> = async {
        eprintln!("database {name}: migrating");
        support::migrate(&database_url)?;

        let (sim, simulators, client_settings) = support::start_simulators(&dir).await?;
        simulate = Some(sim);
        // The simulator's client settings, with a larger SMTP pool.
        let settings = std::fs::read_to_string(&client_settings)?.replace(
            "[email]\n",
            &format!("[email]\npool_size = {}\n", args.email_pool),
        );
        let push_config = dir.join("worker-channels.toml");
        std::fs::write(&push_config, settings)?;

        let mut conn = PgConnection::connect(&database_url).await?;
        if let Some(ms) = args.explain_slower_than {
            for statement in [
                format!("ALTER DATABASE \"{name}\" SET session_preload_libraries = 'auto_explain'"),
                format!("ALTER DATABASE \"{name}\" SET auto_explain.log_min_duration = {ms}"),
            ] {
                sqlx::query(&statement).execute(&mut conn).await?;
            }
        }
        eprintln!(
            "seeding {} students, each with one parent, signed up for one event",
            args.recipients / 2
        );
        let seeded = Instant::now();
        let population = support::seed::seed(&mut conn, args.recipients / 2, &vault).await?;
        support::seed::settle(&mut conn).await?;
        eprintln!("seeded in {:.1} s", seeded.elapsed().as_secs_f64());

        let mut redis_conn = redis.get_multiplexed_async_connection().await?;
        let spawner = Workers {
            database_url: database_url.clone(),
            redis_url: args.redis.clone(),
            prefix: name.clone(),
            keys,
            push_config,
        };
        for i in 0..args.workers {
            workers.push(spawner.start(
                &dir.join(format!("worker-{i}.log")),
                "warn",
                &[
                    ("BILET_HUB_CONCURRENCY", args.concurrency.to_string()),
                    ("BILET_HUB_BATCH", args.batch.to_string()),
                ],
            )?);
        }
        wait_idle(&mut redis_conn, &name, &mut workers).await?;
        eprintln!("{} worker(s) idle; cancelling", args.workers);

        let measured = measure(
            &args,
            &database_url,
            &mut conn,
            &mut redis_conn,
            &name,
            &population,
            &simulators,
            &mut workers,
            simulate.as_ref().map(Process::id).unwrap_or(0),
        )
        .await?;

        eprintln!("floor: the same rows with COPY, the same jobs with XADD");
        let floor = floor(&mut conn, &redis, &name).await?;
        let logs: Vec<String> = (0..args.workers)
            .map(|i| {
                std::fs::read_to_string(dir.join(format!("worker-{i}.log"))).unwrap_or_default()
            })
            .collect();
        conn.close().await?;
        Ok(report(&args, &population, &measured, &floor, &logs))
    }
    .await;

    for worker in &mut workers {
        worker.stop();
    }
    if outcome.is_err() {
        for i in 0..workers.len() {
            let log =
                std::fs::read_to_string(dir.join(format!("worker-{i}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            for line in tail.into_iter().rev() {
                eprintln!("worker {i}: {line}");
            }
        }
    }
    if let Some(mut sim) = simulate {
        sim.stop();
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        eprintln!("BENCH_KEEP: kept the database {name} and the Redis keys {name}:*");
    } else {
        support::drop_database(&args.postgres, &name).await;
        if let Err(err) = clear_prefix(&redis, &name).await {
            eprintln!("could not clear the Redis prefix {name}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", outcome?);
    Ok(())
}

/// Entries ever added to each channel's delivery stream (XINFO STREAM `entries-added`;
/// the senders delete what they acknowledge, so the length alone does not tell).
async fn entries_added(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> BTreeMap<&'static str, u64> {
    let mut added = BTreeMap::new();
    for channel in CHANNELS {
        let reply: redis::Value = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(bilet::notify::streams::deliveries_stream(
                &Keys::new(prefix),
                channel,
            ))
            .query_async(redis)
            .await
            .unwrap_or(redis::Value::Nil);
        let n = field(&reply, "entries-added")
            .and_then(|v| int(&v))
            .unwrap_or(0);
        added.insert(channel, n.max(0) as u64);
    }
    added
}

/// Per channel, from the ledger after the run.
#[derive(Debug, Default)]
struct ChannelResult {
    rows: u64,
    delivered: u64,
    /// Seconds from the commit to the first and the last `delivered_at`.
    first: f64,
    last: f64,
    /// Jobs queued in Redis for it (more than `rows` when some were queued again).
    jobs: u64,
    accepted: u64,
    rejected: u64,
}

struct Measured {
    /// Samples of active statements (with `--pg-profile`), most frequent first.
    profile: Vec<(String, u64)>,
    cancel_tx: Duration,
    /// The outbox row seen fanned out: every ledger row committed.
    ledger: Duration,
    /// Ledger committed and every job in its stream.
    queued: Duration,
    /// Every delivery in a final state.
    settled: Duration,
    channels: BTreeMap<&'static str, ChannelResult>,
    statuses: Vec<(String, i64)>,
    /// On-disk size of the ledger (notifications and deliveries, with their indexes and
    /// TOAST), in bytes, at the end.
    ledger_bytes: i64,
    /// CPU counters at the commit, when queued, when the simulators had every push and SMS
    /// (if before the end), and at the end.
    snapshots: Vec<(&'static str, Snapshot)>,
    /// Peak RSS (VmHWM) of each worker, in KiB.
    worker_hwm_kib: Vec<u64>,
    sim_rss_kib: u64,
    smtp_connections: u64,
}

/// CPU counters, in clock ticks, at one moment of the run.
struct Snapshot {
    at: Duration,
    /// Busy and total ticks of the whole machine.
    machine: (u64, u64),
    workers: Vec<u64>,
    simulators: u64,
    postgres: BTreeMap<u32, u64>,
    redis: BTreeMap<u32, u64>,
}

impl Snapshot {
    fn take(at: Duration, workers: &[u32], simulators: u32) -> Self {
        Self {
            at,
            machine: support::machine_ticks(),
            workers: workers.iter().map(|p| cpu_ticks(*p)).collect(),
            simulators: cpu_ticks(simulators),
            postgres: support::ticks_of_named(&["postgres"]),
            redis: support::ticks_of_named(&["redis-server"]),
        }
    }
}

/// CPU seconds used between two snapshots.
struct Usage {
    seconds: f64,
    /// Busy share of all the machine's cores.
    machine: f64,
    workers: f64,
    simulators: f64,
    postgres: f64,
    redis: f64,
}

fn usage(from: &Snapshot, to: &Snapshot) -> Usage {
    let ticks = |t: u64| t as f64 / TICKS_PER_SECOND;
    Usage {
        seconds: (to.at - from.at).as_secs_f64(),
        machine: (to.machine.0 - from.machine.0) as f64
            / (to.machine.1 - from.machine.1).max(1) as f64,
        workers: ticks(
            from.workers
                .iter()
                .zip(&to.workers)
                .map(|(a, b)| b.saturating_sub(*a))
                .sum(),
        ),
        simulators: ticks(to.simulators.saturating_sub(from.simulators)),
        postgres: ticks(support::ticks_between(&from.postgres, &to.postgres)),
        redis: ticks(support::ticks_between(&from.redis, &to.redis)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &Args,
    database_url: &str,
    conn: &mut PgConnection,
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    population: &Population,
    simulators: &support::Simulators,
    workers: &mut [Process],
    sim_pid: u32,
) -> anyhow::Result<Measured> {
    let pids: Vec<u32> = workers.iter().map(Process::id).collect();
    let http = reqwest::Client::new();
    let total = population.total();
    let mut snapshots = vec![("commit", Snapshot::take(Duration::ZERO, &pids, sim_pid))];

    let profiling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(args.pg_profile));
    let profiler = tokio::spawn(profile_postgres(database_url.to_owned(), profiling.clone()));

    let cancel_started = Instant::now();
    support::seed::cancel(conn, population).await?;
    let t0 = Instant::now();
    let t0_wall: DateTime<Utc> = Utc::now();
    let cancel_tx = t0 - cancel_started;

    // Queued: the outbox row is fanned out (its ledger rows are committed in the same
    // transaction) and every delivery's job has been added to its stream.
    let deadline = t0 + Duration::from_secs(args.timeout);
    let mut ledger = None;
    let queued = loop {
        if ledger.is_none() {
            let fanned: Option<bool> = sqlx::query_scalar(
                "SELECT fanned_out_at IS NOT NULL FROM outbox WHERE kind = 'event_cancelled'",
            )
            .fetch_optional(&mut *conn)
            .await?;
            if fanned == Some(true) {
                ledger = Some(t0.elapsed());
            }
        }
        let added: u64 = entries_added(redis, prefix).await.values().sum();
        if ledger.is_some() && added >= total {
            break t0.elapsed();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not queued after {} s",
            args.timeout
        );
        anyhow::ensure!(!workers.iter_mut().any(Process::exited), "a worker exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ledger = ledger.unwrap_or(queued);
    snapshots.push(("queued", Snapshot::take(queued, &pids, sim_pid)));
    eprintln!(
        "ledger committed at {:.2} s, {total} jobs queued at {:.2} s",
        ledger.as_secs_f64(),
        queued.as_secs_f64()
    );

    // Delivered: watch the simulators, then wait for the ledger to record every outcome.
    let mut last_report = Instant::now();
    let mut last_ledger_check = Instant::now();
    loop {
        let stats = sim_stats(&http, simulators).await?;
        let sum: u64 = CHANNELS.iter().map(|c| accepted_of(&stats, c)).sum();
        if last_report.elapsed() >= Duration::from_secs(5) {
            let per: Vec<String> = CHANNELS
                .iter()
                .map(|c| format!("{c} {}", accepted_of(&stats, c)))
                .collect();
            eprintln!(
                "{:>6.1} s: {sum}/{total} accepted ({})",
                t0.elapsed().as_secs_f64(),
                per.join(", ")
            );
            last_report = Instant::now();
        }
        if sum >= total {
            break;
        }
        if snapshots.len() == 2
            && ["apns", "fcm", "rustore", "sms"]
                .iter()
                .all(|c| accepted_of(&stats, c) >= population.expected[c])
        {
            snapshots.push((
                "push and SMS accepted",
                Snapshot::take(t0.elapsed(), &pids, sim_pid),
            ));
        }
        if last_ledger_check.elapsed() >= Duration::from_secs(5) {
            last_ledger_check = Instant::now();
            if open_deliveries(conn).await? == 0 {
                break;
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not delivered after {} s",
            args.timeout
        );
        anyhow::ensure!(!workers.iter_mut().any(Process::exited), "a worker exited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = loop {
        if open_deliveries(conn).await? == 0 {
            break t0.elapsed();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not delivered after {} s",
            args.timeout
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    profiling.store(false, std::sync::atomic::Ordering::Relaxed);
    let profile = profiler.await??;
    snapshots.push(("all delivered", Snapshot::take(settled, &pids, sim_pid)));
    let worker_hwm_kib: Vec<u64> = pids.iter().map(|p| status_kib(*p, "VmHWM:")).collect();
    let sim_rss_kib = status_kib(sim_pid, "VmHWM:");
    eprintln!("settled at {:.2} s", settled.as_secs_f64());

    /// Channel, rows, delivered, first and last `delivered_at` in seconds after the commit.
    type LedgerRow = (String, i64, i64, Option<f64>, Option<f64>);
    let rows: Vec<LedgerRow> = sqlx::query_as(
        "SELECT channel, count(*), count(*) FILTER (WHERE status = 'delivered'),
                extract(epoch FROM min(delivered_at) - $1)::float8,
                extract(epoch FROM max(delivered_at) - $1)::float8
         FROM deliveries GROUP BY channel",
    )
    .bind(t0_wall)
    .fetch_all(&mut *conn)
    .await?;
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM deliveries GROUP BY status ORDER BY status")
            .fetch_all(&mut *conn)
            .await?;
    let ledger_bytes: i64 = sqlx::query_scalar(
        "SELECT (pg_total_relation_size('notifications') + pg_total_relation_size('deliveries'))::int8",
    )
    .fetch_one(&mut *conn)
    .await?;
    let jobs = entries_added(redis, prefix).await;
    let stats = sim_stats(&http, simulators).await?;
    let mut channels = BTreeMap::new();
    for channel in CHANNELS {
        let row = rows.iter().find(|r| r.0 == channel);
        channels.insert(
            channel,
            ChannelResult {
                rows: row.map(|r| r.1 as u64).unwrap_or(0),
                delivered: row.map(|r| r.2 as u64).unwrap_or(0),
                first: row.and_then(|r| r.3).unwrap_or(f64::NAN),
                last: row.and_then(|r| r.4).unwrap_or(f64::NAN),
                jobs: jobs.get(channel).copied().unwrap_or(0),
                accepted: accepted_of(&stats, channel),
                rejected: stats
                    .get(channel)
                    .and_then(|s| s["rejected"].as_u64())
                    .unwrap_or(0),
            },
        );
    }
    Ok(Measured {
        profile,
        cancel_tx,
        ledger,
        queued,
        settled,
        channels,
        statuses,
        ledger_bytes,
        snapshots,
        worker_hwm_kib,
        sim_rss_kib,
        smtp_connections: stats
            .get("email")
            .and_then(|s| s["connections"].as_u64())
            .unwrap_or(0),
    })
}

/// While `running`, samples the statements active in the bench's database every 10 ms;
/// returns how often each was seen (by its first words), most frequent first.
async fn profile_postgres(
    database_url: String,
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<Vec<(String, u64)>> {
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    if !running.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(Vec::new());
    }
    let mut conn = PgConnection::connect(&database_url).await?;
    let mut samples = 0u64;
    while running.load(std::sync::atomic::Ordering::Relaxed) {
        let active: Vec<(String,)> = sqlx::query_as(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 90) FROM pg_stat_activity
             WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut conn)
        .await?;
        samples += 1;
        for (query,) in active {
            *seen.entry(query).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    conn.close().await?;
    let mut seen: Vec<(String, u64)> = seen.into_iter().collect();
    seen.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    seen.insert(0, ("(samples)".to_owned(), samples));
    Ok(seen)
}

/// Deliveries not yet in a final state.
async fn open_deliveries(conn: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')",
        )
        .fetch_one(conn)
        .await?,
    )
}

struct Floor {
    notifications: usize,
    deliveries: usize,
    copy_notifications: Duration,
    copy_deliveries: Duration,
    commit: Duration,
    xadd: Duration,
}

impl Floor {
    fn copy(&self) -> Duration {
        self.copy_notifications + self.copy_deliveries + self.commit
    }

    fn total(&self) -> Duration {
        self.copy() + self.xadd
    }
}

/// The same rows the fan-out wrote, written again with the ledger's COPY into empty tables
/// of the same shape (columns, defaults, checks, indexes, foreign keys) in a scratch
/// schema, in one transaction; then the same jobs XADDed per channel, 1,000 per pipeline.
async fn floor(
    conn: &mut PgConnection,
    redis: &redis::Client,
    prefix: &str,
) -> anyhow::Result<Floor> {
    for statement in [
        "CREATE SCHEMA bench_floor",
        "CREATE TABLE bench_floor.notifications (LIKE public.notifications INCLUDING ALL)",
        "ALTER TABLE bench_floor.notifications
             ADD FOREIGN KEY (account_id) REFERENCES public.accounts (id)",
        "CREATE TABLE bench_floor.deliveries (LIKE public.deliveries INCLUDING ALL)",
        "ALTER TABLE bench_floor.deliveries
             ADD FOREIGN KEY (notification_id) REFERENCES bench_floor.notifications (id),
             ADD FOREIGN KEY (account_id) REFERENCES public.accounts (id)",
    ] {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    type NotificationRow = (
        Uuid,
        Uuid,
        Uuid,
        String,
        bool,
        String,
        String,
        serde_json::Value,
        Option<String>,
        bool,
        DateTime<Utc>,
    );
    let notifications: Vec<NewNotification> = sqlx::query_as::<_, NotificationRow>(
        "SELECT id, event_id, account_id, kind, urgent, title, body, data, link, inbox, event_created_at
         FROM notifications ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| NewNotification {
        id: NotificationId(r.0),
        event_id: DomainEventId(r.1),
        account_id: AccountId(r.2),
        kind: r.3,
        urgent: r.4,
        title: r.5,
        body: r.6,
        data: r.7,
        link: r.8,
        inbox: r.9,
        event_created_at: r.10,
    })
    .collect();
    type DeliveryRow = (
        Uuid,
        Uuid,
        Uuid,
        String,
        Option<String>,
        bool,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );
    let deliveries: Vec<NewDelivery> = sqlx::query_as::<_, DeliveryRow>(
        "SELECT id, notification_id, account_id, channel, device_token, escalation, next_attempt_at,
                queued_at
         FROM deliveries ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| NewDelivery {
        id: DeliveryId(r.0),
        notification_id: NotificationId(r.1),
        account_id: AccountId(r.2),
        channel: r.3.parse().unwrap_or(ChannelKind::Email),
        device_token: r.4,
        escalation: r.5,
        next_attempt_at: r.6,
        queued_at: r.7,
    })
    .collect();
    let mut jobs: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for d in &deliveries {
        jobs.entry(d.channel.as_str())
            .or_default()
            .push(d.id.to_string());
    }
    sqlx::query("CHECKPOINT").execute(&mut *conn).await?;

    let started = Instant::now();
    let mut tx = conn.begin().await?;
    sqlx::query("SET LOCAL search_path TO bench_floor, public")
        .execute(&mut *tx)
        .await?;
    deliveries::copy_notifications(&mut tx, &notifications).await?;
    let copy_notifications = started.elapsed();
    deliveries::copy_deliveries(&mut tx, &deliveries).await?;
    let copy_deliveries = started.elapsed() - copy_notifications;
    tx.commit().await?;
    let commit = started.elapsed() - copy_notifications - copy_deliveries;

    let streams = Streams::new(Redis {
        conn: bilet::queue::Connection::Single(redis.get_connection_manager().await?),
        keys: Keys::new(format!("{prefix}:floor")),
    });
    let started = Instant::now();
    for (channel, ids) in &jobs {
        streams.add_all(&streams.deliveries(channel), ids).await?;
    }
    let xadd = started.elapsed();
    Ok(Floor {
        notifications: notifications.len(),
        deliveries: deliveries.len(),
        copy_notifications,
        copy_deliveries,
        commit,
        xadd,
    })
}

fn report(
    args: &Args,
    population: &Population,
    m: &Measured,
    floor: &Floor,
    logs: &[String],
) -> String {
    let total = population.total();
    let s = |d: Duration| d.as_secs_f64();
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "\nhub benchmark: urgent cancellation, {} recipients ({} students + {} parents), {} devices; \
         {} worker(s), BILET_HUB_CONCURRENCY={}, BILET_HUB_BATCH={}, SMTP pool {}\n",
        thousands(2 * population.students as u64),
        thousands(population.students as u64),
        thousands(population.students as u64),
        thousands(population.devices),
        args.workers,
        args.concurrency,
        args.batch,
        args.email_pool,
    ));
    line("| measure | value |".into());
    line("| --- | --- |".into());
    let per_channel: Vec<String> = CHANNELS
        .iter()
        .map(|c| format!("{c} {}", thousands(population.expected[c])))
        .collect();
    line(format!(
        "| deliveries | {} ({}) |",
        thousands(total),
        per_channel.join(", ")
    ));
    line(format!(
        "| cancel transaction ({} sign-ups, outbox row) | {:.2} s |",
        thousands(population.students as u64),
        s(m.cancel_tx)
    ));
    line(format!(
        "| ledger committed (outbox row fanned out) | {:.2} s after the commit |",
        s(m.ledger)
    ));
    line(format!(
        "| **queued**: every ledger row and job | **{:.2} s** |",
        s(m.queued)
    ));
    line(format!(
        "| floor: COPY {} notifications + {} deliveries, one transaction | {:.2} s ({:.2} + {:.2} + commit {:.2}) |",
        thousands(floor.notifications as u64),
        thousands(floor.deliveries as u64),
        s(floor.copy()),
        s(floor.copy_notifications),
        s(floor.copy_deliveries),
        s(floor.commit)
    ));
    line(format!(
        "| floor: XADD {} jobs, 1,000 per pipeline | {:.2} s |",
        thousands(floor.deliveries as u64),
        s(floor.xadd)
    ));
    line(format!("| **floor** | **{:.2} s** |", s(floor.total())));
    line(format!(
        "| **queued / floor** | **{:.2}×** |",
        s(m.queued) / s(floor.total())
    ));
    line(format!(
        "| **delivered**: every row `delivered` | **{:.2} s** ({} messages/s from the commit) |",
        s(m.settled),
        thousands((total as f64 / s(m.settled)) as u64)
    ));
    let push_sms: Vec<&ChannelResult> = ["apns", "fcm", "rustore", "sms"]
        .iter()
        .map(|c| &m.channels[c])
        .collect();
    let push_sms_rows: u64 = push_sms.iter().map(|c| c.delivered).sum();
    let push_sms_last = push_sms.iter().map(|c| c.last).fold(0.0, f64::max);
    line(format!(
        "| push + SMS delivered | {:.2} s ({} messages, {}/s from the commit) |",
        push_sms_last,
        thousands(push_sms_rows),
        thousands((push_sms_rows as f64 / push_sms_last) as u64)
    ));
    let whole = usage(&m.snapshots[0].1, &m.snapshots[m.snapshots.len() - 1].1);
    for (i, hwm) in m.worker_hwm_kib.iter().enumerate() {
        line(format!(
            "| worker {i}: peak RSS (VmHWM) | {:.1} MiB |",
            *hwm as f64 / 1024.0
        ));
    }
    line(format!(
        "| worker CPU (utime + stime{}) | {:.1} s: {:.0} % of one core, {:.0} µs per message |",
        if m.worker_hwm_kib.len() > 1 {
            ", all workers"
        } else {
            ""
        },
        whole.workers,
        100.0 * whole.workers / whole.seconds,
        1e6 * whole.workers / total as f64
    ));
    line(format!(
        "| simulators (`bilet simulate`): CPU, peak RSS | {:.1} s, {:.0} MiB |",
        whole.simulators,
        m.sim_rss_kib as f64 / 1024.0
    ));
    line(format!(
        "| PostgreSQL CPU (all server processes) | {:.1} s |",
        whole.postgres
    ));
    line(format!("| Redis CPU | {:.1} s |", whole.redis));
    let statuses: Vec<String> = m
        .statuses
        .iter()
        .map(|(status, n)| format!("{status} {}", thousands(*n as u64)))
        .collect();
    line(format!("| ledger at the end | {} |", statuses.join(", ")));
    line(format!(
        "| ledger on disk (notifications + deliveries, indexes included) | {:.1} MiB |",
        m.ledger_bytes as f64 / 1024.0 / 1024.0
    ));
    line(String::new());
    line("| channel | deliveries | first delivered | last delivered | rate while sending | rate from the commit | accepted by the simulator | jobs queued |".into());
    line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".into());
    for channel in CHANNELS {
        let c = &m.channels[channel];
        line(format!(
            "| {channel} | {} | {:.2} s | {:.2} s | {}/s | {}/s | {}{} | {} |",
            thousands(c.delivered),
            c.first,
            c.last,
            thousands((c.delivered as f64 / (c.last - c.first).max(0.01)) as u64),
            thousands((c.delivered as f64 / c.last.max(0.01)) as u64),
            thousands(c.accepted),
            if c.rejected > 0 {
                format!(" ({} rejected)", c.rejected)
            } else {
                String::new()
            },
            thousands(c.jobs),
        ));
        if c.rows != population.expected[channel] {
            line(format!(
                "| ⚠ {channel}: {} ledger rows, {} expected | | | | | | | |",
                c.rows, population.expected[channel]
            ));
        }
    }
    line(String::new());
    line("| phase | seconds | machine busy (all cores) | worker CPU | PostgreSQL CPU | simulators CPU | Redis CPU |".into());
    line("| --- | ---: | ---: | ---: | ---: | ---: | ---: |".into());
    for pair in m.snapshots.windows(2) {
        let u = usage(&pair[0].1, &pair[1].1);
        line(format!(
            "| {} → {} | {:.2}–{:.2} | {:.0} % | {:.1} s | {:.1} s | {:.1} s | {:.1} s |",
            pair[0].0,
            pair[1].0,
            pair[0].1.at.as_secs_f64(),
            pair[1].1.at.as_secs_f64(),
            100.0 * u.machine,
            u.workers,
            u.postgres,
            u.simulators,
            u.redis
        ));
    }
    line(format!(
        "| whole run | {:.2} | {:.0} % | {:.1} s | {:.1} s | {:.1} s | {:.1} s |",
        whole.seconds,
        100.0 * whole.machine,
        whole.workers,
        whole.postgres,
        whole.simulators,
        whole.redis
    ));
    line(format!(
        "\nSMTP connections opened: {}",
        thousands(m.smtp_connections)
    ));
    let queued_ok = s(m.queued) <= 2.0 * s(floor.total());
    let rate = total as f64 / s(m.settled) / args.workers as f64;
    line(format!(
        "targets: queued within 2× the floor: {} ({:.2}×); ≥ 5,000 messages/s per worker: {} ({}/s)",
        if queued_ok { "met" } else { "NOT met" },
        s(m.queued) / s(floor.total()),
        if rate >= 5000.0 { "met" } else { "NOT met" },
        thousands(rate as u64),
    ));
    if let Some(((_, samples), rest)) = m.profile.split_first() {
        line(format!(
            "\nPostgreSQL statements seen active, {samples} samples every 10 ms from the cancel to the end:"
        ));
        for (query, n) in rest.iter().take(12) {
            line(format!(
                "{:>6} ({:>4.0} %)  {query}",
                n,
                100.0 * *n as f64 / *samples as f64
            ));
        }
    }
    for (i, log) in logs.iter().enumerate() {
        let lines: Vec<&str> = log.lines().collect();
        if !lines.is_empty() {
            line(format!(
                "worker {i} logged {} line(s) at warn or above; first: {}",
                lines.len(),
                lines[0]
            ));
        }
    }
    out
}
