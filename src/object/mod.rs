//! The runtime of `#[api_object]` declarations: what a field is as a front hands it in
//! ([`Field`]), how a write reads absent keys ([`WriteMode`]), the closed sets of values
//! ([`Choice`], declared with [`choice_enum!`]), and the conversions between a field's value and
//! the database ([`StoredValue`], [`ColumnValue`]) and GraphQL ([`IntoRaw`]). The rules live in
//! [`rules`], DRF's parsing of JSON values in [`drf`], the plain GraphQL path in [`plain`].
//!
//! Below both front ends and above the store: `rest` and `graphql` use it, `stages` and `flows`
//! declare their objects with it.

pub mod drf;
pub mod plain;
pub mod rules;

pub use api_macros::api_object;

use sea_orm::{DbErr, QueryResult, TryGetable};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::error::ErrorTree;

/// One key of an input object, as the front end read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<T> {
    /// The key was not sent (GraphQL: the argument was omitted or `null`).
    #[default]
    Absent,
    Given(T),
    /// The front end could not read the value as the field's type (REST only: a list where a
    /// string belongs, `null`, …); the tree holds the message it would have in authentik.
    Rejected(ErrorTree),
}

impl<T> From<Option<T>> for Field<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Field::Absent, Field::Given)
    }
}

impl<T> Field<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Absent => Field::Absent,
            Field::Given(value) => Field::Given(f(value)),
            Field::Rejected(tree) => Field::Rejected(tree),
        }
    }
}

/// How absent keys are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// POST: required keys are required; the rest take their defaults.
    Create,
    /// PUT: required as on create; absent optional keys keep their stored values.
    Replace,
    /// PATCH: only the keys given are checked and changed.
    Patch,
}

impl WriteMode {
    /// Whether required keys must be present.
    pub fn requires_all(self) -> bool {
        self != WriteMode::Patch
    }
}

/// A closed set of values stored by their lower-case spelling (authentik's choices).
pub trait Choice: Sized + Copy + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn value(self) -> &'static str;
    fn from_value(value: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.value() == value)
    }
}

/// Declares a [`Choice`] enum once for every front: the stored and REST spelling of each value,
/// the GraphQL enum (values upper-cased by async-graphql) and the OpenAPI enum schema:
/// `choice_enum!(Name, graphql "GraphqlName", schema "SchemaName" { Variant => "value", … })`.
#[macro_export]
macro_rules! choice_enum {
    (
        $(#[$meta:meta])*
        $name:ident, graphql $graphql:literal, schema $schema:literal
        { $($variant:ident => $value:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
        #[graphql(name = $graphql)]
        pub enum $name { $($variant),+ }

        impl $crate::object::Choice for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn value(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }
        }

        /// The first value: what an object not yet filled holds.
        impl Default for $name {
            fn default() -> Self {
                <$name as $crate::object::Choice>::ALL[0]
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::object::Choice::value(*self))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::object::choice_schema::<$name>()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($schema)
            }
        }
    };
}

/// The OpenAPI schema of a [`Choice`]: a string enum of its values, in declaration order.
pub fn choice_schema<C: Choice>() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(C::ALL.iter().map(|c| c.value())))
        .into()
}

/// authentik's read-only counter (`cache_count`): an integer without a format.
pub fn read_only_integer_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .read_only(Some(true))
        .build()
}

/// authentik's read-only list of primary keys (`stages`, `policies`): the array itself is
/// read-only, not its items.
pub fn read_only_uuids_schema() -> utoipa::openapi::Schema {
    let uuid = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Uuid,
        )))
        .build();
    let mut array = utoipa::openapi::schema::ArrayBuilder::new()
        .items(uuid)
        .build();
    array.extensions = Some(read_only_marker());
    utoipa::openapi::Schema::Array(array)
}

/// `readOnly: true` for schema kinds whose builders have no such setting (utoipa serializes
/// extensions beside the other keys).
fn read_only_marker() -> utoipa::openapi::extensions::Extensions {
    utoipa::openapi::extensions::Extensions::from_iter([(
        "readOnly",
        serde_json::Value::Bool(true),
    )])
}

/// A model `IntegerField` as authentik documents it: the 32-bit bounds, no format.
pub fn int32_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(i32::MIN))
        .maximum(Some(i32::MAX))
        .build()
}

