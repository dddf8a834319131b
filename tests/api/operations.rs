//! Operations: health, routing, the command line on the real binary, secrets kept out of logs,
//! migrations, and concurrent writers racing on one database.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const BINARY: &str = env!("CARGO_BIN_EXE_stages-api");

#[tokio::test]
async fn health_and_unknown_routes() {
    let app = spawn(Backend::Sqlite).await;
    for path in ["/-/health/live/", "/-/health/ready/", "/-/health/ready"] {
        let resp = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let resp = app
        .send(app.client.get(format!("{}/api/v3/nothing/", app.base)))
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.body, json!({"detail": "Not found."}));
    let resp = app
        .send(app.req(
            reqwest::Method::POST,
            &format!("{}used_by/", stage_path(&uuid::Uuid::new_v4().to_string())),
        ))
        .await;
    assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.body, json!({"detail": "Method \"POST\" not allowed."}));
    assert!(resp.headers["x-request-id"].to_str().is_ok());

    // A database that does not answer: not ready.
    let mut options = sea_orm::ConnectOptions::new("postgres://postgres@127.0.0.1:1/none");
    options
        .connect_lazy(true)
        .acquire_timeout(std::time::Duration::from_millis(300));
    let down = sea_orm::Database::connect(options).await.unwrap();
    let state = stages_api::app::AppState::new(stages_api::db::Db {
        reader: down.clone(),
        writer: down,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, stages_api::app::app(state))
            .await
            .unwrap()
    });
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/-/health/ready/"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        client
            .get(format!("{base}/-/health/live/"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // Requests that need the database say that it is unavailable and a retry may work.
    let resp = client
        .get(format!("{base}{STAGES}"))
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "The database is unavailable. Try again shortly."})
    );
}

/// The real binary serving on a free port. Its output is drained by threads (a full pipe
/// would block the server); standard output arrives line by line.
struct Server {
    child: Child,
    base: String,
    stdout: mpsc::Receiver<String>,
    stderr: thread::JoinHandle<String>,
}

fn start_server(database_url: &str, extra_env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(BINARY);
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "trace")
        .env_remove("BOOTSTRAP_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start stages-api");
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
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("the address line");
    let base = first.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    Server {
        child,
        base,
        stdout: lines,
        stderr,
    }
}

impl Server {
    /// The next `n` lines of standard output.
    fn read_lines(&self, n: usize) -> String {
        (0..n)
            .map(|_| self.stdout.recv_timeout(Duration::from_secs(60)).unwrap() + "\n")
            .collect()
    }

    /// SIGTERM, then everything the process wrote after what was read.
    fn stop(mut self) -> (String, String) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status}");
        let out: String = self.stdout.iter().map(|l| l + "\n").collect();
        (out, self.stderr.join().unwrap())
    }
}

fn initial_token(stdout: &str) -> Option<String> {
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("It is shown only now"))?;
    lines.get(at + 2).map(|l| l.trim().to_string())
}

#[tokio::test]
async fn secrets_never_reach_logs_or_responses() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let server = start_server(&url, &[]);
    // The URLs, then the banner with the token.
    let first = server.read_lines(8);
    let token = initial_token(&first).expect("a first start prints a token");
    assert!(
        token.len() >= 32
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );

    let client = reqwest::Client::new();
    let base = server.base.clone();
    let private_key = "PRIVATE-KEY-never-shown-42";
    let mut bodies = Vec::new();
    for body in [
        json!({"name": "s", "public_key": "p", "private_key": private_key, "flow_set": [flow("f")]}),
        json!({"name": "s", "public_key": "", "private_key": private_key}),
    ] {
        let resp = client
            .post(format!("{base}{STAGES}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        bodies.push(resp.text().await.unwrap());
    }
    let id: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let id = id["pk"].as_str().unwrap().to_string();
    let resp = client
        .patch(format!("{base}{}", stage_path(&id)))
        .bearer_auth(&token)
        .json(&json!({"private_key": format!("{private_key}-2")}))
        .send()
        .await
        .unwrap();
    bodies.push(resp.text().await.unwrap());
    let resp = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&json!({"query": "mutation($k: String!) { createCaptchaStage(input: {name: \"g\", publicKey: \"p\", privateKey: $k}) { id } }",
                      "variables": {"k": private_key}}))
        .send()
        .await
        .unwrap();
    bodies.push(resp.text().await.unwrap());
    let resp = client
        .get(format!("{base}{STAGES}"))
        .bearer_auth(format!("{token}-wrong"))
        .send()
        .await
        .unwrap();
    bodies.push(resp.text().await.unwrap());
    let (stdout, stderr) = server.stop();

    for body in &bodies {
        assert!(!body.contains(private_key), "{body}");
        assert!(!body.contains(&token), "{body}");
    }
    assert!(stderr.lines().count() > 5, "trace logging was on");
    assert!(stderr.contains("status=201"));
    assert!(
        !stderr.contains(private_key),
        "a log line carries the private key"
    );
    assert!(!stderr.contains(&token), "a log line carries the token");
    assert!(
        !stdout.contains(&token),
        "the token is printed only in the first banner"
    );

    // A second start on the same database prints no token.
    let server = start_server(&url, &[]);
    let (stdout, _) = server.stop();
    assert!(initial_token(&stdout).is_none(), "{stdout}");
}

