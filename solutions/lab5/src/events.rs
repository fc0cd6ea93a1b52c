//! The second concurrency model (`--model events`): one readiness loop per core, lab 3's
//! design applied to HTTP. The requests, responses and files are the same code as the
//! thread-per-connection model's ([`crate::request`], [`crate::handler`],
//! [`crate::response`], [`crate::files`]); only *who waits* changes.
//!
//! **Why it is faster.** A thread per connection blocks in `recv` between requests, so
//! every request costs the kernel a sleep and a wake-up (two context switches) and the
//! scheduler a decision. With as many busy connections as there are cores, that is cheap;
//! with 64 of them on 2 cores, the switches are a large share of the work. Here each core
//! runs one thread that sleeps in `epoll_wait` only when *none* of its connections has
//! anything to do, and a single wake-up then hands back every connection that became
//! ready: one switch for many requests. It is how nginx's workers are built.
//!
//! **What changes.** Nothing may block, so each connection is a small state machine
//! ([`Conn`]) instead of a call stack:
//! - reading: bytes are appended to the connection's buffer whenever the socket is
//!   readable; a complete head is answered at once, and pipelined heads behind it are
//!   answered in the same turn, their responses gathered into one `write`;
//! - writing: what the socket does not take now stays in the buffer (`written` counts
//!   what went out), and a large file goes out with `sendfile(2)` from the position where
//!   the last call stopped: on a non-blocking socket it sends what fits and then says
//!   `EAGAIN`, so the position is part of the state;
//! - timeouts are deadlines kept per connection and checked when the loop wakes
//!   ([`EventLoop::expire`]), since no `set_read_timeout` can fire for us.
//!
//! **Connections reach loops** through one acceptor: loop 0 owns the listening socket,
//! accepts, and deals the connections out in turn (round robin) over a channel to each
//! loop, waking it with a [`Waker`]. So every core gets the same number of connections,
//! which neither a shared listener (whichever loop wakes first takes the whole burst) nor
//! `SO_REUSEPORT` (a hash of the addresses) promises.
//!
//! **Graceful shutdown** is the threads model's: [`ShutdownHandle::trigger`] wakes every
//! loop; loop 0 closes the listening socket, every loop closes its idle connections at
//! once, lets responses in flight finish (answering them with `Connection: close`), and
//! returns when it has no connection left; [`run`] returns when every loop has.
//!
//! Why `mio` here when the labs are std-first: std has no readiness API (no `epoll`,
//! `kqueue` or `poll`), and lab 3 already teaches this one.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::connection::{self, MAX_DISCARD, SMALL_FILE, WRITE_TIMEOUT};
use crate::handler;
use crate::request::{self, Request};
use crate::response::{Body, Response};
use crate::server::{Config, ShutdownHandle};
use crate::trace::Trace;

