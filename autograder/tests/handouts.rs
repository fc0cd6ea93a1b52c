//! Handouts stay true to the code:
//!
//! - each rubric table equals `autograder list --format markdown`, between the markers
//!   `<!-- rubric:LAB -->` and `<!-- /rubric -->`;
//! - each code block marked `<!-- include: labs/labN/src/file.rs#anchor -->` equals that
//!   anchor of the stub, and every anchor it names exists;
//! - each `// TODO: Step N` and `todo!("Step N of …")` in `labs/` names a numbered step of
//!   the lab's handout;
//! - each "common mistakes" row quotes the feedback its corpus program really gets;
//! - the handouts build as an mdBook, and the book lists every handout.
//!
//! The checker itself (`autograder::cmd::handouts`) is proved both ways on a small fake
//! workspace: correct handouts pass, each kind of drift is reported, and `--fix` repairs.

use std::path::Path;
use std::process::Command;

use autograder::cmd::handouts::{self, Problem};

use crate::support::*;

fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{p}\n"))
        .collect::<String>()
}

#[test]
fn every_handout_rubric_table_matches_the_rubric() {
    for lab in autograder::grade::labs::LABS {
        let path = workspace().join(lab.handout);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let open = format!("<!-- rubric:{} -->\n", lab.name);
        let start = text
            .find(&open)
            .unwrap_or_else(|| panic!("{} has no `{}` marker", lab.handout, open.trim()))
            + open.len();
        let end = start
            + text[start..]
                .find("<!-- /rubric -->")
                .expect("closing marker");
        let expected = lab.as_markdown();
        assert_eq!(
            &text[start..end],
            expected,
            "{}'s rubric table is out of date; replace it with `autograder list {} --format markdown` \
             (or run `autograder handouts --fix`)",
            lab.handout,
            lab.name
        );
    }
}

#[test]
fn every_included_code_block_equals_its_stub_anchor() {
    let root = workspace();
    let mut problems = Vec::new();
    let mut includes = 0;
    for file in handouts::handout_files(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        includes += text.matches("<!-- include: ").count();
        let rel = file.strip_prefix(&root).unwrap();
        problems.extend(handouts::refresh(&root, rel, &text).1);
    }
    assert!(
        includes > 0,
        "no handout includes any code: the check would prove nothing"
    );
    assert!(
        problems.is_empty(),
        "handouts disagree with the code (run `cargo run -p autograder -- handouts --fix`):\n{}",
        describe(&problems)
    );
}

#[test]
fn every_todo_names_a_step_of_its_handout() {
    let root = workspace();
    let labs = handouts::lab_dirs(&root);
    assert!(labs.iter().any(|d| d.ends_with("lab1")), "{labs:?}");
    let problems: Vec<Problem> = labs
        .iter()
        .flat_map(|dir| handouts::check_steps(&root, dir))
        .collect();
    assert!(
        problems.is_empty(),
        "stubs and handouts disagree about the steps:\n{}",
        describe(&problems)
    );
}

#[test]
fn every_handout_is_a_chapter_of_the_book() {
    let root = workspace();
    let summary = std::fs::read_to_string(root.join("handouts/SUMMARY.md")).unwrap();
    for file in handouts::handout_files(&root) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            summary.contains(&format!("]({name})")),
            "handouts/SUMMARY.md does not list {name}; add `- [Title]({name})` to it"
        );
    }
}

#[test]
fn the_handouts_build_as_a_book() {
    if !require_tool("mdbook") {
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    Command::new("mdbook")
        .arg("build")
        .arg(workspace().join("handouts"))
        .arg("--dest-dir")
        .arg(out_dir.path())
        .success();
    let page = std::fs::read_to_string(out_dir.path().join("lab1.html")).unwrap();
    // The included stub code made it into the page (HTML-escaped, so look for a name).
    assert!(page.contains("serve_client"), "lab1.html lacks its code");
    assert!(out_dir.path().join("introduction.html").exists());
}

/// One row of a "common mistakes" table: the program that makes the mistake, the test
/// that catches it, and the words of its feedback (`…` between the parts that vary).
#[derive(Debug)]
struct Mistake {
    lab: String,
    program: String,
    test: String,
    says: String,
}

fn mistakes(root: &Path) -> Vec<Mistake> {
    let mut rows = Vec::new();
    for file in handouts::handout_files(root) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("<!-- mistakes:") {
            let after = &rest[at + "<!-- mistakes:".len()..];
            let lab = after[..after.find(" -->").unwrap()].trim().to_string();
            let end = after
                .find("<!-- /mistakes -->")
                .expect("a mistakes table is closed by <!-- /mistakes -->");
            let table = &after[..end];
            let header: Vec<&str> = table
                .lines()
                .find(|l| l.starts_with('|'))
                .unwrap()
                .split('|')
                .map(str::trim)
                .collect();
            let col = |name: &str| {
                header
                    .iter()
                    .position(|h| *h == name)
                    .unwrap_or_else(|| panic!("the mistakes table lacks a `{name}` column"))
            };
            let (program, test, says) = (
                col("corpus program"),
                col("caught by"),
                col("the feedback says"),
            );
            for line in table.lines().filter(|l| l.starts_with('|')).skip(2) {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let unquote = |s: &str| s.trim_matches('`').to_string();
                rows.push(Mistake {
                    lab: lab.clone(),
                    program: unquote(cells[program]),
                    test: unquote(cells[test]),
                    says: cells[says].to_string(),
                });
            }
            rest = &after[end..];
        }
    }
    rows
}

