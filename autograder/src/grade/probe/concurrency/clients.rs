//! Who gets served: a stalled client, a hundred clients at once, a burst of short
//! connections, a thousand connections held open.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::swarm::CONNECT_LIMIT;
use super::{chunks, Swarm, MIB, RECV_BUFFER};
use crate::grade::probe::{
    expect_bytes, Ctx, End, Failure, ProbeResult, Received, Symptom, Verdict, IDLE_LIMIT,
};
use crate::os::process;

/// A client that connects first and stalls mid-message must not hold up later clients.
pub fn stalled_client(ctx: &mut Ctx) -> ProbeResult {
    let first_part = format!("the first half of a slow message {} ", ctx.rng.token(8)).into_bytes();
    let second_part = format!("and its second half {}", ctx.rng.token(8)).into_bytes();
    let mut slow = ctx.connect()?;
    slow.send(&first_part)?;
    // Its first half comes back: the program is serving this client now (an iterative
    // server is now blocked reading from it).
    let echo = slow.recv_exact(first_part.len());
    expect_bytes("the echo of the first half on c1", &first_part, &echo)?;
    let later = ctx.rng.range(3, 5);
    for i in 2..=later + 1 {
        let len = ctx.rng.range(10, 4000);
        let payload = ctx.rng.bytes(len);
        let mut conn = ctx.connect()?;
        conn.send(&payload)?;
        conn.half_close()?;
        let echo = conn.recv_to_eof(len + 65536);
        let stall = |f: Failure| {
            f.detail(format!(
                "c1 connected first, sent half a message and is waiting, its connection open. Client c{i} came later and must be served meanwhile: a server that serves one client at a time is stuck reading from c1."
            ))
            .symptom(Symptom::Stalled)
            .reproduce(format!(
                "nc 127.0.0.1 {port}   (type something, no Enter, keep it open; then in another terminal:)   printf hello | nc -N 127.0.0.1 {port}",
                port = ctx.reproduce_port
            ))
        };
        expect_bytes(
            &format!("the echo on c{i} while c1 stalls"),
            &payload,
            &echo,
        )
        .map_err(stall)?;
        if echo.end != End::Eof {
            return Err(stall(Failure::new(format!(
                "c{i} got its echo but its connection was not closed after its half-close"
            )))
            .into());
        }
    }
    // The stalled client finishes its message and must get the rest of its echo.
    slow.send(&second_part)?;
    slow.half_close()?;
    let echo = slow.recv_to_eof(second_part.len() + 65536);
    expect_bytes("the echo of the second half on c1", &second_part, &echo)?;
    if echo.end != End::Eof {
        return Err(Failure::new("c1 got its echo but was not closed after its half-close").into());
    }
    Ok(())
}

/// 100-120 clients connected at once exchange random chunks in lock-step rounds.
pub fn many_clients(ctx: &mut Ctx) -> ProbeResult {
    let count = ctx.rng.range(100, 120);
    let deadline = ctx.deadline();
    // Small receive buffers (see RECV_BUFFER): the program's writes fill them while the
    // grader is busy with other clients, so its writes come back partial or block.
    let mut swarm = Swarm::open(ctx.addr(), count, Some(RECV_BUFFER), deadline)?;
    for n in 0..3 {
        let mut round = chunks(ctx, count, 1, 48 * 1024);
        let result = if n == 0 {
            // One client sends until the program stops taking its bytes (up to 24 MiB,
            // more than the kernel's buffers hold, so that only a program that buffers
            // without bound takes it all) and reads its echo only once every other client
            // has had theirs: whatever serves it is stuck in a write meanwhile, or has
            // stopped reading from it.
            let held = ctx.rng.range(0, count - 1);
            let block = ctx.rng.bytes(MIB);
            round[held] = block.repeat(24);
            swarm.round_holding(round, held, deadline)
        } else {
            swarm.round(round, deadline)
        };
        result.map_err(|f| reproduce_many(f, ctx.reproduce_port))?;
    }
    swarm.finish(deadline)?;
    Ok(())
}

fn reproduce_many(f: Failure, port: u16) -> Failure {
    f.reproduce(format!(
        "for i in 1 2 3; do (printf 'client '$i; sleep 3) | nc 127.0.0.1 {port} & done; wait   (each should print its own line at once)"
    ))
}

