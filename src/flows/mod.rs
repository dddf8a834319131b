//! Flows and the bindings that tie stages into them: the read model, the rules of a nested
//! `flow_set` item, and the writes that create, update and bind flows inside a stage's
//! transaction. Used by `stages`; knows nothing of either front end.

mod input;
mod store;

pub use input::{FLOW_FIELDS, FlowInput, FlowItemCheck, SLUG_TAKEN, ValidFlow, check_flow_set};
pub use store::{
    bind_new_flows, bindings_of_stage_for_update, bindings_of_stages, flow_by_slug, list_flows,
    stage_ids_of_flows, sync_flow_set, taken_slugs,
};

use crate::choice_enum;
use crate::validation::Choice;
use uuid::Uuid;

choice_enum!(
    /// What a flow is for.
    Designation {
        Authentication => "authentication",
        Authorization => "authorization",
        Invalidation => "invalidation",
        Enrollment => "enrollment",
        Unenrollment => "unenrollment",
        Recovery => "recovery",
        StageConfiguration => "stage_configuration",
    }
);

choice_enum!(
    /// Whether all or any of a flow's policies must pass.
    PolicyEngineMode { All => "all", Any => "any" }
);

choice_enum!(
    FlowLayout {
        Stacked => "stacked",
        ContentLeft => "content_left",
        ContentRight => "content_right",
        SidebarLeft => "sidebar_left",
        SidebarRight => "sidebar_right",
    }
);

choice_enum!(
    /// What happens when a user may not run the flow.
    DeniedAction {
        MessageContinue => "message_continue",
        Message => "message",
        Continue => "continue",
    }
);

/// What authentik's flows show while no background image is stored.
const DEFAULT_BACKGROUND: &str = "/static/dist/assets/images/flow_background.jpg";

#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub id: Uuid,
    pub policybindingmodel_ptr_id: Uuid,
    pub name: String,
    pub slug: String,
    pub title: String,
    pub designation: Designation,
    background: Option<String>,
    pub policy_engine_mode: PolicyEngineMode,
    pub compatibility_mode: bool,
    pub layout: FlowLayout,
    pub denied_action: DeniedAction,
}

impl Flow {
    /// The background as authentik renders it: the default image, a stored URL as is, or a
    /// stored file under `/media/`.
    pub fn background_url(&self) -> String {
        match self.background.as_deref() {
            None | Some("") => DEFAULT_BACKGROUND.to_string(),
            Some(url) if url.starts_with("http") => url.to_string(),
            Some(path) => format!("/media/{path}"),
        }
    }

    pub fn export_url(&self) -> String {
        format!("/api/v3/flows/instances/{}/export/", self.slug)
    }
}

impl From<entity::flow::Model> for Flow {
    fn from(row: entity::flow::Model) -> Self {
        // Stored choices were validated on the way in; the defaults only guard against rows
        // written by something else.
        Flow {
            id: row.flow_uuid,
            policybindingmodel_ptr_id: row.policybindingmodel_ptr_id,
            designation: Designation::from_value(&row.designation)
                .unwrap_or(Designation::Authentication),
            policy_engine_mode: PolicyEngineMode::from_value(&row.policy_engine_mode)
                .unwrap_or(PolicyEngineMode::Any),
            layout: FlowLayout::from_value(&row.layout).unwrap_or(FlowLayout::Stacked),
            denied_action: DeniedAction::from_value(&row.denied_action)
                .unwrap_or(DeniedAction::MessageContinue),
            name: row.name,
            slug: row.slug,
            title: row.title,
            background: row.background,
            compatibility_mode: row.compatibility_mode,
        }
    }
}

/// A stage bound into a flow at an order.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub id: Uuid,
    pub order: i32,
    pub flow: Flow,
}
