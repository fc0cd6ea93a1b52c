//! `autograder check LAB`: the student's edit → run → check loop, one turn of it.
//!
//! It builds `labs/LAB`, grades it with the instructor's tests (in rubric order, one line
//! per test as it finishes) and explains what to do next:
//!
//! - a failure shows what was expected, what arrived, the transcript, the program's last
//!   output lines, a command to reproduce it by hand, and ONE hint. The hint gets more
//!   explicit each time the same test fails again, like a tutor who says a little more
//!   when you stay stuck (the same failure again after you changed the code; a re-run
//!   without an edit shows the same hint); `autograder hint LAB TEST` prints them all at
//!   once. The streaks live in `target/netlabs/hint-streaks.json` and a pass resets them;
//! - a failure identical to an earlier one (numbers aside) is said once: the untouched stub
//!   panics the same way in every test, and seven copies of one panic teach nothing;
//! - a program that stopped at a `todo!()` is told which handout step that is, since no
//!   test can get further until that step is done;
//! - the last line is always the summary, `lab1: 35/50 points (6 of 9 tests passed)`.
//!
//! Try it: `cargo run -p autograder -- check lab1` on the untouched stub, then do step 1.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::grade::report::text;
use crate::grade::rubric::Lab;
use crate::grade::runner::{self, Options, Outcome, Progress, Report, TestResult};
use crate::grade::unfinished::Unfinished;
use crate::os::harness::Program;
use crate::output::StatusLine;

/// Builds `labs/LAB` in the workspace at `root`, grades it (capturing its packets into
/// `capture_dir` if asked, see [`crate::cmd::capture`]), and prints the student report
/// on standard output (build messages and the live progress line go to standard error).
///
/// # Errors
/// If the build fails (the compiler's messages are already on standard error).
pub fn check(
    lab: &'static Lab,
    root: &Path,
    options: &Options,
    capture_dir: Option<&Path>,
) -> anyhow::Result<Report> {
    eprintln!("Building labs/{} …", lab.name);
    let exe = crate::os::cargo::build(root, lab.name, false)?;
    let program = Program::new(vec![exe.to_string_lossy().into_owned()]);
    // The step checks come first: they show progress long before a rubric test can pass.
    // Not with `--only`, which asks for particular rubric tests.
    let mut steps = Vec::new();
    if options.only.is_none() {
        let lab_dir = root.join("labs").join(lab.name);
        if let Some((text, checks)) = step_report(lab, root, &lab_dir) {
            say!("{text}\n");
            steps = checks;
        }
    }
    // Capturing moves the grader into a network namespace with only a loopback, so it
    // starts after the build and the step checks: a first build may need crates.io. Both
    // ran as child processes and their reader threads have been joined, so the grader is
    // single-threaded again, as entering a user namespace requires.
    let mut options = options.clone();
    if let Some(dir) = capture_dir {
        options.capture = crate::cmd::capture::start(dir, "test (tests run one at a time)");
    }
    Ok(grade_and_explain(
        lab,
        &program,
        root,
        &options,
        &steps,
        &mut std::io::stdout(),
    ))
}

/// The step checks' lines for the lab at `lab_dir` and their results, or `None` if it has
/// none.
fn step_report(
    lab: &Lab,
    root: &Path,
    lab_dir: &Path,
) -> Option<(String, Vec<crate::cmd::steps::StepCheck>)> {
    eprintln!("Running the step checks of labs/{} …", lab.name);
    let file = format!("labs/{}/tests/steps.rs", lab.name);
    match crate::cmd::steps::run(root, lab.name, lab_dir) {
        crate::cmd::steps::Run::None => None,
        crate::cmd::steps::Run::Trouble(why) => {
            Some((format!("Step checks ({file}): {why}\n"), Vec::new()))
        }
        crate::cmd::steps::Run::Ran(checks) => {
            let handout = std::fs::read_to_string(root.join(lab.handout)).unwrap_or_default();
            let titles = crate::cmd::handouts::handout_step_titles(&handout);
            Some((crate::cmd::steps::render(&checks, &titles, &file), checks))
        }
    }
}

