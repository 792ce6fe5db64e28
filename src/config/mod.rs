//! Configuration: strict reading of route JSON into compiled, typed values.

pub mod bindings;
pub mod diag;
pub mod document;
pub mod fields;
pub mod host;
pub mod route;

pub use bindings::Bindings;
pub use diag::{ConfigError, ConfigErrors, Diagnostics};
