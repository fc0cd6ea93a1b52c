//! Step checks: each test exercises one step of `handouts/lab5.md` through the lab's public
//! functions, so it passes as soon as that step is done, before the whole server works.
//!
//! `cargo run -p autograder -- check lab5` runs them first and shows one line per step.
//! By hand: `cargo test -p lab5 --test steps -- --ignored`. In the stub they are
//! `#[ignore]`d, so that `cargo test --workspace` passes while its steps are `todo!()`;
//! the reference solution runs the same checks as ordinary tests.
//!
//! Some steps can only be seen through a later one: `request::parse` (Step 3) returns a
//! request only once the request line (Step 4) and the headers (Step 5) are parsed;
//! `handler::respond` (Step 9) hands files to `serve_file` (Step 10); `connection::serve`
//! (Step 11) answers only through the writer of Step 12; and `server::run` (Step 2) hands
//! each connection to `connection::serve`. A check of such a step accepts that the later
//! step's `todo!()` was reached (the step did its part and handed the work on), and checks
//! the rest once the later step is written; its comment says so.
//!
//! No check waits without a deadline: sockets have read timeouts, and threads are joined by
//! polling `is_finished` until a deadline.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fs;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{symlink, FileExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lab5_solution::connection::{self, Settings};
use lab5_solution::files::{self, Refusal, Target};
use lab5_solution::request::{self, ParseError, Request, Version};
use lab5_solution::response::{Body, Response};
use lab5_solution::server::{self, Config, ShutdownHandle};
use lab5_solution::{date, handler, trace::Trace};

/// How long any one thing may take before a check gives up on it.
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// Reaching a later step: `todo!()` panics, caught and told apart.

thread_local! {
    /// Set while `attempt` runs: the panic hook keeps the panic for it instead of printing.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

/// A panic that `attempt` caught: its message and where it happened.
#[derive(Debug, Clone, Default)]
struct Caught {
    message: String,
    location: String,
}

impl Caught {
    /// The step whose `todo!()` this is, if it is one.
    fn todo_step(&self) -> Option<u32> {
        let rest = self.message.strip_prefix("not yet implemented: Step ")?;
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if !rest[digits..].starts_with(" of handouts/lab5.md") {
            return None;
        }
        rest[..digits].parse().ok()
    }
}

/// Installs (once) a panic hook that keeps quiet panics for `attempt`, and that does not
/// print the `todo!()` panics of threads the lab started (`server::run`'s connection
/// threads): a Step 2 check hands connections to steps that may not be written yet, and
/// their panics would otherwise be taken for the news of that check.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let caught = Caught {
                message: info.payload_as_str().unwrap_or_default().to_string(),
                location: info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default(),
            };
            if QUIET.get() {
                CAUGHT.set(Some(caught));
                return;
            }
            if caught.todo_step().is_some() && started_by_the_lab() {
                return;
            }
            default(info);
        }));
    });
}

/// Whether the current thread is one the lab's code started: not a test's own thread
/// (libtest names it after the test, or it is `main`) nor one of ours (`check:…`).
fn started_by_the_lab() -> bool {
    match thread::current().name() {
        None => true,
        Some(name) => !(name == "main" || name.starts_with("step") || name.starts_with("check:")),
    }
}

type Payload = Box<dyn Any + Send>;

/// Runs `f`, catching a panic without printing it.
fn attempt<T>(f: impl FnOnce() -> T) -> Result<T, (Caught, Payload)> {
    install_hook();
    let was = QUIET.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.set(was);
    result.map_err(|payload| (CAUGHT.take().unwrap_or_default(), payload))
}

/// Runs `f`, which uses the lab's code up to step `step`. `None` if it stopped at the
/// `todo!()` of a later step (not written yet); any other panic (the `todo!()` of this
/// step or an earlier one, or a bug) is reported as usual.
fn upto<T>(step: u32, f: impl FnOnce() -> T) -> Option<T> {
    match attempt(f) {
        Ok(value) => Some(value),
        Err((caught, _)) if caught.todo_step().is_some_and(|n| n > step) => None,
        Err((caught, payload)) => {
            // Shown the way Rust shows a panic: `check` reads the place and the message.
            eprintln!(
                "thread '{}' panicked at {}:\n{}",
                thread::current().name().unwrap_or("<unnamed>"),
                caught.location,
                caught.message
            );
            panic::resume_unwind(payload)
        }
    }
}

/// A thread of ours, named so that the panic hook knows it.
fn spawn<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    thread::Builder::new()
        .name(format!("check:{what}"))
        .spawn(f)
        .expect("start a thread")
}

/// Waits up to `within` for `thread` to end; `None` if it is still running then (it is
/// left behind, and ends with the test process). A panic in it goes on here.
fn finish<T>(thread: JoinHandle<T>, within: Duration) -> Option<T> {
    let deadline = Instant::now() + within;
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
    match thread.join() {
        Ok(value) => Some(value),
        Err(payload) => panic::resume_unwind(payload),
    }
}

// ---------------------------------------------------------------------------------------
// Files to serve.

/// A directory of its own below the system's temporary directory, removed when dropped:
/// `root` (what is served, canonical as `main` makes it) and a secret next to it.
struct Site {
    dir: PathBuf,
    root: PathBuf,
}

const SECRET: &[u8] = b"the secret next to the root\n";
const PAGE: &[u8] = b"<!DOCTYPE html>\n<html><body><h1>hello</h1></body></html>\n";
const INDEX: &[u8] = b"<!DOCTYPE html>\n<title>sub</title><p>the index of sub/</p>\n";

