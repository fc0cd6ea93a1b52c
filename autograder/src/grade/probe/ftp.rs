//! FTP probes (lab 4): a strict FTP client for grading servers, and a strict FTP test
//! server for grading clients.
//!
//! Both sides check the standard (RFC 959 and RFC 2428's EPSV), not one implementation:
//! reply *codes* and their first digit, never reply wording, so any conforming program
//! passes (the project's tests grade pyftpdlib and Python's ftplib to prove it).
//!
//! - [`Session`] (this file): a control connection that insists on CRLF line endings,
//!   understands multi-line replies, and opens PASV or EPSV data connections.
//! - [`server_tests`]: the `server` group's probes.
//! - [`stalled`]: the `server` group's probe for blocking calls: many transfers stalled at
//!   once, and another session timed meanwhile.
//! - [`test_server`]: a small FTP server with teeth: multi-line replies, replies split
//!   across packets, RFC 959's default ASCII type (which corrupts binary files for a
//!   client that never sends `TYPE I`), and a delay before each transfer.
//! - [`client_tests`]: the `client` group's probes, which run the submission against it.

pub mod client_tests;
pub mod server_tests;
pub mod stalled;
pub mod test_server;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{bytes, Conn, Ctx, End, Received};
use crate::grade::ftp_reply::{epsv_fields, parse_epsv, parse_pasv};
use crate::grade::probe::Failure;

/// One reply: its code and its text lines (code and separator removed).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line.
    pub lines: Vec<String>,
}

impl Reply {
    /// The reply as it appeared, compactly: `550 No such file`.
    pub fn show(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
}

/// Why a refused upload or MKD still fails a test (the lab is stricter than the RFC, and
/// says so in handouts/lab4.md).
pub const WRITE_REFUSED: &str = "RFC 959 also lets a server refuse an upload or a new \
    directory (550 or 553, e.g. for lack of permission there), and some do: vsftpd never lets \
    anonymous users write into the root it chroots them to. This lab asks for more: anonymous \
    users may upload and create directories anywhere in the root, the root itself included \
    (handouts/lab4.md, \"The command line\"), because storing files is half of what the server \
    is for, and this test needs a file or directory of its own there.";

/// How a data connection is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `PASV`, answered `227 … (h1,h2,h3,h4,p1,p2)`.
    Pasv,
    /// `EPSV`, answered `229 … (|||port|)`.
    Epsv,
}

/// A strict FTP control connection to the program under test.
#[derive(Debug)]
pub struct Session {
    conn: Conn,
    pending: Vec<u8>,
    port: u16,
}

/// The largest reply line we accept (a real reply line is a few dozen bytes).
const MAX_REPLY_LINE: usize = 8192;

impl Session {
    /// Connects and reads the greeting, which must be 220.
    ///
    /// # Errors
    /// A failure if the connection or the greeting is wrong.
    pub fn open(ctx: &mut Ctx) -> Result<Session, Failure> {
        let mut s = Session::on(ctx.connect()?, ctx.reproduce_port);
        let greeting = s.read_reply("after connecting")?;
        if greeting.code != 220 {
            return Err(Failure::new("the greeting is not a 220 reply")
                .expected("220 (service ready), possibly multi-line")
                .got(greeting.show())
                .reproduce(s.curl("/")));
        }
        Ok(s)
    }

    /// A session on a connection already made, before its greeting: for probes that
    /// read the greeting themselves (to time it). `port` is the one shown in the commands
    /// a failure suggests.
    pub fn on(conn: Conn, port: u16) -> Session {
        Session {
            conn,
            pending: Vec::new(),
            port,
        }
    }

    /// Connects, then logs in anonymously (`USER anonymous`, `PASS …`).
    ///
    /// # Errors
    /// A failure if any step gets an unexpected reply.
    pub fn login(ctx: &mut Ctx) -> Result<Session, Failure> {
        let mut s = Session::open(ctx)?;
        let user = s.expect("USER anonymous", &[230, 331])?;
        if user.code == 331 {
            s.expect("PASS grader@example.com", &[230])?;
        }
        Ok(s)
    }

    /// A curl command that a student can run against their own server.
    pub fn curl(&self, path: &str) -> String {
        format!("curl -v ftp://127.0.0.1:{}{path}", self.port)
    }

