//! Lab 3 rubric: the single-threaded, event-driven echo server.
//!
//! Every lab 2 test (same ids), plus what sets an event loop apart: one thread whatever
//! the load, no CPU when idle, a client that never reads neither stalls the others nor
//! grows the server's memory, and a thousand clients at once. The programs under
//! `autograder/tests/corpus/lab3` prove that each one is caught.

use std::time::Duration;

use crate::grade::labs::lab1::lab1_tests;
use crate::grade::labs::lab2::lab2_tests;
use crate::grade::probe::Symptom;
use crate::grade::probe::{concurrency, echo};
use crate::grade::rubric::{Kind, Lab, TestCase, Visibility};

/// The lab 3 rubric.
pub static LAB: Lab = Lab {
    name: "lab3",
    title: "single-threaded event-driven echo server",
    default_port: 7103,
    handout: "handouts/lab3.md",
    server_args: &["--port", "{port}"],
    tests: lab2_tests!(
        stalled_hints: STALLED_CLIENT_HINTS;
        "7103",
        TestCase {
            id: "single-thread",
            name: "serves 40-60 clients from one thread of one process",
            group: "events",
            points: 10,
            visibility: Visibility::Visible,
            checks: "while 40-60 clients exchange random data in 4 lock-step rounds, samples \
                     the program's threads (/proc/PID/task) and child processes every few \
                     milliseconds: one thread and no child allowed (skipped without /proc)",
            hints: &[
                "No thread or process per client in this lab: one thread, non-blocking \
                 sockets, and a readiness loop serve everybody.",
                "Register the listener and every connection with one `mio::Poll`, and handle \
                 whatever `poll` reports, then poll again.",
                "In `Server::turn` (Step 2): `poll`, then hand each event's token to \
                 `accept_all` (the LISTENER's) or `pump` (a connection's), on this thread. \
                 No `thread::spawn` anywhere, no blocking call: a socket that cannot make \
                 progress says WouldBlock, and the loop moves on.",
                "https://docs.rs/mio/latest/mio/guide/index.html",
            ],
            time_limit: Duration::from_secs(20),
            kind: Kind::Server,
            probe: concurrency::single_thread,
        },
        TestCase {
            id: "idle-cpu",
            name: "uses no CPU while 100 connected clients are idle",
            group: "events",
            points: 10,
            visibility: Visibility::Visible,
            checks: "connects 100 clients, echoes a few bytes on each, then measures for 2 s \
                     how much of the time the program was running or ready to run \
                     (/proc/PID/task/*/schedstat): more than 25% fails (skipped without /proc)",
            hints: &[
                "An idle server must sleep in the readiness call: `poll.poll(&mut events, \
                 None)` waits until a socket is ready.",
                "Trying every socket with non-blocking reads in a loop (or polling with a zero \
                 timeout) keeps a CPU at 100% doing nothing. Watch `top` with a few idle `nc` \
                 clients connected.",
                "In `Server::turn` (Step 2) the timeout is `None` unless `busy` is not empty \
                 (then `Some(Duration::ZERO)`), and `turn` empties `busy` as it takes the \
                 tokens. `Server::pump` (Step 8) puts a connection back on `busy` only when its \
                 `pump` returned `Status::Busy`.",
                "https://docs.rs/mio/latest/mio/struct.Poll.html#method.poll",
            ],
            time_limit: Duration::from_secs(20),
            kind: Kind::Server,
            probe: concurrency::idle_cpu,
        },
        TestCase {
            id: "non-reading-client",
            name: "keeps serving others while a client sends tens of MiB and never reads",
            group: "events",
            points: 15,
            visibility: Visibility::Visible,
            checks: "c1 (small receive buffer) sends up to 48 MiB and reads nothing, until the \
                     program stops taking its bytes; then 3-4 other clients send random bytes, \
                     half-close, and must get their echo and the close",
            hints: &[
                "A write to a client that does not read eventually takes nothing \
                 (WouldBlock). If your loop then waits for that write, every client waits.",
                "Keep what the socket did not take as that client's pending output, ask for \
                 WRITABLE readiness, and return to the poller.",
                "`write_until_blocked` (Step 4) stops at WouldBlock and returns the count; \
                 `send` (Step 6) pushes `&bytes[written..]` onto the queue; `interest` (Step 7) \
                 then includes WRITABLE, and `Server::pump` (Step 8) re-registers the \
                 connection with it, so that the next `pump` starts with `flush`.",
                "https://docs.rs/mio/latest/mio/net/struct.TcpStream.html",
            ],
            time_limit: Duration::from_secs(30),
            kind: Kind::Server,
            probe: concurrency::non_reading_client,
        },
        TestCase {
            id: "bounded-memory",
            name: "keeps its memory bounded while a client sends tens of MiB and never reads",
            group: "events",
            points: 10,
            visibility: Visibility::Visible,
            checks: "a client (small receive buffer) sends up to 48 MiB and reads nothing; the \
                     program's resident memory (/proc/PID/status VmRSS), sampled throughout, \
                     must not grow by more than 16 MiB (skipped without /proc)",
            hints: &[
                "If you keep reading from a client whose echo you cannot send, its pending \
                 output grows for as long as it sends.",
                "Backpressure: once a client's pending output passes a bound (64 KiB, say), \
                 stop reading from it (drop READABLE from its interest) until it drains. TCP \
                 flow control then stops the client.",
                "In `Connection::pump` (Step 6), read while `!self.reading_paused()` and never \
                 more than `PENDING_LIMIT - self.pending.len()` bytes (slice `scratch`); \
                 `interest` (Step 7) is WRITABLE only while reading is paused, and \
                 `Server::pump` (Step 8) re-registers it. Once the queue drains, \
                 `PendingOutput::consume` (Step 5) gives back what a burst took.",
                "https://docs.rs/mio/latest/mio/struct.Registry.html#method.reregister",
            ],
            time_limit: Duration::from_secs(30),
            kind: Kind::Server,
            probe: concurrency::bounded_memory,
        },
        TestCase {
            id: "thousand-clients",
            name: "serves over 1,100 simultaneous clients",
            group: "events",
            points: 15,
            visibility: Visibility::Visible,
            checks: "opens 1,100-1,200 connections one by one (more than select()'s \
                     FD_SETSIZE and the usual soft limit of 1024 open files, which every program \
                     starts with; each echoes a first byte before the next opens) and keeps \
                     them all open; in 2 lock-step rounds each \
                     sends 1-512 random bytes and expects its echo; then all half-close and \
                     expect the close",
            hints: &[
                "Every connection is a file descriptor: check `ulimit -n` (the soft limit), and \
                 raise it to the hard limit at start (setrlimit(RLIMIT_NOFILE)).",
                "Accept in a loop until WouldBlock: one readiness event may stand for many \
                 waiting connections.",
                "`main` raises the limit (`limits::raise_open_files_limit`, given). In \
                 `accept_all` (Step 3): loop on `accept`; WouldBlock returns, Interrupted \
                 retries, `out_of_resources` sets `accept_blocked` and returns (`close` \
                 accepts again when a descriptor is freed), any other error is logged and \
                 the loop goes on.",
                "https://man7.org/linux/man-pages/man2/getrlimit.2.html",
            ],
            time_limit: Duration::from_secs(40),
            kind: Kind::Server,
            probe: concurrency::thousand_clients,
        },
    ),
    still_serves: crate::grade::probe::echo::still_serves,
    ends_program: &[],
    symptom_hints: EVENT_LOOP_HINTS,
    bench: crate::grade::swarm::load::Bench::Echo,
};

