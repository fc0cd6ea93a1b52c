//! Persistent connections: keep-alive by default in HTTP/1.1, `Connection: close`,
//! HTTP/1.0, pipelined requests, and the timeouts that stop idle or slow clients from
//! holding a thread forever.

use super::*;

/// Several requests, one after another, on one HTTP/1.1 connection.
pub fn keep_alive(ctx: &mut Ctx) -> ProbeResult {
    let count = ctx.rng.range(3, 5);
    let mut files = Vec::new();
    for i in 0..count {
        let len = ctx.rng.range(10, 2000);
        let body = format!("file {i}: {}\n", ctx.rng.token(len));
        put(ctx, &format!("k{i}.txt"), body.as_bytes())?;
        files.push((format!("/k{i}.txt"), body));
    }
    let h = host(ctx);
    let mut c = client(ctx)?;
    for (i, (target, body)) in files.iter().enumerate() {
        if i + 1 == files.len() {
            // A pause like a user's: the connection must survive a short silence.
            thread::sleep(Duration::from_millis(400));
        }
        let req = Request::get(target, &h);
        let r = c.exchange(&req).map_err(|e| {
            e.detail(format!("This was request {} of {count} on the same connection.", i + 1))
                .reproduce(format!(
                    "curl -v http://127.0.0.1:{p}/ http://127.0.0.1:{p}/   (look for \"Re-using existing connection\")",
                    p = ctx.reproduce_port
                ))
        })?;
        expect_ok_body(&r, body.as_bytes(), &req)?;
        if r.closes() {
            return Err(not_kept_alive(&format!("request {} of {count}", i + 1), &r).into());
        }
    }
    if c.closed_within(Duration::from_millis(200)) {
        return Err(Failure::new("the server closed the connection right after the last response, although nothing asked it to").into());
    }
    Ok(())
}

