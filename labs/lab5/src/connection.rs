//! One client connection: read requests, answer them in order, keep the connection open
//! while both sides want it, and close it cleanly.
//!
//! The loop in [`serve`] is the heart of HTTP/1.1 persistent connections:
//!
//! 1. Read until the buffer holds a complete request head ([`crate::request::parse`]).
//!    A client may send *several* requests at once (pipelining); the bytes after the first
//!    head stay in the buffer for the next turn of the loop instead of being thrown away.
//! 2. Answer with a correctly framed response (`Content-Length`), so that the client
//!    knows where it ends.
//! 3. Keep going unless the client asked to close, or the server is shutting down.
//!
//! Time limits keep a thread from being held forever: the whole head of the next request
//! must arrive within the keep-alive timeout of the moment we start waiting for it. That
//! one deadline covers both the idle keep-alive connection (nothing arrives) and the slow
//! client that sends one byte every few seconds (a per-`read` timeout would never fire
//! for it).

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::request::{self, ParseError, Request};
use crate::response::Response;
use crate::trace::Trace;

/// Files up to this size are read into the response buffer and sent with the headers in
/// one `write`: one system call and one TCP segment for a typical small page. Larger
/// files are streamed (see [`send_response`]).
pub const SMALL_FILE: u64 = 64 * 1024;
/// A request body (which we never use) up to this size is read and discarded, so the
/// connection can go on; a larger one makes us answer and close instead.
pub const MAX_DISCARD: u64 = 1 << 20;
/// A client that accepts none of our bytes for this long is given up on.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a connection needs to know about the server.
#[derive(Debug)]
pub struct Settings<'a> {
    /// The directory served.
    pub root: &'a Path,
    /// How long a connection may take to send the next request head.
    pub keep_alive: Duration,
    /// Set when the server is shutting down: finish the current response, then close.
    pub stopping: &'a AtomicBool,
    /// The `--verbose` trace.
    pub trace: &'a Trace,
}

/// Serves requests on `stream` until the client or the server ends the connection.
///
/// # Errors
/// I/O errors of this connection (a reset, a write timeout). They concern this client
/// only; the caller logs them.
pub fn serve(mut stream: TcpStream, peer: SocketAddr, settings: &Settings<'_>) -> io::Result<()> {
    // TODO: Step 11 — answer request after request on this connection, in order, for as
    // long as both sides want it: HTTP/1.1 unless the request says `Connection: close`,
    // HTTP/1.0 only if it says `keep-alive`, and never once the server is stopping. It all
    // rests on knowing where one request ends and the next begins: the head's `used`
    // bytes, then its body (read and thrown away, or its bytes would be taken for the next
    // request; a body too large to bother with: answer, then close), and what follows is
    // the next request, perhaps already buffered (pipelining). A response to HEAD has no
    // body. A malformed head, or one that did not arrive in time (408), gets its error
    // answer and then the close: nobody knows any more where the next request would
    // start. Even then a HEAD's answer has no body (`Input::asks_head`). Every close is
    // `close_gracefully`'s.
    let _ = (
        &mut stream,
        peer,
        settings,
        Input::new,
        Input::asks_head,
        answer_and_close,
        log_request,
    );
    todo!("Step 11 of handouts/lab5.md: serve requests on a persistent connection")
}

fn log_request(trace: &Trace, peer: SocketAddr, request: &Request, response: &Response, sent: u64) {
    if trace.enabled() {
        trace.event(
            peer,
            format_args!(
                "\"{} {} {}\" {} ({sent} body bytes)",
                request.method,
                request.target,
                request.version.as_str(),
                response.status
            ),
        );
    }
}

/// What the next turn of the connection loop gets.
#[allow(dead_code)] // scaffolding: used once Step 11 is done
enum Next {
    /// A complete request head, and how many buffered bytes it used.
    Request(Request, usize),
    /// The connection ended without a request: the client closed, was idle too long, or
    /// the server is stopping.
    Closed(&'static str),
    /// Part of a head arrived, but the deadline passed.
    TimedOut,
    /// The head is malformed or too large.
    Invalid(ParseError),
}

/// The bytes received on a connection and not yet used.
///
/// One fixed buffer per connection: a head larger than it is refused anyway
/// ([`request::MAX_HEAD`]), and everything is parsed in place, without copying lines out.
#[allow(dead_code)] // scaffolding: used once Step 11 is done
struct Input {
    buf: Box<[u8]>,
    filled: usize,
    /// The read timeout currently set on the socket (setting it is a system call, so we
    /// skip it when the value would barely change).
    timeout: Option<Duration>,
}

#[allow(dead_code)] // scaffolding: used once Step 11 is done
impl Input {
    fn new() -> Input {
        Input {
            buf: vec![0; request::MAX_HEAD + 1024].into_boxed_slice(),
            filled: 0,
            timeout: None,
        }
    }

