'use strict';
// Real second processes (test/fixtures/child.js): a writeEF/readFE handshake, with the
// sync and the async calls, a queue and a bus across processes (shutdown ends them for
// every process, close gives back one handle), and locks whose holder exits or is killed.
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion, runChild } = require('./helpers');

function waitForLine(child, line) {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (d) => {
      seen += d;
      if (seen.split('\n').includes(line)) resolve();
    });
    child.on('close', (code) => reject(new Error(`child exited (${code}) before printing ${line}`)));
  });
}

async function handshake(role) {
  await withRegion(`handshake-${role}`, async (r, name) => {
    const cells = r.array('cells', 2);
    const { done } = runChild([role, name]);
    for (let i = 0; i < 200; i++) {
      cells.writeEF(0, i, 10000);
      assert.equal(cells.readFE(1, 10000), i * 2);
    }
    cells.writeEF(0, 'text', 10000);
    assert.deepStrictEqual(await cells.readFEAsync(1, 10000), { echoed: 'text' });
    cells.writeEF(0, null, 10000);
    const { code, stderr } = await done;
    assert.equal(code, 0, stderr);
  });
}

test('handshake with another process through writeEF/readFE (child uses the sync calls)', () => handshake('echo'));

test('handshake with another process through writeEF/readFE (child uses the async calls)', () => handshake('echo-async'));

test('a queue filled by another process is drained with for await until it shuts it down', async () => {
  await withRegion('xp-queue', async (r, name) => {
    const q = r.queue('jobs', 8);
    const { done } = runChild(['produce', name, 'jobs', '500']);
    const got = [];
    for await (const job of q) got.push(job);
    const { code, stderr } = await done;
    assert.equal(code, 0, stderr);
    assert.equal(got.length, 500);
    got.forEach((job, i) => assert.deepStrictEqual(job, { i, text: `value ${i}` }));
  });
});

