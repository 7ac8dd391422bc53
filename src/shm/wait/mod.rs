//! The one blocking core: deadlines, adaptive spinning, shared futex sleeps, and the
//! robust owner-recording lock used by elements, the allocator and the directory.
//!
//! DESIGN §5: a waiter spins first (waking a sleeping process on another CPU costs
//! 45–95 µs on our VMs, a cache-line hand-off under 1 µs), then announces itself in a
//! sleeper count and sleeps on a futex; a waker makes the `FUTEX_WAKE` syscall only when
//! the count is non-zero. The announce/re-check on the waiter side and the change/check
//! on the waker side are both `SeqCst`, so one of the two always sees the other.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
pub use crate::semantics::deadline::Deadline;
pub use crate::semantics::options::Acquired;
use crate::shm::os::sys;

/// How long to spin before sleeping, learned per thread and per word waited on (a waiter
/// that alternates between a busy hand-off and a quiet queue learns each separately).
///
/// A spin that succeeds raises the budget to twice what it took if that is more (at
/// least [`SPIN_FLOOR_NS`], at most [`SPIN_MAX_NS`]). A wait that had to sleep learns from
/// how long it waited in all, from its start to the wake-up ([`sleep`]): if that was at
/// most [`SPIN_MAX_NS`], a spin of twice that would have caught it, and the budget becomes
/// that; if it was longer, spinning could not have paid and the budget is zero: the
/// next wait sleeps at once, as it should when messages come every millisecond, and a
/// waiter at a low message rate spends nothing on spinning. Nothing is spent on probing
/// either: two processes of a fast hand-off that both went to sleep wake each other in
/// 45-95 us on our VMs (shared/research/limits.md, "bistable"), so their sleeps are
/// short and teach both to spin again.
const SPIN_START_NS: u32 = 50_000;
const SPIN_FLOOR_NS: u32 = 1_000;
const SPIN_MAX_NS: u32 = 100_000;
/// A waiter that sleeps at once (budget zero) learns from one sleep in this many: each
/// measurement reads the clock twice, once before the sleep and once after the wake-up,
/// where the clock's data is out of the cache — about a tenth of what such a waiter
/// spends per message at one message per ms (`benches/wake_cost.c`). Messages that start
/// to come fast are noticed within this many waits.
const SLEEP_SAMPLE: u32 = 8;
/// Words whose budgets a thread remembers (direct-mapped by address).
const SPIN_SLOTS: usize = 16;

#[derive(Clone, Copy)]
struct SpinSlot {
    /// Address of the word (0: unused).
    key: usize,
    budget_ns: u32,
}

/// What a thread learns about waiting, in one thread-local: each access to a
/// thread-local of a shared library is a call (`__tls_get_addr`), and a hand-off pays
/// for every one of them, so a wait reaches this once.
struct WaitState {
    spin: [Cell<SpinSlot>; SPIN_SLOTS],
    /// The wait in progress that gave up spinning: its key and when it started. The next
    /// [`sleep`] of this thread learns from it; every wait starts with it cleared.
    gave_up: Cell<Option<(usize, Instant)>>,
    /// The interval between yields while spinning (see [`SPIN_YIELD_EVERY`]).
    yield_every_ns: Cell<u32>,
    /// Whether this thread's last yield let another thread run: more runnable threads
    /// than CPUs, where the first yield of a spin must come on time (see
    /// [`SPIN_FIRST`]).
    crowded: Cell<bool>,
    /// Waits with a zero budget since the last one that learned from its sleep (see
    /// [`SLEEP_SAMPLE`]).
    unmeasured: Cell<u32>,
}

thread_local! {
    static WAIT: WaitState = const {
        WaitState {
            spin: [const { Cell::new(SpinSlot { key: 0, budget_ns: 0 }) }; SPIN_SLOTS],
            gave_up: Cell::new(None),
            yield_every_ns: Cell::new(SPIN_YIELD_EVERY.as_nanos() as u32),
            crowded: Cell::new(false),
            unmeasured: Cell::new(0),
        }
    };
}

