//! Step checks: the lab crate's own tests of each handout step (`labs/LAB/tests/steps.rs`),
//! which pass as soon as a step is done, long before the whole program passes a rubric test.
//!
//! `check` runs them before the rubric and shows one line per step:
//!
//! ```text
//! Step checks (labs/lab1/tests/steps.rs):
//!   ✓ Step 1  Bind          2/2
//!   ✗ Step 3  Echo loop     0/2  not written yet (labs/lab1/src/echo.rs:27)
//! ```
//!
//! Each test is named `stepN_what_it_checks` and, in the stub, `#[ignore]`d (so that
//! `cargo test --workspace` passes on an untouched stub); they are run here with
//! `--include-ignored`, in a process group of their own with a deadline, since a step
//! that never returns would otherwise hang `check`.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::grade::unfinished::Unfinished;

/// How long all of a lab's step checks may take, build excluded.
const DEADLINE: Duration = Duration::from_secs(120);

/// The result of one step check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The test reached a `todo!()`: the step (or one it uses) is not written yet.
    Unfinished(Unfinished),
    /// It failed: the first lines of its panic message.
    Failed(String),
}

/// One step check.
#[derive(Debug, Clone)]
pub struct StepCheck {
    pub step: u32,
    /// The test's name without its `stepN_` prefix, in words.
    pub what: String,
    pub outcome: Outcome,
}

/// What running the step checks gave.
#[derive(Debug)]
pub enum Run {
    /// The lab has no `tests/steps.rs`.
    None,
    Ran(Vec<StepCheck>),
    /// They could not run (they do not compile, or hung): said in one paragraph.
    Trouble(String),
}

/// Runs the step checks of the lab package `package` in the workspace at `root`.
pub fn run(root: &Path, package: &str, lab_dir: &Path) -> Run {
    if !lab_dir.join("tests/steps.rs").is_file() {
        return Run::None;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["test", "-p", package, "--test", "steps", "--"])
        .args(["--include-ignored", "--color", "never"])
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: on a timeout, the test binary goes with cargo.
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Run::Trouble(format!("cannot run cargo test: {e}")),
    };
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let stdout = std::thread::spawn(move || read_all(out.as_mut()));
    let stderr = std::thread::spawn(move || read_all(err.as_mut()));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                // The process group we created for this child (its pid is the pgid).
                if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                    let _ =
                        rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let checks = parse(&stdout);
    match status {
        None => Run::Trouble(format!(
            "the step checks did not finish within {} s: a step that never returns (a loop \
             that misses its end?) keeps them waiting",
            DEADLINE.as_secs()
        )),
        Some(_) if checks.is_empty() => Run::Trouble(format!(
            "the step checks did not run: {}",
            first_error(&stderr)
        )),
        Some(_) => Run::Ran(checks),
    }
}

fn read_all(pipe: Option<&mut impl Read>) -> String {
    let mut bytes = Vec::new();
    if let Some(p) = pipe {
        let _ = p.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The compiler's first error, for "did not run" (the usual cause: a changed signature).
fn first_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    match lines.iter().position(|l| l.starts_with("error")) {
        Some(at) => lines[at..lines.len().min(at + 6)].join("\n"),
        None => lines.last().copied().unwrap_or("no output").to_string(),
    }
}

/// Reads libtest's output: `test NAME ... ok|FAILED` lines, and for each failure its
/// `---- NAME stdout ----` block (the panic).
pub fn parse(stdout: &str) -> Vec<StepCheck> {
    let mut blocks: BTreeMap<&str, String> = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in stdout.lines() {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            current = Some(name);
            continue;
        }
        if line == "failures:" || line.starts_with("test result:") {
            current = None;
        }
        if let Some(name) = current {
            let block = blocks.entry(name).or_default();
            block.push_str(line);
            block.push('\n');
        }
    }
    let mut checks = Vec::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, verdict)) = rest.rsplit_once(" ... ") else {
            continue;
        };
        let Some((step, what)) = step_of(name) else {
            continue;
        };
        let outcome = if verdict == "ok" {
            Outcome::Passed
        } else {
            let block = blocks.get(name).map(String::as_str).unwrap_or("");
            match Unfinished::find(block) {
                Some(todo) => Outcome::Unfinished(todo),
                None => Outcome::Failed(panic_message(block)),
            }
        };
        checks.push(StepCheck {
            step,
            what,
            outcome,
        });
    }
    checks.sort_by_key(|c| c.step);
    checks
}

/// `step3_echoes_every_byte` → (3, "echoes every byte").
fn step_of(name: &str) -> Option<(u32, String)> {
    let rest = name.rsplit("::").next()?.strip_prefix("step")?;
    let (number, what) = rest.split_once('_')?;
    Some((number.parse().ok()?, what.replace('_', " ")))
}

