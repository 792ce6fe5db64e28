//! Portico: a multi-tenant, identity-aware edge proxy as one Rust Worker.
//!
//! Everything outside `platform` is plain Rust, tested natively with `cargo test`;
//! `platform` is the thin layer over `worker::*` and only builds for wasm32.

pub mod api;
pub mod auth;
pub mod body_limit;
pub mod canonical_path;
pub mod chain;
pub mod config;
pub mod connection;
pub mod connection_proxy;
pub mod connector;
pub mod d1_error;
pub mod domains;
pub mod error;
pub mod grant;
pub mod header_edits;
pub mod host;
pub mod message;
pub mod oauth;
pub mod percent;
pub mod proxy;
pub mod request;
pub mod resolve;
pub mod routing;
pub mod upstream;
pub mod url;
pub mod vault;

#[cfg(test)]
mod properties;

#[cfg(target_arch = "wasm32")]
mod platform;

pub use chain::custom::{register_handler, CustomHandler};
