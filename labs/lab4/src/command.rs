//! Commands on the control channel: `VERB [argument]\r\n`.
//!
//! RFC 959 says verbs are case-insensitive and separated from their argument by one
//! space. The argument is everything after that space, spaces included (file names may
//! contain spaces), so we split once and never trim inside it.

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The verb, upper-cased (`RETR`).
    pub verb: String,
    /// The argument, possibly empty (`my file.txt`).
    pub arg: String,
}

impl Command {
    /// Parses one line (without its line ending).
    pub fn parse(line: &str) -> Command {
        // TODO: Step 1 — split a command line into its verb and its argument, so that
        // the session can match on the verb however the client typed it (RFC 959: verbs
        // are case-insensitive) and hand on the argument exactly as the client meant it:
        // everything after the space that ends the verb, since a file name may hold
        // spaces of its own. A line with no argument has an empty one.
        let _ = line;
        todo!("Step 1 of handouts/lab4.md: split a command line into verb and argument")
    }

    /// How the command appears in a trace: the password is never printed.
    pub fn shown(&self) -> String {
        match (self.verb.as_str(), self.arg.is_empty()) {
            ("PASS", _) => "PASS ****".to_string(),
            (_, true) => self.verb.clone(),
            _ => format!("{} {}", self.verb, self.arg),
        }
    }
}

/// Removes the line ending (`\r\n`, or a bare `\n` from lenient clients) from a line.
pub fn strip_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
