//! Short tests on mobile: the catalog, attempts that survive a dropped connection or a
//! killed app, offline batches, the server-owned timer, idempotent finishing, the
//! deadline worker, results for the family only, and recommendations.

use std::collections::BTreeSet;

use bilet::admin::StaffRole;
use bilet::diagnostics::{Rules, deadlines};
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::helpers::{Person, TestApp, assert_problem, spawn_app};

/// Klimov answers leaning to «Человек — техника» (8 of 8), worked out from the key.
const TECHNICIAN: &str = "1b 4a 7b 9a 11b 14a 17b 19a 2a 6b 8a 12a 16b 18a 3a 5b 13a 15b 10b 20b";

fn now() -> String {
    Utc::now().to_rfc3339()
}

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339()
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn start(app: &TestApp, student: &Person, test: &str) -> Value {
    let response = app
        .post_as(
            &format!("/v1/tests/{test}/attempts"),
            &student.access,
            &json!({}),
        )
        .await;
    let status = response.status().as_u16();
    assert!(status == 201 || status == 200, "start: {status}");
    response.json().await.unwrap()
}

fn id(attempt: &Value) -> String {
    attempt["id"].as_str().unwrap().to_owned()
}

async fn put_answer(
    app: &TestApp,
    student: &Person,
    attempt: &str,
    question: &str,
    body: Value,
) -> reqwest::Response {
    app.put_as(
        &format!("/v1/attempts/{attempt}/answers/{question}"),
        &student.access,
        &body,
    )
    .await
}

async fn batch(
    app: &TestApp,
    student: &Person,
    attempt: &str,
    answers: Value,
) -> reqwest::Response {
    app.post_as(
        &format!("/v1/attempts/{attempt}/answers:batch"),
        &student.access,
        &json!({ "answers": answers }),
    )
    .await
}

/// Batch items for Klimov answers written as `1a 2b …`.
fn pairs(text: &str) -> Value {
    Value::Array(
        text.split_whitespace()
            .map(|entry| {
                let (q, o) = entry.split_at(entry.len() - 1);
                json!({ "question_id": q, "value": { "option": o }, "seq": 1, "client_time": now() })
            })
            .collect(),
    )
}

async fn finish(app: &TestApp, student: &Person, attempt: &str) -> reqwest::Response {
    app.post_as(
        &format!("/v1/attempts/{attempt}/finish"),
        &student.access,
        &json!({}),
    )
    .await
}

/// A finished Klimov attempt with the given answers; returns the result.
async fn finished_klimov(app: &TestApp, student: &Person, answers: &str) -> Value {
    let attempt = id(&start(app, student, "klimov-ddo").await);
    json_of(batch(app, student, &attempt, pairs(answers)).await, 200).await;
    json_of(finish(app, student, &attempt).await, 200).await
}

/// The attempt as the student's app resumes it.
async fn attempt_view(app: &TestApp, student: &Person, attempt: &str) -> Value {
    json_of(
        app.get_as(&format!("/v1/attempts/{attempt}"), &student.access)
            .await,
        200,
    )
    .await
}

/// A student with a quiz attempt whose first question is answered `a`; returns the
/// student, the attempt and that saved answer.
async fn quiz_answered_once(app: &TestApp) -> (Person, String, Value) {
    let student = app.signup("student").await;
    let attempt = id(&start(app, &student, "professions-quiz").await);
    let first = json!({ "value": { "option": "a" }, "seq": 1, "client_time": now() });
    let saved = json_of(put_answer(app, &student, &attempt, "q01", first).await, 200).await;
    (student, attempt, saved)
}

fn rules(app: &TestApp) -> Rules {
    Rules::from(&app.settings.diagnostics)
}

async fn outbox_rows(app: &TestApp, attempt: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE kind = 'results_ready' AND payload->>'attempt_id' = $1",
    )
    .bind(attempt)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

async fn set_deadline(app: &TestApp, attempt: &str, deadline: DateTime<Utc>) {
    sqlx::query("UPDATE test_attempts SET deadline = $2 WHERE id = $1")
        .bind(Uuid::parse_str(attempt).unwrap())
        .bind(deadline)
        .execute(&app.db)
        .await
        .unwrap();
}

// ---- catalog ---------------------------------------------------------------------------

#[tokio::test]
async fn the_catalog_lists_what_each_test_measures_and_where_the_student_stands() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let tests = json_of(app.get_as("/v1/tests", &student.access).await, 200).await;
    let ids: Vec<&str> = tests
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["klimov-ddo", "riasec", "professions-quiz"]);
    assert_eq!(tests[0]["question_count"], 20);
    assert_eq!(tests[0]["version"], "klimov-ddo/1");
    assert!(tests[0]["time_limit_seconds"].is_null());
    assert_eq!(tests[1]["question_count"], 30);
    assert_eq!(tests[2]["question_count"], 15);
    assert_eq!(tests[2]["time_limit_seconds"], 600);
    assert!(tests[0]["measures"].as_str().unwrap().contains("природа"));
    assert_eq!(tests[0]["status"], "not_started");

    let attempt = start(&app, &student, "klimov-ddo").await;
    let detail = json_of(
        app.get_as("/v1/tests/klimov-ddo", &student.access).await,
        200,
    )
    .await;
    assert_eq!(detail["status"], "in_progress");
    assert_eq!(detail["open_attempt_id"], attempt["id"]);
    assert_eq!(detail["scales"].as_array().unwrap().len(), 5);
    assert!(
        detail.get("questions").is_none(),
        "questions come only with an attempt"
    );

    let parent = app.signup("parent").await;
    let tests = json_of(app.get_as("/v1/tests", &parent.access).await, 200).await;
    assert!(tests[0]["status"].is_null(), "no status for a parent");
    assert_problem(
        app.get_as("/v1/tests/horoscope", &student.access).await,
        404,
        "not-found",
    )
    .await;
}

