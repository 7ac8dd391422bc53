// Type declarations of the plexus Node binding (index.js). The rules (values, timeouts,
// errors, async variants) are in index.js's header comment and docs/node.md.

/// <reference types="node" />

/**
 * A value plexus stores, as written from JavaScript:
 * undefined (UNDEFINED), null (NULL), boolean (BOOL), a safe integer or bigint (INT),
 * any other number or plexus.float(x) (FLOAT), string (STRING), Buffer / TypedArray /
 * DataView / ArrayBuffer (BYTES), plain objects and arrays (OBJECT, through JSON).
 * Inside an object, a function (a method too), a symbol (value or key), a Map, Set,
 * WeakMap or WeakSet throws a TypeError naming its path, from every writing call.
 */
export type Storable =
  | undefined
  | null
  | boolean
  | number
  | bigint
  | string
  | Float
  | ArrayBufferView
  | ArrayBuffer
  | StorableObject
  | StorableArray;
export interface StorableObject {
  [key: string]: unknown;
}
export type StorableArray = unknown[];

/**
 * A value as read back: INT is a number when it is a safe integer, else a bigint (always
 * a bigint in a region opened with `bigint: true`); BYTES is a Buffer; OBJECT a plain
 * object or array.
 */
export type Value = undefined | null | boolean | number | bigint | string | Buffer | { [key: string]: any } | any[];

/**
 * A timeout in milliseconds (fractions allowed): undefined, Infinity or -1 = without
 * limit, 0 = try once. Other negative numbers and NaN throw RangeError, other types
 * (null included) TypeError.
 */
export type Timeout = number | undefined;

/** Options of the async (`...Async`) calls; a plain number is the timeout. */
export interface WaitOptions {
  /** Milliseconds; omitted = without limit. */
  timeout?: Timeout;
  /** Aborts the wait (the promise rejects with signal.reason; a value already taken is returned instead). */
  signal?: AbortSignal;
}
export type AsyncWait = Timeout | WaitOptions;

export interface RegionOptions {
  /** 'openOrCreate' (default), 'create' (E_EXISTS if present), 'open' (existing only), 'recreate' (remove first). */
  mode?: 'openOrCreate' | 'create' | 'open' | 'recreate';
  /** Bytes, when creating (default 64 MiB; reserved at creation). */
  size?: number | bigint;
  /** File mode, when creating (default 0o600; applied exactly). */
  permissions?: number;
  /** Mode 'open': milliseconds to wait for the region to appear (default 0). */
  wait?: Timeout;
  /** Read every INT (and version / sequence number) as a bigint. */
  bigint?: boolean;
}

export interface RegionInfo {
  size: number;
  heapSize: number;
  heapUsed: number;
  heapFree: number;
  objectCount: number;
  attachedProcesses: number;
  formatVersion: number;
  regionId: bigint;
  createdUnixNs: bigint;
  created: Date;
}

/** What Region.check found (after the repair, with { repair: true }). */
export interface CheckReport {
  /** 'reclaimable': only leaked heap blocks and stale entries of dead processes remain. */
  verdict: 'consistent' | 'reclaimable' | 'corrupt';
  /** Live processes attached (the check is exact when 0). */
  liveProcesses: number;
  deadProcesses: number;
  /** Locks held by dead processes. */
  deadLocks: number;
  leakedBlocks: number;
  leakedBytes: number;
  staleEntries: number;
  /** Damage found (non-zero exactly when corrupt). */
  problems: number;
  repairs: number;
  /** Leaks left alone: another process attached, or the region is corrupt. */
  repairSkipped: boolean;
  heapUsed: number;
  /** The human-readable report, one finding per line. */
  text: string;
}

