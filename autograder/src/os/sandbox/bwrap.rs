//! The sandbox around a build or a graded program: **bubblewrap** (`bwrap`, the tool
//! Flatpak uses), driven from here, rather than namespace code of our own.
//!
//! What a sandboxed process sees and may do:
//!
//! | | |
//! |---|---|
//! | files | the system (`/usr`, `/etc`, `/lib…`) read-only; the paths it was given (its own copy, a test's root) and nothing else: no peers, no `--out`, no `$HOME`, no grader, no `solutions/` |
//! | scratch | a private `/tmp` and `/dev/shm`, each a small tmpfs |
//! | processes | its own PID namespace: it cannot see or signal the grader, and when bwrap's init dies the kernel kills everything inside |
//! | rights | an unprivileged uid (when the grader is root, a dedicated one per submission), no capabilities, `no_new_privs`, no further user namespaces |
//! | network | builds: none at all; programs: the grader's network namespace (in `batch`, a private one with only loopback) |
//!
//! As root we switch to the sandbox's uid *before* starting bwrap, so bwrap makes an
//! unprivileged user namespace exactly as it does for an ordinary user: one code path, and
//! files the grader owns stay out of reach even through a mistake in the bind list.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Size of the private `/tmp` and `/dev/shm` (each).
pub const SCRATCH_BYTES: u64 = 64 << 20;

/// How to sandbox a process with bubblewrap.
#[derive(Debug, Clone)]
pub struct Bwrap {
    /// The `bwrap` executable.
    pub exe: PathBuf,
    /// Run as this uid (and gid): set when the grader is root.
    pub uid: Option<u32>,
    /// Paths bound read-only, at the same place inside.
    pub read_only: Vec<PathBuf>,
    /// Paths bound read-write, at the same place inside.
    pub writable: Vec<PathBuf>,
    /// `(outside, inside)` pairs bound read-write at another place inside (builds use
    /// fixed paths, so that every submission's build looks the same to cargo).
    pub writable_at: Vec<(PathBuf, PathBuf)>,
    /// `(outside, inside)` pairs bound read-only at another place inside.
    pub read_only_at: Vec<(PathBuf, PathBuf)>,
    /// Share the caller's network namespace (a graded program must be reachable); `false`
    /// gives the process no network at all (builds).
    pub share_network: bool,
    /// Environment inside (nothing else is passed on).
    pub env: Vec<(String, String)>,
}

