//! A flow executor's plan for one browser session (see the migration): the flow, the bindings
//! still to run (a JSON list of binding ids), the context (JSON), the page's query string.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_plan")]
pub struct Model {
    /// Lower-case hex SHA-256 of the session cookie.
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_hash: String,
    pub flow: Uuid,
    pub pending: String,
    pub context: String,
    pub query: String,
    /// Raised by every change: a change names the version it read.
    pub version: i64,
    pub updated: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
