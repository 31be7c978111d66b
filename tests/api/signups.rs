//! Sign-ups: seats, waitlists, parents' decisions, expiry, withdrawal, idempotency keys,
//! cancel and reschedule, and the outbox rows each change writes.

use chrono::Duration;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, event_input, spawn_app};

#[tokio::test]
async fn a_sign_up_holds_a_seat_and_asks_the_parents_through_the_outbox() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 3))
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    assert_eq!(signup["status"], "pending_parent");
    assert!(signup["expires_at"].is_string());
    let seen: Value = app
        .get_as(&format!("/v1/events/{event}"), &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["seats_left"], 2);

    let requested = app.outbox("signup_requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["signup_id"], signup["id"]);
    assert_eq!(requested[0]["event_id"], event.to_string());
    assert_eq!(
        requested[0]["student_id"],
        family.child.account_id.to_string()
    );
    let text = requested[0].to_string();
    for personal in ["Смирнова", "Анна", &family.child.email, &family.child_snils] {
        assert!(!text.contains(personal), "{personal} in the outbox");
    }
    let approvals: Value = app
        .get_as("/v1/me/approvals", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(approvals[0]["id"], signup["id"]);
    assert_eq!(approvals[0]["student_given_name"], "Анна");
}

#[tokio::test]
async fn a_sign_up_needs_consent_grade_an_open_deadline_and_no_overlap() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 10))
        .await;

    // No linked parent with consent.
    let loner = app.signup("student").await;
    app.put_as(
        "/v1/me/student-profile",
        &loner.access,
        &crate::helpers::student_profile(&crate::helpers::valid_snils()),
    )
    .await;
    let response = app
        .post_as(
            &format!("/v1/events/{event}/signups"),
            &loner.access,
            &json!({}),
        )
        .await;
    assert_problem(response, 409, "consent-required").await;

    let mut seniors = event_input(Duration::days(5), 10);
    seniors["grade_min"] = json!(10);
    seniors["grade_max"] = json!(11);
    let seniors = app.publish_event(&organizer, &seniors).await;
    let response = app
        .post_as(
            &format!("/v1/events/{seniors}/signups"),
            &family.child.access,
            &json!({}),
        )
        .await;
    assert_problem(response, 409, "grade-out-of-range").await;

    app.sign_up(&family.child.access, event, 201).await;
    let again = app
        .post_as(
            &format!("/v1/events/{event}/signups"),
            &family.child.access,
            &json!({}),
        )
        .await;
    assert_problem(again, 409, "already-signed-up").await;

    let overlapping = app
        .publish_event(
            &organizer,
            &event_input(Duration::days(5) + Duration::hours(1), 10),
        )
        .await;
    let response = app
        .post_as(
            &format!("/v1/events/{overlapping}/signups"),
            &family.child.access,
            &json!({}),
        )
        .await;
    assert_problem(response, 409, "overlapping-event").await;

    let closing = app
        .publish_event(&organizer, &event_input(Duration::days(9), 10))
        .await;
    sqlx::query("UPDATE events SET signup_deadline = now() - interval '1 minute' WHERE id = $1")
        .bind(closing)
        .execute(&app.db)
        .await
        .unwrap();
    let late = app
        .post_as(
            &format!("/v1/events/{closing}/signups"),
            &family.child.access,
            &json!({}),
        )
        .await;
    assert_problem(late, 409, "signup-closed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_simultaneous_sign_ups_for_twenty_seats_hold_twenty_and_queue_the_rest() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 20))
        .await;
    let students = app.seed_students(200).await;
    let responses = join_all(students.iter().map(|s| {
        let path = format!("/v1/events/{event}/signups");
        let app = &app;
        async move { app.post_as(&path, &s.access, &json!({})).await }
    }))
    .await;
    let mut statuses = Vec::new();
    let mut positions = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        statuses.push(body["status"].as_str().unwrap().to_owned());
        if let Some(position) = body["waitlist_position"].as_i64() {
            positions.push(position);
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| *s == "pending_parent").count(),
        20
    );
    assert_eq!(statuses.iter().filter(|s| *s == "waitlisted").count(), 180);
    let (held, capacity): (i32, i32) =
        sqlx::query_as("SELECT seats_held, capacity FROM events WHERE id = $1")
            .bind(event)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((held, capacity), (20, 20));
    let counts =
        bilet::store::signups::count_by_status(&app.db, bilet::domain::ids::EventId(event))
            .await
            .unwrap();
    assert_eq!(
        counts,
        [
            ("pending_parent".to_owned(), 20),
            ("waitlisted".to_owned(), 180)
        ]
    );
    assert!(positions.iter().all(|p| (1..=180).contains(p)));
    let signed: std::collections::HashSet<uuid::Uuid> =
        sqlx::query_scalar("SELECT student_id FROM signups WHERE event_id = $1")
            .bind(event)
            .fetch_all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        signed,
        students.iter().map(|s| s.account_id).collect(),
        "one sign-up per student"
    );
    assert_eq!(app.outbox("signup_requested").await.len(), 20);
}

