//! The edge: metric labels from a closed set, idempotent replays only for live
//! credentials, security headers and same-origin posts on the pages, no caching of
//! personal responses, errors that never repeat what was submitted, and input validation
//! that refuses what other systems (SMS, e-mail, RFC 3339 clients) cannot carry.

use std::collections::BTreeSet;

use base64::Engine;
use chrono::{Duration as Span, Utc};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use bilet::notify::providers::ChannelKind;

use crate::helpers::{
    PASSWORD, Person, TestApp, assert_problem, event_input, parent_profile, spawn_app,
    spawn_app_with, student_profile, valid_snils,
};

const STANDARD_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other",
];

/// The value of one label in each sample line of a metric.
fn label_values(metrics: &str, metric: &str, label: &str) -> BTreeSet<String> {
    let needle = format!("{label}=\"");
    metrics
        .lines()
        .filter(|line| line.starts_with(metric))
        .filter_map(|line| {
            let start = line.find(&needle)? + needle.len();
            let end = line[start..].find('"')? + start;
            Some(line[start..end].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn thousands_of_made_up_methods_leave_the_metric_labels_bounded() {
    let app = spawn_app().await;
    let requests = futures_util::stream::iter(0..3000).map(|i| {
        let method = Method::from_bytes(format!("MADEUP{i}X").as_bytes()).unwrap();
        let path = if i % 2 == 0 { "/health" } else { "/nothing" };
        app.client.request(method, app.url(path)).send()
    });
    let statuses: Vec<u16> = requests
        .buffer_unordered(32)
        .map(|r| r.map(|r| r.status().as_u16()).unwrap_or(0))
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == 404 || *s == 405),
        "{statuses:?}"
    );

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("MADEUP"),
        "a made-up method became a label"
    );
    for metric in [
        "bilet_http_requests_total",
        "bilet_http_request_duration_seconds",
    ] {
        let methods = label_values(&metrics, metric, "method");
        assert!(
            methods
                .iter()
                .all(|m| STANDARD_METHODS.contains(&m.as_str())),
            "{metric}: {methods:?}"
        );
        assert!(methods.contains("other"), "{metric}: {methods:?}");
    }
    let routes = label_values(&metrics, "bilet_http_requests_total", "route");
    assert!(
        routes
            .iter()
            .all(|r| r == "unmatched" || r.starts_with('/')),
        "{routes:?}"
    );
    assert!(!routes.iter().any(|r| r.contains("nothing")), "{routes:?}");
    let statuses = label_values(&metrics, "bilet_http_requests_total", "status");
    assert!(
        statuses
            .iter()
            .all(|s| s.len() == 3 && s.parse::<u16>().is_ok()),
        "{statuses:?}"
    );
    assert!(metrics.len() < 64 * 1024, "{} bytes", metrics.len());
}

/// An app configured as in production: every channel disabled (production refuses
/// simulators), metrics on their own address.
async fn production_app() -> TestApp {
    spawn_app_with(|s| {
        s.env = bilet::settings::Environment::Production;
        s.push_config = "tests/fixtures/channels-disabled.toml".into();
        s.http.metrics_addr = Some(([127, 0, 0, 1], 0).into());
    })
    .await
}

#[tokio::test]
async fn in_production_the_public_listener_does_not_serve_metrics() {
    let app = production_app().await;
    assert_problem(app.get("/metrics").await, 404, "not-found").await;
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn in_production_metrics_are_served_only_on_the_metrics_address() {
    let app = production_app().await;
    let metrics_addr = app.metrics_addr.expect("a metrics listener");
    assert_ne!(metrics_addr, app.addr);
    let url = |path: &str| format!("http://{metrics_addr}{path}");
    assert_eq!(app.get("/health").await.status(), 200);
    let scraped = app.client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("bilet_http_requests_total"), "{text}");
    for path in ["/health", "/v1/me", "/openapi.json", "/docs/"] {
        let response = app.client.get(url(path)).send().await.unwrap();
        assert_problem(response, 404, "not-found").await;
    }
    let response = app.client.post(url("/v1/auth/login")).send().await.unwrap();
    assert_problem(response, 404, "not-found").await;
}

#[tokio::test]
async fn in_development_metrics_stay_on_the_main_listener() {
    let app = spawn_app().await;
    assert_eq!(app.metrics_addr, None);
    assert_eq!(app.get("/metrics").await.status(), 200);
}

#[tokio::test]
async fn a_stored_response_is_not_replayed_after_logout() {
    let app = spawn_app().await;
    let child = app.signup("student").await;
    let key = uuid::Uuid::new_v4().to_string();
    let post = || {
        app.authed(Method::POST, "/v1/me/link-codes", &child.access)
            .header("idempotency-key", &key)
            .json(&json!({}))
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 201);
    let again = post().await.unwrap();
    assert_eq!(again.status(), 201, "a retry while logged in is replayed");
    assert_eq!(again.headers()["idempotent-replayed"], "true");

    let logout = app
        .post_as("/v1/auth/logout", &child.access, &json!({}))
        .await;
    assert_eq!(logout.status(), 204);
    let after = post().await.unwrap();
    assert!(after.headers().get("idempotent-replayed").is_none());
    let body = assert_problem(after, 401, "unauthorized").await;
    assert!(body.get("code").is_none(), "{body}");
}

#[tokio::test]
async fn a_stored_response_is_replayed_only_to_the_account_that_stored_it() {
    let app = spawn_app().await;
    let (first, second) = (app.signup("student").await, app.signup("student").await);
    let key = uuid::Uuid::new_v4().to_string();
    let post = |person: &Person| {
        app.authed(Method::POST, "/v1/me/link-codes", &person.access)
            .header("idempotency-key", &key)
            .json(&json!({}))
            .send()
    };
    let mine: Value = post(&first).await.unwrap().json().await.unwrap();
    let theirs = post(&second).await.unwrap();
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(mine["code"], theirs["code"]);
}

#[tokio::test]
async fn a_bad_idempotency_key_is_401_without_credentials_and_405_on_a_wrong_method() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    let unauthenticated = app
        .client
        .post(app.url("/v1/me/link-codes"))
        .header("idempotency-key", "has space")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(unauthenticated, 401, "unauthorized").await;
    let stale = app
        .client
        .post(app.url("/v1/me/link-codes"))
        .bearer_auth("not-a-token")
        .header("idempotency-key", "has space")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 401, "unauthorized").await;
    let wrong_method = app
        .authed(Method::POST, "/v1/me", &person.access)
        .header("idempotency-key", "has space")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(wrong_method, 405, "method-not-allowed").await;
    let authenticated = app
        .authed(Method::POST, "/v1/me/link-codes", &person.access)
        .header("idempotency-key", "has space")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(authenticated, 422, "validation").await;
}

