//! Encryption at rest: AES-256-GCM with a fresh random nonce per value, the key id stored
//! with each value (`v1:<key id>:<base64 of nonce ‖ ciphertext>`), and the owner and field
//! bound as associated data so a value cannot be moved to another row or column.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore as _;

use crate::settings::KeyList;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// Encrypts with the current data key and decrypts with any known one.
#[derive(Clone)]
pub struct Cipher {
    keys: KeyList,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("the value is not in the v1 envelope")]
    Malformed,
    #[error("no key with id `{0}` is configured")]
    UnknownKey(String),
    #[error("the value does not decrypt (wrong key, owner or field)")]
    Corrupt,
}

/// Which field of whose record a value belongs to, bound into the ciphertext.
pub struct Context<'a> {
    pub field: &'a str,
    pub owner: uuid::Uuid,
}

impl Context<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("{}|{}", self.field, self.owner).into_bytes()
    }
}

impl Cipher {
    pub fn new(keys: KeyList) -> Self {
        Self { keys }
    }

    /// The id of the key new values are encrypted with.
    pub fn current_key_id(&self) -> &str {
        &self.keys.current().id
    }

    pub fn encrypt(&self, plaintext: &str, context: &Context<'_>) -> String {
        let key = self.keys.current();
        let cipher = Aes256Gcm::new_from_slice(&key.key).expect("keys are 32 bytes");
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = context.aad();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of a bounded value cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!(
            "{VERSION}:{}:{}",
            key.id,
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(blob)
        )
    }

    pub fn decrypt(&self, stored: &str, context: &Context<'_>) -> Result<String, CipherError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(VERSION), Some(key_id), Some(encoded)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(CipherError::Malformed);
        };
        let key = self
            .keys
            .find(key_id)
            .ok_or_else(|| CipherError::UnknownKey(key_id.to_owned()))?;
        let blob = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| CipherError::Malformed)?;
        if blob.len() <= NONCE_LEN {
            return Err(CipherError::Malformed);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new_from_slice(&key.key).expect("keys are 32 bytes");
        let aad = context.aad();
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| CipherError::Corrupt)
    }

    /// The key id a stored value was encrypted with.
    pub fn key_id_of(stored: &str) -> Option<&str> {
        let mut parts = stored.splitn(3, ':');
        match (parts.next(), parts.next()) {
            (Some(VERSION), Some(id)) => Some(id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(field: &str) -> Context<'_> {
        Context {
            field,
            owner: uuid::Uuid::nil(),
        }
    }

    #[test]
    fn a_value_round_trips_and_never_appears_in_clear() {
        let cipher = Cipher::new(KeyList::generate("k1"));
        let stored = cipher.encrypt("112-233-445 95", &context("snils"));
        assert!(stored.starts_with("v1:k1:"));
        assert!(!stored.contains("445"));
        assert_eq!(
            cipher.decrypt(&stored, &context("snils")).unwrap(),
            "112-233-445 95"
        );
    }

    #[test]
    fn each_encryption_uses_a_fresh_nonce() {
        let cipher = Cipher::new(KeyList::generate("k1"));
        assert_ne!(
            cipher.encrypt("same", &context("f")),
            cipher.encrypt("same", &context("f"))
        );
    }

    #[test]
    fn a_value_moved_to_another_field_or_owner_does_not_decrypt() {
        let cipher = Cipher::new(KeyList::generate("k1"));
        let stored = cipher.encrypt("secret", &context("snils"));
        assert_eq!(
            cipher.decrypt(&stored, &context("phone")),
            Err(CipherError::Corrupt)
        );
        let other = Context {
            field: "snils",
            owner: uuid::Uuid::new_v4(),
        };
        assert_eq!(cipher.decrypt(&stored, &other), Err(CipherError::Corrupt));
    }

    #[test]
    fn old_values_decrypt_after_a_new_key_is_added() {
        let old = KeyList::generate("k1");
        let stored = Cipher::new(old.clone()).encrypt("value", &context("f"));
        let mut both = old.clone();
        both.0.extend(KeyList::generate("k2").0);
        let cipher = Cipher::new(both);
        assert_eq!(cipher.current_key_id(), "k2");
        assert_eq!(Cipher::key_id_of(&stored), Some("k1"));
        assert_eq!(cipher.decrypt(&stored, &context("f")).unwrap(), "value");
        let without_old = Cipher::new(KeyList::generate("k3"));
        assert_eq!(
            without_old.decrypt(&stored, &context("f")),
            Err(CipherError::UnknownKey("k1".into()))
        );
    }
}
