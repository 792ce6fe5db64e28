//! `rate_limit`: one hit on an operator's Workers Rate Limiting binding per request,
//! counted under a key built from the request as received. The hit is a need
//! ([`Need::RateLimit`]): the platform asks the limiter before the chain runs, and
//! the request phase only reads the decision.
//!
//! Counter keys always start with the tenant and the route, each length-prefixed,
//! and end with a digest of the client value, so no header or claim value can
//! spell another tenant's or route's counter (see [`counter_key`]).

use super::jwt::Jwt;
use super::kind::HandlerKind;
use crate::config::bindings::Bindings;
use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::error::ProxyError;
use crate::message::{is_header_name, HeaderAccess};
use crate::request::{Flow, Need, NeedError, RateDecision, RequestCx};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::rc::Rc;

/// The var listing the limiters routes may name.
pub const LIMITERS_VAR: &str = "PORTICO_RATE_LIMITERS";

/// Periods a Workers Rate Limiting binding may have (seconds).
pub const PERIODS: [u32; 2] = [10, 60];

/// The period assumed when no environment is at hand to say (tests, property runs).
const UNCHECKED_PERIOD_S: u32 = 60;

/// Longest claim or header name in `key`: it becomes part of every counter key.
const MAX_KEY_NAME_BYTES: usize = 128;

/// Header the client IP is read from (set by Cloudflare, not by the client).
const CLIENT_IP_HEADER: &str = "cf-connecting-ip";

/// One entry of `PORTICO_RATE_LIMITERS`: a binding name and its period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimiterSpec {
    /// The binding name.
    pub name: String,
    /// The binding's `simple.period`, seconds (10 or 60).
    pub period_s: u32,
}

/// Parses `PORTICO_RATE_LIMITERS`: comma-separated `NAME:period` entries (period 10
/// or 60, as the binding declares it in wrangler.toml). Malformed entries are left
/// out and reported.
pub fn parse_limiters(raw: &str) -> (Vec<LimiterSpec>, Vec<String>) {
    let mut out: Vec<LimiterSpec> = Vec::new();
    let mut errors = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once(':').and_then(|(name, period)| {
            let name = name.trim();
            let period = period.trim().parse::<u32>().ok()?;
            let binding_like =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            (binding_like && PERIODS.contains(&period)).then(|| LimiterSpec {
                name: name.to_string(),
                period_s: period,
            })
        });
        match parsed {
            Some(spec) if out.iter().any(|s| s.name == spec.name) => {
                errors.push(format!("{LIMITERS_VAR}: '{}' is listed twice", spec.name));
            }
            Some(spec) => out.push(spec),
            None => errors.push(format!(
                "{LIMITERS_VAR}: '{entry}' is not NAME:10 or NAME:60; ignored"
            )),
        }
    }
    (out, errors)
}

/// What a counter is keyed by (`key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRecipe {
    /// `ip`: the client address (`cf-connecting-ip`; IPv6 by its /64).
    Ip,
    /// `tenant`: every request of the route's tenant on this route.
    Tenant,
    /// `route`: every request on this route.
    Route,
    /// `claim:<name>`: a claim verified by the `jwt` handler before this one.
    Claim(String),
    /// `header:<name>`: a request header's value.
    Header(String),
}

