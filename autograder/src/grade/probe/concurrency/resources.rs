//! What serving costs the program: threads and processes, CPU while idle, memory for a
//! client that does not read — and whether one such client stops the others.

use std::io::{ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{chunks, Swarm, MIB, RECV_BUFFER};
use crate::grade::probe::{expect_bytes, Ctx, End, Failure, ProbeResult};

/// While 40-60 clients exchange data, the program has one thread and no child process.
pub fn single_thread(ctx: &mut Ctx) -> ProbeResult {
    // Where threads cannot be counted, the test is skipped before any client connects.
    let server = ctx.server()?;
    server.threads()?;
    let count = ctx.rng.range(40, 60);
    let deadline = ctx.deadline();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        thread::spawn(move || {
            let (mut max_threads, mut kids, mut samples) = (0usize, Vec::<u32>::new(), 0u32);
            while !done.load(Ordering::Relaxed) {
                if let Ok(n) = server.threads() {
                    max_threads = max_threads.max(n);
                }
                // The children scan reads all of /proc: do it every tenth sample only.
                if samples % 10 == 0 {
                    for child in server.children().unwrap_or_default() {
                        if !kids.contains(&child) {
                            kids.push(child);
                        }
                    }
                }
                samples += 1;
                thread::sleep(Duration::from_millis(2));
            }
            (max_threads, kids, samples)
        })
    };
    let result = (|| -> Result<(), Failure> {
        let mut swarm = Swarm::open(ctx.addr(), count, Some(RECV_BUFFER), deadline)?;
        for _ in 0..4 {
            let round = chunks(ctx, count, 1, 32 * 1024);
            swarm.round(round, deadline)?;
        }
        swarm.finish(deadline)
    })();
    done.store(true, Ordering::Relaxed);
    let (max_threads, kids, _) = sampler.join().unwrap_or((0, Vec::new(), 0));
    result?;
    if max_threads > 1 || !kids.is_empty() {
        let mut f = Failure::new(format!(
            "while serving {count} clients the program ran {max_threads} threads and started {} child process(es)",
            kids.len()
        ))
        .expected("one process with one thread, whatever the number of clients")
        .got(format!("up to {max_threads} threads, {} child process(es)", kids.len()))
        .detail("Lab 3 serves every client from one thread: non-blocking sockets and a readiness loop (mio::Poll, epoll, select), no thread or process per client.")
        .reproduce("top -H -p $(pgrep -n YOUR_PROGRAM)   (while a few nc clients are connected: one line only)");
        if max_threads > 1 {
            f = f.detail("Threads were counted in /proc/PID/task. A language runtime that starts helper threads of its own counts too.");
        }
        return Err(f.into());
    }
    Ok(())
}

/// With 100 idle clients connected, the program sleeps: it uses (almost) no CPU.
pub fn idle_cpu(ctx: &mut Ctx) -> ProbeResult {
    // Where CPU time cannot be read, the test is skipped before any client connects.
    let server = ctx.server()?;
    server.cpu()?;
    let count = 100;
    let deadline = ctx.deadline();
    let mut swarm = Swarm::open(ctx.addr(), count, None, deadline)?;
    // One tiny exchange each, so every connection is accepted and registered.
    let round = chunks(ctx, count, 1, 64);
    swarm.round(round, deadline)?;
    // The stimulus: nobody sends anything for two seconds.
    let window = Duration::from_secs(2);
    let (before, t0) = (server.cpu()?, Instant::now());
    thread::sleep(window);
    let (after, elapsed) = (server.cpu()?, t0.elapsed());
    let wall = elapsed.as_secs_f64();
    // "Busy" counts time running *and* time waiting for a CPU, so a loop that never
    // sleeps scores near 100% even on a machine too loaded to actually run it.
    let (fraction, how) = match (before.busy, after.busy) {
        (Some(a), Some(b)) => ((b - a) / wall, "running or ready to run"),
        _ => ((after.running - before.running) / wall, "running"),
    };
    let cpu = format!("{:.2} s of CPU time", after.running - before.running);
    if fraction > 0.25 {
        return Err(Failure::new(format!(
            "with {count} idle clients connected, the program was {how} {:.0}% of a {wall:.1} s window ({cpu})",
            fraction * 100.0
        ))
        .expected("close to 0%: an idle server sleeps in its readiness call (epoll_wait, poll, select) until a socket is ready")
        .got(format!("{:.0}% busy", fraction * 100.0))
        .detail("A loop that tries every socket with non-blocking reads and goes round again (busy polling) burns a whole CPU doing nothing. Block in the readiness call, with no timeout (or a long one).")
        .reproduce("nc 127.0.0.1 PORT  (leave it idle), then: top -p $(pgrep -n YOUR_PROGRAM)   (%CPU should stay at 0)")
        .into());
    }
    swarm.finish(deadline)?;
    Ok(())
}

/// A client that sends a lot and never reads, on a thread of the grader.
struct Hog {
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
    conn: TcpStream,
}

