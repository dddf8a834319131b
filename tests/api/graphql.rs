//! The GraphQL front: the same rules as REST under GraphQL's names, error codes, limits, the
//! SDL, and batched loading.

use serde_json::{Value, json};

use crate::helpers::*;

const CREATE: &str = r#"
mutation Create($input: CreateCaptchaStageInput!) {
  createCaptchaStage(input: $input) {
    id name component verboseName verboseNamePlural metaModelName publicKey jsUrl apiUrl
    interactive scoreMinThreshold scoreMaxThreshold errorOnInvalidScore
    flowSet { id policybindingmodelPtrId name slug title designation background policyEngineMode
              compatibilityMode exportUrl layout deniedAction }
  }
}"#;

fn input(name: &str) -> Value {
    json!({"name": name, "publicKey": "site", "privateKey": "gql-secret"})
}

#[tokio::test]
async fn create_with_flows_matches_rest() {
    for app in apps().await {
        let mut variables = input("  gql stage ");
        variables["flowSet"] = json!([
            {"name": "F", "slug": "gql-f", "title": "T", "designation": "STAGE_CONFIGURATION",
             "layout": "CONTENT_RIGHT", "policyEngineMode": null}
        ]);
        variables["scoreMinThreshold"] = json!(0.25);
        variables["jsUrl"] = Value::Null;
        let body = app.graphql(CREATE, json!({"input": variables})).await;
        assert!(body.get("errors").is_none(), "{body}");
        let stage = &body["data"]["createCaptchaStage"];
        assert_eq!(stage["name"], "gql stage");
        assert_eq!(stage["component"], "ak-stage-captcha-form");
        assert_eq!(stage["jsUrl"], "https://www.recaptcha.net/recaptcha/api.js");
        assert_eq!(stage["scoreMinThreshold"], 0.25);
        assert_eq!(stage["scoreMaxThreshold"], 1.0);
        assert_eq!(stage["errorOnInvalidScore"], true);
        let flow = &stage["flowSet"][0];
        assert_eq!(flow["designation"], "STAGE_CONFIGURATION");
        assert_eq!(flow["layout"], "CONTENT_RIGHT");
        assert_eq!(flow["policyEngineMode"], "ANY");
        assert_eq!(flow["deniedAction"], "MESSAGE_CONTINUE");
        assert_eq!(flow["exportUrl"], "/api/v3/flows/instances/gql-f/export/");
        assert!(!body.to_string().contains("gql-secret"));
        // The same stage through REST.
        let rest = app
            .get(&stage_path(stage["id"].as_str().unwrap()))
            .await
            .body;
        assert_eq!(rest["name"], "gql stage");
        assert_eq!(rest["flow_set"][0]["designation"], "stage_configuration");
        assert_eq!(rest["flow_set"][0]["layout"], "content_right");
        assert_eq!(app.table_counts().await, [1, 1, 1, 1]);
        // Its flows as a read shows them: what the create answered, every field of a Flow.
        let all_flow_fields = "flowSet { id policybindingmodelPtrId name slug title designation
            background policies cacheCount policyEngineMode compatibilityMode exportUrl layout
            deniedAction authentication stageBindings { order } }";
        let created = app
            .graphql(
                &format!("mutation($input: CreateCaptchaStageInput!) {{ createCaptchaStage(input: $input) {{ id {all_flow_fields} }} }}"),
                json!({"input": {"name": "read back", "publicKey": "p", "privateKey": "k",
                    "flowSet": [{"name": "R", "slug": "gql-r", "title": "T", "designation": "AUTHENTICATION"}]}}),
            )
            .await;
        assert!(created.get("errors").is_none(), "{created}");
        let created = &created["data"]["createCaptchaStage"];
        let read = app
            .graphql(
                &format!(
                    "query($id: UUID!) {{ captchaStage(id: $id) {{ id {all_flow_fields} }} }}"
                ),
                json!({"id": created["id"]}),
            )
            .await;
        assert_eq!(&read["data"]["captchaStage"], created, "{read}");
        assert_eq!(created["flowSet"][0]["authentication"], "NONE");
    }
}

