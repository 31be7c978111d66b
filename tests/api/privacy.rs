//! Personal data never in logs or error details; the export; re-encryption under a new key
//! while the service runs.

use serde_json::{Value, json};

use crate::helpers::{
    Cleanup, PASSWORD, assert_problem, bilet_binary, captured_logs, parent_profile, spawn_app,
    spawn_app_on, student_profile, test_settings, valid_snils,
};

#[tokio::test]
async fn personal_data_never_reaches_the_logs() {
    let app = spawn_app().await;
    let canary_surname = "Канареечкина";
    let canary_snils = valid_snils();
    let canary_digits: String = canary_snils.chars().filter(char::is_ascii_digit).collect();
    let child = app.signup("student").await;
    let parent = app.signup("parent").await;
    let mut profile = student_profile(&canary_snils);
    profile["surname"] = json!(canary_surname);
    profile["phone"] = json!("+7 999 000-11-22");
    assert_eq!(
        app.put_as("/v1/me/student-profile", &child.access, &profile)
            .await
            .status(),
        200
    );
    app.put_as(
        "/v1/me/parent-profile",
        &parent.access,
        &parent_profile(&valid_snils()),
    )
    .await;
    app.link(&parent, &child).await;
    app.give_consent(&parent, &child, "personal_data").await;
    app.get_as(
        &format!("/v1/children/{}/profile", child.account_id),
        &parent.access,
    )
    .await;
    app.get_as("/v1/me/export", &parent.access).await;
    // Refused input carrying personal data must not be echoed into logs either.
    let mut bad = profile.clone();
    bad["grade"] = json!(99);
    app.put_as("/v1/me/student-profile", &child.access, &bad)
        .await;
    let other = app.signup("student").await;
    app.put_as("/v1/me/student-profile", &other.access, &profile)
        .await; // SNILS taken
    app.login(&child.email, "не-тот-пароль-1", "x").await;

    let logs = captured_logs();
    assert!(logs.contains("request finished"), "logs were captured");
    for canary in [
        canary_surname,
        canary_snils.as_str(),
        canary_digits.as_str(),
        &canary_digits[..9],
        "79990001122",
        "999 000-11-22",
        child.email.as_str(),
        PASSWORD,
        child.access.as_str(),
        child.refresh.as_str(),
    ] {
        assert!(!logs.contains(canary), "`{canary}` reached the logs");
    }
}

#[tokio::test]
async fn error_details_never_echo_personal_data() {
    let app = spawn_app().await;
    let child = app.signup("student").await;
    let mut profile = student_profile("999-888-777 66");
    profile["surname"] = json!("Ива1нова");
    profile["phone"] = json!("+7 999 1");
    let body = assert_problem(
        app.put_as("/v1/me/student-profile", &child.access, &profile)
            .await,
        422,
        "validation",
    )
    .await;
    let text = body.to_string();
    for canary in ["999-888-777", "999888777", "Ива1нова", "+7 999 1"] {
        assert!(!text.contains(canary), "{canary} echoed: {text}");
    }
}

