//! Hostile input: every bound of README "Limits" met, just under and well over, on every
//! backend. A refusal is the documented 4xx, never a 5xx, and the process still serves after
//! each (regression tests for the inputs of issue 8, which crashed the service or answered 500).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::attack::*;
use crate::helpers::*;

const TERMS_MESSAGE: &str = "Ensure this field has no more than 32 search terms.";
const SEARCH_CHARS_MESSAGE: &str = "Ensure this field has no more than 512 characters.";
const FLOW_SET_MESSAGE: &str = "Ensure this field has no more than 100 elements.";
const NAME_MESSAGE: &str = "Ensure this field has no more than 255 characters.";
const TEXT_MESSAGE: &str = "Ensure this field has no more than 4096 characters.";
const NUL_MESSAGE: &str = "Null characters are not allowed.";

/// `n` one-letter search terms, separated as a query string encodes spaces.
fn search_query(n: usize) -> String {
    format!("{STAGES}?search={}", vec!["a"; n].join("+"))
}

fn flows(prefix: &str, n: usize) -> Vec<Value> {
    (0..n).map(|i| flow(&format!("{prefix}-{i}"))).collect()
}

fn graphql_flows(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"name": format!("F {i}"), "slug": format!("{prefix}-{i}"),
                   "title": "T", "designation": "AUTHENTICATION"})
        })
        .collect()
}

/// `[[[…]]]`, `depth` arrays deep.
fn nested(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

const CREATE: &str =
    "mutation($input: CreateCaptchaStageInput!) { createCaptchaStage(input: $input) { id } }";
const UPDATE: &str = "mutation($id: UUID!, $input: UpdateCaptchaStageInput!) { updateCaptchaStage(id: $id, input: $input) { id } }";

/// The one GraphQL error of a refused input: BAD_USER_INPUT with these field errors.
fn assert_bad_user_input(body: &Value, field_errors: &Value, what: &str) {
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"],
        "BAD_USER_INPUT",
        "{what}: {}",
        truncated(&body.to_string())
    );
    assert_eq!(&error["extensions"]["fieldErrors"], field_errors, "{what}");
}

#[tokio::test]
async fn search_terms_and_length_are_bounded() {
    for app in apps().await {
        app.create_stage(&minimal("a stage")).await;
        let mut tried = 0;
        // 20,000 terms: a 40 kB query string, over the URI bound.
        let resp = app.get(&search_query(20_000)).await;
        assert_client_error(&resp, StatusCode::URI_TOO_LONG, "20,000 terms");
        assert!(resp.body["detail"].as_str().unwrap().contains("8192"));
        assert_serves(&app, "20,000 search terms").await;
        tried += 1;
        // 1,000 terms fit in the URL (2 kB) but are over both search bounds (1,999 characters):
        // one of the two field errors, on `search` alone.
        let resp = app.get(&search_query(1_000)).await;
        assert_client_error(&resp, StatusCode::BAD_REQUEST, "1,000 terms");
        let messages = resp.body["search"].as_array().expect("a search error");
        assert_eq!(resp.body.as_object().unwrap().len(), 1, "{}", resp.text);
        assert!(
            !messages.is_empty()
                && messages
                    .iter()
                    .all(|m| m == TERMS_MESSAGE || m == SEARCH_CHARS_MESSAGE),
            "{}",
            resp.text
        );
        assert_serves(&app, "1,000 search terms").await;
        tried += 1;
        for (query, expected) in [
            (search_query(33), Some(TERMS_MESSAGE)),
            (
                format!("{STAGES}?search={}", vec!["a"; 33].join(",")),
                Some(TERMS_MESSAGE),
            ),
            (search_query(32), None),
            (
                format!("{STAGES}?search={}", "x".repeat(600)),
                Some(SEARCH_CHARS_MESSAGE),
            ),
            (format!("{STAGES}?search={}", "x".repeat(512)), None),
            // Characters, not bytes: 512 two-byte characters pass, 513 do not.
            (format!("{STAGES}?search={}", "%C3%A9".repeat(512)), None),
            (
                format!("{STAGES}?search={}", "%C3%A9".repeat(513)),
                Some(SEARCH_CHARS_MESSAGE),
            ),
        ] {
            let resp = app.get(&query).await;
            match expected {
                Some(message) => {
                    assert_client_error(&resp, StatusCode::BAD_REQUEST, &query);
                    assert_eq!(resp.body, json!({"search": [message]}), "{query}");
                }
                None => assert_eq!(resp.status, StatusCode::OK, "{query}: {}", resp.text),
            }
            assert_serves(&app, &query).await;
            tried += 1;
        }

        // GraphQL: the same bounds on both searchable lists.
        for field in ["captchaStages", "flows"] {
            let query =
                format!("query($s: String) {{ {field}(search: $s) {{ pagination {{ count }} }} }}");
            for (search, expected) in [
                (vec!["a"; 33].join(" "), Some(TERMS_MESSAGE)),
                ("x".repeat(600), Some(SEARCH_CHARS_MESSAGE)),
                (vec!["a"; 20_000].join(" "), Some(SEARCH_CHARS_MESSAGE)),
                (vec!["a"; 32].join(" "), None),
            ] {
                let body = app.graphql(&query, json!({ "s": search })).await;
                match expected {
                    Some(message) => assert_bad_user_input(
                        &body,
                        &json!({"search": [message]}),
                        &format!("{field} {} chars", search.len()),
                    ),
                    None => assert!(body.get("errors").is_none(), "{body}"),
                }
                assert_serves(&app, "a GraphQL search").await;
                tried += 1;
            }
        }
        eprintln!(
            "hostile search ({:?}): {tried} searches tried, none a 5xx",
            app.backend
        );
    }
}

