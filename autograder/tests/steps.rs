//! The student's path, walked: a copy of the workspace whose stub is completed from the
//! reference one file at a time, in the handout's order, checked with `autograder check`
//! after each file as a student would. The step checks must rise with every file and the
//! score must never fall, ending at full marks; and the stubs' step checks mirror the
//! references' (the same file, but `#[ignore]`d in the stub).

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// What `check` reported: step checks passed, and the score.
fn check(copy: &Path, lab: &str) -> (usize, u64, String) {
    let out = autograder()
        .args(["check", lab, "--seed", GOLDEN_SEED])
        .current_dir(copy)
        .env("NETLABS_ROOT", copy)
        .env("CARGO_TARGET_DIR", workspace().join("target/step-by-step"))
        .run();
    let stdout = out.stdout();
    let passed: usize = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(['✓', '✗']) && l.contains(" Step "))
        .filter_map(|l| {
            let counts = l.split_whitespace().find(|w| w.contains('/'))?;
            counts.split('/').next()?.parse::<usize>().ok()
        })
        .sum();
    let score = stdout
        .lines()
        .last()
        .and_then(|l| l.split_once(": "))
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score line:\n{out}"));
    (passed, score, stdout)
}

/// A student's copy of the workspace: the manifest, the lock file, the lab stubs and the
/// grader's sources (it is a workspace member), without solutions.
fn student_workspace(root: &Path) {
    for part in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(workspace().join(part), root.join(part)).unwrap();
    }
    copy_dir(&workspace().join("labs"), &root.join("labs"));
    copy_dir(&workspace().join("handouts"), &root.join("handouts"));
    for dir in ["autograder/src", "autograder/export"] {
        copy_dir(&workspace().join(dir), &root.join(dir));
    }
    let manifest = std::fs::read_to_string(workspace().join("autograder/Cargo.toml")).unwrap();
    let manifest = manifest.split("[[test]]").next().unwrap().to_string();
    std::fs::write(root.join("autograder/Cargo.toml"), manifest).unwrap();
}

/// Completes `lab`'s stub from the reference one file at a time (`files`, relative to
/// `src/`, in the handout's order), checking after each: the step checks must rise with
/// every file, the score never fall, and end at `full`.
fn walk(lab: &str, files: &[&str], full: u64) {
    let groups: Vec<&[&str]> = files.iter().map(std::slice::from_ref).collect();
    walk_groups(lab, &groups, full);
}

/// [`walk`], for a reference whose files cannot all be copied alone: each group of files
/// is copied together (a reference file that uses another one's additions goes with it),
/// then checked.
fn walk_groups(lab: &str, groups: &[&[&str]], full: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path();
    student_workspace(copy);
    add_the_references_dependencies(copy, lab);
    let (mut passed, mut score, first) = check(copy, lab);
    assert_eq!((passed, score), (0, 0), "{first}");
    // What the student reads at each point of the path is the product: locked by golden
    // files, `check/LAB-0` for the untouched stub and one more per group of files.
    let golden = |k: usize, report: &str| {
        let report = report.replace(&copy.display().to_string(), "STUDENT_COPY");
        assert_golden(&format!("check/{lab}-{k}"), &golden_form(&report));
    };
    golden(0, &first);
    for (k, files) in groups.iter().enumerate() {
        for file in *files {
            std::fs::copy(
                workspace()
                    .join("solutions")
                    .join(lab)
                    .join("src")
                    .join(file),
                copy.join("labs").join(lab).join("src").join(file),
            )
            .unwrap();
        }
        let (now_passed, now_score, report) = check(copy, lab);
        eprintln!("{lab}: after {files:?}, {now_passed} step checks pass, score {now_score}");
        assert!(
            now_passed > passed,
            "after {files:?}, the step checks should rise above {passed}:\n{report}"
        );
        assert!(
            now_score >= score,
            "after {files:?}, the score fell:\n{report}"
        );
        // What comes next follows the handout: the first step whose checks fail.
        let first_failing = report
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("✗ Step "))
            .and_then(|rest| rest.split_whitespace().next());
        if let Some(step) = first_failing {
            assert!(
                report.contains(&format!("\nNext: Step {step} of handouts/{lab}.md")),
                "after {files:?}, `Next:` should name Step {step}:\n{report}"
            );
        }
        golden(k + 1, &report);
        (passed, score) = (now_passed, now_score);
    }
    assert_eq!(score, full, "the completed stub should get full marks");
}

