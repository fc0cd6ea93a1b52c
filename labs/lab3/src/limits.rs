//! Raising the open-files limit.
//!
//! Every connection is a file descriptor, and a process may hold at most `RLIMIT_NOFILE`
//! of them. The limit has two values: the *soft* limit, which the kernel enforces, and the
//! *hard* limit, the ceiling up to which an unprivileged process may raise its own soft
//! limit. Shells commonly start programs with a soft limit of 1024 (for the sake of old
//! programs using `select()`, which cannot handle descriptors numbered 1024 or more) and a
//! much higher hard limit. A server meant to hold 10,000 connections raises its soft limit
//! to the hard limit at start. See it with `ulimit -Sn` and `ulimit -Hn`, or in
//! `/proc/PID/limits` while the server runs.

use std::io;

/// The open-files soft limit before and after [`raise_open_files_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit the program started with.
    pub before: u64,
    /// The soft limit now in force.
    pub now: u64,
}

/// Raises this process's open-files soft limit to its hard limit.
///
/// # Errors
/// If the limits cannot be read or changed (the server can still run, with fewer clients).
pub fn raise_open_files_limit() -> io::Result<OpenFiles> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct it is given, which lives on our stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let mut raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            // macOS reports an "unlimited" hard limit but refuses a soft limit above
            // OPEN_MAX (10240): settle for that.
            raised.rlim_cur = limit.rlim_max.min(10240);
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        limit = raised;
    }
    Ok(OpenFiles {
        before,
        now: limit.rlim_cur,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_least_where_it_started() {
        let limits = raise_open_files_limit().unwrap();
        assert!(limits.now >= limits.before);
        // A second call finds nothing left to raise.
        assert_eq!(raise_open_files_limit().unwrap().before, limits.now);
    }
}
