//! Lab 2 rubric: the echo server with one thread per connection.
//!
//! Every lab 1 test, with the same ids (labs 1–3 serve the same protocol, so a test id
//! means the same thing in all three), plus the tests that a server serving one client at
//! a time cannot pass. The buggy programs under `autograder/tests/corpus/lab2` prove that
//! each one is caught.

use std::time::Duration;

use crate::probe::{concurrency, echo};
use crate::rubric::{Kind, Lab, TestCase, Visibility};

/// The lab 2 test table, for the server on default port `$port` (a string literal, used
/// in hints), followed by `$extra` tests. Lab 3 extends it; a unit test keeps the lab 1
/// part equal to lab 1's own rubric.
macro_rules! lab2_tests {
    ($port:literal $(, $extra:expr)* $(,)?) => {
        &[
            TestCase {
                id: "echo-short",
                name: "echoes a short message byte for byte",
                group: "echo",
                points: 5,
                visibility: Visibility::Visible,
                checks: "sends one line of text and expects exactly the same bytes back",
                hints: &[
                    "Accept a connection, read from it, and write back exactly the bytes you read — \
                     only the first `n` bytes of the buffer, where `n` is what `read` returned.",
                    concat!("Run your server and type into `nc 127.0.0.1 ", $port, "`; each line should come back."),
                    "std::net::TcpListener::accept and std::io::Read::read: \
                     https://doc.rust-lang.org/std/net/struct.TcpListener.html",
                ],
                time_limit: Duration::from_secs(10),
                kind: Kind::Server,
                probe: echo::short_message,
            },
            TestCase {
                id: "echo-large-binary",
                name: "echoes several MiB of random binary data while the client keeps sending",
                group: "echo",
                points: 10,
                visibility: Visibility::Visible,
                checks: "streams 8-12 MiB of random bytes (any value, not text) in random-sized \
                         chunks while reading the echo slowly through a small receive buffer, \
                         pausing once for a second; compares every byte",
                hints: &[
                    "Bytes are not text: never convert them to a String, and never stop at a \
                     newline or a zero byte.",
                    "`write` may take fewer bytes than you offer; its return value says how many. \
                     Loop until every byte is written (or use `write_all`).",
                    "Read and write in a loop until `read` returns 0. \
                     https://doc.rust-lang.org/std/io/trait.Write.html#method.write",
                ],
                time_limit: Duration::from_secs(30),
                kind: Kind::Server,
                probe: echo::large_binary,
            },
            TestCase {
                id: "echo-fragments",
                name: "echoes a message that arrives in many small fragments",
                group: "echo",
                points: 10,
                visibility: Visibility::Visible,
                checks: "sends 30-50 fragments of 1-40 bytes with pauses between them \
                         (TCP_NODELAY on), then expects the whole message back",
                hints: &[
                    "One `read` returns whatever has arrived so far — maybe a single byte. \
                     A message sent in pieces needs many reads.",
                    "Keep reading until `read` returns 0 (the client closed); do not stop after the \
                     first read.",
                    "The Rust Book, chapter 20, reads a stream in a loop: \
                     https://doc.rust-lang.org/book/ch20-01-single-threaded.html",
                ],
                time_limit: Duration::from_secs(15),
                kind: Kind::Server,
                probe: echo::fragments,
            },
            TestCase {
                id: "half-close-flush",
                name: "sends every pending byte after the client half-closes, then closes",
                group: "echo",
                points: 10,
                visibility: Visibility::Visible,
                checks: "sends 100-300 KB of random bytes (not ending in a newline), shuts down its \
                         write side at once, then expects the whole echo followed by the close",
                hints: &[
                    "`read` returning 0 means the client will send nothing more. Anything you still \
                     hold must be written before you close.",
                    "If you read line by line, the last piece has no newline: it must be echoed too. \
                     Better: do not look for lines at all.",
                    "After the last write, close your side (drop the stream, or \
                     `shutdown(Shutdown::Write)`): https://doc.rust-lang.org/std/net/struct.TcpStream.html#method.shutdown",
                ],
                time_limit: Duration::from_secs(15),
                kind: Kind::Server,
                probe: echo::half_close_flush,
            },
            TestCase {
                id: "sequential-clients",
                name: "serves several clients one after another",
                group: "echo",
                points: 5,
                visibility: Visibility::Visible,
                checks: "4-6 clients in turn each send random bytes, half-close, and expect their \
                         echo and the close",
                hints: &[
                    "After one client is done, go back to `accept` for the next one.",
                    "The accept call belongs in a loop that never ends.",
                    "https://doc.rust-lang.org/std/net/struct.TcpListener.html#method.incoming",
                ],
                time_limit: Duration::from_secs(15),
                kind: Kind::Server,
                probe: echo::sequential_clients,
            },
            TestCase {
                id: "connect-and-leave",
                name: "keeps serving after clients that send nothing",
                group: "echo",
                points: 5,
                visibility: Visibility::Visible,
                checks: "one client connects and closes at once, another half-closes without \
                         sending (and expects the close); then a normal client expects its echo",
                hints: &[
                    "A client may close before sending anything: your first `read` then returns 0.",
                    "That is a normal end of a connection, not an error: close it and accept the next.",
                    "https://doc.rust-lang.org/std/io/trait.Read.html#tymethod.read",
                ],
                time_limit: Duration::from_secs(10),
                kind: Kind::Server,
                probe: echo::connect_and_leave,
            },
            TestCase {
                id: "reset-mid-stream",
                name: "keeps serving after a client resets its connection mid-stream",
                group: "echo",
                points: 5,
                visibility: Visibility::Visible,
                checks: "a client sends data, reads a little of the echo, then aborts with a TCP \
                         reset (RST); the next client must still get its echo",
                hints: &[
                    "When a client vanishes, `read` or `write` returns an error such as \
                     ConnectionReset or BrokenPipe.",
                    "Do not `unwrap()` or `?` those errors out of your accept loop: log them, drop \
                     that connection, and accept the next client.",
                    "In C, writing to a reset connection raises SIGPIPE and kills the process \
                     unless you ignore it (Rust ignores it for you): \
                     https://man7.org/linux/man-pages/man7/socket.7.html",
                ],
                time_limit: Duration::from_secs(15),
                kind: Kind::Server,
                probe: echo::reset_mid_stream,
            },
            TestCase {
                id: "stalled-client",
                name: "serves later clients while an earlier one stalls mid-message",
                group: "concurrency",
                points: 15,
                visibility: Visibility::Visible,
                checks: "c1 connects, sends half a message, gets it echoed and then waits with its \
                         connection open; 3-5 later clients each send random bytes, half-close and \
                         must get their echo and the close meanwhile; then c1 finishes",
                hints: &[
                    "An iterative server is stuck in `read` on the first client, and nobody else \
                     is served until it leaves. Serve each client on a thread of its own.",
                    "The accept loop should only accept and hand the connection over \
                     (`std::thread::spawn(move || …)`), then go straight back to `accept`.",
                    "Holding one lock (a `Mutex`) for a client's whole session serialises the \
                     threads again. https://doc.rust-lang.org/book/ch16-01-threads.html",
                ],
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
        ]
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
    tests: lab2_tests!("7102"),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests lab 2 takes over from lab 1 keep lab 1's ids, names, points and probes.
    #[test]
    fn lab2_starts_with_every_lab1_test_unchanged() {
        let lab1 = crate::labs::lab1::LAB.tests;
        assert!(LAB.tests.len() > lab1.len());
        for (ours, theirs) in LAB.tests.iter().zip(lab1) {
            assert_eq!(ours.id, theirs.id);
            assert_eq!(ours.name, theirs.name);
            assert_eq!(ours.checks, theirs.checks);
            assert_eq!(ours.points, theirs.points);
            assert_eq!(ours.time_limit, theirs.time_limit);
            assert!(
                std::ptr::fn_addr_eq(ours.probe, theirs.probe),
                "{}",
                ours.id
            );
            let ours_hints: Vec<String> = ours
                .hints
                .iter()
                .map(|h| h.replace("7102", "7101"))
                .collect();
            assert_eq!(ours_hints, theirs.hints, "{}", ours.id);
        }
    }
}
