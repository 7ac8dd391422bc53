'use strict';
// Buses and subscriptions: publish/next with sequence numbers, from now / from the oldest,
// falling behind (a gap), shutdown (subscribers drain, then end), iterators, close (the handle only).
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;

test('publish, subscribe (now / oldest), next with seq, capacity, nextSeq', async () => {
  await withRegion('bus-basic', (r) => {
    const bus = r.bus('events', 8);
    assert.ok(bus instanceof plexus.Bus);
    assert.equal(bus.capacity, 8);
    assert.equal(bus.nextSeq, 1);
    assert.equal(bus.isShutdown, false);
    assert.equal(bus.publish('before'), 1);
    const now = bus.subscribe();
    const oldest = bus.subscribe({ from: 'oldest' });
    const oldest2 = bus.subscribe('oldest');
    assert.ok(now instanceof plexus.Subscription);
    assert.equal(bus.publish({ n: 2 }), 2);
    assert.equal(bus.nextSeq, 3);
    assert.deepStrictEqual(now.next(0), { value: { n: 2 }, seq: 2 });
    assert.throws(() => now.next(0), plexus.TimeoutError);
    assert.throws(() => now.next(10), plexus.TimeoutError);
    assert.deepStrictEqual(oldest.next(), { value: 'before', seq: 1 });
    assert.deepStrictEqual(oldest.next(), { value: { n: 2 }, seq: 2 });
    assert.equal(oldest2.next().seq, 1);
    assert.throws(() => bus.subscribe({ from: 'later' }), TypeError);
    assert.throws(() => r.bus('events', 9), isCode('PLEXUS_E_INCOMPATIBLE'));
    assert.throws(() => r.bus('events', 8, { exclusive: true }), isCode('PLEXUS_E_EXISTS'));
    assert.throws(() => r.bus('none'), isCode('PLEXUS_E_NOT_FOUND'));
  });
});

test('a subscriber that falls behind sees a gap in seq', async () => {
  await withRegion('bus-gap', (r) => {
    const bus = r.bus('b', 4);
    const sub = bus.subscribe();
    for (let i = 1; i <= 10; i++) bus.publish(i);
    const first = sub.next(0);
    assert.ok(first.seq > 1, `skipped to the oldest retained (seq ${first.seq})`);
    assert.equal(first.value, first.seq);
    const rest = [];
    for (;;) {
      try {
        rest.push(sub.next(0).seq);
      } catch (e) {
        assert.ok(e instanceof plexus.TimeoutError);
        break;
      }
    }
    assert.deepStrictEqual(rest, Array.from({ length: 10 - first.seq }, (_, i) => first.seq + 1 + i));
  });
});

test('shutdown: publishing throws ClosedError, subscribers drain and end; iterators stop', async () => {
  await withRegion('bus-shutdown', async (r) => {
    const bus = r.bus('b', 16);
    const a = bus.subscribe();
    const b = bus.subscribe();
    const waiting = r.bus('other', 2).subscribe().nextAsync();
    for (let i = 1; i <= 5; i++) bus.publish(`m${i}`);
    bus.shutdown();
    bus.shutdown();
    assert.equal(bus.isShutdown, true);
    assert.throws(() => bus.publish('late'), plexus.ClosedError);
    assert.deepStrictEqual([...a].map((m) => m.value), ['m1', 'm2', 'm3', 'm4', 'm5']);
    assert.throws(() => a.next(), plexus.ClosedError);
    const got = [];
    for await (const m of b) got.push(m.seq);
    assert.deepStrictEqual(got, [1, 2, 3, 4, 5]);
    r.bus('other').shutdown();
    await assert.rejects(waiting, plexus.ClosedError);
  });
});

test('nextAsync waits for publishers without blocking; iterate({ signal }) stops on abort', async () => {
  await withRegion('bus-async', async (r) => {
    const bus = r.bus('b', 16);
    const sub = bus.subscribe();
    setTimeout(() => bus.publish('later'), 30);
    assert.deepStrictEqual(await sub.nextAsync(2000), { value: 'later', seq: 1 });
    await assert.rejects(sub.nextAsync(20), plexus.TimeoutError);
    const controller = new AbortController();
    const seen = [];
    const reader = (async () => {
      for await (const m of sub.iterate({ signal: controller.signal })) seen.push(m.value);
    })();
    bus.publish(1);
    bus.publish(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await reader;
    assert.deepStrictEqual(seen, [1, 2]);
  });
});

test('close gives back only the handle (the bus and its subscriptions stay); subscription close', async () => {
  await withRegion('bus-close', (r) => {
    const bus = r.bus('b', 4);
    const sub = bus.subscribe();
    bus.close();
    bus.close();
    assert.throws(() => bus.publish(1), isCode('PLEXUS_E_BAD_HANDLE'));
    assert.throws(() => bus.isShutdown, isCode('PLEXUS_E_BAD_HANDLE'));
    const again = r.bus('b');
    assert.equal(again.isShutdown, false, 'closing a handle does not shut the bus down');
    again.publish('still works');
    assert.equal(sub.next(0).value, 'still works', 'subscriptions outlive the bus handle');
    sub.close();
    sub.close();
    assert.throws(() => sub.next(0), isCode('PLEXUS_E_BAD_HANDLE'));
  });
});

test('publishMany: consecutive seqs in order, first seq back, bad input publishes nothing, shutdown', async () => {
  await withRegion('bus-batch', (r) => {
    const bus = r.bus('events', 8);
    const sub = bus.subscribe();
    assert.equal(bus.publish('single'), 1);
    assert.equal(bus.publishMany(['a', { n: 2 }, 'x'.repeat(300), 4]), 2);
    assert.equal(bus.publishMany([]), 0); // nothing published
    assert.equal(bus.nextSeq, 6);
    const got = [1, 2, 3, 4, 5].map(() => sub.next(0));
    assert.deepStrictEqual(got, [
      { value: 'single', seq: 1 },
      { value: 'a', seq: 2 },
      { value: { n: 2 }, seq: 3 },
      { value: 'x'.repeat(300), seq: 4 },
      { value: 4, seq: 5 },
    ]);
    // Bad input anywhere: nothing published.
    assert.throws(() => bus.publishMany('abc'), TypeError);
    assert.throws(() => bus.publishMany([1, Symbol('no')]), TypeError);
    assert.throws(() => bus.publishMany([1, '\ud800']), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.equal(bus.nextSeq, 6);
    assert.throws(() => sub.next(0), plexus.TimeoutError);
    // Larger than the capacity: the subscriber behind sees the last 8.
    assert.equal(bus.publishMany(Array.from({ length: 20 }, (_, i) => i)), 6);
    assert.deepStrictEqual(sub.next(0), { value: 12, seq: 18 });
    bus.shutdown();
    assert.throws(() => bus.publishMany([1]), plexus.ClosedError);
  });
});
