//! The limits flags of `grade` (`--startup-limit`, `--budget`, `--memory-limit`), which
//! `batch` takes too and passes on to each submission's `grade`.
//!
//! They split into what the runner enforces (time, [`runner::Limits`]) and what the
//! sandbox enforces (memory, [`Containment`]).

use std::time::Duration;

use crate::grade::runner;
use crate::os::sandbox::{Containment, DEFAULT_MEMORY_LIMIT};

/// Limits of a grading run, on the command line of `grade` (and passed on by `batch`).
#[derive(clap::Args, Debug, Clone)]
pub struct LimitArgs {
    /// Seconds a program may take to start listening, in each test.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    pub startup_limit: u64,
    /// Overall time budget, in seconds: no test starts after it (those left fail, saying so).
    #[arg(long, value_name = "SECONDS")]
    pub budget: Option<u64>,
    /// Limit on the memory of the program and all its children, in MiB (Linux): exact in
    /// a cgroup (shared memory and tmpfs included) where one can be made, else sampled.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MEMORY_LIMIT >> 20)]
    pub memory_limit: u64,
}

impl LimitArgs {
    /// Rejects limits that cannot be meant: zero, or beyond what any grading needs.
    ///
    /// # Errors
    /// A sentence naming the flag and the range it takes.
    pub fn validate(&self) -> anyhow::Result<()> {
        let check = |flag: &str, value: u64, lo: u64, hi: u64, unit: &str| {
            if (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "--{flag} {value}: give between {lo} and {hi} {unit}"
                ))
            }
        };
        check("startup-limit", self.startup_limit, 1, 600, "seconds")?;
        check("memory-limit", self.memory_limit, 16, 1 << 20, "MiB")?;
        if let Some(budget) = self.budget {
            check("budget", budget, 1, 24 * 3600, "seconds")?;
        }
        Ok(())
    }

    /// The time limits, for the runner.
    pub fn run_limits(&self) -> runner::Limits {
        runner::Limits {
            startup: Duration::from_secs(self.startup_limit.max(1)),
            budget: self.budget.map(Duration::from_secs),
        }
    }

    /// The containment the limits ask for (no sandbox: `batch` adds one).
    pub fn containment(&self) -> Containment {
        Containment {
            memory_limit: Some(self.memory_limit.max(1) << 20),
            ..Containment::default()
        }
    }

    /// The same limits as command-line arguments, to pass on to a child `grade`.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--startup-limit".to_string(),
            self.startup_limit.to_string(),
            "--memory-limit".to_string(),
            self.memory_limit.to_string(),
        ];
        if let Some(b) = self.budget {
            args.extend(["--budget".to_string(), b.to_string()]);
        }
        args
    }
}
