//! A handle on the program under test, and the grader's own process.
//!
//! A probe asks a [`Process`] about the program the way it would ask a person watching
//! `top`: how many threads, how much memory, how much CPU, has it exited. It never sees
//! a pid or a path under `/proc`. Every question is answered from Linux's `/proc`; where
//! it cannot be (another OS, a restricted container), the answer is [`Unknown`], which
//! the probe layer turns into a skipped test — never a silent pass.
//!
//! The grader's own process has two questions of its own here: how many files it may
//! open ([`raise_open_files_limit`]: a thousand clients are a thousand descriptors) and
//! how much CPU it has used ([`own_cpu_seconds`]: is the load generator the bottleneck?).

use std::fmt;
use std::io;

use crate::os::procfs;

/// A fact about the program that this system cannot tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// What could not be read: "thread count", "CPU time", …
    pub fact: &'static str,
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no /proc here: cannot read the program's {}", self.fact)
    }
}

impl std::error::Error for Unknown {}

/// An answer from `/proc`, or why there is none.
pub type Fact<T> = Result<T, Unknown>;

fn known<T>(value: Option<T>, fact: &'static str) -> Fact<T> {
    value.ok_or(Unknown { fact })
}

/// The program under test, as probes and the bench may ask about it and signal it.
///
/// Cheap to copy, and `Send`: a probe samples it from a thread of its own while its
/// clients keep the program busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    /// The command that was launched (inside a sandbox, the first process in it): what a
    /// service manager would signal and what `top -p` would show.
    pid: u32,
    /// The process group the harness started it in: all of the program's processes.
    pgid: i32,
}

/// CPU time a program has used so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTime {
    /// Seconds spent running (user + system).
    pub running: f64,
    /// Seconds spent running *or waiting for a CPU* (`schedstat`), where the kernel keeps
    /// scheduler statistics: a loop that never sleeps scores near 100% on it even on a
    /// machine too loaded to actually run it.
    pub busy: Option<f64>,
}

/// What a group of processes uses at one moment, summed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// CPU seconds used so far (user + system).
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
}

impl Process {
    /// The handle of process `pid`, started as the leader of group `pgid` (or inside it).
    pub fn new(pid: u32, pgid: i32) -> Process {
        Process { pid, pgid }
    }

    /// Its process id, for messages (`top -p PID`), never for reading `/proc` elsewhere.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How many threads the process has now.
    ///
    /// # Errors
    /// [`Unknown`] without `/proc`.
    pub fn threads(&self) -> Fact<usize> {
        known(procfs::thread_count(self.pid), "thread count")
    }

    /// The pids of the processes it has started and that still run.
    ///
    /// # Errors
    /// [`Unknown`] without `/proc`.
    pub fn children(&self) -> Fact<Vec<u32>> {
        known(procfs::children(self.pid), "child processes")
    }

    /// How many file descriptors the process holds open.
    ///
    /// # Errors
    /// [`Unknown`] without `/proc`.
    pub fn open_files(&self) -> Fact<usize> {
        known(procfs::fd_count(self.pid), "open file descriptors")
    }

    /// The CPU time the process has used so far.
    ///
    /// # Errors
    /// [`Unknown`] without `/proc`.
    pub fn cpu(&self) -> Fact<CpuTime> {
        let running = known(procfs::cpu_seconds(self.pid), "CPU time")?;
        Ok(CpuTime {
            running,
            busy: procfs::busy_seconds(self.pid),
        })
    }

    /// The process's resident memory now, in bytes.
    ///
    /// # Errors
    /// [`Unknown`] without `/proc`.
    pub fn rss(&self) -> Fact<u64> {
        known(procfs::rss_bytes(self.pid), "memory use")
    }

    /// The largest resident memory each of the program's processes has had, summed, in
    /// bytes: a peak between two samples is not missed.
    ///
    /// # Errors
    /// [`Unknown`] without `/proc`, or when none of its processes can be read.
    pub fn peak_rss(&self) -> Fact<u64> {
        let fact = "peak memory";
        let members = known(procfs::program_members(self.pgid), fact)?;
        let peaks: Vec<u64> = members
            .iter()
            .filter_map(|&pid| procfs::peak_rss_bytes(pid))
            .collect();
        if peaks.is_empty() {
            return Err(Unknown { fact });
        }
        Ok(peaks.iter().sum())
    }

    /// The pids of all the program's processes (its group, and descendants that left it):
    /// a list to sample with [`usage`] (finding it walks all of `/proc`).
    ///
    /// # Errors
    /// [`Unknown`] without `/proc`.
    pub fn members(&self) -> Fact<Vec<u32>> {
        known(procfs::program_members(self.pgid), "processes")
    }

    /// How many connections on local `port` the process still holds although their
    /// clients closed them (CLOSE_WAIT): it never noticed the end of those streams.
    ///
    /// # Errors
    /// [`Unknown`] without `/proc`.
    pub fn unclosed_connections(&self, port: u16) -> Fact<usize> {
        known(
            procfs::close_wait_count(self.pid, port),
            "connections in CLOSE_WAIT",
        )
    }

