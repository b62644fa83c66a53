//! `xlqa serve`: the HTTP service over one index.
//!
//! - `POST /v1/ask`, `POST /v1/ask/batch`: answers, as `xlqa ask --json`;
//! - `GET /v1/index`, `GET /v1/health`, `GET /v1/metrics` (Prometheus text);
//! - `GET /openapi.json` (generated from the types in [`api`]), `GET /` (the page).
//!
//! Model work goes through a bounded worker pool ([`limits::Gate`]); every
//! error is JSON naming the problem ([`error::ApiError`]); a panic in one
//! request becomes a 500 with a logged id. The engine comes from
//! `xlqa_search::EngineBuilder`, as in the CLI.

pub mod api;
pub mod body;
pub mod documents;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod routes;
pub mod server;
pub mod summary;

pub use limits::Limits;
pub use routes::{router, App};
pub use server::{check_exposure, serve, ServeError, ServeOptions};
