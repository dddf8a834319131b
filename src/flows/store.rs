//! Reading and writing flows, and the bindings a stage's `flow_set` makes. Rows are read by
//! column name (`Flow` is `FromQueryResult` by declaration); writes set the columns a checked
//! change names (`FlowChanges::columns`). Writes take the caller's transaction.

use crate::db::Connection;
use std::collections::{HashMap, HashSet};

use entity::{flow, flow_stage_binding, stage};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    RelationTrait, Select,
};
use uuid::Uuid;

use super::{
    Authentication, Flow, FlowChanges, FlowFilter, FlowKey, FlowSetChanges, background_url,
};
use crate::db::{KeyedRead, keyed_statement, set_columns, update_columns};
use crate::error::ServiceError;
use crate::object::{Choice, Columns, StoredObject, StoredValue};
use crate::pagination::{Filters, ListQuery, Page, PageRequest, exact_filter, nothing, ordering};

/// Bindings made through `flow_set` take authentik's defaults.
const FLOW_SET_BINDING_ORDER: i32 = 0;

/// A stage's binding into a flow, with the flow (a stage's `flow_set` entry).
#[derive(Clone, Debug)]
pub struct Binding {
    pub id: Uuid,
    pub order: i32,
    pub flow: Flow,
}

fn column(column: flow::Column) -> SimpleExpr {
    Expr::col((flow::Entity, column))
}

/// The flow a key names. A slug with a NUL character names none (no stored slug has one, and
/// PostgreSQL refuses it as a parameter).
fn key_condition(key: &FlowKey) -> sea_orm::Condition {
    match key {
        FlowKey::Slug(slug) => {
            exact_filter(column(flow::Column::Slug), Some(slug)).unwrap_or_else(nothing)
        }
        FlowKey::Id(id) => sea_orm::Condition::all().add(flow::Column::FlowUuid.eq(*id)),
    }
}

async fn read_flows(
    conn: &impl Connection,
    select: Select<flow::Entity>,
) -> Result<Vec<Flow>, DbErr> {
    let mut flows: Vec<Flow> = select.into_model().all(conn).await?;
    flows.iter_mut().for_each(Flow::derive_fields);
    Ok(flows)
}

/// Stores a new flow with the checked (defaulted) `changes`; a taken slug fails with the
/// database's unique violation.
pub async fn insert_flow(
    conn: &impl Connection,
    changes: &FlowChanges,
) -> Result<Flow, ServiceError> {
    let id = Uuid::new_v4();
    let mut row = flow::ActiveModel {
        flow_uuid: sea_orm::Set(id),
        policybindingmodel_ptr_id: sea_orm::Set(Uuid::new_v4()),
        background: sea_orm::Set(None),
        ..Default::default()
    };
    set_columns(&mut row, changes.columns())?;
    flow::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    let mut flows = read_flows(conn, flow::Entity::find_by_id(id)).await?;
    flows
        .pop()
        .ok_or_else(|| ServiceError::internal("flow insert", "row not found after insert"))
}

/// The flow named by `key`, locked until the transaction ends.
pub async fn flow_for_update(conn: &impl Connection, key: &FlowKey) -> Result<Option<Flow>, DbErr> {
    Ok(read_flows(
        conn,
        flow::Entity::find()
            .filter(key_condition(key))
            .lock_exclusive(),
    )
    .await?
    .pop())
}

