//! Builds the C and C++ programs in ffi-tests/ against include/ and the library cargo
//! just built — once against the shared library and once against the static one — and
//! runs them: single-process API tests, and multi-process tests where real processes
//! share a region (handshakes, counters, creation races, persistence, crashes, queues
//! between producer and consumer processes, some of them killed).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::c::{assert_ok, both, build, compiler, run, Lib};
use common::process::{copy_program, output_of_copied_program, spawn_ready, wait_within, Kid};
use common::{lib_dir, root, RegionName, TempDir, XorShift};
use plexus::{Error, OpenMode, OpenOptions, Region, Value};

/// A fresh region of `size` bytes, removed when the returned name drops.
fn test_region(tag: &str, lib: Lib, size: u64) -> (Region, RegionName) {
    common::region(&format!("{tag}-{lib:?}"), size)
}

/// A fresh region name, its region removed when it drops.
fn unique(tag: &str, lib: Lib) -> RegionName {
    RegionName::new(&format!("{tag}-{lib:?}"))
}

/// Starts a program and waits until it prints `ready_line`.
fn start_ready(exe: &Path, args: &[&str], ready_line: &str) -> Kid {
    spawn_ready(Command::new(exe).args(args), ready_line)
}

#[test]
fn c_api() {
    both(|lib| {
        assert_ok(
            "test_c_api",
            &run(&build("ffi-tests/test_c_api.c", lib), &[]),
        )
    });
}

#[test]
fn map_c_api() {
    both(|lib| assert_ok("test_map", &run(&build("ffi-tests/test_map.c", lib), &[])));
}

/// plexus_map_patch / plexus_array_patch: every operator and error case (the element
/// checked untouched after each error), on shared memory (both libraries) and remotely.
#[test]
fn patch_c_api() {
    both(|lib| {
        assert_ok(
            "test_patch",
            &run(&build("ffi-tests/test_patch.c", lib), &[]),
        )
    });
    if let Some(srv) = common::redis::RedisServer::start("ffi patch_c_api") {
        let url = srv.url("patch-api");
        let exe = build("ffi-tests/test_patch.c", Lib::Shared);
        assert_ok("test_patch api (redis)", &run(&exe, &[&url, "api"]));
    }
}

#[test]
fn patch_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_patch",
            &run(&build("ffi-tests/test_cpp_patch.cpp", lib), &[]),
        )
    });
}

/// Patches from concurrent processes on `name`: 4 processes x 1,000 `$inc` of one nested
/// path end at exactly 4,000; 3 processes x `pushes` `$push` keep every element, each
/// process's in its order (test_patch verify checks, then removes the region).
fn patch_from_processes(name: &str, lib: Lib, pushes: u32) {
    let exe = build("ffi-tests/test_patch.c", lib);
    assert_ok("test_patch init", &run(&exe, &[name, "init"]));
    let pushes = pushes.to_string();
    let mut workers: Vec<Child> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args([name, "inc", "1000"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    workers.extend((0..3).map(|p| {
        Command::new(&exe)
            .args([name, "push", &p.to_string(), &pushes])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }));
    for w in workers {
        assert_ok("test_patch worker", &w.wait_with_output().unwrap());
    }
    let out = run(&exe, &[name, "verify", "4000", "3", &pushes]);
    assert_ok("test_patch verify", &out);
    let total = 3 * pushes.parse::<u32>().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("verify: {total} items")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn four_processes_patch_inc_to_exactly_4000_and_pushes_keep_every_element() {
    both(|lib| {
        let name = unique("patchmp", lib);
        patch_from_processes(&name, lib, 1000);
    });
}

#[test]
fn four_processes_patch_inc_to_exactly_4000_over_redis() {
    let Some(srv) = common::redis::RedisServer::start("ffi patch over redis") else {
        return;
    };
    // Fewer pushes: each one rewrites the whole (growing) document on the server.
    patch_from_processes(&srv.url("patch-mp"), Lib::Shared, 300);
}

#[test]
fn queue_c_api() {
    both(|lib| {
        assert_ok(
            "test_queue",
            &run(&build("ffi-tests/test_queue.c", lib), &[]),
        )
    });
    // The batch tests (plexus_queue_push_many_cancellable included) on a remote region.
    if let Some(server) = common::redis::RedisServer::start("ffi queue_c_api on redis") {
        let url = server.url(&format!("ffi-queue-{}", std::process::id()));
        let exe = build("ffi-tests/test_queue.c", Lib::Shared);
        assert_ok("test_queue on redis", &run(&exe, &[&url]));
    }
}

#[test]
fn queue_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_queue",
            &run(&build("ffi-tests/test_cpp_queue.cpp", lib), &[]),
        )
    });
}

#[test]
fn map_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_map",
            &run(&build("ffi-tests/test_cpp_map.cpp", lib), &[]),
        )
    });
}

#[test]
fn region_check_from_c_and_cpp() {
    both(|lib| {
        assert_ok(
            "test_check",
            &run(&build("ffi-tests/test_check.c", lib), &[]),
        );
        assert_ok(
            "test_cpp_check",
            &run(&build("ffi-tests/test_cpp_check.cpp", lib), &[]),
        )
    });
}

#[test]
fn bad_inputs_from_c() {
    both(|lib| {
        assert_ok(
            "test_bad_inputs",
            &run(&build("ffi-tests/test_bad_inputs.c", lib), &[]),
        )
    });
}

#[test]
fn cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_wrapper",
            &run(&build("ffi-tests/test_cpp_wrapper.cpp", lib), &[]),
        )
    });
}

