//! The OpenAPI 3 document of the REST front, built by utoipa from the wire types and the handlers'
//! annotations. Operation ids, paths, parameters, schema names and the `authentik` bearer scheme
//! are authentik 2025.10's, so its generated clients and ours agree. Served at `/api/v3/schema/`
//! and checked in as `openapi.json` (`stages-api export-schema` rewrites it).
//!
//! The request bodies have no Rust type of their own (they are read key by key as DRF reads them,
//! see `decode`), so the request schemas below are schema-only types; a test ties their
//! property names to the decoder's field lists.

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::schema::{
    AdditionalProperties, Object, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

use super::captcha_stages;
use super::wire::{
    Autocomplete, CaptchaStageOut, FlowSetOut, PaginatedOut, PaginationOut, UsedByOut,
};
use crate::flows::{DeniedAction, Designation, FlowLayout, PolicyEngineMode};
use crate::stages::UsedByAction;
use crate::validation::Choice;

/// The name of the security scheme, as authentik calls it.
pub const SECURITY_SCHEME: &str = "authentik";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stages-api",
        description = "authentik's captcha-stage API (`/api/v3/stages/captcha/`), wire-compatible with authentik 2025.10.",
        license(name = "MIT"),
    ),
    servers((url = "/api/v3")),
    paths(
        captcha_stages::list_captcha_stages,
        captcha_stages::create_captcha_stage,
        captcha_stages::retrieve_captcha_stage,
        captcha_stages::replace_captcha_stage,
        captcha_stages::update_captcha_stage,
        captcha_stages::delete_captcha_stage,
        captcha_stages::captcha_stage_used_by,
    ),
    components(
        schemas(
            CaptchaStageOut,
            CaptchaStageRequest,
            PatchedCaptchaStageRequest,
            FlowSetOut,
            FlowSetRequest,
            PaginatedCaptchaStageList,
            PaginationOut,
            Autocomplete,
            UsedByOut,
            ValidationError,
            GenericError,
            FlowDesignationEnum,
            PolicyEngineModeEnum,
            FlowLayoutEnum,
            DeniedActionEnum,
            UsedByActionEnum,
        ),
        responses(ValidationErrorResponse, GenericErrorResponse),
    ),
    modifiers(&BearerScheme),
    tags((name = "stages")),
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as utoipa builds it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    // A PATCH body is optional as in authentik (an empty body is `{}`); utoipa marks a body
    // required unless its type is an `Option`, which would also allow `null`.
    for item in doc.paths.paths.values_mut() {
        if let Some(body) = item.patch.as_mut().and_then(|op| op.request_body.as_mut()) {
            body.required = None;
        }
    }
    doc
}

/// The document as `openapi.json` holds it: pretty JSON with a trailing newline.
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

static OPENAPI_JSON: LazyLock<String> = LazyLock::new(openapi_json);

/// `GET /api/v3/schema/`: the document, no token needed.
pub async fn serve_openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON.as_str(),
    )
        .into_response()
}

/// `{"type": "number"}` without a format: authentik's type for the pagination counters.
pub fn number_schema() -> Object {
    Object::with_type(Type::Number)
}

/// `{"type": "integer"}` without a format, as authentik types `page` and `page_size`.
pub struct Integer;

impl PartialSchema for Integer {
    fn schema() -> RefOr<Schema> {
        Object::with_type(Type::Integer).into()
    }
}

impl ToSchema for Integer {}

/// The list's query parameters, as authentik names and types them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CaptchaStageListQuery {
    /// Exact, case-sensitive name.
    name: Option<String>,
    /// Which field to use when ordering the results.
    ordering: Option<String>,
    /// A page number within the paginated result set.
    #[param(value_type = Option<Integer>, inline)]
    page: Option<i64>,
    /// Number of results to return per page.
    #[param(value_type = Option<Integer>, inline)]
    page_size: Option<i64>,
    /// Exact, case-sensitive public key.
    public_key: Option<String>,
    /// A search term.
    search: Option<String>,
}

