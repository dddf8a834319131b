//! DRF's parsing of JSON values, field type by field type: tolerant where authentik's clients
//! rely on it (numbers for strings, numeric strings for numbers, many boolean spellings) and
//! strict where it must be (NaN reaches the rules, NUL characters are refused there). Each reader
//! turns one key of a body (`None` when absent) into the field's raw input.

use secrecy::SecretString;
use serde_json::{Map, Value};

use super::Field;
use super::rules::{
    INVALID_BOOLEAN, INVALID_INTEGER, INVALID_NUMBER, NOT_A_STRING, NOT_NULL,
    NUMBER_STRING_TOO_LARGE,
};
use crate::error::ErrorTree;

/// DRF refuses numeric strings longer than this before parsing them.
const MAX_NUMBER_STRING_CHARS: usize = 1000;
const TRUE_SPELLINGS: &[&str] = &[
    "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1",
];
const FALSE_SPELLINGS: &[&str] = &[
    "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0",
];

/// Python's name of a JSON value's type, as DRF puts it in messages.
pub fn python_type(value: &Value) -> &'static str {
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
    let text = super::rules::trim(text);
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
    let text = super::rules::trim(text);
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
pub fn string(value: Option<&Value>) -> Field<String> {
    absent_or_null(value).unwrap_or_else(|| match value {
        Some(Value::String(s)) => Field::Given(s.clone()),
        Some(number @ Value::Number(_)) => Field::Given(python_str(number)),
        _ => Field::Rejected(ErrorTree::message(NOT_A_STRING)),
    })
}

/// DRF's ChoiceField: any value, compared by its Python text.
pub fn choice(value: Option<&Value>) -> Field<String> {
    absent_or_null(value).unwrap_or_else(|| Field::Given(python_str(value.expect("present"))))
}

/// DRF's BooleanField.
pub fn flag(value: Option<&Value>) -> Field<bool> {
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
pub fn number(value: Option<&Value>) -> Field<f64> {
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

/// A write-only secret: read as a CharField, held as a secret from here on.
pub fn secret(value: Option<&Value>) -> Field<SecretString> {
    string(value).map(SecretString::from)
}

/// DRF's IntegerField: integers, integral floats (`5.0`) and integer strings (`" 5 "`,
/// `"5.0"`, `"1_000"`), as `int(re.sub(r"\.0*\s*$", "", str(value)))` reads them; booleans
/// are refused (`str(True)` is not a number).
pub fn integer(value: Option<&Value>) -> Field<i64> {
    absent_or_null(value).unwrap_or_else(|| {
        let text = match value.expect("present") {
            Value::String(s) if s.chars().count() > MAX_NUMBER_STRING_CHARS => {
                return Field::Rejected(ErrorTree::message(NUMBER_STRING_TOO_LARGE));
            }
            Value::String(s) => s.clone(),
            number @ Value::Number(_) => python_str(number),
            _ => return Field::Rejected(ErrorTree::message(INVALID_INTEGER)),
        };
        let trimmed_end = text.trim_end();
        let without_fraction = match trimmed_end.rfind('.') {
            Some(dot) if trimmed_end[dot + 1..].bytes().all(|b| b == b'0') => &trimmed_end[..dot],
            _ => text.as_str(),
        };
        python_int(without_fraction).map_or_else(
            || Field::Rejected(ErrorTree::message(INVALID_INTEGER)),
            Field::Given,
        )
    })
}

/// DRF's PrimaryKeyRelatedField over a UUID key: the key as text (the rules read the UUID, the
/// store looks the object up); anything but a string is of the wrong type.
pub fn reference(value: Option<&Value>) -> Field<String> {
    absent_or_null(value).unwrap_or_else(|| match value.expect("present") {
        Value::String(s) => Field::Given(s.clone()),
        other => Field::Rejected(ErrorTree::message(format!(
            "Incorrect type. Expected pk value, received {}.",
            python_type(other)
        ))),
    })
}

/// A nested list serializer (`many=True`): a list of objects, each read by `read`.
pub fn nested<I>(
    value: Option<&Value>,
    read: fn(&Map<String, Value>) -> I,
) -> Field<Vec<Field<I>>> {
    absent_or_null(value).unwrap_or_else(|| match value.expect("present") {
        Value::Array(items) => Field::Given(
            items
                .iter()
                .map(|item| match item {
                    Value::Object(map) => Field::Given(read(map)),
                    Value::Null => Field::Rejected(ErrorTree::message(NOT_NULL)),
                    other => Field::Rejected(ErrorTree::non_field(format!(
                        "Invalid data. Expected a dictionary, but got {}.",
                        python_type(other)
                    ))),
                })
                .collect(),
        ),
        other => Field::Rejected(ErrorTree::non_field(format!(
            "Expected a list of items but got type \"{}\".",
            python_type(other)
        ))),
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
        assert_eq!(string(Some(&json!(5))), Field::Given("5".into()));
        assert_eq!(string(Some(&json!(2.50))), Field::Given("2.5".into()));
        assert_eq!(
            string(Some(&json!(true))),
            Field::Rejected(ErrorTree::message(NOT_A_STRING))
        );
        assert_eq!(flag(Some(&json!("YES"))), Field::Given(true));
        assert_eq!(flag(Some(&json!(0))), Field::Given(false));
        assert_eq!(
            flag(Some(&json!("yEs"))),
            Field::Rejected(ErrorTree::message(INVALID_BOOLEAN))
        );
        assert_eq!(number(Some(&json!("0.7"))), Field::Given(0.7));
        assert_eq!(number(Some(&json!(true))), Field::Given(1.0));
        assert_eq!(choice(Some(&json!(5))), Field::Given("5".into()));
        assert_eq!(
            choice(Some(&json!([1, "a"]))),
            Field::Given("[1, 'a']".into())
        );
    }

    #[test]
    fn integers_as_drf_reads_them() {
        for (value, expected) in [
            (json!(5), Some(5)),
            (json!(5.0), Some(5)),
            (json!(" 7 "), Some(7)),
            (json!("7.00"), Some(7)),
            (json!("1_000"), Some(1000)),
            (json!(5.5), None),
            (json!(true), None),
            (json!("x"), None),
        ] {
            let read = integer(Some(&value));
            match expected {
                Some(n) => assert_eq!(read, Field::Given(n), "{value}"),
                None => assert!(matches!(read, Field::Rejected(_)), "{value}"),
            }
        }
    }
}
