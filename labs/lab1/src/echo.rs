//! Serving one client: the echo loop.
//!
//! Remember: TCP delivers a byte stream, not messages (one read may return any part of
//! what was sent), and a write may accept fewer bytes than offered.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};

use crate::trace::Trace;

/// Size of the buffer each read fills.
pub const BUF_SIZE: usize = 64 * 1024;

// ANCHOR: serve_client
/// Echoes everything `peer` sends until it half-closes, then closes our side too.
///
/// Returns the number of bytes echoed.
///
/// # Errors
/// Any I/O error on this connection, such as a reset from the client.
pub fn serve_client(stream: TcpStream, peer: SocketAddr, trace: &Trace) -> io::Result<u64> {
    // TODO: Step 3 — read whatever has arrived and write exactly those bytes back, and
    // repeat. When a read returns 0 bytes the client has half-closed: shut down your
    // write side and return the number of bytes echoed. Until Step 4, write with the
    // standard library's `stream.write_all(…)`. Trace each read for `--verbose`:
    // `trace.event(peer, format_args!("read {n} bytes"))`.
    let _ = (stream, peer, trace, BUF_SIZE);
    todo!("Step 3 of handouts/lab1.md: echo every byte until the client half-closes")
}
// ANCHOR_END: serve_client

// ANCHOR: write_all
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
    // TODO: Step 4 — call `stream.write` until every byte has been taken. Retry when a
    // call is `Interrupted`; report `WriteZero` if a call takes nothing. Trace each write
    // (how many bytes it took), then call this function from `serve_client` instead of the
    // standard library's `write_all`.
    let _ = (stream, bytes, peer, trace);
    todo!("Step 4 of handouts/lab1.md: write every byte, looping over partial writes")
}
// ANCHOR_END: write_all