fn spin_slot(key: usize) -> usize {
    (key >> 6).wrapping_mul(0x9E37_79B9) % SPIN_SLOTS
}

impl WaitState {
    /// The budget for a wait on `key` in ns (zero: sleep at once).
    fn budget(&self, key: usize) -> u32 {
        if sys::usable_cpus() < 2 {
            return 0;
        }
        let slot = &self.spin[spin_slot(key)];
        let mut s = slot.get();
        if s.key != key {
            s = SpinSlot {
                key,
                budget_ns: SPIN_START_NS,
            };
            slot.set(s);
        }
        s.budget_ns
    }

    /// Sets the budget for waits on `key` (if the thread still remembers `key`).
    fn set(&self, key: usize, budget_ns: u32) {
        let slot = &self.spin[spin_slot(key)];
        let mut s = slot.get();
        if s.key == key {
            s.budget_ns = budget_ns;
            slot.set(s);
        }
    }

    /// Learns from a spin on `key` that succeeded after `took`: the budget is kept, or
    /// raised to twice `took`.
    fn succeeded(&self, key: usize, took: Duration) {
        let s = self.spin[spin_slot(key)].get();
        if s.key == key {
            let twice = (took.as_nanos() as u64 * 2).min(SPIN_MAX_NS as u64) as u32;
            self.set(key, s.budget_ns.max(twice).max(SPIN_FLOOR_NS));
        }
    }

    /// Learns from a wait on `key` that gave up spinning (or did not spin) and then slept
    /// until `waited` after its start: see [`SPIN_START_NS`].
    fn learn_from_sleep(&self, key: usize, waited: Duration) {
        let ns = waited.as_nanos();
        let budget = if ns <= SPIN_MAX_NS as u128 {
            (ns as u32)
                .saturating_mul(2)
                .clamp(SPIN_FLOOR_NS, SPIN_MAX_NS)
        } else {
            0
        };
        self.set(key, budget);
    }

    /// Yields the CPU; then learns from how long that took and from whether the wait
    /// ended meanwhile (`done()`, checked after the yield; see [`SPIN_YIELD_EVERY`]).
    /// Returns whether the wait ended, and the interval to the next yield.
    fn yield_and_learn(&self, done: impl FnOnce() -> bool) -> (bool, Duration) {
        let t0 = Instant::now();
        std::thread::yield_now();
        let took = t0.elapsed();
        let ended = done();
        if took > YIELD_RAN_OTHERS || (ended && took > YIELD_SWITCHED) {
            self.crowd();
        } else {
            self.crowded.set(false);
            if !ended {
                let every = (self.yield_every_ns.get() * 2).clamp(
                    SPIN_YIELD_EVERY.as_nanos() as u32,
                    SPIN_YIELD_MAX.as_nanos() as u32,
                );
                self.yield_every_ns.set(every);
            }
        }
        (
            ended,
            Duration::from_nanos(self.yield_every_ns.get() as u64),
        )
    }

    /// Another thread runs on this CPU between this one's checks: from now on a spin
    /// yields after every batch of checks (until a yield returns at once).
    fn crowd(&self) {
        self.crowded.set(true);
        self.yield_every_ns.set(0);
    }
}

/// Sleeps on `word` while it equals `expected` ([`sys::futex_wait`]), and teaches the
/// wait that gave up spinning before it how long it waited. Every sleep of a wait that
/// spins goes through here (or [`sleep_either`]).
pub fn sleep(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    sys::futex_wait(word, expected, timeout);
    learn_after_sleep();
}

/// [`sys::futex_wait_either`], learning as [`sleep`] does when it slept.
pub fn sleep_either(
    a: &AtomicU32,
    a_expected: u32,
    b: &AtomicU32,
    b_expected: u32,
    timeout: Option<Duration>,
) -> bool {
    let slept = sys::futex_wait_either(a, a_expected, b, b_expected, timeout);
    if slept {
        learn_after_sleep();
    }
    slept
}

