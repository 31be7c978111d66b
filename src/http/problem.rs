//! The one error type every handler returns, rendered as RFC 9457 `application/problem+json`.
//! It lives at the edge, below the handlers, so that both the edge's own refusals (body
//! limit, idempotency keys, poem's parse errors) and `api/` speak it without `http/`
//! importing `api/`.
//!
//! Each kind of problem has a stable `type` URI (`urn:bilet:problem:<slug>`) that clients
//! match on; `title` is fixed per type and `detail` explains this occurrence. Nothing from
//! a database error, a panic or a file path ever reaches `detail`: a 5xx is logged in full
//! with the request id and the client is told only that it failed.

use std::fmt;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response, error::ResponseError};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, Object, types::Type};
use serde::Serialize;

/// Content type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type`.
pub const TYPE_PREFIX: &str = "urn:bilet:problem:";

/// The one detail of every refused or missing access token: why a token failed is logged
/// at debug level (never the token), not told to the caller.
pub const BEARER_REQUIRED: &str = "a valid bearer access token is required";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Object)]
#[oai(rename = "Problem")]
pub struct ProblemDocument {
    /// Stable identifier of the kind of problem, e.g. `urn:bilet:problem:validation`;
    /// clients branch on this, never on `title` or `detail`.
    #[serde(rename = "type")]
    #[oai(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a person to read.
    pub detail: String,
    /// Present only in validation problems (`urn:bilet:problem:validation`): one entry
    /// per rejected field. Every other problem leaves it out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[oai(skip_serializing_if_is_empty, default, validator(min_items = 1))]
    pub errors: Vec<FieldError>,
}

/// Why one field of a request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `grade` or `address.city`; query and path
    /// parameters are named as they appear in the URL.
    pub field: String,
    /// Why the value was rejected.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A problem to answer with.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after_secs: Option<u64>,
}

impl Problem {
    /// A problem of a kind with its own `type`; prefer the named constructors.
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this resource does not support the request's method",
        )
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            detail,
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 422 with one entry per rejected field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("`{}`: {}", one.field, one.message),
            many => format!("{} fields were rejected", many.len()),
        };
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Validation failed",
                detail,
            )
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    /// 401 for a staff login whose account has a second factor on and no (or a wrong,
    /// expired or used) code with it.
    pub fn second_factor_required(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "second-factor-required",
            "Second factor required",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 409 with a type of its own, e.g. `snils-taken`.
    pub fn conflict(slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, slug, title, detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                "too many attempts; try again after the time in Retry-After",
            )
        }
    }

    pub fn dependency_unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency-unavailable",
            "Dependency unavailable",
            detail,
        )
    }

    /// 500; the cause must be logged by the caller, it is never shown.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the request failed on our side; it has been logged with its request id",
        )
    }

    /// Adds `Retry-After` to the response.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The kind of problem, e.g. `validation`: what the console picks its message by.
    pub fn slug(&self) -> &'static str {
        self.slug
    }

    pub fn title(&self) -> &'static str {
        self.title
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The rejected fields of a validation problem.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// Seconds to wait, on a rate-limited problem.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// The full `type` URI.
    pub fn type_uri(&self) -> String {
        format!("{TYPE_PREFIX}{}", self.slug)
    }

    pub fn document(&self) -> ProblemDocument {
        ProblemDocument {
            problem_type: self.type_uri(),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }

    pub fn to_response(&self) -> Response {
        let body =
            serde_json::to_vec(&self.document()).expect("a problem document always serializes");
        let mut response = Response::builder()
            .status(self.status)
            .content_type(PROBLEM_JSON)
            .body(body);
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Store failures: not-found and conflicts become 404 and 409; the database's own failure
/// is logged with its cause (inside the request's span, so with its request id) and
/// answered with a bare 500.
impl From<crate::store::StoreError> for Problem {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            crate::store::StoreError::NotFound => Problem::not_found("no such resource"),
            crate::store::StoreError::Conflict(constraint) => {
                tracing::warn!(constraint = %constraint, "unexpected conflict");
                Problem::conflict(
                    "conflict",
                    "Conflict",
                    "the change conflicts with the current state",
                )
            }
            crate::store::StoreError::Database(cause) => {
                tracing::error!(
                    error = crate::telemetry::error_chain(&cause),
                    "database failure"
                );
                Problem::internal()
            }
        }
    }
}

impl From<sqlx::Error> for Problem {
    fn from(err: sqlx::Error) -> Self {
        crate::store::StoreError::from(err).into()
    }
}

impl Problem {
    /// A 500 for an unexpected failure, logging its whole cause chain.
    pub fn internal_from(err: impl fmt::Display + fmt::Debug) -> Self {
        tracing::error!(error = %err, cause = ?err, "internal failure");
        Problem::internal()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.slug, self.detail)
    }
}

impl std::error::Error for Problem {}

impl ResponseError for Problem {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        self.to_response()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// Documents every operation's error responses as problem+json.
impl ApiResponse for Problem {
    fn meta() -> MetaResponses {
        let content = || {
            vec![MetaMediaType {
                content_type: PROBLEM_JSON,
                schema: ProblemDocument::schema_ref(),
            }]
        };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "The request was rejected; see `type` and, for validation, `errors`.",
                    status: None,
                    status_range: Some("4XX".to_owned()),
                    content: content(),
                    headers: vec![],
                },
                MetaResponse {
                    description: "The request failed on the server or a dependency is down.",
                    status: None,
                    status_range: Some("5XX".to_owned()),
                    content: content(),
                    headers: vec![],
                },
            ],
        }
    }

    fn register(registry: &mut Registry) {
        ProblemDocument::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_problem_lists_each_field() {
        let problem = Problem::validation(vec![
            FieldError::new("grade", "must be from 6 to 11"),
            FieldError::new("snils", "checksum does not match"),
        ]);
        let doc = serde_json::to_value(problem.document()).unwrap();
        assert_eq!(doc["type"], "urn:bilet:problem:validation");
        assert_eq!(doc["status"], 422);
        assert_eq!(doc["errors"][1]["field"], "snils");
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let response = Problem::rate_limited(7).to_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