impl KeyRecipe {
    /// Parses a `key` option.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let named = |name: &str| -> Result<String, &'static str> {
            if name.is_empty() {
                Err("claim:<name> and header:<name> need a name")
            } else if name.len() > MAX_KEY_NAME_BYTES {
                Err("names a claim or header longer than 128 bytes")
            } else {
                Ok(name.to_string())
            }
        };
        match raw {
            "ip" => Ok(Self::Ip),
            "tenant" => Ok(Self::Tenant),
            "route" => Ok(Self::Route),
            _ => {
                if let Some(name) = raw.strip_prefix("claim:") {
                    named(name).map(Self::Claim)
                } else if let Some(name) = raw.strip_prefix("header:") {
                    let name = named(name)?;
                    if !is_header_name(&name) {
                        return Err("header:<name> needs a valid header name");
                    }
                    Ok(Self::Header(name.to_ascii_lowercase()))
                } else {
                    Err("must be ip, tenant, route, claim:<name> or header:<name>")
                }
            }
        }
    }

    /// The recipe as it appears in counter keys.
    fn tag(&self) -> String {
        match self {
            Self::Ip => "ip".into(),
            Self::Tenant => "tenant".into(),
            Self::Route => "route".into(),
            Self::Claim(c) => format!("claim:{c}"),
            Self::Header(h) => format!("header:{h}"),
        }
    }
}

/// The client part of a counter key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// The recipe has no client part (`tenant`, `route`).
    Whole,
    /// The key source is missing: one shared anonymous counter.
    Anonymous,
    /// A client value (digested in the key).
    Of(String),
}

/// The counter key prefix for one tenant, route and recipe: each part
/// length-prefixed (`rl1/<len>:<tenant>/<len>:<route>/<len>:<recipe>/`), so the
/// parts can be read back unambiguously whatever bytes they hold.
pub fn key_prefix(tenant: &str, route_scope: &str) -> String {
    format!("rl1/{}:{tenant}/{route_scope}", tenant.len())
}

fn route_scope(route: &str, recipe: &KeyRecipe) -> String {
    let tag = recipe.tag();
    format!("{}:{route}/{}:{tag}/", route.len(), tag.len())
}

/// The full counter key: the prefix, then `*` (no client part), `-` (anonymous) or
/// the base64url of the first 16 bytes of SHA-256 of the value. A value never
/// appears in the key as sent, so it cannot carry a separator, and keys stay short
/// whatever a client sends.
pub fn counter_key(prefix: &str, value: &KeyValue) -> String {
    match value {
        KeyValue::Whole => format!("{prefix}*"),
        KeyValue::Anonymous => format!("{prefix}-"),
        KeyValue::Of(v) => {
            let digest = Sha256::digest(v.as_bytes());
            format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&digest[..16]))
        }
    }
}

/// The client address as a counter value: IPv4 as is, IPv6 by its /64 (one client
/// usually holds a whole /64). Not an IP address: none.
fn client_ip(raw: &str) -> Option<String> {
    match raw.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(v4.to_string()),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
        }
    }
}

/// Compiled `rate_limit` options.
#[derive(Debug, Clone)]
pub struct RateLimit {
    limiter: Rc<str>,
    period_s: u32,
    recipe: KeyRecipe,
    /// Route and recipe part of the key (the tenant comes from the request).
    route_scope: String,
    /// For `claim:` keys: the `jwt` handler placed before this one.
    jwt: Option<Jwt>,
}

/// What `compile` leaves to the chain: a `claim:` key needs the `jwt` before it.
#[derive(Debug, Clone)]
pub struct PendingRateLimit {
    limit: RateLimit,
}

impl PendingRateLimit {
    /// Whether the key reads a verified claim (needs a `jwt` handler before).
    pub fn needs_jwt(&self) -> bool {
        matches!(self.limit.recipe, KeyRecipe::Claim(_))
    }

    /// Finishes with the `jwt` handler before this one (only for claim keys).
    pub fn with_jwt(mut self, jwt: Option<Jwt>) -> RateLimit {
        self.limit.jwt = jwt;
        self.limit
    }
}

