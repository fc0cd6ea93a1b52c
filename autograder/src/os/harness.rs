//! Starting the program under test, knowing when it is ready, and always tearing it down.
//!
//! The rules, in order of importance:
//!
//! 1. **No survivor, ever.** Each program starts in a process group of its own; teardown
//!    sends SIGTERM to the whole group, waits a short grace period, then SIGKILLs what is
//!    left. On Linux the child also gets `PR_SET_PDEATHSIG`, and if the grader itself is
//!    interrupted (Ctrl-C), a signal handler kills every live group before exiting. When
//!    the grader is a child subreaper, teardown also sweeps descendants that left the
//!    group (see `sandbox`).
//! 2. **Never hang.** Every wait has a deadline.
//! 3. **Never blame a student for the machine.** Ports are picked below the kernel's
//!    ephemeral range (so our own outgoing connections cannot occupy them) and checked free;
//!    if another program still grabs the port first, the start is retried on a new one.
//! 4. **Readiness without side effects.** On Linux we wait until a socket *owned by the
//!    program* is listening on the port (read from `/proc`), instead of connecting: a probe
//!    connection would be a client the program has to serve (and a one-client server would
//!    be used up by it). Elsewhere we fall back to connecting.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};

use crate::os::process::Process;
use crate::os::sandbox::{Containment, Guard};
use crate::os::{cleanup, procfs};
use crate::rng::Rng;

/// Values substituted for `{port}`, `{host}` and `{root}` in a command line.
#[derive(Debug, Clone)]
pub struct Placeholders {
    /// The host the program must listen on (and the probes connect to).
    pub host: String,
    /// The port picked for this test.
    pub port: u16,
    /// The test's root directory.
    pub root: PathBuf,
}

impl Placeholders {
    fn substitute(&self, arg: &str) -> String {
        arg.replace("{port}", &self.port.to_string())
            .replace("{host}", &self.host)
            .replace("{root}", &self.root.to_string_lossy())
    }
}

/// The command that runs a submission, as given on the command line after `--`.
#[derive(Debug, Clone)]
pub struct Program {
    /// Program and arguments; may contain placeholders.
    pub argv: Vec<String>,
    /// Working directory to start it in.
    pub cwd: PathBuf,
    /// How each of its runs is contained (limits, sandbox).
    pub contain: Containment,
}

impl Program {
    /// A program started from the current directory, with no limits.
    pub fn new(argv: Vec<String>) -> Program {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Program {
            argv,
            cwd,
            contain: Containment::default(),
        }
    }

    /// Whether any argument contains `{port}`, `{host}` or `{root}`.
    pub fn has_placeholders(&self) -> bool {
        self.argv
            .iter()
            .any(|a| a.contains("{port}") || a.contains("{host}") || a.contains("{root}"))
    }

    /// The full command line for a launch. A program that uses placeholders gets them
    /// substituted and nothing appended; any other program gets `lab_args` appended (with
    /// their placeholders substituted), e.g. `--port 23456`.
    pub fn command_line(&self, lab_args: &[&str], values: &Placeholders) -> Vec<String> {
        let mut argv: Vec<String> = self.argv.iter().map(|a| values.substitute(a)).collect();
        if !self.has_placeholders() {
            argv.extend(lab_args.iter().map(|a| values.substitute(a)));
        }
        argv
    }

    /// A shell-quoted rendering of a command line, for messages: pasted into a shell, it
    /// runs the same command (`shlex` quotes what a shell would otherwise expand, braces
    /// and commas included).
    pub fn shell_words(argv: &[String]) -> String {
        // shlex refuses only NUL bytes, which no argument of a real command line holds.
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
    }
}

/// The last bytes a program wrote to stdout and stderr (interleaved), bounded in size.
#[derive(Debug, Default)]
struct Tail {
    bytes: VecDeque<u8>,
    total: u64,
}

/// Keep this much of a program's output: enough for a panic message and a backtrace,
/// bounded so that a program printing in a loop cannot exhaust the grader's memory.
const TAIL_BYTES: usize = 16 * 1024;

