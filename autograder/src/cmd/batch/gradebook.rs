//! `--gradebook canvas|moodle [--roster FILE]`: the class's scores as a CSV that the LMS
//! imports as it is, written beside `grades.csv`.
//!
//! - Canvas ("Import" in Grades): the columns `Student`, `ID`, `SIS User ID`, `SIS Login
//!   ID`, `Section`, then one column per assignment, named as the assignment; Canvas
//!   matches each row to a student by one of the three ids.
//! - Moodle (Grades, Import, CSV file): an identifier column, which the import page maps
//!   to a user field ("Username", "Email address", "ID number"), and a grade column mapped
//!   to a grade item. We write all three identifiers and the lab's column.
//!
//! Student folders are named however the submissions were unpacked; a roster CSV maps
//! each folder to the LMS's ids. Its header names columns from [`COLUMNS`] (any order,
//! `folder` required); without a roster a folder name stands for the Canvas login id or
//! the Moodle username. The roster is checked before anything is graded: an unknown
//! column, a student folder it does not list, or no column the LMS can match on are
//! errors that say what is valid.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};

use crate::grade::report::escape;

/// The LMS a gradebook is for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lms {
    /// Canvas's Grades import.
    Canvas,
    /// Moodle's CSV grade import.
    Moodle,
}

impl Lms {
    /// The file written under `--out`.
    pub(super) fn file_name(self) -> &'static str {
        match self {
            Lms::Canvas => "gradebook-canvas.csv",
            Lms::Moodle => "gradebook-moodle.csv",
        }
    }

    /// The roster columns this LMS can match a student on.
    fn ids(self) -> &'static [&'static str] {
        match self {
            Lms::Canvas => &["id", "sis_user_id", "sis_login_id"],
            Lms::Moodle => &["username", "email", "idnumber"],
        }
    }
}

/// The columns a roster may have.
pub const COLUMNS: &[&str] = &[
    "folder",
    "name",
    "id",
    "sis_user_id",
    "sis_login_id",
    "section",
    "email",
    "username",
    "idnumber",
];

/// A checked roster: each student folder's fields, by column name.
#[derive(Debug, Clone)]
pub struct Roster {
    by_folder: BTreeMap<String, BTreeMap<&'static str, String>>,
}

impl Roster {
    /// Reads and checks the roster at `path` for a gradebook of `lms`.
    ///
    /// # Errors
    /// Unreadable or malformed CSV, an unknown column, no `folder` column, no column
    /// `lms` can match on, a folder listed twice.
    pub fn load(path: &Path, lms: Lms) -> anyhow::Result<Roster> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the roster {}", path.display()))?;
        Roster::parse(&text, lms).map_err(|e| anyhow::anyhow!("roster {}: {e}", path.display()))
    }

    fn parse(text: &str, lms: Lms) -> Result<Roster, String> {
        let mut records = parse_csv(text)?.into_iter();
        let header = records.next().ok_or("it is empty: give a header line")?;
        let mut columns: Vec<&'static str> = Vec::new();
        for name in &header {
            let name = name.trim();
            match COLUMNS.iter().find(|c| c.eq_ignore_ascii_case(name)) {
                Some(c) if !columns.contains(c) => columns.push(c),
                Some(c) => return Err(format!("column `{c}` appears twice")),
                None => {
                    return Err(format!(
                        "unknown column `{name}`; the columns are: {}",
                        COLUMNS.join(", ")
                    ))
                }
            }
        }
        if !columns.contains(&"folder") {
            return Err(format!(
                "no `folder` column (the student's folder name); the columns are: {}",
                COLUMNS.join(", ")
            ));
        }
        if !lms.ids().iter().any(|id| columns.contains(id)) {
            return Err(format!(
                "a {lms:?} gradebook needs one of the columns {} to match students on",
                lms.ids().join(", ")
            ));
        }
        let mut by_folder = BTreeMap::new();
        for (line, record) in records.enumerate() {
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            if record.len() != columns.len() {
                return Err(format!(
                    "record {} has {} fields where the header has {}",
                    line + 2,
                    record.len(),
                    columns.len()
                ));
            }
            let fields: BTreeMap<&'static str, String> = columns
                .iter()
                .copied()
                .zip(record.into_iter().map(|f| f.trim().to_string()))
                .collect();
            let folder = fields["folder"].clone();
            if by_folder.insert(folder.clone(), fields).is_some() {
                return Err(format!("folder `{folder}` is listed twice"));
            }
        }
        Ok(Roster { by_folder })
    }

    /// Checks that every student folder is on the roster.
    ///
    /// # Errors
    /// Names the folders that are missing.
    pub fn check_students(&self, students: &[String]) -> anyhow::Result<()> {
        let missing: Vec<&str> = students
            .iter()
            .filter(|s| !self.by_folder.contains_key(s.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            bail!(
                "the roster does not list {} of the student folders: {} (add a line for \
                 each, with its `folder` name as the folder is named)",
                missing.len(),
                missing.join(", ")
            );
        }
        Ok(())
    }

    fn field(&self, folder: &str, column: &str) -> &str {
        self.by_folder
            .get(folder)
            .and_then(|f| f.get(column))
            .map_or("", String::as_str)
    }
}

