//! Test hooks, compiled only with the `test-hooks` feature (the tests, the torture tool
//! and the kill tests turn it on; builds for users never have it). Without the feature
//! [`pause_point`] is an empty inline function and nothing else exists.

#[cfg(feature = "test-hooks")]
mod hooks {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// How long a pause point sleeps (0 = no pause).
    static PAUSE_NS: AtomicU64 = AtomicU64::new(0);

    /// Makes every FIFO push of this process pause for `pause` after claiming its slot,
    /// every LIFO push or pop pause while holding the stack lock, and every bus publish
    /// pause in the middle of writing its slot, so a test can kill a process at exactly
    /// that point. Batches pause there too: a FIFO `push_many` after claiming its slots
    /// and again halfway through publishing them, a FIFO `pop_many` before each value
    /// after the first.
    pub fn test_pause_in_push(pause: Duration) {
        PAUSE_NS.store(pause.as_nanos() as u64, Ordering::Relaxed);
    }

    /// How long [`pause_after_emit`] sleeps (0 = no pause).
    static AFTER_EMIT_NS: AtomicU64 = AtomicU64::new(0);

    /// Makes every bus publish of this process pause for `pause` after its message is
    /// committed and the publisher lock released, before it wakes any subscriber, so a
    /// test can kill a publisher between its commit and its wake-ups.
    pub fn test_pause_after_emit(pause: Duration) {
        AFTER_EMIT_NS.store(pause.as_nanos() as u64, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn pause_after_emit() {
        let ns = AFTER_EMIT_NS.load(Ordering::Relaxed);
        if ns != 0 {
            std::thread::sleep(Duration::from_nanos(ns));
        }
    }

    #[inline]
    pub(crate) fn pause_point() {
        let ns = PAUSE_NS.load(Ordering::Relaxed);
        if ns != 0 {
            std::thread::sleep(Duration::from_nanos(ns));
        }
    }
}

#[cfg(feature = "test-hooks")]
pub(crate) use hooks::{pause_after_emit, pause_point};
#[cfg(feature = "test-hooks")]
pub use hooks::{test_pause_after_emit, test_pause_in_push};

/// Where a test may pause a process (no-op without the `test-hooks` feature).
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn pause_point() {}

/// Where a test may pause a publisher between its commit and its wake-ups (no-op without
/// the `test-hooks` feature).
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn pause_after_emit() {}