fn learn_after_sleep() {
    WAIT.with(|w| {
        if let Some((key, start)) = w.gave_up.take() {
            w.learn_from_sleep(key, start.elapsed());
        }
    });
}

/// How long a wait spins before its first `sched_yield`, and between yields, while
/// nothing says this CPU is crowded. Two processes of a hand-off can share one CPU (fewer
/// CPUs than runnable processes: a busy machine, taskset, a cpuset); a waiter that spins
/// without yielding then burns its whole budget while the process it waits for cannot
/// run, on every hop (co-scheduled ping-pong: 68 µs per round trip instead of 5 µs,
/// benches/README.md). The bus's subscribers (often more processes than CPUs) need it
/// too. But a yield is a system call: between two CPUs it only delays the hand-off that
/// completes during it (the round trip's tail). So the interval adapts, per thread: a
/// yield that returns at once (nobody else wanted this CPU: [`YIELD_RAN_OTHERS`]) doubles
/// it, up to [`SPIN_YIELD_MAX`]; one that ends the wait keeps it. The CPU counts as
/// crowded, and a spin yields after every batch of [`SPIN_BATCH`] checks, when a yield
/// let another thread run for longer than [`YIELD_RAN_OTHERS`], or took longer than
/// [`YIELD_SWITCHED`] and ended the wait: the partner of a hand-off ran on this CPU (a
/// quick partner runs for less than [`YIELD_RAN_OTHERS`], so that time alone does not
/// tell; a wait that merely ended during a quick yield, its partner on another CPU,
/// does not count).
pub const SPIN_YIELD_EVERY: Duration = Duration::from_micros(1);
/// The longest interval between yields (a spin budget is 1-100 µs).
pub const SPIN_YIELD_MAX: Duration = Duration::from_micros(64);
/// A yield that took longer than this let another thread run on this CPU (one that
/// switches to nobody takes well under 1 µs).
pub const YIELD_RAN_OTHERS: Duration = Duration::from_micros(4);
/// A yield that took longer than this and ended the wait switched to the thread that
/// ended it (on our 2-vCPU VMs 99.9 % of yields that switch to nobody return within
/// 1 µs; a switch there and back takes longer).
pub const YIELD_SWITCHED: Duration = Duration::from_micros(1);

/// Condition checks of a spin between two reads of the clock.
const SPIN_BATCH: u32 = 64;
/// Condition checks before a spin first reads the clock: enough for a hand-off between
/// two running processes (a few hundred ns). Skipped while the thread's yields let
/// others run (more runnable threads than CPUs): there the first yield must come on
/// time, since the yield interval counts from the clock's start (30 bus subscribers on
/// 2 CPUs waited 40 % longer for a message with a clock-free first batch of 64).
const SPIN_FIRST: u32 = 64;

