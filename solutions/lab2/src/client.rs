//! The threaded client: N connections at once, each on a thread of its own, each checking
//! its echo byte for byte.
//!
//! Each client thread runs one [`session`]: connect, then for every chunk of random bytes,
//! write it, read its echo back and compare; at the end half-close and wait for the
//! server's close. Sending a chunk and reading its echo before sending the next keeps the
//! exchange safe with any server: a client that sent everything before reading would,
//! with a large enough payload, fill both directions' buffers and wait for ever with the
//! server (each blocked in `write`, neither reading). And it gives a latency to measure:
//! the round trip of one chunk.
//!
//! Why a thread per connection, on the client side too: a blocking `read` waits for *its*
//! connection only. Serving N connections from one thread with blocking calls means one
//! connection at a time, and a server that answers only when all N are connected (a chat
//! room, a game lobby, the grader's test server) would never answer. With a thread each,
//! all N are open at once, and each thread's calls block that thread only.
//!
//! Sharing results without a data race: no thread touches another's data. Each one
//! *returns* its [`ClientReport`] (or its [`ClientError`]), and [`run`] collects them
//! through the threads' `JoinHandle`s; `join` waits for the thread to end, and hands over
//! what it returned. Nothing is shared, so there is nothing to lock.

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
    let mut filled = 0;
    while filled < buf.len() {
        // One read returns whatever has arrived, perhaps a single byte of the chunk: the
        // echo of one write can come back in any number of pieces.
        match stream.read(&mut buf[filled..]) {
            // End of stream: the server closed, and nothing more will ever come.
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Where `echoed` first differs from `sent` (compared over `echoed`'s length), if it does.
pub fn first_difference(sent: &[u8], echoed: &[u8]) -> Option<usize> {
    sent.iter().zip(echoed).position(|(a, b)| a != b)
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
    let io_error = |error: io::Error| ClientError::Io {
        client: name.to_string(),
        error,
    };
    let mut stream = TcpStream::connect(addr).map_err(|error| ClientError::Connect {
        client: name.to_string(),
        addr,
        error,
    })?;
    // A server that stops echoing makes `read` fail after this long, instead of never.
    stream
        .set_read_timeout(Some(IDLE_TIMEOUT))
        .map_err(io_error)?;
    let mut payload = Payload::new(seed);
    let mut sent = vec![0u8; CHUNK_SIZE];
    let mut echo = vec![0u8; CHUNK_SIZE];
    let mut offset: u64 = 0;
    let mut round_trips = Vec::new();
    for _ in 0..load.rounds {
        let mut left = load.bytes;
        while left > 0 {
            let n = left.min(CHUNK_SIZE);
            payload.fill(&mut sent[..n]);
            let started = Instant::now();
            stream.write_all(&sent[..n]).map_err(io_error)?;
            let got = read_full(&mut stream, &mut echo[..n]).map_err(io_error)?;
            // Every byte that came back is checked, even when the echo was cut short: an
            // altered byte is the more useful news.
            if let Some(at) = first_difference(&sent[..got], &echo[..got]) {
                return Err(ClientError::Mismatch {
                    client: name.to_string(),
                    offset: offset + at as u64,
                    sent: sent[at],
                    got: echo[at],
                });
            }
            if got < n {
                return Err(ClientError::ClosedEarly {
                    client: name.to_string(),
                    echoed: offset + got as u64,
                    sent: offset + n as u64,
                });
            }
            round_trips.push(started.elapsed());
            offset += n as u64;
            left -= n;
        }
    }
    // "That was all": the server echoes what is pending, then closes, and our next read
    // returns 0. Anything else is bytes we never sent.
    stream.shutdown(Shutdown::Write).map_err(io_error)?;
    match read_full(&mut stream, &mut echo[..1]).map_err(io_error)? {
        0 => Ok(ClientReport {
            name: name.to_string(),
            bytes: offset,
            round_trips,
        }),
        _ => Err(ClientError::ExtraBytes {
            client: name.to_string(),
            sent: offset,
        }),
    }
}

// ANCHOR: run
/// Runs `load.clients` sessions against `addr` at once, each on a thread of its own named
/// `c1`, `c2`, …, and returns every client's result, in the clients' order.
pub fn run(addr: SocketAddr, load: &Load) -> Vec<Result<ClientReport, ClientError>> {
    // Every thread is started before any is joined: joining inside this loop would wait
    // for each client to finish before the next one connects, which is a serial client.
    let mut started = Vec::with_capacity(load.clients);
    for i in 1..=load.clients {
        let name = format!("c{i}");
        // The thread gets its own copy of what it needs (`move`); it shares nothing.
        let (thread_name, load, seed) = (name.clone(), load.clone(), seed_for(i));
        let handle = thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || session(&thread_name, addr, &load, seed));
        started.push((name, handle));
    }
    started
        .into_iter()
        .map(|(name, handle)| {
            let handle = handle.map_err(|e| ClientError::Panicked {
                client: name.clone(),
                message: format!("its thread could not be started: {e}"),
            })?;
            // `join` waits for the thread and hands over what its closure returned: the
            // result travels with the thread's end, so no two threads ever touch it.
            handle.join().unwrap_or_else(|panic| {
                Err(ClientError::Panicked {
                    client: name,
                    message: panic_message(&panic),
                })
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&ms, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&ms[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn equal_seeds_give_equal_bytes() {
        let (mut a, mut b) = (vec![0u8; 37], vec![0u8; 37]);
        Payload::new(7).fill(&mut a);
        Payload::new(7).fill(&mut b);
        assert_eq!(a, b);
        assert!(a.iter().any(|&x| x != a[0]));
    }

    #[test]
    fn a_refused_connection_names_the_client() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let load = Load {
            clients: 1,
            bytes: 10,
            rounds: 1,
        };
        let err = session("c7", addr, &load, 1).unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
        assert!(err.to_string().starts_with("c7: cannot connect"), "{err}");
    }
}
