//! Concurrency: many keep-alive clients at once, a stalled client beside busy ones,
//! many downloads, memory while serving a large file, and a graceful shutdown.

use super::*;

/// Many keep-alive connections at once, served in an order no serial server can follow.
pub fn concurrent_keep_alive(ctx: &mut Ctx) -> ProbeResult {
    let n = 24;
    let body = format!("shared {}\n", ctx.rng.token(30));
    put(ctx, "s.txt", body.as_bytes())?;
    let h = host(ctx);
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(client(ctx)?);
    }
    // The last connection asks first: a server that serves connections one at a time
    // (or has fewer workers than connections) is still waiting on the first one.
    for round in 0..2 {
        for (i, c) in clients.iter_mut().enumerate().rev() {
            let req = Request::get("/s.txt", &h);
            let r = c.exchange(&req).map_err(|e| {
                e.detail(format!(
                    "{n} connections were open at once (idle keep-alive connections, like a few browsers'); \
                     this was connection {} of {n}, round {} of 2, asked while the earlier ones sat idle.",
                    i + 1,
                    round + 1
                ))
                .detail("A server that serves one connection until it closes, or a fixed pool smaller than the number of open connections, leaves this client waiting.")
            })?;
            expect_ok_body(&r, body.as_bytes(), &req)?;
            if r.closes() {
                return Err(not_kept_alive(&format!("connection {}", i + 1), &r).into());
            }
        }
    }
    Ok(())
}

/// A client that stalls in the middle of its request line does not delay others.
pub fn stalled_client(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "q.txt", b"quick\n")?;
    let h = host(ctx);
    let mut stalled = client(ctx)?;
    stalled.send_bytes(b"GET /q.tx")?;
    let mut stalled2 = client(ctx)?;
    stalled2.send_bytes(format!("GET /q.txt HTTP/1.1\r\nHost: {h}\r\nX-Half: ").as_bytes())?;
    for i in 0..6 {
        let req = Request::new("GET", "/q.txt", &h, &[("Connection", "close")]);
        let mut c = client(ctx)?;
        let r = c.exchange(&req).map_err(|e| {
            e.detail(format!(
                "Two other clients had sent half a request and stalled; this was client {} of 6. \
                 Reading a request must happen on the connection's own thread (or be non-blocking), never in the accept loop.",
                i + 1
            ))
        })?;
        expect_ok_body(&r, b"quick\n", &req)?;
    }
    stalled
        .conn()
        .stream()
        .shutdown(std::net::Shutdown::Both)
        .ok();
    stalled2
        .conn()
        .stream()
        .shutdown(std::net::Shutdown::Both)
        .ok();
    Ok(())
}

