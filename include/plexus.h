/*
 * plexus.h — persistent, inter-language shared memory.
 *
 * Processes written in C, C++, Python, Node or anything with a C FFI open the same
 * named *region* (a file mapped into each of them) and share typed values through
 * named objects. No server process; no system call on the fast path.
 *
 * THE MODEL
 *   region   plexus_region_open("jobs", NULL, &r): /dev/shm/plexus.jobs (volatile),
 *            or a path with '/' (persistent file). Fixed size, reserved at creation.
 *            "redis://host:6379/jobs": a remote region on a Redis server, shared by
 *            processes on many machines, with the same calls and meaning.
 *   array    plexus_array_open(r, "cells", 16, 0, &a): 16 elements. Each element holds
 *            one value (plexus_value), a FULL/EMPTY tag and a 64-bit version.
 *   map      plexus_map_open(r, "jobs", 1000, 0, &m): up to 1000 UTF-8 string keys, each
 *            an element like an array's; an absent key reads as EMPTY holding UNDEFINED,
 *            writing calls insert it, plexus_map_remove deletes it.
 *   queue    plexus_queue_open(r, "work", 64, 0, &q): a bounded queue of up to 64 values,
 *            FIFO, or a LIFO stack with PLEXUS_LIFO. push waits while it is full, pop
 *            while it is empty; plexus_queue_shutdown ends it for every process (pushes get
 *            PLEXUS_CLOSED, pops drain what is left, then get PLEXUS_CLOSED).
 *            plexus_queue_push_many / plexus_queue_pop_many move many values in one call.
 *   bus      plexus_bus_open(r, "events", 1024, 0, &b): broadcast. Every subscriber
 *            (plexus_bus_subscribe, plexus_sub_next) receives every message, in one
 *            order for all; publishing never waits; the last 1024 are retained.
 *   locks    plexus_mutex_* (robust: PLEXUS_OWNER_DEAD after a holder died),
 *            plexus_barrier_* (reusable), plexus_semaphore_* (a dead holder's permits
 *            come back).
 *   handles  plexus_<kind>_close gives back a handle, for every kind; it never changes
 *            the object. Ending a queue or a bus for every process is
 *            plexus_queue_shutdown / plexus_bus_shutdown. Removing an object for every
 *            process is plexus_region_remove_object (its handles then return
 *            PLEXUS_E_REMOVED; the name is free at once).
 *   values   UNDEFINED, NULL, BOOL, INT (int64), FLOAT (double), STRING (UTF-8),
 *            BYTES, OBJECT (MessagePack; JSON conversion provided).
 *
 * FULL/EMPTY SEMANTICS (per element)
 *   read_fe   wait FULL,  read,  leave EMPTY    (consume)
 *   read_ff   wait FULL,  read,  leave FULL     (peek)
 *   write_ef  wait EMPTY, write, leave FULL     (produce)
 *   write_xf  write, leave FULL;   write_xe: write, leave EMPTY   (no wait)
 *   read/write  ignore and keep the tag (still atomic)
 *   read_rw   wait FULL, shared read lock until release_rw (blocks mutators)
 *   faa/cas/exchange  atomic read-modify-write, tag unchanged
 *   version/wait_change  every change bumps the version; wait for it to move
 *
 * CONVENTIONS
 *   - Every function returns plexus_status unless stated; results come back through
 *     out-parameters, left unchanged on failure unless stated. Statuses below 100 are
 *     outcomes (TIMEOUT, CLOSED, OWNER_DEAD), 100 and above errors; the message for the
 *     last failing call on a thread is plexus_last_error().
 *   - Timeouts: every call that can block takes `int64_t timeout_ns` (opening a region
 *     that may not exist yet: plexus_region_options.wait_ns), with one convention:
 *       PLEXUS_FOREVER (-1)  waits without limit;
 *       0                    tries once, without waiting;
 *       > 0                  waits at most that many nanoseconds (monotonic clock);
 *       any other negative   PLEXUS_E_INVALID_ARGUMENT (plexus_last_error() says why);
 *                            the call does nothing.
 *     A call whose time runs out returns PLEXUS_TIMEOUT (plexus_region_open:
 *     PLEXUS_E_NOT_FOUND). Blocked callers sleep (futex) instead of spinning, after a
 *     short spin; signals neither shorten nor extend a wait.
 *   - Handles are small structs around a generation-checked id: a zero, closed, stale,
 *     forged or wrong-kind handle gives PLEXUS_E_BAD_HANDLE, never undefined behaviour.
 *     Handles may be used from any thread. Object handles belong to the region handle
 *     they were opened through and become invalid when it is closed.
 *   - Values passed in are borrowed for the call. Values read out may own memory:
 *     release them with plexus_value_free (nothing else is ever freed by the caller).
 *
 * CAVEATS
 *   - fork(): handles do not survive into a child process (they report
 *     PLEXUS_E_BAD_HANDLE there); open the region again in the child.
 *   - Size: a region's size is fixed at creation and reserved up front (posix_fallocate),
 *     so a full /dev/shm fails at creation with PLEXUS_E_NO_SPACE, never later with
 *     SIGBUS. /dev/shm is often small in containers (Docker: 64 MiB): pass
 *     --shm-size or use a persistent path.
 *   - Permissions: regions are created 0600 (owner only) unless
 *     plexus_region_options.permissions says otherwise; the mode is applied exactly.
 *   - Crashes: a process killed at any instant (kill -9) never wedges the others: locks
 *     record their owner and are taken over from dead owners; values are never torn. At
 *     worst a crash leaks heap blocks: plexus_region_check (or the `plexus check`
 *     tool) finds them, and with PLEXUS_CHECK_REPAIR reclaims them. Volatile regions
 *     do not survive a reboot; persistent regions survive process crashes (page
 *     cache) and, after plexus_region_flush, power loss.
 *   - Process identity uses pids and process start times from /proc: all processes
 *     sharing a region must be in the same pid namespace.
 *   - A region file shared with an untrusted process can be damaged by it; plexus
 *     bounds-checks every offset it reads, but cannot stop a hostile process from
 *     writing nonsense values or truncating the file.
 */

#ifndef PLEXUS_H
#define PLEXUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** `timeout_ns` value that waits without limit (the timeout convention: CONVENTIONS,
    at the top). */
#define PLEXUS_FOREVER ((int64_t)-1)

/** Initializer for plexus_region_options: open or create, default size (64 MiB),
    mode 0600, no wait. */
#define PLEXUS_REGION_OPTIONS_INIT { sizeof(plexus_region_options), PLEXUS_OPEN_OR_CREATE, 0, 0, 0 }


/**
 * Major version; equals Cargo.toml's (checked by a test).
 */
#define PLEXUS_VERSION_MAJOR 0

/**
 * Minor version.
 */
#define PLEXUS_VERSION_MINOR 2

/**
 * Patch version.
 */
#define PLEXUS_VERSION_PATCH 0

/**
 * Format version of regions this library creates and opens.
 */
#define PLEXUS_FORMAT_VERSION 3

/**
 * Longest object name, in bytes of UTF-8 (`plexus_object_info.name` holds it and a NUL).
 */
#define PLEXUS_MAX_NAME_LEN 96

/**
 * `plexus_region_check` flag: also clean up (see plexus_region_check).
 */
#define PLEXUS_CHECK_REPAIR 1

/**
 * Open flag: elements of a newly created object start FULL (default EMPTY).
 */
#define PLEXUS_FULL 1

/**
 * Open flag: fail with PLEXUS_E_EXISTS if the object already exists.
 */
#define PLEXUS_EXCLUSIVE 2

/**
 * Longest map key, in bytes of UTF-8 (not counting the terminating NUL).
 */
#define PLEXUS_MAP_MAX_KEY_LEN 4096

/**
 * Queue open flag: a LIFO stack (pop returns the newest value) instead of a FIFO queue.
 */
#define PLEXUS_LIFO 4

/**
 * plexus_bus_subscribe: start with the next message published.
 */
#define PLEXUS_FROM_NOW 0

/**
 * plexus_bus_subscribe: start with the oldest message the bus still retains.
 */
#define PLEXUS_FROM_OLDEST 1

/**
 * The longest topic (and topic prefix), in bytes of UTF-8 (without the NUL). A buffer
 * of `PLEXUS_MAX_TOPIC_LEN + 1` bytes holds every topic plexus_sub_next_event returns.
 */
#define PLEXUS_MAX_TOPIC_LEN 112

/**
 * `count` for plexus_tarray_notify that wakes every waiter.
 */
#define PLEXUS_NOTIFY_ALL UINT32_MAX

/**
 * Result of every plexus call. Values below 100 are outcomes (the call did what it
 * could); 100 and above are errors, with a message in `plexus_last_error()`.
 */
typedef enum plexus_status {
  /**
   * Success.
   */
  PLEXUS_OK = 0,
  /**
   * A wait ended before its condition held (with timeout 0: it would block).
   */
  PLEXUS_TIMEOUT = 1,
  /**
   * The queue or bus was shut down (and, for pops and subscribers, drained).
   */
  PLEXUS_CLOSED = 2,
  /**
   * Mutex acquired; its previous owner died holding it.
   */
  PLEXUS_OWNER_DEAD = 3,
  /**
   * NULL pointer, bad name, option or flag, invalid UTF-8, unknown type tag, bad JSON.
   */
  PLEXUS_E_INVALID_ARGUMENT = 100,
  /**
   * Handle closed, never issued, zero, of another kind, or inherited across fork().
   */
  PLEXUS_E_BAD_HANDLE = 101,
  /**
   * Region, object or key does not exist.
   */
  PLEXUS_E_NOT_FOUND = 102,
  /**
   * Exclusive creation, but it exists.
   */
  PLEXUS_E_EXISTS = 103,
  /**
   * Object of another kind under that name, or an operation undefined for the value's type.
   */
  PLEXUS_E_TYPE_MISMATCH = 104,
  /**
   * Index >= length.
   */
  PLEXUS_E_OUT_OF_RANGE = 105,
  /**
   * Region heap, directory or process table full (or /dev/shm full at creation).
   */
  PLEXUS_E_NO_SPACE = 106,
  /**
   * Format version, byte order or object shape (length, capacity) differs.
   */
  PLEXUS_E_INCOMPATIBLE = 107,
  /**
   * The region failed validation (not a region, damaged, truncated).
   */
  PLEXUS_E_CORRUPT = 108,
  /**
   * The OS denied access.
   */
  PLEXUS_E_PERMISSION = 109,
  /**
   * Other OS error (the message has the errno text).
   */
  PLEXUS_E_OS = 110,
  /**
   * A caller buffer is too small (the needed size is reported).
   */
  PLEXUS_E_BUFFER_TOO_SMALL = 111,
  /**
   * The region was removed (`plexus_region_remove`, or a `PLEXUS_RECREATE` of its
   * name) while this handle was open: every call on a handle of it returns this, and
   * calls blocked in it wake with it within 100 ms. Or the object this handle is on
   * was removed (`plexus_region_remove_object`): every call on a handle of it returns
   * this, and calls blocked in it wake with it. Open the name again to reach the
   * region or object that now has it.
   */
  PLEXUS_E_REMOVED = 112,
  /**
   * A remote region's server could not be reached, or did not answer within the
   * call's time. Nothing was changed, or the message says the change is not known.
   */
  PLEXUS_E_UNAVAILABLE = 113,
  /**
   * A remote region's state vanished on the server (flushed, restarted without
   * persistence, failed over to a replica that lacked it, or the region was replaced):
   * every handle of it returns this; open it again to start anew.
   */
  PLEXUS_E_REGION_LOST = 114,
  /**
   * This operation cannot exist on this backend (or this build); the message names
   * the alternative.
   */
  PLEXUS_E_UNSUPPORTED = 115,
  /**
   * A service handler replied with an error (plexus_service_reply_error); its message
   * is in `plexus_last_error()`.
   */
  PLEXUS_E_SERVICE = 116,
  /**
   * A bug in plexus, caught at the boundary; please report the message.
   */
  PLEXUS_E_INTERNAL = 199,
} plexus_status;

/**
 * Type of a value. STRING is UTF-8; BYTES any bytes; OBJECT structured data (maps,
 * arrays, nested) encoded as MessagePack.
 */
typedef enum plexus_type {
  PLEXUS_UNDEFINED = 0,
  PLEXUS_NULL = 1,
  PLEXUS_BOOL = 2,
  PLEXUS_INT = 3,
  PLEXUS_FLOAT = 4,
  PLEXUS_STRING = 5,
  PLEXUS_BYTES = 6,
  PLEXUS_OBJECT = 7,
} plexus_type;

/**
 * How `plexus_region_open` treats an existing or missing region.
 */
typedef enum plexus_open_mode {
  /**
   * Open it if it exists, else create it (the default).
   */
  PLEXUS_OPEN_OR_CREATE = 0,
  /**
   * Create it; PLEXUS_E_EXISTS if it exists.
   */
  PLEXUS_CREATE = 1,
  /**
   * Open an existing region, waiting up to `wait_ns` for it to appear.
   */
  PLEXUS_OPEN = 2,
  /**
   * Remove any existing region of that name first, then create it.
   */
  PLEXUS_RECREATE = 3,
} plexus_open_mode;

/**
 * The verdict of `plexus_region_check`.
 */
typedef enum plexus_check_verdict {
  /**
   * Every structure is valid; nothing leaked, nothing stale.
   */
  PLEXUS_CHECK_CONSISTENT = 0,
  /**
   * Every structure is valid, but leaked heap blocks and/or stale entries of dead
   * processes remain (what kill -9 leaves behind); PLEXUS_CHECK_REPAIR reclaims them.
   */
  PLEXUS_CHECK_RECLAIMABLE = 1,
  /**
   * Something is damaged (no crash can cause it); the report says what and where.
   */
  PLEXUS_CHECK_CORRUPT = 2,
} plexus_check_verdict;

/**
 * The element type of a typed array. Elements are stored in the machine's byte order
 * (little-endian on every platform plexus runs on), contiguous, without padding.
 */
typedef enum plexus_dtype {
  PLEXUS_DTYPE_I8 = 1,
  PLEXUS_DTYPE_U8,
  PLEXUS_DTYPE_I16,
  PLEXUS_DTYPE_U16,
  PLEXUS_DTYPE_I32,
  PLEXUS_DTYPE_U32,
  PLEXUS_DTYPE_I64,
  PLEXUS_DTYPE_U64,
  PLEXUS_DTYPE_F32,
  PLEXUS_DTYPE_F64,
} plexus_dtype;

/**
 * Pointer and length of a STRING, BYTES or OBJECT payload.
 */