#[test]
fn c_writer_cpp_reader_10000_handshakes() {
    both(|lib| {
        let name = unique("handshake", lib);
        let writer = build("ffi-tests/handshake_writer.c", lib);
        let reader = build("ffi-tests/handshake_reader.cpp", lib);
        // The reader starts first and waits for the region and the array to appear.
        let r = Command::new(&reader)
            .args([&name, "10000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let w = run(&writer, &[&name, "10000"]);
        let r = r.wait_with_output().unwrap();
        assert_ok("handshake_writer", &w);
        assert_ok("handshake_reader", &r);
        assert!(String::from_utf8_lossy(&r.stdout).contains("handshake_reader: OK 10000"));
    });
}

#[test]
fn two_processes_faa_to_exactly_200000() {
    both(|lib| {
        let (region, name) = test_region("faa", lib, 1 << 20);
        let counter = region.array("counter", 1, 0).unwrap();
        counter.write(0, plexus::ValueRef::Int(0)).unwrap();
        let exe = build("ffi-tests/faa_worker.c", lib);
        let workers: Vec<Child> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args([&name, "100000"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for w in workers {
            assert_ok("faa_worker", &w.wait_with_output().unwrap());
        }
        assert_eq!(counter.read(0).unwrap(), Value::Int(200_000));
    });
}

#[test]
fn three_processes_insert_and_remove_keys_and_the_map_equals_the_replay() {
    both(|lib| {
        let name = unique("mapmp", lib);
        let exe = build("ffi-tests/map_worker.c", lib);
        assert_ok("map_worker init", &run(&exe, &[&name, "init"]));
        let workers: Vec<Child> = (0..3)
            .map(|p| {
                Command::new(&exe)
                    .args([&name, "run", &p.to_string(), "20000"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for w in workers {
            assert_ok("map_worker run", &w.wait_with_output().unwrap());
        }
        assert_ok(
            "map_worker verify",
            &run(&exe, &[&name, "verify", "3", "20000"]),
        );
        // The Rust side sees the same map: only the scripts' keys, within capacity.
        let region = Region::open(&name, &OpenOptions::default()).unwrap();
        let m = region.map("m", 0, 0).unwrap();
        let keys = m.keys().unwrap();
        assert_eq!(keys.len() as u64, m.len().unwrap());
        assert!(keys
            .iter()
            .all(|k| k.starts_with('p') && k.contains("-key-")));
    });
}

#[test]
fn map_workers_killed_mid_insert_or_remove_leave_a_working_consistent_map() {
    let lib = Lib::Shared;
    let name = unique("mapkill", lib);
    let exe = build("ffi-tests/map_worker.c", lib);
    assert_ok("map_worker init", &run(&exe, &[&name, "init"]));
    let region = Region::open(&name, &OpenOptions::default()).unwrap();
    let m = region.map("m", 0, 0).unwrap();
    for round in 0..20u64 {
        let mut w = Command::new(&exe)
            .args([&name, "run", &(round % 3).to_string(), "1000000000"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + round * 3 % 25));
        w.kill().unwrap();
        w.wait().unwrap();
        // Whatever the worker held (map lock, element lock, allocator) is taken over:
        // inserting, writing and removing a key of our own finish promptly.
        let (tx, rx) = std::sync::mpsc::channel();
        let m2 = m.clone();
        std::thread::spawn(move || {
            let r = (|| {
                m2.write_xf("mine", plexus::ValueRef::Int(round as i64))?;
                let v = m2.read_fe("mine", Some(Duration::ZERO))?;
                m2.remove("mine")?;
                Ok::<_, Error>(v)
            })();
            let _ = tx.send(r);
        });
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("map calls blocked after a worker was killed");
        assert_eq!(got, Ok(Value::Int(round as i64)));
        // Map-wide change tracking hides no key: a listing from 0 shows every key
        // present, whatever instant the worker died at.
        let mut cursor = 0;
        let mut listed = std::collections::HashSet::new();
        loop {
            let got = m.changes(0, &mut cursor, 64).unwrap();
            if got.is_empty() {
                break;
            }
            listed.extend(got.into_iter().filter(|c| !c.removed).map(|c| c.key));
        }
        for k in m.keys().unwrap() {
            assert!(
                listed.contains(&k),
                "round {round}: key {k:?} is present but not listed"
            );
        }
    }
    let keys = m.keys().unwrap();
    assert_eq!(keys.len() as u64, m.len().unwrap());
    for k in keys {
        m.remove(&k).unwrap();
    }
    assert_eq!(m.len().unwrap(), 0);
}

#[test]
fn eight_processes_create_one_region_at_the_same_instant() {
    both(|lib| {
        for round in 0..3 {
            let name = unique(&format!("race{round}"), lib);
            let _ = Region::remove(&name);
            let exe = build("ffi-tests/open_race.c", lib);
            let start = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                + Duration::from_millis(300);
            let start = start.as_nanos().to_string();
            let procs: Vec<Child> = (0..8)
                .map(|_| {
                    Command::new(&exe)
                        .args([name.as_str(), &start])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            let mut ids = Vec::new();
            for p in procs {
                let out = p.wait_with_output().unwrap();
                assert_ok("open_race", &out);
                ids.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
            }
            ids.dedup();
            assert_eq!(ids.len(), 1, "processes saw different regions: {ids:?}");
            let region = common::open(&name);
            assert_eq!(
                region.array("hits", 0, 0).unwrap().read(0).unwrap(),
                Value::Int(8)
            );
            assert_eq!(region.info().unwrap().attached_processes, 1);
            // No temporary files were left behind by the losers.
            let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!(".plexus.{name}."))
                })
                .collect();
            assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        }
    });
}

#[test]
fn persistent_region_survives_its_writer_every_type() {
    both(|lib| {
        let dir = TempDir::new(&format!("persist-{lib:?}"));
        let path = dir.join("data.plexus");
        let p = path.to_str().unwrap();
        let exe = build("ffi-tests/persist.c", lib);
        assert_ok("persist write", &run(&exe, &["write", p]));
        assert_ok("persist read", &run(&exe, &["read", p]));
    });
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn damaged_and_foreign_files_are_refused_and_left_untouched() {
    let dir = TempDir::new("damaged");
    let good = dir.join("good.plexus");
    let exe = build("ffi-tests/persist.c", Lib::Shared);
    assert_ok(
        "persist write",
        &run(&exe, &["write", good.to_str().unwrap()]),
    );
    let original = std::fs::read(&good).unwrap();
    let mut cases: Vec<(&str, Vec<u8>, &[&str])> = Vec::new();
    let corrupt: &[&str] = &["PLEXUS_E_CORRUPT"];
    let either: &[&str] = &["PLEXUS_E_CORRUPT", "PLEXUS_E_INCOMPATIBLE"];
    let mut header = original.clone();
    header[40] ^= 0x5a; // inside the checksummed fixed header (region id)
    cases.push(("corrupted-header", header, corrupt));
    let mut version = original.clone();
    version[8] = 99; // format version
    cases.push(("other-version", version, &["PLEXUS_E_INCOMPATIBLE"]));
    let mut endian = original.clone();
    endian[12..16].reverse(); // byte-order mark of a machine of the other byte order
    cases.push(("other-byte-order", endian, &["PLEXUS_E_INCOMPATIBLE"]));
    cases.push((
        "truncated",
        original[..original.len() / 2].to_vec(),
        corrupt,
    ));
    cases.push(("tiny", original[..10].to_vec(), corrupt));
    cases.push(("empty", Vec::new(), corrupt));
    let mut foreign = b"#!/bin/sh\necho this is not a plexus region\n".to_vec();
    foreign.resize(1 << 20, b'x');
    cases.push(("foreign", foreign, corrupt));
    let mut zeros = original.clone();
    zeros[..4096].fill(0);
    cases.push(("zeroed-header", zeros, either));
    for (tag, bytes, expected) in cases {
        let path = dir.join(&format!("{tag}.plexus"));
        std::fs::write(&path, &bytes).unwrap();
        let before = (fnv(&bytes), bytes.len());
        for lib in [Lib::Shared, Lib::Static] {
            let out = run(
                &build("ffi-tests/try_open.c", lib),
                &[path.to_str().unwrap()],
            );
            assert_ok("try_open", &out);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            assert!(
                expected.contains(&lines[0]),
                "{tag}: PLEXUS_OPEN gave {text}"
            );
            assert!(
                expected.contains(&lines[2]),
                "{tag}: PLEXUS_OPEN_OR_CREATE gave {text}"
            );
            assert!(!lines[1].is_empty(), "{tag}: no message");
            let after = std::fs::read(&path).unwrap();
            assert_eq!(
                (fnv(&after), after.len()),
                before,
                "{tag}: file was modified"
            );
        }
    }
    // The good file still opens.
    let out = run(
        &build("ffi-tests/try_open.c", Lib::Shared),
        &[good.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("PLEXUS_OK"));
}

/// A whole value written by big_writer: "<len>:<seq>:" then filler 'a' + seq % 26.
fn check_whole(v: &Value) -> Result<(), String> {
    let Value::String(s) = v else {
        return Err(format!("not a string: {v:?}"));
    };
    let mut parts = s.splitn(3, ':');
    let len: usize = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("bad length field")?;
    let seq: u64 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("bad seq field")?;
    let fill = parts.next().ok_or("no filler")?;
    if s.len() != len {
        return Err(format!(
            "torn: header says {len} bytes, value has {}",
            s.len()
        ));
    }
    let want = (b'a' + (seq % 26) as u8) as char;
    if let Some(bad) = fill.chars().position(|c| c != want) {
        return Err(format!(
            "torn: filler of seq {seq} has a foreign byte at {bad}"
        ));
    }
    Ok(())
}

#[test]
fn writer_killed_mid_write_never_blocks_or_tears_readers() {
    let (region, name) = test_region("kill", Lib::Shared, 32 << 20);
    let big = region.array("big", 1, 0).unwrap();
    let exe = build("ffi-tests/big_writer.c", Lib::Shared);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut rng = XorShift::new(std::process::id() as u64);
    std::thread::scope(|s| {
        // A concurrent reader validates every value it sees while writers live and die.
        let reader = s.spawn(|| {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match big.read_ff(0, Some(Duration::from_secs(5))) {
                    Ok(v) => {
                        check_whole(&v).unwrap();
                        reads += 1;
                    }
                    Err(Error::Timeout) => {
                        panic!("read_ff blocked 5 s: a dead writer wedged the element")
                    }
                    Err(e) => panic!("read failed: {e}"),
                }
            }
            reads
        });
        for kill in 0..40 {
            let child = start_ready(&exe, &[&name], "ready");
            std::thread::sleep(Duration::from_micros(rng.below(30_000)));
            child.sigkill();
            let t = Instant::now();
            let v = big.read_ff(0, Some(Duration::from_secs(2)));
            assert!(
                t.elapsed() < Duration::from_millis(2500),
                "read took {:?}",
                t.elapsed()
            );
            check_whole(&v.unwrap_or_else(|e| panic!("after kill {kill}: {e}"))).unwrap();
            // Writes work again too.
            big.write(0, plexus::ValueRef::String("5:0:a")).unwrap();
            big.write(0, plexus::ValueRef::String("12:1:bbbbbbb"))
                .unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader.join().unwrap();
        assert!(reads > 0);
    });
    // Some kills landed while the writer held a lock, and the lock was taken over.
    eprintln!(
        "locks recovered from killed writers: {}",
        plexus::recovered_locks()
    );
    assert!(
        plexus::recovered_locks() > 0,
        "no kill landed inside a lock: the test did not test recovery"
    );
    // Dead writers' process-table entries are cleared.
    assert_eq!(region.info().unwrap().attached_processes, 1);
}

#[test]
fn blocked_reader_sleeps() {
    let name = unique("blocked", Lib::Shared);
    assert_ok(
        "blocked_cpu",
        &run(&build("ffi-tests/blocked_cpu.c", Lib::Shared), &[&name]),
    );
}

#[test]
fn reader_killed_holding_read_rw_does_not_block_writers() {
    let (region, name) = test_region("rwkill", Lib::Shared, 1 << 20);
    let a = region.array("rw", 1, 0).unwrap();
    a.write_xf(0, plexus::ValueRef::Int(7)).unwrap();
    let child = start_ready(
        &build("ffi-tests/rw_holder.c", Lib::Shared),
        &[&name],
        "held",
    );
    // While the reader lives, tag-changing writers wait.
    assert_eq!(
        a.read_fe(0, Some(Duration::from_millis(50))),
        Err(Error::Timeout)
    );
    assert_eq!(a.read_ff(0, Some(Duration::ZERO)).unwrap(), Value::Int(7));
    child.sigkill();
    // Once it is dead, its hold is dropped and the consumer proceeds.
    assert_eq!(
        a.read_fe(0, Some(Duration::from_secs(3))).unwrap(),
        Value::Int(7)
    );
}

// ---- removing objects ----

/// plexus_region_remove_object in one process, for every kind: the handle returns
/// PLEXUS_E_REMOVED, closing it is OK, removing again gives NOT_FOUND, the name is
/// created again at once (as another kind or the same), blocked calls wake with REMOVED,
/// a reopen never returns the removed object's handle; bad inputs.
#[test]
fn remove_object_c_api() {
    both(|lib| {
        assert_ok(
            "test_remove_object",
            &run(&build("ffi-tests/test_remove_object.c", lib), &[]),
        )
    });
}

/// Region::remove_object and try_remove_object of the C++ wrapper: every kind, blocked
/// calls, a shut-down queue started again, string_view names.
#[test]
fn remove_object_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_remove_object",
            &run(&build("ffi-tests/test_cpp_remove_object.cpp", lib), &[]),
        )
    });
}

/// Process A blocks in a pop of queue "jobs"; process B removes "jobs": A's pop returns
/// PLEXUS_E_REMOVED. B creates "jobs" again at once, as an array; A's old queue handle
/// keeps returning REMOVED, and A opening "jobs" gets the array (and what B wrote).
#[test]
fn removing_a_queue_wakes_a_popper_in_another_process_and_the_name_is_reused() {
    both(|lib| {
        let name = unique("rmobj2", lib);
        let exe = build("ffi-tests/remove_object_worker.c", lib);
        let mut popper = start_ready(&exe, &["popper", &name], "waiting");
        // Let it block in its pop (had it not yet, the pop finds the queue removed: the
        // same outcome).
        std::thread::sleep(Duration::from_millis(100));
        assert_ok(
            "remove_object_worker remover",
            &run(&exe, &["remover", &name]),
        );
        let status = popper.wait().unwrap(); // the worker's alarm ends a wedged pop
        let mut said = String::new();
        std::io::Read::read_to_string(popper.stdout.as_mut().unwrap(), &mut said).unwrap();
        assert!(
            status.success() && said.contains("remove_object_worker popper: OK"),
            "remove_object_worker popper failed ({status}; its errors are above): {said}"
        );
    });
}

// ---- services ----

#[test]
fn service_c_api() {
    both(|lib| {
        assert_ok(
            "test_service",
            &run(&build("ffi-tests/test_service.c", lib), &[]),
        )
    });
}

#[test]
fn service_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_service",
            &run(&build("ffi-tests/test_cpp_service.cpp", lib), &[]),
        )
    });
}

fn service_callers(exe: &Path, region: &str, n: &str) -> Vec<Child> {
    (0..4)
        .map(|c| {
            Command::new(exe)
                .args(["call", region, "svc", &c.to_string(), n])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// (replies, OWNER_DEAD outcomes) a `call` worker reported.
fn service_counts(out: &std::process::Output) -> (u64, u64) {
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let num = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line:?}"))
    };
    (num("ok="), num("dead="))
}

/// 3 server processes, 4 caller processes of 2,000 calls each: every call gets the
/// reply to its own request (a function of it, which carries the caller's id).
#[test]
fn service_three_servers_four_callers_every_reply_to_its_own_caller() {
    let lib = Lib::Shared;
    let (region, name) = test_region("svc-many", lib, 8 << 20);
    let svc = region.service("svc", 16, 0).unwrap();
    let exe = build("ffi-tests/service_worker.c", lib);
    let servers: Vec<Kid> = (0..3)
        .map(|_| start_ready(&exe, &["serve", &name, "svc", "0"], "ready"))
        .collect();
    for c in service_callers(&exe, &name, "2000") {
        let out = wait_within("caller", c, Duration::from_secs(120));
        assert_ok("caller", &out);
        assert_eq!(service_counts(&out), (2000, 0));
    }
    for s in servers {
        s.sigkill();
    }
    assert_eq!(svc.pending().unwrap(), 0);
}

/// Servers killed at random while they handle requests: every call returns its own
/// reply or OWNER_DEAD (none hangs, none gets another's reply), and once the dead are
/// swept the service holds nothing.
#[test]
fn service_servers_killed_at_random_mid_request() {
    let lib = Lib::Shared;
    let (region, name) = test_region("svc-kill", lib, 8 << 20);
    let svc = region.service("svc", 16, 0).unwrap();
    let exe = build("ffi-tests/service_worker.c", lib);
    let serve = || start_ready(&exe, &["serve", &name, "svc", "2000"], "ready");
    let mut servers: Vec<Kid> = (0..3).map(|_| serve()).collect();
    let mut callers = service_callers(&exe, &name, "300");
    let mut rng = XorShift::new(std::process::id() as u64 | 1);
    let mut kills = 0;
    while callers.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        std::thread::sleep(Duration::from_micros(2_000 + rng.below(20_000)));
        let victim = servers.remove(rng.below(servers.len() as u64) as usize);
        victim.sigkill();
        kills += 1;
        servers.push(serve());
    }
    let (mut ok, mut dead) = (0, 0);
    for c in callers.drain(..) {
        let out = wait_within("caller", c, Duration::from_secs(10));
        assert_ok("caller", &out);
        let (o, d) = service_counts(&out);
        assert_eq!(o + d, 300);
        ok += o;
        dead += d;
    }
    eprintln!("{kills} servers killed: {ok} replies, {dead} OWNER_DEAD");
    for s in servers {
        s.sigkill();
    }
    // Requests abandoned by killed servers are freed by the sweep of the next opener.
    drop(Region::open(&name, &OpenOptions::default()).unwrap());
    assert_eq!(svc.pending().unwrap(), 0);
    let report = plexus::check(&name, &plexus::CheckOptions::default()).unwrap();
    assert_eq!(report.verdict(), plexus::Verdict::Consistent, "{report:?}");
}

/// The process that took a request dies before replying: the caller gets OWNER_DEAD
/// long before its timeout, and the slot is free again.
#[test]
fn service_server_killed_holding_a_request_gives_owner_dead() {
    both(|lib| {
        let (region, name) = test_region("svc-dead", lib, 1 << 20);
        let svc = region.service("svc", 16, 0).unwrap();
        let exe = build("ffi-tests/service_worker.c", lib);
        let caller = {
            let svc = svc.clone();
            std::thread::spawn(move || {
                svc.call(Value::Int(7).as_ref(), Some(Duration::from_secs(60)))
            })
        };
        let taker = start_ready(&exe, &["take-hang", &name, "svc"], "taken");
        assert_eq!(svc.pending().unwrap(), 1);
        taker.sigkill();
        assert_eq!(caller.join().unwrap(), Err(Error::OwnerDead));
        assert_eq!(svc.pending().unwrap(), 0);
    });
}

/// A caller killed while its request is being handled leaves nothing: the server's
/// reply succeeds, and the request's slot and heap blocks come back (at the latest when
/// the dead are swept).
#[test]
fn service_caller_killed_mid_call_leaks_nothing() {
    both(|lib| {
        let (region, name) = test_region("svc-callerkill", lib, 1 << 20);
        let svc = region.service("svc", 2, 0).unwrap();
        let used = region.info().unwrap().heap_used;
        let exe = build("ffi-tests/service_worker.c", lib);
        let caller = start_ready(&exe, &["call-once", &name, "svc"], "calling");
        let (id, v) = svc.next(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(v, Value::Int(1));
        caller.sigkill();
        svc.reply(id, Value::String("x".repeat(100)).as_ref())
            .unwrap();
        drop(Region::open(&name, &OpenOptions::default()).unwrap());
        assert_eq!(svc.pending().unwrap(), 0);
        assert_eq!(region.info().unwrap().heap_used, used);
        // The service works on: both slots can be used.
        let server = {
            let svc = svc.clone();
            std::thread::spawn(move || {
                for _ in 0..2 {
                    let (id, v) = svc.next(Some(Duration::from_secs(30))).unwrap();
                    svc.reply(id, v.as_ref()).unwrap();
                }
            })
        };
        for i in 0..2 {
            let got = svc.call(Value::Int(i).as_ref(), Some(Duration::from_secs(30)));
            assert_eq!(got, Ok(Value::Int(i)));
        }
        server.join().unwrap();
    });
}

// ---- locks: mutex, barrier, semaphore ----

#[test]
fn locks_c_api() {
    both(|lib| {
        assert_ok(
            "test_locks",
            &run(&build("ffi-tests/test_locks.c", lib), &[]),
        )
    });
}

#[test]
fn locks_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_locks",
            &run(&build("ffi-tests/test_cpp_locks.cpp", lib), &[]),
        )
    });
}

