//! After the sign-up (issue 16): a parent looks for events for their child and signs them
//! up, the check-in at the door with a short-lived signed code, attendance by hand, the
//! mentor's assessment and the student's feedback, and who may see or do each.

use bilet::domain::ids::AccountId;
use bilet::notify::providers::ChannelKind;
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Family, Person, TestApp, assert_matches_contract, assert_problem, event_input, push_data,
    spawn_app,
};

impl TestApp {
    /// A parent signs their child up; returns the body, asserting `status`.
    async fn sign_up_child(&self, family: &Family, event: Uuid, status: u16) -> Value {
        let response = self
            .post_as(
                &format!("/v1/children/{}/signups", family.child.account_id),
                &family.parent.access,
                &json!({ "event_id": event }),
            )
            .await;
        let got = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(got, status, "sign up child: {body}");
        body
    }

    /// Moves an event in time, as if the clock had run: it starts `starts_in` from now
    /// (negative: it began that long ago) and lasts `lasts`.
    async fn shift_event(&self, event: Uuid, starts_in: Duration, lasts: Duration) {
        let starts_at = Utc::now() + starts_in;
        sqlx::query(
            "UPDATE events SET starts_at = $2, ends_at = $3, signup_deadline = LEAST(signup_deadline, $2)
             WHERE id = $1",
        )
        .bind(event)
        .bind(starts_at)
        .bind(starts_at + lasts)
        .execute(&self.db)
        .await
        .unwrap();
    }

    async fn check_in_code(&self, student: &Person) -> String {
        let response = self.get_as("/v1/me/check-in-code", &student.access).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["code"].as_str().unwrap().to_owned()
    }

    async fn scan(&self, organizer: &Person, event: Uuid, code: &str) -> reqwest::Response {
        self.post_as(
            &format!("/v1/events/{event}/check-ins"),
            &organizer.access,
            &json!({ "code": code }),
        )
        .await
    }

    async fn mark(
        &self,
        organizer: &Person,
        event: Uuid,
        signup: &str,
        status: &str,
    ) -> reqwest::Response {
        self.put_as(
            &format!("/v1/events/{event}/attendance/{signup}"),
            &organizer.access,
            &json!({ "status": status }),
        )
        .await
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.unwrap()
    }
}