#[tokio::test]
async fn flow_set_items_are_bounded() {
    let refused = json!({"flow_set": {"non_field_errors": [FLOW_SET_MESSAGE]}});
    for app in apps().await {
        let mut tried = 0;
        let before = app.table_counts().await;
        for n in [3_000, 101] {
            let mut body = minimal(&format!("fs {n}"));
            body["flow_set"] = json!(flows(&format!("p{n}"), n));
            let resp = app.post(STAGES, &body).await;
            assert_client_error(&resp, StatusCode::BAD_REQUEST, &format!("POST {n} flows"));
            assert_eq!(resp.body, refused);
            assert_eq!(app.table_counts().await, before, "nothing written");
            assert_serves(&app, "a long flow_set").await;
            tried += 1;
        }
        // 100,000 items that are not even objects: refused by their count alone.
        let mut body = minimal("zeros");
        body["flow_set"] = json!(vec![0; 100_000]);
        let resp = app.post(STAGES, &body).await;
        assert_client_error(&resp, StatusCode::BAD_REQUEST, "100,000 zeros");
        assert_eq!(resp.body, refused);
        tried += 1;

        let mut body = minimal("fs 100");
        body["flow_set"] = json!(flows("ok", 100));
        let resp = app.post(STAGES, &body).await;
        assert_eq!(
            resp.status,
            StatusCode::CREATED,
            "{}",
            truncated(&resp.text)
        );
        assert_eq!(resp.body["flow_set"].as_array().unwrap().len(), 100);
        let id = resp.body["pk"].as_str().unwrap().to_string();
        let after_create = app.table_counts().await;
        assert_eq!(
            after_create,
            [
                before[0] + 1,
                before[1] + 1,
                before[2] + 100,
                before[3] + 100
            ]
        );
        tried += 1;

        // PATCH and PUT of the stage: the same bound, and the stored bindings stay.
        for (method, n) in [
            (Method::PATCH, 101),
            (Method::PATCH, 3_000),
            (Method::PUT, 101),
        ] {
            let mut body = minimal("fs 100");
            body["flow_set"] = json!(flows(&format!("u{n}"), n));
            let resp = app
                .send(app.req(method.clone(), &stage_path(&id)).json(&body))
                .await;
            assert_client_error(
                &resp,
                StatusCode::BAD_REQUEST,
                &format!("{method} {n} flows"),
            );
            assert_eq!(resp.body, refused);
            assert_eq!(app.table_counts().await, after_create, "nothing written");
            assert_serves(&app, "a long flow_set update").await;
            tried += 1;
        }

        // GraphQL: the REST map with GraphQL's names.
        let gql_refused = json!({"flowSet": {"nonFieldErrors": [FLOW_SET_MESSAGE]}});
        for n in [101, 3_000] {
            let input = json!({"name": format!("g{n}"), "publicKey": "p", "privateKey": "k",
                               "flowSet": graphql_flows(&format!("g{n}"), n)});
            let body = app.graphql(CREATE, json!({ "input": input })).await;
            assert_bad_user_input(&body, &gql_refused, "createCaptchaStage");
            let input = json!({"flowSet": graphql_flows(&format!("h{n}"), n)});
            let body = app
                .graphql(UPDATE, json!({ "id": id, "input": input }))
                .await;
            assert_bad_user_input(&body, &gql_refused, "updateCaptchaStage");
            assert_eq!(app.table_counts().await, after_create, "nothing written");
            tried += 2;
        }
        let input = json!({"name": "g100", "publicKey": "p", "privateKey": "k",
                           "flowSet": graphql_flows("g100", 100)});
        let body = app.graphql(CREATE, json!({ "input": input })).await;
        assert!(
            body.get("errors").is_none(),
            "{}",
            truncated(&body.to_string())
        );
        tried += 1;
        assert_serves(&app, "GraphQL flow sets").await;
        eprintln!(
            "hostile flow_set ({:?}): {tried} writes tried (up to 100,000 items), refusals wrote nothing",
            app.backend
        );
    }
}

