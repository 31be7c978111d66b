//! Domain types that cannot hold invalid values: each `parse` returns the value or the
//! reason it was refused. No HTTP and no SQL here.

pub mod attendance;
pub mod consents;
pub mod deliveries;
pub mod devices;
pub mod documents;
pub mod domain_events;
pub mod email;
pub mod events;
pub mod ids;
pub mod names;
pub mod password;
pub mod phone;
pub mod region;
pub mod roles;
pub mod snils;
pub mod student;
pub mod vocabulary;

/// Why a value was refused, in words a person can act on.
pub type Reason = String;
