//! The mobile contract: what the harness's conformance check refuses, and the behaviours
//! the document promises that no other test would exercise.

use bilet::admin::StaffRole;
use chrono::Duration;
use reqwest::Method;
use serde_json::json;

use crate::helpers::contract::{Contract, Exchange};
use crate::helpers::{assert_problem, event_input, spawn_app};

fn exchange<'a>(method: &'a str, path: &'a str, status: u16, body: &'a [u8]) -> Exchange<'a> {
    Exchange {
        method,
        path,
        status,
        content_type: Some(if status >= 400 {
            "application/problem+json"
        } else {
            "application/json; charset=utf-8"
        }),
        allow: None,
        body,
    }
}

#[test]
fn the_conformance_check_refuses_what_the_contract_does_not_say() {
    let contract = Contract::published();
    let problem = |slug: &str, status: u16| {
        json!({ "type": format!("urn:bilet:problem:{slug}"), "title": "t", "status": status, "detail": "d" })
            .to_string()
    };

    // A documented problem passes; the same status with a type it does not list fails.
    let forbidden = problem("forbidden", 403);
    assert!(
        contract
            .check(&exchange("get", "/v1/events", 403, forbidden.as_bytes()))
            .is_ok()
    );
    let taken = problem("snils-taken", 409);
    let refused = contract
        .check(&exchange("get", "/v1/events", 409, taken.as_bytes()))
        .unwrap_err();
    assert!(refused.contains("GET /v1/events → 409"), "{refused}");

    // A status the operation does not document.
    let teapot = problem("teapot", 418);
    let refused = contract
        .check(&exchange("get", "/v1/me", 418, teapot.as_bytes()))
        .unwrap_err();
    assert!(refused.contains("does not document"), "{refused}");

    // `null` where the schema does not allow it, and a missing required field.
    let page = br#"{"items":[],"next_cursor":null,"accessibility_filter_applied":false}"#;
    let refused = contract
        .check(&exchange("get", "/v1/events", 200, page))
        .unwrap_err();
    assert!(refused.contains("next_cursor"), "{refused}");
    let refused = contract
        .check(&exchange("get", "/v1/events", 200, br#"{"items":[]}"#))
        .unwrap_err();
    assert!(
        refused.contains("accessibility_filter_applied"),
        "{refused}"
    );

    // `errors` is optional, but never empty.
    let empty_errors = json!({ "type": "urn:bilet:problem:forbidden", "title": "t", "status": 403, "detail": "d", "errors": [] }).to_string();
    assert!(
        contract
            .check(&exchange("get", "/v1/events", 403, empty_errors.as_bytes()))
            .is_err()
    );

    // The wrong content type, and a 405 without the route's methods in Allow.
    let mut plain = exchange("get", "/v1/events", 403, forbidden.as_bytes());
    plain.content_type = Some("application/json");
    assert!(contract.check(&plain).is_err());
    let not_allowed = problem("method-not-allowed", 405);
    let refused = contract
        .check(&exchange(
            "delete",
            "/v1/events",
            405,
            not_allowed.as_bytes(),
        ))
        .unwrap_err();
    assert!(refused.contains("Allow"), "{refused}");
    let mut with_allow = exchange("delete", "/v1/events", 405, not_allowed.as_bytes());
    with_allow.allow = Some("GET, POST");
    assert!(contract.check(&with_allow).is_ok());

    // Pages are not the API's; an unknown API path still answers a problem.
    assert!(
        contract
            .check(&exchange("get", "/a/some-token", 200, b"<html></html>"))
            .is_ok()
    );
    assert!(
        contract
            .check(&exchange("get", "/v1/nothing", 404, b"not json"))
            .is_err()
    );
}

#[tokio::test]
async fn a_sign_up_takes_an_empty_object_or_no_body_but_nothing_else() {
    let app = spawn_app().await;
    let organizer = app.organizer().await;
    let first = app.family().await;
    let second = app.family().await;
    let third = app.family().await;
    let event = app
        .publish_event(&organizer, &event_input(Duration::days(5), 10))
        .await;
    let path = format!("/v1/events/{event}/signups");

    app.sign_up(&first.child.access, event, 201).await;
    let bare = app
        .authed(Method::POST, &path, &second.child.access)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 201);
    let unknown = app
        .post_as(&path, &third.child.access, &json!({ "seats": 2 }))
        .await;
    let problem = assert_problem(unknown, 422, "validation").await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{problem}"
    );
}