/// A family whose child holds an approved seat (signed up by the parent) at an event of
/// `organizer`'s, which starts in 30 minutes and lasts 3 hours; returns the event and the
/// sign-up id.
async fn approved_at_door(app: &TestApp, organizer: &Person, family: &Family) -> (Uuid, String) {
    let event = app
        .publish_event(organizer, &event_input(Duration::days(5), 10))
        .await;
    let signup = app.sign_up_child(family, event, 201).await;
    app.shift_event(event, Duration::minutes(30), Duration::hours(3))
        .await;
    (event, signup["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_parent_sees_the_childs_events_and_signs_them_up_approved_at_once_and_the_child_is_told()
{
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let token = format!("child-{}", Uuid::new_v4().simple());
    app.register_device(&family.child, &token, "ios").await;
    let suits = app
        .publish_event(&organizer, &event_input(Duration::days(5), 10))
        .await;
    let mut seniors = event_input(Duration::days(6), 10);
    seniors["grade_min"] = json!(10);
    seniors["grade_max"] = json!(11);
    let too_old = app.publish_event(&organizer, &seniors).await;

    let child_id = family.child.account_id;
    let listed: Value = app
        .get_as(
            &format!("/v1/children/{child_id}/events"),
            &family.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    let own: Value = app
        .get_as("/v1/events", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&suits.to_string().as_str()), "{listed}");
    assert!(!ids.contains(&too_old.to_string().as_str()), "grade 7 only");
    assert_eq!(listed, own, "the child's own listing, exactly");

    let path = format!("/v1/children/{child_id}/signups");
    let send = || {
        app.authed(Method::POST, &path, &family.parent.access)
            .header("idempotency-key", "parent-tap-1")
            .json(&json!({ "event_id": suits }))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let body = first.text().await.unwrap();
    let signup: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(signup["status"], "approved", "{signup}");
    assert_eq!(signup["student_account_id"], child_id.to_string());
    assert_eq!(
        signup["decided_by_account_id"],
        family.parent.account_id.to_string()
    );
    assert!(signup["expires_at"].is_null(), "no decision is awaited");
    let retry = send().await.unwrap();
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.text().await.unwrap(), body);
    assert_problem(
        app.post_as(&path, &family.parent.access, &json!({ "event_id": suits }))
            .await,
        409,
        "already-signed-up",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM signups").await, 1);
    assert!(
        app.outbox("signup_requested").await.is_empty(),
        "nobody to ask"
    );
    let approved = app.outbox("signup_approved").await;
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["by"], family.parent.account_id.to_string());

    let pushed = app.received(ChannelKind::Apns, &token, 1).await;
    let data = push_data(&pushed[0]);
    assert_eq!(data["kind"], "signup_approved");
    assert_eq!(data["signup_id"], signup["id"]);
    assert_matches_contract(&pushed[0], "apns");
    assert!(
        !pushed[0].body.to_string().contains("Анна"),
        "no names in a push"
    );

    // Not for grade 7: the student's own rule.
    assert_problem(
        app.post_as(
            &path,
            &family.parent.access,
            &json!({ "event_id": too_old }),
        )
        .await,
        409,
        "grade-out-of-range",
    )
    .await;
}

#[tokio::test]
async fn a_full_event_puts_the_child_on_the_waitlist_and_a_freed_seat_is_approved_at_once() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (first, second) = (app.family().await, app.family().await);
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 1))
        .await;
    let held = app.sign_up(&first.child.access, event, 201).await;
    assert_eq!(held["status"], "pending_parent");
    let waiting = app.sign_up_child(&second, event, 201).await;
    assert_eq!(waiting["status"], "waitlisted");
    assert_eq!(waiting["waitlist_position"], 1);

    let withdrawn = app
        .post_as(
            &format!("/v1/signups/{}/withdraw", held["id"].as_str().unwrap()),
            &first.child.access,
            &json!({}),
        )
        .await;
    assert_eq!(withdrawn.status(), 200);
    let now: Value = app
        .get_as(
            &format!("/v1/signups/{}", waiting["id"].as_str().unwrap()),
            &second.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        now["status"], "approved",
        "the parent already decided: {now}"
    );
    assert!(app.outbox("waitlist_promoted").await.is_empty());
}

#[tokio::test]
async fn another_familys_parent_cannot_list_or_sign_up_the_child_and_nothing_changes() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (victim, other) = (app.family().await, app.family().await);
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 10))
        .await;
    let child = victim.child.account_id;
    assert_problem(
        app.get_as(
            &format!("/v1/children/{child}/events"),
            &other.parent.access,
        )
        .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.post_as(
            &format!("/v1/children/{child}/signups"),
            &other.parent.access,
            &json!({ "event_id": event }),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    // A student cannot use a parent's door, even for themself.
    assert_problem(
        app.post_as(
            &format!("/v1/children/{child}/signups"),
            &victim.child.access,
            &json!({ "event_id": event }),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM signups").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind LIKE 'signup%'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_scanned_code_checks_the_student_in_once_and_the_parent_is_told_without_names() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let token = format!("parent-{}", Uuid::new_v4().simple());
    app.register_device(&family.parent, &token, "ios").await;
    let (event, signup) = approved_at_door(&app, &organizer, &family).await;

    let issued: Value = app
        .get_as("/v1/me/check-in-code", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    let code = issued["code"].as_str().unwrap();
    assert!(code.len() < 80, "fits a small QR: {code}");
    assert_eq!(issued["valid_seconds"], 60);
    let response = app.scan(&organizer, event, code).await;
    assert_eq!(response.status(), 200);
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["status"], "present");
    assert_eq!(first["method"], "scan");
    assert_eq!(first["signup_id"], signup);

    // Scanned twice, with the same code or a fresh one: the same answer, one row.
    let again: Value = app
        .scan(&organizer, event, code)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, first);
    let fresh = app.check_in_code(&family.child).await;
    assert_ne!(fresh, code, "codes rotate");
    let third: Value = app
        .scan(&organizer, event, &fresh)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(third, first);
    assert_eq!(app.count("SELECT count(*) FROM attendance").await, 1);
    assert_eq!(app.outbox("child_checked_in").await.len(), 1);

    let pushed = app.received(ChannelKind::Apns, &token, 1).await;
    let data = push_data(&pushed[0]);
    assert_eq!(data["kind"], "child_checked_in");
    assert_eq!(data["student_id"], family.child.account_id.to_string());
    assert_matches_contract(&pushed[0], "apns");
    let text = pushed[0].body.to_string();
    for personal in ["Анна", "Смирнова", &family.child.email] {
        assert!(!text.contains(personal), "{personal} in the push");
    }
    // The child is not told they arrived.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM notifications WHERE kind = 'child_checked_in' AND account_id = '{}'",
            family.child.account_id
        ))
        .await,
        0
    );
    // The family sees it.
    let outcome: Value = app
        .get_as(
            &format!("/v1/signups/{signup}/outcome"),
            &family.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["attendance"]["status"], "present");
}

