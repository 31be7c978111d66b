//! Online diagnostics: the test catalog (definitions as data), scoring, the attempt
//! lifecycle that survives lost connections, the deadline worker, and the choice of
//! events to recommend from results. HTTP lives in `api::diagnostics` and
//! `api::recommendations`; SQL in `store::diagnostics` and `store::recommendations`.

pub mod answers;
pub mod attempts;
pub mod catalog;
pub mod deadlines;
pub mod recommendations;
pub mod scoring;

pub use attempts::{AttemptError, Rules};
pub use catalog::{Catalog, CatalogError, TestDefinition};
