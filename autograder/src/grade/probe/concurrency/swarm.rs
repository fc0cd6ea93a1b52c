//! The [`Swarm`]: many echo clients at once, moving in lock-step rounds and checked byte
//! for byte, on the grader's readiness-loop engine ([`crate::grade::swarm::Engine`]).
//!
//! One grader thread drives them all, so a thousand clients cost the grader no threads,
//! and no client can deadlock the grader by filling a buffer. Clients move in *rounds*:
//! every client sends a random chunk, and the next round starts only once every client
//! has its echo. A server that serves clients one (or a few) at a time cannot get past the
//! first round, however deep its listen backlog.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::grade::probe::{bytes, set_recv_buffer, set_send_buffer, Failure, Symptom};
use crate::grade::swarm::{Engine, Io};

/// How long a swarm waits without any byte moving before it declares the server stuck.
/// Long enough for a loaded machine; a serial server never moves again.
const SWARM_IDLE: Duration = Duration::from_secs(5);

/// How long one connection attempt may take. A full listen backlog makes the kernel drop
/// SYNs, and the client retries after 1 s, then 2 s more: allow for two retries.
pub(super) const CONNECT_LIMIT: Duration = Duration::from_secs(8);

/// How long a held client's sends must make no progress before we take it that the
/// program has stopped reading from it (its writes to that client are blocked, or its
/// output for it is full).
const HOLD_QUIET: Duration = Duration::from_millis(500);

/// One client of a [`Swarm`] (its socket is the engine's, in the slot of the same index).
#[derive(Debug)]
struct Peer {
    label: String,
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

/// How reading from one peer went wrong.
#[derive(Debug)]
enum PeerError {
    /// The connection broke or closed early.
    Failed(Failure),
    /// The echo differs from what was sent, from this byte on.
    Mismatch(usize),
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

impl Phase {
    /// Whether peer `i` takes part in this phase.
    fn moves(&self, i: usize) -> bool {
        self.only.is_none_or(|o| o == i) && self.skip != Some(i)
    }
}

/// Many client connections, driven together by one thread.
#[derive(Debug)]
pub struct Swarm {
    engine: Engine<Peer>,
    /// The rounds so far, for messages.
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
        let engine = Engine::new()
            .map_err(|e| Failure::new(format!("the grader cannot create a poller: {e}")))?;
        let mut swarm = Swarm { engine, rounds: 0 };
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
            let _ = stream.set_nodelay(true);
            let slot = swarm.engine.push(Peer {
                label: format!("c{i}"),
                // One byte to be echoed before the next client connects (see below).
                out: vec![b'0' + (i % 10) as u8],
                sent: 0,
                round_start: 0,
                got: Vec::new(),
                eof: false,
            });
            swarm.engine.adopt(slot, stream).map_err(|e| {
                Failure::new(format!("the grader cannot make a socket non-blocking: {e}"))
            })?;
            // Wait for that byte's echo: it shows the program has accepted this client.
            // Connecting faster than the program accepts would overflow its listen backlog
            // (the kernel then drops connection attempts, and clients retry a second
            // later), and a program that serves clients one at a time shows right here.
            let phase = Phase {
                only: Some(slot),
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
        }
        Ok(swarm)
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.engine.len()
    }

    /// Whether the swarm has no clients.
    pub fn is_empty(&self) -> bool {
        self.engine.is_empty()
    }

    /// Adds each client's chunk of a new round (`chunks[i]` for client `i`).
    fn begin_round(&mut self, chunks: Vec<Vec<u8>>) {
        self.rounds += 1;
        for (peer, chunk) in self.engine.states_mut().zip(chunks) {
            peer.round_start = peer.out.len();
            peer.out.extend_from_slice(&chunk);
        }
    }

