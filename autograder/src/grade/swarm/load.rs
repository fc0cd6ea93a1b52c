//! The load generator: many persistent client connections, driven by a readiness loop.
//!
//! Each client is one TCP connection that repeats one request for the whole run and never
//! pipelines (it sends the next request only when the previous answer is complete), which
//! is what `wrk` does by default. Two workloads, one per kind of lab ([`Bench`], a field of
//! each lab's rubric):
//!
//! - **echo** (labs 1–3): send `size` bytes, read until the same `size` bytes came back
//!   (compared as they arrive); one round trip is one request.
//! - **http** (lab 5): a pre-built keep-alive `GET`; read the status line and headers, then
//!   exactly `Content-Length` body bytes, which are not looked at.
//! - **ftp** (lab 4): passive `RETR`s over a logged-in control connection, a new data
//!   connection each; a thread per client rather than this loop ([`super::ftp_load`] says why).
//!
//! Why a readiness loop (`mio`, i.e. epoll, through the [`Engine`] the probes' swarms use
//! too) and not a thread per client or tokio: the
//! generator shares the machine with the server it measures, so every cycle it spends is a
//! cycle the server does not get. A few threads (one per core by default, like `wrk -t`),
//! each owning a share of the connections and sleeping in `epoll_wait`, cost the least;
//! a thread per client would pay a context switch per request, and an async runtime adds
//! wakers and task bookkeeping we do not need for a fixed set of sockets. Per request the
//! loop does one `write`, usually one `read`, two clock reads, and (for HTTP) a scan of the
//! ~200 header bytes; the request bytes are built once.
//!
//! Try it by hand: `autograder bench lab1 --clients 1,8 --duration 2 --solution lab1`.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::{Engine, Io, Ready};

/// The name of the file the HTTP workload requests (in the server's root).
pub const BENCH_FILE: &str = "bench.bin";

/// What `autograder bench` measures for a lab (its rubric's `bench` field): what each
/// client repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bench {
    /// Send `size` bytes and expect them back unchanged (the echo labs).
    Echo,
    /// `GET /bench.bin`, a `size`-byte file, over a keep-alive connection, expecting a 2xx
    /// answer (the HTTP lab).
    HttpGet,
    /// `RETR bench.bin`, a `size`-byte file, over a fresh passive data connection each
    /// time, from a logged-in control connection (the FTP lab; see [`super::ftp_load`]).
    FtpRetr,
    /// No workload in `autograder bench`: why, and what measures the lab instead.
    Elsewhere(&'static str),
}

impl Bench {
    /// What is measured, for titles and messages: `echo round trips of 1 KiB`.
    pub fn describe(self, size: usize) -> String {
        let size = crate::output::bytes(size as u64);
        match self {
            Bench::Echo => format!("echo round trips of {size}"),
            Bench::HttpGet => format!("keep-alive GET of a {size} file"),
            Bench::FtpRetr => format!("passive RETR of a {size} file"),
            Bench::Elsewhere(why) => format!("nothing ({why})"),
        }
    }

    /// Fills the server's root with what the workload needs (the file to download).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn prepare(self, root: &Path, size: usize) -> io::Result<()> {
        match self {
            Bench::HttpGet | Bench::FtpRetr => {
                std::fs::write(root.join(BENCH_FILE), echo_payload(size))
            }
            Bench::Echo | Bench::Elsewhere(_) => Ok(()),
        }
    }

    /// The request bytes each client repeats, built once.
    fn request(self, addr: SocketAddr, size: usize) -> io::Result<Vec<u8>> {
        match self {
            Bench::Echo => Ok(echo_payload(size)),
            Bench::HttpGet => {
                Ok(format!("GET /{BENCH_FILE} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes())
            }
            Bench::FtpRetr => Err(io::Error::other("FTP clients build their own commands")),
            Bench::Elsewhere(why) => Err(io::Error::other(why)),
        }
    }
}

/// One load run against one address.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Concurrent connections.
    pub clients: usize,
    /// Length of the measured window (after every client has connected).
    pub duration: Duration,
    /// Generator threads; each owns `clients / threads` connections.
    pub threads: usize,
    /// What each client repeats.
    pub bench: Bench,
    /// Echo bytes per round trip, or the HTTP file's size.
    pub size: usize,
    /// How long to wait for all clients to connect before the window starts anyway.
    pub connect_limit: Duration,
}

