//! Reading authentik's request bodies as DRF reads them: tolerant where its clients rely on it
//! (numbers for strings, numeric strings for numbers, many boolean spellings) and strict where
//! it must be (NaN, NUL characters, non-JSON bodies).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::error::{ErrorTree, ServiceError, non_field_errors};
use crate::flows::FlowInput;
use crate::limits::{MAX_JSON_DEPTH, json_nesting_exceeds};
use crate::stages::{CaptchaStageInput, Submitted};
use crate::validation::{
    Field, INVALID_BOOLEAN, INVALID_NUMBER, NOT_A_STRING, NOT_NULL, NUMBER_STRING_TOO_LARGE,
};

/// DRF refuses numeric strings longer than this before parsing them.
const MAX_NUMBER_STRING_CHARS: usize = 1000;
const TRUE_SPELLINGS: &[&str] = &[
    "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1",
];
const FALSE_SPELLINGS: &[&str] = &[
    "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0",
];

/// The body of a write as a JSON object: an empty body counts as `{}`; otherwise it must be
/// `application/json`, parse, and be an object.
pub fn json_object(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Submitted<Map<String, Value>> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ServiceError::PayloadTooLarge(crate::limits::BODY_LIMIT),
        _ => ServiceError::BadRequest(rejection.body_text()),
    })?;
    if body.is_empty() {
        return Ok(Map::new());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ServiceError::UnsupportedMediaType(content_type));
    }
    match parse_json(&body)? {
        Value::Object(map) => Ok(map),
        Value::Null => Err(non_field("No data provided")),
        other => Err(non_field(format!(
            "Invalid data. Expected a dictionary, but got {}.",
            python_type(&other)
        ))),
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

/// Python's name of a JSON value's type, as DRF puts it in messages.
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `str(value)` in Python, for values DRF turns into text.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => python_float_repr(f),
            _ => n.to_string(),
        },
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        python_repr(&Value::String(k.clone())),
                        python_repr(v)
                    )
                })
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// Python's `repr(float)`: the shortest round-tripping digits, in fixed notation for exponents
/// from -4 to 15 (always with a fractional part), otherwise as `1.5e+16`.
fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits = mantissa.replace('.', "");
    if (-4..16).contains(&exponent) {
        if exponent < 0 {
            let zeros = "0".repeat((-exponent - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        } else {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
            }
        }
    } else {
        let mantissa = match digits.split_at(1) {
            (first, "") => first.to_string(),
            (first, rest) => format!("{first}.{rest}"),
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exponent_sign}{:02}", exponent.abs())
    }
}

/// Python's `float(text)`: surrounding white space, `_` between digits, `inf`, `nan`.
fn python_float(text: &str) -> Option<f64> {
    let text = crate::validation::trim(text);
    let bytes = text.as_bytes();
    let mut cleaned = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if c == '_' {
            let digit_before = i > 0 && bytes[i - 1].is_ascii_digit();
            let digit_after = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !(digit_before && digit_after) {
                return None;
            }
        } else {
            cleaned.push(c);
        }
    }
    cleaned.parse().ok()
}

/// Python's `int(text)`, saturating where Python's integers would grow past `i64`.
pub fn python_int(text: &str) -> Option<i64> {
    let text = crate::validation::trim(text);
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars().filter(|c| *c != '_') {
        let digit = c.to_digit(10)? as i64;
        value = value.saturating_mul(10).saturating_add(digit);
    }
    Some(if negative { -value } else { value })
}

fn absent_or_null<T>(value: Option<&Value>) -> Option<Field<T>> {
    match value {
        None => Some(Field::Absent),
        Some(Value::Null) => Some(Field::Rejected(ErrorTree::message(NOT_NULL))),
        Some(_) => None,
    }
}

/// DRF's CharField: strings, and numbers as their Python text.
fn string_field(value: Option<&Value>) -> Field<String> {
    absent_or_null(value).unwrap_or_else(|| match value {
        Some(Value::String(s)) => Field::Given(s.clone()),
        Some(number @ Value::Number(_)) => Field::Given(python_str(number)),
        _ => Field::Rejected(ErrorTree::message(NOT_A_STRING)),
    })
}

/// DRF's ChoiceField: any value, compared by its Python text.
fn choice_field(value: Option<&Value>) -> Field<String> {
    absent_or_null(value).unwrap_or_else(|| Field::Given(python_str(value.expect("present"))))
}

/// DRF's BooleanField.
fn bool_field(value: Option<&Value>) -> Field<bool> {
    absent_or_null(value).unwrap_or_else(|| {
        let parsed = match value.expect("present") {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_f64() {
                Some(1.0) => Some(true),
                Some(0.0) => Some(false),
                _ => None,
            },
            Value::String(s) if TRUE_SPELLINGS.contains(&s.as_str()) => Some(true),
            Value::String(s) if FALSE_SPELLINGS.contains(&s.as_str()) => Some(false),
            _ => None,
        };
        parsed.map_or_else(
            || Field::Rejected(ErrorTree::message(INVALID_BOOLEAN)),
            Field::Given,
        )
    })
}

