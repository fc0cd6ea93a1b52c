//! Probes for lab 5, the HTTP/1.1 file server.
//!
//! Every probe writes the files it needs into the test's (initially empty) root, then
//! talks to the server through [`wire::Client`], a strict HTTP/1.1 client that reports any
//! framing error with the offending bytes. File contents and most names are random, from
//! the test's seed. Each probe targets one behaviour of RFC 9110/9112 and the mistakes
//! students make implementing it:
//!
//! | probe | the mistake it catches |
//! |---|---|
//! | [`get_file`], [`get_binary`] | wrong body or `Content-Length` (text conversions) |
//! | [`standard_headers`], [`content_types`] | missing or malformed headers |
//! | [`head`] | a body sent in answer to HEAD |
//! | [`keep_alive`], [`connection_close`], [`http10`] | wrong persistent-connection rules |
//! | [`pipelining`] | requests after the first one in a read thrown away |
//! | [`idle_timeout`], [`slow_headers`] | idle or slow clients holding a thread forever |
//! | [`concurrent_keep_alive`], [`stalled_client`] | serial or pool-starved service |
//! | [`many_downloads`], [`large_file_memory`] | stalls under load; whole files in memory |
//! | [`path_escape`] | files outside the root served |
//! | [`percent_decoding`] | query strings kept, `%XX` decoded to characters instead of bytes |
//! | [`oversized_requests`] | limits checked only once the head has ended (or never) |
//! | [`if_modified_since`], [`range`] | dates compared as text or with fractions of a second; range ends off by one or past the file |
//! | [`graceful_shutdown`] | responses cut off by SIGTERM |
//! | [`demo_site`] | anything a browser loading a real site (or a proxy in front of it) would trip on |

pub mod site;
pub mod wire;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::bytes::{describe, escape, first_difference};
use super::Ctx;
use crate::rubric::{Failure, ProbeResult, Verdict};
use wire::{Client, Request, Response};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The `Host` header value for the program under test.
fn host(ctx: &Ctx) -> String {
    format!("{}:{}", ctx.host, ctx.port)
}

/// Writes `bytes` to `rel` below the root (creating directories); returns the full path.
fn put(ctx: &Ctx, rel: &str, bytes: &[u8]) -> Result<PathBuf, Failure> {
    let path = ctx.root.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(format!(
                "the grader could not create {}: {e}",
                dir.display()
            ))
        })?;
    }
    std::fs::write(&path, bytes).map_err(|e| {
        Failure::new(format!(
            "the grader could not write {}: {e}",
            path.display()
        ))
    })?;
    Ok(path)
}

fn client(ctx: &mut Ctx) -> Result<Client, Failure> {
    Ok(Client::new(ctx.connect()?))
}

/// A `curl` command reproducing a GET of `target` against the student's own server.
fn curl(ctx: &Ctx, target: &str) -> String {
    format!(
        "curl -v --path-as-is 'http://127.0.0.1:{}{target}' -o /dev/null   (run your server with --root pointing at a copy of the files)",
        ctx.reproduce_port
    )
}

fn expect_status(r: &Response, want: &[u16], req: &Request) -> Result<(), Failure> {
    if want.contains(&r.status) {
        return Ok(());
    }
    let want_text: Vec<String> = want.iter().map(u16::to_string).collect();
    Err(Failure::new(format!(
        "{} got status {} ({}), expected {}",
        req.describe(),
        r.status,
        r.reason,
        want_text.join(" or ")
    ))
    .expected(format!("status {}", want_text.join(" or ")))
    .got(r.head_text()))
}

fn expect_body(r: &Response, expected: &[u8], req: &Request) -> Result<(), Failure> {
    if r.body == expected {
        return Ok(());
    }
    let mut f = Failure::new(format!(
        "the body of {} differs from the file ({} bytes received, {} expected)",
        req.describe(),
        r.body.len(),
        expected.len()
    ))
    .expected(describe(expected))
    .got(describe(&r.body));
    if let Some(diff) = first_difference(expected, &r.body) {
        f = f.detail(diff);
    }
    if String::from_utf8(expected.to_vec()).is_err() {
        f = f.detail(
            "The file is binary: read it as bytes (`std::fs::read`, `File::read`), never as \
             text, and send every byte unchanged.",
        );
    }
    Err(f)
}

fn expect_ok_body(r: &Response, expected: &[u8], req: &Request) -> Result<(), Failure> {
    expect_status(r, &[200], req)?;
    expect_body(r, expected, req)
}

/// Checks the media type of `Content-Type` against the acceptable ones.
///
/// For a file of unknown type ([`site::types::OCTET`]) no Content-Type at all is accepted
/// too: RFC 9110 §8.3 asks for the header "unless the intended media type … is unknown to
/// the sender", and lets the recipient assume application/octet-stream without it.
fn expect_type(r: &Response, types: &[&str], req: &Request) -> Result<(), Failure> {
    match r.media_type() {
        Some(t) if types.contains(&t.as_str()) => Ok(()),
        None if types == site::types::OCTET => Ok(()),
        got => Err(Failure::new(format!(
            "{} has the wrong Content-Type",
            req.describe()
        ))
        .expected(types.join(" or "))
        .got(got.unwrap_or_else(|| "no Content-Type header".into()))
        .detail("The type follows from the file's extension (html → text/html, png → image/png, …).")),
    }
}

/// Sends requests one after another, reconnecting when the server closes, as a browser
/// does: for tests that are not about persistent connections.
struct Fetcher {
    client: Option<Client>,
    /// How long to wait for a response (default: the probe's idle limit).
    patience: Option<Duration>,
}

impl Fetcher {
    fn new() -> Fetcher {
        Fetcher {
            client: None,
            patience: None,
        }
    }

    fn fetch(&mut self, ctx: &mut Ctx, req: &Request) -> Result<Response, Failure> {
        if let Some(c) = &mut self.client {
            // A server may close an idle connection at any time; a client notices the
            // FIN before reusing the connection.
            if c.closed_within(Duration::from_millis(1)) {
                self.client = None;
            }
        }
        let mut c = match self.client.take() {
            Some(c) => c,
            None => client(ctx)?,
        };
        if let Some(p) = self.patience {
            c.set_idle_limit(p);
        }
        let r = c.exchange(req)?;
        if !r.closes() {
            self.client = Some(c);
        }
        Ok(r)
    }
}

/// Reads `VmHWM` (peak resident memory) of every process in the server's group.
fn peak_memory(ctx: &Ctx) -> Option<u64> {
    let pid = ctx.server_pid?;
    let members = crate::procfs::group_members(pid as i32)?;
    let mut total = 0;
    for m in members {
        let text = std::fs::read_to_string(format!("/proc/{m}/status")).ok()?;
        if let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:")) {
            total += line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024;
        }
    }
    Some(total)
}

/// Sets a file's modification time.
fn set_modified(path: &std::path::Path, t: SystemTime) -> Result<(), Failure> {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .map_err(|e| Failure::new(format!("the grader could not set a file time: {e}")))
}

