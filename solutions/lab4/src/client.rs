//! The client: `get`, `put` and `ls`, with several transfers in flight at once.
//!
//! An FTP control connection carries one transfer at a time, so a client that wants
//! several files at once opens one session per file. Each session is a task: connect,
//! log in, switch to binary, open a passive data connection, transfer, quit. All tasks
//! start together ([`tokio::task::JoinSet`]), so while one waits for the server (a reply,
//! the first byte of a file), the others make progress. For N files that each wait d
//! before their data flows, the total is about d, not N·d: the lecture's
//! 2(L/R)+d_prop instead of 2(L/R+d_prop).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::data;
use crate::reply::Reply;
use crate::trace::Trace;

/// Where the server is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Control port.
    pub port: u16,
}

/// A logged-in control connection.
#[derive(Debug)]
pub struct Control {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    label: String,
    trace: Trace,
}

impl Control {
    /// Connects, reads the greeting, logs in anonymously and switches to binary type.
    ///
    /// # Errors
    /// If the server is unreachable, or any step gets a negative reply (the error text
    /// contains the reply).
    pub async fn open(endpoint: &Endpoint, label: String, trace: Trace) -> Result<Control> {
        let stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .with_context(|| format!("cannot connect to {}:{}", endpoint.host, endpoint.port))?;
        let peer = stream.peer_addr()?;
        trace.event(&label, '*', format_args!("connected to {peer}"));
        let (read, writer) = stream.into_split();
        let mut control = Control {
            reader: BufReader::new(read),
            writer,
            peer,
            label,
            trace,
        };
        let greeting = control.read_reply().await?;
        expect(&greeting, 220, "greeting")?;
        let user = control.command("USER anonymous").await?;
        if user.code == 331 {
            let pass = control.command("PASS lab4@example.com").await?;
            expect(&pass, 230, "PASS")?;
        } else {
            expect(&user, 230, "USER")?;
        }
        // Binary, always: ASCII type would turn every LF into CRLF on the way.
        let ty = control.command("TYPE I").await?;
        expect(&ty, 200, "TYPE I")?;
        Ok(control)
    }

    /// Reads one reply, single- or multi-line, however its bytes are split into packets.
    ///
    /// # Errors
    /// If the connection closes or the reply is malformed.
    pub async fn read_reply(&mut self) -> Result<Reply> {
        let first = self.read_line().await?;
        let code = reply_code(&first).ok_or_else(|| anyhow!("malformed reply {first:?}"))?;
        let mut lines = vec![first[4.min(first.len())..].to_string()];
        if first.as_bytes().get(3) == Some(&b'-') {
            // Multi-line: everything up to a line that starts with the same code and a
            // space belongs to this reply.
            loop {
                let line = self.read_line().await?;
                if line.len() >= 4 && line.starts_with(&first[..3]) && line.as_bytes()[3] == b' ' {
                    lines.push(line[4..].to_string());
                    break;
                }
                lines.push(line);
            }
        }
        Ok(Reply::multi(code, lines))
    }

    async fn read_line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        let n = self.reader.read_until(b'\n', &mut line).await?;
        if n == 0 || !line.ends_with(b"\n") {
            bail!("the server closed the control connection");
        }
        let text = String::from_utf8_lossy(crate::command::strip_line_ending(&line)).into_owned();
        self.trace.event(&self.label, '<', format_args!("{text}"));
        Ok(text)
    }

    /// Sends one command line and reads its reply.
    ///
    /// # Errors
    /// If the connection fails.
    pub async fn command(&mut self, line: &str) -> Result<Reply> {
        let shown = crate::command::Command::parse(line).shown();
        self.trace.event(&self.label, '>', format_args!("{shown}"));
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        self.read_reply().await
    }

    /// Asks for a passive data connection (EPSV, or PASV if the server refuses EPSV)
    /// and connects to it.
    ///
    /// # Errors
    /// If both are refused or the connection fails.
    pub async fn open_data(&mut self) -> Result<TcpStream> {
        let epsv = self.command("EPSV").await?;
        let addr = if epsv.code == 229 {
            let port = data::parse_epsv(&epsv.text())
                .ok_or_else(|| anyhow!("cannot read the port in {epsv}"))?;
            SocketAddr::new(self.peer.ip(), port)
        } else {
            let pasv = self.command("PASV").await?;
            expect(&pasv, 227, "PASV")?;
            SocketAddr::V4(
                data::parse_pasv(&pasv.text())
                    .ok_or_else(|| anyhow!("cannot read the address in {pasv}"))?,
            )
        };
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot open the data connection to {addr}"))?;
        self.trace
            .event(&self.label, '*', format_args!("data: connected to {addr}"));
        Ok(stream)
    }

    /// Sends a transfer command and expects 150 or 125 (the data is about to flow).
    ///
    /// # Errors
    /// With the server's reply if it refuses.
    pub async fn start_transfer(&mut self, line: &str) -> Result<()> {
        let reply = self.command(line).await?;
        if reply.code != 150 && reply.code != 125 {
            bail!("{line}: the server replied {reply}");
        }
        Ok(())
    }

    /// Reads the reply that ends a transfer, expecting 226 or 250.
    ///
    /// # Errors
    /// With the server's reply if the transfer failed.
    pub async fn finish_transfer(&mut self, what: &str) -> Result<()> {
        let reply = self.read_reply().await?;
        if reply.code != 226 && reply.code != 250 {
            bail!("{what}: the server replied {reply}");
        }
        Ok(())
    }

    /// Says goodbye; errors are ignored (the work is done).
    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
    }
}

fn reply_code(line: &str) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match line.as_bytes().get(3) {
        None | Some(b' ') | Some(b'-') => digits.parse().ok(),
        _ => None,
    }
}

