//! `autograder watch`: a save under `labs/LAB` starts a new run, a compile error is shown
//! and watching goes on, and in `--manual` mode Enter re-runs and `q` quits.
//!
//! Each test runs the real command on a copy of the lab in a temporary workspace
//! (`NETLABS_ROOT`), reads its output line by line with deadlines, and edits files the
//! way an editor would.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::*;

/// The first run builds the copy's dependencies, on a machine that may be busy.
const FIRST_RUN: Duration = Duration::from_secs(400);
/// Later runs rebuild one small crate and run one test.
const LATER_RUN: Duration = Duration::from_secs(120);

/// The tests share one target directory for the copies (so dependencies build once);
/// they take turns, since two different `lab1` sources would overwrite each other's
/// executable there.
static TURN: Mutex<()> = Mutex::new(());

/// A minimal workspace holding a copy of `labs/lab1`.
fn workspace_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("labs/lab1/src");
    std::fs::create_dir_all(&lab).unwrap();
    let from = workspace().join("labs/lab1");
    std::fs::copy(
        from.join("Cargo.toml"),
        dir.path().join("labs/lab1/Cargo.toml"),
    )
    .unwrap();
    for entry in std::fs::read_dir(from.join("src")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), lab.join(entry.file_name())).unwrap();
    }
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"labs/lab1\"]\n",
    )
    .unwrap();
    // The same pinned versions as the real workspace, so the build works offline.
    std::fs::copy(
        workspace().join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .unwrap();
    dir
}

fn copies_target_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    base.join("watch-copies")
}

/// A running `autograder watch`, its output lines arriving on channels.
struct Watch {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    seen: String,
}

impl Watch {
    fn start(root: &Path, extra: &[&str]) -> Watch {
        let mut child = autograder()
            .args(["watch", "lab1", "--only", "echo-short", "--poll-ms", "100"])
            .args(extra)
            .env("NETLABS_ROOT", root)
            .env("CARGO_TARGET_DIR", copies_target_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Watch {
            child,
            stdout,
            stderr,
            seen: String::new(),
        }
    }

    /// Reads standard output until a line contains `text`; panics with everything seen
    /// when the deadline passes or the program ends first.
    fn wait_for(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(text) {
                        return;
                    }
                }
                Err(e) => panic!(
                    "no line with `{text}` ({e:?}); stdout so far:\n{}\nstderr:\n{}",
                    self.seen,
                    self.stderr.try_iter().collect::<Vec<_>>().join("\n")
                ),
            }
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The watcher is idle between runs (its lab programs are torn down after every
        // test), so killing it leaves nothing behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Rewrites a file the way an editor saves it (new contents, new modification time).
fn save(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
}

#[test]
fn a_save_starts_a_new_run_and_a_compile_error_does_not_stop_watching() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let ws = workspace_copy();
    let server = ws.path().join("labs/lab1/src/server.rs");
    let original = std::fs::read_to_string(&server).unwrap();
    let mut watch = Watch::start(ws.path(), &[]);

    watch.wait_for("[watch] run 1 (first run)", FIRST_RUN);
    watch.wait_for("lab1: 0/5 points (0 of 1 tests passed)", FIRST_RUN);
    watch.wait_for("[watch] waiting for changes", LATER_RUN);

    save(&server, &format!("{original}\n// edited\n"));
    watch.wait_for(
        "[watch] run 2 (changed: labs/lab1/src/server.rs)",
        LATER_RUN,
    );
    watch.wait_for("lab1: 0/5 points", LATER_RUN);
    watch.wait_for("[watch] waiting for changes", LATER_RUN);

    save(&server, &format!("{original}\nfn broken( {{\n"));
    watch.wait_for("[watch] run 3", LATER_RUN);
    watch.wait_for("fix the compiler errors above", LATER_RUN);
    watch.wait_for("[watch] waiting for changes", LATER_RUN);
    let errors: String = watch.stderr.try_iter().collect::<Vec<_>>().join("\n");
    assert!(
        errors.contains("error") && errors.contains("server.rs"),
        "the compiler's message should be shown:\n{errors}"
    );

    save(&server, &original);
    watch.wait_for("[watch] run 4", LATER_RUN);
    watch.wait_for("lab1: 0/5 points", LATER_RUN);
}

#[test]
fn manual_mode_reruns_on_enter_and_quits_on_q() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let ws = workspace_copy();
    let mut watch = Watch::start(ws.path(), &["--manual"]);

    watch.wait_for("lab1: 0/5 points", FIRST_RUN);
    watch.wait_for("press Enter to re-run", LATER_RUN);
    watch.type_line("");
    watch.wait_for("[watch] run 2 (Enter pressed)", LATER_RUN);
    watch.wait_for("lab1: 0/5 points", LATER_RUN);
    watch.wait_for("press Enter to re-run", LATER_RUN);
    watch.type_line("q");
    watch.wait_for("[watch] bye", LATER_RUN);
    // It ends by itself.
    let deadline = Instant::now() + LATER_RUN;
    loop {
        if let Some(status) = watch.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "watch did not exit after `q`");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_unknown_lab_or_a_bad_only_fails_before_watching() {
    let out = autograder()
        .args(["watch", "lab1", "--only", "nope"])
        .stdin(Stdio::null())
        .code(2);
    assert!(out.stderr().contains("matches no test"), "{out}");
    autograder()
        .args(["watch", "lab9"])
        .stdin(Stdio::null())
        .code(2);
}