/// `Connection: close` is honoured: the response, then the close.
pub fn connection_close(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("bye {}\n", ctx.rng.token(20));
    put(ctx, "bye.txt", body.as_bytes())?;
    let h = host(ctx);
    let mut c = client(ctx)?;
    let req = Request::new("GET", "/bye.txt", &h, &[("Connection", "close")]);
    let r = c.exchange(&req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    let reproduce = format!(
        "curl -v -H 'Connection: close' http://127.0.0.1:{}/bye.txt   (curl should say \"Closing connection\")",
        ctx.reproduce_port
    );
    expect_prompt_close(
        &mut c,
        &r,
        "after a response to a request with `Connection: close`",
    )
    .map_err(|e| e.reproduce(reproduce))?;
    Ok(())
}

/// How soon a server must close once its last response is sent: far below any idle
/// timeout the handout allows (the reference's is 5 s), so that a server that ignores the
/// client's wish to close cannot pass by timing out the connection instead.
const PROMPT_CLOSE: Duration = Duration::from_secs(2);

/// The connection must close right after `r`, and `r` must not have promised otherwise.
fn expect_prompt_close(c: &mut Client, r: &Response, after: &str) -> Result<(), Failure> {
    if r.connection_has("keep-alive") {
        return Err(Failure::new(format!(
            "the response {after} says `Connection: keep-alive`"
        ))
        .expected("`Connection: close` (or nothing), then the close")
        .got(r.head_text())
        .detail("This connection ends with this response (RFC 9112 §9.6): say so, and close it."));
    }
    c.set_idle_limit(PROMPT_CLOSE);
    c.expect_close(after).map_err(|e| {
        e.detail(format!(
            "The close must follow the response at once (within {} s here), not wait for the idle timeout: RFC 9112 §9.6.",
            PROMPT_CLOSE.as_secs()
        ))
    })
}

/// HTTP/1.0: close unless the client asks for keep-alive; keep-alive when it does.
pub fn http10(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("old client {}\n", ctx.rng.token(20));
    put(ctx, "old.txt", body.as_bytes())?;
    let h = host(ctx);
    // Plain HTTP/1.0 (no Host header, which 1.0 does not require): one response, close.
    let mut c = client(ctx)?;
    let req = Request::with_version("GET", "/old.txt", "HTTP/1.0", None, &[]);
    let r = c.exchange(&req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    expect_prompt_close(
        &mut c,
        &r,
        "after the response to an HTTP/1.0 request without keep-alive",
    )
    .map_err(|e| {
        e.reproduce(format!(
            "curl -v -0 http://127.0.0.1:{}/old.txt",
            ctx.reproduce_port
        ))
    })?;
    // HTTP/1.0 asking for keep-alive: the server must say it keeps the connection open.
    let mut c = client(ctx)?;
    let req = Request::with_version(
        "GET",
        "/old.txt",
        "HTTP/1.0",
        Some(&h),
        &[("Connection", "keep-alive")],
    );
    let r = c.exchange(&req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    if !r.connection_has("keep-alive") {
        return Err(Failure::new("an HTTP/1.0 client that sent `Connection: keep-alive` did not get `Connection: keep-alive` back")
            .expected("Connection: keep-alive in the response, and the connection left open")
            .got(r.head_text())
            .detail("An HTTP/1.0 client only reuses the connection if the response says `Connection: keep-alive` (RFC 9112 §9.3, Appendix C.2.2).")
            .into());
    }
    let r = c.exchange(&req).map_err(|e| {
        e.detail("This was the second HTTP/1.0 keep-alive request on the connection.")
    })?;
    Ok(expect_ok_body(&r, body.as_bytes(), &req)?)
}

/// Several requests sent in one write are all answered, in order.
pub fn pipelining(ctx: &mut Ctx) -> ProbeResult {
    let count = ctx.rng.range(4, 6);
    let h = host(ctx);
    let mut expected: Vec<(Request, Option<Vec<u8>>)> = Vec::new();
    for i in 0..count {
        let size = ctx.rng.range(10, 20_000);
        let bytes = ctx.rng.bytes(size);
        put(ctx, &format!("p{i}.bin"), &bytes)?;
        let target = format!("/p{i}.bin");
        let req = match i {
            1 => Request::new("HEAD", &target, &h, &[]),
            2 => {
                expected.push((
                    Request::get(&format!("/missing-{}.txt", ctx.rng.token(6)), &h),
                    None,
                ));
                Request::get(&target, &h)
            }
            _ => Request::get(&target, &h),
        };
        let body = (req.method == "GET").then_some(bytes);
        expected.push((req, body.or(Some(Vec::new()))));
    }
    let all: Vec<u8> = expected.iter().flat_map(|(r, _)| r.bytes.clone()).collect();
    let mut c = client(ctx)?;
    c.send_bytes(&all)?;
    let n = expected.len();
    for (i, (req, body)) in expected.iter().enumerate() {
        let r = c.read_response(req).map_err(|e| {
            e.detail(format!(
                "All {n} requests were sent in one write; this was the response to number {} ({}). \
                 One read may return several requests: parse one, keep the rest of the buffer for the next.",
                i + 1,
                req.describe()
            ))
            .reproduce(format!(
                "printf 'GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | nc 127.0.0.1 {}",
                ctx.reproduce_port
            ))
        })?;
        match body {
            None => expect_status(&r, &[404], req)?,
            Some(b) => expect_ok_body(&r, b, req)?,
        }
        if r.closes() && i + 1 < n {
            return Err(not_kept_alive(&format!("pipelined request {} of {n}", i + 1), &r).into());
        }
    }
    Ok(())
}

/// An idle keep-alive connection is closed after a while (within 15 s).
pub fn idle_timeout(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "a.txt", b"a\n")?;
    let h = host(ctx);
    let mut c = client(ctx)?;
    let req = Request::get("/a.txt", &h);
    let r = c.exchange(&req)?;
    expect_ok_body(&r, b"a\n", &req)?;
    if r.closes() {
        return Ok(()); // closing at once is the shortest timeout there is
    }
    let started = Instant::now();
    if c.closed_within(Duration::from_secs(15)) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "an idle keep-alive connection was still open after {:.0} s",
        started.elapsed().as_secs_f64()
    ))
    .detail("Each idle connection holds a thread (or a slot) and a file descriptor. Close it after a few seconds without a request (a read timeout).")
    .into())
}

/// A client sending its head one byte at a time is cut off (within 20 s).
pub fn slow_headers(ctx: &mut Ctx) -> ProbeResult {
    let h = host(ctx);
    let mut c = client(ctx)?;
    c.conn().stream().set_nodelay(true).ok();
    let mut head = format!("GET / HTTP/1.1\r\nHost: {h}\r\n").into_bytes();
    // Endless headers, one byte every 300 ms: each read brings something, so only a limit
    // on the whole head (not on each read) ends this.
    head.extend((0..200).flat_map(|i| format!("X-Slow-{i}: {}\r\n", "z".repeat(20)).into_bytes()));
    let started = Instant::now();
    for &b in &head {
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        if c.send_bytes(&[b]).is_err() {
            return Ok(()); // the server closed (or reset) the connection
        }
        if c.closed_within(Duration::from_millis(300)) {
            return Ok(());
        }
        if !c.pending().is_empty() {
            // A 408 (or another error) before closing is fine too.
            return Ok(());
        }
    }
    Err(Failure::new(format!(
        "a client sending its request head one byte every 0.3 s was still connected after {:.0} s",
        started.elapsed().as_secs_f64()
    ))
    .detail("A read timeout per read is not enough: each byte resets it. Give the whole head a deadline (e.g. the keep-alive timeout from the moment you start waiting), then answer 408 or close.")
    .detail("RFC 9112 sets no limit on how long a request head may take (§9.5 leaves timeouts to the server), and some servers (lighttpd) time out each read only. This lab asks for a deadline on the whole head because otherwise a client that trickles a byte at a time (Slowloris) holds a connection, and its thread, for as long as it likes.")
    .into())
}
