//! Flows over REST (`/api/v3/flows/instances/`, by slug) and GraphQL (`flow`, `flows`,
//! `createFlow`, …): defaults and authentik's key order, every validation message, the
//! viewset's routes, list filters, `used_by`, permissions, batched loading, and writers racing
//! on two instances.

use std::collections::HashMap;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stages_api::auth::Permission;

use crate::attack::{BINARY, half_written_rows, postgres_url, second_instance};
use crate::flow_helpers::*;
use crate::helpers::*;

const DESIGNATIONS: [&str; 7] = [
    "authentication",
    "authorization",
    "invalidation",
    "enrollment",
    "unenrollment",
    "recovery",
    "stage_configuration",
];
const LAYOUTS: [&str; 5] = [
    "stacked",
    "content_left",
    "content_right",
    "sidebar_left",
    "sidebar_right",
];
const DENIED_ACTIONS: [&str; 3] = ["message_continue", "message", "continue"];
const AUTHENTICATIONS: [&str; 6] = [
    "none",
    "require_authenticated",
    "require_unauthenticated",
    "require_superuser",
    "require_redirect",
    "require_outpost",
];

fn slugs(body: &Value) -> Vec<String> {
    result_values(body, "slug")
}

#[tokio::test]
async fn create_applies_defaults_in_authentiks_key_order() {
    for app in apps().await {
        let resp = app.post(FLOWS, &flow("first")).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        assert_eq!(Ordered::parse(&resp.text).keys(), FLOW_KEYS);
        let body = &resp.body;
        let id = uuid::Uuid::parse_str(&pk(body)).expect("pk is a UUID");
        let ptr = uuid::Uuid::parse_str(body["policybindingmodel_ptr_id"].as_str().unwrap())
            .expect("policybindingmodel_ptr_id is a UUID");
        assert_ne!(id, ptr);
        assert_eq!(
            body,
            &json!({
                "pk": id.to_string(),
                "policybindingmodel_ptr_id": ptr.to_string(),
                "name": "Flow first",
                "slug": "first",
                "title": "Title first",
                "designation": "authentication",
                "background": DEFAULT_BACKGROUND,
                "stages": [],
                "policies": [],
                "cache_count": 0,
                "policy_engine_mode": "any",
                "compatibility_mode": false,
                "export_url": "/api/v3/flows/instances/first/export/",
                "layout": "stacked",
                "denied_action": "message_continue",
                "authentication": "none"
            })
        );
        // A read answers what the create answered, in the same order.
        let got = app.get(&flow_path("first")).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body, resp.body);
        assert_eq!(Ordered::parse(&got.text).keys(), FLOW_KEYS);

        // Every writable field; read-only keys are ignored; strings are trimmed.
        let full = app
            .post(
                FLOWS,
                &json!({
                    "name": "  Full  ", "slug": " full-1_X ", "title": "\tThe title ",
                    "designation": "stage_configuration", "policy_engine_mode": "all",
                    "compatibility_mode": true, "layout": "sidebar_right",
                    "denied_action": "continue", "authentication": "require_outpost",
                    "pk": uuid::Uuid::new_v4(), "policybindingmodel_ptr_id": uuid::Uuid::new_v4(),
                    "background": "https://example.com/bg.png", "stages": [uuid::Uuid::new_v4()],
                    "policies": [uuid::Uuid::new_v4()], "cache_count": 7, "export_url": "/elsewhere/",
                    "unknown": 1
                }),
            )
            .await;
        assert_eq!(full.status, StatusCode::CREATED, "{}", full.text);
        let f = &full.body;
        assert_eq!(f["name"], "Full");
        assert_eq!(f["slug"], "full-1_X");
        assert_eq!(f["title"], "The title");
        assert_eq!(f["designation"], "stage_configuration");
        assert_eq!(f["policy_engine_mode"], "all");
        assert_eq!(f["compatibility_mode"], true);
        assert_eq!(f["layout"], "sidebar_right");
        assert_eq!(f["denied_action"], "continue");
        assert_eq!(f["authentication"], "require_outpost");
        assert_eq!(f["background"], DEFAULT_BACKGROUND);
        assert_eq!(f["stages"], json!([]));
        assert_eq!(f["policies"], json!([]));
        assert_eq!(f["cache_count"], 0);
        assert_eq!(f["export_url"], "/api/v3/flows/instances/full-1_X/export/");
        assert_eq!(app.get(&flow_path("full-1_X")).await.body, full.body);
        // A 50-character slug is the longest.
        let longest = "s".repeat(50);
        create_flow(&app, &longest).await;
        // Numbers for strings are stored as text, tolerant booleans are read.
        let tolerant = create_flow_with(
            &app,
            &json!({"name": 5, "slug": "tolerant", "title": 1.5, "designation": "recovery",
                    "compatibility_mode": "yes"}),
        )
        .await;
        assert_eq!(
            (
                &tolerant["name"],
                &tolerant["title"],
                &tolerant["compatibility_mode"]
            ),
            (&json!("5"), &json!("1.5"), &json!(true))
        );
        assert_eq!(app.table_counts().await, [0, 0, 4, 0]);
    }
}

