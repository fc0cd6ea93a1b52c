//! The threaded client: N connections at once, each on a thread of its own, each checking
//! its echo byte for byte.
//!
//! Each client thread runs one [`session`]: connect, then for every chunk of random bytes,
//! write it, read its echo back and compare; at the end half-close and wait for the
//! server's close. [`run`] starts the threads and collects what each one returns. The
//! random bytes, the summary and the error messages are written for you.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many bytes each round trip sends (the last one of a round may send fewer).
pub const CHUNK_SIZE: usize = 16 * 1024;

/// How long a client waits for the next byte of its echo before it gives up: a server
/// that stopped echoing becomes an error that names the client, not a client that waits
/// for ever.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What every client does: `bytes` random bytes per round, `rounds` times.
#[derive(Debug, Clone)]
pub struct Load {
    /// How many clients (threads, connections) run at once.
    pub clients: usize,
    /// How many bytes each client sends (and expects back) per round.
    pub bytes: usize,
    /// How many rounds each client runs on its one connection.
    pub rounds: usize,
}

/// What one client measured, when every byte came back unchanged.
#[derive(Debug, Clone)]
pub struct ClientReport {
    /// The client's name (`c1`, `c2`, …), also its thread's name.
    pub name: String,
    /// How many bytes were sent and came back.
    pub bytes: u64,
    /// The time of each round trip: a chunk written until its whole echo was read.
    pub round_trips: Vec<Duration>,
}

