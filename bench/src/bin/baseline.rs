//! The raw-SQL baseline of the benchmark: the same unit of work as stages-api's hot endpoints,
//! written by hand with sqlx on the service's own tables. No ORM, no GraphQL, no validation
//! layer, no request log: what the service's work costs when nothing stands between the HTTP
//! request and the SQL.
//!
//! * `POST /api/v3/stages/captcha/`: the token by its SHA-256 (one indexed lookup), then one
//!   transaction inserting the stage, its captcha row and, per flow, the flow and its binding.
//! * `GET /api/v3/stages/captcha/?page_size=N&page=P`: the token, the count, the page (by name,
//!   then pk) and the flows of the page's stages in one more query.
//! * `GET /api/v3/stages/captcha/{id}/`: the token, the stage, its flows.
//! * `GET /api/v3/flows/instances/?page_size=N&page=P`: the token, the count, the page of
//!   flows (by slug, name, pk) and the stage ids of the page's flows in one more query (each
//!   flow's `stages`, by binding order).
//! * `GET /api/v3/flows/bindings/?page_size=N&page=P`: the token, the count, the page of
//!   bindings (by order, pk), the page's stages and those stages' flows (each binding's
//!   `stage_obj` with its `flow_set`).
//! * `POST /graphql`: answers ONE document only, whatever the body says: the bench's
//!   `flows(pageSize: 100) { results { slug stageBindings { order stage { name } } stages { name } } }`
//!   (loadgen's `gql-flows`), with the token, the count, the page of flows and their bindings
//!   joined with their stages' names: the same reads and the same JSON, without GraphQL.
//!   With `BASELINE_GRAPHQL_READS=full` it reads instead every column of the flows, bindings
//!   and stages, in separate queries, as the service's loaders do (an experiment: what reading
//!   columns no field shows costs; BENCHMARKS.md).
//!
//! Responses carry the service's JSON (every key, in authentik's order). The database must
//! already be migrated (`stages-api migrate`); `BOOTSTRAP_TOKEN` is registered as a superuser
//! token row. Configuration: `DATABASE_URL`, `LISTEN_ADDR` (port 0 picks a free one; the bound
//! address is printed on stdout), `BOOTSTRAP_TOKEN`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const DEFAULT_JS_URL: &str = "https://www.recaptcha.net/recaptcha/api.js";
const DEFAULT_API_URL: &str = "https://www.recaptcha.net/recaptcha/api/siteverify";
const DEFAULT_BACKGROUND: &str = "/static/dist/assets/images/flow_background.jpg";
const PERM_ADD: &str = "authentik_stages_captcha.add_captchastage";
const PERM_VIEW: &str = "authentik_stages_captcha.view_captchastage";
const PERM_VIEW_FLOW: &str = "authentik_flows.view_flow";
const PERM_VIEW_BINDING: &str = "authentik_flows.view_flowstagebinding";
/// The page size of the one GraphQL document the baseline answers.
const GRAPHQL_PAGE: &str = "page_size=100";
/// The service's pool sizes (src/db.rs), so that both sides get the same database parallelism.
const POSTGRES_POOL_SIZE: u32 = 8;
const SQLITE_READERS: u32 = 4;

// ---------------------------------------------------------------------------------------------
// Wire types: the service's (src/rest/wire.rs), keys in authentik's order.

#[derive(Deserialize)]
struct StageIn {
    name: String,
    public_key: String,
    private_key: String,
    js_url: Option<String>,
    api_url: Option<String>,
    interactive: Option<bool>,
    score_min_threshold: Option<f64>,
    score_max_threshold: Option<f64>,
    error_on_invalid_score: Option<bool>,
    #[serde(default)]
    flow_set: Vec<FlowIn>,
}

#[derive(Deserialize)]
struct FlowIn {
    name: String,
    slug: String,
    title: String,
    designation: String,
    policy_engine_mode: Option<String>,
    compatibility_mode: Option<bool>,
    layout: Option<String>,
    denied_action: Option<String>,
}

#[derive(Serialize)]
struct StageOut {
    pk: Uuid,
    name: String,
    component: &'static str,
    verbose_name: &'static str,
    verbose_name_plural: &'static str,
    meta_model_name: &'static str,
    flow_set: Vec<FlowOut>,
    public_key: String,
    js_url: String,
    api_url: String,
    interactive: bool,
    score_min_threshold: f64,
    score_max_threshold: f64,
    error_on_invalid_score: bool,
}

#[derive(Serialize, Clone)]
struct FlowOut {
    pk: Uuid,
    policybindingmodel_ptr_id: Uuid,
    name: String,
    slug: String,
    title: String,
    designation: String,
    background: String,
    policy_engine_mode: String,
    compatibility_mode: bool,
    export_url: String,
    layout: String,
    denied_action: String,
}

#[derive(Serialize)]
struct Pagination {
    next: u64,
    previous: u64,
    count: u64,
    current: u64,
    total_pages: u64,
    start_index: u64,
    end_index: u64,
}

#[derive(Serialize)]
struct Autocomplete {}

#[derive(Serialize)]
struct PageOut {
    pagination: Pagination,
    results: Vec<StageOut>,
    autocomplete: Autocomplete,
}