/// A running program in its own process group.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    argv: Vec<String>,
    output: Arc<Mutex<Tail>>,
    /// The threads draining its stdout and stderr: joined at teardown, so a report never
    /// misses output the program did print.
    readers: Vec<thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
    stopped: bool,
    /// Its limits: a cgroup of its own or a watcher, dropped (and the group killed) with it.
    guard: Guard,
    /// Whether it runs in a sandbox (the process we started is then bwrap).
    sandboxed: bool,
}

/// Why a server did not become ready.
#[derive(Debug)]
pub enum StartError {
    /// It exited before listening.
    Exited(ExitStatus),
    /// It kept running but never listened on the port.
    NeverListened(Duration),
    /// Another program on this machine took the port first; retry elsewhere.
    PortTaken,
}

impl Spawned {
    /// Starts `argv` in `cwd`, in a new process group, with output captured, uncontained.
    ///
    /// # Errors
    /// When the program cannot be executed (not found, not executable).
    pub fn start(argv: &[String], cwd: &Path) -> io::Result<Spawned> {
        Spawned::start_contained(argv, cwd, &Containment::default(), &[])
    }

    /// Starts a run of `program` (with `argv`, its substituted command line) contained as
    /// the program says; `root` is the test's root folder, which a sandboxed program may
    /// write.
    ///
    /// # Errors
    /// As [`Spawned::start`].
    pub fn start_program(argv: &[String], program: &Program, root: &Path) -> io::Result<Spawned> {
        Spawned::start_contained(argv, &program.cwd, &program.contain, &[root.to_path_buf()])
    }

    /// Starts `argv` in `cwd` contained by `contain`: its own cgroup (or a memory
    /// watcher), and its sandbox if it has one, where `writable` is visible read-write.
    ///
    /// # Errors
    /// As [`Spawned::start`]; also when a writable path cannot be handed to the
    /// sandbox's uid.
    pub fn start_contained(
        argv: &[String],
        cwd: &Path,
        contain: &Containment,
        writable: &[PathBuf],
    ) -> io::Result<Spawned> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        if let Some(uid) = contain.uid() {
            // The program runs as another user: the folders it must write become its own.
            for dir in writable {
                crate::os::sandbox::chown_tree(dir, uid)?;
            }
        }
        let mut cmd = match &contain.sandbox {
            Some(sandbox) => {
                let mut sandbox = sandbox.clone();
                sandbox.writable.extend(writable.iter().cloned());
                sandbox.command(argv, cwd)
            }
            None => {
                let mut cmd = Command::new(program);
                cmd.args(args).current_dir(cwd);
                if let Some(uid) = contain.run_as {
                    use std::os::unix::process::CommandExt;
                    cmd.uid(uid).gid(uid);
                }
                cmd
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Colour codes make captured output hard to read.
            .env("NO_COLOR", "1")
            .env("CARGO_TERM_COLOR", "never")
            // A panic's message and location are what a student needs; a backtrace would
            // push them out of the output tail shown in the report.
            .env("RUST_BACKTRACE", "0");
        if let Some(sandbox) = &contain.sandbox {
            // env_clear'ed by the sandbox: what it must have is set inside with --setenv.
            for (k, v) in &sandbox.env {
                cmd.env(k, v);
            }
        }
        // Its own group, registered (a Ctrl-C kills it), its cgroup or watcher.
        let (mut child, guard) = crate::os::sandbox::spawn_contained(&mut cmd, false, contain)?;
        let output = Arc::new(Mutex::new(Tail::default()));
        let mut readers = Vec::new();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            // Drain continuously: a program blocked on a full pipe would look hung.
            readers.push(thread::spawn(move || drain(pipe, &output)));
        }
        Ok(Spawned {
            child,
            argv: argv.to_vec(),
            output,
            readers,
            status: None,
            stopped: false,
            guard,
            sandboxed: contain.sandbox.is_some(),
        })
    }

    /// The process to ask about the server (threads, memory) and to signal (a graceful
    /// stop): the command that was launched, as a service manager sees it. That is the
    /// process we started, or, in a sandbox, the first process inside it (bwrap starts an
    /// init that starts the command). A launcher script that maps SIGTERM to a server's own
    /// graceful signal gets it, not the server behind it.
    fn server_pid(&self) -> u32 {
        if !self.sandboxed {
            return self.pid();
        }
        let first_child = |pid: u32| {
            procfs::children(pid)
                .unwrap_or_default()
                .into_iter()
                .min_by_key(|&c| procfs::start_time(c).unwrap_or(u64::MAX))
        };
        first_child(self.pid())
            .and_then(first_child)
            .unwrap_or_else(|| self.pid())
    }

