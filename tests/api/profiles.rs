//! Profiles: validation, one SNILS per profile, encryption at rest, masking, mass
//! assignment, and a parent's full view of their child.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, parent_profile, spawn_app, student_profile, valid_snils};

fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_student_profile_is_validated_field_by_field() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let mut profile = student_profile("112-233-445 96");
    profile["surname"] = json!("Смирнова2");
    profile["grade"] = json!(5);
    profile["phone"] = json!("12345");
    profile["region"] = json!("RU-XX");
    profile["birth_date"] = json!("12.03.2013");
    let body = assert_problem(
        app.put_as("/v1/me/student-profile", &student.access, &profile)
            .await,
        422,
        "validation",
    )
    .await;
    let fields = error_fields(&body);
    for field in ["surname", "grade", "phone", "region", "birth_date", "snils"] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    // Nothing was stored.
    let me: Value = app
        .get_as("/v1/me", &student.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(me["student_profile"].is_null());
}

#[tokio::test]
async fn the_document_must_match_the_age_and_the_age_the_grade() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    // A 13-year-old identifies with a birth certificate, not a passport.
    let mut profile = student_profile(&valid_snils());
    profile["document"] = json!("4510 123456");
    let body = assert_problem(
        app.put_as("/v1/me/student-profile", &student.access, &profile)
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(error_fields(&body), ["document"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("birth certificate")
    );

    // A 13-year-old in grade 11 is implausible.
    let mut profile = student_profile(&valid_snils());
    profile["grade"] = json!(11);
    let body = assert_problem(
        app.put_as("/v1/me/student-profile", &student.access, &profile)
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(error_fields(&body), ["birth_date"]);

    // A 15-year-old shows a passport: series 4 digits and number 6.
    let mut profile = student_profile(&valid_snils());
    let birth = chrono::Utc::now().date_naive() - chrono::Duration::days(15 * 365 + 40);
    profile["birth_date"] = json!(birth.to_string());
    profile["grade"] = json!(9);
    profile["document"] = json!("451 012345");
    let body = assert_problem(
        app.put_as("/v1/me/student-profile", &student.access, &profile)
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(error_fields(&body), ["document"]);
    profile["document"] = json!("4510 123456");
    assert_eq!(
        app.put_as("/v1/me/student-profile", &student.access, &profile)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn the_owner_sees_documents_masked_and_the_phone_normalised() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let snils = "112-233-445 95";
    let response = app
        .put_as(
            "/v1/me/student-profile",
            &student.access,
            &student_profile(snils),
        )
        .await;
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["snils"], "***-***-445 95");
    assert_eq!(view["document"], "IV-МЮ ***456");
    assert_eq!(view["phone"], "+79123456789");
    assert_eq!(view["region_name"], "Республика Татарстан");
    let me: Value = app
        .get_as("/v1/me", &student.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["student_profile"]["snils"], "***-***-445 95");
}

#[tokio::test]
async fn one_snils_belongs_to_one_profile() {
    let app = spawn_app().await;
    let snils = valid_snils();
    let first = app.signup("student").await;
    let second = app.signup("student").await;
    let parent = app.signup("parent").await;
    assert_eq!(
        app.put_as(
            "/v1/me/student-profile",
            &first.access,
            &student_profile(&snils)
        )
        .await
        .status(),
        200
    );
    // Re-saving one's own profile keeps the SNILS.
    assert_eq!(
        app.put_as(
            "/v1/me/student-profile",
            &first.access,
            &student_profile(&snils)
        )
        .await
        .status(),
        200
    );

    let taken = app
        .put_as(
            "/v1/me/student-profile",
            &second.access,
            &student_profile(&snils),
        )
        .await;
    assert_problem(taken, 409, "snils-taken").await;
    // The same number written differently is the same SNILS.
    let digits: String = snils.chars().filter(char::is_ascii_digit).collect();
    let taken = app
        .put_as(
            "/v1/me/parent-profile",
            &parent.access,
            &parent_profile(&digits),
        )
        .await;
    assert_problem(taken, 409, "snils-taken").await;
}

#[tokio::test]
async fn personal_data_is_encrypted_at_rest_with_its_key_id() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let snils = valid_snils();
    app.put_as(
        "/v1/me/student-profile",
        &student.access,
        &student_profile(&snils),
    )
    .await;
    let row: (String, String, String, String) = sqlx::query_as(
        "SELECT snils_enc, phone_enc, birth_date_enc, document_enc FROM student_profiles WHERE account_id = $1",
    )
    .bind(student.account_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let snils_digits: String = snils.chars().filter(char::is_ascii_digit).collect();
    for value in [&row.0, &row.1, &row.2, &row.3] {
        assert!(value.starts_with("v1:d1:"), "{value}");
        for clear in [&snils_digits[..9], "9123456789", "123456", "МЮ"] {
            assert!(!value.contains(clear), "{clear} in {value}");
        }
    }
    // Fresh nonces: the same phone stored for two people encrypts differently.
    let other = app.signup("student").await;
    app.put_as(
        "/v1/me/student-profile",
        &other.access,
        &student_profile(&valid_snils()),
    )
    .await;
    let phones: Vec<String> = sqlx::query_scalar("SELECT phone_enc FROM student_profiles")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_ne!(phones[0], phones[1]);
    // The registry holds a digest, not the number.
    let digest: Vec<u8> =
        sqlx::query_scalar("SELECT digest FROM snils_registry WHERE account_id = $1")
            .bind(student.account_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(digest.len(), 32);
    assert!(!String::from_utf8_lossy(&digest).contains(&snils_digits[..6]));
}

#[tokio::test]
async fn role_and_other_protected_fields_cannot_be_set_through_a_profile() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    for (field, value) in [
        ("role", json!("admin")),
        ("organization_id", json!("x")),
        ("email_verified", json!(true)),
    ] {
        let mut profile = student_profile(&valid_snils());
        profile[field] = value;
        let body = assert_problem(
            app.put_as("/v1/me/student-profile", &student.access, &profile)
                .await,
            422,
            "validation",
        )
        .await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(field),
            "{body}"
        );
    }
    let me: Value = app
        .get_as("/v1/me", &student.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "student");
    let role: String = sqlx::query_scalar("SELECT role FROM accounts WHERE id = $1")
        .bind(student.account_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "student");
}

#[tokio::test]
async fn a_parent_profile_is_for_adults_and_only_for_parents() {
    let app = spawn_app().await;
    let parent = app.signup("parent").await;
    let student = app.signup("student").await;
    let mut young = parent_profile(&valid_snils());
    young["birth_date"] = json!("2012-01-01");
    let body = assert_problem(
        app.put_as("/v1/me/parent-profile", &parent.access, &young)
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(error_fields(&body), ["birth_date"]);
    let wrong_role = app
        .put_as(
            "/v1/me/parent-profile",
            &student.access,
            &parent_profile(&valid_snils()),
        )
        .await;
    assert_problem(wrong_role, 403, "forbidden").await;
}

#[tokio::test]
async fn a_linked_parent_sees_the_child_in_full_and_the_read_is_audited() {
    let app = spawn_app().await;
    let family = app.family().await;
    let path = format!("/v1/children/{}/profile", family.child.account_id);
    let response = app
        .authed(reqwest::Method::GET, &path, &family.parent.access)
        .header("x-request-id", "audit-check-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["snils"], family.child_snils);
    assert_eq!(view["document"], "IV-МЮ 123456");
    assert_eq!(view["surname"], "Смирнова");

    let audit: Vec<(uuid::Uuid, String, String, Option<String>)> = sqlx::query_as(
        "SELECT actor_id, actor_role, action, request_id FROM access_audit WHERE subject_id = $1",
    )
    .bind(family.child.account_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(audit.contains(&(
        family.parent.account_id,
        "parent".to_owned(),
        "read_profile".to_owned(),
        Some("audit-check-1".to_owned())
    )));
}

#[tokio::test]
async fn health_data_needs_consent_and_is_erased_when_it_is_withdrawn() {
    let app = spawn_app().await;
    let family = app.family().await;
    let health =
        json!({ "disability": true, "needs": ["mobility", "hearing"], "details": "коляска" });
    let path = format!("/v1/children/{}/health", family.child.account_id);

    assert_problem(
        app.put_as(&path, &family.parent.access, &health).await,
        409,
        "consent-required",
    )
    .await;
    let mut with_health = student_profile(&family.child_snils);
    with_health["health"] = health.clone();
    let body = assert_problem(
        app.put_as("/v1/me/student-profile", &family.child.access, &with_health)
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(error_fields(&body), ["health"]);

    app.give_consent(&family.parent, &family.child, "health_data")
        .await;
    let view: Value = app
        .put_as(&path, &family.parent.access, &health)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["health"]["needs"], json!(["hearing", "mobility"]));
    let stored: Option<String> =
        sqlx::query_scalar("SELECT health_enc FROM student_profiles WHERE account_id = $1")
            .bind(family.child.account_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(stored.unwrap().starts_with("v1:"));

    let withdraw = format!(
        "/v1/children/{}/consents/health_data",
        family.child.account_id
    );
    assert_eq!(
        app.delete_as(&withdraw, &family.parent.access)
            .await
            .status(),
        200
    );
    let stored: Option<String> =
        sqlx::query_scalar("SELECT health_enc FROM student_profiles WHERE account_id = $1")
            .bind(family.child.account_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(stored.is_none(), "ОВЗ details must be erased at once");
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM access_audit WHERE subject_id = $1")
            .bind(family.child.account_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(actions.contains(&"erase_health_data".to_owned()));
}
