//! The workspace's shape: the student copy (without `solutions/`) builds, and a lab folder
//! builds on its own outside the workspace, so a student can hand in just that folder.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn cargo_check(dir: &Path, target: &str) {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["check", "--offline", "--quiet"])
        .current_dir(dir)
        // A target directory of its own, inside ours, so dependencies compile once per run.
        .env("CARGO_TARGET_DIR", workspace().join("target").join(target))
        .success();
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

/// The files under `dir`, relative, sorted.
fn source_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// The public items of a Rust source file, as a student relies on them: every
/// `pub fn`'s signature (up to its body, whitespace collapsed) and the names of `pub`
/// structs, enums, consts and modules.
fn public_api(source: &str) -> std::collections::BTreeSet<String> {
    let mut api = std::collections::BTreeSet::new();
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    for (at, _) in code.match_indices("pub ") {
        let rest = &code[at..];
        if rest.starts_with("pub fn ") {
            let end = rest.find(['{', ';']).unwrap_or(rest.len());
            let signature = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
            // A `mut` binding of a parameter is the body's business, not the signature's.
            let signature = signature
                .replace(", )", ")")
                .replace("( ", "(")
                .replace("(mut ", "(")
                .replace(", mut ", ", ");
            api.insert(signature);
        } else if let Some(kind) = ["pub struct ", "pub enum ", "pub const ", "pub mod "]
            .iter()
            .find(|k| rest.starts_with(**k))
        {
            let name: String = rest[kind.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            api.insert(format!("{kind}{name}"));
        }
    }
    api
}

/// Modules of a reference solution that its stub does not have: lab 5's second
/// concurrency model (`--model events`), which the handout describes after its steps.
const REFERENCE_ONLY: &[(&str, &str)] = &[("lab5", "events")];

/// Stubs and references are two versions of one crate: the same files, the same public
/// functions with the same signatures (the handouts, the step checks and the walk from
/// stub to reference rely on it), and no `todo!()` left in a reference.
///
/// The one exception is [`REFERENCE_ONLY`]: modules a reference has beyond the handout's
/// steps, which the stub does not ask for.
#[test]
fn each_stub_mirrors_its_reference() {
    for lab in autograder::grade::labs::names() {
        let stub = workspace().join("labs").join(lab).join("src");
        let reference = workspace().join("solutions").join(lab).join("src");
        let files = source_files(&stub);
        let extra: Vec<&str> = REFERENCE_ONLY
            .iter()
            .filter(|(l, _)| *l == lab)
            .map(|(_, module)| *module)
            .collect();
        let reference_files: Vec<_> = source_files(&reference)
            .into_iter()
            .filter(|f| !extra.iter().any(|m| f == Path::new(&format!("{m}.rs"))))
            .collect();
        assert_eq!(
            files, reference_files,
            "{lab}: the stub and the reference have different files"
        );
        for file in &files {
            let stub_text = std::fs::read_to_string(stub.join(file)).unwrap();
            let reference_text = std::fs::read_to_string(reference.join(file))
                .unwrap()
                .replace(&format!("{lab}_solution"), lab);
            assert!(
                !reference_text.contains("todo!("),
                "solutions/{lab}/src/{} still has a todo!()",
                file.display()
            );
            let (mut want, got) = (public_api(&reference_text), public_api(&stub_text));
            for module in &extra {
                want.remove(&format!("pub mod {module}"));
            }
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "labs/{lab}/src/{}: public items differ from the reference's; \
                 only in the reference: {missing:#?}; only in the stub: {extra:#?}",
                file.display()
            );
        }
    }
}

/// Lab 2's echo loop is lab 1's, unchanged: the handout says so, and a student copies it.
#[test]
fn lab_2s_echo_loop_is_lab_1s() {
    let code = |lab: &str| -> String {
        std::fs::read_to_string(workspace().join("solutions").join(lab).join("src/echo.rs"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("//!")) // the module's introduction may differ
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert!(
        code("lab1") == code("lab2"),
        "solutions/lab2/src/echo.rs is not lab 1's echo.rs"
    );
}
