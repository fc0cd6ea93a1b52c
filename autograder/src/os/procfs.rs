//! Facts about running processes, read from Linux's `/proc/PID/…` and `/proc/net`: the one
//! module that reads them (probes ask a [`crate::os::process::Process`] instead).
//!
//! Every function returns `None` where `/proc` does not have the answer (another OS, a
//! restricted container), so that tests depending on it can report themselves as skipped
//! instead of passing silently. Questions about a family of processes (a group's members,
//! children, descendants) are all answered from one table, [`processes`].

use std::fs;
use std::path::Path;

/// Whether `/proc` looks like Linux's (has `/proc/self/stat`).
pub fn available() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// Inodes of the TCP sockets in LISTEN state on local `port` (IPv4 and IPv6).
pub fn listening_inodes(port: u16) -> Option<Vec<u64>> {
    tcp_inodes(TCP_LISTEN, port)
}

/// `/proc/net/tcp`'s code for LISTEN.
const TCP_LISTEN: &str = "0A";
/// `/proc/net/tcp`'s code for CLOSE_WAIT: the peer has closed, this side has not.
const TCP_CLOSE_WAIT: &str = "08";

/// How many connections on local `port` process `pid` still holds although their clients
/// have closed them (CLOSE_WAIT): the program never noticed the end of those streams.
/// `None` without /proc (or when `pid`'s descriptors cannot be read).
pub fn close_wait_count(pid: u32, port: u16) -> Option<usize> {
    let waiting = tcp_inodes(TCP_CLOSE_WAIT, port)?;
    let held = socket_inodes(pid);
    if held.is_empty() {
        return None;
    }
    Some(waiting.iter().filter(|i| held.contains(i)).count())
}

/// Inodes of the TCP sockets in `state` (the table's hex code) on local `port`.
fn tcp_inodes(state: &str, port: u16) -> Option<Vec<u64>> {
    let mut inodes = Vec::new();
    let mut any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        any = true;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if fields.len() < 10 || fields[3] != state {
                continue;
            }
            let local_port = fields[1]
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if local_port == Some(port) {
                if let Ok(inode) = fields[9].parse() {
                    inodes.push(inode);
                }
            }
        }
    }
    any.then_some(inodes)
}

/// One line of the process table: a process, its parent and its process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    /// Its process id.
    pub pid: i32,
    /// Its parent's.
    pub ppid: i32,
    /// Its process group's.
    pub pgid: i32,
}

/// Every process on the machine: the one walk of `/proc` that the questions about
/// families (a group's members, a process's children or descendants) are answered from.
/// `None` without `/proc`.
pub fn processes() -> Option<Vec<Proc>> {
    let entries = fs::read_dir("/proc").ok()?;
    let mut procs = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // It may exit while we read: then it is not in the table.
        let Some(fields) = stat_fields(pid as u32) else {
            continue;
        };
        let number = |i: usize| fields.get(i).and_then(|s| s.parse::<i32>().ok());
        if let (Some(ppid), Some(pgid)) = (number(1), number(2)) {
            procs.push(Proc { pid, ppid, pgid });
        }
    }
    Some(procs)
}

/// The processes of a program started as the leader of group `pgid`: the members of its
/// group, and its descendants that left the group (a sandbox's init, a `setsid` child),
/// from one walk of `/proc`. `None` without `/proc`.
pub fn program_members(pgid: i32) -> Option<Vec<u32>> {
    let procs = processes()?;
    let mut members: Vec<u32> = procs
        .iter()
        .filter(|p| p.pgid == pgid)
        .chain(&descendants(&procs, pgid, &|_| false))
        .map(|p| p.pid as u32)
        .collect();
    members.sort_unstable();
    members.dedup();
    Some(members)
}

/// The descendants of `root` in `procs` (not `root` itself), skipping — with their own
/// descendants — the processes for which `protected` is true.
pub fn descendants(procs: &[Proc], root: i32, protected: &dyn Fn(&Proc) -> bool) -> Vec<Proc> {
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

/// The fields of `/proc/PID/stat` after the command name, starting with the state
/// (so index 0 is `state`, 1 is `ppid`, 2 is `pgrp`, 11 is `utime`, 12 is `stime`,
/// 17 is `num_threads`, 21 is `rss` in pages).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// Inodes of the sockets process `pid` holds open.
pub fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let t = target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?;
            t.parse().ok()
        })
        .collect()
}

