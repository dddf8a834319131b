//! Captcha stages: the declaration of a captcha stage (and of `Stage`, authentik's base stage
//! serializer, as a binding's `stage_obj` shows it) and the use cases shared by the REST and
//! GraphQL front ends. Each checks the permission first, then the submitted input, then runs
//! one transaction; uniqueness is decided by the database's constraints.

mod store;

pub(crate) use store::with_columns as select_stage_columns;

use std::collections::{HashMap, HashSet};

use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::{Permission, Principal};
use crate::db::Db;
use crate::error::{ErrorTree, FieldErrors, NO_CAPTCHA_STAGE, ServiceError};
use crate::flows::store::{self as flow_store, Binding};
use crate::flows::{
    Flow, FlowSet, FlowSetChanges, FlowSetCreateInput, FlowSetInput, FlowSetRequestSchema,
    SLUG_TAKEN,
};
use crate::limits::{MAX_FLOW_SET_ITEMS, MAX_NAME_CHARS, MAX_TEXT_CHARS};
use crate::object::{Columns, Field, WriteMode, api_object, rules};
use crate::pagination::{Page, PageRequest};
use crate::used_by::{UsedBy, UsedByAction};

pub use store::{StageFilter, list_query};

/// What a front end could read of a request. Its errors (a body that is not JSON, an id that is
/// not a UUID) are reported only after the permission check, as authentik does.
pub type Submitted<T> = Result<T, ServiceError>;

/// What authentik calls this kind of stage.
pub const COMPONENT: &str = "ak-stage-captcha-form";
pub const VERBOSE_NAME: &str = "Captcha Stage";
pub const VERBOSE_NAME_PLURAL: &str = "Captcha Stages";
pub const META_MODEL_NAME: &str = "authentik_stages_captcha.captchastage";
pub const NAME_TAKEN: &str = "stage with this name already exists.";
pub const DEFAULT_JS_URL: &str = "https://www.recaptcha.net/recaptcha/api.js";
pub const DEFAULT_API_URL: &str = "https://www.recaptcha.net/recaptcha/api/siteverify";

/// A write that lost a uniqueness race is tried again this many times, checking the database
/// first, before it gives up with a 503.
const WRITE_ATTEMPTS: usize = 3;

/// A captcha stage, as REST (`CaptchaStage`) and GraphQL (`CaptchaStage`, a `Stage`) show it.
/// The private key is write-only: it is in the inputs, never in this type.
#[api_object(
    schema = "CaptchaStage",
    description = "CaptchaStage Serializer",
    graphql = "CaptchaStage",
    complex,
    stored,
    input(
        rest = "CaptchaStageRequest",
        patched = "PatchedCaptchaStageRequest",
        create = "CreateCaptchaStageInput",
        update = "UpdateCaptchaStageInput"
    ),
    view(
        name = StageObj,
        schema = "Stage",
        description = "Stage Serializer",
        fields(
            pk,
            name,
            component,
            verbose_name,
            verbose_name_plural,
            meta_model_name,
            flow_set
        )
    )
)]
pub struct CaptchaStage {
    /// The stage UUID (REST's `pk`).
    #[field(read_only, graphql = "id", column = "stage_uuid")]
    pub pk: Uuid,
    #[field(required, max_length = MAX_NAME_CHARS)]
    pub name: String,
    /// Get object type so that we know how to edit the object
    #[field(read_only, constant = COMPONENT)]
    pub component: &'static str,
    /// Return object's verbose_name
    #[field(read_only, constant = VERBOSE_NAME)]
    pub verbose_name: &'static str,
    /// Return object's plural verbose_name
    #[field(read_only, constant = VERBOSE_NAME_PLURAL)]
    pub verbose_name_plural: &'static str,
    /// Return internal model name
    #[field(read_only, constant = META_MODEL_NAME)]
    pub meta_model_name: &'static str,
    /// The flows this stage is bound into, one entry per binding (by flow slug, then order).
    #[field(
        nested = FlowSet,
        max_items = MAX_FLOW_SET_ITEMS,
        graphql_list,
        serde(serialize_with = "crate::flows::serialize_flow_set"),
        schema(value_type = Vec<FlowSet>)
    )]
    pub flow_set: Vec<Flow>,
    /// Public key, acquired your captcha Provider.
    #[field(required, max_length = MAX_TEXT_CHARS)]
    pub public_key: String,
    /// Private key, acquired your captcha Provider.
    #[field(write_only, required, secret, max_length = MAX_TEXT_CHARS)]
    pub private_key: SecretString,
    #[field(default = DEFAULT_JS_URL, max_length = MAX_TEXT_CHARS)]
    pub js_url: String,
    #[field(default = DEFAULT_API_URL, max_length = MAX_TEXT_CHARS)]
    pub api_url: String,
    #[field(default = false)]
    pub interactive: bool,
    #[field(default = 0.5)]
    pub score_min_threshold: f64,
    #[field(default = 1.0)]
    pub score_max_threshold: f64,
    /// When enabled and the received captcha score is outside of the given threshold, the stage will show an error message. When not enabled, the flow will continue, but the data from the captcha will be available in the context for policy decisions
    #[field(default = true)]
    pub error_on_invalid_score: bool,
}

