//! Containment for untrusted submissions: whatever a program does, grading ends within its
//! budget and nothing of it survives.
//!
//! The kernel tools used, and where each applies:
//!
//! | threat | tool | where |
//! |---|---|---|
//! | children, grandchildren, fork bombs | process group per program, SIGTERM then SIGKILL (`harness`) | every Unix |
//! | the grader dies unexpectedly | `PR_SET_PDEATHSIG` on each child (`harness`) | Linux |
//! | double fork, `setsid`, daemons | the grader is a **child subreaper** (`PR_SET_CHILD_SUBREAPER`): orphans are re-parented to it instead of to init, so a walk of `/proc` finds every descendant, which [`sweep`] kills and reaps | Linux ≥ 3.4 |
//! | memory hogs | a watcher sums the resident memory of all descendants (not backed by files, so pages shared after `fork` count once per copy only when written) and kills them past the limit (1 GiB by default), reported as such | Linux (`/proc`) |
//! | port collisions, traffic off the machine | `batch` grades each submission in a **network namespace** of its own (`unshare(CLONE_NEWNET)`, loopback brought up), when the kernel allows it (root, or `CAP_SYS_ADMIN`); otherwise random free ports with retries (`harness`) | Linux, privileged |
//! | core dumps filling the disk | `RLIMIT_CORE = 0` | every Unix |
//!
//! Deliberately *not* used: `RLIMIT_AS` (a thread reserves 8 MiB+ of address space it never
//! touches, and allocators reserve in bulk, so an address-space limit punishes correct
//! multi-threaded servers); `RLIMIT_NPROC` (it counts every process of the user, including
//! the instructor's own, and root ignores it). cgroups would bound memory and process counts
//! exactly, but need a delegated, writable cgroup v2 tree that most machines (and Gradescope
//! containers) do not give a grader; the subreaper and the watcher work without one.
//!
//! Try it by hand: `autograder grade lab1 -- sh -c 'setsid sleep 1000 & exec ./server "$@"' x
//! --port {port}` leaves no `sleep` behind (check with `pgrep sleep`).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::cleanup;

/// The default limit on a submission's resident memory.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

static SUBREAPER: AtomicBool = AtomicBool::new(false);
static MEMORY_LIMIT: AtomicU64 = AtomicU64::new(0);
static VIOLATION: Mutex<Option<u64>> = Mutex::new(None);

/// Makes this process a child subreaper, so that descendants that escape their process
/// group (double fork, `setsid`) are re-parented to us and can be found and killed by
/// [`sweep`]. Returns whether it worked (always `false` outside Linux).
pub fn become_subreaper() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with these arguments only sets a flag on the calling process.
        let ok = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
        SUBREAPER.store(ok, Ordering::SeqCst);
        ok
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Whether [`become_subreaper`] succeeded (sweeps are only done then).
pub fn is_subreaper() -> bool {
    SUBREAPER.load(Ordering::SeqCst)
}

/// One line of the process table.
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgid: i32,
}

/// Every process on the machine, read from `/proc` (empty where there is none).
fn processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut procs = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // it exited while we were reading
        };
        // The command name is in parentheses and may contain spaces or ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // state ppid pgrp …
        let (Some(ppid), Some(pgid)) = (
            fields.get(1).and_then(|s| s.parse().ok()),
            fields.get(2).and_then(|s| s.parse().ok()),
        ) else {
            continue;
        };
        procs.push(Proc { pid, ppid, pgid });
    }
    procs
}

/// The descendants of `root` (not `root` itself), skipping — with their own descendants —
/// the processes for which `protected` is true.
fn descendants(procs: &[Proc], root: i32, protected: &dyn Fn(&Proc) -> bool) -> Vec<Proc> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in procs.iter().filter(|p| p.ppid == parent && p.pid != root) {
            if !protected(p) {
                found.push(*p);
                frontier.push(p.pid);
            }
        }
    }
    found
}

