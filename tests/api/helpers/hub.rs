//! Helpers for the notification hub: devices, the simulators' inboxes, and waiting for
//! the ledger to settle.

use std::sync::Arc;
use std::time::Duration;

use bilet::notify::providers::ChannelKind;
use bilet::simulators::inbox::{Accepted, Inbox};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Person, TestApp, eventually};

impl TestApp {
    /// Registers a push token for a person.
    pub async fn register_device(&self, person: &Person, token: &str, platform: &str) {
        let response = self
            .put_as(
                &format!("/v1/devices/{token}"),
                &person.access,
                &json!({ "platform": platform, "app_version": "3.4.1", "locale": "ru-RU" }),
            )
            .await;
        assert_eq!(response.status(), 200, "register device");
    }

    /// The inbox of a channel's in-process simulator.
    pub fn simulator(&self, channel: ChannelKind) -> Arc<Inbox> {
        self.state
            .channels
            .simulators()
            .and_then(|s| s.get(channel))
            .map(|s| s.inbox.clone())
            .expect("the channel runs on its simulator")
    }

    /// What a simulator accepted for one recipient, waiting up to 20 s for `count`.
    pub async fn received(&self, channel: ChannelKind, to: &str, count: usize) -> Vec<Accepted> {
        self.simulator(channel)
            .wait_for(to, count, Duration::from_secs(20))
            .await
    }

    /// Waits until every delivery of the domain events of `kind` is final (escalations
    /// not yet due aside), and returns (channel, status) counts.
    pub async fn settled(&self, kind: &str) -> Vec<(String, String, i64)> {
        eventually(Duration::from_secs(30), &format!("{kind} deliveries to settle"), || async {
            let fanned: bool = sqlx::query_scalar(
                "SELECT count(*) > 0 AND bool_and(fanned_out_at IS NOT NULL) FROM outbox WHERE kind = $1",
            )
            .bind(kind)
            .fetch_one(&self.db)
            .await
            .ok()?;
            if !fanned {
                return None;
            }
            let rows: Vec<(String, String, bool)> = sqlx::query_as(
                "SELECT d.channel, d.status,
                        d.status = 'sending' OR (d.status = 'pending' AND NOT (d.escalation AND d.next_attempt_at > now()))
                 FROM deliveries d JOIN notifications n ON n.id = d.notification_id WHERE n.kind = $1",
            )
            .bind(kind)
            .fetch_all(&self.db)
            .await
            .ok()?;
            if rows.iter().any(|(_, _, open)| *open) {
                return None;
            }
            let mut counts: Vec<(String, String, i64)> = Vec::new();
            for (channel, status, _) in rows {
                match counts.iter_mut().find(|(c, s, _)| *c == channel && *s == status) {
                    Some(entry) => entry.2 += 1,
                    None => counts.push((channel, status, 1)),
                }
            }
            counts.sort();
            Some(counts)
        })
        .await
    }

    /// The ledger rows of one person for one kind: (channel, status, escalation), once no
    /// delivery is mid-send (a simulator may hold a message a moment before its sender
    /// records the outcome).
    pub async fn ledger_of(&self, account: Uuid, kind: &str) -> Vec<(String, String, bool)> {
        eventually(Duration::from_secs(20), "the ledger to record outcomes", || async {
            let rows: Vec<(String, String, bool)> = sqlx::query_as(
                "SELECT d.channel, d.status, d.escalation FROM deliveries d JOIN notifications n ON n.id = d.notification_id
                 WHERE d.account_id = $1 AND n.kind = $2 ORDER BY d.channel, d.device_token",
            )
            .bind(account)
            .bind(kind)
            .fetch_all(&self.db)
            .await
            .ok()?;
            rows.iter().all(|(_, status, _)| status != "sending").then_some(rows)
        })
        .await
    }
}

/// The `data` a push carried: APNs custom keys, or the FCM/RuStore message's `data`.
pub fn push_data(accepted: &Accepted) -> Value {
    if accepted.body.get("aps").is_some() {
        accepted.body.clone()
    } else {
        accepted.body["data"].clone()
    }
}

/// Validates a push against the schema the contract publishes for its kind.
pub fn assert_matches_contract(accepted: &Accepted, platform: &str) {
    let data = push_data(accepted);
    let kind = data["kind"]
        .as_str()
        .expect("a push names its kind")
        .to_owned();
    let file = format!("mobile-contract/push/{kind}.{platform}.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("schema file"))
        .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let instance = if platform == "apns" {
        accepted.body.clone()
    } else {
        data
    };
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{kind} push does not match {file}: {errors:?}\n{instance}"
    );
}

