//! The semantics every backend shares, written once and run against each backend: the
//! shared-memory one (a region in /dev/shm) and the Redis one (a `redis://` region on a
//! private `redis-server`). Every call goes through `plexus::backend`, the enums the C
//! API calls, so a difference between the backends shows up here as an area that passes
//! on one and fails on the other.
//!
//! Each area is a function taking a region name. [`on_both_backends!`] makes one test per
//! (area, backend): `shm::<area>` on `conformance-<pid>-<n>` (removed afterwards), and
//! `redis::<area>` on a redis-server of its own (a loud SKIPPED without `redis-server`,
//! a failure under CI). Errors are compared by variant (`Error` maps 1:1 onto the C
//! statuses). No test measures speed: timeouts are checked for their outcome, and for not
//! giving up before they are due.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use plexus::backend::{
    Acquired, Array, Barrier, Bus, Map, MapChange, Mutex, OpenMode, OpenOptions, Queue, Region,
    Semaphore, Start, Subscription,
};
use plexus::{
    Deadline, Error, Result, Value, ValueRef, FLAG_EXCLUSIVE, FLAG_FULL, FLAG_LIFO, MAX_KEY_LEN,
    MAX_NAME_LEN,
};

const ZERO: Option<Duration> = Some(Duration::ZERO);
/// A timeout that is meant to pass.
const SHORT: Duration = Duration::from_millis(150);
/// A timeout that is never meant to pass (a wait that needs it is a hang).
const LONG: Option<Duration> = Some(Duration::from_secs(30));
/// Long enough that a thread started before it is, in all likelihood, blocked after it
/// (the tests pass either way: they only get weaker if it is not).
const SETTLE: Duration = Duration::from_millis(150);

// ---- where the regions live ----

/// A test's region name, and what must outlive it: the region is removed, then its
/// server (if any) stopped, when the test ends (also when it fails).
struct Place {
    name: String,
    _server: Option<RedisServer>,
}

impl Place {
    /// `conformance-<pid>-<n>` in /dev/shm.
    fn shm() -> Place {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "conformance-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let _ = Region::remove(&name); // a leftover of a killed run with the same pid
        Place {
            name,
            _server: None,
        }
    }

