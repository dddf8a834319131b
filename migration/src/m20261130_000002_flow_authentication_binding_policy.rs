//! Flows and bindings as resources of their own: a flow's `authentication` requirement, and a
//! binding's own policy-binding id and `policy_engine_mode` (in authentik a binding, like a
//! flow, is a policy-binding model). Existing bindings get a fresh policy-binding id.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Flow {
    Table,
    Authentication,
}

#[derive(DeriveIden)]
enum FlowStageBinding {
    Table,
    FsbUuid,
    PolicybindingmodelPtrId,
    PolicyEngineMode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Flow::Table)
                    .add_column(
                        ColumnDef::new(Flow::Authentication)
                            .text()
                            .not_null()
                            .default("none"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FlowStageBinding::Table)
                    .add_column(
                        ColumnDef::new(FlowStageBinding::PolicyEngineMode)
                            .text()
                            .not_null()
                            .default("any"),
                    )
                    .to_owned(),
            )
            .await?;
        // Nullable only so that SQLite can add it to a table with rows; every row gets one here
        // and every new binding gets one from the service.
        manager
            .alter_table(
                Table::alter()
                    .table(FlowStageBinding::Table)
                    .add_column(ColumnDef::new(FlowStageBinding::PolicybindingmodelPtrId).uuid())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let select = Query::select()
            .column(FlowStageBinding::FsbUuid)
            .from(FlowStageBinding::Table)
            .to_owned();
        for row in db.query_all(&select).await? {
            let id: uuid::Uuid = row.try_get("", "fsb_uuid")?;
            let update = Query::update()
                .table(FlowStageBinding::Table)
                .value(
                    FlowStageBinding::PolicybindingmodelPtrId,
                    uuid::Uuid::new_v4(),
                )
                .and_where(Expr::col(FlowStageBinding::FsbUuid).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("flow_stage_binding_policybindingmodel_ptr_id_key")
                    .table(FlowStageBinding::Table)
                    .col(FlowStageBinding::PolicybindingmodelPtrId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("flow_stage_binding_policybindingmodel_ptr_id_key")
                    .table(FlowStageBinding::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            FlowStageBinding::PolicybindingmodelPtrId,
            FlowStageBinding::PolicyEngineMode,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FlowStageBinding::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Flow::Table)
                    .drop_column(Flow::Authentication)
                    .to_owned(),
            )
            .await
    }
}
