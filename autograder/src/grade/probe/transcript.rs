//! What crossed the wire during a test, as typed events with their times: the `>`/`<`
//! transcript of a text report, and the sequence diagram of an HTML one, come from the
//! same record ([`Exchange`]).
//!
//! A connection has two ends, the client (which opened it) and the server, and the grader
//! is one of them: in a server test its probe opens every connection (to the program, or
//! to one of its data ports); in a client test the program connects to the grader's test
//! server. The [`Exchange`] knows which role the grader played ([`Exchange::grader`]), and
//! every event other than data is told from the grader's end (what it did, what it saw
//! the program do), so the text transcript reads the same way in both: `>` sent by the
//! grader, `<` sent by the program.
//!
//! Large transfers would produce thousands of events, so consecutive data in the same
//! direction on the same connection is merged into one event with a byte count and a
//! preview of its start; and a transcript keeps its first events and its last ones (where
//! a test usually goes wrong), with a count of those in between. A test server's record
//! also keeps, from that middle, a few events that tell what decided the test (what it
//! did on purpose, what it saw go wrong): it serves many connections at once, and their
//! last events are often the others' goodbyes.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::bytes::escape;

/// How many events a transcript keeps from its start (the first ones set the scene).
const HEAD_EVENTS: usize = 30;
/// How many of its last events it keeps besides (the end is where a test failed).
const TAIL_EVENTS: usize = 10;
/// How many events from the middle a test server's record keeps for what they say.
const KEPT_EVENTS: usize = 8;
/// How many bytes of each data event are kept for the preview.
pub const PREVIEW: usize = 40;

/// One end of a connection, by its role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The end that opened the connection: the grader's probe in a server test, the
    /// program in a client test.
    #[default]
    Client,
    /// The end that accepted it: the program in a server test, the grader's test server
    /// in a client test.
    Server,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// Which of its calls a connection's failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// A send (write).
    Send,
    /// A receive (read).
    Receive,
}

/// Something that happened on a connection, told from the grader's end: "the grader"
/// below is the probe's client in a server test and the test server in a client test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The grader connected to the program (the handshake completed), with a small
    /// receive buffer when `small_buffer`.
    Connect {
        /// Whether the grader's receive buffer was made small before the handshake.
        small_buffer: bool,
    },
    /// The program connected to the grader's test server, which accepted it.
    Accepted,
    /// The grader could not connect.
    ConnectFailed {
        /// The system's error.
        error: String,
    },
    /// Bytes that `from` sent: `count` in all, of which `preview` holds the first.
    Data {
        /// Who sent them.
        from: Side,
        /// How many bytes.
        count: usize,
        /// The first of them (at most [`PREVIEW`]).
        preview: Vec<u8>,
    },
    /// The grader shut down its sending side (a FIN), and still reads.
    HalfClose,
    /// The grader closed the connection (a FIN).
    Close,
    /// The grader reset the connection (an RST).
    Reset,
    /// The program closed its sending side: a read returned 0 (its FIN).
    Eof,
    /// The grader's test server did `what` on purpose, to see how the program copes
    /// (altered a byte, closed early).
    OnPurpose {
        /// What it did, in words.
        what: String,
    },
    /// One of the grader's calls failed; `reset` when the failure was the program's RST
    /// (connection reset).
    Failed {
        /// The call that failed.
        call: Call,
        /// The system's error.
        error: String,
        /// Whether the program had reset the connection.
        reset: bool,
    },
    /// A send could not finish before the deadline: the program stopped reading.
    SendTimedOut,
    /// The program took no more bytes for `waited_ms`, and the grader stopped sending.
    NotTaking {
        /// How long nothing was taken, in milliseconds.
        waited_ms: u64,
    },
    /// Nothing arrived for `waited_ms`, and the grader gave up waiting.
    Silence {
        /// How long nothing arrived, in milliseconds.
        waited_ms: u64,
    },
}

impl Event {
    /// Whether the event tells what decided a test: something done on purpose, or seen
    /// going wrong (a failed call, a silence, a program that stopped reading).
    fn decides(&self) -> bool {
        matches!(
            self,
            Event::OnPurpose { .. }
                | Event::Failed { .. }
                | Event::Silence { .. }
                | Event::NotTaking { .. }
                | Event::SendTimedOut
                | Event::ConnectFailed { .. }
        )
    }

