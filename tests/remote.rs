//! Remote regions with real processes and real faults, each test on a private
//! `redis-server` (127.0.0.1, a free port; a loud SKIPPED without one, a failure under CI):
//!
//! - C and C++ programs sharing one region through its `redis://` URL: handshakes,
//!   counters, a queue, a bus (the programs of tests/ffi.rs, which take the region name
//!   as an argument);
//! - holders of a mutex, a `read_rw` lock and a semaphore permit killed with SIGKILL (this
//!   test binary re-run as a child in a role): their leases expire and what they held is
//!   taken over;
//! - the server stopped (SIGSTOP), its connections killed (CLIENT KILL), restarted
//!   without its data or with AOF, flushed;
//! - statuses and messages (a password never appears);
//! - a 3-master Redis Cluster, the region's URL naming a node that does not own its slot
//!   (objects used, and removed with `remove_object`).

#[macro_use]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::c::{assert_ok, build, run, Lib};
use common::process::{play_role, role_command, say_ready, spawn_ready, wait_within, READY};
use common::redis::RedisServer;
use common::TempDir;
use plexus::backend::{Acquired, OpenMode, OpenOptions, Region, Start};
use plexus::{Deadline, Error, Value, ValueRef, FLAG_FULL};

const ZERO: Option<Duration> = Some(Duration::ZERO);
/// A timeout that is never meant to pass (a wait that needs it is a hang).
const LONG: Option<Duration> = Some(Duration::from_secs(30));
/// Longest a multi-process test's program may run.
const LIMIT: Duration = Duration::from_secs(180);
/// The `lease_ms` of the fault tests.
const LEASE: Duration = Duration::from_millis(1000);
/// How far past its time a call to a stalled server may return: the 250 ms a request may
/// take past the caller's deadline (`REPLY_MARGIN` in src/redis/conn.rs), and more for a
/// loaded machine.
const MARGIN: Duration = Duration::from_millis(600);

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

/// Starts a program of ffi-tests/ with its output piped.
fn spawn(exe: &Path, args: &[&str]) -> Child {
    Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", exe.display()))
}

