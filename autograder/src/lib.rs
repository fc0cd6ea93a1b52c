//! # The netlabs autograder
//!
//! A black-box grader: it launches a program (in any language), talks to it over real
//! sockets, and checks what crosses the wire byte for byte.
//!
//! Three layers, each using only the ones below it:
//!
//! - [`cmd`]: the commands people run (`check`, `grade`, `batch`, `export`, `bench`, …).
//! - [`grade`]: the grading core — rubrics ([`grade::labs`]), probes, the runner, reports.
//! - [`os`]: processes, containment and `/proc`.
//!
//! and three leaves every layer may use: [`rng`] (seeded randomness, so every run can be
//! repeated), [`output`] (standard output that a reader going away (`| head`) cannot
//! crash, and the status line on a terminal) and [`zip`] (the Gradescope bundle's zip
//! writer, whose CRC-32 the test site's PNG images share).

#[macro_use]
pub mod output;

pub mod cmd;
pub mod grade;
pub mod os;
pub mod rng;
pub mod zip;
