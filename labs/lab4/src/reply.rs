//! Replies on the control channel: a three-digit code and text, one line or several.
//!
//! A one-line reply is `230 Logged in.\r\n`. A multi-line reply (RFC 959, section 4.2)
//! opens with `211-` (code and a hyphen), may contain any lines, and ends with a line that
//! starts with the same code and a space: `211 End.\r\n`. The first digit says how the
//! command went: 1 preliminary (more replies follow), 2 done, 3 send the next command,
//! 4 transient failure (try again later), 5 permanent failure.

use std::fmt;

/// One reply, possibly spanning several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code, e.g. 226.
    pub code: u16,
    /// The text lines, at least one.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply (one line if `lines` has one element).
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, lines }
    }

    /// The bytes that go on the wire, every line ending in CRLF.
    pub fn to_wire(&self) -> Vec<u8> {
        // TODO: Step 1 — the reply as the bytes a client reads: code, text, and every
        // line ending in \r\n (a strict client takes a bare \n for a broken server).
        // The client learns where a reply ends only from its lines, so a multi-line
        // reply must open in a way that says "more lines follow" and close with the one
        // line that says "this is the last" (RFC 959, 4.2, and the top of this file),
        // and no line in between may look like that last one, even for a file named
        // "226 done".
        todo!("Step 1 of handouts/lab4.md: format a reply for the wire")
    }

    /// Whether the code means success (2xx) or "go on" (1xx, 3xx).
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// The text, lines joined by newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// Quotes a path for a 257 reply: double quotes around it, inner quotes doubled
/// (RFC 959, appendix II).
pub fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}
