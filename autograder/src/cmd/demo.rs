//! `autograder demo concurrency`: the lecture's point, live in one terminal.
//!
//! It starts the echo servers of labs 1, 2 and 3 (the reference solutions, or programs
//! given with `--program NAME=COMMAND`), then lets a few *slow* clients talk to each of
//! them at the same time. A slow client types its message one byte at a time, waiting
//! for each echo before the next keystroke, like a person at `nc`. What you see:
//!
//! - the iterative server (lab 1) serves one client; the others connect (the kernel
//!   completes their handshake into the listen backlog) but get no echo until the client
//!   before them has left, so they finish one after another;
//! - the threaded (lab 2) and event-driven (lab 3) servers serve everybody together, so
//!   all clients finish at about the same time.
//!
//! Then, unless `--no-bench`, it measures the same servers with `autograder bench`
//! (throughput and p99 latency against clients) and writes the graph.
//!
//! ```text
//! cargo run --release -p autograder -- demo concurrency
//! cargo run --release -p autograder -- demo concurrency --clients 4 --out /tmp/demo
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::cmd::bench::{self, BenchOptions, Target};
use crate::os::harness::Program;
use crate::rng::Rng;

/// What each slow client types, one byte at a time.
const MESSAGE: &[u8] = b"hello, server!\n";
/// The pause between keystrokes (the stimulus that makes a client slow).
const KEYSTROKE: Duration = Duration::from_millis(80);
/// How long a client waits for one echo before giving up.
const ECHO_LIMIT: Duration = Duration::from_secs(60);

/// `autograder demo`'s arguments.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// What to show. Only `concurrency` exists: iterative vs threaded vs event-driven.
    pub topic: String,
    /// Slow clients per server.
    #[arg(long, default_value_t = 3)]
    pub clients: usize,
    /// The servers to compare, as `NAME=COMMAND` (default: the reference solutions of
    /// labs 1, 2 and 3 that exist in this workspace).
    #[arg(long, value_name = "NAME=COMMAND")]
    pub program: Vec<String>,
    /// Skip the bench graph at the end.
    #[arg(long)]
    pub no_bench: bool,
    /// Seconds of load per client count in the bench.
    #[arg(long, default_value_t = 1.0)]
    pub bench_duration: f64,
    /// Directory for the bench's bench.csv and bench.svg.
    #[arg(long, default_value = "demo-concurrency")]
    pub out: PathBuf,
}

/// Something that happened to one client, for the live log.
struct Event {
    at: Duration,
    server: usize,
    client: usize,
    what: Happening,
}

enum Happening {
    Connected,
    FirstEcho,
    Done,
    Failed(String),
}

