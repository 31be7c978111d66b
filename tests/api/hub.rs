//! The notification hub end to end, against the provider simulators: who hears of what on
//! which channel, retries, dead tokens, dead letters, escalation, quiet hours, approval
//! links, and crash safety (Redis flushed, a sender aborted mid-batch).

use std::collections::HashMap;
use std::time::Duration;

use bilet::notify::providers::ChannelKind;
use chrono::Duration as Span;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Family, TestApp, assert_matches_contract, assert_problem, event_input, eventually, push_data,
    spawn_app, spawn_app_with,
};

/// A family whose parent has an iPhone and whose child has an Android phone with Google
/// services.
async fn family_with_devices(app: &TestApp, tag: &str) -> (Family, String, String) {
    let family = app.family().await;
    let parent_token = format!("{tag}-parent-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let child_token = format!("{tag}-child-{}", &Uuid::new_v4().simple().to_string()[..8]);
    app.register_device(&family.parent, &parent_token, "ios")
        .await;
    app.register_device(&family.child, &child_token, "android-fcm")
        .await;
    (family, parent_token, child_token)
}

fn personal_data(family: &Family) -> Vec<String> {
    vec![
        "Смирнова".into(),
        "Анна".into(),
        family.child_snils.clone(),
        family.child.email.clone(),
        family.parent.email.clone(),
        family.child_phone.clone(),
        family.parent_phone.clone(),
    ]
}

#[tokio::test]
async fn a_sign_up_asks_the_parent_by_push_with_actions_and_the_decision_reaches_the_student() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, parent_token, child_token) = family_with_devices(&app, "ask").await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;

    let pushes = app.received(ChannelKind::Apns, &parent_token, 1).await;
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert_eq!(push.body["aps"]["category"], "SIGNUP_DECISION");
    assert_eq!(push.body["signup_id"], signup["id"]);
    assert_eq!(push.body["kind"], "signup_requested");
    assert_eq!(push.headers["apns-priority"], "5", "not urgent");
    assert_eq!(push.headers["apns-collapse-id"], event.to_string());
    assert_matches_contract(push, "apns");
    let text = push.body.to_string();
    for personal in personal_data(&family) {
        assert!(!text.contains(&personal), "{personal} in a push payload");
    }
    // The SMS waits as an escalation; the student hears nothing yet.
    let ledger = app
        .ledger_of(family.parent.account_id, "signup_requested")
        .await;
    assert_eq!(
        ledger,
        [
            ("apns".into(), "delivered".into(), false),
            ("sms".into(), "pending".into(), true)
        ]
    );
    assert!(
        app.simulator(ChannelKind::Fcm)
            .messages(Some(&child_token))
            .is_empty()
    );

    let path = format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap());
    app.post_as(
        &path,
        &family.parent.access,
        &json!({ "decision": "approve" }),
    )
    .await;
    let pushes = app.received(ChannelKind::Fcm, &child_token, 1).await;
    let data = push_data(&pushes[0]);
    assert_eq!(data["kind"], "signup_approved");
    assert_eq!(data["signup_id"], signup["id"]);
    assert_matches_contract(&pushes[0], "android");
    // The inbox holds both notices for the right people.
    let inbox: Value = app
        .get_as("/v1/notifications", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["items"][0]["kind"], "signup_approved");
    assert_eq!(inbox["unread_count"], 1);
}

#[tokio::test]
async fn an_urgent_cancellation_reaches_students_and_parents_by_push_sms_and_email_at_once() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, parent_token, child_token) = family_with_devices(&app, "urgent").await;
    let event = app
        .publish_event(&organizer, &event_input(Span::hours(30), 5))
        .await;
    app.sign_up(&family.child.access, event, 201).await;
    app.post_as(
        &format!("/v1/events/{event}/cancel"),
        &organizer.access,
        &json!({ "reason": "Авария водопровода" }),
    )
    .await;

    let counts = app.settled("event_cancelled").await;
    assert_eq!(
        counts,
        [
            ("apns".into(), "delivered".into(), 1),
            ("email".into(), "delivered".into(), 2),
            ("fcm".into(), "delivered".into(), 1),
            ("sms".into(), "delivered".into(), 2),
        ]
    );
    let parent_push = app.received(ChannelKind::Apns, &parent_token, 2).await;
    let cancel = parent_push
        .iter()
        .find(|p| p.body["kind"] == "event_cancelled")
        .expect("cancellation push");
    assert_eq!(cancel.headers["apns-priority"], "10", "urgent");
    assert!(
        cancel.body["aps"]["alert"]["body"]
            .as_str()
            .unwrap()
            .contains("Авария водопровода")
    );
    assert_matches_contract(cancel, "apns");
    let child_push = app.received(ChannelKind::Fcm, &child_token, 1).await;
    assert_eq!(child_push[0].body["android"]["priority"], "HIGH");
    assert_matches_contract(&child_push[0], "android");
    for phone in [&family.child_phone, &family.parent_phone] {
        let sms = app.received(ChannelKind::Sms, phone, 1).await;
        assert_eq!(sms.len(), 1, "one SMS to {phone}");
    }
    for address in [&family.child.email, &family.parent.email] {
        let mail = app.received(ChannelKind::Email, address, 1).await;
        assert!(
            mail.iter().any(|m| m
                .headers
                .get("subject")
                .is_some_and(|s| s.contains("отменена"))),
            "{mail:?}"
        );
    }
}

