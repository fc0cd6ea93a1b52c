//! `autograder batch`: grade a whole class, in parallel, each submission contained.
//!
//! ```text
//! autograder batch lab1 submissions/ --out grades/ [--jobs 4] [--only echo-short]
//! ```
//!
//! `submissions/` holds one folder per student. A folder contains one of:
//!
//! - an executable named `run` (any language; started as `run --port PORT`, or with a
//!   shebang line when the upload lost its execute bit);
//! - a copy of the student workspace (a `Cargo.toml` with `[workspace]` and `labs/LAB/`):
//!   package `LAB` is built and graded;
//! - a single Cargo package: built, and its binary graded.
//!
//! (A folder holding only one sub-folder, as archives often unpack, is looked into.)
//!
//! How one submission is graded: builds run with captured output under a time limit (see
//! `cargo::build_captured`); then a *worker* — this same executable, `autograder grade … \
//! --report-dir` — grades it, started through `sandbox::spawn_contained`: its own process
//! group, its own network namespace when the machine allows it (so no port collisions
//! between submissions, and no traffic beyond their loopback), a memory limit and a subreaper
//! inside, and a hard deadline outside. The batch process is itself a subreaper: whatever a
//! worker leaves behind is swept when it ends. Writes, under `--out`:
//!
//! - `grades.csv`: `student,score,max_score,<one column per test id>`;
//! - `STUDENT/results.json` (Gradescope), `STUDENT/feedback.txt` (the text report, with the
//!   compiler's errors when the build failed), `STUDENT/junit.xml`, `STUDENT/grader.log`;
//! - `summary.txt`: which tests the class failed most.
//!
//! With `--single`, `SUBMISSIONS` is one submission and the three reports go straight into
//! `--out` (this is what the Gradescope bundle's `run_autograder` does).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::cargo::{self, CapturedBuild};
use crate::harness::Program;
use crate::report::{gradescope, junit, text};
use crate::rng::Rng;
use crate::rubric::{Failure, Lab, TestCase};
use crate::runner::{self, Options, Outcome, Report, TestResult};
use crate::sandbox::{self, LimitArgs};

/// `autograder batch` arguments.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  autograder batch lab1 submissions/ --out grades/\n  \
    autograder batch lab1 submissions/ --out grades/ --jobs 8 --only echo\n  \
    autograder batch lab1 /autograder/submission --single --out /autograder/results"
)]
pub struct BatchArgs {
    /// The lab (lab1 … lab5).
    lab: String,
    /// The folder with one folder per student (with --single: one submission).
    submissions: PathBuf,
    /// Where to write grades.csv and the per-student reports.
    #[arg(long)]
    out: PathBuf,
    /// How many submissions to grade at once (default: the number of CPUs).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Run only this group of tests or test id (several separated by commas).
    #[arg(long)]
    only: Option<String>,
    /// Seed for the random payloads (the same for every student; printed).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Seconds a submission's build may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    build_timeout: u64,
    /// Cargo target directory shared by the builds (default: OUT/.target). Sharing it
    /// compiles the dependencies once for the whole class.
    #[arg(long)]
    target_dir: Option<PathBuf>,
    /// Build without network access (dependencies must already be downloaded).
    #[arg(long)]
    offline: bool,
    /// Do not use network namespaces even where they are available.
    #[arg(long)]
    no_netns: bool,
    /// SUBMISSIONS is a single submission; write its reports straight into OUT.
    #[arg(long)]
    single: bool,
}

/// One student's line of `grades.csv`.
#[derive(Debug, Clone)]
struct Row {
    student: String,
    score: u64,
    max_score: u64,
    per_test: BTreeMap<String, u64>,
    failed: Vec<String>,
    note: Option<&'static str>,
    elapsed: Duration,
}

/// Everything a grading job needs, shared by the worker threads.
struct Plan {
    lab: &'static Lab,
    tests: Vec<&'static TestCase>,
    seed: u64,
    args: BatchArgs,
    target_dir: PathBuf,
    private_net: bool,
    budget: Duration,
    hard_limit: Duration,
}

