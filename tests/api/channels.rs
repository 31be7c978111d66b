//! Delivery channels: every client against its simulator, through every mapping of a
//! provider answer to an outcome, and one round trip per channel from settings alone.
//! Assertions are on what the simulator received, not only on what the client returned.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bilet::notify::providers::email::{EmailClient, EmailConfig, SmtpTls};
use bilet::notify::providers::jwt::{Es256Key, now_unix};
use bilet::notify::providers::{
    Channel, ChannelKind, ChannelMode, Channels, ChannelsError, OutboundMessage, PushConfig,
    Recipient, SendError,
};
use bilet::settings::Environment;
use bilet::simulators::RunningSimulator;
use bilet::simulators::credentials::{self, SimCredentials};
use bilet::simulators::inbox::{Accepted, Stats};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers;

/// Channels with every simulator in-process, and a short client timeout.
async fn channels() -> Channels {
    let config = PushConfig::parse(
        "[apns]\ntimeout = \"400ms\"\n[fcm]\ntimeout = \"400ms\"\n[rustore]\ntimeout = \"400ms\"\n\
         [sms]\ntimeout = \"400ms\"\n[email]\ntimeout = \"400ms\"\npool_size = 4\n",
        "test",
        |_| None,
    )
    .expect("test channel settings");
    Channels::from_config(&config, Environment::Development)
        .await
        .expect("channels start")
}

fn simulator(channels: &Channels, kind: ChannelKind) -> &RunningSimulator {
    channels
        .simulators()
        .and_then(|s| s.get(kind))
        .expect("the channel runs on its simulator")
}

/// What the simulator accepted for `to`, read over its inspection API.
async fn inspected(simulator: &RunningSimulator, to: &str) -> Vec<Accepted> {
    reqwest::Client::new()
        .get(format!("{}/sim/messages", simulator.inspect_url()))
        .query(&[("to", to)])
        .send()
        .await
        .expect("inspection answers")
        .json()
        .await
        .expect("inspection is JSON")
}

async fn stats(simulator: &RunningSimulator) -> Stats {
    reqwest::get(format!("{}/sim/stats", simulator.inspect_url()))
        .await
        .expect("stats answer")
        .json()
        .await
        .expect("stats are JSON")
}

fn push(kind: ChannelKind, token: &str) -> OutboundMessage {
    let mut message = OutboundMessage::new(
        kind,
        Recipient::DeviceToken(token.to_owned()),
        "event_cancelled",
        "Событие отменено",
        "Экскурсия на завод в субботу отменена",
    );
    message.data = BTreeMap::from([
        ("event_id".to_owned(), "42".to_owned()),
        ("notification_id".to_owned(), "7".to_owned()),
    ]);
    message
}

fn sms(phone: &str) -> OutboundMessage {
    let mut message = OutboundMessage::new(
        ChannelKind::Sms,
        Recipient::Phone(phone.to_owned()),
        "event_moved",
        "",
        "Мероприятие «Экскурсия на завод» перенесено на субботу, 12:00. Подробности и \
         подтверждение участия в приложении, в разделе мероприятий вашего ребёнка",
    );
    message.link = Some("https://bilet.ru/e/7f3a".into());
    message
}

fn email(address: &str) -> OutboundMessage {
    let mut message = OutboundMessage::new(
        ChannelKind::Email,
        Recipient::Email(address.to_owned()),
        "event_moved",
        "Событие перенесено",
        "Экскурсия на завод перенесена на субботу, 12:00.",
    );
    message.link = Some("https://bilet.ru/e/7f3a".into());
    message
}

fn assert_retry(result: Result<impl std::fmt::Debug, SendError>, expected: Option<Duration>) {
    match result {
        Err(SendError::RetryAfter { after, .. }) => {
            if let Some(expected) = expected {
                assert_eq!(after, expected);
            }
        }
        other => panic!("expected retry-after, got {other:?}"),
    }
}

fn assert_permanent(result: Result<impl std::fmt::Debug, SendError>) {
    assert!(
        matches!(result, Err(SendError::Permanent(_))),
        "expected permanent, got {result:?}"
    );
}