/// Waits for a program started by [`spawn`] and fails the test unless it succeeded;
/// returns its stdout.
fn finish(what: &str, child: Child) -> String {
    let out = wait_within(what, child, LIMIT);
    assert_ok(what, &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Sends one command to the server on 127.0.0.1:`port` and returns its reply as text:
/// a simple string, an error or an integer without its type byte, a bulk string's
/// content (arrays are not needed here).
fn ask(port: u16, args: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req += &format!("${}\r\n{a}\r\n", a.len());
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end();
    match line.as_bytes().first() {
        Some(b'$') => {
            let len: usize = line[1..].parse().expect("bulk length");
            let mut body = vec![0; len + 2];
            r.read_exact(&mut body).unwrap();
            body.truncate(len);
            String::from_utf8(body).unwrap()
        }
        Some(b'+' | b'-' | b':') => line[1..].to_owned(),
        _ => panic!("{args:?}: unexpected reply {line:?}"),
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on the pid of a redis-server this test started; no memory involved.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

// ---- several processes over one URL ----

/// A C writer and a C++ reader: 2,000 values handed over with write_ef / read_fe.
#[test]
fn two_processes_2000_handshakes() {
    let Some(srv) = RedisServer::start("remote two_processes_2000_handshakes") else {
        return;
    };
    let url = srv.url("handshake");
    let writer = build("ffi-tests/handshake_writer.c", Lib::Shared);
    let reader = build("ffi-tests/handshake_reader.cpp", Lib::Shared);
    // The reader starts first and waits for the region and the array to appear.
    let r = spawn(&reader, &[&url, "2000"]);
    let w = spawn(&writer, &[&url, "2000"]);
    finish("handshake_writer", w);
    let out = finish("handshake_reader", r);
    assert!(out.contains("handshake_reader: OK 2000"), "{out}");
}

/// 4 processes add 1 a thousand times each to one element: exactly 4,000 (read by a C
/// program too).
#[test]
fn four_processes_1000_faa_each_count_exactly_4000() {
    let Some(srv) = RedisServer::start("remote four_processes_1000_faa") else {
        return;
    };
    let url = srv.url("faa");
    open(&url)
        .array("counter", 1, 0)
        .unwrap()
        .write(0, ValueRef::Int(0))
        .unwrap();
    let exe = build("ffi-tests/faa_worker.c", Lib::Shared);
    let workers: Vec<Child> = (0..4).map(|_| spawn(&exe, &[&url, "1000"])).collect();
    for w in workers {
        finish("faa_worker", w);
    }
    assert_eq!(
        attach(&url).array("counter", 0, 0).unwrap().read(0),
        Ok(Value::Int(4000))
    );
    let counter = build("ffi-tests/remote_counter.c", Lib::Shared);
    assert_ok("remote_counter", &run(&counter, &[&url, "4000"]));
}

/// 3 producer processes push 5,000 values each through a queue of 64 while 3 consumer
/// processes pop them until the queue is shut down: every value arrives exactly once,
/// each producer's values in the order pushed (queue_worker verifies).
#[test]
fn three_producers_three_consumers_5000_values_each_exactly_once() {
    let Some(srv) = RedisServer::start("remote three_producers_three_consumers") else {
        return;
    };
    let url = srv.url("queue");
    let dir = TempDir::new("remote-queue");
    let exe = build("ffi-tests/queue_worker.c", Lib::Shared);
    assert_ok(
        "queue_worker init",
        &run(&exe, &[&url, "init", "64", "fifo"]),
    );
    let files: Vec<String> = (0..3)
        .map(|c| dir.join(&format!("consumer{c}")).display().to_string())
        .collect();
    let consumers: Vec<Child> = files
        .iter()
        .map(|f| spawn(&exe, &[&url, "consume", f, "fifo"]))
        .collect();
    let producers: Vec<Child> = (0..3)
        .map(|p| spawn(&exe, &[&url, "produce", &p.to_string(), "5000", "int"]))
        .collect();
    for p in producers {
        finish("queue_worker produce", p);
    }
    assert_ok("queue_worker close", &run(&exe, &[&url, "close"]));
    for c in consumers {
        finish("queue_worker consume", c);
    }
    let mut args = vec![url.as_str(), "verify", "all", "3", "5000"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&exe, &args);
    assert_ok("queue_worker verify", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("15000 values"));
}

/// 2 publisher processes x 2,000 messages, 3 subscriber processes: every subscriber
/// receives all 4,000, numbered 1..=4,000 without a gap, in one order (the same FNV hash
/// over (seq, value) everywhere), each publisher's messages in the order published.
#[test]
fn two_publishers_three_subscribers_one_order() {
    let Some(srv) = RedisServer::start("remote two_publishers_three_subscribers") else {
        return;
    };
    let url = srv.url("bus");
    let exe = build("ffi-tests/bus_worker.c", Lib::Shared);
    assert_ok("bus_worker init", &run(&exe, &[&url, "init", "8192"]));
    let subs: Vec<Child> = (0..3)
        .map(|_| spawn(&exe, &[&url, "subscribe", "4000", "2000"]))
        .collect();
    let pubs: Vec<Child> = (0..2)
        .map(|p| spawn(&exe, &[&url, "publish", &p.to_string(), "2000"]))
        .collect();
    for p in pubs {
        finish("bus_worker publish", p);
    }
    let lines: std::collections::BTreeSet<String> = subs
        .into_iter()
        .map(|s| finish("bus_worker subscribe", s).trim().to_owned())
        .collect();
    assert_eq!(lines.len(), 1, "subscribers disagree: {lines:?}");
    let line = lines.into_iter().next().unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (f[0], f[1], f[2], f[4]),
        ("4000", "1", "4000", "0"),
        "{line}"
    );
}

// ---- holders that die ----

#[test]
fn child_entry() {
    play_role(child_main);
}

/// A child process: takes what its role says in the region `url`, says it is ready, and
/// waits to be killed (its lease renewed meanwhile).
fn child_main(role: &str, url: &str) {
    let r = attach(url);
    let forever = || loop {
        std::thread::sleep(Duration::from_secs(1));
    };
    match role {
        "hold-mutex" => {
            let m = r.mutex("m").unwrap();
            assert_eq!(m.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
            say_ready();
            forever()
        }
        "hold-permit" => {
            let s = r.semaphore("s", 0).unwrap();
            s.acquire_until(&Deadline::after(ZERO)).unwrap();
            say_ready();
            forever()
        }
        "hold-read-rw" => {
            let a = r.array("a", 0, 0).unwrap();
            a.read_rw(0, ZERO).unwrap();
            say_ready();
            forever()
        }
        "wait-read-fe" => {
            let a = r.array("a", 0, 0).unwrap();
            say_ready();
            let got = a.read_fe(1, None);
            panic!("read_fe returned {got:?} in a process meant to be killed waiting");
        }
        other => panic!("unknown role {other}"),
    }
}

/// `redis://.../NAME?lease_ms=1000` on `srv`.
fn leased(srv: &RedisServer, name: &str) -> String {
    format!("{}?lease_ms={}", srv.url(name), LEASE.as_millis())
}

/// A mutex holder killed with SIGKILL: while it lived it kept the mutex past its lease
/// (renewed); once dead, the next locker gets OWNER_DEAD within lease + 1 s.
#[test]
fn a_killed_mutex_holder_is_taken_over_within_lease_plus_one_second() {
    let Some(srv) = RedisServer::start("remote a_killed_mutex_holder") else {
        return;
    };
    let url = leased(&srv, "mutex");
    let r = open(&url);
    let m = r.mutex("m").unwrap();
    let holder = spawn_ready(&mut role_command("hold-mutex", &url), READY);
    assert_eq!(m.is_locked(), Ok(true));
    assert_eq!(m.lock_until(&Deadline::after(ZERO)), Err(Error::Timeout));
    assert_eq!(
        m.lock_until(&Deadline::after(Some(2 * LEASE))),
        Err(Error::Timeout),
        "a live holder lost its mutex"
    );
    holder.sigkill();
    let killed = Instant::now();
    assert_eq!(
        m.lock_until(&Deadline::after(Some(LEASE + Duration::from_secs(1)))),
        Ok(Acquired::Recovered),
        "{:?} after the kill",
        killed.elapsed()
    );
    m.unlock().unwrap();
    assert_eq!(m.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
    m.unlock().unwrap();
}

/// A semaphore holder killed with SIGKILL: its permit comes back within lease + 1 s.
#[test]
fn a_killed_semaphore_holder_gives_its_permit_back() {
    let Some(srv) = RedisServer::start("remote a_killed_semaphore_holder") else {
        return;
    };
    let url = leased(&srv, "semaphore");
    let r = open(&url);
    let s = r.semaphore("s", 1).unwrap();
    let holder = spawn_ready(&mut role_command("hold-permit", &url), READY);
    assert_eq!(s.available(), Ok(0));
    assert_eq!(
        s.acquire_until(&Deadline::after(Some(2 * LEASE))),
        Err(Error::Timeout),
        "a live holder lost its permit"
    );
    holder.sigkill();
    let killed = Instant::now();
    assert_eq!(
        s.acquire_until(&Deadline::after(Some(LEASE + Duration::from_secs(1)))),
        Ok(()),
        "{:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(s.held(), Ok(1));
    s.release().unwrap();
    assert_eq!(s.available(), Ok(1));
}

/// A process killed while blocked in read_fe: a value written a wait slice (1 s) after
/// the kill is not taken by it (it goes to the next reader).
#[test]
fn a_reader_killed_while_waiting_takes_nothing_afterwards() {
    let Some(srv) = RedisServer::start("remote a_reader_killed_while_waiting") else {
        return;
    };
    let url = leased(&srv, "killedreader");
    let r = open(&url);
    let a = r.array("a", 2, 0).unwrap();
    let reader = spawn_ready(&mut role_command("wait-read-fe", &url), READY);
    std::thread::sleep(Duration::from_millis(300));
    reader.sigkill();
    std::thread::sleep(Duration::from_millis(1300));
    a.write_ef(1, ValueRef::Int(7), LONG).unwrap();
    assert_eq!(
        a.read_ff(1, ZERO),
        Ok(Value::Int(7)),
        "the killed reader took the value"
    );
    assert_eq!(a.read_fe(1, ZERO), Ok(Value::Int(7)));
}

/// A process killed holding a read_rw lock: writers proceed within lease + 1 s.
#[test]
fn a_killed_read_rw_holder_releases_the_element() {
    let Some(srv) = RedisServer::start("remote a_killed_read_rw_holder") else {
        return;
    };
    let url = leased(&srv, "readrw");
    let r = open(&url);
    let a = r.array("a", 1, FLAG_FULL).unwrap();
    a.write_xf(0, ValueRef::Int(1)).unwrap();
    let holder = spawn_ready(&mut role_command("hold-read-rw", &url), READY);
    assert_eq!(a.read_fe(0, ZERO), Err(Error::Timeout));
    assert_eq!(
        a.read_fe(0, Some(2 * LEASE)),
        Err(Error::Timeout),
        "a live holder lost its read_rw lock"
    );
    holder.sigkill();
    let killed = Instant::now();
    assert_eq!(
        a.read_fe(0, Some(LEASE + Duration::from_secs(1))),
        Ok(Value::Int(1)),
        "{:?} after the kill",
        killed.elapsed()
    );
}

// ---- a server that stalls, drops connections, loses or keeps its data ----

/// SIGSTOPs the server while alive, SIGCONTs it when dropped (also when the test fails).
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        signal(pid, libc::SIGSTOP);
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

/// The server stopped: every call returns UNAVAILABLE within its time (the region's
/// `timeout_ms`, or the call's own shorter timeout) plus a margin; continued, the same
/// handles work again.
#[test]
fn a_stopped_server_gives_unavailable_in_time_and_the_same_handles_work_after() {
    let Some(srv) = RedisServer::start("remote a_stopped_server") else {
        return;
    };
    let budget = Duration::from_millis(1000);
    let url = format!("{}?timeout_ms={}", srv.url("stop"), budget.as_millis());
    let r = open(&url);
    let a = r.array("a", 4, 0).unwrap();
    let m = r.map("m", 4, 0).unwrap();
    a.write(0, ValueRef::Int(1)).unwrap();
    m.write("k", ValueRef::String("v")).unwrap();
    {
        let _stopped = Stopped::new(srv.pid());
        let own = Duration::from_millis(300);
        type Call<'a> = Box<dyn Fn() -> plexus::Result<()> + 'a>;
        let calls: Vec<(&str, Duration, Call)> = vec![
            ("read", budget, Box::new(|| a.read(0).map(drop))),
            ("map read", budget, Box::new(|| m.read("k").map(drop))),
            ("write", budget, Box::new(|| a.write(1, ValueRef::Int(2)))),
            (
                "faa",
                budget,
                Box::new(|| a.faa(2, ValueRef::Int(1)).map(drop)),
            ),
            ("info", budget, Box::new(|| r.info().map(drop))),
            (
                "read_fe",
                own,
                Box::new(|| a.read_fe(3, Some(own)).map(drop)),
            ),
            (
                "wait_change",
                own,
                Box::new(|| a.wait_change(3, &mut 0, Some(own))),
            ),
            (
                "open",
                budget,
                Box::new(|| Region::open(&url, &OpenOptions::default()).map(drop)),
            ),
        ];
        for (what, within, call) in calls {
            let t = Instant::now();
            let got = call();
            let took = t.elapsed();
            match got {
                Err(Error::Unavailable(msg)) => assert!(!msg.is_empty()),
                other => panic!("{what} on a stopped server: {other:?}"),
            }
            assert!(
                took < within + MARGIN,
                "{what} on a stopped server took {took:?} (its time: {within:?})"
            );
        }
    }
    // Continued: the same handles work again.
    assert_eq!(a.read(0), Ok(Value::Int(1)));
    assert_eq!(m.read("k"), Ok(Value::String("v".into())));
    a.write(0, ValueRef::Int(5)).unwrap();
    assert_eq!(a.read(0), Ok(Value::Int(5)));
    assert_eq!(r.info().unwrap().object_count, 2);
    std::thread::scope(|s| {
        let reader = s.spawn(|| a.read_fe(3, LONG));
        std::thread::sleep(Duration::from_millis(100));
        a.write_ef(3, ValueRef::Int(3), LONG).unwrap();
        assert_eq!(reader.join().unwrap(), Ok(Value::Int(3)));
    });
}

/// Every connection of the server killed again and again (CLIENT KILL) while two
/// attachments count with faa and hand values over with write_ef/read_fe: retried
/// requests are neither lost nor applied twice.
#[test]
fn connections_killed_under_load_lose_and_double_nothing() {
    let Some(srv) = RedisServer::start("remote connections_killed_under_load") else {
        return;
    };
    let url = srv.url("kills");
    let (r1, r2) = (open(&url), attach(&url));
    let (a1, a2) = (r1.array("a", 2, 0).unwrap(), r2.array("a", 0, 0).unwrap());
    a1.write(0, ValueRef::Int(0)).unwrap();
    const N: i64 = 300;
    let stop = AtomicBool::new(false);
    let killed = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let n: u64 = ask(srv.port, &["CLIENT", "KILL", "TYPE", "normal"])
                    .parse()
                    .unwrap();
                killed.fetch_add(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(15));
            }
        });
        let counters: Vec<_> = [&a1, &a2]
            .into_iter()
            .map(|a| {
                s.spawn(move || {
                    for _ in 0..N {
                        a.faa(0, ValueRef::Int(1)).unwrap();
                    }
                })
            })
            .collect();
        let reader = s.spawn(|| {
            (0..N)
                .map(|_| a2.read_fe(1, LONG).unwrap())
                .collect::<Vec<Value>>()
        });
        for i in 0..N {
            a1.write_ef(1, ValueRef::Int(i), LONG).unwrap();
        }
        let got = reader.join().unwrap();
        assert_eq!(got, (0..N).map(Value::Int).collect::<Vec<_>>());
        for c in counters {
            c.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(a1.read(0), Ok(Value::Int(2 * N)));
    assert_eq!(a1.is_full(1), Ok(false));
    assert!(
        killed.load(Ordering::Relaxed) > 0,
        "no connection was killed: the test tested nothing"
    );
}

/// Everything `REGION_LOST` must hold for arrays and maps after `lose` (which makes the
/// server forget the region): every handle, in every attachment, says REGION_LOST (a
/// waiter blocked meanwhile too); a region opened again starts anew, and the old handles
/// never work on it.
fn arrays_and_maps_are_lost(srv: &mut RedisServer, lose: impl FnOnce(&mut RedisServer)) {
    let url = srv.url("lost");
    let r = open(&url);
    let other = attach(&url);
    let a = r.array("a", 4, 0).unwrap();
    let m = r.map("m", 4, 0).unwrap();
    let a2 = other.array("a", 0, 0).unwrap();
    a.write(0, ValueRef::Int(1)).unwrap();
    m.write_xf("k", ValueRef::Int(2)).unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| a2.read_fe(1, LONG));
        std::thread::sleep(Duration::from_millis(200));
        lose(srv);
        assert_err!(waiter.join().unwrap(), Error::RegionLost(_));
    });
    let mut cursor = 0;
    let mut seen = 0;
    let calls: Vec<(&str, plexus::Result<()>)> = vec![
        ("read", a.read(0).map(drop)),
        ("write", a.write(0, ValueRef::Int(3))),
        ("read_fe", a.read_fe(0, ZERO).map(drop)),
        ("write_xf", a.write_xf(0, ValueRef::Int(3))),
        ("faa", a.faa(0, ValueRef::Int(1)).map(drop)),
        (
            "cas",
            a.cas(0, ValueRef::Int(1), ValueRef::Int(2)).map(drop),
        ),
        ("version", a.version(0).map(drop)),
        ("wait_change", a.wait_change(0, &mut seen, ZERO)),
        ("other read", a2.read(0).map(drop)),
        ("map read", m.read("k").map(drop)),
        ("map write", m.write("k", ValueRef::Int(1))),
        ("map len", m.len().map(drop)),
        ("map next_key", m.next_key(&mut cursor).map(drop)),
        ("map remove", m.remove("k")),
        ("info", r.info().map(drop)),
        ("other info", other.info().map(drop)),
        ("wait_object", r.wait_object("a", ZERO)),
        ("array open", r.array("new", 1, 0).map(drop)),
        ("map open", other.map("m", 0, 0).map(drop)),
    ];
    for (what, got) in calls {
        assert_err!(got.map_err(|e| (what, e)), (_, Error::RegionLost(_)));
    }
    // Opened again, the region starts anew; the old handles stay lost.
    let fresh = open(&url);
    assert_err!(fresh.array("a", 0, 0), Error::NotFound(_));
    let fa = fresh.array("a", 4, 0).unwrap();
    assert_eq!(fa.read(0), Ok(Value::Undefined));
    fa.write(0, ValueRef::Int(7)).unwrap();
    assert_err!(a.read(0), Error::RegionLost(_));
    assert_err!(a2.write(0, ValueRef::Int(8)), Error::RegionLost(_));
    assert_eq!(fa.read(0), Ok(Value::Int(7)));
}

/// The server killed and restarted without persistence: REGION_LOST, never an empty
/// region silently.
#[test]
fn a_server_restarted_without_its_data_gives_region_lost_on_every_handle() {
    let Some(mut srv) = RedisServer::start("remote a_server_restarted_without_its_data") else {
        return;
    };
    arrays_and_maps_are_lost(&mut srv, |s| s.restart());
}

/// FLUSHALL: REGION_LOST as after a restart.
#[test]
fn a_flushed_server_gives_region_lost_on_every_handle() {
    let Some(mut srv) = RedisServer::start("remote a_flushed_server") else {
        return;
    };
    arrays_and_maps_are_lost(&mut srv, |s| {
        assert_eq!(ask(s.port, &["FLUSHALL"]), "OK");
    });
}

/// How many function libraries the server holds (INFO memory).
fn libraries(port: u16) -> u32 {
    let info = ask(port, &["INFO", "memory"]);
    info.lines()
        .find_map(|l| l.strip_prefix("number_of_libraries:"))
        .expect("number_of_libraries in INFO memory")
        .trim()
        .parse()
        .unwrap()
}

/// Element operations run as a function of a library the first call loads: a server
/// that lost its libraries (FUNCTION FLUSH, which leaves the data) gets it loaded again
/// by the next call, in this process and in another; FLUSHALL leaves the library in
/// place and the region is still lost (its epoch is gone).
#[test]
fn a_server_that_lost_the_function_library_loads_it_again() {
    let Some(srv) = RedisServer::start("remote function_library_again") else {
        return;
    };
    let url = srv.url("fnlib");
    let r = open(&url);
    let other = attach(&url);
    let a = r.array("a", 4, 0).unwrap();
    let m = other.map("m", 4, 0).unwrap();
    assert_eq!(
        libraries(srv.port),
        0,
        "nothing loaded before the first element call"
    );
    a.write(0, ValueRef::Int(1)).unwrap();
    assert_eq!(libraries(srv.port), 1);
    for round in 0..2 {
        assert_eq!(ask(srv.port, &["FUNCTION", "FLUSH"]), "OK");
        assert_eq!(libraries(srv.port), 0);
        // The data is untouched, and the calls load the library again.
        assert_eq!(a.faa(0, ValueRef::Int(10)), Ok(Value::Int(1 + 10 * round)));
        assert_eq!(libraries(srv.port), 1);
        m.write_xf("k", ValueRef::Int(round)).unwrap();
        assert_eq!(m.read_fe("k", ZERO), Ok(Value::Int(round)));
    }
    assert_eq!(other.array("a", 0, 0).unwrap().read(0), Ok(Value::Int(21)));
    // FLUSHALL keeps the library; the region's handles see the loss all the same.
    assert_eq!(ask(srv.port, &["FLUSHALL"]), "OK");
    assert_eq!(libraries(srv.port), 1);
    assert_err!(a.write(0, ValueRef::Int(2)), Error::RegionLost(_));
    assert_err!(m.write_xf("k", ValueRef::Int(2)), Error::RegionLost(_));
}

/// The same for queues, buses, subscriptions and locks.
#[test]
fn a_server_restarted_without_its_data_loses_queues_buses_and_locks_too() {
    let Some(mut srv) = RedisServer::start("remote queues_buses_and_locks_lost") else {
        return;
    };
    let url = srv.url("lostkinds");
    let r = open(&url);
    let q = r.queue("q", 4, 0).unwrap();
    let b = r.bus("b", 4, 0).unwrap();
    let mut sub = b.subscribe(Start::Oldest).unwrap();
    let mx = r.mutex("mx").unwrap();
    let ba = r.barrier("ba", 2).unwrap();
    let se = r.semaphore("se", 1).unwrap();
    q.push(ValueRef::Int(1), ZERO).unwrap();
    b.publish(ValueRef::Int(1)).unwrap();
    srv.restart();
    let calls: Vec<(&str, plexus::Result<()>)> = vec![
        ("push", q.push(ValueRef::Int(2), ZERO)),
        ("pop", q.pop(ZERO).map(drop)),
        ("queue len", q.len().map(drop)),
        ("queue shutdown", q.shutdown()),
        ("publish", b.publish(ValueRef::Int(2)).map(drop)),
        ("next", sub.next(ZERO).map(drop)),
        ("next_seq", b.next_seq().map(drop)),
        ("subscribe", b.subscribe(Start::Now).map(drop)),
        ("lock", mx.lock_until(&Deadline::after(ZERO)).map(drop)),
        ("is_locked", mx.is_locked().map(drop)),
        (
            "barrier wait",
            ba.wait_until(&Deadline::after(ZERO)).map(drop),
        ),
        ("acquire", se.acquire_until(&Deadline::after(ZERO))),
        ("available", se.available().map(drop)),
    ];
    for (what, got) in calls {
        assert_err!(got.map_err(|e| (what, e)), (_, Error::RegionLost(_)));
    }
}

/// With AOF (fsync on every write), a restart loses nothing acknowledged before the
/// region's flush: the same handles, and a new attachment, see every value, tag and
/// version.
#[test]
fn with_aof_a_restart_loses_nothing_flushed() {
    let Some(mut srv) = RedisServer::start_with(
        "remote with_aof_a_restart_loses_nothing_flushed",
        &["--appendonly", "yes", "--appendfsync", "always"],
    ) else {
        return;
    };
    let url = srv.url("durable");
    let r = open(&url);
    let a = r.array("a", 4, 0).unwrap();
    let m = r.map("m", 8, 0).unwrap();
    a.write_xf(0, ValueRef::Int(1)).unwrap();
    a.write(1, ValueRef::String("two")).unwrap();
    for _ in 0..3 {
        a.faa(2, ValueRef::Int(5)).unwrap();
    }
    m.write_xf("k", ValueRef::Bytes(b"\x00\x01")).unwrap();
    m.write("j", ValueRef::Float(2.5)).unwrap();
    m.write("gone", ValueRef::Int(1)).unwrap();
    m.remove("gone").unwrap();
    let versions = (a.version(0).unwrap(), m.version("k").unwrap());
    r.flush().unwrap();
    srv.restart();
    for (who, r) in [
        ("same handles", r.clone()),
        ("new attachment", attach(&url)),
    ] {
        let a = r.array("a", 0, 0).unwrap();
        let m = r.map("m", 0, 0).unwrap();
        assert_eq!(r.info().unwrap().object_count, 2, "{who}");
        assert_eq!(
            (a.read(0), a.is_full(0)),
            (Ok(Value::Int(1)), Ok(true)),
            "{who}"
        );
        assert_eq!(a.read(1), Ok(Value::String("two".into())), "{who}");
        assert_eq!(a.read(2), Ok(Value::Int(15)), "{who}");
        assert_eq!(
            (a.version(0).unwrap(), m.version("k").unwrap()),
            versions,
            "{who}"
        );
        assert_eq!(m.len(), Ok(2), "{who}");
        assert_eq!(m.is_full("k"), Ok(true), "{who}");
        assert_eq!(m.read("k"), Ok(Value::Bytes(vec![0, 1])), "{who}");
        assert_eq!(m.read("j"), Ok(Value::Float(2.5)), "{who}");
        assert_eq!(m.version("gone"), Ok(0), "{who}");
    }
    // The handles opened before the restart go on working.
    assert_eq!(a.read_fe(0, ZERO), Ok(Value::Int(1)));
    a.write_ef(0, ValueRef::Int(2), ZERO).unwrap();
    assert_eq!(
        attach(&url).array("a", 0, 0).unwrap().read(0),
        Ok(Value::Int(2))
    );
}

/// With AOF, queued values and retained bus messages survive a restart too.
#[test]
fn with_aof_queues_and_buses_keep_their_contents() {
    let Some(mut srv) = RedisServer::start_with(
        "remote with_aof_queues_and_buses_keep_their_contents",
        &["--appendonly", "yes", "--appendfsync", "always"],
    ) else {
        return;
    };
    let url = srv.url("durablekinds");
    let r = open(&url);
    let q = r.queue("q", 8, 0).unwrap();
    let b = r.bus("b", 8, 0).unwrap();
    for i in 0..3 {
        q.push(ValueRef::Int(i), ZERO).unwrap();
        b.publish(ValueRef::Int(i)).unwrap();
    }
    assert_eq!(q.pop(ZERO), Ok(Value::Int(0)));
    r.flush().unwrap();
    srv.restart();
    let r = attach(&url);
    let q = r.queue("q", 0, 0).unwrap();
    assert_eq!(q.len(), Ok(2));
    assert_eq!(q.pop(ZERO), Ok(Value::Int(1)));
    assert_eq!(q.pop(ZERO), Ok(Value::Int(2)));
    assert_eq!(q.pop(ZERO), Err(Error::Timeout));
    let b = r.bus("b", 0, 0).unwrap();
    assert_eq!(b.next_seq(), Ok(4));
    let mut sub = b.subscribe(Start::Oldest).unwrap();
    for i in 0..3 {
        assert_eq!(sub.next(ZERO), Ok((Value::Int(i), i as u64 + 1)));
    }
}

// ---- statuses and messages ----

/// Passwords never appear in messages: of a wrong password (PERMISSION), of an
/// unreachable server (UNAVAILABLE), of a malformed URL (INVALID_ARGUMENT), of the usual
/// statuses and REMOVED; from C (remote_statuses.c, which also checks the status
/// names) and from Rust (Display and Debug of the errors).
#[test]
fn passwords_never_appear_in_messages() {
    let Some(srv) = RedisServer::start("remote passwords_never_appear_in_messages") else {
        return;
    };
    let (secret, wrong) = ("s3cret-Pa55", "wr0ng-Pa55");
    let acl = format!(">{secret}");
    assert_eq!(
        ask(
            srv.port,
            &["ACL", "SETUSER", "alice", "on", &acl, "~*", "&*", "+@all"]
        ),
        "OK"
    );
    let at =
        |pw: &str, port: u16, rest: &str| format!("redis://alice:{pw}@127.0.0.1:{port}/{rest}");
    let url = at(secret, srv.port, "pw");
    let wrong_url = at(wrong, srv.port, "pw");
    let unreachable = at(secret, free_port(), "pw?timeout_ms=300");
    let exe = build("ffi-tests/remote_statuses.c", Lib::Shared);
    assert_ok(
        "remote_statuses",
        &run(&exe, &[&url, &wrong_url, &unreachable, secret, wrong]),
    );

    // From Rust: the same, with Debug too.
    let clean = |what: &str, e: Error| {
        let shown = format!("{e} / {e:?}");
        assert!(
            !shown.contains(secret) && !shown.contains(wrong),
            "{what}: {shown}"
        );
        e
    };
    let e = Region::open(&wrong_url, &OpenOptions::default())
        .err()
        .unwrap();
    assert!(matches!(clean("wrong password", e), Error::Permission(_)));
    let e = Region::open(&unreachable, &OpenOptions::default())
        .err()
        .unwrap();
    assert!(matches!(clean("unreachable", e), Error::Unavailable(_)));
    let malformed = format!("redis://alice:{secret}@127.0.0.1:99999/pw");
    let e = Region::open(&malformed, &OpenOptions::default())
        .err()
        .unwrap();
    assert!(matches!(clean("malformed", e), Error::InvalidArgument(_)));
    let r = open(&url);
    let a = r.array("a", 1, 0).unwrap();
    let e = a.read(1).err().unwrap();
    assert!(matches!(clean("out of range", e), Error::OutOfRange { .. }));
    Region::remove(&url).unwrap();
    let e = a.read(0).err().unwrap();
    assert!(matches!(clean("removed", e), Error::Removed(_)));
    let e = Region::remove(&url).err().unwrap();
    assert!(matches!(clean("removed twice", e), Error::NotFound(_)));

    // A password of the default user (`redis://:PASSWORD@`), right and wrong. (From here
    // on the server wants it from every client.)
    assert_eq!(
        ask(srv.port, &["CONFIG", "SET", "requirepass", secret]),
        "OK"
    );
    let plain = format!("redis://:{secret}@127.0.0.1:{}/plain", srv.port);
    open(&plain).array("a", 1, 0).unwrap();
    let bad = format!("redis://:{wrong}@127.0.0.1:{}/plain", srv.port);
    let e = Region::open(&bad, &OpenOptions::default()).err().unwrap();
    assert!(matches!(
        clean("wrong default password", e),
        Error::Permission(_)
    ));
    let none = srv.url("plain");
    let e = Region::open(&none, &OpenOptions::default()).err().unwrap();
    assert!(matches!(clean("no password", e), Error::Permission(_)));
}

// ---- Redis Cluster ----

/// Three masters on loopback, the slots split evenly, formed by hand (ADDSLOTSRANGE,
/// MEET: what `redis-cli --cluster create` does). None without redis-server.
fn start_cluster(what: &str) -> Option<Vec<RedisServer>> {
    let mut nodes = Vec::new();
    let mut buses = Vec::new();
    for _ in 0..3 {
        let bus = free_port();
        let port_arg = bus.to_string();
        nodes.push(RedisServer::start_with(
            what,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                &port_arg,
                "--cluster-node-timeout",
                "5000",
            ],
        )?);
        buses.push(bus);
    }
    for (node, (first, last)) in nodes.iter().zip([(0, 5460), (5461, 10922), (10923, 16383)]) {
        let (first, last) = (first.to_string(), last.to_string());
        assert_eq!(
            ask(node.port, &["CLUSTER", "ADDSLOTSRANGE", &first, &last]),
            "OK"
        );
    }
    for (node, bus) in nodes.iter().zip(&buses).skip(1) {
        let (port, bus) = (node.port.to_string(), bus.to_string());
        assert_eq!(
            ask(
                nodes[0].port,
                &["CLUSTER", "MEET", "127.0.0.1", &port, &bus]
            ),
            "OK"
        );
    }
    let start = Instant::now();
    while !nodes.iter().all(|n| {
        let info = ask(n.port, &["CLUSTER", "INFO"]);
        info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
    }) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the cluster did not form within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(nodes)
}

