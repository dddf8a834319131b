//! authentik's flow executor for flows of captcha stages (`/api/v3/flows/executor/{slug}/`):
//! plan a flow for an anonymous browser session, answer the current stage's challenge, check
//! a response with the captcha provider, move on, restart or retry as the binding says, and
//! redirect at the end. Plans live in the database (`plan`), so the next request may reach any
//! instance; the provider is called outside any transaction (`verify`).

pub mod challenge;
pub mod plan;
pub mod verify;

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::{Permission, Principal, hash_token};
use crate::bindings::{self, FlowStageBinding, InvalidResponseAction};
use crate::config::Settings;
use crate::db::Db;
use crate::error::{NO_CAPTCHA_STAGE, ServiceError};
use crate::flows::{self, Authentication, DeniedAction, Flow, FlowKey, NO_FLOW};
use crate::object::Columns;
use crate::stages::{self, CaptchaStage};
use challenge::{
    AccessDeniedChallenge, CaptchaChallenge, Challenge, FlowInfo, RedirectChallenge,
    ResponseErrors, field_error, token_error,
};
use plan::Plan;
use verify::{Verification, Verifier};

/// The session cookie, named as authentik names it.
pub const SESSION_COOKIE: &str = "authentik_session";
const SESSION_BYTES: usize = 32;
pub const NOT_APPLICABLE: &str = "Flow does not apply to current user.";
/// Where a flow ends when its query names no (acceptable) `next`.
const ROOT: &str = "/";

/// One request to the executor.
pub struct Visit<'a> {
    pub slug: &'a str,
    /// The page's own query string (the `query` parameter).
    pub query: String,
    /// The executor URL's query string, as the request gave it.
    pub api_query: String,
    /// The session cookie, if the browser sent one.
    pub session: Option<String>,
    pub client_ip: Option<IpAddr>,
}

/// What the executor answers: a challenge (200), or a redirect to its own GET (302), as
/// authentik does after a stage passed with more to come, and after a restart.
pub enum Answer {
    Challenge(Box<Challenge>),
    Redirect(String),
}

impl Answer {
    fn challenge(challenge: Challenge) -> Self {
        Answer::Challenge(Box::new(challenge))
    }
}

pub struct Outcome {
    pub answer: Answer,
    /// A session cookie to set: the browser had none the executor could use.
    pub new_session: Option<String>,
}

/// A session: the cookie's value and its hash (plans are stored by hash). A cookie that is not
/// one this service could have issued is replaced by a fresh one.
struct Session {
    hash: String,
    new: Option<String>,
}

impl Session {
    fn of(cookie: Option<&str>) -> Self {
        match cookie.filter(|c| c.len() == 43 && URL_SAFE_NO_PAD.decode(c).is_ok()) {
            Some(cookie) => Session {
                hash: hash_token(cookie),
                new: None,
            },
            None => {
                let mut bytes = [0u8; SESSION_BYTES];
                rand::rng().fill_bytes(&mut bytes);
                let cookie = URL_SAFE_NO_PAD.encode(bytes);
                Session {
                    hash: hash_token(&cookie),
                    new: Some(cookie),
                }
            }
        }
    }
}

/// A relative path on this host (`/…`, not `//host`), as the only acceptable `next`.
fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control())
}

/// The value of `key` in a query string (the last one, as Django reads it).
fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .last()
}

/// The request in progress: its flow, session and plan.
struct Run<'a> {
    db: &'a Db,
    settings: &'a Settings,
    visit: Visit<'a>,
    flow: Flow,
    session: Session,
}

/// What the run's plan says now.
enum Current {
    /// The binding to answer (its stage loaded) in the plan as read.
    Stage(Box<(Plan, FlowStageBinding, CaptchaStage)>),
    /// The answer is decided already (the flow does not apply, or it ended).
    Answered(Answer),
}

impl<'a> Run<'a> {
    async fn start(
        db: &'a Db,
        settings: &'a Settings,
        visit: Visit<'a>,
    ) -> Result<Self, ServiceError> {
        let flow = flows::store::flows_by_key(&db.reader, &FlowKey::Slug(visit.slug.to_string()))
            .await?
            .pop()
            .ok_or(ServiceError::NotFound(NO_FLOW))?;
        let session = Session::of(visit.session.as_deref());
        Ok(Run {
            db,
            settings,
            visit,
            flow,
            session,
        })
    }