/// The five simulators run in this test process, for `bilet work` child processes to send
/// to: the simulators, their folder (remove it at the end) and the channel settings file.
pub async fn outside_simulators() -> (
    bilet::simulators::Simulators,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    use bilet::simulators::{Binds, CredentialSource, Simulators, faults::Faults};
    let dir = std::env::temp_dir().join(format!("bilet-work-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let faults = Faults::from_file(std::path::Path::new("tests/fixtures/faults.toml")).unwrap();
    let simulators = Simulators::start(
        &ChannelKind::ALL,
        &Binds::ephemeral(),
        CredentialSource::Directory(dir.clone()),
        Arc::new(faults),
    )
    .await
    .unwrap();
    let config = dir.join("channels.toml");
    std::fs::write(&config, simulators.client_settings(&dir)).unwrap();
    (simulators, dir, config)
}

impl TestApp {
    /// Waits until a delivery of `kind` is mid-send, then kills `worker` with SIGKILL.
    pub async fn kill_mid_send(&self, worker: &mut std::process::Child, kind: &str) {
        eventually(
            Duration::from_secs(20),
            "the worker to be mid-send",
            || async {
                let sending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM deliveries d JOIN notifications n ON n.id = d.notification_id
                 WHERE n.kind = $1 AND d.status = 'sending'",
            )
            .bind(kind)
            .fetch_one(&self.db)
            .await
            .ok()?;
                (sending > 0).then_some(())
            },
        )
        .await;
        signal(worker, "-KILL");
    }
}

/// Kills a `bilet work` process with SIGKILL (no chance to finish or record anything) and
/// waits for it.
pub fn kill_worker(worker: &mut std::process::Child) {
    signal(worker, "-KILL");
}

/// Stops a `bilet work` process as an operator would (SIGTERM) and waits for it.
pub fn stop_worker(worker: &mut std::process::Child) {
    signal(worker, "-TERM");
}

fn signal(worker: &mut std::process::Child, signal: &str) {
    std::process::Command::new("kill")
        .args([signal, &worker.id().to_string()])
        .status()
        .unwrap();
    worker.wait().unwrap();
}

/// A `bilet work` process on the app's database, Redis prefix and keys, sending through
/// the channels of `config`, with extra settings.
pub fn bilet_work(
    app: &TestApp,
    config: &std::path::Path,
    settings: &[(&str, &str)],
) -> std::process::Child {
    bilet_command(app, config, &["work"])
        .envs(settings.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// `bilet ARGS` on the app's database, Redis prefix and keys, with the channels of
/// `config` and only errors logged; further settings and the output are the caller's.
pub fn bilet_command(
    app: &TestApp,
    config: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let mut command = std::process::Command::new(super::bilet_binary());
    command.args(args);
    with_app_settings(&mut command, app, config);
    command
}

/// Gives `command` the settings a `bilet` of the app's deployment needs: its database,
/// Redis prefix and keys, the channels of `config`, and only errors logged.
pub fn with_app_settings(
    command: &mut std::process::Command,
    app: &TestApp,
    config: &std::path::Path,
) {
    let keys = &app.settings.keys;
    command
        .env("BILET_DATABASE_URL", app.settings.database.url.expose())
        .env("BILET_REDIS_PREFIX", &app.settings.redis.prefix)
        .env(
            "BILET_KEYS_DATA",
            keys.data_keys.as_ref().unwrap().to_setting(),
        )
        .env(
            "BILET_KEYS_INDEX",
            keys.index_key.as_ref().unwrap().to_setting(),
        )
        .env(
            "BILET_KEYS_TOKEN",
            keys.token_keys.as_ref().unwrap().to_setting(),
        )
        .env("BILET_PUSH_CONFIG", config)
        .env("BILET_LOG_FILTER", "error");
}

/// An event starting in 20 hours with `children` families signed up, each child with an
/// iPhone whose token starts with `tag` (a simulator fault tag such as `slow-`), then
/// cancelled by its organizer; the tokens.
pub async fn cancelled_for_children_on_iphones(
    app: &TestApp,
    children: usize,
    tag: &str,
) -> Vec<String> {
    cancelled_for_tagged_iphones(app, &vec![tag; children]).await
}

/// As [`cancelled_for_children_on_iphones`], a family for each tag, the child's token
/// starting with it.
pub async fn cancelled_for_tagged_iphones(app: &TestApp, tags: &[&str]) -> Vec<String> {
    let organizer = app.organizer().await;
    let event = app
        .publish_event(
            &organizer,
            &super::event_input(chrono::Duration::hours(20), 40),
        )
        .await;
    let mut tokens = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let family = app.family().await;
        let token = format!("{tag}{i}-{}", &Uuid::new_v4().simple().to_string()[..6]);
        app.register_device(&family.child, &token, "ios").await;
        app.sign_up(&family.child.access, event, 201).await;
        tokens.push(token);
    }
    app.post_as(
        &format!("/v1/events/{event}/cancel"),
        &organizer.access,
        &json!({ "reason": "Отмена" }),
    )
    .await;
    tokens
}

/// Each device got the cancellation exactly once.
pub fn assert_one_cancellation_each(simulators: &bilet::simulators::Simulators, tokens: &[String]) {
    let inbox = simulators.get(ChannelKind::Apns).unwrap().inbox.clone();
    for token in tokens {
        let got = inbox
            .messages(Some(token))
            .into_iter()
            .filter(|m| m.body["kind"] == "event_cancelled")
            .count();
        assert_eq!(got, 1, "exactly one cancellation for {token}");
    }
}
