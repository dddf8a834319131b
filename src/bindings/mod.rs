//! Flow–stage bindings as a resource of their own (`/api/v3/flows/bindings/`, GraphQL
//! `flowStageBinding`, `createFlowStageBinding`, …). A stage's `flow_set` and this resource are
//! two views of the same rows. Uses `flows` and `stages`; knows nothing of either front end.

mod store;

pub use store::list_query;

use uuid::Uuid;

use crate::auth::{Permission, Principal};
use crate::choice_enum;
use crate::db::{self, Db};
use crate::error::{ErrorTree, ServiceError, non_field_errors};
use crate::flows::PolicyEngineMode;
use crate::object::{Columns, WriteMode, api_object, rules};
use crate::pagination::{Page, PageRequest};
use crate::stages::{self, StageObj, Submitted};
use crate::used_by::UsedBy;

pub const NO_BINDING: &str = "No FlowStageBinding matches the given query.";
const NOT_UNIQUE: &str = "The fields target, stage, order must make a unique set.";

choice_enum!(
    /// What the flow executor does with an invalid response to a challenge.
    InvalidResponseAction, graphql "InvalidResponseAction", schema "InvalidResponseActionEnum" {
        Retry => "retry",
        Restart => "restart",
        RestartWithContext => "restart_with_context",
    }
);

/// A stage bound into a flow at an order.
#[api_object(
    schema = "FlowStageBinding",
    description = "FlowStageBinding Serializer",
    graphql = "FlowStageBinding",
    complex,
    stored,
    input(
        rest = "FlowStageBindingRequest",
        patched = "PatchedFlowStageBindingRequest",
        create = "CreateFlowStageBindingInput",
        update = "UpdateFlowStageBindingInput"
    )
)]
pub struct FlowStageBinding {
    /// The binding UUID (REST's `pk`).
    #[field(read_only, graphql = "id", column = "fsb_uuid")]
    pub pk: Uuid,
    /// In authentik the id of the binding's policy-binding parent.
    #[field(read_only)]
    pub policybindingmodel_ptr_id: Uuid,
    /// The flow (GraphQL: `target`, the object).
    #[field(required, reference, graphql_skip)]
    pub target: Uuid,
    /// The stage (GraphQL: `stage`, the object).
    #[field(required, reference, graphql_skip)]
    pub stage: Uuid,
    /// The bound stage as authentik's `Stage` serializer shows it.
    #[field(read_only, computed, graphql_skip, schema(schema_with = stage_obj_schema))]
    pub stage_obj: StageObj,
    /// Evaluate policies during the Flow planning process.
    #[field(default = false)]
    pub evaluate_on_plan: bool,
    /// Evaluate policies when the Stage is presented to the user.
    #[field(default = true)]
    pub re_evaluate_policies: bool,
    #[field(required, int32)]
    pub order: i32,
    #[field(choice, default = PolicyEngineMode::Any)]
    pub policy_engine_mode: PolicyEngineMode,
    /// Configure how the flow executor should handle an invalid response to a challenge. RETRY returns the error message and a similar challenge to the executor. RESTART restarts the flow from the beginning, and RESTART_WITH_CONTEXT restarts the flow while keeping the current context.
    #[field(choice, default = InvalidResponseAction::Retry)]
    pub invalid_response_action: InvalidResponseAction,
}

/// `stage_obj` as authentik documents it: a read-only `Stage`.
fn stage_obj_schema() -> utoipa::openapi::Schema {
    crate::object::read_only_ref("Stage")
}

/// The filters of the binding list (each as the query string gives it; empty means none).
#[derive(Clone, Debug, Default)]
pub struct BindingFilter {
    pub target: Option<String>,
    pub stage: Option<String>,
    pub order: Option<String>,
    pub evaluate_on_plan: Option<String>,
    pub re_evaluate_policies: Option<String>,
    pub policy_engine_mode: Option<String>,
    pub invalid_response_action: Option<String>,
    pub fsb_uuid: Option<String>,
    pub pbm_uuid: Option<String>,
    /// authentik filters bindings by their policies; no binding has one here, so any policy
    /// named is not one of the choices.
    pub policies: Option<String>,
    pub search: Option<String>,
    pub ordering: Option<String>,
}