// ---- attempts --------------------------------------------------------------------------

#[tokio::test]
async fn starting_again_returns_the_open_attempt() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let first = app
        .post_as("/v1/tests/riasec/attempts", &student.access, &json!({}))
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["test_version"], "riasec/1");
    assert_eq!(first["questions"].as_array().unwrap().len(), 30);
    let again = app
        .post_as("/v1/tests/riasec/attempts", &student.access, &json!({}))
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM test_attempts WHERE student_id = $1 AND status = 'in_progress'",
    )
    .bind(student.account_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(open, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_starts_at_once_open_one_attempt() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let empty = json!({});
    let path = "/v1/tests/klimov-ddo/attempts";
    let (a, b) = tokio::join!(
        app.post_as(path, &student.access, &empty),
        app.post_as(path, &student.access, &empty)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201]);
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["id"], b["id"]);
}

#[tokio::test]
async fn a_timed_test_gets_its_deadline_from_the_server() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = start(&app, &student, "professions-quiz").await;
    let started: DateTime<Utc> = attempt["started_at"].as_str().unwrap().parse().unwrap();
    let deadline: DateTime<Utc> = attempt["deadline"].as_str().unwrap().parse().unwrap();
    assert_eq!((deadline - started).num_seconds(), 600);
    let left = attempt["time_left_seconds"].as_i64().unwrap();
    assert!((590..=600).contains(&left), "{left}");
    let until: DateTime<Utc> = attempt["answers_accepted_until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((until - deadline).num_seconds(), 120);
    let untimed = start(&app, &student, "klimov-ddo").await;
    assert!(untimed["deadline"].is_null());
    assert!(untimed["time_left_seconds"].is_null());
}

#[tokio::test]
async fn resuming_shows_the_answers_so_far_the_position_and_the_time_left() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "professions-quiz").await);
    for (question, body) in [
        ("q01", json!({ "option": "b" })),
        ("q02", json!({ "option": "c" })),
        ("q05", json!({ "options": ["c", "a"] })),
    ] {
        let response = put_answer(
            &app,
            &student,
            &attempt,
            question,
            json!({ "value": body, "seq": 1, "client_time": now() }),
        )
        .await;
        json_of(response, 200).await;
    }
    let resumed = attempt_view(&app, &student, &attempt).await;
    assert_eq!(resumed["status"], "in_progress");
    assert_eq!(resumed["position"]["answered"], 3);
    assert_eq!(resumed["position"]["total"], 15);
    assert_eq!(resumed["position"]["next_question_id"], "q03");
    let answered: Vec<&str> = resumed["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["question_id"].as_str().unwrap())
        .collect();
    assert_eq!(answered, ["q01", "q02", "q05"]);
    assert_eq!(resumed["answers"][2]["value"]["options"], json!(["a", "c"]));
    assert!(resumed["time_left_seconds"].as_i64().unwrap() > 500);
    assert!(resumed["server_time"].is_string());
}

#[tokio::test]
async fn an_answer_retried_after_the_connection_dropped_is_saved_once() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "klimov-ddo").await);
    let body = json!({ "value": { "option": "b" }, "seq": 1, "client_time": now() }).to_string();

    // The app sends the answer and the connection drops before any response is read.
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "PUT /v1/attempts/{attempt}/answers/3 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.addr,
        student.access,
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    drop(socket);

    // The app retries the same request, once and again.
    let first = json_of(
        app.authed(
            Method::PUT,
            &format!("/v1/attempts/{attempt}/answers/3"),
            &student.access,
        )
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let second = json_of(
        app.authed(
            Method::PUT,
            &format!("/v1/attempts/{attempt}/answers/3"),
            &student.access,
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        first, second,
        "the retry returns the stored answer unchanged"
    );
    assert_eq!(first["value"]["option"], "b");
    assert_eq!(first["seq"], 1);
    let rows: Vec<(i32, Value)> =
        sqlx::query_as("SELECT seq, value FROM test_answers WHERE attempt_id = $1")
            .bind(Uuid::parse_str(&attempt).unwrap())
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rows, [(1, json!({ "option": "b" }))]);
}

#[tokio::test]
async fn a_stale_answer_never_overwrites_a_newer_one() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "klimov-ddo").await);
    let newer = json!({ "value": { "option": "b" }, "seq": 2, "client_time": now() });
    json_of(put_answer(&app, &student, &attempt, "1", newer).await, 200).await;
    // A slow request from before the change arrives late.
    let older = json!({ "value": { "option": "a" }, "seq": 1, "client_time": now() });
    let problem = assert_problem(
        put_answer(&app, &student, &attempt, "1", older).await,
        409,
        "stale-answer",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("seq 2"));
    // The same sequence number with another value is no retry either.
    let reused = json!({ "value": { "option": "a" }, "seq": 2, "client_time": now() });
    assert_problem(
        put_answer(&app, &student, &attempt, "1", reused).await,
        409,
        "stale-answer",
    )
    .await;
    let resumed = attempt_view(&app, &student, &attempt).await;
    assert_eq!(resumed["answers"][0]["value"]["option"], "b");
    assert_eq!(resumed["answers"][0]["seq"], 2);
    let changed = json!({ "value": { "option": "a" }, "seq": 3, "client_time": now() });
    let saved = json_of(
        put_answer(&app, &student, &attempt, "1", changed).await,
        200,
    )
    .await;
    assert_eq!(saved["value"]["option"], "a");
}

