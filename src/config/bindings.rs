//! What the environment offers a route: the binding names a handler may send
//! through, checked when a route is written so a missing binding is refused then.

/// What the environment offers, so a route naming a missing binding is refused.
pub trait Bindings {
    /// Whether a service binding (Fetcher) of this name exists.
    fn has_service(&self, name: &str) -> bool;
    /// Whether a dispatch namespace (or its local emulator) of this name exists.
    fn has_dispatch_namespace(&self, name: &str) -> bool;
    /// The period (seconds) of a rate limiter routes may name: listed in
    /// `PORTICO_RATE_LIMITERS` and bound in this environment. `None` otherwise.
    fn rate_limiter_period(&self, name: &str) -> Option<u32>;
}
