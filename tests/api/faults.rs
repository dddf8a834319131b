//! Faults: PostgreSQL cut off under load (the service answers 503 with `Retry-After`, reports
//! not ready, and recovers by itself), and the real binary killed with SIGKILL under write load
//! (no acknowledged write lost, nothing half-written).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::attack::*;
use crate::helpers::*;

const UNAVAILABLE: &str = "The database is unavailable. Try again shortly.";
const BEFORE: u8 = 0;
const CUT_OFF: u8 = 1;
const RESTORED: u8 = 2;

/// A client whose every request ends: no test waits forever on a server that hangs.
fn bounded_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(45))
        .build()
        .unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    RestCreate,
    RestList,
    GraphqlCreate,
    /// A page of flows with their bindings and stages (the batch loaders).
    GraphqlFlows,
    /// An anonymous flow executor GET: a plan stored for a new session.
    ExecutorStart,
}

/// The flow the executor load runs (one captcha stage bound into it).
const GATE: &str = "gate";

struct Outcome {
    kind: Kind,
    phase: u8,
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
    /// The stage a create made (a 201, or GraphQL data).
    created: Option<String>,
}

async fn load_request(
    app: &TestApp,
    client: &reqwest::Client,
    kind: Kind,
    name: &str,
) -> Result<(StatusCode, Option<String>, Value), reqwest::Error> {
    let builder = match kind {
        Kind::RestCreate => {
            let mut body = minimal(name);
            body["flow_set"] = json!([flow(name)]);
            client.post(format!("{}{STAGES}", app.base)).json(&body)
        }
        Kind::RestList => client.get(format!("{}{STAGES}?page_size=5", app.base)),
        Kind::GraphqlCreate => client.post(format!("{}/graphql", app.base)).json(&json!({
            "query": "mutation($n: String!, $s: String!) { createCaptchaStage(input: {name: $n, publicKey: \"p\", privateKey: \"k\", flowSet: [{name: \"F\", slug: $s, title: \"T\", designation: AUTHENTICATION}]}) { id } }",
            "variables": {"n": name, "s": name},
        })),
        Kind::GraphqlFlows => client.post(format!("{}/graphql", app.base)).json(&json!({
            "query": "{ flows(pageSize: 20) { results { slug stageBindings { order stage { name } } stages { name } } } }",
        })),
        Kind::ExecutorStart => {
            // Anonymous, without a session: each GET stores a new plan.
            let url = format!("{}/api/v3/flows/executor/{GATE}/?query=", app.base);
            let response = client.get(url).send().await?;
            return answer(response).await;
        }
    };
    answer(builder.bearer_auth(&app.token).send().await?).await
}

async fn answer(
    response: reqwest::Response,
) -> Result<(StatusCode, Option<String>, Value), reqwest::Error> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let text = response.text().await?;
    Ok((
        status,
        retry_after,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    ))
}

async fn ready_status(client: &reqwest::Client, app: &TestApp) -> Option<StatusCode> {
    client
        .get(format!("{}/-/health/ready/", app.base))
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

async fn stage_names(conn: &DatabaseConnection, like: &str) -> HashSet<String> {
    let backend = conn.get_database_backend();
    conn.query_all_raw(Statement::from_string(
        backend,
        format!("SELECT name FROM stage WHERE name LIKE '{like}'"),
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get::<String>("", "name").unwrap())
    .collect()
}

/// The slugs of the flows each stage named like `like` is bound into.
async fn bound_slugs(conn: &DatabaseConnection, like: &str) -> HashMap<String, Vec<String>> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT s.name AS name, f.slug AS slug FROM stage s \
                 JOIN flow_stage_binding b ON b.stage = s.stage_uuid \
                 JOIN flow f ON f.flow_uuid = b.target WHERE s.name LIKE '{like}'"
            ),
        ))
        .await
        .unwrap();
    let mut slugs: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        slugs
            .entry(row.try_get("", "name").unwrap())
            .or_default()
            .push(row.try_get("", "slug").unwrap());
    }
    for list in slugs.values_mut() {
        list.sort();
    }
    slugs
}

