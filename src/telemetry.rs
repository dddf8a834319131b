//! Metrics in Prometheus's text format at `GET /metrics` (no token: scrape it from inside your
//! network, or restrict the path at the proxy). Requests are counted by route template (never
//! the raw path: its ids would make a series each), method and status, with latency histograms;
//! GraphQL operations by kind, first root field and outcome; the database pools' connections;
//! writes run again after losing a race; tokens refused; captcha verifications; flow plans.
//! Every label value comes from a closed set, so no client can grow the number of series.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::AppState;
use crate::db::Db;

/// Request latency buckets, in seconds: from a cached read to the request timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often recorded latencies are folded into their histogram buckets. The recorder keeps
/// every sample until then: with no scrape (or a rare one), they piled up without bound and each
/// request cost more than the one before (bench/run.sh: a create's CPU grew 85 % in 30 s).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics recorder (installed once, however many apps a process builds), with
/// its upkeep thread.
pub fn recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".to_string()),
                    LATENCY_BUCKETS,
                )
                .expect("valid buckets")
                .install_recorder()
                .expect("the first metrics recorder of the process");
            describe();
            zero();
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".to_string())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                })
                .expect("the metrics upkeep thread starts");
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        "stages_api_http_requests_total",
        "HTTP requests answered, by route template, method and status."
    );
    describe_histogram!(
        "stages_api_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route template and method."
    );
    describe_counter!(
        "stages_api_graphql_operations_total",
        "GraphQL operations, by kind and first root field, and outcome (ok or the error code)."
    );
    describe_gauge!(
        "stages_api_db_connections",
        "Database connections of each pool: open, idle, in_use, max."
    );
    describe_counter!(
        "stages_api_db_unavailable_total",
        "Requests answered 503 because the database could not be reached or used."
    );
    describe_counter!(
        "stages_api_write_retries_total",
        "Writes run again after losing a race to another writer, by kind (unique, conflict)."
    );
    describe_counter!(
        "stages_api_tokens_refused_total",
        "Requests refused for their credentials, by reason (missing, invalid, forbidden)."
    );
    describe_counter!(
        "stages_api_captcha_verifications_total",
        "Captcha tokens checked with a provider, by outcome (passed, refused, failed)."
    );
    describe_counter!(
        "stages_api_flow_plans_total",
        "Flow executor plans, by event (started, finished, restarted)."
    );
}

/// Every series with a closed label set, at zero from the start: the first scrape lists every
/// family (so `promtool check metrics` sees them all), and `rate`/`increase` count the first
/// event rather than starting from it.
fn zero() {
    counter!("stages_api_db_unavailable_total").increment(0);
    for kind in ["unique", "conflict"] {
        counter!("stages_api_write_retries_total", "kind" => kind).increment(0);
    }
    for reason in ["missing", "invalid", "forbidden"] {
        counter!("stages_api_tokens_refused_total", "reason" => reason).increment(0);
    }
    for outcome in ["passed", "refused", "failed"] {
        counter!("stages_api_captcha_verifications_total", "outcome" => outcome).increment(0);
    }
    for event in ["started", "finished", "restarted"] {
        counter!("stages_api_flow_plans_total", "event" => event).increment(0);
    }
}

pub fn http_request(route: &'static str, method: &str, status: u16, seconds: f64) {
    let method = match method {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => method.to_string(),
        _ => "other".to_string(),
    };
    counter!("stages_api_http_requests_total", "route" => route, "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("stages_api_http_request_duration_seconds", "route" => route, "method" => method)
        .record(seconds);
}

pub fn graphql_operation(operation: String, outcome: &'static str) {
    counter!("stages_api_graphql_operations_total", "operation" => operation, "outcome" => outcome)
        .increment(1);
}

pub fn db_unavailable() {
    counter!("stages_api_db_unavailable_total").increment(1);
}

pub fn write_retried(kind: &'static str) {
    counter!("stages_api_write_retries_total", "kind" => kind).increment(1);
}

pub fn token_refused(reason: &'static str) {
    counter!("stages_api_tokens_refused_total", "reason" => reason).increment(1);
}

pub fn captcha_verified(outcome: &'static str) {
    counter!("stages_api_captcha_verifications_total", "outcome" => outcome).increment(1);
}

pub fn flow_plan(event: &'static str) {
    counter!("stages_api_flow_plans_total", "event" => event).increment(1);
}

/// The pools' connection counts, read when scraped: PostgreSQL's one pool (`main`), SQLite's
/// `reader` and `writer`.
fn record_pools(db: &Db) {
    use sea_orm::DatabaseBackend;
    let postgres = db.writer.get_database_backend() == DatabaseBackend::Postgres;
    let pools = if postgres {
        vec![("main", &db.writer)]
    } else {
        vec![("reader", &db.reader), ("writer", &db.writer)]
    };
    for (name, connection) in pools {
        let (open, idle, max) = if postgres {
            let pool = connection.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle() as u32,
                pool.options().get_max_connections(),
            )
        } else {
            let pool = connection.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle() as u32,
                pool.options().get_max_connections(),
            )
        };
        let set = |state: &'static str, value: u32| {
            gauge!("stages_api_db_connections", "pool" => name, "state" => state).set(value as f64);
        };
        set("open", open);
        set("idle", idle);
        set("in_use", open.saturating_sub(idle));
        set("max", max);
    }
}

/// `GET /metrics`.
pub async fn serve(State(state): State<AppState>) -> impl IntoResponse {
    record_pools(&state.db);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
