//! Reading and writing captcha stages (the stage row and its captcha row).

use entity::secret::SecretText;
use entity::{captcha_stage, stage};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    IntoActiveModel, JoinType, Order, PaginatorTrait, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, RelationTrait, Select, SelectModel, Selector,
};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::CaptchaStage;
use super::input::{
    DEFAULT_API_URL, DEFAULT_JS_URL, DEFAULT_SCORE_MAX_THRESHOLD, DEFAULT_SCORE_MIN_THRESHOLD,
    StageChanges,
};
use crate::error::ServiceError;
use crate::flows::Binding;
use crate::pagination::{exact_filter, search_condition, search_terms};

/// A stored captcha stage: the base stage row and its captcha row.
#[derive(Clone, Debug)]
pub struct StageRecord {
    pub stage: stage::Model,
    pub captcha: captcha_stage::Model,
}

impl StageRecord {
    /// A new stage with authentik's defaults; the required fields come from `changes`.
    pub fn new(changes: &StageChanges) -> Self {
        let id = Uuid::new_v4();
        let mut record = StageRecord {
            stage: stage::Model {
                stage_uuid: id,
                name: String::new(),
            },
            captcha: captcha_stage::Model {
                stage_ptr_id: id,
                public_key: String::new(),
                private_key: SecretText::new(String::new()),
                js_url: DEFAULT_JS_URL.to_string(),
                api_url: DEFAULT_API_URL.to_string(),
                interactive: false,
                score_min_threshold: DEFAULT_SCORE_MIN_THRESHOLD,
                score_max_threshold: DEFAULT_SCORE_MAX_THRESHOLD,
                error_on_invalid_score: true,
            },
        };
        record.apply(changes);
        record
    }

    pub fn apply(&mut self, changes: &StageChanges) {
        fn set<T: Clone>(target: &mut T, change: &Option<T>) {
            if let Some(value) = change {
                *target = value.clone();
            }
        }
        let captcha = &mut self.captcha;
        set(&mut self.stage.name, &changes.name);
        set(&mut captcha.public_key, &changes.public_key);
        if let Some(key) = &changes.private_key {
            captcha.private_key = SecretText::new(key.expose_secret().to_string());
        }
        set(&mut captcha.js_url, &changes.js_url);
        set(&mut captcha.api_url, &changes.api_url);
        set(&mut captcha.interactive, &changes.interactive);
        set(
            &mut captcha.score_min_threshold,
            &changes.score_min_threshold,
        );
        set(
            &mut captcha.score_max_threshold,
            &changes.score_max_threshold,
        );
        set(
            &mut captcha.error_on_invalid_score,
            &changes.error_on_invalid_score,
        );
    }

    pub fn id(&self) -> Uuid {
        self.stage.stage_uuid
    }
}

pub async fn name_taken(
    conn: &impl ConnectionTrait,
    name: &str,
    own_stage: Option<Uuid>,
) -> Result<bool, DbErr> {
    let mut query = stage::Entity::find().filter(stage::Column::Name.eq(name));
    if let Some(own) = own_stage {
        query = query.filter(stage::Column::StageUuid.ne(own));
    }
    Ok(query.count(conn).await? > 0)
}

