//! The listening socket, the accept loop, and one thread per connection.
//!
//! The accept loop does nothing but accept: each new connection goes to a thread of its
//! own, and the loop is back in `accept` at once. A client that stalls blocks only its own
//! thread.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::echo;
use crate::trace::{client_thread_name, Trace};

/// Creates the listening socket on `host:port`.
///
/// # Errors
/// Fails if the address does not resolve, or the port is taken or privileged.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    // TODO: Step 1 — the socket clients connect to, listening on host:port, as in lab 1.
    // A port that is taken is the caller's error to report, not a panic.
    let _ = (host, port);
    todo!("Step 1 of handouts/lab2.md: bind a listening socket to host:port")
}

/// Accepts clients forever, giving each one a thread of its own.
///
/// # Errors
/// Should never return: a failed `accept` or a thread that cannot be started concerns one
/// client only, and is logged.
pub fn run(listener: TcpListener, trace: Arc<Trace>) -> io::Result<()> {
    // TODO: Step 2 — the accept loop, which is what makes this server concurrent: it only
    // accepts, hands each client to `spawn_client`, and is back in `accept` at once,
    // whatever that client does. Lab 1's loop served the client itself, so one client
    // that stalled held up everybody behind it; here it must hold up nobody. Every client's
    // thread gets its own handles on what they all share (the trace, the count in
    // `active`). A failed accept, or a thread that cannot be started, concerns one client:
    // log it and keep accepting, or one bad moment (out of descriptors, a thread limit)
    // would end the service for everybody.
    let active = Arc::new(AtomicUsize::new(0));
    let _ = (listener, trace, active);
    todo!("Step 2 of handouts/lab2.md: accept clients and hand each to a new thread")
}

// ANCHOR: spawn_client
/// Starts a thread that serves the client on `stream`, and returns at once.
///
/// # Errors
/// When the operating system refuses to create another thread.
pub fn spawn_client(
    stream: TcpStream,
    peer: SocketAddr,
    trace: Arc<Trace>,
    active: Arc<AtomicUsize>,
) -> io::Result<()> {
    // TODO: Step 3 — serve this client on a thread of its own, and return at once. The
    // thread owns the connection (the accept loop keeps nothing of it, so nothing else can
    // touch it, and the socket closes when the thread is done), serves it with
    // `serve_and_log`, and is named after the client (`client_thread_name`), so that
    // `top -H` and the trace show whom it serves. While it serves, it counts itself in
    // `active`, which every thread changes at any moment: that is why the count is an
    // atomic (a plain integer would be a data race). An `ActiveClient` guard adds the thread to the count and takes it back
    // however the thread ends, even by a panic. If the system refuses another thread,
    // return that error: the caller decides what it means.
    let _ = (
        stream,
        peer,
        trace,
        active,
        serve_and_log,
        client_thread_name,
    );
    todo!("Step 3 of handouts/lab2.md: serve the client on a thread of its own")
}
// ANCHOR_END: spawn_client

/// Counts a client as being served for as long as it lives.
///
/// Decrementing in `Drop` keeps the count right on every way out of the thread, including
/// a panic, which a decrement at the end of the thread's function would miss.
#[derive(Debug)]
pub struct ActiveClient<'a> {
    count: &'a AtomicUsize,
}

impl<'a> ActiveClient<'a> {
    /// Counts one more client in `count`.
    pub fn enter(count: &'a AtomicUsize) -> ActiveClient<'a> {
        // Relaxed is enough: the count is only displayed, it orders no other memory.
        count.fetch_add(1, Ordering::Relaxed);
        ActiveClient { count }
    }

    /// How many clients are being served right now (this one included).
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for ActiveClient<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one client and logs how it ended; never fails, so the thread ends quietly.
fn serve_and_log(stream: TcpStream, peer: SocketAddr, trace: &Trace) {
    match echo::serve_client(stream, peer, trace) {
        Ok(total) => trace.event(peer, format_args!("closed after echoing {total} bytes")),
        Err(e) => {
            trace.event(peer, format_args!("closed on error: {e}"));
            eprintln!("lab2: client {peer}: {e}");
        }
    }
}
