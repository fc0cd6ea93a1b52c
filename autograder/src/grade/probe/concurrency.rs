//! Probes for concurrent echo servers (labs 2 and 3): many clients at once, a client that
//! stalls, a client that never reads, and what the server costs while it serves them.
//!
//! They test behaviour only: what arrives on the sockets, and facts any operating system
//! can report about a process (threads, children, descriptors, CPU, memory). A server in
//! any language, with threads, a pool, `select`, epoll or `asyncio`, passes when it behaves.
//!
//! | probe | the mistake it catches |
//! |---|---|
//! | [`stalled_client`] | serving one client at a time (iterative, or one global lock) |
//! | [`many_clients`] | a fixed handful of workers; clients' bytes mixed up (a shared buffer) |
//! | [`connection_burst`] | sockets never closed (descriptors leak), errors under a burst |
//! | [`single_thread`] | a thread (or process) per client where one thread is required |
//! | [`idle_cpu`] | a loop that polls sockets without sleeping in a readiness call |
//! | [`non_reading_client`] | a blocking send inside the event loop |
//! | [`bounded_memory`] | buffering without bound for a client that does not read |
//! | [`thousand_clients`] | not scaling to 1,000 simultaneous connections |
//!
//! Many clients are driven by a [`Swarm`]: non-blocking sockets multiplexed with `poll(2)`
//! on one grader thread, so a thousand clients cost the grader no threads, and no client
//! can deadlock the grader by filling a buffer. Clients move in *rounds*: every client
//! sends a random chunk, and the next round starts only once every client has its echo.
//! A server that serves clients one (or a few) at a time cannot get past the first round,
//! however deep its listen backlog.
//!
//! Try it by hand against your server: open a few `nc 127.0.0.1 PORT` sessions, type into
//! the first one without pressing Enter, and check that the others still echo.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{bytes, expect_bytes, Ctx, End};
use crate::grade::probe::{Failure, ProbeResult, Symptom, Verdict};
use crate::os::procfs;

/// How long a swarm waits without any byte moving before it declares the server stuck.
/// Long enough for a loaded machine; a serial server never moves again.
const SWARM_IDLE: Duration = Duration::from_secs(5);

/// The receive buffer of swarm clients: small, so the program's writes fill it while the
/// grader is busy with other clients, but above loopback's segment size (64 KiB). A buffer
/// smaller than one segment can leave the window closed until a zero-window probe, and
/// those back off to several seconds.
const RECV_BUFFER: usize = 128 * 1024;

/// How long one connection attempt may take. A full listen backlog makes the kernel drop
/// SYNs, and the client retries after 1 s, then 2 s more: allow for two retries.
const CONNECT_LIMIT: Duration = Duration::from_secs(8);

/// One client of a [`Swarm`].
#[derive(Debug)]
struct Peer {
    label: String,
    stream: TcpStream,
    /// Everything this client has sent or will send, in order (all rounds so far).
    out: Vec<u8>,
    /// How much of `out` has been written.
    sent: usize,
    /// Length of `out` before the current round's chunk.
    round_start: usize,
    /// Everything that came back.
    got: Vec<u8>,
    /// The server closed the connection (a read returned 0).
    eof: bool,
}

/// How a swarm's wait ended badly.
#[derive(Debug)]
enum SwarmError {
    /// Nothing moved for [`SWARM_IDLE`]: these peers (indices) still wait.
    Stuck(Vec<usize>),
    /// A concrete failure on one peer.
    Failed(Failure),
}

/// Which peers a [`Swarm::drive`] moves, and when it is done.
#[derive(Debug, Clone, Copy, Default)]
struct Phase {
    /// Also wait for every peer's close.
    until_eof: bool,
    /// Move only this peer.
    only: Option<usize>,
    /// Leave this peer alone.
    skip: Option<usize>,
    /// Send only: read nothing (a client that does not read its echo).
    send_only: bool,
    /// Done (not stuck) once nothing has moved for this long.
    quiet: Option<Duration>,
}

/// How long a held client's sends must make no progress before we take it that the
/// program has stopped reading from it (its writes to that client are blocked, or its
/// output for it is full).
const HOLD_QUIET: Duration = Duration::from_millis(500);

/// Many client connections, driven together by one thread with `poll(2)`.
#[derive(Debug)]
pub struct Swarm {
    peers: Vec<Peer>,
    /// The chunk sizes of the last round, for messages.
    rounds: usize,
}

