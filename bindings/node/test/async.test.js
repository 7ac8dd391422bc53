'use strict';
// The async variants: they never block the event loop, honour timeouts and
// AbortSignals without losing values, scale past the thread pool, and report errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion } = require('./helpers');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts setInterval ticks while `promise` is pending. */
async function ticksDuring(promise) {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    return { result: await promise, ticks };
  } finally {
    clearInterval(timer);
  }
}

test('a waiting readFEAsync does not block the event loop (setInterval keeps ticking)', async () => {
  await withRegion('async-ticks', async (r) => {
    const a = r.array('a', 1);
    const started = performance.now();
    setTimeout(() => a.writeEF(0, 'done'), 300);
    const { result, ticks } = await ticksDuring(a.readFEAsync(0, 5000));
    const waited = performance.now() - started;
    assert.equal(result, 'done');
    assert.ok(waited >= 290, `resolved after the write (${waited} ms)`);
    assert.ok(ticks >= 20, `a 5 ms interval ticked ${ticks} times in ${waited} ms`);
  });
});

test('every async wait keeps the event loop running', async () => {
  await withRegion('async-all', async (r, name) => {
    const a = r.array('a', 2);
    const m = r.map('m', 4);
    const q = r.queue('q', 1);
    const bus = r.bus('b', 4);
    const sub = bus.subscribe();
    const sem = r.semaphore('s', 1);
    const barrier = r.barrier('bar', 2);
    const cases = [
      ['readFFAsync', () => a.readFFAsync(0, 2000), () => a.writeXF(0, 1)],
      ['writeEFAsync', () => a.writeEFAsync(0, 2, 2000), () => a.readFE(0)],
      ['readRWAsync', () => a.readRWAsync(1, 2000), () => a.writeXF(1, 'rw')],
      ['waitChangeAsync', () => a.waitChangeAsync(0, a.version(0), 2000), () => a.set(0, 3)],
      ['map readFEAsync', () => m.readFEAsync('k', 2000), () => m.writeXF('k', 4)],
      ['popAsync', () => q.popAsync(2000), () => q.push(5)],
      ['pushAsync', () => (q.push(6), q.pushAsync(7, 2000)), () => q.pop()],
      ['nextAsync', () => sub.nextAsync(2000), () => bus.publish(8)],
      ['acquireAsync', () => (sem.acquire(), sem.acquireAsync(2000)), () => sem.release()],
      ['barrier waitAsync', () => barrier.waitAsync(2000), () => barrier.waitAsync(2000)],
      ['waitObjectAsync', () => r.waitObjectAsync('late', 2000), () => r.array('late', 1)],
      ['openAsync', () => plexus.Region.openAsync(`${name}-x`, { wait: 2000 }), () => plexus.Region.create(`${name}-x`, { size: 1 << 20 }).close()],
    ];
    for (const [what, start, release] of cases) {
      const pending = start();
      setTimeout(release, 60);
      const { result, ticks } = await ticksDuring(pending);
      assert.ok(ticks >= 5, `${what}: ${ticks} ticks while waiting`);
      if (result instanceof plexus.Region) result.close();
    }
    a.releaseRW(1);
    sem.release();
    plexus.Region.remove(`${name}-x`);
  });
});

test('more async waiters than the thread pool has threads all complete', async () => {
  await withRegion('async-many', async (r) => {
    const n = 24;
    const a = r.array('a', n);
    const waits = Array.from({ length: n }, (_, i) => a.readFEAsync(i, 10000));
    await sleep(100);
    for (let i = n - 1; i >= 0; i--) a.writeEF(i, i * 10);
    const got = await Promise.all(waits);
    assert.deepStrictEqual(got, Array.from({ length: n }, (_, i) => i * 10));
  });
});

test('async timeouts reject with TimeoutError after about the timeout', async () => {
  await withRegion('async-timeout', async (r) => {
    const a = r.array('a', 1);
    const t0 = performance.now();
    await assert.rejects(a.readFEAsync(0, 120), (e) => e instanceof plexus.TimeoutError && e.code === 'PLEXUS_TIMEOUT');
    const waited = performance.now() - t0;
    assert.ok(waited >= 115 && waited < 2000, `waited ${waited} ms`);
    await assert.rejects(a.readFEAsync(0, 0), plexus.TimeoutError);
    await assert.rejects(a.readFEAsync(0, { timeout: 10 }), plexus.TimeoutError);
    await assert.rejects(a.readFEAsync(0, 'soon'), TypeError, 'bad options reject');
    await assert.rejects(a.readFEAsync(-1), RangeError, 'bad indexes reject');
  });
});

test('an AbortSignal ends the wait with its reason; a value taken meanwhile is returned, never lost', async () => {
  await withRegion('async-abort', async (r) => {
    const a = r.array('a', 1);
    const controller = new AbortController();
    const pending = a.readFEAsync(0, { signal: controller.signal });
    await sleep(30);
    controller.abort(new Error('stop waiting'));
    await assert.rejects(pending, /stop waiting/);
    await assert.rejects(a.readFEAsync(0, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    await assert.rejects(a.readFEAsync(0, { signal: 'no' }), TypeError);
    a.writeXF(0, 'untouched');
    assert.equal(a.readFF(0, 0), 'untouched', 'aborted waits took nothing');
    // Abort right after a value arrives: either the value comes back or the element keeps it.
    for (let i = 0; i < 20; i++) {
      a.writeXE(0, undefined);
      const c = new AbortController();
      const p = a.readFEAsync(0, { signal: c.signal });
      await sleep(1);
      a.writeEF(0, i);
      c.abort();
      try {
        assert.equal(await p, i);
        assert.equal(a.isFull(0), false);
      } catch (e) {
        assert.equal(e.name, 'AbortError');
        assert.equal(a.readFE(0, 0), i, 'the value is still there');
      }
    }
  });
});

test('errors during an async wait reject with a PlexusError (closed region: BAD_HANDLE)', async () => {
  const name = `nodetest-async-closed-${process.pid}`;
  const r = plexus.Region.recreate(name, { size: 1 << 20 });
  const a = r.array('a', 1);
  const pending = a.readFEAsync(0, 5000);
  await sleep(30);
  r.close();
  await assert.rejects(pending, (e) => e instanceof plexus.PlexusError && e.code === 'PLEXUS_E_BAD_HANDLE');
  await assert.rejects(a.readFEAsync(0, 10), (e) => e.code === 'PLEXUS_E_BAD_HANDLE' && !/worker thread/.test(e.message), 'argument errors come from the first, synchronous try, with the library message');
  plexus.Region.remove(name);
});

test('changes() yields each new version of an element until aborted', async () => {
  await withRegion('async-changes', async (r) => {
    const m = r.map('m', 4);
    const controller = new AbortController();
    const versions = [];
    const watcher = (async () => {
      for await (const v of m.changes('door', { signal: controller.signal })) {
        versions.push(v);
        if (versions.length === 3) controller.abort();
      }
    })();
    for (const state of ['open', 'closed', 'open']) {
      await sleep(30);
      m.set('door', state);
    }
    await watcher;
    assert.equal(versions.length, 3);
    assert.ok(versions[0] < versions[1] && versions[1] < versions[2], `increasing: ${versions}`);
    assert.ok(versions[2] <= m.version('door'));
  });
});