/** A failed plexus call. */
export class PlexusError extends Error {
  /** The C status name: 'PLEXUS_E_NOT_FOUND', 'PLEXUS_TIMEOUT', ... */
  readonly code: string;
  /** The C status number. */
  readonly status: number;
  /** Set by pushMany and pushManyAsync when not all values went in: how many did (the first ones). */
  readonly pushed?: number;
}
/** A wait ended before its condition held (PLEXUS_TIMEOUT). */
export class TimeoutError extends PlexusError {}
/** The queue or bus was shut down (and drained): PLEXUS_CLOSED. */
export class ClosedError extends PlexusError {}
/**
 * A remote region's server could not be reached, or did not answer within the call's
 * time (PLEXUS_E_UNAVAILABLE). The same handles work again once it is back.
 */
export class UnavailableError extends PlexusError {}
/**
 * A remote region's state vanished from the server: flushed, or the server restarted or
 * failed over without its data (PLEXUS_E_REGION_LOST). Open the region again.
 */
export class RegionLostError extends PlexusError {}
/**
 * The region was removed (Region.remove, or a recreate of its name), or the object was
 * (region.removeObject), while this handle was open (PLEXUS_E_REMOVED): every handle of it
 * throws this and waits in it end with it. Open the name again to reach the region or
 * object that has it now.
 */
export class RemovedError extends PlexusError {}
/** The call cannot exist on this backend (or build); the message names the alternative (PLEXUS_E_UNSUPPORTED). */
export class UnsupportedError extends PlexusError {}

/** A number stored as FLOAT even when integral. */
export class Float {
  constructor(value: number);
  readonly value: number;
  valueOf(): number;
}
export function float(value: number): Float;

export class Region {
  private constructor();
  /**
   * Opens or creates the region `name` (no '/': volatile; with '/': a persistent file;
   * 'redis://[user:password@]host[:port]/NAME[?db=N&lease_ms=N&timeout_ms=N]' or
   * 'rediss://...': a remote region on a Redis server, where `size` and `permissions`
   * do not apply).
   */
  static open(name: string, options?: RegionOptions): Region;
  static create(name: string, options?: Omit<RegionOptions, 'mode'>): Region;
  static openExisting(name: string, options?: Omit<RegionOptions, 'mode'>): Region;
  static recreate(name: string, options?: Omit<RegionOptions, 'mode'>): Region;
  /** Without blocking the event loop; mode 'open' by default, waiting `wait` ms (default: without limit). */
  static openAsync(name: string, options?: RegionOptions & { signal?: AbortSignal }): Promise<Region>;
  /**
   * Removes the region: its handles, in every process, throw RemovedError from their next
   * call and waits in it end with it. E_NOT_FOUND if absent unless { force: true }. True
   * if removed.
   */
  static remove(name: string, options?: { force?: boolean }): boolean;
  /**
   * The region's named objects, sorted by name: each object that exists throughout the
   * call once, whatever other processes create meanwhile.
   */
  objects(): Array<{ name: string; kind: 'array' | 'map' | 'queue' | 'stack' | 'bus' | 'mutex' | 'barrier' | 'semaphore' | 'service'; shape: number }>;
  /** The region checker, without opening the region; { repair: true } also cleans up. */
  static check(name: string, options?: { repair?: boolean }): CheckReport;

  readonly name: string;
  readonly bigint: boolean;
  readonly handleId: number | bigint;
  readonly isOpen: boolean;
  close(): void;
  flush(): void;
  info(): RegionInfo;
  waitObject(name: string, timeout?: Timeout): void;
  waitObjectAsync(name: string, options?: AsyncWait): Promise<void>;
  /**
   * Removes the object `name` (any kind) for every process: its handles, in every process,
   * throw RemovedError from their next call (close() still works) and waits in it end with
   * it; the name can be used again at once, for any kind. E_NOT_FOUND if no object has
   * that name unless { force: true }. True if removed. A queue or bus that was shut down
   * starts again this way: remove it, then open it again with its capacity.
   */
  removeObject(name: string, options?: { force?: boolean }): boolean;

