//! Checking a captcha token with the provider, as authentik's `verify_captcha_token` does: a
//! form-encoded POST of `secret`, `response` and `remoteip` to the stage's `api_url`, then
//! authentik's decision on the answer (`decide`). One shared HTTP client with a connection pool,
//! a timeout, at most [`MAX_ANSWER_BYTES`] read, no redirects followed. Nothing about the call is
//! logged beyond the stage, the outcome and the provider's error codes.

use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use uuid::Uuid;

use crate::stages::CaptchaStage;

pub const FAILED_TO_VALIDATE: &str = "Failed to validate token";
pub const INVALID_RETRY: &str = "Invalid captcha response. Retrying may solve this issue.";
pub const INVALID: &str = "Invalid captcha response";
/// The error codes after which a new token may pass (authentik's list).
const RETRIABLE_ERROR_CODES: &[&str] = &[
    "missing-input-response",
    "invalid-input-response",
    "timeout-or-duplicate",
    "expired-input-response",
    "already-seen-response",
];
/// The most of a provider's answer read: siteverify answers are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the provider said of a token and what authentik makes of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verification {
    pub passed: bool,
    /// authentik's message when the token did not pass.
    pub message: Option<&'static str>,
    /// The provider's JSON answer (stored in the plan's context as `captcha.response`).
    pub answer: Option<Value>,
}

impl Verification {
    fn refused(message: &'static str, answer: Option<Value>) -> Self {
        Verification {
            passed: false,
            message: Some(message),
            answer,
        }
    }

    fn field<'a>(&'a self, key: &str) -> Option<&'a Value> {
        self.answer.as_ref()?.get(key)
    }

    pub fn success(&self) -> Option<bool> {
        self.field("success").and_then(Value::as_bool)
    }

    pub fn score(&self) -> Option<f64> {
        self.field("score").and_then(score_of)
    }

    pub fn error_codes(&self) -> Vec<String> {
        self.field("error-codes")
            .and_then(Value::as_array)
            .map(|codes| {
                codes
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn text(&self, key: &str) -> Option<String> {
        self.field(key).and_then(Value::as_str).map(str::to_string)
    }
}

/// A score as Python's `float()` reads it: a number, or a numeric string.
fn score_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// authentik's decision on a provider's answer (`None`: no usable answer arrived: a network
/// error, a timeout, a status other than 2xx, a body that is not a JSON object).
pub fn decide(stage: &CaptchaStage, answer: Option<Value>) -> Verification {
    let Some(answer) = answer.filter(Value::is_object) else {
        return Verification::refused(FAILED_TO_VALIDATE, None);
    };
    // With `error_on_invalid_score` off, authentik checks nothing: the answer only goes into
    // the plan's context for policies to read.
    if stage.error_on_invalid_score {
        let success = answer.get("success").is_some_and(truthy);
        if !success {
            let codes: Vec<&str> = match answer.get("error-codes") {
                None => vec!["unknown-error"],
                Some(Value::Array(codes)) => codes.iter().filter_map(Value::as_str).collect(),
                Some(_) => vec!["unknown-error"],
            };
            let retriable = codes.iter().all(|c| RETRIABLE_ERROR_CODES.contains(c));
            let message = if retriable { INVALID_RETRY } else { INVALID };
            return Verification::refused(message, Some(answer));
        }
        if let Some(raw) = answer.get("score") {
            let Some(score) = score_of(raw) else {
                return Verification::refused(FAILED_TO_VALIDATE, Some(answer));
            };
            let over = stage.score_max_threshold > -1.0 && score > stage.score_max_threshold;
            let under = stage.score_min_threshold > -1.0 && score < stage.score_min_threshold;
            if over || under {
                return Verification::refused(INVALID, Some(answer));
            }
        }
    }
    Verification {
        passed: true,
        message: None,
        answer: Some(answer),
    }
}

/// Python's truthiness of a JSON value (`data.get("success", False)`).
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The shared siteverify client.
#[derive(Clone)]
pub struct Verifier {
    client: reqwest::Client,
}

impl Verifier {
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stages-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the siteverify client builds");
        Verifier { client }
    }

    /// Checks `token` with the stage's provider, and decides as authentik does.
    pub async fn verify(
        &self,
        stage: &CaptchaStage,
        secret: &SecretString,
        token: &str,
        remote_ip: Option<IpAddr>,
    ) -> Verification {
        let remote_ip = remote_ip.map(|ip| ip.to_string()).unwrap_or_default();
        let form = [
            ("secret", secret.expose_secret()),
            ("response", token),
            ("remoteip", remote_ip.as_str()),
        ];
        let answer = self.call(&stage.api_url, &form).await;
        let verification = decide(stage, answer);
        log_outcome(stage.pk, &verification);
        verification
    }

    async fn call(&self, url: &str, form: &[(&str, &str)]) -> Option<Value> {
        let response = match self.client.post(url).form(form).send().await {
            Ok(response) => response,
            Err(err) => {
                // reqwest's errors name the URL, never the form.
                tracing::warn!(error = %err.without_url(), "siteverify call failed");
                return None;
            }
        };
        if !response.status().is_success() {
            tracing::warn!(
                status = response.status().as_u16(),
                "siteverify answered an error"
            );
            return None;
        }
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.ok()?;
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                tracing::warn!(limit = MAX_ANSWER_BYTES, "siteverify answer too large");
                return None;
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).ok()
    }
}