impl Hog {
    /// Connects and starts sending up to `total` bytes (a repeated random block), never
    /// reading; the thread stops when everything is sent, or nothing goes for `patience`.
    fn start(ctx: &mut Ctx, total: usize, patience: Duration) -> Result<Hog, Failure> {
        let conn = ctx.connect()?;
        conn.set_recv_buffer(16 * 1024);
        let stream = conn
            .stream()
            .try_clone()
            .map_err(|e| Failure::new(format!("cannot duplicate socket: {e}")))?;
        let block = ctx.rng.bytes(1 << 20);
        let sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut writer = stream
            .try_clone()
            .map_err(|e| Failure::new(format!("cannot duplicate socket: {e}")))?;
        let _ = writer.set_write_timeout(Some(Duration::from_millis(100)));
        let handle = {
            let (sent, stop) = (sent.clone(), stop.clone());
            thread::spawn(move || {
                let mut last = Instant::now();
                let mut offset = 0;
                while sent.load(Ordering::Relaxed) < total && !stop.load(Ordering::Relaxed) {
                    let end = (offset + 256 * 1024).min(block.len());
                    match writer.write(&block[offset..end]) {
                        Ok(n) => {
                            sent.fetch_add(n, Ordering::Relaxed);
                            offset = (offset + n) % block.len();
                            last = Instant::now();
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock
                                    | ErrorKind::TimedOut
                                    | ErrorKind::Interrupted
                            ) =>
                        {
                            if last.elapsed() >= patience {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            })
        };
        drop(conn);
        Ok(Hog {
            sent,
            stop,
            handle: Some(handle),
            conn: stream,
        })
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    fn running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Waits until the hog has sent everything or is stuck; calls `each` now and then.
    fn wait(&self, deadline: Instant, mut each: impl FnMut()) {
        while self.running() && Instant::now() < deadline {
            each();
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.conn.shutdown(Shutdown::Both);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// While one client sends tens of MiB and never reads, other clients are still served.
pub fn non_reading_client(ctx: &mut Ctx) -> ProbeResult {
    let deadline = ctx.deadline();
    let hog = Hog::start(ctx, 48 * MIB, Duration::from_millis(500))?;
    // Let the hog push until the program stops taking its bytes (or it sent them all).
    hog.wait(deadline, || {});
    let pushed = hog.sent();
    let others = ctx.rng.range(3, 4);
    for _ in 0..others {
        let len = ctx.rng.range(100, 32 * 1024);
        let payload = ctx.rng.bytes(len);
        let mut conn = ctx.connect()?;
        let label = conn.label().to_string();
        let hint = |f: Failure| {
            f.detail(format!(
                "c1 had sent {:.1} MiB and read none of its echo. Meanwhile {label} must be served: a write to c1 that blocks (a blocking socket, or a loop retrying until the write goes through) stops the whole event loop. Keep what c1 cannot take yet, stop reading from c1, and go back to the poller.",
                pushed as f64 / MIB as f64
            ))
            .reproduce(format!(
                "python3 -c \"import socket; s=socket.create_connection(('127.0.0.1',{port})); s.sendall(b'x'*50_000_000)\" & sleep 2; printf hello | nc -N 127.0.0.1 {port}   (expect: hello, at once)",
                port = ctx.reproduce_port
            ))
        };
        conn.send(&payload).map_err(hint)?;
        conn.half_close().map_err(hint)?;
        let echo = conn.recv_to_eof(len + 65536);
        expect_bytes(
            &format!("the echo on {label} while c1 does not read"),
            &payload,
            &echo,
        )
        .map_err(hint)?;
        if echo.end != End::Eof {
            return Err(hint(Failure::new(format!(
                "{label} got its echo but was not closed after its half-close"
            )))
            .into());
        }
    }
    drop(hog);
    Ok(())
}

/// While one client sends tens of MiB and never reads, the program's memory stays bounded.
pub fn bounded_memory(ctx: &mut Ctx) -> ProbeResult {
    // Where memory cannot be read, the test is skipped before any client connects.
    let server = ctx.server()?;
    server.rss()?;
    // Warm up, so one-time allocations are in the baseline.
    crate::grade::probe::echo::short_message(ctx)?;
    let baseline = server.rss()?;
    let deadline = ctx.deadline();
    let total = 48 * MIB;
    let hog = Hog::start(ctx, total, Duration::from_secs(1))?;
    let mut peak = baseline;
    hog.wait(deadline, || {
        if let Ok(rss) = server.rss() {
            peak = peak.max(rss);
        }
    });
    if let Ok(rss) = server.rss() {
        peak = peak.max(rss);
    }
    let pushed = hog.sent();
    drop(hog);
    let growth = peak.saturating_sub(baseline) as usize;
    let limit = 16 * MIB;
    if growth > limit {
        return Err(Failure::new(format!(
            "while a client sent {:.1} MiB without reading its echo, the program's memory grew by {:.1} MiB",
            pushed as f64 / MIB as f64,
            growth as f64 / MIB as f64
        ))
        .expected(format!("growth well under {} MiB: output pending for one client is bounded", limit / MIB))
        .got(format!("resident memory {:.1} MiB → {:.1} MiB", baseline as f64 / MIB as f64, peak as f64 / MIB as f64))
        .detail("Queueing every byte a client sends until it reads its echo lets one client exhaust the server's memory. Once a client's pending output passes a bound (say 64 KiB), stop reading from it (drop READABLE from its interest) until the output drains; TCP flow control then slows the client down.")
        .reproduce(format!(
            "python3 -c \"import socket; s=socket.create_connection(('127.0.0.1',{})); s.sendall(b'x'*100_000_000)\" & sleep 2; grep VmRSS /proc/$(pgrep -n YOUR_PROGRAM)/status",
            ctx.reproduce_port
        ))
        .into());
    }
    Ok(())
}
