//! `forwarded_headers`: tells the upstream who the client was and what it asked for.

use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::message::{is_header_name, HeaderAccess};
use crate::request::RequestCx;
use std::net::IpAddr;

/// Compiled `forwarded_headers` options.
#[derive(Debug, Clone)]
pub struct Forwarded {
    client_ip_header: String,
    set_x_real_ip: bool,
    set_x_original_url: bool,
    skip_cloudflare_client_ip: bool,
}

impl Default for Forwarded {
    fn default() -> Self {
        Self {
            client_ip_header: "cf-connecting-ip".into(),
            set_x_real_ip: true,
            set_x_original_url: true,
            skip_cloudflare_client_ip: true,
        }
    }
}

/// Cloudflare's published edge ranges. A client-IP header holding one of these was
/// written by a worker-to-worker hop, not by the visitor's connection.
const CLOUDFLARE_V4: [(u32, u8); 15] = [
    (0xADF5_3000, 20), // 173.245.48.0/20
    (0x6715_F400, 22), // 103.21.244.0/22
    (0x6716_C800, 22), // 103.22.200.0/22
    (0x671F_0400, 22), // 103.31.4.0/22
    (0x8D65_4000, 18), // 141.101.64.0/18
    (0x6CA2_C000, 18), // 108.162.192.0/18
    (0xBE5D_F000, 20), // 190.93.240.0/20
    (0xBC72_6000, 20), // 188.114.96.0/20
    (0xC5EA_F000, 22), // 197.234.240.0/22
    (0xC629_8000, 17), // 198.41.128.0/17
    (0xA29E_0000, 15), // 162.158.0.0/15
    (0x6810_0000, 13), // 104.16.0.0/13
    (0x6818_0000, 14), // 104.24.0.0/14
    (0xAC40_0000, 13), // 172.64.0.0/13
    (0x8300_4800, 22), // 131.0.72.0/22
];
const CLOUDFLARE_V6: [(u128, u8); 7] = [
    (0x2400_cb00 << 96, 32),
    (0x2606_4700 << 96, 32),
    (0x2803_f800 << 96, 32),
    (0x2405_b500 << 96, 32),
    (0x2405_8100 << 96, 32),
    (0x2a06_98c0 << 96, 29),
    (0x2c0f_f248 << 96, 29),
];

/// Whether an address lies in Cloudflare's published ranges.
pub fn is_cloudflare_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let a = u32::from(*v4);
            CLOUDFLARE_V4
                .iter()
                .any(|(net, len)| a >> (32 - len) == net >> (32 - len))
        }
        IpAddr::V6(v6) => {
            let a = u128::from(*v6);
            CLOUDFLARE_V6
                .iter()
                .any(|(net, len)| a >> (128 - len) == net >> (128 - len))
        }
    }
}