/// The approval link an SMS carried to a parent without the app.
async fn approval_link(app: &TestApp) -> (crate::helpers::Family, String, String) {
    let organizer = app.organizer().await;
    let family = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    let sms = app
        .received(ChannelKind::Sms, &family.parent_phone, 1)
        .await;
    let text = sms[0].body.to_string();
    let start = text.find("/a/").expect("the SMS carries a link");
    let path: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\\')
        .collect();
    (family, path, signup["id"].as_str().unwrap().to_owned())
}

async fn signup_status(app: &TestApp, family: &crate::helpers::Family, signup: &str) -> String {
    let body: Value = app
        .get_as(&format!("/v1/signups/{signup}"), &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    body["status"].as_str().unwrap().to_owned()
}

fn assert_page_headers(response: &reqwest::Response) {
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "CSP: {csp}");
    assert!(csp.contains("default-src 'none'"), "CSP: {csp}");
    // Not `no-referrer`: under it a browser sends `Origin: null` on the page's own form,
    // which the cross-site check refuses; `same-origin` tells other sites nothing either.
    assert_eq!(headers.get("referrer-policy").unwrap(), "same-origin");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
}

/// A page takes its styles from the console's stylesheet file, which its CSP allows, and
/// has no inline style or script.
async fn assert_styles_allowed(response: reqwest::Response) {
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("style-src 'self'"), "CSP: {csp}");
    assert!(!csp.contains("unsafe-inline"), "CSP: {csp}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("<link rel=\"stylesheet\" href=\"/console/static/console.css\">"),
        "the page has its style"
    );
    assert!(
        !html.contains("<style") && !html.contains("<script"),
        "no inline code"
    );
    assert!(!html.contains("style=\""), "no inline style attributes");
}

