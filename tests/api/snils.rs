//! SNILS checks and conflicts: checks of a new SNILS are limited per account, every
//! conflict is audited and listed for administrators, who settle it.

use bilet::admin::StaffRole;
use bilet::notify::providers::ChannelKind;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Person, TestApp, assert_problem, parent_profile, spawn_app, spawn_app_with, student_profile,
    valid_snils,
};

pub(crate) fn digits(snils: &str) -> String {
    snils.chars().filter(char::is_ascii_digit).collect()
}

/// A student who holds `snils` and another who tries to save it (refused with 409).
pub(crate) async fn conflict(app: &TestApp, snils: &str) -> (Person, Person) {
    let holder = app.signup("student").await;
    let claimant = app.signup("student").await;
    let saved = app
        .put_as(
            "/v1/me/student-profile",
            &holder.access,
            &student_profile(snils),
        )
        .await;
    assert_eq!(saved.status(), 200);
    let refused = app
        .put_as(
            "/v1/me/student-profile",
            &claimant.access,
            &student_profile(snils),
        )
        .await;
    assert_problem(refused, 409, "snils-taken").await;
    (holder, claimant)
}

async fn conflicts(app: &TestApp, admin: &Person) -> Vec<Value> {
    let response = app.get_as("/v1/admin/snils-conflicts", &admin.access).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn resolve(app: &TestApp, admin: &Person, id: &str, decision: &str) -> reqwest::Response {
    app.post_as(
        &format!("/v1/admin/snils-conflicts/{id}/resolve"),
        &admin.access,
        &json!({ "decision": decision }),
    )
    .await
}

pub(crate) async fn registry_holder(app: &TestApp, snils: &str) -> Option<Uuid> {
    sqlx::query_scalar("SELECT account_id FROM snils_registry WHERE digest = $1")
        .bind(app.state.index.digest("snils", &digits(snils)))
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

async fn audit_actions(app: &TestApp, subject: Uuid) -> Vec<(Option<Uuid>, String)> {
    sqlx::query_as("SELECT actor_id, action FROM access_audit WHERE subject_id = $1 ORDER BY id")
        .bind(subject)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_account_checks_only_a_few_new_snils_an_hour_and_then_gets_429() {
    let app = spawn_app_with(|s| {
        s.privacy.snils_checks = bilet::settings::RateLimit::parse("5/1h").unwrap();
    })
    .await;
    let prober = app.signup("student").await;
    let mut last = String::new();
    for _ in 0..5 {
        last = valid_snils();
        let saved = app
            .put_as(
                "/v1/me/student-profile",
                &prober.access,
                &student_profile(&last),
            )
            .await;
        assert_eq!(saved.status(), 200);
    }
    let sixth = valid_snils();
    let limited = app
        .put_as(
            "/v1/me/student-profile",
            &prober.access,
            &student_profile(&sixth),
        )
        .await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 3600, "{retry_after}");
    assert_problem(limited, 429, "rate-limited").await;
    // Refused, so nothing changed: the profile still holds the fifth.
    assert_eq!(registry_holder(&app, &sixth).await, None);
    assert_eq!(registry_holder(&app, &last).await, Some(prober.account_id));
    // Saving the profile again with the SNILS it holds is no check.
    let again = app
        .put_as(
            "/v1/me/student-profile",
            &prober.access,
            &student_profile(&last),
        )
        .await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn a_snils_conflict_is_audited_for_the_holder_and_listed_for_administrators_without_the_snils()
 {
    let app = spawn_app().await;
    let snils = valid_snils();
    let (holder, claimant) = conflict(&app, &snils).await;
    // A second try counts on the same open conflict.
    let again = app
        .put_as(
            "/v1/me/student-profile",
            &claimant.access,
            &student_profile(&snils),
        )
        .await;
    assert_problem(again, 409, "snils-taken").await;

    let audit = audit_actions(&app, holder.account_id).await;
    assert_eq!(
        audit
            .iter()
            .filter(
                |(actor, action)| *actor == Some(claimant.account_id) && action == "snils_conflict"
            )
            .count(),
        2,
        "{audit:?}"
    );
    let admin = app.staff(StaffRole::Admin, None).await;
    let listed = app.get_as("/v1/admin/snils-conflicts", &admin.access).await;
    assert_eq!(listed.status(), 200);
    let text = listed.text().await.unwrap();
    for secret in [snils.clone(), digits(&snils)] {
        assert!(!text.contains(&secret), "the list shows the SNILS: {text}");
    }
    let listed: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0]["claimant_account_id"],
        claimant.account_id.to_string()
    );
    assert_eq!(
        listed[0]["holder_account_id"],
        holder.account_id.to_string()
    );
    assert_eq!(listed[0]["status"], "open");
    assert_eq!(listed[0]["attempts"], 2);
    // The table keeps the digest, never the number.
    let in_clear: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM snils_conflicts c
         WHERE (to_jsonb(c) - 'digest')::text LIKE '%' || $1 || '%'",
    )
    .bind(digits(&snils))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(in_clear, 0);
}