    /// The connection, for fragment-level sends.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    fn read_line(&mut self, after: &str) -> Result<String, Failure> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                if !line.ends_with(b"\r\n") {
                    return Err(Failure::new(format!(
                        "a reply line {after} ends in a bare LF, not CRLF"
                    ))
                    .expected("every reply line to end in \\r\\n (RFC 959, section 4.2)")
                    .got(bytes::escape(&line, 80))
                    .detail("Python's ftplib tolerates this, but strict clients do not: the Telnet end-of-line on the control connection is CR LF."));
                }
                return Ok(String::from_utf8_lossy(&line[..line.len() - 2]).into_owned());
            }
            if self.pending.len() > MAX_REPLY_LINE {
                return Err(Failure::new(format!(
                    "a reply line {after} is longer than {MAX_REPLY_LINE} bytes without a line ending"
                ))
                .got(bytes::escape(&self.pending, 80)));
            }
            let r = self.conn.recv_some(4096);
            match r.end {
                End::Complete => self.pending.extend_from_slice(&r.bytes),
                End::Eof => {
                    return Err(Failure::new(format!(
                        "the program closed the control connection {after}"
                    ))
                    .got(if self.pending.is_empty() {
                        "no reply".to_string()
                    } else {
                        format!("an unfinished line {}", bytes::escape(&self.pending, 80))
                    }))
                }
                End::TimedOut => {
                    return Err(Failure::new(format!("no complete reply arrived {after}"))
                        .got(if self.pending.is_empty() {
                            "silence".to_string()
                        } else {
                            format!("an unfinished line {}", bytes::escape(&self.pending, 80))
                        })
                        .detail(
                            "Every reply line must end in \\r\\n, and every command gets a reply.",
                        ))
                }
                End::Error(e) => {
                    return Err(Failure::new(format!(
                        "the control connection failed {after}: {e}"
                    )))
                }
            }
        }
    }

    /// Reads one reply, following RFC 959's multi-line rule: `123-` opens, a line that
    /// starts with `123 ` closes, anything in between belongs to the reply.
    ///
    /// # Errors
    /// A failure for a malformed reply, a bare LF, a close or a timeout.
    pub fn read_reply(&mut self, after: &str) -> Result<Reply, Failure> {
        let first = self.read_line(after)?;
        let b = first.as_bytes();
        let code_ok = b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit);
        let sep = b.get(3).copied();
        if !code_ok || !matches!(sep, None | Some(b' ') | Some(b'-')) {
            return Err(Failure::new(format!("a malformed reply {after}"))
                .expected(
                    "a three-digit code, then a space (or a hyphen to open a multi-line reply)",
                )
                .got(bytes::escape(b, 80)));
        }
        let code: u16 = first[..3].parse().expect("three digits");
        let mut lines = vec![first.get(4..).unwrap_or("").to_string()];
        if sep == Some(b'-') {
            loop {
                let line =
                    self.read_line(&format!("inside the multi-line {code} reply {after}"))?;
                if line.len() >= 3
                    && line.as_bytes()[..3] == b[..3]
                    && line.as_bytes().get(3) == Some(&b' ')
                {
                    lines.push(line[4..].to_string());
                    break;
                }
                lines.push(line);
                if lines.len() > 1000 {
                    return Err(Failure::new(format!(
                        "the multi-line {code} reply {after} never ends"
                    ))
                    .detail(format!(
                        "It must end with a line that starts with \"{code} \"."
                    )));
                }
            }
        }
        Ok(Reply { code, lines })
    }

    /// Sends one command line (CRLF appended).
    ///
    /// # Errors
    /// If the connection breaks.
    pub fn send_line(&mut self, line: &str) -> Result<(), Failure> {
        self.conn.send(format!("{line}\r\n").as_bytes())
    }

    /// Sends a command and reads its reply.
    ///
    /// # Errors
    /// If the connection breaks or the reply is malformed.
    pub fn command(&mut self, line: &str) -> Result<Reply, Failure> {
        self.send_line(line)?;
        self.read_reply(&format!("after {line}"))
    }

    /// Sends a command and checks that its reply code is one of `codes`.
    ///
    /// # Errors
    /// A failure naming the command, the codes expected and the reply received.
    pub fn expect(&mut self, line: &str, codes: &[u16]) -> Result<Reply, Failure> {
        let reply = self.command(line)?;
        self.check(line, &reply, codes)?;
        Ok(reply)
    }

    /// Sends a command that writes into the root (STOR, MKD) and checks its reply code; a
    /// refusal's failure says why this lab insists on write access ([`WRITE_REFUSED`]).
    ///
    /// # Errors
    /// As [`Session::expect`].
    pub fn expect_write(&mut self, line: &str, codes: &[u16]) -> Result<Reply, Failure> {
        let reply = self.command(line)?;
        self.check(line, &reply, codes).map_err(|f| {
            if reply.code >= 400 {
                f.detail(WRITE_REFUSED)
            } else {
                f
            }
        })?;
        Ok(reply)
    }

    /// Checks a reply already read.
    ///
    /// # Errors
    /// A failure if its code is not one of `codes`.
    pub fn check(&self, line: &str, reply: &Reply, codes: &[u16]) -> Result<(), Failure> {
        if codes.contains(&reply.code) {
            return Ok(());
        }
        let want = codes
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        Err(Failure::new(format!("`{line}` got the wrong reply code"))
            .expected(want)
            .got(reply.show()))
    }

    /// Requests a passive data connection and connects to it.
    ///
    /// # Errors
    /// A failure if the reply is wrong or the port does not accept the connection.
    pub fn data(&mut self, ctx: &mut Ctx, mode: Mode) -> Result<Conn, Failure> {
        let addr = match mode {
            Mode::Pasv => {
                let r = self.expect("PASV", &[227])?;
                let [a, b, c, d, p1, p2] = parse_pasv(&r.lines.join(" ")).ok_or_else(|| {
                    Failure::new("the 227 reply to PASV has no address in it")
                        .expected("six numbers h1,h2,h3,h4,p1,p2, e.g. (127,0,0,1,195,80)")
                        .got(r.show())
                })?;
                let ip = Ipv4Addr::new(a, b, c, d);
                self.check_pasv_address(&r, ip)?;
                SocketAddr::new(IpAddr::V4(ip), u16::from(p1) << 8 | u16::from(p2))
            }
            Mode::Epsv => {
                let r = self.expect("EPSV", &[229])?;
                let text = r.lines.join(" ");
                let port = parse_epsv(&text).ok_or_else(|| {
                    Failure::new("the 229 reply to EPSV has no port in it")
                        .expected("(|||port|) as in RFC 2428")
                        .got(r.show())
                })?;
                check_epsv_fields(&r, &text)?;
                SocketAddr::new(ctx.addr().ip(), port)
            }
        };
        ctx.connect_to(addr)
    }

    /// A 227 reply must name the address this control connection reached: that is where
    /// the client connects. 0.0.0.0 is what a listener bound to every address reports,
    /// not an address to connect to (Linux happens to route it to the local machine, so
    /// the mistake only shows for clients on other machines).
    fn check_pasv_address(&self, reply: &Reply, named: Ipv4Addr) -> Result<(), Failure> {
        let Ok(server) = self.conn.stream().peer_addr() else {
            return Ok(());
        };
        let server_v4 = match server.ip() {
            IpAddr::V4(v4) => v4,
            // Over IPv6 a 227 cannot name the server at all: nothing to compare.
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => return Ok(()),
            },
        };
        if named == server_v4 {
            return Ok(());
        }
        let [a, b, c, d] = server_v4.octets();
        let f = if named.is_unspecified() {
            Failure::new("the 227 reply to PASV names 0.0.0.0, which is not an address a client can connect to")
                .detail("0.0.0.0 means \"every address\" to bind(); announce the data listener with the address the client reached the control connection on (its local address). Connecting to 0.0.0.0 happens to reach the local machine on Linux, so this works on your own computer and fails for every client elsewhere.")
        } else {
            Failure::new(format!(
                "the 227 reply to PASV names {named}, not the address the control connection reached ({server_v4})"
            ))
            .detail("The client connects to the address in the reply: name the control connection's local address.")
        };
        Err(f
            .expected(format!(
                "({a},{b},{c},{d},p1,p2): this server's address on the control connection"
            ))
            .got(reply.show()))
    }

    /// Downloads `path` in binary type (the caller sent `TYPE I`).
    ///
    /// # Errors
    /// A failure for a refused command, a broken transfer or a wrong final reply.
    pub fn retr(
        &mut self,
        ctx: &mut Ctx,
        path: &str,
        mode: Mode,
        limit: usize,
    ) -> Result<Vec<u8>, Failure> {
        let data = self.data(ctx, mode)?;
        let line = format!("RETR {path}");
        self.expect(&line, &[125, 150])?;
        let got = receive_and_close(data, limit);
        if !matches!(got.end, End::Eof) {
            return Err(Failure::new(format!(
                "the data connection of `{line}` did not end with a close after {} bytes",
                got.bytes.len()
            ))
            .detail(format!("It ended with {:?}. In stream mode, closing the data connection marks the end of the file.", got.end)));
        }
        let done = self.read_reply(&format!("after the data of {line}"))?;
        self.check(&line, &done, &[226, 250])?;
        Ok(got.bytes)
    }

    /// Uploads `bytes` as `path` in binary type.
    ///
    /// # Errors
    /// A failure for a refused command, a broken transfer or a wrong final reply.
    pub fn stor(
        &mut self,
        ctx: &mut Ctx,
        path: &str,
        bytes: &[u8],
        mode: Mode,
    ) -> Result<(), Failure> {
        let mut data = self.data(ctx, mode)?;
        let line = format!("STOR {path}");
        self.expect_write(&line, &[125, 150])?;
        data.send(bytes)?;
        data.close();
        let done = self.read_reply(&format!("after the data of {line}"))?;
        self.check(&line, &done, &[226, 250])
    }

    /// Uploads `bytes` as `path` like [`Session::stor`], except that the server may refuse
    /// with 550 or 553 (RFC 959 lets a server deny a write it does not permit, and some
    /// never let anonymous users replace a file: pure-ftpd). Returns whether it stored.
    ///
    /// # Errors
    /// A failure for any other reply, a broken transfer or a wrong final reply.
    pub fn stor_unless_refused(
        &mut self,
        ctx: &mut Ctx,
        path: &str,
        bytes: &[u8],
        mode: Mode,
    ) -> Result<bool, Failure> {
        let mut data = self.data(ctx, mode)?;
        let line = format!("STOR {path}");
        let reply = self.command(&line)?;
        if matches!(reply.code, 550 | 553) {
            data.close();
            return Ok(false);
        }
        self.check(&line, &reply, &[125, 150])?;
        data.send(bytes)?;
        data.close();
        let done = self.read_reply(&format!("after the data of {line}"))?;
        self.check(&line, &done, &[226, 250])?;
        Ok(true)
    }

    /// Runs LIST or NLST (`line`) and returns the listing's bytes.
    ///
    /// # Errors
    /// A failure for a refused command or a broken transfer.
    pub fn listing(&mut self, ctx: &mut Ctx, line: &str, mode: Mode) -> Result<Vec<u8>, Failure> {
        let data = self.data(ctx, mode)?;
        self.expect(line, &[125, 150])?;
        let got = receive_and_close(data, 1 << 20);
        if !matches!(got.end, End::Eof) {
            return Err(Failure::new(format!(
                "the listing of `{line}` did not end with a close"
            )));
        }
        let done = self.read_reply(&format!("after the listing of {line}"))?;
        self.check(line, &done, &[226, 250])?;
        Ok(got.bytes)
    }

    /// After a test: a new session is still greeted with 220 and let go with 221.
    ///
    /// # Errors
    /// A failure if no greeting (or no goodbye) comes.
    pub fn still_serves(ctx: &mut Ctx) -> crate::grade::probe::ProbeResult {
        Ok(Session::open(ctx)?.quit()?)
    }

    /// Sends QUIT, expects 221 and the close.
    ///
    /// # Errors
    /// A failure if the reply or the close is missing.
    pub fn quit(mut self) -> Result<(), Failure> {
        self.expect("QUIT", &[221])?;
        self.conn.expect_eof("after QUIT")
    }

    /// Drops the connection with a reset, as a client that crashed.
    pub fn reset(self) {
        self.conn.reset();
    }
}

