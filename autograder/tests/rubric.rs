//! Rubric overrides (`--rubric rubric.toml`): the file changes the scores, the visibility
//! in results.json, JUnit and grades.csv, which tests run, and what the exports carry; a
//! mistake in it is refused (exit 2) before anything runs, with what is valid.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use autograder::grade::rubric::Visibility;

use crate::support::*;

/// lab1 is 50 points: echo-short 5, echo-large-binary 10, echo-fragments 10,
/// half-close-flush 10, sequential-clients 5, connect-and-leave 5, reset-mid-stream 5.
/// This file makes echo-short 20 and hidden, echo-fragments after the due date, leaves
/// echo-large-binary out, and scales the remaining 55 points to 100: echo-short 37,
/// echo-fragments 18, half-close-flush 18, the three 5-point tests 9 each.
const RUBRIC: &str = "\
[lab1]
total = 100

[lab1.tests.echo-short]
points = 20
visibility = \"hidden\"

[lab1.tests.echo-fragments]
visibility = \"after_due_date\"

[lab1.tests.echo-large-binary]
enabled = false
";

fn rubric_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("rubric.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn overrides_change_scores_visibility_and_which_tests_run() {
    let tmp = tempfile::tempdir().unwrap();
    let rubric = rubric_file(tmp.path(), RUBRIC);
    let rubric = rubric.to_str().unwrap();

    let plain = grade("lab1", &["--solution"], &[]);
    plain.assert_status(0);
    assert_eq!(plain.score(), (50, 50));
    assert!(plain.results.test("echo-large-binary").is_some());
    assert!(plain
        .results
        .tests
        .iter()
        .all(|t| t.visibility == Visibility::Visible));

    let graded = grade("lab1", &["--solution", "--rubric", rubric], &[]);
    graded.assert_status(0);
    assert_eq!(graded.score(), (100, 100), "{}", graded.describe());
    // Disabled: not run, so not reported.
    assert!(graded.results.test("echo-large-binary").is_none());
    assert_eq!(graded.results.tests.len(), 6);
    let short = graded.results.test("echo-short").unwrap();
    assert_eq!((short.score, short.max_score), (37, 37));
    assert_eq!(short.visibility, Visibility::Hidden);
    let fragments = graded.results.test("echo-fragments").unwrap();
    assert_eq!(fragments.max_score, 18);
    assert_eq!(fragments.visibility, Visibility::AfterDueDate);
    assert_eq!(
        graded.results.test("half-close-flush").unwrap().visibility,
        Visibility::Visible
    );

    // A failing program earns nothing of the scaled points; JUnit shows them too.
    let stub = package_bin("lab1");
    let failed = grade(
        "lab1",
        &["--rubric", rubric, "--only", "echo-short"],
        &[stub.to_str().unwrap()],
    );
    failed.assert_status(1);
    assert_eq!(failed.score(), (0, 37));
    let junit = autograder()
        .args(["grade", "lab1", "--solution", "--format", "junit"])
        .args(["--only", "echo-short,echo-fragments", "--rubric", rubric])
        .success()
        .stdout();
    assert!(junit.contains("(37 points)"), "{junit}");
    assert!(junit.contains("(18 points)"), "{junit}");
    assert!(!junit.contains("(5 points)"), "{junit}");
}

#[test]
fn list_shows_the_effective_rubric() {
    let tmp = tempfile::tempdir().unwrap();
    let rubric = rubric_file(tmp.path(), RUBRIC);
    let plain = autograder().args(["list", "lab1"]).success().stdout();
    assert!(plain.contains("(50 points)") && plain.contains("echo-large-binary"));
    let listed = autograder()
        .args(["list", "lab1", "--rubric"])
        .arg(&rubric)
        .success()
        .stdout();
    assert!(listed.contains("(100 points)"), "{listed}");
    let line = |id: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in\n{listed}"))
            .to_string()
    };
    assert!(
        line("echo-short").contains("37 pts  [echo, hidden]"),
        "{listed}"
    );
    assert!(
        line("echo-fragments").contains("after due date"),
        "{listed}"
    );
    assert!(
        listed.contains("disabled (not run): echo-large-binary"),
        "{listed}"
    );
    assert!(!listed.lines().any(|l| l.starts_with("echo-large-binary")));
}

