//! Free loopback ports.
//!
//! A port is free when the kernel hands it out for `127.0.0.1:0`; another process may still grab
//! it before our component binds it. Startup therefore treats "address already in use" as
//! retryable and picks new ports (see `control_plane.rs`).

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Ports already handed out by this process; the kernel may return a port again once our probe
/// listener is closed, and two control planes in one test binary must not share one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

pub(crate) fn free_port() -> Result<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..64 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(Error::io("probing for a free loopback port"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("reading a probed port"))?
            .port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(Error::Io {
        context: "probing for a free loopback port".into(),
        source: std::io::Error::other("the kernel kept returning ports this process already uses"),
    })
}
