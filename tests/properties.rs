//! Property tests over every reader of untrusted input that needs no database
//! (`stages_api::fuzzing`): REST write bodies, list query strings, GraphQL request bodies. Each
//! property holds for every input proptest generates: 256 cases a property (an eighth of that for
//! the costliest) unless `PROPTEST_CASES` says otherwise. The fuzz targets in `fuzz/` drive the same entry points
//! (docs/fuzzing.md); a crash they find comes back here as a regression case.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use sea_orm::DatabaseBackend;
use sea_orm::sea_query::{Alias, Expr, Order, SimpleExpr};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use stages_api::bindings::{self, BindingFilter, InvalidResponseAction};
use stages_api::error::{ErrorTree, FieldErrors, ServiceError};
use stages_api::flows::{self, Authentication, DeniedAction, Designation, FlowLayout};
use stages_api::flows::{FlowFilter, PolicyEngineMode};
use stages_api::fuzzing;
use stages_api::limits::{
    MAX_FLOW_SET_ITEMS, MAX_GRAPHQL_ALIASES, MAX_GRAPHQL_NESTING, MAX_GRAPHQL_QUERY_BYTES,
    MAX_GRAPHQL_ROOT_FIELDS, MAX_JSON_DEPTH, MAX_NAME_CHARS, MAX_SEARCH_CHARS, MAX_SEARCH_TERMS,
};
use stages_api::object::{Choice, WriteMode};
use stages_api::pagination::{self, PageNumber, PageRequest, PageSize};
use stages_api::stages::{self, StageFilter};

const MODES: [WriteMode; 3] = [WriteMode::Create, WriteMode::Replace, WriteMode::Patch];
const JSON: &str = "application/json";
const REQUIRED: &str = "This field is required.";

/// The default case count (or `PROPTEST_CASES`) divided by `divisor`, for the costlier properties.
fn fewer_cases(divisor: u32) -> Config {
    let cases = Config::default().cases;
    Config::with_cases((cases / divisor).max(1))
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Content types: JSON in its spellings, others, and anything at all.
fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(JSON.to_string()),
        Just("application/json; charset=utf-8".to_string()),
        Just(" APPLICATION/Json ;x=\"y\"".to_string()),
        Just(String::new()),
        Just("text/plain".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        Just("multipart/form-data; boundary=x".to_string()),
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

/// Whether the decoder reads a body sent with `content_type` as JSON.
fn is_json(content_type: &str) -> bool {
    axum::http::HeaderValue::from_str(content_type).is_ok()
        && content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case(JSON)
}

/// Pieces of JSON and of what is nearly JSON, for bodies that reach deep into the parser.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    " ",
    "\n",
    "\\",
    "\\u0000",
    "\\ud800",
    "\0",
    "\u{7f}",
    "\u{e9}",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0.0",
    "1.5",
    "NaN",
    "Infinity",
    "-Infinity",
    "\"NaN\"",
    "\"name\"",
    "\"slug\"",
    "\"flow_set\"",
    "\"order\"",
    "\"target\"",
    "\"score_min_threshold\"",
    "\"designation\"",
    "\"x\"",
    "99999999999999999999999",
];

/// Bodies: raw bytes (NUL, invalid UTF-8), JSON token soup, and either cut short or with a
/// byte that is not UTF-8 spliced in.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    let soup = vec(prop::sample::select(JSON_TOKENS), 0..200).prop_map(|t| t.concat().into_bytes());
    prop_oneof![
        vec(any::<u8>(), 0..512),
        soup.clone(),
        (
            soup,
            any::<prop::sample::Index>(),
            prop::sample::select(&[0x80u8, 0xff, 0xc3, 0][..])
        )
            .prop_map(|(mut body, at, byte)| {
                if !body.is_empty() {
                    let at = at.index(body.len());
                    body.insert(at, byte);
                }
                body
            }),
    ]
}

/// Keys a body may hold: every writable key of the three objects, read-only ones and others.
const KEYS: &[&str] = &[
    "name",
    "public_key",
    "private_key",
    "js_url",
    "api_url",
    "interactive",
    "score_min_threshold",
    "score_max_threshold",
    "error_on_invalid_score",
    "flow_set",
    "slug",
    "title",
    "designation",
    "policy_engine_mode",
    "compatibility_mode",
    "layout",
    "denied_action",
    "authentication",
    "target",
    "stage",
    "order",
    "evaluate_on_plan",
    "re_evaluate_policies",
    "invalid_response_action",
    "pk",
    "component",
    "",
    "\0",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[ -~]{0,8}\0[ -~]{0,8}".prop_map(Value::String),
        "[0-9_. +-]{0,12}|[Nn]a[Nn]|-?[Ii]nf(inity)?|[tTfFyYnN]".prop_map(Value::String),
    ]
}

/// Any JSON value, usually shallow.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec((key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// A value wrapped in up to 80 levels of arrays and objects: up to the nesting limit and well
/// beyond it.
fn deep_json_value() -> impl Strategy<Value = Value> {
    (json_value(), vec((any::<bool>(), key()), 0..80)).prop_map(|(mut value, levels)| {
        for (array, key) in levels {
            value = if array {
                Value::Array(vec![value])
            } else {
                Value::Object(Map::from_iter([(key, value)]))
            };
        }
        value
    })
}

/// How deeply arrays and objects nest in a value (a scalar: 0).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Text a text field stores as sent: no white space at either end (as Python strips it), no
/// control character, at most `max` characters.
fn clean_text(max: usize) -> impl Strategy<Value = String> {
    let long = max.saturating_sub(5).max(1);
    let regex = |r: String| proptest::string::string_regex(&r).expect("a valid pattern");
    prop_oneof![
        4 => regex("\\PC{1,24}".to_string()),
        1 => regex(format!("\\PC{{{long},{max}}}")),
    ]
    .prop_filter("stripped text", move |s| {
        !s.is_empty() && s.trim() == s && s.chars().count() <= max
    })
}

