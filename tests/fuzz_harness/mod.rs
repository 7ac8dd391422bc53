//! The body of the hostile-region fuzz target (`fuzz/fuzz_targets/region.rs`), shared
//! with `tests/fuzz_regressions.rs` so that `cargo test` replays the seeds and every
//! crasher found through exactly the code path the fuzzer runs.
//!
//! # Input format
//!
//! A region file is at least 244 KiB and mostly zeros, too big for a fuzzer to mutate
//! usefully byte by byte, so an input is a *sparse image* of one:
//!
//! ```text
//! byte 0      flags: bit 0 = recompute the header checksum after patching
//!             (lets mutations of the header reach the code behind its validation)
//! bytes 1..3  file size in 4 KiB pages (u16, little endian)
//! then        chunks: offset (u32 LE, taken modulo the file size), length (u16 LE),
//!             that many bytes, written at the offset (cut at the end of the file)
//! ```
//!
//! The seeds (`fuzz/seeds/region/`, written by `write_seeds` in
//! `tests/fuzz_regressions.rs`) are real regions holding every object kind and values of
//! every type, encoded as their non-zero runs.
//!
//! [`run`] writes the image as `/dev/shm/plexus.<name>`, runs the region checker on it
//! (`plexus::check`, plain and repairing, and `plexus::inspect`; a plain check must leave
//! the file byte for byte unchanged), opens it through the public Rust API, and runs every operation on every object its directory names, with zero
//! timeouts (so nothing can wait for long), then closes and removes it. Any status is
//! fine except [`Error::Internal`]; a panic, a hang or a memory error is a finding.
//!
//! One normalization: every process the file's process table names is made a dead one
//! (pid 0x7fff_fffe, above any pid the kernel hands out). A lock held by a *live*
//! process is rightly waited for, without limit by the internal locks (allocator,
//! directory, element), so a file naming a live process (pid 1 is always alive) as a
//! lock owner would "hang" the target without any bug.

#![allow(dead_code)]

use std::os::unix::fs::FileExt;
use std::time::Duration;

use plexus::{
    ffi, Array, Barrier, Bus, CheckOptions, Error, Map, Mutex, OpenMode, OpenOptions, Queue,
    Region, Semaphore, Start, Value, ValueRef, FLAG_EXCLUSIVE, FLAG_FULL,
};

pub const PAGE: u64 = 4096;
/// Largest file the target builds (keeps one run fast).
pub const MAX_PAGES: u64 = 512;
pub const FLAG_FIX_CHECKSUM: u8 = 1;

// Layout constants of format version 1 (src/engine/layout.rs).
const CHECKSUMMED: usize = 104;
const PROC_OFFSET: u64 = 4096;
const PROC_CAPACITY: u64 = 512;
const PROC_ENTRY: u64 = 256;
const DIR_OFFSET: u64 = PROC_OFFSET + PROC_CAPACITY * PROC_ENTRY;
const DIR_CAPACITY: u64 = 256;
const DIR_ENTRY: u64 = 128;
const DEAD_PID: u32 = 0x7fff_fffe;
const PID_PENDING: u32 = 1 << 31;

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A chunk offset that is not a place but a separator: chunks after it are *late*.
pub const LATE_MARK: u32 = u32::MAX;

/// An input taken apart: flags, file size, and the chunks written before the region is
/// opened (`early`) and after its objects are opened (`late`).
pub struct Input<'a> {
    pub flags: u8,
    pub size: usize,
    pub early: Vec<(usize, &'a [u8])>,
    pub late: Vec<(usize, &'a [u8])>,
}

pub fn parse(data: &[u8]) -> Input<'_> {
    let mut input = Input {
        flags: 0,
        size: 0,
        early: Vec::new(),
        late: Vec::new(),
    };
    if data.len() < 3 {
        return input;
    }
    input.flags = data[0];
    let pages = (u16::from_le_bytes([data[1], data[2]]) as u64).min(MAX_PAGES);
    input.size = (pages * PAGE) as usize;
    let size = input.size;
    let mut rest = &data[3..];
    let mut late = false;
    while rest.len() >= 6 && size > 0 {
        let raw = u32::from_le_bytes(rest[0..4].try_into().unwrap());
        let len = u16::from_le_bytes([rest[4], rest[5]]) as usize;
        rest = &rest[6..];
        if raw == LATE_MARK {
            late = true;
            continue;
        }
        let off = raw as usize % size;
        let n = len.min(rest.len()).min(size - off);
        let chunk = (off, &rest[..n]);
        if late {
            input.late.push(chunk);
        } else {
            input.early.push(chunk);
        }
        rest = &rest[len.min(rest.len())..];
    }
    input
}

