'use strict';
// Observing: watchOnce / watchAsync / `for await ... of watch()` (value and version
// together, the last value never missed), observe() (one shared wait per region, the
// process may exit with only observers left unless { ref: true }), map-wide changes
// (changeCount, changesSince, watchMap) and initial data ({ initial } in region.map,
// eight processes racing). On shared memory and on a redis:// region.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs/promises');
const { plexus, withRegion, runChild, startRedis, uniqueName } = require('./helpers');

/** Runs fn(region, name) on shared memory, then on a private redis-server. */
async function onBoth(t, tag, fn) {
  await withRegion(tag, fn);
  const server = await startRedis(t);
  if (!server) return;
  try {
    const name = server.url(uniqueName(tag));
    const region = plexus.Region.create(name);
    try {
      await fn(region, name);
    } finally {
      region.close();
      plexus.Region.remove(name, { force: true });
    }
  } finally {
    server.stop();
  }
}

const waitFor = async (cond) => {
  for (let i = 0; i < 3000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'the condition never held');
};

test('watchOnce and watchAsync return value and version together', async (t) => {
  await onBoth(t, 'watch-once', async (r) => {
    const m = r.map('w', 8);
    assert.throws(() => m.watchOnce('k', 0, 0), plexus.TimeoutError);
    m.set('k', 'first');
    assert.deepEqual(m.watchOnce('k'), { value: 'first', version: 1 }, 'the first write moves the version once');
    assert.throws(() => m.watchOnce('k', 1, 10), plexus.TimeoutError);
    const pending = m.watchAsync('k', 1, 30000);
    setTimeout(() => m.set('k', 'second'), 20);
    assert.deepEqual(await pending, { value: 'second', version: 2 });
    const a = r.array('wa', 2);
    a.set(1, 7);
    assert.deepEqual(a.watchOnce(1), { value: 7, version: 1 });
  });
});

test('for await of watch(): consistent pairs, the last value always', async (t) => {
  await onBoth(t, 'watch-iter', async (r, name) => {
    const m = r.map('w', 8);
    const other = plexus.Region.open(name);
    const om = other.map('w');
    const seen = [];
    const writer = (async () => {
      await new Promise((res) => setTimeout(res, 20));
      for (let i = 1; i <= 200; i++) {
        om.set('k', i);
        if (i % 50 === 0) await new Promise((res) => setImmediate(res));
      }
    })();
    for await (const { value, version } of m.watch('k', { timeout: 30000 })) {
      seen.push([value, version]);
      if (value === 200) break;
    }
    await writer;
    other.close();
    assert.ok(seen.every(([v, ver]) => v === ver), 'value i comes with version i');
    assert.deepEqual(seen[seen.length - 1], [200, 200]);
    // timeout: the iteration ends quietly.
    const none = [];
    for await (const x of m.watch('k', { since: 200, timeout: 20 })) none.push(x);
    assert.deepEqual(none, []);
  });
});

test('observe(): many observers share one wait, see the last values, unsubscribe', async (t) => {
  await onBoth(t, 'observe', async (r, name) => {
    const maps = [r.map('o1', 16), r.map('o2', 16)];
    const arr = r.array('oa', 4);
    const calls = new Map();
    const offs = [];
    for (const [mi, m] of maps.entries()) {
      for (let k = 0; k < 6; k++) {
        const id = `m${mi}.k${k}`;
        offs.push(m.observe(`k${k}`, (value, version) => calls.set(id, [value, version])));
      }
    }
    offs.push(arr.observe(2, (value, version) => calls.set('a2', [value, version])));
    // Meanwhile the thread pool stays available to everything else.
    await fs.readFile(__filename);
    const other = plexus.Region.open(name);
    for (const [mi, m] of ['o1', 'o2'].map((n) => other.map(n)).entries()) {
      for (let round = 1; round <= 20; round++) {
        for (let k = 0; k < 6; k++) m.set(`k${k}`, `${mi}-${k}-${round}`);
      }
    }
    other.array('oa').set(2, 'last');
    await waitFor(() => calls.size === 13 && [...calls.values()].every(([v]) => v === 'last' || v.endsWith('-20')));
    for (const [id, [value, version]] of calls) {
      if (id !== 'a2') assert.equal(version, 20, `${id}: ${value}`);
    }
    for (const off of offs) off();
    offs[0](); // twice: a no-op
    const before = calls.get('m0.k0');
    other.map('o1').set('k0', 'after');
    await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(calls.get('m0.k0'), before, 'no calls after unsubscribing');
    // A callback that throws ends its observer; the error goes to onError.
    let failed = null;
    maps[0].observe('k1', () => {
      throw new Error('boom');
    }, { onError: (e) => (failed = e) });
    await waitFor(() => failed !== null);
    assert.equal(failed.message, 'boom');
    other.close();
  });
});

