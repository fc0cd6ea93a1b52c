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

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::handler;
use crate::request::{self, ParseError, Request};
use crate::response::{Body, Response};
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
    // Responses are written whole (head and small body in one write), so Nagle's
    // algorithm could only delay them, waiting for an ACK that a delayed-ACK client holds
    // back: switch it off.
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut input = Input::new();
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        let deadline = Instant::now() + settings.keep_alive;
        let (request, used) = match input.next_request(&mut stream, deadline, settings.stopping)? {
            Next::Request(request, used) => (request, used),
            Next::Closed(why) => {
                settings.trace.event(peer, format_args!("closed: {why}"));
                return Ok(());
            }
            Next::TimedOut => {
                // Part of a head arrived, but not all of it in time.
                settings
                    .trace
                    .event(peer, format_args!("request head timed out: 408"));
                let body = !input.asks_head();
                return answer_and_close(stream, &Response::error(408), body, &mut out);
            }
            Next::Invalid(error) => {
                settings.trace.event(
                    peer,
                    format_args!("invalid request ({error:?}): {}", error.status()),
                );
                // After a malformed head we cannot know where the next request would
                // start, so this is the last response on this connection.
                // Even a refused HEAD gets headers only: the method is readable although
                // the rest of the head is not.
                let body = !input.asks_head();
                return answer_and_close(stream, &Response::error(error.status()), body, &mut out);
            }
        };
        input.consume(used);

        let mut keep_alive =
            request.wants_keep_alive() && !settings.stopping.load(Ordering::SeqCst);
        // A body we do not need must still be read, or its bytes would be taken for the
        // next request. Too large to bother: answer, then close.
        if request.body_len > MAX_DISCARD {
            keep_alive = false;
        } else if !input.discard_body(&mut stream, request.body_len, deadline)? {
            return Ok(()); // the client closed or stalled in the middle of its body
        }

        let response = handler::respond(&request, settings.root);
        let send_body = request.method != "HEAD";
        let sent = send_response(&mut stream, &response, send_body, keep_alive, &mut out)?;
        log_request(settings.trace, peer, &request, &response, sent);
        if !keep_alive {
            close_gracefully(stream);
            return Ok(());
        }
    }
}

