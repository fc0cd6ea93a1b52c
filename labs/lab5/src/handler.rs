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
    // TODO: Step 9 — GET and HEAD only (405 with Allow for KNOWN_METHODS, 501 otherwise);
    // resolve the target; serve files, index.html or a listing; 301 for AddSlash; 400/403/404
    // for refusals.
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
    // TODO: Step 10 — open the file; Last-Modified; 304 when If-Modified-Since is not older
    // than the file (whole seconds: `truncate_to_seconds`); Content-Type; a single Range gives
    // 206 with Content-Range (`parse_range`), or 416; the body is `Body::File`.
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
    // TODO: Step 10 — `bytes=a-b`, `bytes=a-`, `bytes=-n`; ignore several ranges or bad syntax
    // (Whole); an end past the end of the file means its last byte; a start past the end is
    // Unsatisfiable.
    let _ = (spec, size);
    todo!("Step 10 of handouts/lab5.md: parse a byte range")
}
