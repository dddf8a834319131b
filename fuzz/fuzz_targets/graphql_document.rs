//! A GraphQL request: with an even first byte the rest is the whole `POST /graphql` body; with
//! an odd one it is the document itself, sent as `{"query": …}`, so that the fuzzer works on
//! the document limits without having to learn JSON first.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stages_api::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        let _ = fuzzing::graphql_request(rest);
    } else {
        let query = String::from_utf8_lossy(rest);
        let mut body = br#"{"query":"#.to_vec();
        body.extend(escape_json_string(&query).into_bytes());
        body.push(b'}');
        let _ = fuzzing::graphql_request(&body);
    }
});

/// `text` as a JSON string literal.
fn escape_json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
