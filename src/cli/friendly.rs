//! Errors of the command line as a person should read them: what failed, with the database URL
//! (its password hidden) or the address it concerns, and what to do. Never a raw driver message
//! with its source line.

use std::net::SocketAddr;
use std::path::PathBuf;

use sea_orm::DbErr;
use sea_orm::sqlx;

use crate::db::{self, Db, PoolOptions};

/// An error of the command line, printed as `stages-api: <message>`.
#[derive(Debug)]
pub struct CliError(String);

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError(message.into())
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

/// The URL as it may be shown: without its password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The file a SQLite URL names (`None` for an in-memory database).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:" && !url.contains("mode=memory"))
        .then(|| PathBuf::from(path))
}

/// A database error, explained.
pub fn database(url: &str, err: &DbErr) -> CliError {
    let shown = redact(url);
    let Some(sqlx_err) = db::sqlx_error(err) else {
        return CliError::new(format!("the database at {shown} failed: {err}"));
    };
    match sqlx_err {
        sqlx::Error::Configuration(_) => CliError::new(format!(
            "{shown} is not a database URL this service reads: use sqlite://FILE?mode=rwc or postgres://USER:PASSWORD@HOST:5432/DB"
        )),
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            CliError::new(format!(
                "cannot connect to {shown}: the connection was refused (is the database server running on that host and port?)"
            ))
        }
        sqlx::Error::Io(io) => CliError::new(format!("cannot connect to {shown}: {io}")),
        sqlx::Error::Tls(tls) => CliError::new(format!(
            "cannot connect to {shown} over TLS: {tls} (for a database on this host, add ?sslmode=disable)"
        )),
        sqlx::Error::PoolTimedOut => CliError::new(format!(
            "cannot connect to {shown}: no connection within the acquire timeout (is the server up and reachable?)"
        )),
        sqlx::Error::Database(db_err) => {
            let code = db_err.code().unwrap_or_default();
            match code.as_ref() {
                "3D000" => CliError::new(format!(
                    "{shown}: the database does not exist on that server: create it (e.g. `createdb`) or fix DATABASE_URL"
                )),
                "28P01" | "28000" => CliError::new(format!(
                    "{shown}: the server refused these credentials: check the user and password in DATABASE_URL"
                )),
                "14" if is_sqlite(url) => CliError::new(format!(
                    "cannot open the SQLite database {shown}: check that its folder exists and is writable"
                )),
                _ => CliError::new(format!(
                    "the database at {shown} failed: {}",
                    db_err.message()
                )),
            }
        }
        other => CliError::new(format!("the database at {shown} failed: {other}")),
    }
}

/// A failure to listen, explained (the address in use is the common one).
pub fn listen(addr: SocketAddr, err: &std::io::Error) -> CliError {
    match err.kind() {
        std::io::ErrorKind::AddrInUse => CliError::new(format!(
            "cannot listen on {addr}: the address is already in use (is another stages-api running?); choose another with --listen-addr or LISTEN_ADDR"
        )),
        std::io::ErrorKind::PermissionDenied => CliError::new(format!(
            "cannot listen on {addr}: permission denied (ports below 1024 need privileges); choose another with --listen-addr or LISTEN_ADDR"
        )),
        std::io::ErrorKind::AddrNotAvailable => CliError::new(format!(
            "cannot listen on {addr}: this machine has no such address; choose another with --listen-addr or LISTEN_ADDR"
        )),
        _ => CliError::new(format!("cannot listen on {addr}: {err}")),
    }
}

/// Connects (creating a SQLite file when the URL says `mode=rwc`), with explained errors.
pub async fn connect(url: &str, pool: PoolOptions) -> Result<Db, CliError> {
    if !is_sqlite(url) && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(CliError::new(format!(
            "{} is not a database URL this service reads: use sqlite://FILE?mode=rwc or postgres://USER:PASSWORD@HOST:5432/DB",
            redact(url)
        )));
    }
    db::connect_with(url, pool)
        .await
        .map_err(|err| database(url, &err))
}

/// Opens a database that must exist and be migrated already (the token commands): never
/// creates a file, never migrates.
pub async fn connect_existing(url: &str, pool: PoolOptions) -> Result<Db, CliError> {
    let url = if is_sqlite(url) {
        let path = sqlite_path(url).ok_or_else(|| {
            CliError::new(format!(
                "{url} is an in-memory database: it has no tokens; point DATABASE_URL at the service's database file"
            ))
        })?;
        if !path.exists() {
            return Err(CliError::new(format!(
                "there is no database at {} ({}): start the service once with this DATABASE_URL (it creates and migrates it), or point --database-url / DATABASE_URL at the service's database",
                path.display(),
                redact(url)
            )));
        }
        // Read-write, never create.
        url.replace("mode=rwc", "mode=rw")
    } else {
        url.to_string()
    };
    let db = connect(&url, pool).await?;
    match db::pending_migrations(&db).await {
        Ok(0) => Ok(db),
        Ok(_) | Err(_) => Err(CliError::new(format!(
            "the database at {} is not migrated (or is not this service's): run `stages-api migrate` or start the service once with this DATABASE_URL",
            redact(&url)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/stages"),
            "postgres://app:***@db:5432/stages"
        );
        assert_eq!(
            redact("sqlite://stages.db?mode=rwc"),
            "sqlite://stages.db?mode=rwc"
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/stages.db?mode=rwc"),
            Some(PathBuf::from("data/stages.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
