//! The base stage row (authentik's `authentik_flows_stage`): the identity and the unique name that
//! every stage type shares.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub stage_uuid: Uuid,
    #[sea_orm(unique)]
    pub name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::captcha_stage::Entity")]
    CaptchaStage,
    #[sea_orm(has_many = "super::flow_stage_binding::Entity")]
    FlowStageBinding,
}

impl Related<super::captcha_stage::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CaptchaStage.def()
    }
}

impl Related<super::flow_stage_binding::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::FlowStageBinding.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