    /// The handle probes ask about the program (threads, memory, CPU, exit) and signal it
    /// through: the server process (see `server_pid`), in the program's group. Probes get
    /// this handle, never a pid.
    pub fn process(&self) -> Process {
        Process::new(self.server_pid(), self.pid() as i32)
    }

    /// If the program's guard killed it for its memory, the sentence that says so.
    pub fn memory_violation(&self) -> Option<String> {
        self.guard.memory_violation()
    }

    /// The program's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line it was started with.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// Its exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until the program listens on `host:port`, exits, or `limit` passes.
    ///
    /// # Errors
    /// See [`StartError`].
    pub fn wait_until_listening(
        &mut self,
        host: &str,
        port: u16,
        limit: Duration,
    ) -> Result<(), StartError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(status) = self.try_status() {
                return Err(if port_is_free(host, port) {
                    StartError::Exited(status)
                } else {
                    StartError::PortTaken
                });
            }
            match self.listening(host, port) {
                Listening::Ours => return Ok(()),
                Listening::Someone if start.elapsed() > Duration::from_millis(500) => {
                    return Err(StartError::PortTaken)
                }
                _ => {}
            }
            if start.elapsed() >= limit {
                return Err(StartError::NeverListened(limit));
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn listening(&self, host: &str, port: u16) -> Listening {
        let Some(inodes) = procfs::listening_inodes(port) else {
            // No /proc: a successful connection is the only evidence available.
            let addr = (host, port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next());
            return match addr.map(|a| TcpStream::connect_timeout(&a, Duration::from_millis(200))) {
                Some(Ok(_)) => Listening::Ours,
                _ => Listening::Nobody,
            };
        };
        if inodes.is_empty() {
            return Listening::Nobody;
        }
        // The program's processes: its group, and its descendants that left the group
        // (a sandbox's init, a `setsid` child).
        let members = procfs::program_members(self.pid() as i32).unwrap_or_default();
        let ours = members.iter().any(|&pid| {
            procfs::socket_inodes(pid)
                .iter()
                .any(|inode| inodes.contains(inode))
        });
        if ours {
            Listening::Ours
        } else {
            Listening::Someone
        }
    }

    /// Waits up to `limit` for the program to exit by itself.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Stops the whole process group: SIGTERM, a grace period, then SIGKILL. Returns the
    /// program's exit status (`None` if it had to be killed and could not be reaped).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if self.stopped {
            return self.status;
        }
        self.stopped = true;
        let pgid = self.pid() as i32;
        if self.try_status().is_none() || group_alive(pgid) {
            signal_group(pgid, Signal::TERM);
            let deadline = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < deadline && (self.try_status().is_none() || group_alive(pgid)) {
                if self.status.is_some() {
                    // Members that outlived our child were re-parented to us (we are a
                    // subreaper): a sandbox's init, say. Once dead they are zombies that
                    // still count as the group until reaped. (Only after our own child is
                    // reaped, so its status is never taken from `Child`.)
                    reap_group(pgid);
                }
                thread::sleep(Duration::from_millis(5));
            }
            signal_group(pgid, Signal::KILL);
            if self.status.is_none() {
                self.status = self.child.wait().ok();
            }
            // Dead or dying: when the grader is a subreaper, the group's orphans are now
            // our children, and the sweep (which skips registered groups) must reap them.
            cleanup::forget(pgid);
            let deadline = Instant::now() + Duration::from_secs(2);
            while group_alive(pgid) && Instant::now() < deadline {
                crate::os::sandbox::sweep();
                thread::sleep(Duration::from_millis(5));
            }
        }
        cleanup::forget(pgid);
        // Whatever is left in its cgroup (however it hid from the group) dies too.
        self.guard.kill_all();
        // Descendants that left the group (setsid, double fork) are found through the
        // subreaper and killed too (see `sandbox`).
        crate::os::sandbox::sweep();
        // Everything it printed is in the tail before anyone reads it: the readers end
        // when the last writer is gone, normally at once. Bounded, in case something
        // still holds a pipe; generously, because on a loaded machine a reader thread may
        // wait seconds to be scheduled, and a stub's panic message is the feedback.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        self.status
    }

    /// The last lines of what the program printed, for failure reports.
    pub fn output_tail(&self, max_lines: usize) -> String {
        let tail = self.output.lock().unwrap_or_else(|e| e.into_inner());
        let bytes: Vec<u8> = tail.bytes.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(max_lines);
        let mut out = String::new();
        if skip > 0 || tail.total > bytes.len() as u64 {
            out.push_str("[… earlier output not shown]\n");
        }
        for line in &lines[skip..] {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many times a start is retried when another program took the port first.
const PORT_ATTEMPTS: usize = 4;

/// Why a server could not be started and made ready (see [`start_server`]).
#[derive(Debug)]
pub enum LaunchError {
    /// No free port was found.
    NoPort(io::Error),
    /// The command could not be executed (see [`is_programs_fault`] for whose fault).
    Spawn {
        /// The command line, shell-quoted.
        shown: String,
        /// Why.
        error: io::Error,
    },
    /// It exited before it listened; torn down, so its output is complete.
    Exited {
        /// The program, for its output and its guard's verdict.
        spawned: Box<Spawned>,
        /// The command line, shell-quoted.
        shown: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// It did not listen within the start-up limit; torn down.
    NeverListened {
        /// The program, for its output and its guard's verdict.
        spawned: Box<Spawned>,
        /// The command line, shell-quoted.
        shown: String,
        /// How long it was given.
        waited: Duration,
    },
    /// Other programs on this machine kept taking the ports picked for it.
    PortsTaken,
}

/// Starts `program` as a server and waits until it listens: on a fresh free port (written
/// to `values.port`), `lab_args` appended unless its command uses placeholders, contained
/// as the program says, with `values.root` writable. When another program takes the port
/// first, it starts again on a new one. The one start-up path of `grade` and `bench`.
///
/// # Errors
/// See [`LaunchError`].
pub fn start_server(
    program: &Program,
    lab_args: &[&str],
    values: &mut Placeholders,
    ports: &mut Rng,
    startup: Duration,
) -> Result<Spawned, LaunchError> {
    for _ in 0..PORT_ATTEMPTS {
        values.port = pick_port(&values.host, ports).map_err(LaunchError::NoPort)?;
        let argv = program.command_line(lab_args, values);
        let shown = Program::shell_words(&argv);
        let mut spawned = match Spawned::start_program(&argv, program, &values.root) {
            Ok(spawned) => spawned,
            Err(error) => return Err(LaunchError::Spawn { shown, error }),
        };
        match spawned.wait_until_listening(&values.host, values.port, startup) {
            Ok(()) => return Ok(spawned),
            Err(StartError::PortTaken) => continue,
            Err(StartError::Exited(status)) => {
                // Torn down (its group too), so the output readers have every last word.
                spawned.stop();
                return Err(LaunchError::Exited {
                    spawned: Box::new(spawned),
                    shown,
                    status,
                });
            }
            Err(StartError::NeverListened(waited)) => {
                spawned.stop();
                return Err(LaunchError::NeverListened {
                    spawned: Box::new(spawned),
                    shown,
                    waited,
                });
            }
        }
    }
    Err(LaunchError::PortsTaken)
}

/// Whether a failure to start a program is the program's own (a wrong path, no execute
/// bit, not an executable) rather than the machine's (no memory, no processes left).
pub fn is_programs_fault(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    ) || e.raw_os_error() == Some(Errno::NOEXEC.raw_os_error())
}

enum Listening {
    /// A process of the program listens.
    Ours,
    Someone,
    Nobody,
}

fn drain(mut pipe: Box<dyn Read + Send>, output: &Mutex<Tail>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut tail = output.lock().unwrap_or_else(|e| e.into_inner());
        tail.total += n as u64;
        tail.bytes.extend(&buf[..n]);
        let excess = tail.bytes.len().saturating_sub(TAIL_BYTES);
        tail.bytes.drain(..excess);
    }
}

/// Describes an exit status in words a student understands.
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        let why = match code {
            101 => " (a Rust panic)",
            _ => "",
        };
        format!("exited with status {code}{why}")
    } else if let Some(sig) = status.signal() {
        let name = match Signal::from_named_raw(sig) {
            Some(Signal::SEGV) => "SIGSEGV, a segmentation fault",
            Some(Signal::ABORT) => "SIGABRT, an abort",
            Some(Signal::PIPE) => "SIGPIPE: it wrote to a closed connection without handling EPIPE",
            Some(Signal::KILL) => "SIGKILL",
            Some(Signal::TERM) => "SIGTERM",
            _ => "a signal",
        };
        format!("was killed by signal {sig} ({name})")
    } else {
        format!("ended ({status})")
    }
}

