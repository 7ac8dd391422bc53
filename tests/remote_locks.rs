//! Mutexes, barriers and semaphores on a remote (Redis) region: exclusion and rounds
//! across threads and region handles, timeouts, misuse, and holders that die (a child
//! process killed with SIGKILL, a region handle closed while holding, a holder stopped
//! until its lease expired and taken over: its unlock is refused by the fencing token).
//! Each test starts its own redis-server; regions use a lease of 1 s.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{play_role, role_command, say_ready, spawn_ready, Kid, READY};
use common::redis::RedisServer;
use plexus::backend::{Acquired, Barrier, Mutex, Region, Semaphore};
use plexus::{Deadline, Error, OpenOptions, Value, ValueRef};

const LEASE: Duration = Duration::from_millis(1000);
const ZERO: Option<Duration> = Some(Duration::ZERO);
const SHORT: Option<Duration> = Some(Duration::from_millis(200));
const LONG: Option<Duration> = Some(Duration::from_secs(30));
/// How soon a waiter must notice a holder whose lease expired: the lease, plus 1 s.
const NOTICE: Duration = Duration::from_millis(2000);

/// The URL of region `name` on `srv`, with the short lease.
fn url(srv: &RedisServer, name: &str) -> String {
    format!("{}?lease_ms={}", srv.url(name), LEASE.as_millis())
}

fn open(url: &str) -> Region {
    Region::open(url, &OpenOptions::default()).unwrap()
}

fn lock(m: &Mutex, timeout: Option<Duration>) -> Result<Acquired, Error> {
    m.lock_until(&Deadline::after(timeout))
}

fn wait(b: &Barrier, timeout: Option<Duration>) -> Result<bool, Error> {
    b.wait_until(&Deadline::after(timeout))
}

fn acquire(s: &Semaphore, timeout: Option<Duration>) -> Result<(), Error> {
    s.acquire_until(&Deadline::after(timeout))
}

