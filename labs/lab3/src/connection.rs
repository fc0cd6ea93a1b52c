//! One client's state, and the rules for making progress on it without ever blocking.
//!
//! A non-blocking socket never waits: `read` and `write` either make progress at once or
//! fail with `WouldBlock` (`EAGAIN`), which means "nothing to do now, ask the poller". The
//! rules every arm below follows:
//!
//! | call returns | meaning | what we do |
//! |---|---|---|
//! | `Ok(0)` from `read` | the client half-closed: no more bytes will come | remember it; finish sending, then close |
//! | `Ok(n)` | progress | echo, or queue what the socket did not take |
//! | `WouldBlock` | no progress possible now | back to the poller |
//! | `Interrupted` | a signal arrived before any progress | retry the call |
//! | any other error (reset, broken pipe) | this connection is dead | close it, and only it |
//!
//! **Pending output.** When the client reads slower than it writes, the echo does not fit
//! into the socket's send buffer, and `write` takes only part of it (or nothing). The rest
//! is kept as *pending output* and sent when the poller says the socket is writable again.
//!
//! **Backpressure.** A client that sends and never reads would make pending output grow
//! without end, and the server would run out of memory. So once a client's pending output
//! reaches [`PENDING_LIMIT`], we stop reading from it (and stop asking the poller whether it
//! is readable). Its bytes then wait in the kernel's buffers, which fill up, and TCP flow
//! control stops the client's sends: the client is slowed down, the server is not. When the
//! pending output has drained, we read again.
//!
//! **Fairness.** The poller reports each readiness change once (mio is edge-triggered), so
//! after an event we must read until `WouldBlock`, or else remember that bytes are still
//! waiting. A client streaming at full speed could keep us reading forever, starving every
//! other client; so each turn reads at most [`READS_PER_TURN`] times, and a connection that
//! still has bytes waiting reports [`Status::Busy`] so that the loop comes back to it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::net::TcpStream;
use mio::Interest;

use crate::trace::Trace;

/// How many bytes of output a client may owe us before we stop reading from it.
pub const PENDING_LIMIT: usize = 64 * 1024;

/// How many reads one connection gets per turn of the loop before the others get theirs.
pub const READS_PER_TURN: usize = 16;

/// What the loop should do with a connection after [`Connection::pump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Wait for the readiness [`Connection::interest`] names.
    Open,
    /// It used up its reads for this turn with bytes still waiting: pump it again soon,
    /// without waiting for a readiness event (none may come: the bytes are already there).
    Busy,
    /// Done: everything was echoed and our side is shut down. Drop it.
    Finished,
}

/// One client: its socket, what we still owe it, and how far the conversation got.
#[derive(Debug)]
pub struct Connection {
    /// The client's socket (non-blocking).
    pub stream: TcpStream,
    /// The client's address, for the trace.
    pub peer: SocketAddr,
    pending: PendingOutput,
    peer_done: bool,
    registered: Interest,
}

impl Connection {
    /// A connection just accepted, to be registered for [`Connection::interest`].
    pub fn new(stream: TcpStream, peer: SocketAddr) -> Connection {
        Connection {
            stream,
            peer,
            pending: PendingOutput::default(),
            peer_done: false,
            registered: Interest::READABLE,
        }
    }

    // ANCHOR: pump
    /// Makes all the progress possible right now: sends pending output, then reads and
    /// echoes until reading would block, the client half-closes, backpressure applies or
    /// the turn's reads are used up. `scratch` is the loop's shared read buffer.
    ///
    /// # Errors
    /// Any I/O error other than `WouldBlock` and `Interrupted`: the connection is dead.
    pub fn pump(&mut self, scratch: &mut [u8], trace: &Trace) -> io::Result<Status> {
        // TODO: Step 6 — make all the progress this client allows right now, and never wait
        // (one thread serves everybody: a wait here stalls them all). What we owe the client
        // goes out first, then what it sent is echoed. Events are edge-triggered, so carry on
        // until there is nothing left to read or the client has half-closed; stop earlier
        // only for the loop's two rules: backpressure (pending output never passes
        // PENDING_LIMIT, so memory stays bounded and TCP slows the client down) and fairness
        // (after READS_PER_TURN reads the others get their turn: say `Busy`). Once the client
        // has half-closed and everything is echoed, tell it so (our FIN) and say `Finished`.
        let _ = (scratch, trace, Shutdown::Write);
        let _ = (self.peer_done, <TcpStream as Read>::read);
        let _ = (Self::reading_paused, Self::send, Self::flush);
        todo!("Step 6 of handouts/lab3.md: read, echo and queue without ever blocking")
    }
    // ANCHOR_END: pump

