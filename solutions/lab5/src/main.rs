//! Lab 5 — HTTP server v2: a concurrent HTTP/1.1 file server.
//!
//! Run it on a directory (the default port is 8080):
//!
//! ```text
//! mkdir -p /tmp/site && echo '<h1>hello</h1>' > /tmp/site/index.html
//! cargo run -p lab5-solution -- --root /tmp/site --verbose
//! ```
//!
//! Poke it from another terminal, or open <http://127.0.0.1:8080/> in a browser:
//!
//! ```text
//! curl -v http://127.0.0.1:8080/                       # status line, headers, body
//! curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/ # "Re-using existing connection"
//! curl -I http://127.0.0.1:8080/index.html              # HEAD: headers only
//! curl -r 0-3 http://127.0.0.1:8080/index.html          # a byte range: 206
//! printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n' | nc 127.0.0.1 8080
//!                                                       # two pipelined requests, two answers
//! ```
//!
//! Press Ctrl-C while a large download runs: the download completes, then the server
//! exits. This file only parses flags, binds and hands over to the library.
//!
//! `--model events` serves the same files with one readiness loop per core instead of a
//! thread per connection (see `events.rs`; the handout's section "A second model").

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lab5_solution::server::{self, Config, ShutdownHandle};
use lab5_solution::{
    events, signals, trace::Trace, DEFAULT_KEEP_ALIVE_SECS, DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT,
};

/// How connections are served.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    /// One thread per connection, blocking calls (what the handout builds).
    Threads,
    /// One readiness loop (epoll, through mio) per core, non-blocking sockets.
    Events,
}

/// A concurrent HTTP/1.1 static file server with persistent connections.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// TCP port to listen on.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to listen on (use 0.0.0.0 or :: to accept other machines).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Directory whose files are served.
    #[arg(long)]
    root: std::path::PathBuf,
    /// Most connections served at once, one thread each; more clients wait their turn
    /// [default: 1024; with `--model events` no cap but the open-files limit].
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds an idle connection (or a slow request head) is waited for.
    #[arg(long, default_value_t = DEFAULT_KEEP_ALIVE_SECS)]
    keep_alive_timeout: u64,
    /// The concurrency model.
    #[arg(long, value_enum, default_value_t = Model::Threads)]
    model: Model,
    /// With `--model events`: how many loops (default: one per core).
    #[arg(long)]
    loops: Option<usize>,
    /// Log every connection and request on standard error.
    #[arg(long)]
    verbose: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = args
        .root
        .canonicalize()
        .with_context(|| format!("cannot serve {}", args.root.display()))?;
    anyhow::ensure!(root.is_dir(), "{} is not a directory", root.display());
    // First, before any thread exists, so that every thread inherits the blocked signals.
    let shutdown = ShutdownHandle::new();
    let handle = shutdown.clone();
    signals::on_termination(move || handle.trigger()).context("cannot handle signals")?;

    if let Err(e) = raise_open_files_limit() {
        eprintln!("lab5: cannot raise the open-files limit: {e}");
    }
    let listener = server::bind(&args.host, args.port)
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    eprintln!(
        "lab5: serving {} on http://{}/",
        root.display(),
        listener.local_addr()?
    );
    let config = Config {
        root,
        keep_alive: Duration::from_secs(args.keep_alive_timeout.max(1)),
        // A connection costs the events model a few KiB, not a thread: it is bounded by
        // the open-files limit, which it raises (see `events::run`).
        max_connections: match (args.threads, args.model) {
            (Some(n), _) => n.max(1),
            (None, Model::Threads) => DEFAULT_MAX_CONNECTIONS,
            (None, Model::Events) => usize::MAX,
        },
    };
    let trace = Arc::new(Trace::new(args.verbose));
    match args.model {
        Model::Threads => server::run(listener, config, trace, shutdown),
        Model::Events => {
            let loops = args.loops.unwrap_or_else(events::default_loops).max(1);
            events::run(listener, config, trace, shutdown, loops)
        }
    }
    .context("the server failed")?;
    eprintln!("lab5: all connections finished; bye");
    Ok(())
}

/// Raises the open-files soft limit to the hard limit (lab 3's `limits.rs` explains the
/// two limits). Shells start programs with a soft limit of 1024, and a connection costs
/// the threads model two descriptors (its socket, and the clone kept for shutdown) and a
/// third while a file is open: at 1024 it would run out near 500 connections, well
/// below its `--threads` cap. The events model holds 10,000 connections.
fn raise_open_files_limit() -> std::io::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct it is given, which lives on our stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
