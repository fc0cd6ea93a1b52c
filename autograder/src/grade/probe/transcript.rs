//! The `>`/`<` transcript of what crossed the wire during a test.
//!
//! Large transfers would produce thousands of entries, so consecutive data in the same
//! direction on the same connection is merged into one line with a byte count and a
//! preview of its start.

use std::sync::{Arc, Mutex};

use super::bytes::escape;

/// How many lines a transcript keeps (the first ones are the most telling).
const MAX_ENTRIES: usize = 40;
/// How many bytes of each data entry are shown.
const PREVIEW: usize = 40;

#[derive(Debug, Clone)]
struct Entry {
    conn: String,
    dir: char,
    bytes: Vec<u8>,
    count: usize,
    note: Option<String>,
}

/// A shared, append-only log of one test's conversations.
#[derive(Debug, Clone, Default)]
pub struct Transcript(Arc<Mutex<Log>>);

#[derive(Debug, Default)]
struct Log {
    entries: Vec<Entry>,
    dropped: usize,
}

impl Transcript {
    /// Records bytes sent (`'>'`) or received (`'<'`) on connection `conn`.
    pub fn data(&self, conn: &str, dir: char, bytes: &[u8]) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = log.entries.last_mut() {
            if last.conn == conn && last.dir == dir && last.note.is_none() {
                last.count += bytes.len();
                if last.bytes.len() < PREVIEW {
                    let room = PREVIEW - last.bytes.len();
                    last.bytes
                        .extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                return;
            }
        }
        log.push(Entry {
            conn: conn.to_string(),
            dir,
            bytes: bytes[..bytes.len().min(PREVIEW)].to_vec(),
            count: bytes.len(),
            note: None,
        });
    }

    /// Records an event such as `connected`, `FIN`, `EOF` or `reset`.
    pub fn note(&self, conn: &str, dir: char, what: impl Into<String>) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.push(Entry {
            conn: conn.to_string(),
            dir,
            bytes: Vec::new(),
            count: 0,
            note: Some(what.into()),
        });
    }

    /// The transcript as display lines.
    pub fn lines(&self) -> Vec<String> {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<String> = log
            .entries
            .iter()
            .map(|e| match &e.note {
                Some(note) => format!("[{}] {} {}", e.conn, e.dir, note),
                None => format!(
                    "[{}] {} {} bytes {}",
                    e.conn,
                    e.dir,
                    e.count,
                    escape(&e.bytes, PREVIEW).replace(" … ", "…")
                        + if e.count > e.bytes.len() { "…" } else { "" }
                ),
            })
            .collect();
        if log.dropped > 0 {
            out.push(format!("… ({} more events not shown)", log.dropped));
        }
        out
    }
}

impl Log {
    fn push(&mut self, entry: Entry) {
        if self.entries.len() < MAX_ENTRIES {
            self.entries.push(entry);
        } else {
            self.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_runs_and_keeps_events() {
        let t = Transcript::default();
        t.note("c1", '>', "connect");
        t.data("c1", '>', b"hello ");
        t.data("c1", '>', b"world");
        t.data("c1", '<', b"hello");
        t.note("c1", '>', "FIN");
        let lines = t.lines();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], "[c1] > 11 bytes b\"hello world\"");
        assert_eq!(lines[3], "[c1] > FIN");
    }
}