/// One student's line: its folder and its score, `None` where the score says nothing
/// (the grader's trouble): left empty, an import changes nothing for that student.
pub(super) type Grade<'a> = (&'a str, Option<u32>);

/// The gradebook CSV for `lms`, the lab's column named `column`.
pub(super) fn csv(lms: Lms, column: &str, roster: Option<&Roster>, grades: &[Grade]) -> String {
    let field = |folder: &str, name: &str| -> String {
        match roster {
            Some(r) => r.field(folder, name).to_string(),
            // Without a roster, the folder name is the one id we have.
            None if matches!(name, "sis_login_id" | "username" | "name") => folder.to_string(),
            None => String::new(),
        }
    };
    let (header, fields): (&[&str], &[&str]) = match lms {
        Lms::Canvas => (
            &["Student", "ID", "SIS User ID", "SIS Login ID", "Section"],
            &["name", "id", "sis_user_id", "sis_login_id", "section"],
        ),
        Lms::Moodle => (
            &["Username", "Email address", "ID number"],
            &["username", "email", "idnumber"],
        ),
    };
    let mut out = header.join(",");
    out.push(',');
    out.push_str(&escape::csv(column));
    out.push('\n');
    for &(folder, score) in grades {
        for name in fields {
            out.push_str(&escape::csv(&field(folder, name)));
            out.push(',');
        }
        out.push_str(&score.map(|s| s.to_string()).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// RFC 4180 records: fields split at commas, quoted fields may hold commas, doubled
/// quotes and line breaks. (A roster is a few hundred lines; std is enough.)
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // Excel's byte-order mark
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is never closed".into());
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_with_quotes_commas_and_line_breaks() {
        let records = parse_csv("a,\"b, c\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",,x\n").unwrap();
        assert_eq!(
            records,
            vec![vec!["a", "b, c", "say \"hi\""], vec!["two\nlines", "", "x"]]
        );
        assert!(parse_csv("\"open").is_err());
    }

    #[test]
    fn canvas_and_moodle_columns_from_a_roster() {
        let roster = Roster::parse(
            "folder,name,sis_login_id,email,section\nada,\"Lovelace, Ada\",alovelace,ada@uni.edu,S1\n",
            Lms::Canvas,
        )
        .unwrap();
        assert_eq!(
            csv(Lms::Canvas, "lab1", Some(&roster), &[("ada", Some(42))]),
            "Student,ID,SIS User ID,SIS Login ID,Section,lab1\n\"Lovelace, Ada\",,,alovelace,S1,42\n"
        );
        assert_eq!(
            csv(Lms::Moodle, "lab1", Some(&roster), &[("ada", None)]),
            "Username,Email address,ID number,lab1\n,ada@uni.edu,,\n"
        );
        assert_eq!(
            csv(Lms::Moodle, "lab1", None, &[("ada", Some(7))]),
            "Username,Email address,ID number,lab1\nada,,,7\n"
        );
    }

    #[test]
    fn a_roster_with_mistakes_says_what_is_valid() {
        let err = |text: &str, lms| Roster::parse(text, lms).unwrap_err();
        assert!(err("folder,login\n", Lms::Canvas).contains("unknown column `login`"));
        assert!(err("name,id\n", Lms::Canvas).contains("no `folder` column"));
        assert!(err("folder,email\n", Lms::Canvas).contains("sis_login_id"));
        assert!(err("folder,email\na,x\na,y\n", Lms::Moodle).contains("twice"));
        let roster = Roster::parse("folder,email\na,x\n", Lms::Moodle).unwrap();
        let missing = roster
            .check_students(&["a".into(), "b".into()])
            .unwrap_err()
            .to_string();
        assert!(missing.contains(": b "), "{missing}");
        roster.check_students(&["a".into()]).unwrap();
    }
}
