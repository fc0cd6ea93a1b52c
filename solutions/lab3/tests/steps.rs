//! Step checks: each test exercises one step of `handouts/lab3.md` through the public
//! signatures (`server::bind`, `Server::turn`, `connection::write_until_blocked`,
//! `PendingOutput`, `Connection::pump` and `Connection::interest`), so it passes as soon as
//! that step is done, before the whole server works.
//!
//! `cargo run -p autograder -- check lab3` runs them first and shows one line per step.
//! By hand: `cargo test -p lab3 --test steps -- --ignored`. In the stub they are
//! `#[ignore]`d, so that `cargo test --workspace` passes while its steps are `todo!()`;
//! the reference solution runs the same checks as ordinary tests.
//!
//! No check waits without a deadline: the loop and every `pump` run on helper threads that
//! are watched with `is_finished()`, and the clients have timeouts. Some steps' functions
//! are private, so their checks go through the public ones: `accept_all` (Step 3) and
//! `Server::pump` (Step 8) through `Server::turn`, `send` and `flush` (Step 6) through
//! `Connection::pump`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use lab3_solution::connection::{self, Connection, PendingOutput, Status};
use lab3_solution::connection::{PENDING_LIMIT, READS_PER_TURN};
use lab3_solution::server::{self, Server};
use lab3_solution::trace::Trace;
use mio::Interest;

/// The system's allocator, counting what each thread holds, so that a check can see the
/// memory a queue keeps (Step 5).
struct Counting;