/// The listening socket's token (loop 0 only).
const LISTENER: Token = Token(0);
/// The token of a loop's [`Waker`]: a connection was handed over, or shutdown began.
const WAKER: Token = Token(1);
/// Connection `i` of a loop has token `FIRST_CONN + i`.
const FIRST_CONN: usize = 2;
/// Responses to pipelined requests are gathered up to this many bytes before a write.
const OUT_BATCH: usize = 64 * 1024;
/// The most bytes buffered for one request head (as the threads model's buffer).
const INPUT_LIMIT: usize = request::MAX_HEAD + 1024;
/// The listen backlog asked for (nginx asks for 511; Linux caps it at somaxconn).
const LISTEN_BACKLOG: libc::c_int = 4096;
/// How long a closing connection is drained (see [`connection`]'s `close_gracefully`).
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// How many loops to run: one per core, as nginx's `worker_processes auto`.
pub fn default_loops() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Serves `listener` with `loops` readiness loops (threads) until `shutdown` is
/// triggered; then finishes the responses in progress and returns.
///
/// # Errors
/// If the poller, a waker or a loop's thread cannot be created. Errors of single
/// connections are logged and the loops go on.
pub fn run(
    listener: std::net::TcpListener,
    config: Config,
    trace: Arc<Trace>,
    shutdown: ShutdownHandle,
    loops: usize,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    // std listens with a backlog of 128. A burst of thousands of clients overflows it,
    // and the kernel then drops their handshakes (or, with SYN cookies, their first
    // bytes), to be retried a second or more later. Linux lets `listen` be called again
    // on a listening socket to change the backlog; the kernel caps it at somaxconn.
    // SAFETY: the descriptor is a bound, listening socket that we own.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        eprintln!(
            "lab5: cannot enlarge the listen backlog: {}",
            io::Error::last_os_error()
        );
    }
    let shared = Arc::new(Shared {
        config,
        trace,
        shutdown,
        open: AtomicUsize::new(0),
    });
    let mut polls = Vec::new();
    let mut hand_offs = Vec::new();
    let mut inboxes = Vec::new();
    for _ in 0..loops.max(1) {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        shared.shutdown.add_waker(Arc::clone(&waker));
        let (send, receive) = mpsc::channel();
        polls.push(poll);
        hand_offs.push(HandOff { send, waker });
        inboxes.push(receive);
    }
    let mut listener = Some(TcpListener::from_std(listener));
    let mut threads = Vec::new();
    for (index, (poll, inbox)) in polls.into_iter().zip(inboxes).enumerate() {
        let mut event_loop = EventLoop {
            poll,
            shared: Arc::clone(&shared),
            inbox,
            // Loop 0 accepts and deals connections out to every loop, itself included.
            listener: listener.take(),
            hand_offs: if index == 0 {
                hand_offs.clone()
            } else {
                Vec::new()
            },
            next_loop: 0,
            accept_paused: false,
            conns: Vec::new(),
            free: Vec::new(),
            earliest: None,
            stopped: false,
            scratch: vec![0; 64 * 1024],
        };
        threads.push(
            thread::Builder::new()
                .name(format!("loop {index}"))
                .spawn(move || event_loop.run())?,
        );
    }
    drop(hand_offs);
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(io::Error::other("an event loop panicked")),
        }
    }
    result
}

/// What every loop reads.
struct Shared {
    config: Config,
    trace: Arc<Trace>,
    shutdown: ShutdownHandle,
    /// Connections open in all loops (for `--threads`, here a cap on connections).
    open: AtomicUsize,
}

/// The way to give a loop a new connection.
#[derive(Clone)]
struct HandOff {
    send: mpsc::Sender<(TcpStream, SocketAddr)>,
    waker: Arc<Waker>,
}

/// One loop: a poller and the connections registered with it.
struct EventLoop {
    poll: Poll,
    shared: Arc<Shared>,
    inbox: mpsc::Receiver<(TcpStream, SocketAddr)>,
    /// Loop 0's listening socket (until shutdown).
    listener: Option<TcpListener>,
    hand_offs: Vec<HandOff>,
    next_loop: usize,
    /// Accepting stopped at the connection cap (or out of descriptors); retried at the
    /// next wake-up.
    accept_paused: bool,
    /// Connection `i` has token `FIRST_CONN + i`; closed ones leave a `None` for reuse.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// No connection's deadline is earlier than this (it may be earlier than needed:
    /// deadlines only move later, and a too-early wake-up just finds nothing expired).
    earliest: Option<Instant>,
    stopped: bool,
    /// For reading and throwing away bytes from closing connections.
    scratch: Vec<u8>,
}

impl EventLoop {
    fn run(&mut self) -> io::Result<()> {
        if let Some(listener) = &mut self.listener {
            self.poll
                .registry()
                .register(listener, LISTENER, Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(1024);
        loop {
            if self.shared.shutdown.is_stopping() && !self.stopped {
                self.begin_shutdown();
            }
            if self.stopped && self.conns.iter().all(Option::is_none) {
                return Ok(());
            }
            let timeout = self
                .earliest
                .map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => self.take_hand_offs(),
                    Token(t) => self.drive(t - FIRST_CONN),
                }
            }
            if self.accept_paused {
                self.accept();
            }
            if self.earliest.is_some_and(|at| at <= Instant::now()) {
                self.expire();
            }
        }
    }

