//! Reading and writing bindings, by column name.

use crate::db::Connection;
use entity::{captcha_stage, flow, flow_stage_binding, stage};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, JoinType, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, Set,
};
use uuid::Uuid;

use super::{BindingFilter, FlowStageBinding, FlowStageBindingChanges, InvalidResponseAction};
use crate::db::{
    KeyedRead, keyed_statement, read_rows, select_columns, set_columns, update_columns,
};
use crate::error::ServiceError;
use crate::flows::PolicyEngineMode;
use crate::object::{Columns, StoredObject};
use crate::pagination::{Filters, ListQuery, Page, PageRequest, ordering};
use crate::stages::CaptchaStage;

fn column(column: flow_stage_binding::Column) -> SimpleExpr {
    Expr::col((flow_stage_binding::Entity, column))
}

pub async fn flow_exists(conn: &impl Connection, id: Uuid) -> Result<bool, DbErr> {
    Ok(flow::Entity::find_by_id(id).count(conn).await? > 0)
}

pub async fn stage_exists(conn: &impl Connection, id: Uuid) -> Result<bool, DbErr> {
    Ok(stage::Entity::find_by_id(id).count(conn).await? > 0)
}

/// Stores a new binding; its pk and policy-binding id.
pub async fn insert(
    conn: &impl Connection,
    changes: &FlowStageBindingChanges,
) -> Result<(Uuid, Uuid), ServiceError> {
    let (id, pbm) = (Uuid::new_v4(), Uuid::new_v4());
    let mut row = flow_stage_binding::ActiveModel {
        fsb_uuid: Set(id),
        policybindingmodel_ptr_id: Set(pbm),
        ..Default::default()
    };
    set_columns(&mut row, changes.columns())?;
    flow_stage_binding::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok((id, pbm))
}

/// The binding, locked until the transaction ends.
pub async fn load_for_update(
    conn: &impl Connection,
    id: Uuid,
) -> Result<Option<FlowStageBinding>, DbErr> {
    flow_stage_binding::Entity::find_by_id(id)
        .lock_exclusive()
        .into_model()
        .one(conn)
        .await
}

