//! Schema migrations of stages-api, one file per schema step. The same migrations serve SQLite
//! and PostgreSQL; tests always build their databases through them.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_tables;
mod m20261130_000002_flow_authentication_binding_policy;
mod m20261130_000003_flow_plans;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_tables::Migration),
            Box::new(m20261130_000002_flow_authentication_binding_policy::Migration),
            Box::new(m20261130_000003_flow_plans::Migration),
        ]
    }
}
