//! authentik's flow executor (`/api/v3/flows/executor/{slug}/`, flow-executor.md) over HTTP,
//! against a scripted siteverify peer: a real HTTP server started in the test whose answers each
//! test scripts and which records every form it receives. The challenges are compared with
//! authentik's JSON whole, keys in its order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as PeerStatus, Uri, header};
use axum::response::{IntoResponse, Response};
use entity::flow_plan;
use futures::StreamExt;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use stages_api::auth::{Permission, hash_token};
use stages_api::config::Settings;

use crate::attack::second_instance;
use crate::flow_helpers::*;
use crate::helpers::*;

const EXECUTOR: &str = "/api/v3/flows/executor/";
const AVATAR: &str = "/static/dist/assets/images/user_default.png";
const FAILED: &str = "Failed to validate token";
const INVALID: &str = "Invalid captcha response";
const INVALID_RETRY: &str = "Invalid captcha response. Retrying may solve this issue.";
const NOT_APPLICABLE: &str = "Flow does not apply to current user.";
/// Every private key here starts so, and every token: neither may show in an answer.
const SECRET_MARK: &str = "sk-exec-";
const TOKEN_MARK: &str = "tk-exec-";

const CAPTCHA_KEYS: [&str; 7] = [
    "flow_info",
    "component",
    "pending_user",
    "pending_user_avatar",
    "site_key",
    "js_url",
    "interactive",
];
const CAPTCHA_ERROR_KEYS: [&str; 8] = [
    "flow_info",
    "component",
    "response_errors",
    "pending_user",
    "pending_user_avatar",
    "site_key",
    "js_url",
    "interactive",
];
const DENIED_KEYS: [&str; 5] = [
    "flow_info",
    "component",
    "pending_user",
    "pending_user_avatar",
    "error_message",
];
const REDIRECT_KEYS: [&str; 2] = ["component", "to"];
const FLOW_INFO_KEYS: [&str; 4] = ["title", "background", "cancel_url", "layout"];

// --- the scripted siteverify peer ---------------------------------------------------------------

/// What the peer answers a siteverify call.
#[derive(Clone, Debug)]
enum Reply {
    /// 200 with this JSON.
    Json(Value),
    /// This status, with a body that would pass were it read.
    Status(u16),
    /// 200 with an HTML page.
    NotJson,
    /// 200 with a passing JSON object larger than 64 KiB.
    Oversize,
    /// 302 to `/elsewhere`, which would answer a pass.
    Redirect,
    /// Never answers.
    Hang,
    /// Sends its headers and the start of a passing body, then nothing more.
    HangInBody,
}

/// A call the peer received.
#[derive(Clone, Debug)]
struct Call {
    path: String,
    content_type: String,
    user_agent: String,
    form: Vec<(String, String)>,
}

impl Call {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `secret`, `response` and `remoteip`, in the order sent.
    fn fields(&self) -> Vec<&str> {
        self.form.iter().map(|(k, _)| k.as_str()).collect()
    }
}

struct Script {
    /// What every call is answered.
    reply: Mutex<Reply>,
    calls: Mutex<Vec<Call>>,
    /// Calls wait here until this many have arrived.
    gate: Mutex<Option<Arc<tokio::sync::Barrier>>>,
}

#[derive(Clone)]
struct Peer {
    base: String,
    script: Arc<Script>,
}

impl Peer {
    async fn start() -> Peer {
        let script = Arc::new(Script {
            reply: Mutex::new(Reply::Json(json!({"success": true}))),
            calls: Mutex::new(Vec::new()),
            gate: Mutex::new(None),
        });
        let router = axum::Router::new()
            .fallback(peer_answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Peer { base, script }
    }

    fn url(&self) -> String {
        format!("{}/siteverify", self.base)
    }

    /// Every later call is answered so.
    fn answer(&self, reply: Reply) {
        *self.script.reply.lock().unwrap() = reply;
    }

    /// Holds every call until `calls` of them are waiting.
    fn gate(&self, calls: usize) {
        *self.script.gate.lock().unwrap() = Some(Arc::new(tokio::sync::Barrier::new(calls)));
    }

    fn ungate(&self) {
        *self.script.gate.lock().unwrap() = None;
    }

    fn calls(&self) -> Vec<Call> {
        self.script.calls.lock().unwrap().clone()
    }

    fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.script.calls.lock().unwrap())
    }
}

