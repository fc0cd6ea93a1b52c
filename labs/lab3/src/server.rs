//! The event loop: one thread, one poller, every socket non-blocking.
//!
//! The loop sleeps in [`mio::Poll::poll`] until at least one registered socket is ready,
//! then handles each event and goes back to sleep. Under the hood that is `epoll_wait` on
//! Linux (`kqueue` on macOS); the older `select()` and `poll()` answer the same question
//! ("which of these sockets can make progress?") but take the whole list of sockets on
//! every call, so their cost grows with the number of clients, idle ones included. epoll
//! keeps the list in the kernel and reports only the sockets that are ready.
//!
//! Why one thread can serve thousands of clients: a thread is only ever busy when there is
//! work it can do *now*. Blocking servers park one thread per client inside `read`; here
//! nothing waits but the poller, so ten thousand idle clients cost ten thousand small
//! structs and socket buffers, and no CPU at all.
//!
//! Each connection gets a [`Token`], the number the poller hands back with its events.
//! Tokens are never reused: an event still queued for a connection we just closed then
//! finds no connection and is ignored, instead of being taken for a newer client's.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::mem;
use std::time::Duration;

use mio::event::Event;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use crate::connection::{interrupted, would_block, Connection, Status};
use crate::trace::Trace;

/// The token of the listening socket; connections count up from 1.
pub const LISTENER: Token = Token(0);

/// Size of the shared read buffer (one for the whole loop, not one per connection).
pub const READ_BUF_SIZE: usize = 64 * 1024;

/// Creates a non-blocking listening socket on `host:port`.
///
/// `mio::net::TcpListener::bind` does what std's does (`socket`, `bind` with
/// `SO_REUSEADDR`, `listen`) and also makes the socket non-blocking, so `accept` returns
/// `WouldBlock` when no client is waiting instead of putting the thread to sleep.
///
/// # Errors
/// Fails if the address does not resolve, or the port is taken or privileged.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    // TODO: Step 1 — a listening socket on `host:port` that never blocks: with no client
    // waiting, its `accept` must fail at once (WouldBlock), because the one place this
    // server may wait is the poller. `host` may be a name ("localhost") as well as an
    // address, and a port already taken is an error for the caller to report.
    let _ = (host, port, ErrorKind::InvalidInput);
    todo!("Step 1 of handouts/lab3.md: bind a non-blocking listening socket")
}

/// Serves clients forever on this thread.
///
/// # Errors
/// Only if the poller itself fails; anything that concerns one client is logged.
pub fn run(listener: TcpListener, trace: &Trace) -> io::Result<()> {
    let mut server = Server::new(listener, trace)?;
    loop {
        server.turn()?;
    }
}

/// The event loop's state.
#[derive(Debug)]
pub struct Server<'t> {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    connections: HashMap<Token, Connection>,
    next_token: usize,
    /// Connections to pump again without waiting for an event (see [`Status::Busy`]).
    busy: Vec<Token>,
    /// Tokens of this turn's events (a buffer kept between turns).
    ready: Vec<Token>,
    /// Accepting stopped because we ran out of file descriptors: retry when one closes.
    accept_blocked: bool,
    scratch: Vec<u8>,
    trace: &'t Trace,
}

impl<'t> Server<'t> {
    /// Registers `listener` with a new poller.
    ///
    /// # Errors
    /// If the poller cannot be created or the listener registered.
    pub fn new(mut listener: TcpListener, trace: &'t Trace) -> io::Result<Server<'t>> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Server {
            poll,
            events: Events::with_capacity(1024),
            listener,
            connections: HashMap::new(),
            next_token: LISTENER.0 + 1,
            busy: Vec::new(),
            ready: Vec::new(),
            accept_blocked: false,
            scratch: vec![0; READ_BUF_SIZE],
            trace,
        })
    }

    /// Number of open client connections.
    pub fn connections(&self) -> usize {
        self.connections.len()
    }

    // ANCHOR: turn
    /// One turn of the loop: wait for readiness, then handle every event.
    ///
    /// # Errors
    /// Only if the poller fails.
    pub fn turn(&mut self) -> io::Result<()> {
        // TODO: Step 2 — one turn of the loop: sleep until some socket can make progress (an
        // idle server must cost no CPU), then give each ready socket its chance: readiness
        // of the listener means clients wait to be accepted, of a connection that it can
        // read or write. A connection left `busy` has bytes waiting that no event will
        // announce: it gets this turn too, and while one is busy the loop must not sleep.
        // A signal that interrupts the wait is no failure.
        let _ = (&self.poll, &self.events, &self.ready, &self.busy);
        let _ = (mem::take::<Vec<Token>>, Duration::ZERO, describe);
        let _ = (Self::accept_all, Self::pump);
        todo!("Step 2 of handouts/lab3.md: wait for readiness and dispatch the events")
    }
    // ANCHOR_END: turn

    /// Accepts every connection waiting in the backlog (the poller reports the listener
    /// readable once for any number of them), registering each with the poller.
    fn accept_all(&mut self) {
        // TODO: Step 3 — take in every client waiting in the backlog: the listener's
        // readiness is reported once for all of them (edge-triggered), and a client left
        // behind gets no new event. Each becomes a `Connection` the poller watches for
        // input, under a token no connection ever had (a stale event must then find no
        // one, not a newer client). Failing to accept one client must not stop the
        // server; running out of file descriptors leaves the others waiting, so remember
        // it (`accept_blocked`): they are taken in as soon as one is freed.
        let _ = (&self.listener, self.next_token);
        let _ = (would_block, interrupted, out_of_resources);
        todo!("Step 3 of handouts/lab3.md: accept every waiting client and register it")
    }

    /// Lets the connection `token` make progress, then re-registers or closes it.
    fn pump(&mut self, token: Token) {
        // TODO: Step 8 — close the loop: let the connection make progress, then act on what
        // it says. The poller keeps watching for what it was told last, so an open
        // connection whose needs changed (output now pending, reading paused or resumed)
        // must say so, or it waits for an event that never comes; telling it also re-arms
        // the edge of a socket that is already ready. A busy connection gets another turn
        // without an event; a finished one is dropped, and so is one that failed: its error
        // ends that client only, never the loop. An event may come for a connection that an
        // earlier event of this turn closed: there is nothing to do then.
        let _ = (token, &self.scratch, Self::close, Status::Busy);
        todo!("Step 8 of handouts/lab3.md: re-arm each connection's interest, or close it")
    }

    /// Drops a connection: closing the socket also removes it from the poller.
    fn close(&mut self, token: Token, error: Option<io::Error>) {
        if let Some(conn) = self.connections.remove(&token) {
            match error {
                None => self.trace.event(conn.peer, format_args!("closed")),
                // A reset or broken pipe is the client's doing, and ends this client only.
                Some(e) => {
                    self.trace
                        .event(conn.peer, format_args!("closed on error: {e}"));
                    eprintln!("lab3: client {}: {e}", conn.peer);
                }
            }
        }
        if self.accept_blocked {
            // A file descriptor was just freed: the clients left in the backlog get it.
            self.accept_all();
        }
    }
}

/// Errors after which `accept` fails again until some resource is freed.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The readiness an event reports, in words, for the trace.
fn describe(event: &Event) -> String {
    let mut parts = Vec::new();
    if event.is_readable() {
        parts.push("readable");
    }
    if event.is_writable() {
        parts.push("writable");
    }
    if event.is_read_closed() {
        parts.push("read-closed");
    }
    if event.is_write_closed() {
        parts.push("write-closed");
    }
    if event.is_error() {
        parts.push("error");
    }
    format!("event: {}", parts.join(" "))
}
