//! The OpenAPI 3 document of the REST front, built by utoipa from the wire types and the handlers'
//! annotations. Operation ids, paths, parameters, schema names and the `authentik` bearer scheme
//! are authentik 2025.10's, so its generated clients and ours agree. Served at `/api/v3/schema/`
//! and checked in as `openapi.json` (`stages-api export-schema` rewrites it).
//!
//! Objects, request bodies and enums are the declarations' own schemas (`#[api_object]`,
//! `choice_enum!`); this module adds authentik's shared parts (errors, pagination, security)
//! and the list parameters.

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

use super::wire::{Autocomplete, PaginatedOut, PaginationOut};
use super::{bindings, captcha_stages, executor, flows};
use crate::bindings::{
    FlowStageBinding, FlowStageBindingPatchedRequestSchema, FlowStageBindingRequestSchema,
    InvalidResponseAction,
};
use crate::executor::challenge::{
    AccessDeniedChallenge, CaptchaChallenge, CaptchaChallengeResponseRequest, Challenge,
    ErrorDetail, FlowInfo, RedirectChallenge,
};
use crate::flows::{
    Authentication, DeniedAction, Designation, Flow, FlowLayout, FlowPatchedRequestSchema,
    FlowRequestSchema, FlowSet, FlowSetRequestSchema, PolicyEngineMode,
};
use crate::object::sorted_choice_schema;
use crate::stages::{
    CaptchaStage, CaptchaStagePatchedRequestSchema, CaptchaStageRequestSchema, StageObj,
};
use crate::used_by::{UsedBy, UsedByAction};

/// The name of the security scheme, as authentik calls it.
pub const SECURITY_SCHEME: &str = "authentik";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stages-api",
        description = "authentik's captcha-stage, flow and flow-stage binding APIs (`/api/v3/stages/captcha/`, `/api/v3/flows/instances/`, `/api/v3/flows/bindings/`), wire-compatible with authentik 2025.10.",
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
        flows::list_flows,
        flows::create_flow,
        flows::retrieve_flow,
        flows::replace_flow,
        flows::update_flow,
        flows::delete_flow,
        flows::flow_used_by,
        bindings::list_bindings,
        bindings::create_binding,
        bindings::retrieve_binding,
        bindings::replace_binding,
        bindings::update_binding,
        bindings::delete_binding,
        bindings::binding_used_by,
        executor::show,
        executor::solve,
    ),
    components(
        schemas(
            CaptchaStage,
            CaptchaStageRequestSchema,
            CaptchaStagePatchedRequestSchema,
            FlowSet,
            FlowSetRequestSchema,
            PaginatedCaptchaStageList,
            Flow,
            FlowRequestSchema,
            FlowPatchedRequestSchema,
            PaginatedFlowList,
            FlowStageBinding,
            FlowStageBindingRequestSchema,
            FlowStageBindingPatchedRequestSchema,
            PaginatedFlowStageBindingList,
            StageObj,
            PaginationOut,
            Autocomplete,
            UsedBy,
            ValidationError,
            GenericError,
            Designation,
            PolicyEngineMode,
            FlowLayout,
            DeniedAction,
            Authentication,
            InvalidResponseAction,
            UsedByAction,
            Challenge,
            CaptchaChallenge,
            AccessDeniedChallenge,
            RedirectChallenge,
            FlowInfo,
            ErrorDetail,
            CaptchaChallengeResponseRequest,
        ),
        responses(ValidationErrorResponse, GenericErrorResponse),
    ),
    modifiers(&BearerScheme),
    tags((name = "stages"), (name = "flows")),
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

/// `flows_instances_list`'s query parameters, as authentik names and types them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FlowListQuery {
    /// Configure what should happen when a flow denies access to a user.
    #[param(schema_with = sorted_choice_schema::<DeniedAction>)]
    denied_action: Option<String>,
    /// Decides what this Flow is used for. For example, the Authentication flow is redirect to when an un-authenticated user visits authentik.
    #[param(schema_with = sorted_choice_schema::<Designation>)]
    designation: Option<String>,
    flow_uuid: Option<uuid::Uuid>,
    name: Option<String>,
    /// Which field to use when ordering the results.
    ordering: Option<String>,
    /// A page number within the paginated result set.
    #[param(value_type = Option<Integer>, inline)]
    page: Option<i64>,
    /// Number of results to return per page.
    #[param(value_type = Option<Integer>, inline)]
    page_size: Option<i64>,
    /// A search term.
    search: Option<String>,
    slug: Option<String>,
}

