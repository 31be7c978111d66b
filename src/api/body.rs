//! `JsonBody<T>`: the request-body extractor every operation uses instead of poem-openapi's
//! `Json`, so that broken JSON is a 400 `malformed-json` and JSON of the wrong shape is a
//! 422 `validation` naming the field, not one opaque 400.

use std::ops::Deref;

use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::impl_apirequest_for_payload;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::DeserializeOwned;

use super::problem::{FieldError, Problem};

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
        let bytes = Vec::<u8>::from_request(request, body).await?;
        parse(&bytes).map(JsonBody).map_err(Into::into)
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: Type + DeserializeOwned);

/// Parses a JSON document into `T`, telling syntax errors from shape errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::malformed_json(
            "the request body is empty; a JSON object is expected",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".to_owned() } else { path };
                Problem::validation(vec![FieldError::new(field, without_position(&inner))])
            }
            _ => Problem::malformed_json(format!(
                "the request body is not valid JSON: {} at line {} column {}",
                without_position(&inner),
                inner.line(),
                inner.column()
            )),
        }
    })?;
    deserializer
        .end()
        .map_err(|_| Problem::malformed_json("the request body has data after the JSON value"))?;
    Ok(value)
}

/// serde's message without its "at line … column …" tail (reported separately, if at all).
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
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
    fn trailing_garbage_is_malformed() {
        let problem =
            parse::<Sample>(br#"{"name":"a","grade":7,"address":{"city":"x"}} x"#).unwrap_err();
        assert_eq!(problem.status().as_u16(), 400);
    }
}