/// Kills and reaps every descendant of this process that does not belong to a live,
/// registered process group (those are torn down by their owners, see `harness`). Repeats
/// until none is left, so that processes forked during the sweep are caught too.
///
/// Does nothing unless this process is a subreaper: otherwise escaped processes are not
/// our descendants any more, and the descendants we do have are all owned by someone.
/// Returns how many processes were killed.
pub fn sweep() -> usize {
    if !is_subreaper() {
        return 0;
    }
    let me = std::process::id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut killed = 0;
    loop {
        // Holding the registry lock means no program is being spawned (and not yet
        // registered) while we decide who is unprotected.
        let registry = cleanup::lock();
        let live = registry.groups();
        let procs = processes();
        let victims = descendants(&procs, me, &|p| live.contains(&p.pgid));
        for v in &victims {
            // SAFETY: kill has no memory-safety preconditions.
            if unsafe { libc::kill(v.pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
            if v.ppid == me {
                // Reap it if it is already a zombie (non-blocking). It is not registered,
                // so no `Child` handle will ever wait for it.
                let mut status = 0;
                // SAFETY: waitpid on a specific pid of ours, status is a valid pointer.
                unsafe {
                    libc::waitpid(v.pid, &mut status, libc::WNOHANG);
                }
            }
        }
        drop(registry);
        if victims.is_empty() || Instant::now() >= deadline {
            return killed;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The applied memory limit in bytes, if any.
pub fn memory_limit() -> Option<u64> {
    match MEMORY_LIMIT.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

/// Starts a thread that watches the resident memory of all this process's descendants
/// (summed: a submission's processes share one limit) and kills them all when it exceeds
/// `limit` bytes. The next [`take_memory_violation`] then reports it. Linux only; a no-op
/// where `/proc` is missing.
pub fn watch_memory(limit: u64) {
    if MEMORY_LIMIT.swap(limit, Ordering::SeqCst) != 0 {
        return; // already watching; the new limit applies
    }
    let me = std::process::id() as i32;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let spawned = thread::Builder::new()
        .name("memory watch".into())
        .spawn(move || loop {
            // Fast enough that a program touching memory at full speed overshoots by a
            // few hundred MiB at most; cheap enough to be invisible on a grading machine.
            thread::sleep(Duration::from_millis(50));
            let limit = MEMORY_LIMIT.load(Ordering::SeqCst);
            let procs = processes();
            let all = descendants(&procs, me, &|_| false);
            let used: u64 = all
                .iter()
                .map(|p| private_resident_pages(p.pid) * page)
                .sum();
            if used > limit {
                // Recorded before the kill: whoever sees the program die must find it.
                {
                    let mut v = VIOLATION.lock().unwrap_or_else(|e| e.into_inner());
                    *v = Some(v.unwrap_or(0).max(used));
                }
                for p in &all {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe {
                        libc::kill(p.pid, libc::SIGKILL);
                    }
                }
            }
        });
    if spawned.is_err() {
        MEMORY_LIMIT.store(0, Ordering::SeqCst);
    }
}

/// Resident pages not backed by a file (heap, stacks): `resident - shared` of `statm`.
/// Counting file-backed pages would charge every process for the shared C library.
fn private_resident_pages(pid: i32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
        return 0;
    };
    let f: Vec<u64> = text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    match (f.get(1), f.get(2)) {
        (Some(resident), Some(shared)) => resident.saturating_sub(*shared),
        _ => 0,
    }
}

/// If the memory watcher killed the submission since the last call, the sentence that
/// says so (with the limit and how much was in use).
pub fn take_memory_violation() -> Option<String> {
    let used = VIOLATION.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    let limit = memory_limit().unwrap_or(0);
    Some(format!(
        "the program exceeded the {} resident-memory limit (it reached {}) and was killed",
        mib(limit),
        mib(used)
    ))
}

/// `1 GiB`, `256 MiB`.
pub fn mib(bytes: u64) -> String {
    let m = bytes / (1 << 20);
    if m >= 1024 && m.is_multiple_of(1024) {
        format!("{} GiB", m / 1024)
    } else {
        format!("{m} MiB")
    }
}

/// Resource limits for a child, applied between fork and exec: no core dumps.
///
/// # Safety
/// Only async-signal-safe calls: meant for `CommandExt::pre_exec`.
pub unsafe fn limit_child() {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    libc::setrlimit(libc::RLIMIT_CORE, &none);
}

/// Moves the calling process into a new network namespace with only a loopback interface,
/// and brings that interface up. Meant for `pre_exec`: after it, the program can bind any
/// port without colliding with anyone, and can reach nothing but itself.
///
/// # Safety
/// Only async-signal-safe calls (raw system calls, no allocation).
///
/// # Errors
/// When the kernel refuses (no `CAP_SYS_ADMIN`, namespaces disabled).
#[cfg(target_os = "linux")]
pub unsafe fn enter_private_network() -> io::Result<()> {
    if libc::unshare(libc::CLONE_NEWNET) != 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut req: libc::ifreq = std::mem::zeroed();
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let mut result = Ok(());
    if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) != 0 {
        result = Err(io::Error::last_os_error());
    } else {
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) != 0 {
            result = Err(io::Error::last_os_error());
        }
    }
    libc::close(fd);
    result
}

/// Network namespaces are Linux-only.
///
/// # Safety
/// Trivially safe; `unsafe` to match the Linux signature.
///
/// # Errors
/// Always: there are no network namespaces here.
#[cfg(not(target_os = "linux"))]
pub unsafe fn enter_private_network() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "network namespaces are Linux-only",
    ))
}