#[test]
fn mutex_holder_killed_gives_owner_dead_to_the_next_locker() {
    both(|lib| {
        let (region, name) = test_region("mutexkill", lib, 1 << 20);
        let exe = build("ffi-tests/lock_worker.c", lib);
        let holder = start_ready(&exe, &["mutex-hold", &name], "locked");
        // While the holder lives, nobody else gets the mutex.
        let m = region.mutex("m").unwrap();
        assert_eq!(m.lock(Some(Duration::from_millis(50))), Err(Error::Timeout));
        holder.sigkill();
        // The next locker (another process) gets PLEXUS_OWNER_DEAD, then it is normal.
        assert_ok(
            "lock_worker mutex-after-kill",
            &run(&exe, &["mutex-after-kill", &name]),
        );
        assert_eq!(
            m.lock(Some(Duration::ZERO)).unwrap(),
            plexus::Acquired::Clean
        );
        m.unlock().unwrap();
    });
}

#[test]
fn semaphore_permit_of_a_killed_holder_comes_back_to_another_process() {
    both(|lib| {
        let (region, name) = test_region("semkill", lib, 1 << 20);
        let s = region.semaphore("s", 1).unwrap();
        let exe = build("ffi-tests/lock_worker.c", lib);
        let holder = start_ready(&exe, &["sem-hold", &name], "held");
        // At most one holder at a time while it lives.
        assert_ok("lock_worker sem-busy", &run(&exe, &["sem-busy", &name]));
        assert_eq!(
            s.acquire(Some(Duration::from_millis(50))),
            Err(Error::Timeout)
        );
        holder.sigkill();
        // Another process acquires the permit the dead one held.
        assert_ok(
            "lock_worker sem-acquire",
            &run(&exe, &["sem-acquire", &name]),
        );
        assert_eq!(s.available().unwrap(), 1);
    });
}

