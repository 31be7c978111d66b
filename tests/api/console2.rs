//! The console's admin part over plain HTTP: staff accounts (create, disable, enable),
//! SNILS conflicts, channel health; and the organizer pages' times and live progress.

use std::time::Duration;

use bilet::admin::StaffRole;
use bilet::notify::providers::ChannelKind;
use chrono::{Duration as Span, Timelike as _};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::console::{cookie_client, csrf_in, staff_account};
use crate::helpers::{
    PASSWORD, TestApp, assert_problem, email, event_input, eventually, spawn_api_only, spawn_app,
    valid_snils,
};
use crate::snils;

/// A signed-in console client: `Ok` with the client and where sign-in sent it, or `Err`
/// with the refused sign-in's status.
async fn console_sign_in(
    app: &TestApp,
    address: &str,
    password: &str,
) -> Result<(reqwest::Client, String), StatusCode> {
    let client = cookie_client();
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    let token = csrf_in(&page.text().await.unwrap());
    let response = client
        .post(app.url("/console/login"))
        .header("origin", origin(app))
        .form(&[
            ("csrf", token.as_str()),
            ("email", address),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err(response.status());
    }
    let to = response.headers()["location"].to_str().unwrap().to_owned();
    Ok((client, to))
}

fn origin(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

/// GETs a console page; returns its status and HTML.
async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// POSTs a console form with the page's own CSRF token and origin.
async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    client
        .post(app.url(path))
        .header("origin", origin(app))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The text of the element with `id` (no nested markup), as rendered.
fn text_by_id(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("#{id} in {html}"));
    let rest = &html[at + marker.len()..];
    rest[..rest.find('<').unwrap()].trim().to_owned()
}

/// The account id behind an e-mail.
async fn account_of(app: &TestApp, address: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
        .bind(address)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_creates_an_organizer_who_signs_in_and_disabling_them_ends_their_session_and_token_at_once()
 {
    let app = spawn_app().await;
    let admin = staff_account(&app, StaffRole::Admin, None).await;
    let (console, landed) = console_sign_in(&app, &admin, PASSWORD).await.unwrap();
    assert_eq!(landed, "/console/admin/dead-letters");
    let (status, html) = page(&app, &console, "/console/admin/staff").await;
    assert_eq!(status, 200);
    assert!(html.contains(&admin), "the admin is listed: {html}");
    assert!(html.contains("Сотрудники"), "Russian by default");
    let csrf = csrf_in(&html);

    // A refused form names its field and creates nothing.
    let refused = post_form(
        &app,
        &console,
        "/console/admin/staff",
        &csrf,
        &[
            ("role", "organizer"),
            ("email", "не почта"),
            ("organization", "Кванториум"),
        ],
    )
    .await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("id=\"email-error\""));
    let refused = post_form(
        &app,
        &console,
        "/console/admin/staff",
        &csrf,
        &[
            ("role", "organizer"),
            ("email", &email("noorg")),
            ("organization", ""),
        ],
    )
    .await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"organization-error\"")
    );
    let staff_count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM accounts WHERE role IN ('organizer', 'admin')")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(staff_count, 1, "nothing was created");

    // Created as `bilet admin create-user` does: the generated password is shown once.
    let organizer = email("neworg");
    let created = post_form(
        &app,
        &console,
        "/console/admin/staff",
        &csrf,
        &[
            ("role", "organizer"),
            ("email", &organizer),
            ("organization", "Кванториум Казань"),
        ],
    )
    .await;
    assert_eq!(created.status(), 201);
    let html = created.text().await.unwrap();
    let password = text_by_id(&html, "generated-password");
    assert!(password.len() >= 20, "a generated password: {password}");
    let (status, again) = page(&app, &console, "/console/admin/staff").await;
    assert_eq!(status, 200);
    assert!(again.contains(&organizer) && again.contains("Кванториум Казань"));
    assert!(
        !again.contains(&password),
        "the password is shown only once"
    );
    assert!(
        again.contains("не входил(а)"),
        "the organizer never signed in yet"
    );
    let organizer_id = account_of(&app, &organizer).await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM access_audit WHERE subject_id = $1 AND action = 'create_staff'",
    )
    .bind(organizer_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    let taken = post_form(
        &app,
        &console,
        "/console/admin/staff",
        &csrf,
        &[("role", "admin"), ("email", &organizer)],
    )
    .await;
    assert_eq!(taken.status(), 409);

    // The new organizer signs in to the console and to the API.
    let (their_console, landed) = console_sign_in(&app, &organizer, &password).await.unwrap();
    assert_eq!(landed, "/console/events");
    assert_eq!(page(&app, &their_console, "/console/events").await.0, 200);
    let login = app.login(&organizer, &password, "Ноутбук").await;
    assert_eq!(login.status(), 200);
    let tokens: serde_json::Value = login.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as("/v1/me/sessions", &access).await.status(), 200);
    let (_, listed) = page(&app, &console, "/console/admin/staff").await;
    assert!(
        !listed.contains("не входил(а)"),
        "both have signed in: {listed}"
    );

    // An admin cannot disable themself.
    let admin_id = account_of(&app, &admin).await;
    let own = post_form(
        &app,
        &console,
        &format!("/console/admin/staff/{admin_id}/disable"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(own.status(), 403);
    assert_eq!(page(&app, &console, "/console/admin/staff").await.0, 200);

    // Disabled: the open console session and the bearer token stop working at once.
    let disabled = post_form(
        &app,
        &console,
        &format!("/console/admin/staff/{organizer_id}/disable"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(disabled.status(), 303);
    let after = their_console
        .get(app.url("/console/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()["location"], "/console/login");
    assert_eq!(app.get_as("/v1/me/sessions", &access).await.status(), 401);
    let refreshed = app
        .post_json("/v1/auth/refresh", &json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(refreshed.status(), 401);
    assert_eq!(
        console_sign_in(&app, &organizer, &password).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        app.login(&organizer, &password, "Ноутбук").await.status(),
        401
    );
    let (_, listed) = page(&app, &console, "/console/admin/staff").await;
    assert!(listed.contains("Отключена"), "{listed}");

    // Enabled again: they sign in anew (the ended sessions stay ended).
    let enabled = post_form(
        &app,
        &console,
        &format!("/console/admin/staff/{organizer_id}/enable"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(enabled.status(), 303);
    assert_eq!(app.get_as("/v1/me/sessions", &access).await.status(), 401);
    assert!(console_sign_in(&app, &organizer, &password).await.is_ok());
}

#[tokio::test]
async fn an_organizer_cannot_reach_the_admin_pages_nor_post_to_them() {
    let app = spawn_app().await;
    let organizer = staff_account(&app, StaffRole::Organizer, Some("Площадка")).await;
    let admin = staff_account(&app, StaffRole::Admin, None).await;
    let admin_id = account_of(&app, &admin).await;
    let (console, _) = console_sign_in(&app, &organizer, PASSWORD).await.unwrap();
    for path in [
        "/console/admin/staff",
        "/console/admin/snils-conflicts",
        "/console/admin/channels",
    ] {
        assert_eq!(page(&app, &console, path).await.0, 403, "{path}");
    }
    let (_, events) = page(&app, &console, "/console/events").await;
    let csrf = csrf_in(&events);
    let newcomer = email("sneaky");
    let with_token = post_form(
        &app,
        &console,
        "/console/admin/staff",
        &csrf,
        &[("role", "admin"), ("email", &newcomer)],
    )
    .await;
    assert_eq!(with_token.status(), 403, "not an admin");
    let disable = post_form(
        &app,
        &console,
        &format!("/console/admin/staff/{admin_id}/disable"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(disable.status(), 403);
    let without_token = console
        .post(app.url("/console/admin/staff"))
        .header("origin", origin(&app))
        .form(&[("role", "admin"), ("email", newcomer.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(without_token.status(), 403, "the CSRF check still runs");
    let made: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE email = $1")
        .bind(&newcomer)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(made, 0);
    let disabled: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT disabled_at FROM accounts WHERE id = $1")
            .bind(admin_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(disabled.is_none());
}

#[tokio::test]
async fn an_admin_settles_snils_conflicts_from_the_console_without_ever_seeing_the_snils() {
    let app = spawn_app().await;
    let (first_snils, second_snils) = (valid_snils(), valid_snils());
    let (first_holder, first_claimant) = snils::conflict(&app, &first_snils).await;
    let (second_holder, _) = snils::conflict(&app, &second_snils).await;
    let admin = staff_account(&app, StaffRole::Admin, None).await;
    let admin_id = account_of(&app, &admin).await;
    let (console, _) = console_sign_in(&app, &admin, PASSWORD).await.unwrap();
    let (status, html) = page(&app, &console, "/console/admin/snils-conflicts?lang=en").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("SNILS conflicts"),
        "English through the switch"
    );
    for snils in [&first_snils, &second_snils] {
        assert!(!html.contains(snils.as_str()), "the SNILS is never shown");
        assert!(!html.contains(&snils::digits(snils)), "nor its digits");
    }
    assert!(html.contains(&first_claimant.account_id.to_string()));
    assert!(html.contains(&second_holder.account_id.to_string()));
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM snils_conflicts ORDER BY holder_id = $1 DESC")
            .bind(first_holder.account_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    let (first, second) = (ids[0], ids[1]);
    let csrf = csrf_in(&html);
    let settle = |id: Uuid, decision: &'static str| {
        let (console, csrf) = (&console, &csrf);
        let app = &app;
        async move {
            post_form(
                app,
                console,
                &format!("/console/admin/snils-conflicts/{id}/settle"),
                csrf,
                &[("decision", decision)],
            )
            .await
        }
    };
    assert_eq!(
        settle(first, "give_it_away").await.status(),
        404,
        "no such decision"
    );
    assert_eq!(settle(first, "reassign").await.status(), 303);
    assert_eq!(snils::registry_holder(&app, &first_snils).await, None);
    assert_eq!(settle(second, "keep_holder").await.status(), 303);
    assert_eq!(
        snils::registry_holder(&app, &second_snils).await,
        Some(second_holder.account_id)
    );
    let decided: Vec<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT decision, decided_by FROM snils_conflicts ORDER BY holder_id = $1 DESC",
    )
    .bind(first_holder.account_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        decided,
        vec![
            ("reassign".to_owned(), Some(admin_id)),
            ("keep_holder".to_owned(), Some(admin_id))
        ]
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM access_audit WHERE actor_id = $1 AND action = 'snils_conflict_resolved'",
    )
    .bind(admin_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 4, "both people of both conflicts");
    let again = settle(first, "keep_holder").await;
    assert_eq!(again.status(), 409, "settled once");
    let (_, html) = page(&app, &console, "/console/admin/snils-conflicts").await;
    assert!(html.contains("No conflicts await a decision."), "{html}");
}

/// Waits until no delivery of the whole ledger is being sent or due, then returns the last
/// hour's (channel, status, count) as the ledger holds them.
async fn settled_ledger(app: &TestApp) -> Vec<(String, String, i64)> {
    eventually(
        Duration::from_secs(30),
        "the whole ledger to settle",
        || async {
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM deliveries
             WHERE status = 'sending' OR (status = 'pending' AND next_attempt_at <= now())",
            )
            .fetch_one(&app.db)
            .await
            .ok()?;
            if busy > 0 {
                return None;
            }
            sqlx::query_as(
                "SELECT channel, status, count(*) FROM deliveries
             WHERE created_at > now() - interval '1 hour' GROUP BY 1, 2",
            )
            .fetch_all(&app.db)
            .await
            .ok()
        },
    )
    .await
}

fn count_of(ledger: &[(String, String, i64)], channel: &str, statuses: &[&str]) -> i64 {
    ledger
        .iter()
        .filter(|(c, s, _)| c == channel && statuses.contains(&s.as_str()))
        .map(|(_, _, n)| n)
        .sum()
}

#[tokio::test]
async fn the_channel_health_page_counts_the_last_hour_by_channel_with_errors_by_provider_code_and_latency()
 {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let family = app.family().await;
    // The parent's second iPhone is one the APNs simulator refuses for good (400
    // TopicDisallowed): that push goes dead with Apple's reason.
    let good = format!("health-{}", Uuid::new_v4().simple());
    let rejected = format!("reject-{}", Uuid::new_v4().simple());
    app.register_device(&family.parent, &good, "ios").await;
    app.register_device(&family.parent, &rejected, "ios").await;
    app.sign_up(&family.child.access, event, 201).await;
    app.received(ChannelKind::Apns, &good, 1).await;
    let ledger = settled_ledger(&app).await;
    assert!(count_of(&ledger, "apns", &["delivered"]) >= 1, "{ledger:?}");
    assert!(count_of(&ledger, "apns", &["dead"]) >= 1, "{ledger:?}");

    let admin = staff_account(&app, StaffRole::Admin, None).await;
    let (console, _) = console_sign_in(&app, &admin, PASSWORD).await.unwrap();
    let (status, html) = page(&app, &console, "/console/admin/channels").await;
    assert_eq!(status, 200);
    for channel in ChannelKind::ALL {
        let c = channel.as_str();
        let all = count_of(
            &ledger,
            c,
            &[
                "pending",
                "sending",
                "delivered",
                "failed",
                "dead",
                "skipped",
            ],
        );
        assert_eq!(
            text_by_id(&html, &format!("{c}-messages")),
            all.to_string(),
            "{c}"
        );
        assert_eq!(
            text_by_id(&html, &format!("{c}-recent")),
            all.to_string(),
            "{c}: all within 15 min"
        );
        for status in ["delivered", "failed", "dead"] {
            assert_eq!(
                text_by_id(&html, &format!("{c}-{status}")),
                count_of(&ledger, c, &[status]).to_string(),
                "{c} {status}"
            );
        }
        assert_eq!(
            text_by_id(&html, &format!("{c}-open")),
            count_of(&ledger, c, &["pending", "sending"]).to_string(),
            "{c} open"
        );
    }
    assert!(html.contains("permanent: 400 TopicDisallowed"), "{html}");
    assert_ne!(
        text_by_id(&html, "apns-p50"),
        "—",
        "delivered pushes have a latency"
    );

    // The latencies lie within those of the delivered pushes themselves.
    let (fastest, slowest): (f64, f64) = sqlx::query_as(
        "SELECT min(extract(epoch FROM d.delivered_at - n.event_created_at) * 1000)::float8,
                max(extract(epoch FROM d.delivered_at - n.event_created_at) * 1000)::float8
         FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE d.channel = 'apns' AND d.status = 'delivered' AND NOT d.escalation",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let health = bilet::store::deliveries::channel_health(&app.db, 3600, 900)
        .await
        .unwrap();
    let apns = health.iter().find(|h| h.channel == "apns").unwrap();
    let (p50, p95) = (apns.latency_p50_ms.unwrap(), apns.latency_p95_ms.unwrap());
    assert!(
        fastest <= p50 && p50 <= p95 && p95 <= slowest,
        "{fastest} {p50} {p95} {slowest}"
    );

    // A delivery recorded two hours ago is outside the window.
    sqlx::query(
        "UPDATE deliveries SET created_at = now() - interval '2 hours' WHERE device_token = $1",
    )
    .bind(&rejected)
    .execute(&app.db)
    .await
    .unwrap();
    let (_, html) = page(&app, &console, "/console/admin/channels?lang=en").await;
    assert_eq!(
        text_by_id(&html, "apns-dead"),
        (count_of(&ledger, "apns", &["dead"]) - 1).to_string()
    );
    assert!(!html.contains("TopicDisallowed"), "{html}");
    assert!(html.contains("Latency p50"), "English through the switch");
}

/// A moment as the console shows it in a zone of `hours` east of UTC.
fn shown_at(at: chrono::DateTime<chrono::Utc>, hours: i32) -> String {
    at.with_timezone(&chrono::FixedOffset::east_opt(hours * 3600).unwrap())
        .format("%d.%m.%Y %H:%M")
        .to_string()
}

#[tokio::test]
async fn event_history_and_report_pages_show_times_in_the_events_zone_or_moscow_labelled_never_utc()
{
    let app = spawn_api_only(|_| {}).await;
    let organizer = app.organizer().await;
    let starts_at = (chrono::Utc::now() + Span::days(5))
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap();
    let mut body = event_input(Span::days(5), 5);
    body["starts_at"] = json!(starts_at);
    body["ends_at"] = json!(starts_at + Span::hours(3));
    body["signup_deadline"] = json!(starts_at - Span::hours(1));
    body["time_zone"] = json!("Asia/Vladivostok");
    let event = app.publish_event(&organizer, &body).await;
    let cancelled = app
        .post_as(
            &format!("/v1/events/{event}/cancel"),
            &organizer.access,
            &json!({ "reason": "Площадка закрыта на ремонт" }),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let (announcement, told_at): (Uuid, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT event_id, created_at FROM outbox WHERE kind = 'event_cancelled'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let (console, _) = console_sign_in(&app, &organizer.email, PASSWORD)
        .await
        .unwrap();

    let (status, html) = page(&app, &console, &format!("/console/events/{event}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("{} (Asia/Vladivostok)", shown_at(starts_at, 10))),
        "{html}"
    );
    assert!(html.contains(&format!(
        "{} (Asia/Vladivostok)",
        shown_at(starts_at + Span::hours(3), 10)
    )));
    assert!(html.contains(&format!("{} (Asia/Vladivostok)", shown_at(told_at, 10))));
    assert!(
        !html.contains(&shown_at(starts_at, 0)),
        "no UTC time: {html}"
    );

    let (status, html) = page(&app, &console, "/console/history").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("{} (Europe/Moscow)", shown_at(told_at, 3))),
        "{html}"
    );
    assert!(!html.contains(&shown_at(told_at, 0)), "no UTC time: {html}");

    let (status, html) = page(
        &app,
        &console,
        &format!("/console/announcements/{announcement}/report"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("{} (Asia/Vladivostok)", shown_at(told_at, 10))),
        "{html}"
    );
    assert!(!html.contains(&shown_at(told_at, 0)), "no UTC time: {html}");
}

/// Reads a server-sent event stream one event at a time.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

enum Next {
    Event(String),
    Ended,
    Quiet,
}

impl EventStream {
    /// The next event's data, the stream's end, or silence for `wait`.
    async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if !data.is_empty() {
                    return Next::Event(data.join("\n"));
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Next::Quiet,
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) => return Next::Ended,
            }
        }
    }

    async fn event(&mut self, what: &str) -> serde_json::Value {
        match self.next(Duration::from_secs(20)).await {
            Next::Event(data) => serde_json::from_str(&data).unwrap(),
            Next::Ended => panic!("the stream ended before {what}"),
            Next::Quiet => panic!("no event for {what}"),
        }
    }
}

async fn open_stream(app: &TestApp, console: &reqwest::Client, announcement: Uuid) -> EventStream {
    let response = console
        .get(app.url(&format!("/console/announcements/{announcement}/stream")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    EventStream {
        response,
        buffer: String::new(),
    }
}

#[tokio::test]
async fn the_live_progress_stream_lasts_while_messages_are_out_and_ends_when_all_are_or_the_session_does()
 {
    // No workers: the test fans out and settles the deliveries itself, so the stream sees
    // each stage for as long as the test holds it there.
    let app = spawn_api_only(|_| {}).await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let family = app.family().await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    let approved = app
        .post_as(
            &format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap()),
            &family.parent.access,
            &json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let cancelled = app
        .post_as(
            &format!("/v1/events/{event}/cancel"),
            &organizer.access,
            &json!({ "reason": "Площадка закрыта на ремонт" }),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let announcement: Uuid =
        sqlx::query_scalar("SELECT event_id FROM outbox WHERE kind = 'event_cancelled'")
            .fetch_one(&app.db)
            .await
            .unwrap();

    // Signing out ends a stream whose messages are not out yet.
    let (console, _) = console_sign_in(&app, &organizer.email, PASSWORD)
        .await
        .unwrap();
    let mut watching = open_stream(&app, &console, announcement).await;
    assert_eq!(watching.event("the first counts").await["done"], false);
    let (_, events) = page(&app, &console, "/console/events").await;
    let signed_out = post_form(&app, &console, "/console/logout", &csrf_in(&events), &[]).await;
    assert_eq!(signed_out.status(), 303);
    match watching.next(Duration::from_secs(20)).await {
        Next::Ended => {}
        Next::Event(data) => panic!("an event after sign-out: {data}"),
        Next::Quiet => panic!("the stream outlived its session"),
    }

    // Otherwise it stays open while messages are out, and ends once every one is.
    let (console, _) = console_sign_in(&app, &organizer.email, PASSWORD)
        .await
        .unwrap();
    let mut watching = open_stream(&app, &console, announcement).await;
    assert_eq!(watching.event("the first counts").await["done"], false);
    match watching.next(Duration::from_secs(7)).await {
        Next::Quiet => {}
        Next::Ended => panic!("the stream ended with nothing out yet"),
        Next::Event(data) => panic!("nothing changed, yet: {data}"),
    }
    let report = bilet::notify::fanout::fan_out(
        &app.state.hub(),
        bilet::domain::ids::DomainEventId(announcement),
    )
    .await
    .unwrap();
    assert!(report.deliveries > 0);
    let fanned = watching.event("the fanned-out counts").await;
    assert_eq!(fanned["done"], false, "{fanned}");
    let queued: i64 = fanned["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["queued"].as_i64().unwrap())
        .sum();
    assert!(queued > 0, "{fanned}");
    sqlx::query(
        "UPDATE deliveries d SET status = 'delivered', delivered_at = now(), updated_at = now()
         FROM notifications n WHERE n.id = d.notification_id AND n.event_id = $1",
    )
    .bind(announcement)
    .execute(&app.db)
    .await
    .unwrap();
    let last = watching.event("every message out").await;
    assert_eq!(last["done"], true, "{last}");
    match watching.next(Duration::from_secs(20)).await {
        Next::Ended => {}
        Next::Event(data) => panic!("an event after the last: {data}"),
        Next::Quiet => panic!("the stream stayed open with every message out"),
    }
}

/// RFC 4648 base32, decoded here rather than by the code under test.
fn base32(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u64, 0);
    for c in text.chars() {
        buffer = (buffer << 5) | ALPHABET.find(c).unwrap() as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The RFC 6238 code (HMAC-SHA1, 30 s, six digits) of the step `offset` steps from now,
/// computed here from the secret the console showed.
fn totp(secret: &str, offset: i64) -> String {
    let step = chrono::Utc::now().timestamp().div_euclid(30) + offset;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &base32(secret));
    let mac = ring::hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let at = usize::from(mac[19] & 0x0f);
    let value = u32::from_be_bytes([mac[at] & 0x7f, mac[at + 1], mac[at + 2], mac[at + 3]]);
    format!("{:06}", value % 1_000_000)
}

/// Submits the code step of a sign-in.
async fn give_code(app: &TestApp, client: &reqwest::Client, code: &str) -> reqwest::Response {
    let (status, html) = page(app, client, "/console/login/code").await;
    assert_eq!(status, 200, "the code step: {html}");
    post_form(
        app,
        client,
        "/console/login/code",
        &csrf_in(&html),
        &[("code", code)],
    )
    .await
}

#[tokio::test]
async fn a_staff_member_turns_on_a_totp_second_factor_that_sign_in_then_asks_for_each_code_once() {
    let app = spawn_app().await;
    let organizer = staff_account(&app, StaffRole::Organizer, Some("Технопарк")).await;
    let organizer_id = account_of(&app, &organizer).await;
    let (console, landed) = console_sign_in(&app, &organizer, PASSWORD).await.unwrap();
    assert_eq!(landed, "/console/events");
    let (status, html) = page(&app, &console, "/console/second-factor").await;
    assert_eq!(status, 200);
    assert!(html.contains("data-on=\"false\""));
    let started = post_form(
        &app,
        &console,
        "/console/second-factor/start",
        &csrf_in(&html),
        &[],
    )
    .await;
    assert_eq!(started.status(), 303);
    let (_, html) = page(&app, &console, "/console/second-factor").await;
    let secret = text_by_id(&html, "otpauth-secret");
    assert_eq!(base32(&secret).len(), 20, "a 160-bit secret: {secret}");
    let uri = text_by_id(&html, "otpauth-uri").replace("&#38;", "&");
    assert_eq!(
        uri,
        format!(
            "otpauth://totp/bilet%3Aconsole?secret={secret}&issuer=bilet&algorithm=SHA1&digits=6&period=30"
        )
    );
    let stored: String =
        sqlx::query_scalar("SELECT secret_enc FROM staff_second_factors WHERE account_id = $1")
            .bind(organizer_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        stored.starts_with("v1:") && !stored.contains(&secret),
        "encrypted at rest"
    );

    // Not on until a first code confirms it.
    let csrf = csrf_in(&html);
    let wrong = if totp(&secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let refused = post_form(
        &app,
        &console,
        "/console/second-factor/confirm",
        &csrf,
        &[("code", wrong)],
    )
    .await;
    assert_eq!(refused.status(), 422);
    let (other, landed) = console_sign_in(&app, &organizer, PASSWORD).await.unwrap();
    assert_eq!(landed, "/console/events", "still off: no code asked");
    drop(other);
    let first = totp(&secret, 0);
    let confirmed = post_form(
        &app,
        &console,
        "/console/second-factor/confirm",
        &csrf,
        &[("code", &first)],
    )
    .await;
    assert_eq!(confirmed.status(), 303);
    let (_, html) = page(&app, &console, "/console/second-factor").await;
    assert!(html.contains("data-on=\"true\""), "{html}");

    // Sign-in now asks for a code after the password, and the password alone opens nothing.
    let (browser, landed) = console_sign_in(&app, &organizer, PASSWORD).await.unwrap();
    assert_eq!(landed, "/console/login/code");
    let events = browser
        .get(app.url("/console/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 303, "no session before the code");
    assert_eq!(events.headers()["location"], "/console/login");
    let reused = give_code(&app, &browser, &first).await;
    assert_eq!(reused.status(), 401, "the confirming code was used");
    assert!(
        reused
            .text()
            .await
            .unwrap()
            .contains("Неверный или уже использованный код")
    );
    let next = totp(&secret, 1);
    let accepted = give_code(&app, &browser, &next).await;
    assert_eq!(accepted.status(), 303);
    assert_eq!(accepted.headers()["location"], "/console/events");
    assert_eq!(page(&app, &browser, "/console/events").await.0, 200);
    let signed_in: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM access_audit WHERE subject_id = $1 AND action = 'console_sign_in'",
    )
    .bind(organizer_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(signed_in, 3, "two sign-ins without the factor, one with it");

    // The same code a second time, in another sign-in: refused.
    let (again, _) = console_sign_in(&app, &organizer, PASSWORD).await.unwrap();
    assert_eq!(give_code(&app, &again, &next).await.status(), 401);
    // A code two steps away is outside the window.
    assert_eq!(
        give_code(&app, &again, &totp(&secret, 3)).await.status(),
        401
    );

    // The API's login asks for the same second factor: the password alone gets no tokens.
    let login = |code: Option<&str>| {
        let mut body = json!({
            "email": organizer, "password": PASSWORD,
            "device": { "name": "Ноутбук", "platform": "web" },
        });
        if let Some(code) = code {
            body["totp_code"] = json!(code);
        }
        body
    };
    let bare = app.post_json("/v1/auth/login", &login(None)).await;
    assert_problem(bare, 401, "second-factor-required").await;
    let used = app.post_json("/v1/auth/login", &login(Some(&next))).await;
    assert_problem(used, 401, "second-factor-required").await;
    let malformed = app
        .post_json("/v1/auth/login", &login(Some("12ab56")))
        .await;
    assert_eq!(malformed.status(), 422);
    // As if a minute had passed since the last code was used: the current code works, once.
    sqlx::query("UPDATE staff_second_factors SET last_step = $2 WHERE account_id = $1")
        .bind(organizer_id)
        .bind(chrono::Utc::now().timestamp().div_euclid(30) - 2)
        .execute(&app.db)
        .await
        .unwrap();
    let current = totp(&secret, 0);
    let tokens = app
        .post_json("/v1/auth/login", &login(Some(&current)))
        .await;
    assert_eq!(tokens.status(), 200);
    let replayed = app
        .post_json("/v1/auth/login", &login(Some(&current)))
        .await;
    assert_problem(replayed, 401, "second-factor-required").await;

    // Guessing is slowed as password guessing is.
    let mut statuses = Vec::new();
    for _ in 0..=app.settings.auth.login_free_failures {
        let response = give_code(&app, &again, wrong).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn the_admin_pages_and_the_second_factor_page_work_in_a_real_browser_and_pass_axe() {
    use crate::console::{
        assert_accessible, browser, chromedriver, click, fill, path_of, screenshot, start_driver,
        text_of, wait_css,
    };
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromedriver is missing: install chromium and chromium-driver"
        );
        eprintln!("SKIPPED: the admin pages' browser test needs chromedriver");
        return;
    };
    let app = spawn_app().await;
    let admin = staff_account(&app, StaffRole::Admin, None).await;
    let snils = valid_snils();
    snils::conflict(&app, &snils).await;
    let driver = start_driver(&driver_path).await;
    let browser = browser(&driver).await;
    let outcome = async {
        browser.goto(&app.url("/console")).await.expect("console");
        fill(&browser, "email", &admin).await;
        fill(&browser, "password", PASSWORD).await;
        click(
            &browser,
            "form[action='/console/login'] button[type=submit]",
        )
        .await;
        wait_css(&browser, "form[action='/console/logout']").await;
        assert_eq!(path_of(&browser).await, "/console/admin/dead-letters");

        click(&browser, "a[href='/console/admin/staff']").await;
        wait_css(&browser, "form[action='/console/admin/staff']").await;
        assert_accessible(&browser, "staff").await;
        let organizer = email("browser-org");
        fill(&browser, "email", &organizer).await;
        fill(&browser, "organization", "Кванториум Казань").await;
        click(
            &browser,
            "form[action='/console/admin/staff'] button[type=submit]",
        )
        .await;
        wait_css(&browser, "#generated-password").await;
        assert!(text_of(&browser, "#generated-password").await.len() >= 20);
        assert!(text_of(&browser, "main").await.contains(&organizer));
        screenshot(&browser, "admin-staff").await;
        assert_accessible(&browser, "staff, an account created").await;

        click(&browser, "a[href='/console/admin/snils-conflicts']").await;
        wait_css(&browser, "form[action$='/settle']").await;
        assert!(!text_of(&browser, "main").await.contains(&snils));
        assert_accessible(&browser, "SNILS conflicts").await;
        click(&browser, "form[action$='/settle'] button.secondary").await;
        wait_css(&browser, "main > p:not(.sub)").await;
        assert!(
            text_of(&browser, "main")
                .await
                .contains("Конфликтов, ждущих решения, нет.")
        );

        click(&browser, "a[href='/console/admin/channels']").await;
        wait_css(&browser, "tr[data-channel='email']").await;
        screenshot(&browser, "admin-channels").await;
        assert_accessible(&browser, "channels").await;

        click(&browser, "a[href='/console/second-factor']").await;
        wait_css(&browser, "form[action='/console/second-factor/start']").await;
        click(
            &browser,
            "form[action='/console/second-factor/start'] button",
        )
        .await;
        wait_css(&browser, "#otpauth-secret").await;
        let secret = text_of(&browser, "#otpauth-secret").await;
        assert_accessible(&browser, "second factor enrolment").await;
        fill(&browser, "code", &totp(&secret, 0)).await;
        click(
            &browser,
            "form[action='/console/second-factor/confirm'] button",
        )
        .await;
        wait_css(&browser, "#second-factor-state[data-on='true']").await;
        assert_accessible(&browser, "second factor on").await;

        // Signing in again asks for the code after the password.
        click(&browser, "form[action='/console/logout'] button").await;
        wait_css(&browser, "form[action='/console/login']").await;
        fill(&browser, "email", &admin).await;
        fill(&browser, "password", PASSWORD).await;
        click(
            &browser,
            "form[action='/console/login'] button[type=submit]",
        )
        .await;
        wait_css(&browser, "form[action='/console/login/code']").await;
        assert_accessible(&browser, "sign-in code").await;
        fill(&browser, "code", &totp(&secret, 1)).await;
        click(
            &browser,
            "form[action='/console/login/code'] button[type=submit]",
        )
        .await;
        wait_css(&browser, "form[action='/console/logout']").await;
        assert_eq!(path_of(&browser).await, "/console/admin/dead-letters");
    };
    outcome.await;
    let _ = browser.close().await;
    drop(driver);
}