    /// Accepts every waiting connection (edge-triggered: the next event comes only with
    /// the next connection) and deals them out.
    fn accept(&mut self) {
        if self.listener.is_none() {
            return;
        }
        let max = self.shared.config.max_connections.max(1);
        self.accept_paused = false;
        loop {
            if self.shared.open.load(Ordering::Relaxed) >= max {
                // The rest waits in the backlog. A connection closing in another loop
                // does not wake this one, so look again in a moment.
                self.accept_paused = true;
                self.note_deadline(Instant::now() + Duration::from_millis(100));
                return;
            }
            let Some(listener) = &self.listener else {
                return;
            };
            let (stream, peer) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ECONNABORTED (a client gave up in the backlog) or EMFILE (out of
                    // descriptors for a moment): try again at the next wake-up.
                    eprintln!("lab5: accept failed: {e}");
                    self.accept_paused = e.raw_os_error() != Some(libc::ECONNABORTED);
                    if self.accept_paused {
                        self.note_deadline(Instant::now() + Duration::from_millis(10));
                    }
                    return;
                }
            };
            self.shared.open.fetch_add(1, Ordering::Relaxed);
            let to = self.next_loop % self.hand_offs.len();
            self.next_loop = self.next_loop.wrapping_add(1);
            if to == 0 {
                self.add(stream, peer);
            } else {
                let hand_off = &self.hand_offs[to];
                if hand_off.send.send((stream, peer)).is_ok() {
                    let _ = hand_off.waker.wake();
                } else {
                    self.shared.open.fetch_sub(1, Ordering::Relaxed); // that loop ended
                }
            }
        }
    }

    /// Registers the connections loop 0 handed to this loop.
    fn take_hand_offs(&mut self) {
        while let Ok((stream, peer)) = self.inbox.try_recv() {
            self.add(stream, peer);
        }
    }

    fn add(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        // Edge-triggered, readable and writable at once: an event comes only when the
        // socket *becomes* readable or writable, so asking for writability costs nothing
        // until a write has found the send buffer full.
        let registered = stream.set_nodelay(true).and_then(|()| {
            self.poll.registry().register(
                &mut stream,
                Token(FIRST_CONN + index),
                Interest::READABLE | Interest::WRITABLE,
            )
        });
        if let Err(e) = registered {
            eprintln!("lab5: cannot serve {peer}: {e}");
            self.free.push(index);
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.shared.trace.event(peer, format_args!("accepted"));
        let conn = Conn::new(stream, peer, self.shared.config.keep_alive);
        self.note_deadline(conn.deadline);
        self.conns[index] = Some(conn);
        if self.stopped {
            self.drive(index); // closes it at once if it has nothing to say
        }
    }

    /// Runs a connection as far as it can go without blocking; closes it if it is done.
    fn drive(&mut self, index: usize) {
        let Some(conn) = self.conns.get_mut(index).and_then(Option::as_mut) else {
            return; // an event for a connection closed earlier in the same batch
        };
        let context = Context {
            shared: &self.shared,
            stopping: self.stopped,
        };
        let outcome = conn.drive(&context, &mut self.scratch);
        let deadline = conn.deadline;
        match outcome {
            Ok(Step::Open) => self.note_deadline(deadline),
            Ok(Step::Close(why)) => self.close(index, why),
            Err(e) => self.close(index, &format!("closed on error: {e}")),
        }
    }

    fn close(&mut self, index: usize, why: &str) {
        if let Some(mut conn) = self.conns[index].take() {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.shared.trace.event(conn.peer, format_args!("{why}"));
            self.free.push(index);
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
            if self.listener.is_some() {
                self.accept_paused = true; // a place is free: look at the backlog again
            }
        }
    }

    fn note_deadline(&mut self, deadline: Instant) {
        if self.earliest.is_none_or(|e| deadline < e) {
            self.earliest = Some(deadline);
        }
    }

    /// Acts on every passed deadline, and computes the next one.
    fn expire(&mut self) {
        let now = Instant::now();
        self.earliest = None;
        for index in 0..self.conns.len() {
            let Some(conn) = self.conns[index].as_mut() else {
                continue;
            };
            if conn.deadline > now {
                let deadline = conn.deadline;
                self.note_deadline(deadline);
                continue;
            }
            match conn.timed_out() {
                Some(why) => self.close(index, why),
                None => self.drive(index), // a 408 is queued: send it
            }
        }
    }

    /// Stops accepting, and closes the connections that are between requests.
    fn begin_shutdown(&mut self) {
        self.stopped = true;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
            // Dropped here: the port refuses new clients from now on.
        }
        self.take_hand_offs();
        for index in 0..self.conns.len() {
            if self.conns[index].as_ref().is_some_and(Conn::is_idle) {
                self.close(index, "closed: server shutting down");
            }
        }
    }
}