/// The node serving the slot of region `name`'s keys (`px:{NAME}:...`), and another.
fn owner_and_other(nodes: &[RedisServer], name: &str) -> (usize, usize, u16) {
    let key = format!("px:{{{name}}}:meta");
    let slot: u16 = ask(nodes[0].port, &["CLUSTER", "KEYSLOT", &key])
        .parse()
        .unwrap();
    let owner = match slot {
        0..=5460 => 0,
        5461..=10922 => 1,
        _ => 2,
    };
    (owner, (owner + 1) % 3, slot)
}

/// A region whose URL names a node that does not own its slot: the client follows
/// MOVED; every key of the region lands on the owner (one hash tag); several processes
/// share it.
#[test]
fn a_region_on_a_three_master_cluster_follows_moved() {
    let Some(nodes) = start_cluster("remote a_region_on_a_three_master_cluster") else {
        return;
    };
    let name = "clustered";
    let (owner, other, slot) = owner_and_other(&nodes, name);
    let url = nodes[other].url(name);
    let r = open(&url);
    let a = r.array("counter", 1, 0).unwrap();
    let m = r.map("m", 8, 0).unwrap();
    a.write(0, ValueRef::Int(0)).unwrap();
    m.write_xf("k", ValueRef::String("v")).unwrap();
    assert_eq!(m.read_fe("k", ZERO), Ok(Value::String("v".into())));
    std::thread::scope(|s| {
        let second = attach(&url);
        let reader = s.spawn(move || second.map("m", 0, 0)?.read_fe("k", LONG));
        std::thread::sleep(Duration::from_millis(200));
        m.write_ef("k", ValueRef::Int(1), LONG).unwrap();
        assert_eq!(reader.join().unwrap(), Ok(Value::Int(1)));
    });
    assert_eq!(r.wait_object("m", ZERO), Ok(()));
    assert_eq!(r.info().unwrap().object_count, 2);
    let exe = build("ffi-tests/faa_worker.c", Lib::Shared);
    let workers: Vec<Child> = (0..2).map(|_| spawn(&exe, &[&url, "500"])).collect();
    for w in workers {
        finish("faa_worker on a cluster", w);
    }
    assert_eq!(a.read(0), Ok(Value::Int(1000)));
    // Every key sits in the region's slot, on its owner.
    let in_slot: u64 = ask(
        nodes[owner].port,
        &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()],
    )
    .parse()
    .unwrap();
    assert!(in_slot > 0, "no key in slot {slot} on its owner");
    for (i, n) in nodes.iter().enumerate() {
        let keys: u64 = ask(n.port, &["DBSIZE"]).parse().unwrap();
        if i == owner {
            assert_eq!(
                keys, in_slot,
                "node {i} holds keys outside the region's slot"
            );
        } else {
            assert_eq!(keys, 0, "node {i} does not own the slot but holds keys");
        }
    }
    let counter = build("ffi-tests/remote_counter.c", Lib::Shared);
    assert_ok("remote_counter", &run(&counter, &[&url, "1000"]));
}

