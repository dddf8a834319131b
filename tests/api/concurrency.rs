//! Concurrency across instances: two app instances, each with a pool of its own, on one
//! database, requests racing between them. On PostgreSQL when TEST_DATABASE_URL is set (the
//! production case: several instances behave as one service), and on one SQLite file with two
//! pools, where the writers take turns and the same must hold.

use std::collections::BTreeMap;

use futures::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};

use crate::attack::*;
use crate::helpers::*;

const SLUG_TAKEN: &str = "Flow with this slug already exists.";
const NAME_TAKEN: &str = "stage with this name already exists.";
const NO_STAGE: &str = "No CaptchaStage matches the given query.";

async fn two_instances(backend: Backend) -> (TestApp, TestApp) {
    let first = spawn(backend).await;
    let second = second_instance(&first).await;
    (first, second)
}

fn pk(stage: &Value) -> String {
    stage["pk"].as_str().unwrap().to_string()
}

/// Status codes seen, for the figures.
#[derive(Default)]
struct Tally(BTreeMap<u16, usize>);

impl Tally {
    fn add(&mut self, resp: &Resp) {
        assert!(
            !resp.status.is_server_error(),
            "a server error: {} {}",
            resp.status,
            resp.text
        );
        *self.0.entry(resp.status.as_u16()).or_default() += 1;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        write!(f, "{}", parts.join(" "))
    }
}

