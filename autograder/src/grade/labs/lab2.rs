//! Lab 2 rubric: the echo server with one thread per connection.
//!
//! Every lab 1 test, with the same ids (labs 1–3 serve the same protocol, so a test id
//! means the same thing in all three), plus the tests that a server serving one client at
//! a time cannot pass. The buggy programs under `autograder/tests/corpus/lab2` prove that
//! each one is caught.

use std::time::Duration;

use crate::grade::labs::lab1::lab1_tests;
use crate::grade::probe::Symptom;
use crate::grade::probe::{concurrency, echo};
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
    title: "echo server, one thread per connection",
    default_port: 7102,
    handout: "handouts/lab2.md",
    server_args: &["--port", "{port}"],
    tests: lab2_tests!(stalled_hints: STALLED_CLIENT_HINTS; "7102"),
    still_serves: crate::grade::probe::echo::still_serves,
    ends_program: &[],
    symptom_hints: THREADED_ECHO_HINTS,
    bench: crate::grade::swarm::load::Bench::Echo,
};

/// Lab 1's explanations, and what a stall means for a thread-per-connection server.
const THREADED_ECHO_HINTS: &[(Symptom, &[&str])] = &{
    // Lab 2's own explanation of a stall comes first: `hints_for` takes the first match.
    const N: usize = crate::grade::labs::lab1::BLOCKING_ECHO_HINTS.len() + 1;
    let mut all = [(Symptom::Stalled, STALLED); N];
    let mut i = 0;
    while i < crate::grade::labs::lab1::BLOCKING_ECHO_HINTS.len() {
        all[i + 1] = crate::grade::labs::lab1::BLOCKING_ECHO_HINTS[i];
        i += 1;
    }
    all
};

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
