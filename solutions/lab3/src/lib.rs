//! # Lab 3 — a single-threaded, event-driven echo server
//!
//! The learning goal: serve thousands of clients with **one thread**, by never blocking.
//! Every socket is non-blocking; a call that cannot make progress returns `WouldBlock`
//! (`EAGAIN`) at once instead of waiting. The one place where the thread does wait is the
//! *readiness call* (`epoll_wait` on Linux, `kqueue` on macOS, both wrapped by
//! [`mio::Poll`]): "sleep until at least one of these sockets can make progress, and tell
//! me which".
//!
//! The components, in the order a connection meets them:
//!
//! - [`limits`]: raises the open-files limit, since every connection is a file descriptor
//!   and the usual default (1024) is far below the 10,000 clients this server can hold.
//! - [`server`]: the event loop. It registers the listening socket and every connection
//!   with the poller, waits for readiness, and dispatches each event: the listener's to
//!   `accept`, a connection's to that connection.
//! - [`connection`]: one client's state: its socket, the output it still owes the client
//!   (*pending output*), and whether the client has half-closed. Its `pump` makes all the
//!   progress that is possible right now without blocking, and it decides which readiness
//!   to wait for next. It stops reading from a client whose pending output passes a bound
//!   (*backpressure*), so memory stays bounded however much a client sends without reading.
//! - [`trace`]: the `--verbose` trace of readiness events and socket calls.
//!
//! The protocol ("byte echo"), as in labs 1 and 2: every byte a client sends comes back to
//! that client, unchanged and in order. When the client shuts down its write side, the
//! server sends whatever is still pending, then closes the connection.

pub mod connection;
pub mod limits;
pub mod server;
pub mod trace;

/// The port `cargo run -p lab3` listens on when no `--port` is given.
pub const DEFAULT_PORT: u16 = 7103;
