//! An API token of this service. Only the SHA-256 of the secret is stored; a request finds its
//! token by that hash through the unique index.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    /// Lower-case hex SHA-256 of the secret.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// authentik permission names, space separated.
    pub permissions: String,
    pub superuser: bool,
    pub expires: Option<DateTimeUtc>,
    pub revoked: bool,
    pub created: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
