//! Lab 2 rubric: the echo server with one thread per connection.
//!
//! Every lab 1 test, with the same ids (labs 1–3 serve the same protocol, so a test id
//! means the same thing in all three), plus the tests that a server serving one client at
//! a time cannot pass: 100 points for the server. Then the `client` group, 35 points for
//! the threaded client (`PROGRAM client --host H --port P --clients N --bytes B`), run
//! against the grader's strict echo test server like lab 4's client: about a quarter of
//! the lab, as the client is about a quarter of the code and of the handout's steps. A
//! server-only program is graded with `--only server`. The buggy programs under
//! `autograder/tests/corpus/lab2` prove that each test is caught.

use std::time::Duration;

use crate::grade::labs::lab1::lab1_tests;
use crate::grade::probe::Symptom;
use crate::grade::probe::{concurrency, echo, echo_client};
use crate::grade::rubric::{Kind, Lab, TestCase, Visibility};

/// The lab 2 test table: every lab 1 test (same ids), then the tests a server that
/// serves one client at a time cannot pass, then `$extra` tests (lab 3 adds its own).
/// `stalled-client` gets the hints given after `stalled_hints:`: what a stall means
/// depends on the concurrency model (a thread per client in lab 2, one loop in lab 3).
macro_rules! lab2_tests {
    (stalled_hints: $stalled:expr; $port:literal $(, $extra:expr)* $(,)?) => {
        lab1_tests!(
            $port,
        TestCase {
            id: "stalled-client",
            name: "serves later clients while an earlier one stalls mid-message",
            group: "concurrency",
            points: 15,
            visibility: Visibility::Visible,
            checks: "c1 connects, sends half a message, gets it echoed and then waits with its \
                     connection open; 3-5 later clients each send random bytes, half-close and \
                     must get their echo and the close meanwhile; then c1 finishes",
            hints: $stalled,
            time_limit: Duration::from_secs(20),
            kind: Kind::Server,
            probe: concurrency::stalled_client,
        },
        TestCase {
            id: "many-clients",
            name: "serves 100+ simultaneous clients, each getting only its own bytes",
            group: "concurrency",
            points: 25,
            visibility: Visibility::Visible,
            checks: "opens 100-120 connections one by one (each echoes a first byte before \
                     the next opens) and keeps them all open; in 3 rounds every client \
                     sends 1 B-48 KiB of random bytes (interleaved, small receive buffers) \
                     and a round ends when every client has its echo; in the first, one \
                     client instead sends until the program stops taking its bytes (up to \
                     24 MiB) and reads its echo only after all the others have theirs; \
                     then all half-close and expect the close",
            hints: &[
                "All clients are connected at once and each waits for its echo: a pool of a \
                 few threads, or one client at a time, leaves the others waiting for ever.",
                "Each connection needs its own buffer. A buffer shared by all threads is \
                 overwritten by one thread while another is still writing from it, and \
                 clients receive each other's bytes.",
                "Give each connection a buffer of its own: a local of the function that \
                 serves one connection (`let mut buf = vec![0u8; BUF_SIZE];`), or a field of \
                 that connection's state. A `static` buffer, or one `Arc<Mutex<Vec<u8>>>` \
                 handed to every thread, is shared by all.",
                "Move each connection's state into its thread (`move` closure); share \
                 nothing you do not need to. https://doc.rust-lang.org/book/ch16-00-concurrency.html",
            ],
            time_limit: Duration::from_secs(30),
            kind: Kind::Server,
            probe: concurrency::many_clients,
        },
        TestCase {
            id: "connection-burst",
            name: "serves a burst of several hundred short connections and closes every one",
            group: "concurrency",
            points: 10,
            visibility: Visibility::Visible,
            checks: "8 client threads make 300-400 short connections (send 1-200 bytes, \
                     half-close, expect the echo and the close); afterwards the program's \
                     open file descriptors (/proc/PID/fd) must be back to what they were",
            hints: &[
                "Each accepted connection is a file descriptor until its socket is closed.",
                "In Rust a socket closes when the last handle to it is dropped: a clone kept \
                 in a list of clients keeps it open for ever.",
                "Watch it by hand: `ls /proc/$(pgrep -n lab2)/fd | wc -l` before and after \
                 a loop of `nc` clients. https://man7.org/linux/man-pages/man5/proc.5.html",
            ],
            time_limit: Duration::from_secs(30),
            kind: Kind::Server,
            probe: concurrency::connection_burst,
        },
            $($extra,)*
        )
    };
}
pub(crate) use lab2_tests;

