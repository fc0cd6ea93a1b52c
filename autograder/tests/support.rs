//! Helpers that read like the domain: "build this package", "grade this program",
//! "expect these tests to fail". Failures print the command, its folder, its status and
//! its output ([`Run`]).

#![allow(dead_code)] // each test module uses a different subset

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use autograder::grade::report::gradescope::{Results, Status};

/// Running a command to its end in a test, ripgrep-style: each way of running it states
/// what the test expects of its exit, and a command that does otherwise fails the test
/// with the whole story (the command line, its folder, the environment it was given, its
/// status, its standard output and error), never a bare `assertion failed`; the panic
/// names the test's line, not this file's.
pub trait Run {
    /// Runs it to its end, whatever its status (for a test that checks the status itself).
    fn run(&mut self) -> Ran;

    /// Runs it and expects success (status 0).
    #[track_caller]
    fn success(&mut self) -> Ran {
        self.run().expect_success()
    }

    /// Runs it and expects it to fail: any status but 0, or a signal.
    #[track_caller]
    fn failure(&mut self) -> Ran {
        self.run().expect_failure()
    }

    /// Runs it and expects exactly status `code`.
    #[track_caller]
    fn code(&mut self, code: i32) -> Ran {
        self.run().expect_code(code)
    }
}

impl Run for Command {
    fn run(&mut self) -> Ran {
        let output = self
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", command_line(self)));
        Ran::of(self, output)
    }
}

/// A command that has run, and what it printed. `{}` shows the whole story.
#[derive(Debug)]
pub struct Ran {
    /// Its status and output.
    pub output: Output,
    /// The command line, shell-quoted, with the variables it was given in front.
    pub command: String,
    /// The folder it ran in.
    pub cwd: PathBuf,
}

impl Ran {
    /// What `command` (already run, e.g. spawned and waited for) left in `output`.
    pub fn of(command: &Command, output: Output) -> Ran {
        Ran {
            output,
            command: command_line(command),
            cwd: command
                .get_current_dir()
                .map(Path::to_path_buf)
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_default(),
        }
    }

    /// Its standard output, as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Its standard error, as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Its exit status, `None` when a signal ended it.
    pub fn status_code(&self) -> Option<i32> {
        self.output.status.code()
    }

    /// Panics with the story unless it succeeded.
    #[track_caller]
    pub fn expect_success(self) -> Ran {
        if !self.output.status.success() {
            panic!("expected success\n{self}");
        }
        self
    }

    /// Panics with the story if it succeeded.
    #[track_caller]
    pub fn expect_failure(self) -> Ran {
        if self.output.status.success() {
            panic!("expected a failure\n{self}");
        }
        self
    }

    /// Panics with the story unless it exited with `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Ran {
        if self.output.status.code() != Some(code) {
            panic!("expected exit status {code}\n{self}");
        }
        self
    }
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let section = |name: &str, bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            if text.trim().is_empty() {
                format!("{name}: (empty)\n")
            } else {
                format!("--- {name} ---\n{}\n", text.trim_end())
            }
        };
        write!(
            f,
            "command: {}\ncwd: {}\nstatus: {}\n{}{}",
            self.command,
            self.cwd.display(),
            self.output.status,
            section("stdout", &self.output.stdout),
            section("stderr", &self.output.stderr),
        )
    }
}

/// The helper is only as good as its message: prove that a command which does not do what
/// the test expects fails it with every part of the story.
#[test]
fn a_command_that_surprises_the_test_fails_it_with_the_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo out; echo err >&2; exit 3"])
        .current_dir(dir.path())
        .env("NETLABS_NOTE", "a b");
    let story = |expect: fn(&mut Command) -> Ran, cmd: &mut Command| -> String {
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| expect(cmd)))
            .expect_err("the expectation should fail");
        panic.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    let failed = story(|c| c.success(), &mut cmd);
    for part in [
        "expected success",
        "command: NETLABS_NOTE='a b' sh -c 'echo out; echo err >&2; exit 3'",
        &format!("cwd: {}", dir.path().display()),
        "status: exit status: 3",
        "--- stdout ---\nout\n",
        "--- stderr ---\nerr\n",
    ] {
        assert!(failed.contains(part), "`{part}` missing from:\n{failed}");
    }
    assert!(story(|c| c.code(2), &mut cmd).contains("expected exit status 2"));
    assert_eq!(cmd.code(3).stdout(), "out\n");
    assert_eq!(cmd.failure().stderr(), "err\n");
    let mut ok = Command::new("true");
    assert!(story(|c| c.failure(), &mut ok).contains("expected a failure"));
    ok.success();
}

