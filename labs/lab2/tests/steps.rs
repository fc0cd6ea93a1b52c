//! Step checks: each test exercises one step of `handouts/lab2.md` through the functions'
//! signatures, so it passes as soon as that step is done, before the whole server works.
//!
//! `cargo run -p autograder -- check lab2` runs them first and shows one line per step.
//! By hand: `cargo test -p lab2 --test steps -- --ignored`. In the stub they are
//! `#[ignore]`d, so that `cargo test --workspace` passes while its steps are `todo!()`;
//! the reference solution runs the same checks as ordinary tests.
//!
//! No check waits without a deadline: every client has a read timeout, and a call that
//! might block for ever runs on a helper thread that is watched with `is_finished()`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lab2::{client, echo, server, trace::Trace};

/// How long any one wait in these checks may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// A connected pair: (the client's end, the server's end).
fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test listener");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server_end, _) = listener.accept().expect("accept");
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    (client, server_end)
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

/// How a client's connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server closed it (a read returned 0).
    Closed,
    /// Reset by the server, or another error.
    Reset,
    /// Nothing more arrived within the read timeout.
    Silent,
}

/// Reads until the connection ends or goes quiet: what arrived, and how it ended.
fn read_until_end(client: &mut TcpStream) -> (Vec<u8>, End) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match client.read(&mut buf) {
            Ok(0) => return (got, End::Closed),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (got, End::Silent)
            }
            Err(_) => return (got, End::Reset),
        }
    }
}

/// Sends `message`, half-closes, and reads what comes back until the end.
fn exchange(client: &mut TcpStream, message: &[u8]) -> (Vec<u8>, End) {
    // A server that already closed may refuse these; what comes back says the rest.
    let _ = client.write_all(message);
    let _ = client.shutdown(Shutdown::Write);
    read_until_end(client)
}

/// Runs `f` on a helper thread; `None` if it has not returned within the deadline, else
/// its result, or the message it panicked with.
fn within_deadline<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<Result<T, String>> {
    let handle = thread::spawn(f);
    if !finished_within(&handle, DEADLINE) {
        return None;
    }
    Some(handle.join().map_err(panic_message))
}

/// `Some(message)` if `spawn_client` stops at its `todo!()` (Step 3 is not written yet).
fn spawn_client_unwritten() -> Option<String> {
    let (client, server_end) = connected_pair();
    let peer = server_end.peer_addr().unwrap();
    // Closed at once: whatever `spawn_client` does with it, it cannot wait for this client.
    drop(client);
    let active = Arc::new(AtomicUsize::new(0));
    let trace = Arc::new(Trace::new(false));
    match within_deadline(move || server::spawn_client(server_end, peer, trace, active)) {
        Some(Err(message)) if message.contains("Step 3 of handouts/lab2.md") => Some(message),
        _ => None,
    }
}

/// `Some(message)` if `echo::serve_client` stops at a `todo!()` (Step 4 or Step 5 is not
/// written yet), so that a client's own thread ends before it echoes anything.
fn echo_unwritten() -> Option<String> {
    let (mut client, server_end) = connected_pair();
    let peer = server_end.peer_addr().unwrap();
    let serving = thread::spawn(move || echo::serve_client(server_end, peer, &Trace::new(false)));
    let _ = exchange(&mut client, b"x");
    if !finished_within(&serving, DEADLINE) {
        return None;
    }
    match serving.join() {
        Err(panic) => {
            let message = panic_message(panic);
            let later = ["Step 4 of handouts/lab2.md", "Step 5 of handouts/lab2.md"];
            later.iter().any(|s| message.contains(s)).then_some(message)
        }
        Ok(_) => None,
    }
}

/// `server::run` on a fresh listener, on its own thread.
fn start_run() -> (SocketAddr, thread::JoinHandle<io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accept_loop = thread::spawn(move || server::run(listener, Arc::new(Trace::new(false))));
    (addr, accept_loop)
}