typedef struct plexus_buf {
  /**
   * The bytes (for strings the library also puts a NUL after them when it owns them).
   */
  const void *ptr;
  /**
   * Number of bytes, without any terminating NUL.
   */
  size_t len;
} plexus_buf;

/**
 * The payload of a value; which member is meaningful depends on `type`.
 */
typedef union plexus_value_data {
  /**
   * BOOL.
   */
  bool b;
  /**
   * INT.
   */
  int64_t i;
  /**
   * FLOAT.
   */
  double f;
  /**
   * STRING, BYTES, OBJECT.
   */
  struct plexus_buf buf;
} plexus_value_data;

/**
 * A dynamically typed value.
 *
 * Values made with the constructors below borrow the caller's memory (no allocation).
 * Values filled in by the library (every read) may own memory: release them with
 * `plexus_value_free`. Never copy an owned value and free both copies.
 *
 */
typedef struct plexus_value {
  /**
   * Which member of `as` is meaningful.
   */
  plexus_type type;
  /**
   * The payload.
   */
  union plexus_value_data as;
  /**
   * Private: non-NULL when the library owns `as.buf`.
   */
  void *owner;
} plexus_value;

/**
 * Options of `plexus_region_open`. Initialize with PLEXUS_REGION_OPTIONS_INIT, then set
 * what you need; `struct_size` lets later versions add fields compatibly.
 */
typedef struct plexus_region_options {
  /**
   * sizeof(plexus_region_options).
   */
  uint32_t struct_size;
  /**
   * What to do when the region exists or does not.
   */
  plexus_open_mode mode;
  /**
   * Bytes, when creating (rounded up to 4 KiB; minimum about 236 KiB); 0 = 64 MiB. The
   * whole size is reserved at creation, so a full /dev/shm fails here, not later.
   */
  uint64_t size;
  /**
   * File mode when creating, applied exactly (the umask is ignored); 0 = 0600.
   */
  uint32_t permissions;
  /**
   * PLEXUS_OPEN only: how long to wait for the region to appear, with the timeout
   * convention (PLEXUS_FOREVER, 0 = do not wait, > 0 nanoseconds).
   */
  int64_t wait_ns;
} plexus_region_options;

/**
 * Handle of an open region. Id 0 is never valid.
 */
typedef struct plexus_region {
  uint64_t id;
} plexus_region;

/**
 * Region statistics from `plexus_region_get_info`.
 */
typedef struct plexus_region_info {
  /**
   * Size of the region file in bytes.
   */
  uint64_t size;
  /**
   * Bytes of the heap (where object bodies, strings, bytes and objects live).
   */
  uint64_t heap_size;
  /**
   * Heap bytes in use (allocated blocks including their headers).
   */
  uint64_t heap_used;
  /**
   * heap_size - heap_used (the largest single allocation may be smaller).
   */
  uint64_t heap_free;
  /**
   * Named objects in the region.
   */
  uint32_t object_count;
  /**
   * Live attachments (an attachment is one open region handle in one process).
   */
  uint32_t attached_processes;
  /**
   * Region format version (PLEXUS_FORMAT_VERSION when this library created it).
   */
  uint32_t format_version;
  /**
   * Reserved, 0.
   */
  uint32_t reserved0;
  /**
   * Random id chosen at creation: two handles with the same id share one region.
   */
  uint64_t region_id;
  /**
   * Creation time, nanoseconds since the Unix epoch.
   */
  uint64_t created_unix_ns;
  /**
   * Reserved for future fields, 0.
   */
  uint64_t reserved[4];
} plexus_region_info;

/**
 * One named object of a region, from `plexus_region_next_object`.
 */
typedef struct plexus_object_info {
  /**
   * The object's name, NUL-terminated (UTF-8, at most PLEXUS_MAX_NAME_LEN bytes).
   */
  char name[97];
  /**
   * Its kind, NUL-terminated: "array", "map", "queue", "stack" (a PLEXUS_LIFO queue),
   * "bus", "mutex", "barrier" or "semaphore".
   */
  char kind[16];
  /**
   * Its size argument: length, capacity, parties or permits (1 for a mutex).
   */
  uint64_t shape;
  /**
   * Reserved for future fields, 0.
   */
  uint64_t reserved[2];
} plexus_object_info;

/**
 * What `plexus_region_check` found (after the repair, with PLEXUS_CHECK_REPAIR).
 */
typedef struct plexus_check_result {
  /**
   * PLEXUS_CHECK_CONSISTENT, PLEXUS_CHECK_RECLAIMABLE or PLEXUS_CHECK_CORRUPT.
   */
  plexus_check_verdict verdict;
  /**
   * Live processes attached to the region (the check is exact only when this is 0).
   */
  uint32_t live_processes;
  /**
   * Processes recorded as attached that are dead.
   */
  uint32_t dead_processes;
  /**
   * Locks held by dead processes (the next user of each takes it over).
   */
  uint32_t dead_locks;
  /**
   * Leaked heap blocks (allocated but unreferenced, or free but on no free list).
   */
  uint64_t leaked_blocks;
  /**
   * Their bytes.
   */
  uint64_t leaked_bytes;
  /**
   * Stale entries of dead processes (attachments, locks, read_rw holds, permits,
   * unfinished pushes).
   */
  uint32_t stale_entries;
  /**
   * Damage found (non-zero exactly when the verdict is PLEXUS_CHECK_CORRUPT).
   */
  uint32_t problems;
  /**
   * With PLEXUS_CHECK_REPAIR: repair actions taken.
   */
  uint32_t repairs;
  /**
   * With PLEXUS_CHECK_REPAIR: 1 when leaked blocks were left alone because another
   * process is attached or the region is corrupt (the report says which), else 0.
   */
  uint32_t repair_skipped;
  /**
   * Heap bytes in allocated blocks, counted by walking the heap.
   */
  uint64_t heap_used;
  /**
   * Reserved for future fields, 0.
   */
  uint64_t reserved[4];
} plexus_check_result;

/**
 * Handle of an open array. Id 0 is never valid.
 */
typedef struct plexus_array {
  uint64_t id;
} plexus_array;

/**
 * Handle of an open map. Id 0 is never valid.
 */
typedef struct plexus_map {
  uint64_t id;
} plexus_map;

/**
 * One entry of a map-wide change listing (plexus_map_next_change).
 */
typedef struct plexus_map_change {
  /**
   * The key, a STRING owned by the library: release it with plexus_value_free.
   */
  struct plexus_value key;
  /**
   * The key's version now (0 when `removed`).
   */
  uint64_t version;
  /**
   * The map's change count at the key's last change.
   */
  uint64_t counter;
  /**
   * The change was the key's removal.
   */
  bool removed;
} plexus_map_change;

/**
 * Handle of an open queue. Id 0 is never valid.
 */
typedef struct plexus_queue {
  uint64_t id;
} plexus_queue;

/**
 * Handle of an open bus. Id 0 is never valid.
 */
typedef struct plexus_bus {
  uint64_t id;
} plexus_bus;

/**
 * Handle of a subscription to a bus. Id 0 is never valid.
 */
typedef struct plexus_sub {
  uint64_t id;
} plexus_sub;

/**
 * Handle of an open mutex. Id 0 is never valid.
 *
 * A plexus mutex is a lock in a region that threads of any process attached to it
 * can take, one at a time. It is robust: if the process holding it dies (or closes
 * the region handle it locked through), the next plexus_mutex_lock takes it over and
 * returns PLEXUS_OWNER_DEAD instead of PLEXUS_OK — the caller holds the mutex, and the
 * data it protects may be half-updated and need repair. There is no "consistent"
 * step: after PLEXUS_OWNER_DEAD the mutex is used as before.
 *
 * Ownership is per thread: only the thread that locked it (through the same region
 * handle) may unlock it, and that thread locking it again gets
 * PLEXUS_E_INVALID_ARGUMENT instead of a deadlock (it is not recursive). Two region
 * handles of one process count as different owners. A thread that exits while holding
 * the mutex leaves it locked until its process exits or closes that region handle.
 *
 * Uncontended lock + unlock is two atomic instructions and no system call; a blocked
 * locker spins briefly, then sleeps on a futex (checking every 100 ms at most whether
 * the holder is still alive). On a remote region a holder is alive while its lease is
 * (`lease_ms`): a killed holder's mutex is taken over, with PLEXUS_OWNER_DEAD, by a
 * locker that finds the lease expired, within about `lease_ms`; every acquisition
 * carries a fencing token, so a holder whose lease expired cannot unlock afterwards.
 */
typedef struct plexus_mutex {
  uint64_t id;
} plexus_mutex;

/**
 * Handle of an open barrier. Id 0 is never valid.
 *
 * A plexus barrier makes `parties` callers (processes, or threads) meet: each
 * plexus_barrier_wait returns once all `parties` have called it in the current round,
 * and the barrier is then ready for the next round (reusable, round after round).
 * Everything a party wrote before arriving is visible to every party after it passes.
 *
 * Timeouts leave the barrier usable: a waiter whose timeout passes withdraws its
 * arrival, if the round has not completed yet, and gets PLEXUS_TIMEOUT, exactly as if
 * it had never arrived (the round still needs `parties` arrivals). If the round
 * completed meanwhile, the waiter passed the barrier and gets PLEXUS_OK.
 *
 * Crashes: the arrival of a party that dies after arriving counts (the round can
 * complete without it, but it will be missing from the next round). A party that dies
 * before arriving leaves the others waiting until their timeouts.
 */
typedef struct plexus_barrier {
  uint64_t id;
} plexus_barrier;

/**
 * Handle of an open semaphore. Id 0 is never valid.
 *
 * A plexus semaphore holds `permits` permits (fixed at creation): plexus_semaphore_acquire
 * takes one, waiting while none is left, and plexus_semaphore_release gives one back.
 * With 1 permit it lets one process at a time in ("at most one writer process").
 *
 * Permits belong to the region handle (attachment) that acquired them, not to a
 * thread: any thread of the process may release a permit its region handle holds, and
 * releasing when the handle holds none is an error. Permits held by a process that
 * dies, or by a region handle that is closed, are returned: the next acquirer that
 * finds no permit takes them back (a blocked acquirer notices within 100 ms; on a
 * remote region, once the holder's lease has expired, within about `lease_ms`).
 *
 * Giving back the semaphore handle itself is plexus_semaphore_close (not
 * plexus_semaphore_release, which gives back a permit).
 */
typedef struct plexus_semaphore {
  uint64_t id;
} plexus_semaphore;

/**
 * Handle of an open service. Id 0 is never valid.
 *
 * A plexus service carries requests from callers to servers and their replies back,
 * between any number of processes (and threads) of both kinds. A caller's
 * plexus_service_call places a request and waits for its reply; a server's
 * plexus_service_next takes the oldest pending request (each request goes to exactly
 * one server) and answers it with plexus_service_reply or plexus_service_reply_error.
 * `capacity` (fixed at creation) is how many requests may be in the service at once
 * (placed and not yet collected by their callers); a call waits for room.
 *
 * Failures: a call returns PLEXUS_TIMEOUT when no reply came in time (its request is
 * withdrawn; a server's later reply to it is discarded, never delivered to another
 * call), PLEXUS_E_SERVICE when the server replied with an error (its message in
 * plexus_last_error()), and PLEXUS_OWNER_DEAD when the process that took the request
 * died before replying: on shared memory within about 50 ms of its death, on a remote
 * region once its lease expired (within about `lease_ms` plus 20 ms). A caller killed
 * while waiting leaves nothing behind: its request is dropped by the server's reply,
 * by the next call that needs the room, or by the sweep of the next process to open
 * the region. Request ids carry a generation (shared memory) or are never reused
 * (remote), so a stale id is refused and never reaches another request.
 *
 * Crash safety (shared memory): every step of a request is one atomic change of its
 * slot, which names the process responsible for it; a process killed at any point
 * leaves a slot that the next process to look at it frees (a heap block allocated for
 * a value but not yet stored in its slot is the one thing a kill can leak, as for a
 * queue push; `plexus check` reports it).
 *
 * Calls can be made from any thread; a request id may be answered from any thread of
 * the process whose region handle took it.
 */
typedef struct plexus_service {
  uint64_t id;
} plexus_service;

/**
 * The id of one request taken with plexus_service_next, to answer it with. 0 is never
 * a request id.
 */
typedef struct plexus_request {
  uint64_t id;
} plexus_request;

/**
 * Handle of an open typed array. Id 0 is never valid.
 *
 * A typed array is `length` numbers of one plexus_dtype, contiguous in the region,
 * 64-byte aligned and zero-filled at creation, that every process maps in place:
 * plexus_tarray_data gives a pointer to them (no copy). The elements are split into
 * blocks of `block_len` elements (the last block may be shorter), each EMPTY or FULL,
 * for handing data from producers to consumers without copies:
 *
 * ```text
 * plexus_tarray_begin_write(t, b, timeout, &p)  waits EMPTY, the writer owns it
 * ... fill p ...
 * plexus_tarray_end_write(t, b)                 leaves it FULL, wakes a reader
 * plexus_tarray_begin_read(t, b, timeout, &p)   waits FULL, the reader owns it
 * ... use p ...
 * plexus_tarray_end_read(t, b)                  leaves it EMPTY, wakes a writer
 * ```
 *
 * One reader takes a FULL block: a second reader waiting for the same block gets it
 * only after it was written again. A block is held by the region handle (the process
 * attachment) that began it: any thread of that process may end it.
 *
 * Crashes: a writer that dies (or closes its region) between begin_write and end_write
 * leaves the block EMPTY for the next writer: its partial data is never handed to a
 * reader as FULL (the elements keep whatever it wrote; the next writer overwrites
 * them). A reader that dies between begin_read and end_read leaves the block FULL, so
 * the next reader reads it again. Whoever waits for the block notices within about
 * 50 ms of the death (the holder's process is checked between sleeps), and so does the
 * sweep of the next process that opens the region. Every block change is one atomic
 * step, so a kill at any instant leaves each block EMPTY, FULL, or held by the dead
 * process (and then recovered as above).
 *
 * Remote regions (`redis://`) have no pointer into the data: plexus_tarray_data and
 * plexus_tarray_begin_write / begin_read return PLEXUS_E_UNSUPPORTED there; the
 * copying calls (plexus_tarray_read / _write, plexus_tarray_read_block /
 * _write_block) and the atomics work on both backends with the same meaning.
 *
 * Calls can be made from any thread.
 */
typedef struct plexus_tarray {
  uint64_t id;
} plexus_tarray;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library's version as `(major << 16) | (minor << 8) | patch`; compare it with the
 * `PLEXUS_VERSION_*` macros of the header you compiled against.
 */