/// Number of open file descriptors of `pid`.
pub fn fd_count(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Number of threads of `pid`.
pub fn thread_count(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/task")).ok()?.count())
}

/// Pids whose parent is `pid`.
pub fn children(pid: u32) -> Option<Vec<u32>> {
    let procs = processes()?;
    Some(
        procs
            .iter()
            .filter(|p| p.ppid == pid as i32)
            .map(|p| p.pid as u32)
            .collect(),
    )
}

/// When `pid` started, in clock ticks since boot (orders processes by age).
pub fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// CPU time (user + system) used by `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let f = stat_fields(pid)?;
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // sysconf(_SC_CLK_TCK); 0 if the auxiliary vector could not be read.
    let hz = rustix::param::clock_ticks_per_second();
    (hz > 0).then(|| ticks as f64 / hz as f64)
}

/// Resident memory of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmRSS:")
}

/// The largest resident memory `pid` has had, in bytes (its high-water mark).
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmHWM:")
}

/// A size field of `/proc/PID/status` (`VmRSS:`, `RssAnon:`, …), given there in KiB, in
/// bytes. `None` when the process is gone or the kernel has no such field.
pub fn status_bytes(pid: u32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Whether `pid` has ended: gone, or a zombie waiting to be reaped (`None` without /proc).
pub fn exited(pid: u32) -> Option<bool> {
    if !available() {
        return None;
    }
    Some(match stat_fields(pid) {
        None => true,
        Some(fields) => fields
            .first()
            .is_some_and(|state| state == "Z" || state == "X"),
    })
}

/// Time `pid`'s threads spent running or waiting for a CPU, in seconds, from
/// `/proc/PID/task/*/schedstat` (absent on kernels without scheduler statistics).
pub fn busy_seconds(pid: u32) -> Option<f64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total_ns: u64 = 0;
    for task in tasks.flatten() {
        let text = fs::read_to_string(task.path().join("schedstat")).ok()?;
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
        total_ns += fields.next()??.saturating_add(fields.next()??);
    }
    Some(total_ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_our_own_listener_and_threads() {
        if !available() {
            eprintln!("skipped: no /proc here");
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inodes = listening_inodes(port).unwrap();
        let ours = socket_inodes(std::process::id());
        let mine: Vec<u64> = inodes.into_iter().filter(|i| ours.contains(i)).collect();
        assert_eq!(mine.len(), 1, "our listener is not in the table");
        assert!(thread_count(std::process::id()).unwrap() >= 1);
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        drop(listener);
        // Another test may be handed the same free port at once, and a child another test
        // forks holds a copy of our descriptors until it executes its program: wait for
        // ours to be gone, with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while listening_inodes(port).unwrap().contains(&mine[0]) {
            assert!(
                std::time::Instant::now() < deadline,
                "our listener is still listed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn descendants_skip_protected_subtrees() {
        let proc = |pid, ppid, pgid| Proc { pid, ppid, pgid };
        let procs = [
            proc(10, 1, 10),
            proc(11, 10, 11),
            proc(12, 11, 11),
            proc(13, 10, 13),
            proc(14, 13, 99),
        ];
        let pids = |found: Vec<Proc>| {
            let mut pids: Vec<i32> = found.iter().map(|p| p.pid).collect();
            pids.sort();
            pids
        };
        assert_eq!(pids(descendants(&procs, 10, &|_| false)), [11, 12, 13, 14]);
        assert_eq!(pids(descendants(&procs, 10, &|p| p.pgid == 11)), [13, 14]);
    }

    #[test]
    fn the_table_knows_our_family() {
        if !available() {
            eprintln!("skipped: no /proc here");
            return;
        }
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id();
        let kids = children(me).unwrap();
        let group = program_members(stat_fields(me).unwrap()[2].parse().unwrap()).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(kids.contains(&child.id()), "{kids:?}");
        assert!(
            group.contains(&me) && group.contains(&child.id()),
            "{group:?}"
        );
        assert_eq!(exited(child.id()), Some(true));
        assert_eq!(exited(me), Some(false));
    }
}
