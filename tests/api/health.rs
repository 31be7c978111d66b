use std::time::Duration;

use crate::helpers::{TcpProxy, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_answers_ok_when_postgres_and_redis_answer() {
    let app = spawn_app().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["postgres"], "up");
    assert_eq!(body["redis"], "up");
}

#[tokio::test]
async fn ready_answers_503_naming_redis_when_its_port_closes() {
    let redis = bilet::settings::Settings::load(None)
        .unwrap()
        .redis
        .address();
    let proxy = TcpProxy::start(redis).await;
    let proxy_url = format!("redis://{}", proxy.addr());
    let app = spawn_app_with(|settings| {
        settings.redis.url = bilet::settings::Secret::new(proxy_url);
        settings.redis.connect_timeout = Duration::from_secs(1);
    })
    .await;
    assert_eq!(app.get("/ready").await.status(), 200);

    proxy.close();

    let body = assert_problem(app.get("/ready").await, 503, "dependency-unavailable").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("redis"), "{detail}");
    assert!(!detail.contains("postgres"), "{detail}");
    // Liveness does not depend on Redis.
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = spawn_app().await;
    app.get("/health").await;
    app.get("/no/such/thing/12345").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"bilet_http_requests_total{method="GET",route="/health",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"bilet_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains("12345"), "raw paths must not become labels");
    assert!(text.contains("bilet_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn the_openapi_document_and_docs_are_served() {
    let app = spawn_app().await;
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(spec["info"]["title"], "bilet");
    assert!(spec["paths"]["/ready"].is_object());
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn a_dependency_going_down_is_logged_once_not_at_every_probe() {
    let redis = bilet::settings::Settings::load(None)
        .unwrap()
        .redis
        .address();
    let proxy = TcpProxy::start(redis).await;
    let proxy_url = format!("redis://{}", proxy.addr());
    let app = spawn_app_with(|settings| {
        settings.redis.url = bilet::settings::Secret::new(proxy_url);
        settings.redis.connect_timeout = Duration::from_secs(1);
    })
    .await;
    assert_eq!(app.get("/ready").await.status(), 200);
    proxy.close();

    let probe = format!("probe-{}", uuid::Uuid::new_v4().simple());
    for i in 0..5 {
        let answer = app
            .client
            .get(app.url("/ready"))
            .header("x-request-id", format!("{probe}-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 503);
    }
    let lines: Vec<serde_json::Value> = crate::helpers::captured_logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["span"]["request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(&probe))
        })
        .collect();
    let said = |message: &str| lines.iter().filter(|l| l["message"] == message).count();
    assert_eq!(said("dependency down"), 1, "{lines:#?}");
    assert!(
        lines.iter().all(|l| l["level"] != "ERROR"),
        "a probe of a known-down dependency is no error: {lines:#?}"
    );
}
