//! The hub under faults: a domain event handled twice after a crash, workers killed
//! mid-send, Redis emptied, a prefix another installation holds.

use std::collections::BTreeMap;
use std::time::Duration;

use bilet::domain::ids::{DeliveryId, DomainEventId};
use chrono::Duration as Span;
use uuid::Uuid;

use crate::helpers::{event_input, eventually, spawn_api_only};

// The bulk seeder of the hub's benchmarks: thousands of families in a few statements. The
// benches use the parts this file does not.
#[allow(dead_code)]
#[path = "../../benches/support/seed.rs"]
mod seed;

#[tokio::test]
async fn a_fan_out_seen_again_returns_at_once_and_waits_on_no_lock_a_sender_holds() {
    // No workers: this test plays the fan-out and a sender itself.
    let app = spawn_api_only(|_| {}).await;
    let ids = three_approval_requests(&app).await;
    let hub = app.state.hub();
    let first = bilet::notify::fanout::fan_out(&hub, DomainEventId(ids[0]))
        .await
        .unwrap();
    assert!(first.deliveries > 0);

    // A sender holds the event's due deliveries (as its claim and its record of outcomes
    // do) while the fan-out job comes round again after a crash.
    let mut sender = app.db.begin().await.unwrap();
    let held: Vec<Uuid> = sqlx::query_scalar(
        "SELECT d.id FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE n.event_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= now()
         FOR UPDATE OF d",
    )
    .bind(ids[0])
    .fetch_all(&mut *sender)
    .await
    .unwrap();
    assert!(!held.is_empty());
    let again = tokio::time::timeout(
        Duration::from_secs(2),
        bilet::notify::fanout::fan_out(&hub, DomainEventId(ids[0])),
    )
    .await
    .expect("a second fan-out does not wait on the sender's locks")
    .unwrap();
    assert_eq!(again, Default::default(), "and does nothing");
    sender.rollback().await.unwrap();
    let notifications: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE event_id = $1")
            .bind(ids[0])
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(notifications as usize, first.notifications);
}

#[tokio::test]
async fn each_outcome_is_recorded_when_its_provider_answers_not_when_the_round_ends() {
    let app = crate::helpers::spawn_app().await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    // A parent with two iPhones: one notice, two pushes in one round of sends; one
    // provider answer comes at once, the other after 5 s.
    let fast = app.family().await;
    let fast_token = format!("fast-{}", Uuid::new_v4().simple());
    let slow_token = format!("slow-{}", Uuid::new_v4().simple());
    for token in [&fast_token, &slow_token] {
        app.register_device(&fast.parent, token, "ios").await;
    }
    app.sign_up(&fast.child.access, event, 201).await;
    app.received(bilet::notify::providers::ChannelKind::Apns, &fast_token, 1)
        .await;
    let started = std::time::Instant::now();
    eventually(
        Duration::from_secs(3),
        "the answered push to be recorded while the slow one is still out",
        || async { (status_of(&app, &fast_token).await? == "delivered").then_some(()) },
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let slow_status: String =
        sqlx::query_scalar("SELECT status FROM deliveries WHERE device_token = $1")
            .bind(&slow_token)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(slow_status, "sending", "the slow push was still in flight");
}

/// Three families sign up for one event, each parent with an iPhone, and this test fans
/// the three requests out itself (no workers): one push per parent, queued.
async fn fan_out_three_parent_pushes(app: &crate::helpers::TestApp, hub: &bilet::notify::hub::Hub) {
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    for _ in 0..3 {
        let family = app.family().await;
        let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        app.register_device(&family.parent, &token, "ios").await;
        app.sign_up(&family.child.access, event, 201).await;
    }
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM outbox WHERE kind = 'signup_requested'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for id in &ids {
        bilet::notify::fanout::fan_out(hub, DomainEventId(*id))
            .await
            .unwrap();
    }
}

/// Jobs in the APNs stream.
async fn apns_jobs(app: &crate::helpers::TestApp, hub: &bilet::notify::hub::Hub) -> i64 {
    let mut conn = app.state.redis.conn.clone();
    redis::cmd("XLEN")
        .arg(hub.streams.deliveries("apns"))
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn after_redis_loses_everything_the_lost_jobs_are_queued_again_at_once_and_logged() {
    // No workers: this test plays the fan-out and the reconciler itself.
    let app = spawn_api_only(|_| {}).await;
    let hub = app.state.hub();
    // Startup claimed the prefix for this installation: nothing was lost.
    let first = bilet::notify::reconciler::reconcile_once(&hub)
        .await
        .unwrap();
    assert!(!first.redis_reset);
    fan_out_three_parent_pushes(&app, &hub).await;
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE status = 'pending' AND queued_at IS NOT NULL
           AND next_attempt_at <= now()",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(queued, 3, "one push per parent, queued");

    // Redis loses everything a moment after the jobs were queued: the next pass queues
    // them again at once (not after BILET_HUB_REQUEUE_AFTER) and says so, with counts.
    crate::hub::flush_prefix(&app).await;
    let report = bilet::notify::reconciler::reconcile_once(&hub)
        .await
        .unwrap();
    assert!(report.redis_reset);
    assert_eq!(report.deliveries_requeued, 3);
    assert_eq!(apns_jobs(&app, &hub).await, 3);
    let logs = crate::helpers::captured_logs();
    let recovered = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Redis had lost the hub's streams"))
                && l["deliveries_requeued"] == 3
                && l["level"] == "WARN"
        });
    assert!(recovered, "the recovery is logged with its counts");
    // The next pass has nothing to recover, and says nothing.
    let quiet = bilet::notify::reconciler::reconcile_once(&hub)
        .await
        .unwrap();
    assert_eq!(quiet, Default::default());
}

