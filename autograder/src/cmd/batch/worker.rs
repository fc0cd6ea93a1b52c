//! The grading worker: this very executable, run as `autograder grade --worker` on one
//! submission's program, in a network namespace of its own where the machine allows it.
//!
//! The worker is trusted (it is the grader), the program it grades is not: each test's
//! program runs in a sandbox of its own, under the submission's uid when we are root. The
//! worker writes nothing to disk; its report comes back over its standard output
//! ([`wire`]), and this module checks it against the run that was asked for. A worker that
//! ends any other way than with a report (killed, crashed, a report that does not fit) is
//! the grader's trouble: tried once more, never a score charged to the student.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use anyhow::Context;

use super::{Fate, Isolation, Plan};
use crate::grade::report::wire;
use crate::grade::runner::Report;
use crate::os::sandbox::{self, Bwrap, Containment};

/// A private copy of this very process's image (read through `/proc/self/exe`, which is
/// ours even if the file was replaced since), for the workers to run: a rebuild or a
/// replacement of the grader's file during a batch cannot change, or break, the grader
/// the rest of the class gets.
pub(super) fn copy_of_grader(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let own = if Path::new("/proc/self/exe").exists() {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().context("cannot find the grader")?
    };
    let copy = dir.join("autograder");
    std::fs::copy(&own, &copy).context("cannot copy the grader for its workers")?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
    Ok(copy)
}

