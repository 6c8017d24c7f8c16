//! The client's address: the peer of the connection, or — only when the peer is one of the
//! configured reverse proxies — the last address in `X-Forwarded-For` that is not itself a
//! trusted proxy. A client can therefore not choose its own address by sending the header
//! (it would only be believed coming from a trusted proxy).

use std::net::IpAddr;

/// The reverse proxies whose `X-Forwarded-For` is believed (exact addresses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpAddr>);

impl TrustedProxies {
    fn contains(&self, a: &IpAddr) -> bool {
        self.0.contains(a)
    }
}

/// The address a request comes from, for throttling and the audit trail.
pub fn client_addr(peer: IpAddr, forwarded_for: Option<&str>, proxies: &TrustedProxies) -> IpAddr {
    if !proxies.contains(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    // Right to left: each hop appends the address it received the request from.
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(a) if proxies.contains(&a) => continue,
            Ok(a) => return a,
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies(vec![ip("10.0.0.5"), ip("10.0.0.6")]);
        for (peer, header, client) in [
            // Directly connected client: the header is ignored.
            ("203.0.113.9", Some("198.51.100.1"), "203.0.113.9"),
            // Through the proxy: the last untrusted hop.
            ("10.0.0.5", Some("198.51.100.1, 203.0.113.7"), "203.0.113.7"),
            // Through two proxies.
            ("10.0.0.5", Some("203.0.113.7, 10.0.0.6"), "203.0.113.7"),
            // No header, garbage, or only proxies: the proxy itself.
            ("10.0.0.5", None, "10.0.0.5"),
            ("10.0.0.5", Some("nonsense"), "10.0.0.5"),
            ("10.0.0.5", Some("10.0.0.6"), "10.0.0.5"),
        ] {
            assert_eq!(
                client_addr(ip(peer), header, &proxies),
                ip(client),
                "{peer} {header:?}"
            );
        }
    }
}