#[tokio::test]
async fn every_validation_message() {
    for app in apps().await {
        create_flow(&app, "taken").await;
        let refused = |body: Value, expected: Value| {
            let app = &app;
            async move {
                let resp = app.post(FLOWS, &body).await;
                assert_eq!(
                    resp.status,
                    StatusCode::BAD_REQUEST,
                    "{:?} {body}: {}",
                    app.backend,
                    resp.text
                );
                assert_eq!(resp.body, expected, "{:?} {body}", app.backend);
                resp
            }
        };
        // Every required key at once, in field order.
        let resp = refused(
            json!({}),
            json!({"name": [REQUIRED], "slug": [REQUIRED], "title": [REQUIRED], "designation": [REQUIRED]}),
        )
        .await;
        assert_eq!(
            Ordered::parse(&resp.text).keys(),
            ["name", "slug", "title", "designation"]
        );
        // Blank and white space only.
        refused(
            json!({"name": " ", "slug": "", "title": "\t\n", "designation": "recovery"}),
            json!({"name": [BLANK], "slug": [BLANK], "title": [BLANK]}),
        )
        .await;
        // The slug's pattern and length, and both at once.
        for bad in ["bad slug", "a/b", "ü", "a.b", "semi;colon"] {
            let mut body = flow("x");
            body["slug"] = json!(bad);
            refused(body, field_error("slug", SLUG_PATTERN)).await;
        }
        let mut body = flow("x");
        body["slug"] = json!("s".repeat(51));
        refused(body, field_error("slug", SLUG_TOO_LONG)).await;
        let mut body = flow("x");
        body["slug"] = json!("é".repeat(51));
        refused(body, json!({"slug": [SLUG_TOO_LONG, SLUG_PATTERN]})).await;
        // Slugs are unique case-sensitively, as Django's `exact` on PostgreSQL.
        create_flow(&app, "TAKEN").await;
        let before = app.table_counts().await;
        // A slug that is taken, also after trimming.
        refused(flow("taken"), field_error("slug", SLUG_TAKEN)).await;
        let mut body = flow("x");
        body["slug"] = json!("  taken ");
        refused(body, field_error("slug", SLUG_TAKEN)).await;
        // A bad choice in each choice field, all reported at once.
        let mut body = flow("x");
        for key in [
            "designation",
            "policy_engine_mode",
            "layout",
            "denied_action",
            "authentication",
        ] {
            body[key] = json!("x");
        }
        let resp = refused(
            body,
            json!({
                "designation": ["\"x\" is not a valid choice."],
                "policy_engine_mode": ["\"x\" is not a valid choice."],
                "layout": ["\"x\" is not a valid choice."],
                "denied_action": ["\"x\" is not a valid choice."],
                "authentication": ["\"x\" is not a valid choice."]
            }),
        )
        .await;
        assert_eq!(
            Ordered::parse(&resp.text).keys(),
            [
                "designation",
                "policy_engine_mode",
                "layout",
                "denied_action",
                "authentication"
            ]
        );
        // Choices are case-sensitive values, not GraphQL's names.
        let mut body = flow("x");
        body["designation"] = json!("AUTHENTICATION");
        body["layout"] = json!("Stacked");
        refused(
            body,
            json!({"designation": ["\"AUTHENTICATION\" is not a valid choice."],
                   "layout": ["\"Stacked\" is not a valid choice."]}),
        )
        .await;
        // NUL characters.
        refused(
            json!({"name": "a\u{0}b", "slug": "nul", "title": "\u{0}", "designation": "recovery"}),
            json!({"name": [NUL], "title": [NUL]}),
        )
        .await;
        let mut body = flow("x");
        body["slug"] = json!("nul\u{0}slug");
        let resp = app.post(FLOWS, &body).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert!(
            resp.body["slug"]
                .as_array()
                .is_some_and(|m| m.contains(&json!(NUL))),
            "{}",
            resp.text
        );
        // Text over the limit of 4,096 characters.
        let too_long = "Ensure this field has no more than 4096 characters.";
        let mut body = flow("x");
        body["name"] = json!("n".repeat(4097));
        body["title"] = json!("t".repeat(4097));
        refused(body, json!({"name": [too_long], "title": [too_long]})).await;
        // Wrong types, and null.
        refused(
            json!({"name": true, "slug": ["a"], "title": {"a": 1}, "designation": null,
                   "compatibility_mode": "maybe", "layout": null}),
            json!({
                "name": ["Not a valid string."],
                "slug": ["Not a valid string."],
                "title": ["Not a valid string."],
                "designation": ["This field may not be null."],
                "compatibility_mode": ["Must be a valid boolean."],
                "layout": ["This field may not be null."]
            }),
        )
        .await;
        // A body that is not an object.
        refused(
            json!([flow("x")]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        )
        .await;
        refused(
            Value::Null,
            json!({"non_field_errors": ["No data provided"]}),
        )
        .await;
        assert_eq!(app.table_counts().await, before, "{:?}", app.backend);
    }
}

#[tokio::test]
async fn retrieve_replace_and_update_by_slug() {
    for app in apps().await {
        let created = create_flow_with(
            &app,
            &json!({"name": "Kept", "slug": "kept", "title": "Kept title",
                    "designation": "enrollment", "policy_engine_mode": "all",
                    "compatibility_mode": true, "layout": "content_left",
                    "denied_action": "message", "authentication": "require_superuser"}),
        )
        .await;
        let id = pk(&created);
        let missing = app.get(&flow_path("nope")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.body, detail(NO_FLOW));
        // Slugs are case-sensitive; a slug no flow can have names none.
        for path in [flow_path("KEPT"), flow_path("ke%00pt"), flow_path("k%20e")] {
            let resp = app.get(&path).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(resp.body, detail(NO_FLOW), "{path}");
        }

        // PUT needs the required keys; the flow must exist before the body is looked at.
        let resp = app.put(&flow_path("kept"), &json!({})).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.body,
            json!({"name": [REQUIRED], "slug": [REQUIRED], "title": [REQUIRED], "designation": [REQUIRED]})
        );
        let resp = app.put(&flow_path("nope"), &json!({})).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail(NO_FLOW));
        let resp = app.put(&flow_path("nope"), &flow("nope")).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "no upsert");
        assert_eq!(app.count("flow").await, 1);

        // Optional keys absent from a PUT keep their stored values.
        let resp = app
            .put(
                &flow_path("kept"),
                &json!({"name": "Put", "slug": "kept", "title": "Put title", "designation": "recovery"}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(Ordered::parse(&resp.text).keys(), FLOW_KEYS);
        let mut expected = created.clone();
        expected["name"] = json!("Put");
        expected["title"] = json!("Put title");
        expected["designation"] = json!("recovery");
        assert_eq!(resp.body, expected);
        assert_eq!(app.get(&flow_path("kept")).await.body, expected);

        // A new slug keeps the pk and the bindings.
        let stage = create_stage(&app, "bound into kept").await;
        let binding = bind(&app, &id, &pk(&stage), 3).await;
        let mut body = flow("renamed");
        body["layout"] = json!("sidebar_left");
        let resp = app.put(&flow_path("kept"), &body).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(resp.body["pk"], json!(id));
        assert_eq!(resp.body["slug"], "renamed");
        assert_eq!(resp.body["layout"], "sidebar_left");
        assert_eq!(resp.body["authentication"], "require_superuser");
        assert_eq!(resp.body["stages"], json!([pk(&stage)]));
        assert_eq!(
            resp.body["export_url"],
            "/api/v3/flows/instances/renamed/export/"
        );
        assert_eq!(
            app.get(&flow_path("kept")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.get(&flow_path("renamed")).await.body, resp.body);
        assert_eq!(
            app.get(&binding_path(&pk(&binding))).await.body["target"],
            json!(id)
        );
        let stage_now = app.get(&stage_path(&pk(&stage))).await.body;
        assert_eq!(stage_now["flow_set"][0]["slug"], "renamed");

        // A slug that another flow has is refused by PUT and PATCH; nothing changes.
        create_flow(&app, "other").await;
        let before = app.get(&flow_path("renamed")).await.body;
        let resp = app.put(&flow_path("renamed"), &flow("other")).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.body, field_error("slug", SLUG_TAKEN));
        let resp = app
            .patch(
                &flow_path("renamed"),
                &json!({"slug": "other", "name": "lost"}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.body, field_error("slug", SLUG_TAKEN));
        assert_eq!(app.get(&flow_path("renamed")).await.body, before);
        // Its own slug is no conflict.
        let resp = app
            .patch(&flow_path("renamed"), &json!({"slug": "renamed"}))
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(resp.body, before);

        // PATCH changes the keys it carries only; an empty PATCH changes nothing.
        let resp = app
            .patch(&flow_path("renamed"), &json!({"title": "  Patched "}))
            .await;
        assert_eq!(resp.status, StatusCode::OK);
        let mut expected = before.clone();
        expected["title"] = json!("Patched");
        assert_eq!(resp.body, expected);
        let resp = app.patch(&flow_path("renamed"), &json!({})).await;
        assert_eq!(resp.body, expected);
        let resp = app
            .patch(
                &flow_path("renamed"),
                &json!({"slug": "bad slug", "layout": "x"}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.body,
            json!({"slug": [SLUG_PATTERN], "layout": ["\"x\" is not a valid choice."]})
        );
        let resp = app
            .patch(&flow_path("nope"), &json!({"slug": "bad slug"}))
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail(NO_FLOW));
        // Every choice of every choice field.
        for (key, values) in [
            ("designation", &DESIGNATIONS[..]),
            ("layout", &LAYOUTS[..]),
            ("denied_action", &DENIED_ACTIONS[..]),
            ("authentication", &AUTHENTICATIONS[..]),
            ("policy_engine_mode", &["any", "all"][..]),
        ] {
            for value in values {
                let resp = app
                    .patch(&flow_path("renamed"), &json!({ key: value }))
                    .await;
                assert_eq!(resp.status, StatusCode::OK, "{key}={value}: {}", resp.text);
                assert_eq!(resp.body[key], json!(value));
                assert_eq!(app.get(&flow_path("renamed")).await.body[key], json!(value));
            }
        }
        // A slug change by PATCH, the bindings kept.
        let resp = app
            .patch(&flow_path("renamed"), &json!({"slug": "patched-slug"}))
            .await;
        assert_eq!(resp.body["pk"], json!(id));
        assert_eq!(resp.body["stages"], json!([pk(&stage)]));
        assert_eq!(app.table_counts().await, [1, 1, 2, 1]);
    }
}

#[tokio::test]
async fn delete_removes_the_bindings_never_a_stage() {
    for app in apps().await {
        let doomed = create_flow(&app, "doomed").await;
        let kept = create_flow(&app, "kept").await;
        let one = create_stage(&app, "one").await;
        let two = create_stage(&app, "two").await;
        let doomed_bindings = [
            bind(&app, &pk(&doomed), &pk(&one), 0).await,
            bind(&app, &pk(&doomed), &pk(&two), 1).await,
            bind(&app, &pk(&doomed), &pk(&one), 2).await,
        ];
        let kept_binding = bind(&app, &pk(&kept), &pk(&one), 0).await;
        assert_eq!(app.table_counts().await, [2, 2, 2, 4]);

        let resp = app.delete(&flow_path("doomed")).await;
        assert_eq!(resp.status, StatusCode::NO_CONTENT);
        assert!(resp.text.is_empty());
        let resp = app.get(&flow_path("doomed")).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail(NO_FLOW));
        let resp = app.delete(&flow_path("doomed")).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail(NO_FLOW));

        assert_eq!(app.table_counts().await, [2, 2, 1, 1]);
        for binding in &doomed_bindings {
            let resp = app.get(&binding_path(&pk(binding))).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND);
            assert_eq!(resp.body, detail(NO_BINDING));
        }
        let listed = app.get(BINDINGS).await.body;
        assert_eq!(result_pks(&listed), [pk(&kept_binding)]);
        let one_now = app.get(&stage_path(&pk(&one))).await.body;
        assert_eq!(slugs_of_flow_set(&one_now), ["kept"]);
        let two_now = app.get(&stage_path(&pk(&two))).await;
        assert_eq!(two_now.status, StatusCode::OK);
        assert_eq!(two_now.body["flow_set"], json!([]));
        assert_eq!(
            app.get(&flow_path("kept")).await.body["stages"],
            json!([pk(&one)])
        );
    }
}

