//! The export (`GET /v1/me/export`) holds everything held about the person: every table
//! with rows about their account is represented, found from the schema so that a table
//! added later fails here until the export covers it.

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{Person, RichFamily, TestApp, spawn_app};

/// Where each table that refers to accounts appears in the export (JSON pointers; any one
/// of them non-empty will do: a parent sees their child's sign-ups under `children`).
const SECTIONS: &[(&str, &[&str])] = &[
    ("accounts", &["/account"]),
    (
        "email_verifications",
        &["/account/verification_pending_until"],
    ),
    ("device_sessions", &["/sessions"]),
    (
        "snils_registry",
        &["/student_profile/snils", "/parent_profile/snils"],
    ),
    (
        "student_profiles",
        &["/student_profile", "/children/0/profile"],
    ),
    ("parent_profiles", &["/parent_profile"]),
    ("family_links", &["/linked_accounts"]),
    ("link_codes", &["/link_codes"]),
    ("invitations", &["/invitations"]),
    ("family_link_requests", &["/link_requests"]),
    (
        "password_resets",
        &["/account/password_reset_pending_until"],
    ),
    ("consents", &["/consents", "/children/0/consents"]),
    ("erasures", &["/erasure"]),
    ("access_audit", &["/access_log", "/access_actions"]),
    ("signups", &["/signups", "/children/0/signups"]),
    (
        "attendance",
        &["/signups/0/outcome", "/children/0/signups/0/outcome"],
    ),
    (
        "assessments",
        &["/signups/0/outcome", "/children/0/signups/0/outcome"],
    ),
    (
        "feedback",
        &["/signups/0/outcome", "/children/0/signups/0/outcome"],
    ),
    (
        "check_in_codes_used",
        &["/signups/0/outcome", "/children/0/signups/0/outcome"],
    ),
    ("approval_links", &["/approval_links"]),
    ("idempotency_keys", &["/idempotency_keys"]),
    (
        "test_attempts",
        &["/test_attempts", "/children/0/test_attempts"],
    ),
    ("devices", &["/devices"]),
    ("notification_preferences", &["/notification_preferences"]),
    ("notifications", &["/notifications"]),
    ("deliveries", &["/notifications"]),
    ("snils_conflicts", &["/snils_conflicts"]),
];

/// Columns that refer to an account: uuid columns with a foreign key to `accounts`, or
/// named like one (`*account_id`, `student_id`, `parent_id`, `recipient_id`, …).
async fn account_columns(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text
         FROM information_schema.columns c
         JOIN information_schema.tables t
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.udt_name = 'uuid'
           AND ((c.table_name = 'accounts' AND c.column_name = 'id')
             OR c.column_name LIKE '%account\\_id'
             OR c.column_name IN ('student_id', 'parent_id', 'child_id', 'recipient_id',
                                  'holder_id', 'claimant_id', 'actor_id', 'subject_id',
                                  'user_id', 'created_by', 'decided_by', 'ended_by',
                                  'withdrawn_by', 'requested_by', 'invited_by')
             OR EXISTS (
                 SELECT 1 FROM information_schema.referential_constraints rc
                 JOIN information_schema.key_column_usage k
                   ON k.constraint_schema = rc.constraint_schema
                  AND k.constraint_name = rc.constraint_name
                 JOIN information_schema.constraint_column_usage u
                   ON u.constraint_schema = rc.unique_constraint_schema
                  AND u.constraint_name = rc.unique_constraint_name
                 WHERE k.table_schema = 'public' AND k.table_name = c.table_name
                   AND k.column_name = c.column_name AND u.table_name = 'accounts'))
         ORDER BY 1, 2",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// The tables holding at least one row about `account`.
async fn tables_about(app: &TestApp, account: Uuid) -> Vec<String> {
    let mut tables: Vec<String> = Vec::new();
    for (table, column) in account_columns(app).await {
        let sql = format!(
            "SELECT count(*) FROM \"{}\" WHERE \"{}\" = $1",
            table.replace('"', "\"\""),
            column.replace('"', "\"\"")
        );
        let rows: i64 = sqlx::query_scalar(&sql)
            .bind(account)
            .fetch_one(&app.db)
            .await
            .unwrap();
        if rows > 0 && !tables.contains(&table) {
            tables.push(table);
        }
    }
    tables
}

fn present(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(fields)) => !fields.is_empty(),
        Some(_) => true,
    }
}