async fn peer_answer(
    State(script): State<Arc<Script>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    script.calls.lock().unwrap().push(Call {
        path: uri.path().to_string(),
        content_type: text(header::CONTENT_TYPE),
        user_agent: text(header::USER_AGENT),
        form: form_urlencoded::parse(&body).into_owned().collect(),
    });
    if uri.path() == "/elsewhere" {
        return axum::Json(json!({"success": true})).into_response();
    }
    let gate = script.gate.lock().unwrap().clone();
    if let Some(gate) = gate {
        gate.wait().await;
    }
    let reply = script.reply.lock().unwrap().clone();
    match reply {
        Reply::Json(value) => axum::Json(value).into_response(),
        Reply::Status(status) => (
            PeerStatus::from_u16(status).unwrap(),
            axum::Json(json!({"success": true})),
        )
            .into_response(),
        Reply::NotJson => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>success</body></html>",
        )
            .into_response(),
        Reply::Oversize => {
            let pad = "x".repeat(70 * 1024);
            axum::Json(json!({"success": true, "pad": pad})).into_response()
        }
        Reply::Redirect => (PeerStatus::FOUND, [(header::LOCATION, "/elsewhere")]).into_response(),
        Reply::Hang => std::future::pending().await,
        Reply::HangInBody => {
            let start = futures::stream::once(async {
                Ok::<_, std::io::Error>(Bytes::from_static(b"{\"success\": true"))
            });
            let body = axum::body::Body::from_stream(start.chain(futures::stream::pending()));
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

// --- a browser: the session cookie, the page's query, and the checks on every answer ------------

struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: Option<String>,
    /// The page's own query string (the executor's `query` parameter).
    query: String,
    forwarded_for: Option<&'static str>,
    /// Whether the app is configured for https (`Secure` cookies).
    secure: bool,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp, query: &str) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            query: query.to_string(),
            forwarded_for: None,
            secure: false,
        }
    }

    /// Another browser holding this one's cookie, talking to `app`.
    fn on(&self, app: &'a TestApp) -> Self {
        Browser {
            cookie: self.cookie.clone(),
            ..Browser::new(app, &self.query)
        }
    }

    fn path(&self, slug: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &self.query)
            .finish();
        format!("{EXECUTOR}{slug}/?{query}")
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self
            .client
            .request(method, format!("{}{path}", self.app.base));
        if let Some(cookie) = &self.cookie {
            builder = builder.header("cookie", format!("authentik_session={cookie}"));
        }
        if let Some(address) = self.forwarded_for {
            builder = builder.header("x-forwarded-for", address);
        }
        builder
    }

    /// Checks an answer (never a 5xx, never a key or a token) and keeps a new session cookie.
    fn check(&mut self, resp: Resp) -> Resp {
        assert!(
            !resp.status.is_server_error(),
            "{:?}: {} {}",
            self.app.backend,
            resp.status,
            resp.text
        );
        let headers = format!("{:?}", resp.headers);
        for mark in [SECRET_MARK, TOKEN_MARK] {
            assert!(!resp.text.contains(mark), "{mark} in {}", resp.text);
            assert!(!headers.contains(mark), "{mark} in {headers}");
        }
        if let Some(cookie) = resp.headers.get("set-cookie") {
            let cookie = cookie.to_str().unwrap();
            let (value, attributes) = cookie
                .strip_prefix("authentik_session=")
                .and_then(|rest| rest.split_once(';'))
                .unwrap_or_else(|| panic!("{cookie}"));
            assert_eq!(value.len(), 43, "{cookie}");
            let secure = if self.secure { "; Secure" } else { "" };
            assert_eq!(
                attributes,
                format!(" HttpOnly; SameSite=Lax; Path=/{secure}")
            );
            self.cookie = Some(value.to_string());
        }
        resp
    }

    async fn get_path(&mut self, path: &str) -> Resp {
        let resp = self.app.send(self.request(Method::GET, path)).await;
        self.check(resp)
    }

    async fn get(&mut self, slug: &str) -> Resp {
        let path = self.path(slug);
        self.get_path(&path).await
    }

    async fn post(&mut self, slug: &str, body: &Value) -> Resp {
        let builder = self.request(Method::POST, &self.path(slug)).json(body);
        let resp = self.app.send(builder).await;
        self.check(resp)
    }

    async fn solve(&mut self, slug: &str, token: &str) -> Resp {
        self.post(
            slug,
            &json!({"component": "ak-stage-captcha", "token": token}),
        )
        .await
    }

    /// A 302 to the executor's GET with this page's query, followed as a browser does.
    async fn follow(&mut self, resp: &Resp, slug: &str) -> Resp {
        assert_eq!(resp.status, StatusCode::FOUND, "{}", resp.text);
        let location = resp.headers["location"].to_str().unwrap().to_string();
        assert_eq!(location, self.path(slug));
        self.get_path(&location).await
    }

    /// The session's stored plan, if any.
    async fn plan(&self) -> Option<flow_plan::Model> {
        let hash = hash_token(self.cookie.as_deref()?);
        flow_plan::Entity::find_by_id(hash)
            .one(&self.app.db.reader)
            .await
            .unwrap()
    }
}

fn token(name: &str) -> String {
    format!("{TOKEN_MARK}{name}")
}

// --- authentik's answers ------------------------------------------------------------------------

fn flow_info(slug: &str, query: &str) -> Value {
    let cancel_url = if query.is_empty() {
        "/flows/-/cancel/".to_string()
    } else {
        format!("/flows/-/cancel/?{query}")
    };
    json!({"title": format!("Title {slug}"), "background": DEFAULT_BACKGROUND,
           "cancel_url": cancel_url, "layout": "stacked"})
}

fn captcha(slug: &str, query: &str, stage: &Value) -> Value {
    json!({"flow_info": flow_info(slug, query), "component": "ak-stage-captcha",
           "pending_user": "", "pending_user_avatar": AVATAR,
           "site_key": stage["public_key"], "js_url": stage["js_url"],
           "interactive": stage["interactive"]})
}

fn refused(mut challenge: Value, message: &str, code: &str) -> Value {
    challenge["response_errors"] = json!({"token": [{"string": message, "code": code}]});
    challenge
}

fn redirect(to: &str) -> Value {
    json!({"component": "xak-flow-redirect", "to": to})
}

fn denied(slug: &str, query: &str) -> Value {
    json!({"flow_info": flow_info(slug, query), "component": "ak-stage-access-denied",
           "pending_user": "", "pending_user_avatar": AVATAR, "error_message": NOT_APPLICABLE})
}

/// A 200 whose body is `expected`, its keys in authentik's order.
fn expect(resp: &Resp, expected: &Value) {
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(&resp.body, expected, "{}", resp.text);
    let ordered = Ordered::parse(&resp.text);
    let keys: &[&str] = match expected["component"].as_str().unwrap() {
        "ak-stage-captcha" if expected.get("response_errors").is_some() => &CAPTCHA_ERROR_KEYS,
        "ak-stage-captcha" => &CAPTCHA_KEYS,
        "ak-stage-access-denied" => &DENIED_KEYS,
        _ => &REDIRECT_KEYS,
    };
    assert_eq!(ordered.keys(), keys, "{}", resp.text);
    if expected.get("flow_info").is_some() {
        assert_eq!(ordered.get("flow_info").keys(), FLOW_INFO_KEYS);
    }
}

// --- flows of stages that call the peer ---------------------------------------------------------