/// What a client of `run` that got no echo shows about Step 2.
enum Handed {
    /// `spawn_client` is not written yet and stopped the accept loop: the client was
    /// handed to it, which is all Step 2 can do so far. The check is over.
    ToUnwrittenSpawn,
    /// The client's thread stopped at an unwritten echo step and closed the connection:
    /// handed on as it should be. Go on.
    ToUnwrittenEcho,
}

/// Explains a missing echo by a later step that is not written yet, or fails the check
/// with what went wrong.
fn no_echo(
    client: &str,
    got: &[u8],
    end: End,
    accept_loop: &mut Option<thread::JoinHandle<io::Result<()>>>,
) -> Handed {
    if spawn_client_unwritten().is_some() {
        let handle = accept_loop.take().expect("the accept loop runs");
        assert!(
            finished_within(&handle, DEADLINE),
            "{client} was accepted but never handed to `spawn_client` (it got {} bytes, then \
             {end:?})",
            got.len()
        );
        match handle.join() {
            Err(panic) => {
                let message = panic_message(panic);
                assert!(
                    message.contains("Step 3 of handouts/lab2.md"),
                    "the accept loop stopped with: {message}"
                );
                return Handed::ToUnwrittenSpawn;
            }
            Ok(result) => panic!("`run` returned ({result:?}); it should accept clients forever"),
        }
    }
    // Probed before looking at the accept loop: by the time the probe is done, a loop
    // that stopped at a `todo!()` itself has surely finished unwinding.
    let echo_missing = end != End::Silent && echo_unwritten().is_some();
    if let Some(handle) = accept_loop.take_if(|h| h.is_finished()) {
        match handle.join() {
            Err(panic) => panic!(
                "the accept loop itself stopped with: {}\n`run` must hand each client to \
                 `spawn_client`, which serves it on a thread of its own",
                panic_message(panic)
            ),
            Ok(result) => panic!("`run` returned ({result:?}); it should accept clients forever"),
        }
    }
    if echo_missing {
        return Handed::ToUnwrittenEcho;
    }
    panic!(
        "{client} got {} bytes back ({:?}), then {end:?}, instead of its echo and the close",
        got.len(),
        String::from_utf8_lossy(&got[..got.len().min(40)])
    );
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step1_binds_a_socket_that_clients_can_connect_to() {
    let listener = server::bind("127.0.0.1", 0).expect("bind 127.0.0.1 on a free port");
    let addr = listener.local_addr().expect("the socket has an address");
    assert!(addr.ip().is_loopback(), "bound to {addr}, not 127.0.0.1");
    // The kernel completes the handshake from the listen backlog, before any accept.
    TcpStream::connect(addr).expect("a client can connect to the listening socket");
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step1_reports_a_port_in_use_as_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let second = server::bind("127.0.0.1", port);
    assert!(
        second.is_err(),
        "binding port {port} twice must fail (it returned Ok)"
    );
}

/// Three clients one after another. Until Step 3 is written, the first one reaches
/// `spawn_client`'s `todo!()`, which stops the accept loop: that shows that Step 2 handed
/// it on. Until Step 4 is written, each client's thread stops at once and its connection
/// closes without an echo: that, too, shows that it was handed on.
#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step2_hands_each_client_on_and_keeps_accepting() {
    let (addr, accept_loop) = start_run();
    let mut accept_loop = Some(accept_loop);
    for i in 1..=3 {
        let name = format!("client {i}");
        let Ok(mut client) = TcpStream::connect(addr) else {
            no_echo(&name, b"", End::Reset, &mut accept_loop);
            panic!("{name} could not connect: the accept loop has ended");
        };
        client.set_read_timeout(Some(DEADLINE)).unwrap();
        let message = format!("ping from {name}");
        let (got, end) = exchange(&mut client, message.as_bytes());
        if got == message.as_bytes() && end == End::Closed {
            continue;
        }
        match no_echo(&name, &got, end, &mut accept_loop) {
            Handed::ToUnwrittenSpawn => return,
            Handed::ToUnwrittenEcho => continue,
        }
    }
}

