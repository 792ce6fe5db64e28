//! The `static` host source: a whole JSON document validated at once.

use super::diag::{field, ConfigErrors, Diagnostics};
use super::fields::Fields;
use crate::config::bindings::Bindings;
use crate::config::host::{HostConfig, HostRecord};
use crate::host::normalize_host;
use crate::routing::limits::RouteLimits;
use serde_json::Value;
use std::collections::HashMap;
use std::rc::Rc;

/// A validated static document: every host compiled.
#[derive(Debug, Default)]
pub struct StaticDocument {
    hosts: HashMap<String, Rc<HostConfig>>,
}

impl StaticDocument {
    /// Parses and validates `PORTICO_STATIC_CONFIG` (an object, or a string holding
    /// one). Any error anywhere refuses the whole document.
    pub fn parse(
        raw: &str,
        bindings: Option<&dyn Bindings>,
        limits: &RouteLimits,
    ) -> Result<Self, ConfigErrors> {
        let mut diags = Diagnostics::new();
        let value: Value = match serde_json::from_str(raw) {
            Ok(Value::String(inner)) => match serde_json::from_str(&inner) {
                Ok(v) => v,
                Err(e) => {
                    diags.error("", format!("not valid JSON: {e}"));
                    return Err(diags.into_errors());
                }
            },
            Ok(v) => v,
            Err(e) => {
                diags.error("", format!("not valid JSON: {e}"));
                return Err(diags.into_errors());
            }
        };
        let mut doc = Self::default();
        let mut root = Fields::new(Some(&value), "", &mut diags);
        let hosts = root.raw("hosts");
        root.finish(&mut diags);
        let Some(hosts) = hosts else {
            diags.error("hosts", "is required");
            return Err(diags.into_errors());
        };
        let Value::Object(hosts) = hosts else {
            diags.error("hosts", "must be an object keyed by domain");
            return Err(diags.into_errors());
        };
        for (domain, entry) in hosts {
            let hpath = format!("hosts[{}]", serde_json::Value::String(domain.clone()));
            let key = if let Some(suffix) = domain.strip_prefix("*.") {
                normalize_host(suffix).map(|s| format!("*.{s}"))
            } else {
                normalize_host(domain)
            };
            let Ok(key) = key else {
                diags.error(
                    hpath,
                    "is not a valid domain (a host name or *.example.com)",
                );
                continue;
            };
            if doc.hosts.contains_key(&key) {
                diags.error(hpath, "the same domain appears twice after normalisation");
                continue;
            }
            let mut f = Fields::new(Some(entry), &hpath, &mut diags);
            let tenant_id = f
                .required_string("tenant_id", &mut diags)
                .map(str::to_string);
            let custom_domain_id = f.string("custom_domain_id", &mut diags).map(str::to_string);
            let routes = match f.raw("routes") {
                Some(Value::Array(r)) => r.clone(),
                Some(_) => {
                    diags.error(f.path_of("routes"), "must be a list of routes");
                    Vec::new()
                }
                None => Vec::new(),
            };
            f.finish(&mut diags);
            let Some(tenant_id) = tenant_id else { continue };
            let record = HostRecord {
                tenant_id,
                custom_domain_id,
                domain: key.clone(),
                routes,
                exclusive: false,
            };
            if let Some(config) = HostConfig::compile(
                &record,
                &field(&hpath, "routes"),
                bindings,
                limits,
                &mut diags,
            ) {
                doc.hosts.insert(key, Rc::new(config));
            }
        }
        diags.finish(doc)
    }

    /// The config for a normalised host (exact first, then wildcards).
    pub fn lookup(&self, host: &str) -> Option<Rc<HostConfig>> {
        crate::host::lookup_candidates(host)
            .iter()
            .find_map(|k| self.hosts.get(k).cloned())
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether the document has no hosts.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}