/// authentik's `Flow` serializer (the service's `Flow`), keys in its order.
#[derive(Serialize)]
struct FullFlowOut {
    pk: Uuid,
    policybindingmodel_ptr_id: Uuid,
    name: String,
    slug: String,
    title: String,
    designation: String,
    background: String,
    stages: Vec<Uuid>,
    policies: [Uuid; 0],
    cache_count: u32,
    policy_engine_mode: String,
    compatibility_mode: bool,
    export_url: String,
    layout: String,
    denied_action: String,
    authentication: String,
}

/// authentik's `Stage` serializer of a binding's `stage_obj`.
#[derive(Serialize)]
struct StageObjOut {
    pk: Uuid,
    name: String,
    component: &'static str,
    verbose_name: &'static str,
    verbose_name_plural: &'static str,
    meta_model_name: &'static str,
    flow_set: Vec<FlowOut>,
}

#[derive(Serialize)]
struct BindingOut {
    pk: Uuid,
    policybindingmodel_ptr_id: Uuid,
    target: Uuid,
    stage: Uuid,
    stage_obj: StageObjOut,
    evaluate_on_plan: bool,
    re_evaluate_policies: bool,
    order: i32,
    policy_engine_mode: String,
    invalid_response_action: String,
}

#[derive(Serialize)]
struct ListOut<T> {
    pagination: Pagination,
    results: Vec<T>,
    autocomplete: Autocomplete,
}

/// The GraphQL answer of the one document: `{"data": {"flows": {"results": [...]}}}`.
#[derive(Serialize)]
struct GqlOut {
    data: GqlData,
}

#[derive(Serialize)]
struct GqlData {
    flows: GqlFlows,
}

#[derive(Serialize)]
struct GqlFlows {
    results: Vec<GqlFlow>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GqlFlow {
    slug: String,
    stage_bindings: Vec<GqlBinding>,
    stages: Vec<GqlStage>,
}

#[derive(Serialize)]
struct GqlBinding {
    order: i32,
    stage: GqlStage,
}

#[derive(Serialize, Clone)]
struct GqlStage {
    name: String,
}

/// A flow row as selected by `FULL_FLOW_PAGE`.
type FullFlowRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    String,
    String,
    String,
);
/// A binding row as selected by `BINDING_PAGE`.
type BindingRow = (
    Uuid,
    Option<Uuid>,
    Uuid,
    Uuid,
    bool,
    bool,
    i32,
    String,
    String,
);

/// A stage row joined with its captcha row, as selected by `STAGE_COLUMNS`.
type StageRow = (Uuid, String, String, String, String, bool, f64, f64, bool);
/// The stage a binding belongs to, then the flow's columns as selected by `FLOW_COLUMNS`.
type FlowRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    String,
    String,
);
/// superuser, permissions, revoked, expires.
type TokenRow = (bool, String, bool, Option<DateTime<Utc>>);

fn stage_out(row: StageRow, flow_set: Vec<FlowOut>) -> StageOut {
    let (pk, name, public_key, js_url, api_url, interactive, min, max, error_on_invalid) = row;
    StageOut {
        pk,
        name,
        component: "ak-stage-captcha-form",
        verbose_name: "Captcha Stage",
        verbose_name_plural: "Captcha Stages",
        meta_model_name: "authentik_stages_captcha.captchastage",
        flow_set,
        public_key,
        js_url,
        api_url,
        interactive,
        score_min_threshold: min,
        score_max_threshold: max,
        error_on_invalid_score: error_on_invalid,
    }
}

fn background_url(stored: Option<&str>) -> String {
    match stored {
        None | Some("") => DEFAULT_BACKGROUND.to_string(),
        Some(url) if url.starts_with("http") || url.starts_with("/static") => url.to_string(),
        Some(path) => format!("/media/{path}"),
    }
}

fn flow_out(row: FlowRow) -> (Uuid, FlowOut) {
    let (stage, pk, ptr, name, slug, title, designation, background, mode, compat, layout, denied) =
        row;
    let out = FlowOut {
        pk,
        policybindingmodel_ptr_id: ptr,
        export_url: format!("/api/v3/flows/instances/{slug}/export/"),
        background: background_url(background.as_deref()),
        name,
        slug,
        title,
        designation,
        policy_engine_mode: mode,
        compatibility_mode: compat,
        layout,
        denied_action: denied,
    };
    (stage, out)
}

/// The GraphQL answer: each flow's slug, its bindings (order, stage name) and its stages.
fn gql_out(
    flows: Vec<(Uuid, String)>,
    mut bindings: std::collections::HashMap<Uuid, Vec<GqlBinding>>,
) -> GqlOut {
    let results = flows
        .into_iter()
        .map(|(id, slug)| {
            let stage_bindings = bindings.remove(&id).unwrap_or_default();
            let stages = stage_bindings.iter().map(|b| b.stage.clone()).collect();
            GqlFlow {
                slug,
                stage_bindings,
                stages,
            }
        })
        .collect();
    GqlOut {
        data: GqlData {
            flows: GqlFlows { results },
        },
    }
}

