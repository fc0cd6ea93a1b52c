//! Packet captures: every packet on the loopback of the grader's own network namespace,
//! kept in memory and written out per test as a pcap file that Wireshark, `tshark` and
//! `tcpdump -r` open.
//!
//! How it sees the packets: the grader moves itself into a network namespace of its own
//! ([`sandbox::move_into_private_network`]) before it starts anything, so every program
//! it grades, and every probe connection, talks over that namespace's loopback and
//! nothing else. A packet socket (`AF_PACKET`, `ETH_P_ALL`) there receives a copy of each
//! frame; it needs `CAP_NET_RAW` over the namespace, which the namespace's creator holds
//! (as root, or through the user namespace an unprivileged user may make where the kernel
//! allows it). Where none of that is possible, [`Capture::start`] says why and nothing is
//! recorded: a capture is never made up.
//!
//! Loopback frames carry an Ethernet header with zero addresses, so the file's link type
//! is Ethernet. The kernel hands a packet socket each loopback frame twice, once going out
//! and once coming in; `PACKET_IGNORE_OUTGOING` keeps the incoming copy only (what
//! `tcpdump -i lo` shows). Timestamps are the kernel's (`SO_TIMESTAMPNS`), taken as the
//! frame arrived, not when this thread got round to reading it.
//!
//! libc rather than rustix for three calls: rustix has the packet socket itself, but no
//! `PACKET_IGNORE_OUTGOING`, `SO_TIMESTAMPNS` or `PACKET_STATISTICS` option and no way to
//! read a timestamp control message.
//!
//! Nothing is made up: frames the kernel dropped (its queue full while this thread was
//! behind) or that exceeded what a file keeps are counted, and the feedback says how many
//! are missing.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use crate::os::sandbox;

/// The most of one frame kept (loopback frames reach 64 KiB, and more with GSO), as
/// tcpdump's default.
const SNAP_LEN: u32 = 262_144;
/// Once a test's packets weigh this much, only the headers of further frames are kept
/// (the file says how long each frame really was): a test that streams megabytes
/// should not fill the memory or the disk, and the headers are what the I/O graph needs.
const FULL_BYTES_PER_TEST: usize = 32 << 20;
/// The most frames kept between two saves (of headers, 128 MiB at most); past it frames
/// are counted, not kept, and the save says so. Only a long load run (`bench`) gets here.
const MAX_FRAMES_PER_TEST: usize = 1 << 20;
/// What is kept of a frame past that: Ethernet, IPv6 and a TCP header with options.
const HEADER_BYTES: usize = 128;
/// How long the reader sleeps between looks at the stop flag when no frame comes.
const IDLE_POLL: Duration = Duration::from_millis(50);
/// How long saving waits for the reader to catch up with the frames already queued.
const CATCH_UP: Duration = Duration::from_secs(5);

/// One captured frame.
struct Frame {
    /// When the kernel received it.
    at: SystemTime,
    /// Its length on the wire.
    len: u32,
    /// Its first bytes (all of them, below the snap length).
    data: Vec<u8>,
}

/// What the reader thread shares with the grader.
#[derive(Default)]
struct Shared {
    /// Frames not yet saved, in arrival order.
    frames: Vec<Frame>,
    /// The bytes of frame data they hold.
    kept_bytes: usize,
    /// Frames that arrived past [`MAX_FRAMES_PER_TEST`] since the last save.
    not_kept: usize,
    /// Frames the kernel dropped since the last save (its queue was full).
    dropped: usize,
    /// The reader found the socket's queue empty at this time: every frame that arrived
    /// before it is in `frames`.
    drained_at: Option<SystemTime>,
    /// Why the reader stopped, if it did.
    failed: Option<String>,
}

/// A running capture of the grader's network namespace.
pub struct Capture {
    dir: PathBuf,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    stop: Arc<AtomicBool>,
    reader: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture").field("dir", &self.dir).finish()
    }
}

