//! Every management operation in one table: method, path template, required scope
//! and whether tenant tokens may call it. The OpenAPI document is checked against
//! this table, so what is served and what is documented cannot drift.

use crate::percent::decode_path;

/// One management operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `GET /openapi.json`
    OpenApi,
    /// `GET /tenants`
    ListTenants,
    /// `POST /tenants`
    CreateTenant,
    /// `GET /tenants/{tid}`
    GetTenant,
    /// `PATCH /tenants/{tid}`
    UpdateTenant,
    /// `DELETE /tenants/{tid}`
    DeleteTenant,
    /// `GET /tenants/{tid}/domains`
    ListDomains,
    /// `POST /tenants/{tid}/domains`
    CreateDomain,
    /// `GET /tenants/{tid}/domains/{did}`
    GetDomain,
    /// `PATCH /tenants/{tid}/domains/{did}`
    UpdateDomain,
    /// `DELETE /tenants/{tid}/domains/{did}`
    DeleteDomain,
    /// `POST /tenants/{tid}/domains/{did}/_verify`
    VerifyDomain,
    /// `GET /tenants/{tid}/routes`
    ListRoutes,
    /// `POST /tenants/{tid}/routes`
    CreateRoute,
    /// `GET /tenants/{tid}/routes/{rid}`
    GetRoute,
    /// `PATCH /tenants/{tid}/routes/{rid}`
    UpdateRoute,
    /// `DELETE /tenants/{tid}/routes/{rid}`
    DeleteRoute,
    /// `GET /tenants/{tid}/audit`
    ListAudit,
    /// `GET /control-plane/hosts/{host}`
    ResolveHost,
}

/// Static facts about one operation.
#[derive(Debug, Clone, Copy)]
pub struct OpSpec {
    /// The operation.
    pub op: Op,
    /// HTTP method.
    pub method: &'static str,
    /// Path under `/api/v1`, with `{param}` segments.
    pub template: &'static str,
    /// Scope the token must carry (`None`: no authentication).
    pub scope: Option<&'static str>,
    /// Only control-plane tokens (no tenant claim) may call it.
    pub control_plane_only: bool,
}

const fn spec(
    op: Op,
    method: &'static str,
    template: &'static str,
    scope: Option<&'static str>,
    control_plane_only: bool,
) -> OpSpec {
    OpSpec {
        op,
        method,
        template,
        scope,
        control_plane_only,
    }
}

/// Every operation the API serves.
pub const OPERATIONS: [OpSpec; 19] = [
    spec(Op::OpenApi, "GET", "/openapi.json", None, false),
    spec(
        Op::ListTenants,
        "GET",
        "/tenants",
        Some("tenants:read"),
        true,
    ),
    spec(
        Op::CreateTenant,
        "POST",
        "/tenants",
        Some("tenants:write"),
        true,
    ),
    spec(
        Op::GetTenant,
        "GET",
        "/tenants/{tid}",
        Some("tenants:read"),
        false,
    ),
    spec(
        Op::UpdateTenant,
        "PATCH",
        "/tenants/{tid}",
        Some("tenants:write"),
        true,
    ),
    spec(
        Op::DeleteTenant,
        "DELETE",
        "/tenants/{tid}",
        Some("tenants:write"),
        true,
    ),
    spec(
        Op::ListDomains,
        "GET",
        "/tenants/{tid}/domains",
        Some("domains:read"),
        false,
    ),
    spec(
        Op::CreateDomain,
        "POST",
        "/tenants/{tid}/domains",
        Some("domains:write"),
        false,
    ),
    spec(
        Op::GetDomain,
        "GET",
        "/tenants/{tid}/domains/{did}",
        Some("domains:read"),
        false,
    ),
    spec(
        Op::UpdateDomain,
        "PATCH",
        "/tenants/{tid}/domains/{did}",
        Some("domains:write"),
        false,
    ),
    spec(
        Op::DeleteDomain,
        "DELETE",
        "/tenants/{tid}/domains/{did}",
        Some("domains:write"),
        false,
    ),
    spec(
        Op::VerifyDomain,
        "POST",
        "/tenants/{tid}/domains/{did}/_verify",
        Some("domains:write"),
        false,
    ),
    spec(
        Op::ListRoutes,
        "GET",
        "/tenants/{tid}/routes",
        Some("routes:read"),
        false,
    ),
    spec(
        Op::CreateRoute,
        "POST",
        "/tenants/{tid}/routes",
        Some("routes:write"),
        false,
    ),
    spec(
        Op::GetRoute,
        "GET",
        "/tenants/{tid}/routes/{rid}",
        Some("routes:read"),
        false,
    ),
    spec(
        Op::UpdateRoute,
        "PATCH",
        "/tenants/{tid}/routes/{rid}",
        Some("routes:write"),
        false,
    ),
    spec(
        Op::DeleteRoute,
        "DELETE",
        "/tenants/{tid}/routes/{rid}",
        Some("routes:write"),
        false,
    ),
    spec(
        Op::ListAudit,
        "GET",
        "/tenants/{tid}/audit",
        Some("audit:read"),
        false,
    ),
    spec(
        Op::ResolveHost,
        "GET",
        "/control-plane/hosts/{host}",
        Some("proxy:resolve_host"),
        true,
    ),
];

