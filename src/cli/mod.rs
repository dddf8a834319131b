//! The command line: `serve` (the default), `migrate`, `export-schema`, `token …`. Every option
//! has a flag, an environment variable and a working default; errors name what went wrong and
//! what to do (`friendly`), never a raw database error.

mod friendly;
mod token;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::app::{AppState, service};
use crate::auth::{self, Permission};
use crate::config::Settings;
use crate::db::{self, PoolOptions};
pub use friendly::CliError;
use friendly::redact;

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the version and the commit the binary was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("STAGES_API_COMMIT"),
    ")"
);

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

/// A size in bytes: a number, optionally with `KiB`, `MiB` (or `KB`, `MB`, `k`, `M`).
fn parse_size(value: &str) -> Result<usize, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{value:?} is not a size: use e.g. 1048576, 512KiB or 1MiB"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(format!("{value:?}: the unit must be KiB or MiB")),
    };
    number
        .checked_mul(factor)
        .filter(|size| *size > 0)
        .ok_or_else(|| format!("{value:?} is not a usable size"))
}

fn parse_permission(name: &str) -> Result<Permission, String> {
    Permission::parse(name).ok_or_else(|| {
        let known: Vec<_> = Permission::ALL.iter().map(|p| p.name()).collect();
        format!("unknown permission; use one of: {}", known.join(", "))
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

#[derive(Parser, Debug)]
#[command(
    name = "stages-api",
    version = VERSION,
    about = "authentik's captcha-stage, flow and binding APIs over REST and GraphQL, with authentik's flow executor",
    long_about = "authentik's captcha-stage, flow and binding APIs over REST and GraphQL, with authentik's flow executor.\n\nWith no command, `serve` runs: it creates and migrates the database when needed and serves on LISTEN_ADDR."
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand the service is served: `serve`'s options apply.
    #[command(flatten)]
    serve: ServeArgs,
    /// The database: `sqlite://FILE?mode=rwc` (created when missing) or
    /// `postgres://USER:PASSWORD@HOST:5432/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://stages.db?mode=rwc",
        global = true
    )]
    database_url: String,
    /// Connections: PostgreSQL's pool, or SQLite's readers (at most 4; SQLite always has one
    /// writer).
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 8, global = true)]
    pool_size: u32,
    /// How long a request waits for a database connection before it is answered 503.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    acquire_timeout: Duration,
    /// Log lines as `text` or `json` (the level is RUST_LOG's, `info` by default).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    log_format: LogFormat,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Migrate the database (creating a SQLite file when needed), then serve REST and GraphQL
    /// (the default).
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Write schema.graphql and openapi.json into the current directory; needs no database.
    ExportSchema,
    /// Manage API tokens (on an existing, migrated database).
    #[command(subcommand)]
    Token(token::TokenCommand),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The address and port to serve on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:9000")]
    listen_addr: SocketAddr,
    /// A superuser token with exactly this value (at least 32 characters), registered (hashed)
    /// on every start.
    #[arg(long, env = "BOOTSTRAP_TOKEN", hide_env_values = true, value_parser = parse_bootstrap_token)]
    bootstrap_token: Option<SecretString>,
    /// The longest a request may take before it is answered 503.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// The largest request body accepted (413 beyond it), e.g. 1MiB or 262144.
    #[arg(long, env = "BODY_LIMIT", default_value = "1MiB", value_parser = parse_size)]
    body_limit: usize,
    /// How long a captcha provider's siteverify may take before the token is refused
    /// (`Failed to validate token`).
    #[arg(long, env = "SITEVERIFY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    siteverify_timeout: Duration,
    /// How long a flow plan lives without a request.
    #[arg(long, env = "PLAN_IDLE_TIMEOUT", default_value = "1h", value_parser = humantime::parse_duration)]
    plan_idle_timeout: Duration,
    /// Mark the flow executor's session cookie `Secure` (the service is reached over https).
    #[arg(long, env = "SECURE_COOKIES", default_value_t = false)]
    secure_cookies: bool,
    /// Reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names
    /// the client.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', num_args = 0..)]
    trusted_proxies: Vec<IpNet>,
}