impl BatchArgs {
    /// Runs the batch.
    ///
    /// # Errors
    /// Usage errors (unknown lab, missing folder, `--only` matching nothing) and I/O
    /// errors writing the reports. A submission that fails to build or misbehaves is not
    /// an error: it gets its grade.
    pub fn execute(mut self) -> anyhow::Result<ExitCode> {
        let lab = crate::labs::find(&self.lab).ok_or_else(|| {
            anyhow!(
                "unknown lab `{}`; the labs are: {}",
                self.lab,
                crate::labs::names().join(", ")
            )
        })?;
        let tests = runner::select(lab, self.only.as_deref());
        if tests.is_empty() {
            bail!(
                "`--only {}` matches no test of {}",
                self.only.as_deref().unwrap_or(""),
                lab.name
            );
        }
        if !self.submissions.is_dir() {
            bail!("{} is not a folder", self.submissions.display());
        }
        self.submissions = self
            .submissions
            .canonicalize()
            .context("cannot resolve the submissions folder")?;
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create {}", self.out.display()))?;
        self.out = self.out.canonicalize()?;
        sandbox::become_subreaper();
        let private_net = !self.no_netns && sandbox::private_network_available();
        let startup = Duration::from_secs(self.limits.startup_limit.max(1));
        // Each test may take its start-up, its limit and a teardown; the budget is the sum,
        // so a well-behaved slow program is never cut short.
        let budget = self
            .limits
            .budget
            .map(Duration::from_secs)
            .unwrap_or_else(|| {
                tests
                    .iter()
                    .map(|t| startup + t.time_limit + Duration::from_secs(5))
                    .sum()
            });
        self.limits.budget = Some(budget.as_secs().max(1));
        let longest = tests.iter().map(|t| t.time_limit).max().unwrap_or_default();
        let plan = Plan {
            lab,
            seed: self.seed.unwrap_or_else(Rng::fresh_seed),
            target_dir: self
                .target_dir
                .clone()
                .unwrap_or_else(|| self.out.join(".target")),
            private_net,
            budget,
            // The worker stops starting tests at the budget; the one in flight may need
            // its whole time: only then is the worker killed from outside.
            hard_limit: budget + startup + longest + Duration::from_secs(30),
            tests,
            args: self,
        };
        if plan.args.single {
            let row = grade_one(&plan, "submission", &plan.args.submissions, &plan.args.out);
            println!(
                "{}: {}/{}{}",
                plan.lab.name,
                row.score,
                row.max_score,
                row.note.map(|n| format!(" ({n})")).unwrap_or_default()
            );
            return Ok(ExitCode::SUCCESS);
        }
        run_class(&plan)
    }
}