  array(name: string, length?: number | bigint, options?: { full?: boolean; exclusive?: boolean }): SharedArray;
  /** options.initial: stored (keys FULL, version 1) only if this call creates the map, atomically. */
  map(
    name: string,
    capacity?: number | bigint,
    options?: { full?: boolean; exclusive?: boolean; initial?: { [key: string]: Storable } },
  ): SharedMap;
  queue(name: string, capacity?: number | bigint, options?: { lifo?: boolean; exclusive?: boolean }): Queue;
  bus(name: string, capacity?: number | bigint, options?: { exclusive?: boolean }): Bus;
  mutex(name: string): Mutex;
  barrier(name: string, parties?: number): Barrier;
  semaphore(name: string, permits?: number): Semaphore;
  /** Opens (or, with `length > 0`, creates) the typed array `name`. */
  tarray<D extends Dtype>(
    name: string,
    dtype: D,
    length?: number | bigint,
    options?: { blockLen?: number | bigint; full?: boolean; exclusive?: boolean },
  ): SharedTypedArray<D>;
  /** The service `name` with room for `capacity` requests (0 opens an existing one). */
  service(name: string, capacity?: number, options?: { exclusive?: boolean }): Service;
  [Symbol.dispose](): void;
}

export type Dtype = 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'i64' | 'u64' | 'f32' | 'f64';
/** The JavaScript TypedArray of each dtype. */
export interface DtypeView {
  i8: Int8Array;
  u8: Uint8Array;
  i16: Int16Array;
  u16: Uint16Array;
  i32: Int32Array;
  u32: Uint32Array;
  i64: BigInt64Array;
  u64: BigUint64Array;
  f32: Float32Array;
  f64: Float64Array;
}
/** Element values of the atomics: BigInt for the 64-bit dtypes. */
type AtomicValue<D extends Dtype> = D extends 'i64' | 'u64' ? bigint : number;

/**
 * Numbers of one dtype in shared memory, seen in place (`array`), handed between
 * processes block by block. Views stay valid while the object and its Region are open.
 */
export class SharedTypedArray<D extends Dtype = Dtype> extends PlexusObject {
  private constructor();
  readonly dtype: D;
  readonly length: number;
  readonly blockLen: number;
  readonly blocks: number;
  /** The whole array in place (PLEXUS_E_UNSUPPORTED on a remote region). */
  readonly array: DtypeView[D];
  data(): DtypeView[D];
  beginWrite(block: number | bigint, timeout?: Timeout): DtypeView[D];
  endWrite(block: number | bigint): void;
  beginRead(block: number | bigint, timeout?: Timeout): DtypeView[D];
  endRead(block: number | bigint): void;
  withWriteBlock<T>(block: number | bigint, fn: (view: DtypeView[D]) => T, timeout?: Timeout): T;
  withReadBlock<T>(block: number | bigint, fn: (view: DtypeView[D]) => T, timeout?: Timeout): T;
  withWriteBlockAsync<T>(block: number | bigint, fn: (view: DtypeView[D]) => T | Promise<T>, options?: WaitOptions): Promise<T>;
  withReadBlockAsync<T>(block: number | bigint, fn: (view: DtypeView[D]) => T | Promise<T>, options?: WaitOptions): Promise<T>;
  isFull(block: number | bigint): boolean;
  read(first?: number, count?: number): DtypeView[D];
  write(first: number, values: DtypeView[D] | ArrayLike<number | bigint>): void;
  readBlock(block: number | bigint, timeout?: Timeout): DtypeView[D];
  writeBlock(block: number | bigint, values: DtypeView[D] | ArrayLike<number | bigint>, timeout?: Timeout): void;
  /** readBlock without blocking the event loop. */
  readBlockAsync(block: number | bigint, options?: WaitOptions): Promise<DtypeView[D]>;
  /** writeBlock without blocking the event loop. */
  writeBlockAsync(block: number | bigint, values: DtypeView[D] | ArrayLike<number | bigint>, options?: WaitOptions): Promise<void>;
  load(index: number | bigint): AtomicValue<D>;
  store(index: number | bigint, value: number | bigint): void;
  faa(index: number | bigint, delta: number | bigint): AtomicValue<D>;
  cas(index: number | bigint, expected: number | bigint, desired: number | bigint): AtomicValue<D>;
  wait(index: number | bigint, expected: number | bigint, timeout?: Timeout): 'ok' | 'timed-out';
  waitAsync(index: number | bigint, expected: number | bigint, options?: WaitOptions): Promise<'ok' | 'timed-out'>;
  notify(index: number | bigint, count?: number): number;
}

