//! The LIFO flavour (a stack): values under one robust lock, with `top` as the single
//! commit word of a push or pop, so a holder that dies leaves the old or the new stack.

use std::sync::atomic::Ordering;

use super::*;

impl Queue {
    pub(super) fn lock(&self, h: &QueueHeader) -> Result<()> {
        let r = self.r();
        // A dead owner leaves the old or the new stack (`top` is the commit): no repair.
        wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &r.procs())?;
        Ok(())
    }

    pub(super) fn bump_seq(&self, h: &QueueHeader) {
        h.seq.fetch_add(1, Ordering::SeqCst);
        wait::wake_all(&h.seq, &h.sleepers, u32::MAX);
    }

    /// Waits for `seq` to move away from `seen` (or the queue to close).
    pub(super) fn wait_seq(&self, h: &QueueHeader, seen: u32, deadline: &Deadline) -> Result<()> {
        let moved = || h.seq.load(Ordering::Acquire) != seen;
        if wait::spin_until(h, deadline, moved) {
            return Ok(());
        }
        wait::sleep_while_equal(&h.seq, seen, &h.sleepers, 1, deadline, None)?;
        self.r().check_usable()
    }

    pub(super) fn push_lifo(
        &self,
        h: &QueueHeader,
        meta: u64,
        payload: u64,
        deadline: &Deadline,
    ) -> Result<()> {
        loop {
            let seen = h.seq.load(Ordering::SeqCst);
            self.lock(h)?;
            let result = (|| {
                if h.closed.load(Ordering::Relaxed) != 0 {
                    return Err(self.closed_error());
                }
                let top = h.top.load(Ordering::Relaxed);
                if top > self.capacity {
                    return Err(Error::corrupt(format!(
                        "stack '{}' holds {top} values, more than its capacity",
                        self.name
                    )));
                }
                if top == self.capacity {
                    return Ok(false);
                }
                let slot = self.slot(top)?;
                slot.value.meta.store(meta, Ordering::Relaxed);
                slot.value.payload.store(payload, Ordering::Relaxed);
                crate::test_hooks::pause_point();
                h.top.store(top + 1, Ordering::Release); // the commit point
                Ok(true)
            })();
            wait::unlock(&h.lock);
            match result {
                Ok(true) => {
                    self.bump_seq(h);
                    return Ok(());
                }
                Ok(false) => self.wait_seq(h, seen, deadline)?,
                Err(e) => return Err(e),
            }
        }
    }

    /// A stack pop: a batch of one (see `pop_lifo_into`: the same lock, commit and
    /// crash rules), without the batch's vector.
    pub(super) fn pop_lifo(&self, h: &QueueHeader, deadline: &Deadline) -> Result<Value> {
        let mut one = None;
        self.pop_lifo_into(h, 1, deadline, |v| one = Some(v))?;
        one.ok_or_else(|| Error::Internal("a stack pop of one value took none".into()))
    }
}