/// A read-only nested object as authentik documents it: `allOf: [$ref]` with `readOnly: true`
/// beside it (OpenAPI ignores keys beside a bare `$ref`).
pub fn read_only_ref(schema: &str) -> utoipa::openapi::Schema {
    let mut all_of = utoipa::openapi::schema::AllOfBuilder::new()
        .item(utoipa::openapi::Ref::from_schema_name(schema))
        .build();
    all_of.extensions = Some(read_only_marker());
    utoipa::openapi::Schema::AllOf(all_of)
}

/// A query parameter's enum of a [`Choice`], its values sorted as authentik's document sorts a
/// filter's choices (the objects' own enums keep declaration order).
pub fn sorted_choice_schema<C: Choice>() -> utoipa::openapi::Object {
    let mut values: Vec<&str> = C::ALL.iter().map(|c| c.value()).collect();
    values.sort_unstable();
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values))
        .build()
}

/// Which of an object's stored columns a read brought back.
#[derive(Clone, Copy, Debug)]
pub enum Columns<'a> {
    All,
    /// Only these (by column name), first in the row and in this order; the object's other
    /// stored fields stay empty.
    Only(&'a [&'static str]),
    /// Only these, in this order, after the given number of columns of another object that the
    /// row joins in (a binding with its stage).
    After(usize, &'a [&'static str]),
}

/// Where a row holds a column.
#[derive(Clone, Copy, Debug)]
pub enum ColumnAt {
    /// Found by its name (a read of every column, its order the query builder's).
    Named,
    /// At this position: a projection selects its columns in the order it names them, and
    /// reading by position skips a lookup by name per value.
    Position(usize),
    /// Not brought back.
    Absent,
}

impl Columns<'_> {
    pub fn find(self, column: &str) -> ColumnAt {
        match self {
            Columns::All => ColumnAt::Named,
            Columns::Only(columns) => Columns::After(0, columns).find(column),
            Columns::After(offset, columns) => columns
                .iter()
                .position(|c| *c == column)
                .map_or(ColumnAt::Absent, |index| ColumnAt::Position(offset + index)),
        }
    }
}

/// A declared object read from rows by column name (`#[api_object(stored)]` implements it).
///
/// GraphQL shows only what a document selects, and reading every column of every row costs a
/// page of flows with their bindings and stages most of its time (BENCHMARKS.md): its reads
/// bring back the columns [`StoredObject::columns_for`] names, and nothing else.
pub trait StoredObject: Sized {
    /// Each stored field's column, with its GraphQL name, or `None` when every read needs it
    /// (the key, and the references GraphQL's relations follow).
    const STORED_COLUMNS: &'static [(Option<&'static str>, &'static str)];
    /// The columns of `STORED_COLUMNS`, alone and in the same order.
    const COLUMN_NAMES: &'static [&'static str];
    /// GraphQL fields computed from other columns on the way out.
    const DERIVED_FIELDS: &'static [&'static str];
    /// The key's GraphQL name and column (empty for an object without a stored key).
    const KEY: (&'static str, &'static str);

    /// Where a row holding `columns` holds each stored column, in `STORED_COLUMNS` order: worked
    /// out once per read rather than once per field and row.
    fn row_layout(columns: Columns<'_>) -> Vec<ColumnAt> {
        Self::COLUMN_NAMES
            .iter()
            .map(|column| columns.find(column))
            .collect()
    }

    /// The object from a row laid out as `layout` (from [`StoredObject::row_layout`]) says.
    fn from_layout(row: &QueryResult, pre: &str, layout: &[ColumnAt]) -> Result<Self, DbErr>;

    /// The object from a row holding `columns` (one row; a read of many takes the layout once).
    fn from_columns(row: &QueryResult, pre: &str, columns: Columns<'_>) -> Result<Self, DbErr> {
        Self::from_layout(row, pre, &Self::row_layout(columns))
    }

    /// The columns a GraphQL document can show, given whether it names a field (by name, on any
    /// type: a name shared by two types only reads a column more). `None`: every column, when
    /// it names a field computed from others.
    fn columns_for(names: impl Fn(&str) -> bool) -> Option<Vec<&'static str>> {
        if Self::DERIVED_FIELDS.iter().any(|field| names(field)) {
            return None;
        }
        Some(
            Self::STORED_COLUMNS
                .iter()
                .filter(|(shown, _)| shown.is_none_or(&names))
                .map(|(_, column)| *column)
                .collect(),
        )
    }
}

/// A field value as a row holds it, read by column name or position.
pub trait StoredValue: Sized {
    fn read(row: &QueryResult, pre: &str, column: &str) -> Result<Self, DbErr>;
    fn read_at(row: &QueryResult, index: usize) -> Result<Self, DbErr>;

