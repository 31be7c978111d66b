//! The organizer console (`/console`): its headers and forms over plain HTTP, and the
//! organizer's whole journey in a real headless Chromium driven through chromedriver
//! (WebDriver, with fantoccini), against the real server, PostgreSQL, Redis and the
//! simulators.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bilet::admin::StaffRole;
use bilet::notify::providers::ChannelKind;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Family, PASSWORD, TestApp, email, eventually, spawn_app};

/// axe-core, vendored with its licence (MPL-2.0) in `tests/fixtures/axe-core/`; injected
/// by the test, never shipped to users.
const AXE: &str = include_str!("../fixtures/axe-core/axe.min.js");

/// A staff account made as `bilet admin create-user` makes it; returns its e-mail.
pub(crate) async fn staff_account(
    app: &TestApp,
    role: StaffRole,
    organization: Option<&str>,
) -> String {
    let address = email("console");
    bilet::admin::create_user(
        &app.state,
        role,
        &address,
        organization,
        Some(PASSWORD.to_owned()),
    )
    .await
    .expect("staff account created");
    address
}

/// A client that keeps cookies and follows no redirects, as a browser's first request.
pub(crate) fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The CSRF token of the first form on a page.
pub(crate) fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("the token ends")].to_owned()
}

/// Signs in over plain HTTP; returns the client holding the session.
async fn sign_in_http(app: &TestApp, address: &str) -> reqwest::Client {
    let client = cookie_client();
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    let token = csrf_in(&page.text().await.unwrap());
    let response = client
        .post(app.url("/console/login"))
        .header("origin", format!("http://{}", app.addr))
        .form(&[
            ("csrf", token.as_str()),
            ("email", address),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "sign-in redirects");
    assert_eq!(response.headers()["location"], "/console/events");
    client
}

#[tokio::test]
async fn console_pages_send_a_strict_csp_no_store_and_refuse_forged_or_cross_site_forms() {
    let app = spawn_app().await;
    let address = staff_account(&app, StaffRole::Organizer, Some("Кванториум")).await;
    let anonymous = cookie_client();
    let login = anonymous
        .get(app.url("/console/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let headers = login.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let html = login.text().await.unwrap();
    assert!(html.contains("lang=\"ru\"") && html.contains("Вход для организаторов"));
    assert!(
        !html.contains("<script>") && !html.contains("style=\""),
        "no inline code"
    );
    let english = anonymous
        .get(app.url("/console/login?lang=en"))
        .send()
        .await
        .unwrap();
    assert!(
        english
            .text()
            .await
            .unwrap()
            .contains("Sign in for organizers")
    );

    // Pages of a signed-in organizer need the session; without it, the sign-in page.
    let response = cookie_client()
        .get(app.url("/console/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/console/login");

    let client = sign_in_http(&app, &address).await;
    let page = client
        .get(app.url("/console/events/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let token = csrf_in(&page.text().await.unwrap());
    let own_origin = format!("http://{}", app.addr);
    let form = [("csrf", token.as_str()), ("title", "Проба")];
    // No token, a wrong token, a foreign origin, no origin at all: 403, nothing created.
    for (origin, csrf) in [
        (Some(own_origin.as_str()), ""),
        (Some(own_origin.as_str()), "forged"),
        (Some("https://evil.example"), token.as_str()),
        (None, token.as_str()),
    ] {
        let mut request = client
            .post(app.url("/console/events/new"))
            .form(&[("csrf", csrf), ("title", "Проба")]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "origin {origin:?}, csrf {csrf:?}");
        assert!(response.text().await.unwrap().contains("Форма устарела"));
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 0);
    // With both, the rules answer: the same refusals as the API, beside the fields.
    let response = client
        .post(app.url("/console/events/new"))
        .header("origin", &own_origin)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"description-error\""), "{html}");
    assert!(html.contains("id=\"city-error\""), "{html}");

    // Signing in again rotates the session: the session the browser held is over.
    let again = client
        .post(app.url("/console/login"))
        .header("origin", &own_origin)
        .form(&[
            ("csrf", token.as_str()),
            ("email", address.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    let sessions: Vec<bool> =
        sqlx::query_scalar("SELECT ended_at IS NULL FROM console_sessions ORDER BY created_at")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        sessions,
        [false, true],
        "the old session ended, the new one live"
    );
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    assert_eq!(page.status(), 303, "a signed-in browser goes to its events");
    let page = client.get(app.url("/console/events")).send().await.unwrap();
    let token = csrf_in(&page.text().await.unwrap());
    let out = client
        .post(app.url("/console/logout"))
        .header("origin", &own_origin)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = client.get(app.url("/console/events")).send().await.unwrap();
    assert_eq!(after.status(), 303, "signed out");
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM access_audit WHERE action LIKE 'console_%' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        audit,
        ["console_sign_in", "console_sign_in", "console_sign_out"]
    );
}

#[tokio::test]
async fn students_parents_and_wrong_passwords_get_the_same_refusal_and_the_api_rate_limits() {
    let app = spawn_app().await;
    let parent = app.signup("parent").await;
    let client = cookie_client();
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    let token = csrf_in(&page.text().await.unwrap());
    let origin = format!("http://{}", app.addr);
    for (address, password) in [
        (parent.email.as_str(), PASSWORD),
        ("nobody@example.ru", "x"),
    ] {
        let response = client
            .post(app.url("/console/login"))
            .header("origin", &origin)
            .form(&[
                ("csrf", token.as_str()),
                ("email", address),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Неверная почта или пароль")
        );
    }
    // The API's per-account slowdown counts console attempts too.
    let organizer = staff_account(&app, StaffRole::Organizer, Some("Площадка")).await;
    let mut statuses = Vec::new();
    for _ in 0..(app.settings.auth.login_free_failures + 1) {
        let response = client
            .post(app.url("/console/login"))
            .header("origin", &origin)
            .form(&[
                ("csrf", token.as_str()),
                ("email", organizer.as_str()),
                ("password", "wrong-password-1"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

/// An organizer's API token, for seeding events the console then shows.
async fn api_token(app: &TestApp, address: &str) -> String {
    let response = app.login(address, PASSWORD, "Ноутбук").await;
    assert_eq!(response.status(), 200, "login");
    let tokens: Value = response.json().await.unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_notice_and_a_move_are_previewed_counted_and_sent_through_the_apis_rules() {
    let app = spawn_app().await;
    let address = staff_account(&app, StaffRole::Organizer, Some("Технопарк")).await;
    let token = api_token(&app, &address).await;
    let event = app
        .publish_event(
            &crate::helpers::Person {
                account_id: Uuid::nil(),
                email: address.clone(),
                password: PASSWORD.to_owned(),
                access: token.clone(),
                refresh: String::new(),
                session_id: Uuid::nil(),
            },
            &crate::helpers::event_input(chrono::Duration::days(10), 5),
        )
        .await;
    let family = app.family().await;
    app.sign_up(&family.child.access, event, 201).await;
    let client = sign_in_http(&app, &address).await;
    let origin = format!("http://{}", app.addr);
    let page = client
        .get(app.url(&format!("/console/events/{event}/notice")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_in(&page.text().await.unwrap());

    // The live count: SMS segments by the SMS fitting, push size by the APNs builder.
    let short: Value = client
        .get(app.url(&format!(
            "/console/events/{event}/notice/size?text=Возьмите%20сменку"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(short["size"]["chars"], 15);
    assert_eq!(short["size"]["sms_segments"], 1, "{short}");
    let long: Value = client
        .get(app.url(&format!(
            "/console/events/{event}/notice/size?text={}",
            "я".repeat(900)
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // 900 Cyrillic letters: two bytes each in the payload, and two SMS segments at most
    // (the SMS fitting cuts the rest).
    assert!(
        long["size"]["push_bytes"].as_u64().unwrap()
            >= short["size"]["push_bytes"].as_u64().unwrap() + 1700,
        "{long}"
    );
    assert_eq!(long["size"]["sms_segments"], 2, "{long}");

    // An empty notice is refused beside its field; a real one is previewed, then sent.
    let empty = client
        .post(app.url(&format!("/console/events/{event}/notice/preview")))
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str()), ("text", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);
    assert!(empty.text().await.unwrap().contains("id=\"text-error\""));
    let preview = client
        .post(app.url(&format!("/console/events/{event}/notice/preview")))
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str()), ("text", "Возьмите сменную обувь")])
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.unwrap();
    assert!(
        html.contains("Возьмите сменную обувь") && html.contains("data-count=\"students\">1<"),
        "{html}"
    );
    assert!(
        app.outbox("organizer_notice").await.is_empty(),
        "the preview sends nothing"
    );
    let sent = client
        .post(app.url(&format!("/console/events/{event}/notice")))
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str()), ("text", "Возьмите сменную обувь")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 303);
    let progress = sent.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        progress.starts_with("/console/announcements/"),
        "{progress}"
    );
    assert_eq!(app.outbox("organizer_notice").await.len(), 1);
    app.settled("organizer_notice").await;
    let page = client
        .get(app.url(&progress))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-done=\"true\""), "{page}");

    // A move: the preview shows the new time, confirming moves it through the API's rule.
    let new_start = chrono::Utc::now() + chrono::Duration::days(12);
    let local = |at: chrono::DateTime<chrono::Utc>| {
        at.with_timezone(&bilet::domain::events::utc_offset("Europe/Moscow"))
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let (starts, ends) = (
        local(new_start),
        local(new_start + chrono::Duration::hours(2)),
    );
    let bad = client
        .post(app.url(&format!("/console/events/{event}/reschedule/preview")))
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("starts_at", starts.as_str()),
            ("ends_at", starts.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("id=\"ends_at-error\">должно быть позже начала")
    );
    let preview = client
        .post(app.url(&format!("/console/events/{event}/reschedule/preview")))
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("starts_at", starts.as_str()),
            ("ends_at", ends.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    assert!(
        preview
            .text()
            .await
            .unwrap()
            .contains("data-urgent=\"false\"")
    );
    let moved = client
        .post(app.url(&format!("/console/events/{event}/reschedule")))
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("starts_at", starts.as_str()),
            ("ends_at", ends.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 303);
    assert_eq!(app.outbox("event_rescheduled").await.len(), 1);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM access_audit WHERE object_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(actions, ["send_notice", "reschedule_event"]);

    // Another organization's event is a 404 page, here as everywhere.
    let stranger = staff_account(&app, StaffRole::Organizer, Some("Чужая площадка")).await;
    let other = sign_in_http(&app, &stranger).await;
    for path in [
        format!("/console/events/{event}/notice"),
        format!("/console/events/{event}/notice/size?text=x"),
        progress.clone(),
    ] {
        let response = other.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

// ---------------------------------------------------------------------------------------
// The browser journey.

/// chromedriver, when installed.
pub(crate) fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A chromedriver child on a free port, killed when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_driver(path: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    eventually(
        Duration::from_secs(20),
        "chromedriver to listen",
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        },
    )
    .await;
    Driver { child, url }
}

pub(crate) async fn browser(driver: &Driver) -> Client {
    // Only talks plain HTTP to chromedriver, but its TLS stack wants a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut capabilities = serde_json::Map::new();
    let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .copied()
        .unwrap_or("/usr/bin/chromium");
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--lang=ru-RU"],
        }),
    );
    ClientBuilder::rustls()
        .expect("a WebDriver client")
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session through chromedriver")
}

/// Where the journey's screenshots go: `$CARGO_TARGET_DIR/console-screenshots`, else a
/// folder in the system's temporary directory.
fn screenshot_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

pub(crate) async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("screenshot written");
    eprintln!("console screenshot: {}", path.display());
}

/// Runs axe-core on the page and fails on any serious or critical violation.
pub(crate) async fn assert_accessible(browser: &Client, page: &str) {
    browser
        .execute(&format!("{AXE}\n;return true;"), vec![])
        .await
        .expect("axe-core injected");
    let result = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, { resultTypes: ['violations'] })\
               .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,\
                   nodes: v.nodes.map(n => n.target.join(' ')) }))))\
               .catch(e => done([{ id: 'axe-failed', impact: 'critical', help: String(e), nodes: [] }]));",
            vec![],
        )
        .await
        .expect("axe-core ran");
    let bad: Vec<&Value> = result
        .as_array()
        .expect("a list of violations")
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        bad.is_empty(),
        "{page}: serious or critical accessibility violations: {bad:#?}"
    );
}

pub(crate) async fn fill(browser: &Client, id: &str, value: &str) {
    let field = browser.find(Locator::Id(id)).await.expect(id);
    field.clear().await.expect("cleared");
    field.send_keys(value).await.expect("typed");
}

/// Sets a field's value directly (date-time inputs take typed keys in the browser's locale).
async fn set_value(browser: &Client, id: &str, value: &str) {
    browser
        .execute(
            "document.getElementById(arguments[0]).value = arguments[1]; return true;",
            vec![json!(id), json!(value)],
        )
        .await
        .expect("value set");
}

pub(crate) async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .click()
        .await
        .expect("clicked");
}

/// Waits for an element of the page a click leads to (a click that submits a form may
/// return before the next page is there).
pub(crate) async fn wait_css(browser: &Client, css: &str) {
    browser
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} did not appear"));
}