    /// The failure of one of the grader's calls, with `reset` when it was the program's RST.
    pub fn failed(call: Call, e: &std::io::Error) -> Event {
        Event::Failed {
            call,
            error: e.to_string(),
            reset: e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// The event in the text transcript's terms, in an exchange where the grader is the
    /// `grader` end: its direction mark (`>` from the grader, `<` from the program, `!`
    /// what the grader saw go wrong) and its words.
    pub fn line(&self, grader: Side) -> (char, String) {
        let secs = |ms: &u64| *ms as f64 / 1000.0;
        match self {
            Event::Connect {
                small_buffer: false,
            } => ('>', "connect".into()),
            Event::Connect { small_buffer: true } => ('>', "connect (small receive buffer)".into()),
            Event::Accepted => ('<', "connect (accepted by the grader's test server)".into()),
            Event::ConnectFailed { error } => ('!', format!("connect failed: {error}")),
            Event::Data {
                from,
                count,
                preview,
            } => (
                if *from == grader { '>' } else { '<' },
                format!(
                    "{count} bytes {}{}",
                    escape(preview, PREVIEW).replace(" … ", "…"),
                    if *count > preview.len() { "…" } else { "" }
                ),
            ),
            Event::HalfClose => ('>', "FIN (half-close: shutdown of the write side)".into()),
            Event::Close => ('>', "close".into()),
            Event::Reset => ('>', "RST (connection reset)".into()),
            Event::Eof => ('<', "EOF (the program closed)".into()),
            Event::OnPurpose { what } => ('>', format!("on purpose: {what}")),
            Event::Failed { call, error, .. } => (
                '!',
                format!(
                    "{} failed: {error}",
                    match call {
                        Call::Send => "send",
                        Call::Receive => "receive",
                    }
                ),
            ),
            Event::SendTimedOut => ('!', "send timed out".into()),
            Event::NotTaking { waited_ms } => (
                '!',
                format!(
                    "the program took no more bytes for {:.1} s: stopped sending",
                    secs(waited_ms)
                ),
            ),
            Event::Silence { waited_ms } => (
                '!',
                format!(
                    "nothing arrived for {:.1} s: gave up waiting",
                    secs(waited_ms)
                ),
            ),
        }
    }
}

/// An event on a connection, with when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timed {
    /// The connection's label (`c1`, `d2`, …).
    pub conn: String,
    /// Microseconds since the test's probe started.
    pub at_us: u64,
    /// For merged data: when its last bytes went (the same as `at_us` otherwise).
    pub until_us: u64,
    /// What happened.
    pub event: Event,
}

/// An event kept from the middle of a long record, and how many were not kept before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// How many events between the previous kept one (or the head) and this one are not
    /// kept.
    pub dropped_before: usize,
    /// The event.
    pub timed: Timed,
}

/// A step of a walk through an exchange: a kept event, or a count of events not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// An event.
    Event(&'a Timed),
    /// How many events here are not kept.
    NotShown(usize),
}

/// A test's conversations as they were recorded: what a failure carries to the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The first events, in order.
    pub head: Vec<Timed>,
    /// How many events came after those and are not kept (in all, around the `kept`
    /// ones).
    pub dropped: usize,
    /// Events from the middle kept for what they say (only in a test server's record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Kept>,
    /// The last events (after the dropped ones), in order.
    pub tail: Vec<Timed>,
    /// When the probe's verdict was known, in microseconds since it started.
    pub ended_us: u64,
    /// Which end of every connection the grader was: the client in a server test, the
    /// server in a client test (absent in results written before client tests recorded
    /// theirs, which were all server tests).
    #[serde(default)]
    pub grader: Side,
}

impl Exchange {
    /// The kept events in order (the dropped ones sit between the head and the tail).
    pub fn events(&self) -> impl Iterator<Item = &Timed> {
        self.head
            .iter()
            .chain(self.kept.iter().map(|k| &k.timed))
            .chain(&self.tail)
    }

    /// The exchange in order, with where events were not kept and how many.
    pub fn steps(&self) -> Vec<Step<'_>> {
        let mut steps: Vec<Step<'_>> = self.head.iter().map(Step::Event).collect();
        let mut left = self.dropped;
        for k in &self.kept {
            if k.dropped_before > 0 {
                steps.push(Step::NotShown(k.dropped_before));
            }
            left = left.saturating_sub(k.dropped_before);
            steps.push(Step::Event(&k.timed));
        }
        if left > 0 {
            steps.push(Step::NotShown(left));
        }
        steps.extend(self.tail.iter().map(Step::Event));
        steps
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
    }

    /// The program's end of every connection.
    pub fn program(&self) -> Side {
        self.grader.other()
    }

    /// How many bytes `side` sent in the kept events (at least that many, when some were
    /// dropped).
    pub fn bytes_from(&self, side: Side) -> usize {
        self.events()
            .map(|t| match &t.event {
                Event::Data { from, count, .. } if *from == side => *count,
                _ => 0,
            })
            .sum()
    }

    /// The exchange as the text transcript's lines: `[c1] > 11 bytes b"hello world"`.
    pub fn lines(&self) -> Vec<String> {
        let line = |t: &Timed| {
            let (dir, words) = t.event.line(self.grader);
            format!("[{}] {dir} {words}", t.conn)
        };
        self.steps()
            .into_iter()
            .map(|step| match step {
                Step::Event(t) => line(t),
                Step::NotShown(n) => format!("… ({n} more events not shown)"),
            })
            .collect()
    }
}