impl Swarm {
    /// Opens `count` connections to `addr`, one after another, all kept open.
    ///
    /// `recv_buffer` (bytes), when given, limits each socket's receive buffer so that the
    /// server's writes fill up and come back partial (or block) while we are busy with
    /// other clients.
    ///
    /// # Errors
    /// A failure naming the connection that could not be opened while the others were.
    pub fn open(
        addr: SocketAddr,
        count: usize,
        recv_buffer: Option<usize>,
        deadline: Instant,
    ) -> Result<Swarm, Failure> {
        let mut peers = Vec::with_capacity(count);
        for i in 1..=count {
            let limit = deadline
                .saturating_duration_since(Instant::now())
                .min(CONNECT_LIMIT)
                .max(Duration::from_millis(1));
            let stream = TcpStream::connect_timeout(&addr, limit).map_err(|e| {
                Failure::new(format!(
                    "could not open connection {i} of {count} while the {} before it were still open: {e}",
                    i - 1
                ))
                .detail("All connections are opened first and kept open: the program must accept new clients while it serves the earlier ones.")
            })?;
            if let Some(size) = recv_buffer {
                set_recv_buffer(&stream, size);
            }
            stream.set_nonblocking(true).map_err(|e| {
                Failure::new(format!("the grader cannot make a socket non-blocking: {e}"))
            })?;
            let _ = stream.set_nodelay(true);
            peers.push(Peer {
                label: format!("c{i}"),
                stream,
                // One byte to be echoed before the next client connects (see below).
                out: vec![b'0' + (i % 10) as u8],
                sent: 0,
                round_start: 0,
                got: Vec::new(),
                eof: false,
            });
            let mut swarm = Swarm { peers, rounds: 0 };
            // Wait for that byte's echo: it shows the program has accepted this client.
            // Connecting faster than the program accepts would overflow its listen backlog
            // (the kernel then drops connection attempts, and clients retry a second
            // later), and a program that serves clients one at a time shows right here.
            let phase = Phase {
                only: Some(i - 1),
                ..Phase::default()
            };
            match swarm.drive(phase, deadline) {
                Ok(()) => {}
                Err(SwarmError::Failed(f)) => return Err(f),
                Err(SwarmError::Stuck(_)) => {
                    return Err(Failure::new(format!(
                        "c{i} got no echo of its first byte within {} s, while the {} client(s) connected before it stayed connected",
                        SWARM_IDLE.as_secs(),
                        i - 1
                    ))
                    .expected("every client served at the same time as the others")
                    .got(format!("nothing on c{i}"))
                    .detail("Every client keeps its connection open, so a server that serves clients one at a time (or a fixed few at a time, or behind one lock) never gets to this one.")
                    .symptom(Symptom::Stalled))
                }
            }
            peers = swarm.peers;
        }
        Ok(Swarm { peers, rounds: 0 })
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether the swarm has no clients.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// One round: every client sends its chunk (`chunks[i]` for client `i`), and the
    /// round ends when every client has received the echo of everything it sent.
    ///
    /// # Errors
    /// A failure when a client receives bytes it did not send, the connection closes or
    /// breaks, or nothing moves for a while (explaining who still waits).
    pub fn round(&mut self, chunks: Vec<Vec<u8>>, deadline: Instant) -> Result<(), Failure> {
        self.rounds += 1;
        for (peer, chunk) in self.peers.iter_mut().zip(chunks) {
            peer.round_start = peer.out.len();
            peer.out.extend_from_slice(&chunk);
        }
        match self.drive(Phase::default(), deadline) {
            Ok(()) => Ok(()),
            Err(SwarmError::Failed(f)) => Err(f),
            Err(SwarmError::Stuck(waiting)) => Err(self.stuck_failure(&waiting)),
        }
    }

    /// Like [`Swarm::round`], but client `held` does not read its echo until all the
    /// others have theirs. It sends its (large) chunk first, until the program stops
    /// taking its bytes: a thread serving it is then blocked in a write, with the rest of
    /// that client's bytes still in its buffer. The other clients must be served
    /// meanwhile, and `held` must then get its own bytes back, not bytes that another
    /// client's thread read into a buffer they share.
    ///
    /// # Errors
    /// As [`Swarm::round`].
    pub fn round_holding(
        &mut self,
        chunks: Vec<Vec<u8>>,
        held: usize,
        deadline: Instant,
    ) -> Result<(), Failure> {
        self.rounds += 1;
        for (peer, chunk) in self.peers.iter_mut().zip(chunks) {
            peer.round_start = peer.out.len();
            peer.out.extend_from_slice(&chunk);
        }
        // A small send buffer on our side, so that what we manage to send is what the
        // program took (into its own buffers and the kernel's), not what our kernel holds.
        set_buffer(&self.peers[held].stream, libc::SO_SNDBUF, 64 * 1024);
        let phases = [
            Phase {
                only: Some(held),
                send_only: true,
                quiet: Some(HOLD_QUIET),
                ..Phase::default()
            },
            Phase {
                skip: Some(held),
                ..Phase::default()
            },
            Phase::default(),
        ];
        for (n, phase) in phases.into_iter().enumerate() {
            if n == 1 {
                // The held client stops sending where the program stopped taking its
                // bytes, and will expect exactly those back.
                let p = &mut self.peers[held];
                p.out.truncate(p.sent);
                p.out.shrink_to_fit();
            }
            match self.drive(phase, deadline) {
                Ok(()) => {}
                Err(SwarmError::Failed(f)) => return Err(f),
                Err(SwarmError::Stuck(waiting)) => {
                    let p = &self.peers[held];
                    let mut f = self.stuck_failure(&waiting);
                    if phase.skip.is_some() {
                        f = f.detail(format!(
                            "Meanwhile {} had sent {} bytes and was not reading its echo: a server that blocks on one client's write (one thread for everybody, or a lock held while writing) stops serving the others.",
                            p.label, p.sent - p.round_start
                        ));
                    }
                    return Err(f);
                }
            }
        }
        Ok(())
    }

    /// Half-closes every client, and expects each connection to be closed by the server
    /// with no further bytes.
    ///
    /// # Errors
    /// A failure naming a client whose connection stayed open, or got extra bytes.
    pub fn finish(&mut self, deadline: Instant) -> Result<(), Failure> {
        for peer in &mut self.peers {
            if let Err(e) = peer.stream.shutdown(Shutdown::Write) {
                return Err(Failure::new(format!(
                    "half-close of {} failed: {e} (did the program reset it?)",
                    peer.label
                )));
            }
        }
        let phase = Phase {
            until_eof: true,
            ..Phase::default()
        };
        match self.drive(phase, deadline) {
            Ok(()) => Ok(()),
            Err(SwarmError::Failed(f)) => Err(f),
            Err(SwarmError::Stuck(waiting)) => {
                let names = labels(&self.peers, &waiting);
                Err(Failure::new(format!(
                    "{} of {} connections were never closed by the program after their clients half-closed ({names})",
                    waiting.len(),
                    self.peers.len()
                ))
                .expected("each connection closed (a read returning 0) once its echo is complete")
                .got("the connections stayed open and silent"))
            }
        }
    }

    /// Moves bytes until every peer in `phase` has its full echo (and, with `until_eof`,
    /// the close), or, for a phase with `quiet`, until nothing moves for that long.
    fn drive(&mut self, phase: Phase, deadline: Instant) -> Result<(), SwarmError> {
        let idle_limit = phase.quiet.unwrap_or(SWARM_IDLE);
        let mut last_progress = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.peers.len());
        let mut index: Vec<usize> = Vec::with_capacity(self.peers.len());
        loop {
            fds.clear();
            index.clear();
            for (i, p) in self.peers.iter().enumerate() {
                if phase.only.is_some_and(|o| o != i) || phase.skip == Some(i) {
                    continue;
                }
                let mut events = 0;
                if p.sent < p.out.len() {
                    events |= libc::POLLOUT;
                }
                if !phase.send_only && (p.got.len() < p.out.len() || (phase.until_eof && !p.eof)) {
                    events |= libc::POLLIN;
                }
                if events != 0 {
                    fds.push(libc::pollfd {
                        fd: p.stream.as_raw_fd(),
                        events,
                        revents: 0,
                    });
                    index.push(i);
                }
            }
            if fds.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if phase.quiet.is_some() && now.duration_since(last_progress) >= idle_limit {
                return Ok(());
            }
            if now >= deadline || now.duration_since(last_progress) >= idle_limit {
                return Err(SwarmError::Stuck(index.clone()));
            }
            let wait = deadline
                .min(last_progress + idle_limit)
                .saturating_duration_since(now)
                .min(Duration::from_millis(200));
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the call.
            let n = unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    wait.as_millis().max(1) as libc::c_int,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(SwarmError::Failed(Failure::new(format!(
                    "the grader's poll() failed: {e}"
                ))));
            }
            for (fd, &i) in fds.iter().zip(&index) {
                if fd.revents == 0 {
                    continue;
                }
                let peer = &mut self.peers[i];
                if fd.revents & libc::POLLOUT != 0 && peer.write_some()? {
                    last_progress = Instant::now();
                }
                if fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    match peer.read_some(&mut buf) {
                        Ok(true) => last_progress = Instant::now(),
                        Ok(false) => {}
                        Err(PeerError::Failed(f)) => return Err(SwarmError::Failed(f)),
                        Err(PeerError::Mismatch(at)) => {
                            return Err(SwarmError::Failed(self.mismatch_failure(i, at)))
                        }
                    }
                }
            }
        }
    }

    /// Explains bytes that differ from what peer `i` sent, from byte `at` on: whose they
    /// are, if another client sent them.
    fn mismatch_failure(&self, i: usize, at: usize) -> Failure {
        let me = &self.peers[i];
        let wrong = &me.got[at..me.got.len().min(at + 16)];
        let owner = self
            .peers
            .iter()
            .find(|p| p.label != me.label && p.out.windows(wrong.len()).any(|w| w == wrong));
        let f = Failure::new(format!(
            "{} received bytes it never sent, at byte {at} of its echo",
            me.label
        ))
        .expected(bytes::escape(&me.out[at..me.out.len().min(at + 16)], 48))
        .got(bytes::escape(wrong, 48));
        match owner {
            Some(p) => f.detail(format!(
                "Those bytes were sent by {}: clients' data got mixed up. Each connection needs its own buffer; a buffer shared between threads is overwritten by one while another is still sending from it.",
                p.label
            )),
            None => f.detail("The bytes were altered. Echo exactly the bytes read, each to the client that sent them."),
        }
    }

    fn stuck_failure(&self, waiting: &[usize]) -> Failure {
        let served = self
            .peers
            .iter()
            .filter(|p| p.got.len() >= p.out.len())
            .count();
        let silent = waiting
            .iter()
            .filter(|&&i| self.peers[i].got.len() <= self.peers[i].round_start)
            .count();
        Failure::new(format!(
            "{} of {} clients were still waiting for their echo in round {} after {} s without progress ({}); {served} had theirs",
            waiting.len(),
            self.peers.len(),
            self.rounds,
            SWARM_IDLE.as_secs(),
            labels(&self.peers, waiting)
        ))
        .expected(format!("all {} clients, connected at the same time, served at the same time", self.peers.len()))
        .got(format!("{silent} of the waiting clients got nothing back at all in this round"))
        .detail("Every client keeps its connection open and waits for its echo before it sends more, so a server that serves clients one at a time (or a fixed few at a time, or behind one lock) can never answer the rest.")
        .symptom(Symptom::Stalled)
    }
}