#[tokio::test]
async fn the_pages_and_the_docs_send_csp_referrer_policy_no_store_and_nosniff() {
    let app = spawn_app().await;
    let (family, path, _) = approval_link(&app).await;
    let page = app.get(&path).await;
    assert_eq!(page.status(), 200);
    assert_page_headers(&page);
    assert_styles_allowed(page).await;
    let forged = app
        .get("/a/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(forged.status(), 404);
    assert_page_headers(&forged);

    let token = bilet::notify::links::unsubscribe_token(
        &app.state.index,
        family.parent.account_id,
        "digest",
    );
    let unsubscribe = app.get(&format!("/u/{token}")).await;
    assert_eq!(unsubscribe.status(), 200);
    assert_page_headers(&unsubscribe);
    assert_styles_allowed(unsubscribe).await;

    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(docs.headers()["referrer-policy"], "no-referrer");
    assert_eq!(docs.headers()["x-content-type-options"], "nosniff");
    // Swagger UI's inline scripts run: each is allowed by its hash.
    let html = docs.text().await.unwrap();
    let mut rest = html.as_str();
    let mut scripts = 0;
    while let Some(open) = rest.find("<script") {
        let after = &rest[open..];
        let body_start = after.find('>').unwrap() + 1;
        let close = after.find("</script>").unwrap();
        let digest = Sha256::digest(&after.as_bytes()[body_start..close]);
        let hash = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(
            csp.contains(&format!("'sha256-{hash}'")),
            "script {scripts}"
        );
        scripts += 1;
        rest = &after[close..];
    }
    assert_eq!(scripts, 2);
}

#[tokio::test]
async fn a_cross_site_post_to_an_approval_link_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (family, path, signup) = approval_link(&app).await;
    let own_origin = app.settings.hub.public_url.trim_end_matches('/').to_owned();
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("referer", "https://evil.example/page"),
        ("origin", "http://127.0.0.1:8080.evil.example"),
    ] {
        let response = app
            .client
            .post(app.url(&path))
            .header(header, value)
            .form(&[("decision", "approve")])
            .send()
            .await
            .unwrap();
        assert_page_headers(&response);
        assert_problem(response, 403, "forbidden").await;
        assert_eq!(
            signup_status(&app, &family, &signup).await,
            "pending_parent",
            "{header}: {value}"
        );
    }
    let same_site = app
        .client
        .post(app.url(&path))
        .header("origin", &own_origin)
        .form(&[("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), 200);
    assert_eq!(signup_status(&app, &family, &signup).await, "approved");
}

#[tokio::test]
async fn a_cross_site_unsubscribe_is_refused_and_one_without_origin_works() {
    let app = spawn_app().await;
    let parent = app.signup("parent").await;
    let token =
        bilet::notify::links::unsubscribe_token(&app.state.index, parent.account_id, "digest");
    let path = format!("/u/{token}");
    let disabled = |app: &TestApp| {
        let account = parent.account_id;
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, Value>(
                "SELECT disabled FROM notification_preferences WHERE account_id = $1",
            )
            .bind(account)
            .fetch_optional(&db)
            .await
            .unwrap()
        }
    };
    let before = disabled(&app).await;
    let cross = app
        .client
        .post(app.url(&path))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_problem(cross, 403, "forbidden").await;
    assert_eq!(disabled(&app).await, before);

    // RFC 8058: a mail client's one-click POST carries neither Origin nor Referer.
    let one_click = app
        .client
        .post(app.url(&path))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);
    let after = disabled(&app).await.expect("preferences saved");
    assert_eq!(after["digest"], json!(["email"]));
}

fn assert_no_store(response: &reqwest::Response, what: &str) {
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{what}"
    );
}