/// CaptchaStage Serializer
#[derive(ToSchema)]
#[schema(description = "CaptchaStage Serializer")]
#[allow(dead_code)]
pub struct CaptchaStageRequest {
    #[schema(min_length = 1)]
    name: String,
    #[schema(required = false)]
    flow_set: Vec<FlowSetRequest>,
    /// Public key, acquired your captcha Provider.
    #[schema(min_length = 1)]
    public_key: String,
    /// Private key, acquired your captcha Provider.
    #[schema(min_length = 1, write_only)]
    private_key: String,
    #[schema(min_length = 1, required = false)]
    js_url: String,
    #[schema(min_length = 1, required = false)]
    api_url: String,
    #[schema(required = false)]
    interactive: bool,
    #[schema(required = false)]
    score_min_threshold: f64,
    #[schema(required = false)]
    score_max_threshold: f64,
    /// When enabled and the received captcha score is outside of the given threshold, the stage will show an error message. When not enabled, the flow will continue, but the data from the captcha will be available in the context for policy decisions
    #[schema(required = false)]
    error_on_invalid_score: bool,
}

/// CaptchaStage Serializer: PATCH, where every key is optional.
#[derive(ToSchema)]
#[schema(description = "CaptchaStage Serializer")]
#[allow(dead_code)]
pub struct PatchedCaptchaStageRequest {
    #[schema(min_length = 1, required = false)]
    name: String,
    #[schema(required = false)]
    flow_set: Vec<FlowSetRequest>,
    /// Public key, acquired your captcha Provider.
    #[schema(min_length = 1, required = false)]
    public_key: String,
    /// Private key, acquired your captcha Provider.
    #[schema(min_length = 1, write_only, required = false)]
    private_key: String,
    #[schema(min_length = 1, required = false)]
    js_url: String,
    #[schema(min_length = 1, required = false)]
    api_url: String,
    #[schema(required = false)]
    interactive: bool,
    #[schema(required = false)]
    score_min_threshold: f64,
    #[schema(required = false)]
    score_max_threshold: f64,
    /// When enabled and the received captcha score is outside of the given threshold, the stage will show an error message. When not enabled, the flow will continue, but the data from the captcha will be available in the context for policy decisions
    #[schema(required = false)]
    error_on_invalid_score: bool,
}

/// Stripped down flow serializer: one item of a write's `flow_set`.
#[derive(ToSchema)]
#[schema(description = "Stripped down flow serializer")]
#[allow(dead_code)]
pub struct FlowSetRequest {
    #[schema(min_length = 1)]
    name: String,
    /// Visible in the URL.
    #[schema(min_length = 1, max_length = 50, pattern = "^[-a-zA-Z0-9_]+$")]
    slug: String,
    /// Shown as the Title in Flow pages.
    #[schema(min_length = 1)]
    title: String,
    /// Decides what this Flow is used for. For example, the Authentication flow is redirect to when an un-authenticated user visits authentik.
    designation: FlowDesignationEnum,
    #[schema(required = false)]
    policy_engine_mode: PolicyEngineModeEnum,
    /// Enable compatibility mode, increases compatibility with password managers on mobile devices.
    #[schema(required = false)]
    compatibility_mode: bool,
    #[schema(required = false)]
    layout: FlowLayoutEnum,
    /// Configure what should happen when a flow denies access to a user.
    #[schema(required = false)]
    denied_action: DeniedActionEnum,
}

/// Validation Error: field names mapped to their messages (`non_field_errors` for the body as a
/// whole); a malformed JSON body is reported as `{"detail": …}`. Any other key is allowed.
pub struct ValidationError;

impl PartialSchema for ValidationError {
    fn schema() -> RefOr<Schema> {
        free_form(ValidationErrorKeys::schema())
    }
}

impl ToSchema for ValidationError {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ValidationError")
    }
}

/// `Autocomplete`: always `{}` here, a free-form object in authentik.
impl PartialSchema for Autocomplete {
    fn schema() -> RefOr<Schema> {
        free_form(ObjectBuilder::new().schema_type(Type::Object).into())
    }
}

impl ToSchema for Autocomplete {}

/// `schema` with `additionalProperties: {}` (any further key, any value).
fn free_form(mut schema: RefOr<Schema>) -> RefOr<Schema> {
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.additional_properties = Some(Box::new(AdditionalProperties::RefOr(RefOr::T(
            Schema::Object(Object::with_type(SchemaType::AnyValue)),
        ))));
    }
    schema
}