/// `command` as one could paste it into a shell: the variables it sets, the program,
/// its arguments.
fn command_line(command: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| {
        let s = s.to_string_lossy();
        shlex::try_quote(&s)
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| s.into_owned())
    };
    let mut words: Vec<String> = command
        .get_envs()
        .map(|(k, v)| match v {
            Some(v) => format!("{}={}", k.to_string_lossy(), quote(v)),
            None => format!("-u {}", k.to_string_lossy()),
        })
        .collect();
    // A variable taken away is said with env(1)'s `-u`, which needs `env` in front.
    if command.get_envs().any(|(_, v)| v.is_none()) {
        words.insert(0, "env".into());
    }
    words.push(quote(command.get_program()));
    words.extend(command.get_args().map(quote));
    words.join(" ")
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("autograder sits inside the workspace")
        .to_path_buf()
}

/// The `autograder` binary under test.
pub fn autograder() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autograder"));
    cmd.current_dir(workspace());
    cmd
}

/// Builds a workspace package's binary (once per test run) and returns its path.
///
/// `cargo_bin!` only sees this package's binaries, so other packages are built with
/// cargo explicitly, through the same code `autograder check` uses.
pub fn package_bin(package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry(package.to_string())
        .or_insert_with(|| {
            autograder::os::cargo::build(&workspace(), package, false)
                .unwrap_or_else(|e| panic!("cannot build {package}: {e:#}"))
        })
        .clone()
}

/// Compiles a single-file Rust program from `tests/corpus/` with plain `rustc`.
///
/// Outputs are cached under the target directory by file name and content, so concurrent
/// tests and repeated runs share them.
pub fn corpus_rust(relative: &str) -> PathBuf {
    // Tests run on many threads of one process: without this lock, two of them could build
    // the same program at once and clobber each other's intermediate files.
    static COMPILING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    let source = corpus(relative);
    let text = std::fs::read(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let hash = fnv(0xcbf2_9ce4_8422_2325, &text);
    let dir = target_dir().join("corpus");
    std::fs::create_dir_all(&dir).unwrap();
    let stem = relative.replace(['/', '.'], "_");
    let exe = dir.join(format!("{stem}-{hash:016x}"));
    if !exe.exists() {
        // Build in a private directory (other test processes may build the same program),
        // then rename: nobody ever sees half a file.
        let scratch = tempfile::tempdir_in(&dir).unwrap();
        let tmp = scratch.path().join(&stem);
        Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .args(["--edition", "2021", "-O", "-o"])
            .arg(&tmp)
            .arg(&source)
            .success();
        std::fs::rename(&tmp, &exe).unwrap();
    }
    exe
}

/// Builds a reference solution with one mistake: a copy of `solutions/labN` with the
/// corpus patch `labN/NAME.diff` applied (with `git apply`), under the package and binary
/// name `labN-mutant-NAME`. For mistakes that only show in the real program, such as a
/// blocking call inside one of its tokio tasks.
///
/// The copy is built with cargo in our own target directory, so it shares the compiled
/// dependencies, and its binary is cached under the target directory by the content of
/// the patch and of the solution.
pub fn patched_solution(relative: &str) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let (lab, file) = relative
        .split_once('/')
        .expect("a corpus patch is named labN/NAME.diff");
    let stem = file.strip_suffix(".diff").expect("a .diff file");
    let solution = workspace().join("solutions").join(lab);
    let patch = corpus(relative);
    let mut hash = fnv(0xcbf2_9ce4_8422_2325, &std::fs::read(&patch).unwrap());
    for path in files_under(&solution) {
        hash = fnv(
            hash,
            path.strip_prefix(&solution)
                .unwrap()
                .to_string_lossy()
                .as_bytes(),
        );
        hash = fnv(hash, &std::fs::read(&path).unwrap());
    }
    let package = format!("{lab}-mutant-{}", stem.replace('_', "-"));
    let dir = target_dir().join("corpus");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(format!("{package}-{hash:016x}"));
    if exe.exists() {
        return exe;
    }
    // A private copy, so that a concurrent build of the same patch cannot see it half made.
    let scratch = tempfile::tempdir_in(&dir).unwrap();
    let copy = scratch.path().join(&package);
    copy_dir(&solution, &copy);
    std::fs::copy(workspace().join("Cargo.lock"), copy.join("Cargo.lock")).unwrap();
    let manifest = std::fs::read_to_string(copy.join("Cargo.toml")).unwrap();
    let solution_name = format!("\"{lab}-solution\"");
    assert!(manifest.contains(&solution_name), "{}", copy.display());
    // Its own package and binary name (the library keeps its name, which the code uses),
    // and a workspace of its own: the copy sits inside our target directory.
    let manifest = manifest.replace(&solution_name, &format!("\"{package}\"")) + "\n[workspace]\n";
    std::fs::write(copy.join("Cargo.toml"), manifest).unwrap();
    let applied = Command::new("git")
        .args(["apply", "--verbose", "-p1"])
        .arg(&patch)
        .current_dir(&copy)
        // Outside any repository, `git apply` patches the current directory (inside ours
        // it would skip paths it considers outside the repository's current folder).
        .env("GIT_CEILING_DIRECTORIES", scratch.path())
        .success();
    // `git apply` succeeds without a word when the patch touched nothing it could find.
    assert!(
        applied.stderr().contains("Applied patch"),
        "git apply {relative} applied nothing:\n{applied}"
    );
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--offline", "--quiet", "--bin", &package])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", target_dir())
        .success();
    let built = target_dir().join("debug").join(&package);
    let tmp = scratch.path().join("exe");
    std::fs::copy(&built, &tmp).unwrap();
    std::fs::rename(&tmp, &exe).unwrap();
    exe
}

fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Every file under `dir` (leaving out `target`), in a fixed order.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                files.extend(files_under(&path));
            }
        } else {
            files.push(path);
        }
    }
    files
}

/// Path of a corpus file.
pub fn corpus(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(relative)
}

/// The target directory (`CARGO_TARGET_DIR`, relative to the workspace, or `target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace().join(p)
            }
        })
        .unwrap_or_else(|| workspace().join("target"))
}

/// Whether an external tool is available. When it is not, the test is skipped with a
/// printed reason, except under CI (`CI` set), where a missing tool is a failure.
pub fn require_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{tool}` is required under CI but is not installed"
        );
        eprintln!("skipped: `{tool}` is not installed");
    }
    found
}

/// The result of `autograder grade --format json`.
#[derive(Debug)]
pub struct Graded {
    /// The grader's run.
    pub ran: Ran,
    /// Its report.
    pub results: Results,
}

impl Graded {
    /// Ids of the failed tests.
    pub fn failed(&self) -> BTreeSet<String> {
        self.ids_with(Status::Failed)
    }

    /// Ids of the passed tests.
    pub fn passed(&self) -> BTreeSet<String> {
        self.ids_with(Status::Passed)
    }

    fn ids_with(&self, status: Status) -> BTreeSet<String> {
        self.results
            .ids_with(status)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Score and maximum.
    pub fn score(&self) -> (u32, u32) {
        (self.results.score, self.results.max_score())
    }

    /// Asserts the grader's exit status (0 full marks, 1 some test failed, 2 could not
    /// grade), printing all feedback otherwise.
    pub fn assert_status(&self, code: i32) {
        assert_eq!(
            self.ran.status_code(),
            Some(code),
            "unexpected exit status; full report:\n{}",
            self.describe()
        );
    }

    /// The test's feedback text.
    pub fn feedback(&self, id: &str) -> String {
        self.results
            .test(id)
            .map(|t| t.output.clone())
            .unwrap_or_else(|| panic!("no test {id}"))
    }

    /// The diagnosis each failed test's hint names (`hint (closed early): …`), or
    /// `"(its own hint)"` where a test fell back to its own hint.
    pub fn diagnoses(&self) -> BTreeMap<String, String> {
        self.failed()
            .into_iter()
            .map(|id| {
                let feedback = self.feedback(&id);
                let diagnosis = feedback
                    .lines()
                    .find_map(|l| l.trim_start().strip_prefix("hint ("))
                    .and_then(|rest| rest.split_once("):"))
                    .map_or("(its own hint)".to_string(), |(d, _)| d.to_string());
                (id, diagnosis)
            })
            .collect()
    }

    /// Asserts that every failed test names the same diagnosis, `diagnosis`: one mistake,
    /// one explanation, wherever it shows.
    pub fn assert_one_diagnosis(&self, diagnosis: &str) {
        let seen = self.diagnoses();
        assert!(
            seen.values().all(|d| d == diagnosis),
            "every failed test should be diagnosed \"{diagnosis}\"; got {seen:#?}\n{}",
            self.describe()
        );
    }

    /// The feedback in the form its golden file keeps (see [`golden_form`]): every
    /// test's text as the student reads it, then the score.
    pub fn golden_text(&self) -> String {
        let mut out = String::new();
        for test in &self.results.tests {
            out.push_str(&golden_form(&test.output));
        }
        let (score, max) = self.score();
        out.push_str(&format!("score {score}/{max}\n"));
        out
    }

    /// Compares [`Graded::golden_text`] with `tests/golden/LAB/NAME.txt`.
    pub fn assert_golden(&self, lab: &str, name: &str) {
        assert_golden(&format!("{lab}/{name}"), &self.golden_text());
    }

    /// Asserts that exactly `ids` failed, printing all feedback otherwise.
    pub fn assert_failed_exactly(&self, ids: &[&str]) {
        let want: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            self.failed(),
            want,
            "unexpected failures; full report:\n{}",
            self.describe()
        );
    }

    /// Everything, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {}\nstderr:\n{}\nreport:\n{}",
            self.ran.command,
            self.ran.output.status,
            self.ran.stderr(),
            self.results
                .tests
                .iter()
                .map(|t| t.output.as_str())
                .collect::<String>()
        )
    }
}

/// Grades `program` (argv) on `lab` and returns its Gradescope results.
///
/// The seed is fixed (unless `extra` gives one): the same program must get the same
/// report, and its golden file holds that report's wording.
pub fn grade(lab: &str, extra: &[&str], program: &[&str]) -> Graded {
    let mut cmd = autograder();
    cmd.args(["grade", lab, "--format", "json"]).args(extra);
    if !extra.contains(&"--seed") {
        cmd.args(["--seed", GOLDEN_SEED]);
    }
    let ran = cmd.arg("--").args(program).run();
    let results: Results = serde_json::from_slice(&ran.output.stdout)
        .unwrap_or_else(|e| panic!("no results.json on standard output ({e})\n{ran}"));
    Graded { ran, results }
}

/// Grades a binary at `path`.
pub fn grade_bin(lab: &str, path: &Path) -> Graded {
    grade(lab, &[], &[path.to_str().unwrap()])
}

/// Copies a directory tree, leaving out `target` and `.git`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A program with one known mistake, graded by the suite (declared with `mutants!`).
///
/// Every rubric test must be the aim of at least one mutant (`tests/mutation.rs` checks
/// it), so no test exists that no mistake has been shown to fail.
#[derive(Debug)]
pub struct Mutant {
    /// The lab whose rubric grades it.
    pub lab: &'static str,
    /// How its corpus README names it: the first cell of its row.
    pub program: &'static str,
    /// The rubric test this mistake is aimed at: the reason the program exists.
    pub aims_at: &'static str,
    /// Exactly the tests it fails: its aim, and those it also fails on the way.
    pub fails: &'static [&'static str],
}

/// Declares a lab's mutants. Each row becomes a `#[test]` that grades the program and
/// asserts it fails exactly `fails` (then runs the optional extra check on the report),
/// and a row of the lab's `MUTANTS` table, which the coverage test reads. One list, so a
/// mutant cannot be documented as proving a test without being graded.
///
/// ```ignore
/// mutants! { "lab1":
///     /// Reads once, echoes, closes.
///     fn one_read: "one_read.rs" aims at "echo-fragments",
///         fails &["echo-large-binary", "echo-fragments", "half-close-flush"],
///         graded |_| grade_bin("lab1", &corpus_rust("lab1/one_read.rs"));
/// }
/// ```
///
/// `graded` is a closure given `fails`, for labs that grade only the tests concerned.
/// `needs "tool",` before it skips the row where the tool is missing (see `require_tool`).
macro_rules! mutants {
    ($lab:literal: $(
        $(#[doc = $doc:literal])*
        fn $name:ident: $program:literal aims at $aim:literal, fails $fails:expr,
            $(needs $tool:literal,)? graded $grade:expr $(, then |$g:ident| $check:block)?;
    )*) => {
        /// This lab's mutants, for the coverage test in `mutation.rs`.
        pub const MUTANTS: &[$crate::support::Mutant] = &[$(
            $crate::support::Mutant { lab: $lab, program: $program, aims_at: $aim, fails: $fails },
        )*];
        $(
            $(#[doc = $doc])*
            #[test]
            fn $name() {
                $( if !$crate::support::require_tool($tool) { return; } )?
                let graded: $crate::support::Graded = ($grade)($fails);
                graded.assert_failed_exactly($fails);
                $( let $g = &graded; $check )?
                graded.assert_golden($lab, stringify!($name));
            }
        )*
    };
}

/// Feedback text in the form golden files keep: the lines whose wording the product
/// promises whatever the timing — verdict lines, step lines, hints, `Next:`, the commands
/// to try by hand, unfinished-step notes, the score (not the `Grading …` line: it
/// quotes the command line it was given) — with numbers and the workspace's
/// path taken out (see [`normalise_run_details`]).
///
/// What a failure saw (its first sentence, the bytes, the transcript, the program's own
/// output) is left out on purpose: on a loaded machine the same program's echo may end
/// with a FIN in one run and a reset in the next, and a golden file that changes with the
/// scheduler is a flaky test. Measured: with those lines kept, 5 of 35 corpus programs'
/// reports differed between two runs while other builds ran.
pub fn golden_form(text: &str) -> String {
    let root = workspace().display().to_string();
    let mut out = String::new();
    let mut keep_next = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let depth = line.len() - trimmed.len();
        let verdict = depth <= 2 && trimmed.starts_with(['✓', '✗', '○', '-']);
        let kept = verdict
            || keep_next
            || line.starts_with("Step checks")
            || line.starts_with("Next:")
            || trimmed.starts_with("hint")
            || trimmed.starts_with("(a more explicit hint")
            || trimmed.starts_with("try it by hand")
            || trimmed.starts_with("not done yet")
            || trimmed.starts_with("stopped at the same unfinished step")
            || (depth == 0 && line.contains(" points ("));
        // The line after `try it by hand` and `Next:` is their command.
        keep_next = trimmed.starts_with("try it by hand") || line.starts_with("Next:");
        if kept {
            out.push_str(&normalise_run_details(&line.replace(&root, "WORKSPACE")));
            out.push('\n');
        }
    }
    out
}

/// The transcript lines of one test's text feedback (`[c1] > 11 bytes b"…"`, `… (N more
/// events not shown)`), trimmed; empty when it has none.
pub fn transcript_lines(feedback: &str) -> Vec<String> {
    feedback
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("transcript ("))
        .skip(1)
        .map(str::trim)
        .take_while(|l| l.starts_with('[') || l.starts_with('…'))
        .map(str::to_string)
        .collect()
}