/// Several hundred short connections from a few client threads; afterwards the program
/// must hold no more file descriptors than before.
pub fn connection_burst(ctx: &mut Ctx) -> ProbeResult {
    let total = ctx.rng.range(300, 400);
    let workers = 8;
    let addr = ctx.addr();
    let deadline = ctx.deadline();
    // Warm up: the first client may make a runtime open files it keeps (a poller, say).
    crate::grade::probe::echo::short_message(ctx)?;
    let server = ctx.server()?;
    let before = server.open_files();
    let next = Arc::new(AtomicUsize::new(0));
    let failure: Arc<Mutex<Option<Failure>>> = Arc::new(Mutex::new(None));
    // One payload for the whole burst. This test is about opening and closing many
    // connections; whether each client gets its own bytes back is `many-clients`' job, and
    // a shared payload keeps a server that mixes clients' bytes from failing here by chance.
    let len = ctx.rng.range(1, 200);
    let payload = Arc::new(ctx.rng.bytes(len));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (next, failure, payload) = (next.clone(), failure.clone(), payload.clone());
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                if let Err(f) = short_connection(addr, &payload, deadline) {
                    let f = f.detail(format!(
                        "(connection {} of {} in a burst of short connections)",
                        i + 1,
                        total
                    ));
                    failure
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(f);
                    return;
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    if let Some(f) = failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(f.into());
    }
    let Ok(before) = before else {
        return Err(Verdict::Skip(format!(
            "the burst of {total} connections was served, but this system has no /proc to count the program's file descriptors"
        )));
    };
    // Closing is the server's last step after the client has its echo: give it time.
    let slack = 8;
    let wait_until = Instant::now() + Duration::from_secs(5);
    // A program gone by now holds nothing; the check after the test reports its end.
    let mut now_open = server.open_files().unwrap_or(0);
    while now_open > before + slack && Instant::now() < wait_until.min(deadline) {
        thread::sleep(Duration::from_millis(20));
        now_open = server.open_files().unwrap_or(0);
    }
    if now_open > before + slack {
        return Err(Failure::new(format!(
            "after {total} short connections, all finished by their clients, the program holds {now_open} open file descriptors (it held {before} before the burst)"
        ))
        .expected(format!("about {before} descriptors once every client is gone"))
        .got(format!("{} more", now_open - before))
        .detail("Every accepted connection is a file descriptor until it is closed. Drop (close) each connection's socket when its client is done, and keep no copies of it (clones, a list of all clients).")
        .reproduce(format!(
            "for i in $(seq 300); do printf x | nc -N 127.0.0.1 {} >/dev/null; done; ls /proc/$(pgrep -n YOUR_PROGRAM)/fd | wc -l",
            ctx.reproduce_port
        ))
        .into());
    }
    Ok(())
}

/// One short connection: send, half-close, expect the echo and the close.
fn short_connection(addr: SocketAddr, payload: &[u8], deadline: Instant) -> Result<(), Failure> {
    let limit = deadline
        .saturating_duration_since(Instant::now())
        .min(CONNECT_LIMIT);
    if limit.is_zero() {
        return Err(Failure::new("the test ran out of time during the burst"));
    }
    let mut s = TcpStream::connect_timeout(&addr, limit)
        .map_err(|e| Failure::new(format!("could not connect: {e}")))?;
    let _ = s.set_read_timeout(Some(IDLE_LIMIT));
    let _ = s.set_write_timeout(Some(IDLE_LIMIT));
    s.write_all(payload)
        .map_err(|e| Failure::new(format!("sending {} bytes failed: {e}", payload.len())))?;
    s.shutdown(Shutdown::Write)
        .map_err(|e| Failure::new(format!("half-close failed: {e}")))?;
    let mut got = Vec::new();
    let end = match s.read_to_end(&mut got) {
        Ok(_) => End::Eof,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => End::TimedOut,
        Err(e) => End::Error(e.to_string()),
    };
    let received = Received { bytes: got, end };
    expect_bytes("the echo of a short connection", payload, &received)?;
    if received.end != End::Eof {
        return Err(Failure::new("the connection was not closed after the echo"));
    }
    Ok(())
}

/// 1,000 clients connected at the same time each get their own echo.
pub fn thousand_clients(ctx: &mut Ctx) -> ProbeResult {
    // More than 1024: above FD_SETSIZE (so a select() loop fails) and above the soft limit
    // on open files every program starts with (so one that never raises it fails).
    let count = ctx.rng.range(1100, 1200);
    let have = process::raise_open_files_limit();
    let need = count as u64 + 100;
    if have < need {
        return Err(Verdict::Skip(format!(
            "the grader may open only {have} files here (it needs {need}); raise the hard limit (`ulimit -Hn`) to run this test"
        )));
    }
    let deadline = ctx.deadline();
    let mut swarm = Swarm::open(ctx.addr(), count, None, deadline).map_err(|f| {
        f.detail(format!("Every connection is a file descriptor: a server limited to 1024 open files (the usual soft limit, which the grader starts every program with; see `ulimit -n`) cannot hold {count} clients plus its own files. Raise the soft limit to the hard limit at start (setrlimit(RLIMIT_NOFILE)). A loop on select() cannot watch descriptors numbered 1024 and above at all (FD_SETSIZE): use poll, epoll or mio."))
    })?;
    for _ in 0..2 {
        let round = chunks(ctx, count, 1, 512);
        swarm.round(round, deadline)?;
    }
    swarm.finish(deadline)?;
    Ok(())
}