#[test]
fn common_mistakes_quote_the_feedback_their_corpus_programs_get() {
    let rows = mistakes(&workspace());
    assert!(
        rows.iter().any(|m| m.lab == "lab1"),
        "handouts/lab1.md has no <!-- mistakes:lab1 --> table"
    );
    for m in &rows {
        let lab = autograder::grade::labs::find(&m.lab)
            .unwrap_or_else(|| panic!("mistakes table of unknown lab {}", m.lab));
        assert!(
            lab.test(&m.test).is_some(),
            "{}: `{}` is not a test of {}",
            m.program,
            m.test,
            m.lab
        );
        let relative = format!("{}/{}", m.lab, m.program);
        let program: Vec<String> = if m.program.ends_with(".py") {
            if !require_tool("python3") {
                continue;
            }
            vec!["python3".into(), corpus(&relative).display().to_string()]
        } else {
            vec![corpus_rust(&relative).display().to_string()]
        };
        let program: Vec<&str> = program.iter().map(String::as_str).collect();
        let g = grade(&m.lab, &["--only", &m.test], &program);
        g.assert_failed_exactly(&[m.test.as_str()]);
        let feedback = g.feedback(&m.test);
        // The quoted parts must appear in this order; `…` stands for what varies.
        let mut from = 0;
        for part in m.says.split('…').map(str::trim).filter(|p| !p.is_empty()) {
            match feedback[from..].find(part) {
                Some(at) => from += at + part.len(),
                None => panic!(
                    "the handout says {} gets feedback with `{part}` (in `{}`), but it got:\n{feedback}",
                    m.program, m.says
                ),
            }
        }
    }
}

/// A fake workspace with one lab, for proving the checker both ways.
fn fake_workspace(handout: &str, stub: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("labs/lab9/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(dir.path().join("handouts")).unwrap();
    std::fs::write(src.join("lib.rs"), stub).unwrap();
    std::fs::write(dir.path().join("handouts/lab9.md"), handout).unwrap();
    dir
}

const STUB: &str = "\
// ANCHOR: greet
/// Says hello.
pub fn greet() -> String {
    // TODO: Step 1 — say hello.
    todo!(\"Step 1 of handouts/lab9.md: say hello\")
}
// ANCHOR_END: greet
";

const GREET: &str = "\
/// Says hello.
pub fn greet() -> String {
    // TODO: Step 1 — say hello.
    todo!(\"Step 1 of handouts/lab9.md: say hello\")
}
";

fn handout_with(block: &str) -> String {
    format!(
        "# Lab 9\n\n## Tasks\n\n1. **Greet**. Say hello.\n\n   \
         <!-- include: labs/lab9/src/lib.rs#greet -->\n   ```rust\n{block}   ```\n\n## Grading\n"
    )
}

fn indent3(code: &str) -> String {
    code.lines().map(|l| format!("   {l}\n")).collect()
}

#[test]
fn the_checker_accepts_a_faithful_handout() {
    let ws = fake_workspace(&handout_with(&indent3(GREET)), STUB);
    assert_eq!(describe(&handouts::check_all(ws.path())), "");
}

#[test]
fn the_checker_reports_a_drifted_block_and_fix_repairs_it() {
    let drifted = indent3(&GREET.replace("String", "&'static str"));
    let ws = fake_workspace(&handout_with(&drifted), STUB);
    let problems = handouts::check_all(ws.path());
    assert_eq!(problems.len(), 1, "{}", describe(&problems));
    assert!(
        problems[0]
            .message
            .contains("differs from `labs/lab9/src/lib.rs#greet`")
            && problems[0].message.contains("pub fn greet() -> String {"),
        "the message shows the exact block expected:\n{}",
        problems[0]
    );
    assert_eq!(problems[0].line, 7);

    let (changed, left) = handouts::fix_all(ws.path()).unwrap();
    assert_eq!(changed, vec![Path::new("handouts/lab9.md").to_path_buf()]);
    assert_eq!(describe(&left), "");
    let fixed = std::fs::read_to_string(ws.path().join("handouts/lab9.md")).unwrap();
    assert_eq!(fixed, handout_with(&indent3(GREET)));
}

#[test]
fn the_checker_rejects_solutions_and_missing_anchors() {
    let text = handout_with(&indent3(GREET))
        + "\n<!-- include: solutions/lab9/src/lib.rs#greet -->\n```rust\n```\n\
           \n<!-- include: labs/lab9/src/lib.rs#nope -->\n```rust\n```\n";
    let ws = fake_workspace(&text, STUB);
    let problems = describe(&handouts::check_all(ws.path()));
    assert!(problems.contains("stub code only"), "{problems}");
    assert!(
        problems.contains("has no line `// ANCHOR: nope`"),
        "{problems}"
    );
}

#[test]
fn the_checker_reports_todos_without_a_matching_step() {
    let stub = STUB.replace("Step 1 —", "Step 2 —") + "// TODO: tidy up\nfn f() { todo!() }\n";
    let ws = fake_workspace(&handout_with(&indent3(GREET)), &stub);
    let problems = handouts::check_steps(ws.path(), &ws.path().join("labs/lab9"));
    let text = describe(&problems);
    assert!(text.contains("TODO names Step 2"), "{text}");
    assert!(text.contains("a TODO must name its handout step"), "{text}");
    assert!(
        text.contains("a todo!() must say which step it is"),
        "{text}"
    );
    assert_eq!(problems.len(), 3, "{text}");
}