/// `POST /api/v3/stages/captcha/`, `createCaptchaStage`.
pub async fn create_captcha_stage(
    db: &Db,
    principal: &Principal,
    input: Submitted<CaptchaStageInput>,
) -> Result<CaptchaStage, ServiceError> {
    principal.require(Permission::AddCaptchaStage)?;
    let input = input?;
    with_conflict_checks(|check_database| try_create(db, &input, check_database)).await
}

async fn try_create(
    db: &Db,
    input: &CaptchaStageInput,
    check_database: bool,
) -> Result<CaptchaStage, ServiceError> {
    let changes = checked(
        input,
        WriteMode::Create,
        &db.reader,
        check_database,
        None,
        &HashSet::new(),
    )
    .await?
    .with_defaults();
    let id = Uuid::new_v4();
    let txn = db.begin_write().await?;
    store::insert(&txn, id, &changes).await?;
    let flow_set = changes.flow_set.as_deref().unwrap_or_default();
    let mut bindings = flow_store::bind_new_flows(&txn, id, flow_set).await?;
    bindings.sort_by(|a, b| a.flow.slug.cmp(&b.flow.slug));
    txn.commit().await?;
    let mut stage = CaptchaStage {
        pk: id,
        ..Default::default()
    };
    changes.apply_to(&mut stage);
    Ok(stage.with_bindings(bindings))
}

/// `PUT` (replace) and `PATCH` (update) of one stage; `replaceCaptchaStage`,
/// `updateCaptchaStage`.
pub async fn update_captcha_stage(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
    input: Submitted<CaptchaStageInput>,
    mode: WriteMode,
) -> Result<CaptchaStage, ServiceError> {
    principal.require(Permission::ChangeCaptchaStage)?;
    let id = id?;
    with_conflict_checks(|check_database| try_update(db, id, &input, mode, check_database)).await
}

async fn try_update(
    db: &Db,
    id: Uuid,
    input: &Submitted<CaptchaStageInput>,
    mode: WriteMode,
    check_database: bool,
) -> Result<CaptchaStage, ServiceError> {
    let txn = db.begin_write().await?;
    let mut stage = store::load_for_update(&txn, id)
        .await?
        .ok_or(ServiceError::NotFound(NO_CAPTCHA_STAGE))?;
    // The stage must exist before the body is looked at: authentik answers 404 before 400.
    let input = input.as_ref().map_err(Clone::clone)?;
    let current = flow_store::bindings_of_stage_for_update(&txn, id).await?;
    let own_slugs: HashSet<String> = current.iter().map(|b| b.flow.slug.clone()).collect();
    let changes = checked(input, mode, &txn, check_database, Some(id), &own_slugs).await?;
    store::update(&txn, id, &changes).await?;
    let bindings = match &changes.flow_set {
        Some(wanted) => flow_store::sync_flow_set(&txn, id, current, wanted).await?,
        None => current,
    };
    txn.commit().await?;
    changes.apply_to(&mut stage);
    Ok(stage.with_bindings(bindings))
}

