//! `remove_object` on a remote region (`redis://`), against a private `redis-server`
//! per test, beyond what tests/conformance.rs (`object_removal`, every call and every
//! blocking call of every kind) checks:
//!
//! - processes blocked on objects another process removes (this binary re-run as
//!   children in roles) wake with REMOVED, and find the name again once it is re-created;
//! - no key of a removed object is left on the server once its handles are gone, but its
//!   `gone` stream, which expires; a removal whose caller did not delete the keys is
//!   finished by a later one;
//! - a `read_fe` woken by a removal parks on another object cleanly (a `retry` word that
//!   is not its own is skipped, and no value is taken twice).

#[macro_use]
mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::process::{play_role, role_command, say_ready, spawn_ready, Kid, READY};
use common::redis::{keys, query, RedisServer, Resp};
use plexus::backend::{Acquired, OpenMode, OpenOptions, Region, Start};
use plexus::{Deadline, Error, Value, ValueRef};

const ZERO: Option<Duration> = Some(Duration::ZERO);
/// A wait that the removal must end first (TIMEOUT from it: the removal did not wake it).
const UNTIL_REMOVED: Option<Duration> = Some(Duration::from_secs(10));
/// A timeout that is never meant to pass (a wait that needs it is a hang).
const LONG: Option<Duration> = Some(Duration::from_secs(30));
/// Long enough that a thread started before it is, in all likelihood, blocked after it
/// (the tests pass either way: they only get weaker if it is not).
const SETTLE: Duration = Duration::from_millis(200);
/// Longest a child process may run.
const LIMIT: Duration = Duration::from_secs(120);

fn open(url: &str) -> Region {
    Region::open(url, &OpenOptions::default()).unwrap()
}

/// Another attachment of the existing region, as another process would have.
fn attach(url: &str) -> Region {
    let opts = OpenOptions {
        mode: OpenMode::Open,
        ..Default::default()
    };
    Region::open(url, &opts).unwrap()
}

// ---- other processes ----

#[test]
fn child_entry() {
    play_role(child_main);
}

/// A child process: blocks in the call its role names on the object of that name, which
/// the test removes; prints `REMOVED` when the call returns that, then waits for the
/// name to be re-created (as an array whose element 0 the test fills) and prints
/// `NEW <value>`. Any other outcome panics (the child fails).
fn child_main(role: &str, url: &str) {
    let r = attach(url);
    let name = role;
    let until = || Deadline::after(UNTIL_REMOVED);
    let blocked: Box<dyn FnOnce() -> plexus::Result<()>> = match role {
        "q" => {
            let q = r.queue(name, 0, 0).unwrap();
            Box::new(move || q.pop(UNTIL_REMOVED).map(drop))
        }
        "a" => {
            let a = r.array(name, 0, 0).unwrap();
            Box::new(move || a.read_fe(0, UNTIL_REMOVED).map(drop))
        }
        "m" => {
            let m = r.map(name, 0, 0).unwrap();
            let mut seen = m.version("k").unwrap();
            Box::new(move || m.wait_change("k", &mut seen, UNTIL_REMOVED))
        }
        "b" => {
            let mut sub = r.bus(name, 0, 0).unwrap().subscribe(Start::Now).unwrap();
            Box::new(move || sub.next(UNTIL_REMOVED).map(drop))
        }
        "mx" => {
            let mx = r.mutex(name).unwrap();
            Box::new(move || mx.lock_until(&until()).map(drop))
        }
        "sem" => {
            let sem = r.semaphore(name, 0).unwrap();
            Box::new(move || sem.acquire_until(&until()))
        }
        "br" => {
            let br = r.barrier(name, 0).unwrap();
            Box::new(move || br.wait_until(&until()).map(drop))
        }
        other => panic!("unknown role {other}"),
    };
    say_ready();
    match blocked() {
        Err(Error::Removed(msg)) => println!("REMOVED {msg}"),
        other => panic!("{role}: the blocked call returned {other:?}, not REMOVED"),
    }
    r.wait_object(name, LONG).unwrap();
    let v = r.array(name, 0, 0).unwrap().read_ff(0, LONG).unwrap();
    println!("NEW {v:?}");
}

