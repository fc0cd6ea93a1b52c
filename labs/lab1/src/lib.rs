//! # Lab 1 — an iterative echo server
//!
//! The learning goal: the socket calls (`socket`/`bind`/`listen` hidden in
//! [`std::net::TcpListener::bind`], then `accept`, `recv`, `send`, `shutdown`, `close`), what
//! *blocking* means, and why every read and every write must loop.
//!
//! The components, in the order a connection meets them:
//!
//! - [`server`]: binds the listening socket and runs the accept loop, serving one client at
//!   a time to completion before accepting the next. One client's failure is logged and the
//!   loop goes on.
//! - [`echo`]: serves one client: read whatever has arrived, write all of it back, and when
//!   the client half-closes, finish and close our side too.
//! - [`trace`]: the `--verbose` trace of socket events, for watching the server in class.
//!
//! The protocol ("byte echo"): every byte a client sends comes back to that client,
//! unchanged and in order. When the client shuts down its write side, the server sends
//! whatever is still pending, then closes the connection.

pub mod echo;
pub mod server;
pub mod trace;

/// The port `cargo run -p lab1` listens on when no `--port` is given.
pub const DEFAULT_PORT: u16 = 7101;
