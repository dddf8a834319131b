//! Database connections and migrations. SQLite gets one writer connection (SQLite runs one
//! write at a time anyway, and a single writer never meets SQLITE_BUSY on a lock upgrade) and a
//! small pool of readers, in WAL mode; PostgreSQL gets one pool for both.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};

use crate::error::ServiceError;
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, FromQueryResult, QuerySelect,
    QueryTrait, Select, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    UpdateMany, Value,
};

use crate::object::{Columns, StoredObject};

/// How many connections the service opens, and how long a request waits for one. PostgreSQL on
/// a 2-core machine peaks at about 8 connections; more costs throughput.
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    /// PostgreSQL: the pool; SQLite: the readers (SQLite always has one writer).
    pub size: u32,
    /// How long a request waits for a connection before it is answered 503: well inside the
    /// request timeout, so that an outage is reported as one instead of as a timeout.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            size: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// SQLite serves reads from at most this many connections (more did not read faster here).
const SQLITE_READERS: u32 = 4;
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Serialises migrations of instances that start together on one PostgreSQL database.
const MIGRATION_LOCK_KEY: i64 = 0x5354_4147_4553; // "STAGES"

#[derive(Clone, Debug)]
pub struct Db {
    /// For reads outside a write transaction.
    pub reader: DatabaseConnection,
    /// For transactions that write.
    pub writer: DatabaseConnection,
}

fn options(url: &str, max_connections: u32, acquire_timeout: Duration) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(acquire_timeout)
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

/// Connects to `url` (`sqlite://…` or `postgres://…`) with the default pool.
pub async fn connect(url: &str) -> Result<Db, DbErr> {
    connect_with(url, PoolOptions::default()).await
}

pub async fn connect_with(url: &str, pool: PoolOptions) -> Result<Db, DbErr> {
    let timeout = pool.acquire_timeout;
    if url.starts_with("sqlite:") {
        let writer = connect_sqlite(options(url, 1, timeout)).await?;
        // An in-memory database exists once per connection: readers must share the writer's.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(Db {
                reader: writer.clone(),
                writer,
            });
        }
        let reader =
            connect_sqlite(options(url, pool.size.clamp(1, SQLITE_READERS), timeout)).await?;
        Ok(Db { reader, writer })
    } else {
        let pool = Database::connect(options(url, pool.size.max(1), timeout)).await?;
        Ok(Db {
            reader: pool.clone(),
            writer: pool,
        })
    }
}

/// Opens an SQLite pool, again while the file is busy. Switching a new file to WAL takes an
/// exclusive lock without calling the busy handler, so instances that open one new file at the
/// same moment (two services starting on an empty database) would otherwise see "database is
/// locked" at start. Once the file is in WAL mode, opening it takes no such lock.
async fn connect_sqlite(options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    let deadline = tokio::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
    loop {
        match Database::connect(options.clone()).await {
            Err(err) if is_sqlite_busy(&err) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            connected => return connected,
        }
    }
}

fn is_sqlite_busy(err: &DbErr) -> bool {
    match sqlx_error(err) {
        Some(sea_orm::sqlx::Error::Database(db)) => {
            db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
                && sqlite_code_is_busy(&db.code().unwrap_or_default())
        }
        _ => false,
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

/// How often a write that lost a race to another transaction runs again before it gives up.
const WRITE_ATTEMPTS: usize = 3;

/// Runs a write transaction, again when PostgreSQL rolled it back for racing another
/// (serialization failure, deadlock); after [`WRITE_ATTEMPTS`] such losses the client is told to
/// try again shortly (503).
pub async fn with_write_retries<T, F, Fut>(mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    for _ in 0..WRITE_ATTEMPTS {
        match attempt().await {
            Err(ServiceError::WriteConflict) => crate::telemetry::write_retried("conflict"),
            other => return other,
        }
    }
    tracing::warn!(
        attempts = WRITE_ATTEMPTS,
        "write kept losing races to other writers"
    );
    Err(ServiceError::Unavailable)
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

/// How many of this service's migrations the database has not applied (an error when it has no
/// migration table at all: it was never migrated). Reads only.
pub async fn pending_migrations(db: &Db) -> Result<usize, DbErr> {
    let backend = db.reader.get_database_backend();
    let rows = db
        .reader
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations",
        ))
        .await?;
    let applied: std::collections::HashSet<String> = rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "version").ok())
        .collect();
    Ok(Migrator::migrations()
        .iter()
        .filter(|migration| !applied.contains(migration.name()))
        .count())
}

