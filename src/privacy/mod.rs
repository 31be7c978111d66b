//! Personal data under 152-ФЗ: sealing profiles into encrypted rows and opening them, the
//! erasure job after consent is withdrawn, and re-encryption under a new key.

pub mod consent_texts;
pub mod erasure;
pub mod rotation;
pub mod vault;

pub use vault::Vault;
