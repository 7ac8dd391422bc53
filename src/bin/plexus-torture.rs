//! `plexus-torture`: crash torture of a plexus region.
//!
//! A controller creates a region with one object of every kind (arrays, a map, a FIFO
//! queue, a LIFO stack, a bus, a mutex, a semaphore, a service, a typed array whose
//! blocks are handed from writers to readers), starts N worker processes (this
//! same binary, `plexus-torture worker ...`) that do random operations on all of them
//! (every element call, `read_rw` holds, token passing with `read_fe`/`write_ef`, map
//! inserts and removals, `faa` counters, half of one counter's increments through the C
//! ABI, pushes and pops, publishes and subscriptions, locks, reattaching), and SIGKILLs a
//! random worker at a random instant, again and again, starting a new worker after each
//! kill. One worker in four dwells inside queue pushes, stack operations and bus
//! publishes (the library's test hook) so that kills land there. Every few hundred kills
//! it pauses the workers (they finish their current operation and wait) and checks the
//! region while nothing moves, with the region checker among others; at the end it stops
//! them, drains the queues and checks everything:
//!
//! * **No wedge**: every operation by a live worker returned within its timeout plus a
//!   slack (workers time every call), no TIMEOUT happened where the object was
//!   available (a mutex or semaphore held only for microseconds by live processes, an
//!   EMPTY token element that only the caller writes, a queue with many values or much
//!   room, a bus with a message waiting), and every live worker kept making progress.
//! * **Whole values**: every value is self-validating (writer id + sequence number, and a
//!   body derived from both, of varied types and sizes up to 8 KB): a value read is
//!   regenerated from its id and compared, so a torn, mixed or invented value fails, and
//!   its sequence number must be one its writer journaled before writing.
//! * **Queues** (single calls and batches, `push_many`/`pop_many`, one call in three):
//!   every value delivered at most once; every value whose push returned OK (for a
//!   batch: one of the first `pushed`) delivered exactly once, except at most one per
//!   consumer killed inside `pop` (`max` per consumer killed inside `pop_many`); no value
//!   delivered whose push failed; per producer, FIFO order as seen by a consumer.
//! * **Counters**: `faa` +1 counters equal the number of completed increments plus at
//!   most one per worker killed inside `faa`, and the old values returned are distinct.
//! * **Locks**: the mutex protects a pair of counters that must be equal on a clean
//!   acquire (a dead holder gives OWNER_DEAD, and the next holder repairs the pair); the
//!   semaphore never admits more holders than permits.
//! * The bus delivers to every subscriber the message its publisher published under
//!   that sequence number.
//! * **Services**: workers call (with short timeouts) and serve one request at a time;
//!   every reply a caller gets is the one derived from its own request (or the error
//!   reply derived from it), every request a server takes was journaled by its caller,
//!   and no call waits past its timeout plus the slack, also when its server was
//!   killed holding the request (OWNER_DEAD is then allowed, as is TIMEOUT).
//! * **Typed array blocks** (full/empty hand-off of frames, `begin_write`/`end_write`,
//!   `begin_read`/`end_read`; writers and readers dwell in the middle of a frame, so
//!   kills land mid-block): every element of a frame is derived from its writer, its
//!   sequence number and its block, so a reader regenerates the whole frame: a frame
//!   left half written by a killed writer, mixed from two writes or never written is
//!   never read as FULL. Every frame whose `end_write` returned OK is consumed (read and
//!   `end_read` OK) exactly once, except at most one per reader killed inside
//!   `end_read`; no frame is consumed twice. No block stays stuck: at every pause (no
//!   live worker holds a block then) the controller reads each FULL block and writes
//!   each block again with try-once calls, which take a dead holder's block back.
//! * **Region checker** (`plexus::check`): never "corrupt", neither at a pause nor while
//!   the workers run (plain and repairing checks); after the final repair, consistent;
//!   at most 3 leaked blocks per worker that ran.
//!
//! Workers write a journal (a file per worker, appended through a shared mapping) before
//! and after every call, which survives their SIGKILL: it bounds what a killed worker may
//! have done. `--inject` makes one worker fake a fault, to show that the checks catch it.
//! Run `plexus-torture --help` for the options.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions as FsOpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use plexus::{
    Array, BlockState, Bus, Dtype, Error, Map, Mutex, OpenMode, OpenOptions, Queue, Region,
    Semaphore, Service, Start, Subscription, TArray, Value, ValueRef, FLAG_FULL, FLAG_LIFO,
};

// ---------------------------------------------------------------------------------------
// Shape of the tortured region.

const CELLS: u64 = 16;
const TOKENS: u64 = 6;
const MAP_KEYS: u64 = 32;
const MAP_CAPACITY: u64 = 128;
const FIFO_CAPACITY: u64 = 64;
const LIFO_CAPACITY: u64 = 32;
const BUS_CAPACITY: u64 = 64;
const SEM_PERMITS: u32 = 2;
const SERVICE_CAPACITY: u64 = 8;
/// A reply to request (w, s) is the value (w, s + REPLY_SEQ), or, one request in five,
/// the error `refused w s` (sequence numbers stay far below it; an INT value holds 32
/// bits of them).
const REPLY_SEQ: u64 = 1 << 30;
/// The typed array `frames`: FRAME_BLOCKS blocks of FRAME_LEN u64 elements (4 KiB), all
/// EMPTY at the start.
const FRAME_BLOCKS: u64 = 6;
const FRAME_LEN: u64 = 512;
/// 16 MiB: room for the values and for the blocks leaked by thousands of kills, and small
/// enough for a container's 64 MiB `/dev/shm`.
const REGION_SIZE: u64 = 16 << 20;
/// `ctl[0]`: 0 = run, n > 0 = pause number n, -1 = stop.
const CTL_RUN: i64 = 0;
const CTL_STOP: i64 = -1;
/// A queue holding at least this many values (or with this much room) is "available":
/// a pop (push) that times out on it is a failure.
const QUEUE_MARGIN: u64 = 8;
/// Timeout of calls that may legitimately time out (a token held by someone else, a key
/// that is EMPTY, no new bus message), one call in four; the others try once, so that
/// workers spend their time inside the library rather than asleep.
const SHORT: Duration = Duration::from_millis(5);

// ---------------------------------------------------------------------------------------
// Self-validating values.

