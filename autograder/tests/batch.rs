//! `autograder batch` over a mixed class: correct, stub, buggy, not compiling, and every
//! hostile kind in `corpus/hostile/`. Each is graded as it should be, in bounded time, and
//! no process of any submission is left afterwards.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

/// A student folder with an executable `run` that starts `exe` with `args` first.
fn run_script(class: &Path, student: &str, exe: &Path, args: &[&str]) {
    let dir = class.join(student);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("run");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' {} \"$@\"\n",
            exe.display(),
            args.join(" ")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A single Cargo package: a copy of `package_dir`, with the workspace's lock file so it
/// builds offline.
fn cargo_package(class: &Path, student: &str, package_dir: &str) -> PathBuf {
    let dir = class.join(student);
    copy_dir(&workspace().join(package_dir), &dir);
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

/// A copy of the student workspace (no solutions), graded from labs/lab1.
fn workspace_copy(class: &Path, student: &str) {
    let dir = class.join(student);
    std::fs::create_dir_all(&dir).unwrap();
    for part in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(workspace().join(part), dir.join(part)).unwrap();
    }
    copy_dir(&workspace().join("labs"), &dir.join("labs"));
    // The workspace's members include the autograder: its manifest and sources.
    copy_dir(
        &workspace().join("autograder/src"),
        &dir.join("autograder/src"),
    );
    copy_dir(
        &workspace().join("autograder/export"),
        &dir.join("autograder/export"),
    );
    let manifest = std::fs::read_to_string(workspace().join("autograder/Cargo.toml")).unwrap();
    // Without tests/ here, drop the integration-test target (it would not be built anyway).
    let manifest = manifest.split("[[test]]").next().unwrap().to_string();
    std::fs::write(dir.join("autograder/Cargo.toml"), manifest).unwrap();
}

/// Where the class's builds go: inside our target directory, shared by every run of this
/// test, so the dependencies compile once.
fn builds_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace().join(target)
    };
    target.join("batch-test-builds")
}

fn alive(pid: u32, exe: &Path) -> bool {
    // Compare the executable too: the pid may have been reused by an unrelated process.
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p == exe)
        .unwrap_or(false)
}