/// A captcha stage whose provider is the peer; `extra` overrides fields.
async fn peer_stage(app: &TestApp, peer: &Peer, name: &str, extra: Value) -> Value {
    let mut body = json!({"name": name, "public_key": format!("site-{name}"),
                          "private_key": format!("{SECRET_MARK}{name}"),
                          "api_url": peer.url(), "js_url": format!("{}/js/{name}.js", peer.base)});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    app.create_stage(&body).await
}

/// A flow `slug` (extra flow fields in `flow_fields`) of one stage per entry of `stages`, bound
/// in order with the given `invalid_response_action`; the stages.
async fn captcha_flow(
    app: &TestApp,
    peer: &Peer,
    slug: &str,
    flow_fields: Value,
    stages: &[(&str, Value)],
) -> Vec<Value> {
    let mut body = flow(slug);
    for (key, value) in flow_fields.as_object().unwrap() {
        body[key] = value.clone();
    }
    let flow = create_flow_with(app, &body).await;
    let mut created = Vec::new();
    for (order, (action, extra)) in stages.iter().enumerate() {
        let stage = peer_stage(app, peer, &format!("{slug}-{order}"), extra.clone()).await;
        let mut binding = binding_request(&pk(&flow), &pk(&stage), order as i64 * 10);
        binding["invalid_response_action"] = json!(action);
        let resp = app.post(BINDINGS, &binding).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        created.push(stage);
    }
    created
}

/// A flow of two stages, both bound with `retry`.
async fn two_stages(app: &TestApp, peer: &Peer, slug: &str) -> Vec<Value> {
    captcha_flow(
        app,
        peer,
        slug,
        json!({}),
        &[("retry", json!({})), ("retry", json!({}))],
    )
    .await
}

/// A flow of one stage bound with `retry`.
async fn one_stage(app: &TestApp, peer: &Peer, slug: &str, extra: Value) -> Value {
    captcha_flow(app, peer, slug, json!({}), &[("retry", extra)])
        .await
        .remove(0)
}

fn context(plan: &flow_plan::Model) -> Value {
    serde_json::from_str(&plan.context).unwrap()
}

fn pending(plan: &flow_plan::Model) -> usize {
    serde_json::from_str::<Vec<String>>(&plan.pending)
        .unwrap()
        .len()
}

// --- the tests ----------------------------------------------------------------------------------

/// Two captcha stages to the end: each challenge as authentik's, the form siteverify receives,
/// the 302 to the next stage, the plan's context, and the redirect to `next`.
#[tokio::test]
async fn two_stages_to_the_redirect() {
    let peer = Peer::start().await;
    for app in apps().await {
        let slug = "two";
        let stages = captcha_flow(
            &app,
            &peer,
            slug,
            json!({}),
            &[
                ("retry", json!({})),
                ("retry", json!({"interactive": true})),
            ],
        )
        .await;
        let query = "next=%2Fapp%2F%3Fx%3D1&foo=bar";
        let mut browser = Browser::new(&app, query);
        let first = browser.get(slug).await;
        expect(&first, &captcha(slug, query, &stages[0]));
        assert!(browser.cookie.is_some(), "a session cookie is set");
        assert_eq!(first.body["interactive"], false);
        assert!(peer.calls().is_empty());
        // The same challenge again: the session keeps its plan and cookie.
        let again = browser.get(slug).await;
        expect(&again, &captcha(slug, query, &stages[0]));
        assert!(again.headers.get("set-cookie").is_none());

        let answer = json!({"success": true, "challenge_ts": "2025-01-01T00:00:00Z",
                            "hostname": "localhost", "action": "login", "score": 0.9});
        peer.answer(Reply::Json(answer.clone()));
        let passed = browser.solve(slug, &token("first")).await;
        assert!(passed.text.is_empty(), "{}", passed.text);
        let calls = peer.take_calls();
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(call.path, "/siteverify");
        assert_eq!(call.content_type, "application/x-www-form-urlencoded");
        assert_eq!(call.fields(), ["secret", "response", "remoteip"]);
        assert_eq!(call.field("secret"), Some("sk-exec-two-0"));
        assert_eq!(call.field("response"), Some(token("first").as_str()));
        assert_eq!(call.field("remoteip"), Some("127.0.0.1"));
        assert!(
            call.user_agent.starts_with("stages-api/"),
            "{}",
            call.user_agent
        );
        let plan = browser.plan().await.expect("a plan");
        assert_eq!(pending(&plan), 1);
        assert_eq!(
            context(&plan)["captcha"],
            json!({"response": answer, "stage": stages[0]["pk"]})
        );

        let second = browser.follow(&passed, slug).await;
        expect(&second, &captcha(slug, query, &stages[1]));
        assert_eq!(second.body["interactive"], true);
        let done = browser.solve(slug, &token("second")).await;
        expect(&done, &redirect("/app/?x=1"));
        let calls = peer.take_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].field("secret"), Some("sk-exec-two-1"));
        assert_eq!(calls[0].field("response"), Some(token("second").as_str()));
        assert!(
            browser.plan().await.is_none(),
            "the plan ends with the flow"
        );
        assert_eq!(app.count("flow_plan").await, 0);

        // No `query` parameter at all: an empty query, and a 302 without one.
        let mut browser = Browser::new(&app, "");
        let path = format!("{EXECUTOR}{slug}/");
        let resp = browser.get_path(&path).await;
        expect(&resp, &captcha(slug, "", &stages[0]));
        let builder = browser
            .request(Method::POST, &path)
            .json(&json!({"token": token("bare")}));
        let passed = browser.check(app.send(builder).await);
        assert_eq!(passed.status, StatusCode::FOUND);
        assert_eq!(passed.headers["location"], path.as_str());
        // The page's query may change between requests: the latest one counts, as authentik
        // keeps the query of every request.
        browser.query = "next=%2Flatest%2F".to_string();
        expect(
            &browser.get(slug).await,
            &captcha(slug, "next=%2Flatest%2F", &stages[1]),
        );
        expect(
            &browser.solve(slug, &token("bare")).await,
            &redirect("/latest/"),
        );
        peer.take_calls();

        // Only a local path is a `next`.
        let lone = one_stage(&app, &peer, "lone", json!({})).await;
        for (query, to) in [
            ("next=%2Fif%2Fuser%2F", "/if/user/"),
            ("", "/"),
            ("next=https%3A%2F%2Fevil.example%2Fsteal", "/"),
            ("next=%2F%2Fevil.example%2F", "/"),
            ("next=javascript%3Aalert(1)", "/"),
            ("other=1", "/"),
        ] {
            let mut browser = Browser::new(&app, query);
            expect(&browser.get("lone").await, &captcha("lone", query, &lone));
            expect(&browser.solve("lone", &token("lone")).await, &redirect(to));
        }
        peer.take_calls();
    }
}