#[test]
fn a_mistaken_rubric_is_refused_before_anything_runs_and_lists_what_is_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    // A "program" that leaves a mark if it is ever started.
    let program = [
        "sh",
        "-c",
        &format!("touch '{}'; exec sleep 5", marker.display()),
    ];
    let cases: [(&str, &[&str]); 6] = [
        (
            "[lab1.tests.echo-shrt]\npoints = 1\n",
            &["echo-shrt", "echo-short, echo-large-binary, echo-fragments"],
        ),
        (
            "[lab1.tests.echo-short]\npionts = 1\n",
            &["pionts", "`points`, `visibility`, `enabled`"],
        ),
        ("[lab1.tests.echo-short]\npoints = -2\n", &["negative"]),
        ("[lab1]\ntotal = 0\n", &["total = 0"]),
        (
            "[lab1.tests.echo-short]\nvisibility = \"secret\"\n",
            &["`visible`, `hidden`, `after_due_date`"],
        ),
        (
            "[lab7]\ntotal = 10\n",
            &["lab7", "lab1, lab2, lab3, lab4, lab5"],
        ),
    ];
    for (text, says) in cases {
        let rubric = rubric_file(tmp.path(), text);
        for command in [
            vec!["grade", "lab1", "--only", "echo-short"],
            vec!["check", "lab1"],
            vec!["list", "lab1"],
        ] {
            let mut cmd = autograder();
            cmd.args(&command).arg("--rubric").arg(&rubric);
            if command[0] == "grade" {
                cmd.arg("--").args(program);
            }
            let ran = cmd.code(2);
            for said in says {
                assert!(ran.stderr().contains(said), "{text}: no `{said}`\n{ran}");
            }
        }
        assert!(!marker.exists(), "{text}: the program was started");
    }
    // The same program with a good rubric does run (the marker above means something).
    let rubric = rubric_file(tmp.path(), "[lab1.tests.echo-short]\npoints = 1\n");
    autograder()
        .args([
            "grade",
            "lab1",
            "--only",
            "echo-short",
            "--startup-limit",
            "1",
        ])
        .arg("--rubric")
        .arg(&rubric)
        .arg("--")
        .args(program)
        .code(1);
    assert!(marker.exists());
}

#[test]
fn a_batch_follows_the_rubric_in_grades_results_and_junit() {
    let tmp = tempfile::tempdir().unwrap();
    let rubric = rubric_file(tmp.path(), RUBRIC);
    let class = tmp.path().join("class");
    for (student, package) in [("good", "lab1-solution"), ("stub", "lab1")] {
        let dir = class.join(student);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(package_bin(package), dir.join("server")).unwrap();
        let run = dir.join("run");
        std::fs::write(&run, "#!/bin/sh\nexec \"${0%/*}/server\" \"$@\"\n").unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A batch succeeds once every submission has its grade, whatever the grades.
    let batch = |out: &Path, extra: &[&Path]| {
        let mut cmd = autograder();
        cmd.args(["batch", "lab1"])
            .arg(&class)
            .arg("--out")
            .arg(out)
            .args(["--only", "echo-short,echo-fragments", "--offline"])
            .args(["--unsandboxed", "--startup-limit", "5"]);
        for arg in extra {
            cmd.arg(arg);
        }
        cmd.success();
        std::fs::read_to_string(out.join("grades.csv")).unwrap()
    };
    let plain = batch(&tmp.path().join("plain"), &[]);
    assert_eq!(
        plain,
        "student,score,max_score,echo-short,echo-fragments\ngood,15,15,5,10\nstub,0,15,0,0\n"
    );
    let out = tmp.path().join("out");
    let csv = batch(&out, &[Path::new("--rubric"), &rubric]);
    assert_eq!(
        csv,
        "student,score,max_score,echo-short,echo-fragments\ngood,55,55,37,18\nstub,0,55,0,0\n"
    );
    let results: autograder::grade::report::gradescope::Results =
        serde_json::from_slice(&std::fs::read(out.join("good/results.json")).unwrap()).unwrap();
    assert_eq!(results.score, 55);
    let short = results.test("echo-short").unwrap();
    assert_eq!(
        (short.max_score, short.visibility),
        (37, Visibility::Hidden)
    );
    assert_eq!(
        results.test("echo-fragments").unwrap().visibility,
        Visibility::AfterDueDate
    );
    let junit = std::fs::read_to_string(out.join("good/junit.xml")).unwrap();
    assert!(junit.contains("(37 points)"), "{junit}");

    // A mistaken file stops the batch before anything is built or written.
    let bad = rubric_file(tmp.path(), "[lab1.tests.nope]\nenabled = false\n");
    let refused_out = tmp.path().join("refused");
    let refused = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&refused_out)
        .arg("--rubric")
        .arg(&bad)
        .code(2);
    assert!(refused.stderr().contains("echo-short"), "{refused}");
    assert!(!refused_out.join("grades.csv").exists());
}