/// The lab 2 rubric.
pub static LAB: Lab = Lab {
    name: "lab2",
    title: "echo server, one thread per connection, and a threaded client",
    default_port: 7102,
    handout: "handouts/lab2.md",
    server_args: &["--port", "{port}"],
    tests: lab2_tests!(
        stalled_hints: STALLED_CLIENT_HINTS; "7102",
        CLIENT_EVERY_BYTE,
        CLIENT_ALL_AT_ONCE,
        CLIENT_MISMATCH,
        CLIENT_EARLY_CLOSE,
        CLIENT_REFUSED,
    ),
    still_serves: crate::grade::probe::echo::still_serves,
    ends_program: &[],
    symptom_hints: THREADED_ECHO_HINTS,
    bench: crate::grade::swarm::load::Bench::Echo,
};

/// Lab 1's explanations, what a stall means for a thread-per-connection server, and the
/// diagnoses of the threaded client's tests.
const THREADED_ECHO_HINTS: &[(Symptom, &[&str])] = &{
    // Lab 2's own explanation of a stall comes first: `hints_for` takes the first match.
    const LAB1: &[(Symptom, &[&str])] = crate::grade::labs::lab1::BLOCKING_ECHO_HINTS;
    const CLIENT: [(Symptom, &[&str]); 3] = [
        (Symptom::FalseAlarm, FALSE_ALARM),
        (Symptom::Serial, SERIAL_CLIENT),
        (Symptom::ClientCrashed, CLIENT_CRASHED),
    ];
    const N: usize = 1 + LAB1.len() + CLIENT.len();
    let mut all = [(Symptom::Stalled, STALLED); N];
    let mut i = 0;
    while i < LAB1.len() {
        all[i + 1] = LAB1[i];
        i += 1;
    }
    let mut j = 0;
    while j < CLIENT.len() {
        all[1 + LAB1.len() + j] = CLIENT[j];
        j += 1;
    }
    all
};

/// The client said "failed" about an echo that was right.
const FALSE_ALARM: &[&str] = &[
    "Your client reported a failure although the server echoed every byte unchanged: it saw \
     a difference that was not there. One `read` returns whatever has arrived, perhaps a \
     single byte of a 16 KiB chunk: read until the chunk's whole echo is there, or the \
     server closed (Step 6).",
    "`read_full` loops: `match stream.read(&mut buf[filled..]) { Ok(0) => break, Ok(n) => \
     filled += n, Err(e) if e.kind() == ErrorKind::Interrupted => continue, Err(e) => \
     return Err(e) }`, and returns `filled`; `session` compares only `&echo[..got]`, and \
     calls the echo short only when `got` is less than the chunk (Step 8).",
    "https://doc.rust-lang.org/std/io/trait.Read.html#tymethod.read",
];

/// The client's connections were not all open at once.
const SERIAL_CLIENT: &[&str] = &[
    "The server answers nobody until every client is connected: a client that finishes \
     one connection before it opens the next waits for ever. Each client needs a thread of \
     its own (Step 9).",
    "Start every thread first, then join them: a `join` inside the loop that spawns waits \
     for that client to finish before the next one starts.",
    "`let handles: Vec<_> = (1..=load.clients).map(|i| thread::Builder::new().name(format!(\"c{i}\")).spawn(move || session(…))).collect();` and only after that loop, `handles.into_iter().map(|h| h.join()…)`.",
    "https://doc.rust-lang.org/std/thread/struct.JoinHandle.html#method.join",
];

