//! Lab 3 — a single-threaded, event-driven echo server.
//!
//! Run it (the default port is 7103):
//!
//! ```text
//! cargo run -p lab3 -- --verbose
//! ```
//!
//! Poke it from other terminals:
//!
//! ```text
//! nc 127.0.0.1 7103                      # type a line: it comes straight back
//! nc 127.0.0.1 7103                      # a second one at the same time: served too
//! top -H -p $(pgrep -n lab3)    # still one thread, however many clients
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
use lab3::{limits, server, trace::Trace, DEFAULT_PORT};

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
    point_unfinished_steps_to_the_handout();
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

/// Reports an unfinished step (a `todo` placeholder the program reached) as a step of the
/// handout, saying where to write the code and how to check it, instead of a bare panic.
/// Only the stub has this; once every step is done it never fires.
fn point_unfinished_steps_to_the_handout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let Some(step) = info
            .payload_as_str()
            .and_then(|m| m.strip_prefix("not yet implemented: "))
        else {
            return default_hook(info);
        };
        let place = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        // The first two lines keep the shape of Rust's own panic message, which
        // `autograder check` reads to name the step in its report.
        eprintln!(
            "lab3 panicked at {place}:\nnot yet implemented: {step}\n\n\
             This step is not written yet. Read it in the handout, replace the placeholder at\n\
             {place} with your code, then check your work with:\n    \
             cargo run -p autograder -- check lab3"
        );
    }));
}