/// Whether bwrap can give a process a network namespace here (tried for real).
pub(super) fn bwrap_network_available(bwrap: &Bwrap) -> bool {
    Command::new(&bwrap.exe)
        .args([
            "--dev-bind",
            "/",
            "/",
            "--unshare-user",
            "--unshare-net",
            "--",
            "true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How a worker gets a network of its own (only loopback: no port collisions between
/// submissions, no traffic off the machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkerNet {
    /// It shares ours (`--no-netns`, or nothing else works here).
    Shared,
    /// As root: `unshare(CLONE_NEWNET)` as it starts.
    Unshared,
    /// As anyone else: it starts inside `bwrap --unshare-net` (a user namespace makes
    /// the network namespace possible), which sees the whole system as it is.
    Bwrap,
}

/// The most a worker's report may weigh (a full report with transcripts is ~100 KiB).
const REPORT_BYTES: u64 = 32 << 20;
/// What is kept of a worker's log.
const LOG_BYTES: usize = 64 << 10;

/// Why a worker produced no report.
#[derive(Debug)]
enum WorkerError {
    /// Killed at the hard time limit (the submission used up its budget).
    Stopped(String),
    /// Anything else: the grader's own trouble.
    Trouble(String),
}

/// Grades the program through a worker; a worker that fails is tried once more, and a
/// second failure is the grader's trouble, not the student's.
pub(super) fn grade_program(
    plan: &Plan,
    argv: &[String],
    cwd: &Path,
    uid: Option<u32>,
    out: &Path,
) -> Fate {
    let mut last = String::new();
    let mut partial = None;
    for _ in 0..2 {
        match run_worker(plan, argv, cwd, uid, out) {
            Ok(mut report) => {
                // The worker saw a path in a scratch folder that is gone by now; name what
                // the student handed in instead.
                report.program = shown_program(plan, argv, cwd);
                if !report.could_not_grade() {
                    return Fate::Graded(report);
                }
                // Some test hit the grader's own trouble (each was already tried twice):
                // the whole submission once more, then its report as it stands.
                partial = Some(report);
            }
            Err(WorkerError::Stopped(why)) => return Fate::Stopped { why },
            Err(WorkerError::Trouble(why)) => last = why,
        }
    }
    match partial {
        Some(report) => Fate::PartlyGraded(report),
        None => Fate::GraderTrouble {
            why: format!("the grader could not grade this submission: {last}"),
        },
    }
}

/// What a report says was graded: the submission's own file, not the scratch path.
fn shown_program(plan: &Plan, argv: &[String], cwd: &Path) -> String {
    let exe = Path::new(argv.last().map(String::as_str).unwrap_or(""));
    if exe.starts_with(plan.scratch.as_path()) && exe.parent().is_some_and(|p| p.ends_with("bin")) {
        return format!(
            "{} (built by the grader from the submission)",
            exe.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    let relative = |p: &Path| {
        p.strip_prefix(cwd)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| p.to_path_buf())
    };
    argv.iter()
        .map(|a| relative(Path::new(a)).display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the grading worker and returns the report it handed over.
fn run_worker(
    plan: &Plan,
    argv: &[String],
    cwd: &Path,
    uid: Option<u32>,
    out: &Path,
) -> Result<Report, WorkerError> {
    let trouble = WorkerError::Trouble;
    let mut cmd = match (&plan.isolation, plan.worker_net) {
        (Isolation::Sandboxed(bwrap), WorkerNet::Bwrap) => {
            let mut cmd = Command::new(&bwrap.exe);
            cmd.args([
                "--dev-bind",
                "/",
                "/",
                "--unshare-user",
                "--unshare-net",
                "--die-with-parent",
                "--",
            ])
            .arg(&plan.grader);
            cmd
        }
        _ => Command::new(&plan.grader),
    };
    cmd.current_dir(cwd)
        .args([
            "grade",
            plan.lab.name,
            "--worker",
            "--seed",
            &plan.seed.to_string(),
        ])
        .args(plan.args.limits.to_args());
    match (&plan.isolation, uid) {
        (Isolation::Sandboxed(_), Some(uid)) => {
            cmd.args(["--sandbox", "--run-as", &uid.to_string()]);
        }
        (Isolation::Sandboxed(_), None) => {
            cmd.arg("--sandbox");
        }
        (Isolation::Unsandboxed { .. }, Some(uid)) => {
            cmd.args(["--run-as", &uid.to_string()]);
        }
        (Isolation::Unsandboxed { .. }, None) => {}
    }
    if let Some(only) = &plan.args.only {
        cmd.args(["--only", only]);
    }
    // The worker must run the effective rubric's tests (a disabled test is not run);
    // the scores are this process's own, from its own copy of the rubric (`wire::decode`).
    if let Some(rubric) = &plan.args.rubric {
        cmd.arg("--rubric").arg(rubric);
    }
    cmd.arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut child, _guard) = sandbox::spawn_contained(
        &mut cmd,
        plan.worker_net == WorkerNet::Unshared,
        &Containment::default(),
    )
    .map_err(|e| trouble(format!("cannot start the grading worker: {e}")))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let report = thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stdout {
            let _ = pipe.take(REPORT_BYTES).read_to_string(&mut text);
        }
        text
    });
    let log = thread::spawn(move || {
        let mut kept = std::collections::VecDeque::new();
        if let Some(mut pipe) = stderr {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend(&buf[..n]);
                let excess = kept.len().saturating_sub(LOG_BYTES);
                kept.drain(..excess);
            }
        }
        String::from_utf8_lossy(kept.make_contiguous()).into_owned()
    });
    let (status, killed) = sandbox::wait_contained(&mut child, Instant::now() + plan.hard_limit);
    let report = report.join().unwrap_or_default();
    let log = log.join().unwrap_or_default();
    let _ = std::fs::create_dir_all(out);
    let _ = std::fs::write(out.join("grader.log"), &log);
    if killed {
        return Err(WorkerError::Stopped(format!(
            "grading was stopped after {} s: the submission exceeded its time budget",
            plan.hard_limit.as_secs()
        )));
    }
    // 0: full marks, 1: some test failed, 2: some test could not be graded (the report
    // says which). Anything else is not a finished grading.
    let normal = status.is_some_and(|s| matches!(s.code(), Some(0..=2)));
    if !normal {
        return Err(trouble(format!(
            "the grading worker ended abnormally ({}): {}",
            status.map_or("no status".into(), crate::os::harness::describe_status),
            log.trim().lines().last().unwrap_or("")
        )));
    }
    wire::decode(&report, plan.lab, &plan.tests, plan.seed)
        .map_err(|e| trouble(format!("the grading worker's report was refused: {e}")))
}
