//! The probe toolkit: what a test's check works with.
//!
//! A probe gets a [`Ctx`]: where the program listens, a temporary root, a seeded random
//! generator, a deadline, and a transcript. Connections made through the context record
//! everything that crosses the wire, and every blocking call is bounded by the test's
//! deadline, so a probe can be written as straight-line code and still never hang. What a
//! probe wants to know about the program itself (threads, memory, CPU, exit) it asks the
//! context's [`Process`] handle, whose unknowns become skips.

pub mod bytes;
pub mod concurrency;
pub mod echo;
pub mod echo_client;
pub mod ftp;
pub mod http;
pub mod transcript;
pub mod verdict;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::os::harness::{describe_status, Placeholders, Program, Spawned};
pub use crate::os::process::Process;
use crate::rng::Rng;
use transcript::{Call, Event, Side};
pub use transcript::{Exchange, Transcript};
pub use verdict::{Failure, FailureDetails, ProbeResult, Symptom, Verdict};

/// Everything a probe may use.
#[derive(Debug)]
pub struct Ctx {
    /// Host the program listens on.
    pub host: String,
    /// Port the program listens on (for client tests: a port free for the probe's server).
    pub port: u16,
    /// The test's root directory (empty at the start of each test).
    pub root: PathBuf,
    /// The server under test, to ask about (threads, memory, CPU, exit) and signal; `None`
    /// for client tests, which start no server.
    pub server: Option<Process>,
    /// Random source for payloads, seeded per test.
    pub rng: Rng,
    /// What crossed the wire; attached to failures.
    pub transcript: Transcript,
    /// The submission's command, for tests that run it as a client.
    pub program: Program,
    /// The lab's default port, used in the commands we suggest for reproducing a failure
    /// (the student runs their program without flags, then pastes the command).
    pub reproduce_port: u16,
    deadline: Instant,
    connections: usize,
    /// What the labels of connections to the program start with (`c1`, `c2`, …).
    client_label: &'static str,
}

impl Ctx {
    /// A context for a program listening on `host:port`, with `limit` to finish in.
    pub fn new(
        values: &Placeholders,
        program: Program,
        reproduce_port: u16,
        rng: Rng,
        limit: Duration,
    ) -> Ctx {
        Ctx {
            host: values.host.clone(),
            port: values.port,
            root: values.root.clone(),
            server: None,
            rng,
            transcript: Transcript::default(),
            program,
            reproduce_port,
            deadline: Instant::now() + limit,
            connections: 0,
            client_label: "c",
        }
    }

    /// The server under test.
    ///
    /// # Errors
    /// A skip, for a test that started no server (a client test).
    pub fn server(&self) -> Result<Process, Verdict> {
        self.server
            .ok_or_else(|| Verdict::Skip("this test started no server to ask about".into()))
    }

