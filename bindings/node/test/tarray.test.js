'use strict';
// Typed arrays: `.array` is a TypedArray of the dtype over the shared memory (no copy),
// block hand-offs (withWriteBlock / withReadBlock and the async forms), copies (and
// their async forms), atomics, wait/notify; a writer killed mid-block and a reader
// killed holding a block; a Node writer process and a Python writer process each hand
// 10,000 blocks of 64 KiB to this process through a ring of 8 blocks; remote regions.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { plexus, withRegion, runChild, skipLoudly, startRedis, uniqueName } = require('./helpers');

test('open rules, views in place, every dtype', async () => {
  await withRegion('tarray-open', (r) => {
    const views = { i8: Int8Array, u8: Uint8Array, i16: Int16Array, u16: Uint16Array, i32: Int32Array,
      u32: Uint32Array, i64: BigInt64Array, u64: BigUint64Array, f32: Float32Array, f64: Float64Array };
    for (const [dtype, View] of Object.entries(views)) {
      const t = r.tarray(`t-${dtype}`, dtype, 10, { blockLen: 4 });
      assert.equal(t.dtype, dtype);
      assert.deepEqual([t.length, t.blockLen, t.blocks], [10, 4, 3]);
      assert.ok(t.array instanceof View);
      assert.equal(t.array.length, 10);
      assert.equal(t.data(), t.array);
      const one = dtype.endsWith('64') && dtype[0] !== 'f' ? 1n : 1;
      t.array[2] = one;
      assert.equal(r.tarray(`t-${dtype}`, dtype).read(2, 1)[0], one); // another handle sees it
      t.write(0, View.from([one, one]));
      assert.deepEqual(Array.from(t.read(0, 3)), [one, one, one]);
    }
    assert.throws(() => r.tarray('t-f64', 'f32'), (e) => e.status === plexus.status.E_INCOMPATIBLE);
    assert.throws(() => r.tarray('t-f64', 'f64', 11, { blockLen: 4 }), (e) => e.status === plexus.status.E_INCOMPATIBLE);
    assert.throws(() => r.tarray('absent', 'f64'), (e) => e.status === plexus.status.E_NOT_FOUND);
    assert.throws(() => r.tarray('x', 'complex', 4), TypeError);
    assert.throws(() => r.tarray('x', 'f64', 4, { bogus: true }), TypeError);
    const t = r.tarray('t-f64', 'f64');
    t.close();
    assert.throws(() => t.isFull(0), (e) => e.status === plexus.status.E_BAD_HANDLE);
  });
});

test('blocks: withWriteBlock, withReadBlock, copies, timeouts, full flag', async () => {
  await withRegion('tarray-blocks', async (r) => {
    const t = r.tarray('t', 'u32', 6, { blockLen: 4 });
    assert.throws(() => t.beginRead(0, 0), plexus.TimeoutError);
    t.withWriteBlock(1, (v) => {
      assert.equal(v.length, 2);
      v.set([7, 8]);
      assert.equal(t.isFull(1), false);
    });
    assert.equal(t.isFull(1), true);
    assert.throws(() => t.writeBlock(1, [0, 0], 0), plexus.TimeoutError);
    assert.deepEqual(Array.from(t.withReadBlock(1, (v) => Array.from(v))), [7, 8]);
    t.writeBlock(0, [1, 2, 3, 4]);
    assert.deepEqual(Array.from(t.readBlock(0, 1000)), [1, 2, 3, 4]);
    assert.throws(() => t.endWrite(0), (e) => e.status === plexus.status.E_INVALID_ARGUMENT);
    assert.throws(() => t.beginWrite(2), (e) => e.status === plexus.status.E_OUT_OF_RANGE);
    // The async forms: a reader waits while a writer (later) fills the block.
    const reading = t.withReadBlockAsync(0, (v) => Array.from(v), { timeout: 10000 });
    await t.withWriteBlockAsync(0, async (v) => v.set([5, 6, 7, 8]));
    assert.deepEqual(await reading, [5, 6, 7, 8]);
    await assert.rejects(t.withReadBlockAsync(0, () => 0, { timeout: 30 }), plexus.TimeoutError);
    // The copying async forms wait on the thread pool: a timer of this event loop fills
    // (empties) the block they wait for.
    const copied = t.readBlockAsync(1, { timeout: 10000 });
    setTimeout(() => t.writeBlock(1, [9, 10], 0), 50);
    assert.deepEqual(Array.from(await copied), [9, 10]);
    t.writeBlock(1, [1, 1], 0);
    let consumed = null;
    setTimeout(() => (consumed = Array.from(t.readBlock(1, 0))), 50);
    await t.writeBlockAsync(1, [11, 12], { timeout: 10000 });
    assert.deepEqual(consumed, [1, 1]);
    assert.deepEqual(Array.from(t.readBlock(1, 0)), [11, 12]);
    await assert.rejects(t.readBlockAsync(1, { timeout: 30 }), plexus.TimeoutError);
    await assert.rejects(t.writeBlockAsync(1, [1]), RangeError);
    // An abort takes nothing: the block written afterwards is still there.
    const ac = new AbortController();
    const aborted = t.readBlockAsync(1, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 20);
    await assert.rejects(aborted, /stop/);
    t.writeBlock(1, [13, 14], 0);
    assert.deepEqual(Array.from(t.readBlock(1, 0)), [13, 14]);
    const f = r.tarray('full', 'u8', 4, { blockLen: 2, full: true });
    assert.equal(f.isFull(1), true);
  });
});

