//! `JsonBody<T>`: the request-body extractor every operation uses instead of poem-openapi's
//! `Json`, so that broken JSON is a 400 `malformed-json` and JSON of the wrong shape is a
//! 422 `validation` naming the field, not one opaque 400.
//!
//! Every JSON body passes here, so here is where what no field may hold is refused, once
//! for all: an array where the API's schema says object (serde would take its items as
//! fields by position), invisible or direction-changing control characters in any string
//! (they reach SMS and e-mail), and dates outside the years [`MIN_YEAR`]–[`MAX_YEAR`]
//! (a date past 9999 cannot be written back in RFC 3339). Error messages name the field
//! and the rule, never the value sent.

use std::ops::Deref;

use chrono::{DateTime, Datelike, NaiveDate};
use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::error::ContentTypeError;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, impl_apirequest_for_payload,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::names::is_forbidden_in_text;
use crate::http::problem::{FieldError, Problem};

/// A JSON request body, parsed with serde and documented with the type's OpenAPI schema.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        matches!(content_type.parse::<mime::Mime>(), Ok(mime)
            if mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON)))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + DeserializeOwned> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> Result<Self> {
        let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        parse_as_documented::<T>(&bytes)
            .map(JsonBody)
            .map_err(Into::into)
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: Type + DeserializeOwned);

/// A JSON request body the client may leave out: no body and no `Content-Type` is `None`;
/// a body is parsed as [`JsonBody`] parses it.
#[derive(Debug, Clone)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: Type> Payload for OptionalJsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        JsonBody::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + DeserializeOwned> ParsePayload for OptionalJsonBody<T> {
    const IS_REQUIRED: bool = false;

    async fn from_request(request: &Request, body: &mut RequestBody) -> Result<Self> {
        let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        parse_as_documented::<T>(&bytes)
            .map(|value| OptionalJsonBody(Some(value)))
            .map_err(Into::into)
    }
}

impl<'a, T: Type + DeserializeOwned> ApiExtractor<'a> for OptionalJsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> Result<Self> {
        match request.content_type() {
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_string(),
            }
            .into()),
            None => {
                let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
                if bytes.is_empty() {
                    Ok(OptionalJsonBody(None))
                } else {
                    Err(ContentTypeError::ExpectContentType.into())
                }
            }
        }
    }
}

/// The earliest and latest year of any date or time a request may carry; each field's
/// own rule narrows it further (events within a few years, birth dates in the past).
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 2100;

/// Parses a JSON body into `T`, first checking it against `T`'s documented schema.
pub fn parse_as_documented<T: Type + DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let value = parse_value(bytes)?;
    let mut registry = Registry::new();
    T::register(&mut registry);
    let mut errors = Vec::new();
    check_shape(&value, &T::schema_ref(), &registry, "", &mut errors);
    check_text(&value, "", &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    from_value(value)
}

/// Parses a JSON document into `T`, telling syntax errors from shape errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    from_value(parse_value(bytes)?)
}

fn parse_value(bytes: &[u8]) -> Result<Value, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::malformed_json(
            "the request body is empty; a JSON object is expected",
        ));
    }
    // Syntax errors say where, never what: serde_json's messages quote no input.
    serde_json::from_slice(bytes).map_err(|err| {
        if err.classify() == serde_json::error::Category::Syntax
            && err.to_string().starts_with("trailing characters")
        {
            return Problem::malformed_json("the request body has data after the JSON value");
        }
        Problem::malformed_json(format!(
            "the request body is not valid JSON: {} at line {} column {}",
            without_position(&err),
            err.line(),
            err.column()
        ))
    })
}

fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        Problem::validation(vec![FieldError::new(field, rule_of(err.inner()))])
    })
}

/// serde's message reduced to the rule that was broken: serde quotes the value it got
/// (`invalid type: string "112-233-445 95", expected u8`), which must not reach the client.
fn rule_of(err: &serde_json::Error) -> String {
    let text = without_position(err);
    let expected = text
        .rfind(", expected ")
        .map(|at| text[at + ", expected ".len()..].to_owned());
    let with_expected = |rule: &str| match &expected {
        Some(expected) => format!("{rule}; expected {expected}"),
        None => rule.to_owned(),
    };
    if text.starts_with("invalid type:") {
        with_expected("has the wrong type")
    } else if text.starts_with("invalid value:") {
        with_expected("has an invalid value")
    } else if text.starts_with("unknown variant") {
        match &expected {
            Some(expected) => format!("is not one of the allowed values: {expected}"),
            None => "is not one of the allowed values".to_owned(),
        }
    } else if text.starts_with("invalid length") {
        with_expected("has the wrong number of items")
    } else if ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|p| text.starts_with(p))
    {
        // Names a field of the request, not a value.
        text
    } else {
        "has an invalid value".to_owned()
    }
}

/// serde's message without its "at line … column …" tail (reported separately, if at all).
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// `a.b[2]`, as serde_path_to_error names fields.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn field_name(path: &str) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