fn not_unique() -> ServiceError {
    ServiceError::Validation(non_field_errors(NOT_UNIQUE))
}

/// DRF's answer for a primary key that names nothing.
fn missing(id: Uuid) -> ErrorTree {
    ErrorTree::message(format!("Invalid pk \"{id}\" - object does not exist."))
}

/// The checked changes of a write, or every error at once: the rules, and (in the write's
/// transaction) a target or stage that names nothing, each reported as soon as its own rule
/// passed, beside the other fields' errors, as DRF reports them.
async fn checked(
    conn: &impl crate::db::Connection,
    input: &FlowStageBindingInput,
    mode: WriteMode,
) -> Result<FlowStageBindingChanges, ServiceError> {
    let result = input.check(mode);
    let mut errors = result.as_ref().err().cloned().unwrap_or_default();
    let target = rules::reference(&input.target, false).ok().flatten();
    let stage = rules::reference(&input.stage, false).ok().flatten();
    if let Some(target) = target
        && !store::flow_exists(conn, target).await?
    {
        errors.insert("target".to_string(), missing(target));
    }
    if let Some(stage) = stage
        && !store::stage_exists(conn, stage).await?
    {
        errors.insert("stage".to_string(), missing(stage));
    }
    match result {
        Ok(changes) if errors.is_empty() => Ok(changes),
        _ => {
            rules::sort_fields(&mut errors, FlowStageBindingInput::FIELDS);
            Err(ServiceError::Validation(errors))
        }
    }
}

/// A write's database error as the client should see it: a taken (target, stage, order) is the
/// unique-set error; a target or stage deleted between the check and the write is a race to run
/// again (the next attempt's check reports it).
fn write_error(err: ServiceError) -> ServiceError {
    match err {
        ServiceError::ForeignKeyViolation => ServiceError::WriteConflict,
        other => other.unique_violation_as(not_unique),
    }
}

/// `POST /api/v3/flows/bindings/`, `createFlowStageBinding`.
pub async fn create_binding(
    db: &Db,
    principal: &Principal,
    input: Submitted<FlowStageBindingInput>,
) -> Result<FlowStageBinding, ServiceError> {
    principal.require(Permission::AddFlowStageBinding)?;
    let input = input?;
    let mut binding = db::with_write_retries(|| async {
        let txn = db.begin_write().await?;
        let changes = checked(&txn, &input, WriteMode::Create)
            .await?
            .with_defaults();
        let (id, pbm) = store::insert(&txn, &changes).await.map_err(write_error)?;
        txn.commit().await.map_err(|err| write_error(err.into()))?;
        // What was written, as it was written: a flow deleted right after the commit may have
        // taken the binding with it, and the client is still told what it created.
        let mut binding = FlowStageBinding {
            pk: id,
            policybindingmodel_ptr_id: pbm,
            ..Default::default()
        };
        changes.apply_to(&mut binding);
        Ok(binding)
    })
    .await?;
    with_stages(db, std::slice::from_mut(&mut binding)).await?;
    Ok(binding)
}

/// `PUT` and `PATCH` of one binding; `updateFlowStageBinding`.
pub async fn update_binding(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
    input: Submitted<FlowStageBindingInput>,
    mode: WriteMode,
) -> Result<FlowStageBinding, ServiceError> {
    principal.require(Permission::ChangeFlowStageBinding)?;
    let id = id?;
    let mut binding = db::with_write_retries(|| async {
        let txn = db.begin_write().await?;
        let mut binding = store::load_for_update(&txn, id)
            .await?
            .ok_or(ServiceError::NotFound(NO_BINDING))?;
        let input = input.as_ref().map_err(Clone::clone)?;
        let changes = checked(&txn, input, mode).await?;
        store::update(&txn, id, &changes)
            .await
            .map_err(write_error)?;
        txn.commit().await.map_err(|err| write_error(err.into()))?;
        changes.apply_to(&mut binding);
        Ok(binding)
    })
    .await?;
    with_stages(db, std::slice::from_mut(&mut binding)).await?;
    Ok(binding)
}

