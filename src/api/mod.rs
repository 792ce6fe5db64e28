//! The management API's pure parts: the operation table and its matcher,
//! authorisation decisions, request-body validation, paging cursors and RFC 9457
//! problem documents. The platform layer (src/platform/api/) adds only D1 and
//! cache I/O.

pub mod audit_query;
pub mod authz;
pub mod bodies;
pub mod openapi;
pub mod operations;
pub mod paging;
pub mod problem;
pub mod route_policy;
pub mod router;
pub mod settings;
pub mod time;

pub use operations::{Op, OpMethod, OpSpec, OPERATIONS};
pub use problem::{Problem, ProblemKind};
pub use router::{route, OpMatchError};