#[tokio::test]
async fn a_full_event_waitlists_in_order_and_a_released_seat_goes_to_the_first() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 1))
        .await;
    let holder = app.family().await;
    let first = app.family().await;
    let second = app.family().await;
    let held = app.sign_up(&holder.child.access, event, 201).await;
    let w1 = app.sign_up(&first.child.access, event, 201).await;
    let w2 = app.sign_up(&second.child.access, event, 201).await;
    assert_eq!(
        (w1["status"].as_str(), w1["waitlist_position"].as_i64()),
        (Some("waitlisted"), Some(1))
    );
    assert_eq!(w2["waitlist_position"], 2);

    // The holder's parent declines: the seat goes to the first in line, who needs a parent too.
    let decline = app
        .post_as(
            &format!("/v1/signups/{}/decision", held["id"].as_str().unwrap()),
            &holder.parent.access,
            &json!({ "decision": "decline" }),
        )
        .await;
    assert_eq!(decline.status(), 200);
    let promoted: Value = app
        .get_as(
            &format!("/v1/signups/{}", w1["id"].as_str().unwrap()),
            &first.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(promoted["status"], "pending_parent");
    let still: Value = app
        .get_as(
            &format!("/v1/signups/{}", w2["id"].as_str().unwrap()),
            &second.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            still["status"].as_str(),
            still["waitlist_position"].as_i64()
        ),
        (Some("waitlisted"), Some(1))
    );
    let promotions = app.outbox("waitlist_promoted").await;
    assert_eq!(promotions.len(), 1);
    assert_eq!(promotions[0]["signup_id"], w1["id"]);
    assert_eq!(app.outbox("signup_declined").await.len(), 1);
}

