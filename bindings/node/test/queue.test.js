'use strict';
// Queues: push/pop with timeouts, FIFO and LIFO order, shutdown (pushes refused, pops
// drain), size/capacity/isShutdown, close (the handle only), the sync and async iterators,
// and batches (pushMany, popMany, pushManyAsync: kept together while another producer
// waits, abort, timeout, shutdown; on shared memory and on a private redis-server).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { plexus, withRegion, later, until, onBackend } = require('./helpers');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;

test('push and pop, FIFO, size, capacity, timeouts', async () => {
  await withRegion('queue-basic', (r) => {
    const q = r.queue('q', 3);
    assert.ok(q instanceof plexus.Queue);
    assert.equal(q.capacity, 3);
    assert.equal(q.size, 0);
    assert.equal(q.isShutdown, false);
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

test('shutdown: pushes throw ClosedError, pops drain then throw ClosedError, waiters wake', async () => {
  await withRegion('queue-shutdown', async (r) => {
    const q = r.queue('q', 4);
    q.push(1);
    q.push(2);
    const waitingPush = r.queue('full', 1);
    waitingPush.push('x');
    const blockedPush = waitingPush.pushAsync('y');
    const empty = r.queue('empty', 1);
    const blockedPop = empty.popAsync();
    q.shutdown();
    q.shutdown();
    assert.equal(q.isShutdown, true);
    assert.throws(() => q.push(3), (e) => e instanceof plexus.ClosedError && e.code === 'PLEXUS_CLOSED');
    assert.equal(q.pop(), 1);
    assert.equal(q.pop(), 2);
    assert.throws(() => q.pop(), plexus.ClosedError);
    assert.throws(() => q.pop(0), plexus.ClosedError);
    waitingPush.shutdown();
    empty.shutdown();
    await Promise.all([assert.rejects(blockedPush, plexus.ClosedError), assert.rejects(blockedPop, plexus.ClosedError)]);
  });
});

test('for...of pops until the queue is shut down and drained', async () => {
  await withRegion('queue-iter', (r) => {
    const q = r.queue('q', 16);
    for (let i = 0; i < 10; i++) q.push(i);
    q.shutdown();
    assert.deepStrictEqual([...q], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepStrictEqual([...q], [], 'still shut down and empty');
  });
});

test('for await...of pops without blocking while a producer pushes, until it shuts the queue down', async () => {
  await withRegion('queue-async-iter', async (r) => {
    const q = r.queue('q', 2);
    let produced = 0;
    const producer = (async () => {
      for (let i = 0; i < 20; i++) {
        await q.pushAsync({ i });
        produced++;
      }
      q.shutdown();
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

test('close gives back only the handle: the queue, its values and other handles stay', async () => {
  await withRegion('queue-close', (r, name) => {
    const q = r.queue('q', 4);
    const same = r.queue('q'); // the same C handle, opened twice (counted)
    const otherRegion = plexus.Region.openExisting(name);
    try {
      const other = otherRegion.queue('q');
      q.push('kept');
      q.close();
      q.close();
      assert.equal(q.handleId, 0);
      assert.throws(() => q.pop(0), isCode('PLEXUS_E_BAD_HANDLE'));
      assert.throws(() => q.isShutdown, isCode('PLEXUS_E_BAD_HANDLE'));
      assert.equal(same.isShutdown, false, 'closing a handle does not shut the queue down');
      assert.equal(other.isShutdown, false);
      same.push('more', 0);
      assert.equal(other.size, 2);
      assert.equal(other.pop(0), 'kept');
      same.close();
      const again = r.queue('q');
      assert.equal(again.pop(0), 'more');
      again.push('last', 0);
      again.close();
      assert.equal(other.pop(0), 'last');
    } finally {
      otherRegion.close();
    }
  });
});

test('shutdown through one region handle wakes a pop waiting through another, and stays', async () => {
  await withRegion('queue-shutdown-handles', async (r, name) => {
    const q = r.queue('q', 4);
    const otherRegion = plexus.Region.openExisting(name);
    try {
      const other = otherRegion.queue('q');
      const blocked = other.popAsync(10000); // the queue is empty: it waits
      await new Promise((resolve) => setTimeout(resolve, 50));
      q.shutdown();
      await assert.rejects(blocked, plexus.ClosedError);
      assert.equal(other.isShutdown, true);
      assert.throws(() => other.push(1), plexus.ClosedError);
      other.close();
      assert.equal(r.queue('q').isShutdown, true, 'a shut-down queue stays shut down');
    } finally {
      otherRegion.close();
    }
  });
});

test('pushMany and popMany: batches, partial pushes, timeouts, shutdown, bad input', async () => {
  await withRegion('queue-batch', async (r) => {
    for (const lifo of [false, true]) {
      const q = r.queue(lifo ? 'stack' : 'fifo', 4, { lifo });
      const values = ['a', 2, null, { k: [1] }, Buffer.from([1, 2, 3]), 2.5, 'x'.repeat(500), 2n ** 62n];
      // Room for 4: TimeoutError, and `pushed` says how many went in (the first ones).
      assert.throws(() => q.pushMany(values, 0), (e) => e instanceof plexus.TimeoutError && e.pushed === 4);
      assert.throws(() => q.pushMany(values.slice(4), 20), (e) => e instanceof plexus.TimeoutError && e.pushed === 0);
      const got = [...q.popMany(3), ...q.popMany(10, 0)];
      const want = lifo ? values.slice(0, 4).reverse() : values.slice(0, 4);
      assert.deepStrictEqual(got, want);
      assert.throws(() => q.popMany(10, 0), plexus.TimeoutError);
      assert.throws(() => q.popMany(10, 20), plexus.TimeoutError);
      // Every type through a batch, big ints and binary included.
      q.pushMany(values.slice(4));
      const back = q.popMany(4);
      assert.deepStrictEqual(lifo ? back.reverse() : back, values.slice(4));
      // Nothing to push is fine; bad input throws, nothing stored.
      q.pushMany([]);
      assert.throws(() => q.pushMany('abc'), TypeError);
      assert.throws(() => q.pushMany([1, Symbol('no')]), TypeError);
      assert.throws(() => q.pushMany([1, '\ud800']), isCode('PLEXUS_E_INVALID_ARGUMENT'));
      assert.throws(() => q.popMany(0), RangeError);
      assert.throws(() => q.popMany(1.5), TypeError);
      assert.equal(q.size, 0);
      // popManyAsync waits without blocking the event loop.
      const pending = q.popManyAsync(10);
      setTimeout(() => q.pushMany([7, 8]), 20);
      const popped = await pending;
      assert.ok(popped.length >= 1 && popped.length <= 2);
      while (popped.length < 2) popped.push(...q.popMany(10));
      assert.deepStrictEqual(popped.sort(), [7, 8]);
      await assert.rejects(q.popManyAsync(3, 20), plexus.TimeoutError);
      // Shut down: pushes throw ClosedError (pushed 0), pops drain then throw it.
      q.pushMany([1, 2]);
      q.shutdown();
      assert.throws(() => q.pushMany([3]), (e) => e instanceof plexus.ClosedError && e.pushed === 0);
      assert.equal(q.popMany(10).length, 2);
      assert.throws(() => q.popMany(10), plexus.ClosedError);
      await assert.rejects(q.popManyAsync(10), plexus.ClosedError);
    }
  });
});

// pushManyAsync: the batch waits in one piece on a worker thread of its own, so it keeps
// its place while it waits for room; on shared memory and on a private redis-server.
for (const backend of ['shm', 'redis']) {
  test(`${backend}: pushManyAsync keeps its batch together while another producer waits behind it`, async (t) => {
    await onBackend(t, backend, 'q-pm-async', async (r, name) => {
      const q = r.queue('together', 4);
      const otherRegion = plexus.Region.open(name);
      try {
        const batch = Array.from({ length: 60 }, (_, i) => i);
        // The event loop stays free while the batch waits: nobody pops until this
        // thread does, so a call that blocked it would never return.
        const pushing = later(q.pushManyAsync(batch, 60000));
        await until(() => q.size === 4, 'the first 4 of the batch in');
        // Another producer (another region handle) pushes while the batch waits.
        const other = later(otherRegion.queue('together').pushManyAsync(['x', 'y'], 60000));
        const single = later(q.pushAsync('z', 60000));
        await sleep(30); // let them reach their waits
        const got = [];
        while (got.length < batch.length + 3) got.push(...(await q.popManyAsync(5, 60000)));
        await pushing;
        await other;
        await single;
        // The whole batch first, in order, nothing in between; the others after it.
        assert.deepStrictEqual(got.slice(0, batch.length), batch);
        const rest = got.slice(batch.length);
        assert.deepStrictEqual([...rest].sort(), ['x', 'y', 'z']);
        assert.ok(rest.indexOf('x') + 1 === rest.indexOf('y'), `the other batch stayed together: ${rest}`);
      } finally {
        otherRegion.close();
      }
    });
  });

  test(`${backend}: pushManyAsync: abort, timeout and shutdown report how many went in`, async (t) => {
    await onBackend(t, backend, 'q-pm-abort', async (r) => {
      const q = r.queue('abort', 2);
      q.pushMany([1, 2]);
      // Aborted while nothing went in: rejects with the signal's reason.
      const ac = new AbortController();
      const none = later(q.pushManyAsync([3, 4], { signal: ac.signal }));
      await sleep(30); // let it reach its wait
      ac.abort(new Error('user gave up'));
      await assert.rejects(none, /user gave up/);
      assert.deepStrictEqual(q.popMany(10), [1, 2]);
      // Aborted after the first values went in: an AbortError with `pushed`; they stay.
      const ac2 = new AbortController();
      const part = later(q.pushManyAsync([10, 11, 12, 13], { signal: ac2.signal, timeout: 60000 }));
      await until(() => q.size === 2, 'the first 2 of the batch in');
      const reason = new Error('stop');
      ac2.abort(reason);
      await assert.rejects(part, (e) => {
        assert.equal(e.name, 'AbortError');
        assert.equal(e.code, 'ABORT_ERR');
        assert.equal(e.cause, reason);
        assert.equal(e.pushed, 2);
        return true;
      });
      assert.deepStrictEqual(q.popMany(10), [10, 11]);
      // Aborted before it starts: nothing goes in.
      await assert.rejects(q.pushManyAsync([5], { signal: AbortSignal.abort(new Error('already')) }), /already/);
      assert.equal(q.size, 0);
      // Timeouts: TimeoutError with `pushed` (0 ms: one try on this thread).
      await assert.rejects(q.pushManyAsync([1, 2, 3], 50), (e) => e instanceof plexus.TimeoutError && e.pushed === 2);
      await assert.rejects(q.pushManyAsync([4], { timeout: 0 }), (e) => e instanceof plexus.TimeoutError && e.pushed === 0);
      assert.deepStrictEqual(q.popMany(10), [1, 2]);
      // All in: resolves; nothing to push resolves at once.
      await q.pushManyAsync(['a', { b: [1] }], 1000);
      await q.pushManyAsync([]);
      assert.deepStrictEqual(q.popMany(10), ['a', { b: [1] }]);
      // Bad input: nothing stored.
      await assert.rejects(q.pushManyAsync('abc'), TypeError);
      await assert.rejects(q.pushManyAsync([1, '\ud800'], 1000), isCode('PLEXUS_E_INVALID_ARGUMENT'));
      await assert.rejects(q.pushManyAsync([1], -5), RangeError);
      assert.equal(q.size, 0);
      // Shut down while it waits: ClosedError with `pushed`.
      const closing = later(q.pushManyAsync([7, 8, 9], 60000));
      await until(() => q.size === 2, 'the first 2 in');
      q.shutdown();
      await assert.rejects(closing, (e) => e instanceof plexus.ClosedError && e.pushed === 2);
      assert.deepStrictEqual(q.popMany(10), [7, 8]);
      q.close();
      await assert.rejects(q.pushManyAsync([1], 1000), isCode('PLEXUS_E_BAD_HANDLE'));
    });
  });

  test(`${backend}: waiting batch pushes leave libuv's pool free`, async (t) => {
    await onBackend(t, backend, 'q-pm-pool', async (r) => {
      // Six batches wait (more than the pool's four threads), each on a full queue.
      const queues = [0, 1, 2, 3, 4, 5].map((i) => r.queue(`full${i}`, 1));
      for (const q of queues) q.push('first');
      const pushes = queues.map((q, i) => later(q.pushManyAsync([i, -i], 60000)));
      await sleep(30); // let them reach their waits
      // The pool still runs other work (this would never finish if the pushes held it).
      const text = await fs.promises.readFile(__filename, 'utf8');
      assert.match(text, /libuv's pool free/);
      const got = await Promise.all(queues.map(async (q) => [await q.popAsync(60000), await q.popAsync(60000), await q.popAsync(60000)]));
      await Promise.all(pushes);
      assert.deepStrictEqual(got, queues.map((_, i) => ['first', i, -i]));
    });
  });
}
