//! The HTTP edge: what wraps every route, whatever resource it serves. Request ids,
//! access logs and metrics, security headers, the body-size limit, idempotency keys, and
//! turning every error into problem+json (`problem`, the one error type). The edge looks
//! only down: it is handed what it needs ([`Edge`]), the routes' methods included, and
//! imports nothing from `api/` or `startup`.

pub mod body_limit;
pub mod errors;
pub mod headers;
pub mod idempotency;
pub mod observe;
pub mod problem;
pub mod request_id;
pub mod routes;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Response, middleware::CatchPanic};

use crate::metrics::Metrics;
use crate::security::tokens::TokenSigner;
use crate::store::Db;
use routes::RouteTable;

/// What the edge needs from the application.
#[derive(Clone)]
pub struct Edge {
    pub metrics: Metrics,
    /// The largest request body read, in bytes.
    pub body_limit: usize,
    /// Where idempotency keys and their first responses are kept.
    pub db: Db,
    /// Verifies the access token of a request that carries an idempotency key.
    pub tokens: TokenSigner,
    /// The methods of every route the wrapped endpoint serves.
    pub routes: Arc<RouteTable>,
}

/// Wraps the routes with the edge middleware, outermost first: observe (request id,
/// log, metrics), security headers, panic catcher, `Allow` on 405, error → problem+json,
/// body limit, idempotency keys.
pub fn wrap<E: Endpoint + 'static>(
    routes: E,
    edge: &Edge,
) -> impl Endpoint<Output = Response> + use<E> {
    let metrics = edge.metrics.clone();
    let body_limit = edge.body_limit;
    let limit_routes = edge.routes.clone();
    let allow_routes = edge.routes.clone();
    let idempotency_edge = edge.clone();
    routes
        .around(move |ep, req| idempotency::apply(ep, req, idempotency_edge.clone()))
        .around(move |ep, req| {
            let routes = limit_routes.clone();
            async move { body_limit::enforce(ep, req, body_limit, &routes).await }
        })
        .catch_all_error(errors::into_problem_response)
        .around(move |ep, req| errors::allow_on_405(ep, req, allow_routes.clone()))
        .with(CatchPanic::new().with_handler(errors::panic_response))
        .around(headers::secure)
        .around(move |ep, req| observe::observe(ep, req, metrics.clone()))
}
