//! Who may call what: scopes, control-plane vs tenant tokens, and tenant isolation.

use super::operations::OpSpec;
use super::problem::Problem;
use crate::auth::VerifiedClaims;

/// Whom a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No tenant claim (or the control-plane tenant's id): every tenant.
    ControlPlane,
    /// Exactly this tenant.
    Tenant(String),
}

impl Principal {
    /// From verified claims; `cp_tenant_id` is the control-plane tenant's id.
    pub fn of(claims: &VerifiedClaims, cp_tenant_id: &str) -> Self {
        match &claims.tenant {
            None => Self::ControlPlane,
            Some(t) if t == cp_tenant_id => Self::ControlPlane,
            Some(t) => Self::Tenant(t.clone()),
        }
    }
}

/// Decides whether `claims` may run `spec` on tenant `path_tenant` (the `{tid}` in
/// the path, if any). Scope is checked first, then tenant reach.
pub fn authorize(
    spec: &OpSpec,
    claims: &VerifiedClaims,
    path_tenant: Option<&str>,
    cp_tenant_id: &str,
) -> Result<Principal, Problem> {
    if let Some(scope) = spec.scope {
        if !claims.has_scope(scope) {
            return Err(Problem::insufficient_scope(scope));
        }
    }
    let principal = Principal::of(claims, cp_tenant_id);
    if let Principal::Tenant(own) = &principal {
        if spec.control_plane_only {
            return Err(Problem::forbidden(
                "this operation needs a control-plane token",
            ));
        }
        if path_tenant.is_some_and(|t| t != own) {
            // Connections do not even admit to existing under another tenant.
            if spec.template.starts_with("/tenants/{tid}/connections") {
                return Err(Problem::not_found("connection"));
            }
            return Err(Problem::forbidden("the token belongs to another tenant"));
        }
    }
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::router::route;
    use serde_json::json;

    fn claims(v: serde_json::Value) -> VerifiedClaims {
        match v {
            serde_json::Value::Object(m) => VerifiedClaims::from_map(m).expect("claims"),
            _ => VerifiedClaims::default(),
        }
    }

    #[test]
    fn isolation_rules() {
        let list = route("GET", "/tenants/b/routes").expect("op");
        let a = claims(json!({"scope":"routes:read","tenant_id":"a"}));
        assert_eq!(
            authorize(list.spec, &a, Some("b"), "control_plane")
                .err()
                .map(|p| p.status()),
            Some(403)
        );
        assert_eq!(
            authorize(list.spec, &a, Some("a"), "control_plane").ok(),
            Some(Principal::Tenant("a".into()))
        );
        let no_scope = claims(json!({"scope":"routes:write","tenant_id":"a"}));
        assert_eq!(
            authorize(list.spec, &no_scope, Some("a"), "control_plane")
                .err()
                .map(|p| p.code()),
            Some("insufficient_scope")
        );
        let tenants = route("GET", "/tenants").expect("op");
        let a = claims(json!({"scope":"tenants:read","org_id":"a"}));
        assert_eq!(
            authorize(tenants.spec, &a, None, "control_plane")
                .err()
                .map(|p| p.code()),
            Some("forbidden")
        );
        let cp = claims(json!({"scope":"tenants:read"}));
        assert_eq!(
            authorize(tenants.spec, &cp, None, "control_plane").ok(),
            Some(Principal::ControlPlane)
        );
        let cp2 = claims(json!({"scope":"tenants:read","tenant_id":"control_plane"}));
        assert_eq!(
            authorize(tenants.spec, &cp2, None, "control_plane").ok(),
            Some(Principal::ControlPlane)
        );
        // A tenant may read its own tenant object.
        let get = route("GET", "/tenants/a").expect("op");
        assert!(authorize(get.spec, &a, Some("a"), "control_plane").is_ok());
    }
}
