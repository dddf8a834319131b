//! Creating captcha stages over REST: defaults, trimming, every validation rule of spec 7.2,
//! the tolerant and strict request shapes, and nested flows written atomically.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn create_minimal_applies_defaults_and_key_order() {
    for app in apps().await {
        let body = app.create_stage(&minimal("  Captcha one  ")).await;
        // serde_json's maps sort their keys: the order is checked on the raw text.
        let resp = app.post(STAGES, &minimal("Key order")).await;
        let order = [
            "pk",
            "name",
            "component",
            "verbose_name",
            "verbose_name_plural",
            "meta_model_name",
            "flow_set",
            "public_key",
            "js_url",
            "api_url",
            "interactive",
            "score_min_threshold",
            "score_max_threshold",
            "error_on_invalid_score",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|k| resp.text.find(&format!("\"{k}\":")).expect(k))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", resp.text);
        assert!(!resp.text.contains("private_key"));
        assert!(!resp.text.contains("secret-key"));

        assert_eq!(body["name"], "Captcha one");
        assert!(uuid::Uuid::parse_str(body["pk"].as_str().unwrap()).is_ok());
        assert_eq!(body["component"], "ak-stage-captcha-form");
        assert_eq!(body["verbose_name"], "Captcha Stage");
        assert_eq!(body["verbose_name_plural"], "Captcha Stages");
        assert_eq!(
            body["meta_model_name"],
            "authentik_stages_captcha.captchastage"
        );
        assert_eq!(body["flow_set"], json!([]));
        assert_eq!(body["public_key"], "site-key");
        assert_eq!(body["js_url"], "https://www.recaptcha.net/recaptcha/api.js");
        assert_eq!(
            body["api_url"],
            "https://www.recaptcha.net/recaptcha/api/siteverify"
        );
        assert_eq!(body["interactive"], false);
        assert_eq!(body["error_on_invalid_score"], true);
        assert!(resp.text.contains("\"score_min_threshold\":0.5"));
        assert!(resp.text.contains("\"score_max_threshold\":1.0"));
    }
}

#[tokio::test]
async fn create_stores_every_given_field_trimmed() {
    for app in apps().await {
        let body = app
            .create_stage(&json!({
                "name": "full", "public_key": " pub ", "private_key": " priv ",
                "js_url": " not a url ", "api_url": "x", "interactive": true,
                "score_min_threshold": -2, "score_max_threshold": 0.25,
                "error_on_invalid_score": false, "pk": "ignored", "component": "ignored",
                "unknown": [1, 2]
            }))
            .await;
        assert_eq!(body["public_key"], "pub");
        assert_eq!(body["js_url"], "not a url");
        assert_eq!(body["api_url"], "x");
        assert_eq!(body["interactive"], true);
        assert_eq!(body["score_min_threshold"], -2.0);
        assert_eq!(body["score_max_threshold"], 0.25);
        assert_eq!(body["error_on_invalid_score"], false);
        assert_eq!(body["component"], "ak-stage-captcha-form");
        assert_ne!(body["pk"], "ignored");
        // Trimmed on the way in: the stored value is what a read returns.
        let read = app.get(&stage_path(body["pk"].as_str().unwrap())).await;
        assert_eq!(read.body, body);
    }
}

#[tokio::test]
async fn trailing_slash_is_optional() {
    for app in apps().await {
        let resp = app
            .post("/api/v3/stages/captcha", &minimal("no slash"))
            .await;
        assert_eq!(resp.status, StatusCode::CREATED);
        let id = resp.body["pk"].as_str().unwrap();
        let resp = app.get(&format!("/api/v3/stages/captcha/{id}")).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body["name"], "no slash");
        assert_eq!(
            app.get("/api/v3/stages/captcha").await.status,
            StatusCode::OK
        );
    }
}

async fn expect_errors(app: &TestApp, body: Value, expected: Value) {
    let before = app.table_counts().await;
    let resp = app.post(STAGES, &body).await;
    assert_eq!(
        resp.status,
        StatusCode::BAD_REQUEST,
        "{body} -> {}",
        resp.text
    );
    assert_eq!(resp.body, expected, "{body}");
    assert_eq!(
        app.table_counts().await,
        before,
        "a refused write wrote something"
    );
}

