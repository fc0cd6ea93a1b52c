//! The workspace's shape: the student copy (without `solutions/`) builds, and a lab folder
//! builds on its own outside the workspace, so a student can hand in just that folder.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn cargo_check(dir: &Path, target: &str) {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["check", "--offline", "--quiet"])
        .current_dir(dir)
        // A target directory of its own, inside ours, so dependencies compile once per run.
        .env("CARGO_TARGET_DIR", workspace().join("target").join(target))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo check failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn workspace_without_solutions_still_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("netlabs");
    std::fs::create_dir_all(&copy).unwrap();
    for part in ["Cargo.toml", "Cargo.lock", "labs", "autograder", "handouts"] {
        let from = workspace().join(part);
        if from.is_dir() {
            copy_dir(&from, &copy.join(part));
        } else if from.exists() {
            std::fs::copy(&from, copy.join(part)).unwrap();
        }
    }
    assert!(!copy.join("solutions").exists());
    cargo_check(&copy, "student-copy-check");
}

#[test]
fn each_lab_and_solution_crate_builds_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["labs/lab1", "solutions/lab1"] {
        let copy = tmp.path().join(dir.replace('/', "-"));
        copy_dir(&workspace().join(dir), &copy);
        // The workspace's lock file pins the same dependency versions, keeping this offline.
        std::fs::copy(workspace().join("Cargo.lock"), copy.join("Cargo.lock")).unwrap();
        cargo_check(&copy, "standalone-check");
    }
}
