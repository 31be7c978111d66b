//! A notice whose subject is settled does not go out: a parent who decided, or whose
//! child's event was cancelled, gets no escalation and no reminder, checked right before
//! each message would be sent.

use std::time::Duration;

use bilet::domain::ids::DeliveryId;
use bilet::notify::providers::ChannelKind;
use chrono::Duration as Span;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Family, TestApp, event_input, eventually, spawn_app, spawn_app_with};

/// A family whose parent has an iPhone (so an approval request escalates to SMS).
async fn family_with_iphone(app: &TestApp) -> Family {
    let family = app.family().await;
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    app.register_device(&family.parent, &token, "ios").await;
    family
}

/// Waits until the person's approval-request SMS has been settled one way or the other,
/// and returns its ledger status.
async fn escalation_status(app: &TestApp, family: &Family) -> String {
    eventually(
        Duration::from_secs(20),
        "the escalation to be settled",
        || async {
            app.ledger_of(family.parent.account_id, "signup_requested")
                .await
                .into_iter()
                .find(|(channel, status, escalation)| {
                    channel == "sms"
                        && *escalation
                        && !matches!(status.as_str(), "pending" | "sending")
                })
                .map(|(_, status, _)| status)
        },
    )
    .await
}

#[tokio::test]
async fn a_parent_who_decided_or_whose_event_was_cancelled_gets_no_escalation() {
    let app = spawn_app_with(|s| s.hub.escalation_delay = Duration::from_secs(2)).await;
    let organizer = app.organizer().await;
    let decided = family_with_iphone(&app).await;
    let cancelled = family_with_iphone(&app).await;
    let unseen = family_with_iphone(&app).await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let other_event = app
        .publish_event(&organizer, &event_input(Span::days(6), 5))
        .await;
    let signup = app.sign_up(&decided.child.access, event, 201).await;
    app.sign_up(&unseen.child.access, event, 201).await;
    app.sign_up(&cancelled.child.access, other_event, 201).await;

    // One parent approves from the app without opening the notice; the other event is
    // cancelled; the third parent does nothing.
    let approved = app
        .post_as(
            &format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap()),
            &decided.parent.access,
            &json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let cancel = app
        .post_as(
            &format!("/v1/events/{other_event}/cancel"),
            &organizer.access,
            &json!({ "reason": "Авария водопровода" }),
        )
        .await;
    assert_eq!(cancel.status(), 200);

    assert_eq!(escalation_status(&app, &unseen).await, "delivered");
    assert_eq!(escalation_status(&app, &decided).await, "skipped");
    assert_eq!(escalation_status(&app, &cancelled).await, "skipped");
    let sms = app.simulator(ChannelKind::Sms);
    let asked = |phone: &str| {
        sms.messages(Some(phone))
            .iter()
            .filter(|m| m.body.to_string().contains("/a/"))
            .count()
    };
    assert_eq!(asked(&unseen.parent_phone), 1);
    assert_eq!(asked(&decided.parent_phone), 0, "no request after deciding");
    assert_eq!(
        asked(&cancelled.parent_phone),
        0,
        "no request for a cancelled event"
    );
}

#[tokio::test]
async fn a_decision_made_after_the_escalation_was_queued_still_stops_it() {
    let app = spawn_app_with(|s| s.hub.escalation_delay = Duration::from_secs(3600)).await;
    let organizer = app.organizer().await;
    let family = family_with_iphone(&app).await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    app.settled("signup_requested").await;
    // The escalation is due and queued (as the reconciler would), and only then does the
    // parent decide: the check at sending time must catch it.
    let approved = app
        .post_as(
            &format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap()),
            &family.parent.access,
            &json!({ "decision": "decline" }),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let due: Vec<(Uuid, String)> = sqlx::query_as(
        "UPDATE deliveries SET next_attempt_at = now(), queued_at = now()
         WHERE account_id = $1 AND channel = 'sms' AND escalation AND status = 'pending'
         RETURNING id, channel",
    )
    .bind(family.parent.account_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(due.len(), 1);
    let due: Vec<_> = due
        .into_iter()
        .map(|(id, channel)| (DeliveryId(id), channel.parse::<ChannelKind>().unwrap()))
        .collect();
    app.state.hub().enqueue(due).await;
    assert_eq!(escalation_status(&app, &family).await, "skipped");
    assert!(
        app.simulator(ChannelKind::Sms)
            .messages(Some(&family.parent_phone))
            .is_empty()
    );
}

/// The path of the approval link in the SMS a parent without the app received.
async fn approval_link(app: &TestApp, family: &Family) -> String {
    let sms = app
        .received(ChannelKind::Sms, &family.parent_phone, 1)
        .await;
    let text = sms[0].body.to_string();
    let start = text.find("/a/").expect("the SMS carries a link");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\\')
        .collect()
}

#[tokio::test]
async fn the_link_page_of_a_settled_request_says_so_and_offers_nothing_to_press() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let (decided, cancelled) = (app.family().await, app.family().await);
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let other_event = app
        .publish_event(&organizer, &event_input(Span::days(6), 5))
        .await;
    let signup = app.sign_up(&decided.child.access, event, 201).await;
    app.sign_up(&cancelled.child.access, other_event, 201).await;
    let (decided_link, cancelled_link) = (
        approval_link(&app, &decided).await,
        approval_link(&app, &cancelled).await,
    );
    let open = app.get(&decided_link).await;
    assert_eq!(open.status(), 200);
    assert!(open.text().await.unwrap().contains("<button"));

    // Decided in the app (not through the link), and the other event cancelled.
    let approved = app
        .post_as(
            &format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap()),
            &decided.parent.access,
            &json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let cancel = app
        .post_as(
            &format!("/v1/events/{other_event}/cancel"),
            &organizer.access,
            &json!({ "reason": "Авария водопровода" }),
        )
        .await;
    assert_eq!(cancel.status(), 200);

    for (link, says) in [
        (&decided_link, "Участие в этой пробе уже одобрено"),
        (&cancelled_link, "Организатор отменил эту пробу"),
    ] {
        let page = app.get(link).await;
        assert_eq!(page.status(), 410);
        let html = page.text().await.unwrap();
        assert!(html.contains(says), "{html}");
        assert!(
            !html.contains("<button") && !html.contains("<form"),
            "{html}"
        );
    }
}
