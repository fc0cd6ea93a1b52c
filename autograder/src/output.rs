//! Standard output for the commands, and the status line on standard error.
//!
//! `println!` panics when the reader has gone away (`autograder grade lab1 | head`): the
//! grader would die in the middle of a run, its programs' teardown skipped. Here a reader
//! that leaves only stops the output; the run carries on, cleans up and exits as usual.
//!
//! A [`StatusLine`] says what is going on (the test running now, a class's progress bar)
//! on one line of standard error that each update rewrites: only on a terminal, where a
//! person watches, never in a log or a pipe.

use std::io::{ErrorKind, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output's reader has gone away: nothing more is written.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to standard output and flushes, so progress lines show as they happen.
pub fn write(args: std::fmt::Arguments) {
    if READER_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            READER_GONE.store(true, Ordering::Relaxed);
        } else {
            eprintln!("autograder: cannot write to standard output: {e}");
        }
    }
}

/// `print!` that survives a reader going away (see the module's documentation).
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::write(format_args!($($arg)*)) };
}

/// `println!` that survives a reader going away (see the module's documentation).
macro_rules! sayln {
    () => { $crate::output::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}

/// An amount of memory or data as people write it: in the largest unit it is a whole
/// number of (`1 GiB`, `256 MiB`, `1536 KiB`, `100 B`), else with one decimal
/// (`312.4 MiB`). The one formatter for limits, measurements and the bench's sizes.
pub fn bytes(n: u64) -> String {
    const UNITS: [(u32, &str); 3] = [(30, "GiB"), (20, "MiB"), (10, "KiB")];
    if let Some((shift, unit)) = UNITS
        .iter()
        .find(|&&(shift, _)| n >= 1 << shift && n.is_multiple_of(1 << shift))
    {
        return format!("{} {unit}", n >> shift);
    }
    match UNITS.iter().find(|&&(shift, _)| n >= 1 << shift) {
        Some(&(shift, unit)) => format!("{:.1} {unit}", n as f64 / f64::from(1u32 << shift)),
        None => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(1 << 30), "1 GiB");
        assert_eq!(bytes(256 << 20), "256 MiB");
        assert_eq!(bytes(1536 << 10), "1536 KiB");
        assert_eq!(bytes(1024), "1 KiB");
        assert_eq!(bytes(1000), "1000 B");
        assert_eq!(bytes((312 << 20) + (400 << 10) + 3), "312.4 MiB");
        assert_eq!(bytes((3 << 30) + 5), "3.0 GiB");
    }
}

/// One line of standard error that each update replaces (carriage return, erase line):
/// shown only where standard error is a terminal; elsewhere every call does nothing.
#[derive(Debug, Clone, Copy)]
pub struct StatusLine {
    live: bool,
}

impl StatusLine {
    /// The status line of this process's standard error.
    pub fn on_stderr() -> StatusLine {
        StatusLine {
            live: std::io::stderr().is_terminal(),
        }
    }

    /// Whether it shows anything (standard error is a terminal).
    pub fn is_live(self) -> bool {
        self.live
    }

    /// Replaces the line with `text` (one line, no newline).
    pub fn show(self, text: &str) {
        if self.live {
            eprint!("\r\x1b[2K{text}");
            let _ = std::io::stderr().flush();
        }
    }

    /// Erases the line, so that what is printed next starts on a clean line.
    pub fn clear(self) {
        self.show("");
    }

    /// Ends the line, leaving its last text on the screen.
    pub fn keep(self) {
        if self.live {
            eprintln!();
        }
    }
}
