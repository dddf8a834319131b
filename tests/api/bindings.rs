//! Flow-stage bindings over REST (`/api/v3/flows/bindings/`, by uuid) and GraphQL
//! (`flowStageBinding`, `createFlowStageBinding`, …): defaults and key order, validation, the
//! list's filters, the two views of one model (a stage's `flow_set` and this resource),
//! permissions, and two instances binding at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stages_api::auth::Permission;

use crate::attack::{postgres_url, second_instance};
use crate::flow_helpers::*;
use crate::helpers::*;

const FLOW_SET_KEYS: [&str; 12] = [
    "pk",
    "policybindingmodel_ptr_id",
    "name",
    "slug",
    "title",
    "designation",
    "background",
    "policy_engine_mode",
    "compatibility_mode",
    "export_url",
    "layout",
    "denied_action",
];

fn missing(id: &str) -> String {
    format!("Invalid pk \"{id}\" - object does not exist.")
}

/// A flow, a stage, and their ids.
async fn flow_and_stage(app: &TestApp, slug: &str, name: &str) -> (String, String) {
    (
        pk(&create_flow(app, slug).await),
        pk(&create_stage(app, name).await),
    )
}

#[tokio::test]
async fn create_applies_defaults_with_the_concrete_stage() {
    for app in apps().await {
        let (target, stage) = flow_and_stage(&app, "bf", "bound stage").await;
        let resp = app
            .post(BINDINGS, &binding_request(&target, &stage, 10))
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        let ordered = Ordered::parse(&resp.text);
        assert_eq!(ordered.keys(), BINDING_KEYS);
        assert_eq!(ordered.get("stage_obj").keys(), STAGE_OBJ_KEYS);
        assert_eq!(
            ordered.get("stage_obj").get("flow_set").at(0).keys(),
            FLOW_SET_KEYS
        );
        let body = &resp.body;
        let id = uuid::Uuid::parse_str(&pk(body)).expect("pk is a UUID");
        let ptr = uuid::Uuid::parse_str(body["policybindingmodel_ptr_id"].as_str().unwrap())
            .expect("a UUID");
        assert_ne!(id, ptr);
        let flow_now = app.get(&flow_path("bf")).await.body;
        let flow_set_entry: serde_json::Map<String, Value> = FLOW_SET_KEYS
            .iter()
            .map(|k| (k.to_string(), flow_now[*k].clone()))
            .collect();
        assert_eq!(
            body,
            &json!({
                "pk": id.to_string(),
                "policybindingmodel_ptr_id": ptr.to_string(),
                "target": target,
                "stage": stage,
                "stage_obj": {
                    "pk": stage,
                    "name": "bound stage",
                    "component": "ak-stage-captcha-form",
                    "verbose_name": "Captcha Stage",
                    "verbose_name_plural": "Captcha Stages",
                    "meta_model_name": "authentik_stages_captcha.captchastage",
                    "flow_set": [flow_set_entry]
                },
                "evaluate_on_plan": false,
                "re_evaluate_policies": true,
                "order": 10,
                "policy_engine_mode": "any",
                "invalid_response_action": "retry"
            })
        );
        // A read answers the same.
        let got = app.get(&binding_path(&pk(body))).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(&got.body, body);
        assert_eq!(Ordered::parse(&got.text).keys(), BINDING_KEYS);

        // Every writable field; read-only keys ignored; tolerant values read as DRF reads them.
        for (i, action) in ["retry", "restart", "restart_with_context"]
            .iter()
            .enumerate()
        {
            let resp = app
                .post(
                    BINDINGS,
                    &json!({"target": format!(" {target} "), "stage": stage.to_uppercase(),
                            "order": i, "evaluate_on_plan": "yes", "re_evaluate_policies": 0,
                            "policy_engine_mode": "all", "invalid_response_action": action,
                            "pk": uuid::Uuid::new_v4(), "stage_obj": {"name": "ignored"},
                            "policybindingmodel_ptr_id": uuid::Uuid::new_v4()}),
                )
                .await;
            assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
            let b = &resp.body;
            assert_eq!(b["target"], json!(target));
            assert_eq!(b["stage"], json!(stage));
            assert_eq!(b["order"], json!(i));
            assert_eq!(b["evaluate_on_plan"], true);
            assert_eq!(b["re_evaluate_policies"], false);
            assert_eq!(b["policy_engine_mode"], "all");
            assert_eq!(b["invalid_response_action"], json!(action));
            assert_eq!(b["stage_obj"]["name"], "bound stage");
            assert_eq!(app.get(&binding_path(&pk(b))).await.body, resp.body);
        }
        // The extremes of the 32-bit range, and numbers as DRF's IntegerField reads them.
        for (order, stored) in [
            (json!(2147483647), 2147483647i64),
            (json!(-2147483648), -2147483648),
            (json!("5"), 5),
            (json!(" 6 "), 6),
            (json!(7.0), 7),
            (json!("8.0"), 8),
        ] {
            let resp = app
                .post(
                    BINDINGS,
                    &json!({"target": target, "stage": stage, "order": order}),
                )
                .await;
            assert_eq!(resp.status, StatusCode::CREATED, "{order}: {}", resp.text);
            assert_eq!(resp.body["order"], json!(stored), "{order}");
        }
        assert_eq!(app.table_counts().await, [1, 1, 1, 10]);
    }
}