#[tokio::test]
async fn string_lengths_are_bounded() {
    for app in apps().await {
        let mut tried = 0;
        let refuse = |body: Value, expected: Value, what: &'static str| {
            let app = &app;
            async move {
                let before = app.table_counts().await;
                let resp = app.post(STAGES, &body).await;
                assert_client_error(&resp, StatusCode::BAD_REQUEST, what);
                assert_eq!(resp.body, expected, "{what}");
                assert_eq!(app.table_counts().await, before, "{what}: nothing written");
                assert_serves(app, what).await;
            }
        };
        let with = |key: &str, value: String| {
            let mut body = minimal("strings");
            body[key] = json!(value);
            body
        };
        refuse(
            with("name", "n".repeat(256)),
            json!({"name": [NAME_MESSAGE]}),
            "256-char name",
        )
        .await;
        refuse(
            with("name", "é".repeat(256)),
            json!({"name": [NAME_MESSAGE]}),
            "256 two-byte characters",
        )
        .await;
        for key in ["public_key", "private_key", "js_url", "api_url"] {
            refuse(
                with(key, "k".repeat(5_000)),
                json!({ key: [TEXT_MESSAGE] }),
                "5,000-char text",
            )
            .await;
        }
        let nul_name = "n".repeat(150) + "\0" + &"n".repeat(149);
        refuse(
            with("name", nul_name),
            json!({"name": [NAME_MESSAGE, NUL_MESSAGE]}),
            "300-char name with a NUL",
        )
        .await;
        // 900 kB, under the 1 MiB body bound: refused by length before PostgreSQL's index
        // (2,704 bytes) could see it.
        refuse(
            with("name", "n".repeat(900_000)),
            json!({"name": [NAME_MESSAGE]}),
            "900 kB name",
        )
        .await;
        refuse(
            with("public_key", "k".repeat(900_000)),
            json!({"public_key": [TEXT_MESSAGE]}),
            "900 kB key",
        )
        .await;
        let mut long_flow = flow("long-title");
        long_flow["title"] = json!("t".repeat(900_000));
        let mut body = minimal("long flow");
        body["flow_set"] = json!([long_flow]);
        refuse(
            body,
            json!({"flow_set": [{"title": [TEXT_MESSAGE]}]}),
            "900 kB flow title",
        )
        .await;
        tried += 10;

        // At the bound: stored, multi-byte characters counted as characters.
        for name in [
            "n".repeat(255),
            "é".repeat(255),
            "\u{1F600}".repeat(255), // 1,020 bytes: still under PostgreSQL's index entry bound
        ] {
            let created = app.create_stage(&minimal(&name)).await;
            assert_eq!(created["name"], json!(name));
            tried += 1;
        }
        let mut body = minimal("long keys");
        for key in ["public_key", "private_key", "js_url", "api_url"] {
            body[key] = json!("k".repeat(4_096));
        }
        app.create_stage(&body).await;
        tried += 1;

        // PATCH of a stored stage, and GraphQL.
        let id = app.create_stage(&minimal("patched")).await["pk"]
            .as_str()
            .unwrap()
            .to_string();
        let before = app.table_counts().await;
        let resp = app
            .patch(&stage_path(&id), &json!({"name": "n".repeat(900_000)}))
            .await;
        assert_client_error(&resp, StatusCode::BAD_REQUEST, "PATCH 900 kB name");
        assert_eq!(resp.body, json!({"name": [NAME_MESSAGE]}));
        for name in ["n".repeat(256), "n".repeat(900_000)] {
            let input = json!({"name": name, "publicKey": "p", "privateKey": "k"});
            let body = app.graphql(CREATE, json!({ "input": input })).await;
            assert_bad_user_input(&body, &json!({"name": [NAME_MESSAGE]}), "GraphQL name");
        }
        assert_eq!(app.table_counts().await, before);
        assert_eq!(app.get(&stage_path(&id)).await.body["name"], "patched");
        tried += 3;
        // A lookup by a 900 kB slug finds nothing; it is no error.
        let body = app
            .graphql(
                "query($s: String!) { flow(slug: $s) { id } }",
                json!({ "s": "s".repeat(900_000) }),
            )
            .await;
        assert_eq!(
            body,
            json!({"data": {"flow": null}}),
            "flow(slug) of 900 kB"
        );
        tried += 1;
        assert_serves(&app, "long strings").await;
        eprintln!(
            "hostile strings ({:?}): {tried} inputs tried (up to 900 kB), none a 5xx",
            app.backend
        );
    }
}