#[tokio::test]
async fn validation_errors_in_graphql_names() {
    for app in apps().await {
        app.create_stage(&{
            let mut r = minimal("taken");
            r["flow_set"] = json!([flow("taken-slug")]);
            r
        })
        .await;
        let before = app.table_counts().await;
        let mut variables = json!({"name": "taken", "publicKey": " ", "privateKey": "k\u{0}",
                                   "scoreMaxThreshold": 1.5});
        variables["flowSet"] = json!([
            {"name": "ok", "slug": "new-slug", "title": "t", "designation": "RECOVERY"},
            {"name": "dup", "slug": "taken-slug", "title": "t", "designation": "RECOVERY"},
            {"name": "", "slug": "bad slug", "title": "t", "designation": "RECOVERY"}
        ]);
        let body = app.graphql(CREATE, json!({"input": variables})).await;
        assert_eq!(body["data"], Value::Null);
        let error = &body["errors"][0];
        assert_eq!(error["message"], "Invalid input.");
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(
            error["extensions"]["fieldErrors"],
            json!({
                "name": ["stage with this name already exists."],
                "flowSet": [
                    {},
                    {"slug": ["Flow with this slug already exists."]},
                    {"name": ["This field may not be blank."],
                     "slug": ["Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."]}
                ],
                "publicKey": ["This field may not be blank."],
                "privateKey": ["Null characters are not allowed."]
            })
        );
        assert_eq!(app.table_counts().await, before);
        // GraphQL itself refuses a missing required field.
        let body = app.graphql(CREATE, json!({"input": {"name": "x"}})).await;
        assert!(body["errors"][0]["message"].is_string());
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
    }
}

#[tokio::test]
async fn queries_updates_and_not_found() {
    for app in apps().await {
        let unknown = uuid::Uuid::new_v4();
        let body = app
            .graphql(
                "query($id: UUID!) { captchaStage(id: $id) { id } }",
                json!({"id": unknown}),
            )
            .await;
        assert_eq!(body, json!({"data": {"captchaStage": null}}));
        for mutation in [
            "mutation($id: UUID!) { updateCaptchaStage(id: $id, input: {name: \"x\"}) { id } }",
            "mutation($id: UUID!) { replaceCaptchaStage(id: $id, input: {name: \"x\", publicKey: \"p\", privateKey: \"k\"}) { id } }",
            "mutation($id: UUID!) { deleteCaptchaStage(id: $id) }",
        ] {
            let body = app.graphql(mutation, json!({"id": unknown})).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "NOT_FOUND",
                "{mutation}"
            );
            assert_eq!(
                body["errors"][0]["message"],
                "No CaptchaStage matches the given query."
            );
        }

        let created = app
            .graphql(CREATE, json!({"input": input("to change")}))
            .await;
        let id = created["data"]["createCaptchaStage"]["id"].clone();
        let body = app
            .graphql(
                "mutation($id: UUID!) { updateCaptchaStage(id: $id, input: {interactive: true, name: null}) { name interactive publicKey } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            body["data"]["updateCaptchaStage"],
            json!({"name": "to change", "interactive": true, "publicKey": "site"})
        );
        let body = app
            .graphql(
                "mutation($id: UUID!) { replaceCaptchaStage(id: $id, input: {name: \"replaced\", publicKey: \"p2\", privateKey: \"k2\"}) { name interactive publicKey } }",
                json!({"id": id}),
            )
            .await;
        // Optional fields left out keep their values, as REST's PUT.
        assert_eq!(
            body["data"]["replaceCaptchaStage"],
            json!({"name": "replaced", "interactive": true, "publicKey": "p2"})
        );
        let body = app
            .graphql(
                "mutation($id: UUID!) { deleteCaptchaStage(id: $id) }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(body["data"]["deleteCaptchaStage"], id);

        let body = app
            .graphql(
                "{ captchaStages(page: 2) { pagination { count } } }",
                json!({}),
            )
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["message"], "Invalid page.");
    }
}