/// `flows_bindings_list`'s query parameters, as authentik names and types them (`policies` is
/// accepted and ignored: there are no policies here).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct BindingListQuery {
    evaluate_on_plan: Option<bool>,
    fsb_uuid: Option<uuid::Uuid>,
    /// Configure how the flow executor should handle an invalid response to a challenge. RETRY returns the error message and a similar challenge to the executor. RESTART restarts the flow from the beginning, and RESTART_WITH_CONTEXT restarts the flow while keeping the current context.
    #[param(schema_with = sorted_choice_schema::<InvalidResponseAction>)]
    invalid_response_action: Option<String>,
    #[param(value_type = Option<Integer>, inline)]
    order: Option<i64>,
    /// Which field to use when ordering the results.
    ordering: Option<String>,
    /// A page number within the paginated result set.
    #[param(value_type = Option<Integer>, inline)]
    page: Option<i64>,
    /// Number of results to return per page.
    #[param(value_type = Option<Integer>, inline)]
    page_size: Option<i64>,
    pbm_uuid: Option<uuid::Uuid>,
    #[param(explode, style = Form)]
    policies: Option<Vec<uuid::Uuid>>,
    #[param(schema_with = sorted_choice_schema::<PolicyEngineMode>)]
    policy_engine_mode: Option<String>,
    re_evaluate_policies: Option<bool>,
    /// A search term.
    search: Option<String>,
    stage: Option<uuid::Uuid>,
    target: Option<uuid::Uuid>,
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

/// A list page as authentik names it (`PaginatedOut` is generic).
macro_rules! paginated {
    ($($name:ident = $item:ty),* $(,)?) => {$(
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                <PaginatedOut<$item> as PartialSchema>::schema()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                <PaginatedOut<$item> as ToSchema>::schemas(schemas);
            }
        }
    )*};
}

paginated!(
    PaginatedCaptchaStageList = CaptchaStage,
    PaginatedFlowList = Flow,
    PaginatedFlowStageBindingList = FlowStageBinding,
);

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
    use crate::bindings::FlowStageBindingInput;
    use crate::flows::{FlowInput, FlowSetInput};
    use crate::object::Choice;
    use crate::pagination::{Page, Pagination};
    use crate::stages::CaptchaStageInput;

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

    /// Each request schema lists exactly the fields its input declares, in their order.
    #[test]
    fn request_schemas_have_the_declared_fields() {
        for (schema, fields) in [
            ("CaptchaStageRequest", CaptchaStageInput::FIELDS),
            ("PatchedCaptchaStageRequest", CaptchaStageInput::FIELDS),
            ("FlowSetRequest", FlowSetInput::FIELDS),
            ("FlowRequest", FlowInput::FIELDS),
            ("PatchedFlowRequest", FlowInput::FIELDS),
            ("FlowStageBindingRequest", FlowStageBindingInput::FIELDS),
            (
                "PatchedFlowStageBindingRequest",
                FlowStageBindingInput::FIELDS,
            ),
        ] {
            assert_eq!(property_names(schema), fields, "{schema}");
        }
    }

    fn sample_stage() -> CaptchaStage {
        CaptchaStage {
            flow_set: vec![Flow::default()],
            ..Default::default()
        }
    }

    /// The response schemas list exactly the keys the objects serialize, in their order.
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
        assert_eq!(
            keys(&stage.flow_set[0].as_flow_set()),
            property_names("FlowSet")
        );
        assert_eq!(keys(&stage.flow_set[0]), property_names("Flow"));
        assert_eq!(keys(&StageObj::from(stage)), property_names("Stage"));
        let binding = FlowStageBinding::default();
        assert_eq!(keys(&binding), property_names("FlowStageBinding"));
        let used_by = UsedBy {
            app: "a",
            model_name: "m",
            pk: "p".into(),
            name: "n".into(),
            action: UsedByAction::Cascade,
        };
        assert_eq!(keys(&used_by), property_names("UsedBy"));
    }

    /// Each enum lists exactly the values the objects can send.
    #[test]
    fn enums_are_the_codes_choices() {
        let doc = document();
        let values = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
        let designations: Vec<_> = Designation::ALL.iter().map(|c| c.value()).collect();
        assert_eq!(values("FlowDesignationEnum"), json!(designations));
        assert_eq!(values("PolicyEngineMode"), json!(["all", "any"]));
        assert_eq!(
            values("InvalidResponseActionEnum"),
            json!(["retry", "restart", "restart_with_context"])
        );
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
        for (path, item) in doc["paths"].as_object().unwrap() {
            // The flow executor serves anonymous browsers, as authentik declares it.
            let security = if path.starts_with("/flows/executor/") {
                json!([{ SECURITY_SCHEME: [] }, {}])
            } else {
                json!([{ SECURITY_SCHEME: [] }])
            };
            for (_, operation) in item.as_object().unwrap() {
                assert_eq!(operation["security"], security, "{path}");
                assert!(operation["responses"]["403"].is_object());
                operations += 1;
            }
        }
        assert_eq!(operations, 23);
    }
}