fn mix(mut x: u64) -> u64 {
    // splitmix64 finalizer
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Small fast PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(mix(seed) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const INT_CHECK_BITS: u32 = 12;

fn body(h: u64, len: usize, printable: bool) -> Vec<u8> {
    let mut r = Rng::new(h);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        let x = r.next().to_le_bytes();
        if printable {
            out.extend(x.iter().map(|b| b'a' + b % 26));
        } else {
            out.extend_from_slice(&x);
        }
    }
    out.truncate(len);
    out
}

/// The value with writer `w` and sequence number `s` (deterministic: a reader
/// regenerates it to check what it read). Writer ids < 2^19, sequence numbers < 2^32.
fn make_value(w: u64, s: u64) -> Value {
    let h = mix(w << 32 ^ s);
    let len = match (h >> 8) % 16 {
        0..=5 => (h >> 16) % 9,
        6..=11 => 9 + (h >> 16) % 100,
        12..=14 => 109 + (h >> 16) % 1900,
        _ => 2009 + (h >> 16) % 6000,
    } as usize;
    match h % 8 {
        0 | 1 => {
            let check = mix(h) & ((1 << INT_CHECK_BITS) - 1);
            Value::Int((w << 44 | s << INT_CHECK_BITS | check) as i64)
        }
        2..=4 => {
            let mut t = format!("{w}:{s}:").into_bytes();
            t.extend(body(h, len, true));
            Value::String(String::from_utf8(t).expect("ascii"))
        }
        5 | 6 => {
            let mut t = Vec::with_capacity(16 + len);
            t.extend_from_slice(&w.to_le_bytes());
            t.extend_from_slice(&s.to_le_bytes());
            t.extend(body(h, len, false));
            Value::Bytes(t)
        }
        _ => {
            let text = String::from_utf8(body(h, len, true)).expect("ascii");
            Value::object(&serde_json::json!({ "w": w, "s": s, "body": text })).expect("encodable")
        }
    }
}

/// A value for a message, cut to 100 characters.
fn show(v: &Value) -> String {
    let mut t = format!("{v:?}");
    if t.len() > 100 {
        let mut cut = 100;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t.push_str("...");
    }
    t
}

/// Decodes the id of a value and checks that the value is exactly the one with that id.
fn validate(v: &Value) -> Result<(u64, u64), String> {
    let id = match v {
        Value::Int(i) => {
            let u = *i as u64;
            (u >> 44, (u >> INT_CHECK_BITS) & 0xffff_ffff)
        }
        Value::String(t) => {
            let mut it = t.splitn(3, ':');
            let w = it.next().and_then(|x| x.parse().ok());
            let s = it.next().and_then(|x| x.parse().ok());
            match (w, s) {
                (Some(w), Some(s)) => (w, s),
                _ => return Err(format!("string without an id: {}", show(v))),
            }
        }
        Value::Bytes(b) if b.len() >= 16 => (
            u64::from_le_bytes(b[..8].try_into().expect("8")),
            u64::from_le_bytes(b[8..16].try_into().expect("8")),
        ),
        Value::Object(o) => {
            let j: serde_json::Value =
                rmp_serde::from_slice(o).map_err(|e| format!("object does not decode: {e}"))?;
            match (j["w"].as_u64(), j["s"].as_u64()) {
                (Some(w), Some(s)) => (w, s),
                _ => return Err(format!("object without an id: {j}")),
            }
        }
        other => return Err(format!("unexpected value {}", show(other))),
    };
    if id.0 >= 1 << 19 || id.1 >= 1 << 32 {
        return Err(format!("value with an impossible id {id:?}"));
    }
    if make_value(id.0, id.1) != *v {
        return Err(format!(
            "torn or altered value (claims writer {} seq {}): {}",
            id.0,
            id.1,
            show(v)
        ));
    }
    Ok(id)
}

/// Element `i` of the frame (writer `w`, sequence number `s`) written into block `b`:
/// element 0 is the id, element 1 the block, the others are derived from all three, so
/// a frame left half written, mixed from two writes, or moved to another block does not
/// regenerate.
fn frame_elem(w: u64, s: u64, b: u64, i: u64) -> u64 {
    match i {
        0 => pack(w, s),
        1 => b,
        _ => mix(pack(w, s) ^ b << 56 ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    }
}

/// Checks a whole frame read from block `b`: returns its id.
fn validate_frame(data: &[u64], b: u64) -> Result<(u64, u64), String> {
    let Some(&first) = data.first() else {
        return Err(format!("empty frame in block {b}"));
    };
    let (w, s) = (first >> 32, first & 0xffff_ffff);
    if data.len() as u64 != FRAME_LEN || w >= 1 << 19 || s == 0 {
        return Err(format!(
            "torn frame in block {b}: {} elements, element 0 is {first:#x}",
            data.len()
        ));
    }
    match (0..FRAME_LEN).find(|&i| data[i as usize] != frame_elem(w, s, b, i)) {
        None => Ok((w, s)),
        Some(i) => Err(format!(
            "torn frame in block {b} (claims writer {w} seq {s}): element {i} is {:#x}, not {:#x}",
            data[i as usize],
            frame_elem(w, s, b, i)
        )),
    }
}

/// Writes the frame (w, s) into a block taken with `begin_write` (`p`: its first element,
/// FRAME_LEN elements), calling `mid` halfway (a dwell, so that kills land there).
/// `torn`: one element wrong (the `--inject torn-frame` self-test).
fn write_frame(p: *mut u8, w: u64, s: u64, b: u64, torn: bool, mut mid: impl FnMut()) {
    let p = p.cast::<u64>();
    for i in 0..FRAME_LEN {
        if i == FRAME_LEN / 2 {
            mid();
        }
        let v = frame_elem(w, s, b, i) ^ u64::from(torn && i == FRAME_LEN / 2 + 1);
        // SAFETY: `p` is the block's first element, 8-byte aligned (elements start
        // 64-byte aligned), with FRAME_LEN elements (checked by the caller), inside
        // the mapping the typed array handle keeps; this process holds the block.
        unsafe { p.add(i as usize).write_volatile(v) };
    }
}

/// Copies the FRAME_LEN elements of a block taken with `begin_read`, calling `mid`
/// halfway.
fn read_frame(p: *const u8, mut mid: impl FnMut()) -> Vec<u64> {
    let p = p.cast::<u64>();
    (0..FRAME_LEN)
        .map(|i| {
            if i == FRAME_LEN / 2 {
                mid();
            }
            // SAFETY: as in `write_frame`; this process holds the block for reading.
            unsafe { p.add(i as usize).read_volatile() }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Journals.

/// A worker's journal: a file mapped `MAP_SHARED`, to which the worker appends one line
/// per record with plain memory stores. What a process stored into a shared file mapping
/// is in the page cache at once, so it survives the process's SIGKILL, and appending costs
/// tens of nanoseconds instead of a `write(2)`: the workers spend their time inside the
/// library, where the kills should land. The newline is stored last, after a release
/// fence; a reader takes only whole lines and stops at the first zero byte.
struct Journal {
    map: memmap2::MmapMut,
    pos: usize,
}

/// Size of a journal file (sparse: only what is written takes memory).
const JOURNAL_BYTES: u64 = 1 << 30;

impl Journal {
    fn create(path: &Path) -> std::io::Result<Journal> {
        let file = FsOpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)?;
        file.set_len(JOURNAL_BYTES)?;
        // SAFETY: the file is this worker's own; the controller only reads it.
        let map = unsafe { memmap2::MmapMut::map_mut(&file)? };
        Ok(Journal { map, pos: 0 })
    }

    fn rec(&mut self, line: std::fmt::Arguments<'_>) {
        let s = line.to_string();
        let end = self.pos + s.len();
        if end + 1 > self.map.len() {
            eprintln!("plexus-torture worker: journal full");
            std::process::exit(3);
        }
        self.map[self.pos..end].copy_from_slice(s.as_bytes());
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        // SAFETY: `end` is inside the mapping (checked above); a volatile store keeps
        // the newline after the fence.
        unsafe { std::ptr::write_volatile(self.map.as_mut_ptr().add(end), b'\n') };
        self.pos = end + 1;
    }
}

macro_rules! rec {
    ($j:expr, $($t:tt)*) => { $j.rec(format_args!($($t)*)) };
}

fn journal_path(dir: &Path, w: u64) -> PathBuf {
    dir.join(format!("w{w}.log"))
}

// ---------------------------------------------------------------------------------------
// Options.

#[derive(Clone)]
struct Options {
    kills: u64,
    workers: u64,
    seed: u64,
    timeout: Duration,
    slack: Duration,
    interval: Duration,
    pause_every: u64,
    name: String,
    dir: Option<PathBuf>,
    keep: bool,
    quiet: bool,
    /// Self-test: a fault the first worker injects, which the checks must report.
    inject: String,
    hot: bool,
    widen: bool,
    check_every: u64,
    /// Bytes of the region (`--region-size`).
    region_size: u64,
}

const USAGE: &str = "\
usage: plexus-torture [options]
  --kills N         SIGKILLs to deliver (default 1000)
  --workers N       worker processes alive at a time (default 6)
  --seed N          random seed (default: from the clock; printed)
  --timeout-ms N    timeout of blocking calls that must not time out (default 2000)
  --slack-ms N      scheduling slack allowed beyond a timeout (default 1500)
  --interval-ms N   mean time between kills (default 20)
  --pause-every N   pause the workers and check the region every N kills (default 200)
  --check-every N   check the region (plain, then repairing) while the workers run, every
                    N kills (default 100)
  --region NAME     region name (default torture-<pid>; removed at the end)
  --dir PATH        journal directory (default a fresh one under the temp dir)
  --keep            keep the region and the journals
  --quiet           print only the summary
  --hot             all element and key calls on 2 cells, 2 keys and 2 tokens (contention)
  --region-size N   bytes of the region (default 16 MiB; a small one, e.g. 786432, runs
                    its heap out, so that allocations split and merge free blocks)
  --no-widen        do not make one worker in four dwell in the middle of queue pushes,
                    stack pushes and pops, and bus publishes (the library's test hook)
  --inject FAULT    self-test of the checks: the first worker fakes one fault
                    (torn, invented, lost-faa, dup-pop, wedge, wrong-reply, torn-frame);
                    the run must fail
Exit status 0 when every check passed, 1 when one failed, 2 on bad usage.";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        kills: 1000,
        workers: 6,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        timeout: Duration::from_millis(2000),
        slack: Duration::from_millis(1500),
        interval: Duration::from_millis(20),
        pause_every: 200,
        name: format!("torture-{}", std::process::id()),
        dir: None,
        keep: false,
        quiet: false,
        inject: "none".into(),
        hot: false,
        widen: true,
        check_every: 100,
        region_size: REGION_SIZE,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |what: &str| -> Result<u64, String> {
            it.next()
                .ok_or_else(|| format!("{what} needs a value"))?
                .parse::<u64>()
                .map_err(|e| format!("{what}: {e}"))
        };
        match a.as_str() {
            "--kills" => o.kills = num(a)?,
            "--workers" => o.workers = num(a)?.max(1),
            "--seed" => o.seed = num(a)?,
            "--timeout-ms" => o.timeout = Duration::from_millis(num(a)?.max(1)),
            "--slack-ms" => o.slack = Duration::from_millis(num(a)?),
            "--interval-ms" => o.interval = Duration::from_millis(num(a)?),
            "--pause-every" => o.pause_every = num(a)?.max(1),
            "--check-every" => o.check_every = num(a)?.max(1),
            "--region" => o.name = it.next().ok_or("--region needs a value")?.clone(),
            "--dir" => o.dir = Some(it.next().ok_or("--dir needs a value")?.into()),
            "--keep" => o.keep = true,
            "--quiet" => o.quiet = true,
            "--hot" => o.hot = true,
            "--region-size" => o.region_size = num(a)?.max(1 << 16),
            "--no-widen" => o.widen = false,
            "--inject" => {
                let f = it.next().ok_or("--inject needs a value")?;
                if !FAULTS.contains(&f.as_str()) {
                    return Err(format!("unknown fault {f} (one of {FAULTS:?})"));
                }
                o.inject = f.clone();
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        return worker_main(&args[1..]);
    }
    match parse_options(&args) {
        Ok(o) => controller_main(o),
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("plexus-torture: {msg}");
            }
            eprintln!("{USAGE}");
            if msg.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The objects, as both sides open them.

struct Objects {
    region: Region,
    cells: Array,
    tokens: Array,
    counters: Array,
    guard: Array,
    semslot: Array,
    ctl: Array,
    map: Map,
    fifo: Queue,
    lifo: Queue,
    bus: Bus,
    mutex: Mutex,
    sem: Semaphore,
    svc: Service,
    frames: TArray,
}

impl Objects {
    fn open(region: Region) -> plexus::Result<Objects> {
        Ok(Objects {
            cells: region.array("cells", CELLS, 0)?,
            tokens: region.array("tokens", TOKENS, 0)?,
            counters: region.array("counters", 1, 0)?,
            guard: region.array("guard", 2, 0)?,
            semslot: region.array("semslot", SEM_PERMITS as u64, 0)?,
            ctl: region.array("ctl", 1, FLAG_FULL)?,
            map: region.map("map", MAP_CAPACITY, 0)?,
            fifo: region.queue("fifo", FIFO_CAPACITY, 0)?,
            lifo: region.queue("lifo", LIFO_CAPACITY, FLAG_LIFO)?,
            bus: region.bus("bus", BUS_CAPACITY, 0)?,
            mutex: region.mutex("mutex")?,
            sem: region.semaphore("sem", SEM_PERMITS)?,
            svc: region.service("svc", SERVICE_CAPACITY, 0)?,
            frames: region.tarray(
                "frames",
                Some(Dtype::U64),
                FRAME_BLOCKS * FRAME_LEN,
                FRAME_LEN,
                0,
            )?,
            region,
        })
    }
}

fn key(i: u64) -> String {
    // Some keys longer than 32 bytes (stored in the heap), most inline.
    if i % 4 == 3 {
        format!("key-{i}-{}", "x".repeat(40))
    } else {
        format!("key-{i}")
    }
}

const HITS: &str = "hits";

/// Faults `--inject` can fake.
const FAULTS: [&str; 8] = [
    "none",
    "torn",
    "invented",
    "lost-faa",
    "dup-pop",
    "wedge",
    "wrong-reply",
    "torn-frame",
];

// ---------------------------------------------------------------------------------------
// Worker.

struct Worker {
    id: u64,
    seq: u64,
    rng: Rng,
    j: Journal,
    timeout: Duration,
    slack: Duration,
    workers: u64,
    o: Objects,
    sub: Subscription,
    last_bus_seq: u64,
    /// Per producer, the last sequence number popped from the FIFO (order check).
    fifo_last: HashMap<u64, u64>,
    failures: u64,
    ops: u64,
    inject: String,
    c_counter: CCounter,
    /// `--hot`: every call on the first 2 cells, keys and tokens.
    hot: bool,
    /// Handles on the objects `churn-N` (which workers remove and create again, as
    /// another kind), kept across removals so that calls meet removed objects.
    churn: HashMap<u64, Churned>,
    /// The region `<region>-churn` (which workers remove and RECREATE) and an array in
    /// it, while this worker has it open.
    churn_region: Option<(Region, Array)>,
    /// Widened workers dwell this long in the middle of every frame they write or read.
    dwell: Option<Duration>,
}

/// A handle on one of the objects `churn-N`: its kind changes as workers remove and
/// create it again.
enum Churned {
    Array(Array),
    Map(Map),
    Queue(Queue),
}

/// Number of objects `churn-N`.
const CHURN_OBJECTS: u64 = 4;

/// The region workers remove and RECREATE, beside the tortured one.
fn churn_region_name(region: &str) -> String {
    format!("{region}-churn")
}

/// The array counter opened a second time through the C ABI (`plexus_region_open`,
/// `plexus_array_open`), so that half of the increments go through `plexus_array_faa`
/// as a C program's would, and kills land inside the C layer too.
struct CCounter {
    array: plexus::ffi::plexus_array,
}

impl CCounter {
    fn open(region: &str) -> Result<CCounter, String> {
        use plexus::ffi::*;
        let name = std::ffi::CString::new(region).map_err(|e| e.to_string())?;
        let counters = c"counters";
        let mut r = plexus_region { id: 0 };
        let mut a = plexus_array { id: 0 };
        if plexus_region_open(name.as_ptr(), std::ptr::null(), &mut r) != plexus_status::PLEXUS_OK
            || plexus_array_open(r, counters.as_ptr(), 1, 0, &mut a) != plexus_status::PLEXUS_OK
        {
            return Err(Self::last_error());
        }
        Ok(CCounter { array: a })
    }

    fn last_error() -> String {
        // SAFETY: plexus_last_error returns a NUL-terminated string owned by the library.
        unsafe { std::ffi::CStr::from_ptr(plexus::ffi::plexus_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    /// `plexus_array_faa(counters, 0, 1)`: the old value.
    fn faa(&self) -> plexus::Result<Value> {
        use plexus::ffi::*;
        let one = plexus_int(1);
        let mut old = plexus_int(0);
        match plexus_array_faa(self.array, 0, &one, &mut old) {
            plexus_status::PLEXUS_OK => {}
            status => {
                return Err(Error::Internal(format!(
                    "{status:?}: {}",
                    Self::last_error()
                )))
            }
        }
        let v = if old.type_ == plexus_type::PLEXUS_INT as u32 {
            // SAFETY: the type says the `i` member is the one written.
            Value::Int(unsafe { old.as_.i })
        } else {
            Value::Undefined
        };
        plexus_value_free(&mut old);
        Ok(v)
    }
}

fn worker_main(args: &[String]) -> ExitCode {
    // worker ID REGION DIR SEED TIMEOUT_MS SLACK_MS WORKERS INJECT HOT
    if args.len() != 9 {
        eprintln!("plexus-torture worker: bad arguments {args:?}");
        return ExitCode::from(2);
    }
    let num = |i: usize| args[i].parse::<u64>().unwrap_or(0);
    let id = num(0);
    let dir = PathBuf::from(&args[2]);
    let mut j = match Journal::create(&journal_path(&dir, id)) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("plexus-torture worker {id}: cannot create its journal: {e}");
            return ExitCode::from(3);
        }
    };
    let opts = OpenOptions {
        mode: OpenMode::Open,
        wait: Some(Duration::from_secs(5)),
        ..OpenOptions::default()
    };
    let t0 = Instant::now();
    let objects = Region::open(&args[1], &opts).and_then(Objects::open);
    let o = match objects {
        Ok(o) => o,
        Err(e) => {
            rec!(j, "E opening the region and its objects failed: {e}");
            return ExitCode::from(1);
        }
    };
    let c_counter = match CCounter::open(&args[1]) {
        Ok(c) => c,
        Err(e) => {
            rec!(j, "E opening the counter through the C ABI failed: {e}");
            return ExitCode::from(1);
        }
    };
    let sub = match o.bus.subscribe(Start::Oldest) {
        Ok(s) => s,
        Err(e) => {
            rec!(j, "E subscribe: {e}");
            return ExitCode::from(1);
        }
    };
    let mut w = Worker {
        id,
        seq: 0,
        rng: Rng::new(num(3) ^ id.wrapping_mul(0x1234_5678_9abc_def1)),
        j,
        timeout: Duration::from_millis(num(4)),
        slack: Duration::from_millis(num(5)),
        workers: num(6),
        c_counter,
        hot: args[8].contains("hot"),
        inject: if id == 1 {
            args[7].clone()
        } else {
            "none".into()
        },
        o,
        sub,
        last_bus_seq: 0,
        fifo_last: HashMap::new(),
        failures: 0,
        ops: 0,
        churn: HashMap::new(),
        churn_region: None,
        dwell: None,
    };
    w.late("opening the region", t0, w.timeout);
    // One worker in four dwells 20-200 us in the middle of every FIFO push (slot claimed,
    // value not yet published), every LIFO push and pop (stack lock held) and every bus
    // publish (slot half written), and in the middle of every typed array frame it writes
    // or reads (block held, half the elements done), so that many kills land exactly
    // there.
    if args[8].contains("widen") && w.rng.below(4) == 0 {
        let us = 20 + w.rng.below(180);
        plexus::test_pause_in_push(Duration::from_micros(us));
        w.dwell = Some(Duration::from_micros(us));
        rec!(w.j, "V {us}");
    }
    rec!(w.j, "S");
    w.run();
    rec!(w.j, "Y {}", plexus::recovered_locks());
    rec!(w.j, "X {} {}", w.ops, w.failures);
    if w.failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

impl Worker {
    fn fail(&mut self, msg: String) {
        self.failures += 1;
        rec!(self.j, "E {}", msg.replace('\n', " "));
    }

    /// Records a failure if a call that started at `t0` with timeout `timeout` returned
    /// later than the timeout plus the slack.
    fn late(&mut self, what: &str, t0: Instant, timeout: Duration) {
        let took = t0.elapsed();
        let over = took.saturating_sub(timeout);
        if over > Duration::from_millis(100) {
            rec!(self.j, "M {} {what}", over.as_millis());
        }
        if took > timeout + self.slack {
            self.fail(format!(
                "{what} returned after {took:?} (timeout {timeout:?} + slack {:?})",
                self.slack
            ));
        }
    }

    /// An element index (or key number) among `n`; among the first 2 with `--hot`.
    fn pick(&mut self, n: u64) -> u64 {
        self.rng.below(if self.hot { n.min(2) } else { n })
    }

    /// A new value: journals the intent to write it first.
    fn new_value(&mut self) -> (u64, Value) {
        self.seq += 1;
        rec!(self.j, "W {}", self.seq);
        (self.seq, make_value(self.id, self.seq))
    }

    /// Checks a value read from a cell, key or token: UNDEFINED where allowed, else a
    /// whole value; journals its id.
    fn check_read(&mut self, what: &str, v: &Value, undefined_ok: bool) {
        if undefined_ok && *v == Value::Undefined {
            return;
        }
        match validate(v) {
            Ok((w, s)) => rec!(self.j, "R {w} {s}"),
            Err(e) => self.fail(format!("{what}: {e}")),
        }
    }

    /// The timeout of a call that may legitimately time out: try once, or wait briefly.
    fn short(&mut self) -> Duration {
        if self.rng.below(4) == 0 {
            SHORT
        } else {
            Duration::ZERO
        }
    }

    fn unexpected(&mut self, what: &str, e: Error) {
        self.fail(format!("{what}: unexpected error: {e}"));
    }

    fn run(&mut self) {
        let mut paused_at = 0;
        loop {
            match self.o.ctl.read(0) {
                Ok(Value::Int(CTL_RUN)) => {}
                Ok(Value::Int(CTL_STOP)) => return,
                Ok(Value::Int(n)) if n > 0 => {
                    if n != paused_at {
                        paused_at = n;
                        rec!(self.j, "Y {}", plexus::recovered_locks());
                        rec!(self.j, "Z {n}");
                    }
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Ok(other) => {
                    self.fail(format!("control cell holds {other:?}"));
                    return;
                }
                Err(e) => {
                    self.unexpected("reading the control cell", e);
                    return;
                }
            }
            self.ops += 1;
            if self.ops == 5 && self.inject != "none" {
                self.inject_fault();
                rec!(self.j, "I");
            }
            if self.ops % 256 == 0 {
                rec!(self.j, "Y {}", plexus::recovered_locks());
            }
            match self.rng.below(136) {
                0..=9 => self.cell_write(),
                10..=19 => self.cell_read(),
                20..=23 => self.cell_cas(),
                24..=30 => self.token(),
                31..=37 => self.counter_faa(),
                38..=41 => self.hits_faa(),
                42..=49 => self.map_write(),
                50..=56 => self.map_read(),
                57..=59 => self.map_remove(),
                60..=71 => self.fifo_op(),
                72..=77 => self.lifo_op(),
                78..=82 => self.bus_publish(),
                83..=89 => self.bus_read(),
                90..=94 => self.mutex_op(),
                95..=98 => self.sem_op(),
                99..=103 => self.cell_rw_tag_version(),
                104..=108 => self.map_rw(),
                109..=113 => self.churn_object(),
                114..=116 => self.churn_region(),
                117..=122 => self.service_op(),
                123..=134 => self.frame_op(),
                _ => self.reattach(),
            }
        }
    }

    /// Self-test (`--inject`): does something wrong that the checks must catch.
    fn inject_fault(&mut self) {
        match self.inject.as_str() {
            "torn" => {
                // A value with one byte changed, as a torn write would leave it.
                let (_, v) = self.new_value();
                let v = match v {
                    Value::String(mut t) => {
                        t.push('!');
                        Value::String(t)
                    }
                    Value::Bytes(mut b) => {
                        b.push(1);
                        Value::Bytes(b)
                    }
                    Value::Int(i) => Value::Int(i ^ 1),
                    _ => Value::String(format!("{}:{}:torn", self.id, self.seq)),
                };
                let _ = self.o.cells.write_xf(0, v.as_ref());
                let _ = self.o.tokens.write_xf(0, v.as_ref());
            }
            "invented" => {
                // A value whose writer never journaled it.
                let v = make_value(self.id, self.seq + 1_000_000);
                let _ = self.o.tokens.write_xf(0, v.as_ref());
            }
            "lost-faa" => rec!(self.j, "F\nf -5"),
            "wrong-reply" => {
                // A server thread that answers every request it takes for 2 s with the
                // reply of another request, while this worker calls.
                let svc = self.o.svc.clone();
                let server = std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(2);
                    while Instant::now() < until {
                        if let Ok((id, v)) = svc.next(Some(Duration::from_millis(50))) {
                            if let Ok((w, s)) = validate(&v) {
                                let wrong = make_value(w, s + REPLY_SEQ + 1);
                                let _ = svc.reply(id, wrong.as_ref());
                            }
                        }
                    }
                });
                for _ in 0..20 {
                    let (s, v) = self.new_value();
                    let r = self
                        .o
                        .svc
                        .call(v.as_ref(), Some(Duration::from_millis(100)));
                    self.service_outcome(s, r);
                }
                let _ = server.join();
            }
            "dup-pop" => {
                // Push one (so that the queue is not empty), pop one, journal it twice.
                self.seq += 1;
                let s = self.seq;
                rec!(self.j, "P {s}");
                if self
                    .o
                    .fifo
                    .push(make_value(self.id, s).as_ref(), Some(self.timeout))
                    .is_ok()
                {
                    rec!(self.j, "p {s}");
                } else {
                    rec!(self.j, "px {s}");
                }
                if let Ok(v) = self.o.fifo.pop(Some(self.timeout)) {
                    if let Ok((w, s)) = validate(&v) {
                        rec!(self.j, "O\no {w} {s}\nO\no {w} {s}");
                    }
                }
            }
            "torn-frame" => {
                // A frame with one element changed, handed on as FULL: some block is
                // EMPTY within the timeout (readers consume them).
                let written = (0..FRAME_BLOCKS).any(|b| self.frame_write(b, Duration::ZERO, true));
                if !written {
                    self.frame_write(0, self.timeout, true);
                }
            }
            // Holds the mutex far beyond the others' timeout, alive.
            "wedge" if self.o.mutex.lock(Some(self.timeout)).is_ok() => {
                std::thread::sleep(self.timeout * 6);
                let _ = self.o.mutex.unlock();
            }
            _ => {}
        }
    }

    fn cell_write(&mut self) {
        let i = self.pick(CELLS);
        let (_, v) = self.new_value();
        let t0 = Instant::now();
        let how = self.rng.below(4);
        let r = match how {
            0 => self.o.cells.write(i, v.as_ref()).map(|_| None),
            1 => self.o.cells.write_xf(i, v.as_ref()).map(|_| None),
            2 => self.o.cells.write_xe(i, v.as_ref()).map(|_| None),
            _ => self.o.cells.exchange(i, v.as_ref()).map(Some),
        };
        self.late("cell write", t0, Duration::ZERO);
        match r {
            Ok(Some(old)) => self.check_read("cell exchange", &old, false),
            Ok(None) => {}
            Err(e) => self.unexpected("cell write", e),
        }
    }

    fn cell_read(&mut self) {
        let i = self.pick(CELLS);
        let t0 = Instant::now();
        if self.rng.below(2) == 0 {
            let r = self.o.cells.read(i);
            self.late("cell read", t0, Duration::ZERO);
            match r {
                Ok(v) => self.check_read("cell read", &v, false),
                Err(e) => self.unexpected("cell read", e),
            }
        } else {
            let short = self.short();
            let r = self.o.cells.read_ff(i, Some(short));
            self.late("cell read_ff", t0, short);
            match r {
                Ok(v) => self.check_read("cell read_ff", &v, false),
                Err(Error::Timeout) => {}
                Err(e) => self.unexpected("cell read_ff", e),
            }
        }
    }

    /// `read_rw` + `release_rw` (a reader killed while holding it must not block the
    /// writers), `set_tag` + `is_full`, or `wait_change`.
    fn cell_rw_tag_version(&mut self) {
        let i = self.pick(CELLS);
        let short = self.short();
        match self.rng.below(3) {
            0 => {
                let t0 = Instant::now();
                let r = self.o.cells.read_rw(i, Some(short));
                self.late("cell read_rw", t0, short);
                match r {
                    Ok(v) => {
                        self.check_read("cell read_rw", &v, false);
                        if self.rng.below(4) == 0 {
                            std::thread::yield_now();
                        }
                        if let Err(e) = self.o.cells.release_rw(i) {
                            self.unexpected("cell release_rw", e);
                        }
                    }
                    Err(Error::Timeout) => {}
                    Err(e) => self.unexpected("cell read_rw", e),
                }
            }
            1 => {
                let full = self.rng.below(2) == 0;
                let t0 = Instant::now();
                let r = self.o.cells.set_tag(i, full).and(self.o.cells.is_full(i));
                self.late("cell set_tag", t0, Duration::ZERO);
                if let Err(e) = r {
                    self.unexpected("cell set_tag / is_full", e);
                }
            }
            _ => {
                let t0 = Instant::now();
                let r = self.o.cells.version(i).and_then(|mut seen| {
                    let before = seen;
                    match self.o.cells.wait_change(i, &mut seen, Some(short)) {
                        Ok(()) if seen == before => Err(Error::Internal(format!(
                            "wait_change returned with the version unchanged ({seen})"
                        ))),
                        Ok(()) | Err(Error::Timeout) => Ok(()),
                        Err(e) => Err(e),
                    }
                });
                self.late("cell wait_change", t0, short);
                if let Err(e) = r {
                    self.unexpected("cell wait_change", e);
                }
            }
        }
    }

    /// `read_rw` + `release_rw` on a map key (a removal waits for the holders).
    fn map_rw(&mut self) {
        let k = key(self.pick(MAP_KEYS));
        let short = self.short();
        let t0 = Instant::now();
        let r = self.o.map.read_rw(&k, Some(short));
        self.late("map read_rw", t0, short);
        match r {
            Ok(v) => {
                self.check_read("map read_rw", &v, false);
                if self.rng.below(4) == 0 {
                    std::thread::yield_now();
                }
                if let Err(e) = self.o.map.release_rw(&k) {
                    self.unexpected("map release_rw", e);
                }
            }
            Err(Error::Timeout) => {}
            Err(e) => self.unexpected("map read_rw", e),
        }
    }

    fn cell_cas(&mut self) {
        let i = self.pick(CELLS);
        let Ok(seen) = self.o.cells.read(i) else {
            return self.fail("cell read before cas failed".into());
        };
        self.check_read("cell read", &seen, false);
        let (_, v) = self.new_value();
        let t0 = Instant::now();
        let r = self.o.cells.cas(i, seen.as_ref(), v.as_ref());
        self.late("cell cas", t0, Duration::ZERO);
        match r {
            Ok(old) => self.check_read("cell cas", &old, false),
            Err(e) => self.unexpected("cell cas", e),
        }
    }

    /// Token passing: take a FULL token element with `read_fe`, give it back with
    /// `write_ef`. Only the taker writes an EMPTY token element, so the `write_ef` must
    /// succeed at once.
    fn token(&mut self) {
        let i = self.pick(TOKENS);
        let short = self.short();
        let t0 = Instant::now();
        let r = self.o.tokens.read_fe(i, Some(short));
        self.late("token read_fe", t0, short);
        match r {
            Ok(v) => self.check_read("token read_fe", &v, false),
            Err(Error::Timeout) => return,
            Err(e) => return self.unexpected("token read_fe", e),
        }
        rec!(self.j, "T {i}");
        let (_, v) = self.new_value();
        let t0 = Instant::now();
        let r = self.o.tokens.write_ef(i, v.as_ref(), Some(self.timeout));
        self.late("token write_ef", t0, self.timeout);
        match r {
            Ok(()) => rec!(self.j, "t {i}"),
            Err(Error::Timeout) => self.fail(format!(
                "write_ef on token {i}, EMPTY and written only by its taker, timed out"
            )),
            Err(e) => self.unexpected("token write_ef", e),
        }
    }

    fn counter_faa(&mut self) {
        rec!(self.j, "F");
        let t0 = Instant::now();
        let r = if self.rng.below(2) == 0 {
            self.c_counter.faa()
        } else {
            self.o.counters.faa(0, ValueRef::Int(1))
        };
        self.late("counter faa", t0, Duration::ZERO);
        match r {
            Ok(Value::Int(old)) => rec!(self.j, "f {old}"),
            Ok(other) => self.fail(format!("counter faa returned {other:?}")),
            Err(e) => self.unexpected("counter faa", e),
        }
    }

    fn hits_faa(&mut self) {
        rec!(self.j, "H");
        let t0 = Instant::now();
        let r = self.o.map.faa(HITS, ValueRef::Int(1));
        self.late("map faa", t0, Duration::ZERO);
        match r {
            Ok(Value::Int(old)) => rec!(self.j, "h {old}"),
            Ok(other) => self.fail(format!("map faa returned {other:?}")),
            Err(e) => self.unexpected("map faa", e),
        }
    }

    fn map_write(&mut self) {
        let k = key(self.pick(MAP_KEYS));
        let (_, v) = self.new_value();
        let t0 = Instant::now();
        let r = match self.rng.below(4) {
            0 => self.o.map.write(&k, v.as_ref()).map(|_| None),
            1 => self.o.map.write_xf(&k, v.as_ref()).map(|_| None),
            2 => self.o.map.exchange(&k, v.as_ref()).map(Some),
            _ => {
                let seen = self.o.map.read(&k);
                match seen {
                    Ok(seen) => self.o.map.cas(&k, seen.as_ref(), v.as_ref()).map(Some),
                    Err(e) => Err(e),
                }
            }
        };
        self.late("map write", t0, Duration::ZERO);
        match r {
            Ok(Some(old)) => self.check_read("map exchange/cas", &old, true),
            Ok(None) => {}
            Err(e) => self.unexpected("map write", e),
        }
    }

    fn map_read(&mut self) {
        let k = key(self.pick(MAP_KEYS));
        let t0 = Instant::now();
        if self.rng.below(3) == 0 {
            let short = self.short();
            let r = self.o.map.read_ff(&k, Some(short));
            self.late("map read_ff", t0, short);
            match r {
                Ok(v) => self.check_read("map read_ff", &v, false),
                Err(Error::Timeout) => {}
                Err(e) => self.unexpected("map read_ff", e),
            }
        } else {
            let r = self.o.map.read(&k);
            self.late("map read", t0, Duration::ZERO);
            match r {
                Ok(v) => self.check_read("map read", &v, true),
                Err(e) => self.unexpected("map read", e),
            }
        }
        if self.rng.below(50) == 0 {
            let t0 = Instant::now();
            let r = self.o.map.keys();
            self.late("map keys", t0, Duration::ZERO);
            match r {
                Ok(keys) if keys.len() as u64 > MAP_KEYS + 1 => {
                    self.fail(format!("map lists {} keys", keys.len()))
                }
                Ok(keys) => {
                    let distinct: HashSet<&String> = keys.iter().collect();
                    if distinct.len() != keys.len() {
                        self.fail(format!("map iteration repeated a key: {keys:?}"));
                    }
                }
                Err(e) => self.unexpected("map keys", e),
            }
        }
    }

    fn map_remove(&mut self) {
        let k = key(self.pick(MAP_KEYS));
        let t0 = Instant::now();
        let r = self.o.map.remove(&k);
        self.late("map remove", t0, Duration::ZERO);
        match r {
            Ok(()) | Err(Error::NotFound(_)) => {}
            Err(e) => self.unexpected("map remove", e),
        }
    }

    /// Push when the queue is less than half full, else pop (with some randomness),
    /// never pushing into a nearly full queue nor popping an empty one.
    fn queue_op(&mut self, lifo: bool) {
        let q = if lifo { &self.o.lifo } else { &self.o.fifo };
        let cap = q.capacity();
        let len = match q.len() {
            Ok(n) => n,
            Err(e) => return self.unexpected("queue len", e),
        };
        let want_push = if self.rng.below(4) == 0 {
            self.rng.below(2) == 0
        } else {
            len < cap / 2
        };
        let push = if len == 0 {
            true
        } else if len + QUEUE_MARGIN >= cap {
            false
        } else {
            want_push
        };
        let (tag, name) = if lifo { ("L", "lifo") } else { ("P", "fifo") };
        let q = q.clone();
        // One call in three is a batch (push_many of 1-8 values, pop_many of up to 8).
        if self.rng.below(3) == 0 {
            return self.queue_batch_op(&q, lifo, push, len);
        }
        if push {
            self.seq += 1;
            let s = self.seq;
            rec!(self.j, "{tag} {s}");
            let v = make_value(self.id, s);
            let t0 = Instant::now();
            let r = q.push(v.as_ref(), Some(self.timeout));
            self.late(&format!("{name} push"), t0, self.timeout);
            let lower = tag.to_ascii_lowercase();
            match r {
                Ok(()) => rec!(self.j, "{lower} {s}"),
                Err(e) => {
                    rec!(self.j, "{lower}x {s}");
                    let after = q.len().unwrap_or(cap);
                    if e != Error::Timeout {
                        self.unexpected(&format!("{name} push"), e);
                    } else if len + QUEUE_MARGIN <= cap && after + QUEUE_MARGIN <= cap {
                        self.fail(format!(
                            "{name} push timed out with room in the queue ({len} then {after} of {cap})"
                        ));
                    }
                }
            }
        } else {
            let (begin, got, none) = if lifo {
                ("K", "k", "kx")
            } else {
                ("O", "o", "ox")
            };
            rec!(self.j, "{begin}");
            let t0 = Instant::now();
            let r = q.pop(Some(self.timeout));
            self.late(&format!("{name} pop"), t0, self.timeout);
            match r {
                Ok(v) => match validate(&v) {
                    Ok((w, s)) => {
                        rec!(self.j, "{got} {w} {s}");
                        if !lifo {
                            let last = self.fifo_last.insert(w, s).unwrap_or(0);
                            if s <= last {
                                self.fail(format!("fifo order: popped {w}:{s} after {w}:{last}"));
                            }
                        }
                    }
                    Err(e) => {
                        rec!(self.j, "{none}");
                        self.fail(format!("{name} pop: {e}"));
                    }
                },
                Err(e) => {
                    rec!(self.j, "{none}");
                    let after = q.len().unwrap_or(0);
                    if e != Error::Timeout {
                        self.unexpected(&format!("{name} pop"), e);
                    } else if len >= QUEUE_MARGIN && after >= QUEUE_MARGIN {
                        self.fail(format!(
                            "{name} pop timed out while the queue held values ({len} then {after})"
                        ));
                    }
                }
            }
        }
    }

    /// A push_many or pop_many (see `queue_op`), journaled value by value.
    fn queue_batch_op(&mut self, q: &Queue, lifo: bool, push: bool, len: u64) {
        let cap = q.capacity();
        let name = if lifo { "lifo" } else { "fifo" };
        if push {
            // Never more than the room above the margin.
            let room = cap.saturating_sub(len + QUEUE_MARGIN).max(1);
            let n = (1 + self.rng.below(8)).min(room);
            let first = self.seq + 1;
            self.seq += n;
            rec!(self.j, "{} {first} {n}", if lifo { "LM" } else { "PM" });
            let values: Vec<Value> = (first..first + n).map(|s| make_value(self.id, s)).collect();
            let refs: Vec<ValueRef<'_>> = values.iter().map(Value::as_ref).collect();
            let t0 = Instant::now();
            let (k, r) = q.push_many(&refs, Some(self.timeout));
            self.late(&format!("{name} push_many"), t0, self.timeout);
            rec!(self.j, "{} {first} {n} {k}", if lifo { "lm" } else { "pm" });
            match r {
                Ok(()) if k as u64 == n => {}
                Ok(()) => self.fail(format!("{name} push_many: OK after {k} of {n}")),
                Err(e) => {
                    let after = q.len().unwrap_or(cap);
                    if e != Error::Timeout {
                        self.unexpected(&format!("{name} push_many"), e);
                    } else if len + QUEUE_MARGIN + n <= cap && after + QUEUE_MARGIN + n <= cap {
                        self.fail(format!(
                            "{name} push_many of {n} timed out after {k} with room in the queue ({len} then {after} of {cap})"
                        ));
                    }
                }
            }
            return;
        }
        let max = 1 + self.rng.below(8);
        rec!(self.j, "{} {max}", if lifo { "KM" } else { "OM" });
        let t0 = Instant::now();
        let r = q.pop_many(max as usize, Some(self.timeout));
        self.late(&format!("{name} pop_many"), t0, self.timeout);
        match r {
            Ok(values) => {
                if values.is_empty() || values.len() as u64 > max {
                    self.fail(format!(
                        "{name} pop_many({max}) returned {} values",
                        values.len()
                    ));
                }
                let mut ids = String::new();
                let mut bad = Vec::new();
                for v in &values {
                    match validate(v) {
                        Ok((w, s)) => {
                            ids.push_str(&format!(" {w} {s}"));
                            if !lifo {
                                let last = self.fifo_last.insert(w, s).unwrap_or(0);
                                if s <= last {
                                    bad.push(format!(
                                        "fifo order: popped {w}:{s} after {w}:{last}"
                                    ));
                                }
                            }
                        }
                        Err(e) => bad.push(format!("{name} pop_many: {e}")),
                    }
                }
                rec!(self.j, "{}{ids}", if lifo { "km" } else { "om" });
                for b in bad {
                    self.fail(b);
                }
            }
            Err(e) => {
                rec!(self.j, "{}", if lifo { "kmx" } else { "omx" });
                let after = q.len().unwrap_or(0);
                if e != Error::Timeout {
                    self.unexpected(&format!("{name} pop_many"), e);
                } else if len >= QUEUE_MARGIN && after >= QUEUE_MARGIN {
                    self.fail(format!(
                        "{name} pop_many timed out while the queue held values ({len} then {after})"
                    ));
                }
            }
        }
    }

    fn fifo_op(&mut self) {
        self.queue_op(false)
    }

    fn lifo_op(&mut self) {
        self.queue_op(true)
    }

    fn bus_publish(&mut self) {
        self.seq += 1;
        let s = self.seq;
        rec!(self.j, "B {s}");
        let v = make_value(self.id, s);
        let t0 = Instant::now();
        let r = self.o.bus.publish(v.as_ref());
        self.late("bus publish", t0, Duration::ZERO);
        match r {
            Ok(seq) => rec!(self.j, "b {s} {seq}"),
            Err(e) => self.unexpected("bus publish", e),
        }
    }

    fn bus_read(&mut self) {
        for _ in 0..4 {
            let before = self.o.bus.next_seq().unwrap_or(0);
            let pos = self.sub.position();
            let short = self.short();
            let t0 = Instant::now();
            let r = self.sub.next(Some(short));
            self.late("bus next", t0, short);
            match r {
                Ok((v, seq)) => {
                    if seq <= self.last_bus_seq {
                        self.fail(format!(
                            "bus delivered seq {seq} after seq {}",
                            self.last_bus_seq
                        ));
                    }
                    self.last_bus_seq = seq;
                    match validate(&v) {
                        Ok((w, s)) => rec!(self.j, "r {w} {s} {seq}"),
                        Err(e) => self.fail(format!("bus message {seq}: {e}")),
                    }
                }
                Err(Error::Timeout) => {
                    let after = self.o.bus.next_seq().unwrap_or(0);
                    if before > pos && after > pos {
                        self.fail(format!(
                            "bus next timed out at position {pos} with messages up to {} published",
                            after - 1
                        ));
                    }
                    return;
                }
                Err(e) => return self.unexpected("bus next", e),
            }
        }
    }

    /// Services: half the time a call, half the time serving one request. A caller's
    /// request is a new value (journaled `W s` before, `q s <outcome>` after; the server
    /// journals `R w s`, so a request never written is caught as any read is); its
    /// reply must be the value (w, s + REPLY_SEQ) or the error `refused w s` (a server
    /// refuses one request in five), so a reply mixed up with another request's, torn,
    /// or invented fails. Timeouts are legitimate (no server may be in `next` then), and
    /// so is OWNER_DEAD (the server was killed holding the request); every call returns
    /// within its timeout plus the slack (a caller never waits for a dead server).
    fn service_op(&mut self) {
        if self.rng.below(2) == 0 {
            let short = self.short();
            let t0 = Instant::now();
            let r = self.o.svc.next(Some(short));
            self.late("service next", t0, short);
            let (id, v) = match r {
                Ok(taken) => taken,
                Err(Error::Timeout) => return,
                Err(e) => return self.unexpected("service next", e),
            };
            let (w, s) = match validate(&v) {
                Ok(ws) => ws,
                Err(e) => return self.fail(format!("service request: {e}")),
            };
            rec!(self.j, "R {w} {s}"); // a request its caller journaled (W) before
            let t0 = Instant::now();
            let r = if s % 5 == 0 {
                self.o.svc.reply_error(id, &format!("refused {w} {s}"))
            } else {
                self.o.svc.reply(id, make_value(w, s + REPLY_SEQ).as_ref())
            };
            self.late("service reply", t0, Duration::ZERO);
            if let Err(e) = r {
                self.unexpected("service reply", e);
            }
            return;
        }
        let (s, v) = self.new_value();
        let short = self.short();
        let t0 = Instant::now();
        let r = self.o.svc.call(v.as_ref(), Some(short));
        self.late("service call", t0, short);
        self.service_outcome(s, r);
    }

    /// A mid-frame dwell: a widened worker sleeps, others yield now and then.
    fn frame_dwell(dwell: Option<Duration>, yield_now: bool) {
        match dwell {
            Some(d) => std::thread::sleep(d),
            None if yield_now => std::thread::yield_now(),
            None => {}
        }
    }

    /// Typed array blocks: write a frame into an EMPTY block or consume a FULL one, with a
    /// short timeout (another worker may hold the block, or it may be in the other state).
    fn frame_op(&mut self) {
        let b = self.pick(FRAME_BLOCKS);
        let short = self.short();
        if self.rng.below(2) == 0 {
            self.frame_write(b, short, false);
        } else {
            self.frame_read(b, short);
        }
    }

    /// `begin_write`, the frame's elements (journaled `A b s` once the block is held),
    /// `end_write` (journaled `a b s` when it returned OK: the frame must be consumed).
    /// Returns whether it wrote.
    fn frame_write(&mut self, b: u64, timeout: Duration, torn: bool) -> bool {
        let t0 = Instant::now();
        let r = self.o.frames.begin_write(b, Some(timeout));
        self.late("tarray begin_write", t0, timeout);
        let p = match r {
            Ok((p, FRAME_LEN)) => p,
            Ok((_, n)) => {
                self.fail(format!("tarray begin_write of block {b}: {n} elements"));
                return false;
            }
            Err(Error::Timeout) => return false,
            Err(e) => {
                self.unexpected("tarray begin_write", e);
                return false;
            }
        };
        self.seq += 1;
        let s = self.seq;
        rec!(self.j, "A {b} {s}");
        let (dwell, yield_now) = (self.dwell, self.rng.below(4) == 0);
        write_frame(p, self.id, s, b, torn, || {
            Self::frame_dwell(dwell, yield_now)
        });
        let t0 = Instant::now();
        let r = self.o.frames.end_write(b);
        self.late("tarray end_write", t0, Duration::ZERO);
        match r {
            Ok(()) => rec!(self.j, "a {b} {s}"),
            Err(e) => {
                rec!(self.j, "ax {b} {s}");
                self.unexpected("tarray end_write", e);
            }
        }
        true
    }

    /// `begin_read` (journaled `Q b` once the block is held), a check of the whole frame
    /// (journaled `R w s`, then `G` before `end_read`), `end_read` (journaled `g w s`
    /// when it returned OK: consumed).
    fn frame_read(&mut self, b: u64, timeout: Duration) {
        let t0 = Instant::now();
        let r = self.o.frames.begin_read(b, Some(timeout));
        self.late("tarray begin_read", t0, timeout);
        let (p, n) = match r {
            Ok(x) => x,
            Err(Error::Timeout) => return,
            Err(e) => return self.unexpected("tarray begin_read", e),
        };
        rec!(self.j, "Q {b}");
        let data = if n == FRAME_LEN {
            let (dwell, yield_now) = (self.dwell, self.rng.below(4) == 0);
            read_frame(p, || Self::frame_dwell(dwell, yield_now))
        } else {
            Vec::new()
        };
        let id = match validate_frame(&data, b) {
            Ok((w, s)) => {
                rec!(self.j, "R {w} {s}\nG");
                Some((w, s))
            }
            Err(e) => {
                self.fail(format!("tarray block read as FULL: {e}"));
                None
            }
        };
        let t0 = Instant::now();
        let r = self.o.frames.end_read(b);
        self.late("tarray end_read", t0, Duration::ZERO);
        match (r, id) {
            (Ok(()), Some((w, s))) => rec!(self.j, "g {w} {s}"),
            (Ok(()), None) => rec!(self.j, "gn"),
            (Err(e), _) => {
                rec!(self.j, "gx");
                self.unexpected("tarray end_read", e);
            }
        }
    }

    /// Checks (and journals) what this worker's call of request `s` returned: the reply
    /// derived from its own request, or the error reply derived from it; TIMEOUT and
    /// OWNER_DEAD are legitimate.
    fn service_outcome(&mut self, s: u64, r: plexus::Result<Value>) {
        match r {
            Ok(reply) => match validate(&reply) {
                Ok((w, rs)) if w == self.id && rs == s + REPLY_SEQ && s % 5 != 0 => {
                    rec!(self.j, "q {s} ok")
                }
                Ok((w, rs)) => self.fail(format!(
                    "service call ({}, {s}) got the reply ({w}, {rs})",
                    self.id
                )),
                Err(e) => self.fail(format!("service reply: {e}")),
            },
            Err(Error::Service(m)) if m == format!("refused {} {s}", self.id) && s % 5 == 0 => {
                rec!(self.j, "q {s} refused")
            }
            Err(Error::Service(m)) => self.fail(format!(
                "service call ({}, {s}) got the error {m:?}",
                self.id
            )),
            Err(Error::Timeout) => rec!(self.j, "q {s} timeout"),
            Err(Error::OwnerDead) => rec!(self.j, "q {s} dead"),
            Err(e) => self.unexpected("service call", e),
        }
    }

    /// The mutex protects the pair `guard[0] == guard[1]`: a holder bumps one, then the
    /// other. A clean acquire must find them equal; one from a dead holder repairs them.
    fn mutex_op(&mut self) {
        let t0 = Instant::now();
        let r = self.o.mutex.lock(Some(self.timeout));
        self.late("mutex lock", t0, self.timeout);
        let recovered = match r {
            Ok(plexus::Acquired::Clean) => false,
            Ok(plexus::Acquired::Recovered) => true,
            Err(Error::Timeout) => {
                return self.fail("mutex lock timed out (holders hold it for microseconds)".into())
            }
            Err(e) => return self.unexpected("mutex lock", e),
        };
        let g = (self.o.guard.read(0), self.o.guard.read(1));
        let (a, b) = match g {
            (Ok(Value::Int(a)), Ok(Value::Int(b))) => (a, b),
            other => {
                self.fail(format!("guard pair unreadable: {other:?}"));
                let _ = self.o.mutex.unlock();
                return;
            }
        };
        if recovered {
            rec!(self.j, "D");
        } else if a != b {
            self.fail(format!(
                "mutex acquired cleanly but the pair it protects differs ({a} vs {b})"
            ));
        }
        let n = a.wrapping_add(1);
        let w0 = self.o.guard.write(0, ValueRef::Int(n));
        if self.rng.below(4) == 0 {
            std::thread::yield_now();
        }
        let w1 = self.o.guard.write(1, ValueRef::Int(n));
        if let Err(e) = w0.and(w1) {
            self.unexpected("guard write", e);
        }
        let t0 = Instant::now();
        let r = self.o.mutex.unlock();
        self.late("mutex unlock", t0, Duration::ZERO);
        if let Err(e) = r {
            self.unexpected("mutex unlock", e);
        }
    }

    /// Inside the semaphore, each holder claims one of `SEM_PERMITS` slots (the
    /// controller frees the slot of a worker it kills): finding them all taken by others
    /// for a second means more holders than permits.
    fn sem_op(&mut self) {
        let t0 = Instant::now();
        let r = self.o.sem.acquire(Some(self.timeout));
        self.late("semaphore acquire", t0, self.timeout);
        match r {
            Ok(()) => {}
            Err(Error::Timeout) => {
                return self
                    .fail("semaphore acquire timed out (holders hold it for microseconds)".into())
            }
            Err(e) => return self.unexpected("semaphore acquire", e),
        }
        let me = ValueRef::Int(self.id as i64);
        let t0 = Instant::now();
        let mut slot = None;
        while slot.is_none() && t0.elapsed() < Duration::from_secs(1) + self.slack {
            for i in 0..SEM_PERMITS as u64 {
                match self.o.semslot.cas(i, ValueRef::Null, me) {
                    Ok(Value::Null) => {
                        slot = Some(i);
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.unexpected("semslot cas", e);
                        break;
                    }
                }
            }
            if slot.is_none() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        match slot {
            Some(i) => {
                if self.rng.below(4) == 0 {
                    std::thread::yield_now();
                }
                match self.o.semslot.cas(i, me, ValueRef::Null) {
                    Ok(Value::Int(x)) if x == self.id as i64 => {}
                    other => self.fail(format!("semslot {i} changed under its holder: {other:?}")),
                }
            }
            None => {
                let held: Vec<_> = (0..SEM_PERMITS as u64)
                    .map(|i| self.o.semslot.read(i))
                    .collect();
                self.fail(format!(
                    "semaphore of {SEM_PERMITS} permits admitted a holder while the slots stayed held by {held:?}"
                ));
            }
        }
        let t0 = Instant::now();
        let r = self.o.sem.release();
        self.late("semaphore release", t0, Duration::ZERO);
        if let Err(e) = r {
            self.unexpected("semaphore release", e);
        }
    }

    /// Attaches to the region a second time and detaches (process-table churn), reading
    /// the region's statistics.
    /// Works on, removes or creates again one of the objects `churn-N`: every call ends
    /// in OK or in an outcome that removal explains (REMOVED, NOT_FOUND, TYPE_MISMATCH for
    /// a name now of another kind), every value read is whole (a body reclaimed under a
    /// holder would show here, or as corruption to the region checker).
    fn churn_object(&mut self) {
        let n = self.rng.below(CHURN_OBJECTS);
        let name = format!("churn-{n}");
        let t0 = Instant::now();
        let what = self.rng.below(16);
        if what == 0 {
            match self.o.region.remove_object(&name) {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(e) => self.unexpected("remove_object", e),
            }
            self.late("remove_object", t0, Duration::ZERO);
            return;
        }
        if what == 1 {
            self.churn.remove(&n); // let go of it (the last holder reclaims a removed one)
            return;
        }
        if !self.churn.contains_key(&n) {
            let r = &self.o.region;
            let opened = match self.rng.below(3) {
                0 => r.array(&name, 8, 0).map(Churned::Array),
                1 => r.map(&name, 16, 0).map(Churned::Map),
                _ => r.queue(&name, 8, 0).map(Churned::Queue),
            };
            self.late("opening a churn object", t0, Duration::ZERO);
            match opened {
                Ok(c) => {
                    self.churn.insert(n, c);
                }
                Err(Error::TypeMismatch(_) | Error::Removed(_)) => return,
                Err(e) => return self.unexpected("opening a churn object", e),
            }
        }
        let write = self.rng.below(2) == 0;
        let (_, v) = self.new_value();
        let i = self.rng.below(8);
        let k = key(self.rng.below(8));
        let got = match &self.churn[&n] {
            Churned::Array(a) if write => a.write(i, v.as_ref()).map(|_| None),
            Churned::Array(a) => a.read(i).map(Some),
            Churned::Map(m) if write => m.write(&k, v.as_ref()).map(|_| None),
            Churned::Map(m) => m.read(&k).map(Some),
            Churned::Queue(q) if write => q.push(v.as_ref(), Some(Duration::ZERO)).map(|_| None),
            Churned::Queue(q) => q.pop(Some(Duration::ZERO)).map(Some),
        };
        self.late("a call on a churn object", t0, Duration::ZERO);
        match got {
            Ok(Some(v)) => self.check_read("churn object", &v, true),
            Ok(None) | Err(Error::Timeout) => {}
            Err(Error::Removed(_)) => {
                self.churn.remove(&n);
            }
            Err(e) => self.unexpected("a call on a churn object", e),
        }
    }

    /// Works on, removes or RECREATEs the region `<region>-churn`: a handle on a region
    /// that was removed or replaced gets REMOVED and opens it again by name.
    fn churn_region(&mut self) {
        let name = churn_region_name(self.o.region.name());
        let t0 = Instant::now();
        let opts = |mode| OpenOptions {
            mode,
            size: 1 << 20,
            ..OpenOptions::default()
        };
        match self.rng.below(12) {
            0 => {
                self.churn_region = None;
                match Region::remove(&name) {
                    Ok(()) | Err(Error::NotFound(_)) => {}
                    Err(e) => self.unexpected("removing the churn region", e),
                }
                self.late("removing the churn region", t0, Duration::ZERO);
                return;
            }
            1 => {
                self.churn_region = None;
                match Region::open(&name, &opts(OpenMode::Recreate))
                    .and_then(|r| Ok((r.array("a", 4, 0)?, r)))
                {
                    Ok((a, r)) => self.churn_region = Some((r, a)),
                    Err(Error::Removed(_)) => {}
                    Err(e) => self.unexpected("recreating the churn region", e),
                }
                self.late("recreating the churn region", t0, Duration::ZERO);
                return;
            }
            _ => {}
        }
        if self.churn_region.is_none() {
            match Region::open(&name, &opts(OpenMode::OpenOrCreate))
                .and_then(|r| Ok((r.array("a", 4, 0)?, r)))
            {
                Ok((a, r)) => self.churn_region = Some((r, a)),
                Err(Error::Removed(_)) => return,
                Err(e) => return self.unexpected("opening the churn region", e),
            }
        }
        let (_, v) = self.new_value();
        let i = self.rng.below(4);
        let got = {
            let (_, a) = self.churn_region.as_ref().expect("opened above");
            if self.rng.below(2) == 0 {
                a.write(i, v.as_ref()).map(|_| None)
            } else {
                a.read(i).map(Some)
            }
        };
        self.late("a call in the churn region", t0, Duration::ZERO);
        match got {
            Ok(Some(v)) => self.check_read("churn region", &v, true),
            Ok(None) => {}
            Err(Error::Removed(_)) => self.churn_region = None,
            Err(e) => self.unexpected("a call in the churn region", e),
        }
    }

    fn reattach(&mut self) {
        let t0 = Instant::now();
        let opts = OpenOptions {
            mode: OpenMode::Open,
            ..OpenOptions::default()
        };
        let r = Region::open(self.o.region.name(), &opts).and_then(|r| r.info());
        self.late("region reopen", t0, Duration::ZERO);
        match r {
            Ok(info) if info.attached_processes as u64 > 3 * self.workers + 4 => {
                self.fail(format!(
                    "{} attachments with {} workers",
                    info.attached_processes, self.workers
                ))
            }
            Ok(_) => {}
            Err(e) => self.unexpected("region reopen", e),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Controller: journal analysis.

/// What the controller learned from the journals so far (parsed incrementally).
#[derive(Default)]
struct Facts {
    /// Highest sequence number each writer journaled an intent for.
    max_intent: HashMap<u64, u64>,
    /// Reads whose writer's intent was not parsed yet when they were: checked against
    /// `max_intent` once every journal is parsed.
    reads: Vec<(u64, u64, &'static str)>,
    fifo: QueueFacts,
    lifo: QueueFacts,
    /// Typed array frames: "pushed" = `end_write` returned OK, "delivered" = consumed
    /// (`end_read` returned OK after the frame checked whole).
    frames: QueueFacts,
    /// Blocks found held (WRITING or READING) by a dead worker at a pause, taken back.
    frames_recovered: u64,
    /// Workers killed while holding a block for reading.
    frame_readers_killed: u64,
    counter: CounterFacts,
    hits: CounterFacts,
    /// Bus: seq -> (writer, s) published, and the first id a subscriber read there.
    bus_published: HashMap<u64, (u64, u64)>,
    bus_read: HashMap<u64, (u64, u64)>,
    bus_reads: u64,
    owner_dead: u64,
    /// Calls that returned more than 100 ms after their timeout, and the slowest (ms over
    /// its timeout, which call).
    slow_calls: u64,
    slowest: (u64, String),
    /// Workers that dwelt in the middle of pushes, pops and publishes.
    widened: u64,
    /// `--inject`: the injector journaled that it did its deed.
    injected: bool,
    /// Sum over workers of `plexus::recovered_locks()` (last value each journaled).
    recovered: u64,
    /// Leaked heap blocks allowed beyond 3 per worker: the values of the batches cut by
    /// kills, but one.
    batch_leaks_allowed: u64,
    ops: u64,
    failures: Vec<String>,
}

#[derive(Default)]
struct QueueFacts {
    /// Pushes whose call returned OK / failed, by id.
    pushed: HashSet<u64>,
    push_failed: HashSet<u64>,
    push_intents: u64,
    /// Deliveries (pops journaled, and the final drain), by id, with the count.
    delivered: HashMap<u64, u32>,
    /// Values that consumers killed inside a pop may have taken with them (one per pop,
    /// `max` per pop_many).
    pops_in_flight_at_death: u64,
    pushes_in_flight_at_death: u64,
}

#[derive(Default)]
struct CounterFacts {
    completed: u64,
    in_flight_at_death: u64,
    /// Bitmap of the old values returned (they are small and dense).
    olds: Vec<u64>,
    max_old: i64,
    bad_olds: u64,
    duplicate_olds: u64,
}

impl CounterFacts {
    fn done(&mut self, old: i64) {
        self.completed += 1;
        if !(0..1 << 40).contains(&old) {
            self.bad_olds += 1;
            return;
        }
        self.max_old = self.max_old.max(old);
        let (word, bit) = ((old / 64) as usize, old % 64);
        if word >= self.olds.len() {
            self.olds.resize(word + 1024, 0);
        }
        if self.olds[word] & 1 << bit != 0 {
            self.duplicate_olds += 1;
        }
        self.olds[word] |= 1 << bit;
    }
    /// Checks the counter's value against the journals.
    fn check(&self, what: &str, value: i64, failures: &mut Vec<String>) {
        let lo = self.completed as i64;
        let hi = lo + self.in_flight_at_death as i64;
        if value < lo || value > hi {
            failures.push(format!(
                "{what} = {value}, but {lo} increments completed and {} were in flight when their worker died",
                self.in_flight_at_death
            ));
        }
        if self.duplicate_olds > 0 {
            failures.push(format!(
                "{what}: {} faa calls returned an old value another call also returned",
                self.duplicate_olds
            ));
        }
        if self.completed > 0 && self.max_old >= value {
            failures.push(format!(
                "{what}: faa returned {}, but the counter is {value}",
                self.max_old
            ));
        }
        if self.bad_olds > 0 {
            failures.push(format!(
                "{what}: {} faa calls returned a negative or huge old value",
                self.bad_olds
            ));
        }
    }
}

/// Parse state of one worker's journal.
#[derive(Default)]
struct JournalState {
    offset: u64,
    /// Records seen: the last one, and whether the worker is inside these calls.
    last: String,
    in_counter: bool,
    in_hits: bool,
    /// Values the worker may be taking (a pop: 1; a pop_many: its `max`) or pushing
    /// (a push: 1; a push_many: the batch) right now.
    in_fifo_pop: u64,
    in_lifo_pop: u64,
    in_fifo_push: u64,
    in_lifo_push: u64,
    /// Inside a frame's write (`A` seen, `a` not yet) or its `end_read` (`G`, not `g`).
    in_frame_write: u64,
    in_frame_read: u64,
    /// Holding a block for reading (`Q` seen, `g`, `gx` or `gn` not yet).
    holding_frame_read: u64,
    paused: i64,
    recovered: u64,
    started: bool,
    exited: bool,
}

/// A value id (writer < 2^19, sequence number < 2^32) in one word.
fn pack(w: u64, s: u64) -> u64 {
    w << 32 | (s & 0xffff_ffff)
}

fn unpack(id: u64) -> String {
    format!("{}:{}", id >> 32, id & 0xffff_ffff)
}

fn parse_id(it: &mut std::str::SplitAsciiWhitespace<'_>) -> Option<u64> {
    it.next()?.parse().ok()
}

impl Facts {
    fn intent(&mut self, w: u64, s: u64) {
        let e = self.max_intent.entry(w).or_insert(0);
        *e = (*e).max(s);
    }

    /// Parses what was appended to worker `w`'s journal since the last call (whole lines,
    /// up to the first zero byte).
    fn absorb(&mut self, dir: &Path, w: u64, st: &mut JournalState) {
        let Ok(mut f) = File::open(journal_path(dir, w)) else {
            return;
        };
        if f.seek(SeekFrom::Start(st.offset)).is_err() {
            return;
        }
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let data = &buf[..n];
            let valid = data.iter().position(|&b| b == 0).unwrap_or(n);
            let Some(end) = data[..valid].iter().rposition(|&b| b == b'\n') else {
                return;
            };
            st.offset += end as u64 + 1;
            for line in String::from_utf8_lossy(&data[..=end]).lines() {
                self.record(w, st, line);
            }
            if valid < n || f.seek(SeekFrom::Start(st.offset)).is_err() {
                return;
            }
        }
    }

    fn record(&mut self, w: u64, st: &mut JournalState, line: &str) {
        let mut it = line.split_ascii_whitespace();
        let Some(tag) = it.next() else { return };
        match tag {
            "W" | "P" | "L" | "B" => {
                if let Some(s) = parse_id(&mut it) {
                    self.intent(w, s);
                    self.ops += 1;
                    match tag {
                        "P" => {
                            self.fifo.push_intents += 1;
                            st.in_fifo_push = 1;
                        }
                        "L" => {
                            self.lifo.push_intents += 1;
                            st.in_lifo_push = 1;
                        }
                        _ => {}
                    }
                }
            }
            "R" => {
                if let (Some(a), Some(b)) = (parse_id(&mut it), parse_id(&mut it)) {
                    self.read_seen(a, b, "read");
                }
            }
            "p" | "l" | "px" | "lx" => {
                if let Some(s) = parse_id(&mut it) {
                    let q = if tag.starts_with('p') {
                        &mut self.fifo
                    } else {
                        &mut self.lifo
                    };
                    if tag.ends_with('x') {
                        q.push_failed.insert(pack(w, s));
                    } else {
                        q.pushed.insert(pack(w, s));
                    }
                    if tag.starts_with('p') {
                        st.in_fifo_push = 0;
                    } else {
                        st.in_lifo_push = 0;
                    }
                }
            }
            "O" => {
                st.in_fifo_pop = 1;
                self.ops += 1;
            }
            "K" => {
                st.in_lifo_pop = 1;
                self.ops += 1;
            }
            // Batches: `PM s n` / `LM s n` (values s, s+1, ... s+n-1 about to be pushed),
            // then `pm s n k` / `lm s n k` (the first k went in, the others did not);
            // `OM max` / `KM max` (a pop_many), then `om w s w s ...` / `km ...` (what it
            // returned) or `omx` / `kmx`.
            "PM" | "LM" => {
                if let (Some(s), Some(n)) = (parse_id(&mut it), parse_id(&mut it)) {
                    self.intent(w, s + n.saturating_sub(1));
                    self.ops += 1;
                    if tag == "PM" {
                        self.fifo.push_intents += n;
                        st.in_fifo_push = n;
                    } else {
                        self.lifo.push_intents += n;
                        st.in_lifo_push = n;
                    }
                }
            }
            "pm" | "lm" => {
                if let (Some(s), Some(n), Some(k)) =
                    (parse_id(&mut it), parse_id(&mut it), parse_id(&mut it))
                {
                    let q = if tag == "pm" {
                        st.in_fifo_push = 0;
                        &mut self.fifo
                    } else {
                        st.in_lifo_push = 0;
                        &mut self.lifo
                    };
                    for x in s..s + n {
                        if x < s + k {
                            q.pushed.insert(pack(w, x));
                        } else {
                            q.push_failed.insert(pack(w, x));
                        }
                    }
                }
            }
            "OM" | "KM" => {
                let max = parse_id(&mut it).unwrap_or(1);
                if tag == "OM" {
                    st.in_fifo_pop = max;
                } else {
                    st.in_lifo_pop = max;
                }
                self.ops += 1;
            }
            "om" | "km" => {
                let fifo = tag == "om";
                while let (Some(a), Some(b)) = (parse_id(&mut it), parse_id(&mut it)) {
                    let q = if fifo { &mut self.fifo } else { &mut self.lifo };
                    *q.delivered.entry(pack(a, b)).or_insert(0) += 1;
                    self.read_seen(a, b, "queue pop_many");
                }
                if fifo {
                    st.in_fifo_pop = 0;
                } else {
                    st.in_lifo_pop = 0;
                }
            }
            "omx" => st.in_fifo_pop = 0,
            "kmx" => st.in_lifo_pop = 0,
            "o" | "k" => {
                if let (Some(a), Some(b)) = (parse_id(&mut it), parse_id(&mut it)) {
                    let q = if tag == "o" {
                        &mut self.fifo
                    } else {
                        &mut self.lifo
                    };
                    *q.delivered.entry(pack(a, b)).or_insert(0) += 1;
                    self.read_seen(a, b, "queue pop");
                }
                if tag == "o" {
                    st.in_fifo_pop = 0;
                } else {
                    st.in_lifo_pop = 0;
                }
            }
            "ox" => st.in_fifo_pop = 0,
            "kx" => st.in_lifo_pop = 0,
            "F" => {
                st.in_counter = true;
                self.ops += 1;
            }
            "f" => {
                st.in_counter = false;
                if let Some(old) = it.next().and_then(|x| x.parse().ok()) {
                    self.counter.done(old);
                }
            }
            "H" => {
                st.in_hits = true;
                self.ops += 1;
            }
            "h" => {
                st.in_hits = false;
                if let Some(old) = it.next().and_then(|x| x.parse().ok()) {
                    self.hits.done(old);
                }
            }
            "b" => {
                if let (Some(s), Some(seq)) = (parse_id(&mut it), parse_id(&mut it)) {
                    if let Some(prev) = self.bus_published.insert(seq, (w, s)) {
                        self.failures.push(format!(
                            "bus seq {seq} returned to two publishes: {prev:?} and {:?}",
                            (w, s)
                        ));
                    }
                }
            }
            "r" => {
                if let (Some(a), Some(b), Some(seq)) =
                    (parse_id(&mut it), parse_id(&mut it), parse_id(&mut it))
                {
                    self.bus_reads += 1;
                    self.read_seen(a, b, "bus message");
                    if let Some(prev) = self.bus_read.insert(seq, (a, b)) {
                        if prev != (a, b) {
                            self.failures.push(format!(
                                "bus seq {seq} delivered as {prev:?} to one subscriber and {:?} to another",
                                (a, b)
                            ));
                        }
                    }
                }
            }
            // Typed array frames: `A b s` (block b held, frame s being written), then
            // `a b s` (end_write OK) or `ax b s`; `G` (about to end_read the frame just
            // checked), then `g w s` (end_read OK: consumed) or `gx`.
            "A" => {
                if let (Some(_), Some(s)) = (parse_id(&mut it), parse_id(&mut it)) {
                    self.intent(w, s);
                    self.ops += 1;
                    self.frames.push_intents += 1;
                    st.in_frame_write = 1;
                }
            }
            "a" | "ax" => {
                if let (Some(_), Some(s)) = (parse_id(&mut it), parse_id(&mut it)) {
                    if tag == "a" {
                        self.frames.pushed.insert(pack(w, s));
                    } else {
                        self.frames.push_failed.insert(pack(w, s));
                    }
                }
                st.in_frame_write = 0;
            }
            "Q" => {
                st.holding_frame_read = 1;
                self.ops += 1;
            }
            "G" => st.in_frame_read = 1,
            "g" => {
                if let (Some(a), Some(b)) = (parse_id(&mut it), parse_id(&mut it)) {
                    *self.frames.delivered.entry(pack(a, b)).or_insert(0) += 1;
                    self.read_seen(a, b, "tarray frame");
                }
                st.in_frame_read = 0;
                st.holding_frame_read = 0;
            }
            "gx" | "gn" => {
                st.in_frame_read = 0;
                st.holding_frame_read = 0;
            }
            "D" => self.owner_dead += 1,
            "V" => self.widened += 1,
            "I" => self.injected = true,
            "M" => {
                if let Some(ms) = parse_id(&mut it) {
                    self.slow_calls += 1;
                    if ms > self.slowest.0 {
                        let what: Vec<&str> = it.collect();
                        self.slowest = (ms, what.join(" "));
                    }
                }
            }
            "Y" => {
                if let Some(n) = parse_id(&mut it) {
                    self.recovered += n.saturating_sub(st.recovered);
                    st.recovered = n;
                }
            }
            "Z" => st.paused = it.next().and_then(|x| x.parse().ok()).unwrap_or(0),
            "S" => st.started = true,
            "X" => st.exited = true,
            "E" => self
                .failures
                .push(format!("worker {w}: {}", line.get(2..).unwrap_or(""))),
            _ => {}
        }
        st.last = line.to_string();
    }

    /// A worker died (SIGKILL): what it was inside of.
    fn died(&mut self, st: &JournalState) {
        self.counter.in_flight_at_death += st.in_counter as u64;
        self.hits.in_flight_at_death += st.in_hits as u64;
        self.fifo.pops_in_flight_at_death += st.in_fifo_pop;
        self.lifo.pops_in_flight_at_death += st.in_lifo_pop;
        self.fifo.pushes_in_flight_at_death += st.in_fifo_push;
        self.lifo.pushes_in_flight_at_death += st.in_lifo_push;
        self.frames.pops_in_flight_at_death += st.in_frame_read;
        self.frames.pushes_in_flight_at_death += st.in_frame_write;
        self.frame_readers_killed += st.holding_frame_read;
        // A batch cut by the kill may leak the heap blocks of all its values (a push:
        // written, not yet published; a stack's pop: taken, not yet freed).
        let batch = [
            st.in_fifo_push,
            st.in_lifo_push,
            st.in_fifo_pop,
            st.in_lifo_pop,
        ];
        self.batch_leaks_allowed += batch.iter().map(|n| n.saturating_sub(1)).sum::<u64>();
    }

    /// A value read by someone: its writer must have journaled it (checked now if its
    /// writer's journal was parsed that far, else at the end).
    fn read_seen(&mut self, w: u64, s: u64, what: &'static str) {
        if self.max_intent.get(&w).is_none_or(|&m| s > m) {
            self.reads.push((w, s, what));
        }
    }

    fn check_reads(&mut self) {
        for (w, s, what) in std::mem::take(&mut self.reads) {
            if self.max_intent.get(&w).is_none_or(|&m| s > m) {
                self.failures.push(format!(
                    "{what}: value {w}:{s} was never written (its writer journaled no such value)"
                ));
            }
        }
    }
}

const POPPERS: &str = "consumers killed inside pop and pop_many";

impl QueueFacts {
    /// Returns (delivered, lost to dead consumers, pushed OK). `takers`: who may take a
    /// value with them when killed.
    fn check(&self, name: &str, takers: &str, failures: &mut Vec<String>) -> (u64, u64, u64) {
        let mut missing = 0;
        for id in &self.pushed {
            if !self.delivered.contains_key(id) {
                missing += 1;
            }
        }
        for (id, n) in &self.delivered {
            if *n > 1 {
                failures.push(format!("{name}: value {} delivered {n} times", unpack(*id)));
            }
            if self.push_failed.contains(id) {
                failures.push(format!(
                    "{name}: value {} delivered though its push failed",
                    unpack(*id)
                ));
            }
        }
        if missing > self.pops_in_flight_at_death {
            failures.push(format!(
                "{name}: {missing} values pushed OK were never delivered, but {takers} could have taken only {}",
                self.pops_in_flight_at_death
            ));
        }
        (
            self.delivered.len() as u64,
            missing,
            self.pushed.len() as u64,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Controller.

struct Live {
    id: u64,
    child: Child,
    st: JournalState,
    /// Journal size at the last progress check, and when it last grew.
    size: u64,
    grew: Instant,
}

struct Controller {
    o: Objects,
    opt: Options,
    dir: PathBuf,
    exe: PathBuf,
    rng: Rng,
    facts: Facts,
    live: Vec<Live>,
    next_id: u64,
    seq: u64,
    kills: u64,
    spawned: u64,
    refilled_tokens: u64,
    pauses: u64,
    max_pause: Duration,
    checker_runs: u64,
    checker: CheckerStats,
    /// Kills of several workers at once.
    bursts: u64,
}

#[derive(Default)]
struct CheckerStats {
    /// Most leaked blocks (bytes) one check found.
    leaks_seen: u64,
    leaked_bytes_seen: u64,
    /// Leaked blocks the last check found.
    leaks_at_end: u64,
    repairs_while_working: u64,
    final_report: String,
    final_heap_used: u64,
}

fn say(opt: &Options, msg: std::fmt::Arguments<'_>) {
    if !opt.quiet {
        println!("{msg}");
    }
}

fn controller_main(opt: Options) -> ExitCode {
    let dir = match &opt.dir {
        Some(d) => d.clone(),
        None => {
            let shm = Path::new("/dev/shm");
            let base = if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            base.join(format!("plexus-torture-{}", std::process::id()))
        }
    };
    if let Err(e) = fs::create_dir_all(&dir) {
        eprintln!("plexus-torture: cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("plexus-torture: cannot find its own executable: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = OpenOptions {
        mode: OpenMode::Recreate,
        size: opt.region_size,
        ..OpenOptions::default()
    };
    let o = match Region::open(&opt.name, &opts).and_then(Objects::open) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("plexus-torture: cannot create region {}: {e}", opt.name);
            return ExitCode::from(2);
        }
    };
    let mut c = Controller {
        o,
        rng: Rng::new(opt.seed),
        dir,
        exe,
        facts: Facts::default(),
        live: Vec::new(),
        next_id: 1,
        seq: 0,
        kills: 0,
        spawned: 0,
        refilled_tokens: 0,
        pauses: 0,
        max_pause: Duration::ZERO,
        checker_runs: 0,
        checker: CheckerStats::default(),
        bursts: 0,
        opt,
    };
    let started = Instant::now();
    let result = c.run();
    let elapsed = started.elapsed();
    c.report(result, elapsed)
}

impl Controller {
    /// A value written by the controller (writer 0).
    fn new_value(&mut self) -> Value {
        self.seq += 1;
        self.facts.intent(0, self.seq);
        make_value(0, self.seq)
    }

    fn setup(&mut self) -> plexus::Result<()> {
        for i in 0..CELLS {
            let v = self.new_value();
            self.o.cells.write_xf(i, v.as_ref())?;
        }
        for i in 0..TOKENS {
            let v = self.new_value();
            self.o.tokens.write_xf(i, v.as_ref())?;
        }
        self.o.counters.write_xf(0, ValueRef::Int(0))?;
        self.o.map.write_xf(HITS, ValueRef::Int(0))?;
        self.o.guard.write_xf(0, ValueRef::Int(0))?;
        self.o.guard.write_xf(1, ValueRef::Int(0))?;
        for i in 0..SEM_PERMITS as u64 {
            self.o.semslot.write_xf(i, ValueRef::Null)?;
        }
        self.o.ctl.write_xf(0, ValueRef::Int(CTL_RUN))?;
        Ok(())
    }

    fn spawn(&mut self) -> Result<(), String> {
        let id = self.next_id;
        self.next_id += 1;
        let child = Command::new(&self.exe)
            .arg("worker")
            .arg(id.to_string())
            .arg(&self.opt.name)
            .arg(&self.dir)
            .arg(self.opt.seed.to_string())
            .arg(self.opt.timeout.as_millis().to_string())
            .arg(self.opt.slack.as_millis().to_string())
            .arg(self.opt.workers.to_string())
            .arg(&self.opt.inject)
            .arg(format!(
                "{}{}",
                if self.opt.hot { "hot" } else { "spread" },
                if self.opt.widen { "+widen" } else { "" }
            ))
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        self.spawned += 1;
        self.live.push(Live {
            id,
            child,
            st: JournalState::default(),
            size: 0,
            grew: Instant::now(),
        });
        Ok(())
    }

    /// SIGKILLs live worker `i`, reaps it, and accounts for what it was doing.
    fn kill(&mut self, i: usize, counted: bool) {
        let mut l = self.live.swap_remove(i);
        let _ = l.child.kill();
        let _ = l.child.wait();
        self.facts.absorb(&self.dir, l.id, &mut l.st);
        self.facts.died(&l.st);
        if counted {
            self.kills += 1;
        }
        // Free a semaphore slot it held (it cannot release it any more).
        for s in 0..SEM_PERMITS as u64 {
            let _ = self
                .o
                .semslot
                .cas(s, ValueRef::Int(l.id as i64), ValueRef::Null);
        }
        self.forget(l.id);
    }

    /// SIGKILLs live workers `idx` all at once, then reaps and accounts for each.
    fn kill_burst(&mut self, mut idx: Vec<usize>) {
        idx.sort_unstable();
        idx.dedup();
        for &i in &idx {
            let _ = self.live[i].child.kill();
        }
        self.bursts += 1;
        for &i in idx.iter().rev() {
            self.kill(i, true);
        }
    }

    /// Drops a finished worker's journal once it has been parsed (unless `--keep`).
    fn forget(&self, id: u64) {
        if !self.opt.keep {
            let _ = fs::remove_file(journal_path(&self.dir, id));
        }
    }

    /// Reaps workers that exited on their own (a failure: workers run until stopped) and
    /// kills workers that made no progress for too long (wedged).
    fn watch(&mut self, paused: bool) {
        let wedge_limit = self.opt.timeout * 2 + self.opt.slack + Duration::from_secs(5);
        let mut i = 0;
        while i < self.live.len() {
            let id = self.live[i].id;
            if let Ok(Some(status)) = self.live[i].child.try_wait() {
                let mut l = self.live.swap_remove(i);
                self.facts.absorb(&self.dir, id, &mut l.st);
                self.facts.failures.push(format!(
                    "worker {id} exited on its own ({status}); last record: {:?}",
                    l.st.last
                ));
                self.facts.died(&l.st);
                self.forget(id);
                continue;
            }
            self.facts.absorb(&self.dir, id, &mut self.live[i].st);
            let l = &mut self.live[i];
            let size = l.st.offset;
            if size != l.size {
                l.size = size;
                l.grew = Instant::now();
            } else if !paused && l.grew.elapsed() > wedge_limit {
                let mut st = std::mem::take(&mut l.st);
                self.facts.absorb(&self.dir, id, &mut st);
                self.facts.failures.push(format!(
                    "worker {id} made no progress for {:?} (wedged); last record: {:?}",
                    wedge_limit, st.last
                ));
                self.live[i].st = st;
                self.kill(i, false);
                continue;
            }
            i += 1;
        }
    }

    fn run(&mut self) -> Result<(), String> {
        self.setup().map_err(|e| format!("setup: {e}"))?;
        for _ in 0..self.opt.workers {
            self.spawn()?;
        }
        let mut last_report = Instant::now();
        let mut next_pause = self.opt.pause_every;
        let mut next_live_check = self.opt.check_every;
        // With `--inject`, go on until the injector has done its deed (at most a minute
        // longer), so that the others run into it.
        let t0 = Instant::now();
        while self.kills < self.opt.kills
            || (self.opt.inject != "none"
                && !self.facts.injected
                && t0.elapsed() < Duration::from_secs(60))
        {
            let mean = self.opt.interval.as_micros() as u64;
            std::thread::sleep(Duration::from_micros(self.rng.below(2 * mean + 1)));
            self.watch(false);
            // Parse the journals as they grow (keeps the final analysis short).
            for l in &mut self.live {
                self.facts.absorb(&self.dir, l.id, &mut l.st);
            }
            if !self.live.is_empty() {
                // Mostly workers that are running operations; sometimes one still
                // starting (killed while attaching).
                // With `--inject`, the first worker (the injector) is spared.
                let spared = |l: &Live| self.opt.inject != "none" && l.id == 1;
                let candidates: Vec<usize> = (0..self.live.len())
                    .filter(|&i| !spared(&self.live[i]))
                    .collect();
                let started: Vec<usize> = candidates
                    .iter()
                    .copied()
                    .filter(|&i| self.live[i].st.started)
                    .collect();
                let pick = if started.is_empty() || self.rng.below(10) == 0 {
                    candidates.get(self.rng.below(candidates.len() as u64) as usize)
                } else {
                    started.get(self.rng.below(started.len() as u64) as usize)
                };
                if let Some(&i) = pick {
                    if self.rng.below(20) == 0 && started.len() >= 4 {
                        // A burst: SIGKILL several at once (several dead holders at once).
                        let n = 2 + self.rng.below(started.len() as u64 / 2 - 1) as usize;
                        let mut burst: Vec<usize> = (0..n)
                            .map(|_| started[self.rng.below(started.len() as u64) as usize])
                            .collect();
                        burst.push(i);
                        self.kill_burst(burst);
                    } else {
                        self.kill(i, true);
                    }
                }
            }
            while (self.live.len() as u64) < self.opt.workers {
                self.spawn()?;
            }
            // (Bursts may step over a multiple: compare with the next one due.)
            if self.kills >= next_pause {
                next_pause += self.opt.pause_every;
                if self.kills < self.opt.kills {
                    self.pause()?;
                }
            }
            if self.kills >= next_live_check {
                next_live_check = self.kills + self.opt.check_every;
                self.run_repair_while_working();
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                last_report = Instant::now();
                say(
                    &self.opt,
                    format_args!(
                        "  {} kills, {} operations journaled, {} failures so far",
                        self.kills,
                        self.facts.ops,
                        self.facts.failures.len()
                    ),
                );
            }
        }
        self.pause()?;
        self.stop()?;
        self.final_checks()
    }

    /// Pauses every worker between two operations and checks what can be checked while
    /// nothing moves; then lets them go on.
    fn pause(&mut self) -> Result<(), String> {
        self.pauses += 1;
        let epoch = self.pauses as i64;
        let t0 = Instant::now();
        self.o
            .ctl
            .write_xf(0, ValueRef::Int(epoch))
            .map_err(|e| format!("ctl: {e}"))?;
        let limit = self.opt.timeout * 2 + self.opt.slack + Duration::from_secs(10);
        loop {
            self.watch(true);
            for l in &mut self.live {
                self.facts.absorb(&self.dir, l.id, &mut l.st);
            }
            if self.live.iter().all(|l| l.st.paused == epoch) {
                break;
            }
            if t0.elapsed() > limit {
                let late: Vec<(u64, String)> = self
                    .live
                    .iter()
                    .filter(|l| l.st.paused != epoch)
                    .map(|l| (l.id, l.st.last.clone()))
                    .collect();
                self.facts.failures.push(format!(
                    "workers did not reach pause {epoch} within {limit:?} (wedged?): {late:?}"
                ));
                while let Some(i) = self.live.iter().position(|l| l.st.paused != epoch) {
                    self.kill(i, false);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.max_pause = self.max_pause.max(t0.elapsed());
        self.quiescent_checks()?;
        self.cycle_frames(false);
        self.o
            .ctl
            .write_xf(0, ValueRef::Int(CTL_RUN))
            .map_err(|e| format!("ctl: {e}"))?;
        for l in &mut self.live {
            l.grew = Instant::now();
        }
        Ok(())
    }

    /// Checks while every worker is paused (or gone).
    fn quiescent_checks(&mut self) -> Result<(), String> {
        let f = &mut self.facts.failures;
        // Counters: exact up to the increments of dead workers.
        match self.o.counters.read(0) {
            Ok(Value::Int(v)) => self.facts.counter.check("array counter", v, f),
            other => f.push(format!("array counter unreadable: {other:?}")),
        }
        match self.o.map.read(HITS) {
            Ok(Value::Int(v)) => self.facts.hits.check("map counter", v, f),
            other => f.push(format!("map counter unreadable: {other:?}")),
        }
        // Mutex: free, its pair equal (or it was left to a dead holder).
        match self.o.mutex.lock(Some(self.opt.timeout)) {
            Ok(how) => {
                let a = self.o.guard.read(0);
                let b = self.o.guard.read(1);
                if how == plexus::Acquired::Clean && a != b {
                    f.push(format!("guard pair differs at a pause: {a:?} {b:?}"));
                } else if a != b {
                    if let Ok(a) = a {
                        let _ = self.o.guard.write(1, a.as_ref());
                    }
                }
                let _ = self.o.mutex.unlock();
            }
            Err(e) => f.push(format!(
                "controller could not lock the mutex at a pause: {e}"
            )),
        }
        // Semaphore: every permit can be taken (no live worker holds one; those of dead
        // holders come back when an acquirer needs them).
        let mut taken = 0;
        for _ in 0..SEM_PERMITS {
            match self.o.sem.acquire(Some(self.opt.timeout)) {
                Ok(()) => taken += 1,
                Err(e) => {
                    f.push(format!(
                        "semaphore: only {taken} of {SEM_PERMITS} permits could be taken at a pause: {e}"
                    ));
                    break;
                }
            }
        }
        for _ in 0..taken {
            if let Err(e) = self.o.sem.release() {
                f.push(format!("semaphore release at a pause: {e}"));
            }
        }
        // Every cell and key holds a whole value that some process wrote.
        for i in 0..CELLS {
            match self.o.cells.read(i) {
                Ok(v) => match validate(&v) {
                    Ok((w, s)) => self.facts.read_seen(w, s, "cell at a pause"),
                    Err(e) => self
                        .facts
                        .failures
                        .push(format!("cell {i} at a pause: {e}")),
                },
                Err(e) => self
                    .facts
                    .failures
                    .push(format!("cell {i} at a pause: {e}")),
            }
        }
        for k in 0..MAP_KEYS {
            match self.o.map.read(&key(k)) {
                Ok(Value::Undefined) => {}
                Ok(v) => match validate(&v) {
                    Ok((w, s)) => self.facts.read_seen(w, s, "key at a pause"),
                    Err(e) => self.facts.failures.push(format!("key {k} at a pause: {e}")),
                },
                Err(e) => self.facts.failures.push(format!("key {k} at a pause: {e}")),
            }
        }
        // Tokens: put back the ones lost with workers killed while holding them.
        for i in 0..TOKENS {
            match self.o.tokens.is_full(i) {
                Ok(true) => match self.o.tokens.read(i) {
                    Ok(v) => {
                        if let Err(e) = validate(&v) {
                            self.facts.failures.push(format!("token {i}: {e}"));
                        }
                    }
                    Err(e) => self.facts.failures.push(format!("token {i}: {e}")),
                },
                Ok(false) => {
                    let v = self.new_value();
                    match self.o.tokens.write_ef(i, v.as_ref(), Some(Duration::ZERO)) {
                        Ok(()) => self.refilled_tokens += 1,
                        Err(e) => self.facts.failures.push(format!("token {i} refill: {e}")),
                    }
                }
                Err(e) => self.facts.failures.push(format!("token {i}: {e}")),
            }
        }
        self.run_region_checker(false);
        Ok(())
    }

    /// While no worker holds a block (all paused or gone): every block can be taken with a
    /// try-once call, a dead holder's block included (WRITING comes back EMPTY, READING
    /// comes back FULL). Consumes each FULL frame (checked whole), then writes a frame of
    /// its own into every block (they stay FULL for the workers); `drain`: consumes those
    /// too, leaving every block EMPTY.
    fn cycle_frames(&mut self, drain: bool) {
        let t = self.o.frames.clone();
        for b in 0..FRAME_BLOCKS {
            match t.block_state(b) {
                Ok(BlockState::Writing | BlockState::Reading) => self.facts.frames_recovered += 1,
                Ok(_) => {}
                Err(e) => return self.facts.failures.push(format!("tarray block_state: {e}")),
            }
            self.consume_frame(&t, b, false);
            let s = self.new_frame_seq();
            match t.begin_write(b, Some(Duration::ZERO)) {
                Ok((p, FRAME_LEN)) => {
                    write_frame(p, 0, s, b, false, || {});
                    match t.end_write(b) {
                        Ok(()) => {
                            self.facts.frames.pushed.insert(pack(0, s));
                        }
                        Err(e) => self
                            .facts
                            .failures
                            .push(format!("tarray end_write of block {b} at a pause: {e}")),
                    }
                }
                Ok((_, n)) => self
                    .facts
                    .failures
                    .push(format!("tarray block {b} has {n} elements")),
                Err(e) => self.facts.failures.push(format!(
                    "tarray block {b} stuck: not writable at a pause after its FULL frame was read ({e}; state {:?})",
                    t.block_state(b)
                )),
            }
            if drain {
                self.consume_frame(&t, b, true);
            }
        }
    }

    /// A sequence number for a frame the controller writes (writer 0).
    fn new_frame_seq(&mut self) -> u64 {
        self.seq += 1;
        self.facts.intent(0, self.seq);
        self.seq
    }

    /// Takes block `b` for reading with a try-once call and consumes its frame (checked
    /// whole); `must`: the block must be FULL.
    fn consume_frame(&mut self, t: &TArray, b: u64, must: bool) {
        let f = &mut self.facts;
        let (p, n) = match t.begin_read(b, Some(Duration::ZERO)) {
            Ok(x) => x,
            Err(Error::Timeout) if !must => return,
            Err(e) => {
                return f.failures.push(format!(
                    "tarray block {b} stuck: not readable when FULL ({e}; state {:?})",
                    t.block_state(b)
                ))
            }
        };
        let data = if n == FRAME_LEN {
            read_frame(p, || {})
        } else {
            Vec::new()
        };
        let id = validate_frame(&data, b);
        match (t.end_read(b), id) {
            (Ok(()), Ok((w, s))) => {
                *f.frames.delivered.entry(pack(w, s)).or_insert(0) += 1;
                f.read_seen(w, s, "tarray frame");
            }
            (Ok(()), Err(e)) => f
                .failures
                .push(format!("tarray block read as FULL by the controller: {e}")),
            (Err(e), _) => f
                .failures
                .push(format!("tarray end_read of block {b}: {e}")),
        }
    }

    /// Runs the region checker (`plexus::check`) while every worker is paused or gone:
    /// the region must never be corrupt. At the end (`final_run`, every worker gone) it
    /// repairs: leaked heap blocks are reclaimed (the controller's own attachment is
    /// idle), and a second check must then find the region consistent.
    fn run_region_checker(&mut self, final_run: bool) {
        self.checker_runs += 1;
        let name = self.opt.name.clone();
        let report = match plexus::check(&name, &plexus::CheckOptions { repair: final_run }) {
            Ok(r) => r,
            Err(e) => return self.facts.failures.push(format!("region checker: {e}")),
        };
        self.checker.leaks_seen = self.checker.leaks_seen.max(report.leaks.len() as u64);
        self.checker.leaks_at_end = report.leaks.len() as u64;
        self.checker.leaked_bytes_seen = self.checker.leaked_bytes_seen.max(report.leaked_bytes());
        if report.verdict() == plexus::Verdict::Corrupt {
            return self.facts.failures.push(format!(
                "region checker found the region corrupt:\n{report}"
            ));
        }
        if !final_run {
            return;
        }
        self.checker.final_report = report.to_string();
        match plexus::check(&name, &plexus::CheckOptions { repair: false }) {
            Ok(after) if after.verdict() == plexus::Verdict::Consistent => {
                self.checker.final_heap_used = after.heap_used;
            }
            Ok(after) => self.facts.failures.push(format!(
                "region not consistent after the checker's repair:\n{after}"
            )),
            Err(e) => self.facts.failures.push(format!("region checker: {e}")),
        }
    }

    /// While the workers run: a plain check and a repairing check (stale entries of killed
    /// workers are cleaned up under the others' feet; leaks are left alone since others
    /// are attached). A live check reports damage only when several fresh scans find
    /// exactly it, so it must never call the region corrupt either; the next pause checks
    /// the idle region again.
    fn run_repair_while_working(&mut self) {
        self.checker.repairs_while_working += 1;
        for repair in [false, true] {
            match plexus::check(&self.opt.name, &plexus::CheckOptions { repair }) {
                Ok(r) if r.verdict() == plexus::Verdict::Corrupt => {
                    self.facts.failures.push(format!(
                        "region checker (repair: {repair}) called the region corrupt while the workers ran:\n{r}"
                    ))
                }
                Ok(_) => {}
                Err(e) => self.facts.failures.push(format!(
                    "check (repair: {repair}) while the workers run: {e}"
                )),
            }
        }
    }

    fn stop(&mut self) -> Result<(), String> {
        self.o
            .ctl
            .write_xf(0, ValueRef::Int(CTL_STOP))
            .map_err(|e| format!("ctl: {e}"))?;
        let limit = self.opt.timeout * 2 + self.opt.slack + Duration::from_secs(10);
        let t0 = Instant::now();
        while !self.live.is_empty() {
            let mut i = 0;
            while i < self.live.len() {
                if let Ok(Some(status)) = self.live[i].child.try_wait() {
                    let mut l = self.live.swap_remove(i);
                    self.facts.absorb(&self.dir, l.id, &mut l.st);
                    if !status.success() || !l.st.exited {
                        self.facts.failures.push(format!(
                            "worker {} stopped badly ({status}); last record {:?}",
                            l.id, l.st.last
                        ));
                        self.facts.died(&l.st);
                    }
                    self.forget(l.id);
                    continue;
                }
                i += 1;
            }
            if t0.elapsed() > limit {
                let ids: Vec<u64> = self.live.iter().map(|l| l.id).collect();
                self.facts
                    .failures
                    .push(format!("workers {ids:?} did not stop within {limit:?}"));
                while !self.live.is_empty() {
                    self.kill(0, false);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// After every worker stopped: drain the queues, check every journal-based invariant.
    /// Removes what the churn left (the objects `churn-N`, whose memory must come back:
    /// no worker holds them any more, so a removal that forgets a value shows as a leak
    /// at the pause that follows), and the churn region; then no file of it may remain
    /// (a RECREATE killed half way leaves no temporary file behind).
    fn churn_final_checks(&mut self) {
        for n in 0..CHURN_OBJECTS {
            match self.o.region.remove_object(&format!("churn-{n}")) {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(e) => self.facts.failures.push(format!("removing churn-{n}: {e}")),
            }
        }
        let name = churn_region_name(self.o.region.name());
        // RECREATE first: it removes the temporary files killed creators left.
        let opts = OpenOptions {
            mode: OpenMode::Recreate,
            size: 1 << 20,
            ..OpenOptions::default()
        };
        match Region::open(&name, &opts) {
            Ok(r) => drop(r),
            Err(e) => self
                .facts
                .failures
                .push(format!("recreating the churn region: {e}")),
        }
        if let Err(e) = Region::remove(&name) {
            self.facts
                .failures
                .push(format!("removing the churn region: {e}"));
        }
        if let (Ok(path), Some(dir)) = (
            plexus::shm::region_path(&name),
            plexus::shm::region_path(&name)
                .ok()
                .and_then(|p| p.parent().map(Path::to_owned)),
        ) {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let left: Vec<String> = fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|f| f == &file || f.starts_with(&format!(".{file}.")))
                .collect();
            if !left.is_empty() {
                self.facts.failures.push(format!(
                    "files of the churn region remain in {}: {left:?}",
                    dir.display()
                ));
            }
        }
    }

    fn final_checks(&mut self) -> Result<(), String> {
        for lifo in [false, true] {
            let q = if lifo { &self.o.lifo } else { &self.o.fifo };
            let name = if lifo { "lifo" } else { "fifo" };
            loop {
                // A slot left half-pushed by a dead producer is dropped after ~20 ms of
                // waiting behind it; 200 ms is plenty.
                match q.pop(Some(Duration::from_millis(200))) {
                    Ok(v) => match validate(&v) {
                        Ok(id) => {
                            let qf = if lifo {
                                &mut self.facts.lifo
                            } else {
                                &mut self.facts.fifo
                            };
                            *qf.delivered.entry(pack(id.0, id.1)).or_insert(0) += 1;
                            self.facts.read_seen(id.0, id.1, "final drain");
                        }
                        Err(e) => self.facts.failures.push(format!("{name} drain: {e}")),
                    },
                    Err(Error::Timeout) => break,
                    Err(e) => {
                        self.facts.failures.push(format!("{name} drain: {e}"));
                        break;
                    }
                }
            }
            match q.len() {
                Ok(0) => {}
                other => self
                    .facts
                    .failures
                    .push(format!("{name} not empty after draining: {other:?}")),
            }
        }
        self.cycle_frames(true);
        self.facts.check_reads();
        self.churn_final_checks();
        self.quiescent_checks()?;
        // Bus: what subscribers read at a seq is what was published there.
        let mut mismatched = 0;
        for (seq, id) in &self.facts.bus_read {
            if let Some(p) = self.facts.bus_published.get(seq) {
                if p != id {
                    mismatched += 1;
                }
            }
        }
        if mismatched > 0 {
            self.facts.failures.push(format!(
                "{mismatched} bus messages were read as another value than the one published"
            ));
        }
        match self.o.region.info() {
            Ok(info) if info.attached_processes != 1 => self.facts.failures.push(format!(
                "{} attachments remain after every worker stopped or died (expected the controller's 1)",
                info.attached_processes
            )),
            Ok(_) => {}
            Err(e) => self.facts.failures.push(format!("region info: {e}")),
        }
        // A killed worker can leak only what its one call in flight had allocated and
        // not yet published (a value, a long key) or unpublished and not yet freed: more
        // leaked blocks than 3 per worker that ever ran means a leak without a crash.
        // (The check at the pause just above saw the leaks before the repair below.)
        if self.checker.leaks_at_end > 3 * self.spawned + self.facts.batch_leaks_allowed {
            self.facts.failures.push(format!(
                "{} leaked heap blocks after {} workers ran: more than 3 per worker (and {} for batches cut by kills)",
                self.checker.leaks_at_end, self.spawned, self.facts.batch_leaks_allowed
            ));
        }
        self.run_region_checker(true);
        Ok(())
    }

    fn report(&mut self, result: Result<(), String>, elapsed: Duration) -> ExitCode {
        if let Err(e) = &result {
            self.facts.failures.push(format!("controller: {e}"));
            for l in &mut self.live {
                let _ = l.child.kill();
                let _ = l.child.wait();
            }
        }
        if self.opt.inject != "none" && !self.facts.injected {
            self.facts.failures.push(format!(
                "--inject {}: the injecting worker never did it",
                self.opt.inject
            ));
        }
        // Each failure once, in the order found (a set: a run can pile up many thousands,
        // and comparing each with all before it took hours).
        let mut seen = HashSet::new();
        let mut f = Vec::new();
        for x in std::mem::take(&mut self.facts.failures) {
            if seen.insert(x.clone()) {
                f.push(x);
            }
        }
        let (fifo_delivered, fifo_lost, fifo_pushed) =
            self.facts.fifo.check("fifo", POPPERS, &mut f);
        let (lifo_delivered, lifo_lost, lifo_pushed) =
            self.facts.lifo.check("lifo", POPPERS, &mut f);
        let (frames_consumed, frames_lost, frames_written) =
            self.facts
                .frames
                .check("tarray frames", "readers killed inside end_read", &mut f);
        let counter = self.o.counters.read(0).ok();
        let hits = self.o.map.read(HITS).ok();
        let info = self.o.region.info().ok();
        println!(
            "plexus-torture: {} kills of {} workers started ({} at a time, {} of them dwelling inside pushes, pops and publishes{}), seed {}, {:.1} s",
            self.kills,
            self.spawned,
            self.opt.workers,
            self.facts.widened,
            if self.opt.hot { "; --hot" } else { "" },
            self.opt.seed,
            elapsed.as_secs_f64()
        );
        println!(
            "  operations journaled: {}; kills of several workers at once: {}; pauses with checks: {} (longest wait for the workers {:?})",
            self.facts.ops, self.bursts, self.pauses, self.max_pause
        );
        println!(
            "  recoveries from killed processes reported by workers (plexus::recovered_locks: locks taken over, abandoned pushes dropped, permits taken back): at least {}; mutex OWNER_DEAD: {}",
            self.facts.recovered, self.facts.owner_dead
        );
        println!(
            "  calls that returned more than 100 ms after their timeout: {} (slowest: {} ms over, {})",
            self.facts.slow_calls,
            self.facts.slowest.0,
            if self.facts.slowest.1.is_empty() { "-" } else { &self.facts.slowest.1 }
        );
        println!(
            "  fifo: {fifo_pushed} values pushed OK (singly and in batches), {fifo_delivered} values delivered, {fifo_lost} lost with consumers killed inside pop and pop_many (allowed: {}), {} values in pushes cut by a kill",
            self.facts.fifo.pops_in_flight_at_death, self.facts.fifo.pushes_in_flight_at_death
        );
        println!(
            "  lifo: {lifo_pushed} values pushed OK (singly and in batches), {lifo_delivered} values delivered, {lifo_lost} lost with consumers killed inside pop and pop_many (allowed: {}), {} values in pushes cut by a kill",
            self.facts.lifo.pops_in_flight_at_death, self.facts.lifo.pushes_in_flight_at_death
        );
        println!(
            "  tarray frames: {frames_written} written (end_write OK), {frames_consumed} consumed whole, {frames_lost} lost with readers killed inside end_read (allowed: {}); writers killed holding a block: {}, readers: {}; blocks held by dead workers taken back at pauses: {}",
            self.facts.frames.pops_in_flight_at_death,
            self.facts.frames.pushes_in_flight_at_death,
            self.facts.frame_readers_killed,
            self.facts.frames_recovered
        );
        println!(
            "  faa counters: array {:?} after {} completed increments (+{} cut by a kill), map {:?} after {} (+{})",
            counter,
            self.facts.counter.completed,
            self.facts.counter.in_flight_at_death,
            hits,
            self.facts.hits.completed,
            self.facts.hits.in_flight_at_death
        );
        println!(
            "  bus: {} messages published, {} deliveries checked; tokens put back after their holder died: {}",
            self.facts.bus_published.len(),
            self.facts.bus_reads,
            self.refilled_tokens
        );
        if let Some(i) = info {
            println!(
                "  region checker: {} checks at pauses and at the end, {} plain and repairing checks while the workers ran (never corrupt: see failures); at most {} leaked blocks ({} bytes) found by one check; heap in use after the final repair {} bytes (region info says {} of {})",
                self.checker_runs,
                self.checker.repairs_while_working,
                self.checker.leaks_seen,
                self.checker.leaked_bytes_seen,
                self.checker.final_heap_used,
                i.heap_used,
                i.heap_size
            );
        }
        if !self.opt.quiet && !self.checker.final_report.is_empty() {
            print!("  final repairing check: {}", self.checker.final_report);
        }
        let region_removed = if self.opt.keep {
            false
        } else {
            Region::remove(&self.opt.name).is_ok()
        };
        if !self.opt.keep {
            let _ = fs::remove_dir(&self.dir);
        }
        if f.is_empty() {
            println!("  every check passed");
            ExitCode::SUCCESS
        } else {
            println!("  {} FAILURES:", f.len());
            for x in f.iter().take(50) {
                println!("    {x}");
            }
            if f.len() > 50 {
                println!("    ... and {} more", f.len() - 50);
            }
            if !region_removed {
                println!(
                    "  region {} and journals in {} kept",
                    self.opt.name,
                    self.dir.display()
                );
            }
            ExitCode::from(1)
        }
    }
}
