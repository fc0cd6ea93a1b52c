//! Facts about running processes, read from Linux's `/proc`.
//!
//! Every function returns `None` where `/proc` does not have the answer (another OS, a
//! restricted container), so that tests depending on it can report themselves as skipped
//! instead of passing silently.

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

/// The pids of all processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Option<Vec<u32>> {
    let entries = fs::read_dir("/proc").ok()?;
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if stat_fields(pid).and_then(|f| f.get(2).and_then(|s| s.parse::<i32>().ok())) == Some(pgid)
        {
            pids.push(pid);
        }
    }
    Some(pids)
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
    let entries = fs::read_dir("/proc").ok()?;
    let mut kids = Vec::new();
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if stat_fields(child).and_then(|f| f.get(1).and_then(|s| s.parse::<u32>().ok()))
            == Some(pid)
        {
            kids.push(child);
        }
    }
    Some(kids)
}

/// When `pid` started, in clock ticks since boot (orders processes by age).
pub fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// CPU time (user + system) used by `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let f = stat_fields(pid)?;
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks as f64 / hz as f64)
}

/// Resident memory of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
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
}
