//! Flows: the declaration of a flow (and of `FlowSet`, the narrower flow of a stage's
//! `flow_set`), its choices, and the use cases of `/api/v3/flows/instances/` and GraphQL's
//! `flow`, `flows`, `createFlow`, …. Bindings are `crate::bindings`; a stage's nested `flow_set`
//! writes are here too (`store::bind_new_flows`, `store::sync_flow_set`), inside the stage's
//! transaction. Knows nothing of either front end.

pub mod store;

use serde::Serializer;
use uuid::Uuid;

use crate::auth::{Permission, Principal};
use crate::choice_enum;
use crate::db::{self, Db};
use crate::error::{ErrorTree, FieldErrors, ServiceError};
use crate::limits::MAX_TEXT_CHARS;
use crate::object::{Columns, WriteMode, api_object};
use crate::pagination::{Page, PageRequest};
use crate::stages::Submitted;
use crate::used_by::{UsedBy, UsedByAction};

pub const NO_FLOW: &str = "No Flow matches the given query.";
pub const SLUG_TAKEN: &str = "Flow with this slug already exists.";
/// What authentik's flows show while no background image is stored.
const DEFAULT_BACKGROUND: &str = "/static/dist/assets/images/flow_background.jpg";

choice_enum!(
    /// What a flow is for.
    Designation, graphql "FlowDesignation", schema "FlowDesignationEnum" {
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
    /// Whether all or any of the policies must pass.
    PolicyEngineMode, graphql "PolicyEngineMode", schema "PolicyEngineMode" { All => "all", Any => "any" }
);

choice_enum!(
    FlowLayout, graphql "FlowLayout", schema "FlowLayoutEnum" {
        Stacked => "stacked",
        ContentLeft => "content_left",
        ContentRight => "content_right",
        SidebarLeft => "sidebar_left",
        SidebarRight => "sidebar_right",
    }
);

choice_enum!(
    /// What happens when a user may not run the flow.
    DeniedAction, graphql "DeniedAction", schema "DeniedActionEnum" {
        MessageContinue => "message_continue",
        Message => "message",
        Continue => "continue",
    }
);

choice_enum!(
    /// Who may run the flow.
    Authentication, graphql "FlowAuthentication", schema "AuthenticationEnum" {
        None => "none",
        RequireAuthenticated => "require_authenticated",
        RequireUnauthenticated => "require_unauthenticated",
        RequireSuperuser => "require_superuser",
        RequireRedirect => "require_redirect",
        RequireOutpost => "require_outpost",
    }
);

/// A flow, as REST (`Flow`, and `FlowSet` inside a stage) and GraphQL (`Flow`) show it.
#[api_object(
    schema = "Flow",
    description = "Flow Serializer",
    graphql = "Flow",
    complex,
    stored,
    input(
        rest = "FlowRequest",
        patched = "PatchedFlowRequest",
        create = "CreateFlowInput",
        update = "UpdateFlowInput"
    ),
    view(
        name = FlowSet,
        schema = "FlowSet",
        description = "Stripped down flow serializer",
        fields(
            pk,
            policybindingmodel_ptr_id,
            name,
            slug,
            title,
            designation,
            background,
            policy_engine_mode,
            compatibility_mode,
            export_url,
            layout,
            denied_action
        ),
        input(rest = "FlowSetRequest", create = "FlowSetInput")
    )
)]
pub struct Flow {
    /// The flow UUID (REST's `pk`).
    #[field(read_only, graphql = "id", column = "flow_uuid")]
    pub pk: Uuid,
    /// In authentik the id of the flow's policy-binding parent.
    #[field(read_only)]
    pub policybindingmodel_ptr_id: Uuid,
    #[field(required, max_length = MAX_TEXT_CHARS)]
    pub name: String,
    /// Visible in the URL.
    #[field(required, slug)]
    pub slug: String,
    /// Shown as the Title in Flow pages.
    #[field(required, max_length = MAX_TEXT_CHARS)]
    pub title: String,
    /// Decides what this Flow is used for. For example, the Authentication flow is redirect to when an un-authenticated user visits authentik.
    #[field(required, choice)]
    pub designation: Designation,
    /// Get the URL to the background image. If the name is /static or starts with http
    /// it is returned as-is
    #[field(read_only, read_with = background_url)]
    pub background: String,
    /// The stages bound into the flow, by binding order (GraphQL: `stages`, the objects).
    #[field(
        read_only,
        computed,
        graphql_skip,
        schema(schema_with = crate::object::read_only_uuids_schema)
    )]
    pub stages: Vec<Uuid>,
    /// No policies here: always empty.
    #[field(read_only, computed, schema(schema_with = crate::object::read_only_uuids_schema))]
    pub policies: Vec<Uuid>,
    /// Get count of cached flows
    #[field(read_only, computed, schema(schema_with = crate::object::read_only_integer_schema))]
    pub cache_count: i32,
    #[field(choice, default = PolicyEngineMode::Any)]
    pub policy_engine_mode: PolicyEngineMode,
    /// Enable compatibility mode, increases compatibility with password managers on mobile devices.
    #[field(default = false)]
    pub compatibility_mode: bool,
    /// Get export URL for flow
    #[field(read_only, computed)]
    pub export_url: String,
    #[field(choice, default = FlowLayout::Stacked)]
    pub layout: FlowLayout,
    /// Configure what should happen when a flow denies access to a user.
    #[field(choice, default = DeniedAction::MessageContinue)]
    pub denied_action: DeniedAction,
    /// Required level of authentication and authorization to access a flow.
    #[field(choice, default = Authentication::None)]
    pub authentication: Authentication,
}

