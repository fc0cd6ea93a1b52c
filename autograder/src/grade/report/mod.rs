//! Turning a grading [`Report`](crate::grade::runner::Report) into text, Gradescope JSON or JUnit.

pub mod gradescope;
pub mod junit;
pub mod text;
pub mod wire;