#[tokio::test]
async fn json_nesting_is_bounded() {
    for app in apps().await {
        let mut tried = 0;
        let id = app.create_stage(&minimal("nesting")).await["pk"]
            .as_str()
            .unwrap()
            .to_string();
        let raw = |method: Method, path: String, body: String| {
            app.send(
                app.req(method, &path)
                    .header("content-type", "application/json")
                    .body(body),
            )
        };
        let parse_error = |resp: &Resp, what: &str| {
            assert_client_error(resp, StatusCode::BAD_REQUEST, what);
            let detail = resp.body["detail"].as_str().unwrap_or_default();
            assert!(
                detail.starts_with("JSON parse error - "),
                "{what}: {}",
                resp.text
            );
        };
        // The object and 32 arrays: 33 levels. One level less parses, and is a field error.
        let resp = raw(
            Method::POST,
            STAGES.into(),
            format!(r#"{{"name": {}}}"#, nested(32)),
        )
        .await;
        parse_error(&resp, "33 levels");
        let resp = raw(
            Method::POST,
            STAGES.into(),
            format!(r#"{{"name": {}}}"#, nested(31)),
        )
        .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.body["name"],
            json!(["Not a valid string."]),
            "{}",
            resp.text
        );
        tried += 2;
        for (what, body) in [
            (
                "100,000 arrays",
                format!(r#"{{"name": {}}}"#, nested(100_000)),
            ),
            ("100,000 open arrays", "[".repeat(100_000)),
            (
                "100,000 objects",
                r#"{"a":"#.repeat(100_000) + "1" + &"}".repeat(100_000),
            ),
            (
                "100,000 arrays in a flow",
                format!(
                    r#"{{"name": "x", "flow_set": [{{"slug": {}}}]}}"#,
                    nested(100_000)
                ),
            ),
        ] {
            let resp = raw(Method::POST, STAGES.into(), body.clone()).await;
            parse_error(&resp, what);
            let resp = raw(Method::PATCH, stage_path(&id), body).await;
            parse_error(&resp, what);
            assert_serves(&app, what).await;
            tried += 2;
        }
        assert_eq!(app.table_counts().await, [1, 1, 0, 0]);

        // GraphQL: the nesting is in the variables.
        for depth in [33, 100_000] {
            let body = format!(
                r#"{{"query": "query($v: String) {{ __typename }}", "variables": {{"v": {}}}}}"#,
                nested(depth)
            );
            let resp = graphql_raw(&app, body).await;
            assert_client_error(&resp, StatusCode::BAD_REQUEST, "nested variables");
            assert_refused(&resp.body, "BAD_REQUEST", "nested variables");
            assert_serves(&app, "nested GraphQL variables").await;
            tried += 1;
        }
        eprintln!(
            "hostile JSON nesting ({:?}): {tried} bodies tried (up to 100,000 levels), none a 5xx",
            app.backend
        );
    }
}

#[tokio::test]
async fn http_layer_bounds_answer_json() {
    for app in apps().await {
        let mut tried = 0;
        let id = app.create_stage(&minimal("http")).await["pk"]
            .as_str()
            .unwrap()
            .to_string();
        // Body over 1 MiB: REST (authenticated or not) and GraphQL.
        let mut big = minimal("big");
        big["name"] = json!("x".repeat(1024 * 1024 + 1));
        for (what, builder) in [
            ("POST", app.req(Method::POST, STAGES).json(&big)),
            ("PATCH", app.req(Method::PATCH, &stage_path(&id)).json(&big)),
            (
                "no token",
                app.client.post(format!("{}{STAGES}", app.base)).json(&big),
            ),
        ] {
            let resp = app.send(builder).await;
            assert_client_error(&resp, StatusCode::PAYLOAD_TOO_LARGE, what);
            assert!(
                resp.body["detail"].as_str().unwrap().contains("1048576"),
                "{}",
                resp.text
            );
            assert_serves(&app, "a 1 MiB body").await;
            tried += 1;
        }
        let resp = graphql_raw(
            &app,
            json!({"query": "{ __typename }", "variables": {"x": "x".repeat(1024 * 1024)}})
                .to_string(),
        )
        .await;
        assert_client_error(&resp, StatusCode::PAYLOAD_TOO_LARGE, "GraphQL body");
        assert_refused(&resp.body, "BAD_REQUEST", "GraphQL body");
        tried += 1;

        // URI over 8 KiB; exactly 8 KiB is served.
        let padded = |len: usize| {
            let prefix = format!("{STAGES}?x=");
            prefix.clone() + &"y".repeat(len - prefix.len())
        };
        assert_eq!(app.get(&padded(8 * 1024)).await.status, StatusCode::OK);
        let resp = app.get(&padded(8 * 1024 + 1)).await;
        assert_client_error(&resp, StatusCode::URI_TOO_LONG, "8 KiB + 1 URI");
        assert!(resp.body["detail"].as_str().unwrap().contains("8192"));
        let resp = app
            .send(app.req(
                Method::GET,
                &format!("/graphql?query={}", "x".repeat(9_000)),
            ))
            .await;
        assert_client_error(&resp, StatusCode::URI_TOO_LONG, "GraphQL URI");
        assert_refused(&resp.body, "BAD_REQUEST", "GraphQL URI");
        // Past 64 KiB the HTTP parser itself refuses the target (hyper's 414, no body); no
        // client library sends such a URI, so it goes over a raw connection.
        let (status, _) = raw_request(
            &app,
            format!("GET {} HTTP/1.1\r\n", padded(70_000)).as_bytes(),
        )
        .await;
        assert_eq!(status, 414, "70 kB URI");
        assert_serves(&app, "long URIs").await;
        tried += 4;

        // Headers over 32 KiB: one large header, or many.
        let resp = app
            .send(
                app.req(Method::GET, STAGES)
                    .header("x-padding", "p".repeat(40_000)),
            )
            .await;
        assert_client_error(
            &resp,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "40 kB header",
        );
        assert!(resp.body["detail"].as_str().unwrap().contains("32768"));
        let mut many = app.req(Method::GET, STAGES);
        for i in 0..80 {
            many = many.header(format!("x-pad-{i}"), "p".repeat(500));
        }
        let resp = app.send(many).await;
        assert_client_error(
            &resp,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "80 headers",
        );
        let resp = app
            .send(
                app.client
                    .post(format!("{}/graphql", app.base))
                    .bearer_auth(&app.token)
                    .header("x-padding", "p".repeat(40_000))
                    .json(&json!({"query": "{ __typename }"})),
            )
            .await;
        assert_client_error(
            &resp,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "GraphQL header",
        );
        assert_refused(&resp.body, "BAD_REQUEST", "GraphQL header");
        tried += 3;
        // Past the HTTP parser's own bounds (about 400 kB of headers, 100 headers) hyper
        // answers 431 itself, or closes the connection: never a 5xx.
        let mut too_many = app.req(Method::GET, STAGES);
        for i in 0..120 {
            too_many = too_many.header(format!("x-h-{i}"), "1");
        }
        for (what, builder) in [
            (
                "500 kB header",
                app.req(Method::GET, STAGES)
                    .header("x-padding", "p".repeat(500_000)),
            ),
            ("120 headers", too_many),
        ] {
            if let Ok(resp) = builder.send().await {
                assert_eq!(
                    resp.status(),
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "{what}"
                );
            }
            assert_serves(&app, what).await;
            tried += 1;
        }
        eprintln!(
            "hostile HTTP bounds ({:?}): {tried} oversized requests tried, none a 5xx",
            app.backend
        );
    }
}

/// The query GraphiQL 3.9 (the bundled playground) builds with every option of graphql-js's
/// `getIntrospectionQuery` on: descriptions, schema description, input value deprecation,
/// `specifiedByURL`, `isRepeatable`, `isOneOf`, and `TypeRef` nine `ofType` levels deep.
const GRAPHIQL_INTROSPECTION: &str = r#"
    query IntrospectionQuery {
      __schema {
        description
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types { ...FullType }
        directives {
          name
          description
          isRepeatable
          locations
          args(includeDeprecated: true) { ...InputValue }
        }
      }
    }
    fragment FullType on __Type {
      kind
      name
      description
      specifiedByURL
      isOneOf
      fields(includeDeprecated: true) {
        name
        description
        args(includeDeprecated: true) { ...InputValue }
        type { ...TypeRef }
        isDeprecated
        deprecationReason
      }
      inputFields(includeDeprecated: true) { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
      isDeprecated
      deprecationReason
    }
    fragment TypeRef on __Type {
      kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
      kind name } } } } } } } } }
    }"#;

