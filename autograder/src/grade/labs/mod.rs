//! The rubrics, one module per lab, and the registry that finds them by name.

pub mod lab1;
pub mod lab2;
pub mod lab3;
pub mod lab4;
pub mod lab5;

use crate::grade::rubric::Lab;

/// Every lab the autograder knows, in course order.
pub static LABS: &[&Lab] = &[&lab1::LAB, &lab2::LAB, &lab3::LAB, &lab4::LAB, &lab5::LAB];

/// The lab named `name` (`lab1`, …).
pub fn find(name: &str) -> Option<&'static Lab> {
    LABS.iter().copied().find(|lab| lab.name == name)
}

/// The names of all labs, for error messages.
pub fn names() -> Vec<&'static str> {
    LABS.iter().map(|lab| lab.name).collect()
}