/// Spins until `cond()` holds or the budget learned for waits on `key` (the address of
/// the word waited on; see [`SPIN_START_NS`]) is used up, capped by the deadline,
/// yielding the CPU now and then ([`SPIN_YIELD_EVERY`]).
///
/// The first [`SPIN_FIRST`] checks read no clock (unless the thread's CPU is crowded): a
/// hand-off between two running processes usually completes within them (a few hundred
/// ns), and then the wait costs one thread-local access and no clock read; nothing
/// needs learning either, since every non-zero budget covers one batch (budgets are
/// zero or at least [`SPIN_FLOOR_NS`]). The clock starts when the first batch failed, so
/// a spin may run one batch (a few µs at most) past its budget.
pub fn spin_until<T>(key: &T, deadline: &Deadline, mut cond: impl FnMut() -> bool) -> bool {
    let key = key as *const T as usize;
    if deadline.is_try_once() {
        return cond();
    }
    WAIT.with(|w| {
        w.gave_up.set(None);
        let budget = w.budget(key);
        if budget == 0 {
            if cond() {
                return true;
            }
            // One wait in SLEEP_SAMPLE learns from its sleep (two clock reads).
            let n = w.unmeasured.get();
            if n + 1 >= SLEEP_SAMPLE {
                w.unmeasured.set(0);
                w.gave_up.set(Some((key, Instant::now())));
            } else {
                w.unmeasured.set(n + 1);
            }
            return false;
        }
        let budget = Duration::from_nanos(budget as u64);
        let budget = match deadline.remaining() {
            Ok(Some(left)) => budget.min(left),
            Ok(None) => budget,
            Err(_) => return cond(),
        };
        if !w.crowded.get() {
            for _ in 0..SPIN_FIRST {
                if cond() {
                    return true;
                }
                std::hint::spin_loop();
            }
        }
        let start = Instant::now();
        let limit = start + budget;
        let mut next_yield = start + Duration::from_nanos(w.yield_every_ns.get() as u64);
        loop {
            for _ in 0..SPIN_BATCH {
                if cond() {
                    w.succeeded(key, start.elapsed());
                    return true;
                }
                std::hint::spin_loop();
            }
            let now = Instant::now();
            if now >= limit {
                if cond() {
                    return true;
                }
                w.gave_up.set(Some((key, start)));
                return false;
            }
            if now >= next_yield {
                let (ended, every) = w.yield_and_learn(&mut cond);
                if ended {
                    w.succeeded(key, start.elapsed());
                    return true;
                }
                next_yield = Instant::now() + every;
            }
        }
    })
}

/// Sleeps on `word` while it equals `observed`, announced in `sleepers` by `unit`, for
/// at most `slice` and the deadline. Returns Err(Timeout) only when the deadline passed.
pub fn sleep_while_equal(
    word: &AtomicU32,
    observed: u32,
    sleepers: &AtomicU32,
    unit: u32,
    deadline: &Deadline,
    slice: Option<Duration>,
) -> Result<()> {
    let remaining = deadline.remaining()?;
    let timeout = match (remaining, slice) {
        (Some(r), Some(s)) => Some(r.min(s)),
        (r, s) => r.or(s),
    };
    sleepers.fetch_add(unit, Ordering::SeqCst);
    if word.load(Ordering::SeqCst) == observed {
        sleep(word, observed, timeout);
    }
    sleepers.fetch_sub(unit, Ordering::SeqCst);
    Ok(())
}

/// [`sleep_while_equal`] that also ends when the region's removal word `removal` moves
/// from `removal_seen` (every removal of the region or of one of its objects bumps it and
/// wakes its sleepers), so it can sleep in long slices: an idle waiter then costs next
/// to nothing. Falls back to the short slices without `futex_waitv`.
pub fn sleep_while_equal_or_removed(
    word: &AtomicU32,
    observed: u32,
    sleepers: &AtomicU32,
    unit: u32,
    deadline: &Deadline,
    removal: &AtomicU32,
    removal_seen: u32,
) -> Result<()> {
    deadline.remaining()?;
    sleepers.fetch_add(unit, Ordering::SeqCst);
    let slept = sleep_on_word_or_removed(word, observed, deadline, removal, removal_seen);
    sleepers.fetch_sub(unit, Ordering::SeqCst);
    slept
}

/// The sleeper words of a futex word that many wakers bump and many sleepers wait on
/// (the bus's `notify`): `count` counts every sleeper, `aware` those that also raise
/// `due`, and `due` is 1 when a sleeper went to sleep after the last wake-up call.
///
/// A woken sleeper stays counted until it runs again, which on a crowded machine (more
/// sleepers than CPUs) takes milliseconds; a waker that called `FUTEX_WAKE` whenever the
/// count was non-zero made every bump of that time a system call that found nobody. With
/// `due`, a waker that finds every sleeper `aware` calls only when it can clear `due`
/// ([`wake_all_due`]). Dekker, all `SeqCst`: the sleeper stores `due` then reads the word
/// (inside the futex wait); the waker bumps the word then swaps `due` — either the
/// sleeper sees the bump, or the waker sees `due` and wakes it (after the swap: a sleeper
/// queued before the call is woken by it; one that raised `due` after the swap is the
/// next waker's). A sleeper of older code counts only in `count`; while one sleeps the
/// counts differ and every bump wakes, as before.
pub struct DueSleepers<'a> {
    pub count: &'a AtomicU32,
    pub aware: &'a AtomicU32,
    pub due: &'a AtomicU32,
}

