//! Passwords: what may be chosen, how guessing is slowed without locking the owner out,
//! changing one, and resetting a forgotten one by e-mailed code.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, Person, TestApp, assert_problem, code_in, email, parent_profile, spawn_app,
    spawn_app_with, valid_snils,
};

const NEW_PASSWORD: &str = "оранжевый-жираф-77";

impl TestApp {
    async fn change_password(
        &self,
        person: &Person,
        current: &str,
        new: &str,
    ) -> reqwest::Response {
        self.post_as(
            "/v1/me/password",
            &person.access,
            &json!({ "current_password": current, "new_password": new }),
        )
        .await
    }

    async fn request_reset(&self, address: &str) -> reqwest::Response {
        self.post_json("/v1/auth/password-reset", &json!({ "email": address }))
            .await
    }

    /// The code of the newest reset e-mail, once the address has `count` e-mails (the
    /// verification e-mail may arrive after the reset one: it is told apart by subject).
    async fn reset_code(&self, address: &str, count: usize) -> String {
        self.mails(address, count)
            .await
            .iter()
            .rev()
            .filter(|m| {
                m.headers
                    .get("subject")
                    .is_some_and(|s| s.contains("пароля"))
            })
            .find_map(code_in)
            .expect("a reset e-mail")
    }

    /// Whether the address was told that its password changed.
    async fn told_of_change(&self, address: &str, count: usize) -> bool {
        self.mails(address, count).await.iter().any(|m| {
            code_in(m).is_none()
                && m.headers
                    .get("subject")
                    .is_some_and(|s| s.contains("Пароль изменён"))
        })
    }

    async fn confirm_reset(&self, address: &str, code: &str, new: &str) -> reqwest::Response {
        self.post_json(
            "/v1/auth/password-reset/confirm",
            &json!({ "email": address, "code": code, "new_password": new }),
        )
        .await
    }
}

#[tokio::test]
async fn passwords_built_from_the_email_are_refused_at_registration() {
    let app = spawn_app().await;
    let address = email("anna.smirnova");
    let local = address.split('@').next().unwrap().to_owned();
    for password in [
        address.clone(),
        address.to_uppercase(),
        local.clone(),
        format!("{}2024", local.to_uppercase()),
        format!("{address}1"),
    ] {
        let body = assert_problem(
            app.register(&address, &password, "parent").await,
            422,
            "validation",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "password", "{body}");
        assert!(
            !body.to_string().contains(&local),
            "the detail repeats the address: {body}"
        );
    }
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 0, "nothing was registered");
}

#[tokio::test]
async fn a_new_password_built_from_the_profile_names_is_refused() {
    let app = spawn_app().await;
    let parent = app.signup("parent").await;
    // Surname Смирнов, given name Пётр, patronymic Иванович.
    let response = app
        .put_as(
            "/v1/me/parent-profile",
            &parent.access,
            &parent_profile(&valid_snils()),
        )
        .await;
    assert_eq!(response.status(), 200);
    for password in [
        "смирнов1985",
        "ПётрСмирнов",
        "Пётр Смирнов 1985",
        "Иванович2024!",
    ] {
        let body = assert_problem(
            app.change_password(&parent, PASSWORD, password).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(
            body["errors"][0]["field"], "new_password",
            "{password}: {body}"
        );
    }
    assert_eq!(app.login(&parent.email, PASSWORD, "x").await.status(), 200);
}

#[tokio::test]
async fn many_wrong_passwords_slow_logins_down_but_the_owner_still_gets_in() {
    let app = spawn_app_with(|s| {
        s.auth.login_free_failures = 3;
        s.auth.login_max_delay = Duration::from_secs(2);
    })
    .await;
    let person = app.signup("parent").await;
    let mut slowed = 0;
    let mut wrong = 0;
    while wrong < 8 {
        let response = app.login(&person.email, "не-тот-пароль-1", "x").await;
        match response.status().as_u16() {
            401 => wrong += 1,
            429 => {
                slowed += 1;
                let wait: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=2).contains(&wait), "Retry-After {wait} s");
                assert_problem(response, 429, "rate-limited").await;
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(slowed > 0, "guessing was slowed down");

    // The owner waits the short delay they are told, and gets in.
    let started = Instant::now();
    loop {
        let response = app.login(&person.email, PASSWORD, "x").await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 429);
        let wait: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(wait)).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the owner is locked out"
        );
    }
}