fn slugs_of_flow_set(stage: &Value) -> Vec<String> {
    stage["flow_set"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["slug"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn routes_slashes_and_methods() {
    for app in apps().await {
        let base = FLOWS.trim_end_matches('/');
        let resp = app.post(base, &flow("no-slash")).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        let resp = app.get(base).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body["pagination"]["count"], 1);
        let detail_path = format!("{FLOWS}no-slash");
        assert_eq!(app.get(&detail_path).await.status, StatusCode::OK);
        let resp = app.patch(&detail_path, &json!({"title": "t"})).await;
        assert_eq!(resp.status, StatusCode::OK);
        let resp = app.put(&detail_path, &flow("no-slash")).await;
        assert_eq!(resp.status, StatusCode::OK);
        let resp = app.get(&format!("{FLOWS}no-slash/used_by")).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body, json!([]));

        // Methods a route does not have: 405 with Allow.
        for (method, path, allow) in [
            (Method::DELETE, FLOWS.to_string(), "GET, POST, HEAD"),
            (Method::PUT, FLOWS.to_string(), "GET, POST, HEAD"),
            (
                Method::POST,
                flow_path("no-slash"),
                "GET, PUT, PATCH, DELETE, HEAD",
            ),
            (
                Method::DELETE,
                format!("{FLOWS}no-slash/used_by/"),
                "GET, HEAD",
            ),
            (Method::PATCH, BINDINGS.to_string(), "GET, POST, HEAD"),
            (
                Method::POST,
                binding_path(&uuid::Uuid::new_v4().to_string()),
                "GET, PUT, PATCH, DELETE, HEAD",
            ),
        ] {
            let resp = app.send(app.req(method.clone(), &path)).await;
            assert_eq!(
                resp.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(
                resp.body,
                detail(&format!("Method \"{method}\" not allowed.")),
                "{method} {path}"
            );
            let allowed: Vec<&str> = resp.headers["allow"]
                .to_str()
                .unwrap()
                .split(',')
                .map(str::trim)
                .collect();
            let mut expected: Vec<&str> = allow.split(", ").collect();
            let mut allowed_sorted = allowed.clone();
            allowed_sorted.sort();
            expected.sort();
            assert_eq!(allowed_sorted, expected, "{method} {path}");
        }
        assert_eq!(
            app.delete(&detail_path).await.status,
            StatusCode::NO_CONTENT
        );
    }
}

/// The flow actions authentik has and this service does not (yet): `Not found.`, never the
/// flow lookup's answer and never a 405.
#[tokio::test]
async fn unbuilt_flow_actions_are_not_found() {
    for app in apps().await {
        create_flow(&app, "exists").await;
        let mut wrong = Vec::new();
        for (method, path) in [
            (Method::GET, format!("{FLOWS}import/")),
            (Method::POST, format!("{FLOWS}import/")),
            (Method::GET, format!("{FLOWS}cache_info/")),
            (Method::POST, format!("{FLOWS}cache_clear/")),
            (Method::GET, format!("{FLOWS}exists/export/")),
            (Method::GET, format!("{FLOWS}exists/diagram/")),
            (Method::GET, format!("{FLOWS}exists/execute/")),
            (Method::POST, format!("{FLOWS}exists/set_background/")),
            (Method::POST, format!("{FLOWS}exists/set_background_url/")),
            (Method::GET, "/api/v3/flows/inspector/exists/".to_string()),
            (Method::GET, "/api/v3/flows/nothing/".to_string()),
        ] {
            let resp = app.send(app.req(method.clone(), &path)).await;
            if (resp.status, &resp.body) != (StatusCode::NOT_FOUND, &detail("Not found.")) {
                wrong.push(format!("{method} {path}: {} {}", resp.status, resp.text));
            }
        }
        // Even a flow whose slug is an action's name does not hide the action.
        create_flow(&app, "import").await;
        let resp = app.get(&format!("{FLOWS}import/")).await;
        if resp.status != StatusCode::NOT_FOUND {
            wrong.push(format!(
                "GET import/ with a flow \"import\": {}",
                resp.status
            ));
        }
        assert!(wrong.is_empty(), "{:?}: {wrong:#?}", app.backend);
    }
}

/// The parts of the previous test that hold now: paths below a flow that no route serves.
#[tokio::test]
async fn paths_below_a_flow_are_not_found() {
    for app in apps().await {
        create_flow(&app, "exists").await;
        for (method, path) in [
            (Method::GET, format!("{FLOWS}exists/export/")),
            (Method::GET, format!("{FLOWS}exists/diagram/")),
            (Method::GET, format!("{FLOWS}exists/execute/")),
            (Method::POST, format!("{FLOWS}exists/set_background/")),
            (Method::GET, "/api/v3/flows/nothing/".to_string()),
        ] {
            let resp = app.send(app.req(method.clone(), &path)).await;
            assert_eq!(
                (resp.status, &resp.body),
                (StatusCode::NOT_FOUND, &detail("Not found.")),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn list_filters_search_ordering_and_pages() {
    for app in apps().await {
        let empty = app.get(FLOWS).await;
        assert_eq!(
            empty.body,
            json!({"pagination": {"next": 0, "previous": 0, "count": 0, "current": 1,
                                  "total_pages": 1, "start_index": 0, "end_index": 0},
                   "results": [], "autocomplete": {}})
        );
        assert_eq!(
            Ordered::parse(&empty.text).keys(),
            ["pagination", "results", "autocomplete"]
        );
        let mut made = HashMap::new();
        for (slug, name, title, designation, denied) in [
            ("b-flow", "Beta", "Login page", "authentication", "message"),
            ("a-flow", "Alpha", "Enroll here", "enrollment", "continue"),
            ("c-flow", "Alpha", "Recover", "recovery", "message_continue"),
            (
                "d-flow",
                "Gamma",
                "MESSAGE board",
                "authorization",
                "message_continue",
            ),
        ] {
            let body = create_flow_with(
                &app,
                &json!({"name": name, "slug": slug, "title": title, "designation": designation,
                        "denied_action": denied}),
            )
            .await;
            made.insert(slug, pk(&body));
        }
        let list = |query: String| {
            let app = &app;
            async move {
                let resp = app.get(&format!("{FLOWS}?{query}")).await;
                assert_eq!(resp.status, StatusCode::OK, "{query}: {}", resp.text);
                slugs(&resp.body)
            }
        };
        let refused = |query: &'static str, expected: Value| {
            let app = &app;
            async move {
                let resp = app.get(&format!("{FLOWS}?{query}")).await;
                assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{query}");
                assert_eq!(resp.body, expected, "{query}");
            }
        };
        let all = ["a-flow", "b-flow", "c-flow", "d-flow"];
        let whole = app.get(FLOWS).await;
        assert_eq!(slugs(&whole.body), all);
        assert_eq!(whole.body["autocomplete"], json!({}));
        assert_eq!(
            whole.body["pagination"],
            json!({"next": 0, "previous": 0, "count": 4, "current": 1, "total_pages": 1,
                   "start_index": 1, "end_index": 4})
        );
        for item in whole.body["results"].as_array().unwrap() {
            assert_eq!(
                Ordered::parse(&item.to_string()).keys().len(),
                FLOW_KEYS.len()
            );
        }
        // Each filter.
        assert_eq!(
            list(format!("flow_uuid={}", made["b-flow"])).await,
            ["b-flow"]
        );
        assert_eq!(
            list(format!("flow_uuid={}", uuid::Uuid::new_v4())).await,
            Vec::<String>::new()
        );
        assert_eq!(list("flow_uuid=".into()).await, all);
        refused(
            "flow_uuid=nope",
            json!({"flow_uuid": ["Enter a valid UUID."]}),
        )
        .await;
        assert_eq!(list("name=Alpha".into()).await, ["a-flow", "c-flow"]);
        assert!(list("name=alpha".into()).await.is_empty());
        assert_eq!(list("slug=c-flow".into()).await, ["c-flow"]);
        assert!(list("slug=C-FLOW".into()).await.is_empty());
        assert_eq!(list("designation=recovery".into()).await, ["c-flow"]);
        assert!(list("designation=invalidation".into()).await.is_empty());
        refused(
            "designation=x",
            json!({"designation": ["Select a valid choice. x is not one of the available choices."]}),
        )
        .await;
        assert_eq!(
            list("denied_action=message_continue".into()).await,
            ["c-flow", "d-flow"]
        );
        refused(
            "denied_action=MESSAGE",
            json!({"denied_action": ["Select a valid choice. MESSAGE is not one of the available choices."]}),
        )
        .await;
        assert_eq!(
            list("name=Alpha&designation=enrollment".into()).await,
            ["a-flow"]
        );
        assert_eq!(list("unknown=1".into()).await, all);
        // Search: name, slug, designation, title and denied action, case-insensitive, every
        // term must match.
        assert_eq!(list("search=alpha".into()).await, ["a-flow", "c-flow"]);
        assert_eq!(list("search=ALPHA".into()).await, ["a-flow", "c-flow"]);
        assert_eq!(list("search=b-fl".into()).await, ["b-flow"]);
        assert_eq!(list("search=authoriz".into()).await, ["d-flow"]);
        assert_eq!(list("search=login".into()).await, ["b-flow"]);
        assert_eq!(
            list("search=message".into()).await,
            ["b-flow", "c-flow", "d-flow"]
        );
        assert_eq!(
            list("search=continue".into()).await,
            ["a-flow", "c-flow", "d-flow"]
        );
        assert_eq!(list("search=alpha%20recover".into()).await, ["c-flow"]);
        assert_eq!(list("search=alpha,enroll".into()).await, ["a-flow"]);
        assert!(list("search=alpha%20login".into()).await.is_empty());
        assert_eq!(list("search=".into()).await, all);
        assert!(list("search=%25".into()).await.is_empty());
        assert!(
            list("search=a_flow".into()).await.is_empty(),
            "_ is no wildcard"
        );
        // Ordering: slug by default, then name; descending; unknown names ignored.
        assert_eq!(
            list("ordering=-slug".into()).await,
            ["d-flow", "c-flow", "b-flow", "a-flow"]
        );
        assert_eq!(
            list("ordering=name,-slug".into()).await,
            ["c-flow", "a-flow", "b-flow", "d-flow"]
        );
        assert_eq!(
            list("ordering=-name,slug".into()).await,
            ["d-flow", "b-flow", "a-flow", "c-flow"]
        );
        assert_eq!(
            list("ordering=title".into()).await,
            ["a-flow", "b-flow", "d-flow", "c-flow"]
        );
        assert_eq!(list("ordering=nope".into()).await, all);
        assert_eq!(list("ordering=stages".into()).await, all);
        assert_eq!(
            list("ordering=nope,-slug".into()).await,
            ["d-flow", "c-flow", "b-flow", "a-flow"]
        );
        // Pages.
        let page = app.get(&format!("{FLOWS}?page_size=3")).await.body;
        assert_eq!(slugs(&page), ["a-flow", "b-flow", "c-flow"]);
        assert_eq!(
            page["pagination"],
            json!({"next": 2, "previous": 0, "count": 4, "current": 1, "total_pages": 2,
                   "start_index": 1, "end_index": 3})
        );
        let page = app.get(&format!("{FLOWS}?page_size=3&page=2")).await.body;
        assert_eq!(slugs(&page), ["d-flow"]);
        assert_eq!(page["pagination"]["previous"], 1);
        let page = app
            .get(&format!("{FLOWS}?page_size=3&page=last&ordering=-slug"))
            .await
            .body;
        assert_eq!(slugs(&page), ["a-flow"]);
        for bad in ["3", "0", "x"] {
            let resp = app.get(&format!("{FLOWS}?page_size=3&page={bad}")).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "page={bad}");
            assert_eq!(resp.body, detail("Invalid page."));
        }

        // `stages`: the bound stages' pks in binding order, a stage bound twice twice.
        let one = create_stage(&app, "one").await;
        let two = create_stage(&app, "two").await;
        bind(&app, &made["b-flow"], &pk(&one), 5).await;
        bind(&app, &made["b-flow"], &pk(&two), 1).await;
        bind(&app, &made["b-flow"], &pk(&one), 9).await;
        bind(&app, &made["b-flow"], &pk(&two), -4).await;
        let expected = json!([pk(&two), pk(&two), pk(&one), pk(&one)]);
        let listed = app.get(&format!("{FLOWS}?slug=b-flow")).await.body;
        assert_eq!(listed["results"][0]["stages"], expected);
        assert_eq!(app.get(&flow_path("b-flow")).await.body["stages"], expected);
        let listed = app.get(FLOWS).await.body;
        for item in listed["results"].as_array().unwrap() {
            if item["slug"] != "b-flow" {
                assert_eq!(item["stages"], json!([]));
            }
        }
    }
}

fn used_by_binding(binding: &Value, flow_pk: &str) -> Value {
    json!({"app": "authentik_flows", "model_name": "flowstagebinding", "pk": pk(binding),
           "name": format!("Flow-stage binding #{} to {flow_pk}", binding["order"]),
           "action": "cascade"})
}

fn used_by_stage(stage: &Value) -> Value {
    json!({"app": "authentik_flows", "model_name": "stage", "pk": pk(stage),
           "name": format!("Stage {}", stage["name"].as_str().unwrap()),
           "action": "cascade_many"})
}

#[tokio::test]
async fn used_by_lists_bindings_then_stages() {
    for app in apps().await {
        let target = create_flow(&app, "used").await;
        let id = pk(&target);
        let resp = app.get(&format!("{}used_by/", flow_path("used"))).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body, json!([]));
        let alpha = create_stage(&app, "Alpha stage").await;
        let beta = create_stage(&app, "Beta stage").await;
        let b10 = bind(&app, &id, &pk(&beta), 10).await;
        let b_minus = bind(&app, &id, &pk(&alpha), -3).await;
        let b20 = bind(&app, &id, &pk(&beta), 20).await;
        // Bindings of other flows do not show.
        let other = create_flow(&app, "other").await;
        bind(&app, &pk(&other), &pk(&alpha), 0).await;

        let resp = app.get(&format!("{}used_by/", flow_path("used"))).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(
            resp.body,
            json!([
                used_by_binding(&b_minus, &id),
                used_by_binding(&b10, &id),
                used_by_binding(&b20, &id),
                used_by_stage(&alpha),
                used_by_stage(&beta),
                used_by_stage(&beta)
            ])
        );
        assert_eq!(
            resp.body[0]["name"],
            json!(format!("Flow-stage binding #-3 to {id}"))
        );
        let ordered = Ordered::parse(&resp.text);
        for i in 0..6 {
            assert_eq!(
                ordered.at(i).keys(),
                ["app", "model_name", "pk", "name", "action"]
            );
        }
        let resp = app.get(&format!("{}used_by/", flow_path("nope"))).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail(NO_FLOW));
    }
}

/// Each operation needs its own permission: every other one gets 403, its own 2xx.
#[tokio::test]
async fn each_operation_needs_its_permission() {
    for app in apps().await {
        create_flow(&app, "guarded").await;
        let stage = create_stage(&app, "guarded stage").await;
        let binding = bind(
            &app,
            &pk(&app.get(&flow_path("guarded")).await.body),
            &pk(&stage),
            1,
        )
        .await;
        let mut round = 0;
        for (permission, method, path, body, ok) in [
            (
                Permission::ViewFlow,
                Method::GET,
                FLOWS.to_string(),
                None,
                StatusCode::OK,
            ),
            (
                Permission::ViewFlow,
                Method::GET,
                flow_path("guarded"),
                None,
                StatusCode::OK,
            ),
            (
                Permission::ViewFlow,
                Method::GET,
                format!("{}used_by/", flow_path("guarded")),
                None,
                StatusCode::OK,
            ),
            (
                Permission::AddFlow,
                Method::POST,
                FLOWS.to_string(),
                Some(flow("added")),
                StatusCode::CREATED,
            ),
            (
                Permission::ChangeFlow,
                Method::PUT,
                flow_path("guarded"),
                Some(flow("guarded")),
                StatusCode::OK,
            ),
            (
                Permission::ChangeFlow,
                Method::PATCH,
                flow_path("guarded"),
                Some(json!({"title": "changed"})),
                StatusCode::OK,
            ),
            (
                Permission::DeleteFlow,
                Method::DELETE,
                flow_path("added"),
                None,
                StatusCode::NO_CONTENT,
            ),
        ] {
            round += 1;
            let others = app.token_with(&all_but(permission)).await;
            let resp = send_as(&app, &others, method.clone(), &path, body.as_ref()).await;
            assert_eq!(
                (resp.status, &resp.body),
                (StatusCode::FORBIDDEN, &detail(FORBIDDEN)),
                "{method} {path} without {permission:?}"
            );
            let own = app.token_with(&[permission]).await;
            let resp = send_as(&app, &own, method.clone(), &path, body.as_ref()).await;
            assert_eq!(
                resp.status, ok,
                "{method} {path} with {permission:?}: {}",
                resp.text
            );
        }
        assert_eq!(round, 7);
        // The refused writes wrote nothing.
        assert_eq!(
            app.get(&flow_path("added")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.table_counts().await, [1, 1, 1, 1]);
        // No token at all.
        let resp = app
            .send(app.client.get(format!("{}{FLOWS}", app.base)))
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN);
        assert_eq!(
            resp.body,
            detail("Authentication credentials were not provided.")
        );

        // used_by lists only what the token may view.
        let flow_pk = pk(&app.get(&flow_path("guarded")).await.body);
        let used_by = format!("{}used_by/", flow_path("guarded"));
        let entry_binding = used_by_binding(&binding, &flow_pk);
        let entry_stage = used_by_stage(&stage);
        for (permissions, expected) in [
            (vec![Permission::ViewFlow], json!([])),
            (
                vec![Permission::ViewFlow, Permission::ViewFlowStageBinding],
                json!([entry_binding]),
            ),
            (
                vec![Permission::ViewFlow, Permission::ViewCaptchaStage],
                json!([entry_stage]),
            ),
            (
                vec![
                    Permission::ViewFlow,
                    Permission::ViewCaptchaStage,
                    Permission::ViewFlowStageBinding,
                ],
                json!([entry_binding, entry_stage]),
            ),
        ] {
            let token = app.token_with(&permissions).await;
            let resp = send_as(&app, &token, Method::GET, &used_by, None).await;
            assert_eq!(resp.status, StatusCode::OK, "{permissions:?}");
            assert_eq!(resp.body, expected, "{permissions:?}");
        }
    }
}

/// `stages-api token create --permission authentik_flows.…` makes a token the running service
/// honours.
#[tokio::test]
async fn token_create_accepts_the_flow_permissions() {
    let app = spawn(Backend::Sqlite).await;
    create_flow(&app, "cli").await;
    let run = |args: &[&str]| {
        let output = Command::new(BINARY)
            .args(args)
            .env("DATABASE_URL", &app.database_url)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let token = run(&[
        "token",
        "create",
        "--name",
        "flow-viewer",
        "--permission",
        "authentik_flows.view_flow",
    ]);
    assert!(token.len() >= 32, "{token}");
    let resp = send_as(&app, &token, Method::GET, FLOWS, None).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(slugs(&resp.body), ["cli"]);
    assert_eq!(
        send_as(&app, &token, Method::GET, &flow_path("cli"), None)
            .await
            .status,
        StatusCode::OK
    );
    for (method, path, body) in [
        (Method::POST, FLOWS, Some(flow("refused"))),
        (Method::GET, BINDINGS, None),
        (Method::GET, STAGES, None),
    ] {
        let resp = send_as(&app, &token, method.clone(), path, body.as_ref()).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    // Every flow and binding permission is known to the command.
    let mut args = vec!["token", "create", "--name", "all-flows"];
    for permission in [
        "authentik_flows.add_flow",
        "authentik_flows.view_flow",
        "authentik_flows.change_flow",
        "authentik_flows.delete_flow",
        "authentik_flows.add_flowstagebinding",
        "authentik_flows.view_flowstagebinding",
        "authentik_flows.change_flowstagebinding",
        "authentik_flows.delete_flowstagebinding",
    ] {
        args.extend(["--permission", permission]);
    }
    let token = run(&args);
    let resp = send_as(&app, &token, Method::POST, FLOWS, Some(&flow("cli-made"))).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    let stage = create_stage(&app, "cli stage").await;
    let resp = send_as(
        &app,
        &token,
        Method::POST,
        BINDINGS,
        Some(&binding_request(&pk(&resp.body), &pk(&stage), 0)),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
}

// ---------------------------------------------------------------------------------------------
// GraphQL

const FLOW_FIELDS: &str = "id policybindingmodelPtrId name slug title designation background
    policies cacheCount policyEngineMode compatibilityMode exportUrl layout deniedAction
    authentication";

fn errors_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// A REST flow as GraphQL names it (without `stages`).
fn as_graphql(flow: &Value) -> Value {
    let upper = |key: &str| json!(flow[key].as_str().unwrap().to_uppercase());
    json!({
        "id": flow["pk"], "policybindingmodelPtrId": flow["policybindingmodel_ptr_id"],
        "name": flow["name"], "slug": flow["slug"], "title": flow["title"],
        "designation": upper("designation"), "background": flow["background"],
        "policies": flow["policies"], "cacheCount": flow["cache_count"],
        "policyEngineMode": upper("policy_engine_mode"),
        "compatibilityMode": flow["compatibility_mode"], "exportUrl": flow["export_url"],
        "layout": upper("layout"), "deniedAction": upper("denied_action"),
        "authentication": upper("authentication")
    })
}

#[tokio::test]
async fn graphql_flow_queries() {
    for app in apps().await {
        let rest = create_flow_with(
            &app,
            &json!({"name": "G", "slug": "g-one", "title": "GT", "designation": "stage_configuration",
                    "layout": "content_right", "denied_action": "continue",
                    "authentication": "require_unauthenticated", "policy_engine_mode": "all"}),
        )
        .await;
        for slug in ["g-two", "g-three"] {
            create_flow(&app, slug).await;
        }
        let query = format!(
            "query($slug: String, $id: UUID) {{ flow(slug: $slug, id: $id) {{ {FLOW_FIELDS} }} }}"
        );
        let by_slug = app.graphql(&query, json!({"slug": "g-one"})).await;
        assert!(by_slug.get("errors").is_none(), "{by_slug}");
        assert_eq!(by_slug["data"]["flow"], as_graphql(&rest));
        let by_id = app.graphql(&query, json!({"id": rest["pk"]})).await;
        assert_eq!(by_id, by_slug);
        for variables in [json!({"slug": "nope"}), json!({"id": uuid::Uuid::new_v4()})] {
            let body = app.graphql(&query, variables.clone()).await;
            assert_eq!(body, json!({"data": {"flow": null}}), "{variables}");
        }
        for variables in [json!({}), json!({"slug": "g-one", "id": rest["pk"]})] {
            let body = app.graphql(&query, variables.clone()).await;
            assert_eq!(errors_code(&body), "BAD_USER_INPUT", "{variables}: {body}");
            assert_eq!(body["data"], Value::Null, "{variables}");
        }

        // The list: REST's filters, search, ordering and pages.
        let page = |args: &str| {
            let query = format!(
                "{{ flows{args} {{ pagination {{ count totalPages next previous current startIndex endIndex }} results {{ slug }} }} }}"
            );
            let app = &app;
            async move {
                let body = app.graphql(&query, json!({})).await;
                assert!(body.get("errors").is_none(), "{query}: {body}");
                body["data"]["flows"].clone()
            }
        };
        let slugs_of = |page: &Value| -> Vec<String> {
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["slug"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(slugs_of(&page("").await), ["g-one", "g-three", "g-two"]);
        assert_eq!(
            slugs_of(&page("(ordering: \"-slug\")").await),
            ["g-two", "g-three", "g-one"]
        );
        assert_eq!(
            slugs_of(&page("(designation: STAGE_CONFIGURATION)").await),
            ["g-one"]
        );
        assert_eq!(slugs_of(&page("(deniedAction: CONTINUE)").await), ["g-one"]);
        assert_eq!(
            slugs_of(&page("(deniedAction: MESSAGE_CONTINUE)").await),
            ["g-three", "g-two"]
        );
        assert_eq!(
            slugs_of(&page(&format!("(flowUuid: \"{}\")", pk(&rest))).await),
            ["g-one"]
        );
        assert_eq!(slugs_of(&page("(name: \"Flow g-two\")").await), ["g-two"]);
        assert_eq!(slugs_of(&page("(slug: \"g-three\")").await), ["g-three"]);
        assert_eq!(
            slugs_of(&page("(search: \"TITLE G-T\")").await),
            ["g-three", "g-two"]
        );
        let second = page("(pageSize: 2, page: 2)").await;
        assert_eq!(slugs_of(&second), ["g-two"]);
        assert_eq!(
            second["pagination"],
            json!({"count": 3, "totalPages": 2, "next": 0, "previous": 1, "current": 2,
                   "startIndex": 3, "endIndex": 3})
        );
        let body = app
            .graphql(
                "{ flows(page: 3, pageSize: 2) { results { slug } } }",
                json!({}),
            )
            .await;
        assert_eq!(errors_code(&body), "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["message"], "Invalid page.");
        // An enum value that is not one is GraphQL's own refusal.
        let body = app
            .graphql(
                "{ flows(designation: NOPE) { results { slug } } }",
                json!({}),
            )
            .await;
        assert!(body["errors"][0]["message"].is_string(), "{body}");
        assert_ne!(errors_code(&body), "INTERNAL_SERVER_ERROR");
    }
}

const CREATE_FLOW: &str = "mutation($input: CreateFlowInput!) { createFlow(input: $input) {
    id policybindingmodelPtrId name slug title designation background policies cacheCount
    policyEngineMode compatibilityMode exportUrl layout deniedAction authentication } }";

fn gql_flow(slug: &str) -> Value {
    json!({"name": format!("Flow {slug}"), "slug": slug, "title": format!("Title {slug}"),
           "designation": "AUTHENTICATION"})
}

#[tokio::test]
async fn graphql_flow_mutations() {
    for app in apps().await {
        // Defaults, as REST's.
        let body = app
            .graphql(CREATE_FLOW, json!({"input": gql_flow("gm")}))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let created = &body["data"]["createFlow"];
        let rest = app.get(&flow_path("gm")).await.body;
        assert_eq!(created, &as_graphql(&rest));
        assert_eq!(created["authentication"], "NONE");
        assert_eq!(created["layout"], "STACKED");
        // Every field, upper-case enums.
        let mut input = gql_flow("gm-full");
        for (key, value) in [
            ("designation", json!("UNENROLLMENT")),
            ("policyEngineMode", json!("ALL")),
            ("compatibilityMode", json!(true)),
            ("layout", json!("SIDEBAR_LEFT")),
            ("deniedAction", json!("MESSAGE")),
            ("authentication", json!("REQUIRE_AUTHENTICATED")),
        ] {
            input[key] = value;
        }
        let body = app.graphql(CREATE_FLOW, json!({"input": input})).await;
        assert!(body.get("errors").is_none(), "{body}");
        let rest = app.get(&flow_path("gm-full")).await.body;
        assert_eq!(body["data"]["createFlow"], as_graphql(&rest));
        assert_eq!(rest["authentication"], "require_authenticated");
        assert_eq!(rest["designation"], "unenrollment");
        assert_eq!(rest["layout"], "sidebar_left");

        // The same rules and messages, field names in camelCase.
        let before = app.table_counts().await;
        let body = app
            .graphql(CREATE_FLOW, json!({"input": gql_flow("gm")}))
            .await;
        assert_eq!(errors_code(&body), "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["message"], "Invalid input.");
        assert_eq!(
            body["errors"][0]["extensions"]["fieldErrors"],
            json!({"slug": [SLUG_TAKEN]})
        );
        assert_eq!(body["data"], Value::Null);
        let body = app
            .graphql(
                CREATE_FLOW,
                json!({"input": {"name": " ", "slug": "bad slug", "title": "t\u{0}",
                                 "designation": "RECOVERY"}}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["fieldErrors"],
            json!({"name": [BLANK], "slug": [SLUG_PATTERN], "title": [NUL]})
        );
        let body = app
            .graphql(
                CREATE_FLOW,
                json!({"input": {"name": "n", "slug": "x", "title": "t", "designation": "recovery"}}),
            )
            .await;
        assert!(body["errors"][0]["message"].is_string(), "{body}");
        assert_ne!(errors_code(&body), "INTERNAL_SERVER_ERROR");
        assert_eq!(app.table_counts().await, before);

        // updateFlow: PATCH; null is "not given".
        let update = "mutation($slug: String!, $input: UpdateFlowInput!) {
            updateFlow(slug: $slug, input: $input) { slug title layout authentication compatibilityMode } }";
        let body = app
            .graphql(
                update,
                json!({"slug": "gm", "input": {"title": "New", "layout": "CONTENT_LEFT",
                                               "authentication": "REQUIRE_SUPERUSER",
                                               "name": null, "compatibilityMode": null}}),
            )
            .await;
        assert_eq!(
            body["data"]["updateFlow"],
            json!({"slug": "gm", "title": "New", "layout": "CONTENT_LEFT",
                   "authentication": "REQUIRE_SUPERUSER", "compatibilityMode": false}),
            "{body}"
        );
        let body = app
            .graphql(update, json!({"slug": "gm", "input": {"slug": "gm-full"}}))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["fieldErrors"],
            json!({"slug": [SLUG_TAKEN]})
        );

        // replaceFlow: PUT; a new slug keeps the id and the bindings, optional fields kept.
        let flow_id = pk(&app.get(&flow_path("gm")).await.body);
        let stage = create_stage(&app, "gm stage").await;
        bind(&app, &flow_id, &pk(&stage), 2).await;
        let replace = "mutation($slug: String!, $input: CreateFlowInput!) {
            replaceFlow(slug: $slug, input: $input) { id slug name layout authentication
              stages { id } stageBindings { order } } }";
        let body = app
            .graphql(
                replace,
                json!({"slug": "gm", "input": gql_flow("gm-renamed")}),
            )
            .await;
        assert_eq!(
            body["data"]["replaceFlow"],
            json!({"id": flow_id, "slug": "gm-renamed", "name": "Flow gm-renamed",
                   "layout": "CONTENT_LEFT", "authentication": "REQUIRE_SUPERUSER",
                   "stages": [{"id": pk(&stage)}], "stageBindings": [{"order": 2}]}),
            "{body}"
        );
        let body = app
            .graphql(
                replace,
                json!({"slug": "gm-renamed", "input": gql_flow("gm-full")}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["fieldErrors"],
            json!({"slug": [SLUG_TAKEN]})
        );

        // Unknown slugs: NOT_FOUND with REST's message.
        for (mutation, variables) in [
            (update, json!({"slug": "nope", "input": {"title": "x"}})),
            (replace, json!({"slug": "nope", "input": gql_flow("nope")})),
            (
                "mutation($slug: String!) { deleteFlow(slug: $slug) }",
                json!({"slug": "nope"}),
            ),
        ] {
            let body = app.graphql(mutation, variables).await;
            assert_eq!(errors_code(&body), "NOT_FOUND", "{mutation}: {body}");
            assert_eq!(body["errors"][0]["message"], NO_FLOW);
        }

        // deleteFlow: the id; the bindings go, the stage stays.
        let body = app
            .graphql(
                "mutation($slug: String!) { deleteFlow(slug: $slug) }",
                json!({"slug": "gm-renamed"}),
            )
            .await;
        assert_eq!(body["data"]["deleteFlow"], json!(flow_id));
        assert_eq!(
            app.get(&flow_path("gm-renamed")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.table_counts().await, [1, 1, 1, 0]);

        // FORBIDDEN per permission.
        for (permission, operation, variables) in [
            (
                Permission::AddFlow,
                CREATE_FLOW,
                json!({"input": gql_flow("forbidden")}),
            ),
            (
                Permission::ChangeFlow,
                update,
                json!({"slug": "gm-full", "input": {"title": "x"}}),
            ),
            (
                Permission::ChangeFlow,
                "mutation($slug: String!, $input: CreateFlowInput!) {
                    replaceFlow(slug: $slug, input: $input) { id } }",
                json!({"slug": "gm-full", "input": gql_flow("gm-full")}),
            ),
            (
                Permission::DeleteFlow,
                "mutation($slug: String!) { deleteFlow(slug: $slug) }",
                json!({"slug": "gm-full"}),
            ),
            (
                Permission::ViewFlow,
                "query($slug: String!) { flow(slug: $slug) { slug } }",
                json!({"slug": "gm-full"}),
            ),
            (
                Permission::ViewFlow,
                "{ flows { results { slug } } }",
                json!({}),
            ),
        ] {
            let token = app.token_with(&all_but(permission)).await;
            let body = app
                .graphql_as(Some(&token), operation, variables.clone())
                .await;
            assert_eq!(errors_code(&body), "FORBIDDEN", "{operation}: {body}");
            assert_eq!(body["errors"][0]["message"], FORBIDDEN);
            let token = app.token_with(&[permission]).await;
            let body = app.graphql_as(Some(&token), operation, variables).await;
            assert!(body.get("errors").is_none(), "{operation}: {body}");
        }
        assert_eq!(
            app.get(&flow_path("gm-full")).await.status,
            StatusCode::NOT_FOUND,
            "the permitted deleteFlow ran"
        );
    }
}

/// `Flow.stageBindings` and `Flow.stages` by binding order, through the `Stage` interface.
#[tokio::test]
async fn graphql_flow_relations() {
    for app in apps().await {
        let target = create_flow(&app, "rel").await;
        let one = create_stage(&app, "rel one").await;
        let two = app
            .create_stage(&json!({"name": "rel two", "public_key": "pk-two", "private_key": "s"}))
            .await;
        bind(&app, &pk(&target), &pk(&one), 30).await;
        bind(&app, &pk(&target), &pk(&two), -1).await;
        bind(&app, &pk(&target), &pk(&one), 7).await;
        let body = app
            .graphql(
                r#"{ flow(slug: "rel") {
                    stageBindings { order target { slug } stage { __typename name ... on CaptchaStage { publicKey } } }
                    stages { __typename id name component flowSet { slug } } } }"#,
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let stage = |s: &Value, key: &str| json!({"__typename": "CaptchaStage", "name": s["name"], "publicKey": key});
        assert_eq!(
            body["data"]["flow"]["stageBindings"],
            json!([
                {"order": -1, "target": {"slug": "rel"}, "stage": stage(&two, "pk-two")},
                {"order": 7, "target": {"slug": "rel"}, "stage": stage(&one, "site-key")},
                {"order": 30, "target": {"slug": "rel"}, "stage": stage(&one, "site-key")}
            ])
        );
        let listed = |s: &Value| {
            json!({"__typename": "CaptchaStage", "id": s["pk"], "name": s["name"],
                   "component": "ak-stage-captcha-form", "flowSet": [{"slug": "rel"}, {"slug": "rel"}]})
        };
        let mut two_listed = listed(&two);
        two_listed["flowSet"] = json!([{"slug": "rel"}]);
        assert_eq!(
            body["data"]["flow"]["stages"],
            json!([two_listed, listed(&one), listed(&one)])
        );
        // The relations need the permission to view what they show.
        let token = app.token_with(&[Permission::ViewFlow]).await;
        let body = app
            .graphql_as(
                Some(&token),
                r#"{ flow(slug: "rel") { slug stageBindings { order } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(errors_code(&body), "FORBIDDEN", "{body}");
        let body = app
            .graphql_as(
                Some(&token),
                r#"{ flow(slug: "rel") { slug stages { name } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(errors_code(&body), "FORBIDDEN", "{body}");
        let token = app
            .token_with(&[Permission::ViewFlow, Permission::ViewFlowStageBinding])
            .await;
        let body = app
            .graphql_as(
                Some(&token),
                r#"{ flow(slug: "rel") { slug stageBindings { order stage { name } } } }"#,
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["flow"]["stageBindings"][0]["stage"]["name"],
            "rel two"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Batched loading

/// Creates flows `flow-{i}` for `i` in `range`, each with two bindings: its own stage (through
/// the stage's `flow_set`, order 0) and the previous flow's stage at order 1 (the first flow's
/// second binding is its own stage again).
async fn flows_with_two_bindings(app: &TestApp, range: std::ops::Range<usize>) {
    for i in range {
        let mut request = minimal(&format!("stage {i:03}"));
        request["flow_set"] = json!([flow(&format!("flow-{i:03}"))]);
        let stage = app.create_stage(&request).await;
        let flow_id = stage["flow_set"][0]["pk"].as_str().unwrap().to_string();
        let second = if i == 0 {
            pk(&stage)
        } else {
            let previous = app
                .get(&format!("{STAGES}?name=stage%20{:03}", i - 1))
                .await
                .body;
            pk(&previous["results"][0])
        };
        bind(app, &flow_id, &second, 1).await;
    }
}

/// All pages of a REST list.
async fn every_page(app: &TestApp, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut page = 1;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let body = app
            .get(&format!("{path}{separator}page_size=100&page={page}"))
            .await
            .body;
        items.extend(body["results"].as_array().unwrap().iter().cloned());
        if body["pagination"]["next"] == 0 {
            return items;
        }
        page += 1;
    }
}

const FLOWS_PAGE: &str = "{ flows(pageSize: 100) { results { slug stageBindings { order stage { name } } stages { name } } } }";

#[tokio::test]
async fn pages_of_flows_load_in_constant_queries() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && postgres_url().is_none() {
            continue;
        }
        let (url, dir) = fresh_database(backend).await;
        let mut db = stages_api::db::connect(&url).await.unwrap();
        stages_api::db::migrate(&db).await.unwrap();
        let statements = count_statements(&mut db);
        let app = spawn_on(backend, url, db, dir).await;
        let mut counts = Vec::new();
        for (size, batch) in [(5usize, 0usize), (100, 5)] {
            flows_with_two_bindings(&app, batch..size).await;
            let before = *statements.lock().unwrap();
            let rest = app.get(&format!("{FLOWS}?page_size=100")).await;
            let rest_count = *statements.lock().unwrap() - before;
            assert_eq!(rest.body["results"].as_array().unwrap().len(), size);
            let before = *statements.lock().unwrap();
            let graphql = app.graphql(FLOWS_PAGE, json!({})).await;
            let graphql_count = *statements.lock().unwrap() - before;
            assert!(graphql.get("errors").is_none(), "{graphql}");
            counts.push(("rest", size, rest_count));
            counts.push(("graphql", size, graphql_count));

            // The GraphQL answer is the REST data under GraphQL's names.
            let names: HashMap<String, String> = every_page(&app, STAGES)
                .await
                .iter()
                .map(|s| (pk(s), s["name"].as_str().unwrap().to_string()))
                .collect();
            let mut bindings_of: HashMap<String, Vec<Value>> = HashMap::new();
            for binding in every_page(&app, BINDINGS).await {
                bindings_of
                    .entry(binding["target"].as_str().unwrap().to_string())
                    .or_default()
                    .push(json!({"order": binding["order"],
                                 "stage": {"name": binding["stage_obj"]["name"]}}));
            }
            let expected: Vec<Value> = rest.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|flow| {
                    let stages: Vec<Value> = flow["stages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|id| json!({"name": names[id.as_str().unwrap()]}))
                        .collect();
                    assert_eq!(stages.len(), 2, "{flow}");
                    json!({"slug": flow["slug"], "stageBindings": bindings_of[&pk(flow)],
                           "stages": stages})
                })
                .collect();
            assert_eq!(
                graphql["data"]["flows"]["results"],
                json!(expected),
                "{backend:?} {size}"
            );
        }
        assert_eq!(counts[0].2, counts[2].2, "{backend:?} REST: {counts:?}");
        assert_eq!(counts[1].2, counts[3].2, "{backend:?} GraphQL: {counts:?}");
        // The token, the count, the flows, and their bindings with their stages in one.
        assert_eq!(counts[1].2, 4, "{backend:?} GraphQL: {counts:?}");
        assert!(counts[0].2 <= 6, "{backend:?} REST list: {counts:?}");
        assert!(counts[1].2 <= 10, "{backend:?} GraphQL list: {counts:?}");
        eprintln!("flows page statements ({backend:?}): {counts:?}");
    }
}

/// The plain fast path and the full resolvers (forced by named fragments) give the same JSON,
/// aliases and all.
#[tokio::test]
async fn plain_flow_selections_answer_as_the_full_resolvers() {
    for app in apps().await {
        flows_with_two_bindings(&app, 0..4).await;
        // A flow with no binding, and one stage bound twice into one flow.
        let mut escaped = flow("flow-empty");
        escaped["title"] = json!("Quotes \" back\\slash \u{1F600} \u{00e9} <tag> \t tab");
        create_flow_with(&app, &escaped).await;
        let twice = create_flow(&app, "flow-twice").await;
        let stage = create_stage(&app, "twice").await;
        bind(&app, &pk(&twice), &pk(&stage), 4).await;
        bind(&app, &pk(&twice), &pk(&stage), 2).await;

        let flow_fields = "__typename id policybindingmodelPtrId name slug title designation
            background policies cacheCount policyEngineMode compatibilityMode exportUrl layout
            deniedAction authentication alias: slug";
        let binding_fields = "__typename id policybindingmodelPtrId evaluateOnPlan
            reEvaluatePolicies order policyEngineMode invalidResponseAction again: order";
        let stage_fields = "__typename id name component";
        let plain = format!(
            "{{ flows {{ results {{ {flow_fields}
                 stageBindings {{ {binding_fields} target {{ slug }} stage {{ {stage_fields} flowSet {{ slug }} }} }}
                 stages {{ {stage_fields} flowSet {{ slug layout }} }} }} }} }}"
        );
        let full = format!(
            "{{ flows {{ results {{ ...F }} }} }}
             fragment F on Flow {{ {flow_fields} stageBindings {{ ...B }} stages {{ ...S flowSet {{ ...G }} }} }}
             fragment B on FlowStageBinding {{ {binding_fields} target {{ ...T }} stage {{ ...S flowSet {{ ...T }} }} }}
             fragment S on Stage {{ {stage_fields} }}
             fragment T on Flow {{ slug }}
             fragment G on Flow {{ slug layout }}"
        );
        let plain = app.graphql(&plain, json!({})).await;
        let full = app.graphql(&full, json!({})).await;
        assert!(plain.get("errors").is_none(), "{plain}");
        assert!(full.get("errors").is_none(), "{full}");
        assert_eq!(
            plain["data"]["flows"]["results"].as_array().unwrap().len(),
            6
        );
        assert_eq!(plain.to_string(), full.to_string());
        // The same for one flow, and for the binding queries.
        for (plain_query, full_query) in [
            (
                format!(r#"{{ flow(slug: "flow-twice") {{ {flow_fields} stageBindings {{ order stage {{ name }} }} stages {{ name }} }} }}"#),
                format!(r#"{{ flow(slug: "flow-twice") {{ ...F }} }} fragment F on Flow {{ {flow_fields} stageBindings {{ ...B }} stages {{ ...S }} }}
                   fragment B on FlowStageBinding {{ order stage {{ ...S }} }} fragment S on Stage {{ name }}"#),
            ),
            (
                format!("{{ flowStageBindings {{ results {{ {binding_fields} target {{ slug stages {{ name }} }} stage {{ {stage_fields} }} }} }} }}"),
                format!("{{ flowStageBindings {{ results {{ ...B }} }} }} fragment B on FlowStageBinding {{ {binding_fields} target {{ slug stages {{ ...N }} }} stage {{ ...S }} }}
                   fragment S on Stage {{ {stage_fields} }} fragment N on Stage {{ name }}"),
            ),
        ] {
            let plain = app.graphql(&plain_query, json!({})).await;
            let full = app.graphql(&full_query, json!({})).await;
            assert!(plain.get("errors").is_none(), "{plain}");
            assert_eq!(plain.to_string(), full.to_string(), "{plain_query}");
        }
    }
}

/// Fields that share a response key in one selection set are answered as async-graphql merges
/// them (the plain path stands aside for such documents): the same as one field selecting both.
#[tokio::test]
async fn repeated_response_keys_answer_merged() {
    for app in apps().await {
        flows_with_two_bindings(&app, 0..3).await;
        for (repeating, single) in [
            (
                "{ flows { results { slug } } flows { results { name } } }",
                "{ flows { results { slug name } } }",
            ),
            (
                "{ flows { results { slug stages { name } stages { id } } } }",
                "{ flows { results { slug stages { name id } } } }",
            ),
            (
                "{ flows { results { slug stageBindings { order } ...F } } }
                 fragment F on Flow { stageBindings { stage { name } } }",
                "{ flows { results { slug stageBindings { order stage { name } } } } }",
            ),
            (
                "{ flows { results { slug s: stages { name } s: stages { component } } } }",
                "{ flows { results { slug s: stages { name component } } } }",
            ),
        ] {
            let repeating_answer = app.graphql(repeating, json!({})).await;
            let single_answer = app.graphql(single, json!({})).await;
            assert!(single_answer.get("errors").is_none(), "{single_answer}");
            assert_eq!(
                repeating_answer.to_string(),
                single_answer.to_string(),
                "{repeating}"
            );
        }
    }
}

/// GraphQL reads bring back only the columns a document shows: each field selected alone (in
/// the page, its bindings and its stages) answers what a selection of every field answers, so
/// no field is left without the column it is read from or computed from.
#[tokio::test]
async fn narrow_flow_selections_answer_as_wide_ones() {
    let flow_fields = [
        "id",
        "policybindingmodelPtrId",
        "name",
        "slug",
        "title",
        "designation",
        "background",
        "policies",
        "cacheCount",
        "policyEngineMode",
        "compatibilityMode",
        "exportUrl",
        "layout",
        "deniedAction",
        "authentication",
    ];
    let binding_fields = [
        "id",
        "policybindingmodelPtrId",
        "evaluateOnPlan",
        "reEvaluatePolicies",
        "order",
        "policyEngineMode",
        "invalidResponseAction",
    ];
    let stage_fields = [
        "id",
        "name",
        "component",
        "verboseName",
        "verboseNamePlural",
        "metaModelName",
        "publicKey",
        "jsUrl",
        "apiUrl",
        "interactive",
        "scoreMinThreshold",
        "scoreMaxThreshold",
        "errorOnInvalidScore",
    ];
    for app in apps().await {
        flows_with_two_bindings(&app, 0..3).await;
        let wide_query = format!(
            "{{ flows {{ results {{ {} stageBindings {{ {} stage {{ ... on CaptchaStage {{ {} }} }} }}
                 stages {{ ... on CaptchaStage {{ {} }} }} }} }} }}",
            flow_fields.join(" "),
            binding_fields.join(" "),
            stage_fields.join(" "),
            stage_fields.join(" "),
        );
        let wide = app.graphql(&wide_query, json!({})).await;
        assert!(wide.get("errors").is_none(), "{wide}");
        assert_eq!(
            wide["data"]["flows"]["results"].as_array().unwrap().len(),
            3
        );
        // The wide document reads bindings with their stages in one statement; one that also
        // shows a stage's flows reads them apart (loaders::Shown): both answer the same.
        let apart = app
            .graphql(
                &format!(
                    "{{ captchaStages {{ results {{ flowSet {{ slug }} }} }} {}",
                    &wide_query[1..]
                ),
                json!({}),
            )
            .await;
        assert_eq!(apart["data"]["flows"], wide["data"]["flows"], "{apart}");
        let only = |item: &Value, field: &str| json!({ field: item[field].clone() });
        let list = |items: &Value, each: &dyn Fn(&Value) -> Value| {
            Value::Array(items.as_array().unwrap().iter().map(each).collect())
        };
        // (field, query selecting it alone, what the wide answer says it is)
        let mut cases: Vec<(&str, String, Value)> = Vec::new();
        for field in flow_fields {
            cases.push((
                field,
                format!("{{ flows {{ results {{ {field} }} }} }}"),
                list(&wide["data"]["flows"]["results"], &|flow| only(flow, field)),
            ));
        }
        for field in binding_fields {
            cases.push((
                field,
                format!("{{ flows {{ results {{ stageBindings {{ {field} }} }} }} }}"),
                list(&wide["data"]["flows"]["results"], &|flow| {
                    json!({"stageBindings": list(&flow["stageBindings"], &|b| only(b, field))})
                }),
            ));
        }
        for field in stage_fields {
            // Through a named fragment on the type, and through an inline one.
            cases.push((
                field,
                format!(
                    "{{ flows {{ results {{ stages {{ ...S }} stageBindings {{ stage {{ ... on CaptchaStage {{ {field} }} }} }} }} }} }}
                     fragment S on CaptchaStage {{ {field} }}"
                ),
                list(&wide["data"]["flows"]["results"], &|flow| {
                    json!({
                        "stages": list(&flow["stages"], &|s| only(s, field)),
                        "stageBindings": list(&flow["stageBindings"], &|b| json!({"stage": only(&b["stage"], field)})),
                    })
                }),
            ));
        }
        for (field, query, expected) in cases {
            let narrow = app.graphql(&query, json!({})).await;
            assert_eq!(
                narrow["data"]["flows"]["results"], expected,
                "{field}: {narrow}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency: two instances on one database

/// A flow DELETE racing a binding create into that flow, on two instances: the delete 204, the
/// create 201 or 400 (the target is gone), never a server error, and no binding outlives its
/// flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_delete_racing_a_binding_create() {
    flow_delete_racing_binding_creates(true).await;
}

/// What holds of the race above today: the DELETE always wins its 204, the create is never a
/// 500, and no binding outlives its flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_delete_racing_a_binding_create_leaves_no_orphan() {
    flow_delete_racing_binding_creates(false).await;
}

