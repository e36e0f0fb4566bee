//! The benchmark's ceiling: the gateway's HTTP stack (same middleware) answering every
//! `POST /graphql` with a precomputed body, so a benchmark can tell HTTP cost from GraphQL and
//! store cost. Usage: `ceiling ADDR RESPONSE_FILE`.
// The schema's merged roots nest their resolvers' futures deeper than the compiler's default
// limit allows when it lays them out in an optimised build (as in `storefront-schema`).
#![recursion_limit = "256"]

use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::routing::post;
use storefront_gateway::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: ceiling ADDR RESPONSE_FILE"))?
        .parse()?;
    let file = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: ceiling ADDR RESPONSE_FILE"))?;
    let body: &'static [u8] = Box::leak(std::fs::read(&file)?.into_boxed_slice());
    let routes = Router::new().route(
        "/graphql",
        post(move || async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "application/graphql-response+json; charset=utf-8",
                )],
                body,
            )
        }),
    );
    let app = storefront_gateway::http::layered(routes, &Config::default());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
