//! The wire format of a response: status line, headers, and how the body is sent.
//!
//! ```text
//! HTTP/1.1 200 OK\r\n
//! Server: lab5\r\n
//! Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n
//! Content-Type: text/html; charset=utf-8\r\n
//! Content-Length: 1234\r\n
//! Last-Modified: Sat, 05 Nov 1994 10:00:00 GMT\r\n
//! \r\n
//! <1234 bytes of body>
//! ```
//!
//! `Content-Length` is what makes persistent connections possible: it tells the client
//! where this response ends and the next one begins. It counts *bytes* of the body as
//! sent, never characters of some decoded text.

use std::cell::RefCell;
use std::fs::File;
use std::time::SystemTime;

use crate::date;

/// The value of our `Server` header.
pub const SERVER: &str = "lab5-solution";

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// No body at all (304, or an empty file).
    Empty,
    /// A body built in memory (error pages, directory listings).
    Bytes(Vec<u8>),
    /// `len` bytes of an open file starting at `start`: streamed, never loaded whole.
    File {
        /// The open file.
        file: File,
        /// Offset of the first byte to send.
        start: u64,
        /// Number of bytes to send.
        len: u64,
    },
}

impl Body {
    /// Number of bytes the body has (what `Content-Length` announces).
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A response waiting to be written.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers besides `Server`, `Date`, `Content-Length` and `Connection`, which
    /// [`Response::write_head`] adds.
    pub headers: Vec<(&'static str, String)>,
    /// The body (for HEAD requests it is built too, so the headers match, but not sent).
    pub body: Body,
}

impl Response {
    /// A response with `status` and no headers or body yet.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A short HTML error page for `status`.
    pub fn error(status: u16) -> Response {
        let text = format!(
            "<!DOCTYPE html>\n<html><head><title>{status} {r}</title></head>\
             <body><h1>{status} {r}</h1></body></html>\n",
            r = reason(status)
        );
        let mut response = Response::new(status);
        response.header("Content-Type", "text/html; charset=utf-8");
        response.body = Body::Bytes(text.into_bytes());
        response
    }

    /// Adds a header.
    pub fn header(&mut self, name: &'static str, value: impl Into<String>) -> &mut Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Serialises the status line and headers into `out`, ending with the empty line.
    ///
    /// `keep_alive` decides the `Connection` header: we always say what we will do, so
    /// that HTTP/1.0 clients know the connection stays open, and HTTP/1.1 clients know
    /// when it will not.
    pub fn write_head(&self, keep_alive: bool, out: &mut Vec<u8>) {
        // Plain byte appends rather than `write!`: the formatting machinery is measurable
        // at a hundred thousand responses a second, and every piece here is a string
        // or a number already.
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(SERVER.as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
        with_date(|d| out.extend_from_slice(d.as_bytes()));
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        // A 304 has no body, and RFC 9110 §8.6 says its Content-Length, if any, must be
        // the one a 200 would have had; we simply leave it out.
        if self.status != 304 {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, self.body.len());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(if keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Calls `f` with the current time as an HTTP date.
///
/// Formatting a date for every response of a busy server is measurable work, and the
/// value changes once a second: each thread keeps the last one it formatted.
fn with_date<R>(f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            *cache = (secs, date::format(now));
        }
        f(&cache.1)
    })
}

/// The reason phrase of a status code (RFC 9110 §15). Clients ignore it; people read it.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_framed_head() {
        let mut r = Response::error(404);
        r.header("X-Test", "1");
        let mut out = Vec::new();
        r.write_head(true, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 404 Not Found\r\nServer: "),
            "{text}"
        );
        assert!(text.contains(&format!("\r\nContent-Length: {}\r\n", r.body.len())));
        assert!(text.contains("\r\nX-Test: 1\r\n"));
        assert!(text.ends_with("\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn writes_numbers_in_decimal() {
        for n in [0, 7, 10, 1024, 1 << 40, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
