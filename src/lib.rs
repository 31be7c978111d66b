//! bilet: the backend and notification hub behind the mobile apps of a school
//! career-guidance program. `main.rs` parses the command line; everything else is here.

pub mod api;
pub mod contract;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod settings;
pub mod simulators;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod worker;