    fn idle(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.plan_idle_timeout)
            .unwrap_or(chrono::Duration::hours(1))
    }

    fn flow_info(&self) -> FlowInfo {
        FlowInfo::of(&self.flow, &self.visit.query)
    }

    fn outcome(self, answer: Answer) -> Outcome {
        Outcome {
            answer,
            new_session: self.session.new,
        }
    }

    /// The executor's own GET, with the query this request carried (a 302's `Location`).
    fn again(&self) -> Answer {
        let mut location = format!("/api/v3/flows/executor/{}/", self.flow.slug);
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(self.visit.api_query.as_bytes()))
            .finish();
        if !encoded.is_empty() {
            location.push('?');
            location.push_str(&encoded);
        }
        Answer::Redirect(location)
    }

    /// The end of the flow: `next` from the page's query when it is a local path, else `/`.
    fn done(&self, query: &str) -> Answer {
        let next = query_param(query, "next")
            .filter(|next| is_local_path(next))
            .unwrap_or_else(|| ROOT.to_string());
        Answer::challenge(Challenge::Redirect(RedirectChallenge::to(next)))
    }

    /// Whether an anonymous caller may run the flow (authentik's authentication requirement).
    fn applicable(&self) -> bool {
        matches!(
            self.flow.authentication,
            Authentication::None | Authentication::RequireUnauthenticated
        )
    }

    /// authentik's answer for a flow the caller may not run, by its `denied_action`.
    fn denied(&self) -> Answer {
        let next = query_param(&self.visit.api_query, "next").filter(|n| is_local_path(n));
        match (self.flow.denied_action, next) {
            (DeniedAction::Continue | DeniedAction::MessageContinue, Some(next)) => {
                Answer::challenge(Challenge::Redirect(RedirectChallenge::to(next)))
            }
            (DeniedAction::Continue, None) => {
                Answer::challenge(Challenge::Redirect(RedirectChallenge::to(ROOT.to_string())))
            }
            _ => Answer::challenge(Challenge::AccessDenied(AccessDeniedChallenge::new(
                self.flow_info(),
                NOT_APPLICABLE,
            ))),
        }
    }

    /// A new plan of the flow's bindings (the context kept when asked), stored for the session.
    async fn plan(&self, context: Option<Map<String, Value>>) -> Result<Plan, ServiceError> {
        let pending = plan::binding_ids(&self.db.writer, self.flow.pk).await?;
        let mut plan = Plan::new(
            self.session.hash.clone(),
            self.flow.pk,
            pending,
            self.visit.query.clone(),
        );
        if let Some(context) = context {
            plan.context = context;
        }
        plan::sweep(&self.db.writer, self.idle()).await?;
        plan::store(&self.db.writer, &plan).await?;
        crate::telemetry::flow_plan("started");
        Ok(plan)
    }

    /// The session's plan for this flow (a new one when there is none, it expired, or it is of
    /// another flow) and its current binding; or the answer when the flow does not apply or has
    /// nothing (left) to run.
    async fn current(&self) -> Result<Current, ServiceError> {
        let stored = plan::load(&self.db.reader, &self.session.hash, self.idle()).await?;
        let mut plan = match stored {
            Some(plan) if plan.flow == self.flow.pk => {
                // The page's query is kept with the plan on every request, as authentik does.
                if plan.query != self.visit.query {
                    let mut next = plan.clone();
                    next.query = self.visit.query.clone();
                    if plan::replace_if_unchanged(&self.db.writer, plan.version, &next).await? {
                        next.version += 1;
                    }
                    next
                } else {
                    plan
                }
            }
            _ => {
                if !self.applicable() {
                    plan::forget(&self.db.writer, &self.session.hash).await?;
                    return Ok(Current::Answered(self.denied()));
                }
                self.plan(None).await?
            }
        };
        loop {
            let Some(&binding_id) = plan.pending.first() else {
                plan::forget(&self.db.writer, &self.session.hash).await?;
                return Ok(Current::Answered(self.done(&plan.query)));
            };
            let binding = bindings::load(self.db, binding_id).await?;
            // The challenge and the verification read the stage's settings, never its flows.
            let stage = match &binding {
                Some(binding) => {
                    stages::load_by_ids_without_flows(self.db, &[binding.stage], Columns::All)
                        .await?
                        .remove(&binding.stage)
                }
                None => None,
            };
            match (binding, stage) {
                (Some(binding), Some(stage)) => {
                    return Ok(Current::Stage(Box::new((plan, binding, stage))));
                }
                // A binding (or its stage) deleted since the plan was made is skipped.
                _ => {
                    let mut next = plan.clone();
                    next.pending.remove(0);
                    if !plan::replace_if_unchanged(&self.db.writer, plan.version, &next).await? {
                        return Ok(Current::Answered(self.again()));
                    }
                    next.version += 1;
                    plan = next;
                }
            }
        }
    }

    /// A refused response, handled as the binding says: `retry` answers the challenge again
    /// with the errors; `restart` and `restart_with_context` plan the flow anew (keeping the
    /// context for the latter) and send the browser back to the first stage.
    async fn refuse(
        &self,
        plan: &Plan,
        binding: &FlowStageBinding,
        stage: &CaptchaStage,
        errors: ResponseErrors,
    ) -> Result<Answer, ServiceError> {
        match binding.invalid_response_action {
            InvalidResponseAction::Retry => Ok(Answer::challenge(Challenge::Captcha(
                CaptchaChallenge::new(self.flow_info(), stage, Some(errors)),
            ))),
            action => {
                let mut next = plan.clone();
                next.pending = plan::binding_ids(&self.db.writer, self.flow.pk).await?;
                if action == InvalidResponseAction::Restart {
                    next.context = Map::new();
                }
                plan::replace_if_unchanged(&self.db.writer, plan.version, &next).await?;
                crate::telemetry::flow_plan("restarted");
                Ok(self.again())
            }
        }
    }
}