fn invalid(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

// ---- child processes ----

fn child_main(role: &str, url: &str) {
    let r = open(url);
    match role {
        "hold-mutex" => {
            let m = r.mutex("m").unwrap();
            assert_eq!(lock(&m, ZERO).unwrap(), Acquired::Clean);
            say_ready();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "hold-permit" => {
            let s = r.semaphore("s", 1).unwrap();
            acquire(&s, ZERO).unwrap();
            say_ready();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "stale-unlock" => {
            // Holds the mutex; the test stops this process until its lease expires and
            // the mutex is taken over, resumes it, and writes a line: then unlocks.
            let m = r.mutex("m").unwrap();
            assert_eq!(lock(&m, ZERO).unwrap(), Acquired::Clean);
            say_ready();
            let mut byte = [0u8];
            std::io::stdin().read_exact(&mut byte).unwrap();
            let msg = invalid(m.unlock());
            assert!(msg.contains("taken over"), "{msg}");
            assert!(msg.contains("fencing token"), "{msg}");
            // Refused without a change: the new holder still holds it.
            assert!(m.is_locked().unwrap());
            println!("\nUNLOCK-REFUSED: {msg}");
            std::io::stdout().flush().unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    play_role(child_main);
}

fn signal(kid: &Kid, sig: i32) {
    // SAFETY: a plain kill(2) of our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(kid.id() as i32, sig) }, 0);
}

// ---- mutex ----

#[test]
fn mutex_excludes_threads_and_region_handles() {
    let Some(srv) = RedisServer::start("mutex_excludes_threads_and_region_handles") else {
        return;
    };
    let url = url(&srv, "excl");
    let handles = [open(&url), open(&url)];
    handles[0]
        .array("count", 1, 0)
        .unwrap()
        .write(0, ValueRef::Int(0))
        .unwrap();
    let inside = Arc::new(AtomicBool::new(false));
    const THREADS: usize = 4;
    const ROUNDS: i64 = 50;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let r = handles[t % 2].clone();
            let inside = inside.clone();
            s.spawn(move || {
                let m = r.mutex("m").unwrap();
                let a = r.array("count", 1, 0).unwrap();
                for _ in 0..ROUNDS {
                    assert_eq!(lock(&m, LONG).unwrap(), Acquired::Clean);
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    // A read-modify-write that loses updates unless the mutex excludes.
                    let Value::Int(n) = a.read(0).unwrap() else {
                        panic!("not an integer")
                    };
                    a.write(0, ValueRef::Int(n + 1)).unwrap();
                    inside.store(false, Ordering::SeqCst);
                    m.unlock().unwrap();
                }
            });
        }
    });
    let a = handles[1].array("count", 1, 0).unwrap();
    assert_eq!(a.read(0).unwrap(), Value::Int(THREADS as i64 * ROUNDS));
    assert!(!handles[0].mutex("m").unwrap().is_locked().unwrap());
}

#[test]
fn mutex_timeouts_and_misuse() {
    let Some(srv) = RedisServer::start("mutex_timeouts_and_misuse") else {
        return;
    };
    let url = url(&srv, "misuse");
    let r = open(&url);
    let other = open(&url);
    let m = r.mutex("m").unwrap();
    assert_eq!(m.name(), "m");
    assert!(!m.is_locked().unwrap());
    let msg = invalid(m.unlock());
    assert!(msg.contains("not locked"), "{msg}");

    assert_eq!(lock(&m, ZERO).unwrap(), Acquired::Clean);
    assert!(m.is_locked().unwrap());
    let msg = invalid(lock(&m, LONG));
    assert!(msg.contains("already holds"), "{msg}");
    // The same mutex opened again through the same handle, same thread: still ours.
    let msg = invalid(lock(&r.mutex("m").unwrap(), ZERO));
    assert!(msg.contains("already holds"), "{msg}");

    // Another thread of the same region handle.
    let m2 = m.clone();
    std::thread::spawn(move || {
        assert_eq!(lock(&m2, ZERO), Err(Error::Timeout));
        assert_eq!(lock(&m2, SHORT), Err(Error::Timeout));
        let msg = invalid(m2.unlock());
        assert!(msg.contains("another thread holds it"), "{msg}");
    })
    .join()
    .unwrap();

    // Another region handle (what another process would be).
    let mo = other.mutex("m").unwrap();
    assert_eq!(lock(&mo, SHORT), Err(Error::Timeout));
    let msg = invalid(mo.unlock());
    assert!(msg.contains("another process (or region handle)"), "{msg}");

    // Refusals left it as it was.
    assert!(m.is_locked().unwrap());
    m.unlock().unwrap();
    assert!(!m.is_locked().unwrap());
    let msg = invalid(m.unlock());
    assert!(msg.contains("not locked"), "{msg}");
    assert_eq!(lock(&mo, ZERO).unwrap(), Acquired::Clean);
    mo.unlock().unwrap();

    // A waiter is woken by the unlock (well before its long timeout).
    assert_eq!(lock(&m, ZERO).unwrap(), Acquired::Clean);
    let waiter = std::thread::spawn(move || lock(&mo, LONG));
    std::thread::sleep(Duration::from_millis(100));
    m.unlock().unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), Acquired::Clean);

    // Open rules.
    r.array("arr", 1, 0).unwrap();
    assert!(matches!(r.mutex("arr"), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.barrier("m", 2), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.semaphore("m", 2), Err(Error::TypeMismatch(_))));
}

#[test]
fn mutex_of_a_killed_process_is_recovered_within_the_lease() {
    let Some(srv) = RedisServer::start("mutex_of_a_killed_process_is_recovered") else {
        return;
    };
    let url = url(&srv, "killed");
    let r = open(&url);
    let m = r.mutex("m").unwrap();
    let kid = spawn_ready(&mut role_command("hold-mutex", &url), READY);
    assert!(m.is_locked().unwrap());
    assert_eq!(lock(&m, SHORT), Err(Error::Timeout));
    // A waiter already blocked when the holder dies notices, though nothing is written.
    let m2 = m.clone();
    let waiter = std::thread::spawn(move || {
        let got = lock(&m2, LONG);
        let at = Instant::now();
        if got.is_ok() {
            m2.unlock().unwrap();
        }
        (got, at)
    });
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    kid.sigkill();
    let (got, at) = waiter.join().unwrap();
    assert_eq!(got.unwrap(), Acquired::Recovered);
    assert!(
        at - killed < NOTICE,
        "took {:?} to notice the dead holder (lease {LEASE:?})",
        at - killed
    );
    // Taken over once: from then on it is an ordinary mutex.
    assert_eq!(lock(&m, ZERO).unwrap(), Acquired::Clean);
    m.unlock().unwrap();
}