declare abstract class PlexusObject {
  readonly region: Region;
  readonly name: string;
  readonly handleId: number | bigint;
  /** Gives back this handle (every kind; never changes the object; later calls through it throw E_BAD_HANDLE). */
  close(): void;
  [Symbol.dispose](): void;
}

/** The element calls arrays (K = index) and maps (K = key) share. */
declare abstract class Cells<K> extends PlexusObject {
  get(key: K): Value;
  set(key: K, value: Storable): void;
  readFE(key: K, timeout?: Timeout): Value;
  readFF(key: K, timeout?: Timeout): Value;
  writeEF(key: K, value: Storable, timeout?: Timeout): void;
  writeXF(key: K, value: Storable): void;
  writeXE(key: K, value: Storable): void;
  setTag(key: K, full: boolean): void;
  isFull(key: K): boolean;
  readRW(key: K, timeout?: Timeout): Value;
  releaseRW(key: K): void;
  /** Atomic `+=` (JavaScript `+`); returns the previous value. */
  faa(key: K, delta: Storable): Value;
  /** True when it swapped (same type and value as `expected`). */
  cas(key: K, expected: Storable, desired: Storable): boolean;
  /** Like cas, but returns the previous value. */
  compareExchange(key: K, expected: Storable, desired: Storable): Value;
  exchange(key: K, value: Storable): Value;
  /**
   * Atomically applies a MongoDB-style update document (`$set`, `$unset`, `$inc`, `$mul`,
   * `$min`, `$max`, `$push` with `$each`, `$pull`, `$addToSet` on dotted paths such as
   * `'stats.hits'` or `'items.2.name'`) and returns the value after it. An undefined
   * element counts as `{}`; tag unchanged; version +1. All or nothing: throws
   * PLEXUS_E_INVALID_ARGUMENT (bad document) or PLEXUS_E_TYPE_MISMATCH (the value does not
   * fit), the element untouched.
   */
  patch(key: K, update: { [op: string]: { [path: string]: Storable } }): Value;
  version(key: K): number | bigint;
  waitChange(key: K, version: number | bigint, timeout?: Timeout): number | bigint;

  readFEAsync(key: K, options?: AsyncWait): Promise<Value>;
  readFFAsync(key: K, options?: AsyncWait): Promise<Value>;
  readRWAsync(key: K, options?: AsyncWait): Promise<Value>;
  writeEFAsync(key: K, value: Storable, options?: AsyncWait): Promise<void>;
  waitChangeAsync(key: K, version: number | bigint, options?: AsyncWait): Promise<number | bigint>;
  /** New versions as the element changes, until options.signal aborts (versions only: see watch). */
  changes(key: K, options?: { since?: number | bigint; signal?: AbortSignal }): AsyncGenerator<number | bigint, void>;
  /** Waits until the version differs from `version`; the value with the version it belongs to. Blocks this thread. */
  watchOnce(key: K, version?: number | bigint, timeout?: Timeout): Watched;
  /** watchOnce without blocking the event loop. */
  watchAsync(key: K, version?: number | bigint, options?: AsyncWait): Promise<Watched>;
  /**
   * `for await (const { value, version } of x.watch(key))`: the current value, then every
   * new one (the last one always; bursts coalesced). Ends when options.signal aborts or
   * options.timeout ms pass without a change.
   */
  watch(key: K, options?: { since?: number | bigint; signal?: AbortSignal; timeout?: number }): AsyncGenerator<Watched, void>;
  /**
   * Calls `callback(value, version)` with the current value and every new one; returns
   * the function that unsubscribes. Shares one waiting call per region; does not keep
   * the process alive unless options.ref is true. A callback that throws ends its
   * observer (the error goes to options.onError).
   */
  observe(
    key: K,
    callback: (value: Value, version: number | bigint) => void,
    options?: { ref?: boolean; onError?: (err: unknown) => void },
  ): () => void;
  close(): void;
}

