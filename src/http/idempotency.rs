//! `Idempotency-Key` on non-idempotent requests (POST, PATCH): the first response is kept
//! for 24 hours per account and key, and a retry with the same key and body gets it back
//! byte for byte; the same key with another body is 422; a retry while the first is still
//! running is 409. A 5xx is not kept, so a retry after our failure runs again.
//!
//! Authentication comes first: a key is looked at only for a request whose access token is
//! valid and whose session is still live, and a stored response is replayed only to the
//! account that stored it. A request without valid credentials, or to a route or method
//! that does not exist, passes on untouched, to be answered 401, 404 or 405 as without a
//! key; a replay never outlives a logout.

use std::sync::Arc;

use chrono::{Duration, Utc};
use poem::http::{HeaderValue, Method, header};
use poem::{Body, Endpoint, IntoResponse, PathPattern, Request, Response, Result};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::problem::{FieldError, Problem};
use super::{Edge, errors};
use crate::domain::ids::{AccountId, SessionId};
use crate::store::{self, Db};

pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key and its response are kept.
pub const KEEP: Duration = Duration::hours(24);
/// A first request silent this long is presumed dead, and a retry may run again.
const ABANDONED_AFTER: Duration = Duration::seconds(60);

pub async fn apply<E: Endpoint>(next: E, mut req: Request, edge: Edge) -> Result<Response> {
    let raw_key = match req.headers().get(HEADER) {
        Some(value) if matches!(*req.method(), Method::POST | Method::PATCH) => value.clone(),
        _ => return next.call(req).await.map(IntoResponse::into_response),
    };
    let Some(account) = live_account(&req, &edge).await? else {
        // No valid credentials: the route answers 401 itself; nothing to remember or replay.
        return next.call(req).await.map(IntoResponse::into_response);
    };
    if !edge.routes.has(req.method(), req.uri().path()) {
        // The router answers 404 or 405; nothing runs, so nothing to remember.
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let Some(key) = raw_key
        .to_str()
        .ok()
        .filter(|k| is_valid_key(k))
        .map(str::to_owned)
    else {
        return Err(Problem::validation(vec![FieldError::new(
            "Idempotency-Key",
            "must be 1–255 visible ASCII characters, e.g. a UUID",
        )])
        .into());
    };
    let body = req.take_body().into_bytes().await?;
    let operation = format!("{} {}", req.method(), req.uri().path());
    let digest = request_digest(&operation, req.uri().query(), &body);
    req.set_body(Body::from_bytes(body));

    match claim(&edge.db, account, &key, &operation, &digest).await? {
        Claim::Run => {}
        Claim::Replay(response) => return Ok(response),
    }
    let response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => errors::into_problem_response(err).await,
    };
    if response.status().is_server_error() {
        store::idempotency::release(&edge.db, account, &key)
            .await
            .map_err(Problem::from)?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    store::idempotency::complete(
        &edge.db,
        account,
        &key,
        parts.status.as_u16(),
        content_type,
        &bytes,
    )
    .await
    .map_err(Problem::from)?;
    Ok(Response::from_parts(parts, Body::from_bytes(bytes)))
}

enum Claim {
    Run,
    Replay(Response),
}

async fn claim(
    db: &Db,
    account: AccountId,
    key: &str,
    operation: &str,
    digest: &[u8],
) -> Result<Claim, Problem> {
    for _ in 0..3 {
        if store::idempotency::claim(db, account, key, operation, digest).await? {
            return Ok(Claim::Run);
        }
        let Some(row) = store::idempotency::find(db, account, key).await? else {
            continue; // released meanwhile: claim again
        };
        let now = Utc::now();
        if row.created_at < now - KEEP {
            if store::idempotency::take_over(db, account, key, row.created_at, operation, digest)
                .await?
            {
                return Ok(Claim::Run);
            }
            continue;
        }
        if row.request_digest != digest || row.operation != operation {
            return Err(Problem::new(
                poem::http::StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "this Idempotency-Key was used for a different request; use a new key",
            ));
        }
        if let Some(status) = row.response_status {
            return Ok(Claim::Replay(replay(
                status,
                row.response_type.as_deref(),
                row.response_body.unwrap_or_default(),
            )));
        }
        if row.created_at < now - ABANDONED_AFTER {
            if store::idempotency::take_over(db, account, key, row.created_at, operation, digest)
                .await?
            {
                return Ok(Claim::Run);
            }
            continue;
        }
        return Err(Problem::conflict(
            "idempotency-in-flight",
            "Request in progress",
            "a request with this Idempotency-Key is still running; retry shortly",
        )
        .with_retry_after(1));
    }
    Err(Problem::conflict(
        "idempotency-in-flight",
        "Request in progress",
        "a request with this Idempotency-Key is changing; retry shortly",
    )
    .with_retry_after(1))
}

fn replay(status: i16, content_type: Option<&str>, body: Vec<u8>) -> Response {
    let mut response = Response::builder()
        .status(
            poem::http::StatusCode::from_u16(status as u16).unwrap_or(poem::http::StatusCode::OK),
        )
        .header(REPLAYED, HeaderValue::from_static("true"))
        .body(body);
    if let Some(value) = content_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response.set_data(PathPattern(Arc::from("(idempotent replay)")));
    response
}

fn is_valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The caller's account when the bearer token is valid and its session is still live now.
async fn live_account(req: &Request, edge: &Edge) -> Result<Option<AccountId>, Problem> {
    let Some(claims) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .and_then(|token| edge.tokens.verify(token.trim()).ok())
    else {
        return Ok(None);
    };
    let account = AccountId(claims.sub);
    let live = store::sessions::live(&edge.db, account, SessionId(claims.sid)).await?;
    Ok(live.map(|_| account))
}

pub fn request_digest(operation: &str, query: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(query.unwrap_or_default().as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

/// The janitor: deletes keys older than 24 hours, hourly.
pub async fn purge_expired(db: Db, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        let purged = store::idempotency::purge(&db, Utc::now() - KEEP).await?;
        if purged > 0 {
            tracing::info!(purged, "expired idempotency keys deleted");
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(is_valid_key("6f1c2b1e-0d1a-4a8e-9f3e-2b9d2b0c9a11"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("has space"));
        assert!(!is_valid_key("ключ"));
        assert!(!is_valid_key(&"k".repeat(256)));
    }

    #[test]
    fn the_digest_covers_path_query_and_body() {
        let a = request_digest("POST /a", None, b"{}");
        assert_ne!(a, request_digest("POST /b", None, b"{}"));
        assert_ne!(a, request_digest("POST /a", Some("x=1"), b"{}"));
        assert_ne!(a, request_digest("POST /a", None, b"{ }"));
        assert_eq!(a, request_digest("POST /a", None, b"{}"));
    }
}
