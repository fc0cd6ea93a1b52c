//! A strict HTTP/1.1 client for probes: requests out, responses in, every framing rule
//! checked.
//!
//! Browsers forgive a lot; a grader must not, or a server that "works in Firefox" breaks
//! the first time a stricter client or a proxy talks to it. [`Client::read_response`]
//! insists on what RFC 9112 requires of a server:
//!
//! - a status line `HTTP/1.x SP 3DIGIT SP reason CRLF`;
//! - header lines `name ":" OWS value OWS CRLF` with a token for a name, no whitespace
//!   before the colon, no control characters, CRLF line endings (never a bare LF);
//! - a body framed by `Content-Length` (bytes, exactly), by `Transfer-Encoding: chunked`
//!   (never both), or by closing the connection; none at all for HEAD, 1xx, 204 and 304.
//!
//! A violation is reported with the offending bytes escaped, so a student sees, for
//! example, `b"HTTP/1.1 200 OK\n"` and knows the CR is missing.

use std::time::Duration;

use crate::grade::probe::bytes::escape;
use crate::grade::probe::Failure;
use crate::grade::probe::{Conn, End};

/// The longest response head we accept.
const MAX_HEAD: usize = 64 * 1024;

/// A request, built for the wire.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method (`GET`, `HEAD`, …).
    pub method: String,
    /// The request target as sent.
    pub target: String,
    /// The bytes sent.
    pub bytes: Vec<u8>,
}

impl Request {
    /// A request `METHOD TARGET HTTP/1.1` with `Host: host` first, then `headers`, then the
    /// empty line.
    pub fn new(method: &str, target: &str, host: &str, headers: &[(&str, &str)]) -> Request {
        Request::with_version(method, target, "HTTP/1.1", Some(host), headers)
    }

    /// A GET with only a Host header.
    pub fn get(target: &str, host: &str) -> Request {
        Request::new("GET", target, host, &[])
    }

    /// A request with an explicit version and an optional Host header.
    pub fn with_version(
        method: &str,
        target: &str,
        version: &str,
        host: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Request {
        let mut text = format!("{method} {target} {version}\r\n");
        if let Some(host) = host {
            text.push_str(&format!("Host: {host}\r\n"));
        }
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        Request::raw(method, target, text.into_bytes())
    }

    /// A request whose bytes are given as they are (malformed ones too).
    pub fn raw(method: &str, target: &str, bytes: Vec<u8>) -> Request {
        Request {
            method: method.to_string(),
            target: target.to_string(),
            bytes,
        }
    }

    /// "GET /x": how messages name this request.
    pub fn describe(&self) -> String {
        let target = if self.target.len() > 60 {
            format!("{}… ({} characters)", &self.target[..50], self.target.len())
        } else {
            self.target.clone()
        };
        format!("{} {target}", self.method)
    }
}

/// How a response's body was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body by definition (HEAD, 1xx, 204, 304).
    NoBody,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ran until the server closed the connection.
    UntilClose,
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Header fields in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty when it was streamed to a sink).
    pub body: Vec<u8>,
    /// Length of the body received.
    pub body_len: u64,
    /// How the body was delimited.
    pub framing: Framing,
    /// The raw head, for messages.
    pub head: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the `Connection` header lists `option`.
    pub fn connection_has(&self, option: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|o| o.trim().eq_ignore_ascii_case(option))
    }

    /// Whether the server announced that it will close the connection after this
    /// response (or has no other way to end the body).
    pub fn closes(&self) -> bool {
        self.connection_has("close")
            || self.framing == Framing::UntilClose
            || (self.version == "HTTP/1.0" && !self.connection_has("keep-alive"))
    }

    /// The media type without parameters, lowercased (`text/html`).
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The status line and headers as text, for messages.
    pub fn head_text(&self) -> String {
        escape(&self.head, 400)
    }
}

/// A client connection that sends requests and reads strictly parsed responses.
#[derive(Debug)]
pub struct Client {
    conn: Conn,
    buf: Vec<u8>,
    eof: bool,
}