#[tokio::test]
async fn graphql_documents_are_bounded() {
    for app in apps().await {
        let mut tried = 0;
        let mut body = minimal("graphql");
        body["flow_set"] = json!([flow("gq-a"), flow("gq-b")]);
        app.create_stage(&body).await;
        let refused = |query: String, what: &'static str| {
            let app = &app;
            async move {
                let resp = graphql_raw(app, json!({ "query": query }).to_string()).await;
                assert_eq!(resp.status, StatusCode::OK, "{what}: {}", resp.text);
                let message = assert_refused(&resp.body, "GRAPHQL_VALIDATION_FAILED", what);
                assert_serves(app, what).await;
                message
            }
        };
        let page = "captchaStages(pageSize: 100) { results { id flowSet { slug } } }";
        let aliased = |n: usize| (0..n).map(|i| format!("p{i}: {page} ")).collect::<String>();
        refused(format!("{{ {} }}", aliased(100)), "100 aliased pages").await;
        // Under the root-field bound, each alias still counts its own page.
        let heavy =
            "captchaStages(pageSize: 100) { results { name flowSet { slug stages { name } } } }";
        let heavy_aliases: String = (0..16).map(|i| format!("p{i}: {heavy} ")).collect();
        let message = refused(format!("{{ {heavy_aliases} }}"), "16 aliased pages").await;
        assert_eq!(message, "Query is too complex.");

        let typenames = |n: usize| {
            (0..n)
                .map(|i| format!("t{i}: __typename "))
                .collect::<String>()
        };
        let message = refused(
            format!("{{ captchaStages {{ {} }} }}", typenames(65)),
            "65 aliases",
        )
        .await;
        assert!(message.contains("too many aliases"), "{message}");
        let body = app
            .graphql(
                &format!("{{ captchaStages {{ {} }} }}", typenames(64)),
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "64 aliases pass: {body}");

        let message = refused(format!("{{ {} }}", "__typename ".repeat(17)), "17 roots").await;
        assert!(message.contains("too many root fields"), "{message}");
        let body = app
            .graphql(&format!("{{ {} }}", "__typename ".repeat(16)), json!({}))
            .await;
        assert!(body.get("errors").is_none(), "16 root fields pass: {body}");

        // Each fragment spreads the previous one twice: 2^30 fields once expanded.
        let mut bomb = String::from(
            "query { captchaStages { ...F30 } } fragment F0 on CaptchaStagePage { __typename }",
        );
        for i in 1..=30 {
            bomb.push_str(&format!(
                " fragment F{i} on CaptchaStagePage {{ ...F{p} ...F{p} }}",
                p = i - 1
            ));
        }
        let message = refused(bomb, "fragment bomb").await;
        assert!(message.contains("too many fields"), "{message}");

        for (what, query) in [
            ("20,000 open braces", "{".repeat(20_000)),
            // Balanced ones, under the 32 KiB size bound, so that the nesting bound refuses.
            (
                "10,000 nested selections",
                "{a".repeat(10_000) + &"}".repeat(10_000),
            ),
            (
                "15,000 nested lists",
                format!(
                    "{{ captchaStages(search: {}) {{ pagination {{ count }} }} }}",
                    nested(15_000)
                ),
            ),
            (
                "20,000 nested parentheses",
                "{ a".to_string() + &"(".repeat(20_000),
            ),
        ] {
            let message = refused(query, what).await;
            assert!(message.contains("nests too deeply"), "{what}: {message}");
        }
        let large = format!("{{ __typename }} #{}", "x".repeat(40_000));
        let message = refused(large, "a 40 kB query").await;
        assert!(message.contains("too large"), "{message}");
        let deep_cost = "{ captchaStages(pageSize: 100) { results { flowSet { stages { flowSet { stages { name } } } } } } }";
        let message = refused(deep_cost.to_string(), "nested lists of a page").await;
        assert_eq!(message, "Query is too complex.");
        tried += 13;

        // What honest clients send passes.
        let body = app.graphql(GRAPHIQL_INTROSPECTION, json!({})).await;
        assert!(
            body.get("errors").is_none(),
            "{}",
            truncated(&body.to_string())
        );
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
        let body = app
            .graphql(
                "{ captchaStages(pageSize: 100) { results { name flowSet { slug stages { name } } } } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["captchaStages"]["results"][0]["flowSet"][0]["stages"][0]["name"],
            "graphql"
        );
        tried += 2;
        assert_serves(&app, "GraphQL documents").await;
        eprintln!(
            "hostile GraphQL documents ({:?}): {tried} documents tried, abusive ones refused before execution",
            app.backend
        );
    }
}