#[test]
fn barrier_of_four_processes_for_1000_rounds() {
    both(|lib| {
        let (region, name) = test_region("barrier", lib, 1 << 20);
        let exe = build("ffi-tests/lock_worker.c", lib);
        let workers: Vec<Child> = (0..4)
            .map(|i| {
                Command::new(&exe)
                    .args(["barrier", &name, &i.to_string(), "4", "1000"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for w in workers {
            assert_ok("lock_worker barrier", &w.wait_with_output().unwrap());
        }
        assert_eq!(region.barrier("b", 0).unwrap().arrived().unwrap(), 0);
        let progress = region.array("progress", 0, 0).unwrap();
        for i in 0..4 {
            assert_eq!(progress.read(i).unwrap(), Value::Int(1000));
        }
    });
}

#[test]
fn bus_c_api() {
    both(|lib| assert_ok("test_bus", &run(&build("ffi-tests/test_bus.c", lib), &[])));
}

/// plexus_bus_publish_many on shared memory (both libraries) and on a remote region.
#[test]
fn bus_batch_c_api() {
    both(|lib| {
        assert_ok(
            "test_bus_batch",
            &run(&build("ffi-tests/test_bus_batch.c", lib), &[]),
        )
    });
    if let Some(server) = common::redis::RedisServer::start("ffi bus_batch_c_api on redis") {
        let url = server.url(&format!("ffi-bus-batch-{}", std::process::id()));
        let exe = build("ffi-tests/test_bus_batch.c", Lib::Shared);
        assert_ok("test_bus_batch on redis", &run(&exe, &[&url]));
    }
}

#[test]
fn events_c_api() {
    both(|lib| {
        assert_ok(
            "test_events",
            &run(&build("ffi-tests/test_events.c", lib), &[]),
        )
    });
    // The same program on a remote region.
    if let Some(server) = common::redis::RedisServer::start("ffi events_c_api on redis") {
        let url = server.url(&format!("ffi-events-{}", std::process::id()));
        let exe = build("ffi-tests/test_events.c", Lib::Shared);
        assert_ok("test_events on redis", &run(&exe, &[&url]));
    }
}

#[test]
fn events_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_events",
            &run(&build("ffi-tests/test_cpp_events.cpp", lib), &[]),
        )
    });
}

