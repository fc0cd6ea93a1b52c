//! Data connections: passive mode (PASV, EPSV) and streaming through fixed buffers.
//!
//! FTP keeps commands and file contents apart. The control connection carries the
//! dialogue; every listing or file travels on a fresh *data connection*. In passive mode
//! the server opens a listening socket on a new port, tells the client where (227 for
//! PASV with an IPv4 address, 229 for EPSV with only a port), and the client connects.
//! In stream mode the end of the file is the end of the connection: the sender closes.
//!
//! Copies go through one fixed-size buffer of [`BUF_SIZE`], and `await` on every read
//! and write lets other sessions run while this one waits. Memory per transfer is
//! bounded whatever the file's size: the copy buffer, plus (in the session and the
//! client) a buffer of `FILE_BUF_SIZE` on the file side and tokio's own buffer behind
//! the file, about 2 MiB in all for a 1 GiB file.
//!
//! Why a bigger buffer on the file side: tokio has no asynchronous file I/O on Linux,
//! so every `tokio::fs::File` read or write is a hop to tokio's blocking thread pool and
//! back. With 64 KiB per hop a 1 GiB file costs 16,384 hops; with 1 MiB, 1,024.
//!
//! A binary download of a regular file skips buffers altogether: `send_file` hands the
//! whole transfer to one blocking thread that calls `sendfile(2)`, so the kernel moves
//! the bytes from the page cache to the socket without them entering this process, in
//! about one system call per GiB. (With the 64 KiB async copy, a 1 GiB download ran at
//! a third of what the loopback carries; see `handouts/performance.md`.)

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::reply::Reply;

/// Size of the buffer each copy reads into.
pub const BUF_SIZE: usize = 64 * 1024;

/// Size of the buffer between a copy and a `tokio::fs::File` (a `BufReader` or
/// `BufWriter` around the file). Each file read or write is a hop to tokio's blocking
/// thread pool, so the file side gets a larger buffer than the socket side: 1 MiB per
/// hop makes 1,024 hops per GiB instead of 16,384, and still bounds memory per transfer.
pub(crate) const FILE_BUF_SIZE: usize = 1 << 20;

/// The most one `sendfile` call is asked to move. Linux moves at most about 2 GiB per
/// call whatever we ask, and a blocking socket makes the call wait until it is all sent,
/// so a large count simply means few system calls (one per GiB).
const SENDFILE_CHUNK: usize = 1 << 30;

/// A passive-mode listener waiting for the client's data connection.
#[derive(Debug)]
pub struct Passive {
    listener: TcpListener,
    peer_ip: IpAddr,
}

impl Passive {
    /// Opens a listener on a free port of `local_ip` (the address the client reached us
    /// on, so it can reach this port too), for a client at `peer_ip`.
    ///
    /// # Errors
    /// If no port can be bound.
    pub async fn open(local_ip: IpAddr, peer_ip: IpAddr) -> io::Result<Passive> {
        let listener = TcpListener::bind(SocketAddr::new(local_ip, 0)).await?;
        Ok(Passive { listener, peer_ip })
    }

    /// The address clients connect to.
    ///
    /// # Errors
    /// If the socket has no local address (it always has one once bound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits up to `limit` for the client's data connection. Connections from any other
    /// address are dropped: otherwise anyone who guessed the port could steal the file.
    ///
    /// # Errors
    /// `TimedOut` if the client never connects.
    pub async fn accept(self, limit: Duration) -> io::Result<TcpStream> {
        let wait = async {
            loop {
                let (stream, peer) = self.listener.accept().await?;
                if peer.ip() == self.peer_ip {
                    return Ok::<_, io::Error>(stream);
                }
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no data connection"))?
    }
}

/// The 227 reply to PASV: `(h1,h2,h3,h4,p1,p2)` where the port is `p1 * 256 + p2`.
pub fn pasv_reply(addr: SocketAddrV4) -> Reply {
    let [a, b, c, d] = addr.ip().octets();
    let port = addr.port();
    Reply::new(
        227,
        format!(
            "Entering Passive Mode ({a},{b},{c},{d},{},{}).",
            port >> 8,
            port & 0xff
        ),
    )
}

/// The 229 reply to EPSV (RFC 2428): only the port, the host is the control host.
pub fn epsv_reply(port: u16) -> Reply {
    Reply::new(229, format!("Entering Extended Passive Mode (|||{port}|)."))
}

/// Finds the address in a 227 reply's text: six numbers, anywhere in the text (RFC 959
/// does not fix the words around them, and some servers omit the parentheses).
pub fn parse_pasv(text: &str) -> Option<SocketAddrV4> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u8> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok())
        .collect::<Option<Vec<u8>>>()?;
    if nums.len() != 6 {
        return None;
    }
    let ip = Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]);
    Some(SocketAddrV4::new(
        ip,
        u16::from(nums[4]) << 8 | u16::from(nums[5]),
    ))
}

/// Finds the port in a 229 reply's text: `(|||port|)`, where `|` may be any delimiter.
pub fn parse_epsv(text: &str) -> Option<u16> {
    let open = text.find('(')?;
    let inner = &text[open + 1..text[open..].find(')')? + open];
    let delim = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(delim).collect();
    // "|||port|" splits into "", "", "", "port", "".
    fields.get(3)?.parse().ok()
}

