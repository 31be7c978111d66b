//! Load benchmark of the answer endpoint (`PUT /v1/attempts/{id}/answers/{question}`):
//! many students answering a test at a phone's pace, against the release build of
//! `bilet serve` on its own database.
//!
//! Each simulated student answers the RIASEC inventory (30 questions, then changes their
//! mind with a higher `seq`), one answer every 3–10 s, drawn at random. The schedule is
//! fixed in advance, wrk2-style: a request's latency is measured from the moment it was
//! *meant* to be sent, so a slow response that delays the student's next answer counts
//! against the service (coordinated-omission correction). Students, sessions and attempts
//! are seeded straight into the database; the answers go through the real API.
//!
//! Phones do not reach the service one connection each: a balancer in front keeps a
//! bounded pool of keep-alive connections to it and queues requests for a free one. The
//! bench does the same (`--connections`, 256 by default), so 20,000 students fit within a
//! file limit of 20,000; a request's wait for a connection counts in its latency.
//!
//! Reports latency p50/p99/p99.9/max after a warm-up, the achieved rate, errors, the
//! wait for a connection, and the service process's CPU (from `/proc/<pid>/stat`) and
//! peak RSS (`VmHWM`). `--beside-cpu N` runs N processes that only burn CPU for the whole
//! run, as a build beside the service would.
//!
//! ```sh
//! cargo bench --bench answers -- --students 2000 --duration 180
//! cargo bench --bench answers -- --students 20000 --duration 120
//! cargo bench --bench answers -- --students 9000 --duration 120 --beside-cpu 2
//! ```

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bilet::domain::ids::{AccountId, SessionId};
use bilet::security::tokens::TokenSigner;
use bilet::settings::KeyList;
use clap::Parser;
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use support::{
    Process, bilet_binary, cpu_ticks, drop_database, machine_ticks, status_kib, ticks_between,
    ticks_of_named,
};
use tokio::sync::Mutex;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(about = "Answer-endpoint load benchmark")]
struct Args {
    /// Simulated students, each answering one test.
    #[arg(long, default_value_t = 2000)]
    students: usize,
    /// Seconds of load measured (after the warm-up).
    #[arg(long, default_value_t = 180)]
    duration: u64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 15)]
    warmup: u64,
    /// Shortest and longest pause between one student's answers, in seconds.
    #[arg(long, default_value_t = 3.0)]
    min_gap: f64,
    #[arg(long, default_value_t = 10.0)]
    max_gap: f64,
    /// PostgreSQL server (the benchmark creates and drops its own database there).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Keep-alive connections to the service, shared by all students (a balancer's pool).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// The service's PostgreSQL pool (`BILET_DATABASE_MAX_CONNECTIONS`); its default when
    /// not given.
    #[arg(long)]
    pool: Option<u32>,
    /// Processes that only burn CPU, run beside the service for the whole run.
    #[arg(long, default_value_t = 0)]
    beside_cpu: usize,
    /// The release `bilet` binary; by default the one cargo built for this bench.
    #[arg(long)]
    bilet: Option<PathBuf>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Seconds between `/proc` samples of the service.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Access tokens live 15 minutes; students take a fresh one well before.
const TOKEN_REFRESH: Duration = Duration::from_secs(10 * 60);
const QUESTIONS: usize = 30;

