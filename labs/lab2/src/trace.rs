//! The `--verbose` trace: one timestamped line per socket event, on standard error.
//!
//! Each line names the thread that did the work, so with a few `nc` clients you can watch
//! the accept loop hand every connection to a thread of its own, and the threads run side
//! by side. (`top -H -p PID` shows the same threads from the outside.)

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// Writes socket events to standard error when enabled; does nothing otherwise.
///
/// It is shared by all connection threads (behind an `Arc`): it only reads its fields, and
/// `eprintln!` locks standard error for each line, so lines from different threads never
/// mix.
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
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed");
            eprintln!("[{t:>10.6}s] {name:<16} {peer:<22} {what}");
        }
    }
}