/// The decision table through the full HTTP path: the provider's answer, authentik's message in
/// the `retry` challenge, or the redirect when the token passes.
#[tokio::test]
async fn decision_table_through_the_executor() {
    let peer = Peer::start().await;
    for app in apps().await {
        let thresholds = json!({"score_min_threshold": 0.5, "score_max_threshold": 0.8});
        let mut strict_fields = thresholds.clone();
        strict_fields["error_on_invalid_score"] = json!(true);
        let mut lenient_fields = thresholds.clone();
        lenient_fields["error_on_invalid_score"] = json!(false);
        let strict = one_stage(&app, &peer, "strict", strict_fields).await;
        let lenient = one_stage(&app, &peer, "lenient", lenient_fields).await;
        let codes = |codes: &[&str]| json!({"success": false, "error-codes": codes});
        let rows: Vec<(&str, Value, Option<&str>)> = vec![
            // reCAPTCHA, hCaptcha and Turnstile codes after which a new token may pass.
            (
                "recaptcha timeout",
                codes(&["timeout-or-duplicate"]),
                Some(INVALID_RETRY),
            ),
            (
                "missing response",
                codes(&["missing-input-response"]),
                Some(INVALID_RETRY),
            ),
            (
                "hcaptcha retriable",
                codes(&[
                    "invalid-input-response",
                    "expired-input-response",
                    "already-seen-response",
                ]),
                Some(INVALID_RETRY),
            ),
            ("no codes listed", codes(&[]), Some(INVALID_RETRY)),
            // Codes that a new token does not cure.
            (
                "hcaptcha mismatch",
                codes(&["sitekey-secret-mismatch"]),
                Some(INVALID),
            ),
            (
                "turnstile secret",
                codes(&["invalid-input-secret", "timeout-or-duplicate"]),
                Some(INVALID),
            ),
            (
                "turnstile internal",
                codes(&["internal-error"]),
                Some(INVALID),
            ),
            ("no error-codes", json!({"success": false}), Some(INVALID)),
            // reCAPTCHA v3 scores against 0.5 ..= 0.8.
            (
                "score below",
                json!({"success": true, "score": 0.3}),
                Some(INVALID),
            ),
            (
                "score above",
                json!({"success": true, "score": 0.9}),
                Some(INVALID),
            ),
            (
                "score between",
                json!({"success": true, "score": 0.6}),
                None,
            ),
            (
                "score at the minimum",
                json!({"success": true, "score": 0.5}),
                None,
            ),
            (
                "no score",
                json!({"success": true, "hostname": "localhost"}),
                None,
            ),
        ];
        for (row, answer, message) in rows {
            for (stage, slug, strict_row) in
                [(&strict, "strict", true), (&lenient, "lenient", false)]
            {
                peer.answer(Reply::Json(answer.clone()));
                let mut browser = Browser::new(&app, "next=%2Fdone%2F");
                browser.get(slug).await;
                let resp = browser.solve(slug, &token(row)).await;
                let challenge = captcha(slug, "next=%2Fdone%2F", stage);
                match message.filter(|_| strict_row) {
                    Some(message) => {
                        expect(&resp, &refused(challenge, message, "invalid"));
                        assert_eq!(browser.plan().await.map(|p| pending(&p)), Some(1), "{row}");
                    }
                    None => expect(&resp, &redirect("/done/")),
                }
                assert_eq!(peer.take_calls().len(), 1, "{row}");
            }
        }
    }
}

