//! Calendar feeds: a family subscribes to its approved events by a secret URL, sees moves
//! (same UID, higher SEQUENCE) and cancellations; another family's events never appear;
//! revoking ends the URL; the token never reaches the logs.

use chrono::{Duration as Span, DurationRound, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Family, TestApp, captured_logs, event_input, spawn_app};

async fn approve(app: &TestApp, family: &Family, event: Uuid) {
    let signup = app.sign_up(&family.child.access, event, 201).await;
    let decided = app
        .post_as(
            &format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap()),
            &family.parent.access,
            &json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(decided.status(), 200);
}

/// The caller's feed URL, as a path on this app.
async fn feed_path(app: &TestApp, access: &str) -> String {
    let response = app.get_as("/v1/me/calendar-feed", access).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&app.settings.hub.public_url), "{url}");
    assert!(url.ends_with(".ics"), "{url}");
    url[url.find("/cal/").unwrap()..].to_owned()
}

/// The feed, unfolded, after checking its type and line discipline.
async fn fetch(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
    assert!(text.ends_with("END:VCALENDAR\r\n"), "{text}");
    for line in text.split("\r\n") {
        assert!(!line.contains('\n'), "bare LF in {line:?}");
        assert!(line.len() <= 75, "{} octets: {line}", line.len());
    }
    text.replace("\r\n ", "")
}

/// The lines of the VEVENT whose UID names `event`.
fn vevent(feed: &str, event: Uuid) -> Option<String> {
    feed.split("BEGIN:VEVENT\r\n")
        .skip(1)
        .find(|block| block.contains(&format!("UID:{event}@bilet\r\n")))
        .map(|block| block.split("END:VEVENT").next().unwrap().to_owned())
}

#[tokio::test]
async fn a_family_subscribes_to_its_approved_events_and_sees_moves_and_cancellations() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let mut body = event_input(Span::days(5), 5);
    body["title"] = json!("Проба: повар, кондитер; десерты");
    body["what_to_bring"] = json!("фартук, шапочку");
    let moved = app.publish_event(&organizer, &body).await;
    let cancelled = app
        .publish_event(&organizer, &event_input(Span::days(6), 5))
        .await;
    let pending = app
        .publish_event(&organizer, &event_input(Span::days(7), 5))
        .await;
    let theirs = app
        .publish_event(&organizer, &event_input(Span::days(8), 5))
        .await;
    let family = app.family().await;
    let other = app.family().await;
    approve(&app, &family, moved).await;
    approve(&app, &family, cancelled).await;
    app.sign_up(&family.child.access, pending, 201).await;
    approve(&app, &other, theirs).await;

    // The parent's and the child's feeds list the approved events, and nothing else.
    let parent_feed = feed_path(&app, &family.parent.access).await;
    assert_eq!(
        feed_path(&app, &family.parent.access).await,
        parent_feed,
        "the same URL until revoked"
    );
    let child_feed = feed_path(&app, &family.child.access).await;
    assert_ne!(child_feed, parent_feed);
    for path in [&parent_feed, &child_feed] {
        let feed = fetch(&app, path).await;
        let event = vevent(&feed, moved).expect("the approved event");
        assert!(event.contains("SEQUENCE:0\r\n"), "{event}");
        assert!(event.contains("STATUS:CONFIRMED\r\n"), "{event}");
        assert!(
            event.contains("SUMMARY:Проба: повар\\, кондитер\\; десерты\r\n"),
            "{event}"
        );
        assert!(event.contains("С собой: фартук\\, шапочку"), "{event}");
        assert!(event.contains("LOCATION:Казань\\, ул. Баумана\\, 1\r\n"));
        assert!(event.contains("DTSTAMP:") && event.contains("Z\r\n"));
        assert!(vevent(&feed, cancelled).is_some());
        assert!(vevent(&feed, pending).is_none(), "not approved");
        assert!(vevent(&feed, theirs).is_none(), "another family's event");
        assert!(!feed.contains(&family.child_snils), "no SNILS");
    }
    let their_feed = fetch(&app, &feed_path(&app, &other.parent.access).await).await;
    assert!(vevent(&their_feed, theirs).is_some());
    assert!(vevent(&their_feed, moved).is_none());

    // A move keeps the UID and raises SEQUENCE; a cancellation shows as cancelled.
    let new_start = (Utc::now() + Span::days(9))
        .duration_trunc(Span::minutes(1))
        .unwrap();
    let response = app
        .post_as(
            &format!("/v1/events/{moved}/reschedule"),
            &organizer.access,
            &json!({ "starts_at": new_start, "ends_at": new_start + Span::hours(2) }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = app
        .post_as(
            &format!("/v1/events/{cancelled}/cancel"),
            &organizer.access,
            &json!({ "reason": "Ремонт помещения" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let feed = fetch(&app, &parent_feed).await;
    let event = vevent(&feed, moved).unwrap();
    assert!(event.contains("SEQUENCE:1\r\n"), "{event}");
    assert!(
        event.contains(&format!(
            "DTSTART:{}\r\n",
            new_start.format("%Y%m%dT%H%M%SZ")
        )),
        "{event}"
    );
    let event = vevent(&feed, cancelled).unwrap();
    assert!(event.contains("STATUS:CANCELLED\r\n"), "{event}");
    assert!(event.contains("SEQUENCE:1\r\n"), "{event}");

    // Revoked: the URL is gone, and the next one is new.
    let revoked = app
        .delete_as("/v1/me/calendar-feed", &family.parent.access)
        .await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(app.get(&parent_feed).await.status(), 404);
    let renewed = feed_path(&app, &family.parent.access).await;
    assert_ne!(renewed, parent_feed);
    assert!(vevent(&fetch(&app, &renewed).await, moved).is_some());
    assert_eq!(app.get("/cal/not-a-token.ics").await.status(), 404);
    assert_eq!(app.get("/cal/.ics").await.status(), 404);

    // Staff have no feed.
    let refused = app.get_as("/v1/me/calendar-feed", &organizer.access).await;
    assert_eq!(refused.status(), 403);

    // The token was never logged, though every request was.
    let logs = captured_logs();
    for path in [&parent_feed, &child_feed, &renewed] {
        let token = path.trim_start_matches("/cal/").trim_end_matches(".ics");
        assert!(!logs.contains(token), "a feed token reached the logs");
    }
    assert!(
        logs.contains("/cal/:token"),
        "the fetches are logged by route"
    );
}
