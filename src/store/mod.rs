//! PostgreSQL: connecting (creating the database when it is missing), migrations, and one
//! module per aggregate. All SQL of the service lives under this module; functions take an
//! executor so a caller can put several in one transaction.

pub mod accounts;
pub mod audit;
pub mod consents;
pub mod database;
pub mod diagnostics;
pub mod error;
pub mod families;
pub mod outbox;
pub mod profiles;
pub mod recommendations;
pub mod sessions;

pub use database::{Db, connect, migrate};
pub use error::StoreError;