/// What a load run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Completed requests (round trips) inside the window.
    pub requests: u64,
    /// Payload bytes received inside the window (echoed bytes, or HTTP body bytes).
    pub bytes: u64,
    /// Failed connects, resets, early closes, wrong bytes, non-2xx answers, and starved
    /// clients (connected, asking, and never answered during the whole window).
    pub errors: u64,
    /// Latency of each completed request (plus timed-out ones), in microseconds.
    pub latencies_us: Vec<u32>,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Clients that were connected when the window started.
    pub connected: usize,
    /// When the measured window started and ended (for matching resource samples).
    pub window: Option<(Instant, Instant)>,
}

impl LoadResult {
    /// Adds one generator thread's measurements to these (latencies unsorted).
    pub fn absorb(&mut self, r: LoadResult) {
        self.requests += r.requests;
        self.bytes += r.bytes;
        self.errors += r.errors;
        self.connected += r.connected;
        self.elapsed = self.elapsed.max(r.elapsed);
        self.window = match (self.window, r.window) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (w, None) | (None, w) => w,
        };
        self.latencies_us.extend(r.latencies_us);
    }

    /// Requests per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Payload megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q`-quantile (0.0–1.0) of the latencies, in milliseconds (0 when none).
    /// Expects `latencies_us` sorted (as [`run`] leaves it).
    pub fn latency_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((self.latencies_us.len() as f64 * q).ceil() as usize)
            .clamp(1, self.latencies_us.len());
        f64::from(self.latencies_us[rank - 1]) / 1000.0
    }
}

/// Runs the load and returns the merged measurements.
///
/// # Errors
/// When a generator thread cannot be created, or the lab has no workload; everything the
/// server does wrong is counted in [`LoadResult::errors`].
pub fn run(config: &LoadConfig) -> io::Result<LoadResult> {
    if config.bench == Bench::FtpRetr {
        return super::ftp_load::run(config);
    }
    let threads = config.threads.clamp(1, config.clients.max(1));
    let request: Arc<[u8]> = config.bench.request(config.addr, config.size)?.into();
    // Every thread connects its clients, then all start the measured window together.
    let barrier = Arc::new(Barrier::new(threads));
    let mut handles = Vec::new();
    for t in 0..threads {
        let share = config.clients / threads + usize::from(t < config.clients % threads);
        let config = config.clone();
        let request = Arc::clone(&request);
        let barrier = Arc::clone(&barrier);
        handles.push(
            thread::Builder::new()
                .name(format!("load {t}"))
                .spawn(move || Worker::new(&config, share, request).run(&barrier))?,
        );
    }
    let mut total = LoadResult::default();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| io::Error::other("a load-generator thread panicked"))?;
        total.absorb(r);
    }
    total.latencies_us.sort_unstable();
    Ok(total)
}

/// The bytes an echo client sends: a repeating pattern that is not all one value, so a
/// server that reorders, drops or duplicates bytes is caught by the comparison.
pub fn echo_payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Where one connection is in its request cycle.
#[derive(Debug)]
enum Phase {
    /// Non-blocking connect issued; writable means done (or failed).
    Connecting,
    /// Connected, waiting for the measured window to start.
    Ready,
    /// A request is in flight.
    Busy,
    /// Failed; reconnect at this time (a short pause so a dead server is not hammered).
    Backoff(Instant),
    /// The window is over.
    Done,
}

/// Progress of reading one HTTP answer.
#[derive(Debug, Default)]
struct HttpAnswer {
    /// Header bytes gathered so far (only used when headers arrive in pieces).
    head: Vec<u8>,
    /// Body bytes still expected, once the header is parsed.
    body_left: Option<u64>,
    /// The body length announced by `Content-Length`.
    body_size: u64,
    /// The server said `Connection: close`: reconnect after this answer.
    closes: bool,
}

/// One client's progress (its socket is in the engine's slot of the same index).
struct Client {
    phase: Phase,
    sent_at: Instant,
    /// Request bytes written so far.
    written: usize,
    /// Echo bytes received so far.
    echoed: usize,
    /// Answers completed during the measured window.
    answered: u64,
    http: HttpAnswer,
}

