//! The class report, `report.html` beside `grades.csv`: how the class did at a glance.
//!
//! - the score distribution, as an SVG histogram (by tenths of the points at stake);
//! - each test's pass rate;
//! - the diagnoses the class hit most: the hint diagnoses of [`Lab::hints_for_failure`]
//!   (one mistake, one name, whichever tests it broke), each with how many students and
//!   which tests, and the hint students were given for it — what to go over in class;
//! - a table of students, linking to each one's `STUDENT/feedback.html`: in name order as
//!   written, and sorted by any column with a click (a small inline script; the URL's
//!   fragment, `#sort=-score`, says the order, so a sorted view can be bookmarked).
//!
//! The batch hands over one [`Student`] per submission, made from its report.

use std::collections::BTreeMap;

use crate::grade::probe::Symptom;
use crate::grade::report::{escape, html};
use crate::grade::rubric::{Lab, TestCase};
use crate::grade::runner::{Outcome, Report};
use crate::grade::unfinished::Unfinished;

/// What the class report needs of one submission.
#[derive(Debug, Clone)]
pub struct Student {
    /// The student's folder name (the link is `NAME/feedback.html`).
    pub name: String,
    /// Points earned, and at stake.
    pub score: u32,
    /// Points at stake.
    pub max_score: u32,
    /// What its grade stands on, when not simply graded ("did not build").
    pub note: Option<String>,
    /// Whether the score counts in the distribution (not when the grader's trouble kept
    /// it from being graded: that score says nothing about the submission).
    pub counted: bool,
    /// Each test's result, by id.
    pub marks: BTreeMap<&'static str, Mark>,
    /// The diagnosis of each test it failed, where its program ran (a submission that
    /// did not build failed every test for that one reason, which is no diagnosis).
    pub diagnoses: Vec<(Diagnosis, &'static str)>,
}

/// How one test ended, for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Passed.
    Passed,
    /// Failed.
    Failed,
    /// Could not run here.
    Skipped,
    /// The grader's trouble.
    NotGraded,
}

/// What went wrong, in the terms hints are given in: a lab's diagnosis (a symptom it has
/// hints for), or, where it has none, the test's own hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Diagnosis {
    /// The program stopped at a `todo!()` of the stub: this step is not written yet (a
    /// stub's failures have no symptom, and a class at the start of a lab is mostly this).
    Unfinished(u16),
    /// A symptom the lab has hints for.
    Symptom(Symptom),
    /// No diagnosis: the test's own hints were given.
    Test(&'static str),
}

impl Student {
    /// The line of a submission whose report is `report`. `ran`: its program was
    /// graded (its failures are diagnoses); `counted`: its score is a grade.
    pub fn of(
        name: &str,
        report: &Report,
        note: Option<&str>,
        ran: bool,
        counted: bool,
    ) -> Student {
        let lab = report.lab;
        let mut diagnoses = Vec::new();
        let mut marks = BTreeMap::new();
        for r in &report.results {
            let mark = match &r.outcome {
                Outcome::Passed => Mark::Passed,
                Outcome::Failed(f) => {
                    if ran {
                        let unfinished = r
                            .program_output
                            .as_deref()
                            .and_then(Unfinished::find)
                            .or_else(|| f.details.iter().find_map(|d| Unfinished::find(d)))
                            .and_then(|u| u.step_number()?.strip_prefix("Step ")?.parse().ok());
                        let d = match unfinished {
                            Some(step) => Diagnosis::Unfinished(step),
                            None => diagnosis(lab, r.test, f.symptom),
                        };
                        diagnoses.push((d, r.test.id));
                    }
                    Mark::Failed
                }
                Outcome::Skipped(_) => Mark::Skipped,
                Outcome::NotGraded(_) => Mark::NotGraded,
            };
            marks.insert(r.test.id, mark);
        }
        Student {
            name: name.to_string(),
            score: report.score(),
            max_score: report.max_score(),
            note: note.map(str::to_string),
            counted,
            marks,
            diagnoses,
        }
    }

