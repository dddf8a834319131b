//! The executor's answers, as authentik's serializers render them (keys in their order; no
//! `response_errors` key unless there are errors: authentik's Python client cannot read a
//! `null` there).

use indexmap::IndexMap;
use serde::Serialize;
use utoipa::ToSchema;

use crate::flows::{Flow, FlowLayout};
use crate::stages::CaptchaStage;

/// What an anonymous caller's challenges show as the pending user's avatar.
pub const DEFAULT_AVATAR: &str = "/static/dist/assets/images/user_default.png";
const CANCEL_URL: &str = "/flows/-/cancel/";

/// Contextual flow information for a challenge
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ContextualFlowInfo)]
pub struct FlowInfo {
    pub title: String,
    pub background: String,
    pub cancel_url: String,
    pub layout: FlowLayout,
}

impl FlowInfo {
    /// The flow's title (authentik formats `%(app)s` and `%(user)s` into it: both empty for an
    /// anonymous caller without an application), background and layout; the cancel URL carries
    /// the page's query.
    pub fn of(flow: &Flow, query: &str) -> Self {
        FlowInfo {
            title: format_title(&flow.title),
            background: flow.background.clone(),
            cancel_url: if query.is_empty() {
                CANCEL_URL.to_string()
            } else {
                format!("{CANCEL_URL}?{query}")
            },
            layout: flow.layout,
        }
    }
}

/// Python's `title % {"app": "", "user": ""}`; a title that would not format (any other `%`
/// conversion) is shown as it is, as authentik does.
fn format_title(title: &str) -> String {
    if !title.contains('%') {
        return title.to_string();
    }
    let formatted = title
        .replace("%%", "\u{0}")
        .replace("%(app)s", "")
        .replace("%(user)s", "");
    if formatted.contains('%') {
        title.to_string()
    } else {
        formatted.replace('\u{0}', "%")
    }
}

/// Serializer for rest_framework's error messages
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ErrorDetail)]
pub struct ErrorDetail {
    pub string: String,
    pub code: String,
}

/// A response's errors by field (`token`), as authentik's `challenge_invalid` shapes them.
pub type ResponseErrors = IndexMap<String, Vec<ErrorDetail>>;

pub fn token_error(message: &str, code: &str) -> ResponseErrors {
    field_error("token", message, code)
}

/// One error of one field (or `non_field_errors`), as authentik's `ErrorDetail` list.
pub fn field_error(field: &str, message: &str, code: &str) -> ResponseErrors {
    IndexMap::from([(
        field.to_string(),
        vec![ErrorDetail {
            string: message.to_string(),
            code: code.to_string(),
        }],
    )])
}

/// A challenge's `component`: one value, so that the kinds of `ChallengeTypes` never overlap.
macro_rules! component_schema {
    ($($name:ident = $value:literal),* $(,)?) => {$(
        fn $name() -> utoipa::openapi::Object {
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .enum_values(Some([$value]))
                .default(Some(serde_json::Value::String($value.to_string())))
                .build()
        }
    )*};
}

component_schema!(
    captcha_component = "ak-stage-captcha",
    access_denied_component = "ak-stage-access-denied",
    redirect_component = "xak-flow-redirect",
);

/// Site public key
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = CaptchaChallenge)]
pub struct CaptchaChallenge {
    pub flow_info: FlowInfo,
    #[schema(schema_with = captcha_component)]
    pub component: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = Option<std::collections::HashMap<String, Vec<ErrorDetail>>>)]
    pub response_errors: Option<ResponseErrors>,
    pub pending_user: &'static str,
    pub pending_user_avatar: &'static str,
    pub site_key: String,
    pub js_url: String,
    pub interactive: bool,
}

impl CaptchaChallenge {
    pub fn new(flow_info: FlowInfo, stage: &CaptchaStage, errors: Option<ResponseErrors>) -> Self {
        CaptchaChallenge {
            flow_info,
            component: "ak-stage-captcha",
            response_errors: errors,
            pending_user: "",
            pending_user_avatar: DEFAULT_AVATAR,
            site_key: stage.public_key.clone(),
            js_url: stage.js_url.clone(),
            interactive: stage.interactive,
        }
    }
}

/// Challenge when a flow's active stage calls `stage_invalid()`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = AccessDeniedChallenge)]
pub struct AccessDeniedChallenge {
    pub flow_info: FlowInfo,
    #[schema(schema_with = access_denied_component)]
    pub component: &'static str,
    pub pending_user: &'static str,
    pub pending_user_avatar: &'static str,
    #[schema(required = false)]
    pub error_message: String,
}

impl AccessDeniedChallenge {
    pub fn new(flow_info: FlowInfo, error_message: &str) -> Self {
        AccessDeniedChallenge {
            flow_info,
            component: "ak-stage-access-denied",
            pending_user: "",
            pending_user_avatar: DEFAULT_AVATAR,
            error_message: error_message.to_string(),
        }
    }
}

/// Challenge type to redirect the client
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = RedirectChallenge)]
pub struct RedirectChallenge {
    #[schema(schema_with = redirect_component)]
    pub component: &'static str,
    pub to: String,
}

impl RedirectChallenge {
    pub fn to(to: String) -> Self {
        RedirectChallenge {
            component: "xak-flow-redirect",
            to,
        }
    }
}

/// Validate captcha token
#[derive(ToSchema)]
#[schema(as = CaptchaChallengeResponseRequest)]
#[allow(dead_code)]
pub struct CaptchaChallengeResponseRequest {
    #[schema(min_length = 1, default = "ak-stage-captcha", required = false)]
    component: String,
    #[schema(min_length = 1)]
    token: String,
}

/// One of the challenges this executor answers (authentik's `ChallengeTypes`, whose
/// discriminator is `component`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = ChallengeTypes, discriminator(property_name = "component", mapping(
    ("ak-stage-captcha" = "#/components/schemas/CaptchaChallenge"),
    ("ak-stage-access-denied" = "#/components/schemas/AccessDeniedChallenge"),
    ("xak-flow-redirect" = "#/components/schemas/RedirectChallenge"),
)))]
pub enum Challenge {
    Captcha(CaptchaChallenge),
    AccessDenied(AccessDeniedChallenge),
    Redirect(RedirectChallenge),
}

#[cfg(test)]
mod tests {
    use super::format_title;

    #[test]
    fn titles_format_as_python_does() {
        assert_eq!(format_title("Welcome"), "Welcome");
        assert_eq!(format_title("Welcome to %(app)s"), "Welcome to ");
        assert_eq!(format_title("100%% sure"), "100% sure");
        assert_eq!(format_title("50% off"), "50% off");
    }
}