const RATE_LIMIT: Option<Duration> = Some(Duration::from_secs(17));
const UNAVAILABLE: Option<Duration> = Some(Duration::from_secs(23));

#[tokio::test]
async fn apns_delivers_over_http2_with_apples_headers_and_an_ids_only_payload() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Apns);
    let mut message = push(ChannelKind::Apns, "a1b2c3");
    message.urgent = true;
    message.replaces = Some("event-42".into());
    message.category = Some("EVENT_CHANGE".into());
    message.ttl = Duration::from_secs(3600);
    let delivered = channels.send(&message).await.expect("delivered");
    assert_eq!(delivered.provider_id, message.delivery_id.to_string());

    let received = inspected(sim, "a1b2c3").await;
    assert_eq!(received.len(), 1);
    let headers = &received[0].headers;
    assert_eq!(headers["http-version"], "HTTP/2");
    assert_eq!(headers["apns-priority"], "10");
    assert_eq!(headers["apns-push-type"], "alert");
    assert_eq!(headers["apns-topic"], "ru.bilet.app");
    assert_eq!(headers["apns-collapse-id"], "event-42");
    let expiration: u64 = headers["apns-expiration"].parse().expect("a number");
    let expected = chrono::Utc::now().timestamp() as u64 + 3600;
    assert!(
        expiration.abs_diff(expected) <= 5,
        "{expiration} vs {expected}"
    );
    let payload = &received[0].body;
    assert_eq!(payload["aps"]["alert"]["title"], "Событие отменено");
    assert_eq!(payload["aps"]["category"], "EVENT_CHANGE");
    assert_eq!(payload["event_id"], "42");
    assert_eq!(payload["notification_id"], "7");

    channels
        .send(&push(ChannelKind::Apns, "d4e5f6"))
        .await
        .expect("delivered");
    let normal = inspected(sim, "d4e5f6").await;
    assert_eq!(normal[0].headers["apns-priority"], "5");
    assert!(!normal[0].headers.contains_key("apns-collapse-id"));
}

#[tokio::test]
async fn apns_mints_one_provider_token_for_many_concurrent_sends() {
    let channels = channels().await;
    let apns = channels.get(ChannelKind::Apns).expect("apns");
    let sends = (0..24).map(|i| {
        let apns = apns.clone();
        async move {
            apns.send(&push(ChannelKind::Apns, &format!("tok{i}")))
                .await
        }
    });
    for result in futures_util::future::join_all(sends).await {
        result.expect("delivered");
    }
    let stats = stats(simulator(&channels, ChannelKind::Apns)).await;
    assert_eq!(stats.accepted, 24);
    assert_eq!(
        stats.provider_tokens, 1,
        "the JWT must be cached, not minted per request"
    );
}

#[tokio::test]
async fn apns_maps_unregistered_and_bad_device_token_to_token_invalid() {
    let channels = channels().await;
    for token in ["unregistered-1", "badtoken-1"] {
        let result = channels.send(&push(ChannelKind::Apns, token)).await;
        assert_eq!(result, Err(SendError::TokenInvalid), "{token}");
    }
    assert_eq!(
        stats(simulator(&channels, ChannelKind::Apns))
            .await
            .rejected,
        2
    );
}

#[tokio::test]
async fn apns_remints_the_provider_token_once_when_apple_calls_it_expired() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Apns);
    channels
        .send(&push(ChannelKind::Apns, "warmup"))
        .await
        .expect("delivered");
    channels
        .send(&push(ChannelKind::Apns, "expired-1"))
        .await
        .expect("delivered after one re-mint");
    assert_eq!(inspected(sim, "expired-1").await.len(), 1);
    let stats = stats(sim).await;
    assert_eq!(stats.provider_tokens, 2);
    assert_eq!(stats.rejected, 1);
    // The new token is kept: the next send mints nothing.
    channels
        .send(&push(ChannelKind::Apns, "after"))
        .await
        .expect("delivered");
    assert_eq!(self::stats(sim).await.provider_tokens, 2);
}

