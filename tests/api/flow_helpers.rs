//! Shared by the flow and binding tests: paths, messages, creating flows, stages and bindings,
//! the key order of a response read off its raw text, and tokens with one permission.

use std::fmt;

use reqwest::StatusCode;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use stages_api::auth::Permission;

use crate::helpers::*;

pub const FLOWS: &str = "/api/v3/flows/instances/";
pub const BINDINGS: &str = "/api/v3/flows/bindings/";

pub const NO_FLOW: &str = "No Flow matches the given query.";
pub const NO_BINDING: &str = "No FlowStageBinding matches the given query.";
pub const SLUG_TAKEN: &str = "Flow with this slug already exists.";
pub const NOT_UNIQUE: &str = "The fields target, stage, order must make a unique set.";
pub const FORBIDDEN: &str = "You do not have permission to perform this action.";
pub const REQUIRED: &str = "This field is required.";
pub const BLANK: &str = "This field may not be blank.";
pub const SLUG_PATTERN: &str =
    "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.";
pub const SLUG_TOO_LONG: &str = "Ensure this field has no more than 50 characters.";
pub const NUL: &str = "Null characters are not allowed.";
pub const DEFAULT_BACKGROUND: &str = "/static/dist/assets/images/flow_background.jpg";

/// authentik's `Flow` keys, in its serializer's order.
pub const FLOW_KEYS: [&str; 16] = [
    "pk",
    "policybindingmodel_ptr_id",
    "name",
    "slug",
    "title",
    "designation",
    "background",
    "stages",
    "policies",
    "cache_count",
    "policy_engine_mode",
    "compatibility_mode",
    "export_url",
    "layout",
    "denied_action",
    "authentication",
];

/// authentik's `FlowStageBinding` keys, in its serializer's order.
pub const BINDING_KEYS: [&str; 10] = [
    "pk",
    "policybindingmodel_ptr_id",
    "target",
    "stage",
    "stage_obj",
    "evaluate_on_plan",
    "re_evaluate_policies",
    "order",
    "policy_engine_mode",
    "invalid_response_action",
];

/// authentik's `Stage` keys (a binding's `stage_obj`).
pub const STAGE_OBJ_KEYS: [&str; 7] = [
    "pk",
    "name",
    "component",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
    "flow_set",
];

pub fn flow_path(slug: &str) -> String {
    format!("{FLOWS}{slug}/")
}

pub fn binding_path(id: &str) -> String {
    format!("{BINDINGS}{id}/")
}

/// The `pk` of an object, as text.
pub fn pk(object: &Value) -> String {
    object["pk"]
        .as_str()
        .unwrap_or_else(|| panic!("no pk in {object}"))
        .to_string()
}

pub fn detail(message: &str) -> Value {
    json!({ "detail": message })
}

/// `{"<field>": ["<message>"]}`.
pub fn field_error(field: &str, message: &str) -> Value {
    json!({ field: [message] })
}

/// POSTs a flow; its body (201 asserted).
pub async fn create_flow_with(app: &TestApp, body: &Value) -> Value {
    let resp = app.post(FLOWS, body).await;
    assert_eq!(
        resp.status,
        StatusCode::CREATED,
        "{:?}: {}",
        app.backend,
        resp.text
    );
    resp.body
}

/// A flow with `helpers::flow`'s fields.
pub async fn create_flow(app: &TestApp, slug: &str) -> Value {
    create_flow_with(app, &flow(slug)).await
}

/// A captcha stage with the minimal fields.
pub async fn create_stage(app: &TestApp, name: &str) -> Value {
    app.create_stage(&minimal(name)).await
}

pub fn binding_request(target: &str, stage: &str, order: i64) -> Value {
    json!({ "target": target, "stage": stage, "order": order })
}

/// POSTs a binding; its body (201 asserted).
pub async fn bind(app: &TestApp, target: &str, stage: &str, order: i64) -> Value {
    let resp = app
        .post(BINDINGS, &binding_request(target, stage, order))
        .await;
    assert_eq!(
        resp.status,
        StatusCode::CREATED,
        "{:?}: {}",
        app.backend,
        resp.text
    );
    resp.body
}

/// The `pk`s of a list response's results, in order.
pub fn result_pks(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(pk)
        .collect()
}

/// The values of `key` in a list response's results, in order.
pub fn result_values(body: &Value, key: &str) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(|item| item[key].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A request with another token than the superuser's.
pub async fn send_as(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    let mut builder = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token);
    if let Some(body) = body {
        builder = builder.json(body);
    }
    app.send(builder).await
}

/// Every permission but `allowed`.
pub fn all_but(allowed: Permission) -> Vec<Permission> {
    Permission::ALL
        .iter()
        .copied()
        .filter(|p| *p != allowed)
        .collect()
}

/// A JSON text read with its objects' keys in the order they were written (serde_json's `Value`
/// sorts them).
#[derive(Debug)]
pub enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar,
}

impl Ordered {
    pub fn parse(text: &str) -> Ordered {
        serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"))
    }

    /// The keys of this object, in order.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Ordered::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    pub fn get(&self, key: &str) -> &Ordered {
        match self {
            Ordered::Object(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key}")),
            other => panic!("not an object: {other:?}"),
        }
    }

    pub fn at(&self, index: usize) -> &Ordered {
        match self {
            Ordered::Array(items) => &items[index],
            other => panic!("not an array: {other:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;

        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Ordered;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Ordered>()? {
                    entries.push((key, value));
                }
                Ok(Ordered::Object(entries))
            }
        }

        deserializer.deserialize_any(OrderedVisitor)
    }
}