    /// The program's socket address.
    pub fn addr(&self) -> SocketAddr {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], self.port)))
    }

    /// Time left before the test's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The instant by which the probe must be done.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Labels this context's connections to the program `PREFIX1`, `PREFIX2`, … instead
    /// of `c1`, `c2`, …: the check after a test uses `n` (a new client), so that its
    /// exchange is not read as the test's.
    pub fn label_clients(&mut self, prefix: &'static str) {
        self.client_label = prefix;
    }

    /// Opens a connection to the program, labelled `c1`, `c2`, … in the transcript.
    ///
    /// # Errors
    /// A failure saying the connection was refused or timed out.
    pub fn connect(&mut self) -> Result<Conn, Failure> {
        self.connections += 1;
        let label = format!("{}{}", self.client_label, self.connections);
        Conn::open(self.addr(), label, self.transcript.clone(), self.deadline)
    }

    /// Opens a connection like [`Ctx::connect`] with a small receive buffer, set before
    /// the handshake so that the window it advertises is small from the first segment (set
    /// afterwards, the kernel has already offered a larger one).
    ///
    /// # Errors
    /// A failure saying the connection was refused or timed out.
    pub fn connect_constrained(&mut self, recv_buffer: usize) -> Result<Conn, Failure> {
        self.connections += 1;
        let label = format!("{}{}", self.client_label, self.connections);
        let addr = self.addr();
        let failed = |e: io::Error| {
            self.transcript.event(
                &label,
                Event::ConnectFailed {
                    error: e.to_string(),
                },
            );
            Failure::new(format!("could not connect to {addr} ({label}): {e}"))
                .symptom(Symptom::Refused)
        };
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .map_err(failed)?;
        // An unusual kernel may refuse it; the connection then is an ordinary one.
        let _ = socket.set_recv_buffer_size(recv_buffer);
        let wait = self
            .deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        socket.connect_timeout(&addr.into(), wait).map_err(failed)?;
        self.transcript
            .event(&label, Event::Connect { small_buffer: true });
        Ok(Conn {
            stream: socket.into(),
            label,
            log: self.transcript.clone(),
            deadline: self.deadline,
            idle_limit: IDLE_LIMIT,
        })
    }

    /// Opens a connection to another address of the program (e.g. an FTP data port),
    /// labelled `d1`, `d2`, … in the transcript.
    ///
    /// # Errors
    /// A failure saying the connection was refused or timed out.
    pub fn connect_to(&mut self, addr: SocketAddr) -> Result<Conn, Failure> {
        self.connections += 1;
        let label = format!("d{}", self.connections);
        Conn::open(addr, label, self.transcript.clone(), self.deadline)
    }

    /// Runs the submission as a client with `args` appended to its command (after
    /// placeholder substitution), waiting at most `limit`.
    ///
    /// # Errors
    /// A failure if it cannot start or does not finish in time (it is then killed).
    pub fn run_client(&self, args: &[String], limit: Duration) -> Result<ClientRun, Failure> {
        let values = Placeholders {
            host: self.host.clone(),
            port: self.port,
            root: self.root.clone(),
        };
        let mut argv = self.program.command_line(&[], &values);
        argv.extend(args.iter().cloned());
        let shown = Program::shell_words(&argv);
        let mut child = Spawned::start_program(&argv, &self.program, &self.root)
            .map_err(|e| Failure::new(format!("could not start `{shown}`: {e}")))?;
        let limit = limit.min(self.remaining());
        let status = child.wait_timeout(limit);
        // Teardown joins the output readers: the tail holds every last line.
        child.stop();
        let output = child.output_tail(40);
        match status {
            Some(status) => Ok(ClientRun {
                command: shown,
                status,
                output,
            }),
            None => Err(Failure::new(format!(
                "`{shown}` did not finish within {:.1} s and was stopped",
                limit.as_secs_f64()
            ))
            .detail(format!("its output:\n{output}"))),
        }
    }
}

/// How a client program run ended.
#[derive(Debug)]
pub struct ClientRun {
    /// The command line, shell-quoted.
    pub command: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// The tail of its output.
    pub output: String,
}

impl ClientRun {
    /// The exit status in words.
    pub fn describe(&self) -> String {
        describe_status(self.status)
    }
}

/// How a read sequence ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// All requested bytes arrived.
    Complete,
    /// The peer closed its side (a read returned 0).
    Eof,
    /// The deadline passed first.
    TimedOut,
    /// The connection failed (reset, …).
    Error(String),
}

/// Bytes received and how the reading ended.
#[derive(Debug, Clone)]
pub struct Received {
    /// What arrived.
    pub bytes: Vec<u8>,
    /// Why reading stopped.
    pub end: End,
}

/// A client connection whose traffic is recorded and whose calls obey the deadline.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    label: String,
    log: Transcript,
    deadline: Instant,
    idle_limit: Duration,
}

/// How long a read waits for the next byte by default before concluding that nothing
/// more is coming. Long enough for a busy machine, short enough that a program that holds
/// back its last bytes fails in seconds, not at the test's time limit.
pub const IDLE_LIMIT: Duration = Duration::from_secs(5);

impl Conn {
    fn open(
        addr: SocketAddr,
        label: String,
        log: Transcript,
        deadline: Instant,
    ) -> Result<Conn, Failure> {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        match TcpStream::connect_timeout(&addr, wait) {
            Ok(stream) => {
                log.event(
                    &label,
                    Event::Connect {
                        small_buffer: false,
                    },
                );
                Ok(Conn {
                    stream,
                    label,
                    log,
                    deadline,
                    idle_limit: IDLE_LIMIT,
                })
            }
            Err(e) => {
                log.event(
                    &label,
                    Event::ConnectFailed {
                        error: e.to_string(),
                    },
                );
                Err(
                    Failure::new(format!("could not connect to {addr} ({label}): {e}"))
                        .symptom(Symptom::Refused),
                )
            }
        }
    }

