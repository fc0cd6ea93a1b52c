//! The `--verbose` trace: one timestamped line per socket event, on standard error.
//!
//! In class, run the server with `--verbose` next to a couple of `nc` clients and the
//! trace shows what the lecture describes: `accept` returning a new socket, reads that
//! return fewer bytes than were sent, the 0-byte read that means "the peer half-closed",
//! and the server blocking while a second client waits in the listen backlog.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// Writes socket events to standard error when enabled; does nothing otherwise.
#[derive(Debug)]
pub struct Trace {
    enabled: bool,
    start: Instant,
}

impl Trace {
    /// A trace that prints when `enabled` is true. Timestamps count from this call.
    pub fn new(enabled: bool) -> Trace {
        Trace {
            enabled,
            start: Instant::now(),
        }
    }

    /// Records one event concerning the connection with `peer`.
    ///
    /// Takes `fmt::Arguments` (build it with `format_args!`) so that a disabled trace costs
    /// nothing: the message is never formatted.
    pub fn event(&self, peer: SocketAddr, what: fmt::Arguments<'_>) {
        if self.enabled {
            let t = self.start.elapsed().as_secs_f64();
            eprintln!("[{t:>10.6}s] {peer:<22} {what}");
        }
    }
}
