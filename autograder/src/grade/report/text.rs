//! The human-readable report: a line per test, details under failures, a summary line.

use crate::grade::report::Tally;
use crate::grade::rubric::Lab;
use crate::grade::runner::{Outcome, Report, TestResult};

/// The line printed before grading starts.
pub fn header(report_lab: &Lab, program: &str, seed: u64) -> String {
    format!(
        "Grading {} ({}): {program}\n(seed {seed}: add `--seed {seed}` to repeat this exact run)\n",
        report_lab.name, report_lab.title
    )
}

/// The status line while a test runs: `running echo-short (2/7) …`.
pub fn running(test: &crate::grade::rubric::TestCase, index: usize, total: usize) -> String {
    format!("  running {} ({}/{}) …", test.id, index + 1, total)
}

/// One test's result: the ✓/✗ line, and for failures everything needed to act on it
/// (with the first hint when `show_hint`: the first of `lab`'s hints for the failure's
/// diagnosis, as `check` gives, so one mistake gets one hint in every test it breaks).
pub fn result(lab: &Lab, r: &TestResult, show_hint: bool) -> String {
    let symptom = match &r.outcome {
        Outcome::Failed(f) => f.symptom,
        _ => None,
    };
    let hint = if show_hint {
        let (hints, diagnosis) = lab.hints_for_failure(r.test, symptom);
        hints.first().map(|h| match diagnosis {
            Some(d) => format!("hint ({}): {h}\n", d.label()),
            None => format!("hint: {h}\n"),
        })
    } else {
        None
    };
    result_with(r, hint.as_deref())
}

/// One test's result, as [`result`], with `hint` (already worded, ending in a newline)
/// under a failure instead of the first hint.
pub fn result_with(r: &TestResult, hint: Option<&str>) -> String {
    let t = r.test;
    let (mark, points) = match &r.outcome {
        Outcome::Passed => ("✓", format!("{}/{}", t.points, t.points)),
        Outcome::Failed(_) => ("✗", format!("0/{}", t.points)),
        Outcome::Skipped(_) => ("-", "skip".to_string()),
        Outcome::NotGraded(_) => ("?", "n/a".to_string()),
    };
    let mut out = format!("{mark} {points:>5}  {:<22} {}\n", t.id, t.name);
    match &r.outcome {
        Outcome::Passed => {}
        Outcome::Skipped(reason) => out.push_str(&indent(&format!("skipped: {reason}"))),
        Outcome::NotGraded(reason) => out.push_str(&indent(&format!(
            "could not grade: {reason}\nThis is the grader's trouble, not your program's: run it again.\n"
        ))),
        Outcome::Failed(f) => {
            let mut body = format!("{}\n", f.summary);
            if let Some(e) = &f.expected {
                body.push_str(&format!("expected: {e}\n"));
            }
            if let Some(g) = &f.got {
                body.push_str(&format!("received: {g}\n"));
            }
            for d in &f.details {
                body.push_str(d);
                body.push('\n');
            }
            if !f.exchange.is_empty() {
                body.push_str("transcript (> sent by the grader, < sent by your program):\n");
                for line in &f.exchange.lines() {
                    body.push_str("  ");
                    body.push_str(line);
                    body.push('\n');
                }
            }
            if let Some(out) = r.program_output.as_deref().filter(|o| !o.trim().is_empty()) {
                body.push_str("your program's output (last lines):\n");
                for line in out.lines() {
                    body.push_str("  | ");
                    body.push_str(line);
                    body.push('\n');
                }
            }
            if let Some(cmd) = &f.reproduce {
                body.push_str(&format!(
                    "try it by hand (with your program running):\n  {cmd}\n"
                ));
            }
            if let Some(hint) = hint {
                body.push_str(hint);
            }
            out.push_str(&indent(&body));
        }
    }
    out
}

/// The first line of a result (`✗  0/10  echo-fragments …`), with no details.
pub fn result_line(r: &TestResult) -> String {
    result_with(r, None)
        .lines()
        .next()
        .map(|l| format!("{l}\n"))
        .unwrap_or_default()
}

/// What makes two failures "the same" for a reader: the rendered details with every
/// number blanked out, so that ports, process ids and byte counts do not tell apart two
/// runs of one crash. `None` for a result that did not fail.
pub fn failure_fingerprint(r: &TestResult) -> Option<String> {
    if !matches!(r.outcome, Outcome::Failed(_)) {
        return None;
    }
    let body: String = result_with(r, None)
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n");
    Some(without_numbers(&body))
}

/// `text` with each run of digits replaced by `#`: what stays the same from one run to
/// the next when ports, counts and sizes change.
pub fn without_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The last line: `lab1: 35/50 points (6 of 9 tests passed)`.
pub fn summary(report: &Report) -> String {
    let tally = Tally::of(report);
    let (passed, ran, skipped, not_graded) =
        (tally.passed, tally.ran(), tally.skipped, tally.not_graded);
    let mut skipped_note = if skipped > 0 {
        format!(", {skipped} skipped")
    } else {
        String::new()
    };
    if not_graded > 0 {
        skipped_note.push_str(&format!(
            "; could not grade {not_graded}: the grader's trouble, run again"
        ));
    }
    format!(
        "{}: {}/{} points ({passed} of {ran} tests passed{skipped_note})",
        report.lab.name,
        report.score(),
        report.max_score()
    )
}

/// The whole report at once (for files such as `feedback.txt`).
pub fn full(report: &Report, show_hints: bool) -> String {
    let mut out = header(report.lab, &report.program, report.seed);
    for r in &report.results {
        out.push_str(&result(report.lab, r, show_hints));
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

/// Indents every line of `text` by four spaces, as details sit under their result line.
pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