/// What [`Capture::save`] wrote.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The pcap file.
    pub path: PathBuf,
    /// How many frames it holds.
    pub frames: usize,
    /// How many more arrived than a file keeps ([`MAX_FRAMES_PER_TEST`]), or were
    /// dropped by the kernel before this capture could read them: missing from the file.
    pub not_kept: usize,
    /// Whether the reader had caught up with the end of the test (it had not within
    /// 5 s on a machine too busy: the file may lack the last packets).
    pub complete: bool,
}

impl Capture {
    /// Moves this process into a network namespace of its own and starts capturing its
    /// loopback; files go to `dir` (created). Call it before the process starts any
    /// thread or program: they would stay in the old namespace.
    ///
    /// # Errors
    /// Why capturing is impossible here, in words for the person who asked for it.
    pub fn start(dir: &Path) -> Result<Capture, String> {
        sandbox::move_into_private_network().map_err(|e| {
            let why = match e.raw_os_error() {
                Some(libc::EPERM) => "not permitted".to_string(),
                Some(libc::ENOSPC) => {
                    "no user namespace left to make: user.max_user_namespaces is 0 here, or used up"
                        .to_string()
                }
                Some(libc::EINVAL) => "the grader had already started a thread".to_string(),
                _ => e.to_string(),
            };
            format!(
                "the kernel refuses this user a network namespace of its own ({why}); as \
                 root, or where unprivileged user namespaces are allowed \
                 (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone), it works"
            )
        })?;
        // Only now: a refused capture leaves nothing behind.
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let socket = open_packet_socket()
            .map_err(|e| format!("cannot open a packet socket on the loopback ({e})"))?;
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (shared, stop) = (shared.clone(), stop.clone());
            thread::Builder::new()
                .name("capture".into())
                .spawn(move || read_frames(&socket, &shared, &stop))
                .map_err(|e| format!("cannot start the capture thread ({e})"))?
        };
        Ok(Capture {
            dir: dir.to_path_buf(),
            shared,
            stop,
            reader: Some(reader),
        })
    }

    /// The folder the files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Now, as the capture's clock counts (a test's packets are those after its mark).
    pub fn mark(&self) -> SystemTime {
        SystemTime::now()
    }

    /// Writes every frame since `from` (until now) to `DIR/NAME.pcap`, and forgets every
    /// frame up to now. Waits (boundedly) until the reader has taken in the frames that
    /// were already queued.
    ///
    /// # Errors
    /// When the reader has stopped, or the file cannot be written.
    pub fn save(&self, name: &str, from: SystemTime) -> io::Result<Saved> {
        let until = SystemTime::now();
        let (lock, caught_up) = &*self.shared;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut shared, waited) = caught_up
            .wait_timeout_while(guard, CATCH_UP, |s| {
                s.failed.is_none() && s.drained_at.is_none_or(|t| t < until)
            })
            .unwrap_or_else(|e| e.into_inner());
        let complete = !waited.timed_out();
        if let Some(why) = &shared.failed {
            return Err(io::Error::other(why.clone()));
        }
        let keep = shared.frames.partition_point(|f| f.at <= until);
        let frames: Vec<Frame> = shared.frames.drain(..keep).collect();
        shared.kept_bytes = shared.frames.iter().map(|f| f.data.len()).sum();
        let not_kept = std::mem::take(&mut shared.not_kept) + std::mem::take(&mut shared.dropped);
        drop(shared);
        let path = self.dir.join(format!("{name}.pcap"));
        let file = io::BufWriter::new(std::fs::File::create(&path)?);
        let header = PcapHeader {
            snaplen: SNAP_LEN,
            ts_resolution: pcap_file::TsResolution::NanoSecond,
            ..PcapHeader::default()
        };
        let mut writer = PcapWriter::with_header(file, header).map_err(io::Error::other)?;
        let mut count = 0;
        for frame in frames.iter().filter(|f| f.at >= from) {
            let data = &frame.data[..];
            let since_epoch = frame
                .at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            writer
                .write_packet(&PcapPacket::new(since_epoch, frame.len, data))
                .map_err(io::Error::other)?;
            count += 1;
        }
        use io::Write as _;
        writer.into_writer().flush()?;
        Ok(Saved {
            path,
            frames: count,
            not_kept,
            complete,
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// A packet socket receiving every frame of this namespace (whose only interface is
/// the loopback), the incoming copy of each, with kernel timestamps.
fn open_packet_socket() -> io::Result<OwnedFd> {
    use rustix::net::{socket_with, AddressFamily, SocketFlags, SocketType};
    let socket = socket_with(
        AddressFamily::PACKET,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(rustix::net::eth::ALL),
    )?;
    // Room for bursts (a swarm's connections opening at once) while this thread sleeps.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, 8 << 20);
    let on: libc::c_int = 1;
    for (level, option) in [
        (libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING),
        (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS),
    ] {
        // SAFETY: an open socket, and a pointer to a live `c_int` of the length given.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                option,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(socket)
}

/// The reader thread: takes every queued frame, notes when the queue was empty, sleeps
/// until the next frame (or the stop flag).
fn read_frames(socket: &OwnedFd, shared: &(Mutex<Shared>, Condvar), stop: &AtomicBool) {
    let (lock, caught_up) = shared;
    let mut buf = vec![0u8; SNAP_LEN as usize];
    while !stop.load(Ordering::SeqCst) {
        // Noted before the look: a frame that arrived before this instant is queued now.
        let looked_at = SystemTime::now();
        let mut batch: Vec<Frame> = Vec::new();
        let error = loop {
            match receive(socket, &mut buf) {
                Ok(Some(frame)) => batch.push(frame),
                Ok(None) => break None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Some(e),
            }
        };
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        for mut frame in batch {
            if s.frames.len() >= MAX_FRAMES_PER_TEST {
                s.not_kept += 1;
                continue;
            }
            if s.kept_bytes >= FULL_BYTES_PER_TEST {
                frame.data.truncate(HEADER_BYTES);
                frame.data.shrink_to_fit();
            }
            s.kept_bytes += frame.data.len();
            s.frames.push(frame);
        }
        s.dropped += dropped_since_asked(socket);
        match error {
            None => s.drained_at = Some(looked_at),
            Some(e) => s.failed = Some(format!("the capture stopped: {e}")),
        }
        let failed = s.failed.is_some();
        drop(s);
        caught_up.notify_all();
        if failed {
            return;
        }
        let mut fds = [rustix::event::PollFd::new(
            socket,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec::try_from(IDLE_POLL).expect("a small duration");
        let _ = rustix::event::poll(&mut fds, Some(&timeout));
    }
}

/// How many frames the kernel dropped (a full queue) since it was last asked: reading
/// `PACKET_STATISTICS` resets its counters.
fn dropped_since_asked(socket: &OwnedFd) -> usize {
    // SAFETY: `tpacket_stats` is plain old data, for which all zeroes is a valid value.
    let mut stats: libc::tpacket_stats = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: an open packet socket, and a live `tpacket_stats` of the length given.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        stats.tp_drops as usize
    } else {
        0
    }
}

/// One frame, if one is queued (never blocks).
fn receive(socket: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<Frame>> {
    // Room for one SCM_TIMESTAMPNS message, aligned as cmsghdr needs.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is plain old data, for which all zeroes is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at a live buffer and control area of the lengths it gives.
    // MSG_TRUNC makes the call return the frame's real length when it is longer.
    let n = unsafe {
        libc::recvmsg(
            socket.as_raw_fd(),
            &mut msg,
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    let len = n as usize;
    let mut at = SystemTime::now();
    // SAFETY: the CMSG_* macros walk the control area the kernel just filled in, within
    // `msg_controllen`; a timestamp message's data is one `timespec`, read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                at = SystemTime::UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(Some(Frame {
        at,
        len: len as u32,
        data: buf[..len.min(buf.len())].to_vec(),
    }))
}
