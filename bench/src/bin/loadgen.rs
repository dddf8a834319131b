//! The load driver of the benchmark: a fixed number of keep-alive HTTP/1.1 connections to a
//! server on this machine, each sending its next request as soon as the previous answer is
//! read, every write with a name and slugs of its own. Runs are bounded in time.
//!
//! ```text
//! loadgen run --url http://127.0.0.1:PORT --scenario S --connections N --seconds D [--warmup W]
//!             [--requests MAX] [--id STAGE_ID]...
//!     prints one tab-separated line: req/s, p50 ms, p99 ms, requests, errors, and all requests
//!     answered (warm-up included)
//! loadgen seed --url URL --count N          N stages with 2 flows each, through REST
//! loadgen seed-flows --url URL --count N    N stages and N flows, each flow bound to 2 stages
//! loadgen compare --url A --url B           same JSON shapes (keys) from both servers
//! loadgen compare-flows --url A --url B     byte-identical flow, binding and GraphQL pages
//! loadgen exec-setup --url URL --siteverify PEER_URL [--slug S]
//!                                           a flow of one captcha stage checked by PEER_URL
//! loadgen report FILE                       the markdown table and targets of a results file
//! ```
//!
//! The Bearer token comes from the environment (`BENCH_TOKEN`) and is never printed.
//! Scenarios: create-min, create-flows, gql-create, list, gql-list, retrieve (stages);
//! flows, bindings, gql-flows (a page of 100 flows or bindings); exec-solve (executor GET with
//! no session, then POST of a token with the new session's cookie: one solve), exec-plan (the
//! GET alone: one plan stored), exec-create (create-min again, the executor's reference;
//! `--slug` names the executor's flow, default `bench-exec`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

const STAGES_PATH: &str = "/api/v3/stages/captcha/";
const FLOWS_PATH: &str = "/api/v3/flows/instances/";
const BINDINGS_PATH: &str = "/api/v3/flows/bindings/";
/// The GraphQL document of `gql-flows` (the baseline answers this one document).
const FLOWS_DOCUMENT: &str = "query { flows(pageSize: 100) { results { slug stageBindings { order stage { name } } stages { name } } } }";
/// The executor's flow unless `--slug` names another.
const EXEC_SLUG: &str = "bench-exec";
/// The page's own query string (`next=/bench/`), as the flow page passes it to the executor.
const EXEC_QUERY: &str = "query=next%3D%2Fbench%2F";
const SESSION_COOKIE: &str = "authentik_session";
const FLOW_FIELDS: &str = "id policybindingmodelPtrId name slug title designation background \
     policyEngineMode compatibilityMode exportUrl layout deniedAction";

fn stage_fields() -> String {
    format!(
        "id name component verboseName verboseNamePlural metaModelName flowSet {{ {FLOW_FIELDS} }} \
         publicKey jsUrl apiUrl interactive scoreMinThreshold scoreMaxThreshold errorOnInvalidScore"
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    CreateMin,
    CreateFlows,
    GqlCreate,
    List,
    GqlList,
    Retrieve,
    Flows,
    Bindings,
    GqlFlows,
    ExecSolve,
    ExecPlan,
    ExecCreate,
}

impl Scenario {
    fn parse(name: &str) -> Result<Scenario, Error> {
        Ok(match name {
            "create-min" => Scenario::CreateMin,
            "create-flows" => Scenario::CreateFlows,
            "gql-create" => Scenario::GqlCreate,
            "list" => Scenario::List,
            "gql-list" => Scenario::GqlList,
            "retrieve" => Scenario::Retrieve,
            "flows" => Scenario::Flows,
            "bindings" => Scenario::Bindings,
            "gql-flows" => Scenario::GqlFlows,
            "exec-solve" => Scenario::ExecSolve,
            "exec-plan" => Scenario::ExecPlan,
            "exec-create" => Scenario::ExecCreate,
            other => return Err(format!("unknown scenario {other:?}").into()),
        })
    }

    fn expected(self) -> StatusCode {
        match self {
            Scenario::CreateMin | Scenario::CreateFlows | Scenario::ExecCreate => {
                StatusCode::CREATED
            }
            _ => StatusCode::OK,
        }
    }

    fn graphql(self) -> bool {
        matches!(
            self,
            Scenario::GqlCreate | Scenario::GqlList | Scenario::GqlFlows
        )
    }
}

/// Where the server listens. Only loopback addresses are accepted.
#[derive(Clone, Debug)]
struct Target {
    addr: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, Error> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("the URL must start with http://")?;
        let addr = rest.trim_end_matches('/');
        let (host, port) = addr.rsplit_once(':').ok_or("the URL needs a port")?;
        let loopback = host == "localhost" || host.starts_with("127.");
        if !loopback || port.parse::<u16>().is_err() {
            return Err(format!("only 127.0.0.1 targets are allowed, not {addr:?}").into());
        }
        Ok(Target {
            addr: addr.to_string(),
        })
    }
}

