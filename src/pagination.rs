//! authentik's list semantics, shared by every paged query: page number and size resolution
//! (Django's paginator with authentik's envelope), django-filter's filters (with their 400s for
//! values that are not of the filter's type), DRF's search terms and ordering.

use crate::db::Connection;
use std::collections::HashSet;

use indexmap::IndexMap;
use sea_orm::sea_query::{Condition, Expr, Func, LikeExpr, SimpleExpr};
use sea_orm::{EntityTrait, FromQueryResult, Order, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use crate::error::{ErrorTree, FieldErrors, ServiceError};
use crate::limits::{MAX_SEARCH_CHARS, MAX_SEARCH_TERMS};
use crate::object::rules::{is_python_space, trim};
use crate::object::{Choice, Columns, StoredObject};

const DEFAULT_PAGE_SIZE: u64 = 20;
/// Also the size used when the requested one is not a positive number.
const MAX_PAGE_SIZE: u64 = 100;

/// The requested page: a 1-based number, `last`, or something that is neither.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PageNumber {
    Number(i64),
    Last,
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PageSize {
    Default,
    Requested(i64),
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PageRequest {
    pub number: PageNumber,
    pub size: PageSize,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            number: PageNumber::Number(1),
            size: PageSize::Default,
        }
    }
}

/// authentik's pagination block; `0` means "none" for `next` and `previous`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pagination {
    pub next: u64,
    pub previous: u64,
    pub count: u64,
    pub current: u64,
    pub total_pages: u64,
    pub start_index: u64,
    pub end_index: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub pagination: Pagination,
    pub results: Vec<T>,
}

/// Where the requested page lies in a result of known size.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
    pagination: Pagination,
}

impl Window {
    pub fn page<T>(self, results: Vec<T>) -> Page<T> {
        Page {
            pagination: self.pagination,
            results,
        }
    }
}

impl PageRequest {
    /// The offset of the requested page when the number alone says it (not `last`, not
    /// invalid), however many rows there turn out to be; `None` past any plausible result.
    pub fn expected_offset(&self) -> Option<u64> {
        match self.number {
            PageNumber::Number(n) if n >= 1 => (n as u64 - 1)
                .checked_mul(self.page_size())
                .filter(|offset| *offset <= MAX_EXPECTED_OFFSET),
            PageNumber::Number(_) | PageNumber::Last | PageNumber::Invalid => None,
        }
    }

    pub fn page_size(&self) -> u64 {
        match self.size {
            PageSize::Default => DEFAULT_PAGE_SIZE,
            PageSize::Requested(n) if n > 0 => (n as u64).min(MAX_PAGE_SIZE),
            PageSize::Requested(_) | PageSize::Invalid => MAX_PAGE_SIZE,
        }
    }

    /// The window of a result with `count` rows, or `Invalid page.` for a number below 1, past
    /// the end, or not a number (page 1 of an empty result is fine).
    pub fn resolve(&self, count: u64) -> Result<Window, ServiceError> {
        let size = self.page_size();
        let total_pages = count.div_ceil(size).max(1);
        let current = match self.number {
            PageNumber::Last => total_pages,
            PageNumber::Number(n) if n >= 1 && (n as u64) <= total_pages => n as u64,
            PageNumber::Number(_) | PageNumber::Invalid => return Err(ServiceError::InvalidPage),
        };
        let offset = (current - 1) * size;
        let (start_index, end_index) = if count == 0 {
            (0, 0)
        } else {
            (offset + 1, (offset + size).min(count))
        };
        Ok(Window {
            offset,
            limit: size,
            pagination: Pagination {
                next: if current < total_pages {
                    current + 1
                } else {
                    0
                },
                previous: current - 1,
                count,
                current,
                total_pages,
                start_index,
                end_index,
            },
        })
    }
}

/// DRF's search terms: split on (Python's) white space and commas, NUL characters dropped, lower-cased for
/// a case-insensitive match. Every term must match. A `search` longer than
/// [`MAX_SEARCH_CHARS`] or of more than [`MAX_SEARCH_TERMS`] terms is refused (a field error on
/// `search`), before any SQL is built from it.
pub fn search_terms(search: Option<&str>) -> Result<Vec<String>, ServiceError> {
    let search = search.unwrap_or_default();
    let refuse = |message: String| {
        ServiceError::Validation(IndexMap::from([(
            "search".to_string(),
            ErrorTree::message(message),
        )]))
    };
    if search.chars().count() > MAX_SEARCH_CHARS {
        return Err(refuse(format!(
            "Ensure this field has no more than {MAX_SEARCH_CHARS} characters."
        )));
    }
    let terms: Vec<String> = search
        .replace('\0', "")
        .split(|c: char| is_python_space(c) || c == ',')
        .filter(|term| !term.is_empty())
        .map(str::to_lowercase)
        .collect();
    if terms.len() > MAX_SEARCH_TERMS {
        return Err(refuse(format!(
            "Ensure this field has no more than {MAX_SEARCH_TERMS} search terms."
        )));
    }
    Ok(terms)
}