#[tokio::test]
async fn guesses_at_once_cannot_skip_the_delay() {
    let app = spawn_app_with(|s| {
        s.auth.login_free_failures = 2;
        s.auth.login_max_delay = Duration::from_secs(30);
    })
    .await;
    let person = app.signup("student").await;
    let guesses = (0..12).map(|_| app.login(&person.email, "не-тот-пароль-1", "x"));
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let tried = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        tried <= 3,
        "{tried} guesses were checked at once: {statuses:?}"
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    let tablet: Value = app
        .login(&person.email, PASSWORD, "Планшет")
        .await
        .json()
        .await
        .unwrap();
    let tablet_access = tablet["access_token"].as_str().unwrap();

    let body = assert_problem(
        app.change_password(&person, "не-тот-пароль-1", NEW_PASSWORD)
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "current_password");
    assert_eq!(
        app.get_as("/v1/me", tablet_access).await.status(),
        200,
        "nothing changed"
    );

    assert_eq!(
        app.change_password(&person, PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        204
    );
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
    assert_eq!(
        app.get_as("/v1/me", &person.access).await.status(),
        200,
        "this session stays"
    );
    assert_eq!(
        app.login(&person.email, NEW_PASSWORD, "x").await.status(),
        200
    );
    assert_eq!(app.login(&person.email, PASSWORD, "x").await.status(), 401);

    // The owner is told by e-mail.
    assert!(app.told_of_change(&person.email, 2).await);
}

#[tokio::test]
async fn a_password_reset_request_answers_the_same_whether_or_not_the_address_exists() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    let known = app.request_reset(&person.email).await;
    let unknown = app.request_reset(&email("nobody")).await;
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    let (a, b): (Value, Value) = (known.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    let code = app.reset_code(&person.email, 2).await;
    assert_eq!(code.len(), 6);
}

#[tokio::test]
async fn a_reset_by_e_mailed_code_ends_every_session_and_tells_the_owner() {
    let app = spawn_app().await;
    let person = app.signup("student").await;
    let phone = format!("phone-{}", uuid::Uuid::new_v4().simple());
    app.register_device(&person, &phone, "ios").await;
    assert_eq!(app.request_reset(&person.email).await.status(), 202);
    let code = app.reset_code(&person.email, 2).await;

    // Stored as a digest only: the code is in no column of any table.
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public'
           AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'USER-DEFINED')",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    for (table, column) in &columns {
        let found: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{table}\" WHERE \"{column}\"::text LIKE '%' || $1 || '%'"
        ))
        .bind(&code)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(found, 0, "the reset code is in clear in {table}.{column}");
    }

    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_problem(
        app.confirm_reset(&person.email, wrong, NEW_PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;
    let body = assert_problem(
        app.confirm_reset(&person.email, &code, &person.email).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "new_password");
    assert_eq!(
        app.confirm_reset(&person.email, &code, NEW_PASSWORD)
            .await
            .status(),
        204
    );

    assert_problem(
        app.get_as("/v1/me", &person.access).await,
        401,
        "unauthorized",
    )
    .await;
    let active: bool =
        sqlx::query_scalar("SELECT deactivated_at IS NULL FROM devices WHERE token = $1")
            .bind(&phone)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!active, "the session's device is unregistered");
    assert_eq!(
        app.login(&person.email, NEW_PASSWORD, "x").await.status(),
        200
    );
    assert_eq!(app.login(&person.email, PASSWORD, "x").await.status(), 401);
    // Single use.
    assert_problem(
        app.confirm_reset(&person.email, &code, "ещё-один-пароль-9")
            .await,
        401,
        "unauthorized",
    )
    .await;
    // The owner hears that the password was changed.
    assert!(app.told_of_change(&person.email, 3).await);
}

#[tokio::test]
async fn reset_codes_expire_and_guesses_are_limited() {
    let app = spawn_app().await;
    let person = app.signup("parent").await;
    app.request_reset(&person.email).await;
    let code = app.reset_code(&person.email, 2).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_problem(
            app.confirm_reset(&person.email, wrong, NEW_PASSWORD).await,
            401,
            "unauthorized",
        )
        .await;
    }
    assert_problem(
        app.confirm_reset(&person.email, &code, NEW_PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;

    app.request_reset(&person.email).await;
    let code = app.reset_code(&person.email, 3).await;
    sqlx::query("UPDATE password_resets SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_problem(
        app.confirm_reset(&person.email, &code, NEW_PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(app.login(&person.email, PASSWORD, "x").await.status(), 200);
}

#[tokio::test]
async fn reset_requests_are_rate_limited_per_e_mail_address() {
    let app = spawn_app_with(|s| {
        s.auth.limit_per_account = bilet::settings::RateLimit {
            count: 2,
            window: Duration::from_secs(60),
        };
    })
    .await;
    let person = app.signup("parent").await;
    for _ in 0..2 {
        assert_eq!(app.request_reset(&person.email).await.status(), 202);
    }
    assert_problem(app.request_reset(&person.email).await, 429, "rate-limited").await;
}
