//! stages-api: authentik's captcha-stage API, served as GraphQL and as authentik's REST API,
//! both calling one resolver layer (`stages`) over SeaORM on SQLite or PostgreSQL.
//!
//! The arrows point down: `cli` → `app` → (`rest` | `graphql`) → `bindings` → `stages` →
//! `flows` → (`object`, `pagination`, `db`) → `entity`. Each object is declared once
//! (`#[api_object]` in its module); the fronts and the store are derived from the declaration.

pub mod app;
pub mod auth;
pub mod bindings;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod executor;
pub mod flow_page;
pub mod flows;
#[doc(hidden)]
pub mod fuzzing;
pub mod graphql;
pub mod health;
pub mod limits;
pub mod object;
pub mod observability;
pub mod pagination;
pub mod rest;
pub mod stages;
pub mod telemetry;
pub mod used_by;