#[tokio::test]
async fn apns_honours_retry_after_on_429_and_5xx_and_refuses_other_4xx() {
    let channels = channels().await;
    let channels_ref = &channels;
    let send = |token: &'static str| {
        let message = push(ChannelKind::Apns, token);
        async move { channels_ref.send(&message).await }
    };
    assert_retry(send("ratelimit-1").await, RATE_LIMIT);
    assert_retry(send("unavailable-1").await, UNAVAILABLE);
    assert_retry(send("error-1").await, Some(Duration::from_secs(30)));
    assert_permanent(send("reject-1").await);
}

#[tokio::test]
async fn apns_slow_answers_and_dropped_connections_are_retried_later() {
    let channels = channels().await;
    let started = Instant::now();
    assert_retry(
        channels.send(&push(ChannelKind::Apns, "slow-1")).await,
        Some(Duration::from_secs(10)),
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the client timeout did not fire"
    );
    assert_retry(
        channels.send(&push(ChannelKind::Apns, "drop-1")).await,
        None,
    );
    assert_eq!(
        stats(simulator(&channels, ChannelKind::Apns)).await.dropped,
        1
    );
    // A new connection is opened after the drop.
    channels
        .send(&push(ChannelKind::Apns, "fine"))
        .await
        .expect("delivered after a dropped connection");
}

#[tokio::test]
async fn apns_refuses_a_payload_over_4kb_before_sending_it() {
    let channels = channels().await;
    let mut message = push(ChannelKind::Apns, "big");
    message.body = "ы".repeat(2100);
    assert_permanent(channels.send(&message).await);
    let stats = stats(simulator(&channels, ChannelKind::Apns)).await;
    assert_eq!(
        (stats.accepted, stats.rejected),
        (0, 0),
        "nothing reached Apple"
    );
}

#[tokio::test]
async fn the_apns_simulator_checks_what_apple_checks() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Apns);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let url = format!("{}/3/device/abc", sim.base_url());
    let reason = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json");
        (
            status,
            body["reason"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let no_token = client.post(&url).body("{}").send().await.expect("answer");
    assert_eq!(reason(no_token).await, (403, "MissingProviderToken".into()));
    let forged = client
        .post(&url)
        .header("authorization", "bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
        .header("apns-topic", "ru.bilet.app")
        .body("{}")
        .send()
        .await
        .expect("answer");
    assert_eq!(reason(forged).await, (403, "InvalidProviderToken".into()));
    let key = Es256Key::from_pem(&SimCredentials::shared().expect("credentials").apns_key_pem)
        .expect("key");
    let jwt = |iat: u64| {
        key.sign(
            credentials::APNS_KEY_ID,
            &json!({"iss": credentials::APNS_TEAM_ID, "iat": iat}),
        )
        .expect("signed")
    };
    let post = |jwt: String, topic: bool, body: String| {
        let mut request = client
            .post(&url)
            .header("authorization", format!("bearer {jwt}"))
            .body(body);
        if topic {
            request = request.header("apns-topic", "ru.bilet.app");
        }
        request.send()
    };
    let aps = r#"{"aps":{"alert":"x"}}"#.to_owned();
    let stale = post(jwt(now_unix() - 3700), true, aps.clone())
        .await
        .expect("answer");
    assert_eq!(reason(stale).await, (403, "ExpiredProviderToken".into()));
    let no_topic = post(jwt(now_unix()), false, aps.clone())
        .await
        .expect("answer");
    assert_eq!(reason(no_topic).await, (400, "MissingTopic".into()));
    let huge = format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(4100));
    let too_large = post(jwt(now_unix()), true, huge).await.expect("answer");
    assert_eq!(reason(too_large).await, (413, "PayloadTooLarge".into()));
    let accepted = post(jwt(now_unix()), true, aps).await.expect("answer");
    assert_eq!(accepted.status().as_u16(), 200);
    let h1 = reqwest::Client::new()
        .post(&url)
        .body("{}")
        .send()
        .await
        .expect("answer");
    assert_eq!(h1.status().as_u16(), 505, "APNs is HTTP/2 only");
}

#[tokio::test]
async fn fcm_delivers_with_android_priority_ttl_collapse_key_and_data() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Fcm);
    let mut message = push(ChannelKind::Fcm, "fcm-token-1");
    message.urgent = true;
    message.collapse_key = Some("event-42".into());
    message.replaces = Some("event-42".into());
    message.ttl = Duration::from_secs(3600);
    let delivered = channels.send(&message).await.expect("delivered");
    assert!(
        delivered
            .provider_id
            .starts_with("projects/bilet-sim/messages/"),
        "{}",
        delivered.provider_id
    );
    let received = inspected(sim, "fcm-token-1").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].headers["http-version"], "HTTP/2.0");
    let body = &received[0].body;
    assert_eq!(body["android"]["priority"], "HIGH");
    assert_eq!(body["android"]["ttl"], "3600s");
    assert_eq!(body["android"]["collapse_key"], "event-42");
    assert_eq!(body["android"]["notification"]["tag"], "event-42");
    assert_eq!(body["notification"]["title"], "Событие отменено");
    assert_eq!(body["data"]["event_id"], "42");
    assert_eq!(body["data"]["kind"], "event_cancelled");

    channels
        .send(&push(ChannelKind::Fcm, "fcm-token-2"))
        .await
        .expect("delivered");
    let normal = inspected(sim, "fcm-token-2").await;
    assert_eq!(normal[0].body["android"]["priority"], "NORMAL");
}

