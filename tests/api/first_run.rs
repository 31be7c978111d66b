//! The first ten minutes on a fresh clone: the README's walk-through script against a
//! `bilet simulate` on free ports (twice, so it cannot depend on a clean database), and
//! `bilet doctor`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use uuid::Uuid;

use crate::helpers::{
    bilet_binary, bilet_command, eventually, spawn_app, spawn_app_with, with_app_settings,
};

/// `bilet simulate --ports free --dir DIR` in its own process, and DIR, once it has
/// written where its simulators listen.
async fn simulate_on_free_ports() -> (tokio::process::Child, PathBuf) {
    let dir = std::env::temp_dir().join(format!("bilet-simulate-{}", Uuid::new_v4()));
    let child = tokio::process::Command::new(bilet_binary())
        .args(["simulate", "--ports", "free", "--dir"])
        .arg(&dir)
        .env("BILET_LOG_FILTER", "error")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addresses = dir.join("simulators.env");
    eventually(Duration::from_secs(20), "bilet simulate to start", || {
        let ready = addresses.exists() && dir.join("channels.toml").exists();
        async move { ready.then_some(()) }
    })
    .await;
    (child, dir)
}

async fn walk_through(configure: impl FnOnce(&mut tokio::process::Command)) -> Output {
    let mut command = tokio::process::Command::new("bash");
    command
        .arg("scripts/walkthrough")
        .env("BILET", bilet_binary())
        .kill_on_drop(true);
    configure(&mut command);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the walk-through finishes within two minutes")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walk_through_passes_twice_against_bilet_simulate_on_free_ports() {
    let (mut simulate, dir) = simulate_on_free_ports().await;
    let config = dir.join("channels.toml");
    let app = spawn_app_with(|s| s.push_config = config.clone()).await;
    let addresses = std::fs::read_to_string(dir.join("simulators.env")).unwrap();
    assert!(
        !addresses.contains(":17004") && addresses.contains("BILET_SIM_SMS=http://127.0.0.1:"),
        "free ports, written for a shell: {addresses}"
    );

    for run in 1..=2 {
        let output = walk_through(|command| {
            command
                .env("API", format!("http://{}", app.addr))
                .env("SIMULATORS_ENV", dir.join("simulators.env"));
            with_app_settings(command.as_std_mut(), &app, &config);
        })
        .await;
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(
            output.status.success(),
            "run {run} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            stdout.contains("walkthrough: all 15 steps passed"),
            "{stdout}"
        );
        // The parent's SMS about the cancellation came through the SMS simulator of the
        // other process, and the app's inbox lists it.
        assert!(
            stdout.contains("отменена. Причина: Авария водопровода"),
            "run {run}: {stdout}"
        );
        assert!(stdout.contains("\"kind\": \"event_cancelled\""), "{stdout}");
        // The trial's life: the recommendation names what happened, the feed lists events.
        assert!(
            stdout.contains("Проба «Один день в клинике» понравилась, и хочется продолжить"),
            "run {run}: {stdout}"
        );
        assert!(stdout.contains("SUMMARY:Один день в клинике"), "{stdout}");
    }
    let parents: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE role = 'parent'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(parents, 2, "each run registered a family of its own");

    simulate.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_walk_through_that_cannot_reach_the_service_names_the_step_that_failed() {
    let output = walk_through(|command| {
        command
            .env("API", "http://127.0.0.1:1")
            .env("SIMULATORS_ENV", "/nonexistent");
    })
    .await;
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("walkthrough: FAILED at step: 1. A parent and a child register"),
        "{stderr}"
    );
    assert!(
        !text(&output.stdout).contains("== 2."),
        "it stops at the first failure"
    );
}

async fn doctor(command: std::process::Command) -> (bool, String) {
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .unwrap();
    (output.status.success(), text(&output.stdout))
}

fn line<'a>(report: &'a str, subject: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(subject)))
        .unwrap_or_else(|| panic!("no line for {subject} in\n{report}"))
}

#[tokio::test]
async fn doctor_says_what_answers_what_is_simulated_and_what_production_still_needs() {
    let app = spawn_app().await;
    let fixtures = Path::new("tests/fixtures/channels.toml");
    let (healthy, report) = doctor(bilet_command(&app, fixtures, &["doctor"])).await;
    assert!(healthy, "{report}");
    assert!(line(&report, "PostgreSQL").starts_with("ok "), "{report}");
    assert!(
        line(&report, "migrations").contains("current ("),
        "{report}"
    );
    assert!(
        line(&report, "Redis").contains("belongs to this database"),
        "the app claimed the prefix for its installation: {report}"
    );
    assert!(
        line(&report, "channel sms").contains("simulated"),
        "{report}"
    );
    assert!(line(&report, "keys").starts_with("ok "), "{report}");
    assert!(
        line(&report, "for production").contains("credentials for apns, fcm, rustore, sms, email"),
        "{report}"
    );

    // Another database on the same prefix: the installation ids differ.
    let other = format!("bilet_doctor_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {other}"))
        .execute(&app.db)
        .await
        .unwrap();
    let mut url = url::Url::parse(app.settings.database.url.expose()).unwrap();
    url.set_path(&other);
    let mut command = bilet_command(&app, fixtures, &["doctor"]);
    command.env("BILET_DATABASE_URL", url.as_str());
    let (healthy, report) = doctor(command).await;
    assert!(!healthy, "{report}");
    assert!(
        line(&report, "migrations").starts_with("FAIL")
            && line(&report, "migrations").contains("not applied"),
        "an empty database has every migration pending: {report}"
    );
    sqlx::query(&format!("DROP DATABASE {other}"))
        .execute(&app.db)
        .await
        .unwrap();

    // PostgreSQL away: one clear line, and the rest is still examined.
    let mut command = bilet_command(&app, fixtures, &["doctor"]);
    command.env(
        "BILET_DATABASE_URL",
        "postgres://postgres@127.0.0.1:1/bilet",
    );
    let (healthy, report) = doctor(command).await;
    assert!(!healthy);
    let postgres = line(&report, "PostgreSQL");
    assert!(
        postgres.starts_with("FAIL") && postgres.contains("BILET_DATABASE_URL"),
        "{report}"
    );
    assert!(line(&report, "Redis").contains("answers"), "{report}");
}