/// No usable answer from the provider: an error status, not JSON, more than 64 KiB, a redirect
/// (never followed), or no answer within the siteverify timeout. `Failed to validate token`,
/// whatever `error_on_invalid_score` says.
#[tokio::test]
async fn unusable_answers_fail_to_validate() {
    let peer = Peer::start().await;
    let settings = Settings {
        siteverify_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    for backend in backends() {
        let app = spawn_with(backend, settings.clone()).await;
        let strict = one_stage(&app, &peer, "strict", json!({})).await;
        let lenient = one_stage(
            &app,
            &peer,
            "lenient",
            json!({"error_on_invalid_score": false}),
        )
        .await;
        for (what, reply) in [
            ("500", Reply::Status(500)),
            ("503", Reply::Status(503)),
            ("404", Reply::Status(404)),
            ("html", Reply::NotJson),
            ("json array", Reply::Json(json!([{"success": true}]))),
            ("oversize", Reply::Oversize),
            ("redirect", Reply::Redirect),
            ("hang", Reply::Hang),
            ("hang in the body", Reply::HangInBody),
        ] {
            for (stage, slug) in [(&strict, "strict"), (&lenient, "lenient")] {
                peer.answer(reply.clone());
                let mut browser = Browser::new(&app, "");
                browser.get(slug).await;
                let resp = browser.solve(slug, &token(what)).await;
                expect(&resp, &refused(captcha(slug, "", stage), FAILED, "invalid"));
                let calls = peer.take_calls();
                let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
                assert_eq!(paths, ["/siteverify"], "{what}: a redirect is not followed");
            }
        }
        // The provider answers again: the same session passes.
        peer.answer(Reply::Json(json!({"success": true})));
        let mut browser = Browser::new(&app, "");
        browser.get("strict").await;
        expect(&browser.solve("strict", &token("ok")).await, &redirect("/"));
        assert_eq!(peer.take_calls().len(), 1);
    }
}

/// A refused response under each `invalid_response_action`: `retry` answers the challenge with
/// the errors; `restart` plans the flow anew without the context, `restart_with_context` with
/// it; both answer 302 to the executor's GET with the same query.
#[tokio::test]
async fn invalid_response_actions() {
    let peer = Peer::start().await;
    let refuse = Reply::Json(json!({"success": false, "error-codes": ["invalid-input-secret"]}));
    for app in apps().await {
        let query = "next=%2Fafter%2F";
        // retry: the errors of a missing, blank or refused token, on the same stage.
        let retry = one_stage(&app, &peer, "retry", json!({})).await;
        let mut browser = Browser::new(&app, query);
        browser.get("retry").await;
        let challenge = captcha("retry", query, &retry);
        for (body, message, code) in [
            (
                json!({"component": "ak-stage-captcha"}),
                REQUIRED,
                "required",
            ),
            (
                json!({"component": "ak-stage-captcha", "token": ""}),
                BLANK,
                "blank",
            ),
            (
                json!({"component": "ak-stage-captcha", "token": "   "}),
                BLANK,
                "blank",
            ),
            (
                json!({"token": null}),
                "This field may not be null.",
                "null",
            ),
            (json!({"token": {"a": 1}}), "Not a valid string.", "invalid"),
            (json!({"token": ["x"]}), "Not a valid string.", "invalid"),
        ] {
            let resp = browser.post("retry", &body).await;
            expect(&resp, &refused(challenge.clone(), message, code));
        }
        assert!(peer.take_calls().is_empty(), "no token, no siteverify call");
        // A body that is not JSON is refused before any call (never a 5xx).
        for (content_type, body, status) in [
            ("text/plain", "token=x", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ("application/json", "{\"token\": ", StatusCode::BAD_REQUEST),
        ] {
            let builder = browser
                .request(Method::POST, &browser.path("retry"))
                .header("content-type", content_type)
                .body(body);
            let resp = browser.check(app.send(builder).await);
            assert_eq!(resp.status, status, "{body}: {}", resp.text);
        }
        // JSON that is not an object is a refused response, as authentik's serializer refuses
        // it: the challenge again with `non_field_errors`.
        for (body, message, code) in [
            (
                json!(["token"]),
                "Invalid data. Expected a dictionary, but got list.",
                "invalid",
            ),
            (
                json!("token"),
                "Invalid data. Expected a dictionary, but got str.",
                "invalid",
            ),
            (json!(null), "No data provided", "null"),
        ] {
            let resp = browser.post("retry", &body).await;
            let mut expected = challenge.clone();
            expected["response_errors"] =
                json!({"non_field_errors": [{"string": message, "code": code}]});
            expect(&resp, &expected);
        }
        assert!(peer.take_calls().is_empty());
        // A number is read as text, as DRF's CharField reads it.
        peer.answer(refuse.clone());
        let resp = browser.post("retry", &json!({"token": 12345})).await;
        expect(&resp, &refused(challenge.clone(), INVALID, "invalid"));
        assert_eq!(peer.take_calls()[0].field("response"), Some("12345"));
        peer.answer(refuse.clone());
        let resp = browser.solve("retry", &token("bad")).await;
        expect(&resp, &refused(challenge.clone(), INVALID, "invalid"));
        peer.answer(Reply::Json(json!({"success": true})));
        expect(
            &browser.solve("retry", &token("good")).await,
            &redirect("/after/"),
        );

        for (action, keeps_context) in [("restart", false), ("restart_with_context", true)] {
            let slug = action.replace('_', "-");
            let stages = captcha_flow(
                &app,
                &peer,
                &slug,
                json!({}),
                &[("retry", json!({})), (action, json!({}))],
            )
            .await;
            let mut browser = Browser::new(&app, query);
            browser.get(&slug).await;
            peer.answer(Reply::Json(json!({"success": true, "hostname": "first"})));
            let passed = browser.solve(&slug, &token("first")).await;
            expect(
                &browser.follow(&passed, &slug).await,
                &captcha(&slug, query, &stages[1]),
            );
            peer.answer(refuse.clone());
            let restarted = browser.solve(&slug, &token("second")).await;
            let plan = browser.plan().await.expect("a plan");
            assert_eq!(pending(&plan), 2, "{action}: every binding again");
            assert_eq!(
                context(&plan).get("captcha").is_some(),
                keeps_context,
                "{action}: {}",
                plan.context
            );
            // Back to the first stage with the same query.
            expect(
                &browser.follow(&restarted, &slug).await,
                &captcha(&slug, query, &stages[0]),
            );
            // A missing token restarts as well.
            peer.answer(Reply::Json(json!({"success": true})));
            let passed = browser.solve(&slug, &token("first")).await;
            browser.follow(&passed, &slug).await;
            let restarted = browser
                .post(&slug, &json!({"component": "ak-stage-captcha"}))
                .await;
            expect(
                &browser.follow(&restarted, &slug).await,
                &captcha(&slug, query, &stages[0]),
            );
            peer.take_calls();
        }
    }
}

/// A flow with no bindings ends at once, on GET and POST, without a siteverify call.
#[tokio::test]
async fn empty_flow_redirects_at_once() {
    let peer = Peer::start().await;
    for app in apps().await {
        create_flow(&app, "empty").await;
        for (query, to) in [
            ("next=%2Fwelcome%2F", "/welcome/"),
            ("", "/"),
            ("next=http%3A%2F%2Fother.example%2F", "/"),
        ] {
            let mut browser = Browser::new(&app, query);
            expect(&browser.get("empty").await, &redirect(to));
            expect(&browser.solve("empty", &token("none")).await, &redirect(to));
        }
        assert!(peer.calls().is_empty());
        assert_eq!(app.count("flow_plan").await, 0);
    }
}

/// A flow whose `authentication` an anonymous caller cannot meet is answered by its
/// `denied_action`: the access-denied challenge, or a redirect to the executor's `next`.
#[tokio::test]
async fn authentication_and_denied_action() {
    let peer = Peer::start().await;
    for app in apps().await {
        for (authentication, applies) in [
            ("none", true),
            ("require_unauthenticated", true),
            ("require_authenticated", false),
            ("require_superuser", false),
            ("require_redirect", false),
            ("require_outpost", false),
        ] {
            let slug = format!("auth-{}", authentication.replace('_', "-"));
            let stage = captcha_flow(
                &app,
                &peer,
                &slug,
                json!({"authentication": authentication, "denied_action": "message"}),
                &[("retry", json!({}))],
            )
            .await
            .remove(0);
            let mut browser = Browser::new(&app, "a=1");
            let expected = if applies {
                captcha(&slug, "a=1", &stage)
            } else {
                denied(&slug, "a=1")
            };
            expect(&browser.get(&slug).await, &expected);
            if !applies {
                expect(&browser.solve(&slug, &token("t")).await, &expected);
                assert!(browser.plan().await.is_none());
            }
        }
        assert!(peer.calls().is_empty());

        // denied_action, with and without a `next` on the executor's URL.
        for denied_action in ["message_continue", "continue", "message"] {
            let mut body = flow(&format!("denied-{}", denied_action.replace('_', "-")));
            body["authentication"] = json!("require_authenticated");
            body["denied_action"] = json!(denied_action);
            create_flow_with(&app, &body).await;
        }
        for (denied_action, next, expected) in [
            ("message_continue", Some("/next/"), Some("/next/")),
            ("message_continue", None, None),
            ("message_continue", Some("https://evil.example/"), None),
            ("continue", Some("/next/"), Some("/next/")),
            ("continue", None, Some("/")),
            ("continue", Some("//evil.example/"), Some("/")),
            ("message", Some("/next/"), None),
            ("message", None, None),
        ] {
            let slug = format!("denied-{}", denied_action.replace('_', "-"));
            let mut browser = Browser::new(&app, "");
            let mut path = browser.path(&slug);
            if let Some(next) = next {
                let next = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish();
                path = format!("{path}&{next}");
            }
            let resp = browser.get_path(&path).await;
            match expected {
                Some(to) => expect(&resp, &redirect(to)),
                None => expect(&resp, &denied(&slug, "")),
            }
        }
    }
}

/// An unknown flow: 404 with DRF's detail, on GET and POST.
#[tokio::test]
async fn unknown_flow_is_not_found() {
    for app in apps().await {
        let mut browser = Browser::new(&app, "next=%2F");
        for resp in [
            browser.get("nowhere").await,
            browser.solve("nowhere", &token("t")).await,
        ] {
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.text);
            assert_eq!(resp.body, detail(NO_FLOW));
        }
    }
}

/// A cookie that is missing, not one this service issues, unknown, or of a plan of another
/// flow: a fresh plan at the first stage, never a 5xx.
#[tokio::test]
async fn session_cookies_missing_garbage_or_of_another_flow() {
    let peer = Peer::start().await;
    for app in apps().await {
        let stages = two_stages(&app, &peer, "cookies").await;
        let first = captcha("cookies", "", &stages[0]);
        let second = captcha("cookies", "", &stages[1]);
        for garbage in [
            "",
            "garbage",
            "%00%ff",
            "a\"b",
            &"A".repeat(42),
            &"!".repeat(43),
            &"A".repeat(4000),
        ] {
            let mut browser = Browser::new(&app, "");
            browser.cookie = Some(garbage.to_string());
            expect(&browser.get("cookies").await, &first);
            let fresh = browser.cookie.clone().unwrap();
            assert_ne!(fresh, garbage, "a new session cookie replaces {garbage:?}");
            // The new cookie carries the plan on.
            let passed = browser.solve("cookies", &token("t")).await;
            expect(&browser.follow(&passed, "cookies").await, &second);
        }
        // No cookie on a POST: a new session, whose new plan the token then passes.
        let mut browser = Browser::new(&app, "");
        let passed = browser.solve("cookies", &token("t")).await;
        assert!(passed.headers.get("set-cookie").is_some());
        expect(&browser.follow(&passed, "cookies").await, &second);
        // A well-formed cookie that names no plan is kept as it is.
        let unknown = "A".repeat(43);
        let mut browser = Browser::new(&app, "");
        browser.cookie = Some(unknown.clone());
        let resp = browser.get("cookies").await;
        expect(&resp, &first);
        assert!(resp.headers.get("set-cookie").is_none());
        assert!(browser.plan().await.is_some());

        // A plan of another flow: this flow starts anew.
        let other = one_stage(&app, &peer, "other", json!({})).await;
        let passed = browser.solve("cookies", &token("t")).await;
        expect(&browser.follow(&passed, "cookies").await, &second);
        expect(&browser.get("other").await, &captcha("other", "", &other));
        expect(&browser.get("cookies").await, &first);
        peer.take_calls();
    }
}

/// A binding (or its stage) deleted while a plan holds it is skipped: the next one's challenge,
/// or the end of the flow.
#[tokio::test]
async fn deleted_bindings_are_skipped() {
    let peer = Peer::start().await;
    for app in apps().await {
        let stages = two_stages(&app, &peer, "shrinking").await;
        let mut browser = Browser::new(&app, "next=%2Fend%2F");
        expect(
            &browser.get("shrinking").await,
            &captcha("shrinking", "next=%2Fend%2F", &stages[0]),
        );
        let bindings = app
            .get(&format!("{BINDINGS}?stage={}", pk(&stages[0])))
            .await;
        let binding = pk(&bindings.body["results"][0]);
        assert_eq!(
            app.delete(&binding_path(&binding)).await.status,
            StatusCode::NO_CONTENT
        );
        expect(
            &browser.get("shrinking").await,
            &captcha("shrinking", "next=%2Fend%2F", &stages[1]),
        );
        assert_eq!(
            app.delete(&stage_path(&pk(&stages[1]))).await.status,
            StatusCode::NO_CONTENT
        );
        expect(
            &browser.solve("shrinking", &token("t")).await,
            &redirect("/end/"),
        );
        assert!(
            peer.calls().is_empty(),
            "no stage was left to check a token"
        );
    }
}

/// A plan idle longer than the plan idle timeout (a setting) is gone: the first stage again.
#[tokio::test]
async fn expired_plans_start_anew() {
    let peer = Peer::start().await;
    let idle = Duration::from_secs(2);
    let settings = Settings {
        plan_idle_timeout: idle,
        ..Settings::default()
    };
    for backend in backends() {
        let app = spawn_with(backend, settings.clone()).await;
        let stages = two_stages(&app, &peer, "idle").await;
        let mut browser = Browser::new(&app, "");
        expect(&browser.get("idle").await, &captcha("idle", "", &stages[0]));
        let passed = browser.solve("idle", &token("t")).await;
        assert_eq!(passed.status, StatusCode::FOUND, "{}", passed.text);
        assert_eq!(browser.plan().await.map(|p| pending(&p)), Some(1));
        tokio::time::sleep(idle + Duration::from_millis(500)).await;
        let resp = browser.get("idle").await;
        expect(&resp, &captcha("idle", "", &stages[0]));
        assert!(resp.headers.get("set-cookie").is_none(), "the cookie stays");
        assert_eq!(browser.plan().await.map(|p| pending(&p)), Some(2));
        // An expired plan of another session is swept when a plan is made.
        let mut other = Browser::new(&app, "");
        other.get("idle").await;
        tokio::time::sleep(idle + Duration::from_millis(500)).await;
        Browser::new(&app, "").get("idle").await;
        assert!(other.plan().await.is_none(), "swept");
        peer.take_calls();
    }
}

/// Plans live in the database: instance A answers the GET, instance B the POST with the same
/// cookie, and so on to the end.
#[tokio::test]
async fn two_instances_continue_one_plan() {
    let peer = Peer::start().await;
    for backend in backends() {
        let a = spawn(backend).await;
        let b = second_instance(&a).await;
        let stages = two_stages(&a, &peer, "shared").await;
        let query = "next=%2Fshared%2F";
        let mut on_a = Browser::new(&a, query);
        expect(
            &on_a.get("shared").await,
            &captcha("shared", query, &stages[0]),
        );
        let mut on_b = on_a.on(&b);
        let passed = on_b.solve("shared", &token("one")).await;
        assert_eq!(passed.status, StatusCode::FOUND, "{}", passed.text);
        assert!(passed.headers.get("set-cookie").is_none());
        let mut on_a = on_b.on(&a);
        expect(
            &on_a.get("shared").await,
            &captcha("shared", query, &stages[1]),
        );
        let mut on_b = on_a.on(&b);
        expect(
            &on_b.solve("shared", &token("two")).await,
            &redirect("/shared/"),
        );
        let secrets: Vec<_> = peer
            .take_calls()
            .iter()
            .map(|c| c.field("secret").unwrap().to_string())
            .collect();
        assert_eq!(secrets, ["sk-exec-shared-0", "sk-exec-shared-1"]);
        assert_eq!(a.count("flow_plan").await, 0);
    }
}

/// Ten responses to one plan at once, on two instances, all checked by the provider while each
/// holds the plan it read: exactly one advances it, the others are sent back to the executor's
/// GET; no 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_responses_advance_a_plan_once() {
    const RACERS: usize = 10;
    let peer = Peer::start().await;
    for backend in backends() {
        let a = spawn(backend).await;
        let b = second_instance(&a).await;
        one_stage(&a, &peer, "race-last", json!({})).await;
        let stages = two_stages(&a, &peer, "race-two").await;
        for (slug, ends) in [("race-last", true), ("race-two", false)] {
            let mut browser = Browser::new(&a, "next=%2Fwon%2F");
            browser.get(slug).await;
            let version = browser.plan().await.unwrap().version;
            peer.gate(RACERS);
            let on_b = browser.on(&b);
            let requests = (0..RACERS).map(|i| {
                let racer = if i % 2 == 0 { &browser } else { &on_b };
                let builder = racer.request(Method::POST, &racer.path(slug)).json(
                    &json!({"component": "ak-stage-captcha", "token": token(&i.to_string())}),
                );
                racer.app.send(builder)
            });
            let answers = join_all(requests).await;
            peer.ungate();
            let calls = peer.take_calls();
            assert_eq!(calls.len(), RACERS, "every racer asked the provider");
            assert!(
                calls
                    .iter()
                    .all(|c| c.field("secret") == Some("sk-exec-race-last-0")
                        || c.field("secret") == Some("sk-exec-race-two-0"))
            );
            let mut redirects = 0;
            let mut again = 0;
            for resp in answers {
                let resp = browser.check(resp);
                if resp.status == StatusCode::FOUND {
                    assert_eq!(resp.headers["location"], browser.path(slug).as_str());
                    again += 1;
                } else {
                    expect(&resp, &redirect("/won/"));
                    redirects += 1;
                }
            }
            if ends {
                assert_eq!((redirects, again), (1, RACERS - 1), "{backend:?}");
                assert!(browser.plan().await.is_none());
            } else {
                assert_eq!((redirects, again), (0, RACERS), "{backend:?}");
                let plan = browser.plan().await.unwrap();
                assert_eq!(plan.version, version + 1, "{backend:?}: advanced once");
                assert_eq!(pending(&plan), 1);
                expect(
                    &browser.get(slug).await,
                    &captcha(slug, "next=%2Fwon%2F", &stages[1]),
                );
            }
        }
    }
}