fn full_flow_out(row: FullFlowRow, stages: Vec<Uuid>) -> FullFlowOut {
    let (pk, ptr, name, slug, title, designation, background, mode, compat, layout, denied, auth) =
        row;
    FullFlowOut {
        pk,
        policybindingmodel_ptr_id: ptr,
        export_url: format!("/api/v3/flows/instances/{slug}/export/"),
        background: background_url(background.as_deref()),
        name,
        slug,
        title,
        designation,
        stages,
        policies: [],
        cache_count: 0,
        policy_engine_mode: mode,
        compatibility_mode: compat,
        layout,
        denied_action: denied,
        authentication: auth,
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.

fn detail(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "detail": message }))).into_response()
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => server_error(),
    }
}

/// A list handler's answer: the page, `Invalid page.` or the database error.
fn answer_page<T: Serialize>(page: Result<Option<T>, sqlx::Error>) -> Response {
    match page {
        Ok(Some(page)) => json_response(StatusCode::OK, &page),
        Ok(None) => detail(StatusCode::NOT_FOUND, "Invalid page."),
        Err(err) => db_error(err),
    }
}

fn server_error() -> Response {
    detail(
        StatusCode::INTERNAL_SERVER_ERROR,
        "A server error occurred.",
    )
}

fn db_error(err: sqlx::Error) -> Response {
    let unique = err
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation());
    if unique {
        return detail(StatusCode::BAD_REQUEST, "unique constraint violated");
    }
    eprintln!("baseline: database error: {err}");
    server_error()
}

const NO_CREDENTIALS: &str = "Authentication credentials were not provided.";
const INVALID_TOKEN: &str = "Token invalid/expired";
const NO_PERMISSION: &str = "You do not have permission to perform this action.";

/// The SHA-256 of the Bearer credential, or the 403 message when there is none.
fn token_hash(headers: &HeaderMap) -> Result<String, &'static str> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let mut parts = v.split_whitespace();
            let (scheme, token) = (parts.next()?, parts.next()?);
            (scheme.eq_ignore_ascii_case("bearer") && parts.next().is_none()).then_some(token)
        })
        .ok_or(NO_CREDENTIALS)?;
    Ok(hex::encode(Sha256::digest(credential.as_bytes())))
}

/// Whether the token row grants `permission`; otherwise the 403 message.
fn authorize(row: Option<&TokenRow>, permission: &str) -> Result<(), &'static str> {
    let (superuser, permissions, revoked, expires) = row.ok_or(INVALID_TOKEN)?;
    if *revoked || expires.is_some_and(|at| at <= Utc::now()) {
        return Err(INVALID_TOKEN);
    }
    if *superuser || permissions.split_whitespace().any(|p| p == permission) {
        Ok(())
    } else {
        Err(NO_PERMISSION)
    }
}

/// Django's paginator with authentik's envelope: `(offset, limit, pagination)`, or `None` for
/// an invalid page.
fn window(query: Option<&str>, count: u64) -> Option<(u64, u64, Pagination)> {
    let mut number = "1".to_string();
    let mut size: u64 = 20;
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "page" => number = value.to_string(),
            "page_size" => {
                size = match value.parse::<i64>() {
                    Ok(n) if n > 0 => (n as u64).min(100),
                    _ => 100,
                }
            }
            _ => {}
        }
    }
    let total_pages = count.div_ceil(size).max(1);
    let current = if number == "last" {
        total_pages
    } else {
        match number.parse::<i64>() {
            Ok(n) if n >= 1 && (n as u64) <= total_pages => n as u64,
            _ => return None,
        }
    };
    let offset = (current - 1) * size;
    let (start_index, end_index) = if count == 0 {
        (0, 0)
    } else {
        (offset + 1, (offset + size).min(count))
    };
    let next = if current < total_pages {
        current + 1
    } else {
        0
    };
    let pagination = Pagination {
        next,
        previous: current - 1,
        count,
        current,
        total_pages,
        start_index,
        end_index,
    };
    Some((offset, size, pagination))
}

// ---------------------------------------------------------------------------------------------
// SQL. Written once with PostgreSQL's `$n` placeholders; SQLite gets `?n`.

const TOKEN_SQL: &str =
    "SELECT superuser, permissions, revoked, expires FROM api_token WHERE token_hash = $1";
const INSERT_TOKEN_SQL: &str = "INSERT INTO api_token \
     (id, name, token_hash, permissions, superuser, expires, revoked, created) \
     VALUES ($1, $2, $3, '', TRUE, NULL, FALSE, $4) ON CONFLICT (token_hash) DO NOTHING";
const INSERT_STAGE_SQL: &str = "INSERT INTO stage (stage_uuid, name) VALUES ($1, $2)";
const INSERT_CAPTCHA_SQL: &str = "INSERT INTO captcha_stage (stage_ptr_id, public_key, \
     private_key, js_url, api_url, interactive, score_min_threshold, score_max_threshold, \
     error_on_invalid_score) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const INSERT_FLOW_SQL: &str = "INSERT INTO flow (flow_uuid, policybindingmodel_ptr_id, name, \
     slug, title, designation, background, policy_engine_mode, compatibility_mode, layout, \
     denied_action) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10)";
const INSERT_BINDING_SQL: &str = "INSERT INTO flow_stage_binding (fsb_uuid, target, stage, \
     \"order\", evaluate_on_plan, re_evaluate_policies, invalid_response_action) \
     VALUES ($1, $2, $3, 0, FALSE, TRUE, 'retry')";