/// What [`Conn::drive`] needs from its loop.
struct Context<'a> {
    shared: &'a Shared,
    stopping: bool,
}

/// What a connection wants after a turn.
enum Step {
    /// Keep it registered: it waits for the socket.
    Open,
    /// Close it, for this reason (for the trace).
    Close(&'static str),
}

/// A file being sent with `sendfile(2)`, from `pos` up to `end`.
struct FileSend {
    file: File,
    pos: u64,
    end: u64,
}

/// One connection's state between events: what was received and not yet used, what was
/// answered and not yet sent.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Received bytes not used yet: usually empty (a request arrives whole and is
    /// answered in the same turn), so it is grown only when bytes are left over.
    input: Vec<u8>,
    /// A request whose body is still being read and thrown away, and how much is left.
    awaiting_body: Option<(Request, u64)>,
    out: Vec<u8>,
    /// How much of `out` has been written.
    written: usize,
    file: Option<FileSend>,
    /// The last response is queued: close once it is sent.
    close_after: bool,
    /// Our side is shut: read and discard until the client closes (or `deadline`).
    draining: bool,
    drained: usize,
    /// A write found the socket full, and the write timeout runs.
    write_blocked: bool,
    /// How long the next request head may take (`--keep-alive-timeout`).
    keep_alive: Duration,
    /// When the current wait gives up: for the next head, for a full socket, or for the
    /// client's close while draining.
    deadline: Instant,
}

impl Conn {
    fn new(stream: TcpStream, peer: SocketAddr, keep_alive: Duration) -> Conn {
        Conn {
            stream,
            peer,
            input: Vec::new(),
            awaiting_body: None,
            out: Vec::new(),
            written: 0,
            file: None,
            close_after: false,
            draining: false,
            drained: 0,
            write_blocked: false,
            keep_alive,
            deadline: Instant::now() + keep_alive,
        }
    }

    /// Between requests, with nothing to send: shutdown may close it.
    fn is_idle(&self) -> bool {
        self.input.is_empty()
            && self.awaiting_body.is_none()
            && self.out.is_empty()
            && self.file.is_none()
            && !self.draining
    }