#[tokio::test]
async fn forged_expired_replayed_and_foreign_codes_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, stranger) = (app.family().await, app.family().await);
    let (event, _) = approved_at_door(&app, &organizer, &family).await;
    let code = app.check_in_code(&family.child).await;

    let mut forged = code.clone();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);
    assert_problem(
        app.scan(&organizer, event, &forged).await,
        422,
        "check-in-code-invalid",
    )
    .await;
    assert_problem(
        app.scan(&organizer, event, "not-a-code").await,
        422,
        "check-in-code-invalid",
    )
    .await;
    // Another student's identity cannot be claimed: the code is signed with the service's key.
    let old = bilet::security::check_in::issue(
        &app.state.index,
        AccountId(family.child.account_id),
        Utc::now() - Duration::seconds(61),
    );
    assert_problem(
        app.scan(&organizer, event, &old.code).await,
        422,
        "check-in-code-expired",
    )
    .await;
    // A student with no approved sign-up for this event.
    let theirs = app.check_in_code(&stranger.child).await;
    assert_problem(
        app.scan(&organizer, event, &theirs).await,
        409,
        "not-approved",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM attendance").await, 0);

    // Replayed: a code used at one event, shown again at another of the same day.
    let later = app
        .publish_event(&organizer, &event_input(Duration::days(8), 10))
        .await;
    app.sign_up_child(&family, later, 201).await;
    app.shift_event(later, Duration::minutes(40), Duration::hours(1))
        .await;
    assert_eq!(app.scan(&organizer, event, &code).await.status(), 200);
    assert_problem(
        app.scan(&organizer, later, &code).await,
        409,
        "check-in-code-used",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM attendance").await, 1);

    // Not yet open: more than an hour before the start.
    let next_week = app
        .publish_event(&organizer, &event_input(Duration::days(10), 10))
        .await;
    app.sign_up_child(&family, next_week, 201).await;
    let fresh = app.check_in_code(&family.child).await;
    assert_problem(
        app.scan(&organizer, next_week, &fresh).await,
        409,
        "check-in-closed",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM attendance").await, 1);
    assert_eq!(app.outbox("child_checked_in").await.len(), 1);
}

#[tokio::test]
async fn an_organizer_of_another_organization_cannot_scan_mark_assess_or_read_feedback() {
    let app = spawn_app().await;
    let (organizer, rival) = (app.organizer().await, app.organizer().await);
    let family = app.family().await;
    let (event, signup) = approved_at_door(&app, &organizer, &family).await;
    let code = app.check_in_code(&family.child).await;
    assert_problem(app.scan(&rival, event, &code).await, 404, "not-found").await;
    assert_problem(
        app.mark(&rival, event, &signup, "present").await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.put_as(
            &format!("/v1/signups/{signup}/assessment"),
            &rival.access,
            &json!({ "level": "advanced" }),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.get_as(
            &format!("/v1/events/{event}/feedback-summary"),
            &rival.access,
        )
        .await,
        404,
        "not-found",
    )
    .await;
    // A parent or a student is not an organizer at all.
    assert_problem(
        app.scan(&family.parent, event, &code).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.mark(&family.child, event, &signup, "present").await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM attendance").await, 0);
    // The code was not spent by the refused scans: the right organizer takes it.
    assert_eq!(app.scan(&organizer, event, &code).await.status(), 200);
}

#[tokio::test]
async fn attendance_marked_by_hand_tells_the_parent_once_when_the_child_is_present() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let (event, signup) = approved_at_door(&app, &organizer, &family).await;
    let absent: Value = app
        .mark(&organizer, event, &signup, "absent")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(absent["status"], "absent");
    assert_eq!(absent["method"], "manual");
    assert!(app.outbox("child_checked_in").await.is_empty());
    for _ in 0..2 {
        let present = app.mark(&organizer, event, &signup, "present").await;
        assert_eq!(present.status(), 200);
    }
    assert_eq!(app.outbox("child_checked_in").await.len(), 1, "told once");
    assert_eq!(app.count("SELECT count(*) FROM attendance").await, 1);
    // An unknown sign-up, or one of another event.
    assert_problem(
        app.mark(&organizer, event, &Uuid::now_v7().to_string(), "present")
            .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.put_as(
            &format!("/v1/events/{event}/attendance/{signup}"),
            &organizer.access,
            &json!({ "status": "late" }),
        )
        .await,
        422,
        "validation",
    )
    .await;
}

#[tokio::test]
async fn the_mentor_assesses_a_student_who_came_within_seven_days_after_the_end() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, other) = (app.family().await, app.family().await);
    let (event, signup) = approved_at_door(&app, &organizer, &family).await;
    let path = format!("/v1/signups/{signup}/assessment");
    let body = json!({ "level": "confident", "comment": "Уверенно собрал схему." });
    // Not before the end.
    assert_eq!(
        app.mark(&organizer, event, &signup, "absent")
            .await
            .status(),
        200
    );
    app.shift_event(event, Duration::hours(-4), Duration::hours(3))
        .await;
    assert_problem(
        app.put_as(&path, &organizer.access, &body).await,
        409,
        "not-attended",
    )
    .await;
    assert_eq!(
        app.mark(&organizer, event, &signup, "present")
            .await
            .status(),
        200
    );
    let put = app.put_as(&path, &organizer.access, &body).await;
    assert_eq!(put.status(), 200);
    let changed = app
        .put_as(&path, &organizer.access, &json!({ "level": "advanced" }))
        .await;
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["level"], "advanced");
    assert_problem(
        app.put_as(&path, &organizer.access, &json!({ "level": "expert" }))
            .await,
        422,
        "validation",
    )
    .await;
    assert_problem(
        app.put_as(
            &path,
            &organizer.access,
            &json!({ "level": "beginner", "comment": "я".repeat(501) }),
        )
        .await,
        422,
        "validation",
    )
    .await;
    for person in [&family.child, &family.parent] {
        let outcome: Value = app
            .get_as(&format!("/v1/signups/{signup}/outcome"), &person.access)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(outcome["assessment"]["level"], "advanced", "{outcome}");
    }
    for outsider in [&other.parent, &other.child] {
        assert_problem(
            app.get_as(&format!("/v1/signups/{signup}/outcome"), &outsider.access)
                .await,
            404,
            "not-found",
        )
        .await;
    }
    // Eight days after the end, too late.
    app.shift_event(event, Duration::days(-8), Duration::hours(3))
        .await;
    assert_problem(
        app.put_as(&path, &organizer.access, &body).await,
        409,
        "assessment-closed",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM assessments WHERE level = 'advanced'")
            .await,
        1
    );
}

