//! The test harness: spawns the real app on a free port against a fresh PostgreSQL database
//! (migrated, dropped afterwards) and its own Redis key prefix, so tests run in parallel
//! without seeing each other's data.

mod cluster;
pub mod contract;
mod events;
mod hub;
mod logs;
mod mail;
mod people;
mod proxy;

pub use cluster::*;
pub use events::*;
pub use hub::*;
pub use logs::captured_logs;
pub use mail::code_in;
pub use people::*;
pub use proxy::TcpProxy;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bilet::settings::KeyList;
use bilet::settings::Settings;
use bilet::startup::Application;
use bilet::state::AppState;
use bilet::store::database::quote_identifier;
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Databases this harness creates start with this.
const DB_PREFIX: &str = "bilet_test_";
/// Leftovers of killed runs older than this are dropped when a test starts.
const STALE_AFTER_SECS: u64 = 3600;

/// A running app with its own database and Redis prefix.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The listener serving only `/metrics`, when the settings ask for one.
    pub metrics_addr: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub settings: Settings,
    /// The running app's state: its keys, to read what it encrypted.
    pub state: AppState,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    cleanup: Cleanup,
    /// Responses that did not match the published contract; the test fails with them.
    mismatches: contract::Mismatches,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// POSTs raw bytes as JSON.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.cleanup.run();
        let mismatches = self.mismatches.take();
        if !mismatches.is_empty() {
            let report = format!(
                "{} response(s) did not match mobile-contract/openapi.json:\n{}",
                mismatches.len(),
                mismatches.join("\n")
            );
            if std::thread::panicking() {
                eprintln!("{report}");
            } else {
                panic!("{report}");
            }
        }
    }
}

/// Drops a test's database and deletes its Redis keys, from a thread of its own so that it
/// works from `Drop` inside an async test.
#[derive(Clone)]
pub struct Cleanup {
    pub database: Option<String>,
    pub redis_prefix: Option<String>,
}

impl Cleanup {
    pub fn run(&self) {
        let this = self.clone();
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async move {
                if let Some(name) = &this.database {
                    drop_database(name).await;
                }
                if let Some(prefix) = &this.redis_prefix {
                    delete_redis_prefix(prefix).await;
                }
            });
        })
        .join();
        if joined.is_err() {
            eprintln!("test cleanup failed");
        }
    }
}

/// Settings for one test: the machine's defaults (or `BILET_*` overrides), a free port,
/// a fresh database name and a fresh Redis prefix.
pub fn test_settings() -> (Settings, Cleanup) {
    let mut settings = Settings::load(None).expect("test settings");
    let unique = format!(
        "{DB_PREFIX}{}_{}",
        unix_now(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    settings.http.addr = ([127, 0, 0, 1], 0).into();
    settings.http.shutdown_grace = Duration::from_secs(5);
    let options = settings.database.connect_options().database(&unique);
    settings.database.url = bilet::settings::Secret::new(options.to_url_lossy().to_string());
    settings.redis.prefix = unique.clone();
    settings.keys.data_keys = Some(KeyList::generate("d1"));
    settings.keys.index_key = Some(KeyList::generate("i1"));
    settings.keys.token_keys = Some(KeyList::generate("t1"));
    settings.privacy.erasure_delay = Duration::ZERO;
    // The simulators, with fault rules whose retry delays fit in a test.
    settings.push_config = PathBuf::from("tests/fixtures/channels.toml");
    settings.hub.retry_base = Duration::from_millis(100);
    settings.hub.max_attempts = 3;
    settings.hub.claim_idle = Duration::from_secs(1);
    settings.hub.requeue_after = Duration::from_secs(2);
    settings.hub.lease = Duration::from_secs(4);
    let cleanup = Cleanup {
        database: Some(unique.clone()),
        redis_prefix: Some(unique),
    };
    (settings, cleanup)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after `configure` has adjusted its settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    init_once().await;
    let (mut settings, cleanup) = test_settings();
    configure(&mut settings);
    spawn_app_on(settings, cleanup).await
}

/// Spawns the app with exactly these settings; `cleanup` runs when it is dropped.
pub async fn spawn_app_on(settings: Settings, cleanup: Cleanup) -> TestApp {
    spawn(settings, cleanup, true).await
}

/// Spawns the API alone (`bilet serve --no-workers`): tests then run the workers elsewhere.
pub async fn spawn_api_only(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let (mut settings, cleanup) = test_settings();
    configure(&mut settings);
    spawn(settings, cleanup, false).await
}

async fn spawn(settings: Settings, cleanup: Cleanup, workers: bool) -> TestApp {
    init_once().await;
    let mismatches = contract::Mismatches::default();
    let app = Application::build(settings.clone(), workers)
        .await
        .expect("the app starts")
        .with_outer_layer(mismatches.layer());
    let addr = app.addr();
    let metrics_addr = app.metrics_addr();
    let db = app.state().db.clone();
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        addr,
        metrics_addr,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        db,
        settings,
        state,
        shutdown,
        server: Some(server),
        cleanup,
        mismatches,
    }
}

/// Once per test binary: drop databases left behind by killed runs.
async fn init_once() {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        logs::install();
        drop_stale_databases().await;
    })
    .await;
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

pub async fn maintenance_connection() -> PgConnection {
    let settings = Settings::load(None).expect("test settings");
    let options: PgConnectOptions = settings.database.connect_options().database("postgres");
    PgConnection::connect_with(&options)
        .await
        .expect("PostgreSQL is reachable for tests")
}

async fn drop_database(name: &str) {
    let mut conn = maintenance_connection().await;
    let statement = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_identifier(name)
    );
    if let Err(err) = sqlx::query(&statement).execute(&mut conn).await {
        eprintln!("could not drop test database {name}: {err}");
    }
    let _ = conn.close().await;
}

async fn drop_stale_databases() {
    let mut conn = maintenance_connection().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'bilet\\_test\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    let _ = conn.close().await;
    let now = unix_now();
    for name in names {
        let created = name
            .strip_prefix(DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|secs| now.saturating_sub(secs) > STALE_AFTER_SECS) {
            drop_database(&name).await;
        }
    }
}

async fn delete_redis_prefix(prefix: &str) {
    let settings = Settings::load(None).expect("test settings");
    // The single server, and the cluster's nodes (a test may have run on them).
    let nodes = settings
        .redis
        .nodes()
        .into_iter()
        .map(str::to_owned)
        .chain(CLUSTER_NODES.iter().map(|node| format!("redis://{node}")));
    for node in nodes {
        if let Some(mut conn) = node_connection(&node).await {
            delete_all(&mut conn, prefix).await;
        }
    }
}

/// Waits until `check` returns `Some`, polling, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `bilet` binary built for these tests.
pub fn bilet_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bilet"))
}

/// Asserts a response is problem+json with the given status and `type` slug, and returns
/// the document.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    slug: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["type"], format!("urn:bilet:problem:{slug}"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    body
}