/// A shared, append-only log of one test's conversations.
#[derive(Debug, Clone)]
pub struct Transcript(Arc<Mutex<Log>>);

#[derive(Debug)]
struct Log {
    started: Instant,
    exchange: Exchange,
}

impl Default for Transcript {
    fn default() -> Transcript {
        Transcript(Arc::new(Mutex::new(Log {
            started: Instant::now(),
            exchange: Exchange::default(),
        })))
    }
}

impl Transcript {
    /// Records that the grader is the `grader` end of this test's connections (the
    /// server, for a client test's test server); the client until told otherwise.
    pub fn grader_is(&self, grader: Side) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.exchange.grader = grader;
    }

    /// Records bytes that `from` sent on connection `conn`.
    pub fn data(&self, conn: &str, from: Side, bytes: &[u8]) {
        self.data_since(conn, from, bytes, None);
    }

    /// Records bytes that `from` sent on connection `conn` in pieces, the first at
    /// `since`, as one event that spans them: a test server that writes a reply in pieces
    /// on purpose, on several connections at once, would otherwise interleave their pieces
    /// into a transcript nobody can read.
    pub fn data_since(&self, conn: &str, from: Side, bytes: &[u8], since: Option<Instant>) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = log.now_us();
        // It starts at its first piece, but not before the event recorded before it: the
        // transcript's times only go forward, as its lines do.
        let previous_us = log.last_mut().map_or(0, |last| last.at_us);
        let first_us = since.map_or(now, |since| {
            let us = since.saturating_duration_since(log.started).as_micros();
            (us.min(u128::from(now)) as u64).max(previous_us)
        });
        if let Some(last) = log.last_mut() {
            if let Event::Data {
                from: last_from,
                count,
                preview,
            } = &mut last.event
            {
                if last.conn == conn && *last_from == from {
                    *count += bytes.len();
                    let room = PREVIEW.saturating_sub(preview.len());
                    preview.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    last.until_us = now;
                    return;
                }
            }
        }
        log.push(
            conn,
            Event::Data {
                from,
                count: bytes.len(),
                preview: bytes[..bytes.len().min(PREVIEW)].to_vec(),
            },
        );
        if let Some(last) = log.last_mut() {
            last.at_us = first_us.min(last.at_us);
        }
    }

    /// Records an event other than data on connection `conn`.
    pub fn event(&self, conn: &str, event: Event) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.push(conn, event);
    }

    /// Everything recorded so far, ending now.
    pub fn exchange(&self) -> Exchange {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut exchange = log.exchange.clone();
        exchange.ended_us = log.now_us();
        exchange
    }

    /// The transcript as display lines.
    pub fn lines(&self) -> Vec<String> {
        self.exchange().lines()
    }
}

impl Log {
    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64
    }

    /// The last event kept, if the last one recorded was kept (so data can merge into it).
    fn last_mut(&mut self) -> Option<&mut Timed> {
        let e = &mut self.exchange;
        if e.tail.is_empty() {
            e.head.last_mut()
        } else {
            e.tail.last_mut()
        }
    }

    fn push(&mut self, conn: &str, event: Event) {
        let now = self.now_us();
        let timed = Timed {
            conn: conn.to_string(),
            at_us: now,
            until_us: now,
            event,
        };
        let e = &mut self.exchange;
        if e.head.len() < HEAD_EVENTS {
            e.head.push(timed);
        } else {
            if e.tail.len() == TAIL_EVENTS {
                let out = e.tail.remove(0);
                // In a server test the probe's trouble ends the exchange, so the tail
                // holds it; a test server's may be followed by other connections' events.
                if e.grader == Side::Server && out.event.decides() && e.kept.len() < KEPT_EVENTS {
                    let before: usize = e.kept.iter().map(|k| k.dropped_before).sum();
                    e.kept.push(Kept {
                        dropped_before: e.dropped - before,
                        timed: out,
                    });
                } else {
                    e.dropped += 1;
                }
            }
            e.tail.push(timed);
        }
    }
}