/// Hundreds of clients download one large file at once; all make progress.
pub fn many_downloads(ctx: &mut Ctx) -> ProbeResult {
    const CLIENTS: usize = 100;
    const FIRST: u64 = 64 * 1024;
    let size = ctx.rng.range(6 << 20, 8 << 20);
    let data = Arc::new(ctx.rng.bytes(size));
    let name = format!("big-{}.bin", ctx.rng.token(6));
    put(ctx, &name, &data)?;
    let h = host(ctx);
    let target = format!("/{name}");
    let mut conns = Vec::new();
    for _ in 0..CLIENTS {
        let c = ctx.connect()?;
        // A small receive buffer, so the kernel cannot absorb the file for the client:
        // a server thread writing to a client that pauses really has to wait.
        c.set_recv_buffer(32 * 1024);
        conns.push(c);
    }
    let phase1_deadline = Instant::now() + Duration::from_secs(25).min(ctx.remaining() / 2);
    let started = Arc::new(AtomicUsize::new(0));
    // The gate opens when every client has its first bytes (or the probe gives up).
    let gate = Arc::new(AtomicBool::new(false));
    let hold_until = phase1_deadline + Duration::from_secs(2);
    let errors: Arc<Mutex<Vec<Failure>>> = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for conn in conns {
        let (data, started, gate, errors) = (
            Arc::clone(&data),
            Arc::clone(&started),
            Arc::clone(&gate),
            Arc::clone(&errors),
        );
        let wait_at_gate = move || {
            while !gate.load(Ordering::SeqCst) && Instant::now() < hold_until {
                thread::sleep(Duration::from_millis(5));
            }
        };
        let req = Request::get(&target, &h);
        let tuner = conn.try_clone()?;
        handles.push(
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut c = Client::new(conn);
                    let mut got: u64 = 0;
                    let mut waited = false;
                    let mut arrived = false;
                    let result = c.send(&req).and_then(|()| {
                        c.read_response_with(&req, &mut |chunk| {
                            let at = got as usize;
                            if data.get(at..at + chunk.len()) != Some(chunk) {
                                return Err(Failure::new(format!(
                                    "a download's bytes differ from the file at byte {at}"
                                )));
                            }
                            got += chunk.len() as u64;
                            if !waited && got >= FIRST {
                                // Hold this download here until every client has got this far:
                                // only a server that serves all of them at once gets through.
                                waited = true;
                                arrived = true;
                                started.fetch_add(1, Ordering::SeqCst);
                                wait_at_gate();
                                // The point is made; read the rest at full speed.
                                tuner.set_recv_buffer(1 << 20);
                            }
                            Ok(())
                        })
                    });
                    if !arrived {
                        started.fetch_add(1, Ordering::SeqCst);
                    }
                    match result {
                        Ok(r) if r.status == 200 && got == data.len() as u64 => {}
                        Ok(r) => {
                            errors
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(Failure::new(format!(
                                    "a download ended with status {} after {got} of {} bytes",
                                    r.status,
                                    data.len()
                                )))
                        }
                        Err(e) => errors.lock().unwrap_or_else(|e| e.into_inner()).push(e),
                    }
                    arrived
                }),
        );
    }
    // Wait until every client has its first 64 KiB (or failed), or the deadline.
    while started.load(Ordering::SeqCst) < CLIENTS && Instant::now() < phase1_deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let reached = started.load(Ordering::SeqCst);
    // Let the parked clients go on in any case: on failure they run into the program's
    // teardown and end; they never outlive the grader's patience.
    gate.store(true, Ordering::SeqCst);
    if reached < CLIENTS {
        // Some clients never got their first bytes: the others are parked at the
        // barrier. Give up; the program's teardown ends their connections.
        return Err(Failure::new(format!(
            "{CLIENTS} clients downloaded a {size}-byte file at once; after {:.0} s only {reached} had received their first 64 KiB, while the others got nothing",
            Duration::from_secs(25).as_secs_f64()
        ))
        .detail("Each client paused after its first 64 KiB until all had started. A server with a fixed number of workers that each stream a whole file is stuck on the paused clients; the rest starve.")
        .detail("Serve each connection on its own thread (or with non-blocking I/O), and stream files in chunks.")
        .into());
    }
    let mut progressed = 0;
    for handle in handles {
        if handle.is_ok_and(|h| h.join().unwrap_or(false)) {
            progressed += 1;
        }
    }
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(first) = errors.into_iter().next() {
        return Err(first
            .detail(format!(
                "{progressed} of {CLIENTS} parallel downloads got past their first 64 KiB."
            ))
            .into());
    }
    Ok(())
}

/// Serving a large file does not load it into memory.
pub fn large_file_memory(ctx: &mut Ctx) -> ProbeResult {
    const SIZE: u64 = 256 << 20;
    const LIMIT: u64 = 96 << 20;
    // Before anything is sent: where the peak cannot be read, the test is skipped, not run.
    let server = ctx.server()?;
    server.peak_rss()?;
    // A sparse file: huge, yet it costs the grader no disk writes. Its bytes are zeros,
    // except for a random marker at the start and at the end.
    let marker = ctx.rng.bytes(64);
    let path = ctx.root.join("huge.iso");
    let write = || -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&marker)?;
        f.set_len(SIZE)?;
        f.seek(SeekFrom::Start(SIZE - 64))?;
        f.write_all(&marker)
    };
    write().map_err(|e| Failure::new(format!("the grader could not create a large file: {e}")))?;
    let h = host(ctx);
    let mut c = client(ctx)?;
    let req = Request::get("/huge.iso", &h);
    let mut got = 0u64;
    let zeros = vec![0u8; 64 * 1024];
    let r = c.exchange_with(&req, &mut |chunk| {
        // Compare slices, not bytes one by one: this runs over hundreds of MiB.
        let mut at = got;
        let mut rest = chunk;
        while !rest.is_empty() {
            let (want, len): (&[u8], usize) = if at < 64 {
                let n = (64 - at as usize).min(rest.len());
                (&marker[at as usize..at as usize + n], n)
            } else if at >= SIZE - 64 {
                let from = (at - (SIZE - 64)) as usize;
                let n = (64 - from).min(rest.len());
                (&marker[from..from + n], n)
            } else {
                let n = ((SIZE - 64 - at) as usize).min(rest.len()).min(zeros.len());
                (&zeros[..n], n)
            };
            if rest[..len] != *want {
                return Err(Failure::new(format!(
                    "the download of a {SIZE}-byte file differs from it near byte {at}"
                )));
            }
            rest = &rest[len..];
            at += len as u64;
        }
        got = at;
        Ok(())
    })?;
    expect_status(&r, &[200], &req)?;
    if got != SIZE {
        return Err(Failure::new(format!(
            "the download of a {SIZE}-byte file has {got} bytes"
        ))
        .into());
    }
    let peak = server.peak_rss()?;
    if peak > LIMIT {
        return Err(Failure::new(format!(
            "serving a {} MiB file took the server's memory to {} MiB (limit {} MiB)",
            SIZE >> 20,
            peak >> 20,
            LIMIT >> 20
        ))
        .detail("Do not read the whole file into memory: send it in fixed-size chunks (a loop of read and write_all with a 64 KiB buffer, or std::io::copy).")
        .into());
    }
    Ok(())
}