#[tokio::test]
async fn an_admin_listing_refuses_a_limit_out_of_range_instead_of_clamping_it() {
    let app = spawn_app().await;
    let admin = app.staff(StaffRole::Admin, None).await;
    for path in ["/v1/admin/dead-letters", "/v1/admin/snils-conflicts"] {
        let response = app
            .get_as(&format!("{path}?limit=5000"), &admin.access)
            .await;
        let problem = assert_problem(response, 422, "validation").await;
        assert_eq!(problem["errors"][0]["field"], "limit");
        let response = app
            .get_as(&format!("{path}?limit=1000"), &admin.access)
            .await;
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn the_served_document_is_the_published_one() {
    let app = spawn_app().await;
    let served = app.get("/openapi.json").await.text().await.unwrap();
    let published = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/mobile-contract/openapi.json"
    ))
    .unwrap();
    assert_eq!(served, published);
    let docs = app.get("/docs/").await.text().await.unwrap();
    assert!(docs.contains("urn:bilet:problem:already-signed-up"));
}

/// The contract fuzzer (schemathesis, installed by `scripts/setup`) against a test server,
/// with every check, four times: with a token the server does not know, then as a
/// parent, a student and an organizer with a published event (each run also tries every
/// operation without the token). Any failure fails the test
/// with the fuzzer's report. Without `st` on the PATH the test says so and passes, unless
/// `CI` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_fuzzer_finds_no_failure_anonymous_or_as_parent_student_and_organizer() {
    let fuzzer = std::env::var("SCHEMATHESIS_BIN").unwrap_or_else(|_| "st".to_owned());
    if std::process::Command::new(&fuzzer)
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "schemathesis (`{fuzzer}`) is missing; scripts/setup installs it"
        );
        eprintln!(
            "skipped: schemathesis (`{fuzzer}`) is not installed (scripts/setup installs it)"
        );
        return;
    }
    let app = spawn_app().await;
    let family = app.family().await;
    let organizer = app.organizer().await;
    app.publish_event(&organizer, &event_input(Duration::days(5), 30))
        .await;
    let seconds: u64 = std::env::var("CONTRACT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let schema = app.url("/openapi.json");
    let base = app.url("");
    let mut failed = Vec::new();
    for (who, token) in [
        ("nobody", "not-a-token".to_owned()),
        ("a parent", family.parent.access.clone()),
        ("a student", family.child.access.clone()),
        ("an organizer", organizer.access.clone()),
    ] {
        let fuzzer = fuzzer.clone();
        let (schema, base) = (schema.clone(), base.clone());
        let output = tokio::task::spawn_blocking(move || {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contract-fuzz");
            std::process::Command::new(&fuzzer)
                .args(["--config-file", &format!("{dir}/schemathesis.toml")])
                .args(["run", &schema, "--url", &base, "--checks", "all"])
                .args(["--phases", "examples,coverage,fuzzing"])
                .args(["--max-time", &seconds.to_string(), "--seed", "20261130"])
                // One worker: hypothesis reads lambdas' source with `ast`, which CPython
                // 3.11 does not do safely from several threads at once (a run with two
                // failed on "AST constructor recursion depth mismatch").
                .args(["--workers", "1", "--no-color", "--warnings", "off"])
                // Signing out would end the run's own session.
                .args(["--exclude-path", "/v1/auth/logout"])
                // The token goes through the document's security scheme (see
                // schemathesis.toml), so the fuzzer also tries each operation without it.
                .env("CONTRACT_FUZZ_TOKEN", &token)
                .env("SCHEMATHESIS_HOOKS", format!("{dir}/hooks.py"))
                .args(["--output-sanitize", "false"])
                .output()
        })
        .await
        .unwrap()
        .expect("the fuzzer runs");
        let report = String::from_utf8_lossy(&output.stdout);
        let summary: Vec<&str> = report
            .lines()
            .filter(|l| l.contains("passed") || l.contains("failed") || l.contains("Failures"))
            .collect();
        eprintln!("as {who}: {}", summary.join(" | "));
        if !output.status.success() {
            failed.push(format!(
                "as {who}:\n{report}\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
