'use strict';
// Mutex, Barrier, Semaphore: every call, sync and async, in one process (the
// cross-process cases, dead holders included, are in crossprocess.test.js).
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('mutex: lock, unlock, tryLock, locked, withLock, errors', async () => {
  await withRegion('mutex', (r) => {
    const m = r.mutex('m');
    assert.ok(m instanceof plexus.Mutex);
    assert.equal(m.locked, false);
    assert.equal(m.lock(), false, 'false: the previous owner did not die');
    assert.equal(m.locked, true);
    assert.throws(() => m.lock(0), isCode('PLEXUS_E_INVALID_ARGUMENT'), 'not recursive');
    m.unlock();
    assert.throws(() => m.unlock(), isCode('PLEXUS_E_INVALID_ARGUMENT'), 'not held');
    assert.equal(m.tryLock(), true);
    m.unlock();
    assert.equal(m.withLock((died) => (died ? 'repair' : 'normal')), 'normal');
    assert.equal(m.locked, false);
    assert.throws(() => m.withLock(() => { throw new Error('inside'); }), /inside/);
    assert.equal(m.locked, false, 'withLock unlocks when fn throws');
    r.array('arr', 1);
    assert.throws(() => r.mutex('arr'), isCode('PLEXUS_E_TYPE_MISMATCH'));
    m.close();
    assert.throws(() => m.lock(0), isCode('PLEXUS_E_BAD_HANDLE'));
  });
});

test('mutex: a second region handle is another owner (lock times out, tryLock fails)', async () => {
  await withRegion('mutex-owners', (r, name) => {
    const other = plexus.Region.openExisting(name);
    try {
      const mine = r.mutex('m');
      const theirs = other.mutex('m');
      mine.lock();
      assert.equal(theirs.tryLock(), false);
      assert.throws(() => theirs.lock(20), plexus.TimeoutError);
      assert.throws(() => theirs.unlock(), isCode('PLEXUS_E_INVALID_ARGUMENT'));
      mine.unlock();
      assert.equal(theirs.tryLock(), true);
      theirs.unlock();
    } finally {
      other.close();
    }
  });
});

test('mutex: async lockers of one process take turns; lockAsync waits for another owner', async () => {
  await withRegion('mutex-async', async (r, name) => {
    const m = r.mutex('m');
    const order = [];
    let inside = 0;
    const worker = async (id) =>
      m.withLockAsync(async () => {
        inside++;
        assert.equal(inside, 1, 'one at a time');
        order.push(id);
        await sleep(5);
        inside--;
      });
    await Promise.all([worker(1), worker(2), worker(3), worker(4)]);
    assert.deepStrictEqual(order.sort(), [1, 2, 3, 4]);
    assert.equal(m.locked, false);

    const other = plexus.Region.openExisting(name);
    try {
      const theirs = other.mutex('m');
      theirs.lock();
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      setTimeout(() => theirs.unlock(), 60);
      assert.equal(await m.lockAsync(2000), false);
      clearInterval(timer);
      assert.ok(ticks >= 5, `the event loop ran while lockAsync waited (${ticks} ticks)`);
      await assert.rejects(theirs.lockAsync(20), plexus.TimeoutError);
      await assert.rejects(theirs.lockAsync({ signal: AbortSignal.timeout(20) }), { name: 'TimeoutError' });
      // Another async locker of this process queues behind the holder (no error for
      // "this thread holds it already") and times out there.
      await assert.rejects(m.lockAsync(10), plexus.TimeoutError);
      m.unlock();
    } finally {
      other.close();
    }
    const first = m.lockAsync();
    const queued = m.lockAsync(30);
    assert.equal(await first, false);
    await assert.rejects(queued, plexus.TimeoutError);
    const controller = new AbortController();
    const aborted = m.lockAsync({ signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    m.unlock();
    assert.equal(await m.lockAsync(100), false, 'the queue is free again');
    m.unlock();
  });
});

test('barrier: wait returns true for the last party; timeouts withdraw; async parties meet', async () => {
  await withRegion('barrier', async (r) => {
    const solo = r.barrier('solo', 1);
    assert.ok(solo instanceof plexus.Barrier);
    assert.equal(solo.parties, 1);
    assert.equal(solo.wait(), true);
    assert.equal(solo.wait(0), true, 'reusable');
    const pair = r.barrier('pair', 2);
    assert.throws(() => pair.wait(20), plexus.TimeoutError);
    assert.throws(() => r.barrier('pair', 3), isCode('PLEXUS_E_INCOMPATIBLE'));
    assert.throws(() => r.barrier('absent'), isCode('PLEXUS_E_NOT_FOUND'));
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([pair.waitAsync(2000), pair.waitAsync(2000)]);
      assert.deepStrictEqual(results.sort(), [false, true], `round ${round}: exactly one last party`);
    }
    const three = r.barrier('three', 3);
    const waiting = three.waitAsync(5000);
    await sleep(20);
    const second = three.waitAsync(5000);
    await sleep(20);
    assert.equal(three.wait(2000), true, 'the third arrival completes the round');
    assert.deepStrictEqual([await waiting, await second], [false, false]);
    await assert.rejects(three.waitAsync(20), plexus.TimeoutError);
    three.close();
    assert.throws(() => three.parties, isCode('PLEXUS_E_BAD_HANDLE'));
  });
});

test('semaphore: acquire, tryAcquire, release, permits, available, held, acquireAsync', async () => {
  await withRegion('semaphore', async (r) => {
    const s = r.semaphore('s', 2);
    assert.ok(s instanceof plexus.Semaphore);
    assert.deepStrictEqual([s.permits, s.available, s.held], [2, 2, 0]);
    s.acquire();
    assert.equal(s.tryAcquire(), true);
    assert.deepStrictEqual([s.available, s.held], [0, 2]);
    assert.equal(s.tryAcquire(), false);
    assert.throws(() => s.acquire(20), plexus.TimeoutError);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    setTimeout(() => s.release(), 50);
    await s.acquireAsync(2000);
    clearInterval(timer);
    assert.ok(ticks >= 4, `the event loop ran (${ticks} ticks)`);
    await assert.rejects(s.acquireAsync(20), plexus.TimeoutError);
    s.release();
    s.release();
    assert.throws(() => s.release(), isCode('PLEXUS_E_INVALID_ARGUMENT'), 'holds none');
    assert.throws(() => r.semaphore('s', 3), isCode('PLEXUS_E_INCOMPATIBLE'));
    assert.equal(r.semaphore('s').permits, 2);
    assert.throws(() => r.semaphore('absent'), isCode('PLEXUS_E_NOT_FOUND'));
    assert.throws(() => r.semaphore('big', 2 ** 32), RangeError);
    s.close();
    assert.throws(() => s.available, isCode('PLEXUS_E_BAD_HANDLE'));
  });
});
