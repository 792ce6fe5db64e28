//! What a verified token says: subject, scopes, tenant, and every other claim.

use super::error::AuthError;
use serde_json::{Map, Value};

/// Claims of a token whose signature, times, issuer and audience checked out.
#[derive(Debug, Clone, Default)]
pub struct VerifiedClaims {
    /// `sub`, or empty.
    pub sub: String,
    /// The space-separated `scope` claim, split (a list of strings is accepted too).
    pub scopes: Vec<String>,
    /// `tenant_id`, else `org_id`.
    pub tenant: Option<String>,
    /// Every claim except `exp`/`nbf`/`iat` (kept for `forward_claims`).
    pub raw: Map<String, Value>,
    /// `exp` (Unix seconds), so a cached verification can re-check time alone.
    pub expires_at: i64,
    /// `nbf` (Unix seconds), when present.
    pub not_before: Option<i64>,
}

impl VerifiedClaims {
    /// Builds from the custom-claims map of a verified token. A tenant claim that is
    /// present but not a non-empty string is refused: treating it as absent would
    /// turn the token into a control-plane token.
    pub fn from_map(raw: Map<String, Value>) -> Result<Self, AuthError> {
        let sub = raw
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let scopes = match raw.get("scope") {
            Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_string).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let mut tenant = None;
        for key in ["tenant_id", "org_id"] {
            match raw.get(key) {
                None => continue,
                Some(Value::String(s)) if !s.is_empty() => {
                    tenant = Some(s.clone());
                    break;
                }
                Some(_) => return Err(AuthError::Claims),
            }
        }
        Ok(Self {
            sub,
            scopes,
            tenant,
            raw,
            expires_at: 0,
            not_before: None,
        })
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// A claim rendered as a header value: strings as-is, numbers/bools as JSON text,
    /// lists of strings joined by spaces, anything else as JSON. `None` when absent.
    pub fn header_value(&self, claim: &str) -> Option<String> {
        let v = self.raw.get(claim)?;
        let text = match v {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            Value::Array(a) if a.iter().all(Value::is_string) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        };
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> VerifiedClaims {
        match v {
            Value::Object(m) => VerifiedClaims::from_map(m).expect("valid claims"),
            _ => VerifiedClaims::default(),
        }
    }

    #[test]
    fn malformed_tenant_claims_are_refused_not_ignored() {
        for bad in [
            json!({"tenant_id": 7}),
            json!({"org_id": ["a"]}),
            json!({"tenant_id": ""}),
            json!({"tenant_id": null}),
            json!({"org_id": {"id": "a"}}),
            json!({"tenant_id": true}),
        ] {
            let Value::Object(m) = bad.clone() else {
                continue;
            };
            assert_eq!(
                VerifiedClaims::from_map(m).err(),
                Some(AuthError::Claims),
                "{bad}"
            );
        }
    }

    #[test]
    fn scopes_tenant_and_header_values() {
        let c = claims(
            json!({"sub":"u1","scope":"a:read  b:write","org_id":"acme","n":3,"l":["x","y"],"o":{"k":1}}),
        );
        assert_eq!(c.sub, "u1");
        assert!(c.has_scope("b:write") && !c.has_scope("b"));
        assert_eq!(c.tenant.as_deref(), Some("acme"));
        assert_eq!(c.header_value("n").as_deref(), Some("3"));
        assert_eq!(c.header_value("l").as_deref(), Some("x y"));
        assert_eq!(c.header_value("o").as_deref(), Some("{\"k\":1}"));
        assert_eq!(c.header_value("missing"), None);
        let t = claims(json!({"tenant_id":"a","org_id":"b"}));
        assert_eq!(t.tenant.as_deref(), Some("a"));
    }
}