/// Builds the file image an input describes (its early chunks).
pub fn image(data: &[u8]) -> Vec<u8> {
    let input = parse(data);
    let size = input.size;
    let mut file = vec![0u8; size];
    for &(off, bytes) in &input.early {
        file[off..off + bytes.len()].copy_from_slice(bytes);
    }
    // Processes named by the file are dead ones (see the module docs).
    if size as u64 >= PROC_OFFSET + PROC_CAPACITY * PROC_ENTRY {
        for i in 0..PROC_CAPACITY {
            let at = (PROC_OFFSET + i * PROC_ENTRY) as usize;
            let pid = u32::from_ne_bytes(file[at..at + 4].try_into().unwrap());
            if pid != 0 {
                let dead = (pid & PID_PENDING) | DEAD_PID;
                file[at..at + 4].copy_from_slice(&dead.to_ne_bytes());
            }
        }
    }
    if input.flags & FLAG_FIX_CHECKSUM != 0 && size >= 128 {
        let sum = fnv1a(&file[..CHECKSUMMED]);
        file[CHECKSUMMED..CHECKSUMMED + 8].copy_from_slice(&sum.to_ne_bytes());
    }
    file
}

/// Writes the late chunks into the open region's file (the mapping sees them at once),
/// leaving out the process table: a late chunk there could name a live process (see
/// the module docs), or ours, whose locks are then taken as a dead process's.
fn scribble(f: &std::fs::File, late: &[(usize, &[u8])]) {
    let table = PROC_OFFSET as usize..(PROC_OFFSET + PROC_CAPACITY * PROC_ENTRY) as usize;
    for &(off, bytes) in late {
        let end = off + bytes.len();
        if off < table.start {
            let n = end.min(table.start) - off;
            f.write_all_at(&bytes[..n], off as u64).expect("patch");
        }
        if end > table.end {
            let from = off.max(table.end);
            f.write_all_at(&bytes[from - off..], from as u64)
                .expect("patch");
        }
    }
}

/// Encodes a region file as an input (its non-zero runs), the inverse of [`image`].
pub fn encode(file: &[u8]) -> Vec<u8> {
    let pages = (file.len() as u64).div_ceil(PAGE) as u16;
    let mut out = vec![FLAG_FIX_CHECKSUM];
    out.extend_from_slice(&pages.to_le_bytes());
    let mut i = 0;
    while i < file.len() {
        if file[i] == 0 {
            i += 1;
            continue;
        }
        // A run ends at 16 zero bytes in a row (or at the chunk length limit).
        let start = i;
        let mut end = i;
        while i < file.len() && i - start < 0xffff {
            if file[i] != 0 {
                end = i + 1;
            } else if i - end >= 16 {
                break;
            }
            i += 1;
        }
        out.extend_from_slice(&(start as u32).to_le_bytes());
        out.extend_from_slice(&((end - start) as u16).to_le_bytes());
        out.extend_from_slice(&file[start..end]);
        i = end;
    }
    out
}

/// Removes the region file when dropped (also when a check panics).
struct Remove(String);
impl Drop for Remove {
    fn drop(&mut self) {
        let _ = Region::remove(&self.0);
    }
}