test('atomics and wait/notify', async () => {
  await withRegion('tarray-atomics', async (r) => {
    const c = r.tarray('c', 'u32', 4);
    c.store(0, 41);
    assert.equal(c.faa(0, 1), 41);
    assert.equal(c.cas(0, 42, 50), 42);
    assert.equal(c.cas(0, 42, 60), 50);
    c.faa(1, -1);
    assert.equal(c.load(1), 4294967295);
    assert.equal(c.wait(0, 49, 1000), 'ok');
    assert.equal(c.wait(0, 50, 20), 'timed-out');
    assert.equal(c.notify(0), 0);
    assert.throws(() => c.store(0, -1), (e) => e.status === plexus.status.E_INVALID_ARGUMENT);
    const big = r.tarray('big', 'u64', 2);
    big.store(0, (1n << 64n) - 1n);
    assert.equal(big.load(0), (1n << 64n) - 1n);
    assert.equal(big.faa(0, 1n), (1n << 64n) - 1n);
    assert.equal(big.load(0), 0n);
    const f = r.tarray('f', 'f64', 2);
    assert.throws(() => f.load(0), (e) => e.status === plexus.status.E_TYPE_MISMATCH);
    // waitAsync wakes on store + notify.
    const s = r.tarray('s', 'i32', 1);
    const waiting = s.waitAsync(0, 0, { timeout: 10000 });
    s.store(0, 1);
    s.notify(0);
    assert.equal(await waiting, 'ok');
  });
});

test('4 processes x 20,000 faa are exact', async () => {
  await withRegion('tarray-faa', async (r, name) => {
    const t = r.tarray('ctr', 'i64', 1);
    const kids = [0, 1, 2, 3].map(() => runChild(['tarray-faa', name, 'ctr', '20000']));
    for (const k of kids) assert.equal((await k.done).code, 0);
    assert.equal(t.load(0), 80000n);
  });
});

/** Starts child role tarray-hold (`how`: 'write' or 'read') on block 1; resolves once it holds the block. */
async function holdBlock(name, how) {
  const { child, done } = runChild(['tarray-hold', name, 'frames', how, '1']);
  const line = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.trim());
    });
    done.then((res) => reject(new Error(`the child ended first: ${JSON.stringify(res)}`)));
  });
  return { child, done, line };
}

test('a writer killed mid-block leaves it EMPTY (never read as FULL); a reader killed leaves it FULL', async () => {
  await withRegion('tarray-kill', async (r, name) => {
    const t = r.tarray('frames', 'f64', 4 * 1024, { blockLen: 1024 });
    const w = await holdBlock(name, 'write');
    assert.equal(w.line, 'holding 7 0');
    assert.throws(() => t.beginRead(1, 100), plexus.TimeoutError); // held by a live writer
    w.child.kill('SIGKILL');
    assert.equal((await w.done).signal, 'SIGKILL');
    assert.equal(t.isFull(1), false);
    // The half-written frame is never handed out as FULL: the reader's wait finds the
    // writer dead and takes the block back EMPTY.
    assert.throws(() => t.beginRead(1, 500), plexus.TimeoutError);
    await assert.rejects(t.withReadBlockAsync(1, () => 0, { timeout: 200 }), plexus.TimeoutError);
    assert.deepEqual([0, 1, 2, 3].map((b) => t.isFull(b)), [false, false, false, false]);
    const frame = Float64Array.from({ length: 1024 }, (_, k) => 3 + k);
    t.withWriteBlock(1, (v) => v.set(frame), 5000); // a new writer takes it
    assert.equal(t.isFull(1), true);

    const rd = await holdBlock(name, 'read');
    assert.equal(rd.line, 'holding 3 1026');
    assert.throws(() => t.beginWrite(1, 100), plexus.TimeoutError); // held by a live reader
    rd.child.kill('SIGKILL');
    assert.equal((await rd.done).signal, 'SIGKILL');
    assert.equal(t.isFull(1), true); // FULL again (or still named by the dead reader)
    const got = t.withReadBlock(1, (v) => Array.from(v), 5000); // read whole
    assert.deepEqual(got, Array.from(frame));
    assert.equal(t.isFull(1), false);
  });
});

