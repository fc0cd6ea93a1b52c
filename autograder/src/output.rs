//! Standard output for the commands.
//!
//! `println!` panics when the reader has gone away (`autograder grade lab1 | head`): the
//! grader would die in the middle of a run, its programs' teardown skipped. Here a reader
//! that leaves only stops the output; the run carries on, cleans up and exits as usual.

use std::io::{ErrorKind, Write};
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
