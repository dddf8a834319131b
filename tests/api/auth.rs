//! Spec 8: every authentication and permission case, on REST and GraphQL.

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use stages_api::auth::Permission;

use crate::helpers::*;

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const INVALID: &str = "Token invalid/expired";
const DENIED: &str = "You do not have permission to perform this action.";

async fn rest_with_header(app: &TestApp, header: Option<&str>) -> Resp {
    let mut builder = app.client.get(format!("{}{}", app.base, STAGES));
    if let Some(header) = header {
        builder = builder.header("authorization", header);
    }
    app.send(builder).await
}

async fn graphql_with_header(app: &TestApp, header: Option<&str>) -> Value {
    let mut builder = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({"query": "{ captchaStages { pagination { count } } }"}));
    if let Some(header) = header {
        builder = builder.header("authorization", header);
    }
    app.send(builder).await.body
}

#[tokio::test]
async fn credentials_cases() {
    for app in apps().await {
        let revoked = app.named_token("revoked", None).await;
        assert!(
            stages_api::auth::revoke_token(&app.db.writer, "revoked")
                .await
                .unwrap()
        );
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        let expired = app.named_token("expired", Some(past)).await;
        let cases: Vec<(Option<String>, &str)> = vec![
            (None, NOT_PROVIDED),
            (Some("Bearer".into()), NOT_PROVIDED),
            (Some("Bearer ".into()), NOT_PROVIDED),
            (Some(format!("Basic {}", app.token)), NOT_PROVIDED),
            (Some("Token abc".into()), NOT_PROVIDED),
            (Some("Bearer not-a-token".into()), INVALID),
            (Some(format!("Bearer {revoked}")), INVALID),
            (Some(format!("Bearer {expired}")), INVALID),
        ];
        for (header, message) in cases {
            let resp = rest_with_header(&app, header.as_deref()).await;
            assert_eq!(resp.status, StatusCode::FORBIDDEN, "{header:?}");
            assert_eq!(resp.body, json!({"detail": message}), "{header:?}");
            assert!(resp.headers.get("www-authenticate").is_none());
            let body = graphql_with_header(&app, header.as_deref()).await;
            assert!(
                body.get("data").is_none(),
                "no data before execution: {header:?}"
            );
            assert_eq!(body["errors"][0]["message"], message);
            assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        }
        // The scheme in any case, the credential verbatim.
        let resp = rest_with_header(&app, Some(&format!("bEARER {}", app.token))).await;
        assert_eq!(resp.status, StatusCode::OK);
        let resp = rest_with_header(&app, Some(&format!("Bearer {}x", app.token))).await;
        assert_eq!(resp.body, json!({"detail": INVALID}));
    }
}

