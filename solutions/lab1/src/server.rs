//! The listening socket and the accept loop.
//!
//! An *iterative* server takes one connection from the listen backlog, serves it until the
//! client is done, and only then takes the next one. While it serves, other clients'
//! connections are completed by the kernel (the TCP handshake does not need us) and wait in
//! the backlog; their bytes wait in kernel buffers. Nothing is lost, but nobody else is
//! served: that is the weakness labs 2 and 3 remove.

use std::io;
use std::net::{TcpListener, TcpStream};

use crate::echo;
use crate::trace::Trace;

/// Creates the listening socket on `host:port`.
///
/// `TcpListener::bind` performs three system calls in one: `socket()` to get a file
/// descriptor, `bind()` to attach it to the address, and `listen()` to make it passive, so
/// the kernel starts queueing incoming connections for `accept()`. On Unix, std also sets
/// `SO_REUSEADDR`, which lets a restarted server bind again at once instead of waiting for
/// old connections in `TIME_WAIT` to expire.
///
/// # Errors
/// Fails if the address does not resolve, or the port is taken or privileged.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    TcpListener::bind((host, port))
}

/// Accepts clients forever, serving each one to completion before accepting the next.
///
/// # Errors
/// Never returns under normal operation. Errors that concern a single client are logged
/// and the loop continues, because one misbehaving client must not take the service away
/// from everybody else.
pub fn run(listener: TcpListener, trace: &Trace) -> io::Result<()> {
    loop {
        // `accept` blocks until a connection is waiting in the backlog, then returns a new
        // socket for that one client; the listening socket stays open for the next ones.
        let (stream, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) => {
                // For example ECONNABORTED (the client gave up while waiting in the
                // backlog) or EMFILE (out of file descriptors, perhaps only for a moment).
                // Neither is a reason to stop serving.
                eprintln!("lab1: accept failed: {e}");
                continue;
            }
        };
        trace.event(peer, format_args!("accepted"));
        serve_and_log(stream, trace);
    }
}

/// Serves one client and logs how it ended; never fails, so the accept loop goes on.
fn serve_and_log(stream: TcpStream, trace: &Trace) {
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        // The client already reset the connection: nothing to serve.
        Err(e) => {
            eprintln!("lab1: connection lost before it could be served: {e}");
            return;
        }
    };
    match echo::serve_client(stream, peer, trace) {
        Ok(total) => trace.event(peer, format_args!("closed after echoing {total} bytes")),
        // A reset (ECONNRESET) or broken pipe (EPIPE) here is the client's doing. Rust
        // ignores SIGPIPE, so writing to a vanished client is an error value, not the
        // death of the process that it would be in a C program by default.
        Err(e) => {
            trace.event(peer, format_args!("closed on error: {e}"));
            eprintln!("lab1: client {peer}: {e}");
        }
    }
    // `stream` was moved into `serve_client` and dropped there: dropping a `TcpStream`
    // calls `close()`, which releases the file descriptor.
}
