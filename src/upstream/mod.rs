//! Terminal handlers as leaves: each turns a request into an upstream call or a
//! response. The `Terminal` enum over them lives in `chain::terminal`; the platform
//! layer carries the calls out.

pub mod dispatch;
pub mod http;
pub mod options;
pub mod redirect;
pub mod service;
pub mod static_response;
pub mod target;

use crate::message::HeaderAccess;
use std::rc::Rc;

/// Where the upstream call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A public HTTP(S) origin via `fetch`.
    Fetch,
    /// A service binding by name.
    Service {
        /// Binding name in the environment (shared with the compiled handler).
        binding: Rc<str>,
    },
    /// A script in a dispatch namespace.
    Dispatch {
        /// Binding name of the namespace (shared with the compiled handler).
        binding: Rc<str>,
        /// Resolved script name.
        script: String,
        /// `limits.cpuMs`.
        cpu_ms: Option<i64>,
        /// `limits.subRequests`.
        subrequests: Option<i64>,
    },
}

/// One upstream call, fully decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCall {
    /// Terminal type (for error codes).
    pub handler: &'static str,
    /// Where to send it.
    pub target: Target,
    /// Absolute URL of the upstream request.
    pub url: String,
    /// `Host` to send, when the original must be preserved.
    pub host_header: Option<String>,
    /// Time allowed until response headers arrive.
    pub timeout_ms: u32,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded in either direction.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether the request asks to switch to WebSocket (`Upgrade: websocket`).
pub fn is_websocket_upgrade(headers: &dyn HeaderAccess) -> bool {
    headers.get("upgrade").is_some_and(|u| {
        u.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
    })
}

/// Removes hop-by-hop headers, including any named in `Connection`. For a WebSocket
/// upgrade `Upgrade: websocket` is kept: the runtime's fetch opens the upstream
/// WebSocket from it and hands the socket back on a 101 response.
pub fn strip_hop_by_hop(headers: &mut dyn HeaderAccess, websocket: bool) {
    if let Some(conn) = headers.get("connection") {
        for name in conn.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !(websocket && name.eq_ignore_ascii_case("upgrade")) {
                headers.remove(name);
            }
        }
    }
    for name in HOP_BY_HOP {
        if !(websocket && name == "upgrade") {
            headers.remove(name);
        }
    }
    if websocket {
        headers.set("upgrade", "websocket");
    }
    // The client's `Expect: 100-continue` was answered by the runtime in front of
    // Portico; forwarded, the origin's interim 100 came back as the final response.
    headers.remove("expect");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;

    #[test]
    fn strips_hop_by_hop_and_connection_listed_headers() {
        let mut h = HeaderList::new()
            .with("connection", "keep-alive, x-secret-hop")
            .with("keep-alive", "timeout=5")
            .with("x-secret-hop", "1")
            .with("transfer-encoding", "chunked")
            .with("upgrade", "h2c")
            .with("te", "trailers")
            .with("proxy-authorization", "Basic abc")
            .with("expect", "100-continue")
            .with("x-keep", "yes");
        assert!(!is_websocket_upgrade(&h));
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.0, vec![("x-keep".to_string(), "yes".to_string())]);
    }

    #[test]
    fn websocket_upgrades_keep_upgrade_only() {
        let mut h = HeaderList::new()
            .with("connection", "Upgrade, x-hop")
            .with("upgrade", "WebSocket")
            .with("x-hop", "1")
            .with("sec-websocket-key", "k")
            .with("keep-alive", "timeout=5");
        assert!(is_websocket_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").as_deref(), Some("websocket"));
        assert_eq!(h.get("sec-websocket-key").as_deref(), Some("k"));
        assert_eq!(
            (h.get("x-hop"), h.get("connection"), h.get("keep-alive")),
            (None, None, None)
        );
    }
}