/// Grades `program` as [`check`] does, writing the student report to `out` as tests
/// finish. The hint streaks are those of the workspace at `root`; `steps` are the step
/// checks' results (empty if none ran), which decide what comes next while a step fails.
pub fn grade_and_explain(
    lab: &'static Lab,
    program: &Program,
    root: &Path,
    options: &Options,
    steps: &[crate::cmd::steps::StepCheck],
    out: &mut dyn Write,
) -> Report {
    let mut streaks = HintStreaks::load(root);
    let code = code_version(root, lab);
    let status = StatusLine::on_stderr();
    // Output errors (a closed pipe) are ignored: grading goes on and the exit status
    // still tells the result.
    let _ = write!(
        out,
        "{}",
        text::header(lab, &Program::shell_words(&program.argv), options.seed)
    );
    let mut seen: Vec<(String, &'static str)> = Vec::new();
    let mut seen_todos: Vec<(Unfinished, &'static str)> = Vec::new();
    let mut first_todo: Option<Unfinished> = None;
    let mut progress = |event: Progress<'_>| match event {
        Progress::Starting { index, total, test } => {
            status.show(&text::running(test, index, total));
        }
        Progress::Finished { result, .. } => {
            status.clear();
            let todo = unfinished_step(result);
            // A test stopped by an unfinished step says nothing about the behaviour it
            // checks, so it does not count as "stuck on this test" for the hints.
            let level = if todo.is_none() {
                streaks.record(lab, result, code)
            } else {
                0
            };
            let fingerprint = text::failure_fingerprint(result);
            let same_as = fingerprint
                .as_ref()
                .and_then(|f| seen.iter().find(|(g, _)| g == f).map(|(_, id)| *id));
            // The same `todo!()` reached again: the step, not this test, is the news.
            let same_todo = todo
                .as_ref()
                .and_then(|t| seen_todos.iter().find(|(u, _)| u == t).map(|(_, id)| *id));
            let shown = match (same_as.or(same_todo), &todo) {
                (Some(id), Some(todo)) => format!(
                    "{}{}",
                    text::result_line(result),
                    text::indent(&format!(
                        "stopped at the same unfinished step as `{id}` above ({})",
                        todo.step_number().unwrap_or("a todo!()")
                    ))
                ),
                (Some(id), None) => format!(
                    "{}{}",
                    text::result_line(result),
                    text::indent(&format!("the same failure as `{id}` above"))
                ),
                (None, Some(todo)) => {
                    text::result_with(result, Some(&format!("{}\n", todo.explain())))
                }
                (None, None) => {
                    let hint = HintStreaks::hint_for(lab, result, level);
                    text::result_with(result, hint.as_deref())
                }
            };
            let _ = write!(out, "{shown}");
            let _ = out.flush();
            if let (Some(f), None) = (fingerprint, same_as) {
                seen.push((f, result.test.id));
            }
            if let Some(t) = &todo {
                if same_todo.is_none() {
                    seen_todos.push((t.clone(), result.test.id));
                }
            }
            if first_todo.is_none() {
                first_todo = todo;
            }
        }
    };
    let report = runner::grade(lab, program, options, &mut progress);
    if let Some(capture) = &options.capture {
        crate::cmd::capture::draw_graphs(capture, &report);
    }
    streaks.save();
    let _ = write!(out, "{}", next_step(&report, first_todo.as_ref(), steps));
    let _ = writeln!(out, "{}", text::summary(&report));
    let _ = out.flush();
    report
}

/// The `todo!()` a test's program reached: in a server's output, or, for a client the
/// probe ran (lab 4's client tests), in the output the failure quotes.
fn unfinished_step(result: &runner::TestResult) -> Option<Unfinished> {
    if let Some(todo) = result.program_output.as_deref().and_then(Unfinished::find) {
        return Some(todo);
    }
    match &result.outcome {
        Outcome::Failed(failure) => failure.details.iter().find_map(|d| Unfinished::find(d)),
        _ => None,
    }
}

/// The paragraph before the summary: the one thing to do next.
///
/// The first step whose checks fail comes first, in the handout's order: a rubric test
/// may stop at a later step's `todo!()` (or fail for an earlier step's mistake), and
/// saying why the pointer points where it does keeps the student on the path.
fn next_step(
    report: &Report,
    todo: Option<&Unfinished>,
    steps: &[crate::cmd::steps::StepCheck],
) -> String {
    let lab = report.lab;
    let failing_step = steps
        .iter()
        .find(|c| c.outcome != crate::cmd::steps::Outcome::Passed);
    if let Some(check) = failing_step {
        let of_step: Vec<_> = steps.iter().filter(|c| c.step == check.step).collect();
        let passed = of_step
            .iter()
            .filter(|c| c.outcome == crate::cmd::steps::Outcome::Passed)
            .count();
        let why = match &check.outcome {
            crate::cmd::steps::Outcome::Unfinished(u)
                if u.step_number() == Some(&format!("Step {}", check.step)) =>
            {
                "it is not written yet".to_string()
            }
            crate::cmd::steps::Outcome::Unfinished(u) => format!(
                "its checks stop at {} (`{}`), which this step uses: do that one too",
                u.step_number().unwrap_or("a todo!()"),
                u.step
            ),
            _ => format!(
                "{passed} of its {} checks pass; the first failing one is `{}`",
                of_step.len(),
                check.what
            ),
        };
        let later = match todo.and_then(Unfinished::step_number) {
            Some(n) if n != format!("Step {}", check.step) => format!(
                "\n  (The tests below stopped at {n}; the steps come in the handout's order.)"
            ),
            _ => String::new(),
        };
        return format!(
            "\nNext: Step {} of {} ({why}).{later}\n  Its checks: `cargo test -p {} --test steps -- --ignored step{}_`\n\n",
            check.step, lab.handout, lab.name, check.step
        );
    }
    if let Some(todo) = todo {
        return format!(
            "\nNext: {}\n  Your program reached the `todo!()` of that step{} and stopped there,\n  \
             so the tests could not get further. Do that step, then check again.\n\n",
            todo.step,
            todo.location
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        );
    }
    let first_failure = report
        .results
        .iter()
        .find(|r| matches!(r.outcome, Outcome::Failed(_)));
    match first_failure {
        None => "\nEvery test passes.\n\n".to_string(),
        Some(r) => {
            let all_same = report
                .results
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
                .filter_map(text::failure_fingerprint)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                == 1;
            let why = if all_same && report.results.len() > 1 {
                "every failing test failed the same way, so fix that first"
            } else {
                "it is the first failing test, and the tests follow the handout's steps"
            };
            format!(
                "\nNext: make `{}` pass ({why}).\n  All its hints: `autograder hint {} {}`; \
                 the handout: {}\n\n",
                r.test.id, lab.name, r.test.id, lab.handout
            )
        }
    }
}

/// How many times in a row each test has failed `check` the same way after an edit,
/// so hints can escalate.
///
/// A hint gets more explicit only when the student changed the code and the same failure
/// came back: running `check` again without an edit (or `watch` seeing a save that did not
/// change the code) shows the same hint, and a different failure starts again from the
/// gentlest one, since it is a new problem.
#[derive(Debug, Default)]
pub struct HintStreaks {
    path: Option<PathBuf>,
    streaks: BTreeMap<String, Streak>,
}

/// One test's streak.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Streak {
    /// Failures in a row with the same diagnosis, each after an edit.
    count: u32,
    /// The failure's summary, numbers aside: what went wrong.
    diagnosis: String,
    /// The version of the lab's code that failed last (see [`code_version`]).
    code: u64,
}

