//! The resolver layer of captcha stages: one function per use case, shared by the REST and the
//! GraphQL front ends. Each checks the permission first, then the submitted input, then runs one
//! transaction; uniqueness is decided by the database's constraints.

mod input;
mod store;

pub use input::{CaptchaStageInput, STAGE_FIELDS, WriteMode};
pub use store::StageFilter;

use std::collections::{HashMap, HashSet};

use sea_orm::{DbErr, SqlErr};
use uuid::Uuid;

use crate::auth::{Permission, Principal};
use crate::db::Db;
use crate::error::{NO_CAPTCHA_STAGE, ServiceError};
use crate::flows::{self, Binding, Flow};
use crate::pagination::{Page, PageRequest};
use input::StageCheck;
use store::StageRecord;

/// What a front end could read of a request. Its errors (a body that is not JSON, an id that is
/// not a UUID) are reported only after the permission check, as authentik does.
pub type Submitted<T> = Result<T, ServiceError>;

/// What authentik calls this kind of stage.
pub const COMPONENT: &str = "ak-stage-captcha-form";
pub const VERBOSE_NAME: &str = "Captcha Stage";
pub const VERBOSE_NAME_PLURAL: &str = "Captcha Stages";
pub const META_MODEL_NAME: &str = "authentik_stages_captcha.captchastage";

/// A write that lost a race (a unique constraint, a serialization failure or a deadlock) is tried
/// again this many times, checking the database first, before it gives up with a 503.
const WRITE_ATTEMPTS: usize = 3;

/// A captcha stage as every front end shows it. The private key is not part of it.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptchaStage {
    pub id: Uuid,
    pub name: String,
    pub public_key: String,
    pub js_url: String,
    pub api_url: String,
    pub interactive: bool,
    pub score_min_threshold: f64,
    pub score_max_threshold: f64,
    pub error_on_invalid_score: bool,
    /// One entry per binding, ordered by flow slug, then binding order.
    pub bindings: Vec<Binding>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsedByAction {
    Cascade,
    CascadeMany,
    SetNull,
    SetDefault,
}

/// An object that deleting a stage would affect (authentik's `used_by`).
#[derive(Clone, Debug, PartialEq)]
pub struct UsedBy {
    pub app: &'static str,
    pub model_name: &'static str,
    pub pk: String,
    pub name: String,
    pub action: UsedByAction,
}

impl CaptchaStage {
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.bindings.iter().map(|binding| &binding.flow)
    }

    /// For each binding, its flow (many-to-many cascade) and the binding itself (cascade).
    pub fn used_by(&self) -> Vec<UsedBy> {
        self.bindings
            .iter()
            .flat_map(|binding| {
                let flow = &binding.flow;
                [
                    UsedBy {
                        app: "authentik_flows",
                        model_name: "flow",
                        pk: flow.id.to_string(),
                        name: format!("Flow {} ({})", flow.name, flow.slug),
                        action: UsedByAction::CascadeMany,
                    },
                    UsedBy {
                        app: "authentik_flows",
                        model_name: "flowstagebinding",
                        pk: binding.id.to_string(),
                        name: format!("Flow-stage binding #{} to {}", binding.order, flow.id),
                        action: UsedByAction::Cascade,
                    },
                ]
            })
            .collect()
    }
}

enum WriteError {
    /// A unique constraint refused the write: another request took the name or a slug.
    Conflict,
    Service(ServiceError),
}

impl From<DbErr> for WriteError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => WriteError::Conflict,
            // PostgreSQL rolled the transaction back for racing another: run it again.
            _ if crate::db::is_write_conflict(&err) => WriteError::Conflict,
            _ => WriteError::Service(err.into()),
        }
    }
}

impl From<ServiceError> for WriteError {
    fn from(err: ServiceError) -> Self {
        WriteError::Service(err)
    }
}

