//! Reading and writing flows and bindings. Writes take the caller's transaction.

use std::collections::{HashMap, HashSet};

use entity::{flow, flow_stage_binding};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IntoActiveModel, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, RelationTrait,
};
use uuid::Uuid;

use super::{Binding, DeniedAction, Designation, Flow, FlowLayout, PolicyEngineMode, ValidFlow};
use crate::error::ServiceError;
use crate::pagination::{Page, PageRequest, search_condition, search_terms};
use crate::validation::Choice;

/// Bindings made through `flow_set` take authentik's defaults.
const NEW_BINDING_ORDER: i32 = 0;
const DEFAULT_INVALID_RESPONSE_ACTION: &str = "retry";

/// Which of `slugs` belong to stored flows.
pub async fn taken_slugs(
    conn: &impl ConnectionTrait,
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

/// A binding and its flow, decoded by position (by name, a page's 200 flows cost thousands
/// of name lookups).
struct BindingRow {
    stage: Uuid,
    binding: Uuid,
    order: i32,
    flow: flow::Model,
}

impl FromQueryResult for BindingRow {
    fn from_query_result(row: &QueryResult, _prefix: &str) -> Result<Self, DbErr> {
        Ok(BindingRow {
            stage: row.try_get_by_index(0)?,
            binding: row.try_get_by_index(1)?,
            order: row.try_get_by_index(2)?,
            flow: flow::Model {
                flow_uuid: row.try_get_by_index(3)?,
                policybindingmodel_ptr_id: row.try_get_by_index(4)?,
                name: row.try_get_by_index(5)?,
                slug: row.try_get_by_index(6)?,
                title: row.try_get_by_index(7)?,
                designation: row.try_get_by_index(8)?,
                background: row.try_get_by_index(9)?,
                policy_engine_mode: row.try_get_by_index(10)?,
                compatibility_mode: row.try_get_by_index(11)?,
                layout: row.try_get_by_index(12)?,
                denied_action: row.try_get_by_index(13)?,
            },
        })
    }
}

/// Bindings with their flows, ordered by flow slug, then binding order.
fn bindings_select() -> sea_orm::Select<flow_stage_binding::Entity> {
    use flow::Column as F;
    use flow_stage_binding::Column as B;
    flow_stage_binding::Entity::find()
        .select_only()
        .columns([B::Stage, B::FsbUuid, B::Order])
        .columns([
            F::FlowUuid,
            F::PolicybindingmodelPtrId,
            F::Name,
            F::Slug,
            F::Title,
        ])
        .columns([
            F::Designation,
            F::Background,
            F::PolicyEngineMode,
            F::CompatibilityMode,
        ])
        .columns([F::Layout, F::DeniedAction])
        .join(
            JoinType::InnerJoin,
            flow_stage_binding::Relation::Flow.def(),
        )
        .order_by_asc(F::Slug)
        .order_by_asc(B::Order)
}

impl From<BindingRow> for Binding {
    fn from(row: BindingRow) -> Self {
        Binding {
            id: row.binding,
            order: row.order,
            flow: row.flow.into(),
        }
    }
}

/// The bindings of each stage, with their flows, in one query; each list ordered by flow slug,
/// then binding order.
pub async fn bindings_of_stages(
    conn: &impl ConnectionTrait,
    stage_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Binding>>, DbErr> {
    let mut by_stage: HashMap<Uuid, Vec<Binding>> = HashMap::new();
    if stage_ids.is_empty() {
        return Ok(by_stage);
    }
    let rows: Vec<BindingRow> = bindings_select()
        .filter(flow_stage_binding::Column::Stage.is_in(stage_ids.iter().copied()))
        .into_model()
        .all(conn)
        .await?;
    for row in rows {
        by_stage.entry(row.stage).or_default().push(row.into());
    }
    Ok(by_stage)
}

/// The bindings of one stage with their flows, locked (with the flows) until the transaction
/// ends, in slug order, so that concurrent writers lock shared flows in the same order.
pub async fn bindings_of_stage_for_update(
    conn: &impl ConnectionTrait,
    stage_id: Uuid,
) -> Result<Vec<Binding>, DbErr> {
    let rows: Vec<BindingRow> = bindings_select()
        .filter(flow_stage_binding::Column::Stage.eq(stage_id))
        .lock_exclusive()
        .into_model()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(Binding::from).collect())
}

/// The ids of the stages bound into each flow.
pub async fn stage_ids_of_flows(
    conn: &impl ConnectionTrait,
    flow_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Uuid>>, DbErr> {
    let rows: Vec<(Uuid, Uuid)> = flow_stage_binding::Entity::find()
        .select_only()
        .column(flow_stage_binding::Column::Target)
        .column(flow_stage_binding::Column::Stage)
        .filter(flow_stage_binding::Column::Target.is_in(flow_ids.iter().copied()))
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::Stage)
        .into_tuple()
        .all(conn)
        .await?;
    let mut by_flow: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (flow, stage) in rows {
        by_flow.entry(flow).or_default().push(stage);
    }
    Ok(by_flow)
}

pub async fn flow_by_slug(conn: &impl ConnectionTrait, slug: &str) -> Result<Option<Flow>, DbErr> {
    Ok(flow::Entity::find()
        .filter(flow::Column::Slug.eq(slug))
        .one(conn)
        .await?
        .map(Flow::from))
}

/// A page of flows whose name, slug, title or designation contain every search term, by slug.
pub async fn list_flows(
    conn: &impl ConnectionTrait,
    search: Option<&str>,
    request: &PageRequest,
) -> Result<Page<Flow>, ServiceError> {
    let terms = search_terms(search)?;
    let columns = [
        flow::Column::Name,
        flow::Column::Slug,
        flow::Column::Title,
        flow::Column::Designation,
    ]
    .map(Expr::col);
    let query = flow::Entity::find().filter(search_condition(&terms, &columns));
    let count = query.clone().count(conn).await?;
    let window = request.resolve(count)?;
    let rows = query
        .order_by_asc(flow::Column::Slug)
        .order_by_asc(flow::Column::FlowUuid)
        .offset(window.offset)
        .limit(window.limit)
        .all(conn)
        .await?;
    Ok(window.page(rows.into_iter().map(Flow::from).collect()))
}

fn new_flow_row(flow: &ValidFlow) -> flow::Model {
    flow::Model {
        flow_uuid: Uuid::new_v4(),
        policybindingmodel_ptr_id: Uuid::new_v4(),
        name: flow.name.clone(),
        slug: flow.slug.clone(),
        title: flow.title.clone(),
        designation: flow
            .designation
            .unwrap_or(Designation::Authentication)
            .value()
            .to_string(),
        background: None,
        policy_engine_mode: flow
            .policy_engine_mode
            .unwrap_or(PolicyEngineMode::Any)
            .value()
            .to_string(),
        compatibility_mode: flow.compatibility_mode.unwrap_or(false),
        layout: flow
            .layout
            .unwrap_or(FlowLayout::Stacked)
            .value()
            .to_string(),
        denied_action: flow
            .denied_action
            .unwrap_or(DeniedAction::MessageContinue)
            .value()
            .to_string(),
    }
}

fn new_binding_row(stage_id: Uuid, flow_id: Uuid) -> flow_stage_binding::Model {
    flow_stage_binding::Model {
        fsb_uuid: Uuid::new_v4(),
        target: flow_id,
        stage: stage_id,
        order: NEW_BINDING_ORDER,
        evaluate_on_plan: false,
        re_evaluate_policies: true,
        invalid_response_action: DEFAULT_INVALID_RESPONSE_ACTION.to_string(),
    }
}

/// Creates each flow and binds the stage into it at order 0: two statements, whatever the
/// number of flows. A slug taken meanwhile fails with the database's unique violation.
pub async fn bind_new_flows(
    conn: &impl ConnectionTrait,
    stage_id: Uuid,
    flows: &[ValidFlow],
) -> Result<Vec<Binding>, DbErr> {
    if flows.is_empty() {
        return Ok(Vec::new());
    }
    let flow_rows: Vec<flow::Model> = flows.iter().map(new_flow_row).collect();
    let binding_rows: Vec<flow_stage_binding::Model> = flow_rows
        .iter()
        .map(|row| new_binding_row(stage_id, row.flow_uuid))
        .collect();
    flow::Entity::insert_many(
        flow_rows
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
    )
    .exec_without_returning(conn)
    .await?;
    flow_stage_binding::Entity::insert_many(
        binding_rows
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(binding_rows
        .into_iter()
        .zip(flow_rows)
        .map(|(binding, flow)| Binding {
            id: binding.fsb_uuid,
            order: binding.order,
            flow: flow.into(),
        })
        .collect())
}

/// Makes `wanted` the set of flows the stage is bound into, matched by slug: bound flows are
/// updated, new slugs are created and bound, bindings into flows no longer named are removed
/// (the flows stay). The caller has checked that no wanted slug belongs to an unbound flow.
pub async fn sync_flow_set(
    conn: &impl ConnectionTrait,
    stage_id: Uuid,
    current: Vec<Binding>,
    wanted: &[ValidFlow],
) -> Result<Vec<Binding>, DbErr> {
    let wanted_by_slug: HashMap<&str, &ValidFlow> =
        wanted.iter().map(|f| (f.slug.as_str(), f)).collect();
    let bound: HashSet<String> = current.iter().map(|b| b.flow.slug.clone()).collect();

    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut updated = HashSet::new();
    for mut binding in current {
        let Some(change) = wanted_by_slug.get(binding.flow.slug.as_str()) else {
            dropped.push(binding.id);
            continue;
        };
        apply_flow_change(&mut binding.flow, change);
        // A stage bound twice into one flow updates that flow once.
        if updated.insert(binding.flow.id) {
            update_flow_row(conn, &binding.flow).await?;
        }
        kept.push(binding);
    }
    if !dropped.is_empty() {
        flow_stage_binding::Entity::delete_many()
            .filter(flow_stage_binding::Column::FsbUuid.is_in(dropped))
            .exec(conn)
            .await?;
    }
    let new: Vec<ValidFlow> = wanted
        .iter()
        .filter(|f| !bound.contains(&f.slug))
        .cloned()
        .collect();
    kept.extend(bind_new_flows(conn, stage_id, &new).await?);
    kept.sort_by(|a, b| (&a.flow.slug, a.order).cmp(&(&b.flow.slug, b.order)));
    Ok(kept)
}

fn apply_flow_change(flow: &mut Flow, change: &ValidFlow) {
    flow.name = change.name.clone();
    flow.title = change.title.clone();
    if let Some(designation) = change.designation {
        flow.designation = designation;
    }
    if let Some(mode) = change.policy_engine_mode {
        flow.policy_engine_mode = mode;
    }
    if let Some(compatibility_mode) = change.compatibility_mode {
        flow.compatibility_mode = compatibility_mode;
    }
    if let Some(layout) = change.layout {
        flow.layout = layout;
    }
    if let Some(denied_action) = change.denied_action {
        flow.denied_action = denied_action;
    }
}

async fn update_flow_row(conn: &impl ConnectionTrait, flow: &Flow) -> Result<(), DbErr> {
    flow::Entity::update_many()
        .col_expr(flow::Column::Name, Expr::value(flow.name.clone()))
        .col_expr(flow::Column::Title, Expr::value(flow.title.clone()))
        .col_expr(
            flow::Column::Designation,
            Expr::value(flow.designation.value()),
        )
        .col_expr(
            flow::Column::PolicyEngineMode,
            Expr::value(flow.policy_engine_mode.value()),
        )
        .col_expr(
            flow::Column::CompatibilityMode,
            Expr::value(flow.compatibility_mode),
        )
        .col_expr(flow::Column::Layout, Expr::value(flow.layout.value()))
        .col_expr(
            flow::Column::DeniedAction,
            Expr::value(flow.denied_action.value()),
        )
        .filter(flow::Column::FlowUuid.eq(flow.id))
        .exec(conn)
        .await?;
    Ok(())
}