/// Every other kind through a node that does not own the region's slot.
#[test]
fn queues_buses_and_locks_on_a_three_master_cluster() {
    let Some(nodes) = start_cluster("remote queues_buses_and_locks_on_a_cluster") else {
        return;
    };
    let name = "clusterkinds";
    let (_, other, _) = owner_and_other(&nodes, name);
    let url = nodes[other].url(name);
    let r = open(&url);
    let q = r.queue("q", 4, 0).unwrap();
    q.push(ValueRef::Int(1), ZERO).unwrap();
    assert_eq!(q.pop(ZERO), Ok(Value::Int(1)));
    let b = r.bus("b", 4, 0).unwrap();
    let mut sub = b.subscribe(Start::Now).unwrap();
    b.publish(ValueRef::String("m")).unwrap();
    assert_eq!(sub.next(ZERO), Ok((Value::String("m".into()), 1)));
    let mx = r.mutex("mx").unwrap();
    assert_eq!(mx.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
    mx.unlock().unwrap();
    assert_eq!(
        r.barrier("ba", 1)
            .unwrap()
            .wait_until(&Deadline::after(ZERO)),
        Ok(true)
    );
    let se = r.semaphore("se", 1).unwrap();
    se.acquire_until(&Deadline::after(ZERO)).unwrap();
    se.release().unwrap();
    assert_eq!(r.info().unwrap().object_count, 5);
}

/// `remove_object` through a node that does not own the region's slot: a blocked pop
/// wakes with REMOVED, the names are taken again at once, and the removed objects' keys
/// are deleted on the owner (all but their expiring `gone` streams); no other node
/// holds a key.
#[test]
fn remove_object_on_a_three_master_cluster() {
    let Some(nodes) = start_cluster("remote remove_object_on_a_three_master_cluster") else {
        return;
    };
    let name = "clusterremove";
    let (owner, other, _) = owner_and_other(&nodes, name);
    let url = nodes[other].url(name);
    let r = open(&url);
    let a = r.array("a", 16, 0).unwrap();
    for i in 0..16 {
        a.write_xf(i, ValueRef::Int(i as i64)).unwrap();
    }
    let q = r.queue("q", 4, 0).unwrap();
    let port = nodes[owner].port;
    let removed_keys = || common::redis::keys(port, &format!("px:{{{name}}}:*:o:*"));
    let before = removed_keys();
    assert!(before.len() > 16, "{before:?}");
    std::thread::scope(|s| {
        let second = attach(&url);
        let popper = s.spawn(move || second.queue("q", 0, 0)?.pop(LONG));
        std::thread::sleep(Duration::from_millis(200));
        r.remove_object("q").unwrap();
        r.remove_object("a").unwrap();
        assert!(matches!(popper.join().unwrap(), Err(Error::Removed(_))));
    });
    assert!(matches!(a.read(0), Err(Error::Removed(_))));
    assert!(matches!(
        q.push(ValueRef::Int(1), ZERO),
        Err(Error::Removed(_))
    ));
    let left = removed_keys();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|k| k.ends_with(":gone")), "{left:?}");
    // The names again, as other kinds.
    let qa = r.array("q", 1, 0).unwrap();
    qa.write_xf(0, ValueRef::Int(1)).unwrap();
    let aq = attach(&url).queue("a", 1, 0).unwrap();
    aq.push(ValueRef::Int(2), ZERO).unwrap();
    assert_eq!(r.queue("a", 0, 0).unwrap().pop(ZERO), Ok(Value::Int(2)));
    for (i, n) in nodes.iter().enumerate() {
        if i != owner {
            assert_eq!(ask(n.port, &["DBSIZE"]), "0", "node {i} holds keys");
        }
    }
}

