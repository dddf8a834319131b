//! Database connections and migrations. SQLite gets one writer connection (SQLite runs one
//! write at a time anyway, and a single writer never meets SQLITE_BUSY on a lock upgrade) and a
//! small pool of readers, in WAL mode; PostgreSQL gets one pool for both.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// PostgreSQL on a 2-core machine peaks at about 8 connections; more costs throughput.
const POSTGRES_POOL_SIZE: u32 = 8;
const SQLITE_READERS: u32 = 4;
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Serialises migrations of instances that start together on one PostgreSQL database.
const MIGRATION_LOCK_KEY: i64 = 0x5354_4147_4553; // "STAGES"

#[derive(Clone, Debug)]
pub struct Db {
    /// For reads outside a write transaction.
    pub reader: DatabaseConnection,
    /// For transactions that write.
    pub writer: DatabaseConnection,
}

fn options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // Statement logs would carry request data (private keys among it) at debug level.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    options
}

/// Connects to `url` (`sqlite://…` or `postgres://…`).
pub async fn connect(url: &str) -> Result<Db, DbErr> {
    if url.starts_with("sqlite:") {
        let writer = Database::connect(options(url, 1)).await?;
        // An in-memory database exists once per connection: readers must share the writer's.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(Db {
                reader: writer.clone(),
                writer,
            });
        }
        let reader = Database::connect(options(url, SQLITE_READERS)).await?;
        Ok(Db { reader, writer })
    } else {
        let pool = Database::connect(options(url, POSTGRES_POOL_SIZE)).await?;
        Ok(Db {
            reader: pool.clone(),
            writer: pool,
        })
    }
}

impl Db {
    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a transaction that reads first and upgrades later could meet another
    /// process's writer and fail with SQLITE_BUSY instead of waiting.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        if self.writer.get_database_backend() == DatabaseBackend::Sqlite {
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            self.writer.begin_with_options(options).await
        } else {
            self.writer.begin().await
        }
    }
}

/// Applies pending migrations in one transaction. Instances starting together take turns: on
/// PostgreSQL through an advisory lock, on SQLite through the write lock.
pub async fn migrate(db: &Db) -> Result<(), DbErr> {
    let txn = db.begin_write().await?;
    if db.writer.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
        ))
        .await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Whether the database answers (the readiness probe).
pub async fn ping(db: &Db) -> bool {
    db.reader.ping().await.is_ok() && db.writer.ping().await.is_ok()
}
