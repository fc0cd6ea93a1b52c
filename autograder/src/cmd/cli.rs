//! The command line: `autograder grade|check|watch|list|hint|handouts` (and `bench`, `demo`).
//!
//! Exit status: 0 full marks, 1 some test failed, 2 could not grade (usage error, unknown
//! lab, build failure).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::cmd::limits::LimitArgs;
use crate::grade::overrides::{self, Overrides};
use crate::grade::report::{gradescope, junit, text};
use crate::grade::rubric::Lab;
use crate::grade::runner::{self, Options, Outcome, Progress, Report};
use crate::os::harness::Program;
use crate::output::StatusLine;
use crate::rng::Rng;

/// Grades network-programming labs by talking to the program over real sockets.
#[derive(Parser, Debug)]
#[command(name = "autograder", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Grade any program (any language) against a lab's rubric.
    ///
    /// The program is given after `--`. Unless one of its arguments contains `{port}`,
    /// `{host}` or `{root}` (which are then substituted), the lab's arguments are appended,
    /// e.g. `--port 23456`.
    #[command(after_help = "Examples:\n  autograder grade lab1 -- ./my-server\n  \
        autograder grade lab1 -- python3 echo.py --listen {host}:{port}\n  \
        autograder grade lab1 --solution --format json > results.json")]
    Grade {
        /// The lab (lab1 … lab5).
        lab: String,
        #[command(flatten)]
        run: RunArgs,
        /// Grade the reference solution (solutions/LAB) instead of a given program.
        #[arg(long)]
        solution: bool,
        #[command(flatten)]
        limits: LimitArgs,
        /// Run the program in a bubblewrap sandbox (Linux): it sees the system read-only,
        /// its working directory and each test's root read-write, and nothing else; its
        /// own PID namespace; no capabilities. As root it runs as --run-as (default 65534).
        #[arg(long)]
        sandbox: bool,
        /// As root: the uid the program runs as (with or without --sandbox).
        #[arg(long, value_name = "UID")]
        run_as: Option<u32>,
        /// Print only the report, encoded for `batch`, on standard output (the worker side
        /// of `batch`).
        #[arg(long, hide = true)]
        worker: bool,
        /// The program and its arguments.
        #[arg(last = true, value_name = "PROGRAM")]
        program: Vec<String>,
    },
    /// Build your lab (labs/LAB) and grade it with the instructor's tests, with hints.
    ///
    /// Tests run in rubric order (the order of the handout's steps). A failure shows the
    /// transcript, a command to reproduce it by hand, and a hint that gets more explicit
    /// each time the same test fails again. The last line is the score.
    #[command(after_help = "Examples:\n  autograder check lab1\n  \
        autograder check lab1 --only echo-short\n  autograder watch lab1   (re-check on every save)")]
    Check {
        /// The lab (lab1 … lab5).
        lab: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Re-build and re-check your lab every time you save a file under labs/LAB.
    ///
    /// Polls file modification times (which also works on network file systems and WSL,
    /// where change notifications are unreliable) and waits for saves to settle before
    /// running. Press Enter to re-run at any time; Ctrl-C quits.
    #[command(after_help = "Examples:\n  autograder watch lab1\n  \
        autograder watch lab1 --only echo-fragments\n  \
        autograder watch lab1 --manual   (no polling: press Enter to re-run)")]
    Watch {
        /// The lab (lab1 … lab5).
        lab: String,
        /// Do not watch files: re-run only when Enter is pressed.
        #[arg(long)]
        manual: bool,
        /// How often to look for changes, in milliseconds.
        #[arg(long, default_value_t = 400, value_name = "MS")]
        poll_ms: u64,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print a lab's rubric: each test's id, name, points and what it checks.
    List {
        /// The lab (lab1 … lab5).
        lab: String,
        /// `markdown` prints the table the handout contains.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
        /// Show the effective rubric: this rubric.toml's overrides applied.
        #[arg(long, value_name = "FILE")]
        rubric: Option<PathBuf>,
    },
    /// Print the hints for a lab's tests, from gentle to explicit.
    Hint {
        /// The lab (lab1 … lab5).
        lab: String,
        /// One test id (see `autograder list LAB`). When omitted: the tests that failed
        /// your last `check`, or every test if none did.
        test: Option<String>,
        /// Every test's hints, whatever failed last time.
        #[arg(long, conflicts_with = "test")]
        all: bool,
    },
    /// Check that the handouts agree with the code: included code blocks, steps, rubric
    /// tables (exit status 1 if not).
    #[command(after_help = "Examples:\n  autograder handouts\n  \
        autograder handouts --fix   (rewrite code blocks and rubric tables from their sources)")]
    Handouts {
        /// Rewrite every included code block and rubric table from its source.
        #[arg(long)]
        fix: bool,
    },
    /// Grade a class: one folder per student, in parallel, each submission contained.
    Batch(crate::cmd::batch::BatchArgs),
    /// Export a Gradescope bundle, the student copy, or the GitHub Classroom workflow.
    Export(crate::cmd::export::ExportArgs),
    /// Measure servers: throughput and latency against concurrent clients (CSV, SVG, table).
    Bench(crate::cmd::bench::BenchArgs),
    /// Show a concept live with the reference servers (`demo concurrency`).
    Demo(crate::cmd::demo::DemoArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Run only this group of tests (or this one test id; several, comma-separated). `server`
    /// is every test that starts the program as a server, in every lab.
    #[arg(long)]
    only: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Seed for the random payloads; a report prints the seed it used.
    #[arg(long)]
    seed: Option<u64>,
    /// Host the program must listen on (and the grader connects to).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// How many tests run at once, each with its own copy of the program (1: one by one).
    #[arg(long, value_name = "N", default_value_t = runner::DEFAULT_PARALLEL)]
    parallel: usize,
    /// Rubric overrides (points, visibility, enabled, a total per lab) from this TOML
    /// file; see handouts/instructors.md.
    #[arg(long, value_name = "FILE")]
    rubric: Option<PathBuf>,
    /// Record each test's packets to DIR/TEST.pcap (open it in Wireshark) and draw its I/O
    /// graph, DIR/TEST.svg; tests then run one at a time. Needs a network namespace of
    /// the grader's own: root, or unprivileged user namespaces (Linux).
    #[arg(long, value_name = "DIR")]
    capture: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page to FILE: every test, and
    /// each failing exchange drawn as a sequence diagram.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Human-readable, streamed as tests finish.
    Text,
    /// Gradescope's results.json.
    Json,
    /// JUnit XML.
    Junit,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ListFormat {
    Text,
    Markdown,
}

/// Runs the command line and returns the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("autograder: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Batch(args) => args.execute(),
        Cmd::Export(args) => args.execute(),
        Cmd::Bench(args) => args.execute(),
        Cmd::Demo(args) => args.execute(),
        Cmd::Handouts { fix } => {
            let root = crate::os::cargo::workspace_root()?;
            let problems = if fix {
                let (changed, problems) = crate::cmd::handouts::fix_all(&root)?;
                for file in changed {
                    sayln!("updated {}", file.display());
                }
                problems
            } else {
                crate::cmd::handouts::check_all(&root)
            };
            for p in &problems {
                sayln!("{p}");
            }
            if problems.is_empty() {
                sayln!("handouts: code blocks, steps and rubric tables agree with the code");
                Ok(ExitCode::SUCCESS)
            } else {
                sayln!(
                    "handouts: {} problem(s){}",
                    problems.len(),
                    if fix {
                        ""
                    } else {
                        "; `autograder handouts --fix` repairs code blocks and tables"
                    }
                );
                Ok(ExitCode::from(1))
            }
        }
        Cmd::Grade {
            lab,
            run,
            solution,
            limits,
            sandbox,
            run_as,
            worker,
            program,
        } => {
            // Every argument, the rubric file first, is checked before anything is built
            // or run.
            let lab = find_lab(&lab, run.rubric.as_deref())?;
            limits.validate()?;
            let mut options = run_options(lab, &run)?;
            options.limits = limits.run_limits();
            if worker && run.capture.is_some() {
                bail!("--capture is not for --worker");
            }
            // First, before anything starts a thread or a program (see cmd::capture).
            options.capture = run
                .capture
                .as_deref()
                .and_then(|dir| crate::cmd::capture::start(dir, "test (tests run one at a time)"));
            let is_root = crate::os::sandbox::is_root();
            if run_as.is_some() && !is_root {
                bail!("--run-as needs root (only root can start a program as another user)");
            }
            if run_as == Some(0) {
                bail!("--run-as 0 is root itself: give an unprivileged uid");
            }
            let mut program = match (solution, program.is_empty()) {
                (true, true) => {
                    let root = crate::os::cargo::workspace_root()?;
                    if !root.join("solutions").join(lab.name).is_dir() {
                        bail!(
                            "--solution needs solutions/{}, which this copy of the workspace does not have (the student copy has no solutions)",
                            lab.name
                        );
                    }
                    let exe = crate::os::cargo::build(&root, &lab.solution_package(), false)?;
                    Program::new(vec![exe.to_string_lossy().into_owned()])
                }
                (false, false) => Program::new(program),
                (true, false) => bail!("give either --solution or a program after `--`, not both"),
                (false, true) => bail!(
                    "no program to grade: give one after `--` (e.g. `autograder grade {} -- ./server`), or --solution",
                    lab.name
                ),
            };
            check_program(&program)?;
            // Contain the program: its own cgroup or memory watcher, the subreaper sweep,
            // and with --sandbox, bubblewrap.
            crate::os::sandbox::become_subreaper();
            program.contain = limits.containment();
            let uid = run_as.or(is_root.then_some(crate::os::sandbox::NOBODY));
            if sandbox {
                let jail = crate::os::sandbox::Bwrap::detect(uid)
                    .map_err(|e| anyhow!("--sandbox: {e}"))?
                    .for_program(&program.argv[0], &program.cwd);
                jail.check(&program.cwd).map_err(|e| {
                    anyhow!(
                        "--sandbox: cannot make the program's sandbox ({e}); as root, the program's folder must be reachable by uid {}",
                        uid.map_or("(yours)".to_string(), |u| u.to_string())
                    )
                })?;
                program.contain.sandbox = Some(jail);
            } else {
                program.contain.run_as = run_as;
            }
            if worker {
                if run.html.is_some() {
                    bail!("--html: a worker writes nothing to disk (batch writes the pages)");
                }
                let report = runner::grade(lab, &program, &options, &mut |_| {});
                sayln!("{}", crate::grade::report::wire::encode(&report));
                return Ok(exit_code(&report));
            }
            if sandbox || run_as.is_some() {
                eprintln!("{}", program.contain.describe());
            }
            let report = grade_and_print(lab, &program, &options, run.format);
            write_html(run.html.as_deref(), &report)?;
            Ok(exit_code(&report))
        }
        Cmd::Check { lab, run } => {
            let lab = find_lab(&lab, run.rubric.as_deref())?;
            let root = crate::os::cargo::workspace_root()?;
            let mut options = run_options(lab, &run)?;
            let report = if run.format == Format::Text {
                crate::cmd::check::check(lab, &root, &options, run.capture.as_deref())?
            } else {
                eprintln!("Building labs/{} …", lab.name);
                let exe = crate::os::cargo::build(&root, lab.name, false)?;
                let program = Program::new(vec![exe.to_string_lossy().into_owned()]);
                // After the build, which may need crates.io (see cmd::check::check).
                options.capture = run.capture.as_deref().and_then(|dir| {
                    crate::cmd::capture::start(dir, "test (tests run one at a time)")
                });
                grade_and_print(lab, &program, &options, run.format)
            };
            write_html(run.html.as_deref(), &report)?;
            Ok(exit_code(&report))
        }
        Cmd::Watch {
            lab,
            manual,
            poll_ms,
            run,
        } => {
            let lab = find_lab(&lab, run.rubric.as_deref())?;
            let root = crate::os::cargo::workspace_root()?;
            if run.format != Format::Text || run.html.is_some() {
                bail!("watch prints text only; use `check --format …` or `check --html FILE` for other formats");
            }
            if run.capture.is_some() {
                bail!(
                    "watch does not capture; use `check {} --capture DIR`",
                    lab.name
                );
            }
            // Fail on a bad `--only` now, not after the first build.
            run_options(lab, &run)?;
            let settings = crate::cmd::watch::Settings {
                manual,
                poll: std::time::Duration::from_millis(poll_ms.max(50)),
            };
            crate::cmd::watch::watch(lab, &root, &settings, || {
                // A fresh seed per run (unless one was given), like a fresh `check`.
                run_options(lab, &run).expect("validated above")
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::List {
            lab,
            format,
            rubric,
        } => {
            let base = find_lab(&lab, None)?;
            let overrides = rubric.as_deref().map(Overrides::load).transpose()?;
            let lab = overrides.as_ref().map_or(base, |o| o.apply(base));
            say!(
                "{}",
                match format {
                    ListFormat::Text => lab.as_text(),
                    ListFormat::Markdown => lab.as_markdown(),
                }
            );
            if let (Some(o), ListFormat::Text) = (&overrides, format) {
                sayln!("\n{}", overrides_note(o, lab));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Hint { lab, test, all } => {
            let lab = find_lab(&lab, None)?;
            let failing = match (&test, all) {
                (None, false) => crate::os::cargo::workspace_root()
                    .map(|root| crate::cmd::check::HintStreaks::load(&root).failing(lab))
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            if !failing.is_empty() {
                sayln!(
                    "Hints for the tests that failed when you last checked them, gentle to \
                     explicit (`--all` for every test):\n"
                );
            }
            let tests: Vec<_> = match test {
                Some(id) => vec![lab.test(&id).ok_or_else(|| {
                    anyhow!(
                        "{} has no test `{id}`; its tests are: {}",
                        lab.name,
                        lab.tests
                            .iter()
                            .map(|t| t.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?],
                None if !failing.is_empty() => {
                    failing.iter().filter_map(|id| lab.test(id)).collect()
                }
                None => lab.tests.iter().collect(),
            };
            for t in tests {
                sayln!("{} — {}", t.id, t.name);
                for (i, hint) in t.hints.iter().enumerate() {
                    sayln!("  {}. {hint}", i + 1);
                }
                sayln!();
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The lab named `name`, as `rubric` (a rubric.toml) makes it, if given.
fn find_lab(name: &str, rubric: Option<&Path>) -> anyhow::Result<&'static Lab> {
    overrides::effective(name, rubric)
}

/// What `list --rubric` says under the effective rubric: where it came from, and what
/// it leaves out (a disabled test is not listed above, so it is named here).
fn overrides_note(o: &Overrides, lab: &Lab) -> String {
    if !o.touches(lab) {
        return format!(
            "rubric: {} has no [{}] table; this is the built-in rubric",
            o.source.display(),
            lab.name
        );
    }
    let disabled = o.disabled(lab);
    format!(
        "rubric: the built-in rubric with the overrides in {}{}",
        o.source.display(),
        if disabled.is_empty() {
            String::new()
        } else {
            format!("; disabled (not run): {}", disabled.join(", "))
        }
    )
}

/// The grading options `run` asks for, after checking that each `--only` item selects
/// something.
fn run_options(lab: &'static Lab, run: &RunArgs) -> anyhow::Result<Options> {
    if let Some(only) = &run.only {
        overrides::check_only(lab, only).map_err(|e| anyhow!(e))?;
    }
    check_host(&run.host)?;
    if let Some(path) = &run.html {
        check_html_path(path)?;
    }
    if !(1..=64).contains(&run.parallel) {
        bail!(
            "--parallel {}: give between 1 and 64 tests at once",
            run.parallel
        );
    }
    Ok(Options {
        only: run.only.clone(),
        seed: run.seed.unwrap_or_else(Rng::fresh_seed),
        host: run.host.clone(),
        parallel: run.parallel,
        limits: runner::Limits::default(),
        capture: None,
    })
}

/// The grader only ever talks to this machine: `--host` must be a loopback address.
fn check_host(host: &str) -> anyhow::Result<()> {
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        bail!("--host {host}: give a loopback address (127.0.0.1, another 127.x.y.z, ::1 or localhost); the grader never talks to other machines")
    }
}

/// A program given as a path must be a runnable file (a bare name is looked up on
/// `$PATH` when it starts, as a shell would).
fn check_program(program: &Program) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let first = &program.argv[0];
    if !first.contains('/') {
        return Ok(());
    }
    let path = program.cwd.join(first);
    let meta = std::fs::metadata(&path).map_err(|e| anyhow!("cannot grade `{first}`: {e}"))?;
    if meta.is_dir() {
        bail!("cannot grade `{first}`: it is a directory, not a program");
    }
    if meta.permissions().mode() & 0o111 == 0 {
        bail!("cannot grade `{first}`: it is not executable (chmod +x {first}, or give its interpreter first, e.g. `python3 {first}`)");
    }
    Ok(())
}

/// `--html FILE` must name a file in a folder that exists: checked before anything is
/// built or run, so that a typo does not cost a whole grading run.
fn check_html_path(path: &Path) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if path.is_dir() {
        bail!("--html {}: a folder; give a file name", path.display());
    }
    if !folder.is_dir() {
        bail!(
            "--html {}: the folder {} does not exist",
            path.display(),
            folder.display()
        );
    }
    Ok(())
}

/// Writes `report` as a feedback page to `path`, if given.
fn write_html(path: Option<&Path>, report: &Report) -> anyhow::Result<()> {
    let Some(path) = path else { return Ok(()) };
    std::fs::write(
        path,
        crate::grade::report::html::feedback_page(report, None, None),
    )
    .map_err(|e| anyhow!("cannot write --html {}: {e}", path.display()))?;
    eprintln!("Wrote {}", path.display());
    Ok(())
}

/// Grades `program`, printing the report in `format` (text as the tests finish).
fn grade_and_print(
    lab: &'static Lab,
    program: &Program,
    options: &Options,
    format: Format,
) -> Report {
    let streaming = format == Format::Text;
    let status = StatusLine::on_stderr();
    if streaming {
        say!(
            "{}",
            text::header(lab, &Program::shell_words(&program.argv), options.seed)
        );
    }
    let mut progress = |event: Progress<'_>| match event {
        Progress::Starting { index, total, test } => {
            status.show(&text::running(test, index, total));
        }
        Progress::Finished { result, .. } => {
            status.clear();
            if streaming {
                say!("{}", text::result(lab, result, true));
                let _ = std::io::stdout().flush();
            }
        }
    };
    let report = runner::grade(lab, program, options, &mut progress);
    if let Some(capture) = &options.capture {
        crate::cmd::capture::draw_graphs(capture, &report);
    }
    match format {
        Format::Text => {
            sayln!("{}", text::summary(&report));
        }
        Format::Json => sayln!("{}", gradescope::Results::of(&report).to_json()),
        Format::Junit => say!("{}", junit::xml(&report)),
    }
    report
}

fn exit_code(report: &Report) -> ExitCode {
    report.exit_code()
}

/// The ids of the tests that failed.
pub fn failed_ids(report: &Report) -> Vec<&'static str> {
    report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .map(|r| r.test.id)
        .collect()
}