/// Why a client failed. Every variant names the client, so that a message read alone
/// says which connection it is about.
#[derive(Debug)]
pub enum ClientError {
    /// The connection could not be made (refused: nothing listens there).
    Connect {
        client: String,
        addr: SocketAddr,
        error: io::Error,
    },
    /// A byte of the echo differs from the byte sent at that offset.
    Mismatch {
        client: String,
        offset: u64,
        sent: u8,
        got: u8,
    },
    /// The server closed the connection before the whole echo had come back.
    ClosedEarly {
        client: String,
        echoed: u64,
        sent: u64,
    },
    /// After the whole echo, more bytes came instead of the server's close.
    ExtraBytes { client: String, sent: u64 },
    /// Sending or receiving failed (a reset, or nothing for [`IDLE_TIMEOUT`]).
    Io { client: String, error: io::Error },
    /// The client's thread panicked (or could not be started).
    Panicked { client: String, message: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect {
                client,
                addr,
                error,
            } => write!(f, "{client}: cannot connect to {addr}: {error}"),
            ClientError::Mismatch {
                client,
                offset,
                sent,
                got,
            } => write!(
                f,
                "{client}: mismatch at byte {offset} of the echo: sent 0x{sent:02x}, got 0x{got:02x}"
            ),
            ClientError::ClosedEarly {
                client,
                echoed,
                sent,
            } => write!(
                f,
                "{client}: the server closed the connection early, after echoing {echoed} of {sent} bytes"
            ),
            ClientError::ExtraBytes { client, sent } => write!(
                f,
                "{client}: more bytes came back than the {sent} sent, instead of the server's close"
            ),
            ClientError::Io { client, error } => write!(f, "{client}: connection failed: {error}"),
            ClientError::Panicked { client, message } => {
                write!(f, "{client}: its thread failed: {message}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// Whether the echo came back altered (as opposed to not at all).
    pub fn is_mismatch(&self) -> bool {
        matches!(self, ClientError::Mismatch { .. })
    }
}

/// Random bytes from a seed: xorshift64*, small and good enough for test payloads (the
/// standard library has no random generator, and the lab depends on nothing else).
#[derive(Debug, Clone)]
pub struct Payload {
    state: u64,
}

impl Payload {
    /// A generator; equal seeds give equal bytes.
    pub fn new(seed: u64) -> Payload {
        // Zero is xorshift's one fixed point: it would give zeros for ever.
        Payload { state: seed | 1 }
    }

    /// Fills `buf` with the next random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let word = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// A seed for client number `client`: different for every client and every run.
pub fn seed_for(client: usize) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now ^ (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Reads until `buf` is full or the peer closes; returns how many bytes arrived (fewer
/// than `buf.len()` only if the peer closed first).
///
/// # Errors
/// The first read error other than `Interrupted` (a reset, or the read timeout).
pub fn read_full(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    // TODO: Step 6 — fill `buf` with the echo, however many reads that takes: one read
    // returns whatever has arrived, perhaps one byte of a 16 KiB chunk, because TCP
    // carries a stream of bytes and the echo of one write may come back in any number of
    // pieces. Stop early only when the server closes (a read of 0), and say how many
    // bytes arrived, so that the caller can tell an echo cut short from a whole one. An
    // interrupted read is no error; any other error is the caller's to report.
    let _ = (stream, buf, ErrorKind::Interrupted);
    todo!("Step 6 of handouts/lab2.md: read until the buffer is full or the server closes")
}

/// Where `echoed` first differs from `sent` (compared over `echoed`'s length), if it does.
pub fn first_difference(sent: &[u8], echoed: &[u8]) -> Option<usize> {
    // TODO: Step 7 — find the first byte of `echoed` that is not the byte sent at the
    // same place, if there is one. This is what makes the client a test: a client that
    // only counts bytes reports success for an echo whose bytes were altered.
    let _ = (sent, echoed);
    todo!("Step 7 of handouts/lab2.md: compare the echo with what was sent, byte for byte")
}

/// One client's whole session: connect to `addr`, send `load.rounds` rounds of
/// `load.bytes` random bytes (from `seed`) in chunks of [`CHUNK_SIZE`], reading and
/// checking the echo of each chunk before sending the next; then half-close and expect
/// the server's close.
///
/// # Errors
/// The first thing that went wrong, naming the client `name`: no connection, a byte
/// that came back altered, an echo cut short, bytes beyond the echo, an I/O error.
pub fn session(
    name: &str,
    addr: SocketAddr,
    load: &Load,
    seed: u64,
) -> Result<ClientReport, ClientError> {
    // TODO: Step 8 — one client's whole session on its connection to `addr`. Connect
    // (a refused connection is an error that names this client and the address, never a
    // panic), with a read timeout of `IDLE_TIMEOUT`, so that a server that stops echoing
    // is reported instead of waited for. Then, for every round, send `load.bytes` random
    // bytes from `Payload::new(seed)` in chunks of at most `CHUNK_SIZE`, and read each
    // chunk's echo (Step 6) and check it (Step 7) before sending the next: a client that
    // sends everything first can fill both directions' buffers and wait for ever with the
    // server. Time each round trip. An altered byte, an echo cut short by the server's
    // close, and an I/O error each end the session with their `ClientError`, with the
    // offset in the whole stream. At the end, half-close and expect the server's close
    // (a read of 0); more bytes are an error too.
    let _ = (
        name,
        addr,
        load,
        seed,
        Shutdown::Write,
        Instant::now,
        Payload::new,
    );
    let _: fn(&mut TcpStream, &mut [u8]) -> io::Result<usize> = read_full;
    let _ = (first_difference, <TcpStream as Write>::write_all);
    todo!("Step 8 of handouts/lab2.md: one client's session, every chunk's echo checked")
}

// ANCHOR: run
/// Runs `load.clients` sessions against `addr` at once, each on a thread of its own named
/// `c1`, `c2`, …, and returns every client's result, in the clients' order.
pub fn run(addr: SocketAddr, load: &Load) -> Vec<Result<ClientReport, ClientError>> {
    // TODO: Step 9 — run `load.clients` sessions at once, each on a thread of its own
    // named `c1`, `c2`, … (the name is also the client's name in its messages), with its
    // own seed (`seed_for`). All the connections must be open at the same time: a
    // server may answer nobody until everybody is there, and blocking calls on one thread
    // would serve one connection at a time. So start every thread before waiting for any.
    // Then wait for each (`join`) and collect what each one *returned*, in the clients'
    // order: the threads share nothing, so nothing needs a lock. A thread that panicked,
    // or could not be started, is that client's failure (`ClientError::Panicked`), not
    // the end of the run.
    let _ = (
        addr,
        load,
        session,
        seed_for,
        panic_message,
        thread::Builder::new,
    );
    todo!("Step 9 of handouts/lab2.md: a thread per client, all at once, results joined")
}
// ANCHOR_END: run

/// The message a thread panicked with.
fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".to_string())
}

/// The `p`-th percentile (0-100) of `sorted`, nearest rank; zero for no samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What the whole run shows: one line per client, then the totals.
#[derive(Debug)]
pub struct Summary {
    lines: Vec<String>,
    /// How many clients got every byte back.
    pub succeeded: usize,
    /// How many failed, for whatever reason.
    pub failed: usize,
    /// How many of the failures were altered bytes.
    pub mismatches: usize,
    /// Bytes echoed in total by the clients that succeeded.
    pub bytes: u64,
    /// From the first connection to the last client's end.
    pub elapsed: Duration,
}

impl Summary {
    /// Summarises `results` of a run that took `elapsed`.
    pub fn new(results: &[Result<ClientReport, ClientError>], elapsed: Duration) -> Summary {
        let mut summary = Summary {
            lines: Vec::new(),
            succeeded: 0,
            failed: 0,
            mismatches: 0,
            bytes: 0,
            elapsed,
        };
        for result in results {
            match result {
                Ok(report) => {
                    let mut times = report.round_trips.clone();
                    times.sort();
                    summary.lines.push(format!(
                        "{}: {} bytes echoed in {} round trips, latency p50 {:.3} ms, p99 {:.3} ms",
                        report.name,
                        report.bytes,
                        times.len(),
                        millis(percentile(&times, 50.0)),
                        millis(percentile(&times, 99.0)),
                    ));
                    summary.succeeded += 1;
                    summary.bytes += report.bytes;
                }
                Err(e) => {
                    summary.lines.push(format!("FAILED {e}"));
                    summary.failed += 1;
                    summary.mismatches += usize::from(e.is_mismatch());
                }
            }
        }
        summary
    }

    /// Whether every client got every byte back.
    pub fn all_echoed(&self) -> bool {
        self.failed == 0
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "total: {} bytes echoed in {:.3} s ({:.1} MB/s both ways); {} of {} clients ok, {} failed, {} mismatches",
            self.bytes,
            secs,
            2.0 * self.bytes as f64 / secs / 1e6,
            self.succeeded,
            self.succeeded + self.failed,
            self.failed,
            self.mismatches
        )
    }
}
