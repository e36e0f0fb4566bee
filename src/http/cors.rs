//! CORS for browser storefronts: an allow-list of origins, or any `localhost` in development.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header, request::Parts};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{Config, Mode};

/// Whether `origin` is a loopback origin (`http(s)://localhost[:port]`, 127.0.0.1, [::1]).
pub fn is_localhost_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, port)) if port.is_empty() || port.starts_with(':') => h,
            _ => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            Some(_) => return false,
            None => rest,
        }
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// The CORS layer the configuration asks for.
pub fn layer(config: &Config) -> CorsLayer {
    let allowed: Vec<HeaderValue> = config
        .cors
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let development = config.mode == Mode::Development;
    let origins = AllowOrigin::predicate(move |origin: &HeaderValue, _: &Parts| {
        if allowed.is_empty() {
            development && origin.to_str().is_ok_and(is_localhost_origin)
        } else {
            allowed.contains(origin)
        }
    });
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::AUTHORIZATION,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("apollo-require-preflight"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_origins_count_as_localhost() {
        for ok in [
            "http://localhost:3000",
            "http://localhost",
            "https://127.0.0.1:8443",
            "http://[::1]:5173",
        ] {
            assert!(is_localhost_origin(ok), "{ok}");
        }
        for bad in [
            "http://localhost.evil.com",
            "http://evil.com",
            "localhost:3000",
            "http://localhost:abc",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(!is_localhost_origin(bad), "{bad}");
        }
    }
}
