//! Configuration: strict reading of route JSON into compiled, typed values.

pub mod diag;
pub mod fields;

pub use diag::{ConfigError, ConfigErrors, Diagnostics};
