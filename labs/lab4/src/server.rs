//! The control listener and the accept loop: one task per session.
//!
//! `tokio::spawn` hands each accepted connection to the runtime as an independent task,
//! and the loop goes straight back to `accept`. Compare lab 2, where the same shape costs
//! one OS thread (and its stack) per client: a task is a small state machine that the
//! runtime polls when its socket is ready, so thousands of idle sessions cost little.
//!
//! A semaphore bounds the number of sessions. When it is exhausted, the newcomer is not
//! left hanging in the backlog: it gets `421 Too many sessions` and is closed, which tells
//! a client to come back later (4xx is a transient failure).

use std::io;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::session::{self, Config};

/// Creates the control listener on `host:port`.
///
/// # Errors
/// Fails if the address does not resolve, or the port is taken or privileged.
pub async fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    TcpListener::bind((host, port)).await
}

/// Accepts sessions forever, each in its own task, at most `max_sessions` at once.
///
/// # Errors
/// Never returns under normal operation: failed accepts and failed sessions are logged.
pub async fn run(
    listener: TcpListener,
    config: Arc<Config>,
    max_sessions: usize,
) -> io::Result<()> {
    // TODO: Step 2 — serve every client at once. A session can last for hours, so
    // taking the next client must never wait for one to end: each session runs on its
    // own (`session::serve`, named `s1`, `s2`, … in the trace) while this loop is
    // already back at accepting. Bound how many run at once (`max_sessions`): a client
    // beyond that is told to come back later (421) and closed, not left waiting. A failed
    // accept or a failed session concerns one client: log it and keep serving.
    let _ = (listener, config, max_sessions, session::serve);
    todo!("Step 2 of handouts/lab4.md: accept sessions, one task each")
}