#[tokio::test]
async fn every_message_of_the_spec() {
    for app in apps().await {
        app.create_stage(&minimal("taken")).await;
        expect_errors(
            &app,
            json!({}),
            json!({
                "name": ["This field is required."],
                "public_key": ["This field is required."],
                "private_key": ["This field is required."]
            }),
        )
        .await;
        expect_errors(
            &app,
            json!({"name": "   ", "public_key": "", "private_key": "\t\n"}),
            json!({
                "name": ["This field may not be blank."],
                "public_key": ["This field may not be blank."],
                "private_key": ["This field may not be blank."]
            }),
        )
        .await;
        expect_errors(
            &app,
            json!({"name": null, "public_key": "k", "private_key": "k", "interactive": null,
                   "score_min_threshold": null, "js_url": null, "flow_set": null}),
            json!({
                "name": ["This field may not be null."],
                "flow_set": ["This field may not be null."],
                "js_url": ["This field may not be null."],
                "interactive": ["This field may not be null."],
                "score_min_threshold": ["This field may not be null."]
            }),
        )
        .await;
        expect_errors(
            &app,
            json!({"name": true, "public_key": [1], "private_key": {"a": 1}}),
            json!({
                "name": ["Not a valid string."],
                "public_key": ["Not a valid string."],
                "private_key": ["Not a valid string."]
            }),
        )
        .await;
        expect_errors(
            &app,
            json!({"name": "b", "public_key": "k", "private_key": "k",
                   "interactive": "maybe", "error_on_invalid_score": 2}),
            json!({
                "interactive": ["Must be a valid boolean."],
                "error_on_invalid_score": ["Must be a valid boolean."]
            }),
        )
        .await;
        expect_errors(
            &app,
            json!({"name": "n", "public_key": "k", "private_key": "k",
                   "score_min_threshold": "abc", "score_max_threshold": "nan"}),
            json!({
                "score_min_threshold": ["A valid number is required."],
                "score_max_threshold": ["A valid number is required."]
            }),
        )
        .await;
        expect_errors(
            &app,
            json!({"name": "n", "public_key": "k", "private_key": "k",
                   "score_min_threshold": "1".repeat(1001), "score_max_threshold": "-Infinity"}),
            json!({
                "score_min_threshold": ["String value too large."],
                "score_max_threshold": ["A valid number is required."]
            }),
        )
        .await;
        expect_errors(
            &app,
            json!({"name": "a\u{0}b", "public_key": "k", "private_key": "k\u{0}"}),
            json!({
                "name": ["Null characters are not allowed."],
                "private_key": ["Null characters are not allowed."]
            }),
        )
        .await;
        expect_errors(
            &app,
            json!({"name": "taken", "public_key": "k", "private_key": "k"}),
            json!({"name": ["stage with this name already exists."]}),
        )
        .await;
        // The error message never echoes the private key.
        let resp = app
            .post(
                STAGES,
                &json!({"name": "taken", "public_key": "k", "private_key": "hunter2-secret"}),
            )
            .await;
        assert!(!resp.text.contains("hunter2-secret"));
    }
}

#[tokio::test]
async fn tolerant_scalars_as_authentik_reads_them() {
    for app in apps().await {
        let body = app
            .create_stage(&json!({
                "name": 5, "public_key": 2.5, "private_key": 7,
                "interactive": "YES", "error_on_invalid_score": "off",
                "score_min_threshold": "0.7", "score_max_threshold": true
            }))
            .await;
        assert_eq!(body["name"], "5");
        assert_eq!(body["public_key"], "2.5");
        assert_eq!(body["interactive"], true);
        assert_eq!(body["error_on_invalid_score"], false);
        assert_eq!(body["score_min_threshold"], 0.7);
        assert_eq!(body["score_max_threshold"], 1.0);

        for (i, (spelling, expected)) in [
            ("t", true),
            ("Y", true),
            ("yes", true),
            ("True", true),
            ("ON", true),
            ("1", true),
            ("f", false),
            ("n", false),
            ("No", false),
            ("FALSE", false),
            ("off", false),
            ("0", false),
        ]
        .into_iter()
        .enumerate()
        {
            let mut request = minimal(&format!("bool {i}"));
            request["interactive"] = json!(spelling);
            assert_eq!(
                app.create_stage(&request).await["interactive"],
                expected,
                "{spelling}"
            );
        }
        let mut request = minimal("numeric bools");
        request["interactive"] = json!(1);
        request["error_on_invalid_score"] = json!(0);
        let body = app.create_stage(&request).await;
        assert_eq!(
            (
                body["interactive"].clone(),
                body["error_on_invalid_score"].clone()
            ),
            (json!(true), json!(false))
        );
    }
}

