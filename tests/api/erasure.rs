//! Erasure after personal-data consent is withdrawn: nothing that identifies the child is
//! left in any table, only the pseudonymised consent records and counts by grade and region.

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{RichFamily, TestApp, spawn_app};

/// A column that could hold an identifier or a value in clear.
#[derive(Debug, sqlx::FromRow)]
struct Column {
    table_name: String,
    column_name: String,
    udt_name: String,
}

/// Every text, varchar, citext, json, jsonb, bytea and uuid column of every table in the
/// public schema, except the migrations' bookkeeping: tables added later are searched too.
async fn searchable_columns(app: &TestApp) -> Vec<Column> {
    sqlx::query_as::<_, Column>(
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name,
                c.udt_name::text AS udt_name
         FROM information_schema.columns c
         JOIN information_schema.tables t
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
           AND t.table_name NOT LIKE '\\_sqlx%'
           AND c.udt_name IN ('text', 'varchar', 'citext', 'json', 'jsonb', 'bytea', 'uuid', 'bpchar')
         ORDER BY 1, 2",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// `table.column` for every place where one of `needles` (or the account id) is found.
async fn find_anywhere(app: &TestApp, account: Uuid, needles: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for column in searchable_columns(app).await {
        let (table, name) = (quote(&column.table_name), quote(&column.column_name));
        let place = format!("{}.{}", column.table_name, column.column_name);
        if column.udt_name == "uuid" {
            let sql = format!("SELECT count(*) FROM {table} WHERE {name} = $1");
            let hits: i64 = sqlx::query_scalar(&sql)
                .bind(account)
                .fetch_one(&app.db)
                .await
                .unwrap();
            if hits > 0 {
                found.push(format!("{place} = account id"));
            }
            continue;
        }
        let condition = if column.udt_name == "bytea" {
            format!("position(convert_to($1, 'UTF8') IN {name}) > 0 OR position($2 IN {name}) > 0")
        } else {
            format!("strpos(lower({name}::text), lower($1)) > 0")
        };
        let sql = format!("SELECT count(*) FROM {table} WHERE {condition}");
        for needle in needles {
            let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(needle);
            if column.udt_name == "bytea" {
                query = query.bind(account.as_bytes().to_vec());
            }
            let hits = query.fetch_one(&app.db).await.unwrap();
            if hits > 0 {
                found.push(format!("{place} holds `{needle}`"));
            }
        }
    }
    found
}

/// Everything that identifies the child, as the app and the people around them wrote it.
fn identifiers(family: &RichFamily) -> Vec<String> {
    let snils_digits: String = family
        .child_snils
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let mut needles = vec![
        family.child.account_id.to_string(),
        family.child.account_id.simple().to_string(),
        family.child.email.clone(),
        family.child_device_name.clone(),
        family.child_token.clone(),
        family.child_phone.clone(),
        family.child_phone.trim_start_matches('+').to_owned(),
        family.child_snils.clone(),
        snils_digits,
        family.child_document.clone(),
        family.child_document.replace(' ', ""),
    ];
    needles.extend(family.child_names.iter().cloned());
    needles.extend(family.child_keys.iter().cloned());
    needles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_nothing_that_identifies_the_child_in_any_table() {
    let app = spawn_app().await;
    let family = app.rich_family().await;
    let child = family.child.account_id;
    let needles = identifiers(&family);
    // The search finds what is there: before the erasure, the child is everywhere.
    let before = find_anywhere(&app, child, &needles).await;
    for place in [
        "invitations.student_email",
        "device_sessions.device_name",
        "idempotency_keys.key",
        "devices.token",
        "deliveries.device_token",
        "student_profiles.surname",
        "consents.student_id",
    ] {
        assert!(
            before.iter().any(|f| f.starts_with(place)),
            "{place} not found before erasure: {before:#?}"
        );
    }

    let withdrawn = app
        .delete_as(
            &format!("/v1/children/{child}/consents/personal_data"),
            &family.parent.access,
        )
        .await;
    assert_eq!(withdrawn.status(), 200);
    app.erase(child).await;

    let left = find_anywhere(&app, child, &needles).await;
    assert!(left.is_empty(), "left after erasure: {left:#?}");

    // What proves that processing was lawful stays, pseudonymised.
    let kept: Vec<(String, String, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
        "SELECT kind, text_version, withdrawn_at FROM erased_consents ORDER BY given_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(
        (kept[0].0.as_str(), kept[0].1.as_str()),
        ("personal_data", "personal_data/v1")
    );
    assert!(kept[0].2.is_some(), "the withdrawal time is kept");
    let giver: Vec<u8> = sqlx::query_scalar("SELECT giver_digest FROM erased_consents LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        giver,
        app.state.index.digest(
            bilet::privacy::erasure::CONSENT_GIVER_PURPOSE,
            &family.parent.account_id.to_string()
        ),
        "the parent who gave it can be proven, with the key"
    );
    let erased: i32 = sqlx::query_scalar(
        "SELECT erased FROM erasure_statistics WHERE grade = 7 AND region = 'RU-TA'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(erased, 1);

    // The child is gone for the service; the parent and the claimant are not.
    assert_eq!(
        app.get_as("/v1/me", &family.child.access).await.status(),
        401
    );
    assert_eq!(
        app.login(&family.child.email, &family.child.password, "x")
            .await
            .status(),
        401
    );
    let parent: Value = app
        .get_as("/v1/me/export", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(parent["children"], serde_json::json!([]));
    assert_eq!(
        parent["account"]["account_id"],
        family.parent.account_id.to_string()
    );
    // The seat the child held is free again.
    let held: i32 = sqlx::query_scalar("SELECT seats_held FROM events WHERE id = $1")
        .bind(family.event_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(held, 0);
    // Nothing more to erase.
    assert_eq!(
        bilet::privacy::erasure::erase_due(&app.db, &app.state.index)
            .await
            .unwrap(),
        0
    );
}
