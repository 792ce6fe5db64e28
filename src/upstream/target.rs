//! Which upstream hosts a tenant-written URL may point at (DESIGN §4): never an
//! IP literal in loopback, private, link-local or unspecified ranges, never a
//! name that always means this machine (`localhost`), never a control-plane host
//! — except the exact hosts an operator lists (e.g. `127.0.0.1` in development).
//!
//! Hosts are read the way the fetch API's URL parser reads them, so `2130706433`,
//! `0x7f.1` and `0177.0.0.1` are all 127.0.0.1 here too.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a tenant may not send requests to a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// An address in a loopback, private, link-local, shared or unspecified range.
    #[error("points at a non-public address ({0}); tenants may only reach public hosts")]
    NonPublicAddress(String),
    /// A name that always resolves to this machine.
    #[error("points at localhost; tenants may only reach public hosts")]
    Localhost,
    /// The management API's own host.
    #[error("points at a control-plane host")]
    ControlPlane,
}

/// A host as the URL parser sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// An IPv4 address (in any spelling WHATWG URL accepts).
    V4(Ipv4Addr),
    /// An IPv6 address (`[...]`).
    V6(Ipv6Addr),
    /// A domain name.
    Name,
}

/// One WHATWG IPv4 number: decimal, `0x` hex or leading-`0` octal.
fn ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (h, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (part.get(1..)?, 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return Some(0);
    }
    // Longer than any u32 spelling: not an address we need to read exactly.
    if digits.len() > 32 {
        return Some(u64::MAX);
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Whether `label` is one the URL parser would read as a number.
fn looks_numeric(label: &str) -> bool {
    ipv4_number(label).is_some()
}

/// Reads `host` (normalised: lowercase, no port, IPv6 in brackets) as the URL
/// parser would. `None` for hosts the parser itself refuses (such as a name
/// ending in a number that is not a valid IPv4 address).
pub fn host_kind(host: &str) -> Option<HostKind> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(HostKind::V6);
    }
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = trimmed.split('.').collect();
    let last = parts.last().copied().unwrap_or_default();
    if !looks_numeric(last) {
        return Some(HostKind::Name);
    }
    // WHATWG: a host ending in a number is IPv4 or invalid.
    if parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for p in &parts {
        numbers.push(ipv4_number(p)?);
    }
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|n| *n > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - init.len() as u32);
    if *last >= 1u64.checked_shl(rest_bits).unwrap_or(u64::MAX) {
        return None;
    }
    let mut value: u64 = 0;
    for (i, n) in init.iter().enumerate() {
        value |= n << (8 * (3 - i as u32));
    }
    value |= last;
    u32::try_from(value)
        .ok()
        .map(|v| HostKind::V4(Ipv4Addr::from(v)))
}

fn v4_is_public(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT.
        || (a == 100 && (64..128).contains(&b)))
}

fn v6_is_public(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_is_public(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        // fc00::/7 unique local, fe80::/10 link-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // ::/96 IPv4-compatible (deprecated, still routed to v4 by some stacks).
        || ip.segments()[..6].iter().all(|s| *s == 0))
}

/// Checks a normalised upstream host written by a tenant. `exceptions` are exact
/// hosts the operator allows anyway; `control_plane` the API's own hosts.
pub fn check_tenant_target(
    host: &str,
    exceptions: &[String],
    control_plane: &[String],
) -> Result<(), TargetError> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if exceptions.iter().any(|e| e == host) {
        return Ok(());
    }
    if control_plane.iter().any(|c| c == host) {
        return Err(TargetError::ControlPlane);
    }
    match host_kind(host) {
        Some(HostKind::V4(ip)) if !v4_is_public(ip) => {
            Err(TargetError::NonPublicAddress(ip.to_string()))
        }
        Some(HostKind::V6(ip)) if !v6_is_public(ip) => {
            Err(TargetError::NonPublicAddress(ip.to_string()))
        }
        // The URL parser refuses it anyway; refusing here keeps the error early.
        None => Err(TargetError::NonPublicAddress(host.to_string())),
        Some(HostKind::Name) if host == "localhost" || host.ends_with(".localhost") => {
            Err(TargetError::Localhost)
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(h: &str) -> Result<(), TargetError> {
        check_tenant_target(h, &["127.0.0.1".into()], &["api.example.com".into()])
    }

    #[test]
    fn every_spelling_of_loopback_is_read_as_the_parser_reads_it() {
        let lo = |d| Some(HostKind::V4(Ipv4Addr::new(127, 0, 0, d)));
        assert_eq!(host_kind("127.0.0.2"), lo(2));
        for h in [
            "2130706433",
            "0x7f.1",
            "0177.0.0.1",
            "127.1",
            "0x7f000001",
            "127.0.0.1.",
        ] {
            assert_eq!(host_kind(h), lo(1), "{h}");
        }
        assert_eq!(host_kind("example.com"), Some(HostKind::Name));
        assert_eq!(host_kind("1.2.3.4.5"), None);
        assert_eq!(host_kind("a.256"), None);
        assert_eq!(host_kind("300.1.1.1"), None);
    }

    #[test]
    fn refuses_non_public_targets() {
        for h in [
            "127.0.0.2",
            "2130706433",
            "0x7f.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0",
            "100.64.0.1",
            "[::1]",
            "[::]",
            "[fd00::1]",
            "[fe80::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:a9fe:a9fe]",
            "[::127.0.0.1]",
            "localhost",
            "x.localhost",
        ] {
            assert!(check(h).is_err(), "{h} must be refused");
        }
        assert_eq!(check("api.example.com"), Err(TargetError::ControlPlane));
    }

    #[test]
    fn public_hosts_and_exceptions_pass() {
        for h in [
            "example.com",
            "1.1.1.1",
            "8.8.8.8",
            "[2606:4700::1111]",
            "127.0.0.1",
            "a1.example",
        ] {
            assert_eq!(check(h), Ok(()), "{h}");
        }
    }
}
