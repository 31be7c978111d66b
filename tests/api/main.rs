//! Integration tests: the real app against real PostgreSQL and Redis, one file per
//! capability.

// A test fails loudly on what it did not expect; its helpers unwrap too.
#![allow(clippy::unwrap_used)]

mod access;
mod after_signup;
mod auth;
mod calendar;
mod channels;
mod consents;
mod console;
mod console2;
mod contract;
mod diagnostics;
mod edge;

mod erasure;
mod errors;
mod events;
mod export;
mod families;
mod family_trust;
mod first_run;
mod health;
mod helpers;
mod hub;
mod hub_cluster;
mod hub_faults;
mod lifecycle;
mod passwords;
mod privacy;
mod profiles;
mod reminders;
mod settled;
mod signups;
mod snils;
mod typed_client;