/// Seven processes, each blocked on an object of another kind (pop, read_fe, wait_change,
/// bus next, mutex lock, semaphore acquire, barrier wait): this process removes the
/// objects, and each wakes with REMOVED, then finds the name again as the array this
/// process creates under it at once.
#[test]
fn processes_blocked_on_removed_objects_wake_with_removed() {
    let Some(srv) = RedisServer::start("remote_remove processes_blocked_on_removed_objects") else {
        return;
    };
    let url = srv.url("blocked");
    let r = open(&url);
    r.queue("q", 4, 0).unwrap();
    r.array("a", 2, 0).unwrap();
    r.map("m", 4, 0).unwrap();
    r.bus("b", 4, 0).unwrap();
    let mx = r.mutex("mx").unwrap();
    assert_eq!(mx.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
    let sem = r.semaphore("sem", 1).unwrap();
    sem.acquire_until(&Deadline::after(ZERO)).unwrap();
    r.barrier("br", 2).unwrap();
    let names = ["q", "a", "m", "b", "mx", "sem", "br"];
    let mut kids: Vec<(&str, Kid)> = names
        .iter()
        .map(|n| {
            let mut cmd = role_command(n, &url);
            cmd.stderr(std::process::Stdio::piped());
            (*n, spawn_ready(&mut cmd, READY))
        })
        .collect();
    std::thread::sleep(SETTLE);
    for n in names {
        r.remove_object(n).unwrap();
    }
    // The names are free at once: each is an array now, element 0 FULL with 42.
    for n in names {
        r.array(n, 1, 0)
            .unwrap()
            .write_xf(0, ValueRef::Int(42))
            .unwrap();
    }
    for (n, kid) in kids.iter_mut() {
        let (status, stdout, stderr) = finish(kid);
        assert!(status.success(), "child {n} failed: {stdout}\n{stderr}");
        assert!(stdout.contains("REMOVED "), "child {n}: {stdout}");
        assert!(stdout.contains("NEW Int(42)"), "child {n}: {stdout}");
    }
    // The old handles of this process are removed too.
    assert_err!(mx.unlock(), Error::Removed(_));
    assert_err!(sem.release(), Error::Removed(_));
}

/// Waits up to [`LIMIT`] for a child started by `spawn_ready` to exit; its status and
/// the rest of its output.
fn finish(kid: &mut Kid) -> (std::process::ExitStatus, String, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = kid.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < LIMIT, "a child did not finish (wedged?)");
        std::thread::sleep(Duration::from_millis(10));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(o) = kid.stdout.as_mut() {
        o.read_to_string(&mut out).unwrap();
    }
    if let Some(e) = kid.stderr.as_mut() {
        e.read_to_string(&mut err).unwrap();
    }
    (status, out, err)
}

// ---- what is left on the server ----

/// `px:{NAME}:<epoch>:`, the keys of the region's current epoch.
fn epoch_prefix(srv: &RedisServer, name: &str) -> String {
    let epoch = query(srv.port, &["HGET", &format!("px:{{{name}}}:meta"), "epoch"]);
    format!("px:{{{name}}}:{}:", epoch.text())
}

