//! A text column that holds a secret (a captcha stage's private key). It is stored as plain text
//! (the service must send it to the captcha provider), but nothing formats it: its `Debug`
//! prints no part of it and it has no `Display`, so no `{:?}` of a row or an active model can
//! put it in a log line or an error.

use sea_orm::DeriveValueType;

#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(secret: String) -> Self {
        SecretText(secret)
    }

    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(***)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_prints_nothing_of_the_secret() {
        let secret = super::SecretText::new("hunter2".into());
        assert_eq!(format!("{secret:?}"), "SecretText(***)");
        assert_eq!(secret.expose(), "hunter2");
    }
}
