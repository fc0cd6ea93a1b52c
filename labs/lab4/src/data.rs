//! Data connections: passive mode (PASV, EPSV) and streaming through fixed buffers.
//!
//! FTP keeps commands and file contents apart. The control connection carries the
//! dialogue; every listing or file travels on a fresh *data connection*. In passive mode
//! the server opens a listening socket on a new port, tells the client where (227 for
//! PASV with an IPv4 address, 229 for EPSV with only a port), and the client connects.
//! In stream mode the end of the file is the end of the connection: the sender closes.
//!
//! Copies go through one fixed-size buffer, so a 1 GiB file costs 64 KiB of memory, and
//! `await` on every read and write lets other sessions run while this one waits.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use crate::reply::Reply;

/// Size of the buffer each copy reads into.
pub const BUF_SIZE: usize = 64 * 1024;

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
    // TODO: Step 8 — copy everything `from` holds to `to`, in memory that does not grow
    // with the file (a buffer of BUF_SIZE: a 1 GiB file must not need 1 GiB), awaiting
    // every read and write so that other sessions run while this one waits. In ASCII
    // type, text travels in its network form: each LF as CRLF. Return the bytes read.
    let _ = (from, to, ascii, BUF_SIZE);
    todo!("Step 8 of handouts/lab4.md: stream a file through a fixed buffer")
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
    // TODO: Step 9 — the same copy in the other direction, back from the network form:
    // in ASCII type each CRLF becomes LF. TCP may split a CRLF between two reads, and a
    // CR that no LF follows is an ordinary byte, kept. Return the bytes written.
    let _ = (from, to, ascii);
    todo!("Step 9 of handouts/lab4.md: receive a file through a fixed buffer")
}