/** A value and the version it belongs to (watch, watchOnce, watchAsync). */
export interface Watched {
  value: Value;
  version: number | bigint;
}

/** One key changed after a map's change count (SharedMap.changesSince). */
export interface MapChange {
  key: string;
  /** Its version now (0 when removed). */
  version: number | bigint;
  /** The map's change count at the key's last change. */
  counter: number | bigint;
  removed: boolean;
}

export class SharedArray extends Cells<number | bigint> {
  private constructor();
  readonly length: number;
  [Symbol.iterator](): Generator<Value, void>;
}

export class SharedMap extends Cells<string> {
  private constructor();
  readonly size: number;
  readonly capacity: number;
  has(key: string): boolean;
  /** True if the key was present. */
  delete(key: string): boolean;
  keys(): Generator<string, void>;
  values(): Generator<Value, void>;
  entries(): Generator<[string, Value], void>;
  [Symbol.iterator](): Generator<[string, Value], void>;
  /** The map's change count: +1 per change of any key (UnsupportedError on maps made by older versions). */
  changeCount(): number | bigint;
  /** Waits until the change count differs from `counter`; returns it. Blocks this thread. */
  waitChanges(counter: number | bigint, timeout?: Timeout): number | bigint;
  waitChangesAsync(counter: number | bigint, options?: AsyncWait): Promise<number | bigint>;
  /** The keys changed after `counter` (0: every key present), and the removals still recorded. */
  changesSince(counter?: number | bigint): MapChange[];
  /** `for await (const { counter, changes } of map.watchMap())`: rounds of changes as they come. */
  watchMap(options?: { since?: number | bigint; signal?: AbortSignal; timeout?: number }): AsyncGenerator<
    { counter: number | bigint; changes: MapChange[] },
    void
  >;
}

export class Queue extends PlexusObject {
  private constructor();
  push(value: Storable, timeout?: Timeout): void;
  pop(timeout?: Timeout): Value;
  pushAsync(value: Storable, options?: AsyncWait): Promise<void>;
  popAsync(options?: AsyncWait): Promise<Value>;
  /**
   * Appends `values` in order with one call (a FIFO batch stays together), waiting for
   * room. When not all went in, throws an error (TimeoutError, ClosedError, ...) whose
   * `pushed` says how many did: always the first ones.
   */
  pushMany(values: Storable[], timeout?: Timeout): void;
  /**
   * pushMany without blocking the event loop. The batch keeps its place in a FIFO queue
   * while it waits for room: it waits in one piece on a worker thread of its own (not on
   * libuv's pool, not in slices). When not all went in, rejects as pushMany throws (the
   * error's `pushed` says how many went in). An abort ends the wait within about 10 ms:
   * it rejects with the signal's reason when no value went in, else with an AbortError
   * (`code` 'ABORT_ERR', `cause` the reason) whose `pushed` says how many did (they stay
   * in the queue).
   */
  pushManyAsync(values: Storable[], options?: AsyncWait): Promise<void>;
  /** Removes 1 to `max` values with one call: waits for one, then takes what is there. */
  popMany(max: number, timeout?: Timeout): Value[];
  /** popMany without blocking the event loop. */
  popManyAsync(max: number, options?: AsyncWait): Promise<Value[]>;
  readonly size: number;
  readonly capacity: number;
  /** Whether some process shut the queue down. */
  readonly isShutdown: boolean;
  /**
   * Ends the queue for every process: pushes throw ClosedError, pops drain then throw it.
   * It stays shut down; to start it again, region.removeObject(name) and open it again
   * (the old queue's handles, in every process, then throw RemovedError).
   */
  shutdown(): void;
  /** Gives back the handle; the queue and its values stay. */
  close(): void;
  [Symbol.iterator](): Generator<Value, void>;
  iterate(options?: { signal?: AbortSignal }): AsyncGenerator<Value, void>;
  [Symbol.asyncIterator](): AsyncGenerator<Value, void>;
}

