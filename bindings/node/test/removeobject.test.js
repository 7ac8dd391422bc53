'use strict';
// region.removeObject: every kind's handles throw RemovedError afterwards (and close
// normally), removing again throws PLEXUS_E_NOT_FOUND, the name can be created again at
// once as any kind, a waiting pop (async here, sync in another process) ends with
// RemovedError, and a queue or bus that was shut down starts again by remove + create.
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion, runChild } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;
const removed = (e) => e instanceof plexus.RemovedError && e.code === 'PLEXUS_E_REMOVED' && e.status === 112;

/** `name` is gone: removing it again throws NOT_FOUND (false with force), opening it without a size finds nothing, it is not listed. */
function assertGone(r, name) {
  assert.throws(() => r.removeObject(name), isCode('PLEXUS_E_NOT_FOUND'));
  assert.equal(r.removeObject(name, { force: true }), false);
  assert.throws(() => r.array(name), isCode('PLEXUS_E_NOT_FOUND'));
  assert.ok(!r.objects().some((o) => o.name === name));
}

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

test('every kind: handles throw RemovedError, close normally; the name is free at once', async () => {
  await withRegion('rmobj-kinds', (r) => {
    const a = r.array('a', 2);
    a.set(0, 1);
    assert.equal(r.removeObject('a'), true);
    assert.throws(() => a.get(0), removed);
    assert.throws(() => a.set(1, 2), removed);
    assert.throws(() => a.readFE(0, 0), removed);
    a.close();
    assertGone(r, 'a');
    assert.equal(r.map('a', 4).size, 0); // the name again, as a map

    const m = r.map('m', 4);
    m.set('k', 'v');
    r.removeObject('m');
    assert.throws(() => m.get('k'), removed);
    assert.throws(() => m.size, removed);
    m.close();
    assertGone(r, 'm');

    const q = r.queue('q', 4);
    q.push(1);
    r.removeObject('q');
    assert.throws(() => q.pop(0), removed); // its value went with it
    assert.throws(() => q.push(2, 0), removed);
    assert.throws(() => q.size, removed);
    q.close();
    assertGone(r, 'q');
    const q2 = r.queue('q', 8); // the same kind, another capacity: new and empty
    assert.equal(q2.capacity, 8);
    assert.equal(q2.size, 0);

    const b = r.bus('b', 4);
    const s = b.subscribe('oldest');
    b.publish(1);
    r.removeObject('b');
    assert.throws(() => b.publish(2), removed);
    assert.throws(() => s.next(0), removed);
    assert.throws(() => b.subscribe(), removed);
    s.close();
    b.close();
    assertGone(r, 'b');
    assert.equal(Number(r.bus('b', 4).publish(1)), 1); // a new bus numbers from 1

    const mx = r.mutex('mx');
    mx.lock(0);
    r.removeObject('mx');
    assert.throws(() => mx.unlock(), removed);
    assert.throws(() => mx.tryLock(), removed);
    mx.close();
    assertGone(r, 'mx');
    const mx2 = r.mutex('mx'); // new and unlocked, no owner died
    assert.equal(mx2.lock(0), false);
    mx2.unlock();

    const br = r.barrier('br', 2);
    r.removeObject('br');
    assert.throws(() => br.wait(0), removed);
    br.close();
    assertGone(r, 'br');
    assert.equal(r.semaphore('br', 3).available, 3); // the name again, as a semaphore

    const sem = r.semaphore('s', 1);
    sem.acquire(0);
    r.removeObject('s');
    assert.throws(() => sem.release(), removed);
    assert.throws(() => sem.tryAcquire(), removed);
    sem.close();
    assertGone(r, 's');
    assert.equal(r.semaphore('s', 2).available, 2); // another number of permits: new
  });
});

