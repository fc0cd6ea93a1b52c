//! `autograder export`: what an instructor hands to Gradescope, GitHub Classroom and students.
//!
//! ```text
//! autograder export gradescope lab1 --out lab1-gradescope.zip
//! autograder export student --out ../netlabs-student
//! autograder export classroom --out classroom.yml
//! ```
//!
//! - `gradescope`: a zip with `setup.sh` and `run_autograder` at its root (the templates in
//!   `autograder/export/`, with the lab filled in) and `netlabs/`, the sources needed to
//!   build the autograder (the workspace manifest and lock file, `autograder/`, the lab
//!   stubs; never `solutions/`). Gradescope's root is `/autograder`; both scripts honour
//!   `AUTOGRADER_ROOT`, so the bundle can be tried in a temporary directory.
//! - `student`: the workspace without `solutions/`, `target/`, `.git`, the grader's own
//!   tests and CI, with a README written for students (its two commands work in the copy:
//!   `check lab1`, and `cargo test --workspace`, which passes on the untouched stubs) and a
//!   GitHub Classroom workflow in `.github/workflows/classroom.yml`. It builds offline like
//!   the original (the lock file is kept). Refuses to export a handout that includes code
//!   from `solutions/`.
//! - `classroom`: just the workflow: one step per rubric test, worth its points (with
//!   `--rubric FILE`, the visible tests with their final points, as the student copy's).
//!
//! With `--rubric FILE` (see [`crate::grade::overrides`]): the Gradescope bundle carries
//! the file as `rubric.toml` and its `run_autograder` grades with it. The student copy gets
//! a `rubric.toml` of its own, written from the effective rubric: each visible test with
//! its final points, every other test `enabled = false`. Students' `check --rubric
//! rubric.toml` then scores exactly what Gradescope shows them before the due date, and
//! the copy does not tell them what the hidden tests are worth (their code it cannot
//! hide: the grader is in the copy). The copy's Classroom workflow is made from it too.
//!
//! The bundle is written by our own zip writer ([`crate::zip`], which says why).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;

use crate::grade::overrides::{self, Overrides};
use crate::grade::rubric::Visibility;
use crate::zip::Zip;

const SETUP_SH: &str = include_str!("../../export/setup.sh");
const RUN_AUTOGRADER: &str = include_str!("../../export/run_autograder");
const CLASSROOM_YML: &str = include_str!("../../export/classroom.yml");
const STUDENT_README: &str = include_str!("../../export/student-README.md");

/// What the student copy leaves out besides [`skipped`] names, relative to the root:
/// the grader's own test suite (its corpus holds complete, correct servers, and its tests
/// need `solutions/`), the project's CI, and the instructors' README (replaced by
/// [`STUDENT_README`]).
const NOT_FOR_STUDENTS: &[&str] = &["autograder/tests", ".ci", "README.md"];

/// `autograder export` arguments.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// A Gradescope autograder bundle (zip) for one lab.
    Gradescope {
        /// The lab (lab1 … lab5).
        lab: String,
        /// The zip file to write.
        #[arg(long)]
        out: PathBuf,
        /// Grade only this group of tests or test id (several separated by commas).
        #[arg(long)]
        only: Option<String>,
        /// Rubric overrides to bundle: the bundle grades with them.
        #[arg(long, value_name = "FILE")]
        rubric: Option<PathBuf>,
    },
    /// The student copy of the workspace: no solutions, with a GitHub Classroom workflow.
    Student {
        /// The folder to create (must not exist, or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Rubric overrides: the copy gets a rubric.toml with the visible tests' points
        /// (hidden and after-due-date tests are left out of it).
        #[arg(long, value_name = "FILE")]
        rubric: Option<PathBuf>,
    },
    /// The GitHub Classroom workflow alone.
    Classroom {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// Rubric overrides: a step per visible test, worth its final points (hidden,
        /// after-due-date and disabled tests get none, as in the student copy). The steps
        /// need no rubric file in the repository.
        #[arg(long, value_name = "FILE")]
        rubric: Option<PathBuf>,
    },
}

