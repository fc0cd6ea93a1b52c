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
        let mut out = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            if i == last {
                out.push_str(&format!("{} {line}\r\n", self.code));
            } else if i == 0 {
                out.push_str(&format!("{}-{line}\r\n", self.code));
            } else {
                // Inner lines start with a space so that none can be mistaken for the
                // closing line (a file named "226 x" must not end the reply early).
                out.push_str(&format!(" {line}\r\n"));
            }
        }
        if self.lines.is_empty() {
            out.push_str(&format!("{} \r\n", self.code));
        }
        out.into_bytes()
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