/// Who sends a request: an API client with the Bearer token, or an anonymous browser with its
/// session cookie, if it has one yet (the flow executor).
#[derive(Clone, Copy)]
enum Caller<'a> {
    Token,
    Browser(Option<&'a str>),
}

/// One keep-alive connection.
struct Client {
    target: Target,
    token: Arc<str>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    fn new(target: Target, token: Arc<str>) -> Client {
        Client {
            target,
            token,
            sender: None,
        }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Error> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(&self.target.addr).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("connected"))
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let (status, _, bytes) = self.send_as(method, path, body, Caller::Token).await?;
        Ok((status, bytes))
    }

    /// A request as `caller`; the answer's status, headers and body.
    async fn send_as(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
        caller: Caller<'_>,
    ) -> Result<(StatusCode, header::HeaderMap, Bytes), Error> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.target.addr.as_str())
            .header(header::CONTENT_TYPE, "application/json");
        match caller {
            Caller::Token => {
                request = request.header(header::AUTHORIZATION, format!("Bearer {}", self.token));
            }
            Caller::Browser(None) => {}
            Caller::Browser(Some(session)) => {
                request = request.header(header::COOKIE, format!("{SESSION_COOKIE}={session}"));
            }
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let sender = self.connect().await?;
        sender.ready().await?;
        let result = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response.into_body().collect().await?.to_bytes();
            Ok::<_, Error>((status, headers, bytes))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

fn token() -> Result<Arc<str>, Error> {
    Ok(std::env::var("BENCH_TOKEN")
        .map_err(|_| "set BENCH_TOKEN to the Bearer token")?
        .into())
}

/// A short id of this run, so that names and slugs never repeat across runs on one database.
fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:08x}",
        (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) as u32
    )
}

