//! Deciding the answer to one request: methods, files, directories, conditional and
//! range requests. Nothing here touches the network; [`respond`] maps a parsed request to
//! a [`Response`], which the connection layer writes.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::files;
use crate::request::Request;
use crate::response::{Body, Response};

/// Methods that exist but that a static file server does not allow: 405 with `Allow`.
/// Anything else is a method we do not know: 501 (RFC 9110 §9.1).
const KNOWN_METHODS: &[&str] = &[
    "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// The response to `request`, serving files below `root`.
pub fn respond(request: &Request, root: &Path) -> Response {
    // TODO: Step 9 — decide the answer. A static file server serves GET and HEAD only: a
    // method that exists (KNOWN_METHODS) is 405 and says which are allowed (`Allow`), one
    // we do not know is 501; methods are case-sensitive. Then what `files::resolve` found:
    // a file (`serve_file`); for a directory, its index.html or else its listing; for a
    // directory without its slash, a permanent redirect to it with the slash (relative
    // links on its page resolve against its URL); for a refusal, its status.
    let _ = (request, root, KNOWN_METHODS, serve_file, serve_listing);
    todo!("Step 9 of handouts/lab5.md: decide the response to a request")
}

fn serve_listing(request: &Request, dir: &Path) -> Response {
    let url_path = request.target.split(['?', '#']).next().unwrap_or("/");
    match files::listing(dir, url_path) {
        Ok(page) => {
            let mut r = Response::new(200);
            r.header("Content-Type", "text/html; charset=utf-8");
            r.body = Body::Bytes(page.into_bytes());
            r
        }
        Err(_) => Response::error(403),
    }
}

fn serve_file(request: &Request, path: &Path) -> Response {
    // TODO: Step 10 — serve the file so that clients can cache it and resume it: its exact
    // bytes (the body's length becomes Content-Length), its Content-Type and Last-Modified.
    // A client that already holds this version (If-Modified-Since not older than the file,
    // compared at the whole seconds HTTP dates have) gets 304 and no body. A single byte
    // range gets just those bytes: 206, with Content-Range saying which bytes of how many;
    // one that cannot be satisfied is 416 with `Content-Range: bytes */size`, the size the
    // client can ask within.
    let _ = (request, path, truncate_to_seconds, parse_range);
    todo!("Step 10 of handouts/lab5.md: serve a file: conditional and range requests")
}

fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// What a `Range` header asks of a file of a given size.
#[derive(Debug, PartialEq, Eq)]
#[allow(dead_code)] // scaffolding: used once Step 10 is done
enum RangeSpec {
    /// No usable range: send the whole file with 200.
    Whole,
    /// Bytes `first..=last`: 206.
    Part(u64, u64),
    /// A syntactically valid range that lies outside the file: 416.
    Unsatisfiable,
}

/// Parses a single byte range (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-` or `bytes=-n`.
/// Several ranges, or anything we cannot parse, are ignored (the whole file is sent),
/// which the RFC allows.
fn parse_range(spec: &str, size: u64) -> RangeSpec {
    // TODO: Step 10 — what one `Range` header asks of a file of `size` bytes (RFC 9110
    // §14.1.2): `bytes=a-b` is bytes a to b *inclusive*, `bytes=a-` runs to the end, and
    // `bytes=-n` is the last n bytes; an end past the file stops at its last byte. A start
    // at or past the end (or the last 0 bytes) cannot be satisfied. Anything else (several
    // ranges, another unit, an end before the start, no numbers) is ignored: the whole
    // file, which the RFC allows.
    let _ = (spec, size);
    todo!("Step 10 of handouts/lab5.md: parse a byte range")
}
