//! The built-in handler kinds: one enum for the config `type` strings, so compile
//! dispatch, `type_name`, the custom-registration check and error codes read one
//! list instead of five.

use std::fmt;
use std::str::FromStr;

/// A built-in handler `type` (custom types are registered by name, see
/// [`super::custom`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandlerKind {
    /// `cors`
    Cors,
    /// `basic_auth`
    BasicAuth,
    /// `headers`
    Headers,
    /// `cache`
    Cache,
    /// `forwarded_headers`
    ForwardedHeaders,
    /// `rewrite_cookies`
    RewriteCookies,
    /// `rewrite_location`
    RewriteLocation,
    /// `jwt`
    Jwt,
    /// `credentials` (reserved: not available in this release)
    Credentials,
    /// `rate_limit`
    RateLimit,
    /// `http`
    Http,
    /// `service_binding`
    ServiceBinding,
    /// `dispatch_namespace`
    DispatchNamespace,
    /// `redirect`
    Redirect,
    /// `static`
    Static,
}

impl HandlerKind {
    /// Every kind, in the order the README lists them.
    pub const ALL: [HandlerKind; 15] = [
        Self::Cors,
        Self::BasicAuth,
        Self::Headers,
        Self::Cache,
        Self::ForwardedHeaders,
        Self::RewriteCookies,
        Self::RewriteLocation,
        Self::Jwt,
        Self::Credentials,
        Self::RateLimit,
        Self::Http,
        Self::ServiceBinding,
        Self::DispatchNamespace,
        Self::Redirect,
        Self::Static,
    ];

    /// The `type` string as written in config (also the stem of error codes such
    /// as `http_failed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cors => "cors",
            Self::BasicAuth => "basic_auth",
            Self::Headers => "headers",
            Self::Cache => "cache",
            Self::ForwardedHeaders => "forwarded_headers",
            Self::RewriteCookies => "rewrite_cookies",
            Self::RewriteLocation => "rewrite_location",
            Self::Jwt => "jwt",
            Self::Credentials => "credentials",
            Self::RateLimit => "rate_limit",
            Self::Http => "http",
            Self::ServiceBinding => "service_binding",
            Self::DispatchNamespace => "dispatch_namespace",
            Self::Redirect => "redirect",
            Self::Static => "static",
        }
    }

    /// Whether a handler of this kind ends a chain.
    pub const fn is_terminal(self) -> bool {
        match self {
            Self::Http
            | Self::ServiceBinding
            | Self::DispatchNamespace
            | Self::Redirect
            | Self::Static => true,
            Self::Cors
            | Self::BasicAuth
            | Self::Headers
            | Self::Cache
            | Self::ForwardedHeaders
            | Self::RewriteCookies
            | Self::RewriteLocation
            | Self::Jwt
            | Self::Credentials
            | Self::RateLimit => false,
        }
    }

    /// The built-in terminals' names, for error messages.
    pub fn terminal_names() -> String {
        Self::ALL
            .iter()
            .filter(|k| k.is_terminal())
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for HandlerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a built-in handler type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a built-in handler type")]
pub struct NotBuiltIn;

impl FromStr for HandlerKind {
    type Err = NotBuiltIn;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or(NotBuiltIn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for k in HandlerKind::ALL {
            assert_eq!(k.as_str().parse::<HandlerKind>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        for bad in ["", "HTTP", "Cors", "rate-limit", "custom", "http "] {
            assert_eq!(bad.parse::<HandlerKind>(), Err(NotBuiltIn), "{bad:?}");
        }
    }

    #[test]
    fn terminals_are_the_five_upstream_kinds() {
        assert_eq!(
            HandlerKind::terminal_names(),
            "http, service_binding, dispatch_namespace, redirect, static"
        );
    }
}