/// How reading from one peer went wrong.
#[derive(Debug)]
enum PeerError {
    /// The connection broke or closed early.
    Failed(Failure),
    /// The echo differs from what was sent, from this byte on.
    Mismatch(usize),
}

impl Peer {
    /// Writes what it can; returns whether any byte went out.
    fn write_some(&mut self) -> Result<bool, SwarmError> {
        let mut moved = false;
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => break,
                Ok(n) => {
                    self.sent += n;
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(SwarmError::Failed(
                        Failure::new(format!(
                            "sending on {} failed after {} of {} bytes: {e}",
                            self.label,
                            self.sent,
                            self.out.len()
                        ))
                        .detail("The program closed or reset this client's connection while it was still sending."),
                    ))
                }
            }
        }
        Ok(moved)
    }

    /// Reads what has arrived, checking it against what was sent; returns whether any
    /// byte (or the close) came in.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<bool, PeerError> {
        let mut moved = false;
        loop {
            match self.stream.read(buf) {
                Ok(0) => {
                    self.eof = true;
                    if self.got.len() < self.out.len() {
                        return Err(PeerError::Failed(Failure::new(format!(
                            "the program closed {} after echoing {} of the {} bytes it sent",
                            self.label,
                            self.got.len(),
                            self.out.len()
                        ))));
                    }
                    return Ok(true);
                }
                Ok(n) => {
                    moved = true;
                    let start = self.got.len();
                    self.got.extend_from_slice(&buf[..n]);
                    self.check(start)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(moved),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(PeerError::Failed(Failure::new(format!(
                        "receiving on {} failed after {} of {} bytes: {e}",
                        self.label,
                        self.got.len(),
                        self.out.len()
                    ))))
                }
            }
        }
    }

    /// Checks the bytes from `start` on against what this client sent.
    fn check(&self, start: usize) -> Result<(), PeerError> {
        let limit = self.out.len().min(self.got.len());
        let at = start
            + self.got[start..limit]
                .iter()
                .zip(&self.out[start..limit])
                .take_while(|(a, b)| a == b)
                .count();
        if at < limit {
            return Err(PeerError::Mismatch(at));
        }
        if self.got.len() > self.out.len() {
            return Err(PeerError::Failed(
                Failure::new(format!(
                    "{} received {} bytes more than it sent",
                    self.label,
                    self.got.len() - self.out.len()
                ))
                .got(bytes::escape(&self.got[self.out.len()..], 48)),
            ));
        }
        Ok(())
    }
}

