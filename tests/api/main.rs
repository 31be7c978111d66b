//! Integration tests: the real app against real PostgreSQL and Redis, one file per
//! capability.

mod channels;
mod errors;
mod health;
mod helpers;
mod lifecycle;
