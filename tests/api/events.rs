//! Events: organizers create, edit, publish and see rosters; students browse with filters
//! and a stable cursor.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, event_input, spawn_app};

fn fields_of(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_organizer_creates_a_draft_that_students_see_only_once_published() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let created = app
        .post_as(
            "/v1/events",
            &organizer.access,
            &event_input(Duration::days(5), 12),
        )
        .await;
    assert_eq!(created.status(), 201);
    let event: Value = created.json().await.unwrap();
    assert_eq!(event["status"], "draft");
    assert_eq!(event["seats_left"], 12);
    let path = format!("/v1/events/{}", event["id"].as_str().unwrap());
    assert_problem(
        app.get_as(&path, &family.child.access).await,
        404,
        "not-found",
    )
    .await;
    let listed: Value = app
        .get_as("/v1/events", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));

    app.post_as(&format!("{path}/publish"), &organizer.access, &json!({}))
        .await;
    let seen: Value = app
        .get_as(&path, &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["status"], "published");
    assert_eq!(seen["region_name"], "Республика Татарстан");
    let listed: Value = app
        .get_as("/v1/events", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], event["id"]);
}

#[tokio::test]
async fn an_event_is_validated_field_by_field() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let mut body = event_input(Duration::days(5), 0);
    body["address"] = Value::Null;
    body["grade_min"] = json!(10);
    body["grade_max"] = json!(8);
    body["profession_area"] = json!("astrology");
    body["time_zone"] = json!("Mars/Olympus");
    body["accessibility"] = json!(["ramp"]);
    body["approval_window_hours"] = json!(0);
    let problem = assert_problem(
        app.post_as("/v1/events", &organizer.access, &body).await,
        422,
        "validation",
    )
    .await;
    let fields = fields_of(&problem);
    for field in [
        "address",
        "grade_max",
        "capacity",
        "profession_area",
        "time_zone",
        "accessibility[0]",
        "approval_window_hours",
    ] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    let mut past = event_input(Duration::hours(-2), 10);
    past["signup_deadline"] = json!(chrono::Utc::now() - Duration::hours(1));
    let problem = assert_problem(
        app.post_as("/v1/events", &organizer.access, &past).await,
        422,
        "validation",
    )
    .await;
    assert!(fields_of(&problem).contains(&"starts_at".to_owned()));
    // An online event needs no place.
    let mut online = event_input(Duration::days(3), 30);
    online["format"] = json!("online");
    for key in ["region", "city", "address"] {
        online[key] = Value::Null;
    }
    assert_eq!(
        app.post_as("/v1/events", &organizer.access, &online)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn only_organizers_manage_events_and_only_their_own() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let rival = app.organizer().await;
    let parent = app.signup("parent").await;
    assert_problem(
        app.post_as(
            "/v1/events",
            &parent.access,
            &event_input(Duration::days(5), 5),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let id = app
        .publish_event(&organizer, &event_input(Duration::days(5), 5))
        .await;
    let path = format!("/v1/events/{id}");
    assert_problem(
        app.put_as(&path, &rival.access, &event_input(Duration::days(5), 5))
            .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.get_as(&format!("{path}/roster"), &rival.access).await,
        404,
        "not-found",
    )
    .await;
    let cancel = app
        .post_as(
            &format!("{path}/cancel"),
            &rival.access,
            &json!({ "reason": "не моё" }),
        )
        .await;
    assert_problem(cancel, 404, "not-found").await;
    let mine: Value = app
        .get_as("/v1/organizer/events", &rival.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"], json!([]));
}

#[tokio::test]
async fn a_published_event_keeps_its_times_grades_and_held_seats() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let body = event_input(Duration::days(5), 5);
    let id = app.publish_event(&organizer, &body).await;
    app.sign_up(&family.child.access, id, 201).await;
    let path = format!("/v1/events/{id}");

    let mut moved = body.clone();
    moved["starts_at"] = json!(chrono::Utc::now() + Duration::days(6));
    moved["ends_at"] = json!(chrono::Utc::now() + Duration::days(6) + Duration::hours(2));
    assert_problem(
        app.put_as(&path, &organizer.access, &moved).await,
        409,
        "use-reschedule",
    )
    .await;
    let mut regraded = body.clone();
    regraded["grade_max"] = json!(11);
    assert_problem(
        app.put_as(&path, &organizer.access, &regraded).await,
        409,
        "immutable-after-publish",
    )
    .await;
    let mut shrunk = body.clone();
    shrunk["capacity"] = json!(0);
    assert_problem(
        app.put_as(&path, &organizer.access, &shrunk).await,
        422,
        "validation",
    )
    .await;
    let mut retitled = body.clone();
    retitled["title"] = json!("Проба: роботы и манипуляторы");
    retitled["capacity"] = json!(1);
    let updated: Value = app
        .put_as(&path, &organizer.access, &retitled)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["title"], "Проба: роботы и манипуляторы");
    assert_eq!(updated["seats_left"], 0);
}

#[tokio::test]
async fn students_see_upcoming_events_for_their_grade_narrowed_by_filters() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await; // grade 7, RU-TA, Казань
    let base = event_input(Duration::days(3), 10);
    let variant = |changes: Value| {
        let mut body = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let kazan_it = app
        .publish_event(&organizer, &variant(json!({ "profession_area": "it" })))
        .await;
    let moscow = app
        .publish_event(
            &organizer,
            &variant(
                json!({ "region": "RU-MOW", "city": "Москва", "profession_area": "medicine" }),
            ),
        )
        .await;
    let mut online = variant(json!({ "format": "online", "profession_area": "it" }));
    for key in ["region", "city", "address"] {
        online[key] = Value::Null;
    }
    let online = app.publish_event(&organizer, &online).await;
    let _seniors = app
        .publish_event(
            &organizer,
            &variant(json!({ "grade_min": 10, "grade_max": 11 })),
        )
        .await;
    let later = app
        .publish_event(
            &organizer,
            &variant(json!({
                "starts_at": chrono::Utc::now() + Duration::days(20),
                "ends_at": chrono::Utc::now() + Duration::days(20) + Duration::hours(2),
                "signup_deadline": chrono::Utc::now() + Duration::days(19),
                "accessibility": [],
            })),
        )
        .await;

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all: Value = app
        .get_as("/v1/events", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&all).len(), 4, "grade 10–11 event is hidden: {all}");
    let by = |query: &str| {
        let app = &app;
        let token = family.child.access.clone();
        let path = format!("/v1/events?{query}");
        async move {
            app.get_as(&path, &token)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let tatarstan = by("region=RU-TA").await;
    assert!(!ids(&tatarstan).contains(&moscow.to_string()));
    assert!(
        ids(&tatarstan).contains(&online.to_string()),
        "online events reach every region"
    );
    let it = by("profession_area=it").await;
    assert_eq!(ids(&it), [kazan_it.to_string(), online.to_string()]);
    let online_only = by("format=online").await;
    assert_eq!(ids(&online_only), [online.to_string()]);
    let from = (chrono::Utc::now() + Duration::days(10)).to_rfc3339();
    let soon_after = by(&format!("from={}", urlencode(&from))).await;
    assert_eq!(ids(&soon_after), [later.to_string()]);
    let city = by("city=%D0%BA%D0%B0%D0%B7%D0%B0%D0%BD%D1%8C").await; // "казань", any case
    assert!(!ids(&city).contains(&moscow.to_string()));
    let bad = app
        .get_as(
            "/v1/events?profession_area=astrology&limit=500",
            &family.child.access,
        )
        .await;
    let problem = assert_problem(bad, 422, "validation").await;
    assert_eq!(fields_of(&problem), ["profession_area", "limit"]);

    // "Accessible for me" applies only with ОВЗ needs and health-data consent.
    let unfiltered = by("accessible_for_me=true").await;
    assert_eq!(unfiltered["accessibility_filter_applied"], false);
    app.give_consent(&family.parent, &family.child, "health_data")
        .await;
    app.put_as(
        &format!("/v1/children/{}/health", family.child.account_id),
        &family.parent.access,
        &json!({ "disability": true, "needs": ["mobility"] }),
    )
    .await;
    let accessible = by("accessible_for_me=true").await;
    assert_eq!(accessible["accessibility_filter_applied"], true);
    assert!(
        !ids(&accessible).contains(&later.to_string()),
        "no step-free access there"
    );
    assert!(ids(&accessible).contains(&kazan_it.to_string()));
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn the_cursor_stays_correct_while_events_are_added() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let at = |days: i64| {
        let mut body = event_input(Duration::days(days), 10);
        body["title"] = json!(format!("День {days}"));
        body
    };
    for day in [2, 4, 6, 8, 10] {
        app.publish_event(&organizer, &at(day)).await;
    }
    let first: Value = app
        .get_as("/v1/events?limit=2", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    let titles = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(titles(&first), ["День 2", "День 4"]);
    // Meanwhile, one event is added before the cursor and one after it.
    app.publish_event(&organizer, &at(3)).await;
    app.publish_event(&organizer, &at(7)).await;
    let mut seen = titles(&first);
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let page: Value = app
            .get_as(
                &format!("/v1/events?limit=2&cursor={cursor}"),
                &family.child.access,
            )
            .await
            .json()
            .await
            .unwrap();
        seen.extend(titles(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["День 2", "День 4", "День 6", "День 7", "День 8", "День 10"]
    );
    let bad = app
        .get_as("/v1/events?cursor=garbage", &family.child.access)
        .await;
    assert_problem(bad, 422, "validation").await;
}

#[tokio::test]
async fn the_roster_shows_first_name_initial_grade_status_and_needs_only_with_consent() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let id = app
        .publish_event(&organizer, &event_input(Duration::days(5), 5))
        .await;
    app.sign_up(&family.child.access, id, 201).await;
    app.give_consent(&family.parent, &family.child, "health_data")
        .await;
    app.put_as(
        &format!("/v1/children/{}/health", family.child.account_id),
        &family.parent.access,
        &json!({ "disability": true, "needs": ["hearing"], "details": "слуховой аппарат" }),
    )
    .await;
    let roster: Value = app
        .get_as(&format!("/v1/events/{id}/roster"), &organizer.access)
        .await
        .json()
        .await
        .unwrap();
    let entry = &roster[0];
    assert_eq!(entry["given_name"], "Анна");
    assert_eq!(entry["surname_initial"], "С.");
    assert_eq!(entry["grade"], 7);
    assert_eq!(entry["status"], "pending_parent");
    assert_eq!(entry["accessibility_needs"], json!(["hearing"]));
    let text = roster.to_string();
    for hidden in [
        "Смирнова",
        "Петровна",
        &family.child_snils,
        "IV-МЮ",
        "+7912",
        "слуховой аппарат",
        &family.child.email,
    ] {
        assert!(!text.contains(hidden), "{hidden} on the roster");
    }
    app.delete_as(
        &format!(
            "/v1/children/{}/consents/health_data",
            family.child.account_id
        ),
        &family.parent.access,
    )
    .await;
    let roster: Value = app
        .get_as(&format!("/v1/events/{id}/roster"), &organizer.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(roster[0]["accessibility_needs"].is_null());
}
