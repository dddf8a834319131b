//! Batch loading for fields that would otherwise query once per parent object.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::Db;
use crate::error::ServiceError;
use crate::stages::{self, CaptchaStage};

/// `Flow.stages` for every flow of a response in one batch (three queries).
pub struct FlowStagesLoader {
    pub db: Db,
    pub principal: Principal,
}

impl Loader<Uuid> for FlowStagesLoader {
    type Value = Vec<CaptchaStage>;
    type Error = Arc<ServiceError>;

    async fn load(&self, flow_ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        stages::captcha_stages_of_flows(&self.db, &self.principal, flow_ids)
            .await
            .map_err(Arc::new)
    }
}