/// The mistake this catches is lab 1's design: `run` serving each client itself, so that
/// a client that stalls holds up everybody behind it.
#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step2_serves_a_client_while_an_earlier_one_holds_its_connection_open() {
    let (addr, accept_loop) = start_run();
    let mut accept_loop = Some(accept_loop);
    let mut first = TcpStream::connect(addr).unwrap();
    first.set_read_timeout(Some(DEADLINE)).unwrap();
    let _ = first.write_all(b"half a mess");
    let mut echo = [0u8; 11];
    if first.read_exact(&mut echo).is_err() {
        let (got, end) = read_until_end(&mut first);
        // Unless it fails here, a later step is not written yet and Step 2 handed the
        // client on; with the first client's connection closed, a second shows no more.
        no_echo("the first client", &got, end, &mut accept_loop);
        return;
    }
    assert_eq!(&echo, b"half a mess", "the first client's echo");

    let mut second = TcpStream::connect(addr).unwrap();
    second.set_read_timeout(Some(DEADLINE)).unwrap();
    let (got, end) = exchange(&mut second, b"hello");
    assert!(
        end != End::Silent,
        "the second client got {} bytes and then nothing for {} s while the first one held \
         its connection open: `run` must hand each client to `spawn_client` and go straight \
         back to `accept`, not serve the client itself",
        got.len(),
        DEADLINE.as_secs()
    );
    assert_eq!(
        (got.as_slice(), end),
        (&b"hello"[..], End::Closed),
        "the second client's echo and close"
    );

    let (rest, end) = exchange(&mut first, b"age");
    assert_eq!(
        (rest.as_slice(), end),
        (&b"age"[..], End::Closed),
        "the rest of the first client's echo and close"
    );
}

/// Calls `spawn_client` on a helper thread and insists that it returns within the
/// deadline: it must start a thread, not serve the client itself.
fn spawn_within_deadline(
    stream: TcpStream,
    peer: SocketAddr,
    trace: &Arc<Trace>,
    active: &Arc<AtomicUsize>,
) {
    let (trace, active) = (Arc::clone(trace), Arc::clone(active));
    match within_deadline(move || server::spawn_client(stream, peer, trace, active)) {
        None => panic!(
            "`spawn_client` did not return within {} s while its client stayed connected: it \
             must start a thread that serves the client, and return at once",
            DEADLINE.as_secs()
        ),
        Some(Ok(Ok(()))) => {}
        Some(Ok(Err(e))) => panic!("`spawn_client` failed: {e}"),
        Some(Err(message)) => panic!(
            "`spawn_client` itself stopped with: {message}\nThe client must be served on the \
             new thread, not on the caller's"
        ),
    }
}

/// This check passes before Step 4: the client's thread may stop at Step 4's `todo!()`,
/// but `spawn_client` must have returned by then, on the caller's thread.
#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step3_returns_at_once_leaving_the_client_to_a_thread_of_its_own() {
    let (client, server_end) = connected_pair();
    let peer = server_end.peer_addr().unwrap();
    let trace = Arc::new(Trace::new(false));
    let active = Arc::new(AtomicUsize::new(0));
    let closer = client.try_clone().unwrap();
    // Whatever happens, the client leaves at the end, so that no thread waits for it.
    let _leave = Leave(closer);
    spawn_within_deadline(server_end, peer, &trace, &active);
    drop(client);
}

/// Shuts a client's connection down when dropped, even when a check fails first.
struct Leave(TcpStream);

impl Drop for Leave {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// Needs Step 4: the clients' threads run `echo::serve_client`.
#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step3_serves_a_second_client_while_the_first_holds_its_connection_open() {
    let trace = Arc::new(Trace::new(false));
    let active = Arc::new(AtomicUsize::new(0));
    let (mut first, first_end) = connected_pair();
    let _leave = Leave(first.try_clone().unwrap());
    let peer = first_end.peer_addr().unwrap();
    spawn_within_deadline(first_end, peer, &trace, &active);
    first.write_all(b"half a mess").unwrap();
    let mut echo = [0u8; 11];
    first
        .read_exact(&mut echo)
        .expect("the first client's echo of its first half");
    assert_eq!(&echo, b"half a mess");

