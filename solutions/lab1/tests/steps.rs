//! Step checks: each test exercises one step of `handouts/lab1.md` through the functions'
//! signatures, so it passes as soon as that step is done, before the whole server works.
//!
//! `cargo run -p autograder -- check lab1` runs them first and shows one line per step.
//! By hand: `cargo test -p lab1 --test steps -- --ignored`. In the stub they are
//! `#[ignore]`d, so that `cargo test --workspace` passes while its steps are `todo!()`;
//! the reference solution runs the same checks as ordinary tests.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use lab1_solution::{echo, server, trace::Trace};

/// A connected pair: (the client's end, the server's end).
fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test listener");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server_end, _) = listener.accept().expect("accept");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
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

#[test]
fn step2_accepts_a_client_and_hands_it_to_the_echo_loop() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accept_loop = thread::spawn(move || server::run(listener, &Trace::new(false)));
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = client.write_all(b"ping");
    let _ = client.shutdown(Shutdown::Write);
    let mut echo = Vec::new();
    let _ = client.read_to_end(&mut echo);
    if echo == b"ping" {
        return; // Step 3 is done too: the client was served
    }
    // Until Step 3 is written, the client reaches its `todo!()`, which stops the loop's
    // thread: that, too, shows that Step 2 accepted the client and handed it on.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !accept_loop.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        accept_loop.is_finished(),
        "the client was neither echoed nor handed to the echo loop"
    );
    match accept_loop.join() {
        Err(panic) => {
            let message = panic_message(panic);
            assert!(
                message.contains("Step 3 of handouts/lab1.md"),
                "the accept loop stopped with: {message}"
            );
        }
        Ok(result) => panic!("`run` returned ({result:?}); it should accept clients forever"),
    }
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
fn step3_echoes_every_byte_until_the_client_half_closes() {
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
    let mut echo = Vec::new();
    client
        .read_to_end(&mut echo)
        .expect("the echo, then the close");
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
    let total = serving.join().expect("serve_client panicked");
    assert_eq!(
        total.expect("serve_client failed"),
        message.len() as u64,
        "the returned count"
    );
}

#[test]
fn step3_closes_after_a_client_that_sends_nothing() {
    let (mut client, serving) = serving();
    client.shutdown(Shutdown::Write).unwrap();
    let mut echo = Vec::new();
    client.read_to_end(&mut echo).expect("the close");
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
            return Err(io::ErrorKind::Interrupted.into());
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
fn step4_writes_every_byte_to_a_writer_that_takes_a_few_at_a_time() {
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
struct Broken(io::ErrorKind);

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        match self.0 {
            io::ErrorKind::WriteZero => Ok(0),
            kind => Err(kind.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn step4_reports_a_writer_that_takes_nothing_or_fails() {
    let trace = Trace::new(false);
    let zero = echo::write_all(
        &mut Broken(io::ErrorKind::WriteZero),
        b"abc",
        peer(),
        &trace,
    );
    assert_eq!(
        zero.map_err(|e| e.kind()),
        Err(io::ErrorKind::WriteZero),
        "a write that takes 0 bytes will never finish: report WriteZero"
    );
    let reset = echo::write_all(
        &mut Broken(io::ErrorKind::BrokenPipe),
        b"abc",
        peer(),
        &trace,
    );
    assert_eq!(
        reset.map_err(|e| e.kind()),
        Err(io::ErrorKind::BrokenPipe),
        "a real error ends the write: return it"
    );
}
