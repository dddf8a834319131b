//! The field rules shared by every object the API writes, with authentik's (DRF's) messages.
//! Front ends hand in a [`Field`] per key; a declaration's `check` runs one rule per field and
//! reports every failing field at once, in the object's field order. No rule touches the
//! database: uniqueness and existence are the store's (and its constraints').

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{Choice, Field};
use crate::error::{ErrorTree, FieldErrors};

pub const REQUIRED: &str = "This field is required.";
pub const BLANK: &str = "This field may not be blank.";
pub const NOT_NULL: &str = "This field may not be null.";
pub const NOT_A_STRING: &str = "Not a valid string.";
pub const INVALID_BOOLEAN: &str = "Must be a valid boolean.";
pub const INVALID_NUMBER: &str = "A valid number is required.";
pub const INVALID_INTEGER: &str = "A valid integer is required.";
pub const NUMBER_STRING_TOO_LARGE: &str = "String value too large.";
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";
pub const SLUG_PATTERN_MESSAGE: &str =
    "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.";
/// Django's `SlugField` length.
pub const SLUG_MAX_CHARS: usize = 50;
static SLUG_PATTERN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-a-zA-Z0-9_]+$").expect("slug pattern compiles"));

impl<T> Field<T> {
    /// The given value, or what an absent key means (`Ok(None)`) unless the key is required.
    fn given(&self, required: bool) -> Result<Option<&T>, ErrorTree> {
        match self {
            Field::Absent if required => Err(ErrorTree::message(REQUIRED)),
            Field::Absent => Ok(None),
            Field::Rejected(tree) => Err(tree.clone()),
            Field::Given(value) => Ok(Some(value)),
        }
    }
}

/// A non-blank string of at most `max_chars` characters, stored trimmed. Like DRF, every
/// failing rule is reported: the length first, then NUL characters.
pub fn text(
    field: &Field<String>,
    required: bool,
    max_chars: usize,
) -> Result<Option<String>, ErrorTree> {
    let Some(raw) = field.given(required)? else {
        return Ok(None);
    };
    let trimmed = trim(raw);
    if trimmed.is_empty() {
        return Err(ErrorTree::message(BLANK));
    }
    let mut messages = Vec::new();
    if trimmed.chars().nth(max_chars).is_some() {
        messages.push(too_many_characters(max_chars));
    }
    if trimmed.contains('\0') {
        messages.push(NULL_CHARACTERS.to_string());
    }
    if messages.is_empty() {
        Ok(Some(trimmed.to_string()))
    } else {
        Err(ErrorTree::Messages(messages))
    }
}

/// A secret (a private key): the rules of [`text`], the value kept in a `SecretString`.
pub fn secret_text(
    field: &Field<SecretString>,
    required: bool,
    max_chars: usize,
) -> Result<Option<SecretString>, ErrorTree> {
    let exposed = match field {
        Field::Absent => Field::Absent,
        Field::Rejected(tree) => Field::Rejected(tree.clone()),
        Field::Given(secret) => Field::Given(secret.expose_secret().to_string()),
    };
    Ok(text(&exposed, required, max_chars)?.map(SecretString::from))
}

/// Django's `SlugField`: at most 50 characters of letters, digits, `-` and `_`; both messages
/// when both rules fail.
pub fn slug(field: &Field<String>, required: bool) -> Result<Option<String>, ErrorTree> {
    let Some(slug) = text(field, required, usize::MAX)? else {
        return Ok(None);
    };
    let mut messages = Vec::new();
    if slug.chars().nth(SLUG_MAX_CHARS).is_some() {
        messages.push(too_many_characters(SLUG_MAX_CHARS));
    }
    if !SLUG_PATTERN.is_match(&slug) {
        messages.push(SLUG_PATTERN_MESSAGE.to_string());
    }
    if messages.is_empty() {
        Ok(Some(slug))
    } else {
        Err(ErrorTree::Messages(messages))
    }
}

pub fn flag(field: &Field<bool>, required: bool) -> Result<Option<bool>, ErrorTree> {
    Ok(field.given(required)?.copied())
}

/// A finite number: NaN and the infinities are refused (authentik lets them reach the database).
pub fn number(field: &Field<f64>, required: bool) -> Result<Option<f64>, ErrorTree> {
    match field.given(required)? {
        Some(value) if !value.is_finite() => Err(ErrorTree::message(INVALID_NUMBER)),
        value => Ok(value.copied()),
    }
}

