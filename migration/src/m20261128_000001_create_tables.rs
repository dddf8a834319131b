//! The first schema: stages, captcha stages, flows, flow–stage bindings (authentik's model) and
//! the API tokens of this service. Uniqueness lives here, in constraints: the service maps a
//! violation back to the matching validation error, so concurrent instances stay consistent.

// Column names are authentik's (`stage_uuid` in `stage`, `flow_uuid` in `flow`).
#![allow(clippy::enum_variant_names)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Stage {
    Table,
    StageUuid,
    Name,
}

#[derive(DeriveIden)]
enum CaptchaStage {
    Table,
    StagePtrId,
    PublicKey,
    PrivateKey,
    JsUrl,
    ApiUrl,
    Interactive,
    ScoreMinThreshold,
    ScoreMaxThreshold,
    ErrorOnInvalidScore,
}

#[derive(DeriveIden)]
enum Flow {
    Table,
    FlowUuid,
    PolicybindingmodelPtrId,
    Name,
    Slug,
    Title,
    Designation,
    Background,
    PolicyEngineMode,
    CompatibilityMode,
    Layout,
    DeniedAction,
}

#[derive(DeriveIden)]
enum FlowStageBinding {
    Table,
    FsbUuid,
    Target,
    Stage,
    Order,
    EvaluateOnPlan,
    ReEvaluatePolicies,
    InvalidResponseAction,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Id,
    Name,
    TokenHash,
    Permissions,
    Superuser,
    Expires,
    Revoked,
    Created,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Stage::Table)
                    .col(uuid(Stage::StageUuid).primary_key())
                    .col(text(Stage::Name))
                    .to_owned(),
            )
            .await?;
        // Named so that a violation is recognisable on both backends.
        manager
            .create_index(
                Index::create()
                    .name("stage_name_key")
                    .table(Stage::Table)
                    .col(Stage::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CaptchaStage::Table)
                    .col(uuid(CaptchaStage::StagePtrId).primary_key())
                    .col(text(CaptchaStage::PublicKey))
                    .col(text(CaptchaStage::PrivateKey))
                    .col(text(CaptchaStage::JsUrl))
                    .col(text(CaptchaStage::ApiUrl))
                    .col(boolean(CaptchaStage::Interactive))
                    .col(double(CaptchaStage::ScoreMinThreshold))
                    .col(double(CaptchaStage::ScoreMaxThreshold))
                    .col(boolean(CaptchaStage::ErrorOnInvalidScore))
                    .foreign_key(
                        ForeignKey::create()
                            .name("captcha_stage_stage_fk")
                            .from(CaptchaStage::Table, CaptchaStage::StagePtrId)
                            .to(Stage::Table, Stage::StageUuid)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Flow::Table)
                    .col(uuid(Flow::FlowUuid).primary_key())
                    .col(uuid(Flow::PolicybindingmodelPtrId).unique_key())
                    .col(text(Flow::Name))
                    .col(string_len(Flow::Slug, 50))
                    .col(text(Flow::Title))
                    .col(text(Flow::Designation))
                    .col(text_null(Flow::Background))
                    .col(text(Flow::PolicyEngineMode))
                    .col(boolean(Flow::CompatibilityMode))
                    .col(text(Flow::Layout))
                    .col(text(Flow::DeniedAction))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("flow_slug_key")
                    .table(Flow::Table)
                    .col(Flow::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(FlowStageBinding::Table)
                    .col(uuid(FlowStageBinding::FsbUuid).primary_key())
                    .col(uuid(FlowStageBinding::Target))
                    .col(uuid(FlowStageBinding::Stage))
                    .col(integer(FlowStageBinding::Order))
                    .col(boolean(FlowStageBinding::EvaluateOnPlan))
                    .col(boolean(FlowStageBinding::ReEvaluatePolicies))
                    .col(text(FlowStageBinding::InvalidResponseAction))
                    .foreign_key(
                        ForeignKey::create()
                            .name("flow_stage_binding_target_fk")
                            .from(FlowStageBinding::Table, FlowStageBinding::Target)
                            .to(Flow::Table, Flow::FlowUuid)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("flow_stage_binding_stage_fk")
                            .from(FlowStageBinding::Table, FlowStageBinding::Stage)
                            .to(Stage::Table, Stage::StageUuid)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("flow_stage_binding_target_stage_order_key")
                    .table(FlowStageBinding::Table)
                    .col(FlowStageBinding::Target)
                    .col(FlowStageBinding::Stage)
                    .col(FlowStageBinding::Order)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Reading a page of stages loads their bindings by stage.
        manager
            .create_index(
                Index::create()
                    .name("flow_stage_binding_stage_idx")
                    .table(FlowStageBinding::Table)
                    .col(FlowStageBinding::Stage)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiToken::Table)
                    .col(uuid(ApiToken::Id).primary_key())
                    .col(string_len(ApiToken::Name, 200).unique_key())
                    .col(string_len(ApiToken::TokenHash, 64).unique_key())
                    .col(text(ApiToken::Permissions))
                    .col(boolean(ApiToken::Superuser))
                    .col(timestamp_with_time_zone_null(ApiToken::Expires))
                    .col(boolean(ApiToken::Revoked))
                    .col(timestamp_with_time_zone(ApiToken::Created))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            FlowStageBinding::Table.into_iden(),
            CaptchaStage::Table.into_iden(),
            Flow::Table.into_iden(),
            Stage::Table.into_iden(),
            ApiToken::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
