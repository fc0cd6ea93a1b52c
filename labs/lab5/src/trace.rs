//! The `--verbose` trace: one timestamped line per connection event and per request, on
//! standard error.
//!
//! Run the server with `--verbose`, load a page in a browser, and watch it open several
//! connections at once and send many requests over each one: that is persistent
//! connections at work. Each request line shows the status and the body length sent.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// Writes events to standard error when enabled; does nothing otherwise.
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

    /// Whether events are printed (lets callers skip preparing expensive details).
    pub fn enabled(&self) -> bool {
        self.enabled
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