/// Copies everything from `from` to `to` through one buffer; with `ascii`, every LF is
/// sent as CRLF (the network form of text, RFC 959 section 3.1.1.1). Returns bytes read.
///
/// # Errors
/// The first read or write error.
pub async fn send<R, W>(from: &mut R, to: &mut W, ascii: bool) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF_SIZE];
    let mut converted = Vec::new();
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if ascii {
            converted.clear();
            for &b in &buf[..n] {
                if b == b'\n' {
                    converted.push(b'\r');
                }
                converted.push(b);
            }
            to.write_all(&converted).await?;
        } else {
            to.write_all(&buf[..n]).await?;
        }
    }
    to.flush().await?;
    Ok(total)
}

/// Copies everything from `from` to `to`; with `ascii`, CRLF becomes LF (a CR that ends
/// one buffer is held back until the next byte shows whether an LF follows).
/// Returns bytes written.
///
/// # Errors
/// The first read or write error.
pub async fn receive<R, W>(from: &mut R, to: &mut W, ascii: bool) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF_SIZE];
    let mut out = Vec::new();
    let mut pending_cr = false;
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let chunk: &[u8] = if ascii {
            out.clear();
            for &b in &buf[..n] {
                if pending_cr && b != b'\n' {
                    out.push(b'\r');
                }
                pending_cr = b == b'\r';
                if !pending_cr {
                    out.push(b);
                }
            }
            &out
        } else {
            &buf[..n]
        };
        to.write_all(chunk).await?;
        total += chunk.len() as u64;
    }
    if pending_cr {
        to.write_all(b"\r").await?;
        total += 1;
    }
    to.flush().await?;
    Ok(total)
}

/// Sends all of `file` (a regular file, from its current position) on the data
/// connection with `sendfile(2)`, then closes our sending side (in stream mode that is
/// what marks the end of the file). Returns the bytes sent. For binary transfers only:
/// the kernel copies the bytes as they are, so there is no room for ASCII conversion.
///
/// The whole transfer runs in one `tokio::task::spawn_blocking` job on a *blocking*
/// socket. That costs one trip to tokio's blocking pool per transfer instead of one per
/// buffer, and `sendfile` itself sleeps in the kernel while the socket buffer is full,
/// so a 1 GiB file takes about one system call instead of thousands. The session's task
/// just awaits the job, so the runtime's worker threads stay free for other sessions.
///
/// A blocking thread cannot be cancelled, so a client that stops reading must not hold
/// it forever: if the socket accepts nothing for `stall_limit`, the transfer fails with
/// `TimedOut`.
///
/// # Errors
/// The socket's errors (a reset, a broken pipe), `TimedOut` after a stall.
pub(crate) async fn send_file(
    file: File,
    stream: TcpStream,
    stall_limit: Duration,
) -> io::Result<u64> {
    // Leave tokio's reactor: from here on the socket is an ordinary blocking one.
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    // SO_SNDTIMEO: a blocked send (sendfile included) gives up after this long.
    stream.set_write_timeout(Some(stall_limit))?;
    let job = tokio::task::spawn_blocking(move || {
        let mut total = 0u64;
        loop {
            // libc is a dependency for this one call: std has no sendfile (its
            // `io::copy` only uses it between some kinds of descriptors, and from a
            // file to a TCP socket it falls back to a read/write loop).
            // SAFETY: both descriptors stay open for the whole call (we own `file` and
            // `stream`), and a null offset means "use and advance the file's position".
            let sent = unsafe {
                libc::sendfile(
                    stream.as_raw_fd(),
                    file.as_raw_fd(),
                    std::ptr::null_mut(),
                    SENDFILE_CHUNK,
                )
            };
            match sent {
                0 => break, // end of file
                n if n > 0 => total += n as u64,
                _ => {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::Interrupted => continue,
                        // What SO_SNDTIMEO reports when nothing could be sent in time.
                        io::ErrorKind::WouldBlock => {
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "the client stopped reading",
                            ))
                        }
                        _ => return Err(e),
                    }
                }
            }
        }
        stream.shutdown(Shutdown::Write)?;
        Ok(total)
    });
    // A join error means the job panicked: report it as this transfer's failure.
    job.await.map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_formats() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 50_123);
        assert_eq!(parse_pasv(&pasv_reply(addr).lines[0]), Some(addr));
        assert_eq!(
            parse_pasv("Entering passive mode 10,0,0,1,4,1"),
            Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1025))
        );
        assert_eq!(parse_epsv(&epsv_reply(4242).lines[0]), Some(4242));
        assert_eq!(parse_epsv("Extended (!!!77!)"), Some(77));
    }

    #[tokio::test]
    async fn ascii_mode_converts_line_endings_both_ways() {
        let text = b"a\nb\r\nc\rd\n".to_vec();
        let mut wire = Vec::new();
        send(&mut &text[..], &mut wire, true).await.unwrap();
        assert_eq!(wire, b"a\r\nb\r\r\nc\rd\r\n");
        let mut back = Vec::new();
        receive(&mut &b"a\r\nb\rc\r"[..], &mut back, true)
            .await
            .unwrap();
        assert_eq!(back, b"a\nb\rc\r");
        let mut same = Vec::new();
        receive(&mut &text[..], &mut same, false).await.unwrap();
        assert_eq!(same, text);
    }

    #[tokio::test]
    async fn send_file_sends_every_byte_then_closes() {
        // Larger than the socket buffers, so sendfile has to wait for the reader.
        let content: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &content).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.map(|_| got)
        });
        let sent = send_file(file, server, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(sent, content.len() as u64);
        // read_to_end only returns once the server side has closed: the end-of-file mark.
        assert!(reader.await.unwrap().unwrap() == content);
    }
}
