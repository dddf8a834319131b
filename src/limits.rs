//! Every bound the service puts on what a client sends, in one place. Each is checked before any
//! SQL is built from the input, and going over it is a clear client error (400, 413, 414 or
//! 431), never a 500: see README "Limits" for the reasons. The checks that need no knowledge of
//! a front end (nesting depth of a JSON or GraphQL text) live here too.

/// The largest request body read by default (authentik has none; 1 MiB holds a stage with 100
/// flows many times over). A setting (`BODY_LIMIT`).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// The longest request target (path and query string): 414 beyond it. Browsers and proxies stop
/// near 8 KiB as well.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The total size of the request headers (names and values): 431 beyond it.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// How deeply arrays and objects may nest in a JSON body. The deepest honest body (a stage with
/// its `flow_set`) nests 3 levels.
pub const MAX_JSON_DEPTH: usize = 32;

/// Search terms of a list (`search`): each term is one more `LIKE` over every row.
pub const MAX_SEARCH_TERMS: usize = 32;
/// The length of the whole `search` value, in characters.
pub const MAX_SEARCH_CHARS: usize = 512;

/// Items of a stage's `flow_set`: each is a flow created or updated in the stage's transaction.
pub const MAX_FLOW_SET_ITEMS: usize = 100;
/// Unique, indexed text (a stage's name): PostgreSQL refuses index entries over 2,704 bytes, and
/// 255 characters of UTF-8 stay below that.
pub const MAX_NAME_CHARS: usize = 255;
/// Any other text field (keys, URLs, titles).
pub const MAX_TEXT_CHARS: usize = 4096;

/// The longest GraphQL document (`query`) accepted; GraphiQL's introspection query is 3 KiB.
pub const MAX_GRAPHQL_QUERY_BYTES: usize = 32 * 1024;
/// How deeply braces, brackets and parentheses may nest in a GraphQL document, checked on the
/// text before the (recursive) parser sees it.
pub const MAX_GRAPHQL_NESTING: usize = 32;
/// Selection depth (GraphiQL's introspection query needs 13).
pub const MAX_GRAPHQL_DEPTH: usize = 16;
/// Objects a GraphQL request could return: paged fields count `pageSize` times their selection,
/// nested lists [`GRAPHQL_EXPECTED_LIST_SIZE`] times.
pub const MAX_GRAPHQL_OBJECTS: usize = 10_000;
/// What a nested list (a stage's `flowSet`, a flow's `stages`) counts as in that estimate: a
/// stage sits in a flow or two, a flow holds a few stages. A page of 100 stages with their
/// flows, the flows' stages and those stages' flows then counts 8,601 objects.
pub const GRAPHQL_EXPECTED_LIST_SIZE: usize = 4;
/// Fields of a GraphQL document once its fragments are expanded (introspection has about 100).
pub const MAX_GRAPHQL_FIELDS: usize = 1_000;
/// Aliased fields in a GraphQL document.
pub const MAX_GRAPHQL_ALIASES: usize = 64;
/// Fields at the root of an operation: each is a use case of its own.
pub const MAX_GRAPHQL_ROOT_FIELDS: usize = 16;

/// The GraphQL cost of a nested list of objects: its expected length times one item.
pub fn graphql_list_cost(child_complexity: usize) -> usize {
    GRAPHQL_EXPECTED_LIST_SIZE.saturating_mul(1usize.saturating_add(child_complexity))
}

/// Whether arrays and objects in a JSON text nest deeper than `max`. Iterative, in one pass over
/// the bytes, so that a hostile body cannot exhaust the stack before the parser refuses it.
pub fn json_nesting_exceeds(text: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in text {
        if in_string {
            match (escaped, byte) {
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => escaped = false,
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Whether braces, brackets and parentheses in a GraphQL document nest deeper than `max`,
/// outside strings, block strings and comments.
pub fn graphql_nesting_exceeds(text: &str, max: usize) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_nesting_counts_outside_strings_only() {
        assert!(!json_nesting_exceeds(br#"{"a": [{"b": 1}]}"#, 3));
        assert!(json_nesting_exceeds(br#"{"a": [{"b": []}]}"#, 3));
        assert!(!json_nesting_exceeds(br#"{"a": "[[[[[[\"{{{{"}"#, 1));
        assert!(json_nesting_exceeds(&[b'['; 100_000], 32));
    }

    #[test]
    fn graphql_nesting_skips_strings_and_comments() {
        assert!(!graphql_nesting_exceeds("{ a { b(x: [1]) } }", 4));
        assert!(graphql_nesting_exceeds("{ a { b(x: [[1]]) } }", 4));
        assert!(!graphql_nesting_exceeds("{ a # {{{{{{\n }", 1));
        assert!(!graphql_nesting_exceeds(r#"{ a(s: "{{{{\"{{") }"#, 2));
        assert!(!graphql_nesting_exceeds(
            "{ a(s: \"\"\"{{{{ \\\"\"\" {{\"\"\") }",
            2
        ));
        assert!(graphql_nesting_exceeds(&"{a".repeat(50_000), 32));
    }
}