/// [`sleep_while_equal_or_removed`] for sleepers counted in `s` (see [`DueSleepers`]).
pub fn sleep_while_equal_or_removed_due(
    word: &AtomicU32,
    observed: u32,
    s: &DueSleepers<'_>,
    deadline: &Deadline,
    removal: &AtomicU32,
    removal_seen: u32,
) -> Result<()> {
    deadline.remaining()?;
    s.count.fetch_add(1, Ordering::SeqCst);
    s.aware.fetch_add(1, Ordering::SeqCst);
    s.due.store(1, Ordering::SeqCst);
    let slept = sleep_on_word_or_removed(word, observed, deadline, removal, removal_seen);
    s.aware.fetch_sub(1, Ordering::SeqCst);
    s.count.fetch_sub(1, Ordering::SeqCst);
    slept
}

/// After a change to `word`: wakes its sleepers counted in `s` if one went to sleep since
/// the last wake-up call (see [`DueSleepers`]).
#[inline]
pub fn wake_all_due(word: &AtomicU32, s: &DueSleepers<'_>) {
    let sleepers = sleepers_after_change(s.count);
    if sleepers != 0
        && (sleepers != s.aware.load(Ordering::SeqCst) || s.due.swap(0, Ordering::SeqCst) != 0)
    {
        sys::futex_wake(word, i32::MAX);
    }
}

/// Sleeps on `word` while it equals `observed` (a word of the caller's own, whose wakers
/// wake it without a sleeper count), or until the region's removal word `removal` moves
/// from `removal_seen`, for at most one long slice and the deadline. Returns Err(Timeout)
/// only when the deadline passed before the sleep.
pub fn sleep_on_word_or_removed(
    word: &AtomicU32,
    observed: u32,
    deadline: &Deadline,
    removal: &AtomicU32,
    removal_seen: u32,
) -> Result<()> {
    let remaining = deadline.remaining()?;
    if word.load(Ordering::SeqCst) == observed
        && !sleep_either(word, observed, removal, removal_seen, remaining)
    {
        sleep(word, observed, remaining);
    }
    Ok(())
}

/// Reads a sleeper count as the waker half of the Dekker pairing with
/// [`sleep_while_equal`]. It is a read-modify-write (adding 0), not a load: an RMW reads
/// the latest value in the count's modification order, so either it sees the waiter's
/// increment, or the waiter's increment (an acquire RMW) reads from this release RMW and
/// the waiter then sees every store made before this call — the change it waits for.
/// Correct by the language's memory model, not only on x86.
#[inline]
pub fn sleepers_after_change(sleepers: &AtomicU32) -> u32 {
    sleepers.fetch_add(0, Ordering::SeqCst)
}

/// Wakes every sleeper on `word` if `sleepers & mask` says there is one. Call after the
/// change to `word`.
#[inline]
pub fn wake_all(word: &AtomicU32, sleepers: &AtomicU32, mask: u32) {
    if sleepers_after_change(sleepers) & mask != 0 {
        sys::futex_wake(word, i32::MAX);
    }
}

/// Waits until `word` differs from `observed` (spin, then one sleep), or the deadline
/// passes. May return `Ok` spuriously: callers re-check their condition in a loop.
pub fn wait_for_change(
    word: &AtomicU32,
    observed: u32,
    sleepers: &AtomicU32,
    unit: u32,
    deadline: &Deadline,
) -> Result<()> {
    if spin_until(word, deadline, || word.load(Ordering::Acquire) != observed) {
        return Ok(());
    }
    sleep_while_equal(word, observed, sleepers, unit, deadline, None)?;
    if word.load(Ordering::Acquire) != observed {
        Ok(())
    } else {
        deadline.remaining().map(|_| ())
    }
}