#[tokio::test]
async fn request_shapes() {
    for app in apps().await {
        let send = |builder: reqwest::RequestBuilder| app.send(builder);
        // Malformed JSON.
        let resp = send(
            app.req(Method::POST, STAGES)
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert!(
            resp.body["detail"]
                .as_str()
                .unwrap()
                .starts_with("JSON parse error - "),
            "{}",
            resp.text
        );
        // Bare NaN / Infinity literals are read (as Python does) and refused as numbers.
        let resp = send(
            app.req(Method::POST, STAGES)
                .header("content-type", "application/json")
                .body(r#"{"name": "nan", "public_key": "k", "private_key": "k", "score_min_threshold": NaN, "score_max_threshold": Infinity}"#),
        )
        .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.body,
            json!({"score_min_threshold": ["A valid number is required."],
                   "score_max_threshold": ["A valid number is required."]})
        );
        // Not an object.
        for (raw, kind) in [
            ("[1]", "list"),
            ("\"x\"", "str"),
            ("3", "int"),
            ("2.5", "float"),
            ("true", "bool"),
        ] {
            let resp = send(
                app.req(Method::POST, STAGES)
                    .header("content-type", "application/json")
                    .body(raw),
            )
            .await;
            assert_eq!(resp.status, StatusCode::BAD_REQUEST);
            assert_eq!(
                resp.body,
                json!({"non_field_errors": [format!("Invalid data. Expected a dictionary, but got {kind}.")]})
            );
        }
        let resp = send(
            app.req(Method::POST, STAGES)
                .header("content-type", "application/json")
                .body("null"),
        )
        .await;
        assert_eq!(resp.body, json!({"non_field_errors": ["No data provided"]}));
        // Empty body: treated as {}.
        let resp = send(app.req(Method::POST, STAGES)).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.body["name"], json!(["This field is required."]));
        // Not JSON.
        let resp = send(
            app.req(Method::POST, STAGES)
                .header("content-type", "text/plain")
                .body("name=x"),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            resp.body,
            json!({"detail": "Unsupported media type \"text/plain\" in request."})
        );
        let resp = send(app.req(Method::POST, STAGES).body("{}")).await;
        assert_eq!(resp.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            resp.body,
            json!({"detail": "Unsupported media type \"\" in request."})
        );
        // JSON with a charset parameter is JSON.
        let resp = send(
            app.req(Method::POST, STAGES)
                .header("content-type", "application/json; charset=utf-8")
                .body(minimal("charset").to_string()),
        )
        .await;
        assert_eq!(resp.status, StatusCode::CREATED);
        // Over 1 MiB.
        let mut big = minimal("big");
        big["public_key"] = json!("x".repeat(1024 * 1024 + 1));
        let resp = send(app.req(Method::POST, STAGES).json(&big)).await;
        assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(resp.body["detail"].is_string(), "{}", resp.text);
        // Invalid UTF-8.
        let resp = send(
            app.req(Method::POST, STAGES)
                .header("content-type", "application/json")
                .body(vec![b'{', b'"', 0xff, b'"', b':', b'1', b'}']),
        )
        .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        // Wrong method.
        let resp = send(app.req(Method::DELETE, STAGES)).await;
        assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            resp.body,
            json!({"detail": "Method \"DELETE\" not allowed."})
        );
        let allow = resp.headers.get_all("allow").iter().collect::<Vec<_>>();
        assert_eq!(allow.len(), 1);
        assert!(allow[0].to_str().unwrap().contains("POST"));
    }
}