const COUNT_SQL: &str =
    "SELECT COUNT(*) FROM captcha_stage c JOIN stage s ON s.stage_uuid = c.stage_ptr_id";
const STAGE_COLUMNS: &str = "SELECT s.stage_uuid, s.name, c.public_key, c.js_url, c.api_url, \
     c.interactive, c.score_min_threshold, c.score_max_threshold, c.error_on_invalid_score \
     FROM captcha_stage c JOIN stage s ON s.stage_uuid = c.stage_ptr_id";
const PAGE_SUFFIX: &str = " ORDER BY s.name, s.stage_uuid LIMIT $1 OFFSET $2";
const ONE_SUFFIX: &str = " WHERE c.stage_ptr_id = $1";
const FLOW_COLUMNS: &str = "SELECT b.stage, f.flow_uuid, f.policybindingmodel_ptr_id, f.name, \
     f.slug, f.title, f.designation, f.background, f.policy_engine_mode, f.compatibility_mode, \
     f.layout, f.denied_action FROM flow_stage_binding b JOIN flow f ON f.flow_uuid = b.target \
     WHERE b.stage IN (";
const FLOW_ORDER: &str = ") ORDER BY f.slug, b.\"order\"";

const FLOW_COUNT_SQL: &str = "SELECT COUNT(*) FROM flow";
const FULL_FLOW_PAGE_SQL: &str = "SELECT flow_uuid, policybindingmodel_ptr_id, name, slug, title, \
     designation, background, policy_engine_mode, compatibility_mode, layout, denied_action, \
     authentication FROM flow ORDER BY slug, name, flow_uuid LIMIT $1 OFFSET $2";
const FLOW_SLUG_PAGE_SQL: &str =
    "SELECT flow_uuid, slug FROM flow ORDER BY slug, name, flow_uuid LIMIT $1 OFFSET $2";
const BINDING_COUNT_SQL: &str =
    "SELECT COUNT(*) FROM flow_stage_binding b JOIN stage s ON s.stage_uuid = b.stage";
const BINDING_PAGE_SQL: &str = "SELECT b.fsb_uuid, b.policybindingmodel_ptr_id, b.target, \
     b.stage, b.evaluate_on_plan, b.re_evaluate_policies, b.\"order\", b.policy_engine_mode, \
     b.invalid_response_action FROM flow_stage_binding b JOIN stage s ON s.stage_uuid = b.stage \
     ORDER BY b.\"order\", b.fsb_uuid LIMIT $1 OFFSET $2";
/// The stage ids of flows (`Flow.stages`), by binding order.
const STAGE_IDS_OF_FLOWS: &str = "SELECT target, stage FROM flow_stage_binding WHERE target IN (";
const BINDING_ORDER: &str = ") ORDER BY \"order\", fsb_uuid";
/// Stage names by id (a binding's `stage_obj`).
const STAGE_NAMES: &str = "SELECT s.stage_uuid, s.name FROM captcha_stage c \
     JOIN stage s ON s.stage_uuid = c.stage_ptr_id WHERE c.stage_ptr_id IN (";
/// The bindings of flows with their stages' names (GraphQL's `stageBindings` and `stages`).
const BINDINGS_WITH_NAMES: &str = "SELECT b.target, b.\"order\", s.name FROM flow_stage_binding b \
     JOIN captcha_stage c ON c.stage_ptr_id = b.stage JOIN stage s ON s.stage_uuid = b.stage \
     WHERE b.target IN (";
const BINDINGS_WITH_NAMES_ORDER: &str = ") ORDER BY b.\"order\", b.fsb_uuid";
/// Every column of the bindings of flows (`BASELINE_GRAPHQL_READS=full`).
const FULL_BINDINGS_OF_FLOWS: &str = "SELECT fsb_uuid, policybindingmodel_ptr_id, target, stage, \
     evaluate_on_plan, re_evaluate_policies, \"order\", policy_engine_mode, invalid_response_action \
     FROM flow_stage_binding WHERE target IN (";

/// The statements of one backend, made once at start.
struct Sql {
    token: &'static str,
    insert_token: &'static str,
    insert_stage: &'static str,
    insert_captcha: &'static str,
    insert_flow: &'static str,
    insert_binding: &'static str,
    count: &'static str,
    page: &'static str,
    one: &'static str,
    flow_count: &'static str,
    full_flow_page: &'static str,
    flow_slug_page: &'static str,
    binding_count: &'static str,
    binding_page: &'static str,
    /// Every shown column of the captcha stages in an IN list.
    stages_in: &'static str,
}

impl Sql {
    fn new(postgres: bool) -> Sql {
        let convert = |sql: String| -> &'static str {
            let sql = if postgres { sql } else { sql.replace('$', "?") };
            Box::leak(sql.into_boxed_str())
        };
        Sql {
            token: convert(TOKEN_SQL.into()),
            insert_token: convert(INSERT_TOKEN_SQL.into()),
            insert_stage: convert(INSERT_STAGE_SQL.into()),
            insert_captcha: convert(INSERT_CAPTCHA_SQL.into()),
            insert_flow: convert(INSERT_FLOW_SQL.into()),
            insert_binding: convert(INSERT_BINDING_SQL.into()),
            count: convert(COUNT_SQL.into()),
            page: convert(format!("{STAGE_COLUMNS}{PAGE_SUFFIX}")),
            one: convert(format!("{STAGE_COLUMNS}{ONE_SUFFIX}")),
            flow_count: convert(FLOW_COUNT_SQL.into()),
            full_flow_page: convert(FULL_FLOW_PAGE_SQL.into()),
            flow_slug_page: convert(FLOW_SLUG_PAGE_SQL.into()),
            binding_count: convert(BINDING_COUNT_SQL.into()),
            binding_page: convert(BINDING_PAGE_SQL.into()),
            stages_in: convert(format!("{STAGE_COLUMNS} WHERE c.stage_ptr_id IN (")),
        }
    }
}