/// `strict`: the create must answer 201 or 400 `Invalid pk`; otherwise only a 500 is a fault.
async fn flow_delete_racing_binding_creates(strict: bool) {
    let mut faults = Vec::new();
    for backend in backends() {
        let a = spawn(backend).await;
        let b = second_instance(&a).await;
        let stage = pk(&create_stage(&a, "racer").await);
        let (mut created, mut refused) = (0, 0);
        let faults_before = faults.len();
        for round in 0..15 {
            let mut flows = Vec::new();
            for pair in 0..4 {
                let slug = format!("race-{round}-{pair}");
                flows.push((slug.clone(), pk(&create_flow(&a, &slug).await)));
            }
            let races = flows.iter().enumerate().map(|(pair, (slug, id))| {
                let (x, y) = if (round + pair) % 2 == 0 {
                    (&a, &b)
                } else {
                    (&b, &a)
                };
                let body = binding_request(id, &stage, 0);
                let path = flow_path(slug);
                async move { tokio::join!(x.delete(&path), y.post(BINDINGS, &body)) }
            });
            let results = futures::future::join_all(races).await;
            for ((_, id), (deleted, bound)) in flows.iter().zip(results) {
                if deleted.status != StatusCode::NO_CONTENT {
                    faults.push(format!(
                        "{backend:?} DELETE: {} {}",
                        deleted.status, deleted.text
                    ));
                }
                let gone =
                    json!({"target": [format!("Invalid pk \"{id}\" - object does not exist.")]});
                match bound.status {
                    StatusCode::CREATED => created += 1,
                    StatusCode::BAD_REQUEST if bound.body == gone => refused += 1,
                    other if !strict && other != StatusCode::INTERNAL_SERVER_ERROR => {
                        eprintln!(
                            "{backend:?} POST binding (known bug): {other} {}",
                            bound.text
                        )
                    }
                    other => {
                        faults.push(format!("{backend:?} POST binding: {other} {}", bound.text))
                    }
                }
            }
        }
        let orphans = half_written_rows(&a.db.reader).await;
        assert_eq!(a.count("flow").await, 0, "{backend:?}");
        assert_eq!(
            a.count("flow_stage_binding").await,
            0,
            "{backend:?}: orphans"
        );
        eprintln!(
            "flows concurrency DELETE/bind ({backend:?}): 60 races, bound first {created}, deleted first {refused}; {} faults; half-written {orphans:?}",
            faults.len() - faults_before
        );
        assert_eq!(orphans, [0, 0, 0, 0], "{backend:?}");
    }
    assert!(faults.is_empty(), "{faults:#?}");
}