/// Whether the database answers (the readiness probe).
pub async fn ping(db: &Db) -> bool {
    db.reader.ping().await.is_ok() && db.writer.ping().await.is_ok()
}

/// The PostgreSQL error codes that mean "this connection or server cannot serve now": a
/// connection exception (class 08), the server shutting down or starting (57P01-57P03), too many
/// connections (53300), a database closed to connections (55000, `ALLOW_CONNECTIONS false`).
fn postgres_code_is_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "55000")
}

/// SQLite's "busy" and "locked" (primary result codes 5 and 6, with their extended codes): the
/// write lock was not granted within the busy timeout.
fn sqlite_code_is_busy(code: &str) -> bool {
    code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

pub(crate) fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// Whether `err` says the database cannot be reached or used right now (the request may be
/// retried), as opposed to a fault in the request or the service.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as E;
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    match sqlx_error(err) {
        Some(
            E::Io(_)
            | E::Tls(_)
            | E::Protocol(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed,
        ) => true,
        Some(E::Database(db)) => {
            let code = db.code().unwrap_or_default();
            if db
                .try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                postgres_code_is_unavailable(&code)
            } else {
                sqlite_code_is_busy(&code)
            }
        }
        _ => false,
    }
}

/// Whether `err` is PostgreSQL giving up on a transaction that raced another (a serialization
/// failure or a deadlock): the transaction was rolled back and may simply run again.
pub fn is_write_conflict(err: &DbErr) -> bool {
    match sqlx_error(err) {
        Some(sea_orm::sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40001" | "40P01"))
        }
        _ => false,
    }
}

pub(crate) fn column_named<C: std::str::FromStr>(name: &str) -> Result<C, ServiceError> {
    name.parse()
        .map_err(|_| ServiceError::internal("write", format!("no column called {name}")))
}

/// `select` bringing back only the named columns of its own table (`Columns::All`: as it is).
pub fn select_columns<E>(select: Select<E>, columns: Columns<'_>) -> Result<Select<E>, ServiceError>
where
    E: EntityTrait,
    E::Column: std::str::FromStr,
{
    let names = match columns {
        Columns::All => return Ok(select),
        Columns::Only(names) | Columns::After(_, names) => names,
    };
    let mut select = select.select_only();
    for name in names {
        select = select.column(column_named::<E::Column>(name)?);
    }
    Ok(select)
}

/// The rows of `statement`, each read into `M` from the `columns` it brings back.
pub async fn read_rows<M>(
    conn: &impl Connection,
    statement: Statement,
    columns: Columns<'_>,
) -> Result<Vec<M>, DbErr>
where
    M: StoredObject + FromQueryResult,
{
    match columns {
        Columns::All => read_all(conn, statement, |row| M::from_query_result(row, "")).await,
        Columns::Only(_) | Columns::After(..) => {
            let layout = M::row_layout(columns);
            read_all(conn, statement, |row| M::from_layout(row, "", &layout)).await
        }
    }
}

/// A pool or a transaction of this service's database: what reads and writes run on. (Always
/// an owned sea-orm type, so that a read can tell a pool from a transaction: [`query_all`].)
pub trait Connection: ConnectionTrait + 'static {}

impl<C: ConnectionTrait + 'static> Connection for C {}

/// The rows of `statement`. On a pool, the driver's own call: sea-orm's `ConnectionTrait` boxes
/// each statement's future and wraps it in a span, which moved about 90 k bytes per page of
/// flows (callgrind, BENCHMARKS.md); the driver's call keeps sea-orm's statement metrics. In a
/// transaction, the transaction's call.
pub async fn query_all(
    conn: &impl Connection,
    statement: Statement,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    use sea_orm::DatabaseConnectionType as Pool;
    match pool_of(conn).map(|pool| &pool.inner) {
        Some(Pool::SqlxPostgresPoolConnection(pool)) => pool.query_all(statement).await,
        Some(Pool::SqlxSqlitePoolConnection(pool)) => pool.query_all(statement).await,
        _ => conn.query_all_raw(statement).await,
    }
}

/// The first row of `statement`, as [`query_all`] reads.
pub async fn query_one(
    conn: &impl Connection,
    statement: Statement,
) -> Result<Option<sea_orm::QueryResult>, DbErr> {
    use sea_orm::DatabaseConnectionType as Pool;
    match pool_of(conn).map(|pool| &pool.inner) {
        Some(Pool::SqlxPostgresPoolConnection(pool)) => pool.query_one(statement).await,
        Some(Pool::SqlxSqlitePoolConnection(pool)) => pool.query_one(statement).await,
        _ => conn.query_one_raw(statement).await,
    }
}

/// How many rows `select` brings back: sea-orm's `PaginatorTrait::count` statement, read
/// through [`query_one`].
pub async fn count<E: EntityTrait>(
    conn: &impl Connection,
    select: Select<E>,
) -> Result<u64, DbErr> {
    let mut rows = select.into_query();
    rows.clear_order_by();
    let counted = sea_orm::sea_query::SelectStatement::new()
        .expr(Expr::cust("COUNT(*) AS num_items"))
        .from_subquery(rows, "sub_query")
        .to_owned();
    let statement = conn.get_database_backend().build(&counted);
    match query_one(conn, statement).await? {
        Some(row) => Ok(row.try_get_by_index::<i64>(0)?.max(0) as u64),
        None => Ok(0),
    }
}

fn pool_of(conn: &impl Connection) -> Option<&DatabaseConnection> {
    (conn as &dyn std::any::Any).downcast_ref::<DatabaseConnection>()
}

/// The rows of `statement`, each read by `read`, into a vector sized once: collecting a
/// `Result` per row cannot know how many there are, and grows the vector by copies of the
/// objects read so far.
pub async fn read_all<T>(
    conn: &impl Connection,
    statement: Statement,
    mut read: impl FnMut(&sea_orm::QueryResult) -> Result<T, DbErr>,
) -> Result<Vec<T>, DbErr> {
    let rows = query_all(conn, statement).await?;
    let mut values = Vec::with_capacity(rows.len());
    for row in &rows {
        values.push(read(row)?);
    }
    Ok(values)
}

/// A read whose SQL text depends only on its shape: what it selects and joins, and how many
/// keys it looks up. Its parameters are those keys, in the order the text binds them.
pub struct KeyedRead<'a> {
    /// Names the select the builder makes (one name per builder).
    pub shape: &'static str,
    /// The columns the builder selects, when they vary from one read to the next.
    pub columns: Columns<'a>,
    pub keys: Vec<Value>,
}

