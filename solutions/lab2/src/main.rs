//! Lab 2 — an echo server with one thread per connection, and a threaded client.
//!
//! Run the server (the default port is 7102):
//!
//! ```text
//! cargo run -p lab2-solution -- --verbose
//! ```
//!
//! Poke it from other terminals:
//!
//! ```text
//! nc 127.0.0.1 7102                      # type a line: it comes straight back
//! nc 127.0.0.1 7102                      # a second one, at the same time: served too
//! top -H -p $(pgrep -n lab2-solution)    # one thread per connected client (+ the main one)
//! ```
//!
//! Unlike lab 1, the second `nc` is echoed while the first is still open: each connection
//! has its own thread. A client's thread is named `c:PORT IP` after the client's address
//! (`c:42264 127.0.0.1`), port first, because Linux keeps only the first 15 bytes of a
//! thread's name and `top -H` shows those: `c:42264 127.0.0`, still one name per client.
//!
//! Then load it with the threaded client: 10 clients at once, each on a thread and a
//! connection of its own, each sending 1 MiB of random bytes and checking every byte of
//! its echo; it prints each client's latency and the total throughput, and exits with
//! status 0 only if every byte came back:
//!
//! ```text
//! cargo run -p lab2-solution -- client --host 127.0.0.1 --port 7102 --clients 10 --bytes 1048576
//! ```
//!
//! This file only parses flags, binds and hands over to the library, so that tests can
//! drive the same server with a listener bound to port 0.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lab2_solution::client::{self, Load, Summary};
use lab2_solution::{server, trace::Trace, DEFAULT_PORT};

/// An echo server that serves every client on a thread of its own, and a threaded client
/// that checks one.
#[derive(Parser, Debug)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Without a subcommand, the server runs.
    #[command(subcommand)]
    command: Option<Command>,
}

/// The server's flags (`lab2 [--port P] [--host H] [--verbose]`).
#[derive(Args, Debug)]
struct ServerArgs {
    /// TCP port to listen on.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to listen on (use 0.0.0.0 or :: to accept other machines).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Print a timestamped line for every socket event, naming the thread that did it.
    #[arg(long)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run N clients at once against an echo server, each on a thread and a connection of
    /// its own, checking every byte of the echo; exit status 0 only if all came back.
    Client(ClientArgs),
}

#[derive(Args, Debug)]
struct ClientArgs {
    /// The echo server's address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The echo server's port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// How many clients run at once (one thread and one connection each).
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// How many random bytes each client sends per round.
    #[arg(long, default_value_t = 1 << 20)]
    bytes: usize,
    /// How many rounds each client runs on its connection.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse() {
        Cli {
            command: Some(Command::Client(args)),
            ..
        } => run_clients(&args),
        Cli { server, .. } => serve(&server).map(|()| ExitCode::SUCCESS),
    }
}

fn serve(args: &ServerArgs) -> anyhow::Result<()> {
    let trace = Arc::new(Trace::new(args.verbose));
    let listener = server::bind(&args.host, args.port)
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    eprintln!("lab2: echo server listening on {}", listener.local_addr()?);
    server::run(listener, trace).context("the accept loop failed")
}

/// Runs the clients, prints the summary, and says which clients failed and why.
fn run_clients(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let addr: SocketAddr = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {}:{}", args.host, args.port))?
        .next()
        .with_context(|| format!("{} has no address", args.host))?;
    let load = Load {
        clients: args.clients,
        bytes: args.bytes,
        rounds: args.rounds,
    };
    let started = Instant::now();
    let results = client::run(addr, &load);
    let summary = Summary::new(&results, started.elapsed());
    println!("{summary}");
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("lab2 client: {error}");
    }
    if summary.all_echoed() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "lab2 client: {} of {} clients failed",
            summary.failed, load.clients
        );
        Ok(ExitCode::FAILURE)
    }
}