pub async fn insert(conn: &impl ConnectionTrait, record: &StageRecord) -> Result<(), DbErr> {
    stage::Entity::insert(record.stage.clone().into_active_model())
        .exec_without_returning(conn)
        .await?;
    captcha_stage::Entity::insert(record.captcha.clone().into_active_model())
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes every column of both rows; the name only when it changed.
pub async fn update(
    conn: &impl ConnectionTrait,
    before: &StageRecord,
    after: &StageRecord,
) -> Result<(), DbErr> {
    if before.stage.name != after.stage.name {
        stage::Entity::update_many()
            .col_expr(stage::Column::Name, Expr::value(after.stage.name.clone()))
            .filter(stage::Column::StageUuid.eq(after.id()))
            .exec(conn)
            .await?;
    }
    if before.captcha != after.captcha {
        let row = after.captcha.clone().into_active_model().reset_all();
        captcha_stage::Entity::update_many()
            .set(row)
            .filter(captcha_stage::Column::StagePtrId.eq(after.id()))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Deletes the stage; its captcha row and bindings go with it (the flows stay).
pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let result = stage::Entity::delete_many()
        .filter(stage::Column::StageUuid.eq(id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

fn joined() -> Select<captcha_stage::Entity> {
    captcha_stage::Entity::find().join(JoinType::InnerJoin, captcha_stage::Relation::Stage.def())
}

/// A stored stage as it is shown, bindings still to be added: every column but the private key,
/// decoded by position (decoding by name cost a page of 100 stages thousands of name lookups).
impl FromQueryResult for CaptchaStage {
    fn from_query_result(row: &QueryResult, _prefix: &str) -> Result<Self, DbErr> {
        Ok(CaptchaStage {
            id: row.try_get_by_index(0)?,
            name: row.try_get_by_index(1)?,
            public_key: row.try_get_by_index(2)?,
            js_url: row.try_get_by_index(3)?,
            api_url: row.try_get_by_index(4)?,
            interactive: row.try_get_by_index(5)?,
            score_min_threshold: row.try_get_by_index(6)?,
            score_max_threshold: row.try_get_by_index(7)?,
            error_on_invalid_score: row.try_get_by_index(8)?,
            bindings: Vec::new(),
        })
    }
}

impl StageRecord {
    /// The stage as it is shown, with `bindings`: the private key stays behind.
    pub fn shown_with(self, bindings: Vec<Binding>) -> CaptchaStage {
        let captcha = self.captcha;
        CaptchaStage {
            id: self.stage.stage_uuid,
            name: self.stage.name,
            public_key: captcha.public_key,
            js_url: captcha.js_url,
            api_url: captcha.api_url,
            interactive: captcha.interactive,
            score_min_threshold: captcha.score_min_threshold,
            score_max_threshold: captcha.score_max_threshold,
            error_on_invalid_score: captcha.error_on_invalid_score,
            bindings,
        }
    }
}

/// The columns `CaptchaStage::from_query_result` reads, in its order.
fn select_rows(query: Select<captcha_stage::Entity>) -> Selector<SelectModel<CaptchaStage>> {
    use captcha_stage::Column as C;
    query
        .select_only()
        .column(stage::Column::StageUuid)
        .column(stage::Column::Name)
        .columns([C::PublicKey, C::JsUrl, C::ApiUrl, C::Interactive])
        .columns([
            C::ScoreMinThreshold,
            C::ScoreMaxThreshold,
            C::ErrorOnInvalidScore,
        ])
        .into_model()
}

/// The whole stored stage, private key included, for a write to start from, locked until the
/// transaction ends (`FOR UPDATE` on PostgreSQL; SQLite's write transaction holds the database):
/// a concurrent write of the same stage waits, then reads what this one wrote.
pub async fn load_record_for_update(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<StageRecord>, DbErr> {
    let rows = joined()
        .filter(captcha_stage::Column::StagePtrId.eq(id))
        .select_also(stage::Entity)
        .lock_exclusive()
        .all(conn)
        .await?;
    Ok(rows.into_iter().find_map(|(captcha, stage)| {
        Some(StageRecord {
            stage: stage?,
            captcha,
        })
    }))
}

pub async fn load_many(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<CaptchaStage>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    select_rows(joined().filter(captcha_stage::Column::StagePtrId.is_in(ids.iter().copied())))
        .all(conn)
        .await
}

/// The filters of the list endpoint.
#[derive(Clone, Debug, Default)]
pub struct StageFilter {
    pub name: Option<String>,
    pub public_key: Option<String>,
    pub search: Option<String>,
    pub ordering: Option<String>,
}

/// The columns `ordering` may name; anything else is dropped.
fn ordering_column(field: &str) -> Option<sea_orm::sea_query::SimpleExpr> {
    let column = |c: captcha_stage::Column| Expr::col((captcha_stage::Entity, c));
    Some(match field {
        "pk" => Expr::col((stage::Entity, stage::Column::StageUuid)),
        "name" => Expr::col((stage::Entity, stage::Column::Name)),
        "public_key" => column(captcha_stage::Column::PublicKey),
        "js_url" => column(captcha_stage::Column::JsUrl),
        "api_url" => column(captcha_stage::Column::ApiUrl),
        "interactive" => column(captcha_stage::Column::Interactive),
        "score_min_threshold" => column(captcha_stage::Column::ScoreMinThreshold),
        "score_max_threshold" => column(captcha_stage::Column::ScoreMaxThreshold),
        "error_on_invalid_score" => column(captcha_stage::Column::ErrorOnInvalidScore),
        _ => return None,
    })
}

/// DRF's ordering: a comma list of fields, `-` for descending, unknown names dropped, `name`
/// when none remains; ties always broken by pk so that pages never overlap.
fn ordering(param: Option<&str>) -> Vec<(sea_orm::sea_query::SimpleExpr, Order)> {
    // A field named again is dropped: it could not change the order, and a list of thousands of
    // repetitions would otherwise become as many ORDER BY terms.
    let mut seen = std::collections::HashSet::new();
    let mut terms: Vec<_> = param
        .unwrap_or_default()
        .split(',')
        .filter_map(|term| {
            let term = term.trim();
            let (field, order) = match term.strip_prefix('-') {
                Some(field) => (field, Order::Desc),
                None => (term, Order::Asc),
            };
            let expr = ordering_column(field)?;
            seen.insert(field).then_some((expr, order))
        })
        .collect();
    if terms.is_empty() {
        terms.push((
            ordering_column("name").expect("name is orderable"),
            Order::Asc,
        ));
    }
    terms.push((ordering_column("pk").expect("pk is orderable"), Order::Asc));
    terms
}

/// The filters of a list, checked: the search terms are bounded (`search_terms`).
pub struct StageQuery<'a> {
    filter: &'a StageFilter,
    terms: Vec<String>,
}

impl<'a> StageQuery<'a> {
    pub fn new(filter: &'a StageFilter) -> Result<Self, ServiceError> {
        Ok(StageQuery {
            terms: search_terms(filter.search.as_deref())?,
            filter,
        })
    }

    fn select(&self) -> Select<captcha_stage::Entity> {
        let mut query = joined();
        let name = Expr::col((stage::Entity, stage::Column::Name));
        let key = Expr::col((captcha_stage::Entity, captcha_stage::Column::PublicKey));
        for condition in [
            exact_filter(name.clone(), self.filter.name.as_deref()),
            exact_filter(key, self.filter.public_key.as_deref()),
        ]
        .into_iter()
        .flatten()
        {
            query = query.filter(condition);
        }
        query.filter(search_condition(&self.terms, &[name]))
    }
}

pub async fn count(conn: &impl ConnectionTrait, query: &StageQuery<'_>) -> Result<u64, DbErr> {
    query.select().count(conn).await
}

pub async fn page(
    conn: &impl ConnectionTrait,
    stage_query: &StageQuery<'_>,
    offset: u64,
    limit: u64,
) -> Result<Vec<CaptchaStage>, DbErr> {
    let filter = stage_query.filter;
    let mut query = stage_query.select();
    for (expr, order) in ordering(filter.ordering.as_deref()) {
        query = query.order_by(expr, order);
    }
    select_rows(query.offset(offset).limit(limit))
        .all(conn)
        .await
}