fn expect(reply: &Reply, code: u16, step: &str) -> Result<()> {
    if reply.code == code {
        Ok(())
    } else {
        bail!("{step}: the server replied {reply}")
    }
}

/// Downloads `remote` into `out_dir` (under its last path component), through a
/// temporary file renamed on success. Returns the number of bytes.
///
/// # Errors
/// With the server's reply when it refuses, or the I/O error.
pub async fn get(
    endpoint: &Endpoint,
    remote: &str,
    out_dir: &Path,
    label: String,
    trace: Trace,
) -> Result<u64> {
    let name = remote
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "..");
    let Some(name) = name else {
        bail!("{remote}: not a file name");
    };
    let target = out_dir.join(name);
    let temp = out_dir.join(format!(".{name}.part-{}", std::process::id()));
    let mut control = Control::open(endpoint, label, trace).await?;
    let mut stream = control.open_data().await?;
    control.start_transfer(&format!("RETR {remote}")).await?;
    let file = tokio::fs::File::create(&temp)
        .await
        .with_context(|| format!("cannot create {}", temp.display()))?;
    // Each write to a tokio file is a hop to the blocking thread pool: the BufWriter
    // makes it one hop per MiB instead of one per socket read.
    let mut file = tokio::io::BufWriter::with_capacity(data::FILE_BUF_SIZE, file);
    let copied = data::receive(&mut stream, &mut file, false).await;
    drop(file);
    let done = match copied {
        Ok(n) => control
            .finish_transfer(&format!("RETR {remote}"))
            .await
            .map(|()| n),
        Err(e) => Err(e.into()),
    };
    match done {
        Ok(n) => {
            tokio::fs::rename(&temp, &target).await?;
            control.quit().await;
            Ok(n)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            Err(e)
        }
    }
}

/// Uploads `local` under its file name. Returns the number of bytes.
///
/// # Errors
/// With the server's reply when it refuses, or the I/O error.
pub async fn put(endpoint: &Endpoint, local: &Path, label: String, trace: Trace) -> Result<u64> {
    let name = local
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file", local.display()))?
        .to_string_lossy()
        .into_owned();
    let file = tokio::fs::File::open(local)
        .await
        .with_context(|| format!("cannot open {}", local.display()))?;
    // One hop to the blocking thread pool per MiB read, not per 64 KiB.
    let mut file = tokio::io::BufReader::with_capacity(data::FILE_BUF_SIZE, file);
    let mut control = Control::open(endpoint, label, trace).await?;
    let mut stream = control.open_data().await?;
    control.start_transfer(&format!("STOR {name}")).await?;
    let n = data::send(&mut file, &mut stream, false).await?;
    // Closing the data connection is the end-of-file mark in stream mode.
    stream.shutdown().await?;
    drop(stream);
    control.finish_transfer(&format!("STOR {name}")).await?;
    control.quit().await;
    Ok(n)
}

/// Lists `path` (the current directory if empty) with LIST; returns the listing's bytes.
///
/// # Errors
/// With the server's reply when it refuses, or the I/O error.
pub async fn list(endpoint: &Endpoint, path: &str, trace: Trace) -> Result<Vec<u8>> {
    let mut control = Control::open(endpoint, "c1".into(), trace).await?;
    let mut stream = control.open_data().await?;
    let line = if path.is_empty() {
        "LIST".to_string()
    } else {
        format!("LIST {path}")
    };
    control.start_transfer(&line).await?;
    let mut out = Vec::new();
    data::receive(&mut stream, &mut out, false).await?;
    control.finish_transfer(&line).await?;
    control.quit().await;
    Ok(out)
}

/// What happened to each file of a `get` or `put`.
pub type Outcomes = Vec<(String, Result<u64>)>;

/// Downloads every file in `remotes` at once, one session each; results in input order.
pub async fn get_all(
    endpoint: &Endpoint,
    remotes: &[String],
    out_dir: &Path,
    trace: &Trace,
) -> Outcomes {
    let mut tasks = JoinSet::new();
    for (i, remote) in remotes.iter().enumerate() {
        let (endpoint, remote, out_dir, trace) = (
            endpoint.clone(),
            remote.clone(),
            out_dir.to_path_buf(),
            trace.clone(),
        );
        // Spawned, not awaited: every transfer starts now and they overlap.
        tasks.spawn(async move {
            let result = get(&endpoint, &remote, &out_dir, format!("c{}", i + 1), trace).await;
            (i, remote, result)
        });
    }
    collect(tasks, remotes.len()).await
}

/// Uploads every file in `locals` at once, one session each; results in input order.
pub async fn put_all(endpoint: &Endpoint, locals: &[PathBuf], trace: &Trace) -> Outcomes {
    let mut tasks = JoinSet::new();
    for (i, local) in locals.iter().enumerate() {
        let (endpoint, local, trace) = (endpoint.clone(), local.clone(), trace.clone());
        tasks.spawn(async move {
            let result = put(&endpoint, &local, format!("c{}", i + 1), trace).await;
            (i, local.display().to_string(), result)
        });
    }
    collect(tasks, locals.len()).await
}

/// Waits for every task and puts the results back in the order the files were named.
async fn collect(mut tasks: JoinSet<(usize, String, Result<u64>)>, n: usize) -> Outcomes {
    let mut slots: Vec<Option<(String, Result<u64>)>> = (0..n).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, name, result)) => slots[i] = Some((name, result)),
            Err(e) => eprintln!("lab4: a transfer task failed: {e}"),
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.unwrap_or_else(|| (format!("file {}", i + 1), Err(anyhow!("task failed")))))
        .collect()
}