#[tokio::test]
async fn fcm_gets_one_access_token_for_many_sends_and_refreshes_it_once_on_401() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Fcm);
    for i in 0..10 {
        channels
            .send(&push(ChannelKind::Fcm, &format!("t{i}")))
            .await
            .expect("delivered");
    }
    assert_eq!(stats(sim).await.access_tokens_issued, 1);
    channels
        .send(&push(ChannelKind::Fcm, "expired-1"))
        .await
        .expect("delivered after one refresh");
    assert_eq!(inspected(sim, "expired-1").await.len(), 1);
    let stats = stats(sim).await;
    assert_eq!(stats.access_tokens_issued, 2);
    assert_eq!(stats.rejected, 1);
}

#[tokio::test]
async fn fcm_maps_every_error_to_its_outcome() {
    let channels = channels().await;
    let channels_ref = &channels;
    let send = |token: &'static str| {
        let message = push(ChannelKind::Fcm, token);
        async move { channels_ref.send(&message).await }
    };
    assert_eq!(send("unregistered-1").await, Err(SendError::TokenInvalid));
    assert_eq!(send("badtoken-1").await, Err(SendError::TokenInvalid));
    assert_retry(send("ratelimit-1").await, RATE_LIMIT);
    assert_retry(send("unavailable-1").await, UNAVAILABLE);
    assert_retry(send("error-1").await, Some(Duration::from_secs(30)));
    assert_permanent(send("reject-1").await);
    let started = Instant::now();
    assert_retry(send("slow-1").await, Some(Duration::from_secs(10)));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_retry(send("drop-1").await, None);
    send("fine")
        .await
        .expect("delivered after a dropped connection");
}

#[tokio::test]
async fn rustore_delivers_and_maps_every_error_to_its_outcome() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Rustore);
    let mut message = push(ChannelKind::Rustore, "rs-token");
    message.ttl = Duration::from_secs(600);
    channels.send(&message).await.expect("delivered");
    let received = inspected(sim, "rs-token").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["android"]["ttl"], "600s");
    assert_eq!(received[0].body["notification"]["body"], message.body);
    assert_eq!(received[0].body["data"]["notification_id"], "7");

    let channels_ref = &channels;
    let send = |token: &'static str| {
        let message = push(ChannelKind::Rustore, token);
        async move { channels_ref.send(&message).await }
    };
    assert_eq!(send("unregistered-1").await, Err(SendError::TokenInvalid));
    assert_retry(send("ratelimit-1").await, RATE_LIMIT);
    assert_retry(send("unavailable-1").await, UNAVAILABLE);
    assert_retry(send("error-1").await, None);
    assert_permanent(send("reject-1").await);
    assert_permanent(send("expired-1").await);
    assert_retry(send("slow-1").await, Some(Duration::from_secs(10)));
    assert_retry(send("drop-1").await, None);
}

