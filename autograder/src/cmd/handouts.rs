//! Keeping the handouts true to the code: `autograder handouts [--fix]`.
//!
//! Three things in `handouts/*.md` are copies of something else, and each copy is checked:
//!
//! - **Code blocks.** A block shown from a source file is preceded by a marker line
//!   `<!-- include: labs/lab1/src/echo.rs#write_all -->`, and the fenced block after it
//!   must equal, byte for byte, the lines between `// ANCHOR: write_all` and
//!   `// ANCHOR_END: write_all` in that file (marker lines of any anchor left out). Only
//!   stub files (`labs/…`) may be shown: students get no `solutions/`. Unlike mdBook's
//!   `{{#include}}`, the copy is real text, so a handout reads the same on any forge.
//! - **Steps.** Every `// TODO: Step N` in `labs/labN` names a numbered step `N.` of the
//!   handout's "Tasks" (or "Steps") section, and every `todo!("…")` says which step it is
//!   (`Step N of handouts/labN.md: …`), so a student who hits one knows where to read.
//! - **Rubric tables.** Between `<!-- rubric:labN -->` and `<!-- /rubric -->` sits the
//!   table `autograder list labN --format markdown` prints.
//!
//! `--fix` rewrites code blocks and rubric tables from their sources (authors never copy
//! code by hand); step problems need a person. The autograder's tests run the same check.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// One way a handout (or a stub) disagrees with what it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, relative to the workspace root.
    pub file: PathBuf,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

const INCLUDE_OPEN: &str = "<!-- include: ";
const COMMENT_CLOSE: &str = " -->";