#[tokio::test]
async fn bootstrap_token_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let secret = "env-bootstrap-token-0123456789abcdef";
    let server = start_server(&url, &[("BOOTSTRAP_TOKEN", secret)]);
    let resp = reqwest::Client::new()
        .get(format!("{}{STAGES}", server.base))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (stdout, stderr) = server.stop();
    assert!(initial_token(&stdout).is_none());
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
}

#[test]
fn token_commands() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let run = |args: &[&str]| {
        let output = Command::new(BINARY)
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    // Token commands open only an existing, migrated database: never a new file.
    let (ok, stdout, stderr) = run(&["token", "create", "--name", "early", "--superuser"]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("there is no database at"), "{stderr}");
    assert!(
        !dir.path().join("t.db").exists(),
        "no database file was created"
    );
    let (ok, _, stderr) = run(&["migrate"]);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(&[
        "token",
        "create",
        "--name",
        "ci",
        "--permission",
        "authentik_stages_captcha.view_captchastage",
        "--expires-in",
        "1h",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        !stderr.contains("Applying") && !stderr.contains("migration"),
        "quiet on success: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the token alone on stdout: {stdout:?}");
    let token = lines[0];
    assert!(token.len() >= 32);
    assert!(!stderr.contains(token));
    let (ok, stdout, _) = run(&["token", "list"]);
    assert!(ok);
    assert!(stdout.contains("ci") && stdout.contains("view_captchastage"));
    assert!(!stdout.contains(token) && !stdout.contains(&stages_api::auth::hash_token(token)));
    let (ok, _, _) = run(&[
        "token",
        "create",
        "--name",
        "bad",
        "--permission",
        "authentik_flows.view_nothing",
    ]);
    assert!(!ok, "unknown permissions are refused");
    // A taken name (revoked or not) is explained, not a raw database error.
    let (ok, _, stderr) = run(&["token", "create", "--name", "ci", "--superuser"]);
    assert!(!ok);
    assert!(
        stderr.contains("a token called \"ci\" exists already"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("UNIQUE") && !stderr.contains("constraint"),
        "{stderr}"
    );
    // A token that can do nothing is created, with a warning.
    let (ok, stdout, stderr) = run(&["token", "create", "--name", "idle"]);
    assert!(ok && stdout.lines().count() == 1, "{stdout}");
    assert!(
        stderr.contains("warning: this token has no permission"),
        "{stderr}"
    );
    // Times a person reads: minutes and the zone, never nanoseconds.
    let (ok, stdout, _) = run(&["token", "list"]);
    assert!(ok);
    let ci = stdout.lines().find(|l| l.starts_with("ci ")).unwrap();
    assert!(ci.contains(" UTC") && !ci.contains("+00:00"), "{ci}");
    let expires = ci.split_whitespace().nth(3).unwrap();
    assert_eq!(expires.len(), "2026-12-30".len(), "{ci}");
    let (ok, _, _) = run(&["token", "revoke", "ci"]);
    assert!(ok);
    let (ok, _, _) = run(&["token", "revoke", "nobody"]);
    assert!(!ok);
}

#[test]
fn export_schema_needs_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(BINARY)
        .arg("export-schema")
        .current_dir(dir.path())
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .status()
        .unwrap();
    assert!(status.success());
    let exported = std::fs::read_to_string(dir.path().join("schema.graphql")).unwrap();
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        exported == checked_in,
        "schema.graphql is stale: run `cargo run -- export-schema`"
    );
}

#[tokio::test]
async fn migrations_from_empty_and_again() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && std::env::var("TEST_DATABASE_URL").is_err() {
            continue;
        }
        let (url, _dir) = fresh_database(backend).await;
        // Two instances starting together on an empty database.
        let (a, b) = tokio::join!(stages_api::db::connect(&url), stages_api::db::connect(&url));
        let (a, b) = (a.unwrap(), b.unwrap());
        let (ra, rb) = tokio::join!(stages_api::db::migrate(&a), stages_api::db::migrate(&b));
        ra.unwrap();
        rb.unwrap();
        stages_api::db::migrate(&a).await.unwrap();
        let status = Command::new(BINARY)
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// Instances that open one new SQLite file at the same moment all connect: switching a new file
/// to WAL takes its lock without waiting for it, so one of them used to fail with "database is
/// locked" (seen once in CI on `migrations_from_empty_and_again`).
#[tokio::test]
async fn instances_opening_a_new_sqlite_file_together_all_connect() {
    for _ in 0..100 {
        let (url, _dir) = fresh_database(Backend::Sqlite).await;
        let opened = join_all((0..6).map(|_| stages_api::db::connect(&url))).await;
        for db in opened {
            db.expect("every instance connects to a new SQLite file");
        }
    }
}