#[test]
fn mutex_of_a_closed_region_handle_is_recovered() {
    let Some(srv) = RedisServer::start("mutex_of_a_closed_region_handle_is_recovered") else {
        return;
    };
    let url = url(&srv, "closed");
    let r = open(&url);
    let m = r.mutex("m").unwrap();
    let r2 = open(&url);
    let m2 = r2.mutex("m").unwrap();
    assert_eq!(lock(&m2, ZERO).unwrap(), Acquired::Clean);
    assert_eq!(lock(&m, ZERO), Err(Error::Timeout));
    let waiter = std::thread::spawn(move || lock(&m, LONG).map(|a| (a, Instant::now())));
    std::thread::sleep(Duration::from_millis(100));
    let closed = Instant::now();
    drop(m2);
    drop(r2); // closes the region handle: its lease key is deleted
    let (got, at) = waiter.join().unwrap().unwrap();
    assert_eq!(got, Acquired::Recovered);
    assert!(at - closed < NOTICE, "took {:?}", at - closed);
    // The waiter's thread ended holding it: its region handle still lives, so it stays
    // locked (as a thread that exits holding a local mutex).
    assert!(r.mutex("m").unwrap().is_locked().unwrap());
}

#[test]
fn a_holder_whose_lease_expired_cannot_unlock_after_the_takeover() {
    let Some(srv) = RedisServer::start("a_holder_whose_lease_expired_cannot_unlock") else {
        return;
    };
    let url = url(&srv, "fence");
    let r = open(&url);
    let m = r.mutex("m").unwrap();
    let mut kid = spawn_ready(
        role_command("stale-unlock", &url).stdin(Stdio::piped()),
        READY,
    );
    // Stopped, it cannot renew its lease: the lock is taken over when the lease expires.
    signal(&kid, libc::SIGSTOP);
    assert_eq!(lock(&m, LONG).unwrap(), Acquired::Recovered);
    signal(&kid, libc::SIGCONT);
    kid.stdin.take().unwrap().write_all(b"u").unwrap();
    let limit = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = kid.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < limit, "the child did not finish");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    kid.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "child failed: {out}");
    assert!(out.contains("UNLOCK-REFUSED"), "{out}");
    // Still ours, and ours to unlock.
    assert!(m.is_locked().unwrap());
    m.unlock().unwrap();
    assert!(!m.is_locked().unwrap());
}

// ---- barrier ----

#[test]
fn barrier_rounds_across_threads() {
    let Some(srv) = RedisServer::start("barrier_rounds_across_threads") else {
        return;
    };
    let url = url(&srv, "rounds");
    let handles = [open(&url), open(&url)];
    const PARTIES: u32 = 4;
    const ROUNDS: usize = 100;
    let arrivals: Arc<Vec<AtomicU32>> = Arc::new((0..ROUNDS).map(|_| AtomicU32::new(0)).collect());
    let lasts: Arc<Vec<AtomicU32>> = Arc::new((0..ROUNDS).map(|_| AtomicU32::new(0)).collect());
    std::thread::scope(|s| {
        for t in 0..PARTIES as usize {
            let r = handles[t % 2].clone();
            let (arrivals, lasts) = (arrivals.clone(), lasts.clone());
            s.spawn(move || {
                let b = r.barrier("b", PARTIES).unwrap();
                assert_eq!(b.parties(), PARTIES);
                for round in 0..ROUNDS {
                    arrivals[round].fetch_add(1, Ordering::SeqCst);
                    if wait(&b, LONG).unwrap() {
                        lasts[round].fetch_add(1, Ordering::SeqCst);
                    }
                    // Nobody passes before every party arrived.
                    assert_eq!(arrivals[round].load(Ordering::SeqCst), PARTIES);
                }
            });
        }
    });
    for (round, n) in lasts.iter().enumerate() {
        assert_eq!(n.load(Ordering::SeqCst), 1, "round {round}");
    }
}

#[test]
fn barrier_timeout_withdraws_the_arrival() {
    let Some(srv) = RedisServer::start("barrier_timeout_withdraws_the_arrival") else {
        return;
    };
    let url = url(&srv, "withdraw");
    let r = open(&url);
    assert!(matches!(r.barrier("b", 0), Err(Error::NotFound(_))));
    let b = r.barrier("b", 2).unwrap();
    assert_eq!(open(&url).barrier("b", 0).unwrap().parties(), 2);
    assert!(matches!(r.barrier("b", 3), Err(Error::Incompatible(_))));
    assert!(matches!(r.mutex("b"), Err(Error::TypeMismatch(_))));

    assert_eq!(wait(&b, SHORT), Err(Error::Timeout));
    assert_eq!(wait(&b, ZERO), Err(Error::Timeout));
    // Had either arrival stayed, this try-once would have completed the round.
    let other = open(&url).barrier("b", 2).unwrap();
    assert_eq!(wait(&other, ZERO), Err(Error::Timeout));

    // A round still needs both parties. The try-once arrivals are withdrawn until one
    // meets the waiting party: it completes the round (true), or, if the other party
    // arrived while it was withdrawing, it passed after all (Ok(false), the other true).
    let b2 = b.clone();
    let first = std::thread::spawn(move || wait(&b2, LONG));
    let mut mine = Err(Error::Timeout);
    let limit = Instant::now() + Duration::from_secs(30);
    while mine == Err(Error::Timeout) && Instant::now() < limit {
        mine = wait(&other, ZERO);
    }
    let theirs = first.join().unwrap();
    let mut both = [mine.unwrap(), theirs.unwrap()];
    both.sort();
    assert_eq!(both, [false, true]);
    // The barrier is ready for the next round.
    let b3 = b.clone();
    let first = std::thread::spawn(move || wait(&b3, LONG));
    let second = wait(&other, LONG).unwrap();
    assert_ne!(first.join().unwrap().unwrap(), second);
}