    /// One round: every client sends its chunk (`chunks[i]` for client `i`), and the
    /// round ends when every client has received the echo of everything it sent.
    ///
    /// # Errors
    /// A failure when a client receives bytes it did not send, the connection closes or
    /// breaks, or nothing moves for a while (explaining who still waits).
    pub fn round(&mut self, chunks: Vec<Vec<u8>>, deadline: Instant) -> Result<(), Failure> {
        self.begin_round(chunks);
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
        self.begin_round(chunks);
        // A small send buffer on our side, so that what we manage to send is what the
        // program took (into its own buffers and the kernel's), not what our kernel holds.
        if let Some(stream) = self.engine.stream(held) {
            set_send_buffer(stream, 64 * 1024);
        }
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
                let p = self.engine.state_mut(held);
                p.out.truncate(p.sent);
                p.out.shrink_to_fit();
            }
            match self.drive(phase, deadline) {
                Ok(()) => {}
                Err(SwarmError::Failed(f)) => return Err(f),
                Err(SwarmError::Stuck(waiting)) => {
                    let p = self.engine.state(held);
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
        for i in 0..self.engine.len() {
            let closed = match self.engine.stream(i) {
                Some(stream) => stream.shutdown(Shutdown::Write),
                None => Err(ErrorKind::NotConnected.into()),
            };
            if let Err(e) = closed {
                return Err(Failure::new(format!(
                    "half-close of {} failed: {e} (did the program reset it?)",
                    self.engine.state(i).label
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
                let names = self.labels(&waiting);
                Err(Failure::new(format!(
                    "{} of {} connections were never closed by the program after their clients half-closed ({names})",
                    waiting.len(),
                    self.engine.len()
                ))
                .expected("each connection closed (a read returning 0) once its echo is complete")
                .got("the connections stayed open and silent"))
            }
        }
    }

    /// Moves bytes until every peer in `phase` has its full echo (and, with `until_eof`,
    /// the close), or, for a phase with `quiet`, until nothing moves for that long.
    ///
    /// Each turn tries every peer that has something to do and whose socket the engine
    /// knows to be ready, then sleeps in the poller only when nobody could move.
    fn drive(&mut self, phase: Phase, deadline: Instant) -> Result<(), SwarmError> {
        let idle_limit = phase.quiet.unwrap_or(SWARM_IDLE);
        let mut last_progress = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        let mut waiting: Vec<usize> = Vec::with_capacity(self.engine.len());
        let mut ready = Vec::new();
        loop {
            waiting.clear();
            let mut moved = false;
            for i in (0..self.engine.len()).filter(|&i| phase.moves(i)) {
                let p = self.engine.state(i);
                let wants_write = p.sent < p.out.len();
                let wants_read =
                    !phase.send_only && (p.got.len() < p.out.len() || (phase.until_eof && !p.eof));
                if !wants_write && !wants_read {
                    continue;
                }
                waiting.push(i);
                if wants_write && self.engine.writable(i) && self.write_some(i)? {
                    moved = true;
                }
                if wants_read && self.engine.readable(i) {
                    match self.read_some(i, &mut buf) {
                        Ok(true) => moved = true,
                        Ok(false) => {}
                        Err(PeerError::Failed(f)) => return Err(SwarmError::Failed(f)),
                        Err(PeerError::Mismatch(at)) => {
                            return Err(SwarmError::Failed(self.mismatch_failure(i, at)))
                        }
                    }
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if moved {
                last_progress = now;
            }
            if phase.quiet.is_some() && now.duration_since(last_progress) >= idle_limit {
                return Ok(());
            }
            if now >= deadline || now.duration_since(last_progress) >= idle_limit {
                return Err(SwarmError::Stuck(waiting));
            }
            if moved {
                // Whoever moved may move again at once (the echo of what was just sent).
                continue;
            }
            let wait = deadline
                .min(last_progress + idle_limit)
                .saturating_duration_since(now)
                .min(Duration::from_millis(200));
            self.engine.wait(wait, &mut ready).map_err(|e| {
                SwarmError::Failed(Failure::new(format!(
                    "the grader's readiness wait failed: {e}"
                )))
            })?;
        }
    }

    /// Writes what peer `i` can; returns whether any byte went out.
    fn write_some(&mut self, i: usize) -> Result<bool, SwarmError> {
        let mut moved = false;
        loop {
            let p = self.engine.state(i);
            if p.sent >= p.out.len() {
                return Ok(moved);
            }
            let from = p.sent;
            let result = self.engine.write_own(i, |p| &p.out[from..]);
            match result {
                Io::Moved(n) => {
                    self.engine.state_mut(i).sent += n;
                    moved = true;
                }
                Io::Blocked | Io::Closed => return Ok(moved),
                Io::Failed(e) => {
                    let p = self.engine.state(i);
                    return Err(SwarmError::Failed(
                        Failure::new(format!(
                            "sending on {} failed after {} of {} bytes: {e}",
                            p.label,
                            p.sent,
                            p.out.len()
                        ))
                        .detail("The program closed or reset this client's connection while it was still sending."),
                    ));
                }
            }
        }
    }

    /// Reads what has arrived for peer `i`, checking it against what was sent; returns
    /// whether any byte (or the close) came in.
    fn read_some(&mut self, i: usize, buf: &mut [u8]) -> Result<bool, PeerError> {
        let mut moved = false;
        loop {
            match self.engine.read(i, buf) {
                Io::Closed => {
                    let p = self.engine.state_mut(i);
                    p.eof = true;
                    if p.got.len() < p.out.len() {
                        return Err(PeerError::Failed(Failure::new(format!(
                            "the program closed {} after echoing {} of the {} bytes it sent",
                            p.label,
                            p.got.len(),
                            p.out.len()
                        ))));
                    }
                    return Ok(true);
                }
                Io::Moved(n) => {
                    moved = true;
                    let p = self.engine.state_mut(i);
                    let start = p.got.len();
                    p.got.extend_from_slice(&buf[..n]);
                    p.check(start)?;
                }
                Io::Blocked => return Ok(moved),
                Io::Failed(e) => {
                    let p = self.engine.state(i);
                    return Err(PeerError::Failed(Failure::new(format!(
                        "receiving on {} failed after {} of {} bytes: {e}",
                        p.label,
                        p.got.len(),
                        p.out.len()
                    ))));
                }
            }
        }
    }

    /// Explains bytes that differ from what peer `i` sent, from byte `at` on: whose they
    /// are, if another client sent them.
    fn mismatch_failure(&self, i: usize, at: usize) -> Failure {
        let me = self.engine.state(i);
        let wrong = &me.got[at..me.got.len().min(at + 16)];
        let owner = self
            .engine
            .states()
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
            .engine
            .states()
            .filter(|p| p.got.len() >= p.out.len())
            .count();
        let silent = waiting
            .iter()
            .map(|&i| self.engine.state(i))
            .filter(|p| p.got.len() <= p.round_start)
            .count();
        Failure::new(format!(
            "{} of {} clients were still waiting for their echo in round {} after {} s without progress ({}); {served} had theirs",
            waiting.len(),
            self.engine.len(),
            self.rounds,
            SWARM_IDLE.as_secs(),
            self.labels(waiting)
        ))
        .expected(format!("all {} clients, connected at the same time, served at the same time", self.engine.len()))
        .got(format!("{silent} of the waiting clients got nothing back at all in this round"))
        .detail("Every client keeps its connection open and waits for its echo before it sends more, so a server that serves clients one at a time (or a fixed few at a time, or behind one lock) can never answer the rest.")
        .symptom(Symptom::Stalled)
    }

    /// The labels of peers `which`, the first eight of them.
    fn labels(&self, which: &[usize]) -> String {
        let mut names: Vec<&str> = which
            .iter()
            .take(8)
            .map(|&i| self.engine.state(i).label.as_str())
            .collect();
        if which.len() > 8 {
            names.push("…");
        }
        names.join(", ")
    }
}

impl Peer {
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