thread_local! {
    /// Bytes this thread allocated and has not freed (negative if it frees others').
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn held_by_this_thread() -> isize {
    HELD.with(Cell::get)
}

fn count(bytes: isize) {
    // A thread being torn down may have lost its counter: those bytes are not counted.
    let _ = HELD.try_with(|held| held.set(held.get() + bytes));
}

// SAFETY: every call goes to the system allocator unchanged; the counting only touches a
// thread-local `Cell`, which never allocates (const-initialised, nothing to drop).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, size) };
        if !q.is_null() {
            count(size as isize - layout.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How long any one wait in these checks may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// A quiet trace that lives as long as the test process (the loop borrows it).
fn trace() -> &'static Trace {
    static TRACE: OnceLock<Trace> = OnceLock::new();
    TRACE.get_or_init(|| Trace::new(false))
}

/// Bytes that are not text: every value, in a repeating but not periodic pattern.
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The message of a panic, for assertions about which step stopped a thread.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Whether `handle`'s thread ends within `limit` (polled: a join could wait for ever).
fn finished_within<T>(handle: &thread::JoinHandle<T>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Runs `f` (which pumps a connection) on a helper thread and returns what it returns,
/// failing the check if it takes longer than `limit`: a `pump` must never wait. On a
/// timeout the client's connection is shut down, which ends most loops that spin on
/// `WouldBlock` (their next read returns 0), so that no thread keeps a core busy.
fn without_blocking<T: Send + 'static>(
    client: &StdStream,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let handle = thread::spawn(f);
    if !finished_within(&handle, limit) {
        let _ = client.shutdown(Shutdown::Both);
        panic!(
            "`pump` did not return within {} s. It must never wait: `WouldBlock` means \
             \"nothing to do now\", so stop and return to the loop",
            limit.as_secs()
        );
    }
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A non-blocking listener on a free port of 127.0.0.1, made without `server::bind`.
fn new_listener() -> (mio::net::TcpListener, SocketAddr) {
    let listener = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// The event loop on a thread of its own, turning until told to stop.
struct Looping {
    addr: SocketAddr,
    turns: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl Looping {
    fn start(listener: mio::net::TcpListener) -> Looping {
        let addr = listener.local_addr().unwrap();
        let turns = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (turns, connections, stop) = (turns.clone(), connections.clone(), stop.clone());
            thread::spawn(move || {
                let mut server = Server::new(listener, trace())?;
                while !stop.load(Ordering::Relaxed) {
                    server.turn()?;
                    turns.fetch_add(1, Ordering::Relaxed);
                    connections.store(server.connections(), Ordering::Relaxed);
                }
                Ok(())
            })
        };
        Looping {
            addr,
            turns,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    /// Whether the server holds `n` connections within the deadline.
    fn holds(&self, n: usize) -> bool {
        let deadline = Instant::now() + DEADLINE;
        while self.connections.load(Ordering::Relaxed) != n {
            if Instant::now() >= deadline || self.thread.as_ref().unwrap().is_finished() {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// How the loop ended, if it has (within `limit`): a panic's message, or what
    /// `turn` returned.
    fn ended(&mut self, limit: Duration) -> Option<Result<io::Result<()>, String>> {
        if !finished_within(self.thread.as_ref()?, limit) {
            return None;
        }
        Some(self.thread.take()?.join().map_err(panic_message))
    }

    /// Fails the check with how the loop ended, if it has.
    fn fail_if_ended(&mut self) {
        match self.ended(Duration::ZERO) {
            None => {}
            Some(Err(message)) => panic!("the loop stopped with: {message}"),
            Some(Ok(result)) => panic!("`turn` failed: {result:?}"),
        }
    }
}

impl Drop for Looping {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // A client wakes the loop from `poll`, so that it sees `stop`.
        let _ = StdStream::connect(self.addr);
        if let Some(thread) = &self.thread {
            finished_within(thread, DEADLINE);
        }
    }
}

#[test]
fn step1_binds_a_socket_that_clients_can_connect_to() {
    let listener = server::bind("127.0.0.1", 0).expect("bind 127.0.0.1 on a free port");
    let addr = listener.local_addr().expect("the socket has an address");
    assert!(addr.ip().is_loopback(), "bound to {addr}, not 127.0.0.1");
    let _client = StdStream::connect(addr).expect("a client can connect");
    let deadline = Instant::now() + DEADLINE;
    loop {
        match listener.accept() {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accepting the client failed: {e}"),
        }
    }
}

/// The mistake this catches: a std listener handed to mio (`from_std`) without
/// `set_nonblocking(true)`, whose `accept` puts the whole loop to sleep.
#[test]
fn step1_the_socket_does_not_block_when_no_client_waits() {
    let listener = server::bind("127.0.0.1", 0).expect("bind 127.0.0.1 on a free port");
    let addr = listener.local_addr().unwrap();
    let accepting = thread::spawn(move || listener.accept().map(|_| ()));
    if !finished_within(&accepting, DEADLINE) {
        // Release the blocked accept, so that no thread is left behind.
        let _ = StdStream::connect(addr);
        panic!(
            "`accept` waited for a client: the listening socket is blocking. \
             `mio::net::TcpListener::bind` makes it non-blocking"
        );
    }
    let result = accepting.join().unwrap();
    assert_eq!(
        result.map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "with no client waiting, a non-blocking `accept` fails at once with WouldBlock"
    );
}

#[test]
fn step1_resolves_a_host_name_and_reports_a_port_in_use() {
    let by_name = server::bind("localhost", 0);
    assert!(
        by_name.is_ok(),
        "binding \"localhost\" failed ({:?}): resolve host:port with `ToSocketAddrs` \
         rather than parsing it as an address",
        by_name.err()
    );
    let taken = StdListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    assert!(
        server::bind("127.0.0.1", port).is_err(),
        "binding port {port} twice must fail (it returned Ok)"
    );
}

/// Until Step 3 is written, the listener's event reaches `accept_all`'s `todo!()`, which
/// stops the loop: that shows that `turn` dispatched it.
#[test]
fn step2_hands_the_listeners_event_to_accept_all() {
    let (listener, addr) = new_listener();
    let mut looping = Looping::start(listener);
    let _client = StdStream::connect(addr).unwrap();
    if looping.holds(1) {
        return;
    }
    match looping.ended(Duration::ZERO) {
        Some(Err(message)) if message.contains("Step 3 of handouts/lab3.md") => {}
        Some(Err(message)) => panic!("the loop stopped with: {message}"),
        Some(Ok(result)) => panic!("`turn` failed: {result:?}"),
        None => panic!(
            "a client connected, but {} s later the server holds no connection: `turn` must \
             hand the listener's event (token LISTENER) to `accept_all`",
            DEADLINE.as_secs()
        ),
    }
}

/// The one fixed wait in these checks: that nothing happens can only be seen over some
/// time. A loop that does not sleep in `poll` turns thousands of times meanwhile.
#[test]
fn step2_sleeps_in_poll_while_nothing_happens() {
    let (listener, _) = new_listener();
    let mut looping = Looping::start(listener);
    thread::sleep(Duration::from_millis(300));
    looping.fail_if_ended();
    let turns = looping.turns.load(Ordering::Relaxed);
    assert!(
        turns <= 1,
        "with no client and no busy connection, `turn` returned {turns} times in 300 ms: \
         call `poll` with no timeout (None) so that an idle server sleeps; a zero timeout \
         is only for when some connection is busy"
    );
}

/// The listener reports readable once for any number of waiting clients; mio's events are
/// edge-triggered, so clients left in the backlog produce no new event.
#[test]
fn step3_accepts_every_waiting_client_on_one_event() {
    let (listener, addr) = new_listener();
    let _clients: Vec<StdStream> = (0..5).map(|_| StdStream::connect(addr).unwrap()).collect();
    let mut looping = Looping::start(listener);
    if looping.holds(5) {
        return;
    }
    looping.fail_if_ended();
    panic!(
        "5 clients were waiting when the loop started, and {} s later it holds {} of them: \
         one readable event stands for every waiting client, so accept until WouldBlock",
        DEADLINE.as_secs(),
        looping.connections.load(Ordering::Relaxed)
    );
}

/// Until Steps 4-8 are written, the client's bytes reach a `todo!()` (`Server::pump`'s, or
/// one in what it calls), which stops the loop: that shows that the connection was
/// registered.
#[test]
fn step3_registers_each_client_so_that_its_bytes_reach_pump() {
    let (listener, addr) = new_listener();
    let mut looping = Looping::start(listener);
    let mut client = StdStream::connect(addr).unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    if !looping.holds(1) {
        looping.fail_if_ended();
        panic!(
            "a client connected, but {} s later the server holds no connection: accept it, \
             register it and store it",
            DEADLINE.as_secs()
        );
    }
    client.write_all(b"ping").unwrap();
    let mut echo = [0u8; 4];
    if client.read_exact(&mut echo).is_ok() && &echo == b"ping" {
        return;
    }
    // A later step's todo!() (Steps 4-8) shows that the bytes got through.
    let later: Vec<String> = (4..=8).map(|n| format!("Step {n} of")).collect();
    match looping.ended(DEADLINE) {
        Some(Err(message)) if later.iter().any(|s| message.contains(s)) => {}
        Some(Err(message)) => panic!("the loop stopped with: {message}"),
        Some(Ok(result)) => panic!("`turn` failed: {result:?}"),
        None => panic!(
            "the client's bytes never reached the connection: register each accepted \
             connection with the poller (`Interest::READABLE`, under its own token), and \
             hand its events to `pump` in `turn`"
        ),
    }
}

/// A writer like a non-blocking socket whose send buffer has room for `room` more
/// bytes: it takes 1-7 bytes per call, fails every third call with `Interrupted`, and
/// fails with `WouldBlock` once full. It gives up after many calls, so that a loop that
/// never ends fails instead of hanging.
struct Filling {
    taken: Vec<u8>,
    room: usize,
    calls: usize,
}

impl Filling {
    fn with_room(room: usize) -> Filling {
        Filling {
            taken: Vec::new(),
            room,
            calls: 0,
        }
    }
}

impl Write for Filling {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls > 100_000 {
            return Err(io::Error::other("write called 100,000 times"));
        }
        if self.calls.is_multiple_of(3) {
            return Err(ErrorKind::Interrupted.into());
        }
        let room = self.room - self.taken.len();
        if room == 0 && !bytes.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = bytes.len().min(1 + self.calls % 7).min(room);
        self.taken.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn step4_returns_how_many_bytes_were_taken_when_the_socket_would_block() {
    let bytes = binary(5_000);
    let mut socket = Filling::with_room(1_000);
    let written = connection::write_until_blocked(&mut socket, &bytes);
    assert_eq!(
        written.map_err(|e| e.kind()),
        Ok(1_000),
        "the socket took 1000 bytes, a few at a time, then said WouldBlock: that is no \
         error, return the count (retry `Interrupted`; a write may take fewer bytes than \
         offered)"
    );
    assert!(
        socket.taken == bytes[..1_000],
        "the bytes arrived out of order or altered"
    );
}

#[test]
fn step4_writes_everything_when_the_socket_takes_it_all() {
    let bytes = binary(3_000);
    let mut socket = Filling::with_room(usize::MAX);
    let written = connection::write_until_blocked(&mut socket, &bytes);
    assert_eq!(
        written.map_err(|e| e.kind()),
        Ok(3_000),
        "every byte fits: write until all are taken, then stop"
    );
    assert!(
        socket.taken == bytes,
        "the bytes arrived out of order or altered"
    );
}

/// A writer that takes nothing, or fails for real (and gives up on a loop that never
/// ends).
struct Broken {
    kind: ErrorKind,
    calls: usize,
}

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        match self.kind {
            _ if self.calls > 1_000 => Err(io::Error::other("write called 1,000 times")),
            ErrorKind::WriteZero => Ok(0),
            kind => Err(kind.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn step4_reports_a_write_that_takes_nothing_or_fails() {
    for kind in [ErrorKind::WriteZero, ErrorKind::ConnectionReset] {
        let mut socket = Broken { kind, calls: 0 };
        let result = connection::write_until_blocked(&mut socket, b"abc");
        assert_eq!(
            result.map_err(|e| e.kind()),
            Err(kind),
            "a write that takes 0 bytes will never finish (report WriteZero), and a real \
             error ends the write (return it)"
        );
    }
}

/// What `unsent()` and `len()` say, against what they should say `when`.
fn expect_unsent(queue: &PendingOutput, want: &str, when: &str) {
    let got = String::from_utf8_lossy(queue.unsent()).into_owned();
    assert!(
        got == want && queue.len() == want.len(),
        "{when}, unsent() is {got:?} and len() {}, instead of {want:?} and {}",
        queue.len(),
        want.len()
    );
}

#[test]
fn step5_queues_bytes_behind_those_waiting_and_sends_from_the_front() {
    let mut queue = PendingOutput::default();
    queue.push(b"hello ");
    queue.push(b"world");
    expect_unsent(
        &queue,
        "hello world",
        "after push(\"hello \") and push(\"world\")",
    );
    queue.consume(6);
    expect_unsent(
        &queue,
        "world",
        "after consume(6) (the socket took \"hello \")",
    );
    queue.push(b"!");
    expect_unsent(&queue, "world!", "then after push(\"!\")");
    queue.consume(6);
    expect_unsent(
        &queue,
        "",
        "after consume(6) of \"world!\" (everything was sent)",
    );
    assert!(queue.is_empty(), "everything was sent: the queue is empty");
    queue.push(b"again");
    expect_unsent(
        &queue,
        "again",
        "after push(\"again\") on the emptied queue",
    );
}

/// Pieces of every size are queued while the socket takes a part each time: sometimes
/// everything, sometimes nothing, mostly some. The queue must hand back exactly the bytes
/// not yet taken, in order, whatever the pattern.
#[test]
fn step5_gives_back_every_byte_in_order_through_many_partial_sends() {
    let data = binary(300_000);
    let mut queue = PendingOutput::default();
    let (mut pushed, mut sent) = (0, 0);
    for k in 0..10_000usize {
        if sent == data.len() {
            return;
        }
        let piece = (1 + k * 37 % 9_000).min(data.len() - pushed);
        queue.push(&data[pushed..pushed + piece]);
        pushed += piece;
        let taken = match k % 4 {
            0 => queue.len(),
            1 => 0,
            _ => (k * 53 % 7_000).min(queue.len()),
        };
        queue.consume(taken);
        sent += taken;
        assert_eq!(
            queue.len(),
            pushed - sent,
            "{pushed} bytes pushed and {sent} consumed: len() must be the difference"
        );
        assert!(
            queue.unsent() == &data[sent..pushed],
            "{pushed} bytes pushed and {sent} consumed (by {taken} just now): unsent() must \
             be bytes {sent}..{pushed} of what was pushed, in order"
        );
    }
    panic!("{sent} of {} bytes sent after 10,000 rounds", data.len());
}

#[test]
fn step5_gives_back_the_memory_of_a_burst_once_it_is_sent() {
    let burst = binary(16 * PENDING_LIMIT);
    let before = held_by_this_thread();
    let mut queue = PendingOutput::default();
    queue.push(&burst);
    let full = held_by_this_thread() - before;
    assert!(
        full >= burst.len() as isize,
        "setup: the queue holds the {} bytes pushed",
        burst.len()
    );
    // The socket takes it a piece at a time, as a slow client reads.
    while !queue.is_empty() {
        queue.consume(queue.len().min(5_000));
    }
    let left = held_by_this_thread() - before;
    drop(queue);
    assert!(
        left <= 2 * PENDING_LIMIT as isize,
        "a burst of {} KiB was queued and then all sent, and the queue still holds {} KiB: \
         give the memory back once everything is sent (beyond a bound), or every client \
         that ever had a burst keeps it while idle",
        burst.len() / 1024,
        left / 1024
    );
}

/// A connection as the loop holds it: (the client's end, blocking with timeouts; the
/// server's `Connection`, non-blocking).
fn connection_pair() -> (StdStream, Connection) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_end, peer) = listener.accept().unwrap();
    server_end.set_nonblocking(true).unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    client.set_write_timeout(Some(DEADLINE)).unwrap();
    let conn = Connection::new(mio::net::TcpStream::from_std(server_end), peer);
    (client, conn)
}

/// Sets a socket buffer size (SO_SNDBUF or SO_RCVBUF), which std cannot.
fn set_buffer(socket: &impl AsRawFd, option: libc::c_int, bytes: libc::c_int) {
    // SAFETY: a valid socket, and a pointer/length pair describing a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

/// A pair whose echo cannot all fit in the kernel's buffers: the server's send buffer and
/// the client's receive buffer are small, so that a few KiB are enough to leave output
/// pending.
fn small_buffered_pair() -> (StdStream, Connection) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    // An accepted socket inherits its listener's buffer sizes: this is the client's end.
    set_buffer(&listener, libc::SO_RCVBUF, 4096);
    let server_end = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    set_buffer(&server_end, libc::SO_SNDBUF, 4096);
    let (client, _) = listener.accept().unwrap();
    let peer = server_end.peer_addr().unwrap();
    server_end.set_nonblocking(true).unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    client.set_write_timeout(Some(DEADLINE)).unwrap();
    let conn = Connection::new(mio::net::TcpStream::from_std(server_end), peer);
    (client, conn)
}

/// Bytes waiting in the server's receive buffer (up to `max`), without reading them.
fn waiting(conn: &Connection, max: usize) -> usize {
    conn.stream.peek(&mut vec![0u8; max]).unwrap_or(0)
}

/// Waits until `n` bytes the client sent are in the server's receive buffer.
fn wait_until_arrived(conn: &Connection, n: usize) {
    let deadline = Instant::now() + DEADLINE;
    while waiting(conn, n) < n {
        assert!(
            Instant::now() < deadline,
            "setup: the client's bytes never arrived"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Whether the client's FIN is next in the server's receive buffer (everything before it
/// has been read).
fn at_end_of_stream(conn: &Connection) -> bool {
    matches!(conn.stream.peek(&mut [0u8; 1]), Ok(0))
}

/// Reads what the client can read right now (its socket is made non-blocking for it):
/// the bytes, and whether the server's FIN came.
fn read_available(client: &mut StdStream) -> (Vec<u8>, bool) {
    client.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let closed = loop {
        match client.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) => panic!("the client's read failed: {e}"),
        }
    };
    client.set_nonblocking(false).unwrap();
    (got, closed)
}

type Pumped = io::Result<Status>;

#[test]
fn step6_echoes_everything_that_has_arrived_and_returns_open_at_would_block() {
    let (mut client, conn) = connection_pair();
    let message = binary(5_000);
    client.write_all(&message).unwrap();
    wait_until_arrived(&conn, message.len());
    // A small read buffer: one read cannot take everything that has arrived.
    let (conn, first, second) = without_blocking(&client, DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 1_000];
        let first = conn.pump(&mut scratch, trace());
        let second = conn.pump(&mut scratch, trace());
        (conn, first, second)
    });
    assert_eq!(
        first.map_err(|e| e.kind()),
        Ok(Status::Open),
        "after echoing what had arrived, reading would block: return Status::Open \
         (WouldBlock means \"back to the poller\", not an error)"
    );
    assert_eq!(
        second.map_err(|e| e.kind()),
        Ok(Status::Open),
        "a pump with nothing to read"
    );
    assert_eq!(
        conn.pending_len(),
        0,
        "the client reads: nothing stays pending"
    );
    let echo = read_up_to(&mut client, message.len());
    assert!(
        echo.len() == message.len(),
        "one pump echoed {} of the {} bytes that had arrived: read (and echo) until \
         WouldBlock",
        echo.len(),
        message.len()
    );
    assert!(echo == message, "the echo differs from what was sent");
}

/// Reads until `n` bytes have come, the connection ends, or a second passes.
fn read_up_to(client: &mut StdStream, n: usize) -> Vec<u8> {
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut got = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match client.read(&mut got[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    got.truncate(filled);
    got
}

/// A connection whose client sends and never reads, pumped until its pending output
/// stops growing. Returns the client, the connection, and the most output ever pending.
fn filled_to_the_bound() -> (StdStream, Connection, usize) {
    let (client, conn) = connection_pair();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut client = client.try_clone().unwrap();
        let done = done.clone();
        client
            .set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        thread::spawn(move || {
            let chunk = binary(64 * 1024);
            let mut sent = 0usize;
            while !done.load(Ordering::Relaxed) && sent < 512 << 20 {
                match client.write(&chunk) {
                    Ok(n) => sent += n,
                    // Timed out: the kernel's buffers are full for now.
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
        })
    };
    let (conn, most, error) = without_blocking(&client, 4 * DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + 3 * DEADLINE;
        let (mut most, mut grew, mut at_bound) = (0, Instant::now(), 0);
        // Until pending output stays at the bound, passes it by far, or stops growing
        // short of it for two seconds.
        while Instant::now() < deadline {
            if let Err(e) = conn.pump(&mut scratch, trace()) {
                return (conn, most, Some(e));
            }
            let now = conn.pending_len();
            if now > most {
                (most, grew) = (now, Instant::now());
            }
            at_bound = if now == PENDING_LIMIT {
                at_bound + 1
            } else {
                0
            };
            let stalled = most > 0 && grew.elapsed() > Duration::from_secs(2);
            if at_bound >= 20 || most > 16 * PENDING_LIMIT || stalled {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        (conn, most, None)
    });
    done.store(true, Ordering::Relaxed);
    assert!(finished_within(&writer, DEADLINE), "the writer thread ends");
    if let Some(e) = error {
        panic!("`pump` failed: {e} (WouldBlock is not an error)");
    }
    (client, conn, most)
}

#[test]
fn step6_stops_reading_at_the_pending_bound() {
    let (_client, conn, most) = filled_to_the_bound();
    assert!(
        most <= PENDING_LIMIT,
        "pending output reached {most} bytes, more than PENDING_LIMIT ({PENDING_LIMIT}): \
         never read more than PENDING_LIMIT - pending bytes, and stop reading at the bound"
    );
    assert_eq!(
        conn.pending_len(),
        PENDING_LIMIT,
        "a client that sends and never reads must bring pending output to PENDING_LIMIT, \
         where reading stops until it drains"
    );
}

#[test]
fn step6_returns_busy_after_its_reads_for_the_turn() {
    let (mut client, conn) = connection_pair();
    let piece = 16;
    let message = binary(4 * READS_PER_TURN * piece);
    let total = message.len();
    client.write_all(&message).unwrap();
    wait_until_arrived(&conn, total);
    let (conn, status, left) = without_blocking(&client, DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; piece];
        let status = conn.pump(&mut scratch, trace());
        let left = waiting(&conn, total);
        (conn, status, left)
    });
    assert_eq!(
        status.map_err(|e| e.kind()),
        Ok(Status::Busy),
        "after READS_PER_TURN reads with bytes still waiting, return Status::Busy (the \
         loop comes back to this connection after the others had their turn)"
    );
    assert_eq!(
        left,
        total - READS_PER_TURN * piece,
        "with a {piece}-byte buffer, one turn's READS_PER_TURN reads take {} bytes",
        READS_PER_TURN * piece
    );
    // The rest comes in later turns, in order.
    let rescue = client.try_clone().unwrap();
    let echo = without_blocking(&rescue, 2 * DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; piece];
        let mut echo = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        while echo.len() < total && Instant::now() < deadline {
            if let Err(e) = conn.pump(&mut scratch, trace()) {
                panic!("`pump` failed: {e}");
            }
            let (bytes, _) = read_available(&mut client);
            echo.extend_from_slice(&bytes);
        }
        echo
    });
    assert!(
        echo == message,
        "the echo differs from what was sent ({} of {total} bytes came back)",
        echo.len()
    );
}

/// A client that sends 48 KiB (more than the small buffers hold), never reads, and
/// half-closes; its connection pumped until the FIN has been read. Returns the client,
/// the connection, what was sent, and what the last pump returned.
fn half_closed_with_pending_output() -> (StdStream, Connection, Vec<u8>, Pumped) {
    let (mut client, conn) = small_buffered_pair();
    let message = binary(48 * 1024);
    client.write_all(&message).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let (conn, status) = without_blocking(&client, 2 * DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + DEADLINE;
        loop {
            let status = conn.pump(&mut scratch, trace());
            if status.is_err() || at_end_of_stream(&conn) || Instant::now() >= deadline {
                // The FIN is next: one more pump reads it, if this one did not.
                let status = match status {
                    Ok(Status::Open) => conn.pump(&mut scratch, trace()),
                    other => other,
                };
                return (conn, status);
            }
            thread::sleep(Duration::from_millis(1));
        }
    });
    (client, conn, message, status)
}

#[test]
fn step6_sends_everything_pending_before_it_closes_after_a_half_close() {
    let (mut client, conn, message, status) = half_closed_with_pending_output();
    let pending = conn.pending_len();
    match status {
        Ok(Status::Open) => {}
        Ok(Status::Finished) => panic!(
            "the client half-closed while {pending} bytes of its echo were pending, and \
             `pump` returned Finished, so the loop would drop them: send the pending output \
             first, and only then shut down and finish"
        ),
        other => panic!(
            "with the client half-closed and its echo still pending, `pump` returned \
             {other:?} instead of Status::Open (a BrokenPipe here comes from writing after \
             shutting down the write side: shut it down only once nothing is pending)"
        ),
    }
    assert!(
        pending > 0,
        "setup: the echo should not all fit in the small buffers"
    );
    let (early, closed) = read_available(&mut client);
    assert!(
        !closed,
        "the client got {} of {} bytes and then the close: shut down the write side only \
         once nothing is pending",
        early.len(),
        message.len()
    );
    // The client reads; the connection pumps until it is done.
    let reader = client.try_clone().unwrap();
    let (rest, finished) = without_blocking(&reader, 2 * DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 64 * 1024];
        let mut got = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        let finished = loop {
            let (bytes, _) = read_available(&mut client);
            got.extend_from_slice(&bytes);
            match conn.pump(&mut scratch, trace()) {
                Ok(Status::Finished) => break Ok(()),
                Ok(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(1)),
                Ok(status) => break Err(format!("still {status:?}")),
                Err(e) => break Err(format!("failed: {e}")),
            }
        };
        let mut tail = Vec::new();
        let end = client.read_to_end(&mut tail);
        got.extend_from_slice(&tail);
        (got, finished.and(end.map_err(|e| format!("no close: {e}"))))
    });
    let mut echo = early;
    echo.extend_from_slice(&rest);
    assert_eq!(
        echo.len(),
        message.len(),
        "echoed {} of {} bytes",
        echo.len(),
        message.len()
    );
    assert!(echo == message, "the echo differs from what was sent");
    if let Err(why) = finished {
        panic!(
            "once the pending output was sent, `pump` should shut down the write side and \
             return Finished; after {} s it is {why}",
            DEADLINE.as_secs()
        );
    }
}

#[test]
fn step6_finishes_after_a_client_that_sends_nothing() {
    let (mut client, conn) = connection_pair();
    client.shutdown(Shutdown::Write).unwrap();
    let status = without_blocking(&client, 2 * DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + DEADLINE;
        loop {
            match conn.pump(&mut scratch, trace()) {
                Ok(Status::Open) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(1));
                }
                other => return other,
            }
        }
    });
    assert_eq!(
        status.map_err(|e| e.kind()),
        Ok(Status::Finished),
        "a read of 0 bytes with nothing pending: shut down the write side and return \
         Status::Finished"
    );
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("the close (our FIN), after the half-close");
    assert!(
        rest.is_empty(),
        "{} bytes came back for none sent",
        rest.len()
    );
}

/// The mistakes this catches: `send` dropping what the socket did not take, and `pump`
/// not sending what is pending before anything else.
#[test]
fn step6_queues_what_a_full_socket_does_not_take_and_sends_it_in_order() {
    let (mut client, conn) = small_buffered_pair();
    let message = binary(48 * 1024);
    client.write_all(&message).unwrap();
    wait_until_arrived(&conn, message.len());
    // The client reads nothing yet: the echo cannot all fit in the small buffers.
    let (conn, first) = without_blocking(&client, DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 64 * 1024];
        let first = conn.pump(&mut scratch, trace());
        (conn, first)
    });
    assert_eq!(
        first.map_err(|e| e.kind()),
        Ok(Status::Open),
        "a pump that echoes into a full socket (WouldBlock is not an error)"
    );
    let pending = conn.pending_len();
    assert!(
        pending > 0,
        "the client sent 48 KiB and reads nothing, so its echo cannot all fit in the \
         (small) socket buffers, yet after `pump` nothing is pending: what the socket did \
         not take must be queued (`send`), not dropped"
    );
    // Now the client reads, and the connection is pumped until the echo is complete.
    let reader = client.try_clone().unwrap();
    let total = message.len();
    let (echo, still_pending) = without_blocking(&reader, 2 * DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 64 * 1024];
        let mut echo = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        while echo.len() < total && Instant::now() < deadline {
            if let Err(e) = conn.pump(&mut scratch, trace()) {
                panic!("`pump` failed: {e}");
            }
            let (bytes, _) = read_available(&mut client);
            echo.extend_from_slice(&bytes);
            thread::sleep(Duration::from_millis(1));
        }
        (echo, conn.pending_len())
    });
    if echo.len() < message.len() {
        panic!(
            "{} of {} bytes came back while the client read and the connection was pumped, \
             and {still_pending} stayed pending: each pump must first send what is pending \
             (`flush`)",
            echo.len(),
            message.len()
        );
    }
    if let Some(at) = (0..message.len()).find(|&i| echo[i] != message[i]) {
        panic!(
            "the echo differs from what was sent from byte {at} on: some bytes overtook \
             others. While output is pending, new bytes go behind it, not to the socket"
        );
    }
    assert_eq!(echo.len(), message.len(), "more came back than was sent");
}

