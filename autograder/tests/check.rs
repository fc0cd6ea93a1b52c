//! `autograder check`, read as a confused student would: the untouched stub's panic is
//! explained once and names the step to do; hints get more explicit when a test keeps
//! failing; the score is always the last line.

use autograder::cmd::check::{grade_and_explain, HintStreaks};
use autograder::grade::runner::Options;
use autograder::os::harness::Program;

use crate::support::*;

#[test]
fn check_on_the_untouched_stub_names_step_1_once_and_ends_with_the_score() {
    // Builds labs/lab1 of this workspace (the stub), like a student's first `check`.
    let out = autograder().args(["check", "lab1"]).code(1);
    let stdout = out.stdout();
    assert_eq!(
        stdout.matches("panicked at").count(),
        1,
        "the same panic should be shown once, not once per test:\n{out}"
    );
    assert_eq!(
        stdout
            .matches("the same unfinished step as `echo-short` above")
            .count()
            + stdout
                .matches("the same failure as `echo-short` above")
                .count(),
        6,
        "{out}"
    );
    assert!(
        stdout.contains("\nNext: Step 1 of handouts/lab1.md"),
        "the report should say which step to do next:\n{out}"
    );
    assert!(stdout.contains("labs/lab1/src/server.rs:"), "{out}");
    assert_eq!(
        stdout.lines().last(),
        Some("lab1: 0/50 points (0 of 7 tests passed)"),
        "{out}"
    );
}

#[test]
fn an_unfinished_client_step_is_named_and_uses_no_hint() {
    // Lab 4's stub: the server steps come first, but `--only client` reaches the client's
    // own `todo!()`, whose panic the probe quotes from the client's output.
    let out = autograder()
        .args(["check", "lab4", "--only", "client-get"])
        .code(1);
    let stdout = out.stdout();
    assert!(
        stdout.contains("\nNext: Step 13 of handouts/lab4.md"),
        "{out}"
    );
    assert!(stdout.contains("not done yet: Step 13"), "{out}");
    assert!(
        !stdout.contains("hint 1 of"),
        "an unfinished step uses no hint:\n{out}"
    );
}

fn explain(root: &std::path::Path, program: &std::path::Path, only: &str) -> String {
    explain_argv(root, "lab1", &[program.display().to_string()], only)
}

fn explain_argv(root: &std::path::Path, lab: &str, argv: &[String], only: &str) -> String {
    let lab = autograder::grade::labs::find(lab).unwrap();
    let options = Options {
        only: Some(only.into()),
        seed: 7,
        host: "127.0.0.1".into(),
        parallel: 1,
        limits: Default::default(),
        capture: None,
    };
    let mut out = Vec::new();
    grade_and_explain(
        lab,
        &Program::new(argv.to_vec()),
        root,
        &options,
        &[],
        &mut out,
    );
    String::from_utf8(out).unwrap()
}

