'use strict';
// Remote regions (redis://) from Node: the same calls on a private redis-server, the
// statuses only a remote region has (UnavailableError, RegionLostError,
// UnsupportedError), and passwords kept out of messages. The README quick start on a
// redis:// region is in readme.test.js.
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, uniqueName, freePort, startRedis } = require('./helpers');

const isCode = (Class, code) => (e) => e instanceof Class && e instanceof plexus.PlexusError && e.code === code;

test('the statuses of remote regions: numbers, names, classes', () => {
  const cases = [
    ['E_REMOVED', 112, plexus.RemovedError],
    ['E_UNAVAILABLE', 113, plexus.UnavailableError],
    ['E_REGION_LOST', 114, plexus.RegionLostError],
    ['E_UNSUPPORTED', 115, plexus.UnsupportedError],
  ];
  for (const [short, number, Class] of cases) {
    assert.equal(plexus.status[short], number);
    assert.equal(plexus.statusName(number), `PLEXUS_${short}`);
    assert.ok(Class.prototype instanceof plexus.PlexusError, short);
  }
});

test('an unreachable server is UnavailableError within timeout_ms, without the password', async () => {
  const url = `redis://user:hidden-pw@127.0.0.1:${await freePort()}/${uniqueName('gone')}?timeout_ms=300`;
  assert.throws(
    () => plexus.Region.open(url),
    (e) => {
      assert.ok(isCode(plexus.UnavailableError, 'PLEXUS_E_UNAVAILABLE')(e), String(e));
      assert.equal(e.status, 113);
      assert.ok(!e.message.includes('hidden-pw'), e.message);
      assert.match(e.message, /user:\*\*\*@127\.0\.0\.1/);
      return true;
    },
  );
});

test('checking a remote region is UnsupportedError', async () => {
  const url = `redis://127.0.0.1:${await freePort()}/x`;
  assert.throws(
    () => plexus.Region.check(url),
    (e) => isCode(plexus.UnsupportedError, 'PLEXUS_E_UNSUPPORTED')(e) && /remote/.test(e.message),
  );
});

test('a bad redis:// URL is E_INVALID_ARGUMENT, without the password', () => {
  assert.throws(
    () => plexus.Region.open('redis://u:topsecret@127.0.0.1:1/x?nope=1'),
    (e) => e.code === 'PLEXUS_E_INVALID_ARGUMENT' && /unknown option/.test(e.message) && !e.message.includes('topsecret'),
  );
});

test('shownName hides the password as the library does', () => {
  assert.equal(plexus.shownName('redis://u:pw@h:1/r'), 'redis://u:***@h:1/r');
  assert.equal(plexus.shownName('rediss://pw@h/r?db=1'), 'rediss://***@h/r?db=1');
  assert.equal(plexus.shownName('redis://h:1/r'), 'redis://h:1/r');
  assert.equal(plexus.shownName('local'), 'local');
});

test('arrays and maps on a redis:// region; async waits woken by another handle', async (t) => {
  const server = await startRedis(t);
  if (!server) return;
  const url = server.url(uniqueName('remote'));
  const r = plexus.Region.create(url);
  const other = plexus.Region.openExisting(url);
  try {
    const a = r.array('a', 4);
    a.writeEF(0, { job: 17, tags: ['x'] });
    assert.deepEqual(a.readFE(0, 5000), { job: 17, tags: ['x'] });
    assert.throws(() => a.readFE(0, 100), plexus.TimeoutError);
    a.set(1, 40);
    assert.equal(a.faa(1, 2), 40);
    assert.equal(a.get(1), 42);
    const m = r.map('m', 8, { full: true });
    m.set('s', 'text');
    m.faa('n', 1.5);
    assert.deepEqual([...m.keys()].sort(), ['n', 's']);
    assert.equal(other.map('m').get('s'), 'text');
    const waiting = a.readFEAsync(2, 30000);
    other.array('a').writeEF(2, 'wake', 30000);
    assert.equal(await waiting, 'wake');
    const info = r.info();
    assert.equal(info.objectCount, 2);
    assert.ok(info.attachedProcesses >= 2, String(info.attachedProcesses));
    assert.equal(plexus.Region.remove(url), true);
    assert.throws(() => a.get(0), isCode(plexus.RemovedError, 'PLEXUS_E_REMOVED'));
    assert.throws(() => other.map('m'), plexus.RemovedError);
    assert.throws(() => plexus.Region.openExisting(url), (e) => e.code === 'PLEXUS_E_NOT_FOUND');
  } finally {
    r.close();
    other.close();
    plexus.Region.remove(url, { force: true });
  }
});

test('a password the server does not expect is refused, and never shown', async (t) => {
  const server = await startRedis(t);
  if (!server) return;
  const url = server.url(uniqueName('auth')).replace('redis://', 'redis://someone:s3cr3t-pw@');
  assert.throws(
    () => plexus.Region.open(url),
    (e) => e instanceof plexus.PlexusError && !e.message.includes('s3cr3t-pw') && e.message.includes('someone:***@'),
  );
});

test('bus publishMany on a redis:// region: one script call, consecutive seqs', async (t) => {
  const server = await startRedis(t);
  if (!server) return;
  const url = server.url(uniqueName('remote-bus-batch'));
  const r = plexus.Region.create(url);
  try {
    const bus = r.bus('b', 4);
    const sub = bus.subscribe();
    assert.equal(bus.publishMany(['one', 2, { three: 3 }]), 1);
    assert.equal(bus.publishMany([]), 0);
    assert.deepStrictEqual([sub.next(5000), sub.next(5000), sub.next(5000)], [
      { value: 'one', seq: 1 },
      { value: 2, seq: 2 },
      { value: { three: 3 }, seq: 3 },
    ]);
    assert.throws(() => bus.publishMany([1, '\ud800']), (e) => e.code === 'PLEXUS_E_INVALID_ARGUMENT');
    assert.equal(bus.nextSeq, 4);
    bus.shutdown();
    assert.throws(() => bus.publishMany([1]), plexus.ClosedError);
  } finally {
    r.close();
    plexus.Region.remove(url, { force: true });
  }
});
