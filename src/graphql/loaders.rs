//! Batch loading of the relations GraphQL follows (`Flow.stages`, `Flow.stageBindings`,
//! `FlowStageBinding.target`, `FlowStageBinding.stage`). Every object a response will show is
//! registered when its parent is built, and the first field that needs a relation loads it for
//! every registered object at once, so a page of 100 flows with their bindings and stages costs
//! the same queries as a page of one, deterministically (a time-windowed DataLoader splits its
//! batch when resolving takes longer than its window). What a batch loads registers the next
//! level (a stage's flows, a binding's stage and flow).

use std::sync::{Arc, Mutex};

// foldhash rather than SipHash: the keys are uuids the service generated, and hashing them with
// SipHash was about 7 % of a flows page's instructions (callgrind, BENCHMARKS.md).
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use async_graphql::parser::types::ExecutableDocument;
use uuid::Uuid;

use super::documents::field_names;

use crate::auth::{Permission, Principal};
use crate::bindings::{self, FlowStageBinding};
use crate::db::Db;
use crate::error::ServiceError;
use crate::flows::{self, Flow};
use crate::object::{Columns, StoredObject};
use crate::stages::{self, CaptchaStage};

/// One relation: the keys waiting for the next load, and what was loaded (shared, so that every
/// field showing a loaded value reads it without a copy).
struct Batch<V> {
    pending: HashSet<Uuid>,
    loaded: HashMap<Uuid, V>,
}

impl<V> Default for Batch<V> {
    fn default() -> Self {
        Batch {
            pending: HashSet::new(),
            loaded: HashMap::new(),
        }
    }
}

impl<V> Batch<V> {
    fn register(&mut self, ids: impl IntoIterator<Item = Uuid>) {
        for id in ids {
            if !self.loaded.contains_key(&id) {
                self.pending.insert(id);
            }
        }
    }

    /// The keys to load with `id`, or `None` when `id` is loaded already.
    fn take_pending(&mut self, id: Uuid) -> Option<Vec<Uuid>> {
        if self.loaded.contains_key(&id) {
            return None;
        }
        self.pending.insert(id);
        Some(self.pending.drain().collect())
    }
}

#[derive(Default)]
struct State {
    /// Flow → its bindings, by order.
    bindings_of_flow: Batch<Arc<[FlowStageBinding]>>,
    /// Stage by id (a flow's stages, a binding's stage).
    stages: Batch<Option<Arc<CaptchaStage>>>,
    /// Flow by id (a binding's target).
    flows: Batch<Option<Flow>>,
}

/// What the reads for one GraphQL document bring back: the columns of each object some field of
/// the document can show (`None`: all of them), and whether stages carry their flows.
pub struct Shown {
    flows: Option<Vec<&'static str>>,
    bindings: Option<Vec<&'static str>>,
    stages: Option<Vec<&'static str>>,
    /// Only when the document selects `flowSet` somewhere; otherwise no field would show them.
    stage_flow_sets: bool,
    /// When the document can show a binding's stage or a flow's stages and no stage shows its
    /// flows, a flow's bindings are read with their stages in one statement: these columns of
    /// the bindings, then of their stages. Neither key is read unless shown: the stage's is the
    /// binding's `stage`, and nothing keys bindings by theirs.
    bindings_with_stages: Option<(Vec<&'static str>, Vec<&'static str>)>,
}

impl Shown {
    /// For a document (`None`: one that did not parse, which executes nothing).
    pub fn by(document: Option<&ExecutableDocument>) -> Self {
        let Some(document) = document else {
            return Shown {
                flows: None,
                bindings: None,
                stages: None,
                stage_flow_sets: true,
                bindings_with_stages: None,
            };
        };
        let names = field_names(document);
        let named = |name: &str| names.contains(name);
        Shown {
            flows: Flow::columns_for(named),
            bindings: FlowStageBinding::columns_for(named),
            stages: CaptchaStage::columns_for(named),
            stage_flow_sets: named("flowSet"),
            bindings_with_stages: joined_columns(named),
        }
    }
}