#[tokio::test]
async fn nested_flows_are_created_and_bound() {
    for app in apps().await {
        let mut request = minimal("with flows");
        request["flow_set"] = json!([
            flow("flow-b"),
            {"name": "A", "slug": "flow-a", "title": "A title", "designation": "stage_configuration",
             "policy_engine_mode": "all", "compatibility_mode": "true", "layout": "sidebar_left",
             "denied_action": "continue"}
        ]);
        let body = app.create_stage(&request).await;
        let flows = body["flow_set"].as_array().unwrap();
        assert_eq!(flows.len(), 2);
        let a = &flows[0];
        assert_eq!(a["slug"], "flow-a");
        assert_eq!(a["designation"], "stage_configuration");
        assert_eq!(a["policy_engine_mode"], "all");
        assert_eq!(a["compatibility_mode"], true);
        assert_eq!(a["layout"], "sidebar_left");
        assert_eq!(a["denied_action"], "continue");
        assert_eq!(
            a["background"],
            "/static/dist/assets/images/flow_background.jpg"
        );
        assert_eq!(a["export_url"], "/api/v3/flows/instances/flow-a/export/");
        assert_ne!(a["pk"], a["policybindingmodel_ptr_id"]);
        let b = &flows[1];
        assert_eq!(
            (
                b["policy_engine_mode"].clone(),
                b["layout"].clone(),
                b["denied_action"].clone(),
                b["compatibility_mode"].clone()
            ),
            (
                json!("any"),
                json!("stacked"),
                json!("message_continue"),
                json!(false)
            )
        );
        let read_back = app.get(&stage_path(body["pk"].as_str().unwrap())).await;
        // The create answers its flows as it wrote them: a read shows the same.
        assert_eq!(read_back.body["flow_set"], body["flow_set"]);
        let raw = read_back.text;
        let keys = [
            "\"pk\"",
            "\"policybindingmodel_ptr_id\"",
            "\"name\"",
            "\"slug\"",
            "\"title\"",
            "\"designation\"",
            "\"background\"",
            "\"policy_engine_mode\"",
            "\"compatibility_mode\"",
            "\"export_url\"",
            "\"layout\"",
            "\"denied_action\"",
        ];
        let flow_text = &raw[raw.find("\"flow_set\"").unwrap()..];
        let positions: Vec<usize> = keys.iter().map(|k| flow_text.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{raw}");
        assert_eq!(app.table_counts().await, [1, 1, 2, 2]);
        // Bound at order 0.
        let used_by = app
            .get(&format!(
                "{}used_by/",
                stage_path(body["pk"].as_str().unwrap())
            ))
            .await;
        assert!(used_by.text.contains("Flow-stage binding #0 to "));
        // An empty list creates nothing.
        let mut request = minimal("no flows");
        request["flow_set"] = json!([]);
        assert_eq!(app.create_stage(&request).await["flow_set"], json!([]));
    }
}

#[tokio::test]
async fn nested_flow_errors_are_aligned_and_write_nothing() {
    for app in apps().await {
        let mut request = minimal("owner");
        request["flow_set"] = json!([flow("existing")]);
        app.create_stage(&request).await;

        let mut request = minimal("refused");
        request["flow_set"] = json!([flow("fresh"), flow("existing")]);
        expect_errors(
            &app,
            request,
            json!({"flow_set": [{}, {"slug": ["Flow with this slug already exists."]}]}),
        )
        .await;

        let mut request = minimal("refused");
        request["flow_set"] = json!([flow("twice"), flow("other"), flow("twice")]);
        expect_errors(
            &app,
            request,
            json!({"flow_set": [{}, {}, {"slug": ["Flow with this slug already exists."]}]}),
        )
        .await;

        let mut request = minimal("refused");
        request["flow_set"] = json!([
            flow("ok-1"),
            {"name": " ", "slug": "bad slug!", "title": "t", "designation": "nope",
             "policy_engine_mode": "some", "layout": 3, "denied_action": null, "compatibility_mode": "x"},
            {"slug": "x".repeat(51), "name": "n", "title": "t", "designation": "recovery"},
            7,
            null
        ]);
        expect_errors(
            &app,
            request,
            json!({"flow_set": [
                {},
                {
                    "name": ["This field may not be blank."],
                    "slug": ["Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."],
                    "designation": ["\"nope\" is not a valid choice."],
                    "policy_engine_mode": ["\"some\" is not a valid choice."],
                    "compatibility_mode": ["Must be a valid boolean."],
                    "layout": ["\"3\" is not a valid choice."],
                    "denied_action": ["This field may not be null."]
                },
                {"slug": ["Ensure this field has no more than 50 characters."]},
                {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]},
                ["This field may not be null."]
            ]}),
        )
        .await;

        let mut request = minimal("refused");
        request["flow_set"] = json!("flows");
        expect_errors(
            &app,
            request,
            json!({"flow_set": {"non_field_errors": ["Expected a list of items but got type \"str\"."]}}),
        )
        .await;

        // Errors of the stage and of its flows come together, in field order.
        let mut request = json!({"name": "owner", "public_key": "", "private_key": "k"});
        request["flow_set"] = json!([flow("existing")]);
        expect_errors(
            &app,
            request,
            json!({
                "name": ["stage with this name already exists."],
                "flow_set": [{"slug": ["Flow with this slug already exists."]}],
                "public_key": ["This field may not be blank."]
            }),
        )
        .await;
        let slug51 = "a".repeat(50);
        let mut request = minimal("fifty");
        request["flow_set"] = json!([flow(&slug51)]);
        app.create_stage(&request).await;
    }
}