struct Sample {
    /// From the intended send time to the end of the response, in microseconds.
    latency_us: u64,
    /// Of which waiting for a free connection, in microseconds.
    queued_us: u64,
    ok: bool,
    /// Seconds since the load began, at the intended send time.
    at: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let name = format!("bilet_bench_{}", std::process::id());
    let database_url = format!("{}/{name}", args.postgres.trim_end_matches('/'));
    let port = free_port()?;
    let token_keys = KeyList::generate("bench");
    let binary = args.bilet.clone().unwrap_or_else(bilet_binary);
    eprintln!("starting {} on 127.0.0.1:{port}", binary.display());
    let mut command = Command::new(&binary);
    if let Some(pool) = args.pool {
        command.env("BILET_DATABASE_MAX_CONNECTIONS", pool.to_string());
    }
    let mut server = Process(
        command
            .arg("serve")
            .env("BILET_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("BILET_DATABASE_URL", &database_url)
            .env("BILET_REDIS_PREFIX", &name)
            .env("BILET_KEYS_DATA", KeyList::generate("d1").to_setting())
            .env("BILET_KEYS_INDEX", KeyList::generate("i1").to_setting())
            .env("BILET_KEYS_TOKEN", token_keys.to_setting())
            .env("BILET_LOG_FORMAT", "json")
            .env("BILET_LOG_FILTER", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let pid = server.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_ready(&client, &base).await?;

    let outcome = async {
        eprintln!("seeding {} students with open RIASEC attempts", args.students);
        let students = seed(&database_url, args.students).await?;
        let signer = TokenSigner::new(token_keys, Duration::from_secs(15 * 60));
        eprintln!(
            "load: {} students, one answer every {}–{} s each (≈{:.0} req/s), {} s warm-up + {} s measured",
            args.students,
            args.min_gap,
            args.max_gap,
            args.students as f64 * 2.0 / (args.min_gap + args.max_gap),
            args.warmup,
            args.duration
        );
        let burners: Vec<Process> = (0..args.beside_cpu)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .map(Process)
            })
            .collect::<Result<_, _>>()?;
        let report = drive(&args, &client, &base, &signer, students, pid).await;
        drop(burners);
        report
    }
    .await;

    server.stop();
    drop_database(&args.postgres, &name).await;
    let report = outcome?;
    println!("{report}");
    Ok(())
}

/// One seeded student: account, session and open attempt.
#[derive(Clone, Copy)]
struct Student {
    account: Uuid,
    session: Uuid,
    attempt: Uuid,
}

async fn seed(database_url: &str, count: usize) -> anyhow::Result<Vec<Student>> {
    let mut conn = PgConnection::connect(database_url).await?;
    let students: Vec<Student> = (0..count)
        .map(|_| Student {
            account: Uuid::now_v7(),
            session: Uuid::now_v7(),
            attempt: Uuid::now_v7(),
        })
        .collect();
    let accounts: Vec<Uuid> = students.iter().map(|s| s.account).collect();
    let sessions: Vec<Uuid> = students.iter().map(|s| s.session).collect();
    let attempts: Vec<Uuid> = students.iter().map(|s| s.attempt).collect();
    let emails: Vec<String> = accounts
        .iter()
        .map(|a| format!("bench-{}@example.ru", a.simple()))
        .collect();
    sqlx::query(
        "INSERT INTO accounts (id, email, password_hash, role, email_verified_at)
         SELECT id, email, '!bench', 'student', now() FROM unnest($1::uuid[], $2::text[]) AS t(id, email)",
    )
    .bind(&accounts)
    .bind(&emails)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO device_sessions (id, account_id, device_name, platform)
         SELECT s, a, 'Телефон', 'android' FROM unnest($1::uuid[], $2::uuid[]) AS t(s, a)",
    )
    .bind(&sessions)
    .bind(&accounts)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO test_attempts (id, student_id, test_id, test_version)
         SELECT t, a, 'riasec', 'riasec/1' FROM unnest($1::uuid[], $2::uuid[]) AS x(t, a)",
    )
    .bind(&attempts)
    .bind(&accounts)
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(students)
}

