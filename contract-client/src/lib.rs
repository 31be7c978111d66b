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