impl Site {
    /// An empty root.
    fn empty() -> Site {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lab5-steps-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("root")).expect("create a temporary directory");
        let dir = dir.canonicalize().unwrap();
        fs::write(dir.join("secret.txt"), SECRET).unwrap();
        Site {
            root: dir.join("root"),
            dir,
        }
    }

    /// A root with a page, a small binary file, an empty file, a directory with an index
    /// and one without.
    fn standard() -> Site {
        let site = Site::empty();
        site.write("page.html", PAGE);
        site.write("small.bin", &binary(1500, 1));
        site.write("empty.txt", b"");
        site.write("sub/index.html", INDEX);
        site.write("list/a file.txt", b"a file\n");
        site.write("list/notes #1.txt", b"notes\n");
        fs::create_dir_all(site.root.join("list/deeper")).unwrap();
        site
    }

    /// Writes a file below the root (and the directories it needs).
    fn write(&self, path: &str, bytes: &[u8]) -> PathBuf {
        let full = self.root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, bytes).unwrap();
        full
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Bytes that are not text (most are not valid UTF-8), different for each `seed`.
fn binary(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Bytes for a message: escaped, and cut after 120 characters.
fn show(bytes: &[u8]) -> String {
    let text = bytes.escape_ascii().to_string();
    if text.len() > 120 {
        format!("{}… ({} bytes)", &text[..120], bytes.len())
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------
// Step 1: bind.

#[test]
fn step1_binds_a_listening_socket_on_the_host_it_is_given() {
    let listener = server::bind("127.0.0.1", 0).expect("bind 127.0.0.1 on a free port");
    let addr = listener.local_addr().expect("the socket has an address");
    assert_eq!(
        addr.ip().to_string(),
        "127.0.0.1",
        "bound to {addr}: use the host you are given"
    );
    // The kernel completes the handshake from the listen backlog, before any accept.
    TcpStream::connect_timeout(&addr, WAIT).expect("a client can connect to the socket");
    // A name, and an IPv6 address (which `format!("{host}:{port}")` would get wrong).
    let named = server::bind("localhost", 0).expect("bind `localhost`: a host may be a name");
    assert!(named.local_addr().unwrap().ip().is_loopback());
    if TcpListener::bind("[::1]:0").is_ok() {
        let v6 = server::bind("::1", 0).expect("bind `::1` (IPv6 loopback)");
        assert_eq!(v6.local_addr().unwrap().ip().to_string(), "::1");
    }
}

#[test]
fn step1_reports_a_port_in_use_as_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let second = server::bind("127.0.0.1", port);
    assert!(
        second.is_err(),
        "binding port {port} twice must fail (it returned {second:?})"
    );
}

// ---------------------------------------------------------------------------------------
// Step 2: the accept loop. `run` hands every connection to `connection::serve` (Step 11),
// which answers through Steps 3-12. Until they are all written, the connection threads stop
// at a `todo!()` and the clients are closed; the checks then see the accept loop hand
// connections on and shut down, and check concurrency and the graceful shutdown once
// `serve` answers requests.

/// A server running `server::run` on a thread of ours.
struct Running {
    addr: SocketAddr,
    shutdown: ShutdownHandle,
    thread: JoinHandle<Option<io::Result<()>>>,
}

fn running(site: &Site, keep_alive: Duration) -> Running {
    install_hook();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = ShutdownHandle::new();
    let config = Config {
        root: site.root.clone(),
        keep_alive,
        max_connections: 64,
    };
    let handle = shutdown.clone();
    let thread = spawn("run", move || {
        upto(2, || {
            server::run(listener, config, Arc::new(Trace::new(false)), handle)
        })
    });
    Running {
        addr,
        shutdown,
        thread,
    }
}

impl Running {
    /// A client connected to the server.
    fn connect(&self) -> Client {
        let error = match TcpStream::connect_timeout(&self.addr, WAIT) {
            Ok(stream) => return Client::new(stream),
            Err(e) => e,
        };
        // The listener closes as `run` ends: give its thread a moment to finish.
        let deadline = Instant::now() + WAIT;
        while !self.thread.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if self.thread.is_finished() {
            panic!(
                "cannot connect ({error}): run has ended before shutdown was triggered. Did the \
                 accept loop serve the previous client itself and stop at the todo!() of a \
                 later step? Serve each connection on a thread of its own"
            );
        }
        panic!("cannot connect to the server ({error})");
    }

    /// Fails if `run` has ended (it must run until shutdown).
    fn assert_running(self) -> Running {
        if !self.thread.is_finished() {
            return self;
        }
        match finish(self.thread, WAIT) {
            Some(None) => panic!(
                "the accept loop itself stopped at the todo!() of a later step: serve each \
                 connection on a thread of its own (`connection::serve` there), not in the loop"
            ),
            other => panic!("run returned ({other:?}) before shutdown was triggered"),
        }
    }

    /// Triggers shutdown, expects `run` to return `Ok` and the port to be closed.
    fn stop(self, why: &str) {
        self.shutdown.trigger();
        match finish(self.thread, WAIT) {
            None => panic!(
                "run did not return within {WAIT:?} of ShutdownHandle::trigger ({why}): the \
                 trigger wakes `accept` with a connection (store the address with \
                 `wake_address`); then stop accepting, shut down the read side of every \
                 open connection, and wait for them"
            ),
            Some(None) => panic!(
                "the accept loop stopped at the todo!() of a later step: serve each \
                 connection on a thread of its own"
            ),
            Some(Some(result)) => result.expect("run failed"),
        }
        assert!(
            TcpStream::connect_timeout(&self.addr, WAIT).is_err(),
            "run returned, but {} still accepts connections: close the listener",
            self.addr
        );
    }
}

/// Whether `connection::serve` already answers a request (Steps 3-12 are written).
fn serves_requests(site: &Site) -> bool {
    let (client, server_end) = connected_pair();
    let root = site.root.clone();
    let serving = spawn("probe", move || {
        attempt(|| {
            let stopping = AtomicBool::new(false);
            let trace = Trace::new(false);
            let settings = Settings {
                root: &root,
                keep_alive: WAIT,
                stopping: &stopping,
                trace: &trace,
            };
            let peer = server_end.peer_addr().unwrap();
            connection::serve(server_end, peer, &settings)
        })
        .is_ok_and(|served| served.is_ok())
    });
    let mut client = Client::new(client);
    client.send(b"GET /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let _ = client.reader.read_to_end(&mut answer);
    drop(client); // its graceful close waits for ours
    finish(serving, WAIT).unwrap_or(false) && answer.starts_with(b"HTTP/1.1 200")
}

/// Step 2 accepts clients and hands each one on, and returns once shutdown is triggered,
/// with the listening socket closed. (Mistakes: never storing the wake-up address, so the
/// trigger cannot wake `accept`; not checking for shutdown after `accept`; serving
/// connections inside the accept loop.)
#[test]
fn step2_hands_clients_on_and_returns_when_shutdown_is_triggered() {
    let site = Site::standard();
    let server = running(&site, Duration::from_secs(30));
    for n in 1..=2 {
        // A client that connects and leaves: `serve` (or the todo!() of a step not
        // written yet) ends its connection.
        let mut client = server.connect();
        let _ = client.stream().shutdown(Shutdown::Write);
        client.expect_closed(
            WAIT,
            &format!(
                "client {n} connected and closed its side (a connection thread that stops at \
                 a todo!() must still deregister its connection: keep a `Registered` in it)"
            ),
            false,
        );
    }
    server.assert_running().stop("with no client connected");
}

/// Step 2 serves each connection on a thread of its own: while one client holds a
/// keep-alive connection open, another one is answered. Until `serve` answers requests
/// (Steps 3-12), this checks that connections are handed on while the loop goes on
/// accepting. (Mistake: serving each connection in the accept loop, which waits for the
/// first client to leave.)
#[test]
fn step2_serves_each_connection_on_a_thread_of_its_own() {
    let site = Site::standard();
    let answering = serves_requests(&site);
    let server = running(&site, Duration::from_secs(30));
    let mut first = server.connect();
    if answering {
        first.send(&get("/page.html", ""));
        first.reply("the first client's GET /page.html", false);
    }
    let mut second = server.connect();
    second.send(&get("/page.html", "Connection: close\r\n"));
    // Until `serve` answers, the second client is handed on and closed without an answer.
    if answering || !second.closed_without_answer() {
        let reply = second.reply(
            "a second client's GET /page.html while the first one's connection is open (is \
             each connection served on a thread of its own?)",
            false,
        );
        assert_eq!(reply.status, 200, "the second client's GET /page.html");
    }
    if answering {
        first.send(&get("/page.html", ""));
        first.reply(
            "the first client's second GET, on the same connection",
            false,
        );
    }
    let server = server.assert_running();
    drop((first, second));
    server.stop("after two clients");
}

/// Step 2's graceful shutdown: once triggered, new clients are refused, an idle
/// keep-alive connection is closed at once, a response being sent goes on to its last
/// byte, and `run` returns only after it. Until `serve` answers requests (Steps 3-12),
/// this checks only that `run` returns. (Mistakes: not shutting down the read side of idle
/// connections, so `run` waits for their keep-alive timeout; returning without waiting
/// for the connections; closing the listener only at the end.)
#[test]
fn step2_shuts_down_gracefully() {
    let site = Site::standard();
    if !serves_requests(&site) {
        let server = running(&site, Duration::from_secs(30));
        let mut client = server.connect();
        let _ = client.stream().shutdown(Shutdown::Write);
        client.expect_closed(WAIT, "a client connected and closed its side", false);
        server.stop("with no client connected");
        return;
    }
    // Larger than the socket buffers: while the client does not read, the server is
    // still sending it.
    let big = binary(16 << 20, 2);
    site.write("big.bin", &big);
    let server = running(&site, Duration::from_secs(30));
    let mut idle = server.connect();
    idle.send(&get("/page.html", ""));
    idle.reply("GET /page.html", false);
    let mut download = server.connect();
    download.send(&get("/big.bin", ""));
    let mut reply = download.reply("GET /big.bin (16 MiB)", true);

    server.shutdown.trigger();
    idle.expect_closed(
        WAIT,
        "shutdown was triggered while this keep-alive connection was idle (shut down the \
         read side of every open connection: its blocked read then returns 0)",
        false,
    );
    assert!(
        !server.thread.is_finished(),
        "run returned while a 16 MiB response was still being sent: wait until every \
         connection has finished"
    );
    assert!(
        TcpStream::connect_timeout(&server.addr, WAIT).is_err(),
        "shutdown has begun, but new clients are still accepted: close the listener first"
    );
    download.body(&mut reply, "GET /big.bin during shutdown");
    assert!(
        reply.body == big,
        "the download differs from the file after shutdown began"
    );
    download.expect_closed(WAIT, "the last response during shutdown", false);
    drop(download);
    match finish(server.thread, WAIT) {
        None => panic!("run did not return within {WAIT:?} after its last connection ended"),
        Some(result) => result.expect("reached a todo!()").expect("run failed"),
    }
}

// ---------------------------------------------------------------------------------------
// Steps 3-5: parsing a request head.

/// `request::parse` with the steps up to `step` written; `None` if it reached a later one.
type Parsed = Result<Option<(Request, usize)>, ParseError>;

fn parse(step: u32, bytes: &[u8]) -> Option<Parsed> {
    upto(step, || request::parse(bytes))
}

/// What `parse` gave, for a message.
fn outcome(got: &Option<Parsed>) -> String {
    match got {
        None => "the todo!() of a later step: it went on to parse the head".to_string(),
        Some(Ok(None)) => "Ok(None): need more bytes".to_string(),
        Some(Ok(Some((r, used)))) => format!(
            "a request ({} {} {:?}, {used} bytes used)",
            r.method, r.target, r.version
        ),
        Some(Err(e)) => format!("Err({e:?}), status {}", e.status()),
    }
}

/// Step 3 waits for the empty line that ends the head: any part of a head that has not
/// ended yet is "need more bytes" (`Ok(None)`), as are the empty lines a client may send
/// before a request. (Mistakes: parsing as soon as a line or a CRLF has arrived; taking
/// the empty lines before a request for the end of a head.)
#[test]
fn step3_waits_for_the_empty_line_that_ends_the_head() {
    let head = b"\r\n\r\nGET /index.html HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
    for cut in 0..head.len() {
        let part = &head[..cut];
        let got = parse(3, part);
        assert!(
            matches!(got, Some(Ok(None))),
            "`{}` is not a whole head yet: parse must return Ok(None), not {}",
            show(part),
            outcome(&got)
        );
    }
}

/// Step 3 enforces the limits on what has arrived so far: an endless request line is 414
/// and an endless head 431 before their ends arrive, or a client could make the server
/// buffer forever. (Mistakes: checking the limits only once the head is complete; 431 for
/// a long request line, or 414 for long headers.)
#[test]
fn step3_refuses_a_long_request_line_with_414_and_a_long_head_with_431() {
    let target = format!("/{}", "a".repeat(request::MAX_REQUEST_LINE));
    let headers = format!(
        "GET / HTTP/1.1\r\nHost: h\r\n{}",
        "X-Padding: 0123456789abcdef\r\n".repeat(request::MAX_HEAD / 20)
    );
    let cases = [
        (format!("GET {target}"), ParseError::UriTooLong),
        (
            format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n"),
            ParseError::UriTooLong,
        ),
        (headers.clone(), ParseError::HeadTooLarge),
        (format!("{headers}\r\n"), ParseError::HeadTooLarge),
    ];
    for (bytes, expected) in cases {
        let got = parse(3, bytes.as_bytes());
        assert!(
            matches!(&got, Some(Err(e)) if *e == expected),
            "`{}`: expected Err({expected:?}), got {}",
            show(bytes.as_bytes()),
            outcome(&got)
        );
    }
}

/// Step 3's limits count the head alone: a head under the limits is parsed even with a
/// large body or many pipelined requests behind it in the buffer. (Mistake: comparing the
/// buffer's length with `MAX_HEAD` or `MAX_REQUEST_LINE`.) Until Steps 4-5 are written,
/// reaching their `todo!()` shows that the head got past the limits.
#[test]
fn step3_limits_the_head_not_what_follows_it() {
    let cases = [
        format!(
            "GET /{} HTTP/1.1\r\nHost: h\r\n\r\n",
            "a".repeat(request::MAX_REQUEST_LINE - 100)
        ),
        format!(
            "GET / HTTP/1.1\r\nHost: h\r\n{}\r\n",
            "X-Padding: 0123456789abcdef\r\n".repeat(request::MAX_REQUEST_LINE / 20)
        ),
        format!(
            "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 40000\r\n\r\n{}",
            "x".repeat(40_000)
        ),
        format!(
            "GET /a HTTP/1.1\r\nHost: h\r\n\r\n{}",
            "GET /b HTTP/1.1\r\nHost: h\r\n\r\n".repeat(2_000)
        ),
    ];
    for bytes in &cases {
        let got = parse(3, bytes.as_bytes());
        assert!(
            matches!(got, None | Some(Ok(Some(_)))),
            "`{}` has a head within the limits: expected a request, got {}",
            show(bytes.as_bytes()),
            outcome(&got)
        );
    }
}

/// Step 3 says how many bytes the head used: the empty lines before it and the head with
/// its final CRLF, not the body or the next pipelined request. (Mistakes: returning the
/// buffer's length, which throws pipelined requests away; forgetting the final CRLF or the
/// skipped empty lines.) It needs a parsed request, so it is checked once Steps 4 and 5
/// are written; until then, reaching their `todo!()` is enough.
#[test]
fn step3_says_how_many_bytes_the_head_used() {
    let first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    let second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
    let third = "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    let buf = format!("\r\n{first}{second}body{third}");
    let Some(got) = parse(3, buf.as_bytes()) else {
        return; // Steps 4-5 are not written yet
    };
    let (request, used) = match got {
        Ok(Some(parsed)) => parsed,
        other => panic!(
            "`{}`: expected a request, got {other:?}",
            show(buf.as_bytes())
        ),
    };
    assert_eq!(request.target, "/a");
    assert_eq!(
        used,
        2 + first.len(),
        "`{}`: the head used the empty line before it and {} bytes; the rest is the next \
         request",
        show(buf.as_bytes()),
        first.len()
    );
    let rest = &buf.as_bytes()[used..];
    let (request, used) = request::parse(rest)
        .expect("the second request")
        .expect("the whole second head is there");
    assert_eq!(
        (request.target.as_str(), used),
        ("/b", second.len()),
        "`{}`: the head ends at its empty line; its body follows",
        show(rest)
    );
    let rest = &rest[used + 4..];
    let (request, used) = request::parse(rest)
        .expect("the third request")
        .expect("the whole third head is there");
    assert_eq!((request.target.as_str(), used), ("/c", third.len()));
}

/// Step 4 splits the request line into method, target and version: the target exactly as
/// sent (percent-encoded, with its query), any HTTP/1.x as 1.1, and any token as a method.
/// (Mistakes: decoding or cutting the target here; refusing an unknown method, which
/// Step 9 answers with 501; refusing HTTP/1.2.) The request comes back only once Step 5
/// is written; until then, reaching Step 5's `todo!()` shows the line was accepted.
#[test]
fn step4_splits_method_target_and_version() {
    let cases = [
        (
            "GET /a%20b/c.html?x=1&y=%2F HTTP/1.1",
            "GET",
            "/a%20b/c.html?x=1&y=%2F",
            Version::Http11,
        ),
        (
            "HEAD http://example.org/x HTTP/1.0",
            "HEAD",
            "http://example.org/x",
            Version::Http10,
        ),
        ("BREW /pot HTTP/1.1", "BREW", "/pot", Version::Http11),
        ("OPTIONS * HTTP/1.1", "OPTIONS", "*", Version::Http11),
        ("GET / HTTP/1.2", "GET", "/", Version::Http11),
    ];
    for (line, method, target, version) in cases {
        let head = format!("{line}\r\nHost: h\r\n\r\n");
        match parse(4, head.as_bytes()) {
            None => {} // Step 5 is not written yet: the line was accepted
            Some(Ok(Some((r, _)))) => assert_eq!(
                (r.method.as_str(), r.target.as_str(), r.version),
                (method, target, version),
                "`{line}`: method, target and version"
            ),
            other => panic!(
                "`{line}` is a valid request line; parse gave {}",
                outcome(&other)
            ),
        }
    }
}

/// Step 4 refuses a request line that is not `METHOD SP TARGET SP HTTP/x.y` with 400: one
/// space between the parts, a method made of token characters, a target of visible ASCII,
/// and the version in capitals. (Mistakes: `split_whitespace`, which accepts two spaces or
/// a tab; accepting a target with a space, a control character or UTF-8 in it; comparing
/// the version ignoring case.)
#[test]
fn step4_refuses_malformed_request_lines_with_400() {
    let lines: &[&[u8]] = &[
        b"GET /",
        b"GET  / HTTP/1.1",
        b"GET\t/ HTTP/1.1",
        b"GET / HTTP/1.1 extra",
        b" / HTTP/1.1",
        b"G(T / HTTP/1.1",
        b"GET /a b HTTP/1.1",
        b"GET /a\x7fb HTTP/1.1",
        b"GET /caf\xc3\xa9 HTTP/1.1",
        b"GET / http/1.1",
        b"GET / HTTP/1",
        b"GET / HTTP/1.1x",
        b"GET / HTTX/1.1",
    ];
    for line in lines {
        let head = [*line, b"\r\nHost: h\r\n\r\n"].concat();
        let got = parse(4, &head);
        assert!(
            matches!(&got, Some(Err(e)) if e.status() == 400),
            "`{}` is not a valid request line: expected a 400 error, got {}",
            show(line),
            outcome(&got)
        );
    }
}

/// Step 4 answers a well-formed version other than 1.x with 505 (not 400, and not as if it
/// were 1.1). (Mistake: one error for every version but 1.0 and 1.1.)
#[test]
fn step4_answers_other_http_versions_with_505() {
    for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9"] {
        let head = format!("GET / {version}\r\nHost: h\r\n\r\n");
        let got = parse(4, head.as_bytes());
        assert!(
            matches!(got, Some(Err(ParseError::VersionNotSupported))),
            "`GET / {version}`: expected Err(VersionNotSupported) (505), got {}",
            outcome(&got)
        );
    }
}

/// `request::parse` of a head that must be valid.
fn request_of(head: &[u8]) -> Request {
    match parse(5, head) {
        Some(Ok(Some((request, used)))) => {
            assert_eq!(used, head.len(), "`{}`: bytes used", show(head));
            request
        }
        other => panic!(
            "`{}` is a valid head; parse gave {}",
            show(head),
            outcome(&other)
        ),
    }
}

/// `request::parse` of a head that must be refused with `status`.
fn assert_refused(head: &[u8], status: u16, why: &str) {
    let got = parse(5, head);
    assert!(
        matches!(&got, Some(Err(e)) if e.status() == status),
        "`{}` ({why}): expected a {status} error, got {}",
        show(head),
        outcome(&got)
    );
}

/// Step 5 reads a header line as `name ":" value`: the name as sent, the value without
/// the spaces and tabs around it, a colon inside the value kept. (Mistakes: splitting at
/// ": " or at every colon; trimming spaces but not tabs; lowercasing the name.)
#[test]
fn step5_reads_header_names_and_values() {
    let head = b"GET / HTTP/1.1\r\nHost:example.org:8080\r\n\
        User-Agent: \t curl/8.5 (x86_64)\t \r\nReferer: http://a/b?c=d\r\n\
        X-Empty:\r\nX-Blank:   \r\n\r\n";
    let request = request_of(head);
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("Host", "example.org:8080"),
            ("User-Agent", "curl/8.5 (x86_64)"),
            ("Referer", "http://a/b?c=d"),
            ("X-Empty", ""),
            ("X-Blank", ""),
        ],
        "the headers of `{}`",
        show(head)
    );
}

