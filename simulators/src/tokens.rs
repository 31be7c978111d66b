//! The simulators' side of provider tokens: issuing keys, reading their public halves, and
//! checking the tokens `bilet` signs, as APNs and Google's token endpoint would. A tool for
//! local runs and tests; the service itself signs with `jsonwebtoken`
//! (`notify::providers::jwt`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::Value;

/// A key or token that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a PEM `{0}` block")]
    Pem(&'static str),
    #[error("the key is not usable: {0}")]
    Key(String),
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
}

/// Decodes the first PEM block labelled `label` (e.g. `PRIVATE KEY`) to DER.
pub fn pem_to_der(pem: &str, label: &'static str) -> Result<Vec<u8>, TokenError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or(TokenError::Pem(label))? + begin.len();
    let stop = pem[start..].find(&end).ok_or(TokenError::Pem(label))? + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).map_err(|_| TokenError::Pem(label))
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

/// A new random P-256 key as PKCS#8 PEM, as Apple's `.p8` files are.
pub fn generate_es256_pem() -> Result<String, TokenError> {
    let rng = SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|err| TokenError::Key(err.to_string()))?;
    Ok(der_to_pem(der.as_ref(), "PRIVATE KEY"))
}

/// The uncompressed public point of a PKCS#8 P-256 key, for [`verify_es256`].
pub fn es256_public_key(pem: &str) -> Result<Vec<u8>, TokenError> {
    let der = pem_to_der(pem, "PRIVATE KEY")?;
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &der,
        &SystemRandom::new(),
    )
    .map_err(|err| TokenError::Key(err.to_string()))?;
    Ok(pair.public_key().as_ref().to_vec())
}

/// The DER `RSAPublicKey` of a PKCS#8 RSA key, for [`verify_rs256`].
pub fn rs256_public_key(pem: &str) -> Result<Vec<u8>, TokenError> {
    let der = pem_to_der(pem, "PRIVATE KEY")?;
    let pair = RsaKeyPair::from_pkcs8(&der).map_err(|err| TokenError::Key(err.to_string()))?;
    Ok(pair.public().as_ref().to_vec())
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
pub fn decode(token: &str) -> Result<Decoded, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three dot-separated parts"));
    };
    let json = |part: &str| -> Result<Value, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed("a part is not base64url"))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| TokenError::Malformed("a part is not JSON"))?;
        if value.is_object() {
            Ok(value)
        } else {
            Err(TokenError::Malformed("a part is not a JSON object"))
        }
    };
    Ok(Decoded {
        header: json(header)?,
        claims: json(claims)?,
        signing_input: format!("{header}.{claims}"),
        signature: URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed("the signature is not base64url"))?,
    })
}

/// True when `decoded` was signed with the P-256 key whose public point is `public_key`.
pub fn verify_es256(decoded: &Decoded, public_key: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public_key)
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

/// True when `decoded` was signed with the RSA key whose DER `RSAPublicKey` is given.
pub fn verify_rs256(decoded: &Decoded, public_key: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(decoded.signing_input.as_bytes(), &decoded.signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Signed as the service signs its provider tokens: `jsonwebtoken`, ES256, `kid`.
    fn sign_es256(pem: &str, key_id: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(key_id.to_owned());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    #[test]
    fn a_token_the_service_signs_verifies_with_its_key_and_not_another() {
        let pem = generate_es256_pem().unwrap();
        let other = generate_es256_pem().unwrap();
        let token = sign_es256(&pem, "K", &json!({"iss": "T", "iat": 1}));
        let decoded = decode(&token).unwrap();
        assert_eq!(decoded.header["kid"], "K");
        assert_eq!(decoded.header["alg"], "ES256");
        assert_eq!(decoded.claims["iss"], "T");
        assert!(verify_es256(&decoded, &es256_public_key(&pem).unwrap()));
        assert!(!verify_es256(&decoded, &es256_public_key(&other).unwrap()));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for token in ["", "a.b", "a.b.c", "e30.e30.!!", "a.b.c.d"] {
            assert!(decode(token).is_err(), "{token}");
        }
        assert!(
            es256_public_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(rs256_public_key("nothing").is_err());
    }
}
