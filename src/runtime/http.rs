//! The daemon's HTTP listener: one axum server on `http.listen` serving the
//! routes adapters contribute (webhooks), stopped gracefully with the
//! daemon's receive phase (STYLE P13).

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::AdapterEntry;
use crate::error::BoxError;

/// The router of every adapter's routes. Paths are unique: config loading
/// rejected clashes.
pub(crate) fn router(adapters: &[AdapterEntry]) -> Router {
    adapters
        .iter()
        .flat_map(|entry| entry.adapter.routes())
        .fold(Router::new(), |router, route| {
            router.route(&route.path, route.handler)
        })
}

/// Bind `listen`, so a busy port fails the start instead of a later task.
pub(crate) async fn bind(listen: SocketAddr) -> Result<TcpListener, BoxError> {
    TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen} (http.listen): {e}").into())
}

/// Serve `router` on `listener` until `shutdown`, then finish the requests
/// in flight and return.
pub(crate) async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, "http listener up");
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "http listener failed");
    }
}
