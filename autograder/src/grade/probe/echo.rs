//! Probes for the byte-echo protocol shared by labs 1–3.
//!
//! Every probe randomises its payload (sizes too) from the test's seed, and compares what
//! comes back byte for byte. Each one targets one mistake students make:
//!
//! | probe | the mistake it catches |
//! |---|---|
//! | [`short_message`] | no echo at all, or extra/altered bytes |
//! | [`large_binary`] | treating bytes as text; ignoring partial writes; one read only |
//! | [`fragments`] | assuming one read returns the whole message |
//! | [`half_close_flush`] | dropping buffered bytes at EOF; never closing after EOF |
//! | [`sequential_clients`] | serving one client then exiting |
//! | [`connect_and_leave`] | choking on a client that sends nothing |
//! | [`reset_mid_stream`] | crashing (unwrap, SIGPIPE) when a client resets |

use std::thread;
use std::time::{Duration, Instant};

use super::{expect_bytes, Conn, Ctx, End};
use crate::grade::probe::{Failure, ProbeResult, Symptom};

/// A command a student can paste to send `payload_expr` (a Python bytes expression) and
/// print what comes back, against their server on `port`.
pub fn reproduce_python(port: u16, payload_expr: &str, half_close: bool) -> String {
    let shutdown = if half_close {
        "s.shutdown(socket.SHUT_WR); "
    } else {
        ""
    };
    format!(
        "python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', {port})); \
         s.sendall({payload_expr}); {shutdown}print(s.recv(65536))\""
    )
}

/// Sends one short line and expects exactly it back.
pub fn short_message(ctx: &mut Ctx) -> ProbeResult {
    let message = format!("hello from the autograder {}\n", ctx.rng.token(12)).into_bytes();
    let mut conn = ctx.connect()?;
    conn.send(&message)?;
    let echo = conn.recv_exact(message.len());
    expect_bytes("the echo", &message, &echo).map_err(|f| {
        f.reproduce(format!(
            "printf 'hello\\n' | nc 127.0.0.1 {}   (expect: hello)",
            ctx.reproduce_port
        ))
    })?;
    conn.close();
    Ok(())
}

/// After a test: a new client still gets its echo (the program did not die, and is not
/// stuck on an earlier client).
pub fn still_serves(ctx: &mut Ctx) -> ProbeResult {
    let message = format!("still there? {}\n", ctx.rng.token(8)).into_bytes();
    let mut conn = ctx.connect()?;
    conn.send(&message)?;
    let echo = conn.recv_exact(message.len());
    expect_bytes("the echo to a new client", &message, &echo)?;
    conn.close();
    Ok(())
}

/// Streams 8-12 MiB of random bytes while a second thread reads the echo slowly.
///
/// The reader pauses now and then (once for a whole second), so the program's send buffer
/// fills up and its writes block or come back partial: programs that ignore a write's
/// return value lose bytes.
pub fn large_binary(ctx: &mut Ctx) -> ProbeResult {
    let size = ctx.rng.range(8 << 20, 12 << 20);
    let payload = ctx.rng.bytes(size);
    let chunk_sizes: Vec<usize> = (0..4096).map(|_| ctx.rng.range(1, 256 * 1024)).collect();
    let mut conn = ctx.connect()?;
    // A small receive buffer, like a constrained client's: the kernel cannot absorb the
    // whole echo for us, so the program really has to wait while we pause.
    conn.set_recv_buffer(128 * 1024);
    let writer = {
        let mut conn = conn.try_clone()?;
        let payload = payload.clone();
        thread::spawn(move || -> Result<(), Failure> {
            let mut sent = 0;
            for len in chunk_sizes.iter().cycle() {
                if sent == payload.len() {
                    break;
                }
                let end = (sent + len).min(payload.len());
                conn.send(&payload[sent..end])?;
                sent = end;
            }
            Ok(())
        })
    };
    let mut echoed = Vec::with_capacity(size);
    let mut end = End::Complete;
    let mut paused = false;
    while echoed.len() < size {
        if !paused && echoed.len() >= 1 << 20 {
            // Once, stop reading for a whole second, like a client busy elsewhere: the
            // program's writes must wait (or be retried), never drop bytes.
            paused = true;
            thread::sleep(Duration::from_secs(1));
        }
        let piece = conn.recv_exact((size - echoed.len()).min(512 * 1024));
        echoed.extend_from_slice(&piece.bytes);
        if piece.end != End::Complete || !payload.starts_with(&echoed) {
            // Stop at the first wrong byte: waiting for the rest would only waste time.
            end = piece.end;
            break;
        }
        // A slow consumer: let the program's output back up for a moment.
        thread::sleep(Duration::from_millis(15));
    }
    // Do not wait for the writer if the echo is already wrong; it ends with the program.
    let echo_ok = echoed == payload;
    let received = super::Received { bytes: echoed, end };
    expect_bytes("the echo of a large binary payload", &payload, &received).map_err(|f| {
        let f = match diagnose_corruption(&payload, &received.bytes) {
            Some(why) => f.detail(why),
            None => f,
        };
        f.reproduce(format!(
            "head -c 9000000 /dev/urandom > in.bin; nc -N 127.0.0.1 {} < in.bin > out.bin; cmp in.bin out.bin",
            ctx.reproduce_port
        ))
    })?;
    if echo_ok {
        writer
            .join()
            .unwrap_or_else(|_| Err(Failure::new("writer panicked")))?;
    }
    conn.close();
    Ok(())
}

