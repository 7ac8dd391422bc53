'use strict';
// benches/peers/ems/bench.js: EMS (Extended Memory Semantics, npm `ems`) against plexus's
// Node binding and plexus's C API, interleaved runs. One JSON line per measurement on
// stdout (the format of benches/peers/common.hpp), read by benches/peers/analyze.py.
//
//   node bench.js --peers BIN [--runs N] [--rt N] [--ops N] [--paced-n N] [--interval-us U] [--samples DIR]
//
// Cases (integers; EMS and plexus elements both start with the full/empty tag empty):
//   rt_fe  2 processes: the parent writeEF(0, i), the child readFE(0) and writeEF(1, i),
//          the parent readFE(1); ns per round trip
//   faa    1 process: faa(0, 1); ns per call
//   xf_ff  1 process: writeXF(1, i) then readFF(1); ns per pair
//   paced  the parent writeEF(0, clock) every interval_us, the child blocks in readFE:
//          the child's CPU use and its wake-up latency
// Methods: ems, plexus-node (bindings/node), plexus-c (benches/peers/build/peers --group
// plexusc, a C++ program calling the C API; no paced row, see the pipe group for that).
const fs = require('fs');
const path = require('path');
const { fork, execFileSync } = require('child_process');

const ROOT = path.resolve(__dirname, '../../..');
const plexus = require(path.join(ROOT, 'bindings/node'));
const MAIN_DOMAIN = `/pxpeers-ems-main-${process.pid}`;
const ems = require('ems')(1, false, 'user', MAIN_DOMAIN);
process.on('exit', () => fs.rmSync(`/dev/shm${MAIN_DOMAIN}`, { force: true }));

const now = () => Number(process.hrtime.bigint());
// EMS keeps integers as 32 bits (2**31 + 5 reads back as -2147483643), so the paced
// messages carry the clock modulo 2**31 ns and the latency is taken modulo 2**31 too.
const WRAP = 2 ** 31;
const stamp = () => now() % WRAP;
const since = (s) => (stamp() - s + WRAP) % WRAP;
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const sleepMs = (() => {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return (ms) => {
    if (ms > 0) Atomics.wait(cell, 0, 0, ms);
  };
})();

function quantile(xs, q) {
  if (!xs.length) return 0;
  const v = Float64Array.from(xs).sort();
  const pos = q * (v.length - 1);
  const i = Math.floor(pos);
  return i + 1 >= v.length ? v[v.length - 1] : v[i] + (v[i + 1] - v[i]) * (pos - i);
}

function emitLat(o, cas, method, run, xs, unit) {
  console.log(
    JSON.stringify({
      group: 'ems', case: cas, method, run, kind: 'lat', unit,
      value: +quantile(xs, 0.5).toFixed(1), p99: +quantile(xs, 0.99).toFixed(1), n: xs.length,
    }),
  );
  if (o.samples && run === o.runs - 1) {
    const stride = Math.max(1, Math.floor(xs.length / 20000));
    const out = [];
    for (let i = 0; i < xs.length; i += stride) out.push(Math.round(xs[i]));
    fs.writeFileSync(path.join(o.samples, `ems__${cas}__${method}.txt`), out.join('\n') + '\n');
  }
}

// ------------------------------------------------------------------ the two libraries

/** The same four calls on either library, on an array of `n` elements tagged empty. */
function openCells(method, name, create, n) {
  if (method === 'ems') {
    const a = ems.new({
      dimensions: [n], heapSize: 0, filename: `/dev/shm/${name}`,
      useExisting: !create, persist: true, doSetFEtags: create, setFEtags: 'empty',
    });
    return {
      writeEF: (i, v) => a.writeEF(i, v),
      readFE: (i) => a.readFE(i),
      writeXF: (i, v) => a.writeXF(i, v),
      readFF: (i) => a.readFF(i),
      faa: (i, d) => a.faa(i, d),
      close: () => {},
      remove: () => fs.rmSync(`/dev/shm/${name}`, { force: true }),
    };
  }
  const r = create
    ? plexus.Region.create(name, { size: 1 << 20 })
    : plexus.Region.openExisting(name, { wait: 10000 });
  const a = r.array('cells', n);
  return {
    writeEF: (i, v) => a.writeEF(i, v),
    readFE: (i) => a.readFE(i),
    writeXF: (i, v) => a.writeXF(i, v),
    readFF: (i) => a.readFF(i),
    faa: (i, d) => a.faa(i, d),
    close: () => r.close(),
    remove: () => {
      r.close();
      plexus.Region.remove(name);
    },
  };
}

// ------------------------------------------------------------------ the child

function child(method, name, shape, n) {
  const c = openCells(method, name, false, 4);
  c.writeEF(1, -1); // ready
  if (shape === 'rt') {
    for (let i = 0; i < n; i++) c.writeEF(1, c.readFE(0));
    c.close();
    return;
  }
  c.readFE(0); // the first message starts the clock
  const c0 = cpuUs();
  const w0 = now();
  const lat = [];
  for (let i = 0; i < n; i++) {
    lat.push(since(c.readFE(0)));
  }
  const cpu = cpuUs() - c0;
  const wall = (now() - w0) / 1e3;
  c.close();
  process.send({ cpu, wall, med: quantile(lat, 0.5), p99: quantile(lat, 0.99) }, () => process.exit(0));
}

