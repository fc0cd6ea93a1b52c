//! `autograder export`: the Gradescope bundle grades a correct submission with full marks
//! in a temporary layout, and the student copy has no solutions and builds offline.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use autograder::grade::report::gradescope::Results;

use crate::support::*;

#[test]
fn the_gradescope_bundle_grades_each_old_dated_submission_from_its_own_code() {
    if !require_tool("unzip") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("lab1.zip");
    // With a rubric file, which run_autograder must pass on: one test left out and the
    // rest scaled to 100 (without it: 7 tests, 50 points).
    let rubric = tmp.path().join("rubric.toml");
    std::fs::write(
        &rubric,
        "[lab1]\ntotal = 100\n[lab1.tests.echo-large-binary]\nenabled = false\n",
    )
    .unwrap();
    autograder()
        .args(["export", "gradescope", "lab1", "--out"])
        .arg(&zip)
        .arg("--rubric")
        .arg(&rubric)
        .success();

    // Gradescope's layout, under a temporary root: source/ (the unzipped bundle),
    // submission/, results/, and bin/autograder (what setup.sh installs).
    let root = tmp.path().join("autograder");
    let source = root.join("source");
    std::fs::create_dir_all(&source).unwrap();
    Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&source)
        .success();
    for script in ["setup.sh", "run_autograder"] {
        let mode = std::fs::metadata(source.join(script))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{script} must be executable");
    }
    assert!(source.join("netlabs/autograder/src/main.rs").is_file());
    assert!(source.join("netlabs/labs/lab1/src/main.rs").is_file());
    assert!(
        !source.join("netlabs/solutions").exists(),
        "no solutions in the bundle"
    );

    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_autograder"),
        root.join("bin/autograder"),
    )
    .unwrap();
    // What setup.sh does after installing the grader: compile the dependencies once.
    Command::new(root.join("bin/autograder"))
        .args(["batch", "lab1", "--prepare", "--offline", "--deps-cache"])
        .arg(root.join("deps"))
        .success();
    // A solved copy and an untouched stub, both downloaded days before grading: each is
    // built from its own files (a warm target directory once stood in for both).
    for (package, score) in [("solutions/lab1", 100), ("labs/lab1", 0)] {
        let submission = root.join("submission");
        let _ = std::fs::remove_dir_all(&submission);
        copy_dir(&workspace().join(package), &submission);
        let manifest = std::fs::read_to_string(submission.join("Cargo.toml")).unwrap();
        std::fs::write(
            submission.join("Cargo.toml"),
            manifest.replace("\"lab1-solution\"", "\"lab1\""),
        )
        .unwrap();
        std::fs::copy(
            workspace().join("Cargo.lock"),
            submission.join("Cargo.lock"),
        )
        .unwrap();
        let three_days_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86400);
        for file in [
            "src/main.rs",
            "src/lib.rs",
            "src/server.rs",
            "src/echo.rs",
            "Cargo.toml",
        ] {
            if let Ok(f) = std::fs::File::options()
                .write(true)
                .open(submission.join(file))
            {
                f.set_modified(three_days_ago).unwrap();
            }
        }
        let run = Command::new(source.join("run_autograder"))
            .env("AUTOGRADER_ROOT", &root)
            .success();
        let results: Results =
            serde_json::from_slice(&std::fs::read(root.join("results/results.json")).unwrap())
                .unwrap();
        assert_eq!(results.score, score, "{package}: {results:#?}\n{run}");
        assert_eq!(results.max_score(), 100, "{results:#?}");
        assert_eq!(results.tests.len(), 6, "{results:#?}");
        assert!(results.test("echo-large-binary").is_none());
    }
}

#[test]
fn the_student_copy_has_no_solutions_and_builds_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("netlabs-student");
    autograder()
        .args(["export", "student", "--out"])
        .arg(&copy)
        .success();
    assert!(!copy.join("solutions").exists());
    assert!(!copy.join("target").exists());
    assert!(copy.join("labs/lab1/src/main.rs").is_file());
    assert!(copy.join("handouts/lab1.md").is_file());
    let workflow = std::fs::read_to_string(copy.join(".github/workflows/classroom.yml")).unwrap();
    assert!(
        workflow.contains("check lab1 --only echo-short"),
        "{workflow}"
    );

    // Nothing for instructors only: the grader's own tests (its corpus holds complete,
    // correct servers), CI, the instructors' README.
    assert!(!copy.join("autograder/tests").exists());
    assert!(!copy.join(".ci").exists());
    let readme = std::fs::read_to_string(copy.join("README.md")).unwrap();
    assert!(
        readme.contains("cargo run -p autograder -- check lab1"),
        "{readme}"
    );
    assert!(readme.contains("cargo test --workspace"), "{readme}");
    assert!(!readme.contains("solution"), "{readme}");
    for lab in 1..=5 {
        let handout = std::fs::read_to_string(copy.join(format!("handouts/lab{lab}.md"))).unwrap();
        assert!(
            !handout.contains(&format!("lab{lab}-solution")) && !handout.contains("solutions/"),
            "handouts/lab{lab}.md names a solution the student copy does not have"
        );
    }

    // The README's two commands, in the copy. `cargo test --workspace` passes on the
    // untouched stubs: it tests the code students are given.
    let target = workspace().join("target").join("student-export-check");
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--workspace", "--offline", "--quiet"])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", &target)
        .success();
    // `check lab1` builds the untouched stub, scores it 0 and names the first step.
    let check = Command::new(env!("CARGO_BIN_EXE_autograder"))
        .args(["check", "lab1", "--only", "echo-short"])
        .current_dir(&copy)
        .env("NETLABS_ROOT", &copy)
        .env("CARGO_TARGET_DIR", &target)
        .code(1);
    assert!(
        check.stdout().contains("Step 1 of handouts/lab1.md"),
        "{check}"
    );

    // In the student copy, asking for the reference solution says why it cannot.
    let solution = Command::new(env!("CARGO_BIN_EXE_autograder"))
        .args(["grade", "lab1", "--solution"])
        .env("NETLABS_ROOT", &copy)
        .code(2);
    assert!(solution.stderr().contains("does not have"), "{solution}");
}

#[test]
fn exporting_into_a_non_empty_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    let out = autograder()
        .args(["export", "student", "--out"])
        .arg(tmp.path())
        .code(2);
    assert!(out.stderr().contains("not empty"), "{out}");
}
