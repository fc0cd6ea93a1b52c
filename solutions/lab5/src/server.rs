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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::connection::{self, Settings};
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
    /// The readiness loops of `--model events` ([`crate::events`]), woken at shutdown.
    wakers: Mutex<Vec<Arc<mio::Waker>>>,
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
        for waker in lock(&self.0.wakers).iter() {
            let _ = waker.wake();
        }
        let addr = *lock(&self.0.wake_addr);
        if let Some(addr) = addr {
            // The connection itself is dropped at once by the accept loop.
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    }

    /// Has `waker` woken when shutdown begins (at once if it has begun already).
    pub(crate) fn add_waker(&self, waker: Arc<mio::Waker>) {
        let mut wakers = lock(&self.0.wakers);
        if self.is_stopping() {
            let _ = waker.wake();
        }
        wakers.push(waker);
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
    TcpListener::bind((host, port))
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
    let shared = Arc::clone(&shutdown.0);
    *lock(&shared.wake_addr) = Some(wake_address(listener.local_addr()?));
    let config = Arc::new(config);
    while !shared.stopping.load(Ordering::SeqCst) {
        wait_for_a_free_slot(&shared, config.max_connections);
        let (stream, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) => {
                // ECONNABORTED (a client gave up in the backlog), EMFILE (out of file
                // descriptors for a moment): log, pause briefly so an EMFILE storm does
                // not spin, and go on.
                eprintln!("lab5: accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stopping.load(Ordering::SeqCst) {
            break; // the wake-up connection, or a client that came too late
        }
        let id = match stream.try_clone() {
            Ok(clone) => register(&shared, clone),
            Err(e) => {
                eprintln!("lab5: cannot track connection from {peer}: {e}");
                continue;
            }
        };
        trace.event(peer, format_args!("accepted"));
        let (conn_shared, config, trace) =
            (Arc::clone(&shared), Arc::clone(&config), Arc::clone(&trace));
        let spawned = thread::Builder::new()
            .name(format!("conn {peer}"))
            // Connection threads keep their buffers on the heap; a small stack lets
            // thousands of them coexist.
            .stack_size(256 * 1024)
            .spawn(move || {
                // Deregisters even if `serve` panics, so shutdown never waits forever.
                let _guard = Registered {
                    shared: &conn_shared,
                    id,
                };
                let settings = Settings {
                    root: &config.root,
                    keep_alive: config.keep_alive,
                    stopping: &conn_shared.stopping,
                    trace: &trace,
                };
                if let Err(e) = connection::serve(stream, peer, &settings) {
                    trace.event(peer, format_args!("closed on error: {e}"));
                }
            });
        if let Err(e) = spawned {
            eprintln!("lab5: cannot start a thread for {peer}: {e}");
            deregister(&shared, id);
        }
    }
    // Stop accepting: with the listening socket closed, new clients are refused.
    drop(listener);
    // Wake idle connections: a half-closed read side makes their next read return 0.
    let mut open = lock(&shared.open);
    for stream in open.streams.values() {
        let _ = stream.shutdown(Shutdown::Read);
    }
    while !open.streams.is_empty() {
        open = shared.changed.wait(open).unwrap_or_else(|e| e.into_inner());
    }
    Ok(())
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
