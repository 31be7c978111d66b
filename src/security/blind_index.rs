//! Keyed HMAC-SHA256 digests that let the database enforce "one SNILS, one profile" and
//! look up an e-mail without storing the value in clear.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::settings::KeyList;

/// Computes blind-index digests with the one index key.
#[derive(Clone)]
pub struct BlindIndex {
    key: [u8; 32],
}

impl BlindIndex {
    pub fn new(keys: &KeyList) -> Self {
        Self {
            key: keys.current().key,
        }
    }

    /// The digest of `value` in the domain `purpose` (so equal values of different kinds
    /// never collide).
    pub fn digest(&self, purpose: &str, value: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
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
}