    let (mut second, second_end) = connected_pair();
    let peer = second_end.peer_addr().unwrap();
    spawn_within_deadline(second_end, peer, &trace, &active);
    let (got, end) = exchange(&mut second, b"hello");
    assert_eq!(
        (got.as_slice(), end),
        (&b"hello"[..], End::Closed),
        "the second client's echo and close, while the first is still connected"
    );

    let (rest, end) = exchange(&mut first, b"age");
    assert_eq!(
        (rest.as_slice(), end),
        (&b"age"[..], End::Closed),
        "the rest of the first client's echo and close"
    );
}

/// The names of this process's threads as the kernel keeps them (at most 15 bytes each),
/// or `None` where there is no `/proc` (not Linux).
fn thread_names() -> Option<Vec<String>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .map(|name| name.trim_end().to_string())
            .collect(),
    )
}

/// Needs Step 4: the thread must still be serving (blocked in `read`) to be looked at.
#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step3_names_the_thread_after_the_client_and_counts_it_while_it_serves() {
    let trace = Arc::new(Trace::new(false));
    let active = Arc::new(AtomicUsize::new(0));
    let (mut client, server_end) = connected_pair();
    let _leave = Leave(client.try_clone().unwrap());
    // A made-up address whose port no other thread's name contains: it marks this
    // client's. The port, because it is what survives the kernel's 15 bytes of a name.
    let peer: SocketAddr = "1.2.3.4:54321".parse().unwrap();
    spawn_within_deadline(server_end, peer, &trace, &active);
    client.write_all(b"ping").unwrap();
    let mut echo = [0u8; 4];
    client
        .read_exact(&mut echo)
        .expect("the echo (the thread serves the client)");

    assert_eq!(
        active.load(Ordering::Relaxed),
        1,
        "while its client is connected, the thread counts itself in `active` with \
         `ActiveClient::enter(&active)`, and keeps the guard until the client is done"
    );
    // The kernel's list of threads is read until the name shows (a thread sets its own
    // name as it starts), or the deadline passes.
    let deadline = Instant::now() + DEADLINE;
    let mut names = thread_names();
    while let Some(found) = &names {
        if found.iter().any(|n| n.contains("54321")) || Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(10));
        names = thread_names();
    }
    match names {
        Some(names) => assert!(
            names.iter().any(|n| n.contains("54321")),
            "no thread is named after the client ({peer}); this process's threads are \
             {names:?}. Start it with \
             `std::thread::Builder::new().name(client_thread_name(peer))` (the system keeps \
             a name's first 15 bytes, so the client's port must come near the start)"
        ),
        None => eprintln!("skipped the thread-name check: this system has no /proc/self/task"),
    }

    client.shutdown(Shutdown::Write).unwrap();
    let (_, end) = read_until_end(&mut client);
    assert_eq!(end, End::Closed, "the close after the half-close");
    let deadline = Instant::now() + DEADLINE;
    while active.load(Ordering::Relaxed) != 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        active.load(Ordering::Relaxed),
        0,
        "once its client is gone, the thread no longer counts itself (the guard's `Drop` \
         does that)"
    );
}