impl ServeArgs {
    fn settings(&self) -> Settings {
        Settings {
            request_timeout: self.request_timeout,
            body_limit: self.body_limit,
            siteverify_timeout: self.siteverify_timeout,
            plan_idle_timeout: self.plan_idle_timeout,
            secure_cookies: self.secure_cookies,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

impl Cli {
    /// The log format the command line asks for.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// Whether the command is the service (info lines by default) rather than a one-off
    /// command (warnings only, so that a success prints just its result).
    pub fn serves(&self) -> bool {
        matches!(self.command, None | Some(Command::Serve(_)))
    }

    fn pool(&self) -> PoolOptions {
        PoolOptions {
            size: self.pool_size,
            acquire_timeout: self.acquire_timeout,
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let pool = cli.pool();
    let url = cli.database_url.clone();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve(&url, pool, args).await,
        Command::Migrate => migrate(&url, pool).await,
        Command::ExportSchema => export_schema(),
        Command::Token(command) => token::run(&url, pool, command).await,
    }
}

fn export_schema() -> Result<(), CliError> {
    let write = |file: &str, text: String| {
        std::fs::write(file, text)
            .map_err(|err| CliError::new(format!("cannot write {file}: {err}")))
    };
    write(
        "schema.graphql",
        crate::graphql::sdl(&crate::graphql::build_schema()),
    )?;
    write("openapi.json", crate::rest::openapi::openapi_json())
}

/// `migrate`: what it does on standard error, and nothing else.
async fn migrate(url: &str, pool: PoolOptions) -> Result<(), CliError> {
    let db = friendly::connect(url, pool).await?;
    let pending = db::pending_migrations(&db).await.unwrap_or(usize::MAX);
    if pending == 0 {
        eprintln!("{} is up to date.", redact(url));
        return Ok(());
    }
    eprint!("Migrating {}… ", redact(url));
    db::migrate(&db)
        .await
        .map_err(|err| friendly::database(url, &err))?;
    eprintln!("done.");
    Ok(())
}

async fn serve(url: &str, pool: PoolOptions, args: ServeArgs) -> Result<(), CliError> {
    let listen_addr = args.listen_addr;
    let db = friendly::connect(url, pool).await?;
    db::migrate(&db)
        .await
        .map_err(|err| friendly::database(url, &err))?;
    let initial_token = match &args.bootstrap_token {
        Some(secret) => {
            auth::ensure_bootstrap_token(&db.writer, secret)
                .await
                .map_err(|err| friendly::database(url, &err))?;
            None
        }
        None => auth::ensure_initial_token(&db.writer)
            .await
            .map_err(|err| friendly::database(url, &err))?,
    };
    let shutdown =
        shutdown_signal().map_err(|err| CliError::new(format!("cannot handle signals: {err}")))?;
    let listener = TcpListener::bind(listen_addr)
        .await
        .map_err(|err| friendly::listen(listen_addr, &err))?;
    let local = listener
        .local_addr()
        .map_err(|err| friendly::listen(listen_addr, &err))?;
    let base = format!("http://{local}");
    println!("stages-api is serving on {base}");
    println!("  GraphQL playground: {base}/graphql");
    println!("  REST:               {base}/api/v3/stages/captcha/");
    println!("  Metrics:            {base}/metrics");
    if let Some(secret) = initial_token {
        let secret = secret.expose_secret();
        println!("A superuser API token was created for this new database. It is shown only now:");
        println!();
        println!("    {secret}");
        println!();
        println!("Try: curl -H 'Authorization: Bearer {secret}' {base}/api/v3/stages/captcha/");
    }
    tracing::info!(address = %local, version = VERSION, "listening");
    axum::serve(
        listener,
        service(AppState::with_settings(db, args.settings())),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|err| CliError::new(format!("serving on {local} failed: {err}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1GiB").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn every_option_has_help() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                assert!(
                    arg.get_help().is_some() || arg.get_long_help().is_some(),
                    "{} --{id} has no help",
                    command.get_name()
                );
            }
            command.get_subcommands().for_each(walk);
        }
        walk(&Cli::command());
    }
}