/// Key of a rendered text: shape, selected columns (`None`: all), backend, number of keys.
type TextKey = (&'static str, Option<Vec<&'static str>>, u8, usize);

/// Distinct texts kept; past this (a flood of distinct column choices), texts are rendered
/// for each read instead.
const MAX_KEPT_TEXTS: usize = 1024;

/// Rendered texts by key, at most `capacity` of them: the first ones stay, later ones are not
/// kept (a client cannot grow it, only make its own reads render again).
struct KeptTexts {
    texts: std::sync::RwLock<HashMap<TextKey, Arc<str>>>,
    capacity: usize,
}

impl KeptTexts {
    fn new(capacity: usize) -> Self {
        KeptTexts {
            texts: Default::default(),
            capacity,
        }
    }

    fn get(&self, key: &TextKey) -> Option<Arc<str>> {
        self.texts.read().expect("kept texts").get(key).cloned()
    }

    fn keep(&self, key: TextKey, text: &str) {
        let mut texts = self.texts.write().expect("kept texts");
        if texts.len() < self.capacity {
            texts.insert(key, text.into());
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.texts.read().expect("kept texts").len()
    }
}

static KEPT_TEXTS: std::sync::LazyLock<KeptTexts> =
    std::sync::LazyLock::new(|| KeptTexts::new(MAX_KEPT_TEXTS));

fn backend_code(backend: DatabaseBackend) -> u8 {
    match backend {
        DatabaseBackend::Postgres => 0,
        DatabaseBackend::Sqlite => 1,
        DatabaseBackend::MySql => 2,
        _ => 3,
    }
}

/// The statement of a keyed read, from its text kept by shape, or built by `build` and kept.
///
/// Building a select with sea-query and rendering it cost a stage retrieve about a quarter of
/// its instructions (callgrind, BENCHMARKS.md "Latest run"), more than reading the rows. The reads
/// on every request's path have fixed shapes whose only parameters are the keys they look up, so
/// each shape's text is rendered once per backend and number of keys, and each read binds its
/// keys to it. A text is kept only when rendering it bound exactly `keys`, in order: a builder
/// that put any other value into its text is rendered every time, never reused with wrong values.
pub fn keyed_statement<Q, E>(
    backend: DatabaseBackend,
    read: KeyedRead<'_>,
    build: impl FnOnce() -> Result<Q, E>,
) -> Result<Statement, E>
where
    Q: QueryTrait,
{
    let columns = match read.columns {
        Columns::All => None,
        Columns::Only(names) | Columns::After(_, names) => Some(names.to_vec()),
    };
    let key: TextKey = (read.shape, columns, backend_code(backend), read.keys.len());
    if let Some(text) = KEPT_TEXTS.get(&key) {
        return Ok(Statement::from_sql_and_values(backend, &*text, read.keys));
    }
    let statement = build()?.build(backend);
    let binds_only_keys = statement
        .values
        .as_ref()
        .is_some_and(|values| values.0 == read.keys);
    if binds_only_keys {
        KEPT_TEXTS.keep(key, &statement.sql);
    }
    Ok(statement)
}

/// Sets each named column of a new row (a declaration's `Changes::columns`).
pub fn set_columns<A>(row: &mut A, columns: Vec<(&'static str, Value)>) -> Result<(), ServiceError>
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Column: std::str::FromStr,
{
    for (name, value) in columns {
        row.try_set(column_named(name)?, value)?;
    }
    Ok(())
}

/// An `UPDATE` of each named column (a declaration's `Changes::columns`; never empty).
pub fn update_columns<E>(
    mut update: UpdateMany<E>,
    columns: Vec<(&'static str, Value)>,
) -> Result<UpdateMany<E>, ServiceError>
where
    E: EntityTrait,
    E::Column: std::str::FromStr,
{
    for (name, value) in columns {
        update = update.col_expr(column_named::<E::Column>(name)?, Expr::value(value));
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::flow;
    use sea_orm::{ColumnTrait, QueryFilter, Values};
    use std::cell::Cell;
    use uuid::Uuid;

    fn by_ids(
        shape: &'static str,
        ids: &[Uuid],
        builds: &Cell<usize>,
        extra: Option<&str>,
    ) -> Statement {
        let read = KeyedRead {
            shape,
            columns: Columns::All,
            keys: ids.iter().map(|&id| id.into()).collect(),
        };
        keyed_statement(DatabaseBackend::Postgres, read, || {
            builds.set(builds.get() + 1);
            let mut select =
                flow::Entity::find().filter(flow::Column::FlowUuid.is_in(ids.iter().copied()));
            if let Some(slug) = extra {
                select = select.filter(flow::Column::Slug.eq(slug));
            }
            Ok::<_, DbErr>(select)
        })
        .expect("builds")
    }

    #[test]
    fn keyed_reads_reuse_their_text_with_their_own_keys() {
        let builds = Cell::new(0);
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let first = by_ids("test: flows by id", &[a, b], &builds, None);
        let second = by_ids("test: flows by id", &[c, a], &builds, None);
        assert_eq!(
            builds.get(),
            1,
            "the second read reuses the first one's text"
        );
        assert_eq!(first.sql, second.sql);
        assert_eq!(second.values, Some(Values(vec![c.into(), a.into()])));
        // Another number of keys is another text.
        let third = by_ids("test: flows by id", &[a, b, c], &builds, None);
        assert_eq!(builds.get(), 2);
        assert_ne!(third.sql, first.sql);
    }

    #[test]
    fn kept_texts_stop_growing_at_their_capacity() {
        let kept = KeptTexts::new(2);
        let key = |n: usize| -> TextKey { ("test", None, 0, n) };
        for n in 0..100 {
            kept.keep(key(n), "SELECT 1");
        }
        assert_eq!(kept.len(), 2);
        assert!(kept.get(&key(0)).is_some() && kept.get(&key(1)).is_some());
        assert!(
            kept.get(&key(2)).is_none(),
            "past the capacity, nothing is kept"
        );
    }

    #[test]
    fn a_read_binding_more_than_its_keys_is_never_reused() {
        let builds = Cell::new(0);
        let id = Uuid::new_v4();
        by_ids("test: flows by id and slug", &[id], &builds, Some("one"));
        let again = by_ids("test: flows by id and slug", &[id], &builds, Some("two"));
        assert_eq!(builds.get(), 2, "rendered each time");
        assert_eq!(again.values, Some(Values(vec![id.into(), "two".into()])));
    }
}
