//! `storefront-gateway`: runs the gateway, or one of its maintenance commands.
// The schema's merged roots nest their resolvers' futures deeper than the compiler's default
// limit allows when it lays them out in an optimised build (as in `storefront-schema`).
#![recursion_limit = "256"]

use clap::Parser;
use storefront_gateway::cli::{Cli, run};

// glibc's allocator spends most of a large page's CPU time consolidating and unlinking chunks
// freed across threads; mimalloc does not (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let telemetry = storefront_gateway::telemetry::init();
    let code = match run(Cli::parse()).await {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    };
    // The spans still buffered go out before the process ends.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .ok();
    code
}
