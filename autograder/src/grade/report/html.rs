//! HTML reports: a student's feedback page (`feedback.html`, written by `batch` beside
//! `feedback.txt` and by `check --html`/`grade --html`), and the page frame it shares with
//! the class report ([`super::class_report`]).
//!
//! Each page is one self-contained file: its style and any script inline, its drawings
//! inline SVG, nothing fetched (a Content-Security-Policy forbids every load, so a page
//! opened from a mail or a course site stays offline). Everything that comes from a
//! submission (its bytes, its output, its compiler's messages, its folder's name) goes
//! through [`escape::html`], the one escaper, and no submission text is ever put in a
//! script.

use std::hash::{BuildHasher, Hasher};

use crate::grade::probe::transcript::Side;
use crate::grade::probe::FailureDetails;
use crate::grade::report::{escape, sequence, text, Tally};
use crate::grade::runner::{Outcome, Report, TestResult};

/// The style both pages share (the sequence diagrams' classes included).
const STYLE: &str = r#"
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --box: #f6f8fa;
  --line: #d1d9e0; --pass: #1a7f37; --fail: #cf222e; --skip: #9a6700; --data: #0969da; --fin: #8250df; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --box: #161b22; --line: #3d444d;
    --pass: #3fb950; --fail: #f85149; --skip: #d29922; --data: #4493f8; --fin: #ab7df8; } }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  background: var(--bg); max-width: 72rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
pre { background: var(--box); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem;
  overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
a { color: var(--data); }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: var(--box); } th a { color: inherit; text-decoration: none; }
th[aria-sort=ascending] a::after { content: " ▲"; } th[aria-sort=descending] a::after { content: " ▼"; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
p.passed, .mark-passed { color: var(--pass); } p.failed, .mark-failed { color: var(--fail); }
p.skipped, .mark-skipped, .mark-not-graded { color: var(--skip); }
td code { white-space: nowrap; }
p.detail { white-space: pre-wrap; overflow-wrap: anywhere; }
section.test { border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: 6px;
  padding: .2rem 1rem .6rem; margin: 1rem 0; }
section.test.failed { border-left-color: var(--fail); } section.test.passed { border-left-color: var(--pass); }
section.test.skipped, section.test.not-graded { border-left-color: var(--skip); }
section.test h2 { margin: .6rem 0 .3rem; }
dl.seen { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; margin: .4rem 0; }
dl.seen dt { color: var(--muted); } dl.seen dd { margin: 0; word-break: break-all; }
.hint { background: var(--box); border-left: 3px solid var(--data); padding: .4rem .8rem; }
.bar { display: inline-block; height: .8em; background: var(--pass); vertical-align: middle; }
.bar-track { display: inline-block; width: 8rem; background: var(--box); border: 1px solid var(--line); }
figure { margin: .6rem 0; overflow-x: auto; } figcaption { color: var(--muted); font-size: .9em; }
svg.sequence, svg.histogram { max-width: 100%; height: auto; }
svg text { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: var(--fg); }
.sq-lane { font-weight: bold; } text.sq-time, text.sq-aside { fill: var(--muted); }
.sq-life { stroke: var(--line); stroke-width: 2; stroke-dasharray: 5 4; }
line.sq-data { stroke: var(--data); stroke-width: 1.5; } polygon.sq-data, text.sq-data { fill: var(--data); }
line.sq-control { stroke: var(--muted); stroke-width: 1.5; } polygon.sq-control, text.sq-control { fill: var(--muted); }
line.sq-fin { stroke: var(--fin); stroke-width: 2; } polygon.sq-fin, text.sq-fin { fill: var(--fin); }
line.sq-rst, path.sq-rst { stroke: var(--fail); stroke-width: 2.5; } polygon.sq-rst, text.sq-rst { fill: var(--fail); }
rect.sq-note { fill: var(--box); stroke: var(--skip); } rect.sq-note.sq-marked { stroke: var(--fail); stroke-width: 2; }
text.sq-trouble { fill: var(--skip); }
rect.sq-failure { fill: var(--box); stroke: var(--fail); stroke-width: 2; } text.sq-failure-text { fill: var(--fail); }
rect.hist-bar { fill: var(--data); } line.hist-axis { stroke: var(--line); }
"#;

/// A whole page: `title`, the shared style, `body`, and `script` (ours, never a
/// submission's text) at the end of the body. The policy allows the inline style and only
/// the script that carries this page's nonce: were some markup ever to slip through
/// unescaped, an inline handler (`onerror=…`) or an injected script would not run, and
/// nothing can be fetched.
pub(crate) fn page(title: &str, body: &str, script: Option<&str>) -> String {
    let nonce = nonce();
    let script_policy = match script {
        Some(_) => format!("'nonce-{nonce}'"),
        None => "'none'".to_string(),
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src {script_policy}\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape::html(title)
    );
    out.push_str(body);
    if let Some(script) = script {
        out.push_str(&format!("<script nonce=\"{nonce}\">{script}</script>\n"));
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A value the page's script policy names: 128 bits from the standard library's
/// randomly keyed hasher (seeded from the system's random source), never the same twice.
fn nonce() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut words = [0u64; 2];
    for (i, word) in words.iter_mut().enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        *word = h.finish();
    }
    format!("{:016x}{:016x}", words[0], words[1])
}

/// How a result is marked in tables: the symbol, and the class that colours it.
pub(crate) fn mark(outcome: &Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Passed => ("✓", "passed"),
        Outcome::Failed(_) => ("✗", "failed"),
        Outcome::Skipped(_) => ("–", "skipped"),
        Outcome::NotGraded(_) => ("?", "not-graded"),
    }
}