impl Client {
    /// Wraps a connection.
    pub fn new(conn: Conn) -> Client {
        Client {
            conn,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// The connection's label (`c1`).
    pub fn label(&self) -> String {
        self.conn.label().to_string()
    }

    /// The underlying connection.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Sends a request.
    ///
    /// # Errors
    /// If the connection breaks.
    pub fn send(&mut self, request: &Request) -> Result<(), Failure> {
        self.conn.send(&request.bytes)
    }

    /// Sends raw bytes.
    ///
    /// # Errors
    /// If the connection breaks.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.conn.send(bytes)
    }

    /// Sets how long a read waits for the next bytes.
    pub fn set_idle_limit(&mut self, limit: Duration) {
        self.conn.set_idle_limit(limit);
    }

    /// Sends `request` and reads its response.
    ///
    /// # Errors
    /// A failure if the connection breaks or the response is malformed.
    pub fn exchange(&mut self, request: &Request) -> Result<Response, Failure> {
        self.send(request)?;
        self.read_response(request)
    }

    /// Sends `request` and streams its response's body to `sink`.
    ///
    /// # Errors
    /// As [`Client::read_response_with`].
    pub fn exchange_with(
        &mut self,
        request: &Request,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<Response, Failure> {
        self.send(request)?;
        self.read_response_with(request, sink)
    }

    /// Reads the response to `request` (already sent), body included.
    ///
    /// # Errors
    /// A failure naming the framing error and the offending bytes, or saying that the
    /// connection closed or went silent.
    pub fn read_response(&mut self, request: &Request) -> Result<Response, Failure> {
        let mut body = Vec::new();
        let mut response = self.read_response_with(request, &mut |chunk| {
            body.extend_from_slice(chunk);
            Ok(())
        })?;
        response.body = body;
        Ok(response)
    }

    /// Reads the response to `request`, handing the body to `sink` piece by piece instead
    /// of keeping it (for large downloads).
    ///
    /// # Errors
    /// As [`Client::read_response`], or the sink's own failure.
    pub fn read_response_with(
        &mut self,
        request: &Request,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<Response, Failure> {
        let what = format!("the response to {} on {}", request.describe(), self.label());
        loop {
            let mut response = self.read_head(&what)?;
            // Interim responses (100 Continue, …) precede the real one.
            if (100..200).contains(&response.status) {
                continue;
            }
            let no_body =
                request.method == "HEAD" || response.status == 204 || response.status == 304;
            response.framing = if no_body {
                Framing::NoBody
            } else {
                framing(&response).map_err(|e| framing_error(&what, &e, &response.head))?
            };
            response.body_len = match response.framing {
                Framing::NoBody => 0,
                Framing::Length(n) => self.read_exact_body(n, &what, sink)?,
                Framing::Chunked => self.read_chunked(&what, sink)?,
                Framing::UntilClose => self.read_until_close(&what, sink)?,
            };
            return Ok(response);
        }
    }

    /// Waits for the server to close the connection, with no bytes in between.
    ///
    /// # Errors
    /// A failure if bytes arrive (showing them) or the connection stays open.
    pub fn expect_close(&mut self, after: &str) -> Result<(), Failure> {
        if self.buf.is_empty() && !self.eof {
            self.fill(&format!("the close {after}"), true)?;
        }
        if !self.buf.is_empty() {
            // Wait briefly for more, so the message shows what the extra bytes were.
            return Err(Failure::new(format!(
                "{} unexpected bytes arrived on {} {after}",
                self.buf.len(),
                self.label()
            ))
            .expected("the connection to close, with nothing after the response")
            .got(escape(&self.buf, 80))
            .detail(
                "A response must end exactly where its Content-Length says. Bytes after it \
                 are a second, unrequested message (e.g. a body sent in answer to HEAD).",
            ));
        }
        Ok(())
    }

    /// Whether the server has closed the connection (a read returned 0), checked without
    /// waiting if bytes or an end are already known, else waiting up to `wait`.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        if self.eof {
            return true;
        }
        if !self.buf.is_empty() {
            return false;
        }
        self.conn.set_idle_limit(wait);
        let r = self.conn.recv_some(64 * 1024);
        self.conn.set_idle_limit(crate::grade::probe::IDLE_LIMIT);
        self.buf.extend_from_slice(&r.bytes);
        match r.end {
            End::Eof | End::Error(_) => {
                self.eof = true;
                self.buf.is_empty()
            }
            _ => false,
        }
    }

    /// Bytes received but not yet part of a response.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Reads more bytes into the buffer. Returns false at end of stream (if `eof_ok`),
    /// else fails there.
    fn fill(&mut self, what: &str, eof_ok: bool) -> Result<bool, Failure> {
        if self.eof {
            return self.end_failure(what, eof_ok, End::Eof);
        }
        let r = self.conn.recv_some(64 * 1024);
        match r.end {
            End::Complete => {
                self.buf.extend_from_slice(&r.bytes);
                Ok(true)
            }
            end => {
                self.eof = matches!(end, End::Eof | End::Error(_));
                self.end_failure(what, eof_ok, end)
            }
        }
    }

    fn end_failure(&self, what: &str, eof_ok: bool, end: End) -> Result<bool, Failure> {
        let so_far = if self.buf.is_empty() {
            "nothing".to_string()
        } else {
            escape(&self.buf, 200)
        };
        match end {
            End::Eof if eof_ok => Ok(false),
            End::Eof => Err(Failure::new(format!(
                "the program closed {} before {what} was complete",
                self.label()
            ))
            .got(format!("{so_far}, then the connection closed"))),
            End::TimedOut => Err(Failure::new(format!(
                "{what} did not arrive: nothing more came for {:.0} s",
                crate::grade::probe::IDLE_LIMIT.as_secs_f64()
            ))
            .got(format!("{so_far}, then silence"))),
            End::Error(e) => Err(Failure::new(format!(
                "the connection {} failed while waiting for {what}: {e}",
                self.label()
            ))
            .got(so_far)),
            End::Complete => Ok(true),
        }
    }

    fn read_head(&mut self, what: &str) -> Result<Response, Failure> {
        let end = loop {
            // Check the status line as soon as it is complete, so that a server sending
            // something else entirely (say, a body left over from HEAD) is named as such.
            if let Some(line_end) = self.buf.iter().position(|&b| b == b'\n') {
                check_status_line(&self.buf[..=line_end])
                    .map_err(|e| framing_error(what, &e, &self.buf[..=line_end]))?;
            } else if self.buf.len() >= 12 && !self.buf.starts_with(b"HTTP/") {
                return Err(framing_error(
                    what,
                    "expected a status line starting with `HTTP/`",
                    &self.buf,
                ));
            }
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end + 4;
            }
            if let Some(i) = find(&self.buf, b"\n\n") {
                return Err(framing_error(
                    what,
                    "the head ends with a bare LF (every line must end in CRLF)",
                    &self.buf[..i + 2],
                ));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(framing_error(
                    what,
                    "the head is longer than 64 KiB without an empty line",
                    &self.buf,
                ));
            }
            self.fill(what, false)?;
        };
        let head = self.take_buffered(end as u64);
        parse_head(&head).map_err(|(e, bytes)| framing_error(what, &e, &bytes))
    }

