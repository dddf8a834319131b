//! SeaORM entities of stages-api. They mirror authentik's model (stage, captcha stage, flow,
//! flow–stage binding) plus the API tokens of this service, and derive no API traits: the REST
//! and GraphQL wire types live in the service crate and convert from these explicitly.

pub mod api_token;
pub mod captcha_stage;
pub mod flow;
pub mod flow_plan;
pub mod flow_stage_binding;
pub mod secret;
pub mod stage;
