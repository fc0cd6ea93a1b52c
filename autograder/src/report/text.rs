//! The human-readable report: a line per test, details under failures, a summary line.

use crate::runner::{Outcome, Report, TestResult};

/// The line printed before grading starts.
pub fn header(report_lab: &crate::rubric::Lab, program: &str, seed: u64) -> String {
    format!(
        "Grading {} ({}): {program}\n(seed {seed}: add `--seed {seed}` to repeat this exact run)\n",
        report_lab.name, report_lab.title
    )
}

/// One test's result: the ✓/✗ line, and for failures everything needed to act on it.
pub fn result(r: &TestResult, show_hint: bool) -> String {
    let t = r.test;
    let (mark, points) = match &r.outcome {
        Outcome::Passed => ("✓", format!("{}/{}", t.points, t.points)),
        Outcome::Failed(_) => ("✗", format!("0/{}", t.points)),
        Outcome::Skipped(_) => ("-", "skip".to_string()),
    };
    let mut out = format!("{mark} {points:>5}  {:<22} {}\n", t.id, t.name);
    match &r.outcome {
        Outcome::Passed => {}
        Outcome::Skipped(reason) => out.push_str(&indent(&format!("skipped: {reason}"))),
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
            if !f.transcript.is_empty() {
                body.push_str("transcript (> sent by the grader, < sent by your program):\n");
                for line in &f.transcript {
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
            if show_hint {
                if let Some(hint) = t.hints.first() {
                    body.push_str(&format!("hint: {hint}\n"));
                }
            }
            out.push_str(&indent(&body));
        }
    }
    out
}

/// The last line: `lab1: 35/50 points (6 of 9 tests passed)`.
pub fn summary(report: &Report) -> String {
    let passed = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Passed))
        .count();
    let skipped = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .count();
    let ran = report.results.len() - skipped;
    let skipped_note = if skipped > 0 {
        format!(", {skipped} skipped")
    } else {
        String::new()
    };
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
        out.push_str(&result(r, show_hints));
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