fn run_class(plan: &Plan) -> anyhow::Result<ExitCode> {
    let students = list_students(&plan.args.submissions, &plan.args.out)?;
    if students.is_empty() {
        bail!("{} has no student folders", plan.args.submissions.display());
    }
    let jobs = plan
        .args
        .jobs
        .unwrap_or_else(|| thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, students.len());
    eprintln!(
        "Grading {} submissions of {} ({} tests), {jobs} at a time; seed {}; {}",
        students.len(),
        plan.lab.name,
        plan.tests.len(),
        plan.seed,
        if plan.private_net {
            "each in its own network namespace"
        } else {
            "network namespaces unavailable: on random free ports"
        }
    );
    let started = Instant::now();
    let queue = Arc::new(Mutex::new(students.clone()));
    let rows = Arc::new(Mutex::new(Vec::new()));
    let live = std::io::stderr().is_terminal();
    let total = students.len();
    thread::scope(|scope| {
        for _ in 0..jobs {
            let queue = Arc::clone(&queue);
            let rows = Arc::clone(&rows);
            scope.spawn(move || loop {
                let Some(student) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop() else {
                    return;
                };
                let dir = plan.args.submissions.join(&student);
                let out = plan.args.out.join(&student);
                let row = grade_one(plan, &student, &dir, &out);
                let mut rows = rows.lock().unwrap_or_else(|e| e.into_inner());
                rows.push(row.clone());
                show_progress(live, rows.len(), total, &row);
            });
        }
    });
    if live {
        eprintln!();
    }
    let mut rows = Arc::try_unwrap(rows)
        .map_err(|_| anyhow!("grading threads still running"))?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    rows.sort_by(|a, b| a.student.cmp(&b.student));
    let csv = grades_csv(&plan.tests, &rows);
    std::fs::write(plan.args.out.join("grades.csv"), csv)?;
    let summary = class_summary(plan, &rows, started.elapsed());
    std::fs::write(plan.args.out.join("summary.txt"), &summary)?;
    print!("{summary}");
    println!(
        "Wrote {}/grades.csv and STUDENT/{{results.json,feedback.txt,junit.xml}}",
        plan.args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn show_progress(live: bool, done: usize, total: usize, row: &Row) {
    let line = format!(
        "{}: {}/{}{} ({:.1} s)",
        row.student,
        row.score,
        row.max_score,
        row.note.map(|n| format!(", {n}")).unwrap_or_default(),
        row.elapsed.as_secs_f64()
    );
    if live {
        const WIDTH: usize = 30;
        let filled = WIDTH * done / total;
        eprint!(
            "\r\x1b[2K[{}{}] {done}/{total}  {line}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled)
        );
    } else {
        eprintln!("[{done}/{total}] {line}");
    }
    let _ = std::io::stderr().flush();
}

/// Student folders, sorted by name (the queue pops from the end, so reversed).
fn list_students(dir: &Path, out: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_dir() || name.starts_with('.') || path == out {
            continue;
        }
        names.push(name);
    }
    names.sort();
    names.reverse();
    Ok(names)
}

/// How a submission is started.
enum Form {
    /// Run this command (in this folder).
    Run(Vec<String>, PathBuf),
    /// Build with cargo in this folder (`Some(package)` in a workspace copy).
    Cargo(PathBuf, Option<String>),
}

/// Recognises what a student folder contains.
fn detect(dir: &Path, lab: &Lab) -> Result<Form, String> {
    let run = dir.join("run");
    if run.is_file() {
        use std::os::unix::fs::PermissionsExt;
        let mode = run.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
        let path = run.to_string_lossy().into_owned();
        if mode & 0o111 != 0 {
            return Ok(Form::Run(vec![path], dir.to_path_buf()));
        }
        // Uploads often lose the execute bit: honour the shebang line ourselves.
        let first = std::fs::read(&run).unwrap_or_default();
        let first = String::from_utf8_lossy(&first);
        let line = first.lines().next().unwrap_or("");
        return match line.strip_prefix("#!") {
            Some(shebang) if !shebang.trim().is_empty() => {
                let mut argv: Vec<String> =
                    shebang.split_whitespace().map(str::to_string).collect();
                argv.push(path);
                Ok(Form::Run(argv, dir.to_path_buf()))
            }
            _ => Err("`run` is not executable and has no `#!` line (chmod +x run)".into()),
        };
    }
    let manifest = dir.join("Cargo.toml");
    if manifest.is_file() {
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        if text.contains("[workspace]") && dir.join("labs").join(lab.name).is_dir() {
            return Ok(Form::Cargo(dir.to_path_buf(), Some(lab.name.to_string())));
        }
        if text.contains("[package]") {
            return Ok(Form::Cargo(dir.to_path_buf(), None));
        }
    }
    // An archive that unpacked into one folder: look inside it.
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    if let [only] = entries.as_slice() {
        if only.is_dir() {
            return detect(only, lab);
        }
    }
    Err(format!(
        "found nothing to grade: no executable `run`, no workspace with labs/{}, no Cargo package (Cargo.toml)",
        lab.name
    ))
}

/// Grades one submission into `out`, whatever happens, and returns its row.
fn grade_one(plan: &Plan, student: &str, dir: &Path, out: &Path) -> Row {
    let started = Instant::now();
    let _ = std::fs::create_dir_all(out);
    let (report, preamble, note) = match prepare(plan, dir) {
        Err((summary, log)) => (
            failed_report(
                plan,
                &summary,
                "The submission could not be built or started.",
            ),
            Some(format!("{summary}\n{log}")),
            Some("did not build"),
        ),
        Ok((argv, cwd)) => match run_worker(plan, &argv, &cwd, out) {
            Ok(()) => (None, None, None),
            Err((why, note)) => (
                failed_report(plan, &why, "The grader stopped this submission."),
                None,
                Some(note),
            ),
        },
    };
    if let Some(report) = report {
        let _ = write_reports(out, &report, preamble.as_deref());
    }
    row_from_results(student, out, note, started.elapsed())
}

/// Builds if needed; returns the command to grade and its folder, or a summary and a log.
fn prepare(plan: &Plan, dir: &Path) -> Result<(Vec<String>, PathBuf), (String, String)> {
    match detect(dir, plan.lab).map_err(|e| (e, String::new()))? {
        Form::Run(argv, cwd) => Ok((argv, cwd)),
        Form::Cargo(root, package) => {
            let how = CapturedBuild {
                package,
                target_dir: Some(plan.target_dir.clone()),
                offline: plan.args.offline,
                limit: Duration::from_secs(plan.args.build_timeout.max(1)),
            };
            let exe = cargo::build_captured(&root, &how)
                .map_err(|f| (f.summary, format!("The compiler's messages:\n{}", f.log)))?;
            Ok((vec![exe.to_string_lossy().into_owned()], root))
        }
    }
}

/// Runs the grading worker; `Err` with a sentence when it had to be stopped or failed.
fn run_worker(
    plan: &Plan,
    argv: &[String],
    cwd: &Path,
    out: &Path,
) -> Result<(), (String, &'static str)> {
    const TROUBLE: &str = "grader trouble";
    let exe =
        std::env::current_exe().map_err(|e| (format!("cannot find the grader: {e}"), TROUBLE))?;
    let log = std::fs::File::create(out.join("grader.log"))
        .map_err(|e| (format!("cannot write to {}: {e}", out.display()), TROUBLE))?;
    let mut cmd = Command::new(exe);
    cmd.current_dir(cwd)
        .args(["grade", plan.lab.name, "--seed", &plan.seed.to_string()])
        .args(plan.args.limits.to_args())
        .arg("--report-dir")
        .arg(out);
    if let Some(only) = &plan.args.only {
        cmd.args(["--only", only]);
    }
    cmd.arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| (e.to_string(), TROUBLE))?)
        .stderr(log);
    let _ = std::fs::remove_file(out.join("results.json"));
    let mut child = sandbox::spawn_contained(&mut cmd, plan.private_net)
        .map_err(|e| (format!("cannot start the grading worker: {e}"), TROUBLE))?;
    let (status, killed) = sandbox::wait_contained(&mut child, Instant::now() + plan.hard_limit);
    if killed {
        return Err((
            format!(
                "grading was stopped after {} s: the submission exceeded its time budget",
                plan.hard_limit.as_secs()
            ),
            "stopped at its time budget",
        ));
    }
    if !out.join("results.json").is_file() {
        let log = std::fs::read_to_string(out.join("grader.log")).unwrap_or_default();
        return Err((
            format!(
                "the grading worker failed ({}): {}",
                status.map_or("no status".into(), |s| s.to_string()),
                log.trim()
            ),
            TROUBLE,
        ));
    }
    Ok(())
}

