//! The command line: `serve` (the default), `migrate`, `export-schema`, `token …`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::app::{AppState, service};
use crate::auth::{self, NewToken, Permission};
use crate::db;

/// The shortest `BOOTSTRAP_TOKEN` accepted: 32 characters of `[A-Za-z0-9_-]` hold 192 bits,
/// beyond guessing; a shorter one is refused at start rather than served.
pub const MIN_BOOTSTRAP_TOKEN_CHARS: usize = 32;

/// A bootstrap token from the command line or the environment, held as a secret (`Debug`
/// prints nothing of it).
fn parse_bootstrap_token(value: &str) -> Result<SecretString, String> {
    if value.chars().count() < MIN_BOOTSTRAP_TOKEN_CHARS {
        return Err(format!(
            "a bootstrap token needs at least {MIN_BOOTSTRAP_TOKEN_CHARS} characters (generate one with `openssl rand -base64 32`)"
        ));
    }
    Ok(SecretString::from(value))
}

#[derive(Parser, Debug)]
#[command(
    name = "stages-api",
    version,
    about = "authentik's captcha-stage API over GraphQL and REST"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand the service is served: `serve`'s options apply.
    #[command(flatten)]
    serve: ServeArgs,
    /// The database: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://stages.db?mode=rwc",
        global = true
    )]
    database_url: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Migrate the database, then serve REST and GraphQL (the default).
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Write schema.graphql and openapi.json into the current directory; needs no database.
    ExportSchema,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:9000")]
    listen_addr: SocketAddr,
    /// A superuser token with exactly this value (at least 32 characters), registered (hashed)
    /// on every start.
    #[arg(long, env = "BOOTSTRAP_TOKEN", hide_env_values = true, value_parser = parse_bootstrap_token)]
    bootstrap_token: Option<SecretString>,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print it, alone on one line; only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        /// authentik's permission name, e.g. authentik_stages_captcha.view_captchastage.
        #[arg(long = "permission", value_parser = parse_permission)]
        permissions: Vec<Permission>,
        #[arg(long)]
        superuser: bool,
        /// How long the token is valid, e.g. `30d` or `12h`.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke the token called NAME.
    Revoke { name: String },
}

fn parse_permission(name: &str) -> Result<Permission, String> {
    Permission::parse(name).ok_or_else(|| {
        let known: Vec<_> = Permission::ALL.iter().map(|p| p.name()).collect();
        format!("unknown permission; use one of: {}", known.join(", "))
    })
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

pub async fn run(cli: Cli) -> CliResult {
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve(&cli.database_url, args).await,
        Command::Migrate => {
            let db = db::connect(&cli.database_url).await?;
            db::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::ExportSchema => export_schema(),
        Command::Token(command) => token(&cli.database_url, command).await,
    }
}

fn export_schema() -> CliResult {
    std::fs::write("schema.graphql", crate::graphql::build_schema().sdl())?;
    std::fs::write("openapi.json", crate::rest::openapi::openapi_json())?;
    Ok(())
}

async fn serve(database_url: &str, args: ServeArgs) -> CliResult {
    let listen_addr = args.listen_addr;
    let db = db::connect(database_url).await?;
    db::migrate(&db).await?;
    let initial_token = match &args.bootstrap_token {
        Some(secret) => {
            auth::ensure_bootstrap_token(&db.writer, secret).await?;
            None
        }
        None => auth::ensure_initial_token(&db.writer).await?,
    };
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(listen_addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("stages-api is serving on {base}");
    println!("  GraphQL playground: {base}/graphql");
    println!("  REST:               {base}/api/v3/stages/captcha/");
    if let Some(secret) = initial_token {
        let secret = secret.expose_secret();
        println!("A superuser API token was created for this new database. It is shown only now:");
        println!();
        println!("    {secret}");
        println!();
        println!("Try: curl -H 'Authorization: Bearer {secret}' {base}/api/v3/stages/captcha/");
    }
    tracing::info!(address = %listen_addr, "listening");
    axum::serve(listener, service(AppState::new(db)))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM: stop accepting, finish the requests in flight. The handlers
/// are installed when this is called, before the service announces itself, so that a signal
/// sent right after the announcement is never lost to the default action.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

async fn token(database_url: &str, command: TokenCommand) -> CliResult {
    let db = db::connect(database_url).await?;
    db::migrate(&db).await?;
    match command {
        TokenCommand::Create {
            name,
            permissions,
            superuser,
            expires_in,
        } => {
            let expires = match expires_in {
                Some(duration) => Some(chrono::Utc::now() + chrono::Duration::from_std(duration)?),
                None => None,
            };
            let token = NewToken {
                name,
                permissions,
                superuser,
                expires,
            };
            let secret = auth::create_token(&db.writer, token).await?;
            println!("{}", secret.expose_secret());
        }
        TokenCommand::List => {
            println!(
                "{:<24} {:<9} {:<8} {:<26} PERMISSIONS",
                "NAME", "SUPERUSER", "REVOKED", "EXPIRES"
            );
            for token in auth::list_tokens(&db.reader).await? {
                let expires = token
                    .expires
                    .map_or("never".to_string(), |at| at.to_rfc3339());
                println!(
                    "{:<24} {:<9} {:<8} {:<26} {}",
                    token.name, token.superuser, token.revoked, expires, token.permissions
                );
            }
        }
        TokenCommand::Revoke { name } => {
            if !auth::revoke_token(&db.writer, &name).await? {
                return Err(format!("no token called {name:?}").into());
            }
            eprintln!("revoked {name}");
        }
    }
    Ok(())
}
