//! Who is asking: the client's address and rate-limit identity, and the principal its
//! access token names.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use ipnet::IpNet;
use storefront_loaders::domain::{Authenticator, Principal, Refusal};
use storefront_loaders::fraud::ClientSignals;
use storefront_loaders::rate_limit::{Budget, ClientId, ClientIp, Operator};
use storefront_resolvers::ErrorCode;
use storefront_schema::persisted::document_hash;

use super::refusal::RequestError;
use crate::app::App;
use crate::config::{Config, UnknownApiKeys};

/// The rate-limit identity (an issued API key's name, else the address), the key's own budget,
/// and the address itself (sign-in throttling counts per address even when clients share a
/// key).
pub(super) struct Caller {
    pub(super) client: ClientId,
    pub(super) budget: Option<Budget>,
    pub(super) ip: ClientIp,
    pub(super) operator: Option<Operator>,
    pub(super) signals: ClientSignals,
}

/// How callers are told apart: the proxies whose `X-Forwarded-For` is believed, and the
/// issued API keys (by SHA-256).
pub struct Clients {
    proxies: Vec<IpNet>,
    keys: HashMap<String, IssuedKey>,
    unknown_keys: UnknownApiKeys,
}

impl Clients {
    /// From the `[rate_limit]` settings.
    pub fn from_config(config: &Config) -> Self {
        Self {
            proxies: config.trusted_proxies(),
            keys: config
                .rate_limit
                .api_keys
                .iter()
                .map(|k| {
                    let issued = IssuedKey {
                        name: k.name.clone(),
                        budget: k.budget,
                        admin: k.admin,
                    };
                    (k.sha256.clone(), issued)
                })
                .collect(),
            unknown_keys: config.rate_limit.unknown_api_keys,
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the rightmost
    /// forwarded address that is not itself a trusted proxy (entries to its left are written
    /// by whoever connected to the first proxy, so they prove nothing).
    pub(super) fn address(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        if !self.trusted(peer) {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer;
        for entry in forwarded.iter().rev() {
            let Some(ip) = parse_forwarded(entry) else {
                // A trusted proxy forwarded something that is not an address: the last
                // address it vouched for is all we know.
                break;
            };
            client = ip;
            if !self.trusted(ip) {
                break;
            }
        }
        client
    }

    /// The operator an issued admin `x-api-key` names, if the request sends exactly one.
    pub fn operator(&self, headers: &HeaderMap) -> Option<String> {
        let mut sent = headers.get_all("x-api-key").iter();
        let key = sent.next()?;
        if sent.next().is_some() {
            return None;
        }
        let issued = self.keys.get(&document_hash(key.to_str().ok()?.trim()))?;
        issued.admin.then(|| issued.name.clone())
    }

    /// The caller of a request from `peer`; an `x-api-key` that was not issued is refused
    /// (or counted as the address, by config), never given a budget of its own.
    pub(super) fn caller(&self, headers: &HeaderMap, peer: IpAddr) -> Result<Caller, RequestError> {
        let ip = self.address(headers, peer).to_string();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let signals = ClientSignals::new(header("user-agent"), header("x-device-id"));
        let anonymous = |ip: String| Caller {
            client: ClientId(format!("ip:{ip}")),
            budget: None,
            ip: ClientIp(ip),
            operator: None,
            signals: signals.clone(),
        };
        let mut sent = headers.get_all("x-api-key").iter();
        let Some(key) = sent.next() else {
            return Ok(anonymous(ip));
        };
        if sent.next().is_some() {
            return Err(RequestError::malformed("send one `x-api-key` header"));
        }
        let issued = key
            .to_str()
            .ok()
            .and_then(|key| self.keys.get(&document_hash(key.trim())));
        match (issued, self.unknown_keys) {
            (Some(key), _) => Ok(Caller {
                client: ClientId(format!("key:{}", key.name)),
                budget: key.budget.map(Budget),
                ip: ClientIp(ip),
                operator: key.admin.then(|| Operator(key.name.clone())),
                signals: signals.clone(),
            }),
            (None, UnknownApiKeys::Anonymous) => Ok(anonymous(ip)),
            (None, UnknownApiKeys::Refuse) => Err(RequestError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidApiKey,
                "this `x-api-key` was not issued by this gateway",
            )),
        }
    }
}

/// What an issued key is.
struct IssuedKey {
    name: String,
    budget: Option<u64>,
    admin: bool,
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[::1]:80`, `1.2.3.4:80`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// Who a request speaks for: nobody without `Authorization`; a request whose token is not
/// valid is refused (never treated as anonymous). The check belongs to the domain that
/// provides an [`Authenticator`].
pub(super) async fn authenticate(
    app: &App,
    headers: &HeaderMap,
) -> Result<Option<Principal>, RequestError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        // Which one a proxy or the gateway would read is anyone's guess: refuse both.
        return Err(RequestError::malformed("send one `Authorization` header"));
    }
    authorization(app, value.to_str().ok()).await.map(Some)
}

/// The principal of an `Authorization` value (`Bearer <token>`; `None`: not text), as sent
/// in a header or in a WebSocket's `connection_init`.
pub(super) async fn authorization(
    app: &App,
    value: Option<&str>,
) -> Result<Principal, RequestError> {
    let authenticator = app.services.get::<Arc<dyn Authenticator>>();
    let token = value
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            if let Some(authenticator) = authenticator {
                authenticator.malformed();
            }
            RequestError::unauthenticated(
                "send the access token as `Authorization: Bearer <token>`",
            )
        })?;
    let Some(authenticator) = authenticator else {
        return Err(RequestError::unauthenticated(
            "this gateway accepts no access tokens",
        ));
    };
    match authenticator.authenticate(token).await {
        Ok(principal) => Ok(principal),
        Err(Refusal::Unavailable(message)) => Err(RequestError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            message,
        )),
        Err(Refusal::Unauthenticated(message)) => Err(RequestError::unauthenticated(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn clients(proxies: &[&str]) -> Clients {
        let mut config = Config::default();
        config.rate_limit.trusted_proxies = proxies.iter().map(|p| (*p).to_owned()).collect();
        Clients::from_config(&config.validated().expect("valid"))
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn the_client_is_the_rightmost_forwarded_address_that_is_not_a_trusted_proxy() {
        let clients = clients(&["10.0.0.0/8", "192.168.1.7"]);
        let proxy = ip("10.0.0.2");
        // The client forged the leftmost entry; nginx appended the real one.
        let headers = forwarded(&["6.6.6.6, 203.0.113.9"]);
        assert_eq!(clients.address(&headers, proxy), ip("203.0.113.9"));
        // Two trusted hops, and the header split over two lines.
        let headers = forwarded(&["6.6.6.6", "203.0.113.9, 192.168.1.7"]);
        assert_eq!(clients.address(&headers, proxy), ip("203.0.113.9"));
        // From an untrusted peer the header means nothing.
        assert_eq!(
            clients.address(&headers, ip("198.51.100.1")),
            ip("198.51.100.1")
        );
        // A trusted proxy that forwards nothing: the proxy is the client.
        assert_eq!(clients.address(&HeaderMap::new(), proxy), proxy);
        // Garbage written by a proxy stops the walk at the last address vouched for.
        let headers = forwarded(&["203.0.113.9, not-an-ip, 10.1.1.1"]);
        assert_eq!(clients.address(&headers, proxy), ip("10.1.1.1"));
    }

    #[test]
    fn without_trusted_proxies_forwarded_addresses_are_ignored() {
        let headers = forwarded(&["6.6.6.6"]);
        assert_eq!(
            clients(&[]).address(&headers, ip("127.0.0.1")),
            ip("127.0.0.1")
        );
    }
}
