//! Reading and writing captcha stages: the base `stage` row (its unique name) and its
//! `captcha_stage` row, read by column name into `CaptchaStage` (never the private key, but
//! for `private_key`), written from a checked change's columns.

use crate::db::Connection;
use entity::{captcha_stage, stage};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, JoinType, PaginatorTrait, QueryFilter, QuerySelect,
    RelationTrait, Select, Set, Value,
};
use secrecy::SecretString;
use uuid::Uuid;

use super::{CaptchaStage, CaptchaStageChanges};
use crate::db::{KeyedRead, column_named, keyed_statement, read_rows, set_columns, update_columns};
use crate::error::ServiceError;
use crate::object::Columns;
use crate::object::StoredObject;
use crate::pagination::{Filters, ListQuery, Page, PageRequest, ordering};

/// The filters of the list endpoint.
#[derive(Clone, Debug, Default)]
pub struct StageFilter {
    pub name: Option<String>,
    pub public_key: Option<String>,
    pub search: Option<String>,
    pub ordering: Option<String>,
}

/// The one column of a captcha stage that lives in the base `stage` row.
const STAGE_COLUMN: &str = "name";

/// Columns by name, as a declaration's `Changes::columns` gives them.
type ColumnValues = Vec<(&'static str, Value)>;

/// Whether a column lives in the base `stage` row (the key and the name) rather than in the
/// `captcha_stage` row.
fn on_stage_row(column: &str) -> bool {
    column == STAGE_COLUMN || column == "stage_uuid"
}

/// The checked columns, split between the `stage` row and the `captcha_stage` row.
fn split(changes: &CaptchaStageChanges) -> (ColumnValues, ColumnValues) {
    changes
        .columns()
        .into_iter()
        .partition(|(column, _)| on_stage_row(column))
}

/// `select` (joining the two rows) bringing back the named columns, each from its row, after
/// the columns it selects already.
pub(crate) fn with_columns<'a, E: EntityTrait>(
    mut select: Select<E>,
    columns: impl IntoIterator<Item = &'a str>,
) -> Result<Select<E>, ServiceError> {
    for column in columns {
        select = if on_stage_row(column) {
            select.column(column_named::<stage::Column>(column)?)
        } else {
            select.column(column_named::<captcha_stage::Column>(column)?)
        };
    }
    Ok(select)
}

/// The columns `CaptchaStage` reads, as its declaration names them: every one but the private
/// key, which it never shows.
fn shown_columns(
    select: Select<captcha_stage::Entity>,
) -> Result<Select<captcha_stage::Entity>, ServiceError> {
    with_columns(
        select.select_only(),
        CaptchaStage::COLUMN_NAMES.iter().copied(),
    )
}

fn joined() -> Select<captcha_stage::Entity> {
    captcha_stage::Entity::find().join(JoinType::InnerJoin, captcha_stage::Relation::Stage.def())
}

