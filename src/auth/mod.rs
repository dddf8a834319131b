//! API tokens and the principal they authenticate. A token is a random secret; only its SHA-256
//! is stored, and a request finds its token by that hash in one indexed lookup (a slow password
//! hash buys nothing for 256-bit random secrets and would cost milliseconds per request).

mod tokens;

pub use tokens::{
    NewToken, TokenInfo, create_token, ensure_bootstrap_token, ensure_initial_token, list_tokens,
    revoke_token,
};

use crate::db::Connection;
use entity::api_token;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use sha2::{Digest, Sha256};

use crate::db::{KeyedRead, keyed_statement};
use crate::error::ServiceError;
use crate::object::Columns;

/// Declares the permissions of this API, each by authentik's full name.
macro_rules! permissions {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// The permissions of this API, by authentik's names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Permission { $($variant),+ }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $(Permission::$variant => $name),+ }
            }
        }
    };
}

permissions! {
    AddCaptchaStage => "authentik_stages_captcha.add_captchastage",
    ViewCaptchaStage => "authentik_stages_captcha.view_captchastage",
    ChangeCaptchaStage => "authentik_stages_captcha.change_captchastage",
    DeleteCaptchaStage => "authentik_stages_captcha.delete_captchastage",
    AddFlow => "authentik_flows.add_flow",
    ViewFlow => "authentik_flows.view_flow",
    ChangeFlow => "authentik_flows.change_flow",
    DeleteFlow => "authentik_flows.delete_flow",
    AddFlowStageBinding => "authentik_flows.add_flowstagebinding",
    ViewFlowStageBinding => "authentik_flows.view_flowstagebinding",
    ChangeFlowStageBinding => "authentik_flows.change_flowstagebinding",
    DeleteFlowStageBinding => "authentik_flows.delete_flowstagebinding",
}

impl Permission {
    /// Reads a full name (`authentik_stages_captcha.view_captchastage`) or its codename.
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.name() == name || p.name().split_once('.').map(|(_, c)| c) == Some(name))
    }
}

/// Who is calling: the token that authenticated the request and what it may do.
#[derive(Clone, Debug)]
pub struct Principal {
    superuser: bool,
    permissions: Vec<Permission>,
}

impl Principal {
    /// A caller without credentials: it may do nothing (it may read the schema, which needs no
    /// permission).
    pub fn anonymous() -> Self {
        Principal {
            superuser: false,
            permissions: Vec::new(),
        }
    }

    pub fn may(&self, permission: Permission) -> bool {
        self.superuser || self.permissions.contains(&permission)
    }

    pub fn require(&self, permission: Permission) -> Result<(), ServiceError> {
        if self.may(permission) {
            Ok(())
        } else {
            crate::telemetry::token_refused("forbidden");
            Err(ServiceError::PermissionDenied)
        }
    }
}

/// Lower-case hex SHA-256: the form in which tokens are stored and looked up.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The credential of an `Authorization` header as authentik reads it: the header splits on
/// white space into exactly the scheme `Bearer` (any case) and the token; anything else counts
/// as no credentials.
pub fn bearer_credential(header: Option<&[u8]>) -> Option<&str> {
    let header = std::str::from_utf8(header?).ok()?;
    let mut parts = header.split_whitespace();
    let (scheme, credential) = (parts.next()?, parts.next()?);
    (scheme.eq_ignore_ascii_case("bearer") && parts.next().is_none()).then_some(credential)
}

/// permissions, superuser, expires, revoked
type TokenRow = (String, bool, Option<chrono::DateTime<chrono::Utc>>, bool);

fn invalid_token() -> ServiceError {
    crate::telemetry::token_refused("invalid");
    ServiceError::InvalidToken
}

/// Authenticates a request by its `Authorization` header: one indexed lookup by hash.
pub async fn authenticate(
    conn: &impl Connection,
    authorization: Option<&[u8]>,
) -> Result<Principal, ServiceError> {
    let Some(credential) = bearer_credential(authorization) else {
        crate::telemetry::token_refused("missing");
        return Err(ServiceError::NotAuthenticated);
    };
    use api_token::Column as T;
    // Only what a request needs, decoded by position, from a text kept by shape: this runs on
    // every request.
    let hash = hash_token(credential);
    let read = KeyedRead {
        shape: "token by hash",
        columns: Columns::All,
        keys: vec![hash.clone().into()],
    };
    let statement = keyed_statement(conn.get_database_backend(), read, || {
        Ok::<_, DbErr>(
            api_token::Entity::find()
                .select_only()
                .columns([T::Permissions, T::Superuser, T::Expires, T::Revoked])
                .filter(T::TokenHash.eq(hash)),
        )
    })?;
    let row = crate::db::query_one(conn, statement)
        .await?
        .ok_or_else(invalid_token)?;
    let (permissions, superuser, expires, revoked): TokenRow = row.try_get_many_by_index()?;
    let expired = expires.is_some_and(|at| at <= chrono::Utc::now());
    if revoked || expired {
        return Err(invalid_token());
    }
    Ok(Principal {
        superuser,
        permissions: permissions
            .split_whitespace()
            .filter_map(Permission::parse)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_forms() {
        let read = |h: &str| bearer_credential(Some(h.as_bytes())).map(str::to_string);
        assert_eq!(read("Bearer abc"), Some("abc".into()));
        assert_eq!(read("bEaReR   abc"), Some("abc".into()));
        assert_eq!(read("Bearer"), None);
        assert_eq!(read("Bearer "), None);
        assert_eq!(read("Basic abc"), None);
        assert_eq!(read("Bearer a b"), None);
        assert_eq!(bearer_credential(None), None);
    }

    #[test]
    fn permissions_by_full_name_or_codename() {
        assert_eq!(
            Permission::parse("authentik_stages_captcha.view_captchastage"),
            Some(Permission::ViewCaptchaStage)
        );
        assert_eq!(
            Permission::parse("delete_captchastage"),
            Some(Permission::DeleteCaptchaStage)
        );
        assert_eq!(
            Permission::parse("authentik_flows.view_flow"),
            Some(Permission::ViewFlow)
        );
        assert_eq!(Permission::parse("authentik_flows.view_nothing"), None);
    }
}