#[tokio::test]
async fn sms_sends_a_cyrillic_text_fitted_to_two_segments_with_its_link() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Sms);
    let message = sms("+79161234567");
    let delivered = channels.send(&message).await.expect("delivered");
    let received = inspected(sim, "+79161234567").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, delivered.provider_id);
    let body = &received[0].body;
    assert_eq!(body["encoding"], "ucs2");
    assert_eq!(body["segments"], 2);
    let text = body["msg"].as_str().expect("text");
    assert!(text.ends_with("… https://bilet.ru/e/7f3a"), "{text}");
    assert!(text.encode_utf16().count() <= 134);
}

#[tokio::test]
async fn sms_gateway_codes_map_to_outcomes() {
    let channels = channels().await;
    let channels_ref = &channels;
    let send = |phone: &'static str| {
        let message = sms(phone);
        async move { channels_ref.send(&message).await }
    };
    assert_eq!(send("+79992021111").await, Err(SendError::TokenInvalid));
    assert_eq!(send("+79992071111").await, Err(SendError::TokenInvalid));
    assert_retry(send("+79992301111").await, Some(Duration::from_secs(3600)));
    assert_retry(send("+79992201111").await, Some(Duration::from_secs(30)));
    assert_retry(send("+79992011111").await, Some(Duration::from_secs(1800)));
    assert_permanent(send("+79992091111").await);
    assert_retry(send("+79995001111").await, Some(Duration::from_secs(30)));
    assert_retry(send("+79994291111").await, RATE_LIMIT);
    assert_retry(send("+79990011111").await, Some(Duration::from_secs(10)));
    assert_retry(send("+79990021111").await, None);
    assert_permanent(send("12345").await);
    assert_eq!(
        stats(simulator(&channels, ChannelKind::Sms)).await.accepted,
        0
    );
}

#[tokio::test]
async fn email_sends_multipart_text_and_html_with_list_unsubscribe_when_not_essential() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Email);
    let essential = email("parent@example.org");
    let delivered = channels.send(&essential).await.expect("delivered");
    let received = inspected(sim, "parent@example.org").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, delivered.provider_id);
    let headers = &received[0].headers;
    assert_eq!(headers["subject"], "Событие перенесено");
    assert_eq!(headers["from"], "Билет <noreply@bilet.local>");
    assert_eq!(
        headers["message-id"],
        format!("<{}@bilet.local>", essential.delivery_id)
    );
    assert!(headers["content-type"].starts_with("multipart/alternative"));
    assert!(!headers.contains_key("list-unsubscribe"));
    let text = received[0].body["text"].as_str().expect("text part");
    assert!(text.contains("перенесена на субботу") && text.contains("https://bilet.ru/e/7f3a"));
    let html = received[0].body["html"].as_str().expect("html part");
    assert!(
        html.contains("<a href=\"https://bilet.ru/e/7f3a\">"),
        "{html}"
    );

    let mut digest = email("other@example.org");
    digest.essential = false;
    digest.unsubscribe_url = Some("https://bilet.ru/u/abc".into());
    channels.send(&digest).await.expect("delivered");
    let received = inspected(sim, "other@example.org").await;
    assert_eq!(
        received[0].headers["list-unsubscribe"],
        "<https://bilet.ru/u/abc>"
    );
    assert_eq!(
        received[0].headers["list-unsubscribe-post"],
        "List-Unsubscribe=One-Click"
    );
}

#[tokio::test]
async fn email_maps_smtp_replies_and_reuses_pooled_connections() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Email);
    let channels_ref = &channels;
    let send = |address: &'static str| {
        let message = email(address);
        async move { channels_ref.send(&message).await }
    };
    for i in 0..12 {
        channels
            .send(&email(&format!("p{i}@example.org")))
            .await
            .expect("delivered");
    }
    let connections = stats(sim).await.connections;
    // lettre parks a finished connection from a spawned task, so a quick next send may
    // open another one; reuse shows as fewer connections than messages.
    assert!(
        (1..12).contains(&connections),
        "12 sequential sends opened {connections} connections"
    );
    assert_retry(
        send("tempfail-1@example.org").await,
        Some(Duration::from_secs(60)),
    );
    assert_permanent(send("reject-1@example.org").await);
    assert_retry(send("unavailable-1@example.org").await, None);
    assert_retry(send("drop-1@example.org").await, None);
    let started = Instant::now();
    assert_retry(send("slow-1@example.org").await, None);
    assert!(started.elapsed() < Duration::from_secs(3));
    send("after@example.org")
        .await
        .expect("delivered after failures");
}

