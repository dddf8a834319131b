//! A REST write body: the first byte chooses the content type (low two bits) and the write mode
//! (the rest, modulo 3); the other bytes are the body, read by every object's decoder
//! and by the flow executor's.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stages_api::fuzzing;
use stages_api::object::WriteMode;

const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "",
];
const MODES: [WriteMode; 3] = [WriteMode::Create, WriteMode::Replace, WriteMode::Patch];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector & 3)];
    let mode = MODES[usize::from(selector >> 2) % MODES.len()];
    let _ = fuzzing::rest_body(content_type, body);
    let _ = fuzzing::stage_write(content_type, body, mode);
    let _ = fuzzing::flow_write(content_type, body, mode);
    let _ = fuzzing::binding_write(content_type, body, mode);
    let _ = fuzzing::executor_body(content_type, body);
});
