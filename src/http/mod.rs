//! The HTTP edge: what wraps every route, whatever resource it serves. Request ids,
//! access logs and metrics, the body-size limit, and turning every error into
//! problem+json.

pub mod body_limit;
pub mod errors;
pub mod observe;
pub mod request_id;

use poem::{Endpoint, EndpointExt, Response, middleware::CatchPanic};

use crate::metrics::Metrics;

/// Wraps the routes with the edge middleware, outermost first: observe (request id,
/// log, metrics), panic catcher, error → problem+json, body limit.
pub fn wrap(
    routes: impl Endpoint + 'static,
    metrics: Metrics,
    body_limit: usize,
) -> impl Endpoint<Output = Response> {
    routes
        .around(move |ep, req| body_limit::enforce(ep, req, body_limit))
        .catch_all_error(errors::into_problem_response)
        .with(CatchPanic::new().with_handler(errors::panic_response))
        .around(move |ep, req| observe::observe(ep, req, metrics.clone()))
}
