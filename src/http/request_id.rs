//! `X-Request-Id`: the client's when well-formed, else a new one; echoed on every response
//! and carried in every log line of the request.

use std::fmt;

/// The header name.
pub const HEADER: &str = "x-request-id";

/// The id of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Accepts 1–128 characters of letters, digits, `-`, `_`, `.` and `:`; anything else
    /// (which could inject into logs or headers) is replaced by a fresh id.
    pub fn from_client(value: Option<&str>) -> Self {
        match value {
            Some(v) if is_well_formed(v) => Self(v.to_owned()),
            _ => Self::generate(),
        }
    }

    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_well_formed(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_client_id_is_kept() {
        assert_eq!(
            RequestId::from_client(Some("app-42.req:7")).as_str(),
            "app-42.req:7"
        );
    }

    #[test]
    fn a_malformed_or_missing_id_is_replaced() {
        for bad in [Some(""), Some("has space"), Some("line\nbreak"), None] {
            let id = RequestId::from_client(bad);
            assert_eq!(id.as_str().len(), 36, "{bad:?}");
        }
        let long = "a".repeat(129);
        assert_ne!(RequestId::from_client(Some(&long)).as_str(), long);
    }
}