/// Observing on a remote region, from C: plexus_map_watch / plexus_array_watch, the
/// first write moving a new key's version once, map-wide changes and initial data
/// (test_observe.c); three watcher processes that each see the last of 20,000 values
/// written by a fourth; eight processes racing to create one map with their initial data.
#[test]
fn observers_from_c_on_a_remote_region() {
    let Some(srv) = RedisServer::start("remote observers_from_c") else {
        return;
    };
    let url = srv.url("observe");
    open(&url).map("observed", 16, 0).unwrap();
    assert_ok(
        "test_observe",
        &run(&build("ffi-tests/test_observe.c", Lib::Shared), &[&url]),
    );
    common::observe::observers_never_miss_the_last_value(
        &build("ffi-tests/watch_worker.c", Lib::Shared),
        &url,
    );
    common::observe::initial_data_race(&build("ffi-tests/init_race.c", Lib::Shared), &url);
    let cpp = srv.url("observe-cpp");
    open(&cpp);
    assert_ok(
        "test_cpp_observe",
        &run(
            &build("ffi-tests/test_cpp_observe.cpp", Lib::Shared),
            &[&cpp],
        ),
    );
}

/// A map made before change tracking (its meta hash has no change count: simulated by
/// deleting it) still works key by key; the map-wide calls say Unsupported.
#[test]
fn a_remote_map_without_change_tracking_works_and_map_wide_calls_are_unsupported() {
    let Some(srv) = RedisServer::start("remote untracked map") else {
        return;
    };
    let url = srv.url("untracked");
    let r = open(&url);
    let m = r.map("old", 8, 0).unwrap();
    m.write("k", ValueRef::Int(1)).unwrap();
    assert_eq!(m.change_count(), Ok(1));
    let reply = srv.command(
        "EVAL \"for _, k in ipairs(redis.call('KEYS', '*:o:*:m')) do redis.call('HDEL', k, 'chg') end return 1\" 0",
    );
    assert_eq!(reply, ":1", "{reply}");
    m.write("k2", ValueRef::Int(2)).unwrap();
    let mut seen = 0;
    assert_eq!(
        m.watch("k2", &mut seen, Some(Duration::ZERO)),
        Ok(Value::Int(2))
    );
    m.remove("k2").unwrap();
    common::observe::assert_map_wide_unsupported([
        m.change_count().map(drop),
        m.wait_changes(&mut 0, Some(Duration::ZERO)),
        m.changes(0, &mut 0, 10).map(drop),
    ]);
}
