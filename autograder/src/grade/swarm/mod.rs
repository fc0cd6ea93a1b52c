//! Many clients at once on one thread: the grader's readiness-loop client engine.
//!
//! An [`Engine`] holds non-blocking client sockets registered with one `mio::Poll` (epoll
//! on Linux), each with a state of its user's choosing. Two users drive it:
//!
//! - the probes' swarms (`probe::concurrency`): a thousand echo clients moving in
//!   lock-step rounds, checked byte for byte, without a thread per client and without a
//!   buffer that can deadlock the grader;
//! - the bench's load generator ([`load`]): persistent clients repeating one request as
//!   fast as the server answers.
//!
//! What the engine does for both is the part that is easy to get wrong: readiness is
//! edge-triggered, so a socket reported readable or writable stays so until a call says
//! "would block", and the engine remembers it ([`Engine::readable`],
//! [`Engine::writable`]) — a user may leave a ready socket alone for a while (a client
//! that is not in this phase of the test) and come back to it without waiting for an
//! event that will never come again. Every call's outcome is one [`Io`] value: bytes moved,
//! "would block", the peer's close, or an error; interrupted calls are retried.

pub mod ftp_load;
pub mod load;

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// What one read or write on a connection did.
#[derive(Debug)]
pub enum Io {
    /// This many bytes moved (never 0).
    Moved(usize),
    /// Nothing can move now; readiness is reported again when something can.
    Blocked,
    /// The peer closed: a read returned 0, or a write could take nothing.
    Closed,
    /// The connection failed (reset, refused, …).
    Failed(io::Error),
}

/// One write on `stream`; a write that would block clears `writable`.
fn write_to(stream: Option<&mut TcpStream>, writable: &mut bool, bytes: &[u8]) -> Io {
    let Some(stream) = stream else {
        return Io::Failed(io::Error::from(ErrorKind::NotConnected));
    };
    loop {
        return match stream.write(bytes) {
            Ok(0) if !bytes.is_empty() => Io::Closed,
            Ok(n) => Io::Moved(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                *writable = false;
                Io::Blocked
            }
            Err(e) => Io::Failed(e),
        };
    }
}

/// A connection's slot: the socket (if open), what the last events said, the user's state.
#[derive(Debug)]
struct Slot<S> {
    stream: Option<TcpStream>,
    readable: bool,
    writable: bool,
    /// Whether writability is part of the registered interest.
    want_write: bool,
    state: S,
}

/// One connection that the last [`Engine::wait`] reported, and what it became.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    /// The connection's index.
    pub index: usize,
    /// Something to read (or the peer closed, or an error waits to be read).
    pub readable: bool,
    /// Room to write (or a non-blocking connect finished).
    pub writable: bool,
}

/// Many client connections, each with a state `S`, driven by one readiness loop.
#[derive(Debug)]
pub struct Engine<S> {
    poll: Poll,
    events: Events,
    slots: Vec<Slot<S>>,
}

impl<S> Engine<S> {
    /// An engine with no connections yet.
    ///
    /// # Errors
    /// When the kernel gives no poller (out of file descriptors).
    pub fn new() -> io::Result<Engine<S>> {
        Ok(Engine {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            slots: Vec::new(),
        })
    }

    /// Adds a connection slot, not yet open, with state `state`; returns its index.
    pub fn push(&mut self, state: S) -> usize {
        self.slots.push(Slot {
            stream: None,
            readable: false,
            writable: false,
            want_write: false,
            state,
        });
        self.slots.len() - 1
    }

    /// How many connection slots there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Connection `i`'s state.
    pub fn state(&self, i: usize) -> &S {
        &self.slots[i].state
    }

    /// Connection `i`'s state, to change.
    pub fn state_mut(&mut self, i: usize) -> &mut S {
        &mut self.slots[i].state
    }

    /// Every connection's state, in index order.
    pub fn states(&self) -> impl Iterator<Item = &S> {
        self.slots.iter().map(|s| &s.state)
    }

    /// Every connection's state, to change.
    pub fn states_mut(&mut self) -> impl Iterator<Item = &mut S> {
        self.slots.iter_mut().map(|s| &mut s.state)
    }

