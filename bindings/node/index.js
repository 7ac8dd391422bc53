'use strict';
/**
 * plexus for Node.js: persistent, inter-language shared memory (libplexus through koffi).
 *
 *   const plexus = require('plexus');
 *   const region = plexus.Region.open('jobs');         // /dev/shm/plexus.jobs, open or create
 *   const cells = region.array('cells', 16);           // 16 elements, EMPTY
 *   cells.writeEF(0, 'hello');                         // wait EMPTY, write, leave FULL
 *   cells.readFE(0, 1000);                             // wait FULL (1 s at most), read, leave EMPTY
 *   await cells.readFEAsync(0);                        // the same without blocking the event loop
 *
 * DECISIONS (docs/node.md and index.d.ts say the same)
 *   - Every call is synchronous, like the C call under it. Blocking calls also have an
 *     `...Async` variant returning a Promise that never blocks the event loop: it tries
 *     once on the calling thread, then waits on libuv's thread pool (koffi's async calls)
 *     in slices of at most 50 ms, so many waiters never starve the pool, an AbortSignal
 *     is honoured between slices, and a value is never lost to an abort or a timeout.
 *     Mutex.lockAsync is the exception: plexus mutexes belong to a thread, so it polls
 *     with try-lock on the calling thread (backing off to 10 ms), and it queues the async
 *     lockers of one process so they take turns instead of failing. Service.callAsync and
 *     Queue.pushManyAsync are the others: a call cannot be sliced (each slice would
 *     withdraw its request), nor a batch push (a FIFO batch keeps its place only within
 *     one call), so they wait in one piece on a worker thread of their own, which an
 *     AbortSignal cancels.
 *   - Timeouts are milliseconds (fractions allowed): omitted, `undefined`, `Infinity` or
 *     -1 wait without limit (-1 is C's PLEXUS_FOREVER), `0` tries once; other negative
 *     numbers and NaN throw RangeError, non-numbers (null included) TypeError. A wait
 *     that ends unsatisfied throws TimeoutError (code 'PLEXUS_TIMEOUT').
 *   - Failures throw PlexusError with `.code` (the C status name, 'PLEXUS_E_NOT_FOUND')
 *     and `.status` (its number); TimeoutError and ClosedError are subclasses for the two
 *     outcomes callers handle in control flow, and so are the three statuses of remote
 *     regions a caller acts on: UnavailableError (the server did not answer in time;
 *     retry later with the same handles), RegionLostError (the region's state vanished
 *     from the server; open it again) and UnsupportedError (not on this backend; the
 *     message names the alternative). Wrong JavaScript types throw TypeError, integers
 *     out of range RangeError.
 *   - Region names: a bare name is /dev/shm/plexus.<name>, a name with '/' a file, and
 *     'redis://[user:password@]host[:port]/NAME[?db=N&lease_ms=N&timeout_ms=N]' (or
 *     'rediss://', TLS) a remote region on a Redis server, with the same calls and
 *     meaning (docs/remote.md); a password in it never appears in messages.
 *   - Values: UNDEFINED <-> undefined, NULL <-> null, BOOL <-> boolean, INT <-> number
 *     when it is a safe integer (|n| <= 2^53 - 1), else BigInt (or always BigInt with
 *     the region option `bigint: true`); writing, an integral safe number or a BigInt is
 *     an INT; FLOAT <-> other numbers (-0, NaN, +-Infinity, 0.5, 2^53) and plexus.float(x);
 *     STRING <-> string (UTF-8; lone surrogates are rejected); BYTES <-> Buffer (any
 *     ArrayBuffer, TypedArray or DataView is accepted); OBJECT <-> plain objects and
 *     arrays, through JSON (plexus_value_from_json / plexus_value_to_json) with
 *     BigInt support: integers inside come back under the same INT rule.
 *   - Objects (arrays, maps, queues, buses, locks) keep their Region alive; handles are
 *     given back by close() (every kind: it never changes the object; ending a queue or
 *     a bus for every process is shutdown()) or, failing that, when garbage collected.
 *
 * CHANGES in 0.2.0 (the C API's one verb per meaning): Queue and Bus close() is now
 * shutdown() (ends it for every process), the `closed` getter is `isShutdown`, and
 * release() is gone: close() gives back the handle, as on every kind.
 * Semaphore.release() still gives back a permit.
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

let koffi;
try {
  koffi = require('koffi');
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND' || !/'koffi'/.test(e.message)) throw e;
  throw new Error(
    `plexus: cannot find koffi, its one dependency, from ${__dirname}. Installed from a folder ` +
      "as a link, plexus's install step runs `npm ci --omit=dev` in that folder; your npm " +
      `skipped it (--ignore-scripts, or install scripts not allowed): run \`npm ci --omit=dev\` in ${__dirname}.`,
  );
}

const PACKAGE_VERSION = require('./package.json').version;

// ---------------------------------------------------------------------------------------
// Finding and loading the library
// ---------------------------------------------------------------------------------------

const LIB_FILE =
  process.platform === 'win32' ? 'plexus.dll' : process.platform === 'darwin' ? 'libplexus.dylib' : 'libplexus.so';

function newest(paths) {
  let best = null;
  let bestTime = -Infinity;
  for (const p of paths) {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      continue;
    }
    if (st.isFile() && st.mtimeMs > bestTime) {
      best = p;
      bestTime = st.mtimeMs;
    }
  }
  return best;
}

/**
 * The plexus checkout this package belongs to: the directory two levels up when it is
 * one (the package is bindings/node of a clone, installed as a link), else the one
 * recorded in checkout.json (a copy of that folder: npm 9.0 to 9.2, or --install-links;
 * written by scripts/pack.js at install), else null (an installed tarball).
 */
function checkoutRoot() {
  const up = path.resolve(__dirname, '..', '..');
  if (fs.existsSync(path.join(up, 'Cargo.toml')) && fs.existsSync(path.join(up, 'include', 'plexus.h'))) return up;
  try {
    const { root } = JSON.parse(fs.readFileSync(path.join(__dirname, 'checkout.json'), 'utf8'));
    return typeof root === 'string' ? root : null;
  } catch {
    return null;
  }
}

/**
 * Where libplexus is: $PLEXUS_LIBRARY if set (and then nowhere else); else the copy
 * packed with this package, prebuilds/<platform>-<arch>/; else the newer of
 * {release,debug}/ of $CARGO_TARGET_DIR and of target/ in the plexus checkout this
 * package belongs to; else the bare file name, for the system's loader (LD_LIBRARY_PATH,
 * the ld.so cache: an installed libplexus). Returns { file, tried }.
 */
function findLibrary() {
  const explicit = process.env.PLEXUS_LIBRARY;
  if (explicit) {
    if (fs.existsSync(explicit)) return { file: path.resolve(explicit), tried: [] };
    throw new Error(`plexus: PLEXUS_LIBRARY is set to ${explicit}, which does not exist`);
  }
  const tried = [];
  const packed = path.join(__dirname, 'prebuilds', `${process.platform}-${process.arch}`, LIB_FILE);
  tried.push(packed);
  if (fs.existsSync(packed)) return { file: packed, tried };
  const targets = [];
  if (process.env.CARGO_TARGET_DIR) targets.push(path.resolve(process.env.CARGO_TARGET_DIR));
  const root = checkoutRoot();
  if (root) targets.push(path.join(root, 'target'));
  for (const target of targets) {
    const both = [path.join(target, 'release', LIB_FILE), path.join(target, 'debug', LIB_FILE)];
    tried.push(...both);
    const found = newest(both);
    if (found) return { file: found, tried };
  }
  tried.push(`${LIB_FILE} through the system's loader`);
  return { file: LIB_FILE, tried };
}

if (os.endianness() !== 'LE' || koffi.sizeof('void *') !== 8) {
  throw new Error('plexus: the Node binding supports 64-bit little-endian platforms only');
}

const found = findLibrary();
const libraryPath = found.file;
let lib;
try {
  lib = koffi.load(libraryPath);
} catch (e) {
  throw new Error(
    libraryPath === LIB_FILE
      ? `plexus: cannot find ${LIB_FILE}; looked in:\n  ${found.tried.join('\n  ')}\n(${e.message})\n` +
          'Build it with `cargo build --release` in the plexus checkout, or set PLEXUS_LIBRARY to its path.'
      : `plexus: cannot load ${libraryPath}: ${e.message}`,
  );
}

// All types are anonymous, so that two copies of this module can share one koffi.
// Handles go in as their id: a struct of one uint64_t passes exactly like a uint64_t on
// every 64-bit ABI (x86-64 System V and Windows, AArch64, RISC-V, POWER ELFv2), and
// koffi marshals an integer in a third less time than a struct. They come out as structs.
const ID = 'uint64_t';
const Handle = koffi.struct({ id: 'uint64_t' });
const OutHandle = koffi.out(koffi.pointer(Handle));
const OutU64 = koffi.out(koffi.pointer('uint64_t'));
const OutU32 = koffi.out(koffi.pointer('uint32_t'));
const OutBool = koffi.out(koffi.pointer('bool'));
const OutSize = koffi.out(koffi.pointer('size_t'));
const InoutU64 = koffi.inout(koffi.pointer('uint64_t'));
const RegionOptions = koffi.struct({
  struct_size: 'uint32_t',
  mode: 'int',
  size: 'uint64_t',
  permissions: 'uint32_t',
  wait_ns: 'int64_t',
});
const RegionInfo = koffi.struct({
  size: 'uint64_t',
  heap_size: 'uint64_t',
  heap_used: 'uint64_t',
  heap_free: 'uint64_t',
  object_count: 'uint32_t',
  attached_processes: 'uint32_t',
  format_version: 'uint32_t',
  reserved0: 'uint32_t',
  region_id: 'uint64_t',
  created_unix_ns: 'uint64_t',
  reserved: koffi.array('uint64_t', 4),
});
const ObjectInfo = koffi.struct({
  name: koffi.array('char', 97, 'String'),
  kind: koffi.array('char', 16, 'String'),
  shape: 'uint64_t',
  reserved: koffi.array('uint64_t', 2),
});
const CheckResult = koffi.struct({
  verdict: 'uint32_t',
  live_processes: 'uint32_t',
  dead_processes: 'uint32_t',
  dead_locks: 'uint32_t',
  leaked_blocks: 'uint64_t',
  leaked_bytes: 'uint64_t',
  stale_entries: 'uint32_t',
  problems: 'uint32_t',
  repairs: 'uint32_t',
  repair_skipped: 'uint32_t',
  heap_used: 'uint64_t',
  reserved: koffi.array('uint64_t', 4),
});
const CHECK_REPAIR = 1;
const VERDICTS = ['consistent', 'reclaimable', 'corrupt'];
const PlexusBuf = koffi.struct({ ptr: 'void *', len: 'size_t' });
const PlexusValueData = koffi.union({ b: 'bool', i: 'int64_t', f: 'double', buf: PlexusBuf });
const PlexusValue = koffi.struct({ type: 'int', as: PlexusValueData, owner: 'void *' });
const VALUE_SIZE = koffi.sizeof(PlexusValue);
const OFF_AS = koffi.offsetof(PlexusValue, 'as');
const OFF_LEN = OFF_AS + koffi.offsetof(PlexusBuf, 'len');
const OFF_OWNER = koffi.offsetof(PlexusValue, 'owner');

const S = 'int'; // plexus_status
const P = 'void *'; // a plexus_value * (or another out pointer) passed as an address
const STR = 'const char *';
const fn = (name, result, args) => lib.func(name, result, args);

/** The C functions, by their name without the `plexus_` prefix. */
const C = {
  version: fn('plexus_version', 'uint32_t', []),
  recovered_locks: fn('plexus_recovered_locks', 'uint64_t', []),
  last_error: fn('plexus_last_error', STR, []),
  status_name: fn('plexus_status_name', STR, ['int']),
  value_free: fn('plexus_value_free', 'void', [P]),
  value_from_json: fn('plexus_value_from_json', S, [STR, P]),
  value_to_json: fn('plexus_value_to_json', S, [P, P, 'size_t', OutSize]),
  value_equal: fn('plexus_value_equal', 'bool', [P, P]),

  region_open: fn('plexus_region_open', S, [STR, koffi.pointer(RegionOptions), OutHandle]),
  region_close: fn('plexus_region_close', S, [ID]),
  region_flush: fn('plexus_region_flush', S, [ID]),
  region_remove: fn('plexus_region_remove', S, [STR]),
  region_get_info: fn('plexus_region_get_info', S, [ID, koffi.out(koffi.pointer(RegionInfo))]),
  region_wait_object: fn('plexus_region_wait_object', S, [ID, STR, 'int64_t']),
  region_remove_object: fn('plexus_region_remove_object', S, [ID, STR]),
  region_next_object: fn('plexus_region_next_object', S, [
    ID,
    koffi.inout(koffi.pointer('uint64_t', 1)),
    koffi.out(koffi.pointer(ObjectInfo)),
    koffi.out(koffi.pointer('bool', 1)),
  ]),
  region_check: fn('plexus_region_check', S, [STR, 'uint32_t', koffi.out(koffi.pointer(CheckResult)), P]),

  queue_open: fn('plexus_queue_open', S, [ID, STR, 'uint64_t', 'uint32_t', OutHandle]),
  queue_close: fn('plexus_queue_close', S, [ID]),
  queue_push: fn('plexus_queue_push', S, [ID, P, 'int64_t']),
  queue_pop: fn('plexus_queue_pop', S, [ID, P, 'int64_t']),
  queue_push_many: fn('plexus_queue_push_many', S, [ID, P, 'size_t', 'int64_t', OutSize]),
  queue_pop_many: fn('plexus_queue_pop_many', S, [ID, P, 'size_t', 'int64_t', OutSize]),
  queue_len: fn('plexus_queue_len', S, [ID, OutU64]),
  queue_capacity: fn('plexus_queue_capacity', S, [ID, OutU64]),
  queue_shutdown: fn('plexus_queue_shutdown', S, [ID]),
  queue_is_shutdown: fn('plexus_queue_is_shutdown', S, [ID, OutBool]),

  bus_open: fn('plexus_bus_open', S, [ID, STR, 'uint64_t', 'uint32_t', OutHandle]),
  bus_close: fn('plexus_bus_close', S, [ID]),
  bus_publish: fn('plexus_bus_publish', S, [ID, P, OutU64]),
  bus_publish_many: fn('plexus_bus_publish_many', S, [ID, P, 'size_t', OutU64]),
  bus_shutdown: fn('plexus_bus_shutdown', S, [ID]),
  bus_is_shutdown: fn('plexus_bus_is_shutdown', S, [ID, OutBool]),
  bus_capacity: fn('plexus_bus_capacity', S, [ID, OutU64]),
  bus_next_seq: fn('plexus_bus_next_seq', S, [ID, OutU64]),
  bus_subscribe: fn('plexus_bus_subscribe', S, [ID, 'uint32_t', OutHandle]),
  bus_emit: fn('plexus_bus_emit', S, [ID, STR, P, OutU64]),
  bus_subscribe_topic: fn('plexus_bus_subscribe_topic', S, [ID, 'uint32_t', STR, OutHandle]),
  sub_next: fn('plexus_sub_next', S, [ID, P, P, 'int64_t']),
  sub_next_event: fn('plexus_sub_next_event', S, [ID, P, 'size_t', P, P, P, 'int64_t']),
  sub_close: fn('plexus_sub_close', S, [ID]),

  mutex_open: fn('plexus_mutex_open', S, [ID, STR, OutHandle]),
  mutex_close: fn('plexus_mutex_close', S, [ID]),
  mutex_lock: fn('plexus_mutex_lock', S, [ID, 'int64_t']),
  mutex_unlock: fn('plexus_mutex_unlock', S, [ID]),
  mutex_is_locked: fn('plexus_mutex_is_locked', S, [ID, OutBool]),

  barrier_open: fn('plexus_barrier_open', S, [ID, STR, 'uint32_t', OutHandle]),
  barrier_close: fn('plexus_barrier_close', S, [ID]),
  barrier_wait_last: fn('plexus_barrier_wait_last', S, [ID, 'int64_t', P]),
  barrier_parties: fn('plexus_barrier_parties', S, [ID, OutU32]),

  semaphore_open: fn('plexus_semaphore_open', S, [ID, STR, 'uint32_t', OutHandle]),
  semaphore_close: fn('plexus_semaphore_close', S, [ID]),
  semaphore_acquire: fn('plexus_semaphore_acquire', S, [ID, 'int64_t']),
  semaphore_release: fn('plexus_semaphore_release', S, [ID]),
  semaphore_permits: fn('plexus_semaphore_permits', S, [ID, OutU32]),
  semaphore_available: fn('plexus_semaphore_available', S, [ID, OutU32]),
  semaphore_held: fn('plexus_semaphore_held', S, [ID, OutU32]),

  tarray_open: fn('plexus_tarray_open', S, [ID, STR, 'int', 'uint64_t', 'uint64_t', 'uint32_t', OutHandle]),
  tarray_close: fn('plexus_tarray_close', S, [ID]),
  tarray_shape: fn('plexus_tarray_shape', S, [ID, koffi.out(koffi.pointer('int')), OutU64, OutU64, OutU64]),
  tarray_data: fn('plexus_tarray_data', S, [ID, koffi.out(koffi.pointer('void *')), OutU64]),
  tarray_begin_write: fn('plexus_tarray_begin_write', S, [ID, 'uint64_t', 'int64_t', koffi.out(koffi.pointer('void *'))]),
  tarray_end_write: fn('plexus_tarray_end_write', S, [ID, 'uint64_t']),
  tarray_begin_read: fn('plexus_tarray_begin_read', S, [ID, 'uint64_t', 'int64_t', koffi.out(koffi.pointer('void *'))]),
  tarray_end_read: fn('plexus_tarray_end_read', S, [ID, 'uint64_t']),
  tarray_read: fn('plexus_tarray_read', S, [ID, 'uint64_t', 'uint64_t', P]),
  tarray_write: fn('plexus_tarray_write', S, [ID, 'uint64_t', 'uint64_t', P]),
  tarray_read_block: fn('plexus_tarray_read_block', S, [ID, 'uint64_t', 'int64_t', P]),
  tarray_write_block: fn('plexus_tarray_write_block', S, [ID, 'uint64_t', 'int64_t', P]),
  tarray_is_full: fn('plexus_tarray_is_full', S, [ID, 'uint64_t', OutBool]),
  tarray_load: fn('plexus_tarray_load', S, [ID, 'uint64_t', koffi.out(koffi.pointer('int64_t'))]),
  tarray_store: fn('plexus_tarray_store', S, [ID, 'uint64_t', 'int64_t']),
  tarray_faa: fn('plexus_tarray_faa', S, [ID, 'uint64_t', 'int64_t', koffi.out(koffi.pointer('int64_t'))]),
  tarray_cas: fn('plexus_tarray_cas', S, [ID, 'uint64_t', 'int64_t', 'int64_t', koffi.out(koffi.pointer('int64_t'))]),
  tarray_wait: fn('plexus_tarray_wait', S, [ID, 'uint64_t', 'int64_t', 'int64_t']),
  tarray_notify: fn('plexus_tarray_notify', S, [ID, 'uint64_t', 'uint32_t', OutU32]),
  service_open: fn('plexus_service_open', S, [ID, STR, 'uint64_t', 'uint32_t', OutHandle]),
  service_close: fn('plexus_service_close', S, [ID]),
  service_call: fn('plexus_service_call', S, [ID, P, P, 'int64_t']),
  service_next: fn('plexus_service_next', S, [ID, P, P, 'int64_t']),
  service_reply: fn('plexus_service_reply', S, [ID, ID, P]),
  service_reply_error: fn('plexus_service_reply_error', S, [ID, ID, STR]),
  service_capacity: fn('plexus_service_capacity', S, [ID, OutU64]),
  service_pending: fn('plexus_service_pending', S, [ID, OutU64]),
};