thread_local! {
    /// Operations of the current [`run`] that succeeded.
    static SUCCEEDED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A status is clean unless it says the library itself went wrong.
fn clean<T>(what: &str, r: Result<T, Error>) -> Option<T> {
    match r {
        Ok(v) => {
            SUCCEEDED.with(|c| c.set(c.get() + 1));
            Some(v)
        }
        Err(Error::Internal(m)) => panic!("{what}: internal error: {m}"),
        Err(_) => None,
    }
}

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Values of every type, heap-sized ones included.
fn sample_values() -> Vec<Value> {
    vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Int(-7),
        Value::Float(2.5),
        Value::String("inline".into()),
        Value::String("a string long enough to live in the heap".into()),
        Value::Bytes(vec![1, 2, 3, 0, 255]),
        Value::Bytes(vec![9; 300]),
        Value::from_json(r#"{"k":[1,2.5,"s",null,{"n":true}]}"#).expect("valid JSON"),
    ]
}

/// Reads a value out completely (OBJECT rendered as JSON too).
fn consume(what: &str, v: Option<Value>) {
    if let Some(v) = v {
        clean(what, v.as_ref().to_json());
    }
}

/// Objects named by the directory of `file`: (name, kind).
fn directory(file: &[u8]) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for i in 0..DIR_CAPACITY {
        let at = (DIR_OFFSET + i * DIR_ENTRY) as usize;
        let Some(e) = file.get(at..at + DIR_ENTRY as usize) else {
            break;
        };
        let state = u32::from_ne_bytes(e[0..4].try_into().unwrap());
        let kind = u32::from_ne_bytes(e[4..8].try_into().unwrap());
        let len = u32::from_ne_bytes(e[8..12].try_into().unwrap()) as usize;
        if state == 0 || len == 0 || len > 96 {
            continue;
        }
        if let Ok(name) = std::str::from_utf8(&e[32..32 + len]) {
            out.push((name.to_owned(), kind));
        }
    }
    out
}

/// Runs one input. `name` must be a region name unique to the calling process. Returns
/// how many operations succeeded (0 when the region did not open).
pub fn run(data: &[u8], name: &str) -> u64 {
    SUCCEEDED.with(|c| c.set(0));
    run_ops(data, name);
    SUCCEEDED.with(|c| c.get())
}

fn run_ops(data: &[u8], name: &str) {
    let file = image(data);
    let late = parse(data).late;
    let path = format!("/dev/shm/plexus.{name}");
    let _ = std::fs::remove_file(&path);
    let _cleanup = Remove(name.to_owned());
    let f = std::fs::File::create(&path).expect("create the region file");
    f.write_all_at(&file, 0).expect("write the region file");
    // The checker reads the hostile file too: a plain check (which must not write),
    // `inspect`, then a repairing check (which may, and then the operations below run on
    // what it left).
    if let Some(report) = clean(
        "check",
        plexus::check(name, &CheckOptions { repair: false }),
    ) {
        let _ = report.to_string();
    }
    clean("inspect", plexus::inspect(name));
    let after = std::fs::read(&path).expect("read the region file");
    assert!(
        after == file,
        "a plain check or inspect wrote to the region file"
    );
    clean(
        "check repair",
        plexus::check(name, &CheckOptions { repair: true }),
    );
    let opts = OpenOptions {
        mode: OpenMode::Open,
        ..Default::default()
    };
    let Some(region) = clean("open", Region::open(name, &opts)) else {
        return;
    };
    clean("info", region.info());
    let objects = directory(&file);
    let mut handles = Vec::new();
    for (obj, kind) in &objects {
        handles.extend(open(&region, obj, *kind));
        // The same name as another kind: a clean TYPE_MISMATCH.
        handles.extend(open(&region, obj, *kind % 7 + 1));
    }
    // New objects: directory insertion and the allocator over the hostile heap.
    for (i, kind) in (1..=7).enumerate() {
        let n = format!("fuzz-new-{i}");
        create(&region, &n, kind);
        handles.extend(open(&region, &n, kind));
    }
    // Another process scribbles on the region while we hold open objects.
    scribble(&f, &late);
    for h in &handles {
        operate(h);
    }
    // And the objects opened again, after all that.
    if !late.is_empty() {
        for (obj, kind) in &objects {
            if let Some(h) = open(&region, obj, *kind) {
                operate(&h);
            }
        }
    }
    clean("info", region.info());
    clean("wait_object", region.wait_object("missing", NOW));
}

fn create(region: &Region, name: &str, kind: u32) {
    match kind {
        1 => drop(clean("array", region.array(name, 4, FLAG_FULL))),
        2 => drop(clean("map", region.map(name, 4, 0))),
        3 => drop(clean("queue", region.queue(name, 4, 0))),
        4 => drop(clean("bus", region.bus(name, 4, 0))),
        5 => drop(clean("mutex", region.mutex(name))),
        6 => drop(clean("barrier", region.barrier(name, 2))),
        _ => drop(clean("semaphore", region.semaphore(name, 2))),
    }
}

/// An open object of any kind.
enum Obj {
    Array(Array),
    Map(Map),
    Queue(Queue),
    Bus(Bus),
    Mutex(Mutex),
    Barrier(Barrier),
    Semaphore(Semaphore),
}

