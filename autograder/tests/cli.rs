//! The command line's contract: exit codes, formats, listings, hints.

use autograder::grade::report::gradescope::Results;

use crate::support::*;

#[test]
fn unknown_lab_is_a_usage_error_naming_the_labs() {
    let out = autograder().args(["list", "lab9"]).code(2);
    assert!(out.stderr().contains("the labs are: lab1"), "{out}");
}

#[test]
fn grade_without_a_program_is_a_usage_error() {
    let out = autograder().args(["grade", "lab1"]).code(2);
    assert!(out.stderr().contains("no program to grade"), "{out}");
}

#[test]
fn a_program_that_cannot_run_is_refused_before_any_test() {
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("server.py");
    std::fs::write(&not_executable, "print('hi')\n").unwrap();
    for (program, why) in [
        ("./no-such-server".to_string(), "No such file"),
        (dir.path().display().to_string(), "is a directory"),
        (not_executable.display().to_string(), "is not executable"),
    ] {
        // Could not grade (2), not a failed test (1): the student's program never ran.
        let out = autograder()
            .args(["grade", "lab1", "--only", "echo-short", "--"])
            .arg(&program)
            .code(2);
        assert!(out.stderr().contains(why), "{out}");
        assert!(out.output.stdout.is_empty(), "a test ran:\n{out}");
    }
    for args in [
        ["--host", "192.0.2.1"],
        ["--memory-limit", "0"],
        ["--startup-limit", "0"],
        ["--parallel", "0"],
    ] {
        let out = autograder()
            .args(["grade", "lab1"])
            .args(args)
            .args(["--", "true"])
            .code(2);
        assert!(out.stderr().contains(args[0]), "{out}");
    }
}

#[test]
fn a_program_that_exits_at_once_is_reported_with_its_status_and_output() {
    let out = autograder()
        .args([
            "grade",
            "lab1",
            "--only",
            "echo-short",
            "--",
            "sh",
            "-c",
            "echo 'cannot bind' >&2; exit 7",
            "{port}",
        ])
        .code(1);
    let stdout = out.stdout();
    assert!(
        stdout.contains("exited with status 7 before it listened"),
        "{out}"
    );
    assert!(stdout.contains("| cannot bind"), "{out}");
}

#[test]
fn text_report_ends_with_the_summary_line() {
    let exe = package_bin("lab1-solution");
    let out = autograder()
        .args(["grade", "lab1", "--only", "echo-short", "--"])
        .arg(&exe)
        .success();
    let stdout = out.stdout();
    assert_eq!(
        stdout.lines().last(),
        Some("lab1: 5/5 points (1 of 1 tests passed)"),
        "{out}"
    );
    assert!(stdout.contains("✓   5/5  echo-short"), "{out}");
}

#[test]
fn gradescope_json_follows_the_schema() {
    let g = grade_bin("lab1", &package_bin("lab1-solution"));
    // Read back through the types that wrote it: every field there, none extra.
    assert_eq!(g.results.tests.len(), 7);
    assert_eq!(g.score(), (50, 50));
    // And in Gradescope's own words, as plain JSON on purpose: the types cannot catch a
    // field of theirs that is misspelt in both directions at once.
    let json: serde_json::Value = serde_json::from_slice(&g.ran.output.stdout).unwrap();
    assert!(json["score"].is_number(), "{json:#}");
    assert_eq!(json["stdout_visibility"], "hidden");
    let tests = json["tests"].as_array().unwrap();
    for t in tests {
        for key in [
            "name",
            "score",
            "max_score",
            "status",
            "output",
            "visibility",
        ] {
            assert!(!t[key].is_null(), "test lacks `{key}`: {t}");
        }
        assert!(
            ["visible", "hidden", "after_due_date"].contains(&t["visibility"].as_str().unwrap())
        );
    }
    // The typed reading is the same document.
    let retyped: Results = serde_json::from_value(json).unwrap();
    assert_eq!(retyped, g.results);
}

#[test]
fn junit_output_is_well_formed_enough_for_ci() {
    let out = autograder()
        .args([
            "grade",
            "lab1",
            "--only",
            "echo-short",
            "--format",
            "junit",
            "--",
            "sh",
            "-c",
            "exit 1",
            "{port}",
        ])
        .code(1);
    let xml = out.stdout();
    assert!(xml.starts_with("<?xml"), "{out}");
    assert!(
        xml.contains("<testsuite name=\"lab1\" tests=\"1\" failures=\"1\""),
        "{out}"
    );
    assert!(xml.contains("<failure message="), "{out}");
}