#[tokio::test]
async fn invalid_answers_get_per_field_errors() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let klimov = id(&start(&app, &student, "klimov-ddo").await);
    let body = assert_problem(
        put_answer(
            &app,
            &student,
            &klimov,
            "1",
            json!({ "value": { "option": "c" }, "seq": 0, "client_time": now() }),
        )
        .await,
        422,
        "validation",
    )
    .await;
    let fields: BTreeSet<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, BTreeSet::from(["seq", "value.option"]));

    let riasec = id(&start(&app, &student, "riasec").await);
    let body = assert_problem(
        put_answer(
            &app,
            &student,
            &riasec,
            "r1",
            json!({ "value": { "rating": 6 }, "seq": 1, "client_time": now() }),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "value.rating");
    let body = assert_problem(
        put_answer(
            &app,
            &student,
            &riasec,
            "r1",
            json!({ "value": { "option": "a" }, "seq": 1, "client_time": now() }),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "value.option");
    let body = assert_problem(
        put_answer(
            &app,
            &student,
            &riasec,
            "r1",
            json!({ "value": { "rating": 3 }, "seq": 1, "client_time": "вчера" }),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "client_time");
    assert_problem(
        put_answer(
            &app,
            &student,
            &riasec,
            "zz9",
            json!({ "value": { "rating": 3 }, "seq": 1, "client_time": now() }),
        )
        .await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn the_same_batch_sent_twice_changes_nothing() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "klimov-ddo").await);
    let answers = json!([
        { "question_id": "1", "value": { "option": "a" }, "seq": 1, "client_time": now() },
        { "question_id": "2", "value": { "option": "a" }, "seq": 1, "client_time": now() },
        { "question_id": "2", "value": { "option": "b" }, "seq": 2, "client_time": now() },
        { "question_id": "3", "value": { "option": "b" }, "seq": 1, "client_time": now() },
    ]);
    let first = json_of(batch(&app, &student, &attempt, answers.clone()).await, 200).await;
    let outcomes = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["outcome"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(outcomes(&first), ["saved", "superseded", "saved", "saved"]);
    assert_eq!(first["position"]["answered"], 3);
    let stored_before: Vec<(String, i32, DateTime<Utc>)> = sqlx::query_as(
        "SELECT question_id, seq, saved_at FROM test_answers WHERE attempt_id = $1 ORDER BY question_id",
    )
    .bind(Uuid::parse_str(&attempt).unwrap())
    .fetch_all(&app.db)
    .await
    .unwrap();

    let second = json_of(batch(&app, &student, &attempt, answers).await, 200).await;
    assert_eq!(
        outcomes(&second),
        ["unchanged", "superseded", "unchanged", "unchanged"]
    );
    for n in [0, 2, 3] {
        assert_eq!(second["items"][n]["answer"], first["items"][n]["answer"]);
    }
    let stored_after: Vec<(String, i32, DateTime<Utc>)> = sqlx::query_as(
        "SELECT question_id, seq, saved_at FROM test_answers WHERE attempt_id = $1 ORDER BY question_id",
    )
    .bind(Uuid::parse_str(&attempt).unwrap())
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(stored_before, stored_after);
    assert_eq!(stored_after[1].1, 2, "question 2 keeps the newer answer");
}

#[tokio::test]
async fn a_batch_refuses_bad_answers_one_by_one_and_saves_the_rest() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "klimov-ddo").await);
    json_of(
        put_answer(
            &app,
            &student,
            &attempt,
            "4",
            json!({ "value": { "option": "b" }, "seq": 5, "client_time": now() }),
        )
        .await,
        200,
    )
    .await;
    let answers = json!([
        { "question_id": "4", "value": { "option": "a" }, "seq": 4, "client_time": now() },
        { "question_id": "5", "value": { "option": "x" }, "seq": 1, "client_time": now() },
        { "question_id": "nope", "value": { "option": "a" }, "seq": 1, "client_time": now() },
        { "question_id": "6", "value": { "option": "a" }, "seq": 1, "client_time": now() },
    ]);
    let body = json_of(batch(&app, &student, &attempt, answers).await, 200).await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["outcome"], "rejected");
    assert_eq!(
        items[0]["problem"]["type"],
        "urn:bilet:problem:stale-answer"
    );
    assert_eq!(items[1]["problem"]["type"], "urn:bilet:problem:validation");
    assert_eq!(items[1]["problem"]["errors"][0]["field"], "value.option");
    assert_eq!(items[2]["problem"]["type"], "urn:bilet:problem:not-found");
    assert_eq!(items[3]["outcome"], "saved");
    assert_eq!(body["position"]["answered"], 2);
    assert_problem(
        batch(&app, &student, &attempt, json!([])).await,
        422,
        "validation",
    )
    .await;
    assert_problem(
        app.post_as(
            &format!("/v1/attempts/{attempt}/answersXYZ"),
            &student.access,
            &json!({ "answers": [] }),
        )
        .await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn answers_made_offline_before_the_deadline_count_within_the_grace_period() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "professions-quiz").await);
    // The phone went offline; time ran out 30 seconds ago; the queue arrives now.
    let deadline = Utc::now() - Duration::seconds(30);
    set_deadline(&app, &attempt, deadline).await;
    let answers = json!([
        { "question_id": "q01", "value": { "option": "b" }, "seq": 1,
          "client_time": at(deadline - Duration::seconds(90)) },
        { "question_id": "q02", "value": { "option": "c" }, "seq": 1,
          "client_time": at(deadline - Duration::seconds(1)) },
        { "question_id": "q03", "value": { "option": "a" }, "seq": 1,
          "client_time": at(deadline + Duration::seconds(5)) },
    ]);
    let body = json_of(batch(&app, &student, &attempt, answers.clone()).await, 200).await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["outcome"], "saved");
    assert_eq!(items[1]["outcome"], "saved");
    assert_eq!(items[2]["outcome"], "rejected");
    assert_eq!(items[2]["problem"]["type"], "urn:bilet:problem:late-answer");
    let late = json!({ "value": { "option": "d" }, "seq": 1, "client_time": now() });
    assert_problem(
        put_answer(&app, &student, &attempt, "q04", late).await,
        409,
        "late-answer",
    )
    .await;

    // After the grace period nothing new is taken, even if made in time; a replay of
    // what was already saved still gets its answer back.
    set_deadline(&app, &attempt, Utc::now() - Duration::minutes(3)).await;
    let body = json_of(batch(&app, &student, &attempt, answers).await, 200).await;
    let outcomes: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["unchanged", "unchanged", "rejected"]);
    let made_in_time = json!([{ "question_id": "q06", "value": { "option": "b" }, "seq": 1,
        "client_time": at(Utc::now() - Duration::minutes(4)) }]);
    let body = json_of(batch(&app, &student, &attempt, made_in_time).await, 200).await;
    assert_eq!(
        body["items"][0]["problem"]["type"],
        "urn:bilet:problem:late-answer"
    );
    assert!(
        body["items"][0]["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("grace period")
    );
}