fn labels(peers: &[Peer], which: &[usize]) -> String {
    let mut names: Vec<&str> = which
        .iter()
        .take(8)
        .map(|&i| peers[i].label.as_str())
        .collect();
    if which.len() > 8 {
        names.push("…");
    }
    names.join(", ")
}

/// Limits a socket's receive buffer (the kernel doubles the value for bookkeeping).
fn set_recv_buffer(stream: &TcpStream, bytes: usize) {
    set_buffer(stream, libc::SO_RCVBUF, bytes);
}

/// Sets a socket buffer size option (`SO_RCVBUF`, `SO_SNDBUF`).
fn set_buffer(stream: &TcpStream, option: libc::c_int, bytes: usize) {
    super::set_int_option(stream, option, bytes as libc::c_int);
}

/// Random chunks, one per client, of `lo..=hi` bytes.
fn chunks(ctx: &mut Ctx, count: usize, lo: usize, hi: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            let len = ctx.rng.range(lo, hi);
            ctx.rng.bytes(len)
        })
        .collect()
}

/// A client that connects first and stalls mid-message must not hold up later clients.
pub fn stalled_client(ctx: &mut Ctx) -> ProbeResult {
    let first_part = format!("the first half of a slow message {} ", ctx.rng.token(8)).into_bytes();
    let second_part = format!("and its second half {}", ctx.rng.token(8)).into_bytes();
    let mut slow = ctx.connect()?;
    slow.send(&first_part)?;
    // Its first half comes back: the program is serving this client now (an iterative
    // server is now blocked reading from it).
    let echo = slow.recv_exact(first_part.len());
    expect_bytes("the echo of the first half on c1", &first_part, &echo)?;
    let later = ctx.rng.range(3, 5);
    for i in 2..=later + 1 {
        let len = ctx.rng.range(10, 4000);
        let payload = ctx.rng.bytes(len);
        let mut conn = ctx.connect()?;
        conn.send(&payload)?;
        conn.half_close()?;
        let echo = conn.recv_to_eof(len + 65536);
        let stall = |f: Failure| {
            f.detail(format!(
                "c1 connected first, sent half a message and is waiting, its connection open. Client c{i} came later and must be served meanwhile: a server that serves one client at a time is stuck reading from c1."
            ))
            .symptom(Symptom::Stalled)
            .reproduce(format!(
                "nc 127.0.0.1 {port}   (type something, no Enter, keep it open; then in another terminal:)   printf hello | nc -N 127.0.0.1 {port}",
                port = ctx.reproduce_port
            ))
        };
        expect_bytes(
            &format!("the echo on c{i} while c1 stalls"),
            &payload,
            &echo,
        )
        .map_err(stall)?;
        if echo.end != End::Eof {
            return Err(stall(Failure::new(format!(
                "c{i} got its echo but its connection was not closed after its half-close"
            )))
            .into());
        }
    }
    // The stalled client finishes its message and must get the rest of its echo.
    slow.send(&second_part)?;
    slow.half_close()?;
    let echo = slow.recv_to_eof(second_part.len() + 65536);
    expect_bytes("the echo of the second half on c1", &second_part, &echo)?;
    if echo.end != End::Eof {
        return Err(Failure::new("c1 got its echo but was not closed after its half-close").into());
    }
    Ok(())
}