impl Forwarded {
    /// Compiles options (all optional).
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let d = Self::default();
        let client_ip_header = match f.string("client_ip_header", diags) {
            Some(h) if is_header_name(h) => h.to_ascii_lowercase(),
            Some(_) => {
                diags.error(f.path_of("client_ip_header"), "must be a valid header name");
                d.client_ip_header.clone()
            }
            None => d.client_ip_header.clone(),
        };
        let out = Self {
            client_ip_header,
            set_x_real_ip: f.boolean("set_x_real_ip", d.set_x_real_ip, diags),
            set_x_original_url: f.boolean("set_x_original_url", d.set_x_original_url, diags),
            skip_cloudflare_client_ip: f.boolean(
                "skip_cloudflare_client_ip",
                d.skip_cloudflare_client_ip,
                diags,
            ),
        };
        (diags.len() == start).then_some(out)
    }

    /// Stamps X-Forwarded-Host/-Proto/-For, X-Real-IP and X-Original-URL.
    pub fn on_request(&self, cx: &RequestCx<'_>, headers: &mut dyn HeaderAccess) {
        headers.set("x-forwarded-host", cx.authority);
        headers.set("x-forwarded-proto", cx.scheme);
        // Inbound copies are the client's own claims: replaced or removed, never kept.
        if self.set_x_original_url {
            headers.set("x-original-url", cx.url);
        } else {
            headers.remove("x-original-url");
        }
        let reported = headers
            .get(&self.client_ip_header)
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        let hop =
            reported.is_some_and(|ip| self.skip_cloudflare_client_ip && is_cloudflare_ip(&ip));
        let client_ip = reported.filter(|_| !hop);
        // From a Cloudflare hop (another Worker), an inbound X-Forwarded-For was
        // written by that Worker's code, not by a proxy in front of the client.
        let inbound = if hop {
            String::new()
        } else {
            headers.get("x-forwarded-for").unwrap_or_default()
        };
        let mut chain: Vec<&str> = inbound
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let ip_text = client_ip.map(|ip| ip.to_string());
        if let Some(ip) = ip_text.as_deref() {
            if chain.last() != Some(&ip) {
                chain.push(ip);
            }
        }
        if chain.is_empty() {
            headers.remove("x-forwarded-for");
        } else {
            headers.set("x-forwarded-for", &chain.join(", "));
        }
        // An inbound X-Real-IP is the client's own claim: never pass it on as sent.
        match (self.set_x_real_ip, ip_text.as_deref()) {
            (true, Some(ip)) => headers.set("x-real-ip", ip),
            _ => headers.remove("x-real-ip"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;
    use crate::request::testing::cx;

    #[test]
    fn stamps_every_header() {
        let f = Forwarded::default();
        let mut h = HeaderList::new()
            .with("cf-connecting-ip", "203.0.113.9")
            .with("x-real-ip", "6.6.6.6");
        f.on_request(&cx(), &mut h);
        assert_eq!(
            h.get("x-forwarded-host").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(h.get("x-forwarded-proto").as_deref(), Some("https"));
        assert_eq!(h.get("x-forwarded-for").as_deref(), Some("203.0.113.9"));
        assert_eq!(h.get("x-real-ip").as_deref(), Some("203.0.113.9"));
        assert_eq!(
            h.get("x-original-url").as_deref(),
            Some("https://app.example.com/a/b?x=1")
        );
    }

    #[test]
    fn appends_to_chain_without_duplicating_the_tail() {
        let f = Forwarded::default();
        let mut h = HeaderList::new()
            .with("cf-connecting-ip", "203.0.113.9")
            .with("x-forwarded-for", "198.51.100.1, 203.0.113.9");
        f.on_request(&cx(), &mut h);
        assert_eq!(
            h.get("x-forwarded-for").as_deref(),
            Some("198.51.100.1, 203.0.113.9")
        );
        let mut h = HeaderList::new()
            .with("cf-connecting-ip", "203.0.113.10")
            .with("x-forwarded-for", "198.51.100.1");
        f.on_request(&cx(), &mut h);
        assert_eq!(
            h.get("x-forwarded-for").as_deref(),
            Some("198.51.100.1, 203.0.113.10")
        );
    }

    #[test]
    fn never_trusts_inbound_real_ip_or_cloudflare_hops() {
        let f = Forwarded::default();
        let mut h = HeaderList::new().with("x-real-ip", "6.6.6.6");
        f.on_request(&cx(), &mut h);
        assert_eq!(h.get("x-real-ip"), None);
        let mut h = HeaderList::new()
            .with("cf-connecting-ip", "162.158.1.2")
            .with("x-forwarded-for", "198.51.100.1");
        f.on_request(&cx(), &mut h);
        // A Cloudflare hop's X-Forwarded-For was written by the calling Worker's
        // code: never passed on as the client chain.
        assert_eq!(h.get("x-forwarded-for"), None);
        assert_eq!(h.get("x-real-ip"), None);
        let keep = Forwarded {
            skip_cloudflare_client_ip: false,
            ..Forwarded::default()
        };
        let mut h = HeaderList::new().with("cf-connecting-ip", "162.158.1.2");
        keep.on_request(&cx(), &mut h);
        assert_eq!(h.get("x-real-ip").as_deref(), Some("162.158.1.2"));
        let mut h = HeaderList::new().with("cf-connecting-ip", "not-an-ip");
        f.on_request(&cx(), &mut h);
        assert_eq!(h.get("x-forwarded-for"), None);
    }

    #[test]
    fn disabled_headers_are_removed_not_passed_through() {
        let f = Forwarded {
            set_x_original_url: false,
            set_x_real_ip: false,
            ..Forwarded::default()
        };
        let mut h = HeaderList::new()
            .with("cf-connecting-ip", "203.0.113.9")
            .with("x-original-url", "/spoofed")
            .with("x-real-ip", "6.6.6.6");
        f.on_request(&cx(), &mut h);
        assert_eq!(h.get("x-original-url"), None);
        assert_eq!(h.get("x-real-ip"), None);
    }

    #[test]
    fn cloudflare_ranges() {
        for ip in [
            "173.245.48.1",
            "104.16.0.1",
            "172.71.255.255",
            "2606:4700::1",
            "2a06:98c7::1",
        ] {
            assert!(is_cloudflare_ip(&ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.72.0.1",
            "127.0.0.1",
            "2001:db8::1",
            "2a06:98c8::1",
        ] {
            assert!(!is_cloudflare_ip(&ip.parse().expect("ip")), "{ip}");
        }
    }
}