/// The text of the first element matching `css`. A live page (the progress page's script
/// replaces what it updates) may swap the element between finding and reading it: that
/// stale reference is found again, for up to five seconds.
pub(crate) async fn text_of(browser: &Client, css: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let element = browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("{css} on the page"));
        match element.text().await {
            Ok(text) => return text,
            Err(err) if std::time::Instant::now() < deadline => {
                eprintln!("{css}: {err}; finding it again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("text of {css}: {err}"),
        }
    }
}

pub(crate) async fn path_of(browser: &Client) -> String {
    browser.current_url().await.expect("url").path().to_owned()
}

async fn sign_in(browser: &Client, app: &TestApp, address: &str) {
    browser.goto(&app.url("/console")).await.expect("console");
    assert_eq!(path_of(browser).await, "/console/login");
    fill(browser, "email", address).await;
    fill(browser, "password", PASSWORD).await;
    click(browser, "form[action='/console/login'] button[type=submit]").await;
    wait_css(browser, "form[action='/console/logout']").await;
    let main = text_of(browser, "main").await;
    assert_eq!(path_of(browser).await, "/console/events", "{main}");
}

/// A family whose child signs up through the API and whose parent approves.
async fn signed_up_and_approved(app: &TestApp, event: Uuid, tag: &str) -> Family {
    let family = app.family().await;
    app.register_device(&family.child, &format!("iphone-{tag}-child"), "ios")
        .await;
    app.register_device(
        &family.parent,
        &format!("android-{tag}-parent"),
        "android-fcm",
    )
    .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    let decided = app
        .post_as(
            &format!("/v1/signups/{}/decision", signup["id"].as_str().unwrap()),
            &family.parent.access,
            &json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(decided.status(), 200, "approve");
    family
}

#[tokio::test]
async fn an_organizer_publishes_cancels_with_a_preview_and_watches_every_message_go_out_in_a_browser()
 {
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromedriver is missing: install chromium and chromium-driver"
        );
        eprintln!(
            "SKIPPED: the console's browser journey needs chromedriver (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let app = spawn_app().await;
    let organizer = staff_account(&app, StaffRole::Organizer, Some("Кванториум Казань")).await;
    let other = staff_account(&app, StaffRole::Organizer, Some("Другая площадка")).await;
    let driver = start_driver(&driver_path).await;
    let browser = browser(&driver).await;
    let outcome = async {
        // 1. Sign in.
        sign_in(&browser, &app, &organizer).await;
        assert_accessible(&browser, "events (empty)").await;

        // 2. Create (first with a mistake, shown beside its field) and publish.
        click(&browser, "a[href='/console/events/new']").await;
        wait_css(&browser, "#title").await;
        fill(&browser, "title", "Р").await;
        fill(
            &browser,
            "description",
            "Соберём и запрограммируем робота-манипулятора.",
        )
        .await;
        browser
            .find(Locator::Id("region"))
            .await
            .unwrap()
            .select_by_value("RU-TA")
            .await
            .unwrap();
        fill(&browser, "city", "Казань").await;
        fill(&browser, "address", "ул. Баумана, 1").await;
        fill(&browser, "grade_max", "9").await;
        click(&browser, "input[name=accessibility][value=step_free]").await;
        // Tomorrow at this hour, Moscow time: within 48 hours, so a cancellation is urgent.
        let zone = "Europe/Moscow";
        let start = chrono::Utc::now() + chrono::Duration::hours(30);
        let local = |at: chrono::DateTime<chrono::Utc>| {
            at.with_timezone(&bilet::domain::events::utc_offset(zone))
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        };
        set_value(&browser, "starts_at", &local(start)).await;
        set_value(
            &browser,
            "ends_at",
            &local(start + chrono::Duration::hours(3)),
        )
        .await;
        set_value(
            &browser,
            "signup_deadline",
            &local(start - chrono::Duration::hours(2)),
        )
        .await;
        click(&browser, "form.stack button[type=submit]").await;
        wait_css(&browser, "#title-error").await;
        let error = text_of(&browser, "#title-error").await;
        assert!(error.contains("не короче 3 символов"), "{error}");
        assert_eq!(
            browser
                .find(Locator::Id("title"))
                .await
                .unwrap()
                .attr("aria-invalid")
                .await
                .unwrap()
                .as_deref(),
            Some("true")
        );
        screenshot(&browser, "event-form-errors").await;
        assert_accessible(&browser, "event form with errors").await;
        fill(&browser, "title", "Проба: программирование роботов").await;
        click(&browser, "form.stack button[type=submit]").await;
        wait_css(&browser, "dl.facts").await;
        let event_path = path_of(&browser).await;
        let event: Uuid = event_path
            .trim_start_matches("/console/events/")
            .parse()
            .expect("the event's page");
        assert!(text_of(&browser, ".status").await.contains("Черновик"));
        click(
            &browser,
            &format!("form[action='/console/events/{event}/publish'] button"),
        )
        .await;
        assert!(text_of(&browser, ".status").await.contains("Опубликована"));

        // 3. Two students sign up through the API and their parents approve.
        let families = [
            signed_up_and_approved(&app, event, "a").await,
            signed_up_and_approved(&app, event, "b").await,
        ];
        browser.goto(&app.url("/console/events")).await.unwrap();
        let row = text_of(&browser, "tbody tr").await;
        assert!(
            row.contains("Проба: программирование роботов") && row.contains("2 / 18"),
            "{row}"
        );
        screenshot(&browser, "events").await;
        assert_accessible(&browser, "events").await;

        // 4. The roster shows them, with no more than the API's roster shows.
        browser
            .goto(&app.url(&format!("/console/events/{event}/roster")))
            .await
            .unwrap();
        let roster = text_of(&browser, "table").await;
        assert_eq!(roster.matches("Анна").count(), 2, "{roster}");
        assert!(
            roster.contains("С.") && roster.contains("Одобрен"),
            "{roster}"
        );
        assert!(
            !roster.contains("Смирнова") && !roster.contains(&families[0].child_phone),
            "{roster}"
        );
        screenshot(&browser, "roster").await;
        assert_accessible(&browser, "roster").await;
        let audited: i64 =
            sqlx::query_scalar("SELECT count(*) FROM access_audit WHERE action = 'read_roster'")
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(audited, 2, "each student's row read is audited");

        // 5. Cancel, with the preview first.
        browser
            .goto(&app.url(&format!("/console/events/{event}")))
            .await
            .unwrap();
        click(
            &browser,
            &format!("a[href='/console/events/{event}/cancel']"),
        )
        .await;
        fill(&browser, "reason", "Заболел ведущий инженер").await;
        click(&browser, "form.stack button[type=submit]").await;
        wait_css(&browser, "[data-count=students]").await;
        assert_eq!(text_of(&browser, "[data-count=students]").await, "2");
        assert_eq!(text_of(&browser, "[data-count=parents]").await, "2");
        assert_eq!(text_of(&browser, "[data-count=push]").await, "4");
        assert_eq!(text_of(&browser, "[data-count=sms]").await, "4");
        assert_eq!(text_of(&browser, "[data-count=email]").await, "4");
        assert!(
            text_of(&browser, "[data-urgent=true]")
                .await
                .contains("Срочно")
        );
        let texts = text_of(&browser, "section[aria-labelledby=texts]").await;
        assert!(
            texts.contains("Заболел ведущий инженер") && texts.contains("Проба ребёнка отменена"),
            "{texts}"
        );
        screenshot(&browser, "cancel-preview").await;
        assert_accessible(&browser, "cancel preview").await;
        let still: String = sqlx::query_scalar("SELECT status FROM events WHERE id = $1")
            .bind(event)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(still, "published", "the preview changes nothing");
        click(&browser, "form.actions button[type=submit]").await;
        wait_css(&browser, "#progress-state").await;

        // 6. The progress, fed by server-sent events, reaches every message.
        let progress_path = path_of(&browser).await;
        assert!(
            progress_path.starts_with("/console/announcements/"),
            "{progress_path}"
        );
        browser
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("#progress-state[data-done=true]"))
            .await
            .expect("every message out");
        for channel in ["apns", "fcm", "sms", "email"] {
            let delivered = text_of(
                &browser,
                &format!("tr[data-channel={channel}] [data-status=delivered]"),
            )
            .await;
            assert_eq!(
                delivered,
                if channel == "apns" || channel == "fcm" {
                    "2"
                } else {
                    "4"
                },
                "{channel}"
            );
        }
        screenshot(&browser, "progress").await;
        assert_accessible(&browser, "progress").await;
        for family in &families {
            app.received(ChannelKind::Sms, &family.parent_phone, 1)
                .await;
        }

        // 7. The report.
        click(&browser, "#report-link").await;
        wait_css(&browser, "#no-failures").await;
        assert!(path_of(&browser).await.ends_with("/report"));
        assert!(
            text_of(&browser, "#no-failures")
                .await
                .contains("Сбоев нет")
        );
        screenshot(&browser, "report").await;
        assert_accessible(&browser, "report").await;
        browser.goto(&app.url("/console/history")).await.unwrap();
        assert!(text_of(&browser, "tbody").await.contains("Отмена"));
        assert_accessible(&browser, "history").await;
        browser
            .goto(&app.url("/console/login?lang=en"))
            .await
            .unwrap();
        browser.goto(&app.url(&progress_path)).await.unwrap();
        assert!(text_of(&browser, "h1").await.contains("Delivery progress"));
        screenshot(&browser, "progress-en").await;

        // 8. Another organizer sees none of it.
        click(&browser, "form[action='/console/logout'] button").await;
        wait_css(&browser, "#password").await;
        sign_in(&browser, &app, &other).await;
        assert!(
            !text_of(&browser, "main")
                .await
                .contains("программирование роботов")
        );
        for path in [
            format!("/console/events/{event}"),
            format!("/console/events/{event}/roster"),
            format!("/console/events/{event}/cancel"),
            format!("{progress_path}/report"),
            progress_path.clone(),
        ] {
            browser.goto(&app.url(&path)).await.unwrap();
            assert!(
                text_of(&browser, "h1").await.contains("Not found"),
                "{path}"
            );
        }
        screenshot(&browser, "other-organizer-not-found").await;
    }
    .await;
    let _ = browser.close().await;
    drop(driver);
    outcome
}

