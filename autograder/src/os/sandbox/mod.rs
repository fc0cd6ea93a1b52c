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

pub mod bwrap;
pub mod cgroup;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use bwrap::Bwrap;
use cgroup::{Cgroup, CgroupLimits};
use rustix::mount::{MountFlags, MountPropagationFlags};
use rustix::process::{kill_process, kill_process_group, Pid, Signal, WaitOptions};

use crate::os::{cleanup, procfs};

/// The default limit on a submission's memory.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

/// Whether this process became a subreaper. The one process-wide fact here: it is a
/// property of the process itself.
static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Makes this process a child subreaper, so that descendants that escape their process
/// group (double fork, `setsid`) are re-parented to us and can be found and killed by
/// [`sweep`]. Returns whether it worked (always `false` outside Linux).
pub fn become_subreaper() -> bool {
    #[cfg(target_os = "linux")]
    {
        // prctl(PR_SET_CHILD_SUBREAPER): rustix takes a pid, the kernel reads any non-zero
        // value as "on".
        let ok = rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok();
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

/// Gives `path` and everything under it to `uid` (and its group), without following
/// symbolic links: what a sandbox running as `uid` must be able to write.
///
/// # Errors
/// When an entry cannot be read or changed.
pub fn chown_tree(path: &std::path::Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
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
        let procs = procfs::processes().unwrap_or_default();
        let victims = procfs::descendants(&procs, me, &|p| live.contains(&p.pgid));
        for v in &victims {
            let Some(pid) = Pid::from_raw(v.pid) else {
                continue;
            };
            if kill_process(pid, Signal::KILL).is_ok() {
                killed += 1;
            }
            if v.ppid == me {
                // Reap it if it is already a zombie (non-blocking). It is not registered,
                // so no `Child` handle will ever wait for it.
                let _ = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG);
            }
        }
        drop(registry);
        if victims.is_empty() || Instant::now() >= deadline {
            return killed;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// How a program is contained: limits, and optionally a sandbox. One value per run,
/// handed to every spawn (never process-wide state), so that two tests running at once
/// each get their own group, their own limit and their own blame.
#[derive(Debug, Clone, Default)]
pub struct Containment {
    /// Memory of the program and all its processes together, in bytes.
    pub memory_limit: Option<u64>,
    /// Tasks (processes and threads) at once, where a cgroup can enforce it.
    pub max_tasks: Option<u64>,
    /// CPUs' worth of time, where a cgroup can enforce it.
    pub max_cpus: Option<u32>,
    /// The bubblewrap sandbox to run it in, if any.
    pub sandbox: Option<Bwrap>,
    /// Without a sandbox, as root: run the program under this uid, so that it cannot
    /// write the grader's files or read its results (see `batch`).
    pub run_as: Option<u32>,
}

/// The uid of `nobody`: what a program runs as when root grades it and nothing else is said.
pub const NOBODY: u32 = 65534;

/// Whether the grader runs as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// CPUs per program when nothing else is said: enough for every rubric test (none measures
/// speed), and on a 2-core machine grading two submissions at once, a program spinning on
/// every core still leaves one for its neighbour and the grader.
pub const DEFAULT_CPUS: u32 = 1;

/// Processes per program when nothing else is said: far above what a thread-per-connection
/// server needs for the rubric's clients, far below what makes a machine unusable.
pub const DEFAULT_MAX_TASKS: u64 = 2048;

impl Containment {
    /// The uid the program runs as, when it is not ours.
    pub fn uid(&self) -> Option<u32> {
        self.sandbox.as_ref().map_or(self.run_as, |s| s.uid)
    }

    /// One sentence for reports: how the program is contained.
    pub fn describe(&self) -> String {
        let memory = self
            .memory_limit
            .map(|m| format!(", memory limit {}", crate::output::bytes(m)))
            .unwrap_or_default();
        match (&self.sandbox, self.run_as) {
            (Some(s), _) => format!(
                "sandboxed (bubblewrap{}{memory})",
                s.uid.map(|u| format!(", uid {u}")).unwrap_or_default()
            ),
            (None, Some(uid)) => format!("not sandboxed: run as uid {uid}{memory}"),
            (None, None) => format!("not sandboxed{memory}"),
        }
    }
}

/// What holds one running program to its limits, owned by that program's handle: its
/// cgroup where one can be made, the `/proc` watcher otherwise.
#[derive(Debug)]
pub enum Guard {
    /// No memory limit was asked for.
    None,
    /// A control group of its own.
    Cgroup(Cgroup),
    /// A thread that samples the program's memory.
    Watcher(MemoryWatch),
}

impl Guard {
    /// Prepares the guard for a program about to start: a cgroup if the machine gives one.
    pub fn before_spawn(containment: &Containment) -> Guard {
        match containment.memory_limit {
            None => Guard::None,
            Some(memory) => Cgroup::create(CgroupLimits {
                memory,
                tasks: containment.max_tasks.unwrap_or(DEFAULT_MAX_TASKS),
                cpus: containment.max_cpus.unwrap_or(DEFAULT_CPUS),
            })
            .map_or(Guard::None, Guard::Cgroup),
        }
    }

    /// Completes the guard once the program runs as `pid`: without a cgroup, starts the
    /// watcher on it.
    pub fn after_spawn(&mut self, containment: &Containment, pid: i32) {
        if let (Guard::None, Some(limit)) = (&*self, containment.memory_limit) {
            if crate::os::procfs::available() {
                *self = Guard::Watcher(MemoryWatch::start(pid, limit));
            }
        }
    }

    /// If the program was killed for its memory, the sentence that says so.
    pub fn memory_violation(&self) -> Option<String> {
        let (limit, used) = match self {
            Guard::None => return None,
            Guard::Cgroup(group) => {
                if !group.memory_killed() {
                    return None;
                }
                (group.memory_limit()?, group.peak_memory()?)
            }
            Guard::Watcher(watch) => (watch.limit, watch.violation()?),
        };
        Some(format!(
            "the program exceeded the {} memory limit (it reached {}) and was killed",
            crate::output::bytes(limit),
            crate::output::bytes(used)
        ))
    }

    /// Kills whatever of the program is still in its cgroup.
    pub fn kill_all(&self) {
        if let Guard::Cgroup(group) = self {
            group.kill_all();
        }
    }
}

/// A thread that watches the memory of one program (its process and all descendants,
/// summed) and kills them all past a limit. Stops when dropped.
#[derive(Debug)]
pub struct MemoryWatch {
    limit: u64,
    violation: Arc<Mutex<Option<u64>>>,
    stop: Arc<AtomicBool>,
}

impl MemoryWatch {
    /// Starts watching `pid` and its descendants.
    pub fn start(pid: i32, limit: u64) -> MemoryWatch {
        let violation = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (Arc::clone(&violation), Arc::clone(&stop));
        let _ = thread::Builder::new()
            .name("memory watch".into())
            .spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    // Fast enough that a program touching memory at full speed overshoots
                    // by a few hundred MiB at most; cheap enough to be invisible.
                    thread::sleep(Duration::from_millis(50));
                    let procs = procfs::processes().unwrap_or_default();
                    let mut all = procfs::descendants(&procs, pid, &|_| false);
                    if let Some(me) = procs.iter().find(|p| p.pid == pid) {
                        all.push(*me);
                    }
                    let used: u64 = all.iter().map(|p| private_memory(p.pid)).sum();
                    if used > limit {
                        // Recorded before the kill: whoever sees the program die must find it.
                        {
                            let mut v = seen.lock().unwrap_or_else(|e| e.into_inner());
                            *v = Some(v.unwrap_or(0).max(used));
                        }
                        for pid in all.iter().filter_map(|p| Pid::from_raw(p.pid)) {
                            let _ = kill_process(pid, Signal::KILL);
                        }
                    }
                }
            });
        MemoryWatch {
            limit,
            violation,
            stop,
        }
    }

    /// The memory in use when the limit was passed, if it was.
    pub fn violation(&self) -> Option<u64> {
        *self.violation.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Memory of `pid` that no file backs, in bytes: anonymous pages (heap, stacks) and shared
/// memory (`MAP_SHARED` anonymous mappings, `/dev/shm`), which `statm`'s "shared" would
/// wrongly let a program hide. Libraries mapped from files are not counted.
fn private_memory(pid: i32) -> u64 {
    let field = |key| procfs::status_bytes(pid as u32, key).unwrap_or(0);
    field("RssAnon:") + field("RssShmem:")
}

/// Resource limits for a child, applied between fork and exec: no core dumps, the usual
/// soft limit on open files.
///
/// Only async-signal-safe calls, so it may run in `CommandExt::pre_exec`: rustix's
/// getrlimit/setrlimit are single system calls that neither allocate nor lock.
pub fn limit_child() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    let _ = setrlimit(Resource::Core, none);
    // Every program starts with the usual soft limit on open files (what a login shell
    // gives, and what a student's own machine has), whatever the grader raised its own to
    // or the container's default is: a server that must raise it, or that is built on
    // select() and FD_SETSIZE, shows it in the grader as it would in the world.
    let mut files = getrlimit(Resource::Nofile);
    // `None` is RLIM_INFINITY, above every number.
    files.current = Some(
        files
            .maximum
            .map_or(USUAL_OPEN_FILES, |max| max.min(USUAL_OPEN_FILES)),
    );
    let _ = setrlimit(Resource::Nofile, files);
}

/// The soft limit on open files most systems give a process (Linux's default, and
/// `FD_SETSIZE` for `select()`).
pub const USUAL_OPEN_FILES: u64 = 1024;

/// Moves this process into a mount namespace of its own whose mounts do not propagate
/// back, so that binds made for its sandboxes are seen by it and its children only, and
/// vanish with it. Requires root, and a single-threaded process.
///
/// # Errors
/// When the kernel refuses.
pub fn private_mounts() -> io::Result<()> {
    // SAFETY: `unshare_unsafe` is unsafe only for `UnshareFlags::FILES` (threads that
    // would then see different descriptor tables); a mount namespace has no such effect.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
    rustix::mount::mount_change(
        c"/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )?;
    Ok(())
}

/// Binds `from` on `to`, read-only (in this process's mount namespace).
///
/// # Errors
/// When the kernel refuses.
pub fn bind_read_only(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    rustix::mount::mount_bind_recursive(from, to)?;
    // A bind's own flags change only with MS_BIND | MS_REMOUNT (mount_remount adds the
    // latter), and with no data: rustix passes an empty string for it, which a bind
    // remount ignores.
    rustix::mount::mount_remount(
        to,
        MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
        c"",
    )?;
    Ok(())
}

/// Mounts a tmpfs of `size` bytes on `path` (in this process's mount namespace), enterable
/// by others (mode 0711), so a sandbox's uid reaches its own folder inside and nothing else.
///
/// # Errors
/// When the kernel refuses.
pub fn mount_tmpfs(path: &std::path::Path, size: u64) -> io::Result<()> {
    let options = std::ffi::CString::new(format!("size={size},mode=0711"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    rustix::mount::mount(
        c"tmpfs",
        path,
        c"tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        options.as_c_str(),
    )?;
    Ok(())
}

/// Detaches the mount at `path`, if any.
pub fn unmount(path: &std::path::Path) {
    let _ = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH);
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
    // SAFETY: `unshare_unsafe` is unsafe only for `UnshareFlags::FILES` (threads that
    // would then see different descriptor tables); a network namespace has no such effect.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET)? };
    bring_loopback_up()
}

/// Brings the loopback interface of the caller's network namespace up (a new namespace
/// has one, down). Only raw system calls, so it is also usable between fork and exec.
#[cfg(target_os = "linux")]
fn bring_loopback_up() -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // Closed when dropped, on every path below.
    let socket = rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    // libc, not rustix, from here: rustix wraps no SIOCGIFFLAGS/SIOCSIFFLAGS (its
    // `netdevice` module maps names to indices only), and its generic `ioctl` would still
    // need libc's `ifreq`.
    // SAFETY: `ifreq` is plain old data, for which all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: an open socket, and a valid `ifreq` naming "lo" that these ioctls read (and
    // the first fills in); reading `ifru_flags` after SIOCGIFFLAGS wrote it is sound.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) != 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
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

/// Moves this very process (not a child) into a network namespace of its own, with only
/// a loopback interface, up: the same namespace [`enter_private_network`] gives a child,
/// for a grader that must see its programs' packets (`--capture`). As root, that is all;
/// as anyone else, a user namespace first (which makes the network namespace possible
/// where the kernel allows unprivileged user namespaces), with our uid and gid mapped to
/// themselves: files we write stay ours, and the programs we start have no more rights
/// than before. Until it execs, this process holds every capability over the new
/// namespaces (CAP_NET_RAW for a packet socket among them), and nothing outside them.
///
/// Must be called while the process has one thread (the kernel refuses a user namespace
/// to a threaded process, and a thread started earlier would stay behind).
///
/// # Errors
/// When the kernel refuses (user namespaces disabled or exhausted, no privileges).
#[cfg(target_os = "linux")]
pub fn move_into_private_network() -> io::Result<()> {
    use rustix::thread::UnshareFlags;
    if is_root() {
        // SAFETY: only system calls, in this process; see `enter_private_network`.
        return unsafe { enter_private_network() };
    }
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    // SAFETY: `unshare_unsafe` is unsafe only for `UnshareFlags::FILES`.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNET)? };
    // An unprivileged process may map only its own ids, and its gid only once it has given
    // up setgroups(2) (which could otherwise drop a group that denies it access).
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{0} {0} 1", uid.as_raw()))?;
    std::fs::write("/proc/self/gid_map", format!("{0} {0} 1", gid.as_raw()))?;
    bring_loopback_up()
}

/// Network namespaces are Linux-only.
///
/// # Errors
/// Always: there are no network namespaces here.
#[cfg(not(target_os = "linux"))]
pub fn move_into_private_network() -> io::Result<()> {
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

/// Sets up a child between fork and exec: its own process group, joined to its cgroup
/// (by writing `0`, "this process", into each of `joins`), optionally in a network
/// namespace of its own, killed if the grader dies, no core dumps.
pub fn configure_child(
    cmd: &mut std::process::Command,
    joins: Vec<std::fs::File>,
    private_net: bool,
) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (write, unshare, socket, ioctl, close, prctl, getrlimit, setrlimit),
    // through rustix's non-allocating wrappers or libc; `joins` was opened before the fork
    // and the closure owns it, so every descriptor it writes to is open.
    unsafe {
        cmd.pre_exec(move || {
            for file in &joins {
                if rustix::io::write(file, b"0")? != 1 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
            }
            if private_net {
                enter_private_network()?;
            }
            // Last: std has switched uid by now, and a uid change clears this signal.
            #[cfg(target_os = "linux")]
            let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
            limit_child();
            Ok(())
        });
    }
}

/// Starts `cmd` contained: in a process group of its own, registered (so that sweeps spare
/// it and Ctrl-C kills it), in a cgroup of its own when `contain` asks for a memory limit
/// and the machine has one, killed if we die, without core dumps, and, when
/// `private_net`, in a network namespace of its own. The guard goes with the child.
///
/// # Errors
/// When the program cannot be started (or the namespace cannot be created).
pub fn spawn_contained(
    cmd: &mut std::process::Command,
    private_net: bool,
    contain: &Containment,
) -> io::Result<(std::process::Child, Guard)> {
    let mut guard = Guard::before_spawn(contain);
    let joins = match &guard {
        Guard::Cgroup(group) => group.join_files()?,
        _ => Vec::new(),
    };
    configure_child(cmd, joins, private_net);
    // Held across fork, so that a sweep never sees the child unregistered.
    let mut registry = cleanup::lock();
    let child = cmd.spawn()?;
    registry.push(child.id() as i32);
    drop(registry);
    guard.after_spawn(contain, child.id() as i32);
    Ok((child, guard))
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
                kill_group(pgid);
                break child.wait().ok();
            }
            Err(_) => break None,
        }
    };
    // The rest of the group, if any, dies with it.
    kill_group(pgid);
    cleanup::forget(pgid);
    sweep();
    (status, killed)
}

/// SIGKILL to every process in group `pgid` (nothing for a pgid that names no group).
fn kill_group(pgid: i32) {
    if let Some(group) = Pid::from_raw(pgid) {
        let _ = kill_process_group(group, Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_child_has_no_core_dumps_and_the_usual_open_files_limit() {
        // Whatever our own limits are: the child's soft limit is the usual one, or the hard
        // limit when that is lower.
        crate::os::process::raise_open_files_limit();
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        let expected = hard.map_or(USUAL_OPEN_FILES, |h| h.min(USUAL_OPEN_FILES));
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "ulimit -c; ulimit -n"]);
        // Allow core dumps first (hooks run in order), so that a missing RLIMIT_CORE shows
        // even where the machine's default is already 0 (not raised without privilege).
        // SAFETY: one setrlimit system call, async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                let mib = Some(1 << 20);
                let some_core = rustix::process::Rlimit {
                    current: mib,
                    maximum: mib,
                };
                let _ = rustix::process::setrlimit(rustix::process::Resource::Core, some_core);
                Ok(())
            });
        }
        configure_child(&mut cmd, Vec::new(), false);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("0\n{expected}\n")
        );
    }
}