/// A reference may use a crate its stub does not list (lab 4's `data::send_file` calls
/// sendfile(2) through libc): the copy's manifest gets those `[dependencies]` lines, as a
/// student who wrote that code would add them. The stub itself stays as it is.
fn add_the_references_dependencies(copy: &Path, lab: &str) {
    fn dependencies(manifest: &str) -> Vec<(&str, &str)> {
        manifest
            .split("\n[")
            .filter(|section| section.starts_with("dependencies]"))
            .flat_map(|section| section.lines().skip(1))
            .filter_map(|line| Some((line.split_once('=')?.0.trim(), line)))
            .collect()
    }
    let reference =
        std::fs::read_to_string(workspace().join("solutions").join(lab).join("Cargo.toml"))
            .unwrap();
    let path = copy.join("labs").join(lab).join("Cargo.toml");
    let stub = std::fs::read_to_string(&path).unwrap();
    let listed: Vec<&str> = dependencies(&stub).iter().map(|(name, _)| *name).collect();
    let missing: String = dependencies(&reference)
        .into_iter()
        .filter(|(name, _)| !listed.contains(name))
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    let completed = stub.replacen("[dependencies]\n", &format!("[dependencies]\n{missing}"), 1);
    std::fs::write(path, completed).unwrap();
}

#[test]
fn completing_lab1_file_by_file_raises_the_step_checks_and_then_the_score() {
    // Steps 1-2 are in server.rs, Steps 3-4 in echo.rs.
    walk("lab1", &["server.rs", "echo.rs"], 50);
}

#[test]
fn the_stubs_step_checks_are_the_references_with_ignores() {
    for lab in autograder::grade::labs::names() {
        let stub = workspace().join("labs").join(lab).join("tests/steps.rs");
        let reference = workspace()
            .join("solutions")
            .join(lab)
            .join("tests/steps.rs");
        let Ok(stub_text) = std::fs::read_to_string(&stub) else {
            continue; // this lab has no step checks yet
        };
        let reference_text = std::fs::read_to_string(&reference)
            .unwrap_or_else(|e| panic!("{}: {e} (the stub has step checks)", reference.display()));
        let without_ignores: String = stub_text
            .lines()
            .filter(|l| !l.trim_start().starts_with("#[ignore = \"step check"))
            .map(|l| format!("{l}\n"))
            .collect();
        let as_reference =
            without_ignores.replace(&format!("use {lab}::"), &format!("use {lab}_solution::"));
        assert!(
            as_reference == reference_text,
            "{} must be {} with its `#[ignore = \"step check…\"]` lines removed and `use {lab}::` \
             for `use {lab}_solution::`",
            reference.display(),
            stub.display()
        );
        let ignored = stub_text.matches("#[ignore = \"step check").count();
        // Async checks (lab 4's) are `#[tokio::test]`s.
        let tests = stub_text
            .lines()
            .map(str::trim_start)
            .filter(|l| *l == "#[test]" || l.starts_with("#[tokio::test"))
            .count();
        assert_eq!(
            ignored,
            tests,
            "{}: every step check is ignored in the stub",
            stub.display()
        );
    }
}

/// `cargo test -p labN` on an untouched stub passes: its step checks are ignored, not failed.
#[test]
fn an_untouched_stubs_own_tests_pass() {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--quiet", "-p", "lab1", "--test", "steps"])
        .current_dir(workspace())
        .success();
    let stdout = out.stdout();
    assert!(
        stdout.contains(" 0 failed;") && !stdout.contains(" 0 ignored;"),
        "{out}"
    );
}

#[test]
fn completing_lab5_file_by_file_raises_the_step_checks_and_then_the_score() {
    // Steps 1-2 are in server.rs, 3-5 in request.rs, 6-8 in files.rs, 9-10 in handler.rs
    // and 11-12 in connection.rs; each reference file compiles on its own against the rest
    // of the stub. The score stays 0 until connection.rs: every request goes through it.
    walk(
        "lab5",
        &[
            "server.rs",
            "request.rs",
            "files.rs",
            "handler.rs",
            "connection.rs",
        ],
        185,
    );
}

#[test]
fn completing_lab2_file_by_file_raises_the_step_checks_and_then_the_score() {
    // Steps 1-3 are in server.rs, Steps 4-5 in echo.rs: the server's 100 points. Steps
    // 6-9, the threaded client, are in client.rs: the `client` group's 35.
    walk("lab2", &["server.rs", "echo.rs", "client.rs"], 135);
}

#[test]
fn completing_lab3_file_by_file_raises_the_step_checks_and_then_the_score() {
    // Steps 1-3 and 8 are in server.rs, Steps 4-7 in connection.rs.
    walk("lab3", &["server.rs", "connection.rs"], 160);
}

#[test]
fn completing_lab4_file_by_file_raises_the_step_checks_and_then_the_score() {
    // Step 1 is in command.rs and reply.rs, Step 2 in server.rs; Steps 3-4 and 7 (and
    // RETR and STOR of Steps 8-9) in session.rs, which goes with data.rs (Steps 8-9): the
    // reference's session.rs uses `data::send_file` and `data::FILE_BUF_SIZE`, which the
    // stub's data.rs does not have. Steps 5-6 are in jail.rs (the session's listing, RETR
    // and STOR checks pass from here), Steps 10-13 in client.rs (which uses the
    // reference's data.rs too).
    walk_groups(
        "lab4",
        &[
            &["command.rs", "reply.rs"],
            &["server.rs"],
            &["session.rs", "data.rs"],
            &["jail.rs"],
            &["client.rs"],
        ],
        135,
    );
}