/** The element calls of arrays (key: uint64_t index) and maps (key: const char *). */
function cellFunctions(prefix, keyType) {
  const f = (verb, args) => fn(`plexus_${prefix}_${verb}`, S, [ID, keyType, ...args]);
  return {
    read: f('read', [P]),
    write: f('write', [P]),
    read_fe: f('read_fe', [P, 'int64_t']),
    read_ff: f('read_ff', [P, 'int64_t']),
    write_ef: f('write_ef', [P, 'int64_t']),
    write_xf: f('write_xf', [P]),
    write_xe: f('write_xe', [P]),
    set_tag: f('set_tag', ['bool']),
    is_full: f('is_full', [OutBool]),
    read_rw: f('read_rw', [P, 'int64_t']),
    release_rw: f('release_rw', []),
    faa: f('faa', [P, P]),
    cas: f('cas', [P, P, P]),
    exchange: f('exchange', [P, P]),
    patch: f('patch', [P, P]),
    version: f('version', [OutU64]),
    wait_change: f('wait_change', [P, 'int64_t']),
    watch: f('watch', [P, P, 'int64_t']),
  };
}
const ARRAY = {
  ...cellFunctions('array', 'uint64_t'),
  open: fn('plexus_array_open', S, [ID, STR, 'uint64_t', 'uint32_t', OutHandle]),
  close: fn('plexus_array_close', S, [ID]),
  len: fn('plexus_array_len', S, [ID, OutU64]),
};
const MAP = {
  ...cellFunctions('map', STR),
  open: fn('plexus_map_open', S, [ID, STR, 'uint64_t', 'uint32_t', OutHandle]),
  close: fn('plexus_map_close', S, [ID]),
  len: fn('plexus_map_len', S, [ID, OutU64]),
  capacity: fn('plexus_map_capacity', S, [ID, OutU64]),
  remove: fn('plexus_map_remove', S, [ID, STR]),
  next_key: fn('plexus_map_next_key', S, [ID, InoutU64, P]),
  open_with: fn('plexus_map_open_with', S, [ID, STR, 'uint64_t', 'uint32_t', P, OutHandle]),
  change_count: fn('plexus_map_change_count', S, [ID, OutU64]),
  wait_changes: fn('plexus_map_wait_changes', S, [ID, P, 'int64_t']),
  next_change: fn('plexus_map_next_change', S, [ID, 'uint64_t', P, P]),
};
/** sizeof(plexus_map_change): the key (a plexus_value), version, counter, removed. */
const MAP_CHANGE_SIZE = VALUE_SIZE + 24;

// The element calls made most, as constants: their call sites stay monomorphic.
const ARRAY_READ = ARRAY.read;
const ARRAY_WRITE = ARRAY.write;
const ARRAY_FAA = ARRAY.faa;
const MAP_READ = MAP.read;
const MAP_WRITE = MAP.write;
const MAP_FAA = MAP.faa;
const QUEUE_PUSH = C.queue_push;
const QUEUE_POP = C.queue_pop;

// ---------------------------------------------------------------------------------------
// Version check
// ---------------------------------------------------------------------------------------

const runtimeVersion = C.version();
const libraryVersion = `${runtimeVersion >>> 16}.${(runtimeVersion >>> 8) & 0xff}.${runtimeVersion & 0xff}`;
{
  const [wantMajor, wantMinor] = PACKAGE_VERSION.split('.').map(Number);
  const major = runtimeVersion >>> 16;
  const minor = (runtimeVersion >>> 8) & 0xff;
  // Semantic versioning: 0.x minors may break, so 0.1 needs 0.1; 1.2 accepts 1.2 and later 1.x.
  const ok = major === wantMajor && (major === 0 ? minor === wantMinor : minor >= wantMinor);
  if (!ok) {
    throw new Error(
      `plexus: ${libraryPath} is version ${libraryVersion}, but this binding (${PACKAGE_VERSION}) needs ` +
        `${wantMajor}.${wantMinor}.x; build the matching library or point PLEXUS_LIBRARY at it`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Statuses and errors
// ---------------------------------------------------------------------------------------

const OK = 0;
const TIMEOUT = 1;
const CLOSED = 2;
const OWNER_DEAD = 3;
const E_INVALID_ARGUMENT = 100;
const E_BAD_HANDLE = 101;
const E_NOT_FOUND = 102;
const E_BUFFER_TOO_SMALL = 111;
const E_REMOVED = 112;
const E_UNAVAILABLE = 113;
const E_REGION_LOST = 114;
const E_UNSUPPORTED = 115;
const E_INTERNAL = 199;

/** Status numbers by short name: status.TIMEOUT === 1, status.E_NOT_FOUND === 102. */
const status = Object.freeze({
  OK: 0,
  TIMEOUT: 1,
  CLOSED: 2,
  OWNER_DEAD: 3,
  E_INVALID_ARGUMENT: 100,
  E_BAD_HANDLE: 101,
  E_NOT_FOUND: 102,
  E_EXISTS: 103,
  E_TYPE_MISMATCH: 104,
  E_OUT_OF_RANGE: 105,
  E_NO_SPACE: 106,
  E_INCOMPATIBLE: 107,
  E_CORRUPT: 108,
  E_PERMISSION: 109,
  E_OS: 110,
  E_BUFFER_TOO_SMALL: 111,
  E_REMOVED: 112,
  E_UNAVAILABLE: 113,
  E_REGION_LOST: 114,
  E_UNSUPPORTED: 115,
  E_SERVICE: 116,
  E_INTERNAL: 199,
});

/** What a status means, for errors whose library message is not available (async calls). */
const DESCRIPTIONS = {
  1: 'the wait ended before its condition held',
  2: 'the queue or bus was shut down',
  100: 'invalid argument',
  101: 'the handle is closed (was its region closed?)',
  102: 'not found',
  103: 'already exists',
  104: 'type mismatch',
  105: 'index out of range',
  106: 'no space left in the region',
  107: 'incompatible format or object shape',
  108: 'the region is corrupt',
  109: 'permission denied',
  110: 'operating system error',
  111: 'buffer too small',
  112: 'the object or its region was removed (or replaced) while this handle was open (open it again)',
  113: "the remote region's server did not answer in time",
  114: "the remote region's state vanished from the server (open it again)",
  115: 'not supported on this backend',
  199: 'internal error in plexus',
};

/** A failed plexus call: `.code` is the status name ('PLEXUS_E_NOT_FOUND'), `.status` its number. */
class PlexusError extends Error {
  constructor(statusCode, message) {
    const code = C.status_name(statusCode);
    super(`${code}: ${message || DESCRIPTIONS[statusCode] || 'failed'}`);
    this.name = 'PlexusError';
    this.code = code;
    this.status = statusCode;
  }
}

/** A wait ended before its condition held (PLEXUS_TIMEOUT). */
class TimeoutError extends PlexusError {
  constructor(message) {
    super(TIMEOUT, message);
    this.name = 'TimeoutError';
  }
}

/** The queue or bus was shut down (and, for pops and subscriptions, drained): PLEXUS_CLOSED. */
class ClosedError extends PlexusError {
  constructor(message) {
    super(CLOSED, message);
    this.name = 'ClosedError';
  }
}

/**
 * The region was removed (Region.remove, or a recreate of its name), or the object was
 * (region.removeObject), while this handle was open: PLEXUS_E_REMOVED. Every handle of it
 * throws this, and waits in it end with it; open the name again to reach the region or
 * object that has it now.
 */
class RemovedError extends PlexusError {
  constructor(message) {
    super(E_REMOVED, message);
    this.name = 'RemovedError';
  }
}

/** A remote region's server could not be reached or did not answer in time: PLEXUS_E_UNAVAILABLE. */
class UnavailableError extends PlexusError {
  constructor(message) {
    super(E_UNAVAILABLE, message);
    this.name = 'UnavailableError';
  }
}

/** A remote region's state vanished from the server (flushed, restarted or failed over without it): PLEXUS_E_REGION_LOST. */
class RegionLostError extends PlexusError {
  constructor(message) {
    super(E_REGION_LOST, message);
    this.name = 'RegionLostError';
  }
}

/** The call cannot exist on this backend (or build); the message names the alternative: PLEXUS_E_UNSUPPORTED. */
class UnsupportedError extends PlexusError {
  constructor(message) {
    super(E_UNSUPPORTED, message);
    this.name = 'UnsupportedError';
  }
}

const ERROR_CLASSES = {
  [TIMEOUT]: TimeoutError,
  [CLOSED]: ClosedError,
  [E_REMOVED]: RemovedError,
  [E_UNAVAILABLE]: UnavailableError,
  [E_REGION_LOST]: RegionLostError,
  [E_UNSUPPORTED]: UnsupportedError,
};

/**
 * The error for `st`, with the library's message for the calling thread (call it right
 * after the failing call), or `message` when given.
 */
function errorFor(st, message) {
  const msg = message !== undefined ? message : C.last_error();
  const Class = ERROR_CLASSES[st];
  return Class ? new Class(msg) : new PlexusError(st, msg);
}

/**
 * A region name as messages show it: the password of a remote region's name
 * ('redis://user:secret@host/NAME') replaced by '***', as the library does.
 */
function shownName(name) {
  const scheme = name.indexOf('://');
  if (scheme < 0) return name;
  const rest = name.slice(scheme + 3);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const at = authority.lastIndexOf('@');
  if (at < 0) return name;
  const userinfo = authority.slice(0, at);
  const hidden = userinfo.includes(':') ? `${userinfo.split(':')[0]}:***` : '***';
  return `${name.slice(0, scheme + 3)}${hidden}@${rest.slice(at + 1)}`;
}

function check(st) {
  if (st !== OK) throw errorFor(st);
}

/** The message of an error status returned on a worker thread (plexus_last_error is per thread). */
function asyncMessage(st) {
  return `${DESCRIPTIONS[st] || 'failed'} (reported by a wait on a worker thread, whose library message is not available)`;
}

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

const FOREVER = -1;
const MAX_I64 = (1n << 63n) - 1n;
const MIN_I64 = -(1n << 63n);
const MAX_U64 = (1n << 64n) - 1n;
const SLICE_MS = 50;

/**
 * A timeout in milliseconds to the C convention (nanoseconds; -1 forever; 0 try once):
 * `undefined`, `Infinity` or -1 wait without limit, 0 tries once, a positive number
 * (fractions allowed) waits that long; other negative numbers and NaN throw RangeError,
 * anything that is not a number (null included) TypeError.
 */
function timeoutNs(ms) {
  if (ms === undefined) return FOREVER;
  if (typeof ms !== 'number') {
    throw new TypeError(`timeout must be a number of milliseconds (or undefined: no limit), not ${describe(ms)}`);
  }
  if (ms > 0) {
    const ns = Math.ceil(ms * 1e6);
    return ns >= 9.2e18 ? FOREVER : ns; // Infinity, and finite waits longer than int64_t holds
  }
  if (ms === 0) return 0;
  if (ms === -1) return FOREVER;
  throw new RangeError(`timeout must be >= 0 ms, -1 or Infinity (no limit), not ${ms}`);
}

/** `{ timeout, signal }` of an async call from a number (the timeout) or an options object. */
function waitOptions(arg) {
  if (arg === undefined || typeof arg === 'number') return { timeout: arg, signal: undefined };
  if (typeof arg !== 'object' || arg === null) throw new TypeError(`expected a timeout in ms or { timeout, signal }, not ${describe(arg)}`);
  const { timeout, signal } = arg;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean')) {
    throw new TypeError('signal must be an AbortSignal');
  }
  return { timeout, signal };
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'object') return v.constructor && v.constructor.name ? `a ${v.constructor.name}` : 'an object';
  return `a ${typeof v}`;
}

const hasIsWellFormed = typeof ''.isWellFormed === 'function';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
function wellFormed(s) {
  return hasIsWellFormed ? s.isWellFormed() : !LONE_SURROGATE.test(s);
}

/** Checks a name or key passed as a C string: a string, no NUL, valid UTF-16. */
function cString(s, what) {
  if (typeof s !== 'string') throw new TypeError(`${what} must be a string, not ${describe(s)}`);
  if (s.includes('\0')) throw new PlexusError(E_INVALID_ARGUMENT, `${what} contains a NUL character`);
  if (!wellFormed(s)) throw new PlexusError(E_INVALID_ARGUMENT, `${what} is not valid Unicode (lone surrogate)`);
  return s;
}

function arrayIndex(i) {
  if (typeof i === 'number') {
    if (Number.isSafeInteger(i) && i >= 0) return i;
    throw new RangeError(`index must be an integer >= 0, not ${i}`);
  }
  if (typeof i === 'bigint') {
    if (i >= 0n && i <= MAX_U64) return i;
    throw new RangeError(`index must be an integer >= 0 and < 2^64, not ${i}`);
  }
  throw new TypeError(`index must be a number or a bigint, not ${describe(i)}`);
}

function count(n, what, max) {
  if (typeof n === 'bigint' && max === undefined && n >= 0n && n <= MAX_U64) return n;
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && (max === undefined || n <= max)) return n;
  if (typeof n !== 'number' && typeof n !== 'bigint') throw new TypeError(`${what} must be a number, not ${describe(n)}`);
  throw new RangeError(`${what} must be an integer >= 0${max !== undefined ? ` and <= ${max}` : ''}, not ${n}`);
}

function u64In(v, what) {
  if (typeof v === 'bigint') {
    if (v >= 0n && v <= MAX_U64) return v;
  } else if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v;
  } else {
    throw new TypeError(`${what} must be a number or a bigint, not ${describe(v)}`);
  }
  throw new RangeError(`${what} must be an integer >= 0 and < 2^64, not ${v}`);
}

/** A 64-bit integer from koffi or a Buffer as a JS value under the INT rule. */
function intOut(v, big) {
  if (big) return BigInt(v);
  if (typeof v === 'bigint') return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  return v;
}

function flagsOf(options, allowed) {
  if (options === undefined || options === null) return 0;
  if (typeof options !== 'object') throw new TypeError(`options must be an object, not ${describe(options)}`);
  let flags = 0;
  for (const [key, value] of Object.entries(options)) {
    if (!(key in allowed)) {
      throw new TypeError(`unknown option '${key}' (known: ${Object.keys(allowed).join(', ')})`);
    }
    if (value) flags |= allowed[key];
  }
  return flags;
}

const FLAG_FULL = 1;
const FLAG_EXCLUSIVE = 2;
const FLAG_LIFO = 4;

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

const T_UNDEFINED = 0;
const T_NULL = 1;
const T_BOOL = 2;
const T_INT = 3;
const T_FLOAT = 4;
const T_STRING = 5;
const T_BYTES = 6;
const T_OBJECT = 7;

/** Type names by plexus_type number. */
const TYPE_NAMES = ['UNDEFINED', 'NULL', 'BOOL', 'INT', 'FLOAT', 'STRING', 'BYTES', 'OBJECT'];

/** A number to be stored as FLOAT even when it is integral: plexus.float(2). */
class Float {
  constructor(value) {
    if (typeof value !== 'number') throw new TypeError(`plexus.float() takes a number, not ${describe(value)}`);
    this.value = value;
    Object.freeze(this);
  }
  valueOf() {
    return this.value;
  }
}

function float(value) {
  return new Float(value);
}