/// The handlers' work, once per backend: the code is the same, the database types differ.
macro_rules! backend {
    ($module:ident, $db:ty) => {
        mod $module {
            use super::*;

            pub struct Store {
                pub reader: sqlx::Pool<$db>,
                pub writer: sqlx::Pool<$db>,
                pub sql: Sql,
                /// `BASELINE_GRAPHQL_READS=full`: the GraphQL document reads every column.
                pub full_graphql_reads: bool,
            }

            impl Store {
                async fn authorize(&self, headers: &HeaderMap, perm: &str) -> Result<(), Response> {
                    self.authorize_all(headers, &[perm]).await
                }

                /// One token lookup, every permission of `perms` checked.
                async fn authorize_all(
                    &self,
                    headers: &HeaderMap,
                    perms: &[&str],
                ) -> Result<(), Response> {
                    let forbidden = |message| detail(StatusCode::FORBIDDEN, message);
                    let hash = token_hash(headers).map_err(forbidden)?;
                    let row: Option<TokenRow> = sqlx::query_as(self.sql.token)
                        .bind(hash)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    for perm in perms {
                        authorize(row.as_ref(), perm).map_err(forbidden)?;
                    }
                    Ok(())
                }

                pub async fn register_token(&self, secret: &str) -> Result<(), sqlx::Error> {
                    let hash = hex::encode(Sha256::digest(secret.as_bytes()));
                    sqlx::query(self.sql.insert_token)
                        .bind(Uuid::new_v4())
                        .bind(format!("baseline-{}", &hash[..12]))
                        .bind(hash)
                        .bind(Utc::now())
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                /// The flows of `stages`, by stage, each list ordered by slug then order.
                async fn flows(
                    &self,
                    stages: &[Uuid],
                ) -> Result<std::collections::HashMap<Uuid, Vec<FlowOut>>, sqlx::Error> {
                    let mut by_stage = std::collections::HashMap::new();
                    if stages.is_empty() {
                        return Ok(by_stage);
                    }
                    let mut query = sqlx::QueryBuilder::<$db>::new(FLOW_COLUMNS);
                    let mut ids = query.separated(", ");
                    for id in stages {
                        ids.push_bind(*id);
                    }
                    query.push(FLOW_ORDER);
                    let rows: Vec<FlowRow> = query.build_query_as().fetch_all(&self.reader).await?;
                    for row in rows {
                        let (stage, flow) = flow_out(row);
                        by_stage.entry(stage).or_insert_with(Vec::new).push(flow);
                    }
                    Ok(by_stage)
                }

                pub async fn create(&self, headers: HeaderMap, body: Bytes) -> Response {
                    if let Err(response) = self.authorize(&headers, PERM_ADD).await {
                        return response;
                    }
                    let input: StageIn = match serde_json::from_slice(&body) {
                        Ok(input) => input,
                        Err(err) => {
                            return detail(
                                StatusCode::BAD_REQUEST,
                                &format!("JSON parse error - {err}"),
                            );
                        }
                    };
                    match self.insert(input).await {
                        Ok(out) => json_response(StatusCode::CREATED, &out),
                        Err(err) => db_error(err),
                    }
                }

                async fn insert(&self, input: StageIn) -> Result<StageOut, sqlx::Error> {
                    let stage_id = Uuid::new_v4();
                    let js_url = input.js_url.unwrap_or_else(|| DEFAULT_JS_URL.into());
                    let api_url = input.api_url.unwrap_or_else(|| DEFAULT_API_URL.into());
                    let interactive = input.interactive.unwrap_or(false);
                    let min = input.score_min_threshold.unwrap_or(0.5);
                    let max = input.score_max_threshold.unwrap_or(1.0);
                    let error_on_invalid = input.error_on_invalid_score.unwrap_or(true);
                    let mut flows = Vec::with_capacity(input.flow_set.len());
                    let mut tx = self.writer.begin().await?;
                    sqlx::query(self.sql.insert_stage)
                        .bind(stage_id)
                        .bind(&input.name)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(self.sql.insert_captcha)
                        .bind(stage_id)
                        .bind(&input.public_key)
                        .bind(&input.private_key)
                        .bind(&js_url)
                        .bind(&api_url)
                        .bind(interactive)
                        .bind(min)
                        .bind(max)
                        .bind(error_on_invalid)
                        .execute(&mut *tx)
                        .await?;
                    for flow in input.flow_set {
                        let (flow_id, ptr_id) = (Uuid::new_v4(), Uuid::new_v4());
                        let mode = flow.policy_engine_mode.unwrap_or_else(|| "any".into());
                        let compat = flow.compatibility_mode.unwrap_or(false);
                        let layout = flow.layout.unwrap_or_else(|| "stacked".into());
                        let denied = flow
                            .denied_action
                            .unwrap_or_else(|| "message_continue".into());
                        sqlx::query(self.sql.insert_flow)
                            .bind(flow_id)
                            .bind(ptr_id)
                            .bind(&flow.name)
                            .bind(&flow.slug)
                            .bind(&flow.title)
                            .bind(&flow.designation)
                            .bind(&mode)
                            .bind(compat)
                            .bind(&layout)
                            .bind(&denied)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(self.sql.insert_binding)
                            .bind(Uuid::new_v4())
                            .bind(flow_id)
                            .bind(stage_id)
                            .execute(&mut *tx)
                            .await?;
                        flows.push(FlowOut {
                            pk: flow_id,
                            policybindingmodel_ptr_id: ptr_id,
                            export_url: format!("/api/v3/flows/instances/{}/export/", flow.slug),
                            background: DEFAULT_BACKGROUND.to_string(),
                            name: flow.name,
                            slug: flow.slug,
                            title: flow.title,
                            designation: flow.designation,
                            policy_engine_mode: mode,
                            compatibility_mode: compat,
                            layout,
                            denied_action: denied,
                        });
                    }
                    tx.commit().await?;
                    flows.sort_by(|a, b| a.slug.cmp(&b.slug));
                    let row = (
                        stage_id,
                        input.name,
                        input.public_key,
                        js_url,
                        api_url,
                        interactive,
                        min,
                        max,
                        error_on_invalid,
                    );
                    Ok(stage_out(row, flows))
                }

                pub async fn list(&self, headers: HeaderMap, query: Option<String>) -> Response {
                    if let Err(response) = self.authorize(&headers, PERM_VIEW).await {
                        return response;
                    }
                    answer_page(self.page(query.as_deref()).await)
                }

                async fn page(&self, query: Option<&str>) -> Result<Option<PageOut>, sqlx::Error> {
                    let count: i64 = sqlx::query_scalar(self.sql.count)
                        .fetch_one(&self.reader)
                        .await?;
                    let Some((offset, limit, pagination)) = window(query, count as u64) else {
                        return Ok(None);
                    };
                    let rows: Vec<StageRow> = sqlx::query_as(self.sql.page)
                        .bind(limit as i64)
                        .bind(offset as i64)
                        .fetch_all(&self.reader)
                        .await?;
                    let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
                    let mut flows = self.flows(&ids).await?;
                    let results = rows
                        .into_iter()
                        .map(|row| {
                            let own = flows.remove(&row.0).unwrap_or_default();
                            stage_out(row, own)
                        })
                        .collect();
                    Ok(Some(PageOut {
                        pagination,
                        results,
                        autocomplete: Autocomplete {},
                    }))
                }

                /// The rows of a `WHERE x IN (ids)` statement, with one placeholder per id
                /// (none without ids).
                async fn rows_in<R>(
                    &self,
                    head: &'static str,
                    ids: &[Uuid],
                    tail: &'static str,
                ) -> Result<Vec<R>, sqlx::Error>
                where
                    R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut query = sqlx::QueryBuilder::<$db>::new(head);
                    let mut list = query.separated(", ");
                    for id in ids {
                        list.push_bind(*id);
                    }
                    query.push(tail);
                    query.build_query_as().fetch_all(&self.reader).await
                }

                /// A list's answer once the caller may see it (`page` runs only then).
                async fn listed<T: Serialize>(
                    &self,
                    headers: &HeaderMap,
                    permission: &str,
                    page: impl Future<Output = Result<Option<T>, sqlx::Error>>,
                ) -> Response {
                    match self.authorize(headers, permission).await {
                        Ok(()) => answer_page(page.await),
                        Err(response) => response,
                    }
                }

                /// Django's paginator: the count, then the rows of the page `query` asks for
                /// (`None`: an invalid page).
                async fn page_rows<R>(
                    &self,
                    count_sql: &'static str,
                    page_sql: &'static str,
                    query: Option<&str>,
                ) -> Result<Option<(Pagination, Vec<R>)>, sqlx::Error>
                where
                    R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                {
                    let count: i64 = sqlx::query_scalar(count_sql)
                        .fetch_one(&self.reader)
                        .await?;
                    let Some((offset, limit, pagination)) = window(query, count as u64) else {
                        return Ok(None);
                    };
                    let rows = sqlx::query_as(page_sql)
                        .bind(limit as i64)
                        .bind(offset as i64)
                        .fetch_all(&self.reader)
                        .await?;
                    Ok(Some((pagination, rows)))
                }

                pub async fn list_flows(
                    &self,
                    headers: HeaderMap,
                    query: Option<String>,
                ) -> Response {
                    let page = self.flow_page(query.as_deref());
                    self.listed(&headers, PERM_VIEW_FLOW, page).await
                }

                async fn flow_page(
                    &self,
                    query: Option<&str>,
                ) -> Result<Option<ListOut<FullFlowOut>>, sqlx::Error> {
                    let sql = (self.sql.flow_count, self.sql.full_flow_page);
                    let Some((pagination, rows)) =
                        self.page_rows::<FullFlowRow>(sql.0, sql.1, query).await?
                    else {
                        return Ok(None);
                    };
                    let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
                    let mut stages: std::collections::HashMap<Uuid, Vec<Uuid>> =
                        std::collections::HashMap::new();
                    let pairs: Vec<(Uuid, Uuid)> = self
                        .rows_in(STAGE_IDS_OF_FLOWS, &ids, BINDING_ORDER)
                        .await?;
                    for (flow, stage) in pairs {
                        stages.entry(flow).or_default().push(stage);
                    }
                    let results = rows
                        .into_iter()
                        .map(|row| {
                            let own = stages.remove(&row.0).unwrap_or_default();
                            full_flow_out(row, own)
                        })
                        .collect();
                    Ok(Some(ListOut {
                        pagination,
                        results,
                        autocomplete: Autocomplete {},
                    }))
                }

                pub async fn list_bindings(
                    &self,
                    headers: HeaderMap,
                    query: Option<String>,
                ) -> Response {
                    let page = self.binding_page(query.as_deref());
                    self.listed(&headers, PERM_VIEW_BINDING, page).await
                }

                async fn binding_page(
                    &self,
                    query: Option<&str>,
                ) -> Result<Option<ListOut<BindingOut>>, sqlx::Error> {
                    let sql = (self.sql.binding_count, self.sql.binding_page);
                    let Some((pagination, rows)) =
                        self.page_rows::<BindingRow>(sql.0, sql.1, query).await?
                    else {
                        return Ok(None);
                    };
                    let mut stage_ids: Vec<Uuid> = rows.iter().map(|row| row.3).collect();
                    stage_ids.sort_unstable();
                    stage_ids.dedup();
                    let names: std::collections::HashMap<Uuid, String> = self
                        .rows_in::<(Uuid, String)>(STAGE_NAMES, &stage_ids, ")")
                        .await?
                        .into_iter()
                        .collect();
                    // A stage shown by several bindings shows the same flows each time.
                    let flows = self.flows(&stage_ids).await?;
                    let flow_set = |stage: &Uuid| -> Vec<FlowOut> {
                        flows.get(stage).cloned().unwrap_or_default()
                    };
                    let results = rows
                        .into_iter()
                        .map(|row| {
                            let (pk, ptr, target, stage, on_plan, re_eval, order, mode, action) =
                                row;
                            BindingOut {
                                pk,
                                policybindingmodel_ptr_id: ptr.unwrap_or_default(),
                                target,
                                stage,
                                stage_obj: StageObjOut {
                                    pk: stage,
                                    name: names.get(&stage).cloned().unwrap_or_default(),
                                    component: "ak-stage-captcha-form",
                                    verbose_name: "Captcha Stage",
                                    verbose_name_plural: "Captcha Stages",
                                    meta_model_name: "authentik_stages_captcha.captchastage",
                                    flow_set: flow_set(&stage),
                                },
                                evaluate_on_plan: on_plan,
                                re_evaluate_policies: re_eval,
                                order,
                                policy_engine_mode: mode,
                                invalid_response_action: action,
                            }
                        })
                        .collect();
                    Ok(Some(ListOut {
                        pagination,
                        results,
                        autocomplete: Autocomplete {},
                    }))
                }

                /// The one GraphQL document of the benchmark (module docs).
                pub async fn graphql_flows(&self, headers: HeaderMap) -> Response {
                    let perms = [PERM_VIEW_FLOW, PERM_VIEW_BINDING, PERM_VIEW];
                    if let Err(response) = self.authorize_all(&headers, &perms).await {
                        return response;
                    }
                    match self.graphql_page().await {
                        Ok(out) => json_response(StatusCode::OK, &out),
                        Err(err) => db_error(err),
                    }
                }

                async fn graphql_page(&self) -> Result<GqlOut, sqlx::Error> {
                    if self.full_graphql_reads {
                        return self.graphql_page_full_reads().await;
                    }
                    let sql = (self.sql.flow_count, self.sql.flow_slug_page);
                    let (_, rows) = self
                        .page_rows::<(Uuid, String)>(sql.0, sql.1, Some(GRAPHQL_PAGE))
                        .await?
                        .expect("page 1 always exists");
                    let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
                    let mut bindings: std::collections::HashMap<Uuid, Vec<GqlBinding>> =
                        std::collections::HashMap::new();
                    let found: Vec<(Uuid, i32, String)> = self
                        .rows_in(BINDINGS_WITH_NAMES, &ids, BINDINGS_WITH_NAMES_ORDER)
                        .await?;
                    for (flow, order, name) in found {
                        bindings.entry(flow).or_default().push(GqlBinding {
                            order,
                            stage: GqlStage { name },
                        });
                    }
                    Ok(gql_out(rows, bindings))
                }

                /// The same answer from every column of the flows, their bindings and their
                /// stages, in separate queries, as the service's loaders read them.
                async fn graphql_page_full_reads(&self) -> Result<GqlOut, sqlx::Error> {
                    let sql = (self.sql.flow_count, self.sql.full_flow_page);
                    let (_, rows) = self
                        .page_rows::<FullFlowRow>(sql.0, sql.1, Some(GRAPHQL_PAGE))
                        .await?
                        .expect("page 1 always exists");
                    let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
                    let found: Vec<BindingRow> = self
                        .rows_in(FULL_BINDINGS_OF_FLOWS, &ids, BINDING_ORDER)
                        .await?;
                    let mut stage_ids: Vec<Uuid> = found.iter().map(|row| row.3).collect();
                    stage_ids.sort_unstable();
                    stage_ids.dedup();
                    let stages: Vec<StageRow> =
                        self.rows_in(self.sql.stages_in, &stage_ids, ")").await?;
                    let names: std::collections::HashMap<Uuid, String> =
                        stages.into_iter().map(|row| (row.0, row.1)).collect();
                    let mut bindings: std::collections::HashMap<Uuid, Vec<GqlBinding>> =
                        std::collections::HashMap::new();
                    for row in found {
                        let name = names.get(&row.3).cloned().unwrap_or_default();
                        bindings.entry(row.2).or_default().push(GqlBinding {
                            order: row.6,
                            stage: GqlStage { name },
                        });
                    }
                    let rows = rows.into_iter().map(|row| (row.0, row.3)).collect();
                    Ok(gql_out(rows, bindings))
                }

                pub async fn retrieve(&self, headers: HeaderMap, id: String) -> Response {
                    if let Err(response) = self.authorize(&headers, PERM_VIEW).await {
                        return response;
                    }
                    let Ok(id) = Uuid::parse_str(&id) else {
                        return detail(StatusCode::NOT_FOUND, "Not found.");
                    };
                    let row: Option<StageRow> = match sqlx::query_as(self.sql.one)
                        .bind(id)
                        .fetch_optional(&self.reader)
                        .await
                    {
                        Ok(row) => row,
                        Err(err) => return db_error(err),
                    };
                    let Some(row) = row else {
                        return detail(
                            StatusCode::NOT_FOUND,
                            "No CaptchaStage matches the given query.",
                        );
                    };
                    match self.flows(&[id]).await {
                        Ok(mut flows) => {
                            let own = flows.remove(&id).unwrap_or_default();
                            json_response(StatusCode::OK, &stage_out(row, own))
                        }
                        Err(err) => db_error(err),
                    }
                }
            }
        }
    };
}

