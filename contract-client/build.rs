//! Generates the client from `mobile-contract/openapi.json` with progenitor's generator.
//!
//! A build script rather than `progenitor::generate_api!`: the contract says two things
//! progenitor 0.11 cannot take as they are (below), and a build script can adapt the
//! generator's view of the document before generating, list every adaptation for the
//! crate (`ADAPTATIONS`, which a test pins), and write the generated code, formatted, to
//! `$OUT_DIR/client.rs` where one can read it. The macro takes the file as it is.
//!
//! What the generator cannot take, and what this script does about it:
//! - An operation whose success statuses carry different bodies (`link_child` and
//!   `accept_invitation`: 201 `FamilyMember`, 202 `LinkRequestView`): progenitor allows
//!   one success type per operation (it panics, `assertion failed:
//!   response_types.len() <= 1`). Both statuses get one `oneOf` of the bodies, an
//!   untagged enum in Rust; the status stays readable on the response.
//! - Error bodies are `application/problem+json`, and progenitor types only
//!   `application/json` (the rest become an untyped byte stream), and only one error type
//!   per operation. Every error status is given to it as `application/json` of the base
//!   `Problem` schema, so errors arrive typed as `Problem`; the per-status `enum` of problem
//!   `type`s is left out of the client.
//!
//! With `BILET_CONTRACT_CLIENT_UNADAPTED=1` the script generates from the document as
//! published, to see what progenitor itself says about it.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

const CONTRACT: &str = "../mobile-contract/openapi.json";
const PROBLEM_JSON: &str = "application/problem+json";

fn main() {
    println!("cargo:rerun-if-changed={CONTRACT}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BILET_CONTRACT_CLIENT_UNADAPTED");
    let text = std::fs::read_to_string(CONTRACT)
        .unwrap_or_else(|err| panic!("cannot read {CONTRACT}: {err}"));
    let mut doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{CONTRACT} is not JSON: {err}"));
    let adaptations = if std::env::var_os("BILET_CONTRACT_CLIENT_UNADAPTED").is_some() {
        Vec::new()
    } else {
        adapt(&mut doc)
    };
    let spec: openapiv3::OpenAPI = serde_json::from_value(doc)
        .unwrap_or_else(|err| panic!("{CONTRACT} is not an OpenAPI 3.0 document: {err}"));

    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Positional)
        .with_tag(progenitor::TagStyle::Merged);
    let tokens = progenitor::Generator::new(&settings)
        .generate_tokens(&spec)
        .unwrap_or_else(|err| panic!("progenitor cannot generate a client from {CONTRACT}: {err}"));
    let file: syn::File = syn::parse2(tokens)
        .unwrap_or_else(|err| panic!("progenitor generated code that does not parse: {err}"));

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("client.rs"), prettyplease::unparse(&file))
        .expect("OUT_DIR is writable");
    let mut listed = String::from("&[\n");
    for adaptation in &adaptations {
        writeln!(listed, "    {adaptation:?},").expect("writing to a String");
    }
    listed.push(']');
    std::fs::write(out.join("adaptations.rs"), listed).expect("OUT_DIR is writable");
}

/// Adapts the generator's view of the document (see the module's documentation) and
/// returns one line per adaptation made.
fn adapt(doc: &mut Value) -> Vec<String> {
    let mut made = Vec::new();
    let mut outcomes = Map::new();
    let mut problems = false;
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
        {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            if let Some(line) = one_success_body(&id, responses, &mut outcomes) {
                made.push(line);
            }
            problems |= problems_as_json(responses);
        }
    }
    if problems {
        made.push(format!(
            "errors: {PROBLEM_JSON} read as application/json of Problem"
        ));
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.extend(outcomes);
    }
    made
}

/// When the 2xx responses of an operation carry different bodies, points each at one new
/// schema `<Operation>Outcome`, the `oneOf` of those bodies.
fn one_success_body(
    id: &str,
    responses: &mut Map<String, Value>,
    outcomes: &mut Map<String, Value>,
) -> Option<String> {
    let successes: Vec<(String, Value)> = responses
        .iter()
        .filter(|(status, _)| status.starts_with('2'))
        .map(|(status, response)| {
            let body = response
                .get("content")
                .and_then(Value::as_object)
                .and_then(|content| content.values().next())
                .and_then(|media| media.get("schema"))
                .cloned()
                .unwrap_or(Value::Null);
            (status.clone(), body)
        })
        .collect();
    let mut bodies: Vec<Value> = Vec::new();
    for (_, body) in &successes {
        if !bodies.contains(body) {
            bodies.push(body.clone());
        }
    }
    if bodies.len() < 2 {
        return None;
    }
    let name = format!("{}Outcome", pascal(id));
    let names: Vec<String> = bodies.iter().map(describe).collect();
    outcomes.insert(
        name.clone(),
        json!({
            "description": format!("What `{id}` answers: {}.", names.join(" or ")),
            "oneOf": bodies,
        }),
    );
    for (status, _) in &successes {
        if let Some(content) = responses
            .get_mut(status)
            .and_then(|r| r.get_mut("content"))
            .and_then(Value::as_object_mut)
        {
            for media in content.values_mut() {
                media["schema"] = json!({ "$ref": format!("#/components/schemas/{name}") });
            }
        }
    }
    let pairs: Vec<String> = successes
        .iter()
        .map(|(status, body)| format!("{status} {}", describe(body)))
        .collect();
    Some(format!(
        "{id}: success bodies differ ({}); all read as {name}, the oneOf of them",
        pairs.join(", ")
    ))
}

/// Presents every `application/problem+json` error of an operation as `application/json`
/// of the base `Problem` schema; true when there was one.
fn problems_as_json(responses: &mut Map<String, Value>) -> bool {
    let mut any = false;
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        if content.remove(PROBLEM_JSON).is_some() {
            content.insert(
                "application/json".to_owned(),
                json!({ "schema": { "$ref": "#/components/schemas/Problem" } }),
            );
            any = true;
        }
    }
    any
}

/// A schema's name for a person: the name of a `$ref`, else `inline`.
fn describe(schema: &Value) -> String {
    schema["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or("inline")
        .to_owned()
}

/// `link_child` → `LinkChild`.
fn pascal(id: &str) -> String {
    id.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}