/// The client's address: the TCP peer; the first `X-Forwarded-For` entry only from a trusted
/// proxy. Behind https (a setting) the session cookie is `Secure`.
#[tokio::test]
async fn remoteip_from_trusted_proxies_only() {
    let peer = Peer::start().await;
    let trusting = Settings {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        secure_cookies: true,
        ..Settings::default()
    };
    for backend in backends() {
        for (settings, expected) in [
            (Settings::default(), "127.0.0.1"),
            (trusting.clone(), "203.0.113.7"),
        ] {
            let secure = settings.secure_cookies;
            let app = spawn_with(backend, settings).await;
            one_stage(&app, &peer, "ip", json!({})).await;
            let mut browser = Browser::new(&app, "");
            browser.secure = secure;
            browser.forwarded_for = Some("203.0.113.7, 10.0.0.1");
            let resp = browser.solve("ip", &token("ip")).await;
            assert!(resp.headers.get("set-cookie").is_some(), "a new session");
            expect(&resp, &redirect("/"));
            let calls = peer.take_calls();
            assert_eq!(calls[0].field("remoteip"), Some(expected));
        }
    }
}

const VERIFY: &str = "mutation($stage: UUID!, $token: String!, $ip: String) {
  verifyCaptcha(stageId: $stage, token: $token, remoteIp: $ip) {
    passed message success score errorCodes hostname challengeTs action
  }
}";

