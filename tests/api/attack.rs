//! Shared by the hostile-input, concurrency and fault tests: the probe that the process still
//! serves, raw requests, a second instance on one database, PostgreSQL databases of their own
//! (dropped even when a test fails), and the real binary that can be killed with SIGKILL.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::Value;

use crate::helpers::*;

pub const BINARY: &str = env!("CARGO_BIN_EXE_stages-api");

/// The PostgreSQL server under test, when there is one.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok()
}

/// The process still serves after `what`: liveness, and an authenticated list read from the
/// database.
pub async fn assert_serves(app: &TestApp, what: &str) {
    let live = app
        .client
        .get(format!("{}/-/health/live/", app.base))
        .send()
        .await
        .unwrap_or_else(|err| panic!("{:?}: not live after {what}: {err}", app.backend));
    assert_eq!(live.status(), StatusCode::OK, "{:?}: {what}", app.backend);
    let list = app.get(STAGES).await;
    assert_eq!(
        list.status,
        StatusCode::OK,
        "{:?}: list after {what}: {}",
        app.backend,
        list.text
    );
}

/// Asserts a refusal that is not a server error, with a JSON body.
pub fn assert_client_error(resp: &Resp, status: StatusCode, what: &str) {
    assert_eq!(resp.status, status, "{what}: {}", truncated(&resp.text));
    assert!(!resp.body.is_null(), "{what}: a JSON body: {}", resp.text);
}

/// A long response text cut for an assertion message.
pub fn truncated(text: &str) -> String {
    text.chars().take(300).collect()
}

/// POST /graphql with the superuser token and any JSON body, whatever the status.
pub async fn graphql_raw(app: &TestApp, body: String) -> Resp {
    app.send(
        app.client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&app.token)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

/// A GraphQL response refused before execution: no data, one error with this code.
pub fn assert_refused(body: &Value, code: &str, what: &str) -> String {
    assert!(
        body.get("data").is_none_or(Value::is_null),
        "{what}: no data: {}",
        truncated(&body.to_string())
    );
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"],
        code,
        "{what}: {}",
        truncated(&body.to_string())
    );
    error["message"].as_str().unwrap_or_default().to_string()
}

/// Sends `request_line` with the superuser token on a fresh connection; the status and the
/// start of the response.
pub async fn raw_request(app: &TestApp, request_line: &[u8]) -> (u16, String) {
    let address = app.base.trim_start_matches("http://");
    let mut request = request_line.to_vec();
    request.extend_from_slice(
        format!(
            "Host: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            app.token
        )
        .as_bytes(),
    );
    raw_exchange(app, &request).await
}

/// Writes `bytes` as they are on a fresh connection and reads until the response head has
/// arrived (or the server closes, or 45 s pass): the status (0 for none) and what was read.
pub async fn raw_exchange(app: &TestApp, bytes: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(bytes).await;
    let mut response = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(45), read).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A second app instance on the database of `first`, with a pool of its own.
pub async fn second_instance(first: &TestApp) -> TestApp {
    let db = stages_api::db::connect(&first.database_url)
        .await
        .expect("second pool");
    spawn_on(first.backend, first.database_url.clone(), db, None).await
}

pub async fn query_count(conn: &DatabaseConnection, sql: &str) -> i64 {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql.to_string()))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Rows that would show a write left half done: stages without their captcha row, captcha rows
/// without their stage, bindings whose flow or stage is gone.
pub async fn half_written_rows(conn: &DatabaseConnection) -> [i64; 4] {
    [
        query_count(
            conn,
            "SELECT COUNT(*) FROM stage s LEFT JOIN captcha_stage c ON c.stage_ptr_id = s.stage_uuid \
             WHERE c.stage_ptr_id IS NULL",
        )
        .await,
        query_count(
            conn,
            "SELECT COUNT(*) FROM captcha_stage c LEFT JOIN stage s ON s.stage_uuid = c.stage_ptr_id \
             WHERE s.stage_uuid IS NULL",
        )
        .await,
        query_count(
            conn,
            "SELECT COUNT(*) FROM flow_stage_binding b LEFT JOIN flow f ON f.flow_uuid = b.target \
             WHERE f.flow_uuid IS NULL",
        )
        .await,
        query_count(
            conn,
            "SELECT COUNT(*) FROM flow_stage_binding b LEFT JOIN stage s ON s.stage_uuid = b.stage \
             WHERE s.stage_uuid IS NULL",
        )
        .await,
    ]
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// A PostgreSQL database of its own (not a schema: `ALLOW_CONNECTIONS` and the backends a test
/// terminates are per database), created on the server of `TEST_DATABASE_URL` and dropped
/// `WITH (FORCE)` when the guard goes, also when the test panics.
pub struct ScratchDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl ScratchDatabase {
    pub async fn create(admin_url: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url)
            .await
            .expect("admin connection");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        admin.close().await.ok();
        ScratchDatabase {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_string(),
        }
    }

    /// Runs `sql` on an admin connection to the server's other database.
    pub async fn admin(&self, sql: &str) {
        let admin = Database::connect(&self.admin_url)
            .await
            .expect("admin connection");
        admin
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        admin.close().await.ok();
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // A runtime of its own on a thread of its own: the test's runtime may be gone or busy.
        let dropped = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await?;
                // Closed first, so that no pool reconnects between the kill and the drop.
                let _ = admin
                    .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
                    .await;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop database {}: {dropped:?}", self.name);
        }
    }
}

/// The real binary serving on a free port, killed when dropped. Its output is drained by
/// threads (a full pipe would block it).
pub struct Server {
    child: Child,
    pub base: String,
    stderr: Option<thread::JoinHandle<String>>,
}

/// Starts `stages-api serve` on `database_url` with `BOOTSTRAP_TOKEN` = `token`.
pub fn start_server(database_url: &str, token: &str) -> Server {
    let mut child = Command::new(BINARY)
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("BOOTSTRAP_TOKEN", token)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stages-api");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut server = Server {
        child,
        base: String::new(),
        stderr: Some(stderr),
    };
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no address line; stderr: {}", server.stderr_text()));
    server.base = first.trim().rsplit(' ').next().unwrap().to_string();
    assert!(server.base.starts_with("http://127.0.0.1:"), "{first}");
    server
}

impl Server {
    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM and wait for the graceful exit.
    pub fn stop(mut self) -> String {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status}");
        self.stderr_text()
    }

    fn stderr_text(&mut self) -> String {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.stderr
            .take()
            .map(|handle| handle.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