#[tokio::test]
async fn an_untimed_test_is_finished_only_when_every_question_is_answered() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "klimov-ddo").await);
    json_of(
        batch(&app, &student, &attempt, pairs("1a 2a 3a")).await,
        200,
    )
    .await;
    let problem = assert_problem(
        finish(&app, &student, &attempt).await,
        409,
        "answers-missing",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("17"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_finishes_at_once_give_the_same_result_once() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "klimov-ddo").await);
    json_of(
        batch(&app, &student, &attempt, pairs(TECHNICIAN)).await,
        200,
    )
    .await;
    let (a, b) = tokio::join!(
        finish(&app, &student, &attempt),
        finish(&app, &student, &attempt)
    );
    let (a, b) = (json_of(a, 200).await, json_of(b, 200).await);
    assert_eq!(a, b);
    assert_eq!(a["top"], json!(["technology"]));
    assert_eq!(a["scales"][1]["score"], 8);
    assert_eq!(a["scales"][1]["band"], "strong");
    assert!(a["summary"].as_str().unwrap().contains("Человек — техника"));
    let again = json_of(finish(&app, &student, &attempt).await, 200).await;
    assert_eq!(again, a, "finishing later changes nothing either");

    let results: i64 =
        sqlx::query_scalar("SELECT count(*) FROM test_results WHERE attempt_id = $1")
            .bind(Uuid::parse_str(&attempt).unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(results, 1);
    let events = outbox_rows(&app, &attempt).await;
    assert_eq!(events.len(), 1);
    // Ids only: no scores, no names.
    let keys: BTreeSet<&str> = events[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["attempt_id", "student_id", "test_id"])
    );
    assert_eq!(events[0]["student_id"], student.account_id.to_string());
    assert_eq!(events[0]["test_id"], "klimov-ddo");
}

#[tokio::test]
async fn a_finished_attempt_takes_no_new_answers_but_a_retry_gets_its_answer() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "professions-quiz").await);
    let answer = json!({ "value": { "option": "b" }, "seq": 1, "client_time": now() });
    let saved = json_of(
        put_answer(&app, &student, &attempt, "q01", answer.clone()).await,
        200,
    )
    .await;
    let result = json_of(finish(&app, &student, &attempt).await, 200).await;
    assert_eq!(result["answered"], 1);
    assert_eq!(result["scales"][0]["score"], 1);
    assert_eq!(
        json_of(
            put_answer(&app, &student, &attempt, "q01", answer).await,
            200
        )
        .await,
        saved
    );
    let changed = json!({ "value": { "option": "a" }, "seq": 2, "client_time": now() });
    assert_problem(
        put_answer(&app, &student, &attempt, "q01", changed).await,
        409,
        "attempt-closed",
    )
    .await;
    let next = app
        .post_as(
            "/v1/tests/professions-quiz/attempts",
            &student.access,
            &json!({}),
        )
        .await;
    assert_eq!(next.status(), 201, "a finished test can be taken again");
}