/// 100-120 clients connected at once exchange random chunks in lock-step rounds.
pub fn many_clients(ctx: &mut Ctx) -> ProbeResult {
    let count = ctx.rng.range(100, 120);
    let deadline = ctx.deadline();
    // Small receive buffers (see RECV_BUFFER): the program's writes fill them while the
    // grader is busy with other clients, so its writes come back partial or block.
    let mut swarm = Swarm::open(ctx.addr(), count, Some(RECV_BUFFER), deadline)?;
    for n in 0..3 {
        let mut round = chunks(ctx, count, 1, 48 * 1024);
        let result = if n == 0 {
            // One client sends until the program stops taking its bytes (up to 24 MiB,
            // more than the kernel's buffers hold, so that only a program that buffers
            // without bound takes it all) and reads its echo only once every other client
            // has had theirs: whatever serves it is stuck in a write meanwhile, or has
            // stopped reading from it.
            let held = ctx.rng.range(0, count - 1);
            let block = ctx.rng.bytes(MIB);
            round[held] = block.repeat(24);
            swarm.round_holding(round, held, deadline)
        } else {
            swarm.round(round, deadline)
        };
        result.map_err(|f| reproduce_many(f, ctx.reproduce_port))?;
    }
    swarm.finish(deadline)?;
    Ok(())
}

fn reproduce_many(f: Failure, port: u16) -> Failure {
    f.reproduce(format!(
        "for i in 1 2 3; do (printf 'client '$i; sleep 3) | nc 127.0.0.1 {port} & done; wait   (each should print its own line at once)"
    ))
}

/// Several hundred short connections from a few client threads; afterwards the program
/// must hold no more file descriptors than before.
pub fn connection_burst(ctx: &mut Ctx) -> ProbeResult {
    let total = ctx.rng.range(300, 400);
    let workers = 8;
    let addr = ctx.addr();
    let deadline = ctx.deadline();
    // Warm up: the first client may make a runtime open files it keeps (a poller, say).
    super::echo::short_message(ctx)?;
    let pid = ctx.server_pid;
    let before = pid.and_then(procfs::fd_count);
    let next = Arc::new(AtomicUsize::new(0));
    let failure: Arc<Mutex<Option<Failure>>> = Arc::new(Mutex::new(None));
    // One payload for the whole burst. This test is about opening and closing many
    // connections; whether each client gets its own bytes back is `many-clients`' job, and
    // a shared payload keeps a server that mixes clients' bytes from failing here by chance.
    let len = ctx.rng.range(1, 200);
    let payload = Arc::new(ctx.rng.bytes(len));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (next, failure, payload) = (next.clone(), failure.clone(), payload.clone());
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                if let Err(f) = short_connection(addr, &payload, deadline) {
                    let f = f.detail(format!(
                        "(connection {} of {} in a burst of short connections)",
                        i + 1,
                        total
                    ));
                    failure
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(f);
                    return;
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    if let Some(f) = failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(f.into());
    }
    let (Some(pid), Some(before)) = (pid, before) else {
        return Err(Verdict::Skip(format!(
            "the burst of {total} connections was served, but this system has no /proc to count the program's file descriptors"
        )));
    };
    // Closing is the server's last step after the client has its echo: give it time.
    let slack = 8;
    let wait_until = Instant::now() + Duration::from_secs(5);
    let mut now_open = procfs::fd_count(pid).unwrap_or(0);
    while now_open > before + slack && Instant::now() < wait_until.min(deadline) {
        thread::sleep(Duration::from_millis(20));
        now_open = procfs::fd_count(pid).unwrap_or(0);
    }
    if now_open > before + slack {
        return Err(Failure::new(format!(
            "after {total} short connections, all finished by their clients, the program holds {now_open} open file descriptors (it held {before} before the burst)"
        ))
        .expected(format!("about {before} descriptors once every client is gone"))
        .got(format!("{} more", now_open - before))
        .detail("Every accepted connection is a file descriptor until it is closed. Drop (close) each connection's socket when its client is done, and keep no copies of it (clones, a list of all clients).")
        .reproduce(format!(
            "for i in $(seq 300); do printf x | nc -N 127.0.0.1 {} >/dev/null; done; ls /proc/$(pgrep -n YOUR_PROGRAM)/fd | wc -l",
            ctx.reproduce_port
        ))
        .into());
    }
    Ok(())
}