export interface Message {
  value: Value;
  /** 1, 2, 3, ...; a jump of more than one means messages were missed. */
  seq: number | bigint;
}

/** A bus message with its topic. */
export interface BusEvent {
  topic: string;
  value: Value;
  seq: number | bigint;
}

/** A Bus.on listener: called with the bus as `this`. */
export type EventListener = (this: Bus, value: Value, event: { topic: string; seq: number | bigint }) => void;

/** Longest topic or prefix, in bytes of UTF-8 (112). */
export const MAX_TOPIC_LEN: number;

export class Bus extends PlexusObject {
  private constructor();
  publish(value: Storable): number | bigint;
  /**
   * Publishes the values in order as consecutive messages with one call (no other
   * publisher's message between them); the first one's sequence number (0 for an empty
   * array). An unstorable value anywhere throws and publishes nothing.
   */
  publishMany(values: Storable[]): number | bigint;
  /** With `prefix`: only messages whose topic starts with it. */
  subscribe(options?: 'now' | 'oldest' | { from?: 'now' | 'oldest'; prefix?: string }): Subscription;
  /** Publishes with a topic (at most MAX_TOPIC_LEN bytes of UTF-8; '' = plain); its sequence number. */
  emit(topic: string, value: Storable): number | bigint;
  /** Calls `listener` for each message from now on whose topic starts with `prefix`, on the event loop. */
  on(prefix: string, listener: EventListener): this;
  once(prefix: string, listener: EventListener): this;
  off(prefix: string, listener: EventListener): this;
  removeListener(prefix: string, listener: EventListener): this;
  removeAllListeners(prefix?: string): this;
  listenerCount(prefix?: string): number;
  /** Keep the process alive while this bus has listeners (default: not). */
  ref(): this;
  unref(): this;
  /** Messages whose topic starts with `prefix`, without blocking the event loop. */
  events(prefix?: string, options?: { from?: 'now' | 'oldest'; signal?: AbortSignal }): AsyncGenerator<BusEvent, void>;
  /** Whether some process shut the bus down. */
  readonly isShutdown: boolean;
  readonly capacity: number;
  readonly nextSeq: number | bigint;
  /**
   * Ends the bus for every process: publish throws ClosedError, subscribers drain then end.
   * It stays shut down; to start it again, region.removeObject(name) and open it again
   * (the old bus's handles and subscriptions, in every process, then throw RemovedError).
   */
  shutdown(): void;
  /** Gives back the handle; the bus and its subscriptions stay. */
  close(): void;
}

export class Subscription extends PlexusObject {
  private constructor();
  next(timeout?: Timeout): Message;
  nextAsync(options?: AsyncWait): Promise<Message>;
  /** The next message with its topic ('' for a plain one). */
  nextEvent(timeout?: Timeout): BusEvent;
  nextEventAsync(options?: AsyncWait): Promise<BusEvent>;
  iterateEvents(options?: { signal?: AbortSignal }): AsyncGenerator<BusEvent, void>;
  close(): void;
  [Symbol.iterator](): Generator<Message, void>;
  iterate(options?: { signal?: AbortSignal }): AsyncGenerator<Message, void>;
  [Symbol.asyncIterator](): AsyncGenerator<Message, void>;
}

export class Mutex extends PlexusObject {
  private constructor();
  /** True if the previous holder died holding it. */
  lock(timeout?: Timeout): boolean;
  tryLock(): boolean;
  lockAsync(options?: AsyncWait): Promise<boolean>;
  unlock(): void;
  readonly locked: boolean;
  withLock<T>(fn: (ownerDied: boolean) => T, timeout?: Timeout): T;
  withLockAsync<T>(fn: (ownerDied: boolean) => T | Promise<T>, options?: AsyncWait): Promise<T>;
  close(): void;
}

