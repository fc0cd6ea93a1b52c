//! The grader's layout holds: `cmd` (the commands) uses `grade` (rubrics, probes, reports),
//! which uses `os` (processes, containment, /proc); nothing imports upward, no two modules
//! import each other (directly or round a loop), and no source file outgrows a reader
//! (900 lines).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::*;

const LAYERS: [&str; 3] = ["cmd", "grade", "os"];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module a file belongs to, at the granularity the rule is about: `cmd::check`,
/// `grade::probe` (all of `grade/probe/**`), or a leaf at the root (`rng`, `lib`).
fn module_of(src: &Path, file: &Path) -> String {
    let parts: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [layer, module, ..] if LAYERS.contains(&layer.as_str()) => format!("{layer}::{module}"),
        [only] => only.clone(),
        _ => unreachable!("{parts:?}"),
    }
}

/// The modules a source file names through `crate::LAYER::…` paths (code only: comments,
/// including doc links, are not dependencies). Handles grouped imports:
/// `crate::os::{cleanup, procfs}` names `os::cleanup` and `os::procfs`.
fn imports(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        for layer in LAYERS {
            let needle = format!("crate::{layer}::");
            let mut rest = code;
            while let Some(at) = rest.find(&needle) {
                rest = &rest[at + needle.len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    for item in group.split(',') {
                        let name = item.trim().split("::").next().unwrap_or("");
                        if !name.is_empty() && name != "self" {
                            found.insert(format!("{layer}::{name}"));
                        }
                    }
                } else {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    found.insert(format!("{layer}::{name}"));
                }
            }
        }
    }
    found
}

fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = workspace().join("autograder/src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let from = module_of(&src, &file);
        let source = std::fs::read_to_string(&file).unwrap();
        let edges = graph.entry(from.clone()).or_default();
        edges.extend(imports(&source).into_iter().filter(|to| *to != from));
    }
    graph
}

fn layer(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|l| module.split("::").next() == Some(l))
}

#[test]
fn the_grader_imports_only_downward() {
    let upward: Vec<String> = import_graph()
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
        .filter(|(from, to)| matches!((layer(from), layer(to)), (Some(a), Some(b)) if b < a))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        upward.is_empty(),
        "cmd may use grade and os, grade may use os, os uses neither; these import upward:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_two_grader_modules_depend_on_each_other() {
    let graph = import_graph();
    // A module is on a cycle if it can reach itself: walk from each one's imports.
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|start| {
            let mut seen = BTreeSet::new();
            let mut path: BTreeMap<String, String> = BTreeMap::new();
            let mut todo: Vec<String> = graph[start].iter().cloned().collect();
            for next in &todo {
                path.insert(next.clone(), start.clone());
            }
            while let Some(module) = todo.pop() {
                if module == *start {
                    // Rebuild the loop for the message.
                    let mut loop_ = vec![start.clone()];
                    let mut at = path[start].clone();
                    while at != *start {
                        loop_.push(at.clone());
                        at = path[&at].clone();
                    }
                    loop_.push(start.clone());
                    loop_.reverse();
                    return Some(loop_.join(" -> "));
                }
                if !seen.insert(module.clone()) {
                    continue;
                }
                for next in graph.get(&module).into_iter().flatten() {
                    path.entry(next.clone()).or_insert_with(|| module.clone());
                    todo.push(next.clone());
                }
            }
            None
        })
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_layer_check_reads_grouped_imports_and_ignores_comments() {
    // The checks above are only as good as this parser: prove it on the shapes rustfmt
    // writes, so that a cycle cannot hide in a grouped import.
    let found = imports(
        "use crate::os::{cleanup, procfs::close_wait_count};\n\
         use crate::grade::probe::{self, Ctx};\n\
         //! see [`crate::cmd::check`]\n\
         let x = crate::grade::rubric::Lab::default(); // crate::os::sandbox\n",
    );
    let expected: BTreeSet<String> = ["os::cleanup", "os::procfs", "grade::probe", "grade::rubric"]
        .map(String::from)
        .into();
    assert_eq!(found, expected);
}

#[test]
fn no_grader_source_file_outgrows_a_reader() {
    // A file past this many lines is doing two jobs: split it along them.
    const MOST: usize = 900;
    let src = workspace().join("autograder/src");
    let long: Vec<String> = rust_files(&src)
        .into_iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            (lines > MOST).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MOST} lines:\n{}", long.join("\n"));
}
