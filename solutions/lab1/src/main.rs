//! Lab 1 — an iterative echo server.
//!
//! Run it (the default port is 7101):
//!
//! ```text
//! cargo run -p lab1-solution -- --verbose
//! ```
//!
//! Poke it from another terminal:
//!
//! ```text
//! nc 127.0.0.1 7101                      # type a line: it comes straight back
//! printf 'hello' | nc -N 127.0.0.1 7101  # -N half-closes after stdin ends: you get
//!                                        # "hello" back, then the server closes
//! ```
//!
//! Open two `nc` sessions at once and notice that the second one gets no echo until the
//! first one quits: an iterative server serves one client at a time. Labs 2 and 3 fix that.
//!
//! This file only parses flags, binds and hands over to the library, so that tests can
//! drive the same server with a listener bound to port 0.

use anyhow::Context;
use clap::Parser;
use lab1_solution::{server, trace::Trace, DEFAULT_PORT};

/// An iterative echo server: every byte a client sends comes back, one client at a time.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// TCP port to listen on.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to listen on (use 0.0.0.0 or :: to accept other machines).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Print a timestamped line for every socket event (accept, read, write, close).
    #[arg(long)]
    verbose: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let trace = Trace::new(args.verbose);
    let listener = server::bind(&args.host, args.port)
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    eprintln!("lab1: echo server listening on {}", listener.local_addr()?);
    server::run(listener, &trace).context("the accept loop failed")
}
