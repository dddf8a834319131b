//! Creating, listing and revoking tokens (the `token` commands), and the tokens registered at
//! start: `BOOTSTRAP_TOKEN`, or a first superuser token for an empty database.

use crate::db::Connection;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::api_token;
use rand::RngCore;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{Permission, hash_token};

/// 32 random bytes: 256 bits, 43 characters of `[A-Za-z0-9_-]`.
const SECRET_BYTES: usize = 32;
const INITIAL_TOKEN_NAME: &str = "initial-superuser";

pub struct NewToken {
    pub name: String,
    pub permissions: Vec<Permission>,
    pub superuser: bool,
    pub expires: Option<DateTime<Utc>>,
}

/// A token as `token list` shows it: never its secret or hash.
#[derive(Debug)]
pub struct TokenInfo {
    pub name: String,
    pub superuser: bool,
    pub permissions: String,
    pub expires: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub created: DateTime<Utc>,
}

fn generate_secret() -> SecretString {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

fn token_row(token: &NewToken, secret: &SecretString) -> api_token::ActiveModel {
    api_token::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(token.name.clone()),
        token_hash: Set(hash_token(secret.expose_secret())),
        permissions: Set(token
            .permissions
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(" ")),
        superuser: Set(token.superuser),
        expires: Set(token.expires),
        revoked: Set(false),
        created: Set(Utc::now()),
    }
}

/// Stores a new token and returns its secret, which exists nowhere else afterwards.
pub async fn create_token(conn: &impl Connection, token: NewToken) -> Result<SecretString, DbErr> {
    let secret = generate_secret();
    api_token::Entity::insert(token_row(&token, &secret))
        .exec_without_returning(conn)
        .await?;
    Ok(secret)
}

pub async fn list_tokens(conn: &impl Connection) -> Result<Vec<TokenInfo>, DbErr> {
    Ok(api_token::Entity::find()
        .order_by_asc(api_token::Column::Created)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| TokenInfo {
            name: row.name,
            superuser: row.superuser,
            permissions: row.permissions,
            expires: row.expires,
            revoked: row.revoked,
            created: row.created,
        })
        .collect())
}

/// Revokes the token called `name`; false when there is none.
pub async fn revoke_token(conn: &impl Connection, name: &str) -> Result<bool, DbErr> {
    let result = api_token::Entity::update_many()
        .col_expr(api_token::Column::Revoked, true.into())
        .filter(api_token::Column::Name.eq(name))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Registers `BOOTSTRAP_TOKEN` as a superuser token. Idempotent, and safe when several
/// instances start at once: a second insert of the same hash does nothing.
pub async fn ensure_bootstrap_token(
    conn: &impl Connection,
    secret: &SecretString,
) -> Result<(), DbErr> {
    let hash = hash_token(secret.expose_secret());
    let token = NewToken {
        // Named by its hash so that a changed BOOTSTRAP_TOKEN registers beside the old one.
        name: format!("bootstrap-{}", &hash[..12]),
        permissions: Vec::new(),
        superuser: true,
        expires: None,
    };
    api_token::Entity::insert(token_row(&token, secret))
        .on_conflict_do_nothing_on([api_token::Column::TokenHash])
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// On a database without any token, creates a superuser token and returns its secret, so that
/// a new user can call the API at once. Instances starting together create at most one: the
/// name is unique, and the loser of that race returns `None`.
pub async fn ensure_initial_token(conn: &impl Connection) -> Result<Option<SecretString>, DbErr> {
    if api_token::Entity::find().count(conn).await? > 0 {
        return Ok(None);
    }
    let token = NewToken {
        name: INITIAL_TOKEN_NAME.to_string(),
        permissions: Vec::new(),
        superuser: true,
        expires: None,
    };
    let secret = generate_secret();
    let inserted = api_token::Entity::insert(token_row(&token, &secret))
        .on_conflict_do_nothing_on([api_token::Column::Name])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0).then_some(secret))
}
