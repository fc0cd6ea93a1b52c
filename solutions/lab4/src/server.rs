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

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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
    let slots = Arc::new(Semaphore::new(max_sessions));
    let mut count: u64 = 0;
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // ECONNABORTED, EMFILE…: concern one connection attempt, not the server.
                eprintln!("lab4: accept failed: {e}");
                continue;
            }
        };
        // Replies are small and often come in pairs (150, then 226 once the data is
        // out): with Nagle's algorithm the second waits for the client's ACK of the
        // first, which a client with nothing to send delays by up to 40 ms.
        let _ = stream.set_nodelay(true);
        count += 1;
        let label = format!("s{count}");
        config.trace.event(
            &label,
            '*',
            format_args!("accepted control connection from {peer}"),
        );
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            config
                .trace
                .event(&label, '>', format_args!("421 Too many sessions"));
            tokio::spawn(async move {
                let _ = stream
                    .write_all(b"421 Too many sessions; try again later.\r\n")
                    .await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            // The permit lives as long as the task: dropping it frees the slot.
            let _permit = permit;
            match session::serve(stream, label.clone(), Arc::clone(&config)).await {
                Ok(()) => config
                    .trace
                    .event(&label, '*', format_args!("session ended")),
                // A reset or broken pipe concerns this client only.
                Err(e) => {
                    config
                        .trace
                        .event(&label, '*', format_args!("session ended on error: {e}"));
                }
            }
        });
    }
}
