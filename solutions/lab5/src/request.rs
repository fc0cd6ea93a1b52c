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
    // RFC 9112 §2.2: a server SHOULD ignore empty lines received before a request line
    // (some clients send an extra CRLF after a POST body).
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") {
        start += 2;
    }
    if buf[start..] == *b"\r" {
        return Ok(None);
    }
    let head = &buf[start..];

    // Enforce the limits on what has arrived so far, complete or not.
    let line_end = find(head, b"\n");
    match line_end {
        None if head.len() > MAX_REQUEST_LINE => return Err(ParseError::UriTooLong),
        Some(end) if end > MAX_REQUEST_LINE => return Err(ParseError::UriTooLong),
        _ => {}
    }
    let Some(head_len) = head_end(head) else {
        return if head.len() > MAX_HEAD {
            Err(ParseError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if head_len > MAX_HEAD {
        return Err(ParseError::HeadTooLarge);
    }

    // The head is complete: split it into lines. RFC 9112 §2.2 lets a recipient accept a
    // bare LF as a line ending; we do, and strip the CR of a CRLF.
    let text = &head[..head_len];
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let (method, target, version) = parse_request_line(request_line)?;

    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break; // the empty line that ends the head
        }
        headers.push(parse_header(line)?);
    }
    let mut request = Request {
        method,
        target,
        version,
        headers,
        body_len: 0,
    };
    check_framing(&mut request)?;
    Ok(Some((request, start + head_len)))
}

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
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadRequest(
            "the request line is not METHOD SP TARGET SP VERSION",
        ));
    };
    if method.is_empty() || !method.iter().all(|&b| is_token_char(b)) {
        return Err(ParseError::BadRequest("the method is not a token"));
    }
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(ParseError::BadRequest(
            "the target is empty or has characters that are not visible ASCII",
        ));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major == b'1' {
                Version::Http11 // HTTP/1.2 and later minors: treat as the highest we know
            } else {
                return Err(ParseError::VersionNotSupported);
            }
        }
        _ => return Err(ParseError::BadRequest("the version is not HTTP/x.y")),
    };
    // Both were checked to be ASCII above, so these conversions cannot fail.
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target).into_owned();
    Ok((method, target, version))
}

/// `field-name ":" OWS field-value OWS` (RFC 9112 §5).
fn parse_header(line: &[u8]) -> Result<(String, String), ParseError> {
    if line[0] == b' ' || line[0] == b'\t' {
        // Obsolete line folding: RFC 9112 §5.2 lets a server reject it with 400.
        return Err(ParseError::BadRequest("obsolete line folding in a header"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::BadRequest("a header line has no colon"))?;
    let name = &line[..colon];
    // No whitespace is allowed between the name and the colon (RFC 9112 §5.1): it has
    // been used to smuggle requests past proxies that read such names differently.
    if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
        return Err(ParseError::BadRequest("a header name is not a token"));
    }
    let value = trim_ows(&line[colon + 1..]);
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ParseError::BadRequest(
            "a header value contains control characters",
        ));
    }
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

/// Checks `Host` and the body framing headers, and records the body length.
fn check_framing(request: &mut Request) -> Result<(), ParseError> {
    let hosts = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host
    // header, or with more than one.
    if hosts > 1 || (hosts == 0 && request.version == Version::Http11) {
        return Err(ParseError::BadRequest(
            "HTTP/1.1 requires exactly one Host header",
        ));
    }
    if request.header("transfer-encoding").is_some() {
        return Err(ParseError::NotImplemented);
    }
    let mut lengths = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str());
    if let Some(first) = lengths.next() {
        // Two different lengths would let two parsers disagree on where this body ends.
        if lengths.any(|other| other != first) {
            return Err(ParseError::BadRequest("conflicting Content-Length headers"));
        }
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::BadRequest("Content-Length is not a number"));
        }
        request.body_len = first
            .parse()
            .map_err(|_| ParseError::BadRequest("Content-Length is too large"))?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_complete_head_and_leaves_the_rest() {
        let buf = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nConnection:  close \r\n\r\nGET /next";
        let (req, used) = parse(buf).unwrap().unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.target, "/a%20b?x=1");
        assert_eq!(req.version, Version::Http11);
        assert_eq!(req.header("CONNECTION"), Some("close"));
        assert!(!req.wants_keep_alive());
        assert_eq!(&buf[used..], b"GET /next");
    }

    #[test]
    fn waits_for_more_bytes_until_the_empty_line() {
        let full = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(full).unwrap().is_some());
    }

    #[test]
    fn rejects_malformed_heads() {
        let bad: &[&[u8]] = &[
            b"GET /\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
        ];
        for b in bad {
            assert_eq!(
                parse(b).map(|_| ()).map_err(|e| e.status()),
                Err(400),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
    }

    #[test]
    fn maps_limits_and_versions_to_their_codes() {
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(parse(long.as_bytes()), Err(ParseError::UriTooLong));
        let unfinished = format!("GET /{}", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(parse(unfinished.as_bytes()), Err(ParseError::UriTooLong));
        let big = format!("GET / HTTP/1.1\r\nHost: h\r\n{}", "X-A: b\r\n".repeat(5000));
        assert_eq!(parse(big.as_bytes()), Err(ParseError::HeadTooLarge));
        assert_eq!(
            parse(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
            Err(ParseError::VersionNotSupported)
        );
        let (req, _) = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(req.version, Version::Http10);
        assert!(!req.wants_keep_alive());
    }
}