#[tokio::test]
async fn only_the_student_gives_feedback_once_after_an_event_they_attended() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (family, other) = (app.family().await, app.family().await);
    let (event, signup) = approved_at_door(&app, &organizer, &family).await;
    let path = format!("/v1/signups/{signup}/feedback");
    let body = json!({ "rating": 5, "wants_to_continue": true, "comment": "Хочу ещё!" });
    assert_eq!(
        app.mark(&organizer, event, &signup, "present")
            .await
            .status(),
        200
    );
    assert_problem(
        app.post_as(&path, &family.child.access, &body).await,
        409,
        "event-not-over",
    )
    .await;
    app.shift_event(event, Duration::hours(-4), Duration::hours(3))
        .await;
    // Nobody but the student: not the parent, not the organizer, not another student.
    for (who, status, slug) in [
        (&family.parent, 403, "forbidden"),
        (&organizer, 403, "forbidden"),
        (&other.child, 404, "not-found"),
        (&other.parent, 403, "forbidden"),
    ] {
        assert_problem(app.post_as(&path, &who.access, &body).await, status, slug).await;
    }
    assert_problem(
        app.post_as(
            &path,
            &family.child.access,
            &json!({ "rating": 6, "wants_to_continue": true }),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM feedback").await, 0);
    let given = app.post_as(&path, &family.child.access, &body).await;
    assert_eq!(given.status(), 201);
    assert_problem(
        app.post_as(
            &path,
            &family.child.access,
            &json!({ "rating": 1, "wants_to_continue": false }),
        )
        .await,
        409,
        "feedback-given",
    )
    .await;
    let outcome: Value = app
        .get_as(
            &format!("/v1/signups/{signup}/outcome"),
            &family.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["feedback"]["rating"], 5);
    assert_eq!(outcome["feedback"]["wants_to_continue"], true);
    // And in the family's export of their data.
    let export: Value = app
        .get_as("/v1/me/export", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        export["signups"][0]["outcome"]["feedback"]["comment"],
        "Хочу ещё!"
    );
    assert_eq!(
        export["signups"][0]["outcome"]["attendance"]["status"],
        "present"
    );

    // A student who did not come gives none.
    let (absent_event, absent_signup) = approved_at_door(&app, &organizer, &other).await;
    app.shift_event(absent_event, Duration::hours(-30), Duration::hours(3))
        .await;
    assert_problem(
        app.post_as(
            &format!("/v1/signups/{absent_signup}/feedback"),
            &other.child.access,
            &body,
        )
        .await,
        409,
        "not-attended",
    )
    .await;
}

#[tokio::test]
async fn the_organization_sees_feedback_only_in_aggregate_and_only_from_three_answers() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 10))
        .await;
    let students = app.seed_students(3).await;
    let mut signups = Vec::new();
    for student in &students {
        let signup = app.sign_up(&student.access, event, 201).await;
        signups.push(signup["id"].as_str().unwrap().to_owned());
    }
    // Their parents approved (seeded parents have no sessions).
    sqlx::query("UPDATE signups SET status = 'approved', decided_at = now() WHERE event_id = $1")
        .bind(event)
        .execute(&app.db)
        .await
        .unwrap();
    app.shift_event(event, Duration::minutes(30), Duration::hours(3))
        .await;
    for signup in &signups {
        assert_eq!(
            app.mark(&organizer, event, signup, "present")
                .await
                .status(),
            200
        );
    }
    app.shift_event(event, Duration::hours(-4), Duration::hours(3))
        .await;
    let summary = || async {
        let response = app
            .get_as(
                &format!("/v1/events/{event}/feedback-summary"),
                &organizer.access,
            )
            .await;
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let answers = [
        (5, true, "Секрет один"),
        (4, false, "Секрет два"),
        (2, true, "Секрет три"),
    ];
    for (i, ((rating, wants, comment), (student, signup))) in answers
        .iter()
        .zip(students.iter().zip(&signups))
        .enumerate()
    {
        let given = app
            .post_as(
                &format!("/v1/signups/{signup}/feedback"),
                &student.access,
                &json!({ "rating": rating, "wants_to_continue": wants, "comment": comment }),
            )
            .await;
        assert_eq!(given.status(), 201);
        let text = summary().await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["answers"], i + 1);
        if i < 2 {
            assert!(body["average_rating"].is_null(), "too few to show: {body}");
            assert!(body["wants_to_continue_share"].is_null(), "{body}");
        } else {
            assert_eq!(body["average_rating"], 3.7);
            assert_eq!(body["wants_to_continue_share"], 0.67);
        }
        for (_, _, secret) in answers {
            assert!(!text.contains(secret), "a comment leaked: {text}");
        }
        for student in &students {
            assert!(
                !text.contains(&student.account_id.to_string()),
                "a student named"
            );
        }
    }
    // The organizer cannot read one student's outcome either.
    assert_problem(
        app.get_as(
            &format!("/v1/signups/{}/outcome", signups[0]),
            &organizer.access,
        )
        .await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn a_parent_who_switched_arrivals_off_is_not_told_and_the_other_parent_is() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let second = app.signup("parent").await;
    app.link_second_parent(&family.parent, &second, &family.child)
        .await;
    let quiet = format!("quiet-{}", Uuid::new_v4().simple());
    let told = format!("told-{}", Uuid::new_v4().simple());
    app.register_device(&family.parent, &quiet, "ios").await;
    app.register_device(&second, &told, "ios").await;
    let off = app
        .put_as(
            "/v1/me/notification-preferences",
            &family.parent.access,
            &json!({ "language": "ru", "time_zone": "Europe/Moscow",
                     "disabled": { "child_checked_in": ["push", "email"] } }),
        )
        .await;
    assert_eq!(off.status(), 200, "child_checked_in is a configurable kind");
    let (event, _) = approved_at_door(&app, &organizer, &family).await;
    let code = app.check_in_code(&family.child).await;
    assert_eq!(app.scan(&organizer, event, &code).await.status(), 200);

    let pushed = app.received(ChannelKind::Apns, &told, 1).await;
    assert_eq!(push_data(&pushed[0])["kind"], "child_checked_in");
    app.settled("child_checked_in").await;
    assert!(
        app.ledger_of(family.parent.account_id, "child_checked_in")
            .await
            .is_empty(),
        "switched off"
    );
}