    /// This connection's label in the transcript.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The underlying socket, for options such as `set_nodelay`.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// A second handle on the same connection (e.g. a writer thread beside a reader).
    ///
    /// # Errors
    /// If the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> Result<Conn, Failure> {
        Ok(Conn {
            stream: self
                .stream
                .try_clone()
                .map_err(|e| Failure::new(format!("cannot duplicate socket: {e}")))?,
            label: self.label.clone(),
            log: self.log.clone(),
            deadline: self.deadline,
            idle_limit: self.idle_limit,
        })
    }

    /// Sends all of `bytes`.
    ///
    /// # Errors
    /// A failure if the connection breaks or the program stops reading until the deadline.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.send_until(bytes, self.deadline)
    }

    /// Like [`Conn::send`] with an earlier deadline of its own.
    ///
    /// # Errors
    /// A failure if the connection breaks or the program stops reading until `deadline`.
    pub fn send_until(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), Failure> {
        let deadline = deadline.min(self.deadline);
        let mut rest = bytes;
        while !rest.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(left) = (!left.is_zero()).then_some(left) else {
                return Err(self.send_failure(bytes.len() - rest.len(), bytes.len(), None));
            };
            let _ = self.stream.set_write_timeout(Some(left));
            match self.stream.write(rest) {
                Ok(0) => {
                    return Err(self.send_failure(bytes.len() - rest.len(), bytes.len(), None))
                }
                Ok(n) => {
                    self.log.data(&self.label, Side::Client, &rest[..n]);
                    rest = &rest[n..];
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    return Err(self.send_failure(bytes.len() - rest.len(), bytes.len(), None))
                }
                Err(e) => {
                    return Err(self.send_failure(bytes.len() - rest.len(), bytes.len(), Some(e)))
                }
            }
        }
        Ok(())
    }

    /// Sends from `bytes` for as long as the program takes them, reading nothing: stops
    /// when all are sent, or when nothing more goes for `patience` (the program has
    /// stopped reading, and every buffer between us is full). Returns how many went.
    ///
    /// # Errors
    /// A failure if the connection breaks.
    pub fn send_while_taken(&mut self, bytes: &[u8], patience: Duration) -> Result<usize, Failure> {
        let mut sent = 0;
        while sent < bytes.len() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // A write that has sent part of its bytes when the timeout strikes returns
            // that part, so progress is never lost to the timeout.
            let _ = self.stream.set_write_timeout(Some(left.min(patience)));
            let end = (sent + 256 * 1024).min(bytes.len());
            match self.stream.write(&bytes[sent..end]) {
                Ok(0) => break,
                Ok(n) => {
                    self.log
                        .data(&self.label, Side::Client, &bytes[sent..sent + n]);
                    sent += n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    self.log.event(
                        &self.label,
                        Event::NotTaking {
                            waited_ms: patience.as_millis() as u64,
                        },
                    );
                    break;
                }
                Err(e) => return Err(self.send_failure(sent, bytes.len(), Some(e))),
            }
        }
        Ok(sent)
    }

    fn send_failure(&self, sent: usize, total: usize, err: Option<io::Error>) -> Failure {
        // A reset or broken pipe while we send means the program closed its socket with
        // our bytes still unread: from outside, it closed early, whichever test saw it.
        let closed = err.as_ref().is_some_and(|e| {
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe)
        });
        if let Some(e) = &err {
            self.log.event(
                &self.label,
                Event::Failed {
                    call: Call::Send,
                    error: e.to_string(),
                    reset: is_reset(e),
                },
            );
        }
        let why = match err {
            Some(e) if closed => {
                format!("the program closed the connection while bytes were still coming ({e})")
            }
            Some(e) => format!("the connection failed while sending ({e})"),
            None => {
                self.log.event(&self.label, Event::SendTimedOut);
                "the program stopped reading (its receive buffer stayed full until the time limit)"
                    .to_string()
            }
        };
        let failure = Failure::new(format!(
            "could not send all bytes on {}: {why}, after {sent} of {total} bytes",
            self.label
        ));
        if closed {
            failure.symptom(Symptom::ClosedEarly)
        } else {
            failure
        }
    }

    /// Sets how long reads wait for the next byte before giving up (default [`IDLE_LIMIT`]);
    /// a probe that expects a legitimate silence sets it longer.
    pub fn set_idle_limit(&mut self, limit: Duration) {
        self.idle_limit = limit;
    }

    /// Reads until `n` bytes have arrived, the peer closes, an error, the deadline, or
    /// nothing arrives for the idle limit.
    pub fn recv_exact(&mut self, n: usize) -> Received {
        self.recv_until(n, self.deadline)
    }

    /// Like [`Conn::recv_exact`] with an earlier deadline of its own.
    pub fn recv_until(&mut self, n: usize, deadline: Instant) -> Received {
        let deadline = deadline.min(self.deadline);
        let mut bytes = Vec::with_capacity(n.min(1 << 24));
        let mut buf = vec![0u8; 64 * 1024];
        let mut last_progress = Instant::now();
        while bytes.len() < n {
            let want = (n - bytes.len()).min(buf.len());
            match self.read_once(&mut buf[..want], deadline, last_progress) {
                Ok(k) => {
                    bytes.extend_from_slice(&buf[..k]);
                    last_progress = Instant::now();
                }
                Err(end) => return Received { bytes, end },
            }
        }
        Received {
            bytes,
            end: End::Complete,
        }
    }

    /// Reads whatever arrives next, at most `max` bytes: returns after the first read
    /// that brings bytes (or the peer closes, an error, the deadline, the idle limit).
    /// For line-based protocols, whose messages have no length to wait for.
    pub fn recv_some(&mut self, max: usize) -> Received {
        let mut buf = vec![0u8; max.max(1)];
        match self.read_once(&mut buf, self.deadline, Instant::now()) {
            Ok(k) => {
                buf.truncate(k);
                Received {
                    bytes: buf,
                    end: End::Complete,
                }
            }
            Err(end) => Received {
                bytes: Vec::new(),
                end,
            },
        }
    }

    /// One read into `buf`: the number of bytes that arrived, or how the stream ended — the
    /// peer closed, an error, `deadline`, or nothing for the idle limit counted from
    /// `since`. Everything is noted in the transcript. The one receive loop of a `Conn`.
    fn read_once(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        since: Instant,
    ) -> Result<usize, End> {
        loop {
            let left = deadline
                .min(since + self.idle_limit)
                .saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.log.event(
                    &self.label,
                    Event::Silence {
                        waited_ms: transcript::waited_ms(since),
                    },
                );
                return Err(End::TimedOut);
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(buf) {
                Ok(0) => {
                    self.log.event(&self.label, Event::Eof);
                    return Err(End::Eof);
                }
                Ok(k) => {
                    self.log.data(&self.label, Side::Server, &buf[..k]);
                    return Ok(k);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => {
                    self.log.event(
                        &self.label,
                        Event::Failed {
                            call: Call::Receive,
                            error: e.to_string(),
                            reset: is_reset(&e),
                        },
                    );
                    return Err(End::Error(e.to_string()));
                }
            }
        }
    }

    /// Reads whatever arrives until the peer closes (or `limit` bytes, an error, or the
    /// deadline).
    pub fn recv_to_eof(&mut self, limit: usize) -> Received {
        let r = self.recv_exact(limit + 1);
        match r.end {
            End::Complete => Received {
                bytes: r.bytes,
                end: End::Error(format!("more than {limit} bytes arrived")),
            },
            _ => r,
        }
    }

    /// Waits for the peer to close, expecting no further bytes.
    ///
    /// # Errors
    /// A failure if bytes arrive, or the connection stays open until the deadline.
    pub fn expect_eof(&mut self, after: &str) -> Result<(), Failure> {
        let r = self.recv_to_eof(1 << 16);
        match r.end {
            End::Eof if r.bytes.is_empty() => Ok(()),
            End::Eof | End::Error(_) if !r.bytes.is_empty() => Err(Failure::new(format!(
                "{} unexpected bytes arrived on {} {after}",
                r.bytes.len(),
                self.label
            ))
            .got(bytes::escape(&r.bytes, 64))),
            End::TimedOut => Err(Failure::new(format!(
                "the program never closed {} {after}",
                self.label
            ))
            .symptom(Symptom::NeverClosed)
            .expected("the connection to be closed (a read returning 0 bytes)")
            .got("the connection stayed open and silent")),
            End::Error(e) => Err(Failure::new(format!(
                "{} failed instead of closing cleanly {after}: {e}",
                self.label
            ))),
            End::Eof | End::Complete => Ok(()),
        }
    }

    /// Shuts down our write side (sends FIN): "I will send no more".
    ///
    /// # Errors
    /// If the socket is already broken.
    pub fn half_close(&mut self) -> Result<(), Failure> {
        self.log.event(&self.label, Event::HalfClose);
        self.stream
            .shutdown(Shutdown::Write)
            .map_err(|e| Failure::new(format!("half-close of {} failed: {e}", self.label)))
    }

    /// Limits the kernel's receive buffer for this socket (disables its auto-tuning).
    pub fn set_recv_buffer(&self, bytes: usize) {
        set_recv_buffer(&self.stream, bytes);
    }

    /// Limits the kernel's send buffer for this socket, so that what a probe manages to
    /// send is what the program took, not what our own kernel holds.
    pub fn set_send_buffer(&self, bytes: usize) {
        set_send_buffer(&self.stream, bytes);
    }

    /// Closes the connection abruptly with a TCP reset (RST) instead of a FIN.
    pub fn reset(self) {
        self.log.event(&self.label, Event::Reset);
        // SO_LINGER on with a zero timeout makes close() discard unsent data and send RST.
        // An unusual kernel may refuse it: the close is then an ordinary one.
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        drop(self.stream);
    }

    /// Closes the connection normally.
    pub fn close(self) {
        self.log.event(&self.label, Event::Close);
    }
}