#[tokio::test]
async fn every_validation_message() {
    for app in apps().await {
        let (target, stage) = flow_and_stage(&app, "vf", "v stage").await;
        bind(&app, &target, &stage, 10).await;
        let before = app.table_counts().await;
        let refused = |body: Value, expected: Value| {
            let app = &app;
            async move {
                let resp = app.post(BINDINGS, &body).await;
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
        let resp = refused(
            json!({}),
            json!({"target": [REQUIRED], "stage": [REQUIRED], "order": [REQUIRED]}),
        )
        .await;
        assert_eq!(
            Ordered::parse(&resp.text).keys(),
            ["target", "stage", "order"]
        );
        // Objects that do not exist: each field, and both at once.
        let (nobody, nothing) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        refused(
            binding_request(&nobody, &stage, 1),
            field_error("target", &missing(&nobody)),
        )
        .await;
        refused(
            binding_request(&target, &nothing, 1),
            field_error("stage", &missing(&nothing)),
        )
        .await;
        refused(
            binding_request(&nobody, &nothing, 1),
            json!({"target": [missing(&nobody)], "stage": [missing(&nothing)]}),
        )
        .await;
        // A flow's id is no stage's, and a stage's no flow's.
        refused(
            binding_request(&stage, &target, 1),
            json!({"target": [missing(&stage)], "stage": [missing(&target)]}),
        )
        .await;
        // Not UUIDs, or not strings.
        refused(
            json!({"target": "nope", "stage": stage, "order": 1}),
            field_error("target", "“nope” is not a valid UUID."),
        )
        .await;
        refused(
            json!({"target": target, "stage": 5, "order": 1}),
            field_error("stage", "Incorrect type. Expected pk value, received int."),
        )
        .await;
        refused(
            json!({"target": null, "stage": stage, "order": null}),
            json!({"target": ["This field may not be null."], "order": ["This field may not be null."]}),
        )
        .await;
        // The 32-bit range.
        refused(
            binding_request(&target, &stage, 2147483648),
            field_error(
                "order",
                "Ensure this value is less than or equal to 2147483647.",
            ),
        )
        .await;
        refused(
            binding_request(&target, &stage, -2147483649),
            field_error(
                "order",
                "Ensure this value is greater than or equal to -2147483648.",
            ),
        )
        .await;
        // What is not an integer.
        for bad in [
            json!(5.5),
            json!(true),
            json!("x"),
            json!("5.5"),
            json!([1]),
            json!({}),
        ] {
            refused(
                json!({"target": target, "stage": stage, "order": bad}),
                field_error("order", "A valid integer is required."),
            )
            .await;
        }
        // The choices and booleans.
        refused(
            json!({"target": target, "stage": stage, "order": 1, "evaluate_on_plan": "maybe",
                   "policy_engine_mode": "none", "invalid_response_action": "RETRY"}),
            json!({"evaluate_on_plan": ["Must be a valid boolean."],
                   "policy_engine_mode": ["\"none\" is not a valid choice."],
                   "invalid_response_action": ["\"RETRY\" is not a valid choice."]}),
        )
        .await;
        // (target, stage, order) is unique.
        refused(
            binding_request(&target, &stage, 10),
            json!({"non_field_errors": [NOT_UNIQUE]}),
        )
        .await;
        refused(
            json!({"target": target, "stage": stage, "order": "10", "evaluate_on_plan": true}),
            json!({"non_field_errors": [NOT_UNIQUE]}),
        )
        .await;
        refused(
            json!([binding_request(&target, &stage, 1)]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        )
        .await;
        assert_eq!(app.table_counts().await, before, "{:?}", app.backend);
        // The same stage at another order, another stage at the same order: both fine.
        bind(&app, &target, &stage, 11).await;
        let other = pk(&create_stage(&app, "other stage").await);
        bind(&app, &target, &other, 10).await;
        // By order (ties by binding pk, which is random): the two at order 10, then 11.
        let stages = app.get(&flow_path("vf")).await.body["stages"].clone();
        let mut first_two = vec![stages[0].clone(), stages[1].clone()];
        first_two.sort_by_key(|v| v.as_str().unwrap().to_string());
        let mut expected = vec![json!(stage), json!(other)];
        expected.sort_by_key(|v| v.as_str().unwrap().to_string());
        assert_eq!(first_two, expected);
        assert_eq!(stages[2], json!(stage));
        assert_eq!(stages.as_array().unwrap().len(), 3);
    }
}

/// DRF validates every field before it answers: an unknown target is reported with the other
/// fields' errors.
#[tokio::test]
async fn unknown_references_are_reported_with_other_errors() {
    for app in apps().await {
        let (_, stage) = flow_and_stage(&app, "rf", "r stage").await;
        let nobody = uuid::Uuid::new_v4().to_string();
        let resp = app
            .post(
                BINDINGS,
                &json!({"target": nobody, "stage": stage, "order": "x"}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.body,
            json!({"target": [missing(&nobody)], "order": ["A valid integer is required."]})
        );
    }
}

#[tokio::test]
async fn retrieve_replace_update_and_delete() {
    for app in apps().await {
        let (f, s) = flow_and_stage(&app, "rf", "rs one").await;
        let (g, s2) = flow_and_stage(&app, "rg", "rs two").await;
        let created = app
            .post(
                BINDINGS,
                &json!({"target": f, "stage": s, "order": 1, "evaluate_on_plan": true,
                        "re_evaluate_policies": false, "policy_engine_mode": "all",
                        "invalid_response_action": "restart"}),
            )
            .await
            .body;
        let id = pk(&created);
        let path = binding_path(&id);
        let unknown = binding_path(&uuid::Uuid::new_v4().to_string());
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(json!({}))),
            (Method::PATCH, Some(json!({"order": "x"}))),
            (Method::DELETE, None),
        ] {
            let mut builder = app.req(method.clone(), &unknown);
            if let Some(body) = &body {
                builder = builder.json(body);
            }
            let resp = app.send(builder).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "{method}");
            assert_eq!(resp.body, detail(NO_BINDING), "{method}");
        }
        let resp = app.get(&binding_path("not-a-uuid")).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail("Not found."));
        let resp = app.get(&format!("{}used_by/", unknown)).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail(NO_BINDING));
        let resp = app.get(&format!("{path}used_by/")).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body, json!([]));
        let resp = app.get(&format!("{path}used_by")).await;
        assert_eq!(resp.body, json!([]));

        // PUT needs target, stage and order; optional keys absent keep their values.
        let resp = app.put(&path, &json!({"evaluate_on_plan": false})).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.body,
            json!({"target": [REQUIRED], "stage": [REQUIRED], "order": [REQUIRED]})
        );
        let resp = app.put(&path, &binding_request(&f, &s, 4)).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(Ordered::parse(&resp.text).keys(), BINDING_KEYS);
        let mut expected = created.clone();
        expected["order"] = json!(4);
        assert_eq!(resp.body, expected);
        assert_eq!(app.get(&path).await.body, expected);

        // PATCH of the order moves the stage in the flow's `stages`.
        let other = bind(&app, &f, &s2, 2).await;
        assert_eq!(
            app.get(&flow_path("rf")).await.body["stages"],
            json!([s2, s])
        );
        let resp = app.patch(&path, &json!({"order": 0})).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body["order"], 0);
        assert_eq!(
            app.get(&flow_path("rf")).await.body["stages"],
            json!([s, s2])
        );
        // PATCH of the target moves the binding to another flow.
        let resp = app.patch(&path, &json!({"target": g})).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body["target"], json!(g));
        assert_eq!(app.get(&flow_path("rf")).await.body["stages"], json!([s2]));
        assert_eq!(app.get(&flow_path("rg")).await.body["stages"], json!([s]));
        // PATCH of the stage binds another stage; stage_obj follows.
        let resp = app.patch(&path, &json!({"stage": s2})).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body["stage"], json!(s2));
        assert_eq!(resp.body["stage_obj"]["name"], "rs two");
        assert_eq!(
            resp.body["stage_obj"]["flow_set"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["slug"].clone())
                .collect::<Vec<_>>(),
            [json!("rf"), json!("rg")]
        );
        let s_now = app.get(&stage_path(&s)).await.body;
        assert_eq!(s_now["flow_set"], json!([]));
        // The other fields were never touched.
        let got = app.get(&path).await.body;
        assert_eq!(
            (
                &got["evaluate_on_plan"],
                &got["re_evaluate_policies"],
                &got["policy_engine_mode"],
                &got["invalid_response_action"]
            ),
            (
                &json!(true),
                &json!(false),
                &json!("all"),
                &json!("restart")
            )
        );

        // Unique (target, stage, order) on update; the binding itself is no conflict.
        let twin = bind(&app, &g, &s2, 5).await;
        let resp = app
            .patch(&binding_path(&pk(&twin)), &json!({"order": 0}))
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.body, json!({"non_field_errors": [NOT_UNIQUE]}));
        let resp = app
            .put(&binding_path(&pk(&twin)), &binding_request(&g, &s2, 0))
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.body, json!({"non_field_errors": [NOT_UNIQUE]}));
        let resp = app
            .patch(
                &binding_path(&pk(&other)),
                &json!({"target": g, "order": 0}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.body, json!({"non_field_errors": [NOT_UNIQUE]}));
        let resp = app
            .patch(&binding_path(&pk(&twin)), &json!({"order": 5}))
            .await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(app.get(&binding_path(&pk(&twin))).await.body["order"], 5);
        // References that do not exist, and bad values, on update.
        let nobody = uuid::Uuid::new_v4().to_string();
        let resp = app.patch(&path, &json!({"target": nobody})).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.body, field_error("target", &missing(&nobody)));
        let resp = app.patch(&path, &json!({"order": 2147483648i64})).await;
        assert_eq!(
            resp.body,
            field_error(
                "order",
                "Ensure this value is less than or equal to 2147483647."
            )
        );
        assert_eq!(app.get(&path).await.body["target"], json!(g));

        // DELETE: 204, then 404; the flow and the stage stay.
        let resp = app.delete(&path).await;
        assert_eq!(resp.status, StatusCode::NO_CONTENT);
        assert!(resp.text.is_empty());
        let resp = app.delete(&path).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail(NO_BINDING));
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&flow_path("rg")).await.status, StatusCode::OK);
        assert_eq!(app.get(&stage_path(&s2)).await.status, StatusCode::OK);
        assert_eq!(app.table_counts().await, [2, 2, 2, 2]);
    }
}