#[tokio::test]
async fn recommendations_rest_on_what_happened_and_the_family_is_told_once_of_new_ones() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    // A medicine trial: no test result points there, so only what happens there counts.
    let mut trial = event_input(Duration::days(5), 10);
    trial["profession_area"] = json!("medicine");
    trial["title"] = json!("Один день в клинике");
    let trial = app.publish_event(&organizer, &trial).await;
    let signup = app.sign_up_child(&family, trial, 201).await;
    let signup = signup["id"].as_str().unwrap().to_owned();
    let mut next = event_input(Duration::days(20), 10);
    next["profession_area"] = json!("medicine");
    next["title"] = json!("Проба: фельдшер скорой помощи");
    let next = app.publish_event(&organizer, &next).await;
    let recommended = |person: &Person| {
        let path = if person.account_id == family.child.account_id {
            "/v1/me/recommendations".to_owned()
        } else {
            format!("/v1/children/{}/recommendations", family.child.account_id)
        };
        let access = person.access.clone();
        let app = &app;
        async move {
            let response = app.get_as(&path, &access).await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };

    // Approved but never came: nothing to go on.
    app.shift_event(trial, Duration::hours(-4), Duration::hours(3))
        .await;
    assert_eq!(recommended(&family.child).await["items"], json!([]));

    // Came (marked present), then said they want to go further: the next medicine trial is
    // recommended, saying why, to the child and to the parent.
    app.shift_event(trial, Duration::minutes(-30), Duration::hours(3))
        .await;
    let code = app.check_in_code(&family.child).await;
    assert_eq!(app.scan(&organizer, trial, &code).await.status(), 200);
    app.shift_event(trial, Duration::hours(-4), Duration::hours(3))
        .await;
    assert_eq!(recommended(&family.child).await["items"], json!([]));
    let feedback = app
        .post_as(
            &format!("/v1/signups/{signup}/feedback"),
            &family.child.access,
            &json!({ "rating": 5, "wants_to_continue": true }),
        )
        .await;
    assert_eq!(feedback.status(), 201);
    for person in [&family.child, &family.parent] {
        let got = recommended(person).await;
        assert_eq!(got["items"][0]["event_id"], json!(next), "{got}");
        assert_eq!(
            got["items"][0]["reason"],
            "Проба «Один день в клинике» понравилась, и хочется продолжить"
        );
        assert_eq!(got["basis"]["trials"][0]["event_id"], json!(trial));
        assert_eq!(got["basis"]["trials"][0]["wants_to_continue"], true);
    }
    let counts = app.settled("recommendations_ready").await;
    assert!(
        counts.iter().any(|(_, status, _)| status == "delivered"),
        "{counts:?}"
    );
    let told: Vec<Value> =
        sqlx::query_scalar("SELECT payload FROM outbox WHERE kind = 'recommendations_ready'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        told,
        [json!({ "student_id": family.child.account_id, "event_id": trial, "new_count": 1 })]
    );
    let push = app
        .received(ChannelKind::Email, &family.parent.email, 1)
        .await;
    assert!(
        push.iter().any(|m| m
            .headers
            .get("subject")
            .is_some_and(|s| s.contains("рекомендации"))),
        "{push:?}"
    );

    // The mentor's level adds a reason, but recommends nothing new: no second notice.
    let assessed = app
        .put_as(
            &format!("/v1/signups/{signup}/assessment"),
            &organizer.access,
            &json!({ "level": "advanced" }),
        )
        .await;
    assert_eq!(assessed.status(), 200);
    let got = recommended(&family.child).await;
    assert_eq!(
        got["items"][0]["reason"],
        "Проба «Один день в клинике» понравилась, и хочется продолжить; \
         наставник отметил продвинутый уровень на пробе «Один день в клинике»"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind = 'recommendations_ready'")
            .await,
        1
    );
}
