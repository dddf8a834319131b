//! List, retrieve, update, patch, delete and used_by over REST (spec 4-6).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn names(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pagination_arithmetic() {
    for app in apps().await {
        let empty = app.get(STAGES).await;
        assert_eq!(
            empty.body,
            json!({"pagination": {"next": 0, "previous": 0, "count": 0, "current": 1, "total_pages": 1,
                                  "start_index": 0, "end_index": 0}, "results": [], "autocomplete": {}})
        );
        assert_eq!(
            app.get(&format!("{STAGES}?page=last")).await.status,
            StatusCode::OK
        );
        for bad in ["2", "0", "-1", "x", "1.0", ""] {
            let resp = app.get(&format!("{STAGES}?page={bad}")).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "page={bad}");
            assert_eq!(resp.body, json!({"detail": "Invalid page."}));
        }
        app.create_stage(&minimal("s0")).await;
        let one = app.get(STAGES).await.body;
        assert_eq!(
            one["pagination"],
            json!({"next": 0, "previous": 0, "count": 1, "current": 1, "total_pages": 1, "start_index": 1, "end_index": 1})
        );
        for i in 1..5 {
            app.create_stage(&minimal(&format!("s{i}"))).await;
        }
        // Exactly one page.
        let exact = app.get(&format!("{STAGES}?page_size=5")).await.body;
        assert_eq!(exact["pagination"]["total_pages"], 1);
        assert_eq!(exact["pagination"]["end_index"], 5);
        // Several pages.
        let middle = app.get(&format!("{STAGES}?page_size=2&page=2")).await.body;
        assert_eq!(
            middle["pagination"],
            json!({"next": 3, "previous": 1, "count": 5, "current": 2, "total_pages": 3, "start_index": 3, "end_index": 4})
        );
        assert_eq!(names(&middle), ["s2", "s3"]);
        let last = app
            .get(&format!("{STAGES}?page_size=2&page=last"))
            .await
            .body;
        assert_eq!(last["pagination"]["current"], 3);
        assert_eq!(last["pagination"]["next"], 0);
        assert_eq!(names(&last), ["s4"]);
        assert_eq!(
            app.get(&format!("{STAGES}?page_size=2&page=4"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // Page sizes: default 20, capped at 100, 100 when not a positive number.
        for (param, expected) in [
            ("", 20),
            ("page_size=500", 100),
            ("page_size=0", 100),
            ("page_size=-3", 100),
            ("page_size=x", 100),
            ("page_size=3", 3),
        ] {
            let mut i = 5;
            while app.count("stage").await < 101 {
                app.create_stage(&minimal(&format!("t{i:03}"))).await;
                i += 1;
            }
            let body = app.get(&format!("{STAGES}?{param}")).await.body;
            assert_eq!(
                body["results"].as_array().unwrap().len(),
                expected,
                "{param}"
            );
        }
    }
}

#[tokio::test]
async fn pages_never_repeat_or_skip() {
    for app in apps().await {
        // Equal sort keys everywhere: only the pk tie-break orders them.
        for i in 0..7 {
            let mut r = minimal(&format!("same-{i}"));
            r["public_key"] = json!("same");
            app.create_stage(&r).await;
        }
        let mut seen = Vec::new();
        for page in 1..=4 {
            let body = app
                .get(&format!(
                    "{STAGES}?ordering=public_key&page_size=2&page={page}"
                ))
                .await
                .body;
            seen.extend(
                body["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["pk"].as_str().unwrap().to_string()),
            );
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "ties are broken by pk");
        sorted.dedup();
        assert_eq!(sorted.len(), 7);
    }
}

#[tokio::test]
async fn filters_search_and_ordering() {
    for app in apps().await {
        for (name, key, min, interactive) in [
            ("Alpha Beta", "k1", 0.3, true),
            ("alpha gamma", "k2", 0.1, false),
            ("Delta", "k1", 0.2, false),
        ] {
            let mut r = minimal(name);
            r["public_key"] = json!(key);
            r["score_min_threshold"] = json!(min);
            r["interactive"] = json!(interactive);
            r["js_url"] = json!(format!("https://{}", name.len()));
            app.create_stage(&r).await;
        }
        let list = |q: &str| {
            let q = q.to_string();
            let app = &app;
            async move { names(&app.get(&format!("{STAGES}?{q}")).await.body) }
        };
        assert_eq!(list("name=Delta").await, ["Delta"]);
        assert!(list("name=delta").await.is_empty());
        assert_eq!(list("name=").await.len(), 3);
        assert_eq!(list("public_key=k1").await, ["Alpha Beta", "Delta"]);
        assert!(list("public_key=K1").await.is_empty());
        assert_eq!(list("search=ALPHA").await, ["Alpha Beta", "alpha gamma"]);
        assert_eq!(list("search=alpha%20gam").await, ["alpha gamma"]);
        assert_eq!(list("search=alpha,beta").await, ["Alpha Beta"]);
        assert_eq!(list("search=%25").await.len(), 0);
        assert_eq!(list("search=").await.len(), 3);
        assert_eq!(list("name=Delta&search=alpha").await.len(), 0);
        assert_eq!(list("unknown=1").await.len(), 3);
        // Ordering by each allowed field, descending, unknown names dropped.
        assert_eq!(
            list("ordering=score_min_threshold").await,
            ["alpha gamma", "Delta", "Alpha Beta"]
        );
        assert_eq!(
            list("ordering=-score_min_threshold").await,
            ["Alpha Beta", "Delta", "alpha gamma"]
        );
        assert_eq!(
            list("ordering=-interactive,name").await,
            ["Alpha Beta", "Delta", "alpha gamma"]
        );
        assert_eq!(
            list("ordering=public_key,-name").await,
            ["Delta", "Alpha Beta", "alpha gamma"]
        );
        assert_eq!(list("ordering=flow_set").await, list("").await);
        // js_url is text: "https://5" sorts after "https://11".
        assert_eq!(
            list("ordering=nope,-js_url").await,
            ["Delta", "alpha gamma", "Alpha Beta"]
        );
        for field in [
            "pk",
            "name",
            "public_key",
            "js_url",
            "api_url",
            "interactive",
            "score_min_threshold",
            "score_max_threshold",
            "error_on_invalid_score",
        ] {
            for prefix in ["", "-"] {
                let resp = app.get(&format!("{STAGES}?ordering={prefix}{field}")).await;
                assert_eq!(resp.status, StatusCode::OK);
                assert_eq!(resp.body["results"].as_array().unwrap().len(), 3);
            }
        }
        let by_pk: Vec<String> = app.get(&format!("{STAGES}?ordering=pk")).await.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["pk"].as_str().unwrap().to_string())
            .collect();
        let mut sorted = by_pk.clone();
        sorted.sort();
        assert_eq!(by_pk, sorted);
    }
}

#[tokio::test]
async fn retrieve_and_not_found() {
    for app in apps().await {
        let stage = app.create_stage(&minimal("one")).await;
        let id = stage["pk"].as_str().unwrap();
        assert_eq!(app.get(&stage_path(id)).await.body, stage);
        let unknown = uuid::Uuid::new_v4().to_string();
        for (path, message) in [
            (
                stage_path(&unknown),
                "No CaptchaStage matches the given query.",
            ),
            (stage_path("not-a-uuid"), "Not found."),
            (
                format!("{}used_by/", stage_path(&unknown)),
                "No CaptchaStage matches the given query.",
            ),
        ] {
            let resp = app.get(&path).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(resp.body, json!({"detail": message}));
        }
        let resp = app.put(&stage_path(&unknown), &minimal("upsert?")).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(app.count("stage").await, 1);
        let resp = app.patch(&stage_path("zzz"), &json!({})).await;
        assert_eq!(resp.body, json!({"detail": "Not found."}));
    }
}

#[tokio::test]
async fn put_and_patch_semantics() {
    for app in apps().await {
        app.create_stage(&minimal("other")).await;
        let mut request = minimal("mine");
        request["interactive"] = json!(true);
        request["score_max_threshold"] = json!(0.9);
        let stage = app.create_stage(&request).await;
        let path = stage_path(stage["pk"].as_str().unwrap());

        // PUT needs the three required keys, private_key included.
        let resp = app
            .put(&path, &json!({"name": "mine", "public_key": "p"}))
            .await;
        assert_eq!(
            resp.body,
            json!({"private_key": ["This field is required."]})
        );
        // Name uniqueness ignores the stage itself, not others.
        let resp = app
            .put(
                &path,
                &json!({"name": "other", "public_key": "p", "private_key": "k"}),
            )
            .await;
        assert_eq!(
            resp.body,
            json!({"name": ["stage with this name already exists."]})
        );
        let resp = app
            .put(
                &path,
                &json!({"name": " mine ", "public_key": "p2", "private_key": "k2"}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(resp.body["public_key"], "p2");
        // Optional keys absent from a PUT keep their stored values.
        assert_eq!(resp.body["interactive"], true);
        assert_eq!(resp.body["score_max_threshold"], 0.9);

        // PATCH changes only what it carries, validating only that.
        let resp = app
            .patch(&path, &json!({"api_url": " https://verify "}))
            .await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body["api_url"], "https://verify");
        assert_eq!(resp.body["public_key"], "p2");
        let resp = app.patch(&path, &json!({"name": ""})).await;
        assert_eq!(resp.body, json!({"name": ["This field may not be blank."]}));
        let resp = app.patch(&path, &json!({})).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert!(!resp.text.contains("k2"));
        let resp = app.patch(&path, &json!({"name": "mine"})).await;
        assert_eq!(resp.status, StatusCode::OK);
        // The private key was kept (it is write-only, so read the table).
        let stored = stored_private_key(&app, stage["pk"].as_str().unwrap()).await;
        assert_eq!(stored, "k2");
        let resp = app.patch(&path, &json!({"private_key": " k3 "})).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(
            stored_private_key(&app, stage["pk"].as_str().unwrap()).await,
            "k3"
        );
        // Body errors come after the 404.
        let unknown = stage_path(&uuid::Uuid::new_v4().to_string());
        let resp = app
            .send(
                app.req(reqwest::Method::PATCH, &unknown)
                    .header("content-type", "application/json")
                    .body("{"),
            )
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
    }
}

async fn stored_private_key(app: &TestApp, id: &str) -> String {
    use sea_orm::{EntityTrait, QueryFilter, sea_query::Expr};
    let _ = Expr::val(1);
    let row = entity::captcha_stage::Entity::find()
        .filter(sea_orm::ColumnTrait::eq(
            &entity::captcha_stage::Column::StagePtrId,
            uuid::Uuid::parse_str(id).unwrap(),
        ))
        .one(&app.db.reader)
        .await
        .unwrap()
        .unwrap();
    row.private_key.expose().to_string()
}

#[tokio::test]
async fn get_body_sent_back_as_put_changes_nothing() {
    for app in apps().await {
        let mut request = minimal("round trip");
        request["flow_set"] = json!([flow("rt-a"), flow("rt-b")]);
        let created = app.create_stage(&request).await;
        let path = stage_path(created["pk"].as_str().unwrap());
        let before = app.get(&path).await.body;
        let counts = app.table_counts().await;
        let mut body = before.clone();
        body["private_key"] = json!("secret-key");
        let resp = app.put(&path, &body).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(resp.body, before);
        assert_eq!(app.get(&path).await.body, before);
        assert_eq!(app.table_counts().await, counts);
    }
}

#[tokio::test]
async fn flow_set_updates() {
    for app in apps().await {
        let mut request = minimal("owner");
        request["flow_set"] = json!([flow("keep"), flow("drop")]);
        let stage = app.create_stage(&request).await;
        let path = stage_path(stage["pk"].as_str().unwrap());
        let mut other = minimal("other");
        other["flow_set"] = json!([flow("elsewhere")]);
        app.create_stage(&other).await;
        // flow_set is ordered by slug: "drop", then "keep".
        let keep_pk = stage["flow_set"][1]["pk"].clone();
        assert_eq!(stage["flow_set"][1]["slug"], "keep");

        // A slug of a flow bound elsewhere: 400, nothing changed.
        let counts = app.table_counts().await;
        let resp = app
            .patch(
                &path,
                &json!({"flow_set": [flow("keep"), flow("elsewhere")], "name": "renamed"}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.body,
            json!({"flow_set": [{}, {"slug": ["Flow with this slug already exists."]}]})
        );
        assert_eq!(app.table_counts().await, counts);
        assert_eq!(app.get(&path).await.body["name"], "owner");

        // Rename a bound flow's title, add a new one, drop one.
        let mut changed = flow("keep");
        changed["title"] = json!("New title");
        changed["layout"] = json!("content_left");
        let resp = app
            .patch(&path, &json!({"flow_set": [changed, flow("added")]}))
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        let slugs: Vec<&str> = resp.body["flow_set"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["slug"].as_str().unwrap())
            .collect();
        assert_eq!(slugs, ["added", "keep"]);
        let keep = &resp.body["flow_set"][1];
        assert_eq!(keep["pk"], keep_pk);
        assert_eq!(keep["title"], "New title");
        assert_eq!(keep["layout"], "content_left");
        assert_eq!(app.get(&path).await.body, resp.body);
        // The dropped flow still exists (unbound): its slug is now taken for new flows.
        assert_eq!(app.count("flow").await, 4);
        let mut reuse = minimal("reuse");
        reuse["flow_set"] = json!([flow("drop")]);
        assert_eq!(
            app.post(STAGES, &reuse).await.status,
            StatusCode::BAD_REQUEST
        );

        // Absent flow_set leaves bindings alone; PUT without it too.
        let resp = app
            .put(
                &path,
                &json!({"name": "owner", "public_key": "p", "private_key": "k"}),
            )
            .await;
        assert_eq!(resp.body["flow_set"].as_array().unwrap().len(), 2);
        // An empty list unbinds everything, keeping the flows.
        let resp = app.patch(&path, &json!({"flow_set": []})).await;
        assert_eq!(resp.body["flow_set"], json!([]));
        assert_eq!(app.count("flow").await, 4);
        assert_eq!(app.count("flow_stage_binding").await, 1);
    }
}

#[tokio::test]
async fn delete_cascades_bindings_not_flows_and_used_by() {
    for app in apps().await {
        let mut request = minimal("doomed");
        request["flow_set"] = json!([flow("survivor")]);
        let stage = app.create_stage(&request).await;
        let id = stage["pk"].as_str().unwrap();
        let used_by = app.get(&format!("{}used_by/", stage_path(id))).await;
        assert_eq!(used_by.status, StatusCode::OK);
        let flow_pk = stage["flow_set"][0]["pk"].as_str().unwrap();
        let entries = used_by.body.as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            json!({"app": "authentik_flows", "model_name": "flow", "pk": flow_pk,
                   "name": "Flow Flow survivor (survivor)", "action": "cascade_many"})
        );
        assert_eq!(entries[1]["model_name"], "flowstagebinding");
        assert_eq!(entries[1]["action"], "cascade");
        assert_eq!(
            entries[1]["name"],
            format!("Flow-stage binding #0 to {flow_pk}")
        );
        let raw = &used_by.text;
        let order = [
            "\"app\"",
            "\"model_name\"",
            "\"pk\"",
            "\"name\"",
            "\"action\"",
        ];
        let positions: Vec<usize> = order.iter().map(|k| raw.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));

        let unbound = app.create_stage(&minimal("unbound")).await;
        let resp = app
            .get(&format!(
                "{}used_by/",
                stage_path(unbound["pk"].as_str().unwrap())
            ))
            .await;
        assert_eq!(resp.body, json!([]));

        let resp = app.delete(&stage_path(id)).await;
        assert_eq!(resp.status, StatusCode::NO_CONTENT);
        assert!(resp.text.is_empty());
        assert_eq!(
            app.delete(&stage_path(id)).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.get(&stage_path(id)).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.table_counts().await, [1, 1, 1, 0]);
    }
}