/// `GET /api/v3/flows/executor/{slug}/`: the current stage's challenge.
pub async fn show(db: &Db, settings: &Settings, visit: Visit<'_>) -> Result<Outcome, ServiceError> {
    let run = Run::start(db, settings, visit).await?;
    let answer =
        match run.current().await? {
            Current::Answered(answer) => answer,
            Current::Stage(current) => Answer::challenge(Challenge::Captcha(
                CaptchaChallenge::new(run.flow_info(), &current.2, None),
            )),
        };
    Ok(run.outcome(answer))
}

/// The `token` of a captcha response, as DRF's CharField reads it.
pub(crate) fn token(body: &Value) -> Result<String, ResponseErrors> {
    // authentik's challenge response serializer refuses a body that is not an object with its
    // `non_field_errors`, handled as any refused response (`invalid_response_action`).
    let Value::Object(body) = body else {
        let code = if body.is_null() { "null" } else { "invalid" };
        return Err(field_error(
            crate::error::NON_FIELD_ERRORS,
            &crate::rest::decode::not_an_object(body),
            code,
        ));
    };
    match body.get("token") {
        None => Err(token_error(crate::object::rules::REQUIRED, "required")),
        Some(Value::Null) => Err(token_error(crate::object::rules::NOT_NULL, "null")),
        Some(Value::String(s)) if crate::object::rules::trim(s).is_empty() => {
            Err(token_error(crate::object::rules::BLANK, "blank"))
        }
        Some(Value::String(s)) => Ok(crate::object::rules::trim(s).to_string()),
        Some(number @ Value::Number(_)) => Ok(number.to_string()),
        Some(_) => Err(token_error(crate::object::rules::NOT_A_STRING, "invalid")),
    }
}

/// `POST /api/v3/flows/executor/{slug}/`: a response to the current stage's challenge.
pub async fn solve(
    db: &Db,
    settings: &Settings,
    verifier: &Verifier,
    visit: Visit<'_>,
    body: Result<Value, ServiceError>,
) -> Result<Outcome, ServiceError> {
    let run = Run::start(db, settings, visit).await?;
    let (plan, binding, stage) = match run.current().await? {
        Current::Answered(answer) => return Ok(run.outcome(answer)),
        Current::Stage(current) => *current,
    };
    let body = body?;
    let token = match token(&body) {
        Ok(token) => token,
        Err(errors) => {
            let answer = run.refuse(&plan, &binding, &stage, errors).await?;
            return Ok(run.outcome(answer));
        }
    };
    // The stage's settings were read with the plan's binding: only the key is missing.
    let secret = stages::private_key(db, stage.pk)
        .await?
        .ok_or(ServiceError::NotFound(NO_CAPTCHA_STAGE))?;
    let verification = verifier
        .verify(&stage, &secret, &token, run.visit.client_ip)
        .await;
    if !verification.passed {
        let message = verification.message.unwrap_or(verify::INVALID);
        let answer = run
            .refuse(&plan, &binding, &stage, token_error(message, "invalid"))
            .await?;
        return Ok(run.outcome(answer));
    }
    let mut next = plan.clone();
    next.pending.remove(0);
    next.context.insert(
        "captcha".to_string(),
        json!({ "response": verification.answer, "stage": stage.pk }),
    );
    let answer = if next.pending.is_empty() {
        if plan::finish_if_unchanged(&db.writer, &plan.session_hash, plan.version).await? {
            crate::telemetry::flow_plan("finished");
            run.done(&next.query)
        } else {
            // Another response advanced the plan meanwhile: show where it is now.
            run.again()
        }
    } else {
        plan::replace_if_unchanged(&db.writer, plan.version, &next).await?;
        run.again()
    };
    Ok(run.outcome(answer))
}

/// GraphQL `verifyCaptcha`: a token checked with a stage's provider, for applications that
/// embed a widget themselves; the same call and decision as the executor's.
pub async fn verify_captcha(
    db: &Db,
    principal: &Principal,
    verifier: &Verifier,
    stage: Uuid,
    token: &str,
    remote_ip: Option<IpAddr>,
) -> Result<Verification, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    let (stage, secret) = stages::verifier_settings(db, stage)
        .await?
        .ok_or(ServiceError::NotFound(NO_CAPTCHA_STAGE))?;
    Ok(verifier.verify(&stage, &secret, token, remote_ip).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_next() {
        for ok in ["/", "/if/user/", "/a?b=c#d"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "https://evil",
            "//evil",
            "/\\evil",
            "javascript:alert(1)",
            "",
            "/a\nb",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }

    #[test]
    fn sessions_keep_only_cookies_this_service_could_issue() {
        let fresh = Session::of(None);
        let cookie = fresh.new.clone().unwrap();
        assert_eq!(cookie.len(), 43);
        let again = Session::of(Some(&cookie));
        assert!(again.new.is_none());
        assert_eq!(again.hash, fresh.hash);
        assert!(Session::of(Some("short")).new.is_some());
    }
}