/// Flows named like `like` that no stage is bound into: a create that stopped half way.
async fn unbound_flows(conn: &DatabaseConnection, like: &str) -> i64 {
    query_count(
        conn,
        &format!(
            "SELECT COUNT(*) FROM flow f WHERE f.slug LIKE '{like}' AND NOT EXISTS \
             (SELECT 1 FROM flow_stage_binding b WHERE b.target = f.flow_uuid)"
        ),
    )
    .await
}

/// PostgreSQL closed to connections and every backend of the database terminated for about
/// three seconds, in the middle of a load of creates (REST and GraphQL) and lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_under_load() {
    let Some(admin) = postgres_url() else {
        return;
    };
    let scratch = ScratchDatabase::create(&admin, "fault").await;
    let db = stages_api::db::connect(&scratch.url).await.unwrap();
    stages_api::db::migrate(&db).await.unwrap();
    let app = Arc::new(spawn_on(Backend::Postgres, scratch.url.clone(), db, None).await);
    let client = bounded_client();
    let mut gate = minimal(GATE);
    gate["flow_set"] = json!([flow(GATE)]);
    let created = app.post(STAGES, &gate).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let phase = Arc::new(AtomicU8::new(BEFORE));
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));

    let workers: Vec<_> = (0..6)
        .map(|worker| {
            let (app, client, phase, stop) =
                (app.clone(), client.clone(), phase.clone(), stop.clone());
            let (outcomes, failures) = (outcomes.clone(), failures.clone());
            tokio::spawn(async move {
                // At most 2,000 requests each: the loop is bounded whatever the timing.
                for i in 0..2_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let kind = [
                        Kind::RestCreate,
                        Kind::RestList,
                        Kind::GraphqlCreate,
                        Kind::GraphqlFlows,
                        Kind::ExecutorStart,
                    ][i % 5];
                    let name = format!("load-{worker}-{i}");
                    let at = phase.load(Ordering::SeqCst);
                    match load_request(&app, &client, kind, &name).await {
                        Ok((status, retry_after, body)) => {
                            let created = match kind {
                                Kind::RestCreate if status == StatusCode::CREATED => {
                                    Some(name.clone())
                                }
                                Kind::GraphqlCreate
                                    if status == StatusCode::OK
                                        && body["data"]["createCaptchaStage"]["id"].is_string() =>
                                {
                                    Some(name.clone())
                                }
                                _ => None,
                            };
                            outcomes.lock().unwrap().push(Outcome {
                                kind,
                                phase: at,
                                status,
                                retry_after,
                                body,
                                created,
                            });
                        }
                        Err(err) => failures.lock().unwrap().push(format!("{kind:?}: {err}")),
                    }
                    // A client backing off a little, as Retry-After asks, keeps the load
                    // from spinning on the 503s.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let datname = &scratch.name;
    scratch
        .admin(&format!("ALTER DATABASE {datname} ALLOW_CONNECTIONS false"))
        .await;
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{datname}'"
    );
    scratch.admin(&terminate).await;
    phase.store(CUT_OFF, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A connection that was being opened as the database closed.
    scratch.admin(&terminate).await;

    // While cut off: not ready, and a write through each front answers 503.
    let mut ready_during = None;
    for _ in 0..20 {
        ready_during = ready_status(&client, &app).await;
        if ready_during == Some(StatusCode::SERVICE_UNAVAILABLE) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rest_probe = load_request(&app, &client, Kind::RestCreate, "probe-rest")
        .await
        .unwrap();
    let graphql_probe = load_request(&app, &client, Kind::GraphqlCreate, "probe-graphql")
        .await
        .unwrap();
    let list_probe = load_request(&app, &client, Kind::RestList, "")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    scratch
        .admin(&format!("ALTER DATABASE {datname} ALLOW_CONNECTIONS true"))
        .await;
    phase.store(RESTORED, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(60), worker)
            .await
            .expect("workers end")
            .unwrap();
    }

    // It recovers by itself: creates succeed again, and it is ready, within bounded retries.
    let mut recovery_attempts = 0;
    let mut recovered = None;
    for attempt in 0..120 {
        recovery_attempts = attempt + 1;
        let (status, _, body) = load_request(
            &app,
            &client,
            Kind::RestCreate,
            &format!("recovered-{attempt}"),
        )
        .await
        .unwrap();
        if status == StatusCode::CREATED {
            recovered = Some(body["name"].as_str().unwrap().to_string());
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let recovered = recovered.expect("creates succeed again once the database is back");
    let mut ready_after = None;
    for _ in 0..40 {
        ready_after = ready_status(&client, &app).await;
        if ready_after == Some(StatusCode::OK) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The figures, then the assertions.
    let failures = failures.lock().unwrap().clone();
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let mut tally: BTreeMap<(Kind, u8, u16), usize> = BTreeMap::new();
    for o in &outcomes {
        *tally
            .entry((o.kind, o.phase, o.status.as_u16()))
            .or_default() += 1;
    }
    let unavailable: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let acknowledged: Vec<&String> = outcomes.iter().filter_map(|o| o.created.as_ref()).collect();
    eprintln!(
        "faults outage (PostgreSQL): {} requests by 6 workers, {} transport failures, {} answered 503 ({} sent while cut off); {} creates acknowledged; recovered after {recovery_attempts} create attempt(s); ready while cut off {ready_during:?}, after {ready_after:?}",
        outcomes.len(),
        failures.len(),
        unavailable.len(),
        unavailable.iter().filter(|o| o.phase == CUT_OFF).count(),
        acknowledged.len(),
    );
    eprintln!(
        "faults outage (PostgreSQL): (kind, phase 0 before / 1 cut off / 2 restored, status) → count: {tally:?}"
    );

    assert!(
        failures.is_empty(),
        "every request got an answer: {failures:?}"
    );
    for o in &outcomes {
        assert!(
            o.status.is_success() || o.status == StatusCode::SERVICE_UNAVAILABLE,
            "{:?} in phase {} answered {}: {}",
            o.kind,
            o.phase,
            o.status,
            o.body
        );
        if matches!(o.kind, Kind::GraphqlCreate | Kind::GraphqlFlows) && o.status.is_success() {
            assert!(o.body.get("errors").is_none(), "{}", o.body);
        }
        if o.kind == Kind::ExecutorStart && o.status.is_success() {
            assert_eq!(o.body["component"], "ak-stage-captcha", "{}", o.body);
        }
    }
    for o in &unavailable {
        assert_eq!(o.retry_after.as_deref(), Some("2"), "{:?}", o.kind);
        match o.kind {
            Kind::GraphqlCreate | Kind::GraphqlFlows => {
                assert_eq!(
                    o.body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
                    "{}",
                    o.body
                );
                assert_eq!(o.body["errors"][0]["message"], UNAVAILABLE);
            }
            _ => assert_eq!(o.body, json!({ "detail": UNAVAILABLE })),
        }
    }
    assert!(
        unavailable.iter().any(|o| o.phase == CUT_OFF),
        "the load met the outage"
    );
    assert_eq!(ready_during, Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(ready_after, Some(StatusCode::OK));
    let (status, retry_after, body) = rest_probe;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "REST create: {body}"
    );
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(body, json!({ "detail": UNAVAILABLE }));
    let (status, retry_after, body) = list_probe;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "REST list: {body}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    let (status, retry_after, body) = graphql_probe;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "GraphQL mutation: {body}"
    );
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "SERVICE_UNAVAILABLE"
    );

    // Nothing lost, nothing half-written.
    let conn = &app.db.reader;
    let stored = stage_names(conn, "load-%").await;
    for name in &acknowledged {
        assert!(stored.contains(*name), "acknowledged {name} is missing");
    }
    assert!(stage_names(conn, "recovered-%").await.contains(&recovered));
    assert_eq!(half_written_rows(conn).await, [0, 0, 0, 0]);
    let slugs = bound_slugs(conn, "load-%").await;
    for name in &stored {
        assert_eq!(slugs.get(name), Some(&vec![name.clone()]), "{name}'s flow");
    }
    assert_eq!(unbound_flows(conn, "load-%").await, 0);
    eprintln!(
        "faults outage (PostgreSQL): {} acknowledged creates found of {} acknowledged; {} stages stored in all",
        acknowledged.iter().filter(|n| stored.contains(**n)).count(),
        acknowledged.len(),
        stored.len()
    );
    // Closing the pool ends the app's reconnections before the database is dropped.
    app.db.writer.clone().close().await.ok();
}

/// The real binary killed with SIGKILL while 16 writers create stages with two flows each;
/// started again on the same database, every acknowledged stage is there with its flows.
async fn kill9_under_write_load(database_url: &str, backend: Backend) {
    let token = format!("kill-nine-bootstrap-{}", uuid::Uuid::new_v4().simple());
    let mut server = start_server(database_url, &token);
    let base = server.base.clone();
    let client = bounded_client();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let (acknowledged, refused) = (acknowledged.clone(), refused.clone());
            tokio::spawn(async move {
                // Until the server is gone; at most 1,000 creates each.
                for i in 0..1_000 {
                    let name = format!("kill-{writer}-{i}");
                    let mut body = minimal(&name);
                    body["flow_set"] = json!([
                        flow(&format!("kf-{writer}-{i}-a")),
                        flow(&format!("kf-{writer}-{i}-b"))
                    ]);
                    let sent = client
                        .post(format!("{base}{STAGES}"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status() == StatusCode::CREATED => {
                            // Acknowledged once the whole response has arrived.
                            if resp.bytes().await.is_ok() {
                                acknowledged.lock().unwrap().push(name);
                            } else {
                                break;
                            }
                        }
                        Ok(resp) => {
                            *refused
                                .lock()
                                .unwrap()
                                .entry(resp.status().as_u16())
                                .or_default() += 1
                        }
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    // Kill once the load is well under way (or after a bounded wait).
    for _ in 0..600 {
        if acknowledged.lock().unwrap().len() >= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();
    let acknowledged_at_kill = acknowledged.lock().unwrap().len();
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .expect("writers end once the server is gone")
            .unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();

    let server = start_server(database_url, &token);
    let conn = Database::connect(database_url).await.unwrap();
    let stored = stage_names(&conn, "kill-%").await;
    let slugs = bound_slugs(&conn, "kill-%").await;
    let found = acknowledged.iter().filter(|n| stored.contains(*n)).count();
    let unacknowledged = stored.len() - found;
    eprintln!(
        "faults kill -9 ({backend:?}): 16 writers, {} creates acknowledged ({acknowledged_at_kill} when SIGKILL was sent), {found} found after restart, {unacknowledged} more committed in flight; refusals {refused:?}",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() >= 16,
        "the load ran: {}",
        acknowledged.len()
    );
    // Under load a create may wait too long for the one SQLite writer and be told to retry
    // (503); any other refusal is a fault.
    assert!(
        refused.keys().all(|status| *status == 503),
        "every create before the kill succeeded or was told to retry: {refused:?}"
    );
    assert_eq!(found, acknowledged.len(), "acknowledged creates were lost");
    for name in &stored {
        let (writer, i) = name.trim_start_matches("kill-").split_once('-').unwrap();
        let expected = vec![format!("kf-{writer}-{i}-a"), format!("kf-{writer}-{i}-b")];
        assert_eq!(slugs.get(name), Some(&expected), "{name}'s flows");
    }
    assert_eq!(half_written_rows(&conn).await, [0, 0, 0, 0]);
    assert_eq!(unbound_flows(&conn, "kf-%").await, 0);
    // The restarted service serves what it stored.
    let listed: Value = client
        .get(format!("{}{STAGES}?search=kill&page_size=1", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["count"], json!(stored.len()));
    conn.close().await.ok();
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_write_load_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("kill.db").display());
    kill9_under_write_load(&url, Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_write_load_postgres() {
    let Some(admin) = postgres_url() else {
        return;
    };
    let scratch = ScratchDatabase::create(&admin, "kill").await;
    kill9_under_write_load(&scratch.url, Backend::Postgres).await;
}
