//! Protecting people and their data: keys, encryption at rest, the SNILS blind index,
//! password hashing, access and refresh tokens, and rate limits.

pub mod blind_index;
pub mod check_in;
pub mod cipher;
pub mod keys;
pub mod login_throttle;
pub mod password;
pub mod rate_limit;
pub mod tokens;
pub mod totp;

pub use keys::Keys;