/// Answers go to the database through the process's answer writer, several in one
/// statement. Sent all at once with the finish, each is either saved and counted in the
/// result or refused as closed: none is lost, none lands after the score.
#[tokio::test]
async fn answers_racing_the_finish_are_either_in_the_result_or_refused() {
    let app = spawn_app().await;
    let (student, attempt, _) = quiz_answered_once(&app).await;
    // Every other question answered, then changed, while the finish goes in.
    let answers = (2..=15).map(|n| {
        let (app, student, attempt) = (&app, &student, &attempt);
        async move {
            let question = format!("q{n:02}");
            let value = match n {
                5 | 8 | 11 | 14 => json!({ "options": ["a"] }),
                _ => json!({ "option": "b" }),
            };
            let mut got = Vec::new();
            for seq in 1..=2 {
                let body = json!({ "value": value, "seq": seq, "client_time": now() });
                let response = put_answer(app, student, attempt, &question, body).await;
                let status = response.status().as_u16();
                got.push((seq, status, response.text().await.unwrap()));
            }
            (question, got)
        }
    });
    let (answered, result) = tokio::join!(futures_util::future::join_all(answers), async {
        json_of(finish(&app, &student, &attempt).await, 200).await
    });
    let mut saved = std::collections::BTreeMap::from([("q01".to_owned(), 1)]);
    for (question, got) in answered {
        for (seq, status, text) in got {
            match status {
                200 => {
                    saved.insert(question.clone(), seq);
                }
                409 => assert!(text.contains("attempt-closed"), "{question}: {text}"),
                other => panic!("{question}: {other} {text}"),
            }
        }
    }
    assert_eq!(result["answered"], saved.len(), "{result}");
    let view = attempt_view(&app, &student, &attempt).await;
    let stored: std::collections::BTreeMap<String, u64> = view["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let question = a["question_id"].as_str().unwrap().to_owned();
            (question, a["seq"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        stored, saved,
        "every answer that got 200 is stored as the last one saved, and only those"
    );
}

/// Answers from a class at once are written together, several per commit: each is saved
/// and stored exactly as sent, and one student's closed attempt refuses that student's
/// answer alone.
#[tokio::test]
async fn a_class_answering_at_once_has_every_answer_saved_and_a_closed_attempt_refused_alone() {
    let app = spawn_app().await;
    let mut class = Vec::new();
    for _ in 0..12 {
        let student = app.signup("student").await;
        let attempt = id(&start(&app, &student, "riasec").await);
        let first = json!({ "value": { "rating": 3 }, "seq": 1, "client_time": now() });
        json_of(put_answer(&app, &student, &attempt, "r1", first).await, 200).await;
        class.push((student, attempt));
    }
    let (closed_student, closed_attempt, _) = quiz_answered_once(&app).await;
    json_of(finish(&app, &closed_student, &closed_attempt).await, 200).await;
    let questions = ["r2", "i1", "a1", "s1", "e1", "c1"];
    let app_ref = &app;
    let sends = class
        .iter()
        .enumerate()
        .flat_map(|(n, (student, attempt))| {
            questions.iter().enumerate().map(move |(k, question)| {
                let rating = (n + k) % 5 + 1;
                let body = json!({ "value": { "rating": rating }, "seq": 1, "client_time": now() });
                let app = app_ref;
                async move {
                    let response = put_answer(app, student, attempt, question, body).await;
                    (
                        attempt.clone(),
                        *question,
                        rating,
                        response.status().as_u16(),
                    )
                }
            })
        });
    let late = json!({ "value": { "option": "b" }, "seq": 2, "client_time": now() });
    let (sent, refused) = tokio::join!(
        futures_util::future::join_all(sends),
        put_answer(&app, &closed_student, &closed_attempt, "q01", late)
    );
    assert_problem(refused, 409, "attempt-closed").await;
    for (attempt, question, rating, status) in sent {
        assert_eq!(status, 200, "{attempt} {question}");
        let stored: Value = sqlx::query_scalar(
            "SELECT value FROM test_answers WHERE attempt_id = $1 AND question_id = $2",
        )
        .bind(Uuid::parse_str(&attempt).unwrap())
        .bind(question)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(stored, json!({ "rating": rating }), "{attempt} {question}");
    }
}

/// Once an attempt is known to the server, another student's answer to it is still not
/// found and changes nothing.
#[tokio::test]
async fn another_students_answer_to_a_known_attempt_is_not_found() {
    let app = spawn_app().await;
    let (student, attempt, saved) = quiz_answered_once(&app).await;
    let stranger = app.signup("student").await;
    let late = json!({ "value": { "option": "d" }, "seq": 2, "client_time": now() });
    assert_problem(
        put_answer(&app, &stranger, &attempt, "q01", late).await,
        404,
        "not-found",
    )
    .await;
    let view = attempt_view(&app, &student, &attempt).await;
    assert_eq!(view["answers"][0]["value"], saved["value"]);
    assert_eq!(view["answers"][0]["seq"], 1);
}

// ---- the deadline worker ---------------------------------------------------------------

#[tokio::test]
async fn the_worker_scores_a_timed_attempt_only_after_deadline_and_grace() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let attempt = id(&start(&app, &student, "professions-quiz").await);
    json_of(
        put_answer(
            &app,
            &student,
            &attempt,
            "q02",
            json!({ "value": { "option": "c" }, "seq": 1, "client_time": now() }),
        )
        .await,
        200,
    )
    .await;
    // Deadline passed a minute ago: offline answers may still arrive, so it stays open.
    set_deadline(&app, &attempt, Utc::now() - Duration::minutes(1)).await;
    let closed = deadlines::close_due(&app.db, &app.state.catalog, rules(&app))
        .await
        .unwrap();
    assert_eq!(closed.finished, 0);
    set_deadline(&app, &attempt, Utc::now() - Duration::minutes(3)).await;
    let closed = deadlines::close_due(&app.db, &app.state.catalog, rules(&app))
        .await
        .unwrap();
    // The app's own worker runs too and may have claimed it first; either way, once.
    assert!(closed.finished <= 1);
    let result = json_of(
        app.get_as(&format!("/v1/attempts/{attempt}/result"), &student.access)
            .await,
        200,
    )
    .await;
    assert_eq!(result["scales"][0]["score"], 1);
    assert_eq!(result["questions"], 15);
    assert_eq!(outbox_rows(&app, &attempt).await.len(), 1);
    let resumed = attempt_view(&app, &student, &attempt).await;
    assert_eq!(resumed["status"], "finished");
    assert_eq!(resumed["time_left_seconds"], 0);
    // The student's own finish after the worker returns the same result.
    assert_eq!(
        json_of(finish(&app, &student, &attempt).await, 200).await,
        result
    );
    let again = deadlines::close_due(&app.db, &app.state.catalog, rules(&app))
        .await
        .unwrap();
    assert_eq!(again.finished, 0);
}

#[tokio::test]
async fn starting_a_timed_test_whose_time_is_over_scores_the_old_attempt_and_starts_anew() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let old = id(&start(&app, &student, "professions-quiz").await);
    set_deadline(&app, &old, Utc::now() - Duration::minutes(5)).await;
    let fresh = app
        .post_as(
            "/v1/tests/professions-quiz/attempts",
            &student.access,
            &json!({}),
        )
        .await;
    assert_eq!(fresh.status(), 201);
    let fresh: Value = fresh.json().await.unwrap();
    assert_ne!(id(&fresh), old);
    let result = json_of(
        app.get_as(&format!("/v1/attempts/{old}/result"), &student.access)
            .await,
        200,
    )
    .await;
    assert_eq!(result["answered"], 0);
    assert_eq!(outbox_rows(&app, &old).await.len(), 1);
}