#[tokio::test]
async fn a_cancellation_read_a_page_at_a_time_tells_each_person_once() {
    // Pages of two recipients: six people (a parent of two of the children among them)
    // take three pages and a last empty read.
    let app = spawn_app_with(|s| s.hub.fanout_page = 2).await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::hours(30), 10))
        .await;
    let families = [app.family().await, app.family().await, app.family().await];
    app.link_second_parent(&families[1].parent, &families[0].parent, &families[1].child)
        .await;
    for family in &families {
        app.sign_up(&family.child.access, event, 201).await;
    }
    app.post_as(
        &format!("/v1/events/{event}/cancel"),
        &organizer.access,
        &json!({ "reason": "Отмена" }),
    )
    .await;
    app.settled("event_cancelled").await;

    let told: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT account_id, count(*) FROM notifications WHERE kind = 'event_cancelled'
         GROUP BY account_id ORDER BY account_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut expected: Vec<Uuid> = families
        .iter()
        .flat_map(|f| [f.parent.account_id, f.child.account_id])
        .collect();
    expected.sort();
    assert_eq!(
        told,
        expected.iter().map(|id| (*id, 1)).collect::<Vec<_>>(),
        "each of the six once"
    );
    // The parent of two children gets one text, not two.
    let sms = app
        .received(ChannelKind::Sms, &families[0].parent_phone, 1)
        .await;
    assert_eq!(sms.len(), 1);
}

#[tokio::test]
async fn a_move_days_ahead_goes_by_push_and_email_but_not_sms() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, _, child_token) = family_with_devices(&app, "move").await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(10), 5))
        .await;
    app.sign_up(&family.child.access, event, 201).await;
    let new_start = chrono::Utc::now() + Span::days(12);
    app.post_as(
        &format!("/v1/events/{event}/reschedule"),
        &organizer.access,
        &json!({ "starts_at": new_start, "ends_at": new_start + Span::hours(2) }),
    )
    .await;
    let counts = app.settled("event_rescheduled").await;
    assert!(
        counts.iter().all(|(channel, _, _)| channel != "sms"),
        "{counts:?}"
    );
    let push = app.received(ChannelKind::Fcm, &child_token, 1).await;
    assert_eq!(push_data(&push[0])["kind"], "event_rescheduled");
    assert_eq!(push[0].body["android"]["priority"], "NORMAL");
}