/// A student's feedback page: every test with its points, its verdict and its hint, and
/// each failing exchange drawn as a sequence diagram. `preamble` (why a build failed, the
/// compiler's messages) comes first; `class_report` is the relative link back to the
/// class's page, when there is one.
pub fn feedback_page(
    report: &Report,
    preamble: Option<&str>,
    class_report: Option<&str>,
) -> String {
    let lab = report.lab;
    let tally = Tally::of(report);
    let mut body = format!(
        "<header>\n<h1>{} — {}: feedback</h1>\n<p class=\"score\"><strong>{}/{} points</strong> \
         ({} of {} tests passed{}{})</p>\n<p class=\"muted\">program: <code>{}</code>; seed {} \
         (add <code>--seed {}</code> to repeat this exact run)</p>\n",
        escape::html(lab.name),
        escape::html(lab.title),
        report.score(),
        report.max_score(),
        tally.passed,
        tally.ran(),
        if tally.skipped > 0 {
            format!(", {} skipped", tally.skipped)
        } else {
            String::new()
        },
        if tally.not_graded > 0 {
            format!(
                "; could not grade {}: the grader's trouble, run again",
                tally.not_graded
            )
        } else {
            String::new()
        },
        escape::html(&report.program),
        report.seed,
        report.seed,
    );
    if let Some(link) = class_report {
        body.push_str(&format!(
            "<p><a href=\"{}\">← the class report</a></p>\n",
            escape::html(link)
        ));
    }
    body.push_str("</header>\n");
    if let Some(pre) = preamble.filter(|p| !p.trim().is_empty()) {
        body.push_str(&format!(
            "<section class=\"preamble\">\n<h2>Before the tests</h2>\n<pre>{}</pre>\n</section>\n",
            escape::html(pre.trim_end())
        ));
    }
    body.push_str(&overview(report));
    for r in &report.results {
        body.push_str(&test_section(report, r));
    }
    body.push_str(&format!(
        "<p class=\"summary\">{}</p>\n",
        escape::html(&text::summary(report))
    ));
    page(&format!("{} feedback", lab.name), &body, None)
}