#[tokio::test]
async fn untimed_attempts_left_alone_for_seven_days_are_abandoned() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let idle = id(&start(&app, &student, "klimov-ddo").await);
    let recent = id(&start(&app, &student, "riasec").await);
    sqlx::query(
        "UPDATE test_attempts SET last_activity_at = now() - interval '7 days 1 minute' WHERE id = $1",
    )
    .bind(Uuid::parse_str(&idle).unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE test_attempts SET last_activity_at = now() - interval '6 days' WHERE id = $1",
    )
    .bind(Uuid::parse_str(&recent).unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    let closed = deadlines::close_due(&app.db, &app.state.catalog, rules(&app))
        .await
        .unwrap();
    // The app's own worker may have abandoned it first.
    assert!(closed.abandoned <= 1);
    let idle_view = json_of(
        app.get_as(&format!("/v1/attempts/{idle}"), &student.access)
            .await,
        200,
    )
    .await;
    assert_eq!(idle_view["status"], "abandoned");
    let recent_view = json_of(
        app.get_as(&format!("/v1/attempts/{recent}"), &student.access)
            .await,
        200,
    )
    .await;
    assert_eq!(recent_view["status"], "in_progress");
    assert_problem(
        finish(&app, &student, &idle).await,
        409,
        "attempt-abandoned",
    )
    .await;
    let fresh = app
        .post_as("/v1/tests/klimov-ddo/attempts", &student.access, &json!({}))
        .await;
    assert_eq!(fresh.status(), 201);
    let fresh: Value = fresh.json().await.unwrap();
    assert_ne!(id(&fresh), idle);
}

// ---- no keys in responses --------------------------------------------------------------

/// Every object key anywhere in `value`.
fn keys(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                into.insert(k.clone());
                keys(v, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, into)),
        _ => {}
    }
}

#[tokio::test]
async fn no_response_ever_contains_answer_keys_or_scoring_weights() {
    let app = spawn_app().await;
    let student = app.signup("student").await;
    let mut responses: Vec<Value> = Vec::new();
    responses.push(json_of(app.get_as("/v1/tests", &student.access).await, 200).await);
    for test in ["klimov-ddo", "riasec", "professions-quiz"] {
        responses.push(
            json_of(
                app.get_as(&format!("/v1/tests/{test}"), &student.access)
                    .await,
                200,
            )
            .await,
        );
    }
    // A full quiz attempt: start, answer every question, resume, finish, result.
    let started = start(&app, &student, "professions-quiz").await;
    let attempt = id(&started);
    let questions = started["questions"].as_array().unwrap().clone();
    responses.push(started);
    for question in &questions {
        let value = match question["type"].as_str().unwrap() {
            "multiple" => json!({ "options": ["a", "b"] }),
            _ => json!({ "option": "a" }),
        };
        for option in question["options"].as_array().unwrap() {
            let fields: BTreeSet<&str> = option
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(fields, BTreeSet::from(["id", "text"]), "{option}");
        }
        let q = question["id"].as_str().unwrap();
        responses.push(
            json_of(
                put_answer(
                    &app,
                    &student,
                    &attempt,
                    q,
                    json!({ "value": value, "seq": 1, "client_time": now() }),
                )
                .await,
                200,
            )
            .await,
        );
    }
    responses.push(attempt_view(&app, &student, &attempt).await);
    responses.push(json_of(finish(&app, &student, &attempt).await, 200).await);
    responses.push(
        json_of(
            app.get_as(&format!("/v1/attempts/{attempt}/result"), &student.access)
                .await,
            200,
        )
        .await,
    );
    // Klimov and RIASEC attempts too: their keys say which type each option feeds.
    let klimov = start(&app, &student, "klimov-ddo").await;
    let klimov_id = id(&klimov);
    responses.push(klimov);
    responses.push(
        json_of(
            batch(&app, &student, &klimov_id, pairs(TECHNICIAN)).await,
            200,
        )
        .await,
    );
    responses.push(json_of(finish(&app, &student, &klimov_id).await, 200).await);
    responses.push(start(&app, &student, "riasec").await);
    responses.push(json_of(app.get_as("/v1/me/results", &student.access).await, 200).await);

    let mut found = BTreeSet::new();
    for response in &responses {
        keys(response, &mut found);
    }
    for forbidden in [
        "correct",
        "correct_options",
        "is_correct",
        "key",
        "keys",
        "answer_key",
        "weight",
        "weights",
        "scoring",
        "points",
        "scale",
        "tie_break",
    ] {
        assert!(
            !found.contains(forbidden),
            "a response has the key `{forbidden}`"
        );
    }
    // The attempt views carry questions and options only: no scale ids next to options.
    let attempt_views = [&responses[4], &responses[4 + questions.len() + 1]];
    for view in attempt_views {
        let text = view.to_string();
        for scale in ["nature", "technology", "people", "signs", "\"art\""] {
            assert!(!text.contains(scale), "`{scale}` in an attempt view");
        }
    }
}