/// Whether process `pid` has exited (gone, or a zombie waiting to be reaped).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(text) => text
            .rfind(')')
            .and_then(|i| text[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

// ---------------------------------------------------------------------------------------
// Basics
// ---------------------------------------------------------------------------------------

/// GETs a small HTML page and a larger text file: 200, exact bytes.
pub fn get_file(ctx: &mut Ctx) -> ProbeResult {
    let page = format!("<!DOCTYPE html>\n<h1>hello {}</h1>\n", ctx.rng.token(16));
    let lines = ctx.rng.range(500, 4000);
    let text: String = (0..lines)
        .map(|i| format!("line {i} {}\n", ctx.rng.token(40)))
        .collect();
    let name = format!("notes-{}.txt", ctx.rng.token(6));
    put(ctx, "index.html", page.as_bytes())?;
    put(ctx, &name, text.as_bytes())?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (target, body) in [
        ("/index.html", page.as_bytes()),
        (&format!("/{name}")[..], text.as_bytes()),
    ] {
        let req = Request::get(target, &h);
        let r = f
            .fetch(ctx, &req)
            .map_err(|e| e.reproduce(curl(ctx, target)))?;
        expect_ok_body(&r, body, &req).map_err(|e| e.reproduce(curl(ctx, target)))?;
        if r.version != "HTTP/1.1" {
            return Err(Failure::new(format!(
                "the response to an HTTP/1.1 request says {}",
                r.version
            ))
            .expected("HTTP/1.1 (a server answers with the highest version it supports)")
            .got(r.head_text())
            .into());
        }
    }
    Ok(())
}

/// GETs random binary files (a PNG and an unknown type): exact bytes and length.
pub fn get_binary(ctx: &mut Ctx) -> ProbeResult {
    let mut files = Vec::new();
    let png = site::png(&mut ctx.rng, 64, 64);
    files.push(("/img/picture.png".to_string(), png));
    let size = ctx.rng.range(300_000, 3_000_000);
    files.push((
        format!("/data-{}.bin", ctx.rng.token(6)),
        ctx.rng.bytes(size),
    ));
    for (target, bytes) in &files {
        put(ctx, &target[1..], bytes)?;
    }
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (target, bytes) in &files {
        let req = Request::get(target, &h);
        let r = f
            .fetch(ctx, &req)
            .map_err(|e| e.reproduce(curl(ctx, target)))?;
        expect_status(&r, &[200], &req)?;
        if let wire::Framing::Length(n) = r.framing {
            if n != bytes.len() as u64 {
                return Err(Failure::new(format!(
                    "{} announced Content-Length: {n}, but the file has {} bytes",
                    req.describe(),
                    bytes.len()
                ))
                .detail("Content-Length counts bytes; a binary file is not text.")
                .into());
            }
        }
        expect_body(&r, bytes, &req).map_err(|e| e.reproduce(curl(ctx, target)))?;
    }
    Ok(())
}

/// Checks `Date`, `Last-Modified`, `Server` and `Content-Length` on a plain GET.
pub fn standard_headers(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("<p>{}</p>\n", ctx.rng.token(30));
    let path = put(ctx, "page.html", body.as_bytes())?;
    // A modification time well in the past, so that it cannot be confused with "now".
    let mtime = SystemTime::now() - Duration::from_secs(ctx.rng.range(86_400, 86_400 * 900) as u64);
    set_modified(&path, mtime)?;
    let h = host(ctx);
    let req = Request::get("/page.html", &h);
    let r = client(ctx)?.exchange(&req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    let bad = |what: &str, want: String| -> Verdict {
        Failure::new(format!("{what} in the response to GET /page.html"))
            .expected(want)
            .got(r.head_text())
            .detail(
                "Dates are IMF-fixdate in GMT: `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).",
            )
            .into()
    };
    let date = r
        .header("date")
        .ok_or_else(|| bad("no Date header", "a Date header".into()))?;
    let parsed = parse_http_date(date).ok_or_else(|| {
        bad(
            "the Date header is not an IMF-fixdate",
            "Date: <IMF-fixdate>".into(),
        )
    })?;
    let now = SystemTime::now();
    let skew = now.duration_since(parsed).unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(120) {
        return Err(bad(
            "the Date header is not the current time",
            format!("about {}", format_http_date(now)),
        ));
    }
    let expected_lm = format_http_date(mtime);
    match r.header("last-modified") {
        Some(lm) if lm == expected_lm => {}
        _ => {
            return Err(bad(
                "Last-Modified is missing or not the file's modification time",
                format!("Last-Modified: {expected_lm}"),
            ))
        }
    }
    if r.header("server").is_none_or(str::is_empty) {
        return Err(bad(
            "no Server header",
            "a Server header naming the server".into(),
        ));
    }
    if r.header("content-length").is_none() {
        return Err(bad(
            "no Content-Length header",
            format!("Content-Length: {}", body.len()),
        ));
    }
    Ok(())
}

/// Files of every extension in the lab's table get the right `Content-Type`.
pub fn content_types(ctx: &mut Ctx) -> ProbeResult {
    use site::types::*;
    let table: &[(&str, &[&str])] = &[
        ("html", HTML),
        ("css", CSS),
        ("js", JS),
        ("json", JSON),
        ("txt", TXT),
        ("png", PNG),
        ("jpg", JPG),
        ("gif", GIF),
        ("svg", SVG),
        ("ico", ICO),
        ("pdf", PDF),
        ("wasm", WASM),
        // An extension no MIME table knows (`.xyz` is chemical/x-xyz in Debian's
        // /etc/mime.types), so a server that uses the system's table passes too.
        ("no-such-type", OCTET),
    ];
    let stem = ctx.rng.token(6);
    for (ext, _) in table {
        let content = ctx.rng.token(20);
        put(ctx, &format!("t/{stem}.{ext}"), content.as_bytes())?;
    }
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (ext, types) in table {
        let target = format!("/t/{stem}.{ext}");
        let req = Request::get(&target, &h);
        let r = f.fetch(ctx, &req)?;
        expect_status(&r, &[200], &req)?;
        expect_type(&r, types, &req).map_err(|e| e.reproduce(curl(ctx, &target)))?;
    }
    Ok(())
}

/// HEAD gets the same headers as GET and no body.
pub fn head(ctx: &mut Ctx) -> ProbeResult {
    let size = ctx.rng.range(2_000, 50_000);
    let bytes = ctx.rng.bytes(size);
    put(ctx, "file.bin", &bytes)?;
    put(ctx, "page.html", b"<p>after head</p>\n")?;
    let h = host(ctx);
    let mut c = client(ctx)?;
    let head_req = Request::new("HEAD", "/file.bin", &h, &[]);
    let r = c.exchange(&head_req)?;
    expect_status(&r, &[200], &head_req)?;
    if r.header("content-length") != Some(&size.to_string()) {
        return Err(
            Failure::new("HEAD must announce the Content-Length a GET would have")
                .expected(format!("Content-Length: {size}"))
                .got(r.head_text())
                .into(),
        );
    }
    expect_type(&r, site::types::OCTET, &head_req)?;
    // Whatever follows must be the next response, not a body.
    let reproduce = format!(
        "curl -v --head http://127.0.0.1:{}/file.bin   (curl warns if a body follows)",
        ctx.reproduce_port
    );
    if r.closes() {
        c.expect_close("after the response to HEAD")
            .map_err(|e| e.reproduce(reproduce))?;
        return Ok(());
    }
    let next = Request::get("/page.html", &h);
    let r2 = c.exchange(&next).map_err(|e| {
        e.detail("The response to HEAD has headers only: its Content-Length describes the body a GET would get, but no body is sent.")
            .reproduce(reproduce)
    })?;
    expect_ok_body(&r2, b"<p>after head</p>\n", &next)?;
    head_errors(ctx, &h)
}

/// Error answers to HEAD have no body either (RFC 9110 §9.3.2: a response to HEAD never
/// has content, whatever its status), including the answers that end the connection.
///
/// The HTTP/3.0 request may also be answered as HTTP/1.1 (see [`version_not_supported`]):
/// a 200, with no body either.
fn head_errors(ctx: &mut Ctx, h: &str) -> ProbeResult {
    let missing = format!("/missing-{}.bin", ctx.rng.token(8));
    let long = format!("/{}", "a".repeat(9000));
    // Each request with the statuses it may get (which one is the business of other tests;
    // this one is about bodies): the HTTP/3.0 request may be refused (505, or 400) or
    // answered as HTTP/1.1 (200); the long target refused as a long line (414) or head
    // (431, 400), or looked up by a server whose limit is longer (404).
    let requests: [(Request, &[u16]); 3] = [
        (Request::new("HEAD", &missing, h, &[]), &[404]),
        (
            Request::with_version("HEAD", "/file.bin", "HTTP/3.0", Some(h), &[]),
            &[505, 400, 200],
        ),
        (Request::new("HEAD", &long, h, &[]), &[414, 431, 400, 404]),
    ];
    for (req, statuses) in &requests {
        let mut c = client(ctx)?;
        let r = c.exchange(req)?;
        expect_status(&r, statuses, req)?;
        let nobody = |e: Failure| {
            let what = if r.status == 200 {
                "an answer as HTTP/1.1".to_string()
            } else {
                format!("an error ({} {})", r.status, r.reason)
            };
            e.detail(format!(
                "The answer to {} is {what}, and still an answer to HEAD: headers only, no body.",
                req.describe()
            ))
        };
        if r.closes() || !matches!(r.status, 200 | 404) {
            // The server may close after refusing a request; nothing may come before.
            c.expect_close(&format!("after the {} answer to HEAD", r.status))
                .map_err(nobody)?;
        } else {
            let next = Request::get("/page.html", h);
            let r2 = c.exchange(&next).map_err(nobody)?;
            expect_ok_body(&r2, b"<p>after head</p>\n", &next)?;
        }
    }
    Ok(())
}

/// Methods other than GET and HEAD get 405 or 501, and the connection stays usable.
pub fn methods(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "index.html", b"<p>index</p>\n")?;
    let h = host(ctx);
    let body = ctx.rng.token(24);
    let len = body.len().to_string();
    let mut post = Request::new(
        "POST",
        "/index.html",
        &h,
        &[("Content-Type", "text/plain"), ("Content-Length", &len)],
    );
    post.bytes.extend_from_slice(body.as_bytes());
    let requests = [
        post,
        Request::new("DELETE", "/index.html", &h, &[]),
        Request::new("PUT", "/index.html", &h, &[("Content-Length", "0")]),
        Request::new("BREW", "/index.html", &h, &[]),
    ];
    let mut f = Fetcher::new();
    for req in &requests {
        let r = f.fetch(ctx, req)?;
        if req.method == "POST" && (200..300).contains(&r.status) {
            // Stricter than the RFC, on purpose; the handout says so too.
            return Err(Failure::new(format!(
                "{} got status {} ({}), expected 405 or 501",
                req.describe(),
                r.status,
                r.reason
            ))
            .expected("405 Method Not Allowed (with `Allow: GET, HEAD`)")
            .got(r.head_text())
            .detail(
                "RFC 9110 §9.3.3 lets each resource decide what POST does, so answering it with \
                 the file (as lighttpd and Apache's default handler do) is also allowed. This \
                 lab asks for 405 because a file server does nothing with what was posted: a \
                 success tells the client (and the person who filled in the form) that the data \
                 was taken, when it was thrown away.",
            )
            .into());
        }
        expect_status(&r, &[405, 501], req)?;
        if r.status == 405 {
            if let Some(allow) = r.header("allow") {
                if !allow.contains("GET") {
                    return Err(Failure::new("the Allow header of a 405 does not list GET")
                        .got(r.head_text())
                        .into());
                }
            }
        }
        // The connection must still work: the POST body must have been read, not left
        // to be taken for the next request.
        let get = Request::get("/index.html", &h);
        let r = f.fetch(ctx, &get).map_err(|e| {
            e.detail(format!(
                "This GET followed {} on the same connection. A request body that is not \
                 read stays in the stream and is taken for the next request.",
                req.describe()
            ))
        })?;
        expect_ok_body(&r, b"<p>index</p>\n", &get)?;
    }
    Ok(())
}

/// Parses an IMF-fixdate (used to check `Date`).
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || !s.ends_with(" GMT") {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let d = num(5..7)?;
    let m = months.iter().position(|&m| s.get(8..11) == Some(m))? as i64 + 1;
    let y = num(12..16)?;
    let (hh, mm, ss) = (num(17..19)?, num(20..22)?, num(23..25)?);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?);
    (format_http_date(t) == s).then_some(t)
}

/// Formats an IMF-fixdate (whole seconds).
fn format_http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let names = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rem = secs % 86_400;
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        names[(days % 7) as usize],
        months[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------------------
// Persistent connections
// ---------------------------------------------------------------------------------------

fn not_kept_alive(what: &str, r: &Response) -> Failure {
    Failure::new(format!("{what}: the server ended the persistent connection"))
        .expected("the connection to stay open (HTTP/1.1 connections are persistent by default)")
        .got(r.head_text())
        .detail("Do not close after a response unless the client sent `Connection: close` (or is HTTP/1.0 without `Connection: keep-alive`).")
}

/// Several requests, one after another, on one HTTP/1.1 connection.
pub fn keep_alive(ctx: &mut Ctx) -> ProbeResult {
    let count = ctx.rng.range(3, 5);
    let mut files = Vec::new();
    for i in 0..count {
        let len = ctx.rng.range(10, 2000);
        let body = format!("file {i}: {}\n", ctx.rng.token(len));
        put(ctx, &format!("k{i}.txt"), body.as_bytes())?;
        files.push((format!("/k{i}.txt"), body));
    }
    let h = host(ctx);
    let mut c = client(ctx)?;
    for (i, (target, body)) in files.iter().enumerate() {
        if i + 1 == files.len() {
            // A pause like a user's: the connection must survive a short silence.
            thread::sleep(Duration::from_millis(400));
        }
        let req = Request::get(target, &h);
        let r = c.exchange(&req).map_err(|e| {
            e.detail(format!("This was request {} of {count} on the same connection.", i + 1))
                .reproduce(format!(
                    "curl -v http://127.0.0.1:{p}/ http://127.0.0.1:{p}/   (look for \"Re-using existing connection\")",
                    p = ctx.reproduce_port
                ))
        })?;
        expect_ok_body(&r, body.as_bytes(), &req)?;
        if r.closes() {
            return Err(not_kept_alive(&format!("request {} of {count}", i + 1), &r).into());
        }
    }
    if c.closed_within(Duration::from_millis(200)) {
        return Err(Failure::new("the server closed the connection right after the last response, although nothing asked it to").into());
    }
    Ok(())
}

/// `Connection: close` is honoured: the response, then the close.
pub fn connection_close(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("bye {}\n", ctx.rng.token(20));
    put(ctx, "bye.txt", body.as_bytes())?;
    let h = host(ctx);
    let mut c = client(ctx)?;
    let req = Request::new("GET", "/bye.txt", &h, &[("Connection", "close")]);
    let r = c.exchange(&req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    let reproduce = format!(
        "curl -v -H 'Connection: close' http://127.0.0.1:{}/bye.txt   (curl should say \"Closing connection\")",
        ctx.reproduce_port
    );
    expect_prompt_close(
        &mut c,
        &r,
        "after a response to a request with `Connection: close`",
    )
    .map_err(|e| e.reproduce(reproduce))?;
    Ok(())
}

/// How soon a server must close once its last response is sent: far below any idle
/// timeout the handout allows (the reference's is 5 s), so that a server that ignores the
/// client's wish to close cannot pass by timing out the connection instead.
const PROMPT_CLOSE: Duration = Duration::from_secs(2);

/// The connection must close right after `r`, and `r` must not have promised otherwise.
fn expect_prompt_close(c: &mut Client, r: &Response, after: &str) -> Result<(), Failure> {
    if r.connection_has("keep-alive") {
        return Err(Failure::new(format!(
            "the response {after} says `Connection: keep-alive`"
        ))
        .expected("`Connection: close` (or nothing), then the close")
        .got(r.head_text())
        .detail("This connection ends with this response (RFC 9112 §9.6): say so, and close it."));
    }
    c.set_idle_limit(PROMPT_CLOSE);
    c.expect_close(after).map_err(|e| {
        e.detail(format!(
            "The close must follow the response at once (within {} s here), not wait for the idle timeout: RFC 9112 §9.6.",
            PROMPT_CLOSE.as_secs()
        ))
    })
}

/// HTTP/1.0: close unless the client asks for keep-alive; keep-alive when it does.
pub fn http10(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("old client {}\n", ctx.rng.token(20));
    put(ctx, "old.txt", body.as_bytes())?;
    let h = host(ctx);
    // Plain HTTP/1.0 (no Host header, which 1.0 does not require): one response, close.
    let mut c = client(ctx)?;
    let req = Request::with_version("GET", "/old.txt", "HTTP/1.0", None, &[]);
    let r = c.exchange(&req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    expect_prompt_close(
        &mut c,
        &r,
        "after the response to an HTTP/1.0 request without keep-alive",
    )
    .map_err(|e| {
        e.reproduce(format!(
            "curl -v -0 http://127.0.0.1:{}/old.txt",
            ctx.reproduce_port
        ))
    })?;
    // HTTP/1.0 asking for keep-alive: the server must say it keeps the connection open.
    let mut c = client(ctx)?;
    let req = Request::with_version(
        "GET",
        "/old.txt",
        "HTTP/1.0",
        Some(&h),
        &[("Connection", "keep-alive")],
    );
    let r = c.exchange(&req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    if !r.connection_has("keep-alive") {
        return Err(Failure::new("an HTTP/1.0 client that sent `Connection: keep-alive` did not get `Connection: keep-alive` back")
            .expected("Connection: keep-alive in the response, and the connection left open")
            .got(r.head_text())
            .detail("An HTTP/1.0 client only reuses the connection if the response says `Connection: keep-alive` (RFC 9112 §9.3, Appendix C.2.2).")
            .into());
    }
    let r = c.exchange(&req).map_err(|e| {
        e.detail("This was the second HTTP/1.0 keep-alive request on the connection.")
    })?;
    Ok(expect_ok_body(&r, body.as_bytes(), &req)?)
}

/// Several requests sent in one write are all answered, in order.
pub fn pipelining(ctx: &mut Ctx) -> ProbeResult {
    let count = ctx.rng.range(4, 6);
    let h = host(ctx);
    let mut expected: Vec<(Request, Option<Vec<u8>>)> = Vec::new();
    for i in 0..count {
        let size = ctx.rng.range(10, 20_000);
        let bytes = ctx.rng.bytes(size);
        put(ctx, &format!("p{i}.bin"), &bytes)?;
        let target = format!("/p{i}.bin");
        let req = match i {
            1 => Request::new("HEAD", &target, &h, &[]),
            2 => {
                expected.push((
                    Request::get(&format!("/missing-{}.txt", ctx.rng.token(6)), &h),
                    None,
                ));
                Request::get(&target, &h)
            }
            _ => Request::get(&target, &h),
        };
        let body = (req.method == "GET").then_some(bytes);
        expected.push((req, body.or(Some(Vec::new()))));
    }
    let all: Vec<u8> = expected.iter().flat_map(|(r, _)| r.bytes.clone()).collect();
    let mut c = client(ctx)?;
    c.send_bytes(&all)?;
    let n = expected.len();
    for (i, (req, body)) in expected.iter().enumerate() {
        let r = c.read_response(req).map_err(|e| {
            e.detail(format!(
                "All {n} requests were sent in one write; this was the response to number {} ({}). \
                 One read may return several requests: parse one, keep the rest of the buffer for the next.",
                i + 1,
                req.describe()
            ))
            .reproduce(format!(
                "printf 'GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | nc 127.0.0.1 {}",
                ctx.reproduce_port
            ))
        })?;
        match body {
            None => expect_status(&r, &[404], req)?,
            Some(b) => expect_ok_body(&r, b, req)?,
        }
        if r.closes() && i + 1 < n {
            return Err(not_kept_alive(&format!("pipelined request {} of {n}", i + 1), &r).into());
        }
    }
    Ok(())
}

/// An idle keep-alive connection is closed after a while (within 15 s).
pub fn idle_timeout(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "a.txt", b"a\n")?;
    let h = host(ctx);
    let mut c = client(ctx)?;
    let req = Request::get("/a.txt", &h);
    let r = c.exchange(&req)?;
    expect_ok_body(&r, b"a\n", &req)?;
    if r.closes() {
        return Ok(()); // closing at once is the shortest timeout there is
    }
    let started = Instant::now();
    if c.closed_within(Duration::from_secs(15)) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "an idle keep-alive connection was still open after {:.0} s",
        started.elapsed().as_secs_f64()
    ))
    .detail("Each idle connection holds a thread (or a slot) and a file descriptor. Close it after a few seconds without a request (a read timeout).")
    .into())
}

/// A client sending its head one byte at a time is cut off (within 20 s).
pub fn slow_headers(ctx: &mut Ctx) -> ProbeResult {
    let h = host(ctx);
    let mut c = client(ctx)?;
    c.conn().stream().set_nodelay(true).ok();
    let mut head = format!("GET / HTTP/1.1\r\nHost: {h}\r\n").into_bytes();
    // Endless headers, one byte every 300 ms: each read brings something, so only a limit
    // on the whole head (not on each read) ends this.
    head.extend((0..200).flat_map(|i| format!("X-Slow-{i}: {}\r\n", "z".repeat(20)).into_bytes()));
    let started = Instant::now();
    for &b in &head {
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        if c.send_bytes(&[b]).is_err() {
            return Ok(()); // the server closed (or reset) the connection
        }
        if c.closed_within(Duration::from_millis(300)) {
            return Ok(());
        }
        if !c.pending().is_empty() {
            // A 408 (or another error) before closing is fine too.
            return Ok(());
        }
    }
    Err(Failure::new(format!(
        "a client sending its request head one byte every 0.3 s was still connected after {:.0} s",
        started.elapsed().as_secs_f64()
    ))
    .detail("A read timeout per read is not enough: each byte resets it. Give the whole head a deadline (e.g. the keep-alive timeout from the moment you start waiting), then answer 408 or close.")
    .detail("RFC 9112 sets no limit on how long a request head may take (§9.5 leaves timeouts to the server), and some servers (lighttpd) time out each read only. This lab asks for a deadline on the whole head because otherwise a client that trickles a byte at a time (Slowloris) holds a connection, and its thread, for as long as it likes.")
    .into())
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Sends `bytes` on a fresh connection and reads one response.
fn one_shot(ctx: &mut Ctx, req: &Request) -> Result<Response, Failure> {
    let mut c = client(ctx)?;
    c.send(req)?;
    c.read_response(req)
}

/// After a test: a new client still gets an answer (any status) to a plain GET.
pub fn still_serves(ctx: &mut Ctx) -> ProbeResult {
    let h = host(ctx);
    let req = Request::new("GET", "/", &h, &[("Connection", "close")]);
    one_shot(ctx, &req)?;
    Ok(())
}

/// Malformed requests get 400.
pub fn bad_requests(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "index.html", b"<p>ok</p>\n")?;
    let h = host(ctx);
    let cases: Vec<(&str, String)> = vec![
        (
            "a line that is not a request line",
            "HELLO\r\n\r\n".to_string(),
        ),
        (
            "HTTP/1.1 without a Host header",
            "GET /index.html HTTP/1.1\r\n\r\n".to_string(),
        ),
        (
            "two Host headers (RFC 9112 §3.2: exactly one)",
            format!("GET /index.html HTTP/1.1\r\nHost: {h}\r\nHost: example.com\r\n\r\n"),
        ),
        (
            "whitespace between a header name and the colon",
            format!("GET /index.html HTTP/1.1\r\nHost : {h}\r\n\r\n"),
        ),
        (
            "a lowercase method (methods are case-sensitive tokens)",
            format!("get /index.html HTTP/1.1\r\nHost: {h}\r\n\r\n"),
        ),
        // Not tested: a request line without a version. That is an HTTP/0.9 request,
        // which some servers (nginx) still answer, with a bare body.
    ];
    for (why, text) in cases {
        let req = Request::raw("?", why, text.clone().into_bytes());
        let r = one_shot(ctx, &req).map_err(|e| {
            e.detail(format!(
                "The request was {why}: {}",
                escape(text.as_bytes(), 100)
            ))
        })?;
        if r.status != 400 && !(r.status == 501 && why.starts_with("a lowercase")) {
            return Err(Failure::new(format!(
                "a request with {why} got status {}, expected 400",
                r.status
            ))
            .expected("400 Bad Request")
            .got(r.head_text())
            .detail(format!("The request: {}", escape(text.as_bytes(), 100)))
            .into());
        }
    }
    Ok(())
}

/// A missing file gets 404, and the connection goes on.
pub fn not_found(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "here.txt", b"here\n")?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    let target = format!("/missing-{}.html", ctx.rng.token(8));
    // A path below a regular file names nothing either: 404, or 403 from a server that
    // refuses such paths as a rule (lighttpd with static-file.disable-pathinfo). Both say
    // "not served"; RFC 9110 §15.5.4 lets a server refuse any request.
    let cases: [(&str, &[u16]); 3] = [
        (&target, &[404]),
        ("/no/such/dir/", &[404]),
        ("/here.txt/extra", &[404, 403]),
    ];
    for (t, statuses) in cases {
        let req = Request::get(t, &h);
        let r = f.fetch(ctx, &req).map_err(|e| e.reproduce(curl(ctx, t)))?;
        expect_status(&r, statuses, &req).map_err(|e| {
            if r.status == 200 && t == "/here.txt/extra" {
                e.detail("/here.txt is a file, not a directory: nothing is below it. Serving the file for this path (as \"path info\") gives it a second URL, whose relative links resolve below the file.")
            } else {
                e
            }
        })?;
        let req = Request::get("/here.txt", &h);
        let r = f.fetch(ctx, &req)?;
        expect_ok_body(&r, b"here\n", &req)?;
    }
    Ok(())
}