/// A PATCH of a flow racing a stage's `flow_set` update of the same flow, on two instances: each
/// writes fields of its own, and both survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_patch_racing_a_flow_set_update() {
    for backend in backends() {
        let a = spawn(backend).await;
        let b = second_instance(&a).await;
        let mut request = minimal("shared");
        request["flow_set"] = json!([flow("contended")]);
        let stage = pk(&a.create_stage(&request).await);
        let mut lost = Vec::new();
        for round in 0..20usize {
            let authentication = AUTHENTICATIONS[round % AUTHENTICATIONS.len()];
            let layout = LAYOUTS[round % LAYOUTS.len()];
            let name = format!("name {round}");
            let flow_patch = json!({"authentication": authentication,
                                    "compatibility_mode": round % 2 == 0});
            let mut item = flow("contended");
            item["name"] = json!(name);
            item["layout"] = json!(layout);
            let stage_patch = json!({ "flow_set": [item] });
            let (x, y) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
            let (path, contended) = (stage_path(&stage), flow_path("contended"));
            let (rf, rs) = tokio::join!(
                x.patch(&contended, &flow_patch),
                y.patch(&path, &stage_patch)
            );
            assert_eq!(rf.status, StatusCode::OK, "{backend:?}: {}", rf.text);
            assert_eq!(rs.status, StatusCode::OK, "{backend:?}: {}", rs.text);
            let got = a.get(&flow_path("contended")).await.body;
            let want = (
                json!(authentication),
                json!(round % 2 == 0),
                json!(name),
                json!(layout),
            );
            let have = (
                got["authentication"].clone(),
                got["compatibility_mode"].clone(),
                got["name"].clone(),
                got["layout"].clone(),
            );
            if have != want {
                lost.push(format!("round {round}: {got}"));
            }
        }
        assert_eq!(a.table_counts().await, [1, 1, 1, 1]);
        eprintln!(
            "flows concurrency PATCH/flow_set ({backend:?}): 20 races, {} lost updates",
            lost.len()
        );
        assert!(lost.is_empty(), "{backend:?}: {lost:#?}");
    }
}