fn log_outcome(stage: Uuid, verification: &Verification) {
    crate::telemetry::captcha_verified(match verification.message {
        None => "passed",
        Some(FAILED_TO_VALIDATE) => "failed",
        Some(_) => "refused",
    });
    if verification.passed {
        tracing::info!(%stage, "captcha token verified");
    } else {
        tracing::info!(
            %stage,
            message = verification.message.unwrap_or_default(),
            error_codes = ?verification.error_codes(),
            "captcha token refused"
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stage(error_on_invalid_score: bool) -> CaptchaStage {
        CaptchaStage {
            score_min_threshold: 0.5,
            score_max_threshold: 1.0,
            error_on_invalid_score,
            ..Default::default()
        }
    }

    fn outcome(stage: &CaptchaStage, answer: Option<Value>) -> Option<&'static str> {
        decide(stage, answer).message
    }

    #[test]
    fn authentiks_decision_table() {
        let strict = stage(true);
        let lenient = stage(false);
        for s in [&strict, &lenient] {
            assert_eq!(outcome(s, None), Some(FAILED_TO_VALIDATE));
            assert_eq!(outcome(s, Some(json!([1]))), Some(FAILED_TO_VALIDATE));
        }
        let retriable = json!({"success": false, "error-codes": ["timeout-or-duplicate", "invalid-input-response"]});
        assert_eq!(
            outcome(&strict, Some(retriable.clone())),
            Some(INVALID_RETRY)
        );
        assert_eq!(outcome(&lenient, Some(retriable)), None);
        let empty_codes = json!({"success": false, "error-codes": []});
        assert_eq!(outcome(&strict, Some(empty_codes)), Some(INVALID_RETRY));
        let other = json!({"success": false, "error-codes": ["invalid-input-secret", "timeout-or-duplicate"]});
        assert_eq!(outcome(&strict, Some(other.clone())), Some(INVALID));
        assert_eq!(outcome(&lenient, Some(other)), None);
        assert_eq!(
            outcome(&strict, Some(json!({"success": false}))),
            Some(INVALID)
        );
        assert_eq!(outcome(&strict, Some(json!({}))), Some(INVALID));
        for (score, expected) in [
            (json!(0.4), Some(INVALID)),
            (json!(0.5), None),
            (json!("0.9"), None),
            (json!(1.0), None),
            (json!(1.1), Some(INVALID)),
            (Value::Null, Some(FAILED_TO_VALIDATE)),
        ] {
            let answer = json!({"success": true, "score": score});
            assert_eq!(outcome(&strict, Some(answer.clone())), expected, "{answer}");
            assert_eq!(outcome(&lenient, Some(answer)), None);
        }
        let off = CaptchaStage {
            score_min_threshold: -1.0,
            score_max_threshold: -1.0,
            ..strict.clone()
        };
        assert_eq!(
            outcome(&off, Some(json!({"success": true, "score": 7}))),
            None
        );
        assert_eq!(outcome(&strict, Some(json!({"success": true}))), None);
    }
}
