//! Deadlines: when a blocking operation gives up. The one rule every backend follows:
//! `None` waits without limit, `Some(ZERO)` tries once, otherwise the timeout is relative
//! to the first time the wait consults the clock (monotonic). The C convention
//! (`PLEXUS_FOREVER`, nanoseconds) is the FFI's business: see `crate::ffi`.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// When a blocking operation gives up.
///
/// The clock is read lazily: an operation whose condition already holds never reads it,
/// and the deadline is fixed (now + timeout) the first time a wait consults it — a few
/// nanoseconds after the call started, which keeps the fast path free of clock reads.
#[derive(Debug, Clone)]
pub struct Deadline {
    timeout: Option<Duration>,
    at: std::cell::Cell<Option<Instant>>,
}

impl Deadline {
    /// `None`: wait without limit; `Some(ZERO)`: try once; otherwise relative.
    pub fn after(timeout: Option<Duration>) -> Deadline {
        Deadline {
            timeout,
            at: std::cell::Cell::new(None),
        }
    }

    pub fn forever() -> Deadline {
        Deadline::after(None)
    }

    /// True for a zero timeout: the caller must not wait at all.
    pub fn is_try_once(&self) -> bool {
        self.timeout == Some(Duration::ZERO)
    }

    /// Time left: `Ok(None)` = unlimited, `Err(Timeout)` when expired.
    pub fn remaining(&self) -> Result<Option<Duration>> {
        let Some(timeout) = self.timeout else {
            return Ok(None);
        };
        if timeout.is_zero() {
            return Err(Error::Timeout);
        }
        let now = Instant::now();
        let at = match self.at.get() {
            Some(at) => at,
            None => {
                // A timeout too large for the clock is as good as no limit.
                let Some(at) = now.checked_add(timeout) else {
                    return Ok(None);
                };
                self.at.set(Some(at));
                at
            }
        };
        if now >= at {
            Err(Error::Timeout)
        } else {
            Ok(Some(at - now))
        }
    }
}

/// A caller's way into a long wait (a binding that must notice Ctrl-C, or a cancelled
/// task): a wait given one runs `check` at least every `every` while it waits, and ends
/// with the error `check` returns. Only calls that cannot simply be retried after a
/// timeout take one (a batch push keeps its place in the queue for the whole batch).
pub struct Interrupt<'a> {
    pub every: Duration,
    pub check: &'a (dyn Fn() -> Result<()> + Sync),
}

/// Runs `wait(d)` (a wait that returns `Err(Timeout)` when `d` passes, `Ok` or another
/// error otherwise) until `deadline`: in one piece without `interrupt`, else in pieces
/// of at most `interrupt.every`, running its check between them.
pub fn wait_interruptibly(
    deadline: &Deadline,
    interrupt: Option<&Interrupt<'_>>,
    mut wait: impl FnMut(&Deadline) -> Result<()>,
) -> Result<()> {
    let Some(i) = interrupt.filter(|_| !deadline.is_try_once()) else {
        return wait(deadline);
    };
    loop {
        let piece = deadline
            .remaining()?
            .map_or(i.every, |left| left.min(i.every));
        let d = Deadline::after(Some(piece.max(Duration::from_nanos(1))));
        let result = wait(&d);
        // Waits may also return `Ok` when their time is up (the caller looks again).
        let piece_over = d.remaining().is_err();
        match result {
            Err(Error::Timeout) => {}
            Ok(()) if piece_over => {}
            other => return other,
        }
        deadline.remaining()?;
        (i.check)()?;
        if result.is_ok() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_waits_without_limit_zero_tries_once_positive_is_relative() {
        assert!(Deadline::after(None).remaining().unwrap().is_none());
        assert_eq!(
            Deadline::after(Some(Duration::ZERO)).remaining(),
            Err(Error::Timeout)
        );
        assert!(Deadline::after(Some(Duration::ZERO)).is_try_once());
        let d = Deadline::after(Some(Duration::from_secs(1)));
        assert!(d
            .remaining()
            .unwrap()
            .is_some_and(|l| l <= Duration::from_secs(1)));
        let short = Deadline::after(Some(Duration::from_millis(1)));
        short.remaining().unwrap();
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(short.remaining(), Err(Error::Timeout));
    }

    #[test]
    fn an_interruptible_wait_checks_between_pieces_and_stops_on_the_check() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let checks = AtomicU32::new(0);
        let check = || {
            if checks.fetch_add(1, Ordering::Relaxed) == 2 {
                Err(Error::Closed)
            } else {
                Ok(())
            }
        };
        let i = Interrupt {
            every: Duration::from_millis(1),
            check: &check,
        };
        // A wait that returns Ok when its piece is over, as the engine's waits may: the
        // check still runs, and its error ends the wait.
        let sleepy = |d: &Deadline| {
            while d.remaining().is_ok() {
                std::thread::sleep(Duration::from_micros(200));
            }
            Ok(())
        };
        let forever = Deadline::forever();
        let mut result = Ok(());
        while result.is_ok() {
            result = wait_interruptibly(&forever, Some(&i), sleepy);
        }
        assert_eq!(result, Err(Error::Closed));
        assert_eq!(checks.load(Ordering::Relaxed), 3);
        // Without an interrupt, or trying once: the wait runs once, as given.
        let once = Deadline::after(Some(Duration::ZERO));
        assert_eq!(
            wait_interruptibly(&once, Some(&i), |d| d.remaining().map(|_| ())),
            Err(Error::Timeout)
        );
        assert_eq!(checks.load(Ordering::Relaxed), 3);
    }
}
