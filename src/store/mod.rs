//! PostgreSQL: connecting (creating the database when it is missing), migrations, and one
//! module per aggregate. All SQL of the service lives under this module; functions take an
//! executor so a caller can put several in one transaction.

pub mod accounts;
pub mod approval_links;
pub mod attendance;
pub mod audit;
pub mod calendar_feeds;
pub mod consents;
pub mod console_sessions;
pub mod database;
pub mod deliveries;
pub mod devices;
pub mod diagnostics;
pub mod erasure;
pub mod error;
pub mod events;
pub mod families;
pub mod idempotency;
pub mod ids;
pub mod installation;
pub mod notices;
pub mod notifications;
pub mod outbox;
pub mod profiles;
pub mod recommendations;
pub mod reminders;
pub mod second_factors;
pub mod sessions;
pub mod signups;
pub mod snils_conflicts;

pub use database::{Db, connect, migrate};
pub use error::StoreError;
