//! Who the client is, as far as an address can say: the socket's peer, or, when that peer
//! is one of `SANAD_TRUSTED_PROXIES`, the address the proxy reports in `X-Forwarded-For`
//! (or RFC 7239 `Forwarded`). Behind the README's TLS proxy every request comes from the
//! proxy's address, so keying a limit on it would let one client's failures lock out
//! everyone; a forwarded header from anyone else is the client's own word and is ignored.

use axum::http::HeaderMap;
use std::net::IpAddr;

/// A parsed list of trusted proxies (single addresses or CIDR blocks).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parse `"127.0.0.1, 10.0.0.0/8, ::1"`; entries that do not parse are skipped with a
    /// warning.
    pub fn parse(list: &str) -> Self {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (ip, bits) = match item.split_once('/') {
                Some((ip, bits)) => (ip.parse::<IpAddr>(), bits.parse::<u8>().ok()),
                None => (item.parse::<IpAddr>(), None),
            };
            match ip {
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    out.push((ip, bits.unwrap_or(max).min(max)));
                }
                Err(_) => tracing::warn!(proxy = item, "SANAD_TRUSTED_PROXIES entry ignored"),
            }
        }
        Self(out)
    }

    /// Is `ip` one of the trusted proxies?
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, bits)| in_net(ip, *net, *bits))
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The forwarded chain, nearest hop last: `X-Forwarded-For` entries, else `Forwarded`'s
/// `for=` values.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let xff: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|part| {
            let (k, v) = part.trim().split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("for") {
                return None;
            }
            let v = v.trim().trim_matches('"');
            let v = v
                .strip_prefix('[')
                .map_or(v, |r| r.split(']').next().unwrap_or(r));
            v.parse::<IpAddr>()
                .ok()
                .or_else(|| v.rsplit_once(':').and_then(|(h, _)| h.parse().ok()))
        })
        .collect()
}

/// The client's real address, or `None` when it cannot be known (no peer, or a trusted
/// proxy that did not say whom it forwards for). Walking the forwarded chain from the
/// nearest hop, trusted proxies are skipped and the first other address is the client.
pub fn real_client(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    forwarded_chain(headers)
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_only_from_trusted_proxies() {
        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8");
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.1.2.3"),
        );
        let proxy = "127.0.0.1".parse().ok();
        let stranger: Option<IpAddr> = "198.51.100.7".parse().ok();
        assert_eq!(real_client(proxy, &h, &t), "203.0.113.9".parse().ok());
        assert_eq!(
            real_client(stranger, &h, &t),
            stranger,
            "spoofed header ignored"
        );
        assert_eq!(real_client(proxy, &HeaderMap::new(), &t), None);
        let mut f = HeaderMap::new();
        f.insert(
            "forwarded",
            HeaderValue::from_static("for=\"[2001:db8::1]:4711\";proto=https"),
        );
        assert_eq!(real_client(proxy, &f, &t), "2001:db8::1".parse().ok());
        assert!(TrustedProxies::parse("").0.is_empty());
    }
}
