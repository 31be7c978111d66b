//! Reminders before an event: a day and two hours before the start, each approved student
//! and their parents hear the time, the place and what to bring; raised once per (event,
//! offset, start time), and never sent for a start that has since moved or been cancelled.

use bilet::domain::ids::DeliveryId;
use bilet::notify::providers::ChannelKind;
use bilet::participation::reminders::remind_due;
use bilet::simulators::inbox::Accepted;
use chrono::{DateTime, Duration as Span, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Family, TestApp, assert_matches_contract, event_input, push_data, spawn_app};

/// A family whose child has an iPhone and whose parent has no app; the child is signed up
/// for `event` and the parent approved.
async fn approved_family(app: &TestApp, event: Uuid) -> (Family, String) {
    let family = app.family().await;
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    app.register_device(&family.child, &token, "ios").await;
    approve(app, &family, event).await;
    (family, token)
}

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

/// The event-reminder rows of the outbox for `event`: (hours before, start).
async fn reminders_of(app: &TestApp, event: Uuid) -> Vec<(i64, DateTime<Utc>)> {
    let mut rows: Vec<(i64, DateTime<Utc>)> = app
        .outbox("event_reminder")
        .await
        .into_iter()
        .filter(|p| p["event_id"] == json!(event))
        .map(|p: Value| {
            (
                p["hours_before"].as_i64().unwrap(),
                p["starts_at"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The reminder a channel's simulator accepted for `to` (waiting up to 20 s).
async fn reminder_to(app: &TestApp, channel: ChannelKind, to: &str) -> Accepted {
    let inbox = app.simulator(channel);
    crate::helpers::eventually(
        std::time::Duration::from_secs(20),
        "a reminder to arrive",
        || async {
            inbox.messages(Some(to)).into_iter().find(|m| {
                let text = m.body.to_string();
                push_data(m)["kind"] == "event_reminder"
                    || text.contains("Проба завтра")
                    || text.contains("начнётся")
            })
        },
    )
    .await
}

async fn event_start(app: &TestApp, event: Uuid) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT starts_at FROM events WHERE id = $1")
        .bind(event)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn approved_families_are_reminded_a_day_and_two_hours_ahead_with_place_and_what_to_bring() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let mut tomorrow = event_input(Span::hours(23), 5);
    tomorrow["what_to_bring"] = json!("сменную обувь и тетрадь");
    let tomorrow = app.publish_event(&organizer, &tomorrow).await;
    let mut soon = event_input(Span::minutes(110), 5);
    soon["format"] = json!("online");
    soon["online_link"] = json!("https://meet.example.ru/robots");
    let soon = app.publish_event(&organizer, &soon).await;
    let (day_family, day_token) = approved_family(&app, tomorrow).await;
    let (soon_family, soon_token) = approved_family(&app, soon).await;
    // Signed up but not approved: no reminder.
    let pending = app.family().await;
    app.sign_up(&pending.child.access, tomorrow, 201).await;

    // The worker's own pass raises them; the child's push says when, where and what to
    // bring.
    let push = reminder_to(&app, ChannelKind::Apns, &day_token).await;
    assert_matches_contract(&push, "apns");
    assert_eq!(push_data(&push)["event_id"], json!(tomorrow));
    let alert = push.body["aps"]["alert"].to_string();
    assert!(alert.contains("завтра"), "{alert}");
    assert!(alert.contains("Баумана"), "{alert}");
    assert!(alert.contains("сменную обувь и тетрадь"), "{alert}");
    let push = reminder_to(&app, ChannelKind::Apns, &soon_token).await;
    assert!(
        push.body["aps"]["alert"]
            .to_string()
            .contains("через 2 часа")
    );

    // A day ahead the parent without the app gets an e-mail; two hours ahead, an SMS with
    // the online link.
    let mail = reminder_to(&app, ChannelKind::Email, &day_family.parent.email).await;
    assert!(mail.body.to_string().contains("сменную обувь"), "{mail:?}");
    let sms = reminder_to(&app, ChannelKind::Sms, &soon_family.parent_phone).await;
    let text = sms.body.to_string();
    assert!(
        text.contains("через 2 часа") && text.contains("https://meet.example.ru/robots"),
        "{text}"
    );
    assert!(
        app.simulator(ChannelKind::Sms)
            .messages(Some(&day_family.parent_phone))
            .iter()
            .all(|m| !m.body.to_string().contains("завтра")),
        "no SMS a day ahead"
    );
    assert!(
        app.ledger_of(pending.child.account_id, "event_reminder")
            .await
            .is_empty(),
        "no reminder without approval"
    );

    // One per (event, offset, start): passes racing each other, and later ones, raise
    // nothing more.
    let now = Utc::now();
    let (a, b) = tokio::join!(remind_due(&app.db, now), remind_due(&app.db, now));
    assert_eq!(a.unwrap() + b.unwrap(), 0);
    let start = event_start(&app, tomorrow).await;
    assert_eq!(reminders_of(&app, tomorrow).await, [(24, start)]);
    let start = event_start(&app, soon).await;
    assert_eq!(reminders_of(&app, soon).await, [(2, start)]);
    // Two hours before tomorrow's start, its second reminder comes, once.
    let later = event_start(&app, tomorrow).await - Span::minutes(119);
    assert_eq!(remind_due(&app.db, later).await.unwrap(), 1);
    assert_eq!(remind_due(&app.db, later).await.unwrap(), 0);
    let start = event_start(&app, tomorrow).await;
    assert_eq!(
        reminders_of(&app, tomorrow).await,
        [(2, start), (24, start)]
    );
}

/// Quiet hours around now, so the person's notices wait for them to end.
async fn quiet_now(app: &TestApp, family: &Family) {
    let now = Utc::now().with_timezone(&bilet::domain::events::utc_offset("Europe/Moscow"));
    let prefs = json!({
        "language": "ru", "time_zone": "Europe/Moscow",
        "quiet_from": (now - Span::minutes(1)).format("%H:%M").to_string(),
        "quiet_to": (now - Span::minutes(2)).format("%H:%M").to_string(),
    });
    let saved = app
        .put_as(
            "/v1/me/notification-preferences",
            &family.parent.access,
            &prefs,
        )
        .await;
    assert_eq!(saved.status(), 200);
}

/// Makes the person's held reminder due now and queues it, as the reconciler would when
/// quiet hours end; returns its ledger status once the sender has dealt with it.
async fn release_held_reminder(app: &TestApp, account: Uuid) -> String {
    let due: Vec<(Uuid, String)> = sqlx::query_as(
        "UPDATE deliveries d SET next_attempt_at = now(), queued_at = now()
         FROM notifications n
         WHERE n.id = d.notification_id AND n.kind = 'event_reminder'
           AND d.account_id = $1 AND d.status = 'pending'
         RETURNING d.id, d.channel",
    )
    .bind(account)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(due.len(), 1, "one held reminder");
    let due: Vec<_> = due
        .into_iter()
        .map(|(id, channel)| (DeliveryId(id), channel.parse::<ChannelKind>().unwrap()))
        .collect();
    app.state.hub().enqueue(due).await;
    let rows = crate::helpers::eventually(
        std::time::Duration::from_secs(20),
        "the held reminder to be dealt with",
        || async {
            let rows = app.ledger_of(account, "event_reminder").await;
            rows.iter()
                .all(|(_, status, _)| status != "pending")
                .then_some(rows)
        },
    )
    .await;
    rows[0].1.clone()
}

/// Waits until the reminder of `event` is fanned out to the parent (held by quiet hours).
async fn held_for(app: &TestApp, family: &Family, event: Uuid) {
    crate::helpers::eventually(
        std::time::Duration::from_secs(20),
        "the reminder to be raised and fanned out",
        || async {
            let held: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM deliveries d JOIN notifications n ON n.id = d.notification_id
                 WHERE n.kind = 'event_reminder' AND d.account_id = $1 AND d.status = 'pending'
                   AND d.next_attempt_at > now() AND n.data->>'event_id' = $2)",
            )
            .bind(family.parent.account_id)
            .bind(event.to_string())
            .fetch_one(&app.db)
            .await
            .ok()?;
            held.then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_reminder_held_for_a_start_that_moved_or_was_cancelled_is_never_sent() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let moved = app
        .publish_event(&organizer, &event_input(Span::hours(23), 5))
        .await;
    let cancelled = app
        .publish_event(&organizer, &event_input(Span::hours(22), 5))
        .await;
    let kept = app
        .publish_event(&organizer, &event_input(Span::hours(21), 5))
        .await;
    let mut families = Vec::new();
    for event in [moved, cancelled, kept] {
        let family = app.family().await;
        quiet_now(&app, &family).await;
        approve(&app, &family, event).await;
        held_for(&app, &family, event).await;
        families.push(family);
    }

    // The reminders wait for quiet hours to end; meanwhile one event moves to a day later
    // and another is cancelled.
    let old_start = event_start(&app, moved).await;
    let new_start = old_start + Span::hours(24);
    let response = app
        .post_as(
            &format!("/v1/events/{moved}/reschedule"),
            &organizer.access,
            &json!({ "starts_at": new_start, "ends_at": new_start + Span::hours(3) }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = app
        .post_as(
            &format!("/v1/events/{cancelled}/cancel"),
            &organizer.access,
            &json!({ "reason": "Авария водопровода" }),
        )
        .await;
    assert_eq!(response.status(), 200);

    // When they fall due, the stale ones are dropped right before sending; the other goes.
    assert_eq!(
        release_held_reminder(&app, families[0].parent.account_id).await,
        "skipped"
    );
    assert_eq!(
        release_held_reminder(&app, families[1].parent.account_id).await,
        "skipped"
    );
    assert_eq!(
        release_held_reminder(&app, families[2].parent.account_id).await,
        "delivered"
    );

    // The moved event's reminders follow the new start: nothing until a day before it,
    // then one.
    assert_eq!(remind_due(&app.db, Utc::now()).await.unwrap(), 0);
    let day_before = new_start - Span::hours(23);
    assert_eq!(remind_due(&app.db, day_before).await.unwrap(), 1);
    assert_eq!(remind_due(&app.db, day_before).await.unwrap(), 0);
    assert_eq!(
        reminders_of(&app, moved).await,
        [(24, old_start), (24, new_start)]
    );
    assert!(reminders_of(&app, cancelled).await.len() == 1);
}