/// Runs `serve_client` on the server's end of a fresh connection; returns the client's
/// end and the thread that serves.
fn serving() -> (TcpStream, thread::JoinHandle<io::Result<u64>>) {
    let (client, server_end) = connected_pair();
    let peer = server_end.peer_addr().unwrap();
    let handle = thread::spawn(move || echo::serve_client(server_end, peer, &Trace::new(false)));
    (client, handle)
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step4_echoes_every_byte_until_the_client_half_closes() {
    let (mut client, serving) = serving();
    let message = binary(300_000);
    let writer = {
        let mut client = client.try_clone().unwrap();
        let message = message.clone();
        // In pieces of odd sizes, as TCP may deliver them anyway.
        thread::spawn(move || {
            for piece in message.chunks(7_001) {
                client.write_all(piece).unwrap();
            }
            client.shutdown(Shutdown::Write).unwrap();
        })
    };
    let (echo, end) = read_until_end(&mut client);
    writer.join().unwrap();
    assert_eq!(
        echo.len(),
        message.len(),
        "echoed {} of {} bytes",
        echo.len(),
        message.len()
    );
    assert!(
        echo == message,
        "the echo differs from what was sent (bytes are not text)"
    );
    assert_eq!(
        end,
        End::Closed,
        "after the half-close and the echo, shut down your write side"
    );
    let total = serving.join().expect("serve_client panicked");
    assert_eq!(
        total.expect("serve_client failed"),
        message.len() as u64,
        "the returned count"
    );
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step4_closes_after_a_client_that_sends_nothing() {
    let (mut client, serving) = serving();
    let (echo, end) = exchange(&mut client, b"");
    assert_eq!(end, End::Closed, "the close after the half-close");
    assert!(
        echo.is_empty(),
        "{} bytes came back for none sent",
        echo.len()
    );
    let total = serving.join().expect("serve_client panicked");
    assert_eq!(total.expect("serve_client failed"), 0);
}

/// A writer that takes 1-7 bytes per call and fails every third call with `Interrupted`,
/// as a kernel may: a partial write and an interrupted one are both normal.
struct Stingy {
    taken: Vec<u8>,
    calls: usize,
}

impl Write for Stingy {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(ErrorKind::Interrupted.into());
        }
        let n = bytes.len().min(1 + self.calls % 7);
        self.taken.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn peer() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step5_writes_every_byte_to_a_writer_that_takes_a_few_at_a_time() {
    let bytes = binary(10_000);
    let mut stingy = Stingy {
        taken: Vec::new(),
        calls: 0,
    };
    echo::write_all(&mut stingy, &bytes, peer(), &Trace::new(false))
        .expect("write_all must retry an `Interrupted` write, not fail");
    assert_eq!(
        stingy.taken.len(),
        bytes.len(),
        "wrote {} of {} bytes: a write may take fewer bytes than offered, loop until all are taken",
        stingy.taken.len(),
        bytes.len()
    );
    assert!(
        stingy.taken == bytes,
        "the bytes arrived out of order or altered"
    );
}

/// A writer that takes nothing, or fails for real.
struct Broken(ErrorKind);

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        match self.0 {
            ErrorKind::WriteZero => Ok(0),
            kind => Err(kind.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step5_reports_a_writer_that_takes_nothing_or_fails() {
    let trace = Trace::new(false);
    let zero = echo::write_all(&mut Broken(ErrorKind::WriteZero), b"abc", peer(), &trace);
    assert_eq!(
        zero.map_err(|e| e.kind()),
        Err(ErrorKind::WriteZero),
        "a write that takes 0 bytes will never finish: report WriteZero"
    );
    let reset = echo::write_all(&mut Broken(ErrorKind::BrokenPipe), b"abc", peer(), &trace);
    assert_eq!(
        reset.map_err(|e| e.kind()),
        Err(ErrorKind::BrokenPipe),
        "a real error ends the write: return it"
    );
}

// The threaded client (Steps 6-9).

/// A reader that hands out `data` a few bytes at a time (1-7 per call), and is
/// interrupted every third call, as a socket's reads may be.
struct Dribble {
    data: Vec<u8>,
    at: usize,
    calls: usize,
}

impl Dribble {
    fn new(data: Vec<u8>) -> Dribble {
        Dribble {
            data,
            at: 0,
            calls: 0,
        }
    }
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(ErrorKind::Interrupted.into());
        }
        let n = buf
            .len()
            .min(1 + self.calls % 7)
            .min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step6_reads_an_echo_that_arrives_a_few_bytes_at_a_time() {
    let echo = binary(5_000);
    let mut buf = vec![0u8; 5_000];
    let got = client::read_full(&mut Dribble::new(echo.clone()), &mut buf)
        .expect("read_full must retry an `Interrupted` read, not fail");
    assert_eq!(
        got, 5_000,
        "read {got} of 5000 bytes: one read returns whatever has arrived, keep reading until \
         the buffer is full"
    );
    assert!(buf == echo, "the bytes arrived out of order or altered");
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step6_stops_at_the_servers_close_and_says_how_much_came() {
    let mut buf = vec![0u8; 1_000];
    let got = client::read_full(&mut Dribble::new(binary(300)), &mut buf)
        .expect("a close is no error: read_full returns how many bytes came");
    assert_eq!(
        got, 300,
        "the server closed after 300 bytes (a read of 0): return 300, the bytes that came"
    );
    let reset = client::read_full(&mut ResetReader, &mut buf);
    assert_eq!(
        reset.map_err(|e| e.kind()),
        Err(ErrorKind::ConnectionReset),
        "a real error ends the read: return it"
    );
}

/// A reader whose connection was reset.
struct ResetReader;

impl Read for ResetReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(ErrorKind::ConnectionReset.into())
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step7_finds_the_first_altered_byte() {
    let sent = binary(1_000);
    assert_eq!(client::first_difference(&sent, &sent), None, "equal bytes");
    let mut altered = sent.clone();
    altered[700] ^= 0x01;
    altered[900] ^= 0x80;
    assert_eq!(
        client::first_difference(&sent, &altered),
        Some(700),
        "byte 700 differs (one bit of it), and it is the first that does"
    );
    assert_eq!(
        client::first_difference(&sent, &sent[..10]),
        None,
        "an echo shorter than what was sent is compared over its own length"
    );
}

/// How the checks' echo server treats one connection's bytes.
#[derive(Clone, Copy)]
enum Echo {
    /// Every byte back, in pieces of 1-997 bytes.
    InPieces,
    /// The same, with the byte at this offset of the stream altered.
    Altered(usize),
    /// Only the first this many bytes back, then its close (reading on, so no reset).
    CutAt(usize),
}

/// Echoes one connection as `how` says, until the client half-closes.
fn echo_connection(mut stream: TcpStream, how: Echo) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(DEADLINE));
    let mut buf = vec![0u8; 4096];
    let mut offset = 0usize;
    let mut piece = 1usize;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = buf[..n].to_vec();
        match how {
            Echo::Altered(at) if (offset..offset + n).contains(&at) => chunk[at - offset] ^= 0x20,
            Echo::CutAt(at) if offset + n > at => {
                let keep = at.saturating_sub(offset);
                let _ = stream.write_all(&chunk[..keep]);
                let _ = stream.shutdown(Shutdown::Write);
                // Read on until the client leaves: closing with its bytes unread would be
                // a reset, not the early close this check is about.
                while matches!(stream.read(&mut buf), Ok(k) if k > 0) {}
                return;
            }
            _ => {}
        }
        offset += n;
        for part in chunk.chunks(piece) {
            if stream.write_all(part).is_err() {
                return;
            }
        }
        piece = piece * 7 % 997 + 1;
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// An echo server for the checks: it waits until `gate` connections are open before it
/// echoes any (1: it echoes each at once), and treats each as `how` says.
fn echo_server(gate: usize, how: Echo) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut waiting = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            waiting.push(stream);
            if waiting.len() >= gate {
                for stream in waiting.drain(..) {
                    thread::spawn(move || echo_connection(stream, how));
                }
            }
        }
    });
    addr
}