/// `DELETE`, `deleteFlowStageBinding`: the binding alone (its flow and stage stay).
pub async fn delete_binding(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Uuid, ServiceError> {
    principal.require(Permission::DeleteFlowStageBinding)?;
    let id = id?;
    let deleted =
        db::with_write_retries(|| async { Ok(store::delete(&db.writer, id).await?) }).await?;
    if deleted {
        Ok(id)
    } else {
        Err(ServiceError::NotFound(NO_BINDING))
    }
}

/// `GET …/bindings/{fsb_uuid}/`, `flowStageBinding(id)`: `None` when there is none.
pub async fn find_binding(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Option<FlowStageBinding>, ServiceError> {
    principal.require(Permission::ViewFlowStageBinding)?;
    let id = id?;
    let mut found = store::by_ids(&db.reader, &[id]).await?;
    with_stages(db, &mut found).await?;
    Ok(found.pop())
}

/// `GET …/bindings/{fsb_uuid}/used_by/`: nothing here refers to a binding (it has no
/// policies), so `[]` once the binding exists.
pub async fn binding_used_by(
    db: &Db,
    principal: &Principal,
    id: Submitted<Uuid>,
) -> Result<Vec<UsedBy>, ServiceError> {
    find_binding(db, principal, id)
        .await?
        .map(|_| Vec::new())
        .ok_or(ServiceError::NotFound(NO_BINDING))
}

/// `GET /api/v3/flows/bindings/`, `flowStageBindings(...)`: one page with each binding's
/// stage, in a constant number of queries.
pub async fn list_bindings(
    db: &Db,
    principal: &Principal,
    filter: &BindingFilter,
    request: &PageRequest,
) -> Result<Page<FlowStageBinding>, ServiceError> {
    principal.require(Permission::ViewFlowStageBinding)?;
    let mut page = store::page(&db.reader, filter, request).await?;
    with_stages(db, &mut page.results).await?;
    Ok(page)
}

/// The bindings of `flow_ids`, by order, without their `stage_obj` (GraphQL's
/// `Flow.stageBindings`, batched; it follows `stage` itself). The caller checks the permission.
pub async fn load_of_flows(
    db: &Db,
    flow_ids: &[Uuid],
    columns: Columns<'_>,
) -> Result<Vec<FlowStageBinding>, ServiceError> {
    store::of_flows(&db.reader, flow_ids, columns).await
}

/// The bindings of `flow_ids` with their captcha stages, in one statement (GraphQL's
/// `stageBindings { stage }` and `stages`, when no stage shows its flows).
pub async fn load_of_flows_with_stages(
    db: &Db,
    flow_ids: &[Uuid],
    binding_columns: &[&'static str],
    stage_columns: &[&'static str],
) -> Result<Vec<(FlowStageBinding, stages::CaptchaStage)>, ServiceError> {
    store::of_flows_with_stages(&db.reader, flow_ids, binding_columns, stage_columns).await
}

/// A binding by id, without its `stage_obj`: the flow executor's plans name bindings, and its
/// callers are anonymous (the flow page), so no permission is involved.
pub async fn load(db: &Db, id: Uuid) -> Result<Option<FlowStageBinding>, ServiceError> {
    Ok(store::by_ids(&db.reader, &[id]).await?.pop())
}

/// Fills each binding's `stage_obj` with its concrete stage, loaded for all at once.
async fn with_stages(db: &Db, bindings: &mut [FlowStageBinding]) -> Result<(), ServiceError> {
    let mut ids: Vec<Uuid> = bindings.iter().map(|b| b.stage).collect();
    ids.sort();
    ids.dedup();
    let stages = stages::stage_objs_by_ids(db, &ids).await?;
    for binding in bindings {
        if let Some(stage) = stages.get(&binding.stage) {
            binding.stage_obj = stage.clone();
        }
    }
    Ok(())
}