#[tokio::test]
async fn responses_with_personal_data_or_tokens_are_not_cached() {
    let app = spawn_app().await;
    let family = app.family().await;
    let child = family.child.account_id;
    for (path, token) in [
        ("/v1/me".to_owned(), &family.parent.access),
        ("/v1/me/export".to_owned(), &family.parent.access),
        (
            format!("/v1/children/{child}/profile"),
            &family.parent.access,
        ),
        ("/v1/me/sessions".to_owned(), &family.child.access),
    ] {
        let response = app.get_as(&path, token).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_no_store(&response, &path);
    }
    let login = app.login(&family.parent.email, PASSWORD, "Ноутбук").await;
    assert_eq!(login.status(), 200);
    assert_no_store(&login, "login");
    let refresh = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": family.child.refresh }),
        )
        .await;
    assert_eq!(refresh.status(), 200);
    assert_no_store(&refresh, "refresh");
    let unauthorized = app.get("/v1/me").await;
    assert_no_store(&unauthorized, "401");
    assert_problem(unauthorized, 401, "unauthorized").await;
    let invalid = app
        .put_as(
            "/v1/me/parent-profile",
            &family.parent.access,
            &json!({ "surname": 5 }),
        )
        .await;
    assert_no_store(&invalid, "422");
    assert_eq!(
        invalid.headers()["x-content-type-options"],
        "nosniff",
        "API responses are not sniffed either"
    );
}

/// Asserts a 422 whose body names `field` and repeats none of `submitted`.
async fn assert_refused_without_echo(
    response: reqwest::Response,
    fields: &[&str],
    submitted: &[&str],
) {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(status, 422, "{body}");
    for value in submitted {
        assert!(!body.contains(value), "`{value}` echoed in {body}");
    }
    let doc: Value = serde_json::from_str(&body).unwrap();
    let named: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in fields {
        assert!(named.contains(field), "{field} not in {named:?}");
    }
}

#[tokio::test]
async fn validation_errors_name_the_field_and_the_rule_but_never_the_value() {
    let app = spawn_app().await;
    // Wrong JSON types: serde would quote the string it got.
    let register = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": "tайный@адрес.рф", "password": 12345678901u64, "role": "сверхадмин-xq" }),
        )
        .await;
    assert_refused_without_echo(register, &[], &["сверхадмин-xq", "12345678901", "tайный"]).await;

    let parent = app.signup("parent").await;
    let profile = app
        .put_as(
            "/v1/me/parent-profile",
            &parent.access,
            &json!({
                "surname": "Смирнов", "given_name": "Пётр",
                "birth_date": "1985-04-12",
                "snils": "112-233-445 96",
                "phone": "+7 (912) 345-67-8x",
            }),
        )
        .await;
    assert_refused_without_echo(
        profile,
        &["snils", "phone"],
        &["112-233-445 96", "11223344596", "345-67-8x", "912"],
    )
    .await;
    let typed = app
        .put_as(
            "/v1/me/parent-profile",
            &parent.access,
            &json!({
                "surname": ["Секретов"], "given_name": "Пётр",
                "birth_date": "1985-04-12",
                "snils": 11223344595u64,
                "phone": "+79123456789",
            }),
        )
        .await;
    assert_refused_without_echo(typed, &[], &["Секретов", "11223344595"]).await;

    let student = app.signup("student").await;
    let mut body = student_profile(&valid_snils());
    body["grade"] = json!("седьмой-zq");
    let grade = app
        .put_as("/v1/me/student-profile", &student.access, &body)
        .await;
    assert_refused_without_echo(grade, &["grade"], &["седьмой-zq"]).await;

    let organizer = app.organizer().await;
    let mut event = event_input(Span::days(5), 5);
    event["format"] = json!("телепорт-qz");
    let created = app.post_as("/v1/events", &organizer.access, &event).await;
    assert_refused_without_echo(created, &["format"], &["телепорт-qz"]).await;

    let listing = app
        .get_as("/v1/events?limit=secret-limit-qz", &student.access)
        .await;
    assert_refused_without_echo(listing, &["limit"], &["secret-limit-qz"]).await;
}

