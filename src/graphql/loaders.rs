//! Batch loading of `Flow.stages`. Every flow a response will show is registered when its
//! parent objects are built, and the first `stages` field to run loads the stages of all
//! registered flows in one batch (three queries). A page of 100 stages with their flows and the
//! flows' stages costs the same queries as a page of one, deterministically: a time-windowed
//! DataLoader splits its batch when resolving takes longer than its window.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use uuid::Uuid;

use crate::auth::Principal;
use crate::db::Db;
use crate::error::ServiceError;
use crate::stages::{self, CaptchaStage};

/// Request-scoped: built per GraphQL request, with that request's caller.
pub struct FlowStages {
    db: Db,
    principal: Principal,
    batch: Mutex<Batch>,
    /// One load at a time, so that concurrent fields share a batch instead of racing.
    loading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Batch {
    pending: HashSet<Uuid>,
    loaded: HashMap<Uuid, Vec<CaptchaStage>>,
}

impl FlowStages {
    pub fn new(db: Db, principal: Principal) -> Self {
        FlowStages {
            db,
            principal,
            batch: Mutex::new(Batch::default()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// Flows about to be shown: their stages are loaded with the next batch.
    pub fn register(&self, flow_ids: impl IntoIterator<Item = Uuid>) {
        let mut batch = self.batch.lock().expect("batch lock");
        for id in flow_ids {
            if !batch.loaded.contains_key(&id) {
                batch.pending.insert(id);
            }
        }
    }

    pub async fn stages_of(&self, flow_id: Uuid) -> Result<Vec<CaptchaStage>, ServiceError> {
        let _loading = self.loading.lock().await;
        let pending: Vec<Uuid> = {
            let mut batch = self.batch.lock().expect("batch lock");
            if let Some(stages) = batch.loaded.get(&flow_id) {
                return Ok(stages.clone());
            }
            batch.pending.insert(flow_id);
            batch.pending.drain().collect()
        };
        let mut found =
            stages::captcha_stages_of_flows(&self.db, &self.principal, &pending).await?;
        // The stages just loaded show flows of their own: those form the next batch.
        let next_level: Vec<Uuid> = found
            .values()
            .flatten()
            .flat_map(|stage| stage.flows().map(|flow| flow.id))
            .collect();
        let mut batch = self.batch.lock().expect("batch lock");
        for id in pending {
            batch
                .loaded
                .insert(id, found.remove(&id).unwrap_or_default());
        }
        for id in next_level {
            if !batch.loaded.contains_key(&id) {
                batch.pending.insert(id);
            }
        }
        Ok(batch.loaded[&flow_id].clone())
    }
}
