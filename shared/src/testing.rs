//! Helpers of the unit tests: one autodiff graph at a time, and deterministic test values.
//!
//! burn 0.21's autodiff keeps every graph of the process in one registry, and each `backward()`
//! sweeps all of them for unused steps, including a graph another thread is still building
//! (tracel-ai/burn#5573): that thread's parameter then silently gets no gradient. `cargo test`
//! runs tests on several threads, so every test that calls `backward()` holds this lock for its
//! whole body. The trainer builds one graph at a time on one thread and is not affected.

use std::sync::{Mutex, MutexGuard};

/// Hold while building and differentiating an autodiff graph in a test.
pub(crate) fn one_backward_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next test may still run.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic pseudo-random values in [-1, 1) (a 64-bit LCG; the same on every platform).
pub(crate) fn pseudo_random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f64 / (1u64 << 31) as f64) - 1.0
        })
        .collect()
}