uint32_t plexus_version(void);

/**
 * How many locks inside regions (element, allocator and directory locks, mutexes) this
 * process has taken over from owners that died holding them, plus semaphore holders
 * whose permits it took back, since it started. A diagnostic:
 * nonzero means some process was killed in the middle of a plexus call and this process
 * cleaned up after it. Never fails.
 */
uint64_t plexus_recovered_locks(void);

/**
 * The message of the last failing plexus call on this thread ("" if none). Meaningful
 * only right after a call returned a status other than PLEXUS_OK, on the same thread.
 * The string belongs to plexus and stays valid until the next failing call on this
 * thread; never NULL.
 */
const char *plexus_last_error(void);

/**
 * The name of a status as a static string ("PLEXUS_TIMEOUT"); "PLEXUS_UNKNOWN_STATUS"
 * for a value that is not a status. Never NULL.
 */
const char *plexus_status_name(plexus_status status);

/**
 * UNDEFINED: what a fresh element holds.
 */
struct plexus_value plexus_undefined(void);

/**
 * NULL.
 */
struct plexus_value plexus_null(void);

/**
 * BOOL.
 */
struct plexus_value plexus_bool(bool b);

/**
 * INT (full 64 bits).
 */
struct plexus_value plexus_int(int64_t i);

/**
 * FLOAT.
 */
struct plexus_value plexus_float(double f);

/**
 * STRING borrowing a NUL-terminated UTF-8 string (checked when the value is used).
 * With `s == NULL` the value is invalid and every call rejects it with
 * PLEXUS_E_INVALID_ARGUMENT.
 */
struct plexus_value plexus_string(const char *s);

/**
 * STRING borrowing `len` bytes of UTF-8 at `s` (no terminator needed; may contain NUL).
 */
struct plexus_value plexus_string_n(const char *s, size_t len);

/**
 * BYTES borrowing `len` bytes at `p`.
 */
struct plexus_value plexus_bytes(const void *p, size_t len);

/**
 * OBJECT borrowing `len` bytes of MessagePack at `p` (validated when the value is
 * stored: one well-formed MessagePack value, else PLEXUS_E_INVALID_ARGUMENT).
 */
struct plexus_value plexus_object_msgpack(const void *p, size_t len);

/**
 * Releases memory a value owns and resets it to UNDEFINED. No-op for NULL, for scalars
 * and for borrowed values; safe to call twice on the same value.
 */
void plexus_value_free(struct plexus_value *v);

/**
 * Parses JSON text into `*out`: null, true/false, integers (INT when they fit in 64
 * bits, else FLOAT), other numbers (FLOAT), strings (STRING); objects and arrays become
 * OBJECT (MessagePack, keys in the order written). `*out` owns memory afterwards: release it with
 * `plexus_value_free`. PLEXUS_E_INVALID_ARGUMENT for NULL or bad JSON (`*out` unchanged).
 */
enum plexus_status plexus_value_from_json(const char *json, struct plexus_value *out);

/**
 * Writes `v` as JSON text into `buf` (capacity `cap` bytes, NUL-terminated), like
 * snprintf. `*needed` (if not NULL) receives the bytes required including the NUL.
 * PLEXUS_E_BUFFER_TOO_SMALL when `cap` is smaller (nothing written then; pass
 * `buf = NULL, cap = 0` to ask for the size). UNDEFINED and non-finite floats are written
 * as `null`, BYTES (also inside an OBJECT) as an array of numbers, OBJECT map keys that
 * are not strings as their JSON text (`1`, `true`, `[1,2]` for a byte string). OBJECT
 * keys keep their order. An OBJECT whose bytes are not valid MessagePack, or that uses
 * a map or an array as a map key (JSON has no form for it), gives
 * PLEXUS_E_TYPE_MISMATCH (storing invalid MessagePack is refused with
 * PLEXUS_E_INVALID_ARGUMENT).
 */
enum plexus_status plexus_value_to_json(const struct plexus_value *v,
                                        char *buf,
                                        size_t cap,
                                        size_t *needed);

/**
 * True when both values have the same type and value (the comparison `cas` uses). The
 * types must match: INT 2 and FLOAT 2.0 are not equal. FLOATs compare numerically
 * (-0.0 equals 0.0, NaN equals nothing); strings, bytes and objects byte for byte.
 * False if either is NULL or invalid.
 */
bool plexus_value_equal(const struct plexus_value *a, const struct plexus_value *b);

/**
 * Opens or creates the region `name`.
 *
 * `name` without '/' is a volatile region in /dev/shm (`/dev/shm/plexus.<name>`; 1-200
 * characters from A-Z a-z 0-9 . _ -); a name containing '/' is the path of a persistent
 * file. `opts` may be NULL for the defaults (open or create, 64 MiB, 0600).
 *
 * A name `redis://[user:password@]host[:port]/NAME[?db=N&lease_ms=N&timeout_ms=N]` (or
 * `rediss://` for TLS) opens the remote region NAME on a Redis 7 or Valkey server:
 * every call then runs there, with the same meaning, for processes on any machine (see
 * docs/remote.md). The open modes mean the same; `size` and `permissions` do not apply.
 * `lease_ms` (default 5000): how long after a process stops (killed, or its machine
 * gone) its locks, `read_rw` holds and permits are taken back. `timeout_ms` (default
 * 5000): how long a call that takes no timeout of its own waits for the server before
 * PLEXUS_E_UNAVAILABLE. The password never appears in messages. Remote calls may also
 * return PLEXUS_E_UNAVAILABLE (the server could not be reached or did not answer in
 * time; the message says whether the change may have been made: a retry through the
 * same handle never makes it twice) and PLEXUS_E_REGION_LOST (the region's state
 * vanished on the server: flushed, restarted without persistence, removed or
 * replaced; open it again to start anew). A build without the Redis backend returns
 * PLEXUS_E_UNSUPPORTED for these names.
 *
 * Creation is race-free: the region is built in a temporary file and published with one
 * atomic link, so an opener never sees a half-built region and concurrent creators
 * agree on one winner. Opening validates the header and never truncates, resizes or
 * writes to a file that fails validation.
 *
 * Blocks: with PLEXUS_OPEN, until the region appears or `wait_ns` passes.
 *
 * Returns PLEXUS_OK and `*out`; PLEXUS_E_NOT_FOUND (PLEXUS_OPEN, absent after the wait),
 * PLEXUS_E_EXISTS (PLEXUS_CREATE), PLEXUS_E_CORRUPT (not a region, damaged, truncated),
 * PLEXUS_E_INCOMPATIBLE (other format version, byte order or pointer width),
 * PLEXUS_E_PERMISSION, PLEXUS_E_NO_SPACE (file system or process table full),
 * PLEXUS_E_INVALID_ARGUMENT (NULL, bad name, size or option), PLEXUS_E_OS;
 * remote: PLEXUS_E_UNAVAILABLE, PLEXUS_E_PERMISSION (authentication refused),
 * PLEXUS_E_UNSUPPORTED. On failure `*out` is unchanged. Thread-safe.
 */
enum plexus_status plexus_region_open(const char *name,
                                      const struct plexus_region_options *opts,
                                      struct plexus_region *out);

/**
 * Closes a region handle and every object handle opened through it (they become
 * PLEXUS_E_BAD_HANDLE). Calls already running on other threads finish normally; the
 * mapping and the process-table entry go away after the last of them (another thread
 * that used one of the region's objects keeps a reference until its next call on an
 * object or its exit). Held `read_rw` locks are released then.
 * PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_region_close(struct plexus_region region);

/**
 * Makes everything written to the region so far durable against power loss
 * (msync + fsync). Blocks until the data is on stable storage. Meaningful for
 * persistent (path) regions; harmless for volatile ones. Remote regions: waits until
 * the server says the writes are on disk (`WAITAOF`, Redis 7.2+ and Valkey, with AOF on)
 * or on its replicas (`WAIT`, Redis 7.0); how durable that is depends on the server's
 * persistence settings (docs/remote.md).
 */
enum plexus_status plexus_region_flush(struct plexus_region region);

/**
 * Removes the region `name`: every process that still has it open gets
 * PLEXUS_E_REMOVED from its next call on any handle of it, and calls blocked in it
 * wake with PLEXUS_E_REMOVED within 100 ms. A shared-memory region's file is unlinked
 * (its memory goes when the last process lets go of it); a remote region's keys are
 * deleted on its server. PLEXUS_E_NOT_FOUND if absent. A `PLEXUS_RECREATE` open of the
 * name removes the old region the same way.
 */
enum plexus_status plexus_region_remove(const char *name);

/**
 * Fills `*out` with the region's size, heap use, object count, live attachments (the
 * entries of dead processes are cleared first), format version and id. A remote region
 * has no fixed size: its size and heap fields are 0; its attachments are the live
 * leases.
 */
enum plexus_status plexus_region_get_info(struct plexus_region region,
                                          struct plexus_region_info *out);

/**
 * Iterates over the region's named objects: start with `*cursor = 0`; each call fills
 * `*out` with the next object, moves `*cursor` on and sets `*found = true`, or sets
 * `*found = false` when there are no more. An object that exists throughout an
 * iteration is reported exactly once, whatever other processes create meanwhile (an
 * object created during the iteration may or may not be). Local regions go in
 * directory order, remote ones in creation order.
 */
enum plexus_status plexus_region_next_object(struct plexus_region region,
                                             uint64_t *cursor,
                                             struct plexus_object_info *out,
                                             bool *found);

/**
 * Blocks until an object called `name` exists in the region (of any kind), or the
 * timeout passes (PLEXUS_TIMEOUT). Lets a consumer start before its producer.
 */
enum plexus_status plexus_region_wait_object(struct plexus_region region,
                                             const char *name,
                                             int64_t timeout_ns);

/**
 * Removes the object `name` (of any kind) from the region, for every process.
 *
 * Every handle on the object, in every process (this process's own included), returns
 * PLEXUS_E_REMOVED from its next call, and calls blocked in it (a pop or push, a
 * read_fe or write_ef, a subscriber's next, a mutex lock, a barrier wait, a semaphore
 * acquire, a wait_change) wake with PLEXUS_E_REMOVED. The object's values, tags, held
 * locks and permits go with it; no call on it succeeds again. Give those handles back
 * with their `_close` as usual (PLEXUS_OK); to go on, open the name again.
 *
 * The name is free at once: the next open that may create (a nonzero size, or a mutex
 * open) creates a new object of any kind under it, as the first open of a new name
 * does; until then an open with size 0 gives PLEXUS_E_NOT_FOUND. An open of the name
 * returns a new handle on the new object, also through a region handle that still has
 * a handle on the removed one. A queue or bus that was shut down is started again this
 * way: remove it and open it again with its capacity; every process learns of it from
 * the PLEXUS_E_REMOVED of its old handle, and opens it again.
 *
 * The object's memory is reclaimed once no process can still be reading it: when the
 * last process that had it open has closed its handles on it (or its region handle),
 * or has died. A remote region's object is deleted on its server at once.
 *
 * Does not wait for the object's users: it returns as soon as the object is removed.
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND (no object has that name: never created, or
 * already removed); PLEXUS_E_REMOVED (the region itself was removed or replaced);
 * PLEXUS_E_BAD_HANDLE (region handle closed or never opened); PLEXUS_E_INVALID_ARGUMENT
 * (NULL `name`, or not a valid object name: 1-96 bytes of UTF-8); PLEXUS_E_CORRUPT;
 * remote: PLEXUS_E_UNAVAILABLE (the message says whether the object may have been
 * removed), PLEXUS_E_REGION_LOST. Both backends remove objects: never
 * PLEXUS_E_UNSUPPORTED. Thread-safe.
 */
enum plexus_status plexus_region_remove_object(struct plexus_region region, const char *name);

/**
 * Checks the region `name` (a bare name or a path, as for plexus_region_open) without
 * opening a handle: validates the header, the directory, the heap and its free lists,
 * and every object (elements, map keys, queue and bus slots, locks, semaphore permits);
 * counts dead processes, locks they hold, leaked heap blocks and other stale entries.
 *
 * Without flags it only reads: the file is mapped read-only and the caller does not
 * attach to the region. With PLEXUS_CHECK_REPAIR it attaches and cleans up: stale
 * entries of dead processes are released with the same takeover steps every process
 * uses (safe while other processes work), and leaked heap blocks are returned to the
 * allocator only when no other process is attached (attachments of the calling process
 * count as idle: do not repair while other threads of this process use the region). A
 * corrupt region is never repaired. `*out` then describes the region after the repair.
 *
 * `report` may be NULL; otherwise it receives a STRING value with the human-readable
 * report (one finding per line, with its place), to be released with plexus_value_free.
 *
 * Blocks: with PLEXUS_CHECK_REPAIR, for the allocator lock while another process
 * allocates (at most about 10 seconds; then the leaks are left alone and
 * `repair_skipped` is 1). A check of a region that others are changing reads a moving
 * target: exact when `out->live_processes` is 0; otherwise damage is reported only
 * when several scans in a row find exactly it.
 *
 * Returns PLEXUS_OK whenever the file could be read, damaged or not (see
 * `out->verdict`); PLEXUS_E_NOT_FOUND, PLEXUS_E_INCOMPATIBLE (other format version,
 * byte order or pointer width), PLEXUS_E_PERMISSION, PLEXUS_E_OS,
 * PLEXUS_E_INVALID_ARGUMENT (NULL `name` or `out`, bad name, unknown flags),
 * PLEXUS_E_UNSUPPORTED for a remote (`redis://`) region: it has no file to check, its
 * server keeps it consistent (each change is one atomic script), and what dead
 * processes held is taken back through their leases. On failure `*out` and `*report`
 * are unchanged. Thread-safe.
 */
enum plexus_status plexus_region_check(const char *name,
                                       uint32_t flags,
                                       struct plexus_check_result *out,
                                       struct plexus_value *report);

/**
 * Opens the array `name` in `region`, creating it when `length > 0` and it is missing.
 *
 * `length > 0`: created if absent (elements hold UNDEFINED, EMPTY unless PLEXUS_FULL);
 * if present its length must equal `length` (else PLEXUS_E_INCOMPATIBLE).
 * `length == 0`: opens an existing array only (PLEXUS_E_NOT_FOUND if absent).
 * `flags`: PLEXUS_FULL, PLEXUS_EXCLUSIVE. Names are 1-96 bytes of UTF-8.
 * Opening the same array twice through one region handle returns the same handle (and
 * counts the open: see plexus_array_close).
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
 * PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE
 * (heap or directory full), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE,
 * PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
 */
