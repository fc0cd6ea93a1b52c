//! # Lab 4 — async file transfer: an FTP server and a concurrent client on tokio
//!
//! The learning goal: `async`/`await` on tokio. One task per FTP session (the server) and
//! one task per file (the client) let a single thread pool keep many conversations in
//! flight, each written as straight-line code. The protocol is a subset of FTP (RFC 959,
//! with EPSV from RFC 2428), so real clients (curl, Python's ftplib, lftp) talk to the
//! server, and the client talks to real servers.
//!
//! The components, in the order a session meets them:
//!
//! - [`server`]: binds the control listener, accepts sessions, enforces the session
//!   limit, and spawns one task per session.
//! - [`session`]: one control connection: reads commands, keeps the session's state
//!   (logged in? current directory? transfer type? passive listener?) and answers each
//!   command with a reply code.
//! - [`command`] and [`reply`]: the wire format of the control channel (`VERB arg\r\n` one
//!   way, `CODE text\r\n` or a multi-line reply the other way).
//! - [`jail`]: maps an FTP path onto the disk and refuses anything outside the root.
//! - [`data`]: passive data connections (PASV, EPSV), streaming through fixed buffers,
//!   and `sendfile(2)` for binary downloads.
//! - [`listing`]: the lines of LIST and NLST.
//! - [`client`]: `get`, `put` and `ls`, with one session per file so that several
//!   transfers are in flight at once.
//! - [`trace`]: the `--verbose` dialogue and data-connection events.

pub mod client;
pub mod command;
pub mod data;
pub mod jail;
pub mod listing;
pub mod reply;
pub mod server;
pub mod session;
pub mod trace;

/// The port `cargo run -p lab4 -- server` listens on when no `--port` is given.
pub const DEFAULT_PORT: u16 = 2121;