function spawnChild(method, name, shape, n) {
  const ch = fork(__filename, ['--child', method, name, shape, String(n)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const done = new Promise((resolve, reject) => {
    let msg = null;
    ch.on('message', (m) => (msg = m));
    ch.on('exit', (code) => (code === 0 ? resolve(msg) : reject(new Error(`${method} child exited ${code}`))));
  });
  return done;
}

// ------------------------------------------------------------------ the measurements

let seq = 0;
const regionName = () => `pxpeers-ems-${process.pid}-${seq++}`;

async function rtFe(o, method, run) {
  const name = regionName();
  const c = openCells(method, name, true, 4);
  const total = o.warm + o.rt;
  const done = spawnChild(method, name, 'rt', total);
  if (c.readFE(1) !== -1) throw new Error('bad handshake');
  const lat = [];
  for (let i = 0; i < total; i++) {
    const t0 = now();
    c.writeEF(0, i);
    const v = c.readFE(1);
    const t1 = now();
    if (v !== i) throw new Error(`${method}: round trip ${i} came back as ${v}`);
    if (i >= o.warm) lat.push(t1 - t0);
  }
  await done;
  c.remove();
  emitLat(o, 'rt_fe', method, run, lat, 'ns/rt');
}

function single(o, method, run) {
  const name = regionName();
  const c = openCells(method, name, true, 4);
  c.writeXF(0, 0);
  for (const cas of ['faa', 'xf_ff']) {
    const lat = [];
    for (let i = 0; i < o.warm + o.ops; i++) {
      const t0 = now();
      if (cas === 'faa') c.faa(0, 1);
      else {
        c.writeXF(1, i);
        if (c.readFF(1) !== i) throw new Error(`${method}: readFF`);
      }
      const t1 = now();
      if (i >= o.warm) lat.push(t1 - t0);
    }
    emitLat(o, cas, method, run, lat, cas === 'faa' ? 'ns/op' : 'ns/pair');
  }
  c.remove();
}

async function paced(o, method, run) {
  const name = regionName();
  const c = openCells(method, name, true, 4);
  const done = spawnChild(method, name, 'paced', o.pacedN);
  if (c.readFE(1) !== -1) throw new Error('bad handshake');
  sleepMs(5);
  c.writeEF(0, stamp());
  let t = now();
  for (let i = 0; i < o.pacedN; i++) {
    t += o.intervalUs * 1000;
    let left;
    while ((left = t - now()) > 0) if (left > 200000) sleepMs((left - 100000) / 1e6);
    c.writeEF(0, stamp());
  }
  const r = await done;
  c.remove();
  console.log(
    JSON.stringify({
      group: 'ems', case: 'paced', method, run, kind: 'cpu', unit: '% CPU',
      value: +((100 * r.cpu) / r.wall).toFixed(2), cpu_us_per_msg: +(r.cpu / o.pacedN).toFixed(2),
      interval_us: o.intervalUs, wake_med_ns: Math.round(r.med), wake_p99_ns: Math.round(r.p99), n: o.pacedN,
    }),
  );
}

function plexusC(o, run) {
  const out = execFileSync(
    o.peers,
    ['--group', 'plexusc', '--runs', '1', '--rt', String(o.rt), '--warm', String(o.warm)].concat(
      o.samples && run === o.runs - 1 ? ['--samples', o.samples] : [],
    ),
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line);
    r.group = 'ems';
    r.run = run;
    console.log(JSON.stringify(r));
  }
  if (o.samples && run === o.runs - 1) {
    for (const cas of ['rt_fe', 'faa', 'xf_ff']) {
      const from = path.join(o.samples, `plexusc__${cas}__plexus-c.txt`);
      if (fs.existsSync(from)) fs.renameSync(from, path.join(o.samples, `ems__${cas}__plexus-c.txt`));
    }
  }
}

async function main() {
  const a = process.argv.slice(2);
  if (a[0] === '--child') return child(a[1], a[2], a[3], Number(a[4]));
  const o = { runs: 5, rt: 50000, warm: 2000, ops: 200000, pacedN: 300, intervalUs: 1000, samples: null, peers: null };
  for (let i = 0; i < a.length; i += 2) {
    const v = a[i + 1];
    switch (a[i]) {
      case '--runs': o.runs = Number(v); break;
      case '--rt': o.rt = Number(v); break;
      case '--warm': o.warm = Number(v); break;
      case '--ops': o.ops = Number(v); break;
      case '--paced-n': o.pacedN = Number(v); break;
      case '--interval-us': o.intervalUs = Number(v); break;
      case '--samples': o.samples = v; break;
      case '--peers': o.peers = v; break;
      default: throw new Error(`unknown option ${a[i]}`);
    }
  }
  console.error(`== ems vs plexus (node ${process.version}): ${o.runs} runs`);
  let methods = ['ems', 'plexus-node', 'plexus-c'];
  for (let run = 0; run < o.runs; run++) {
    console.error(`   run ${run + 1}/${o.runs}`);
    for (const m of methods) {
      if (m === 'plexus-c') {
        if (o.peers) plexusC(o, run);
        continue;
      }
      await rtFe(o, m, run);
      single(o, m, run);
    }
    for (const m of methods) if (m !== 'plexus-c') await paced(o, m, run);
    methods = methods.slice(1).concat(methods.slice(0, 1));
  }
}

main().catch((e) => {
  console.error(`ems bench: ${e.stack || e}`);
  process.exit(1);
});