#[tokio::test]
async fn the_first_decision_wins_and_repeating_it_answers_the_same() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 3))
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    let path = format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap());
    let first: Value = app
        .post_as(
            &path,
            &family.parent.access,
            &json!({ "decision": "approve", "comment": "Удачи!" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["status"], "approved");
    assert_eq!(
        first["decided_by_account_id"],
        family.parent.account_id.to_string()
    );
    let again: Value = app
        .post_as(
            &path,
            &family.parent.access,
            &json!({ "decision": "approve" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, first);
    let changed = app
        .post_as(
            &path,
            &family.parent.access,
            &json!({ "decision": "decline" }),
        )
        .await;
    assert_problem(changed, 409, "already-decided").await;
    assert_eq!(app.outbox("signup_approved").await.len(), 1);
    // The student cannot decide for themselves.
    let own = app
        .post_as(
            &path,
            &family.child.access,
            &json!({ "decision": "approve" }),
        )
        .await;
    assert_problem(own, 403, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parents_deciding_at_the_same_moment_produce_one_decision() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let second = app.signup("parent").await;
    app.put_as(
        "/v1/me/parent-profile",
        &second.access,
        &crate::helpers::parent_profile(&crate::helpers::valid_snils()),
    )
    .await;
    app.link_second_parent(&family.parent, &second, &family.child)
        .await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 3))
        .await;
    for round in 0..5 {
        let signup = app.sign_up(&family.child.access, event, 201).await;
        let path = format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap());
        let (approve, decline) = (
            json!({ "decision": "approve" }),
            json!({ "decision": "decline" }),
        );
        let (a, b) = tokio::join!(
            app.post_as(&path, &family.parent.access, &approve),
            app.post_as(&path, &second.access, &decline),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}");
        // Withdraw to sign up again for the next round.
        app.post_as(
            &format!("/v1/signups/{}/withdraw", signup["id"].as_str().unwrap()),
            &family.child.access,
            &json!({}),
        )
        .await;
    }
    let decisions =
        app.outbox("signup_approved").await.len() + app.outbox("signup_declined").await.len();
    assert_eq!(decisions, 5);
}

#[tokio::test]
async fn an_undecided_sign_up_is_reminded_at_half_the_window_then_expires_freeing_the_seat() {
    // Without workers: the test runs the deadline worker's rounds itself, and a background
    // round would otherwise take the backdated sign-up first.
    let app = crate::helpers::spawn_api_only(|_| {}).await;
    let organizer = app.organizer().await;
    let holder = app.family().await;
    let waiting = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 1))
        .await;
    let signup = app.sign_up(&holder.child.access, event, 201).await;
    let queued = app.sign_up(&waiting.child.access, event, 201).await;
    let id = signup["id"].as_str().unwrap();

    assert_eq!(
        bilet::participation::deadlines::remind_due(&app.db)
            .await
            .unwrap(),
        0,
        "not yet"
    );
    app.backdate_signup(id, "reminder_due_at").await;
    assert_eq!(
        bilet::participation::deadlines::remind_due(&app.db)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        bilet::participation::deadlines::remind_due(&app.db)
            .await
            .unwrap(),
        0,
        "reminded once"
    );
    assert_eq!(app.outbox("signup_expiring_soon").await.len(), 1);

    app.backdate_signup(id, "expires_at").await;
    assert_eq!(
        bilet::participation::deadlines::expire_due(&app.db)
            .await
            .unwrap(),
        1
    );
    let expired: Value = app
        .get_as(&format!("/v1/signups/{id}"), &holder.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["end_reason"], "no_decision");
    let promoted: Value = app
        .get_as(
            &format!("/v1/signups/{}", queued["id"].as_str().unwrap()),
            &waiting.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(promoted["status"], "pending_parent");
    assert_eq!(app.outbox("signup_expired").await.len(), 1);
    assert_eq!(app.outbox("waitlist_promoted").await.len(), 1);
}

#[tokio::test]
async fn a_student_or_parent_withdraws_and_the_seat_moves_on() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let a = app.family().await;
    let b = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 1))
        .await;
    let held = app.sign_up(&a.child.access, event, 201).await;
    let queued = app.sign_up(&b.child.access, event, 201).await;
    let withdraw = format!("/v1/signups/{}/withdraw", held["id"].as_str().unwrap());
    let first: Value = app
        .post_as(&withdraw, &a.parent.access, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["status"], "withdrawn");
    let again: Value = app
        .post_as(&withdraw, &a.child.access, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "withdrawn");
    assert_eq!(app.outbox("signup_withdrawn").await.len(), 1);
    // Someone else's sign-up cannot be withdrawn.
    let other = format!("/v1/signups/{}/withdraw", queued["id"].as_str().unwrap());
    assert_problem(
        app.post_as(&other, &a.parent.access, &json!({})).await,
        404,
        "not-found",
    )
    .await;
    let promoted: Value = app
        .get_as(
            &format!("/v1/signups/{}", queued["id"].as_str().unwrap()),
            &b.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(promoted["status"], "pending_parent");
}

