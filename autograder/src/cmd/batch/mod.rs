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
//! 3. a **worker** (this executable, `autograder grade --worker`, trusted) grades it: in
//!    a network namespace of its own where the machine allows it, each test's program in
//!    a sandbox of its own (`sandbox`), under the submission's own uid when we are root;
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
//!   compiler's errors when the build failed), `STUDENT/feedback.html` (the same report
//!   with each failing exchange drawn), `STUDENT/junit.xml`, `STUDENT/grader.log`;
//! - `summary.txt`: which tests the class failed most;
//! - `report.html`: the class at a glance (score distribution, pass rates, the diagnoses
//!   the class hit most, a sortable table of students linking to their feedback pages).
//!
//! With `--single`, `SUBMISSIONS` is one submission and its reports go straight into
//! `--out` (this is what the Gradescope bundle's `run_autograder` does).
//!
//! How one submission's grading ends is a `Fate`: graded (the worker's report), did not
//! build (with the compiler's messages), stopped at its budget, or the grader's trouble
//! (with why); its reports and its line in `grades.csv` are written from it. The parts:
//!
//! - this module: the arguments, the plan every job shares (isolation, builder, budget),
//!   `--out`, the shared dependencies, and one submission from its folder to its reports;
//! - `submissions`: the forms a submission comes in, its private copy and its build;
//! - [`build`]: the sandboxed build itself;
//! - `worker`: running the grading worker and checking what it hands back;
//! - `class`: the parallel queue, `grades.csv`, the progress line and `summary.txt`;
//! - `gradebook`: `--gradebook canvas|moodle`, the CSV an LMS imports, and its roster.

pub mod build;
mod class;
mod gradebook;
mod submissions;
mod worker;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::cmd::limits::LimitArgs;
use crate::grade::probe::Failure;
use crate::grade::report::gradescope::Results;
use crate::grade::report::{html, junit, text};
use crate::grade::rubric::{Lab, TestCase};
use crate::grade::runner::{self, Outcome, Report, TestResult};
use crate::os::sandbox::{self, Bwrap};
use crate::rng::Rng;
use build::{Builder, Scratch, Toolchain};
use class::{Row, Standing};
use submissions::{Ready, Unbuilt};
use worker::WorkerNet;

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
    /// Rubric overrides (points, visibility, enabled, a total per lab) from this TOML
    /// file: every report and grades.csv follow it.
    #[arg(long, value_name = "FILE")]
    rubric: Option<PathBuf>,
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
    /// Also write a gradebook CSV that this LMS imports as it is (gradebook-LMS.csv).
    #[arg(long, value_enum, value_name = "LMS", conflicts_with = "single")]
    gradebook: Option<gradebook::Lms>,
    /// Map student folders to the LMS's ids: a CSV with a header naming columns among
    /// folder, name, id, sis_user_id, sis_login_id, section, email, username, idnumber.
    #[arg(long, value_name = "FILE", requires = "gradebook")]
    roster: Option<PathBuf>,
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

/// How one submission's grading ended, with what each ending has to say.
#[derive(Debug)]
enum Fate {
    /// Its program (built by us, or handed in ready to run) was graded: the worker's
    /// report, which is the grade.
    Graded(Report),
    /// Nothing could be built or started.
    BuildFailed(Unbuilt),
    /// Its grading was stopped at the time budget: why.
    Stopped { why: String },
    /// Some tests could not be graded (the grader's trouble, each tried twice, and the
    /// whole submission once more): the worker's report as it stands.
    PartlyGraded(Report),
    /// The grader could not grade it at all: why. Not a verdict on the submission.
    GraderTrouble { why: String },
}

impl Fate {
    /// What its grade stands on, as the progress line and the class summary say it.
    fn standing(&self) -> Standing {
        match self {
            Fate::Graded(_) => Standing::Graded,
            Fate::BuildFailed(_) => Standing::DidNotBuild,
            Fate::Stopped { .. } => Standing::Stopped,
            Fate::PartlyGraded(_) | Fate::GraderTrouble { .. } => Standing::GraderTrouble,
        }
    }

    /// What its feedback says before the tests: why it did not build, and the compiler's
    /// messages.
    fn preamble(&self) -> Option<String> {
        match self {
            Fate::BuildFailed(Unbuilt { why, log: None }) => Some(format!("{why}\n")),
            Fate::BuildFailed(Unbuilt {
                why,
                log: Some(log),
            }) => Some(format!("{why}\nThe compiler's messages:\n{log}")),
            _ => None,
        }
    }

