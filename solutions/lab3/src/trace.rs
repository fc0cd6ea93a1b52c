//! The `--verbose` trace: one timestamped line per readiness event and socket call.
//!
//! Run the server with `--verbose` next to a few `nc` clients and the trace shows the
//! shape of an event loop: the poller wakes up with a handful of events, each event leads
//! to reads and writes that stop at "would block", and then the loop sleeps again. An
//! idle server prints nothing at all: it is asleep in the readiness call.

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

    /// Whether lines are printed (to skip work that only feeds the trace).
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

    /// Records an event of the loop itself (not of one connection).
    pub fn note(&self, what: fmt::Arguments<'_>) {
        if self.enabled {
            let t = self.start.elapsed().as_secs_f64();
            eprintln!("[{t:>10.6}s] {:<22} {what}", "loop");
        }
    }
}