/// A model `IntegerField`: within the 32-bit range, with Django's messages.
pub fn int32(field: &Field<i64>, required: bool) -> Result<Option<i32>, ErrorTree> {
    let Some(value) = field.given(required)? else {
        return Ok(None);
    };
    i32::try_from(*value).map(Some).map_err(|_| {
        ErrorTree::message(if *value > 0 {
            format!("Ensure this value is less than or equal to {}.", i32::MAX)
        } else {
            format!(
                "Ensure this value is greater than or equal to {}.",
                i32::MIN
            )
        })
    })
}

/// One of a fixed set of values, given as its stored spelling.
pub fn choice<C: Choice>(field: &Field<String>, required: bool) -> Result<Option<C>, ErrorTree> {
    let Some(raw) = field.given(required)? else {
        return Ok(None);
    };
    C::from_value(raw)
        .map(Some)
        .ok_or_else(|| ErrorTree::message(format!("\"{raw}\" is not a valid choice.")))
}

/// The primary key of another object, as text. Whether the object exists is the store's to say
/// (`Invalid pk "…" - object does not exist.`): this only reads the UUID, as Django's
/// `UUIDField` does (hyphens, braces and a `urn:uuid:` prefix allowed).
pub fn reference(field: &Field<String>, required: bool) -> Result<Option<Uuid>, ErrorTree> {
    let Some(raw) = field.given(required)? else {
        return Ok(None);
    };
    Uuid::parse_str(raw.trim())
        .map(Some)
        .map_err(|_| ErrorTree::message(format!("“{raw}” is not a valid UUID.")))
}

/// A list of nested objects (a stage's `flow_set`): at most `max_items`, each checked by
/// `check`, errors aligned with the items (`{}` for a valid one). A key given twice among the
/// items is the caller's to report (`duplicate_items`).
pub fn nested<I, C>(
    field: &Field<Vec<Field<I>>>,
    required: bool,
    max_items: usize,
    check: impl Fn(&I) -> Result<C, FieldErrors>,
) -> Result<Option<Vec<C>>, ErrorTree> {
    let Some(items) = field.given(required)? else {
        return Ok(None);
    };
    if items.len() > max_items {
        return Err(ErrorTree::non_field(too_many_elements(max_items)));
    }
    let mut checked = Vec::with_capacity(items.len());
    let mut trees = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Field::Given(input) => match check(input) {
                Ok(valid) => {
                    checked.push(valid);
                    trees.push(ErrorTree::Fields(FieldErrors::new()));
                }
                Err(errors) => trees.push(ErrorTree::Fields(errors)),
            },
            Field::Rejected(tree) => trees.push(tree.clone()),
            Field::Absent => trees.push(ErrorTree::message(NOT_NULL)),
        }
    }
    if checked.len() == items.len() {
        Ok(Some(checked))
    } else {
        Err(ErrorTree::Items(trees))
    }
}

/// Marks each item whose `key` an earlier item already used with `message` on `field`, in the
/// aligned error list of a nested field (`{}` where an item is valid). `None` when every key is
/// distinct.
pub fn duplicate_items<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    field: &str,
    message: &str,
    order: &[&str],
) -> Option<ErrorTree> {
    let mut seen = HashSet::new();
    let mut found = false;
    let trees = keys
        .into_iter()
        .map(|key| {
            let mut errors = FieldErrors::new();
            if !seen.insert(key) {
                add_message(&mut errors, order, field, message);
                found = true;
            }
            ErrorTree::Fields(errors)
        })
        .collect();
    found.then_some(ErrorTree::Items(trees))
}

/// DRF's message for a string over its `max_length`.
pub fn too_many_characters(max_chars: usize) -> String {
    format!("Ensure this field has no more than {max_chars} characters.")
}

/// DRF's message for a list over its `max_length`.
pub fn too_many_elements(max_items: usize) -> String {
    format!("Ensure this field has no more than {max_items} elements.")
}

/// Trims as Python's `str.strip()` does (DRF trims so): see [`is_python_space`].
pub fn trim(value: &str) -> &str {
    value.trim_matches(is_python_space)
}

/// White space as Python's `str.isspace()` (and so `strip()` and `split()`) sees it: Unicode
/// white space plus the four ASCII information separators, which Rust's `is_whitespace` leaves
/// out.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Collects the errors of one object's fields while its values are read.
#[derive(Default)]
pub struct Checker {
    errors: FieldErrors,
}

