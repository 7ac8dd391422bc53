'use strict';
// Queues: push/pop with timeouts, FIFO and LIFO order, close (pushes refused, pops drain),
// size/capacity/closed, release, and the sync and async iterators.
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;

test('push and pop, FIFO, size, capacity, timeouts', async () => {
  await withRegion('queue-basic', (r) => {
    const q = r.queue('q', 3);
    assert.ok(q instanceof plexus.Queue);
    assert.equal(q.capacity, 3);
    assert.equal(q.size, 0);
    assert.equal(q.closed, false);
    assert.throws(() => q.pop(0), plexus.TimeoutError, 'empty');
    assert.throws(() => q.pop(20), plexus.TimeoutError);
    q.push('a');
    q.push({ b: 2 });
    q.push(3n, 0);
    assert.equal(q.size, 3);
    assert.throws(() => q.push('d', 0), plexus.TimeoutError, 'full');
    assert.throws(() => q.push('d', 15), plexus.TimeoutError);
    assert.equal(q.pop(), 'a');
    assert.deepStrictEqual(q.pop(0), { b: 2 });
    assert.equal(q.pop(100), 3);
    assert.equal(q.size, 0);
  });
});

test('LIFO stacks pop the newest value first', async () => {
  await withRegion('queue-lifo', (r) => {
    const s = r.queue('s', 8, { lifo: true });
    for (const v of [1, 2, 3]) s.push(v);
    assert.deepStrictEqual([s.pop(), s.pop(), s.pop()], [3, 2, 1]);
    assert.throws(() => r.queue('s', 8), isCode('PLEXUS_E_INCOMPATIBLE'), 'a FIFO of that name would be another kind');
    assert.equal(r.queue('s', 0).capacity, 8, 'capacity 0 opens either kind');
    assert.throws(() => r.queue('q', 1, { full: true }), TypeError);
  });
});

test('close: pushes throw ClosedError, pops drain then throw ClosedError, waiters wake', async () => {
  await withRegion('queue-close', async (r) => {
    const q = r.queue('q', 4);
    q.push(1);
    q.push(2);
    const waitingPush = r.queue('full', 1);
    waitingPush.push('x');
    const blockedPush = waitingPush.pushAsync('y');
    const empty = r.queue('empty', 1);
    const blockedPop = empty.popAsync();
    q.close();
    q.close();
    assert.equal(q.closed, true);
    assert.throws(() => q.push(3), (e) => e instanceof plexus.ClosedError && e.code === 'PLEXUS_CLOSED');
    assert.equal(q.pop(), 1);
    assert.equal(q.pop(), 2);
    assert.throws(() => q.pop(), plexus.ClosedError);
    assert.throws(() => q.pop(0), plexus.ClosedError);
    waitingPush.close();
    empty.close();
    await Promise.all([assert.rejects(blockedPush, plexus.ClosedError), assert.rejects(blockedPop, plexus.ClosedError)]);
  });
});

test('for...of pops until the queue is closed and drained', async () => {
  await withRegion('queue-iter', (r) => {
    const q = r.queue('q', 16);
    for (let i = 0; i < 10; i++) q.push(i);
    q.close();
    assert.deepStrictEqual([...q], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepStrictEqual([...q], [], 'still closed and empty');
  });
});

test('for await...of pops without blocking while a producer pushes, until it closes', async () => {
  await withRegion('queue-async-iter', async (r) => {
    const q = r.queue('q', 2);
    let produced = 0;
    const producer = (async () => {
      for (let i = 0; i < 20; i++) {
        await q.pushAsync({ i });
        produced++;
      }
      q.close();
    })();
    const got = [];
    for await (const v of q) got.push(v.i);
    await producer;
    assert.equal(produced, 20);
    assert.deepStrictEqual(got, Array.from({ length: 20 }, (_, i) => i));
  });
});

test('iterate({ signal }) ends when the signal aborts; a value is never lost', async () => {
  await withRegion('queue-abort', async (r) => {
    const q = r.queue('q', 8);
    q.push('first');
    const controller = new AbortController();
    const got = [];
    const done = (async () => {
      for await (const v of q.iterate({ signal: controller.signal })) got.push(v);
    })();
    await new Promise((resolve) => setTimeout(resolve, 60));
    controller.abort();
    await done;
    assert.deepStrictEqual(got, ['first']);
    q.push('after');
    assert.equal(q.pop(0), 'after', 'the aborted iterator took nothing more');
    await assert.rejects(q.popAsync({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(q.size, 0);
  });
});

test('release gives back the handle; the queue and its values stay', async () => {
  await withRegion('queue-release', (r) => {
    const q = r.queue('q', 4);
    q.push('kept');
    q.release();
    q.release();
    assert.throws(() => q.pop(0), isCode('PLEXUS_E_BAD_HANDLE'));
    const again = r.queue('q');
    assert.equal(again.size, 1);
    assert.equal(again.pop(0), 'kept');
    assert.equal(again.closed, false);
  });
});
