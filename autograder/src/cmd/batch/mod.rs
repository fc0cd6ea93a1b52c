//! `autograder batch`: grade a whole class, in parallel, each submission in a sandbox.
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
//! The trust model: a submission is untrusted from its first byte, its build included.
//! For each one, in order:
//!
//! 1. a **private copy** with fresh file times, in a scratch folder of its own (see
//!    [`build`] for why times matter);
//! 2. its **build**, in a bubblewrap sandbox with no network, starting from the class's
//!    compiled dependencies; the binary is copied to the submission's own `bin/`;
//! 3. a **worker** — this executable, `autograder grade --worker`, trusted — grades it:
//!    in a network namespace of its own where the machine allows it, each test's program
//!    in a sandbox of its own (`sandbox`), under the submission's own uid when we are root;
//! 4. the worker hands its report back over its standard output (`report::wire`); this
//!    process checks it and writes every file under `--out` itself. Nothing a submission
//!    can open is ever read back as a result.
//!
//! A worker that ends any other way than with a report is "grader trouble": retried once,
//! never a score charged to the student. Writes, under `--out`:
//!
//! - `grades.csv`: `student,score,max_score,<one column per test id>`, rewritten after
//!   each submission, so a batch that is stopped still leaves every finished grade;
//! - `STUDENT/results.json` (Gradescope), `STUDENT/feedback.txt` (the text report, with the
//!   compiler's errors when the build failed), `STUDENT/junit.xml`, `STUDENT/grader.log`;
//! - `summary.txt`: which tests the class failed most.
//!
//! With `--single`, `SUBMISSIONS` is one submission and the three reports go straight into
//! `--out` (this is what the Gradescope bundle's `run_autograder` does).

pub mod build;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::cmd::limits::LimitArgs;
use crate::grade::probe::Failure;
use crate::grade::report::{gradescope, junit, text, wire};
use crate::grade::rubric::{Lab, TestCase};
use crate::grade::runner::{self, Outcome, Report, TestResult};
use crate::os::sandbox::{self, Bwrap, Containment};
use crate::rng::Rng;
use build::{Builder, Scratch, Toolchain};

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
    #[arg(required_unless_present = "prepare")]
    submissions: Option<PathBuf>,
    /// Where to write grades.csv and the per-student reports (not inside SUBMISSIONS).
    #[arg(long, required_unless_present = "prepare")]
    out: Option<PathBuf>,
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
    /// Keep the class's compiled dependencies here, to reuse in later batches (default: a
    /// temporary folder, compiled once per batch). Builds only ever read a copy.
    #[arg(long, value_name = "DIR")]
    deps_cache: Option<PathBuf>,
    /// Only compile the shared dependencies into --deps-cache, then stop (for an image
    /// that grades later, such as Gradescope's).
    #[arg(long, requires = "deps_cache")]
    prepare: bool,
    /// Do not download the lab's dependencies first (they must already be in cargo's
    /// registry). Builds themselves never have network access.
    #[arg(long)]
    offline: bool,
    /// Do not use network namespaces even where they are available.
    #[arg(long)]
    no_netns: bool,
    /// SUBMISSIONS is a single submission; write its reports straight into OUT.
    #[arg(long)]
    single: bool,
    /// Replace the reports already in OUT (otherwise a batch refuses to mix its reports
    /// with another run's).
    #[arg(long)]
    force: bool,
    /// Grade several submissions even where no sandbox can be made: any of them can then
    /// read and change the others and their grades.
    #[arg(long)]
    unsandboxed: bool,
}

/// How one submission's grading ended, beyond its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Graded: the score is what its program earned.
    Graded,
    /// Nothing could be built or started.
    DidNotBuild,
    /// Its grading was stopped at the time budget.
    Stopped,
    /// The grader failed twice; the score says nothing about the submission.
    GraderTrouble,
}