/// How long ago `since` was, for an event's `waited_ms`.
pub fn waited_ms(since: Instant) -> u64 {
    since.elapsed().as_millis().min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_runs_and_keeps_events() {
        let t = Transcript::default();
        t.event(
            "c1",
            Event::Connect {
                small_buffer: false,
            },
        );
        t.data("c1", Side::Client, b"hello ");
        t.data("c1", Side::Client, b"world");
        t.data("c1", Side::Server, b"hello");
        t.event("c1", Event::HalfClose);
        let lines = t.lines();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], "[c1] > 11 bytes b\"hello world\"");
        assert_eq!(
            lines[3],
            "[c1] > FIN (half-close: shutdown of the write side)"
        );
        let exchange = t.exchange();
        let times: Vec<u64> = exchange.events().map(|e| e.at_us).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert!(exchange.ended_us >= times[3]);
    }

    #[test]
    fn a_test_server_s_record_keeps_the_marks_by_who_sent() {
        let t = Transcript::default();
        t.grader_is(Side::Server);
        t.event("c1", Event::Accepted);
        t.data("c1", Side::Client, b"USER a\r\n");
        t.data("c1", Side::Server, b"331 ok\r\n");
        t.event("c1", Event::Eof);
        assert_eq!(
            t.lines(),
            [
                "[c1] < connect (accepted by the grader's test server)",
                "[c1] < 8 bytes b\"USER a\\r\\n\"",
                "[c1] > 8 bytes b\"331 ok\\r\\n\"",
                "[c1] < EOF (the program closed)",
            ]
        );
        let exchange = t.exchange();
        assert_eq!(exchange.program(), Side::Client);
        assert_eq!(exchange.bytes_from(Side::Client), 8);
        // Results written before the field existed were all server tests.
        let mut json: serde_json::Value = serde_json::to_value(&exchange).unwrap();
        json.as_object_mut().unwrap().remove("grader");
        let old: Exchange = serde_json::from_value(json).unwrap();
        assert_eq!(old.grader, Side::Client);
    }

    #[test]
    fn a_test_server_s_long_record_keeps_what_decided_the_test() {
        let t = Transcript::default();
        t.grader_is(Side::Server);
        let echo = |n: usize| {
            for _ in 0..n {
                t.data("c1", Side::Client, b"x");
                t.data("c1", Side::Server, b"x");
            }
        };
        echo(20);
        t.event(
            "c1",
            Event::OnPurpose {
                what: "altered byte 40".into(),
            },
        );
        echo(20);
        let exchange = t.exchange();
        assert_eq!(exchange.kept.len(), 1);
        assert_eq!(exchange.kept[0].dropped_before, 10);
        assert_eq!(exchange.dropped, 81 - HEAD_EVENTS - TAIL_EVENTS - 1);
        let lines = exchange.lines();
        assert_eq!(lines[HEAD_EVENTS], "… (10 more events not shown)");
        assert_eq!(lines[HEAD_EVENTS + 1], "[c1] > on purpose: altered byte 40");
        assert_eq!(lines[HEAD_EVENTS + 2], "… (30 more events not shown)");
        assert_eq!(lines.len(), HEAD_EVENTS + 3 + TAIL_EVENTS);
        let json = serde_json::to_string(&exchange).unwrap();
        assert_eq!(serde_json::from_str::<Exchange>(&json).unwrap(), exchange);
    }

    #[test]
    fn a_long_transcript_keeps_its_start_and_its_end() {
        let t = Transcript::default();
        for i in 0..100 {
            let from = if i % 2 == 0 {
                Side::Client
            } else {
                Side::Server
            };
            t.data("c1", from, b"x");
        }
        t.event("c1", Event::Silence { waited_ms: 5000 });
        let exchange = t.exchange();
        assert_eq!(exchange.head.len(), HEAD_EVENTS);
        assert_eq!(exchange.tail.len(), TAIL_EVENTS);
        assert_eq!(exchange.dropped, 101 - HEAD_EVENTS - TAIL_EVENTS);
        let lines = exchange.lines();
        assert_eq!(lines[HEAD_EVENTS], "… (61 more events not shown)");
        assert_eq!(
            lines.last().unwrap(),
            "[c1] ! nothing arrived for 5.0 s: gave up waiting"
        );
        // The exchange travels with the failure, from the worker to `batch`.
        let json = serde_json::to_string(&exchange).unwrap();
        assert_eq!(serde_json::from_str::<Exchange>(&json).unwrap(), exchange);
    }
}
