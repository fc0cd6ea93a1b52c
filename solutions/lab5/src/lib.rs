//! # Lab 5 — HTTP server v2: a concurrent, persistent-connection HTTP/1.1 file server
//!
//! The learning goal: speak a real protocol to real clients (browsers, curl) byte for
//! byte; keep connections open across requests (persistent connections and pipelining);
//! serve many clients at once without letting one slow client hold up the others; keep
//! every file outside the served directory out of reach; and shut down without cutting
//! responses in half.
//!
//! The components, in the order a connection meets them:
//!
//! - [`server`]: binds, runs the accept loop with one thread per connection (capped by
//!   `--threads`), and performs the graceful shutdown.
//! - [`connection`]: one connection's loop: buffered reads, request after request,
//!   keep-alive decisions, timeouts, writing responses (small ones in one write, large
//!   files streamed).
//! - [`request`]: parses a request head out of the bytes received so far.
//! - [`handler`]: decides the response: methods, files, directories, `If-Modified-Since`,
//!   `Range`.
//! - [`files`]: maps a request target to a path below the root (percent-decoding, refusing
//!   `..`), content types, directory listings.
//! - [`response`]: status lines and headers on the wire.
//! - [`events`]: the second concurrency model (`--model events`, beyond the handout's
//!   steps): one readiness loop per core over the same request, response and file code.
//! - [`date`], [`signals`], [`trace`]: HTTP dates, SIGINT/SIGTERM handling, the
//!   `--verbose` log.

pub mod connection;
pub mod date;
pub mod events;
pub mod files;
pub mod handler;
pub mod request;
pub mod response;
pub mod server;
pub mod signals;
pub mod trace;

/// The port `cargo run -p lab5` listens on when no `--port` is given.
pub const DEFAULT_PORT: u16 = 8080;
/// How long an idle keep-alive connection (or a slow request head) is waited for, in
/// seconds, unless `--keep-alive-timeout` says otherwise.
pub const DEFAULT_KEEP_ALIVE_SECS: u64 = 5;
/// How many connections are served at once unless `--threads` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
