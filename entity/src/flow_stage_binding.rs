//! A stage bound into a flow at an order (authentik's `authentik_flows_flowstagebinding`).
//! Unique together: (target, stage, order). Deleting either side deletes the binding.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_stage_binding")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub fsb_uuid: Uuid,
    /// In authentik the id of the binding's policy-binding parent row; kept as its own uuid.
    pub policybindingmodel_ptr_id: Uuid,
    /// The flow (authentik calls the column `target`).
    pub target: Uuid,
    pub stage: Uuid,
    pub order: i32,
    pub evaluate_on_plan: bool,
    pub re_evaluate_policies: bool,
    pub policy_engine_mode: String,
    pub invalid_response_action: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::flow::Entity",
        from = "Column::Target",
        to = "super::flow::Column::FlowUuid",
        on_delete = "Cascade"
    )]
    Flow,
    #[sea_orm(
        belongs_to = "super::stage::Entity",
        from = "Column::Stage",
        to = "super::stage::Column::StageUuid",
        on_delete = "Cascade"
    )]
    Stage,
}

impl Related<super::flow::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Flow.def()
    }
}

impl Related<super::stage::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Stage.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
