//! Integration tests: the real app against real PostgreSQL and Redis, one file per
//! capability.

mod access;
mod auth;
mod channels;
mod consents;
mod diagnostics;
mod erasure;
mod errors;
mod events;
mod export;
mod families;
mod health;
mod helpers;
mod hub;
mod lifecycle;
mod privacy;
mod profiles;
mod signups;
mod snils;