    /// The score as a share of the points at stake, in percent.
    fn percent(&self) -> f64 {
        if self.max_score == 0 {
            0.0
        } else {
            100.0 * f64::from(self.score) / f64::from(self.max_score)
        }
    }
}

/// How the report names a stop at an unfinished step.
fn unfinished_label(step: u16) -> String {
    format!("stopped at Step {step} (not written yet)")
}

/// The diagnosis `lab`'s hints give a failure of `test` with `symptom`.
fn diagnosis(lab: &Lab, test: &TestCase, symptom: Option<Symptom>) -> Diagnosis {
    match lab.hints_for_failure(test, symptom).1 {
        Some(s) => Diagnosis::Symptom(s),
        None => Diagnosis::Test(test.id),
    }
}

/// The class report's page for `lab`'s `tests`, graded with `seed`.
pub fn page(lab: &Lab, tests: &[&TestCase], seed: u64, students: &[Student]) -> String {
    let mut sorted: Vec<&Student> = students.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let counted: Vec<&Student> = sorted.iter().copied().filter(|s| s.counted).collect();
    let full = counted
        .iter()
        .filter(|s| s.score == s.max_score && s.max_score > 0)
        .count();
    let zero = counted.iter().filter(|s| s.score == 0).count();
    let mut body = format!(
        "<header>\n<h1>{} — {}: class report</h1>\n<p>{} submissions graded with seed {seed}: \
         <strong>{full}</strong> full marks, <strong>{}</strong> partial, <strong>{zero}</strong> \
         zero{}.</p>\n{}</header>\n",
        escape::html(lab.name),
        escape::html(lab.title),
        sorted.len(),
        counted.len() - full - zero,
        notes_summary(&sorted),
        if counted.len() < sorted.len() {
            format!(
                "<p class=\"skipped\">{} not graded (the grader's trouble: grade them again); \
                 left out of the distribution.</p>\n",
                sorted.len() - counted.len()
            )
        } else {
            String::new()
        },
    );
    body.push_str("<h2 id=\"distribution\">Score distribution</h2>\n");
    body.push_str(&histogram(&counted));
    body.push_str(&pass_rates(tests, &sorted));
    body.push_str(&diagnoses(lab, &sorted));
    body.push_str(&student_table(tests, &sorted));
    html::page(
        &format!("{} class report", lab.name),
        &body,
        Some(SORT_SCRIPT),
    )
}

/// `; did not build: 2, stopped at its time budget: 1`: how many of each note.
fn notes_summary(students: &[&Student]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in students {
        if let Some(note) = &s.note {
            *counts.entry(note).or_default() += 1;
        }
    }
    counts
        .iter()
        .map(|(note, n)| format!("; {}: {n}", escape::html(note)))
        .collect()
}

/// The histogram of scores by tenths (0–9 %, …, 90–99 %, and 100 % on its own bar).
fn histogram(students: &[&Student]) -> String {
    const BAR: u32 = 52;
    const GAP: u32 = 10;
    const LEFT: u32 = 40;
    const PLOT: u32 = 160;
    let mut bins = [0usize; 11];
    for s in students {
        bins[((s.percent() / 10.0).floor() as usize).min(10)] += 1;
    }
    let most = bins.iter().copied().max().unwrap_or(0).max(1);
    let width = LEFT + 11 * (BAR + GAP) + 10;
    let height = PLOT + 60;
    let base = PLOT + 20;
    let mut svg = format!(
        "<figure>\n<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\">\n<title>Scores of {} submissions, by tenths \
         of the points at stake</title>\n<line class=\"hist-axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\n",
        students.len(),
        width - 10
    );
    for (i, &n) in bins.iter().enumerate() {
        let x = LEFT + i as u32 * (BAR + GAP);
        let h = (PLOT as usize * n / most) as u32;
        let label = if i == 10 {
            "100%".to_string()
        } else {
            format!("{}–{}%", i * 10, i * 10 + 9)
        };
        svg.push_str(&format!(
            "<g class=\"hist-bin\" data-bin=\"{i}\" data-count=\"{n}\"><rect class=\"hist-bar\" x=\"{x}\" y=\"{}\" \
             width=\"{BAR}\" height=\"{h}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{n}</text>\
             <text class=\"sq-time\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{label}</text></g>\n",
            base - h,
            x + BAR / 2,
            base - h - 5,
            x + BAR / 2,
            base + 16,
        ));
    }
    svg.push_str(&format!(
        "<text class=\"sq-time\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">share of the points at stake \
         (number of submissions above each bar)</text>\n</svg>\n</figure>\n",
        width / 2,
        base + 36
    ));
    svg
}

