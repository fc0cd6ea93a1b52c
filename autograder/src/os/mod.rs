//! # The OS layer: processes, containment and `/proc`
//!
//! Everything that talks to the kernel about processes rather than sockets: it knows
//! nothing of rubrics or labs.
//!
//! - [`harness`]: starts programs in their own process group, waits until they listen,
//!   and always tears them down.
//! - [`sandbox`]: containment of untrusted submissions (bubblewrap, cgroups, subreaper
//!   sweep, rlimits) — a new containment rule goes here.
//! - [`process`]: a handle on the program under test (threads, memory, CPU, exit, a
//!   graceful stop) for probes and the bench, and the grader's own limits and CPU time.
//! - [`procfs`]: facts about processes from Linux's `/proc` (the one reader of processes' entries).
//! - [`cleanup`]: the registry of live process groups, killed if the grader is interrupted.
//! - [`capture`]: every packet of the grader's own network namespace, saved per test as
//!   pcap files (`--capture`).
//! - [`cargo`]: finding the workspace and building a lab's package (contained).

pub mod capture;
pub mod cargo;
pub mod cleanup;
pub mod harness;
pub mod process;
pub mod procfs;
pub mod sandbox;
