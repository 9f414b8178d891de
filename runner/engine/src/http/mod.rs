//! The runner's HTTP/1.1 client: connections driven by the requests themselves (httparse for
//! the wire format) under a per-worker pool; and HTTP/2 through h2 ([`h2`]), opt-in.
//!
//! A general-purpose client pool (reqwest over hyper-util) returns a connection to its idle
//! list a moment after the response body ends, so at a few thousand requests per second about
//! one request in sixteen opened a fresh TCP connection, and its per-request URL and header
//! handling cost more CPU than the exchange itself. Here a connection is back in the pool the
//! instant its response is read, requests reuse a request head encoded once, and each worker
//! owns its pool, so no lock is ever contended.

mod body;
mod connection;
mod connector;
mod exchange;
mod h2;
mod pool;
mod proxy;
#[cfg(any(test, fuzzing))]
pub mod replay;
mod tls;
mod wire;

pub use exchange::{Exchange, Keep, RetryPolicy, Target, TargetError, TargetSettings};
pub use pool::Prewarmed;
pub use proxy::{ProxyRefused, check_proxy};
pub use tls::{TlsError, TlsOptions, client_config};
pub use wire::Extras;

/// A reqwest builder on the load path's TLS setup (`options`; the default trusts the bundled
/// and the system's roots); reqwest is built without a crypto provider of its own so the
/// workspace has exactly one.
pub fn reqwest_builder(options: &TlsOptions) -> Result<reqwest::ClientBuilder, String> {
    let config = client_config(options).map_err(|e| e.to_string())?;
    Ok(reqwest::Client::builder().tls_backend_preconfigured(config))
}