/// The columns of a read of bindings with their stages (`Shown::bindings_with_stages`).
fn joined_columns(named: impl Fn(&str) -> bool) -> Option<(Vec<&'static str>, Vec<&'static str>)> {
    if named("flowSet") || !(named("stage") || named("stages")) {
        return None;
    }
    let (binding_key_name, binding_key) = FlowStageBinding::KEY;
    let (_, stage_key) = CaptchaStage::KEY;
    let mut bindings = FlowStageBinding::columns_for(&named)?;
    bindings.retain(|column| *column != binding_key || named(binding_key_name));
    let mut stages = CaptchaStage::columns_for(&named)?;
    stages.retain(|column| *column != stage_key);
    Some((bindings, stages))
}

fn columns<'a>(shown: &'a Option<Vec<&'static str>>) -> Columns<'a> {
    shown.as_deref().map_or(Columns::All, Columns::Only)
}

/// Request-scoped: built per GraphQL request, with that request's caller.
pub struct Relations {
    db: Db,
    principal: Principal,
    shown: Arc<Shown>,
    state: Mutex<State>,
    /// One load at a time, so that concurrent fields share a batch instead of racing.
    loading: tokio::sync::Mutex<()>,
}

impl Relations {
    pub fn new(db: Db, principal: Principal, shown: Arc<Shown>) -> Self {
        Relations {
            db,
            principal,
            shown,
            state: Mutex::default(),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// The columns a root page of flows brings back for this document.
    pub fn flow_columns(&self) -> Columns<'_> {
        columns(&self.shown.flows)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("relations state")
    }

    /// Flows about to be shown: their bindings (and the bindings' stages) load with the next
    /// batch.
    pub fn register_flows<'a>(&self, flows: impl IntoIterator<Item = &'a Flow>) {
        self.state()
            .bindings_of_flow
            .register(flows.into_iter().map(|flow| flow.pk));
    }

