//! Rubric overrides: an instructor's `rubric.toml`, and the effective rubric built from it.
//!
//! ```toml
//! [lab1]
//! total = 100                      # scale the enabled tests' points to this total
//!
//! [lab1.tests.echo-short]
//! points = 5
//! visibility = "hidden"            # visible | hidden | after_due_date
//!
//! [lab1.tests.echo-large]
//! enabled = false                  # not run, not listed, worth nothing
//! ```
//!
//! One file for the course (a table per lab), so the same file serves `grade lab1`,
//! `batch lab3` and the student copy of every lab.
//!
//! The design: the overrides are applied once, up front, to make an *effective* [`Lab`] of
//! the same type as the static tables, leaked so that it is `&'static` like them. Every
//! consumer (the runner's selection, a result's score, `results.json`'s visibility, JUnit,
//! CSV, `list`, the exports) already reads `lab.tests` and `test.points`; handing them the
//! effective lab means none of them can forget the overrides, and none of them changed.
//! The leak is one small table per command run, alive for the whole run anyway.
//!
//! The file is checked whole, against every lab, before anything is built or graded:
//! unknown labs, test ids and keys, negative points and a total of 0 are errors that list
//! what is valid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::grade::labs;
use crate::grade::rubric::{Lab, TestCase, Visibility};

/// One lab's table in `rubric.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabOverrides {
    /// Scale the enabled tests' points so that they add up to this. Signed so that a
    /// negative number gets our message, not the parser's "expected u32".
    total: Option<i64>,
    /// By test id.
    #[serde(default)]
    tests: BTreeMap<String, TestOverride>,
}

/// One test's table: `[LAB.tests.ID]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestOverride {
    /// Points awarded when it passes (before scaling to the lab's total).
    points: Option<i64>,
    visibility: Option<Visibility>,
    /// `false`: the test is not run and is worth nothing.
    enabled: Option<bool>,
}

/// A checked `rubric.toml`.
#[derive(Debug, Clone)]
pub struct Overrides {
    /// Where it was read from, for messages and `list`.
    pub source: PathBuf,
    labs: BTreeMap<String, LabOverrides>,
}

impl Overrides {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// An unreadable file, a TOML or key error, or a value that no lab can take; each
    /// message names the file and lists what is valid.
    pub fn load(path: &Path) -> anyhow::Result<Overrides> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the rubric file {}", path.display()))?;
        Overrides::parse(&text, path)
    }

    /// Parses and checks `text` (read from `source`).
    ///
    /// # Errors
    /// As [`Overrides::load`].
    pub fn parse(text: &str, source: &Path) -> anyhow::Result<Overrides> {
        let where_ = source.display();
        let labs: BTreeMap<String, LabOverrides> = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{where_}: {}\n(the file holds a table per lab, [labN] with an optional \
                 `total`, and [labN.tests.ID] with `points`, `visibility` = \"visible\" | \
                 \"hidden\" | \"after_due_date\", `enabled`)",
                e.to_string().trim_end()
            )
        })?;
        let overrides = Overrides {
            source: source.to_path_buf(),
            labs,
        };
        for (name, table) in &overrides.labs {
            let Some(lab) = labs::find(name) else {
                bail!(
                    "{where_}: unknown lab [{name}]; the labs are: {}",
                    labs::names().join(", ")
                );
            };
            check(lab, table).map_err(|e| anyhow::anyhow!("{where_}: [{name}] {e}"))?;
        }
        Ok(overrides)
    }

    /// Whether the file has a table for `lab`.
    pub fn touches(&self, lab: &Lab) -> bool {
        self.labs.contains_key(lab.name)
    }

    /// The ids of `lab`'s tests that the file disables, in rubric order.
    pub fn disabled(&self, lab: &Lab) -> Vec<&'static str> {
        let Some(table) = self.labs.get(lab.name) else {
            return Vec::new();
        };
        let base = labs::find(lab.name).unwrap_or(lab);
        base.tests
            .iter()
            .filter(|t| table.tests.get(t.id).and_then(|o| o.enabled) == Some(false))
            .map(|t| t.id)
            .collect()
    }

    /// The effective rubric of `lab` (one of the static tables): its enabled tests with
    /// the file's points and visibility, scaled to its total. `lab` itself when the file
    /// says nothing about it.
    pub fn apply(&self, lab: &'static Lab) -> &'static Lab {
        let Some(table) = self.labs.get(lab.name) else {
            return lab;
        };
        let tests: Vec<TestCase> = effective_tests(lab, table);
        // Leaked once per run: see the module comment for why an effective lab is
        // `&'static` like the tables it replaces.
        let tests: &'static [TestCase] = Box::leak(tests.into_boxed_slice());
        Box::leak(Box::new(Lab { tests, ..*lab }))
    }
}

