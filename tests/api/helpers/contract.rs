//! Conformance that cannot drift: every response the app under test sends, in every
//! integration test, is checked against the published `mobile-contract/openapi.json` —
//! the status is documented for the operation (path template and method), the content
//! type is one documented for that status, and the body is valid against its schema.
//!
//! The check runs inside the app, as the outermost layer of the public listener
//! ([`bilet::startup::Application::with_outer_layer`]), so it sees every response exactly
//! as the client gets it, whoever sent the request (a typed helper, a raw `reqwest`
//! call, a bare TCP socket). A mismatch is recorded, and the test fails when its app is
//! dropped, naming the operation, the status and the validation error.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use poem::endpoint::BoxEndpoint;
use poem::{Body, Endpoint, EndpointExt, Request, Response};
use serde_json::{Map, Value, json};

/// Paths the public listener serves that are not part of the API: the approval and
/// unsubscribe pages, the documents and metrics. They are exempt only while the contract
/// does not list them.
const NOT_API: &[&str] = &[
    "/a/",
    "/u/",
    "/cal/",
    "/console",
    "/docs",
    "/openapi.json",
    "/metrics",
];

/// The published contract, read once per test binary.
static CONTRACT: LazyLock<Contract> = LazyLock::new(Contract::load);

/// Mismatches found while one app served; shared by the app's layer and its `TestApp`.
#[derive(Clone, Default)]
pub struct Mismatches(Arc<Mutex<Vec<String>>>);

impl Mismatches {
    fn record(&self, mismatch: String) {
        self.0.lock().expect("mismatch list").push(mismatch);
    }

    /// Every mismatch found so far, emptying the list.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("mismatch list"))
    }

    /// The layer that checks each response the app sends.
    pub fn layer(&self) -> bilet::startup::OuterLayer {
        let mismatches = self.clone();
        Box::new(move |app: BoxEndpoint<'static, Response>| {
            app.around(move |next, request| {
                let mismatches = mismatches.clone();
                async move { check_exchange(next, request, mismatches).await }
            })
            .boxed()
        })
    }
}

async fn check_exchange<E: Endpoint<Output = Response>>(
    next: E,
    request: Request,
    mismatches: Mismatches,
) -> poem::Result<Response> {
    let method = request.method().as_str().to_ascii_lowercase();
    let path = request.uri().path().to_owned();
    let response = next.call(request).await?;
    // A server-sent event stream (the console's live progress) is no contract document and
    // lasts as long as messages are going out: buffering it would hold back every event.
    if response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
    {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let allow = parts
        .headers
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let exchange = Exchange {
        method: &method,
        path: &path,
        status: parts.status.as_u16(),
        content_type: content_type.as_deref(),
        allow: allow.as_deref(),
        body: &bytes,
    };
    if let Err(mismatch) = CONTRACT.check(&exchange) {
        mismatches.record(mismatch);
    }
    Ok(Response::from_parts(parts, Body::from_bytes(bytes)))
}

/// Checks a response of an app the harness did not start in-process (a `bilet serve`
/// child process), and returns its status; a mismatch fails the test at once.
pub async fn checked(method: &str, path: &str, response: reqwest::Response) -> u16 {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, allow) = (header("content-type"), header("allow"));
    let body = response.bytes().await.expect("the body is read");
    let exchange = Exchange {
        method,
        path,
        status,
        content_type: content_type.as_deref(),
        allow: allow.as_deref(),
        body: &body,
    };
    if let Err(mismatch) = CONTRACT.check(&exchange) {
        panic!("a response did not match mobile-contract/openapi.json:\n{mismatch}");
    }
    status
}

/// One request and the response it got, as the contract sees them.
pub struct Exchange<'a> {
    /// Lower case, as in the document.
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub allow: Option<&'a str>,
    pub body: &'a [u8],
}

struct Operation {
    template: String,
    segments: Vec<Segment>,
    methods: HashMap<String, Value>,
}

enum Segment {
    Literal(String),
    Parameter,
}

/// The contract, its schemas turned into JSON Schema, and a validator per response
/// schema (built on first use).
pub struct Contract {
    operations: Vec<Operation>,
    components: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Contract {
    /// The published contract, as every app of the tests checks against it.
    pub fn published() -> &'static Contract {
        &CONTRACT
    }

    fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/mobile-contract/openapi.json");
        let text = std::fs::read_to_string(path).expect("the published contract is readable");
        let document: Value = serde_json::from_str(&text).expect("the contract is JSON");
        let operations = document["paths"]
            .as_object()
            .expect("the contract has paths")
            .iter()
            .map(|(template, item)| Operation {
                template: template.clone(),
                segments: template
                    .split('/')
                    .skip(1)
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Literal(segment.to_owned())
                        }
                    })
                    .collect(),
                methods: item
                    .as_object()
                    .expect("a path item is an object")
                    .iter()
                    .map(|(method, operation)| (method.clone(), operation.clone()))
                    .collect(),
            })
            .collect();
        let components = json!({
            "schemas": to_json_schema(&document["components"]["schemas"]),
        });
        Self {
            operations,
            components,
            validators: Mutex::default(),
        }
    }

    /// The operation whose template matches `path`; literal segments win over
    /// parameters, as in the router.
    fn route(&self, path: &str) -> Option<&Operation> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        self.operations
            .iter()
            .filter(|op| {
                op.segments.len() == parts.len()
                    && op
                        .segments
                        .iter()
                        .zip(&parts)
                        .all(|(segment, part)| match segment {
                            Segment::Literal(text) => text == part,
                            Segment::Parameter => !part.is_empty(),
                        })
            })
            .max_by_key(|op| {
                op.segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count()
            })
    }

    /// `Ok` when the response is one the contract documents, else what differs.
    pub fn check(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        let Some(operation) = self.route(exchange.path) else {
            if NOT_API
                .iter()
                .any(|prefix| exchange.path.starts_with(prefix))
            {
                return Ok(());
            }
            // No API path: the answer is a problem document all the same.
            let what = format!(
                "{} {} (no such path)",
                exchange.method.to_uppercase(),
                exchange.path
            );
            return self.check_problem(&what, exchange);
        };
        let what = format!("{} {}", exchange.method.to_uppercase(), operation.template);
        let Some(documented) = operation.methods.get(exchange.method) else {
            if exchange.method == "head" && operation.methods.contains_key("get") {
                return Ok(());
            }
            // The path exists, the method does not: 405 with the documented methods.
            if exchange.status != 405 {
                return Err(format!(
                    "{what} is not in the contract, yet it answered {} instead of 405",
                    exchange.status
                ));
            }
            let mut expected: Vec<String> =
                operation.methods.keys().map(|m| m.to_uppercase()).collect();
            expected.sort();
            let mut allowed: Vec<String> = exchange
                .allow
                .unwrap_or_default()
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            allowed.sort();
            if allowed != expected {
                return Err(format!(
                    "{what} answered 405 with Allow {:?}; the contract has {expected:?}",
                    exchange.allow
                ));
            }
            return self.check_problem(&what, exchange);
        };
        let status = exchange.status.to_string();
        let range = format!("{}XX", exchange.status / 100);
        let Some(response) = documented["responses"]
            .get(&status)
            .or_else(|| documented["responses"].get(&range))
            .or_else(|| documented["responses"].get("default"))
        else {
            let mut statuses: Vec<&String> = documented["responses"]
                .as_object()
                .map(|r| r.keys().collect())
                .unwrap_or_default();
            statuses.sort();
            return Err(format!(
                "{what} answered {status}, which the contract does not document (it has {statuses:?}); body: {}",
                String::from_utf8_lossy(exchange.body)
            ));
        };
        let what = format!("{what} → {status}");
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            if exchange.body.is_empty() {
                return Ok(());
            }
            return Err(format!(
                "{what}: the contract documents no body, yet one was sent ({:?}): {}",
                exchange.content_type,
                String::from_utf8_lossy(exchange.body)
            ));
        };
        // Compared whole, parameters included, up to case and spaces.
        let normal = |media: &str| media.replace(' ', "").to_ascii_lowercase();
        let sent = exchange.content_type.map(normal);
        let Some((media, media_type)) = content
            .iter()
            .find(|(media, _)| sent.as_deref() == Some(normal(media).as_str()))
        else {
            return Err(format!(
                "{what}: content type {:?}, the contract has {:?}",
                exchange.content_type,
                content.keys().collect::<Vec<_>>()
            ));
        };
        let key = format!("{what} {media}");
        self.check_body(&key, &what, &media_type["schema"], exchange.body)
    }

    fn check_problem(&self, what: &str, exchange: &Exchange<'_>) -> Result<(), String> {
        let what = format!("{what} → {}", exchange.status);
        if exchange.content_type != Some("application/problem+json") {
            return Err(format!(
                "{what}: content type {:?} where a problem document is due",
                exchange.content_type
            ));
        }
        self.check_body(
            "Problem",
            &what,
            &json!({ "$ref": "#/components/schemas/Problem" }),
            exchange.body,
        )
    }

    fn check_body(&self, key: &str, what: &str, schema: &Value, body: &[u8]) -> Result<(), String> {
        let validator = self.validator(key, schema);
        let instance: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(_) if schema.get("type") == Some(&json!("string")) => {
                Value::String(String::from_utf8_lossy(body).into_owned())
            }
            Err(err) => {
                return Err(format!(
                    "{what}: the body is not JSON ({err}): {}",
                    String::from_utf8_lossy(body)
                ));
            }
        };
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|err| format!("at `{}`: {err}", err.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{what}: the body does not match its schema: {}; body: {instance}",
                errors.join("; ")
            ))
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut validators = self.validators.lock().expect("validators");
        validators
            .entry(key.to_owned())
            .or_insert_with(|| {
                // The components travel in the root, so `#/components/schemas/…` resolves.
                let root = json!({
                    "allOf": [to_json_schema(schema)],
                    "components": self.components,
                });
                Arc::new(
                    jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .should_validate_formats(true)
                        .build(&root)
                        .unwrap_or_else(|err| {
                            panic!("the contract's schema for {key} compiles: {err}")
                        }),
                )
            })
            .clone()
    }
}

/// An OpenAPI 3.0 schema as the JSON Schema it means: `nullable` admits `null`, and a
/// boolean `exclusiveMinimum`/`exclusiveMaximum` becomes the number it qualifies.
pub fn to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let converted = match key.as_str() {
                    // Names of properties or schemas, not schemas' keywords: keep the keys.
                    "properties" | "schemas" => Value::Object(
                        value
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| (k.clone(), to_json_schema(v)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    "example" | "enum" | "default" | "required" => value.clone(),
                    _ => to_json_schema(value),
                };
                out.insert(key.clone(), converted);
            }
            for (flag, bound) in [
                ("exclusiveMinimum", "minimum"),
                ("exclusiveMaximum", "maximum"),
            ] {
                if let Some(Value::Bool(exclusive)) = out.remove(flag)
                    && exclusive
                    && let Some(limit) = out.remove(bound)
                {
                    out.insert(flag.to_owned(), limit);
                }
            }
            if out.remove("nullable") == Some(Value::Bool(true)) {
                let inner = Value::Object(out);
                return json!({ "anyOf": [inner, { "type": "null" }] });
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}