/// Sets a socket's receive buffer (`SO_RCVBUF`; the kernel doubles the value for its
/// bookkeeping). Failures are ignored: a probe works with the default too.
pub(crate) fn set_recv_buffer(socket: &impl std::os::fd::AsFd, bytes: usize) {
    let _ = socket2::SockRef::from(socket).set_recv_buffer_size(bytes);
}

/// Sets a socket's send buffer (`SO_SNDBUF`); failures are ignored, as above.
pub(crate) fn set_send_buffer(socket: &impl std::os::fd::AsFd, bytes: usize) {
    let _ = socket2::SockRef::from(socket).set_send_buffer_size(bytes);
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Whether a call failed because the program reset the connection (its RST arrived).
fn is_reset(e: &io::Error) -> bool {
    e.kind() == ErrorKind::ConnectionReset
}

/// How `got` departs from `expected` where they first differ: EF BF BD (the Unicode
/// replacement character, what a lossy conversion to text writes), a gap (the bytes there
/// belong further on: some were skipped), or other bytes.
fn how_bytes_differ(expected: &[u8], got: &[u8]) -> Symptom {
    let at = expected.iter().zip(got).take_while(|(a, b)| a == b).count();
    let rest = &got[at.min(got.len())..];
    if rest.starts_with(&[0xEF, 0xBF, 0xBD])
        && !expected[at.min(expected.len())..].starts_with(&[0xEF, 0xBF, 0xBD])
    {
        return Symptom::TextConversion;
    }
    let probe = &rest[..rest.len().min(32)];
    let skipped = probe.len() >= 8
        && expected
            .get(at + 1..)
            .is_some_and(|later| later.windows(probe.len()).any(|w| w == probe));
    if skipped {
        Symptom::BytesSkipped
    } else if rest.is_empty() {
        Symptom::ClosedEarly
    } else {
        Symptom::BytesAltered
    }
}

/// Checks that `received` is exactly `expected`, explaining any difference.
///
/// `what` names the stream in messages ("the echo on c1").
///
/// # Errors
/// A failure naming where the bytes diverged and how the reading ended.
pub fn expect_bytes(what: &str, expected: &[u8], received: &Received) -> Result<(), Failure> {
    let got = &received.bytes;
    if got.as_slice() == expected {
        return Ok(());
    }
    let prefix_ok = expected.starts_with(got);
    let symptom = match (&received.end, prefix_ok) {
        (End::Eof | End::TimedOut, true) if got.ends_with(b"\n") => Symptom::StoppedAtLineEnd,
        (End::Eof, true) => Symptom::ClosedEarly,
        (End::TimedOut, true) => Symptom::WentSilent,
        (End::Error(_), true) => Symptom::ClosedEarly,
        _ => how_bytes_differ(expected, got),
    };
    let summary = match (&received.end, prefix_ok) {
        (End::Eof, true) => format!(
            "{what} stopped after {} of {} bytes: the program closed the connection",
            got.len(),
            expected.len()
        ),
        (End::TimedOut, true) => format!(
            "{what} stopped after {} of {} bytes: nothing more arrived (the program holds back bytes, or stopped echoing)",
            got.len(),
            expected.len()
        ),
        (End::Error(e), true) => format!(
            "{what} stopped after {} of {} bytes: {e}",
            got.len(),
            expected.len()
        ),
        _ => format!("{what} does not match what was sent"),
    };
    let mut f = Failure::new(summary)
        .expected(bytes::describe(expected))
        .got(bytes::describe(got))
        .symptom(symptom);
    if let Some(diff) = bytes::first_difference(expected, got) {
        f = f.detail(diff);
    }
    Err(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_that_started_no_server_skips_what_it_would_ask_the_server() {
        let values = Placeholders {
            host: "127.0.0.1".into(),
            port: 1,
            root: PathBuf::from("/nonexistent"),
        };
        let program = Program::new(vec!["client".into()]);
        let ctx = Ctx::new(&values, program, 1, Rng::new(1), Duration::from_secs(1));
        assert!(matches!(ctx.server(), Err(Verdict::Skip(_))));
    }
}
