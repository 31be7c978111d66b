//! One access-log line and one metrics sample per request, labelled by the route template
//! (never the raw path, which may hold ids or tokens), inside a span carrying the request id.
//! Every label comes from a closed set: a client cannot grow the metrics by making up
//! methods or paths.

use std::time::Instant;

use poem::PathPattern;
use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use tracing::Instrument;

use super::request_id::{self, RequestId};
use crate::metrics::Metrics;

/// Route label for requests that matched no route.
const UNMATCHED: &str = "unmatched";

pub async fn observe<E: Endpoint>(next: E, mut req: Request, metrics: Metrics) -> Result<Response> {
    let request_id = RequestId::from_client(
        req.headers()
            .get(request_id::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    req.set_data(request_id.clone());
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %request_id, method = %method);
    let started = Instant::now();

    let mut response = match next.call(req).instrument(span.clone()).await {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };

    let latency = started.elapsed();
    let route = response
        .data::<PathPattern>()
        .map(|p| p.0.to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let status = response.status().as_u16();
    metrics.observe_request(method, &route, status, latency);
    span.in_scope(|| {
        tracing::info!(
            route = %route,
            status,
            // Hundredths of a millisecond: 0.23, not 0.22917099999999999.
            latency_ms = (latency.as_secs_f64() * 100_000.0).round() / 100.0,
            "request finished"
        );
    });
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    Ok(response)
}

/// The method as a label: one of the standard methods, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_are_labelled_other() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let made_up = Method::from_bytes(b"MADEUP42").unwrap();
        assert_eq!(method_label(&made_up), "other");
    }
}
