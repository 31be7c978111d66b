//! The request-body limit, enforced on the bytes actually read: a `Content-Length` over
//! the limit is refused before reading, and a body without one (chunked) is read only up
//! to the limit. The JSON API has no streaming uploads, so the body is buffered here.

use futures_util::StreamExt;
use poem::http::header;
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};

use super::problem::Problem;
use super::routes::RouteTable;

pub async fn enforce<E: Endpoint>(
    next: E,
    mut req: Request,
    limit: usize,
    routes: &RouteTable,
) -> Result<Response> {
    if routes.lacks_method(req.uri().path(), req.method()) {
        // A method the route lacks is a 405 whatever the body; nothing reads it.
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Problem::payload_too_large(limit).into());
    }

    let mut stream = req.take_body().into_bytes_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| Problem::bad_request("the request body could not be read"))?;
        if buffer.len() + chunk.len() > limit {
            return Err(Problem::payload_too_large(limit).into());
        }
        buffer.extend_from_slice(&chunk);
    }
    req.set_body(Body::from_vec(buffer));
    next.call(req).await.map(IntoResponse::into_response)
}
