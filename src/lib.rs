//! bilet: the backend and notification hub behind the mobile apps of a school
//! career-guidance program. `main.rs` parses the command line; everything else is here.

pub mod admin;
pub mod api;
pub mod calendar;
pub mod console;
pub mod contract;
pub mod demo;
pub mod dependency;
pub mod diagnostics;
pub mod doctor;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod pages;
pub mod participation;
pub mod privacy;
pub mod queue;
pub mod security;
pub mod settings;
/// The provider simulators (the `bilet-simulators` crate), in builds with the default
/// `simulators` feature.
#[cfg(feature = "simulators")]
pub use bilet_simulators as simulators;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod worker;