    /// Connection `i`'s socket, for options and shutdown; `None` while it is closed.
    pub fn stream(&self, i: usize) -> Option<&TcpStream> {
        self.slots[i].stream.as_ref()
    }

    /// Whether connection `i` was reported readable and no read since said "would block".
    pub fn readable(&self, i: usize) -> bool {
        self.slots[i].readable
    }

    /// Whether connection `i` was reported writable and no write since said "would block".
    pub fn writable(&self, i: usize) -> bool {
        self.slots[i].writable
    }

    /// Starts a non-blocking connect of slot `i` to `addr` (closing what it had). It has
    /// finished when the slot becomes writable: then ask [`Engine::connected`].
    ///
    /// # Errors
    /// When the socket cannot be created or registered.
    pub fn connect(&mut self, i: usize, addr: SocketAddr) -> io::Result<()> {
        self.close(i);
        let stream = TcpStream::connect(addr)?;
        self.register(i, stream)
    }

    /// Puts an already connected socket in slot `i` (closing what it had), made
    /// non-blocking.
    ///
    /// # Errors
    /// When the socket cannot be made non-blocking or registered.
    pub fn adopt(&mut self, i: usize, stream: std::net::TcpStream) -> io::Result<()> {
        self.close(i);
        stream.set_nonblocking(true)?;
        self.register(i, TcpStream::from_std(stream))
    }

