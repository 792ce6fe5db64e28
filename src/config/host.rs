//! One host's configuration: the stored record (as the source returns it) and its
//! compiled form (route table with handler chains), built once per host version.

use crate::config::bindings::Bindings;
use crate::config::diag::{index, Diagnostics};
use crate::config::route::{compile_route, sort_routes, Route};
use crate::routing::limits::RouteLimits;
use crate::routing::table::TableRoute;
use crate::routing::RouteTable;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::rc::Rc;

/// A host as the source returns it; also what the Cache API tier stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Owning tenant.
    pub tenant_id: String,
    /// Custom domain id (absent for static hosts without one).
    #[serde(default)]
    pub custom_domain_id: Option<String>,
    /// The domain entry that matched (may be a `*.` wildcard).
    pub domain: String,
    /// Route objects, as stored.
    #[serde(default)]
    pub routes: Vec<Value>,
    /// For a `*.` domain: no other domain lies under it, so every host it covers
    /// resolves to this record and one cached copy may serve them all.
    #[serde(default)]
    pub exclusive: bool,
}

/// A compiled host.
#[derive(Debug)]
pub struct HostConfig {
    /// Owning tenant.
    pub tenant_id: String,
    /// Custom domain id.
    pub custom_domain_id: Option<String>,
    /// Matched domain entry.
    pub domain: String,
    /// Routes in selection order.
    pub table: RouteTable<Rc<Route>>,
    /// See [`HostRecord::exclusive`].
    pub exclusive: bool,
}

impl HostConfig {
    /// Whether this config's domain covers `host` (exactly, or as `*.` wildcard):
    /// a cached record is used only for hosts its domain actually covers.
    pub fn covers(&self, host: &str) -> bool {
        match self.domain.strip_prefix('*') {
            Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
            None => self.domain == host,
        }
    }

    /// Compiles every route; errors carry `path` (e.g. `routes`) as prefix.
    pub fn compile(
        record: &HostRecord,
        path: &str,
        bindings: Option<&dyn Bindings>,
        limits: &RouteLimits,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let start = diags.len();
        let mut routes = Vec::with_capacity(record.routes.len());
        for (i, r) in record.routes.iter().enumerate() {
            if let Some(route) = compile_route(r, &index(path, i), bindings, limits, diags) {
                routes.push(route);
            }
        }
        if diags.len() != start {
            return None;
        }
        sort_routes(&mut routes);
        let routes = routes
            .into_iter()
            .map(|r| TableRoute {
                path: r.path,
                spec: r.spec,
                payload: Rc::new(r.payload),
            })
            .collect();
        match RouteTable::build(routes) {
            Ok(table) => Some(Self {
                tenant_id: record.tenant_id.clone(),
                custom_domain_id: record.custom_domain_id.clone(),
                domain: record.domain.clone(),
                table,
                exclusive: record.exclusive,
            }),
            Err(e) => {
                diags.error(index(path, e.route), e.to_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(domain: &str) -> HostConfig {
        let record = HostRecord {
            tenant_id: "t".into(),
            custom_domain_id: None,
            domain: domain.into(),
            routes: Vec::new(),
            exclusive: false,
        };
        let mut d = Diagnostics::new();
        HostConfig::compile(&record, "routes", None, &RouteLimits::default(), &mut d)
            .expect("empty host compiles")
    }

    #[test]
    fn a_record_covers_only_its_own_hosts() {
        let exact = config("shop.example.com");
        assert!(exact.covers("shop.example.com"));
        assert!(!exact.covers("x.shop.example.com"));
        assert!(!exact.covers("other.example.com"));
        let wild = config("*.example.com");
        assert!(wild.covers("a.example.com"));
        assert!(wild.covers("a.b.example.com"));
        assert!(!wild.covers("example.com"));
        assert!(!wild.covers("badexample.com"));
        assert!(!wild.covers("a.example.org"));
    }
}