#[test]
fn list_and_hint_describe_the_rubric() {
    let out = autograder().args(["list", "lab1"]).success();
    let text = out.stdout();
    assert!(
        text.contains("lab1 — iterative echo server (50 points)"),
        "{out}"
    );
    assert!(text.contains("reset-mid-stream"), "{out}");
    let out = autograder()
        .args(["hint", "lab1", "echo-fragments"])
        .success();
    let text = out.stdout();
    assert!(
        text.contains("1. One `read` returns whatever has arrived"),
        "{out}"
    );
    assert!(
        text.contains("3. "),
        "hints go from gentle to explicit:\n{out}"
    );
    autograder().args(["hint", "lab1", "nope"]).code(2);
}

#[test]
fn seeds_make_payloads_repeatable() {
    let exe = package_bin("lab1-solution");
    let out = autograder()
        .args([
            "grade",
            "lab1",
            "--only",
            "echo-short",
            "--seed",
            "1234",
            "--",
        ])
        .arg(&exe)
        .success();
    assert!(out.stdout().contains("seed 1234"), "{out}");
}

/// The same program and seed give the same report, apart from ports and timings, also
/// while the other core is busy: a crash's last words are always in it (the program's
/// output is drained after its teardown, before the report is built).
#[test]
fn the_same_failing_program_and_seed_give_the_same_report_under_load() {
    // A program that fails in several ways: the untouched lab 1 stub panics at Step 1.
    let stub = package_bin("lab1");
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let spinner = {
        let busy = busy.clone();
        std::thread::spawn(move || {
            while busy.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    let mask = |text: &str| -> String {
        // Ports are drawn fresh on every run by design; timings vary. Both are masked.
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
            let (head, tail) = rest.split_at(i);
            let digits = tail
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(tail.len());
            let number = &tail[..digits];
            let keep = head.ends_with("seed ")
                || head.ends_with("--seed ")
                || head.ends_with("Step ")
                || head.ends_with("status ")
                || head.ends_with(':')
                || head.ends_with('/');
            out.push_str(head);
            out.push_str(if keep { number } else { "#" });
            rest = &tail[digits..];
        }
        out.push_str(rest);
        out
    };
    let mut first: Option<String> = None;
    for run in 0..20 {
        let out = autograder()
            .args([
                "grade",
                "lab1",
                "--seed",
                "99",
                "--only",
                "echo-short,half-close-flush,reset-mid-stream",
            ])
            .arg("--")
            .arg(&stub)
            .code(1);
        let report = mask(&out.stdout());
        assert!(
            report.contains("not yet implemented: Step 1"),
            "run {run}:\n{report}"
        );
        match &first {
            None => first = Some(report),
            Some(first) => assert_eq!(&report, first, "run {run} differs"),
        }
    }
    busy.store(false, std::sync::atomic::Ordering::Relaxed);
    spinner.join().unwrap();
}

/// Ports are not derived from the seed: graders sharing a seed (every student of a batch
/// gets the same one) and a network must not pick the same ports in lockstep.
#[test]
fn runs_with_the_same_seed_pick_their_own_ports() {
    let ports = || {
        let out = autograder()
            .args(["grade", "lab1", "--seed", "42", "--parallel", "1"])
            .args(["--only", "echo-short,echo-fragments,half-close-flush"])
            .args(["--", "sh", "-c", "exit 3", "{port}"])
            .code(1);
        let ports: Vec<String> = out
            .stdout()
            .lines()
            .filter_map(|l| l.split("before it listened on port ").nth(1))
            .map(str::to_owned)
            .collect();
        assert_eq!(ports.len(), 3, "{out}");
        ports
    };
    assert_ne!(ports(), ports());
}

/// `autograder list lab5 | head -1`: the reader leaves early. The grader must not panic
/// ("failed printing to stdout") but finish as usual.
#[test]
fn a_reader_that_leaves_early_does_not_crash_the_grader() {
    let mut list = autograder();
    list.args(["list", "lab5"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = list.spawn().expect("autograder starts");
    drop(child.stdout.take()); // the reader is gone before the first line is written
    let out = Ran::of(&list, child.wait_with_output().expect("autograder ends")).expect_success();
    assert!(!out.stderr().contains("panicked"), "{out}");
}