/// Step 5 refuses, with 400, header lines that two parsers could read differently (the
/// stuff of request smuggling): whitespace before the colon, a folded line, no colon, a
/// name that is not a token, control characters in a value. (Mistake: trimming the name,
/// which reads `Host : h` as a Host header.)
#[test]
fn step5_refuses_whitespace_before_the_colon_and_folded_lines_with_400() {
    let lines: &[&[u8]] = &[
        b"X-Bad : v",
        b"X-Bad\t: v",
        b" folded",
        b"\tfolded",
        b" X-Folded: v",
        b"NoColonHere",
        b": no name",
        b"X(Bad): v",
        b"X-Bad: a\x01b",
        b"X-Bad: a\x7fb",
    ];
    for line in lines {
        let head = [b"GET / HTTP/1.1\r\nHost: h\r\n", *line, b"\r\n\r\n"].concat();
        assert_refused(&head, 400, &format!("the header line `{}`", show(line)));
    }
}

/// Step 5: an HTTP/1.1 request carries exactly one Host header, whatever the case of its
/// name; HTTP/1.0 needs none. (Mistakes: no check at all; finding `host` anywhere in a
/// name; a case-sensitive `Host`; requiring it in HTTP/1.0.)
#[test]
fn step5_requires_exactly_one_host_in_http_1_1() {
    request_of(b"GET / HTTP/1.1\r\nhost: h\r\n\r\n");
    request_of(b"GET / HTTP/1.0\r\n\r\n");
    request_of(b"GET / HTTP/1.0\r\nHost: h\r\n\r\n");
    assert_refused(b"GET / HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 without Host");
    assert_refused(
        b"GET / HTTP/1.1\r\nX-Host: h\r\n\r\n",
        400,
        "HTTP/1.1 without Host",
    );
    assert_refused(
        b"GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n",
        400,
        "two Host headers",
    );
}