function isPlainObject(v) {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const BIGINT_MARK = `\u0000plexus-bigint-${Math.random().toString(36).slice(2)}:`;
const BIGINT_MARK_RE = new RegExp(`"${JSON.stringify(BIGINT_MARK).slice(1, -1).replace(/\\/g, '\\\\')}(-?\\d+)"`, 'g');

/** JSON.stringify that writes BigInts as JSON integers. */
function stringify(v) {
  try {
    return JSON.stringify(v);
  } catch (e) {
    if (!(e instanceof TypeError) || !/BigInt/i.test(e.message)) throw e;
  }
  const text = JSON.stringify(v, (_key, x) => {
    if (typeof x !== 'bigint') return x;
    // MessagePack holds integers from -2^63 to 2^64 - 1; beyond, JSON would make a float.
    if (x < MIN_I64 || x > MAX_U64) throw new RangeError(`${x} does not fit in a 64-bit integer`);
    return BIGINT_MARK + x.toString();
  });
  return text.replace(BIGINT_MARK_RE, '$1');
}

/**
 * Refuses what JSON would silently drop or empty inside an object: functions (methods
 * too), symbols (as values or as keys), Map, Set, WeakMap and WeakSet. Runs after
 * stringify succeeded (so `v` has no cycles in what JSON walks); follows what JSON
 * follows: array items and own enumerable string-keyed properties of objects without a
 * toJSON method. Throws a TypeError naming the path (`.a.list[2]`).
 */
function checkShareable(v) {
  const path = [];
  const fail = (what) => {
    const at = path.map((k) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`)).join('');
    throw new TypeError(
      `plexus cannot store ${what} inside an object (at ${at || 'the top'}): objects hold null, booleans, ` +
        'numbers, bigints, strings, arrays and plain objects (undefined members are left out, as JSON does)',
    );
  };
  const walk = (x) => {
    const t = typeof x;
    if (t === 'function') fail('a function');
    if (t === 'symbol') fail('a symbol');
    if (t !== 'object' || x === null) return;
    if (x instanceof Map || x instanceof Set || x instanceof WeakMap || x instanceof WeakSet) {
      fail(`a ${x.constructor.name}`);
    }
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) {
        path.push(i);
        walk(x[i]);
        path.pop();
      }
      return;
    }
    if (typeof x.toJSON === 'function') return;
    if (Object.getOwnPropertySymbols(x).some((k) => Object.prototype.propertyIsEnumerable.call(x, k))) {
      fail('a symbol-keyed property');
    }
    for (const k of Object.keys(x)) {
      path.push(k);
      walk(x[k]);
      path.pop();
    }
  };
  walk(v);
}

/**
 * JSON.parse that keeps integers exact: a safe integer is a number, a larger one a BigInt
 * (every integer a BigInt when `big`). Only text that needs it takes the slow path.
 */
function parseJson(text, big) {
  if (!big && !/\d{16}/.test(text)) return JSON.parse(text);
  let i = 0;
  const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;
  const skip = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else return;
    }
  };
  const string = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const expect = (ch) => {
    skip();
    if (text[i] !== ch) throw new SyntaxError(`plexus: bad JSON from the library at ${i}`);
    i++;
  };
  const value = () => {
    skip();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      skip();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        skip();
        const key = string();
        expect(':');
        const v = value();
        if (key === '__proto__') Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        else obj[key] = v;
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect('}');
        return obj;
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      skip();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect(']');
        return arr;
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) throw new SyntaxError(`plexus: bad JSON from the library at ${i}`);
    i += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return Number(m[0]);
    if (big) return BigInt(m[0]);
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };
  const result = value();
  skip();
  if (i !== text.length) throw new SyntaxError(`plexus: bad JSON from the library at ${i}`);
  return result;
}

const P_UNDEFINED = Object.freeze({ t: T_UNDEFINED });
const P_NULL = Object.freeze({ t: T_NULL });
const P_TRUE = Object.freeze({ t: T_BOOL, b: true });
const P_FALSE = Object.freeze({ t: T_BOOL, b: false });

/**
 * A JS value, checked and converted to what the C value will hold. Runs all user code
 * (toJSON, getters) before any scratch memory is touched.
 */
function prepare(v) {
  switch (typeof v) {
    case 'undefined':
      return P_UNDEFINED;
    case 'boolean':
      return v ? P_TRUE : P_FALSE;
    case 'number':
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) return { t: T_INT, n: v };
      return { t: T_FLOAT, n: v };
    case 'bigint':
      if (v < MIN_I64 || v > MAX_I64) throw new RangeError(`${v} does not fit in a 64-bit INT`);
      return { t: T_INT, big: v };
    case 'string':
      if (!wellFormed(v)) throw new PlexusError(E_INVALID_ARGUMENT, 'string is not valid Unicode (lone surrogate)');
      return { t: T_STRING, s: v };
    case 'object': {
      if (v === null) return P_NULL;
      if (v instanceof Float) return { t: T_FLOAT, n: v.value };
      if (ArrayBuffer.isView(v)) return { t: T_BYTES, u8: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
      if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer)) {
        return { t: T_BYTES, u8: new Uint8Array(v) };
      }
      if (Array.isArray(v) || isPlainObject(v)) {
        const json = stringify(v);
        checkShareable(v);
        return { t: T_OBJECT, json };
      }
      break;
    }
    default:
      break;
  }
  throw new TypeError(
    `plexus cannot store ${describe(v)}: values are undefined, null, booleans, numbers, bigints, ` +
      'strings, Buffers (or other binary views) and plain objects or arrays',
  );
}

// The plexus_value layout in 32-bit words (x86-64 and every other 64-bit ABI koffi
// supports): type at word 0, the union at words 2-3 (buf.ptr), buf.len at words 4-5, owner
// at words 6-7. Checked against koffi's layout of the struct.
const W_AS = OFF_AS / 4;
const W_LEN = OFF_LEN / 4;
const W_OWNER = OFF_OWNER / 4;
if (VALUE_SIZE !== 32 || OFF_AS !== 8 || OFF_LEN !== 16 || OFF_OWNER !== 24) {
  throw new Error(`plexus: unexpected plexus_value layout (size ${VALUE_SIZE}, as ${OFF_AS}, len ${OFF_LEN}, owner ${OFF_OWNER})`);
}
const TWO_32 = 4294967296;

/**
 * Memory for one plexus_value the library reads or fills: the 32-byte struct, plus room
 * for a string or bytes payload. Both live outside V8's heap (never moved), so their
 * addresses stay valid for a call on another thread; the Slot keeps both Buffers (an
 * address from koffi.address does not keep its Buffer alive: V8 frees a Buffer no live
 * code refers to, whatever C still does with its address). The struct is read and written
 * through typed-array views (no bounds-checked Buffer calls, no allocation).
 */
class Slot {
  constructor(payload = 256) {
    this.v = Buffer.allocUnsafeSlow(VALUE_SIZE);
    this.vp = koffi.address(this.v);
    this.i32 = new Int32Array(this.v.buffer, this.v.byteOffset, 8);
    this.u32 = new Uint32Array(this.v.buffer, this.v.byteOffset, 8);
    this.f64 = new Float64Array(this.v.buffer, this.v.byteOffset, 4);
    this.i64 = new BigInt64Array(this.v.buffer, this.v.byteOffset, 4);
    this.u64 = new BigUint64Array(this.v.buffer, this.v.byteOffset, 4);
    this.i32.fill(0);
    this.p = null;
    this.owned = false;
    if (payload > 0) this.setPayload(Buffer.allocUnsafeSlow(payload));
  }

  setPayload(buf) {
    this.p = buf;
    const address = koffi.address(buf);
    // The address as two 32-bit halves: writing them is cheaper than a BigInt store.
    this.ppLo = Number(address & 0xffffffffn);
    this.ppHi = Number(address >> 32n);
  }

  room(n) {
    if (!this.p || n > this.p.length) {
      this.setPayload(Buffer.allocUnsafeSlow(Math.max(n, this.p ? this.p.length * 2 : 64, 16)));
    }
  }

  /** Points the value at the first `n` bytes of the payload buffer. */
  pointAtPayload(n) {
    const u = this.u32;
    u[W_AS] = this.ppLo;
    u[W_AS + 1] = this.ppHi;
    u[W_LEN] = n % TWO_32;
    u[W_LEN + 1] = Math.floor(n / TWO_32);
  }

  /** Writes an INT from a safe integer (two's complement, in two 32-bit words). */
  setInt(n) {
    const i = this.i32;
    i[0] = T_INT;
    if ((n | 0) === n) {
      i[W_AS] = n;
      i[W_AS + 1] = n >> 31;
    } else {
      const hi = Math.floor(n / TWO_32);
      this.u32[W_AS] = n - hi * TWO_32;
      i[W_AS + 1] = hi;
    }
    i[W_OWNER] = 0;
    i[W_OWNER + 1] = 0;
  }

  /** Writes a FLOAT. */
  setFloat(n) {
    this.i32[0] = T_FLOAT;
    this.f64[W_AS / 2] = n;
    this.i32[W_OWNER] = 0;
    this.i32[W_OWNER + 1] = 0;
  }

  /** Writes a STRING (UTF-8 in the payload buffer); `s` must be well-formed. */
  setString(s) {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: skip the exact count when that fits.
    const n = this.p && s.length * 3 <= this.p.length ? this.p.write(s, 0, 'utf8') : this.writeLong(s);
    this.i32[0] = T_STRING;
    this.pointAtPayload(n);
    this.i32[W_OWNER] = 0;
    this.i32[W_OWNER + 1] = 0;
  }

  /**
   * Writes `v` and returns the value's address: numbers, booleans, undefined, null and
   * strings directly (no user code can run for them), everything else through prepare().
   * Call done() after the C call unless `v` was a primitive (only fill(prepare(object))
   * allocates).
   */
  put(v) {
    switch (typeof v) {
      case 'number':
        if (Number.isSafeInteger(v) && (v !== 0 || 1 / v > 0)) this.setInt(v);
        else this.setFloat(v);
        return this.vp;
      case 'string':
        if (!wellFormed(v)) throw new PlexusError(E_INVALID_ARGUMENT, 'string is not valid Unicode (lone surrogate)');
        this.setString(v);
        return this.vp;
      case 'boolean':
        this.i32[0] = T_BOOL;
        this.i32[W_AS] = v ? 1 : 0;
        this.i32[W_OWNER] = 0;
        this.i32[W_OWNER + 1] = 0;
        return this.vp;
      case 'undefined':
        this.i32[0] = T_UNDEFINED;
        this.i32[W_OWNER] = 0;
        this.i32[W_OWNER + 1] = 0;
        return this.vp;
      default:
        if (v === null) {
          this.i32[0] = T_NULL;
          this.i32[W_OWNER] = 0;
          this.i32[W_OWNER + 1] = 0;
          return this.vp;
        }
        return this.fill(prepare(v));
    }
  }

  /** Writes a prepared value (may call plexus_value_from_json, which can fail). */
  fill(prep) {
    const i = this.i32;
    i[W_OWNER] = 0;
    i[W_OWNER + 1] = 0;
    switch (prep.t) {
      case T_BOOL:
        i[0] = T_BOOL;
        i[W_AS] = prep.b ? 1 : 0;
        break;
      case T_INT:
        if (prep.big !== undefined) {
          i[0] = T_INT;
          this.i64[W_AS / 2] = prep.big;
        } else {
          this.setInt(prep.n);
        }
        break;
      case T_FLOAT:
        this.setFloat(prep.n);
        break;
      case T_STRING:
        this.setString(prep.s);
        break;
      case T_BYTES: {
        const n = prep.u8.length;
        this.room(n);
        this.p.set(prep.u8);
        i[0] = T_BYTES;
        this.pointAtPayload(n);
        break;
      }
      case T_OBJECT: {
        const st = C.value_from_json(prep.json, this.vp);
        if (st !== OK) throw errorFor(st);
        this.owned = true;
        break;
      }
      default:
        i[0] = prep.t;
        break;
    }
    return this.vp;
  }

  /** Writes a string longer than the quick check allows; returns its UTF-8 length. */
  writeLong(s) {
    const n = Buffer.byteLength(s, 'utf8');
    this.room(n);
    if (n) this.p.write(s, 0, n, 'utf8');
    return n;
  }

  /** Frees what plexus_value_from_json allocated; shrinks a payload buffer that grew large. */
  done() {
    if (this.owned) {
      C.value_free(this.vp);
      this.owned = false;
    }
    if (this.p && this.p.length > 1 << 20) this.setPayload(Buffer.allocUnsafeSlow(256));
  }

  /** Converts the value the library filled in to JS and frees it. */
  take(big) {
    const i = this.i32;
    switch (i[0]) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_BOOL:
        return this.v[OFF_AS] !== 0;
      case T_INT: {
        if (!big) {
          const hi = i[W_AS + 1];
          if (hi > -2097152 && hi < 2097152) return hi * TWO_32 + this.u32[W_AS];
        }
        return intOut(this.i64[W_AS / 2], big);
      }
      case T_FLOAT:
        return this.f64[W_AS / 2];
      default:
        return this.takeOwned(big);
    }
  }

  /** take() of the types whose payload the library allocated (freed here). */
  takeOwned(big) {
    const t = this.i32[0];
    try {
      const n = this.u32[W_LEN] + this.u32[W_LEN + 1] * TWO_32;
      if (t === T_STRING) return n ? koffi.decode.string(this.u64[W_AS / 2], n) : '';
      if (t === T_BYTES) {
        if (!n) return Buffer.alloc(0);
        const u8 = koffi.decode(this.u64[W_AS / 2], 'uint8_t', n);
        return Buffer.from(u8.buffer, u8.byteOffset, u8.length);
      }
      if (t === T_OBJECT) return parseJson(toJson(this.vp), big);
      throw new PlexusError(E_INTERNAL, `the library returned a value of unknown type ${t}`);
    } finally {
      C.value_free(this.vp);
    }
  }
}

let jsonBuf = Buffer.allocUnsafeSlow(4096);
let jsonPtr = koffi.address(jsonBuf);
const jsonNeeded = [0];

function toJson(vp) {
  let st = C.value_to_json(vp, jsonPtr, jsonBuf.length, jsonNeeded);
  if (st === E_BUFFER_TOO_SMALL) {
    jsonBuf = Buffer.allocUnsafeSlow(Number(jsonNeeded[0]));
    jsonPtr = koffi.address(jsonBuf);
    st = C.value_to_json(vp, jsonPtr, jsonBuf.length, jsonNeeded);
  }
  check(st);
  const text = jsonBuf.toString('utf8', 0, Number(jsonNeeded[0]) - 1);
  if (jsonBuf.length > 1 << 20) {
    jsonBuf = Buffer.allocUnsafeSlow(4096);
    jsonPtr = koffi.address(jsonBuf);
  }
  return text;
}

// Scratch memory of synchronous calls (one thread runs them, and no user code runs
// between filling a slot and the call). Async calls get their own.
const IN = new Slot();
const IN2 = new Slot();
const OUT = new Slot(0);
const OUT_VP = OUT.vp;
const PAYLOAD_KEEP = 1 << 20;

/** After a call that read `slot`: frees what put()/fill() allocated, if anything. */
function release(slot) {
  if (slot.owned || (slot.p !== null && slot.p.length > PAYLOAD_KEEP)) slot.done();
}
const u64Out = [0];
const sizeOut = [0];
const boolOut = [false];
const u32Out = [0];

/**
 * Memory for an array of plexus_value the library reads (a batch push): the structs, one
 * after the other, and one payload buffer holding every string's and Buffer's bytes.
 * Both live outside V8's heap. fill() converts every value first (running all user
 * code), then writes.
 */
class BatchIn {
  constructor() {
    this.cap = 0;
    this.pay = null;
    this.owned = [];
  }

  /** Writes `values` (an array) and returns the address of the first struct. */
  fill(values) {
    const n = values.length;
    const preps = new Array(n);
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const p = prepare(values[k]);
      preps[k] = p;
      if (p.t === T_STRING) bytes += Buffer.byteLength(p.s, 'utf8');
      else if (p.t === T_BYTES) bytes += p.u8.length;
    }
    if (n > this.cap) {
      this.cap = Math.max(n, this.cap * 2, 16);
      this.v = Buffer.allocUnsafeSlow(this.cap * VALUE_SIZE);
      this.addr = koffi.address(this.v);
      this.i32 = new Int32Array(this.v.buffer, this.v.byteOffset, this.cap * 8);
      this.f64 = new Float64Array(this.v.buffer, this.v.byteOffset, this.cap * 4);
      this.i64 = new BigInt64Array(this.v.buffer, this.v.byteOffset, this.cap * 4);
    }
    if (!this.pay || bytes > this.pay.length) {
      this.pay = Buffer.allocUnsafeSlow(Math.max(bytes, this.pay ? this.pay.length * 2 : 4096));
      this.payAddr = koffi.address(this.pay);
    }
    this.i32.fill(0, 0, n * 8);
    let off = 0;
    for (let k = 0; k < n; k++) {
      const p = preps[k];
      const w = k * 8; // the struct's first 32-bit word
      this.i32[w] = p.t;
      switch (p.t) {
        case T_BOOL:
          this.i32[w + W_AS] = p.b ? 1 : 0;
          break;
        case T_INT:
          this.i64[(w + W_AS) / 2] = p.big !== undefined ? p.big : BigInt(p.n);
          break;
        case T_FLOAT:
          this.f64[(w + W_AS) / 2] = p.n;
          break;
        case T_STRING:
        case T_BYTES: {
          const len = p.t === T_STRING ? this.pay.write(p.s, off, 'utf8') : (this.pay.set(p.u8, off), p.u8.length);
          this.i64[(w + W_AS) / 2] = this.payAddr + BigInt(off);
          this.i64[(w + W_LEN) / 2] = BigInt(len);
          off += len;
          break;
        }
        case T_OBJECT: {
          const at = this.addr + BigInt(k * VALUE_SIZE);
          const st = C.value_from_json(p.json, at);
          if (st !== OK) {
            this.done();
            throw errorFor(st);
          }
          this.owned.push(at);
          break;
        }
        default:
          break;
      }
    }
    return this.addr;
  }

  /** Frees what plexus_value_from_json allocated; lets large buffers go. */
  done() {
    for (const at of this.owned) C.value_free(at);
    this.owned.length = 0;
    if (this.pay && this.pay.length > PAYLOAD_KEEP) this.pay = null;
    if (this.cap > 65536) this.cap = 0;
  }
}

/** Memory for an array of plexus_value the library fills (a batch pop). */
class BatchOut {
  constructor(n) {
    this.n = n;
    this.v = Buffer.alloc(n * VALUE_SIZE);
    this.addr = koffi.address(this.v);
  }

  /** Converts the first `count` values to JS and frees them (all of them, whatever happens). */
  take(count, big) {
    const out = new Array(count);
    let k = 0;
    try {
      for (; k < count; k++) {
        OUT.v.set(this.v.subarray(k * VALUE_SIZE, (k + 1) * VALUE_SIZE));
        out[k] = OUT.take(big);
      }
    } finally {
      for (k++; k < count; k++) C.value_free(this.addr + BigInt(k * VALUE_SIZE));
    }
    return out;
  }
}

const BATCH_IN = new BatchIn();

/** The count a batch call's error reports: `err.pushed` on a push_many that stopped. */
function withPushed(err, pushed) {
  err.pushed = pushed;
  return err;
}

/** A batch size: an integer >= 1 (RangeError, TypeError otherwise). */
function batchMax(max) {
  if (typeof max !== 'number' || !Number.isInteger(max)) throw new TypeError(`max must be an integer, not ${describe(max)}`);
  if (max < 1 || max > 1 << 24) throw new RangeError(`max must be between 1 and 2^24, not ${max}`);
  return max;
}

// ---------------------------------------------------------------------------------------
// Async machinery
// ---------------------------------------------------------------------------------------

function callAsync(f, args) {
  return new Promise((resolve, reject) => {
    f.async(...args, (err, st) => (err ? reject(err) : resolve(st)));
  });
}

function timeoutMessage(ms) {
  return `timed out after ${ms} ms`;
}

/**
 * Runs a blocking C call without blocking the event loop. `op.once(ns)` makes the call
 * synchronously, `op.slice(ns)` on a worker thread (a Promise of the status); both
 * return the status. Tries once on this thread, then in slices of at most SLICE_MS on
 * the thread pool until the call reports something else than TIMEOUT, the timeout
 * passes (TimeoutError) or the signal aborts (its reason is thrown; a slice that
 * succeeded meanwhile wins). `done(st)` turns the final status into the result.
 */
async function waitAsync(op, options) {
  const { timeout, signal } = waitOptions(options);
  const total = timeoutNs(timeout);
  if (signal && signal.aborted) throw signal.reason;
  const st0 = op.once(0);
  if (st0 !== TIMEOUT || total === 0) return op.done(st0, st0 === OK ? undefined : errorFor(st0));
  const deadline = total === FOREVER ? Infinity : performance.now() + total / 1e6;
  for (;;) {
    if (signal && signal.aborted) throw signal.reason;
    const remaining = deadline - performance.now();
    if (remaining <= 0) throw new TimeoutError(timeoutMessage(timeout));
    const st = await op.slice(Math.ceil(Math.min(SLICE_MS, remaining) * 1e6));
    if (st !== TIMEOUT) return op.done(st, st === OK ? undefined : errorFor(st, asyncMessage(st)));
  }
}

/** An `op.done` that returns `result()` for OK and throws the error otherwise. */
function okOrThrow(result) {
  return (st, err) => {
    if (err) throw err;
    return result();
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------
// Handles: closed explicitly, or when garbage collected
// ---------------------------------------------------------------------------------------

const CLOSERS = {
  region: C.region_close,
  array: ARRAY.close,
  map: MAP.close,
  queue: C.queue_close,
  bus: C.bus_close,
  sub: C.sub_close,
  mutex: C.mutex_close,
  barrier: C.barrier_close,
  semaphore: C.semaphore_close,
  tarray: C.tarray_close,
  service: C.service_close,
};

/** What a closed object or region calls with: id 0, never a valid handle. */
const CLOSED_HANDLE = 0;

const finalizer = new FinalizationRegistry(({ kind, id }) => {
  try {
    CLOSERS[kind](id);
  } catch {
    // Nothing to report to: the owner is gone.
  }
});

/** Base of every object opened through a Region. */
class PlexusObject {
  constructor(region, kind, handle, name) {
    /** The Region this object was opened through (kept alive by it). */
    this.region = region;
    /** The object's name in the region. */
    this.name = name;
    this._kind = kind;
    this._h = handle.id;
    this._big = region ? region._big : false;
    this._open = true;
    finalizer.register(this, { kind, id: handle.id }, this);
  }

  /** The C handle's id (still owned by this object; 0 once given back). */
  get handleId() {
    return this._h;
  }

  /**
   * Gives back this handle (plexus_<kind>_close; once, later calls do nothing): the object
   * and other handles of it are untouched; later calls through this object throw
   * PLEXUS_E_BAD_HANDLE. Every kind has it (and [Symbol.dispose]).
   */
  close() {
    this._giveBack();
  }

  /** Gives back the handle (once; later calls do nothing). */
  _giveBack() {
    if (!this._open) return;
    this._open = false;
    finalizer.unregister(this);
    const st = CLOSERS[this._kind](this._h);
    // Id 0 is never valid: later calls through this object report PLEXUS_E_BAD_HANDLE
    // even while another object still holds an open of the same handle.
    this._h = CLOSED_HANDLE;
    // BAD_HANDLE: the region was closed first, which closed this handle too.
    if (st !== OK && st !== status.E_BAD_HANDLE) throw errorFor(st);
  }
}

if (typeof Symbol.dispose === 'symbol') {
  PlexusObject.prototype[Symbol.dispose] = function dispose() {
    this._giveBack();
  };
}

// ---------------------------------------------------------------------------------------
// Regions
// ---------------------------------------------------------------------------------------

const MODES = { openOrCreate: 0, create: 1, open: 2, recreate: 3 };
const REGION_OPTION_KEYS = new Set(['mode', 'size', 'permissions', 'wait', 'bigint']);

function regionOptions(options, defaultMode) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new TypeError(`options must be an object, not ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!REGION_OPTION_KEYS.has(key)) {
      throw new TypeError(`unknown region option '${key}' (known: ${[...REGION_OPTION_KEYS].join(', ')})`);
    }
  }
  const modeName = options.mode === undefined ? defaultMode : options.mode;
  if (!Object.prototype.hasOwnProperty.call(MODES, modeName)) {
    throw new TypeError(`mode must be one of ${Object.keys(MODES).join(', ')}, not ${String(modeName)}`);
  }
  return {
    c: {
      struct_size: koffi.sizeof(RegionOptions),
      mode: MODES[modeName],
      size: options.size === undefined ? 0 : count(options.size, 'size'),
      permissions: options.permissions === undefined ? 0 : count(options.permissions, 'permissions', 0o7777),
      wait_ns: timeoutNs(options.wait === undefined ? 0 : options.wait),
    },
    big: Boolean(options.bigint),
    wait: options.wait,
  };
}

/**
 * An open region handle: a named region of shared memory and the objects in it.
 * Obtained from Region.open (or create / openExisting / recreate / openAsync).
 */
class Region {
  /** @private Use Region.open. */
  constructor(handle, name, big) {
    this._h = handle.id;
    this._big = big;
    this._open = true;
    /** The region's name as given to open. */
    this.name = name;
    finalizer.register(this, { kind: 'region', id: handle.id }, this);
  }

  /**
   * Opens or creates the region `name` (no '/': volatile, /dev/shm/plexus.<name>; with
   * '/': a persistent file). Options: mode ('openOrCreate' (default), 'create', 'open',
   * 'recreate'), size (bytes when creating; default 64 MiB), permissions (default
   * 0o600), wait (ms, mode 'open': how long to wait for it to appear; blocks), bigint
   * (read every INT as a BigInt).
   */
  static open(name, options) {
    cString(name, 'region name');
    const o = regionOptions(options, 'openOrCreate');
    const out = {};
    check(C.region_open(name, o.c, out));
    return new Region(out, name, o.big);
  }

  /** Creates the region; PLEXUS_E_EXISTS if it exists. */
  static create(name, options) {
    return Region.open(name, { ...options, mode: 'create' });
  }

  /** Opens an existing region, waiting up to `options.wait` ms (default 0) for it to appear. */
  static openExisting(name, options) {
    return Region.open(name, { ...options, mode: 'open' });
  }

  /** Removes any region of that name, then creates it afresh. */
  static recreate(name, options) {
    return Region.open(name, { ...options, mode: 'recreate' });
  }

  /**
   * Region.open without blocking the event loop: with mode 'open' (the default here),
   * waits up to `options.wait` ms (default: without limit) for the region to appear.
   * `options.signal` aborts the wait.
   */
  static async openAsync(name, options) {
    cString(name, 'region name');
    const { signal, ...rest } = options || {};
    if (rest.mode === undefined) rest.mode = 'open';
    if (rest.mode === 'open' && rest.wait === undefined) rest.wait = Infinity;
    const o = regionOptions(rest, 'open');
    if (o.c.mode !== MODES.open) return Region.open(name, rest);
    const out = {};
    return waitAsync(
      {
        once: (ns) => {
          const st = C.region_open(name, { ...o.c, wait_ns: ns }, out);
          return st === E_NOT_FOUND ? TIMEOUT : st;
        },
        slice: async (ns) => {
          const st = await callAsync(C.region_open, [name, { ...o.c, wait_ns: ns }, out]);
          return st === E_NOT_FOUND ? TIMEOUT : st;
        },
        done: okOrThrow(() => new Region(out, name, o.big)),
      },
      { timeout: o.wait, signal },
    ).catch((e) => {
      if (e instanceof TimeoutError) throw new PlexusError(E_NOT_FOUND, `region ${shownName(name)} did not appear within ${o.wait} ms`);
      throw e;
    });
  }

  /**
   * Removes the region `name`: every handle of it, in every process, throws RemovedError
   * from its next call, and waits in it end with RemovedError. Throws PLEXUS_E_NOT_FOUND
   * if it does not exist, unless `{ force: true }`. Returns true if a region was removed.
   */
  static remove(name, options) {
    cString(name, 'region name');
    const st = C.region_remove(name);
    if (st === E_NOT_FOUND && options && options.force) return false;
    check(st);
    return true;
  }

  /**
   * Checks the region `name` without opening it (plexus_region_check): validates every
   * structure, counts dead processes, their locks, leaked heap blocks and stale entries.
   * Only reads, unless `{ repair: true }`: then stale entries of dead processes are
   * cleaned up, and leaked blocks are reclaimed when no other process is attached (never
   * in a corrupt region). A damaged region is a result (`verdict: 'corrupt'`), not an
   * exception; PLEXUS_E_NOT_FOUND if absent.
   */
  static check(name, options) {
    cString(name, 'region name');
    const out = {};
    const flags = options && options.repair ? CHECK_REPAIR : 0;
    check(C.region_check(name, flags, out, OUT.vp));
    const text = OUT.take(false);
    return {
      verdict: VERDICTS[out.verdict] || String(out.verdict),
      liveProcesses: out.live_processes,
      deadProcesses: out.dead_processes,
      deadLocks: out.dead_locks,
      leakedBlocks: Number(out.leaked_blocks),
      leakedBytes: Number(out.leaked_bytes),
      staleEntries: out.stale_entries,
      problems: out.problems,
      repairs: out.repairs,
      repairSkipped: out.repair_skipped !== 0,
      heapUsed: Number(out.heap_used),
      text,
    };
  }

  /** True when every INT read through this region comes back as a BigInt. */
  get bigint() {
    return this._big;
  }

  /** The C handle's id (still owned by this Region; 0 once closed). */
  get handleId() {
    return this._h;
  }

  /** False once close() was called. */
  get isOpen() {
    return this._open;
  }

  /**
   * Closes the handle and every object handle opened through it (their calls then throw
   * PLEXUS_E_BAD_HANDLE). The region stays until removed. Closing twice does nothing.
   * After async calls, libplexus keeps the mapping (and this process's attachment) until
   * each thread-pool thread that waited on the region makes its next plexus call or
   * exits: the library caches handles per thread.
   */
  close() {
    if (!this._open) return;
    this._open = false;
    finalizer.unregister(this);
    const h = this._h;
    this._h = CLOSED_HANDLE;
    check(C.region_close(h));
  }

  /** Makes everything written so far durable (msync + fsync); blocks until it is. */
  flush() {
    check(C.region_flush(this._h));
  }

  /** Size, heap use, object count, live attachments, format version, id and creation time. */
  info() {
    const out = {};
    check(C.region_get_info(this._h, out));
    const created = BigInt(out.created_unix_ns);
    return {
      size: Number(out.size),
      heapSize: Number(out.heap_size),
      heapUsed: Number(out.heap_used),
      heapFree: Number(out.heap_free),
      objectCount: out.object_count,
      attachedProcesses: out.attached_processes,
      formatVersion: out.format_version,
      regionId: BigInt(out.region_id),
      createdUnixNs: created,
      created: new Date(Number(created / 1000000n)),
    };
  }

  /**
   * The region's named objects, `[{ name, kind, shape }]` sorted by name (kind: 'array',
   * 'map', 'queue', 'stack', 'bus', 'mutex', 'barrier' or 'semaphore'): each object that
   * exists throughout the call once, whatever other processes create meanwhile.
   */
  objects() {
    const all = [];
    const cursor = [0n];
    const found = [false];
    for (;;) {
      const out = {};
      check(C.region_next_object(this._h, cursor, out, found));
      if (!found[0]) return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      all.push({ name: out.name, kind: out.kind, shape: Number(out.shape) });
    }
  }

  /** Blocks until an object called `name` exists (any kind); TimeoutError after `timeout` ms. */
  waitObject(name, timeout) {
    cString(name, 'object name');
    check(C.region_wait_object(this._h, name, timeoutNs(timeout)));
  }

  /** waitObject without blocking the event loop (`options`: a timeout in ms or { timeout, signal }). */
  async waitObjectAsync(name, options) {
    cString(name, 'object name');
    return waitAsync(
      {
        once: (ns) => C.region_wait_object(this._h, name, ns),
        slice: (ns) => callAsync(C.region_wait_object, [this._h, name, ns]),
        done: okOrThrow(() => undefined),
      },
      options,
    );
  }

  /**
   * Removes the object `name` (of any kind) for every process (plexus_region_remove_object):
   * every handle of it, in every process, throws RemovedError from its next call (close()
   * still works), and waits in it end with RemovedError. The name is free at once: opening
   * it with a size creates a new object of any kind. Its memory is reclaimed once no
   * process can still be reading it. A queue or bus that was shut down starts again this
   * way: remove it, then open it again with its capacity. Throws PLEXUS_E_NOT_FOUND if no
   * object has that name, unless `{ force: true }`; RemovedError if the region itself was
   * removed. Returns true if an object was removed.
   */
  removeObject(name, options) {
    cString(name, 'object name');
    const st = C.region_remove_object(this._h, name);
    if (st === E_NOT_FOUND && options && options.force) return false;
    check(st);
    return true;
  }

  _openObject(kind, f, name, size, flags, Cls) {
    cString(name, `${kind} name`);
    const out = {};
    check(size === null ? f(this._h, name, out) : f(this._h, name, size, flags, out));
    return new Cls(this, kind, out, name);
  }

  /**
   * Opens the array `name`: `length > 0` creates it if missing (elements UNDEFINED and
   * EMPTY, or FULL with { full: true }) and otherwise requires that length; 0 opens an
   * existing one only. { exclusive: true }: PLEXUS_E_EXISTS if it exists.
   */
  array(name, length = 0, options) {
    const flags = flagsOf(options, { full: FLAG_FULL, exclusive: FLAG_EXCLUSIVE });
    return this._openObject('array', ARRAY.open, name, count(length, 'length'), flags, SharedArray);
  }

  /**
   * Opens the map `name` (capacity = maximum number of keys; 0 opens an existing one).
   * Options: full, exclusive, initial: an object whose keys are stored (each FULL, at
   * version 1) if and only if this call creates the map — atomically: no process sees
   * the map without them, and of several processes creating it at once exactly one's
   * data is stored. More keys than `capacity`: NoSpaceError.
   */
  map(name, capacity = 0, options) {
    let initial;
    if (options && typeof options === 'object' && 'initial' in options) {
      ({ initial, ...options } = options);
    }
    const flags = flagsOf(options, { full: FLAG_FULL, exclusive: FLAG_EXCLUSIVE });
    if (initial === undefined || initial === null) {
      return this._openObject('map', MAP.open, name, count(capacity, 'capacity'), flags, SharedMap);
    }
    if (typeof initial !== 'object' || Array.isArray(initial) || Buffer.isBuffer(initial)) {
      throw new TypeError(`initial must be an object of keys and values, not ${describe(initial)}`);
    }
    cString(name, 'map name');
    const size = count(capacity, 'capacity');
    const prep = prepare(initial);
    const slot = new Slot(0);
    const out = {};
    try {
      check(MAP.open_with(this._h, name, size, flags, slot.fill(prep), out));
    } finally {
      slot.done();
    }
    return new SharedMap(this, 'map', out, name);
  }

  /** Opens the queue `name` (FIFO, or a stack with { lifo: true }; 0 opens an existing one). Options: lifo, exclusive. */
  queue(name, capacity = 0, options) {
    const flags = flagsOf(options, { lifo: FLAG_LIFO, exclusive: FLAG_EXCLUSIVE });
    return this._openObject('queue', C.queue_open, name, count(capacity, 'capacity'), flags, Queue);
  }

  /** Opens the bus `name` (capacity = messages retained; 0 opens an existing one). Options: exclusive. */
  bus(name, capacity = 0, options) {
    const flags = flagsOf(options, { exclusive: FLAG_EXCLUSIVE });
    return this._openObject('bus', C.bus_open, name, count(capacity, 'capacity'), flags, Bus);
  }

  /** Opens (creating it, unlocked, if missing) the mutex `name`. */
  mutex(name) {
    return this._openObject('mutex', C.mutex_open, name, null, 0, Mutex);
  }

  /** Opens the barrier `name` for `parties` parties (0 opens an existing one). */
  barrier(name, parties = 0) {
    cString(name, 'barrier name');
    const out = {};
    check(C.barrier_open(this._h, name, count(parties, 'parties', 0xffffffff), out));
    return new Barrier(this, 'barrier', out, name);
  }

  /**
   * Opens the typed array `name`: `length` numbers of `dtype` ('i8', 'u8', 'i16', 'u16',
   * 'i32', 'u32', 'i64', 'u64', 'f32', 'f64'), created zero-filled if missing, in blocks
   * of `options.blockLen` elements (0: one block), EMPTY (FULL with `options.full`).
   * `length` 0 opens an existing one (its dtype must be `dtype`).
   */
  tarray(name, dtype, length = 0, options = {}) {
    cString(name, 'typed array name');
    const code = DTYPES.indexOf(dtype) + 1;
    if (code === 0) throw new TypeError(`dtype must be one of ${DTYPES.join(', ')}, not ${describe(dtype)}`);
    const { blockLen = 0, ...rest } = options || {};
    const flags = flagsOf(rest, { full: 1, exclusive: 2 });
    const out = {};
    check(C.tarray_open(this._h, name, code, count(length, 'length'), count(blockLen, 'blockLen'), flags, out));
    return new SharedTypedArray(this, 'tarray', out, name);
  }

  /** Opens the semaphore `name` with `permits` permits (0 opens an existing one). */
  semaphore(name, permits = 0) {
    cString(name, 'semaphore name');
    const out = {};
    check(C.semaphore_open(this._h, name, count(permits, 'permits', 0xffffffff), out));
    return new Semaphore(this, 'semaphore', out, name);
  }

  /** Opens the service `name` (capacity = most requests in it at once; 0 opens an existing one). Options: exclusive. */
  service(name, capacity = 0, options) {
    const flags = flagsOf(options, { exclusive: FLAG_EXCLUSIVE });
    return this._openObject('service', C.service_open, name, count(capacity, 'capacity', 0xffffffff), flags, Service);
  }
}

if (typeof Symbol.dispose === 'symbol') {
  Region.prototype[Symbol.dispose] = function dispose() {
    this.close();
  };
}

// ---------------------------------------------------------------------------------------
// Arrays and maps
// ---------------------------------------------------------------------------------------

/**
 * What arrays and maps share: every element call, keyed by index or by string. The
 * subclasses define `_c` (their C functions) and `_key` (the key check), and their own
 * get/set/faa: the calls made most, written out without indirection.
 */
class Cells extends PlexusObject {
  /** Runs the writing call `f(h, key, value)`. */
  _write(f, key, v) {
    const vp = IN.put(v);
    let st;
    try {
      st = f(this._h, key, vp);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
  }

  /** Runs a reading call `f(h, key, out)` and returns the value. */
  _read(f, key) {
    const st = f(this._h, key, OUT_VP);
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /** Runs a waiting reading call `f(h, key, out, ns)` and returns the value. */
  _readWait(f, key, ns) {
    const st = f(this._h, key, OUT_VP, ns);
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /** Reads the element whatever its tag (tag unchanged; atomic, never torn). */
  get(key) {
    return this._read(this._c.read, this._key(key));
  }

  /** Writes the element whatever its tag (tag unchanged). */
  set(key, value) {
    this._write(this._c.write, this._key(key), value);
  }

  /** Waits until FULL, reads, leaves EMPTY (consume). TimeoutError after `timeout` ms. */
  readFE(key, timeout) {
    return this._readWait(this._c.read_fe, this._key(key), timeoutNs(timeout));
  }

  /** Waits until FULL, reads, leaves FULL (peek). */
  readFF(key, timeout) {
    return this._readWait(this._c.read_ff, this._key(key), timeoutNs(timeout));
  }

  /** Waits until EMPTY, writes, leaves FULL (produce). */
  writeEF(key, value, timeout) {
    const k = this._key(key);
    const ns = timeoutNs(timeout);
    const vp = IN.put(value);
    let st;
    try {
      st = this._c.write_ef(this._h, k, vp, ns);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
  }

  /** Writes and leaves FULL, whatever the tag. */
  writeXF(key, value) {
    this._write(this._c.write_xf, this._key(key), value);
  }

  /** Writes and leaves EMPTY, whatever the tag. */
  writeXE(key, value) {
    this._write(this._c.write_xe, this._key(key), value);
  }

  /** Sets the tag FULL (true) or EMPTY (false) without touching the value. */
  setTag(key, full) {
    if (typeof full !== 'boolean') throw new TypeError(`full must be a boolean, not ${describe(full)}`);
    check(this._c.set_tag(this._h, this._key(key), full));
  }

  /** Whether the element is FULL (a snapshot). */
  isFull(key) {
    check(this._c.is_full(this._h, this._key(key), boolOut));
    return boolOut[0];
  }

  /**
   * Waits until FULL, reads, and takes a shared read lock: calls that would change the
   * element wait until releaseRW. At most 28 held per region handle.
   */
  readRW(key, timeout) {
    return this._readWait(this._c.read_rw, this._key(key), timeoutNs(timeout));
  }

  /** Releases one readRW lock this region handle holds on the element. */
  releaseRW(key) {
    check(this._c.release_rw(this._h, this._key(key)));
  }

  /** Atomic `+=` with JavaScript `+` semantics (UNDEFINED counts as 0 or ""); returns the old value. */
  faa(key, delta) {
    const k = this._key(key);
    const vp = IN.put(delta);
    let st;
    try {
      st = this._c.faa(this._h, k, vp, OUT_VP);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  _cas(key, expected, desired) {
    const k = this._key(key);
    const pe = prepare(expected);
    const pd = prepare(desired);
    let swapped;
    try {
      const ep = IN.fill(pe);
      const dp = IN2.fill(pd);
      check(this._c.cas(this._h, k, ep, dp, OUT.vp));
      swapped = C.value_equal(OUT.vp, ep);
    } finally {
      IN.done();
      IN2.done();
    }
    return { swapped, old: OUT.take(this._big) };
  }

  /**
   * Atomically: if the element equals `expected` (same type and value: 1 and
   * plexus.float(1) differ), stores `desired`. Returns true when it swapped.
   */
  cas(key, expected, desired) {
    return this._cas(key, expected, desired).swapped;
  }

  /** cas that returns the previous value (like Atomics.compareExchange). */
  compareExchange(key, expected, desired) {
    return this._cas(key, expected, desired).old;
  }

  /** Atomically stores `value` and returns the previous one (tag unchanged). */
  exchange(key, value) {
    const k = this._key(key);
    const vp = IN.put(value);
    let st;
    try {
      st = this._c.exchange(this._h, k, vp, OUT_VP);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /**
   * Atomically applies a MongoDB-style update document (e.g. `{ $inc: { 'stats.hits': 1 } }`)
   * and returns the value after it. Tag unchanged, version +1; an undefined element counts
   * as `{}`. All or nothing: PLEXUS_E_INVALID_ARGUMENT for a bad document,
   * PLEXUS_E_TYPE_MISMATCH when the value does not fit (the element untouched).
   */
  patch(key, update) {
    const k = this._key(key);
    const vp = IN.put(update);
    let st;
    try {
      st = this._c.patch(this._h, k, vp, OUT_VP);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /** The element's version, bumped by every change of its value or tag. */
  version(key) {
    check(this._c.version(this._h, this._key(key), u64Out));
    return intOut(u64Out[0], this._big);
  }

  /**
   * Waits until the element's version differs from `version`; returns the new version.
   * TimeoutError after `timeout` ms.
   */
  waitChange(key, version, timeout) {
    const k = this._key(key);
    const vb = Buffer.allocUnsafeSlow(8);
    vb.writeBigUInt64LE(BigInt(u64In(version, 'version')));
    check(this._c.wait_change(this._h, k, koffi.address(vb), timeoutNs(timeout)));
    return intOut(vb.readBigUInt64LE(0), this._big);
  }

  async _readAsync(f, key, options) {
    const k = this._key(key);
    const out = new Slot(0);
    return waitAsync(
      {
        once: (ns) => f(this._h, k, out.vp, ns),
        slice: (ns) => callAsync(f, [this._h, k, out.vp, ns]),
        done: okOrThrow(() => out.take(this._big)),
      },
      options,
    );
  }

  /** readFE without blocking the event loop (`options`: a timeout in ms or { timeout, signal }). */
  readFEAsync(key, options) {
    return this._readAsync(this._c.read_fe, key, options);
  }

  /** readFF without blocking the event loop. */
  readFFAsync(key, options) {
    return this._readAsync(this._c.read_ff, key, options);
  }

  /** readRW without blocking the event loop. */
  readRWAsync(key, options) {
    return this._readAsync(this._c.read_rw, key, options);
  }

  /** writeEF without blocking the event loop. */
  async writeEFAsync(key, value, options) {
    const k = this._key(key);
    const prep = prepare(value);
    const slot = new Slot(0);
    const f = this._c.write_ef;
    try {
      const vp = slot.fill(prep);
      return await waitAsync(
        {
          once: (ns) => f(this._h, k, vp, ns),
          slice: (ns) => callAsync(f, [this._h, k, vp, ns]),
          done: okOrThrow(() => undefined),
        },
        options,
      );
    } finally {
      slot.done();
    }
  }

  /** waitChange without blocking the event loop; resolves to the new version. */
  async waitChangeAsync(key, version, options) {
    const k = this._key(key);
    const vb = Buffer.allocUnsafeSlow(8);
    vb.writeBigUInt64LE(BigInt(u64In(version, 'version')));
    const vp = koffi.address(vb);
    const f = this._c.wait_change;
    return waitAsync(
      {
        once: (ns) => f(this._h, k, vp, ns),
        slice: (ns) => callAsync(f, [this._h, k, vp, ns]),
        done: okOrThrow(() => intOut(vb.readBigUInt64LE(0), this._big)),
      },
      options,
    );
  }

  /**
   * Waits until the element's version differs from `version`, then returns
   * `{ value, version }`: the value with the version it belongs to (read together).
   * At once if it already differs (version 0: the current value, once there is one).
   * TimeoutError after `timeout` ms. Blocks this thread: see watchAsync.
   */
  watchOnce(key, version = 0, timeout) {
    const k = this._key(key);
    const vb = Buffer.allocUnsafeSlow(8);
    vb.writeBigUInt64LE(BigInt(u64In(version, 'version')));
    check(this._c.watch(this._h, k, koffi.address(vb), OUT_VP, timeoutNs(timeout)));
    return { value: OUT.take(this._big), version: intOut(vb.readBigUInt64LE(0), this._big) };
  }

  /** watchOnce without blocking the event loop: resolves to `{ value, version }`. */
  async watchAsync(key, version = 0, options) {
    const k = this._key(key);
    const vb = Buffer.allocUnsafeSlow(8);
    vb.writeBigUInt64LE(BigInt(u64In(version, 'version')));
    const vp = koffi.address(vb);
    const out = new Slot(0);
    const f = this._c.watch;
    return waitAsync(
      {
        once: (ns) => f(this._h, k, vp, out.vp, ns),
        slice: (ns) => callAsync(f, [this._h, k, vp, out.vp, ns]),
        done: okOrThrow(() => ({ value: out.take(this._big), version: intOut(vb.readBigUInt64LE(0), this._big) })),
      },
      options,
    );
  }

  /**
   * `for await (const { value, version } of cells.watch(key))`: the element's current
   * value (from `options.since`, default 0: at once, once there is one), then every new
   * one, with the observer guarantee (every value that stayed longer than the loop body
   * took is seen, the last one always; bursts are coalesced). Waits on the thread pool
   * in slices of 50 ms, one pool thread per active iterator: for many elements prefer
   * observe(), which shares one. Ends when `options.signal` aborts, or when
   * `options.timeout` ms pass without a change.
   */
  async *watch(key, options = {}) {
    const { signal, timeout } = waitOptions(options);
    let version = options.since !== undefined ? options.since : 0;
    for (;;) {
      let got;
      try {
        got = await this.watchAsync(key, version, { signal, timeout });
      } catch (e) {
        if (signal && signal.aborted && e === signal.reason) return;
        if (e instanceof TimeoutError) return;
        throw e;
      }
      version = got.version;
      yield got;
    }
  }

  /**
   * Calls `callback(value, version)` with the element's current value (once there is
   * one) and then with every new one, under the observer guarantee of watch(). Returns
   * a function that unsubscribes. The event loop stays free, and the observers of one
   * region share one waiting call on the thread pool (see Observers), so many of them
   * never starve other async calls. The process may exit while observers remain,
   * unless `options.ref` is true. A callback that throws ends its observer (the error
   * goes to `options.onError`, default: an 'uncaughtException'-free console.error).
   */
  observe(key, callback, options = {}) {
    if (typeof callback !== 'function') throw new TypeError(`callback must be a function, not ${describe(callback)}`);
    return observersOf(this.region).add(this, this._key(key), callback, options);
  }

  /**
   * Yields the element's new version each time it changes, starting from `since`
   * (default: its version now), without blocking the event loop; ends when
   * `options.signal` aborts. (Versions only: watch() gives the values with them.)
   */
  async *changes(key, options = {}) {
    const { signal } = waitOptions(options);
    let v = options.since !== undefined ? options.since : this.version(key);
    for (;;) {
      try {
        v = await this.waitChangeAsync(key, v, { signal });
      } catch (e) {
        if (signal && signal.aborted && e === signal.reason) return;
        throw e;
      }
      yield v;
    }
  }

  /** Closes the handle (the object stays in the region). */
  close() {
    this._giveBack();
  }
}

// ---------------------------------------------------------------------------------------
// Observers
// ---------------------------------------------------------------------------------------

/** How long one shared wait of a region's observers lasts: with one object observed. */
const OBSERVE_SLICE_MS = 50;
/** ... and with several objects: the others are looked at (without waiting) this often. */
const OBSERVE_SHARED_SLICE_MS = 10;

/**
 * The observers of one region (Cells.observe). libuv runs koffi's async calls on its
 * thread pool, 4 threads by default: one pool thread blocked per observer would starve
 * every other async call (file system, DNS, other plexus calls) as soon as 4 observers
 * exist. So the observers of a region share ONE waiting call at a time:
 *
 * - one round = one wait on the pool (at most OBSERVE_SLICE_MS), then, on the event
 *   loop, a look at every observer with a non-blocking watch (timeout 0, which reads
 *   value and version together) and the callbacks of those whose element changed;
 * - what the round waits on: the single element observed; or the map's change count
 *   when every observer watches keys of one map (one wait covers them all); or, for
 *   observers on several objects, each object's element in turn, in slices of
 *   OBSERVE_SHARED_SLICE_MS (a change elsewhere is seen at the slice's end);
 * - between rounds the loop is given back through an unref'd timer, so the observers
 *   alone never keep the process alive (the pool call of the current round ends within
 *   one slice), unless one was made with { ref: true }.
 */
class Observers {
  constructor(region) {
    this.region = region;
    this.list = new Set();
    this.running = false;
    this.turn = 0;
    this.refs = 0;
    this.keepAlive = null;
  }

  add(cells, key, callback, options) {
    const entry = {
      cells,
      key,
      callback,
      version: 0,
      onError: options.onError,
      ref: !!options.ref,
      vb: Buffer.alloc(8),
      out: new Slot(0),
    };
    this.list.add(entry);
    if (entry.ref && this.refs++ === 0) this.keepAlive = setInterval(() => {}, 1 << 30);
    // The current value soon (never from inside observe() itself), then the rounds.
    setImmediate(() => {
      if (this.list.has(entry)) this.look(entry);
    });
    if (!this.running) {
      this.running = true;
      setImmediate(() => this.round());
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.remove(entry);
    };
  }

  remove(entry) {
    if (!this.list.delete(entry)) return;
    if (entry.ref && --this.refs === 0) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }

  /** A non-blocking watch of one observer; calls back when its element changed. */
  look(entry) {
    const { cells } = entry;
    if (!cells._open) {
      this.fail(entry, new PlexusError(status.E_BAD_HANDLE, 'the observed object was closed'));
      return;
    }
    entry.vb.writeBigUInt64LE(BigInt(entry.version));
    const st = cells._c.watch(cells._h, entry.key, koffi.address(entry.vb), entry.out.vp, 0);
    if (st === TIMEOUT) return;
    if (st !== OK) {
      this.fail(entry, errorFor(st));
      return;
    }
    const value = entry.out.take(cells._big);
    entry.version = Number(entry.vb.readBigUInt64LE(0));
    try {
      entry.callback(value, cells._big ? BigInt(entry.version) : entry.version);
    } catch (e) {
      this.fail(entry, e);
    }
  }

  fail(entry, err) {
    this.remove(entry);
    if (entry.onError) entry.onError(err);
    else console.error('plexus observer ended:', err);
  }

  /** The wait of one round: a Promise of the status (its result is only a hint). */
  wait() {
    const entries = [...this.list];
    const objects = new Set(entries.map((e) => e.cells));
    const slice = (objects.size === 1 ? OBSERVE_SLICE_MS : OBSERVE_SHARED_SLICE_MS) * 1e6;
    const first = entries[this.turn++ % entries.length];
    const { cells } = first;
    if (objects.size === 1 && entries.length > 1 && cells instanceof SharedMap && cells._tracked !== false) {
      const vb = Buffer.alloc(8);
      vb.writeBigUInt64LE(BigInt(cells._seenCount || 0));
      return callAsync(MAP.wait_changes, [cells._h, koffi.address(vb), slice]).then((st) => {
        if (st === OK) cells._seenCount = Number(vb.readBigUInt64LE(0));
        if (st === status.E_UNSUPPORTED) cells._tracked = false;
        return st;
      });
    }
    const vb = Buffer.alloc(8);
    vb.writeBigUInt64LE(BigInt(first.version));
    return callAsync(cells._c.wait_change, [cells._h, first.key, koffi.address(vb), slice]);
  }

  round() {
    if (this.list.size === 0) {
      this.running = false;
      return;
    }
    this.wait().then(
      () => this.afterWait(),
      () => this.afterWait(),
    );
  }

  afterWait() {
    for (const entry of [...this.list]) this.look(entry);
    // Give the loop back before the next round: only a ref'd handle (or other work)
    // keeps the process alive through it.
    setTimeout(() => this.round(), 0).unref();
  }
}

const observersByRegion = new WeakMap();

function observersOf(region) {
  let o = observersByRegion.get(region);
  if (!o) {
    o = new Observers(region);
    observersByRegion.set(region, o);
  }
  return o;
}

/**
 * An array of N elements, each a value + FULL/EMPTY tag + version; obtained from
 * region.array(name, length). Indexes are numbers (or BigInts).
 */
class SharedArray extends Cells {
  get _c() {
    return ARRAY;
  }

  _key(i) {
    return arrayIndex(i);
  }

  /** Reads the element whatever its tag (tag unchanged; atomic, never torn). */
  get(i) {
    const st = ARRAY_READ(this._h, arrayIndex(i), OUT_VP);
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /** Writes the element whatever its tag (tag unchanged). */
  set(i, value) {
    const index = arrayIndex(i);
    const vp = IN.put(value);
    let st;
    try {
      st = ARRAY_WRITE(this._h, index, vp);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
  }

  /** Atomic `+=` with JavaScript `+` semantics (UNDEFINED counts as 0 or ""); returns the old value. */
  faa(i, delta) {
    const index = arrayIndex(i);
    const vp = IN.put(delta);
    let st;
    try {
      st = ARRAY_FAA(this._h, index, vp, OUT_VP);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /** Number of elements. */
  get length() {
    check(ARRAY.len(this._h, u64Out));
    return Number(u64Out[0]);
  }

  /** The values of every element (read with get, whatever the tags). */
  *[Symbol.iterator]() {
    const n = this.length;
    for (let i = 0; i < n; i++) yield this.get(i);
  }
}

/**
 * A map from UTF-8 string keys to elements; obtained from region.map(name, capacity).
 * An absent key reads as EMPTY holding undefined; writing calls insert it.
 */
class SharedMap extends Cells {
  get _c() {
    return MAP;
  }

  _key(k) {
    return cString(k, 'key');
  }

  /**
   * The map's change count: it moves by one with every change of any key (insert,
   * write, tag change, removal). UnsupportedError for a map made by an older version.
   */
  changeCount() {
    check(MAP.change_count(this._h, u64Out));
    return intOut(u64Out[0], this._big);
  }

  /** Waits until the change count differs from `counter`; returns it. Blocks this thread. */
  waitChanges(counter, timeout) {
    const vb = Buffer.allocUnsafeSlow(8);
    vb.writeBigUInt64LE(BigInt(u64In(counter, 'counter')));
    check(MAP.wait_changes(this._h, koffi.address(vb), timeoutNs(timeout)));
    return intOut(vb.readBigUInt64LE(0), this._big);
  }

  /** waitChanges without blocking the event loop; resolves to the new count. */
  async waitChangesAsync(counter, options) {
    const vb = Buffer.allocUnsafeSlow(8);
    vb.writeBigUInt64LE(BigInt(u64In(counter, 'counter')));
    const vp = koffi.address(vb);
    const f = MAP.wait_changes;
    return waitAsync(
      {
        once: (ns) => f(this._h, vp, ns),
        slice: (ns) => callAsync(f, [this._h, vp, ns]),
        done: okOrThrow(() => intOut(vb.readBigUInt64LE(0), this._big)),
      },
      options,
    );
  }

  /**
   * The keys changed after the change count `counter`, without their values:
   * `[{ key, version, counter, removed }]` — every key present whose last change came
   * later (counter 0: every key present), and the removals since that the map still
   * records (its last N, N = the capacity within 16..1024 rounded up to a power of
   * two). OutOfRangeError when older removals were dropped: list from 0 again.
   */
  changesSince(counter = 0) {
    const since = BigInt(u64In(counter, 'counter'));
    const cursor = Buffer.alloc(8);
    const rec = Buffer.allocUnsafeSlow(MAP_CHANGE_SIZE);
    const slot = new Slot(0);
    const out = [];
    for (;;) {
      const st = MAP.next_change(this._h, since, koffi.address(cursor), koffi.address(rec));
      if (st === E_NOT_FOUND) return out;
      check(st);
      rec.copy(slot.v, 0, 0, VALUE_SIZE);
      const key = slot.take(false);
      out.push({
        key,
        version: intOut(rec.readBigUInt64LE(VALUE_SIZE), this._big),
        counter: intOut(rec.readBigUInt64LE(VALUE_SIZE + 8), this._big),
        removed: rec[VALUE_SIZE + 16] !== 0,
      });
    }
  }

  /**
   * `for await (const { counter, changes } of map.watchMap())`: the map's changes as
   * they come, without blocking the event loop: first everything since `options.since`
   * (default 0: every key present), then, each time the change count moves, what
   * changed since the last round (bursts coalesce; no change is missed; after dropped
   * removals a round lists every key present again). Ends when `options.signal`
   * aborts or `options.timeout` ms pass without a change.
   */
  async *watchMap(options = {}) {
    const { signal, timeout } = waitOptions(options);
    let since = options.since !== undefined ? options.since : 0;
    for (;;) {
      const count = this.changeCount();
      if (count !== since) {
        let changes;
        try {
          changes = this.changesSince(since);
        } catch (e) {
          if (!(e instanceof PlexusError && e.status === status.E_OUT_OF_RANGE)) throw e;
          changes = this.changesSince(0);
        }
        since = count;
        yield { counter: count, changes };
      }
      try {
        await this.waitChangesAsync(count, { signal, timeout });
      } catch (e) {
        if (signal && signal.aborted && e === signal.reason) return;
        if (e instanceof TimeoutError) return;
        throw e;
      }
    }
  }

  /** Reads the value of `key` whatever its tag (an absent key reads as undefined). */
  get(key) {
    const st = MAP_READ(this._h, cString(key, 'key'), OUT_VP);
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /** Writes the value of `key` whatever its tag (inserting the key if absent; tag unchanged). */
  set(key, value) {
    const k = cString(key, 'key');
    const vp = IN.put(value);
    let st;
    try {
      st = MAP_WRITE(this._h, k, vp);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
  }

  /** Atomic `+=` with JavaScript `+` semantics (an absent key counts as 0 or ""); returns the old value. */
  faa(key, delta) {
    const k = cString(key, 'key');
    const vp = IN.put(delta);
    let st;
    try {
      st = MAP_FAA(this._h, k, vp, OUT_VP);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /** Number of keys present (a snapshot). */
  get size() {
    check(MAP.len(this._h, u64Out));
    return Number(u64Out[0]);
  }

  /** Maximum number of keys, fixed at creation. */
  get capacity() {
    check(MAP.capacity(this._h, u64Out));
    return Number(u64Out[0]);
  }

  /** Whether `key` is present (its version is not 0). */
  has(key) {
    check(MAP.version(this._h, this._key(key), u64Out));
    return u64Out[0] !== 0 && u64Out[0] !== 0n;
  }

  /** Removes `key` (waiting while readRW readers hold it): true if it was present. */
  delete(key) {
    const st = MAP.remove(this._h, this._key(key));
    if (st === E_NOT_FOUND) return false;
    check(st);
    return true;
  }

  /** The keys (unspecified order; every key present throughout is yielded once, even while others change the map). */
  *keys() {
    const cursor = [0];
    const out = new Slot(0);
    for (;;) {
      const st = MAP.next_key(this._h, cursor, out.vp);
      if (st === E_NOT_FOUND) return;
      check(st);
      yield out.take(false);
    }
  }

  /** The values of the keys (read with get). */
  *values() {
    for (const k of this.keys()) yield this.get(k);
  }

  /** [key, value] pairs (read with get). */
  *entries() {
    for (const k of this.keys()) yield [k, this.get(k)];
  }

  [Symbol.iterator]() {
    return this.entries();
  }
}

// ---------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------

/**
 * A bounded queue of values (FIFO, or a stack); obtained from region.queue(name,
 * capacity). shutdown() ends the queue for every process; close() gives back only this
 * handle, as for every kind.
 */
class Queue extends PlexusObject {
  /** Appends `value`, waiting while full. TimeoutError, or ClosedError if the queue was shut down. */
  push(value, timeout) {
    const ns = timeoutNs(timeout);
    const vp = IN.put(value);
    let st;
    try {
      st = QUEUE_PUSH(this._h, vp, ns);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
  }

  /** Removes the oldest value (newest for a stack), waiting while empty. ClosedError once shut down and empty. */
  pop(timeout) {
    const st = QUEUE_POP(this._h, OUT_VP, timeoutNs(timeout));
    if (st !== OK) throw errorFor(st);
    return OUT.take(this._big);
  }

  /**
   * Appends the values of `values` (an array) in order with one call: the values that
   * fit go in at once (one wake-up of the consumers), then it waits for room for the rest,
   * at most `timeout` ms. In a FIFO queue the values of one batch stay together. When not
   * all went in, throws TimeoutError, ClosedError (shut down) or another PlexusError whose
   * `pushed` property says how many did (always the first ones).
   */
  pushMany(values, timeout) {
    if (!Array.isArray(values)) throw new TypeError(`pushMany takes an array of values, not ${describe(values)}`);
    const ns = timeoutNs(timeout);
    const vp = BATCH_IN.fill(values);
    let st;
    try {
      st = C.queue_push_many(this._h, vp, values.length, ns, sizeOut);
    } finally {
      BATCH_IN.done();
    }
    if (st !== OK) throw withPushed(errorFor(st), Number(sizeOut[0]));
  }

  /**
   * pushMany without blocking the event loop (`options`: a timeout in ms or { timeout,
   * signal }). The batch keeps its place in a FIFO queue while it waits for room, as with
   * pushMany: it waits in one piece on a worker thread of its own (see the comment above
   * WAIT_THREAD_CODE), not in slices. When not all went in it rejects as pushMany throws
   * (TimeoutError, ClosedError, ... with `pushed`). An abort ends the wait within about
   * 10 ms: it rejects with the signal's reason when no value went in, and with an
   * AbortError (`code` 'ABORT_ERR', `cause` the signal's reason) whose `pushed` says how
   * many did when the first ones went in (they stay in the queue).
   */
  async pushManyAsync(values, options) {
    if (!Array.isArray(values)) throw new TypeError(`pushManyAsync takes an array of values, not ${describe(values)}`);
    const { timeout, signal } = waitOptions(options);
    const ns = timeoutNs(timeout);
    if (signal && signal.aborted) throw signal.reason;
    // Nothing to wait for: on this thread (one try, as every async call makes first).
    if (ns === 0 || values.length === 0) return this.pushMany(values, 0);
    if (this._h === CLOSED_HANDLE) throw errorFor(status.E_BAD_HANDLE, 'the queue handle was closed');
    const batch = new BatchIn();
    const cancel = new CancelWord();
    let r;
    try {
      const vp = batch.fill(values);
      // fill ran user code (toJSON, getters), which may have aborted the signal.
      if (signal && signal.aborted) throw signal.reason;
      cancel.listen(signal);
      r = await runOnThread('queuePushMany', [this._h, vp, values.length, ns, cancel.countAddr, cancel.addr]);
    } finally {
      cancel.stop();
      batch.done();
    }
    if (r.st === OK) return undefined;
    const pushed = Number(cancel.count[0]);
    if (r.st === TIMEOUT && cancel.cancelled) {
      if (pushed === 0) throw signal.reason;
      const e = new Error(`aborted after ${pushed} of ${values.length} values went in`, { cause: signal.reason });
      e.name = 'AbortError';
      e.code = 'ABORT_ERR';
      throw withPushed(e, pushed);
    }
    if (r.st === TIMEOUT) throw withPushed(new TimeoutError(timeoutMessage(timeout)), pushed);
    throw withPushed(errorFor(r.st, r.message), pushed);
  }

  /**
   * Removes up to `max` values with one call and returns them (an array): waits at most
   * `timeout` ms while the queue is empty, then takes the values that are there, up to
   * `max`, without waiting for more (the oldest first; the newest first from a stack).
   * TimeoutError, or ClosedError once shut down and empty: nothing was removed.
   */
  popMany(max, timeout) {
    const out = new BatchOut(batchMax(max));
    const st = C.queue_pop_many(this._h, out.addr, max, timeoutNs(timeout), sizeOut);
    if (st !== OK) throw errorFor(st);
    return out.take(Number(sizeOut[0]), this._big);
  }

  /** popMany without blocking the event loop (`options`: a timeout in ms or { timeout, signal }). */
  async popManyAsync(max, options) {
    const out = new BatchOut(batchMax(max));
    const count = [0];
    return waitAsync(
      {
        once: (ns) => C.queue_pop_many(this._h, out.addr, max, ns, count),
        slice: (ns) => callAsync(C.queue_pop_many, [this._h, out.addr, max, ns, count]),
        done: okOrThrow(() => out.take(Number(count[0]), this._big)),
      },
      options,
    );
  }

  /** push without blocking the event loop (`options`: a timeout in ms or { timeout, signal }). */
  async pushAsync(value, options) {
    const prep = prepare(value);
    const slot = new Slot(0);
    try {
      const vp = slot.fill(prep);
      return await waitAsync(
        {
          once: (ns) => C.queue_push(this._h, vp, ns),
          slice: (ns) => callAsync(C.queue_push, [this._h, vp, ns]),
          done: okOrThrow(() => undefined),
        },
        options,
      );
    } finally {
      slot.done();
    }
  }

  /** pop without blocking the event loop. */
  async popAsync(options) {
    const out = new Slot(0);
    return waitAsync(
      {
        once: (ns) => C.queue_pop(this._h, out.vp, ns),
        slice: (ns) => callAsync(C.queue_pop, [this._h, out.vp, ns]),
        done: okOrThrow(() => out.take(this._big)),
      },
      options,
    );
  }

  /** Number of values in the queue (a snapshot). */
  get size() {
    check(C.queue_len(this._h, u64Out));
    return Number(u64Out[0]);
  }

  /** Maximum number of values, fixed at creation. */
  get capacity() {
    check(C.queue_capacity(this._h, u64Out));
    return Number(u64Out[0]);
  }

  /** Whether the queue was shut down (by any process). */
  get isShutdown() {
    check(C.queue_is_shutdown(this._h, boolOut));
    return boolOut[0];
  }

  /**
   * Ends the queue for every process: pushes fail, pops drain what is left, then fail
   * (ClosedError); every waiter wakes. Shutting down twice does nothing; the handle stays.
   * A queue stays shut down; to start it again, region.removeObject(name) and open it
   * again with its capacity (every handle of the old one, in every process, then throws
   * RemovedError, so each process learns to open it again).
   */
  shutdown() {
    check(C.queue_shutdown(this._h));
  }

  /** Gives back the handle (once; later calls do nothing); the queue and its values stay. */
  close() {
    this._giveBack();
  }

  /** Pops values (blocking) until the queue is shut down and drained. */
  *[Symbol.iterator]() {
    for (;;) {
      let v;
      try {
        v = this.pop();
      } catch (e) {
        if (e instanceof ClosedError) return;
        throw e;
      }
      yield v;
    }
  }

  /** Pops values without blocking the event loop until the queue is shut down and drained, or `options.signal` aborts. */
  async *iterate(options = {}) {
    const { signal } = waitOptions(options);
    for (;;) {
      let v;
      try {
        v = await this.popAsync({ signal });
      } catch (e) {
        if (e instanceof ClosedError) return;
        if (signal && signal.aborted && e === signal.reason) return;
        throw e;
      }
      yield v;
    }
  }

  [Symbol.asyncIterator]() {
    return this.iterate();
  }
}

// ---------------------------------------------------------------------------------------
// Buses
// ---------------------------------------------------------------------------------------

const FROM = { now: 0, oldest: 1 };

/**
 * A broadcast bus; obtained from region.bus(name, capacity). Every subscriber receives
 * every message in one order; publish never waits. shutdown() ends the bus for every
 * process; close() gives back only this handle, as for every kind.
 */
class Bus extends PlexusObject {
  /** Publishes `value`; returns its sequence number. ClosedError if the bus was shut down. */
  publish(value) {
    const vp = IN.put(value);
    let st;
    try {
      st = C.bus_publish(this._h, vp, u64Out);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
    return intOut(u64Out[0], this._big);
  }

  /**
   * Publishes the values of `values` (an array) in order as consecutive messages with one
   * call (no other publisher's message comes between them; sleeping subscribers are woken
   * once); returns the first one's sequence number (0 for an empty array). A value that
   * cannot be stored anywhere in the array throws and publishes nothing. ClosedError if
   * the bus was shut down.
   */
  publishMany(values) {
    if (!Array.isArray(values)) throw new TypeError(`publishMany takes an array of values, not ${describe(values)}`);
    const vp = BATCH_IN.fill(values);
    let st;
    try {
      st = C.bus_publish_many(this._h, vp, values.length, u64Out);
    } finally {
      BATCH_IN.done();
    }
    if (st !== OK) throw errorFor(st);
    return intOut(u64Out[0], this._big);
  }

  /**
   * A subscription from the next message (from: 'now', the default) or the oldest
   * retained ('oldest'); with `prefix`, only the messages whose topic starts with it (on
   * shared memory, publishers of other topics never wake it).
   */
  subscribe(options) {
    const from = typeof options === 'string' ? options : options && options.from !== undefined ? options.from : 'now';
    if (!Object.prototype.hasOwnProperty.call(FROM, from)) {
      throw new TypeError(`from must be 'now' or 'oldest', not ${String(from)}`);
    }
    const prefix = options && typeof options === 'object' && options.prefix !== undefined ? checkTopic(options.prefix, 'prefix') : '';
    const out = {};
    check(prefix === '' ? C.bus_subscribe(this._h, FROM[from], out) : C.bus_subscribe_topic(this._h, FROM[from], prefix, out));
    return new Subscription(this.region, 'sub', out, this.name);
  }

  // ---- events: messages with topics (MemSync's events.emit / events.on) ----

  /**
   * Publishes `value` with the topic `topic` (a named event, at most 112 bytes of UTF-8;
   * '' is a plain publish) to every process; returns its sequence number, in the bus's
   * one order. Unlike EventEmitter.emit it does not call listeners here and now: every
   * listener, in this process and others, receives it through the bus.
   */
  emit(topic, value) {
    checkTopic(topic, 'topic');
    const vp = IN.put(value);
    let st;
    try {
      st = C.bus_emit(this._h, topic, vp, u64Out);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
    return intOut(u64Out[0], this._big);
  }

  /**
   * Calls `listener(value, { topic, seq })` for every message published from now on whose
   * topic starts with `prefix` ('' for all), in the bus's order, on the event loop. The
   * listeners of a bus handle share one subscription, read by a worker thread (not the
   * libuv pool), so the event loop and other async calls stay free; by default it does
   * not keep the process alive (see ref()). Returns the bus, as EventEmitter.on.
   */
  on(prefix, listener) {
    this._events().add(checkTopic(prefix, 'prefix'), checkListener(listener), false);
    return this;
  }

  /** on() for the next matching message only. */
  once(prefix, listener) {
    this._events().add(checkTopic(prefix, 'prefix'), checkListener(listener), true);
    return this;
  }

  /** Removes the last-added registration of `listener` for `prefix` (EventEmitter.off). */
  off(prefix, listener) {
    if (this._pump) this._pump.remove(prefix, listener);
    return this;
  }

  /** Same as off(). */
  removeListener(prefix, listener) {
    return this.off(prefix, listener);
  }

  /** Removes every listener (of `prefix`, if given). */
  removeAllListeners(prefix) {
    if (this._pump) this._pump.removeAll(prefix);
    return this;
  }

  /** How many listeners `prefix` has (all prefixes when omitted). */
  listenerCount(prefix) {
    return this._pump ? this._pump.count(prefix) : 0;
  }

  /** Keeps the process alive while this bus has listeners (as timer.ref()). */
  ref() {
    this._events().setRef(true);
    return this;
  }

  /** Lets the process exit while this bus has listeners (the default). */
  unref() {
    this._events().setRef(false);
    return this;
  }

  /**
   * The messages whose topic starts with `prefix`, as { topic, value, seq }, without
   * blocking the event loop: `for await (const { topic, value } of bus.events('job.'))`.
   * Ends when the bus is shut down and drained or `options.signal` aborts; its own
   * subscription (from: 'now' by default, or options.from) is closed at the end.
   */
  async *events(prefix = '', options = {}) {
    const sub = this.subscribe({ prefix, from: options.from !== undefined ? options.from : 'now' });
    try {
      yield* sub.iterateEvents(options);
    } finally {
      sub.close();
    }
  }

  _events() {
    if (!this._pump) this._pump = new EventPump(this);
    return this._pump;
  }

  /**
   * Ends the bus for every process: publishing fails, subscribers drain, then end; waiters
   * wake. A bus stays shut down; to start it again, region.removeObject(name) and open it
   * again with its capacity (every handle and subscription of the old one, in every
   * process, then throws RemovedError, so each process learns to open it again).
   */
  shutdown() {
    check(C.bus_shutdown(this._h));
  }

  /** Whether the bus was shut down (by any process). */
  get isShutdown() {
    check(C.bus_is_shutdown(this._h, boolOut));
    return boolOut[0];
  }

  /** Number of messages retained, fixed at creation. */
  get capacity() {
    check(C.bus_capacity(this._h, u64Out));
    return Number(u64Out[0]);
  }

  /** The sequence number the next message will get (a snapshot). */
  get nextSeq() {
    check(C.bus_next_seq(this._h, u64Out));
    return intOut(u64Out[0], this._big);
  }

  /** Gives back the handle (once); the bus and the subscriptions made through it stay. */
  close() {
    if (this._pump) this._pump.removeAll();
    this._giveBack();
  }
}

/** Yields `await next({ signal })` until ClosedError or the signal aborts. */
async function* untilClosed(next, options) {
  const { signal } = waitOptions(options);
  for (;;) {
    let m;
    try {
      m = await next({ signal });
    } catch (e) {
      if (e instanceof ClosedError) return;
      if (signal && signal.aborted && e === signal.reason) return;
      throw e;
    }
    yield m;
  }
}

/** A topic or prefix: a string of at most 112 bytes of UTF-8 without NUL. */
function checkTopic(t, what) {
  if (typeof t !== 'string') throw new TypeError(`${what} must be a string, not ${describe(t)}`);
  if (!wellFormed(t)) throw new PlexusError(E_INVALID_ARGUMENT, `${what} is not valid Unicode (lone surrogate)`);
  if (t.includes('\0')) throw new PlexusError(E_INVALID_ARGUMENT, `${what} contains a NUL character`);
  return t;
}

function checkListener(f) {
  if (typeof f !== 'function') throw new TypeError(`listener must be a function, not ${describe(f)}`);
  return f;
}

/** The longest common prefix of `prefixes` ('' for none). */
function commonPrefix(prefixes) {
  if (prefixes.length === 0) return '';
  let p = prefixes[0];
  for (const q of prefixes) {
    while (!q.startsWith(p)) p = p.slice(0, -1);
  }
  // Never split a surrogate pair (the C side wants UTF-8).
  const last = p.charCodeAt(p.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) p = p.slice(0, -1);
  return p;
}

const TOPIC_CAP = 113; // PLEXUS_MAX_TOPIC_LEN + 1

/** One plexus_sub_next_event call on subscription `id`; { st, topic, value, seq }. */
function nextEventRaw(id, ns, big, slot = OUT, tb = Buffer.allocUnsafeSlow(TOPIC_CAP), nb = Buffer.allocUnsafeSlow(16)) {
  const st = C.sub_next_event(id, koffi.address(tb), TOPIC_CAP, koffi.address(nb), slot.vp, koffi.address(nb) + 8n, ns);
  if (st !== OK) return { st };
  const len = Number(nb.readBigUInt64LE(0));
  return { st, topic: tb.toString('utf8', 0, len), value: slot.take(big), seq: intOut(nb.readBigUInt64LE(8), big) };
}

/**
 * The listeners of one Bus handle, and the worker thread that reads their subscription
 * (filtered by the longest prefix common to all of them) and posts each message here.
 * A listener whose prefix the subscription does not cover makes a wider subscription
 * with a worker of its own: with `c` the bus's next sequence number at that moment, the
 * old worker delivers its messages numbered below `c` and stops (all of them are
 * published already), the new one those from `c` on, held back until the old one is
 * done; so every listener sees each message once, in the bus's order.
 */
class EventPump {
  constructor(bus) {
    this.bus = bus;
    this.listeners = [];
    /** Workers, oldest first: the first one's messages are dispatched, the others wait. */
    this.chain = [];
    this.prefix = null;
    this.keep = false;
  }

  add(prefix, fn, once) {
    this.listeners.push({ prefix, fn, once });
    if (this.chain.length === 0) this.start(FROM.now, 0n);
    else if (!prefix.startsWith(this.prefix)) this.widen();
  }

  remove(prefix, fn) {
    for (let i = this.listeners.length - 1; i >= 0; i--) {
      const l = this.listeners[i];
      if (l.prefix === prefix && l.fn === fn) {
        this.listeners.splice(i, 1);
        break;
      }
    }
    if (this.listeners.length === 0) this.stop();
  }

  removeAll(prefix) {
    this.listeners = prefix === undefined ? [] : this.listeners.filter((l) => l.prefix !== prefix);
    if (this.listeners.length === 0) this.stop();
  }

  count(prefix) {
    return prefix === undefined ? this.listeners.length : this.listeners.filter((l) => l.prefix === prefix).length;
  }

  setRef(keep) {
    this.keep = keep;
    for (const e of this.chain) keep ? e.w.ref() : e.w.unref();
  }

  /** A worker reading a new subscription `from`, delivering its messages numbered `min` or more. */
  start(from, min) {
    const prefix = commonPrefix(this.listeners.map((l) => l.prefix));
    const out = {};
    check(C.bus_subscribe_topic(this.bus._h, from, prefix, out));
    // [mode (0 run, 1 stop, 2 deliver below `stop at` then stop), stop at]
    const flag = new BigInt64Array(new SharedArrayBuffer(16));
    const { Worker } = require('node:worker_threads');
    const w = new Worker(__filename, { workerData: { plexusEventPump: { sub: out.id, big: this.bus._big, flag } } });
    const entry = { w, flag, min, buffer: [], stopped: false };
    w.on('message', (m) => this.message(entry, m));
    w.on('error', (e) => this.fail(entry, e));
    if (!this.keep) w.unref();
    this.chain.push(entry);
    this.prefix = prefix;
  }

  widen() {
    check(C.bus_next_seq(this.bus._h, u64Out));
    const c = BigInt(u64Out[0]);
    const old = this.chain[this.chain.length - 1];
    // From the oldest retained: the new subscription surely has every message from c on.
    this.start(FROM.oldest, c);
    Atomics.store(old.flag, 1, c);
    Atomics.store(old.flag, 0, 2n);
  }

  stop() {
    for (const e of this.chain) Atomics.store(e.flag, 0, 1n);
    this.chain = [];
    this.prefix = null;
  }

  message(entry, m) {
    if (!this.chain.includes(entry)) return; // stopped meanwhile
    if (m.error) {
      this.fail(entry, new PlexusError(m.error.status, m.error.message));
      return;
    }
    if (m.stopped) {
      entry.stopped = true;
      while (this.chain.length > 1 && this.chain[0].stopped) {
        this.chain.shift();
        const next = this.chain[0];
        const waiting = next.buffer;
        next.buffer = [];
        for (const x of waiting) this.dispatch(x);
      }
      return;
    }
    if (BigInt(m.seq) < entry.min) return; // the older worker delivers it
    if (entry !== this.chain[0]) entry.buffer.push(m);
    else this.dispatch(m);
  }

  dispatch(m) {
    let value = m.value;
    if (value instanceof Uint8Array && !Buffer.isBuffer(value)) value = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const info = { topic: m.topic, seq: m.seq };
    for (const l of this.listeners.slice()) {
      if (!m.topic.startsWith(l.prefix)) continue;
      if (l.once) {
        const i = this.listeners.indexOf(l);
        if (i >= 0) this.listeners.splice(i, 1);
      }
      l.fn.call(this.bus, value, info);
    }
    if (this.listeners.length === 0) this.stop();
  }

  fail(entry, e) {
    if (!this.chain.includes(entry)) return;
    this.stop();
    // As an EventEmitter without an 'error' listener: an uncaught exception.
    process.nextTick(() => {
      throw e;
    });
  }
}

/**
 * The body of an event pump worker: reads subscription `sub` in slices and posts each
 * message; `flag` 1 stops it, 2 drains what is there first. It closes the subscription.
 */
function runEventPump({ sub, big, flag }) {
  const { parentPort } = require('node:worker_threads');
  const slot = new Slot(0);
  const tb = Buffer.allocUnsafeSlow(TOPIC_CAP);
  const nb = Buffer.allocUnsafeSlow(16);
  try {
    for (;;) {
      let mode = Atomics.load(flag, 0);
      if (mode === 1n) break;
      const r = nextEventRaw(sub, mode === 2n ? 0 : 200e6, big, slot, tb, nb);
      mode = Atomics.load(flag, 0); // it may have changed during the wait
      if (r.st === OK) {
        if (mode === 1n || (mode === 2n && BigInt(r.seq) >= Atomics.load(flag, 1))) break;
        parentPort.postMessage({ topic: r.topic, value: r.value, seq: r.seq });
        continue;
      }
      if (r.st === TIMEOUT) {
        if (mode === 2n) {
          // Everything numbered below `stop at` was published before it was read: a
          // try that finds nothing means all of it was delivered.
          const again = nextEventRaw(sub, 0, big, slot, tb, nb);
          if (again.st === OK && BigInt(again.seq) < Atomics.load(flag, 1)) {
            parentPort.postMessage({ topic: again.topic, value: again.value, seq: again.seq });
            continue;
          }
          break;
        }
        continue;
      }
      if (r.st === CLOSED || r.st === E_BAD_HANDLE) break; // shut down, or its region closed
      parentPort.postMessage({ error: { status: r.st, message: C.last_error() } });
      break;
    }
  } finally {
    C.sub_close(sub);
    parentPort.postMessage({ stopped: true });
  }
}

/**
 * A subscription: a private cursor on a bus. next() returns { value, seq }; a seq more
 * than one above the previous means this subscriber fell behind and missed messages.
 */
class Subscription extends PlexusObject {
  /** The next message, waiting for one. ClosedError once the bus is shut down and drained. */
  next(timeout) {
    const sb = Buffer.allocUnsafeSlow(8);
    check(C.sub_next(this._h, OUT.vp, koffi.address(sb), timeoutNs(timeout)));
    return { value: OUT.take(this._big), seq: intOut(sb.readBigUInt64LE(0), this._big) };
  }

  /** next without blocking the event loop. */
  async nextAsync(options) {
    const out = new Slot(0);
    const sb = Buffer.allocUnsafeSlow(8);
    const sp = koffi.address(sb);
    return waitAsync(
      {
        once: (ns) => C.sub_next(this._h, out.vp, sp, ns),
        slice: (ns) => callAsync(C.sub_next, [this._h, out.vp, sp, ns]),
        done: okOrThrow(() => ({ value: out.take(this._big), seq: intOut(sb.readBigUInt64LE(0), this._big) })),
      },
      options,
    );
  }

  /**
   * The next message with its topic, { topic, value, seq } ('' for a plain message),
   * waiting for one. ClosedError once the bus is shut down and drained.
   */
  nextEvent(timeout) {
    const r = nextEventRaw(this._h, timeoutNs(timeout), this._big);
    if (r.st !== OK) throw errorFor(r.st);
    return { topic: r.topic, value: r.value, seq: r.seq };
  }

  /** nextEvent without blocking the event loop. */
  async nextEventAsync(options) {
    const out = new Slot(0);
    const tb = Buffer.allocUnsafeSlow(TOPIC_CAP);
    const nb = Buffer.allocUnsafeSlow(16);
    const args = (ns) => [this._h, koffi.address(tb), TOPIC_CAP, koffi.address(nb), out.vp, koffi.address(nb) + 8n, ns];
    return waitAsync(
      {
        once: (ns) => C.sub_next_event(...args(ns)),
        slice: (ns) => callAsync(C.sub_next_event, args(ns)),
        done: okOrThrow(() => ({
          topic: tb.toString('utf8', 0, Number(nb.readBigUInt64LE(0))),
          value: out.take(this._big),
          seq: intOut(nb.readBigUInt64LE(8), this._big),
        })),
      },
      options,
    );
  }

  /** { topic, value, seq } without blocking the event loop, until shut down and drained or `options.signal` aborts. */
  iterateEvents(options = {}) {
    return untilClosed((o) => this.nextEventAsync(o), options);
  }

  /** Gives back the subscription's handle (once); the bus is untouched. */
  close() {
    this._giveBack();
  }

  /** Messages (blocking) until the bus is shut down and drained. */
  *[Symbol.iterator]() {
    for (;;) {
      let m;
      try {
        m = this.next();
      } catch (e) {
        if (e instanceof ClosedError) return;
        throw e;
      }
      yield m;
    }
  }

  /** Messages without blocking the event loop, until the bus is shut down and drained or `options.signal` aborts. */
  iterate(options = {}) {
    return untilClosed((o) => this.nextAsync(o), options);
  }

  [Symbol.asyncIterator]() {
    return this.iterate();
  }
}

// ---------------------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------------------

/** Async lockers of this thread, by mutex handle id: they take turns. */
const localMutexTurns = new Map();

/**
 * A robust process-shared mutex; obtained from region.mutex(name). It belongs to the
 * thread that locked it (the event loop's thread, for lockAsync too).
 */
class Mutex extends PlexusObject {
  /**
   * Locks, waiting while another thread holds it (blocks the event loop; see
   * lockAsync). Returns true if the previous holder died holding it (you hold it now;
   * repair the data it protects), false otherwise. TimeoutError after `timeout` ms.
   */
  lock(timeout) {
    const st = C.mutex_lock(this._h, timeoutNs(timeout));
    if (st === OWNER_DEAD) return true;
    check(st);
    return false;
  }

  /** Locks if free now: true if locked (also when taken over from a dead holder), false if held. */
  tryLock() {
    const st = C.mutex_lock(this._h, 0);
    if (st === TIMEOUT) return false;
    if (st === OWNER_DEAD) return true;
    check(st);
    return true;
  }

  /**
   * lock without blocking the event loop; resolves to true if the previous holder died.
   * Async lockers of this process take turns; the wait for other processes polls with
   * try-lock, backing off from 1 to 10 ms. `options`: a timeout in ms or { timeout, signal }.
   */
  async lockAsync(options) {
    const { timeout, signal } = waitOptions(options);
    const total = timeoutNs(timeout);
    const deadline = total === FOREVER ? Infinity : performance.now() + total / 1e6;
    if (signal && signal.aborted) throw signal.reason;
    const key = String(this._h);
    let turn = localMutexTurns.get(key);
    if (!turn) {
      turn = { busy: false, waiters: [] };
      localMutexTurns.set(key, turn);
    }
    while (turn.busy) {
      await new Promise((resolve, reject) => {
        let timer;
        const onAbort = () => leave(signal.reason);
        const cleanup = () => {
          clearTimeout(timer);
          if (signal) signal.removeEventListener('abort', onAbort);
        };
        const waiter = {
          resolve: () => {
            cleanup();
            resolve();
          },
        };
        const leave = (err) => {
          cleanup();
          const i = turn.waiters.indexOf(waiter);
          if (i >= 0) turn.waiters.splice(i, 1);
          reject(err);
        };
        turn.waiters.push(waiter);
        if (deadline !== Infinity) {
          timer = setTimeout(() => leave(new TimeoutError(timeoutMessage(timeout))), Math.max(0, deadline - performance.now()));
        }
        if (signal) signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    turn.busy = true;
    try {
      for (let pause = 1; ; pause = Math.min(pause * 2, 10)) {
        const st = C.mutex_lock(this._h, 0);
        if (st === OK) return false;
        if (st === OWNER_DEAD) return true;
        if (st !== TIMEOUT) throw errorFor(st);
        if (signal && signal.aborted) throw signal.reason;
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw new TimeoutError(timeoutMessage(timeout));
        await sleep(Math.min(pause, remaining));
      }
    } catch (e) {
      this._nextTurn();
      throw e;
    }
  }

  _nextTurn() {
    const key = String(this._h);
    const turn = localMutexTurns.get(key);
    if (!turn) return;
    turn.busy = false;
    const next = turn.waiters.shift();
    if (next) next.resolve();
    else localMutexTurns.delete(key);
  }

  /** Unlocks; the calling thread must hold it. */
  unlock() {
    check(C.mutex_unlock(this._h));
    this._nextTurn();
  }

  /** Whether anyone holds it (a snapshot). */
  get locked() {
    check(C.mutex_is_locked(this._h, boolOut));
    return boolOut[0];
  }

  /** Runs `fn(ownerDied)` holding the lock (blocking to take it) and unlocks after; returns its result. */
  withLock(fn, timeout) {
    const ownerDied = this.lock(timeout);
    try {
      return fn(ownerDied);
    } finally {
      this.unlock();
    }
  }

  /** Awaits `fn(ownerDied)` holding the lock taken with lockAsync, and unlocks after. */
  async withLockAsync(fn, options) {
    const ownerDied = await this.lockAsync(options);
    try {
      return await fn(ownerDied);
    } finally {
      this.unlock();
    }
  }

  /** Gives back the handle (does not unlock). */
  close() {
    this._giveBack();
  }
}

/** A reusable barrier for `parties` parties; obtained from region.barrier(name, parties). */
class Barrier extends PlexusObject {
  /**
   * Arrives and waits until all parties arrived in this round. Returns true for exactly
   * one party per round (the last to arrive). TimeoutError after `timeout` ms (the
   * arrival is withdrawn).
   */
  wait(timeout) {
    const lb = Buffer.allocUnsafeSlow(8).fill(0);
    check(C.barrier_wait_last(this._h, timeoutNs(timeout), koffi.address(lb)));
    return lb[0] !== 0;
  }

  /** wait without blocking the event loop. */
  async waitAsync(options) {
    const lb = Buffer.allocUnsafeSlow(8).fill(0);
    const lp = koffi.address(lb);
    return waitAsync(
      {
        once: (ns) => C.barrier_wait_last(this._h, ns, lp),
        slice: (ns) => callAsync(C.barrier_wait_last, [this._h, ns, lp]),
        done: okOrThrow(() => lb[0] !== 0),
      },
      options,
    );
  }

  /** The number of parties, fixed at creation. */
  get parties() {
    check(C.barrier_parties(this._h, u32Out));
    return u32Out[0];
  }

  /** Gives back the handle. */
  close() {
    this._giveBack();
  }
}

/**
 * A counting semaphore whose permits belong to the region handle (process) that took
 * them and come back when it dies; obtained from region.semaphore(name, permits).
 */
class Semaphore extends PlexusObject {
  /** Takes a permit, waiting while none is free. TimeoutError after `timeout` ms. */
  acquire(timeout) {
    check(C.semaphore_acquire(this._h, timeoutNs(timeout)));
  }

  /** Takes a permit if one is free now: true if taken. */
  tryAcquire() {
    const st = C.semaphore_acquire(this._h, 0);
    if (st === TIMEOUT) return false;
    check(st);
    return true;
  }

  /** acquire without blocking the event loop. */
  async acquireAsync(options) {
    return waitAsync(
      {
        once: (ns) => C.semaphore_acquire(this._h, ns),
        slice: (ns) => callAsync(C.semaphore_acquire, [this._h, ns]),
        done: okOrThrow(() => undefined),
      },
      options,
    );
  }

  /** Gives back a permit this region handle holds. */
  release() {
    check(C.semaphore_release(this._h));
  }

  /** The number of permits, fixed at creation. */
  get permits() {
    check(C.semaphore_permits(this._h, u32Out));
    return u32Out[0];
  }

  /** Permits free now (a snapshot). */
  get available() {
    check(C.semaphore_available(this._h, u32Out));
    return u32Out[0];
  }

  /** Permits this region handle holds. */
  get held() {
    check(C.semaphore_held(this._h, u32Out));
    return u32Out[0];
  }

  /** Gives back the handle (permits held stay held by the region handle). */
  close() {
    this._giveBack();
  }
}


// ---------------------------------------------------------------------------------------
// Typed arrays
// ---------------------------------------------------------------------------------------

const DTYPES = ['i8', 'u8', 'i16', 'u16', 'i32', 'u32', 'i64', 'u64', 'f32', 'f64'];
const VIEWS = [Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array,
  BigInt64Array, BigUint64Array, Float32Array, Float64Array];
const dtypeOut = [0];
const ptrOut = [null];
const i64Out = [0];

/**
 * A typed array: numbers of one dtype in shared memory, seen in place. `.array` is a
 * JavaScript TypedArray (Float64Array for 'f64', BigInt64Array for 'i64', ...) over the
 * shared memory, without a copy; blocks hand data from producers to consumers:
 * `withWriteBlock(i, (view) => ...)` waits until block i is EMPTY and leaves it FULL,
 * `withReadBlock(i, (view) => ...)` waits until it is FULL and leaves it EMPTY. A
 * writer that dies inside its block leaves it EMPTY, a reader leaves it FULL.
 *
 * Views stay valid while this object and its Region are open: do not use one after
 * close() (the memory may be unmapped; reading it then can crash the process). A remote
 * region has no shared memory: `.array` and the block views throw PLEXUS_E_UNSUPPORTED
 * there, while read/write, readBlock/writeBlock (copies) and the atomics work.
 */
class SharedTypedArray extends PlexusObject {
  constructor(region, kind, handle, name) {
    super(region, kind, handle, name);
    const len = [0];
    const bl = [0];
    const nb = [0];
    check(C.tarray_shape(this._h, dtypeOut, len, bl, nb));
    /** The element type ('f64', ...). */
    this.dtype = DTYPES[dtypeOut[0] - 1];
    /** The number of elements. */
    this.length = Number(len[0]);
    /** Elements per block (the last block may be shorter). */
    this.blockLen = Number(bl[0]);
    /** The number of blocks. */
    this.blocks = Number(nb[0]);
    this._View = VIEWS[dtypeOut[0] - 1];
    this._array = null;
  }

  _view(ptr, count) {
    if (count === 0) return new this._View(0);
    return new this._View(koffi.view(ptr, count * this._View.BYTES_PER_ELEMENT));
  }

  _blockCount(block) {
    const first = block * this.blockLen;
    return Math.max(0, Math.min(this.blockLen, this.length - first));
  }

  /** The whole array in place (a TypedArray of the dtype over the shared memory). */
  get array() {
    if (this._array === null || this._h === CLOSED_HANDLE) {
      check(C.tarray_data(this._h, ptrOut, u64Out));
      this._array = this._view(ptrOut[0], Number(u64Out[0]));
    }
    return this._array;
  }

  /** The same as `.array`. */
  data() {
    return this.array;
  }

  /** Waits (up to `timeout` ms) until `block` is EMPTY and holds it for writing: a view of it. */
  beginWrite(block, timeout) {
    check(C.tarray_begin_write(this._h, u64In(block, 'block'), timeoutNs(timeout), ptrOut));
    return this._view(ptrOut[0], this._blockCount(Number(block)));
  }

  /** Leaves `block` (written by this process) FULL. */
  endWrite(block) {
    check(C.tarray_end_write(this._h, u64In(block, 'block')));
  }

  /** Waits until `block` is FULL and holds it for reading: a view of it. */
  beginRead(block, timeout) {
    check(C.tarray_begin_read(this._h, u64In(block, 'block'), timeoutNs(timeout), ptrOut));
    return this._view(ptrOut[0], this._blockCount(Number(block)));
  }

  /** Leaves `block` (read by this process) EMPTY. */
  endRead(block) {
    check(C.tarray_end_read(this._h, u64In(block, 'block')));
  }

  /** Runs fn(view) on `block` held for writing; FULL afterwards (also when fn throws). */
  withWriteBlock(block, fn, timeout) {
    const view = this.beginWrite(block, timeout);
    try {
      return fn(view);
    } finally {
      this.endWrite(block);
    }
  }

  /** Runs fn(view) on `block` held for reading; EMPTY afterwards. */
  withReadBlock(block, fn, timeout) {
    const view = this.beginRead(block, timeout);
    try {
      return fn(view);
    } finally {
      this.endRead(block);
    }
  }

  async _beginAsync(block, write, options) {
    const b = u64In(block, 'block');
    const f = write ? C.tarray_begin_write : C.tarray_begin_read;
    const out = [null];
    await waitAsync(
      {
        once: (ns) => f(this._h, b, ns, out),
        slice: (ns) => callAsync(f, [this._h, b, ns, out]),
        done: okOrThrow(() => undefined),
      },
      options,
    );
    return this._view(out[0], this._blockCount(Number(block)));
  }

  /** withWriteBlock without blocking the event loop (`options`: { timeout, signal }). */
  async withWriteBlockAsync(block, fn, options) {
    const view = await this._beginAsync(block, true, options);
    try {
      return await fn(view);
    } finally {
      this.endWrite(block);
    }
  }

  /** withReadBlock without blocking the event loop. */
  async withReadBlockAsync(block, fn, options) {
    const view = await this._beginAsync(block, false, options);
    try {
      return await fn(view);
    } finally {
      this.endRead(block);
    }
  }

  /** Whether `block` is FULL now (being read counts as FULL). */
  isFull(block) {
    check(C.tarray_is_full(this._h, u64In(block, 'block'), boolOut));
    return boolOut[0];
  }

  /** A copy of `count` elements from `first` (a new TypedArray; every backend). */
  read(first = 0, count = this.length - first) {
    const out = new this._View(count);
    check(C.tarray_read(this._h, u64In(first, 'first'), u64In(count, 'count'), out));
    return out;
  }

  /** Copies `values` (a TypedArray of the dtype, or an array of numbers) to `first ..`. */
  write(first, values) {
    const v = values instanceof this._View ? values : this._View.from(values);
    check(C.tarray_write(this._h, u64In(first, 'first'), v.length, v));
  }

  /** Waits until `block` is FULL, copies it out and leaves it EMPTY (every backend). */
  readBlock(block, timeout) {
    const out = new this._View(this._blockCount(Number(block)));
    check(C.tarray_read_block(this._h, u64In(block, 'block'), timeoutNs(timeout), out));
    return out;
  }

  /** Waits until `block` is EMPTY, copies `values` into it and leaves it FULL. */
  writeBlock(block, values, timeout) {
    const v = values instanceof this._View ? values : this._View.from(values);
    if (v.length !== this._blockCount(Number(block))) {
      throw new RangeError(`block ${block} holds ${this._blockCount(Number(block))} elements, not ${v.length}`);
    }
    check(C.tarray_write_block(this._h, u64In(block, 'block'), timeoutNs(timeout), v));
  }

  /** readBlock without blocking the event loop (`options`: { timeout, signal }); a new TypedArray. */
  async readBlockAsync(block, options) {
    const b = u64In(block, 'block');
    const out = new this._View(this._blockCount(Number(block)));
    const addr = koffi.address(out); // the call copies into `out`, kept alive by this frame
    await waitAsync(
      {
        once: (ns) => C.tarray_read_block(this._h, b, ns, addr),
        slice: (ns) => callAsync(C.tarray_read_block, [this._h, b, ns, addr]),
        done: okOrThrow(() => undefined),
      },
      options,
    );
    return out;
  }

  /** writeBlock without blocking the event loop (`options`: { timeout, signal }). */
  async writeBlockAsync(block, values, options) {
    const b = u64In(block, 'block');
    const v = this._View.from(values); // a copy: the caller may change `values` meanwhile
    if (v.length !== this._blockCount(Number(block))) {
      throw new RangeError(`block ${block} holds ${this._blockCount(Number(block))} elements, not ${v.length}`);
    }
    const addr = koffi.address(v);
    await waitAsync(
      {
        once: (ns) => C.tarray_write_block(this._h, b, ns, addr),
        slice: (ns) => callAsync(C.tarray_write_block, [this._h, b, ns, addr]),
        done: okOrThrow(() => undefined),
      },
      options,
    );
  }

  _int(v) {
    if (this.dtype === 'u64') return BigInt.asUintN(64, BigInt(v));
    if (this.dtype === 'i64') return BigInt.asIntN(64, BigInt(v));
    return Number(v);
  }

  _arg(v, what) {
    if (typeof v === 'bigint') {
      if (this.dtype === 'u64' && v >= 0n && v <= MAX_U64) return BigInt.asIntN(64, v);
      return v;
    }
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    throw new TypeError(`${what} must be an integer (number or BigInt), not ${describe(v)}`);
  }

  /** Atomically reads element `index` (32- and 64-bit integer arrays; 64-bit: a BigInt). */
  load(index) {
    check(C.tarray_load(this._h, u64In(index, 'index'), i64Out));
    return this._int(i64Out[0]);
  }

  /** Atomically stores `value`. */
  store(index, value) {
    check(C.tarray_store(this._h, u64In(index, 'index'), this._arg(value, 'value')));
  }

  /** Atomically adds `delta` (wrapping); the value before. */
  faa(index, delta) {
    check(C.tarray_faa(this._h, u64In(index, 'index'), this._arg(delta, 'delta'), i64Out));
    return this._int(i64Out[0]);
  }

  /** Stores `desired` if the element equals `expected`; the value before. */
  cas(index, expected, desired) {
    check(C.tarray_cas(this._h, u64In(index, 'index'), this._arg(expected, 'expected'), this._arg(desired, 'desired'), i64Out));
    return this._int(i64Out[0]);
  }

  /**
   * Sleeps while element `index` equals `expected` (Atomics.wait across processes): 'ok'
   * when a notify found it changed (or it differed), 'timed-out' after `timeout` ms.
   */
  wait(index, expected, timeout) {
    const st = C.tarray_wait(this._h, u64In(index, 'index'), this._arg(expected, 'expected'), timeoutNs(timeout));
    if (st === TIMEOUT) return 'timed-out';
    check(st);
    return 'ok';
  }

  /** wait without blocking the event loop (`options`: { timeout, signal }): 'ok' or 'timed-out'. */
  async waitAsync(index, expected, options) {
    const i = u64In(index, 'index');
    const e = this._arg(expected, 'expected');
    try {
      await waitAsync(
        {
          once: (ns) => C.tarray_wait(this._h, i, e, ns),
          slice: (ns) => callAsync(C.tarray_wait, [this._h, i, e, ns]),
          done: okOrThrow(() => undefined),
        },
        options,
      );
      return 'ok';
    } catch (err) {
      if (err instanceof TimeoutError) return 'timed-out';
      throw err;
    }
  }

  /** Wakes up to `count` waiters on element `index` (default: all); how many it woke. */
  notify(index, count = 0xffffffff) {
    check(C.tarray_notify(this._h, u64In(index, 'index'), count, u32Out));
    return u32Out[0];
  }

  /** Gives back the handle (blocks held stay held by this process). */
  close() {
    this._array = null;
    this._giveBack();
  }
}

// ---------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------

const E_SERVICE = 116;
DESCRIPTIONS[OWNER_DEAD] = 'the server that took the request died before replying (the request is gone: call again to retry it)';
DESCRIPTIONS[E_SERVICE] = 'the service handler replied with an error';

/**
 * The service's handler replied with an error (replyError, or a handler that threw):
 * PLEXUS_E_SERVICE. `handlerMessage` is the handler's message, exactly.
 */
class ServiceError extends PlexusError {
  constructor(message) {
    super(E_SERVICE, message);
    this.name = 'ServiceError';
    this.handlerMessage = message;
  }
}

/**
 * The process that took a service request died before replying: PLEXUS_OWNER_DEAD. The
 * request is gone; call again to retry it.
 */
class OwnerDeadError extends PlexusError {
  constructor(message) {
    super(OWNER_DEAD, message);
    this.name = 'OwnerDeadError';
  }
}

ERROR_CLASSES[E_SERVICE] = ServiceError;

/** The error of a failed call: the library's message, but its OWNER_DEAD text speaks of locks. */
function callError(st, message) {
  if (st === OWNER_DEAD) return new OwnerDeadError(DESCRIPTIONS[OWNER_DEAD]);
  return errorFor(st, message);
}

/*
 * Why callAsync and pushManyAsync run on threads of their own (worker_threads), not on
 * libuv's pool.
 *
 * Every other async wait here runs in slices of at most 50 ms on libuv's pool (4 threads
 * by default), so no wait holds a pool thread for long. Two waits cannot be sliced: a
 * service call that ends (at its timeout) withdraws its request, and a server's reply to
 * it is discarded, so a call made in slices would withdraw and place the request again
 * every 50 ms, and a handler slower than a slice would never be heard; and a batch push
 * keeps its place in the queue only while one call waits, so a batch pushed again in
 * slices would let other producers' values in between its slices. So these wait in one
 * piece, and a wait in one piece may last its whole timeout (or forever): on the pool,
 * four of them would stop every other async call of the process (and Node's own fs and
 * dns work).
 *
 * Instead each one runs its C `_cancellable` call (plexus_service_call_cancellable,
 * plexus_queue_push_many_cancellable) on a worker thread of its own (kept for reuse: up
 * to WAIT_THREADS_IDLE idle ones), with its values in memory of this thread (outside
 * V8's heap: stable addresses) and a cancel word in a SharedArrayBuffer. An AbortSignal
 * stores 1 in the word; the library sees it within 10 ms and ends the wait exactly as a
 * timeout does. The worker also reads plexus_last_error on its own thread, so a
 * handler's message reaches the caller.
 */
const WAIT_THREAD_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const koffi = require(workerData.koffi);
const lib = koffi.load(workerData.library);
const calls = {
  serviceCall: lib.func('plexus_service_call_cancellable', 'int', ['uint64_t', 'void *', 'void *', 'int64_t', 'void *']),
  queuePushMany: lib.func('plexus_queue_push_many_cancellable', 'int', ['uint64_t', 'void *', 'size_t', 'int64_t', 'void *', 'void *']),
};
const lastError = lib.func('plexus_last_error', 'const char *', []);
parentPort.on('message', (m) => {
  const st = calls[m.fn](...m.args);
  parentPort.postMessage({ st, message: st === 0 ? '' : lastError() });
});
`;
const WAIT_THREADS_IDLE = 4;
const idleWaitThreads = [];

function waitThread() {
  const idle = idleWaitThreads.pop();
  if (idle) {
    idle.ref();
    return idle;
  }
  const { Worker } = require('node:worker_threads');
  return new Worker(WAIT_THREAD_CODE, {
    eval: true,
    workerData: { koffi: require.resolve('koffi'), library: libraryPath },
  });
}

function waitThreadDone(w) {
  if (idleWaitThreads.length >= WAIT_THREADS_IDLE) {
    w.terminate();
    return;
  }
  w.unref(); // an idle worker does not keep the process alive
  idleWaitThreads.push(w);
}

/** Runs the C call `fn` (a key of `calls` in WAIT_THREAD_CODE) on a wait thread: resolves to { st, message }. */
function runOnThread(fn, args) {
  const w = waitThread();
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      w.removeListener('error', onError);
      waitThreadDone(w);
      resolve(m);
    };
    const onError = (e) => {
      w.removeListener('message', onMessage);
      reject(e);
    };
    w.once('message', onMessage);
    w.once('error', onError);
    w.postMessage({ fn, args });
  });
}

/**
 * A cancel word for a `_cancellable` call (a uint32_t in a SharedArrayBuffer, which the
 * wait thread's C call reads) and a size_t beside it for a count the call reports.
 * `listen(signal)` makes an abort store 1 in the word; `stop()` ends that.
 */
class CancelWord {
  constructor() {
    this.buf = Buffer.from(new SharedArrayBuffer(16));
    this.word = new Int32Array(this.buf.buffer, 0, 1);
    this.count = new BigUint64Array(this.buf.buffer, 8, 1);
    this.addr = koffi.address(this.buf);
    this.countAddr = this.addr + 8n;
    this.signal = undefined;
    this.onAbort = () => Atomics.store(this.word, 0, 1);
  }

  listen(signal) {
    if (!signal) return;
    this.signal = signal;
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  stop() {
    if (this.signal) this.signal.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
  }

  /** Whether the word was set (the call's TIMEOUT was the abort). */
  get cancelled() {
    return Atomics.load(this.word, 0) !== 0;
  }
}

/** A request taken with next()/nextAsync(): its value, and the calls that answer it (one of them, once). */
class ServiceRequest {
  constructor(service, id, value) {
    /** The Service it was taken from. */
    this.service = service;
    /** The request id (a BigInt; C's plexus_request). */
    this.id = id;
    /** The caller's request value. */
    this.value = value;
  }

  /** Answers with `response`: the caller's call returns it. A second answer throws PLEXUS_E_INVALID_ARGUMENT. */
  reply(response) {
    this.service.reply(this.id, response);
  }

  /** Answers with an error: the caller's call throws ServiceError whose handlerMessage is `message`. */
  replyError(message) {
    this.service.replyError(this.id, message);
  }
}

/** The message a thrown value becomes in an error reply (NULs and lone surrogates replaced: a C string of UTF-8). */
function messageOf(e) {
  const m = e instanceof Error ? e.message || e.name : String(e);
  const clean = m.replace(/\0/g, '\\0');
  return typeof clean.toWellFormed === 'function' ? clean.toWellFormed() : clean.replace(LONE_SURROGATE_G, '\uFFFD');
}
const LONE_SURROGATE_G = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * A request/response service; obtained from region.service(name, capacity). Callers
 * call() / callAsync(); servers take requests with next() / nextAsync() and answer them,
 * or run serve(handler). close() gives back this handle only.
 */
class Service extends PlexusObject {
  /**
   * Sends `request` and waits for the reply (blocking this thread; callAsync does not),
   * at most `timeout` ms for room and for the reply together. Returns the reply; throws
   * ServiceError (the handler failed), OwnerDeadError (the server died holding the
   * request), TimeoutError (no reply in time: the request is withdrawn, a later reply
   * discarded).
   */
  call(request, timeout) {
    const ns = timeoutNs(timeout);
    const vp = IN.put(request);
    let st;
    try {
      st = C.service_call(this._h, vp, OUT_VP, ns);
    } finally {
      release(IN);
    }
    if (st !== OK) throw callError(st);
    return OUT.take(this._big);
  }

  /**
   * call without blocking the event loop (`options`: a timeout in ms or { timeout,
   * signal }). The call waits on a worker thread of its own (see the comment above
   * WAIT_THREAD_CODE); an abort withdraws the request (within about 10 ms) and rejects
   * with the signal's reason.
   */
  async callAsync(request, options) {
    const { timeout, signal } = waitOptions(options);
    const ns = timeoutNs(timeout);
    if (signal && signal.aborted) throw signal.reason;
    if (this._h === CLOSED_HANDLE) throw errorFor(status.E_BAD_HANDLE, 'the service handle was closed');
    const prep = prepare(request);
    const req = new Slot(0);
    const resp = new Slot(0);
    const cancel = new CancelWord();
    cancel.listen(signal);
    let r;
    try {
      const vp = req.fill(prep);
      r = await runOnThread('serviceCall', [this._h, vp, resp.vp, ns, cancel.addr]);
    } finally {
      cancel.stop();
      req.done();
    }
    if (r.st === OK) return resp.take(this._big);
    if (r.st === TIMEOUT && cancel.cancelled) throw signal.reason;
    if (r.st === TIMEOUT) throw new TimeoutError(timeoutMessage(timeout));
    throw callError(r.st, r.message);
  }

  /** Takes the oldest pending request (a ServiceRequest), waiting at most `timeout` ms. TimeoutError: none came (nothing taken). */
  next(timeout) {
    const st = C.service_next(this._h, NEXT_ID.addr, OUT_VP, timeoutNs(timeout));
    if (st !== OK) throw errorFor(st);
    return new ServiceRequest(this, NEXT_ID.buf.readBigUInt64LE(0), OUT.take(this._big));
  }

  /**
   * next without blocking the event loop: it waits in slices of at most 50 ms on libuv's
   * pool, as the other async waits do (safe here: next takes nothing until it returns a
   * request). An abort rejects with the signal's reason; nothing was taken.
   */
  async nextAsync(options) {
    const out = new Slot(0);
    const id = new RequestIdOut();
    return waitAsync(
      {
        once: (ns) => C.service_next(this._h, id.addr, out.vp, ns),
        slice: (ns) => callAsync(C.service_next, [this._h, id.addr, out.vp, ns]),
        done: okOrThrow(() => new ServiceRequest(this, id.buf.readBigUInt64LE(0), out.take(this._big))),
      },
      options,
    );
  }

  /** Answers request `id` (from a ServiceRequest) with `response`. */
  reply(id, response) {
    const vp = IN.put(response);
    let st;
    try {
      st = C.service_reply(this._h, u64In(id, 'request id'), vp);
    } finally {
      release(IN);
    }
    if (st !== OK) throw errorFor(st);
  }

  /** Answers request `id` with an error: its caller's call throws ServiceError with `message`. */
  replyError(id, message) {
    const m = String(message);
    check(C.service_reply_error(this._h, u64In(id, 'request id'), cString(m, 'message')));
  }

  /**
   * Answers requests with `handler(value, request)` (a function or an async function)
   * until stopped, without blocking the event loop; a handler that throws (or rejects)
   * makes an error reply with its message, and the loop goes on. Returns a `stop`
   * function: `stop()` ends the loop (requests being handled are answered first) and
   * returns a Promise of the number of requests answered, rejected with the error that
   * ended the loop early, if one did (RemovedError, ...; `stop.finished` is the same
   * Promise). Options: `concurrency` (requests handled at once, default 1), `signal`
   * (an AbortSignal that stops it too).
   */
  serve(handler, options = {}) {
    if (typeof handler !== 'function') throw new TypeError(`serve takes a handler function, not ${describe(handler)}`);
    const { concurrency = 1, signal } = options;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
      throw new RangeError(`concurrency must be an integer from 1 to 256, not ${describe(concurrency)}`);
    }
    const stopper = new AbortController();
    if (signal) {
      if (signal.aborted) stopper.abort();
      else signal.addEventListener('abort', () => stopper.abort(), { once: true });
    }
    let served = 0;
    const loop = async () => {
      while (!stopper.signal.aborted) {
        let req;
        try {
          req = await this.nextAsync({ signal: stopper.signal });
        } catch (e) {
          if (stopper.signal.aborted) return;
          stopper.abort(); // the service failed: end the other loops too
          throw e;
        }
        await answer(req, handler);
        served += 1;
      }
    };
    const finished = Promise.all(Array.from({ length: concurrency }, loop)).then(() => served);
    finished.catch(() => {}); // reported by stop() and stop.finished
    const stop = () => {
      stopper.abort();
      return finished;
    };
    stop.finished = finished;
    return stop;
  }

  /** Most requests in the service at once (fixed at creation). */
  get capacity() {
    check(C.service_capacity(this._h, u64Out));
    return Number(u64Out[0]);
  }

  /** Requests in the service now (placed and not yet collected by their callers), a snapshot. */
  get pending() {
    check(C.service_pending(this._h, u64Out));
    return Number(u64Out[0]);
  }

  /** Gives back the handle; the service and its pending requests stay. */
  close() {
    this._giveBack();
  }
}

/** Answers `req` with the handler's result, or with an error reply when it throws or the result cannot be stored. */
async function answer(req, handler) {
  let response;
  try {
    response = await handler(req.value, req);
  } catch (e) {
    req.replyError(messageOf(e));
    return;
  }
  try {
    req.reply(response);
  } catch (e) {
    if (e instanceof PlexusError && e.status !== E_INVALID_ARGUMENT) throw e;
    req.replyError(`the handler's result cannot be sent: ${messageOf(e)}`);
  }
}

/** Memory for the request id plexus_service_next fills (outside V8's heap). */
class RequestIdOut {
  constructor() {
    this.buf = Buffer.alloc(8);
    this.addr = koffi.address(this.buf);
  }
}
const NEXT_ID = new RequestIdOut();

// ---------------------------------------------------------------------------------------
// Module
// ---------------------------------------------------------------------------------------

/** How many locks this process took over from dead owners (a diagnostic). */
function recoveredLocks() {
  return intOut(C.recovered_locks(), false);
}

/** The name of a status number ('PLEXUS_TIMEOUT'). */
function statusName(st) {
  return C.status_name(st);
}

exports.MAX_TOPIC_LEN = TOPIC_CAP - 1;
exports.Region = Region;
exports.SharedArray = SharedArray;
exports.SharedMap = SharedMap;
exports.Queue = Queue;
exports.Bus = Bus;
exports.Subscription = Subscription;
exports.Mutex = Mutex;
exports.Barrier = Barrier;
exports.Semaphore = Semaphore;
exports.SharedTypedArray = SharedTypedArray;
exports.PlexusError = PlexusError;
exports.TimeoutError = TimeoutError;
exports.ClosedError = ClosedError;
exports.UnavailableError = UnavailableError;
exports.RegionLostError = RegionLostError;
exports.RemovedError = RemovedError;
exports.UnsupportedError = UnsupportedError;
exports.Service = Service;
exports.ServiceRequest = ServiceRequest;
exports.ServiceError = ServiceError;
exports.OwnerDeadError = OwnerDeadError;
exports.Float = Float;
exports.float = float;
exports.status = status;
exports.statusName = statusName;
exports.shownName = shownName;
exports.recoveredLocks = recoveredLocks;
exports.libraryPath = libraryPath;
exports.libraryVersion = libraryVersion;
exports.TYPE_NAMES = TYPE_NAMES;

// An event pump worker (Bus.on) runs this module with its job in workerData.
{
  const wt = require('node:worker_threads');
  if (!wt.isMainThread && wt.workerData && wt.workerData.plexusEventPump) runEventPump(wt.workerData.plexusEventPump);
}