#[tokio::test]
async fn zero_and_reserved_snils_are_refused() {
    let app = spawn_app().await;
    let parent = app.signup("parent").await;
    for snils in ["000-000-000 00", "001-001-998 77", "000-000-001 00"] {
        let response = app
            .put_as(
                "/v1/me/parent-profile",
                &parent.access,
                &parent_profile(snils),
            )
            .await;
        assert_refused_without_echo(response, &["snils"], &[snils]).await;
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM parent_profiles")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_russian_phone_must_start_with_3_4_8_or_9_after_plus_seven() {
    let app = spawn_app().await;
    let parent = app.signup("parent").await;
    for phone in ["+7 000 000-00-00", "+7 100 123-45-67", "8 (512) 345-67-89"] {
        let mut body = parent_profile(&valid_snils());
        body["phone"] = json!(phone);
        let response = app
            .put_as("/v1/me/parent-profile", &parent.access, &body)
            .await;
        assert_refused_without_echo(response, &["phone"], &[phone]).await;
    }
    let mut body = parent_profile(&valid_snils());
    body["phone"] = json!("+7 495 123-45-67");
    let ok = app
        .put_as("/v1/me/parent-profile", &parent.access, &body)
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
}

#[tokio::test]
async fn a_name_mixing_cyrillic_and_latin_letters_in_a_word_is_refused() {
    let app = spawn_app().await;
    let parent = app.signup("parent").await;
    // "Smirnov" with a Cyrillic "о", and "Иванов" with a Latin "o".
    for (field, name) in [
        ("surname", "Smirn\u{043e}v"),
        ("given_name", "Иван\u{006f}в"),
    ] {
        let mut body = parent_profile(&valid_snils());
        body[field] = json!(name);
        let response = app
            .put_as("/v1/me/parent-profile", &parent.access, &body)
            .await;
        assert_refused_without_echo(response, &[field], &[name]).await;
    }
    let mut body = parent_profile(&valid_snils());
    body["surname"] = json!("Smirnov-Иванов");
    let ok = app
        .put_as("/v1/me/parent-profile", &parent.access, &body)
        .await;
    assert_eq!(ok.status(), 200, "each word in one script is fine");
}

#[tokio::test]
async fn bidi_overrides_and_invisible_controls_are_refused_in_every_free_text() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    for (field, bad) in [
        ("title", "Проба \u{202e}тобор"),
        ("description", "Описание\u{2066} пробы"),
        ("address", "ул. Баумана,\u{200b} 1"),
        ("city", "Каз\u{feff}ань"),
    ] {
        let mut event = event_input(Span::days(5), 5);
        event[field] = json!(bad);
        let response = app.post_as("/v1/events", &organizer.access, &event).await;
        assert_refused_without_echo(response, &[field], &[bad]).await;
    }
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let cancel = app
        .post_as(
            &format!("/v1/events/{event}/cancel"),
            &organizer.access,
            &json!({ "reason": "Отмена \u{202a}по болезни" }),
        )
        .await;
    assert_refused_without_echo(cancel, &["reason"], &[]).await;
    let notice = app
        .post_as(
            &format!("/v1/events/{event}/notices"),
            &organizer.access,
            &json!({ "text": "Возьмите \u{2067}паспорт" }),
        )
        .await;
    assert_refused_without_echo(notice, &["text"], &[]).await;

    let student = app.signup("student").await;
    let mut profile = student_profile(&valid_snils());
    profile["school"] = json!("Школа \u{202d}№ 1");
    let response = app
        .put_as("/v1/me/student-profile", &student.access, &profile)
        .await;
    assert_refused_without_echo(response, &["school"], &[]).await;

    let device = app
        .post_json(
            "/v1/auth/login",
            &json!({ "email": student.email, "password": PASSWORD,
                     "device": { "name": "Телефон\u{202e}", "platform": "android" } }),
        )
        .await;
    assert_refused_without_echo(device, &["device.name"], &[]).await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 1, "only the clean event was stored");
}

#[tokio::test]
async fn a_json_array_where_an_object_is_expected_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let event = event_input(Span::days(5), 5);
    let positional: Vec<Value> = [
        "title",
        "description",
        "profession_area",
        "format",
        "region",
        "city",
        "address",
        "grade_min",
        "grade_max",
        "capacity",
        "starts_at",
        "ends_at",
        "time_zone",
        "accessibility",
        "signup_deadline",
        "approval_window_hours",
    ]
    .iter()
    .map(|k| event[*k].clone())
    .collect();
    let response = app
        .post_as("/v1/events", &organizer.access, &json!(positional))
        .await;
    assert_problem(response, 422, "validation").await;
    let parent = app.signup("parent").await;
    let response = app
        .put_as(
            "/v1/me/parent-profile",
            &parent.access,
            &json!([
                "Смирнов",
                "Пётр",
                null,
                "1985-04-12",
                valid_snils(),
                "+79031112233"
            ]),
        )
        .await;
    assert_problem(response, 422, "validation").await;
    let nested = app
        .post_json(
            "/v1/auth/login",
            &json!({ "email": parent.email, "password": PASSWORD, "device": ["Телефон", "ios"] }),
        )
        .await;
    let doc = assert_problem(nested, 422, "validation").await;
    assert_eq!(doc["errors"][0]["field"], "device", "{doc}");
    let stored: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM parent_profiles)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, (0, 0));
}

