//! Access tokens (JWT, HS256, at most 15 minutes, `kid` naming the signing key so keys can
//! rotate) and opaque refresh tokens (random, stored only as a SHA-256 digest).
//!
//! A token is refused when it lives longer than the configured TTL or was issued in the
//! future, even when validly signed: a leaked signing key or a bug cannot mint tokens that
//! outlive a key rotation by years.

use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::ids::{AccountId, SessionId};
use crate::domain::roles::Role;
use crate::settings::KeyList;

const ISSUER: &str = "bilet";
/// Refresh tokens start with this, so they are recognisable in a leak scanner.
const REFRESH_PREFIX: &str = "brt_";
/// Clock difference between processes tolerated in `exp`, `iat` and the lifetime.
const LEEWAY_SECS: i64 = 5;

/// What an access token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: uuid::Uuid,
    /// The device session.
    pub sid: uuid::Uuid,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// Signs with the current token key; verifies with any configured one.
#[derive(Clone)]
pub struct TokenSigner {
    keys: KeyList,
    ttl: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names an unknown key")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature or claims are invalid")]
    Invalid,
    #[error("the token lives longer than the configured lifetime or was issued in the future")]
    Lifetime,
}

impl TokenSigner {
    pub fn new(keys: KeyList, ttl: Duration) -> Self {
        Self { keys, ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, account: AccountId, session: SessionId, role: Role) -> String {
        let key = self.keys.current();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: account.0,
            sid: session.0,
            role: role.as_str().to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            iss: ISSUER.to_owned(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.id.clone());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.key))
            .expect("HS256 signing of plain claims cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Malformed)?;
        let key = self.keys.find(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = LEEWAY_SECS as u64;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims =
            jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&key.key), &validation)
                .map(|data| data.claims)
                .map_err(|err| match err.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                })?;
        let now = chrono::Utc::now().timestamp();
        let longest = self.ttl.as_secs() as i64 + LEEWAY_SECS;
        if claims.exp - claims.iat > longest || claims.iat > now + LEEWAY_SECS {
            return Err(TokenError::Lifetime);
        }
        Ok(claims)
    }
}

/// A new refresh token and the digest to store for it.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!(
        "{REFRESH_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let digest = refresh_digest(&token);
    (token, digest)
}

/// The stored form of a refresh token.
pub fn refresh_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(id: &str) -> TokenSigner {
        TokenSigner::new(KeyList::generate(id), Duration::from_secs(900))
    }

    #[test]
    fn an_issued_token_verifies_and_names_its_key() {
        let signer = signer("t1");
        let account = AccountId::new();
        let token = signer.issue(account, SessionId::new(), Role::Parent);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("t1"));
        let claims = signer.verify(&token).unwrap();
        assert_eq!(claims.sub, account.0);
        assert_eq!(claims.role, "parent");
        assert!(claims.exp - claims.iat <= 900);
    }

    #[test]
    fn a_token_signed_with_a_rotated_out_key_is_refused() {
        let token = signer("t1").issue(AccountId::new(), SessionId::new(), Role::Student);
        assert_eq!(
            signer("t2").verify(&token).unwrap_err(),
            TokenError::UnknownKey
        );
    }

    #[test]
    fn a_tampered_or_expired_token_is_refused() {
        let signer = signer("t1");
        let token = signer.issue(AccountId::new(), SessionId::new(), Role::Student);
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(signer.verify(&tampered).is_err());
        assert_eq!(
            signer.verify("not a token").unwrap_err(),
            TokenError::Malformed
        );

        let expired = TokenSigner::new(signer.keys.clone(), Duration::ZERO);
        let old = {
            let key = expired.keys.current();
            let claims = Claims {
                sub: uuid::Uuid::new_v4(),
                sid: uuid::Uuid::new_v4(),
                role: "student".into(),
                iat: 0,
                exp: 60,
                iss: ISSUER.into(),
            };
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(key.id.clone());
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.key)).unwrap()
        };
        assert_eq!(expired.verify(&old).unwrap_err(), TokenError::Expired);
    }

    #[test]
    fn a_validly_signed_token_outliving_the_ttl_or_from_the_future_is_refused() {
        let signer = signer("t1");
        let sign = |iat: i64, exp: i64| {
            let key = signer.keys.current();
            let claims = Claims {
                sub: uuid::Uuid::new_v4(),
                sid: uuid::Uuid::new_v4(),
                role: "student".into(),
                iat,
                exp,
                iss: ISSUER.into(),
            };
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(key.id.clone());
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.key)).unwrap()
        };
        let now = chrono::Utc::now().timestamp();
        assert!(signer.verify(&sign(now, now + 900)).is_ok());
        assert_eq!(
            signer
                .verify(&sign(now, now + 10 * 365 * 86_400))
                .unwrap_err(),
            TokenError::Lifetime
        );
        assert_eq!(
            signer.verify(&sign(now + 3600, now + 4000)).unwrap_err(),
            TokenError::Lifetime
        );
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_as_digests() {
        let (a, digest_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert!(a.starts_with("brt_"));
        assert_eq!(refresh_digest(&a), digest_a);
        assert_eq!(digest_a.len(), 32);
    }
}