/// Step 5 records `Content-Length` as the body's length, refuses one that is not a plain
/// number or two that disagree (400), and answers `Transfer-Encoding` with 501. (Mistakes:
/// `str::parse`, which takes `+5`; ignoring a second, different length; reading a chunked
/// body as no body.)
#[test]
fn step5_records_the_body_length_and_refuses_unclear_framing() {
    for (header, len) in [
        ("", 0),
        ("Content-Length: 5\r\n", 5),
        ("content-length: 0\r\n", 0),
        ("Content-Length:  1234567 \r\n", 1_234_567),
    ] {
        let head = format!("POST /x HTTP/1.1\r\nHost: h\r\n{header}\r\n");
        assert_eq!(
            request_of(head.as_bytes()).body_len,
            len,
            "body_len of `{}`",
            show(head.as_bytes())
        );
    }
    for header in [
        "Content-Length: x",
        "Content-Length: -1",
        "Content-Length: +5",
        "Content-Length: 5 5",
        "Content-Length: ",
        "Content-Length: 99999999999999999999999",
        "Content-Length: 5\r\nContent-Length: 6",
    ] {
        let head = format!("POST /x HTTP/1.1\r\nHost: h\r\n{header}\r\n\r\n");
        assert_refused(head.as_bytes(), 400, "the body's length is not clear");
    }
    assert_refused(
        b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        501,
        "Transfer-Encoding is not implemented",
    );
}

// ---------------------------------------------------------------------------------------
// Steps 6-8: files.

/// Step 6's decoding: each `%XX` (hex digits in either case) becomes the byte it encodes,
/// so a multi-byte character stays its bytes, and `+` stays `+`; a `%` without two hex
/// digits after it makes the whole path invalid (`None`). (Mistakes: pushing each byte as
/// a `char`, which turns a byte above 127 into two; decoding `+` as a space, as forms do;
/// leaving a bad escape as it is; `from_str_radix`, which takes `%+1`.)
#[test]
fn step6_percent_decodes_paths() {
    let good: &[(&str, &[u8])] = &[
        ("/plain/path.txt", b"/plain/path.txt"),
        ("/a%20b", b"/a b"),
        ("%41%62%63", b"Abc"),
        ("%2e%2E%2f", b"../"),
        ("/caf%C3%A9", b"/caf\xc3\xa9"),
        ("%ff%00", b"\xff\x00"),
        ("a+b", b"a+b"),
        ("", b""),
    ];
    for (encoded, decoded) in good {
        let got = files::percent_decode(encoded);
        assert!(
            got.as_deref() == Some(*decoded),
            "percent_decode({encoded:?}): expected `{}`, got {:?}",
            show(decoded),
            got.as_deref().map(show)
        );
    }
    for bad in ["%", "%2", "%zz", "%g0", "/a%2", "100%", "%%41", "%+1"] {
        let got = files::percent_decode(bad);
        assert!(
            got.is_none(),
            "percent_decode({bad:?}): a `%` needs two hex digits after it; expected None, \
             got {:?}",
            got.as_deref().map(show)
        );
    }
}

fn resolve(site: &Site, target: &str) -> Result<Target, Refusal> {
    files::resolve(&site.root, target)
}

/// Step 6 refuses `..` after decoding: `%2e` is a dot and `%2f` a slash too, and any path
/// with a `..` segment is 403, even one that would stay inside the root. A name that only
/// contains two dots is a name. (Mistakes: checking before decoding, which lets
/// `/sub/%2e%2e/page.html` through; refusing every `..` in the text.)
#[test]
fn step6_refuses_dot_dot_segments_after_decoding() {
    let site = Site::standard();
    let two_dots = site.write("v1..2.txt", b"a version\n");
    for target in [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/.%2e/secret.txt",
        "http://example.org/../secret.txt",
        "/sub/..",
        "/sub/../page.html",
        "/sub/%2e%2e/page.html",
    ] {
        assert_eq!(
            resolve(&site, target),
            Err(Refusal::Forbidden),
            "`{target}` has a `..` segment once decoded"
        );
    }
    assert_eq!(
        resolve(&site, "/v1..2.txt"),
        Ok(Target::File(two_dots)),
        "`v1..2.txt` is a name, not a `..` segment"
    );
}

/// Step 6 maps a target to what is below the root: the path percent-decoded, without its
/// query or fragment, also from an absolute-form target; a directory with its slash is a
/// `Directory`, without it `AddSlash` (keeping the path as sent); nothing there, or a path
/// below a file, is 404; no leading slash, a bad escape or a NUL is 400. (Mistakes: looking
/// the name up still encoded; keeping the query; decoding the path in `AddSlash`.)
#[test]
fn step6_maps_targets_below_the_root() {
    let site = Site::standard();
    let file = site.write("my file.txt", b"spaces\n");
    fs::create_dir_all(site.root.join("my dir")).unwrap();
    let root = &site.root;
    let cases = [
        ("/my%20file.txt", Ok(Target::File(file.clone()))),
        ("/my%20file.txt?v=2&x=%2F", Ok(Target::File(file.clone()))),
        ("/%6Dy%20file.txt#top", Ok(Target::File(file.clone()))),
        (
            "http://example.org:8080/sub/index.html",
            Ok(Target::File(root.join("sub/index.html"))),
        ),
        ("/", Ok(Target::Directory(root.clone()))),
        ("/sub/?x=1", Ok(Target::Directory(root.join("sub")))),
        ("http://example.org", Ok(Target::Directory(root.clone()))),
        ("/sub", Ok(Target::AddSlash("/sub/".into()))),
        ("/my%20dir", Ok(Target::AddSlash("/my%20dir/".into()))),
        ("/missing.txt", Err(Refusal::NotFound)),
        ("/sub/missing/", Err(Refusal::NotFound)),
        ("index.html", Err(Refusal::BadRequest)),
        ("/a%00b", Err(Refusal::BadRequest)),
        ("/%zz", Err(Refusal::BadRequest)),
    ];
    for (target, expected) in cases {
        assert_eq!(
            resolve(&site, target),
            expected,
            "resolve(root, {target:?})"
        );
    }
    let below_a_file = resolve(&site, "/my%20file.txt/more");
    assert!(
        matches!(below_a_file, Err(Refusal::NotFound | Refusal::Forbidden)),
        "`/my%20file.txt/more` is below a file: expected 404 (or 403), got {below_a_file:?}"
    );
}

/// Step 6 refuses (403) what a symbolic link in the root leads out of it, and follows
/// links that stay inside. (Mistake: checking only the path's text, which serves whatever
/// a link to `/etc` leads to.)
#[test]
fn step6_refuses_symbolic_links_that_lead_out_of_the_root() {
    let site = Site::standard();
    symlink(site.dir.join("secret.txt"), site.root.join("leak.txt")).unwrap();
    symlink(&site.dir, site.root.join("up")).unwrap();
    symlink("sub/index.html", site.root.join("alias.html")).unwrap();
    for target in ["/leak.txt", "/up/secret.txt", "/up/"] {
        assert_eq!(
            resolve(&site, target),
            Err(Refusal::Forbidden),
            "`{target}` leads out of the root through a symbolic link"
        );
    }
    let inside = resolve(&site, "/alias.html");
    assert!(
        matches!(&inside, Ok(Target::File(p))
            if *p == site.root.join("alias.html") || *p == site.root.join("sub/index.html")),
        "`/alias.html` is a link to a file inside the root: expected that file, got {inside:?}"
    );
}