pub(crate) fn log_request(
    trace: &Trace,
    peer: SocketAddr,
    request: &Request,
    response: &Response,
    sent: u64,
) {
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
struct Input {
    buf: Box<[u8]>,
    filled: usize,
    /// The read timeout currently set on the socket (setting it is a system call, so we
    /// skip it when the value would barely change).
    timeout: Option<Duration>,
}

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
        loop {
            match request::parse(&self.buf[..self.filled]) {
                Ok(Some((request, used))) => return Ok(Next::Request(request, used)),
                Ok(None) if self.filled == self.buf.len() => {
                    return Ok(Next::Invalid(ParseError::HeadTooLarge))
                }
                Ok(None) => {}
                Err(e) => return Ok(Next::Invalid(e)),
            }
            if self.filled == 0 && stopping.load(Ordering::SeqCst) {
                return Ok(Next::Closed("server shutting down"));
            }
            match self.read_more(stream, deadline)? {
                Some(0) if self.filled == 0 => return Ok(Next::Closed("client closed")),
                // EOF in the middle of a head: there is no one left to answer.
                Some(0) => return Ok(Next::Closed("client closed mid-request")),
                Some(_) => {}
                None if self.filled == 0 => return Ok(Next::Closed("idle keep-alive timeout")),
                None => return Ok(Next::TimedOut),
            }
        }
    }

    /// One read into the free part of the buffer: `Some(n)` bytes (0 = end of stream), or
    /// `None` if the deadline passed first.
    fn read_more(
        &mut self,
        stream: &mut TcpStream,
        deadline: Instant,
    ) -> io::Result<Option<usize>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // Re-arm the socket's timeout only when it would otherwise overshoot the
            // deadline by more than a little: on a busy keep-alive connection the value
            // is nearly the same each time, and a system call per request adds up.
            let overshoot = self
                .timeout
                .is_none_or(|t| t > left + Duration::from_millis(50));
            if overshoot
                || self
                    .timeout
                    .is_some_and(|t| t + Duration::from_millis(500) < left)
            {
                stream.set_read_timeout(Some(left))?;
                self.timeout = Some(left);
            }
            match stream.read(&mut self.buf[self.filled..]) {
                Ok(n) => {
                    self.filled += n;
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // A read timeout shows up as WouldBlock (or TimedOut on some systems).
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue; // the loop re-checks the deadline
                }
                Err(e) => return Err(e),
            }
        }
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
/// The head and a small body go out in a single `write`. A large file is streamed with
/// `sendfile(2)` ([`send_file`]): memory use stays flat whatever the file size, and the
/// bytes go from the page cache to the socket without passing through this process.
fn send_response(
    stream: &mut TcpStream,
    response: &Response,
    send_body: bool,
    keep_alive: bool,
    out: &mut Vec<u8>,
) -> io::Result<u64> {
    out.clear();
    response.write_head(keep_alive, out);
    if !send_body || response.status == 304 {
        stream.write_all(out)?;
        return Ok(0);
    }
    match &response.body {
        Body::Empty => {
            stream.write_all(out)?;
            Ok(0)
        }
        Body::Bytes(bytes) => {
            out.extend_from_slice(bytes);
            stream.write_all(out)?;
            Ok(bytes.len() as u64)
        }
        Body::File { file, start, len } => {
            // Both branches say where to read (`pread`, and `sendfile` with an offset)
            // instead of moving the file position with `lseek` first: one system call
            // fewer per response, and the file position is never used.
            if *len <= SMALL_FILE {
                let head = out.len();
                out.resize(head + *len as usize, 0);
                read_at(file, &mut out[head..], *start)?;
                stream.write_all(out)?;
            } else {
                stream.write_all(out)?;
                let copied = send_file(stream, file, *start, *len)?;
                check_length(copied, *len)?;
            }
            Ok(*len)
        }
    }
}

/// Sends `len` bytes of `file` from `offset` with `sendfile(2)`: the kernel moves them
/// from the page cache to the socket, with no buffer in this process, so memory use does
/// not depend on the file's size. (`std::io::copy` from a `Take<&File>` falls back to a
/// read/write loop with an 8 KiB buffer, which we measured to be much slower.)
///
/// # Errors
/// The socket's errors; a write timeout shows up as `WouldBlock`.
fn send_file(stream: &TcpStream, file: &File, offset: u64, len: u64) -> io::Result<u64> {
    let mut pos = offset as libc::off_t;
    let end = offset + len;
    while (pos as u64) < end {
        // At most 1 GiB per call: sendfile's count is a size_t, but Linux caps it anyway.
        let count = (end - pos as u64).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the duration of the call, and `pos` is a
        // valid off_t that sendfile advances by the number of bytes sent.
        let sent = unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut pos, count) };
        if sent < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if sent == 0 {
            break; // the file is shorter than announced; the caller reports it
        }
    }
    Ok(pos as u64 - offset)
}

/// Fills `buf` from `file` at `offset` with `pread(2)`: a read that names its offset, so
/// no `lseek` is needed before it. (For a 1 KiB file that is one call instead of two,
/// which shows at tens of thousands of requests per second.)
///
/// # Errors
/// The file's errors, and [`check_length`]'s if the file ends early.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    check_length(got as u64, buf.len() as u64)
}

/// A file that shrank while we sent it would make our `Content-Length` a lie: the only
/// honest way out is to fail (and so close) the connection.
pub(crate) fn check_length(got: u64, announced: u64) -> io::Result<()> {
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
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let until = Instant::now() + Duration::from_secs(2);
    let mut scratch = [0u8; 4096];
    let mut drained = 0usize;
    while drained < (1 << 20) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut scratch) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}
