//! `stages-api token create | list | revoke`, on the service's existing, migrated database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use secrecy::ExposeSecret;

use super::friendly::{self, CliError, redact};
use super::parse_permission;
use crate::auth::{self, NewToken, Permission};
use crate::db::PoolOptions;
use crate::error::ServiceError;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it, alone on one line; only its hash is stored.
    Create {
        /// A name for the token, unique among all tokens (revoked ones keep theirs).
        #[arg(long)]
        name: String,
        /// authentik's permission name, e.g. authentik_stages_captcha.view_captchastage or
        /// authentik_flows.add_flow; repeat for several.
        #[arg(long = "permission", value_parser = parse_permission)]
        permissions: Vec<Permission>,
        /// A token that may do everything.
        #[arg(long)]
        superuser: bool,
        /// How long the token is valid, e.g. `30d` or `12h` (no expiry when left out).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke the token called NAME (it keeps its name).
    Revoke {
        /// The token's name, as `token list` shows it.
        name: String,
    },
}

/// A time as a person reads it: `2026-12-30 10:28 UTC`.
fn readable(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub async fn run(url: &str, pool: PoolOptions, command: TokenCommand) -> Result<(), CliError> {
    let db = friendly::connect_existing(url, pool).await?;
    let failed = |err: sea_orm::DbErr| friendly::database(url, &err);
    match command {
        TokenCommand::Create {
            name,
            permissions,
            superuser,
            expires_in,
        } => {
            let expires = match expires_in {
                Some(duration) => Some(
                    chrono::Duration::from_std(duration)
                        .ok()
                        .and_then(|d| Utc::now().checked_add_signed(d))
                        .ok_or_else(|| CliError::new("--expires-in is too far in the future"))?,
                ),
                None => None,
            };
            if permissions.is_empty() && !superuser {
                eprintln!(
                    "warning: this token has no permission and is not a superuser: it can call nothing; add --permission … or --superuser"
                );
            }
            let token = NewToken {
                name: name.clone(),
                permissions,
                superuser,
                expires,
            };
            let secret = match auth::create_token(&db.writer, token).await {
                Ok(secret) => secret,
                Err(err) => {
                    return Err(match ServiceError::from(err.clone()) {
                        ServiceError::UniqueViolation => CliError::new(format!(
                            "a token called {name:?} exists already in {} (revoked tokens keep their name): choose another --name",
                            redact(url)
                        )),
                        _ => failed(err),
                    });
                }
            };
            println!("{}", secret.expose_secret());
        }
        TokenCommand::List => {
            let tokens = auth::list_tokens(&db.reader).await.map_err(failed)?;
            println!(
                "{:<24} {:<9} {:<7} {:<30} {:<20} PERMISSIONS",
                "NAME", "SUPERUSER", "REVOKED", "EXPIRES", "CREATED"
            );
            let now = Utc::now();
            for token in tokens {
                let expires = match token.expires {
                    None => "never".to_string(),
                    Some(at) if at <= now => format!("{} (expired)", readable(at)),
                    Some(at) => readable(at),
                };
                let yes_no = |b: bool| if b { "yes" } else { "no" };
                println!(
                    "{:<24} {:<9} {:<7} {:<30} {:<20} {}",
                    token.name,
                    yes_no(token.superuser),
                    yes_no(token.revoked),
                    expires,
                    readable(token.created),
                    if token.permissions.is_empty() {
                        "-"
                    } else {
                        token.permissions.as_str()
                    }
                );
            }
        }
        TokenCommand::Revoke { name } => {
            if !auth::revoke_token(&db.writer, &name)
                .await
                .map_err(failed)?
            {
                return Err(CliError::new(format!(
                    "there is no token called {name:?} in {} (see `stages-api token list`)",
                    redact(url)
                )));
            }
            eprintln!("revoked {name}");
        }
    }
    Ok(())
}