#[test]
fn bus_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_bus",
            &run(&build("ffi-tests/test_cpp_bus.cpp", lib), &[]),
        )
    });
}

/// Runs one bus_worker role to completion.
fn bus_worker(exe: &Path, args: &[&str]) -> Child {
    Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bus_worker")
}

/// 5 publisher processes x 10,000 messages, 30 subscriber processes: every subscriber
/// receives all 50,000 messages, numbered 1..=50,000 without a gap, in one order that is
/// identical across subscribers (same FNV hash over (seq, value)), and each publisher's
/// messages in the order it published them (checked by each subscriber).
#[test]
fn five_publishers_thirty_subscribers_one_order() {
    both(|lib| {
        let exe = build("ffi-tests/bus_worker.c", lib);
        let region = unique("bus", lib);
        assert_ok("bus init", &run(&exe, &[&region, "init", "65536"]));
        let subs: Vec<_> = (0..30)
            .map(|_| bus_worker(&exe, &[&region, "subscribe", "50000", "10000"]))
            .collect();
        let pubs: Vec<_> = (0..5)
            .map(|p| bus_worker(&exe, &[&region, "publish", &p.to_string(), "10000"]))
            .collect();
        for p in pubs {
            assert_ok(
                "publisher",
                &wait_within("publisher", p, Duration::from_secs(60)),
            );
        }
        let mut lines = std::collections::BTreeSet::new();
        for s in subs {
            let out = wait_within("subscriber", s, Duration::from_secs(60));
            assert_ok("subscriber", &out);
            lines.insert(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        assert_eq!(lines.len(), 1, "subscribers disagree: {lines:?}");
        let line = lines.into_iter().next().unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            (f[0], f[1], f[2], f[4]),
            ("50000", "1", "50000", "0"),
            "{line}"
        );
    });
}

/// Publishers of self-checking strings (inline and heap sizes) are SIGKILLed again and
/// again at random moments while two subscribers validate every message: no torn
/// message, no wedge (publishing goes on after every kill; the subscribers finish once
/// the bus is closed), sequence numbers only go up.
#[test]
fn publishers_killed_at_random_never_tear_or_wedge() {
    let exe = build("ffi-tests/bus_worker.c", Lib::Shared);
    let region = unique("bus-kill", Lib::Shared);
    assert_ok("bus init", &run(&exe, &[&region, "init", "256"]));
    let validators: Vec<_> = (0..2)
        .map(|_| bus_worker(&exe, &[&region, "validate"]))
        .collect();
    let mut rng = XorShift::new(std::process::id() as u64 | 1);
    for round in 0..30 {
        let sprayers: Vec<_> = (0..2)
            .map(|i| bus_worker(&exe, &[&region, "spray", &(round * 2 + i).to_string()]))
            .collect();
        std::thread::sleep(Duration::from_micros(1_000 + rng.below(15_000)));
        for mut s in sprayers {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
    let before = Instant::now();
    assert_ok("close", &run(&exe, &[&region, "close"]));
    for v in validators {
        let out = wait_within("validator", v, Duration::from_secs(60));
        assert_ok("validator", &out);
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let count: u64 = line.split_whitespace().next().unwrap().parse().unwrap();
        assert!(count > 100, "validator received only {count} messages");
    }
    assert!(before.elapsed() < Duration::from_secs(30));
}

/// A subscriber that reads slowly on a bus of 64 falls behind, sees gaps in the sequence
/// numbers, keeps going, and receives the last message before CLOSED.
#[test]
fn slow_subscriber_sees_a_gap_and_keeps_going() {
    let exe = build("ffi-tests/bus_worker.c", Lib::Shared);
    let region = unique("bus-slow", Lib::Shared);
    assert_ok("bus init", &run(&exe, &[&region, "init", "64"]));
    let mut slow = bus_worker(&exe, &[&region, "slow", "200"]);
    let mut first = String::new();
    let mut stdout = std::io::BufReader::new(slow.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert_eq!(first.trim(), "subscribed");
    assert_ok("publisher", &run(&exe, &[&region, "publish", "0", "20000"]));
    assert_ok("close", &run(&exe, &[&region, "close"]));
    let out = wait_within("slow subscriber", slow, Duration::from_secs(60));
    assert_ok("slow subscriber", &out);
    let mut line = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut line).unwrap();
    let line = line.trim().to_owned();
    let f: Vec<u64> = line
        .split_whitespace()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, x)| x.parse().unwrap())
        .collect();
    let (count, last, gaps) = (f[0], f[2], f[3]);
    assert_eq!(last, 20000, "{line}");
    assert!(gaps > 0 && count < 20000, "{line}");
}

/// A FIFO queue shut down and found empty by pops reports length 0, also when a push
/// raced with the shutdown (the push is refused, but its abandoned slot claim is counted by
/// plexus_queue_len until the next pop, before the engine moved the queue's head past a
/// claim it abandons); see ffi-tests/queue_len_after_shutdown.c.
#[test]
fn queue_len_is_zero_once_shut_down_and_drained() {
    assert_ok(
        "queue_len_after_shutdown",
        &run(
            &build("ffi-tests/queue_len_after_shutdown.c", Lib::Shared),
            &[],
        ),
    );
}

/// Starts a queue_worker (its stdout piped, its stderr inherited).
fn queue_worker(exe: &Path, args: &[&str]) -> Child {
    Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// 4 producer processes push 100,000 INT values each through one queue of capacity 64
/// (so it is often full and often empty) while 4 consumer processes pop them until the
/// queue is closed: every value arrives exactly once (and, FIFO, each producer's values
/// arrive at each consumer in the order they were pushed). FIFO and LIFO.
#[test]
fn four_producers_four_consumers_100000_values_each_exactly_once() {
    both(|lib| {
        for kind in ["fifo", "lifo"] {
            let name = unique(&format!("qmpmc-{kind}"), lib);
            let dir = TempDir::new(&format!("qmpmc-{kind}-{lib:?}"));
            let exe = build("ffi-tests/queue_worker.c", lib);
            assert_ok(
                "queue_worker init",
                &run(&exe, &[&name, "init", "64", kind]),
            );
            let order = if kind == "fifo" { "fifo" } else { "any" };
            let files: Vec<String> = (0..4)
                .map(|c| dir.join(&format!("consumer{c}")).display().to_string())
                .collect();
            let consumers: Vec<Child> = files
                .iter()
                .map(|f| queue_worker(&exe, &[&name, "consume", f, order]))
                .collect();
            let producers: Vec<Child> = (0..4)
                .map(|p| queue_worker(&exe, &[&name, "produce", &p.to_string(), "100000", "int"]))
                .collect();
            for p in producers {
                let out = wait_within("producer", p, Duration::from_secs(60));
                assert_ok("queue_worker produce", &out);
            }
            assert_ok("queue_worker close", &run(&exe, &[&name, "close"]));
            for c in consumers {
                let out = wait_within("consumer", c, Duration::from_secs(30));
                assert_ok("queue_worker consume", &out);
            }
            let mut args = vec![name.as_str(), "verify", "all", "4", "100000"];
            args.extend(files.iter().map(String::as_str));
            assert_ok("queue_worker verify", &run(&exe, &args));
        }
    });
}

/// Producer processes pushing self-validating heap strings are SIGKILLed again and again
/// at random moments (two at a time, through a queue of 8) while two consumer processes
/// pop: no consumer ever sees a torn value or waits 10 s for one (wedged), every push
/// that completed arrives exactly once, the push in flight at each kill at most once,
/// and nothing else. A last producer runs until the queue is closed. FIFO and LIFO.
#[test]
fn producers_killed_at_random_never_wedge_tear_or_duplicate() {
    producers_killed_at_random("qpkill", "", 40, "producer-kills");
}

/// The producer-kill scenario of the two tests above and below: `mode` is "" (single
/// pushes and pops) or "-batch" (push_many and pop_many); `verify` the check
/// `queue_worker` makes at the end.
fn producers_killed_at_random(tag: &str, mode: &str, rounds: u64, verify: &str) {
    let lib = Lib::Shared;
    let exe = build("ffi-tests/queue_worker.c", lib);
    let mut rng = XorShift::new(std::process::id() as u64 | 1);
    let (produce, consume) = (format!("produce{mode}"), format!("consume{mode}"));
    for kind in ["fifo", "lifo"] {
        let name = unique(&format!("{tag}-{kind}"), lib);
        let dir = TempDir::new(&format!("{tag}-{kind}"));
        assert_ok("queue_worker init", &run(&exe, &[&name, "init", "8", kind]));
        let order = if kind == "fifo" { "fifo" } else { "any" };
        let files: Vec<String> = (0..2)
            .map(|c| dir.join(&format!("consumer{c}")).display().to_string())
            .collect();
        let consumers: Vec<Child> = files
            .iter()
            .map(|f| queue_worker(&exe, &[&name, &consume, f, order]))
            .collect();
        for round in 0..rounds {
            let lanes: Vec<Kid> = (0..2)
                .map(|lane| {
                    let id = (round * 2 + lane).to_string();
                    start_ready(&exe, &[&name, &produce, &id, "0", "string"], "ready")
                })
                .collect();
            for p in lanes {
                std::thread::sleep(Duration::from_micros(rng.below(20_000)));
                p.sigkill();
            }
        }
        // A last producer, stopped by close, shows that pushes still work.
        let last = queue_worker(
            &exe,
            &[&name, &produce, &(rounds * 2).to_string(), "0", "string"],
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_ok("queue_worker close", &run(&exe, &[&name, "close"]));
        assert_ok(
            "last producer",
            &wait_within("last producer", last, Duration::from_secs(20)),
        );
        for c in consumers {
            let out = wait_within("consumer", c, Duration::from_secs(20));
            assert_ok(&format!("queue_worker {consume}"), &out);
            eprint!("{}", String::from_utf8_lossy(&out.stdout));
        }
        let producers = (rounds * 2 + 1).to_string();
        let mut args = vec![name.as_str(), "verify", verify, &producers];
        args.extend(files.iter().map(String::as_str));
        let out = run(&exe, &args);
        assert_ok("queue_worker verify", &out);
        eprint!("{kind}: {}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Consumer processes are SIGKILLed again and again at random moments (two at a time)
/// while one producer pushes self-validating heap strings through a queue of 8 until it
/// is closed: no value arrives twice or torn, at most one value per killed consumer (the
/// one it had taken when it died) is missing, and the producer never waits 10 s
/// (wedged). A last consumer drains the queue after close. FIFO and LIFO.
#[test]
fn consumers_killed_at_random_lose_at_most_their_own_value() {
    consumers_killed_at_random("qckill", "", 40, 0x9e37_79b9_7f4a_7c15, 1);
}

/// The consumer-kill scenario of the two tests above and below: `mode` is "" (single
/// pushes and pops) or "-batch"; `per_kill` is the most values one killed consumer may
/// take with it (its last pop, or its last pop_many).
fn consumers_killed_at_random(tag: &str, mode: &str, rounds: usize, seed: u64, per_kill: usize) {
    let lib = Lib::Shared;
    let exe = build("ffi-tests/queue_worker.c", lib);
    let mut rng = XorShift::new(std::process::id() as u64 ^ seed);
    let (produce, consume) = (format!("produce{mode}"), format!("consume{mode}"));
    for kind in ["fifo", "lifo"] {
        let name = unique(&format!("{tag}-{kind}"), lib);
        let dir = TempDir::new(&format!("{tag}-{kind}"));
        assert_ok("queue_worker init", &run(&exe, &[&name, "init", "8", kind]));
        let order = if kind == "fifo" { "fifo" } else { "any" };
        let producer = queue_worker(&exe, &[&name, &produce, "0", "0", "string"]);
        let mut files = Vec::new();
        for round in 0..rounds {
            let lanes: Vec<Kid> = (0..2)
                .map(|lane| {
                    let f = dir
                        .join(&format!("killed{round}-{lane}"))
                        .display()
                        .to_string();
                    let c = start_ready(&exe, &[&name, &consume, &f, order], "ready");
                    files.push(f);
                    c
                })
                .collect();
            for c in lanes {
                std::thread::sleep(Duration::from_micros(rng.below(20_000)));
                c.sigkill();
            }
        }
        let last = dir.join("last").display().to_string();
        let consumer = queue_worker(&exe, &[&name, &consume, &last, order]);
        files.push(last);
        std::thread::sleep(Duration::from_millis(50));
        assert_ok("queue_worker close", &run(&exe, &[&name, "close"]));
        assert_ok(
            "producer",
            &wait_within("producer", producer, Duration::from_secs(20)),
        );
        assert_ok(
            "last consumer",
            &wait_within("last consumer", consumer, Duration::from_secs(20)),
        );
        let max_lost = (rounds * 2 * per_kill).to_string();
        let mut args = vec![name.as_str(), "verify", "consumer-kills", &max_lost];
        args.extend(files.iter().map(String::as_str));
        let out = run(&exe, &args);
        assert_ok("queue_worker verify", &out);
        eprint!("{kind}: {}", String::from_utf8_lossy(&out.stdout));
    }
}

/// The README's C and C++ quick starts compile and run as written, and so does its queue
/// example (a fragment: run inside a main() that opens a region `r`).
#[test]
fn readme_quick_starts_run_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let dir = lib_dir().parent().unwrap().join("readme");
    std::fs::create_dir_all(&dir).unwrap();
    for (heading, fence, file, expect) in [
        ("## C quick start", "```c\n", "quickstart.c", "hello\n"),
        (
            "## Queues",
            "```c\n",
            "queue_fragment.c",
            "resize photo 17\n",
        ),
        (
            "## C++ quick start",
            "```cpp\n",
            "quickstart.cpp",
            "hello\n5\n",
        ),
    ] {
        let section = &readme[readme
            .find(heading)
            .unwrap_or_else(|| panic!("README lacks {heading}"))..];
        let start = section.find(fence).unwrap() + fence.len();
        let code = &section[start..start + section[start..].find("```").unwrap()];
        let src = dir.join(file);
        let code = if file.contains("fragment") {
            format!(
                "#include <stdio.h>\n#include <unistd.h>\n#include <plexus.h>\n\
                 int main(void) {{\n\
                 char name[64];\n\
                 snprintf(name, sizeof name, \"readme-fragment-%d\", (int)getpid());\n\
                 plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;\n\
                 o.mode = PLEXUS_RECREATE;\n\
                 plexus_region r;\n\
                 if (plexus_region_open(name, &o, &r) != PLEXUS_OK) return 1;\n\
                 {code}\n\
                 plexus_region_close(r);\n\
                 return plexus_region_remove(name) == PLEXUS_OK ? 0 : 1;\n}}\n"
            )
        } else {
            code.to_owned()
        };
        std::fs::write(&src, code).unwrap();
        for lib in [Lib::Shared, Lib::Static] {
            let exe = build(src.to_str().unwrap(), lib);
            let out = run(&exe, &[]);
            assert_ok(file, &out);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                expect,
                "{file} printed something else"
            );
        }
    }
}

/// plexus.h compiles on its own as C11 and as C++17, plexus.hpp as C++17, each also when
/// included twice, with -Wall -Wextra -Wpedantic -Werror (the translation units in
/// ffi-tests/hygiene/ include one header and nothing else; ctest runs them too).
#[test]
fn headers_compile_on_their_own() {
    let out_dir = lib_dir().parent().unwrap().join("hygiene");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("ffi-tests/hygiene")).unwrap() {
        let src = entry.unwrap().path();
        let (cpp, std) = match src.extension().and_then(|e| e.to_str()) {
            Some("c") => (false, "-std=c11"),
            Some("cpp") => (true, "-std=c++17"),
            _ => continue,
        };
        let obj = out_dir.join(format!("{}.o", src.file_name().unwrap().to_string_lossy()));
        let out = Command::new(compiler(cpp))
            .args([std, "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c"])
            .arg("-I")
            .arg(root().join("include"))
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .output()
            .expect("run the compiler");
        assert_ok(&format!("compiling {}", src.display()), &out);
        checked += 1;
    }
    assert_eq!(
        checked, 6,
        "expected the 6 translation units of ffi-tests/hygiene/"
    );
}

/// From C, as another user: a region created with the default mode gives
/// PLEXUS_E_PERMISSION (for PLEXUS_OPEN and PLEXUS_OPEN_OR_CREATE alike, and the file is
/// left alone); one created 0666 opens. Needs root to switch users (tests/permissions.rs
/// covers the rest, from Rust); skipped loudly otherwise, and fails under CI.
#[test]
fn c_open_as_another_user_honours_the_mode() {
    use std::os::unix::process::CommandExt;
    if !common::is_root() {
        common::skip_loudly(
            "not root",
            "the cross-user C permission test",
            "run the cross-user permission test as root",
        );
        return;
    }
    // The static build, copied to a directory every user may enter (the build directory
    // may sit below one that other users cannot, such as a home directory).
    let dir = TempDir::shared("perm-c-exe");
    let exe = copy_program(
        &build("ffi-tests/try_open.c", Lib::Static),
        &dir,
        "try_open",
    );
    let name = unique("perm-c", Lib::Static);
    for (permissions, expected) in [(0, "PLEXUS_E_PERMISSION"), (0o666, "PLEXUS_OK")] {
        let opts = OpenOptions {
            mode: OpenMode::Recreate,
            size: 1 << 20,
            permissions,
            ..Default::default()
        };
        let r = Region::open(&name, &opts).unwrap();
        let before = std::fs::read(r.path()).unwrap();
        let out =
            output_of_copied_program(Command::new(&exe).arg(name.as_str()).uid(65534).gid(65534));
        assert_ok("try_open as nobody", &out);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], expected, "mode {permissions:o}: {text}");
        assert_eq!(
            lines[2], expected,
            "mode {permissions:o}, OPEN_OR_CREATE: {text}"
        );
        if expected == "PLEXUS_E_PERMISSION" {
            assert!(lines[1].contains("mode 0600"), "{text}");
            assert_eq!(std::fs::read(r.path()).unwrap(), before, "file changed");
        }
        drop(r);
    }
}

/// 3 producer processes push batches of 1 to 32 values (plexus_queue_push_many; two push
/// INTs, one heap strings), 20,000 values each, through one queue of capacity 64, while
/// 3 consumer processes pop batches of up to 1 to 24 (plexus_queue_pop_many) until the
/// queue is closed: every value arrives exactly once; FIFO: each producer's values in
/// order, and the values of one push batch that come in one pop batch form one run
/// there (no other value between them). FIFO and LIFO.
#[test]
fn three_producers_three_consumers_batches_exactly_once_and_together() {
    both(|lib| {
        for kind in ["fifo", "lifo"] {
            let name = unique(&format!("qbatch-{kind}"), lib);
            let dir = TempDir::new(&format!("qbatch-{kind}-{lib:?}"));
            let exe = build("ffi-tests/queue_worker.c", lib);
            assert_ok(
                "queue_worker init",
                &run(&exe, &[&name, "init", "64", kind]),
            );
            let order = if kind == "fifo" { "fifo" } else { "any" };
            let files: Vec<String> = (0..3)
                .map(|c| dir.join(&format!("consumer{c}")).display().to_string())
                .collect();
            let consumers: Vec<Child> = files
                .iter()
                .map(|f| queue_worker(&exe, &[&name, "consume-batch", f, order]))
                .collect();
            let producers: Vec<Child> = (0..3)
                .map(|p| {
                    let values = if p == 2 { "string" } else { "int" };
                    queue_worker(
                        &exe,
                        &[&name, "produce-batch", &p.to_string(), "20000", values],
                    )
                })
                .collect();
            for p in producers {
                let out = wait_within("producer", p, Duration::from_secs(60));
                assert_ok("queue_worker produce-batch", &out);
            }
            assert_ok("queue_worker close", &run(&exe, &[&name, "close"]));
            for c in consumers {
                let out = wait_within("consumer", c, Duration::from_secs(30));
                assert_ok("queue_worker consume-batch", &out);
            }
            let mut args = vec![name.as_str(), "verify", "all", "3", "20000"];
            args.extend(files.iter().map(String::as_str));
            assert_ok("queue_worker verify", &run(&exe, &args));
        }
    });
}

/// Producer processes pushing batches of self-validating heap strings are SIGKILLed
/// again and again at random moments (two at a time, through a queue of 8, so batches
/// often wait for room in the middle) while two consumer processes pop batches: no torn
/// value, no wedge, every batch that completed arrives exactly once, of the batch in
/// flight at each kill a first part at most, and nothing else. FIFO and LIFO.
#[test]
fn batch_producers_killed_at_random_deliver_whole_batches_or_a_first_part() {
    producers_killed_at_random("qbkill", "-batch", 30, "batch-kills");
}

/// Consumer processes popping batches (up to 24 a call) are SIGKILLed again and again
/// while one producer pushes batches until the queue is closed: nothing arrives twice,
/// and at most what each killed consumer's last pop_many took is missing.
#[test]
fn batch_consumers_killed_at_random_lose_at_most_their_last_batch() {
    consumers_killed_at_random("qbckill", "-batch", 20, 0x5bd1_e995, 24);
}

#[test]
fn observe_c_api() {
    both(|lib| {
        assert_ok(
            "test_observe",
            &run(&build("ffi-tests/test_observe.c", lib), &[]),
        )
    });
}

#[test]
fn observe_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_observe",
            &run(&build("ffi-tests/test_cpp_observe.cpp", lib), &[]),
        )
    });
}