/// The keys [`ValidationError`] names.
#[derive(ToSchema)]
#[schema(description = "Validation Error")]
#[allow(dead_code)]
struct ValidationErrorKeys {
    #[schema(required = false)]
    non_field_errors: Vec<String>,
    #[schema(required = false)]
    code: String,
}

/// Generic API Error
#[derive(ToSchema)]
#[schema(description = "Generic API Error")]
#[allow(dead_code)]
pub struct GenericError {
    detail: String,
    #[schema(required = false)]
    code: String,
}

/// The list page as authentik names it (`PaginatedOut` is generic).
pub struct PaginatedCaptchaStageList;

impl PartialSchema for PaginatedCaptchaStageList {
    fn schema() -> RefOr<Schema> {
        <PaginatedOut<CaptchaStageOut> as PartialSchema>::schema()
    }
}

impl ToSchema for PaginatedCaptchaStageList {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PaginatedCaptchaStageList")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <PaginatedOut<CaptchaStageOut> as ToSchema>::schemas(schemas);
    }
}

/// A string enum of a [`Choice`]'s values, named as authentik names it.
macro_rules! choice_schema {
    ($(#[$meta:meta])* $schema:ident = $choice:ty, $name:literal) => {
        $(#[$meta])*
        pub struct $schema;

        impl PartialSchema for $schema {
            fn schema() -> RefOr<Schema> {
                string_enum(<$choice as Choice>::ALL.iter().map(|c| c.value()))
            }
        }

        impl ToSchema for $schema {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

fn string_enum(values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

choice_schema!(
    /// `designation`: what a flow is for.
    FlowDesignationEnum = Designation, "FlowDesignationEnum"
);
choice_schema!(
    /// `policy_engine_mode`.
    PolicyEngineModeEnum = PolicyEngineMode, "PolicyEngineMode"
);
choice_schema!(
    /// `layout`.
    FlowLayoutEnum = FlowLayout, "FlowLayoutEnum"
);
choice_schema!(
    /// `denied_action`.
    DeniedActionEnum = DeniedAction, "DeniedActionEnum"
);

/// `used_by`'s `action`, spelled as [`UsedByOut`] spells it.
pub struct UsedByActionEnum;

impl UsedByActionEnum {
    fn values() -> Vec<&'static str> {
        use crate::stages::UsedBy;
        // The match makes a new variant a compile error here until it is listed.
        let all = [
            UsedByAction::Cascade,
            UsedByAction::CascadeMany,
            UsedByAction::SetNull,
            UsedByAction::SetDefault,
        ];
        for action in all {
            match action {
                UsedByAction::Cascade
                | UsedByAction::CascadeMany
                | UsedByAction::SetNull
                | UsedByAction::SetDefault => {}
            }
        }
        all.into_iter()
            .map(|action| {
                let used_by = UsedBy {
                    app: "",
                    model_name: "",
                    pk: String::new(),
                    name: String::new(),
                    action,
                };
                UsedByOut::from(used_by).action
            })
            .collect()
    }
}

impl PartialSchema for UsedByActionEnum {
    fn schema() -> RefOr<Schema> {
        string_enum(Self::values())
    }
}

impl ToSchema for UsedByActionEnum {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("UsedByActionEnum")
    }
}

/// authentik's shared 400 response.
pub struct ValidationErrorResponse;

impl<'r> ToResponse<'r> for ValidationErrorResponse {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        error_response("ValidationErrorResponse", ValidationError::name())
    }
}

/// authentik's shared response for `{"detail": …}` errors (403, and here also 404, 413, 415).
pub struct GenericErrorResponse;

impl<'r> ToResponse<'r> for GenericErrorResponse {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        error_response("GenericErrorResponse", GenericError::name())
    }
}

fn error_response<'r>(
    name: &'r str,
    schema: Cow<'static, str>,
) -> (&'r str, RefOr<utoipa::openapi::Response>) {
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            schema,
        ))))
        .build();
    let response = ResponseBuilder::new()
        .description("")
        .content("application/json", content)
        .build();
    (name, response.into())
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use serde::Serialize;
    use serde_json::{Value, json};

    use super::*;
    use crate::flows::FLOW_FIELDS;
    use crate::pagination::{Page, Pagination};
    use crate::stages::{CaptchaStage, STAGE_FIELDS, UsedBy};

    fn document() -> Value {
        serde_json::to_value(openapi()).unwrap()
    }

    /// A component schema's property names, in the document's order.
    fn property_names(schema: &str) -> Vec<String> {
        let components = openapi().components.expect("components");
        match components.schemas.get(schema) {
            Some(RefOr::T(Schema::Object(object))) => object.properties.keys().cloned().collect(),
            _ => panic!("no object schema {schema}"),
        }
    }

    /// The keys `value` serializes to, in order.
    fn keys(value: &impl Serialize) -> Vec<String> {
        let json = serde_json::to_string(value).unwrap();
        serde_json::from_str::<IndexMap<String, Value>>(&json)
            .unwrap()
            .into_keys()
            .collect()
    }

    #[test]
    fn checked_in_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == openapi_json(),
            "openapi.json is stale or missing: run `cargo run -- export-schema` and commit it"
        );
    }

    #[test]
    fn request_schemas_have_the_decoders_fields() {
        for schema in ["CaptchaStageRequest", "PatchedCaptchaStageRequest"] {
            assert_eq!(property_names(schema), STAGE_FIELDS, "{schema}");
        }
        assert_eq!(property_names("FlowSetRequest"), FLOW_FIELDS);
    }

    fn sample_stage() -> CaptchaStage {
        let flow = entity::flow::Model {
            flow_uuid: uuid::Uuid::new_v4(),
            policybindingmodel_ptr_id: uuid::Uuid::new_v4(),
            name: "F".into(),
            slug: "f".into(),
            title: "T".into(),
            designation: "authentication".into(),
            background: None,
            policy_engine_mode: "any".into(),
            compatibility_mode: false,
            layout: "stacked".into(),
            denied_action: "message_continue".into(),
        };
        CaptchaStage {
            id: uuid::Uuid::new_v4(),
            name: "s".into(),
            public_key: "p".into(),
            js_url: "j".into(),
            api_url: "a".into(),
            interactive: false,
            score_min_threshold: 0.5,
            score_max_threshold: 1.0,
            error_on_invalid_score: true,
            bindings: vec![crate::flows::Binding {
                id: uuid::Uuid::new_v4(),
                order: 0,
                flow: flow.into(),
            }],
        }
    }

    /// The response schemas list exactly the keys the wire types serialize, in their order.
    #[test]
    fn response_schemas_have_the_serialized_keys() {
        let pagination = Pagination {
            next: 0,
            previous: 0,
            count: 1,
            current: 1,
            total_pages: 1,
            start_index: 1,
            end_index: 1,
        };
        let page = PaginatedOut::from(Page {
            pagination,
            results: vec![sample_stage()],
        });
        assert_eq!(keys(&page), property_names("PaginatedCaptchaStageList"));
        assert_eq!(keys(&page.pagination), property_names("Pagination"));
        let stage = &page.results[0];
        assert_eq!(keys(stage), property_names("CaptchaStage"));
        assert_eq!(keys(&stage.flow_set[0]), property_names("FlowSet"));
        let used_by = UsedByOut::from(UsedBy {
            app: "a",
            model_name: "m",
            pk: "p".into(),
            name: "n".into(),
            action: UsedByAction::Cascade,
        });
        assert_eq!(keys(&used_by), property_names("UsedBy"));
    }

    /// Each enum lists exactly the values the wire types can send.
    #[test]
    fn enums_are_the_codes_choices() {
        let doc = document();
        let values = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
        let designations: Vec<_> = Designation::ALL.iter().map(|c| c.value()).collect();
        assert_eq!(values("FlowDesignationEnum"), json!(designations));
        assert_eq!(values("PolicyEngineMode"), json!(["all", "any"]));
        assert_eq!(
            values("UsedByActionEnum"),
            json!(["cascade", "cascade_many", "set_null", "set_default"])
        );
    }

    #[test]
    fn every_operation_needs_the_bearer_token() {
        let doc = document();
        assert_eq!(
            doc["components"]["securitySchemes"][SECURITY_SCHEME],
            json!({"type": "http", "scheme": "bearer"})
        );
        let mut operations = 0;
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, operation) in item.as_object().unwrap() {
                assert_eq!(operation["security"], json!([{ SECURITY_SCHEME: [] }]));
                assert!(operation["responses"]["403"].is_object());
                operations += 1;
            }
        }
        assert_eq!(operations, 7);
    }
}