// ---- results ---------------------------------------------------------------------------

#[tokio::test]
async fn results_are_for_the_student_and_their_linked_parents_only() {
    let app = spawn_app().await;
    let family = app.family().await;
    let other = app.family().await;
    let organizer = app.staff(StaffRole::Organizer, Some("Кванториум")).await;
    let result = finished_klimov(&app, &family.child, TECHNICIAN).await;
    let attempt = result["attempt_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/attempts/{attempt}/result");
    assert_eq!(
        json_of(app.get_as(&path, &family.child.access).await, 200).await,
        result
    );
    assert_eq!(
        json_of(app.get_as(&path, &family.parent.access).await, 200).await,
        result
    );
    for outsider in [&other.parent, &other.child, &organizer] {
        assert_problem(app.get_as(&path, &outsider.access).await, 404, "not-found").await;
        let response = app
            .get_as(&format!("/v1/attempts/{attempt}"), &outsider.access)
            .await;
        assert!([403, 404].contains(&response.status().as_u16()));
    }
    let mine = json_of(
        app.get_as("/v1/me/results", &family.child.access).await,
        200,
    )
    .await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let theirs = json_of(app.get_as("/v1/me/results", &other.child.access).await, 200).await;
    assert!(theirs.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_parent_sees_each_childs_latest_results_side_by_side() {
    let app = spawn_app().await;
    let family = app.family().await;
    // A second child of the same parent.
    let sibling = app.signup("student").await;
    app.link(&family.parent, &sibling).await;
    finished_klimov(&app, &family.child, TECHNICIAN).await;
    let latest = finished_klimov(
        &app,
        &family.child,
        "1a 2a 3a 4a 5a 6a 7a 8a 9a 10a 11a 12a 13a 14a 15a 16a 17a 18a 19a 20a",
    )
    .await;
    finished_klimov(
        &app,
        &sibling,
        "1b 2b 3b 4b 5b 6b 7b 8b 9b 10b 11b 12b 13b 14b 15b 16b 17b 18b 19b 20b",
    )
    .await;
    let child = json_of(
        app.get_as(
            &format!("/v1/children/{}/results", family.child.account_id),
            &family.parent.access,
        )
        .await,
        200,
    )
    .await;
    let tests: Vec<&str> = child["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["test_id"].as_str().unwrap())
        .collect();
    assert_eq!(tests, ["klimov-ddo", "riasec", "professions-quiz"]);
    assert_eq!(child["tests"][0]["finished_count"], 2);
    assert_eq!(child["tests"][0]["latest"], latest);
    assert_eq!(child["tests"][0]["latest"]["top"], json!(["nature"]));
    assert!(child["tests"][1]["latest"].is_null());
    let sibling_view = json_of(
        app.get_as(
            &format!("/v1/children/{}/results", sibling.account_id),
            &family.parent.access,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(sibling_view["tests"][0]["latest"]["top"], json!(["signs"]));
    let stranger = app.family().await;
    assert_problem(
        app.get_as(
            &format!("/v1/children/{}/results", family.child.account_id),
            &stranger.parent.access,
        )
        .await,
        404,
        "not-found",
    )
    .await;
}

// ---- recommendations -------------------------------------------------------------------

/// Inserts a published event; returns its id.
#[allow(clippy::too_many_arguments)]
async fn event(
    app: &TestApp,
    organizer: Uuid,
    title: &str,
    area: &str,
    format: &str,
    region: Option<&str>,
    grades: (i16, i16),
    starts_in_days: i64,
    accessibility: &[&str],
) -> Uuid {
    let id = Uuid::now_v7();
    let starts = Utc::now() + Duration::days(starts_in_days);
    sqlx::query(
        "INSERT INTO events (id, organization_id, created_by, title, description, profession_area,
             format, region, city, address, grade_min, grade_max, capacity, starts_at, ends_at,
             time_zone, accessibility, signup_deadline, approval_window, status, published_at)
         SELECT $1, a.organization_id, a.id, $3, 'Описание', $4, $5, $6,
             CASE WHEN $6::text IS NULL THEN NULL ELSE 'Казань' END,
             CASE WHEN $6::text IS NULL THEN NULL ELSE 'ул. Баумана, 1' END,
             $7, $8, 20, $9, $9 + interval '2 hours', 'Europe/Moscow', $10,
             $9 - interval '1 day', interval '2 days', 'published', now()
         FROM accounts a WHERE a.id = $2",
    )
    .bind(id)
    .bind(organizer)
    .bind(title)
    .bind(area)
    .bind(format)
    .bind(region)
    .bind(grades.0)
    .bind(grades.1)
    .bind(starts)
    .bind(
        accessibility
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )
    .execute(&app.db)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn recommendations_match_interests_grade_region_and_accessibility() {
    let app = spawn_app().await;
    let family = app.family().await;
    let organizer = app
        .staff(StaffRole::Organizer, Some("Технопарк"))
        .await
        .account_id;
    let path = "/v1/me/recommendations";
    let empty = json_of(app.get_as(path, &family.child.access).await, 200).await;
    assert!(
        empty["items"].as_array().unwrap().is_empty(),
        "no results yet"
    );

    let lathe = event(
        &app,
        organizer,
        "Токарь",
        "engineering",
        "in_person",
        Some("RU-TA"),
        (6, 9),
        5,
        &[],
    )
    .await;
    let drones = event(
        &app,
        organizer,
        "Дроны",
        "transport",
        "online",
        None,
        (7, 11),
        3,
        &["step_free", "visual"],
    )
    .await;
    let ramp = event(
        &app,
        organizer,
        "Сборка станка",
        "industry",
        "in_person",
        Some("RU-TA"),
        (7, 8),
        10,
        &["step_free"],
    )
    .await;
    event(
        &app,
        organizer,
        "Далеко",
        "engineering",
        "in_person",
        Some("RU-MOW"),
        (6, 11),
        4,
        &[],
    )
    .await;
    event(
        &app,
        organizer,
        "Для старших",
        "engineering",
        "in_person",
        Some("RU-TA"),
        (9, 11),
        4,
        &[],
    )
    .await;
    event(
        &app,
        organizer,
        "Рисунок",
        "arts_design",
        "online",
        None,
        (6, 11),
        2,
        &[],
    )
    .await;
    event(
        &app,
        organizer,
        "Уже было",
        "engineering",
        "online",
        None,
        (6, 11),
        -2,
        &[],
    )
    .await;

    finished_klimov(&app, &family.child, TECHNICIAN).await;
    let mine = json_of(app.get_as(path, &family.child.access).await, 200).await;
    let ids: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["event_id"].as_str().unwrap())
        .collect();
    let (lathe, drones, ramp) = (lathe.to_string(), drones.to_string(), ramp.to_string());
    assert_eq!(
        ids,
        [drones.as_str(), lathe.as_str(), ramp.as_str()],
        "{mine}"
    );
    for item in mine["items"].as_array().unwrap() {
        let reason = item["reason"].as_str().unwrap();
        assert!(reason.contains("«Человек — техника»"), "{reason}");
        assert!(reason.contains("ДДО Климова"), "{reason}");
    }
    assert_eq!(mine["basis"]["attempt_ids"].as_array().unwrap().len(), 1);

    let child_path = format!("/v1/children/{}/recommendations", family.child.account_id);
    let for_parent = json_of(app.get_as(&child_path, &family.parent.access).await, 200).await;
    assert_eq!(for_parent["items"], mine["items"]);

    // ОВЗ: with a mobility need only step-free or online events remain.
    app.give_consent(&family.parent, &family.child, "health_data")
        .await;
    json_of(
        app.put_as(
            &format!("/v1/children/{}/health", family.child.account_id),
            &family.parent.access,
            &json!({ "disability": true, "needs": ["mobility"] }),
        )
        .await,
        200,
    )
    .await;
    let accessible = json_of(app.get_as(&child_path, &family.parent.access).await, 200).await;
    let ids: Vec<&str> = accessible["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [drones.as_str(), ramp.as_str()]);
    assert!(
        accessible["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("доступности")
    );
}

#[tokio::test]
async fn events_attended_in_an_area_of_interest_raise_it() {
    let app = spawn_app().await;
    let family = app.family().await;
    let organizer = app
        .staff(StaffRole::Organizer, Some("Технопарк"))
        .await
        .account_id;
    // Klimov: природа 7 and техника 7, both strong.
    finished_klimov(
        &app,
        &family.child,
        "1a 3b 6a 10a 13b 16a 20a 11b 4a 7b 9a 14a 17b 19a 2a 8a 12a 18a 5a 15a",
    )
    .await;
    let farm = event(
        &app,
        organizer,
        "Агрошкола",
        "agriculture",
        "online",
        None,
        (6, 11),
        3,
        &[],
    )
    .await;
    let plant = event(
        &app,
        organizer,
        "Энергетика",
        "energy",
        "online",
        None,
        (6, 11),
        5,
        &[],
    )
    .await;
    let before = json_of(
        app.get_as("/v1/me/recommendations", &family.child.access)
            .await,
        200,
    )
    .await;
    assert_eq!(
        before["items"][0]["event_id"],
        farm.to_string(),
        "sooner first at equal weight"
    );

    // The student attended an energy try-out last month (marked present: an approval
    // alone is not attendance).
    let past = event(
        &app,
        organizer,
        "Прошлая проба",
        "energy",
        "online",
        None,
        (6, 11),
        -30,
        &[],
    )
    .await;
    let signup = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO signups (id, event_id, student_id, status, decided_at) VALUES ($1, $2, $3, 'approved', now())",
    )
    .bind(signup)
    .bind(past)
    .bind(family.child.account_id)
    .execute(&app.db)
    .await
    .unwrap();
    let approved_only = json_of(
        app.get_as("/v1/me/recommendations", &family.child.access)
            .await,
        200,
    )
    .await;
    assert_eq!(approved_only["basis"]["attended_areas"], json!([]));
    sqlx::query(
        "INSERT INTO attendance (signup_id, event_id, student_id, status, method, marked_by, checked_in_at)
         VALUES ($1, $2, $3, 'present', 'manual', $4, now())",
    )
    .bind(signup)
    .bind(past)
    .bind(family.child.account_id)
    .bind(organizer)
    .execute(&app.db)
    .await
    .unwrap();
    let after = json_of(
        app.get_as("/v1/me/recommendations", &family.child.access)
            .await,
        200,
    )
    .await;
    assert_eq!(after["items"][0]["event_id"], plant.to_string());
    assert!(
        after["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("уже была проба")
    );
    assert_eq!(after["basis"]["attended_areas"], json!(["energy"]));
}