    /// Reads until a request head is complete (it may already be in the buffer).
    fn next_request(
        &mut self,
        stream: &mut TcpStream,
        deadline: Instant,
        stopping: &AtomicBool,
    ) -> io::Result<Next> {
        // TODO: Step 11 — the next complete request head: parse what is buffered first (a
        // pipelined request may be there already) and read more only while it is not a
        // whole head, all within one deadline for the whole head, so that an idle
        // connection and a client that trickles a byte at a time (Slowloris) are both cut
        // off. Say how it ended: a request; closed (the client closed, the deadline passed
        // with nothing sent, or the server is stopping between requests); timed out halfway
        // through a head; or invalid (a head that fills the buffer is too large, too).
        let _ = (stream, deadline, stopping);
        todo!("Step 11 of handouts/lab5.md: read until a request head is complete")
    }

    /// One read into the free part of the buffer: `Some(n)` bytes (0 = end of stream), or
    /// `None` if the deadline passed first.
    fn read_more(
        &mut self,
        stream: &mut TcpStream,
        deadline: Instant,
    ) -> io::Result<Option<usize>> {
        // TODO: Step 11 — one read into the free part of the buffer, waiting no longer than
        // what is left before the deadline (a timeout per read would restart with every
        // byte): `Some(n)` bytes, where 0 is the end of the stream, or `None` once the
        // deadline has passed. A read that timed out or was interrupted is no error here.
        let _ = (stream, deadline);
        todo!("Step 11 of handouts/lab5.md: read with a deadline for the whole head")
    }

    /// Whether the request waiting at the front is a HEAD (readable even when the rest of
    /// its head is malformed or too long).
    fn asks_head(&self) -> bool {
        self.buf[..self.filled].starts_with(b"HEAD ")
    }

    /// Drops the first `used` bytes (a request that has been handled); any pipelined
    /// bytes after them move to the front.
    fn consume(&mut self, used: usize) {
        self.buf.copy_within(used..self.filled, 0);
        self.filled -= used;
    }

    /// Reads and throws away a request body of `len` bytes. Returns `false` if the
    /// client closed or the deadline passed first.
    fn discard_body(
        &mut self,
        stream: &mut TcpStream,
        len: u64,
        deadline: Instant,
    ) -> io::Result<bool> {
        let mut left = len;
        while left > 0 {
            if self.filled == 0 {
                match self.read_more(stream, deadline)? {
                    Some(0) | None => return Ok(false),
                    Some(_) => {}
                }
            }
            let take = (self.filled as u64).min(left) as usize;
            self.consume(take);
            left -= take as u64;
        }
        Ok(true)
    }
}

/// Writes `response`; returns the number of body bytes sent.
///
/// The head and a small body go out in a single `write`. A large file is streamed in
/// fixed-size chunks, so memory use stays flat whatever the file size.
fn send_response(
    stream: &mut TcpStream,
    response: &Response,
    send_body: bool,
    keep_alive: bool,
    out: &mut Vec<u8>,
) -> io::Result<u64> {
    // TODO: Step 12 — put the response on the wire exactly as its head announces it: the
    // client finds where this response ends, and so where the next begins, by counting
    // Content-Length bytes. The head, then the body unless there is none to send (HEAD,
    // 304). A small response leaves in one write (one system call, one TCP segment); a
    // large file is streamed in pieces from the range's start, never read into memory
    // whole (a hundred downloads would need a hundred copies). A file that yields fewer
    // bytes than announced must fail the connection (`check_length`), or every later
    // response on it would be garbled. Returns the number of body bytes sent.
    let _ = (stream, response, send_body, keep_alive, out, check_length);
    todo!("Step 12 of handouts/lab5.md: write a response, streaming large files")
}

/// A file that shrank while we sent it would make our `Content-Length` a lie: the only
/// honest way out is to fail (and so close) the connection.
fn check_length(got: u64, announced: u64) -> io::Result<()> {
    if got == announced {
        Ok(())
    } else {
        Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            format!("file changed while being sent: {got} of {announced} bytes"),
        ))
    }
}

/// Sends a final response and closes; `send_body` is false when the request was HEAD
/// (an error answer to HEAD has no body either).
fn answer_and_close(
    mut stream: TcpStream,
    response: &Response,
    send_body: bool,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    send_response(&mut stream, response, send_body, false, out)?;
    close_gracefully(stream);
    Ok(())
}

/// Closes our side, then reads and discards what the client still sends, for a moment.
///
/// Closing a socket that still has unread bytes makes the kernel send a reset (RST)
/// instead of a FIN, and a reset can destroy our last response before the client has
/// read it. So: send FIN (shutdown of the write side), wait for the client to close its
/// side (a read returning 0), and only then close, giving up after a short while.
fn close_gracefully(mut stream: TcpStream) {
    // TODO: Step 12 — end the connection without destroying the last response. Closing a
    // socket that still holds bytes the client sent and we never read makes the kernel send
    // a reset, and a reset can throw the response away before the client has read it. So
    // say you are done sending (FIN), let the client finish and close its side, and only
    // then close; but wait for it a couple of seconds at most.
    let _ = &mut stream;
    todo!("Step 12 of handouts/lab5.md: close without losing the last response")
}
