//! A hostile submission for the batch grader's tests: one program, one misbehaviour per mode.
//!
//! ```text
//! hostile MODE --port PORT
//! ```
//!
//! Modes that also serve byte echo correctly (so they earn their points, and the test is
//! that nothing of them survives): `double-fork`, `setsid`, `fork-bomb`, `ignore-term`,
//! `pid-hop` (a child that forks its successor and exits, forever).
//! Modes that never serve: `flood` (prints without end), `memory-hog` (listens, then grows
//! without bound and never answers), `never-listen`,
//! `wrong-port` (listens on PORT+1), `hang` (accepts, reads, never answers).
//!
//! Every process it creates records its pid as an empty file in `$NETLABS_HOSTILE_PIDS`
//! (when set), so a test can check afterwards that none is still alive.
//!
//! Built with plain `rustc` (no crates), so the few system calls are declared by hand.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

extern "C" {
    fn fork() -> i32;
    fn setsid() -> i32;
    fn getpid() -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
}

const SIGTERM: i32 = 15;
const SIG_IGN: usize = 1;

fn record_pid() {
    if let Some(dir) = std::env::var_os("NETLABS_HOSTILE_PIDS") {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { getpid() };
        let _ = std::fs::File::create(std::path::Path::new(&dir).join(pid.to_string()));
    }
}

/// Forks; the child runs `f` and never returns. Returns the child's pid to the parent.
fn spawn_child(f: impl FnOnce()) -> i32 {
    // SAFETY: the child only uses async-signal-safe-enough std calls before `f`, and this
    // program forks before it starts any thread.
    let pid = unsafe { fork() };
    if pid == 0 {
        record_pid();
        f();
        std::process::exit(0);
    }
    pid
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn serve_echo(listener: TcpListener) -> ! {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut buf = [0u8; 16384];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    let _ = stream.shutdown(Shutdown::Both);
                    break;
                }
                Ok(n) => {
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
    sleep_forever()
}

fn main() {
    record_pid();
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .expect("usage: hostile MODE --port PORT");
    match mode.as_str() {
        "pid-hop" => {
            // A process that never keeps its pid: each generation forks the next and
            // exits, so a kill aimed at a pid read a moment ago always misses.
            spawn_child(|| loop {
                // SAFETY: as in spawn_child; this process has no threads.
                if unsafe { fork() } != 0 {
                    std::process::exit(0);
                }
                record_pid();
                std::thread::sleep(Duration::from_millis(20));
            });
        }
        "double-fork" => {
            // The classic daemon: fork, new session, fork again, the middle one exits.
            spawn_child(|| {
                // SAFETY: setsid has no preconditions.
                unsafe { setsid() };
                spawn_child(|| sleep_forever());
            });
        }
        "setsid" => {
            spawn_child(|| {
                // SAFETY: setsid has no preconditions.
                unsafe { setsid() };
                sleep_forever();
            });
        }
        "fork-bomb" => {
            // Hundreds of processes: 20 children with 15 grandchildren each, half of the
            // children in sessions of their own.
            for i in 0..20 {
                spawn_child(move || {
                    if i % 2 == 0 {
                        // SAFETY: setsid has no preconditions.
                        unsafe { setsid() };
                    }
                    for _ in 0..15 {
                        spawn_child(|| sleep_forever());
                    }
                    sleep_forever();
                });
            }
        }
        "ignore-term" => {
            // SAFETY: ignoring a signal has no memory-safety preconditions.
            unsafe { signal(SIGTERM, SIG_IGN) };
        }
        "flood" => {
            let mut out = std::io::stdout().lock();
            let line = b"flooding the grader with output, line after line after line\n";
            loop {
                if out.write_all(line).is_err() {
                    sleep_forever();
                }
            }
        }
        "memory-hog" => {
            // Listens at once (so the grader gets as far as probing), then grows without
            // bound and never answers: only the memory limit ends it.
            let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
            std::thread::spawn(|| {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Touch every page, so the memory is resident and not just reserved.
                    hoard.push(vec![0x5a; 16 << 20]);
                }
            });
            let mut held: Vec<TcpStream> = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
            sleep_forever();
        }
        "never-listen" => sleep_forever(),
        "wrong-port" => {
            let listener = TcpListener::bind(("127.0.0.1", port.wrapping_add(1))).expect("bind");
            serve_echo(listener);
        }
        "hang" => {
            let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
            let mut held: Vec<TcpStream> = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
            sleep_forever();
        }
        other => panic!("unknown mode {other:?}"),
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    serve_echo(listener);
}
