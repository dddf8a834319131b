//! Entry points for the fuzz targets (`fuzz/`, see docs/fuzzing.md) and the property tests
//! (`tests/properties.rs`): every reader of untrusted input that needs no database. For any input
//! each must return, never panic and never recurse without bound; what they return is what a
//! client would be told. Not an API of the service.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use sea_orm::DatabaseBackend;
use serde_json::{Map, Value};

use crate::bindings::{self, BindingFilter, FlowStageBindingChanges, FlowStageBindingInput};
use crate::error::{FieldErrors, ServiceError};
use crate::flows::{self, FlowChanges, FlowFilter, FlowInput};
use crate::object::WriteMode;
use crate::pagination::PageRequest;
use crate::rest::{Params, decode};
use crate::stages::{self, CaptchaStageChanges, CaptchaStageInput, StageFilter};

const MODES: [WriteMode; 3] = [WriteMode::Create, WriteMode::Replace, WriteMode::Patch];

/// A REST write body as every declared input reads it, checked in every mode: the first
/// refusal (body-level, or the field errors of the captcha stage's create), if any.
pub fn rest_body(content_type: &str, body: &[u8]) -> Result<(), ServiceError> {
    let headers = content_type_header(content_type);
    let bytes = || Ok(Bytes::copy_from_slice(body));
    let stage = decode::input(&headers, bytes(), CaptchaStageInput::from_json)?;
    let flow = decode::input(&headers, bytes(), FlowInput::from_json)?;
    let binding = decode::input(&headers, bytes(), FlowStageBindingInput::from_json)?;
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

/// A captcha stage's REST write body read and checked as a `mode` write checks it: the values
/// the write would store.
pub fn stage_write(
    content_type: &str,
    body: &[u8],
    mode: WriteMode,
) -> Result<CaptchaStageChanges, ServiceError> {
    write(content_type, body, CaptchaStageInput::from_json, |input| {
        input.check(mode)
    })
}

/// A flow's REST write body read and checked as a `mode` write checks it.
pub fn flow_write(
    content_type: &str,
    body: &[u8],
    mode: WriteMode,
) -> Result<FlowChanges, ServiceError> {
    write(content_type, body, FlowInput::from_json, |input| {
        input.check(mode)
    })
}

/// A binding's REST write body read and checked as a `mode` write checks it.
pub fn binding_write(
    content_type: &str,
    body: &[u8],
    mode: WriteMode,
) -> Result<FlowStageBindingChanges, ServiceError> {
    write(
        content_type,
        body,
        FlowStageBindingInput::from_json,
        |input| input.check(mode),
    )
}

fn write<I, C>(
    content_type: &str,
    body: &[u8],
    read: fn(&Map<String, Value>) -> I,
    check: impl FnOnce(&I) -> Result<C, FieldErrors>,
) -> Result<C, ServiceError> {
    let headers = content_type_header(content_type);
    let input = decode::input(&headers, Ok(Bytes::copy_from_slice(body)), read)?;
    check(&input).map_err(ServiceError::Validation)
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
/// the document limits (size, nesting, fields, aliases, root fields).
pub fn graphql_request(body: &[u8]) -> Result<(), String> {
    let mut request = crate::graphql::parse_request(body)?;
    crate::graphql::ParsedQueries::default().prepare(&mut request)
}