impl RateLimit {
    /// Compiles `limiter` and `key` (default `ip`). `bindings` answers for the
    /// limiters the deployment offers; without it any name passes with a 60 s
    /// period (no environment to check against). `route_id` names the route in
    /// counter keys.
    pub fn compile(
        f: &mut Fields<'_>,
        bindings: Option<&dyn Bindings>,
        route_id: &str,
        diags: &mut Diagnostics,
    ) -> Option<PendingRateLimit> {
        let start = diags.len();
        let limiter = f.required_string("limiter", diags);
        let period_s = limiter.and_then(|name| match bindings {
            None => Some(UNCHECKED_PERIOD_S),
            Some(b) => {
                let period = b.rate_limiter_period(name);
                if period.is_none() {
                    diags.error(
                        f.path_of("limiter"),
                        format!(
                            "no rate limiter named '{name}' in this deployment (see {LIMITERS_VAR})"
                        ),
                    );
                }
                period
            }
        });
        let recipe = match f.string("key", diags) {
            None => Some(KeyRecipe::Ip),
            Some(raw) => match KeyRecipe::parse(raw) {
                Ok(r) => Some(r),
                Err(why) => {
                    diags.error(f.path_of("key"), why);
                    None
                }
            },
        };
        if diags.len() != start {
            return None;
        }
        let recipe = recipe?;
        Some(PendingRateLimit {
            limit: Self {
                limiter: Rc::from(limiter?),
                period_s: period_s?,
                route_scope: route_scope(route_id, &recipe),
                recipe,
                jwt: None,
            },
        })
    }

    /// The limiter binding name.
    pub fn limiter(&self) -> &str {
        &self.limiter
    }

    /// The counter key's client part for this request, read from the request as
    /// received; `None` when no hit should be declared (a claim key whose token
    /// does not verify yet: the keys are still to be fetched, or the `jwt` handler
    /// will refuse the request before this one runs).
    fn value(&self, cx: &RequestCx<'_>, inbound: &dyn HeaderAccess) -> Option<KeyValue> {
        let present = |v: Option<String>| match v {
            Some(v) if !v.is_empty() => KeyValue::Of(v),
            Some(_) | None => KeyValue::Anonymous,
        };
        Some(match &self.recipe {
            KeyRecipe::Tenant | KeyRecipe::Route => KeyValue::Whole,
            KeyRecipe::Ip => present(inbound.get(CLIENT_IP_HEADER).and_then(|v| client_ip(&v))),
            KeyRecipe::Header(name) => present(inbound.get(name)),
            KeyRecipe::Claim(name) => {
                let claims = self.jwt.as_ref()?.check(cx, inbound).ok()?;
                present(claims.header_value(name))
            }
        })
    }

    /// The limiter hit this request needs.
    pub fn need(&self, cx: &RequestCx<'_>, inbound: &dyn HeaderAccess) -> Option<Need> {
        let value = self.value(cx, inbound)?;
        let prefix = key_prefix(cx.tenant_id, &self.route_scope);
        Some(Need::RateLimit {
            limiter: self.limiter.clone(),
            key: counter_key(&prefix, &value),
        })
    }

    /// Request phase: reads the limiter's decision. Over the limit: 429 with
    /// `Retry-After` of the limiter's period.
    ///
    /// A limiter that failed (the platform logged why) lets the request through:
    /// an outage of the counting service must not take every rate-limited site
    /// down with it, and the limits are approximate by design anyway. A decision
    /// that was never asked for fails closed (502 `rate_limit_failed`), as `jwt`
    /// does for keys never fetched: it means the key could not be read from the
    /// request as received (say, a token an earlier handler put there), and a
    /// request must not pass uncounted because of how its chain was written.
    pub fn on_request(&self, cx: &RequestCx<'_>) -> Flow {
        let prefix = key_prefix(cx.tenant_id, &self.route_scope);
        match cx.pre.rate_limit_under(&self.limiter, &prefix) {
            Some(Ok(RateDecision::Allowed)) | Some(Err(_)) => Flow::Continue,
            Some(Ok(RateDecision::Limited)) => Flow::Fail(ProxyError::RateLimited {
                retry_after_s: self.period_s,
            }),
            None => Flow::Fail(ProxyError::HandlerFailed {
                handler: HandlerKind::RateLimit.as_str(),
                detail: NeedError::Missing.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