#[test]
fn a_mixed_class_is_graded_correctly_in_bounded_time_and_nothing_survives() {
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("skipped: the containment checks need Linux's /proc");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    let pids = tmp.path().join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let hostile = corpus_rust("hostile/hostile.rs");

    cargo_package(&class, "correct-package", "solutions/lab1");
    workspace_copy(&class, "stub-workspace");
    run_script(&class, "buggy", &corpus_rust("lab1/drops_tail.rs"), &[]);
    let broken = cargo_package(&class, "does-not-compile", "labs/lab1");
    std::fs::write(
        broken.join("src/main.rs"),
        "fn main() { let x: u32 = \"not a number\"; }\n",
    )
    .unwrap();
    for mode in [
        "double-fork",
        "setsid",
        "fork-bomb",
        "ignore-term",
        "flood",
        "memory-hog",
        "never-listen",
        "wrong-port",
        "hang",
    ] {
        run_script(&class, &format!("hostile-{mode}"), &hostile, &[mode]);
    }

    let started = Instant::now();
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args([
            "--jobs",
            "3",
            "--only",
            "echo-short,half-close-flush",
            "--startup-limit",
            "2",
            "--memory-limit",
            "128",
            "--budget",
            "30",
            "--offline",
            "--target-dir",
        ])
        // Shared with other runs of this test, so dependencies compile once.
        .arg(builds_dir())
        .env("NETLABS_HOSTILE_PIDS", &pids)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // Nothing any hostile submission started is still running.
    let recorded: Vec<u32> = std::fs::read_dir(&pids)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    assert!(
        recorded.len() > 300,
        "the fork bomb should have made hundreds of processes, saw {}",
        recorded.len()
    );
    let survivors: Vec<u32> = recorded
        .iter()
        .copied()
        .filter(|&p| alive(p, &hostile))
        .collect();
    assert!(survivors.is_empty(), "survivors: {survivors:?}");

    // Scores, from grades.csv.
    let csv = std::fs::read_to_string(out.join("grades.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("student,score,max_score,echo-short,half-close-flush")
    );
    let scores: BTreeMap<&str, &str> = lines
        .map(|l| {
            let (student, rest) = l.split_once(',').unwrap();
            (student, rest)
        })
        .collect();
    let expect = [
        ("correct-package", "15,15,5,10"),
        ("stub-workspace", "0,15,0,0"),
        ("buggy", "5,15,5,0"),
        ("does-not-compile", "0,15,0,0"),
        ("hostile-double-fork", "15,15,5,10"),
        ("hostile-setsid", "15,15,5,10"),
        ("hostile-fork-bomb", "15,15,5,10"),
        ("hostile-ignore-term", "15,15,5,10"),
        ("hostile-flood", "0,15,0,0"),
        ("hostile-memory-hog", "0,15,0,0"),
        ("hostile-never-listen", "0,15,0,0"),
        ("hostile-wrong-port", "0,15,0,0"),
        ("hostile-hang", "0,15,0,0"),
    ];
    for (student, line) in expect {
        assert_eq!(
            scores.get(student).copied(),
            Some(line),
            "{student}; grades.csv:\n{csv}\nits feedback:\n{}",
            std::fs::read_to_string(out.join(student).join("feedback.txt")).unwrap_or_default()
        );
    }

    // Feedback says why.
    let feedback = |s: &str| std::fs::read_to_string(out.join(s).join("feedback.txt")).unwrap();
    let f = feedback("does-not-compile");
    assert!(f.contains("mismatched types"), "{f}");
    let f = feedback("stub-workspace");
    assert!(f.contains("Step 1 of handouts/lab1.md"), "{f}");
    let f = feedback("hostile-memory-hog");
    assert!(f.contains("128 MiB resident-memory limit"), "{f}");
    let f = feedback("hostile-never-listen");
    assert!(f.contains("did not listen"), "{f}");
    let f = feedback("hostile-wrong-port");
    assert!(f.contains("did not listen"), "{f}");
    let flood = feedback("hostile-flood");
    assert!(flood.contains("earlier output not shown"));
    assert!(flood.len() < 64 * 1024, "feedback must stay bounded");
    let f = feedback("hostile-hang");
    assert!(f.contains("nothing arrived"), "{f}");

    // Every student has the three reports; the JSON follows Gradescope's schema.
    for student in scores.keys() {
        for file in ["results.json", "feedback.txt", "junit.xml"] {
            assert!(out.join(student).join(file).is_file(), "{student}/{file}");
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("buggy/results.json")).unwrap()).unwrap();
    assert_eq!(json["score"], 5);
    assert_eq!(json["tests"][1]["status"], "failed");

    // The class summary names the most failed test first.
    assert!(stdout.contains("Tests the class failed most:"), "{stdout}");
    assert!(
        stdout.contains("half-close-flush         failed by   8 of 13"),
        "{stdout}"
    );
    // Bounded: the budget (30 s) and the start-up limit bound every submission; builds
    // may have to compile dependencies the first time.
    assert!(elapsed < Duration::from_secs(170), "took {elapsed:?}");
}

#[test]
fn without_network_namespaces_ports_are_random_and_grades_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    run_script(&class, "good", &package_bin("lab1-solution"), &[]);
    run_script(
        &class,
        "setsid",
        &corpus_rust("hostile/hostile.rs"),
        &["setsid"],
    );
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--no-netns", "--only", "echo-short"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("on random free ports"), "{stderr}");
    let csv = std::fs::read_to_string(out.join("grades.csv")).unwrap();
    let feedback = |who: &str| std::fs::read_to_string(out.join(who).join("feedback.txt"));
    assert_eq!(
        csv,
        "student,score,max_score,echo-short\ngood,5,5,5\nsetsid,5,5,5\n",
        "feedback:\n{:?}\n{:?}\nstderr:\n{stderr}",
        feedback("good"),
        feedback("setsid")
    );
}

#[test]
fn an_empty_or_unrecognised_submission_gets_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    std::fs::create_dir_all(class.join("nothing")).unwrap();
    std::fs::write(class.join("nothing/notes.txt"), "hello").unwrap();
    let out = tmp.path().join("out");
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--only", "echo-short"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let feedback = std::fs::read_to_string(out.join("nothing/feedback.txt")).unwrap();
    assert!(feedback.contains("found nothing to grade"), "{feedback}");
}

#[test]
fn the_budget_stops_a_submission_that_uses_up_its_time() {
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    run_script(
        &class,
        "sleeper",
        &corpus_rust("hostile/hostile.rs"),
        &["never-listen"],
    );
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--only", "echo-short,half-close-flush,sequential-clients"])
        // The first tests wait out the 2 s start-up limit, past the 1 s budget, so the
        // last one (which starts after one of them, however many run at once) is not run.
        .args(["--startup-limit", "2", "--budget", "1"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let feedback = std::fs::read_to_string(out.join("sleeper/feedback.txt")).unwrap();
    assert!(feedback.contains("did not listen"), "{feedback}");
    assert!(
        feedback.contains("used up the submission's 1 s grading budget"),
        "{feedback}"
    );
}
