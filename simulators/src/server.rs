//! The HTTP server under the HTTP simulators: HTTP/1.1 and cleartext HTTP/2 (prior
//! knowledge) on one port, a handler per simulator, and a way for a handler to drop the
//! whole connection mid-request, as a failing provider does. Built on hyper directly,
//! because a handler must be able to kill its connection, which poem does not offer.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Largest request body a simulator reads.
const MAX_BODY: usize = 1024 * 1024;
/// How long in-flight requests get once the simulator is stopping.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A request, its body read.
#[derive(Debug)]
pub struct SimRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl SimRequest {
    /// A header as text, if present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer token of `authorization`, if any.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    }

    /// The query string's pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_pairs(self.query.as_bytes())
    }
}

/// Decodes `application/x-www-form-urlencoded` bytes.
pub fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

/// What a handler does with a request.
pub enum Reply {
    Respond(Box<Response<Full<Bytes>>>),
    /// Close the connection without an answer (every request on it fails).
    Drop,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Reply::Respond(Box::new(response(
            status,
            "application/json",
            body.to_string(),
        )))
    }

    /// A plain-text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Reply::Respond(Box::new(response(
            status,
            "text/plain; charset=utf-8",
            body.into(),
        )))
    }

    /// Adds a header to an answer.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        if let Reply::Respond(response) = &mut self
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            response.headers_mut().insert(name, value);
        }
        self
    }
}

fn response(status: u16, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The future a handler returns.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
/// A simulator's request handler.
pub type Handler = Arc<dyn Fn(SimRequest) -> ReplyFuture + Send + Sync>;

/// Serves `handler` on `listener` until `shutdown`; every task is tracked by `tracker`.
pub fn spawn(
    listener: TcpListener,
    handler: Handler,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> std::io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let connections = tracker.clone();
    tracker.spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        tracing::warn!(error = %err, "simulator accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = shutdown.cancelled() => break,
            };
            let _ = stream.set_nodelay(true);
            connections.spawn(serve_connection(stream, handler.clone(), shutdown.clone()));
        }
    });
    Ok(addr)
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    handler: Handler,
    shutdown: CancellationToken,
) {
    let dropped = CancellationToken::new();
    let drop_signal = dropped.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let handler = handler.clone();
        let drop_signal = drop_signal.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = match Limited::new(body, MAX_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return Ok::<_, Infallible>(response(
                        413,
                        "text/plain; charset=utf-8",
                        "request body too large".into(),
                    ));
                }
            };
            let request = SimRequest {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                version: parts.version,
                headers: parts.headers,
                body,
            };
            match handler(request).await {
                Reply::Respond(response) => Ok(*response),
                Reply::Drop => {
                    drop_signal.cancel();
                    std::future::pending().await
                }
            }
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        // Dropping the connection future closes the socket under every open stream.
        () = dropped.cancelled() => {}
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
    }
}