/// The panic's message: the lines after `panicked at FILE:LINE:COL:`, up to the note.
fn panic_message(block: &str) -> String {
    let lines: Vec<&str> = block.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("panicked at"))
        .map_or(0, |at| at + 1);
    lines[start..]
        .iter()
        .take_while(|l| !l.starts_with("note:"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// The step lines for the report; `titles` are the handout's step titles.
pub fn render(checks: &[StepCheck], titles: &BTreeMap<u32, String>, file: &str) -> String {
    let mut by_step: BTreeMap<u32, Vec<&StepCheck>> = BTreeMap::new();
    for c in checks {
        by_step.entry(c.step).or_default().push(c);
    }
    let width = by_step
        .keys()
        .map(|s| titles.get(s).map_or(0, |t| t.chars().count()))
        .max()
        .unwrap_or(0);
    let mut out = format!("Step checks ({file}):\n");
    for (step, checks) in &by_step {
        let passed = checks
            .iter()
            .filter(|c| c.outcome == Outcome::Passed)
            .count();
        let mark = if passed == checks.len() { '✓' } else { '✗' };
        let title = titles.get(step).map(String::as_str).unwrap_or("");
        out.push_str(&format!(
            "  {mark} Step {step:<2} {title:<width$}  {passed}/{}",
            checks.len()
        ));
        // This step's own `todo!()` first: "not written yet" is the news; a later step's
        // or an earlier one's only explains the rest.
        let todos: Vec<&Unfinished> = checks
            .iter()
            .filter_map(|c| match &c.outcome {
                Outcome::Unfinished(todo) => Some(todo),
                _ => None,
            })
            .collect();
        let own = format!("Step {step}");
        let unfinished = todos
            .iter()
            .find(|t| t.step_number() == Some(own.as_str()))
            .or(todos.first())
            .copied();
        let failed = checks
            .iter()
            .find(|c| matches!(c.outcome, Outcome::Failed(_)));
        if let Some(c) = failed {
            // A step written but wrong is the news: what the first failing check says.
            if let Outcome::Failed(message) = &c.outcome {
                out.push_str(&format!("  {}:\n", c.what));
                for line in message.lines().take(4) {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        } else if let Some(todo) = unfinished {
            let which = todo.step_number().unwrap_or("a todo!()");
            let at = todo
                .location
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            out.push_str(&format!("  stops at {which}, not written yet{at}\n"));
        } else {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\nrunning 3 tests\n\
        test step1_binds_a_socket ... ok\n\
        test step3_echoes_every_byte ... FAILED\n\
        test step4_writes_every_byte ... FAILED\n\n\
        failures:\n\n\
        ---- step3_echoes_every_byte stdout ----\n\n\
        thread 'step3_echoes_every_byte' panicked at labs/lab1/src/echo.rs:27:5:\n\
        not yet implemented: Step 3 of handouts/lab1.md: echo every byte\n\
        note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\
        ---- step4_writes_every_byte stdout ----\n\n\
        thread 'step4_writes_every_byte' panicked at labs/lab1/tests/steps.rs:180:5:\n\
        assertion `left == right` failed: wrote 3 of 10000 bytes\n  left: 3\n right: 10000\n\
        note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\n\
        failures:\n    step3_echoes_every_byte\n    step4_writes_every_byte\n\n\
        test result: FAILED. 1 passed; 2 failed; 0 ignored\n";

    #[test]
    fn reads_passes_unfinished_steps_and_failures() {
        let checks = parse(OUTPUT);
        assert_eq!(checks.len(), 3);
        assert_eq!(
            (checks[0].step, checks[0].outcome.clone()),
            (1, Outcome::Passed)
        );
        assert_eq!(checks[0].what, "binds a socket");
        match &checks[1].outcome {
            Outcome::Unfinished(todo) => {
                assert_eq!(todo.step_number(), Some("Step 3"));
                assert_eq!(todo.location.as_deref(), Some("labs/lab1/src/echo.rs:27"));
            }
            other => panic!("{other:?}"),
        }
        match &checks[2].outcome {
            Outcome::Failed(message) => {
                assert!(message.starts_with("assertion `left == right` failed: wrote 3"));
                assert!(!message.contains("note:"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn renders_one_line_per_step_with_the_first_problem() {
        let titles = BTreeMap::from([
            (1, "Bind".to_string()),
            (3, "Echo loop".to_string()),
            (4, "Write loop".to_string()),
        ]);
        let text = render(&parse(OUTPUT), &titles, "labs/lab1/tests/steps.rs");
        assert!(text.contains("✓ Step 1  Bind        1/1\n"), "{text}");
        assert!(
            text.contains("✗ Step 3  Echo loop   0/1  stops at Step 3, not written yet (labs/lab1/src/echo.rs:27)"),
            "{text}"
        );
        assert!(
            text.contains("✗ Step 4  Write loop  0/1  writes every byte:\n      assertion"),
            "{text}"
        );
    }
}
