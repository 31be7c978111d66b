//! JSON Web Tokens as the providers want them: ES256 provider tokens for APNs (signed with
//! the team's `.p8` key) and RS256 assertions for Google's OAuth token endpoint (signed with
//! the service account's key); and their checking, which the simulators do as the real
//! services would.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::Value;

/// A key or token that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a PEM `{0}` block")]
    Pem(&'static str),
    #[error("the key is not usable: {0}")]
    Key(String),
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("signing failed")]
    Signing,
}

/// Decodes the first PEM block labelled `label` (e.g. `PRIVATE KEY`) to DER.
pub fn pem_to_der(pem: &str, label: &'static str) -> Result<Vec<u8>, JwtError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or(JwtError::Pem(label))? + begin.len();
    let stop = pem[start..].find(&end).ok_or(JwtError::Pem(label))? + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).map_err(|_| JwtError::Pem(label))
}

/// Encodes DER as a PEM block.
pub fn der_to_pem(der: &[u8], label: &str) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// An ES256 (P-256) signing key: Apple's `.p8` token-auth key.
pub struct Es256Key {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Es256Key {
    /// Reads a PKCS#8 PEM key, as Apple's `AuthKey_XXXXXXXXXX.p8` files are.
    pub fn from_pem(pem: &str) -> Result<Self, JwtError> {
        let der = pem_to_der(pem, "PRIVATE KEY")?;
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                .map_err(|err| JwtError::Key(err.to_string()))?;
        Ok(Self { pair, rng })
    }

    /// A new random key as PKCS#8 PEM (the simulators issue these).
    pub fn generate_pem() -> Result<String, JwtError> {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|err| JwtError::Key(err.to_string()))?;
        Ok(der_to_pem(der.as_ref(), "PRIVATE KEY"))
    }

    /// The uncompressed public point, for [`verify_es256`].
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// A signed compact JWT with this header and claims.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, JwtError> {
        let input = signing_input(header, claims);
        let sig = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| JwtError::Signing)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }
}

/// An RS256 signing key: a Google service account's `private_key`.
pub struct Rs256Key {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl Rs256Key {
    /// Reads a PKCS#8 PEM RSA key (2048 to 8192 bits).
    pub fn from_pem(pem: &str) -> Result<Self, JwtError> {
        let der = pem_to_der(pem, "PRIVATE KEY")?;
        let pair = RsaKeyPair::from_pkcs8(&der).map_err(|err| JwtError::Key(err.to_string()))?;
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// The public key as DER `RSAPublicKey`, for [`verify_rs256`].
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public().as_ref().to_vec()
    }

    /// A signed compact JWT with this header and claims.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, JwtError> {
        let input = signing_input(header, claims);
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| JwtError::Signing)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// A compact JWT split and decoded, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub header: Value,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

/// Splits and decodes a compact JWT.
pub fn decode(token: &str) -> Result<Decoded, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three dot-separated parts"));
    };
    let json = |part: &str| -> Result<Value, JwtError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwtError::Malformed("a part is not base64url"))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| JwtError::Malformed("a part is not JSON"))?;
        if value.is_object() {
            Ok(value)
        } else {
            Err(JwtError::Malformed("a part is not a JSON object"))
        }
    };
    Ok(Decoded {
        header: json(header)?,
        claims: json(claims)?,
        signing_input: format!("{header}.{claims}"),
        signature: URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| JwtError::Malformed("the signature is not base64url"))?,
    })
}

/// True when `decoded` was signed with the P-256 key whose public point is `public_key`.
pub fn verify_es256(decoded: &Decoded, public_key: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(decoded.signing_input.as_bytes(), &decoded.signature)
        .is_ok()
}

/// True when `decoded` was signed with the RSA key whose DER `RSAPublicKey` is given.
pub fn verify_rs256(decoded: &Decoded, public_key: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(decoded.signing_input.as_bytes(), &decoded.signature)
        .is_ok()
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
    use serde_json::json;

    #[test]
    fn an_es256_token_verifies_with_its_key_and_not_another() {
        let key = Es256Key::from_pem(&Es256Key::generate_pem().unwrap()).unwrap();
        let other = Es256Key::from_pem(&Es256Key::generate_pem().unwrap()).unwrap();
        let token = key
            .sign(
                &json!({"alg": "ES256", "kid": "K"}),
                &json!({"iss": "T", "iat": 1}),
            )
            .unwrap();
        let decoded = decode(&token).unwrap();
        assert_eq!(decoded.header["kid"], "K");
        assert_eq!(decoded.claims["iss"], "T");
        assert!(verify_es256(&decoded, &key.public_key()));
        assert!(!verify_es256(&decoded, &other.public_key()));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for token in ["", "a.b", "a.b.c", "e30.e30.!!", "a.b.c.d"] {
            assert!(decode(token).is_err(), "{token}");
        }
        assert!(
            Es256Key::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(Rs256Key::from_pem("nothing").is_err());
    }
}
