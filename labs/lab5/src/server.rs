//! The listening socket, the accept loop (one thread per connection), and graceful
//! shutdown.
//!
//! **Why a thread per connection, not a fixed pool.** HTTP/1.1 connections are
//! persistent: a browser opens up to six and keeps them open between page loads, idle
//! most of the time. A pool of N worker threads that each serve one connection until it
//! closes is therefore full after N idle browsers, and every other client waits in the
//! listen backlog until a keep-alive timeout frees a worker: the pool *starves* keep-alive
//! clients. A thread per connection costs a stack (mostly untouched virtual memory) and a
//! scheduler entry, which Linux handles by the thousand. `--threads N` caps how many
//! connections are served at once, so a flood of clients cannot exhaust memory or file
//! descriptors; beyond the cap, new clients wait in the backlog.
//!
//! **Graceful shutdown.** [`ShutdownHandle::trigger`] sets a flag and wakes the accept loop
//! (by connecting to ourselves, since a blocked `accept` has no other way to be woken
//! portably). The loop then closes the listening socket, so new clients are refused,
//! half-closes the *read* side of every open connection, so idle ones see end-of-stream
//! and close at once while responses being written go on to the end, and waits until
//! every connection thread has finished.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::trace::Trace;

/// How the server is configured.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory whose files are served.
    pub root: PathBuf,
    /// How long a connection may take to send its next request head.
    pub keep_alive: Duration,
    /// The most connections served at once (one thread each).
    pub max_connections: usize,
}

/// State shared by the accept loop, the connection threads and the shutdown trigger.
#[derive(Debug, Default)]
struct Shared {
    stopping: AtomicBool,
    /// Where to connect to wake a blocked `accept`.
    wake_addr: Mutex<Option<SocketAddr>>,
    /// The open connections (a second handle on each socket, for shutdown).
    open: Mutex<Connections>,
    /// Signalled whenever a connection ends or shutdown begins.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Connections {
    next_id: u64,
    streams: HashMap<u64, TcpStream>,
}

/// A handle that asks a running server to shut down gracefully. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ShutdownHandle(Arc<Shared>);

impl ShutdownHandle {
    /// A handle for a server not started yet; pass it to [`run`].
    pub fn new() -> ShutdownHandle {
        ShutdownHandle::default()
    }

    /// Starts the graceful shutdown: stop accepting, finish in-flight responses, return
    /// from [`run`]. Calling it again does nothing more.
    pub fn trigger(&self) {
        if self.0.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.0.changed.notify_all();
        let addr = *lock(&self.0.wake_addr);
        if let Some(addr) = addr {
            // The connection itself is dropped at once by the accept loop.
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.0.stopping.load(Ordering::SeqCst)
    }
}

/// Creates the listening socket on `host:port`.
///
/// # Errors
/// Fails if the address does not resolve, or the port is taken or privileged.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    // TODO: Step 1 — the socket clients connect to, listening on host:port (a host may be a
    // name such as `localhost`, or an IPv6 address such as `::1`); a port that is taken is
    // an error for the caller.
    let _ = (host, port);
    todo!("Step 1 of handouts/lab5.md: bind a listening socket to host:port")
}

/// Accepts connections and serves each on its own thread, until `shutdown` is triggered;
/// then finishes the connections in progress and returns.
///
/// # Errors
/// Only if the listener's own address cannot be read. Errors of single connections are
/// logged and the loop goes on.
pub fn run(
    listener: TcpListener,
    config: Config,
    trace: Arc<Trace>,
    shutdown: ShutdownHandle,
) -> io::Result<()> {
    // TODO: Step 2 — serve every connection (`connection::serve`) on a thread of its own, so
    // that a slow, stalled or idle keep-alive client holds up nobody else; but at most
    // `config.max_connections` at once, so that a flood of clients waits in the listen
    // backlog instead of exhausting memory and descriptors. A failed accept or spawn
    // concerns one client: log it and go on. Once `shutdown` is triggered (by a signal, or
    // a test), shut down gracefully: stop accepting, so that new clients are refused; close
    // idle connections at once rather than at their timeout, while responses in progress
    // go on to their last byte; and return only when every connection has ended. The
    // trigger can wake a blocked `accept` only if it knows where to connect
    // (`wake_address`, recorded in the state the handle shares: `shutdown.0`), and
    // shutdown reaches the open connections only through the registry (`register`; a
    // `Registered` guard in each thread takes its connection off the books however the
    // thread ends).
    let _ = (
        listener,
        config,
        trace,
        shutdown,
        wake_address,
        wait_for_a_free_slot,
        register,
        deregister,
    );
    todo!(
        "Step 2 of handouts/lab5.md: accept connections, one thread each, and shut down gracefully"
    )
}

/// Where a connection must go to reach a listener bound to `local`: a listener on the
/// wildcard address (`0.0.0.0`, `::`) is reachable on loopback.
fn wake_address(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

fn wait_for_a_free_slot(shared: &Shared, max: usize) {
    let mut open = lock(&shared.open);
    while open.streams.len() >= max.max(1) && !shared.stopping.load(Ordering::SeqCst) {
        open = shared.changed.wait(open).unwrap_or_else(|e| e.into_inner());
    }
}

fn register(shared: &Shared, stream: TcpStream) -> u64 {
    let mut open = lock(&shared.open);
    let id = open.next_id;
    open.next_id += 1;
    open.streams.insert(id, stream);
    id
}

fn deregister(shared: &Shared, id: u64) {
    lock(&shared.open).streams.remove(&id);
    shared.changed.notify_all();
}

/// Removes a connection from the registry when dropped (put one in each connection
/// thread, so that even a panic deregisters it).
#[allow(dead_code)] // scaffolding: used once Step 2 is done
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        deregister(self.shared, self.id);
    }
}

/// Locks a mutex, ignoring poisoning: a panicking connection thread leaves the map
/// consistent (insert and remove are single operations).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