/// Every term must match one of `columns` (lower-cased, as a substring): one flat `AND` of
/// `OR`s, built by iteration, never by recursion over the terms.
pub fn search_condition(terms: &[String], columns: &[SimpleExpr]) -> Condition {
    let mut all = Condition::all();
    for term in terms {
        let pattern = like_pattern(term);
        let mut any = Condition::any();
        for column in columns {
            any = any.add(sea_orm::ExprTrait::like(
                Expr::expr(Func::lower(column.clone())),
                pattern.clone(),
            ));
        }
        all = all.add(any);
    }
    all
}

/// A condition no row meets.
pub fn nothing() -> Condition {
    Condition::all().add(sea_orm::ExprTrait::eq(Expr::val(1), 0))
}

/// An exact, case-sensitive filter value; `None` when it is empty (ignored, as Django does).
/// A value with a NUL character can match no stored text (none is stored with one), and
/// PostgreSQL refuses it as a parameter: such a filter matches nothing.
pub fn exact_filter(column: SimpleExpr, value: Option<&str>) -> Option<Condition> {
    let value = value.filter(|v| !v.is_empty())?;
    Some(if value.contains('\0') {
        nothing()
    } else {
        Condition::all().add(sea_orm::ExprTrait::eq(column, value))
    })
}

/// The filters of one list request, as django-filter applies them: an empty value is no filter;
/// a value that is not of the filter's type is a 400 on its parameter (every such parameter at
/// once); the search terms are bounded. Conditions are added flat, never nested per value.
pub struct Filters {
    condition: Condition,
    errors: FieldErrors,
}

impl Default for Filters {
    fn default() -> Self {
        Self::new()
    }
}

impl Filters {
    pub fn new() -> Self {
        Filters {
            condition: Condition::all(),
            errors: FieldErrors::new(),
        }
    }

    fn refuse(&mut self, name: &str, message: String) {
        self.errors
            .insert(name.to_string(), ErrorTree::message(message));
    }

    /// Exact, case-sensitive text.
    pub fn text(&mut self, column: SimpleExpr, value: Option<&str>) -> &mut Self {
        if let Some(condition) = exact_filter(column, value) {
            self.add(condition);
        }
        self
    }

    /// A UUID (`Enter a valid UUID.` otherwise).
    pub fn uuid(&mut self, name: &str, column: SimpleExpr, value: Option<&str>) -> &mut Self {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return self;
        };
        match Uuid::parse_str(trim(value)) {
            Ok(id) => self.add(Condition::all().add(sea_orm::ExprTrait::eq(column, id))),
            Err(_) => self.refuse(name, "Enter a valid UUID.".to_string()),
        }
        self
    }

    /// One of a [`Choice`]'s values (django-filter's ChoiceFilter message otherwise).
    pub fn choice<C: Choice>(
        &mut self,
        name: &str,
        column: SimpleExpr,
        value: Option<&str>,
    ) -> &mut Self {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return self;
        };
        match C::from_value(value) {
            Some(choice) => {
                self.add(Condition::all().add(sea_orm::ExprTrait::eq(column, choice.value())))
            }
            None => self.refuse(
                name,
                format!("Select a valid choice. {value} is not one of the available choices."),
            ),
        }
        self
    }

    /// A whole number (`Enter a number.` otherwise).
    pub fn integer(&mut self, name: &str, column: SimpleExpr, value: Option<&str>) -> &mut Self {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return self;
        };
        match trim(value).parse::<i64>() {
            Ok(number) => self.add(Condition::all().add(sea_orm::ExprTrait::eq(column, number))),
            Err(_) => self.refuse(name, "Enter a number.".to_string()),
        }
        self
    }

    /// A choice filter over a set that is empty here (authentik's `policies`): any value given
    /// is not one of the choices.
    pub fn no_choices(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.refuse(
                name,
                format!("Select a valid choice. {value} is not one of the available choices."),
            );
        }
        self
    }

    /// django-filter's BooleanFilter: `true`/`false`/`1`/`0` in any case; anything else is no
    /// filter.
    pub fn boolean(&mut self, column: SimpleExpr, value: Option<&str>) -> &mut Self {
        let parsed = match value.map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            _ => None,
        };
        if let Some(flag) = parsed {
            self.add(Condition::all().add(sea_orm::ExprTrait::eq(column, flag)));
        }
        self
    }

    /// A condition the caller decided.
    pub fn add(&mut self, condition: impl Into<Condition>) {
        let current = std::mem::replace(&mut self.condition, Condition::all());
        self.condition = current.add(condition.into());
    }

    /// DRF's search: every term in one of `columns`.
    pub fn search(&mut self, search: Option<&str>, columns: &[SimpleExpr]) -> &mut Self {
        match search_terms(search) {
            Ok(terms) => self.add(search_condition(&terms, columns)),
            Err(ServiceError::Validation(fields)) => self.errors.extend(fields),
            Err(_) => {}
        }
        self
    }

    /// The condition, or every refused parameter.
    pub fn finish(self) -> Result<Condition, ServiceError> {
        if self.errors.is_empty() {
            Ok(self.condition)
        } else {
            Err(ServiceError::Validation(self.errors))
        }
    }
}