/// Who may be holding a lock: answers whether an owner token belongs to a dead process.
pub trait Owners {
    /// True when `token` names an attachment whose process has died or detached.
    fn is_dead(&self, token: u32) -> bool;
    /// True when the attachment `token` belongs to a process that is stopped or in an
    /// uninterruptible wait (it may hold a lock without running).
    fn is_paused(&self, _token: u32) -> bool {
        false
    }
    /// `Some(Removed)` when the region the lock lives in was removed: a waiter gives up.
    fn removed(&self) -> Option<Error> {
        None
    }
}

/// How long an internal lock (held for a few memory operations at most) may stay with
/// one live, running owner before a waiter calls the lock word damaged.
pub const INTERNAL_PATIENCE: Duration = Duration::from_secs(5);

/// Locks this process has taken over from dead owners (a diagnostic; see
/// [`recovered_locks`]).
static RECOVERED: AtomicU64 = AtomicU64::new(0);

/// How many locks (element, allocator, directory, map, stack, mutex, semaphore) this
/// process has taken over from owners that died holding them, plus queue pushes it
/// abandoned because their producer died in the middle and semaphore holders whose
/// permits it took back.
pub fn recovered_locks() -> u64 {
    RECOVERED.load(Ordering::Relaxed)
}

/// Counts one more recovery from a dead process (for operations that repair state
/// without a lock, such as a queue slot abandoned in the middle of a push).
pub(crate) fn note_recovered() {
    RECOVERED.fetch_add(1, Ordering::Relaxed);
}

/// Set in a lock word while some process sleeps waiting for it.
pub const LOCK_WAITERS: u32 = 1 << 31;
/// Element locks only: set while some process sleeps on the element's tag or version.
/// A publishing unlock clears it and wakes them ([`unlock_publish`]). Because sleepers
/// announce themselves with an RMW on the lock word and the unlock is an RMW on the
/// same word, the two are totally ordered: either the unlock sees the announcement, or
/// the sleeper's RMW reads from the unlock (release) and then sees the change it waits
/// for. No fence, no second atomic on the hot path.
pub const LOCK_SLEEPERS: u32 = 1 << 30;
/// Mask of the owner token in a lock word (tokens are below 2^30).
pub const LOCK_OWNER: u32 = !(LOCK_WAITERS | LOCK_SLEEPERS);

/// Acquires the robust lock `word` for `token` (nonzero, < 2^31).
///
/// Fast path one CAS; then spins; then sleeps on the word with the waiters bit set, in
/// slices, checking the owner's liveness before each sleep. A lock whose owner is dead is
/// taken over (`Acquired::Recovered`).
#[inline]
pub fn lock(
    word: &AtomicU32,
    token: u32,
    deadline: &Deadline,
    owners: &dyn Owners,
) -> Result<Acquired> {
    lock_with(word, token, deadline, owners, None)
}

/// [`lock`] for the engine's internal locks (element, allocator, directory, map, stack,
/// bus and semaphore words), which no one holds for longer than a few memory
/// operations: a word that names one live, running attachment for longer than
/// [`INTERNAL_PATIENCE`] cannot be a real hold (a damaged or hostile file, or a process
/// that does not know it holds it), and the wait ends with `Corrupt` instead of lasting
/// for ever. An owner that is stopped (SIGSTOP, a debugger) is waited for.
#[inline]
pub fn lock_internal(
    word: &AtomicU32,
    token: u32,
    deadline: &Deadline,
    owners: &dyn Owners,
) -> Result<Acquired> {
    lock_with(word, token, deadline, owners, Some(INTERNAL_PATIENCE))
}

