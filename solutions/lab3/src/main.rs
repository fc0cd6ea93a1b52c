//! Lab 3 — a single-threaded, event-driven echo server.
//!
//! Run it (the default port is 7103):
//!
//! ```text
//! cargo run -p lab3-solution -- --verbose
//! ```
//!
//! Poke it from other terminals:
//!
//! ```text
//! nc 127.0.0.1 7103                      # type a line: it comes straight back
//! nc 127.0.0.1 7103                      # a second one at the same time: served too
//! top -H -p $(pgrep -n lab3-solution)    # still one thread, however many clients
//! ```
//!
//! With `--verbose`, every wake-up of the poller and every readiness event is printed;
//! when nobody sends anything, nothing is printed: the thread sleeps in the readiness call
//! and uses no CPU (check the `%CPU` column of `top`).
//!
//! This file only parses flags, raises the open-files limit, binds and hands over to the
//! library, so that tests can drive the same server with a listener bound to port 0.

use anyhow::Context;
use clap::Parser;
use lab3_solution::{limits, server, trace::Trace, DEFAULT_PORT};

/// An echo server that serves every client from one thread, with non-blocking sockets.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// TCP port to listen on.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to listen on (use 0.0.0.0 or :: to accept other machines).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Print a timestamped line for every readiness event and socket call.
    #[arg(long)]
    verbose: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let trace = Trace::new(args.verbose);
    match limits::raise_open_files_limit() {
        Ok(l) if l.now > l.before => {
            eprintln!(
                "lab3: open-files limit raised from {} to {}",
                l.before, l.now
            )
        }
        Ok(_) => {}
        // Not fatal: the server works, it just holds fewer clients.
        Err(e) => eprintln!("lab3: cannot raise the open-files limit: {e}"),
    }
    let listener = server::bind(&args.host, args.port)
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    eprintln!("lab3: echo server listening on {}", listener.local_addr()?);
    server::run(listener, &trace).context("the event loop failed")
}