test('a process with only observers left exits, unless { ref: true }', async (t) => {
  await withRegion('observe-exit', async (r, name) => {
    r.map('obs', 16).set('k', 'start');
    const quiet = runChild(['observe', name]);
    const done = await quiet.done;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /observing/);

    const kept = runChild(['observe', name, 'ref']);
    let out = '';
    kept.child.stdout.on('data', (d) => (out += d));
    await waitFor(() => out.includes('"start"'));
    // The child's script ended long ago; it is still there, observing.
    r.map('obs').set('k', 'more');
    await waitFor(() => out.includes('"more"'));
    r.map('obs').set('k', 'stop');
    const end = await kept.done;
    assert.equal(end.code, 0, end.stderr);
    assert.match(out, /"stop"/);
  });
});

test('map-wide changes: changeCount, changesSince, watchMap', async (t) => {
  await onBoth(t, 'map-wide', async (r, name) => {
    const m = r.map('mw', 8);
    assert.equal(m.changeCount(), 0);
    m.set('a', 1);
    m.set('b', 2);
    assert.equal(m.changeCount(), 2);
    const all = m.changesSince(0).sort((x, y) => x.counter - y.counter);
    assert.deepEqual(all, [
      { key: 'a', version: 1, counter: 1, removed: false },
      { key: 'b', version: 1, counter: 2, removed: false },
    ]);
    m.delete('a');
    assert.deepEqual(m.changesSince(2), [{ key: 'a', version: 0, counter: 3, removed: true }]);
    assert.equal(m.waitChanges(0, 0), 3);
    assert.throws(() => m.waitChanges(3, 0), plexus.TimeoutError);
    const other = plexus.Region.open(name);
    setTimeout(() => other.map('mw').set('c', 3), 20);
    const rounds = [];
    for await (const { counter, changes } of m.watchMap({ since: 3, timeout: 300 })) {
      rounds.push([counter, changes.map((c) => c.key)]);
    }
    assert.deepEqual(rounds, [[4, ['c']]]);
    for (let i = 0; i < 17; i++) {
      m.set(`t${i}`, i);
      m.delete(`t${i}`);
    }
    assert.throws(() => m.changesSince(3), (e) => e.code === 'PLEXUS_E_OUT_OF_RANGE');
    other.close();
  });
});

test('initial data applies only when the map is created', async (t) => {
  await onBoth(t, 'initial', async (r) => {
    const m = r.map('cfg', 100, { initial: { mode: 'auto', limit: 10, tags: ['a'] } });
    assert.equal(m.get('mode'), 'auto');
    assert.deepEqual(m.get('tags'), ['a']);
    assert.equal(m.isFull('limit'), true);
    assert.equal(m.version('limit'), 1);
    const again = r.map('cfg', 100, { initial: { mode: 'other' } });
    assert.equal(again.get('mode'), 'auto');
    assert.throws(() => r.map('small', 1, { initial: { a: 1, b: 2 } }), (e) => e.code === 'PLEXUS_E_NO_SPACE');
    assert.throws(() => r.map('small', 4, { initial: [1] }), TypeError);
    assert.throws(() => r.map('small', 0), (e) => e.code === 'PLEXUS_E_NOT_FOUND');
  });
});

test('eight processes open one new map with their own initial data: one set wins, complete', async (t) => {
  await onBoth(t, 'init-race', async (r, name) => {
    const start = Date.now() + 800;
    const kids = [...Array(8).keys()].map((i) => runChild(['open-with', name, String(start), String(i)]));
    const results = await Promise.all(kids.map((k) => k.done));
    for (const res of results) assert.equal(res.code, 0, res.stderr);
    const winners = new Set(results.map((res) => res.stdout.trim()));
    assert.equal(winners.size, 1, [...winners].join(', '));
    assert.equal(r.map('raced').size, 10);
  });
});