#[tokio::test]
async fn jobs_a_long_fan_out_queued_late_are_not_taken_for_lost_while_they_wait() {
    // No workers: this test plays the fan-out and the reconciler itself.
    let app = spawn_api_only(|_| {}).await;
    let hub = app.state.hub();
    bilet::notify::reconciler::reconcile_once(&hub)
        .await
        .unwrap();
    fan_out_three_parent_pushes(&app, &hub).await;
    // As a million-recipient fan-out leaves them: stamped queued when its planning began,
    // 90 s ago, their jobs added to the stream only now, at its end.
    sqlx::query(
        "UPDATE deliveries SET queued_at = now() - interval '90 seconds',
             next_attempt_at = now() - interval '91 seconds'
         WHERE status = 'pending' AND queued_at IS NOT NULL",
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(apns_jobs(&app, &hub).await, 3);

    // The fan-out noted its lag: the jobs waiting in the stream are not queued again.
    hub.streams
        .note_fanout_lag(Duration::from_secs(90))
        .await
        .unwrap();
    // A shorter lag noted later does not shorten it.
    hub.streams
        .note_fanout_lag(Duration::from_secs(2))
        .await
        .unwrap();
    let report = bilet::notify::reconciler::reconcile_once(&hub)
        .await
        .unwrap();
    assert_eq!(report.deliveries_requeued, 0);
    assert_eq!(apns_jobs(&app, &hub).await, 3);

    // Without it (an hour later, or never noted), the same rows look lost: each is queued
    // a second time, which is what the million-recipient bench showed for every job.
    let mut conn = app.state.redis.conn.clone();
    redis::cmd("DEL")
        .arg(app.state.redis.keys.key("hub:fanout-lag"))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let report = bilet::notify::reconciler::reconcile_once(&hub)
        .await
        .unwrap();
    assert_eq!(report.deliveries_requeued, 3);
    assert_eq!(apns_jobs(&app, &hub).await, 6);
}

#[tokio::test]
async fn a_second_database_cannot_start_on_a_redis_prefix_another_installation_holds() {
    let app = crate::helpers::spawn_app().await;
    let (mut settings, cleanup) = crate::helpers::test_settings();
    settings.redis.prefix = app.settings.redis.prefix.clone();
    let refused = bilet::startup::Application::build(settings, true).await;
    // The refused start created and migrated its database first.
    crate::helpers::Cleanup {
        redis_prefix: None,
        ..cleanup
    }
    .run();
    let message = refused.err().expect("the start is refused").to_string();
    assert!(
        message.contains(&app.settings.redis.prefix)
            && message.contains(&app.state.installation.to_string())
            && message.contains("BILET_REDIS_PREFIX"),
        "{message}"
    );
}

#[tokio::test]
async fn while_another_installation_holds_the_prefix_nothing_is_consumed_and_ready_says_so() {
    let app = crate::helpers::spawn_app().await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let family = app.family().await;
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    app.register_device(&family.parent, &token, "ios").await;

    // Redis was emptied and another deployment on the same prefix claimed it first.
    let key = format!("{}:installation", app.settings.redis.prefix);
    let mut conn = app.state.redis.conn.clone();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(Uuid::new_v4().to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "/ready to answer 503", || async {
        let ready = app.get("/ready").await;
        (ready.status() == 503).then_some(())
    })
    .await;
    let ready: serde_json::Value = app.get("/ready").await.json().await.unwrap();
    assert!(
        ready["detail"]
            .as_str()
            .unwrap()
            .contains("another installation"),
        "{ready}"
    );
    app.sign_up(&family.child.access, event, 201).await;
    let relayed = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT relayed_at IS NOT NULL FROM outbox WHERE kind = 'signup_requested'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        assert!(!relayed().await, "the relay wrote into another's prefix");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The prefix is this installation's again: work resumes.
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(app.state.installation.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    let pushes = app
        .received(bilet::notify::providers::ChannelKind::Apns, &token, 1)
        .await;
    assert_eq!(pushes.len(), 1);
    assert_eq!(app.get("/ready").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_sends_resume_within_seconds_not_after_its_lease() {
    // Default lease (60 s) and claim-idle (30 s): only the worker's lapsed presence can
    // bring its deliveries back quickly.
    let app = spawn_api_only(|_| {}).await;
    let (simulators, dir, config) = crate::helpers::outside_simulators().await;
    let tokens = crate::helpers::cancelled_for_children_on_iphones(&app, 8, "slow-gone-").await;
    let mut first = crate::helpers::bilet_work(&app, &config, &[]);
    app.kill_mid_send(&mut first, "event_cancelled").await;
    let killed = std::time::Instant::now();

    let mut second = crate::helpers::bilet_work(&app, &config, &[]);
    app.settled("event_cancelled").await;
    let whole_again = killed.elapsed();
    eprintln!("from the kill to the last message: {whole_again:?}");
    crate::helpers::stop_worker(&mut second);
    assert!(
        whole_again < Duration::from_secs(20),
        "the last message went out {whole_again:?} after the kill"
    );
    crate::helpers::assert_one_cancellation_each(&simulators, &tokens);
    simulators.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_its_provider_accepted_is_not_sent_again_when_its_worker_dies_before_the_ledger_has_it()
 {
    // `slow-` tokens: the APNs simulator takes the push at once and answers 5 s later.
    let app = spawn_api_only(|_| {}).await;
    let (simulators, dir, config) = crate::helpers::outside_simulators().await;
    let tokens = crate::helpers::cancelled_for_children_on_iphones(&app, 3, "slow-answered-").await;
    let mut first = crate::helpers::bilet_work(&app, &config, &[]);
    let claimed: Vec<Uuid> = eventually(
        Duration::from_secs(30),
        "the three pushes to be in flight",
        || async {
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "SELECT d.id FROM deliveries d JOIN notifications n ON n.id = d.notification_id
                 WHERE n.kind = 'event_cancelled' AND d.channel = 'apns' AND d.status = 'sending'",
            )
            .fetch_all(&app.db)
            .await
            .ok()?;
            (ids.len() == 3).then_some(ids)
        },
    )
    .await;
    // Hold the rows, so the outcomes cannot reach the ledger once the answers come.
    let mut holder = app.db.begin().await.unwrap();
    sqlx::query("SELECT id FROM deliveries WHERE id = ANY($1) FOR UPDATE")
        .bind(&claimed)
        .execute(&mut *holder)
        .await
        .unwrap();
    let hub = app.state.hub();
    eventually(
        Duration::from_secs(20),
        "the provider's answers to be marked",
        || async {
            let deliveries: Vec<DeliveryId> = claimed.iter().copied().map(DeliveryId).collect();
            let marks = hub.streams.answered("apns", &deliveries).await.ok()?;
            marks.iter().all(Option::is_some).then_some(())
        },
    )
    .await;
    crate::helpers::kill_worker(&mut first);
    // Its statement waiting on the rows would still run once they are free: PostgreSQL
    // notices a dead client only when it next talks to it. End it, as a lost connection
    // would.
    eventually(
        Duration::from_secs(10),
        "the dead worker's write to be ended",
        || async {
            let ended: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'
                   AND pid <> pg_backend_pid()",
            )
            .fetch_all(&app.db)
            .await
            .ok()?;
            (!ended.is_empty()).then_some(())
        },
    )
    .await;
    holder.rollback().await.unwrap();
    let still_sending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE id = ANY($1) AND status = 'sending'",
    )
    .bind(&claimed)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(still_sending, 3, "the dead worker recorded nothing");

    let mut second = crate::helpers::bilet_work(&app, &config, &[]);
    app.settled("event_cancelled").await;
    crate::helpers::stop_worker(&mut second);
    let rows: Vec<(String, i32, Option<String>)> = sqlx::query_as(
        "SELECT status, attempts, provider_id FROM deliveries WHERE id = ANY($1) ORDER BY id",
    )
    .bind(&claimed)
    .fetch_all(&app.db)
    .await
    .unwrap();
    for (status, attempts, provider_id) in &rows {
        assert_eq!(status, "delivered");
        assert_eq!(*attempts, 2, "claimed again after the kill");
        assert!(provider_id.is_some(), "the first answer's id is kept");
    }
    // Each phone has the push once: the second claim recorded the first answer.
    crate::helpers::assert_one_cancellation_each(&simulators, &tokens);
    simulators.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_at_one_third_of_two_thousand_families_loses_nothing_and_resends_only_what_was_in_flight()
 {
    // The API alone; `bilet work` child processes with the hub's default settings (a round
    // of 64 sends per channel) deliver to simulators run here.
    let app = spawn_api_only(|_| {}).await;
    let (simulators, dir, config) = crate::helpers::outside_simulators().await;
    let population = {
        let mut conn = app.db.acquire().await.unwrap();
        seed::seed(&mut conn, 2_000, &app.state.vault)
            .await
            .unwrap()
    };
    let total = population.total() as i64;
    let mut first = crate::helpers::bilet_work(&app, &config, &[]);
    {
        let mut conn = app.db.acquire().await.unwrap();
        seed::cancel(&mut conn, &population).await.unwrap();
    }
    let count = |statuses: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM deliveries WHERE status = ANY(string_to_array($1, ','))",
            )
            .bind(statuses)
            .fetch_one(&db)
            .await
            .ok()
        }
    };
    eventually(
        Duration::from_secs(180),
        "a third of the deliveries to be delivered",
        || async { (count("delivered").await? * 3 >= total).then_some(()) },
    )
    .await;
    let killed_at = chrono::Utc::now();
    crate::helpers::kill_worker(&mut first);
    let mut second = crate::helpers::bilet_work(&app, &config, &[]);
    eventually(
        Duration::from_secs(300),
        "every delivery to be final",
        || async {
            let rows = count("pending,sending,delivered,failed,dead,skipped").await?;
            let open = count("pending,sending").await?;
            (rows == total && open == 0).then_some(())
        },
    )
    .await;
    crate::helpers::stop_worker(&mut second);

    let delivered = count("delivered").await;
    let mut received: BTreeMap<(&str, String), Vec<chrono::DateTime<chrono::Utc>>> =
        BTreeMap::new();
    for channel in bilet::notify::providers::ChannelKind::ALL {
        let inbox = simulators.get(channel).unwrap().inbox.clone();
        for message in inbox.messages(None) {
            received
                .entry((channel.as_str(), message.to))
                .or_default()
                .push(message.received_at);
        }
    }
    simulators.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
    let (mut unreached, mut duplicates, mut answered_before) =
        (BTreeMap::new(), BTreeMap::new(), Vec::new());
    for (channel, to) in &population.recipients {
        let mut copies = received.remove(&(*channel, to.clone())).unwrap_or_default();
        copies.sort();
        match copies.len() {
            0 => *unreached.entry(*channel).or_insert(0) += 1,
            1 => {}
            n => {
                *duplicates.entry(*channel).or_insert(0) += n - 1;
                // A provider's answer is recorded within milliseconds; a copy accepted
                // well before the kill was answered and recorded, and must not go again.
                if copies[0] < killed_at - chrono::Duration::milliseconds(500) {
                    answered_before.push((*channel, copies[0]));
                }
            }
        }
    }
    let twice: usize = duplicates.values().sum();
    eprintln!("{twice} of {total} messages sent twice, by channel: {duplicates:?}");

    // Nothing lost: every delivery delivered, and every device, phone and address got the
    // cancellation.
    assert_eq!(delivered, Some(total), "every delivery delivered");
    assert!(
        unreached.is_empty(),
        "recipients with nothing, by channel: {unreached:?}"
    );
    assert!(
        received.is_empty(),
        "{} messages to recipients never seeded",
        received.len()
    );
    // Sent twice: only what was in flight when the worker died (sent, or answered in the
    // last milliseconds and not yet recorded), never what had been answered before. With
    // rounds of 64 sends per channel that is up to a round per channel (see the README's
    // fault table); a send answered earlier and re-sent fails here.
    assert!(
        answered_before.is_empty(),
        "{} of {twice} messages sent twice had been accepted more than 0.5 s before the kill: {:?}",
        answered_before.len(),
        &answered_before[..answered_before.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_that_cannot_be_written_while_the_database_is_away_are_written_when_it_is_back() {
    // A lease long enough that only a lost outcome, not the lease, could bring a re-send.
    let app = crate::helpers::spawn_app_with(|s| s.hub.lease = Duration::from_secs(60)).await;
    let database = app
        .settings
        .database
        .connect_options()
        .get_database()
        .unwrap()
        .to_owned();
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    // The provider answers after 5 s; meanwhile the database goes away.
    let family = app.family().await;
    let token = format!("slow-{}", Uuid::new_v4().simple());
    app.register_device(&family.parent, &token, "ios").await;
    app.sign_up(&family.child.access, event, 201).await;
    eventually(
        Duration::from_secs(10),
        "the push to be in flight",
        || async { (status_of(&app, &token).await? == "sending").then_some(()) },
    )
    .await;
    let mut admin = crate::helpers::maintenance_connection().await;
    let quoted = bilet::store::database::quote_identifier(&database);
    sqlx::query(&format!("ALTER DATABASE {quoted} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&database)
        .execute(&mut admin)
        .await
        .unwrap();
    // The answer comes while no connection can be made; the database is back after 7 s.
    tokio::time::sleep(Duration::from_secs(7)).await;
    sqlx::query(&format!("ALTER DATABASE {quoted} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    eventually(
        Duration::from_secs(20),
        "the outcome to be recorded once the database is back",
        || async { (status_of(&app, &token).await? == "delivered").then_some(()) },
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "recorded on the retry, not after the 60 s lease"
    );
    // A moment for a re-send, were there one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = app
        .simulator(bilet::notify::providers::ChannelKind::Apns)
        .messages(Some(&token));
    assert_eq!(got.len(), 1, "sent once");
}

#[tokio::test]
async fn a_recovery_pass_queues_each_lost_job_once_however_many_batches_it_takes() {
    // No workers: the test fans out and recovers by hand.
    let app = spawn_api_only(|_| {}).await;
    let ids = three_approval_requests(&app).await;
    let hub = app.state.hub();
    for id in ids {
        bilet::notify::fanout::fan_out(&hub, DomainEventId(id))
            .await
            .unwrap();
    }
    let due: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now()",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(due >= 3, "{due}");
    // Redis lost everything: every queued job is lost, so staleness is 0, and the pass takes
    // them in batches (of 2 here). A job queued by an earlier batch of the same pass is not
    // lost again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let pass_started = bilet::store::outbox::now(&app.db).await.unwrap();
    let mut taken = Vec::new();
    loop {
        let batch = bilet::store::deliveries::take_unqueued_due(&app.db, 0, &[], 2, pass_started)
            .await
            .unwrap();
        assert!(
            taken.len() <= due as usize,
            "queued more jobs than there are deliveries"
        );
        if batch.is_empty() {
            break;
        }
        taken.extend(batch.into_iter().map(|d| d.id));
    }
    let mut once = taken.clone();
    once.sort();
    once.dedup();
    assert_eq!(
        once.len(),
        taken.len(),
        "each delivery queued once in the pass"
    );
    assert_eq!(taken.len(), due as usize);
}

/// The ledger status of the delivery to a device.
async fn status_of(app: &crate::helpers::TestApp, token: &str) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM deliveries WHERE device_token = $1")
        .bind(token)
        .fetch_one(&app.db)
        .await
        .ok()
}

/// Three families signed up for one event, each parent with an iPhone: the outbox ids of
/// the three approval requests, not yet fanned out (the app runs no workers).
async fn three_approval_requests(app: &crate::helpers::TestApp) -> Vec<Uuid> {
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    for _ in 0..3 {
        let family = app.family().await;
        let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        app.register_device(&family.parent, &token, "ios").await;
        app.sign_up(&family.child.access, event, 201).await;
    }
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT event_id FROM outbox WHERE kind = 'signup_requested' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(ids.len(), 3);
    ids
}