    /// Takes up to `max` bytes from the front of the buffer. (`split_off` and `take`
    /// copy with memcpy; `drain(..).collect()` would go byte by byte, which is slow in
    /// debug builds over hundreds of MiB.)
    fn take_buffered(&mut self, max: u64) -> Vec<u8> {
        if (self.buf.len() as u64) <= max {
            return std::mem::take(&mut self.buf);
        }
        let rest = self.buf.split_off(max as usize);
        std::mem::replace(&mut self.buf, rest)
    }

    fn read_exact_body(
        &mut self,
        n: u64,
        what: &str,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<u64, Failure> {
        let mut got = 0u64;
        while got < n {
            if self.buf.is_empty() {
                let eof_ok = true;
                if !self.fill(what, eof_ok)? {
                    return Err(Failure::new(format!(
                        "{what} ended after {got} of the {n} body bytes its Content-Length \
                         announced: the program closed the connection"
                    ))
                    .detail(
                        "Content-Length must count the bytes of the body as sent (for a file, \
                         its size in bytes), and every one of them must be sent.",
                    ));
                }
            }
            let piece = self.take_buffered(n - got);
            got += piece.len() as u64;
            sink(&piece)?;
        }
        Ok(got)
    }

    fn read_until_close(
        &mut self,
        what: &str,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<u64, Failure> {
        let mut got = 0u64;
        loop {
            let piece = self.take_buffered(u64::MAX);
            got += piece.len() as u64;
            sink(&piece)?;
            if !self.fill(what, true)? {
                return Ok(got);
            }
        }
    }

    fn read_chunked(
        &mut self,
        what: &str,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<u64, Failure> {
        let mut total = 0u64;
        loop {
            let line = self.read_line(what)?;
            let text = String::from_utf8_lossy(&line[..line.len() - 2]).to_string();
            let size_text = text.split(';').next().unwrap_or("").trim_end();
            let size = u64::from_str_radix(size_text, 16)
                .ok()
                .filter(|_| !size_text.is_empty() && size_text.len() <= 15)
                .ok_or_else(|| framing_error(what, "a chunk size is not a hex number", &line))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    let trailer = self.read_line(what)?;
                    if trailer == b"\r\n" {
                        return Ok(total);
                    }
                }
            }
            total += self.read_exact_body(size, what, sink)?;
            while self.buf.len() < 2 {
                self.fill(what, false)?;
            }
            if &self.buf[..2] != b"\r\n" {
                let bad = self.buf[..self.buf.len().min(16)].to_vec();
                return Err(framing_error(
                    what,
                    "a chunk's data is not followed by CRLF (its size is wrong)",
                    &bad,
                ));
            }
            self.buf.drain(..2);
        }
    }

    /// One CRLF-terminated line (CRLF included).
    fn read_line(&mut self, what: &str) -> Result<Vec<u8>, Failure> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                if !line.ends_with(b"\r\n") {
                    return Err(framing_error(what, "a chunk line ends in a bare LF", &line));
                }
                return Ok(line);
            }
            if self.buf.len() > 4096 {
                return Err(framing_error(what, "a chunk line is too long", &self.buf));
            }
            self.fill(what, false)?;
        }
    }
}