#[tokio::test]
async fn a_parent_approves_through_the_approval_page_in_a_real_browser() {
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromedriver is missing: install chromium and chromium-driver"
        );
        eprintln!("SKIPPED: the approval page's browser test needs chromedriver");
        return;
    };
    // The page's form is checked against BILET_PUBLIC_URL, so it is the app's own address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.http.addr = ([127, 0, 0, 1], port).into();
        settings.hub.public_url = format!("http://127.0.0.1:{port}");
    })
    .await;
    let organizer = app.organizer().await;
    let family = app.family().await;
    let event = app
        .publish_event(
            &organizer,
            &crate::helpers::event_input(chrono::Duration::days(5), 5),
        )
        .await;
    let signup = app.sign_up(&family.child.access, event, 201).await;
    // The parent has no app: the request comes by SMS with a single-use link.
    let sms = app
        .received(ChannelKind::Sms, &family.parent_phone, 1)
        .await;
    let text = sms[0].body.to_string();
    let start = text.find("http://").expect("the SMS carries a link");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\\')
        .collect();
    let driver = start_driver(&driver_path).await;
    let browser = browser(&driver).await;
    let outcome = async {
        browser.goto(&link).await.expect("the approval page");
        assert!(
            text_of(&browser, "h1")
                .await
                .contains("Нужно ваше согласие")
        );
        assert_accessible(&browser, "approval page").await;
        screenshot(&browser, "approval-page").await;
        click(&browser, "button[value=approve]").await;
        wait_css(&browser, "main:not(:has(form))").await;
        let answer = text_of(&browser, "main").await;
        assert!(
            answer.contains("Спасибо") && answer.contains("Участие одобрено"),
            "{answer}"
        );
        let status: String = sqlx::query_scalar("SELECT status FROM signups WHERE id = $1")
            .bind(signup["id"].as_str().unwrap().parse::<Uuid>().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(status, "approved");
    }
    .await;
    let _ = browser.close().await;
    drop(driver);
    outcome
}

