//! Integration tests: the real app on a real listener, over databases built by the real
//! migrations. Every test runs on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set.

mod attack;
mod auth;
mod bindings;
mod concurrency;
mod create;
mod executor;
mod faults;
mod flow_helpers;
mod flows;
mod graphql;
mod helpers;
mod hostile;
mod operations;
mod viewset;