impl Fate {
    fn note(self) -> Option<&'static str> {
        match self {
            Fate::Graded => None,
            Fate::DidNotBuild => Some("did not build"),
            Fate::Stopped => Some("stopped at its time budget"),
            Fate::GraderTrouble => Some("grader trouble: grade again"),
        }
    }
}

/// One student's line of `grades.csv`.
#[derive(Debug, Clone)]
struct Row {
    student: String,
    score: u32,
    max_score: u32,
    per_test: BTreeMap<&'static str, u32>,
    failed: Vec<&'static str>,
    fate: Fate,
    elapsed: Duration,
    /// Of which copying and building took this long.
    prepared: Duration,
}

impl Row {
    fn new(student: &str, report: &Report, fate: Fate, elapsed: Duration) -> Row {
        Row {
            student: student.to_string(),
            score: report.score(),
            max_score: report.max_score(),
            per_test: report
                .results
                .iter()
                .map(|r| (r.test.id, r.score()))
                .collect(),
            failed: report
                .results
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed(_)) && r.test.points > 0)
                .map(|r| r.test.id)
                .collect(),
            fate,
            elapsed,
            prepared: Duration::ZERO,
        }
    }
}

/// How programs and builds are isolated in this batch.
#[derive(Debug, Clone)]
enum Isolation {
    /// In bubblewrap.
    Sandboxed(Bwrap),
    /// Not: why, and (as root) the uid programs still run as.
    Unsandboxed { why: String },
}

/// First uid of the submissions when root grades: one uid per submission, far from the
/// ranges distributions give to people and services.
const FIRST_UID: u32 = 61_000;

/// Everything a grading job needs, shared by the worker threads.
struct Plan {
    lab: &'static Lab,
    tests: Vec<&'static TestCase>,
    seed: u64,
    args: BatchArgs,
    submissions: PathBuf,
    out: PathBuf,
    isolation: Isolation,
    builder: Builder,
    /// Root of every submission's private place (removed at the end).
    scratch: PathBuf,
    worker_net: WorkerNet,
    /// The grader's own copy that workers run.
    grader: PathBuf,
    budget: Duration,
    hard_limit: Duration,
}

impl Plan {
    /// The uid submission `index` runs as (only when we are root).
    fn uid(&self, index: usize) -> Option<u32> {
        sandbox::is_root().then(|| FIRST_UID + (index % 4000) as u32)
    }

    /// The sentence every report carries when the submission was not sandboxed.
    fn unsandboxed_note(&self, uid: Option<u32>) -> Option<String> {
        match &self.isolation {
            Isolation::Sandboxed(_) => None,
            Isolation::Unsandboxed { why } => Some(format!(
                "not sandboxed: {why}{}",
                uid.map(|u| format!("; the program ran as uid {u}"))
                    .unwrap_or_default()
            )),
        }
    }
}