// ---- semaphore ----

#[test]
fn semaphore_permits_across_threads_and_handles() {
    let Some(srv) = RedisServer::start("semaphore_permits_across_threads_and_handles") else {
        return;
    };
    let url = url(&srv, "permits");
    let r = open(&url);
    let other = open(&url);
    assert!(matches!(r.semaphore("s", 0), Err(Error::NotFound(_))));
    let s = r.semaphore("s", 2).unwrap();
    let so = other.semaphore("s", 0).unwrap();
    assert_eq!((s.permits(), so.permits()), (2, 2));
    assert!(matches!(r.semaphore("s", 3), Err(Error::Incompatible(_))));
    assert_eq!((s.available().unwrap(), s.held().unwrap()), (2, 0));
    let msg = invalid(s.release());
    assert!(msg.contains("holds none"), "{msg}");

    acquire(&s, ZERO).unwrap();
    acquire(&so, ZERO).unwrap();
    assert_eq!(s.available().unwrap(), 0);
    assert_eq!((s.held().unwrap(), so.held().unwrap()), (1, 1));
    assert_eq!(acquire(&s, ZERO), Err(Error::Timeout));
    assert_eq!(acquire(&so, SHORT), Err(Error::Timeout));
    // Any thread of the handle may release its permit; a waiter is woken by it.
    let s2 = s.clone();
    let waiter = std::thread::spawn(move || acquire(&s2, LONG));
    std::thread::sleep(Duration::from_millis(100));
    std::thread::spawn(move || so.release().unwrap())
        .join()
        .unwrap();
    waiter.join().unwrap().unwrap();
    assert_eq!(s.held().unwrap(), 2);
    s.release().unwrap();
    s.release().unwrap();
    assert_eq!(s.available().unwrap(), 2);

    // Never more than `permits` holders at once.
    let inside = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU64::new(0));
    let handles = [r.clone(), other.clone()];
    std::thread::scope(|sc| {
        for t in 0..4 {
            let r = handles[t % 2].clone();
            let (inside, most) = (inside.clone(), most.clone());
            sc.spawn(move || {
                let s = r.semaphore("s", 2).unwrap();
                for _ in 0..25 {
                    acquire(&s, LONG).unwrap();
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(n <= 2, "{n} holders of 2 permits");
                    most.fetch_max(n as u64, Ordering::SeqCst);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    s.release().unwrap();
                }
            });
        }
    });
    assert!(most.load(Ordering::SeqCst) >= 1);
    assert_eq!(s.available().unwrap(), 2);
    assert_eq!(s.held().unwrap(), 0);
}

#[test]
fn semaphore_permits_of_a_killed_process_or_closed_handle_come_back() {
    let Some(srv) = RedisServer::start("semaphore_permits_come_back") else {
        return;
    };
    let url = url(&srv, "comeback");
    let r = open(&url);
    let s = r.semaphore("s", 1).unwrap();
    let kid = spawn_ready(&mut role_command("hold-permit", &url), READY);
    assert_eq!(s.available().unwrap(), 0);
    assert_eq!(acquire(&s, SHORT), Err(Error::Timeout));
    let s2 = s.clone();
    let waiter = std::thread::spawn(move || acquire(&s2, LONG).map(|()| Instant::now()));
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    kid.sigkill();
    let at = waiter.join().unwrap().unwrap();
    assert!(at - killed < NOTICE, "took {:?}", at - killed);
    assert_eq!(s.held().unwrap(), 1);
    s.release().unwrap();

    // A region handle closed while holding a permit gives it back too.
    let r2 = open(&url);
    let s3 = r2.semaphore("s", 0).unwrap();
    acquire(&s3, ZERO).unwrap();
    assert_eq!(acquire(&s, ZERO), Err(Error::Timeout));
    drop(s3);
    drop(r2);
    acquire(&s, LONG).unwrap();
    assert_eq!((s.held().unwrap(), s.available().unwrap()), (1, 0));
}
