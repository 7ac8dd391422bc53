'use strict';
// Per-call cost of the Node binding (bindings/node) against the same C call made through
// koffi with no binding code around it, and against a JavaScript Map / Array doing the
// same work in the process's own memory. A benchmark, not a test: nothing is asserted.
//
//   node benches/bindings/node/bench.js [--runs N] [--batches N] [--batch N] [--out FILE]
//
// benches/bindings/node/run.sh builds the release library and runs this with
// PLEXUS_LIBRARY pointing at it. Method: every run measures every case once, in the same
// order (so the cases of one run are seconds apart and see the same machine); a case is
// `batches` timed batches of `batch` calls after a warm-up, and a batch's time divided
// by `batch` is one sample. A run's figure for a case is the median of its samples;
// p10/p90/p99 are percentiles of the samples (batch means, not single calls: one call is
// shorter than the clock's resolution). The ratio binding / bare koffi is taken per run,
// then the median and range over runs are reported.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const plexus = require(path.join(ROOT, 'bindings', 'node'));
const koffi = require(require.resolve('koffi', { paths: [path.join(ROOT, 'bindings', 'node')] }));

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return typeof fallback === 'number' ? Number(v) : v;
}
const RUNS = option('runs', 7);
const BATCHES = option('batches', 200);
const BATCH = option('batch', 1000);
const OUT = option('out', '');

// ------------------------------------------------------------------ the bare koffi calls
// Declared here as a user of koffi would, straight from include/plexus.h: the handle as
// its uint64_t id, the value as the address of a preallocated 32-byte plexus_value.
const lib = koffi.load(plexus.libraryPath);
const S = 'int';
const bare = {
  map_read: lib.func('plexus_map_read', S, ['uint64_t', 'const char *', 'void *']),
  map_write: lib.func('plexus_map_write', S, ['uint64_t', 'const char *', 'void *']),
  array_read: lib.func('plexus_array_read', S, ['uint64_t', 'uint64_t', 'void *']),
  array_write: lib.func('plexus_array_write', S, ['uint64_t', 'uint64_t', 'void *']),
  array_faa: lib.func('plexus_array_faa', S, ['uint64_t', 'uint64_t', 'void *', 'void *']),
  queue_push: lib.func('plexus_queue_push', S, ['uint64_t', 'void *', 'int64_t']),
  queue_pop: lib.func('plexus_queue_pop', S, ['uint64_t', 'void *', 'int64_t']),
  value_free: lib.func('plexus_value_free', 'void', ['void *']),
};
// koffi.address() is a bare number: it does not keep the buffer alive, and V8 collects a
// buffer no live code refers to even while its address is still in use. So each value
// is an object holding both, and the calls below go through that object. The buffers
// are allocated outside V8's heap (allocUnsafeSlow), so they never move.
const T_INT = 3;
function value(n) {
  const buf = Buffer.allocUnsafeSlow(32).fill(0);
  if (n !== undefined) {
    buf.writeInt32LE(T_INT, 0);
    buf.writeBigInt64LE(BigInt(n), 8);
  }
  return { buf, ptr: koffi.address(buf) };
}
const out = value();
const seven = value(7);
const one = value(1);