test('bus messages published by another process reach a subscriber in order', async () => {
  await withRegion('xp-bus', async (r, name) => {
    const bus = r.bus('events', 1024);
    const ready = r.array('ready', 1);
    const sub = bus.subscribe();
    const { done } = runChild(['publish', name, 'events', '300']);
    ready.writeEF(0, true);
    const seqs = [];
    for await (const m of sub) {
      assert.equal(m.value, m.seq);
      seqs.push(m.seq);
    }
    const { code, stderr } = await done;
    assert.equal(code, 0, stderr);
    assert.deepStrictEqual(seqs, Array.from({ length: 300 }, (_, i) => i + 1));
  });
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const lastLine = (stdout) => stdout.trim().split('\n').pop();

test('shutdown wakes a pop blocked in another process once it drained the queue; isShutdown turns true everywhere', async () => {
  await withRegion('xp-queue-shutdown', async (r, name) => {
    const q = r.queue('work', 8);
    const otherRegion = plexus.Region.openExisting(name); // a second region handle
    try {
      const other = otherRegion.queue('work');
      const { child, done } = runChild(['consume', name, 'work']);
      await waitForLine(child, 'ready false');
      q.push('a');
      q.push({ b: 2 });
      for (let i = 0; i < 1000 && q.size > 0; i++) await sleep(10); // the child drains them...
      await sleep(200); // ... and blocks in pop on the empty queue
      assert.equal(other.isShutdown, false);
      q.shutdown();
      const { code, stdout, stderr } = await done;
      assert.equal(code, 0, stderr);
      assert.deepStrictEqual(JSON.parse(lastLine(stdout)), [['a', { b: 2 }], true]);
      assert.equal(other.isShutdown, true);
      assert.throws(() => other.push('late'), plexus.ClosedError);
    } finally {
      otherRegion.close();
    }
  });
});

test('another process drains a shut-down queue, then gets ClosedError', async () => {
  await withRegion('xp-queue-drain', async (r, name) => {
    const q = r.queue('work', 8);
    for (const v of ['x', 2, null]) q.push(v);
    q.shutdown();
    q.close(); // the handle only: the values stay for the consumer
    const { code, stdout, stderr } = await runChild(['consume', name, 'work']).done;
    assert.equal(code, 0, stderr);
    assert.deepStrictEqual(stdout.trim().split('\n'), ['ready true', '[["x",2,null],true]']);
    assert.equal(r.queue('work').size, 0);
  });
});

test('close gives back only the handle: another process still pops the values', async () => {
  await withRegion('xp-queue-close', async (r, name) => {
    const q = r.queue('work', 8);
    q.push('kept');
    q.push('and this');
    q.close();
    const { code, stdout, stderr } = await runChild(['pop-once', name, 'work']).done;
    assert.equal(code, 0, stderr);
    assert.deepStrictEqual(JSON.parse(lastLine(stdout)), { isShutdown: false, value: 'kept', size: 1 });
  });
});

test('bus shutdown ends a subscriber blocked in another process after every message', async () => {
  await withRegion('xp-bus-shutdown', async (r, name) => {
    const bus = r.bus('events', 16);
    const otherRegion = plexus.Region.openExisting(name);
    try {
      const other = otherRegion.bus('events');
      bus.publish('before');
      const { child, done } = runChild(['subscribe', name, 'events']);
      await waitForLine(child, 'ready false');
      bus.publish({ n: 2 });
      await sleep(200); // the child takes both and blocks in next()
      bus.shutdown();
      const { code, stdout, stderr } = await done;
      assert.equal(code, 0, stderr);
      assert.deepStrictEqual(JSON.parse(lastLine(stdout)), [['before', { n: 2 }], true]);
      assert.equal(other.isShutdown, true);
      assert.throws(() => other.publish('late'), plexus.ClosedError);
    } finally {
      otherRegion.close();
    }
  });
});

test('a mutex whose holder exits or is killed is taken over: lock returns true (owner died)', async () => {
  await withRegion('xp-mutex', async (r, name) => {
    const m = r.mutex('m');
    {
      const { child, done } = runChild(['hold-mutex', name, 'm', 'exit']);
      await waitForLine(child, 'locked');
      await done;
      assert.equal(m.lock(5000), true, 'the holder exited without unlocking');
      m.unlock();
      assert.equal(m.lock(0), false);
      m.unlock();
    }
    {
      const { child, done } = runChild(['hold-mutex', name, 'm']);
      await waitForLine(child, 'locked');
      assert.equal(m.tryLock(), false);
      child.kill('SIGKILL');
      await done;
      assert.equal(await m.lockAsync(5000), true, 'the holder was killed');
      m.unlock();
    }
    assert.ok(plexus.recoveredLocks() >= 2);
  });
});

test('semaphore permits of a killed process come back; a barrier across processes', async () => {
  await withRegion('xp-locks', async (r, name) => {
    const s = r.semaphore('s', 1);
    const { child, done } = runChild(['hold-permit', name, 's']);
    await waitForLine(child, 'acquired');
    assert.equal(s.tryAcquire(), false);
    const waiting = s.acquireAsync(5000);
    child.kill('SIGKILL');
    await done;
    await waiting;
    assert.equal(s.held, 1);
    s.release();

    const b = r.barrier('step', 2);
    const other = runChild(['barrier', name, 'step']);
    const last = await b.waitAsync(10000);
    const { code, stdout, stderr } = await other.done;
    assert.equal(code, 0, stderr);
    const childLast = stdout.trim() === 'passed true';
    assert.notEqual(last, childLast, 'exactly one of the two was last');
  });
});

test('Region.check: a process killed holding a mutex is found, and repair cleans up', async () => {
  await withRegion('xp-check', async (r, name) => {
    r.array('cells', 2).set(0, 'a string long enough to live in the heap');
    const m = r.mutex('m');
    const ok = plexus.Region.check(name);
    assert.equal(ok.verdict, 'consistent', ok.text);
    assert.equal(ok.liveProcesses, 1);
    assert.ok(ok.heapUsed > 0);
    const { child, done } = runChild(['hold-mutex', name, 'm']);
    await waitForLine(child, 'locked');
    child.kill('SIGKILL');
    await done;
    const stale = plexus.Region.check(name);
    assert.equal(stale.verdict, 'reclaimable', stale.text);
    assert.equal(stale.deadProcesses, 1);
    assert.equal(stale.deadLocks, 1);
    assert.match(stale.text, /mutex 'm'/);
    const fixed = plexus.Region.check(name, { repair: true });
    assert.equal(fixed.verdict, 'consistent', fixed.text);
    assert.ok(fixed.repairs >= 1);
    assert.equal(fixed.repairSkipped, false);
    assert.equal(m.lock(0), true, 'the next locker learns the holder died');
    m.unlock();
    assert.throws(() => plexus.Region.check(`${name}-absent`), (e) => e.code === 'PLEXUS_E_NOT_FOUND');
  });
});