    fn register(&mut self, i: usize, mut stream: TcpStream) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut stream, Token(i), interest)?;
        let slot = &mut self.slots[i];
        slot.stream = Some(stream);
        // Until an event says otherwise, try: a call that would block clears these.
        slot.readable = true;
        slot.writable = true;
        slot.want_write = true;
        Ok(())
    }

    /// Whether slot `i`'s non-blocking connect has finished: `None` while in progress,
    /// else whether it worked.
    pub fn connected(&self, i: usize) -> Option<io::Result<()>> {
        let Some(stream) = self.slots[i].stream.as_ref() else {
            return Some(Err(io::Error::from(ErrorKind::NotConnected)));
        };
        // A non-blocking connect reports completion as writability; SO_ERROR says whether
        // it worked, and peer_addr fails while it is still in progress.
        match (stream.take_error(), stream.peer_addr()) {
            (Ok(None), Ok(_)) => Some(Ok(())),
            (Ok(None), Err(e)) if e.kind() == ErrorKind::NotConnected => None,
            (Ok(Some(e)) | Err(e), _) | (Ok(None), Err(e)) => Some(Err(e)),
        }
    }

    /// Closes slot `i`'s connection, if open (its state stays).
    pub fn close(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if let Some(mut stream) = slot.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        slot.readable = false;
        slot.writable = false;
    }

    /// Asks to be woken for writability of slot `i` only while it has bytes waiting to
    /// go: otherwise every ACK that frees send-buffer space would wake the loop for
    /// nothing.
    ///
    /// # Errors
    /// When the socket cannot be re-registered.
    pub fn want_write(&mut self, i: usize, want: bool) -> io::Result<()> {
        let slot = &mut self.slots[i];
        if want == slot.want_write {
            return Ok(());
        }
        let Some(stream) = slot.stream.as_mut() else {
            return Ok(());
        };
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        slot.want_write = want;
        self.poll.registry().reregister(stream, Token(i), interest)
    }

    /// One write of `bytes` on slot `i`.
    pub fn write(&mut self, i: usize, bytes: &[u8]) -> Io {
        let slot = &mut self.slots[i];
        write_to(slot.stream.as_mut(), &mut slot.writable, bytes)
    }

    /// One write on slot `i` of bytes its own state holds (`pick` chooses them): a client's
    /// pending output, written without copying it out of the state first.
    pub fn write_own(&mut self, i: usize, pick: impl FnOnce(&S) -> &[u8]) -> Io {
        let slot = &mut self.slots[i];
        write_to(slot.stream.as_mut(), &mut slot.writable, pick(&slot.state))
    }

    /// One read into `buf` on slot `i`.
    pub fn read(&mut self, i: usize, buf: &mut [u8]) -> Io {
        let slot = &mut self.slots[i];
        let Some(stream) = slot.stream.as_mut() else {
            return Io::Failed(io::Error::from(ErrorKind::NotConnected));
        };
        loop {
            return match stream.read(buf) {
                Ok(0) => Io::Closed,
                Ok(n) => Io::Moved(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    slot.readable = false;
                    Io::Blocked
                }
                Err(e) => Io::Failed(e),
            };
        }
    }

    /// Sleeps in the poller until some connection is ready or `timeout` passes, and
    /// records what it reports; the connections reported are put in `ready` (cleared
    /// first). An interrupted wait reports nothing.
    ///
    /// # Errors
    /// When the poller fails (which only a programming error makes it do).
    pub fn wait(&mut self, timeout: Duration, ready: &mut Vec<Ready>) -> io::Result<()> {
        ready.clear();
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in self.events.iter() {
            let index = event.token().0;
            let Some(slot) = self.slots.get_mut(index) else {
                continue;
            };
            // A close or an error is something for the next read (or write) to find out.
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_write_closed() || event.is_error();
            slot.readable |= readable;
            slot.writable |= writable;
            ready.push(Ready {
                index,
                readable,
                writable,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Instant;

    /// Echoes on a thread of its own until the client closes.
    fn echo_server() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        addr
    }

    #[test]
    fn a_connection_connects_echoes_and_sees_the_close() {
        let addr = echo_server();
        let mut engine: Engine<()> = Engine::new().unwrap();
        let i = engine.push(());
        engine.connect(i, addr).unwrap();
        let mut ready = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while engine.connected(i).is_none() {
            assert!(Instant::now() < deadline, "the connect never finished");
            engine.wait(Duration::from_millis(50), &mut ready).unwrap();
        }
        engine.connected(i).unwrap().unwrap();
        assert!(matches!(engine.write(i, b"hello"), Io::Moved(5)));
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while got.len() < 5 {
            assert!(Instant::now() < deadline, "no echo");
            match engine.read(i, &mut buf) {
                Io::Moved(n) => got.extend_from_slice(&buf[..n]),
                Io::Blocked => {
                    assert!(
                        !engine.readable(i),
                        "a read that would block clears readiness"
                    );
                    engine.wait(Duration::from_millis(50), &mut ready).unwrap();
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, b"hello");
        engine
            .stream(i)
            .unwrap()
            .shutdown(std::net::Shutdown::Write)
            .unwrap();
        loop {
            assert!(Instant::now() < deadline, "the close never came");
            match engine.read(i, &mut buf) {
                Io::Closed => break,
                Io::Blocked => engine.wait(Duration::from_millis(50), &mut ready).unwrap(),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn readiness_left_unused_is_remembered() {
        // Edge-triggered: the event for bytes that arrived comes once. A user that does
        // not read then must still find the connection readable later.
        let addr = echo_server();
        let mut engine: Engine<()> = Engine::new().unwrap();
        let i = engine.push(());
        engine
            .adopt(i, std::net::TcpStream::connect(addr).unwrap())
            .unwrap();
        let mut buf = [0u8; 16];
        assert!(matches!(engine.read(i, &mut buf), Io::Blocked));
        assert!(matches!(engine.write(i, b"x"), Io::Moved(1)));
        let mut ready = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !engine.readable(i) {
            assert!(Instant::now() < deadline, "the echo never came");
            engine.wait(Duration::from_millis(50), &mut ready).unwrap();
        }
        // Later waits report nothing new, yet the byte is there.
        engine.wait(Duration::from_millis(20), &mut ready).unwrap();
        assert!(engine.readable(i));
        assert!(matches!(engine.read(i, &mut buf), Io::Moved(1)));
    }

    #[test]
    fn a_refused_connect_is_reported_as_failed() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut engine: Engine<()> = Engine::new().unwrap();
        let i = engine.push(());
        engine.connect(i, addr).unwrap();
        let mut ready = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let result = loop {
            if let Some(result) = engine.connected(i) {
                break result;
            }
            assert!(Instant::now() < deadline, "the connect never finished");
            engine.wait(Duration::from_millis(50), &mut ready).unwrap();
        };
        assert!(result.is_err());
    }
}
