//! A control group per contained program: exact limits on memory (shared memory and tmpfs
//! included) and on the number of processes, and a kill that reaches every member.
//!
//! Why a cgroup and not the `/proc` watcher alone: the watcher samples, so a program
//! allocating at full speed overshoots between samples; it cannot see memory that belongs
//! to no process (files in a tmpfs, `MAP_SHARED` segments whose mapper exited); and a
//! process that forks faster than the walk can keep a step ahead. The kernel accounts for
//! all of these in the cgroup and enforces the limit on the allocation itself.
//!
//! Where one can be had:
//! - cgroup v1 (`memory` and `pids` hierarchies mounted separately) when we may create
//!   groups below our own, which in practice means root;
//! - cgroup v2 when our own group already delegates the `memory` and `pids` controllers to
//!   its children (`cgroup.subtree_control`), as systemd does for a delegated scope.
//!
//! Elsewhere [`Cgroup::create`] returns `None` and the caller falls back on the watcher.
//! Each group belongs to one program: its limit, its kill and its "was it the memory?" are
//! never shared with another test's program.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// The limits a group enforces.
#[derive(Debug, Clone, Copy)]
pub struct CgroupLimits {
    /// Memory of all members together, in bytes: anonymous, shared, tmpfs and page cache.
    pub memory: u64,
    /// Tasks (processes and threads) at once.
    pub tasks: u64,
    /// CPUs' worth of time per period (where the `cpu` controller is there): a program
    /// spinning on every core cannot slow the other submission graded beside it.
    pub cpus: u32,
}

/// The scheduler's accounting period for CPU quotas, in microseconds (the kernel default).
const CPU_PERIOD_US: u64 = 100_000;

/// A control group made for one program; removed (after killing what is left in it) when
/// dropped.
#[derive(Debug)]
pub struct Cgroup {
    /// One directory per hierarchy: v2 has one, v1 one for `memory` and one for `pids`
    /// (and one for `cpu` where that hierarchy lets us in).
    dirs: Vec<PathBuf>,
    v2: bool,
}

/// Where new groups are made.
#[derive(Debug, Clone)]
enum Parent {
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpu: Option<PathBuf>,
    },
    V2 {
        dir: PathBuf,
        cpu: bool,
    },
}