#[tokio::test]
async fn a_parent_without_the_app_decides_through_a_single_use_link_that_a_preview_cannot_use() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await; // no devices
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;

    let sms = app
        .received(ChannelKind::Sms, &family.parent_phone, 1)
        .await;
    let mail: Vec<_> = app
        .received(ChannelKind::Email, &family.parent.email, 2)
        .await
        .into_iter()
        .filter(|m| m.body.to_string().contains("/a/"))
        .collect();
    assert_eq!(
        (sms.len(), mail.len()),
        (1, 1),
        "the SMS and the e-mail each carry the link"
    );
    let text = sms[0].body.to_string();
    let start = text.find("http").expect("the SMS carries a link");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\\')
        .collect();
    assert!(link.contains("/a/"), "{link}");
    let path = &link[link.find("/a/").unwrap()..];

    // Opening the link (or a messenger's preview of it) changes nothing.
    for _ in 0..2 {
        let page = app.get(path).await;
        assert_eq!(page.status(), 200);
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("Проба: программирование роботов")
        );
    }
    let still: Value = app
        .get_as(
            &format!("/v1/signups/{}", signup["id"].as_str().unwrap()),
            &family.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "pending_parent");

    let tap = app
        .client
        .post(app.url(path))
        .form(&[("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(tap.status(), 200);
    let decided: Value = app
        .get_as(
            &format!("/v1/signups/{}", signup["id"].as_str().unwrap()),
            &family.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(decided["status"], "approved");
    assert_eq!(
        decided["decided_by_account_id"],
        family.parent.account_id.to_string()
    );
    let again = app
        .client
        .post(app.url(path))
        .form(&[("decision", "decline")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410, "single use");
    let forged = app
        .get("/a/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(forged.status(), 404);
}

#[tokio::test]
async fn an_unseen_approval_request_escalates_to_sms_after_the_delay_but_not_once_acknowledged() {
    let app = spawn_app_with(|s| s.hub.escalation_delay = Duration::from_secs(1)).await;
    let organizer = app.organizer().await;
    let (seen, seen_token, _) = family_with_devices(&app, "seen").await;
    let (unseen, unseen_token, _) = family_with_devices(&app, "unseen").await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    app.sign_up(&seen.child.access, event, 201).await;
    app.sign_up(&unseen.child.access, event, 201).await;
    let push = app.received(ChannelKind::Apns, &seen_token, 1).await;
    app.received(ChannelKind::Apns, &unseen_token, 1).await;
    let notification = push[0].body["notification_id"].as_str().unwrap().to_owned();
    let ack = app
        .post_as(
            &format!("/v1/notifications/{notification}/ack"),
            &seen.parent.access,
            &json!({}),
        )
        .await;
    assert_eq!(ack.status(), 204);

    let sms = app
        .received(ChannelKind::Sms, &unseen.parent_phone, 1)
        .await;
    assert_eq!(sms.len(), 1, "escalated after the delay");
    eventually(
        Duration::from_secs(10),
        "the acknowledged escalation to be skipped",
        || async {
            let ledger = app
                .ledger_of(seen.parent.account_id, "signup_requested")
                .await;
            ledger
                .iter()
                .any(|(channel, status, _)| channel == "sms" && status == "skipped")
                .then_some(())
        },
    )
    .await;
    assert!(
        app.simulator(ChannelKind::Sms)
            .messages(Some(&seen.parent_phone))
            .is_empty()
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_a_dead_token_deactivated_and_exhausted_retries_dead_lettered() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let admin = app.staff(bilet::admin::StaffRole::Admin, None).await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let mut tokens = HashMap::new();
    for (tag, prefix) in [
        ("retry", "hub-429-once-"),
        ("dead", "unregistered-"),
        ("exhausted", "hub-503-thrice-"),
    ] {
        let family = app.family().await;
        let token = format!("{prefix}{}", &Uuid::new_v4().simple().to_string()[..8]);
        app.register_device(&family.parent, &token, "ios").await;
        app.sign_up(&family.child.access, event, 201).await;
        tokens.insert(tag, (family, token));
    }
    app.settled("signup_requested").await;

    let (retry, retry_token) = &tokens["retry"];
    assert_eq!(
        app.ledger_of(retry.parent.account_id, "signup_requested")
            .await[0]
            .1,
        "delivered"
    );
    assert_eq!(
        app.received(ChannelKind::Apns, retry_token, 1).await.len(),
        1
    );
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM deliveries WHERE device_token = $1")
            .bind(retry_token)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(attempts, 2, "once refused with 429, then accepted");

    let (dead, dead_token) = &tokens["dead"];
    assert_eq!(
        app.ledger_of(dead.parent.account_id, "signup_requested")
            .await[0]
            .1,
        "failed"
    );
    let deactivated: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT deactivated_at FROM devices WHERE token = $1")
            .bind(dead_token)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(deactivated.is_some(), "a dead token stops being used");

    let (exhausted, exhausted_token) = &tokens["exhausted"];
    assert_eq!(
        app.ledger_of(exhausted.parent.account_id, "signup_requested")
            .await[0]
            .1,
        "dead"
    );
    let letters: Value = app
        .get_as("/v1/admin/dead-letters", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    let letter = letters
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["channel"] == "apns")
        .expect("a dead letter")
        .clone();
    assert_eq!(letter["attempts"], 3);
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts")
    );
    let mut conn = app.state.redis.conn.clone();
    let stream_len: u64 = redis::cmd("XLEN")
        .arg(app.state.hub().streams.dead_letters())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(stream_len, 1);
    assert_problem(
        app.get_as("/v1/admin/dead-letters", &organizer.access)
            .await,
        403,
        "forbidden",
    )
    .await;

    // The provider recovered (the fault fired three times); a replay delivers it.
    let replay = app
        .post_as(
            &format!(
                "/v1/admin/dead-letters/{}/replay",
                letter["delivery_id"].as_str().unwrap()
            ),
            &admin.access,
            &json!({}),
        )
        .await;
    assert_eq!(replay.status(), 202);
    assert_eq!(
        app.received(ChannelKind::Apns, exhausted_token, 1)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn quiet_hours_hold_non_urgent_notices_but_not_urgent_ones() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, _, child_token) = family_with_devices(&app, "quiet").await;
    // Quiet hours spanning the whole day but a minute: now is certainly inside.
    let now = chrono::Utc::now().with_timezone(&bilet::domain::events::utc_offset("Europe/Moscow"));
    let from = now - Span::minutes(1);
    let to = now - Span::minutes(2);
    let prefs = json!({
        "language": "ru", "time_zone": "Europe/Moscow",
        "quiet_from": from.format("%H:%M").to_string(), "quiet_to": to.format("%H:%M").to_string(),
    });
    assert_eq!(
        app.put_as(
            "/v1/me/notification-preferences",
            &family.child.access,
            &prefs
        )
        .await
        .status(),
        200
    );
    let event = app
        .publish_event(&organizer, &event_input(Span::hours(30), 5))
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    app.post_as(
        &format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap()),
        &family.parent.access,
        &json!({ "decision": "approve" }),
    )
    .await;
    app.post_as(
        &format!("/v1/events/{event}/cancel"),
        &organizer.access,
        &json!({ "reason": "Отмена" }),
    )
    .await;

    let pushes = app.received(ChannelKind::Fcm, &child_token, 1).await;
    assert_eq!(
        push_data(&pushes[0])["kind"],
        "event_cancelled",
        "the urgent notice is not held"
    );
    let held: (String, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT d.status, d.next_attempt_at FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE n.kind = 'signup_approved' AND d.account_id = $1",
    )
    .bind(family.child.account_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(held.0, "pending");
    assert!(
        held.1 > chrono::Utc::now() + Span::hours(20),
        "held until quiet hours end: {}",
        held.1
    );
    assert!(
        app.simulator(ChannelKind::Fcm)
            .messages(Some(&child_token))
            .iter()
            .all(|m| push_data(m)["kind"] != "signup_approved")
    );
}

#[tokio::test]
async fn flushing_redis_mid_delivery_still_ends_with_exactly_one_delivery_each() {
    let app = spawn_app().await;
    flushed_twice_mid_cancellation(&app).await;
}

/// Cancels an event of twelve families whose children have iPhones and, while the slow
/// provider holds the first sends, empties Redis twice; then asserts each child got the
/// cancellation exactly once. Returns the children's tokens.
pub(crate) async fn flushed_twice_mid_cancellation(app: &TestApp) -> Vec<String> {
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::hours(20), 40))
        .await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        let family = app.family().await;
        let token = format!("hub-slow-{i}-{}", &Uuid::new_v4().simple().to_string()[..6]);
        app.register_device(&family.child, &token, "ios").await;
        app.sign_up(&family.child.access, event, 201).await;
        tokens.push(token);
    }
    app.settled("signup_requested").await;
    app.post_as(
        &format!("/v1/events/{event}/cancel"),
        &organizer.access,
        &json!({ "reason": "Отмена" }),
    )
    .await;
    // While the slow provider holds the first sends, Redis loses everything, twice.
    for _ in 0..2 {
        eventually(Duration::from_secs(10), "sends to be under way", || async {
            let sending: i64 =
                sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sending'")
                    .fetch_one(&app.db)
                    .await
                    .ok()?;
            (sending > 0).then_some(())
        })
        .await;
        flush_prefix(app).await;
    }
    app.settled("event_cancelled").await;
    for token in &tokens {
        let got: Vec<_> = app
            .received(ChannelKind::Apns, token, 1)
            .await
            .into_iter()
            .filter(|m| m.body["kind"] == "event_cancelled")
            .collect();
        assert_eq!(got.len(), 1, "exactly one cancellation for {token}");
    }
    tokens
}

/// Deletes every Redis key of this test's app, as if Redis (every node of a cluster) had
/// restarted empty.
pub(crate) async fn flush_prefix(app: &TestApp) {
    for url in app.settings.redis.nodes() {
        let mut conn = crate::helpers::node_connection(url)
            .await
            .expect("a Redis node");
        crate::helpers::delete_all(&mut conn, &app.settings.redis.prefix).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_aborted_mid_batch_loses_nothing_and_sends_nothing_twice() {
    // Small reads: the app's own APNs sender, busy with slow sends, leaves jobs for the
    // second sender below, whatever the machine's load.
    let app = spawn_app_with(|s| {
        s.hub.concurrency = 4;
        s.hub.batch = 2;
    })
    .await;
    // The app's own workers run too; stop its APNs sender by aborting a second, manual one
    // is not enough: run the experiment against a separate hub whose sender we abort.
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::hours(20), 40))
        .await;
    let mut tokens = Vec::new();
    for i in 0..10 {
        let family = app.family().await;
        let token = format!(
            "hub-slow-abort-{i}-{}",
            &Uuid::new_v4().simple().to_string()[..6]
        );
        app.register_device(&family.child, &token, "ios").await;
        app.sign_up(&family.child.access, event, 201).await;
        tokens.push(token);
    }
    app.settled("signup_requested").await;
    let hub = app.state.hub();
    let worker = tokio::spawn(bilet::notify::sender::run(
        bilet::notify::hub::Hub {
            consumer: "doomed".into(),
            ..hub.clone()
        },
        ChannelKind::Apns,
        tokio_util::sync::CancellationToken::new(),
    ));
    app.post_as(
        &format!("/v1/events/{event}/cancel"),
        &organizer.access,
        &json!({ "reason": "Отмена" }),
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "the doomed sender to hold deliveries",
        || async {
            let mut conn = app.state.redis.conn.clone();
            let pending: redis::Value = redis::cmd("XPENDING")
                .arg(app.state.hub().streams.deliveries("apns"))
                .arg("senders")
                .arg("-")
                .arg("+")
                .arg(100)
                .arg("doomed:apns")
                .query_async(&mut conn)
                .await
                .ok()?;
            matches!(pending, redis::Value::Array(ref items) if !items.is_empty()).then_some(())
        },
    )
    .await;
    worker.abort();
    assert!(worker.await.unwrap_err().is_cancelled());

    app.settled("event_cancelled").await;
    for token in &tokens {
        let got: Vec<_> = app
            .received(ChannelKind::Apns, token, 1)
            .await
            .into_iter()
            .filter(|m| m.body["kind"] == "event_cancelled")
            .collect();
        assert_eq!(got.len(), 1, "exactly one cancellation for {token}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_does_not_hold_up_the_sends_behind_it() {
    // Four in flight at most, every job read at once: three phones whose provider answers
    // after 5 s take three of the four places; the twelve fast ones must go through the
    // fourth meanwhile, not wait for a round to end.
    let app = spawn_app_with(|s| {
        s.hub.concurrency = 4;
        s.hub.batch = 64;
        // Leases outlast the slow answers (the tests' own 4 s would hand them back).
        s.hub.lease = Duration::from_secs(30);
    })
    .await;
    let tags: Vec<&str> = (0..15)
        .map(|i| {
            if i % 5 == 0 {
                "slow-window-"
            } else {
                "window-"
            }
        })
        .collect();
    let tokens = crate::helpers::cancelled_for_tagged_iphones(&app, &tags).await;
    let seen = eventually(
        Duration::from_secs(20),
        "the twelve fast pushes delivered",
        || async {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT d.device_token, d.status::text FROM deliveries d
                 JOIN notifications n ON n.id = d.notification_id
                 WHERE n.kind = 'event_cancelled' AND d.channel = 'apns'",
            )
            .fetch_all(&app.db)
            .await
            .ok()?;
            let fast_delivered = rows
                .iter()
                .filter(|(token, status)| !token.starts_with("slow-") && status == "delivered")
                .count();
            (fast_delivered == 12).then_some(rows)
        },
    )
    .await;
    let slow_done: Vec<_> = seen
        .iter()
        .filter(|(token, status)| token.starts_with("slow-") && status != "sending")
        .collect();
    assert!(
        slow_done.is_empty(),
        "the fast pushes waited for the slow ones to answer: {slow_done:?}"
    );
    app.settled("event_cancelled").await;
    for token in tokens.iter().filter(|token| token.starts_with("slow-")) {
        let got = app.received(ChannelKind::Apns, token, 1).await;
        assert_eq!(got.len(), 1, "the slow phone {token} got its push once");
    }
}

#[tokio::test]
async fn devices_move_to_the_account_that_registers_them_and_are_removed_on_logout() {
    let app = spawn_app().await;
    let first = app.signup("parent").await;
    let second = app.signup("parent").await;
    app.register_device(&first, "shared-phone-token", "android-rustore")
        .await;
    app.register_device(&second, "shared-phone-token", "android-rustore")
        .await;
    let owner: Uuid =
        sqlx::query_scalar("SELECT account_id FROM devices WHERE token = 'shared-phone-token'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(owner, second.account_id);
    assert_problem(
        app.delete_as("/v1/devices/shared-phone-token", &first.access)
            .await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(
        app.delete_as("/v1/devices/shared-phone-token", &second.access)
            .await
            .status(),
        204
    );
    let bad = app
        .put_as(
            "/v1/devices/x",
            &second.access,
            &json!({ "platform": "windows-phone", "app_version": "1", "locale": "ru" }),
        )
        .await;
    assert_problem(bad, 422, "validation").await;
}

#[tokio::test]
async fn the_inbox_pages_counts_unread_and_marks_read() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let mut events = Vec::new();
    for day in 3..6 {
        let event = app
            .publish_event(&organizer, &event_input(Span::days(day), 5))
            .await;
        app.sign_up(&family.child.access, event, 201).await;
        events.push(event);
    }
    app.settled("signup_requested").await;
    let first: Value = app
        .get_as("/v1/notifications?limit=2", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["unread_count"], 3);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get_as(
            &format!("/v1/notifications?limit=2&cursor={cursor}"),
            &family.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    let id = first["items"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.post_as(
            &format!("/v1/notifications/{id}/read"),
            &family.parent.access,
            &json!({})
        )
        .await
        .status(),
        204
    );
    let after: Value = app
        .get_as("/v1/notifications", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["unread_count"], 2);
    // Someone else's notification is not found.
    assert_problem(
        app.post_as(
            &format!("/v1/notifications/{id}/read"),
            &family.child.access,
            &json!({}),
        )
        .await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn preferences_switch_channels_off_per_kind_but_urgent_notices_still_arrive() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, parent_token, _) = family_with_devices(&app, "prefs").await;
    let prefs = json!({
        "language": "en", "time_zone": "Asia/Vladivostok",
        "disabled": { "event_cancelled": ["push", "sms", "email"] },
    });
    let saved: Value = app
        .put_as(
            "/v1/me/notification-preferences",
            &family.parent.access,
            &prefs,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        saved["disabled"]["event_cancelled"],
        json!(["push", "sms", "email"])
    );
    let bad = app
        .put_as("/v1/me/notification-preferences", &family.parent.access, &json!({ "language": "fr", "time_zone": "Europe/Paris", "disabled": { "nonsense": ["sms"] } }))
        .await;
    let problem = assert_problem(bad, 422, "validation").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3);

    let event = app
        .publish_event(&organizer, &event_input(Span::hours(30), 5))
        .await;
    app.sign_up(&family.child.access, event, 201).await;
    app.post_as(
        &format!("/v1/events/{event}/cancel"),
        &organizer.access,
        &json!({ "reason": "Closed" }),
    )
    .await;
    let pushes = app.received(ChannelKind::Apns, &parent_token, 2).await;
    let cancel = pushes
        .iter()
        .find(|p| p.body["kind"] == "event_cancelled")
        .expect("still told");
    assert_eq!(
        cancel.body["aps"]["alert"]["title"], "Your child's event is cancelled",
        "in English"
    );
    let ledger = app
        .ledger_of(family.parent.account_id, "event_cancelled")
        .await;
    assert!(
        ledger.contains(&("sms".into(), "pending".into(), true)),
        "switched-off channels only escalate: {ledger:?}"
    );
}

#[tokio::test]
async fn an_organizer_notice_reaches_families_and_its_deliveries_are_reported_without_personal_data()
 {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let rival = app.organizer().await;
    let (family, parent_token, child_token) = family_with_devices(&app, "notice").await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    app.sign_up(&family.child.access, event, 201).await;
    let sent: Value = app
        .post_as(
            &format!("/v1/events/{event}/notices"),
            &organizer.access,
            &json!({ "text": "Возьмите сменную обувь" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let notice = sent["notice_id"].as_str().unwrap();
    app.settled("organizer_notice").await;
    assert!(
        app.received(ChannelKind::Apns, &parent_token, 2)
            .await
            .iter()
            .any(|p| p.body["kind"] == "organizer_notice")
    );
    let child = app.received(ChannelKind::Fcm, &child_token, 1).await;
    assert_eq!(
        child[0].body["notification"]["body"],
        "Возьмите сменную обувь"
    );
    let report: Value = app
        .get_as(
            &format!("/v1/notices/{notice}/deliveries"),
            &organizer.access,
        )
        .await
        .json()
        .await
        .unwrap();
    let channels: Vec<(&str, i64)> = report["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap(),
                c["delivered"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(channels, [("apns", 1), ("fcm", 1)]);
    let text = report.to_string();
    for personal in personal_data(&family)
        .iter()
        .chain([&parent_token, &child_token])
    {
        assert!(
            !text.contains(personal.as_str()),
            "{personal} in the report"
        );
    }
    assert_problem(
        app.get_as(&format!("/v1/notices/{notice}/deliveries"), &rival.access)
            .await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn metrics_show_streams_and_deliveries_by_channel_and_outcome() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, parent_token, _) = family_with_devices(&app, "metrics").await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    app.sign_up(&family.child.access, event, 201).await;
    app.received(ChannelKind::Apns, &parent_token, 1).await;
    // The simulator has the push before the worker has its answer in the ledger and the
    // counters: wait for the outcome to be recorded, then read everything else.
    let delivered = r#"bilet_hub_deliveries_total{channel="apns",outcome="delivered"} 1"#;
    let ledger = r#"bilet_hub_ledger_deliveries{channel="apns",status="delivered"} 1"#;
    let text = eventually(
        Duration::from_secs(10),
        "the delivery in the metrics",
        || {
            let app = &app;
            async move {
                let text = app.get("/metrics").await.text().await.unwrap();
                (text.contains(delivered) && text.contains(ledger)).then_some(text)
            }
        },
    )
    .await;
    assert!(
        text.contains(r#"bilet_hub_stream{measure="length",stream="events"}"#),
        "{text}"
    );
    assert!(
        text.contains("bilet_hub_delivery_latency_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bilet_work_process_killed_mid_batch_loses_nothing_and_sends_nothing_twice() {
    // The API alone; the deliveries are made by `bilet work` child processes, to
    // simulators run here, outside them.
    let app = crate::helpers::spawn_api_only(|_| {}).await;
    let (simulators, dir, config) = crate::helpers::outside_simulators().await;
    let tokens =
        crate::helpers::cancelled_for_children_on_iphones(&app, 12, "hub-slow-kill-").await;

    let work = || {
        crate::helpers::bilet_work(
            &app,
            &config,
            &[
                ("BILET_HUB_CONCURRENCY", "4"),
                ("BILET_HUB_CLAIM_IDLE", "1s"),
                ("BILET_HUB_LEASE", "5s"),
                ("BILET_HUB_REQUEUE_AFTER", "2s"),
            ],
        )
    };
    let mut first = work();
    app.kill_mid_send(&mut first, "event_cancelled").await;

    let mut second = work();
    app.settled("event_cancelled").await;
    crate::helpers::stop_worker(&mut second);

    crate::helpers::assert_one_cancellation_each(&simulators, &tokens);
    simulators.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn results_ready_reaches_the_student_and_the_parents_with_the_tests_title() {
    let app = spawn_app().await;
    let (family, parent_token, child_token) = family_with_devices(&app, "results").await;
    let id = app.finish_klimov(&family.child, "a").await;
    let id = id.as_str();

    let child = app.received(ChannelKind::Fcm, &child_token, 1).await;
    let data = push_data(&child[0]);
    assert_eq!(data["kind"], "results_ready");
    assert_eq!(data["attempt_id"], id);
    assert_eq!(data["test_id"], "klimov-ddo");
    assert_matches_contract(&child[0], "android");
    assert!(
        child[0].body["notification"]["body"]
            .as_str()
            .unwrap()
            .contains("Климов"),
        "{}",
        child[0].body
    );
    let parent = app.received(ChannelKind::Apns, &parent_token, 1).await;
    assert_eq!(parent[0].body["kind"], "results_ready");
    assert_matches_contract(&parent[0], "apns");
    // Scores never travel in a push.
    assert!(!parent[0].body.to_string().contains("score"));
}

#[tokio::test]
async fn the_verification_code_arrives_by_e_mail_before_the_address_is_verified() {
    let app = spawn_app().await;
    let address = crate::helpers::email("code");
    app.register(&address, crate::helpers::PASSWORD, "parent")
        .await;
    let code = app.verification_code(&address).await;
    let mail = app.received(ChannelKind::Email, &address, 1).await;
    assert_eq!(
        mail.len(),
        1,
        "the code is e-mailed to the unverified address"
    );
    assert!(
        mail[0].headers["subject"].contains(&code),
        "{:?}",
        mail[0].headers
    );
    // Nothing else was sent: the code is the only thing an unverified address receives.
    assert!(app.simulator(ChannelKind::Sms).messages(None).is_empty());
}

#[tokio::test]
async fn the_demo_counts_every_notice_it_caused_not_only_the_cancellation() {
    let app = spawn_app().await;
    let seeded = bilet::demo::seed(&app.state).await.unwrap();
    assert_eq!(seeded.students, 50);
    assert_eq!(seeded.accounts.len(), 101, "an organizer and 50 families");
    bilet::demo::cancel(&app.state, seeded.event).await.unwrap();
    let mut tables = Vec::new();
    let report = bilet::demo::watch(&app.state, &seeded, Duration::from_secs(60), |t| {
        tables.push(t)
    })
    .await
    .unwrap();
    assert!(report.all_out(), "{report:?}");
    let last = tables.last().unwrap();
    for channel in ["apns", "fcm", "rustore", "sms", "email"] {
        assert!(last.contains(channel), "{last}");
    }
    // What the ledger holds for the demo's people, counted here independently.
    let ledger: Vec<(String, i64)> = sqlx::query_as(
        "SELECT n.kind, count(*) FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE d.account_id = ANY($1) AND NOT (d.status = 'pending' AND d.next_attempt_at > now())
         GROUP BY 1 ORDER BY 1",
    )
    .bind(&seeded.accounts)
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    let mut kinds = report.kinds.clone();
    kinds.sort();
    assert_eq!(kinds, ledger);
    assert!(
        ledger.len() > 1,
        "the seeding's notices count too: {ledger:?}"
    );
    let cancelled = ledger
        .iter()
        .find(|(kind, _)| kind == "event_cancelled")
        .map(|(_, n)| *n)
        .unwrap();
    // 50 students and 50 parents by e-mail and SMS, plus every registered device.
    assert!(cancelled >= 200 + 50, "{ledger:?}");
    let summary = report.summary();
    for channel in ["apns", "fcm", "rustore", "sms", "email"] {
        assert_eq!(
            summary
                .iter()
                .filter(|line| line.starts_with(channel) && line.contains("delivered"))
                .count(),
            1,
            "one summary line for {channel}: {summary:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_binary_works_apart_from_a_service_and_refuses_a_second_demo() {
    let app = crate::helpers::spawn_api_only(|_| {}).await;
    let (simulators, dir, config) = crate::helpers::outside_simulators().await;
    let demo = || {
        crate::helpers::bilet_command(&app, &config, &["demo", "--exit"])
            .output()
            .unwrap()
    };
    let demo_db = format!(
        "{}_demo",
        app.settings
            .database
            .connect_options()
            .get_database()
            .unwrap()
    );
    let mut demo_settings = app.settings.clone();
    demo_settings.database = bilet::demo::database(&app.settings.database).unwrap();
    let cleanup = |prefix: Option<String>| crate::helpers::Cleanup {
        database: Some(demo_db.clone()),
        redis_prefix: prefix,
    };

    let first = demo();
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("every notice is out"), "{stdout}");
    assert!(stdout.contains("by kind: "), "{stdout}");
    // Nothing went to the service's own database or prefix.
    let in_service: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(in_service, 0);

    // The demo's prefix belongs to its own database.
    let demo_pool = bilet::store::connect(&demo_settings.database)
        .await
        .unwrap();
    let installation = bilet::store::installation::id(&demo_pool).await.unwrap();
    demo_pool.close().await;
    assert_ne!(installation, app.state.installation);
    let prefix = bilet::demo::prefix(&app.settings.redis.prefix, installation);
    assert!(stdout.contains(&prefix), "{stdout}");

    // While a process works on the demo's database and prefix, another demo refuses.
    let mut worker = crate::helpers::bilet_command(&app, &config, &["work"])
        .env("BILET_DATABASE_URL", demo_settings.database.url.expose())
        .env("BILET_REDIS_PREFIX", &prefix)
        .spawn()
        .unwrap();
    let mut demo_redis = app.settings.redis.clone();
    demo_redis.prefix = prefix.clone();
    let redis = bilet::queue::connect(&demo_redis).await.unwrap();
    eventually(Duration::from_secs(30), "the worker's presence", || async {
        (!redis.live_processes().await.unwrap().is_empty()).then_some(())
    })
    .await;
    let second = demo();
    crate::helpers::stop_worker(&mut worker);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        stderr.contains("another `bilet demo` is running"),
        "{stderr}"
    );
    cleanup(Some(prefix)).run();
    simulators.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_domain_event_of_a_kind_this_build_does_not_know_is_left_unannounced_and_said() {
    let app = spawn_app().await;
    // A misspelt kind, as a build with a typo (or a newer build) could have written it.
    let event_id = Uuid::now_v7();
    sqlx::query("INSERT INTO outbox (event_id, kind, payload) VALUES ($1, 'event_canceled', '{}')")
        .bind(event_id)
        .execute(&app.db)
        .await
        .unwrap();
    let said = eventually(
        Duration::from_secs(20),
        "the unreadable event to be logged",
        || async {
            crate::helpers::captured_logs()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|l| {
                    l["level"] == "ERROR"
                        && l["error"]
                            .as_str()
                            .is_some_and(|e| e.contains(&event_id.to_string()))
                })
        },
    )
    .await;
    assert!(
        said["error"]
            .as_str()
            .unwrap()
            .contains("unknown domain event kind `event_canceled`"),
        "{said}"
    );
    // Not marked as done: a build that knows the kind will still announce it.
    let fanned_out: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT fanned_out_at FROM outbox WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(fanned_out, None);
}
