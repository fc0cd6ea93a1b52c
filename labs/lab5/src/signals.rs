//! Turning SIGINT (Ctrl-C) and SIGTERM into a graceful shutdown.
//!
//! A signal handler may run on any thread, at any moment, and may only call a handful of
//! async-signal-safe functions: no locks, no allocation, no printing. The simple and safe
//! design is to *block* the signals in every thread and let one dedicated thread wait
//! for them with `sigwait(2)`, as an ordinary blocking call. That thread may then do
//! anything, such as starting the shutdown. A second signal ends the process at once,
//! for when a stuck client holds the graceful shutdown up.
//!
//! std has no signal API, hence `libc`. This module is given in full in the student stub.

use std::io;
use std::thread;

/// Blocks SIGINT and SIGTERM, then starts a thread that calls `on_signal` at the first of
/// them, and exits the process at the second.
///
/// Call it before starting any other thread: a thread inherits the signal mask of the
/// thread that creates it, so every later thread has these signals blocked too.
///
/// # Errors
/// If the signal mask cannot be changed or the thread cannot be started.
pub fn on_termination(on_signal: impl FnOnce() + Send + 'static) -> io::Result<()> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
    }
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let first = wait(&set);
            eprintln!("lab5: received signal {first}: shutting down gracefully (send it again to stop at once)");
            on_signal();
            let second = wait(&set);
            eprintln!("lab5: received signal {second} again: exiting now");
            std::process::exit(1);
        })?;
    Ok(())
}

/// Waits for one of the signals in `set` and returns its number.
fn wait(set: &libc::sigset_t) -> i32 {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is initialised and `sig` is a valid place for the result. sigwait
    // only fails for an invalid set, which ours is not; retry anyway rather than spin.
    while unsafe { libc::sigwait(set, &mut sig) } != 0 {}
    sig
}