impl Client {
    /// Starts a new request at `now` (its bytes are written by the caller).
    fn begin(&mut self, now: Instant) {
        self.phase = Phase::Busy;
        self.sent_at = now;
        self.written = 0;
        self.echoed = 0;
        self.http.head.clear(); // keeps its capacity for the next split header
        self.http.body_left = None;
        self.http.body_size = 0;
        self.http.closes = false;
    }
}

struct Worker {
    addr: SocketAddr,
    engine: Engine<Client>,
    request: Arc<[u8]>,
    http: bool,
    duration: Duration,
    connect_limit: Duration,
    /// Shared read buffer: bytes are checked or skipped as they arrive, never kept.
    buf: Vec<u8>,
    result: LoadResult,
    measuring: bool,
}

/// What reading from a connection led to.
enum ReadOutcome {
    /// The connection is unusable: count an error and reconnect.
    Failed,
    /// The answer is complete and the server closes: reconnect without an error.
    Reconnect,
}

impl Worker {
    fn new(config: &LoadConfig, share: usize, request: Arc<[u8]>) -> Worker {
        let mut engine = Engine::new().expect("epoll_create failed: out of file descriptors?");
        let now = Instant::now();
        for _ in 0..share {
            engine.push(Client {
                phase: Phase::Backoff(now),
                sent_at: now,
                written: 0,
                echoed: 0,
                answered: 0,
                http: HttpAnswer::default(),
            });
        }
        Worker {
            addr: config.addr,
            engine,
            request,
            http: config.bench == Bench::HttpGet,
            duration: config.duration,
            connect_limit: config.connect_limit,
            // Large enough to take a whole socket buffer's worth in one read: fewer
            // syscalls per megabyte when the answers are big.
            buf: vec![0; 256 * 1024],
            result: LoadResult::default(),
            measuring: false,
        }
    }