    /// Whether the process has ended: gone, or a zombie waiting to be reaped.
    ///
    /// # Errors
    /// [`Unknown`] without `/proc` (a missing entry there would look like an exit).
    pub fn exited(&self) -> Fact<bool> {
        known(procfs::exited(self.pid), "state")
    }

    /// Asks the process to stop (SIGTERM to it alone, as a service manager would: a
    /// launcher script that maps it to a server's own graceful signal gets it). The
    /// harness's teardown still stops the whole group afterwards.
    ///
    /// # Errors
    /// When the signal cannot be sent (the process is gone).
    pub fn terminate(&self) -> io::Result<()> {
        use rustix::process::{kill_process, Pid, Signal};
        // A pid of 0 would be kill(0): our own process group.
        let pid = Pid::from_raw(self.pid as i32).ok_or(io::ErrorKind::InvalidInput)?;
        Ok(kill_process(pid, Signal::TERM)?)
    }
}

/// The summed CPU time and resident memory of the processes `pids` (nginx has workers;
/// threads are included in their process's figures); `None` when none can be read.
pub fn usage(pids: &[u32]) -> Option<Usage> {
    let mut total = Usage {
        cpu_seconds: 0.0,
        rss_bytes: 0,
    };
    let mut any = false;
    for &pid in pids {
        if let (Some(cpu), Some(rss)) = (procfs::cpu_seconds(pid), procfs::rss_bytes(pid)) {
            total.cpu_seconds += cpu;
            total.rss_bytes += rss;
            any = true;
        }
    }
    any.then_some(total)
}

/// Raises this process's soft limit on open files to its hard limit (the servers it
/// starts afterwards get the usual limit back, see `sandbox::limit_child`); returns the
/// soft limit now in force (`u64::MAX` when unlimited).
pub fn raise_open_files_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // getrlimit(RLIMIT_NOFILE) cannot fail on Linux, so rustix returns the limit itself;
    // `None` is RLIM_INFINITY, which compares above every number.
    let mut limit = getrlimit(Resource::Nofile);
    let below = match (limit.current, limit.maximum) {
        (Some(current), Some(max)) => current < max,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// CPU time (user + system) this process has used so far, in seconds, its children
/// excluded (the server under test is our child, and its time must not be taken for ours).
pub fn own_cpu_seconds() -> f64 {
    // CLOCK_PROCESS_CPUTIME_ID: user + system time of all our threads, live and exited,
    // children excluded — what getrusage(RUSAGE_SELF) sums, which rustix does not wrap.
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_handle_answers_about_its_process_and_stops_it() {
        if !procfs::available() {
            eprintln!("skipped: no /proc here");
            return;
        }
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let p = Process::new(child.id(), child.id() as i32);
        assert_eq!(p.threads(), Ok(1));
        assert!(p.rss().unwrap() > 0);
        assert!(p.peak_rss().unwrap() >= p.rss().unwrap());
        assert!(p.open_files().unwrap() >= 3, "stdin, stdout, stderr");
        assert_eq!(p.children(), Ok(Vec::new()));
        assert_eq!(p.members(), Ok(vec![child.id()]));
        assert!(p.cpu().unwrap().running >= 0.0);
        assert_eq!(p.exited(), Ok(false));
        p.terminate().unwrap();
        // Not reaped yet: a zombie has exited too.
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.exited() != Ok(true) {
            assert!(Instant::now() < deadline, "SIGTERM did not end `sleep`");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.wait();
        assert!(
            p.terminate().is_err(),
            "a reaped process cannot be signalled"
        );
    }

    #[test]
    fn an_unknown_fact_says_what_could_not_be_read() {
        let why = Unknown {
            fact: "thread count",
        }
        .to_string();
        assert_eq!(why, "no /proc here: cannot read the program's thread count");
    }

    #[test]
    fn the_open_files_limit_only_goes_up() {
        let before = raise_open_files_limit();
        let after = raise_open_files_limit();
        assert!(after >= before);
        // What it returns is the soft limit in force.
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(Some(after).filter(|&n| n != u64::MAX), now.current);
    }

    #[test]
    fn own_cpu_time_is_what_proc_says_we_used_and_grows_as_we_work() {
        if !procfs::available() {
            eprintln!("skipped: no /proc here");
            return;
        }
        // Other tests' threads run in this process too, so no exact figure: our time is
        // bracketed by the kernel's own account of us in /proc (children not included),
        // up to its clock-tick rounding.
        let me = std::process::id();
        let before = procfs::cpu_seconds(me).unwrap();
        let ours = own_cpu_seconds();
        let after = procfs::cpu_seconds(me).unwrap();
        assert!(
            before - 0.05 <= ours && ours <= after + 0.05,
            "{before} <= {ours} <= {after}"
        );
        let wall = Instant::now();
        let mut x = 0u64;
        while own_cpu_seconds() - ours < 0.05 {
            x = std::hint::black_box(x.wrapping_add(1));
            assert!(
                wall.elapsed() < Duration::from_secs(10),
                "no CPU time counted"
            );
        }
    }
}