#[test]
fn the_exports_carry_the_rubric() {
    let tmp = tempfile::tempdir().unwrap();
    let rubric = rubric_file(tmp.path(), RUBRIC);

    // The bundle's entries are stored, not compressed: their text is in the zip as is.
    let zip = |extra: &[&Path]| {
        let out = tmp.path().join("bundle.zip");
        let mut cmd = autograder();
        cmd.args(["export", "gradescope", "lab1", "--out"])
            .arg(&out);
        for arg in extra {
            cmd.arg(arg);
        }
        cmd.success();
        String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned()
    };
    // (The bundled sources mention the option, always with escaped quotes.)
    let plain = zip(&[]);
    assert!(!plain.contains("--rubric \"$ROOT/source/rubric.toml\""));
    let bundled = zip(&[Path::new("--rubric"), &rubric]);
    assert!(bundled.contains(RUBRIC), "the bundle holds the file");
    assert!(bundled.contains("--rubric \"$ROOT/source/rubric.toml\""));

    // The student copy: visible tests with their final points, the others left out.
    let copy = tmp.path().join("student");
    autograder()
        .args(["export", "student", "--out"])
        .arg(&copy)
        .arg("--rubric")
        .arg(&rubric)
        .success();
    let students = std::fs::read_to_string(copy.join("rubric.toml")).unwrap();
    assert!(
        students.contains("[lab1.tests.half-close-flush]\npoints = 18\n"),
        "{students}"
    );
    for left_out in ["echo-short", "echo-fragments", "echo-large-binary"] {
        assert!(
            students.contains(&format!("[lab1.tests.{left_out}]\nenabled = false\n")),
            "{students}"
        );
    }
    assert!(!students.contains("[lab2"), "{students}");
    let workflow = std::fs::read_to_string(copy.join(".github/workflows/classroom.yml")).unwrap();
    assert!(
        workflow.contains("check lab1 --only half-close-flush --format junit --rubric rubric.toml"),
        "{workflow}"
    );
    assert!(
        !workflow.contains("check lab1 --only echo-short "),
        "{workflow}"
    );
    assert!(workflow.contains("max-score: 18"), "{workflow}");
    let listed = autograder()
        .args(["list", "lab1", "--rubric"])
        .arg(copy.join("rubric.toml"))
        .success()
        .stdout();
    // half-close-flush 18 and three tests of 9: the hidden ones are not counted.
    assert!(listed.contains("(45 points)"), "{listed}");

    let bare = tmp.path().join("bare");
    autograder()
        .args(["export", "student", "--out"])
        .arg(&bare)
        .success();
    assert!(!bare.join("rubric.toml").exists());
    let workflow = std::fs::read_to_string(bare.join(".github/workflows/classroom.yml")).unwrap();
    assert!(workflow.contains("check lab1 --only echo-short --format junit\n"));
}
