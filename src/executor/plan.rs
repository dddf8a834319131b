//! Flow plans in the database, one per browser session, so that any instance can continue a
//! plan. Every change names the version it read: of two concurrent answers to one plan, only
//! the first advances it.

use crate::db::Connection;
use chrono::Utc;
use entity::{flow_plan, flow_stage_binding};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A flow's plan for one session.
#[derive(Clone, Debug)]
pub struct Plan {
    pub session_hash: String,
    pub flow: Uuid,
    /// The bindings still to run, in order.
    pub pending: Vec<Uuid>,
    /// What stages left for later ones (`captcha`: the provider's answer).
    pub context: Map<String, Value>,
    /// The page's query string (`next` is read from it at the end).
    pub query: String,
    pub version: i64,
}

impl Plan {
    /// A new plan of `bindings` for the session.
    pub fn new(session_hash: String, flow: Uuid, pending: Vec<Uuid>, query: String) -> Self {
        Plan {
            session_hash,
            flow,
            pending,
            context: Map::new(),
            query,
            version: 0,
        }
    }
}

fn decode(row: flow_plan::Model) -> Result<Plan, DbErr> {
    let corrupt = |what: &str| DbErr::Type(format!("flow_plan.{what} is not valid JSON"));
    Ok(Plan {
        pending: serde_json::from_str(&row.pending).map_err(|_| corrupt("pending"))?,
        context: serde_json::from_str(&row.context).map_err(|_| corrupt("context"))?,
        session_hash: row.session_hash,
        flow: row.flow,
        query: row.query,
        version: row.version,
    })
}

/// The session's plan, unless it has been idle longer than `idle`.
pub async fn load(
    conn: &impl Connection,
    session_hash: &str,
    idle: chrono::Duration,
) -> Result<Option<Plan>, DbErr> {
    let row = flow_plan::Entity::find_by_id(session_hash.to_string())
        .filter(flow_plan::Column::Updated.gt(Utc::now() - idle))
        .one(conn)
        .await?;
    row.map(decode).transpose()
}

/// Stores `plan` as the session's plan, replacing whatever the session had.
pub async fn store(conn: &impl Connection, plan: &Plan) -> Result<(), DbErr> {
    let row = flow_plan::ActiveModel {
        session_hash: sea_orm::Set(plan.session_hash.clone()),
        flow: sea_orm::Set(plan.flow),
        pending: sea_orm::Set(serde_json::to_string(&plan.pending).expect("ids serialize")),
        context: sea_orm::Set(Value::Object(plan.context.clone()).to_string()),
        query: sea_orm::Set(plan.query.clone()),
        version: sea_orm::Set(plan.version),
        updated: sea_orm::Set(Utc::now()),
    };
    flow_plan::Entity::insert(row)
        .on_conflict(
            OnConflict::column(flow_plan::Column::SessionHash)
                .update_columns([
                    flow_plan::Column::Flow,
                    flow_plan::Column::Pending,
                    flow_plan::Column::Context,
                    flow_plan::Column::Query,
                    flow_plan::Column::Version,
                    flow_plan::Column::Updated,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Replaces the plan read at `read_version` by `next` (its bindings, context and query), raising
/// the version; `false` when another request changed the plan meanwhile (nothing written).
pub async fn replace_if_unchanged(
    conn: &impl Connection,
    read_version: i64,
    next: &Plan,
) -> Result<bool, DbErr> {
    let result = flow_plan::Entity::update_many()
        .col_expr(
            flow_plan::Column::Pending,
            Expr::value(serde_json::to_string(&next.pending).expect("ids serialize")),
        )
        .col_expr(
            flow_plan::Column::Context,
            Expr::value(Value::Object(next.context.clone()).to_string()),
        )
        .col_expr(flow_plan::Column::Query, Expr::value(next.query.clone()))
        .col_expr(flow_plan::Column::Version, Expr::value(read_version + 1))
        .col_expr(flow_plan::Column::Updated, Expr::value(Utc::now()))
        .filter(flow_plan::Column::SessionHash.eq(next.session_hash.as_str()))
        .filter(flow_plan::Column::Version.eq(read_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Ends the plan read at `read_version`; `false` when another request changed it meanwhile.
pub async fn finish_if_unchanged(
    conn: &impl Connection,
    session_hash: &str,
    read_version: i64,
) -> Result<bool, DbErr> {
    let result = flow_plan::Entity::delete_many()
        .filter(flow_plan::Column::SessionHash.eq(session_hash))
        .filter(flow_plan::Column::Version.eq(read_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Forgets the session's plan, whatever its version.
pub async fn forget(conn: &impl Connection, session_hash: &str) -> Result<(), DbErr> {
    flow_plan::Entity::delete_many()
        .filter(flow_plan::Column::SessionHash.eq(session_hash))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes plans idle longer than `idle` (a few at a time, so that a sweep stays cheap).
pub async fn sweep(conn: &impl Connection, idle: chrono::Duration) -> Result<(), DbErr> {
    let expired: Vec<String> = flow_plan::Entity::find()
        .select_only()
        .column(flow_plan::Column::SessionHash)
        .filter(flow_plan::Column::Updated.lt(Utc::now() - idle))
        .limit(100)
        .into_tuple()
        .all(conn)
        .await?;
    if !expired.is_empty() {
        flow_plan::Entity::delete_many()
            .filter(flow_plan::Column::SessionHash.is_in(expired))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// The flow's bindings by order (then pk, for a stable order among equal orders).
pub async fn binding_ids(conn: &impl Connection, flow: Uuid) -> Result<Vec<Uuid>, DbErr> {
    flow_stage_binding::Entity::find()
        .select_only()
        .column(flow_stage_binding::Column::FsbUuid)
        .filter(flow_stage_binding::Column::Target.eq(flow))
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::FsbUuid)
        .into_tuple()
        .all(conn)
        .await
}