/// Step 7 maps the extensions of the handout to their media types, and anything else to
/// `application/octet-stream`. (Mistakes: `image/jpg`; looking for `.html` anywhere in the
/// name; `text/plain` for unknown files.)
#[test]
fn step7_chooses_the_content_type_from_the_extension() {
    let cases: &[(&str, &[&str])] = &[
        ("index.html", &["text/html"]),
        ("css/site.css", &["text/css"]),
        ("app.js", &["text/javascript", "application/javascript"]),
        ("data.json", &["application/json"]),
        ("notes.txt", &["text/plain"]),
        ("logo.png", &["image/png"]),
        ("photo.jpg", &["image/jpeg"]),
        ("anim.gif", &["image/gif"]),
        ("icon.svg", &["image/svg+xml"]),
        ("favicon.ico", &["image/x-icon", "image/vnd.microsoft.icon"]),
        ("paper.pdf", &["application/pdf"]),
        ("module.wasm", &["application/wasm"]),
        ("archive.tar.gz", &["application/octet-stream"]),
        ("README", &["application/octet-stream"]),
        ("notes.html.bak", &["application/octet-stream"]),
    ];
    for (name, accepted) in cases {
        let got = files::content_type(Path::new(name));
        let media_type = got
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        assert!(
            accepted.contains(&media_type.as_str()),
            "content_type({name:?}) = {got:?}; expected {}",
            accepted.join(" or ")
        );
    }
}

/// The `href`s of an HTML page, with `&amp;` undone.
fn links(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['"', '\''] {
        let mark = format!("href={quote}");
        for (at, _) in page.match_indices(&mark) {
            let rest = &page[at + mark.len()..];
            if let Some(end) = rest.find(quote) {
                out.push(rest[..end].replace("&amp;", "&"));
            }
        }
    }
    out
}