#[inline]
fn lock_with(
    word: &AtomicU32,
    token: u32,
    deadline: &Deadline,
    owners: &dyn Owners,
    patience: Option<Duration>,
) -> Result<Acquired> {
    debug_assert!(token != 0 && token & !LOCK_OWNER == 0);
    if word
        .compare_exchange(0, token, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return Ok(Acquired::Clean);
    }
    lock_slow(word, token, deadline, owners, patience)
}

/// A contended lock's spin backs off: after each look that finds the word held, it
/// skips the next `backoff` checks (each still one `spin_loop` hint), `backoff` doubling
/// from 1 to [`LOCK_BACKOFF_MAX`], for the first [`LOCK_BACKOFF_POLLS`] looks; then it
/// looks at every check again. A waiter that reads the word while the holder locks and
/// unlocks it in a loop pulls the cache line away on every read and makes the holder's
/// next store a miss; backing off lets the holder keep the line for a run of
/// acquisitions (two processes contending one mutex: 2× the acquisitions per second,
/// `benches/bus.c` x2). Only the first looks back off: reading a word that nobody
/// writes costs nobody anything, so once a hold has lasted that long (about 200 checks,
/// 2 µs where a `pause` takes 10 ns) the waiter watches closely again and a long hold is
/// handed over as fast as before (`benches/mutex_handoff.c`).
const LOCK_BACKOFF_MAX: u32 = 16;
/// See [`LOCK_BACKOFF_MAX`].
const LOCK_BACKOFF_POLLS: u32 = 16;