/// A text field: clean text, sent as is or wrapped in white space that DRF strips.
fn text_field(max: usize) -> impl Strategy<Value = (Value, String)> {
    (
        clean_text(max),
        "[ \t\r\n\u{a0}\u{3000}\u{1f}]{0,2}",
        "[ \t\n\u{2003}\u{1c}]{0,2}",
    )
        .prop_map(|(text, before, after)| (json!(format!("{before}{text}{after}")), text))
}

fn slug_field() -> impl Strategy<Value = (Value, String)> {
    "[-a-zA-Z0-9_]{1,50}".prop_map(|slug| (json!(slug), slug))
}

/// A boolean in each spelling DRF's BooleanField reads.
fn bool_field() -> impl Strategy<Value = (Value, bool)> {
    (any::<bool>(), 0..5usize).prop_map(|(flag, spelling)| {
        let sent = match (spelling, flag) {
            (0, _) => json!(flag),
            (1, true) => json!(1),
            (1, false) => json!(0),
            (2, true) => json!("True"),
            (2, false) => json!("off"),
            (3, true) => json!("yes"),
            (3, false) => json!("F"),
            (_, true) => json!("1"),
            (_, false) => json!("0"),
        };
        (sent, flag)
    })
}

/// A finite number, as a JSON number or as text Python's `float()` reads.
fn number_field() -> impl Strategy<Value = (Value, f64)> {
    (
        any::<f64>().prop_filter("finite", |n| n.is_finite()),
        0..3usize,
    )
        .prop_map(|(n, form)| {
            let sent = match form {
                0 => json!(n),
                1 => json!(n.to_string()),
                _ => json!(format!(" {n:e}\n")),
            };
            (sent, n)
        })
}

/// A 32-bit integer, as a number, an integral float or text DRF's IntegerField reads.
fn int32_field() -> impl Strategy<Value = (Value, i32)> {
    (any::<i32>(), 0..4usize).prop_map(|(n, form)| {
        let sent = match form {
            0 => json!(n),
            1 => json!(f64::from(n)),
            2 => json!(format!(" {n} ")),
            _ => json!(format!("{n}.000")),
        };
        (sent, n)
    })
}

/// A UUID in each form Django's UUIDField reads.
fn uuid_field() -> impl Strategy<Value = (Value, Uuid)> {
    (any::<[u8; 16]>(), 0..5usize).prop_map(|(bytes, form)| {
        let id = Uuid::from_bytes(bytes);
        let sent = match form {
            0 => id.hyphenated().to_string(),
            1 => id.simple().to_string(),
            2 => id.braced().to_string(),
            3 => id.urn().to_string(),
            _ => format!(" {} ", id.hyphenated().to_string().to_uppercase()),
        };
        (json!(sent), id)
    })
}

fn choice_field<C: Choice + std::fmt::Debug>() -> impl Strategy<Value = (Value, C)> {
    prop::sample::select(C::ALL).prop_map(|choice| (json!(choice.value()), choice))
}

/// A field of a generated write: absent, or the JSON sent and the value it must decode to.
type Sent<T> = Option<(Value, T)>;

fn sometimes<T: std::fmt::Debug + Clone>(
    strategy: impl Strategy<Value = (Value, T)>,
) -> impl Strategy<Value = Sent<T>> {
    proptest::option::of(strategy)
}

/// Required fields are usually sent, so that the valid case is common.
fn mostly<T: std::fmt::Debug + Clone>(
    strategy: impl Strategy<Value = (Value, T)>,
) -> impl Strategy<Value = Sent<T>> {
    proptest::option::weighted(0.9, strategy)
}

fn expected<T: Clone>(sent: &Sent<T>) -> Option<T> {
    sent.as_ref().map(|(_, value)| value.clone())
}

fn json_of<T>(sent: &Sent<T>) -> Option<&Value> {
    sent.as_ref().map(|(value, _)| value)
}

/// The keys of a generated write, each `(name, JSON sent, required)`, from variables of the same
/// names: `keys![name: true, layout: false]`.
macro_rules! keys {
    ($($field:ident: $required:expr),+ $(,)?) => {
        [$((stringify!($field), json_of(&$field), $required)),+]
    };
}

/// Each named field of `changes` is the value generated for the variable of the same name.
macro_rules! assert_decoded {
    ($changes:ident: $($field:ident),+ $(,)?) => {
        $(prop_assert_eq!($changes.$field, expected(&$field));)+
    };
}

fn ignored_keys() -> impl Strategy<Value = Map<String, Value>> {
    vec(
        (
            prop::sample::select(&["pk", "component", "meta_model_name", "stages", "unknown"][..]),
            json_leaf(),
        ),
        0..3,
    )
    .prop_map(|entries| {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    })
}

/// One key of a generated write: its name, the JSON sent (`None`: left out), whether it is
/// required.
type Key<'a> = (&'static str, Option<&'a Value>, bool);

