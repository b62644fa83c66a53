//! Running the service: bind, serve until SIGTERM or Ctrl-C, then stop
//! taking connections and let in-flight requests finish (up to a drain limit).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use xlqa_search::Engine;

use crate::limits::Limits;
use crate::routes::{router, App};

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// Required when `addr` is not a loopback address.
    pub api_key: Option<String>,
    pub limits: Limits,
    /// After SIGTERM, how long in-flight requests may take to finish.
    pub drain: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("binding to {0} would expose the API beyond this machine without a key: give --api-key KEY or set XLQA_API_KEY (or bind to 127.0.0.1)")]
    ExposedWithoutKey(SocketAddr),
    #[error("the API key is empty")]
    EmptyKey,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Refuses to serve beyond loopback without a key.
pub fn check_exposure(addr: SocketAddr, api_key: Option<&str>) -> Result<(), ServeError> {
    match api_key {
        Some("") => Err(ServeError::EmptyKey),
        None if !addr.ip().is_loopback() => Err(ServeError::ExposedWithoutKey(addr)),
        _ => Ok(()),
    }
}

/// Serves `engine` (opened on the index at `index`) until SIGTERM or Ctrl-C.
/// `ready` is called with the bound address (port 0 picks a free one).
pub fn serve(
    engine: Engine,
    index: &Path,
    opts: ServeOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    check_exposure(opts.addr, opts.api_key.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let app = Arc::new(App::new(
        engine,
        index,
        opts.limits.clone(),
        opts.api_key.clone(),
    ));
    let result = rt.block_on(async {
        let listener = TcpListener::bind(opts.addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: opts.addr,
                source,
            })?;
        ready(listener.local_addr()?);
        run_until_signal(listener, app, opts.drain).await
    });
    rt.shutdown_timeout(opts.drain);
    result
}

async fn run_until_signal(
    listener: TcpListener,
    app: Arc<App>,
    drain: Duration,
) -> Result<(), ServeError> {
    let stopping = Arc::new(Notify::new());
    let signal = {
        let stopping = stopping.clone();
        async move {
            shutdown_signal().await;
            eprintln!(
                "xlqa serve: stopping; finishing requests in flight (up to {} s)",
                drain.as_secs()
            );
            stopping.notify_one();
        }
    };
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(signal);
    tokio::select! {
        r = server => r?,
        _ = async { stopping.notified().await; tokio::time::sleep(drain).await } => {
            eprintln!("xlqa serve: drain time over; stopping with requests still open");
        }
    }
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_key_elsewhere_does() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_exposure(lo, None).is_ok());
        assert!(check_exposure(lo6, None).is_ok());
        assert!(matches!(
            check_exposure(any, None),
            Err(ServeError::ExposedWithoutKey(_))
        ));
        assert!(check_exposure(any, Some("k")).is_ok());
        assert!(matches!(
            check_exposure(lo, Some("")),
            Err(ServeError::EmptyKey)
        ));
    }
}
