//! PostgreSQL: connecting (creating the database when it is missing), migrations, and one
//! module per aggregate. All SQL of the service lives under this module.

pub mod database;

pub use database::{Db, connect, migrate};