enum plexus_status plexus_array_open(struct plexus_region region,
                                     const char *name,
                                     uint64_t length,
                                     uint32_t flags,
                                     struct plexus_array *out);

/**
 * Undoes one `plexus_array_open` of this handle: since opening the same array twice
 * through one region handle returns the same handle, the handle stays valid until it
 * has been closed as many times as it was opened (closing the region closes it at
 * once). The array itself stays in the region. PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_array_close(struct plexus_array a);

/**
 * `*out` = number of elements.
 */
enum plexus_status plexus_array_len(struct plexus_array a, uint64_t *out);

/**
 * Reads element `index` into `*out` whatever its tag; the tag is unchanged. Atomic: never
 * a torn value. `*out` may own memory: release it with plexus_value_free.
 * PLEXUS_E_OUT_OF_RANGE if `index >= length`.
 */
enum plexus_status plexus_array_read(struct plexus_array a,
                                     uint64_t index,
                                     struct plexus_value *out);

/**
 * Writes `*v` into element `index` whatever its tag; the tag is unchanged. Waits while
 * `read_rw` readers hold the element. PLEXUS_E_INVALID_ARGUMENT for a bad value (NULL,
 * unknown type, invalid UTF-8 or MessagePack), PLEXUS_E_NO_SPACE when the heap is full
 * (the old value is kept).
 */
enum plexus_status plexus_array_write(struct plexus_array a,
                                      uint64_t index,
                                      const struct plexus_value *v);

/**
 * Blocks until element `index` is FULL (and no `read_rw` reader holds it), reads it into
 * `*out` and leaves it EMPTY. PLEXUS_TIMEOUT when `timeout_ns` passes first (`*out`
 * unchanged).
 */
enum plexus_status plexus_array_read_fe(struct plexus_array a,
                                        uint64_t index,
                                        struct plexus_value *out,
                                        int64_t timeout_ns);

/**
 * Blocks until element `index` is FULL, reads it into `*out` and leaves it FULL.
 * PLEXUS_TIMEOUT when `timeout_ns` passes first.
 */
enum plexus_status plexus_array_read_ff(struct plexus_array a,
                                        uint64_t index,
                                        struct plexus_value *out,
                                        int64_t timeout_ns);

/**
 * Blocks until element `index` is EMPTY, writes `*v` and leaves it FULL.
 * PLEXUS_TIMEOUT when `timeout_ns` passes first (nothing written).
 */
enum plexus_status plexus_array_write_ef(struct plexus_array a,
                                         uint64_t index,
                                         const struct plexus_value *v,
                                         int64_t timeout_ns);

/**
 * Writes `*v` and leaves element `index` FULL, whatever the tag was (waits only while
 * `read_rw` readers hold it).
 */
enum plexus_status plexus_array_write_xf(struct plexus_array a,
                                         uint64_t index,
                                         const struct plexus_value *v);

/**
 * Writes `*v` and leaves element `index` EMPTY, whatever the tag was (waits only while
 * `read_rw` readers hold it).
 */
enum plexus_status plexus_array_write_xe(struct plexus_array a,
                                         uint64_t index,
                                         const struct plexus_value *v);

/**
 * Sets element `index` FULL (`full` true) or EMPTY without touching its value.
 */
enum plexus_status plexus_array_set_tag(struct plexus_array a, uint64_t index, bool full);

/**
 * `*out` = whether element `index` is FULL (a snapshot).
 */
enum plexus_status plexus_array_is_full(struct plexus_array a, uint64_t index, bool *out);

/**
 * Blocks until element `index` is FULL, reads it into `*out` and takes a shared read
 * lock: until `plexus_array_release_rw`, every call that would change the value or tag
 * waits (read_fe, write*, set_tag, faa, cas, exchange, patch); read, read_ff and other read_rw
 * proceed. Locks held by a process that dies, or by a region handle that is closed,
 * are released. At most 28 held at once per region handle (PLEXUS_E_NO_SPACE).
 */
enum plexus_status plexus_array_read_rw(struct plexus_array a,
                                        uint64_t index,
                                        struct plexus_value *out,
                                        int64_t timeout_ns);

/**
 * Releases one `read_rw` lock taken on element `index` through this array's region
 * handle. PLEXUS_E_INVALID_ARGUMENT if it holds none.
 */
enum plexus_status plexus_array_release_rw(struct plexus_array a, uint64_t index);

/**
 * Atomically adds `*delta` to element `index` with JavaScript `+` semantics, whatever
 * the tag (unchanged): int+int wraps, a float on either side gives a float, a string on
 * either side concatenates (numbers formatted as JavaScript does), bytes+bytes
 * concatenates; UNDEFINED is an empty accumulator (0 or ""), NULL and BOOL count as
 * numbers. `*old` (may be NULL) receives the previous value. PLEXUS_E_TYPE_MISMATCH for
 * other combinations (the element is unchanged).
 */
enum plexus_status plexus_array_faa(struct plexus_array a,
                                    uint64_t index,
                                    const struct plexus_value *delta,
                                    struct plexus_value *old);

/**
 * Atomically: if element `index` equals `*expected` (same type and value, as
 * plexus_value_equal), store `*desired`. Either way `*old` (may be NULL) receives the
 * previous value, so the swap happened exactly when plexus_value_equal(old, expected).
 * Tag unchanged.
 */
enum plexus_status plexus_array_cas(struct plexus_array a,
                                    uint64_t index,
                                    const struct plexus_value *expected,
                                    const struct plexus_value *desired,
                                    struct plexus_value *old);

/**
 * Atomically stores `*v` in element `index` and returns the previous value in `*old`
 * (may be NULL); the tag is unchanged.
 */
enum plexus_status plexus_array_exchange(struct plexus_array a,
                                         uint64_t index,
                                         const struct plexus_value *v,
                                         struct plexus_value *old);

/**
 * Atomically applies a MongoDB-style update document `*patch` (an OBJECT, e.g. from
 * plexus_value_from_json) to element `index`, whatever the tag (unchanged); the version
 * moves by exactly one. Other processes see the value before or after the patch, never
 * between, and concurrent patches of one element lose nothing.
 *
 * The patch maps operators to `{path: argument}` maps: `$set` (store), `$unset`
 * (remove; an array item becomes null), `$inc` / `$mul` (add / multiply a number),
 * `$min` / `$max` (keep the smaller / larger: numbers with numbers, strings with
 * strings), `$push` (append to an array; `{"$each": [...]}` appends several),
 * `$addToSet` (append what is not there yet), `$pull` (remove every equal item).
 * Paths are dotted (`"stats.hits"`, `"items.2.name"`: a segment meeting an array is an
 * index below its length); missing maps along a path are created (except by `$unset`
 * and `$pull`, for which a missing field is a no-op); `$inc`, `$min`, `$max`, `$push`,
 * `$addToSet` on a missing field set it (`$mul` sets 0). An UNDEFINED element counts as
 * `{}`. Numbers: int op int stays int and is exact (a result outside -2^63..2^64-1 is
 * PLEXUS_E_INVALID_ARGUMENT, never wrapped); a float on either side gives a float;
 * booleans and null are not numbers. `$pull`/`$addToSet` compare numbers by value
 * (1 equals 1.0) and the rest by structure.
 *
 * All or nothing: on any error the element is untouched (value, tag and version).
 * PLEXUS_E_INVALID_ARGUMENT for a bad document (not an OBJECT map of operators, an
 * unknown operator or modifier, an empty or `$` path segment, an argument of the wrong
 * kind, two operators on the same field or on a field and one inside it);
 * PLEXUS_E_TYPE_MISMATCH when the value does not fit (the element holds something other
 * than an OBJECT or UNDEFINED, a path goes through a non-map/non-array or past an
 * array's end, `$inc` on a non-number, `$push` on a non-array, `$min` of a string and a
 * number). The message (plexus_last_error) names the operator and the path.
 *
 * `*out` (may be NULL) receives the value after the patch (release it with
 * plexus_value_free); unchanged on error. Waits, as every writing call, while a
 * plexus_array_read_rw lock is held on the element. On a remote region the patch is
 * computed here and committed only if no other change came between (else it is
 * applied again to the newer value), and a retry after a lost reply applies it once.
 */
enum plexus_status plexus_array_patch(struct plexus_array a,
                                      uint64_t index,
                                      const struct plexus_value *patch,
                                      struct plexus_value *out);

/**
 * `*out` = the element's version, bumped by every change of its value or tag.
 */
enum plexus_status plexus_array_version(struct plexus_array a, uint64_t index, uint64_t *out);

/**
 * Blocks until the version of element `index` differs from `*version`, then stores its value in
 * `*out` and the version that value belongs to in `*version`: a consistent pair, read
 * together (never a newer value with an older version, nor the reverse). Returns at
 * once if the version already differs. Start with `*version = 0` to get the current
 * value at once (an element's version is at least 1 once written, 0 before).
 *
 * Observer guarantee: a caller that loops on this call sees every value that stayed in
 * place longer than the caller took to come back, and always sees the last one; values
 * replaced faster than that are coalesced (the caller gets the newest, and the version
 * jump shows how many it skipped).
 *
 * PLEXUS_TIMEOUT when `timeout_ns` passes first; on any failure `*version` and `*out` are
 * unchanged. `*out` may own memory: release it with plexus_value_free. Works the same on
 * remote regions (one read, then a wait on the server).
 */
enum plexus_status plexus_array_watch(struct plexus_array a,
                                      uint64_t index,
                                      uint64_t *version,
                                      struct plexus_value *out,
                                      int64_t timeout_ns);

/**
 * Blocks until element `index`'s version differs from `*version`, then stores the new
 * version in `*version` (returns at once if it already differs). PLEXUS_TIMEOUT when
 * `timeout_ns` passes first. To watch an element: read `plexus_array_version`, then
 * loop on this call.
 */
enum plexus_status plexus_array_wait_change(struct plexus_array a,
                                            uint64_t index,
                                            uint64_t *version,
                                            int64_t timeout_ns);

/**
 * Opens the map `name` in `region`, creating it when `capacity > 0` and it is missing.
 *
 * `capacity > 0`: created if absent (with no keys); if present its capacity must equal
 * `capacity` (else PLEXUS_E_INCOMPATIBLE). `capacity == 0`: opens an existing map only
 * (PLEXUS_E_NOT_FOUND if absent). `flags`: PLEXUS_FULL (keys inserted later start FULL
 * instead of EMPTY; the creator's choice holds for every opener), PLEXUS_EXCLUSIVE.
 * Names are 1-96 bytes of UTF-8. Opening the same map twice through one region handle
 * returns the same handle (and counts the open: see plexus_map_close).
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
 * PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE
 * (heap or directory full), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE,
 * PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
 */
enum plexus_status plexus_map_open(struct plexus_region region,
                                   const char *name,
                                   uint64_t capacity,
                                   uint32_t flags,
                                   struct plexus_map *out);

/**
 * plexus_map_open, with initial data that is stored if, and only if, this call creates
 * the map (MemSync's `data:`).
 *
 * `initial` (may be NULL: none) is an OBJECT holding a map of string keys, e.g. from
 * plexus_value_from_json("{\"mode\": \"auto\", \"limit\": 10}"): the new map starts with
 * each key FULL holding its value (scalars become their type, nested arrays and objects
 * stay OBJECT), version 1. Atomic: no process ever sees the map existing without its
 * initial keys, and when several processes create it at once exactly one call's data
 * is stored (the others open that map and their data is ignored, as it is whenever the
 * map exists already). `initial` is checked either way: not an OBJECT holding a map of
 * string keys, a key not valid as a map key, or a key twice gives
 * PLEXUS_E_INVALID_ARGUMENT; more keys than `capacity` PLEXUS_E_NO_SPACE (nothing is
 * created then). Other arguments, statuses and ownership as plexus_map_open; the
 * caller keeps `*initial`. Same on remote regions (the creating script stores them).
 */
enum plexus_status plexus_map_open_with(struct plexus_region region,
                                        const char *name,
                                        uint64_t capacity,
                                        uint32_t flags,
                                        const struct plexus_value *initial,
                                        struct plexus_map *out);

/**
 * Undoes one `plexus_map_open` of this handle (the handle stays valid until closed as
 * many times as it was opened; closing the region closes it at once). The map itself
 * stays in the region. PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_map_close(struct plexus_map m);

/**
 * `*out` = number of keys present (a snapshot).
 */
enum plexus_status plexus_map_len(struct plexus_map m, uint64_t *out);

/**
 * `*out` = the maximum number of keys, fixed at creation.
 */
enum plexus_status plexus_map_capacity(struct plexus_map m, uint64_t *out);

/**
 * Reads the value of `key` into `*out` whatever its tag (UNDEFINED for an absent key;
 * nothing is inserted). Atomic: never a torn value. `*out` may own memory: release it
 * with plexus_value_free.
 */
enum plexus_status plexus_map_read(struct plexus_map m, const char *key, struct plexus_value *out);

/**
 * Writes `*v` as the value of `key` (inserting it if absent), keeping its tag. Waits
 * while `read_rw` readers hold the key. PLEXUS_E_INVALID_ARGUMENT for a bad value,
 * PLEXUS_E_NO_SPACE when the map is full (for a new key) or the heap is full (the old
 * value is kept).
 */
enum plexus_status plexus_map_write(struct plexus_map m,
                                    const char *key,
                                    const struct plexus_value *v);

/**
 * Blocks until `key` is present and FULL (and no `read_rw` reader holds it), reads it
 * into `*out` and leaves it EMPTY (the key stays present). PLEXUS_TIMEOUT when
 * `timeout_ns` passes first (`*out` unchanged).
 */
enum plexus_status plexus_map_read_fe(struct plexus_map m,
                                      const char *key,
                                      struct plexus_value *out,
                                      int64_t timeout_ns);

/**
 * Blocks until `key` is present and FULL, reads it into `*out` and leaves it FULL.
 * PLEXUS_TIMEOUT when `timeout_ns` passes first.
 */
enum plexus_status plexus_map_read_ff(struct plexus_map m,
                                      const char *key,
                                      struct plexus_value *out,
                                      int64_t timeout_ns);

/**
 * Inserts `key` if absent, blocks until it is EMPTY, writes `*v` and leaves it FULL.
 * PLEXUS_TIMEOUT when `timeout_ns` passes first (nothing written; an inserted key
 * stays).
 */
enum plexus_status plexus_map_write_ef(struct plexus_map m,
                                       const char *key,
                                       const struct plexus_value *v,
                                       int64_t timeout_ns);

