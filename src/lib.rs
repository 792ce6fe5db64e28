//! Portico: a multi-tenant, identity-aware edge proxy as one Rust Worker.

pub mod config;
pub mod host;
pub mod percent;
pub mod routing;