/// A version of `labs/LAB/src`: a hash of its files' paths and contents. Unreadable
/// files are left out (a hint streak is only a comfort).
pub fn code_version(root: &Path, lab: &Lab) -> u64 {
    let mut files = Vec::new();
    let mut stack = vec![root.join("labs").join(lab.name).join("src")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for b in path
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .chain(&[0])
            .chain(&bytes)
        {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    hash
}

/// What went wrong: the failure's symptom when the probe named one, else its summary,
/// numbers aside (payload sizes, ports and counts change from run to run; the kind of
/// failure does not).
fn diagnosis(r: &TestResult) -> Option<String> {
    let Outcome::Failed(failure) = &r.outcome else {
        return None;
    };
    if let Some(symptom) = failure.symptom {
        return Some(symptom.label().to_string());
    }
    Some(text::without_numbers(&failure.summary))
}

impl HintStreaks {
    /// Where the streaks of the workspace at `root` are kept.
    pub fn path(root: &Path) -> PathBuf {
        root.join("target")
            .join("netlabs")
            .join("hint-streaks.json")
    }

    /// Loads the streaks; a missing or unreadable file means none (it is only a comfort).
    pub fn load(root: &Path) -> HintStreaks {
        let path = HintStreaks::path(root);
        let streaks = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        HintStreaks {
            path: Some(path),
            streaks,
        }
    }

    /// The length of `test`'s streak (0 if it passed last time).
    pub fn get(&self, lab: &str, test: &str) -> u32 {
        self.streaks
            .get(&format!("{lab}/{test}"))
            .map_or(0, |s| s.count)
    }

    /// The ids of `lab`'s tests that failed the last check.
    pub fn failing(&self, lab: &Lab) -> Vec<&'static str> {
        lab.tests
            .iter()
            .filter(|t| self.get(lab.name, t.id) > 0)
            .map(|t| t.id)
            .collect()
    }

    /// The hint to show under a failure whose streak is `level` long: hint `level` of n,
    /// from the lab's hints for the failure's symptom (the same in every test the mistake
    /// breaks) or, without those, from the test's own.
    fn hint_for(lab: &Lab, r: &TestResult, level: u32) -> Option<String> {
        let symptom = match &r.outcome {
            Outcome::Failed(f) => f.symptom,
            _ => None,
        };
        let (hints, diagnosis) = lab.hints_for_failure(r.test, symptom);
        let about = diagnosis.map_or(String::new(), |d| format!(" ({})", d.label()));
        if hints.is_empty() {
            return None;
        }
        let k = (level.max(1) as usize).min(hints.len());
        let mut out = format!("hint {k} of {}{about}: {}\n", hints.len(), hints[k - 1]);
        if k < hints.len() {
            out.push_str(&format!(
                "(a more explicit hint comes if this still fails after your next change; \
                 all of them now: `autograder hint {} {}`)\n",
                lab.name, r.test.id
            ));
        }
        Some(out)
    }

    /// Records a result of the lab's code at version `code` and returns the streak's new
    /// length: a pass ends it; a failure starts one, or lengthens it if it is the same
    /// failure after an edit; a skipped test changes nothing.
    fn record(&mut self, lab: &Lab, r: &TestResult, code: u64) -> u32 {
        let key = format!("{}/{}", lab.name, r.test.id);
        match &r.outcome {
            Outcome::Passed => {
                self.streaks.remove(&key);
                0
            }
            Outcome::Failed(_) => {
                let diagnosis = diagnosis(r).unwrap_or_default();
                let streak = self.streaks.entry(key).or_insert_with(|| Streak {
                    count: 0,
                    diagnosis: diagnosis.clone(),
                    code,
                });
                if streak.diagnosis != diagnosis || streak.count == 0 {
                    *streak = Streak {
                        count: 1,
                        diagnosis,
                        code,
                    };
                } else if streak.code != code {
                    streak.count += 1;
                    streak.code = code;
                }
                streak.count
            }
            Outcome::Skipped(_) | Outcome::NotGraded(_) => {
                self.streaks.get(&key).map_or(0, |s| s.count)
            }
        }
    }

    /// Saves the streaks (best effort: a read-only workspace only loses the escalation).
    /// Written to a temporary file and renamed, so a concurrent check never reads half.
    fn save(&self) {
        let Some(path) = &self.path else { return };
        let Some(dir) = path.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(json) = serde_json::to_string_pretty(&self.streaks) else {
            return;
        };
        let tmp = dir.join(format!("hint-streaks.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_step_of_a_todo_panic() {
        let out =
            "lab1: starting\n\nthread 'main' (23462) panicked at labs/lab1/src/server.rs:20:5:\n\
                   not yet implemented: Step 1 of handouts/lab1.md: bind a socket\nnote: …";
        assert_eq!(
            Unfinished::find(out),
            Some(Unfinished {
                step: "Step 1 of handouts/lab1.md: bind a socket".into(),
                location: Some("labs/lab1/src/server.rs:20".into()),
            })
        );
        assert_eq!(
            Unfinished::find("thread 'main' panicked at x.rs:1:1:\nboom"),
            None
        );
    }

    #[test]
    fn a_bare_todo_is_still_found() {
        let found = Unfinished::find("thread 'x' panicked at a.rs:3:9:\nnot yet implemented\n");
        assert_eq!(found.unwrap().location.as_deref(), Some("a.rs:3"));
    }
}
