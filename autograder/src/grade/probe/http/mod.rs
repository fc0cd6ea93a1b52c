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

mod basics;
mod concurrency;
mod connections;
mod demo;
mod errors;
mod files;
pub mod site;
pub mod wire;

pub use basics::*;
pub use concurrency::*;
pub use connections::*;
pub use demo::*;
pub use errors::*;
pub use files::*;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::bytes::{describe, escape, first_difference};
use super::Ctx;
use crate::grade::probe::{Failure, ProbeResult, Verdict};
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

/// Sets a file's modification time.
fn set_modified(path: &std::path::Path, t: SystemTime) -> Result<(), Failure> {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .map_err(|e| Failure::new(format!("the grader could not set a file time: {e}")))
}

fn not_kept_alive(what: &str, r: &Response) -> Failure {
    Failure::new(format!("{what}: the server ended the persistent connection"))
        .expected("the connection to stay open (HTTP/1.1 connections are persistent by default)")
        .got(r.head_text())
        .detail("Do not close after a response unless the client sent `Connection: close` (or is HTTP/1.0 without `Connection: keep-alive`).")
}

/// Sends `bytes` on a fresh connection and reads one response.
fn one_shot(ctx: &mut Ctx, req: &Request) -> Result<Response, Failure> {
    let mut c = client(ctx)?;
    c.send(req)?;
    c.read_response(req)
}