/// Why a request matched no operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No template matches the path.
    NotFound,
    /// The path exists with other methods (the `Allow` value).
    MethodNotAllowed(String),
}

/// A matched operation with its path parameters (percent-decoded).
#[derive(Debug, Clone)]
pub struct Matched {
    /// The operation's facts.
    pub spec: &'static OpSpec,
    /// `(name, value)` per `{param}`.
    pub params: Vec<(&'static str, String)>,
}

impl Matched {
    /// A path parameter.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

fn match_template(template: &'static str, segs: &[&str]) -> Option<Vec<(&'static str, String)>> {
    let tsegs: Vec<&'static str> = template.trim_start_matches('/').split('/').collect();
    if tsegs.len() != segs.len() {
        return None;
    }
    let mut params = Vec::new();
    for (t, s) in tsegs.iter().zip(segs) {
        if let Some(name) = t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            let v = decode_path(s)?;
            if v.is_empty() || v.contains('/') {
                return None;
            }
            params.push((name, v));
        } else if t != s {
            return None;
        }
    }
    Some(params)
}

/// Finds the operation for `method` and `path` (the part after `/api/v1`).
pub fn route(method: &str, path: &str) -> Result<Matched, RouteError> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut allow: Vec<&'static str> = Vec::new();
    for spec in &OPERATIONS {
        if let Some(params) = match_template(spec.template, &segs) {
            if spec.method == method {
                return Ok(Matched { spec, params });
            }
            if !allow.contains(&spec.method) {
                allow.push(spec.method);
            }
        }
    }
    if allow.is_empty() {
        Err(RouteError::NotFound)
    } else {
        Err(RouteError::MethodNotAllowed(allow.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_params() {
        let m = route("GET", "/tenants/acme/routes/rt_1").expect("match");
        assert_eq!(m.spec.op, Op::GetRoute);
        assert_eq!(m.param("tid"), "acme");
        assert_eq!(m.param("rid"), "rt_1");
        assert_eq!(
            route("GET", "/tenants/").map(|m| m.spec.op),
            Ok(Op::ListTenants).map_err(|e: RouteError| e)
        );
        assert_eq!(
            route("GET", "/control-plane/hosts/a.example.com").map(|m| m.param("host").to_string()),
            Ok("a.example.com".to_string())
        );
        assert_eq!(
            route("PUT", "/tenants/acme").err(),
            Some(RouteError::MethodNotAllowed("GET, PATCH, DELETE".into()))
        );
        assert_eq!(
            route("POST", "/tenants/acme/domains/dom_1/_verify").map(|m| m.spec.op),
            Ok(Op::VerifyDomain)
        );
        assert_eq!(route("GET", "/nope").err(), Some(RouteError::NotFound));
        assert_eq!(
            route("GET", "/tenants/a/b/c/d").err(),
            Some(RouteError::NotFound)
        );
        assert_eq!(
            route("GET", "/tenants//routes").err(),
            Some(RouteError::NotFound)
        );
    }
}