export class Barrier extends PlexusObject {
  private constructor();
  /** True for the last party to arrive in the round. */
  wait(timeout?: Timeout): boolean;
  waitAsync(options?: AsyncWait): Promise<boolean>;
  readonly parties: number;
  close(): void;
}

export class Semaphore extends PlexusObject {
  private constructor();
  acquire(timeout?: Timeout): void;
  tryAcquire(): boolean;
  acquireAsync(options?: AsyncWait): Promise<void>;
  release(): void;
  readonly permits: number;
  readonly available: number;
  readonly held: number;
  close(): void;
}

/** Status numbers by short name (status.TIMEOUT === 1, status.E_NOT_FOUND === 102). */
export const status: Readonly<{
  OK: 0;
  TIMEOUT: 1;
  CLOSED: 2;
  OWNER_DEAD: 3;
  E_INVALID_ARGUMENT: 100;
  E_BAD_HANDLE: 101;
  E_NOT_FOUND: 102;
  E_EXISTS: 103;
  E_TYPE_MISMATCH: 104;
  E_OUT_OF_RANGE: 105;
  E_NO_SPACE: 106;
  E_INCOMPATIBLE: 107;
  E_CORRUPT: 108;
  E_PERMISSION: 109;
  E_OS: 110;
  E_BUFFER_TOO_SMALL: 111;
  E_REMOVED: 112;
  E_UNAVAILABLE: 113;
  E_REGION_LOST: 114;
  E_UNSUPPORTED: 115;
  E_SERVICE: 116;
  E_INTERNAL: 199;
}>;
export function statusName(status: number): string;
/** A region name as messages show it: a remote name's password replaced by '***'. */
export function shownName(name: string): string;
/** Locks this process took over from dead owners (a diagnostic). */
export function recoveredLocks(): number | bigint;
/**
 * The libplexus file in use: an absolute path, or just 'libplexus.so' when the system's
 * loader found it (docs/node.md, "Installing and finding the library").
 */
export const libraryPath: string;
/** Its version, "major.minor.patch". */
export const libraryVersion: string;
/** plexus_type names by number. */
export const TYPE_NAMES: readonly string[];

// ---- services ----

/** The service's handler replied with an error (PLEXUS_E_SERVICE); `handlerMessage` is its message, exactly. */
export class ServiceError extends PlexusError {
  readonly handlerMessage: string;
}
/** The process that took a service request died before replying (PLEXUS_OWNER_DEAD); call again to retry. */
export class OwnerDeadError extends PlexusError {}

/** A request taken with next()/nextAsync(): answer it once, with reply or replyError. */
export class ServiceRequest {
  private constructor();
  readonly service: Service;
  readonly id: bigint;
  readonly value: Value;
  reply(response: Storable): void;
  replyError(message: string): void;
}

/** What serve() returns: call it to stop serving (resolves to the number of requests answered). */
export interface StopServing {
  (): Promise<number>;
  /** Settles when the loop ends (rejected with the error that ended it early, if any). */
  readonly finished: Promise<number>;
}

/**
 * A request/response service. call/callAsync throw ServiceError (the handler failed),
 * OwnerDeadError (the server died holding the request) or TimeoutError (no reply in
 * time: the request is withdrawn). callAsync waits on a worker thread of its own (not on
 * libuv's pool); an AbortSignal withdraws the request.
 */
export class Service extends PlexusObject {
  private constructor();
  call(request: Storable, timeout?: Timeout): Value;
  callAsync(request: Storable, options?: AsyncWait): Promise<Value>;
  next(timeout?: Timeout): ServiceRequest;
  nextAsync(options?: AsyncWait): Promise<ServiceRequest>;
  reply(id: bigint | number, response: Storable): void;
  replyError(id: bigint | number, message: string): void;
  /** Answers requests with handler(value, request) until stopped; a throw becomes an error reply. */
  serve(
    handler: (value: Value, request: ServiceRequest) => Storable | Promise<Storable>,
    options?: { concurrency?: number; signal?: AbortSignal },
  ): StopServing;
  readonly capacity: number;
  readonly pending: number;
  close(): void;
}