/// `pgid` as rustix's non-zero pid: `None` for 0, which would address our own group.
fn group(pgid: i32) -> Option<Pid> {
    Pid::from_raw(pgid)
}

fn signal_group(pgid: i32, sig: Signal) {
    if let Some(group) = group(pgid) {
        let _ = rustix::process::kill_process_group(group, sig);
    }
}

/// Reaps whichever of our children in group `pgid` have exited.
fn reap_group(pgid: i32) {
    let Some(group) = group(pgid) else { return };
    // NOHANG never blocks: `None` once no member is left to reap.
    while let Ok(Some(_)) = rustix::process::waitpgid(group, WaitOptions::NOHANG) {}
}

/// Whether any process (zombies included) is still in group `pgid`.
fn group_alive(pgid: i32) -> bool {
    // kill(-pgid, 0): checks for existence, sends nothing.
    group(pgid).is_some_and(|g| rustix::process::test_kill_process_group(g).is_ok())
}

/// Whether `host:port` can be bound right now.
pub fn port_is_free(host: &str, port: u16) -> bool {
    TcpListener::bind((host, port)).is_ok()
}

/// Picks a free port below the kernel's ephemeral range, at random.
///
/// Ephemeral ports are what the kernel hands out to outgoing connections (our probes make
/// thousands); staying below that range means none of them can be sitting on the port we
/// give to the program.
pub fn pick_port(host: &str, rng: &mut Rng) -> io::Result<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32768);
    let (lo, hi) = if ephemeral_low > 12000 {
        (10000, ephemeral_low - 1)
    } else {
        (ephemeral_low.max(1024), 65535)
    };
    for _ in 0..200 {
        let port = rng.range(lo, hi) as u16;
        if port_is_free(host, port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port found after 200 attempts",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Placeholders {
        Placeholders {
            host: "127.0.0.1".into(),
            port: 4242,
            root: PathBuf::from("/tmp/r"),
        }
    }

    #[test]
    fn a_status_is_told_in_words_with_the_common_signals_named() {
        use std::os::unix::process::ExitStatusExt;
        // A raw wait status: the exit code in the second byte, a killing signal in the first.
        let said = |raw| describe_status(ExitStatus::from_raw(raw));
        assert_eq!(said(101 << 8), "exited with status 101 (a Rust panic)");
        assert_eq!(said(3 << 8), "exited with status 3");
        for (sig, name) in [
            (Signal::SEGV, "SIGSEGV, a segmentation fault"),
            (Signal::ABORT, "SIGABRT, an abort"),
            (Signal::KILL, "SIGKILL"),
            (Signal::TERM, "SIGTERM"),
            (Signal::USR1, "a signal"),
        ] {
            let n = sig.as_raw();
            assert_eq!(said(n), format!("was killed by signal {n} ({name})"));
        }
        assert!(said(Signal::PIPE.as_raw()).contains("without handling EPIPE"));
    }

    #[test]
    fn appends_lab_args_unless_placeholders_are_used() {
        let plain = Program::new(vec!["./server".into(), "-v".into()]);
        assert_eq!(
            plain.command_line(&["--port", "{port}"], &values()),
            ["./server", "-v", "--port", "4242"]
        );
        let templated = Program::new(vec!["nginx".into(), "-p".into(), "{root}:{port}".into()]);
        assert_eq!(
            templated.command_line(&["--port", "{port}"], &values()),
            ["nginx", "-p", "/tmp/r:4242"]
        );
    }

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        let argv = ["./srv-1.py", "-c", "echo it's", "{port}", "a b"].map(String::from);
        assert_eq!(
            Program::shell_words(&argv),
            r#"./srv-1.py -c "echo it's" '{port}' 'a b'"#
        );
    }

    #[test]
    fn a_program_that_cannot_be_run_is_its_own_fault_and_a_refused_fork_is_not() {
        let missing = std::process::Command::new("./no-such-program")
            .spawn()
            .unwrap_err();
        assert!(is_programs_fault(&missing));
        let not_executable = io::Error::from(Errno::ACCESS);
        assert!(is_programs_fault(&not_executable));
        let not_an_executable = io::Error::from(Errno::NOEXEC);
        assert!(is_programs_fault(&not_an_executable));
        for machine in [Errno::AGAIN, Errno::NOMEM, Errno::MFILE] {
            assert!(!is_programs_fault(&io::Error::from(machine)));
        }
    }

    #[test]
    fn stop_kills_the_whole_group_including_grandchildren() {
        let argv: Vec<String> = ["sh", "-c", "trap '' TERM; sleep 30 & sleep 30 & wait"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut p = Spawned::start(&argv, Path::new(".")).unwrap();
        let pgid = p.pid() as i32;
        p.wait_timeout(Duration::from_millis(200));
        assert!(group_alive(pgid));
        p.stop();
        assert!(!group_alive(pgid), "a process of the group survived");
    }

    #[test]
    fn a_memory_kill_belongs_to_its_own_program_only() {
        if !procfs::available() {
            eprintln!("skipped: no /proc here");
            return;
        }
        // Two programs at once, each with its own limit, as two tests under --parallel 2:
        // `tail` keeps a whole newline-free stream in memory, far past 64 MiB.
        let contain = Containment {
            memory_limit: Some(64 << 20),
            ..Containment::default()
        };
        let argv = |script: &str| -> Vec<String> { vec!["sh".into(), "-c".into(), script.into()] };
        let mut hog = Spawned::start_contained(
            &argv("head -c 400000000 /dev/zero | tail -n 1 >/dev/null; sleep 30"),
            Path::new("."),
            &contain,
            &[],
        )
        .unwrap();
        let mut calm =
            Spawned::start_contained(&argv("sleep 30"), Path::new("."), &contain, &[]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while hog.memory_violation().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let why = hog.memory_violation().expect("the hog was not stopped");
        assert!(why.contains("64 MiB memory limit"), "{why}");
        assert!(
            calm.memory_violation().is_none(),
            "the other program was blamed"
        );
        assert!(calm.try_status().is_none(), "the other program was killed");
        hog.stop();
        calm.stop();
    }

    #[test]
    fn a_port_taken_by_another_program_is_a_collision_not_a_failure() {
        // Someone else (this test) listens on the port the program was given.
        let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = squatter.local_addr().unwrap().port();
        let argv: Vec<String> = ["sh", "-c", "exit 1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut failed_bind = Spawned::start(&argv, Path::new(".")).unwrap();
        assert!(matches!(
            failed_bind.wait_until_listening("127.0.0.1", port, Duration::from_secs(10)),
            Err(StartError::PortTaken)
        ));
        let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
        let mut oblivious = Spawned::start(&argv, Path::new(".")).unwrap();
        if procfs::available() {
            assert!(matches!(
                oblivious.wait_until_listening("127.0.0.1", port, Duration::from_secs(10)),
                Err(StartError::PortTaken)
            ));
        }
        oblivious.stop();
    }

    #[test]
    fn reports_a_program_that_exits_before_listening() {
        let argv: Vec<String> = ["sh", "-c", "echo boom >&2; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut p = Spawned::start(&argv, Path::new(".")).unwrap();
        let port = pick_port("127.0.0.1", &mut Rng::new(1)).unwrap();
        match p.wait_until_listening("127.0.0.1", port, Duration::from_secs(10)) {
            Err(StartError::Exited(status)) => assert_eq!(status.code(), Some(3)),
            other => panic!("unexpected {other:?}"),
        }
        p.wait_timeout(Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !p.output_tail(5).contains("boom") && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(p.output_tail(5).contains("boom"));
    }
}