pub async fn update_flow(
    conn: &impl Connection,
    id: Uuid,
    changes: &FlowChanges,
) -> Result<(), ServiceError> {
    let columns = changes.columns();
    if columns.is_empty() {
        return Ok(());
    }
    update_columns::<flow::Entity>(flow::Entity::update_many(), columns)?
        .filter(flow::Column::FlowUuid.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes the flow named by `key` (its bindings go with it); its pk, or `None` when there was
/// none.
pub async fn delete_flow(conn: &impl Connection, key: &FlowKey) -> Result<Option<Uuid>, DbErr> {
    let id: Option<Uuid> = flow::Entity::find()
        .select_only()
        .column(flow::Column::FlowUuid)
        .filter(key_condition(key))
        .into_tuple()
        .one(conn)
        .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    let deleted = flow::Entity::delete_many()
        .filter(flow::Column::FlowUuid.eq(id))
        .exec(conn)
        .await?;
    Ok((deleted.rows_affected > 0).then_some(id))
}

pub async fn flows_by_key(conn: &impl Connection, key: &FlowKey) -> Result<Vec<Flow>, DbErr> {
    read_flows(conn, flow::Entity::find().filter(key_condition(key))).await
}

pub async fn flows_by_ids(conn: &impl Connection, ids: &[Uuid]) -> Result<Vec<Flow>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    read_flows(
        conn,
        flow::Entity::find().filter(flow::Column::FlowUuid.is_in(ids.iter().copied())),
    )
    .await
}

/// The columns `ordering` may name: the flow's stored fields.
fn orderable() -> Vec<(&'static str, SimpleExpr)> {
    use flow::Column as F;
    [
        ("pk", F::FlowUuid),
        ("policybindingmodel_ptr_id", F::PolicybindingmodelPtrId),
        ("name", F::Name),
        ("slug", F::Slug),
        ("title", F::Title),
        ("designation", F::Designation),
        ("background", F::Background),
        ("policy_engine_mode", F::PolicyEngineMode),
        ("compatibility_mode", F::CompatibilityMode),
        ("layout", F::Layout),
        ("denied_action", F::DeniedAction),
        ("authentication", F::Authentication),
    ]
    .into_iter()
    .map(|(name, c)| (name, column(c)))
    .collect()
}

/// The flow list: authentik's filters, search over name, slug, designation, title and denied
/// action, ordering by slug then name unless asked otherwise.
pub fn list_query(filter: &FlowFilter) -> Result<ListQuery<flow::Entity>, ServiceError> {
    use flow::Column as F;
    let mut filters = Filters::new();
    filters
        .uuid(
            "flow_uuid",
            column(F::FlowUuid),
            filter.flow_uuid.as_deref(),
        )
        .text(column(F::Name), filter.name.as_deref())
        .text(column(F::Slug), filter.slug.as_deref())
        .choice::<super::Designation>(
            "designation",
            column(F::Designation),
            filter.designation.as_deref(),
        )
        .choice::<super::DeniedAction>(
            "denied_action",
            column(F::DeniedAction),
            filter.denied_action.as_deref(),
        )
        .search(
            filter.search.as_deref(),
            &[F::Name, F::Slug, F::Designation, F::Title, F::DeniedAction].map(column),
        );
    let order = ordering(
        filter.ordering.as_deref(),
        &orderable(),
        &["slug", "name"],
        column(F::FlowUuid),
    );
    ListQuery::new(flow::Entity::find(), filters, order)
}

/// A page of flows, bringing back `columns` of each.
pub async fn page(
    conn: &impl Connection,
    filter: &FlowFilter,
    request: &PageRequest,
    columns: Columns<'_>,
) -> Result<Page<Flow>, ServiceError> {
    let mut page: Page<Flow> = list_query(filter)?
        .fetch_columns(conn, request, columns)
        .await?;
    page.results.iter_mut().for_each(Flow::derive_fields);
    Ok(page)
}

/// The ids of the stages bound into each flow, by binding order (then stage, for a stable
/// order among equal orders).
pub async fn stage_ids_of_flows(
    conn: &impl Connection,
    flow_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Uuid>>, DbErr> {
    let mut by_flow: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    if flow_ids.is_empty() {
        return Ok(by_flow);
    }
    let rows: Vec<(Uuid, Uuid)> = flow_stage_binding::Entity::find()
        .select_only()
        .column(flow_stage_binding::Column::Target)
        .column(flow_stage_binding::Column::Stage)
        .filter(flow_stage_binding::Column::Target.is_in(flow_ids.iter().copied()))
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::FsbUuid)
        .into_tuple()
        .all(conn)
        .await?;
    for (flow, stage) in rows {
        by_flow.entry(flow).or_default().push(stage);
    }
    Ok(by_flow)
}

/// Fills each flow's `stages` (REST's list of stage pks) in one query.
pub async fn add_stage_ids(conn: &impl Connection, flows: &mut [Flow]) -> Result<(), DbErr> {
    let ids: Vec<Uuid> = flows.iter().map(|flow| flow.pk).collect();
    let mut stage_ids = stage_ids_of_flows(conn, &ids).await?;
    for flow in flows {
        flow.stages = stage_ids.remove(&flow.pk).unwrap_or_default();
    }
    Ok(())
}

/// A flow's bindings by order: (binding, order, (stage, stage name)).
pub async fn bindings_with_stage_names(
    conn: &impl Connection,
    flow_id: Uuid,
) -> Result<Vec<(Uuid, i32, (Uuid, String))>, DbErr> {
    let rows: Vec<(Uuid, i32, Uuid, String)> = flow_stage_binding::Entity::find()
        .select_only()
        .column(flow_stage_binding::Column::FsbUuid)
        .column(flow_stage_binding::Column::Order)
        .column(stage::Column::StageUuid)
        .column(stage::Column::Name)
        .join(
            JoinType::InnerJoin,
            flow_stage_binding::Relation::Stage.def(),
        )
        .filter(flow_stage_binding::Column::Target.eq(flow_id))
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::FsbUuid)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(binding, order, stage, name)| (binding, order, (stage, name)))
        .collect())
}