backend!(pg, sqlx::Postgres);
backend!(lite, sqlx::Sqlite);

enum Backend {
    Postgres(pg::Store),
    Sqlite(lite::Store),
}

type AppState = Arc<Backend>;

async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match &*state {
        Backend::Postgres(store) => store.create(headers, body).await,
        Backend::Sqlite(store) => store.create(headers, body).await,
    }
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match &*state {
        Backend::Postgres(store) => store.list(headers, query).await,
        Backend::Sqlite(store) => store.list(headers, query).await,
    }
}

async fn retrieve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match &*state {
        Backend::Postgres(store) => store.retrieve(headers, id).await,
        Backend::Sqlite(store) => store.retrieve(headers, id).await,
    }
}

async fn list_flows(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match &*state {
        Backend::Postgres(store) => store.list_flows(headers, query).await,
        Backend::Sqlite(store) => store.list_flows(headers, query).await,
    }
}

async fn list_bindings(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match &*state {
        Backend::Postgres(store) => store.list_bindings(headers, query).await,
        Backend::Sqlite(store) => store.list_bindings(headers, query).await,
    }
}

/// Reads the body (as the service must) and answers the one document.
async fn graphql(State(state): State<AppState>, headers: HeaderMap, _body: Bytes) -> Response {
    match &*state {
        Backend::Postgres(store) => store.graphql_flows(headers).await,
        Backend::Sqlite(store) => store.graphql_flows(headers).await,
    }
}

