//! What a student hands in, and how it becomes a command to grade.
//!
//! A submission folder holds one of three forms (see [`detect`]): an executable `run`, a
//! copy of the student workspace, or a single Cargo package; a folder holding only one
//! sub-folder (as archives often unpack) is looked into. [`prepare`] makes the private
//! copy, recognises the form, and builds a Cargo submission in the sandbox ([`build`]).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::build::{self, Scratch};
use super::Plan;
use crate::grade::rubric::Lab;
use crate::os::sandbox;

/// Student folders, sorted by name (the queue pops from the end, so reversed).
pub(super) fn list_students(dir: &Path, out: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_dir() || name.starts_with('.') || path == out {
            continue;
        }
        names.push(name);
    }
    names.sort();
    names.reverse();
    Ok(names)
}

/// How a submission is started.
enum Form {
    /// Run this command (in this folder).
    Run(Vec<String>, PathBuf),
    /// Build with cargo in this folder (`Some(package)` in a workspace copy).
    Cargo(PathBuf, Option<String>),
}

/// Recognises what a student folder contains.
fn detect(dir: &Path, lab: &Lab) -> Result<Form, String> {
    let run = dir.join("run");
    if run.is_file() {
        use std::os::unix::fs::PermissionsExt;
        let mode = run.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
        let path = run.to_string_lossy().into_owned();
        if mode & 0o111 != 0 {
            return Ok(Form::Run(vec![path], dir.to_path_buf()));
        }
        // Uploads often lose the execute bit: honour the shebang line ourselves.
        let first = std::fs::read(&run).unwrap_or_default();
        let first = String::from_utf8_lossy(&first);
        let line = first.lines().next().unwrap_or("");
        return match line.strip_prefix("#!") {
            Some(shebang) if !shebang.trim().is_empty() => {
                let mut argv: Vec<String> =
                    shebang.split_whitespace().map(str::to_string).collect();
                argv.push(path);
                Ok(Form::Run(argv, dir.to_path_buf()))
            }
            _ => Err("`run` is not executable and has no `#!` line (chmod +x run)".into()),
        };
    }
    let manifest = dir.join("Cargo.toml");
    if manifest.is_file() {
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        if text.contains("[workspace]") && dir.join("labs").join(lab.name).is_dir() {
            return Ok(Form::Cargo(dir.to_path_buf(), Some(lab.name.to_string())));
        }
        if text.contains("[package]") {
            return Ok(Form::Cargo(dir.to_path_buf(), None));
        }
    }
    // An archive that unpacked into one folder: look inside it.
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    if let [only] = entries.as_slice() {
        if only.is_dir() {
            return detect(only, lab);
        }
    }
    Err(format!(
        "found nothing to grade: no executable `run`, no workspace with labs/{}, no Cargo package (Cargo.toml)",
        lab.name
    ))
}

/// A submission ready to grade: the command and the folder it runs in.
#[derive(Debug)]
pub(super) struct Ready {
    /// The command line (an interpreter first when `run` had only its `#!` line).
    pub argv: Vec<String>,
    /// Its working folder.
    pub cwd: PathBuf,
}

/// Why a submission could not be built or started.
#[derive(Debug)]
pub(super) struct Unbuilt {
    /// One sentence for the student.
    pub why: String,
    /// The compiler's messages, when a build ran.
    pub log: Option<String>,
}

impl Unbuilt {
    fn before_build(why: String) -> Unbuilt {
        Unbuilt { why, log: None }
    }
}

/// Copies the submission to its private place and builds it if needed.
///
/// # Errors
/// Why it could not be copied, recognised or built.
pub(super) fn prepare(
    plan: &Plan,
    dir: &Path,
    scratch: &Scratch,
    uid: Option<u32>,
) -> Result<Ready, Unbuilt> {
    build::private_copy(dir, &scratch.src()).map_err(Unbuilt::before_build)?;
    match detect(&scratch.src(), plan.lab).map_err(Unbuilt::before_build)? {
        Form::Run(argv, cwd) => {
            if let Some(uid) = uid {
                sandbox::chown_tree(scratch.dir(), uid).map_err(|e| {
                    Unbuilt::before_build(format!(
                        "the grader could not prepare the submission: {e}"
                    ))
                })?;
            }
            Ok(Ready { argv, cwd })
        }
        Form::Cargo(root, package) => {
            let within = root
                .strip_prefix(scratch.src())
                .unwrap_or(Path::new(""))
                .to_path_buf();
            let exe = plan
                .builder
                .build(scratch, &within, package.as_deref(), uid)
                .map_err(|f| {
                    let mut why = f.summary;
                    if f.log.contains("offline") || f.log.contains("--offline") {
                        why.push_str(" (builds have no network: only the lab's own dependencies are available)");
                    }
                    Unbuilt {
                        why,
                        log: Some(f.log),
                    }
                })?;
            Ok(Ready {
                argv: vec![exe.to_string_lossy().into_owned()],
                cwd: root,
            })
        }
    }
}
