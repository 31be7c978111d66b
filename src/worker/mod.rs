//! Background work: the supervisor that runs long-lived tasks beside the API (or alone in
//! `bilet work`), and the tasks every process registers with it.

pub mod presence;
pub mod process;
pub mod supervisor;

pub use supervisor::Supervisor;