    fn run(mut self, barrier: &Barrier) -> LoadResult {
        let mut ready = Vec::with_capacity(1024);
        // Phase 1: connect everybody (not measured: a server's accept speed for a burst
        // of thousands of connections is not its steady-state throughput).
        let connect_deadline = Instant::now() + self.connect_limit;
        self.reconnect_due(Instant::now());
        while Instant::now() < connect_deadline
            && self
                .engine
                .states()
                .any(|c| !matches!(c.phase, Phase::Ready))
        {
            self.turn(&mut ready, Duration::from_millis(20));
        }
        self.result.connected = self
            .engine
            .states()
            .filter(|c| matches!(c.phase, Phase::Ready))
            .count();
        // Errors while connecting are retried and do not count against the server
        // unless they persist into the window.
        self.result.errors = 0;
        barrier.wait();

        // Phase 2: the measured window.
        let start = Instant::now();
        let deadline = start + self.duration;
        self.measuring = true;
        for i in 0..self.engine.len() {
            if matches!(self.engine.state(i).phase, Phase::Ready) {
                self.send_request(i, start);
            }
        }
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.turn(&mut ready, (deadline - now).min(Duration::from_millis(50)));
        }
        let end = Instant::now();
        self.result.elapsed = end - start;
        self.result.window = Some((start, end));
        // A client that asked and got no answer during the whole window was starved (the
        // backlog of an iterative server): one error each, and its wait enters the latency
        // figures. Requests merely in flight at the end are neither: with 10,000 clients
        // an answer may fairly take a second, and the window's end is not the server's
        // fault.
        for c in self.engine.states_mut() {
            if matches!(c.phase, Phase::Busy) && c.answered == 0 {
                self.result.errors += 1;
                self.result.latencies_us.push(micros(end - c.sent_at));
            }
            c.phase = Phase::Done;
        }
        // Keep every connection open until all threads have judged their window: a
        // thread that closed its sockets early would free an iterative server to answer
        // another thread's starved client just before that thread's window ends.
        barrier.wait();
        std::mem::take(&mut self.result)
    }

    /// One wait for readiness and the handling of what is ready.
    fn turn(&mut self, ready: &mut Vec<Ready>, wait: Duration) {
        if let Err(e) = self.engine.wait(wait, ready) {
            // epoll_wait only fails on programming errors; stop rather than spin.
            panic!("epoll_wait failed: {e}");
        }
        for r in ready.iter() {
            match self.engine.state(r.index).phase {
                Phase::Connecting => self.finish_connect(r.index),
                Phase::Busy => self.progress(r.index, r.readable),
                _ => {}
            }
        }
        self.reconnect_due(Instant::now());
    }

    /// Opens connections whose back-off has passed.
    fn reconnect_due(&mut self, now: Instant) {
        for i in 0..self.engine.len() {
            if let Phase::Backoff(at) = self.engine.state(i).phase {
                if at <= now {
                    self.connect(i);
                }
            }
        }
    }

    fn connect(&mut self, i: usize) {
        match self.engine.connect(i, self.addr) {
            Ok(()) => self.engine.state_mut(i).phase = Phase::Connecting,
            Err(_) => self.fail(i),
        }
    }

    fn finish_connect(&mut self, i: usize) {
        match self.engine.connected(i) {
            Some(Ok(())) => {
                // Small requests must leave at once rather than wait for an ACK.
                if let Some(stream) = self.engine.stream(i) {
                    let _ = stream.set_nodelay(true);
                }
                self.engine.state_mut(i).phase = Phase::Ready;
                // From now on only readability matters (see `update_interest`).
                self.update_interest(i);
                if self.measuring {
                    self.send_request(i, Instant::now());
                }
            }
            None => {}
            Some(Err(_)) => self.fail(i),
        }
    }

    /// Counts an error (inside the window) and schedules a reconnect.
    fn fail(&mut self, i: usize) {
        if self.measuring {
            self.result.errors += 1;
        }
        self.drop_connection(i, Duration::from_millis(10));
    }

    fn drop_connection(&mut self, i: usize, pause: Duration) {
        self.engine.close(i);
        self.engine.state_mut(i).phase = Phase::Backoff(Instant::now() + pause);
    }

    fn send_request(&mut self, i: usize, now: Instant) {
        self.engine.state_mut(i).begin(now);
        self.progress(i, false);
    }

    /// Moves a busy connection forward: writes what remains of the request and, when the
    /// socket is `readable`, reads until it would block or the answer is complete; then
    /// the next request starts at once.
    ///
    /// Readiness is edge-triggered, so a readable socket must be drained before waiting
    /// again, except right after an answer completes: without pipelining the server has
    /// nothing more to send, so the loop writes the next request and goes back to
    /// `epoll_wait` instead of paying for a `read` that can only say "would block".
    fn progress(&mut self, i: usize, mut readable: bool) {
        loop {
            if self.write_some(i).is_err() {
                return self.fail(i);
            }
            if !readable {
                return self.update_interest(i);
            }
            match self.read_until_blocked(i) {
                Ok(false) => return self.update_interest(i),
                Ok(true) => readable = false,
                Err(ReadOutcome::Failed) => return self.fail(i),
                Err(ReadOutcome::Reconnect) => return self.drop_connection(i, Duration::ZERO),
            }
        }
    }

    /// Writes until the request is out or the socket would block.
    fn write_some(&mut self, i: usize) -> Result<(), ()> {
        loop {
            let written = self.engine.state(i).written;
            if written >= self.request.len() {
                return Ok(());
            }
            match self.engine.write(i, &self.request[written..]) {
                Io::Moved(n) => self.engine.state_mut(i).written += n,
                Io::Blocked => return Ok(()),
                Io::Closed | Io::Failed(_) => return Err(()),
            }
        }
    }

    /// Asks for writability only while part of a request waits to be written.
    fn update_interest(&mut self, i: usize) {
        let want = self.engine.state(i).written < self.request.len();
        if self.engine.want_write(i, want).is_err() {
            self.fail(i);
        }
    }

    /// Reads until the socket would block (`Ok(false)`) or the answer is complete, in
    /// which case the next request has been started (`Ok(true)`).
    fn read_until_blocked(&mut self, i: usize) -> Result<bool, ReadOutcome> {
        loop {
            let n = match self.engine.read(i, &mut self.buf) {
                Io::Moved(n) => n,
                Io::Blocked => return Ok(false),
                // The server closed in the middle of an answer (or before one).
                Io::Closed | Io::Failed(_) => return Err(ReadOutcome::Failed),
            };
            let c = self.engine.state_mut(i);
            let done = if self.http {
                http_consume(&mut c.http, &self.buf[..n])?
            } else {
                // Compare as the bytes arrive; more bytes than were sent is a server error.
                let expected = self.request.get(c.echoed..c.echoed + n);
                if expected != Some(&self.buf[..n]) {
                    return Err(ReadOutcome::Failed);
                }
                c.echoed += n;
                if self.measuring {
                    self.result.bytes += n as u64;
                }
                c.echoed == self.request.len()
            };
            if done {
                let now = Instant::now();
                if self.measuring {
                    c.answered += 1;
                    self.result.requests += 1;
                    self.result.latencies_us.push(micros(now - c.sent_at));
                    if self.http {
                        self.result.bytes += c.http.body_size;
                    }
                }
                if c.http.closes {
                    return Err(ReadOutcome::Reconnect);
                }
                // The client never idles, so the server is what limits the rate.
                c.begin(now);
                return Ok(true);
            }
        }
    }
}