#[tokio::test]
async fn withdrawing_personal_data_consent_ends_pending_and_future_sign_ups() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let queued = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 1))
        .await;
    app.sign_up(&family.child.access, event, 201).await;
    let waiting = app.sign_up(&queued.child.access, event, 201).await;
    app.delete_as(
        &format!(
            "/v1/children/{}/consents/personal_data",
            family.child.account_id
        ),
        &family.parent.access,
    )
    .await;
    let mine: Value = app
        .get_as(
            &format!("/v1/signups/{}", waiting["id"].as_str().unwrap()),
            &queued.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        mine["status"], "pending_parent",
        "the freed seat went to the next in line"
    );
    let ended: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, end_reason FROM signups WHERE student_id = $1")
            .bind(family.child.account_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        ended,
        [("withdrawn".to_owned(), Some("consent_withdrawn".to_owned()))]
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 3))
        .await;
    let path = format!("/v1/events/{event}/signups");
    let send = |key: &'static str| {
        app.authed(reqwest::Method::POST, &path, &family.child.access)
            .header("idempotency-key", key)
            .json(&json!({}))
            .send()
    };
    let first = send("k-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first_body = first.text().await.unwrap();
    let retry = send("k-1").await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.text().await.unwrap(), first_body);
    let signups: i64 = sqlx::query_scalar("SELECT count(*) FROM signups")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(signups, 1);
    // Without the key the retry is a second sign-up attempt, refused by the rules.
    assert_problem(
        app.post_as(&path, &family.child.access, &json!({})).await,
        409,
        "already-signed-up",
    )
    .await;

    let signup: Value = serde_json::from_str(&first_body).unwrap();
    let decision = format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap());
    let decide = |body: Value| {
        app.authed(reqwest::Method::POST, &decision, &family.parent.access)
            .header("idempotency-key", "tap-1")
            .json(&body)
            .send()
    };
    assert_eq!(
        decide(json!({ "decision": "approve" }))
            .await
            .unwrap()
            .status(),
        200
    );
    let reused = decide(json!({ "decision": "decline" })).await.unwrap();
    assert_problem(reused, 422, "idempotency-key-reused").await;
    let bad_key = app
        .authed(reqwest::Method::POST, &decision, &family.parent.access)
        .header("idempotency-key", "has spaces in it")
        .json(&json!({ "decision": "approve" }))
        .send()
        .await
        .unwrap();
    assert_problem(bad_key, 422, "validation").await;
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_is_409_and_keys_expire_after_a_day() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 3))
        .await;
    let path = format!("/v1/events/{event}/signups");
    // The first request has claimed the key and is still running.
    let digest = bilet::http::idempotency::request_digest(&format!("POST {path}"), None, b"{}");
    sqlx::query(
        "INSERT INTO idempotency_keys (account_id, key, operation, request_digest) VALUES ($1, 'slow-1', $2, $3)",
    )
    .bind(family.child.account_id)
    .bind(format!("POST {path}"))
    .bind(&digest)
    .execute(&app.db)
    .await
    .unwrap();
    let send = || {
        app.authed(reqwest::Method::POST, &path, &family.child.access)
            .header("idempotency-key", "slow-1")
            .json(&json!({}))
            .send()
    };
    let retry = send().await.unwrap();
    assert!(retry.headers().contains_key("retry-after"));
    assert_problem(retry, 409, "idempotency-in-flight").await;

    // A day later the key is gone, and the same key runs as a new request.
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&app.db)
        .await
        .unwrap();
    let purged = bilet::store::idempotency::purge(
        &app.db,
        chrono::Utc::now() - bilet::http::idempotency::KEEP,
    )
    .await
    .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(send().await.unwrap().status(), 201);
}

