//! The load generator: many persistent client connections, driven by a readiness loop.
//!
//! Each client is one TCP connection that repeats one request for the whole run and never
//! pipelines (it sends the next request only when the previous answer is complete), which
//! is what `wrk` does by default. Two workloads:
//!
//! - **echo** (labs 1–3): send `size` bytes, read until the same `size` bytes came back
//!   (compared as they arrive); one round trip is one request.
//! - **http** (lab 5): a pre-built keep-alive `GET`; read the status line and headers, then
//!   exactly `Content-Length` body bytes, which are not looked at.
//!
//! Why a readiness loop (`mio`, i.e. epoll) and not a thread per client or tokio: the
//! generator shares the machine with the server it measures, so every cycle it spends is a
//! cycle the server does not get. A few threads (one per core by default, like `wrk -t`),
//! each owning a share of the connections and sleeping in `epoll_wait`, cost the least;
//! a thread per client would pay a context switch per request, and an async runtime adds
//! wakers and task bookkeeping we do not need for a fixed set of sockets. Per request the
//! loop does one `write`, usually one `read`, two clock reads, and (for HTTP) a scan of the
//! ~200 header bytes; the request bytes are built once.
//!
//! Try it by hand: `autograder bench lab1 --clients 1,8 --duration 2 --solution lab1`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// What each client repeats.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Send this many bytes and expect them back unchanged.
    Echo {
        /// Bytes per round trip.
        size: usize,
    },
    /// `GET path` over a keep-alive connection, expecting a 2xx answer.
    Http {
        /// The request target, e.g. `/bench.bin`.
        path: String,
    },
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
    pub workload: Workload,
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
/// Only when a generator thread cannot be created; everything the server does wrong is
/// counted in [`LoadResult::errors`].
pub fn run(config: &LoadConfig) -> io::Result<LoadResult> {
    let threads = config.threads.clamp(1, config.clients.max(1));
    let request: Arc<[u8]> = match &config.workload {
        Workload::Echo { size } => echo_payload(*size).into(),
        Workload::Http { path } => {
            { format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", config.addr).into_bytes() }.into()
        }
    };
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
        total.requests += r.requests;
        total.bytes += r.bytes;
        total.errors += r.errors;
        total.connected += r.connected;
        total.elapsed = total.elapsed.max(r.elapsed);
        total.window = match (total.window, r.window) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (w, None) | (None, w) => w,
        };
        total.latencies_us.extend(r.latencies_us);
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

struct Client {
    stream: Option<TcpStream>,
    phase: Phase,
    sent_at: Instant,
    /// Request bytes written so far.
    written: usize,
    /// Echo bytes received so far.
    echoed: usize,
    /// Whether writability is in the registered interest.
    want_write: bool,
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
    poll: Poll,
    clients: Vec<Client>,
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
        let poll = Poll::new().expect("epoll_create failed: out of file descriptors?");
        let now = Instant::now();
        let clients = (0..share)
            .map(|_| Client {
                stream: None,
                phase: Phase::Backoff(now),
                sent_at: now,
                written: 0,
                echoed: 0,
                want_write: false,
                answered: 0,
                http: HttpAnswer::default(),
            })
            .collect();
        Worker {
            addr: config.addr,
            poll,
            clients,
            request,
            http: matches!(config.workload, Workload::Http { .. }),
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
        let mut events = Events::with_capacity(1024);
        // Phase 1: connect everybody (not measured: a server's accept speed for a burst
        // of thousands of connections is not its steady-state throughput).
        let connect_deadline = Instant::now() + self.connect_limit;
        self.reconnect_due(Instant::now());
        while Instant::now() < connect_deadline
            && self
                .clients
                .iter()
                .any(|c| !matches!(c.phase, Phase::Ready))
        {
            self.turn(&mut events, Duration::from_millis(20));
        }
        self.result.connected = self
            .clients
            .iter()
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
        for i in 0..self.clients.len() {
            if matches!(self.clients[i].phase, Phase::Ready) {
                self.send_request(i, start);
            }
        }
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.turn(&mut events, (deadline - now).min(Duration::from_millis(50)));
        }
        let end = Instant::now();
        self.result.elapsed = end - start;
        self.result.window = Some((start, end));
        // A client that asked and got no answer during the whole window was starved (the
        // backlog of an iterative server): one error each, and its wait enters the latency
        // figures. Requests merely in flight at the end are neither: with 10,000 clients
        // an answer may fairly take a second, and the window's end is not the server's
        // fault.
        for c in &mut self.clients {
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
    fn turn(&mut self, events: &mut Events, wait: Duration) {
        if let Err(e) = self.poll.poll(events, Some(wait)) {
            if e.kind() != ErrorKind::Interrupted {
                // epoll_wait only fails on programming errors; stop rather than spin.
                panic!("epoll_wait failed: {e}");
            }
        }
        for event in events.iter() {
            let i = event.token().0;
            match self.clients[i].phase {
                Phase::Connecting => self.finish_connect(i),
                Phase::Busy => {
                    let readable =
                        event.is_readable() || event.is_read_closed() || event.is_error();
                    self.progress(i, readable)
                }
                _ => {}
            }
        }
        self.reconnect_due(Instant::now());
    }

    /// Opens connections whose back-off has passed.
    fn reconnect_due(&mut self, now: Instant) {
        for i in 0..self.clients.len() {
            if let Phase::Backoff(at) = self.clients[i].phase {
                if at <= now {
                    self.connect(i);
                }
            }
        }
    }

    fn connect(&mut self, i: usize) {
        let c = &mut self.clients[i];
        match TcpStream::connect(self.addr) {
            Ok(mut stream) => {
                let interest = Interest::READABLE | Interest::WRITABLE;
                match self
                    .poll
                    .registry()
                    .register(&mut stream, Token(i), interest)
                {
                    Ok(()) => {
                        c.stream = Some(stream);
                        c.want_write = true;
                        c.phase = Phase::Connecting;
                    }
                    Err(_) => self.fail(i),
                }
            }
            Err(_) => self.fail(i),
        }
    }

    fn finish_connect(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let Some(stream) = c.stream.as_ref() else {
            return;
        };
        // A non-blocking connect reports completion as writability; SO_ERROR says whether
        // it worked, and peer_addr fails while it is still in progress.
        match (stream.take_error(), stream.peer_addr()) {
            (Ok(None), Ok(_)) => {
                // Small requests must leave at once rather than wait for an ACK.
                let _ = stream.set_nodelay(true);
                c.phase = Phase::Ready;
                // From now on only readability matters (see `update_interest`).
                self.update_interest(i);
                if self.measuring {
                    self.send_request(i, Instant::now());
                }
            }
            (Ok(None), Err(e)) if e.kind() == ErrorKind::NotConnected => {}
            _ => self.fail(i),
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
        let c = &mut self.clients[i];
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        c.phase = Phase::Backoff(Instant::now() + pause);
    }

    fn send_request(&mut self, i: usize, now: Instant) {
        self.clients[i].begin(now);
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
        let c = &mut self.clients[i];
        let stream = c.stream.as_mut().ok_or(())?;
        while c.written < self.request.len() {
            match stream.write(&self.request[c.written..]) {
                Ok(0) => return Err(()),
                Ok(n) => c.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }

    /// Asks for writability only while part of a request waits to be written: otherwise
    /// every ACK that frees send-buffer space would wake the loop for nothing.
    fn update_interest(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let want = c.written < self.request.len();
        if want == c.want_write {
            return;
        }
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        c.want_write = want;
        if self
            .poll
            .registry()
            .reregister(stream, Token(i), interest)
            .is_err()
        {
            self.fail(i);
        }
    }

    /// Reads until the socket would block (`Ok(false)`) or the answer is complete, in
    /// which case the next request has been started (`Ok(true)`).
    fn read_until_blocked(&mut self, i: usize) -> Result<bool, ReadOutcome> {
        loop {
            let c = &mut self.clients[i];
            let stream = c.stream.as_mut().ok_or(ReadOutcome::Failed)?;
            let n = match stream.read(&mut self.buf) {
                // The server closed in the middle of an answer (or before one).
                Ok(0) => return Err(ReadOutcome::Failed),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Err(ReadOutcome::Failed),
            };
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