fn load(clients: usize, bytes: usize, rounds: usize) -> client::Load {
    client::Load {
        clients,
        bytes,
        rounds,
    }
}

/// One `session` against `addr`, on a helper thread, within the deadline.
fn one_session(
    name: &'static str,
    addr: SocketAddr,
    load: client::Load,
) -> Result<client::ClientReport, client::ClientError> {
    match within_deadline(move || client::session(name, addr, &load, 42)) {
        None => panic!(
            "`session` did not return within {} s against an echo server: does it read the \
             echo of each chunk (not more), and stop at the server's close?",
            DEADLINE.as_secs()
        ),
        Some(Err(message)) => std::panic::panic_any(message),
        Some(Ok(result)) => result,
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step8_gets_every_byte_back_from_a_server_that_echoes_in_pieces() {
    let addr = echo_server(1, Echo::InPieces);
    let report = match one_session("c1", addr, load(1, 50_000, 2)) {
        Ok(report) => report,
        Err(e) => panic!("the session failed against a correct echo server: {e}"),
    };
    assert_eq!(report.name, "c1");
    assert_eq!(report.bytes, 100_000, "2 rounds of 50000 bytes");
    let chunks = 50_000usize.div_ceil(client::CHUNK_SIZE) * 2;
    assert_eq!(
        report.round_trips.len(),
        chunks,
        "one round trip per chunk of at most CHUNK_SIZE bytes: {chunks} for 2 rounds of \
         50000 bytes"
    );
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step8_reports_an_altered_byte_at_its_offset_in_the_stream() {
    let addr = echo_server(1, Echo::Altered(70_000));
    match one_session("c2", addr, load(1, 50_000, 2)) {
        Err(client::ClientError::Mismatch {
            client,
            offset,
            sent,
            got,
        }) => {
            assert_eq!(client, "c2");
            assert_eq!(
                offset, 70_000,
                "the offset counts from the first byte sent, across chunks and rounds"
            );
            assert_eq!(sent ^ got, 0x20, "the bytes sent and received there");
        }
        Err(other) => panic!("the server altered byte 70000; the session said: {other}"),
        Ok(_) => panic!(
            "the server altered byte 70000 of the echo, and the session reported success: \
             compare every chunk's echo with what was sent"
        ),
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step8_reports_an_echo_cut_short_by_the_servers_close() {
    let addr = echo_server(1, Echo::CutAt(10_000));
    match one_session("c3", addr, load(1, 50_000, 1)) {
        Err(client::ClientError::ClosedEarly {
            client,
            echoed,
            sent,
        }) => {
            assert_eq!(client, "c3");
            assert_eq!(echoed, 10_000, "the bytes that came back before the close");
            assert!(sent > echoed, "sent {sent}: more than came back");
        }
        Err(other) => panic!("the server closed after 10000 bytes; the session said: {other}"),
        Ok(_) => panic!(
            "the server closed after echoing 10000 of 50000 bytes, and the session reported \
             success"
        ),
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step8_reports_a_refused_connection_naming_the_client() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    match one_session("c4", addr, load(1, 100, 1)) {
        Err(e @ client::ClientError::Connect { .. }) => {
            let message = e.to_string();
            assert!(
                message.starts_with("c4:"),
                "the message names the client: {message}"
            );
        }
        Err(other) => panic!("nothing listens at {addr}; the session said: {other}"),
        Ok(_) => panic!("nothing listens at {addr}, and the session reported success"),
    }
}

/// `run` on a helper thread, within the deadline.
fn run_within_deadline(
    addr: SocketAddr,
    load: client::Load,
    what: &str,
) -> Vec<Result<client::ClientReport, client::ClientError>> {
    match within_deadline(move || client::run(addr, &load)) {
        None => panic!(
            "`run` did not return within {} s against {what}: start every client's thread \
             before joining any",
            DEADLINE.as_secs()
        ),
        Some(Err(message)) => std::panic::panic_any(message),
        Some(Ok(results)) => results,
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step9_has_every_connection_open_at_once() {
    // This server echoes nothing until all 6 clients are connected.
    let addr = echo_server(6, Echo::InPieces);
    let results = run_within_deadline(
        addr,
        load(6, 40_000, 1),
        "a server that answers nobody until all 6 clients are connected",
    );
    assert_eq!(results.len(), 6, "one result per client");
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(report) => assert_eq!(
                report.name,
                format!("c{}", i + 1),
                "results in the clients' order"
            ),
            Err(e) => panic!("client {} failed: {e}", i + 1),
        }
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab2`"]
fn step9_reports_every_clients_own_failure() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let results = run_within_deadline(addr, load(3, 100, 1), "a refused port");
    assert_eq!(results.len(), 3, "one result per client, failed ones too");
    for (i, result) in results.iter().enumerate() {
        match result {
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.starts_with(&format!("c{}:", i + 1)),
                    "client {} failed with: {message}",
                    i + 1
                );
            }
            Ok(_) => panic!("client {} connected to a refused port?", i + 1),
        }
    }
}
