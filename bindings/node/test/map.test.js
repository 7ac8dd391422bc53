'use strict';
// Every SharedMap call: absent keys, insertion by writing calls, remove (delete), has,
// size and capacity, iteration over keys / values / entries, key errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const { plexus, withRegion } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;

test('absent keys read as EMPTY undefined; writing calls insert them', async () => {
  await withRegion('map-absent', (r) => {
    const m = r.map('m', 8);
    assert.ok(m instanceof plexus.SharedMap);
    assert.equal(m.capacity, 8);
    assert.equal(m.size, 0);
    assert.equal(m.get('nope'), undefined);
    assert.equal(m.isFull('nope'), false);
    assert.equal(m.has('nope'), false);
    assert.equal(m.version('nope'), 0);
    assert.equal(m.size, 0, 'reads insert nothing');
    assert.throws(() => m.readFE('nope', 10), plexus.TimeoutError);
    assert.equal(m.faa('hits', 1), undefined, 'a fresh counter');
    assert.equal(m.faa('hits', 1), 1);
    assert.equal(m.get('hits'), 2);
    assert.equal(m.has('hits'), true);
    assert.equal(m.isFull('hits'), false, 'inserted EMPTY');
    m.set('a', 1);
    m.writeXF('b', 2);
    m.writeXE('c', 3);
    m.setTag('d', true);
    m.exchange('e', 5);
    m.cas('f', undefined, 6);
    m.writeEF('g', 7);
    assert.equal(m.size, 8);
    assert.equal(m.get('f'), 6, 'cas against undefined inserts');
    assert.throws(() => m.set('one too many', 1), isCode('PLEXUS_E_NO_SPACE'));
    assert.equal(m.delete('a'), true);
    assert.equal(m.delete('a'), false, 'absent: false');
    m.set('one too many', 1);
    assert.equal(m.size, 8);
  });
});

test('every element call works on keys', async () => {
  await withRegion('map-calls', async (r) => {
    const m = r.map('m', 16);
    m.writeEF('k', 'v');
    assert.throws(() => m.writeEF('k', 'w', 0), plexus.TimeoutError);
    assert.equal(m.readFF('k', 0), 'v');
    assert.equal(m.readRW('k', 0), 'v');
    assert.throws(() => m.readFE('k', 10), plexus.TimeoutError, 'readFE waits for the read lock');
    m.releaseRW('k');
    assert.equal(m.readFE('k', 0), 'v');
    assert.throws(() => m.releaseRW('k'), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    m.set('n', 10);
    assert.equal(m.compareExchange('n', 10, 11), 10);
    assert.equal(m.cas('n', 10, 12), false);
    assert.equal(m.exchange('n', 'str'), 11);
    const v = m.version('n');
    setTimeout(() => m.set('n', 'changed'), 30);
    assert.equal(await m.waitChangeAsync('n', v, 2000), m.version('n'));
    assert.throws(() => m.waitChange('n', m.version('n'), 10), plexus.TimeoutError);
    assert.throws(() => m.waitChange('brand new', 0, 0), plexus.TimeoutError, 'absent: version 0');
  });
});

test('wait_change on an absent key returns when it is inserted; remove counts as a change', async () => {
  await withRegion('map-wait-insert', async (r) => {
    const m = r.map('m', 4);
    const waiting = m.waitChangeAsync('door', 0, 2000);
    setTimeout(() => m.set('door', 'open'), 20);
    assert.ok((await waiting) > 0);
    // Inserting then writing are two changes: wait from the version after both.
    const removed = m.waitChangeAsync('door', m.version('door'), 2000);
    setTimeout(() => m.delete('door'), 20);
    assert.equal(await removed, 0);
    const appear = m.readFEAsync('late', 2000);
    setTimeout(() => m.writeXF('late', 'here'), 20);
    assert.equal(await appear, 'here');
  });
});

test('keys, values, entries and iteration', async () => {
  await withRegion('map-iterate', (r) => {
    const m = r.map('m', 64);
    const expected = {};
    for (let i = 0; i < 40; i++) {
      m.set(`key-${i}`, i);
      expected[`key-${i}`] = i;
    }
    m.set('ключ 😀', { nested: true });
    expected['ключ 😀'] = { nested: true };
    assert.deepStrictEqual([...m.keys()].sort(), Object.keys(expected).sort());
    assert.deepStrictEqual(Object.fromEntries(m), expected);
    assert.deepStrictEqual(Object.fromEntries(m.entries()), expected);
    assert.deepStrictEqual([...m.values()].length, 41);
    // Removing keys while iterating: every key present throughout comes exactly once.
    const seen = [];
    for (const k of m.keys()) {
      seen.push(k);
      if (k.startsWith('key-1')) m.delete(k);
    }
    assert.equal(new Set(seen).size, seen.length, 'no key twice');
    for (const k of Object.keys(expected)) {
      if (!k.startsWith('key-1')) assert.ok(seen.includes(k), `${k} was seen`);
    }
    assert.equal(m.size, 41 - 11);
  });
});

test('full maps, key rules, errors', async () => {
  await withRegion('map-errors', (r) => {
    const m = r.map('full', 4, { full: true });
    m.set('k', 1);
    assert.equal(m.isFull('k'), true, 'keys of a { full: true } map are inserted FULL');
    assert.equal(r.map('full').capacity, 4);
    assert.throws(() => r.map('full', 5), isCode('PLEXUS_E_INCOMPATIBLE'));
    assert.throws(() => r.map('full', 4, { exclusive: true }), isCode('PLEXUS_E_EXISTS'));
    assert.throws(() => r.map('absent'), isCode('PLEXUS_E_NOT_FOUND'));
    assert.throws(() => m.get(1), TypeError);
    assert.throws(() => m.get('a\0b'), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.throws(() => m.set('\uDC00', 1), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    assert.throws(() => m.set('x'.repeat(4097), 1), isCode('PLEXUS_E_INVALID_ARGUMENT'));
    m.set('x'.repeat(4096), 'longest key');
    assert.equal(m.get('x'.repeat(4096)), 'longest key');
    m.close();
    assert.throws(() => m.get('k'), isCode('PLEXUS_E_BAD_HANDLE'));
  });
});
