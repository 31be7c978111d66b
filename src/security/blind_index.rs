//! Keyed HMAC-SHA256 digests that let the database enforce "one SNILS, one profile" and
//! look up an e-mail without storing the value in clear.

use base64::Engine as _;
use ring::hmac;

use crate::settings::KeyList;

/// Computes blind-index digests with the one index key (HMAC by `ring`, the project's
/// one HMAC implementation).
#[derive(Clone)]
pub struct BlindIndex {
    key: hmac::Key,
}

impl BlindIndex {
    pub fn new(keys: &KeyList) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &keys.current().key),
        }
    }

    /// The digest of `value` in the domain `purpose` (so equal values of different kinds
    /// never collide).
    pub fn digest(&self, purpose: &str, value: &str) -> Vec<u8> {
        let mut mac = hmac::Context::with_key(&self.key);
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.sign().as_ref().to_vec()
    }

    /// Signs a payload for `purpose`: `base64url(payload ‖ HMAC(purpose, payload)[..16])`.
    /// Links in messages and check-in codes are signed this way.
    pub fn sign_token(&self, purpose: &str, payload: &[u8]) -> String {
        let mac = self.digest(purpose, &hex(payload));
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&mac[..TOKEN_MAC_LEN]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The payload of a token signed for `purpose` (of `payload_len` bytes, or any length
    /// when `None`), or `None` when it is forged or mangled.
    pub fn verify_token(
        &self,
        purpose: &str,
        token: &str,
        payload_len: Option<usize>,
    ) -> Option<Vec<u8>> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let payload_len = match payload_len {
            Some(len) if bytes.len() == len + TOKEN_MAC_LEN => len,
            Some(_) => return None,
            None => bytes.len().checked_sub(TOKEN_MAC_LEN)?,
        };
        let (payload, mac) = bytes.split_at(payload_len);
        let expected = self.digest(purpose, &hex(payload));
        // Both are fixed-length HMAC outputs; compare without short-circuiting.
        let same = mac
            .iter()
            .zip(&expected[..TOKEN_MAC_LEN])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        same.then(|| payload.to_vec())
    }

    /// A short hex form of a digest, for Redis keys that must not hold the value.
    pub fn token(&self, purpose: &str, value: &str) -> String {
        self.digest(purpose, value)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The bytes of a signed token's MAC: 128 bits.
const TOKEN_MAC_LEN: usize = 16;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_stable_keyed_and_domain_separated() {
        let keys = KeyList::generate("i1");
        let index = BlindIndex::new(&keys);
        assert_eq!(
            index.digest("snils", "11223344595"),
            index.digest("snils", "11223344595")
        );
        assert_ne!(
            index.digest("snils", "11223344595"),
            index.digest("email", "11223344595")
        );
        let other = BlindIndex::new(&KeyList::generate("i1"));
        assert_ne!(
            index.digest("snils", "11223344595"),
            other.digest("snils", "11223344595")
        );
    }

    #[test]
    fn the_digest_is_hmac_sha256_of_purpose_nul_value_so_stored_indexes_stay_valid() {
        // Computed independently (Python's hmac module); a change of implementation must
        // not move any digest already stored in the database.
        let keys = KeyList::parse("i1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let hex: String = BlindIndex::new(&keys)
            .digest("snils", "11223344595")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "c23335a3098b22847ccfb673013afb3c3763857f0611e48dc9b99f3f9193ea38"
        );
    }
}