#[tokio::test]
async fn nul_and_invalid_utf8_in_filters() {
    for app in apps().await {
        let mut tried = 0;
        app.create_stage(&minimal("alpha")).await;
        app.create_stage(&minimal("beta")).await;
        for (query, count) in [
            ("name=%00", Some(0)),
            ("public_key=a%00b", Some(0)),
            ("public_key=%00", Some(0)),
            ("search=%00", Some(2)),
            ("search=al%00p", Some(1)),
            ("name=%FF%FE", Some(0)),
            ("search=%FF%FE", Some(0)),
            ("public_key=%C0%80", Some(0)),
            ("name=%ED%A0%80", Some(0)),
            ("ordering=%00", Some(2)),
            ("ordering=name%00,-%FF", Some(2)),
            ("page_size=%00", Some(2)),
            ("%00=%00&%FF=%FE", Some(2)),
            ("page=%00", None),
        ] {
            let resp = app.get(&format!("{STAGES}?{query}")).await;
            match count {
                Some(count) => {
                    assert_eq!(resp.status, StatusCode::OK, "{query}: {}", resp.text);
                    assert_eq!(resp.body["pagination"]["count"], count, "{query}");
                }
                None => {
                    assert_eq!(resp.status, StatusCode::NOT_FOUND, "{query}");
                    assert_eq!(resp.body, json!({"detail": "Invalid page."}));
                }
            }
            assert_serves(&app, query).await;
            tried += 1;
        }
        for path in [format!("{STAGES}%00/"), format!("{STAGES}%FF%FE/used_by/")] {
            let resp = app.get(&path).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(resp.body, json!({"detail": "Not found."}));
            tried += 1;
        }
        // Raw bytes that are not UTF-8, not percent-encoded: the HTTP parser refuses the
        // target, or the list reads them as replacement characters.
        let (status, _) = raw_request(
            &app,
            b"GET /api/v3/stages/captcha/?search=\xff\xfe&name=\xc0\x80 HTTP/1.1\r\n",
        )
        .await;
        assert!(
            status == 200 || status == 400,
            "raw invalid UTF-8 answered {status}"
        );
        eprintln!(
            "hostile NUL/UTF-8 ({:?}): raw invalid UTF-8 in the target answered {status}",
            app.backend
        );
        tried += 1;

        let query = "query($n: String, $k: String, $s: String) {
            captchaStages(name: $n, publicKey: $k, search: $s) { pagination { count } } }";
        for (vars, count) in [
            (json!({"n": "\u{0}"}), 0),
            (json!({"k": "a\u{0}b"}), 0),
            (json!({"s": "\u{0}"}), 2),
            (json!({"n": "\u{fffd}\u{fffe}"}), 0),
        ] {
            let body = app.graphql(query, vars.clone()).await;
            assert!(body.get("errors").is_none(), "{vars}: {body}");
            assert_eq!(body["data"]["captchaStages"]["pagination"]["count"], count);
            tried += 1;
        }
        let body = app
            .graphql(
                "{ flows(search: \"\\u0000\") { pagination { count } } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        tried += 1;
        assert_serves(&app, "NUL and invalid UTF-8").await;
        eprintln!(
            "hostile NUL/UTF-8 ({:?}): {tried} filters tried, none a 5xx",
            app.backend
        );
    }
}

