//! The HTTP transport the push and SMS clients share: one pooled client per channel
//! (rustls with the public roots for the real hosts, cleartext HTTP/2 prior knowledge for a
//! simulator's `http://` URL), `Retry-After`, what a failed connection means, and the
//! Google-style error body that FCM and RuStore both answer with.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

use super::SendError;

/// How long to wait after a timeout or a dropped connection.
pub const TRANSPORT_RETRY: Duration = Duration::from_secs(10);
/// How long to wait after a 429 that gave no `Retry-After`.
pub const RATE_LIMIT_RETRY: Duration = Duration::from_secs(60);
/// How long to wait after a 5xx that gave no `Retry-After`.
pub const UNAVAILABLE_RETRY: Duration = Duration::from_secs(30);

/// A pooled HTTP client. `http2_only`: speak HTTP/2 only (ALPN `h2` over TLS, prior
/// knowledge over cleartext), as APNs requires and FCM allows, so that concurrent sends
/// share one multiplexed connection.
pub fn client(timeout: Duration, http2_only: bool) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(600))
        .http2_keep_alive_interval(Duration::from_secs(60))
        .http2_keep_alive_while_idle(true)
        .redirect(reqwest::redirect::Policy::none());
    let builder = if http2_only {
        builder.http2_prior_knowledge()
    } else {
        builder
    };
    builder.build()
}

/// The delay a response asks for (`Retry-After` in seconds or as an HTTP date), else
/// `default`. Capped at a day so a broken header cannot park a message forever.
pub fn retry_after(headers: &HeaderMap, default: Duration) -> Duration {
    let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) else {
        return default;
    };
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else if let Ok(date) = chrono::DateTime::parse_from_rfc2822(value) {
        let seconds = (date.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
        Duration::from_secs(seconds.max(0) as u64)
    } else {
        return default;
    };
    delay.min(Duration::from_secs(24 * 3600))
}

/// A request that got no complete answer: timed out, refused, dropped. Always worth a
/// retry. The URL is stripped: for APNs it holds the device token.
pub fn transport_failure(err: reqwest::Error) -> SendError {
    let what = if err.is_timeout() {
        "the provider did not answer in time"
    } else if err.is_connect() {
        "cannot connect to the provider"
    } else {
        "the connection failed"
    };
    SendError::retry(
        TRANSPORT_RETRY,
        format!("{what}: {}", error_chain(&err.without_url())),
    )
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `{"error": {"code", "message", "status", "details": [...]}}`, as Google APIs (and
/// RuStore, which copies them) answer errors.
#[derive(Debug, Default, Deserialize)]
pub struct ApiErrorBody {
    #[serde(default)]
    pub error: ApiError,
}

/// The inner `error` object.
#[derive(Debug, Default, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub details: Vec<ApiErrorDetail>,
}

/// One entry of `details`: an FCM error code or a list of field violations.
#[derive(Debug, Default, Deserialize)]
pub struct ApiErrorDetail {
    #[serde(rename = "errorCode", default)]
    pub error_code: Option<String>,
    #[serde(rename = "fieldViolations", default)]
    pub field_violations: Vec<FieldViolation>,
}

/// A field the provider rejected.
#[derive(Debug, Default, Deserialize)]
pub struct FieldViolation {
    #[serde(default)]
    pub field: String,
}

impl ApiError {
    /// Parses an error body; anything unparsable gives an empty error (the status code
    /// alone then decides).
    pub fn parse(body: &[u8]) -> Self {
        serde_json::from_slice::<ApiErrorBody>(body)
            .map(|b| b.error)
            .unwrap_or_default()
    }

    /// The FCM-specific `errorCode` from `details`, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.details.iter().find_map(|d| d.error_code.as_deref())
    }

    /// True when a field violation or the message says the device token is at fault.
    pub fn blames_token(&self) -> bool {
        self.details
            .iter()
            .flat_map(|d| &d.field_violations)
            .any(|v| v.field == "message.token")
            || self.message.to_lowercase().contains("registration token")
    }

    /// `404 NOT_FOUND UNREGISTERED: message`, for error texts.
    pub fn describe(&self, status: u16) -> String {
        let mut text = status.to_string();
        for part in [self.status.as_str(), self.error_code().unwrap_or("")] {
            if !part.is_empty() {
                text.push(' ');
                text.push_str(part);
            }
        }
        if !self.message.is_empty() {
            text.push_str(": ");
            text.extend(self.message.chars().take(200));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_falls_back() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            retry_after(&headers, Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("17"));
        assert_eq!(
            retry_after(&headers, Duration::ZERO),
            Duration::from_secs(17)
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&headers, Duration::from_secs(5)),
            Duration::ZERO
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(
            retry_after(&headers, Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(
            retry_after(&headers, Duration::ZERO),
            Duration::from_secs(86400)
        );
    }

    #[test]
    fn a_google_error_body_names_its_code_and_culprit() {
        let body = br#"{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}"#;
        let error = ApiError::parse(body);
        assert_eq!(error.error_code(), Some("INVALID_ARGUMENT"));
        assert!(error.blames_token());
        assert!(ApiError::parse(b"<html>").status.is_empty());
    }
}
