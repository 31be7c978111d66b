//! The process as a whole: startup failures, migrations, graceful shutdown, the contract.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::contract::checked;
use crate::helpers::{TcpProxy, bilet_binary, eventually, spawn_app, test_settings};

/// Runs `bilet` with a clean `BILET_*` environment (but for fresh keys, so no
/// development key file is written) plus `env`.
fn bilet(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(bilet_binary());
    command.args(args);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("BILET_")) {
        command.env_remove(key);
    }
    for (key, id) in [
        ("BILET_KEYS_DATA", "d1"),
        ("BILET_KEYS_INDEX", "i1"),
        ("BILET_KEYS_TOKEN", "t1"),
    ] {
        command.env(key, bilet::settings::KeyList::generate(id).to_setting());
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn stderr_lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn startup_against_an_unreachable_postgres_exits_with_one_line() {
    let output = bilet(
        &["serve"],
        &[(
            "BILET_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/bilet".into(),
        )],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("BILET_DATABASE_URL"), "{}", lines[0]);
    assert!(lines[0].contains("127.0.0.1:1"), "{}", lines[0]);
    assert!(lines[0].contains("PostgreSQL"), "{}", lines[0]);
}

#[test]
fn startup_against_an_unreachable_redis_exits_with_one_line() {
    let (settings, cleanup) = test_settings();
    let output = bilet(
        &["serve"],
        &[
            (
                "BILET_DATABASE_URL",
                settings.database.url.expose().to_owned(),
            ),
            ("BILET_REDIS_URL", "redis://127.0.0.1:1".into()),
            ("BILET_LOG_FILTER", "error".into()),
        ],
    )
    .output()
    .unwrap();
    cleanup.run();
    assert!(!output.status.success());
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("BILET_REDIS_URL"), "{}", lines[0]);
    assert!(lines[0].contains("127.0.0.1:1"), "{}", lines[0]);
}

#[test]
fn invalid_settings_are_all_reported_at_once() {
    let output = bilet(
        &["serve"],
        &[
            ("BILET_HTTP_ADDR", "not-an-address".into()),
            ("BILET_LOG_FORMAT", "xml".into()),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("BILET_HTTP_ADDR"), "{text}");
    assert!(text.contains("BILET_LOG_FORMAT"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn migrations_apply_twice_to_the_same_database() {
    let (settings, cleanup) = test_settings();
    let env = [(
        "BILET_DATABASE_URL",
        settings.database.url.expose().to_owned(),
    )];
    for run in 1..=2 {
        let output = bilet(&["migrate"], &env).output().unwrap();
        assert!(
            output.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let applied = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = sqlx::PgPool::connect(settings.database.url.expose())
            .await
            .unwrap();
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&db)
            .await
            .unwrap();
        db.close().await;
        count
    });
    cleanup.run();
    let files = std::fs::read_dir("migrations").unwrap().count() as i64;
    assert_eq!(applied, files);
}

#[test]
fn contract_check_passes_on_the_committed_file() {
    let output = bilet(&["contract", "--check"], &[]).output().unwrap();
    assert!(
        output.status.success(),
        "mobile-contract/openapi.json is stale; run `cargo run -- contract`:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn contract_check_fails_on_a_stale_file_and_passes_on_a_fresh_one() {
    let dir = std::env::temp_dir().join(format!("bilet-contract-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("openapi.json");
    let path_arg = path.to_str().unwrap();

    let written = bilet(&["contract", "--out", path_arg], &[])
        .output()
        .unwrap();
    assert!(written.status.success());
    let fresh = bilet(&["contract", "--check", "--out", path_arg], &[])
        .output()
        .unwrap();
    assert!(fresh.status.success());

    let stale = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"title\": \"bilet\"", "\"title\": \"old\"");
    std::fs::write(&path, stale).unwrap();
    let checked = bilet(&["contract", "--check", "--out", path_arg], &[])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!checked.status.success());
    let text = String::from_utf8_lossy(&checked.stderr);
    assert!(text.contains("stale"), "{text}");
    let removed = |needle: &str| {
        text.lines()
            .any(|l| l.starts_with('-') && l.contains(needle))
    };
    let added = |needle: &str| {
        text.lines()
            .any(|l| l.starts_with('+') && l.contains(needle))
    };
    assert!(removed("\"title\": \"old\""), "{text}");
    assert!(added("\"title\": \"bilet\""), "{text}");
}

/// A `bilet serve` child process and the address it reported.
struct Served {
    child: Child,
    addr: String,
}

fn serve(env: &[(&str, String)]) -> Served {
    let mut child = bilet(&["serve", "--no-workers"], env)
        .env("BILET_HTTP_ADDR", "127.0.0.1:0")
        .env("BILET_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["message"] == "bilet is serving"
            {
                let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("bilet serve reports its address");
    Served { child, addr }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_in_flight_request_complete() {
    let (settings, cleanup) = test_settings();
    let proxy = TcpProxy::start(settings.redis.address()).await;
    let mut served = serve(&[
        (
            "BILET_DATABASE_URL",
            settings.database.url.expose().to_owned(),
        ),
        ("BILET_REDIS_URL", format!("redis://{}", proxy.addr())),
        ("BILET_REDIS_PREFIX", settings.redis.prefix.clone()),
        ("BILET_HTTP_SHUTDOWN_GRACE", "10s".into()),
    ]);
    let url = format!("http://{}/ready", served.addr);
    let client = reqwest::Client::new();
    let ready = client.get(&url).send().await.unwrap();
    assert_eq!(checked("get", "/ready", ready).await, 200);

    // Redis now answers slowly, so /ready stays in flight for over a second.
    proxy.set_delay(Duration::from_millis(1200));
    let before = proxy.forwarded();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(&url).send().await }
    });
    eventually(
        Duration::from_secs(5),
        "the request to reach Redis",
        || async { (proxy.forwarded() > before).then_some(()) },
    )
    .await;

    let pid = served.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(checked("get", "/ready", response).await, 200);
    let status = tokio::task::spawn_blocking(move || served.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
    // Once stopped, nothing listens any more.
    assert!(client.get(&url).send().await.is_err());
    cleanup.run();
}

#[tokio::test]
async fn each_test_app_has_its_own_migrated_database_and_redis_prefix() {
    let (first, second) = tokio::join!(spawn_app(), spawn_app());
    let name = |app: &crate::helpers::TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT current_database()")
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let (first_db, second_db) = tokio::join!(name(&first), name(&second));
    assert_ne!(first_db, second_db);
    assert!(first_db.starts_with("bilet_test_"));
    assert_ne!(first.settings.redis.prefix, second.settings.redis.prefix);
    let migrated: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&first.db)
        .await
        .unwrap();
    assert!(migrated > 0);
}