/**
 * Writes `*v` and leaves `key` FULL, whatever the tag was (inserting it if absent;
 * waits only while `read_rw` readers hold it).
 */
enum plexus_status plexus_map_write_xf(struct plexus_map m,
                                       const char *key,
                                       const struct plexus_value *v);

/**
 * Writes `*v` and leaves `key` EMPTY, whatever the tag was (inserting it if absent;
 * waits only while `read_rw` readers hold it).
 */
enum plexus_status plexus_map_write_xe(struct plexus_map m,
                                       const char *key,
                                       const struct plexus_value *v);

/**
 * Sets `key` FULL (`full` true) or EMPTY without touching its value (inserting it,
 * holding UNDEFINED, if absent).
 */
enum plexus_status plexus_map_set_tag(struct plexus_map m, const char *key, bool full);

/**
 * `*out` = whether `key` is present and FULL (a snapshot; false for an absent key).
 */
enum plexus_status plexus_map_is_full(struct plexus_map m, const char *key, bool *out);

/**
 * Blocks until `key` is present and FULL, reads it into `*out` and takes a shared read
 * lock: until `plexus_map_release_rw`, every call that would change the key's value or
 * tag, and plexus_map_remove of it, waits; reads proceed. Locks held by a process that
 * dies, or by a region handle that is closed, are released. At most 28 held at once per
 * region handle, arrays and maps together (PLEXUS_E_NO_SPACE).
 */
enum plexus_status plexus_map_read_rw(struct plexus_map m,
                                      const char *key,
                                      struct plexus_value *out,
                                      int64_t timeout_ns);

/**
 * Releases one `read_rw` lock taken on `key` through this map's region handle.
 * PLEXUS_E_INVALID_ARGUMENT if it holds none.
 */
enum plexus_status plexus_map_release_rw(struct plexus_map m, const char *key);

/**
 * Atomically adds `*delta` to the value of `key` with the JavaScript `+` semantics of
 * plexus_array_faa (an absent key is inserted and counts as UNDEFINED, so a fresh
 * counter starts at 0). `*old` (may be NULL) receives the previous value. Tag
 * unchanged. PLEXUS_E_TYPE_MISMATCH for combinations `+` does not define.
 */
enum plexus_status plexus_map_faa(struct plexus_map m,
                                  const char *key,
                                  const struct plexus_value *delta,
                                  struct plexus_value *old);

/**
 * Atomically: if the value of `key` equals `*expected` (same type and value), store
 * `*desired`. Either way `*old` (may be NULL) receives the previous value (UNDEFINED
 * for a key that was absent; the key is inserted either way). Tag unchanged.
 */
enum plexus_status plexus_map_cas(struct plexus_map m,
                                  const char *key,
                                  const struct plexus_value *expected,
                                  const struct plexus_value *desired,
                                  struct plexus_value *old);

/**
 * Atomically stores `*v` as the value of `key` (inserting it if absent) and returns the
 * previous value in `*old` (may be NULL); the tag is unchanged.
 */
enum plexus_status plexus_map_exchange(struct plexus_map m,
                                       const char *key,
                                       const struct plexus_value *v,
                                       struct plexus_value *old);

/**
 * plexus_array_patch on the value of `key`: the same operators, paths, number rules,
 * errors and atomicity. An absent key is inserted (as by every writing call; EMPTY
 * unless the map was created with PLEXUS_FULL) and its value counts as `{}`, so a first
 * patch moves its version as a first write does; PLEXUS_E_NO_SPACE when the map is full
 * and the key absent. A bad document is refused before any key is inserted. `*out`
 * (may be NULL) receives the value after the patch.
 */
enum plexus_status plexus_map_patch(struct plexus_map m,
                                    const char *key,
                                    const struct plexus_value *patch,
                                    struct plexus_value *out);

/**
 * `*out` = the version of `key`: 0 while absent, bumped by every change of its value or
 * tag, and never repeated across plexus_map_remove and re-insertion.
 */
enum plexus_status plexus_map_version(struct plexus_map m, const char *key, uint64_t *out);

/**
 * Blocks until the version of `key` differs from `*version`, then stores the new
 * version in `*version` (returns at once if it already differs). An absent key has
 * version 0, so waiting with `*version == 0` on an absent key returns when it is
 * inserted, and a removal counts as a change (to 0). PLEXUS_TIMEOUT when `timeout_ns`
 * passes first.
 */
enum plexus_status plexus_map_wait_change(struct plexus_map m,
                                          const char *key,
                                          uint64_t *version,
                                          int64_t timeout_ns);

/**
 * Blocks until the version of `key` differs from `*version`, then stores its value in
 * `*out` and the version that value belongs to in `*version`: a consistent pair, read
 * together (never a newer value with an older version, nor the reverse). Returns at
 * once if the version already differs. Start with `*version = 0` to get the current
 * value at once (an absent key reads as UNDEFINED with version 0, so with `*version == 0` an absent key's insertion is the change waited for, and a removal shows as UNDEFINED with version 0). A key's first write inserts it with its value in one change: its version moves once, and watchers never see the UNDEFINED in between.
 *
 * Observer guarantee: a caller that loops on this call sees every value that stayed in
 * place longer than the caller took to come back, and always sees the last one; values
 * replaced faster than that are coalesced (the caller gets the newest, and the version
 * jump shows how many it skipped).
 *
 * PLEXUS_TIMEOUT when `timeout_ns` passes first; on any failure `*version` and `*out` are
 * unchanged. `*out` may own memory: release it with plexus_value_free. Works the same on
 * remote regions (one read, then a wait on the server).
 */
enum plexus_status plexus_map_watch(struct plexus_map m,
                                    const char *key,
                                    uint64_t *version,
                                    struct plexus_value *out,
                                    int64_t timeout_ns);

/**
 * Removes `key`: waits while `read_rw` readers hold it, then the key is gone (reads see
 * UNDEFINED/EMPTY, version 0), its value is freed, every waiter on it is woken (waiting
 * reads keep waiting for a new insertion) and its place counts as free for
 * PLEXUS_E_NO_SPACE. PLEXUS_E_NOT_FOUND if the key is absent.
 */
enum plexus_status plexus_map_remove(struct plexus_map m, const char *key);

/**
 * Iterates over the keys: start with `*cursor = 0` and call until PLEXUS_E_NOT_FOUND.
 * Each PLEXUS_OK stores the next key as a STRING in `*key_out` (release it with
 * plexus_value_free) and advances `*cursor`. Safe while any process inserts and
 * removes keys: every key present during the whole iteration is returned exactly once;
 * keys inserted or removed meanwhile may or may not be. The order is unspecified. On
 * PLEXUS_E_NOT_FOUND (the end) `*key_out` is unchanged.
 */
enum plexus_status plexus_map_next_key(struct plexus_map m,
                                       uint64_t *cursor,
                                       struct plexus_value *key_out);

/**
 * `*out` = the map's change count: it moves by one with every change of any key
 * (insertion, write, tag change, removal), so a watcher of a whole map reads it, lists
 * what changed since the count it had (plexus_map_next_change), and waits for it to
 * move (plexus_map_wait_changes). PLEXUS_E_UNSUPPORTED for a map made by an older
 * version of plexus (its keys can still be watched one by one); same on remote regions.
 */
enum plexus_status plexus_map_change_count(struct plexus_map m, uint64_t *out);

/**
 * Blocks until the map's change count differs from `*counter`, then stores it in
 * `*counter` (returns at once if it already differs). Sleeps without polling (a futex;
 * on remote regions a blocking read on the server). PLEXUS_TIMEOUT when `timeout_ns`
 * passes first (`*counter` unchanged); PLEXUS_E_UNSUPPORTED as plexus_map_change_count.
 */
enum plexus_status plexus_map_wait_changes(struct plexus_map m,
                                           uint64_t *counter,
                                           int64_t timeout_ns);

/**
 * Lists the keys changed after the change count `since`, one per call, without reading
 * their values: start with `*cursor = 0` and call until PLEXUS_E_NOT_FOUND (the end;
 * `*out` unchanged). Each PLEXUS_OK fills `*out` (release `out->key` with
 * plexus_value_free) and advances `*cursor`.
 *
 * Lists every key present whose last change came after `since` (`since == 0`: every
 * key present), and the removals after `since` that the map still records: its last N
 * removals, N = its capacity within 16..1024 rounded up to a power of two. A key
 * changed during the listing may be listed or not, and may be listed twice (removed,
 * then present again: the larger `counter` is the newer); the order is unspecified.
 * To follow a map: read plexus_map_change_count into C, list since the previous C,
 * then wait with plexus_map_wait_changes(&C) and repeat — no change is ever missed, and
 * bursts are coalesced. PLEXUS_E_OUT_OF_RANGE when removals after `since` (non-zero)
 * were no longer all recorded: list again from 0 to resynchronise.
 * PLEXUS_E_UNSUPPORTED as plexus_map_change_count.
 */
enum plexus_status plexus_map_next_change(struct plexus_map m,
                                          uint64_t since,
                                          uint64_t *cursor,
                                          struct plexus_map_change *out);

/**
 * Opens the queue `name` in `region`, creating it when `capacity > 0` and it is missing.
 *
 * `capacity > 0`: created if absent (empty, FIFO unless PLEXUS_LIFO); if present, its
 * capacity must equal `capacity` and its kind (FIFO or LIFO) must match the flags (else
 * PLEXUS_E_INCOMPATIBLE). `capacity == 0`: opens an existing queue only
 * (PLEXUS_E_NOT_FOUND if absent), of either kind unless PLEXUS_LIFO asks for a stack.
 * `flags`: PLEXUS_LIFO, PLEXUS_EXCLUSIVE. Names are 1-96 bytes of UTF-8. The queue
 * takes 64 bytes per value of capacity in the region, plus a heap block per stored
 * value longer than 8 bytes. Opening the same queue twice through one region handle
 * returns the same handle (and counts the open: see plexus_queue_close).
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
 * PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE
 * (heap or directory full), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE,
 * PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
 */
enum plexus_status plexus_queue_open(struct plexus_region region,
                                     const char *name,
                                     uint64_t capacity,
                                     uint32_t flags,
                                     struct plexus_queue *out);

/**
 * Gives back one `plexus_queue_open` of this handle (the handle stays valid until
 * closed as many times as it was opened; closing the region closes it at once). The
 * queue and its values stay in the region: ending the queue for every process is
 * plexus_queue_shutdown. PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_queue_close(struct plexus_queue q);

/**
 * Appends a copy of `*v` (the caller keeps ownership of `*v`), waiting while the queue
 * is full.
 *
 * Returns PLEXUS_OK once the value is in the queue; PLEXUS_TIMEOUT (full until the
 * timeout; nothing was stored), PLEXUS_CLOSED (the queue is shut down; nothing was
 * stored), PLEXUS_E_INVALID_ARGUMENT (NULL or invalid value, negative timeout other
 * than PLEXUS_FOREVER), PLEXUS_E_NO_SPACE (the region's heap cannot hold the value),
 * PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT.
 */
enum plexus_status plexus_queue_push(struct plexus_queue q,
                                     const struct plexus_value *v,
                                     int64_t timeout_ns);

/**
 * Removes the oldest value (the newest, for a LIFO queue) into `*out`, waiting while
 * the queue is empty. `*out` is overwritten without being freed first and may own
 * memory: release it with plexus_value_free.
 *
 * Returns PLEXUS_OK; PLEXUS_TIMEOUT (empty until the timeout), PLEXUS_CLOSED (shut down
 * and empty), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On any
 * status but PLEXUS_OK, `*out` is unchanged and nothing was removed.
 */
enum plexus_status plexus_queue_pop(struct plexus_queue q,
                                    struct plexus_value *out,
                                    int64_t timeout_ns);

/**
 * Appends copies of `values[0..n)` in order (the caller keeps ownership of them),
 * waiting while the queue is full: one call for the whole batch, with one wake-up of
 * the consumers for all the values that fit at once. When the queue has room for only
 * part of the batch, that part goes in and the call waits for room for the rest.
 *
 * In a FIFO queue the values of one batch stay together and in order: no other
 * producer's value comes between two of them (other pushes wait while a batch is
 * under way). A stack takes each part that fits in one step, the last value on top.
 *
 * `*pushed` is always set, whatever the status: to how many values went in, which are
 * always the first `*pushed` of the batch (0 when an argument was refused).
 *
 * Returns PLEXUS_OK once all `n` are in the queue (`n == 0` does nothing and returns
 * PLEXUS_OK); PLEXUS_TIMEOUT (full until the timeout: the first `*pushed` went in, the
 * rest did not), PLEXUS_CLOSED (the queue is shut down: likewise), PLEXUS_E_NO_SPACE
 * (the region's heap cannot hold the next value: likewise; a value larger than the
 * whole heap is refused before anything is stored), PLEXUS_E_INVALID_ARGUMENT (NULL
 * `values` with `n > 0`, NULL `pushed`, an invalid value anywhere in the batch, a
 * negative timeout other than PLEXUS_FOREVER: nothing was stored), PLEXUS_E_BAD_HANDLE,
 * PLEXUS_E_CORRUPT; on a remote region PLEXUS_E_UNAVAILABLE (the values after
 * `*pushed` may or may not have gone in: retrying the same call with
 * `values + *pushed` from the same thread is answered without pushing them twice).
 *
 * Crash safety: every value of a batch is delivered exactly once, or — if its producer
 * died before its place in the queue was published — not at all.
 */
enum plexus_status plexus_queue_push_many(struct plexus_queue q,
                                          const struct plexus_value *values,
                                          size_t n,
                                          int64_t timeout_ns,
                                          size_t *pushed);

/**
 * plexus_queue_push_many that another thread (or a signal handler) can cancel: while
 * it waits for room, it reads `*cancel` every 10 ms, and once that is nonzero it stops
 * as a timeout does and returns PLEXUS_TIMEOUT, with `*pushed` saying how many values
 * went in (the first `*pushed`; the rest did not). Set `*cancel` with an atomic store
 * (C11 `atomic_store`, C++ `std::atomic<uint32_t>::store`), or from a signal handler;
 * the word must stay valid until the call returns. `cancel` NULL: the same as
 * plexus_queue_push_many.
 *
 * This is how an event loop or an interruptible program pushes a batch without
 * slicing the wait: a FIFO batch keeps its place while it waits for room (no other
 * producer's value comes between two of its values), but a batch pushed again in
 * slices would let other producers' values in between its slices. Run it on a thread
 * of its own and set `*cancel` to give up. A call that does not need to wait (all the
 * values fit, or `timeout_ns` is 0) does not look at `*cancel`.
 *
 * Returns what plexus_queue_push_many returns (a cancelled call: PLEXUS_TIMEOUT; a
 * batch that was all in before the cancel was seen: PLEXUS_OK), and
 * PLEXUS_E_INVALID_ARGUMENT for a `cancel` not aligned to 4 bytes (nothing stored,
 * `*pushed` 0). Both backends.
 */