async fn drive(
    args: &Args,
    client: &reqwest::Client,
    base: &str,
    signer: &TokenSigner,
    students: Vec<Student>,
    pid: u32,
) -> anyhow::Result<String> {
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let begin = tokio::time::Instant::now();
    let measure_from = Duration::from_secs(args.warmup);
    let end = Duration::from_secs(args.warmup + args.duration);
    let (min_gap, max_gap) = (args.min_gap, args.max_gap);
    let connections = Arc::new(tokio::sync::Semaphore::new(args.connections.max(1)));
    let mut tasks = Vec::with_capacity(students.len());
    for student in students {
        let client = client.clone();
        let signer = signer.clone();
        let samples = samples.clone();
        let base = base.to_owned();
        let connections = connections.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::from_entropy();
            let issue = |signer: &TokenSigner| {
                signer.issue(
                    AccountId(student.account),
                    SessionId(student.session),
                    bilet::domain::roles::Role::Student,
                )
            };
            let mut token = issue(&signer);
            let mut issued = Instant::now();
            // Students start at random points of their first pause, so the load is
            // steady from the start rather than a synchronised burst.
            let mut intended = begin + Duration::from_secs_f64(rng.gen_range(0.0..max_gap));
            let mut answer = 0usize;
            let mut local = Vec::new();
            while intended - begin < end {
                tokio::time::sleep_until(intended).await;
                if issued.elapsed() > TOKEN_REFRESH {
                    token = issue(&signer);
                    issued = Instant::now();
                }
                let question = answer % QUESTIONS;
                let letter = ["r", "i", "a", "s", "e", "c"][question % 6];
                let url = format!(
                    "{base}/v1/attempts/{}/answers/{letter}{}",
                    student.attempt,
                    question / 6 + 1
                );
                let body = json!({
                    "value": { "rating": rng.gen_range(1..=5) },
                    "seq": answer / QUESTIONS + 1,
                    "client_time": chrono::Utc::now(),
                });
                let permit = connections.acquire().await.expect("never closed");
                let queued_us = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
                let ok = match client
                    .put(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(response) => {
                        let ok = response.status().as_u16() == 200;
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                drop(permit);
                let at = (intended - begin).as_secs_f64();
                if intended - begin >= measure_from {
                    local.push(Sample {
                        latency_us: u64::try_from(intended.elapsed().as_micros())
                            .unwrap_or(u64::MAX),
                        queued_us,
                        ok,
                        at,
                    });
                }
                answer += 1;
                intended += Duration::from_secs_f64(rng.gen_range(min_gap..max_gap));
            }
            samples.lock().await.extend(local);
        }));
    }

    // Sample the service's CPU time and memory during the measured window.
    tokio::time::sleep_until(begin + measure_from).await;
    let cpu_start = cpu_ticks(pid);
    let postgres_start = ticks_of_named(&["postgres"]);
    let machine_start = machine_ticks();
    let window_start = Instant::now();
    let mut peak_rss_kib = 0u64;
    while tokio::time::Instant::now() < begin + end {
        peak_rss_kib = peak_rss_kib.max(status_kib(pid, "VmRSS:"));
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let cpu_end = cpu_ticks(pid);
    let postgres_end = ticks_of_named(&["postgres"]);
    let machine_end = machine_ticks();
    let window = window_start.elapsed().as_secs_f64();
    let hwm_kib = status_kib(pid, "VmHWM:");
    for task in tasks {
        task.await?;
    }

    let samples = std::mem::take(&mut *samples.lock().await);
    let errors = samples.iter().filter(|s| !s.ok).count();
    let sorted = |of: fn(&Sample) -> u64| {
        let mut values: Vec<u64> = samples.iter().map(of).collect();
        values.sort_unstable();
        values
    };
    let latencies = sorted(|s| s.latency_us);
    let queued = sorted(|s| s.queued_us);
    let pct = |values: &[u64], p: f64| -> f64 {
        if values.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1] as f64 / 1000.0
    };
    // When the slow ones were meant to go, by second of the run: a stall shows as one
    // second, a service too slow for the load as all of them.
    let mut slow_seconds = std::collections::BTreeMap::<u64, usize>::new();
    for sample in samples.iter().filter(|s| s.latency_us > 50_000) {
        *slow_seconds.entry(sample.at as u64).or_default() += 1;
    }
    let slow = slow_seconds.values().sum::<usize>();
    let slow_seconds: Vec<String> = slow_seconds
        .iter()
        .map(|(second, n)| format!("{second} s: {n}"))
        .collect();
    let span = samples.iter().map(|s| s.at).fold(0.0f64, f64::max) - args.warmup as f64;
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let cpu_seconds = (cpu_end - cpu_start) as f64 / ticks_per_second;
    let postgres_seconds = ticks_between(&postgres_start, &postgres_end) as f64 / ticks_per_second;
    let requests = latencies.len().max(1) as f64;
    let busy = {
        let (busy, all) = (
            machine_end.0.saturating_sub(machine_start.0),
            machine_end.1.saturating_sub(machine_start.1),
        );
        100.0 * busy as f64 / all.max(1) as f64
    };
    Ok(format!(
        "answers benchmark: {students} students, one answer every {min}–{max} s, {dur} s measured after {warm} s warm-up, {conns} connections, {beside} CPU burners beside\n\
         requests measured: {n} ({rate:.1}/s), errors: {errors}\n\
         latency from intended send (coordinated-omission corrected): p50 {p50:.2} ms, p99 {p99:.2} ms, p99.9 {p999:.2} ms, max {pmax:.2} ms\n\
         of which waiting for a connection: p99 {q99:.2} ms, max {qmax:.2} ms\n\
         over 50 ms: {slow}, meant to go at {slow_seconds}\n\
         service CPU: {cpu:.1}% of one core ({cpu_seconds:.1} s over {window:.0} s, {service_us:.0} µs a request); RSS peak {rss:.1} MiB (VmHWM {hwm:.1} MiB)\n\
         PostgreSQL CPU: {postgres_seconds:.1} s ({postgres_us:.0} µs a request); machine busy {busy:.0}%",
        students = args.students,
        min = args.min_gap,
        max = args.max_gap,
        dur = args.duration,
        warm = args.warmup,
        conns = args.connections,
        beside = args.beside_cpu,
        n = latencies.len(),
        rate = latencies.len() as f64 / span.max(1.0),
        p50 = pct(&latencies, 50.0),
        p99 = pct(&latencies, 99.0),
        p999 = pct(&latencies, 99.9),
        pmax = pct(&latencies, 100.0),
        q99 = pct(&queued, 99.0),
        qmax = pct(&queued, 100.0),
        slow_seconds = if slow_seconds.is_empty() {
            "-".to_owned()
        } else {
            slow_seconds.join(", ")
        },
        cpu = 100.0 * cpu_seconds / window,
        service_us = cpu_seconds * 1e6 / requests,
        postgres_us = postgres_seconds * 1e6 / requests,
        rss = peak_rss_kib as f64 / 1024.0,
        hwm = hwm_kib as f64 / 1024.0,
    ))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{base}/ready")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the service did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
