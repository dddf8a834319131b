//! Entry points for the fuzz targets (`fuzz/`, see docs/fuzzing.md) and the property tests
//! (`tests/properties.rs`): every reader of untrusted input that needs no database. For any input
//! each must return, never panic and never recurse without bound; what they return is what a
//! client would be told. Not an API of the service.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use sea_orm::DatabaseBackend;

use crate::bindings::{
    self, BindingFilter, FlowStageBindingChanges as BindingChanges,
    FlowStageBindingInput as BindingInput,
};
use crate::error::ServiceError;
use crate::executor::challenge::ResponseErrors;
use crate::flows::{self, FlowChanges, FlowFilter, FlowInput};
use crate::object::WriteMode;
use crate::pagination::PageRequest;
use crate::rest::{Params, decode};
use crate::stages::{
    self, CaptchaStageChanges as StageChanges, CaptchaStageInput as StageInput, StageFilter,
};

const MODES: [WriteMode; 3] = [WriteMode::Create, WriteMode::Replace, WriteMode::Patch];

/// A REST write body as every declared input reads it, checked in every mode: the first
/// refusal (body-level, or the field errors of the captcha stage's create), if any.
pub fn rest_body(content_type: &str, body: &[u8]) -> Result<(), ServiceError> {
    let headers = content_type_header(content_type);
    let bytes = || Ok(Bytes::copy_from_slice(body));
    let stage = decode::input(&headers, bytes(), StageInput::from_json)?;
    let flow = decode::input(&headers, bytes(), FlowInput::from_json)?;
    let binding = decode::input(&headers, bytes(), BindingInput::from_json)?;
    let mut first = None;
    for mode in MODES {
        let _ = flow.check(mode);
        let _ = binding.check(mode);
        if let Err(errors) = stage.check(mode) {
            first.get_or_insert(ServiceError::Validation(errors));
        }
    }
    first.map_or(Ok(()), Err)
}

/// A flow executor response (`POST /api/v3/flows/executor/{slug}/`) as the executor reads it:
/// the body-level refusal (an answer of its own), or else the token, or the `response_errors` the
/// challenge shows.
pub fn executor_body(
    content_type: &str,
    body: &[u8],
) -> Result<Result<String, ResponseErrors>, ServiceError> {
    let headers = content_type_header(content_type);
    let value = decode::json_value(&headers, Ok(Bytes::copy_from_slice(body)))?;
    Ok(crate::executor::token(&value))
}

/// What a write body decodes to: the checked values a write would store, or the refusal.
pub type Decoded<C> = Result<C, ServiceError>;

/// `name(content_type, body, mode)`: a REST write body read as `Input` reads it and checked
/// as a `mode` write checks it.
macro_rules! write_decoders {
    ($($(#[$doc:meta])* $name:ident: $input:ident => $changes:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(content_type: &str, body: &[u8], mode: WriteMode) -> Decoded<$changes> {
            let headers = content_type_header(content_type);
            let input = decode::input(&headers, Ok(Bytes::copy_from_slice(body)), $input::from_json)?;
            input.check(mode).map_err(ServiceError::Validation)
        }
    )*};
}

write_decoders! {
    /// A captcha stage's write body: the values the write would store, or the refusal.
    stage_write: StageInput => StageChanges;
    /// A flow's write body: the values the write would store, or the refusal.
    flow_write: FlowInput => FlowChanges;
    /// A binding's write body: the values the write would store, or the refusal.
    binding_write: BindingInput => BindingChanges;
}

/// The headers of a request that sent `content_type` (none when it is no valid header value).
fn content_type_header(content_type: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers
}

/// A list's query string read as each list reads it, each list built to SQL for both
/// databases; the page request it names.
pub fn list_query(query: &str) -> Result<PageRequest, ServiceError> {
    let params = Params::parse(Some(query.to_string()));
    let stage_filter = StageFilter {
        name: params.get("name"),
        public_key: params.get("public_key"),
        search: params.get("search"),
        ordering: params.get("ordering"),
    };
    let flow_filter = FlowFilter {
        flow_uuid: params.get("flow_uuid"),
        name: params.get("name"),
        slug: params.get("slug"),
        designation: params.get("designation"),
        denied_action: params.get("denied_action"),
        search: params.get("search"),
        ordering: params.get("ordering"),
    };
    let binding_filter = BindingFilter {
        target: params.get("target"),
        stage: params.get("stage"),
        order: params.get("order"),
        evaluate_on_plan: params.get("evaluate_on_plan"),
        re_evaluate_policies: params.get("re_evaluate_policies"),
        policy_engine_mode: params.get("policy_engine_mode"),
        invalid_response_action: params.get("invalid_response_action"),
        fsb_uuid: params.get("fsb_uuid"),
        pbm_uuid: params.get("pbm_uuid"),
        policies: params.get("policies"),
        search: params.get("search"),
        ordering: params.get("ordering"),
    };
    for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
        stages::list_query(&stage_filter)?.statement(backend);
        flows::store::list_query(&flow_filter)?.statement(backend);
        bindings::list_query(&binding_filter)?.statement(backend);
    }
    let request = params.page_request();
    request.resolve(1_000)?;
    Ok(request)
}

/// A GraphQL request body: read as `POST /graphql` reads it, and its document checked against
/// the document limits (size, nesting, fields, aliases, root fields), and what it decides about
/// its execution worked out (the columns its reads show, whether the plain path may answer it).
pub fn graphql_request(body: &[u8]) -> Result<(), String> {
    let mut request = crate::graphql::parse_request(body)?;
    crate::graphql::ParsedQueries::default()
        .prepare(&mut request)
        .map(drop)
}
