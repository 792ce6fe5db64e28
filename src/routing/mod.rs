//! Route selection: path patterns on a matchit index, then method, host, header and
//! query filters in priority order.

pub mod filters;
pub mod limits;
pub mod pattern;
pub mod table;
#[cfg(test)]
pub(crate) mod testing;

pub use filters::{MatchSpec, MethodSet, RequestFacts};
pub use pattern::PathPattern;
pub use table::{RouteMatch, RouteTable};
