//! The autograder's own tests: one integration-test binary, so it links once.
//!
//! They prove the rubric both ways: reference solutions get full marks, untouched stubs
//! get zero, and each buggy program in `corpus/` fails exactly the tests meant to catch
//! its mistake (and passes the others).

#[macro_use]
mod support;

mod batch;
mod bench;
mod capture;
mod check;
mod cli;
mod export;
mod gradebook;
mod handouts;
mod lab1;
mod lab2;
mod lab3;
mod lab4;
mod lab5;
mod layers;
mod mutation;
mod report;
mod rubric;
mod steps;
mod thirdparty;
mod thirdparty_ftp;
mod thirdparty_http;
mod watch;
mod workspace;
