//! Lab 1 rubric: the iterative echo server.
//!
//! Each test targets one mistake; the buggy programs under `autograder/tests/corpus/lab1`
//! prove that each one is caught.

use std::time::Duration;

use crate::grade::probe::echo;
use crate::grade::probe::Symptom;
use crate::grade::rubric::{Kind, Lab, TestCase, Visibility};

/// The lab 1 test table for a server whose default port is `$port` (a string literal,
/// used in hints), followed by `$extra` tests. Labs 2 and 3 serve the same protocol and
/// start from the same tests, with the same ids, through this one definition.
macro_rules! lab1_tests {
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
                    "What `read` returning a count, and 0, means: \
                     https://doc.rust-lang.org/std/io/trait.Read.html#tymethod.read \
                     (not the Rust Book's web server, which reads lines: the mistake this lab \
                     warns against)",
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
                checks: "sends 4-6 MiB of random bytes (no newline) through a small receive buffer, \
                         reading nothing, until the program stops taking them, so that it holds \
                         output when the FIN comes; then shuts down its write side, reads the \
                         echo slowly and expects every byte sent, then the close",
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
            $($extra,)*
        ]
    };
}
pub(crate) use lab1_tests;

/// The lab 1 rubric.
pub static LAB: Lab = Lab {
    name: "lab1",
    title: "iterative echo server",
    default_port: 7101,
    handout: "handouts/lab1.md",
    server_args: &["--port", "{port}"],
    tests: lab1_tests!("7101"),
    still_serves: crate::grade::probe::echo::still_serves,
    ends_program: &[],
    symptom_hints: BLOCKING_ECHO_HINTS,
    bench: crate::grade::swarm::load::Bench::Echo,
};

/// What each symptom means for a blocking echo server (labs 1 and 2), gentle to explicit.
pub(crate) const BLOCKING_ECHO_HINTS: &[(Symptom, &[&str])] = &[
    (
        Symptom::TextConversion,
        &[
            "The echo came back with EF BF BD where other bytes were: your program turned \
             bytes into text, and invalid UTF-8 became the replacement character.",
            "Keep the data as bytes: read into a `[u8]` buffer and write back `&buf[..n]`, \
             with no `String` (nor `from_utf8_lossy`, nor `lines()`) in between.",
        ],
    ),
    (
        Symptom::BytesSkipped,
        &[
            "Bytes are missing from the middle of the echo, and later ones arrived: a `write` \
             took fewer bytes than it was offered, and the rest was never sent.",
            "`write` returns how many bytes it took: loop until all are written (Step 4's \
             `write_all`), retrying `Interrupted`. https://doc.rust-lang.org/std/io/trait.Write.html#tymethod.write",
        ],
    ),
    (
        Symptom::BytesAltered,
        &[
            "The echo differs from what was sent: write back exactly the bytes each read \
             returned, `&buf[..n]`, not the whole buffer and not a copy you changed.",
        ],
    ),
    (
        Symptom::StoppedAtLineEnd,
        &[
            "The echo stopped right after a newline, and more bytes were due: your program \
             works in lines (`lines()`, `read_line`), and what follows the last newline is \
             held back, then lost.",
            "An echo server has no lines: read into a byte buffer and write back whatever each \
             read returned, newline or not.",
        ],
    ),
    (
        Symptom::ClosedEarly,
        &[
            "Your program closed the connection before the whole echo had been sent: it \
             stops too early. Does it stop after the first read, or at a newline?",
            "TCP is a byte stream: one read returns whatever has arrived so far. Keep reading \
             until `read` returns 0 (the client has finished), writing back what each read \
             returned.",
            "What `read` returning 0 means: https://doc.rust-lang.org/std/io/trait.Read.html#tymethod.read",
        ],
    ),
    (
        Symptom::WentSilent,
        &[
            "Part of the echo never came, and the connection stayed open: your program holds \
             bytes back. Does it wait for a newline or a full buffer before writing?",
            "Write back whatever each read returned, at once; the last piece of a stream \
             need not end in a newline.",
        ],
    ),
    (
        Symptom::NeverClosed,
        &[
            "The client had finished sending (its read of your socket saw its FIN), but your \
             program never closed the connection.",
            "When `read` returns 0, the client will send nothing more: send what you still \
             hold, then shut down your write side (or drop the stream) and return.",
        ],
    ),
    (
        Symptom::Stalled,
        &[
            "A new client was kept waiting: your server was still busy with an earlier \
             client that had already finished.",
            "When `read` returns 0 that client is done: stop reading, close, and go back to \
             `accept`. A loop that only stops on errors never gets there.",
        ],
    ),
    (
        Symptom::Refused,
        &[
            "A client could not connect: your server was gone, or no longer listening. Did \
             it exit after its first client, or crash?",
            "Accept in a loop that never ends, and let one client's error end only that \
             client's session.",
        ],
    ),
    (
        Symptom::Crashed,
        &[
            "Your program crashed during the test; its last output lines (below the failure) \
             show where and why.",
            "One client's trouble (a reset, a client that left early) must end that client's \
             session, not the server: handle the error (`?` in the per-client function, logged \
             where the accept loop calls it) instead of `unwrap()`.",
        ],
    ),
    (
        Symptom::Exited,
        &[
            "Your program exited during the test: a server runs until it is stopped. Is \
             `main` returning after one client, or on the first error?",
        ],
    ),
];