/// Opens the existing object `name` as `kind`.
fn open(region: &Region, name: &str, kind: u32) -> Option<Obj> {
    Some(match kind {
        1 => {
            clean(
                "array excl",
                region.array(name, 0, FLAG_EXCLUSIVE).map(drop),
            );
            Obj::Array(clean("array", region.array(name, 0, 0))?)
        }
        2 => Obj::Map(clean("map", region.map(name, 0, 0))?),
        3 => Obj::Queue(clean("queue", region.queue(name, 0, 0))?),
        4 => Obj::Bus(clean("bus", region.bus(name, 0, 0))?),
        5 => Obj::Mutex(clean("mutex", region.mutex(name))?),
        6 => Obj::Barrier(clean("barrier", region.barrier(name, 0))?),
        _ => Obj::Semaphore(clean("semaphore", region.semaphore(name, 0))?),
    })
}

/// Every operation on an object.
fn operate(obj: &Obj) {
    let values = sample_values();
    match obj {
        Obj::Array(a) => {
            let len = a.len();
            let mut idx: Vec<u64> = (0..len.min(4)).collect();
            idx.extend([len.saturating_sub(1), len, u64::MAX]);
            for (n, &i) in idx.iter().enumerate() {
                let v = &values[n % values.len()];
                consume("read", clean("read", a.read(i)));
                clean("is_full", a.is_full(i));
                consume("read_fe", clean("read_fe", a.read_fe(i, NOW)));
                consume("read_ff", clean("read_ff", a.read_ff(i, NOW)));
                clean("write_ef", a.write_ef(i, v.as_ref(), NOW));
                if let Some(v) = clean("read_rw", a.read_rw(i, NOW)) {
                    consume("read_rw", Some(v));
                    clean("release_rw", a.release_rw(i));
                }
                clean("write", a.write(i, v.as_ref()));
                consume("faa", clean("faa", a.faa(i, ValueRef::Int(1))));
                consume("faa s", clean("faa", a.faa(i, ValueRef::String("x"))));
                consume("cas", clean("cas", a.cas(i, v.as_ref(), ValueRef::Null)));
                consume("exchange", clean("exchange", a.exchange(i, v.as_ref())));
                clean(
                    "write_xf",
                    a.write_xf(i, values[(n + 6) % values.len()].as_ref()),
                );
                clean("write_xe", a.write_xe(i, ValueRef::Bool(false)));
                clean("set_tag", a.set_tag(i, true));
                if let Some(mut seen) = clean("version", a.version(i)) {
                    clean("wait_change", a.wait_change(i, &mut seen, NOW));
                }
            }
        }
        Obj::Map(m) => {
            clean("len", m.len());
            let mut keys = clean("keys", m.keys()).unwrap_or_default();
            keys.truncate(8);
            keys.extend(["", "new-key", "another key"].map(String::from));
            for (n, k) in keys.iter().enumerate() {
                let v = &values[n % values.len()];
                clean("contains", m.contains(k));
                consume("read", clean("read", m.read(k)));
                clean("is_full", m.is_full(k));
                consume("read_fe", clean("read_fe", m.read_fe(k, NOW)));
                consume("read_ff", clean("read_ff", m.read_ff(k, NOW)));
                if let Some(v) = clean("read_rw", m.read_rw(k, NOW)) {
                    consume("read_rw", Some(v));
                    clean("release_rw", m.release_rw(k));
                }
                clean("write", m.write(k, v.as_ref()));
                clean("write_ef", m.write_ef(k, v.as_ref(), NOW));
                consume("faa", clean("faa", m.faa(k, ValueRef::Float(0.5))));
                consume("cas", clean("cas", m.cas(k, v.as_ref(), ValueRef::Int(3))));
                consume("exchange", clean("exchange", m.exchange(k, v.as_ref())));
                clean("write_xf", m.write_xf(k, ValueRef::Int(1)));
                clean("write_xe", m.write_xe(k, ValueRef::Null));
                clean("set_tag", m.set_tag(k, true));
                if let Some(mut seen) = clean("version", m.version(k)) {
                    clean("wait_change", m.wait_change(k, &mut seen, NOW));
                }
                if n % 2 == 0 {
                    clean("remove", m.remove(k));
                }
            }
            clean("keys", m.keys());
            clean("len", m.len());
        }
        Obj::Queue(q) => {
            clean("len", q.len());
            clean("is_closed", q.is_shutdown());
            for _ in 0..8 {
                consume("pop", clean("pop", q.pop(NOW)));
            }
            for v in &values {
                clean("push", q.push(v.as_ref(), NOW));
            }
            for _ in 0..4 {
                consume("pop", clean("pop", q.pop(NOW)));
            }
            clean("close", q.shutdown());
            consume("pop", clean("pop", q.pop(NOW)));
            clean("len", q.len());
        }
        Obj::Bus(b) => {
            clean("next_seq", b.next_seq());
            clean("is_closed", b.is_shutdown());
            let mut subs: Vec<_> = [Start::Oldest, Start::Now]
                .into_iter()
                .filter_map(|s| clean("subscribe", b.subscribe(s)))
                .collect();
            for sub in &mut subs {
                for _ in 0..8 {
                    consume("next", clean("next", sub.next(NOW)).map(|(v, _)| v));
                }
            }
            for v in &values {
                clean("publish", b.publish(v.as_ref()));
            }
            for sub in &mut subs {
                for _ in 0..4 {
                    consume("next", clean("next", sub.next(NOW)).map(|(v, _)| v));
                }
            }
            clean("close", b.shutdown());
            for sub in &mut subs {
                consume("next", clean("next", sub.next(NOW)).map(|(v, _)| v));
            }
        }
        Obj::Mutex(m) => {
            clean("is_locked", m.is_locked());
            if clean("lock", m.lock(NOW)).is_some() {
                clean("is_locked", m.is_locked());
                clean("unlock", m.unlock());
            }
            clean("unlock unlocked", m.unlock());
        }
        Obj::Barrier(b) => {
            clean("arrived", b.arrived());
            clean("wait", b.wait(NOW));
            clean("arrived", b.arrived());
        }
        Obj::Semaphore(s) => {
            clean("available", s.available());
            clean("held", s.held());
            if clean("acquire", s.acquire(NOW)).is_some() {
                clean("release", s.release());
            }
            clean("release unheld", s.release());
            clean("available", s.available());
        }
    }
}

