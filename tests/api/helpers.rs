//! Spawns the real app on a port-0 listener over a fresh database built by the real migrations:
//! a SQLite file always, and a fresh PostgreSQL schema when TEST_DATABASE_URL is set.

use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use stages_api::app::{AppState, service};
use stages_api::auth::{self, NewToken, Permission};
use stages_api::config::Settings;
use stages_api::db::{self, Db};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub database_url: String,
    /// A superuser token.
    pub token: String,
    _scratch: Option<Scratch>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

/// One app per backend under test: SQLite, plus PostgreSQL when TEST_DATABASE_URL is set.
pub async fn apps() -> Vec<TestApp> {
    let mut apps = vec![spawn(Backend::Sqlite).await];
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        apps.push(spawn(Backend::Postgres).await);
    }
    apps
}

/// The backends under test: SQLite, plus PostgreSQL when TEST_DATABASE_URL is set (for tests
/// that spawn their apps themselves).
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        backends.push(Backend::Postgres);
    }
    backends
}

/// What a test's database leaves behind, removed when the test ends: the SQLite file's
/// directory, or the PostgreSQL schema (dropped with everything in it).
pub struct Scratch {
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some((admin, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs inside the test's runtime: the schema goes on a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let conn = Database::connect(&admin).await.ok()?;
                conn.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}

/// A fresh, empty database URL (nothing migrated yet) and what removes it after the test.
pub async fn fresh_database(backend: Backend) -> (String, Option<Scratch>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("stages.db").display()
            );
            (
                url,
                Some(Scratch {
                    _dir: Some(dir),
                    schema: None,
                }),
            )
        }
        Backend::Postgres => {
            let admin = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let conn = Database::connect(&admin)
                .await
                .expect("connect to TEST_DATABASE_URL");
            conn.execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .expect("create schema");
            conn.close().await.ok();
            let separator = if admin.contains('?') { '&' } else { '?' };
            let url = format!("{admin}{separator}options=-c%20search_path%3D{schema}");
            (
                url,
                Some(Scratch {
                    _dir: None,
                    schema: Some((admin, schema)),
                }),
            )
        }
    }
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, Settings::default()).await
}

/// `spawn` with settings of the test's own (short timeouts, trusted proxies).
pub async fn spawn_with(backend: Backend, settings: Settings) -> TestApp {
    let (url, scratch) = fresh_database(backend).await;
    let db = db::connect(&url).await.expect("connect");
    db::migrate(&db).await.expect("migrate");
    spawn_on_with(backend, url, db, scratch, settings).await
}

/// Serves the app over an already migrated database (a second instance shares the first's).
pub async fn spawn_on(
    backend: Backend,
    database_url: String,
    db: Db,
    scratch: Option<Scratch>,
) -> TestApp {
    spawn_on_with(backend, database_url, db, scratch, Settings::default()).await
}

/// `spawn_on` with settings of the test's own.
pub async fn spawn_on_with(
    backend: Backend,
    database_url: String,
    db: Db,
    scratch: Option<Scratch>,
    settings: Settings,
) -> TestApp {
    let token = auth::create_token(
        &db.writer,
        NewToken {
            name: format!("test-superuser-{}", uuid::Uuid::new_v4().simple()),
            permissions: vec![],
            superuser: true,
            expires: None,
        },
    )
    .await
    .expect("superuser token")
    .expose_secret()
    .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = service(AppState::with_settings(db.clone(), settings));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    TestApp {
        backend,
        base,
        client: reqwest::Client::new(),
        db,
        database_url,
        token,
        _scratch: scratch,
    }
}

impl TestApp {
    pub async fn token_with(&self, permissions: &[Permission]) -> String {
        auth::create_token(
            &self.db.writer,
            NewToken {
                name: format!("test-{}", uuid::Uuid::new_v4().simple()),
                permissions: permissions.to_vec(),
                superuser: false,
                expires: None,
            },
        )
        .await
        .unwrap()
        .expose_secret()
        .to_string()
    }

    /// A superuser token with a name (to revoke it) and an optional expiry.
    pub async fn named_token(
        &self,
        name: &str,
        expires: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        auth::create_token(
            &self.db.writer,
            NewToken {
                name: name.to_string(),
                permissions: vec![],
                superuser: true,
                expires,
            },
        )
        .await
        .unwrap()
        .expose_secret()
        .to_string()
    }

    /// A request with the superuser token.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Resp {
        let response = builder.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.req(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::PUT, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::PATCH, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.req(Method::DELETE, path)).await
    }

    pub async fn create_stage(&self, body: &Value) -> Value {
        let resp = self.post(STAGES, body).await;
        assert_eq!(
            resp.status,
            StatusCode::CREATED,
            "{:?}: {}",
            self.backend,
            resp.text
        );
        resp.body
    }

    /// POST /graphql with the superuser token; the whole response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(Some(&self.token), query, variables).await
    }

    pub async fn graphql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut builder = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        let resp = self.send(builder).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        resp.body
    }

    pub async fn count(&self, table: &str) -> i64 {
        let backend = self.db.reader.get_database_backend();
        let row = self
            .db
            .reader
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// Row counts of every table the API writes: to show that a failed write wrote nothing.
    pub async fn table_counts(&self) -> [i64; 4] {
        [
            self.count("stage").await,
            self.count("captcha_stage").await,
            self.count("flow").await,
            self.count("flow_stage_binding").await,
        ]
    }
}

pub const STAGES: &str = "/api/v3/stages/captcha/";

pub fn stage_path(id: &str) -> String {
    format!("{STAGES}{id}/")
}

/// A valid minimal CaptchaStageRequest.
pub fn minimal(name: &str) -> Value {
    json!({ "name": name, "public_key": "site-key", "private_key": "secret-key" })
}

pub fn flow(slug: &str) -> Value {
    json!({ "name": format!("Flow {slug}"), "slug": slug, "title": format!("Title {slug}"), "designation": "authentication" })
}

/// Counts the statements a connection runs (sea-orm's metric callback).
pub fn count_statements(db: &mut Db) -> Arc<Mutex<usize>> {
    let counter = Arc::new(Mutex::new(0usize));
    for conn in [&mut db.reader, &mut db.writer] {
        let counter = counter.clone();
        conn.set_metric_callback(move |_| *counter.lock().unwrap() += 1);
    }
    counter
}
