//! Serving one client: the echo loop.
//!
//! Two facts about stream sockets shape this code:
//!
//! - **TCP delivers a byte stream, not messages.** A client's single `send` of 10 KiB may
//!   arrive as several reads of any size, and several small sends may arrive as one read.
//!   So we never assume a read returns "the message": we echo whatever arrived and read
//!   again.
//! - **A write may accept fewer bytes than offered** (a *partial write*). The return value
//!   says how many bytes the kernel took; the rest must be offered again. [`write_all`]
//!   is that loop.
//!
//! Reading and writing alternate: we never read more until the previous chunk has been
//! written back. If the client stops reading, our write blocks, we stop reading, and the
//! client's sends eventually block too. That is TCP flow control working for us: the
//! server's memory use stays at one buffer per client however much the client sends.
//!
//! This is lab 1's code, unchanged. Blocking calls were the problem of the iterative server
//! only because its one thread served everybody; here each connection has a thread of its
//! own, so a blocked `read` or `write` holds up that client and nobody else.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

use crate::trace::Trace;

/// Size of the buffer each read fills. Larger buffers mean fewer system calls per
/// megabyte; 64 KiB matches the largest amount a loopback read typically returns at once.
pub const BUF_SIZE: usize = 64 * 1024;

/// Echoes everything `peer` sends until it half-closes, then closes our side too.
///
/// Returns the number of bytes echoed.
///
/// # Errors
/// Any I/O error on this connection, such as a reset from the client. The caller logs it;
/// it concerns this client only.
pub fn serve_client(mut stream: TcpStream, peer: SocketAddr, trace: &Trace) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total: u64 = 0;
    loop {
        let n = match stream.read(&mut buf) {
            // A read of 0 bytes is not "nothing yet" (a blocking read waits for that): it
            // is end of stream. The client has shut down its write side, so no more bytes
            // will ever come. Everything it sent before has been echoed already.
            Ok(0) => {
                trace.event(peer, format_args!("read 0 bytes: peer half-closed"));
                break;
            }
            Ok(n) => n,
            // A signal interrupted the blocking call before any data arrived: just retry.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        trace.event(peer, format_args!("read {n} bytes"));
        write_all(&mut stream, &buf[..n], peer, trace)?;
        total += n as u64;
    }
    // Send our own FIN: it tells the client "that was all of the echo". We could simply
    // drop the stream (close sends a FIN too), but an explicit shutdown makes the protocol's
    // last step visible and reports an error if the FIN cannot be queued.
    stream.shutdown(Shutdown::Write)?;
    trace.event(peer, format_args!("sent FIN (shutdown write side)"));
    Ok(total)
}

/// Writes every byte of `bytes`, however many `write` calls that takes.
///
/// This is what [`std::io::Write::write_all`] does; it is spelled out here because
/// forgetting the loop is the classic bug: `write` returns how many bytes it took, and on
/// a socket that may be fewer than offered (a send timeout fired, a signal arrived, or the
/// socket is non-blocking and the send buffer filled up).
///
/// # Errors
/// The first write error other than `Interrupted`; `WriteZero` if the socket accepts
/// nothing at all.
pub fn write_all(
    stream: &mut impl Write,
    mut bytes: &[u8],
    peer: SocketAddr,
    trace: &Trace,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                trace.event(peer, format_args!("wrote {n} bytes"));
                bytes = &bytes[n..];
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that, like a socket with a nearly full send buffer, takes at most a few
    /// bytes per call, and is interrupted by a "signal" every other call.
    struct Trickle {
        taken: Vec<u8>,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(ErrorKind::Interrupted.into());
            }
            let n = bytes.len().min(3);
            self.taken.extend_from_slice(&bytes[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_all_retries_partial_and_interrupted_writes() {
        let mut sink = Trickle {
            taken: Vec::new(),
            calls: 0,
        };
        let payload: Vec<u8> = (0..=255u8).collect();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        write_all(&mut sink, &payload, peer, &Trace::new(false)).unwrap();
        assert_eq!(sink.taken, payload);
    }

    #[test]
    fn serve_client_echoes_then_closes_after_half_close() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, peer) = listener.accept().unwrap();
            serve_client(stream, peer, &Trace::new(false)).unwrap()
        });
        let mut client = TcpStream::connect(addr).unwrap();
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let writer = {
            let mut client = client.try_clone().unwrap();
            let payload = payload.clone();
            std::thread::spawn(move || {
                client.write_all(&payload).unwrap();
                client.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut echoed = Vec::new();
        client.read_to_end(&mut echoed).unwrap();
        writer.join().unwrap();
        assert_eq!(echoed, payload);
        assert_eq!(server.join().unwrap(), payload.len() as u64);
    }
}
