//! The captcha-specific columns of a stage (authentik's `authentik_stages_captcha_captchastage`),
//! one row per stage, keyed by the stage it extends.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "captcha_stage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub stage_ptr_id: Uuid,
    pub public_key: String,
    /// Write-only secret: never rendered by any API, never logged (`Debug` hides it).
    pub private_key: super::secret::SecretText,
    pub js_url: String,
    pub api_url: String,
    pub interactive: bool,
    pub score_min_threshold: f64,
    pub score_max_threshold: f64,
    pub error_on_invalid_score: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::stage::Entity",
        from = "Column::StagePtrId",
        to = "super::stage::Column::StageUuid",
        on_delete = "Cascade"
    )]
    Stage,
}

impl Related<super::stage::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Stage.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