#[tokio::test]
async fn flows_stages_and_used_by() {
    for app in apps().await {
        let mut request = minimal("bound");
        request["flow_set"] = json!([flow("shared-a"), flow("shared-b")]);
        let stage = app.create_stage(&request).await;
        let body = app
            .graphql(
                r#"{ flow(slug: "shared-a") { slug title stages { name flowSet { slug } } }
                    missing: flow(slug: "nope") { slug }
                    flows(search: "SHARED", pageSize: 1) { pagination { count totalPages next } results { slug } } }"#,
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["flow"]["stages"][0]["name"], "bound");
        assert_eq!(
            body["data"]["flow"]["stages"][0]["flowSet"],
            json!([{"slug": "shared-a"}, {"slug": "shared-b"}])
        );
        assert_eq!(body["data"]["missing"], Value::Null);
        assert_eq!(
            body["data"]["flows"]["pagination"],
            json!({"count": 2, "totalPages": 2, "next": 2})
        );
        assert_eq!(
            body["data"]["flows"]["results"],
            json!([{"slug": "shared-a"}])
        );
        let body = app
            .graphql(
                "query($id: UUID!) { captchaStage(id: $id) { usedBy { app modelName pk name action } } }",
                json!({"id": stage["pk"]}),
            )
            .await;
        let rest = app
            .get(&format!(
                "{}used_by/",
                stage_path(stage["pk"].as_str().unwrap())
            ))
            .await
            .body;
        let used_by = body["data"]["captchaStage"]["usedBy"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(used_by.len(), 4);
        for (g, r) in used_by.iter().zip(rest.as_array().unwrap()) {
            assert_eq!(g["pk"], r["pk"]);
            assert_eq!(g["name"], r["name"]);
            assert_eq!(g["modelName"], r["model_name"]);
            assert_eq!(
                g["action"].as_str().unwrap().to_lowercase(),
                r["action"].as_str().unwrap()
            );
        }
    }
}