#[tokio::test]
async fn cancelling_ends_every_sign_up_and_announces_it_once_with_its_urgency() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let a = app.family().await;
    let b = app.family().await;
    let soon = app
        .publish_event(&organizer, &event_input(Duration::hours(30), 1))
        .await;
    let later = app
        .publish_event(&organizer, &event_input(Duration::days(10), 5))
        .await;
    app.sign_up(&a.child.access, soon, 201).await;
    app.sign_up(&b.child.access, soon, 201).await; // waitlisted
    app.sign_up(&a.child.access, later, 201).await;
    for event in [soon, later] {
        let cancelled: Value = app
            .post_as(
                &format!("/v1/events/{event}/cancel"),
                &organizer.access,
                &json!({ "reason": "Площадка закрыта на ремонт" }),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(
            cancelled["seats_left"],
            5.min(cancelled["capacity"].as_i64().unwrap())
        );
    }
    // Twice changes nothing more.
    app.post_as(
        &format!("/v1/events/{soon}/cancel"),
        &organizer.access,
        &json!({ "reason": "Повторно" }),
    )
    .await;
    let announced = app.outbox("event_cancelled").await;
    assert_eq!(announced.len(), 2);
    assert_eq!(announced[0]["event_id"], soon.to_string());
    assert_eq!(announced[0]["urgent"], true);
    assert_eq!(announced[0]["signups_cancelled"], 2);
    assert_eq!(announced[1]["urgent"], false);
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM signups WHERE status IN ('pending_parent','approved','waitlisted')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(live, 0);
    let mine: Value = app
        .get_as("/v1/me/signups", &b.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (mine[0]["status"].as_str(), mine[0]["end_reason"].as_str()),
        (Some("cancelled"), Some("event_cancelled"))
    );
}

#[tokio::test]
async fn rescheduling_keeps_sign_ups_and_announces_old_and_new_times() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let body = event_input(Duration::days(10), 3);
    let event = app.publish_event(&organizer, &body).await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    let new_start = chrono::Utc::now() + Duration::hours(20);
    let moved: Value = app
        .post_as(
            &format!("/v1/events/{event}/reschedule"),
            &organizer.access,
            &json!({ "starts_at": new_start, "ends_at": new_start + Duration::hours(2), "address": "ул. Пушкина, 10" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["address"], "ул. Пушкина, 10");
    let announced = app.outbox("event_rescheduled").await;
    assert_eq!(announced.len(), 1);
    assert_eq!(
        announced[0]["urgent"], true,
        "the new start is within 48 hours"
    );
    assert_eq!(announced[0]["place_changed"], true);
    let micros = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_micros()
    };
    assert_eq!(
        micros(&announced[0]["old_starts_at"]),
        micros(&body["starts_at"])
    );
    assert_eq!(
        micros(&announced[0]["new_starts_at"]),
        new_start.timestamp_micros()
    );
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
    let bad = app
        .post_as(
            &format!("/v1/events/{event}/reschedule"),
            &organizer.access,
            &json!({ "starts_at": new_start, "ends_at": new_start - Duration::hours(1) }),
        )
        .await;
    assert_problem(bad, 422, "validation").await;
}

#[tokio::test]
async fn a_rolled_back_change_leaves_no_outbox_rows() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 3))
        .await;
    let mut tx = app.db.begin().await.unwrap();
    let signup = bilet::participation::sign_up(
        &mut tx,
        bilet::domain::ids::EventId(event),
        bilet::domain::ids::AccountId(family.child.account_id),
    )
    .await
    .unwrap();
    assert_eq!(
        signup.status,
        bilet::domain::events::SignupStatus::PendingParent
    );
    let inside: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'signup_requested'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(inside, 1, "written in the same transaction");
    tx.rollback().await.unwrap();
    assert!(app.outbox("signup_requested").await.is_empty());
    let held: i32 = sqlx::query_scalar("SELECT seats_held FROM events WHERE id = $1")
        .bind(event)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(held, 0);
}
