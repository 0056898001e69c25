//! Ctrl-C (or SIGTERM/SIGHUP) during training: the first press lets the current step (SimCVD) or epoch (AMVLM, whose
//! checkpoints are per epoch) finish, writes a checkpoint and stops, so the run continues with
//! `--resume` and nothing is lost; a second press, or a press while no training loop runs, quits
//! at once as usual.
//!
//! The flags are process-wide. `semiseg`'s `main` installs the signal handler; the library only
//! reads the flags, so tests that call it in-process can request a stop with [`on_signal`].

use std::sync::atomic::{AtomicBool, Ordering};

static LOOP_ACTIVE: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);
static BY_EPOCH: AtomicBool = AtomicBool::new(false);
static STOPPED_BY_SIGNAL: AtomicBool = AtomicBool::new(false);

/// Where a loop can stop with nothing lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopAt {
    Step,
    Epoch,
}

/// What the signal handler calls. Returns `true` when a training loop will stop at the end of its
/// step (the caller keeps running), `false` when the process should exit now.
pub fn on_signal() -> bool {
    if !LOOP_ACTIVE.load(Ordering::SeqCst) {
        return false;
    }
    if STOP.swap(true, Ordering::SeqCst) {
        return false; // the second press
    }
    STOPPED_BY_SIGNAL.store(true, Ordering::SeqCst);
    let unit = if BY_EPOCH.load(Ordering::SeqCst) {
        "epoch"
    } else {
        "step"
    };
    eprintln!(
        "\ninterrupted: finishing this {unit} and writing a checkpoint \
         (press Ctrl-C again to quit now, losing the work since the last checkpoint)"
    );
    true
}

/// Whether a training loop of this process stopped early for Ctrl-C: `semiseg` then exits with
/// 130 after its checkpoint, so `train ... && eval-model ...` does not go on.
pub fn stopped_by_signal() -> bool {
    STOPPED_BY_SIGNAL.load(Ordering::SeqCst)
}

/// Held by a training loop while it runs; a stop request is cleared when it ends.
pub(crate) struct LoopGuard(());

impl LoopGuard {
    pub(crate) fn new(at: StopAt) -> Self {
        STOP.store(false, Ordering::SeqCst);
        BY_EPOCH.store(at == StopAt::Epoch, Ordering::SeqCst);
        LOOP_ACTIVE.store(true, Ordering::SeqCst);
        LoopGuard(())
    }

    /// Whether Ctrl-C asked the loop to stop after the current step.
    pub(crate) fn stop_requested(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        LOOP_ACTIVE.store(false, Ordering::SeqCst);
        STOP.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // one test for the whole life cycle: the flags are process-wide
    #[test]
    fn a_press_stops_a_running_loop_once_and_otherwise_quits() {
        assert!(!on_signal(), "no loop: quit at once");
        let guard = LoopGuard::new(StopAt::Step);
        assert!(!guard.stop_requested());
        assert!(on_signal(), "first press: the loop stops by itself");
        assert!(guard.stop_requested() && stopped_by_signal());
        assert!(!on_signal(), "second press: quit at once");
        drop(guard);
        assert!(!on_signal(), "loop over: quit at once");
        let again = LoopGuard::new(StopAt::Epoch);
        assert!(
            !again.stop_requested(),
            "a new loop starts without the old request"
        );
    }
}
