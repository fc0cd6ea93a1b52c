//! The `--verbose` trace: the control-channel dialogue and data-connection events.
//!
//! Each line carries a timestamp and the connection's label (`s3` for the server's third
//! session, `c1` for the client's first), so the interleaving of concurrent sessions is
//! visible: with `lab4 get --verbose a b c`, three logins overlap, three transfers overlap.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// Writes events to standard error when enabled; cheap to clone (shared start time).
#[derive(Debug, Clone)]
pub struct Trace {
    enabled: bool,
    start: Arc<Instant>,
}

impl Trace {
    /// A trace that prints when `enabled` is true. Timestamps count from this call.
    pub fn new(enabled: bool) -> Trace {
        Trace {
            enabled,
            start: Arc::new(Instant::now()),
        }
    }

    /// Whether events are printed.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records one event on connection `who`; `dir` is `>` (sent), `<` (received) or `*`
    /// (anything else).
    pub fn event(&self, who: &str, dir: char, what: fmt::Arguments<'_>) {
        if self.enabled {
            let t = self.start.elapsed().as_secs_f64();
            eprintln!("[{t:>10.6}s] {who:<4} {dir} {what}");
        }
    }
}