/// A report in which every selected test failed for `why` (no program ran).
fn failed_report(plan: &Plan, why: &str, detail: &str) -> Option<Report> {
    let results = plan
        .tests
        .iter()
        .map(|&test| TestResult {
            test,
            outcome: Outcome::Failed(Failure::new(why).detail(detail)),
            elapsed: Duration::ZERO,
            program_output: None,
        })
        .collect();
    Some(Report {
        lab: plan.lab,
        program: "(not run)".into(),
        seed: plan.seed,
        results,
        elapsed: Duration::ZERO,
    })
}

/// Grades `program` and writes `results.json`, `feedback.txt` and `junit.xml` into `dir`
/// (what a batch worker does: `autograder grade … --report-dir DIR`). Prints the summary.
///
/// # Errors
/// If the reports cannot be written.
pub fn grade_into(
    lab: &'static Lab,
    program: &Program,
    options: &Options,
    dir: &Path,
) -> anyhow::Result<ExitCode> {
    let report = runner::grade(lab, program, options, &mut |_| {});
    // Nothing of the submission may outlive its grading.
    sandbox::sweep();
    write_reports(dir, &report, None)?;
    println!("{}", text::summary(&report));
    Ok(if report.full_marks() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes the three reports of `report`; `preamble` (e.g. compiler errors) goes first in
/// `feedback.txt` and in the Gradescope top-level output.
fn write_reports(dir: &Path, report: &Report, preamble: Option<&str>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut json = gradescope::results_json(report);
    let mut feedback = String::new();
    if let Some(pre) = preamble {
        feedback.push_str(pre.trim_end());
        feedback.push_str("\n\n");
        json["output"] = Value::String(format!("{}\n\n{}", pre.trim_end(), text::summary(report)));
    }
    feedback.push_str(&text::full(report, true));
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    std::fs::write(dir.join("feedback.txt"), feedback)?;
    std::fs::write(dir.join("junit.xml"), junit::xml(report))?;
    Ok(())
}

fn row_from_results(
    student: &str,
    out: &Path,
    note: Option<&'static str>,
    elapsed: Duration,
) -> Row {
    let json: Value = std::fs::read(out.join("results.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let mut row = Row {
        student: student.to_string(),
        score: json["score"].as_u64().unwrap_or(0),
        max_score: 0,
        per_test: BTreeMap::new(),
        failed: Vec::new(),
        note,
        elapsed,
    };
    for t in json["tests"].as_array().into_iter().flatten() {
        let id = t["tags"][0].as_str().unwrap_or("?").to_string();
        row.max_score += t["max_score"].as_u64().unwrap_or(0);
        if t["status"] == "failed" && t["max_score"].as_u64().unwrap_or(0) > 0 {
            row.failed.push(id.clone());
        }
        row.per_test.insert(id, t["score"].as_u64().unwrap_or(0));
    }
    row
}

fn grades_csv(tests: &[&TestCase], rows: &[Row]) -> String {
    let mut out = String::from("student,score,max_score");
    for t in tests {
        out.push(',');
        out.push_str(t.id);
    }
    out.push('\n');
    for r in rows {
        out.push_str(&csv_field(&r.student));
        out.push_str(&format!(",{},{}", r.score, r.max_score));
        for t in tests {
            out.push_str(&format!(",{}", r.per_test.get(t.id).copied().unwrap_or(0)));
        }
        out.push('\n');
    }
    out
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn class_summary(plan: &Plan, rows: &[Row], elapsed: Duration) -> String {
    let n = rows.len();
    let full = rows
        .iter()
        .filter(|r| r.score == r.max_score && r.max_score > 0)
        .count();
    let zero = rows.iter().filter(|r| r.score == 0).count();
    let unbuilt = rows
        .iter()
        .filter(|r| r.note == Some("did not build"))
        .count();
    let stopped = rows
        .iter()
        .filter(|r| r.note == Some("stopped at its time budget"))
        .count();
    let mut out = format!(
        "{}: graded {n} submissions in {:.0} s (seed {}, budget {} s each)\n\
         full marks: {full}, partial: {}, zero: {zero} (did not build: {unbuilt}, stopped: {stopped})\n",
        plan.lab.name,
        elapsed.as_secs_f64(),
        plan.seed,
        plan.budget.as_secs(),
        n - full - zero,
    );
    let mut counts: Vec<(&str, usize)> = plan
        .tests
        .iter()
        .map(|t| {
            (
                t.id,
                rows.iter()
                    .filter(|r| r.failed.iter().any(|f| f == t.id))
                    .count(),
            )
        })
        .filter(|(_, c)| *c > 0)
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if counts.is_empty() {
        out.push_str("Every submission passed every test.\n");
    } else {
        out.push_str("Tests the class failed most:\n");
        for (id, c) in counts {
            out.push_str(&format!(
                "  {id:<24} failed by {c:>3} of {n} ({:.0}%)\n",
                100.0 * c as f64 / n as f64
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("alice"), "alice");
        assert_eq!(csv_field("doe, jane"), "\"doe, jane\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
    }
}