/// Feeds answer bytes to the HTTP parse state. `Ok(true)` when the answer is complete.
///
/// Only what is needed to stay in step with the server is parsed: the status code (2xx
/// or an error), `Content-Length` (where the answer ends) and `Connection: close`.
fn http_consume(answer: &mut HttpAnswer, bytes: &[u8]) -> Result<bool, ReadOutcome> {
    let body = match answer.body_left {
        Some(_) => bytes,
        None => {
            // Fast path: the whole header arrived in this read, parse it in place.
            let (head, rest): (&[u8], &[u8]) = if answer.head.is_empty() {
                match find_header_end(bytes) {
                    Some(end) => (&bytes[..end], &bytes[end..]),
                    None => {
                        answer.head.extend_from_slice(bytes);
                        return header_too_long(answer);
                    }
                }
            } else {
                let old = answer.head.len();
                answer.head.extend_from_slice(bytes);
                // The terminator may straddle the two pieces: search from a little before.
                match find_header_end(&answer.head[old.saturating_sub(3)..]) {
                    Some(end) => {
                        let end = old.saturating_sub(3) + end;
                        let rest_start = end - old;
                        answer.head.truncate(end);
                        let head = std::mem::take(&mut answer.head);
                        let parsed = parse_head(&head)?;
                        answer.head = head;
                        return finish_head(answer, parsed, &bytes[rest_start..]);
                    }
                    None => return header_too_long(answer),
                }
            };
            let parsed = parse_head(head)?;
            return finish_head(answer, parsed, rest);
        }
    };
    take_body(answer, body.len() as u64)
}

fn finish_head(
    answer: &mut HttpAnswer,
    (length, closes): (u64, bool),
    rest: &[u8],
) -> Result<bool, ReadOutcome> {
    answer.body_left = Some(length);
    answer.body_size = length;
    answer.closes = closes;
    take_body(answer, rest.len() as u64)
}

fn take_body(answer: &mut HttpAnswer, n: u64) -> Result<bool, ReadOutcome> {
    let left = answer.body_left.unwrap_or(0);
    // More bytes than announced cannot happen without pipelining: the server is confused.
    let left = left.checked_sub(n).ok_or(ReadOutcome::Failed)?;
    answer.body_left = Some(left);
    Ok(left == 0)
}

fn header_too_long(answer: &HttpAnswer) -> Result<bool, ReadOutcome> {
    if answer.head.len() > 64 * 1024 {
        Err(ReadOutcome::Failed)
    } else {
        Ok(false)
    }
}

/// The offset just past the blank line that ends the header.
fn find_header_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// The body length and whether the server closes after this answer; an error for a
/// non-2xx status or an answer whose end cannot be known (no `Content-Length`).
fn parse_head(head: &[u8]) -> Result<(u64, bool), ReadOutcome> {
    let text = std::str::from_utf8(head).map_err(|_| ReadOutcome::Failed)?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut parts = status.split(' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") || !code.starts_with('2') || code.len() != 3 {
        return Err(ReadOutcome::Failed);
    }
    // HTTP/1.0 closes unless it says keep-alive; HTTP/1.1 keeps open unless it says close.
    let mut closes = version == "HTTP/1.0";
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<u64>().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                closes = true;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                closes = false;
            }
        }
    }
    length.map(|l| (l, closes)).ok_or(ReadOutcome::Failed)
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}
