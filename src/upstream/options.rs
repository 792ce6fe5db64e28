//! Options shared by the terminals that send a request on: the environment binding
//! a call goes through, and how long it may take to answer.

use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;

/// Default time to response headers.
pub const DEFAULT_TIMEOUT_MS: i64 = 30_000;
/// Longest allowed `timeout_ms`.
pub const MAX_TIMEOUT_MS: i64 = 300_000;

/// Reads `timeout_ms` with its bounds and default.
pub(crate) fn timeout_ms(f: &mut Fields<'_>, diags: &mut Diagnostics) -> u32 {
    let v = f
        .integer("timeout_ms", 1, MAX_TIMEOUT_MS, diags)
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    u32::try_from(v).unwrap_or(30_000)
}

/// Whether a binding name is a plausible environment binding (a JS identifier).
pub fn is_binding_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// Reads the required `binding`; an error is recorded when it is not a binding name
/// (the name is still returned, so callers can derive defaults from it).
pub(crate) fn binding<'a>(f: &mut Fields<'a>, diags: &mut Diagnostics) -> Option<&'a str> {
    let binding = f.required_string("binding", diags);
    if let Some(b) = binding {
        if !is_binding_name(b) {
            diags.error(
                f.path_of("binding"),
                "must be a binding name (letters, digits, _)",
            );
        }
    }
    binding
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binding_names() {
        for (name, ok) in [
            ("EXAMPLE_SERVICE", true),
            ("_x1", true),
            ("1abc", false),
            ("no-dashes", false),
            ("", false),
            (&"A".repeat(64), true),
            (&"A".repeat(65), false),
        ] {
            assert_eq!(is_binding_name(name), ok, "{name}");
        }
    }

    #[test]
    fn timeout_bounds_and_default() {
        for (v, want, errors) in [
            (json!({}), 30_000, 0),
            (json!({ "timeout_ms": 1500 }), 1500, 0),
            (json!({ "timeout_ms": 300_000 }), 300_000, 0),
            (json!({ "timeout_ms": 0 }), 30_000, 1),
            (json!({ "timeout_ms": 300_001 }), 30_000, 1),
        ] {
            let mut d = Diagnostics::new();
            let mut f = Fields::new(Some(&v), "o", &mut d);
            assert_eq!(timeout_ms(&mut f, &mut d), want, "{v}");
            assert_eq!(d.len(), errors, "{v}");
        }
    }
}