#[tokio::test]
async fn the_fcm_simulator_wants_a_signed_assertion_and_a_token_it_issued() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Fcm);
    let client = reqwest::Client::new();
    let grant = client
        .post(format!("{}/token", sim.base_url()))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(grant.status().as_u16(), 400);
    let body: Value = grant.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    let send = client
        .post(format!(
            "{}/v1/projects/bilet-sim/messages:send",
            sim.base_url()
        ))
        .bearer_auth("ya29.made-up")
        .json(&json!({"message": {"token": "t"}}))
        .send()
        .await
        .expect("answer");
    assert_eq!(send.status().as_u16(), 401);
    assert_eq!(stats(sim).await.access_tokens_issued, 0);
}

#[tokio::test]
async fn email_never_falls_back_to_plain_text_when_starttls_is_required() {
    let channels = channels().await;
    let sim = simulator(&channels, ChannelKind::Email);
    let client = EmailClient::new(EmailConfig {
        host: sim.addr.ip().to_string(),
        port: sim.addr.port(),
        tls: SmtpTls::StartTls,
        credentials: None,
        from: "Билет <noreply@bilet.local>".into(),
        timeout: Duration::from_secs(2),
        pool_size: 1,
    })
    .expect("client");
    assert_retry(client.send(&email("parent@example.org")).await, None);
    assert_eq!(
        stats(sim).await.accepted,
        0,
        "nothing was sent in the clear"
    );
}

#[tokio::test]
async fn production_refuses_a_channel_without_credentials() {
    let result = Channels::from_config(&PushConfig::defaults(), Environment::Production).await;
    assert!(matches!(
        result,
        Err(ChannelsError::MissingCredentials(ChannelKind::Apns))
    ));
    let disabled = PushConfig::parse(
        "[apns]\nenabled = false\n[fcm]\nenabled = false\n[rustore]\nenabled = false\n\
         [sms]\nenabled = false\n[email]\nenabled = false\n",
        "test",
        |_| None,
    )
    .expect("valid");
    let channels = Channels::from_config(&disabled, Environment::Production)
        .await
        .expect("all disabled is allowed");
    assert_eq!(channels.mode(ChannelKind::Sms), &ChannelMode::Disabled);
    assert_permanent(channels.send(&sms("+79161234567")).await);
}

/// One message per channel through `channels`, each checked at its simulator.
async fn one_round_trip_each(channels: &Channels, inspect: impl Fn(ChannelKind) -> String) {
    let messages = [
        push(ChannelKind::Apns, "roundtrip-apns"),
        push(ChannelKind::Fcm, "roundtrip-fcm"),
        push(ChannelKind::Rustore, "roundtrip-rustore"),
        sms("+79160000001"),
        email("roundtrip@example.org"),
    ];
    for message in messages {
        let kind = message.channel;
        let delivered = channels
            .send(&message)
            .await
            .unwrap_or_else(|err| panic!("{kind}: {err}"));
        let received: Vec<Accepted> = reqwest::Client::new()
            .get(format!("{}/sim/messages", inspect(kind)))
            .query(&[("to", message.to.as_str())])
            .send()
            .await
            .expect("inspection answers")
            .json()
            .await
            .expect("json");
        assert_eq!(received.len(), 1, "{kind}");
        match kind {
            ChannelKind::Fcm => assert!(delivered.provider_id.ends_with(&received[0].id)),
            // RuStore answers `{}`: the provider id is our delivery id.
            ChannelKind::Rustore => {
                assert_eq!(delivered.provider_id, message.delivery_id.to_string())
            }
            _ => assert_eq!(delivered.provider_id, received[0].id, "{kind}"),
        }
    }
}