fn flow_items(slug_base: &str, graphql: bool) -> String {
    let designations = if graphql {
        ["AUTHENTICATION", "AUTHORIZATION"]
    } else {
        ["authentication", "authorization"]
    };
    let items: Vec<String> = ["a", "b"]
        .iter()
        .zip(designations)
        .map(|(suffix, designation)| {
            format!(
                r#"{{"name":"Bench flow {suffix}","slug":"{slug_base}-{suffix}","title":"Bench flow {suffix}","designation":"{designation}"}}"#
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// The request of a scenario; `unique` makes names and slugs distinct per request.
fn request_for(
    scenario: Scenario,
    unique: &str,
    ids: &[String],
    seq: u64,
) -> (Method, String, Option<String>) {
    let post = Method::POST;
    match scenario {
        Scenario::CreateMin | Scenario::ExecCreate => (
            post,
            STAGES_PATH.into(),
            Some(format!(
                r#"{{"name":"bench-{unique}","public_key":"bench-public","private_key":"bench-private"}}"#
            )),
        ),
        Scenario::CreateFlows => (
            post,
            STAGES_PATH.into(),
            Some(format!(
                r#"{{"name":"bench-{unique}","public_key":"bench-public","private_key":"bench-private","flow_set":{}}}"#,
                flow_items(&format!("b{unique}"), false)
            )),
        ),
        Scenario::GqlCreate => {
            let query = format!(
                "mutation Create($input: CreateCaptchaStageInput!) {{ createCaptchaStage(input: $input) {{ {} }} }}",
                stage_fields()
            );
            let variables = format!(
                r#"{{"input":{{"name":"bench-{unique}","publicKey":"bench-public","privateKey":"bench-private","flowSet":{}}}}}"#,
                flow_items(&format!("b{unique}"), true)
            );
            let body = format!(
                r#"{{"query":{},"variables":{variables}}}"#,
                serde_json::to_string(&query).expect("a string")
            );
            (post, "/graphql".into(), Some(body))
        }
        Scenario::List => (Method::GET, format!("{STAGES_PATH}?page_size=100"), None),
        Scenario::GqlList => {
            let query = format!(
                "query {{ captchaStages(pageSize: 100) {{ pagination {{ next previous count current totalPages startIndex endIndex }} results {{ {} }} }} }}",
                stage_fields()
            );
            let body = serde_json::json!({ "query": query }).to_string();
            (post, "/graphql".into(), Some(body))
        }
        Scenario::Retrieve => {
            let id = &ids[(seq as usize) % ids.len()];
            (Method::GET, format!("{STAGES_PATH}{id}/"), None)
        }
        Scenario::Flows => (Method::GET, format!("{FLOWS_PATH}?page_size=100"), None),
        Scenario::Bindings => (Method::GET, format!("{BINDINGS_PATH}?page_size=100"), None),
        Scenario::GqlFlows => {
            let body = serde_json::json!({ "query": FLOWS_DOCUMENT }).to_string();
            (post, "/graphql".into(), Some(body))
        }
        Scenario::ExecSolve | Scenario::ExecPlan => {
            unreachable!("the executor's scenarios are two requests or anonymous: `perform`")
        }
    }
}

/// The executor's URL for the flow `slug`, with the page's query.
fn executor_path(slug: &str) -> String {
    format!("/api/v3/flows/executor/{slug}/?{EXEC_QUERY}")
}

/// What went wrong with an answer, for the first-error message.
fn describe_answer(status: StatusCode, body: &[u8]) -> String {
    format!(
        "{status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    )
}

/// The session cookie a response sets.
fn session_of(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next()?.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The executor's GET with no session: a new plan is stored and the captcha challenge answered,
/// with the new session's cookie. The cookie, or what went wrong.
async fn executor_start(client: &mut Client, slug: &str) -> Result<Result<String, String>, Error> {
    let (status, headers, body) = client
        .send_as(
            Method::GET,
            &executor_path(slug),
            None,
            Caller::Browser(None),
        )
        .await?;
    if status != StatusCode::OK || !contains(&body, br#""component":"ak-stage-captcha""#) {
        return Ok(Err(format!(
            "executor GET {}",
            describe_answer(status, &body)
        )));
    }
    Ok(session_of(&headers).ok_or_else(|| "executor GET set no session cookie".to_string()))
}

/// One request (two for a solve) of `scenario`: `Ok(Err(why))` when the answer is not the
/// success the scenario expects.
async fn perform(
    client: &mut Client,
    scenario: Scenario,
    unique: &str,
    ids: &[String],
    seq: u64,
    slug: &str,
) -> Result<Result<(), String>, Error> {
    match scenario {
        Scenario::ExecPlan => Ok(executor_start(client, slug).await?.map(|_| ())),
        Scenario::ExecSolve => {
            let session = match executor_start(client, slug).await? {
                Ok(session) => session,
                Err(why) => return Ok(Err(why)),
            };
            let body = format!(r#"{{"component":"ak-stage-captcha","token":"bench-{unique}"}}"#);
            let (status, _, answer) = client
                .send_as(
                    Method::POST,
                    &executor_path(slug),
                    Some(body),
                    Caller::Browser(Some(&session)),
                )
                .await?;
            if status == StatusCode::OK && contains(&answer, br#""component":"xak-flow-redirect""#)
            {
                Ok(Ok(()))
            } else {
                Ok(Err(format!(
                    "executor POST {}",
                    describe_answer(status, &answer)
                )))
            }
        }
        _ => {
            let (method, path, body) = request_for(scenario, unique, ids, seq);
            let (status, body) = client.send(method, &path, body).await?;
            if succeeded(scenario, status, &body) {
                Ok(Ok(()))
            } else {
                Ok(Err(describe_answer(status, &body)))
            }
        }
    }
}

/// Whether a response is the success the scenario expects (GraphQL answers 200 with `errors`).
fn succeeded(scenario: Scenario, status: StatusCode, body: &[u8]) -> bool {
    if status != scenario.expected() {
        return false;
    }
    if scenario.graphql() {
        let head = &body[..body.len().min(16)];
        return head.starts_with(b"{\"data\":{") && !contains(body, b"\"errors\":");
    }
    true
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The ids of up to `max` stages, through the REST list.
async fn stage_ids(target: &Target, token: Arc<str>, max: usize) -> Result<Vec<String>, Error> {
    let mut client = Client::new(target.clone(), token);
    let mut ids = Vec::new();
    let mut page = 1;
    while ids.len() < max {
        let path = format!("{STAGES_PATH}?page_size=100&page={page}");
        let (status, body) = client.send(Method::GET, &path, None).await?;
        if status != StatusCode::OK {
            return Err(format!("listing stages answered {status}").into());
        }
        let value: Value = serde_json::from_slice(&body)?;
        for stage in value["results"].as_array().into_iter().flatten() {
            ids.push(
                stage["pk"]
                    .as_str()
                    .ok_or("a stage without pk")?
                    .to_string(),
            );
        }
        if value["pagination"]["next"].as_u64().unwrap_or(0) == 0 {
            break;
        }
        page += 1;
    }
    ids.truncate(max);
    Ok(ids)
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    errors: u64,
    /// Every request answered, warm-up included (the server's CPU time covers them all).
    all: u64,
}

async fn run(args: &Args) -> Result<(), Error> {
    let target = Target::parse(args.one("url")?)?;
    let scenario = Scenario::parse(args.one("scenario")?)?;
    let connections: usize = args.one("connections")?.parse()?;
    let seconds: f64 = args.one("seconds")?.parse()?;
    let warmup: f64 = args.get("warmup").map_or(Ok(1.0), str::parse)?;
    // `--requests N` stops after N requests in all (for counting work per request).
    let max_requests: u64 = args.get("requests").map_or(Ok(u64::MAX), str::parse)?;
    let token = token()?;
    let slug: Arc<str> = args.get("slug").unwrap_or(EXEC_SLUG).into();
    let given_ids: Vec<String> = args.all("id").into_iter().map(String::from).collect();
    let ids: Arc<Vec<String>> = Arc::new(if !given_ids.is_empty() {
        given_ids
    } else if scenario == Scenario::Retrieve {
        let ids = stage_ids(&target, token.clone(), 300).await?;
        if ids.is_empty() {
            return Err("retrieve needs stored stages: seed first".into());
        }
        ids
    } else {
        Vec::new()
    });
    let run_id = nonce();
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + Duration::from_secs_f64(warmup);
    let deadline = measure_from + Duration::from_secs_f64(seconds);
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let seq_all = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for worker in 0..connections {
        let mut client = Client::new(target.clone(), token.clone());
        let ids = ids.clone();
        let run_id = run_id.clone();
        let first_error = first_error.clone();
        let seq_all = seq_all.clone();
        let slug = slug.clone();
        workers.push(tokio::spawn(async move {
            let mut result = WorkerResult::default();
            tokio::time::sleep_until(start.into()).await;
            let mut seq: u64 = 0;
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                let global = seq_all.fetch_add(1, Ordering::Relaxed);
                if global >= max_requests {
                    break;
                }
                seq += 1;
                let unique = format!("{run_id}-{worker}-{seq}");
                let outcome = perform(&mut client, scenario, &unique, &ids, global, &slug).await;
                let ended = Instant::now();
                let ok = matches!(outcome, Ok(Ok(())));
                if !ok {
                    let mut first = first_error.lock().expect("not poisoned");
                    if first.is_none() {
                        *first = Some(match &outcome {
                            Ok(Err(why)) => why.clone(),
                            Ok(Ok(())) => unreachable!("a success"),
                            Err(err) => format!("transport: {err}"),
                        });
                    }
                }
                result.all += 1;
                // Only requests that both start and end inside the measured window count.
                if began >= measure_from && ended <= deadline {
                    if ok {
                        let micros = ended.duration_since(began).as_micros();
                        result
                            .latencies_us
                            .push(micros.min(u32::MAX as u128) as u32);
                    } else {
                        result.errors += 1;
                    }
                }
                if outcome.is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            result
        }));
    }
    let mut latencies = Vec::new();
    let (mut errors, mut all) = (0, 0);
    for worker in workers {
        let result = worker.await?;
        latencies.extend(result.latencies_us);
        errors += result.errors;
        all += result.all;
    }
    latencies.sort_unstable();
    let quantile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((latencies.len() as f64) * q).ceil().max(1.0) as usize - 1;
        f64::from(latencies[rank.min(latencies.len() - 1)]) / 1000.0
    };
    let requests = latencies.len() as u64 + errors;
    let rps = latencies.len() as f64 / seconds;
    if let Some(error) = first_error.lock().expect("not poisoned").as_ref() {
        eprintln!("loadgen: first failed request: {error}");
    }
    println!(
        "{rps:.1}\t{:.2}\t{:.2}\t{requests}\t{errors}\t{all}",
        quantile(0.50),
        quantile(0.99)
    );
    Ok(())
}

async fn seed(args: &Args) -> Result<(), Error> {
    let target = Target::parse(args.one("url")?)?;
    let count: u64 = args.one("count")?.parse()?;
    let token = token()?;
    let run_id = nonce();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let mut client = Client::new(target.clone(), token.clone());
        let next = next.clone();
        let run_id = run_id.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, Error>(());
                }
                let unique = format!("seed{run_id}-{i:04}");
                let (method, path, body) = request_for(Scenario::CreateFlows, &unique, &[], i);
                let (status, body) = client.send(method, &path, body).await?;
                if status != StatusCode::CREATED {
                    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                    return Err(format!("seeding answered {status}: {text}").into());
                }
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

/// The keys of every object, in order, with the shapes of their values; an array is described
/// by its first item.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Array(
            map.iter()
                .map(|(k, v)| serde_json::json!([k, shape(v)]))
                .collect(),
        ),
        Value::Array(items) => serde_json::json!(["array", items.first().map(shape)]),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "null".into(),
    }
}

/// The two `--url`s of a comparison: the service's, then the baseline's.
fn service_and_baseline<'a>(args: &'a Args, command: &str) -> Result<[&'a str; 2], Error> {
    <[&str; 2]>::try_from(args.all("url"))
        .map_err(|_| format!("{command} needs --url SERVICE --url BASELINE").into())
}

/// Checks that the baseline answers what the service answers, key for key, for a create with
/// flows, a list page and a retrieve.
async fn compare(args: &Args) -> Result<(), Error> {
    let urls = service_and_baseline(args, "compare")?;
    let token = token()?;
    let mut shapes = Vec::new();
    for url in urls {
        let target = Target::parse(url)?;
        let mut client = Client::new(target.clone(), token.clone());
        let unique = format!("cmp{}", nonce());
        let (method, path, body) = request_for(Scenario::CreateFlows, &unique, &[], 0);
        let (status, created) = client.send(method, &path, body).await?;
        if status != StatusCode::CREATED {
            return Err(format!("{url}: create answered {status}").into());
        }
        let created: Value = serde_json::from_slice(&created)?;
        let id = created["pk"].as_str().ok_or("no pk")?.to_string();
        let (status, one) = client
            .send(Method::GET, &format!("{STAGES_PATH}{id}/"), None)
            .await?;
        if status != StatusCode::OK {
            return Err(format!("{url}: retrieve answered {status}").into());
        }
        let one: Value = serde_json::from_slice(&one)?;
        if one != created {
            return Err(format!("{url}: retrieve differs from the created stage").into());
        }
        let (status, page) = client
            .send(Method::GET, &format!("{STAGES_PATH}?page_size=100"), None)
            .await?;
        if status != StatusCode::OK {
            return Err(format!("{url}: list answered {status}").into());
        }
        let page: Value = serde_json::from_slice(&page)?;
        let results = page["results"].as_array().map_or(0, Vec::len);
        shapes.push((shape(&created), shape(&page), results));
    }
    if shapes[0] != shapes[1] {
        return Err(format!(
            "the servers' JSON differs:\nservice:  {:?}\nbaseline: {:?}",
            shapes[0], shapes[1]
        )
        .into());
    }
    println!(
        "same JSON shapes from both servers (create, retrieve, list of {} stages)",
        shapes[0].2
    );
    Ok(())
}

/// A POST through REST that must answer 201; the created object's `pk`.
async fn create(client: &mut Client, path: &str, body: Value) -> Result<String, Error> {
    let (status, answer) = client
        .send(Method::POST, path, Some(body.to_string()))
        .await?;
    if status != StatusCode::CREATED {
        return Err(format!("POST {path} {}", describe_answer(status, &answer)).into());
    }
    let created: Value = serde_json::from_slice(&answer)?;
    Ok(created["pk"]
        .as_str()
        .ok_or_else(|| format!("POST {path} answered no pk"))?
        .to_string())
}

/// The flows part's data, through the service's REST: `count` captcha stages and `count` flows;
/// flow i is bound to stage i at order 10 and to stage i+1 (the last to the first) at order 20.
/// Each stage is then in 2 flows, each flow has 2 stages, and there are 2 × count bindings.
async fn seed_flows(args: &Args) -> Result<(), Error> {
    let target = Target::parse(args.one("url")?)?;
    let count: usize = args.one("count")?.parse()?;
    if count < 2 {
        return Err("seed-flows needs --count 2 or more".into());
    }
    let mut client = Client::new(target, token()?);
    let mut stages = Vec::with_capacity(count);
    let mut flows = Vec::with_capacity(count);
    for i in 0..count {
        let stage = serde_json::json!({
            "name": format!("fbench-stage-{i:04}"),
            "public_key": "bench-public",
            "private_key": "bench-private",
        });
        stages.push(create(&mut client, STAGES_PATH, stage).await?);
        let flow = serde_json::json!({
            "name": format!("Bench flow {i:04}"),
            "slug": format!("fbench-{i:04}"),
            "title": format!("Bench flow {i:04}"),
            "designation": "authentication",
        });
        flows.push(create(&mut client, FLOWS_PATH, flow).await?);
    }
    for (i, flow) in flows.iter().enumerate() {
        for (offset, order) in [(0, 10), (1, 20)] {
            let binding = serde_json::json!({
                "target": flow,
                "stage": stages[(i + offset) % count],
                "order": order,
            });
            create(&mut client, BINDINGS_PATH, binding).await?;
        }
    }
    Ok(())
}

/// The first place where two answers differ, with a little context.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let around = |s: &[u8]| {
        let from = at.saturating_sub(80);
        String::from_utf8_lossy(&s[from..(at + 80).min(s.len())]).into_owned()
    };
    format!(
        "at byte {at} (lengths {} and {}):\n  service:  …{}…\n  baseline: …{}…",
        a.len(),
        b.len(),
        around(a),
        around(b)
    )
}

/// Checks that the service and the baseline, on one shared database, answer the flows part's
/// three requests with the same bytes, and that the pages hold what the scenarios claim.
async fn compare_flows(args: &Args) -> Result<(), Error> {
    let urls = service_and_baseline(args, "compare-flows")?;
    let token = token()?;
    let mut clients = Vec::new();
    for url in &urls {
        clients.push(Client::new(Target::parse(url)?, token.clone()));
    }
    let mut summary = Vec::new();
    for scenario in [Scenario::Flows, Scenario::Bindings, Scenario::GqlFlows] {
        let mut answers = Vec::new();
        for (client, url) in clients.iter_mut().zip(&urls) {
            let (method, path, body) = request_for(scenario, "", &[], 0);
            let (status, answer) = client.send(method, &path, body).await?;
            if !succeeded(scenario, status, &answer) {
                return Err(
                    format!("{url}: {scenario:?} {}", describe_answer(status, &answer)).into(),
                );
            }
            answers.push(answer);
        }
        if answers[0] != answers[1] {
            return Err(format!(
                "{scenario:?}: the answers differ {}",
                first_difference(&answers[0], &answers[1])
            )
            .into());
        }
        let value: Value = serde_json::from_slice(&answers[0])?;
        let results = match scenario {
            Scenario::GqlFlows => &value["data"]["flows"]["results"],
            _ => &value["results"],
        };
        let results = results.as_array().ok_or("no results")?;
        let nested = |key: &str| -> usize {
            results
                .iter()
                .map(|item| item[key].as_array().map_or(0, Vec::len))
                .sum()
        };
        summary.push(match scenario {
            Scenario::Flows => format!(
                "{} flows with {} stage ids",
                results.len(),
                nested("stages")
            ),
            Scenario::Bindings => format!(
                "{} bindings with stage_obj ({} flow_set entries)",
                results.len(),
                results
                    .iter()
                    .map(|b| b["stage_obj"]["flow_set"].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
            ),
            _ => format!(
                "GraphQL: {} flows with {} stageBindings and {} stages",
                results.len(),
                nested("stageBindings"),
                nested("stages")
            ),
        });
        if results.len() < 100 {
            return Err(format!(
                "{scenario:?}: a page of {} items, not 100: seed more",
                results.len()
            )
            .into());
        }
    }
    println!(
        "byte-identical answers from both servers: {}",
        summary.join("; ")
    );
    Ok(())
}

/// The executor part's flow: a captcha stage whose provider is the loopback peer, a flow of
/// that one stage, the binding; then one solve, to check that the pieces fit.
async fn exec_setup(args: &Args) -> Result<(), Error> {
    let target = Target::parse(args.one("url")?)?;
    let peer = Target::parse(args.one("siteverify")?)?;
    let slug = args.get("slug").unwrap_or(EXEC_SLUG);
    let mut client = Client::new(target, token()?);
    let stage = serde_json::json!({
        "name": format!("exec-{slug}"),
        "public_key": "bench-site-key",
        "private_key": "bench-secret",
        "api_url": format!("http://{}/siteverify", peer.addr),
        "interactive": true,
    });
    let stage = create(&mut client, STAGES_PATH, stage).await?;
    let flow = serde_json::json!({
        "name": "Executor bench",
        "slug": slug,
        "title": "Executor bench",
        "designation": "authentication",
    });
    let flow = create(&mut client, FLOWS_PATH, flow).await?;
    let binding = serde_json::json!({ "target": flow, "stage": stage, "order": 10 });
    create(&mut client, BINDINGS_PATH, binding).await?;
    perform(&mut client, Scenario::ExecSolve, "setup", &[], 0, slug)
        .await?
        .map_err(|why| format!("a solve of the new flow failed: {why}"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The report.

struct Row {
    backend: String,
    scenario: String,
    connections: u32,
    server: String,
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
    rss_kb: u64,
    /// The server's CPU time (user + system) per request, warm-up included.
    cpu_us: Option<f64>,
}

fn read_rows(path: &str) -> Result<Vec<Row>, Error> {
    let text = std::fs::read_to_string(path)?;
    let mut rows = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let f: Vec<&str> = line.split('\t').collect();
        // backend scenario conns server | req/s p50 p99 requests errors all | rss_kb cpu_ms
        if f.len() < 12 {
            return Err(format!("short line in {path}: {line:?}").into());
        }
        let all: f64 = f[9].parse()?;
        let cpu_ms: f64 = f[11].parse()?;
        rows.push(Row {
            backend: f[0].into(),
            scenario: f[1].into(),
            connections: f[2].parse()?,
            server: f[3].into(),
            rps: f[4].parse()?,
            p50: f[5].parse()?,
            p99: f[6].parse()?,
            errors: f[8].parse()?,
            rss_kb: f[10].parse()?,
            cpu_us: (all > 0.0).then(|| cpu_ms * 1000.0 / all),
        });
    }
    Ok(rows)
}

/// The baseline scenario a service scenario is measured against, and the service's REST
/// scenario a GraphQL one is compared with.
fn counterpart(scenario: &str) -> (&str, Option<&str>) {
    match scenario {
        "gql-create" => ("create-flows", Some("create-flows")),
        "gql-list" => ("list", Some("list")),
        // The baseline answers the one GraphQL document itself (baseline.rs).
        "gql-flows" => ("gql-flows", Some("flows")),
        other => (other, None),
    }
}

fn describe(scenario: &str) -> &str {
    match scenario {
        "create-min" => "REST create (minimal body)",
        "create-flows" => "REST create, 2 flows",
        "gql-create" => "GraphQL createCaptchaStage, 2 flows",
        "list" => "REST list, page of 100 with flows",
        "gql-list" => "GraphQL captchaStages(pageSize: 100) with flowSet",
        "retrieve" => "REST retrieve",
        "flows" => "REST flows, page of 100 with stages",
        "bindings" => "REST bindings, page of 100 with stage_obj",
        "gql-flows" => "GraphQL flows(pageSize: 100) with stageBindings and stages",
        "exec-solve" => "executor solve (GET + POST, loopback siteverify)",
        "exec-plan" => "executor GET with no session (one plan stored)",
        "exec-create" => "REST create (minimal body), executor's reference",
        other => other,
    }
}

/// The flows part's scenarios (issue 9), judged against their own target.
const FLOW_PAGES: &[&str] = &["flows", "bindings", "gql-flows"];

/// The executor part (issue 10): per backend and connection count, solves and plans per second
/// and the service's CPU per solve beside a stage create measured in the same group.
fn executor_table(rows: &[Row]) {
    let find = |backend: &str, scenario: &str, conns: u32| {
        rows.iter().find(|r| {
            r.backend == backend
                && r.scenario == scenario
                && r.connections == conns
                && r.server == "service"
        })
    };
    let mut lines = Vec::new();
    for solve in rows.iter().filter(|r| r.scenario == "exec-solve") {
        let (backend, conns) = (solve.backend.as_str(), solve.connections);
        let plan = find(backend, "exec-plan", conns);
        let create = find(backend, "exec-create", conns);
        let num = |v: Option<f64>, digits: usize| {
            v.map_or("–".to_string(), |v| format!("{v:.digits$}"))
        };
        let cpu_ratio = match (solve.cpu_us, create.and_then(|c| c.cpu_us)) {
            (Some(s), Some(c)) => Some(s / c),
            _ => None,
        };
        lines.push(format!(
            "| {backend} | {conns} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            solve.rps,
            solve.p99,
            num(plan.map(|p| p.rps), 0),
            num(create.map(|c| c.rps), 0),
            num(solve.cpu_us, 0),
            num(plan.and_then(|p| p.cpu_us), 0),
            num(create.and_then(|c| c.cpu_us), 0),
            num(cpu_ratio, 2),
            num(create.map(|c| c.rps / solve.rps), 2),
        ));
    }
    if lines.is_empty() {
        return;
    }
    println!();
    println!(
        "Executor (service only; a solve is GET with no session + POST of a token, answered by the loopback siteverify peer):"
    );
    println!();
    println!(
        "| backend | conns | solves/s | solve p99 ms | plans stored/s (GET alone) | creates/s | service CPU µs/solve | µs/plan | µs/create | CPU per solve ÷ per create | creates/s ÷ solves/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for line in lines {
        println!("{line}");
    }
}

fn report(args: &Args) -> Result<(), Error> {
    let path = args
        .positional
        .first()
        .ok_or("report needs the results file")?;
    let rows = read_rows(path)?;
    let find = |backend: &str, scenario: &str, conns: u32, server: &str| {
        rows.iter().find(|r| {
            r.backend == backend
                && r.scenario == scenario
                && r.connections == conns
                && r.server == server
        })
    };
    println!(
        "| backend | scenario | conns | server | req/s | p50 ms | p99 ms | errors | peak RSS MB | server CPU µs/req | req/s ÷ baseline | p99 ÷ baseline p99 | CPU/req ÷ baseline | GraphQL ÷ REST req/s |"
    );
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut checks: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    let mut check = |target: &str, what: String, ok: bool| {
        checks
            .entry(target.to_string())
            .or_default()
            .push((what, ok));
    };
    for row in &rows {
        let (base_scenario, rest_scenario) = counterpart(&row.scenario);
        let base = find(&row.backend, base_scenario, row.connections, "baseline");
        let (mut ratio, mut p99_ratio, mut gql_ratio) =
            (String::new(), String::new(), String::new());
        let mut cpu_ratio = String::new();
        let label = format!("{} {} @{}", row.backend, row.scenario, row.connections);
        if row.server == "service" {
            if let Some(base) = base {
                let r = row.rps / base.rps;
                let p = row.p99 / base.p99;
                ratio = format!("{r:.2}");
                p99_ratio = format!("{p:.2}");
                if let (Some(own), Some(theirs)) = (row.cpu_us, base.cpu_us) {
                    cpu_ratio = format!("{:.2}", own / theirs);
                }
                if FLOW_PAGES.contains(&row.scenario.as_str()) {
                    check(
                        "flows part: page of 100 flows/bindings ≥ 0.8× baseline (REST and GraphQL), every connection count",
                        format!("{label}: {r:.2}×"),
                        r >= 0.8,
                    );
                }
                if row.connections == 64 && !FLOW_PAGES.contains(&row.scenario.as_str()) {
                    check(
                        "p99 at 64 connections ≤ 1.5× baseline p99",
                        format!("{label}: {p:.2}× ({:.1} vs {:.1} ms)", row.p99, base.p99),
                        p <= 1.5,
                    );
                    match row.scenario.as_str() {
                        "create-min" | "create-flows" => check(
                            "REST create ≥ 0.8× baseline at 64 connections",
                            format!("{label}: {r:.2}×"),
                            r >= 0.8,
                        ),
                        "list" | "gql-list" => check(
                            "list page of 100 ≥ 0.7× baseline (REST and GraphQL), 64 connections",
                            format!("{label}: {r:.2}×"),
                            r >= 0.7,
                        ),
                        _ => {}
                    }
                }
            }
            if let Some(rest) =
                rest_scenario.and_then(|s| find(&row.backend, s, row.connections, "service"))
            {
                let g = row.rps / rest.rps;
                gql_ratio = format!("{g:.2}");
                if row.scenario == "gql-create" {
                    check(
                        "GraphQL create ≥ 0.9× REST create (with flows)",
                        format!("{label}: {g:.2}×"),
                        g >= 0.9,
                    );
                }
            }
            let mb = row.rss_kb as f64 / 1024.0;
            check(
                "service peak RSS ≤ 50 MB",
                format!("{label}: {mb:.1} MB"),
                mb <= 50.0,
            );
        }
        check(
            "0 errors",
            format!("{label} {}: {} errors", row.server, row.errors),
            row.errors == 0,
        );
        let cpu = row.cpu_us.map_or(String::new(), |c| format!("{c:.0}"));
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {cpu} | {} | {} | {cpu_ratio} | {} |",
            row.backend,
            describe(&row.scenario),
            row.connections,
            row.server,
            row.rps,
            row.p50,
            row.p99,
            row.errors,
            row.rss_kb as f64 / 1024.0,
            ratio,
            p99_ratio,
            gql_ratio
        );
    }
    executor_table(&rows);
    println!();
    println!("Targets:");
    println!();
    for (target, results) in &checks {
        let missed: Vec<&(String, bool)> = results.iter().filter(|(_, ok)| !ok).collect();
        if missed.is_empty() {
            println!("- MET: {target} ({} rows)", results.len());
        } else {
            println!(
                "- MISSED: {target}: {} of {} rows miss: {}",
                missed.len(),
                results.len(),
                missed
                    .iter()
                    .map(|(w, _)| w.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The command line: `loadgen COMMAND [--key value]... [POSITIONAL]...`.

struct Args {
    command: String,
    options: Vec<(String, String)>,
    positional: Vec<String>,
}

impl Args {
    fn parse() -> Result<Args, Error> {
        let mut raw = std::env::args().skip(1);
        let command = raw.next().ok_or(
            "usage: loadgen run|seed|seed-flows|compare|compare-flows|exec-setup|report ...",
        )?;
        let mut options = Vec::new();
        let mut positional = Vec::new();
        while let Some(arg) = raw.next() {
            if let Some(key) = arg.strip_prefix("--") {
                let value = raw.next().ok_or_else(|| format!("--{key} needs a value"))?;
                options.push((key.to_string(), value));
            } else {
                positional.push(arg);
            }
        }
        Ok(Args {
            command,
            options,
            positional,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn one(&self, key: &str) -> Result<&str, Error> {
        self.get(key)
            .ok_or_else(|| format!("--{key} is required").into())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.options
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[tokio::main]
async fn main() {
    let result = async {
        let args = Args::parse()?;
        match args.command.as_str() {
            "run" => run(&args).await,
            "seed" => seed(&args).await,
            "compare" => compare(&args).await,
            "seed-flows" => seed_flows(&args).await,
            "compare-flows" => compare_flows(&args).await,
            "exec-setup" => exec_setup(&args).await,
            "report" => report(&args),
            other => Err(format!("unknown command {other:?}").into()),
        }
    }
    .await;
    if let Err(err) = result {
        eprintln!("loadgen: {err}");
        std::process::exit(1);
    }
}
