//! Accounts and sessions.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, email, spawn_app, spawn_app_with};

#[tokio::test]
async fn registration_sends_a_code_and_verification_opens_a_session() {
    let app = spawn_app().await;
    let address = email("mama");
    let response = app.register(&address, PASSWORD, "parent").await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "verification_sent");

    // Before verification the account cannot log in.
    assert_problem(
        app.login(&address, PASSWORD, "Pixel").await,
        401,
        "unauthorized",
    )
    .await;

    let code = app.verification_code(&address).await;
    let tokens: Value = app
        .verify(&address, &code, "iPhone")
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .get_as("/v1/me", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "parent");
    assert_eq!(me["email"], address);
    // The code works once.
    assert_problem(
        app.verify(&address, &code, "iPhone").await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn registration_never_reveals_whether_an_email_is_registered() {
    let app = spawn_app().await;
    let existing = app.signup("parent").await;
    let fresh = email("new");

    let for_existing = app
        .register(&existing.email, "совсем-другой-пароль", "parent")
        .await;
    let for_fresh = app.register(&fresh, "совсем-другой-пароль", "parent").await;
    assert_eq!(for_existing.status(), for_fresh.status());
    let (a, b): (Value, Value) = (
        for_existing.json().await.unwrap(),
        for_fresh.json().await.unwrap(),
    );
    assert_eq!(a, b);

    // The owner is told by e-mail instead, and their password is unchanged.
    let attempts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'registration_attempted'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert_eq!(
        app.login(&existing.email, PASSWORD, "x").await.status(),
        200
    );
}

#[tokio::test]
async fn every_failed_login_is_the_same_401() {
    let app = spawn_app().await;
    let person = app.signup("student").await;
    let wrong_password = app.login(&person.email, "не-тот-пароль-1", "x").await;
    let unknown_email = app.login(&email("nobody"), "не-тот-пароль-1", "x").await;
    let a = assert_problem(wrong_password, 401, "unauthorized").await;
    let b = assert_problem(unknown_email, 401, "unauthorized").await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn short_and_common_passwords_are_refused_per_field() {
    let app = spawn_app().await;
    for password in ["short1", "1234567890", "Qwertyuiop"] {
        let body = assert_problem(
            app.register(&email("x"), password, "student").await,
            422,
            "validation",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "password", "{password}");
    }
    let body = assert_problem(
        app.register("not-an-email", "short", "student").await,
        422,
        "validation",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password"]);
}

#[tokio::test]
async fn staff_roles_cannot_be_chosen_at_registration() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": email("x"), "password": PASSWORD, "role": "admin" }),
        )
        .await;
    let body = assert_problem(response, 422, "validation").await;
    assert_eq!(body["errors"][0]["field"], "role");
}

#[tokio::test]
async fn a_wrong_code_counts_and_five_wrong_codes_burn_the_code() {
    let app = spawn_app().await;
    let address = email("kid");
    app.register(&address, PASSWORD, "student").await;
    let code = app.verification_code(&address).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_problem(app.verify(&address, wrong, "x").await, 401, "unauthorized").await;
    }
    assert_problem(app.verify(&address, &code, "x").await, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_access_token_is_a_jwt_with_a_kid_valid_at_most_fifteen_minutes() {
    let app = spawn_app().await;
    let person = app.signup("student").await;
    let header = jsonwebtoken::decode_header(&person.access).unwrap();
    assert_eq!(header.kid.as_deref(), Some("t1"));
    let payload = person.access.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(lifetime > 0 && lifetime <= 15 * 60, "{lifetime}");
    assert!(!person.access.contains(&person.email));
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    let first: Value = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": person.refresh }),
        )
        .await
        .json()
        .await
        .unwrap();
    let second_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, person.refresh);
    assert_eq!(first["session_id"], person.session_id.to_string());
    let new_access = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as("/v1/me", &new_access).await.status(), 200);

    // Someone replays the old token: the whole session ends.
    let replay = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": person.refresh }),
        )
        .await;
    assert_problem(replay, 401, "unauthorized").await;
    let next = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": second_refresh }),
        )
        .await;
    assert_problem(next, 401, "unauthorized").await;
    assert_problem(app.get_as("/v1/me", &new_access).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn device_sessions_are_listed_and_one_can_be_revoked() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    let tablet: Value = app
        .login(&person.email, PASSWORD, "Планшет")
        .await
        .json()
        .await
        .unwrap();
    let tablet_access = tablet["access_token"].as_str().unwrap();

    let sessions: Value = app
        .get_as("/v1/me/sessions", &person.access)
        .await
        .json()
        .await
        .unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let listed_tablet = sessions
        .iter()
        .find(|s| s["device_name"] == "Планшет")
        .unwrap();
    assert_eq!(listed_tablet["platform"], "android");
    assert_eq!(listed_tablet["current"], false);
    assert!(listed_tablet["last_seen_at"].is_string());

    let path = format!("/v1/me/sessions/{}", tablet["session_id"].as_str().unwrap());
    assert_eq!(app.delete_as(&path, &person.access).await.status(), 204);
    assert_problem(
        app.get_as("/v1/me", tablet_access).await,
        401,
        "unauthorized",
    )
    .await;
    let refresh = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": tablet["refresh_token"] }),
        )
        .await;
    assert_problem(refresh, 401, "unauthorized").await;
    assert_eq!(app.get_as("/v1/me", &person.access).await.status(), 200);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let person = app.signup("student").await;
    let response = app
        .authed(Method::POST, "/v1/auth/logout", &person.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_problem(
        app.get_as("/v1/me", &person.access).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn failed_logins_slow_the_account_down_with_a_short_retry_after_instead_of_locking_it() {
    // This test used to show the right password locked out for the whole window after
    // three failures; now the owner waits a short, bounded delay.
    let app = spawn_app_with(|s| {
        s.auth.login_free_failures = 3;
        s.auth.login_max_delay = Duration::from_secs(30);
    })
    .await;
    let person = app.signup("parent").await;
    for _ in 0..3 {
        assert_eq!(
            app.login(&person.email, "не-тот-пароль-1", "x")
                .await
                .status(),
            401
        );
    }
    let slowed = app.login(&person.email, PASSWORD, "x").await;
    let retry_after: u64 = slowed.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 1, "the first delay is a second");
    assert_problem(slowed, 429, "rate-limited").await;
    // Another account from the same address is not affected by this account's failures.
    let other = app.signup("student").await;
    assert_eq!(app.login(&other.email, PASSWORD, "x").await.status(), 200);
    // The owner waits the second and gets in.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(app.login(&person.email, PASSWORD, "x").await.status(), 200);
}

#[tokio::test]
async fn login_is_rate_limited_per_client_address() {
    let app = spawn_app_with(|s| {
        s.auth.limit_per_address = bilet::settings::RateLimit {
            count: 4,
            window: Duration::from_secs(60),
        };
    })
    .await;
    for _ in 0..4 {
        assert_eq!(
            app.login(&email("guess"), "не-тот-пароль-1", "x")
                .await
                .status(),
            401
        );
    }
    assert_problem(
        app.login(&email("guess"), "не-тот-пароль-1", "x").await,
        429,
        "rate-limited",
    )
    .await;
}

#[tokio::test]
async fn missing_or_invalid_credentials_are_a_401_problem() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/me").await, 401, "unauthorized").await;
    assert_problem(app.get_as("/v1/me", "not-a-jwt").await, 401, "unauthorized").await;
    // A well-formed token signed with a key this deployment does not know.
    let foreign = bilet::security::tokens::TokenSigner::new(
        bilet::settings::KeyList::generate("t1"),
        Duration::from_secs(600),
    )
    .issue(
        bilet::domain::ids::AccountId::new(),
        bilet::domain::ids::SessionId::new(),
        bilet::domain::roles::Role::Admin,
    );
    assert_problem(app.get_as("/v1/me", &foreign).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn malformed_json_is_400_and_json_of_the_wrong_shape_is_422() {
    let app = spawn_app().await;
    let broken = app
        .post_raw("/v1/auth/register", r#"{"email": "a@b.ru", "password": "#)
        .await;
    assert_problem(broken, 400, "malformed-json").await;
    let wrong_type = app
        .post_raw(
            "/v1/auth/register",
            r#"{"email": 5, "password": "x", "role": "parent"}"#,
        )
        .await;
    let body = assert_problem(wrong_type, 422, "validation").await;
    assert_eq!(body["errors"][0]["field"], "email");
    let not_json = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, 415, "unsupported-media-type").await;
}

#[tokio::test]
async fn a_database_failure_is_a_500_that_leaks_nothing() {
    let app = spawn_app().await;
    let person = app.signup("student").await;
    sqlx::query("ALTER TABLE device_sessions RENAME TO device_sessions_gone")
        .execute(&app.db)
        .await
        .unwrap();
    let response = app.get_as("/v1/me", &person.access).await;
    let body = assert_problem(response, 500, "internal").await;
    let text = body.to_string();
    for leak in ["device_sessions", "relation", "sqlx", "postgres", "SELECT"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

#[tokio::test]
async fn bilet_admin_create_user_makes_an_organizer_who_can_log_in() {
    let app = spawn_app().await;
    let address = email("org");
    let keys = &app.settings.keys;
    let output = std::process::Command::new(crate::helpers::bilet_binary())
        .args([
            "admin",
            "create-user",
            "--role",
            "organizer",
            "--email",
            &address,
            "--organization",
            "Кванториум Казань",
        ])
        .env("BILET_DATABASE_URL", app.settings.database.url.expose())
        .env("BILET_REDIS_PREFIX", &app.settings.redis.prefix)
        .env(
            "BILET_KEYS_DATA",
            keys.data_keys.as_ref().unwrap().to_setting(),
        )
        .env(
            "BILET_KEYS_INDEX",
            keys.index_key.as_ref().unwrap().to_setting(),
        )
        .env(
            "BILET_KEYS_TOKEN",
            keys.token_keys.as_ref().unwrap().to_setting(),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // A one-off command prints what a person needs: no channels or simulators started
    // (it sends nothing), no PostgreSQL notice about the migrations table.
    let everything = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for noise in ["simulator", "channel ", "_sqlx_migrations"] {
        assert!(!everything.contains(noise), "`{noise}` in: {everything}");
    }
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("a generated password is printed once")
        .to_owned();
    let tokens: Value = app
        .login(&address, &password, "Ноутбук")
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .get_as("/v1/me", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "organizer");
    assert_eq!(me["organization"]["name"], "Кванториум Казань");
}

#[tokio::test]
async fn re_registering_an_unverified_address_never_replaces_its_password_or_role() {
    let app = spawn_app().await;
    let address = email("victim");
    let fresh = app.register(&email("fresh"), PASSWORD, "parent").await;
    let fresh: Value = fresh.json().await.unwrap();

    // The owner of the mailbox registers as a parent; before they verify, someone else
    // registers the same address with another password as a student.
    assert_eq!(
        app.register(&address, PASSWORD, "parent").await.status(),
        202
    );
    let attacker = app
        .register(&address, "пароль-злоумышленника-7", "student")
        .await;
    assert_eq!(attacker.status(), 202);
    let attacker: Value = attacker.json().await.unwrap();
    assert_eq!(attacker, fresh, "the answer reveals nothing");

    // The owner verifies with the newest code their mailbox received.
    let code = app.newest_mailed_code(&address, 2).await;
    let tokens: Value = app
        .verify(&address, &code, "iPhone")
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().expect("verified");
    let me: Value = app.get_as("/v1/me", access).await.json().await.unwrap();
    assert_eq!(me["role"], "parent", "the role the owner chose");
    assert_eq!(app.login(&address, PASSWORD, "x").await.status(), 200);
    assert_problem(
        app.login(&address, "пароль-злоумышленника-7", "x").await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn registering_again_with_the_same_password_sends_a_fresh_code() {
    let app = spawn_app().await;
    let address = email("again");
    app.register(&address, PASSWORD, "student").await;
    let first = app.newest_mailed_code(&address, 1).await;
    app.register(&address, PASSWORD, "student").await;
    let second = app.newest_mailed_code(&address, 2).await;
    if first != second {
        assert_problem(app.verify(&address, &first, "x").await, 401, "unauthorized").await;
    }
    assert_eq!(app.verify(&address, &second, "x").await.status(), 200);
}

#[tokio::test]
async fn a_registration_is_replaced_only_once_its_code_has_expired() {
    let app = spawn_app().await;
    let address = email("late");
    app.register(&address, "первый-пароль-12", "parent").await;
    app.mails(&address, 1).await;
    sqlx::query(
        "UPDATE email_verifications SET expires_at = now() - interval '1 second'
         WHERE account_id = (SELECT id FROM accounts WHERE email = $1)",
    )
    .bind(&address)
    .execute(&app.db)
    .await
    .unwrap();
    app.register(&address, PASSWORD, "student").await;
    let code = app.newest_mailed_code(&address, 2).await;
    let tokens: Value = app.verify(&address, &code, "x").await.json().await.unwrap();
    assert_eq!(tokens["role"], "student");
    assert_eq!(app.login(&address, PASSWORD, "x").await.status(), 200);
    assert_eq!(
        app.login(&address, "первый-пароль-12", "x").await.status(),
        401
    );
}

#[tokio::test]
async fn verification_codes_are_stored_nowhere_in_clear_and_never_in_the_inbox() {
    let app = spawn_app().await;
    let address = email("codes");
    app.register(&address, PASSWORD, "parent").await;
    let code = app.newest_mailed_code(&address, 1).await;
    app.settled("email_verification_requested").await;

    // Every text and JSON column of every table: the hub's outbox, inbox and ledger, and
    // the accounts' own tables.
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'
           AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'USER-DEFINED')",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(columns.iter().any(|(t, _)| t == "notifications"));
    for (table, column) in &columns {
        let found: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{table}\" WHERE \"{column}\"::text LIKE '%' || $1 || '%'"
        ))
        .bind(&code)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(found, 0, "the code is in clear in {table}.{column}");
    }

    let tokens: Value = app.verify(&address, &code, "x").await.json().await.unwrap();
    let inbox: Value = app
        .get_as(
            "/v1/notifications",
            tokens["access_token"].as_str().unwrap(),
        )
        .await
        .json()
        .await
        .unwrap();
    let text = inbox.to_string();
    assert!(!text.contains("email_verification_requested"), "{text}");
    assert!(!text.contains(&code), "{text}");
}

/// Signs `claims` with the app's own token key, as only the service could.
fn signed_by_the_app(app: &crate::helpers::TestApp, claims: &Value) -> String {
    let key = app.settings.keys.token_keys.as_ref().unwrap().current();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(key.id.clone());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(&key.key),
    )
    .unwrap()
}

#[tokio::test]
async fn a_validly_signed_token_living_longer_than_the_ttl_is_refused() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, exp: i64| {
        json!({ "sub": person.account_id, "sid": person.session_id, "role": "parent",
                "iat": iat, "exp": exp, "iss": "bilet" })
    };
    // Within the TTL: accepted, so the refusals below are about the lifetime alone.
    let fine = signed_by_the_app(&app, &claims(now, now + 600));
    assert_eq!(app.get_as("/v1/me", &fine).await.status(), 200);
    let ten_years = signed_by_the_app(&app, &claims(now, now + 10 * 365 * 86_400));
    assert_problem(app.get_as("/v1/me", &ten_years).await, 401, "unauthorized").await;
    let issued_in_the_future =
        signed_by_the_app(&app, &claims(now + 86_400 * 365, now + 86_400 * 365 + 600));
    assert_problem(
        app.get_as("/v1/me", &issued_in_the_future).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn every_refused_access_token_gets_the_same_401_detail() {
    let app = spawn_app().await;
    let person = app.signup("student").await;
    let now = chrono::Utc::now().timestamp();
    let expired = signed_by_the_app(
        &app,
        &json!({ "sub": person.account_id, "sid": person.session_id, "role": "student",
                 "iat": now - 3600, "exp": now - 1800, "iss": "bilet" }),
    );
    let foreign_key = bilet::security::tokens::TokenSigner::new(
        bilet::settings::KeyList::generate("t1"),
        Duration::from_secs(600),
    )
    .issue(
        bilet::domain::ids::AccountId(person.account_id),
        bilet::domain::ids::SessionId(person.session_id),
        bilet::domain::roles::Role::Student,
    );
    let unknown_kid = bilet::security::tokens::TokenSigner::new(
        bilet::settings::KeyList::generate("zz"),
        Duration::from_secs(600),
    )
    .issue(
        bilet::domain::ids::AccountId(person.account_id),
        bilet::domain::ids::SessionId(person.session_id),
        bilet::domain::roles::Role::Student,
    );
    let mut tampered = person.access.clone();
    tampered.pop();
    tampered.push(if person.access.ends_with('A') {
        'B'
    } else {
        'A'
    });
    let ended = app.signup("student").await;
    app.authed(Method::POST, "/v1/auth/logout", &ended.access)
        .send()
        .await
        .unwrap();

    let mut details = Vec::new();
    details
        .push(assert_problem(app.get("/v1/me").await, 401, "unauthorized").await["detail"].clone());
    for token in [
        "not-a-jwt",
        expired.as_str(),
        foreign_key.as_str(),
        unknown_kid.as_str(),
        tampered.as_str(),
        ended.access.as_str(),
    ] {
        let body = assert_problem(app.get_as("/v1/me", token).await, 401, "unauthorized").await;
        details.push(body["detail"].clone());
    }
    assert!(
        details.iter().all(|d| *d == details[0]),
        "one detail for every refusal: {details:?}"
    );
    let text = details[0].as_str().unwrap().to_lowercase();
    for cause in ["key", "signature", "expired", "malformed", "ended"] {
        assert!(!text.contains(cause), "the detail names a cause: {text}");
    }
}

/// Whether the push token is still registered and active.
async fn device_active(app: &crate::helpers::TestApp, token: &str) -> bool {
    sqlx::query_scalar("SELECT deactivated_at IS NULL FROM devices WHERE token = $1")
        .bind(token)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn ending_a_session_stops_pushes_to_the_devices_registered_in_it() {
    let app = spawn_app().await;
    let family = app.family().await;
    let child = &family.child;
    // The child's phone (the sign-up session) and a tablet (a second session).
    let phone = format!("phone-{}", uuid::Uuid::new_v4().simple());
    app.register_device(child, &phone, "android-fcm").await;
    let tablet: Value = app
        .login(&child.email, PASSWORD, "Планшет")
        .await
        .json()
        .await
        .unwrap();
    let tablet_access = tablet["access_token"].as_str().unwrap().to_owned();
    let tablet_token = format!("tablet-{}", uuid::Uuid::new_v4().simple());
    let response = app
        .put_as(
            &format!("/v1/devices/{tablet_token}"),
            &tablet_access,
            &json!({ "platform": "android-fcm", "app_version": "3.4.1", "locale": "ru-RU" }),
        )
        .await;
    assert_eq!(response.status(), 200);

    // The phone logs out; the child finishes a test on the tablet.
    let response = app
        .authed(Method::POST, "/v1/auth/logout", &child.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let tablet_person = crate::helpers::Person {
        access: tablet_access.clone(),
        ..child.clone()
    };
    app.finish_klimov(&tablet_person, "a").await;
    app.settled("results_ready").await;

    let fcm = app.simulator(bilet::notify::providers::ChannelKind::Fcm);
    assert_eq!(
        app.received(bilet::notify::providers::ChannelKind::Fcm, &tablet_token, 1)
            .await
            .len(),
        1
    );
    assert!(
        fcm.messages(Some(&phone)).is_empty(),
        "a push reached the logged-out phone"
    );
    let to_phone: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE device_token = $1")
            .bind(&phone)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(to_phone, 0, "no delivery row for the logged-out phone");
    assert!(!device_active(&app, &phone).await);
    assert!(device_active(&app, &tablet_token).await);
}

#[tokio::test]
async fn revoking_a_session_or_reusing_its_refresh_token_unregisters_its_devices() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    let phone = format!("phone-{}", uuid::Uuid::new_v4().simple());
    app.register_device(&person, &phone, "ios").await;
    let tablet: Value = app
        .login(&person.email, PASSWORD, "Планшет")
        .await
        .json()
        .await
        .unwrap();
    let tablet_token = format!("tablet-{}", uuid::Uuid::new_v4().simple());
    let tablet_person = crate::helpers::Person {
        access: tablet["access_token"].as_str().unwrap().to_owned(),
        ..person.clone()
    };
    app.register_device(&tablet_person, &tablet_token, "ios")
        .await;

    // The phone ends the tablet's session.
    let path = format!("/v1/me/sessions/{}", tablet["session_id"].as_str().unwrap());
    assert_eq!(app.delete_as(&path, &person.access).await.status(), 204);
    assert!(!device_active(&app, &tablet_token).await);
    assert!(device_active(&app, &phone).await);

    // A replayed refresh token ends the phone's session, and with it its device.
    let refresh = json!({ "refresh_token": person.refresh });
    assert_eq!(
        app.post_json("/v1/auth/refresh", &refresh).await.status(),
        200
    );
    assert_eq!(
        app.post_json("/v1/auth/refresh", &refresh).await.status(),
        401
    );
    assert!(!device_active(&app, &phone).await);
}