#[tokio::test]
async fn list_filters_search_and_ordering() {
    for app in apps().await {
        let f1 = pk(&create_flow(&app, "lf-one").await);
        let f2 = pk(&create_flow(&app, "lf-two").await);
        let s1 = pk(&create_stage(&app, "Alpha one").await);
        let s2 = pk(&create_stage(&app, "Beta two").await);
        let s3 = pk(&create_stage(&app, "alpha three").await);
        let post = |body: Value| {
            let app = &app;
            async move {
                let resp = app.post(BINDINGS, &body).await;
                assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
                resp.body
            }
        };
        let b1 = post(
            json!({"target": f1, "stage": s1, "order": 5, "evaluate_on_plan": true,
                             "re_evaluate_policies": false, "policy_engine_mode": "all",
                             "invalid_response_action": "restart"}),
        )
        .await;
        let b2 = post(binding_request(&f1, &s2, 1)).await;
        let b3 = post(json!({"target": f2, "stage": s1, "order": 3,
                             "invalid_response_action": "restart_with_context"}))
        .await;
        let b4 = post(json!({"target": f2, "stage": s3, "order": 1,
                             "re_evaluate_policies": false}))
        .await;
        // Ties of order go by pk.
        let mut order_one = vec![pk(&b2), pk(&b4)];
        order_one.sort();
        let list = |query: String| {
            let app = &app;
            async move {
                let resp = app.get(&format!("{BINDINGS}?{query}")).await;
                assert_eq!(resp.status, StatusCode::OK, "{query}: {}", resp.text);
                result_pks(&resp.body)
            }
        };
        let refused = |query: &'static str, expected: Value| {
            let app = &app;
            async move {
                let resp = app.get(&format!("{BINDINGS}?{query}")).await;
                assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{query}");
                assert_eq!(resp.body, expected, "{query}");
            }
        };
        let default = [order_one[0].clone(), order_one[1].clone(), pk(&b3), pk(&b1)];
        let whole = app.get(BINDINGS).await;
        assert_eq!(result_pks(&whole.body), default);
        assert_eq!(whole.body["autocomplete"], json!({}));
        assert_eq!(whole.body["pagination"]["count"], 4);
        assert_eq!(
            Ordered::parse(&whole.text).keys(),
            ["pagination", "results", "autocomplete"]
        );
        assert_eq!(
            whole.body["results"][3],
            app.get(&binding_path(&pk(&b1))).await.body,
            "a list item is the detail"
        );

        assert_eq!(list(format!("target={f1}")).await, [pk(&b2), pk(&b1)]);
        assert_eq!(list(format!("stage={s1}")).await, [pk(&b3), pk(&b1)]);
        assert_eq!(list(format!("target={f2}&stage={s1}")).await, [pk(&b3)]);
        assert!(
            list(format!("target={}", uuid::Uuid::new_v4()))
                .await
                .is_empty()
        );
        assert_eq!(list("order=1".into()).await, order_one);
        assert_eq!(list("order=5".into()).await, [pk(&b1)]);
        assert!(list("order=2".into()).await.is_empty());
        refused("order=x", json!({"order": ["Enter a number."]})).await;
        refused("order=1.5", json!({"order": ["Enter a number."]})).await;
        for (value, expected) in [
            ("true", vec![pk(&b1)]),
            ("1", vec![pk(&b1)]),
            (
                "false",
                vec![order_one[0].clone(), order_one[1].clone(), pk(&b3)],
            ),
            (
                "0",
                vec![order_one[0].clone(), order_one[1].clone(), pk(&b3)],
            ),
            ("maybe", default.to_vec()),
            ("", default.to_vec()),
        ] {
            assert_eq!(
                list(format!("evaluate_on_plan={value}")).await,
                expected,
                "evaluate_on_plan={value}"
            );
        }
        for (value, expected) in [
            ("false", vec![pk(&b4), pk(&b1)]),
            ("0", vec![pk(&b4), pk(&b1)]),
            ("true", vec![pk(&b2), pk(&b3)]),
            ("1", vec![pk(&b2), pk(&b3)]),
            ("yes", default.to_vec()),
        ] {
            assert_eq!(
                list(format!("re_evaluate_policies={value}")).await,
                expected,
                "re_evaluate_policies={value}"
            );
        }
        assert_eq!(list("policy_engine_mode=all".into()).await, [pk(&b1)]);
        assert_eq!(list("policy_engine_mode=any".into()).await.len(), 3);
        refused(
            "policy_engine_mode=x",
            json!({"policy_engine_mode": ["Select a valid choice. x is not one of the available choices."]}),
        )
        .await;
        assert_eq!(
            list("invalid_response_action=restart_with_context".into()).await,
            [pk(&b3)]
        );
        assert_eq!(
            list("invalid_response_action=retry".into()).await,
            order_one
        );
        refused(
            "invalid_response_action=x",
            json!({"invalid_response_action": ["Select a valid choice. x is not one of the available choices."]}),
        )
        .await;
        assert_eq!(list(format!("fsb_uuid={}", pk(&b3))).await, [pk(&b3)]);
        assert_eq!(
            list(format!(
                "pbm_uuid={}",
                b3["policybindingmodel_ptr_id"].as_str().unwrap()
            ))
            .await,
            [pk(&b3)]
        );
        assert!(list(format!("pbm_uuid={}", pk(&b3))).await.is_empty());
        refused("fsb_uuid=x", json!({"fsb_uuid": ["Enter a valid UUID."]})).await;
        refused("pbm_uuid=x", json!({"pbm_uuid": ["Enter a valid UUID."]})).await;
        // Search over the stage's name.
        let alpha = vec![pk(&b4), pk(&b3), pk(&b1)];
        assert_eq!(list("search=alpha".into()).await, alpha);
        assert_eq!(list("search=ALPHA".into()).await, alpha);
        assert_eq!(list("search=alpha%20three".into()).await, [pk(&b4)]);
        assert_eq!(list("search=one".into()).await, [pk(&b3), pk(&b1)]);
        assert!(
            list("search=lf-one".into()).await.is_empty(),
            "flows are not searched"
        );
        // Ordering.
        let mut descending = vec![pk(&b1), pk(&b3)];
        descending.extend(order_one.iter().cloned());
        assert_eq!(list("ordering=-order".into()).await, descending);
        assert_eq!(list("ordering=nope".into()).await, default);
        assert_eq!(list("ordering=stage_obj".into()).await, default);
        let mut by_pk = default.to_vec();
        by_pk.sort();
        assert_eq!(list("ordering=pk".into()).await, by_pk);
        by_pk.reverse();
        assert_eq!(list("ordering=-pk".into()).await, by_pk);
        // Pages.
        let page = app
            .get(&format!("{BINDINGS}?page_size=3&page=2"))
            .await
            .body;
        assert_eq!(result_pks(&page), [pk(&b1)]);
        assert_eq!(
            page["pagination"],
            json!({"next": 0, "previous": 1, "count": 4, "current": 2, "total_pages": 2,
                   "start_index": 4, "end_index": 4})
        );
        let resp = app.get(&format!("{BINDINGS}?page=9")).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, detail("Invalid page."));
    }
}