/// Tells apart the two ways an echo goes wrong in the middle: bytes skipped (the rest of
/// the stream shows up later in the payload) or bytes altered.
fn diagnose_corruption(expected: &[u8], got: &[u8]) -> Option<String> {
    let at = expected.iter().zip(got).take_while(|(a, b)| a == b).count();
    if at >= got.len() {
        return None; // a clean prefix: the summary already says what happened
    }
    let probe = &got[at..got.len().min(at + 32)];
    let skipped = expected[at..].windows(probe.len()).position(|w| w == probe);
    Some(match skipped {
        Some(gap) if gap > 0 => format!(
            "{gap} bytes are missing from the middle of the echo at byte {at}, and it \
             continues with later data: that is what ignoring a partial write looks like \
             (`write` returned fewer bytes than offered and the rest was never sent)."
        ),
        _ => "bytes were altered, not just lost: converting bytes to text (e.g. \
              `String::from_utf8_lossy`) replaces invalid UTF-8 with EF BF BD."
            .to_string(),
    })
}

/// Sends a message as many tiny fragments with pauses between them.
pub fn fragments(ctx: &mut Ctx) -> ProbeResult {
    let count = ctx.rng.range(30, 50);
    let mut pieces: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            let len = ctx.rng.range(1, 40);
            ctx.rng.bytes(len)
        })
        .collect();
    // Never end on a line feed: a program that waits for a full line must show it.
    let last = pieces.last_mut().expect("at least one piece");
    *last.last_mut().expect("pieces are not empty") = b'.';
    let payload: Vec<u8> = pieces.concat();
    let mut conn = ctx.connect()?;
    // Without TCP_NODELAY, Nagle's algorithm would merge our small sends into one segment.
    let _ = conn.stream().set_nodelay(true);
    let mut sent = 0;
    for piece in &pieces {
        if conn.send(piece).is_err() {
            break; // the program hung up; report what did come back
        }
        sent += piece.len();
        thread::sleep(Duration::from_millis(5));
    }
    let echo = conn.recv_exact(payload.len());
    expect_bytes(
        &format!("the echo of {count} fragments ({sent} bytes sent)"),
        &payload,
        &echo,
    )
    .map_err(|f| {
        f.detail("TCP is a byte stream: one read returns whatever has arrived so far, not a whole message. Keep reading until the client closes.")
            .reproduce(format!(
                "(printf 'one '; sleep 1; printf 'two '; sleep 1; printf 'three\\n') | nc -N 127.0.0.1 {}   (expect: one two three)",
                ctx.reproduce_port
            ))
    })?;
    conn.close();
    Ok(())
}

/// Makes the program hold output it cannot send yet when the client's FIN arrives, then
/// expects all of it, then the close.
///
/// A small payload would not show the mistake this test is for: the kernel's buffers
/// absorb a few hundred KB, so the program's output is all sent before it sees the FIN
/// (the first version of this test sent 100-300 KB, and an event loop that closed at EOF
/// with output pending got full marks). So the client sends several MiB through a small
/// receive buffer, reading nothing, until the program stops taking bytes: its writes are
/// then blocked (a blocking server) or its output is queued (an event loop). Only then
/// does it half-close, and it reads the echo slowly, so the send buffer stays full while
/// the program reaches the FIN.
pub fn half_close_flush(ctx: &mut Ctx) -> ProbeResult {
    let size = ctx.rng.range(4 << 20, 6 << 20);
    let mut payload = ctx.rng.bytes(size);
    // Line feeds only in the first 64 KiB (which every program takes), none after: a
    // line-by-line server echoes the lines and holds or loses the rest, wherever the
    // program stops taking bytes, and its echo ends at a line end, as in the other tests.
    for byte in payload.iter_mut().skip(64 * 1024).filter(|b| **b == b'\n') {
        *byte = b'!';
    }
    let mut conn = ctx.connect_constrained(16 * 1024)?;
    let sent = conn.send_while_taken(&payload, Duration::from_millis(500))?;
    payload.truncate(sent);
    conn.half_close()?;
    let mut echo = super::Received {
        bytes: Vec::with_capacity(sent),
        end: End::Complete,
    };
    while echo.end == End::Complete && echo.bytes.len() <= sent {
        // Slowly, 32 KiB at a time: the program's send buffer stays full, so whatever it
        // read last is still its own to send when its read returns 0.
        let piece = conn.recv_exact(32 * 1024);
        echo.bytes.extend_from_slice(&piece.bytes);
        echo.end = piece.end;
        if !payload.starts_with(&echo.bytes[..echo.bytes.len().min(sent)]) {
            break; // wrong already: the rest would only take time
        }
        thread::sleep(Duration::from_millis(2));
    }
    let reproduce = reproduce_python(ctx.reproduce_port, "b'no newline at the end'", true);
    let held = |f: Failure| {
        f.detail(format!(
            "The client sent {:.1} MiB without reading, until the program stopped taking \
             bytes, then half-closed and read the echo. When read returns 0, the client has \
             only finished sending: everything the program still holds must be sent before \
             it closes.",
            sent as f64 / (1 << 20) as f64
        ))
        .reproduce(reproduce.clone())
    };
    if echo.bytes == payload && echo.end == End::TimedOut {
        return Err(held(
            Failure::new(
                "every byte came back, but the program never closed the connection after the client half-closed",
            )
            .expected("after the echo, the connection closes (the client's read returns 0)")
            .got("the connection stayed open and silent")
            .symptom(Symptom::NeverClosed),
        )
        .into());
    }
    let received = super::Received {
        bytes: echo.bytes,
        end: if echo.end == End::Complete {
            End::Error("more bytes than were sent".into())
        } else {
            echo.end
        },
    };
    expect_bytes("the echo before the close", &payload, &received).map_err(held)?;
    if received.end != End::Eof {
        return Err(held(Failure::new(format!(
            "after the echo, {:?} instead of a clean close",
            received.end
        )))
        .into());
    }
    Ok(())
}