/// DRF's FloatField: numbers, booleans (as 1.0 and 0.0) and numeric strings. Non-finite values
/// pass through here and are refused by the shared rules.
fn number_field(value: Option<&Value>) -> Field<f64> {
    absent_or_null(value).unwrap_or_else(|| match value.expect("present") {
        Value::Number(n) => n.as_f64().map_or_else(
            || Field::Rejected(ErrorTree::message(INVALID_NUMBER)),
            Field::Given,
        ),
        Value::Bool(b) => Field::Given(if *b { 1.0 } else { 0.0 }),
        Value::String(s) if s.chars().count() > MAX_NUMBER_STRING_CHARS => {
            Field::Rejected(ErrorTree::message(NUMBER_STRING_TOO_LARGE))
        }
        Value::String(s) => python_float(s).map_or_else(
            || Field::Rejected(ErrorTree::message(INVALID_NUMBER)),
            Field::Given,
        ),
        _ => Field::Rejected(ErrorTree::message(INVALID_NUMBER)),
    })
}

fn flow_item(value: &Value) -> Field<FlowInput> {
    let Value::Object(map) = value else {
        return Field::Rejected(match value {
            Value::Null => ErrorTree::message(NOT_NULL),
            other => ErrorTree::non_field(format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type(other)
            )),
        });
    };
    Field::Given(FlowInput {
        name: string_field(map.get("name")),
        slug: string_field(map.get("slug")),
        title: string_field(map.get("title")),
        designation: choice_field(map.get("designation")),
        policy_engine_mode: choice_field(map.get("policy_engine_mode")),
        compatibility_mode: bool_field(map.get("compatibility_mode")),
        layout: choice_field(map.get("layout")),
        denied_action: choice_field(map.get("denied_action")),
    })
}

fn flow_set_field(value: Option<&Value>) -> Field<Vec<Field<FlowInput>>> {
    absent_or_null(value).unwrap_or_else(|| match value.expect("present") {
        Value::Array(items) => Field::Given(items.iter().map(flow_item).collect()),
        other => Field::Rejected(ErrorTree::non_field(format!(
            "Expected a list of items but got type \"{}\".",
            python_type(other)
        ))),
    })
}

/// A CaptchaStageRequest body; unknown and read-only keys are ignored.
pub fn captcha_stage_input(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Submitted<CaptchaStageInput> {
    let map = json_object(headers, body)?;
    Ok(CaptchaStageInput {
        name: string_field(map.get("name")),
        flow_set: flow_set_field(map.get("flow_set")),
        public_key: string_field(map.get("public_key")),
        private_key: string_field(map.get("private_key")).map(SecretString::from),
        js_url: string_field(map.get("js_url")),
        api_url: string_field(map.get("api_url")),
        interactive: bool_field(map.get("interactive")),
        score_min_threshold: number_field(map.get("score_min_threshold")),
        score_max_threshold: number_field(map.get("score_max_threshold")),
        error_on_invalid_score: bool_field(map.get("error_on_invalid_score")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_python_does() {
        for (value, text) in [
            (5.0, "5.0"),
            (0.5, "0.5"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (1e22, "1e+22"),
            (1.0 / 3.0, "0.3333333333333333"),
        ] {
            assert_eq!(python_float_repr(value), text);
        }
    }

    #[test]
    fn python_number_parsing() {
        assert_eq!(python_float(" 0.7 "), Some(0.7));
        assert_eq!(python_float("1_000.5"), Some(1000.5));
        assert_eq!(python_float("1__0"), None);
        assert_eq!(python_float("_1"), None);
        assert!(python_float("nan").unwrap().is_nan());
        assert_eq!(python_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(python_float("abc"), None);
        assert_eq!(python_int(" 12 "), Some(12));
        assert_eq!(python_int("-3"), Some(-3));
        assert_eq!(python_int("1.0"), None);
        assert_eq!(python_int(""), None);
        assert_eq!(python_int("99999999999999999999999"), Some(i64::MAX));
    }

    #[test]
    fn lenient_scalars() {
        assert_eq!(string_field(Some(&json!(5))), Field::Given("5".into()));
        assert_eq!(string_field(Some(&json!(2.50))), Field::Given("2.5".into()));
        assert_eq!(
            string_field(Some(&json!(true))),
            Field::Rejected(ErrorTree::message(NOT_A_STRING))
        );
        assert_eq!(bool_field(Some(&json!("YES"))), Field::Given(true));
        assert_eq!(bool_field(Some(&json!(0))), Field::Given(false));
        assert_eq!(
            bool_field(Some(&json!("yEs"))),
            Field::Rejected(ErrorTree::message(INVALID_BOOLEAN))
        );
        assert_eq!(number_field(Some(&json!("0.7"))), Field::Given(0.7));
        assert_eq!(number_field(Some(&json!(true))), Field::Given(1.0));
        assert_eq!(choice_field(Some(&json!(5))), Field::Given("5".into()));
        assert_eq!(
            choice_field(Some(&json!([1, "a"]))),
            Field::Given("[1, 'a']".into())
        );
    }

    #[test]
    fn non_finite_literals_are_quoted_outside_strings_only() {
        assert_eq!(
            quote_non_finite_literals(r#"{"a": NaN, "b": "NaN", "c": -Infinity}"#).as_deref(),
            Some(r#"{"a": "nan", "b": "NaN", "c": "-inf"}"#)
        );
        assert_eq!(quote_non_finite_literals(r#"{"a": "x\"NaN"}"#), None);
    }
}