/// Runs `attempt` until it does not lose a uniqueness race. The first attempt may skip the
/// database checks and leave uniqueness to the constraints (one query less on the hot path);
/// after a lost race each attempt checks first, so the loser gets the field errors.
async fn with_race_retries<T, F, Fut>(mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, WriteError>>,
{
    let mut check_first = false;
    for _ in 0..WRITE_ATTEMPTS {
        match attempt(check_first).await {
            Ok(value) => return Ok(value),
            Err(WriteError::Service(err)) => return Err(err),
            Err(WriteError::Conflict) => check_first = true,
        }
    }
    // Every attempt lost a race to another writer: the client may try again shortly.
    tracing::warn!(
        attempts = WRITE_ATTEMPTS,
        "write kept losing races to other writers"
    );
    Err(ServiceError::Unavailable)
}

/// The check, once it passes with every rule, uniqueness included; otherwise all its errors.
async fn ensure_valid(
    mut check: StageCheck,
    conn: &impl sea_orm::ConnectionTrait,
    check_database: bool,
    own_stage: Option<Uuid>,
    own_slugs: &HashSet<String>,
) -> Result<StageCheck, WriteError> {
    if !check.is_valid() || check_database {
        check.add_conflicts(conn, own_stage, own_slugs).await?;
    }
    if check.is_valid() {
        Ok(check)
    } else {
        Err(ServiceError::Validation(check.into_errors()).into())
    }
}

/// `POST /api/v3/stages/captcha/`, `createCaptchaStage`.
pub async fn create_captcha_stage(
    db: &Db,
    principal: &Principal,
    input: Submitted<CaptchaStageInput>,
) -> Result<CaptchaStage, ServiceError> {
    principal.require(Permission::AddCaptchaStage)?;
    let input = input?;
    with_race_retries(|check_database| try_create(db, &input, check_database)).await
}

async fn try_create(
    db: &Db,
    input: &CaptchaStageInput,
    check_database: bool,
) -> Result<CaptchaStage, WriteError> {
    let check = StageCheck::new(input, WriteMode::Create);
    let check = ensure_valid(check, &db.reader, check_database, None, &HashSet::new()).await?;
    let changes = check.changes();
    let record = StageRecord::new(changes);
    let txn = db.begin_write().await?;
    store::insert(&txn, &record).await?;
    let flow_set = changes.flow_set.as_deref().unwrap_or_default();
    let mut bindings = flows::bind_new_flows(&txn, record.id(), flow_set).await?;
    txn.commit().await?;
    bindings.sort_by(|a, b| (&a.flow.slug, a.order).cmp(&(&b.flow.slug, b.order)));
    Ok(record.shown_with(bindings))
}

/// `PUT` (replace) and `PATCH` (update) of one stage; `updateCaptchaStage`,
/// `replaceCaptchaStage`.
pub async fn update_captcha_stage(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
    input: Submitted<CaptchaStageInput>,
    mode: WriteMode,
) -> Result<CaptchaStage, ServiceError> {
    principal.require(Permission::ChangeCaptchaStage)?;
    let id = id?;
    with_race_retries(|check_database| try_update(db, id, &input, mode, check_database)).await
}

async fn try_update(
    db: &Db,
    id: Uuid,
    input: &Submitted<CaptchaStageInput>,
    mode: WriteMode,
    check_database: bool,
) -> Result<CaptchaStage, WriteError> {
    let txn = db.begin_write().await?;
    let before = store::load_record_for_update(&txn, id)
        .await?
        .ok_or(ServiceError::NotFound(NO_CAPTCHA_STAGE))?;
    // The stage must exist before the body is looked at: authentik answers 404 before 400.
    let input = input.as_ref().map_err(Clone::clone)?;
    let current = flows::bindings_of_stage_for_update(&txn, id).await?;
    let own_slugs: HashSet<String> = current.iter().map(|b| b.flow.slug.clone()).collect();
    let check = StageCheck::new(input, mode);
    let check = ensure_valid(check, &txn, check_database, Some(id), &own_slugs).await?;
    let changes = check.changes();
    let mut after = before.clone();
    after.apply(changes);
    store::update(&txn, &before, &after).await?;
    let bindings = match &changes.flow_set {
        Some(wanted) => flows::sync_flow_set(&txn, id, current, wanted).await?,
        None => current,
    };
    txn.commit().await?;
    Ok(after.shown_with(bindings))
}

/// `DELETE`, `deleteCaptchaStage`: the stage, its captcha row and its bindings; never flows.
pub async fn delete_captcha_stage(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Uuid, ServiceError> {
    principal.require(Permission::DeleteCaptchaStage)?;
    let id = id?;
    if store::delete(&db.writer, id).await? {
        Ok(id)
    } else {
        Err(ServiceError::NotFound(NO_CAPTCHA_STAGE))
    }
}

/// `GET …/{id}/`, `captchaStage(id)`: `None` when there is no such stage.
pub async fn find_captcha_stage(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Option<CaptchaStage>, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    let id = id?;
    Ok(load_with_bindings(db, &[id]).await?.pop())
}

/// `GET …/{id}/used_by/`, `CaptchaStage.usedBy`.
pub async fn captcha_stage_used_by(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Vec<UsedBy>, ServiceError> {
    find_captcha_stage(db, principal, id)
        .await?
        .map(|stage| stage.used_by())
        .ok_or(ServiceError::NotFound(NO_CAPTCHA_STAGE))
}

/// `GET /api/v3/stages/captcha/`, `captchaStages`: one page with the flows of its stages, in
/// three queries whatever the page size (count, page, bindings).
pub async fn list_captcha_stages(
    db: &Db,
    principal: &Principal,
    filter: &StageFilter,
    request: &PageRequest,
) -> Result<Page<CaptchaStage>, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    let query = store::StageQuery::new(filter)?;
    let count = store::count(&db.reader, &query).await?;
    let window = request.resolve(count)?;
    let records = store::page(&db.reader, &query, window.offset, window.limit).await?;
    Ok(window.page(with_bindings(db, records).await?))
}

/// The stages bound into each of `flow_ids` (GraphQL's `Flow.stages`), in three queries.
pub async fn captcha_stages_of_flows(
    db: &Db,
    principal: &Principal,
    flow_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<CaptchaStage>>, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    let stage_ids_by_flow = flows::stage_ids_of_flows(&db.reader, flow_ids).await?;
    let mut all_ids: Vec<Uuid> = stage_ids_by_flow.values().flatten().copied().collect();
    all_ids.sort();
    all_ids.dedup();
    let stages: HashMap<Uuid, CaptchaStage> = load_with_bindings(db, &all_ids)
        .await?
        .into_iter()
        .map(|stage| (stage.id, stage))
        .collect();
    Ok(stage_ids_by_flow
        .into_iter()
        .map(|(flow, ids)| {
            let bound = ids
                .iter()
                .filter_map(|id| stages.get(id).cloned())
                .collect();
            (flow, bound)
        })
        .collect())
}

/// `flow(slug)`: reading flows needs the permission to view captcha stages, whose data they are.
pub async fn find_flow(
    db: &Db,
    principal: &Principal,
    slug: &str,
) -> Result<Option<Flow>, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    Ok(flows::flow_by_slug(&db.reader, slug).await?)
}

/// `flows(search, page, pageSize)`.
pub async fn list_flows(
    db: &Db,
    principal: &Principal,
    search: Option<&str>,
    request: &PageRequest,
) -> Result<Page<Flow>, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    flows::list_flows(&db.reader, search, request).await
}

async fn load_with_bindings(db: &Db, ids: &[Uuid]) -> Result<Vec<CaptchaStage>, ServiceError> {
    let records = store::load_many(&db.reader, ids).await?;
    with_bindings(db, records).await
}

/// Adds each stage's bindings, loaded for all of them in one query.
async fn with_bindings(
    db: &Db,
    mut stages: Vec<CaptchaStage>,
) -> Result<Vec<CaptchaStage>, ServiceError> {
    let ids: Vec<Uuid> = stages.iter().map(|stage| stage.id).collect();
    let mut bindings = flows::bindings_of_stages(&db.reader, &ids).await?;
    for stage in &mut stages {
        stage.bindings = bindings.remove(&stage.id).unwrap_or_default();
    }
    Ok(stages)
}