async fn export_of(app: &TestApp, person: &Person) -> Value {
    let response = app.get_as("/v1/me/export", &person.access).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every table with rows about the person maps to a section, and that section has them.
async fn assert_every_table_is_exported(app: &TestApp, person: &Person, who: &str) -> Value {
    let export = export_of(app, person).await;
    let tables = tables_about(app, person.account_id).await;
    let mut missing = Vec::new();
    for table in &tables {
        match SECTIONS.iter().find(|(name, _)| name == table) {
            None => missing.push(format!(
                "{table} (no section of the export is known for it)"
            )),
            Some((_, pointers)) if !pointers.iter().any(|p| present(export.pointer(p))) => {
                missing.push(format!("{table} (empty at {pointers:?})"));
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "the {who}'s export leaves out: {missing:#?}\n(tables with rows about them: {tables:?})"
    );
    export
}

fn texts(value: &Value) -> String {
    value.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_covers_every_table_that_holds_rows_about_the_person() {
    let app = spawn_app().await;
    let family: RichFamily = app.rich_family().await;
    // A scheduled erasure is held about the child too.
    sqlx::query(
        "INSERT INTO erasures (student_id, due_at) VALUES ($1, now() + interval '30 days')",
    )
    .bind(family.child.account_id)
    .execute(&app.db)
    .await
    .unwrap();

    let child = assert_every_table_is_exported(&app, &family.child, "child").await;
    let parent = assert_every_table_is_exported(&app, &family.parent, "parent").await;
    assert_every_table_is_exported(&app, &family.claimant, "claimant").await;

    // The child's own values, in full.
    assert_eq!(child["devices"][0]["token"], family.child_token);
    assert_eq!(
        child["notification_preferences"]["time_zone"],
        "Asia/Yekaterinburg"
    );
    let attempt = child["test_attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == family.attempt_id.as_str())
        .expect("the open attempt");
    assert_eq!(attempt["status"], "in_progress");
    assert_eq!(attempt["answers"][0]["question_id"], "1");
    assert_eq!(attempt["answers"][0]["value"]["option"], "a");
    assert_eq!(child["signups"][0]["id"], family.signup_id.as_str());
    assert_eq!(child["signups"][0]["event_id"], family.event_id.to_string());
    assert_eq!(child["invitations"][0]["student_email"], family.child.email);
    assert_eq!(
        child["sessions"][0]["device_name"],
        family.child_device_name
    );
    assert_eq!(child["snils_conflicts"][0]["role"], "holder");
    assert!(child["erasure"]["due_at"].is_string());
    assert!(
        texts(&child["notifications"]).contains(&family.child_token),
        "the deliveries to the child's phone: {}",
        child["notifications"]
    );
    assert!(
        child["idempotency_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["key"] == family.child_keys[0].as_str())
    );
    // The parent's data is theirs, not the child's: no passport, address or user agent.
    assert!(!texts(&child["consents"]).contains("123456"));
    assert!(!texts(&child["consents"]).contains(&family.consent_user_agent));

    // The parent's own values, in full: the passport they proved identity with, where
    // they gave consent from.
    let photo = parent["consents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "photo_video")
        .expect("the photo-and-video consent");
    assert_eq!(photo["user_agent"], family.consent_user_agent);
    assert_eq!(photo["identity_proof"], "4510 123456");
    assert!(
        photo["client_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1")
    );
    assert_eq!(parent["devices"][0]["token"], family.parent_token);
    assert_eq!(
        parent["invitations"][0]["student_email"],
        family.child.email
    );
    assert_eq!(
        parent["children"][0]["test_attempts"][0]["answers"][0]["value"]["option"],
        "a"
    );
    assert_eq!(parent["children"][0]["signups"][0]["status"], "approved");
    assert!(
        parent["access_actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "read_profile"
                && a["subject_account_id"] == family.child.account_id.to_string())
    );
}
