//! `batch --gradebook canvas|moodle [--roster FILE]`: beside grades.csv, a CSV in the
//! LMS's import format, each student folder mapped to its LMS ids; a roster that cannot
//! do that is refused before anything is graded.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::*;

/// A class of two `run` submissions: `good` (the lab 1 solution) and `stub`.
fn class(dir: &Path) -> std::path::PathBuf {
    let class = dir.join("class");
    for (student, package) in [("good", "lab1-solution"), ("stub", "lab1")] {
        let folder = class.join(student);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(package_bin(package), folder.join("server")).unwrap();
        let run = folder.join("run");
        std::fs::write(&run, "#!/bin/sh\nexec \"${0%/*}/server\" \"$@\"\n").unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    class
}

fn batch(class: &Path, out: &Path, extra: &[&str], roster: Option<&Path>) -> Ran {
    let mut cmd = autograder();
    cmd.args(["batch", "lab1"])
        .arg(class)
        .arg("--out")
        .arg(out)
        .args(["--only", "echo-short", "--offline", "--unsandboxed"])
        .args(extra);
    if let Some(roster) = roster {
        cmd.arg("--roster").arg(roster);
    }
    cmd.run()
}

#[test]
fn canvas_and_moodle_gradebooks_map_folders_through_the_roster() {
    let tmp = tempfile::tempdir().unwrap();
    let class = class(tmp.path());
    let roster = tmp.path().join("roster.csv");
    std::fs::write(
        &roster,
        "folder,name,sis_login_id,section,email\n\
         good,\"Lovelace, Ada\",alovelace,S1,ada@uni.edu\n\
         stub,Alan Turing,aturing,S2,alan@uni.edu\n",
    )
    .unwrap();

    let out = tmp.path().join("canvas");
    batch(&class, &out, &["--gradebook", "canvas"], Some(&roster)).expect_success();
    assert_eq!(
        std::fs::read_to_string(out.join("gradebook-canvas.csv")).unwrap(),
        "Student,ID,SIS User ID,SIS Login ID,Section,lab1\n\
         \"Lovelace, Ada\",,,alovelace,S1,5\n\
         Alan Turing,,,aturing,S2,0\n"
    );
    assert!(out.join("grades.csv").is_file(), "grades.csv stays");

    let out = tmp.path().join("moodle");
    batch(&class, &out, &["--gradebook", "moodle"], Some(&roster)).expect_success();
    assert_eq!(
        std::fs::read_to_string(out.join("gradebook-moodle.csv")).unwrap(),
        "Username,Email address,ID number,lab1\n,ada@uni.edu,,5\n,alan@uni.edu,,0\n"
    );

    // Without a roster, the folder name stands for the Moodle username.
    let out = tmp.path().join("bare");
    batch(&class, &out, &["--gradebook", "moodle"], None).expect_success();
    assert_eq!(
        std::fs::read_to_string(out.join("gradebook-moodle.csv")).unwrap(),
        "Username,Email address,ID number,lab1\ngood,,,5\nstub,,,0\n"
    );
    // And without --gradebook, no gradebook.
    let out = tmp.path().join("none");
    batch(&class, &out, &[], None).expect_success();
    assert!(!out.join("gradebook-canvas.csv").exists());
    assert!(!out.join("gradebook-moodle.csv").exists());
}

#[test]
fn a_roster_that_cannot_map_the_class_is_refused_before_grading() {
    let tmp = tempfile::tempdir().unwrap();
    let class = class(tmp.path());
    let roster = tmp.path().join("roster.csv");
    let cases = [
        ("folder,login\ngood,a\nstub,b\n", "unknown column `login`"),
        ("folder,sis_login_id\ngood,alovelace\n", "stub"),
        ("folder,email\ngood,a\nstub,b\n", "sis_login_id"),
    ];
    for (text, says) in cases {
        std::fs::write(&roster, text).unwrap();
        let out = tmp.path().join("out");
        let ran = batch(&class, &out, &["--gradebook", "canvas"], Some(&roster)).expect_code(2);
        assert!(ran.stderr().contains(says), "{text}: no `{says}`\n{ran}");
        assert!(
            !out.join("grades.csv").exists(),
            "{text}: something was graded"
        );
    }
    // A roster that lists both folders is accepted (the refusals above were the roster's).
    std::fs::write(&roster, "folder,sis_login_id\ngood,a\nstub,b\n").unwrap();
    let out = tmp.path().join("out");
    batch(
        &class,
        &out,
        &["--gradebook", "canvas", "--force"],
        Some(&roster),
    )
    .expect_success();
    assert!(out.join("gradebook-canvas.csv").is_file());
}
