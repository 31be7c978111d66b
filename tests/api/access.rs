//! The access matrix: every endpoint that takes an object id, called by someone of another
//! family, by a student, by an organizer and without a token. Each must answer 404, 403 or
//! 401, leak nothing of the object, and change nothing. Later capabilities add their
//! endpoints to `cases`.

use bilet::admin::StaffRole;
use reqwest::Method;
use serde_json::{Value, json};

use chrono::Duration;

use crate::helpers::{Family, Person, TestApp, event_input, spawn_app};

/// The victim family and the objects of theirs that others will try to reach.
struct Fixture {
    family: Family,
    invitation_id: String,
    /// The child's open (timed) attempt.
    open_attempt_id: String,
    /// The child's finished attempt, with a result.
    finished_attempt_id: String,
    event_id: String,
    signup_id: String,
    /// The parent's push token and the notification asking them to decide.
    device_token: String,
    notification_id: String,
    notice_id: String,
    /// A fresh check-in code of the child's.
    check_in_code: String,
}

/// One call to try.
struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
}

fn case(method: Method, path: String, body: Option<Value>) -> Case {
    Case { method, path, body }
}

fn cases(f: &Fixture) -> Vec<Case> {
    let child = f.family.child.account_id;
    let consent = json!({
        "kind": "photo_video", "text_version": "photo_video/v1",
        "passport_series": "4510", "passport_number": "123456",
    });
    let health = json!({ "disability": true, "needs": ["vision"] });
    let (open, finished) = (&f.open_attempt_id, &f.finished_attempt_id);
    let answer = json!({ "value": { "option": "a" }, "seq": 9, "client_time": chrono::Utc::now() });
    let batch = json!({ "answers": [{ "question_id": "q02", "value": { "option": "a" }, "seq": 9,
        "client_time": chrono::Utc::now() }] });
    vec![
        case(Method::GET, format!("/v1/attempts/{open}"), None),
        case(Method::GET, format!("/v1/attempts/{finished}"), None),
        case(
            Method::PUT,
            format!("/v1/attempts/{open}/answers/q01"),
            Some(answer),
        ),
        case(
            Method::POST,
            format!("/v1/attempts/{open}/answers:batch"),
            Some(batch),
        ),
        case(
            Method::POST,
            format!("/v1/attempts/{open}/finish"),
            Some(json!({})),
        ),
        case(Method::GET, format!("/v1/attempts/{finished}/result"), None),
        case(Method::GET, format!("/v1/children/{child}/results"), None),
        case(
            Method::GET,
            format!("/v1/children/{child}/recommendations"),
            None,
        ),
        case(Method::GET, format!("/v1/children/{child}/profile"), None),
        case(
            Method::PUT,
            format!("/v1/children/{child}/health"),
            Some(health),
        ),
        case(Method::GET, format!("/v1/children/{child}/consents"), None),
        case(
            Method::POST,
            format!("/v1/children/{child}/consents"),
            Some(consent),
        ),
        case(
            Method::DELETE,
            format!("/v1/children/{child}/consents/personal_data"),
            None,
        ),
        case(Method::DELETE, format!("/v1/me/children/{child}"), None),
        case(
            Method::DELETE,
            format!("/v1/me/sessions/{}", f.family.parent.session_id),
            None,
        ),
        case(
            Method::POST,
            format!("/v1/invitations/{}/accept", f.invitation_id),
            Some(json!({})),
        ),
        case(
            Method::POST,
            format!("/v1/invitations/{}/decline", f.invitation_id),
            Some(json!({})),
        ),
        case(
            Method::POST,
            format!("/v1/notifications/{}/read", f.notification_id),
            Some(json!({})),
        ),
        case(
            Method::POST,
            format!("/v1/notifications/{}/ack", f.notification_id),
            Some(json!({})),
        ),
        case(
            Method::DELETE,
            format!("/v1/devices/{}", f.device_token),
            None,
        ),
        case(
            Method::GET,
            format!("/v1/notices/{}/deliveries", f.notice_id),
            None,
        ),
        case(
            Method::POST,
            format!("/v1/admin/dead-letters/{}/replay", f.notification_id),
            Some(json!({})),
        ),
        case(Method::GET, format!("/v1/signups/{}", f.signup_id), None),
        case(
            Method::POST,
            format!("/v1/signups/{}/decision", f.signup_id),
            Some(json!({ "decision": "decline" })),
        ),
        case(
            Method::POST,
            format!("/v1/signups/{}/withdraw", f.signup_id),
            Some(json!({})),
        ),
        case(
            Method::GET,
            format!("/v1/events/{}/roster", f.event_id),
            None,
        ),
        case(
            Method::GET,
            format!("/v1/events/{}/announcements", f.event_id),
            None,
        ),
        case(
            Method::PUT,
            format!("/v1/events/{}", f.event_id),
            Some(event_input(Duration::days(6), 1)),
        ),
        case(
            Method::POST,
            format!("/v1/events/{}/publish", f.event_id),
            Some(json!({})),
        ),
        case(
            Method::POST,
            format!("/v1/events/{}/cancel", f.event_id),
            Some(json!({ "reason": "чужое событие" })),
        ),
        case(Method::GET, format!("/v1/children/{child}/events"), None),
        case(
            Method::POST,
            format!("/v1/children/{child}/signups"),
            Some(json!({ "event_id": f.event_id })),
        ),
        case(
            Method::POST,
            format!("/v1/events/{}/check-ins", f.event_id),
            Some(json!({ "code": f.check_in_code })),
        ),
        case(
            Method::PUT,
            format!("/v1/events/{}/attendance/{}", f.event_id, f.signup_id),
            Some(json!({ "status": "present" })),
        ),
        case(
            Method::PUT,
            format!("/v1/signups/{}/assessment", f.signup_id),
            Some(json!({ "level": "advanced", "comment": "чужой" })),
        ),
        case(
            Method::POST,
            format!("/v1/signups/{}/feedback", f.signup_id),
            Some(json!({ "rating": 1, "wants_to_continue": false })),
        ),
        case(
            Method::GET,
            format!("/v1/signups/{}/outcome", f.signup_id),
            None,
        ),
        case(
            Method::GET,
            format!("/v1/events/{}/feedback-summary", f.event_id),
            None,
        ),
        case(
            Method::POST,
            format!("/v1/events/{}/reschedule", f.event_id),
            Some(json!({
                "starts_at": chrono::Utc::now() + Duration::days(7),
                "ends_at": chrono::Utc::now() + Duration::days(7) + Duration::hours(1),
            })),
        ),
    ]
}