/// The background as authentik renders it: the default image, a stored URL or static path as
/// is, or a stored file under `/media/`.
fn background_url(stored: Option<String>) -> String {
    match stored.as_deref() {
        None | Some("") => DEFAULT_BACKGROUND.to_string(),
        Some(url) if url.starts_with("http") || url.starts_with("/static") => url.to_string(),
        Some(path) => format!("/media/{path}"),
    }
}

impl Flow {
    /// Fills what is derived from the stored columns (a read leaves it empty).
    pub(crate) fn derive_fields(&mut self) {
        self.export_url = format!("/api/v3/flows/instances/{}/export/", self.slug);
    }

    /// A stage's `flow_set` shows each flow as authentik's narrower `FlowSet`.
    pub fn as_flow_set(&self) -> FlowSet {
        FlowSet::from(self)
    }
}

/// `serialize_with` of a stage's `flow_set`: the flows as `FlowSet`s.
pub fn serialize_flow_set<S: Serializer>(flows: &[Flow], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(flows.iter().map(Flow::as_flow_set))
}

/// How a flow is named: REST paths name it by slug, GraphQL by slug or id.
#[derive(Clone, Debug)]
pub enum FlowKey {
    Slug(String),
    Id(Uuid),
}

/// The filters of the flow list (each as the query string gives it; empty means none).
#[derive(Clone, Debug, Default)]
pub struct FlowFilter {
    pub flow_uuid: Option<String>,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub designation: Option<String>,
    pub denied_action: Option<String>,
    pub search: Option<String>,
    pub ordering: Option<String>,
}

/// A unique slug taken: the field error DRF's UniqueValidator gives.
fn slug_taken() -> ServiceError {
    ServiceError::Validation(FieldErrors::from([(
        "slug".to_string(),
        ErrorTree::message(SLUG_TAKEN),
    )]))
}

/// `POST /api/v3/flows/instances/`, `createFlow`.
pub async fn create_flow(
    db: &Db,
    principal: &Principal,
    input: Submitted<FlowInput>,
) -> Result<Flow, ServiceError> {
    principal.require(Permission::AddFlow)?;
    let changes = input?
        .check(WriteMode::Create)
        .map_err(ServiceError::Validation)?
        .with_defaults();
    db::with_write_retries(|| async {
        let txn = db.begin_write().await?;
        let flow = store::insert_flow(&txn, &changes).await?;
        txn.commit().await?;
        Ok(flow)
    })
    .await
    .map_err(|err| err.unique_violation_as(slug_taken))
}

/// `PUT` (replace) and `PATCH` (update) of one flow by slug; `replaceFlow`, `updateFlow`. The
/// slug may change: the flow keeps its pk and its bindings.
pub async fn update_flow(
    db: &Db,
    principal: &Principal,
    key: Submitted<FlowKey>,
    input: Submitted<FlowInput>,
    mode: WriteMode,
) -> Result<Flow, ServiceError> {
    principal.require(Permission::ChangeFlow)?;
    let key = key?;
    let flow = db::with_write_retries(|| async {
        let txn = db.begin_write().await?;
        let mut flow = store::flow_for_update(&txn, &key)
            .await?
            .ok_or(ServiceError::NotFound(NO_FLOW))?;
        // The flow must exist before the body is looked at: authentik answers 404 before 400.
        let input = input.as_ref().map_err(Clone::clone)?;
        let changes = input.check(mode).map_err(ServiceError::Validation)?;
        store::update_flow(&txn, flow.pk, &changes).await?;
        changes.apply_to(&mut flow);
        flow.derive_fields();
        txn.commit().await?;
        Ok(flow)
    })
    .await
    .map_err(|err| err.unique_violation_as(slug_taken))?;
    flow.with_stages(db).await
}