pub async fn insert(
    conn: &impl Connection,
    id: Uuid,
    changes: &CaptchaStageChanges,
) -> Result<(), ServiceError> {
    let (stage_columns, captcha_columns) = split(changes);
    let mut stage_row = stage::ActiveModel {
        stage_uuid: Set(id),
        ..Default::default()
    };
    set_columns(&mut stage_row, stage_columns)?;
    let mut captcha_row = captcha_stage::ActiveModel {
        stage_ptr_id: Set(id),
        ..Default::default()
    };
    set_columns(&mut captcha_row, captcha_columns)?;
    stage::Entity::insert(stage_row)
        .exec_without_returning(conn)
        .await?;
    captcha_stage::Entity::insert(captcha_row)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The stored stage, locked until the transaction ends (`FOR UPDATE` on PostgreSQL; SQLite's
/// write transaction holds the database): a concurrent write of the same stage waits, then
/// reads what this one wrote. The base `stage` row is locked first and alone, as a `DELETE`
/// (which cascades from it to the captcha row) locks it: two writers never hold one row each
/// of the pair while waiting for the other.
pub async fn load_for_update(
    conn: &impl Connection,
    id: Uuid,
) -> Result<Option<CaptchaStage>, ServiceError> {
    let locked: Option<Uuid> = stage::Entity::find_by_id(id)
        .select_only()
        .column(stage::Column::StageUuid)
        .lock_exclusive()
        .into_tuple()
        .one(conn)
        .await?;
    if locked.is_none() {
        return Ok(None);
    }
    Ok(shown_columns(joined())?
        .filter(captcha_stage::Column::StagePtrId.eq(id))
        .into_model()
        .one(conn)
        .await?)
}

/// Writes the changed columns of both rows.
pub async fn update(
    conn: &impl Connection,
    id: Uuid,
    changes: &CaptchaStageChanges,
) -> Result<(), ServiceError> {
    let (stage_columns, captcha_columns) = split(changes);
    if !stage_columns.is_empty() {
        update_columns::<stage::Entity>(stage::Entity::update_many(), stage_columns)?
            .filter(stage::Column::StageUuid.eq(id))
            .exec(conn)
            .await?;
    }
    if !captcha_columns.is_empty() {
        update_columns::<captcha_stage::Entity>(
            captcha_stage::Entity::update_many(),
            captcha_columns,
        )?
        .filter(captcha_stage::Column::StagePtrId.eq(id))
        .exec(conn)
        .await?;
    }
    Ok(())
}

/// Deletes the stage; its captcha row and bindings go with it (the flows stay).
pub async fn delete(conn: &impl Connection, id: Uuid) -> Result<bool, DbErr> {
    let result = stage::Entity::delete_many()
        .filter(stage::Column::StageUuid.eq(id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// The stages among `ids`, bringing back `columns` of each.
pub async fn load_many(
    conn: &impl Connection,
    ids: &[Uuid],
    columns: Columns<'_>,
) -> Result<Vec<CaptchaStage>, ServiceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let read = KeyedRead {
        shape: "captcha stages by id",
        columns,
        keys: ids.iter().map(|&id| id.into()).collect(),
    };
    let statement = keyed_statement(conn.get_database_backend(), read, || {
        let select = match columns {
            Columns::All => shown_columns(joined())?,
            Columns::Only(names) | Columns::After(_, names) => {
                with_columns(joined().select_only(), names.iter().copied())?
            }
        };
        Ok::<_, ServiceError>(
            select.filter(captcha_stage::Column::StagePtrId.is_in(ids.iter().copied())),
        )
    })?;
    Ok(read_rows(conn, statement, columns).await?)
}

/// The names of the captcha stages among `ids` (a binding's `stage_obj` shows no more).
pub async fn names(conn: &impl Connection, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    joined()
        .select_only()
        .column(stage::Column::StageUuid)
        .column(stage::Column::Name)
        .filter(captcha_stage::Column::StagePtrId.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await
}

/// The stage's private key, for the provider's siteverify call and nothing else.
pub async fn private_key(conn: &impl Connection, id: Uuid) -> Result<Option<SecretString>, DbErr> {
    let key: Option<entity::secret::SecretText> = captcha_stage::Entity::find_by_id(id)
        .select_only()
        .column(captcha_stage::Column::PrivateKey)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(key.map(|key| SecretString::from(key.expose())))
}

pub async fn name_taken(
    conn: &impl Connection,
    name: &str,
    own_stage: Option<Uuid>,
) -> Result<bool, DbErr> {
    let mut query = stage::Entity::find().filter(stage::Column::Name.eq(name));
    if let Some(own) = own_stage {
        query = query.filter(stage::Column::StageUuid.ne(own));
    }
    Ok(query.count(conn).await? > 0)
}

fn column(column: captcha_stage::Column) -> SimpleExpr {
    Expr::col((captcha_stage::Entity, column))
}

/// The columns `ordering` may name; anything else is dropped.
fn orderable() -> Vec<(&'static str, SimpleExpr)> {
    use captcha_stage::Column as C;
    let mut fields = vec![
        ("pk", Expr::col((stage::Entity, stage::Column::StageUuid))),
        ("name", Expr::col((stage::Entity, stage::Column::Name))),
    ];
    fields.extend(
        [
            ("public_key", C::PublicKey),
            ("js_url", C::JsUrl),
            ("api_url", C::ApiUrl),
            ("interactive", C::Interactive),
            ("score_min_threshold", C::ScoreMinThreshold),
            ("score_max_threshold", C::ScoreMaxThreshold),
            ("error_on_invalid_score", C::ErrorOnInvalidScore),
        ]
        .map(|(name, c)| (name, column(c))),
    );
    fields
}

/// The stage list: exact name and public key, search over the name, ordering by name unless
/// asked otherwise, ties broken by pk.
pub fn list_query(filter: &StageFilter) -> Result<ListQuery<captcha_stage::Entity>, ServiceError> {
    let name: SimpleExpr = Expr::col((stage::Entity, stage::Column::Name));
    let mut filters = Filters::new();
    filters
        .text(name.clone(), filter.name.as_deref())
        .text(
            column(captcha_stage::Column::PublicKey),
            filter.public_key.as_deref(),
        )
        .search(filter.search.as_deref(), &[name]);
    let order = ordering(
        filter.ordering.as_deref(),
        &orderable(),
        &["name"],
        Expr::col((stage::Entity, stage::Column::StageUuid)),
    );
    ListQuery::new(shown_columns(joined())?, filters, order)
}

pub async fn page(
    conn: &impl Connection,
    filter: &StageFilter,
    request: &PageRequest,
) -> Result<Page<CaptchaStage>, ServiceError> {
    list_query(filter)?.fetch(conn, request).await
}