#[tokio::test]
async fn an_admin_replays_a_dead_letter_from_the_console_and_organizers_cannot() {
    let app = spawn_app().await;
    let admin = staff_account(&app, StaffRole::Admin, None).await;
    let organizer = staff_account(&app, StaffRole::Organizer, Some("Площадка")).await;
    // Any delivery will do: the registration code mailed to a new parent, declared dead.
    app.signup("parent").await;
    let dead: Uuid = eventually(Duration::from_secs(20), "a delivered code", || async {
        sqlx::query_scalar(
            "UPDATE deliveries SET status = 'dead', last_error = 'smtp 550 mailbox unavailable'
             WHERE id = (SELECT id FROM deliveries WHERE status = 'delivered' LIMIT 1) RETURNING id",
        )
        .fetch_optional(&app.db)
        .await
        .ok()
        .flatten()
    })
    .await;
    let client = cookie_client();
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    let token = csrf_in(&page.text().await.unwrap());
    let origin = format!("http://{}", app.addr);
    let signed_in = client
        .post(app.url("/console/login"))
        .header("origin", &origin)
        .form(&[
            ("csrf", token.as_str()),
            ("email", admin.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed_in.headers()["location"],
        "/console/admin/dead-letters"
    );
    let page = client
        .get(app.url("/console/admin/dead-letters"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("smtp 550 mailbox unavailable"), "{html}");
    let csrf = csrf_in(&html);
    let events = client.get(app.url("/console/events")).send().await.unwrap();
    assert_eq!(
        events.status(),
        403,
        "the organizer pages are not an admin's"
    );
    let replayed = client
        .post(app.url(&format!("/console/admin/dead-letters/{dead}/replay")))
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 303);
    eventually(
        Duration::from_secs(20),
        "the replayed delivery to go out",
        || async {
            let status: String = sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1")
                .bind(dead)
                .fetch_one(&app.db)
                .await
                .ok()?;
            (status == "delivered").then_some(())
        },
    )
    .await;

    let other = sign_in_http(&app, &organizer).await;
    let page = other
        .get(app.url("/console/admin/dead-letters"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
}