/// Three watcher processes follow one key while a writer process writes 1..N to it as
/// fast as it can: each watcher sees only consistent (value, version) pairs, in order,
/// and every one of them sees the last value (intermediate ones may be coalesced).
#[test]
fn observers_in_three_processes_never_miss_the_last_value() {
    let lib = Lib::Shared;
    let (region, name) = test_region("observe", lib, 4 << 20);
    region.map("observed", 16, 0).unwrap();
    common::observe::observers_never_miss_the_last_value(
        &build("ffi-tests/watch_worker.c", lib),
        name.as_str(),
    );
}

/// Eight processes open the same new map at the same instant, each with its own initial
/// data: exactly one set is stored, and every process sees it complete (init_race.c
/// checks that all ten keys hold one opener's value and prints whose).
#[test]
fn eight_processes_open_one_new_map_with_different_initial_data() {
    both(|lib| {
        let (_region, name) = test_region("initrace", lib, 4 << 20);
        common::observe::initial_data_race(&build("ffi-tests/init_race.c", lib), name.as_str());
    });
}

// ---- typed arrays ----

/// Every plexus_tarray call, dtype, status and bad input: on shared memory (both
/// libraries) and on a remote region (zero-copy calls UNSUPPORTED there).
#[test]
fn tarray_c_api() {
    both(|lib| {
        assert_ok(
            "test_tarray",
            &run(&build("ffi-tests/test_tarray.c", lib), &[]),
        )
    });
    if let Some(srv) = common::redis::RedisServer::start("ffi tarray_c_api") {
        let url = srv.url("tarray-api");
        let exe = build("ffi-tests/test_tarray.c", Lib::Shared);
        assert_ok("test_tarray (remote)", &run(&exe, &[&url, "api"]));
    }
}

