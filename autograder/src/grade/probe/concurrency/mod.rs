//! Probes for concurrent echo servers (labs 2 and 3): many clients at once, a client that
//! stalls, a client that never reads, and what the server costs while it serves them.
//!
//! They test behaviour only: what arrives on the sockets, and facts any operating system
//! can report about a process (threads, children, descriptors, CPU, memory). A server in
//! any language, with threads, a pool, `select`, epoll or `asyncio`, passes when it behaves.
//!
//! | probe | the mistake it catches |
//! |---|---|
//! | [`stalled_client`] | serving one client at a time (iterative, or one global lock) |
//! | [`many_clients`] | a fixed handful of workers; clients' bytes mixed up (a shared buffer) |
//! | [`connection_burst`] | sockets never closed (descriptors leak), errors under a burst |
//! | [`single_thread`] | a thread (or process) per client where one thread is required |
//! | [`idle_cpu`] | a loop that polls sockets without sleeping in a readiness call |
//! | [`non_reading_client`] | a blocking send inside the event loop |
//! | [`bounded_memory`] | buffering without bound for a client that does not read |
//! | [`thousand_clients`] | not scaling to 1,000 simultaneous connections |
//!
//! Many clients are driven by a [`Swarm`] ([`swarm`]): non-blocking sockets on the grader's
//! readiness-loop engine, one grader thread for a thousand clients, moving in lock-step
//! rounds that a server serving clients one (or a few) at a time cannot get past. What the
//! probes ask about the program itself (threads, CPU, memory, descriptors) they ask its
//! [`Process`](crate::grade::probe::Process) handle: where `/proc` cannot tell, the test is
//! skipped.
//!
//! The probes are split by what they look at: `clients` (who gets served, and how many
//! at once) and `resources` (what serving them costs the program).
//!
//! Try it by hand against your server: open a few `nc 127.0.0.1 PORT` sessions, type into
//! the first one without pressing Enter, and check that the others still echo.

mod clients;
mod resources;
pub mod swarm;

pub use clients::*;
pub use resources::*;
pub use swarm::Swarm;

use super::Ctx;

/// The receive buffer of swarm clients: small, so the program's writes fill it while the
/// grader is busy with other clients, but above loopback's segment size (64 KiB). A buffer
/// smaller than one segment can leave the window closed until a zero-window probe, and
/// those back off to several seconds.
const RECV_BUFFER: usize = 128 * 1024;

const MIB: usize = 1 << 20;

/// Random chunks, one per client, of `lo..=hi` bytes.
fn chunks(ctx: &mut Ctx, count: usize, lo: usize, hi: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            let len = ctx.rng.range(lo, hi);
            ctx.rng.bytes(len)
        })
        .collect()
}