#[tokio::test]
async fn nul_characters_in_written_fields() {
    for app in apps().await {
        let mut tried = 0;
        let id = app.create_stage(&minimal("nul target")).await["pk"]
            .as_str()
            .unwrap()
            .to_string();
        let before = app.table_counts().await;
        let nul = json!([NUL_MESSAGE]);
        for key in ["name", "public_key", "private_key", "js_url", "api_url"] {
            let mut body = minimal("nul stage");
            body[key] = json!("a\u{0}b");
            for (method, path) in [
                (Method::POST, STAGES.to_string()),
                (Method::PUT, stage_path(&id)),
                (Method::PATCH, stage_path(&id)),
            ] {
                let resp = app.send(app.req(method.clone(), &path).json(&body)).await;
                assert_client_error(&resp, StatusCode::BAD_REQUEST, &format!("{method} {key}"));
                assert_eq!(resp.body, json!({ key: nul }), "{method} {key}");
                tried += 1;
            }
        }
        for key in ["name", "slug", "title"] {
            let mut item = flow("nul-flow");
            item[key] = json!("a\u{0}b");
            let mut body = minimal("nul flow");
            body["flow_set"] = json!([flow("clean-flow"), item]);
            let resp = app.post(STAGES, &body).await;
            assert_client_error(&resp, StatusCode::BAD_REQUEST, key);
            assert_eq!(resp.body, json!({"flow_set": [{}, { key: nul }]}), "{key}");
            let resp = app
                .patch(&stage_path(&id), &json!({"flow_set": body["flow_set"]}))
                .await;
            assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
            assert_eq!(resp.body, json!({"flow_set": [{}, { key: nul }]}), "{key}");
            tried += 2;
        }
        for key in [
            "designation",
            "layout",
            "denied_action",
            "policy_engine_mode",
        ] {
            let mut item = flow("nul-choice");
            item[key] = json!("a\u{0}b");
            let mut body = minimal("nul choice");
            body["flow_set"] = json!([item]);
            let resp = app.post(STAGES, &body).await;
            assert_client_error(&resp, StatusCode::BAD_REQUEST, key);
            assert!(resp.body["flow_set"][0][key].is_array(), "{}", resp.text);
            tried += 1;
        }
        // A lone surrogate is no text at all: the JSON does not parse.
        let resp = app
            .send(
                app.req(Method::POST, STAGES)
                    .header("content-type", "application/json")
                    .body(r#"{"name": "\ud800", "public_key": "p", "private_key": "k"}"#),
            )
            .await;
        assert_client_error(&resp, StatusCode::BAD_REQUEST, "lone surrogate");
        assert!(
            resp.body["detail"]
                .as_str()
                .unwrap()
                .starts_with("JSON parse error - ")
        );
        let resp = graphql_raw(
            &app,
            r#"{"query": "query($s: String) { captchaStages(search: $s) { pagination { count } } }", "variables": {"s": "\udfff"}}"#.to_string(),
        )
        .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
        tried += 2;
        // GraphQL writes.
        let input = json!({"name": "a\u{0}b", "publicKey": "p\u{0}", "privateKey": "k"});
        let body = app.graphql(CREATE, json!({ "input": input })).await;
        assert_bad_user_input(
            &body,
            &json!({"name": nul, "publicKey": nul}),
            "GraphQL NUL",
        );
        let input = json!({"flowSet": [{"name": "F", "slug": "s\u{0}", "title": "T", "designation": "AUTHENTICATION"}]});
        let body = app
            .graphql(UPDATE, json!({ "id": id, "input": input }))
            .await;
        assert_bad_user_input(
            &body,
            &json!({"flowSet": [{"slug": nul}]}),
            "GraphQL NUL slug",
        );
        tried += 2;
        assert_eq!(app.table_counts().await, before, "nothing written");
        assert_serves(&app, "NUL characters").await;
        eprintln!(
            "hostile NUL in writes ({:?}): {tried} writes tried, all 400, nothing written",
            app.backend
        );
    }
}

/// `flow(slug:)` looks a flow up by the slug as given: a NUL character matches nothing.
#[tokio::test]
async fn nul_slug_lookup_finds_nothing() {
    for app in apps().await {
        for slug in ["a\u{0}b", "\u{0}"] {
            let body = app
                .graphql(
                    "query($s: String!) { flow(slug: $s) { id } }",
                    json!({ "s": slug }),
                )
                .await;
            assert_eq!(
                body,
                json!({"data": {"flow": null}}),
                "{:?}: flow(slug: {slug:?})",
                app.backend
            );
        }
        assert_serves(&app, "a NUL slug lookup").await;
    }
}

/// A body that declares more than 1 MiB is over the bound before a byte of it arrives: 413
/// at once, not a wait for the rest.
#[tokio::test]
async fn declared_body_over_the_limit_is_refused() {
    let app = spawn(Backend::Sqlite).await;
    let head = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{{\"name\": \"",
            app.token
        )
    };
    let (rest, graphql) = (head(STAGES), head("/graphql"));
    let ((rest_status, rest_text), (graphql_status, graphql_text)) = tokio::join!(
        raw_exchange(&app, rest.as_bytes()),
        raw_exchange(&app, graphql.as_bytes())
    );
    assert_eq!(rest_status, 413, "REST: {rest_text}");
    assert_eq!(graphql_status, 413, "GraphQL: {graphql_text}");
}

#[tokio::test]
async fn repeated_ordering_fields() {
    for app in apps().await {
        for name in ["b", "c", "a"] {
            app.create_stage(&minimal(name)).await;
        }
        let prefix = format!("{STAGES}?ordering=");
        let fitting = (8 * 1024 - prefix.len()) / "name,-name,".len();
        let names = |body: &Value| -> Vec<String> {
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect()
        };
        let resp = app
            .get(&format!("{prefix}{}", "name,-name,".repeat(fitting)))
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(names(&resp.body), ["a", "b", "c"]);
        let resp = app
            .get(&format!("{prefix}{}", "-name,name,".repeat(fitting)))
            .await;
        assert_eq!(names(&resp.body), ["c", "b", "a"]);
        // Over the URI bound: the app's 414, or hyper's past 64 KiB.
        let resp = app
            .get(&format!("{prefix}{}", "name,-name,".repeat(5_000)))
            .await;
        assert_client_error(&resp, StatusCode::URI_TOO_LONG, "5,000 repetitions");
        let line = format!("GET {prefix}{} HTTP/1.1\r\n", "name,-name,".repeat(20_000));
        assert_eq!(raw_request(&app, line.as_bytes()).await.0, 414);
        // GraphQL has no URI: 20,000 repetitions (220 kB) in a variable.
        let body = app
            .graphql(
                "query($o: String) { captchaStages(ordering: $o) { results { name } } }",
                json!({ "o": "-name,name,".repeat(20_000) }),
            )
            .await;
        assert!(
            body.get("errors").is_none(),
            "{}",
            truncated(&body.to_string())
        );
        let got: Vec<&str> = body["data"]["captchaStages"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, ["c", "b", "a"]);
        assert_serves(&app, "repeated ordering").await;
        eprintln!(
            "hostile ordering ({:?}): {fitting} repetitions in a URL, 20,000 through GraphQL, ordered right",
            app.backend
        );
    }
}

#[tokio::test]
async fn hostile_page_numbers() {
    let invalid = json!({"detail": "Invalid page."});
    for app in apps().await {
        let mut tried = 0;
        let empty = json!({"pagination": {"next": 0, "previous": 0, "count": 0, "current": 1,
                            "total_pages": 1, "start_index": 0, "end_index": 0},
                           "results": [], "autocomplete": {}});
        for query in [
            "page=last",
            "page=1",
            "page_size=-1",
            "page=last&page_size=0",
        ] {
            let resp = app.get(&format!("{STAGES}?{query}")).await;
            assert_eq!(resp.status, StatusCode::OK, "{query}");
            assert_eq!(resp.body, empty, "{query}");
            tried += 1;
        }
        for query in [
            "page=99999999999999999999",
            "page=-99999999999999999999",
            "page=2",
            "page=0",
            "page=1e3",
            "page=0x10",
            "page=9223372036854775807&page_size=100",
        ] {
            let resp = app.get(&format!("{STAGES}?{query}")).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "{query}");
            assert_eq!(resp.body, invalid, "{query}");
            tried += 1;
        }
        for name in ["a", "b", "c"] {
            app.create_stage(&minimal(name)).await;
        }
        for (query, current, results) in [
            ("page_size=-1", 1, 3),
            ("page_size=99999999999999999999", 1, 3),
            ("page_size=-99999999999999999999", 1, 3),
            ("page=last&page_size=2", 2, 1),
        ] {
            let resp = app.get(&format!("{STAGES}?{query}")).await;
            assert_eq!(resp.status, StatusCode::OK, "{query}");
            assert_eq!(resp.body["pagination"]["current"], current, "{query}");
            assert_eq!(resp.body["results"].as_array().unwrap().len(), results);
            tried += 1;
        }
        let resp = app
            .get(&format!("{STAGES}?page=99999999999999999999&page_size=1"))
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.body, invalid);
        tried += 1;
        // GraphQL's Int is 32 bits: its extremes.
        let query = "query($p: Int, $s: Int) { captchaStages(page: $p, pageSize: $s) { pagination { current } } }";
        for page in [i32::MAX, i32::MIN, 0] {
            let body = app.graphql(query, json!({ "p": page })).await;
            assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["message"], "Invalid page.");
            tried += 1;
        }
        for size in [i32::MAX, i32::MIN, 0] {
            let body = app.graphql(query, json!({ "s": size })).await;
            assert!(body.get("errors").is_none(), "pageSize {size}: {body}");
            tried += 1;
        }
        let body = app.graphql(query, json!({ "p": 99999999999_i64 })).await;
        assert!(body["errors"][0]["message"].is_string(), "{body}");
        tried += 1;
        assert_serves(&app, "hostile pages").await;
        eprintln!(
            "hostile pages ({:?}): {tried} page requests tried, answers as documented",
            app.backend
        );
    }
}