#[tokio::test]
async fn limits_introspection_and_non_graphql_requests() {
    for app in apps().await {
        // GraphiQL's introspection query nests about 13 deep: it must pass.
        let introspection = r#"query IntrospectionQuery { __schema { queryType { name } mutationType { name }
          types { ...FullType } directives { name locations args { ...InputValue } } } }
          fragment FullType on __Type { kind name description
            fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } isDeprecated }
            inputFields { ...InputValue } interfaces { ...TypeRef }
            enumValues(includeDeprecated: true) { name } possibleTypes { ...TypeRef } }
          fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
          fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name
            ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }"#;
        let body = app.graphql(introspection, json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
        // Introspection needs no token (the SDL is public anyway); anything else does.
        let body = app.graphql_as(None, introspection, json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
        let body = app
            .graphql_as(
                None,
                "{ __typename captchaStages { pagination { count } } }",
                json!({}),
            )
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert!(body.get("data").is_none(), "{body}");
        // An abusive depth is refused, however cheap each level.
        let deep = format!(
            "{{ __schema {{ types {{ fields {{ type {} }} }} }} }}",
            "{ ofType ".repeat(14) + "{ name }" + &" }".repeat(14)
        );
        let body = app.graphql(&deep, json!({})).await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("nested too deep"),
            "{body}"
        );

        // Costly lists are refused before they run: pages count their size.
        let page =
            "captchaStages(pageSize: 100) { results { name flowSet { slug stages { name } } } }";
        let body = app.graphql(&format!("{{ {page} }}"), json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
        let aliased: String = (0..10).map(|i| format!("p{i}: {page} ")).collect();
        let body = app.graphql(&format!("{{ {aliased} }}"), json!({})).await;
        assert_eq!(
            body["errors"][0]["message"], "Query is too complex.",
            "{body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );

        let resp = app
            .send(
                app.client
                    .post(format!("{}/graphql", app.base))
                    .bearer_auth(&app.token)
                    .body("{\"nope\": 1}"),
            )
            .await;
        assert_eq!(resp.status, reqwest::StatusCode::BAD_REQUEST);
        assert!(resp.body["errors"][0]["message"].is_string());
    }
}

#[tokio::test]
async fn sdl_is_served_and_checked_in() {
    let app = spawn(Backend::Sqlite).await;
    let served = app
        .client
        .get(format!("{}/graphql/schema.graphql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), reqwest::StatusCode::OK);
    let served = served.text().await.unwrap();
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        served == checked_in,
        "schema.graphql is stale: run `cargo run -- export-schema` and commit it"
    );
    assert!(
        !served.contains("privateKey: String!\n}\n\ntype"),
        "no output type has a private key"
    );
    for output in ["type CaptchaStage implements Stage {", "type Flow {"] {
        let start = served.find(output).unwrap();
        let block = &served[start..start + served[start..].find("\n}").unwrap()];
        assert!(!block.contains("privateKey"), "{output}");
    }
    // Every custom scalar says where it is specified, for codegen tools; introspection (which
    // needs no token) says the same.
    let rfc4122 = "https://datatracker.ietf.org/doc/html/rfc4122";
    assert!(
        served.contains(&format!("scalar UUID @specifiedBy(url: \"{rfc4122}\")\n")),
        "UUID has @specifiedBy"
    );
    for scalar in served.lines().filter(|line| line.starts_with("scalar ")) {
        assert!(scalar.contains(" @specifiedBy(url: \"https://"), "{scalar}");
    }
    let body = app
        .graphql_as(
            None,
            r#"{ __type(name: "UUID") { kind specifiedByURL } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["__type"],
        json!({"kind": "SCALAR", "specifiedByURL": rfc4122}),
        "{body}"
    );
    // The playground page needs no token.
    let page = app
        .client
        .get(format!("{}/graphql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn pages_of_stages_load_in_constant_queries() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && std::env::var("TEST_DATABASE_URL").is_err() {
            continue;
        }
        let (url, dir) = fresh_database(backend).await;
        let mut db = stages_api::db::connect(&url).await.unwrap();
        stages_api::db::migrate(&db).await.unwrap();
        let statements = count_statements(&mut db);
        let app = spawn_on(backend, url, db, dir).await;
        let mut counts = Vec::new();
        for (size, batch) in [(5usize, 0usize), (100, 5)] {
            for i in batch..size {
                let mut request = minimal(&format!("stage {i:03}"));
                request["flow_set"] = json!([flow(&format!("f-{i}-a")), flow(&format!("f-{i}-b"))]);
                app.create_stage(&request).await;
            }
            let run = |label: &'static str, count: usize| (label, size, count);
            let before = *statements.lock().unwrap();
            let resp = app.get(&format!("{STAGES}?page_size=100")).await;
            assert_eq!(resp.body["results"].as_array().unwrap().len(), size);
            let rest = *statements.lock().unwrap() - before;
            let before = *statements.lock().unwrap();
            let body = app
                .graphql(
                    "{ captchaStages(pageSize: 100) { results { name flowSet { slug stages { name flowSet { slug } } } } } }",
                    json!({}),
                )
                .await;
            assert!(body.get("errors").is_none(), "{body}");
            let graphql = *statements.lock().unwrap() - before;
            counts.push(run("rest", rest));
            counts.push(run("graphql", graphql));
        }
        // The same number of statements for 5 stages as for 100.
        assert_eq!(counts[0].2, counts[2].2, "{counts:?}");
        assert_eq!(counts[1].2, counts[3].2, "{counts:?}");
        assert!(counts[0].2 <= 5, "REST list: {counts:?}");
        assert!(
            counts[1].2 <= 8,
            "GraphQL list with nested flows and stages: {counts:?}"
        );
    }
}

/// Plain selections are answered by a fast path; the same selection through a fragment goes
/// through every field's resolver. Both must give the same response, aliases and all.
#[tokio::test]
async fn plain_selections_answer_as_the_full_resolvers() {
    for app in apps().await {
        for i in 0..3 {
            let mut request = minimal(&format!("same {i}"));
            request["flow_set"] = json!([flow(&format!("s-{i}-a")), flow(&format!("s-{i}-b"))]);
            request["score_min_threshold"] = json!(0.125 * i as f64);
            app.create_stage(&request).await;
        }
        let stage_fields = "__typename id name component verboseName verboseNamePlural
            metaModelName publicKey jsUrl apiUrl interactive scoreMinThreshold scoreMaxThreshold
            errorOnInvalidScore alias: name";
        let flow_fields = "__typename id policybindingmodelPtrId name slug title designation
            background policyEngineMode compatibilityMode exportUrl layout deniedAction other: slug";
        let plain = app
            .graphql(
                &format!("{{ captchaStages {{ results {{ {stage_fields} flowSet {{ {flow_fields} }} }} }} }}"),
                json!({}),
            )
            .await;
        // Fragments send both objects through the full resolvers.
        let full = app
            .graphql(
                &format!(
                    "{{ captchaStages {{ results {{ ... on CaptchaStage {{ {stage_fields}
                       flowSet {{ ... on Flow {{ {flow_fields} }} }} }} }} }} }}"
                ),
                json!({}),
            )
            .await;
        assert!(plain.get("errors").is_none(), "{plain}");
        assert_eq!(
            plain["data"]["captchaStages"]["results"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(plain.to_string(), full.to_string());
        // A selection with a field that is not a plain read takes the full path for that object.
        let mixed = app
            .graphql(
                "{ captchaStages { results { name usedBy { action } flowSet { slug stages { name } } } } }",
                json!({}),
            )
            .await;
        assert!(mixed.get("errors").is_none(), "{mixed}");
        assert_eq!(
            mixed["data"]["captchaStages"]["results"][0]["flowSet"][0]["stages"][0]["name"],
            "same 0"
        );
        assert_eq!(
            mixed["data"]["captchaStages"]["results"][0]["usedBy"][0]["action"],
            "CASCADE_MANY"
        );
    }
}
