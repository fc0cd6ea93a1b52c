//! The `--verbose` trace: one timestamped line per socket event, on standard error.
//!
//! Each line names the client it is about, once, and the thread that did the work: a
//! line written by the client's own thread (named by [`client_thread_name`]) gives just
//! the client's address; a line written by any other thread says which one at its end.
//! With a few `nc` clients you can watch the accept loop hand every connection to a
//! thread of its own, and the threads run side by side. (`top -H -p PID` shows the same
//! threads from the outside.)

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// The name of the thread that serves the client at `peer`: `c:42264 127.0.0.1`.
///
/// The port comes first because it is the part that tells two local clients apart, and
/// Linux keeps only the first 15 bytes of a thread's name (what `top -H` and `ps -L`
/// show): `client 127.0.0.1:42264` would show as `client 127.0.0.` for every client.
pub fn client_thread_name(peer: SocketAddr) -> String {
    format!("c:{} {}", peer.port(), peer.ip())
}

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
            // On the client's own thread the address says both whom the line is about and
            // which thread wrote it; any other thread (the accept loop, say) is named.
            if name == client_thread_name(peer) {
                eprintln!("[{t:>10.6}s] {peer:<21} {what}");
            } else {
                eprintln!("[{t:>10.6}s] {peer:<21} {what}  (on thread {name})");
            }
        }
    }
}
