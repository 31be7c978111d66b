//! Every error leaving a route becomes problem+json here: poem's and poem-openapi's own
//! errors (unknown route, wrong method, bad parameter, missing credentials, …) included,
//! so their plain-text defaults never reach a client.

use std::any::Any;
use std::sync::Arc;

use poem::PathPattern;
use poem::error::{MethodNotAllowedError, NotFoundError};
use poem::http::StatusCode;
use poem::{Endpoint, Error, IntoResponse, Request, Response};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
    ParseRequestPayloadError,
};

use super::problem::{BEARER_REQUIRED, FieldError, Problem};
use super::routes::RouteTable;

/// Renders any error as problem+json, keeping the matched route for the access log.
pub async fn into_problem_response(err: Error) -> Response {
    let mut response = problem_for(&err).to_response();
    // An unknown path may still have passed through a nest's catch-all pattern; it
    // matched no route, so it keeps no route label.
    if !err.is::<NotFoundError>()
        && let Some(pattern) = err.data::<PathPattern>()
    {
        response.set_data(pattern.clone());
    }
    response
}

fn problem_for(err: &Error) -> Problem {
    if let Some(problem) = err.downcast_ref::<Problem>() {
        // A dependency being down is logged when its state changes (see `/ready`), not
        // at every request it fails while down.
        if problem.status().is_server_error() && problem.status() != StatusCode::SERVICE_UNAVAILABLE
        {
            tracing::error!(error = %problem, "request failed");
        }
        return problem.clone();
    }
    if err.is::<NotFoundError>() {
        return Problem::not_found("no resource at this path");
    }
    if err.is::<MethodNotAllowedError>() {
        return Problem::method_not_allowed();
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        // poem-openapi's reason may quote the value; name the parameter and the rule only.
        return Problem::validation(vec![FieldError::new(
            e.name,
            "is not a valid value of this parameter's type (see the API document)",
        )]);
    }
    if err.is::<ParsePathError>() {
        // An id that cannot even be parsed names nothing that exists.
        return Problem::not_found("no resource at this path");
    }
    if err.is::<ParseRequestPayloadError>() {
        return Problem::malformed_json("the request body could not be read as JSON");
    }
    if err.is::<ParseMultipartError>() {
        return Problem::bad_request("the multipart request body could not be read");
    }
    if err.is::<ContentTypeError>() {
        return Problem::unsupported_media_type(
            "this content type is not accepted here; send application/json",
        );
    }
    if err.is::<AuthorizationError>() {
        return Problem::unauthorized(BEARER_REQUIRED);
    }
    match err.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
            "the request body is too large",
        ),
        status if status.is_server_error() => {
            tracing::error!(error = %err, cause = ?err, "request failed");
            Problem::internal()
        }
        status => Problem::new(
            status,
            "bad-request",
            "Bad request",
            status
                .canonical_reason()
                .unwrap_or("the request was rejected"),
        ),
    }
}

/// A panic in a handler: logged, and answered with a plain 500 problem.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    tracing::error!(panic = %message, "handler panicked");
    Problem::internal().to_response()
}

/// A 405 says which methods the resource has (RFC 9110 §15.5.6), in `Allow`.
pub async fn allow_on_405<E: Endpoint>(
    next: E,
    req: Request,
    routes: Arc<RouteTable>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => into_problem_response(err).await,
    };
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(poem::http::header::ALLOW)
        && let Some(methods) = routes.allow(&path)
        && let Ok(value) = poem::http::HeaderValue::from_str(&methods)
    {
        response
            .headers_mut()
            .insert(poem::http::header::ALLOW, value);
    }
    Ok(response)
}