async function handOff(t, writer) {
  const bl = t.blockLen;
  let bad = 0;
  for (let i = 0; i < 10000; i++) {
    t.withReadBlock(i % 8, (v) => {
      const base = i * bl;
      for (let k = 0; k < bl; k++) if (v[k] !== base + k) bad += 1;
    }, 60000);
  }
  const res = await writer;
  return { bad, res };
}

test('a Node writer process hands 10,000 blocks of 64 KiB to this one', async () => {
  await withRegion('tarray-ring-node', async (r, name) => {
    const t = r.tarray('frames', 'f64', 8 * 8192, { blockLen: 8192 });
    const { done } = runChild(['tarray-writer', name, 'frames', '10000']);
    const { bad, res } = await handOff(t, done);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /wrote 10000/);
    assert.equal(bad, 0);
  }, { size: 8 << 20 });
});

test('a Python writer process hands 10,000 blocks of 64 KiB to this one', async (t) => {
  const pkg = path.join(__dirname, '..', '..', 'python');
  const ext = path.join(pkg, 'plexus', '_plexus.abi3.so');
  if (!fs.existsSync(ext)) {
    skipLoudly(t, 'the Python extension is not built in bindings/python (cargo test --test python builds it)', 'build it first');
    return;
  }
  await withRegion('tarray-ring-py', async (r, name) => {
    const ta = r.tarray('frames', 'f64', 8 * 8192, { blockLen: 8192 });
    const code = [
      'import sys, plexus',
      "r = plexus.Region(sys.argv[1], mode='open')",
      "t = r.tarray('frames', 'f64')",
      'bl = t.block_len',
      'for i in range(10000):',
      '    with t.write_block(i % 8, timeout=60) as v:',
      '        mv = v if isinstance(v, memoryview) else memoryview(v)',
      '        base = i * bl',
      '        for k in range(bl): mv[k] = float(base + k)',
      "print('wrote 10000', flush=True)",
    ].join('\n');
    const child = spawn(process.env.PYTHON || 'python3', ['-c', code, name], {
      env: { ...process.env, PYTHONPATH: pkg },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const done = new Promise((resolve) => child.on('close', (c) => resolve({ code: c, stdout, stderr })));
    const { bad, res } = await handOff(ta, done);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /wrote 10000/);
    assert.equal(bad, 0);
  }, { size: 8 << 20 });
});

test('remote: copies and atomics work, the views are unsupported', async (t) => {
  const server = await startRedis(t);
  if (!server) return;
  const url = server.url(uniqueName('tarray-remote'));
  const r = plexus.Region.create(url);
  try {
    const ta = r.tarray('t', 'i32', 6, { blockLen: 3 });
    assert.throws(() => ta.array, (e) => e.status === plexus.status.E_UNSUPPORTED && /read_block/.test(e.message));
    assert.throws(() => ta.beginWrite(0, 0), (e) => e.status === plexus.status.E_UNSUPPORTED);
    ta.write(0, [1, 2, 3]);
    assert.deepEqual(Array.from(ta.read(0, 3)), [1, 2, 3]);
    ta.writeBlock(1, [4, 5, 6], 1000);
    assert.deepEqual(Array.from(ta.readBlock(1, 1000)), [4, 5, 6]);
    await ta.writeBlockAsync(1, [7, 8, 9], { timeout: 1000 });
    assert.deepEqual(Array.from(await ta.readBlockAsync(1, { timeout: 1000 })), [7, 8, 9]);
    await assert.rejects(ta.readBlockAsync(1, { timeout: 50 }), plexus.TimeoutError);
    assert.equal(ta.faa(0, 5), 1);
    assert.equal(ta.wait(0, 5, 1000), 'ok');
    assert.equal(ta.wait(0, 6, 50), 'timed-out');
  } finally {
    r.close();
    plexus.Region.remove(url);
  }
});
