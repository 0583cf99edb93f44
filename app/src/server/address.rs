//! Where a request comes from. Directly connected, it is the TCP peer. Behind a reverse proxy every peer is the
//! proxy; the proxy says who its client was in `X-Forwarded-For`, but anyone can send that header, so it is only
//! believed from the proxies the operator names (`--trusted-proxy`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;
use ipnet::IpNet;

/// The client's address, as far as this server can tell (in the request's extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The networks of the reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> TrustedProxies {
        TrustedProxies(Arc::new(networks.into_iter().collect()))
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client behind `peer`. Each proxy appends the address it was connected from, so the list is read from
    /// the right: the first address that is not one of our proxies is the client. Anything unreadable stops the
    /// walk at the last proxy, which is then taken as the client (limits apply to it, never to a forged address).
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| value.to_str().unwrap_or("").split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            let Ok(address) = hop.trim().parse::<IpAddr>() else { break };
            client = canonical(address);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, from a dual-stack listener) is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// Middleware: the front door's limit on writing requests per client address (see
/// [`Limits::write_request`](::chat::limits::Limits::write_request)), before the session is loaded.
pub async fn limit_writes(State(state): State<crate::server::AppState>, request: Request, next: Next) -> Response {
    if crate::server::origin::changes_state(&request) {
        let address = request.extensions().get::<ClientAddress>().map(|address| address.0);
        let limits = &state.limits;
        if let Err(error) = limits.write_request(address) {
            return crate::server::error::app_error_response(error);
        }
    }
    next.run(request).await
}

/// Middleware: a request refused by a rate limit (429: the door's, a new session's, a send's, an upload's…) is
/// answered after [`Limits::hold_refusal`](::chat::limits::Limits::hold_refusal)'s delay. A flood that asks again
/// the moment it is answered then costs a sleeping task, not the CPU that people's requests need. (Inside
/// [`crate::server::forms::plain_forms`], which turns a form post's refusal into a redirect.)
pub async fn hold_refusals(State(state): State<crate::server::AppState>, request: Request, next: Next) -> Response {
    let address = request.extensions().get::<ClientAddress>().map(|address| address.0);
    let response = next.run(request).await;
    if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
        state.limits.hold_before_refusing(address).await;
    }
    response
}

/// Middleware: puts the [`ClientAddress`] into the request's extensions.
pub async fn client_address_layer(State(proxies): State<TrustedProxies>, mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = proxies.client_of(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_of(ip("203.0.113.9"), &forwarded("1.2.3.4")), ip("203.0.113.9"));
        let proxies = TrustedProxies::new(["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(proxies.client_of(ip("203.0.113.9"), &forwarded("1.2.3.4")), ip("203.0.113.9"));
        assert_eq!(proxies.client_of(ip("10.0.0.2"), &forwarded("1.2.3.4")), ip("1.2.3.4"));
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let proxies = TrustedProxies::new(["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        // The client forged a first entry; our two proxies appended the real one and each other.
        let headers = forwarded("6.6.6.6, 198.51.100.7, 10.0.0.5");
        assert_eq!(proxies.client_of(ip("::1"), &headers), ip("198.51.100.7"));
        // Garbage stops the walk at the last proxy.
        assert_eq!(proxies.client_of(ip("10.0.0.2"), &forwarded("1.2.3.4, nonsense")), ip("10.0.0.2"));
        // Without the header, the proxy itself.
        assert_eq!(proxies.client_of(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        assert_eq!(proxies.client_of(ip("::ffff:10.0.0.2"), &forwarded("1.2.3.4")), ip("1.2.3.4"));
    }
}