test('removeObject: bad arguments, a closed or removed region', async () => {
  await withRegion('rmobj-args', (r, name) => {
    assert.throws(() => r.removeObject(42), TypeError);
    assert.throws(() => r.removeObject(''), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.throws(() => r.removeObject('n'.repeat(97)), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    const other = plexus.Region.open(name);
    other.close();
    assert.throws(() => other.removeObject('x'), isCode('PLEXUS_E_BAD_HANDLE'));
    assert.throws(() => r.removeObject('never-created'), isCode('PLEXUS_E_NOT_FOUND'));
    assert.equal(r.removeObject('never-created', { force: true }), false);
    const gone = plexus.Region.create(`${name}-gone`, { size: 1 << 20 });
    try {
      gone.array('x', 1);
      plexus.Region.remove(`${name}-gone`);
      assert.throws(() => gone.removeObject('x'), removed);
      assert.throws(() => gone.removeObject('x', { force: true }), removed);
    } finally {
      gone.close();
    }
  });
});

test('a waiting popAsync ends with RemovedError; the name is created again as another kind', async () => {
  await withRegion('rmobj-wait', async (r) => {
    const q = r.queue('jobs', 4);
    const waiting = q.popAsync(30000);
    setTimeout(() => r.removeObject('jobs'), 100);
    await assert.rejects(waiting, removed);
    const a = r.array('jobs', 1);
    a.writeXF(0, 'recreated');
    assert.equal(r.array('jobs').readFF(0, 0), 'recreated');
    assert.throws(() => q.pop(0), removed); // the old handle stays removed
    assert.throws(() => r.queue('jobs'), isCode('PLEXUS_E_TYPE_MISMATCH'));
  });
});

test('other waits (readFEAsync, nextAsync, acquireAsync, waitAsync) end with RemovedError', async () => {
  await withRegion('rmobj-waits', async (r) => {
    const cells = r.array('cells', 1);
    const sub = r.bus('events', 4).subscribe();
    const slots = r.semaphore('slots', 1);
    slots.acquire(0);
    const meet = r.barrier('meet', 2);
    const waits = [cells.readFEAsync(0, 30000), sub.nextAsync(30000), slots.acquireAsync(30000), meet.waitAsync(30000)];
    setTimeout(() => {
      for (const n of ['cells', 'events', 'slots', 'meet']) r.removeObject(n);
    }, 100);
    await Promise.all(waits.map((w) => assert.rejects(w, removed)));
  });
});

test('a queue or bus that was shut down starts again: remove it, create it again', async () => {
  await withRegion('rmobj-restart', (r) => {
    const q = r.queue('work', 4);
    q.push(1);
    q.shutdown();
    assert.deepStrictEqual([...q], [1]); // drained, then the end
    assert.throws(() => q.push(2, 0), plexus.ClosedError);
    r.removeObject('work');
    const fresh = r.queue('work', 4);
    assert.notEqual(fresh.handleId, q.handleId);
    assert.equal(fresh.isShutdown, false);
    fresh.push(3, 0);
    assert.equal(fresh.pop(0), 3);
    assert.throws(() => q.push(4, 0), removed); // the old handle learns of it

    const b = r.bus('news', 4);
    const s = b.subscribe();
    b.shutdown();
    assert.throws(() => s.next(0), plexus.ClosedError);
    r.removeObject('news');
    const bus = r.bus('news', 4);
    const s2 = bus.subscribe();
    bus.publish('again');
    assert.equal(s2.next(0).value, 'again');
    assert.throws(() => s.next(0), removed);
  });
});

async function popInAnotherProcess(kind) {
  await withRegion(`rmobj-xp-${kind}`, async (r, name) => {
    r.queue('jobs', 4);
    const { child, done } = runChild(['pop-until-removed', name, 'jobs', kind]);
    try {
      await waitForLine(child, 'waiting');
      await new Promise((resolve) => setTimeout(resolve, 100)); // let it block in its pop
      r.removeObject('jobs');
      if (kind === 'queue') {
        r.queue('jobs', 4).push('recreated', 0);
      } else {
        r.array('jobs', 1).writeXF(0, 'recreated');
      }
      const { code, stdout, stderr } = await done;
      assert.equal(code, 0, stderr);
      assert.deepStrictEqual(JSON.parse(stdout.split('\n')[1]), { removed: true, value: 'recreated', oldStillRemoved: true });
    } finally {
      child.kill();
    }
  });
}

test('a pop blocked in another process ends with RemovedError; it opens the new array', () => popInAnotherProcess('array'));

test('a pop blocked in another process ends with RemovedError; it opens the new queue', () => popInAnotherProcess('queue'));