/// `DELETE`, `deleteCaptchaStage`: the stage, its captcha row and its bindings; never flows.
pub async fn delete_captcha_stage(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Uuid, ServiceError> {
    principal.require(Permission::DeleteCaptchaStage)?;
    let id = id?;
    let deleted =
        crate::db::with_write_retries(|| async { Ok(store::delete(&db.writer, id).await?) })
            .await?;
    if deleted {
        Ok(id)
    } else {
        Err(ServiceError::NotFound(NO_CAPTCHA_STAGE))
    }
}

/// `GET …/{id}/`, `captchaStage(id)`: `None` when there is none.
pub async fn find_captcha_stage(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Option<CaptchaStage>, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    let id = id?;
    Ok(load_by_ids(db, &[id], Columns::All).await?.remove(&id))
}

/// `GET …/{id}/used_by/`, `CaptchaStage.usedBy`: for each binding, its flow (many-to-many
/// cascade) and the binding itself (cascade).
pub async fn captcha_stage_used_by(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Vec<UsedBy>, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    let id = id?;
    let bindings = flow_store::bindings_of_stages(&db.reader, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    if bindings.is_empty() && load_by_ids(db, &[id], Columns::All).await?.is_empty() {
        return Err(ServiceError::NotFound(NO_CAPTCHA_STAGE));
    }
    Ok(used_by(&bindings))
}

fn used_by(bindings: &[Binding]) -> Vec<UsedBy> {
    bindings
        .iter()
        .flat_map(|binding| {
            let flow = &binding.flow;
            [
                UsedBy {
                    app: "authentik_flows",
                    model_name: "flow",
                    pk: flow.pk.to_string(),
                    name: format!("Flow {} ({})", flow.name, flow.slug),
                    action: UsedByAction::CascadeMany,
                },
                UsedBy {
                    app: "authentik_flows",
                    model_name: "flowstagebinding",
                    pk: binding.id.to_string(),
                    name: format!("Flow-stage binding #{} to {}", binding.order, flow.pk),
                    action: UsedByAction::Cascade,
                },
            ]
        })
        .collect()
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
    let mut page = store::page(&db.reader, filter, request).await?;
    add_bindings(db, &mut page.results).await?;
    Ok(page)
}

/// Stages by id, with their flows (a binding's `stage_obj`, GraphQL's `Flow.stages`), in two
/// queries; only the permission to view what refers to them is needed.
pub async fn load_by_ids(
    db: &Db,
    ids: &[Uuid],
    columns: Columns<'_>,
) -> Result<HashMap<Uuid, CaptchaStage>, ServiceError> {
    let mut stages = store::load_many(&db.reader, ids, columns).await?;
    add_bindings(db, &mut stages).await?;
    Ok(stages.into_iter().map(|stage| (stage.pk, stage)).collect())
}

/// Stages by id as a binding's `stage_obj` shows them (the name and the flows), in two queries:
/// no other column of the stage is read.
pub async fn stage_objs_by_ids(
    db: &Db,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, StageObj>, ServiceError> {
    let names = store::names(&db.reader, ids).await?;
    let found: Vec<Uuid> = names.iter().map(|(id, _)| *id).collect();
    let mut bindings = flow_store::bindings_of_stages(&db.reader, &found).await?;
    Ok(names
        .into_iter()
        .map(|(pk, name)| {
            let flows = bindings.remove(&pk).unwrap_or_default();
            // The view of a stage holding only what it shows: its constants come from the
            // declaration (`Default`), its fields from the declared view (`From`).
            let stage_obj = StageObj::from(CaptchaStage {
                pk,
                name,
                flow_set: flows.into_iter().map(|binding| binding.flow).collect(),
                ..CaptchaStage::default()
            });
            (pk, stage_obj)
        })
        .collect())
}

/// Stages by id with an empty `flow_set`, in one query, for a reader that shows no stage's
/// flows (GraphQL, when the document selects no `flowSet`).
pub async fn load_by_ids_without_flows(
    db: &Db,
    ids: &[Uuid],
    columns: Columns<'_>,
) -> Result<HashMap<Uuid, CaptchaStage>, ServiceError> {
    let stages = store::load_many(&db.reader, ids, columns).await?;
    Ok(stages.into_iter().map(|stage| (stage.pk, stage)).collect())
}

/// The stages of GraphQL's `Flow.stages`, by id: the caller needs the permission to view them.
pub async fn captcha_stages_by_ids(
    db: &Db,
    principal: &Principal,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, CaptchaStage>, ServiceError> {
    principal.require(Permission::ViewCaptchaStage)?;
    load_by_ids(db, ids, Columns::All).await
}

/// The private key and the siteverify settings of a stage, for the one use that needs the key:
/// checking a token with the provider (which needs no flows).
pub async fn verifier_settings(
    db: &Db,
    id: Uuid,
) -> Result<Option<(CaptchaStage, SecretString)>, ServiceError> {
    let Some(key) = private_key(db, id).await? else {
        return Ok(None);
    };
    Ok(load_by_ids_without_flows(db, &[id], Columns::All)
        .await?
        .remove(&id)
        .map(|stage| (stage, key)))
}

/// A stage's private key alone, for a caller that holds the stage's settings already (the flow
/// executor); `None` when the stage is gone.
pub async fn private_key(db: &Db, id: Uuid) -> Result<Option<SecretString>, ServiceError> {
    Ok(store::private_key(&db.reader, id).await?)
}

impl CaptchaStage {
    fn with_bindings(mut self, bindings: Vec<Binding>) -> Self {
        self.flow_set = bindings.into_iter().map(|binding| binding.flow).collect();
        self
    }
}

/// Adds each stage's flows, loaded for all of them in one query.
async fn add_bindings(db: &Db, stages: &mut [CaptchaStage]) -> Result<(), ServiceError> {
    let ids: Vec<Uuid> = stages.iter().map(|stage| stage.pk).collect();
    let mut bindings = flow_store::bindings_of_stages(&db.reader, &ids).await?;
    for stage in stages {
        let mine = bindings.remove(&stage.pk).unwrap_or_default();
        stage.flow_set = mine.into_iter().map(|binding| binding.flow).collect();
    }
    Ok(())
}

/// Runs `attempt` until it does not lose a uniqueness race. The first attempt leaves
/// uniqueness to the constraints (one query less on the hot path); after a lost race each
/// attempt checks the database first, so that the loser gets the field errors.
async fn with_conflict_checks<T, F, Fut>(mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let mut check_database = false;
    for _ in 0..WRITE_ATTEMPTS {
        match attempt(check_database).await {
            Err(ServiceError::UniqueViolation) => {
                crate::telemetry::write_retried("unique");
                check_database = true;
            }
            Err(ServiceError::WriteConflict) => crate::telemetry::write_retried("conflict"),
            other => return other,
        }
    }
    tracing::warn!(
        attempts = WRITE_ATTEMPTS,
        "write kept losing races to other writers"
    );
    Err(ServiceError::Unavailable)
}

/// The checked changes of a write, or every error: the rules, slugs repeated among the
/// `flow_set` items, and (when asked, or when something already failed, so that every error is
/// reported at once) the name and slugs taken in the database. `own_stage` and `own_slugs` are
/// the stage being written and the flows it is bound into: they do not count as taken.
async fn checked(
    input: &CaptchaStageInput,
    mode: WriteMode,
    conn: &impl crate::db::Connection,
    check_database: bool,
    own_stage: Option<Uuid>,
    own_slugs: &HashSet<String>,
) -> Result<CaptchaStageChanges, ServiceError> {
    let result = input.check(mode);
    let mut errors = result.as_ref().err().cloned().unwrap_or_default();
    let slugs = item_slugs(input);
    let mut seen = HashSet::new();
    let repeated: Vec<bool> = slugs
        .iter()
        .map(|slug| slug.as_ref().is_some_and(|s| !seen.insert(s.clone())))
        .collect();
    mark_items(&mut errors, &repeated);
    if !errors.is_empty() || check_database {
        if let Ok(Some(name)) = rules::text(&input.name, false, MAX_NAME_CHARS)
            && store::name_taken(conn, &name, own_stage).await?
        {
            rules::add_message(&mut errors, CaptchaStageInput::FIELDS, "name", NAME_TAKEN);
        }
        let candidates: Vec<String> = slugs
            .iter()
            .flatten()
            .filter(|slug| !own_slugs.contains(*slug))
            .cloned()
            .collect();
        let taken = flow_store::taken_slugs(conn, &candidates).await?;
        let taken: Vec<bool> = slugs
            .iter()
            .map(|slug| slug.as_ref().is_some_and(|s| taken.contains(s)))
            .collect();
        mark_items(&mut errors, &taken);
    }
    match result {
        Ok(changes) if errors.is_empty() => Ok(changes),
        _ => Err(ServiceError::Validation(errors)),
    }
}

/// The slug of each `flow_set` item whose slug passes its own rules (uniqueness is checked for
/// it even when the item fails otherwise); none when `flow_set` is not a list of items.
fn item_slugs(input: &CaptchaStageInput) -> Vec<Option<String>> {
    match &input.flow_set {
        Field::Given(items) if items.len() <= MAX_FLOW_SET_ITEMS => items
            .iter()
            .map(|item| match item {
                Field::Given(flow) => rules::slug(&flow.slug, true).ok().flatten(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Adds `Flow with this slug already exists.` to the slot of each marked `flow_set` item, in
/// the list of item errors aligned with the input (`{}` for a valid item).
fn mark_items(errors: &mut FieldErrors, marked: &[bool]) {
    if !marked.contains(&true) {
        return;
    }
    let slots = errors.entry("flow_set".to_string()).or_insert_with(|| {
        ErrorTree::Items(vec![ErrorTree::Fields(FieldErrors::new()); marked.len()])
    });
    let ErrorTree::Items(slots) = slots else {
        return;
    };
    for (slot, _) in slots.iter_mut().zip(marked).filter(|(_, marked)| **marked) {
        if let ErrorTree::Fields(fields) = slot {
            rules::add_message(fields, FlowSetInput::FIELDS, "slug", SLUG_TAKEN);
        }
    }
    rules::sort_fields(errors, CaptchaStageInput::FIELDS);
}
