//! A flow (authentik's `authentik_flows_flow`). Choice columns hold authentik's lower-case values
//! (`authentication`, `any`, `stacked`, …); the service validates them before they get here.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_uuid: Uuid,
    /// In authentik the id of the flow's policy-binding parent row; kept as its own uuid.
    #[sea_orm(unique)]
    pub policybindingmodel_ptr_id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub slug: String,
    pub title: String,
    pub designation: String,
    /// A stored background (file path or URL); `None` renders authentik's default image.
    pub background: Option<String>,
    pub policy_engine_mode: String,
    pub compatibility_mode: bool,
    pub layout: String,
    pub denied_action: String,
    pub authentication: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::flow_stage_binding::Entity")]
    FlowStageBinding,
}

impl Related<super::flow_stage_binding::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::FlowStageBinding.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