enum plexus_status plexus_queue_push_many_cancellable(struct plexus_queue q,
                                                      const struct plexus_value *values,
                                                      size_t n,
                                                      int64_t timeout_ns,
                                                      size_t *pushed,
                                                      const uint32_t *cancel);

/**
 * Removes up to `max` values into `out[0..*popped)`: waits while the queue is empty
 * (as plexus_queue_pop does), then takes the values that are there, up to `max`,
 * without waiting for more: the oldest first (a LIFO queue: the newest first). One
 * call for the whole batch, with one wake-up of blocked producers.
 *
 * `out` must have room for `max` values; `out[0..*popped)` are overwritten without
 * being freed first and may own memory: release each with plexus_value_free. The rest
 * of `out` is not touched. `*popped` is always set, whatever the status (0 unless
 * PLEXUS_OK).
 *
 * Returns PLEXUS_OK with `*popped >= 1`; PLEXUS_TIMEOUT (empty until the timeout),
 * PLEXUS_CLOSED (shut down and empty), PLEXUS_E_INVALID_ARGUMENT (`max == 0`, NULL
 * `out` or `popped`, a negative timeout other than PLEXUS_FOREVER), PLEXUS_E_BAD_HANDLE,
 * PLEXUS_E_CORRUPT; on any status but PLEXUS_OK nothing was removed. A value taken by
 * a consumer that dies before the call returns is lost with it, as with
 * plexus_queue_pop; the values it had not taken stay in the queue.
 */
enum plexus_status plexus_queue_pop_many(struct plexus_queue q,
                                         struct plexus_value *out,
                                         size_t max,
                                         int64_t timeout_ns,
                                         size_t *popped);

/**
 * `*out` = number of values in the queue (a snapshot: with pushes and pops under way
 * in other processes it may already differ; it counts a push that is storing its value).
 */
enum plexus_status plexus_queue_len(struct plexus_queue q, uint64_t *out);

/**
 * `*out` = the maximum number of values, fixed at creation.
 */
enum plexus_status plexus_queue_capacity(struct plexus_queue q, uint64_t *out);

/**
 * Ends the queue for every process that uses it: pushes fail with PLEXUS_CLOSED from
 * now on, pops return the values left and then PLEXUS_CLOSED, and every blocked push
 * and pop wakes up. Shutting down a queue that is already shut down is PLEXUS_OK; a
 * queue stays shut down. The handle stays valid (give it back with plexus_queue_close).
 *
 * To start a queue that was shut down again, remove it (plexus_region_remove_object)
 * and open it again with its capacity: every handle on the old queue, in every process,
 * then returns PLEXUS_E_REMOVED, so each process learns that it must open the queue
 * again. Values still in the old queue go with it.
 */
enum plexus_status plexus_queue_shutdown(struct plexus_queue q);

/**
 * `*out` = whether plexus_queue_shutdown was called on the queue (by any process).
 */
enum plexus_status plexus_queue_is_shutdown(struct plexus_queue q, bool *out);

/**
 * Opens the bus `name` in `region`, creating it when `capacity > 0` and it is missing.
 *
 * `capacity` is the number of messages the bus retains for subscribers that are behind
 * (fixed at creation; each takes 128 bytes of the region). `capacity > 0`: created if
 * absent; if present its capacity must equal `capacity` (else PLEXUS_E_INCOMPATIBLE).
 * `capacity == 0`: opens an existing bus only (PLEXUS_E_NOT_FOUND if absent). `flags`:
 * PLEXUS_EXCLUSIVE. Names are 1-96 bytes of UTF-8. Opening the same bus twice through
 * one region handle returns the same handle (and counts the open: see
 * plexus_bus_close).
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
 * PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE,
 * PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On failure `*out`
 * is unchanged.
 */
enum plexus_status plexus_bus_open(struct plexus_region region,
                                   const char *name,
                                   uint64_t capacity,
                                   uint32_t flags,
                                   struct plexus_bus *out);

/**
 * Gives back one `plexus_bus_open` of this handle (the handle stays valid until closed
 * as many times as it was opened; closing the region closes it at once).
 * Subscriptions stay valid. The bus itself is untouched: ending it for every process
 * is plexus_bus_shutdown. PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_bus_close(struct plexus_bus b);

/**
 * Publishes a copy of `*v` to every subscriber (the caller keeps ownership of `*v`).
 * Never waits for subscribers; waits only, briefly, while another process publishes.
 * `*seq`, if `seq` is not NULL, receives the message's sequence number.
 *
 * Returns PLEXUS_OK; PLEXUS_CLOSED (the bus is shut down; nothing was published),
 * PLEXUS_E_INVALID_ARGUMENT (NULL or invalid value), PLEXUS_E_NO_SPACE (the region's
 * heap cannot hold the value), PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT.
 */
enum plexus_status plexus_bus_publish(struct plexus_bus b,
                                      const struct plexus_value *v,
                                      uint64_t *seq);

/**
 * Publishes copies of `values[0..n)` to every subscriber, in order, as `n` consecutive
 * messages: the batch takes `n` sequence numbers at once, so no other publisher's
 * message (from any thread or process) comes between two of its messages, and
 * subscribers receive them in that order. One call and one wake-up of sleeping
 * subscribers for the whole batch (a subscriber can receive the first messages before
 * the call returns). The caller keeps ownership of `values`. Like plexus_bus_publish it
 * never waits for subscribers; it waits only, briefly, while another process publishes.
 * `*first_seq`, if `first_seq` is not NULL, receives the first message's sequence
 * number (message `k` has `*first_seq + k`).
 *
 * All or nothing on bad input: every value is checked, and copied into the region's
 * heap when it needs to be, before anything is published; an invalid value anywhere (or
 * a heap too full for the batch) publishes nothing. `n == 0` publishes nothing and
 * returns PLEXUS_OK with `*first_seq` = 0 (no message has sequence number 0); `values`
 * may then be NULL. A batch larger than the bus's capacity is allowed: as always, each
 * message overwrites the oldest one retained, so only the last `capacity` messages of
 * the batch stay, and a subscriber that is behind sees the gap in the sequence numbers
 * (shared memory and Redis alike).
 *
 * A publisher killed in the middle of a batch (shared memory) never blocks the others
 * and never delivers a torn message: subscribers receive the messages it had published,
 * which are the batch's first ones in order (possibly none, possibly all), and after
 * them the next publisher's messages, which take the sequence numbers the dead batch did
 * not use. On Redis a batch is one script call, published entirely or not at all.
 *
 * Returns PLEXUS_OK; PLEXUS_CLOSED (the bus is shut down; nothing was published),
 * PLEXUS_E_INVALID_ARGUMENT (NULL `values` with `n > 0`, or an invalid value: the
 * message names its index), PLEXUS_E_NO_SPACE (the region's heap cannot hold the
 * batch), PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, and on Redis PLEXUS_E_UNAVAILABLE
 * (see docs/remote.md). On failure `*first_seq` is unchanged. Both backends.
 */
enum plexus_status plexus_bus_publish_many(struct plexus_bus b,
                                           const struct plexus_value *values,
                                           size_t n,
                                           uint64_t *first_seq);

/**
 * Ends the bus for every process: publishing fails with PLEXUS_CLOSED from now on,
 * and each subscriber receives the messages published before, then PLEXUS_CLOSED
 * (waiting subscribers wake up). Shutting down a bus that is already shut down is
 * PLEXUS_OK; a bus stays shut down. The handle stays valid (give it back with
 * plexus_bus_close).
 *
 * To start a bus that was shut down again, remove it (plexus_region_remove_object) and
 * open it again with its capacity: every handle on the old bus, in every process, then
 * returns PLEXUS_E_REMOVED (its subscriptions too), so each process learns that it must
 * open the bus again (and subscribe again).
 */
enum plexus_status plexus_bus_shutdown(struct plexus_bus b);

/**
 * `*out` = whether plexus_bus_shutdown was called on the bus (by any process).
 */
enum plexus_status plexus_bus_is_shutdown(struct plexus_bus b, bool *out);

/**
 * `*out` = the number of messages the bus retains, fixed at creation.
 */
enum plexus_status plexus_bus_capacity(struct plexus_bus b, uint64_t *out);

/**
 * `*out` = the sequence number the next published message will get (the last one's
 * plus one; 1 on a new bus). A snapshot.
 */
enum plexus_status plexus_bus_next_seq(struct plexus_bus b, uint64_t *out);

/**
 * Starts a subscription to `b`: `from` is PLEXUS_FROM_NOW (the next message published)
 * or PLEXUS_FROM_OLDEST (the oldest message the bus retains). A subscription is a
 * private cursor of this process: it registers nothing in the region and never slows
 * publishers. It belongs to the region handle `b` was opened through (closing that
 * closes it); release it with plexus_sub_close.
 *
 * Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT (other `from`, NULL `out`),
 * PLEXUS_E_BAD_HANDLE. On failure `*out` is unchanged.
 */
enum plexus_status plexus_bus_subscribe(struct plexus_bus b, uint32_t from, struct plexus_sub *out);

/**
 * Receives the subscription's next message into `*out` (and its sequence number into
 * `*seq`, if `seq` is not NULL), waiting while there is none. Messages come in
 * publication order; a sequence number more than one above the previous one means this
 * subscriber fell more than the bus's capacity behind and the messages in between were
 * overwritten. `*out` is overwritten without being freed first and may own memory:
 * release it with plexus_value_free. Calls on one subscription from several threads
 * take turns.
 *
 * Returns PLEXUS_OK; PLEXUS_TIMEOUT (no message before the timeout: the PLEXUS_FOREVER /
 * 0 / positive convention), PLEXUS_CLOSED (the bus was shut down and every message
 * published before was received), PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_BAD_HANDLE,
 * PLEXUS_E_CORRUPT. On any status but PLEXUS_OK, `*out` and `*seq` are unchanged.
 */
enum plexus_status plexus_sub_next(struct plexus_sub s,
                                   struct plexus_value *out,
                                   uint64_t *seq,
                                   int64_t timeout_ns);

/**
 * Publishes a copy of `*v` with the topic `topic` (a named event, as MemSync's
 * `events.emit(name, data)`): every subscriber receives it, and a subscription made
 * with plexus_bus_subscribe_topic receives it when the topic starts with its prefix.
 * Topics are NUL-terminated UTF-8 of at most PLEXUS_MAX_TOPIC_LEN bytes; the empty
 * topic `""` makes this a plain plexus_bus_publish. Messages with and without topics
 * share the bus's one order and its sequence numbers. Never waits for subscribers;
 * waits only, briefly, while another process publishes. `*seq`, if `seq` is not NULL,
 * receives the message's sequence number. On shared memory, a subscriber filtering by
 * another prefix is not woken by this call.
 *
 * Returns PLEXUS_OK; PLEXUS_CLOSED (the bus is shut down; nothing was published),
 * PLEXUS_E_INVALID_ARGUMENT (NULL `topic` or `v`, a topic that is not UTF-8 or longer
 * than PLEXUS_MAX_TOPIC_LEN, an invalid value), PLEXUS_E_UNSUPPORTED (a non-empty topic
 * on a shared-memory bus created by a version of plexus without topics: remove the bus
 * and open it again), PLEXUS_E_NO_SPACE, PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, and on a
 * remote region PLEXUS_E_UNAVAILABLE / PLEXUS_E_REGION_LOST.
 */
enum plexus_status plexus_bus_emit(struct plexus_bus b,
                                   const char *topic,
                                   const struct plexus_value *v,
                                   uint64_t *seq);

/**
 * plexus_bus_subscribe receiving only the messages whose topic starts with `prefix`
 * (byte-wise; NUL-terminated UTF-8 of at most PLEXUS_MAX_TOPIC_LEN bytes). The empty
 * prefix `""` receives every message, plain ones included (plexus_bus_subscribe);
 * a non-empty prefix never matches a plain message. Messages come in the bus's one
 * order; the sequence numbers skip the messages of other topics, and the messages
 * overwritten while the subscriber was behind (see plexus_sub_next). Read them with
 * plexus_sub_next or, with their topics, plexus_sub_next_event.
 *
 * Wake-ups: on shared memory, a filtered subscription takes one of 64 rows of the
 * bus's table of filtered subscribers, and a waiting plexus_sub_next is woken only by
 * messages whose topic matches (and by shutdown and removal); when every row is taken
 * by a live subscriber, it is woken by every message, like an unfiltered one, and still
 * returns only its own. The row is given back by plexus_sub_close, or, when the process
 * dies, taken back by the next subscriber. On a remote region the filtering happens in
 * this library: the call returns only for matching messages, but the library's
 * connection receives every message.
 *
 * Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT (other `from`, NULL `prefix` or `out`,
 * a prefix that is not UTF-8 or too long), PLEXUS_E_UNSUPPORTED (a non-empty prefix on
 * a shared-memory bus created by a version of plexus without topics), PLEXUS_E_BAD_HANDLE.
 * On failure `*out` is unchanged.
 */
enum plexus_status plexus_bus_subscribe_topic(struct plexus_bus b,
                                              uint32_t from,
                                              const char *prefix,
                                              struct plexus_sub *out);

/**
 * plexus_sub_next that also gives the message's topic: copied into `topic` (capacity
 * `cap` bytes, NUL-terminated; `""` for a plain message), with its length in bytes
 * (without the NUL) in `*topic_len` if `topic_len` is not NULL. Waits as plexus_sub_next.
 *
 * When `cap` is smaller than the topic's length plus one, returns
 * PLEXUS_E_BUFFER_TOO_SMALL with `*topic_len` set and nothing else written; the message
 * is kept, and the next call on this subscription (plexus_sub_next too) returns it
 * first. `topic = NULL, cap = 0` asks for the length. A buffer of
 * `PLEXUS_MAX_TOPIC_LEN + 1` bytes is always large enough.
 *
 * Returns PLEXUS_OK; PLEXUS_TIMEOUT, PLEXUS_CLOSED, PLEXUS_E_BUFFER_TOO_SMALL,
 * PLEXUS_E_INVALID_ARGUMENT (NULL `out`, NULL `topic` with `cap > 0`),
 * PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On any status but PLEXUS_OK, `*out`, `*seq`
 * and the buffer are unchanged. `*out` may own memory: release it with
 * plexus_value_free.
 */