#[tokio::test]
async fn dates_far_from_now_are_refused_wherever_a_date_is_accepted() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let event = app
        .publish_event(&organizer, &event_input(Span::days(5), 5))
        .await;
    let reschedule = app
        .post_as(
            &format!("/v1/events/{event}/reschedule"),
            &organizer.access,
            &json!({ "starts_at": "9999-12-31T00:00:00Z", "ends_at": "9999-12-31T23:59:59Z" }),
        )
        .await;
    assert_refused_without_echo(reschedule, &["starts_at"], &["9999"]).await;
    let shown: Value = app
        .get_as(&format!("/v1/events/{event}"), &organizer.access)
        .await
        .json()
        .await
        .unwrap();
    let starts = shown["starts_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(starts).is_ok(),
        "{starts}"
    );
    assert!(!starts.starts_with("9999"), "{starts}");

    let mut far = event_input(Span::days(5 * 365), 5);
    far["signup_deadline"] = json!(Utc::now() + Span::days(4));
    let created = app.post_as("/v1/events", &organizer.access, &far).await;
    assert_refused_without_echo(created, &["starts_at"], &[]).await;

    let parent = app.signup("parent").await;
    for birth in ["1900-01-01", "9999-12-31"] {
        let mut body = parent_profile(&valid_snils());
        body["birth_date"] = json!(birth);
        let response = app
            .put_as("/v1/me/parent-profile", &parent.access, &body)
            .await;
        assert_refused_without_echo(response, &["birth_date"], &[birth]).await;
    }
}

#[tokio::test]
async fn push_tokens_without_their_platform_shape_are_refused() {
    let app = production_app().await;
    let person = app.signup("parent").await;
    let device = |token: &str, platform: &str| {
        app.authed(Method::PUT, &format!("/v1/devices/{token}"), &person.access)
            .json(&json!({ "platform": platform, "app_version": "3.4.1", "locale": "ru-RU" }))
            .send()
    };
    let apns = "a".repeat(64);
    let fcm = format!("cXyZ12_-{}:APA91b{}", "q".repeat(14), "Zx9_-".repeat(28));
    let (not_hex, short) = ("g".repeat(64), "a".repeat(63));
    for (token, platform) in [
        ("0", "ios"),
        ("unregistered-1a2b3c4d", "ios"),
        (not_hex.as_str(), "ios"),
        (short.as_str(), "ios"),
        ("0", "android-fcm"),
        (apns.as_str(), "android-fcm"),
        ("x", "android-rustore"),
    ] {
        let response = device(token, platform).await.unwrap();
        let doc = assert_problem(response, 422, "validation").await;
        assert_eq!(doc["errors"][0]["field"], "token", "{token} {platform}");
    }
    assert_eq!(device(&apns, "ios").await.unwrap().status(), 200);
    assert_eq!(device(&fcm, "android-fcm").await.unwrap().status(), 200);
    let rustore = "r".repeat(48);
    assert_eq!(
        device(&rustore, "android-rustore").await.unwrap().status(),
        200
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM devices")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 3);
}

#[tokio::test]
async fn a_simulated_channel_still_takes_the_simulators_test_tokens_but_not_a_bare_digit() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    let put = |token: String| {
        app.authed(Method::PUT, &format!("/v1/devices/{token}"), &person.access)
            .json(&json!({ "platform": "ios", "app_version": "3.4.1", "locale": "ru-RU" }))
            .send()
    };
    let ok = put(format!(
        "unregistered-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let bare = put("0".to_owned()).await.unwrap();
    assert_problem(bare, 422, "validation").await;
}