#[tokio::test]
async fn every_operation_needs_its_permission() {
    for app in apps().await {
        let stage = app.create_stage(&minimal("guarded")).await;
        let id = stage["pk"].as_str().unwrap().to_string();
        let path = stage_path(&id);
        let used_by = format!("{path}used_by/");
        let body = minimal("other").to_string();
        let rest: Vec<(Permission, Method, String)> = vec![
            (
                Permission::ViewCaptchaStage,
                Method::GET,
                STAGES.to_string(),
            ),
            (
                Permission::AddCaptchaStage,
                Method::POST,
                STAGES.to_string(),
            ),
            (Permission::ViewCaptchaStage, Method::GET, path.clone()),
            (Permission::ChangeCaptchaStage, Method::PUT, path.clone()),
            (Permission::ChangeCaptchaStage, Method::PATCH, path.clone()),
            (Permission::DeleteCaptchaStage, Method::DELETE, path.clone()),
            (Permission::ViewCaptchaStage, Method::GET, used_by.clone()),
        ];
        for (needed, method, path) in &rest {
            // Every other permission is not enough; the body is never looked at first.
            let others: Vec<Permission> = Permission::ALL
                .iter()
                .copied()
                .filter(|p| p != needed)
                .collect();
            let token = app.token_with(&others).await;
            let resp = app
                .send(
                    app.client
                        .request(method.clone(), format!("{}{}", app.base, path))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body("{not json"),
                )
                .await;
            assert_eq!(resp.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert_eq!(resp.body, json!({"detail": DENIED}));
        }
        // A path that is not a UUID is still 403 first.
        let viewer = app.token_with(&[]).await;
        let resp = app
            .send(
                app.client
                    .get(format!("{}{}", app.base, stage_path("nope")))
                    .bearer_auth(&viewer),
            )
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN);

        // With the permission, each passes.
        let token = app.token_with(&[Permission::ViewCaptchaStage]).await;
        let resp = app
            .send(
                app.client
                    .get(format!("{}{}", app.base, used_by))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK);
        let token = app.token_with(&[Permission::AddCaptchaStage]).await;
        let resp = app
            .send(
                app.client
                    .post(format!("{}{}", app.base, STAGES))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_eq!(resp.status, StatusCode::CREATED);

        let graphql: Vec<(Permission, String)> = vec![
            (Permission::ViewCaptchaStage, "{ captchaStages { pagination { count } } }".into()),
            (Permission::ViewCaptchaStage, format!("{{ captchaStage(id: \"{id}\") {{ name }} }}")),
            (Permission::ViewFlow, "{ flows { pagination { count } } }".into()),
            (Permission::AddCaptchaStage,
             "mutation { createCaptchaStage(input: {name: \"g\", publicKey: \"p\", privateKey: \"k\"}) { id } }".into()),
            (Permission::ChangeCaptchaStage,
             format!("mutation {{ updateCaptchaStage(id: \"{id}\", input: {{name: \"g2\"}}) {{ id }} }}")),
            (Permission::ChangeCaptchaStage,
             format!("mutation {{ replaceCaptchaStage(id: \"{id}\", input: {{name: \"g3\", publicKey: \"p\", privateKey: \"k\"}}) {{ id }} }}")),
            (Permission::DeleteCaptchaStage, format!("mutation {{ deleteCaptchaStage(id: \"{id}\") }}")),
        ];
        for (needed, query) in &graphql {
            let others: Vec<Permission> = Permission::ALL
                .iter()
                .copied()
                .filter(|p| p != needed)
                .collect();
            let token = app.token_with(&others).await;
            let body = app.graphql_as(Some(&token), query, json!({})).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "FORBIDDEN",
                "{query}: {body}"
            );
            assert_eq!(body["errors"][0]["message"], DENIED);
            let token = app.token_with(&[*needed]).await;
            let body = app.graphql_as(Some(&token), query, json!({})).await;
            assert!(body.get("errors").is_none(), "{query}: {body}");
        }
    }
}

#[tokio::test]
async fn list_needs_view_even_when_empty() {
    for app in apps().await {
        let token = app.token_with(&[Permission::AddCaptchaStage]).await;
        let resp = app
            .send(
                app.client
                    .get(format!("{}{}", app.base, STAGES))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN);
        assert_eq!(resp.body, json!({"detail": DENIED}));
    }
}

#[tokio::test]
async fn bootstrap_token_is_registered_idempotently() {
    for app in apps().await {
        let secret = "bootstrap-secret-value-that-is-long-enough";
        for _ in 0..3 {
            stages_api::auth::ensure_bootstrap_token(&app.db.writer, &secret.into())
                .await
                .unwrap();
        }
        let resp = app
            .send(
                app.client
                    .get(format!("{}{}", app.base, STAGES))
                    .bearer_auth(secret),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK);
        let tokens = stages_api::auth::list_tokens(&app.db.reader).await.unwrap();
        assert_eq!(
            tokens
                .iter()
                .filter(|t| t.name.starts_with("bootstrap-"))
                .count(),
            1
        );
        // Only the hash is stored.
        let raw = app
            .db
            .reader
            .query_one_raw(sea_orm::Statement::from_string(
                app.db.reader.get_database_backend(),
                "SELECT token_hash FROM api_token WHERE name LIKE 'bootstrap-%'".to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
        let stored: String = raw.try_get("", "token_hash").unwrap();
        assert_eq!(stored, stages_api::auth::hash_token(secret));
        assert!(!stored.contains(secret));
    }
}
