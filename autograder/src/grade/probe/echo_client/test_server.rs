//! A strict echo test server for grading threaded clients (lab 2's `client` group), on
//! plain threads, like the FTP test server beside lab 4's probes.
//!
//! What makes it strict, each to catch a real client mistake:
//!
//! - **A gate**: it can answer nobody until N connections are open at once. A client that
//!   connects one after another, or waits for one connection's echo before opening the
//!   next, never gets through; when the gate's wait runs out, the server records how many
//!   were open and closes them all, so the client ends instead of waiting for ever.
//! - **Short reads and writes**: it reads in small random amounts (so the client's writes
//!   fill its buffers and may be taken in part) and echoes in small random pieces with
//!   pauses (TCP_NODELAY on), so one `recv` on the client's side rarely returns a whole
//!   chunk.
//! - **A corrupted byte**: on request, one byte of one connection's echo is altered.
//! - **An early close**: on request, one connection's echo stops part-way and the server
//!   closes it (FIN; it reads on, so the close is not a reset).
//!
//! Everything that crosses its connections goes into the test's [`Transcript`], as the
//! server end (connections `c1`, `c2`, … in the order they were accepted), so that a
//! failing client test has a transcript and a sequence diagram like a server test.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::grade::probe::transcript::{Call, Event, Side, Transcript};
use crate::rng::Rng;

/// A place in one connection's echo: the `connection`-th accepted (0-based), at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spot {
    /// Which connection, in the order they were accepted.
    pub connection: usize,
    /// The byte's offset in that connection's stream.
    pub offset: u64,
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Echo nothing until this many connections are open at once (0 or 1: no gate).
    pub gate: usize,
    /// How long the gate waits for them before it gives up and closes every connection.
    pub gate_wait: Duration,
    /// Alter the byte of the echo here.
    pub corrupt: Option<Spot>,
    /// Close this connection once the echo has reached here.
    pub cut: Option<Spot>,
    /// Seed of the piece sizes.
    pub seed: u64,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            gate: 0,
            gate_wait: Duration::from_secs(5),
            corrupt: None,
            cut: None,
            seed: 1,
        }
    }
}

/// What happened on one connection.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Bytes received from the client.
    pub received: u64,
    /// Bytes echoed back (written to the socket).
    pub echoed: u64,
    /// Whether the client ended its side (a read returned 0), rather than a reset.
    pub ended: bool,
    /// An error that ended the connection (a reset), if one did.
    pub error: Option<String>,
}

/// What happened, for the probe to check.
#[derive(Debug, Default)]
pub struct Record {
    /// Every connection, in the order they were accepted.
    pub connections: Vec<Connection>,
    /// How many were open at once, at most (a connection counts until its thread is
    /// done with it, so a client that opens the next as it closes one may show 2).
    pub max_open: usize,
    /// When the gate gave up: how many connections were open then.
    pub gate_gave_up_at: Option<usize>,
    /// The byte altered on purpose: (where, sent, what the echo carried instead).
    pub corrupted: Option<(Spot, u8, u8)>,
    /// Where the echo was cut short on purpose, once it was.
    pub cut_at: Option<Spot>,
    open: usize,
}

struct Shared {
    setup: Setup,
    record: Mutex<Record>,
    /// Signalled when a connection arrives, for the threads waiting at the gate.
    arrived: Condvar,
    stop: AtomicBool,
    /// A handle on every connection, so that stopping the server ends blocked reads.
    streams: Mutex<Vec<TcpStream>>,
    /// What crossed the wire, for the test's report.
    transcript: Transcript,
}

/// A running test server; stopped when dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestServer {
    /// Starts serving on `host:port`, recording into `transcript` as its server end.
    ///
    /// # Errors
    /// If the port cannot be bound.
    pub fn start(
        host: &str,
        port: u16,
        setup: Setup,
        transcript: Transcript,
    ) -> std::io::Result<TestServer> {
        transcript.grader_is(Side::Server);
        let listener = TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            setup,
            record: Mutex::new(Record::default()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
            streams: Mutex::new(Vec::new()),
            transcript,
        });
        let accept = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(&listener, &shared))
        };
        Ok(TestServer {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// Runs `f` on what has been recorded so far.
    pub fn record<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        f(&lock(&self.shared.record))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.arrived.notify_all();
        for stream in lock(&self.shared.streams).iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut rng = Rng::new(shared.setup.seed);
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                if let Ok(clone) = stream.try_clone() {
                    lock(&shared.streams).push(clone);
                }
                let index = {
                    let mut r = lock(&shared.record);
                    r.connections.push(Connection::default());
                    r.open += 1;
                    r.max_open = r.max_open.max(r.open);
                    r.connections.len() - 1
                };
                shared.transcript.event(&label(index), Event::Accepted);
                shared.arrived.notify_all();
                let (shared, rng) = (Arc::clone(shared), rng.fork());
                thread::spawn(move || {
                    serve(stream, index, &shared, rng);
                    lock(&shared.record).open -= 1;
                });
            }
            // Polling with a short sleep keeps stopping simple and bounded.
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(2)),
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// The transcript's name for the `index`-th connection accepted (0-based).
fn label(index: usize) -> String {
    format!("c{}", index + 1)
}