#[tokio::test]
async fn simulators_answer_after_their_configured_latency_on_every_channel() {
    let config = PushConfig::parse(
        "[simulators]\nlatency = \"150ms\"\nlatency_jitter = \"50ms\"\n",
        "test",
        |_| None,
    )
    .expect("latency settings");
    let channels = Channels::from_config(&config, Environment::Development)
        .await
        .expect("channels start");
    for (message, to) in [
        (push(ChannelKind::Apns, "latency-apns"), "latency-apns"),
        (push(ChannelKind::Fcm, "latency-fcm"), "latency-fcm"),
        (
            push(ChannelKind::Rustore, "latency-rustore"),
            "latency-rustore",
        ),
        (sms("+79160000002"), "+79160000002"),
        (email("latency@example.org"), "latency@example.org"),
    ] {
        let kind = message.channel;
        let started = Instant::now();
        channels
            .send(&message)
            .await
            .unwrap_or_else(|err| panic!("{kind}: {err}"));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(150),
            "{kind} answered in {took:?}"
        );
        assert!(
            !inspected(simulator(&channels, kind), to).await.is_empty(),
            "{kind}: accepted"
        );
    }
    let refused =
        PushConfig::parse("[simulators]\nlatency = \"soon\"\n", "test", |_| None).unwrap_err();
    assert!(
        refused.to_string().contains("simulators.latency"),
        "{refused}"
    );
}

#[tokio::test]
async fn the_app_delivers_on_every_channel_from_the_committed_settings() {
    let (settings, cleanup) = helpers::test_settings();
    let app = bilet::startup::Application::build(settings, false)
        .await
        .expect("the app starts");
    let channels = app.state().channels.clone();
    for kind in ChannelKind::ALL {
        assert!(
            matches!(channels.mode(kind), ChannelMode::Simulator { .. }),
            "{kind}: {}",
            channels.mode(kind)
        );
    }
    one_round_trip_each(&channels, |kind| simulator(&channels, kind).inspect_url()).await;
    drop(app);
    cleanup.run();
}

#[tokio::test]
async fn a_bilet_configured_for_bilet_simulate_delivers_through_the_production_path() {
    let dir = std::env::temp_dir().join(format!("bilet-simulate-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let credentials = dir.join("credentials");
    let simulate_config = dir.join("simulate.toml");
    std::fs::write(
        &simulate_config,
        format!(
            "[simulators]\napns_port = 0\nfcm_port = 0\nrustore_port = 0\nsms_port = 0\n\
             smtp_port = 0\nsmtp_inspect_port = 0\ncredentials_dir = \"{}\"\n",
            credentials.display()
        ),
    )
    .expect("write");
    let mut child = tokio::process::Command::new(helpers::bilet_binary())
        .arg("simulate")
        .env("BILET_PUSH_CONFIG", &simulate_config)
        .env("BILET_LOG_FILTER", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bilet simulate starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut addresses: BTreeMap<String, (String, String)> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut client_settings = None;
    while client_settings.is_none() {
        assert!(
            Instant::now() < deadline,
            "bilet simulate did not announce its simulators"
        );
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("a line in time")
            .expect("readable")
            .expect("bilet simulate exited early");
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(path) = line.strip_prefix("client settings: BILET_PUSH_CONFIG=") {
            client_settings = Some(std::path::PathBuf::from(path));
        }
        if let [name, url, "inspect", inspect] = words[..] {
            let addr = url.split("://").nth(1).unwrap_or_default().to_owned();
            let inspect = inspect.trim_end_matches("/sim/messages").to_owned();
            addresses.insert(name.to_owned(), (addr, inspect));
        }
    }
    let client_settings = client_settings.expect("announced");
    let written = std::fs::read_to_string(&client_settings).expect("client settings written");
    assert!(
        !written.contains("PRIVATE KEY"),
        "secrets go by file path, never inline"
    );
    let config = PushConfig::load(&client_settings).expect("valid client settings");
    let channels = Channels::from_config(&config, Environment::Production)
        .await
        .expect("every channel has credentials");
    assert!(channels.simulators().is_none(), "no in-process simulator");
    for kind in ChannelKind::ALL {
        assert!(
            matches!(channels.mode(kind), ChannelMode::Provider(_)),
            "{kind}"
        );
    }
    one_round_trip_each(&channels, |kind| addresses[kind.as_str()].1.clone()).await;
    child.kill().await.expect("stop bilet simulate");
    std::fs::remove_dir_all(dir).expect("clean up");
}
