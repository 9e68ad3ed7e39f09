//! Clean interrupts: SIGINT, SIGTERM and SIGHUP set a flag that the training loop checks at
//! every step boundary, so a run stops keeping its last checkpoint and says how to continue.
//! A second signal ends the process at once. Child processes (pip, npm) are polled and killed
//! when the flag is set. Only the command-line tool installs the handlers; a library user who
//! does not call [`install`] keeps the default behaviour.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The number of the signal that asked us to stop (0: none).
fn flag() -> &'static Arc<AtomicUsize> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// Install the handlers.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        // Registered first, so it sees `seen` before this signal sets it: only a second
        // signal ends the process at once (status 1).
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&seen))?;
        signal_hook::flag::register(sig, Arc::clone(&seen))?;
        signal_hook::flag::register_usize(sig, Arc::clone(flag()), sig as usize)?;
    }
    Ok(())
}

/// The signal that asked us to stop, if any.
pub fn signal() -> Option<i32> {
    match flag().load(Ordering::SeqCst) {
        0 => None,
        s => Some(s as i32),
    }
}

/// Whether an interrupt has arrived.
pub fn interrupted() -> bool {
    signal().is_some()
}

/// Ask for a stop as if `signal` had arrived (for embedders that handle signals themselves).
pub fn request(signal: i32) {
    flag().store(signal.max(1) as usize, Ordering::SeqCst);
}

/// The conventional exit status for a stop by `signal`: 128 + its number (130 for SIGINT,
/// 143 for SIGTERM, 129 for SIGHUP).
pub fn exit_status(signal: i32) -> u8 {
    (128 + signal).clamp(0, 255) as u8
}