/// The client crashed where it should have reported.
const CLIENT_CRASHED: &[&str] = &[
    "Your client crashed instead of reporting: a refused connection, a server that closes \
     early, an altered byte are each a client's failure, to print with the client's name, \
     and then a failure exit status.",
    "No `unwrap()`, `expect()` or `assert!` on what the network does: `connect` and the \
     reads become that client's `ClientError` with `map_err` (Step 8), and a read of 0 \
     before the whole echo is `ClientError::ClosedEarly`.",
    "A panic in a client's thread reaches `run` as an `Err` from `join`: make it that \
     client's `ClientError::Panicked` instead of unwrapping it (Step 9).",
];

const STALLED: &[&str] = &[
    "A client was kept waiting while your program served another: it serves one client \
     at a time.",
    "Give each connection its own thread (`thread::spawn` with the stream moved in), and \
     go straight back to `accept`; share nothing between the threads that one of them \
     could hold for a whole session (a lock, a buffer).",
    SPAWN_RECIPE,
];

/// Lab 2's hints for `stalled-client`, from the idea to the code.
const STALLED_CLIENT_HINTS: &[&str] = &[
    "An iterative server is stuck in `read` on the first client, and nobody else is served \
     until it leaves. Serve each client on a thread of its own.",
    "The accept loop should only accept and hand the connection over \
     (`std::thread::spawn(move || …)`), then go straight back to `accept`.",
    SPAWN_RECIPE,
    "Holding one lock (a `Mutex`) for a client's whole session serialises the threads \
     again. https://doc.rust-lang.org/book/ch16-01-threads.html",
];

/// Steps 2 and 3 spelled out: the last resort of lab 2's hints for serving one client at
/// a time (the stub's TODOs say what to achieve; this says how). Lab 2's own: lab 3
/// shares the test table, not these.
const SPAWN_RECIPE: &str =
    "In `run`, loop: `let (stream, peer) = match listener.accept() { Ok(pair) => \
     pair, Err(e) => { eprintln!(…); continue; } };` then `spawn_client(stream, peer, \
     Arc::clone(&trace), Arc::clone(&active))` (log its error, do not return it). In \
     `spawn_client`: `thread::Builder::new().name(client_thread_name(peer)).spawn(move || { \
     let _guard = ActiveClient::enter(&active); serve_and_log(stream, peer, &trace); })?; \
     Ok(())`. Nothing a client's thread does may wait for another client's thread (no lock \
     held while serving).";

// The `client` group: `lab2 client`, Steps 6-9, against the grader's echo test server.

const CLIENT_EVERY_BYTE: TestCase = TestCase {
    id: "client-echo",
    name: "client: every client's bytes come back, through short reads and writes",
    group: "client",
    points: 10,
    visibility: Visibility::Visible,
    checks: "runs `client --host H --port P --clients N --bytes B` with 3-5 clients and \
             200-600 KiB against a test server that reads in small random amounts \
             and echoes in random pieces of 1-512 bytes with pauses; expects exit 0, N \
             connections, and every byte sent and its echo read on each",
    hints: &[
        "One `read` returns whatever has arrived, perhaps a single byte of a 16 KiB chunk: \
         read until the chunk's whole echo is there, or the server closed (Step 6).",
        "`read_full` loops: `match stream.read(&mut buf[filled..]) { Ok(0) => break, Ok(n) => \
         filled += n, Err(e) if e.kind() == ErrorKind::Interrupted => continue, Err(e) => \
         return Err(e) }`, and returns `filled`; `session` compares only `&echo[..got]`.",
        "Each client sends `--bytes` random bytes on one connection, then half-closes and \
         reads until the server's close (Step 8).",
        "https://doc.rust-lang.org/std/io/trait.Read.html#tymethod.read",
    ],
    time_limit: Duration::from_secs(30),
    kind: Kind::Client,
    probe: echo_client::every_byte,
};

