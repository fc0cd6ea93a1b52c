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
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb, arg),
            None => (line, ""),
        };
        Command {
            verb: verb.to_ascii_uppercase(),
            arg: arg.to_string(),
        }
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
