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

use lab2_solution::{echo, server, trace::Trace};

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
fn step1_binds_a_socket_that_clients_can_connect_to() {
    let listener = server::bind("127.0.0.1", 0).expect("bind 127.0.0.1 on a free port");
    let addr = listener.local_addr().expect("the socket has an address");
    assert!(addr.ip().is_loopback(), "bound to {addr}, not 127.0.0.1");
    // The kernel completes the handshake from the listen backlog, before any accept.
    TcpStream::connect(addr).expect("a client can connect to the listening socket");
}

#[test]
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
fn step3_names_the_thread_after_the_client_and_counts_it_while_it_serves() {
    let trace = Arc::new(Trace::new(false));
    let active = Arc::new(AtomicUsize::new(0));
    let (mut client, server_end) = connected_pair();
    let _leave = Leave(client.try_clone().unwrap());
    // A made-up address that no other thread's name contains: it marks this client's.
    let peer: SocketAddr = "1.2.3.4:5".parse().unwrap();
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
        if found.iter().any(|n| n.contains("1.2.3.4")) || Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(10));
        names = thread_names();
    }
    match names {
        Some(names) => assert!(
            names.iter().any(|n| n.contains("1.2.3.4")),
            "no thread is named after the client ({peer}); this process's threads are \
             {names:?}. Start it with `std::thread::Builder::new().name(format!(\"client \
             {{peer}}\"))` (the system keeps a name's first 15 bytes, so put the address \
             near the start)"
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