/// One short connection: send, half-close, expect the echo and the close.
fn short_connection(addr: SocketAddr, payload: &[u8], deadline: Instant) -> Result<(), Failure> {
    let limit = deadline
        .saturating_duration_since(Instant::now())
        .min(CONNECT_LIMIT);
    if limit.is_zero() {
        return Err(Failure::new("the test ran out of time during the burst"));
    }
    let mut s = TcpStream::connect_timeout(&addr, limit)
        .map_err(|e| Failure::new(format!("could not connect: {e}")))?;
    let _ = s.set_read_timeout(Some(super::IDLE_LIMIT));
    let _ = s.set_write_timeout(Some(super::IDLE_LIMIT));
    s.write_all(payload)
        .map_err(|e| Failure::new(format!("sending {} bytes failed: {e}", payload.len())))?;
    s.shutdown(Shutdown::Write)
        .map_err(|e| Failure::new(format!("half-close failed: {e}")))?;
    let mut got = Vec::new();
    let end = match s.read_to_end(&mut got) {
        Ok(_) => End::Eof,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => End::TimedOut,
        Err(e) => End::Error(e.to_string()),
    };
    let received = super::Received { bytes: got, end };
    expect_bytes("the echo of a short connection", payload, &received)?;
    if received.end != End::Eof {
        return Err(Failure::new("the connection was not closed after the echo"));
    }
    Ok(())
}

/// While 40-60 clients exchange data, the program has one thread and no child process.
pub fn single_thread(ctx: &mut Ctx) -> ProbeResult {
    let Some(pid) = ctx.server_pid.filter(|_| procfs::available()) else {
        return Err(Verdict::Skip(
            "no /proc here: cannot count the program's threads".into(),
        ));
    };
    let count = ctx.rng.range(40, 60);
    let deadline = ctx.deadline();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        thread::spawn(move || {
            let (mut max_threads, mut kids, mut samples) = (0usize, Vec::<u32>::new(), 0u32);
            while !done.load(Ordering::Relaxed) {
                if let Some(n) = procfs::thread_count(pid) {
                    max_threads = max_threads.max(n);
                }
                // The children scan reads all of /proc: do it every tenth sample only.
                if samples % 10 == 0 {
                    for child in procfs::children(pid).unwrap_or_default() {
                        if !kids.contains(&child) {
                            kids.push(child);
                        }
                    }
                }
                samples += 1;
                thread::sleep(Duration::from_millis(2));
            }
            (max_threads, kids, samples)
        })
    };
    let result = (|| -> Result<(), Failure> {
        let mut swarm = Swarm::open(ctx.addr(), count, Some(RECV_BUFFER), deadline)?;
        for _ in 0..4 {
            let round = chunks(ctx, count, 1, 32 * 1024);
            swarm.round(round, deadline)?;
        }
        swarm.finish(deadline)
    })();
    done.store(true, Ordering::Relaxed);
    let (max_threads, kids, _) = sampler.join().unwrap_or((0, Vec::new(), 0));
    result?;
    if max_threads > 1 || !kids.is_empty() {
        let mut f = Failure::new(format!(
            "while serving {count} clients the program ran {max_threads} threads and started {} child process(es)",
            kids.len()
        ))
        .expected("one process with one thread, whatever the number of clients")
        .got(format!("up to {max_threads} threads, {} child process(es)", kids.len()))
        .detail("Lab 3 serves every client from one thread: non-blocking sockets and a readiness loop (mio::Poll, epoll, select), no thread or process per client.")
        .reproduce("top -H -p $(pgrep -n YOUR_PROGRAM)   (while a few nc clients are connected: one line only)");
        if max_threads > 1 {
            f = f.detail("Threads were counted in /proc/PID/task. A language runtime that starts helper threads of its own counts too.");
        }
        return Err(f.into());
    }
    Ok(())
}

