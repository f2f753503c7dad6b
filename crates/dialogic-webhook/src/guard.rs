//! The SSRF guard: which destinations a call may reach.
//!
//! The check runs where the address is decided, so there is no check-then-connect gap: a
//! literal-IP URL is checked before the request is built, and a host name is checked by
//! [`GuardedResolver`], the client's DNS resolver, on every address it resolves to. The client
//! never uses a proxy (a proxy would resolve the name itself) and never follows redirects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::error::CallError;

/// Why an address is not a public unicast one, or `None` if it is.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (CGNAT) address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
    {
        Some("a reserved address")
    } else if ip.is_documentation() {
        Some("a documentation address")
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if seg[0] & 0xffc0 == 0xfec0 {
        Some("a site-local address")
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Some("a unique local address")
    } else if seg[..5] == [0, 0, 0, 0, 0] && (seg[5] == 0xffff || seg[5] == 0) {
        // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible).
        Some("an IPv4-mapped address")
    } else if seg[0] == 0x64 && seg[1] == 0xff9b {
        // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48): judge the embedded IPv4.
        let embedded = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        if seg[2] != 0 {
            Some("a NAT64 local-use address")
        } else {
            v4_reason(embedded)
        }
    } else if seg[0] == 0x2002 {
        // 6to4 embeds an IPv4 address in bits 16..48.
        let embedded = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        );
        v4_reason(embedded)
    } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        Some("a documentation address")
    } else if seg[0] == 0x0100 && seg[1..4] == [0, 0, 0] {
        Some("a discard-only address")
    } else {
        None
    }
}

/// Parse a webhook URL and check its scheme and, for a literal IP host, the address.
/// Errors name neither the URL nor its credentials.
pub fn check_url(raw: &str, allow_http: bool, allow_private: bool) -> Result<Url, CallError> {
    let url = Url::parse(raw).map_err(|e| CallError::Other(format!("invalid webhook URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(CallError::Blocked(
            "http:// URLs are not allowed (set webhooks.allow_http = true for local development)"
                .into(),
        )),
        other => {
            return Err(CallError::Blocked(format!(
                "unsupported URL scheme {other:?}"
            )))
        }
    }
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(url),
        None => return Err(CallError::Other("invalid webhook URL: no host".into())),
    };
    if !allow_private {
        if let Some(reason) = non_public_reason(ip) {
            return Err(blocked(&ip.to_string(), ip, reason));
        }
    }
    Ok(url)
}

fn blocked(host: &str, ip: IpAddr, reason: &str) -> CallError {
    CallError::Blocked(blocked_message(host, ip, reason))
}

fn blocked_message(host: &str, ip: IpAddr, reason: &str) -> String {
    if host == ip.to_string() {
        format!("{ip} is {reason} (set webhooks.allow_private_addresses = true to allow it)")
    } else {
        format!(
            "{host} resolves to {reason} ({ip}) (set webhooks.allow_private_addresses = true to allow it)"
        )
    }
}

/// The resolver error that carries a refusal to the client (found again in the error chain).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BlockedAddress(pub(crate) String);

/// A DNS resolver that refuses non-public addresses (unless allowed).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    pub fn new(allow_private: bool) -> Arc<Self> {
        Arc::new(GuardedResolver { allow_private })
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private {
                // One bad address refuses the name: a rebinding answer mixing public and private
                // addresses must not get through on a retry of the other address.
                for addr in &addrs {
                    if let Some(reason) = non_public_reason(addr.ip()) {
                        let message = blocked_message(&host, addr.ip(), reason);
                        return Err(Box::new(BlockedAddress(message)) as _);
                    }
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        non_public_reason(s.parse().unwrap())
    }

    #[test]
    fn classifies_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
        ] {
            assert!(reason(ip).is_some(), "{ip} should be refused");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
            "100.128.0.1",
        ] {
            assert_eq!(reason(ip), None, "{ip} should be allowed");
        }
    }

    #[test]
    fn checks_urls() {
        assert!(check_url("https://example.com/hook", false, false).is_ok());
        assert!(matches!(
            check_url("http://example.com/hook", false, false),
            Err(CallError::Blocked(_))
        ));
        assert!(check_url("http://example.com/hook", true, false).is_ok());
        assert!(matches!(
            check_url("ftp://example.com/", true, true),
            Err(CallError::Blocked(_))
        ));
        assert!(matches!(
            check_url("https://127.0.0.1/", false, false),
            Err(CallError::Blocked(_))
        ));
        // A decimal host is still the loopback address.
        assert!(matches!(
            check_url("https://2130706433/", false, false),
            Err(CallError::Blocked(_))
        ));
        assert!(matches!(
            check_url("https://[::1]:8443/", false, false),
            Err(CallError::Blocked(_))
        ));
        assert!(check_url("https://127.0.0.1/", false, true).is_ok());
        let err = check_url("not a url with secret=abc", false, false).unwrap_err();
        assert!(!err.to_string().contains("secret=abc"));
    }
}