/// Each test's pass rate: passed of those with a verdict (passed or failed).
fn pass_rates(tests: &[&TestCase], students: &[&Student]) -> String {
    let mut out = String::from(
        "<h2 id=\"tests\">Tests</h2>\n<table class=\"pass-rates\">\n<thead><tr><th class=\"num\">#</th>\
         <th>test</th><th>behaviour</th><th class=\"num\">points</th><th class=\"num\">passed</th>\
         <th>pass rate</th></tr></thead>\n<tbody>\n",
    );
    for (i, t) in tests.iter().enumerate() {
        let count = |mark: Mark| {
            students
                .iter()
                .filter(|s| s.marks.get(t.id) == Some(&mark))
                .count()
        };
        let (passed, failed) = (count(Mark::Passed), count(Mark::Failed));
        let ran = passed + failed;
        let rate = if ran == 0 {
            0.0
        } else {
            100.0 * passed as f64 / ran as f64
        };
        out.push_str(&format!(
            "<tr data-test=\"{id}\"><td class=\"num\">{}</td><td><code>{id}</code></td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num passed-of\">{passed} of {ran}</td>\
             <td><span class=\"bar-track\"><span class=\"bar\" style=\"width: {rate:.0}%\"></span></span> \
             <span class=\"rate\">{rate:.0}%</span></td></tr>\n",
            i + 1,
            escape::html(t.name),
            t.points,
            id = escape::html(t.id),
        ));
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// The diagnoses the class hit most, with the hint given for each.
fn diagnoses(lab: &Lab, students: &[&Student]) -> String {
    // diagnosis -> (students, failures, tests in rubric order)
    let mut seen: BTreeMap<Diagnosis, (usize, usize, Vec<&'static str>)> = BTreeMap::new();
    for s in students {
        let mut mine: Vec<Diagnosis> = Vec::new();
        for (d, test) in &s.diagnoses {
            let entry = seen.entry(*d).or_default();
            entry.1 += 1;
            if !entry.2.contains(test) {
                entry.2.push(test);
            }
            if !mine.contains(d) {
                mine.push(*d);
                entry.0 += 1;
            }
        }
    }
    let mut out = String::from("<h2 id=\"diagnoses\">Diagnoses the class hit most</h2>\n");
    if seen.is_empty() {
        out.push_str("<p>No program failed a test.</p>\n");
        return out;
    }
    let mut ranked: Vec<_> = seen.into_iter().collect();
    ranked.sort_by(|a, b| {
        b.1 .0
            .cmp(&a.1 .0)
            .then(b.1 .1.cmp(&a.1 .1))
            .then(a.0.cmp(&b.0))
    });
    out.push_str(
        "<table class=\"diagnoses\">\n<thead><tr><th>diagnosis</th><th class=\"num\">students</th>\
         <th class=\"num\">failures</th><th>in tests</th><th>the hint students got</th></tr></thead>\n<tbody>\n",
    );
    for (d, (students, failures, tests)) in ranked {
        let (name, hint) = match d {
            Diagnosis::Symptom(s) => (
                escape::html(s.label()),
                lab.hints_for(s).and_then(|h| h.first().copied()),
            ),
            Diagnosis::Test(id) => (
                format!("no diagnosis: <code>{}</code>'s own hint", escape::html(id)),
                lab.test(id).and_then(|t| t.hints.first().copied()),
            ),
            Diagnosis::Unfinished(step) => (
                escape::html(&unfinished_label(step)),
                Some("none: the feedback names the step and its place in the code (a `todo!()` not replaced yet)"),
            ),
        };
        out.push_str(&format!(
            "<tr><td class=\"diagnosis\">{name}</td><td class=\"num\">{students}</td><td class=\"num\">{failures}</td>\
             <td>{}</td><td>{}</td></tr>\n",
            tests
                .iter()
                .map(|t| format!("<code>{}</code>", escape::html(t)))
                .collect::<Vec<_>>()
                .join(", "),
            escape::html(hint.unwrap_or("")),
        ));
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// The table of students, in name order, sortable by any column (see [`SORT_SCRIPT`]):
/// each header is a link to `#sort=KEY`, each cell carries the value it sorts by.
fn student_table(tests: &[&TestCase], students: &[&Student]) -> String {
    let mut out = String::from(
        "<h2 id=\"students\">Students</h2>\n<p class=\"muted\">Sorted by student; click a column's \
         header to sort by it (again to reverse).<noscript> Sorting needs JavaScript.</noscript></p>\n\
         <table id=\"student-table\">\n<thead><tr>\
         <th data-key=\"student\" data-type=\"text\" aria-sort=\"ascending\"><a href=\"#sort=-student\">student</a></th>\
         <th data-key=\"score\" data-type=\"number\" class=\"num\"><a href=\"#sort=score\">score</a></th>\
         <th data-key=\"standing\" data-type=\"text\"><a href=\"#sort=standing\">standing</a></th>",
    );
    for (i, t) in tests.iter().enumerate() {
        out.push_str(&format!(
            "<th data-key=\"t{n}\" data-type=\"number\" class=\"num\" title=\"{id}\"><a href=\"#sort=t{n}\">{n}</a></th>",
            n = i + 1,
            id = escape::html(t.id),
        ));
    }
    out.push_str(
        "<th data-key=\"diagnoses\" data-type=\"text\"><a href=\"#sort=diagnoses\">diagnoses</a></th>\
         </tr></thead>\n<tbody>\n",
    );
    for (order, s) in students.iter().enumerate() {
        let name = escape::html(&s.name);
        out.push_str(&format!(
            "<tr data-order=\"{order}\" data-student=\"{name}\">\
             <td data-sort=\"{name}\"><a href=\"{}/feedback.html\">{name}</a></td>\
             <td class=\"num\" data-sort=\"{:.3}\">{}/{}</td><td data-sort=\"{}\">{}</td>",
            escape::html(&escape::url_segment(&s.name)),
            s.percent(),
            s.score,
            s.max_score,
            escape::html(s.note.as_deref().unwrap_or("")),
            escape::html(s.note.as_deref().unwrap_or("graded")),
        ));
        for t in tests {
            let (symbol, class, key) = match s.marks.get(t.id) {
                Some(Mark::Passed) => ("✓", "passed", 2),
                Some(Mark::Failed) => ("✗", "failed", 0),
                Some(Mark::Skipped) => ("–", "skipped", 1),
                Some(Mark::NotGraded) | None => ("?", "not-graded", 1),
            };
            out.push_str(&format!(
                "<td class=\"num mark-{class}\" data-sort=\"{key}\" title=\"{}: {class}\">{symbol}</td>",
                escape::html(t.id)
            ));
        }
        let mut names: Vec<String> = Vec::new();
        for (d, _) in &s.diagnoses {
            let name = match d {
                Diagnosis::Symptom(s) => s.label().to_string(),
                Diagnosis::Test(id) => format!("{id} (no diagnosis)"),
                Diagnosis::Unfinished(step) => unfinished_label(*step),
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let names = escape::html(&names.join(", "));
        out.push_str(&format!("<td data-sort=\"{names}\">{names}</td></tr>\n"));
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// Sorts the students' table by the column the URL's fragment names (`#sort=score`,
/// `#sort=-score` for the other way), on load and whenever the fragment changes (a click on
/// a header). Equal values keep the name order. Reads only the page's own attributes.
const SORT_SCRIPT: &str = r##"
(function () {
  "use strict";
  var table = document.getElementById("student-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function apply() {
    var m = /^#sort=(-?)([a-z0-9]+)$/.exec(window.location.hash);
    var key = m ? m[2] : "student";
    var desc = m ? m[1] === "-" : false;
    var index = -1;
    heads.forEach(function (th, i) { if (th.getAttribute("data-key") === key) { index = i; } });
    if (index < 0) { return; }
    var numeric = heads[index].getAttribute("data-type") === "number";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-sort");
      var y = b.cells[index].getAttribute("data-sort");
      var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      if (desc) { c = -c; }
      return c || Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    heads.forEach(function (th, i) {
      var link = th.querySelector("a");
      if (i === index) { th.setAttribute("aria-sort", desc ? "descending" : "ascending"); }
      else { th.removeAttribute("aria-sort"); }
      if (link) {
        link.setAttribute("href", "#sort=" + (i === index && !desc ? "-" : "") + th.getAttribute("data-key"));
      }
    });
  }
  window.addEventListener("hashchange", apply);
  apply();
}());
"##;

#[cfg(test)]
mod tests {
    use super::*;

    fn class() -> (&'static Lab, Vec<&'static TestCase>, Vec<Student>) {
        let report = crate::grade::report::sample_report();
        let lab = report.lab;
        let tests: Vec<&TestCase> = report.results.iter().map(|r| r.test).collect();
        let students = vec![
            Student::of("ada", &report, None, true, true),
            Student::of("b&<o>", &report, Some("did not build"), false, true),
        ];
        (lab, tests, students)
    }

    #[test]
    fn the_class_page_counts_links_and_diagnoses() {
        let (lab, tests, students) = class();
        let page = page(lab, &tests, 7, &students);
        assert!(page.contains("<script nonce="), "{page}");
        assert_eq!(page.matches("<tr data-order=").count(), 2, "{page}");
        assert!(page.contains("href=\"ada/feedback.html\""), "{page}");
        // A folder name is percent-encoded in the link and escaped in the text.
        assert!(
            page.contains("href=\"b%26%3Co%3E/feedback.html\""),
            "{page}"
        );
        assert!(page.contains(">b&amp;&lt;o&gt;</a>"), "{page}");
        // Only the student whose program ran has a diagnosis.
        assert!(
            page.contains("<td class=\"num\">1</td><td class=\"num\">1</td>"),
            "{page}"
        );
        assert!(
            page.contains(">2 of 2<") && page.contains(">0 of 2<"),
            "{page}"
        );
        assert!(page.contains("; did not build: 1"), "{page}");
        assert!(page.contains("data-bin=\"3\" data-count=\"2\""), "{page}");
    }

    #[test]
    fn a_stop_at_a_todo_is_counted_as_the_step_not_written_yet() {
        let mut stub = crate::grade::report::sample_report();
        for r in &mut stub.results {
            if r.program_output.is_some() {
                r.program_output = Some(
                    "lab1 panicked at labs/lab1/src/server.rs:20:5:\n\
                     not yet implemented: Step 1 of handouts/lab1.md: bind a listening socket"
                        .into(),
                );
            }
        }
        let tests: Vec<&TestCase> = stub.results.iter().map(|r| r.test).collect();
        let students = vec![
            Student::of("stub1", &stub, None, true, true),
            Student::of("stub2", &stub, None, true, true),
        ];
        assert_eq!(students[0].diagnoses[0].0, Diagnosis::Unfinished(1));
        let page = page(stub.lab, &tests, 7, &students);
        assert!(
            page.contains("<td class=\"diagnosis\">stopped at Step 1 (not written yet)</td><td class=\"num\">2</td>"),
            "{page}"
        );
        assert!(!page.contains("no diagnosis"), "{page}");
    }
}