enum plexus_status plexus_sub_next_event(struct plexus_sub s,
                                         char *topic,
                                         size_t cap,
                                         size_t *topic_len,
                                         struct plexus_value *out,
                                         uint64_t *seq,
                                         int64_t timeout_ns);

/**
 * Ends a subscription (its handle becomes invalid). PLEXUS_E_BAD_HANDLE if already
 * closed.
 */
enum plexus_status plexus_sub_close(struct plexus_sub s);

/**
 * Opens the mutex `name` in `region`, creating it (unlocked) if it does not exist.
 *
 * Names are 1-96 bytes of UTF-8. Opening the same mutex twice through one region
 * handle returns the same handle (and counts the open: see plexus_mutex_close).
 *
 * Returns PLEXUS_OK; PLEXUS_E_TYPE_MISMATCH (another kind of object has that name),
 * PLEXUS_E_NO_SPACE (heap or directory full), PLEXUS_E_INVALID_ARGUMENT (NULL or bad
 * name, NULL `out`), PLEXUS_E_BAD_HANDLE, PLEXUS_E_INCOMPATIBLE, PLEXUS_E_CORRUPT. On
 * failure `*out` is unchanged.
 */
enum plexus_status plexus_mutex_open(struct plexus_region region,
                                     const char *name,
                                     struct plexus_mutex *out);

/**
 * Gives back the handle: undoes one plexus_mutex_open of it (the handle stays valid
 * until closed as many times as it was opened; closing the region closes it at once).
 * It does not unlock the mutex (that is plexus_mutex_unlock): a mutex still locked by
 * this thread stays locked until this process closes the region handle or exits, and
 * is then taken over with PLEXUS_OWNER_DEAD. PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_mutex_close(struct plexus_mutex m);

/**
 * Locks the mutex for the calling thread, waiting while another thread (of any
 * process) holds it.
 *
 * Blocks until the mutex is free or its holder is found dead, or the timeout passes
 * (PLEXUS_FOREVER, 0 = try once, > 0 nanoseconds).
 *
 * Returns PLEXUS_OK (locked); PLEXUS_OWNER_DEAD (locked, but its previous holder died
 * holding it — or closed its region handle without unlocking — so the data it protects
 * may need repair; unlock it as usual afterwards); PLEXUS_TIMEOUT (still locked by
 * another thread when the timeout passed; not locked by this call);
 * PLEXUS_E_INVALID_ARGUMENT (the calling thread already holds it — plexus mutexes are
 * not recursive, so this would deadlock — or a negative timeout other than
 * PLEXUS_FOREVER); PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
 */
enum plexus_status plexus_mutex_lock(struct plexus_mutex m, int64_t timeout_ns);

/**
 * Unlocks the mutex, which the calling thread must hold (locked through the same region
 * handle); wakes one waiting locker, if any.
 *
 * Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT if the calling thread does not hold it
 * (it is unlocked, or another thread or process holds it: the mutex is left as it
 * was); PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
 */
enum plexus_status plexus_mutex_unlock(struct plexus_mutex m);

/**
 * `*out` = whether the mutex is locked by anyone (a snapshot; a mutex whose holder
 * died counts as locked until the next plexus_mutex_lock takes it over).
 */
enum plexus_status plexus_mutex_is_locked(struct plexus_mutex m, bool *out);

/**
 * Opens the barrier `name` in `region` for `parties` parties.
 *
 * `parties > 0`: created if absent (no party waiting); if present, its number of
 * parties must equal `parties` (else PLEXUS_E_INCOMPATIBLE). `parties == 0`: opens an
 * existing barrier only (PLEXUS_E_NOT_FOUND if absent). Names are 1-96 bytes of UTF-8.
 * Opening the same barrier twice through one region handle returns the same handle
 * (and counts the open: see plexus_barrier_close).
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_INCOMPATIBLE, PLEXUS_E_TYPE_MISMATCH
 * (another kind of object has that name), PLEXUS_E_NO_SPACE, PLEXUS_E_INVALID_ARGUMENT,
 * PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
 */
enum plexus_status plexus_barrier_open(struct plexus_region region,
                                       const char *name,
                                       uint32_t parties,
                                       struct plexus_barrier *out);

/**
 * Gives back the handle: undoes one plexus_barrier_open of it (the handle stays valid
 * until closed as many times as it was opened; closing the region closes it at once).
 * The barrier stays in the region. PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_barrier_close(struct plexus_barrier b);

/**
 * Arrives at the barrier and waits until all its parties have arrived in this round.
 *
 * Blocks until the round completes (the `parties`-th arrival), or the timeout passes
 * (PLEXUS_FOREVER, 0 = try once, > 0 nanoseconds). With timeout 0 the call completes
 * the round only if all other parties are already waiting in it.
 *
 * Returns PLEXUS_OK (the round completed: every party of it passes); PLEXUS_TIMEOUT
 * (the round did not complete in time: this arrival was withdrawn, as if this call had
 * never been made, and the round still waits for `parties` arrivals; if the round
 * completed while the timeout was being handled, the result is PLEXUS_OK instead);
 * PLEXUS_E_INVALID_ARGUMENT (negative timeout other than PLEXUS_FOREVER);
 * PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
 */
enum plexus_status plexus_barrier_wait(struct plexus_barrier b, int64_t timeout_ns);

/**
 * plexus_barrier_wait that also tells whether this call's arrival completed the round:
 * on PLEXUS_OK, `*last` = true for exactly one party of each round (the last to
 * arrive; like PTHREAD_BARRIER_SERIAL_THREAD), false for the others. Same statuses as
 * plexus_barrier_wait (and PLEXUS_E_INVALID_ARGUMENT for a NULL `last`); on any other
 * status `*last` is unchanged.
 */
enum plexus_status plexus_barrier_wait_last(struct plexus_barrier b,
                                            int64_t timeout_ns,
                                            bool *last);

/**
 * `*out` = the barrier's number of parties, fixed at creation.
 */
enum plexus_status plexus_barrier_parties(struct plexus_barrier b, uint32_t *out);

/**
 * Opens the semaphore `name` in `region` with `permits` permits.
 *
 * `permits > 0`: created if absent (all permits available); if present, its number of
 * permits must equal `permits` (else PLEXUS_E_INCOMPATIBLE). `permits == 0`: opens an
 * existing semaphore only (PLEXUS_E_NOT_FOUND if absent). Names are 1-96 bytes of
 * UTF-8. Opening the same semaphore twice through one region handle returns the same
 * handle (and counts the open: see plexus_semaphore_close).
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_INCOMPATIBLE, PLEXUS_E_TYPE_MISMATCH
 * (another kind of object has that name), PLEXUS_E_NO_SPACE, PLEXUS_E_INVALID_ARGUMENT,
 * PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT. On failure `*out` is unchanged.
 */
enum plexus_status plexus_semaphore_open(struct plexus_region region,
                                         const char *name,
                                         uint32_t permits,
                                         struct plexus_semaphore *out);

/**
 * Gives back the semaphore handle: undoes one plexus_semaphore_open (the handle stays
 * valid until closed as many times as it was opened; closing the region closes it at
 * once). Permits held stay held by the region handle (they return when it is closed
 * or its process exits). Not to be confused with plexus_semaphore_release, which gives
 * back a permit. PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_semaphore_close(struct plexus_semaphore s);

/**
 * Takes one permit, waiting while none is available.
 *
 * Blocks until a permit is released (or taken back from a dead holder), or the
 * timeout passes (PLEXUS_FOREVER, 0 = try once, > 0 nanoseconds).
 *
 * Returns PLEXUS_OK (this region handle now holds one more permit); PLEXUS_TIMEOUT
 * (none became available; nothing taken); PLEXUS_E_INVALID_ARGUMENT (negative timeout
 * other than PLEXUS_FOREVER); PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
 */
enum plexus_status plexus_semaphore_acquire(struct plexus_semaphore s, int64_t timeout_ns);

/**
 * Gives back one permit held by this region handle (acquired by any of its threads) and
 * wakes the processes waiting for one. Never blocks (beyond the semaphore's short
 * internal lock).
 *
 * Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT if this region handle holds no permit
 * of the semaphore (nothing changes); PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT.
 */
enum plexus_status plexus_semaphore_release(struct plexus_semaphore s);

/**
 * `*out` = the semaphore's number of permits, fixed at creation.
 */
enum plexus_status plexus_semaphore_permits(struct plexus_semaphore s, uint32_t *out);

/**
 * `*out` = permits available now (a snapshot; permits of a holder that died count as
 * held until an acquirer that finds none takes them back).
 */
enum plexus_status plexus_semaphore_available(struct plexus_semaphore s, uint32_t *out);

/**
 * `*out` = permits held by this region handle (acquired by any of its threads and not
 * yet released).
 */
enum plexus_status plexus_semaphore_held(struct plexus_semaphore s, uint32_t *out);

/**
 * Opens the service `name` in `region`, creating it when `capacity > 0` and it is
 * missing.
 *
 * `capacity > 0` (the most requests in the service at once): created if absent; if
 * present, its capacity must equal `capacity` (else PLEXUS_E_INCOMPATIBLE).
 * `capacity == 0`: opens an existing service only (PLEXUS_E_NOT_FOUND if absent).
 * `flags`: 0 or PLEXUS_EXCLUSIVE. Names are 1-96 bytes of UTF-8. The service takes 64
 * bytes per unit of capacity in the region, plus a heap block per request or response
 * longer than 8 bytes while it is in the service. Opening the same service twice
 * through one region handle returns the same handle (and counts the open: see
 * plexus_service_close).
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
 * PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE,
 * PLEXUS_E_INVALID_ARGUMENT (bad name or flags, capacity above 2^32-1),
 * PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, PLEXUS_E_UNAVAILABLE (remote). On failure
 * `*out` is unchanged.
 */
enum plexus_status plexus_service_open(struct plexus_region region,
                                       const char *name,
                                       uint64_t capacity,
                                       uint32_t flags,
                                       struct plexus_service *out);

/**
 * Gives back one plexus_service_open of this handle (the handle stays valid until
 * closed as many times as it was opened; closing the region closes it at once). The
 * service and its pending requests stay in the region. PLEXUS_E_BAD_HANDLE if already
 * closed.
 */
enum plexus_status plexus_service_close(struct plexus_service s);

/**
 * Sends a copy of `*request` (the caller keeps ownership) and waits for its reply.
 *
 * Blocks while the service is full (capacity requests in it), then until a server
 * replies, its server dies, or the timeout passes (PLEXUS_FOREVER, 0 = try once, > 0
 * nanoseconds; the one timeout covers both waits). A blocked caller sleeps; it does
 * not spin.
 *
 * Returns PLEXUS_OK with the reply in `*response` (overwritten without being freed
 * first; release it with plexus_value_free); PLEXUS_E_SERVICE (the server replied with
 * plexus_service_reply_error; its message is in plexus_last_error()); PLEXUS_TIMEOUT
 * (no reply in time, or no room: the request is withdrawn, a later reply discarded);
 * PLEXUS_OWNER_DEAD (the process that took the request died before replying; the
 * request is gone: call again to retry it); PLEXUS_E_INVALID_ARGUMENT (NULL or invalid
 * value, negative timeout other than PLEXUS_FOREVER); PLEXUS_E_NO_SPACE (the region's
 * heap cannot hold the request); PLEXUS_E_REMOVED; PLEXUS_E_BAD_HANDLE;
 * PLEXUS_E_CORRUPT; PLEXUS_E_UNAVAILABLE, PLEXUS_E_REGION_LOST (remote). On any status
 * but PLEXUS_OK, `*response` is unchanged.
 */
enum plexus_status plexus_service_call(struct plexus_service s,
                                       const struct plexus_value *request,
                                       struct plexus_value *response,
                                       int64_t timeout_ns);

/**
 * plexus_service_call that another thread (or a signal handler) can cancel: while it
 * waits, it reads `*cancel` every 10 ms, and once that is nonzero it withdraws the
 * request, exactly as a timeout does, and returns PLEXUS_TIMEOUT. Set `*cancel` with an
 * atomic store (C11 `atomic_store`, C++ `std::atomic<uint32_t>::store`), or from a
 * signal handler; the word must stay valid until the call returns. `cancel` NULL: the
 * same as plexus_service_call.
 *
 * This is how an event loop or an interruptible program waits for a reply without
 * slicing the wait (a sliced plexus_service_call would withdraw the request at the end
 * of every slice, and a handler slower than a slice would never be heard): run it on a
 * thread of its own and set `*cancel` to give up. Returns what plexus_service_call
 * returns (a cancelled call: PLEXUS_TIMEOUT; a reply that came before the cancel was
 * seen is returned as PLEXUS_OK), and PLEXUS_E_INVALID_ARGUMENT for a `cancel` not
 * aligned to 4 bytes.
 */
enum plexus_status plexus_service_call_cancellable(struct plexus_service s,
                                                   const struct plexus_value *request,
                                                   struct plexus_value *response,
                                                   int64_t timeout_ns,
                                                   const uint32_t *cancel);

/**
 * Takes the oldest pending request: its id into `*req`, a copy of its value into
 * `*request` (overwritten without being freed first; release it with
 * plexus_value_free). Each request goes to exactly one server; answer it with
 * plexus_service_reply or plexus_service_reply_error through this handle (or another
 * handle of the same region handle). Until answered, its caller waits (and learns
 * PLEXUS_OWNER_DEAD if this process dies first).
 *
 * Blocks while no request is pending, until the timeout (PLEXUS_FOREVER, 0 = try once,
 * positive = nanoseconds). An idle server sleeps on a futex (shared memory) or a blocking
 * read (remote); it does not poll.
 *
 * Returns PLEXUS_OK; PLEXUS_TIMEOUT (none pending in time), PLEXUS_E_INVALID_ARGUMENT,
 * PLEXUS_E_REMOVED, PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, PLEXUS_E_UNAVAILABLE,
 * PLEXUS_E_REGION_LOST. On any status but PLEXUS_OK, `*req` and `*request` are
 * unchanged.
 */
enum plexus_status plexus_service_next(struct plexus_service s,
                                       struct plexus_request *req,
                                       struct plexus_value *request,
                                       int64_t timeout_ns);

/**
 * Answers request `req` (taken with plexus_service_next through this region handle)
 * with a copy of `*response`: its caller's plexus_service_call returns PLEXUS_OK with
 * it. A reply to a request whose caller gave up (timed out) or died is discarded and
 * returns PLEXUS_OK. Does not block.
 *
 * Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT (NULL or invalid value; `req` was
 * already answered, was taken by another server, or is not a request id of this
 * service — the message says which); PLEXUS_E_NO_SPACE; PLEXUS_E_REMOVED;
 * PLEXUS_E_BAD_HANDLE; PLEXUS_E_CORRUPT; PLEXUS_E_UNAVAILABLE, PLEXUS_E_REGION_LOST.
 */
