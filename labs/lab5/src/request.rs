//! The wire format of a request: parsing a request head out of a byte buffer.
//!
//! An HTTP/1.1 request head (RFC 9112 §2-§5) is a request line, header lines, and an
//! empty line, every line ending in CRLF:
//!
//! ```text
//! GET /index.html HTTP/1.1\r\n
//! Host: 127.0.0.1:8080\r\n
//! Connection: keep-alive\r\n
//! \r\n
//! ```
//!
//! [`parse`] looks at everything received so far on a connection. It answers "need more
//! bytes" (`Ok(None)`) until the empty line has arrived, then returns the request and how
//! many bytes it used, so that the bytes after it (a pipelined next request) stay in the
//! buffer. Limits are enforced *before* the head is complete, so a client that sends an
//! endless request line cannot make us buffer forever.

/// Longest request line we accept; longer gets 414 URI Too Long.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Longest request head (request line + headers) we accept; longer gets 431.
pub const MAX_HEAD: usize = 32 * 1024;

/// The HTTP version of a request. Only 1.x exists on this wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: connections close after one response unless the client asks otherwise.
    Http10,
    /// HTTP/1.1 (or a later 1.x, which RFC 9110 §2.5 says to treat as 1.1).
    Http11,
}

impl Version {
    /// The version as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, case-sensitive (`GET`, `HEAD`, …).
    pub method: String,
    /// The request target exactly as sent (origin-form `/a/b?q` or absolute-form).
    pub target: String,
    /// The protocol version.
    pub version: Version,
    /// Header fields in order; names keep their case (compare them with
    /// [`Request::header`], which ignores case).
    pub headers: Vec<(String, String)>,
    /// Length of the body that follows the head (from `Content-Length`; 0 without one).
    pub body_len: u64,
}

impl Request {
    /// The value of the first header named `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the `Connection` header lists `option` (e.g. `close`, `keep-alive`).
    pub fn connection_has(&self, option: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|o| o.trim().eq_ignore_ascii_case(option))
    }

    /// Whether the client wants the connection kept open after this response
    /// (RFC 9112 §9.3): HTTP/1.1 unless it says `close`, HTTP/1.0 only if it says
    /// `keep-alive`.
    pub fn wants_keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.connection_has("close"),
            Version::Http10 => self.connection_has("keep-alive") && !self.connection_has("close"),
        }
    }
}

/// Why a request head cannot be served; each maps to a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// 400: the bytes are not a valid request head; the text says what is wrong.
    BadRequest(&'static str),
    /// 414: the request line is longer than [`MAX_REQUEST_LINE`].
    UriTooLong,
    /// 431: the head is longer than [`MAX_HEAD`].
    HeadTooLarge,
    /// 505: a version other than HTTP/1.x.
    VersionNotSupported,
    /// 501: a request body framing we do not implement (`Transfer-Encoding`).
    NotImplemented,
}

impl ParseError {
    /// The status code this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::BadRequest(_) => 400,
            ParseError::UriTooLong => 414,
            ParseError::HeadTooLarge => 431,
            ParseError::VersionNotSupported => 505,
            ParseError::NotImplemented => 501,
        }
    }
}

// ANCHOR: parse
/// Parses the request head at the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete, or `Ok(Some((request, used)))` where
/// `used` is the number of bytes of `buf` the head took (the body, if any, and any
/// pipelined requests come after).
///
/// # Errors
/// A [`ParseError`] when the head is malformed or too large; the connection must then be
/// answered with that error and closed, because we no longer know where the next request
/// would start.
pub fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, ParseError> {
    // TODO: Step 3 — find where this request's head ends in the bytes received so far. It
    // ends with its empty line: until that has arrived the answer is "need more bytes"
    // (`Ok(None)`), and empty lines before a request line are skipped (RFC 9112 §2.2). On
    // a keep-alive connection what follows the head (its body, the next pipelined request)
    // stays in the buffer, so say exactly how many bytes the head used. Bound what a
    // client can make you buffer: a request line longer than MAX_REQUEST_LINE is 414, a
    // head longer than MAX_HEAD 431, as soon as that much has arrived without its end;
    // only the head counts, not what follows it. Then read its parts: the request line
    // (Step 4), each header line, and what the headers say about framing (Step 5).
    let _ = (
        buf,
        head_end,
        parse_request_line,
        parse_header,
        check_framing,
    );
    todo!("Step 3 of handouts/lab5.md: parse a request head from the bytes received so far")
}
// ANCHOR_END: parse

/// The length of the head including its final empty line, if it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    // Look for LF followed by an empty line (CRLF or bare LF). Scanning the whole buffer
    // each time is fine: heads are small, and one read usually brings a whole head.
    let mut at = 0;
    while let Some(i) = find(&buf[at..], b"\n") {
        let next = at + i + 1;
        if buf[next..].starts_with(b"\r\n") {
            return Some(next + 2);
        }
        if buf[next..].starts_with(b"\n") {
            return Some(next + 1);
        }
        at = next;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `method SP request-target SP HTTP-version` (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), ParseError> {
    // TODO: Step 4 — the request line says what is asked (the method), of what (the target)
    // and in which protocol: exactly `METHOD SP TARGET SP VERSION`, one space between the
    // parts. Be strict about the form, since what two parsers could read differently is
    // 400: the method is a token, the target visible ASCII, the version `HTTP/x.y` (digits,
    // capitals). But refuse only what is malformed: any token is a method (Step 9 decides
    // which are served), the target stays exactly as sent (Step 6 decodes it), any HTTP/1.x
    // is spoken as 1.1, and a well-formed version that is not 1.x is 505, not 400.
    let _ = (line, is_token_char);
    todo!("Step 4 of handouts/lab5.md: parse the request line")
}

/// `field-name ":" OWS field-value OWS` (RFC 9112 §5).
fn parse_header(line: &[u8]) -> Result<(String, String), ParseError> {
    // TODO: Step 5 — a header line is `name: value` (RFC 9112 §5): keep the name as sent, and
    // the value without the spaces and tabs around it (a colon inside the value is part of
    // it). Refuse with 400 what two parsers could read differently, the stuff of request
    // smuggling: whitespace before the colon, an obsolete folded line, no colon, a name
    // that is not a token, control characters in the value.
    let _ = (line, trim_ows);
    todo!("Step 5 of handouts/lab5.md: parse a header line")
}

/// Checks `Host` and the body framing headers, and records the body length.
fn check_framing(request: &mut Request) -> Result<(), ParseError> {
    // TODO: Step 5 — on a keep-alive connection you must know where this request ends and
    // the next one begins. The body after the head is `Content-Length` bytes: record them
    // in `request.body_len` (0 without one). A length that is not a plain number, or two
    // that disagree, leaves that in doubt: 400. A chunked body (`Transfer-Encoding`) is
    // framed differently and we do not read it: 501, rather than take its chunks for the
    // next request. And an HTTP/1.1 request names exactly one Host, whatever the case of
    // the header's name (400 otherwise); HTTP/1.0 needs none.
    let _ = request;
    todo!("Step 5 of handouts/lab5.md: check Host and the body framing headers")
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `tchar` of RFC 9110 §5.6.2: the characters allowed in methods and header names.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