#[tokio::test]
async fn only_administrators_list_and_settle_snils_conflicts() {
    let app = spawn_app().await;
    let snils = valid_snils();
    let (holder, claimant) = conflict(&app, &snils).await;
    let admin = app.staff(StaffRole::Admin, None).await;
    let id = conflicts(&app, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let organizer = app.organizer().await;
    let parent = app.signup("parent").await;
    for (who, person) in [
        ("organizer", &organizer),
        ("parent", &parent),
        ("claimant", &claimant),
        ("holder", &holder),
    ] {
        let list = app
            .get_as("/v1/admin/snils-conflicts", &person.access)
            .await;
        assert_eq!(list.status(), 403, "{who} listed conflicts");
        for decision in ["reassign", "keep_holder"] {
            let settled = resolve(&app, person, &id, decision).await;
            assert_eq!(settled.status(), 403, "{who} settled a conflict");
        }
    }
    assert_eq!(app.get("/v1/admin/snils-conflicts").await.status(), 401);
    // Nothing changed.
    assert_eq!(conflicts(&app, &admin).await[0]["status"], "open");
    assert_eq!(registry_holder(&app, &snils).await, Some(holder.account_id));
}

#[tokio::test]
async fn keeping_the_holder_refuses_the_claimant_for_good() {
    let app = spawn_app().await;
    let snils = valid_snils();
    let (holder, claimant) = conflict(&app, &snils).await;
    let admin = app.staff(StaffRole::Admin, None).await;
    let id = conflicts(&app, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        resolve(&app, &admin, &Uuid::new_v4().to_string(), "keep_holder").await,
        404,
        "not-found",
    )
    .await;
    assert_problem(resolve(&app, &admin, &id, "evict").await, 422, "validation").await;

    let settled = resolve(&app, &admin, &id, "keep_holder").await;
    assert_eq!(settled.status(), 200);
    let settled: Value = settled.json().await.unwrap();
    assert_eq!(settled["status"], "settled");
    assert_eq!(settled["decision"], "keep_holder");
    assert_problem(
        resolve(&app, &admin, &id, "reassign").await,
        409,
        "conflict-settled",
    )
    .await;

    // The claimant tries again: refused, and no new conflict opens.
    let again = app
        .put_as(
            "/v1/me/student-profile",
            &claimant.access,
            &student_profile(&snils),
        )
        .await;
    assert_problem(again, 409, "snils-taken").await;
    let listed = conflicts(&app, &admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["status"], "settled");
    assert_eq!(registry_holder(&app, &snils).await, Some(holder.account_id));
    for person in [&holder, &claimant] {
        let audit = audit_actions(&app, person.account_id).await;
        assert!(
            audit.contains(&(Some(admin.account_id), "snils_conflict_resolved".to_owned())),
            "{audit:?}"
        );
    }
}

#[tokio::test]
async fn reassigning_removes_the_snils_from_the_holder_who_is_told_and_lets_the_claimant_save_it() {
    let app = spawn_app().await;
    let snils = valid_snils();
    // A parent squatted a child's SNILS on their own profile.
    let squatter = app.signup("parent").await;
    let saved = app
        .put_as(
            "/v1/me/parent-profile",
            &squatter.access,
            &parent_profile(&snils),
        )
        .await;
    assert_eq!(saved.status(), 200);
    let child = app.signup("student").await;
    let refused = app
        .put_as(
            "/v1/me/student-profile",
            &child.access,
            &student_profile(&snils),
        )
        .await;
    assert_problem(refused, 409, "snils-taken").await;
    let admin = app.staff(StaffRole::Admin, None).await;
    let id = conflicts(&app, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let settled = resolve(&app, &admin, &id, "reassign").await;
    assert_eq!(settled.status(), 200);
    let settled: Value = settled.json().await.unwrap();
    assert_eq!(settled["decision"], "reassign");

    assert_eq!(registry_holder(&app, &snils).await, None);
    let me: Value = app
        .get_as("/v1/me", &squatter.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["parent_profile"]["snils"], Value::Null, "{me}");
    let mail = app.received(ChannelKind::Email, &squatter.email, 2).await;
    assert!(
        mail.iter()
            .any(|m| m.headers["subject"].contains("СНИЛС заново")),
        "{:?}",
        mail.iter()
            .map(|m| &m.headers["subject"])
            .collect::<Vec<_>>()
    );
    let audit = audit_actions(&app, squatter.account_id).await;
    assert!(
        audit.contains(&(Some(admin.account_id), "snils_removed".to_owned())),
        "{audit:?}"
    );

    let saved = app
        .put_as(
            "/v1/me/student-profile",
            &child.access,
            &student_profile(&snils),
        )
        .await;
    assert_eq!(saved.status(), 200);
    assert_eq!(registry_holder(&app, &snils).await, Some(child.account_id));
    // The former holder enters their own SNILS again.
    let own = app
        .put_as(
            "/v1/me/parent-profile",
            &squatter.access,
            &parent_profile(&valid_snils()),
        )
        .await;
    assert_eq!(own.status(), 200);
}
