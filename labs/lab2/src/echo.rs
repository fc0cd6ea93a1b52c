//! Serving one client: the echo loop, on the client's own thread.
//!
//! This is the code you wrote in lab 1. Blocking calls were the problem of the iterative
//! server only because its one thread served everybody; here each connection has a thread
//! of its own, so a blocked `read` or `write` holds up that client and nobody else.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};

use crate::trace::Trace;

/// Size of the buffer each read fills.
pub const BUF_SIZE: usize = 64 * 1024;

/// Echoes everything `peer` sends until it half-closes, then closes our side too.
///
/// Returns the number of bytes echoed.
///
/// # Errors
/// Any I/O error on this connection, such as a reset from the client.
pub fn serve_client(stream: TcpStream, peer: SocketAddr, trace: &Trace) -> io::Result<u64> {
    // TODO: Step 4 — your echo loop from lab 1: every byte this client sends comes back
    // to it, unchanged and in order, and when it half-closes, finish and close your side
    // too; return how many bytes were echoed. Blocking calls are fine now: a blocked read
    // holds up this client's thread only. The buffer must be this thread's own, or
    // clients would get each other's bytes. Until Step 5, write with the standard
    // library's `stream.write_all(…)`.
    let _ = (stream, peer, trace, BUF_SIZE);
    todo!("Step 4 of handouts/lab2.md: echo every byte until the client half-closes")
}

/// Writes every byte of `bytes`, however many `write` calls that takes.
///
/// # Errors
/// The first write error other than `Interrupted`; `WriteZero` if nothing is accepted.
pub fn write_all(
    stream: &mut impl Write,
    bytes: &[u8],
    peer: SocketAddr,
    trace: &Trace,
) -> io::Result<()> {
    // TODO: Step 5 — your write loop from lab 1: every byte of `bytes` is written, however
    // few each `write` takes, and an interrupted write is no error; a write that takes
    // nothing would never finish, so report it (`WriteZero`). Then call this function from
    // `serve_client` instead of the standard library's `write_all`.
    let _ = (stream, bytes, peer, trace);
    todo!("Step 5 of handouts/lab2.md: write every byte, looping over partial writes")
}