/// Compares `text` with the golden file `tests/golden/NAME.txt`; with `UPDATE_GOLDEN=1` in
/// the environment, writes it there instead (read the diff before committing it).
pub fn assert_golden(name: &str, text: &str) {
    let path = workspace()
        .join("autograder/tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with UPDATE_GOLDEN=1", path.display()));
    if golden != text {
        let diff: String = golden
            .lines()
            .zip(text.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  now:    {b}\n", i + 1))
            .collect();
        panic!(
            "the feedback changed from {} (rerun with UPDATE_GOLDEN=1 if the change is meant, \
             and read the diff):\n{diff}(golden {} lines, now {} lines)\nnow:\n{text}",
            path.display(),
            golden.lines().count(),
            text.lines().count()
        );
    }
}

/// The seed of every graded corpus program (see [`grade`]).
pub const GOLDEN_SEED: &str = "20261202";

/// One line of feedback without what varies between runs: runs of digits become `#`, the bytes
/// inside `b"…"` become `…`, and temporary paths lose their random part.
pub fn normalise_run_details(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("b\"") && !out.ends_with(|p: char| p.is_alphanumeric()) {
            // A byte string: skip to its closing quote, escaped quotes included.
            let body = &rest[2..];
            let mut end = body.len();
            let mut escaped = false;
            for (i, d) in body.char_indices() {
                match (escaped, d) {
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = i + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            out.push_str("b\"…\"");
            rest = &body[end..];
        } else if c.is_ascii_digit() {
            // A number: a run of digits (`4096`; `1.5` is two).
            let len = rest.len() - rest.trim_start_matches(|d: char| d.is_ascii_digit()).len();
            out.push('#');
            rest = &rest[len..];
        } else if let Some(after) = rest.strip_prefix("netlabs-") {
            // The grader's temporary names, `netlabs-WORD-XXXXXX…`: the six random
            // characters `tempfile` adds go.
            let word = after.len()
                - after
                    .trim_start_matches(|c: char| c.is_ascii_lowercase())
                    .len();
            out.push_str("netlabs-");
            out.push_str(&after[..word]);
            rest = &after[word..];
            if let Some(random) = rest.strip_prefix('-') {
                if random.len() >= 6 && random[..6].chars().all(|c| c.is_ascii_alphanumeric()) {
                    out.push_str("-…");
                    rest = &random[6..];
                }
            }
        } else if let Some(after) = rest.strip_prefix("/.tmp") {
            // A temporary directory: its random name goes.
            out.push_str("/…");
            rest = &after[after
                .find(['/', ' ', '\'', '"', ')'])
                .unwrap_or(after.len())..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}