async fn fixture(app: &TestApp) -> Fixture {
    let family = app.family().await;
    let second_parent = app.signup("parent").await;
    app.post_as(
        "/v1/me/invitations",
        &second_parent.access,
        &json!({ "child_email": family.child.email }),
    )
    .await;
    let open: Value = app
        .get_as("/v1/me/invitations", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    let (open_attempt_id, finished_attempt_id) = attempts(app, &family.child).await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 10))
        .await;
    let device_token = format!("victim-{}", uuid::Uuid::new_v4().simple());
    app.register_device(&family.parent, &device_token, "ios")
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    let notification_id: uuid::Uuid = crate::helpers::eventually(
        std::time::Duration::from_secs(20),
        "the parent's approval request",
        || async {
            sqlx::query_scalar(
                "SELECT id FROM notifications WHERE account_id = $1 AND kind = 'signup_requested'",
            )
            .bind(family.parent.account_id)
            .fetch_optional(&app.db)
            .await
            .ok()
            .flatten()
        },
    )
    .await;
    let notice: Value = app
        .post_as(
            &format!("/v1/events/{event}/notices"),
            &organizer.access,
            &json!({ "text": "Сбор у входа" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let code: Value = app
        .get_as("/v1/me/check-in-code", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    Fixture {
        check_in_code: code["code"].as_str().unwrap().to_owned(),
        family,
        invitation_id: open[0]["id"].as_str().unwrap().to_owned(),
        open_attempt_id,
        finished_attempt_id,
        event_id: event.to_string(),
        signup_id: signup["id"].as_str().unwrap().to_owned(),
        device_token,
        notification_id: notification_id.to_string(),
        notice_id: notice["notice_id"].as_str().unwrap().to_owned(),
    }
}

/// An open quiz attempt with one answer, and a finished Klimov attempt with its result.
async fn attempts(app: &TestApp, child: &Person) -> (String, String) {
    let start = |test: &'static str| async move {
        let attempt: Value = app
            .post_as(
                &format!("/v1/tests/{test}/attempts"),
                &child.access,
                &json!({}),
            )
            .await
            .json()
            .await
            .unwrap();
        attempt["id"].as_str().unwrap().to_owned()
    };
    let open = start("professions-quiz").await;
    let response = app
        .put_as(
            &format!("/v1/attempts/{open}/answers/q01"),
            &child.access,
            &json!({ "value": { "option": "b" }, "seq": 1, "client_time": chrono::Utc::now() }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let finished = app.finish_klimov(child, "b").await;
    (open, finished)
}

/// What must never appear in a response to an outsider.
fn secrets(f: &Fixture) -> Vec<String> {
    vec![
        "Смирнова".to_owned(),
        f.family.child_snils.clone(),
        f.family.child.email.clone(),
        "IV-МЮ".to_owned(),
        // Only the child's result says this (all б answers: знаковая система leads).
        "Человек — знаковая система".to_owned(),
    ]
}

#[tokio::test]
async fn nobody_outside_the_family_reaches_its_objects() {
    let app = spawn_app().await;
    let victim = fixture(&app).await;
    let other_family = app.family().await;
    let organizer = app.staff(StaffRole::Organizer, Some("Технопарк")).await;
    let callers: Vec<(&str, Option<&Person>, &[u16])> = vec![
        (
            "a parent of another family",
            Some(&other_family.parent),
            &[403, 404],
        ),
        (
            "a student of another family",
            Some(&other_family.child),
            &[403, 404],
        ),
        ("an organizer", Some(&organizer), &[403, 404]),
        ("no token", None, &[401]),
    ];
    for case in cases(&victim) {
        for (who, person, allowed) in &callers {
            let mut request = app.client.request(case.method.clone(), app.url(&case.path));
            if let Some(person) = person {
                request = request.bearer_auth(&person.access);
            }
            if let Some(body) = &case.body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(
                allowed.contains(&status),
                "{} {} by {who}: {status} {text}",
                case.method,
                case.path
            );
            for secret in secrets(&victim) {
                assert!(
                    !text.contains(&secret),
                    "{} {} by {who} leaked {secret}",
                    case.method,
                    case.path
                );
            }
        }
    }
    assert_nothing_changed(&app, &victim).await;
}

async fn assert_nothing_changed(app: &TestApp, f: &Fixture) {
    let family = &f.family;
    let children: Value = app
        .get_as("/v1/me/children", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        children[0]["account_id"],
        family.child.account_id.to_string(),
        "still linked"
    );
    let consents: Value = app
        .get_as(
            &format!("/v1/children/{}/consents", family.child.account_id),
            &family.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<(&str, &str)> = consents
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("personal_data", "current")], "consents untouched");
    let profile: Value = app
        .get_as(
            &format!("/v1/children/{}/profile", family.child.account_id),
            &family.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(profile["health"].is_null(), "health untouched");
    let open: Value = app
        .get_as("/v1/me/invitations", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1, "invitation still open");
    let attempt: Value = app
        .get_as(
            &format!("/v1/attempts/{}", f.open_attempt_id),
            &family.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(attempt["status"], "in_progress", "attempt still open");
    assert_eq!(attempt["position"]["answered"], 1, "answers untouched");
    assert_eq!(attempt["answers"][0]["value"]["option"], "b");
    let results: Value = app
        .get_as("/v1/me/results", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        results.as_array().unwrap().len(),
        1,
        "one result, unchanged"
    );
    let signup: Value = app
        .get_as(
            &format!("/v1/signups/{}", f.signup_id),
            &family.child.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signup["status"], "pending_parent", "sign-up untouched");
    for table in [
        "attendance",
        "assessments",
        "feedback",
        "check_in_codes_used",
    ] {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(rows, 0, "{table} untouched");
    }
    let signups: i64 = sqlx::query_scalar("SELECT count(*) FROM signups WHERE student_id = $1")
        .bind(family.child.account_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(signups, 1, "no sign-up by an outsider");
    assert_eq!(signup["event_status"], "published", "event untouched");
    let starts =
        chrono::DateTime::parse_from_rfc3339(signup["event_starts_at"].as_str().unwrap()).unwrap();
    let planned = chrono::Utc::now() + Duration::days(5);
    assert!(
        (starts.timestamp() - planned.timestamp()).abs() < 600,
        "not rescheduled"
    );
    let state: (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = sqlx::query_as("SELECT read_at, acked_at FROM notifications WHERE id = $1::uuid")
        .bind(&f.notification_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, (None, None), "notification untouched");
    let device_active: bool =
        sqlx::query_scalar("SELECT deactivated_at IS NULL FROM devices WHERE token = $1")
            .bind(&f.device_token)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(device_active, "device untouched");
}
