//! The class as a whole: grading the submissions in parallel, `grades.csv` (rewritten
//! after each submission, so a batch that is stopped still leaves every finished grade),
//! the progress line, `summary.txt` (which tests the class failed most) and `report.html`
//! (the class at a glance, see `grade::report::class_report`; rewritten after each
//! submission too).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use super::worker::WorkerNet;
use super::{grade_one, Plan};
use crate::grade::report::{class_report, escape};
use crate::grade::rubric::TestCase;
use crate::grade::runner::{Outcome, Report};
use crate::output::StatusLine;

/// What a grade stands on, beyond its score: the progress line and the class summary
/// name each kind of ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// Graded: the score is what its program earned.
    Graded,
    /// Nothing could be built or started.
    DidNotBuild,
    /// Its grading was stopped at the time budget.
    Stopped,
    /// The grader's own trouble kept it from being graded, or fully graded: the score
    /// says nothing about the submission.
    GraderTrouble,
}

impl Standing {
    /// The note beside a score, where there is one.
    pub(super) fn note(self) -> Option<&'static str> {
        match self {
            Standing::Graded => None,
            Standing::DidNotBuild => Some("did not build"),
            Standing::Stopped => Some("stopped at its time budget"),
            Standing::GraderTrouble => Some("grader trouble: grade again"),
        }
    }
}

/// One student's line of `grades.csv`.
#[derive(Debug, Clone)]
pub(super) struct Row {
    /// The student's folder name.
    pub student: String,
    /// Points earned, and at stake.
    pub score: u32,
    pub max_score: u32,
    /// Points per test id.
    per_test: BTreeMap<&'static str, u32>,
    /// The tests with points that it failed (not those skipped or not graded).
    failed: Vec<&'static str>,
    /// How its grading ended.
    pub standing: Standing,
    elapsed: Duration,
    /// Of which copying and building took this long.
    prepared: Duration,
    /// Its line in the class report.
    line: class_report::Student,
}

impl Row {
    pub(super) fn new(
        student: &str,
        report: &Report,
        standing: Standing,
        ran: bool,
        elapsed: Duration,
        prepared: Duration,
    ) -> Row {
        let line = class_report::Student::of(
            student,
            report,
            standing.note(),
            ran,
            standing != Standing::GraderTrouble,
        );
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
            standing,
            elapsed,
            prepared,
            line,
        }
    }
}

pub(super) fn run_class(plan: &Plan, students: Vec<String>) -> anyhow::Result<ExitCode> {
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
    let status = StatusLine::on_stderr();
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
                if let Err(e) = write_class_report(plan, &rows) {
                    eprintln!("cannot write report.html: {e}");
                }
                show_progress(status, rows.len(), total, &row);
            });
        }
    });
    status.keep();
    let mut rows = Arc::try_unwrap(rows)
        .map_err(|_| anyhow!("grading threads still running"))?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    rows.sort_by(|a, b| a.student.cmp(&b.student));
    write_grades(plan, &rows)?;
    if let Some(lms) = plan.args.gradebook {
        let mut grades: Vec<super::gradebook::Grade> = rows
            .iter()
            .map(|r| {
                let known = r.standing != Standing::GraderTrouble;
                (r.student.as_str(), known.then_some(r.score))
            })
            .collect();
        grades.sort();
        let csv = super::gradebook::csv(lms, plan.lab.name, plan.roster.as_ref(), &grades);
        std::fs::write(plan.out.join(lms.file_name()), csv)?;
    }
    let summary = class_summary(plan, &rows, started.elapsed());
    std::fs::write(plan.out.join("summary.txt"), &summary)?;
    write_class_report(plan, &rows)?;
    say!("{summary}");
    sayln!(
        "Wrote {out}/grades.csv, {out}/report.html and STUDENT/{{results.json,feedback.txt,feedback.html,junit.xml}}",
        out = plan.out.display()
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

/// Writes `report.html` whole, like `grades.csv` (after each submission: a batch stopped
/// half-way still leaves the class report of what it finished).
fn write_class_report(plan: &Plan, rows: &[Row]) -> std::io::Result<()> {
    let lines: Vec<class_report::Student> = rows.iter().map(|r| r.line.clone()).collect();
    let partial = plan.out.join(".report.html.partial");
    std::fs::write(
        &partial,
        class_report::page(plan.lab, &plan.tests, plan.seed, &lines),
    )?;
    std::fs::rename(partial, plan.out.join("report.html"))
}

/// One finished submission: a bar on a terminal, a line of the log elsewhere.
fn show_progress(status: StatusLine, done: usize, total: usize, row: &Row) {
    let line = format!(
        "{}: {}/{}{} ({:.1} s, of which {:.1} s to copy and build)",
        row.student,
        row.score,
        row.max_score,
        row.standing
            .note()
            .map(|n| format!(", {n}"))
            .unwrap_or_default(),
        row.elapsed.as_secs_f64(),
        row.prepared.as_secs_f64()
    );
    if status.is_live() {
        const WIDTH: usize = 30;
        let filled = WIDTH * done / total;
        status.show(&format!(
            "[{}{}] {done}/{total}  {line}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled)
        ));
    } else {
        eprintln!("[{done}/{total}] {line}");
    }
}

/// `grades.csv`: a header, then a line per student (sorted), a column per test.
fn grades_csv(tests: &[&TestCase], rows: &[&Row]) -> String {
    let mut out = String::from("student,score,max_score");
    for t in tests {
        out.push(',');
        out.push_str(t.id);
    }
    out.push('\n');
    for r in rows {
        out.push_str(&escape::csv(&r.student));
        out.push_str(&format!(",{},{}", r.score, r.max_score));
        for t in tests {
            out.push_str(&format!(",{}", r.per_test.get(t.id).copied().unwrap_or(0)));
        }
        out.push('\n');
    }
    out
}

/// `summary.txt`: how the class did, and which tests it failed most.
fn class_summary(plan: &Plan, rows: &[Row], elapsed: Duration) -> String {
    let n = rows.len();
    let full = rows
        .iter()
        .filter(|r| r.score == r.max_score && r.max_score > 0)
        .count();
    let zero = rows.iter().filter(|r| r.score == 0).count();
    let count = |standing: Standing| rows.iter().filter(|r| r.standing == standing).count();
    let (unbuilt, stopped, trouble) = (
        count(Standing::DidNotBuild),
        count(Standing::Stopped),
        count(Standing::GraderTrouble),
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