/// GraphQL `verifyCaptcha`: the same siteverify call and decision, in the shapes of §5.
#[tokio::test]
async fn graphql_verify_captcha() {
    let peer = Peer::start().await;
    for app in apps().await {
        let stage = peer_stage(&app, &peer, "gql", json!({"score_min_threshold": 0.5})).await;
        let variables =
            |token: &str, ip: Option<&str>| json!({"stage": stage["pk"], "token": token, "ip": ip});
        peer.answer(Reply::Json(
            json!({"success": true, "score": 0.7, "hostname": "example.org",
                                       "challenge_ts": "2025-05-05T10:00:00Z", "action": "login"}),
        ));
        let body = app
            .graphql(VERIFY, variables(&token("gql"), Some("198.51.100.4")))
            .await;
        assert_eq!(
            body,
            json!({"data": {"verifyCaptcha": {"passed": true, "message": null, "success": true,
                "score": 0.7, "errorCodes": [], "hostname": "example.org",
                "challengeTs": "2025-05-05T10:00:00Z", "action": "login"}}})
        );
        let calls = peer.take_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].field("secret"), Some("sk-exec-gql"));
        assert_eq!(calls[0].field("response"), Some(token("gql").as_str()));
        assert_eq!(calls[0].field("remoteip"), Some("198.51.100.4"));

        for (reply, expected) in [
            (
                Reply::Json(json!({"success": false, "error-codes": ["timeout-or-duplicate"]})),
                json!({"passed": false, "message": INVALID_RETRY, "success": false, "score": null,
                       "errorCodes": ["timeout-or-duplicate"], "hostname": null,
                       "challengeTs": null, "action": null}),
            ),
            (
                Reply::Json(json!({"success": true, "score": 0.1, "hostname": "h"})),
                json!({"passed": false, "message": INVALID, "success": true, "score": 0.1,
                       "errorCodes": [], "hostname": "h", "challengeTs": null, "action": null}),
            ),
            (
                Reply::Status(500),
                json!({"passed": false, "message": FAILED, "success": null, "score": null,
                       "errorCodes": [], "hostname": null, "challengeTs": null, "action": null}),
            ),
        ] {
            peer.answer(reply);
            let body = app.graphql(VERIFY, variables(&token("gql"), None)).await;
            assert_eq!(body, json!({"data": {"verifyCaptcha": expected}}));
            assert!(!body.to_string().contains(SECRET_MARK));
            let calls = peer.take_calls();
            assert_eq!(calls[0].field("remoteip"), Some(""), "no remoteIp given");
        }

        // The permission to view captcha stages; a bad address; an unknown stage.
        peer.answer(Reply::Json(json!({"success": true})));
        let limited = app.token_with(&[Permission::ViewFlow]).await;
        let body = app
            .graphql_as(Some(&limited), VERIFY, variables(&token("gql"), None))
            .await;
        assert_eq!(body["data"], Value::Null, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{body}"
        );
        let viewer = app.token_with(&[Permission::ViewCaptchaStage]).await;
        let body = app
            .graphql_as(Some(&viewer), VERIFY, variables(&token("gql"), None))
            .await;
        assert_eq!(body["data"]["verifyCaptcha"]["passed"], true, "{body}");
        let body = app
            .graphql(VERIFY, variables(&token("gql"), Some("not an address")))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        let body = app
            .graphql(
                VERIFY,
                json!({"stage": uuid::Uuid::new_v4(), "token": token("gql")}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{body}"
        );
        assert_eq!(
            peer.take_calls().len(),
            1,
            "only the permitted call reached the peer"
        );
    }
}

