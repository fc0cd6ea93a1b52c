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