/// Bindings of stages with their flows, by flow slug, then order.
fn stage_bindings_select() -> Select<flow_stage_binding::Entity> {
    flow_stage_binding::Entity::find()
        .select_only()
        .column(flow_stage_binding::Column::Stage)
        .column(flow_stage_binding::Column::FsbUuid)
        .column(flow_stage_binding::Column::Order)
        .join(
            JoinType::InnerJoin,
            flow_stage_binding::Relation::Flow.def(),
        )
        .order_by_asc(flow::Column::Slug)
        .order_by_asc(flow_stage_binding::Column::Order)
}

/// A stage's bindings bring back the binding's `stage`, `fsb_uuid` and `order`, then the flow's
/// columns (`Flow::COLUMN_NAMES`): every value is read by its position (a read by name looks the
/// name up per value and row, on every REST page of stages).
const BINDING_COLUMNS: usize = 3;

fn with_flow_columns(
    mut select: Select<flow_stage_binding::Entity>,
) -> Result<Select<flow_stage_binding::Entity>, ServiceError> {
    for name in Flow::COLUMN_NAMES {
        select = select.column(crate::db::column_named::<flow::Column>(name)?);
    }
    Ok(select)
}

/// A stage's binding with its flow.
struct StageBindingRow {
    stage: Uuid,
    binding: Binding,
}

/// The rows of `statement` (`stage_bindings_select` with `with_flow_columns`), by position.
async fn read_stage_bindings(
    conn: &impl Connection,
    statement: sea_orm::Statement,
) -> Result<Vec<StageBindingRow>, DbErr> {
    let layout = Flow::row_layout(Columns::After(BINDING_COLUMNS, Flow::COLUMN_NAMES));
    crate::db::read_all(conn, statement, |row| {
        let mut flow = Flow::from_layout(row, "", &layout)?;
        flow.derive_fields();
        Ok(StageBindingRow {
            stage: StoredValue::read_at(row, 0)?,
            binding: Binding {
                id: StoredValue::read_at(row, 1)?,
                order: StoredValue::read_at(row, 2)?,
                flow,
            },
        })
    })
    .await
}