/// The Markdown files under `handouts/` (the book's `SUMMARY.md` excluded), sorted.
pub fn handout_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("handouts"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
                .filter(|p| p.file_name().is_some_and(|n| n != "SUMMARY.md"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The lab folders under `labs/` (`labs/lab1`, …), sorted.
pub fn lab_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("labs"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("src").is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Every problem in the workspace at `root`: code includes and rubric tables of all
/// handouts, and the steps of all labs.
pub fn check_all(root: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    for file in handout_files(root) {
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let rel = relative(root, &file);
                problems.extend(refresh(root, &rel, &text).1);
            }
            Err(e) => problems.push(Problem {
                file: relative(root, &file),
                line: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    for dir in lab_dirs(root) {
        problems.extend(check_steps(root, &dir));
    }
    problems
}

/// Rewrites every handout's code includes and rubric tables from their sources; returns
/// the files it changed and the problems it could not fix.
///
/// # Errors
/// If a handout cannot be read or written.
pub fn fix_all(root: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<Problem>)> {
    let mut changed = Vec::new();
    for file in handout_files(root) {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let (fixed, _) = refresh(root, &relative(root, &file), &text);
        if fixed != text {
            std::fs::write(&file, fixed)
                .with_context(|| format!("cannot write {}", file.display()))?;
            changed.push(relative(root, &file));
        }
    }
    Ok((changed, check_all(root)))
}

/// The handout `text` (at `file`, relative to `root`) with every include block and rubric
/// table replaced by its source, and the problems found on the way (as they were before
/// fixing).
pub fn refresh(root: &Path, file: &Path, text: &str) -> (String, Vec<Problem>) {
    let (text, mut problems) = refresh_includes(root, file, text);
    let (text, more) = refresh_rubrics(file, &text);
    problems.extend(more);
    (text, problems)
}

fn refresh_includes(root: &Path, file: &Path, text: &str) -> (String, Vec<Problem>) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut problem = |line: usize, message: String| {
        problems.push(Problem {
            file: file.to_path_buf(),
            line: line + 1,
            message,
        })
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        out.push_str(line);
        i += 1;
        let Some(spec) = line
            .trim()
            .strip_prefix(INCLUDE_OPEN)
            .and_then(|s| s.strip_suffix(COMMENT_CLOSE.trim_start()))
        else {
            continue;
        };
        let marker = i - 1;
        let spec = spec.trim();
        let wanted = match anchor_text(root, spec) {
            Ok(code) => Some(code),
            Err(e) => {
                problem(marker, e);
                None
            }
        };
        // The marker's indentation (a block inside a list item is indented) applies to
        // the fence and to every line of the code.
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        // The fenced block that must follow the marker.
        let fence_open = lines
            .get(i)
            .and_then(|l| l.trim_end().strip_prefix(indent.as_str()))
            .filter(|l| l.starts_with("```"));
        let Some(fence_open) = fence_open else {
            problem(
                marker,
                format!("`{spec}`: the include marker must be followed by a fenced code block"),
            );
            if let Some(code) = wanted {
                out.push_str(&format!(
                    "{indent}```rust\n{}{indent}```\n",
                    indented(&code, &indent)
                ));
            }
            continue;
        };
        let fence: String = fence_open.chars().take_while(|&c| c == '`').collect();
        let closing = format!("{indent}{fence}");
        let Some(close) = (i + 1..lines.len()).find(|&j| lines[j].trim_end() == closing) else {
            problem(i, format!("`{spec}`: the code block is never closed"));
            continue;
        };
        let current: String = lines[i + 1..close].concat();
        out.push_str(lines[i]);
        let wanted = wanted.map(|code| indented(&code, &indent));
        match wanted {
            Some(code) if code != current => {
                problem(
                    marker,
                    format!(
                        "the block differs from `{spec}`; run `autograder handouts --fix`, \
                         or make it exactly:\n{code}"
                    ),
                );
                out.push_str(&code);
            }
            _ => out.push_str(&current),
        }
        out.push_str(lines[close]);
        i = close + 1;
    }
    (out, problems)
}

/// `code` with `indent` before every line that is not empty.
fn indented(code: &str, indent: &str) -> String {
    code.split_inclusive('\n')
        .map(|l| {
            if l.trim().is_empty() {
                l.to_string()
            } else {
                format!("{indent}{l}")
            }
        })
        .collect()
}

/// The code between `// ANCHOR: name` and `// ANCHOR_END: name` of `spec` =
/// `labs/labN/src/file.rs#name`, without the marker lines of any anchor.
///
/// # Errors
/// A sentence saying what is wrong with `spec` (not a stub file, no such file or anchor).
pub fn anchor_text(root: &Path, spec: &str) -> Result<String, String> {
    let Some((path, name)) = spec.split_once('#') else {
        return Err(format!(
            "`{spec}`: write the include as PATH#ANCHOR, e.g. labs/lab1/src/echo.rs#write_all"
        ));
    };
    if !path.starts_with("labs/") {
        return Err(format!(
            "`{spec}`: handouts show stub code only (labs/…): students get no solutions/"
        ));
    }
    let source = std::fs::read_to_string(root.join(path))
        .map_err(|e| format!("`{spec}`: cannot read {path}: {e}"))?;
    let is_marker = |l: &str| {
        let l = l.trim();
        l.starts_with("// ANCHOR:") || l.starts_with("// ANCHOR_END:")
    };
    let start_mark = format!("// ANCHOR: {name}");
    let end_mark = format!("// ANCHOR_END: {name}");
    let mut lines = source.split_inclusive('\n');
    if !lines.any(|l| l.trim() == start_mark) {
        return Err(format!(
            "`{spec}`: {path} has no line `{start_mark}` (anchors are marked in the stub)"
        ));
    }
    let mut code = String::new();
    for l in lines {
        if l.trim() == end_mark {
            return Ok(code);
        }
        if !is_marker(l) {
            code.push_str(l);
            if !l.ends_with('\n') {
                code.push('\n');
            }
        }
    }
    Err(format!("`{spec}`: {path} has no line `{end_mark}`"))
}

fn refresh_rubrics(file: &Path, text: &str) -> (String, Vec<Problem>) {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<!-- rubric:") {
        let line = text[..text.len() - rest.len() + at].lines().count() + 1;
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let Some(eol) = from.find('\n') else {
            out.push_str(from);
            rest = "";
            break;
        };
        let marker = &from[..eol + 1];
        out.push_str(marker);
        let name = marker
            .trim()
            .trim_start_matches("<!-- rubric:")
            .trim_end_matches("-->")
            .trim();
        let body = &from[eol + 1..];
        let Some(end) = body.find("<!-- /rubric -->") else {
            problems.push(Problem {
                file: file.to_path_buf(),
                line,
                message: format!("the rubric table of {name} has no closing `<!-- /rubric -->`"),
            });
            out.push_str(body);
            rest = "";
            break;
        };
        match crate::grade::labs::find(name) {
            Some(lab) => {
                let table = lab.as_markdown();
                if body[..end] != table {
                    problems.push(Problem {
                        file: file.to_path_buf(),
                        line,
                        message: format!(
                            "the rubric table of {name} is out of date; run `autograder \
                             handouts --fix` (it prints `autograder list {name} --format \
                             markdown`)"
                        ),
                    });
                }
                out.push_str(&table);
            }
            // A lab whose rubric is not registered yet: its table is left as written.
            None => out.push_str(&body[..end]),
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    (out, problems)
}

/// The step numbers of a handout: lines `N. …` in its "Tasks" or "Steps" section.
pub fn handout_steps(text: &str) -> BTreeSet<u32> {
    handout_step_titles(text).into_keys().collect()
}

/// The steps of a handout with their titles: `3. **Echo loop** (…)` → 3, "Echo loop" (a
/// step without a bold title gets an empty one).
pub fn handout_step_titles(text: &str) -> BTreeMap<u32, String> {
    let mut steps = BTreeMap::new();
    let mut in_tasks = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            let h = heading.to_ascii_lowercase();
            in_tasks = h.contains("tasks") || h.contains("steps");
            continue;
        }
        if !in_tasks {
            continue;
        }
        if let Some((number, rest)) = line.split_once(". ") {
            if let Ok(n) = number.parse() {
                let title = rest
                    .strip_prefix("**")
                    .and_then(|r| r.split_once("**"))
                    .map(|(title, _)| title.to_string())
                    .unwrap_or_default();
                steps.insert(n, title);
            }
        }
    }
    steps
}

/// Problems with the steps of the lab at `dir` (`labs/labN`): every `// TODO:` names a
/// step of `handouts/labN.md`, and every `todo!` says which step it is.
pub fn check_steps(root: &Path, dir: &Path) -> Vec<Problem> {
    let Some(lab) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let handout = format!("handouts/{lab}.md");
    let mut problems = Vec::new();
    let steps = match std::fs::read_to_string(root.join(&handout)) {
        Ok(text) => handout_steps(&text),
        Err(_) => {
            problems.push(Problem {
                file: relative(root, dir),
                line: 0,
                message: format!("the lab has no handout {handout}"),
            });
            return problems;
        }
    };
    for file in rust_files(&dir.join("src")) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let rel = relative(root, &file);
        for (i, line) in text.lines().enumerate() {
            let mut problem = |message: String| {
                problems.push(Problem {
                    file: rel.clone(),
                    line: i + 1,
                    message,
                })
            };
            if let Some(after) = line.split_once("// TODO:").map(|(_, a)| a.trim()) {
                match step_number(after, "Step ") {
                    None => problem(format!(
                        "a TODO must name its handout step: `// TODO: Step N — …` \
                         (with N a numbered step of {handout})"
                    )),
                    Some(n) if !steps.contains(&n) => problem(format!(
                        "TODO names Step {n}, but {handout}'s Tasks section has no step {n}. \
                         (its steps: {steps:?})"
                    )),
                    Some(_) => {}
                }
            }
        }
        // `todo!(` may be followed by its message on the next line (rustfmt wraps long
        // ones), so these are found in the whole text.
        for (at, _) in text.match_indices("todo!(") {
            let message = text[at + "todo!(".len()..]
                .trim_start()
                .trim_start_matches('"');
            let ok = step_number(message, "Step ").is_some_and(|n| {
                steps.contains(&n) && message.starts_with(&format!("Step {n} of {handout}"))
            });
            if !ok {
                problems.push(Problem {
                    file: rel.clone(),
                    line: text[..at].matches('\n').count() + 1,
                    message: format!(
                        "a todo!() must say which step it is: `todo!(\"Step N of {handout}: \
                         …\")`, with N a numbered step of the handout"
                    ),
                });
            }
        }
    }
    problems
}

fn step_number(text: &str, prefix: &str) -> Option<u32> {
    let rest = text.strip_prefix(prefix)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_come_from_the_tasks_section_only() {
        let text = "## Learning goals\n\n1. know\n2. do\n\n## Tasks\n\n1. **Bind**\n   more\n\
                    2. **Loop**\n10. **Ten**\n\n## Grading\n3. no\n";
        assert_eq!(handout_steps(text), [1, 2, 10].into_iter().collect());
    }
}
