//! The field rules shared by every object the API writes, with authentik's (DRF's) messages.
//! Front ends hand in a [`Field`] per key; the use cases validate all of them at once and report
//! every failing field in the object's field order.

use secrecy::{ExposeSecret, SecretString};

use crate::error::{ErrorTree, FieldErrors};

pub const REQUIRED: &str = "This field is required.";
pub const BLANK: &str = "This field may not be blank.";
pub const NOT_NULL: &str = "This field may not be null.";
pub const NOT_A_STRING: &str = "Not a valid string.";
pub const INVALID_BOOLEAN: &str = "Must be a valid boolean.";
pub const INVALID_NUMBER: &str = "A valid number is required.";
pub const NUMBER_STRING_TOO_LARGE: &str = "String value too large.";
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";

/// One key of an input object, as the front end read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<T> {
    /// The key was not sent (GraphQL: the argument was omitted or `null`).
    #[default]
    Absent,
    Given(T),
    /// The front end could not read the value as the field's type (REST only: a list where a
    /// string belongs, `null`, …); the tree holds the message it would have in authentik.
    Rejected(ErrorTree),
}

impl<T> From<Option<T>> for Field<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Field::Absent, Field::Given)
    }
}

impl<T> Field<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Absent => Field::Absent,
            Field::Given(value) => Field::Given(f(value)),
            Field::Rejected(tree) => Field::Rejected(tree),
        }
    }

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

/// DRF's message for a string over its `max_length`.
pub fn too_many_characters(max_chars: usize) -> String {
    format!("Ensure this field has no more than {max_chars} characters.")
}

/// DRF's message for a list over its `max_length`.
pub fn too_many_elements(max_items: usize) -> String {
    format!("Ensure this field has no more than {max_items} elements.")
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

/// One of a fixed set of values, given as its stored spelling.
pub fn choice<C: Choice>(field: &Field<String>, required: bool) -> Result<Option<C>, ErrorTree> {
    let Some(raw) = field.given(required)? else {
        return Ok(None);
    };
    C::from_value(raw)
        .map(Some)
        .ok_or_else(|| ErrorTree::message(format!("\"{raw}\" is not a valid choice.")))
}

/// A closed set of values stored by their lower-case spelling (authentik's choices).
pub trait Choice: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn value(self) -> &'static str;
    fn from_value(value: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.value() == value)
    }
}

/// Declares a [`Choice`] enum: `choice_enum!(Name { Variant => "value", … })`.
#[macro_export]
macro_rules! choice_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $crate::validation::Choice for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn value(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }
        }
    };
}

/// Trims as Python's `str.strip()` does (DRF trims so): Unicode white space plus the four ASCII
/// information separators, which Rust's `trim` keeps.
pub fn trim(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

/// Collects the errors of one object's fields while its values are read.
#[derive(Default)]
pub struct Checker {
    errors: FieldErrors,
}

impl Checker {
    /// The checked value, or the type's default after recording the error under `name`
    /// (the default is never used: any error fails the whole object).
    pub fn take<T: Default>(&mut self, name: &str, checked: Result<T, ErrorTree>) -> T {
        checked.unwrap_or_else(|tree| {
            self.errors.insert(name.to_string(), tree);
            T::default()
        })
    }

    pub fn add(&mut self, name: &str, tree: ErrorTree) {
        self.errors.insert(name.to_string(), tree);
    }

    pub fn finish<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// Adds `message` to the messages of `name`, then puts the fields back in declaration order.
pub fn add_message(errors: &mut FieldErrors, order: &[&str], name: &str, message: &str) {
    match errors.get_mut(name) {
        Some(ErrorTree::Messages(messages)) => messages.push(message.to_string()),
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
    fn numbers_must_be_finite() {
        assert_eq!(number(&Field::Given(0.5), true), Ok(Some(0.5)));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                number(&Field::Given(bad), true),
                Err(ErrorTree::message(INVALID_NUMBER))
            );
        }
    }
}