    /// A turn: answer every complete request buffered, send what the socket takes, and
    /// read what has arrived; stop when the socket would block.
    fn drive(&mut self, context: &Context<'_>, scratch: &mut [u8]) -> io::Result<Step> {
        // A read shorter than the free space means the socket had no more bytes; with
        // edge-triggered readiness the next arrival brings a new event, so reading again
        // now would only return "would block" (one system call per request saved).
        let mut read_all = false;
        loop {
            if self.draining {
                return Ok(self.drain(scratch));
            }
            let needs_bytes = self.answer_buffered(context)?;
            if !self.flush()? {
                return Ok(Step::Open); // the socket is full; writable comes later
            }
            if self.close_after {
                // As the threads model's `close_gracefully`: FIN first, then wait for the
                // client's, so that unread bytes cannot turn our close into a reset.
                if self.stream.shutdown(Shutdown::Write).is_err() {
                    return Ok(Step::Close("closed"));
                }
                self.draining = true;
                self.deadline = Instant::now() + DRAIN_TIME;
                continue;
            }
            if !needs_bytes {
                continue; // more buffered requests than one batch held
            }
            if context.stopping && self.is_idle() {
                return Ok(Step::Close("closed: server shutting down"));
            }
            if read_all {
                return Ok(Step::Open);
            }
            // Into the loop's scratch buffer, then appended: an idle connection holds no
            // buffer of its own (10,000 of them would otherwise hold 90 MiB).
            let space = (INPUT_LIMIT - self.input.len()).min(scratch.len());
            match self.stream.read(&mut scratch[..space]) {
                Ok(0) if self.input.is_empty() && self.awaiting_body.is_none() => {
                    return Ok(Step::Close("closed: client closed"))
                }
                Ok(0) => return Ok(Step::Close("closed: client closed mid-request")),
                Ok(n) => {
                    self.input.extend_from_slice(&scratch[..n]);
                    read_all = n < space;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Step::Open),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Answers the requests complete in the buffer into `out` (up to a batch). Returns
    /// whether more bytes must be read before anything else can be answered.
    fn answer_buffered(&mut self, context: &Context<'_>) -> io::Result<bool> {
        while self.file.is_none() && !self.close_after && self.out.len() < OUT_BATCH {
            if let Some((request, left)) = self.awaiting_body.take() {
                let take = (self.input.len() as u64).min(left) as usize;
                self.consume(take);
                if left > take as u64 {
                    self.awaiting_body = Some((request, left - take as u64));
                    return Ok(true);
                }
                self.answer(&request, true, context)?;
                continue;
            }
            match request::parse(&self.input) {
                Ok(Some((request, used))) => {
                    self.consume(used);
                    if request.body_len > MAX_DISCARD {
                        // Too large a body to read through: answer, then close.
                        self.answer(&request, false, context)?;
                    } else if request.body_len > 0 {
                        self.awaiting_body = Some((request.clone(), request.body_len));
                    } else {
                        self.answer(&request, true, context)?;
                    }
                }
                Ok(None) if self.input.len() >= INPUT_LIMIT => {
                    self.refuse(request::ParseError::HeadTooLarge.status())?
                }
                Ok(None) => return Ok(true),
                Err(e) => self.refuse(e.status())?,
            }
        }
        Ok(false)
    }

    /// Queues the response to `request`.
    fn answer(
        &mut self,
        request: &Request,
        may_keep: bool,
        context: &Context<'_>,
    ) -> io::Result<()> {
        let keep_alive = may_keep && request.wants_keep_alive() && !context.stopping;
        let response = handler::respond(request, &context.shared.config.root);
        let send_body = request.method != "HEAD";
        let sent = if send_body && response.status != 304 {
            response.body.len()
        } else {
            0
        };
        connection::log_request(&context.shared.trace, self.peer, request, &response, sent);
        self.queue(response, send_body, keep_alive)
    }

    /// Queues an error answer to a head we cannot use, and the close after it: we no
    /// longer know where the next request would start.
    fn refuse(&mut self, status: u16) -> io::Result<()> {
        let send_body = !self.input.starts_with(b"HEAD ");
        self.input.clear();
        self.queue(Response::error(status), send_body, false)
    }

    /// The threads model's `send_response`, into buffers instead of onto the socket.
    fn queue(&mut self, response: Response, send_body: bool, keep_alive: bool) -> io::Result<()> {
        response.write_head(keep_alive, &mut self.out);
        self.close_after |= !keep_alive;
        if !send_body || response.status == 304 {
            return Ok(());
        }
        match response.body {
            Body::Empty => {}
            Body::Bytes(bytes) => self.out.extend_from_slice(&bytes),
            Body::File { file, start, len } if len <= SMALL_FILE => {
                let head = self.out.len();
                self.out.resize(head + len as usize, 0);
                connection::read_at(&file, &mut self.out[head..], start)?;
            }
            Body::File { file, start, len } => {
                self.file = Some(FileSend {
                    file,
                    pos: start,
                    end: start + len,
                })
            }
        }
        Ok(())
    }

    fn consume(&mut self, used: usize) {
        self.input.drain(..used);
        if self.input.is_empty() && self.input.capacity() > 4096 {
            self.input = Vec::new(); // a long head once is no reason to keep its buffer
        }
    }

    /// Sends `out`, then the file; `Ok(false)` if the socket filled up first.
    fn flush(&mut self) -> io::Result<bool> {
        let mut progress = false;
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(self.blocked(progress)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.written > 0 {
            self.out.clear();
            self.written = 0;
            if self.out.capacity() > 16 * 1024 {
                self.out = Vec::new(); // after a large batch, do not keep it per connection
            }
        }
        if let Some(send) = &mut self.file {
            while send.pos < send.end {
                match send_file_some(&self.stream, send) {
                    Ok(0) => {
                        // The file is shorter than announced.
                        let sent = send.pos;
                        connection::check_length(sent, send.end)?;
                    }
                    Ok(_) => progress = true,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        return Ok(self.blocked(progress))
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.file = None;
        }
        if self.write_blocked || progress {
            // A response went out whole: the wait for the next head starts now.
            self.write_blocked = false;
            self.deadline = Instant::now() + self.keep_alive;
        }
        Ok(true)
    }

    /// The socket is full: the write timeout (re)starts if bytes moved since it last did.
    fn blocked(&mut self, progress: bool) -> bool {
        if progress || !self.write_blocked {
            self.deadline = Instant::now() + WRITE_TIMEOUT;
        }
        self.write_blocked = true;
        false
    }

    /// Reads and discards until the client closes, for a while and a megabyte at most.
    fn drain(&mut self, scratch: &mut [u8]) -> Step {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Step::Close("closed"),
                Ok(n) => {
                    self.drained += n;
                    if self.drained >= 1 << 20 {
                        return Step::Close("closed (stopped draining)");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Open,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Close("closed"),
            }
        }
    }

    /// The deadline passed: why to close, or `None` when a 408 was queued instead (part
    /// of a head arrived, not all of it in time).
    fn timed_out(&mut self) -> Option<&'static str> {
        if self.draining {
            return Some("closed");
        }
        if self.write_blocked {
            return Some("closed: the client stopped reading (write timeout)");
        }
        if self.input.is_empty() && self.awaiting_body.is_none() {
            return Some("closed: idle keep-alive timeout");
        }
        if self.awaiting_body.is_some() {
            return Some("closed: the client stalled in its body");
        }
        let _ = self.refuse(408);
        self.deadline = Instant::now() + WRITE_TIMEOUT;
        None
    }
}

/// One non-blocking `sendfile(2)` from `send.pos`: the kernel copies what fits in the
/// socket's buffer and advances `pos`; `WouldBlock` when nothing fits.
fn send_file_some(stream: &TcpStream, send: &mut FileSend) -> io::Result<usize> {
    let mut pos = send.pos as libc::off_t;
    // At most 1 GiB per call: sendfile's count is a size_t, but Linux caps it anyway.
    let count = (send.end - send.pos).min(1 << 30) as usize;
    // SAFETY: both descriptors are open for the duration of the call, and `pos` is a
    // valid off_t that sendfile advances by the number of bytes sent.
    let sent =
        unsafe { libc::sendfile(stream.as_raw_fd(), send.file.as_raw_fd(), &mut pos, count) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    send.pos = pos as u64;
    Ok(sent as usize)
}