    /// The readiness to wait for: readable while we accept input, writable while output
    /// is pending. Never empty for an open connection: if reading is paused, output is
    /// pending.
    pub fn interest(&self) -> Interest {
        // TODO: Step 7 — tell the poller what this connection waits for: it reports only
        // what it is asked about. Input is wanted while the client may still send and
        // backpressure allows it; output only while some is pending (a socket with room in
        // its send buffer is always writable: asking then would wake the loop for nothing).
        todo!("Step 7 of handouts/lab3.md: choose which readiness to wait for")
    }

    /// The interest the connection is registered with (the loop keeps it up to date).
    pub fn registered(&self) -> Interest {
        self.registered
    }

    /// Records the interest the connection was just (re)registered with.
    pub fn set_registered(&mut self, interest: Interest) {
        self.registered = interest;
    }

    /// Bytes read but not yet echoed.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Backpressure: whether we have stopped reading until pending output drains.
    fn reading_paused(&self) -> bool {
        self.pending.len() >= PENDING_LIMIT
    }

    /// Echoes `bytes`: straight to the socket if nothing is queued before them, and queues
    /// whatever the socket does not take. (Writing first means a client that keeps up
    /// never makes us copy its bytes, and most connections never allocate a queue.)
    fn send(&mut self, bytes: &[u8], trace: &Trace) -> io::Result<()> {
        // TODO: Step 6 — echo `bytes` without waiting: the socket takes what fits now, and
        // what it does not take is owed to the client as pending output, sent once the
        // socket is writable again. It is an echo, so order matters: nothing may overtake
        // bytes that are already queued.
        let _ = (bytes, trace);
        todo!("Step 6 of handouts/lab3.md: echo what fits now, queue the rest")
    }

    /// Sends as much pending output as the socket takes.
    fn flush(&mut self, trace: &Trace) -> io::Result<()> {
        // TODO: Step 6 — pay back what we owe: send as much pending output as the socket
        // takes now, and keep the rest for the next time it is writable.
        let _ = trace;
        todo!("Step 6 of handouts/lab3.md: send the pending output first")
    }
}

/// Writes as much of `bytes` as the socket takes without blocking; returns how much.
///
/// # Errors
/// Any error other than `WouldBlock` and `Interrupted`.
pub fn write_until_blocked(stream: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
    // TODO: Step 4 — give the socket as much of `bytes` as it takes right now, and say how
    // much that was. A non-blocking write takes only what fits in the send buffer: maybe
    // less than offered, maybe nothing. A full buffer is not an error (the caller keeps
    // the rest for later); a failing socket, or one that takes nothing ever, is.
    let _ = (stream, bytes);
    todo!("Step 4 of handouts/lab3.md: write what the socket takes, stop at WouldBlock")
}

/// Output read from the client but not yet sent back: a byte queue.
///
/// A `Vec` plus the offset of the first unsent byte: consuming from the front only moves
/// the offset, and the storage is reused once everything has been sent.
#[derive(Debug, Default)]
pub struct PendingOutput {
    bytes: Vec<u8>,
    sent: usize,
}

impl PendingOutput {
    /// Number of bytes waiting to be sent.
    pub fn len(&self) -> usize {
        self.bytes.len() - self.sent
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `more` behind what is already waiting.
    pub fn push(&mut self, more: &[u8]) {
        // TODO: Step 5 — keep `more` for later, behind whatever already waits: the echo
        // must come back in the order the bytes came.
        let _ = more;
        todo!("Step 5 of handouts/lab3.md: queue what the socket does not take")
    }

    /// The bytes waiting, oldest first.
    pub fn unsent(&self) -> &[u8] {
        // TODO: Step 5 — what we still owe the client, oldest byte first, ready to hand
        // to a write.
        todo!("Step 5 of handouts/lab3.md: queue what the socket does not take")
    }

    /// Marks the first `n` waiting bytes as sent.
    pub fn consume(&mut self, n: usize) {
        // TODO: Step 5 — the socket took the first `n` waiting bytes: forget them. A slow
        // client makes many small sends, so sending from the front must not copy what
        // remains each time; and once everything is sent the queue should cost little
        // again, even after a burst made it big (thousands of idle clients each hold one).
        let _ = n;
        todo!("Step 5 of handouts/lab3.md: queue what the socket does not take")
    }
}

/// `WouldBlock` (`EAGAIN`/`EWOULDBLOCK`): no progress possible now; wait for readiness.
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == ErrorKind::WouldBlock
}

/// `Interrupted` (`EINTR`): a signal arrived first; simply call again.
pub fn interrupted(e: &io::Error) -> bool {
    e.kind() == ErrorKind::Interrupted
}
