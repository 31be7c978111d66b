//! Integration tests: the real app against real PostgreSQL and Redis, one file per
//! capability.

mod access;
mod auth;
mod consents;
mod diagnostics;
mod errors;
mod families;
mod health;
mod helpers;
mod lifecycle;
mod privacy;
mod profiles;
