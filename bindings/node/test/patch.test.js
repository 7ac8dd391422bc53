'use strict';
// SharedArray.patch / SharedMap.patch (MongoDB-style update documents, applied
// atomically), patches from several processes, and values that cannot be shared (a
// function or symbol inside an object) refused by every writing call.
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion, runChild } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;

for (const kind of ['array', 'map']) {
  test(`${kind}.patch applies every operator, returns the new value, keeps the tag`, async () => {
    await withRegion(`patch-${kind}`, (r) => {
      const x = kind === 'array' ? r.array('a', 4) : r.map('m', 8);
      const k = kind === 'array' ? 2 : 'cfg';
      assert.deepStrictEqual(x.patch(k, { $inc: { 'stats.hits': 1 } }), { stats: { hits: 1 } });
      const v = x.version(k);
      const got = x.patch(k, {
        $inc: { 'stats.hits': 2 },
        $set: { name: 'door', items: [{ n: 'a' }, { n: 'b' }] },
        $push: { log: { $each: [1, 2] } },
        $max: { hi: 3.5 },
      });
      const want = { stats: { hits: 3 }, name: 'door', items: [{ n: 'a' }, { n: 'b' }], log: [1, 2], hi: 3.5 };
      assert.deepStrictEqual(got, want);
      assert.deepStrictEqual(x.get(k), want);
      assert.equal(x.version(k), v + 1);
      assert.equal(x.isFull(k), false, 'the tag is kept');
      x.setTag(k, true);
      assert.deepStrictEqual(
        x.patch(k, {
          $set: { 'items.1.n': 'z' },
          $pull: { log: 1 },
          $unset: { hi: '' },
          $addToSet: { tags: 't' },
          $mul: { k: 2 },
          $min: { 'stats.lo': -1 },
        }),
        { stats: { hits: 3, lo: -1 }, name: 'door', items: [{ n: 'a' }, { n: 'z' }], log: [2], tags: ['t'], k: 0 },
      );
      assert.equal(x.isFull(k), true);
      // All or nothing: value and version untouched after every refusal.
      const before = x.get(k);
      const version = x.version(k);
      for (const [update, code, words] of [
        [{ $inc: { name: 1 } }, 'PLEXUS_E_TYPE_MISMATCH', "$inc 'name'"],
        [{ $set: { z: 1 }, $push: { name: 1 } }, 'PLEXUS_E_TYPE_MISMATCH', "$push 'name'"],
        [{ $set: { 'items.7.n': 1 } }, 'PLEXUS_E_TYPE_MISMATCH', 'past the end'],
        [{ $rename: { a: 'b' } }, 'PLEXUS_E_INVALID_ARGUMENT', '$rename'],
        [{ $set: { a: 1 }, $inc: { a: 1 } }, 'PLEXUS_E_INVALID_ARGUMENT', 'same field'],
        [{ $inc: { 'stats.hits': '1' } }, 'PLEXUS_E_INVALID_ARGUMENT', 'number'],
        [{}, 'PLEXUS_E_INVALID_ARGUMENT', 'no operator'],
        [5, 'PLEXUS_E_INVALID_ARGUMENT', 'OBJECT'],
      ]) {
        assert.throws(() => x.patch(k, update), (e) => isCode(code)(e) && e.message.includes(words), JSON.stringify(update));
        assert.deepStrictEqual(x.get(k), before);
        assert.equal(x.version(k), version);
      }
      x.set(k, 'text');
      assert.throws(() => x.patch(k, { $set: { a: 1 } }), isCode('PLEXUS_E_TYPE_MISMATCH'));
      assert.equal(x.get(k), 'text');
    });
  });
}

test('patches from three processes and this one lose nothing', async () => {
  await withRegion('patch-processes', async (r, name) => {
    const m = r.map('docs', 4);
    const a = r.array('logs', 1);
    const kids = [0, 1, 2].map((p) => runChild(['patch', name, '200', `c${p}`]));
    for (let i = 0; i < 200; i++) {
      m.patch('cfg', { $inc: { 'stats.hits': 1 } });
      a.patch(0, { $push: { 'log.items': `me-${i}` } });
    }
    for (const { done } of kids) {
      const { code, stderr } = await done;
      assert.equal(code, 0, stderr);
    }
    assert.deepStrictEqual(m.get('cfg'), { stats: { hits: 800 } });
    const items = a.get(0).log.items;
    assert.equal(items.length, 800);
    for (const who of ['c0', 'c1', 'c2', 'me']) {
      assert.deepStrictEqual(
        items.filter((s) => s.startsWith(`${who}-`)),
        Array.from({ length: 200 }, (_, i) => `${who}-${i}`),
      );
    }
  });
});

test('a function, symbol, Map or Set inside an object is refused by every writing call, naming its path', async () => {
  await withRegion('unshareable', (r) => {
    const a = r.array('a', 1);
    const m = r.map('m', 4);
    const q = r.queue('q', 4);
    const b = r.bus('b', 4);
    a.set(0, { kept: true });
    const bad = [
      [{ a: 1, f() {} }, 'a function', '.f'],
      [{ a: 1, g: () => 1 }, 'a function', '.g'],
      [{ list: [1, { deep: function named() {} }] }, 'a function', '.list[1].deep'],
      [[1, Symbol('s')], 'a symbol', '[1]'],
      [{ 'odd key': Symbol.iterator }, 'a symbol', '["odd key"]'],
      [{ [Symbol('k')]: 1 }, 'a symbol-keyed property', ''],
      [{ m: new Map([[1, 2]]) }, 'a Map', '.m'],
      [{ s: new Set([1]) }, 'a Set', '.s'],
    ];
    const calls = [
      ['set', (v) => a.set(0, v)],
      ['writeXF', (v) => a.writeXF(0, v)],
      ['writeXE', (v) => m.writeXE('k', v)],
      ['exchange', (v) => m.exchange('k', v)],
      ['cas', (v) => a.cas(0, { kept: true }, v)],
      ['push', (v) => q.push(v, 0)],
      ['publish', (v) => b.publish(v)],
      ['patch $set', (v) => a.patch(0, { $set: { x: v } })],
      ['patch $push', (v) => m.patch('k', { $push: { l: v } })],
    ];
    for (const [value, what, path] of bad) {
      for (const [call, f] of calls) {
        assert.throws(
          () => f(value),
          (e) => e instanceof TypeError && e.message.includes(what) && e.message.includes(path),
          `${call} of ${what} at ${path}`,
        );
      }
    }
    assert.throws(() => a.set(0, { [Symbol('k')]: 1 }), /at the top/);
    assert.throws(() => a.patch(0, { $set: { x: () => 1 } }), /at \.\$set\.x\)/);
    assert.deepStrictEqual(a.get(0), { kept: true });
    assert.equal(m.has('k'), false, 'nothing was inserted');
    assert.equal(q.size, 0);
    // What JSON keeps is still stored as before: undefined members are left out, a Date
    // becomes its toJSON string, a class instance its own properties.
    class Point {
      constructor() {
        this.x = 1;
      }
      norm() {
        return this.x;
      }
    }
    a.set(0, { u: undefined, when: new Date(0), p: new Point() });
    assert.deepStrictEqual(a.get(0), { when: '1970-01-01T00:00:00.000Z', p: { x: 1 } });
  });
});