/// The bindings of each stage, with their flows, in one query; each list ordered by flow slug,
/// then binding order.
pub async fn bindings_of_stages(
    conn: &impl Connection,
    stage_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Binding>>, ServiceError> {
    let mut by_stage: HashMap<Uuid, Vec<Binding>> = HashMap::new();
    if stage_ids.is_empty() {
        return Ok(by_stage);
    }
    let read = KeyedRead {
        shape: "bindings of stages with their flows",
        columns: Columns::All,
        keys: stage_ids.iter().map(|&id| id.into()).collect(),
    };
    let statement = keyed_statement(conn.get_database_backend(), read, || {
        with_flow_columns(
            stage_bindings_select()
                .filter(flow_stage_binding::Column::Stage.is_in(stage_ids.iter().copied())),
        )
    })?;
    for row in read_stage_bindings(conn, statement).await? {
        by_stage.entry(row.stage).or_default().push(row.binding);
    }
    Ok(by_stage)
}

/// The bindings of one stage with their flows, locked (with the flows) until the transaction
/// ends, in slug order, so that concurrent writers lock shared flows in the same order.
pub async fn bindings_of_stage_for_update(
    conn: &impl Connection,
    stage_id: Uuid,
) -> Result<Vec<Binding>, ServiceError> {
    let select = with_flow_columns(stage_bindings_select())?
        .filter(flow_stage_binding::Column::Stage.eq(stage_id))
        .lock_exclusive();
    let statement = QueryTrait::build(&select, conn.get_database_backend());
    Ok(read_stage_bindings(conn, statement)
        .await?
        .into_iter()
        .map(|row| row.binding)
        .collect())
}

/// Which of `slugs` belong to stored flows.
pub async fn taken_slugs(
    conn: &impl Connection,
    slugs: &[String],
) -> Result<HashSet<String>, DbErr> {
    if slugs.is_empty() {
        return Ok(HashSet::new());
    }
    let taken: Vec<String> = flow::Entity::find()
        .select_only()
        .column(flow::Column::Slug)
        .filter(flow::Column::Slug.is_in(slugs.iter().cloned()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(taken.into_iter().collect())
}

fn new_binding_row(stage_id: Uuid, flow_id: Uuid) -> flow_stage_binding::ActiveModel {
    use sea_orm::Set;
    flow_stage_binding::ActiveModel {
        fsb_uuid: Set(Uuid::new_v4()),
        policybindingmodel_ptr_id: Set(Uuid::new_v4()),
        target: Set(flow_id),
        stage: Set(stage_id),
        order: Set(FLOW_SET_BINDING_ORDER),
        evaluate_on_plan: Set(false),
        re_evaluate_policies: Set(true),
        policy_engine_mode: Set("any".to_string()),
        invalid_response_action: Set("retry".to_string()),
    }
}

/// Creates each flow (with the declared defaults for what an item leaves out) and binds the
/// stage into it at order 0: two statements, whatever the number of flows. A slug taken
/// meanwhile fails with the database's unique violation.
pub async fn bind_new_flows(
    conn: &impl Connection,
    stage_id: Uuid,
    flows: &[FlowSetChanges],
) -> Result<Vec<Binding>, ServiceError> {
    if flows.is_empty() {
        return Ok(Vec::new());
    }
    let mut flow_rows = Vec::with_capacity(flows.len());
    let mut binding_rows = Vec::with_capacity(flows.len());
    let mut bindings = Vec::with_capacity(flows.len());
    for changes in flows {
        let written = changes.clone().with_defaults();
        // The flow as written: what a `flow_set` item leaves out of a flow is fixed here (no
        // background, no authentication requirement), the rest is the item's.
        let mut flow = Flow {
            pk: Uuid::new_v4(),
            policybindingmodel_ptr_id: Uuid::new_v4(),
            background: background_url(None),
            authentication: Authentication::None,
            ..Flow::default()
        };
        written.apply_to(&mut flow);
        flow.derive_fields();
        let mut row = flow::ActiveModel {
            flow_uuid: sea_orm::Set(flow.pk),
            policybindingmodel_ptr_id: sea_orm::Set(flow.policybindingmodel_ptr_id),
            background: sea_orm::Set(None),
            authentication: sea_orm::Set(flow.authentication.value().to_string()),
            ..Default::default()
        };
        set_columns(&mut row, written.columns())?;
        flow_rows.push(row);
        let binding_row = new_binding_row(stage_id, flow.pk);
        bindings.push(Binding {
            id: *binding_row.fsb_uuid.as_ref(),
            order: FLOW_SET_BINDING_ORDER,
            flow,
        });
        binding_rows.push(binding_row);
    }
    flow::Entity::insert_many(flow_rows)
        .exec_without_returning(conn)
        .await?;
    flow_stage_binding::Entity::insert_many(binding_rows)
        .exec_without_returning(conn)
        .await?;
    // Answered from what was written: reading it back inside the write transaction held the
    // writer (SQLite's only one) a statement longer for nothing.
    Ok(bindings)
}

/// Makes `wanted` the set of flows the stage is bound into, matched by slug: bound flows are
/// updated, new slugs are created and bound, bindings into flows no longer named are removed
/// (the flows stay). The caller has checked that no wanted slug belongs to an unbound flow.
pub async fn sync_flow_set(
    conn: &impl Connection,
    stage_id: Uuid,
    current: Vec<Binding>,
    wanted: &[FlowSetChanges],
) -> Result<Vec<Binding>, ServiceError> {
    let wanted_by_slug: HashMap<&str, &FlowSetChanges> = wanted
        .iter()
        .filter_map(|f| Some((f.slug.as_deref()?, f)))
        .collect();
    let bound: HashSet<String> = current.iter().map(|b| b.flow.slug.clone()).collect();

    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut updated = HashSet::new();
    for mut binding in current {
        let Some(change) = wanted_by_slug.get(binding.flow.slug.as_str()) else {
            dropped.push(binding.id);
            continue;
        };
        change.apply_to(&mut binding.flow);
        // A stage bound twice into one flow updates that flow once.
        let columns = change.columns();
        if updated.insert(binding.flow.pk) && !columns.is_empty() {
            update_columns::<flow::Entity>(flow::Entity::update_many(), columns)?
                .filter(flow::Column::FlowUuid.eq(binding.flow.pk))
                .exec(conn)
                .await?;
        }
        kept.push(binding);
    }
    if !dropped.is_empty() {
        flow_stage_binding::Entity::delete_many()
            .filter(flow_stage_binding::Column::FsbUuid.is_in(dropped))
            .exec(conn)
            .await?;
    }
    let new: Vec<FlowSetChanges> = wanted
        .iter()
        .filter(|f| f.slug.as_ref().is_some_and(|slug| !bound.contains(slug)))
        .cloned()
        .collect();
    kept.extend(bind_new_flows(conn, stage_id, &new).await?);
    kept.sort_by(|a, b| (&a.flow.slug, a.order).cmp(&(&b.flow.slug, b.order)));
    Ok(kept)
}