#[tokio::test]
async fn the_export_holds_everything_about_the_caller_and_their_children() {
    let app = spawn_app().await;
    let family = app.family().await;
    let export: Value = app
        .get_as("/v1/me/export", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(export["account"]["email"], family.parent.email);
    assert_eq!(export["parent_profile"]["surname"], "Смирнов");
    assert!(
        export["parent_profile"]["snils"].as_str().unwrap().len() == 14,
        "unmasked in the export"
    );
    assert_eq!(export["consents"][0]["kind"], "personal_data");
    assert_eq!(
        export["children"][0]["profile"]["snils"],
        family.child_snils
    );
    assert_eq!(export["children"][0]["consents"][0]["status"], "current");
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);

    let child_export: Value = app
        .get_as("/v1/me/export", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(child_export["student_profile"]["snils"], family.child_snils);
    assert_eq!(
        child_export["linked_accounts"][0],
        family.parent.account_id.to_string()
    );
    // The child's export shows that their parent read their data.
    let log = child_export["access_log"].as_array().unwrap();
    assert!(
        log.iter()
            .any(|a| a["action"] == "export" && a["actor_role"] == "parent"),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_data_key_reencrypts_everything_while_the_service_runs() {
    let (settings, cleanup) = test_settings();
    let old_keys = settings.keys.data_keys.clone().unwrap();
    // Data written under the old key.
    let before = spawn_app_on(
        settings.clone(),
        Cleanup {
            database: None,
            redis_prefix: None,
        },
    )
    .await;
    let family = before.family().await;
    before
        .give_consent(&family.parent, &family.child, "health_data")
        .await;
    drop(before);

    // The new key is added to every process (the last key encrypts), then the rotation runs.
    let new_key = bilet::settings::KeyList::generate("d2");
    let mut both = old_keys.clone();
    both.0.extend(new_key.0.clone());
    let mut rotated_settings = settings.clone();
    rotated_settings.keys.data_keys = Some(both.clone());
    let app = spawn_app_on(
        rotated_settings.clone(),
        Cleanup {
            database: None,
            redis_prefix: None,
        },
    )
    .await;

    let keys = &rotated_settings.keys;
    let rotation = std::process::Command::new(bilet_binary())
        .args(["admin", "rotate-data-key"])
        .env("BILET_LOG_FILTER", "warn")
        .stdout(std::process::Stdio::null())
        .env("BILET_DATABASE_URL", rotated_settings.database.url.expose())
        .env("BILET_REDIS_PREFIX", &rotated_settings.redis.prefix)
        .env("BILET_KEYS_DATA", both.to_setting())
        .env(
            "BILET_KEYS_INDEX",
            keys.index_key.as_ref().unwrap().to_setting(),
        )
        .env(
            "BILET_KEYS_TOKEN",
            keys.token_keys.as_ref().unwrap().to_setting(),
        )
        .spawn()
        .unwrap();
    // The service keeps serving and writing while the rotation runs.
    let newcomer = app.signup("student").await;
    assert_eq!(
        app.put_as(
            "/v1/me/student-profile",
            &newcomer.access,
            &student_profile(&valid_snils())
        )
        .await
        .status(),
        200
    );
    let output = tokio::task::spawn_blocking(move || rotation.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success());

    let old_values: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM student_profiles WHERE split_part(snils_enc, ':', 2) = 'd1'
                    OR split_part(phone_enc, ':', 2) = 'd1' OR split_part(birth_date_enc, ':', 2) = 'd1'
                    OR split_part(document_enc, ':', 2) = 'd1')
              + (SELECT count(*) FROM parent_profiles WHERE split_part(snils_enc, ':', 2) = 'd1'
                    OR split_part(phone_enc, ':', 2) = 'd1' OR split_part(birth_date_enc, ':', 2) = 'd1')
              + (SELECT count(*) FROM consents WHERE split_part(identity_proof_enc, ':', 2) = 'd1')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(old_values, 0);
    drop(app);

    // With the old key gone, everything still reads.
    let mut only_new = rotated_settings.clone();
    only_new.keys.data_keys = Some(new_key);
    let after = spawn_app_on(only_new, cleanup).await;
    let profile: Value = after
        .get_as(
            &format!("/v1/children/{}/profile", family.child.account_id),
            &family.parent.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["snils"], family.child_snils);
    let login = after.login(&newcomer.email, PASSWORD, "x").await;
    assert_eq!(login.status(), 200);
}

#[tokio::test]
async fn test_results_are_exported_audited_when_a_parent_reads_them_and_erased_with_the_child() {
    let app = spawn_app().await;
    let family = app.family().await;
    let id = app.finish_klimov(&family.child, "b").await;
    let id = id.as_str();

    let mine: Value = app
        .get_as("/v1/me/export", &family.child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["test_results"][0]["test_id"], "klimov-ddo");
    let theirs: Value = app
        .get_as("/v1/me/export", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["children"][0]["test_results"][0]["attempt_id"], id);

    app.get_as(
        &format!("/v1/children/{}/results", family.child.account_id),
        &family.parent.access,
    )
    .await;
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM access_audit WHERE subject_id = $1")
            .bind(family.child.account_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(actions.contains(&"read_results".to_owned()), "{actions:?}");

    app.delete_as(
        &format!(
            "/v1/children/{}/consents/personal_data",
            family.child.account_id
        ),
        &family.parent.access,
    )
    .await;
    app.erase(family.child.account_id).await;
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM test_attempts WHERE student_id = $1)
              + (SELECT count(*) FROM test_results r JOIN test_attempts a ON a.id = r.attempt_id WHERE a.student_id = $1)",
    )
    .bind(family.child.account_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(left, 0, "the child's answers and results are erased");
}
