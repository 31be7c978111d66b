//! Provider tokens, signed with `jsonwebtoken`: ES256 provider tokens for APNs (with the
//! team's `.p8` key) and RS256 assertions for Google's OAuth token endpoint (with the
//! service account's key). A key is tried once when loaded, so a bad one is refused with
//! the settings, not at the first send.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A key that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the key is not usable: {0}")]
    Key(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A signing key of one algorithm.
struct SigningKey {
    key: EncodingKey,
    algorithm: Algorithm,
}

impl SigningKey {
    fn load(key: EncodingKey, algorithm: Algorithm) -> Result<Self, JwtError> {
        let this = Self { key, algorithm };
        // jsonwebtoken parses the key only when it signs.
        this.sign("probe", &json!({}))
            .map_err(|err| JwtError::Key(err.to_string()))?;
        Ok(this)
    }

    fn sign(&self, key_id: &str, claims: &Value) -> Result<String, JwtError> {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(key_id.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|err| JwtError::Signing(err.to_string()))
    }
}

/// An ES256 (P-256) signing key: Apple's `.p8` token-auth key.
pub struct Es256Key(SigningKey);

impl Es256Key {
    /// Reads a PKCS#8 PEM key, as Apple's `AuthKey_XXXXXXXXXX.p8` files are.
    pub fn from_pem(pem: &str) -> Result<Self, JwtError> {
        let key = EncodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|err| JwtError::Key(err.to_string()))?;
        SigningKey::load(key, Algorithm::ES256).map(Self)
    }

    /// A signed compact JWT: header `{"alg": "ES256", "typ": "JWT", "kid": key_id}`.
    pub fn sign(&self, key_id: &str, claims: &Value) -> Result<String, JwtError> {
        self.0.sign(key_id, claims)
    }
}

/// An RS256 signing key: a Google service account's `private_key`.
pub struct Rs256Key(SigningKey);

impl Rs256Key {
    /// Reads a PEM RSA key (PKCS#8, as service-account files hold, or PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, JwtError> {
        let key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|err| JwtError::Key(err.to_string()))?;
        SigningKey::load(key, Algorithm::RS256).map(Self)
    }

    /// A signed compact JWT: header `{"alg": "RS256", "typ": "JWT", "kid": key_id}`.
    pub fn sign(&self, key_id: &str, claims: &Value) -> Result<String, JwtError> {
        self.0.sign(key_id, claims)
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_cannot_sign_is_refused_when_loaded() {
        assert!(
            Es256Key::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(Es256Key::from_pem("nothing").is_err());
        assert!(Rs256Key::from_pem("nothing").is_err());
    }
}