/// Sends `keys` (with read-only and unknown keys beside them, which are ignored) in every mode:
/// a key left out is `This field is required.` on create and replace when it is required;
/// otherwise the checked values go to `compare`.
fn round_trip<C>(
    keys: &[Key],
    ignored: &Map<String, Value>,
    write: fn(&str, &[u8], WriteMode) -> Result<C, ServiceError>,
    compare: impl Fn(C) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut map = ignored.clone();
    for (key, value, _) in keys {
        match value {
            Some(value) => map.insert(key.to_string(), (*value).clone()),
            None => map.remove(*key),
        };
    }
    let body = serde_json::to_vec(&Value::Object(map)).expect("serializes");
    let missing: FieldErrors = keys
        .iter()
        .filter(|(_, value, required)| *required && value.is_none())
        .map(|(key, _, _)| (key.to_string(), ErrorTree::message(REQUIRED)))
        .collect();
    for mode in MODES {
        match write(JSON, &body, mode) {
            Err(ServiceError::Validation(errors))
                if mode != WriteMode::Patch && !missing.is_empty() =>
            {
                prop_assert_eq!(&errors, &missing);
            }
            Ok(changes) if mode == WriteMode::Patch || missing.is_empty() => compare(changes)?,
            other => {
                let other = other.map(|_| "the checked values");
                prop_assert!(false, "{mode:?}: {other:?}, {} missing", missing.len());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// REST bodies

proptest! {
    /// Any bytes, in any content type, in every write mode of every object: an answer, never a
    /// panic. An empty body is `{}`; any other body not sent as JSON is a 415.
    #[test]
    fn any_body_in_any_content_type_is_answered(content_type in content_type(), body in body_bytes()) {
        let outcomes = [fuzzing::rest_body(&content_type, &body).err()]
            .into_iter()
            .chain(MODES.iter().flat_map(|&mode| {
                [
                    fuzzing::stage_write(&content_type, &body, mode).err(),
                    fuzzing::flow_write(&content_type, &body, mode).err(),
                    fuzzing::binding_write(&content_type, &body, mode).err(),
                ]
            }));
        for outcome in outcomes {
            match outcome {
                None | Some(ServiceError::Validation(_)) => {}
                Some(ServiceError::BadRequest(message)) => {
                    prop_assert!(!body.is_empty() && is_json(&content_type));
                    prop_assert!(message.starts_with("JSON parse error - "), "{message}");
                }
                Some(ServiceError::UnsupportedMediaType(_)) => {
                    prop_assert!(!body.is_empty() && !is_json(&content_type));
                }
                Some(other) => prop_assert!(false, "unexpected answer {other:?}"),
            }
        }
    }

    /// Any JSON value, nested up to the limit and beyond it: parsed, or refused with the
    /// documented message when it nests deeper than `MAX_JSON_DEPTH`, never a panic and never
    /// a parse error for valid JSON within the limit.
    #[test]
    fn any_json_value_is_read_or_refused_for_depth(value in prop_oneof![json_value(), deep_json_value()]) {
        let body = serde_json::to_vec(&value).expect("serializes");
        let too_deep = depth(&value) > MAX_JSON_DEPTH;
        let refusal = format!(
            "JSON parse error - arrays and objects nest deeper than {MAX_JSON_DEPTH} levels"
        );
        for mode in MODES {
            let outcomes = [
                fuzzing::stage_write(JSON, &body, mode).err(),
                fuzzing::flow_write(JSON, &body, mode).err(),
                fuzzing::binding_write(JSON, &body, mode).err(),
                fuzzing::rest_body(JSON, &body).err(),
            ];
            for outcome in outcomes {
                match outcome {
                    Some(ServiceError::BadRequest(message)) => {
                        prop_assert!(too_deep, "valid JSON refused: {message}");
                        prop_assert_eq!(&message, &refusal);
                    }
                    Some(ServiceError::Validation(errors)) => {
                        prop_assert!(!too_deep, "{errors:?}");
                        if !value.is_object() {
                            prop_assert_eq!(errors.keys().collect::<Vec<_>>(), vec!["non_field_errors"]);
                        }
                    }
                    None => prop_assert!(!too_deep && value.is_object()),
                    Some(other) => prop_assert!(false, "unexpected answer {other:?}"),
                }
            }
        }
    }

    /// Python's `NaN` and `Infinity` literals parse, and a number field refuses them by its rule.
    #[test]
    fn non_finite_literals_reach_the_number_rule(
        field in prop::sample::select(&["score_min_threshold", "score_max_threshold"][..]),
        literal in prop::sample::select(&["NaN", "Infinity", "-Infinity", "\"nan\"", "\" -inf \""][..]),
        space in "[ \t\n]{0,2}",
    ) {
        let body = format!("{{{space}\"{field}\":{space}{literal}{space}}}");
        let answer = fuzzing::stage_write(JSON, body.as_bytes(), WriteMode::Patch);
        let Err(ServiceError::Validation(errors)) = answer else {
            return Err(TestCaseError::fail(format!("{body}: {answer:?}")));
        };
        prop_assert_eq!(
            errors,
            FieldErrors::from([(field.to_string(), ErrorTree::message("A valid number is required."))])
        );
    }

    /// Arrays of any length in a stage's `flow_set`: at most `MAX_FLOW_SET_ITEMS`.
    #[test]
    fn flow_set_length_is_bounded(items in 0..400usize, empty in any::<bool>()) {
        let item = if empty { json!({}) } else { json!({"name": "n", "slug": "s", "title": "t", "designation": "authentication"}) };
        let body = serde_json::to_vec(&json!({"flow_set": vec![item; items]})).expect("serializes");
        let answer = fuzzing::stage_write(JSON, &body, WriteMode::Patch);
        if items > MAX_FLOW_SET_ITEMS {
            let Err(ServiceError::Validation(errors)) = answer else {
                return Err(TestCaseError::fail(format!("{answer:?}")));
            };
            prop_assert_eq!(
                errors,
                FieldErrors::from([(
                    "flow_set".to_string(),
                    ErrorTree::non_field(format!("Ensure this field has no more than {MAX_FLOW_SET_ITEMS} elements."))
                )])
            );
        } else {
            prop_assert_eq!(answer.is_ok(), !empty || items == 0);
        }
    }
}

/// Bodies at the size limit: nothing but brackets, an unclosed string, a flat array, NUL bytes.
#[test]
fn bodies_at_the_size_limit_are_answered() {
    let limit = stages_api::limits::BODY_LIMIT;
    let flat = format!("[{}0]", "0,".repeat(limit / 2 - 2));
    let bodies: [Vec<u8>; 6] = [
        vec![b'['; limit],
        "{\"a\":".repeat(limit / 5).into_bytes(),
        [b"{\"name\": \"".as_slice(), &vec![b'x'; limit - 20]].concat(),
        flat.into_bytes(),
        vec![0; limit],
        vec![0xff; limit],
    ];
    for body in bodies {
        for mode in MODES {
            let answer = fuzzing::stage_write(JSON, &body, mode);
            assert!(
                matches!(
                    answer,
                    Err(ServiceError::BadRequest(_) | ServiceError::Validation(_))
                ),
                "{answer:?}"
            );
        }
        let _ = fuzzing::rest_body(JSON, &body);
    }
}

// ---------------------------------------------------------------------------------------------
// Flow executor responses

proptest! {
    /// Any bytes in any content type as an executor response: an answer, never a panic. A body
    /// that is JSON gets a token or `response_errors` of one field, never a body-level refusal.
    #[test]
    fn any_executor_body_is_answered(content_type in content_type(), body in body_bytes()) {
        let answer = fuzzing::executor_body(&content_type, &body);
        if let Ok(Err(errors)) = &answer {
            prop_assert_eq!(errors.len(), 1, "{:?}", errors);
        }
        if body.is_empty() {
            prop_assert!(matches!(answer, Ok(Err(_))), "no token: {:?}", answer);
        }
    }

    /// Any JSON as an executor response: an object carries its token (stripped of Python's
    /// white space, as DRF's CharField reads it) or a `token` error; anything else is refused as a whole with
    /// `non_field_errors`, as authentik's serializer refuses it.
    #[test]
    fn any_executor_json_is_read_as_authentik_reads_it(
        mut value in json_value(),
        token in proptest::option::of(json_leaf()),
    ) {
        if let (Value::Object(map), Some(token)) = (&mut value, token) {
            map.insert("token".to_string(), token);
        }
        let body = serde_json::to_vec(&value).unwrap();
        let answer = fuzzing::executor_body(JSON, &body);
        prop_assert!(answer.is_ok(), "{:?}", answer);
        match (value, answer.unwrap()) {
            (Value::Object(map), Ok(token)) => match map.get("token") {
                Some(Value::String(sent)) => {
                    prop_assert_eq!(token.as_str(), stages_api::object::rules::trim(sent))
                }
                Some(Value::Number(sent)) => prop_assert_eq!(token, sent.to_string()),
                other => prop_assert!(false, "token {:?} read from {:?}", token, other),
            },
            (Value::Object(_), Err(errors)) => {
                prop_assert!(errors.contains_key("token"), "{:?}", errors)
            }
            (_, Err(errors)) => {
                prop_assert!(errors.contains_key("non_field_errors"), "{:?}", errors)
            }
            (other, Ok(token)) => prop_assert!(false, "{:?} gave token {:?}", other, token),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips: a valid write decodes to the values sent

#[derive(Clone, Debug)]
struct FlowSetCase {
    name: (Value, String),
    slug: (Value, String),
    title: (Value, String),
    designation: (Value, Designation),
    policy_engine_mode: Sent<PolicyEngineMode>,
    compatibility_mode: Sent<bool>,
    layout: Sent<FlowLayout>,
    denied_action: Sent<DeniedAction>,
}

impl FlowSetCase {
    fn json(&self) -> Value {
        let keys = [
            ("name", Some(&self.name.0)),
            ("slug", Some(&self.slug.0)),
            ("title", Some(&self.title.0)),
            ("designation", Some(&self.designation.0)),
            ("policy_engine_mode", json_of(&self.policy_engine_mode)),
            ("compatibility_mode", json_of(&self.compatibility_mode)),
            ("layout", json_of(&self.layout)),
            ("denied_action", json_of(&self.denied_action)),
        ];
        let sent = keys
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_string(), value?.clone())));
        Value::Object(sent.collect())
    }
}

prop_compose! {
    fn flow_set_case()(
        name in text_field(200),
        slug in slug_field(),
        title in text_field(200),
        designation in choice_field::<Designation>(),
        policy_engine_mode in sometimes(choice_field::<PolicyEngineMode>()),
        compatibility_mode in sometimes(bool_field()),
        layout in sometimes(choice_field::<FlowLayout>()),
        denied_action in sometimes(choice_field::<DeniedAction>()),
    ) -> FlowSetCase {
        FlowSetCase { name, slug, title, designation, policy_engine_mode, compatibility_mode, layout, denied_action }
    }
}

proptest! {
    /// A generated captcha stage write decodes, in every mode, to exactly the values sent
    /// (stripped as DRF strips text); an absent key is `None`, and an absent required key is
    /// `This field is required.` on create and replace.
    #[test]
    fn stage_writes_round_trip(
        name in mostly(text_field(MAX_NAME_CHARS)),
        public_key in mostly(text_field(300)),
        private_key in mostly(text_field(300)),
        js_url in sometimes(text_field(100)),
        api_url in sometimes(text_field(100)),
        interactive in sometimes(bool_field()),
        score_min_threshold in sometimes(number_field()),
        score_max_threshold in sometimes(number_field()),
        error_on_invalid_score in sometimes(bool_field()),
        flow_set in proptest::option::of(vec(flow_set_case(), 0..4)),
        ignored in ignored_keys(),
    ) {
        let flow_set_json = flow_set.as_ref().map(|items| Value::Array(items.iter().map(FlowSetCase::json).collect()));
        let mut keys = keys![
            name: true,
            public_key: true,
            private_key: true,
            js_url: false,
            api_url: false,
            interactive: false,
            score_min_threshold: false,
            score_max_threshold: false,
            error_on_invalid_score: false,
        ]
        .to_vec();
        keys.push(("flow_set", flow_set_json.as_ref(), false));
        round_trip(&keys, &ignored, fuzzing::stage_write, |changes| {
            prop_assert_eq!(
                changes.private_key.as_ref().map(|s| s.expose_secret().to_string()),
                expected(&private_key)
            );
            assert_decoded!(changes: name, public_key, js_url, api_url, interactive,
                score_min_threshold, score_max_threshold, error_on_invalid_score);
            let items = changes.flow_set;
            prop_assert_eq!(items.as_ref().map(Vec::len), flow_set.as_ref().map(Vec::len));
            for (item, case) in items.iter().flatten().zip(flow_set.iter().flatten()) {
                prop_assert_eq!(item.name.as_ref(), Some(&case.name.1));
                prop_assert_eq!(item.slug.as_ref(), Some(&case.slug.1));
                prop_assert_eq!(item.title.as_ref(), Some(&case.title.1));
                prop_assert_eq!(item.designation, Some(case.designation.1));
                prop_assert_eq!(item.policy_engine_mode, expected(&case.policy_engine_mode));
                prop_assert_eq!(item.compatibility_mode, expected(&case.compatibility_mode));
                prop_assert_eq!(item.layout, expected(&case.layout));
                prop_assert_eq!(item.denied_action, expected(&case.denied_action));
            }
            Ok(())
        })?;
    }

    /// A generated flow write decodes to the values sent, in every mode.
    #[test]
    fn flow_writes_round_trip(
        name in mostly(text_field(400)),
        slug in mostly(slug_field()),
        title in mostly(text_field(400)),
        designation in mostly(choice_field::<Designation>()),
        policy_engine_mode in sometimes(choice_field::<PolicyEngineMode>()),
        compatibility_mode in sometimes(bool_field()),
        layout in sometimes(choice_field::<FlowLayout>()),
        denied_action in sometimes(choice_field::<DeniedAction>()),
        authentication in sometimes(choice_field::<Authentication>()),
        ignored in ignored_keys(),
    ) {
        let keys = keys![
            name: true,
            slug: true,
            title: true,
            designation: true,
            policy_engine_mode: false,
            compatibility_mode: false,
            layout: false,
            denied_action: false,
            authentication: false,
        ];
        round_trip(&keys, &ignored, fuzzing::flow_write, |changes| {
            assert_decoded!(changes: name, slug, title, designation, policy_engine_mode,
                compatibility_mode, layout, denied_action, authentication);
            Ok(())
        })?;
    }

    /// A generated binding write decodes to the values sent, in every mode: UUIDs in any of
    /// Django's forms, orders as numbers or text.
    #[test]
    fn binding_writes_round_trip(
        target in mostly(uuid_field()),
        stage in mostly(uuid_field()),
        evaluate_on_plan in sometimes(bool_field()),
        re_evaluate_policies in sometimes(bool_field()),
        order in mostly(int32_field()),
        policy_engine_mode in sometimes(choice_field::<PolicyEngineMode>()),
        invalid_response_action in sometimes(choice_field::<InvalidResponseAction>()),
        ignored in ignored_keys(),
    ) {
        let keys = keys![
            target: true,
            stage: true,
            evaluate_on_plan: false,
            re_evaluate_policies: false,
            order: true,
            policy_engine_mode: false,
            invalid_response_action: false,
        ];
        round_trip(&keys, &ignored, fuzzing::binding_write, |changes| {
            assert_decoded!(changes: target, stage, evaluate_on_plan, re_evaluate_policies, order,
                policy_engine_mode, invalid_response_action);
            Ok(())
        })?;
    }
}

/// Found by `stage_writes_round_trip`: serde_json's default float parsing read this number one
/// ULP off, where Python (and so authentik) reads it exactly; `float_roundtrip` fixes that.
#[test]
fn numbers_are_read_exactly() {
    for text in [
        "2.26711193923512e-246",
        "0.30000000000000004",
        "1.7976931348623157e308",
    ] {
        let body = format!("{{\"score_min_threshold\": {text}}}");
        let changes = fuzzing::stage_write(JSON, body.as_bytes(), WriteMode::Patch).expect("valid");
        let exact: f64 = text.parse().expect("a number");
        assert_eq!(changes.score_min_threshold, Some(exact), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// List query strings

fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

/// Query strings: anything, percent-escape soup (invalid UTF-8 and broken escapes included),
/// and the lists' own parameters with any values, repeated.
fn query_string() -> impl Strategy<Value = String> {
    let escapes = vec(
        prop_oneof![
            "%[0-9a-fA-F]{2}",
            "%[8-9a-fA-F][0-9a-fA-F]",
            Just("%".to_string()),
            "%[g-zG-Z]{1,2}",
            "[&=;+,-]",
            "[a-z_]{1,8}",
        ],
        0..64,
    )
    .prop_map(|parts| parts.concat());
    let params = vec(
        (
            prop::sample::select(
                &[
                    "search",
                    "ordering",
                    "page",
                    "page_size",
                    "name",
                    "public_key",
                    "slug",
                    "flow_uuid",
                    "designation",
                    "denied_action",
                    "target",
                    "stage",
                    "order",
                    "evaluate_on_plan",
                    "re_evaluate_policies",
                    "policy_engine_mode",
                    "invalid_response_action",
                    "fsb_uuid",
                    "pbm_uuid",
                    "policies",
                ][..],
            ),
            prop_oneof![
                any::<String>(),
                "[ -~]{0,30}",
                "-?[0-9]{1,25}",
                Just("last".to_string())
            ],
        ),
        0..12,
    )
    .prop_map(|pairs| {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        query(&pairs)
    });
    prop_oneof![any::<String>(), escapes, params]
}

proptest! {
    /// Any query string: an answer, never a panic; the only refusals are field errors on the
    /// parameters and `Invalid page.`.
    #[test]
    fn any_query_string_is_answered(query in query_string()) {
        match fuzzing::list_query(&query) {
            Ok(_) | Err(ServiceError::Validation(_) | ServiceError::InvalidPage) => {}
            Err(other) => prop_assert!(false, "unexpected answer {other:?}"),
        }
    }

    /// Any number of search terms of any length: at most `MAX_SEARCH_TERMS` terms in
    /// `MAX_SEARCH_CHARS` characters, a field error on `search` beyond (before any SQL).
    #[test]
    fn search_is_bounded(
        terms in prop_oneof![vec("[a-zA-Z0-9%_\\\\é]{1,12}", 0..80), vec("x", 0..3000), vec("[^\\s,\\x00-\\x1f]{1,700}", 0..3)],
        separator in prop::sample::select(&[" ", ",", "\t", ", ", "\u{3000}", "\u{1f}", "\n\n"][..]),
    ) {
        let search = terms.join(separator);
        let answer = fuzzing::list_query(&query(&[("search", &search)]));
        let counted = pagination::search_terms(Some(&search));
        if search.chars().count() > MAX_SEARCH_CHARS || terms.len() > MAX_SEARCH_TERMS {
            let Err(ServiceError::Validation(errors)) = answer else {
                return Err(TestCaseError::fail(format!("{answer:?}")));
            };
            prop_assert_eq!(errors.keys().collect::<Vec<_>>(), vec!["search"]);
            prop_assert!(counted.is_err());
        } else {
            prop_assert_eq!(answer.ok(), Some(PageRequest::default()));
            let counted = counted.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(counted.len(), terms.len());
        }
    }

    /// Up to the limit, each term is one more flat `AND` of `LIKE`s: the SQL of every list has
    /// one `LIKE` per term and searched column, each term's escaped pattern as a parameter, and
    /// parentheses no deeper for 32 terms than for two (no recursion per term), on both
    /// databases.
    #[test]
    fn search_sql_is_flat(terms in vec("[a-zA-Z0-9%_\\\\]{1,12}", 1..=MAX_SEARCH_TERMS)) {
        let search = terms.join(" ");
        for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
            let two = list_sql("one two", backend);
            for ((sql, values, columns), (two, _, _)) in list_sql(&search, backend).into_iter().zip(&two) {
                prop_assert_eq!(sql.matches(" LIKE ").count(), terms.len() * columns, "{}", sql);
                prop_assert!(paren_depth(&sql) <= paren_depth(two), "{}", sql);
                for term in &terms {
                    let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
                    prop_assert!(values.contains(&pattern), "{} not in {:?}", pattern, values);
                }
            }
        }
    }
}

/// The SQL, the text parameters and the number of searched columns of each list for `search`.
fn list_sql(search: &str, backend: DatabaseBackend) -> Vec<(String, Vec<String>, usize)> {
    let statements = [
        (
            stages::list_query(&StageFilter {
                search: Some(search.to_string()),
                ..Default::default()
            })
            .map(|q| q.statement(backend)),
            1,
        ),
        (
            flows::store::list_query(&FlowFilter {
                search: Some(search.to_string()),
                ..Default::default()
            })
            .map(|q| q.statement(backend)),
            5,
        ),
        (
            bindings::list_query(&BindingFilter {
                search: Some(search.to_string()),
                ..Default::default()
            })
            .map(|q| q.statement(backend)),
            1,
        ),
    ];
    statements
        .into_iter()
        .map(|(statement, columns)| {
            let statement = statement.expect("a search within the limits");
            let values = statement
                .values
                .iter()
                .flat_map(|values| values.0.iter())
                .filter_map(|value| match value {
                    sea_orm::Value::String(Some(text)) => Some(text.to_string()),
                    _ => None,
                })
                .collect();
            (statement.sql, values, columns)
        })
        .collect()
}

fn escape_like(term: &str) -> String {
    term.chars()
        .flat_map(|c| {
            let escape = matches!(c, '%' | '_' | '\\').then_some('\\');
            escape.into_iter().chain([c])
        })
        .collect()
}

/// The deepest nesting of parentheses in a SQL text, outside quoted names and literals.
fn paren_depth(sql: &str) -> usize {
    let (mut depth, mut deepest, mut quote) = (0usize, 0usize, None);
    for c in sql.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[test]
fn search_sql_builds_for_every_term_count_up_to_the_limit() {
    for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
        let two = list_sql("t0 t1", backend);
        for n in 0..=MAX_SEARCH_TERMS {
            let search: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
            for ((sql, _, columns), (two, _, _)) in
                list_sql(&search.join(","), backend).into_iter().zip(&two)
            {
                assert_eq!(sql.matches(" LIKE ").count(), n * columns, "{sql}");
                assert!(paren_depth(&sql) <= paren_depth(two), "{n} terms: {sql}");
            }
        }
    }
}

/// A page number as a client may send it, and what it names.
fn page_number() -> impl Strategy<Value = (String, PageNumber)> {
    prop_oneof![
        (any::<i32>(), "[ \t]{0,2}", "[ \t]{0,2}")
            .prop_map(|(n, a, b)| (format!("{a}{n}{b}"), PageNumber::Number(n.into()))),
        (1..=60i64).prop_map(|n| (n.to_string(), PageNumber::Number(n))),
        (1..=60i64).prop_map(|n| (format!("+{n}"), PageNumber::Number(n))),
        Just(("1_0".to_string(), PageNumber::Number(10))),
        Just(("last".to_string(), PageNumber::Last)),
        Just((
            "99999999999999999999999".to_string(),
            PageNumber::Number(i64::MAX)
        )),
        Just((
            "-99999999999999999999999".to_string(),
            PageNumber::Number(-i64::MAX)
        )),
        "[a-zA-Z.]{0,8}|[0-9]+\\.[0-9]*|[0-9]*_|__[0-9]|--1|Last|LAST|\\PC{0,4}[.a-z]"
            .prop_filter("not a number", |s| s != "last"
                && !s.trim().chars().all(|c| c.is_ascii_digit()))
            .prop_map(|s| (s, PageNumber::Invalid)),
    ]
}

fn page_size() -> impl Strategy<Value = (String, PageSize)> {
    prop_oneof![
        any::<i32>().prop_map(|n| (n.to_string(), PageSize::Requested(n.into()))),
        (-5..=150i64).prop_map(|n| (format!(" {n}\n"), PageSize::Requested(n))),
        "[a-zA-Z.]{0,8}|[0-9]+\\.[0-9]+|\\PC{0,4}[a-z]"
            .prop_filter("not a number", |s| !s
                .trim()
                .chars()
                .all(|c| c.is_ascii_digit()))
            .prop_map(|s| (s, PageSize::Invalid)),
    ]
}

proptest! {
    /// `page` and `page_size`, repeated (the last one counts, as in Django): the page request
    /// they name, and `Invalid page.` exactly when the page is not within the pages of 1,000 rows.
    #[test]
    fn page_parameters_are_read_as_django_reads_them(
        pages in vec(page_number(), 0..3),
        sizes in vec(page_size(), 0..3),
    ) {
        let mut pairs: Vec<(&str, &str)> = pages.iter().map(|(text, _)| ("page", text.as_str())).collect();
        pairs.extend(sizes.iter().map(|(text, _)| ("page_size", text.as_str())));
        let request = PageRequest {
            number: pages.last().map_or(PageNumber::Number(1), |(_, n)| *n),
            size: sizes.last().map_or(PageSize::Default, |(_, s)| *s),
        };
        let size = match request.size {
            PageSize::Default => 20,
            PageSize::Requested(n) if n > 0 => n.min(100),
            _ => 100,
        };
        let pages_of_1000 = (1000 + size - 1) / size;
        let valid = match request.number {
            PageNumber::Last => true,
            PageNumber::Number(n) => (1..=pages_of_1000).contains(&n),
            PageNumber::Invalid => false,
        };
        let answer = fuzzing::list_query(&query(&pairs));
        if valid {
            prop_assert_eq!(answer.ok(), Some(request));
        } else {
            prop_assert!(matches!(answer, Err(ServiceError::InvalidPage)), "{:?}", answer);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ordering

const STAGE_ORDERING: &[&str] = &[
    "pk",
    "name",
    "public_key",
    "js_url",
    "api_url",
    "interactive",
    "score_min_threshold",
    "score_max_threshold",
    "error_on_invalid_score",
];
const FLOW_ORDERING: &[&str] = &[
    "pk",
    "policybindingmodel_ptr_id",
    "name",
    "slug",
    "title",
    "designation",
    "background",
    "policy_engine_mode",
    "compatibility_mode",
    "layout",
    "denied_action",
    "authentication",
];
const BINDING_ORDERING: &[&str] = &[
    "pk",
    "policybindingmodel_ptr_id",
    "target",
    "stage",
    "evaluate_on_plan",
    "re_evaluate_policies",
    "order",
    "policy_engine_mode",
    "invalid_response_action",
];

/// One term of an `ordering` value: a field (known to the list or not), maybe `-`, maybe
/// surrounded by white space Python strips.
fn ordering_term(fields: &'static [&'static str]) -> impl Strategy<Value = String> {
    let field = prop_oneof![
        3 => prop::sample::select(fields).prop_map(str::to_string),
        1 => prop_oneof![
            Just("stage_obj".to_string()),
            Just("cache_count".to_string()),
            Just("--name".to_string()),
            Just("NAME".to_string()),
            Just(String::new()),
            "[a-z_]{1,10}",
            "\\PC{0,6}",
        ],
    ];
    (
        field,
        any::<bool>(),
        "[ \t\u{1f}]{0,1}",
        "[ \u{a0}\u{1c}]{0,1}",
    )
        .prop_map(|(field, desc, a, b)| format!("{a}{}{field}{b}", if desc { "-" } else { "" }))
}

fn ordering_value(fields: &'static [&'static str]) -> impl Strategy<Value = String> {
    vec(ordering_term(fields), 0..6).prop_map(|terms| terms.join(","))
}

/// DRF's `OrderingFilter` over `fields`: terms split on commas and stripped, kept when (less one
/// leading `-`) a known field; the list's default when none is; a repeated field changes nothing
/// (its first place counts, as in SQL). Then the tie break.
fn drf_ordering(param: &str, fields: &[&str], default: &[&str]) -> Vec<(String, Order)> {
    let mut terms: Vec<(String, Order)> = Vec::new();
    for term in param.split(',') {
        let term = term.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
        let (field, order) = match term.strip_prefix('-') {
            Some(field) => (field, Order::Desc),
            None => (term, Order::Asc),
        };
        if fields.contains(&field) && !terms.iter().any(|(seen, _)| seen == field) {
            terms.push((field.to_string(), order));
        }
    }
    if terms.is_empty() {
        terms = default
            .iter()
            .map(|f| (f.to_string(), Order::Asc))
            .collect();
    }
    terms.push(("tiebreak".to_string(), Order::Asc));
    terms
}

fn column(name: &str) -> SimpleExpr {
    Expr::col(Alias::new(name))
}

fn list_order_sql(ordering: &str, backend: DatabaseBackend) -> [String; 3] {
    let ordering = Some(ordering.to_string());
    let order_by = |sql: String| {
        sql.split(" ORDER BY ")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    [
        order_by(
            stages::list_query(&StageFilter {
                ordering: ordering.clone(),
                ..Default::default()
            })
            .expect("builds")
            .statement(backend)
            .sql,
        ),
        order_by(
            flows::store::list_query(&FlowFilter {
                ordering: ordering.clone(),
                ..Default::default()
            })
            .expect("builds")
            .statement(backend)
            .sql,
        ),
        order_by(
            bindings::list_query(&BindingFilter {
                ordering,
                ..Default::default()
            })
            .expect("builds")
            .statement(backend)
            .sql,
        ),
    ]
}

proptest! {
    /// Any `ordering` value orders as DRF's `OrderingFilter` does.
    #[test]
    fn ordering_is_drfs(param in prop_oneof![ordering_value(FLOW_ORDERING), any::<String>()]) {
        let fields: Vec<(&str, SimpleExpr)> = FLOW_ORDERING.iter().map(|f| (*f, column(f))).collect();
        let built = pagination::ordering(Some(param.as_str()), &fields, &["slug", "name"], column("tiebreak"));
        let expected: Vec<(SimpleExpr, Order)> = drf_ordering(&param, FLOW_ORDERING, &["slug", "name"])
            .into_iter()
            .map(|(field, order)| (column(&field), order))
            .collect();
        prop_assert_eq!(format!("{built:?}"), format!("{expected:?}"));
    }

    /// On the real lists: unknown fields are dropped (as if they were not there), an ordering of
    /// nothing known is the list's default, and a known field changes the order.
    #[test]
    fn lists_ignore_unknown_ordering_fields(
        stage in ordering_value(STAGE_ORDERING),
        flow in ordering_value(FLOW_ORDERING),
        binding in ordering_value(BINDING_ORDERING),
    ) {
        for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
            let defaults = list_order_sql("", backend);
            let lists = [(stage.as_str(), STAGE_ORDERING), (flow.as_str(), FLOW_ORDERING), (binding.as_str(), BINDING_ORDERING)];
            for (i, (param, fields)) in lists.into_iter().enumerate() {
                let known: Vec<String> = drf_ordering(param, fields, &[])
                    .into_iter()
                    .filter(|(field, _)| field != "tiebreak")
                    .map(|(field, order)| format!("{}{field}", if order == Order::Desc { "-" } else { "" }))
                    .collect();
                let sql = list_order_sql(param, backend);
                prop_assert_eq!(&sql[i], &list_order_sql(&known.join(","), backend)[i]);
                if known.is_empty() {
                    prop_assert_eq!(&sql[i], &defaults[i]);
                }
            }
        }
    }
}

/// Python strips the ASCII information separators too: `-name\x1f` is `-name` to DRF.
#[test]
fn ordering_and_search_split_on_pythons_white_space() {
    for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
        assert_eq!(
            list_order_sql("\u{1c}-name\u{1f}, slug\u{1e}", backend),
            list_order_sql("-name,slug", backend)
        );
        assert_ne!(
            list_order_sql("-name", backend),
            list_order_sql("", backend)
        );
    }
    assert_eq!(
        pagination::search_terms(Some("a\u{1f}b\u{1c}c")).expect("within limits"),
        ["a", "b", "c"]
    );
}

// ---------------------------------------------------------------------------------------------
// GraphQL documents

fn graphql(query: &str) -> Result<(), String> {
    let body = serde_json::to_vec(&json!({ "query": query })).expect("serializes");
    fuzzing::graphql_request(&body)
}

const GRAPHQL_TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "query",
    "mutation",
    "fragment F on Query",
    "...F",
    "... on Query",
    "a",
    "b: a",
    "captchaStages",
    "flows",
    "results",
    "id",
    "__typename",
    "\"",
    "\"\"\"",
    "\\",
    "#",
    "\n",
    " ",
    ",",
    ":",
    "$v",
    "@skip(if: true)",
    "1",
    "\"s\"",
    "[1,2]",
    "{x: 1}",
];

proptest! {
    /// Any request body, and any GraphQL-token soup as a document: an answer, never a panic.
    #[test]
    fn any_graphql_body_is_answered(body in body_bytes()) {
        let _ = fuzzing::graphql_request(&body);
    }

    #[test]
    fn any_graphql_document_is_answered(tokens in vec(prop::sample::select(GRAPHQL_TOKENS), 0..300)) {
        let _ = graphql(&tokens.concat());
    }

    /// Nesting: `{a{a…}}` is refused exactly when it nests deeper than `MAX_GRAPHQL_NESTING`,
    /// before the (recursive) parser sees it.
    #[test]
    fn graphql_nesting_is_bounded(levels in 1..200usize, bracket in prop::sample::select(&["{a", "{a(x:[", "{a(x:{y:"][..])) {
        let closing: String = bracket.chars().rev().filter_map(|c| match c {
            '{' => Some('}'),
            '[' => Some(']'),
            '(' => Some(')'),
            _ => None,
        }).collect();
        let document = format!("{}{}", bracket.repeat(levels), closing.repeat(levels));
        let nesting = levels * bracket.matches(['{', '[', '(']).count();
        match graphql(&document) {
            Err(message) if message.contains("nests too deeply") => prop_assert!(nesting > MAX_GRAPHQL_NESTING),
            _ => prop_assert!(nesting <= MAX_GRAPHQL_NESTING),
        }
    }

    /// Aliases and root fields: refused exactly beyond their limits.
    #[test]
    fn graphql_aliases_and_root_fields_are_bounded(aliases in 0..300usize, roots in 1..60usize) {
        let aliased: String = (0..aliases).map(|i| format!("a{i}: __typename ")).collect();
        let document = format!("{{ x {{ {aliased} id }} {} }}", "__typename ".repeat(roots - 1));
        let answer = graphql(&document);
        if roots > MAX_GRAPHQL_ROOT_FIELDS {
            prop_assert!(answer.as_ref().is_err_and(|m| m.contains("root fields")), "{:?}", answer);
        } else if aliases > MAX_GRAPHQL_ALIASES {
            prop_assert!(answer.as_ref().is_err_and(|m| m.contains("aliases")), "{:?}", answer);
        } else {
            prop_assert!(answer.is_ok(), "{:?}", answer);
        }
    }

    /// Size: a document over `MAX_GRAPHQL_QUERY_BYTES` is refused, whatever it holds.
    #[test]
    fn graphql_size_is_bounded(padding in 0..(2 * MAX_GRAPHQL_QUERY_BYTES)) {
        let document = format!("{{ __typename }}\n#{}", "x".repeat(padding));
        let answer = graphql(&document);
        if document.len() > MAX_GRAPHQL_QUERY_BYTES {
            prop_assert!(answer.is_err_and(|m| m.contains("too large")));
        } else {
            prop_assert!(answer.is_ok());
        }
    }
}

/// The longest chain of fragments that fits the size limit, each spreading the previous one:
/// counted without running out of stack.
#[test]
fn graphql_fragment_chains_are_counted_within_the_stack() {
    let mut document = String::from("{ ...F0 } fragment F0 on Query { __typename }");
    let mut i = 0;
    loop {
        let next = format!(" fragment F{} on Query {{ ...F{i} }}", i + 1);
        if document.len() + next.len() > MAX_GRAPHQL_QUERY_BYTES {
            break;
        }
        document.push_str(&next);
        i += 1;
    }
    let document = document.replacen("...F0 }", &format!("...F{i} }}"), 1);
    // The server's worker threads have 2 MiB of stack; so has this one.
    let answer = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || graphql(&document))
        .expect("spawns")
        .join()
        .expect("returns");
    assert!(answer.is_ok(), "{answer:?}");
}

proptest! {
    #![proptest_config(fewer_cases(8))]

    /// Every list's filters with any values at once, built to SQL for both databases.
    #[test]
    fn any_filter_values_build_sql(values in vec(prop_oneof![any::<String>(), "[ -~]{0,12}", Just(String::new())], 20)) {
        let pairs: Vec<(&str, &str)> = [
            "name", "public_key", "slug", "flow_uuid", "designation", "denied_action", "target",
            "stage", "order", "evaluate_on_plan", "re_evaluate_policies", "policy_engine_mode",
            "invalid_response_action", "fsb_uuid", "pbm_uuid", "policies", "search", "ordering",
            "page", "page_size",
        ]
        .into_iter()
        .zip(values.iter().map(String::as_str))
        .collect();
        match fuzzing::list_query(&query(&pairs)) {
            Ok(_) | Err(ServiceError::Validation(_) | ServiceError::InvalidPage) => {}
            Err(other) => prop_assert!(false, "unexpected answer {other:?}"),
        }
    }
}