/// A URL path with its `%XX` escapes decoded (the test's own decoder, not Step 6's).
fn decoded(path: &str) -> Vec<u8> {
    let b = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if b[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// Step 8 lists a directory: a link to each entry that leads to it from the directory's
/// URL (names percent-encoded, so that spaces, `#` and `&` survive), a `/` after each
/// subdirectory, and names shown HTML-escaped. (Mistakes: raw names in links, which cut
/// `notes #1.txt` at the `#`; no slash after a directory; `<` shown unescaped.)
#[test]
fn step8_lists_a_directory_with_a_working_link_to_each_entry() {
    let site = Site::standard();
    let dir = site.root.join("list");
    fs::write(dir.join("x&y.txt"), b"and\n").unwrap();
    fs::write(dir.join("<i>.txt"), b"angle\n").unwrap();
    let page = files::listing(&dir, "/list/").expect("list a readable directory");
    let resolved: Vec<(String, Vec<u8>)> = links(&page)
        .into_iter()
        .map(|href| {
            let full = if href.starts_with('/') {
                href.clone()
            } else {
                format!("/list/{href}")
            };
            (href, decoded(&full))
        })
        .collect();
    for entry in [
        "a file.txt",
        "notes #1.txt",
        "x&y.txt",
        "<i>.txt",
        "deeper/",
    ] {
        let wanted = format!("/list/{entry}").into_bytes();
        let link = resolved.iter().find(|(_, path)| *path == wanted);
        let Some((href, _)) = link else {
            panic!("no link leads to `{entry}` from /list/; the links are {resolved:?}\n{page}");
        };
        assert!(
            !href.contains([' ', '#', '?', '<', '>', '"']),
            "the link to `{entry}` is `{href}`: percent-encode names in links"
        );
    }
    assert!(
        !page.contains("<i>"),
        "the name `<i>.txt` is shown as HTML: escape names in the page\n{page}"
    );
    assert!(
        files::listing(&site.root.join("missing"), "/missing/").is_err(),
        "listing a directory that does not exist must be an error"
    );
}

// ---------------------------------------------------------------------------------------
// Steps 9-10: responses, built without a network.

fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> Request {
    let mut all = vec![("Host".to_string(), "example".to_string())];
    all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    Request {
        method: method.into(),
        target: target.into(),
        version: Version::Http11,
        headers: all,
        body_len: 0,
    }
}

/// `handler::respond`, with the steps up to `step` written; `None` if it reached a later one.
fn respond(step: u32, site: &Site, request: &Request) -> Option<Response> {
    upto(step, || handler::respond(request, &site.root))
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The bytes a body stands for.
fn body_bytes(body: &Body) -> Vec<u8> {
    match body {
        Body::Empty => Vec::new(),
        Body::Bytes(bytes) => bytes.clone(),
        Body::File { file, start, len } => {
            let mut bytes = vec![0; *len as usize];
            file.read_exact_at(&mut bytes, *start)
                .expect("the body's file has `len` bytes from `start`");
            bytes
        }
    }
}

/// Step 9 serves GET and HEAD only: a method that exists is 405 with an `Allow` header
/// listing GET and HEAD, any other 501. Methods are case-sensitive. (Mistakes: serving
/// POST like GET; 405 without `Allow`; comparing methods ignoring case.)
#[test]
fn step9_answers_other_methods_with_405_or_501() {
    let site = Site::standard();
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let Some(r) = respond(9, &site, &request(method, "/page.html", &[])) else {
            panic!("{method} /page.html reached serve_file: only GET and HEAD serve files");
        };
        assert_eq!(r.status, 405, "{method} /page.html");
        let allow = header(&r, "Allow").unwrap_or("");
        assert!(
            allow.contains("GET") && allow.contains("HEAD"),
            "a 405 says which methods are allowed: `Allow: GET, HEAD` (got {allow:?})"
        );
    }
    for method in ["BREW", "get"] {
        let Some(r) = respond(9, &site, &request(method, "/page.html", &[])) else {
            panic!("{method} /page.html reached serve_file: methods are case-sensitive");
        };
        assert_eq!(
            r.status, 501,
            "{method} /page.html: a method we do not know"
        );
    }
}

/// Step 9 answers what `files::resolve` refuses with its status, and a directory without
/// its slash with 301 and a `Location` with the slash. (Mistakes: 404 for every refusal;
/// 302, or a 301 without `Location`.)
#[test]
fn step9_answers_refusals_and_redirects_directories() {
    let site = Site::standard();
    for (method, target, status) in [
        ("GET", "/missing.html", 404),
        ("HEAD", "/missing.html", 404),
        ("GET", "/../secret.txt", 403),
        ("GET", "/%2e%2e/secret.txt", 403),
        ("GET", "/a%00b", 400),
        ("GET", "/%zz", 400),
        ("GET", "/sub", 301),
        ("HEAD", "/sub?x=1", 301),
    ] {
        let Some(r) = respond(9, &site, &request(method, target, &[])) else {
            panic!("{method} {target} reached serve_file; it is not a file to serve");
        };
        assert_eq!(r.status, status, "{method} {target}");
        if status == 301 {
            assert_eq!(
                header(&r, "Location"),
                Some("/sub/"),
                "{method} {target}: the Location of the redirect"
            );
        }
    }
}

/// Step 9 serves a directory requested with its slash: its `index.html` if it has one,
/// else a listing (200, `text/html`). Files go to `serve_file` (Step 10): until it is
/// written, reaching its `todo!()` for a file or an index shows that Step 9 handed them
/// on; after, the body must be the file's. (Mistakes: a listing for a directory that has
/// an index; a listing without a Content-Type.)
#[test]
fn step9_serves_files_and_an_index_or_a_listing_for_directories() {
    let site = Site::standard();
    site.write("index.html", PAGE);
    let Some(listing) = respond(9, &site, &request("GET", "/list/", &[])) else {
        panic!("GET /list/ (a directory without index.html) reached serve_file: list it");
    };
    assert_eq!(
        listing.status, 200,
        "GET /list/ (a directory without index.html)"
    );
    let content_type = header(&listing, "Content-Type").unwrap_or("");
    assert!(
        content_type.starts_with("text/html"),
        "GET /list/: a listing is text/html (Content-Type {content_type:?})"
    );
    let page = String::from_utf8_lossy(&body_bytes(&listing.body)).into_owned();
    assert!(
        page.contains("deeper"),
        "GET /list/: the listing names the entries\n{page}"
    );
    for (target, content) in [("/sub/", INDEX), ("/", PAGE), ("/page.html", PAGE)] {
        let Some(r) = respond(9, &site, &request("GET", target, &[])) else {
            continue; // handed to serve_file, which is not written yet
        };
        assert_eq!(r.status, 200, "GET {target}");
        assert!(
            body_bytes(&r.body) == content,
            "GET {target}: expected the body `{}`, got `{}`",
            show(content),
            show(&body_bytes(&r.body))
        );
    }
}

/// A file with a modification time that has a fraction of a second, as real ones do.
fn file_with_mtime(site: &Site, name: &str, bytes: &[u8]) -> SystemTime {
    let path = site.write(name, bytes);
    let mtime = UNIX_EPOCH + Duration::from_millis(1_700_000_000_600);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Step 10 serves a file: 200, its exact bytes (the body says how many, which becomes
/// Content-Length), the Content-Type of Step 7 and `Last-Modified`; for HEAD the same
/// response (the connection leaves the body out). (Mistakes: reading the file as text,
/// which changes non-UTF-8 bytes and the length with them; no Last-Modified.)
#[test]
fn step10_serves_a_file_with_its_length_type_and_last_modified() {
    let site = Site::empty();
    let bytes = binary(3000, 3);
    let modified = file_with_mtime(&site, "data.png", &bytes);
    for method in ["GET", "HEAD"] {
        let r = respond(10, &site, &request(method, "/data.png", &[])).unwrap();
        assert_eq!(r.status, 200, "{method} /data.png");
        assert_eq!(
            r.body.len(),
            3000,
            "{method} /data.png: the body's length (Content-Length) counts bytes"
        );
        assert!(
            body_bytes(&r.body) == bytes,
            "{method} /data.png: the body is not the file's bytes (read files as bytes, \
             never as text)"
        );
        let content_type = header(&r, "Content-Type").unwrap_or("");
        assert!(
            content_type.starts_with("image/png"),
            "{method} /data.png: Content-Type {content_type:?}"
        );
        assert_eq!(
            header(&r, "Last-Modified"),
            Some(date::format(modified).as_str()),
            "{method} /data.png: Last-Modified is the file's modification time"
        );
        assert_eq!(header(&r, "Content-Range"), None, "no Range was asked for");
    }
}

/// Step 10 answers `If-Modified-Since` with 304 when the file is not newer than that date
/// at the precision of HTTP dates (whole seconds): the file's own Last-Modified gives 304.
/// An older date, or one that is not a date, gets the file. (Mistakes: comparing with the
/// file's time to the nanosecond, so that its own Last-Modified never gives 304; `<`
/// where `<=` is meant; 304 for an unreadable date.)
#[test]
fn step10_answers_if_modified_since_with_304_when_unchanged() {
    let site = Site::empty();
    let modified = file_with_mtime(&site, "page.html", PAGE);
    let last_modified = date::format(modified);
    let later = date::format(modified + Duration::from_secs(86_400));
    for (since, status) in [
        (last_modified.as_str(), 304),
        (later.as_str(), 304),
        ("Sat, 01 Jan 2000 00:00:00 GMT", 200),
        ("yesterday", 200),
    ] {
        let r = respond(
            10,
            &site,
            &request("GET", "/page.html", &[("If-Modified-Since", since)]),
        )
        .unwrap();
        assert_eq!(
            r.status, status,
            "GET /page.html with If-Modified-Since: {since} (Last-Modified: {last_modified})"
        );
    }
}

/// `Range: spec` for a file of 1000 bytes.
fn ranged(site: &Site, spec: &str) -> Response {
    respond(10, site, &request("GET", "/data.bin", &[("Range", spec)])).unwrap()
}

/// Step 10 serves a single byte range with 206, `Content-Range` and exactly those bytes:
/// `a-b` includes byte b, `a-` runs to the end, `-n` is the last n bytes, and an end past
/// the file stops at its end. (Mistakes: an end off by one; `-n` read as `0-n`; an
/// overflow for a suffix longer than the file.)
#[test]
fn step10_serves_a_single_range_with_206() {
    let site = Site::empty();
    let bytes = binary(1000, 4);
    site.write("data.bin", &bytes);
    for (spec, first, last) in [
        ("bytes=0-9", 0, 9),
        ("bytes=5-5", 5, 5),
        ("bytes=990-", 990, 999),
        ("bytes=-10", 990, 999),
        ("bytes=-5000", 0, 999),
        ("bytes=900-5000", 900, 999),
        ("bytes=999-999", 999, 999),
    ] {
        let r = ranged(&site, spec);
        assert_eq!(r.status, 206, "Range: {spec} of a 1000-byte file");
        assert_eq!(
            header(&r, "Content-Range"),
            Some(format!("bytes {first}-{last}/1000").as_str()),
            "Range: {spec} of a 1000-byte file"
        );
        assert!(
            body_bytes(&r.body) == bytes[first..=last],
            "Range: {spec}: the body must be bytes {first} to {last} (both included), {} bytes",
            last - first + 1
        );
    }
}

/// Step 10 answers a range that starts past the end (or asks for the last 0 bytes) with
/// 416 and `Content-Range: bytes */size`, and ignores a range it does not serve (several
/// ranges, another unit, an end before the start, no numbers): the whole file, 200.
/// (Mistakes: 416 without Content-Range; 206 with nothing; a panic on `5-2`.)
#[test]
fn step10_refuses_unsatisfiable_ranges_with_416_and_ignores_others() {
    let site = Site::empty();
    let bytes = binary(1000, 5);
    site.write("data.bin", &bytes);
    for spec in ["bytes=1000-", "bytes=1000-1010", "bytes=5000-", "bytes=-0"] {
        let r = ranged(&site, spec);
        assert_eq!(r.status, 416, "Range: {spec} of a 1000-byte file");
        assert_eq!(
            header(&r, "Content-Range"),
            Some("bytes */1000"),
            "Range: {spec}: a 416 says the size"
        );
    }
    for spec in [
        "bytes=0-1,5-6",
        "items=0-1",
        "bytes=5-2",
        "bytes=a-b",
        "bytes=",
    ] {
        let r = ranged(&site, spec);
        assert_eq!(
            r.status, 200,
            "Range: {spec} is not a range we serve: send the whole file"
        );
        assert!(
            body_bytes(&r.body) == bytes,
            "Range: {spec}: the whole file"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Steps 11-12: a connection, over a real socket pair.

/// A connected pair: (the client's end, the server's end).
fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test listener");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server_end, _) = listener.accept().expect("accept");
    (client, server_end)
}

type Serving = JoinHandle<Option<io::Result<()>>>;

/// `connection::serve` on the server's end of a fresh connection, on a thread of ours;
/// the thread gives `None` if `serve` reached the `todo!()` of a step after `step`.
fn serving(site: &Site, keep_alive: Duration, step: u32) -> (Client, Serving) {
    let (client, server_end) = connected_pair();
    let root = site.root.clone();
    let thread = spawn("serve", move || {
        let stopping = AtomicBool::new(false);
        let trace = Trace::new(false);
        let settings = Settings {
            root: &root,
            keep_alive,
            stopping: &stopping,
            trace: &trace,
        };
        let peer = server_end.peer_addr().unwrap();
        upto(step, || connection::serve(server_end, peer, &settings))
    });
    (Client::new(client), thread)
}

fn get(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: example\r\n{headers}\r\n").into_bytes()
}

/// A response as it crossed the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> Option<usize> {
        self.header("Content-Length")?.parse().ok()
    }
}

/// The client's end of a connection, with a read timeout.
struct Client {
    reader: BufReader<TcpStream>,
    /// Pause after each read of a body: a client slower than the server keeps the
    /// server's send buffer full.
    paced: bool,
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl Client {
    fn new(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            reader: BufReader::with_capacity(64 * 1024, stream),
            paced: false,
        }
    }

    fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    fn send(&mut self, bytes: &[u8]) {
        self.reader
            .get_mut()
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("sending `{}`: {e}", show(bytes)));
    }

    /// Reads a response's head; its body too unless `head_only` (HEAD, or read later).
    fn reply(&mut self, to: &str, head_only: bool) -> Reply {
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            let read = self.reader.read_until(b'\n', &mut line);
            head.extend_from_slice(&line);
            match read {
                Ok(_) if line.ends_with(b"\n") => {}
                Ok(_) => panic!(
                    "the connection closed before a whole response to {to}; received `{}`",
                    show(&head)
                ),
                Err(e) if timed_out(&e) => panic!(
                    "no whole response to {to} within {WAIT:?}; received `{}`",
                    show(&head)
                ),
                Err(e) => panic!(
                    "reading the response to {to}: {e}; received `{}`",
                    show(&head)
                ),
            }
            assert!(
                line.ends_with(b"\r\n"),
                "a line of the response to {to} ends in a bare LF: `{}`",
                show(&head)
            );
            if line == b"\r\n" {
                break;
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("the response to {to} starts `{status_line}`"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_string(), v.trim().to_string()))
            .collect();
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only {
            self.body(&mut reply, to);
        }
        reply
    }

    /// Reads the body that the head of `reply` announced.
    fn body(&mut self, reply: &mut Reply, to: &str) {
        if reply.status == 304 {
            return;
        }
        let len = reply
            .content_length()
            .unwrap_or_else(|| panic!("the response to {to} has no Content-Length: {reply:?}"));
        let mut body = vec![0; len];
        let mut got = 0;
        while got < len {
            if self.paced {
                thread::sleep(Duration::from_millis(1)); // pacing, not a wait
            }
            let end = len.min(got + 64 * 1024);
            match self.reader.read(&mut body[got..end]) {
                Ok(0) => panic!(
                    "the connection closed after {got} of the {len} body bytes of the response \
                     to {to}"
                ),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!(
                    "reading the body of the response to {to}: {e} after {got} of {len} bytes"
                ),
            }
        }
        reply.body = body;
    }

    /// Expects the server to close the connection within `within`, sending nothing more;
    /// `strict`: a reset counts as a failure.
    fn expect_closed(&mut self, within: Duration, after: &str, strict: bool) {
        self.stream().set_read_timeout(Some(within)).unwrap();
        let mut byte = [0; 256];
        match self.reader.read(&mut byte) {
            Ok(0) => {}
            Ok(n) => panic!(
                "after {after}, more bytes came instead of the close: `{}`",
                show(&byte[..n])
            ),
            Err(e) if timed_out(&e) => {
                panic!("after {after}, the connection was still open {within:?} later")
            }
            Err(e) if strict => panic!("after {after}, the connection was reset ({e})"),
            Err(_) => {}
        }
        self.stream().set_read_timeout(Some(WAIT)).unwrap();
    }

    /// Whether the server closed (or reset) the connection before sending anything.
    fn closed_without_answer(&mut self) -> bool {
        match self.reader.fill_buf() {
            Ok(bytes) => bytes.is_empty(),
            Err(e) => !timed_out(&e),
        }
    }

    /// Expects the connection to stay open: another request on it is answered.
    fn expect_open(&mut self, after: &str) {
        self.send(&get("/empty.txt", ""));
        let reply = self.reply(&format!("GET /empty.txt sent after {after}"), false);
        assert_eq!(reply.status, 200, "GET /empty.txt after {after}");
    }
}

/// Expects `serve` to have ended (or to end within `within`) without an error.
fn assert_served(serving: Serving, within: Duration, what: &str) {
    match finish(serving, within) {
        None => panic!("serve did not return within {within:?} after {what}"),
        Some(None) => {}
        Some(Some(result)) => result.unwrap_or_else(|e| panic!("serve failed after {what}: {e}")),
    }
}

/// Step 11 returns when the client closes without a request: a read of 0 bytes is the
/// end of the stream. (Mistakes: reading again after 0, which spins forever; answering a
/// client that has gone; reporting the normal end as an error.)
#[test]
fn step11_returns_when_the_client_closes() {
    let site = Site::standard();
    let (client, serving) = serving(&site, Duration::from_secs(30), 11);
    drop(client);
    match finish(serving, WAIT) {
        None => panic!(
            "serve did not return within {WAIT:?} after the client closed: a read that returns \
             0 bytes means the client has closed"
        ),
        Some(None) => {
            panic!("the client closed without a request, and serve went on to write a response")
        }
        Some(Some(result)) => result.unwrap_or_else(|e| {
            panic!(
                "serve failed ({e}) when the client closed: that is the normal end, not an error"
            )
        }),
    }
}

/// Step 11 closes a keep-alive connection that stays idle for the keep-alive timeout, and
/// not before. (Mistakes: no timeout, which holds a thread forever; a read timeout of 0,
/// which fails at once.)
#[test]
fn step11_closes_an_idle_connection_after_the_keep_alive_timeout() {
    let site = Site::standard();
    let keep_alive = Duration::from_millis(300);
    let started = Instant::now();
    let (mut client, serving) = serving(&site, keep_alive, 11);
    let mut got = Vec::new();
    client
        .stream()
        .set_read_timeout(Some(keep_alive + WAIT))
        .unwrap();
    match client.reader.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if timed_out(&e) => panic!(
            "an idle connection was still open {:?} after it opened, with a keep-alive \
             timeout of {keep_alive:?}",
            started.elapsed()
        ),
        Err(_) => {} // a reset is a close too
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed + Duration::from_millis(50) >= keep_alive,
        "an idle connection was closed after {elapsed:?}, before its keep-alive timeout of \
         {keep_alive:?}"
    );
    // Ok, an error, or a 408 (through Step 12): all end the connection.
    assert_served_or_failed(serving);
}

/// Step 11 puts a deadline on the whole head: a client that sends one byte at a time, each
/// well within the keep-alive timeout, is cut off (a 408 first is fine) when the timeout
/// has passed since it started. (Mistake: a timeout per read, which every byte restarts:
/// the Slowloris attack holds the connection forever.)
#[test]
fn step11_cuts_off_a_request_head_that_trickles_in() {
    let site = Site::standard();
    let keep_alive = Duration::from_millis(500);
    let (mut client, serving) = serving(&site, keep_alive, 11);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = client.stream().try_clone().unwrap();
    let trickle = {
        let stop = Arc::clone(&stop);
        spawn("trickle", move || {
            let _ = writer.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            // One byte every 50 ms (this paces the client; it is not a wait), for 10 s.
            for _ in 0..200 {
                if stop.load(Ordering::SeqCst) || writer.write_all(b"z").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let started = Instant::now();
    let within = keep_alive + Duration::from_secs(3);
    client.stream().set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let closed = match client.reader.read_to_end(&mut got) {
        Ok(_) => true,
        Err(e) => !timed_out(&e),
    };
    stop.store(true, Ordering::SeqCst);
    assert!(
        closed,
        "a client sending its head one byte every 50 ms was still connected {:?} later, with \
         a keep-alive timeout of {keep_alive:?}: the whole head must arrive before one \
         deadline (a timeout per read restarts with every byte)",
        started.elapsed()
    );
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "a head that timed out is answered with 408 or not at all, not `{}`",
        show(&got)
    );
    drop(client);
    finish(trickle, WAIT).expect("the trickling client stops");
    assert_served_or_failed(serving);
}

/// Expects `serve` to end; an error is fine (the client was cut off).
fn assert_served_or_failed(serving: Serving) {
    if finish(serving, WAIT).is_none() {
        panic!("serve did not return within {WAIT:?} after the connection ended");
    }
}

/// Step 11 reads until a head is complete, however it is cut into pieces, and answers it
/// (through Step 12: until it is written, reaching its `todo!()` is the answer).
/// (Mistakes: parsing after a single read; closing when the head is not complete yet.)
#[test]
fn step11_reads_a_head_that_arrives_in_pieces() {
    let site = Site::standard();
    let (mut client, serving) = serving(&site, WAIT, 11);
    client
        .stream()
        .set_nodelay(true)
        .expect("send each piece at once");
    for piece in [
        &b"GET /page.html HT"[..],
        b"TP/1.1\r\nHost: example\r\nConnec",
        b"tion: close\r\n",
        b"\r\n",
    ] {
        client.send(piece);
        // A pause, so that the pieces arrive as separate reads (pacing, not a wait).
        thread::sleep(Duration::from_millis(20));
    }
    let mut answer = Vec::new();
    let _ = client.reader.read_to_end(&mut answer);
    drop(client);
    match finish(serving, WAIT) {
        None => panic!("serve did not return within {WAIT:?} after answering"),
        Some(None) => {} // it reached Step 12 to answer
        Some(Some(result)) => {
            result.expect("serve failed");
            assert!(
                answer.starts_with(b"HTTP/1.1 200"),
                "a GET sent in four pieces was answered `{}`",
                show(&answer)
            );
        }
    }
}

/// Step 11 answers pipelined requests in order, all sent in one write: a body to throw
/// away, a HEAD (no body sent), a 404, and a last request that closes. This needs Step 12
/// to see the answers; until it is written, reaching its `todo!()` for the first request
/// is all that can be checked. (Mistakes: a new buffer for each request, which loses the
/// requests read with the first; not reading a request's body, which is then taken for
/// the next request; a body in answer to HEAD.)
#[test]
fn step11_answers_pipelined_requests_in_order() {
    let site = Site::standard();
    let (mut client, serving) = serving(&site, WAIT, 11);
    let requests = [
        &b"POST /page.html HTTP/1.1\r\nHost: example\r\nContent-Length: 11\r\n\r\nhello=world"[..],
        &get("/page.html", ""),
        b"HEAD /page.html HTTP/1.1\r\nHost: example\r\n\r\n",
        &get("/missing.html", "Connection: close\r\n"),
    ]
    .concat();
    client.send(&requests);
    if client.closed_without_answer() {
        return expect_unwritten_step_12(serving, "four pipelined requests");
    }
    let first = client.reply("POST /page.html (the first of 4 pipelined)", false);
    assert!(
        first.status == 405 || first.status == 501,
        "POST: {}",
        first.status
    );
    let second = client.reply("GET /page.html, the second pipelined request", false);
    assert_eq!(
        second.status, 200,
        "GET /page.html after a POST with a body"
    );
    assert!(second.body == PAGE, "GET /page.html: the body");
    let third = client.reply("HEAD /page.html, the third pipelined request", true);
    assert_eq!(third.status, 200, "HEAD /page.html");
    assert_eq!(
        third.content_length(),
        Some(PAGE.len()),
        "HEAD: Content-Length"
    );
    let fourth = client.reply(
        "GET /missing.html, the fourth pipelined request (after a HEAD, whose answer has no body)",
        false,
    );
    assert_eq!(fourth.status, 404, "GET /missing.html");
    client.expect_closed(
        WAIT,
        "the answer to a request with `Connection: close`",
        false,
    );
    drop(client);
    assert_served(serving, WAIT, "the last request");
}

/// The connection closed without an answer: that is right only if `serve` stopped at
/// Step 12's `todo!()`.
fn expect_unwritten_step_12(serving: Serving, what: &str) {
    match finish(serving, WAIT) {
        None => panic!("serve neither answered {what} nor returned within {WAIT:?}"),
        Some(None) => {} // Step 12 is not written yet
        Some(Some(result)) => panic!("serve returned ({result:?}) without answering {what}"),
    }
}

/// Step 11 keeps a connection open as the versions say (RFC 9112 §9.3): HTTP/1.1 unless
/// the request says `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`
/// (which the response then says too). This needs Step 12 to see the answers; until it
/// is written, reaching its `todo!()` is all that can be checked. (Mistakes: closing after
/// every response; ignoring `Connection: close`; keeping HTTP/1.0 open.)
#[test]
fn step11_keeps_connections_open_as_the_http_version_says() {
    let site = Site::standard();
    let cases: [(&[u8], bool); 4] = [
        (b"GET /page.html HTTP/1.1\r\nHost: example\r\n\r\n", true),
        (
            b"GET /page.html HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n",
            false,
        ),
        (b"GET /page.html HTTP/1.0\r\n\r\n", false),
        (
            b"GET /page.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            true,
        ),
    ];
    for (request, open) in cases {
        let what = show(request);
        let (mut client, serving) = serving(&site, WAIT, 11);
        client.send(request);
        if client.closed_without_answer() {
            return expect_unwritten_step_12(serving, &what);
        }
        let reply = client.reply(&what, false);
        assert_eq!(reply.status, 200, "`{what}`");
        if open {
            if request.ends_with(b"keep-alive\r\n\r\n") {
                assert!(
                    reply
                        .header("Connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")),
                    "`{what}`: an HTTP/1.0 client reuses the connection only if the response \
                     says `Connection: keep-alive`"
                );
            }
            client.expect_open(&format!("`{what}`"));
            drop(client);
        } else {
            client.expect_closed(
                Duration::from_secs(2),
                &format!("the answer to `{what}`"),
                false,
            );
            drop(client);
        }
        assert_served(serving, WAIT, &format!("`{what}`"));
    }
}

/// Step 11 answers a malformed head with its error and closes, and an error answer to a
/// HEAD has no body either. This needs Step 12 to see the answers; until it is written,
/// reaching its `todo!()` is all that can be checked. (Mistakes: closing without an
/// answer; going on to read after a malformed head; a body after HEAD's 505.)
#[test]
fn step11_answers_a_malformed_head_and_closes() {
    let site = Site::standard();
    for (request, status, head_only) in [
        (&b"NOT A REQUEST\r\n\r\n"[..], 400, false),
        (b"GET / HTTP/1.1\r\n\r\n", 400, false),
        (b"HEAD / HTTP/3.0\r\nHost: example\r\n\r\n", 505, true),
    ] {
        let what = show(request);
        let (mut client, serving) = serving(&site, WAIT, 11);
        client.send(request);
        if client.closed_without_answer() {
            expect_unwritten_step_12(serving, &what);
            continue;
        }
        let reply = client.reply(&format!("`{what}`"), head_only);
        assert_eq!(reply.status, status, "`{what}`");
        client.expect_closed(WAIT, &format!("the {status} answer to `{what}`"), false);
        drop(client);
        assert_served(serving, WAIT, &what);
    }
}

/// Step 12 writes each response framed by its Content-Length: an error page, an empty
/// file and a small binary file, one after another on one connection, each body exactly
/// as long as announced. (Mistakes: the head without the body; the body of a small file
/// not read whole.)
#[test]
fn step12_writes_heads_and_small_bodies_exactly() {
    let site = Site::standard();
    let (mut client, serving) = serving(&site, WAIT, 12);
    client.send(&get("/missing.html", ""));
    let missing = client.reply("GET /missing.html", false);
    assert_eq!(missing.status, 404);
    assert!(
        !missing.body.is_empty(),
        "a 404 has an error page as its body"
    );
    client.send(&get("/empty.txt", ""));
    let empty = client.reply("GET /empty.txt (an empty file)", false);
    assert_eq!((empty.status, empty.content_length()), (200, Some(0)));
    client.send(&get("/small.bin", "Connection: close\r\n"));
    let small = client.reply("GET /small.bin", false);
    assert_eq!(small.status, 200);
    assert!(
        small.body == binary(1500, 1),
        "GET /small.bin: the body differs from the file"
    );
    client.expect_closed(WAIT, "the last response", false);
    drop(client);
    assert_served(serving, WAIT, "three requests");
}

/// Step 12 streams a large file whole, then goes on with the next request on the same
/// connection. (Mistakes: one `write`, whose count is ignored; sending more or fewer
/// bytes than announced, which garbles the next response.)
#[test]
fn step12_streams_a_large_file_byte_for_byte() {
    let site = Site::standard();
    let big = binary((3 << 20) + 17, 6);
    site.write("big.bin", &big);
    let (mut client, serving) = serving(&site, WAIT, 12);
    client.send(&get("/big.bin", ""));
    let reply = client.reply("GET /big.bin (3 MiB)", false);
    assert_eq!(reply.status, 200);
    assert!(
        reply.body == big,
        "GET /big.bin: the body differs from the file"
    );
    client.send(&get("/page.html", "Connection: close\r\n"));
    let next = client.reply("GET /page.html after the large file", false);
    assert_eq!(next.status, 200, "GET /page.html after the large file");
    assert!(next.body == PAGE);
    client.expect_closed(WAIT, "the last response", false);
    drop(client);
    assert_served(serving, WAIT, "two requests");
}

/// Step 12 sends a range from where it starts, from a small file and from a large one
/// (streamed). (Mistake: sending from the start of the file, or the whole file.)
#[test]
fn step12_sends_a_range_from_its_offset() {
    let site = Site::standard();
    let big = binary((2 << 20) + 5, 7);
    site.write("big.bin", &big);
    let small = binary(1500, 1);
    let (mut client, serving) = serving(&site, WAIT, 12);
    for (target, spec, expected) in [
        ("/small.bin", "bytes=100-199", &small[100..200]),
        (
            "/big.bin",
            "bytes=1000000-1999999",
            &big[1_000_000..2_000_000],
        ),
        ("/big.bin", "bytes=-70000", &big[big.len() - 70_000..]),
    ] {
        client.send(&get(target, &format!("Range: {spec}\r\n")));
        let reply = client.reply(&format!("GET {target} with Range: {spec}"), false);
        assert_eq!(reply.status, 206, "GET {target} with Range: {spec}");
        assert!(
            reply.body == expected,
            "GET {target} with Range: {spec}: the body is not those bytes of the file"
        );
    }
    drop(client);
    assert_served(serving, WAIT, "three ranges");
}

/// Step 12 sends no body when told not to: after HEAD, after a 304, and after HEAD's
/// error; the next response follows the head at once. (Mistake: writing the body anyway,
/// which the client reads as the start of the next response.)
#[test]
fn step12_sends_no_body_for_head_and_304() {
    let site = Site::standard();
    let big = binary((1 << 20) + 3, 8);
    site.write("big.bin", &big);
    let (mut client, serving) = serving(&site, WAIT, 12);
    for (head, what) in [
        (
            b"HEAD /big.bin HTTP/1.1\r\nHost: example\r\n\r\n".to_vec(),
            "HEAD /big.bin",
        ),
        (
            b"HEAD /small.bin HTTP/1.1\r\nHost: example\r\n\r\n".to_vec(),
            "HEAD /small.bin",
        ),
        (
            b"HEAD /missing.html HTTP/1.1\r\nHost: example\r\n\r\n".to_vec(),
            "HEAD /missing.html",
        ),
        (
            get(
                "/page.html",
                &format!("If-Modified-Since: {}\r\n", date::format(SystemTime::now())),
            ),
            "GET /page.html If-Modified-Since: now",
        ),
    ] {
        client.send(&head);
        let reply = client.reply(what, true);
        assert!(
            [200, 304, 404].contains(&reply.status),
            "{what}: {}",
            reply.status
        );
        client.send(&get("/empty.txt", ""));
        let next = client.reply(
            &format!("GET /empty.txt, sent after {what} (whose answer has no body)"),
            false,
        );
        assert_eq!(next.status, 200, "GET /empty.txt after {what}");
    }
    drop(client);
    assert_served(serving, WAIT, "HEAD and conditional requests");
}

/// Step 12 closes without destroying the last response: the client asked to close and
/// sent more bytes that the server never reads. Closing a socket with unread bytes sends
/// a reset, and a reset throws away what has not been delivered yet; so shut down the
/// write side first, and read until the client closes. (Mistake: dropping the socket
/// right after the last write.)
#[test]
fn step12_closes_without_destroying_the_last_response() {
    let site = Site::standard();
    let big = binary(8 << 20, 9);
    site.write("big.bin", &big);
    let (mut client, serving) = serving(&site, WAIT, 12);
    // A client slower than the server: when the server closes, some of the response is
    // still in its send buffer, and a reset would throw that away.
    client.paced = true;
    client.send(&get("/big.bin", "Connection: close\r\n"));
    // Bytes after the last request: more than the server reads with its head, so some
    // are still unread in its socket when it closes.
    let mut writer = client.stream().try_clone().unwrap();
    let extra = spawn("extra", move || {
        let _ = writer.write_all(&vec![b'x'; 256 * 1024]);
    });
    let reply = client.reply(
        "GET /big.bin with Connection: close, then more bytes",
        false,
    );
    assert!(reply.body == big, "the body differs from the file");
    client.expect_closed(WAIT, "the last response", true);
    finish(extra, WAIT).expect("the extra bytes were taken");
    drop(client);
    assert_served(serving, WAIT, "the last response");
}