enum plexus_status plexus_service_reply(struct plexus_service s,
                                        struct plexus_request req,
                                        const struct plexus_value *response);

/**
 * Answers request `req` with an error: its caller's plexus_service_call returns
 * PLEXUS_E_SERVICE with `message` (UTF-8, copied; cut to 64 KiB) in
 * plexus_last_error(). Otherwise as plexus_service_reply.
 */
enum plexus_status plexus_service_reply_error(struct plexus_service s,
                                              struct plexus_request req,
                                              const char *message);

/**
 * The capacity of the service (most requests in it at once) into `*out`. Returns
 * PLEXUS_OK, PLEXUS_E_INVALID_ARGUMENT (NULL), PLEXUS_E_BAD_HANDLE.
 */
enum plexus_status plexus_service_capacity(struct plexus_service s, uint64_t *out);

/**
 * How many requests are in the service right now (placed, and not yet collected by
 * their callers: pending, being handled, or answered), a snapshot, into `*out`.
 * Returns PLEXUS_OK, PLEXUS_E_INVALID_ARGUMENT (NULL), PLEXUS_E_REMOVED,
 * PLEXUS_E_BAD_HANDLE, PLEXUS_E_UNAVAILABLE.
 */
enum plexus_status plexus_service_pending(struct plexus_service s, uint64_t *out);

/**
 * Opens the typed array `name` in `region`, creating it when `length > 0` and it is
 * missing.
 *
 * `length > 0`: created if absent with `length` elements of `dtype`, zero-filled,
 * 64-byte aligned, in blocks of `block_len` elements (0 = one block of the whole array;
 * above `length`: PLEXUS_E_INVALID_ARGUMENT), every block EMPTY (FULL with
 * PLEXUS_FULL); if present, its dtype, length and block length must all equal these
 * (else PLEXUS_E_INCOMPATIBLE; `block_len` 0 then asks for one block). `length == 0`:
 * opens an existing typed array only (PLEXUS_E_NOT_FOUND if absent); its dtype must
 * still be `dtype` (PLEXUS_E_INCOMPATIBLE), `block_len` 0 accepts whatever it has,
 * another value must match. `flags`: 0, PLEXUS_FULL, PLEXUS_EXCLUSIVE. Names are 1-96
 * bytes of UTF-8. The array takes its elements' bytes in the region plus 16 bytes per
 * block and about 200 bytes more. Opening the same typed array twice through one
 * region handle returns the same handle.
 *
 * Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND, PLEXUS_E_EXISTS, PLEXUS_E_INCOMPATIBLE,
 * PLEXUS_E_TYPE_MISMATCH (another kind of object has that name), PLEXUS_E_NO_SPACE,
 * PLEXUS_E_INVALID_ARGUMENT (NULL, bad name, unknown dtype or flags, block_len above
 * length), PLEXUS_E_BAD_HANDLE, PLEXUS_E_CORRUPT, PLEXUS_E_UNAVAILABLE (remote). On
 * failure `*out` is unchanged.
 */
enum plexus_status plexus_tarray_open(struct plexus_region region,
                                      const char *name,
                                      plexus_dtype dtype,
                                      uint64_t length,
                                      uint64_t block_len,
                                      uint32_t flags,
                                      struct plexus_tarray *out);

/**
 * Gives back one plexus_tarray_open of this handle (the handle stays valid until closed
 * as many times as it was opened; closing the region closes it at once). The array and
 * its blocks' states stay in the region; a block this process holds stays held until
 * it ends it or its region handle is closed. Pointers obtained through the handle are
 * invalid once it is closed. PLEXUS_E_BAD_HANDLE if already closed.
 */
enum plexus_status plexus_tarray_close(struct plexus_tarray t);

/**
 * The array's shape: any of `dtype`, `length` (elements), `block_len` (elements per
 * block) and `blocks` (block count) may be NULL. Never blocks. PLEXUS_E_BAD_HANDLE.
 */
enum plexus_status plexus_tarray_shape(struct plexus_tarray t,
                                       plexus_dtype *dtype,
                                       uint64_t *length,
                                       uint64_t *block_len,
                                       uint64_t *blocks);

/**
 * The elements in place: `*ptr` points at element 0 (64-byte aligned; cast it to the
 * dtype's C type), `*length` is the element count. Valid until this handle or its
 * region handle is closed. Reading and writing through it ignores the block states
 * (other processes see the writes at once; use the blocks or the atomics to order
 * them). Never blocks.
 *
 * Returns PLEXUS_OK; PLEXUS_E_UNSUPPORTED on a remote region (use plexus_tarray_read /
 * plexus_tarray_write); PLEXUS_E_INVALID_ARGUMENT (NULL), PLEXUS_E_REMOVED,
 * PLEXUS_E_BAD_HANDLE. On failure the outputs are unchanged.
 */
enum plexus_status plexus_tarray_data(struct plexus_tarray t, void **ptr, uint64_t *length);

/**
 * Begins writing block `block`: waits until it is EMPTY, makes it held by this process
 * for writing, and sets `*ptr` to its first element (the block's elements are
 * `block * block_len ..`, `block_len` of them, fewer in a short last block).
 *
 * Blocks until the block is EMPTY or the timeout passes (PLEXUS_FOREVER; 0: try once;
 * a positive value: nanoseconds); a waiter sleeps, it does not spin. A block held by a process that
 * died is given back (EMPTY) while waiting. End with plexus_tarray_end_write.
 *
 * Returns PLEXUS_OK; PLEXUS_TIMEOUT; PLEXUS_E_OUT_OF_RANGE (no such block);
 * PLEXUS_E_INVALID_ARGUMENT (NULL, negative timeout other than PLEXUS_FOREVER, the
 * block is already being written by this process); PLEXUS_E_UNSUPPORTED on a remote
 * region (use plexus_tarray_write_block); PLEXUS_E_REMOVED; PLEXUS_E_BAD_HANDLE. On
 * failure `*ptr` is unchanged.
 */
enum plexus_status plexus_tarray_begin_write(struct plexus_tarray t,
                                             uint64_t block,
                                             int64_t timeout_ns,
                                             void **ptr);

/**
 * Ends writing block `block` (begun by this process with plexus_tarray_begin_write):
 * leaves it FULL and wakes a process waiting to read it. Never blocks.
 *
 * Returns PLEXUS_OK; PLEXUS_E_INVALID_ARGUMENT (the block is not being written by this
 * process, e.g. it was ended already, or this process's region handle was closed and
 * the block given back); PLEXUS_E_OUT_OF_RANGE; PLEXUS_E_UNSUPPORTED (remote);
 * PLEXUS_E_REMOVED; PLEXUS_E_BAD_HANDLE.
 */
enum plexus_status plexus_tarray_end_write(struct plexus_tarray t, uint64_t block);

/**
 * Begins reading block `block`: waits until it is FULL, makes it held by this process
 * for reading, and sets `*ptr` to its first element. As plexus_tarray_begin_write
 * otherwise (a block whose reader died is FULL again while waiting). End with
 * plexus_tarray_end_read.
 *
 * Returns PLEXUS_OK; PLEXUS_TIMEOUT; PLEXUS_E_OUT_OF_RANGE; PLEXUS_E_INVALID_ARGUMENT
 * (NULL, bad timeout, already being read by this process); PLEXUS_E_UNSUPPORTED on a
 * remote region (use plexus_tarray_read_block); PLEXUS_E_REMOVED;
 * PLEXUS_E_BAD_HANDLE. On failure `*ptr` is unchanged.
 */
enum plexus_status plexus_tarray_begin_read(struct plexus_tarray t,
                                            uint64_t block,
                                            int64_t timeout_ns,
                                            const void **ptr);

/**
 * Ends reading block `block` (begun by this process with plexus_tarray_begin_read):
 * leaves it EMPTY and wakes a process waiting to write it. Never blocks. Statuses as
 * plexus_tarray_end_write.
 */
enum plexus_status plexus_tarray_end_read(struct plexus_tarray t, uint64_t block);

/**
 * Copies elements `first .. first + count` into `out` (`count` times the element size
 * bytes), ignoring block states. Works on every backend. Never blocks (beyond a
 * remote round trip).
 *
 * Returns PLEXUS_OK; PLEXUS_E_OUT_OF_RANGE (the range passes the end);
 * PLEXUS_E_INVALID_ARGUMENT (`out` NULL with count > 0); PLEXUS_E_REMOVED,
 * PLEXUS_E_BAD_HANDLE, PLEXUS_E_UNAVAILABLE / PLEXUS_E_REGION_LOST (remote).
 */
enum plexus_status plexus_tarray_read(struct plexus_tarray t,
                                      uint64_t first,
                                      uint64_t count,
                                      void *out);

/**
 * Copies `count` elements from `in` into elements `first ..`, ignoring block states.
 * Statuses as plexus_tarray_read (`in` NULL with count > 0: invalid).
 */
enum plexus_status plexus_tarray_write(struct plexus_tarray t,
                                       uint64_t first,
                                       uint64_t count,
                                       const void *in);

/**
 * Waits until block `block` is FULL, copies its elements into `out` (the block's
 * element count times the element size bytes: plexus_tarray_shape gives both), and
 * leaves it EMPTY, as one step: a concurrent or crashed process never sees it half
 * done. Works on every backend (the remote form of begin_read/end_read).
 *
 * Blocks as plexus_tarray_begin_read. Returns PLEXUS_OK; PLEXUS_TIMEOUT (nothing
 * copied); PLEXUS_E_OUT_OF_RANGE; PLEXUS_E_INVALID_ARGUMENT (NULL, bad timeout);
 * PLEXUS_E_REMOVED; PLEXUS_E_BAD_HANDLE; PLEXUS_E_UNAVAILABLE / PLEXUS_E_REGION_LOST.
 */
enum plexus_status plexus_tarray_read_block(struct plexus_tarray t,
                                            uint64_t block,
                                            int64_t timeout_ns,
                                            void *out);

/**
 * Waits until block `block` is EMPTY, copies the block's elements from `in`, and
 * leaves it FULL (waking a reader). Works on every backend. Statuses as
 * plexus_tarray_read_block.
 */
enum plexus_status plexus_tarray_write_block(struct plexus_tarray t,
                                             uint64_t block,
                                             int64_t timeout_ns,
                                             const void *in);

/**
 * Whether block `block` is FULL right now (`*full` true) or EMPTY (false); a block
 * being written counts as EMPTY, one being read as FULL. A snapshot. Never blocks.
 * PLEXUS_E_OUT_OF_RANGE, PLEXUS_E_INVALID_ARGUMENT (NULL), PLEXUS_E_REMOVED,
 * PLEXUS_E_BAD_HANDLE.
 */
enum plexus_status plexus_tarray_is_full(struct plexus_tarray t, uint64_t block, bool *full);

/**
 * Atomically reads element `index` of an I32, U32, I64 or U64 array into `*out`
 * (sign-extended for I32; a U64 element's bit pattern: cast it to uint64_t).
 *
 * The element atomics work as JavaScript's Atomics do across threads, across
 * processes and on every backend. Returns PLEXUS_OK; PLEXUS_E_TYPE_MISMATCH (another
 * dtype); PLEXUS_E_OUT_OF_RANGE; PLEXUS_E_INVALID_ARGUMENT (NULL); PLEXUS_E_REMOVED,
 * PLEXUS_E_BAD_HANDLE, PLEXUS_E_UNAVAILABLE (remote).
 */
enum plexus_status plexus_tarray_load(struct plexus_tarray t, uint64_t index, int64_t *out);

/**
 * Atomically stores `value` into element `index`. An I32 or U32 element takes values
 * in its range only (else PLEXUS_E_INVALID_ARGUMENT, nothing stored); I64 takes every
 * value, U64 takes the bit pattern (pass `(int64_t)u`). Does not wake waiters: call
 * plexus_tarray_notify after the change you want seen. Statuses as plexus_tarray_load.
 */
enum plexus_status plexus_tarray_store(struct plexus_tarray t, uint64_t index, int64_t value);

/**
 * Atomically adds `delta` to element `index`, modulo 2^bits of the element (so -1
 * decrements an unsigned element, and a sum past the end wraps), and sets `*old` (may
 * be NULL) to the value before. Statuses as plexus_tarray_load.
 */
enum plexus_status plexus_tarray_faa(struct plexus_tarray t,
                                     uint64_t index,
                                     int64_t delta,
                                     int64_t *old);

/**
 * Atomically stores `desired` into element `index` if it equals `expected`, and sets
 * `*old` (may be NULL) to the value before (equal to `expected` exactly when it
 * stored). Both values must fit the element as for plexus_tarray_store (else
 * PLEXUS_E_INVALID_ARGUMENT). Statuses as plexus_tarray_load.
 */
enum plexus_status plexus_tarray_cas(struct plexus_tarray t,
                                     uint64_t index,
                                     int64_t expected,
                                     int64_t desired,
                                     int64_t *old);

/**
 * Sleeps while element `index` equals `expected` (JavaScript's Atomics.wait, across
 * processes): returns PLEXUS_OK at once if it differs, else sleeps until a
 * plexus_tarray_notify on the element finds it changed (it checks again after every
 * wake and goes back to sleep while it is still equal) or the timeout passes
 * (PLEXUS_TIMEOUT; PLEXUS_FOREVER; 0: check once; a positive value: nanoseconds). A store without
 * a notify may not end the wait before the timeout. `expected` must fit the element
 * (else PLEXUS_E_INVALID_ARGUMENT). Other statuses as plexus_tarray_load, and
 * PLEXUS_E_REMOVED for a sleeper whose array or region is removed.
 */
enum plexus_status plexus_tarray_wait(struct plexus_tarray t,
                                      uint64_t index,
                                      int64_t expected,
                                      int64_t timeout_ns);

/**
 * Wakes up to `count` processes sleeping in plexus_tarray_wait on element `index`
 * (PLEXUS_NOTIFY_ALL: every one; 0: none) and sets `*woken` (may be NULL) to how many
 * it woke. On a remote region every sleeper of the element wakes and checks its value
 * (the extra ones sleep again), and `*woken` counts at most `count` of them. Statuses
 * as plexus_tarray_load.
 */
enum plexus_status plexus_tarray_notify(struct plexus_tarray t,
                                        uint64_t index,
                                        uint32_t count,
                                        uint32_t *woken);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* PLEXUS_H */
