'use strict';
// Every SharedArray call: plain and full/empty reads and writes, tags, read locks,
// atomics, versions, iteration, and the errors of bad indexes and closed handles.
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion, runChild } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;

test('open: length, flags, sharing, shape errors', async () => {
  await withRegion('array-open', (r) => {
    const a = r.array('a', 4);
    assert.ok(a instanceof plexus.SharedArray);
    assert.equal(a.length, 4);
    assert.equal(a.name, 'a');
    assert.equal(a.region, r);
    assert.equal(a.get(3), undefined, 'new elements hold UNDEFINED');
    assert.equal(a.isFull(0), false, 'new elements are EMPTY');
    const again = r.array('a');
    assert.equal(again.length, 4, 'length 0 opens the existing array');
    assert.equal(again.handleId, a.handleId, 'one handle per name and region handle');
    assert.throws(() => r.array('a', 5), isCode('PLEXUS_E_INCOMPATIBLE'));
    assert.throws(() => r.array('a', 4, { exclusive: true }), isCode('PLEXUS_E_EXISTS'));
    assert.throws(() => r.array('missing'), isCode('PLEXUS_E_NOT_FOUND'));
    r.map('amap', 4);
    assert.throws(() => r.array('amap', 4), isCode('PLEXUS_E_TYPE_MISMATCH'));
    const full = r.array('full', 2, { full: true });
    assert.equal(full.isFull(1), true);
    assert.throws(() => r.array('x', 1, { lifo: true }), TypeError);
    assert.throws(() => r.array('x', -1), RangeError);
    assert.throws(() => r.array('x', 1.5), RangeError);
    assert.throws(() => r.array(7, 1), TypeError);
    assert.throws(() => r.array('a\0b', 1), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.throws(() => r.array('', 1), isCode('PLEXUS_E_INVALID_ARGUMENT'));
  });
});

test('get/set ignore and keep the tag', async () => {
  await withRegion('array-getset', (r) => {
    const a = r.array('a', 2);
    a.set(0, 'x');
    assert.equal(a.get(0), 'x');
    assert.equal(a.isFull(0), false);
    a.setTag(0, true);
    a.set(0, 'y');
    assert.equal(a.isFull(0), true);
    assert.equal(a.get(0), 'y');
    assert.equal(a.get(1n), undefined, 'BigInt indexes work');
    assert.deepStrictEqual([...a], ['y', undefined]);
  });
});

test('readFE, readFF, writeEF, writeXF, writeXE, setTag, isFull', async () => {
  await withRegion('array-fe', (r) => {
    const a = r.array('a', 1);
    a.writeEF(0, 1);
    assert.equal(a.isFull(0), true);
    assert.throws(() => a.writeEF(0, 2, 0), plexus.TimeoutError, 'FULL: writeEF with timeout 0 times out');
    assert.throws(() => a.writeEF(0, 2, 20), (e) => e instanceof plexus.TimeoutError && e.code === 'PLEXUS_TIMEOUT' && e.status === 1);
    assert.equal(a.readFF(0), 1);
    assert.equal(a.isFull(0), true);
    assert.equal(a.readFE(0), 1);
    assert.equal(a.isFull(0), false);
    assert.throws(() => a.readFE(0, 0), plexus.TimeoutError);
    assert.throws(() => a.readFF(0, 10), plexus.TimeoutError);
    a.writeXF(0, 'full');
    assert.equal(a.isFull(0), true);
    a.writeXF(0, 'still full');
    assert.equal(a.readFF(0, 0), 'still full');
    a.writeXE(0, 'empty');
    assert.equal(a.isFull(0), false);
    assert.equal(a.get(0), 'empty');
    a.setTag(0, true);
    assert.equal(a.readFE(0, 0), 'empty');
    assert.throws(() => a.setTag(0, 1), TypeError);
  });
});

test('timeouts: ms, fractions, 0 tries once, undefined / Infinity / -1 without limit; other negatives, NaN and non-numbers are refused', async () => {
  await withRegion('array-timeouts', async (r) => {
    const a = r.array('a', 1);
    const t0 = performance.now();
    assert.throws(() => a.readFE(0, 30), plexus.TimeoutError);
    const waited = performance.now() - t0;
    assert.ok(waited >= 29, `waited ${waited} ms for a 30 ms timeout`);
    assert.throws(() => a.readFE(0, 0.5), plexus.TimeoutError);
    assert.throws(() => a.readFE(0, 0), plexus.TimeoutError);
    for (const bad of [-2, -5, -0.5, -1.5, -Infinity, NaN]) {
      assert.throws(() => a.readFE(0, bad), RangeError, `timeout ${bad}`);
      assert.throws(() => a.writeEF(0, 'x', bad), RangeError, `timeout ${bad}`);
      await assert.rejects(a.readFEAsync(0, bad), RangeError, `async timeout ${bad}`);
      await assert.rejects(a.readFEAsync(0, { timeout: bad }), RangeError, `async { timeout: ${bad} }`);
    }
    for (const bad of ['10', null, 10n, {}, true]) {
      assert.throws(() => a.readFE(0, bad), TypeError, `timeout ${String(bad)}`);
      await assert.rejects(a.readFEAsync(0, { timeout: bad }), TypeError, `async { timeout: ${String(bad)} }`);
    }
    assert.equal(a.isFull(0), false, 'no refused call changed the element');
    // The waits without limit: each finds the element FULL, so returns at once.
    a.writeXF(0, 1);
    assert.equal(a.readFE(0, Infinity), 1);
    a.writeXF(0, 2);
    assert.equal(a.readFE(0, -1), 2);
    a.writeXF(0, 3);
    assert.equal(a.readFE(0, undefined), 3);
    a.writeXF(0, 4);
    assert.equal(await a.readFEAsync(0, -1), 4);
    a.writeXF(0, 5);
    assert.equal(await a.readFEAsync(0, { timeout: -1 }), 5);
  });
});

// Async, so that a writer that never comes fails the test at its timeout instead of
// blocking the runner (the synchronous calls map -1 to the same C wait, checked above).
test('a -1 timeout waits without limit until another process writes', { timeout: 30000 }, async () => {
  await withRegion('array-forever', async (r, name) => {
    const a = r.array('a', 1);
    assert.equal(a.isFull(0), false);
    const { done } = runChild(['write-after', name, 'a', '0', '300', 'late']);
    assert.equal(await a.readFEAsync(0, -1), 'late', 'it waited for the other process to write');
    const { code, stderr } = await done;
    assert.equal(code, 0, stderr);
  });
});

test('readRW holds off writers until releaseRW', async () => {
  await withRegion('array-rw', (r) => {
    const a = r.array('a', 1);
    a.writeXF(0, 'shared');
    assert.equal(a.readRW(0, 0), 'shared');
    assert.equal(a.readRW(0), 'shared', 'read locks are shared');
    assert.equal(a.readFF(0, 0), 'shared', 'readers proceed');
    assert.throws(() => a.readFE(0, 20), plexus.TimeoutError, 'readFE waits for the readers');
    a.releaseRW(0);
    a.releaseRW(0);
    assert.throws(() => a.releaseRW(0), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.equal(a.readFE(0, 0), 'shared');
    assert.throws(() => a.readRW(0, 0), plexus.TimeoutError, 'readRW waits for FULL');
  });
});

test('faa, cas, compareExchange, exchange', async () => {
  await withRegion('array-atomics', (r) => {
    const a = r.array('a', 3);
    assert.equal(a.faa(0, 5), undefined, 'a fresh element is an empty accumulator');
    assert.equal(a.faa(0, 2), 5);
    assert.equal(a.get(0), 7);
    a.set(1, 'stop');
    a.faa(1, 1);
    assert.equal(a.get(1), 'stop1', 'JavaScript + on strings');
    a.set(2, 2n ** 63n - 1n);
    a.faa(2, 1);
    assert.equal(a.get(2), -(2n ** 63n), 'int + int wraps');
    a.set(2, Buffer.from('ab'));
    a.faa(2, Buffer.from('cd'));
    assert.deepStrictEqual(a.get(2), Buffer.from('abcd'));
    a.set(2, null);
    a.set(2, {});
    assert.throws(() => a.faa(2, 1), isCode('PLEXUS_E_TYPE_MISMATCH'));
    assert.deepStrictEqual(a.get(2), {}, 'a refused faa changes nothing');

    a.set(0, 'old');
    assert.equal(a.cas(0, 'other', 'new'), false);
    assert.equal(a.get(0), 'old');
    assert.equal(a.cas(0, 'old', 'new'), true);
    assert.equal(a.get(0), 'new');
    assert.equal(a.compareExchange(0, 'new', { v: 1 }), 'new');
    assert.deepStrictEqual(a.compareExchange(0, 'nope', 1), { v: 1 });
    assert.equal(a.cas(0, { v: 1 }, [1]), true, 'objects compare by value');
    a.setTag(0, true);
    assert.deepStrictEqual(a.exchange(0, 'x'), [1]);
    assert.equal(a.get(0), 'x');
    assert.equal(a.isFull(0), true, 'atomics leave the tag alone');
  });
});

test('version and waitChange', async () => {
  await withRegion('array-version', (r) => {
    const a = r.array('a', 1);
    const v0 = a.version(0);
    assert.equal(typeof v0, 'number');
    a.get(0);
    assert.equal(a.version(0), v0, 'reads do not bump the version');
    a.set(0, 1);
    const v1 = a.version(0);
    assert.ok(v1 > v0);
    a.setTag(0, true);
    assert.ok(a.version(0) > v1, 'tag changes bump it');
    assert.equal(a.waitChange(0, v0, 0), a.version(0), 'returns at once when it differs already');
    assert.throws(() => a.waitChange(0, a.version(0), 20), plexus.TimeoutError);
    assert.equal(a.waitChange(0, BigInt(v0), 0), a.version(0), 'BigInt versions work');
    assert.throws(() => a.waitChange(0, -1, 0), RangeError);
  });
});

test('bad indexes and closed handles', async () => {
  await withRegion('array-errors', (r) => {
    const a = r.array('a', 2);
    assert.throws(() => a.get(2), isCode('PLEXUS_E_OUT_OF_RANGE'));
    assert.throws(() => a.set(5, 1), (e) => e.status === plexus.status.E_OUT_OF_RANGE && /out of range/.test(e.message));
    assert.throws(() => a.get(-1), RangeError);
    assert.throws(() => a.get(0.5), RangeError);
    assert.throws(() => a.get('0'), TypeError);
    assert.throws(() => a.get(-1n), RangeError);
    const b = r.array('b', 1);
    b.close();
    b.close();
    assert.throws(() => b.get(0), isCode('PLEXUS_E_BAD_HANDLE'));
  });
  const name = `nodetest-array-closed-${process.pid}`;
  const r = plexus.Region.recreate(name, { size: 1 << 20 });
  const a = r.array('a', 1);
  r.close();
  assert.equal(r.isOpen, false);
  assert.throws(() => a.get(0), isCode('PLEXUS_E_BAD_HANDLE'), 'closing the region closes its arrays');
  a.close();
  r.close();
  plexus.Region.remove(name);
});

test('arrays written through one region handle are seen through another', async () => {
  await withRegion('array-two-handles', (r, name) => {
    const other = plexus.Region.openExisting(name);
    try {
      r.array('a', 1).writeEF(0, 'across handles');
      assert.equal(other.array('a').readFE(0, 1000), 'across handles');
    } finally {
      other.close();
    }
  });
});
