//! Integration tests: the real app against real PostgreSQL and Redis, one file per
//! capability.

mod auth;
mod errors;
mod health;
mod helpers;
mod lifecycle;