/// DRF's ordering: a comma list of `fields` names (each stripped as Python strips), `-` for
/// descending, unknown and repeated names dropped, `default` when none remains; `tiebreak` always last so that pages never
/// overlap.
pub fn ordering(
    param: Option<&str>,
    fields: &[(&str, SimpleExpr)],
    default: &[&str],
    tiebreak: SimpleExpr,
) -> Vec<(SimpleExpr, Order)> {
    let column = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, expr)| expr.clone())
    };
    let mut seen = HashSet::new();
    let mut terms: Vec<_> = param
        .unwrap_or_default()
        .split(',')
        .filter_map(|term| {
            let term = trim(term);
            let (field, order) = match term.strip_prefix('-') {
                Some(field) => (field, Order::Desc),
                None => (term, Order::Asc),
            };
            let expr = column(field)?;
            seen.insert(field).then_some((expr, order))
        })
        .collect();
    if terms.is_empty() {
        terms = default
            .iter()
            .filter_map(|field| column(field).map(|expr| (expr, Order::Asc)))
            .collect();
    }
    terms.push((tiebreak, Order::Asc));
    terms
}

/// Beyond this offset a page is read only once the count shows it exists: no honest result has
/// this many rows, and an offset from a made-up page number could be more than the database takes.
const MAX_EXPECTED_OFFSET: u64 = i32::MAX as u64;

/// A list request once its parameters are checked: the rows it selects, in its order. Built
/// without the database (the fuzz target renders it to SQL), then fetched a page at a time.
pub struct ListQuery<E: EntityTrait> {
    select: Select<E>,
    order: Vec<(SimpleExpr, Order)>,
}

impl<E> ListQuery<E>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    pub fn new(
        select: Select<E>,
        filters: Filters,
        order: Vec<(SimpleExpr, Order)>,
    ) -> Result<Self, ServiceError> {
        Ok(ListQuery {
            select: select.filter(filters.finish()?),
            order,
        })
    }

    fn ordered(&self) -> Select<E> {
        let mut select = self.select.clone();
        for (expr, direction) in &self.order {
            select = select.order_by(expr.clone(), direction.clone());
        }
        select
    }

    /// The page's statement as `backend` would run it (for the fuzz target and tests).
    pub fn statement(&self, backend: sea_orm::DatabaseBackend) -> sea_orm::Statement {
        sea_orm::QueryTrait::build(&self.ordered().limit(100), backend)
    }

    /// The count, then the rows of the requested page read into `M` by column name.
    pub async fn fetch<M, C>(self, conn: &C, request: &PageRequest) -> Result<Page<M>, ServiceError>
    where
        M: StoredObject + FromQueryResult + Sized + Send + Sync,
        C: Connection,
        E::Column: std::str::FromStr,
    {
        self.fetch_columns(conn, request, Columns::All).await
    }

    /// [`ListQuery::fetch`] bringing back only `columns` of the page's rows.
    pub async fn fetch_columns<M, C>(
        self,
        conn: &C,
        request: &PageRequest,
        columns: Columns<'_>,
    ) -> Result<Page<M>, ServiceError>
    where
        M: StoredObject + FromQueryResult + Sized + Send + Sync,
        C: Connection,
        E::Column: std::str::FromStr,
    {
        let read_page = |offset: u64| -> Result<_, ServiceError> {
            let select = crate::db::select_columns(self.ordered(), columns)?
                .offset(offset)
                .limit(request.page_size());
            let statement = sea_orm::QueryTrait::build(&select, conn.get_database_backend());
            Ok(crate::db::read_rows::<M>(conn, statement, columns))
        };
        let count = crate::db::count(conn, self.select.clone());
        // A numbered page's rows are read beside the count (a round trip less for every list);
        // the count then decides whether that page exists. Page `last` needs the count first.
        if let Some(offset) = request.expected_offset() {
            let (count, rows) = tokio::join!(count, read_page(offset)?);
            let window = request.resolve(count?)?;
            debug_assert_eq!(window.offset, offset);
            return Ok(window.page(rows?));
        }
        let window = request.resolve(count.await?)?;
        let rows = read_page(window.offset)?.await?;
        Ok(window.page(rows))
    }
}

