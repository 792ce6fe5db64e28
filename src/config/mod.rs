//! Configuration: strict reading of route JSON into compiled, typed values.

pub mod diag;
pub mod document;
pub mod fields;
pub mod route;

pub use diag::{ConfigError, ConfigErrors, Diagnostics};
