//! Reading authentik's request bodies as DRF reads them: an empty body is `{}`, anything else
//! must be `application/json`, parse (Python's `NaN` and `Infinity` literals included) and be an
//! object. Each key is then read by the object's declaration (`object::drf`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use crate::error::{ServiceError, non_field_errors};
use crate::limits::{MAX_JSON_DEPTH, json_nesting_exceeds};
use crate::object::drf::python_type;
use crate::stages::Submitted;

/// The body of a request as JSON, as DRF's parser reads it: an empty body counts as `{}`;
/// otherwise it must be `application/json` and parse.
pub fn json_value(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Submitted<Value> {
    let body = body.map_err(|rejection| match rejection.status() {
        // The guard has read the body already; a rejection here is a broken body.
        StatusCode::PAYLOAD_TOO_LARGE => ServiceError::PayloadTooLarge(0),
        _ => ServiceError::BadRequest(rejection.body_text()),
    })?;
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ServiceError::UnsupportedMediaType(content_type));
    }
    parse_json(&body)
}

/// The body of a write as a JSON object ([`json_value`], and an object).
pub fn json_object(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Submitted<Map<String, Value>> {
    match json_value(headers, body)? {
        Value::Object(map) => Ok(map),
        other => Err(non_field(not_an_object(&other))),
    }
}

/// DRF's serializer message for a body that is JSON but not an object.
pub fn not_an_object(value: &Value) -> String {
    match value {
        Value::Null => "No data provided".to_string(),
        other => format!(
            "Invalid data. Expected a dictionary, but got {}.",
            python_type(other)
        ),
    }
}

fn non_field(message: impl Into<String>) -> ServiceError {
    ServiceError::Validation(non_field_errors(message))
}

/// Python's JSON parser also reads the bare literals `NaN`, `Infinity` and `-Infinity`; they
/// then fail validation like any non-finite number instead of failing the parse. Bodies nested
/// deeper than [`MAX_JSON_DEPTH`] are refused before they are parsed.
fn parse_json(body: &[u8]) -> Result<Value, ServiceError> {
    if json_nesting_exceeds(body, MAX_JSON_DEPTH) {
        return Err(ServiceError::BadRequest(format!(
            "JSON parse error - arrays and objects nest deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    serde_json::from_slice(body).or_else(|err| {
        std::str::from_utf8(body)
            .ok()
            .and_then(quote_non_finite_literals)
            .and_then(|text| serde_json::from_str(&text).ok())
            .ok_or_else(|| ServiceError::BadRequest(format!("JSON parse error - {err}")))
    })
}

/// Replaces the non-finite literals outside strings by Python's text for them (`nan`, `inf`,
/// `-inf`), quoted; `None` when there is none.
fn quote_non_finite_literals(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 8);
    let (mut in_string, mut escaped, mut replaced) = (false, false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => escaped = false,
            }
        } else if c == '"' {
            in_string = true;
        } else {
            let literal = [
                ("-Infinity", "\"-inf\""),
                ("Infinity", "\"inf\""),
                ("NaN", "\"nan\""),
            ]
            .into_iter()
            .find(|(literal, _)| rest.starts_with(literal));
            if let Some((literal, quoted)) = literal {
                out.push_str(quoted);
                rest = &rest[literal.len()..];
                replaced = true;
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    replaced.then_some(out)
}

/// A write's body read as `read` reads an object (a declaration's `from_json`).
pub fn input<T>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    read: fn(&Map<String, Value>) -> T,
) -> Submitted<T> {
    json_object(headers, body).map(|map| read(&map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_literals_are_quoted_outside_strings_only() {
        assert_eq!(
            quote_non_finite_literals(r#"{"a": NaN, "b": "NaN", "c": -Infinity}"#).as_deref(),
            Some(r#"{"a": "nan", "b": "NaN", "c": "-inf"}"#)
        );
        assert_eq!(quote_non_finite_literals(r#"{"a": "x\"NaN"}"#), None);
    }
}