/// plexus::TypedArray: views, RAII block guards, copies, atomics.
#[test]
fn tarray_cpp_wrapper() {
    both(|lib| {
        assert_ok(
            "test_cpp_tarray",
            &run(&build("ffi-tests/test_cpp_tarray.cpp", lib), &[]),
        )
    });
}

/// 4 processes x 100,000 plexus_tarray_faa on one I64 element end at exactly 400,000.
#[test]
fn tarray_faa_from_four_processes_is_exact() {
    both(|lib| {
        let (region, name) = test_region("tarray-faa", lib, 1 << 20);
        let t = region
            .tarray("ctr", Some(plexus::Dtype::I64), 2, 0, 0)
            .unwrap();
        let exe = build("ffi-tests/test_tarray.c", lib);
        let kids: Vec<Child> = (0..4)
            .map(|_| {
                Command::new(&exe)
                    .args([&*name, "faa", "100000"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for k in kids {
            let out = k.wait_with_output().unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        assert_eq!(t.load(0).unwrap(), 400_000);
    });
}

/// A process sleeping in plexus_tarray_wait wakes when another stores and notifies.
#[test]
fn tarray_wait_notify_across_processes() {
    both(|lib| {
        let (region, name) = test_region("tarray-wait", lib, 1 << 20);
        let t = region
            .tarray("ctr", Some(plexus::Dtype::I64), 2, 0, 0)
            .unwrap();
        let exe = build("ffi-tests/test_tarray.c", lib);
        let kid = Command::new(&exe)
            .args([&*name, "waiter", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        t.store(1, 77).unwrap();
        // Notify until the sleeper was woken (it may not sleep yet at first); a waiter
        // that had not slept yet sees 77 at once.
        let start = Instant::now();
        while t.notify(1, plexus::NOTIFY_ALL).unwrap() == 0
            && start.elapsed() < Duration::from_secs(2)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = kid.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("woke 77"),
            "{out:?}"
        );
    });
}

/// A writer killed between begin_write and end_write: its torn block is never read as
/// FULL (a reader times out), and the next writer gets the block. A reader killed
/// between begin_read and end_read: the block is FULL again for the next reader.
#[test]
fn tarray_killed_writers_and_readers_leave_no_torn_or_stuck_block() {
    both(|lib| {
        let (region, name) = test_region("tarray-kill", lib, 1 << 20);
        let t = region
            .tarray("frames", Some(plexus::Dtype::U32), 64, 16, 0)
            .unwrap();
        let exe = build("ffi-tests/test_tarray.c", lib);
        let writer = start_ready(&exe, &[&name, "hold-write", "1"], "holding");
        assert_eq!(t.block_state(1).unwrap(), plexus::BlockState::Writing);
        writer.sigkill();
        // Not FULL: a reader gets nothing.
        assert_eq!(
            t.begin_read(1, Some(Duration::from_millis(200))).err(),
            Some(Error::Timeout)
        );
        // The next writer gets it (given back EMPTY), writes a whole frame.
        let frame: Vec<u8> = (0..16u32).flat_map(|i| (i + 100).to_le_bytes()).collect();
        t.write_block(1, Some(Duration::from_secs(10)), &frame)
            .unwrap();
        let reader = start_ready(&exe, &[&name, "hold-read", "1"], "holding");
        assert_eq!(t.block_state(1).unwrap(), plexus::BlockState::Reading);
        reader.sigkill();
        let mut got = vec![0u8; 64];
        t.read_block(1, Some(Duration::from_secs(10)), &mut got)
            .unwrap();
        assert_eq!(got, frame);
        assert_eq!(t.block_state(1).unwrap(), plexus::BlockState::Empty);
        // A try-once begin finds a dead writer's block and takes it back.
        let writer = start_ready(&exe, &[&name, "hold-write", "3"], "holding");
        writer.sigkill();
        let d = plexus::Deadline::after(Some(Duration::ZERO));
        t.begin_until(3, true, &d).unwrap();
        t.end_write(3).unwrap();
        // A writer killed with nobody waiting: the sweep of the next opener gives the
        // block back.
        let writer = start_ready(&exe, &[&name, "hold-write", "2"], "holding");
        writer.sigkill();
        drop(Region::open(&name, &OpenOptions::default()).unwrap());
        assert_eq!(t.block_state(2).unwrap(), plexus::BlockState::Empty);
        let report = plexus::check(&name, &plexus::CheckOptions::default()).unwrap();
        assert_eq!(report.verdict(), plexus::Verdict::Consistent, "{report}");
    });
}
