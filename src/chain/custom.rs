//! Custom handler types: a trait an embedder implements and a registry that maps a
//! config `type` to its compile function, without touching the built-ins.

use crate::config::diag::Diagnostics;
use crate::message::HeaderAccess;
use crate::request::{Flow, RequestCx};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

/// A handler type registered by an embedder.
pub trait CustomHandler {
    /// The `type` string it was registered under.
    fn type_name(&self) -> &'static str;
    /// Terminal handlers must answer with `Flow::Respond` in `on_request`.
    fn is_terminal(&self) -> bool;
    /// Request phase.
    fn on_request(&self, cx: &RequestCx<'_>, headers: &mut dyn HeaderAccess) -> Flow;
    /// Response phase (middleware only).
    fn on_response(&self, _cx: &RequestCx<'_>, _status: u16, _headers: &mut dyn HeaderAccess) {}
}

/// Compiles a custom handler's `options` (at `path`), recording errors in `diags`.
pub type CompileFn = fn(
    options: Option<&Value>,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<Rc<dyn CustomHandler>>;

thread_local! {
    static REGISTRY: RefCell<Vec<(&'static str, CompileFn)>> = const { RefCell::new(Vec::new()) };
}

/// Why a registration was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The name belongs to a built-in handler.
    #[error("'{0}' is a built-in handler type")]
    BuiltIn(&'static str),
    /// The name was registered before.
    #[error("'{0}' is already registered")]
    Duplicate(&'static str),
}

/// Registers a custom handler type. Call once at start-up, before requests.
pub fn register_handler(type_name: &'static str, compile: CompileFn) -> Result<(), RegisterError> {
    if type_name.parse::<super::HandlerKind>().is_ok() {
        return Err(RegisterError::BuiltIn(type_name));
    }
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        if r.iter().any(|(n, _)| *n == type_name) {
            return Err(RegisterError::Duplicate(type_name));
        }
        r.push((type_name, compile));
        Ok(())
    })
}

/// The compile function registered for `type_name`.
pub(crate) fn lookup(type_name: &str) -> Option<CompileFn> {
    REGISTRY.with(|r| {
        r.borrow()
            .iter()
            .find(|(n, _)| *n == type_name)
            .map(|(_, f)| *f)
    })
}