    /// Stages about to be shown: their flows' relations load with the next batch.
    pub fn register_stages<'a>(&self, stages: impl IntoIterator<Item = &'a CaptchaStage>) {
        let mut state = self.state();
        for stage in stages {
            state
                .bindings_of_flow
                .register(stage.flow_set.iter().map(|flow| flow.pk));
        }
    }

    /// Bindings about to be shown: their stages and flows load with the next batch.
    pub fn register_bindings<'a>(&self, bindings: impl IntoIterator<Item = &'a FlowStageBinding>) {
        let mut state = self.state();
        for binding in bindings {
            state.stages.register([binding.stage]);
            state.flows.register([binding.target]);
        }
    }

    /// A flow's bindings, by order, if they are loaded already (the plain path).
    pub fn loaded_bindings(&self, flow: Uuid) -> Option<Arc<[FlowStageBinding]>> {
        self.state().bindings_of_flow.loaded.get(&flow).cloned()
    }

    /// A stage, if it is loaded already (the plain path).
    pub fn loaded_stage(&self, id: Uuid) -> Option<Option<Arc<CaptchaStage>>> {
        self.state().stages.loaded.get(&id).cloned()
    }

    /// A flow's bindings, by order: shown to whoever may view bindings.
    pub async fn bindings_of(&self, flow: Uuid) -> Result<Arc<[FlowStageBinding]>, ServiceError> {
        self.principal.require(Permission::ViewFlowStageBinding)?;
        self.load_bindings(flow).await
    }

    /// A flow's stages, by binding order: shown to whoever may view captcha stages.
    pub async fn stages_of(&self, flow: Uuid) -> Result<Vec<Arc<CaptchaStage>>, ServiceError> {
        self.principal.require(Permission::ViewCaptchaStage)?;
        let bindings = self.load_bindings(flow).await?;
        let mut stages = Vec::with_capacity(bindings.len());
        for binding in bindings.iter() {
            if let Some(stage) = self.load_stage(binding.stage).await? {
                stages.push(stage);
            }
        }
        Ok(stages)
    }

    /// A binding's stage: shown to whoever may view the binding.
    pub async fn stage(&self, id: Uuid) -> Result<Option<Arc<CaptchaStage>>, ServiceError> {
        self.load_stage(id).await
    }

    /// A binding's flow: shown to whoever may view the binding.
    pub async fn flow(&self, id: Uuid) -> Result<Option<Flow>, ServiceError> {
        let _loading = self.loading.lock().await;
        let Some(ids) = self.state().flows.take_pending(id) else {
            return Ok(self.state().flows.loaded[&id].clone());
        };
        let mut found: HashMap<Uuid, Flow> = flows::load_by_ids(&self.db, &ids)
            .await?
            .into_iter()
            .map(|flow| (flow.pk, flow))
            .collect();
        let mut state = self.state();
        for id in ids {
            let flow = found.remove(&id);
            if let Some(flow) = &flow {
                state.bindings_of_flow.register([flow.pk]);
            }
            state.flows.loaded.insert(id, flow);
        }
        Ok(state.flows.loaded[&id].clone())
    }

    async fn load_bindings(&self, flow: Uuid) -> Result<Arc<[FlowStageBinding]>, ServiceError> {
        let _loading = self.loading.lock().await;
        let Some(ids) = self.state().bindings_of_flow.take_pending(flow) else {
            return Ok(self.state().bindings_of_flow.loaded[&flow].clone());
        };
        let mut by_flow: HashMap<Uuid, Vec<FlowStageBinding>> = HashMap::with_capacity(ids.len());
        let mut state = if let Some((binding_columns, stage_columns)) =
            &self.shown.bindings_with_stages
        {
            let rows =
                bindings::load_of_flows_with_stages(&self.db, &ids, binding_columns, stage_columns)
                    .await?;
            let mut state = self.state();
            for (binding, stage) in rows {
                // A stage shown by several bindings is loaded once (the first row's copy).
                state.stages.pending.remove(&stage.pk);
                state
                    .stages
                    .loaded
                    .entry(stage.pk)
                    .or_insert_with(|| Some(Arc::new(stage)));
                by_flow.entry(binding.target).or_default().push(binding);
            }
            state
        } else {
            let bindings =
                bindings::load_of_flows(&self.db, &ids, columns(&self.shown.bindings)).await?;
            let mut state = self.state();
            for binding in bindings {
                state.stages.register([binding.stage]);
                by_flow.entry(binding.target).or_default().push(binding);
            }
            state
        };
        for id in ids {
            let mine = by_flow.remove(&id).unwrap_or_default();
            state.bindings_of_flow.loaded.insert(id, mine.into());
        }
        Ok(state.bindings_of_flow.loaded[&flow].clone())
    }

    async fn load_stage(&self, id: Uuid) -> Result<Option<Arc<CaptchaStage>>, ServiceError> {
        let _loading = self.loading.lock().await;
        let Some(ids) = self.state().stages.take_pending(id) else {
            return Ok(self.state().stages.loaded[&id].clone());
        };
        let stage_columns = columns(&self.shown.stages);
        let mut found = if self.shown.stage_flow_sets {
            stages::load_by_ids(&self.db, &ids, stage_columns).await?
        } else {
            stages::load_by_ids_without_flows(&self.db, &ids, stage_columns).await?
        };
        let mut state = self.state();
        for id in ids {
            let stage = found.remove(&id);
            if let Some(stage) = &stage {
                // The stage's own flows are the next level.
                state
                    .bindings_of_flow
                    .register(stage.flow_set.iter().map(|flow| flow.pk));
            }
            state.stages.loaded.insert(id, stage.map(Arc::new));
        }
        Ok(state.stages.loaded[&id].clone())
    }
}
