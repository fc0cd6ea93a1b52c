//! From a request target to a file: percent-decoding, staying inside the root, content
//! types and directory listings.
//!
//! This is where file servers get broken into. The rule we enforce is simple enough to be
//! sure of: decode the path first, then refuse any path that has a `..` segment at all. A
//! path without `..` segments, joined below the root, cannot name anything outside it
//! (symbolic links inside the root aside: a link is the owner's decision, as in nginx).
//! Checking *before* decoding would be the classic mistake: `%2e%2e%2f` decodes to `../`.

use std::path::{Path, PathBuf};

/// What a request target refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A regular file.
    File(PathBuf),
    /// A directory, requested with its trailing slash: serve its `index.html` or a listing.
    Directory(PathBuf),
    /// A directory requested without its trailing slash: redirect to this location.
    AddSlash(String),
}

/// Why a target cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: not a valid path (no leading `/`, bad percent-encoding, a NUL byte).
    BadRequest,
    /// 403: the path tries to leave the root.
    Forbidden,
    /// 404: nothing there (or not a file or directory).
    NotFound,
}

/// Maps a request target (origin-form or absolute-form) to something below `root`.
///
/// # Errors
/// A [`Refusal`] saying which status to answer with.
pub fn resolve(root: &Path, target: &str) -> Result<Target, Refusal> {
    // TODO: Step 6 — map the target to something below the root, and never to anything
    // outside it, however the target is encoded. What counts is the path once decoded
    // (`%2e%2e%2f` is `../`), so check it after decoding: any `..` segment is 403, a NUL
    // byte or a bad escape 400. Where the path really leads, once symbolic links are
    // followed, must still be below the root (403 otherwise; the root you are given is
    // canonical). The query and fragment are not part of the path, and an absolute-form
    // target (`http://host/path`) names a path too (`url_path` finds it; no path is 400).
    // Then say what is there: a file; a directory asked for with its trailing slash; one
    // asked for without it (`AddSlash`: the path as sent, plus the slash, for the
    // redirect); or nothing, which includes a path below a regular file (404).
    let _ = (root, target, url_path);
    todo!("Step 6 of handouts/lab5.md: map a target to a path that stays below the root")
}

/// The path part of a target, still percent-encoded: query and fragment removed, and the
/// scheme and authority of an absolute-form target (`http://host/path`) dropped.
fn url_path(target: &str) -> Option<&str> {
    let target = target.split(['?', '#']).next().unwrap_or_default();
    let path = match target.find("://") {
        // RFC 9112 §3.2.2: a server MUST accept the absolute form. The path starts at
        // the first slash after the authority; none means the root.
        Some(i) if target[..i].eq_ignore_ascii_case("http") => {
            let after = &target[i + 3..];
            after.find('/').map_or("/", |p| &after[p..])
        }
        _ => target,
    };
    path.starts_with('/').then_some(path)
}

/// Decodes `%XX` escapes. Returns `None` for a `%` not followed by two hex digits.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    // TODO: Step 6 — each `%XX` stands for one byte, whatever its value (`%C3%A9` is the two
    // bytes of `é`, not two characters), with hex digits in either case; everything else
    // stays as it is (in a path, `+` is a plus, not a space). A `%` without two hex digits
    // after it makes the whole path invalid (`None`) rather than a guess.
    let _ = s;
    todo!("Step 6 of handouts/lab5.md: percent-decode a path")
}

/// Encodes a file name for use in a URL path: everything but unreserved characters.
pub fn percent_encode(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Content-Type` for a file, from its extension.
pub fn content_type(path: &Path) -> &'static str {
    // TODO: Step 7 — the media type a browser needs to use the file (a stylesheet served as
    // text/plain is ignored), from its extension: html, css, js, json, txt, png, jpg, gif,
    // svg, ico, pdf, wasm; for anything else application/octet-stream, "just bytes",
    // rather than a guess.
    let _ = path;
    todo!("Step 7 of handouts/lab5.md: choose the Content-Type from the extension")
}

/// An HTML page listing the entries of `dir`, linked relative to `url_path` (the
/// directory's URL path, ending in `/`). Subdirectories get a trailing slash.
///
/// # Errors
/// If the directory cannot be read.
pub fn listing(dir: &Path, url_path: &str) -> std::io::Result<String> {
    // TODO: Step 8 — an HTML page from which a browser reaches every entry of `dir`: one
    // link per entry that leads to it from the directory's URL whatever its name holds
    // (spaces, `#`, `&`: what `percent_encode` is for), a `/` after each subdirectory, and
    // every name shown as text, never read as markup (`html_escape`).
    let _ = (dir, url_path, percent_encode, html_escape);
    todo!("Step 8 of handouts/lab5.md: list a directory as HTML")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