/// The table of every test at the top: mark, points, id (a link to its section), name.
fn overview(report: &Report) -> String {
    let mut out = String::from(
        "<table class=\"overview\">\n<thead><tr><th></th><th class=\"num\">points</th><th>test</th>\
         <th>behaviour</th></tr></thead>\n<tbody>\n",
    );
    for r in &report.results {
        let (symbol, class) = mark(&r.outcome);
        out.push_str(&format!(
            "<tr class=\"{class}\"><td class=\"mark-{class}\">{symbol}</td><td class=\"num\">{}</td>\
             <td><a href=\"#test-{id}\"><code>{id}</code></a></td><td>{}</td></tr>\n",
            points(r),
            escape::html(r.test.name),
            id = escape::html(r.test.id),
        ));
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// `10/10`, `0/10`, `skip`, `n/a`: as the text report's result line has them.
fn points(r: &TestResult) -> String {
    match r.outcome {
        Outcome::Passed => format!("{}/{}", r.test.points, r.test.points),
        Outcome::Failed(_) => format!("0/{}", r.test.points),
        Outcome::Skipped(_) => "skip".into(),
        Outcome::NotGraded(_) => "n/a".into(),
    }
}

/// One test's section.
fn test_section(report: &Report, r: &TestResult) -> String {
    let t = r.test;
    let (symbol, class) = mark(&r.outcome);
    let mut out = format!(
        "<section class=\"test {class}\" id=\"test-{id}\">\n<h2><span class=\"mark-{class}\">{symbol}</span> \
         <code>{id}</code> {} <span class=\"muted\">({})</span></h2>\n",
        escape::html(t.name),
        points(r),
        id = escape::html(t.id),
    );
    match &r.outcome {
        Outcome::Passed => out.push_str("<p class=\"passed\">passed</p>\n"),
        Outcome::Skipped(why) => out.push_str(&format!(
            "<p class=\"skipped\">skipped: {}</p>\n",
            escape::html(why)
        )),
        Outcome::NotGraded(why) => out.push_str(&format!(
            "<p class=\"skipped\">could not grade: {}</p>\n<p>This is the grader's trouble, not \
             your program's: run it again.</p>\n",
            escape::html(why)
        )),
        Outcome::Failed(failure) => out.push_str(&failure_body(report, r, failure)),
    }
    out.push_str("</section>\n");
    out
}

/// What a failure says: the summary, expected and received, details, the hint, the
/// exchange (drawn, and as the text transcript), the program's output, how to reproduce.
fn failure_body(report: &Report, r: &TestResult, f: &FailureDetails) -> String {
    let mut out = format!(
        "<p class=\"failed\"><strong>failed:</strong> {}</p>\n",
        escape::html(&f.summary)
    );
    if f.expected.is_some() || f.got.is_some() {
        out.push_str("<dl class=\"seen\">\n");
        for (what, value) in [("expected", &f.expected), ("received", &f.got)] {
            if let Some(v) = value {
                out.push_str(&format!(
                    "<dt>{what}</dt><dd><code>{}</code></dd>\n",
                    escape::html(v)
                ));
            }
        }
        out.push_str("</dl>\n");
    }
    for d in &f.details {
        // A detail may span lines (expected/received from some byte on): keep its breaks.
        out.push_str(&format!("<p class=\"detail\">{}</p>\n", escape::html(d)));
    }
    let (hints, diagnosis) = report.lab.hints_for_failure(r.test, f.symptom);
    if let Some(hint) = hints.first() {
        let about = diagnosis.map_or(String::new(), |d| format!(" ({})", d.label()));
        out.push_str(&format!(
            "<p class=\"hint\"><strong>hint{}:</strong> {}</p>\n",
            escape::html(&about),
            escape::html(hint)
        ));
    }
    if !f.exchange.is_empty() {
        let lanes = match f.exchange.grader {
            Side::Client => {
                "left the grader's connections (<code>c1</code>, …; <code>n1</code> is the new \
                 client of the check after the test), right your program"
            }
            Side::Server if f.exchange.events().any(|t| t.conn.starts_with('d')) => {
                "left the grader's test server, right your program, the client: its \
                 connections <code>c1</code>, … (and <code>d1</code>, … its data connections) \
                 in the order the test server accepted them"
            }
            Side::Server => {
                "left the grader's test server, right your program, the client: its \
                 connections <code>c1</code>, … in the order the test server accepted them"
            }
        };
        out.push_str(&format!(
            "<figure>\n{}<figcaption>The exchange, as the grader saw it: {lanes}; times since \
             the exchange began. The box at the bottom is where the test gave up, and what it \
             expected there.\
             </figcaption>\n</figure>\n",
            sequence::diagram(
                &f.exchange,
                f,
                &format!("The exchange of test {}", r.test.id)
            )
        ));
        out.push_str(&format!(
            "<details>\n<summary>transcript (&gt; sent by the grader, &lt; sent by your \
             program)</summary>\n<pre>{}</pre>\n</details>\n",
            escape::html(&f.exchange.lines().join("\n"))
        ));
    }
    if let Some(output) = r.program_output.as_deref().filter(|o| !o.trim().is_empty()) {
        out.push_str(&format!(
            "<details open>\n<summary>your program's output (last lines)</summary>\n<pre>{}</pre>\n\
             </details>\n",
            escape::html(output.trim_end())
        ));
    }
    if let Some(cmd) = &f.reproduce {
        out.push_str(&format!(
            "<p>try it by hand (with your program running):</p>\n<pre>{}</pre>\n",
            escape::html(cmd)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::probe::transcript::{Event, Transcript};

    #[test]
    fn a_feedback_page_has_every_test_its_points_and_the_hint() {
        let report = crate::grade::report::sample_report();
        let page = feedback_page(&report, Some("the build failed"), Some("../report.html"));
        assert!(page.starts_with("<!DOCTYPE html>\n"), "{page}");
        for r in &report.results {
            assert!(
                page.contains(&format!("id=\"test-{}\"", r.test.id)),
                "{page}"
            );
        }
        assert!(
            page.contains("<dt>expected</dt><dd><code>abc</code></dd>"),
            "{page}"
        );
        assert!(page.contains("class=\"hint\""), "{page}");
        assert!(page.contains("href=\"../report.html\""), "{page}");
        assert!(page.contains("<pre>the build failed</pre>"), "{page}");
        assert!(page.contains("script-src 'none'"), "{page}");
        assert!(!page.contains("<script"), "{page}");
    }

    #[test]
    fn a_hostile_output_is_text_on_the_page() {
        let mut report = crate::grade::report::sample_report();
        let hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>";
        report.results[1].program_output = Some(hostile.into());
        report.program = hostile.into();
        let page = feedback_page(&report, Some(hostile), None);
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("</script>"), "{page}");
        assert!(!page.contains("<script"), "{page}");
        assert!(
            page.contains("&lt;img src=x onerror=alert(2)&gt;"),
            "{page}"
        );
    }

    #[test]
    fn a_client_test_draws_the_test_servers_exchange() {
        let lab = crate::grade::labs::find("lab4").unwrap();
        let test = lab
            .tests
            .iter()
            .find(|t| t.kind == crate::grade::rubric::Kind::Client)
            .unwrap();
        let transcript = Transcript::default();
        transcript.grader_is(Side::Server);
        transcript.event("c1", Event::Accepted);
        transcript.data("c1", Side::Server, b"220 Ready.\r\n");
        transcript.data("c1", Side::Client, b"QUIT\r\n");
        transcript.event("c1", Event::Close);
        let mut failure = crate::grade::probe::Failure::new("no RETR");
        failure.exchange = transcript.exchange();
        let report = Report {
            lab,
            program: "./ftp".into(),
            seed: 1,
            results: vec![TestResult {
                test,
                outcome: Outcome::Failed(failure),
                elapsed: std::time::Duration::ZERO,
                program_output: None,
            }],
            elapsed: std::time::Duration::ZERO,
        };
        let page = feedback_page(&report, None, None);
        assert!(!page.contains("No exchange is drawn"), "{page}");
        assert!(page.contains("<svg class=\"sequence\""), "{page}");
        assert!(page.contains(">your program (client)</text>"), "{page}");
        assert!(page.contains("left the grader's test server"), "{page}");
        assert!(
            page.contains("[c1] &lt; 6 bytes b&quot;QUIT\\r\\n&quot;"),
            "{page}"
        );
    }

    #[test]
    fn every_page_has_its_own_nonce() {
        assert_ne!(nonce(), nonce());
        let page = page("t", "<p>x</p>\n", Some("void 0;"));
        let nonce = page
            .split("'nonce-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap();
        assert!(page.contains(&format!("<script nonce=\"{nonce}\">void 0;</script>")));
    }
}
