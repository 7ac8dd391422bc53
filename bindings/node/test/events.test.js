'use strict';
// Named events on a bus: emit(topic, value), on/once/off (listeners on a worker thread,
// dispatched by prefix in the bus's order), subscribe({ prefix }) with nextEvent, the
// async iterator bus.events(prefix), bad topics, and that listeners neither block the
// event loop nor the thread pool nor keep the process alive (unless ref()).
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion, runChild } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `cond()` holds (checked every few ms, at most 20 s). */
async function until(cond, what) {
  for (let i = 0; i < 4000; i++) {
    if (cond()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('emit, subscribe({ prefix }), nextEvent: one order, only matching topics', async () => {
  await withRegion('ev-sub', (r) => {
    const bus = r.bus('ev', 16);
    const all = bus.subscribe();
    const jobs = bus.subscribe({ prefix: 'job.' });
    assert.equal(bus.emit('job.start', 1), 1);
    assert.equal(bus.publish('plain'), 2);
    assert.equal(bus.emit('user.login', { who: 'ann' }), 3);
    assert.equal(bus.emit('job.done', Buffer.from([1, 2])), 4);
    assert.deepStrictEqual(all.nextEvent(0), { topic: 'job.start', value: 1, seq: 1 });
    assert.deepStrictEqual(all.nextEvent(0), { topic: '', value: 'plain', seq: 2 });
    assert.deepStrictEqual(all.nextEvent(0), { topic: 'user.login', value: { who: 'ann' }, seq: 3 });
    assert.deepStrictEqual(jobs.nextEvent(0), { topic: 'job.start', value: 1, seq: 1 });
    assert.deepStrictEqual(jobs.next(0), { value: Buffer.from([1, 2]), seq: 4 });
    assert.throws(() => jobs.nextEvent(0), plexus.TimeoutError);
    const long = 'x'.repeat(plexus.MAX_TOPIC_LEN);
    bus.emit(long, null);
    assert.equal(all.nextEvent(0).topic, 'job.done');
    assert.equal(all.nextEvent(0).topic, long);
    // Bad topics: nothing published.
    assert.throws(() => bus.emit('x'.repeat(plexus.MAX_TOPIC_LEN + 1), 1), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.throws(() => bus.emit('a\0b', 1), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.throws(() => bus.emit('\ud800', 1), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.throws(() => bus.emit(5, 1), TypeError);
    assert.throws(() => bus.subscribe({ prefix: 'a\0' }), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.throws(() => bus.on('job.', 'not a function'), TypeError);
    assert.equal(bus.nextSeq, 6);
  });
});

test('on/once/off: listeners get (value, { topic, seq }) by prefix, in order, once each', async () => {
  await withRegion('ev-on', async (r) => {
    const bus = r.bus('ev', 64);
    const got = { jobs: [], done: [], all: [], once: [] };
    const onJobs = (v, e) => got.jobs.push([e.topic, v, e.seq]);
    bus.on('job.', onJobs);
    bus.once('job.', (v, e) => got.once.push(e.seq));
    bus.on('job.done', function (v, e) {
      assert.equal(this, bus);
      got.done.push(e.seq);
    });
    assert.equal(bus.listenerCount(), 3);
    bus.emit('job.a', 1);
    bus.emit('other', 2);
    bus.emit('job.done', 3);
    await until(() => got.jobs.length === 2 && got.done.length === 1, 'the first events');
    // A listener whose prefix the pump does not cover ('' covers everything): the pump
    // moves to a wider subscription without losing or repeating messages.
    bus.on('', (v, e) => got.all.push(e.seq));
    for (let i = 0; i < 50; i++) bus.emit(i % 2 ? 'job.x' : 'zzz', i);
    await until(() => got.jobs.length === 27, 'the later job events');
    await until(() => got.all.length >= 50, 'the events for ""');
    assert.deepStrictEqual(got.jobs.slice(0, 2), [
      ['job.a', 1, 1],
      ['job.done', 3, 3],
    ]);
    const jobSeqs = got.jobs.map((x) => x[2]);
    assert.deepStrictEqual(jobSeqs, [...jobSeqs].sort((a, b) => a - b));
    assert.equal(new Set(jobSeqs).size, jobSeqs.length);
    assert.deepStrictEqual(got.once, [1]);
    assert.deepStrictEqual(got.done, [3]);
    const allSeqs = got.all;
    assert.deepStrictEqual(allSeqs.slice(-50), Array.from({ length: 50 }, (_, i) => i + 4));
    bus.off('job.', onJobs);
    bus.emit('job.after', 0);
    await until(() => got.all.length === allSeqs.length && got.all[got.all.length - 1] === 54, 'the last event');
    assert.equal(got.jobs.length, 27, 'off() removed the listener');
    bus.removeAllListeners();
    assert.equal(bus.listenerCount(), 0);
  });
});

test('listeners on many buses leave the event loop and the thread pool free', async () => {
  await withRegion('ev-pool', async (r) => {
    const buses = Array.from({ length: 8 }, (_, i) => r.bus(`b${i}`, 8));
    for (const b of buses) b.on('t', () => {});
    const q = r.queue('q', 4);
    // An async call that needs the pool completes while 8 buses have listeners.
    const popped = q.popAsync(10000);
    setTimeout(() => q.push('through'), 20);
    assert.equal(await popped, 'through');
    for (const b of buses) b.removeAllListeners();
  });
});

test('for await over bus.events(prefix)', async () => {
  await withRegion('ev-iter', async (r) => {
    const bus = r.bus('ev', 16);
    const seen = [];
    const reading = (async () => {
      for await (const { topic, value, seq } of bus.events('job.')) seen.push([topic, value, seq]);
    })();
    await sleep(50);
    bus.emit('job.1', 'a');
    bus.emit('nope', 'b');
    bus.emit('job.2', 'c');
    await until(() => seen.length === 2, 'two events');
    bus.shutdown();
    await reading;
    assert.deepStrictEqual(seen, [
      ['job.1', 'a', 1],
      ['job.2', 'c', 3],
    ]);
  });
});

test('a process with only listeners exits by itself; ref() keeps it until unref()', async () => {
  await withRegion('ev-exit', async (r, name) => {
    const bus = r.bus('ev', 16);
    const free = runChild(['listen', name]);
    const done = await free.done;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /LISTENING/);

    const held = runChild(['listen', name, 'ref']);
    let out = '';
    held.child.stdout.on('data', (d) => (out += d));
    await until(() => out.includes('LISTENING'), 'the child to listen');
    await sleep(300); // it is still alive: nothing but the referenced listeners holds it
    assert.equal(held.child.exitCode, null);
    bus.emit('job.hello', { n: 1 });
    await until(() => out.includes('EVENT job.hello {"n":1}'), 'the event in the child');
    bus.emit('stop', null);
    const end = await held.done;
    assert.equal(end.code, 0, end.stderr);
    assert.match(end.stdout, /STOPPING/);
  });
});
