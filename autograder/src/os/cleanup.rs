//! The registry of live process groups, and the signal handler that kills them if the
//! grader is interrupted.
//!
//! This is the grader's one process-wide mutable registry, on purpose: a signal handler
//! cannot be handed state, so the groups it must kill on Ctrl-C live in a fixed array of
//! atomics it can read without locking. Everything that starts a process group
//! ([`crate::os::harness`], [`crate::os::sandbox`]) registers it here and forgets it
//! once it is torn down.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

use rustix::process::{kill_process_group, Pid, Signal};

/// Slots the signal handler can read without locking (locks are not signal-safe).
const SLOTS: usize = 1024;
static GROUPS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
static LOCK: Mutex<()> = Mutex::new(());
static INSTALL: Once = Once::new();

/// A guard through which new groups are registered.
pub struct Registry(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Registry {
    /// Records a new live process group.
    pub fn push(&mut self, pgid: i32) {
        if let Some(slot) = GROUPS.iter().find(|s| s.load(Ordering::SeqCst) == 0) {
            slot.store(pgid, Ordering::SeqCst);
        }
    }

    /// The live process groups (read under the lock, so none is being added).
    pub fn groups(&self) -> Vec<i32> {
        GROUPS
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .filter(|&g| g > 0)
            .collect()
    }
}

/// Locks the registry (and installs the signal handler on first use).
pub fn lock() -> Registry {
    INSTALL.call_once(install);
    Registry(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Removes a group that has been torn down.
pub fn forget(pgid: i32) {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for slot in &GROUPS {
        let _ = slot.compare_exchange(pgid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Kills every registered group now. Async-signal-safe (the signal handler calls it): atomic
/// loads, and rustix's kill, one system call that neither allocates, locks nor sets errno
/// (with its libc backend, kill(2) itself, which POSIX lists as async-signal-safe).
pub fn kill_all() {
    for slot in &GROUPS {
        if let Some(group) = Pid::from_raw(slot.load(Ordering::SeqCst).max(0)) {
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

// The handler is installed and re-raised through libc: rustix leaves signal handlers to
// libc on purpose (sigaction is on its `not_implemented` list; `runtime::kernel_sigaction`
// is a hidden, unstable API for libc-free runtimes) and has no raise(3). signal(2) and
// raise(3) are both on POSIX's list of async-signal-safe functions.
extern "C" fn on_signal(sig: libc::c_int) {
    kill_all();
    // SAFETY: restoring the default action and re-raising are async-signal-safe; the
    // grader then dies of the same signal, as the user asked.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn install() {
    for sig in [Signal::INT, Signal::TERM, Signal::HUP] {
        // SAFETY: `on_signal` only performs async-signal-safe operations.
        unsafe {
            libc::signal(sig.as_raw(), on_signal as *const () as libc::sighandler_t);
        }
    }
}