/// The lab named `name`, with the overrides in `rubric` (if any) applied.
///
/// # Errors
/// An unknown lab (listing the labs), or a rubric file that does not check.
pub fn effective(name: &str, rubric: Option<&Path>) -> anyhow::Result<&'static Lab> {
    let lab = labs::find(name).with_context(|| {
        format!(
            "unknown lab `{name}`; the labs are: {}",
            labs::names().join(", ")
        )
    })?;
    Ok(match rubric {
        Some(path) => Overrides::load(path)?.apply(lab),
        None => lab,
    })
}

/// Checks an `--only` selection against the effective rubric `lab`: each of its
/// comma-separated items must name a group or a test id of it. An item that names only
/// tests the rubric file disables is said to be disabled, not unknown: the instructor
/// asked for a test their own file leaves out.
///
/// # Errors
/// A sentence naming the item, with the groups and tests that are valid.
pub fn check_only(lab: &Lab, only: &str) -> Result<(), String> {
    let base = labs::find(lab.name).unwrap_or(lab);
    let names = |l: &Lab, item: &str| l.tests.iter().any(|t| t.selected_by(item));
    let valid = || {
        format!(
            "groups: {}{}; tests: {}",
            lab.groups().join(", "),
            if lab.groups().contains(&"server") {
                ""
            } else {
                ", server (every test of the program as a server)"
            },
            lab.tests
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    for item in only.split(',') {
        if names(lab, item) {
            continue;
        }
        if names(base, item) {
            return Err(format!(
                "`--only {only}`: `{item}` is disabled by the rubric file (`enabled = false`), so it is not run; {}",
                valid()
            ));
        }
        return Err(format!(
            "`--only {only}` matches no test of {}: `{item}` is neither a group nor a test id; {}",
            lab.name,
            valid()
        ));
    }
    Ok(())
}

/// Checks one lab's table against the lab's static rubric.
fn check(lab: &Lab, table: &LabOverrides) -> Result<(), String> {
    let ids = || {
        lab.tests
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (id, o) in &table.tests {
        if lab.test(id).is_none() {
            return Err(format!(
                "has no test `{id}`; {}'s tests are: {}",
                lab.name,
                ids()
            ));
        }
        if let Some(p) = o.points {
            if p < 0 {
                return Err(format!(
                    "tests.{id}: points = {p}: points cannot be negative (0 keeps the test \
                     but makes it worth nothing; `enabled = false` leaves it out)"
                ));
            }
            if p > i64::from(u32::MAX / 1024) {
                return Err(format!(
                    "tests.{id}: points = {p} is more than any rubric needs"
                ));
            }
        }
    }
    let tests = effective_unscaled(lab, table);
    if tests.is_empty() {
        return Err(format!(
            "disables every test; enable at least one of: {}",
            ids()
        ));
    }
    if let Some(total) = table.total {
        if total <= 0 {
            return Err(format!(
                "total = {total}: give a positive number of points to scale the enabled \
                 tests to (they add up to {} now)",
                tests.iter().map(|t| t.points).sum::<u32>()
            ));
        }
        if total > i64::from(u32::MAX / 1024) {
            return Err(format!("total = {total} is more than any rubric needs"));
        }
        if tests.iter().all(|t| t.points == 0) {
            return Err(format!(
                "total = {total}, but every enabled test is worth 0 points, so there is \
                 nothing to scale; give some of them points"
            ));
        }
    }
    Ok(())
}

/// The enabled tests with the table's points and visibility, before scaling. Call only
/// on a table that [`check`] accepted.
fn effective_unscaled(lab: &Lab, table: &LabOverrides) -> Vec<TestCase> {
    lab.tests
        .iter()
        .filter_map(|t| {
            let o = table.tests.get(t.id).cloned().unwrap_or_default();
            if o.enabled == Some(false) {
                return None;
            }
            Some(TestCase {
                points: o.points.map_or(t.points, |p| p.max(0) as u32),
                visibility: o.visibility.unwrap_or(t.visibility),
                ..t.clone()
            })
        })
        .collect()
}

/// The effective tests: [`effective_unscaled`], then scaled to the table's total.
fn effective_tests(lab: &Lab, table: &LabOverrides) -> Vec<TestCase> {
    let mut tests = effective_unscaled(lab, table);
    if let Some(total) = table.total {
        let points: Vec<u32> = tests.iter().map(|t| t.points).collect();
        for (t, p) in tests.iter_mut().zip(scale(&points, total as u32)) {
            t.points = p;
        }
    }
    tests
}

/// Scales `points` to add up to exactly `total`, in whole points (every report, CSV and
/// Gradescope alike, counts whole points): each gets the floor of its exact share, and the
/// points left over go to the largest remainders, the earlier test first on a tie (the
/// largest-remainder method). A test worth 0 stays at 0. `points` must not all be 0.
fn scale(points: &[u32], total: u32) -> Vec<u32> {
    let sum: u64 = points.iter().map(|&p| u64::from(p)).sum();
    let exact: Vec<(u64, u64)> = points
        .iter()
        .map(|&p| {
            let n = u64::from(p) * u64::from(total);
            (n / sum, n % sum)
        })
        .collect();
    let mut out: Vec<u32> = exact.iter().map(|&(floor, _)| floor as u32).collect();
    let left = u64::from(total) - exact.iter().map(|&(floor, _)| floor).sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..points.len()).collect();
    // Stable: equal remainders keep rubric order.
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(exact[i].1));
    for &i in by_remainder.iter().take(left as usize) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Overrides> {
        Overrides::parse(text, Path::new("rubric.toml"))
    }

    fn lab1() -> &'static Lab {
        labs::find("lab1").unwrap()
    }

    #[test]
    fn scaling_adds_up_to_the_total_exactly() {
        assert_eq!(scale(&[5, 10, 35], 100), vec![10, 20, 70]);
        // 100/3 each: one point left over, to the first on the tie.
        assert_eq!(scale(&[1, 1, 1], 100), vec![34, 33, 33]);
        assert_eq!(scale(&[0, 3, 1], 10), vec![0, 8, 2]);
        assert_eq!(scale(&[2, 7, 11, 0, 13], 17).iter().sum::<u32>(), 17);
    }

    #[test]
    fn an_untouched_lab_is_the_static_table_itself() {
        let o = parse("[lab2]\ntotal = 10\n").unwrap();
        assert!(std::ptr::eq(o.apply(lab1()), lab1()));
        assert!(!std::ptr::eq(o.apply(labs::find("lab2").unwrap()), lab1()));
    }

    #[test]
    fn points_visibility_and_enabled_make_the_effective_rubric() {
        let first = lab1().tests[0].id;
        let second = lab1().tests[1].id;
        let o = parse(&format!(
            "[lab1.tests.{first}]\npoints = 7\nvisibility = \"hidden\"\n\
             [lab1.tests.{second}]\nenabled = false\n"
        ))
        .unwrap();
        let lab = o.apply(lab1());
        assert_eq!(lab.tests.len(), lab1().tests.len() - 1);
        assert_eq!(lab.test(first).unwrap().points, 7);
        assert_eq!(lab.test(first).unwrap().visibility, Visibility::Hidden);
        assert!(lab.test(second).is_none());
        assert_eq!(o.disabled(lab), vec![second]);
        // The static table is untouched.
        assert_ne!(lab1().test(first).unwrap().visibility, Visibility::Hidden);
    }

    #[test]
    fn only_naming_a_disabled_test_says_that_it_is_disabled() {
        let o = parse("[lab1.tests.echo-fragments]\nenabled = false\n").unwrap();
        let lab = o.apply(lab1());
        assert_eq!(check_only(lab, "echo-short"), Ok(()));
        let disabled = check_only(lab, "echo-short,echo-fragments").unwrap_err();
        assert!(
            disabled.contains("`echo-fragments` is disabled by the rubric file"),
            "{disabled}"
        );
        assert!(
            !disabled.contains("tests: echo-short, echo-fragments"),
            "{disabled}"
        );
        let unknown = check_only(lab, "echo-short,nope").unwrap_err();
        assert!(
            unknown.contains("matches no test of lab1: `nope`"),
            "{unknown}"
        );
        assert!(check_only(lab1(), "echo-fragments").is_ok());
        // `server` selects by kind where it is no group (lab 2's server tests).
        let lab2 = labs::find("lab2").unwrap();
        assert!(!lab2.groups().contains(&"server"));
        assert_eq!(check_only(lab2, "server"), Ok(()));
    }

    #[test]
    fn a_total_scales_the_enabled_tests() {
        let o = parse("[lab1]\ntotal = 77\n").unwrap();
        assert_eq!(o.apply(lab1()).max_points(), 77);
    }

    #[test]
    fn mistakes_are_errors_that_list_what_is_valid() {
        let err = |text: &str| format!("{:#}", parse(text).unwrap_err());
        let unknown = err("[lab1.tests.no-such-test]\npoints = 1\n");
        assert!(unknown.contains("no-such-test"), "{unknown}");
        assert!(unknown.contains(lab1().tests[0].id), "{unknown}");
        let key = err("[lab1.tests.echo-short]\npionts = 1\n");
        assert!(key.contains("pionts") && key.contains("points"), "{key}");
        let negative = err("[lab1.tests.echo-short]\npoints = -3\n");
        assert!(negative.contains("negative"), "{negative}");
        let zero = err("[lab1]\ntotal = 0\n");
        assert!(zero.contains("total = 0"), "{zero}");
        let lab = err("[lab9]\ntotal = 10\n");
        assert!(lab.contains("lab9") && lab.contains("lab5"), "{lab}");
        let vis = err("[lab1.tests.echo-short]\nvisibility = \"secret\"\n");
        assert!(vis.contains("after_due_date"), "{vis}");
        // And the same file without the mistakes is accepted.
        parse("[lab1.tests.echo-short]\npoints = 3\nvisibility = \"after_due_date\"\n").unwrap();
    }
}