#[cold]
fn lock_slow(
    word: &AtomicU32,
    token: u32,
    deadline: &Deadline,
    owners: &dyn Owners,
    patience: Option<Duration>,
) -> Result<Acquired> {
    let mut backoff = 1u32;
    let mut skip = 0u32;
    let mut polls = 0u32;
    let got = spin_until(word, deadline, || {
        if skip > 0 {
            skip -= 1;
            return false;
        }
        let v = word.load(Ordering::Relaxed);
        if v & LOCK_OWNER == 0
            && word
                .compare_exchange(v, v | token, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return true;
        }
        polls += 1;
        if polls < LOCK_BACKOFF_POLLS {
            skip = backoff;
            backoff = (backoff * 2).min(LOCK_BACKOFF_MAX);
        }
        false
    });
    if got {
        return Ok(Acquired::Clean);
    }
    let mut slice = Duration::from_millis(1);
    // The owner seen, and since when (for `patience`).
    let mut held: Option<(u32, Instant)> = None;
    loop {
        let v = word.load(Ordering::Relaxed);
        let owner = v & LOCK_OWNER;
        if let (Some(patience), true) = (patience, owner != 0) {
            match held {
                Some((o, since)) if o == owner => {
                    if since.elapsed() > patience {
                        if owners.is_paused(owner) {
                            held = Some((owner, Instant::now()));
                        } else {
                            return Err(Error::corrupt(format!(
                                "an internal lock word names attachment {owner:#x}, a live \
                                 process that has not let go of it for {}s; the region is \
                                 damaged (run `plexus check`)",
                                patience.as_secs()
                            )));
                        }
                    }
                }
                _ => held = Some((owner, Instant::now())),
            }
        }
        if owner == 0 {
            // Free (waiters may remain: keep the bit so our unlock wakes them).
            if word
                .compare_exchange(
                    v,
                    token | LOCK_WAITERS | (v & LOCK_SLEEPERS),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return Ok(Acquired::Clean);
            }
            continue;
        }
        if owner != token && owners.is_dead(owner) {
            if word
                .compare_exchange(
                    v,
                    token | LOCK_WAITERS | (v & LOCK_SLEEPERS),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                RECOVERED.fetch_add(1, Ordering::Relaxed);
                return Ok(Acquired::Recovered);
            }
            continue;
        }
        if v & LOCK_WAITERS == 0
            && word
                .compare_exchange(v, v | LOCK_WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        if let Some(e) = owners.removed() {
            return Err(e);
        }
        let remaining = deadline.remaining()?;
        let t = remaining.map_or(slice, |r| r.min(slice));
        sleep(word, v | LOCK_WAITERS, Some(t));
        slice = (slice * 2).min(sys::SLEEP_SLICE);
    }
}

/// Releases an element lock after a change of its tag or version. Returns whether tag or
/// version sleepers had announced themselves (the announcement is cleared: the caller
/// must wake them). Wakes one lock waiter if any.
#[inline]
pub fn unlock_publish(word: &AtomicU32) -> bool {
    let old = word.swap(0, Ordering::Release);
    if old & LOCK_WAITERS != 0 {
        sys::futex_wake(word, 1);
    }
    old & LOCK_SLEEPERS != 0
}

/// Releases an element lock without a change: keeps the sleepers' announcement.
#[inline]
pub fn unlock_keep(word: &AtomicU32) {
    if word.fetch_and(LOCK_SLEEPERS, Ordering::Release) & LOCK_WAITERS != 0 {
        sys::futex_wake(word, 1);
    }
}

/// Announces a sleeper on an element (see [`LOCK_SLEEPERS`]); call before re-checking
/// the watched word and sleeping on it.
#[inline]
pub fn announce_sleeper(lock_word: &AtomicU32) {
    lock_word.fetch_or(LOCK_SLEEPERS, Ordering::SeqCst);
}

/// Releases a robust lock (allocator, directory); wakes one waiter if any.
#[inline]
pub fn unlock(word: &AtomicU32) {
    if word.swap(0, Ordering::SeqCst) & LOCK_WAITERS != 0 {
        sys::futex_wake(word, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    struct NobodyDies;
    impl Owners for NobodyDies {
        fn is_dead(&self, _: u32) -> bool {
            false
        }
    }
    struct EveryoneDies;
    impl Owners for EveryoneDies {
        fn is_dead(&self, _: u32) -> bool {
            true
        }
    }

    /// A crowded thread yields after every batch (interval 0); once a yield returns at
    /// once, the interval grows again from SPIN_YIELD_EVERY (doubling 0 would keep it
    /// at 0 for ever).
    #[test]
    fn a_crowded_thread_goes_back_to_spaced_yields() {
        WAIT.with(|w| {
            w.crowd();
            assert!(w.crowded.get());
            assert_eq!(w.yield_every_ns.get(), 0);
            let mut every = Duration::ZERO;
            for _ in 0..100_000 {
                every = w.yield_and_learn(|| false).1;
                if !w.crowded.get() {
                    break;
                }
            }
            assert!(!w.crowded.get(), "no yield returned within 4 µs");
            assert!(
                every >= SPIN_YIELD_EVERY && every <= SPIN_YIELD_MAX,
                "{every:?}"
            );
        });
    }

    #[test]
    fn lock_times_out_on_live_owner_and_recovers_dead_one() {
        let w = AtomicU32::new(7);
        let d = Deadline::after(Some(Duration::from_millis(20)));
        assert_eq!(lock(&w, 5, &d, &NobodyDies), Err(Error::Timeout));
        assert_eq!(
            lock(&w, 5, &Deadline::forever(), &EveryoneDies),
            Ok(Acquired::Recovered)
        );
        assert_eq!(w.load(Ordering::Relaxed) & LOCK_OWNER, 5);
        unlock(&w);
        assert_eq!(w.load(Ordering::Relaxed), 0);
        assert_eq!(
            lock(&w, 5, &Deadline::forever(), &NobodyDies),
            Ok(Acquired::Clean)
        );
    }

    #[test]
    fn lock_is_mutually_exclusive_between_threads() {
        use std::sync::Arc;
        let w = Arc::new(AtomicU32::new(0));
        let counter = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (1..=4u32)
            .map(|t| {
                let (w, c) = (w.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        lock(&w, t, &Deadline::forever(), &NobodyDies).unwrap();
                        // Non-atomic read-modify-write: only correct under mutual exclusion.
                        let v = c.load(Ordering::Relaxed);
                        c.store(v + 1, Ordering::Relaxed);
                        unlock(&w);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 80_000);
    }
}
