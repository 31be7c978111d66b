//! A typed client of the mobile contract (`mobile-contract/openapi.json`), generated at
//! build time by progenitor (`build.rs`), as an app developer would generate one. bilet's
//! integration tests drive the API through it, so a contract that a generator cannot read
//! fails the build, and one that says less than the server does fails a test.

/// The generated client: [`Client`] with one method per operation (named by its
/// `operationId`) and `types`, one per schema. Code we do not write: held to progenitor's
/// style, not to our lints.
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    unused_qualifications,
    unused_imports,
    missing_docs,
    rustdoc::all
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/client.rs"));
}

pub use generated::*;
pub use progenitor_client::{Error, ResponseValue};

/// What `build.rs` changed in the generator's view of the contract because progenitor
/// cannot take it as published, one line each (see `build.rs`).
pub const ADAPTATIONS: &[&str] = include!(concat!(env!("OUT_DIR"), "/adaptations.rs"));

/// A client that sends `Authorization: Bearer <access_token>` with every request, as the
/// apps do once signed in; `base_url` is the server's origin (`http://127.0.0.1:8080`).
pub fn signed_in(base_url: &str, access_token: &str) -> Result<Client, BuildError> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {access_token}"))
        .map_err(|_| BuildError::Token)?;
    value.set_sensitive(true);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .map_err(BuildError::Http)?;
    Ok(Client::new_with_client(base_url, client))
}

/// A client without credentials (registration, verification, sign-in).
pub fn anonymous(base_url: &str) -> Result<Client, BuildError> {
    let client = reqwest::Client::builder()
        .build()
        .map_err(BuildError::Http)?;
    Ok(Client::new_with_client(base_url, client))
}

/// Why a client could not be made.
#[derive(Debug)]
pub enum BuildError {
    /// The access token cannot be sent in a header (the server issues none such).
    Token,
    /// reqwest could not build its client (e.g. no TLS backend).
    Http(reqwest::Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token => f.write_str("the access token cannot be sent in a header"),
            Self::Http(err) => write!(f, "cannot build the HTTP client: {err}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Token => None,
            Self::Http(err) => Some(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::types;

    #[test]
    fn a_link_child_answer_reads_as_the_body_its_status_carries() {
        let linked: types::LinkChildOutcome = serde_json::from_value(serde_json::json!({
            "account_id": "0192b5b2-4c1e-7a55-9c55-0a1b2c3d4e5f",
            "given_name": "Анна",
            "grade": 7,
            "linked_at": "2026-11-30T10:00:00Z",
        }))
        .unwrap();
        assert!(matches!(linked, types::LinkChildOutcome::FamilyMember(_)));
        let requested: types::LinkChildOutcome = serde_json::from_value(serde_json::json!({
            "id": "0192b5b2-4c1e-7a55-9c55-0a1b2c3d4e60",
            "child_account_id": "0192b5b2-4c1e-7a55-9c55-0a1b2c3d4e5f",
            "requester_account_id": "0192b5b2-4c1e-7a55-9c55-0a1b2c3d4e61",
            "via": "code",
            "status": "pending",
            "awaiting_me": false,
            "created_at": "2026-11-30T10:00:00Z",
            "expires_at": "2026-12-07T10:00:00Z",
        }))
        .unwrap();
        match requested {
            types::LinkChildOutcome::LinkRequestView(request) => {
                assert_eq!(request.status, types::LinkRequestStatus::Pending);
            }
            other => panic!("read as {other:?}"),
        }
    }

    #[test]
    fn a_problem_reads_with_its_type_and_field_errors() {
        let problem: types::Problem = serde_json::from_value(serde_json::json!({
            "type": "urn:bilet:problem:validation",
            "title": "Validation failed",
            "status": 422,
            "detail": "1 field was rejected",
            "errors": [{ "field": "code", "message": "is wrong" }],
        }))
        .unwrap();
        assert_eq!(problem.type_, "urn:bilet:problem:validation");
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors.len(), 1);
    }
}