/// Serves several clients one after another, each to completion.
pub fn sequential_clients(ctx: &mut Ctx) -> ProbeResult {
    let clients = ctx.rng.range(4, 6);
    for i in 1..=clients {
        // A program that exits after its first client shows up as a refused connection,
        // or, when client 2 connected while the program was still exiting, as one that is
        // reset unserved: the same mistake, said the same way.
        let not_served = |f: Failure| {
            if i == 1 {
                return f;
            }
            f.detail(format!(
                "clients 1 to {} were served; client {i} was not. Did the program exit after serving a client?",
                i - 1
            ))
        };
        let len = ctx.rng.range(10, 2000);
        let mut payload = ctx.rng.bytes(len);
        payload[len - 1] = b'.';
        let mut conn = ctx.connect().map_err(not_served)?;
        conn.send(&payload).map_err(not_served)?;
        conn.half_close().map_err(not_served)?;
        let echo = conn.recv_to_eof(len + 65536);
        expect_bytes(
            &format!("the echo for client {i} of {clients}"),
            &payload,
            &echo,
        )
        .map_err(|f| {
            if echo.bytes.is_empty() {
                not_served(f)
            } else {
                f
            }
        })?;
        if echo.end != End::Eof {
            return Err(Failure::new(format!(
                "client {i} got its echo but the connection was not closed after its half-close"
            ))
            .into());
        }
    }
    Ok(())
}

/// A client that connects and leaves without a byte must not disturb the next one.
pub fn connect_and_leave(ctx: &mut Ctx) -> ProbeResult {
    let silent = ctx.connect()?;
    silent.close();
    let mut shy = ctx.connect()?;
    shy.half_close()?;
    shy.expect_eof("after a client that half-closed without sending anything")?;
    follow_up_client(ctx, "after clients that sent nothing")
}

/// A client that resets mid-stream must not bring the program down.
pub fn reset_mid_stream(ctx: &mut Ctx) -> ProbeResult {
    let mut rude = ctx.connect()?;
    let first = ctx.rng.bytes(64 * 1024);
    rude.send(&first)?;
    // Wait until the program is demonstrably serving us, then leave with a reset while it
    // still has bytes to send back.
    let seen = rude.recv_until(1024, Instant::now() + Duration::from_secs(5));
    let more = ctx.rng.bytes(512 * 1024);
    let _ = rude.stream().set_nonblocking(true);
    let _ = std::io::Write::write(&mut rude.stream(), &more);
    if seen.bytes.is_empty() {
        return Err(Failure::new("the program echoed nothing to the first client").into());
    }
    rude.reset();
    follow_up_client(ctx, "after a client reset its connection mid-stream")
        .map_err(|v| match v {
            crate::grade::probe::Verdict::Fail(f) => f
                .detail("A reset shows up as an error from read or write (ECONNRESET, EPIPE). It concerns that one client: log it, close that socket, and keep serving.")
                .into(),
            other => other,
        })
}

/// A normal client that must be served after some disturbance.
fn follow_up_client(ctx: &mut Ctx, after: &str) -> ProbeResult {
    let message = format!("still there? {}\n", ctx.rng.token(16)).into_bytes();
    let mut conn: Conn = ctx
        .connect()
        .map_err(|f| f.detail(format!("(connecting {after})")))?;
    conn.send(&message)?;
    let echo = conn.recv_exact(message.len());
    expect_bytes(&format!("the echo {after}"), &message, &echo)?;
    conn.close();
    Ok(())
}
