//! Security headers on every response, and the Content-Security-Policy of the HTML the
//! service serves. Responses carry personal data and tokens, so nothing is cached unless
//! a handler says otherwise (`Cache-Control: no-store`); nothing is sniffed, framed or
//! sent a referrer. API responses get a CSP that allows nothing; the pages (`src/pages.rs`)
//! and `/docs` set their own, allowing exactly their inline style and scripts by hash.

use base64::Engine;
use poem::http::{HeaderMap, HeaderValue, header};
use poem::web::Html;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Result, Route, get, handler};
use sha2::{Digest, Sha256};

/// The CSP of responses that are not HTML: no content may load, no page may frame them.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds the headers every response must carry, keeping any a handler set itself.
pub async fn secure<E: Endpoint>(next: E, req: Request) -> Result<Response> {
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };
    apply(response.headers_mut());
    Ok(response)
}

fn apply(headers: &mut HeaderMap) {
    let defaults = [
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, API_CSP),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// `'sha256-…'`: a CSP source allowing exactly this inline script or style.
pub fn csp_hash(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The hashes of every inline `<script>` of an HTML document.
fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<script") {
        let tag = &rest[open..];
        let (Some(body_start), Some(close)) = (tag.find('>'), tag.find("</script>")) else {
            break;
        };
        if body_start < close {
            hashes.push(csp_hash(&tag[body_start + 1..close]));
        }
        rest = &tag[close..];
    }
    hashes
}

/// The CSP of the Swagger UI page: its two inline scripts by hash (no `eval`), its styles
/// (it sets many inline), images and fonts from itself or `data:`, requests to this
/// service only, and never in a frame.
fn docs_csp(html: &str) -> String {
    format!(
        "default-src 'none'; script-src {}; style-src 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        inline_script_hashes(html).join(" ")
    )
}

/// `/docs`: the Swagger UI page with its CSP.
pub fn docs(html: String) -> impl Endpoint + 'static {
    let csp = HeaderValue::from_str(&docs_csp(&html)).expect("hashes are header-safe");
    Route::new()
        .at("/", get(show_docs))
        .data(DocsPage { html, csp })
}

#[derive(Clone)]
struct DocsPage {
    html: String,
    csp: HeaderValue,
}

#[handler]
fn show_docs(page: poem::web::Data<&DocsPage>) -> Response {
    let mut response = Html(page.html.clone()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, page.csp.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_inline_script_is_hashed() {
        let html = "<html><script charset=\"UTF-8\">a()</script><p/><script>b()</script>";
        assert_eq!(
            inline_script_hashes(html),
            vec![csp_hash("a()"), csp_hash("b()")]
        );
    }

    #[test]
    fn handler_headers_are_kept_and_the_rest_added() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        apply(&mut headers);
        assert_eq!(headers[header::CACHE_CONTROL], "max-age=60");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
}