/// A stage's `flow_set` and the bindings resource are two views of one model.
#[tokio::test]
async fn flow_set_and_bindings_are_one_model() {
    for app in apps().await {
        // A binding made here shows in the stage's flow_set and the flow's stages.
        let made_here = create_flow(&app, "made-here").await;
        let s1 = create_stage(&app, "s1").await;
        let binding = bind(&app, &pk(&made_here), &pk(&s1), 7).await;
        let stage_now = app.get(&stage_path(&pk(&s1))).await.body;
        let flow_now = app.get(&flow_path("made-here")).await.body;
        assert_eq!(stage_now["flow_set"].as_array().unwrap().len(), 1);
        assert_eq!(stage_now["flow_set"][0]["pk"], flow_now["pk"]);
        assert_eq!(stage_now["flow_set"][0]["slug"], "made-here");
        assert_eq!(flow_now["stages"], json!([pk(&s1)]));
        let used_by = app
            .get(&format!("{}used_by/", stage_path(&pk(&s1))))
            .await
            .body;
        assert_eq!(
            used_by[1]["name"],
            json!(format!("Flow-stage binding #7 to {}", pk(&made_here)))
        );
        assert_eq!(used_by[1]["pk"], json!(pk(&binding)));

        // A stage's flow_set write makes bindings that are listed here, at order 0.
        let mut request = minimal("s2");
        request["flow_set"] = json!([flow("made-by-stage")]);
        let s2 = app.create_stage(&request).await;
        let listed = app.get(&format!("{BINDINGS}?stage={}", pk(&s2))).await.body;
        assert_eq!(listed["pagination"]["count"], 1);
        let made = &listed["results"][0];
        assert_eq!(made["target"], s2["flow_set"][0]["pk"]);
        assert_eq!(
            (
                &made["order"],
                &made["evaluate_on_plan"],
                &made["re_evaluate_policies"],
                &made["policy_engine_mode"],
                &made["invalid_response_action"]
            ),
            (
                &json!(0),
                &json!(false),
                &json!(true),
                &json!("any"),
                &json!("retry")
            )
        );
        assert_eq!(made["stage_obj"]["name"], "s2");
        assert_eq!(app.get(&binding_path(&pk(made))).await.body, *made);

        // Two bindings into one flow: s2 also into made-here.
        bind(&app, &pk(&made_here), &pk(&s2), 8).await;
        assert_eq!(
            app.get(&flow_path("made-here")).await.body["stages"],
            json!([pk(&s1), pk(&s2)])
        );
        // A stage PATCH naming a flow it is bound into (by the bindings API) updates that flow
        // and keeps the binding's order.
        let mut item = flow("made-here");
        item["layout"] = json!("content_right");
        let resp = app
            .patch(
                &stage_path(&pk(&s2)),
                &json!({"flow_set": [flow("made-by-stage"), item]}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(
            app.get(&flow_path("made-here")).await.body["layout"],
            "content_right"
        );
        let of_s2 = app
            .get(&format!("{BINDINGS}?stage={}&ordering=order", pk(&s2)))
            .await
            .body;
        assert_eq!(
            of_s2["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["order"].clone())
                .collect::<Vec<_>>(),
            [json!(0), json!(8)]
        );
        // A flow bound to another stage only cannot be named by a stage's flow_set.
        let lonely = create_stage(&app, "lonely").await;
        let before = app.table_counts().await;
        let only_s1 = create_flow(&app, "only-s1").await;
        bind(&app, &pk(&only_s1), &pk(&s1), 0).await;
        for (stage, list) in [
            (&lonely, json!([flow("made-here")])),
            (&s2, json!([flow("made-by-stage"), flow("only-s1")])),
        ] {
            let resp = app
                .patch(&stage_path(&pk(stage)), &json!({"flow_set": list}))
                .await;
            assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
            let errors = resp.body["flow_set"].as_array().unwrap();
            assert_eq!(
                errors.last().unwrap(),
                &json!({"slug": [SLUG_TAKEN]}),
                "{}",
                resp.text
            );
        }
        assert_eq!(app.table_counts().await[3], before[3] + 1);

        // PATCHing a stage's flow_set to [] removes its bindings, never the flows.
        let resp = app
            .patch(&stage_path(&pk(&s2)), &json!({"flow_set": []}))
            .await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body["flow_set"], json!([]));
        let listed = app.get(&format!("{BINDINGS}?stage={}", pk(&s2))).await.body;
        assert_eq!(listed["pagination"]["count"], 0);
        assert_eq!(
            app.get(&flow_path("made-by-stage")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.get(&flow_path("made-here")).await.body["stages"],
            json!([pk(&s1)])
        );

        // Deleting a stage removes its bindings; the flows stay.
        let resp = app.delete(&stage_path(&pk(&s1))).await;
        assert_eq!(resp.status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.get(&binding_path(&pk(&binding))).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.get(BINDINGS).await.body["pagination"]["count"], 0);
        for slug in ["made-here", "made-by-stage", "only-s1"] {
            let resp = app.get(&flow_path(slug)).await;
            assert_eq!(resp.status, StatusCode::OK, "{slug}");
            assert_eq!(resp.body["stages"], json!([]), "{slug}");
        }
        assert_eq!(app.table_counts().await, [2, 2, 3, 0]);
    }
}

#[tokio::test]
async fn each_operation_needs_its_permission() {
    for app in apps().await {
        let (f, s) = flow_and_stage(&app, "pf", "p stage").await;
        let binding = pk(&bind(&app, &f, &s, 1).await);
        let spare = pk(&bind(&app, &f, &s, 2).await);
        for (permission, method, path, body, ok) in [
            (
                Permission::ViewFlowStageBinding,
                Method::GET,
                BINDINGS.to_string(),
                None,
                StatusCode::OK,
            ),
            (
                Permission::ViewFlowStageBinding,
                Method::GET,
                binding_path(&binding),
                None,
                StatusCode::OK,
            ),
            (
                Permission::ViewFlowStageBinding,
                Method::GET,
                format!("{}used_by/", binding_path(&binding)),
                None,
                StatusCode::OK,
            ),
            (
                Permission::AddFlowStageBinding,
                Method::POST,
                BINDINGS.to_string(),
                Some(binding_request(&f, &s, 3)),
                StatusCode::CREATED,
            ),
            (
                Permission::ChangeFlowStageBinding,
                Method::PUT,
                binding_path(&binding),
                Some(binding_request(&f, &s, 1)),
                StatusCode::OK,
            ),
            (
                Permission::ChangeFlowStageBinding,
                Method::PATCH,
                binding_path(&binding),
                Some(json!({"evaluate_on_plan": true})),
                StatusCode::OK,
            ),
            (
                Permission::DeleteFlowStageBinding,
                Method::DELETE,
                binding_path(&spare),
                None,
                StatusCode::NO_CONTENT,
            ),
        ] {
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
            // The stage is shown to whoever may view the binding.
            if resp.status == StatusCode::OK
                && method == Method::GET
                && path.ends_with(&format!("{binding}/"))
            {
                assert_eq!(resp.body["stage_obj"]["name"], "p stage");
            }
        }
        // An unknown binding is 403 before 404 without the permission.
        let others = app
            .token_with(&all_but(Permission::ViewFlowStageBinding))
            .await;
        let resp = send_as(
            &app,
            &others,
            Method::GET,
            &binding_path(&uuid::Uuid::new_v4().to_string()),
            None,
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN);
        let bindings: Vec<String> = result_pks(&app.get(BINDINGS).await.body);
        assert_eq!(bindings.len(), 2, "the permitted create and delete ran");
        let got = app.get(&binding_path(&binding)).await.body;
        assert_eq!(got["evaluate_on_plan"], true);
    }
}

// ---------------------------------------------------------------------------------------------
// GraphQL

const BINDING_SELECTION: &str = "id policybindingmodelPtrId order evaluateOnPlan
    reEvaluatePolicies policyEngineMode invalidResponseAction target { id slug }
    stage { __typename id name ... on CaptchaStage { publicKey } }";

fn errors_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// A REST binding as GraphQL names it.
fn as_graphql(binding: &Value, flow_slug: &str) -> Value {
    let upper = |key: &str| json!(binding[key].as_str().unwrap().to_uppercase());
    json!({
        "id": binding["pk"], "policybindingmodelPtrId": binding["policybindingmodel_ptr_id"],
        "order": binding["order"], "evaluateOnPlan": binding["evaluate_on_plan"],
        "reEvaluatePolicies": binding["re_evaluate_policies"],
        "policyEngineMode": upper("policy_engine_mode"),
        "invalidResponseAction": upper("invalid_response_action"),
        "target": {"id": binding["target"], "slug": flow_slug},
        "stage": {"__typename": "CaptchaStage", "id": binding["stage"],
                  "name": binding["stage_obj"]["name"], "publicKey": "site-key"}
    })
}

#[tokio::test]
async fn graphql_bindings() {
    for app in apps().await {
        let (f, s) = flow_and_stage(&app, "gb", "gb stage").await;
        let (g, s2) = flow_and_stage(&app, "gb-two", "gb other").await;
        let create = format!(
            "mutation($input: CreateFlowStageBindingInput!) {{ createFlowStageBinding(input: $input) {{ {BINDING_SELECTION} }} }}"
        );
        let body = app
            .graphql(
                &create,
                json!({"input": {"target": f, "stage": s, "order": 4, "evaluateOnPlan": true,
                                 "policyEngineMode": "ALL",
                                 "invalidResponseAction": "RESTART_WITH_CONTEXT",
                                 "reEvaluatePolicies": null}}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let created = body["data"]["createFlowStageBinding"].clone();
        let id = created["id"].as_str().unwrap().to_string();
        let rest = app.get(&binding_path(&id)).await.body;
        assert_eq!(created, as_graphql(&rest, "gb"));
        assert_eq!(rest["invalid_response_action"], "restart_with_context");
        assert_eq!(rest["re_evaluate_policies"], true);
        for (action, stored) in [("RETRY", "retry"), ("RESTART", "restart")] {
            let body = app
                .graphql(
                    &create,
                    json!({"input": {"target": g, "stage": s, "order": 0,
                                     "invalidResponseAction": action}}),
                )
                .await;
            let made = &body["data"]["createFlowStageBinding"];
            assert_eq!(made["invalidResponseAction"], action, "{body}");
            let rest = app
                .get(&binding_path(made["id"].as_str().unwrap()))
                .await
                .body;
            assert_eq!(rest["invalid_response_action"], stored);
            let deleted = app.delete(&binding_path(&pk(&rest))).await;
            assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        }

        // The same rules and messages.
        let before = app.table_counts().await;
        let nobody = uuid::Uuid::new_v4().to_string();
        for (input, field_errors) in [
            (
                json!({"target": f, "stage": s, "order": 4}),
                json!({"nonFieldErrors": [NOT_UNIQUE]}),
            ),
            (
                json!({"target": nobody, "stage": s, "order": 1}),
                json!({"target": [missing(&nobody)]}),
            ),
            (
                json!({"target": nobody, "stage": nobody, "order": 1}),
                json!({"target": [missing(&nobody)], "stage": [missing(&nobody)]}),
            ),
        ] {
            let body = app.graphql(&create, json!({ "input": input })).await;
            assert_eq!(errors_code(&body), "BAD_USER_INPUT", "{body}");
            assert_eq!(body["errors"][0]["message"], "Invalid input.");
            assert_eq!(body["errors"][0]["extensions"]["fieldErrors"], field_errors);
        }
        // GraphQL's own types refuse what is not a UUID or a 32-bit integer.
        for input in [
            json!({"target": "nope", "stage": s, "order": 1}),
            json!({"target": f, "stage": s, "order": 2147483648i64}),
        ] {
            let body = app.graphql(&create, json!({ "input": input })).await;
            assert!(body["errors"][0]["message"].is_string(), "{body}");
            assert_ne!(errors_code(&body), "INTERNAL_SERVER_ERROR");
        }
        assert_eq!(app.table_counts().await, before);

        // Queries.
        let one =
            format!("query($id: UUID!) {{ flowStageBinding(id: $id) {{ {BINDING_SELECTION} }} }}");
        let body = app.graphql(&one, json!({"id": id})).await;
        assert_eq!(body["data"]["flowStageBinding"], created);
        let body = app.graphql(&one, json!({"id": uuid::Uuid::new_v4()})).await;
        assert_eq!(body, json!({"data": {"flowStageBinding": null}}));
        let second = pk(&bind(&app, &g, &s2, 1).await);
        let third = pk(&bind(&app, &f, &s2, 9).await);
        let list = |args: String| {
            let app = &app;
            async move {
                let query = format!(
                    "{{ flowStageBindings{args} {{ pagination {{ count }} results {{ id }} }} }}"
                );
                let body = app.graphql(&query, json!({})).await;
                assert!(body.get("errors").is_none(), "{query}: {body}");
                body["data"]["flowStageBindings"]["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["id"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            list(String::new()).await,
            [second.clone(), id.clone(), third.clone()]
        );
        assert_eq!(
            list(format!("(target: \"{f}\")")).await,
            [id.clone(), third.clone()]
        );
        assert_eq!(
            list(format!("(stage: \"{s2}\")")).await,
            [second.clone(), third.clone()]
        );
        assert_eq!(list("(order: 9)".into()).await, [third.as_str()]);
        assert_eq!(
            list("(search: \"OTHER\")".into()).await,
            [second.clone(), third.clone()]
        );
        assert_eq!(
            list("(ordering: \"-order\")".into()).await,
            [third.clone(), id.clone(), second.clone()]
        );
        assert_eq!(
            list("(pageSize: 2, page: 2)".into()).await,
            [third.as_str()]
        );

        // updateFlowStageBinding: PATCH.
        let update = format!(
            "mutation($id: UUID!, $input: UpdateFlowStageBindingInput!) {{ updateFlowStageBinding(id: $id, input: $input) {{ {BINDING_SELECTION} }} }}"
        );
        let body = app
            .graphql(
                &update,
                json!({"id": id, "input": {"order": 11, "stage": s2, "target": g,
                                           "evaluateOnPlan": null}}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let rest = app.get(&binding_path(&id)).await.body;
        assert_eq!(rest["order"], 11);
        assert_eq!(rest["evaluate_on_plan"], true);
        assert_eq!(body["data"]["updateFlowStageBinding"], {
            let mut expected = as_graphql(&rest, "gb-two");
            expected["stage"]["publicKey"] = json!("site-key");
            expected
        });
        let body = app
            .graphql(&update, json!({"id": id, "input": {"order": 1}}))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["fieldErrors"],
            json!({"nonFieldErrors": [NOT_UNIQUE]})
        );
        // Unknown ids: NOT_FOUND with REST's message.
        for (mutation, variables) in [
            (
                update.as_str(),
                json!({"id": uuid::Uuid::new_v4(), "input": {"order": 1}}),
            ),
            (
                "mutation($id: UUID!) { deleteFlowStageBinding(id: $id) }",
                json!({"id": uuid::Uuid::new_v4()}),
            ),
        ] {
            let body = app.graphql(mutation, variables).await;
            assert_eq!(errors_code(&body), "NOT_FOUND", "{body}");
            assert_eq!(body["errors"][0]["message"], NO_BINDING);
        }
        let body = app
            .graphql(
                "mutation($id: UUID!) { deleteFlowStageBinding(id: $id) }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(body["data"]["deleteFlowStageBinding"], json!(id));
        assert_eq!(
            app.get(&binding_path(&id)).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.table_counts().await, [2, 2, 2, 2]);

        // FORBIDDEN per permission.
        let delete = "mutation($id: UUID!) { deleteFlowStageBinding(id: $id) }";
        for (permission, operation, variables) in [
            (
                Permission::AddFlowStageBinding,
                create.as_str(),
                json!({"input": {"target": f, "stage": s, "order": 30}}),
            ),
            (
                Permission::ChangeFlowStageBinding,
                update.as_str(),
                json!({"id": second, "input": {"order": 31}}),
            ),
            (
                Permission::ViewFlowStageBinding,
                one.as_str(),
                json!({"id": second}),
            ),
            (
                Permission::ViewFlowStageBinding,
                "{ flowStageBindings { results { id } } }",
                json!({}),
            ),
            (
                Permission::DeleteFlowStageBinding,
                delete,
                json!({"id": second}),
            ),
        ] {
            let token = app.token_with(&all_but(permission)).await;
            let body = app
                .graphql_as(Some(&token), operation, variables.clone())
                .await;
            assert_eq!(errors_code(&body), "FORBIDDEN", "{operation}: {body}");
            assert_eq!(body["errors"][0]["message"], FORBIDDEN);
            // With its own permission only: the root field answers (a nested relation may
            // need more).
            let token = app.token_with(&[permission]).await;
            let body = app
                .graphql_as(
                    Some(&token),
                    &operation.replace(BINDING_SELECTION, "id order"),
                    variables,
                )
                .await;
            assert!(body.get("errors").is_none(), "{operation}: {body}");
        }
        assert_eq!(
            app.get(&binding_path(&second)).await.status,
            StatusCode::NOT_FOUND,
            "the permitted delete ran"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency

/// Two instances binding one stage into one flow at one order at the same moment: exactly one
/// 201 and one 400 `non_field_errors`, never a server error; a binding at another order, or of
/// another stage, is no conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_binding_on_two_instances() {
    let mut backends = vec![Backend::Sqlite];
    if postgres_url().is_some() {
        backends.push(Backend::Postgres);
    }
    let not_unique = json!({"non_field_errors": [NOT_UNIQUE]});
    for backend in backends {
        let a = spawn(backend).await;
        let b = second_instance(&a).await;
        let target = pk(&create_flow(&a, "raced").await);
        let stage = pk(&create_stage(&a, "raced stage").await);
        let other = pk(&create_stage(&a, "other raced stage").await);
        let (mut first_won, mut second_won) = (0, 0);
        let rounds = 25;
        for order in 0..rounds {
            let body = binding_request(&target, &stage, order);
            let (x, y) = if order % 2 == 0 { (&a, &b) } else { (&b, &a) };
            let (r1, r2) = tokio::join!(x.post(BINDINGS, &body), y.post(BINDINGS, &body));
            for resp in [&r1, &r2] {
                assert!(
                    !resp.status.is_server_error(),
                    "{backend:?}: {} {}",
                    resp.status,
                    resp.text
                );
            }
            match (r1.status, r2.status) {
                (StatusCode::CREATED, StatusCode::BAD_REQUEST) => {
                    first_won += 1;
                    assert_eq!(r2.body, not_unique, "{backend:?}");
                }
                (StatusCode::BAD_REQUEST, StatusCode::CREATED) => {
                    second_won += 1;
                    assert_eq!(r1.body, not_unique, "{backend:?}");
                }
                other => panic!("{backend:?}: {other:?}: {} / {}", r1.text, r2.text),
            }
            // Different orders, or different stages, at the same moment: both bound.
            let (other_body, stage_body) = (
                binding_request(&target, &other, 1000 + order),
                binding_request(&target, &stage, 1000 + order),
            );
            let (r1, r2) =
                tokio::join!(x.post(BINDINGS, &other_body), y.post(BINDINGS, &stage_body));
            assert_eq!(
                (r1.status, r2.status),
                (StatusCode::CREATED, StatusCode::CREATED),
                "{backend:?}: {} / {}",
                r1.text,
                r2.text
            );
        }
        let listed = a.get(&format!("{BINDINGS}?target={target}")).await.body;
        assert_eq!(listed["pagination"]["count"], json!(rounds * 3));
        assert_eq!(a.count("flow_stage_binding").await, rounds * 3);
        eprintln!(
            "bindings concurrency ({backend:?}): {rounds} races for one (target, stage, order), first won {first_won}, second won {second_won}"
        );
    }
}