impl BatchArgs {
    /// Runs the batch.
    ///
    /// # Errors
    /// Usage errors (unknown lab, missing folder, `--only` matching nothing, an `--out`
    /// that cannot be used) before anything is graded, and I/O errors writing the reports.
    /// A submission that fails to build or misbehaves is not an error: it gets its grade.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let lab = crate::grade::labs::find(&self.lab).ok_or_else(|| {
            anyhow!(
                "unknown lab `{}`; the labs are: {}",
                self.lab,
                crate::grade::labs::names().join(", ")
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
        self.limits.validate()?;
        if !(1..=7200).contains(&self.build_timeout) {
            bail!(
                "--build-timeout {}: give between 1 and 7200 seconds",
                self.build_timeout
            );
        }
        if let Some(jobs) = self.jobs {
            if !(1..=64).contains(&jobs) {
                bail!("--jobs {jobs}: give between 1 and 64 submissions at once");
            }
        }
        let isolation = if sandbox::is_root() {
            Bwrap::detect(Some(FIRST_UID))
        } else {
            Bwrap::detect(None)
        }
        .map_or_else(|why| Isolation::Unsandboxed { why }, Isolation::Sandboxed);
        // The first line of output, whatever follows: how far the grades can be trusted.
        eprintln!(
            "{}",
            match &isolation {
                Isolation::Sandboxed(_) => {
                    "Each submission is built and run in a sandbox (bubblewrap).".to_string()
                }
                Isolation::Unsandboxed { why } => format!("not sandboxed: {why}"),
            }
        );
        // As root, a mount namespace of our own first (while this process has one thread,
        // which unsharing requires): the toolchain's binds and the submissions' tmpfs
        // places are ours alone and vanish with us.
        let private_mounts = sandbox::is_root() && sandbox::private_mounts().is_ok();
        let scratch = tempfile::Builder::new()
            .prefix("netlabs-batch-")
            .tempdir()
            .context("cannot make a scratch folder")?;
        // The toolchain's mounts live apart from the scratch, which is removed whole.
        let tools = tempfile::Builder::new()
            .prefix("netlabs-tools-")
            .tempdir()
            .context("cannot make a scratch folder")?;
        {
            use std::os::unix::fs::PermissionsExt;
            // Submissions' uids must pass through to their own folders, and see nothing else.
            for dir in [scratch.path(), tools.path()] {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
            }
        }
        // Only Cargo submissions need it: a class of `run` scripts grades without Rust.
        let toolchain = match Toolchain::find() {
            Ok(found) if private_mounts => match found.clone().expose(tools.path()) {
                Ok(exposed) => Some(exposed),
                Err(e) => {
                    eprintln!("note: cannot bind the toolchain for the sandboxes ({e}); builds use it where it is");
                    Some(found)
                }
            },
            Ok(found) => Some(found),
            Err(e) => {
                eprintln!("note: {e:#}; Cargo submissions cannot be built");
                None
            }
        };
        let _unexpose = Unexpose(toolchain.clone());
        let mut builder = Builder {
            sandbox: match &isolation {
                Isolation::Sandboxed(b) => Some(b.clone()),
                Isolation::Unsandboxed { .. } => None,
            },
            toolchain,
            deps: None,
            limit: Duration::from_secs(self.build_timeout),
            offline: self.offline,
            tmpfs: private_mounts,
        };
        if self.prepare {
            let cache = self.deps_cache.clone().expect("clap requires --deps-cache");
            builder.deps = Some(prepare_deps(
                &self,
                lab,
                &builder,
                &cache,
                scratch.path(),
                true,
            )?);
            sayln!(
                "{}: dependencies compiled into {}",
                lab.name,
                cache.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        let submissions = self.submissions.clone().expect("clap requires SUBMISSIONS");
        if !submissions.is_dir() {
            bail!("{} is not a folder", submissions.display());
        }
        let submissions = submissions
            .canonicalize()
            .context("cannot resolve the submissions folder")?;
        let out = prepare_out(
            self.out.as_deref().expect("clap requires --out"),
            &submissions,
            self.single,
            self.force,
        )?;
        let students = if self.single {
            vec!["submission".to_string()]
        } else {
            list_students(&submissions, &out)?
        };
        if students.is_empty() {
            bail!("{} has no student folders", submissions.display());
        }
        if let Isolation::Unsandboxed { why } = &isolation {
            if students.len() > 1 && !self.unsandboxed {
                bail!(
                    "cannot sandbox the submissions: {why}.\n\
                     Unsandboxed, any submission can read and change the others and their \
                     grades. Install bubblewrap (apt-get install bubblewrap), or pass \
                     --unsandboxed to grade anyway."
                );
            }
        }
        // Dependencies are compiled once, before any submission is built.
        let cache = self
            .deps_cache
            .clone()
            .unwrap_or_else(|| scratch.path().join("deps"));
        builder.deps = match prepare_deps(&self, lab, &builder, &cache, scratch.path(), false) {
            Ok(deps) => Some(deps),
            Err(e) => {
                eprintln!("note: the shared dependencies could not be compiled ({e:#}); each submission compiles its own");
                None
            }
        };
        sandbox::become_subreaper();
        let worker_net = match (&isolation, self.no_netns) {
            (_, true) => WorkerNet::Shared,
            _ if sandbox::private_network_available() => WorkerNet::Unshared,
            (Isolation::Sandboxed(bwrap), false) if bwrap_network_available(bwrap) => {
                WorkerNet::Bwrap
            }
            _ => WorkerNet::Shared,
        };
        let grader = copy_of_grader(tools.path())?;
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
        let mut args = self;
        args.limits.budget = Some(budget.as_secs().max(1));
        let longest = tests.iter().map(|t| t.time_limit).max().unwrap_or_default();
        let plan = Plan {
            lab,
            seed: args.seed.unwrap_or_else(Rng::fresh_seed),
            worker_net,
            grader,
            budget,
            // The worker stops starting tests at the budget; the one in flight may need
            // its whole time: only then is the worker killed from outside.
            hard_limit: budget + startup + longest + Duration::from_secs(30),
            tests,
            args,
            submissions,
            out,
            isolation,
            builder,
            scratch: scratch.path().to_path_buf(),
        };
        if plan.args.single {
            let row = grade_one(&plan, 0, "submission", &plan.submissions, &plan.out);
            sayln!(
                "{}: {}/{}{}",
                plan.lab.name,
                row.score,
                row.max_score,
                row.fate
                    .note()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
            return Ok(ExitCode::SUCCESS);
        }
        run_class(&plan, students)
    }
}

/// Removes the toolchain's mounts when the batch ends, before their folder is removed.
struct Unexpose(Option<Toolchain>);

impl Drop for Unexpose {
    fn drop(&mut self) {
        if let Some(toolchain) = &self.0 {
            toolchain.unexpose();
        }
    }
}

/// The compiled dependencies every build starts from: `cache` if it holds them for this
/// lab and toolchain, else compiled into it now (`fresh`: always compile).
fn prepare_deps(
    args: &BatchArgs,
    lab: &Lab,
    builder: &Builder,
    cache: &Path,
    scratch: &Path,
    fresh: bool,
) -> anyhow::Result<PathBuf> {
    let stamp = cache.join(".netlabs-deps");
    let toolchain = builder
        .toolchain
        .as_ref()
        .context("no Rust toolchain to compile them with")?;
    let want = format!("{} {}\n", lab.name, toolchain.describe());
    if !fresh && std::fs::read_to_string(&stamp).is_ok_and(|s| s == want) {
        return Ok(cache.to_path_buf());
    }
    // The cache is replaced whole: never a folder that holds anything but an earlier cache.
    let foreign = std::fs::read_dir(cache).is_ok_and(|mut d| d.next().is_some()) && !stamp.exists();
    if foreign {
        bail!(
            "--deps-cache {} holds other files: give an empty folder, or one an earlier batch made",
            cache.display()
        );
    }
    let workspace = crate::os::cargo::workspace_root()?;
    if !args.offline {
        // Downloads happen here, trusted and from our own lock file; builds have no network.
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&workspace)
            .args(["fetch", "--locked", "--quiet"])
            .stdin(Stdio::null())
            .status()
            .context("cannot run cargo fetch")?;
        if !status.success() {
            bail!("`cargo fetch` of the lab's dependencies failed");
        }
    }
    eprintln!(
        "Compiling the dependencies of {} once for the class …",
        lab.name
    );
    let uid = sandbox::is_root().then_some(FIRST_UID);
    build::warm_deps(
        builder,
        lab.name,
        &workspace,
        &scratch.join("warm-up"),
        cache,
        uid,
    )
    .map_err(|e| anyhow!(e))?;
    std::fs::write(&stamp, want)?;
    Ok(cache.to_path_buf())
}

/// Checks `--out` and makes it ready: creatable, writable, not inside the submissions, and
/// holding no reports of another run (unless `force`, which removes them).
fn prepare_out(
    out: &Path,
    submissions: &Path,
    single: bool,
    force: bool,
) -> anyhow::Result<PathBuf> {
    // Resolved before it exists, so that `--out submissions/grades` is caught too.
    let absolute = std::path::absolute(out).context("cannot resolve --out")?;
    let mut existing = absolute.as_path();
    while !existing.exists() {
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let resolved = existing
        .canonicalize()?
        .join(absolute.strip_prefix(existing).unwrap_or(Path::new("")));
    if resolved.starts_with(submissions) || (single && submissions.starts_with(&resolved)) {
        bail!(
            "--out {} is inside the submissions ({}): reports must go elsewhere",
            out.display(),
            submissions.display()
        );
    }
    std::fs::create_dir_all(&resolved)
        .with_context(|| format!("cannot create --out {}", out.display()))?;
    let probe = resolved.join(".netlabs-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out {} is not writable", out.display()))?;
    let _ = std::fs::remove_file(&probe);
    let stale = stale_reports(&resolved, single);
    if !stale.is_empty() {
        if !force {
            bail!(
                "--out {} already holds reports ({}{}): give an empty folder, or --force to replace them",
                out.display(),
                stale[0].display(),
                if stale.len() > 1 { format!(" and {} more", stale.len() - 1) } else { String::new() }
            );
        }
        for file in &stale {
            let _ = std::fs::remove_file(file);
            if let Some(parent) = file.parent().filter(|p| *p != resolved) {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
    Ok(resolved)
}

/// The files of an earlier run in `out`.
fn stale_reports(out: &Path, single: bool) -> Vec<PathBuf> {
    const PER_STUDENT: [&str; 4] = ["results.json", "feedback.txt", "junit.xml", "grader.log"];
    let mut found: Vec<PathBuf> = ["grades.csv", "summary.txt"]
        .iter()
        .chain(if single {
            PER_STUDENT.iter()
        } else {
            [].iter()
        })
        .map(|f| out.join(f))
        .filter(|p| p.exists())
        .collect();
    if !single {
        for entry in std::fs::read_dir(out).into_iter().flatten().flatten() {
            for f in PER_STUDENT {
                let p = entry.path().join(f);
                if p.is_file() {
                    found.push(p);
                }
            }
        }
    }
    found.sort();
    found
}

fn run_class(plan: &Plan, students: Vec<String>) -> anyhow::Result<ExitCode> {
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
        if plan.worker_net != WorkerNet::Shared {
            "each in its own network namespace"
        } else {
            "network namespaces unavailable: on random free ports"
        }
    );
    let started = Instant::now();
    // Indexed, so each submission keeps its own uid and scratch folder whoever grades it.
    let queue: Vec<(usize, String)> = students.into_iter().enumerate().rev().collect();
    let total = queue.len();
    let queue = Arc::new(Mutex::new(queue));
    let rows = Arc::new(Mutex::new(Vec::new()));
    let live = std::io::stderr().is_terminal();
    thread::scope(|scope| {
        for _ in 0..jobs {
            let queue = Arc::clone(&queue);
            let rows = Arc::clone(&rows);
            scope.spawn(move || loop {
                let Some((index, student)) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop()
                else {
                    return;
                };
                let dir = plan.submissions.join(&student);
                let out = plan.out.join(&student);
                let row = grade_one(plan, index, &student, &dir, &out);
                let mut rows = rows.lock().unwrap_or_else(|e| e.into_inner());
                rows.push(row.clone());
                // Every finished grade is on disk at once: a batch stopped half-way still
                // leaves a gradebook of what it finished.
                if let Err(e) = write_grades(plan, &rows) {
                    eprintln!("cannot write grades.csv: {e}");
                }
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
    write_grades(plan, &rows)?;
    let summary = class_summary(plan, &rows, started.elapsed());
    std::fs::write(plan.out.join("summary.txt"), &summary)?;
    say!("{summary}");
    sayln!(
        "Wrote {}/grades.csv and STUDENT/{{results.json,feedback.txt,junit.xml}}",
        plan.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `grades.csv` whole, through a temporary file, so a reader never sees half.
fn write_grades(plan: &Plan, rows: &[Row]) -> std::io::Result<()> {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| a.student.cmp(&b.student));
    let path = plan.out.join("grades.csv");
    let partial = plan.out.join(".grades.csv.partial");
    std::fs::write(&partial, grades_csv(&plan.tests, &sorted))?;
    std::fs::rename(partial, path)
}

fn show_progress(live: bool, done: usize, total: usize, row: &Row) {
    let line = format!(
        "{}: {}/{}{} ({:.1} s, of which {:.1} s to copy and build)",
        row.student,
        row.score,
        row.max_score,
        row.fate
            .note()
            .map(|n| format!(", {n}"))
            .unwrap_or_default(),
        row.elapsed.as_secs_f64(),
        row.prepared.as_secs_f64()
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
fn grade_one(plan: &Plan, index: usize, student: &str, dir: &Path, out: &Path) -> Row {
    let started = Instant::now();
    let uid = plan.uid(index);
    let mut preamble: Vec<String> = plan.unsandboxed_note(uid).into_iter().collect();
    let mut prepared = Duration::ZERO;
    let place = plan.scratch.join(index.to_string());
    let (report, fate) = match Scratch::create(place, plan.builder.tmpfs) {
        Err(e) => (
            failed_report(
                plan,
                &format!("the grader could not make a private folder: {e}"),
                "This is a problem of the grading machine, not of the submission.",
            ),
            Fate::GraderTrouble,
        ),
        Ok(scratch) => {
            let ready = prepare(plan, dir, &scratch, uid);
            prepared = started.elapsed();
            match ready {
                Err((summary, log)) => {
                    preamble.push(format!("{summary}\n{log}"));
                    (
                        failed_report(
                            plan,
                            &summary,
                            "The submission could not be built or started.",
                        ),
                        Fate::DidNotBuild,
                    )
                }
                Ok((argv, cwd)) => grade_program(plan, &argv, &cwd, uid, out),
            }
        }
    };
    let preamble = preamble.join("\n\n");
    if let Err(e) = write_reports(
        out,
        &report,
        (!preamble.is_empty()).then_some(preamble.as_str()),
    ) {
        eprintln!("cannot write the reports of {student}: {e}");
    }
    let mut row = Row::new(student, &report, fate, started.elapsed());
    row.prepared = prepared;
    row
}

/// Copies the submission to its private place and builds it if needed; returns the
/// command to grade and its folder, or a summary and a log.
fn prepare(
    plan: &Plan,
    dir: &Path,
    scratch: &Scratch,
    uid: Option<u32>,
) -> Result<(Vec<String>, PathBuf), (String, String)> {
    build::private_copy(dir, &scratch.src()).map_err(|e| (e, String::new()))?;
    match detect(&scratch.src(), plan.lab).map_err(|e| (e, String::new()))? {
        Form::Run(argv, cwd) => {
            if let Some(uid) = uid {
                sandbox::chown_tree(scratch.dir(), uid).map_err(|e| {
                    (
                        format!("the grader could not prepare the submission: {e}"),
                        String::new(),
                    )
                })?;
            }
            Ok((argv, cwd))
        }
        Form::Cargo(root, package) => {
            let within = root
                .strip_prefix(scratch.src())
                .unwrap_or(Path::new(""))
                .to_path_buf();
            let exe = plan
                .builder
                .build(scratch, &within, package.as_deref(), uid)
                .map_err(|f| {
                    let mut summary = f.summary;
                    if f.log.contains("offline") || f.log.contains("--offline") {
                        summary.push_str(" (builds have no network: only the lab's own dependencies are available)");
                    }
                    (summary, format!("The compiler's messages:\n{}", f.log))
                })?;
            Ok((vec![exe.to_string_lossy().into_owned()], root))
        }
    }
}

/// Grades the program through a worker; a worker that fails is tried once more, and a
/// second failure is the grader's trouble, not the student's.
fn grade_program(
    plan: &Plan,
    argv: &[String],
    cwd: &Path,
    uid: Option<u32>,
    out: &Path,
) -> (Report, Fate) {
    let mut last = String::new();
    let mut partial = None;
    for _ in 0..2 {
        match run_worker(plan, argv, cwd, uid, out) {
            Ok(mut report) => {
                // The worker saw a path in a scratch folder that is gone by now; name what
                // the student handed in instead.
                report.program = shown_program(plan, argv, cwd);
                if !report.could_not_grade() {
                    return (report, Fate::Graded);
                }
                // Some test hit the grader's own trouble (each was already tried twice):
                // the whole submission once more, then its report as it stands.
                partial = Some(report);
            }
            Err(WorkerError::Stopped(why)) => {
                return (
                    failed_report(plan, &why, "The grader stopped this submission."),
                    Fate::Stopped,
                )
            }
            Err(WorkerError::Trouble(why)) => last = why,
        }
    }
    if let Some(report) = partial {
        return (report, Fate::GraderTrouble);
    }
    (
        failed_report(
            plan,
            &format!("the grader could not grade this submission: {last}"),
            "This is a problem of the grader, not a verdict on the submission: grade it again.",
        ),
        Fate::GraderTrouble,
    )
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

/// Why a worker produced no report.
#[derive(Debug)]
enum WorkerError {
    /// Killed at the hard time limit (the submission used up its budget).
    Stopped(String),
    /// Anything else: the grader's own trouble.
    Trouble(String),
}

/// A private copy of this very process's image (read through `/proc/self/exe`, which is
/// ours even if the file was replaced since), for the workers to run: a rebuild or a
/// replacement of the grader's file during a batch cannot change, or break, the grader
/// the rest of the class gets.
fn copy_of_grader(dir: &Path) -> anyhow::Result<PathBuf> {
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
fn bwrap_network_available(bwrap: &Bwrap) -> bool {
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
enum WorkerNet {
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

/// A report in which every selected test failed for `why` (no program ran).
fn failed_report(plan: &Plan, why: &str, detail: &str) -> Report {
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
    Report {
        lab: plan.lab,
        program: "(not run)".into(),
        seed: plan.seed,
        results,
        elapsed: Duration::ZERO,
    }
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

fn grades_csv(tests: &[&TestCase], rows: &[&Row]) -> String {
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
    let count = |fate: Fate| rows.iter().filter(|r| r.fate == fate).count();
    let (unbuilt, stopped, trouble) = (
        count(Fate::DidNotBuild),
        count(Fate::Stopped),
        count(Fate::GraderTrouble),
    );
    let mut out = format!(
        "{}: graded {n} submissions in {:.0} s (seed {}, budget {} s each)\n\
         full marks: {full}, partial: {}, zero: {zero} (did not build: {unbuilt}, stopped: {stopped})\n{}",
        plan.lab.name,
        elapsed.as_secs_f64(),
        plan.seed,
        plan.budget.as_secs(),
        n - full - zero,
        if trouble > 0 {
            format!("grader trouble (not graded, grade again): {trouble}\n")
        } else {
            String::new()
        },
    );
    let mut counts: Vec<(&str, usize)> = plan
        .tests
        .iter()
        .map(|t| {
            (
                t.id,
                rows.iter().filter(|r| r.failed.contains(&t.id)).count(),
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
