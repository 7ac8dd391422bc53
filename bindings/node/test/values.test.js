'use strict';
// Every value type round trip, through every kind of object and the async paths, and the
// conversion rules of docs/node.md (INT as number or BigInt, FLOAT, BYTES, OBJECT via JSON).
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion } = require('./helpers');

const ROUND_TRIPS = [
  ['UNDEFINED', undefined, undefined],
  ['NULL', null, null],
  ['BOOL true', true, true],
  ['BOOL false', false, false],
  ['INT 0', 0, 0],
  ['INT -1', -1, -1],
  ['INT max safe', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ['INT min safe', Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
  ['INT from a small bigint', 42n, 42],
  ['INT 2^53 as bigint', 2n ** 53n, 2n ** 53n],
  ['INT max', 2n ** 63n - 1n, 2n ** 63n - 1n],
  ['INT min', -(2n ** 63n), -(2n ** 63n)],
  ['INT -2^53', -(2n ** 53n), -(2n ** 53n)],
  ['INT 2^32', 2 ** 32, 2 ** 32],
  ['INT -2^32-1', -(2 ** 32) - 1, -(2 ** 32) - 1],
  ['FLOAT 1.5', 1.5, 1.5],
  ['FLOAT -0', -0, -0],
  ['FLOAT NaN', NaN, NaN],
  ['FLOAT Infinity', Infinity, Infinity],
  ['FLOAT -Infinity', -Infinity, -Infinity],
  ['FLOAT 2^53 (not a safe integer)', 2 ** 53, 2 ** 53],
  ['FLOAT 1e300', 1e300, 1e300],
  ['FLOAT from plexus.float(2)', plexus.float(2), 2],
  ['STRING empty', '', ''],
  ['STRING ascii', 'hello', 'hello'],
  ['STRING unicode', 'héllo wörld ✓ 😀', 'héllo wörld ✓ 😀'],
  ['STRING with NUL', 'a\0b', 'a\0b'],
  ['STRING long', 'x'.repeat(100000), 'x'.repeat(100000)],
  ['BYTES Buffer', Buffer.from([0, 1, 2, 255]), Buffer.from([0, 1, 2, 255])],
  ['BYTES empty', Buffer.alloc(0), Buffer.alloc(0)],
  ['BYTES Uint8Array', new Uint8Array([7, 8, 9]), Buffer.from([7, 8, 9])],
  ['BYTES Uint16Array (its bytes)', new Uint16Array([0x0102]), Buffer.from([2, 1])],
  ['BYTES DataView of a slice', new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2), Buffer.from([2, 3])],
  ['BYTES ArrayBuffer', new Uint8Array([5, 6]).buffer, Buffer.from([5, 6])],
  ['BYTES 1 MiB', Buffer.alloc(1 << 19, 0xab), Buffer.alloc(1 << 19, 0xab)],
  ['OBJECT nested', { a: 1, b: [true, null, 'x', { c: 2.5 }], d: {} }, { a: 1, b: [true, null, 'x', { c: 2.5 }], d: {} }],
  ['OBJECT array', [1, 'two', [3]], [1, 'two', [3]]],
  ['OBJECT empty array', [], []],
  ['OBJECT big integers', { big: 2n ** 60n, small: 3n, neg: -(2n ** 62n) }, { big: 2n ** 60n, small: 3, neg: -(2n ** 62n) }],
  ['OBJECT unicode keys', { 'ключ': 'значение', '😀': [1] }, { 'ключ': 'значение', '😀': [1] }],
  ['OBJECT null prototype', Object.assign(Object.create(null), { x: 1 }), { x: 1 }],
  ['OBJECT key order kept', { z: 1, a: 2, m: 3 }, { z: 1, a: 2, m: 3 }],
];

function same(actual, expected, what) {
  if (typeof expected === 'number' && Number.isNaN(expected)) {
    assert.ok(Number.isNaN(actual), `${what}: expected NaN, got ${actual}`);
  } else {
    assert.deepStrictEqual(actual, expected, what);
  }
  if (expected !== null && typeof expected === 'object' && !Buffer.isBuffer(expected)) {
    assert.deepStrictEqual(Object.keys(actual), Object.keys(expected), `${what}: key order`);
  }
}

test('every type round trips through an array, a map, a queue and a bus', async () => {
  await withRegion('values', (r) => {
    const a = r.array('a', 1);
    const m = r.map('m', 8);
    const q = r.queue('q', 4);
    const bus = r.bus('b', 4);
    const sub = bus.subscribe();
    for (const [what, input, expected] of ROUND_TRIPS) {
      a.set(0, input);
      same(a.get(0), expected, `array ${what}`);
      m.set('k', input);
      same(m.get('k'), expected, `map ${what}`);
      q.push(input);
      same(q.pop(), expected, `queue ${what}`);
      bus.publish(input);
      same(sub.next(1000).value, expected, `bus ${what}`);
    }
  }, { size: 8 << 20 });
});

test('every type round trips through the async calls', async () => {
  await withRegion('values-async', async (r) => {
    const a = r.array('a', 1);
    const q = r.queue('q', 4);
    const bus = r.bus('b', 4);
    const sub = bus.subscribe();
    for (const [what, input, expected] of ROUND_TRIPS) {
      await a.writeEFAsync(0, input, 1000);
      same(await a.readFFAsync(0, 1000), expected, `readFFAsync ${what}`);
      same(await a.readFEAsync(0, 1000), expected, `readFEAsync ${what}`);
      await q.pushAsync(input, 1000);
      same(await q.popAsync(1000), expected, `popAsync ${what}`);
      bus.publish(input);
      same((await sub.nextAsync(1000)).value, expected, `nextAsync ${what}`);
    }
  }, { size: 8 << 20 });
});

test('values written while an async call waits arrive intact (its memory is its own)', async () => {
  await withRegion('values-waiting', async (r) => {
    const a = r.array('a', 2);
    const pending = a.readFEAsync(0, 5000);
    const pendingText = a.readFEAsync(1, 5000);
    await new Promise((resolve) => setTimeout(resolve, 80));
    a.writeEF(0, { deep: ['structure', 1, 2n ** 62n] });
    a.set(1, 'other text written in between');
    a.writeXF(1, 'ü'.repeat(1000));
    assert.deepStrictEqual(await pending, { deep: ['structure', 1, 2n ** 62n] });
    assert.equal(await pendingText, 'ü'.repeat(1000));
  });
});

test('bigint regions read every INT (and versions and sequence numbers) as a BigInt', async () => {
  await withRegion('values-bigint', (r) => {
    assert.equal(r.bigint, true);
    const a = r.array('a', 1);
    a.set(0, 5);
    assert.equal(a.get(0), 5n);
    a.set(0, { n: 1, f: 1.5, list: [2] });
    assert.deepStrictEqual(a.get(0), { n: 1n, f: 1.5, list: [2n] });
    assert.equal(typeof a.version(0), 'bigint');
    const bus = r.bus('b', 2);
    assert.equal(bus.publish(1), 1n);
    assert.equal(typeof bus.nextSeq, 'bigint');
    a.set(0, 1.5);
    assert.equal(a.get(0), 1.5);
  }, { bigint: true });
});

test('integral numbers are INT, plexus.float makes FLOAT, and the two never compare equal', async () => {
  await withRegion('values-int-float', (r) => {
    const a = r.array('a', 1);
    a.set(0, 3);
    assert.equal(a.cas(0, plexus.float(3), 4), false, 'INT 3 is not FLOAT 3');
    assert.equal(a.cas(0, 3, 4), true);
    a.set(0, plexus.float(3));
    assert.equal(a.cas(0, 3, 5), false, 'FLOAT 3 is not INT 3');
    assert.equal(a.cas(0, plexus.float(3), 5), true);
    a.set(0, 2.5);
    a.faa(0, 1);
    assert.equal(a.get(0), 3.5);
    assert.equal(new plexus.Float(1.25).valueOf(), 1.25);
    assert.throws(() => plexus.float('1'), TypeError);
  });
});

test('OBJECT goes through JSON: undefined members are dropped, NaN becomes null, toJSON is used', async () => {
  await withRegion('values-json', (r) => {
    const a = r.array('a', 1);
    a.set(0, { u: undefined, n: NaN, list: [undefined, 1], when: new Date(0) });
    assert.deepStrictEqual(a.get(0), { n: null, list: [null, 1], when: '1970-01-01T00:00:00.000Z' });
    const proto = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
    a.set(0, proto);
    const back = a.get(0);
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.equal({}.polluted, undefined);
    assert.equal(back.x, 1);
    // A big integer forces the exact (slow) parser: __proto__ must stay an own property there too.
    a.set(0, { ...proto, big: 2n ** 60n });
    const back2 = a.get(0);
    assert.equal({}.polluted, undefined);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(back2, '__proto__').value, { polluted: true });
    // Large objects need a bigger JSON buffer than the first try.
    const large = { items: Array.from({ length: 5000 }, (_, i) => ({ i, name: `item ${i}` })) };
    a.set(0, large);
    assert.deepStrictEqual(a.get(0), large);
  }, { size: 4 << 20 });
});

