//! authentik's list envelope. The objects themselves are their declarations (`#[api_object]`),
//! which serialize in authentik's key order.

use serde::Serialize;
use utoipa::ToSchema;

use crate::pagination::{Page, Pagination};
use crate::rest::openapi::number_schema;

// Every value is a whole number; authentik's schema types them `number`, and so does ours.
#[derive(Serialize, ToSchema)]
#[schema(as = Pagination)]
pub struct PaginationOut {
    #[schema(schema_with = number_schema)]
    pub next: u64,
    #[schema(schema_with = number_schema)]
    pub previous: u64,
    #[schema(schema_with = number_schema)]
    pub count: u64,
    #[schema(schema_with = number_schema)]
    pub current: u64,
    #[schema(schema_with = number_schema)]
    pub total_pages: u64,
    #[schema(schema_with = number_schema)]
    pub start_index: u64,
    #[schema(schema_with = number_schema)]
    pub end_index: u64,
}

impl From<Pagination> for PaginationOut {
    fn from(p: Pagination) -> Self {
        PaginationOut {
            next: p.next,
            previous: p.previous,
            count: p.count,
            current: p.current,
            total_pages: p.total_pages,
            start_index: p.start_index,
            end_index: p.end_index,
        }
    }
}

/// Always empty here; authentik's 2025.10 clients require the key. Its schema (a free-form
/// object) is in `openapi`.
#[derive(Serialize)]
pub struct Autocomplete {}

/// A page as authentik sends it: `pagination`, `results`, `autocomplete`.
#[derive(Serialize, ToSchema)]
pub struct PaginatedOut<T> {
    pub pagination: PaginationOut,
    pub results: Vec<T>,
    pub autocomplete: Autocomplete,
}

impl<T> From<Page<T>> for PaginatedOut<T> {
    fn from(page: Page<T>) -> Self {
        PaginatedOut {
            pagination: page.pagination.into(),
            results: page.results,
            autocomplete: Autocomplete {},
        }
    }
}