impl Checker {
    /// The checked value, or `None` after recording the error under `name` (the value is never
    /// used then: any error fails the whole object).
    pub fn take<T>(&mut self, name: &str, checked: Result<Option<T>, ErrorTree>) -> Option<T> {
        checked.unwrap_or_else(|tree| {
            self.errors.insert(name.to_string(), tree);
            None
        })
    }

    pub fn finish<T>(self, value: T, order: &[&str]) -> Result<T, FieldErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            let mut errors = self.errors;
            sort_fields(&mut errors, order);
            Err(errors)
        }
    }
}

/// Adds `message` to the messages of `name` (or merges it into an item list's slots), then puts
/// the fields back in declaration order.
pub fn add_message(errors: &mut FieldErrors, order: &[&str], name: &str, message: &str) {
    match errors.get_mut(name) {
        Some(ErrorTree::Messages(messages)) => {
            if !messages.iter().any(|m| m == message) {
                messages.push(message.to_string())
            }
        }
        Some(_) => {}
        None => {
            errors.insert(name.to_string(), ErrorTree::message(message));
        }
    }
    sort_fields(errors, order);
}

/// Puts the fields of `errors` in the declared `order` (DRF reports them in field order).
pub fn sort_fields(errors: &mut FieldErrors, order: &[&str]) {
    let position = |key: &str| order.iter().position(|f| *f == key).unwrap_or(usize::MAX);
    errors.sort_by(|a, _, b, _| position(a).cmp(&position(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_and_refuses_blank_and_nul() {
        let given = |s: &str| Field::Given(s.to_string());
        assert_eq!(text(&given("  a b \t"), true, 3), Ok(Some("a b".into())));
        assert_eq!(
            text(&given(" \u{1f} "), true, 9),
            Err(ErrorTree::message(BLANK))
        );
        assert_eq!(
            text(&given("a\0"), true, 9),
            Err(ErrorTree::message(NULL_CHARACTERS))
        );
        assert_eq!(
            text(&given("abcd\0"), true, 3),
            Err(ErrorTree::Messages(vec![
                too_many_characters(3),
                NULL_CHARACTERS.to_string()
            ]))
        );
        assert_eq!(
            text(&Field::Absent, true, 9),
            Err(ErrorTree::message(REQUIRED))
        );
        assert_eq!(text(&Field::Absent, false, 9), Ok(None));
    }

    #[test]
    fn numbers_must_be_finite_and_integers_32_bit() {
        assert_eq!(number(&Field::Given(0.5), true), Ok(Some(0.5)));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                number(&Field::Given(bad), true),
                Err(ErrorTree::message(INVALID_NUMBER))
            );
        }
        assert_eq!(int32(&Field::Given(-5), true), Ok(Some(-5)));
        assert!(int32(&Field::Given(i64::from(i32::MAX) + 1), true).is_err());
        assert!(int32(&Field::Given(i64::from(i32::MIN) - 1), true).is_err());
    }

    #[test]
    fn slugs_and_references() {
        let given = |s: &str| Field::Given(s.to_string());
        assert_eq!(slug(&given(" a-b_1 "), true), Ok(Some("a-b_1".into())));
        assert_eq!(
            slug(&given(&"é".repeat(51)), true),
            Err(ErrorTree::Messages(vec![
                too_many_characters(50),
                SLUG_PATTERN_MESSAGE.to_string()
            ]))
        );
        let id = Uuid::new_v4();
        assert_eq!(reference(&given(&id.to_string()), true), Ok(Some(id)));
        assert_eq!(
            reference(&given("nope"), true),
            Err(ErrorTree::message("“nope” is not a valid UUID."))
        );
    }

    #[test]
    fn nested_items_are_aligned_and_bounded() {
        let items = Field::Given(vec![Field::Given(1), Field::Given(-1), Field::Absent]);
        let check = |n: &i32| {
            if *n > 0 {
                Ok(*n)
            } else {
                Err(FieldErrors::from([(
                    "n".to_string(),
                    ErrorTree::message("bad"),
                )]))
            }
        };
        let Err(ErrorTree::Items(trees)) = nested(&items, true, 10, check) else {
            panic!("aligned item errors");
        };
        assert_eq!(trees.len(), 3);
        assert_eq!(trees[0], ErrorTree::Fields(FieldErrors::new()));
        assert_eq!(trees[2], ErrorTree::message(NOT_NULL));
        assert_eq!(
            nested(&items, true, 2, check),
            Err(ErrorTree::non_field(too_many_elements(2)))
        );
    }
}
