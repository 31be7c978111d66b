//! What one reconciler pass costs while a backlog waits in the streams: the ledger holds
//! `--backlog` pending deliveries, all queued a moment ago (a cancellation being sent),
//! and ten that fell due unqueued (escalations). Each pass must find the ten (once) and
//! leave the backlog alone; its cost must not grow with the backlog. Runs
//! `store::deliveries::take_unqueued_due`, the reconciler's own query, on a database of
//! its own; prints the median and p90 of `--passes` passes. See BENCHMARKS.md.
//!
//! `cargo bench --bench reconciler -- --backlog 1000000`

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use bilet::store::deliveries;
use chrono::Utc;
use clap::Parser;
use sqlx::postgres::PgPoolOptions;

#[derive(Parser)]
struct Args {
    /// Pending deliveries already queued (the backlog in the streams).
    #[arg(long, default_value_t = 100_000)]
    backlog: i64,
    /// Timed passes.
    #[arg(long, default_value_t = 50)]
    passes: usize,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let name = format!("bilet_bench_reconciler_{}", Utc::now().timestamp());
    let url = format!("{}/{name}", args.postgres.trim_end_matches('/'));
    support::migrate(&url)?;
    let outcome = measure(&args, &url).await;
    support::drop_database(&args.postgres, &name).await;
    let report = outcome?;
    println!("{report}");
    Ok(())
}

async fn measure(args: &Args, url: &str) -> anyhow::Result<String> {
    let db = PgPoolOptions::new().max_connections(2).connect(url).await?;
    let seeding = Instant::now();
    for statement in [
        "INSERT INTO accounts (id, email, password_hash, role)
         VALUES ('00000000-0000-0000-0000-000000000001', 'bench@example.org', 'x', 'parent')",
        "INSERT INTO notifications (id, event_id, account_id, kind, urgent, title, body, data, event_created_at)
         SELECT gen_random_uuid(), gen_random_uuid(), '00000000-0000-0000-0000-000000000001',
                'event_cancelled', true, 't', 'b', '{}', now()
         FROM generate_series(1, $1)",
        // Queued an hour from now: however long the seeding takes, none is stale.
        "INSERT INTO deliveries (id, notification_id, account_id, channel, next_attempt_at, queued_at)
         SELECT gen_random_uuid(), n.id, n.account_id,
                (ARRAY['apns','fcm','rustore','sms','email'])[1 + (row_number() OVER () % 5)],
                now() - interval '1 second', now() + interval '1 hour'
         FROM notifications n",
        "UPDATE deliveries SET queued_at = NULL WHERE id IN (SELECT id FROM deliveries LIMIT 10)",
        "VACUUM ANALYZE deliveries",
    ] {
        let query = sqlx::query(statement);
        let query = if statement.contains("$1") {
            query.bind(args.backlog)
        } else {
            query
        };
        query.execute(&db).await?;
    }
    let seeded = seeding.elapsed();
    let mut times = Vec::with_capacity(args.passes);
    let mut found = 0;
    for _ in 0..args.passes {
        let started = Instant::now();
        found += deliveries::take_unqueued_due(&db, 15, &[], 1000, Utc::now())
            .await?
            .len();
        times.push(started.elapsed());
    }
    anyhow::ensure!(found == 10, "the passes queued {found}, not the 10 due");
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(format!(
        "| {} queued in the ledger | {} passes | median {:.2} ms | p90 {:.2} ms | max {:.2} ms | (seeded in {:.0} s) |",
        args.backlog,
        args.passes,
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(1.0)),
        seeded.as_secs_f64()
    ))
}