fn resolve<'a>(schema: &'a MetaSchemaRef, registry: &'a Registry) -> Option<&'a MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

/// Walks `value` along the documented schema: objects where objects are expected, dates
/// within the accepted years.
fn check_shape(
    value: &Value,
    schema: &MetaSchemaRef,
    registry: &Registry,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let Some(schema) = resolve(schema, registry) else {
        return;
    };
    for part in &schema.all_of {
        check_shape(value, part, registry, path, errors);
    }
    let alternatives: Vec<&MetaSchema> = schema
        .one_of
        .iter()
        .chain(&schema.any_of)
        .filter_map(|s| resolve(s, registry))
        .collect();
    if value.is_array() && !alternatives.is_empty() && alternatives.iter().all(|s| s.ty == "object")
    {
        errors.push(FieldError::new(
            field_name(path),
            "must be a JSON object, not an array",
        ));
        return;
    }
    match (schema.ty, value) {
        ("object", Value::Array(_)) => errors.push(FieldError::new(
            field_name(path),
            "must be a JSON object, not an array",
        )),
        ("object", Value::Object(map)) => {
            for (key, item) in map {
                let known = schema.properties.iter().find(|(name, _)| name == key);
                match (known, &schema.additional_properties) {
                    (Some((_, property)), _) => {
                        check_shape(item, property, registry, &join(path, key), errors);
                    }
                    (None, Some(extra)) => {
                        check_shape(item, extra, registry, &join(path, key), errors);
                    }
                    (None, None) => {}
                }
            }
        }
        ("array", Value::Array(items)) => {
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter().enumerate() {
                    check_shape(item, item_schema, registry, &format!("{path}[{i}]"), errors);
                }
            }
        }
        ("string", Value::String(text)) => {
            let year = match schema.format {
                Some("date-time") => DateTime::parse_from_rfc3339(text).ok().map(|d| d.year()),
                Some("date") => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .map(|d| d.year()),
                _ => None,
            };
            if year.is_some_and(|y| !(MIN_YEAR..=MAX_YEAR).contains(&y)) {
                errors.push(FieldError::new(
                    field_name(path),
                    format!("must be a date between the years {MIN_YEAR} and {MAX_YEAR}"),
                ));
            }
        }
        _ => {}
    }
}

/// Refuses every string (and object key) holding a character no text we store may
/// carry; see [`is_forbidden_in_text`].
fn check_text(value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::String(text) if text.chars().any(is_forbidden_in_text) => {
            errors.push(FieldError::new(
                field_name(path),
                "contains control, invisible or text-direction characters",
            ));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_text(item, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if key.chars().any(is_forbidden_in_text) {
                    errors.push(FieldError::new(
                        field_name(path),
                        "has a field name with control, invisible or text-direction characters",
                    ));
                    continue;
                }
                check_text(item, &join(path, key), errors);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        grade: u8,
        address: Address,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
    }

    #[test]
    fn broken_json_is_malformed() {
        let problem = parse::<Sample>(b"{\"name\": ").unwrap_err();
        assert_eq!(problem.status().as_u16(), 400);
        assert_eq!(problem.type_uri(), "urn:bilet:problem:malformed-json");
    }

    #[test]
    fn a_wrongly_typed_nested_field_is_named() {
        let problem =
            parse::<Sample>(br#"{"name":"a","grade":7,"address":{"city":5}}"#).unwrap_err();
        assert_eq!(problem.status().as_u16(), 422);
        assert_eq!(problem.document().errors[0].field, "address.city");
    }

    #[test]
    fn a_missing_field_is_a_validation_error() {
        let problem = parse::<Sample>(br#"{"name":"a","address":{"city":"x"}}"#).unwrap_err();
        assert_eq!(problem.status().as_u16(), 422);
        assert!(problem.document().errors[0].message.contains("grade"));
    }

    #[test]
    fn a_type_error_names_the_rule_but_not_the_value() {
        let problem =
            parse::<Sample>(br#"{"name":"a","grade":"seven-secret","address":{"city":"x"}}"#)
                .unwrap_err();
        let message = &problem.document().errors[0].message;
        assert!(!message.contains("seven-secret"), "{message}");
        assert!(
            message.starts_with("has the wrong type; expected"),
            "{message}"
        );
    }

    #[test]
    fn bidi_controls_and_invisible_characters_are_forbidden_but_text_is_not() {
        for c in [
            '\u{202e}', '\u{202a}', '\u{2066}', '\u{2069}', '\u{200b}', '\u{feff}', '\u{0}',
        ] {
            assert!(is_forbidden_in_text(c), "{:x}", c as u32);
        }
        for c in ['a', 'Ё', '№', '\n', '\t', ' ', '\u{200d}', '😀'] {
            assert!(!is_forbidden_in_text(c), "{:x}", c as u32);
        }
    }

    #[test]
    fn trailing_garbage_is_malformed() {
        let problem =
            parse::<Sample>(br#"{"name":"a","grade":7,"address":{"city":"x"}} x"#).unwrap_err();
        assert_eq!(problem.status().as_u16(), 400);
    }
}