/// Decoding of values from outside: JSON text and MessagePack OBJECT bodies, through the
/// Rust API and through the C API (`plexus_value_from_json`, `plexus_object_msgpack`,
/// `plexus_value_to_json`).
pub fn run_values(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(v) = clean("from_json", Value::from_json(text)) {
            consume("to_json", Some(v));
        }
    }
    let obj = ValueRef::Object(data);
    if clean("validate", obj.validate()).is_some() {
        clean("to_json", obj.to_json());
    }
    run_values_c(data);
}

/// The C API's status is clean unless it is PLEXUS_E_INTERNAL (a caught panic).
fn clean_c(what: &str, s: ffi::plexus_status) -> bool {
    assert!(
        s != ffi::plexus_status::PLEXUS_E_INTERNAL,
        "{what}: PLEXUS_E_INTERNAL"
    );
    s == ffi::plexus_status::PLEXUS_OK
}

/// Renders `v` as JSON through the C API: size query, then the real call.
fn to_json_c(v: &ffi::plexus_value) {
    let mut needed = 0usize;
    let s = ffi::plexus_value_to_json(v, std::ptr::null_mut(), 0, &mut needed);
    if s == ffi::plexus_status::PLEXUS_E_BUFFER_TOO_SMALL {
        let mut buf = vec![0u8; needed];
        let s = ffi::plexus_value_to_json(v, buf.as_mut_ptr().cast(), buf.len(), &mut needed);
        assert!(
            clean_c("plexus_value_to_json", s),
            "size query said {needed}: {s:?}"
        );
        assert_eq!(buf[needed - 1], 0, "NUL-terminated");
    } else {
        clean_c("plexus_value_to_json size", s);
    }
}

fn run_values_c(data: &[u8]) {
    let text = data.split(|&b| b == 0).next().unwrap_or_default();
    let text = std::ffi::CString::new(text).expect("no NUL");
    let mut v = ffi::plexus_undefined();
    if clean_c(
        "plexus_value_from_json",
        ffi::plexus_value_from_json(text.as_ptr(), &mut v),
    ) {
        to_json_c(&v);
        ffi::plexus_value_free(&mut v);
    }
    let obj = ffi::plexus_object_msgpack(data.as_ptr().cast(), data.len());
    to_json_c(&obj);
}