const CLIENT_ALL_AT_ONCE: TestCase = TestCase {
    id: "client-concurrent",
    name: "client: all N connections are open at once",
    group: "client",
    points: 10,
    visibility: Visibility::Visible,
    checks: "runs `client … --clients N --bytes B` with 12-20 clients against a test server \
             that answers none of them until all N are connected (it gives up after 5 s and \
             closes them all); expects exit 0 and every byte back",
    hints: SERIAL_CLIENT,
    time_limit: Duration::from_secs(30),
    kind: Kind::Client,
    probe: echo_client::all_at_once,
};

const CLIENT_MISMATCH: TestCase = TestCase {
    id: "client-mismatch",
    name: "client: an altered byte is reported, and the exit status is non-zero",
    group: "client",
    points: 5,
    visibility: Visibility::Visible,
    checks: "runs `client …` with 3-4 clients against a test server that alters one byte of \
             one connection's echo; expects a non-zero exit status without a crash, and \
             `mismatch` in the output",
    hints: &[
        "Counting bytes is not checking them: compare every byte of each chunk's echo with \
         the byte sent (Step 7), and make a difference that client's error (Step 8).",
        "The exit status is the verdict: 0 only if every client got every byte back. \
         `main` exits with a failure when any client's result is an `Err`; print the \
         summary's `mismatch` line.",
        "`if let Some(at) = first_difference(&sent[..got], &echo[..got]) { return \
         Err(ClientError::Mismatch { client: name.to_string(), offset: offset + at as u64, \
         sent: sent[at], got: echo[at] }); }`",
    ],
    time_limit: Duration::from_secs(30),
    kind: Kind::Client,
    probe: echo_client::altered_byte,
};

const CLIENT_EARLY_CLOSE: TestCase = TestCase {
    id: "client-early-close",
    name: "client: a server that closes part-way is reported, without a crash",
    group: "client",
    points: 5,
    visibility: Visibility::Visible,
    checks: "runs `client …` with 3 clients against a test server that closes one connection \
             (FIN, not a reset) after echoing part of its bytes; expects a non-zero exit \
             status without a crash (no panic, traceback or signal) or a hang",
    hints: &[
        "A read of 0 bytes before the whole echo came back is the server's close: that \
         client failed, which is a result to report, not a reason to crash.",
        "`read_full` returns how many bytes came (Step 6); when that is fewer than the chunk, \
         `session` returns `ClientError::ClosedEarly` (Step 8). No `assert!`, `unwrap()` or \
         `expect()` on what the network does.",
        "A panic in a client's thread reaches `run` as an `Err` from `join`: turn it into that \
         client's `ClientError::Panicked` instead of unwrapping it (Step 9).",
    ],
    time_limit: Duration::from_secs(30),
    kind: Kind::Client,
    probe: echo_client::early_close,
};

const CLIENT_REFUSED: TestCase = TestCase {
    id: "client-refused",
    name: "client: a refused connection is reported, and the exit status is non-zero",
    group: "client",
    points: 5,
    visibility: Visibility::Visible,
    checks: "runs `client … --clients 3` on a port where nothing listens; expects a \
             non-zero exit status within 10 s, without a crash, and `refused` in the output",
    hints: &[
        "`connect` fails at once when nothing listens: that is an error for the client that \
         tried, to print with the client's name, and a failure exit status.",
        "`TcpStream::connect(addr).map_err(|error| ClientError::Connect { client: \
         name.to_string(), addr, error })?` in `session` (Step 8); the error's text says \
         `Connection refused`.",
    ],
    time_limit: Duration::from_secs(20),
    kind: Kind::Client,
    probe: echo_client::refused,
};