impl DemoArgs {
    /// Runs the demo.
    ///
    /// # Errors
    /// Unknown topic, a build failure, or a server that cannot be started.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        if self.topic != "concurrency" {
            bail!("unknown demo `{}`; the demos are: concurrency", self.topic);
        }
        if self.clients == 0 {
            bail!("--clients must be at least 1");
        }
        let targets = self.targets()?;
        // Labs 1-3 share the echo protocol and launch contract: lab 1's stands for all.
        let lab = bench::bench_lab("lab1")?;
        crate::os::process::raise_open_files_limit();
        let mut rng = Rng::new(Rng::fresh_seed());
        let mut servers = Vec::new();
        for t in &targets {
            let server = bench::start_server(&t.program, lab, "127.0.0.1", 1024, &mut rng)
                .with_context(|| format!("cannot start {}", t.label))?;
            servers.push(server);
        }
        let width = targets.iter().map(|t| t.label.len()).max().unwrap_or(8);
        sayln!(
            "{} slow clients per server type {:?} one byte every {} ms, all at once:\n",
            self.clients,
            String::from_utf8_lossy(MESSAGE),
            KEYSTROKE.as_millis()
        );
        let start = Instant::now();
        let (tx, rx) = mpsc::channel();
        for (s, server) in servers.iter().enumerate() {
            for c in 0..self.clients {
                let tx = tx.clone();
                let addr = server.addr;
                thread::spawn(move || slow_client(addr, start, s, c, &tx));
            }
        }
        drop(tx);
        // finished[s][c] = (first echo, done) times.
        let mut first = vec![vec![None; self.clients]; servers.len()];
        let mut done = vec![vec![None; self.clients]; servers.len()];
        for e in rx {
            let label = &targets[e.server].label;
            let line = match &e.what {
                Happening::Connected => "connected".to_string(),
                Happening::FirstEcho => {
                    first[e.server][e.client] = Some(e.at);
                    if e.at > KEYSTROKE * 2 {
                        format!("first echo — after waiting {:.1} s", e.at.as_secs_f64())
                    } else {
                        "first echo".to_string()
                    }
                }
                Happening::Done => {
                    done[e.server][e.client] = Some(e.at);
                    "done: whole message echoed".to_string()
                }
                Happening::Failed(why) => format!("FAILED: {why}"),
            };
            sayln!(
                "  {:>5.2} s  {label:<width$}  client {}  {line}",
                e.at.as_secs_f64(),
                e.client + 1
            );
        }
        sayln!("\nWhen each client got its first echo and when it finished (seconds):\n");
        for (s, t) in targets.iter().enumerate() {
            let cells: Vec<String> = (0..self.clients)
                .map(|c| match (first[s][c], done[s][c]) {
                    (Some(f), Some(d)) => {
                        format!("{:.1}→{:.1}", f.as_secs_f64(), d.as_secs_f64())
                    }
                    _ => "failed".into(),
                })
                .collect();
            let spread = done[s]
                .iter()
                .flatten()
                .map(Duration::as_secs_f64)
                .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let verdict = if done[s].iter().any(Option::is_none) {
                "some clients failed"
            } else if spread.1 - spread.0 > 0.5 * per_client().as_secs_f64() {
                "one at a time: each client waited for the one before"
            } else {
                "served together"
            };
            sayln!("  {:<width$}  {}   {verdict}", t.label, cells.join("  "));
        }
        drop(servers); // tears the servers down before the bench starts its own

        if !self.no_bench {
            sayln!("\nMeasuring them with `autograder bench lab1` …\n");
            let options = BenchOptions {
                clients: vec![1, 2, 4, 8, 16, 32],
                duration: Duration::from_secs_f64(self.bench_duration.max(0.1)),
                size: 1024,
                host: "127.0.0.1".into(),
                threads: thread::available_parallelism().map_or(2, |n| n.get()),
            };
            let rows = bench::run(lab, &targets, &options, &mut |r| {
                eprintln!(
                    "  {:<width$} {:>3} clients: {:>9.0} req/s",
                    r.program, r.clients, r.requests_per_sec
                );
            })?;
            let (csv, svg) = bench::write_outputs(
                &self.out,
                "echo servers: iterative vs threaded vs event-driven",
                &rows,
            )?;
            say!("\n{}", bench::table(&rows));
            sayln!("wrote {} and {}", csv.display(), svg.display());
        }
        Ok(ExitCode::SUCCESS)
    }

    fn targets(&self) -> anyhow::Result<Vec<Target>> {
        if !self.program.is_empty() {
            let mut targets = Vec::new();
            for spec in &self.program {
                let (name, command) = spec
                    .split_once('=')
                    .with_context(|| format!("--program wants NAME=COMMAND, got `{spec}`"))?;
                targets.push(Target {
                    label: name.to_string(),
                    program: Program::new(bench::split_words(command)?),
                });
            }
            return Ok(targets);
        }
        let root = crate::os::cargo::workspace_root()?;
        let mut targets = Vec::new();
        for lab in ["lab1", "lab2", "lab3"] {
            if !root.join("solutions").join(lab).is_dir() {
                eprintln!("(skipping {lab}: solutions/{lab} is not in this workspace)");
                continue;
            }
            let package = format!("{lab}-solution");
            eprintln!("Building {package} (release) …");
            let exe = crate::os::cargo::build(&root, &package, true)?;
            targets.push(Target {
                label: package,
                program: Program::new(vec![exe.to_string_lossy().into_owned()]),
            });
        }
        if targets.is_empty() {
            bail!("no reference solutions found; give servers with --program NAME=COMMAND");
        }
        Ok(targets)
    }
}

/// How long one client needs when it is served at once.
fn per_client() -> Duration {
    KEYSTROKE * MESSAGE.len() as u32
}

/// Types MESSAGE one byte at a time, waiting for each echo, and reports what happens.
fn slow_client(
    addr: SocketAddr,
    start: Instant,
    server: usize,
    client: usize,
    tx: &mpsc::Sender<Event>,
) {
    let send = |what: Happening| {
        let _ = tx.send(Event {
            at: start.elapsed(),
            server,
            client,
            what,
        });
    };
    let result = (|| -> std::io::Result<()> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(ECHO_LIMIT))?;
        send(Happening::Connected);
        let mut byte = [0u8; 1];
        for (i, &b) in MESSAGE.iter().enumerate() {
            if i > 0 {
                // The stimulus: a person typing, not a wait for something to settle.
                thread::sleep(KEYSTROKE);
            }
            stream.write_all(&[b])?;
            stream.read_exact(&mut byte)?;
            if byte[0] != b {
                return Err(std::io::Error::other(format!(
                    "sent {:?}, got {:?} back",
                    b as char, byte[0] as char
                )));
            }
            if i == 0 {
                send(Happening::FirstEcho);
            }
        }
        send(Happening::Done);
        Ok(())
    })();
    if let Err(e) = result {
        send(Happening::Failed(e.to_string()));
    }
}
