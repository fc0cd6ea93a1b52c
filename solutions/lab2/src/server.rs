//! The listening socket, the accept loop, and one thread per connection.
//!
//! The accept loop does nothing but accept: each new connection goes to a thread of its
//! own, and the loop is back in `accept` within microseconds. A client that stalls (sends
//! half a message and waits) blocks only its own thread in `read`; everybody else is served.
//!
//! Why threads and not processes? A `fork()`ed child per client would also work (that is
//! what classic Unix servers did), and a crash in one child cannot hurt the others. But a
//! process costs more to start, and processes share no memory, so anything the clients
//! have in common (a counter, a cache) needs explicit inter-process communication.
//! Threads start faster and share the whole address space, which is convenient and, as
//! soon as two threads touch the same data, dangerous: Rust's `Send`/`Sync` rules and
//! types such as `Arc` and `AtomicUsize` make that sharing explicit.
//!
//! Why not a thread per client forever? Each thread has its own stack (2 MiB of address
//! space by default in Rust, touched lazily) and is a task the kernel schedules. Ten
//! thousand mostly idle clients mean ten thousand threads. A *pool* of N threads caps that
//! cost, but then the (N+1)-th client waits until one of the first N leaves: with blocking
//! calls, a pool only works when connections are short. Lab 3 serves thousands of clients
//! with one thread instead.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crate::echo;
use crate::trace::{client_thread_name, Trace};

/// Creates the listening socket on `host:port`.
///
/// `TcpListener::bind` performs `socket()`, `bind()` and `listen()` in one call (see lab 1).
///
/// # Errors
/// Fails if the address does not resolve, or the port is taken or privileged.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    TcpListener::bind((host, port))
}

/// Accepts clients forever, giving each one a thread of its own.
///
/// # Errors
/// Never returns under normal operation: a failed `accept` or a thread that cannot be
/// started concerns one client only, and is logged.
pub fn run(listener: TcpListener, trace: Arc<Trace>) -> io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) => {
                // ECONNABORTED (the client gave up in the backlog) or EMFILE (out of file
                // descriptors for a moment): neither is a reason to stop serving.
                eprintln!("lab2: accept failed: {e}");
                continue;
            }
        };
        if let Err(e) = spawn_client(stream, peer, Arc::clone(&trace), Arc::clone(&active)) {
            // The thread could not be created (a limit on threads or memory). The stream
            // was dropped with the failed closure, which closes the connection: that client
            // sees its connection closed, the others are unaffected.
            eprintln!("lab2: cannot start a thread for {peer}: {e}");
        }
    }
}

/// Starts a thread that serves the client on `stream`, and returns at once.
///
/// The thread is named after the client (`c:PORT IP`, see [`client_thread_name`]), so
/// that `top -H`, a debugger and the trace all show which thread serves whom. It is *detached*: nobody joins it, and it ends when its
/// client is done.
///
/// # Errors
/// When the operating system refuses to create another thread.
pub fn spawn_client(
    stream: TcpStream,
    peer: SocketAddr,
    trace: Arc<Trace>,
    active: Arc<AtomicUsize>,
) -> io::Result<()> {
    // `move` gives the thread ownership of the stream and of its own `Arc` handles: the
    // accept loop keeps nothing of this connection, so it cannot touch it by mistake, and
    // the socket is closed when the thread is done with it.
    thread::Builder::new()
        .name(client_thread_name(peer))
        .spawn(move || {
            let guard = ActiveClient::enter(&active);
            trace.event(
                peer,
                format_args!("accepted; {} client(s) being served", guard.count()),
            );
            serve_and_log(stream, peer, &trace);
        })?;
    Ok(())
}

/// Counts a client as being served for as long as it lives.
///
/// Decrementing in `Drop` keeps the count right on every way out of the thread, including
/// a panic, which a decrement at the end of the thread's function would miss.
#[derive(Debug)]
pub struct ActiveClient<'a> {
    count: &'a AtomicUsize,
}

impl<'a> ActiveClient<'a> {
    /// Counts one more client in `count`.
    pub fn enter(count: &'a AtomicUsize) -> ActiveClient<'a> {
        // Relaxed is enough: the count is only displayed, it orders no other memory.
        count.fetch_add(1, Ordering::Relaxed);
        ActiveClient { count }
    }

    /// How many clients are being served right now (this one included).
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for ActiveClient<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one client and logs how it ended; never fails, so the thread ends quietly.
fn serve_and_log(stream: TcpStream, peer: SocketAddr, trace: &Trace) {
    match echo::serve_client(stream, peer, trace) {
        Ok(total) => trace.event(peer, format_args!("closed after echoing {total} bytes")),
        // A reset (ECONNRESET) or broken pipe (EPIPE) is the client's doing, and ends only
        // this thread: the others never notice.
        Err(e) => {
            trace.event(peer, format_args!("closed on error: {e}"));
            eprintln!("lab2: client {peer}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::time::Duration;

    #[test]
    fn a_stalled_client_does_not_hold_up_the_next_one() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || run(listener, Arc::new(Trace::new(false))));

        // The first client sends half a message and then waits, keeping its thread busy.
        let mut first = TcpStream::connect(addr).unwrap();
        first.write_all(b"half a mess").unwrap();
        let mut echo = [0u8; 11];
        first.read_exact(&mut echo).unwrap();

        // The second one is served all the same, while the first is still connected.
        let mut second = TcpStream::connect(addr).unwrap();
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        second.write_all(b"hello").unwrap();
        second.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        second.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello");

        first.write_all(b"age").unwrap();
        first.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        first.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"age");
    }

    #[test]
    fn the_guard_counts_clients_until_dropped() {
        let count = AtomicUsize::new(0);
        let a = ActiveClient::enter(&count);
        {
            let b = ActiveClient::enter(&count);
            assert_eq!(b.count(), 2);
        }
        assert_eq!(a.count(), 1);
        drop(a);
        assert_eq!(count.load(Ordering::Relaxed), 0);
    }
}