/// No path, however encoded, reaches a file outside the root.
pub fn path_escape(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "index.html", b"<p>inside</p>\n")?;
    // A secret in a directory next to the root, with a random name and content.
    let parent = ctx
        .root
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let secret_dir = tempfile::Builder::new()
        .prefix("netlabs-secret-")
        .tempdir_in(&parent)
        .map_err(|e| {
            Failure::new(format!(
                "the grader could not create a secret directory: {e}"
            ))
        })?;
    let secret = format!("TOP SECRET {}", ctx.rng.token(24));
    std::fs::write(secret_dir.path().join("secret.txt"), &secret)
        .map_err(|e| Failure::new(format!("the grader could not write the secret: {e}")))?;
    let dir = secret_dir
        .path()
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let root_name = ctx
        .root
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let h = host(ctx);
    let targets = vec![
        format!("/../{dir}/secret.txt"),
        format!(
            "/../../../../../../..{}/secret.txt",
            secret_dir.path().display()
        ),
        format!("/./../{dir}/secret.txt"),
        format!("/%2e%2e/{dir}/secret.txt"),
        format!("/%2E%2E/{dir}/secret.txt"),
        format!("/..%2f{dir}%2fsecret.txt"),
        format!("/%2e%2e%2f{dir}%2fsecret.txt"),
        format!("/.%2e/{dir}/secret.txt"),
        format!("/{root_name}/../../{dir}/secret.txt"),
        format!("http://{h}/../{dir}/secret.txt"),
        "/../../../../../../../../etc/passwd".to_string(),
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_string(),
    ];
    for t in &targets {
        let req = Request::get(t, &h);
        let r = one_shot(ctx, &req)?;
        let leaked = r.body.windows(secret.len()).any(|w| w == secret.as_bytes())
            || r.body.windows(9).any(|w| w == b"root:x:0:");
        if leaked || (200..300).contains(&r.status) {
            return Err(Failure::new(format!("GET {t} was answered with {} {}: a file outside the root was served", r.status, r.reason))
                .expected("400, 403 or 404, and nothing from outside the root")
                .got(format!("{} then {}", r.head_text(), describe(&r.body)))
                .detail("Percent-decode the path first, then refuse any `..` segment (or resolve the path and check it is still below the root).")
                .reproduce(curl(ctx, t))
                .into());
        }
        expect_status(&r, &[400, 403, 404], &req)?;
    }
    // A symbolic link inside the root can point anywhere: following it out is the same
    // escape without a single `..` (to /etc, which every sandbox sees, and to the secret).
    let links: [(&str, &std::path::Path); 3] = [
        ("passwd-link", std::path::Path::new("/etc/passwd")),
        ("system", std::path::Path::new("/etc")),
        ("next-door", secret_dir.path()),
    ];
    for (name, to) in links {
        std::os::unix::fs::symlink(to, ctx.root.join(name)).map_err(|e| {
            Failure::new(format!("the grader could not plant a symbolic link: {e}"))
        })?;
    }
    for t in ["/passwd-link", "/system/passwd", "/next-door/secret.txt"] {
        let req = Request::get(t, &h);
        let r = one_shot(ctx, &req)?;
        let leaked = r.body.windows(secret.len()).any(|w| w == secret.as_bytes())
            || r.body.windows(9).any(|w| w == b"root:x:0:");
        if leaked || (200..300).contains(&r.status) {
            return Err(Failure::new(format!(
                "GET {t} was answered with {} {}: a symbolic link in the root was followed out of it",
                r.status, r.reason
            ))
            .expected("400, 403 or 404: the link leads outside the root")
            .got(format!("{} then {}", r.head_text(), describe(&r.body)))
            .detail(format!(
                "The root holds symbolic links: {}.",
                links
                    .iter()
                    .map(|(n, to)| format!("{n} -> {}", to.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .detail("Checking the path's text cannot see a link: resolve the joined path (std::fs::canonicalize) and check that the result is still below the (canonical) root.")
            .reproduce(curl(ctx, t))
            .into());
        }
        expect_status(&r, &[400, 403, 404], &req)?;
    }
    Ok(())
}

/// Names are percent-decoded; query strings are ignored.
pub fn percent_decoding(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("spaces {}\n", ctx.rng.token(20));
    let name = format!("my notes {}.txt", ctx.rng.token(4));
    put(ctx, &format!("sub dir/{name}"), body.as_bytes())?;
    let encoded = name.replace(' ', "%20");
    // A name beyond ASCII: `é` is two bytes in UTF-8, %C3%A9, which decode to two bytes
    // of the name, not to two characters.
    let accented = format!("résumé {}.txt", ctx.rng.token(4));
    let accented_body = format!("accents {}\n", ctx.rng.token(20));
    put(
        ctx,
        &format!("sub dir/{accented}"),
        accented_body.as_bytes(),
    )?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (t, body) in [
        (format!("/sub%20dir/{encoded}"), &body),
        (format!("/sub%20dir/{encoded}?v=3&x=%2F"), &body),
        (
            format!("/sub%20dir/{}", encoded.replace("my", "%6d%79")),
            &body,
        ),
        (
            format!("/sub%20dir/{}", percent_encode(&accented)),
            &accented_body,
        ),
    ] {
        let req = Request::get(&t, &h);
        let r = f.fetch(ctx, &req).map_err(|e| e.reproduce(curl(ctx, &t)))?;
        expect_ok_body(&r, body.as_bytes(), &req).map_err(|e| {
            let e = e.reproduce(curl(ctx, &t));
            if t.contains("%C3") {
                e.detail(format!("The file is `sub dir/{accented}`. Percent-decoding gives bytes: collect them, then read them as UTF-8 (a %XX made a character of its own turns `é` into `Ã©`)."))
            } else {
                e
            }
        })?;
    }
    Ok(())
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986 §2.3).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends `bytes` from a background thread (the server may stop reading and close) and
/// reads one response.
fn oversized(ctx: &mut Ctx, req: &Request) -> Result<Response, Failure> {
    let c = ctx.connect()?;
    let mut writer = c.try_clone()?;
    let bytes = req.bytes.clone();
    thread::spawn(move || {
        let _ = writer.send(&bytes);
    });
    let mut c = Client::new(c);
    c.read_response(req)
}

/// An endless request line gets 414; an endless header section 431 (or 400).
///
/// Neither ever ends: the line has no version and no CRLF, the header section no empty
/// line. A server that checks its limits only once the head is complete has buffered
/// everything and is still waiting; only one that refuses as soon as its buffer passes
/// the limit answers.
pub fn oversized_requests(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "index.html", b"<p>ok</p>\n")?;
    let h = host(ctx);
    let long = format!("/{}", "a".repeat(ctx.rng.range(70_000, 100_000)));
    let req = Request::raw("GET", &long, format!("GET {long}").into_bytes());
    let r = oversized(ctx, &req).map_err(|e| {
        e.detail("The request line was 70-100 KB long and had not ended (no version, no CRLF yet). Limit how much you buffer while looking for its end: past the limit, answer 414 at once.")
    })?;
    expect_status(&r, &[414], &req).map_err(|e| {
        e.detail("RFC 9112 §3: a server that receives a request-target longer than any URI it wishes to parse MUST respond with 414. Everything received had no line end yet, so it was all request line: count it against a line limit before (and besides) the limit on the whole head.")
    })?;
    let mut headers = String::new();
    for i in 0..ctx.rng.range(150, 250) {
        headers.push_str(&format!("X-Filler-{i}: {}\r\n", "b".repeat(1000)));
    }
    let text = format!("GET /index.html HTTP/1.1\r\nHost: {h}\r\n{headers}");
    let req = Request::raw(
        "GET",
        "/index.html (with 150-250 KB of headers)",
        text.into_bytes(),
    );
    let r = oversized(ctx, &req).map_err(|e| {
        e.detail("The header section was 150-250 KB long and had not ended (no empty line yet). Past your limit, answer 431 at once.")
    })?;
    expect_status(&r, &[431, 400], &req)?;
    Ok(())
}

/// Versions other than HTTP/1.x get 505, or are answered as HTTP/1.1.
///
/// RFC 9110 §2.5: a server SHOULD answer with the highest version it conforms to whose
/// major number is at most the request's (HTTP/1.1, for a 2.0 or 3.0 request in HTTP/1.1's
/// syntax), MUST NOT answer with a version it does not conform to, and can refuse the major
/// version with 505 if it wishes. The lab asks for 505; Apache answers as HTTP/1.1.
pub fn version_not_supported(ctx: &mut Ctx) -> ProbeResult {
    let body = b"<p>ok</p>\n";
    put(ctx, "index.html", body)?;
    let h = host(ctx);
    for v in ["HTTP/3.0", "HTTP/2.0"] {
        let req = Request::with_version("GET", "/index.html", v, Some(&h), &[]);
        let why = format!("The request's version was {v}.");
        let r = one_shot(ctx, &req).map_err(|e| e.detail(why.clone()))?;
        if r.status == 505 {
            continue;
        }
        if r.status == 200 && r.version == "HTTP/1.1" {
            // Served as the HTTP/1.1 request it is written as: RFC 9110 §2.5's advice.
            expect_body(&r, body, &req).map_err(|e| e.detail(why.clone()))?;
            continue;
        }
        return Err(Failure::new(format!(
            "{} ({v}) got status {} ({}), expected 505",
            req.describe(),
            r.status,
            r.reason
        ))
        .expected("505 HTTP Version Not Supported (or the file, answered as HTTP/1.1)")
        .got(r.head_text())
        .detail(why)
        .detail("A well-formed version whose major number is not 1 is not malformed: refuse it with 505, or (RFC 9110 §2.5) answer it as HTTP/1.1, the highest version you conform to.")
        .into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Directories, conditional and partial requests
// ---------------------------------------------------------------------------------------

/// A directory with `index.html` serves it.
pub fn directory_index(ctx: &mut Ctx) -> ProbeResult {
    let top = format!("<p>top {}</p>\n", ctx.rng.token(12));
    let inner = format!("<p>inner {}</p>\n", ctx.rng.token(12));
    put(ctx, "index.html", top.as_bytes())?;
    put(ctx, "section/index.html", inner.as_bytes())?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (t, body) in [("/", &top), ("/section/", &inner)] {
        let req = Request::get(t, &h);
        let r = f.fetch(ctx, &req).map_err(|e| e.reproduce(curl(ctx, t)))?;
        expect_ok_body(&r, body.as_bytes(), &req)?;
        expect_type(&r, site::types::HTML, &req)?;
    }
    Ok(())
}

/// A directory without `index.html` gets a listing whose links work.
pub fn directory_listing(ctx: &mut Ctx) -> ProbeResult {
    let names = [
        format!("alpha-{}.txt", ctx.rng.token(4)),
        format!("with space {}.txt", ctx.rng.token(4)),
    ];
    let mut bodies = Vec::new();
    for n in &names {
        let b = format!("{n} {}\n", ctx.rng.token(10));
        put(ctx, &format!("list/{n}"), b.as_bytes())?;
        bodies.push(b);
    }
    put(ctx, "list/subdir/x.txt", b"x")?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    let req = Request::get("/list/", &h);
    let r = f
        .fetch(ctx, &req)
        .map_err(|e| e.reproduce(curl(ctx, "/list/")))?;
    expect_status(&r, &[200], &req)?;
    expect_type(&r, site::types::HTML, &req)?;
    let page = String::from_utf8_lossy(&r.body).to_string();
    let hrefs = extract_hrefs(&page);
    for (name, body) in names.iter().zip(&bodies) {
        let link = hrefs.iter().find(|href| {
            let decoded = percent_decode(href);
            decoded == *name || decoded.ends_with(&format!("/{name}"))
        });
        let Some(link) = link else {
            return Err(
                Failure::new(format!("the listing of /list/ has no link to `{name}`"))
                    .expected(format!(
                        "an <a href=\"…\"> whose target is {name} (percent-encoded)"
                    ))
                    .got(describe(&r.body))
                    .into(),
            );
        };
        let target = if link.starts_with('/') {
            link.clone()
        } else {
            format!("/list/{link}")
        };
        let req = Request::get(&target, &h);
        let r = f
            .fetch(ctx, &req)
            .map_err(|e| e.detail(format!("Following the listing's link `{link}`.")))?;
        expect_ok_body(&r, body.as_bytes(), &req)
            .map_err(|e| e.detail(format!("Following the listing's link `{link}`.")))?;
    }
    if !hrefs
        .iter()
        .any(|h| h.trim_end_matches('/').ends_with("subdir"))
    {
        return Err(
            Failure::new("the listing of /list/ has no link to its subdirectory `subdir`")
                .got(describe(&r.body))
                .into(),
        );
    }
    Ok(())
}

fn extract_hrefs(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find("href=") {
        rest = &rest[i + 5..];
        let quote = rest.chars().next().unwrap_or(' ');
        if quote == '"' || quote == '\'' {
            if let Some(end) = rest[1..].find(quote) {
                out.push(rest[1..1 + end].replace("&amp;", "&"));
            }
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// A directory without its trailing slash gets 301 to the slashed path.
pub fn directory_redirect(ctx: &mut Ctx) -> ProbeResult {
    let dir = format!("docs-{}", ctx.rng.token(5));
    put(ctx, &format!("{dir}/index.html"), b"<p>docs</p>\n")?;
    let h = host(ctx);
    let req = Request::get(&format!("/{dir}"), &h);
    let r = one_shot(ctx, &req).map_err(|e| e.reproduce(curl(ctx, &format!("/{dir}"))))?;
    expect_status(&r, &[301], &req)?;
    let want = format!("/{dir}/");
    let location = r.header("location").unwrap_or("");
    let path = match location.find("://") {
        Some(i) => location[i + 3..]
            .find('/')
            .map_or("", |p| &location[i + 3 + p..]),
        None => location,
    };
    if path != want {
        return Err(
            Failure::new("the redirect does not point to the path with a trailing slash")
                .expected(format!(
                    "Location: {want} (or an absolute URL with that path)"
                ))
                .got(r.head_text())
                .into(),
        );
    }
    Ok(())
}

/// `If-Modified-Since` with the file's own date gets 304; an older date gets 200.
pub fn if_modified_since(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("cached {}\n", ctx.rng.token(20));
    let path = put(ctx, "c.txt", body.as_bytes())?;
    // A past modification time with a fraction of a second (file systems keep
    // nanoseconds, HTTP dates whole seconds), on a Friday or a Monday: its Last-Modified
    // then sorts before the older date below as text ("Fri, …" and "Mon, …" before
    // "Sat, …"), so a server that compares the dates as strings answers that one 304.
    let today = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let mut day = today.saturating_sub(ctx.rng.range(30, 900) as u64);
    // Day 0, 1 January 1970, was a Thursday: day % 7 is 1 on Fridays, 4 on Mondays.
    while day % 7 != 1 && day % 7 != 4 {
        day -= 1;
    }
    let mtime = SystemTime::UNIX_EPOCH
        + Duration::new(
            day * 86_400 + ctx.rng.range(0, 86_399) as u64,
            ctx.rng.range(1, 999_999_999) as u32,
        );
    set_modified(&path, mtime)?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    let req = Request::get("/c.txt", &h);
    let r = f.fetch(ctx, &req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    let Some(lm) = r.header("last-modified").map(str::to_string) else {
        return Err(Failure::new(
            "no Last-Modified header: a client has no date to revalidate with",
        )
        .got(r.head_text())
        .into());
    };
    let req = Request::new("GET", "/c.txt", &h, &[("If-Modified-Since", &lm)]);
    let r = f.fetch(ctx, &req).map_err(|e| {
        e.detail("A 304 response has no body, whatever its headers say.")
            .reproduce(format!(
                "curl -v -H 'If-Modified-Since: {lm}' http://127.0.0.1:{}/c.txt",
                ctx.reproduce_port
            ))
    })?;
    expect_status(&r, &[304], &req).map_err(|e| {
        e.detail(format!(
            "If-Modified-Since was the file's own Last-Modified ({lm}): the file has not changed since. (Its time on disk has a fraction of a second, HTTP dates whole seconds only: compare at whole seconds.)"
        ))
    })?;
    let old = "Sat, 01 Jan 2000 00:00:00 GMT";
    let req = Request::new("GET", "/c.txt", &h, &[("If-Modified-Since", old)]);
    let r = f.fetch(ctx, &req)?;
    Ok(expect_ok_body(&r, body.as_bytes(), &req).map_err(|e| {
        e.detail(format!(
            "If-Modified-Since was {old}, long before the file's Last-Modified ({lm}): the file has changed since. Compare the dates as times, not as text."
        ))
    })?)
}

/// A single byte range gets 206 with `Content-Range`; an unsatisfiable one 416.
pub fn range(ctx: &mut Ctx) -> ProbeResult {
    let size = ctx.rng.range(5_000, 200_000);
    let bytes = ctx.rng.bytes(size);
    put(ctx, "r.bin", &bytes)?;
    let h = host(ctx);
    let a = ctx.rng.range(0, size / 2);
    let b = ctx.rng.range(a, size - 1);
    let n = ctx.rng.range(1, 1000);
    // An end at or past the end of the file means "to the end" (RFC 9110 §14.1.2), as
    // curl's `-r 1000-99999999` or a video player asking for more than is left.
    let c = ctx.rng.range(size / 2, size - 1);
    let past = size + ctx.rng.range(0, 100_000);
    let mut f = Fetcher::new();
    let cases = [
        (format!("bytes={a}-{b}"), a, b),
        (format!("bytes={a}-"), a, size - 1),
        (format!("bytes=-{n}"), size - n, size - 1),
        (format!("bytes={c}-{past}"), c, size - 1),
    ];
    let port = ctx.reproduce_port;
    for (spec, first, last) in &cases {
        let note = |e: Failure| {
            let e = e
                .detail(format!("Range: {spec}, for a {size}-byte file"))
                .reproduce(format!(
                    "curl -v -H 'Range: {spec}' http://127.0.0.1:{port}/r.bin -o part.bin"
                ));
            if !spec.ends_with(&format!("-{past}")) {
                return e;
            }
            e.detail(format!(
                "The range ends past the end of the file: it ends at the last byte, {}, and Content-Length counts only the bytes that exist.",
                size - 1
            ))
        };
        let req = Request::new("GET", "/r.bin", &h, &[("Range", spec)]);
        let r = f.fetch(ctx, &req).map_err(note)?;
        expect_status(&r, &[206], &req).map_err(note)?;
        let want_cr = format!("bytes {first}-{last}/{size}");
        if r.header("content-range") != Some(want_cr.as_str()) {
            return Err(note(
                Failure::new(format!("wrong Content-Range for Range: {spec}"))
                    .expected(format!("Content-Range: {want_cr}"))
                    .got(r.head_text()),
            )
            .into());
        }
        expect_body(&r, &bytes[*first..=*last], &req).map_err(note)?;
    }
    let spec = format!("bytes={}-", size + ctx.rng.range(1, 100));
    let req = Request::new("GET", "/r.bin", &h, &[("Range", &spec)]);
    let r = f.fetch(ctx, &req)?;
    expect_status(&r, &[416], &req).map_err(|e| {
        e.detail(format!(
            "Range: {spec} starts after the end of the {size}-byte file"
        ))
    })?;
    if r.header("content-range") != Some(format!("bytes */{size}").as_str()) {
        return Err(
            Failure::new("a 416 must say the file's size in Content-Range")
                .expected(format!("Content-Range: bytes */{size}"))
                .got(r.head_text())
                .detail("RFC 9110 §15.5.17 says a server SHOULD send it, not that it MUST (lighttpd and Apache leave it out). This lab asks for it because it is all a 416 can tell the client: the current size, from which it can ask again for a range that exists (a download resumed after the file shrank, say) without another round trip to learn it.")
                .into(),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

/// Many keep-alive connections at once, served in an order no serial server can follow.
pub fn concurrent_keep_alive(ctx: &mut Ctx) -> ProbeResult {
    let n = 24;
    let body = format!("shared {}\n", ctx.rng.token(30));
    put(ctx, "s.txt", body.as_bytes())?;
    let h = host(ctx);
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(client(ctx)?);
    }
    // The last connection asks first: a server that serves connections one at a time
    // (or has fewer workers than connections) is still waiting on the first one.
    for round in 0..2 {
        for (i, c) in clients.iter_mut().enumerate().rev() {
            let req = Request::get("/s.txt", &h);
            let r = c.exchange(&req).map_err(|e| {
                e.detail(format!(
                    "{n} connections were open at once (idle keep-alive connections, like a few browsers'); \
                     this was connection {} of {n}, round {} of 2, asked while the earlier ones sat idle.",
                    i + 1,
                    round + 1
                ))
                .detail("A server that serves one connection until it closes, or a fixed pool smaller than the number of open connections, leaves this client waiting.")
            })?;
            expect_ok_body(&r, body.as_bytes(), &req)?;
            if r.closes() {
                return Err(not_kept_alive(&format!("connection {}", i + 1), &r).into());
            }
        }
    }
    Ok(())
}

/// A client that stalls in the middle of its request line does not delay others.
pub fn stalled_client(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "q.txt", b"quick\n")?;
    let h = host(ctx);
    let mut stalled = client(ctx)?;
    stalled.send_bytes(b"GET /q.tx")?;
    let mut stalled2 = client(ctx)?;
    stalled2.send_bytes(format!("GET /q.txt HTTP/1.1\r\nHost: {h}\r\nX-Half: ").as_bytes())?;
    for i in 0..6 {
        let req = Request::new("GET", "/q.txt", &h, &[("Connection", "close")]);
        let mut c = client(ctx)?;
        let r = c.exchange(&req).map_err(|e| {
            e.detail(format!(
                "Two other clients had sent half a request and stalled; this was client {} of 6. \
                 Reading a request must happen on the connection's own thread (or be non-blocking), never in the accept loop.",
                i + 1
            ))
        })?;
        expect_ok_body(&r, b"quick\n", &req)?;
    }
    stalled
        .conn()
        .stream()
        .shutdown(std::net::Shutdown::Both)
        .ok();
    stalled2
        .conn()
        .stream()
        .shutdown(std::net::Shutdown::Both)
        .ok();
    Ok(())
}

/// Hundreds of clients download one large file at once; all make progress.
pub fn many_downloads(ctx: &mut Ctx) -> ProbeResult {
    const CLIENTS: usize = 100;
    const FIRST: u64 = 64 * 1024;
    let size = ctx.rng.range(6 << 20, 8 << 20);
    let data = Arc::new(ctx.rng.bytes(size));
    let name = format!("big-{}.bin", ctx.rng.token(6));
    put(ctx, &name, &data)?;
    let h = host(ctx);
    let target = format!("/{name}");
    let mut conns = Vec::new();
    for _ in 0..CLIENTS {
        let c = ctx.connect()?;
        // A small receive buffer, so the kernel cannot absorb the file for the client:
        // a server thread writing to a client that pauses really has to wait.
        c.set_recv_buffer(32 * 1024);
        conns.push(c);
    }
    let phase1_deadline = Instant::now() + Duration::from_secs(25).min(ctx.remaining() / 2);
    let started = Arc::new(AtomicUsize::new(0));
    // The gate opens when every client has its first bytes (or the probe gives up).
    let gate = Arc::new(AtomicBool::new(false));
    let hold_until = phase1_deadline + Duration::from_secs(2);
    let errors: Arc<Mutex<Vec<Failure>>> = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for conn in conns {
        let (data, started, gate, errors) = (
            Arc::clone(&data),
            Arc::clone(&started),
            Arc::clone(&gate),
            Arc::clone(&errors),
        );
        let wait_at_gate = move || {
            while !gate.load(Ordering::SeqCst) && Instant::now() < hold_until {
                thread::sleep(Duration::from_millis(5));
            }
        };
        let req = Request::get(&target, &h);
        let tuner = conn.try_clone()?;
        handles.push(
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut c = Client::new(conn);
                    let mut got: u64 = 0;
                    let mut waited = false;
                    let mut arrived = false;
                    let result = c.send(&req).and_then(|()| {
                        c.read_response_with(&req, &mut |chunk| {
                            let at = got as usize;
                            if data.get(at..at + chunk.len()) != Some(chunk) {
                                return Err(Failure::new(format!(
                                    "a download's bytes differ from the file at byte {at}"
                                )));
                            }
                            got += chunk.len() as u64;
                            if !waited && got >= FIRST {
                                // Hold this download here until every client has got this far:
                                // only a server that serves all of them at once gets through.
                                waited = true;
                                arrived = true;
                                started.fetch_add(1, Ordering::SeqCst);
                                wait_at_gate();
                                // The point is made; read the rest at full speed.
                                tuner.set_recv_buffer(1 << 20);
                            }
                            Ok(())
                        })
                    });
                    if !arrived {
                        started.fetch_add(1, Ordering::SeqCst);
                    }
                    match result {
                        Ok(r) if r.status == 200 && got == data.len() as u64 => {}
                        Ok(r) => {
                            errors
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(Failure::new(format!(
                                    "a download ended with status {} after {got} of {} bytes",
                                    r.status,
                                    data.len()
                                )))
                        }
                        Err(e) => errors.lock().unwrap_or_else(|e| e.into_inner()).push(e),
                    }
                    arrived
                }),
        );
    }
    // Wait until every client has its first 64 KiB (or failed), or the deadline.
    while started.load(Ordering::SeqCst) < CLIENTS && Instant::now() < phase1_deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let reached = started.load(Ordering::SeqCst);
    // Let the parked clients go on in any case: on failure they run into the program's
    // teardown and end; they never outlive the grader's patience.
    gate.store(true, Ordering::SeqCst);
    if reached < CLIENTS {
        // Some clients never got their first bytes: the others are parked at the
        // barrier. Give up; the program's teardown ends their connections.
        return Err(Failure::new(format!(
            "{CLIENTS} clients downloaded a {size}-byte file at once; after {:.0} s only {reached} had received their first 64 KiB, while the others got nothing",
            Duration::from_secs(25).as_secs_f64()
        ))
        .detail("Each client paused after its first 64 KiB until all had started. A server with a fixed number of workers that each stream a whole file is stuck on the paused clients; the rest starve.")
        .detail("Serve each connection on its own thread (or with non-blocking I/O), and stream files in chunks.")
        .into());
    }
    let mut progressed = 0;
    for handle in handles {
        if handle.is_ok_and(|h| h.join().unwrap_or(false)) {
            progressed += 1;
        }
    }
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(first) = errors.into_iter().next() {
        return Err(first
            .detail(format!(
                "{progressed} of {CLIENTS} parallel downloads got past their first 64 KiB."
            ))
            .into());
    }
    Ok(())
}

/// Serving a large file does not load it into memory.
pub fn large_file_memory(ctx: &mut Ctx) -> ProbeResult {
    const SIZE: u64 = 256 << 20;
    const LIMIT: u64 = 96 << 20;
    if peak_memory(ctx).is_none() {
        return Err(Verdict::Skip(
            "peak memory is read from /proc, which this system does not have".into(),
        ));
    }
    // A sparse file: huge, yet it costs the grader no disk writes. Its bytes are zeros,
    // except for a random marker at the start and at the end.
    let marker = ctx.rng.bytes(64);
    let path = ctx.root.join("huge.iso");
    let write = || -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&marker)?;
        f.set_len(SIZE)?;
        f.seek(SeekFrom::Start(SIZE - 64))?;
        f.write_all(&marker)
    };
    write().map_err(|e| Failure::new(format!("the grader could not create a large file: {e}")))?;
    let h = host(ctx);
    let mut c = client(ctx)?;
    let req = Request::get("/huge.iso", &h);
    let mut got = 0u64;
    let zeros = vec![0u8; 64 * 1024];
    let r = c.exchange_with(&req, &mut |chunk| {
        // Compare slices, not bytes one by one: this runs over hundreds of MiB.
        let mut at = got;
        let mut rest = chunk;
        while !rest.is_empty() {
            let (want, len): (&[u8], usize) = if at < 64 {
                let n = (64 - at as usize).min(rest.len());
                (&marker[at as usize..at as usize + n], n)
            } else if at >= SIZE - 64 {
                let from = (at - (SIZE - 64)) as usize;
                let n = (64 - from).min(rest.len());
                (&marker[from..from + n], n)
            } else {
                let n = ((SIZE - 64 - at) as usize).min(rest.len()).min(zeros.len());
                (&zeros[..n], n)
            };
            if rest[..len] != *want {
                return Err(Failure::new(format!(
                    "the download of a {SIZE}-byte file differs from it near byte {at}"
                )));
            }
            rest = &rest[len..];
            at += len as u64;
        }
        got = at;
        Ok(())
    })?;
    expect_status(&r, &[200], &req)?;
    if got != SIZE {
        return Err(Failure::new(format!(
            "the download of a {SIZE}-byte file has {got} bytes"
        ))
        .into());
    }
    let peak = peak_memory(ctx).unwrap_or(0);
    if peak > LIMIT {
        return Err(Failure::new(format!(
            "serving a {} MiB file took the server's memory to {} MiB (limit {} MiB)",
            SIZE >> 20,
            peak >> 20,
            LIMIT >> 20
        ))
        .detail("Do not read the whole file into memory: send it in fixed-size chunks (a loop of read and write_all with a 64 KiB buffer, or std::io::copy).")
        .into());
    }
    Ok(())
}

/// SIGTERM: stop accepting, finish the response in flight, close idle connections, exit.
pub fn graceful_shutdown(ctx: &mut Ctx) -> ProbeResult {
    let Some(pid) = ctx.server_pid else {
        return Err(Verdict::Skip("the server's process id is unknown".into()));
    };
    let size = ctx.rng.range(12 << 20, 16 << 20);
    let data = ctx.rng.bytes(size);
    put(ctx, "movie.bin", &data)?;
    put(ctx, "small.txt", b"small\n")?;
    let h = host(ctx);
    // An idle keep-alive connection, which the shutdown must not wait for forever.
    let mut idle = client(ctx)?;
    let small = Request::get("/small.txt", &h);
    let r = idle.exchange(&small)?;
    expect_ok_body(&r, b"small\n", &small)?;
    // A download in progress, read slowly through a small buffer.
    let conn = ctx.connect()?;
    conn.set_recv_buffer(64 * 1024);
    let mut c = Client::new(conn);
    let req = Request::get("/movie.bin", &h);
    c.send(&req)?;
    let addr = ctx.addr();
    let mut got = 0usize;
    let mut signalled = false;
    let mut still_accepting = false;
    let r = c.read_response_with(&req, &mut |chunk| {
        if data.get(got..got + chunk.len()) != Some(chunk) {
            return Err(Failure::new(format!(
                "the download differs from the file at byte {got}"
            )));
        }
        got += chunk.len();
        if !signalled && got >= 1 << 20 {
            signalled = true;
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
            // New connections must soon be refused.
            let until = Instant::now() + Duration::from_secs(5);
            still_accepting = true;
            while Instant::now() < until {
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                    Err(_) => {
                        still_accepting = false;
                        break;
                    }
                    Ok(_) => thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        Ok(())
    });
    let r = r.map_err(|e| {
        e.detail(format!(
            "SIGTERM was sent after {} of {size} bytes of a download had arrived; the download must still complete.",
            1 << 20
        ))
        .detail("On SIGTERM: stop accepting, let responses in progress finish, close idle connections, then exit. Rust: the `signal-hook` idea — block the signal and wait for it on a thread (see the handout).")
    })?;
    expect_status(&r, &[200], &req)?;
    if still_accepting {
        return Err(
            Failure::new("the server still accepted new connections 5 s after SIGTERM")
                .detail("Graceful shutdown begins by closing the listening socket.")
                .into(),
        );
    }
    if !idle.closed_within(Duration::from_secs(10)) {
        return Err(Failure::new(
            "an idle keep-alive connection was not closed within 10 s of SIGTERM",
        )
        .into());
    }
    let until = Instant::now() + Duration::from_secs(10);
    while !exited(pid) && Instant::now() < until {
        thread::sleep(Duration::from_millis(20));
    }
    if !exited(pid) {
        return Err(Failure::new(
            "the server did not exit within 10 s after its last response was complete",
        )
        .into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The demo site
// ---------------------------------------------------------------------------------------

/// Loads the demo site as a browser does: the page, then everything it references over
/// six parallel keep-alive connections, all byte-exact with the right types.
pub fn demo_site(ctx: &mut Ctx) -> ProbeResult {
    let site = site::write(&ctx.root, &mut ctx.rng)
        .map_err(|e| Failure::new(format!("the grader could not write the demo site: {e}")))?;
    let h = host(ctx);
    let cookie = format!("session={}", ctx.rng.token(16));
    // `lowercase`: header names as a proxy in front of the server may send them (Envoy,
    // for one, lowercases every name on HTTP/1.1); names are case-insensitive.
    let browser_request = |target: &str, accept: &str, lowercase: bool| -> Request {
        let referer = format!("http://{h}/");
        let headers = [
            ("Host", h.as_str()),
            ("Connection", "keep-alive"),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 netlabs-autograder"),
            ("Accept", accept),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("Cache-Control", "no-cache"),
            ("Pragma", "no-cache"),
            ("Referer", &referer),
            ("Sec-Fetch-Mode", "no-cors"),
            ("Cookie", &cookie),
        ];
        let mut text = format!("GET {target} HTTP/1.1\r\n");
        for (name, value) in headers {
            let name = if lowercase {
                name.to_ascii_lowercase()
            } else {
                name.to_string()
            };
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        Request::raw("GET", target, text.into_bytes())
    };
    let index = &site.resources[0];
    let mut first = Fetcher::new();
    let req = browser_request(
        "/",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        false,
    );
    let r = first.fetch(ctx, &req)?;
    expect_ok_body(&r, &index.bytes, &req)?;
    expect_type(&r, index.types, &req)?;
    // The rest over six connections (the first one reused), each fetching its share in
    // order, all six at the same time.
    let mut lanes: Vec<Vec<site::Resource>> = vec![Vec::new(); 6];
    for (i, res) in site.resources[1..].iter().enumerate() {
        lanes[i % 6].push(res.clone());
    }
    let mut fetchers = vec![first];
    for _ in 1..6 {
        let mut f = Fetcher::new();
        f.client = Some(client(ctx)?);
        fetchers.push(f);
    }
    let mut handles = Vec::new();
    for (i, (lane, mut f)) in lanes.into_iter().zip(fetchers).enumerate() {
        // Every other connection comes through a proxy that lowercases header names.
        let lowercase = i % 2 == 1;
        // Patient, like a browser: this test is about what arrives, not how fast (the
        // concurrency tests check that). A server that serves one connection at a time
        // still completes here, one keep-alive timeout per connection.
        f.patience = Some(Duration::from_secs(40));
        let requests: Vec<(Request, site::Resource)> = lane
            .into_iter()
            .map(|res| (browser_request(&res.url, "*/*", lowercase), res))
            .collect();
        // Each lane reconnects through a context of its own if the server closes.
        let mut lane_ctx = Ctx::new(
            &crate::harness::Placeholders {
                host: ctx.host.clone(),
                port: ctx.port,
                root: ctx.root.clone(),
            },
            ctx.program.clone(),
            ctx.reproduce_port,
            ctx.rng.fork(),
            ctx.remaining(),
        );
        lane_ctx.transcript = ctx.transcript.clone();
        handles.push(thread::spawn(move || -> Result<(), Failure> {
            let through_proxy = |e: Failure| {
                if !lowercase {
                    return e;
                }
                e.detail("This connection's requests name their headers in lowercase (`host:`, `connection:`), as a proxy such as Envoy sends them: header names are case-insensitive (RFC 9110 §5.1).")
            };
            for (req, res) in requests {
                let r = f.fetch(&mut lane_ctx, &req).map_err(through_proxy)?;
                expect_ok_body(&r, &res.bytes, &req).map_err(through_proxy)?;
                expect_type(&r, res.types, &req).map_err(through_proxy)?;
            }
            Ok(())
        }));
    }
    for handle in handles {
        handle
            .join()
            .unwrap_or_else(|_| Err(Failure::new("a fetching thread of the grader panicked")))
            .map_err(|e| {
                e.detail("The demo site: index.html, then its CSS, JS, images (png, gif, svg, ico), a jpg and a txt file with spaces in their names, json, pdf, wasm, an unknown type, a page two directories down; fetched over six keep-alive connections at once.")
                    .reproduce(format!("open http://127.0.0.1:{}/ in a browser with the developer tools' Network tab open", ctx.reproduce_port))
            })?;
    }
    Ok(())
}
