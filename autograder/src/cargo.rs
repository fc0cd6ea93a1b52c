//! Finding the workspace and building a lab's package with cargo.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The netlabs workspace root: `$NETLABS_ROOT`, else the nearest ancestor of the current
/// directory that holds the workspace `Cargo.toml` and `labs/`, else the workspace this
/// autograder was built from.
///
/// # Errors
/// If none of these exists.
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    if let Some(root) = std::env::var_os("NETLABS_ROOT") {
        return Ok(PathBuf::from(root));
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    for dir in cwd.ancestors() {
        if is_workspace(dir) {
            return Ok(dir.to_path_buf());
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if is_workspace(&built_from) {
        return Ok(built_from.canonicalize().unwrap_or(built_from));
    }
    bail!("cannot find the netlabs workspace: run this inside it, or set NETLABS_ROOT")
}

fn is_workspace(dir: &Path) -> bool {
    dir.join("labs").is_dir()
        && std::fs::read_to_string(dir.join("Cargo.toml"))
            .map(|t| t.contains("[workspace]"))
            .unwrap_or(false)
}

/// Builds binary `package` of the workspace at `root` and returns the executable's path.
///
/// The compiler's messages go to our standard error as they come, so a student sees their
/// errors exactly as `cargo build` shows them.
///
/// # Errors
/// If cargo cannot run or the build fails.
pub fn build(root: &Path, package: &str, release: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--package", package, "--bin", package])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if release {
        cmd.arg("--release");
    }
    let mut child = cmd
        .spawn()
        .context("cannot run cargo (is Rust installed?)")?;
    let stdout = child.stdout.take().context("no cargo stdout")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == package {
            if let Some(exe) = msg["executable"].as_str() {
                executable = Some(PathBuf::from(exe));
            }
        }
    }
    let status = child.wait().context("cargo did not finish")?;
    if !status.success() {
        bail!("`cargo build -p {package}` failed: fix the compiler errors above, then run again");
    }
    executable.with_context(|| format!("cargo built {package} but reported no executable"))
}
