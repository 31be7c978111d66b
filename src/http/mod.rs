//! The HTTP edge: what wraps every route, whatever resource it serves. Request ids,
//! access logs and metrics, security headers, the body-size limit, idempotency keys, and
//! turning every error into problem+json.

pub mod body_limit;
pub mod errors;
pub mod headers;
pub mod idempotency;
pub mod observe;
pub mod request_id;

use poem::{Endpoint, EndpointExt, Response, middleware::CatchPanic};

use crate::startup::AppState;

/// Wraps the routes with the edge middleware, outermost first: observe (request id,
/// log, metrics), security headers, panic catcher, `Allow` on 405, error → problem+json,
/// body limit, idempotency keys.
pub fn wrap<E: Endpoint + 'static>(
    routes: E,
    state: &AppState,
) -> impl Endpoint<Output = Response> + use<E> {
    let metrics = state.metrics.clone();
    let body_limit = state.settings.http.body_limit;
    let idempotency_state = state.clone();
    routes
        .around(move |ep, req| idempotency::apply(ep, req, idempotency_state.clone()))
        .around(move |ep, req| body_limit::enforce(ep, req, body_limit))
        .catch_all_error(errors::into_problem_response)
        .around(errors::allow_on_405)
        .with(CatchPanic::new().with_handler(errors::panic_response))
        .around(headers::secure)
        .around(move |ep, req| observe::observe(ep, req, metrics.clone()))
}
