//! The listening socket and the accept loop.
//!
//! An *iterative* server takes one connection from the listen backlog, serves it until the
//! client is done, and only then takes the next one. While it serves, other clients wait in
//! the backlog.

use std::io;
use std::net::{TcpListener, TcpStream};

use crate::echo;
use crate::trace::Trace;

/// Creates the listening socket on `host:port`.
///
/// # Errors
/// Fails if the address does not resolve, or the port is taken or privileged.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    // TODO: Step 1 — create a TCP socket listening on host:port and return it.
    let _ = (host, port);
    todo!("Step 1 of handouts/lab1.md: bind a listening socket to host:port")
}

/// Accepts clients forever, serving each one to completion before accepting the next.
///
/// # Errors
/// Should never return: errors that concern a single client are logged and the loop
/// continues.
pub fn run(listener: TcpListener, trace: &Trace) -> io::Result<()> {
    // TODO: Step 2 — accept clients one at a time, forever, and hand each to
    // `serve_and_log`. A failed accept is logged; it must not end the loop.
    let _ = (listener, trace, serve_and_log);
    todo!("Step 2 of handouts/lab1.md: accept clients one after another")
}

/// Serves one client and logs how it ended; never fails, so the accept loop goes on.
fn serve_and_log(stream: TcpStream, trace: &Trace) {
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(e) => {
            eprintln!("lab1: connection lost before it could be served: {e}");
            return;
        }
    };
    trace.event(peer, format_args!("accepted"));
    match echo::serve_client(stream, peer, trace) {
        Ok(total) => trace.event(peer, format_args!("closed after echoing {total} bytes")),
        Err(e) => {
            trace.event(peer, format_args!("closed on error: {e}"));
            eprintln!("lab1: client {peer}: {e}");
        }
    }
}
