//! # Lab 2 — an echo server with one thread per connection, and a threaded client
//!
//! The learning goal: serve many clients at once with *blocking* calls, by giving each
//! connection a thread of its own; and know what that costs (a stack and a kernel task per
//! client, a context switch per wake-up) compared with a pool of threads or with separate
//! processes.
//!
//! The components, in the order a connection meets them:
//!
//! - [`server`]: binds the listening socket and runs the accept loop. Each accepted
//!   connection is handed to a new thread, so the loop is back in `accept` at once, whatever
//!   that client does. A guard counts the clients being served, for the trace.
//! - [`echo`]: serves one client on its own thread: read whatever has arrived, write all of
//!   it back, and when the client half-closes, finish and close our side too. The same
//!   code as lab 1: blocking calls are fine once a blocked call only blocks its own client.
//! - [`trace`]: the `--verbose` trace of socket events, each line naming the thread.
//! - [`client`]: the other side, `lab2 client`: N clients at once, each on a thread and
//!   a connection of its own, checking every byte of its echo; each thread hands its
//!   result back through its `JoinHandle`, so the threads share nothing.
//!
//! The protocol ("byte echo"): every byte a client sends comes back to that client,
//! unchanged and in order. When the client shuts down its write side, the server sends
//! whatever is still pending, then closes the connection.

pub mod client;
pub mod echo;
pub mod server;
pub mod trace;

/// The port `cargo run -p lab2` listens on when no `--port` is given.
pub const DEFAULT_PORT: u16 = 7102;