impl Cgroup {
    /// Makes a new group with `limits`, or `None` where this machine does not let us.
    pub fn create(limits: CgroupLimits) -> Option<Cgroup> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let parent = parent()?;
        let name = format!(
            "netlabs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let group = match parent {
            Parent::V1 { memory, pids, cpu } => {
                let mut group = Cgroup {
                    dirs: vec![memory.join(&name), pids.join(&name)],
                    v2: false,
                };
                if let Some(cpu) = cpu {
                    group.dirs.push(cpu.join(&name));
                }
                for dir in &group.dirs {
                    fs::create_dir(dir).ok()?;
                }
                let memory = group.dirs[0].as_path();
                write(memory, "memory.limit_in_bytes", limits.memory).ok()?;
                // With swap accounting, memory+swap gets the same bound: no escape to swap.
                // (Absent when the kernel does not account swap; then there is none to use.)
                let _ = write(memory, "memory.memsw.limit_in_bytes", limits.memory);
                write(&group.dirs[1], "pids.max", limits.tasks).ok()?;
                if let Some(cpu) = group.dirs.get(2) {
                    write(cpu, "cpu.cfs_period_us", CPU_PERIOD_US).ok()?;
                    write(
                        cpu,
                        "cpu.cfs_quota_us",
                        CPU_PERIOD_US * u64::from(limits.cpus),
                    )
                    .ok()?;
                }
                group
            }
            Parent::V2 { dir: parent, cpu } => {
                let group = Cgroup {
                    dirs: vec![parent.join(&name)],
                    v2: true,
                };
                fs::create_dir(&group.dirs[0]).ok()?;
                let dir = group.dirs[0].as_path();
                write(dir, "memory.max", limits.memory).ok()?;
                let _ = write(dir, "memory.swap.max", 0);
                write(dir, "pids.max", limits.tasks).ok()?;
                if cpu {
                    let quota = CPU_PERIOD_US * u64::from(limits.cpus);
                    fs::write(dir.join("cpu.max"), format!("{quota} {CPU_PERIOD_US}")).ok()?;
                }
                group
            }
        };
        Some(group)
    }

    /// The `cgroup.procs` files a new process writes `0` into to join the group, opened
    /// now (close-on-exec), because between fork and exec nothing may allocate.
    ///
    /// # Errors
    /// When a file cannot be opened.
    pub fn join_files(&self) -> io::Result<Vec<fs::File>> {
        self.dirs
            .iter()
            .map(|d| {
                fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("cgroup.procs"))
            })
            .collect()
    }

    /// Whether the kernel killed a member because the group ran out of memory.
    pub fn memory_killed(&self) -> bool {
        let (file, key) = if self.v2 {
            ("memory.events", "oom_kill")
        } else {
            ("memory.oom_control", "oom_kill")
        };
        counter(&self.dirs[0].join(file), key).is_some_and(|n| n > 0)
    }

    /// The most memory the group has held, in bytes.
    pub fn peak_memory(&self) -> Option<u64> {
        self.memory_number("memory.peak", "memory.max_usage_in_bytes")
    }

    /// The memory limit it enforces, in bytes.
    pub fn memory_limit(&self) -> Option<u64> {
        self.memory_number("memory.max", "memory.limit_in_bytes")
    }

    /// A number from the memory controller's file: named `v2` or `v1` by the version.
    fn memory_number(&self, v2: &str, v1: &str) -> Option<u64> {
        let file = if self.v2 { v2 } else { v1 };
        fs::read_to_string(self.dirs[0].join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn members(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| {
                t.split_whitespace()
                    .filter_map(|s| s.parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Kills every member, and keeps killing until the group is empty (a member may fork
    /// while it is being killed; `pids.max` bounds how long that can go on) or 5 s pass.
    pub fn kill_all(&self) {
        if self.v2 {
            // One atomic kill of the whole group, where the kernel has it (5.14+).
            let _ = write(&self.dirs[0], "cgroup.kill", 1);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let members = self.members();
            if members.is_empty() || Instant::now() >= deadline {
                return;
            }
            for pid in members.into_iter().filter_map(Pid::from_raw) {
                let _ = kill_process(pid, Signal::KILL);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.kill_all();
        // A group can only be removed once its last member is reaped: retry briefly.
        let deadline = Instant::now() + Duration::from_secs(2);
        for dir in &self.dirs {
            while fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn write(dir: &Path, file: &str, value: u64) -> io::Result<()> {
    fs::write(dir.join(file), value.to_string())
}

/// `key N` in a flat-keyed cgroup file.
fn counter(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Where this process may make groups, found once.
fn parent() -> Option<Parent> {
    static PARENT: std::sync::OnceLock<Option<Parent>> = std::sync::OnceLock::new();
    PARENT.get_or_init(find_parent).clone()
}

fn find_parent() -> Option<Parent> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    // v1: a hierarchy per controller, "ID:memory:/path".
    let v1 = |controller: &str| -> Option<PathBuf> {
        let path = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
            list.split(',').any(|c| c == controller).then_some(path)
        })?;
        let dir = mount_of(&mounts, "cgroup", controller, path)?;
        writable_dir(&dir).then_some(dir)
    };
    if let (Some(memory), Some(pids)) = (v1("memory"), v1("pids")) {
        return Some(Parent::V1 {
            memory,
            pids,
            cpu: v1("cpu"),
        });
    }
    // v2: one hierarchy, "0::/path"; usable only if our group hands both controllers on.
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = mount_of(&mounts, "cgroup2", "", path)?;
    let delegated = fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
    let has = |c: &str| delegated.split_whitespace().any(|d| d == c);
    (has("memory") && has("pids") && writable_dir(&dir)).then_some(Parent::V2 {
        cpu: has("cpu"),
        dir,
    })
}

/// The directory of cgroup `path` under the mount of file system `fstype` (for v1, the one
/// whose options name `controller`).
fn mount_of(mountinfo: &str, fstype: &str, controller: &str, path: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS … - FSTYPE SOURCE SUPEROPTIONS"
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        if right.next()? != fstype {
            return None;
        }
        let super_options = right.nth(1).unwrap_or("");
        if !controller.is_empty() && !super_options.split(',').any(|o| o == controller) {
            return None;
        }
        let fields: Vec<&str> = left.split_whitespace().collect();
        let (root, mountpoint) = (fields.get(3)?, fields.get(4)?);
        // Inside a cgroup namespace the mount's root is our group, and paths are relative.
        let relative = path.strip_prefix(root).unwrap_or(path);
        let dir = Path::new(mountpoint).join(relative.trim_start_matches('/'));
        dir.is_dir().then_some(dir)
    })
}

fn writable_dir(dir: &Path) -> bool {
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_holds_a_spinning_program_to_its_cpu_quota() {
        let Some(group) = Cgroup::create(CgroupLimits {
            memory: 256 << 20,
            tasks: 64,
            cpus: 1,
        }) else {
            eprintln!("skipped: no cgroup can be made here");
            return;
        };
        if group.dirs.len() < 3 && !group.v2 {
            eprintln!("skipped: no cpu controller here");
            return;
        }
        // Two processes spinning: unbounded they would take two cores on this machine.
        let joins = group.join_files().unwrap();
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "while :; do :; done & while :; do :; done"]);
        crate::os::sandbox::configure_child(&mut cmd, joins, false);
        let mut child = cmd.spawn().unwrap();
        // Both spinners running before the measurement starts.
        let deadline = Instant::now() + Duration::from_secs(5);
        while group.members().len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        let before = group_cpu_seconds(&group);
        std::thread::sleep(Duration::from_millis(1500));
        let used = group_cpu_seconds(&group) - before;
        let wall = started.elapsed().as_secs_f64();
        group.kill_all();
        let _ = child.wait();
        // An upper bound: a busy machine only lowers what the program gets.
        assert!(used <= wall * 1.2, "used {used:.2} s of CPU in {wall:.2} s");
    }

    /// CPU seconds used by the group's members so far, from `/proc`.
    fn group_cpu_seconds(group: &Cgroup) -> f64 {
        group
            .members()
            .iter()
            .filter_map(|&pid| crate::os::procfs::cpu_seconds(pid as u32))
            .sum()
    }

    #[test]
    fn finds_a_v1_hierarchy_and_strips_a_namespaced_root() {
        let mounts = "32 31 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                      33 31 0:30 /box /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        // Paths that do not exist here are not returned: check the parsing on `/`.
        assert_eq!(mount_of(mounts, "cgroup", "cpu", "/a"), None);
        let here = "40 1 0:31 /box / rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            mount_of(here, "cgroup", "memory", "/box/tmp"),
            Some(PathBuf::from("/tmp"))
        );
    }

    #[test]
    fn reads_flat_keyed_counters() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.events");
        fs::write(&file, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n").unwrap();
        assert_eq!(counter(&file, "oom_kill"), Some(2));
        assert_eq!(counter(&file, "oom_group_kill"), None);
    }
}