/// The student edits their code: a hint escalates only when the same failure comes back
/// after a change.
fn edit(root: &std::path::Path, version: usize) {
    let src = root.join("labs/lab1/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("echo.rs"), format!("// attempt {version}\n")).unwrap();
}

#[test]
fn hints_get_more_explicit_while_a_test_keeps_failing_after_edits_and_reset_on_a_pass() {
    let root = tempfile::tempdir().unwrap();
    let one_read = corpus_rust("lab1/one_read.rs");
    let lab = autograder::grade::labs::find("lab1").unwrap();
    // One read, then close: the echo is cut short, and lab 1 explains that symptom.
    let hints = lab
        .hints_for(autograder::grade::probe::Symptom::ClosedEarly)
        .unwrap();
    assert_eq!(hints.len(), 3);

    for (k, hint) in hints.iter().enumerate() {
        edit(root.path(), k);
        let report = explain(root.path(), &one_read, "echo-fragments");
        let line = format!("hint {} of 3 (closed early): {hint}", k + 1);
        assert!(
            report.contains(&line),
            "run {}: want `{line}`:\n{report}",
            k + 1
        );
        assert!(
            report.contains("\nNext: make `echo-fragments` pass"),
            "{report}"
        );
        assert_eq!(
            report.lines().last(),
            Some("lab1: 0/10 points (0 of 1 tests passed)")
        );
        // Checking again without an edit (or a save that changed nothing) shows the
        // same hint: only a change that did not help earns a more explicit one.
        let again = explain(root.path(), &one_read, "echo-fragments");
        assert!(
            again.contains(&line),
            "re-run {}: want `{line}`:\n{again}",
            k + 1
        );
    }
    // Stuck for longer than there are hints: the last, most explicit one stays.
    edit(root.path(), 3);
    let report = explain(root.path(), &one_read, "echo-fragments");
    assert!(report.contains("hint 3 of 3"), "{report}");

    let streaks = HintStreaks::load(root.path());
    assert_eq!(streaks.get("lab1", "echo-fragments"), 4);
    assert_eq!(streaks.failing(lab), vec!["echo-fragments"]);

    // Another mistake is a new problem: it starts from the gentlest hint.
    edit(root.path(), 4);
    let report = explain(
        root.path(),
        &corpus_rust("lab1/never_closes.rs"),
        "echo-fragments",
    );
    assert!(report.contains("hint 1 of 2 (never closed)"), "{report}");

    // A pass resets the streak: the next failure starts again from the gentlest hint.
    let solution = package_bin("lab1-solution");
    let report = explain(root.path(), &solution, "echo-fragments");
    assert!(report.contains("\nEvery test passes."), "{report}");
    assert_eq!(
        HintStreaks::load(root.path()).get("lab1", "echo-fragments"),
        0
    );
    let report = explain(root.path(), &one_read, "echo-fragments");
    assert!(report.contains("hint 1 of 3"), "{report}");
}

#[test]
fn hint_without_a_test_shows_the_tests_that_failed_last_time() {
    let root = tempfile::tempdir().unwrap();
    explain(
        root.path(),
        &corpus_rust("lab1/one_client.rs"),
        "sequential-clients",
    );
    let out = autograder()
        .args(["hint", "lab1"])
        .env("NETLABS_ROOT", root.path())
        .success();
    let text = out.stdout();
    assert!(text.contains("failed when you last checked"), "{out}");
    assert!(text.contains("sequential-clients —"), "{out}");
    assert!(!text.contains("echo-short —"), "{out}");

    let out = autograder()
        .args(["hint", "lab1", "--all"])
        .env("NETLABS_ROOT", root.path())
        .success();
    let text = out.stdout();
    assert!(
        text.contains("echo-short —") && text.contains("reset-mid-stream —"),
        "{out}"
    );
}

/// The symptom labels on the hint lines of a report (`hint 1 of 2 (closed early): …`).
fn symptoms_in(report: &str) -> std::collections::BTreeSet<String> {
    report
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("hint "))
        .filter_map(|l| l.split_once(" (").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once("):").map(|(label, _)| label.to_string()))
        .collect()
}

/// One mistake, one explanation: every test a mistake breaks shows the hint for the same
/// symptom, not each test's own guesses about the cause.
#[test]
fn the_same_mistake_gets_the_same_diagnosis_in_every_test_it_breaks() {
    let cases = [
        ("lab1/one_read.rs", "closed early"),
        ("lab1/drops_tail.rs", "stopped at a line end"),
        ("lab1/bytes_as_text.rs", "bytes converted to text"),
        ("lab1/ignores_partial_write.rs", "bytes skipped"),
        ("lab1/one_client.rs", "exited"),
        ("lab1/panics_on_reset.rs", "crashed"),
        ("lab1/never_closes.rs", "never closed"),
    ]
    .map(|(program, symptom)| (corpus_rust(program), program, symptom));
    // Each program graded on its own thread: seven full runs one after another take a minute.
    std::thread::scope(|scope| {
        for (exe, program, symptom) in &cases {
            scope.spawn(move || {
                let root = tempfile::tempdir().unwrap();
                let report = explain(root.path(), exe, "echo");
                assert_eq!(
                    symptoms_in(&report),
                    std::collections::BTreeSet::from([symptom.to_string()]),
                    "{program}:\n{report}"
                );
            });
        }
    });
}

/// Lab 5 explains a crash as a crash in every test it breaks: a connection's thread that
/// dies on a timeout fails both timeout tests, with the same explanation.
#[test]
fn a_crashing_http_server_gets_one_diagnosis_in_both_tests_it_breaks() {
    let root = tempfile::tempdir().unwrap();
    let server = corpus("lab5/server.py");
    let argv = [
        "python3".to_string(),
        server.display().to_string(),
        "--mistake".to_string(),
        "crash-on-timeout".to_string(),
    ];
    let report = explain_argv(root.path(), "lab5", &argv, "idle-timeout,slow-headers");
    assert_eq!(
        symptoms_in(&report),
        std::collections::BTreeSet::from(["crashed".to_string()]),
        "{report}"
    );
}