/// Directories of the system, visible read-only in every sandbox.
const SYSTEM: &[&str] = &[
    "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

impl Bwrap {
    /// A sandbox that sees the system and nothing else; `uid` as in [`Bwrap::uid`].
    pub fn new(exe: PathBuf, uid: Option<u32>) -> Bwrap {
        Bwrap {
            exe,
            uid,
            read_only: Vec::new(),
            writable: Vec::new(),
            writable_at: Vec::new(),
            read_only_at: Vec::new(),
            share_network: true,
            env: vec![
                (
                    "PATH".into(),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ),
                ("HOME".into(), "/tmp".into()),
                ("LANG".into(), "C.UTF-8".into()),
            ],
        }
    }

    /// Finds `bwrap` and checks that it can really make a sandbox here (it cannot where
    /// user namespaces are refused, e.g. in an unprivileged container).
    ///
    /// # Errors
    /// A sentence saying why not, for the report's "not sandboxed: …" line.
    pub fn detect(uid: Option<u32>) -> Result<Bwrap, String> {
        let exe = find_in_path("bwrap").ok_or_else(|| {
            "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
                .to_string()
        })?;
        let sandbox = Bwrap::new(exe, uid);
        sandbox
            .check(Path::new("/"))
            .map_err(|e| format!("bwrap cannot make a sandbox here ({e})"))?;
        Ok(sandbox)
    }

    /// This sandbox, set up for a graded program: its working directory read-write, and
    /// the folder of its executable (when given as a path elsewhere) read-only.
    pub fn for_program(mut self, exe: &str, cwd: &Path) -> Bwrap {
        self.writable.push(cwd.to_path_buf());
        if exe.contains('/') {
            let exe = cwd.join(exe);
            if let Some(dir) = exe
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
                if !dir.starts_with(&cwd) && !SYSTEM.iter().any(|s| dir.starts_with(s)) {
                    self.read_only.push(dir);
                }
            }
        }
        self
    }

    /// Runs `true` in this very sandbox (its binds, its uid), so that a sandbox that
    /// cannot be made is the grader's error before any test, not a program that "exited
    /// before it listened" in every test.
    ///
    /// # Errors
    /// bwrap's own message.
    pub fn check(&self, cwd: &Path) -> Result<(), String> {
        let mut probe = self.command(&["true".to_string()], cwd);
        probe
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = probe
            .output()
            .map_err(|e| format!("cannot run bwrap: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// The command that runs `argv` in `cwd` inside the sandbox. The caller adds stdio,
    /// and may add its own `pre_exec` (it runs before bwrap, outside the sandbox).
    ///
    /// bwrap runs as the sandbox's uid, so every folder bound must be reachable by that
    /// uid (see `batch::build::Toolchain::expose` for the toolchain under root's home).
    pub fn command(&self, argv: &[String], cwd: &Path) -> Command {
        // Outer folders first: a bind hides whatever an earlier bind put below it.
        let mut wanted: Vec<(&str, &Path, &Path)> = Vec::new();
        wanted.extend(
            self.read_only
                .iter()
                .map(|p| ("--ro-bind", p.as_path(), p.as_path())),
        );
        wanted.extend(
            self.read_only_at
                .iter()
                .map(|(o, i)| ("--ro-bind", o.as_path(), i.as_path())),
        );
        wanted.extend(
            self.writable
                .iter()
                .map(|p| ("--bind", p.as_path(), p.as_path())),
        );
        wanted.extend(
            self.writable_at
                .iter()
                .map(|(o, i)| ("--bind", o.as_path(), i.as_path())),
        );
        wanted.sort_by_key(|(_, _, inside)| inside.components().count());
        let binds: Vec<OsString> = wanted
            .into_iter()
            .flat_map(|(flag, outside, inside)| {
                [
                    flag.into(),
                    outside.as_os_str().into(),
                    inside.as_os_str().into(),
                ]
            })
            .collect();
        let mut cmd = Command::new(&self.exe);
        cmd.args(self.arguments(binds, cwd)).arg("--").args(argv);
        // Nothing of the grader's environment leaks in (tokens, paths, test variables).
        cmd.env_clear();
        if let Some(uid) = self.uid {
            use std::os::unix::process::CommandExt;
            // std drops supplementary groups when root switches uid.
            cmd.uid(uid).gid(uid);
        }
        cmd
    }

    fn arguments(&self, binds: Vec<OsString>, cwd: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&std::ffi::OsStr]| a.extend(parts.iter().map(|p| p.into()));
        for dir in SYSTEM {
            let path = Path::new(dir);
            match std::fs::read_link(path) {
                // Merged /usr: /bin -> usr/bin. Recreate the link rather than bind its target twice.
                Ok(target) => push(&["--symlink".as_ref(), target.as_os_str(), path.as_os_str()]),
                Err(_) if path.is_dir() => {
                    push(&["--ro-bind".as_ref(), path.as_os_str(), path.as_os_str()])
                }
                Err(_) => {}
            }
        }
        let size = SCRATCH_BYTES.to_string();
        push(&["--proc".as_ref(), "/proc".as_ref()]);
        push(&["--dev".as_ref(), "/dev".as_ref()]);
        push(&[
            "--size".as_ref(),
            size.as_ref(),
            "--tmpfs".as_ref(),
            "/tmp".as_ref(),
        ]);
        push(&[
            "--size".as_ref(),
            size.as_ref(),
            "--tmpfs".as_ref(),
            "/dev/shm".as_ref(),
        ]);
        let binds: Vec<&std::ffi::OsStr> = binds.iter().map(|b| b.as_os_str()).collect();
        push(&binds);
        // Every namespace of its own (user, mount, pid, ipc, uts, cgroup, net) …
        push(&["--unshare-all".as_ref(), "--unshare-user".as_ref()]);
        if self.share_network {
            // … except the network, for a program the grader must reach.
            push(&["--share-net".as_ref()]);
        }
        push(&[
            "--disable-userns".as_ref(),
            "--die-with-parent".as_ref(),
            "--hostname".as_ref(),
            "sandbox".as_ref(),
            "--chdir".as_ref(),
            cwd.as_os_str(),
        ]);
        for (k, v) in &self.env {
            push(&["--setenv".as_ref(), k.as_ref(), v.as_ref()]);
        }
        a
    }
}

/// The first `name` on `$PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