/// `%term%` for LIKE, with the wildcards of the term itself escaped.
pub fn like_pattern(term: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(number: PageNumber, size: PageSize, count: u64) -> Result<Pagination, ()> {
        PageRequest { number, size }
            .resolve(count)
            .map(|w| w.pagination)
            .map_err(|_| ())
    }

    #[test]
    fn a_numbered_page_has_its_offset_before_the_count() {
        let offset = |number, size| PageRequest { number, size }.expected_offset();
        assert_eq!(offset(PageNumber::Number(1), PageSize::Default), Some(0));
        assert_eq!(
            offset(PageNumber::Number(3), PageSize::Requested(10)),
            Some(20)
        );
        for number in [
            PageNumber::Number(0),
            PageNumber::Number(-1),
            PageNumber::Last,
            PageNumber::Invalid,
        ] {
            assert_eq!(offset(number, PageSize::Default), None);
        }
        // Made-up page numbers are read only once the count shows they exist.
        assert_eq!(
            offset(PageNumber::Number(i64::MAX), PageSize::Requested(1000)),
            None
        );
        assert_eq!(offset(PageNumber::Number(1 << 40), PageSize::Default), None);
        // Whenever the offset is known, it is the one the count confirms.
        for count in [0, 1, 99, 100, 101, 1000] {
            for n in 1..=12 {
                let request = PageRequest {
                    number: PageNumber::Number(n),
                    size: PageSize::Requested(10),
                };
                if let Ok(window) = request.resolve(count) {
                    assert_eq!(Some(window.offset), request.expected_offset());
                }
            }
        }
    }

    #[test]
    fn empty_result_is_one_empty_page() {
        let p = window(PageNumber::Number(1), PageSize::Default, 0).unwrap();
        assert_eq!(
            (
                p.next,
                p.previous,
                p.count,
                p.current,
                p.total_pages,
                p.start_index,
                p.end_index
            ),
            (0, 0, 0, 1, 1, 0, 0)
        );
        assert!(window(PageNumber::Number(2), PageSize::Default, 0).is_err());
        assert_eq!(
            window(PageNumber::Last, PageSize::Default, 0)
                .unwrap()
                .current,
            1
        );
    }

    #[test]
    fn middle_and_last_pages() {
        let p = window(PageNumber::Number(2), PageSize::Requested(2), 5).unwrap();
        assert_eq!(
            (
                p.next,
                p.previous,
                p.total_pages,
                p.start_index,
                p.end_index
            ),
            (3, 1, 3, 3, 4)
        );
        let p = window(PageNumber::Last, PageSize::Requested(2), 5).unwrap();
        assert_eq!(
            (p.current, p.next, p.start_index, p.end_index),
            (3, 0, 5, 5)
        );
        assert!(window(PageNumber::Number(4), PageSize::Requested(2), 5).is_err());
        assert!(window(PageNumber::Number(0), PageSize::Requested(2), 5).is_err());
        assert!(window(PageNumber::Invalid, PageSize::Requested(2), 5).is_err());
    }

    #[test]
    fn page_size_fallbacks() {
        let size = |s| {
            PageRequest {
                number: PageNumber::Number(1),
                size: s,
            }
            .page_size()
        };
        assert_eq!(size(PageSize::Default), 20);
        assert_eq!(size(PageSize::Requested(500)), 100);
        assert_eq!(size(PageSize::Requested(0)), 100);
        assert_eq!(size(PageSize::Requested(-3)), 100);
        assert_eq!(size(PageSize::Invalid), 100);
        assert_eq!(size(PageSize::Requested(7)), 7);
    }

    #[test]
    fn search_splits_on_space_and_comma() {
        assert_eq!(
            search_terms(Some(" Ab,c  d\0e ")).unwrap(),
            vec!["ab", "c", "de"]
        );
        assert!(search_terms(None).unwrap().is_empty());
    }

    #[test]
    fn search_is_bounded() {
        let terms = vec!["a"; MAX_SEARCH_TERMS].join(" ");
        assert_eq!(search_terms(Some(&terms)).unwrap().len(), MAX_SEARCH_TERMS);
        assert!(search_terms(Some(&format!("{terms} b"))).is_err());
        assert!(search_terms(Some(&"x".repeat(MAX_SEARCH_CHARS + 1))).is_err());
    }
}