/// Reads a data connection until the server closes it, then closes our end at once.
///
/// Our close must come before we wait for the final reply (226): a server may send that
/// reply only once the client has closed too. ProFTPD does (its lingering close waits for
/// the client's FIN before it reports the transfer complete), and RFC 959 does not order
/// the two; ftplib and curl close first. A client that keeps its end open while it waits
/// for the 226 waits for a server that is waiting for it.
pub fn receive_and_close(mut data: Conn, limit: usize) -> Received {
    let got = data.recv_to_eof(limit);
    data.close();
    got
}

/// RFC 2428: in a 229 reply "the first two fields contained in the parenthesis MUST be
/// blank": the client reuses the control connection's address. (EPRT, the client's
/// command, is the one that fills them in.)
fn check_epsv_fields(reply: &Reply, text: &str) -> Result<(), Failure> {
    match epsv_fields(text) {
        Some([proto, addr, _]) if !proto.is_empty() || !addr.is_empty() => Err(Failure::new(
            "the 229 reply to EPSV fills in the fields that must be blank",
        )
        .expected("(|||port|): only the port, the first two fields empty (RFC 2428, section 3)")
        .got(reply.show())
        .detail("EPSV's reply names only the port; the client connects to the address it already reached. The (|1|address|port|) form is EPRT's, a command the client sends.")),
        _ => Ok(()),
    }
}

/// The names in a listing: NLST lines as they are, LIST lines' last field.
pub fn listed_names(listing: &[u8], long: bool) -> Vec<String> {
    String::from_utf8_lossy(listing)
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && !l.starts_with("total "))
        .map(|l| {
            let name = if long {
                l.split_whitespace().last().unwrap_or("")
            } else {
                l
            };
            name.trim_start_matches("./")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_from_listings() {
        let long = b"total 2\r\n-rw-r--r-- 1 ftp ftp 3 Nov 22 17:30 a.bin\r\ndrwxr-xr-x 2 o g 4096 Jan  1  2024 sub\r\n";
        assert_eq!(listed_names(long, true), ["a.bin", "sub"]);
        assert_eq!(
            listed_names(b"a\r\n./b\r\n/x/c\r\n", false),
            ["a", "b", "c"]
        );
    }
}