    /// The report its files are written from: the worker's, or one in which every test
    /// failed for the reason it ended.
    fn into_report(self, plan: &Plan) -> Report {
        match self {
            Fate::Graded(report) | Fate::PartlyGraded(report) => report,
            Fate::BuildFailed(Unbuilt { why, .. }) => {
                failed_report(plan, &why, "The submission could not be built or started.")
            }
            Fate::Stopped { why } => {
                failed_report(plan, &why, "The grader stopped this submission.")
            }
            Fate::GraderTrouble { why } => failed_report(
                plan,
                &why,
                "This is a problem of the grader, not a verdict on the submission: grade it again.",
            ),
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
    /// The `--roster` for the gradebook, checked against the student folders.
    roster: Option<gradebook::Roster>,
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
    pub fn execute(mut self) -> anyhow::Result<ExitCode> {
        // The rubric file first: a mistake in it must not cost a class's builds. Workers
        // run in each submission's folder, so they are handed its absolute path.
        if let Some(rubric) = &self.rubric {
            self.rubric =
                Some(std::fs::canonicalize(rubric).with_context(|| {
                    format!("cannot read the rubric file {}", rubric.display())
                })?);
        }
        let lab = crate::grade::overrides::effective(&self.lab, self.rubric.as_deref())?;
        let roster = match (self.gradebook, &self.roster) {
            (Some(lms), Some(path)) => Some(gradebook::Roster::load(path, lms)?),
            _ => None,
        };
        if let Some(only) = &self.only {
            crate::grade::overrides::check_only(lab, only).map_err(|e| anyhow!(e))?;
        }
        let tests = runner::select(lab, self.only.as_deref());
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
            submissions::list_students(&submissions, &out)?
        };
        if students.is_empty() {
            bail!("{} has no student folders", submissions.display());
        }
        if let Some(roster) = &roster {
            roster.check_students(&students)?;
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
            (Isolation::Sandboxed(bwrap), false) if worker::bwrap_network_available(bwrap) => {
                WorkerNet::Bwrap
            }
            _ => WorkerNet::Shared,
        };
        let grader = worker::copy_of_grader(tools.path())?;
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
            roster,
        };
        if plan.args.single {
            let row = grade_one(&plan, 0, "submission", &plan.submissions, &plan.out);
            sayln!(
                "{}: {}/{}{}",
                plan.lab.name,
                row.score,
                row.max_score,
                row.standing
                    .note()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
            return Ok(ExitCode::SUCCESS);
        }
        class::run_class(&plan, students)
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
    const PER_STUDENT: [&str; 5] = [
        "results.json",
        "feedback.txt",
        "feedback.html",
        "junit.xml",
        "grader.log",
    ];
    let mut found: Vec<PathBuf> = ["grades.csv", "summary.txt", "report.html"]
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

/// Grades one submission into `out`, whatever happens, and returns its row.
fn grade_one(plan: &Plan, index: usize, student: &str, dir: &Path, out: &Path) -> Row {
    let started = Instant::now();
    let uid = plan.uid(index);
    let mut prepared = Duration::ZERO;
    let place = plan.scratch.join(index.to_string());
    let fate = match Scratch::create(place, plan.builder.tmpfs) {
        Err(e) => Fate::GraderTrouble {
            why: format!("the grader could not make a private folder: {e}"),
        },
        Ok(scratch) => {
            let ready = submissions::prepare(plan, dir, &scratch, uid);
            prepared = started.elapsed();
            match ready {
                Err(unbuilt) => Fate::BuildFailed(unbuilt),
                Ok(Ready { argv, cwd }) => worker::grade_program(plan, &argv, &cwd, uid, out),
            }
        }
    };
    let standing = fate.standing();
    // Only a program that ran has failures worth a diagnosis.
    let ran = matches!(fate, Fate::Graded(_) | Fate::PartlyGraded(_));
    let mut preamble: Vec<String> = plan.unsandboxed_note(uid).into_iter().collect();
    preamble.extend(fate.preamble());
    let preamble = preamble.join("\n\n");
    let report = fate.into_report(plan);
    if let Err(e) = write_reports(
        out,
        &report,
        (!preamble.is_empty()).then_some(preamble.as_str()),
        (!plan.args.single).then_some("../report.html"),
    ) {
        eprintln!("cannot write the reports of {student}: {e}");
    }
    Row::new(student, &report, standing, ran, started.elapsed(), prepared)
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

/// Writes the reports of `report`; `preamble` (e.g. compiler errors) goes first in
/// `feedback.txt`, `feedback.html` and the Gradescope top-level output. `class_report` is
/// the feedback page's link to the class report, when there is one.
fn write_reports(
    dir: &Path,
    report: &Report,
    preamble: Option<&str>,
    class_report: Option<&str>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut results = Results::of(report);
    let mut feedback = String::new();
    if let Some(pre) = preamble {
        feedback.push_str(pre.trim_end());
        feedback.push_str("\n\n");
        results = results.with_preamble(pre);
    }
    feedback.push_str(&text::full(report, true));
    std::fs::write(dir.join("results.json"), results.to_json())?;
    std::fs::write(dir.join("feedback.txt"), feedback)?;
    std::fs::write(
        dir.join("feedback.html"),
        html::feedback_page(report, preamble, class_report),
    )?;
    std::fs::write(dir.join("junit.xml"), junit::xml(report))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_shows_the_compilers_messages_first_and_counts_as_not_built() {
        let failed = Fate::BuildFailed(Unbuilt {
            why: "the build failed".into(),
            log: Some("error[E0308]: mismatched types\n".into()),
        });
        assert_eq!(
            failed.preamble().as_deref(),
            Some("the build failed\nThe compiler's messages:\nerror[E0308]: mismatched types\n")
        );
        assert_eq!(failed.standing().note(), Some("did not build"));
        let unrecognised = Fate::BuildFailed(Unbuilt {
            why: "found nothing to grade".into(),
            log: None,
        });
        assert_eq!(
            unrecognised.preamble().as_deref(),
            Some("found nothing to grade\n")
        );
    }

    #[test]
    fn only_a_whole_report_is_a_grade() {
        let report = || Report {
            lab: crate::grade::labs::find("lab1").unwrap(),
            program: "./server".into(),
            seed: 1,
            results: Vec::new(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(Fate::Graded(report()).standing(), Standing::Graded);
        for trouble in [
            Fate::PartlyGraded(report()),
            Fate::GraderTrouble {
                why: "no report".into(),
            },
        ] {
            assert_eq!(trouble.standing(), Standing::GraderTrouble);
            assert!(trouble.preamble().is_none());
        }
        let stopped = Fate::Stopped {
            why: "out of time".into(),
        };
        assert_eq!(
            stopped.standing().note(),
            Some("stopped at its time budget")
        );
    }
}