/// Rows of `table` whose `column` is `id`.
async fn rows_for(app: &TestApp, table: &str, column: &str, id: &str) -> i64 {
    let backend = app.db.reader.get_database_backend();
    let placeholder = if backend == DatabaseBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let id: uuid::Uuid = id.parse().unwrap();
    let row = app
        .db
        .reader
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = {placeholder}"),
            [id.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn flows_with_slug(app: &TestApp, slug: &str) -> i64 {
    let backend = app.db.reader.get_database_backend();
    let placeholder = if backend == DatabaseBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = app
        .db
        .reader
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT COUNT(*) AS n FROM flow WHERE slug = {placeholder}"),
            [slug.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

fn slugs(stage: &Value) -> Vec<String> {
    let mut slugs: Vec<String> = stage["flow_set"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["slug"].as_str().unwrap().to_string())
        .collect();
    slugs.sort();
    slugs
}

/// Two writers of different fields of one stage at the same moment, on two instances: both
/// changes survive, every round.
async fn no_lost_updates(backend: Backend) {
    let (a, b) = two_instances(backend).await;
    let stage = a.create_stage(&minimal("contended")).await;
    let path = stage_path(&pk(&stage));
    let (mut lost, mut rounds, mut tally) = (0, 0, Tally::default());

    // PATCH racing PATCH.
    for round in 0..40 {
        let key = format!("k{round}");
        let js = format!("https://j{round}");
        let (x, y) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (first, second) = (json!({ "public_key": key }), json!({ "js_url": js }));
        let (rx, ry) = tokio::join!(x.patch(&path, &first), y.patch(&path, &second));
        for resp in [&rx, &ry] {
            tally.add(resp);
            assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        }
        let got = y.get(&path).await.body;
        if got["public_key"] != json!(key) || got["js_url"] != json!(js) {
            lost += 1;
            eprintln!("{backend:?}: PATCH/PATCH round {round} lost an update: {got}");
        }
        rounds += 1;
    }

    // PUT (the required fields as stored, and its own optional field) racing PATCH.
    for round in 0..40 {
        let api = format!("https://a{round}");
        let js = format!("https://p{round}");
        let score = f64::from(round) / 100.0;
        let put = json!({"name": "contended", "public_key": "k39", "private_key": "secret-key",
                         "api_url": api});
        let patch = json!({"js_url": js, "score_min_threshold": score});
        let (x, y) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (rx, ry) = tokio::join!(x.put(&path, &put), y.patch(&path, &patch));
        for resp in [&rx, &ry] {
            tally.add(resp);
            assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        }
        let got = x.get(&path).await.body;
        if got["api_url"] != json!(api)
            || got["js_url"] != json!(js)
            || got["score_min_threshold"].as_f64() != Some(score)
        {
            lost += 1;
            eprintln!("{backend:?}: PUT/PATCH round {round} lost an update: {got}");
        }
        rounds += 1;
    }

    // GraphQL's update racing REST's PATCH.
    let update = "mutation($id: UUID!, $k: String!) { updateCaptchaStage(id: $id, input: {publicKey: $k}) { id } }";
    for round in 0..20 {
        let key = format!("g{round}");
        let interactive = round % 2 == 0;
        let (x, y) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let patch = json!({ "interactive": interactive });
        let (gx, ry) = tokio::join!(
            x.graphql(update, json!({"id": pk(&stage), "k": key})),
            y.patch(&path, &patch)
        );
        assert!(gx.get("errors").is_none(), "{gx}");
        tally.add(&ry);
        assert_eq!(ry.status, StatusCode::OK, "{}", ry.text);
        let got = x.get(&path).await.body;
        if got["public_key"] != json!(key) || got["interactive"] != json!(interactive) {
            lost += 1;
            eprintln!("{backend:?}: GraphQL/PATCH round {round} lost an update: {got}");
        }
        rounds += 1;
    }
    assert_eq!(a.table_counts().await, [1, 1, 0, 0]);
    eprintln!(
        "concurrency lost updates ({backend:?}, two instances): {rounds} rounds of two racing writes, {lost} lost updates; statuses {tally}"
    );
    assert_eq!(lost, 0, "{backend:?}: lost updates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_updates_postgres_two_instances() {
    if postgres_url().is_none() {
        return;
    }
    no_lost_updates(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_updates_sqlite_two_pools_on_one_file() {
    no_lost_updates(Backend::Sqlite).await;
}

/// DELETE racing PATCH on two instances, `pairs` stages at a time: 204 and 200-or-404, and the
/// stage never comes back. Odd stages are PATCHed with a `flow_set` too (a new flow and
/// binding). Every answer is checked before the first failure is reported, for the figures.
async fn delete_racing_patch(backend: Backend, rounds: usize, pairs: usize) {
    let (a, b) = two_instances(backend).await;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let (mut patched_first, mut deleted_first) = (0, 0);
    let mut faults = Vec::new();
    for round in 0..rounds {
        let mut ids = Vec::new();
        for pair in 0..pairs {
            let name = format!("doomed-{round}-{pair}");
            let mut body = minimal(&name);
            body["flow_set"] = json!([flow(&name)]);
            ids.push(pk(&a.create_stage(&body).await));
        }
        let races = ids.iter().enumerate().map(|(pair, id)| {
            let name = format!("doomed-{round}-{pair}");
            let patch = if pair % 2 == 0 {
                json!({"public_key": "late"})
            } else {
                json!({"flow_set": [flow(&name), flow(&format!("late-{round}-{pair}"))]})
            };
            let (x, y) = if (round + pair) % 2 == 0 {
                (&a, &b)
            } else {
                (&b, &a)
            };
            let path = stage_path(id);
            async move {
                let (deleted, patched) = tokio::join!(x.delete(&path), y.patch(&path, &patch));
                (path, deleted, patched)
            }
        });
        for (path, deleted, patched) in join_all(races).await {
            for resp in [&deleted, &patched] {
                *statuses.entry(resp.status.as_u16()).or_default() += 1;
            }
            if deleted.status != StatusCode::NO_CONTENT || !deleted.text.is_empty() {
                faults.push(format!(
                    "DELETE {path}: {} {}",
                    deleted.status, deleted.text
                ));
            }
            match patched.status {
                StatusCode::OK => patched_first += 1,
                StatusCode::NOT_FOUND if patched.body == json!({ "detail": NO_STAGE }) => {
                    deleted_first += 1
                }
                other => faults.push(format!("PATCH {path}: {other} {}", patched.text)),
            }
        }
        for id in &ids {
            for app in [&a, &b] {
                if app.get(&stage_path(id)).await.status != StatusCode::NOT_FOUND {
                    faults.push(format!("{id} is still there"));
                }
            }
            let rows = [
                rows_for(&a, "stage", "stage_uuid", id).await,
                rows_for(&a, "captcha_stage", "stage_ptr_id", id).await,
                rows_for(&a, "flow_stage_binding", "stage", id).await,
            ];
            if rows != [0, 0, 0] {
                faults.push(format!(
                    "{id} left rows (stage, captcha, bindings) {rows:?}"
                ));
            }
        }
    }
    let counts = a.table_counts().await;
    eprintln!(
        "concurrency DELETE/PATCH ({backend:?}): {} races ({rounds} rounds of {pairs} stages), PATCH first {patched_first}, DELETE first {deleted_first}; statuses {statuses:?}; {} faults",
        rounds * pairs,
        faults.len()
    );
    assert!(faults.is_empty(), "{backend:?}: {faults:#?}");
    assert_eq!(&counts[..2], &[0, 0]);
    assert_eq!(counts[3], 0, "no binding outlives its stage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_racing_patch_sqlite() {
    delete_racing_patch(Backend::Sqlite, 30, 4).await;
}

/// Seen: `deadlock detected` between the DELETE (stage row, then its cascade to the captcha
/// row and bindings) and the PATCH (its locking read of the captcha and stage rows); the DELETE
/// is not retried as the other writes are, and answers 500 with the stage left in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_racing_patch_postgres() {
    if postgres_url().is_none() {
        return;
    }
    delete_racing_patch(Backend::Postgres, 60, 16).await;
}

/// Writers racing for one new flow slug: one wins, the other gets the slug error, the flow
/// exists once. Two PATCHes of one stage naming the same new slug both succeed, in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_set_races() {
    let slug_error = json!({"flow_set": [{"slug": [SLUG_TAKEN]}]});
    for backend in backends() {
        let (a, b) = two_instances(backend).await;
        let mut tally = Tally::default();
        let rounds = 15;

        // One stage, two PATCHes whose lists share a new slug: they take turns on the stage's
        // lock, and the later one finds the shared flow already bound (an update).
        let shared = pk(&a.create_stage(&minimal("shared lists")).await);
        let path = stage_path(&shared);
        for round in 0..rounds {
            let common = format!("common-{round}");
            let list_a = vec![common.clone(), format!("a-{round}")];
            let list_b = vec![common.clone(), format!("b-{round}")];
            let body = |list: &[String]| json!({"flow_set": list.iter().map(|s| flow(s)).collect::<Vec<_>>()});
            let (body_a, body_b) = (body(&list_a), body(&list_b));
            let (ra, rb) = tokio::join!(a.patch(&path, &body_a), b.patch(&path, &body_b));
            tally.add(&ra);
            tally.add(&rb);
            assert_eq!(ra.status, StatusCode::OK, "{}", ra.text);
            assert_eq!(rb.status, StatusCode::OK, "{}", rb.text);
            assert_eq!(flows_with_slug(&a, &common).await, 1);
            let stored = slugs(&a.get(&path).await.body);
            let (mut sorted_a, mut sorted_b) = (list_a.clone(), list_b.clone());
            sorted_a.sort();
            sorted_b.sort();
            assert!(
                stored == sorted_a || stored == sorted_b,
                "{backend:?}: the stage holds one of the two lists: {stored:?}"
            );
        }

        // Two stages, each PATCHed to a new flow with one slug.
        let one = pk(&a.create_stage(&minimal("racer one")).await);
        let two = pk(&a.create_stage(&minimal("racer two")).await);
        let mut winners = [0, 0];
        for round in 0..rounds {
            let slug = format!("contested-patch-{round}");
            let body = json!({ "flow_set": [flow(&slug)] });
            let before = [
                a.get(&stage_path(&one)).await.body,
                a.get(&stage_path(&two)).await.body,
            ];
            let (path_one, path_two) = (stage_path(&one), stage_path(&two));
            let (r1, r2) = tokio::join!(a.patch(&path_one, &body), b.patch(&path_two, &body));
            tally.add(&r1);
            tally.add(&r2);
            let results = [&r1, &r2];
            let won: Vec<usize> = (0..2)
                .filter(|&i| results[i].status == StatusCode::OK)
                .collect();
            assert_eq!(won.len(), 1, "{backend:?}: {} / {}", r1.text, r2.text);
            let loser = 1 - won[0];
            winners[won[0]] += 1;
            assert_eq!(results[loser].status, StatusCode::BAD_REQUEST);
            assert_eq!(results[loser].body, slug_error);
            assert_eq!(flows_with_slug(&a, &slug).await, 1);
            let loser_id = [&one, &two][loser];
            let after = a.get(&stage_path(loser_id)).await.body;
            assert_eq!(
                slugs(&after),
                slugs(&before[loser]),
                "the loser wrote nothing"
            );
        }

        // Two creates, and a create racing a PATCH, for one new slug.
        let mut created = 0;
        for round in 0..rounds {
            let slug = format!("contested-post-{round}");
            let mut one_body = minimal(&format!("post one {round}"));
            one_body["flow_set"] = json!([flow(&slug)]);
            let mut two_body = minimal(&format!("post two {round}"));
            two_body["flow_set"] = json!([flow(&slug)]);
            let (r1, r2) = tokio::join!(a.post(STAGES, &one_body), b.post(STAGES, &two_body));
            tally.add(&r1);
            tally.add(&r2);
            let statuses = [r1.status, r2.status];
            assert_eq!(
                statuses
                    .iter()
                    .filter(|s| **s == StatusCode::CREATED)
                    .count(),
                1,
                "{backend:?}: {} / {}",
                r1.text,
                r2.text
            );
            let loser = if r1.status == StatusCode::CREATED {
                &r2
            } else {
                &r1
            };
            assert_eq!(loser.status, StatusCode::BAD_REQUEST);
            assert_eq!(loser.body, slug_error);
            assert_eq!(flows_with_slug(&a, &slug).await, 1);
            created += 1;

            let slug = format!("contested-mixed-{round}");
            let mut post = minimal(&format!("mixed {round}"));
            post["flow_set"] = json!([flow(&slug)]);
            let (path_one, patch) = (stage_path(&one), json!({ "flow_set": [flow(&slug)] }));
            let (r1, r2) = tokio::join!(a.post(STAGES, &post), b.patch(&path_one, &patch));
            tally.add(&r1);
            tally.add(&r2);
            let won = [
                r1.status == StatusCode::CREATED,
                r2.status == StatusCode::OK,
            ];
            assert_eq!(
                won.iter().filter(|w| **w).count(),
                1,
                "{backend:?}: {} / {}",
                r1.text,
                r2.text
            );
            let loser = if won[0] { &r2 } else { &r1 };
            assert_eq!(loser.status, StatusCode::BAD_REQUEST);
            assert_eq!(loser.body, slug_error);
            assert_eq!(flows_with_slug(&a, &slug).await, 1);
        }
        eprintln!(
            "concurrency flow_set ({backend:?}): {} races ({rounds} shared-list PATCH pairs, {rounds} PATCH/PATCH, {rounds} POST/POST, {rounds} POST/PATCH), PATCH winners one/two {winners:?}, {created} POST pairs; statuses {tally}",
            rounds * 4
        );
    }
}

/// Many writers of one stage name on two instances: one wins, the rest get the name error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_races_across_instances() {
    let name_error = json!({ "name": [NAME_TAKEN] });
    for backend in backends() {
        let (a, b) = two_instances(backend).await;
        let instances = [&a, &b];
        let mut tally = Tally::default();
        let before = a.table_counts().await;
        for round in 0..3 {
            let contested = minimal(&format!("contested {round}"));
            let results =
                join_all((0..20).map(|i| instances[i % 2].post(STAGES, &contested))).await;
            for resp in &results {
                tally.add(resp);
            }
            let created = results
                .iter()
                .filter(|r| r.status == StatusCode::CREATED)
                .count();
            assert_eq!(created, 1, "{backend:?}");
            for resp in results.iter().filter(|r| r.status != StatusCode::CREATED) {
                assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
                assert_eq!(resp.body, name_error);
            }
        }
        assert_eq!(a.table_counts().await, [before[0] + 3, before[1] + 3, 0, 0]);

        // Renames to one new name, by PATCH and PUT at once.
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(pk(&a
                .create_stage(&minimal(&format!("renamed from {i}")))
                .await));
        }
        let results = join_all(ids.iter().enumerate().map(|(i, id)| {
            let app = instances[i % 2];
            let path = stage_path(id);
            async move {
                if i % 3 == 0 {
                    app.put(&path, &minimal("one name")).await
                } else {
                    app.patch(&path, &json!({"name": "one name"})).await
                }
            }
        }))
        .await;
        for resp in &results {
            tally.add(resp);
        }
        let renamed = results
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!(renamed, 1, "{backend:?}");
        for resp in results.iter().filter(|r| r.status != StatusCode::OK) {
            assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
            assert_eq!(resp.body, name_error);
        }
        let listed = a.get(&format!("{STAGES}?name=one%20name")).await;
        assert_eq!(listed.body["pagination"]["count"], 1);
        eprintln!(
            "concurrency names ({backend:?}): 3 × 20 creates and 10 renames racing for one name on two instances; statuses {tally}"
        );
    }
}
