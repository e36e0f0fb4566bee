//! Storefront Gateway: the GraphQL backend-for-frontend for headless e-commerce. This library
//! is the binary's inside (config, app, HTTP, commands), so integration tests and benchmarks
//! drive exactly what `storefront-gateway` runs.
// The schema's merged roots nest their resolvers' futures deeper than the compiler's default
// limit allows when it lays them out in an optimised build (as in `storefront-schema`).
#![recursion_limit = "256"]

pub mod app;
pub mod cli;
pub mod config;
pub mod feeds;
pub mod http;
pub mod telemetry;

pub use app::App;
pub use config::Config;

/// Serves `app` on `listener` until the process is asked to stop (Ctrl-C or SIGTERM), then
/// drains (see [`serve_until`]).
pub async fn serve(listener: tokio::net::TcpListener, app: App) -> std::io::Result<()> {
    serve_until(listener, app, shutdown_signal()).await
}

/// Serves `app` on `listener` until `stop` resolves; then takes no new connection, lets the
/// requests in flight finish, closes WebSockets with 1001 ("going away"), and returns once all
/// that is done or `[http] drain_seconds` have passed, whichever comes first.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: App,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain = std::time::Duration::from_secs(app.config.http.drain_seconds);
    let stopping = {
        let app = app.clone();
        async move {
            stop.await;
            tracing::info!("stopping: no new connections; draining requests in flight");
            app.begin_stopping();
        }
    };
    let mut stopped = app.stopping.subscribe();
    let server = axum::serve(
        listener,
        http::router(app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stopping);
    let drained = async {
        server.await?;
        app.sockets.all_closed().await;
        Ok(())
    };
    tokio::select! {
        served = drained => served,
        () = async {
            let _ = stopped.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(drain).await;
        } => {
            tracing::warn!(?drain, "requests still running after the drain deadline are dropped");
            Ok(())
        }
    }
}

/// Serves `/metrics` of `app` on `listener` (the metrics address of its own) until the process
/// is asked to stop.
pub async fn serve_metrics(listener: tokio::net::TcpListener, app: App) -> std::io::Result<()> {
    axum::serve(listener, http::metrics_router(app))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
