//! The flow executor's plans: one per browser session (keyed by the SHA-256 of its session
//! cookie, never the cookie itself), holding the flow, the bindings still to run, the plan's
//! context and the page's query string, so that any instance can continue a plan. `version`
//! makes an advance conditional: two answers to one plan advance it at most once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlowPlan {
    Table,
    SessionHash,
    Flow,
    Pending,
    Context,
    Query,
    Version,
    Updated,
}

#[derive(DeriveIden)]
enum Flow {
    Table,
    FlowUuid,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FlowPlan::Table)
                    .col(string_len(FlowPlan::SessionHash, 64).primary_key())
                    .col(uuid(FlowPlan::Flow))
                    .col(text(FlowPlan::Pending))
                    .col(text(FlowPlan::Context))
                    .col(text(FlowPlan::Query))
                    .col(big_integer(FlowPlan::Version))
                    .col(timestamp_with_time_zone(FlowPlan::Updated))
                    .foreign_key(
                        ForeignKey::create()
                            .name("flow_plan_flow_fk")
                            .from(FlowPlan::Table, FlowPlan::Flow)
                            .to(Flow::Table, Flow::FlowUuid)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Expired plans are swept by age.
        manager
            .create_index(
                Index::create()
                    .name("flow_plan_updated_idx")
                    .table(FlowPlan::Table)
                    .col(FlowPlan::Updated)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FlowPlan::Table).to_owned())
            .await
    }
}
