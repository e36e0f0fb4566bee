//! Who is asking: the client's address and rate-limit identity, and the principal its
//! access token names.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use storefront_loaders::domain::{Authenticator, Principal, Refusal};
use storefront_loaders::rate_limit::{ClientId, ClientIp};
use storefront_resolvers::ErrorCode;
use storefront_schema::persisted::document_hash;

use super::refusal::RequestError;
use crate::app::App;

/// The rate-limit identity (the API key when sent, else the address) and the address itself
/// (sign-in throttling counts per address even when clients share a key).
pub(super) struct Caller {
    pub(super) client: ClientId,
    pub(super) ip: ClientIp,
}

impl Caller {
    /// The caller of a request from `peer`.
    pub(super) fn of(app: &App, headers: &HeaderMap, peer: SocketAddr) -> Self {
        let forwarded = app
            .config
            .rate_limit
            .trust_forwarded_for
            .then(|| {
                headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .map(|ip| ip.trim().to_owned())
            })
            .flatten();
        let ip = forwarded.unwrap_or_else(|| peer.ip().to_string());
        let client = match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            Some(key) => ClientId(format!("key:{}", &document_hash(key)[..24])),
            None => ClientId(format!("ip:{ip}")),
        };
        Self {
            client,
            ip: ClientIp(ip),
        }
    }
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
    let authenticator = app.services.get::<Arc<dyn Authenticator>>();
    let token = value
        .to_str()
        .ok()
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
        Ok(principal) => Ok(Some(principal)),
        Err(Refusal::Unavailable(message)) => Err(RequestError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            message,
        )),
        Err(Refusal::Unauthenticated(message)) => Err(RequestError::unauthenticated(message)),
    }
}