/// `DELETE`, `deleteFlow`: the flow and its bindings; never a stage.
pub async fn delete_flow(
    db: &Db,
    principal: &Principal,
    key: Submitted<FlowKey>,
) -> Result<Uuid, ServiceError> {
    principal.require(Permission::DeleteFlow)?;
    let key = key?;
    db::with_write_retries(|| async { Ok(store::delete_flow(&db.writer, &key).await?) })
        .await?
        .ok_or(ServiceError::NotFound(NO_FLOW))
}

/// `GET …/instances/{slug}/`, `flow(slug | id)`: `None` when there is none.
pub async fn find_flow(
    db: &Db,
    principal: &Principal,
    key: Submitted<FlowKey>,
) -> Result<Option<Flow>, ServiceError> {
    principal.require(Permission::ViewFlow)?;
    let key = key?;
    let mut flows = store::flows_by_key(&db.reader, &key).await?;
    store::add_stage_ids(&db.reader, &mut flows).await?;
    Ok(flows.pop())
}

/// Flows by id (a binding's `target` in GraphQL, batched). The caller checks the permission.
pub async fn load_by_ids(db: &Db, ids: &[Uuid]) -> Result<Vec<Flow>, ServiceError> {
    Ok(store::flows_by_ids(&db.reader, ids).await?)
}

/// `GET /api/v3/flows/instances/`: one page, with each flow's stage ids, in three queries
/// whatever the page size.
pub async fn list_flows(
    db: &Db,
    principal: &Principal,
    filter: &FlowFilter,
    request: &PageRequest,
) -> Result<Page<Flow>, ServiceError> {
    let mut page = page_of_flows(db, principal, filter, request, Columns::All).await?;
    store::add_stage_ids(&db.reader, &mut page.results).await?;
    Ok(page)
}

/// `flows(...)`: one page without REST's stage ids (GraphQL shows the stages themselves,
/// through its batch loader), in two queries.
pub async fn page_of_flows(
    db: &Db,
    principal: &Principal,
    filter: &FlowFilter,
    request: &PageRequest,
    columns: Columns<'_>,
) -> Result<Page<Flow>, ServiceError> {
    principal.require(Permission::ViewFlow)?;
    store::page(&db.reader, filter, request, columns).await
}

/// `GET …/instances/{slug}/used_by/`: for each binding (by order) the binding, then each bound
/// stage, as a live authentik answers; only what the caller may view.
pub async fn flow_used_by(
    db: &Db,
    principal: &Principal,
    key: Submitted<FlowKey>,
) -> Result<Vec<UsedBy>, ServiceError> {
    let flow = find_flow(db, principal, key)
        .await?
        .ok_or(ServiceError::NotFound(NO_FLOW))?;
    let bindings = store::bindings_with_stage_names(&db.reader, flow.pk).await?;
    let mut used_by = Vec::new();
    if principal.may(Permission::ViewFlowStageBinding) {
        used_by.extend(bindings.iter().map(|(binding, order, _)| UsedBy {
            app: "authentik_flows",
            model_name: "flowstagebinding",
            pk: binding.to_string(),
            name: format!("Flow-stage binding #{order} to {}", flow.pk),
            action: UsedByAction::Cascade,
        }));
    }
    if principal.may(Permission::ViewCaptchaStage) {
        used_by.extend(bindings.iter().map(|(_, _, (stage, name))| UsedBy {
            app: "authentik_flows",
            model_name: "stage",
            pk: stage.to_string(),
            name: format!("Stage {name}"),
            action: UsedByAction::CascadeMany,
        }));
    }
    Ok(used_by)
}

impl Flow {
    /// The flow with its stage ids (a write answers what a read would).
    async fn with_stages(mut self, db: &Db) -> Result<Flow, ServiceError> {
        store::add_stage_ids(&db.reader, std::slice::from_mut(&mut self)).await?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::StoredObject;

    #[test]
    fn graphql_reads_bring_back_what_a_selection_shows() {
        let only = |names: &'static [&'static str]| move |name: &str| names.contains(&name);
        // The key always, then each selected stored field's column.
        assert_eq!(
            Flow::columns_for(only(&["slug", "stageBindings"])),
            Some(vec!["flow_uuid", "slug"])
        );
        assert_eq!(
            Flow::columns_for(only(&["id", "background", "deniedAction"])),
            Some(vec!["flow_uuid", "background", "denied_action"])
        );
        // A field computed from other columns reads them all.
        assert_eq!(Flow::columns_for(only(&["exportUrl"])), None);
        // The references a binding's relations follow, whatever is selected.
        assert_eq!(
            crate::bindings::FlowStageBinding::columns_for(only(&["order"])),
            Some(vec!["fsb_uuid", "target", "stage", "order"])
        );
    }
}