pub async fn update(
    conn: &impl Connection,
    id: Uuid,
    changes: &FlowStageBindingChanges,
) -> Result<(), ServiceError> {
    let columns = changes.columns();
    if columns.is_empty() {
        return Ok(());
    }
    update_columns::<flow_stage_binding::Entity>(
        flow_stage_binding::Entity::update_many(),
        columns,
    )?
    .filter(flow_stage_binding::Column::FsbUuid.eq(id))
    .exec(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &impl Connection, id: Uuid) -> Result<bool, DbErr> {
    let result = flow_stage_binding::Entity::delete_many()
        .filter(flow_stage_binding::Column::FsbUuid.eq(id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn by_ids(conn: &impl Connection, ids: &[Uuid]) -> Result<Vec<FlowStageBinding>, DbErr> {
    flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FsbUuid.is_in(ids.iter().copied()))
        .into_model()
        .all(conn)
        .await
}

/// The bindings of `flow_ids`, by order, then pk, bringing back `columns` of each.
pub async fn of_flows(
    conn: &impl Connection,
    flow_ids: &[Uuid],
    columns: Columns<'_>,
) -> Result<Vec<FlowStageBinding>, ServiceError> {
    if flow_ids.is_empty() {
        return Ok(Vec::new());
    }
    let read = KeyedRead {
        shape: "bindings of flows",
        columns,
        keys: flow_ids.iter().map(|&id| id.into()).collect(),
    };
    let statement = keyed_statement(conn.get_database_backend(), read, || {
        let select = flow_stage_binding::Entity::find()
            .filter(flow_stage_binding::Column::Target.is_in(flow_ids.iter().copied()))
            .order_by_asc(flow_stage_binding::Column::Order)
            .order_by_asc(flow_stage_binding::Column::FsbUuid);
        select_columns(select, columns)
    })?;
    Ok(read_rows(conn, statement, columns).await?)
}

/// The bindings of `flow_ids`, by order, then pk, each with its captcha stage, in one statement:
/// `binding_columns` of each binding, then `stage_columns` of its stage; the stage's key is the
/// binding's `stage`, never read twice. Captcha stages are the only kind a binding binds, so
/// the join is inner.
pub async fn of_flows_with_stages(
    conn: &impl Connection,
    flow_ids: &[Uuid],
    binding_columns: &[&'static str],
    stage_columns: &[&'static str],
) -> Result<Vec<(FlowStageBinding, CaptchaStage)>, ServiceError> {
    if flow_ids.is_empty() {
        return Ok(Vec::new());
    }
    let binding = Columns::Only(binding_columns);
    let stage = Columns::After(binding_columns.len(), stage_columns);
    let read = KeyedRead {
        shape: "bindings of flows with their stages",
        // The text varies with both lists; one list holding both keys it apart.
        columns: Columns::Only(&[binding_columns, &["|"], stage_columns].concat()),
        keys: flow_ids.iter().map(|&id| id.into()).collect(),
    };
    let statement = keyed_statement(conn.get_database_backend(), read, || {
        let select = flow_stage_binding::Entity::find()
            .join(
                JoinType::InnerJoin,
                flow_stage_binding::Relation::Stage.def(),
            )
            .join(
                JoinType::InnerJoin,
                captcha_stage::Relation::Stage.def().rev(),
            )
            .filter(flow_stage_binding::Column::Target.is_in(flow_ids.iter().copied()))
            .order_by_asc(flow_stage_binding::Column::Order)
            .order_by_asc(flow_stage_binding::Column::FsbUuid);
        crate::stages::select_stage_columns(
            select_columns(select, binding)?,
            stage_columns.iter().copied(),
        )
    })?;
    let (binding, stage) = (
        FlowStageBinding::row_layout(binding),
        CaptchaStage::row_layout(stage),
    );
    Ok(crate::db::read_all(conn, statement, |row| {
        let binding = FlowStageBinding::from_layout(row, "", &binding)?;
        let stage = CaptchaStage {
            pk: binding.stage,
            ..CaptchaStage::from_layout(row, "", &stage)?
        };
        Ok((binding, stage))
    })
    .await?)
}

/// The columns `ordering` may name: the binding's stored fields.
fn orderable() -> Vec<(&'static str, SimpleExpr)> {
    use flow_stage_binding::Column as B;
    [
        ("pk", B::FsbUuid),
        ("policybindingmodel_ptr_id", B::PolicybindingmodelPtrId),
        ("target", B::Target),
        ("stage", B::Stage),
        ("evaluate_on_plan", B::EvaluateOnPlan),
        ("re_evaluate_policies", B::ReEvaluatePolicies),
        ("order", B::Order),
        ("policy_engine_mode", B::PolicyEngineMode),
        ("invalid_response_action", B::InvalidResponseAction),
    ]
    .into_iter()
    .map(|(name, c)| (name, column(c)))
    .collect()
}

/// The binding list: authentik's filters, search over the stage's name, ordering by order then
/// pk unless asked otherwise.
pub fn list_query(
    filter: &BindingFilter,
) -> Result<ListQuery<flow_stage_binding::Entity>, ServiceError> {
    use flow_stage_binding::Column as B;
    let mut filters = Filters::new();
    filters
        .uuid("target", column(B::Target), filter.target.as_deref())
        .uuid("stage", column(B::Stage), filter.stage.as_deref())
        .integer("order", column(B::Order), filter.order.as_deref())
        .boolean(
            column(B::EvaluateOnPlan),
            filter.evaluate_on_plan.as_deref(),
        )
        .boolean(
            column(B::ReEvaluatePolicies),
            filter.re_evaluate_policies.as_deref(),
        )
        .choice::<PolicyEngineMode>(
            "policy_engine_mode",
            column(B::PolicyEngineMode),
            filter.policy_engine_mode.as_deref(),
        )
        .choice::<InvalidResponseAction>(
            "invalid_response_action",
            column(B::InvalidResponseAction),
            filter.invalid_response_action.as_deref(),
        )
        .uuid("fsb_uuid", column(B::FsbUuid), filter.fsb_uuid.as_deref())
        .uuid(
            "pbm_uuid",
            column(B::PolicybindingmodelPtrId),
            filter.pbm_uuid.as_deref(),
        )
        .no_choices("policies", filter.policies.as_deref())
        .search(
            filter.search.as_deref(),
            &[Expr::col((stage::Entity, stage::Column::Name))],
        );
    let order = ordering(
        filter.ordering.as_deref(),
        &orderable(),
        &["order"],
        column(B::FsbUuid),
    );
    let select = flow_stage_binding::Entity::find().join(
        JoinType::InnerJoin,
        flow_stage_binding::Relation::Stage.def(),
    );
    ListQuery::new(select, filters, order)
}

pub async fn page(
    conn: &impl Connection,
    filter: &BindingFilter,
    request: &PageRequest,
) -> Result<Page<FlowStageBinding>, ServiceError> {
    list_query(filter)?.fetch(conn, request).await
}