    /// The value of `column` wherever `at` says the row holds it; `None` when it does not.
    fn read_column(
        row: &QueryResult,
        pre: &str,
        column: &str,
        at: ColumnAt,
    ) -> Result<Option<Self>, DbErr> {
        match at {
            ColumnAt::Named => Self::read(row, pre, column).map(Some),
            ColumnAt::Position(index) => Self::read_at(row, index).map(Some),
            ColumnAt::Absent => Ok(None),
        }
    }
}

/// What the drivers decode a stored value as, by position in the row.
pub trait DriverValue<'r>:
    sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
{
}

impl<'r, T> DriverValue<'r> for T where
    T: sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
{
}

/// The value at `index` of a row, decoded straight from the driver's row. sea-orm's own read
/// checks each value's type against the Rust type first (a tenth of a page read's instructions
/// on PostgreSQL); the rows read by position come from statements this service built from its
/// own entities, whose column types its migrations fix, and every column is read on both
/// databases by the API tests. A value that does not decode is still an error.
fn read_from_driver<'r, T: DriverValue<'r>>(
    row: &'r QueryResult,
    index: usize,
) -> Result<T, DbErr> {
    let decoded = if let Some(row) = row.try_as_pg_row() {
        sqlx::Row::try_get_unchecked(row, index)
    } else if let Some(row) = row.try_as_sqlite_row() {
        sqlx::Row::try_get_unchecked(row, index)
    } else {
        return Err(DbErr::Type(
            "a row of neither PostgreSQL nor SQLite".to_string(),
        ));
    };
    decoded.map_err(|err| DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(err))))
}

macro_rules! stored_as_is {
    ($($ty:ty),*) => {$(
        impl StoredValue for $ty {
            fn read(row: &QueryResult, pre: &str, column: &str) -> Result<Self, DbErr> {
                row.try_get(pre, column)
            }

            fn read_at(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                read_from_driver(row, index)
            }
        }
    )*};
}

stored_as_is!(String, Option<String>, bool, f64, i32, Uuid);

impl<C: Choice> StoredValue for C {
    fn read(row: &QueryResult, pre: &str, column: &str) -> Result<Self, DbErr> {
        choice(&<String as TryGetable>::try_get(row, pre, column)?, column)
    }

    fn read_at(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
        choice(read_from_driver::<&str>(row, index)?, &index.to_string())
    }
}

fn choice<C: Choice>(stored: &str, column: &str) -> Result<C, DbErr> {
    C::from_value(stored)
        .ok_or_else(|| DbErr::Type(format!("{column}: no such choice as {stored:?}")))
}

/// A checked value as the database stores it.
pub trait ColumnValue {
    fn column_value(&self) -> sea_orm::Value;
}

macro_rules! column_as_is {
    ($($ty:ty),*) => {$(
        impl ColumnValue for $ty {
            fn column_value(&self) -> sea_orm::Value {
                self.clone().into()
            }
        }
    )*};
}

column_as_is!(String, bool, f64, i32, Uuid);

impl ColumnValue for SecretString {
    fn column_value(&self) -> sea_orm::Value {
        self.expose_secret().to_string().into()
    }
}

impl<C: Choice> ColumnValue for C {
    fn column_value(&self) -> sea_orm::Value {
        self.value().into()
    }
}

/// A GraphQL input value as the raw input a REST body would have given.
pub trait IntoRaw<Raw> {
    fn into_raw(self) -> Raw;
}

impl IntoRaw<String> for String {
    fn into_raw(self) -> String {
        self
    }
}

impl IntoRaw<SecretString> for String {
    fn into_raw(self) -> SecretString {
        SecretString::from(self)
    }
}

impl IntoRaw<bool> for bool {
    fn into_raw(self) -> bool {
        self
    }
}

impl IntoRaw<f64> for f64 {
    fn into_raw(self) -> f64 {
        self
    }
}

impl IntoRaw<i64> for i32 {
    fn into_raw(self) -> i64 {
        self.into()
    }
}

impl IntoRaw<String> for Uuid {
    fn into_raw(self) -> String {
        self.to_string()
    }
}

impl<C: Choice> IntoRaw<String> for C {
    fn into_raw(self) -> String {
        self.value().to_string()
    }
}

impl<T: Into<I>, I> IntoRaw<Vec<Field<I>>> for Vec<T> {
    fn into_raw(self) -> Vec<Field<I>> {
        self.into_iter()
            .map(|item| Field::Given(item.into()))
            .collect()
    }
}
