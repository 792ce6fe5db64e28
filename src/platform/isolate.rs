//! State that lives as long as the Wasm instance: settings, the host cache, the
//! parsed static document, in-flight source reads and debug counters.

use super::env::{var, EnvBindings};
use super::grants::GrantCache;
use super::shared::SingleFlight;
use super::vault::VaultState;
use crate::api::route_policy::RoutePolicy;
use crate::api::settings::ApiSettings;
use crate::auth::jwks_cache::JwksCache;
use crate::auth::token_cache::TokenCache;
use crate::canonical_path::EncodedSlashes;
use crate::chain::rate_limit::{parse_limiters, LimiterSpec, LIMITERS_VAR};
use crate::config::document::StaticDocument;
use crate::config::host::HostConfig;
use crate::config::ConfigErrors;
use crate::domains::settings::DomainSettings;
use crate::oauth::token::CachedToken;
use crate::resolve::remote::RemoteSettings;
use crate::resolve::{CacheTtls, MemoryCache};
use crate::routing::limits::FilterLimits;
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use worker::Env;

/// Management API tokens remembered per isolate.
const API_TOKEN_CACHE: usize = 256;

/// A compiled host, or why its stored config could not be compiled.
pub(crate) type Compiled = Result<Rc<HostConfig>, Rc<str>>;

/// Which host source this deployment uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceKind {
    D1,
    Static,
    /// Another Portico's control plane over HTTP or a service binding.
    Remote(RemoteSettings),
    /// Misconfigured: every request answers `config_invalid`.
    Unsupported(String),
}

/// Cumulative counters, exposed only with `PORTICO_DEBUG_HEADERS=true`.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) source_reads: Cell<u64>,
    pub(crate) cache_api_reads: Cell<u64>,
    pub(crate) cache_api_writes: Cell<u64>,
    pub(crate) route_compiles: Cell<u64>,
}

impl Counters {
    pub(crate) fn bump(c: &Cell<u64>) {
        c.set(c.get().saturating_add(1));
    }

    pub(crate) fn header_value(&self) -> String {
        format!(
            "source_reads={},cache_api_reads={},cache_api_writes={},route_compiles={}",
            self.source_reads.get(),
            self.cache_api_reads.get(),
            self.cache_api_writes.get(),
            self.route_compiles.get()
        )
    }
}

pub(crate) struct Isolate {
    pub(crate) ttls: CacheTtls,
    pub(crate) source: SourceKind,
    pub(crate) debug_headers: bool,
    /// Budgets and tenant rules for routes (write time and compile time).
    pub(crate) route_policy: RoutePolicy,
    /// Bounds on the text route filters scan per request.
    pub(crate) filter_limits: FilterLimits,
    /// `PORTICO_ENCODED_SLASHES`: what `%2F` / `%5C` in a path do (DESIGN §3).
    pub(crate) encoded_slashes: EncodedSlashes,
    pub(crate) memory: RefCell<MemoryCache<Compiled>>,
    /// Source reads in flight, shared by every request that missed on the same
    /// host, tagged with the purge generation each started under. Each resolves to
    /// the host record as JSON (`null` for unknown hosts).
    pub(crate) inflight: SingleFlight<u64>,
    /// Bumped by every management purge. A source read (or cache write) that
    /// started under an older generation may hold what the purge removed, so its
    /// result is used once but never cached.
    pub(crate) purge_generation: Cell<u64>,
    pub(crate) counters: Counters,
    /// Management API settings (also the JWKS policy for `jwt` routes).
    pub(crate) api: ApiSettings,
    /// Domain ownership settings (DoH resolver, per-tenant budget).
    pub(crate) domains: DomainSettings,
    /// Fetched JWKS by URL (bounded; see `crate::auth::jwks_cache`).
    pub(crate) jwks: RefCell<JwksCache>,
    /// JWKS fetches in flight, shared by concurrent requests (each records its
    /// outcome in `jwks`).
    pub(crate) jwks_inflight: SingleFlight,
    /// `PORTICO_RATE_LIMITERS`: the limiter bindings `rate_limit` may name.
    pub(crate) rate_limiters: Vec<LimiterSpec>,
    /// Management API tokens already verified against the inline keys.
    pub(crate) api_tokens: RefCell<TokenCache>,
    /// The credential vault's key ring and derived keys.
    pub(crate) vault: VaultState,
    /// Connections opened for calls, kept for a few seconds.
    pub(crate) grants: GrantCache,
    /// The remote source's client-credentials token.
    pub(crate) remote_token: RefCell<Option<CachedToken>>,
    static_doc: OnceCell<Result<Rc<StaticDocument>, ConfigErrors>>,
}

thread_local! {
    static ISOLATE: RefCell<Option<Rc<Isolate>>> = const { RefCell::new(None) };
}

impl Isolate {
    /// The isolate's state, created from the environment on first use. Vars cannot
    /// change within an isolate's life, so reading them once is exact.
    pub(crate) fn get(env: &Env) -> Rc<Isolate> {
        ISOLATE.with(|cell| {
            if let Some(iso) = cell.borrow().as_ref() {
                return iso.clone();
            }
            let iso = Rc::new(Self::from_env(env));
            *cell.borrow_mut() = Some(iso.clone());
            iso
        })
    }