/// A client that streams while it reads its echo, through a small send buffer on the
/// server's side: most echoes find older bytes queued, and the socket frees room at any
/// moment as the client reads. A `send` that writes to the socket while bytes wait in the
/// queue sends them out of order (not at every run: it depends on when room appears).
#[test]
fn step6_never_lets_new_bytes_overtake_queued_ones() {
    let (client, conn) = connection_pair();
    set_buffer(&conn.stream, libc::SO_SNDBUF, 4096);
    let message = binary(2 << 20);
    let total = message.len();
    let writer = {
        let mut client = client.try_clone().unwrap();
        let message = message.clone();
        thread::spawn(move || client.write_all(&message))
    };
    let reader = {
        let mut client = client.try_clone().unwrap();
        thread::spawn(move || {
            let mut echo = vec![0u8; total];
            let mut got = 0;
            while got < total {
                match client.read(&mut echo[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            echo.truncate(got);
            echo
        })
    };
    let (reader, pumped) = without_blocking(&client, 2 * DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + DEADLINE;
        while !reader.is_finished() && Instant::now() < deadline {
            if let Err(e) = conn.pump(&mut scratch, trace()) {
                return (reader, Err(e));
            }
            thread::sleep(Duration::from_millis(1));
        }
        (reader, Ok(()))
    });
    let _ = client.shutdown(Shutdown::Both); // releases the client's threads, if stuck
    assert!(
        finished_within(&writer, DEADLINE) && finished_within(&reader, DEADLINE),
        "the client's threads end"
    );
    let echo = reader.join().unwrap();
    if let Some(at) = (0..echo.len()).find(|&i| echo[i] != message[i]) {
        panic!(
            "the echo differs from what was sent from byte {at} on: newer bytes overtook \
             older ones. While output is pending, new bytes go behind it, not to the socket"
        );
    }
    if let Err(e) = pumped {
        panic!("`pump` failed: {e}");
    }
    assert_eq!(
        echo.len(),
        total,
        "the client streamed 2 MiB while reading, and its echo stopped short"
    );
}

#[test]
fn step7_a_new_connection_waits_to_read_only() {
    let (_client, conn) = connection_pair();
    assert_eq!(
        conn.interest(),
        Interest::READABLE,
        "nothing is pending yet: wait for READABLE only (a socket with room in its send \
         buffer is always writable, so WRITABLE would wake the loop for nothing)"
    );
}

#[test]
fn step7_waits_to_write_only_while_reading_is_paused() {
    let (_client, conn, _) = filled_to_the_bound();
    assert_eq!(
        conn.pending_len(),
        PENDING_LIMIT,
        "setup: pending output at the bound (see Step 6)"
    );
    assert_eq!(
        conn.interest(),
        Interest::WRITABLE,
        "reading is paused (pending output at the bound): wait for WRITABLE only"
    );
}

#[test]
fn step7_waits_for_both_while_output_is_pending_and_the_client_may_send() {
    let (mut client, conn) = small_buffered_pair();
    let message = binary(48 * 1024);
    client.write_all(&message).unwrap();
    let conn = without_blocking(&client, 2 * DEADLINE, move || {
        let mut conn = conn;
        let mut scratch = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + DEADLINE;
        // Until everything sent has been read.
        while (conn.pending_len() == 0 || waiting(&conn, 1) > 0) && Instant::now() < deadline {
            let _ = conn.pump(&mut scratch, trace());
            thread::sleep(Duration::from_millis(1));
        }
        conn
    });
    let pending = conn.pending_len();
    assert!(
        pending > 0 && pending < PENDING_LIMIT,
        "setup: some output pending, below the bound (it is {pending})"
    );
    assert_eq!(
        conn.interest(),
        Interest::READABLE | Interest::WRITABLE,
        "{pending} bytes pending, below the bound, and the client may send more: wait for \
         both READABLE and WRITABLE"
    );
}

#[test]
fn step7_after_a_half_close_waits_to_write_only() {
    let (_client, conn, _, status) = half_closed_with_pending_output();
    assert!(
        matches!(status, Ok(Status::Open)) && conn.pending_len() > 0,
        "setup: half-closed with output pending (see Step 6); pump returned {status:?}"
    );
    assert_eq!(
        conn.interest(),
        Interest::WRITABLE,
        "the client has half-closed and output is pending: wait for WRITABLE only (the \
         client will send nothing more)"
    );
}

/// A client that sends far more than the kernel's buffers hold while it reads its echo
/// through a small window: the echo soon waits as pending output and reading pauses at
/// the bound, so the loop must wait for WRITABLE, then for READABLE again. A loop that
/// keeps the interest it registered at accept time stalls once the client stops sending:
/// no event comes for the output it owes.
#[test]
fn step8_re_registers_a_connection_so_that_a_slow_readers_whole_echo_comes_back() {
    let (listener, addr) = new_listener();
    // An accepted socket inherits its listener's buffer sizes: a small send buffer for
    // the server's end, so that most of the echo has to wait in pending output.
    set_buffer(&listener, libc::SO_SNDBUF, 4096);
    let mut looping = Looping::start(listener);
    let mut client = StdStream::connect(addr).unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    client.set_write_timeout(Some(DEADLINE)).unwrap();
    let message = binary(1 << 20);
    let writer = {
        let mut client = client.try_clone().unwrap();
        let message = message.clone();
        thread::spawn(move || {
            let sent = client.write_all(&message);
            let _ = client.shutdown(Shutdown::Write);
            sent
        })
    };
    let mut echo = Vec::new();
    let read = client.read_to_end(&mut echo);
    looping.fail_if_ended();
    let _ = client.shutdown(Shutdown::Both); // releases the writer, if it is stuck
    assert!(finished_within(&writer, DEADLINE), "the writer thread ends");
    match read {
        Ok(_) if echo.len() < message.len() => panic!(
            "{} of {} bytes came back, then the close: close a connection only once `pump` \
             says Finished",
            echo.len(),
            message.len()
        ),
        Err(e) => panic!(
            "{} of {} bytes came back, then nothing for {} s ({e}): the connection's output \
             was pending, but the poller was not asked to report it writable. After `pump`, \
             re-register the connection whenever its `interest()` changed",
            echo.len(),
            message.len(),
            DEADLINE.as_secs()
        ),
        Ok(_) => {}
    }
    assert!(echo == message, "the echo differs from what was sent");
}

#[test]
fn step8_closes_a_connection_once_its_echo_is_complete() {
    let (listener, addr) = new_listener();
    let mut looping = Looping::start(listener);
    let mut client = StdStream::connect(addr).unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    client.write_all(b"bye").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut echo = Vec::new();
    let read = client.read_to_end(&mut echo);
    looping.fail_if_ended();
    assert!(
        read.is_ok() && echo == b"bye",
        "the client sent \"bye\" and half-closed; it got {:?}, then {read:?}",
        String::from_utf8_lossy(&echo)
    );
    if !looping.holds(0) {
        looping.fail_if_ended();
        panic!(
            "the client got its echo and the FIN, but {} s later the server still holds its \
             connection: drop a connection whose `pump` says Finished (`close`), or every \
             client ever served keeps a file descriptor",
            DEADLINE.as_secs()
        );
    }
}

/// Closes `stream` with a reset (RST) instead of a FIN: SO_LINGER on, with no time.
fn reset(stream: StdStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket, and a pointer/length pair describing a live `linger`.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

#[test]
fn step8_closes_only_the_connection_that_failed() {
    let (listener, addr) = new_listener();
    let mut looping = Looping::start(listener);
    let mut doomed = StdStream::connect(addr).unwrap();
    doomed.set_read_timeout(Some(DEADLINE)).unwrap();
    doomed.write_all(b"about to reset").unwrap();
    let mut first = [0u8; 5];
    let echoed = doomed.read_exact(&mut first);
    looping.fail_if_ended();
    assert!(echoed.is_ok(), "setup: the first client's echo: {echoed:?}");
    reset(doomed);
    if !looping.holds(0) {
        match looping.ended(Duration::ZERO) {
            Some(Err(message)) => panic!(
                "a client's reset stopped the loop ({message}): an error on one connection \
                 must close that connection only"
            ),
            Some(Ok(result)) => panic!(
                "a client's reset made `turn` fail ({result:?}): an error on one connection \
                 must close that connection only"
            ),
            None => panic!(
                "a client reset its connection, and {} s later the server still holds it: \
                 when `pump` fails, close that connection",
                DEADLINE.as_secs()
            ),
        }
    }
    let mut other = StdStream::connect(addr).unwrap();
    other.set_read_timeout(Some(DEADLINE)).unwrap();
    other.write_all(b"still served?").unwrap();
    other.shutdown(Shutdown::Write).unwrap();
    let mut echo = Vec::new();
    let read = other.read_to_end(&mut echo);
    looping.fail_if_ended();
    assert!(
        read.is_ok() && echo == b"still served?",
        "after one client's reset, the next one got {:?}, then {read:?}",
        String::from_utf8_lossy(&echo)
    );
}