test('what cannot be stored is refused before anything is written', async () => {
  await withRegion('values-refused', (r) => {
    const a = r.array('a', 1);
    a.set(0, 'kept');
    for (const bad of [() => {}, Symbol('s'), new Map(), new Set(), new Date(), new (class Point {})(), /re/]) {
      assert.throws(() => a.set(0, bad), TypeError, String(bad));
    }
    assert.throws(() => a.set(0, 2n ** 63n), RangeError);
    assert.throws(() => a.set(0, -(2n ** 63n) - 1n), RangeError);
    assert.throws(() => a.set(0, '\uD800 lone surrogate'), (e) => e.code === 'PLEXUS_E_INVALID_ARGUMENT');
    assert.throws(() => a.set(0, { big: 2n ** 64n }), RangeError);
    a.set(0, { top: 2n ** 64n - 1n });
    assert.deepStrictEqual(a.get(0), { top: 2n ** 64n - 1n });
    a.set(0, 'kept');
    const cyclic = {};
    cyclic.self = cyclic;
    assert.throws(() => a.set(0, cyclic), TypeError);
    assert.equal(a.get(0), 'kept');
  });
});

test('TYPE_NAMES lists the plexus types in order', () => {
  assert.deepStrictEqual(plexus.TYPE_NAMES, ['UNDEFINED', 'NULL', 'BOOL', 'INT', 'FLOAT', 'STRING', 'BYTES', 'OBJECT']);
});

test('integers around the 32-bit boundaries are stored as the exact INT (checked against a BigInt)', async () => {
  await withRegion('values-int-bits', (r) => {
    const a = r.array('a', 1);
    const m = r.map('m', 4);
    const edges = [0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32, -(2 ** 32),
      2 ** 40 + 3, -(2 ** 40) - 3, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    for (const n of edges) {
      a.set(0, n);
      // cas compares type and value: a BigInt expected is an INT written by another path.
      assert.equal(a.cas(0, BigInt(n), 'swapped'), true, `array INT ${n}`);
      m.set('k', n);
      assert.equal(m.cas('k', BigInt(n), 'swapped'), true, `map INT ${n}`);
      a.set(0, n + 0.5);
      assert.equal(a.cas(0, BigInt(Math.floor(n)), 'x'), false, `${n + 0.5} is a FLOAT`);
    }
    a.set(0, -0);
    assert.equal(a.cas(0, 0, 'x'), false, '-0 is a FLOAT, not INT 0');
    assert.equal(a.cas(0, plexus.float(-0), 'x'), true);
  });
});
