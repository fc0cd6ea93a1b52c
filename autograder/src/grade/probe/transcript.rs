//! What crossed the wire during a test, as typed events with their times: the `>`/`<`
//! transcript of a text report, and the sequence diagram of an HTML one, come from the
//! same record ([`Exchange`]).
//!
//! Every connection in a transcript is one the probe opened as a client (to the program,
//! or to one of its data ports), so an event has two possible ends: the client (the
//! grader) and the server (the program under test).
//!
//! Large transfers would produce thousands of events, so consecutive data in the same
//! direction on the same connection is merged into one event with a byte count and a
//! preview of its start; and a transcript keeps its first events and its last ones (where
//! a test usually goes wrong), with a count of those in between.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::bytes::escape;

/// How many events a transcript keeps from its start (the first ones set the scene).
const HEAD_EVENTS: usize = 30;
/// How many of its last events it keeps besides (the end is where a test failed).
const TAIL_EVENTS: usize = 10;
/// How many bytes of each data event are kept for the preview.
pub const PREVIEW: usize = 40;

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The grader's probe, which opened the connection.
    Client,
    /// The program under test.
    Server,
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

/// Something that happened on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The client connected (the handshake completed), with a small receive buffer when
    /// `small_buffer`.
    Connect {
        /// Whether the client's receive buffer was made small before the handshake.
        small_buffer: bool,
    },
    /// The client could not connect.
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
    /// The client shut down its sending side (a FIN), and still reads.
    HalfClose,
    /// The client closed the connection (a FIN).
    Close,
    /// The client reset the connection (an RST).
    Reset,
    /// The server closed its sending side: a read returned 0 (its FIN).
    Eof,
    /// A call failed; `reset` when the failure was the server's RST (connection reset).
    Failed {
        /// The call that failed.
        call: Call,
        /// The system's error.
        error: String,
        /// Whether the server had reset the connection.
        reset: bool,
    },
    /// A send could not finish before the deadline: the server stopped reading.
    SendTimedOut,
    /// The server took no more bytes for `waited_ms`, and the client stopped sending.
    NotTaking {
        /// How long nothing was taken, in milliseconds.
        waited_ms: u64,
    },
    /// Nothing arrived for `waited_ms`, and the client gave up waiting.
    Silence {
        /// How long nothing arrived, in milliseconds.
        waited_ms: u64,
    },
}

impl Event {
    /// The event in the text transcript's terms: its direction mark (`>` from the
    /// client, `<` from the server, `!` what the client saw go wrong) and its words.
    pub fn line(&self) -> (char, String) {
        let secs = |ms: &u64| *ms as f64 / 1000.0;
        match self {
            Event::Connect {
                small_buffer: false,
            } => ('>', "connect".into()),
            Event::Connect { small_buffer: true } => ('>', "connect (small receive buffer)".into()),
            Event::ConnectFailed { error } => ('!', format!("connect failed: {error}")),
            Event::Data {
                from,
                count,
                preview,
            } => (
                if *from == Side::Client { '>' } else { '<' },
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

/// A test's conversations as they were recorded: what a failure carries to the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The first events, in order.
    pub head: Vec<Timed>,
    /// How many events came after those and are not kept.
    pub dropped: usize,
    /// The last events (after the dropped ones), in order.
    pub tail: Vec<Timed>,
    /// When the probe's verdict was known, in microseconds since it started.
    pub ended_us: u64,
}

impl Exchange {
    /// The kept events in order (the dropped ones sit between the head and the tail).
    pub fn events(&self) -> impl Iterator<Item = &Timed> {
        self.head.iter().chain(&self.tail)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
    }

    /// The exchange as the text transcript's lines: `[c1] > 11 bytes b"hello world"`.
    pub fn lines(&self) -> Vec<String> {
        let line = |t: &Timed| {
            let (dir, words) = t.event.line();
            format!("[{}] {dir} {words}", t.conn)
        };
        let mut out: Vec<String> = self.head.iter().map(line).collect();
        if self.dropped > 0 {
            out.push(format!("… ({} more events not shown)", self.dropped));
        }
        out.extend(self.tail.iter().map(line));
        out
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
    /// Records bytes that `from` sent on connection `conn`.
    pub fn data(&self, conn: &str, from: Side, bytes: &[u8]) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = log.now_us();
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
                e.tail.remove(0);
                e.dropped += 1;
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
