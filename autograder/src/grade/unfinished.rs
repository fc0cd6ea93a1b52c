//! A program's unfinished step: the `todo!()` a lab stub panics at, found in what the
//! program printed. `check` names the step to do next from it, and the class report
//! counts how many students stopped at each step; both read the same panic format.

/// A `todo!()` the program reached, found in its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// The panic message, e.g. `Step 1 of handouts/lab1.md: bind a listening socket`.
    pub step: String,
    /// Where the `todo!()` is, e.g. `labs/lab1/src/server.rs:20`.
    pub location: Option<String>,
}

impl Unfinished {
    /// Finds the first `todo!()` panic in a program's output (Rust prints `panicked at
    /// FILE:LINE:COL:` and then `not yet implemented: MESSAGE`).
    pub fn find(output: &str) -> Option<Unfinished> {
        const MARK: &str = "not yet implemented";
        let lines: Vec<&str> = output.lines().map(|l| l.trim_start_matches("| ")).collect();
        let at = lines.iter().position(|l| l.contains(MARK))?;
        let message = lines[at][lines[at].find(MARK)? + MARK.len()..]
            .trim_start_matches(':')
            .trim();
        let location = lines[..at]
            .iter()
            .rev()
            .find_map(|l| l.split_once("panicked at ").map(|(_, rest)| rest))
            .map(|rest| {
                let rest = rest.trim().trim_end_matches(':');
                // Drop the column: `file.rs:20:5` → `file.rs:20`.
                match rest.rsplit_once(':') {
                    Some((file_line, col)) if col.chars().all(|c| c.is_ascii_digit()) => {
                        file_line.to_string()
                    }
                    _ => rest.to_string(),
                }
            });
        Some(Unfinished {
            step: if message.is_empty() {
                "an unfinished `todo!()` (it names no step)".to_string()
            } else {
                message.to_string()
            },
            location,
        })
    }

    /// `Step N`, when the message starts with one.
    pub fn step_number(&self) -> Option<&str> {
        let rest = self.step.strip_prefix("Step ")?;
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        (digits > 0).then(|| &self.step[..5 + digits])
    }

    /// One line for under a failure.
    pub fn explain(&self) -> String {
        format!("not done yet: {}", self.step)
    }
}