/// Two app instances on one database, many creates with one name (or one flow slug) at once:
/// exactly one succeeds, every other gets the 400 field error, none a 500.
#[tokio::test]
async fn concurrent_creates_race_to_one_winner() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && std::env::var("TEST_DATABASE_URL").is_err() {
            continue;
        }
        let first = spawn(backend).await;
        let second_db = stages_api::db::connect(&first.database_url).await.unwrap();
        let second = spawn_on(backend, first.database_url.clone(), second_db, None).await;
        let instances = [&first, &second];

        let contested = minimal("contested");
        let results = join_all((0..24).map(|i| instances[i % 2].post(STAGES, &contested))).await;
        let created = results
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "{backend:?}");
        for r in results.iter().filter(|r| r.status != StatusCode::CREATED) {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
            assert_eq!(
                r.body,
                json!({"name": ["stage with this name already exists."]})
            );
        }

        let results = join_all((0..24).map(|i| {
            let mut body = minimal(&format!("slug racer {i}"));
            body["flow_set"] = json!([flow(&format!("own-{i}")), flow("contested-slug")]);
            async move { instances[i % 2].post(STAGES, &body).await }
        }))
        .await;
        let created = results
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "{backend:?}");
        for r in results.iter().filter(|r| r.status != StatusCode::CREATED) {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
            assert_eq!(
                r.body,
                json!({"flow_set": [{}, {"slug": ["Flow with this slug already exists."]}]})
            );
        }
        // The losers wrote nothing.
        assert_eq!(first.table_counts().await, [2, 2, 2, 2]);
    }
}

/// `GET /metrics`: every family from the first scrape (counters with a closed label set at
/// zero), requests under their route template and never their raw path, GraphQL operations by
/// root field, refused tokens by reason. The recorder is the process's, shared with the other
/// tests, so counts are compared before and after rather than taken as they are.
#[tokio::test]
async fn metrics_by_route_template() {
    fn sample(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }
    let app = spawn(Backend::Sqlite).await;
    let metrics = || async {
        let resp = app
            .send(app.client.get(format!("{}/metrics", app.base)))
            .await;
        assert_eq!(resp.status, StatusCode::OK);
        assert!(
            resp.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        resp.text
    };
    let detail = r#"stages_api_http_requests_total{route="/api/v3/stages/captcha/{stage_uuid}/",method="GET",status="200"}"#;
    let missing = r#"stages_api_tokens_refused_total{reason="missing"}"#;
    let query =
        r#"stages_api_graphql_operations_total{operation="query captchaStages",outcome="ok"}"#;
    let before = metrics().await;
    // Counters with a closed label set and the pools' gauge are there before any request.
    for family in [
        "stages_api_db_connections gauge",
        "stages_api_db_unavailable_total counter",
        "stages_api_write_retries_total counter",
        "stages_api_tokens_refused_total counter",
        "stages_api_captcha_verifications_total counter",
        "stages_api_flow_plans_total counter",
    ] {
        assert!(before.contains(&format!("# TYPE {family}\n")), "{family}");
    }
    for series in [
        r#"stages_api_write_retries_total{kind="conflict"}"#,
        r#"stages_api_captcha_verifications_total{outcome="refused"}"#,
        r#"stages_api_flow_plans_total{event="restarted"}"#,
        r#"stages_api_db_connections{pool="writer",state="max"}"#,
    ] {
        assert!(before.contains(&format!("{series} ")), "{series}");
    }

    let stage = app.create_stage(&minimal("metrics")).await;
    let id = stage["pk"].as_str().unwrap();
    assert_eq!(app.get(&stage_path(id)).await.status, StatusCode::OK);
    let resp = app
        .send(app.client.get(format!("{}{}", app.base, stage_path(id))))
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    app.graphql("{ captchaStages { results { id } } }", json!({}))
        .await;
    let raw = format!("/api/v3/nowhere/{}/", uuid::Uuid::new_v4());
    let resp = app.send(app.client.get(format!("{}{raw}", app.base))).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);

    let after = metrics().await;
    for family in [
        "stages_api_http_requests_total counter",
        "stages_api_http_request_duration_seconds histogram",
        "stages_api_graphql_operations_total counter",
    ] {
        assert!(after.contains(&format!("# TYPE {family}\n")), "{family}");
    }
    assert!(
        sample(&after, detail) >= sample(&before, detail) + 1.0,
        "{after}"
    );
    assert!(
        sample(&after, missing) >= sample(&before, missing) + 1.0,
        "{after}"
    );
    assert!(
        sample(&after, query) >= sample(&before, query) + 1.0,
        "{after}"
    );
    assert!(after.contains(r#"{route="unmatched",method="GET",status="404"}"#));
    assert!(after.contains(
        r#"stages_api_http_request_duration_seconds_bucket{route="/api/v3/stages/captcha/{stage_uuid}/",method="GET",le="0.0005"}"#
    ));
    assert!(!after.contains(id) && !after.contains(&raw), "{after}");
}