impl ExportArgs {
    /// Runs the export.
    ///
    /// # Errors
    /// Unknown lab, unreadable workspace, unwritable output, a handout that reveals solutions.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let root = crate::os::cargo::workspace_root()?;
        match self.what {
            What::Gradescope {
                lab,
                out,
                only,
                rubric,
            } => {
                // Checked here, so a broken file never reaches Gradescope.
                let lab = overrides::effective(&lab, rubric.as_deref())?;
                if let Some(o) = &only {
                    overrides::check_only(lab, o).map_err(|e| anyhow::anyhow!(e))?;
                }
                let rubric = rubric
                    .map(|p| {
                        std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
                    })
                    .transpose()?;
                let bytes = gradescope_zip(&root, lab.name, only.as_deref(), rubric.as_deref())?;
                std::fs::write(&out, bytes)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                sayln!(
                    "Wrote {}: upload it as the autograder of the {} assignment on Gradescope",
                    out.display(),
                    lab.name
                );
            }
            What::Student { out, rubric } => {
                let rubric = rubric.as_deref().map(Overrides::load).transpose()?;
                student_copy(&root, &out, rubric.as_ref())?;
                sayln!(
                    "Wrote the student copy to {} (no solutions/; GitHub Classroom workflow in .github/workflows/classroom.yml)",
                    out.display()
                );
            }
            What::Classroom { out, rubric } => {
                // The students' view of the file, as the student copy has it: what the
                // workflow's steps award is what students may see.
                let students = rubric
                    .as_deref()
                    .map(Overrides::load)
                    .transpose()?
                    .map(|o| Overrides::parse(&student_rubric(&o), Path::new("rubric.toml")))
                    .transpose()?;
                std::fs::write(&out, classroom_workflow(students.as_ref(), false))
                    .with_context(|| format!("cannot write {}", out.display()))?;
                sayln!("Wrote {}", out.display());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Names never exported: build output, version control, and the reference solutions.
fn skipped(name: &str) -> bool {
    name == "target" || name == ".git" || name == "solutions"
}

/// Files under `dir` (relative paths), recursively, minus [`skipped`] names.
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = std::fs::read_dir(dir.join(&rel))
            .with_context(|| format!("cannot read {}", dir.join(&rel).display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if skipped(&name.to_string_lossy()) {
                continue;
            }
            let path = rel.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The Gradescope bundle for `lab`, as zip bytes.
///
/// # Errors
/// If the workspace's files cannot be read.
/// With `rubric` (a checked rubric.toml's bytes), the bundle holds it as `rubric.toml`
/// beside the scripts, and `run_autograder` grades with it.
pub fn gradescope_zip(
    root: &Path,
    lab: &str,
    only: Option<&str>,
    rubric: Option<&[u8]>,
) -> anyhow::Result<Vec<u8>> {
    let mut args = match only {
        Some(o) => format!(
            "--only {}",
            shlex::try_quote(o).context("--only holds a NUL byte")?
        ),
        None => String::new(),
    };
    let mut zip = Zip::default();
    if let Some(rubric) = rubric {
        zip.add("rubric.toml", rubric, 0o644);
        // Gradescope unzips the bundle into $ROOT/source.
        args.push_str(" --rubric \"$ROOT/source/rubric.toml\"");
    }
    zip.add("setup.sh", SETUP_SH.replace("@LAB@", lab).as_bytes(), 0o755);
    zip.add(
        "run_autograder",
        RUN_AUTOGRADER
            .replace("@LAB@", lab)
            .replace("@ARGS@", &args)
            .as_bytes(),
        0o755,
    );
    for part in ["Cargo.toml", "Cargo.lock"] {
        let bytes = std::fs::read(root.join(part))
            .with_context(|| format!("cannot read {}", root.join(part).display()))?;
        zip.add(&format!("netlabs/{part}"), &bytes, 0o644);
    }
    for dir in ["autograder", "labs"] {
        for rel in files(&root.join(dir))? {
            let path = root.join(dir).join(&rel);
            let bytes = std::fs::read(&path)?;
            zip.add(
                &format!("netlabs/{dir}/{}", rel.to_string_lossy()),
                &bytes,
                mode_of(&path),
            );
        }
    }
    Ok(zip.finish())
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let mode = path
        .metadata()
        .map(|m| m.permissions().mode())
        .unwrap_or(0o644);
    if mode & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

/// Copies the workspace at `root` to `out` for students.
///
/// # Errors
/// If `out` exists and is not empty, if a handout includes solution code, or on I/O errors.
pub fn student_copy(root: &Path, out: &Path, rubric: Option<&Overrides>) -> anyhow::Result<()> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty", out.display());
    }
    let all: Vec<PathBuf> = files(root)?
        .into_iter()
        .filter(|rel| {
            !NOT_FOR_STUDENTS
                .iter()
                .any(|left_out| rel.starts_with(left_out))
        })
        .collect();
    for rel in &all {
        let reveals = rel.starts_with("handouts")
            && std::fs::read_to_string(root.join(rel))
                .is_ok_and(|t| t.contains("<!-- include: solutions/"));
        if reveals {
            bail!(
                "{} includes code from solutions/, which students must not get; include from labs/ instead",
                rel.display()
            );
        }
    }
    for rel in &all {
        let dest = out.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if rel == Path::new("autograder/Cargo.toml") {
            let manifest = std::fs::read_to_string(root.join(rel))?;
            std::fs::write(&dest, without_test_targets(&manifest))?;
            continue;
        }
        std::fs::copy(root.join(rel), &dest)
            .with_context(|| format!("cannot copy {}", rel.display()))?;
    }
    std::fs::write(out.join("README.md"), STUDENT_README)?;
    let students = match rubric {
        Some(o) => {
            let path = out.join("rubric.toml");
            std::fs::write(&path, student_rubric(o))?;
            // Read back through the same checks, so the copy never holds a file its own
            // grader refuses.
            Some(Overrides::load(&path)?)
        }
        None => None,
    };
    let workflow = out.join(".github/workflows/classroom.yml");
    std::fs::create_dir_all(workflow.parent().expect("has a parent"))?;
    std::fs::write(workflow, classroom_workflow(students.as_ref(), true))?;
    Ok(())
}

/// The student copy's rubric.toml: for each lab the instructor's file changes, the
/// visible tests with their final points (already scaled: a total would rescale them
/// over fewer tests), and every other test disabled. See the module comment for why.
fn student_rubric(o: &Overrides) -> String {
    let mut text = String::from(
        "# Your instructor's weights for the tests whose results you see before the due \
         date.\n# `cargo run -p autograder -- check LAB --rubric rubric.toml` scores with \
         them.\n",
    );
    for &base in crate::grade::labs::LABS {
        if !o.touches(base) {
            continue;
        }
        let lab = o.apply(base);
        for t in base.tests {
            text.push_str(&format!("\n[{}.tests.{}]\n", lab.name, t.id));
            match lab.test(t.id) {
                Some(e) if e.visibility == Visibility::Visible => {
                    text.push_str(&format!("points = {}\n", e.points));
                }
                _ => text.push_str("enabled = false\n"),
            }
        }
    }
    text
}

/// The autograder's manifest without its `[[test]]` targets (and the comment above each),
/// whose files the student copy does not have.
fn without_test_targets(manifest: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut in_test_target = false;
    for line in manifest.lines() {
        if line.trim() == "[[test]]" {
            in_test_target = true;
            while kept.last().is_some_and(|l| l.starts_with('#')) {
                kept.pop();
            }
            continue;
        }
        if in_test_target && line.starts_with('[') {
            in_test_target = false;
        }
        if !in_test_target {
            kept.push(line);
        }
    }
    let mut text = kept.join("\n").trim_end().to_string();
    text.push('\n');
    text
}

/// The GitHub Classroom workflow: one step per rubric test of every lab; with `rubric`
/// (the student copy's rubric.toml), one per test of its effective rubrics, worth their
/// points, and with `rubric_in_repo` every step grades with the copy's `rubric.toml`.
/// (A step passes or fails whatever the points: the file only keeps `check`'s score the
/// one students see; the workflow's points are its `max-score`s.)
pub fn classroom_workflow(rubric: Option<&Overrides>, rubric_in_repo: bool) -> String {
    let mut steps = String::new();
    let mut env = String::new();
    let mut runners = Vec::new();
    let flag = if rubric.is_some() && rubric_in_repo {
        " --rubric rubric.toml"
    } else {
        ""
    };
    for &base in crate::grade::labs::LABS {
        let lab = rubric.map_or(base, |o| o.apply(base));
        for t in lab.tests {
            let id = format!("{}_{}", lab.name, t.id.replace('-', "_"));
            // Minutes, rounded up, with room for the build and the start-up.
            let minutes = t.time_limit.as_secs().div_ceil(60) + 2;
            steps.push_str(&format!(
                "      - name: {lab} {test}\n        id: {id}\n        uses: education/autograding-command-grader@v1\n        with:\n          test-name: {lab} {test}\n          setup-command: ''\n          command: cargo run -q -p autograder -- check {lab} --only {test} --format junit{flag}\n          timeout: {minutes}\n          max-score: {points}\n",
                lab = lab.name,
                test = t.id,
                points = t.points,
            ));
            env.push_str(&format!(
                "          {}_RESULTS: \"${{{{steps.{id}.outputs.result}}}}\"\n",
                id.to_uppercase()
            ));
            runners.push(id);
        }
    }
    CLASSROOM_YML
        .replace("@STEPS@\n", &steps)
        .replace("@ENV@\n", &env)
        .replace("@RUNNERS@", &runners.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_student_manifest_keeps_everything_but_the_test_targets() {
        let manifest = "[package]\nname = \"autograder\"\n\n[dev-dependencies]\nx = \"1\"\n\n\
                        # One binary.\n[[test]]\nname = \"integration\"\npath = \"tests/main.rs\"\n\n\
                        [features]\nfast = []\n";
        assert_eq!(
            without_test_targets(manifest),
            "[package]\nname = \"autograder\"\n\n[dev-dependencies]\nx = \"1\"\n\n[features]\nfast = []\n"
        );
    }

    #[test]
    fn the_workflow_has_one_step_per_test() {
        let yml = classroom_workflow(None, false);
        let tests: usize = crate::grade::labs::LABS.iter().map(|l| l.tests.len()).sum();
        assert_eq!(
            yml.matches("uses: education/autograding-command-grader@v1")
                .count(),
            tests
        );
        assert!(
            yml.contains("LAB1_ECHO_SHORT_RESULTS: \"${{steps.lab1_echo_short.outputs.result}}\"")
        );
        assert!(!yml.contains('@') || !yml.contains("@STEPS@"));
    }

    #[test]
    fn the_workflow_of_a_rubric_file_awards_the_visible_tests_final_points() {
        let instructors = Overrides::parse(
            "[lab1]\ntotal = 100\n[lab1.tests.echo-short]\nvisibility = \"hidden\"\n\
             [lab1.tests.echo-fragments]\nenabled = false\n",
            Path::new("rubric.toml"),
        )
        .unwrap();
        let students =
            Overrides::parse(&student_rubric(&instructors), Path::new("rubric.toml")).unwrap();
        let yml = classroom_workflow(Some(&students), false);
        let lab1 = instructors.apply(crate::grade::labs::find("lab1").unwrap());
        let flush = lab1.test("half-close-flush").unwrap().points;
        let step = yml.split("- name: lab1 half-close-flush\n").nth(1).unwrap();
        let step = &step[..step.find("- name:").unwrap()];
        assert!(
            step.contains("check lab1 --only half-close-flush --format junit\n"),
            "{step}"
        );
        assert!(step.contains(&format!("max-score: {flush}\n")), "{step}");
        assert!(
            !yml.contains("lab1 --only echo-short "),
            "a hidden test gets no step"
        );
        assert!(
            !yml.contains("lab1 --only echo-fragments "),
            "nor a disabled one"
        );
        assert!(!yml.contains("--rubric"), "the steps need no file");
        // Other labs are as built in.
        assert!(yml.contains("check lab2 --only "), "{yml}");
    }
}