    fn from_env(env: &Env) -> Self {
        let (ttls, warnings) = CacheTtls::from_vars(|name| var(env, name));
        for w in warnings {
            worker::console_warn!("portico: {w}");
        }
        let source = match var(env, "PORTICO_HOST_SOURCE").as_deref().map(str::trim) {
            None | Some("") | Some("d1") => SourceKind::D1,
            Some("static") => SourceKind::Static,
            Some("remote") => match RemoteSettings::from_vars(|n| var(env, n)) {
                Ok(r) => SourceKind::Remote(r),
                Err(why) => SourceKind::Unsupported(why),
            },
            Some(other) => SourceKind::Unsupported(format!(
                "PORTICO_HOST_SOURCE={other:?} is not one of d1, static, remote"
            )),
        };
        if let SourceKind::Unsupported(why) = &source {
            worker::console_error!("portico: {why}");
        }
        let api = ApiSettings::from_vars(|n| var(env, n));
        for e in &api.errors {
            worker::console_error!("portico: {e}");
        }
        let encoded_slashes = match var(env, "PORTICO_ENCODED_SLASHES") {
            None => EncodedSlashes::default(),
            Some(raw) => EncodedSlashes::parse(&raw).unwrap_or_else(|| {
                worker::console_error!(
                    "portico: PORTICO_ENCODED_SLASHES={raw:?} is not one of reject, decode, keep; using reject"
                );
                EncodedSlashes::Reject
            }),
        };
        let (route_policy, e1) = RoutePolicy::from_vars(|n| var(env, n), &api.hosts);
        let (filter_limits, e2) = FilterLimits::from_vars(|n| var(env, n));
        for e in e1.iter().chain(&e2) {
            worker::console_error!("portico: {e}");
        }
        let (rate_limiters, e3) = parse_limiters(&var(env, LIMITERS_VAR).unwrap_or_default());
        for e in e3 {
            worker::console_error!("portico: {e}");
        }
        let (domains, domain_warnings) = DomainSettings::from_vars(|n| var(env, n));
        for w in domain_warnings {
            worker::console_warn!("portico: {w}");
        }
        Self {
            jwks: RefCell::new(JwksCache::new(api.jwks, api.jwks_url.clone())),
            route_policy,
            filter_limits,
            encoded_slashes,
            api,
            domains,
            jwks_inflight: SingleFlight::new(),
            remote_token: RefCell::new(None),
            vault: VaultState::from_env(env),
            api_tokens: RefCell::new(TokenCache::new(API_TOKEN_CACHE)),
            grants: GrantCache::from_env(env),
            rate_limiters,
            memory: RefCell::new(MemoryCache::new(ttls.max_entries)),
            ttls,
            source,
            debug_headers: var(env, "PORTICO_DEBUG_HEADERS").as_deref() == Some("true"),
            inflight: SingleFlight::new(),
            purge_generation: Cell::new(0),
            counters: Counters::default(),
            static_doc: OnceCell::new(),
        }
    }

    /// The static document, parsed and validated once; every error is logged once.
    pub(crate) fn static_document(&self, env: &Env) -> Result<Rc<StaticDocument>, ()> {
        let doc = self.static_doc.get_or_init(|| {
            let raw = var(env, "PORTICO_STATIC_CONFIG").unwrap_or_default();
            let parsed = if raw.trim().is_empty() {
                let mut d = crate::config::Diagnostics::new();
                d.error("PORTICO_STATIC_CONFIG", "is required when PORTICO_HOST_SOURCE=static");
                Err(d.into_errors())
            } else {
                StaticDocument::parse(&raw, Some(&EnvBindings::new(env, &self.rate_limiters)), &self.route_policy.limits).map(Rc::new)
            };
            match &parsed {
                Ok(_) => Counters::bump(&self.counters.route_compiles),
                Err(errors) => {
                    worker::console_error!(
                        "portico: PORTICO_STATIC_CONFIG is invalid ({} errors); serving 503 config_invalid for every request",
                        errors.0.len()
                    );
                    for e in &errors.0 {
                        worker::console_error!("portico: config error at {}: {}", if e.path.is_empty() { "(document)" } else { &e.path }, e.message);
                    }
                }
            }
            parsed
        });
        doc.as_ref().map(Rc::clone).map_err(|_| ())
    }

    /// The static document if it was parsed already (the synchronous tier cannot
    /// parse it: that needs `Env`).
    pub(crate) fn parsed_static_document(&self) -> Option<Result<Rc<StaticDocument>, ()>> {
        self.static_doc
            .get()
            .map(|doc| doc.as_ref().map(Rc::clone).map_err(|_| ()))
    }

    /// The isolate's state if a request already created it.
    pub(crate) fn existing() -> Option<Rc<Isolate>> {
        ISOLATE.with(|cell| cell.borrow().clone())
    }

    /// Settings the request lifecycle reads.
    pub(crate) fn proxy_settings(&self) -> crate::proxy::ProxySettings {
        crate::proxy::ProxySettings {
            encoded_slashes: self.encoded_slashes,
            filter_limits: self.filter_limits,
        }
    }
}