/// With 100 idle clients connected, the program sleeps: it uses (almost) no CPU.
pub fn idle_cpu(ctx: &mut Ctx) -> ProbeResult {
    let Some(pid) = ctx.server_pid.filter(|_| procfs::available()) else {
        return Err(Verdict::Skip(
            "no /proc here: cannot measure the program's CPU use".into(),
        ));
    };
    let count = 100;
    let deadline = ctx.deadline();
    let mut swarm = Swarm::open(ctx.addr(), count, None, deadline)?;
    // One tiny exchange each, so every connection is accepted and registered.
    let round = chunks(ctx, count, 1, 64);
    swarm.round(round, deadline)?;
    // The stimulus: nobody sends anything for two seconds.
    let window = Duration::from_secs(2);
    let (busy0, cpu0, t0) = (busy_seconds(pid), procfs::cpu_seconds(pid), Instant::now());
    thread::sleep(window);
    let (busy1, cpu1, elapsed) = (busy_seconds(pid), procfs::cpu_seconds(pid), t0.elapsed());
    let wall = elapsed.as_secs_f64();
    // "Busy" counts time running *and* time waiting for a CPU, so a loop that never
    // sleeps scores near 100% even on a machine too loaded to actually run it.
    let (fraction, how) = match (busy0, busy1, cpu0, cpu1) {
        (Some(a), Some(b), _, _) => ((b - a) / wall, "running or ready to run"),
        (_, _, Some(a), Some(b)) => ((b - a) / wall, "running"),
        _ => {
            return Err(Verdict::Skip(
                "cannot read the program's CPU time from /proc".into(),
            ))
        }
    };
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => format!("{:.2} s of CPU time", b - a),
        _ => "CPU time unknown".into(),
    };
    if fraction > 0.25 {
        return Err(Failure::new(format!(
            "with {count} idle clients connected, the program was {how} {:.0}% of a {wall:.1} s window ({cpu})",
            fraction * 100.0
        ))
        .expected("close to 0%: an idle server sleeps in its readiness call (epoll_wait, poll, select) until a socket is ready")
        .got(format!("{:.0}% busy", fraction * 100.0))
        .detail("A loop that tries every socket with non-blocking reads and goes round again (busy polling) burns a whole CPU doing nothing. Block in the readiness call, with no timeout (or a long one).")
        .reproduce("nc 127.0.0.1 PORT  (leave it idle), then: top -p $(pgrep -n YOUR_PROGRAM)   (%CPU should stay at 0)")
        .into());
    }
    swarm.finish(deadline)?;
    Ok(())
}

/// Time `pid`'s threads spent running or waiting for a CPU, in seconds, from
/// `/proc/PID/task/*/schedstat` (absent on kernels without scheduler statistics).
fn busy_seconds(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total_ns: u64 = 0;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
        total_ns += fields.next()??.saturating_add(fields.next()??);
    }
    Some(total_ns as f64 / 1e9)
}

/// A client that sends a lot and never reads, on a thread of the grader.
struct Hog {
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
    conn: TcpStream,
}