    /// `redis://127.0.0.1:<port>/conformance-<area>` on a redis-server of its own; None
    /// (after a loud SKIPPED) without redis-server.
    fn redis(area: &str) -> Option<Place> {
        let server = RedisServer::start(&format!("conformance redis::{area}"))?;
        Some(Place {
            name: server.url(&format!("conformance-{area}")),
            _server: Some(server),
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        // The region, and the one `region_open_rules` makes beside it.
        let _ = Region::remove(&self.name);
        let _ = Region::remove(&format!("{}-late", self.name));
    }
}

/// One test per (area, backend): `shm::<area>` and `redis::<area>`.
macro_rules! on_both_backends {
    ($($area:ident),* $(,)?) => {
        mod shm {
            $(
                #[test]
                fn $area() {
                    let place = super::Place::shm();
                    super::$area(&place.name);
                }
            )*
        }
        mod redis {
            $(
                #[test]
                fn $area() {
                    if let Some(place) = super::Place::redis(stringify!($area)) {
                        super::$area(&place.name);
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    region_open_rules,
    array_and_map_open_rules,
    element_reads_and_writes,
    element_faa_cas_exchange,
    element_patch,
    element_versions_and_wait_change,
    element_read_rw,
    element_timeouts_and_wakeups,
    element_waiting_readers,
    region_removal,
    object_listing,
    out_of_range,
    map_keys,
    wait_object_and_info,
    queues,
    stacks,
    queue_shutdown,
    bus_order_and_start,
    bus_gap_and_shutdown,
    bus_batches,
    events_order_and_prefixes,
    events_gaps_shutdown_and_bad_topics,
    mutex,
    barrier,
    semaphore,
    services,
    every_kind_is_an_object,
    object_removal,
    typed_arrays,
    typed_array_atomics,
    element_watch,
    map_first_write_moves_the_version_once,
    map_wide_changes,
    map_wide_changes_under_concurrent_writers,
    map_initial_data,
    map_initial_data_race,
);

fn options(mode: OpenMode) -> OpenOptions {
    OpenOptions {
        mode,
        size: 16 << 20,
        ..Default::default()
    }
}

/// Opens the region `name`, creating it if needed.
fn create(name: &str) -> Region {
    Region::open(name, &options(OpenMode::OpenOrCreate)).unwrap()
}

/// Another attachment of the existing region `name`, as another process would have.
fn attach(name: &str) -> Region {
    Region::open(name, &options(OpenMode::Open)).unwrap()
}

/// Values of every type, short and long.
fn samples() -> Vec<Value> {
    vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::Int(i64::MIN),
        Value::Int(42),
        Value::Float(-0.5),
        Value::Float(1e300),
        Value::String(String::new()),
        Value::String("héllo, wörld".into()),
        Value::String("s".repeat(5000)),
        Value::Bytes(Vec::new()),
        Value::Bytes(vec![0, 1, 255, 0]),
        Value::Bytes((0..70_000u32).map(|i| i as u8).collect()),
        Value::from_json(r#"{"door":"open","at":[1,2.5,null,true],"n":{"x":-1}}"#).unwrap(),
    ]
}

/// A value that is not valid MessagePack, refused before anything is stored.
const BAD_OBJECT: ValueRef<'static> = ValueRef::Object(&[0xc1]);

// ---- one element, of an array or of a map ----

#[derive(Clone, Copy, Debug)]
enum Kind {
    Array,
    Map,
}

const KINDS: [Kind; 2] = [Kind::Array, Kind::Map];

/// Element `slot` of the array "arr" (16 elements) or key "k<slot>" of the map "map"
/// (64 keys), through region handle `r`: the element calls, written once for both.
#[derive(Clone)]
enum El {
    At(Array, u64),
    Key(Map, String),
}

impl El {
    fn on(r: &Region, kind: Kind, slot: u64) -> El {
        match kind {
            Kind::Array => El::At(r.array("arr", 16, 0).unwrap(), slot),
            Kind::Map => El::Key(r.map("map", 64, 0).unwrap(), format!("k{slot}")),
        }
    }
}

/// `El` methods forwarding to the array or map call of the same name.
macro_rules! element_calls {
    ($( fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl El {
            $(
                fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        El::At(a, i) => a.$name(*i $(, $arg)*),
                        El::Key(m, k) => m.$name(k $(, $arg)*),
                    }
                }
            )*
        }
    };
}

impl El {
    /// The `slot` it was made with ([`El::on`]).
    fn slot(&self) -> u64 {
        match self {
            El::At(_, i) => *i,
            El::Key(_, k) => k[1..].parse().unwrap(),
        }
    }
}

element_calls! {
    fn read(&self) -> Result<Value>;
    fn write(&self, v: ValueRef<'_>) -> Result<()>;
    fn read_fe(&self, timeout: Option<Duration>) -> Result<Value>;
    fn read_ff(&self, timeout: Option<Duration>) -> Result<Value>;
    fn write_ef(&self, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()>;
    fn write_xf(&self, v: ValueRef<'_>) -> Result<()>;
    fn write_xe(&self, v: ValueRef<'_>) -> Result<()>;
    fn set_tag(&self, full: bool) -> Result<()>;
    fn is_full(&self) -> Result<bool>;
    fn read_rw(&self, timeout: Option<Duration>) -> Result<Value>;
    fn release_rw(&self) -> Result<()>;
    fn faa(&self, delta: ValueRef<'_>) -> Result<Value>;
    fn cas(&self, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value>;
    fn exchange(&self, v: ValueRef<'_>) -> Result<Value>;
    fn patch(&self, patch: ValueRef<'_>) -> Result<Value>;
    fn version(&self) -> Result<u64>;
    fn wait_change(&self, seen: &mut u64, timeout: Option<Duration>) -> Result<()>;
    fn watch(&self, seen: &mut u64, timeout: Option<Duration>) -> Result<Value>;
}

// ---- regions ----

fn region_open_rules(name: &str) {
    let absent = format!("{name}-absent");
    assert_err!(
        Region::open(&absent, &options(OpenMode::Open)),
        Error::NotFound(_)
    );
    assert_err!(Region::remove(&absent), Error::NotFound(_));

    let r = Region::open(name, &options(OpenMode::Create)).unwrap();
    assert_eq!(r.name(), name);
    r.array("a", 2, 0)
        .unwrap()
        .write(0, ValueRef::Int(1))
        .unwrap();
    assert_err!(
        Region::open(name, &options(OpenMode::Create)),
        Error::Exists(_)
    );
    // Every attachment sees the same objects.
    for mode in [OpenMode::Open, OpenMode::OpenOrCreate] {
        let other = Region::open(name, &options(mode)).unwrap();
        assert_eq!(other.array("a", 0, 0).unwrap().read(0), Ok(Value::Int(1)));
    }

    // OPEN waits up to `wait` for the region to appear.
    let late = format!("{name}-late");
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let opts = OpenOptions {
                wait: LONG,
                ..options(OpenMode::Open)
            };
            let r = Region::open(&late, &opts)?;
            r.wait_object("x", LONG)?;
            r.array("x", 0, 0)?.read_ff(0, LONG)
        });
        std::thread::sleep(SETTLE);
        let made = Region::open(&late, &options(OpenMode::Create)).unwrap();
        made.array("x", 1, 0)
            .unwrap()
            .write_xf(0, ValueRef::Int(9))
            .unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(Value::Int(9)));
    });
    let short = OpenOptions {
        wait: Some(SHORT),
        ..options(OpenMode::Open)
    };
    let t = Instant::now();
    assert_err!(Region::open(&absent, &short), Error::NotFound(_));
    assert!(t.elapsed() >= SHORT, "OPEN gave up after {:?}", t.elapsed());
    Region::remove(&late).unwrap();
    assert_err!(Region::remove(&late), Error::NotFound(_));

    // RECREATE starts anew.
    let fresh = Region::open(name, &options(OpenMode::Recreate)).unwrap();
    assert_eq!(fresh.info().unwrap().object_count, 0);
    assert_err!(fresh.array("a", 0, 0), Error::NotFound(_));
    assert_eq!(
        attach(name).array("a", 2, 0).unwrap().read(0),
        Ok(Value::Undefined)
    );
}

fn array_and_map_open_rules(name: &str) {
    let r = create(name);
    assert_err!(r.array("a", 0, 0), Error::NotFound(_));
    assert_err!(r.map("m", 0, 0), Error::NotFound(_));
    let a = r.array("a", 4, 0).unwrap();
    let m = r.map("m", 8, 0).unwrap();
    assert_eq!((a.name(), a.len(), a.is_empty()), ("a", 4, false));
    assert_eq!((m.name(), m.capacity()), ("m", 8));
    // Size 0 opens the existing object, with its size.
    let other = attach(name);
    assert_eq!(other.array("a", 0, 0).unwrap().len(), 4);
    assert_eq!(other.map("m", 0, 0).unwrap().capacity(), 8);
    assert_eq!(other.array("a", 4, 0).unwrap().len(), 4);
    // Another size, another kind, exclusive creation.
    assert_err!(r.array("a", 5, 0), Error::Incompatible(_));
    assert_err!(r.map("m", 9, 0), Error::Incompatible(_));
    assert_err!(r.map("a", 4, 0), Error::TypeMismatch(_));
    assert_err!(r.array("m", 8, 0), Error::TypeMismatch(_));
    assert_err!(r.array("a", 4, FLAG_EXCLUSIVE), Error::Exists(_));
    assert_err!(r.map("m", 8, FLAG_EXCLUSIVE), Error::Exists(_));
    assert_eq!(r.array("new", 1, FLAG_EXCLUSIVE).unwrap().len(), 1);
    // Bad names and flags.
    assert_err!(r.array("", 4, 0), Error::InvalidArgument(_));
    assert_err!(
        r.map(&"n".repeat(MAX_NAME_LEN + 1), 4, 0),
        Error::InvalidArgument(_)
    );
    assert_eq!(r.array(&"n".repeat(MAX_NAME_LEN), 1, 0).unwrap().len(), 1);
    assert_err!(r.array("x", 4, 0x100), Error::InvalidArgument(_));
    assert_err!(r.map("x", 4, FLAG_LIFO), Error::InvalidArgument(_));

    // FLAG_FULL: elements, and keys inserted later, start FULL holding UNDEFINED; the
    // creator's choice holds for every opener.
    let full = r.array("full", 2, FLAG_FULL).unwrap();
    assert_eq!(full.is_full(1), Ok(true));
    assert_eq!(full.read_fe(1, ZERO), Ok(Value::Undefined));
    assert_eq!(full.is_full(1), Ok(false));
    assert_eq!(other.array("full", 0, 0).unwrap().is_full(0), Ok(true));
    let fm = r.map("fullmap", 4, FLAG_FULL).unwrap();
    assert_eq!(fm.is_full("k"), Ok(false)); // absent
    fm.write("k", ValueRef::Int(1)).unwrap();
    assert_eq!(fm.is_full("k"), Ok(true));
    let fm2 = other.map("fullmap", 0, 0).unwrap();
    fm2.exchange("k2", ValueRef::Int(2)).unwrap();
    assert_eq!(fm.is_full("k2"), Ok(true));
    assert_eq!(a.is_full(0), Ok(false));
    m.write("k", ValueRef::Int(1)).unwrap();
    assert_eq!(m.is_full("k"), Ok(false));
}

// ---- elements, of arrays and maps alike ----

fn element_reads_and_writes(name: &str) {
    let r = create(name);
    for kind in KINDS {
        let e = El::on(&r, kind, 0);
        let what = format!("{kind:?}");
        assert_eq!(e.read(), Ok(Value::Undefined), "{what}");
        assert_eq!(e.is_full(), Ok(false), "{what}");
        // read/write: every type round-trips; the tag is kept.
        for v in samples() {
            e.write(v.as_ref()).unwrap();
            assert_eq!(e.read().unwrap(), v, "{what}");
        }
        assert_eq!(e.is_full(), Ok(false), "{what}");
        e.set_tag(true).unwrap();
        e.write(ValueRef::Int(5)).unwrap();
        assert_eq!(e.is_full(), Ok(true), "{what}");

        // The full/empty transitions.
        e.write_xf(ValueRef::String("a")).unwrap();
        assert_eq!(e.read_ff(ZERO), Ok(Value::String("a".into())), "{what}");
        assert_eq!(e.is_full(), Ok(true), "{what}");
        assert_eq!(e.read_fe(ZERO), Ok(Value::String("a".into())), "{what}");
        assert_eq!(e.is_full(), Ok(false), "{what}");
        assert_eq!(e.read(), Ok(Value::String("a".into())), "{what}");
        assert_eq!(e.read_fe(ZERO), Err(Error::Timeout), "{what}");
        assert_eq!(e.read_ff(ZERO), Err(Error::Timeout), "{what}");
        e.write_ef(ValueRef::Int(1), ZERO).unwrap();
        assert_eq!(e.is_full(), Ok(true), "{what}");
        assert_eq!(e.write_ef(ValueRef::Int(2), ZERO), Err(Error::Timeout));
        assert_eq!(
            e.read(),
            Ok(Value::Int(1)),
            "{what}: a timed-out write_ef wrote"
        );
        e.write_xe(ValueRef::Int(3)).unwrap();
        assert_eq!(
            (e.read(), e.is_full()),
            (Ok(Value::Int(3)), Ok(false)),
            "{what}"
        );
        e.write_xe(ValueRef::Int(4)).unwrap();
        assert_eq!(e.read(), Ok(Value::Int(4)), "{what}");
        e.set_tag(true).unwrap();
        assert_eq!(
            (e.read(), e.is_full()),
            (Ok(Value::Int(4)), Ok(true)),
            "{what}"
        );
        e.set_tag(false).unwrap();
        assert_eq!(e.is_full(), Ok(false), "{what}");
        for v in samples() {
            e.write_xf(v.as_ref()).unwrap();
            assert_eq!(e.read_fe(ZERO).unwrap(), v, "{what}");
            e.write_ef(v.as_ref(), ZERO).unwrap();
            assert_eq!(e.read_ff(ZERO).unwrap(), v, "{what}");
            assert_eq!(e.read_fe(ZERO).unwrap(), v, "{what}");
        }

        // A bad value is refused, and the old one kept.
        e.write_xf(ValueRef::Int(7)).unwrap();
        assert_err!(e.write(BAD_OBJECT), Error::InvalidArgument(_));
        assert_err!(e.write_xe(BAD_OBJECT), Error::InvalidArgument(_));
        assert_err!(e.exchange(BAD_OBJECT), Error::InvalidArgument(_));
        assert_err!(e.faa(BAD_OBJECT), Error::InvalidArgument(_));
        assert_eq!(
            (e.read(), e.is_full()),
            (Ok(Value::Int(7)), Ok(true)),
            "{what}"
        );

        // Another attachment sees it all.
        let other = El::on(&attach(name), kind, 0);
        assert_eq!(other.read_fe(ZERO), Ok(Value::Int(7)), "{what}");
        assert_eq!(e.is_full(), Ok(false), "{what}");
    }
}

fn element_faa_cas_exchange(name: &str) {
    let r = create(name);
    for kind in KINDS {
        let what = format!("{kind:?}");
        let mut slot = 0;
        let mut fresh = || {
            slot += 1;
            El::on(&r, kind, slot)
        };
        // faa: JavaScript `+`, returning the old value; UNDEFINED counts as 0 (or "").
        let e = fresh();
        assert_eq!(e.faa(ValueRef::Int(3)), Ok(Value::Undefined), "{what}");
        assert_eq!(e.faa(ValueRef::Int(4)), Ok(Value::Int(3)), "{what}");
        assert_eq!(e.faa(ValueRef::Float(0.5)), Ok(Value::Int(7)), "{what}");
        assert_eq!(e.read(), Ok(Value::Float(7.5)), "{what}");
        assert_eq!(e.faa(ValueRef::String("x")), Ok(Value::Float(7.5)));
        assert_eq!(e.read(), Ok(Value::String("7.5x".into())), "{what}");
        assert_eq!(e.faa(ValueRef::Int(1)), Ok(Value::String("7.5x".into())));
        assert_eq!(e.read(), Ok(Value::String("7.5x1".into())), "{what}");

        let e = fresh();
        e.write(ValueRef::Int(i64::MAX)).unwrap();
        e.faa(ValueRef::Int(1)).unwrap();
        assert_eq!(e.read(), Ok(Value::Int(i64::MIN)), "{what}: int+int wraps");

        let e = fresh();
        e.faa(ValueRef::String("ab")).unwrap();
        assert_eq!(e.read(), Ok(Value::String("ab".into())), "{what}");
        let e = fresh();
        e.faa(ValueRef::Float(2.5)).unwrap();
        assert_eq!(e.read(), Ok(Value::Float(2.5)), "{what}");
        let e = fresh();
        e.write(ValueRef::Int(1)).unwrap();
        e.faa(ValueRef::String("x")).unwrap();
        assert_eq!(e.read(), Ok(Value::String("1x".into())), "{what}");
        let e = fresh();
        e.write(ValueRef::Bool(true)).unwrap();
        e.faa(ValueRef::Int(1)).unwrap();
        assert_eq!(e.read(), Ok(Value::Int(2)), "{what}");
        let e = fresh();
        e.write(ValueRef::Null).unwrap();
        e.faa(ValueRef::Float(1.5)).unwrap();
        assert_eq!(e.read(), Ok(Value::Float(1.5)), "{what}");
        let e = fresh();
        e.write(ValueRef::Bytes(b"ab")).unwrap();
        e.faa(ValueRef::Bytes(b"cd")).unwrap();
        assert_eq!(e.read(), Ok(Value::Bytes(b"abcd".to_vec())), "{what}");
        // What `+` does not define is refused, and the element left as it was.
        assert_err!(e.faa(ValueRef::Int(1)), Error::TypeMismatch(_));
        let obj = Value::from_json(r#"{"a":1}"#).unwrap();
        e.write(obj.as_ref()).unwrap();
        assert_err!(e.faa(ValueRef::Int(1)), Error::TypeMismatch(_));
        assert_err!(e.faa(ValueRef::String("s")), Error::TypeMismatch(_));
        assert_eq!(e.read(), Ok(obj.clone()), "{what}");
        // faa keeps the tag, whichever it is.
        let e = fresh();
        e.faa(ValueRef::Int(1)).unwrap();
        assert_eq!(e.is_full(), Ok(false), "{what}");
        e.set_tag(true).unwrap();
        e.faa(ValueRef::Int(1)).unwrap();
        assert_eq!(
            (e.read(), e.is_full()),
            (Ok(Value::Int(2)), Ok(true)),
            "{what}"
        );

        // cas compares type and value; it returns the old value either way.
        let e = fresh();
        assert_eq!(
            e.cas(ValueRef::Undefined, ValueRef::Int(5)),
            Ok(Value::Undefined)
        );
        assert_eq!(e.read(), Ok(Value::Int(5)), "{what}");
        assert_eq!(e.cas(ValueRef::Int(5), ValueRef::Int(6)), Ok(Value::Int(5)));
        assert_eq!(e.cas(ValueRef::Int(5), ValueRef::Int(7)), Ok(Value::Int(6)));
        assert_eq!(e.read(), Ok(Value::Int(6)), "{what}: a failed cas wrote");
        assert_eq!(
            e.cas(ValueRef::Float(6.0), ValueRef::Int(8)),
            Ok(Value::Int(6))
        );
        assert_eq!(e.read(), Ok(Value::Int(6)), "{what}: 6.0 is not INT 6");
        e.write(ValueRef::String("s")).unwrap();
        assert_eq!(
            e.cas(ValueRef::Bytes(b"s"), ValueRef::Int(1)),
            Ok(Value::String("s".into()))
        );
        assert_eq!(
            e.cas(ValueRef::String("s"), obj.as_ref()),
            Ok(Value::String("s".into()))
        );
        assert_eq!(e.cas(obj.as_ref(), ValueRef::Null), Ok(obj.clone()));
        assert_eq!(
            (e.read(), e.is_full()),
            (Ok(Value::Null), Ok(false)),
            "{what}"
        );
        e.set_tag(true).unwrap();
        e.cas(ValueRef::Null, ValueRef::Bool(true)).unwrap();
        assert_eq!(e.is_full(), Ok(true), "{what}: cas changed the tag");
        assert_err!(e.cas(ValueRef::Null, BAD_OBJECT), Error::InvalidArgument(_));

        // exchange stores, returns the old value, keeps the tag.
        let e = fresh();
        assert_eq!(e.exchange(ValueRef::Int(1)), Ok(Value::Undefined));
        assert_eq!(e.exchange(ValueRef::String("two")), Ok(Value::Int(1)));
        assert_eq!(
            (e.read(), e.is_full()),
            (Ok(Value::String("two".into())), Ok(false)),
            "{what}"
        );
        e.set_tag(true).unwrap();
        assert_eq!(e.exchange(ValueRef::Null), Ok(Value::String("two".into())));
        assert_eq!(e.is_full(), Ok(true), "{what}");

        // Concurrent faa from two attachments: no update is lost.
        let e = fresh();
        let other = attach(name);
        let slot = e.slot();
        std::thread::scope(|s| {
            let o = El::on(&other, kind, slot);
            let t = s.spawn(move || {
                for _ in 0..200 {
                    o.faa(ValueRef::Int(1)).unwrap();
                }
            });
            for _ in 0..200 {
                e.faa(ValueRef::Int(1)).unwrap();
            }
            t.join().unwrap();
        });
        assert_eq!(e.read(), Ok(Value::Int(400)), "{what}");
    }
}

/// A JSON text as a value.
fn json(text: &str) -> Value {
    Value::from_json(text).unwrap()
}

fn element_patch(name: &str) {
    let r = create(name);
    for kind in KINDS {
        let what = format!("{kind:?}");
        let mut slot = 0;
        let mut fresh = || {
            slot += 1;
            El::on(&r, kind, slot)
        };
        // An UNDEFINED element counts as {}; missing maps are created; the call returns
        // the value after the patch, which is what a read then finds.
        let e = fresh();
        let got = e.patch(json(r#"{"$inc":{"stats.hits":1}}"#).as_ref());
        assert_eq!(got, Ok(json(r#"{"stats":{"hits":1}}"#)), "{what}");
        assert_eq!(e.read(), got, "{what}");
        // The first patch of a new element moves its version as the first write does.
        let w = fresh();
        w.write(ValueRef::Int(0)).unwrap();
        assert_eq!(
            e.version(),
            w.version(),
            "{what}: first patch vs first write"
        );
        // Every operator in one patch; the version moves by exactly one.
        e.write(
            json(r#"{"stats":{"hits":1},"tags":["a"],"old":true,"lo":5,"hi":5,"n":3}"#).as_ref(),
        )
        .unwrap();
        let v0 = e.version().unwrap();
        let all = json(
            r#"{"$set":{"name":"x","items":[{"k":1},{"k":2}]},"$unset":{"old":""},
                "$inc":{"stats.hits":2},"$mul":{"n":1.5},"$min":{"lo":2},"$max":{"hi":9},
                "$push":{"log":{"$each":[1,2]}},"$addToSet":{"tags":"a"},"$pull":{"none":1}}"#,
        );
        let want = json(
            r#"{"stats":{"hits":3},"tags":["a"],"lo":2,"hi":9,"n":4.5,"name":"x",
                "items":[{"k":1},{"k":2}],"log":[1,2]}"#,
        );
        assert_eq!(e.patch(all.as_ref()), Ok(want.clone()), "{what}");
        assert_eq!(e.version(), Ok(v0 + 1), "{what}");
        // Paths with indices.
        let step = e.patch(json(r#"{"$set":{"items.1.k":7},"$pull":{"tags":"a"}}"#).as_ref());
        assert_eq!(
            step.map(|v| v.as_ref().to_json().unwrap()),
            Ok(r#"{"stats":{"hits":3},"tags":[],"lo":2,"hi":9,"n":4.5,"name":"x","items":[{"k":1},{"k":7}],"log":[1,2]}"#.to_owned()),
            "{what}"
        );
        assert_eq!(e.version(), Ok(v0 + 2), "{what}");
        // The tag is kept, FULL or EMPTY.
        assert_eq!(e.is_full(), Ok(false), "{what}");
        e.set_tag(true).unwrap();
        e.patch(json(r#"{"$inc":{"n":1}}"#).as_ref()).unwrap();
        assert_eq!(e.is_full(), Ok(true), "{what}");

        // Errors: nothing changes, not even the version.
        let before = (
            e.read().unwrap(),
            e.version().unwrap(),
            e.is_full().unwrap(),
        );
        let bad: [(&str, Value, bool); 8] = [
            ("$inc on a string", json(r#"{"$inc":{"name":1}}"#), false),
            ("path through an int", json(r#"{"$set":{"lo.x":1}}"#), false),
            (
                "index past the end",
                json(r#"{"$set":{"items.5.k":1}}"#),
                false,
            ),
            ("$push on a map", json(r#"{"$push":{"stats":1}}"#), false),
            (
                "$min of int and string",
                json(r#"{"$min":{"lo":"a"}}"#),
                false,
            ),
            (
                "unknown operator",
                json(r#"{"$inc":{"n":1},"$rename":{"a":"b"}}"#),
                true,
            ),
            (
                "overlapping paths",
                json(r#"{"$set":{"stats":1},"$inc":{"stats.hits":1}}"#),
                true,
            ),
            ("not an object", Value::Int(1), true),
        ];
        for (case, patch, invalid) in &bad {
            let got = e.patch(patch.as_ref());
            match (&got, invalid) {
                (Err(Error::InvalidArgument(_)), true) | (Err(Error::TypeMismatch(_)), false) => {}
                _ => panic!("{what}: {case}: {got:?}"),
            }
            let now = (
                e.read().unwrap(),
                e.version().unwrap(),
                e.is_full().unwrap(),
            );
            assert_eq!(now, before, "{what}: {case} changed the element");
        }
        assert_err!(e.patch(BAD_OBJECT), Error::InvalidArgument(_));
        // A first operator that succeeds does not land when a later one fails.
        assert_err!(
            e.patch(json(r#"{"$set":{"z":1},"$inc":{"name":1}}"#).as_ref()),
            Error::TypeMismatch(_)
        );
        assert_eq!(e.read(), Ok(before.0.clone()), "{what}");
        // An element that holds something other than an OBJECT.
        let s = fresh();
        s.write(ValueRef::Int(5)).unwrap();
        assert_err!(
            s.patch(json(r#"{"$set":{"a":1}}"#).as_ref()),
            Error::TypeMismatch(_)
        );
        assert_eq!(s.read(), Ok(Value::Int(5)), "{what}");

        // Concurrent patches from two attachments: nothing is lost.
        let e = fresh();
        let other = attach(name);
        let slot = e.slot();
        let inc = json(r#"{"$inc":{"a.b.n":1}}"#);
        std::thread::scope(|s| {
            let o = El::on(&other, kind, slot);
            let inc = &inc;
            let t = s.spawn(move || {
                for i in 0..100 {
                    o.patch(inc.as_ref()).unwrap();
                    o.patch(json(&format!(r#"{{"$push":{{"l":"t{i}"}}}}"#)).as_ref())
                        .unwrap();
                }
            });
            for i in 0..100 {
                e.patch(inc.as_ref()).unwrap();
                e.patch(json(&format!(r#"{{"$push":{{"l":"m{i}"}}}}"#)).as_ref())
                    .unwrap();
            }
            t.join().unwrap();
        });
        let got: serde_json::Value =
            serde_json::from_str(&e.read().unwrap().as_ref().to_json().unwrap()).unwrap();
        assert_eq!(got["a"]["b"]["n"], 200, "{what}");
        let mut l: Vec<String> = got["l"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect();
        l.sort();
        let mut want: Vec<String> = (0..100)
            .flat_map(|i| [format!("m{i}"), format!("t{i}")])
            .collect();
        want.sort();
        assert_eq!(l, want, "{what}");
    }
}

fn element_versions_and_wait_change(name: &str) {
    let r = create(name);
    for kind in KINDS {
        let what = format!("{kind:?}");
        let e = El::on(&r, kind, 1);
        e.write_xe(ValueRef::Int(0)).unwrap(); // a map key exists from here on
        let v0 = e.version().unwrap();
        // Every change moves the version by one; reads and no-ops leave it.
        type Step<'a> = (&'a str, Box<dyn Fn() -> Result<()> + 'a>, u64);
        let steps: Vec<Step> = vec![
            ("write", Box::new(|| e.write(ValueRef::Int(1))), 1),
            ("read", Box::new(|| e.read().map(drop)), 0),
            ("is_full", Box::new(|| e.is_full().map(drop)), 0),
            ("set_tag(false) on EMPTY", Box::new(|| e.set_tag(false)), 0),
            ("set_tag(true)", Box::new(|| e.set_tag(true)), 1),
            ("set_tag(true) on FULL", Box::new(|| e.set_tag(true)), 0),
            ("read_ff", Box::new(|| e.read_ff(ZERO).map(drop)), 0),
            ("read_fe", Box::new(|| e.read_fe(ZERO).map(drop)), 1),
            (
                "write_ef",
                Box::new(|| e.write_ef(ValueRef::Int(2), ZERO)),
                1,
            ),
            ("write_xf", Box::new(|| e.write_xf(ValueRef::Int(3))), 1),
            ("write_xe", Box::new(|| e.write_xe(ValueRef::Int(4))), 1),
            ("faa", Box::new(|| e.faa(ValueRef::Int(1)).map(drop)), 1),
            (
                "cas (swaps)",
                Box::new(|| e.cas(ValueRef::Int(5), ValueRef::Int(6)).map(drop)),
                1,
            ),
            (
                "cas (fails)",
                Box::new(|| e.cas(ValueRef::Int(5), ValueRef::Int(7)).map(drop)),
                0,
            ),
            (
                "exchange",
                Box::new(|| e.exchange(ValueRef::Int(8)).map(drop)),
                1,
            ),
            ("version", Box::new(|| e.version().map(drop)), 0),
        ];
        let mut want = v0;
        for (step, f, delta) in &steps {
            f().unwrap_or_else(|err| panic!("{what}: {step}: {err:?}"));
            want += delta;
            assert_eq!(e.version(), Ok(want), "{what}: after {step}");
        }

        // wait_change: returns at once when the version already differs, else waits.
        let mut seen = 0;
        e.wait_change(&mut seen, ZERO).unwrap();
        assert_eq!(seen, want, "{what}");
        assert_eq!(e.wait_change(&mut seen, ZERO), Err(Error::Timeout));
        let t = Instant::now();
        assert_eq!(
            e.wait_change(&mut seen, Some(SHORT)),
            Err(Error::Timeout),
            "{what}"
        );
        assert!(
            t.elapsed() >= SHORT,
            "{what}: gave up after {:?}",
            t.elapsed()
        );
        assert_eq!(seen, want, "{what}: a timed-out wait_change moved *seen");
        let other = attach(name);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let mut mine = want;
                e.wait_change(&mut mine, LONG).map(|()| mine)
            });
            std::thread::sleep(SETTLE);
            El::on(&other, kind, 1).write(ValueRef::Int(9)).unwrap();
            assert_eq!(waiter.join().unwrap(), Ok(want + 1), "{what}");
        });
    }
}

fn element_read_rw(name: &str) {
    let r = create(name);
    let other_region = attach(name);
    for kind in KINDS {
        let what = format!("{kind:?}");
        let e = El::on(&r, kind, 2);
        let other = El::on(&other_region, kind, 2);
        // read_rw waits for FULL.
        e.write_xe(ValueRef::Int(1)).unwrap();
        assert_eq!(e.read_rw(ZERO), Err(Error::Timeout), "{what}");
        assert_err!(e.release_rw(), Error::InvalidArgument(_));
        e.set_tag(true).unwrap();
        assert_eq!(e.read_rw(ZERO), Ok(Value::Int(1)), "{what}");
        // Held: reads proceed, shared holds too; tag-changing calls wait.
        assert_eq!(other.read(), Ok(Value::Int(1)), "{what}");
        assert_eq!(other.read_ff(ZERO), Ok(Value::Int(1)), "{what}");
        assert_eq!(other.read_rw(ZERO), Ok(Value::Int(1)), "{what}");
        other.release_rw().unwrap();
        assert_err!(other.release_rw(), Error::InvalidArgument(_));
        assert_eq!(other.read_fe(ZERO), Err(Error::Timeout), "{what}");
        std::thread::scope(|s| {
            let writer = s.spawn(|| other.write(ValueRef::Int(2)));
            std::thread::sleep(SETTLE);
            assert_eq!(
                e.read(),
                Ok(Value::Int(1)),
                "{what}: write passed a read_rw"
            );
            assert!(!writer.is_finished(), "{what}: write passed a read_rw");
            e.release_rw().unwrap();
            writer.join().unwrap().unwrap();
        });
        assert_eq!(e.read(), Ok(Value::Int(2)), "{what}");
        assert_err!(e.release_rw(), Error::InvalidArgument(_));
        // One handle may hold it twice; each hold is released once.
        e.read_rw(ZERO).unwrap();
        e.read_rw(ZERO).unwrap();
        e.release_rw().unwrap();
        assert_eq!(other.read_fe(ZERO), Err(Error::Timeout), "{what}");
        e.release_rw().unwrap();
        assert_err!(e.release_rw(), Error::InvalidArgument(_));
        assert_eq!(other.read_fe(ZERO), Ok(Value::Int(2)), "{what}");

        // A hold of a region handle that is closed is released.
        e.write_xf(ValueRef::Int(3)).unwrap();
        {
            let gone = attach(name);
            let g = El::on(&gone, kind, 2);
            assert_eq!(g.read_rw(ZERO), Ok(Value::Int(3)), "{what}");
            assert_eq!(e.read_fe(ZERO), Err(Error::Timeout), "{what}");
        }
        assert_eq!(e.read_fe(LONG), Ok(Value::Int(3)), "{what}");
    }
}

fn element_timeouts_and_wakeups(name: &str) {
    let r = create(name);
    let other_region = attach(name);
    for kind in KINDS {
        let what = format!("{kind:?}");
        let e = El::on(&r, kind, 3);
        let other = El::on(&other_region, kind, 3);
        // A zero timeout tries once; a short one gives up when it passes, not before.
        type Call<'a> = &'a dyn Fn(Option<Duration>) -> Result<()>;
        let calls: [(&str, Call); 3] = [
            ("read_fe", &|t| e.read_fe(t).map(drop)),
            ("read_ff", &|t| e.read_ff(t).map(drop)),
            ("read_rw", &|t| e.read_rw(t).map(drop)),
        ];
        for (call, f) in calls {
            assert_eq!(f(ZERO), Err(Error::Timeout), "{what}: {call}");
            let t = Instant::now();
            assert_eq!(f(Some(SHORT)), Err(Error::Timeout), "{what}: {call}");
            assert!(t.elapsed() >= SHORT, "{what}: {call} gave up early");
        }
        e.write_xf(ValueRef::Int(1)).unwrap();
        assert_eq!(e.write_ef(ValueRef::Int(2), ZERO), Err(Error::Timeout));
        let t = Instant::now();
        assert_eq!(
            e.write_ef(ValueRef::Int(2), Some(SHORT)),
            Err(Error::Timeout)
        );
        assert!(t.elapsed() >= SHORT, "{what}: write_ef gave up early");
        assert_eq!(e.read_fe(ZERO), Ok(Value::Int(1)), "{what}");

        // Blocked calls are woken by another attachment's change.
        std::thread::scope(|s| {
            let reader = s.spawn(|| e.read_fe(LONG));
            std::thread::sleep(SETTLE);
            other.write_ef(ValueRef::String("wake"), LONG).unwrap();
            assert_eq!(reader.join().unwrap(), Ok(Value::String("wake".into())));
            assert_eq!(e.is_full(), Ok(false), "{what}");

            let reader = s.spawn(|| e.read_ff(LONG));
            std::thread::sleep(SETTLE);
            other.write_xf(ValueRef::Int(5)).unwrap();
            assert_eq!(reader.join().unwrap(), Ok(Value::Int(5)), "{what}");

            let writer = s.spawn(|| e.write_ef(ValueRef::Int(6), LONG));
            std::thread::sleep(SETTLE);
            assert_eq!(other.read_fe(LONG), Ok(Value::Int(5)), "{what}");
            writer.join().unwrap().unwrap();
            assert_eq!(other.read_fe(LONG), Ok(Value::Int(6)), "{what}");

            let holder = s.spawn(|| e.read_rw(LONG));
            std::thread::sleep(SETTLE);
            other.write_xf(ValueRef::Int(7)).unwrap();
            assert_eq!(holder.join().unwrap(), Ok(Value::Int(7)), "{what}");
            e.release_rw().unwrap();
        });

        // A ping-pong of 200 handshakes between two attachments.
        let (ping, pong) = (El::on(&r, kind, 4), El::on(&other_region, kind, 5));
        let (ping2, pong2) = (El::on(&other_region, kind, 4), El::on(&r, kind, 5));
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..200 {
                    let v = ping2.read_fe(LONG).unwrap();
                    pong2.write_ef(v.as_ref(), LONG).unwrap();
                    assert_eq!(v, Value::Int(i));
                }
            });
            for i in 0..200 {
                ping.write_ef(ValueRef::Int(i), LONG).unwrap();
                assert_eq!(pong.read_fe(LONG), Ok(Value::Int(i)), "{what}");
            }
        });
    }
}

/// Blocked `read_fe` calls: each value goes to exactly one of them, a call that gave up
/// takes nothing afterwards, a `read_rw` released or a map key removed under them is
/// not a value for them.
fn element_waiting_readers(name: &str) {
    let r = create(name);
    let other_region = attach(name);
    for kind in KINDS {
        let what = format!("{kind:?}");
        let e = El::on(&r, kind, 6);
        let other = El::on(&other_region, kind, 6);

        // Gave up: the value written afterwards stays for the next reader.
        assert_eq!(e.read_fe(Some(SHORT)), Err(Error::Timeout), "{what}");
        other.write_ef(ValueRef::Int(1), LONG).unwrap();
        assert_eq!(
            e.read_ff(ZERO),
            Ok(Value::Int(1)),
            "{what}: the value was taken"
        );
        assert_eq!(e.read_fe(ZERO), Ok(Value::Int(1)), "{what}");

        // Three blocked readers, three values: one each.
        std::thread::scope(|s| {
            let readers: Vec<_> = (0..3).map(|_| s.spawn(|| e.read_fe(LONG))).collect();
            std::thread::sleep(SETTLE);
            for i in 10..13 {
                other.write_ef(ValueRef::Int(i), LONG).unwrap();
            }
            let mut got: Vec<Value> = readers
                .into_iter()
                .map(|t| t.join().unwrap().unwrap())
                .collect();
            got.sort_by_key(|v| match v {
                Value::Int(i) => *i,
                _ => -1,
            });
            assert_eq!(
                got,
                [Value::Int(10), Value::Int(11), Value::Int(12)],
                "{what}"
            );
            assert_eq!(e.is_full(), Ok(false), "{what}");
        });

        // FULL but held by read_rw: the reader waits for the release, then takes it.
        other.write_ef(ValueRef::Int(20), LONG).unwrap();
        assert_eq!(other.read_rw(LONG), Ok(Value::Int(20)), "{what}");
        std::thread::scope(|s| {
            let reader = s.spawn(|| e.read_fe(LONG));
            std::thread::sleep(SETTLE);
            assert!(
                !reader.is_finished(),
                "{what}: read_fe did not wait for read_rw"
            );
            other.release_rw().unwrap();
            assert_eq!(reader.join().unwrap(), Ok(Value::Int(20)), "{what}");
        });
    }

    // A map key removed under a blocked reader: it waits on, for the key written again.
    let m = r.map("map", 64, 0).unwrap();
    let other = other_region.map("map", 64, 0).unwrap();
    other.write_xe("gone", ValueRef::Int(0)).unwrap();
    std::thread::scope(|s| {
        let reader = s.spawn(|| m.read_fe("gone", LONG));
        std::thread::sleep(SETTLE);
        other.remove("gone").unwrap();
        std::thread::sleep(SETTLE);
        assert!(
            !reader.is_finished(),
            "read_fe returned when its key was removed"
        );
        other.write_ef("gone", ValueRef::Int(30), LONG).unwrap();
        assert_eq!(reader.join().unwrap(), Ok(Value::Int(30)));
    });
}

/// A region removed, or replaced by a RECREATE of its name, under open handles: every
/// call of them returns REMOVED, and callers blocked in it (of every kind) wake with
/// REMOVED, well before their timeouts.
fn region_removal(name: &str) {
    for replace in [false, true] {
        let r = create(name);
        let other = attach(name);
        let a = other.array("a", 4, 0).unwrap();
        let m = other.map("m", 8, 0).unwrap();
        let q = other.queue("q", 4, 0).unwrap();
        let b = other.bus("b", 8, 0).unwrap();
        let mx = other.mutex("mx").unwrap();
        let br = other.barrier("br", 2).unwrap();
        let sem = other.semaphore("sem", 1).unwrap();
        r.mutex("mx")
            .unwrap()
            .lock_until(&Deadline::after(ZERO))
            .unwrap();
        sem.acquire_until(&Deadline::after(ZERO)).unwrap();
        let mut sub = b.subscribe(Start::Now).unwrap();
        std::thread::scope(|s| {
            type Blocked<'a> = Box<dyn FnOnce() -> Result<()> + Send + 'a>;
            let blocked: Vec<(&str, Blocked)> = vec![
                ("array read_fe", Box::new(|| a.read_fe(0, LONG).map(drop))),
                ("map read_ff", Box::new(|| m.read_ff("k", LONG).map(drop))),
                ("queue pop", Box::new(|| q.pop(LONG).map(drop))),
                ("bus next", Box::new(|| sub.next(LONG).map(drop))),
                (
                    "mutex lock",
                    Box::new(|| mx.lock_until(&Deadline::after(LONG)).map(drop)),
                ),
                (
                    "barrier wait",
                    Box::new(|| br.wait_until(&Deadline::after(LONG)).map(drop)),
                ),
                (
                    "semaphore acquire",
                    Box::new(|| sem.acquire_until(&Deadline::after(LONG))),
                ),
                ("wait_object", Box::new(|| other.wait_object("never", LONG))),
            ];
            let waiting: Vec<_> = blocked
                .into_iter()
                .map(|(what, f)| (what, s.spawn(f)))
                .collect();
            std::thread::sleep(SETTLE);
            let t = Instant::now();
            if replace {
                Region::open(name, &options(OpenMode::Recreate)).unwrap();
            } else {
                Region::remove(name).unwrap();
            }
            for (what, w) in waiting {
                assert_err!(
                    w.join().unwrap().map_err(|e| (what, e)),
                    (_, Error::Removed(_))
                );
                assert!(
                    t.elapsed() < Duration::from_secs(2),
                    "{what} woke {:?} after the removal",
                    t.elapsed()
                );
            }
        });
        // Every call of every handle, on both attachments.
        assert_err!(a.read(0), Error::Removed(_));
        assert_err!(a.write(1, ValueRef::Int(1)), Error::Removed(_));
        assert_err!(m.write("k", ValueRef::Int(1)), Error::Removed(_));
        assert_err!(q.push(ValueRef::Int(1), ZERO), Error::Removed(_));
        assert_err!(b.publish(ValueRef::Int(1)), Error::Removed(_));
        assert_err!(r.info(), Error::Removed(_));
        assert_err!(r.array("new", 1, 0), Error::Removed(_));
        assert_err!(other.info(), Error::Removed(_));
        // The name works anew (after a RECREATE, it is the new region's).
        let fresh = Region::open(name, &options(OpenMode::OpenOrCreate)).unwrap();
        assert_err!(fresh.array("a", 0, 0), Error::NotFound(_));
        fresh
            .array("a", 2, 0)
            .unwrap()
            .write(0, ValueRef::Int(5))
            .unwrap();
        drop(fresh);
        Region::remove(name).unwrap();
    }
}

/// A wait that a removal must end first: a call that returns TIMEOUT after it was not
/// woken by the removal.
const UNTIL_REMOVED: Option<Duration> = Some(Duration::from_secs(10));

/// The handles of one object of each kind (as one attachment opened them) and a
/// subscription of the bus.
struct EveryKind {
    a: Array,
    m: Map,
    q: Queue,
    b: Bus,
    sub: Subscription,
    mx: Mutex,
    br: Barrier,
    sem: Semaphore,
}

impl EveryKind {
    /// The objects "a" (array of 4), "m" (map of 8), "q" (queue of 1), "b" (bus), "mx",
    /// "br" (barrier of 2) and "sem" (semaphore of 1), opened through `r` (created if
    /// absent).
    fn open(r: &Region) -> EveryKind {
        let b = r.bus("b", 4, 0).unwrap();
        EveryKind {
            a: r.array("a", 4, 0).unwrap(),
            m: r.map("m", 8, 0).unwrap(),
            q: r.queue("q", 1, 0).unwrap(),
            sub: b.subscribe(Start::Now).unwrap(),
            b,
            mx: r.mutex("mx").unwrap(),
            br: r.barrier("br", 2).unwrap(),
            sem: r.semaphore("sem", 1).unwrap(),
        }
    }

    /// Every call of every handle (and of the subscription) returns REMOVED.
    fn every_call_is_removed(&mut self, whose: &str) {
        let v = ValueRef::Int(1);
        let forever = || Deadline::after(None);
        let zero = || Deadline::after(ZERO);
        let (a, m, q, b, mx, br, sem) = (
            &self.a, &self.m, &self.q, &self.b, &self.mx, &self.br, &self.sem,
        );
        let mut seen = 0;
        let calls: Vec<(&str, Result<()>)> = vec![
            ("array read", a.read(0).map(drop)),
            ("array write", a.write(0, v)),
            ("array read_fe", a.read_fe(0, ZERO).map(drop)),
            ("array read_ff", a.read_ff(0, ZERO).map(drop)),
            ("array write_ef", a.write_ef(0, v, ZERO)),
            ("array write_xf", a.write_xf(0, v)),
            ("array write_xe", a.write_xe(0, v)),
            ("array set_tag", a.set_tag(0, true)),
            ("array is_full", a.is_full(0).map(drop)),
            ("array read_rw", a.read_rw(0, ZERO).map(drop)),
            ("array release_rw", a.release_rw(0)),
            ("array faa", a.faa(0, v).map(drop)),
            ("array cas", a.cas(0, v, v).map(drop)),
            ("array exchange", a.exchange(0, v).map(drop)),
            ("array version", a.version(0).map(drop)),
            ("array wait_change", a.wait_change(0, &mut seen, ZERO)),
            ("map read", m.read("k").map(drop)),
            ("map write", m.write("k", v)),
            ("map read_fe", m.read_fe("k", ZERO).map(drop)),
            ("map read_ff", m.read_ff("k", ZERO).map(drop)),
            ("map write_ef", m.write_ef("k", v, ZERO)),
            ("map write_xf", m.write_xf("k", v)),
            ("map write_xe", m.write_xe("k", v)),
            ("map set_tag", m.set_tag("k", true)),
            ("map is_full", m.is_full("k").map(drop)),
            ("map read_rw", m.read_rw("k", ZERO).map(drop)),
            ("map release_rw", m.release_rw("k")),
            ("map faa", m.faa("k", v).map(drop)),
            ("map cas", m.cas("k", v, v).map(drop)),
            ("map exchange", m.exchange("k", v).map(drop)),
            ("map version", m.version("k").map(drop)),
            ("map wait_change", m.wait_change("k", &mut seen, ZERO)),
            ("map len", m.len().map(drop)),
            ("map is_empty", m.is_empty().map(drop)),
            ("map remove", m.remove("k")),
            ("map next_key", m.next_key(&mut 0).map(drop)),
            ("queue push", q.push(v, ZERO)),
            ("queue pop", q.pop(ZERO).map(drop)),
            ("queue len", q.len().map(drop)),
            ("queue is_empty", q.is_empty().map(drop)),
            ("queue shutdown", q.shutdown()),
            ("queue is_shutdown", q.is_shutdown().map(drop)),
            ("bus publish", b.publish(v).map(drop)),
            ("bus publish_many", b.publish_many(&[v, v]).map(drop)),
            ("bus subscribe", b.subscribe(Start::Oldest).map(drop)),
            ("bus next_seq", b.next_seq().map(drop)),
            ("bus shutdown", b.shutdown()),
            ("bus is_shutdown", b.is_shutdown().map(drop)),
            ("subscription next", self.sub.next(ZERO).map(drop)),
            ("subscription next, no limit", self.sub.next(None).map(drop)),
            ("mutex lock", mx.lock_until(&zero()).map(drop)),
            ("mutex unlock", mx.unlock()),
            ("mutex is_locked", mx.is_locked().map(drop)),
            ("barrier wait", br.wait_until(&zero()).map(drop)),
            ("semaphore acquire", sem.acquire_until(&zero())),
            ("semaphore release", sem.release()),
            ("semaphore available", sem.available().map(drop)),
            ("semaphore held", sem.held().map(drop)),
            // A wait without limit returns too.
            ("array read_fe, no limit", a.read_fe(1, None).map(drop)),
            ("mutex lock, no limit", mx.lock_until(&forever()).map(drop)),
        ];
        for (what, got) in calls {
            match got {
                Err(Error::Removed(msg)) => {
                    assert!(
                        msg.contains('\'') && msg.contains("again"),
                        "{whose} {what}: the message should name the object and say to \
                         open it again: {msg}"
                    );
                }
                other => panic!("{whose} {what} after remove_object: {other:?}"),
            }
        }
    }
}

/// The handles of [`EveryKind`] but its subscription, borrowed.
struct Theirs<'a> {
    a: &'a Array,
    m: &'a Map,
    q: &'a Queue,
    mx: &'a Mutex,
    br: &'a Barrier,
    sem: &'a Semaphore,
}

/// `remove_object(name)`: every handle of the object, in every attachment, returns
/// REMOVED from its next call (whichever call); callers blocked in it, of every blocking
/// call, wake with REMOVED (before their own timeouts); the name is free at once, for
/// any kind, and an old handle never reaches the new object of its name, nor sees the
/// locks or permits its holders had; listings no longer show it and `wait_object` waits
/// for a new one.
fn object_removal(name: &str) {
    let r = create(name);
    assert_err!(r.remove_object("absent"), Error::NotFound(_));
    assert_err!(r.remove_object(""), Error::InvalidArgument(_));
    let mut mine = EveryKind::open(&r);
    let other = attach(name);
    let mut theirs = EveryKind::open(&other);
    // What the blocked calls wait for: a[1], m["full"] FULL (write_ef waits), a queue
    // "qf" full (push waits), the mutex held and the permit taken through `r`.
    mine.a.write_xf(1, ValueRef::Int(1)).unwrap();
    mine.m.write_xf("full", ValueRef::Int(1)).unwrap();
    let qf = r.queue("qf", 1, 0).unwrap();
    qf.push(ValueRef::Int(1), ZERO).unwrap();
    let their_qf = other.queue("qf", 0, 0).unwrap();
    assert_eq!(
        mine.mx.lock_until(&Deadline::after(ZERO)),
        Ok(Acquired::Clean)
    );
    mine.sem.acquire_until(&Deadline::after(ZERO)).unwrap();
    mine.a.read_rw(1, ZERO).unwrap(); // held across the removal
    let mut array_seen = theirs.a.version(3).unwrap();
    let mut map_seen = theirs.m.version("w").unwrap();
    let names = ["a", "m", "q", "qf", "b", "mx", "br", "sem"];
    // (Disjoint borrows: the subscription is borrowed mutably by its waiter.)
    let t = Theirs {
        a: &theirs.a,
        m: &theirs.m,
        q: &theirs.q,
        mx: &theirs.mx,
        br: &theirs.br,
        sem: &theirs.sem,
    };
    std::thread::scope(|s| {
        type Blocked<'a> = Box<dyn FnOnce() -> Result<()> + Send + 'a>;
        let t = &t;
        let d = || Deadline::after(UNTIL_REMOVED);
        let sub = &mut theirs.sub;
        let blocked: Vec<(&str, Blocked)> = vec![
            (
                "array read_fe",
                Box::new(|| t.a.read_fe(0, UNTIL_REMOVED).map(drop)),
            ),
            (
                "array read_fe, a second reader (the first attachment's)",
                Box::new(|| mine.a.read_fe(0, UNTIL_REMOVED).map(drop)),
            ),
            (
                "array write_ef",
                Box::new(|| t.a.write_ef(1, ValueRef::Int(2), UNTIL_REMOVED)),
            ),
            (
                "array read_ff",
                Box::new(|| t.a.read_ff(2, UNTIL_REMOVED).map(drop)),
            ),
            (
                "array read_rw",
                Box::new(|| t.a.read_rw(2, UNTIL_REMOVED).map(drop)),
            ),
            (
                "array wait_change",
                Box::new(|| t.a.wait_change(3, &mut array_seen, UNTIL_REMOVED)),
            ),
            (
                "map read_fe",
                Box::new(|| t.m.read_fe("k", UNTIL_REMOVED).map(drop)),
            ),
            (
                "map write_ef",
                Box::new(|| t.m.write_ef("full", ValueRef::Int(2), UNTIL_REMOVED)),
            ),
            (
                "map read_ff",
                Box::new(|| t.m.read_ff("k2", UNTIL_REMOVED).map(drop)),
            ),
            (
                "map read_rw",
                Box::new(|| t.m.read_rw("k3", UNTIL_REMOVED).map(drop)),
            ),
            (
                "map wait_change",
                Box::new(|| t.m.wait_change("w", &mut map_seen, UNTIL_REMOVED)),
            ),
            ("queue pop", Box::new(|| t.q.pop(UNTIL_REMOVED).map(drop))),
            (
                "queue push",
                Box::new(|| their_qf.push(ValueRef::Int(2), UNTIL_REMOVED)),
            ),
            ("bus next", Box::new(|| sub.next(UNTIL_REMOVED).map(drop))),
            (
                "mutex lock",
                Box::new(move || t.mx.lock_until(&d()).map(drop)),
            ),
            (
                "barrier wait",
                Box::new(move || t.br.wait_until(&d()).map(drop)),
            ),
            (
                "semaphore acquire",
                Box::new(move || t.sem.acquire_until(&d())),
            ),
        ];
        let waiting: Vec<_> = blocked
            .into_iter()
            .map(|(what, f)| (what, s.spawn(f)))
            .collect();
        std::thread::sleep(SETTLE);
        for n in names {
            r.remove_object(n).unwrap();
        }
        for (what, w) in waiting {
            assert_err!(
                w.join().unwrap().map_err(|e| (what, e)),
                (_, Error::Removed(_))
            );
        }
    });
    // Gone for both attachments, from every call.
    mine.every_call_is_removed("first attachment:");
    theirs.every_call_is_removed("second attachment:");
    assert_err!(qf.push(ValueRef::Int(1), ZERO), Error::Removed(_));
    // Removing it again, or opening it by name: it does not exist.
    for n in names {
        assert_err!(r.remove_object(n), Error::NotFound(_));
        assert_err!(other.array(n, 0, 0), Error::NotFound(_));
        assert_err!(other.wait_object(n, ZERO), Error::Timeout);
    }
    assert!(r.objects().unwrap().is_empty(), "{:?}", r.objects());
    assert_eq!(r.next_object(&mut 0), Ok(None));
    assert_eq!(other.info().unwrap().object_count, 0);

    // The names are free at once, for any kind; a waiter for one wakes when it is made.
    std::thread::scope(|s| {
        let waiter = s.spawn(|| other.wait_object("q", UNTIL_REMOVED));
        std::thread::sleep(SETTLE);
        let qa = r.array("q", 2, 0).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(()));
        qa.write(0, ValueRef::Int(7)).unwrap();
    });
    let aq = other.queue("a", 2, 0).unwrap();
    aq.push(ValueRef::Int(8), ZERO).unwrap();
    let mm = r.mutex("m").unwrap();
    let bm = other.map("b", 4, 0).unwrap();
    bm.write("k", ValueRef::Int(9)).unwrap();
    // Same kind, other shape: nothing of the old one (value, lock, permit, read_rw).
    let a2 = other.array("a", 0, 0);
    assert_err!(a2, Error::TypeMismatch(_));
    let mx = other.mutex("mx").unwrap();
    assert_eq!(mx.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
    mx.unlock().unwrap();
    let sem = other.semaphore("sem", 2).unwrap();
    assert_eq!(sem.available(), Ok(2));
    let arr = other.array("m2", 2, 0).unwrap();
    arr.write_xf(0, ValueRef::Int(1)).unwrap();
    r.remove_object("m2").unwrap();
    let arr2 = r.array("m2", 3, 0).unwrap();
    assert_eq!(arr2.read(0), Ok(Value::Undefined));
    assert_eq!(arr2.version(0), Ok(0));
    assert_eq!(arr2.read_fe(0, ZERO), Err(Error::Timeout));
    arr2.write_xf(0, ValueRef::Int(2)).unwrap();
    assert_eq!(mm.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
    mm.unlock().unwrap();
    // The old handles stay removed: none reaches the new object of its name.
    mine.every_call_is_removed("first attachment, the names taken again:");
    theirs.every_call_is_removed("second attachment, the names taken again:");
    assert_err!(arr.read(0), Error::Removed(_));
    assert_err!(arr.write_xf(0, ValueRef::Int(3)), Error::Removed(_));
    assert_eq!(arr2.read(0), Ok(Value::Int(2)));
    assert_eq!(other.array("q", 0, 0).unwrap().read(0), Ok(Value::Int(7)));
    assert_eq!(aq.pop(ZERO), Ok(Value::Int(8)));
    assert_eq!(r.map("b", 0, 0).unwrap().read("k"), Ok(Value::Int(9)));
    let mut listed: Vec<(String, &str)> = r
        .objects()
        .unwrap()
        .into_iter()
        .map(|o| (o.name, o.kind))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("a", "queue"),
            ("b", "map"),
            ("m", "mutex"),
            ("m2", "array"),
            ("mx", "mutex"),
            ("q", "array"),
            ("sem", "semaphore"),
        ]
        .map(|(n, k)| (n.to_owned(), k))
    );
    // A removed region: REMOVED, as for every call of it.
    Region::remove(name).unwrap();
    assert_err!(r.remove_object("q"), Error::Removed(_));
}

/// Listing a region's objects with a cursor: each object once, with its kind and shape;
/// objects that exist throughout are seen exactly once while another attachment creates
/// more meanwhile.
fn object_listing(name: &str) {
    let r = create(name);
    let list = |r: &Region| {
        let mut cursor = 0;
        let mut seen = Vec::new();
        while let Some(o) = r.next_object(&mut cursor).unwrap() {
            seen.push((o.name, o.kind, o.shape));
        }
        assert_eq!(
            r.next_object(&mut cursor),
            Ok(None),
            "the end stays the end"
        );
        seen
    };
    assert!(list(&r).is_empty());
    r.array("a", 3, 0).unwrap();
    r.map("m", 9, 0).unwrap();
    r.queue("q", 4, 0).unwrap();
    r.queue("s", 5, FLAG_LIFO).unwrap();
    r.bus("b", 6, 0).unwrap();
    r.mutex("x").unwrap();
    r.barrier("br", 2).unwrap();
    r.semaphore("sem", 7).unwrap();
    let mut seen = list(&r);
    seen.sort();
    let expected: Vec<(String, &str, u64)> = [
        ("a", "array", 3),
        ("b", "bus", 6),
        ("br", "barrier", 2),
        ("m", "map", 9),
        ("q", "queue", 4),
        ("s", "stack", 5),
        ("sem", "semaphore", 7),
        ("x", "mutex", 1),
    ]
    .into_iter()
    .map(|(n, k, s)| (n.to_owned(), k, s))
    .collect();
    assert_eq!(seen, expected);
    // Another attachment creates objects while this one lists, step by step.
    let other = attach(name);
    let mut cursor = 0;
    let mut names = Vec::new();
    let mut made = 0;
    while let Some(o) = r.next_object(&mut cursor).unwrap() {
        names.push(o.name);
        if made < 20 {
            other.array(&format!("new-{made}"), 1, 0).unwrap();
            made += 1;
        }
    }
    for (n, _, _) in &expected {
        assert_eq!(
            names.iter().filter(|x| *x == n).count(),
            1,
            "{n} in {names:?}"
        );
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "seen twice: {names:?}");
}

fn out_of_range(name: &str) {
    let r = create(name);
    let a = r.array("a", 3, 0).unwrap();
    let v = ValueRef::Int(1);
    let mut seen = 0;
    let oor = |got: Result<()>, call: &str| match got {
        Err(Error::OutOfRange {
            index: 3,
            length: 3,
        }) => {}
        other => panic!("{call}: expected OutOfRange {{ 3, 3 }}, got {other:?}"),
    };
    oor(a.read(3).map(drop), "read");
    oor(a.write(3, v), "write");
    oor(a.read_fe(3, ZERO).map(drop), "read_fe");
    oor(a.read_ff(3, ZERO).map(drop), "read_ff");
    oor(a.write_ef(3, v, ZERO), "write_ef");
    oor(a.write_xf(3, v), "write_xf");
    oor(a.write_xe(3, v), "write_xe");
    oor(a.set_tag(3, true), "set_tag");
    oor(a.is_full(3).map(drop), "is_full");
    oor(a.read_rw(3, ZERO).map(drop), "read_rw");
    oor(a.release_rw(3), "release_rw");
    oor(a.faa(3, v).map(drop), "faa");
    oor(a.cas(3, v, v).map(drop), "cas");
    oor(a.exchange(3, v).map(drop), "exchange");
    oor(a.version(3).map(drop), "version");
    oor(a.wait_change(3, &mut seen, ZERO), "wait_change");
    match a.read(u64::MAX) {
        Err(Error::OutOfRange { index, length: 3 }) => assert_eq!(index, u64::MAX),
        other => panic!("read(u64::MAX): {other:?}"),
    }
    a.write(2, v).unwrap();
    assert_eq!(a.read(2), Ok(Value::Int(1)));
}

// ---- maps ----

fn map_keys(name: &str) {
    let r = create(name);
    let m = r.map("m", 3, 0).unwrap();
    let other = attach(name).map("m", 0, 0).unwrap();
    // An absent key reads as EMPTY, UNDEFINED, version 0, and reading inserts nothing.
    assert_eq!(m.read("nope"), Ok(Value::Undefined));
    assert_eq!(m.is_full("nope"), Ok(false));
    assert_eq!(m.version("nope"), Ok(0));
    assert_eq!(m.read_ff("nope", ZERO), Err(Error::Timeout));
    assert_eq!((m.len(), m.is_empty()), (Ok(0), Ok(true)));
    assert_err!(m.remove("nope"), Error::NotFound(_));
    let mut cursor = 0;
    assert_eq!(m.next_key(&mut cursor), Ok(None));

    // Keys, the empty one included; the longest allowed and one byte more.
    m.write("a", ValueRef::Int(1)).unwrap();
    m.write_xf("", ValueRef::Int(2)).unwrap();
    let long = "k".repeat(MAX_KEY_LEN);
    m.set_tag(&long, true).unwrap();
    assert_eq!((m.len(), other.len()), (Ok(3), Ok(3)));
    assert_eq!(other.read(""), Ok(Value::Int(2)));
    assert_eq!(other.read_fe(&long, ZERO), Ok(Value::Undefined));
    assert_err!(
        m.write(&"k".repeat(MAX_KEY_LEN + 1), ValueRef::Int(1)),
        Error::InvalidArgument(_)
    );

    // Iteration: every key once.
    let mut keys = Vec::new();
    let mut cursor = 0;
    while let Some(k) = other.next_key(&mut cursor).unwrap() {
        keys.push(k);
        assert!(keys.len() <= 3, "iteration did not end: {keys:?}");
    }
    keys.sort();
    assert_eq!(keys, vec![String::new(), "a".to_owned(), long.clone()]);

    // Full: a new key is refused by every inserting call; existing keys still change.
    for (call, got) in [
        ("write", m.write("new", ValueRef::Int(1))),
        ("write_xf", m.write_xf("new", ValueRef::Int(1))),
        ("write_xe", m.write_xe("new", ValueRef::Int(1))),
        ("write_ef", m.write_ef("new", ValueRef::Int(1), ZERO)),
        ("set_tag", m.set_tag("new", true)),
        ("faa", m.faa("new", ValueRef::Int(1)).map(drop)),
        ("exchange", m.exchange("new", ValueRef::Int(1)).map(drop)),
        (
            "patch",
            m.patch("new", json(r#"{"$set":{"a":1}}"#).as_ref())
                .map(drop),
        ),
        (
            "cas",
            m.cas("new", ValueRef::Undefined, ValueRef::Int(1))
                .map(drop),
        ),
    ] {
        assert_err!(got.map_err(|e| (call, e)), (_, Error::NoSpace(_)));
    }
    assert_eq!(m.len(), Ok(3));
    m.write("a", ValueRef::Int(10)).unwrap();
    assert_eq!(m.faa("a", ValueRef::Int(1)), Ok(Value::Int(10)));

    // Removal: the key is gone (reads as absent, version 0), its place is free, waiters
    // see the change (to 0), and a re-inserted key never repeats a version.
    let before = m.version("a").unwrap();
    assert!(before > 0);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut seen = before;
            other.wait_change("a", &mut seen, LONG).map(|()| seen)
        });
        std::thread::sleep(SETTLE);
        m.remove("a").unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(0));
    });
    assert_eq!(m.read("a"), Ok(Value::Undefined));
    assert_eq!((m.is_full("a"), m.version("a")), (Ok(false), Ok(0)));
    assert_eq!(m.len(), Ok(2));
    assert_err!(m.remove("a"), Error::NotFound(_));
    m.write("new", ValueRef::Int(1)).unwrap();
    assert_eq!(m.len(), Ok(3));
    m.remove("new").unwrap();
    // A waiter on an absent key (version 0) returns when it is inserted.
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut seen = 0;
            other.wait_change("a", &mut seen, LONG).map(|()| seen)
        });
        std::thread::sleep(SETTLE);
        m.write_xf("a", ValueRef::Int(5)).unwrap();
        let after = waiter.join().unwrap().unwrap();
        assert!(
            after > before,
            "version {after} after re-insertion, {before} before"
        );
    });
    assert!(m.version("a").unwrap() > before);
    // A read waiting for a removed key keeps waiting for a new insertion.
    m.remove("a").unwrap();
    std::thread::scope(|s| {
        let reader = s.spawn(|| other.read_fe("a", LONG));
        std::thread::sleep(SETTLE);
        m.write_xe("a", ValueRef::Int(1)).unwrap();
        m.remove("a").unwrap();
        m.write_xf("a", ValueRef::Int(2)).unwrap();
        assert_eq!(reader.join().unwrap(), Ok(Value::Int(2)));
    });
}

// ---- the region's directory ----

fn wait_object_and_info(name: &str) {
    let r = create(name);
    assert_eq!(r.info().unwrap().object_count, 0);
    assert_eq!(r.wait_object("x", ZERO), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(r.wait_object("x", Some(SHORT)), Err(Error::Timeout));
    assert!(t.elapsed() >= SHORT, "wait_object gave up early");
    assert_err!(r.wait_object("", ZERO), Error::InvalidArgument(_));
    let other = attach(name);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| r.wait_object("x", LONG));
        std::thread::sleep(SETTLE);
        other.map("x", 4, 0).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(()));
    });
    r.array("a", 4, 0).unwrap();
    assert_eq!(r.wait_object("a", ZERO), Ok(()));
    assert_eq!(r.wait_object("x", ZERO), Ok(()));
    // Opening an existing object again does not count it again.
    r.array("a", 0, 0).unwrap();
    assert_eq!(r.info().unwrap().object_count, 2);
    assert_eq!(other.info().unwrap().object_count, 2);
    // Map keys and element values are not objects.
    let m = r.map("x", 0, 0).unwrap();
    m.write("k", ValueRef::Int(1)).unwrap();
    assert_eq!(r.info().unwrap().object_count, 2);
    assert_eq!(r.wait_object("k", ZERO), Err(Error::Timeout));
}

// ---- queues ----

fn queues(name: &str) {
    let r = create(name);
    assert_err!(r.queue("q", 0, 0), Error::NotFound(_));
    let q = r.queue("q", 4, 0).unwrap();
    assert_eq!((q.name(), q.capacity()), ("q", 4));
    assert_eq!((q.len(), q.is_empty()), (Ok(0), Ok(true)));
    assert_eq!(r.wait_object("q", ZERO), Ok(()));
    // Open rules.
    let other = attach(name);
    assert_eq!(other.queue("q", 0, 0).unwrap().capacity(), 4);
    assert_err!(r.queue("q", 5, 0), Error::Incompatible(_));
    assert_err!(r.queue("q", 4, FLAG_LIFO), Error::Incompatible(_));
    assert_err!(r.queue("q", 0, FLAG_LIFO), Error::Incompatible(_));
    assert_err!(r.queue("q", 4, FLAG_EXCLUSIVE), Error::Exists(_));
    assert_err!(r.queue("q", 4, FLAG_FULL), Error::InvalidArgument(_));
    assert_err!(r.array("q", 4, 0), Error::TypeMismatch(_));
    r.array("arr", 4, 0).unwrap();
    assert_err!(r.queue("arr", 4, 0), Error::TypeMismatch(_));
    assert_err!(r.queue("", 4, 0), Error::InvalidArgument(_));

    // FIFO, every type, across attachments.
    let big = r.queue("big", 64, 0).unwrap();
    let big2 = other.queue("big", 0, 0).unwrap();
    for v in samples() {
        big.push(v.as_ref(), ZERO).unwrap();
    }
    assert_eq!(big2.len(), Ok(samples().len() as u64));
    for v in samples() {
        assert_eq!(big2.pop(ZERO).unwrap(), v);
    }
    assert_eq!(big.pop(ZERO), Err(Error::Timeout));
    assert_err!(big.push(BAD_OBJECT, ZERO), Error::InvalidArgument(_));
    assert_eq!(big.len(), Ok(0));

    // Empty: pops wait; full: pushes wait; zero tries once, a short timeout passes.
    assert_eq!(q.pop(ZERO), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(q.pop(Some(SHORT)), Err(Error::Timeout));
    assert!(t.elapsed() >= SHORT, "pop gave up early");
    for i in 0..4 {
        q.push(ValueRef::Int(i), ZERO).unwrap();
    }
    assert_eq!((q.len(), q.is_empty()), (Ok(4), Ok(false)));
    assert_eq!(q.push(ValueRef::Int(9), ZERO), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(q.push(ValueRef::Int(9), Some(SHORT)), Err(Error::Timeout));
    assert!(t.elapsed() >= SHORT, "push gave up early");
    assert_eq!(q.len(), Ok(4));

    // Blocked calls are woken by another attachment.
    let q2 = other.queue("q", 0, 0).unwrap();
    std::thread::scope(|s| {
        let pusher = s.spawn(|| q.push(ValueRef::Int(4), LONG));
        std::thread::sleep(SETTLE);
        assert_eq!(q2.pop(LONG), Ok(Value::Int(0)));
        pusher.join().unwrap().unwrap();
        for i in 1..=4 {
            assert_eq!(q2.pop(ZERO), Ok(Value::Int(i)));
        }
        let popper = s.spawn(|| q.pop(LONG));
        std::thread::sleep(SETTLE);
        q2.push(ValueRef::String("wake"), LONG).unwrap();
        assert_eq!(popper.join().unwrap(), Ok(Value::String("wake".into())));
    });

    // Two producers and two consumers on two attachments: each value exactly once, each
    // producer's values in order.
    const N: i64 = 300;
    let popped = AtomicU64::new(0);
    let mut got: Vec<i64> = std::thread::scope(|s| {
        let consumers: Vec<_> = [&q, &q2]
            .into_iter()
            .map(|c| {
                let popped = &popped;
                s.spawn(move || {
                    let mut got = Vec::new();
                    let mut last = [-1i64; 2];
                    while popped.load(Ordering::SeqCst) < 2 * N as u64 {
                        match c.pop(Some(SHORT)) {
                            Ok(Value::Int(v)) => {
                                let (p, i) = ((v / 1_000_000) as usize, v % 1_000_000);
                                assert!(i > last[p], "producer {p}: {i} after {}", last[p]);
                                last[p] = i;
                                got.push(v);
                                popped.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(Error::Timeout) => {}
                            other => panic!("pop: {other:?}"),
                        }
                    }
                    got
                })
            })
            .collect();
        for (p, pq) in [&q2, &q].into_iter().enumerate() {
            s.spawn(move || {
                for i in 0..N {
                    pq.push(ValueRef::Int(p as i64 * 1_000_000 + i), LONG)
                        .unwrap();
                }
            });
        }
        consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    got.sort();
    let want: Vec<i64> = (0..2)
        .flat_map(|p| (0..N).map(move |i| p * 1_000_000 + i))
        .collect();
    assert_eq!(got, want);
    assert_eq!(q.len(), Ok(0));
}

fn stacks(name: &str) {
    let r = create(name);
    let s = r.queue("s", 8, FLAG_LIFO).unwrap();
    assert_eq!(s.capacity(), 8);
    assert_err!(r.queue("s", 8, 0), Error::Incompatible(_));
    // Opening an existing stack without FLAG_LIFO and size 0 is allowed.
    let other = attach(name).queue("s", 0, 0).unwrap();
    for i in 1..=3 {
        s.push(ValueRef::Int(i), ZERO).unwrap();
    }
    assert_eq!(other.pop(ZERO), Ok(Value::Int(3)));
    s.push(ValueRef::String("top"), ZERO).unwrap();
    assert_eq!(other.pop(ZERO), Ok(Value::String("top".into())));
    assert_eq!(s.pop(ZERO), Ok(Value::Int(2)));
    assert_eq!(s.pop(ZERO), Ok(Value::Int(1)));
    assert_eq!(s.pop(ZERO), Err(Error::Timeout));
    for v in samples().iter().take(8) {
        s.push(v.as_ref(), ZERO).unwrap();
    }
    assert_eq!(s.push(ValueRef::Int(0), ZERO), Err(Error::Timeout));
    for v in samples().iter().take(8).rev() {
        assert_eq!(&s.pop(ZERO).unwrap(), v);
    }
    std::thread::scope(|sc| {
        let popper = sc.spawn(|| s.pop(LONG));
        std::thread::sleep(SETTLE);
        other.push(ValueRef::Int(7), LONG).unwrap();
        assert_eq!(popper.join().unwrap(), Ok(Value::Int(7)));
    });
}

fn queue_shutdown(name: &str) {
    let r = create(name);
    let other = attach(name);
    let empty = r.queue("empty", 4, 0).unwrap();
    let full = r.queue("full", 2, 0).unwrap();
    full.push(ValueRef::Int(1), ZERO).unwrap();
    full.push(ValueRef::Int(2), ZERO).unwrap();
    assert_eq!(empty.is_shutdown(), Ok(false));
    // Shutdown wakes every waiter, in every attachment, with CLOSED.
    std::thread::scope(|s| {
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let q = other.queue("empty", 0, 0).unwrap();
                s.spawn(move || q.pop(LONG))
            })
            .collect();
        let pushers: Vec<_> = (0..2)
            .map(|i| {
                let q = other.queue("full", 0, 0).unwrap();
                s.spawn(move || q.push(ValueRef::Int(10 + i), LONG))
            })
            .collect();
        std::thread::sleep(SETTLE);
        empty.shutdown().unwrap();
        full.shutdown().unwrap();
        for p in poppers {
            assert_eq!(p.join().unwrap(), Err(Error::Closed));
        }
        for p in pushers {
            assert_eq!(p.join().unwrap(), Err(Error::Closed));
        }
    });
    // Pushes fail; pops drain what is left, then say CLOSED; shutdown again is harmless.
    let full2 = other.queue("full", 0, 0).unwrap();
    assert_eq!(full2.is_shutdown(), Ok(true));
    assert_eq!(full2.push(ValueRef::Int(3), ZERO), Err(Error::Closed));
    assert_eq!(full2.push(ValueRef::Int(3), LONG), Err(Error::Closed));
    assert_eq!(full2.len(), Ok(2));
    assert_eq!(full2.pop(ZERO), Ok(Value::Int(1)));
    assert_eq!(full.pop(LONG), Ok(Value::Int(2)));
    assert_eq!(full.pop(ZERO), Err(Error::Closed));
    assert_eq!(full.pop(LONG), Err(Error::Closed));
    assert_eq!(full.len(), Ok(0));
    full.shutdown().unwrap();
    assert_eq!(full.is_shutdown(), Ok(true));
    assert_eq!(empty.pop(ZERO), Err(Error::Closed));
    // Another queue is not affected.
    let open = r.queue("open", 2, 0).unwrap();
    open.push(ValueRef::Int(1), ZERO).unwrap();
    assert_eq!(open.is_shutdown(), Ok(false));
}

// ---- buses ----

/// Everything a subscription has without waiting: (value, seq) pairs, until TIMEOUT.
fn drain(sub: &mut Subscription) -> Vec<(Value, u64)> {
    let mut got = Vec::new();
    loop {
        match sub.next(ZERO) {
            Ok(m) => got.push(m),
            Err(Error::Timeout) => return got,
            Err(e) => panic!("next: {e:?}"),
        }
    }
}

fn bus_order_and_start(name: &str) {
    let r = create(name);
    assert_err!(r.bus("b", 0, 0), Error::NotFound(_));
    let b = r.bus("b", 64, 0).unwrap();
    assert_eq!((b.name(), b.capacity()), ("b", 64));
    assert_eq!(b.next_seq(), Ok(1));
    assert_eq!(b.is_shutdown(), Ok(false));
    let other = attach(name);
    assert_eq!(other.bus("b", 0, 0).unwrap().capacity(), 64);
    assert_err!(r.bus("b", 65, 0), Error::Incompatible(_));
    assert_err!(r.bus("b", 64, FLAG_EXCLUSIVE), Error::Exists(_));
    assert_err!(r.bus("b", 64, FLAG_LIFO), Error::InvalidArgument(_));
    assert_err!(r.queue("b", 64, 0), Error::TypeMismatch(_));
    assert_err!(r.map("b", 64, 0), Error::TypeMismatch(_));

    let b2 = other.bus("b", 0, 0).unwrap();
    let mut early = b2.subscribe(Start::Now).unwrap();
    let mut early_here = b.subscribe(Start::Oldest).unwrap();
    assert_eq!(early.next(ZERO), Err(Error::Timeout));
    let values = samples();
    for (i, v) in values.iter().enumerate() {
        let publisher = if i % 2 == 0 { &b } else { &b2 };
        assert_eq!(publisher.publish(v.as_ref()), Ok(i as u64 + 1));
    }
    assert_err!(b.publish(BAD_OBJECT), Error::InvalidArgument(_));
    let n = values.len() as u64;
    assert_eq!((b.next_seq(), b2.next_seq()), (Ok(n + 1), Ok(n + 1)));
    let mut late = b.subscribe(Start::Oldest).unwrap();
    let mut now = b2.subscribe(Start::Now).unwrap();
    let want: Vec<(Value, u64)> = values.into_iter().zip(1..).collect();
    assert_eq!(drain(&mut early), want);
    assert_eq!(drain(&mut early_here), want);
    assert_eq!(drain(&mut late), want);
    assert_eq!(now.next(ZERO), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(now.next(Some(SHORT)), Err(Error::Timeout));
    assert!(t.elapsed() >= SHORT, "next gave up early");
    b.publish(ValueRef::Int(5)).unwrap();
    assert_eq!(now.next(ZERO), Ok((Value::Int(5), n + 1)));
    assert_eq!(late.next(ZERO), Ok((Value::Int(5), n + 1)));

    // A blocked subscriber is woken by a publish from another attachment; two
    // publishing threads give every subscriber the same order.
    std::thread::scope(|s| {
        let mut subs: Vec<_> = (0..3)
            .map(|i| {
                let bus = if i == 0 { &b } else { &b2 };
                bus.subscribe(Start::Now).unwrap()
            })
            .collect();
        let waiter = {
            let mut w = b.subscribe(Start::Now).unwrap();
            s.spawn(move || w.next(LONG))
        };
        std::thread::sleep(SETTLE);
        b2.publish(ValueRef::String("wake")).unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            Ok((Value::String("wake".into()), n + 2))
        );
        let pubs: Vec<_> = [&b, &b2]
            .into_iter()
            .enumerate()
            .map(|(p, bus)| {
                s.spawn(move || {
                    for i in 0..20 {
                        bus.publish(ValueRef::Int(p as i64 * 100 + i)).unwrap();
                    }
                })
            })
            .collect();
        for p in pubs {
            p.join().unwrap();
        }
        let seen: Vec<Vec<(Value, u64)>> = subs.iter_mut().map(drain).collect();
        assert_eq!(seen[0].len(), 41);
        let seqs: Vec<u64> = seen[0].iter().map(|m| m.1).collect();
        assert_eq!(seqs, (n + 2..n + 43).collect::<Vec<_>>());
        assert_eq!(seen[0], seen[1]);
        assert_eq!(seen[0], seen[2]);
    });
}

fn bus_gap_and_shutdown(name: &str) {
    let r = create(name);
    let b = r.bus("small", 4, 0).unwrap();
    let mut slow = b.subscribe(Start::Now).unwrap();
    for i in 1..=10 {
        assert_eq!(b.publish(ValueRef::String(&format!("{i:>40}"))), Ok(i));
    }
    // Messages 7..=10 are retained: the slow subscriber skips to 7, and sees the gap.
    let got = drain(&mut slow);
    let seqs: Vec<u64> = got.iter().map(|m| m.1).collect();
    assert_eq!(seqs, vec![7, 8, 9, 10]);
    assert_eq!(got[0].0, Value::String(format!("{:>40}", 7)));
    let mut oldest = attach(name)
        .bus("small", 0, 0)
        .unwrap()
        .subscribe(Start::Oldest)
        .unwrap();
    assert_eq!(oldest.next(ZERO).map(|m| m.1), Ok(7));

    // Shutdown: waiting subscribers get what was published, then CLOSED; publishing
    // fails; a subscriber drains what it has not read, then gets CLOSED.
    let b = r.bus("b", 8, 0).unwrap();
    let mut s1 = b.subscribe(Start::Now).unwrap();
    b.publish(ValueRef::Int(1)).unwrap();
    let other = attach(name);
    std::thread::scope(|sc| {
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let mut w = other.bus("b", 0, 0).unwrap().subscribe(Start::Now).unwrap();
                sc.spawn(move || (w.next(LONG), w.next(LONG)))
            })
            .collect();
        std::thread::sleep(SETTLE);
        b.publish(ValueRef::Int(2)).unwrap();
        std::thread::sleep(SETTLE);
        b.shutdown().unwrap();
        for w in waiters {
            let (first, second) = w.join().unwrap();
            assert_eq!(first, Ok((Value::Int(2), 2)));
            assert_eq!(second, Err(Error::Closed));
        }
    });
    assert_eq!(b.is_shutdown(), Ok(true));
    assert_eq!(other.bus("b", 0, 0).unwrap().is_shutdown(), Ok(true));
    assert_eq!(b.publish(ValueRef::Int(3)), Err(Error::Closed));
    assert_eq!(s1.next(ZERO), Ok((Value::Int(1), 1)));
    assert_eq!(s1.next(ZERO), Ok((Value::Int(2), 2)));
    assert_eq!(s1.next(ZERO), Err(Error::Closed));
    assert_eq!(s1.next(LONG), Err(Error::Closed));
    b.shutdown().unwrap();
}

/// `publish_many`: consecutive sequence numbers in order, the first one returned, one
/// batch never interleaved with another thread's single publishes, nothing published on
/// a bad value, an empty batch, a batch beyond the capacity, a waiting subscriber woken,
/// and shutdown.
fn bus_batches(name: &str) {
    let r = create(name);
    let b = r.bus("batch", 16, 0).unwrap();
    let mut sub = b.subscribe(Start::Now).unwrap();
    assert_eq!(b.publish(ValueRef::Int(0)), Ok(1));
    let long = "l".repeat(300);
    let batch = [
        ValueRef::Int(1),
        ValueRef::String("two"),
        ValueRef::String(&long),
        ValueRef::Null,
    ];
    assert_eq!(b.publish_many(&batch), Ok(2));
    assert_eq!(b.next_seq(), Ok(6));
    let got = drain(&mut sub);
    assert_eq!(
        got,
        vec![
            (Value::Int(0), 1),
            (Value::Int(1), 2),
            (Value::String("two".into()), 3),
            (Value::String(long.clone()), 4),
            (Value::Null, 5),
        ]
    );
    // Empty: nothing published, 0. A bad value anywhere: nothing published.
    assert_eq!(b.publish_many(&[]), Ok(0));
    assert!(matches!(
        b.publish_many(&[ValueRef::Int(1), BAD_OBJECT]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(b.next_seq(), Ok(6));
    assert_eq!(sub.next(ZERO), Err(Error::Timeout));
    // Larger than the capacity: allowed, the subscriber behind sees the last 16.
    let many: Vec<i64> = (0..40).collect();
    let refs: Vec<ValueRef<'_>> = many.iter().map(|&i| ValueRef::Int(i)).collect();
    assert_eq!(b.publish_many(&refs), Ok(6));
    let got = drain(&mut sub);
    assert_eq!(got.len(), 16);
    assert_eq!(got[0], (Value::Int(24), 30));
    assert_eq!(got[15], (Value::Int(39), 45));

    // A subscriber of another attachment waiting: it receives the whole batch.
    let other = attach(name);
    let mut waiting = other
        .bus("batch", 0, 0)
        .unwrap()
        .subscribe(Start::Now)
        .unwrap();
    std::thread::scope(|sc| {
        let w = sc.spawn(move || (0..3).map(|_| waiting.next(LONG)).collect::<Vec<_>>());
        std::thread::sleep(SETTLE);
        let three = [ValueRef::Int(7), ValueRef::Int(8), ValueRef::Int(9)];
        assert_eq!(b.publish_many(&three), Ok(46));
        let seen = w.join().unwrap();
        assert_eq!(
            seen,
            vec![
                Ok((Value::Int(7), 46)),
                Ok((Value::Int(8), 47)),
                Ok((Value::Int(9), 48))
            ]
        );
    });
    drain(&mut sub);

    // Batches against another thread's single publishes: never interleaved.
    let big = r.bus("mixed", 4096, 0).unwrap();
    let mut all = big.subscribe(Start::Now).unwrap();
    let singles = attach(name).bus("mixed", 0, 0).unwrap();
    let firsts: Vec<u64> = std::thread::scope(|sc| {
        sc.spawn(move || {
            for i in 0..300 {
                singles.publish(ValueRef::Int(-1 - i)).unwrap();
            }
        });
        (0..100)
            .map(|k| {
                let vals: Vec<i64> = (0..8).map(|j| k * 8 + j).collect();
                let refs: Vec<ValueRef<'_>> = vals.iter().map(|&i| ValueRef::Int(i)).collect();
                big.publish_many(&refs).unwrap()
            })
            .collect()
    });
    let got = drain(&mut all);
    assert_eq!(got.len(), 300 + 800);
    for (k, first) in firsts.iter().enumerate() {
        let at = got.iter().position(|m| m.1 == *first).unwrap();
        for j in 0..8 {
            assert_eq!(
                got[at + j],
                (Value::Int(k as i64 * 8 + j as i64), first + j as u64)
            );
        }
    }
    let singles_seen: Vec<i64> = got
        .iter()
        .filter_map(|m| match m.0 {
            Value::Int(i) if i < 0 => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(singles_seen, (0..300).map(|i| -1 - i).collect::<Vec<_>>());

    // Shutdown: CLOSED, nothing published.
    b.shutdown().unwrap();
    assert_eq!(b.publish_many(&[ValueRef::Int(1)]), Err(Error::Closed));
    assert_eq!(b.next_seq(), Ok(49));
    assert_eq!(sub.next(ZERO), Err(Error::Closed));
}

// ---- events: bus messages with topics ----

/// Everything a subscription has without waiting, with topics.
fn drain_events(sub: &mut Subscription) -> Vec<(String, Value, u64)> {
    std::iter::from_fn(|| match sub.next_event(ZERO) {
        Ok(m) => Some(m),
        Err(Error::Timeout) => None,
        Err(e) => panic!("next_event: {e:?}"),
    })
    .collect()
}

fn events_order_and_prefixes(name: &str) {
    let r = create(name);
    let b = r.bus("ev", 64, 0).unwrap();
    let other = attach(name);
    let b2 = other.bus("ev", 0, 0).unwrap();
    let mut all = b2.subscribe(Start::Now).unwrap();
    let mut all_topic = b.subscribe_topic(Start::Now, "").unwrap();
    let mut jobs = b2.subscribe_topic(Start::Now, "job.").unwrap();
    let mut done = b.subscribe_topic(Start::Now, "job.done").unwrap();
    let mut nothing = b.subscribe_topic(Start::Now, "nothing").unwrap();
    let long = "t".repeat(plexus::MAX_TOPIC_LEN);
    let sent: Vec<(&str, Value)> = vec![
        ("job.start", Value::Int(1)),
        ("", Value::String("plain".into())),
        ("user.login", Value::Bool(true)),
        ("job.done", Value::String("x".repeat(300))),
        ("job.done.late", Value::Null),
        ("job", Value::Float(0.5)),
        ("jöb.ünïcode", Value::Int(7)),
        (&long, Value::Bytes(vec![1, 2, 3])),
    ];
    for (i, (t, v)) in sent.iter().enumerate() {
        let publisher = if i % 2 == 0 { &b } else { &b2 };
        assert_eq!(publisher.emit(t, v.as_ref()), Ok(i as u64 + 1));
    }
    // A plain publish shares the one order.
    assert_eq!(b.publish(ValueRef::Int(9)), Ok(9));
    let mut want: Vec<(String, Value, u64)> = sent
        .iter()
        .zip(1..)
        .map(|((t, v), n)| (t.to_string(), v.clone(), n))
        .collect();
    want.push((String::new(), Value::Int(9), 9));
    assert_eq!(drain_events(&mut all), want);
    assert_eq!(drain_events(&mut all_topic), want);
    let only = |p: &str| -> Vec<(String, Value, u64)> {
        want.iter()
            .filter(|e| e.0.starts_with(p))
            .cloned()
            .collect()
    };
    assert_eq!(drain_events(&mut jobs), only("job."));
    assert_eq!(drain(&mut done), {
        only("job.done")
            .into_iter()
            .map(|(_, v, n)| (v, n))
            .collect::<Vec<_>>()
    });
    assert!(drain_events(&mut nothing).is_empty());
    let mut late = b2.subscribe_topic(Start::Oldest, "ttt").unwrap();
    assert_eq!(drain_events(&mut late), only("ttt"));

    // A blocked filtered subscriber is woken by its topic from another attachment,
    // and receives nothing else.
    std::thread::scope(|s| {
        let waiter = {
            let mut w = b.subscribe_topic(Start::Now, "wake.").unwrap();
            s.spawn(move || (w.next_event(LONG), w.next_event(ZERO)))
        };
        std::thread::sleep(SETTLE);
        b2.emit("other", ValueRef::Int(1)).unwrap();
        b2.publish(ValueRef::Int(2)).unwrap();
        let seq = b2.emit("wake.up", ValueRef::Int(3)).unwrap();
        let (first, second) = waiter.join().unwrap();
        assert_eq!(first, Ok(("wake.up".into(), Value::Int(3), seq)));
        assert_eq!(second, Err(Error::Timeout));
    });
}

fn events_gaps_shutdown_and_bad_topics(name: &str) {
    let r = create(name);
    let b = r.bus("small", 4, 0).unwrap();
    let mut a = b.subscribe_topic(Start::Now, "a").unwrap();
    for i in 1..=10 {
        let t = if i % 2 == 0 { "a" } else { "b" };
        assert_eq!(b.emit(t, ValueRef::String(&format!("{i:>40}"))), Ok(i));
    }
    // Messages 7..=10 are retained; of those, 8 and 10 are "a": the jump from nothing
    // to 8 shows the gap.
    let got: Vec<u64> = drain_events(&mut a).iter().map(|e| e.2).collect();
    assert_eq!(got, vec![8, 10]);

    // Bad topics and prefixes: INVALID_ARGUMENT, nothing published.
    let too_long = "t".repeat(plexus::MAX_TOPIC_LEN + 1);
    for bad in [too_long.as_str(), "nul\0inside"] {
        assert_err!(b.emit(bad, ValueRef::Int(1)), Error::InvalidArgument(_));
        assert_err!(
            b.subscribe_topic(Start::Now, bad),
            Error::InvalidArgument(_)
        );
    }
    assert_eq!(b.next_seq(), Ok(11));

    // Shutdown wakes filtered subscribers: what was published first, then CLOSED.
    let b = r.bus("b", 8, 0).unwrap();
    let other = attach(name);
    std::thread::scope(|sc| {
        let waiters: Vec<_> = ["x.", "y."]
            .into_iter()
            .map(|p| {
                let mut w = other
                    .bus("b", 0, 0)
                    .unwrap()
                    .subscribe_topic(Start::Now, p)
                    .unwrap();
                sc.spawn(move || (w.next_event(LONG), w.next_event(LONG)))
            })
            .collect();
        std::thread::sleep(SETTLE);
        b.emit("x.1", ValueRef::Int(1)).unwrap();
        std::thread::sleep(SETTLE);
        b.shutdown().unwrap();
        let results: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(
            results[0],
            (Ok(("x.1".into(), Value::Int(1), 1)), Err(Error::Closed))
        );
        assert_eq!(results[1], (Err(Error::Closed), Err(Error::Closed)));
    });
    assert_eq!(b.emit("x.2", ValueRef::Int(2)), Err(Error::Closed));
}

// ---- locks ----

fn mutex(name: &str) {
    let r = create(name);
    let other = attach(name);
    let m = r.mutex("m").unwrap();
    let m2 = other.mutex("m").unwrap();
    assert_eq!(m.name(), "m");
    assert_err!(r.array("m", 1, 0), Error::TypeMismatch(_));
    r.array("arr", 1, 0).unwrap();
    assert_err!(r.mutex("arr"), Error::TypeMismatch(_));
    assert_err!(r.mutex(""), Error::InvalidArgument(_));
    assert_eq!(r.wait_object("m", ZERO), Ok(()));

    assert_eq!(m.is_locked(), Ok(false));
    assert_err!(m.unlock(), Error::InvalidArgument(_));
    assert_eq!(m.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
    assert_eq!((m.is_locked(), m2.is_locked()), (Ok(true), Ok(true)));
    // Not recursive: the holder locking again is refused instead of deadlocking.
    assert_err!(
        m.lock_until(&Deadline::after(LONG)),
        Error::InvalidArgument(_)
    );
    // Another region handle, or another thread, neither gets it nor may unlock it.
    assert_eq!(m2.lock_until(&Deadline::after(ZERO)), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(
        m2.lock_until(&Deadline::after(Some(SHORT))),
        Err(Error::Timeout)
    );
    assert!(t.elapsed() >= SHORT, "lock gave up early");
    assert_err!(m2.unlock(), Error::InvalidArgument(_));
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(m.lock_until(&Deadline::after(ZERO)), Err(Error::Timeout));
            assert_err!(m.unlock(), Error::InvalidArgument(_));
        })
        .join()
        .unwrap();
        // A blocked locker gets it when the holder unlocks.
        let locker = s.spawn(|| {
            let got = m2.lock_until(&Deadline::after(LONG));
            m2.unlock().unwrap();
            got
        });
        std::thread::sleep(SETTLE);
        m.unlock().unwrap();
        assert_eq!(locker.join().unwrap(), Ok(Acquired::Clean));
    });
    assert_eq!(m.is_locked(), Ok(false));

    // Mutual exclusion: 4 threads on 2 handles increment a plain counter under it.
    let counter = r.array("counter", 1, 0).unwrap();
    counter.write(0, ValueRef::Int(0)).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (mx, c) = (if t % 2 == 0 { &m } else { &m2 }, &counter);
            s.spawn(move || {
                for _ in 0..25 {
                    assert_eq!(mx.lock_until(&Deadline::after(LONG)), Ok(Acquired::Clean));
                    let Value::Int(v) = c.read(0).unwrap() else {
                        panic!("not an int")
                    };
                    c.write(0, ValueRef::Int(v + 1)).unwrap();
                    mx.unlock().unwrap();
                }
            });
        }
    });
    assert_eq!(counter.read(0), Ok(Value::Int(100)));

    // A region handle closed while holding it: the next locker gets OWNER_DEAD, holds
    // it, and the mutex goes on as before.
    {
        let gone = attach(name);
        let g = gone.mutex("m").unwrap();
        assert_eq!(g.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
    }
    assert_eq!(
        m.lock_until(&Deadline::after(LONG)),
        Ok(Acquired::Recovered)
    );
    assert_eq!(m2.lock_until(&Deadline::after(ZERO)), Err(Error::Timeout));
    m.unlock().unwrap();
    assert_eq!(m2.lock_until(&Deadline::after(ZERO)), Ok(Acquired::Clean));
    m2.unlock().unwrap();
}

fn barrier(name: &str) {
    let r = create(name);
    assert_err!(r.barrier("b", 0), Error::NotFound(_));
    let b = r.barrier("b", 3).unwrap();
    assert_eq!((b.name(), b.parties()), ("b", 3));
    let other = attach(name);
    assert_eq!(other.barrier("b", 0).unwrap().parties(), 3);
    assert_err!(r.barrier("b", 4), Error::Incompatible(_));
    assert_err!(r.semaphore("b", 3), Error::TypeMismatch(_));
    assert_err!(r.barrier("", 3), Error::InvalidArgument(_));

    // Alone, a waiter times out and withdraws, as if it had never arrived.
    assert_eq!(b.wait_until(&Deadline::after(ZERO)), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(
        b.wait_until(&Deadline::after(Some(SHORT))),
        Err(Error::Timeout)
    );
    assert!(t.elapsed() >= SHORT, "barrier wait gave up early");
    // Three rounds of three parties on two handles: exactly one last party per round.
    let b2 = other.barrier("b", 0).unwrap();
    for round in 0..3 {
        let lasts: Vec<bool> = std::thread::scope(|s| {
            let ws: Vec<_> = (0..3)
                .map(|i| {
                    let bb = if i == 0 { &b } else { &b2 };
                    s.spawn(move || bb.wait_until(&Deadline::after(LONG)))
                })
                .collect();
            ws.into_iter().map(|w| w.join().unwrap().unwrap()).collect()
        });
        assert_eq!(
            lasts.iter().filter(|l| **l).count(),
            1,
            "round {round}: {lasts:?}"
        );
    }
    // The withdrawn arrivals did not count: two parties still wait for a third.
    std::thread::scope(|s| {
        let w1 = s.spawn(|| b.wait_until(&Deadline::after(LONG)));
        let w2 = s.spawn(|| b2.wait_until(&Deadline::after(LONG)));
        std::thread::sleep(SETTLE);
        assert!(!w1.is_finished() && !w2.is_finished());
        let third = b.wait_until(&Deadline::after(LONG)).unwrap();
        let lasts = [
            third,
            w1.join().unwrap().unwrap(),
            w2.join().unwrap().unwrap(),
        ];
        assert_eq!(lasts.iter().filter(|l| **l).count(), 1, "{lasts:?}");
    });
}

fn semaphore(name: &str) {
    let r = create(name);
    assert_err!(r.semaphore("s", 0), Error::NotFound(_));
    let s = r.semaphore("s", 2).unwrap();
    assert_eq!((s.name(), s.permits()), ("s", 2));
    let other = attach(name);
    let s2 = other.semaphore("s", 0).unwrap();
    assert_eq!(s2.permits(), 2);
    assert_err!(r.semaphore("s", 3), Error::Incompatible(_));
    assert_err!(r.mutex("s"), Error::TypeMismatch(_));
    assert_err!(r.semaphore("", 1), Error::InvalidArgument(_));

    assert_eq!((s.available(), s.held()), (Ok(2), Ok(0)));
    assert_err!(s.release(), Error::InvalidArgument(_));
    s.acquire_until(&Deadline::after(ZERO)).unwrap();
    s.acquire_until(&Deadline::after(ZERO)).unwrap();
    assert_eq!((s.available(), s.held(), s2.held()), (Ok(0), Ok(2), Ok(0)));
    assert_eq!(s.acquire_until(&Deadline::after(ZERO)), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(
        s2.acquire_until(&Deadline::after(Some(SHORT))),
        Err(Error::Timeout)
    );
    assert!(t.elapsed() >= SHORT, "acquire gave up early");
    // Permits belong to the region handle: another handle may not release them, any
    // thread of the holder may.
    assert_err!(s2.release(), Error::InvalidArgument(_));
    std::thread::scope(|sc| {
        let waiter = sc.spawn(|| s2.acquire_until(&Deadline::after(LONG)));
        std::thread::sleep(SETTLE);
        sc.spawn(|| s.release().unwrap()).join().unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(()));
    });
    assert_eq!((s.held(), s2.held(), s.available()), (Ok(1), Ok(1), Ok(0)));
    s.release().unwrap();
    s2.release().unwrap();
    assert_eq!(s.available(), Ok(2));

    // At most `permits` holders at once.
    let inside = AtomicU64::new(0);
    let most = AtomicU64::new(0);
    std::thread::scope(|sc| {
        for t in 0..4 {
            let (sem, inside, most) = (if t % 2 == 0 { &s } else { &s2 }, &inside, &most);
            sc.spawn(move || {
                for _ in 0..10 {
                    sem.acquire_until(&Deadline::after(LONG)).unwrap();
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    sem.release().unwrap();
                }
            });
        }
    });
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "more holders than permits"
    );
    assert_eq!(s.available(), Ok(2));

    // Permits of a region handle that is closed come back.
    {
        let gone = attach(name);
        let g = gone.semaphore("s", 0).unwrap();
        g.acquire_until(&Deadline::after(ZERO)).unwrap();
        g.acquire_until(&Deadline::after(ZERO)).unwrap();
        assert_eq!(s.acquire_until(&Deadline::after(ZERO)), Err(Error::Timeout));
    }
    s.acquire_until(&Deadline::after(LONG)).unwrap();
    s.acquire_until(&Deadline::after(LONG)).unwrap();
    assert_eq!(s.held(), Ok(2));
}

fn every_kind_is_an_object(name: &str) {
    let r = create(name);
    r.array("array", 1, 0).unwrap();
    r.map("map", 1, 0).unwrap();
    r.queue("queue", 1, 0).unwrap();
    r.bus("bus", 1, 0).unwrap();
    r.mutex("mutex").unwrap();
    r.barrier("barrier", 1).unwrap();
    r.semaphore("semaphore", 1).unwrap();
    let names = [
        "array",
        "map",
        "queue",
        "bus",
        "mutex",
        "barrier",
        "semaphore",
    ];
    let other = attach(name);
    assert_eq!(other.info().unwrap().object_count, 7);
    // Each name is taken by its kind: opening it as any other kind is TYPE_MISMATCH.
    for (i, n) in names.iter().enumerate() {
        assert_eq!(other.wait_object(n, ZERO), Ok(()));
        let opens: [(&str, Result<()>); 7] = [
            ("array", other.array(n, 1, 0).map(drop)),
            ("map", other.map(n, 1, 0).map(drop)),
            ("queue", other.queue(n, 1, 0).map(drop)),
            ("bus", other.bus(n, 1, 0).map(drop)),
            ("mutex", other.mutex(n).map(drop)),
            ("barrier", other.barrier(n, 1).map(drop)),
            ("semaphore", other.semaphore(n, 1).map(drop)),
        ];
        for (j, (kind, got)) in opens.into_iter().enumerate() {
            if i == j {
                assert_eq!(got, Ok(()), "{n} as {kind}");
            } else {
                assert_err!(
                    got.map_err(|e| (n, kind, e)),
                    (_, _, Error::TypeMismatch(_))
                );
            }
        }
    }
    assert_eq!(r.info().unwrap().object_count, 7);
}

/// Services: open rules, a call answered by a server thread (values of every type), an
/// error reply, timeouts (the request withdrawn; a late reply discarded, never given to
/// the next call), bad replies, and OWNER_DEAD when the attachment that took a request
/// goes away before replying.
fn services(name: &str) {
    let r = create(name);
    assert_err!(r.service("svc", 0, 0), Error::NotFound(_));
    let s = r.service("svc", 4, 0).unwrap();
    assert_eq!((s.name(), s.capacity()), ("svc", 4));
    assert_err!(r.service("svc", 5, 0), Error::Incompatible(_));
    assert_err!(r.service("svc", 4, FLAG_EXCLUSIVE), Error::Exists(_));
    assert_err!(r.queue("svc", 4, 0), Error::TypeMismatch(_));
    assert_err!(r.service("", 4, 0), Error::InvalidArgument(_));
    let other = attach(name);
    let s2 = other.service("svc", 0, 0).unwrap();
    assert_eq!(s2.capacity(), 4);

    // A server thread on the other attachment echoes each value; the int -1 fails.
    let values = samples();
    let server = {
        let s2 = s2.clone();
        let n = values.len() + 1;
        std::thread::spawn(move || {
            for _ in 0..n {
                let (id, v) = s2.next(Some(Duration::from_secs(30))).unwrap();
                if v == Value::Int(-1) {
                    s2.reply_error(id, "minus one").unwrap();
                } else {
                    s2.reply(id, v.as_ref()).unwrap();
                    assert_err!(s2.reply(id, v.as_ref()), Error::InvalidArgument(_));
                }
            }
        })
    };
    for v in &values {
        assert_eq!(
            &s.call(v.as_ref(), Some(Duration::from_secs(30))).unwrap(),
            v
        );
    }
    assert_eq!(
        s.call(Value::Int(-1).as_ref(), Some(Duration::from_secs(30))),
        Err(Error::Service("minus one".into()))
    );
    server.join().unwrap();
    assert_eq!(s.pending(), Ok(0));

    // Nobody serving: TIMEOUT, nothing left behind.
    assert_eq!(s.call(Value::Int(1).as_ref(), ZERO), Err(Error::Timeout));
    assert_eq!(
        s.call(Value::Int(1).as_ref(), Some(SHORT)),
        Err(Error::Timeout)
    );
    assert_eq!(s.pending(), Ok(0));
    assert_eq!(s2.next(ZERO).map(|x| x.1), Err(Error::Timeout));

    // Taken but not answered in time: the late reply succeeds and is discarded.
    let caller = {
        let s = s.clone();
        std::thread::spawn(move || s.call(Value::Int(5).as_ref(), Some(SHORT)))
    };
    let (old, v) = s2.next(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(v, Value::Int(5));
    assert_eq!(caller.join().unwrap(), Err(Error::Timeout));
    s2.reply(old, Value::Int(555).as_ref()).unwrap();
    assert_eq!(s.pending(), Ok(0));
    assert_err!(
        s2.reply(old, Value::Int(555).as_ref()),
        Error::InvalidArgument(_)
    );
    let caller = {
        let s = s.clone();
        std::thread::spawn(move || s.call(Value::Int(6).as_ref(), Some(Duration::from_secs(30))))
    };
    let (now, v) = s2.next(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(v, Value::Int(6));
    assert_ne!(now, old);
    // Only the attachment that took it may answer.
    assert_err!(
        s.reply(now, Value::Int(0).as_ref()),
        Error::InvalidArgument(_)
    );
    s2.reply(now, Value::Int(66).as_ref()).unwrap();
    assert_eq!(caller.join().unwrap(), Ok(Value::Int(66)));
    assert_err!(
        s2.reply(0, Value::Int(0).as_ref()),
        Error::InvalidArgument(_)
    );

    // The attachment that took a request goes away: OWNER_DEAD, before the timeout.
    let caller = {
        let s = s.clone();
        std::thread::spawn(move || s.call(Value::Int(7).as_ref(), Some(Duration::from_secs(60))))
    };
    let (_, v) = s2.next(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(v, Value::Int(7));
    drop(s2);
    drop(other);
    assert_eq!(caller.join().unwrap(), Err(Error::OwnerDead));
    assert_eq!(s.pending(), Ok(0));
}

// ---- observing ----

/// `watch` returns the value with the version it belongs to: at once when the version
/// already differs, after a wait otherwise; a consistent pair under concurrent writes;
/// and the last value written is always seen.
fn element_watch(name: &str) {
    let r = create(name);
    for kind in KINDS {
        let what = format!("{kind:?}");
        let e = El::on(&r, kind, 3);
        // Nothing written yet: version 0, nothing to report.
        let mut seen = 0;
        assert_eq!(e.watch(&mut seen, ZERO), Err(Error::Timeout), "{what}");
        assert_eq!(seen, 0, "{what}: a timed-out watch moved *seen");
        // A write in another attachment wakes a blocked watcher with value and version.
        let other = attach(name);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let mut mine = 0;
                e.watch(&mut mine, LONG).map(|v| (v, mine))
            });
            std::thread::sleep(SETTLE);
            El::on(&other, kind, 3)
                .write(ValueRef::String("first"))
                .unwrap();
            let (v, ver) = waiter.join().unwrap().unwrap();
            assert_eq!(v, Value::String("first".into()), "{what}");
            assert_eq!(ver, 1, "{what}: the first write moves the version once");
        });
        // Already different: returns at once with the current pair.
        let mut seen = 0;
        assert_eq!(
            e.watch(&mut seen, ZERO),
            Ok(Value::String("first".into())),
            "{what}"
        );
        assert_eq!(seen, 1, "{what}");
        let t = Instant::now();
        assert_eq!(e.watch(&mut seen, Some(SHORT)), Err(Error::Timeout));
        assert!(t.elapsed() >= SHORT, "{what}: gave up early");

        // Consistent pairs under a stream of writes, and the last value is never missed:
        // value i is written at version base + i, so every pair must satisfy that.
        let base = e.version().unwrap();
        const N: i64 = 300;
        let writer_el = El::on(&other, kind, 3);
        std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                let mut seen = base;
                let mut got = Vec::new();
                loop {
                    let v = e.watch(&mut seen, LONG).unwrap();
                    let Value::Int(i) = v else {
                        panic!("{what}: unexpected value {v:?}")
                    };
                    assert_eq!(
                        seen,
                        base + i as u64,
                        "{what}: value {i} with version {seen}"
                    );
                    got.push(i);
                    if i == N {
                        return got;
                    }
                }
            });
            for i in 1..=N {
                writer_el.write(ValueRef::Int(i)).unwrap();
            }
            let got = watcher.join().unwrap();
            assert_eq!(got.last(), Some(&N), "{what}: the last value was missed");
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{what}: out of order");
        });
    }
    // A removal shows as UNDEFINED with version 0; a re-insertion with a new version.
    let m = r.map("map", 64, 0).unwrap();
    let mut seen = m.version("k3").unwrap();
    m.remove("k3").unwrap();
    assert_eq!(m.watch("k3", &mut seen, ZERO), Ok(Value::Undefined));
    assert_eq!(seen, 0);
    m.write("k3", ValueRef::Int(1)).unwrap();
    assert_eq!(m.watch("k3", &mut seen, ZERO), Ok(Value::Int(1)));
    assert!(
        seen > 301,
        "a re-inserted key's version must not repeat: {seen}"
    );
}

/// Every call that inserts a key does so with its first effect in one change: the
/// version moves from 0 exactly once (to 1 in a fresh map), whatever the call, and a
/// watcher woken by it sees the value, never the UNDEFINED of a bare insertion.
fn map_first_write_moves_the_version_once(name: &str) {
    let r = create(name);
    let m = r.map("fresh", 64, 0).unwrap();
    type Op<'a> = (&'a str, Box<dyn Fn(&str) -> Result<()> + 'a>);
    let ops: Vec<Op> = vec![
        ("write", Box::new(|k| m.write(k, ValueRef::Int(1)))),
        ("write_xf", Box::new(|k| m.write_xf(k, ValueRef::Int(1)))),
        ("write_xe", Box::new(|k| m.write_xe(k, ValueRef::Int(1)))),
        (
            "write_ef",
            Box::new(|k| m.write_ef(k, ValueRef::Int(1), ZERO)),
        ),
        ("faa", Box::new(|k| m.faa(k, ValueRef::Int(1)).map(drop))),
        (
            "cas (swaps)",
            Box::new(|k| m.cas(k, ValueRef::Undefined, ValueRef::Int(1)).map(drop)),
        ),
        (
            "cas (fails)",
            Box::new(|k| m.cas(k, ValueRef::Int(5), ValueRef::Int(1)).map(drop)),
        ),
        (
            "exchange",
            Box::new(|k| m.exchange(k, ValueRef::Int(1)).map(drop)),
        ),
        ("set_tag(false)", Box::new(|k| m.set_tag(k, false))),
        ("set_tag(true)", Box::new(|k| m.set_tag(k, true))),
        (
            "long value",
            Box::new(|k| m.write(k, ValueRef::String(&"x".repeat(300)))),
        ),
    ];
    for (i, (what, op)) in ops.iter().enumerate() {
        let key = format!("{}-{i}", "k".repeat(if i % 2 == 0 { 3 } else { 40 }));
        op(&key).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(
            m.version(&key),
            Ok(1),
            "{what}: the first change moves once"
        );
    }
    // A watcher of an absent key wakes once, with the written value.
    let other = attach(name);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut seen = 0;
            let v = m.watch("late", &mut seen, LONG).unwrap();
            (v, seen)
        });
        std::thread::sleep(SETTLE);
        let om = other.map("fresh", 64, 0).unwrap();
        om.write("late", ValueRef::String("value, not undefined"))
            .unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            (Value::String("value, not undefined".into()), 1)
        );
    });
}

/// All changes from `since` (a full listing), as (key, removed, counter), sorted by key.
fn changes_since(m: &Map, since: u64) -> Result<Vec<MapChange>> {
    let mut cursor = 0;
    let mut out = Vec::new();
    loop {
        let got = m.changes(since, &mut cursor, 3)?;
        if got.is_empty() {
            out.sort_by(|a: &MapChange, b| a.key.cmp(&b.key).then(a.counter.cmp(&b.counter)));
            return Ok(out);
        }
        out.extend(got);
    }
}

fn change(key: &str, version: u64, counter: u64, removed: bool) -> MapChange {
    MapChange {
        key: key.into(),
        version,
        counter,
        removed,
    }
}

/// The map's change count moves once per change of any key; a listing since a count
/// gives the keys changed after it (present ones with their version, removed ones
/// flagged), without their values; `wait_changes` blocks until the count moves; the
/// last removals stay listable, older ones make a listing since an old count OutOfRange.
fn map_wide_changes(name: &str) {
    let r = create(name);
    let m = r.map("mw", 8, 0).unwrap();
    assert_eq!(m.change_count(), Ok(0));
    assert_eq!(changes_since(&m, 0), Ok(vec![]));
    m.write("a", ValueRef::Int(1)).unwrap();
    let long = "b".repeat(100);
    m.write(&long, ValueRef::String(&"x".repeat(50))).unwrap();
    assert_eq!(m.change_count(), Ok(2));
    assert_eq!(
        changes_since(&m, 0),
        Ok(vec![change("a", 1, 1, false), change(&long, 1, 2, false)])
    );
    // Reads change nothing.
    m.read("a").unwrap();
    m.read_ff("a", ZERO).ok();
    assert_eq!(m.change_count(), Ok(2));
    let c0 = 2;
    m.faa("a", ValueRef::Int(1)).unwrap();
    m.remove(&long).unwrap();
    m.set_tag("a", true).unwrap();
    assert_eq!(m.change_count(), Ok(c0 + 3));
    assert_eq!(
        changes_since(&m, c0),
        Ok(vec![
            change("a", 3, c0 + 3, false),
            change(&long, 0, c0 + 2, true)
        ])
    );
    assert_eq!(changes_since(&m, c0 + 3), Ok(vec![]));
    // Removed and inserted again: both listed, the larger counter is the newer.
    m.write(&long, ValueRef::Int(2)).unwrap();
    let listed = changes_since(&m, c0 + 3).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(!listed[0].removed && listed[0].key == long);
    let all = changes_since(&m, c0).unwrap();
    assert_eq!(all.iter().filter(|c| c.key == long).count(), 2, "{all:?}");

    // wait_changes: at once when it differs, a timeout when it does not, a wake-up from
    // another attachment's write.
    let mut seen = 0;
    m.wait_changes(&mut seen, ZERO).unwrap();
    assert_eq!(seen, c0 + 4);
    assert_eq!(m.wait_changes(&mut seen, ZERO), Err(Error::Timeout));
    assert_eq!(m.wait_changes(&mut seen, Some(SHORT)), Err(Error::Timeout));
    assert_eq!(seen, c0 + 4);
    let other = attach(name);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut mine = seen;
            m.wait_changes(&mut mine, LONG).map(|()| mine)
        });
        std::thread::sleep(SETTLE);
        other
            .map("mw", 0, 0)
            .unwrap()
            .write("c", ValueRef::Null)
            .unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(c0 + 5));
    });

    // The last 16 removals (capacity 8) stay listable; older ones are dropped.
    let before = m.change_count().unwrap();
    for i in 0..16 {
        let k = format!("gone-{i}");
        m.write(&k, ValueRef::Int(i)).unwrap();
        m.remove(&k).unwrap();
    }
    let listed = changes_since(&m, before).unwrap();
    assert_eq!(
        listed.iter().filter(|c| c.removed).count(),
        16,
        "{listed:?}"
    );
    m.write("one-more", ValueRef::Int(0)).unwrap();
    m.remove("one-more").unwrap();
    assert_err!(changes_since(&m, before), Error::OutOfRange { .. });
    // From 0: every key present (a resynchronisation), and the recorded removals.
    let full = changes_since(&m, 0).unwrap();
    let mut present: Vec<&str> = full
        .iter()
        .filter(|c| !c.removed)
        .map(|c| c.key.as_str())
        .collect();
    present.sort();
    let mut want = vec!["a", "c", long.as_str()];
    want.sort();
    assert_eq!(present, want);
    // Listings after the horizon still work.
    let now = m.change_count().unwrap();
    m.write("d", ValueRef::Int(4)).unwrap();
    let version = m.version("d").unwrap();
    assert_eq!(
        changes_since(&m, now),
        Ok(vec![change("d", version, now + 1, false)])
    );
}

/// A follower that reads the count, lists since the count it had and waits for the
/// count to move never misses a change: while four threads of another attachment write
/// and remove keys, the follower's picture of the map (key -> version, built only from
/// listings) ends equal to the map.
fn map_wide_changes_under_concurrent_writers(name: &str) {
    let r = create(name);
    let m = r.map("busy", 64, 0).unwrap();
    let other = attach(name);
    let om = other.map("busy", 0, 0).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let follower = s.spawn(|| {
            let mut picture = std::collections::BTreeMap::<String, (u64, u64)>::new();
            let mut since = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let count = m.change_count().unwrap();
                let listed = match changes_since(&m, since) {
                    Ok(l) => l,
                    // Fallen so far behind that removals after `since` are no longer
                    // all recorded: as documented, start the picture again from 0.
                    Err(Error::OutOfRange { .. }) => {
                        picture.clear();
                        changes_since(&m, 0).unwrap()
                    }
                    Err(e) => panic!("changes since {since}: {e}"),
                };
                for c in listed {
                    let newer = picture.get(&c.key).is_none_or(|&(_, at)| c.counter >= at);
                    if newer {
                        picture.insert(
                            c.key.clone(),
                            (if c.removed { 0 } else { c.version }, c.counter),
                        );
                    }
                }
                since = count;
                if finished {
                    return picture;
                }
                let mut seen = count;
                let _ = m.wait_changes(&mut seen, Some(Duration::from_millis(20)));
            }
        });
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let om = om.clone();
                s.spawn(move || {
                    for i in 0..300u64 {
                        let k = format!("k{}", (i * 7 + t) % 40);
                        if i % 5 == 4 {
                            let _ = om.remove(&k);
                        } else {
                            om.write(&k, ValueRef::Int(i as i64)).unwrap();
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let picture = follower.join().unwrap();
        let mut cursor = 0;
        let mut actual = std::collections::BTreeMap::new();
        while let Some(k) = m.next_key(&mut cursor).unwrap() {
            actual.insert(k.clone(), m.version(&k).unwrap());
        }
        let seen: std::collections::BTreeMap<String, u64> = picture
            .into_iter()
            .filter(|(_, (v, _))| *v != 0)
            .map(|(k, (v, _))| (k, v))
            .collect();
        assert_eq!(seen, actual, "the follower's picture differs from the map");
    });
}

fn initial(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Initial data applies only when the open creates the map: keys FULL, version 1,
/// counted as changes 1..n; ignored when the map exists; checked either way.
fn map_initial_data(name: &str) {
    let r = create(name);
    let nested = Value::from_json(r#"{"x":[1,2]}"#).unwrap();
    let data = initial(&[
        ("mode", Value::String("auto".into())),
        ("limit", Value::Int(10)),
        ("nested", nested.clone()),
        ("blob", Value::Bytes(vec![7; 40])),
    ]);
    let m = r.map_with("cfg", 8, 0, Some(&data)).unwrap();
    assert_eq!(m.len(), Ok(4));
    for (k, v) in &data {
        assert_eq!(m.read(k).as_ref(), Ok(v), "{k}");
        assert_eq!(m.is_full(k), Ok(true), "{k}");
        assert_eq!(m.version(k), Ok(1), "{k}");
    }
    assert_eq!(m.change_count(), Ok(4));
    assert_eq!(changes_since(&m, 0).unwrap().len(), 4);
    assert_eq!(changes_since(&m, 2).unwrap().len(), 2);
    // Written later: a normal key of the map.
    m.write("mode", ValueRef::String("manual")).unwrap();
    assert_eq!(m.version("mode"), Ok(2));
    // Exists: other initial data is ignored (checked, though).
    let other = attach(name);
    let again = other
        .map_with("cfg", 8, 0, Some(&initial(&[("mode", Value::Int(0))])))
        .unwrap();
    assert_eq!(again.read("mode"), Ok(Value::String("manual".into())));
    assert_eq!(again.len(), Ok(4));
    let too_many: Vec<(String, Value)> = (0..9).map(|i| (format!("k{i}"), Value::Int(i))).collect();
    assert_err!(
        other.map_with("cfg", 8, 0, Some(&too_many)),
        Error::NoSpace(_)
    );
    assert_err!(
        r.map_with("small", 8, 0, Some(&too_many)),
        Error::NoSpace(_)
    );
    assert_err!(r.map("small", 0, 0), Error::NotFound(_));
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    let bad_key = initial(&[(too_long.as_str(), Value::Int(1))]);
    assert_err!(
        r.map_with("small", 8, 0, Some(&bad_key)),
        Error::InvalidArgument(_)
    );
    assert_err!(r.map("small", 0, 0), Error::NotFound(_));
    // No data, or empty data: an empty map.
    let e = r.map_with("empty", 4, 0, Some(&[])).unwrap();
    assert_eq!(e.len(), Ok(0));
    assert_eq!(e.change_count(), Ok(0));
}

/// Eight attachments (as eight processes would) open the same new map at once, each with
/// its own initial data: exactly one set wins, and every opener sees it complete.
fn map_initial_data_race(name: &str) {
    let r = create(name);
    let start = std::sync::Barrier::new(8);
    let seen: Vec<Vec<(String, Value)>> = std::thread::scope(|s| {
        let openers: Vec<_> = (0..8)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    let mine = attach(name);
                    let data: Vec<(String, Value)> = (0..5)
                        .map(|k| (format!("key{k}"), Value::String(format!("opener{t}"))))
                        .collect();
                    start.wait();
                    let m = mine.map_with("raced", 16, 0, Some(&data)).unwrap();
                    (0..5)
                        .map(|k| {
                            let key = format!("key{k}");
                            let v = m.read(&key).unwrap();
                            (key, v)
                        })
                        .collect()
                })
            })
            .collect();
        openers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winner = &seen[0];
    let Value::String(who) = &winner[0].1 else {
        panic!("{winner:?}")
    };
    assert!(
        winner.iter().all(|(_, v)| v == &Value::String(who.clone())),
        "{winner:?}"
    );
    assert!(seen.iter().all(|s| s == winner), "{seen:?}");
    assert_eq!(r.map("raced", 0, 0).unwrap().len(), Ok(5));
}

// ---- typed arrays ----

fn le_u32(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Typed arrays: open rules, zero fill, copies, block hand-off between attachments
/// (read_block waits FULL and leaves EMPTY, write_block waits EMPTY and leaves FULL, a
/// waiter wakes), the zero-copy calls (shared memory: in place, begin/end, a holder that
/// detaches gives its block back; remote: Unsupported naming the copy calls).
fn typed_arrays(name: &str) {
    use plexus::backend::{BlockState, Dtype};
    let r = create(name);
    assert_err!(r.tarray("t", Some(Dtype::U32), 0, 0, 0), Error::NotFound(_));
    let t = r.tarray("t", Some(Dtype::U32), 10, 4, 0).unwrap();
    let s = t.shape();
    assert_eq!(
        (s.dtype, s.length, s.block_len, s.blocks()),
        (Dtype::U32, 10, 4, 3)
    );
    assert_err!(
        r.tarray("t", Some(Dtype::U32), 11, 4, 0),
        Error::Incompatible(_)
    );
    assert_err!(
        r.tarray("t", Some(Dtype::U32), 10, 5, 0),
        Error::Incompatible(_)
    );
    assert_err!(
        r.tarray("t", Some(Dtype::I32), 0, 0, 0),
        Error::Incompatible(_)
    );
    assert_err!(
        r.tarray("t", Some(Dtype::U32), 10, 4, FLAG_EXCLUSIVE),
        Error::Exists(_)
    );
    assert_err!(
        r.tarray("t", Some(Dtype::U32), 10, 11, 0),
        Error::InvalidArgument(_)
    );
    assert_err!(r.queue("t", 4, 0), Error::TypeMismatch(_));
    assert_err!(
        r.tarray("", Some(Dtype::U32), 10, 4, 0),
        Error::InvalidArgument(_)
    );
    let other = attach(name);
    let t2 = other.tarray("t", Some(Dtype::U32), 0, 0, 0).unwrap();
    assert_eq!(t2.shape(), s);

    let mut buf = vec![0xffu8; 40];
    t.read(0, &mut buf).unwrap();
    assert_eq!(buf, vec![0u8; 40]);
    t.write(2, &le_u32(&[7, 8, 9])).unwrap();
    let mut got = vec![0u8; 12];
    t2.read(2, &mut got).unwrap();
    assert_eq!(got, le_u32(&[7, 8, 9]));
    assert_err!(t.read(9, &mut got), Error::OutOfRange { .. });
    assert_err!(t.read(0, &mut [0u8; 3]), Error::InvalidArgument(_));

    // Blocks: EMPTY at first; the short last block has 2 elements.
    assert_eq!(t.block_state(2), Ok(BlockState::Empty));
    assert_err!(t.read_block(2, ZERO, &mut [0u8; 8]), Error::Timeout);
    assert_err!(
        t.read_block(2, ZERO, &mut [0u8; 16]),
        Error::InvalidArgument(_)
    );
    assert_err!(
        t.read_block(3, ZERO, &mut [0u8; 8]),
        Error::OutOfRange { .. }
    );
    t.write_block(2, ZERO, &le_u32(&[1, 2])).unwrap();
    assert_eq!(t2.block_state(2), Ok(BlockState::Full));
    assert_err!(
        t.write_block(2, Some(SHORT), &le_u32(&[3, 4])),
        Error::Timeout
    );
    let mut two = vec![0u8; 8];
    t2.read_block(2, ZERO, &mut two).unwrap();
    assert_eq!(two, le_u32(&[1, 2]));
    assert_eq!(t.block_state(2), Ok(BlockState::Empty));

    // A reader blocked on another attachment wakes when the block is written.
    let reader = {
        let t2 = t2.clone();
        std::thread::spawn(move || {
            let mut b = vec![0u8; 16];
            t2.read_block(0, LONG, &mut b).map(|_| b)
        })
    };
    std::thread::sleep(SETTLE);
    t.write_block(0, LONG, &le_u32(&[5, 6, 7, 8])).unwrap();
    assert_eq!(reader.join().unwrap(), Ok(le_u32(&[5, 6, 7, 8])));
    // A writer blocked on a FULL block wakes when it is read.
    t.write_block(1, ZERO, &le_u32(&[1, 1, 1, 1])).unwrap();
    let writer = {
        let t2 = t2.clone();
        std::thread::spawn(move || t2.write_block(1, LONG, &le_u32(&[2, 2, 2, 2])))
    };
    std::thread::sleep(SETTLE);
    let mut b = vec![0u8; 16];
    t.read_block(1, LONG, &mut b).unwrap();
    assert_eq!(b, le_u32(&[1, 1, 1, 1]));
    assert_eq!(writer.join().unwrap(), Ok(()));
    t.read_block(1, LONG, &mut b).unwrap();
    assert_eq!(b, le_u32(&[2, 2, 2, 2]));

    // FLAG_FULL: blocks start FULL.
    let f = r.tarray("f", Some(Dtype::F64), 4, 2, FLAG_FULL).unwrap();
    assert_eq!(f.block_state(1), Ok(BlockState::Full));

    let remote = name.starts_with("redis");
    let d = Deadline::after(ZERO);
    if remote {
        for e in [
            t.data().map(drop),
            t.begin_until(0, true, &d).map(drop),
            t.begin_until(0, false, &d).map(drop),
            t.end_write(0),
            t.end_read(0),
        ] {
            match e {
                Err(Error::Unsupported(m)) => assert!(m.contains("read_block"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    } else {
        let (p, n) = t.data().unwrap();
        assert_eq!((p as usize % 64, n), (0, 10));
        let (w, n) = t.begin_until(1, true, &d).unwrap();
        assert_eq!((w as usize - p as usize, n), (16, 4));
        assert_eq!(t2.block_state(1), Ok(BlockState::Writing));
        assert_err!(t2.end_read(1), Error::InvalidArgument(_));
        t.end_write(1).unwrap();
        assert_err!(t.end_write(1), Error::InvalidArgument(_));
        // A holder whose attachment goes away gives the block back: a writer's EMPTY.
        let (_, _) = t2.begin_until(2, true, &d).unwrap();
        drop(t2);
        drop(other);
        assert_eq!(t.block_state(2), Ok(BlockState::Writing));
        t.write_block(2, LONG, &le_u32(&[9, 9])).unwrap();
        assert_eq!(t.block_state(2), Ok(BlockState::Full));
    }
    r.remove_object("t").unwrap();
    assert_err!(t.read(0, &mut got), Error::Removed(_));
}

/// Element atomics on 32- and 64-bit integers: load, store, faa (modulo 2^bits),
/// cas, ranges, TypeMismatch for other dtypes, wait (returns when different, times out
/// when equal, wakes on notify from another attachment) and notify's count.
fn typed_array_atomics(name: &str) {
    use plexus::backend::Dtype;
    let r = create(name);
    for d in [Dtype::I32, Dtype::U32, Dtype::I64, Dtype::U64] {
        let t = r.tarray(d.name(), Some(d), 4, 0, 0).unwrap();
        assert_eq!(t.load(0), Ok(0));
        t.store(0, 10).unwrap();
        assert_eq!(t.faa(0, 5), Ok(10));
        assert_eq!(t.faa(0, -16), Ok(15));
        let minus_one = if d == Dtype::U32 { u32::MAX as i64 } else { -1 };
        assert_eq!(t.load(0), Ok(minus_one));
        assert_eq!(t.cas(1, 1, 2), Ok(0));
        assert_eq!(t.cas(1, 0, 2), Ok(0));
        assert_eq!(t.load(1), Ok(2));
        if matches!(d, Dtype::I32 | Dtype::U32) {
            assert_err!(t.store(1, 1 << 40), Error::InvalidArgument(_));
            assert_eq!(t.load(1), Ok(2));
        }
        assert_err!(t.load(4), Error::OutOfRange { .. });
        assert_eq!(t.wait_until(1, 3, &Deadline::after(LONG)), Ok(()));
        assert_err!(
            t.wait_until(1, 2, &Deadline::after(Some(SHORT))),
            Error::Timeout
        );
        assert_eq!(t.notify(1, u32::MAX), Ok(0));
    }
    for d in [Dtype::I8, Dtype::U16, Dtype::F32, Dtype::F64] {
        let t = r.tarray(d.name(), Some(d), 4, 0, 0).unwrap();
        assert_err!(t.load(0), Error::TypeMismatch(_));
        assert_err!(t.faa(0, 1), Error::TypeMismatch(_));
        assert_err!(t.notify(0, 1), Error::TypeMismatch(_));
    }
    // A sleeper on another attachment wakes on store + notify.
    let other = attach(name);
    let t2 = other.tarray("i64", Some(Dtype::I64), 0, 0, 0).unwrap();
    let t = r.tarray("i64", Some(Dtype::I64), 0, 0, 0).unwrap();
    t.store(3, 0).unwrap();
    let sleeper = std::thread::spawn(move || t2.wait_until(3, 0, &Deadline::after(LONG)));
    std::thread::sleep(SETTLE);
    t.store(3, 1).unwrap();
    let mut woken = 0;
    for _ in 0..200 {
        woken = t.notify(3, 1).unwrap();
        if woken > 0 || sleeper.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(woken <= 1);
    assert_eq!(sleeper.join().unwrap(), Ok(()));
    assert_eq!(t.notify(3, 0), Ok(0));
}
