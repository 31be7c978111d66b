//! Consent records: who, for which child, which text version, when, from where, with what
//! identity proof; one current per kind, history kept; withdrawal and its effects.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn the_current_texts_are_published_with_their_versions() {
    let app = spawn_app().await;
    let texts: Value = app.get("/v1/consent-texts").await.json().await.unwrap();
    let kinds: Vec<&str> = texts
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["personal_data", "health_data", "photo_video"]);
    assert_eq!(texts[0]["version"], "personal_data/v1");
    assert!(texts[0]["text"].as_str().unwrap().contains("152-ФЗ"));
}

#[tokio::test]
async fn a_consent_records_who_what_when_where_and_the_identity_proof() {
    let app = spawn_app().await;
    let family = app.family().await;
    let response = app
        .authed(
            Method::POST,
            &format!("/v1/children/{}/consents", family.child.account_id),
            &family.parent.access,
        )
        .header("user-agent", "BiletApp/3.1 (iOS 18)")
        .json(&json!({
            "kind": "photo_video",
            "text_version": "photo_video/v1",
            "passport_series": "4510",
            "passport_number": "987654",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["status"], "current");
    assert_eq!(view["identity_proof"], "**** ***654");
    assert_eq!(
        view["given_by_account_id"],
        family.parent.account_id.to_string()
    );

    let row: (String, Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT text_version, client_address, user_agent, identity_proof_enc FROM consents WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(view["id"].as_str().unwrap()).unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(row.0, "photo_video/v1");
    assert_eq!(row.1.as_deref(), Some("127.0.0.1"));
    assert_eq!(row.2.as_deref(), Some("BiletApp/3.1 (iOS 18)"));
    assert!(row.3.starts_with("v1:") && !row.3.contains("987654"));
}

#[tokio::test]
async fn giving_again_supersedes_and_keeps_the_history() {
    let app = spawn_app().await;
    let family = app.family().await;
    app.give_consent(&family.parent, &family.child, "personal_data")
        .await;
    let history: Value = app
        .get_as(
            &format!("/v1/children/{}/consents", family.child.account_id),
            &family.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["current", "superseded"]);
    // The student sees the consents given for them, without the parent's passport.
    let mine: Value = app
        .get_as("/v1/me/consents", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert!(mine[0]["identity_proof"].is_null());
}

#[tokio::test]
async fn a_stale_text_version_or_a_bad_passport_is_refused() {
    let app = spawn_app().await;
    let family = app.family().await;
    let path = format!("/v1/children/{}/consents", family.child.account_id);
    let body = json!({ "kind": "personal_data", "text_version": "personal_data/v0", "passport_series": "45", "passport_number": "1" });
    let problem = assert_problem(
        app.post_as(&path, &family.parent.access, &body).await,
        422,
        "validation",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["passport_number", "text_version"]);
}

#[tokio::test]
async fn a_parent_without_a_profile_cannot_give_consent() {
    let app = spawn_app().await;
    let child = app.signup("student").await;
    let parent = app.signup("parent").await;
    app.link(&parent, &child).await;
    let body = json!({ "kind": "personal_data", "text_version": "personal_data/v1", "passport_series": "4510", "passport_number": "123456" });
    let refused = app
        .post_as(
            &format!("/v1/children/{}/consents", child.account_id),
            &parent.access,
            &body,
        )
        .await;
    assert_problem(refused, 409, "profile-required").await;
}

#[tokio::test]
async fn withdrawing_personal_data_consent_erases_the_child_leaving_statistics_and_a_pseudonymous_record()
 {
    let app = spawn_app().await;
    let family = app.family().await;
    let child = family.child.account_id;
    let response = app
        .delete_as(
            &format!("/v1/children/{child}/consents/personal_data"),
            &family.parent.access,
        )
        .await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["status"], "withdrawn");
    let events: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE kind = 'personal_data_consent_withdrawn'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["student_id"], child.to_string());

    // The erasure job runs (the delay is zero in tests; at most 30 days in production),
    // once the family has been told of the withdrawal.
    app.erase(child).await;

    let profiles: i64 =
        sqlx::query_scalar("SELECT count(*) FROM student_profiles WHERE account_id = $1")
            .bind(child)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(profiles, 0, "the profile is gone");
    let statistics: (i16, String, i32) =
        sqlx::query_as("SELECT grade, region, erased FROM erasure_statistics")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        statistics,
        (7, "RU-TA".to_owned(), 1),
        "anonymised statistics stay"
    );
    let registry: i64 =
        sqlx::query_scalar("SELECT count(*) FROM snils_registry WHERE account_id = $1")
            .bind(child)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(registry, 0);
    // The record of the erasure and of the consent, under a pseudonym.
    let record: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM erased_subjects),
                (SELECT count(*) FROM erased_consents c JOIN erased_subjects s
                   ON s.pseudonym = c.subject_pseudonym
                 WHERE c.kind = 'personal_data' AND c.text_version = 'personal_data/v1')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(record, (1, 1));
    // The child's sessions ended and the account cannot log in.
    assert_problem(
        app.get_as("/v1/me", &family.child.access).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        app.login(&family.child.email, &family.child.password, "x")
            .await
            .status(),
        401
    );
    // Nothing more to erase.
    assert_eq!(
        bilet::privacy::erasure::erase_due(&app.db, &app.state.index)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn consent_given_again_before_the_erasure_is_due_cancels_it() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.privacy.erasure_delay = std::time::Duration::from_secs(3600)
    })
    .await;
    let family = app.family().await;
    let child = family.child.account_id;
    app.delete_as(
        &format!("/v1/children/{child}/consents/personal_data"),
        &family.parent.access,
    )
    .await;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM erasures WHERE done_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(pending, 1);
    assert_eq!(
        bilet::privacy::erasure::erase_due(&app.db, &app.state.index)
            .await
            .unwrap(),
        0,
        "not yet due"
    );
    app.give_consent(&family.parent, &family.child, "personal_data")
        .await;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM erasures WHERE done_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(pending, 0);
}