/// Whether this machine lets us give a child its own network namespace: tried for real,
/// by starting `true` in one (a detection, not an assumption).
pub fn private_network_available() -> bool {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("true");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: enter_private_network only makes async-signal-safe calls.
    unsafe {
        cmd.pre_exec(|| enter_private_network());
    }
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

/// Limits of a grading run, on the command line of `grade` (and passed on by `batch`).
#[derive(clap::Args, Debug, Clone)]
pub struct LimitArgs {
    /// Seconds a program may take to start listening, in each test.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    pub startup_limit: u64,
    /// Overall time budget, in seconds: no test starts after it (those left fail, saying so).
    #[arg(long, value_name = "SECONDS")]
    pub budget: Option<u64>,
    /// Limit on the resident memory of the program and all its children, in MiB (Linux).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MEMORY_LIMIT >> 20)]
    pub memory_limit: u64,
}

impl LimitArgs {
    /// Applies the limits to this process: it becomes a subreaper (escaped descendants are
    /// swept at each teardown), its descendants' memory is watched, and later gradings use
    /// the start-up limit and budget.
    pub fn apply(&self) {
        become_subreaper();
        if crate::procfs::available() {
            watch_memory(self.memory_limit.max(1) << 20);
        }
        crate::runner::Limits::configure(crate::runner::Limits {
            startup: Duration::from_secs(self.startup_limit.max(1)),
            budget: self.budget.map(Duration::from_secs),
        });
    }

    /// The same limits as command-line arguments, to pass on to a child `grade`.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--startup-limit".to_string(),
            self.startup_limit.to_string(),
            "--memory-limit".to_string(),
            self.memory_limit.to_string(),
        ];
        if let Some(b) = self.budget {
            args.extend(["--budget".to_string(), b.to_string()]);
        }
        args
    }
}

/// Starts `cmd` contained: in a process group of its own, registered (so that sweeps spare
/// it and Ctrl-C kills it), killed if we die, without core dumps, and, when `private_net`,
/// in a network namespace of its own.
///
/// # Errors
/// When the program cannot be started (or the namespace cannot be created).
pub fn spawn_contained(
    cmd: &mut std::process::Command,
    private_net: bool,
) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: the closure only makes async-signal-safe calls (prctl, setrlimit, unshare,
    // socket, ioctl, close), as required between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            limit_child();
            if private_net {
                enter_private_network()?;
            }
            Ok(())
        });
    }
    // Held across fork, so that a sweep never sees the child unregistered.
    let mut registry = cleanup::lock();
    let child = cmd.spawn()?;
    registry.push(child.id() as i32);
    Ok(child)
}

/// Waits for a child started by [`spawn_contained`] until `deadline`; past it, kills its
/// whole group. Either way the group is forgotten and escaped descendants are swept.
/// Returns the exit status, and whether it had to be killed.
pub fn wait_contained(
    child: &mut std::process::Child,
    deadline: Instant,
) -> (Option<std::process::ExitStatus>, bool) {
    let pgid = child.id() as i32;
    let mut pause = Duration::from_millis(5);
    let mut killed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Ok(None) => {
                killed = true;
                // SAFETY: kill has no memory-safety preconditions; -pgid is the group.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                break child.wait().ok();
            }
            Err(_) => break None,
        }
    };
    // The rest of the group, if any, dies with it.
    // SAFETY: as above.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    cleanup::forget(pgid);
    sweep();
    (status, killed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_skip_protected_subtrees() {
        let procs = [
            Proc {
                pid: 10,
                ppid: 1,
                pgid: 10,
            },
            Proc {
                pid: 11,
                ppid: 10,
                pgid: 11,
            },
            Proc {
                pid: 12,
                ppid: 11,
                pgid: 11,
            },
            Proc {
                pid: 13,
                ppid: 10,
                pgid: 13,
            },
            Proc {
                pid: 14,
                ppid: 13,
                pgid: 99,
            },
        ];
        let mut all: Vec<i32> = descendants(&procs, 10, &|_| false)
            .iter()
            .map(|p| p.pid)
            .collect();
        all.sort();
        assert_eq!(all, [11, 12, 13, 14]);
        let mut some: Vec<i32> = descendants(&procs, 10, &|p| p.pgid == 11)
            .iter()
            .map(|p| p.pid)
            .collect();
        some.sort();
        assert_eq!(some, [13, 14]);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(mib(1 << 30), "1 GiB");
        assert_eq!(mib(256 << 20), "256 MiB");
    }
}