/// A framing error, with the offending bytes shown escaped.
pub fn framing_error(what: &str, problem: &str, bytes: &[u8]) -> Failure {
    Failure::new(format!("framing error in {what}: {problem}"))
        .got(escape(bytes, 300))
        .detail(
            "Every line of a response head ends in \\r\\n, the head ends with an empty line, \
             and the body is exactly Content-Length bytes long (RFC 9112 §2, §6).",
        )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn check_status_line(line: &[u8]) -> Result<(), String> {
    if !line.ends_with(b"\r\n") {
        return Err("the status line ends with a bare LF instead of CRLF".into());
    }
    let line = &line[..line.len() - 2];
    let ok_version = line.starts_with(b"HTTP/1.1 ") || line.starts_with(b"HTTP/1.0 ");
    if !ok_version {
        return Err("the status line does not start with `HTTP/1.1 ` (or `HTTP/1.0 `)".into());
    }
    let code = &line[9..];
    if code.len() < 4 || !code[..3].iter().all(u8::is_ascii_digit) || code[3] != b' ' {
        return Err("the status line is not `HTTP/1.1 SP 3-digit-code SP reason`".into());
    }
    if code[4..]
        .iter()
        .any(|&b| b < 0x20 && b != b'\t' || b == 0x7f)
    {
        return Err("the reason phrase contains control characters".into());
    }
    Ok(())
}

fn parse_head(head: &[u8]) -> Result<Response, (String, Vec<u8>)> {
    // Without the final empty line, every line (the last included) ends in CRLF.
    let lines_text = &head[..head.len() - 2];
    let mut lines = lines_text[..lines_text.len() - 1].split(|&b| b == b'\n');
    let status_line = lines.next().unwrap_or_default();
    let status_text = String::from_utf8_lossy(status_line);
    let status_text = status_text.trim_end_matches('\r');
    let version = status_text[..8].to_string();
    let status: u16 = status_text[9..12].parse().unwrap_or(0);
    let reason = status_text.get(13..).unwrap_or("").to_string();
    let mut headers = Vec::new();
    for raw in lines {
        let line = raw.strip_suffix(b"\r").ok_or_else(|| {
            (
                "a header line ends in a bare LF instead of CRLF".to_string(),
                raw.to_vec(),
            )
        })?;
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err((
                "a header line starts with whitespace (obsolete line folding)".into(),
                line.to_vec(),
            ));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(("a header line has no colon".into(), line.to_vec()));
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err((
                "a header name is not a token (no spaces, no spaces before the colon)".into(),
                line.to_vec(),
            ));
        }
        let value = &line[colon + 1..];
        if value.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return Err((
                "a header value contains control characters".into(),
                line.to_vec(),
            ));
        }
        headers.push((
            String::from_utf8_lossy(name).to_string(),
            String::from_utf8_lossy(value)
                .trim_matches([' ', '\t'])
                .to_string(),
        ));
    }
    Ok(Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        body_len: 0,
        framing: Framing::NoBody,
        head: head.to_vec(),
    })
}

fn framing(r: &Response) -> Result<Framing, String> {
    let lengths: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str())
        .collect();
    let te = r.header("transfer-encoding");
    if let Some(te) = te {
        if !lengths.is_empty() {
            return Err("both Transfer-Encoding and Content-Length are present".into());
        }
        if !te.trim().eq_ignore_ascii_case("chunked") {
            return Err(format!("unsupported Transfer-Encoding `{te}`"));
        }
        return Ok(Framing::Chunked);
    }
    match lengths.as_slice() {
        [] => Ok(Framing::UntilClose),
        [first, rest @ ..] => {
            if rest.iter().any(|v| v != first) {
                return Err("several different Content-Length headers".into());
            }
            if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("Content-Length `{first}` is not a number"));
            }
            first
                .parse()
                .map(Framing::Length)
                .map_err(|_| format!("Content-Length `{first}` is too large"))
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head_and_finds_the_framing() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\n";
        let r = parse_head(head).unwrap();
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
        assert_eq!(r.header("x-a"), Some("b"));
        assert_eq!(framing(&r), Ok(Framing::Length(5)));
    }

    #[test]
    fn rejects_sloppy_heads() {
        assert!(check_status_line(b"HTTP/1.1 200 OK\n").is_err());
        assert!(check_status_line(b"HTTP/1.1 200\r\n").is_err());
        assert!(check_status_line(b"HTTP/1.1 200 \r\n").is_ok());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nName : x\r\n\r\n").is_err());
        let r = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        assert!(framing(&r).is_err());
    }
}
