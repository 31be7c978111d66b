//! Background work: the supervisor that runs long-lived tasks beside the API (or alone in
//! `bilet work`), and the tasks every process registers with it.

pub mod presence;
pub mod supervisor;

pub use supervisor::Supervisor;

use crate::startup::AppState;

/// Registers every background task of the service; `serve` and `work` both call this.
pub fn register_all(supervisor: &Supervisor, state: &AppState) {
    let presence = presence::Presence::new(state.redis.clone(), state.process.clone());
    supervisor.register("presence", move |shutdown| {
        let presence = presence.clone();
        async move { presence.run(shutdown).await }
    });
    let (db, index) = (state.db.clone(), state.index.clone());
    supervisor.register("erasure", move |shutdown| {
        crate::privacy::erasure::run(db.clone(), index.clone(), shutdown)
    });
    let db = state.db.clone();
    supervisor.register("signup-deadlines", move |shutdown| {
        crate::participation::deadlines::run(db.clone(), shutdown)
    });
    let db = state.db.clone();
    supervisor.register("idempotency-janitor", move |shutdown| {
        crate::http::idempotency::purge_expired(db.clone(), shutdown)
    });
    crate::notify::hub::Hub::new(state).register(supervisor);
    let (db, catalog) = (state.db.clone(), state.catalog.clone());
    let rules = crate::diagnostics::Rules::from(&state.settings.diagnostics);
    supervisor.register("test-deadlines", move |shutdown| {
        crate::diagnostics::deadlines::run(db.clone(), catalog.clone(), rules, shutdown)
    });
}
