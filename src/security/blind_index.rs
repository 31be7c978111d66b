//! Keyed HMAC-SHA256 digests that let the database enforce "one SNILS, one profile" and
//! look up an e-mail without storing the value in clear.

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

    /// A short hex form of a digest, for Redis keys that must not hold the value.
    pub fn token(&self, purpose: &str, value: &str) -> String {
        self.digest(purpose, value)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
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