/// What each symptom means for a non-blocking readiness loop, gentle to explicit. Not lab
/// 1's words: "read until `read` returns 0" is wrong here, where a read that would block
/// returns `WouldBlock` instead.
const EVENT_LOOP_HINTS: &[(Symptom, &[&str])] = &[
    (
        Symptom::TextConversion,
        &[
            "The echo came back with EF BF BD where other bytes were: bytes were turned into \
             text somewhere. Keep them as `[u8]` from the read to the write.",
        ],
    ),
    (
        Symptom::BytesSkipped,
        &[
            "Bytes are missing from the middle of the echo: on a non-blocking socket a write \
             takes what fits and returns how many; the rest is yours to keep.",
            "Keep the unsent tail as pending output for that connection, ask the poller for \
             WRITABLE, and send it (first) when the socket is ready again.",
            "`write_until_blocked` (Step 4) returns how many bytes the socket took; `send` \
             (Step 6) must `push(&bytes[written..])`, and `flush` must `consume` exactly what \
             `write_until_blocked(&mut self.stream, self.pending.unsent())` wrote.",
        ],
    ),
    (
        Symptom::BytesAltered,
        &[
            "The echo differs from what was sent: the bytes of two clients, or two reads, got \
             mixed. Each connection needs its own pending output, in order.",
            "New bytes must never overtake queued ones: `pump` flushes first, and `send` \
             writes straight to the socket only while the queue is empty (otherwise it pushes \
             everything). `unsent()` starts at the first unsent byte (`&self.bytes[self.sent..]`).",
        ],
    ),
    (
        Symptom::StoppedAtLineEnd,
        &[
            "The echo stopped right after a newline, and more bytes were due: your loop \
             works in lines. Echo whatever each read returned, newline or not.",
        ],
    ),
    (
        Symptom::ClosedEarly,
        &[
            "Your program closed the connection before the whole echo was sent. `WouldBlock` \
             is not the end of the stream: it means \"nothing more right now, ask the poller\".",
            "Close only after a read returned 0 AND your pending output for that client has \
             all been written; until then keep the connection registered.",
            "In `Connection::pump` (Step 6): a read of 0 sets `peer_done` and ends the reading; \
             only `if self.peer_done && self.pending.is_empty()` shut down the write side \
             (`Shutdown::Write`; NotConnected means the client is gone already) and return \
             `Status::Finished`. Otherwise return `Status::Open`: `interest` asks for WRITABLE.",
        ],
    ),
    (
        Symptom::WentSilent,
        &[
            "Part of the echo never came, and the connection stayed open: the loop stopped \
             serving this connection. With edge-triggered readiness (mio), one event means \
             \"read until `WouldBlock`\"; stop earlier and no new event comes.",
            "After a write that did not take everything, re-register the connection for \
             WRITABLE (and back to READABLE once the output is gone): the poller only reports \
             what you asked for.",
            "In `Server::pump` (Step 8), after `conn.pump`: `let wanted = conn.interest();` and \
             if it differs from `conn.registered()`, `self.poll.registry().reregister(&mut \
             conn.stream, token, wanted)` and `conn.set_registered(wanted)`. A `Status::Busy` \
             connection goes on `self.busy`, which `turn` (Step 2) pumps again next turn.",
        ],
    ),
    (
        Symptom::NeverClosed,
        &[
            "The client had finished sending, but your program never closed the connection.",
            "A read of 0 means the client half-closed: flush what is pending, then shut down \
             the write side and deregister the connection (dropping it closes the socket).",
            "`Connection::pump` (Step 6) returns `Status::Finished` once the client half-closed \
             and nothing is pending; `Server::pump` (Step 8) then calls `self.close(token, \
             None)`, which drops the connection.",
        ],
    ),
    (
        Symptom::Stalled,
        &[
            "A client was kept waiting while your loop dealt with another: something in the \
             loop blocks (a blocking socket, a write retried until it goes through, a sleep).",
            "Every socket must be non-blocking, and every call that cannot make progress \
             returns `WouldBlock`: go back to `poll` then, and carry on when the socket is ready.",
            "Look at each loop: `accept` (Step 3), `write` (Step 4) and `read` (Step 6) end at \
             WouldBlock, never retry it; the listener comes from `mio::net::TcpListener::bind` \
             (Step 1); and a connection that stopped with `Busy` must get its next turn \
             (`self.busy`), since no event announces the bytes it left in the kernel.",
        ],
    ),
    (
        Symptom::Refused,
        &[
            "A client could not connect: the loop was gone, or stopped accepting. Accept until \
             `WouldBlock` on each readiness event of the listener: one event may stand for \
             many waiting clients.",
            "In `accept_all` (Step 3), only WouldBlock and `out_of_resources` end the loop \
             (the latter sets `accept_blocked`); an error about one client (ECONNABORTED) is \
             logged and the loop goes on. Every accepted stream is registered for READABLE \
             under `Token(self.next_token)`, then stored.",
        ],
    ),
    (
        Symptom::Crashed,
        &[
            "Your program crashed during the test; its last output lines show where. In one \
             thread, one connection's error must close that connection only, never the loop.",
            "In `Server::pump` (Step 8), an `Err` from `conn.pump` or from `reregister` goes to \
             `self.close(token, Some(e))`, never to `unwrap()`. A token may come twice in one \
             turn (an event, and `busy`): if the first closed it, `get_mut` finds nothing, so \
             return.",
        ],
    ),
    (
        Symptom::Exited,
        &["Your program exited during the test: the loop must run until the server is stopped."],
    ),
];

/// Lab 3's hints for `stalled-client`: in one loop, a stall is a call that waited.
const STALLED_CLIENT_HINTS: &[&str] = &[
    "One client's silence held up the others: somewhere your loop waits for one client — a \
     blocking call (`read` or `write` on a socket that is not non-blocking, `write_all`, a \
     `sleep`) or a loop that reads one client until it ends instead of until `WouldBlock`.",
    "Every call in the loop must return at once: read until `WouldBlock`, keep what a write \
     did not take as pending output, and go back to `poll` (Steps 2 and 6).",
    "`Server::turn` polls, then pumps each ready connection once (Step 2); `Connection::pump` \
     stops at `WouldBlock`, and after `READS_PER_TURN` reads returns `Status::Busy` so that \
     the others get their turn (Step 6).",
];