impl Hog {
    /// Connects and starts sending up to `total` bytes (a repeated random block), never
    /// reading; the thread stops when everything is sent, or nothing goes for `patience`.
    fn start(ctx: &mut Ctx, total: usize, patience: Duration) -> Result<Hog, Failure> {
        let conn = ctx.connect()?;
        conn.set_recv_buffer(16 * 1024);
        let stream = conn
            .stream()
            .try_clone()
            .map_err(|e| Failure::new(format!("cannot duplicate socket: {e}")))?;
        let block = ctx.rng.bytes(1 << 20);
        let sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut writer = stream
            .try_clone()
            .map_err(|e| Failure::new(format!("cannot duplicate socket: {e}")))?;
        let _ = writer.set_write_timeout(Some(Duration::from_millis(100)));
        let handle = {
            let (sent, stop) = (sent.clone(), stop.clone());
            thread::spawn(move || {
                let mut last = Instant::now();
                let mut offset = 0;
                while sent.load(Ordering::Relaxed) < total && !stop.load(Ordering::Relaxed) {
                    let end = (offset + 256 * 1024).min(block.len());
                    match writer.write(&block[offset..end]) {
                        Ok(n) => {
                            sent.fetch_add(n, Ordering::Relaxed);
                            offset = (offset + n) % block.len();
                            last = Instant::now();
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock
                                    | ErrorKind::TimedOut
                                    | ErrorKind::Interrupted
                            ) =>
                        {
                            if last.elapsed() >= patience {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            })
        };
        drop(conn);
        Ok(Hog {
            sent,
            stop,
            handle: Some(handle),
            conn: stream,
        })
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    fn running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Waits until the hog has sent everything or is stuck; calls `each` now and then.
    fn wait(&self, deadline: Instant, mut each: impl FnMut()) {
        while self.running() && Instant::now() < deadline {
            each();
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.conn.shutdown(Shutdown::Both);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

const MIB: usize = 1 << 20;

/// While one client sends tens of MiB and never reads, other clients are still served.
pub fn non_reading_client(ctx: &mut Ctx) -> ProbeResult {
    let deadline = ctx.deadline();
    let hog = Hog::start(ctx, 48 * MIB, Duration::from_millis(500))?;
    // Let the hog push until the program stops taking its bytes (or it sent them all).
    hog.wait(deadline, || {});
    let pushed = hog.sent();
    let others = ctx.rng.range(3, 4);
    for _ in 0..others {
        let len = ctx.rng.range(100, 32 * 1024);
        let payload = ctx.rng.bytes(len);
        let mut conn = ctx.connect()?;
        let label = conn.label().to_string();
        let hint = |f: Failure| {
            f.detail(format!(
                "c1 had sent {:.1} MiB and read none of its echo. Meanwhile {label} must be served: a write to c1 that blocks (a blocking socket, or a loop retrying until the write goes through) stops the whole event loop. Keep what c1 cannot take yet, stop reading from c1, and go back to the poller.",
                pushed as f64 / MIB as f64
            ))
            .reproduce(format!(
                "python3 -c \"import socket; s=socket.create_connection(('127.0.0.1',{port})); s.sendall(b'x'*50_000_000)\" & sleep 2; printf hello | nc -N 127.0.0.1 {port}   (expect: hello, at once)",
                port = ctx.reproduce_port
            ))
        };
        conn.send(&payload).map_err(hint)?;
        conn.half_close().map_err(hint)?;
        let echo = conn.recv_to_eof(len + 65536);
        expect_bytes(
            &format!("the echo on {label} while c1 does not read"),
            &payload,
            &echo,
        )
        .map_err(hint)?;
        if echo.end != End::Eof {
            return Err(hint(Failure::new(format!(
                "{label} got its echo but was not closed after its half-close"
            )))
            .into());
        }
    }
    drop(hog);
    Ok(())
}

/// While one client sends tens of MiB and never reads, the program's memory stays bounded.
pub fn bounded_memory(ctx: &mut Ctx) -> ProbeResult {
    let Some(pid) = ctx.server_pid.filter(|_| procfs::available()) else {
        return Err(Verdict::Skip(
            "no /proc here: cannot measure the program's memory".into(),
        ));
    };
    // Warm up, so one-time allocations are in the baseline.
    super::echo::short_message(ctx)?;
    let Some(baseline) = procfs::rss_bytes(pid) else {
        return Err(Verdict::Skip(
            "cannot read the program's memory use from /proc".into(),
        ));
    };
    let deadline = ctx.deadline();
    let total = 48 * MIB;
    let hog = Hog::start(ctx, total, Duration::from_secs(1))?;
    let mut peak = baseline;
    hog.wait(deadline, || {
        if let Some(rss) = procfs::rss_bytes(pid) {
            peak = peak.max(rss);
        }
    });
    if let Some(rss) = procfs::rss_bytes(pid) {
        peak = peak.max(rss);
    }
    let pushed = hog.sent();
    drop(hog);
    let growth = peak.saturating_sub(baseline) as usize;
    let limit = 16 * MIB;
    if growth > limit {
        return Err(Failure::new(format!(
            "while a client sent {:.1} MiB without reading its echo, the program's memory grew by {:.1} MiB",
            pushed as f64 / MIB as f64,
            growth as f64 / MIB as f64
        ))
        .expected(format!("growth well under {} MiB: output pending for one client is bounded", limit / MIB))
        .got(format!("resident memory {:.1} MiB → {:.1} MiB", baseline as f64 / MIB as f64, peak as f64 / MIB as f64))
        .detail("Queueing every byte a client sends until it reads its echo lets one client exhaust the server's memory. Once a client's pending output passes a bound (say 64 KiB), stop reading from it (drop READABLE from its interest) until the output drains; TCP flow control then slows the client down.")
        .reproduce(format!(
            "python3 -c \"import socket; s=socket.create_connection(('127.0.0.1',{})); s.sendall(b'x'*100_000_000)\" & sleep 2; grep VmRSS /proc/$(pgrep -n YOUR_PROGRAM)/status",
            ctx.reproduce_port
        ))
        .into());
    }
    Ok(())
}

/// Raises the grader's open-files soft limit to its hard limit; returns the soft limit.
fn raise_own_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read or write only the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// 1,000 clients connected at the same time each get their own echo.
pub fn thousand_clients(ctx: &mut Ctx) -> ProbeResult {
    // More than 1024: above FD_SETSIZE (so a select() loop fails) and above the soft limit
    // on open files every program starts with (so one that never raises it fails).
    let count = ctx.rng.range(1100, 1200);
    let have = raise_own_open_files_limit();
    let need = count as u64 + 100;
    if have < need {
        return Err(Verdict::Skip(format!(
            "the grader may open only {have} files here (it needs {need}); raise the hard limit (`ulimit -Hn`) to run this test"
        )));
    }
    let deadline = ctx.deadline();
    let mut swarm = Swarm::open(ctx.addr(), count, None, deadline).map_err(|f| {
        f.detail(format!("Every connection is a file descriptor: a server limited to 1024 open files (the usual soft limit, which the grader starts every program with; see `ulimit -n`) cannot hold {count} clients plus its own files. Raise the soft limit to the hard limit at start (setrlimit(RLIMIT_NOFILE)). A loop on select() cannot watch descriptors numbered 1024 and above at all (FD_SETSIZE): use poll, epoll or mio."))
    })?;
    for _ in 0..2 {
        let round = chunks(ctx, count, 1, 512);
        swarm.round(round, deadline)?;
    }
    swarm.finish(deadline)?;
    Ok(())
}