/// The providers' documented test keys (tests/data/captcha-test-keys.json): a stage made of
/// each, its challenge carrying the provider's script, site key and mode. No provider is called.
#[tokio::test]
async fn providers_test_keys_in_challenges() {
    let data: Value = serde_json::from_str(include_str!("../data/captcha-test-keys.json")).unwrap();
    let providers = data["providers"].as_array().unwrap();
    assert!(providers.len() >= 3);
    for app in apps().await {
        let mut seen = 0;
        for provider in providers {
            for (index, key) in provider["keys"].as_array().unwrap().iter().enumerate() {
                let slug = format!("{}-{index}", provider["id"].as_str().unwrap());
                let body = json!({"name": format!("{slug} stage"),
                                  "public_key": key["site_key"], "private_key": key["secret_key"],
                                  "js_url": provider["js_url"], "api_url": provider["api_url"],
                                  "interactive": key["interactive"]});
                let stage = app.create_stage(&body).await;
                assert_eq!(stage["api_url"], provider["api_url"]);
                let flow = create_flow(&app, &slug).await;
                bind(&app, &pk(&flow), &pk(&stage), 0).await;
                let resp = Browser::new(&app, "").get(&slug).await;
                expect(&resp, &captcha(&slug, "", &stage));
                assert_eq!(resp.body["site_key"], key["site_key"]);
                assert_eq!(resp.body["js_url"], provider["js_url"]);
                assert_eq!(resp.body["interactive"], key["interactive"]);
                assert!(!resp.text.contains(key["secret_key"].as_str().unwrap()));
                seen += 1;
            }
        }
        assert!(seen >= 6, "{seen} keys");
    }
}