/// Waits at the gate; false if it gave up (and then every connection is being closed).
fn pass_gate(shared: &Shared) -> bool {
    let gate = shared.setup.gate;
    let deadline = Instant::now() + shared.setup.gate_wait;
    let mut r = lock(&shared.record);
    loop {
        if r.gate_gave_up_at.is_some() || shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        if r.connections.len() >= gate {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            r.gate_gave_up_at = Some(r.open);
            drop(r);
            // Everybody goes: the client sees its connections closed, and ends.
            for stream in lock(&shared.streams).iter() {
                let _ = stream.shutdown(Shutdown::Both);
            }
            shared.arrived.notify_all();
            return false;
        }
        r = shared
            .arrived
            .wait_timeout(r, left)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

fn serve(mut stream: TcpStream, index: usize, shared: &Shared, mut rng: Rng) {
    let at = |offset: u64| Spot {
        connection: index,
        offset,
    };
    let conn = label(index);
    let log = &shared.transcript;
    if shared.setup.gate > 1 && !pass_gate(shared) {
        // The handle kept for stopping would keep the connection open: close it for real.
        let _ = stream.shutdown(Shutdown::Both);
        if !shared.stop.load(Ordering::SeqCst) {
            log.event(
                &conn,
                Event::OnPurpose {
                    what: format!(
                        "the gate gave up waiting for {} connections at once",
                        shared.setup.gate
                    ),
                },
            );
        }
        log.event(&conn, Event::Close);
        return;
    }
    let note = |f: &mut dyn FnMut(&mut Connection)| {
        let mut r = lock(&shared.record);
        f(&mut r.connections[index]);
    };
    let mut buf = vec![0u8; 2048];
    let mut offset: u64 = 0;
    loop {
        // Small reads: the client's bytes wait in the buffers, and its writes may be
        // taken in part.
        let want = rng.range(1, buf.len());
        let n = match stream.read(&mut buf[..want]) {
            Ok(0) => {
                note(&mut |c| c.ended = true);
                log.event(&conn, Event::Eof);
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                note(&mut |c| c.error = Some(e.to_string()));
                log.event(&conn, Event::failed(Call::Receive, &e));
                return;
            }
        };
        log.data(&conn, Side::Client, &buf[..n]);
        note(&mut |c| c.received += n as u64);
        let chunk = &mut buf[..n];
        let range = offset..offset + n as u64;
        if let Some(spot) = shared.setup.corrupt.filter(|s| s.connection == index) {
            if range.contains(&spot.offset) {
                let i = (spot.offset - offset) as usize;
                let sent = chunk[i];
                chunk[i] ^= 0x5a;
                lock(&shared.record).corrupted = Some((spot, sent, chunk[i]));
                log.event(
                    &conn,
                    Event::OnPurpose {
                        what: format!(
                            "altered byte {} of the echo: 0x{sent:02x} goes back as 0x{:02x}",
                            spot.offset, chunk[i]
                        ),
                    },
                );
            }
        }
        let mut keep = n;
        let cut = shared.setup.cut.filter(|s| s.connection == index);
        if let Some(spot) = cut.filter(|s| range.end > s.offset) {
            keep = spot.offset.saturating_sub(offset) as usize;
        }
        let started = Instant::now();
        let (written, result) = echo_in_pieces(&mut stream, &chunk[..keep], &mut rng);
        // One event for the chunk's echo, spanning its pieces: with every connection's
        // pieces interleaved, the transcript would be all pieces and no story.
        if written > 0 {
            log.data_since(&conn, Side::Server, &chunk[..written], Some(started));
        }
        if let Err(e) = result {
            note(&mut |c| c.error = Some("the client stopped reading its echo".into()));
            log.event(&conn, Event::failed(Call::Send, &e));
            return;
        }
        note(&mut |c| c.echoed += keep as u64);
        offset = range.end;
        if keep < n {
            let cut_at = at(offset - (n - keep) as u64);
            lock(&shared.record).cut_at = Some(cut_at);
            log.event(
                &conn,
                Event::OnPurpose {
                    what: format!("closing early, after {} bytes of the echo", cut_at.offset),
                },
            );
            // Close our side, then read on until the client leaves: closing with its bytes
            // unread would send a reset, and this test is about a clean early close.
            let _ = stream.shutdown(Shutdown::Write);
            log.event(&conn, Event::HalfClose);
            let mut sink = [0u8; 4096];
            loop {
                match stream.read(&mut sink) {
                    Ok(0) => log.event(&conn, Event::Eof),
                    Ok(k) => {
                        log.data(&conn, Side::Client, &sink[..k]);
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => log.event(&conn, Event::failed(Call::Receive, &e)),
                }
                return;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    log.event(&conn, Event::HalfClose);
}

/// Writes `bytes` in pieces of 1-512 bytes, pausing now and then so that the pieces cross
/// the wire as separate segments.
///
/// Returns how many bytes were written, and the write's error if the connection broke.
fn echo_in_pieces(
    stream: &mut TcpStream,
    bytes: &[u8],
    rng: &mut Rng,
) -> (usize, std::io::Result<()>) {
    let mut written = 0;
    while written < bytes.len() {
        let n = rng.range(1, 512).min(bytes.len() - written);
        if let Err(e) = stream.write_all(&bytes[written..written + n]) {
            return (written, Err(e));
        }
        written += n;
        if rng.range(0, 7) == 0 {
            thread::sleep(Duration::from_micros(300));
        }
    }
    (written, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `bytes` on a fresh connection to `addr`, half-closes, and reads to the end.
    fn exchange(addr: SocketAddr, bytes: &[u8]) -> std::thread::JoinHandle<Vec<u8>> {
        let bytes = bytes.to_vec();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        thread::spawn(move || {
            stream.write_all(&bytes).unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            let mut echo = Vec::new();
            let _ = stream.read_to_end(&mut echo);
            echo
        })
    }

    #[test]
    fn the_gate_opens_once_every_connection_is_there() {
        let setup = Setup {
            gate: 3,
            ..Setup::default()
        };
        let server = TestServer::start("127.0.0.1", 0, setup, Transcript::default()).unwrap();
        let payload: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let clients: Vec<_> = (0..3).map(|_| exchange(server.addr, &payload)).collect();
        for client in clients {
            assert!(client.join().unwrap() == payload);
        }
        assert_eq!(server.record(|r| r.gate_gave_up_at), None);
    }

    #[test]
    fn the_gate_gives_up_and_closes_what_came() {
        let setup = Setup {
            gate: 2,
            gate_wait: Duration::from_millis(200),
            ..Setup::default()
        };
        let transcript = Transcript::default();
        let server = TestServer::start("127.0.0.1", 0, setup, transcript.clone()).unwrap();
        let echo = exchange(server.addr, b"alone").join().unwrap();
        assert!(echo.is_empty(), "{echo:?}");
        assert_eq!(server.record(|r| r.gate_gave_up_at), Some(1));
        // The client may see its connection closed before the server has noted it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while transcript.lines().len() < 3 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            transcript.lines(),
            [
                "[c1] < connect (accepted by the grader's test server)",
                "[c1] > on purpose: the gate gave up waiting for 2 connections at once",
                "[c1] > close",
            ]
        );
    }

    #[test]
    fn one_byte_is_altered_where_asked() {
        let spot = Spot {
            connection: 0,
            offset: 12_345,
        };
        let setup = Setup {
            corrupt: Some(spot),
            ..Setup::default()
        };
        let server = TestServer::start("127.0.0.1", 0, setup, Transcript::default()).unwrap();
        let payload: Vec<u8> = (0..30_000u32).map(|i| (i % 253) as u8).collect();
        let echo = exchange(server.addr, &payload).join().unwrap();
        let differ: Vec<usize> = (0..payload.len())
            .filter(|&i| payload[i] != echo[i])
            .collect();
        assert_eq!(differ, [12_345]);
        let recorded = server.record(|r| r.corrupted);
        assert_eq!(recorded, Some((spot, payload[12_345], echo[12_345])));
    }
}