/// `BASELINE_GRAPHQL_READS=full` (module docs).
fn full_graphql_reads() -> bool {
    std::env::var("BASELINE_GRAPHQL_READS").is_ok_and(|reads| reads == "full")
}

async fn connect(url: &str) -> Result<Backend, sqlx::Error> {
    if url.starts_with("sqlite:") {
        use sqlx::sqlite::SqliteSynchronous;
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // One writer (SQLite runs one write at a time), a few readers: as the service does.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .connect_with(options)
            .await?;
        Ok(Backend::Sqlite(lite::Store {
            reader,
            writer,
            sql: Sql::new(false),
            full_graphql_reads: full_graphql_reads(),
        }))
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(POSTGRES_POOL_SIZE)
            .connect(url)
            .await?;
        Ok(Backend::Postgres(pg::Store {
            reader: pool.clone(),
            writer: pool,
            sql: Sql::new(true),
            full_graphql_reads: full_graphql_reads(),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let listen = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let backend = connect(&url).await?;
    if let Ok(secret) = std::env::var("BOOTSTRAP_TOKEN") {
        match &backend {
            Backend::Postgres(store) => store.register_token(&secret).await?,
            Backend::Sqlite(store) => store.register_token(&secret).await?,
        }
    }
    let app = Router::new()
        .route("/api/v3/stages/captcha/", get(list).post(create))
        .route("/api/v3/stages/captcha/{id}/", get(retrieve))
        .route("/api/v3/flows/instances/", get(list_flows))
        .route("/api/v3/flows/bindings/", get(list_bindings))
        .route("/graphql", axum::routing::post(graphql))
        .route("/-/health/ready/", get(|| async { StatusCode::OK }))
        .with_state(Arc::new(backend));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("baseline is serving on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(stages_bench::stopped())
        .await?;
    Ok(())
}
