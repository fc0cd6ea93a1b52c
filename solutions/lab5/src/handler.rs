//! Deciding the answer to one request: methods, files, directories, conditional and
//! range requests. Nothing here touches the network; [`respond`] maps a parsed request to
//! a [`Response`], which the connection layer writes.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::date;
use crate::files::{self, Refusal, Target};
use crate::request::Request;
use crate::response::{Body, Response};

/// Methods that exist but that a static file server does not allow: 405 with `Allow`.
/// Anything else is a method we do not know: 501 (RFC 9110 §9.1).
const KNOWN_METHODS: &[&str] = &[
    "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// The response to `request`, serving files below `root`.
pub fn respond(request: &Request, root: &Path) -> Response {
    match request.method.as_str() {
        "GET" | "HEAD" => {}
        m if KNOWN_METHODS.contains(&m) => {
            let mut r = Response::error(405);
            r.header("Allow", "GET, HEAD");
            return r;
        }
        _ => return Response::error(501),
    }
    match files::resolve(root, &request.target) {
        Ok(Target::File(path)) => serve_file(request, &path),
        Ok(Target::Directory(dir)) => {
            let index = dir.join("index.html");
            if index.is_file() {
                serve_file(request, &index)
            } else {
                serve_listing(request, &dir)
            }
        }
        Ok(Target::AddSlash(location)) => {
            let mut r = Response::error(301);
            r.header("Location", location);
            r
        }
        Err(Refusal::BadRequest) => Response::error(400),
        Err(Refusal::Forbidden) => Response::error(403),
        Err(Refusal::NotFound) => Response::error(404),
    }
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
    // Open first, then ask the open file for its size: asking the path and then opening
    // it would race with a file being replaced in between.
    let Ok(file) = File::open(path) else {
        return Response::error(403);
    };
    let Ok(meta) = file.metadata() else {
        return Response::error(500);
    };
    let size = meta.len();
    // HTTP dates have whole seconds; compare at that precision or a file would never be
    // "not modified since" its own Last-Modified.
    let modified = meta.modified().ok().map(truncate_to_seconds);

    let mut r = Response::new(200);
    if let Some(m) = modified {
        r.header("Last-Modified", http_date_of(m));
        let since = request.header("if-modified-since").and_then(date::parse);
        if matches!(since, Some(s) if m <= s) {
            r.status = 304;
            return r;
        }
    }
    r.header("Content-Type", files::content_type(path));
    r.header("Accept-Ranges", "bytes");

    // If-Range asks "only if unchanged"; checking it is optional work, and ignoring Range
    // (sending the whole file) is always allowed, so we do that.
    let range = match request.header("range") {
        Some(spec) if request.header("if-range").is_none() => parse_range(spec, size),
        _ => RangeSpec::Whole,
    };
    let (start, len) = match range {
        RangeSpec::Whole => (0, size),
        RangeSpec::Part(first, last) => {
            r.status = 206;
            r.header("Content-Range", format!("bytes {first}-{last}/{size}"));
            (first, last - first + 1)
        }
        RangeSpec::Unsatisfiable => {
            let mut r = Response::error(416);
            r.header("Content-Range", format!("bytes */{size}"));
            return r;
        }
    };
    r.body = Body::File { file, start, len };
    r
}

/// `date::format(t)`, remembering the last one per thread: the same file asked for again
/// has the same time, and formatting a date per response is measurable work.
fn http_date_of(t: SystemTime) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(SystemTime, String)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((at, text)) if *at == t => text.clone(),
            _ => {
                let text = date::format(t);
                *last = Some((t, text.clone()));
                text
            }
        }
    })
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
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return RangeSpec::Whole;
    };
    if set.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((a, b)) = set.trim().split_once('-') else {
        return RangeSpec::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.is_empty(), num(a), num(b)) {
        // Suffix range: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Part(size.saturating_sub(n), size - 1)
            }
        }
        (false, Some(first), last) if b.is_empty() || last.is_some() => {
            if let Some(last) = last {
                if last < first {
                    return RangeSpec::Whole; // invalid: ignore
                }
            }
            if first >= size {
                return RangeSpec::Unsatisfiable;
            }
            let last = last.map_or(size - 1, |l| l.min(size - 1));
            RangeSpec::Part(first, last)
        }
        _ => RangeSpec::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), RangeSpec::Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 100), RangeSpec::Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Whole);
    }
}