/// SIGTERM: stop accepting, finish the response in flight, close idle connections, exit.
pub fn graceful_shutdown(ctx: &mut Ctx) -> ProbeResult {
    // Where its exit cannot be seen, the test is skipped before the signal, not passed.
    let server = ctx.server()?;
    server.exited()?;
    let size = ctx.rng.range(12 << 20, 16 << 20);
    let data = ctx.rng.bytes(size);
    put(ctx, "movie.bin", &data)?;
    put(ctx, "small.txt", b"small\n")?;
    let h = host(ctx);
    // An idle keep-alive connection, which the shutdown must not wait for forever.
    let mut idle = client(ctx)?;
    let small = Request::get("/small.txt", &h);
    let r = idle.exchange(&small)?;
    expect_ok_body(&r, b"small\n", &small)?;
    // A download in progress, read slowly through a small buffer.
    let conn = ctx.connect()?;
    conn.set_recv_buffer(64 * 1024);
    let mut c = Client::new(conn);
    let req = Request::get("/movie.bin", &h);
    c.send(&req)?;
    let addr = ctx.addr();
    let mut got = 0usize;
    let mut signalled = false;
    let mut still_accepting = false;
    let r = c.read_response_with(&req, &mut |chunk| {
        if data.get(got..got + chunk.len()) != Some(chunk) {
            return Err(Failure::new(format!(
                "the download differs from the file at byte {got}"
            )));
        }
        got += chunk.len();
        if !signalled && got >= 1 << 20 {
            signalled = true;
            // A program that is already gone cannot be signalled; what follows (the
            // download, the exit) shows it all the same.
            let _ = server.terminate();
            // New connections must soon be refused.
            let until = Instant::now() + Duration::from_secs(5);
            still_accepting = true;
            while Instant::now() < until {
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                    Err(_) => {
                        still_accepting = false;
                        break;
                    }
                    Ok(_) => thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        Ok(())
    });
    let r = r.map_err(|e| {
        e.detail(format!(
            "SIGTERM was sent after {} of {size} bytes of a download had arrived; the download must still complete.",
            1 << 20
        ))
        .detail("On SIGTERM: stop accepting, let responses in progress finish, close idle connections, then exit. Rust: the `signal-hook` idea — block the signal and wait for it on a thread (see the handout).")
    })?;
    expect_status(&r, &[200], &req)?;
    if still_accepting {
        return Err(
            Failure::new("the server still accepted new connections 5 s after SIGTERM")
                .detail("Graceful shutdown begins by closing the listening socket.")
                .into(),
        );
    }
    if !idle.closed_within(Duration::from_secs(10)) {
        return Err(Failure::new(
            "an idle keep-alive connection was not closed within 10 s of SIGTERM",
        )
        .into());
    }
    let until = Instant::now() + Duration::from_secs(10);
    while !server.exited()? && Instant::now() < until {
        thread::sleep(Duration::from_millis(20));
    }
    if !server.exited()? {
        return Err(Failure::new(
            "the server did not exit within 10 s after its last response was complete",
        )
        .into());
    }
    Ok(())
}