// ------------------------------------------------------------------ the region
const regionName = `bench-node-${process.pid}`;
const region = plexus.Region.recreate(regionName, { size: 16 << 20 });
process.on('exit', () => {
  try {
    plexus.Region.remove(regionName, { force: true });
  } catch {
    // already gone
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const map = region.map('m', 1024);
for (let i = 0; i < 300; i++) map.set(`key-${i}`, i); // 300 keys present, as in benches/README.md
const array = region.array('a', 64);
const queue = region.queue('q', 1024);
const KEY = 'key-17';
map.set(KEY, 42);
array.set(3, 42);
array.set(0, 0);
map.set('text', 'a short string value');
const jsMap = new Map();
for (let i = 0; i < 300; i++) jsMap.set(`key-${i}`, i);
const jsArray = new Array(64).fill(42);
const jsQueue = [];

const M = map.handleId;
const A = array.handleId;
const Q = queue.handleId;

// What each call returns goes into a sink, so that no call can be optimized away.
let sink = 0;
const use = (v) => {
  sink = (sink + (typeof v === 'number' ? v : 1)) | 0;
};

// [group, method, fn]; fn(i) makes one call (one push+pop pair for queues).
const CASES = [
  ['map get (INT)', 'plexus', () => use(map.get(KEY))],
  ['map get (INT)', 'bare koffi', () => use(bare.map_read(M, KEY, out.ptr))],
  ['map get (INT)', 'JS Map', () => use(jsMap.get(KEY))],
  ['map set (INT)', 'plexus', (i) => map.set(KEY, i)],
  ['map set (INT)', 'bare koffi', () => use(bare.map_write(M, KEY, seven.ptr))],
  ['map set (INT)', 'JS Map', (i) => jsMap.set(KEY, i)],
  ['array get (INT)', 'plexus', () => use(array.get(3))],
  ['array get (INT)', 'bare koffi', () => use(bare.array_read(A, 3, out.ptr))],
  ['array get (INT)', 'JS Array', () => use(jsArray[3])],
  ['array set (INT)', 'plexus', (i) => array.set(3, i)],
  ['array set (INT)', 'bare koffi', () => use(bare.array_write(A, 3, seven.ptr))],
  ['array set (INT)', 'JS Array', (i) => (jsArray[3] = i)],
  ['faa (INT +1)', 'plexus', () => use(array.faa(0, 1))],
  ['faa (INT +1)', 'bare koffi', () => use(bare.array_faa(A, 0, one.ptr, out.ptr))],
  ['faa (INT +1)', 'JS Array', () => use(jsArray[0]++)],
  ['queue push+pop (INT)', 'plexus', (i) => {
    queue.push(i, 0);
    use(queue.pop(0));
  }],
  ['queue push+pop (INT)', 'bare koffi', () => {
    bare.queue_push(Q, seven.ptr, 0);
    use(bare.queue_pop(Q, out.ptr, 0));
  }],
  ['queue push+pop (INT)', 'JS Array', (i) => {
    jsQueue.push(i);
    use(jsQueue.shift());
  }],
  ['map get (20-byte string)', 'plexus', () => use(map.get('text'))],
  ['map get (20-byte string)', 'bare koffi', () => {
    // The value read out owns memory: the bare call must free it too.
    use(bare.map_read(M, 'text', out.ptr));
    bare.value_free(out.ptr);
  }],
  ['map get (20-byte string)', 'JS Map', () => use(jsMap.get('text'))],
];
jsMap.set('text', 'a short string value');

function percentile(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))));
  return sorted[i];
}
const median = (xs) => percentile([...xs].sort((a, b) => a - b), 50);

function measure(fn) {
  for (let i = 0; i < BATCH * 20; i++) fn(i); // warm-up: optimized code, caches
  const samples = new Float64Array(BATCHES);
  let k = 0;
  for (let b = 0; b < BATCHES; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) fn(k++);
    samples[b] = Number(process.hrtime.bigint() - t0) / BATCH;
  }
  samples.sort();
  return { p10: percentile(samples, 10), p50: percentile(samples, 50), p90: percentile(samples, 90), p99: percentile(samples, 99) };
}

const runs = []; // runs[r][case index] = stats
for (let r = 0; r < RUNS; r++) {
  runs.push(CASES.map(([, , fn]) => measure(fn)));
  process.stderr.write(`run ${r + 1}/${RUNS} done\n`);
}

// ------------------------------------------------------------------ the report
const fmt = (ns) => (ns >= 100 ? ns.toFixed(0) : ns >= 10 ? ns.toFixed(1) : ns.toFixed(2));
const groups = [...new Set(CASES.map(([g]) => g))];
const lines = [];
const cpu = os.cpus()[0] ? os.cpus()[0].model : 'unknown CPU';
lines.push(`Node ${process.version}, koffi ${koffi.version}, ` +
  `${os.cpus().length} CPUs (${cpu}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end; ` +
  `${RUNS} runs × ${BATCHES} batches × ${BATCH} calls; library ${plexus.libraryPath}`);
lines.push('');
lines.push('| operation | method | ns per call: median (of run medians) | p10 | p90 | p99 | ratio to bare koffi: median (min–max over runs) |');
lines.push('|---|---|---|---|---|---|---|');
const summary = {};
for (const g of groups) {
  const idx = CASES.map((c, i) => (c[0] === g ? i : -1)).filter((i) => i >= 0);
  const bareIdx = idx.find((i) => CASES[i][1] === 'bare koffi');
  for (const i of idx) {
    const stat = (key) => median(runs.map((run) => run[i][key]));
    const ratios = runs.map((run) => run[i].p50 / run[bareIdx].p50).sort((a, b) => a - b);
    const ratio = i === bareIdx ? '1' : `${median(ratios).toFixed(2)}× (${ratios[0].toFixed(2)}–${ratios[ratios.length - 1].toFixed(2)})`;
    lines.push(`| ${g} | ${CASES[i][1]} | ${fmt(stat('p50'))} | ${fmt(stat('p10'))} | ${fmt(stat('p90'))} | ${fmt(stat('p99'))} | ${ratio} |`);
    summary[`${g} / ${CASES[i][1]}`] = { p50: stat('p50'), ratioToBare: median(ratios) };
  }
}
const report = `${lines.join('\n')}\n`;
process.stdout.write(report);
if (OUT) fs.writeFileSync(OUT, report);
if (sink === 0.5) console.log(sink); // keeps the sink alive