/// The objects' key prefixes (`E o:<id>:`) among the keys on the server.
fn object_prefixes(srv: &RedisServer, e: &str) -> Vec<String> {
    let mut prefixes: Vec<String> = keys(srv.port, &format!("{e}o:*"))
        .into_iter()
        .map(|k| {
            let rest = &k[e.len() + 2..];
            let id = rest.split(':').next().unwrap();
            format!("{e}o:{id}:")
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    prefixes
}

/// The keys of the removed objects (`prefixes`) still on the server: only their `gone`
/// streams, each expiring within a minute; every parked reader's list left behind expires
/// too, and no removal is left unfinished in `reclaim`.
fn assert_only_expiring_keys_left(srv: &RedisServer, e: &str, prefixes: &[String]) {
    for p in prefixes {
        let left = keys(srv.port, &format!("{p}*"));
        assert_eq!(
            left,
            vec![format!("{p}gone")],
            "keys of a removed object left"
        );
        let ttl = query(srv.port, &["PTTL", &left[0]]).int();
        assert!(
            (1..=60_000).contains(&ttl),
            "{}: PTTL {ttl}, not expiring within a minute",
            left[0]
        );
    }
    for wl in keys(srv.port, &format!("{e}wl:*")) {
        let ttl = query(srv.port, &["PTTL", &wl]).int();
        assert!((1..=60_000).contains(&ttl), "{wl}: PTTL {ttl}");
    }
    assert_eq!(
        query(srv.port, &["ZCARD", &format!("{e}reclaim")]),
        Resp::Int(0)
    );
}

/// Objects of every kind, used so that they have keys of every sort (element hashes,
/// read_rw holders, wake streams, parked readers, map keys, queue values, bus messages,
/// a held mutex and permit, a barrier arrival), removed while a reader is parked and a
/// barrier party waits: once their handles are dropped, nothing of them is left but
/// their `gone` streams (expiring); the region's own keys stay, and a new object works.
#[test]
fn no_key_of_a_removed_object_is_left() {
    let Some(srv) = RedisServer::start("remote_remove no_key_of_a_removed_object_is_left") else {
        return;
    };
    let name = "leftovers";
    let url = srv.url(name);
    let r = open(&url);
    let other = attach(&url);
    let e = epoch_prefix(&srv, name);
    {
        let a = r.array("a", 100, 0).unwrap();
        for i in 0..50 {
            a.write_xf(i, ValueRef::Int(i as i64)).unwrap();
        }
        a.read_rw(1, ZERO).unwrap();
        assert_eq!(a.read_ff(60, Some(SETTLE)), Err(Error::Timeout));
        assert_eq!(a.read_fe(61, Some(SETTLE)), Err(Error::Timeout));
        a.write_xf(60, ValueRef::Int(60)).unwrap();
        let m = r.map("m", 100, 0).unwrap();
        for i in 0..30 {
            m.write(&format!("k{i}"), ValueRef::String("v")).unwrap();
        }
        assert_eq!(m.read_ff("k0", Some(SETTLE)), Err(Error::Timeout));
        m.write_xf("k0", ValueRef::Int(0)).unwrap();
        m.remove("k1").unwrap();
        m.read_rw("k0", ZERO).unwrap();
        let q = r.queue("q", 8, 0).unwrap();
        for i in 0..5 {
            q.push(ValueRef::Int(i), ZERO).unwrap();
        }
        let b = r.bus("b", 4, 0).unwrap();
        for i in 0..10 {
            b.publish(ValueRef::Int(i)).unwrap();
        }
        b.shutdown().unwrap();
        let mx = r.mutex("mx").unwrap();
        mx.lock_until(&Deadline::after(ZERO)).unwrap();
        let sem = r.semaphore("sem", 2).unwrap();
        sem.acquire_until(&Deadline::after(ZERO)).unwrap();
        let br = other.barrier("br", 3).unwrap();
        let their_a = other.array("a", 0, 0).unwrap();
        std::thread::scope(|s| {
            let parked = s.spawn(|| their_a.read_fe(70, UNTIL_REMOVED));
            let arrived = s.spawn(|| br.wait_until(&Deadline::after(UNTIL_REMOVED)));
            std::thread::sleep(SETTLE);
            let prefixes = object_prefixes(&srv, &e);
            assert_eq!(prefixes.len(), 7, "{prefixes:?}");
            for n in ["a", "m", "q", "b", "mx", "sem", "br"] {
                r.remove_object(n).unwrap();
            }
            assert_err!(parked.join().unwrap(), Error::Removed(_));
            assert_err!(arrived.join().unwrap(), Error::Removed(_));
            // Every handle is dropped at the end of this block; a removed handle's calls
            // create nothing meanwhile.
            assert_err!(a.write_xf(99, ValueRef::Int(1)), Error::Removed(_));
            assert_err!(m.write("new", ValueRef::Int(1)), Error::Removed(_));
            assert_err!(q.push(ValueRef::Int(1), ZERO), Error::Removed(_));
            assert_err!(b.publish(ValueRef::Int(1)), Error::Removed(_));
            assert_err!(sem.acquire_until(&Deadline::after(ZERO)), Error::Removed(_));
            assert_only_expiring_keys_left(&srv, &e, &prefixes);
        });
    }
    let prefixes_after = object_prefixes(&srv, &e);
    assert_only_expiring_keys_left(&srv, &e, &prefixes_after);
    // The region lives on: a new object of a removed name works.
    let a = other.array("a", 1, 0).unwrap();
    a.write_xf(0, ValueRef::Int(5)).unwrap();
    assert_eq!(
        r.array("a", 0, 0).unwrap().read_fe(0, ZERO),
        Ok(Value::Int(5))
    );
    assert_eq!(r.info().unwrap().object_count, 1);
}

/// A removal whose caller deleted no keys (it failed or died after the removal itself:
/// here, its steps made by hand) is finished by a later removal in the region, once a
/// minute has passed since (here: its time in `reclaim` set in the past).
#[test]
fn a_removal_left_unfinished_is_finished_by_the_next() {
    let Some(srv) = RedisServer::start("remote_remove a_removal_left_unfinished") else {
        return;
    };
    let name = "unfinished";
    let url = srv.url(name);
    let r = open(&url);
    let e = epoch_prefix(&srv, name);
    let a = r.array("left", 10, 0).unwrap();
    for i in 0..10 {
        a.write_xf(i, ValueRef::Int(1)).unwrap();
    }
    let entry = query(srv.port, &["HGET", &format!("{e}dir"), "left"]);
    let id = entry.text().rsplit(' ').next().unwrap().to_owned();
    let p = format!("{e}o:{id}:");
    // The meta hash, each element's hash and its wake stream.
    assert_eq!(keys(srv.port, &format!("{p}*")).len(), 21);
    // What REMOVE_OBJECT does, without the deletion its caller makes after it.
    query(srv.port, &["HDEL", &format!("{e}dir"), "left"]);
    query(srv.port, &["ZREM", &format!("{e}dirz"), "left"]);
    query(srv.port, &["DEL", &format!("{p}m")]);
    query(srv.port, &["ZADD", &format!("{e}reclaim"), "1", &id]);
    assert_err!(a.read(0), Error::Removed(_));
    assert_eq!(keys(srv.port, &format!("{p}*")).len(), 20);
    r.array("x", 1, 0).unwrap();
    r.remove_object("x").unwrap();
    assert_eq!(keys(srv.port, &format!("{p}*")), Vec::<String>::new());
    assert_eq!(
        query(srv.port, &["ZCARD", &format!("{e}reclaim")]),
        Resp::Int(0)
    );
}

// ---- parked readers ----

/// A `read_fe` parked on an element (blocked on its thread's list) gets REMOVED when the
/// object is removed, skipping a `retry` word meant for another call of its thread; the
/// same thread then parks on another array and takes exactly one value there (nothing
/// of its first call is left to take a second one).
#[test]
fn a_reader_woken_by_a_removal_parks_again_cleanly() {
    let Some(srv) = RedisServer::start("remote_remove a_reader_woken_by_a_removal") else {
        return;
    };
    let name = "parked";
    let url = srv.url(name);
    let r = open(&url);
    let e = epoch_prefix(&srv, name);
    let x = r.array("x", 1, 0).unwrap();
    let y = r.array("y", 1, 0).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let first = x.read_fe(0, UNTIL_REMOVED);
            tx.send(()).unwrap();
            (first, y.read_fe(0, LONG))
        });
        // The reader's queue entry (`<attachment> <thread>:<n> <until>`) names its list.
        let queued = format!("{e}o:*:e:0:q");
        let mut entry = None;
        for _ in 0..1000 {
            if let Some(q) = keys(srv.port, &queued).first() {
                let items = query(srv.port, &["LRANGE", q, "0", "-1"]);
                if let Some(Resp::Text(t)) = items.items().first() {
                    entry = Some(t.clone());
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let entry = entry.expect("the reader parked on x[0]");
        let mut words = entry.split(' ');
        let (cid, opid) = (words.next().unwrap(), words.next().unwrap());
        let thread = opid.split(':').next().unwrap();
        let list = format!("{e}wl:{cid}:{thread}");
        // A word for another call of that thread (one that gave up earlier): skipped.
        query(
            srv.port,
            &["RPUSH", &list, &format!("retry {thread}:999999")],
        );
        std::thread::sleep(SETTLE);
        r.remove_object("x").unwrap();
        rx.recv().unwrap();
        std::thread::sleep(SETTLE);
        y.write_ef(0, ValueRef::Int(1), LONG).unwrap();
        let (first, second) = reader.join().unwrap();
        assert_err!(first, Error::Removed(_));
        assert_eq!(second, Ok(Value::Int(1)));
    });
    // y[0] was taken once: a second value stays.
    y.write_ef(0, ValueRef::Int(2), ZERO).unwrap();
    assert_eq!(y.read_ff(0, ZERO), Ok(Value::Int(2)));
    assert_eq!(y.read_fe(0, ZERO), Ok(Value::Int(2)));
    assert_eq!(y.read_fe(0, ZERO), Err(Error::Timeout));
}
