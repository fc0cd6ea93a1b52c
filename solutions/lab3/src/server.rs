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
use std::net::ToSocketAddrs;
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
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no address to bind")))
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

    /// One turn of the loop: wait for readiness, then handle every event.
    ///
    /// # Errors
    /// Only if the poller fails.
    pub fn turn(&mut self) -> io::Result<()> {
        // Sleep until something is ready; but if some connection still has bytes waiting
        // from the last turn, only look (timeout zero) and come back to it.
        let timeout = if self.busy.is_empty() {
            None
        } else {
            Some(Duration::ZERO)
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            // A signal woke us before any event: nothing happened, wait again.
            Err(e) if interrupted(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        if self.trace.enabled() && !self.events.is_empty() {
            self.trace.note(format_args!(
                "poll woke up with {} event(s)",
                self.events.iter().count()
            ));
        }
        for event in self.events.iter() {
            if event.token() != LISTENER {
                if let Some(conn) = self.connections.get(&event.token()) {
                    self.trace
                        .event(conn.peer, format_args!("{}", describe(event)));
                }
            }
            self.ready.push(event.token());
        }
        let mut ready = mem::take(&mut self.ready);
        ready.append(&mut self.busy);
        for &token in &ready {
            if token == LISTENER {
                self.accept_all();
            } else {
                self.pump(token);
            }
        }
        ready.clear();
        self.ready = ready;
        Ok(())
    }

    /// Accepts every connection waiting in the backlog (the poller reports the listener
    /// readable once for any number of them), registering each with the poller.
    fn accept_all(&mut self) {
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if would_block(&e) => {
                    self.accept_blocked = false;
                    return;
                }
                Err(e) if interrupted(&e) => continue,
                Err(e) if out_of_resources(&e) => {
                    // EMFILE: the waiting clients stay in the backlog. No new readiness
                    // event will come for them, so retry as soon as a connection closes.
                    eprintln!("lab3: accept failed: {e}; retrying when a connection closes");
                    self.accept_blocked = true;
                    return;
                }
                Err(e) => {
                    // ECONNABORTED and the like concern one client: take the next one.
                    eprintln!("lab3: accept failed: {e}");
                    continue;
                }
            };
            let token = Token(self.next_token);
            self.next_token += 1;
            // Data may already be waiting: registering reports it (mio's epoll backend
            // checks the socket's state when it is added).
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE)
            {
                eprintln!("lab3: cannot register {peer}: {e}");
                continue; // dropping the stream closes it
            }
            self.trace.event(
                peer,
                format_args!(
                    "accepted as {token:?}; {} client(s) connected",
                    self.connections.len() + 1
                ),
            );
            self.connections
                .insert(token, Connection::new(stream, peer));
        }
    }

    /// Lets the connection `token` make progress, then re-registers or closes it.
    fn pump(&mut self, token: Token) {
        // No connection: an event for one closed earlier in this turn. Ignore it.
        let Some(conn) = self.connections.get_mut(&token) else {
            return;
        };
        let result = conn.pump(&mut self.scratch, self.trace).and_then(|status| {
            let wanted = conn.interest();
            if status != Status::Finished && wanted != conn.registered() {
                // Tell the poller what we wait for now. Changing the interest also re-arms
                // the event: if the socket is already ready, the next poll reports it.
                self.poll
                    .registry()
                    .reregister(&mut conn.stream, token, wanted)?;
                conn.set_registered(wanted);
            }
            Ok(status)
        });
        match result {
            Ok(Status::Open) => {}
            Ok(Status::Busy) => self.busy.push(token),
            Ok(Status::Finished) => self.close(token, None),
            Err(e) => self.close(token, Some(e)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};

    fn start() -> std::net::SocketAddr {
        let listener = bind("127.0.0.1", 0).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            // Leaked so the loop can borrow it for ever: a test-only shortcut.
            let trace: &'static Trace = Box::leak(Box::new(Trace::new(false)));
            run(listener, trace)
        });
        addr
    }

    #[test]
    fn a_client_that_never_reads_does_not_stall_the_others() {
        let addr = start();
        let mut hog = TcpStream::connect(addr).unwrap();
        hog.set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let chunk = vec![1u8; 256 * 1024];
        // Send until the server stops reading from us (our send times out).
        while hog.write(&chunk).is_ok() {}

        let mut other = TcpStream::connect(addr).unwrap();
        other
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        other.write_all(b"still served?").unwrap();
        other.shutdown(Shutdown::Write).unwrap();
        let mut echo = Vec::new();
        other.read_to_end(&mut echo).unwrap();
        assert_eq!(echo, b"still served?");
    }

    #[test]
    fn many_clients_are_served_at_once_by_one_thread() {
        let addr = start();
        let mut clients: Vec<TcpStream> = (0..200)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        for (i, c) in clients.iter_mut().enumerate() {
            c.write_all(format!("client {i}").as_bytes()).unwrap();
        }
        for (i, c) in clients.iter_mut().enumerate() {
            let want = format!("client {i}");
            let mut got = vec![0u8; want.len()];
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.read_exact(&mut got).unwrap();
            assert_eq!(got, want.as_bytes());
        }
    }
}
