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
