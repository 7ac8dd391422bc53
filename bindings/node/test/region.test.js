'use strict';
// Regions (open modes, options, info, flush, remove, waitObject, openAsync) and the
// module: statuses, errors, version, and how the library is found.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { plexus, uniqueName, withRegion } = require('./helpers');

const isCode = (code) => (e) => e instanceof plexus.PlexusError && e.code === code;

test('open modes: openOrCreate, create, open, recreate', () => {
  const name = uniqueName('modes');
  assert.throws(() => plexus.Region.openExisting(name), isCode('PLEXUS_E_NOT_FOUND'));
  assert.throws(() => plexus.Region.open(name, { mode: 'open', wait: 20 }), isCode('PLEXUS_E_NOT_FOUND'));
  const r = plexus.Region.create(name, { size: 1 << 20 });
  try {
    assert.ok(r instanceof plexus.Region);
    assert.equal(r.name, name);
    assert.equal(r.isOpen, true);
    assert.equal(r.bigint, false);
    assert.throws(() => plexus.Region.create(name), isCode('PLEXUS_E_EXISTS'));
    r.array('a', 1).set(0, 'kept');
    const same = plexus.Region.open(name);
    assert.equal(same.array('a').get(0), 'kept', 'openOrCreate opens');
    assert.equal(same.info().regionId, r.info().regionId);
    same.close();
    const fresh = plexus.Region.recreate(name, { size: 1 << 20 });
    assert.notEqual(fresh.info().regionId, r.info().regionId, 'recreate makes a new region');
    assert.throws(() => fresh.array('a'), isCode('PLEXUS_E_NOT_FOUND'));
    assert.equal(r.array('a').get(0), 'kept', 'the old one lives on for its users');
    fresh.close();
  } finally {
    r.close();
    r.close();
    assert.equal(plexus.Region.remove(name), true);
  }
  assert.throws(() => plexus.Region.remove(name), isCode('PLEXUS_E_NOT_FOUND'));
  assert.equal(plexus.Region.remove(name, { force: true }), false);
});

test('options are checked', () => {
  const name = uniqueName('options');
  assert.throws(() => plexus.Region.open(name, { mode: 'sometimes' }), TypeError);
  assert.throws(() => plexus.Region.open(name, { sise: 1 }), TypeError);
  assert.throws(() => plexus.Region.open(name, { size: -1 }), RangeError);
  assert.throws(() => plexus.Region.open(name, { permissions: 0o10000 }), RangeError);
  assert.throws(() => plexus.Region.open(name, 'create'), TypeError);
  assert.throws(() => plexus.Region.open(name, { size: 1000 }), isCode('PLEXUS_E_INVALID_ARGUMENT'), 'too small');
  assert.throws(() => plexus.Region.open('bad name!'), isCode('PLEXUS_E_INVALID_ARGUMENT'));
  assert.throws(() => plexus.Region.open('nul\0name'), isCode('PLEXUS_E_INVALID_ARGUMENT'));
  assert.throws(() => plexus.Region.open(42), TypeError);
});

test('persistent regions: a path, permissions, flush, reopen after close', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-node-'));
  const file = path.join(dir, 'data.plexus');
  try {
    const r = plexus.Region.create(file, { size: 1 << 20, permissions: 0o640 });
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    r.map('settings', 8).set('theme', 'dark');
    r.flush();
    r.close();
    const again = plexus.Region.openExisting(file);
    assert.equal(again.map('settings').get('theme'), 'dark');
    again.close();
    plexus.Region.remove(file);
    assert.equal(fs.existsSync(file), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('info reports size, heap, objects, attachments, version, id, creation time', async () => {
  await withRegion('info', (r, name) => {
    const before = Date.now();
    const info = r.info();
    assert.equal(info.size, 1 << 20);
    assert.ok(info.heapSize > 0 && info.heapSize < info.size);
    assert.equal(info.heapUsed + info.heapFree, info.heapSize);
    assert.equal(info.objectCount, 0);
    assert.equal(info.attachedProcesses, 1);
    assert.equal(info.formatVersion, 1);
    assert.equal(typeof info.regionId, 'bigint');
    assert.ok(info.created instanceof Date && info.created.getTime() <= before);
    r.array('a', 4);
    r.queue('q', 4);
    assert.equal(r.info().objectCount, 2);
    const other = plexus.Region.openExisting(name);
    assert.equal(r.info().attachedProcesses, 2);
    other.close();
  });
});

test('close() of every kind gives back only its handle; the object and other handles stay', async () => {
  await withRegion('close-every-kind', (r) => {
    const kinds = {
      array: [(n) => r.array('a', n), 2, (o) => o.set(0, 1)],
      map: [(n) => r.map('m', n), 4, (o) => o.set('k', 1)],
      queue: [(n) => r.queue('q', n), 4, (o) => o.push(1, 0)],
      bus: [(n) => r.bus('b', n), 4, (o) => o.publish(1)],
      mutex: [() => r.mutex('x'), 0, (o) => o.locked],
      barrier: [(n) => r.barrier('y', n), 2, (o) => o.parties],
      semaphore: [(n) => r.semaphore('s', n), 2, (o) => o.available],
    };
    for (const [kind, [open, size, use]] of Object.entries(kinds)) {
      const first = open(size);
      const second = open(0); // the same C handle, opened twice (counted)
      use(first);
      first.close();
      first.close();
      assert.throws(() => use(first), isCode('PLEXUS_E_BAD_HANDLE'), `${kind}: closed`);
      use(second); // still open once
      second.close();
      assert.throws(() => use(second), isCode('PLEXUS_E_BAD_HANDLE'), `${kind}: closed too`);
      use(open(0)); // the object itself stays in the region
    }
    const sub = r.bus('b').subscribe();
    sub.close();
    sub.close();
    assert.throws(() => sub.next(0), isCode('PLEXUS_E_BAD_HANDLE'));
  });
});

test('waitObject and waitObjectAsync', async () => {
  await withRegion('wait-object', async (r) => {
    assert.throws(() => r.waitObject('later', 10), plexus.TimeoutError);
    await assert.rejects(r.waitObjectAsync('later', 10), plexus.TimeoutError);
    const waiting = r.waitObjectAsync('later', { timeout: 2000 });
    setTimeout(() => r.queue('later', 1), 30);
    await waiting;
    r.waitObject('later', 0);
    r.waitObject('later');
  });
});

test('openAsync waits for the region to appear without blocking; times out with NOT_FOUND', async () => {
  const name = uniqueName('open-async');
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const opening = plexus.Region.openAsync(name, { wait: 3000 });
  await new Promise((resolve) => setTimeout(resolve, 80));
  const creator = plexus.Region.create(name, { size: 1 << 20 });
  const opened = await opening;
  clearInterval(timer);
  try {
    assert.ok(ticks >= 5, `the event loop ran (${ticks} ticks)`);
    assert.equal(opened.info().regionId, creator.info().regionId);
  } finally {
    opened.close();
    creator.close();
    plexus.Region.remove(name);
  }
  await assert.rejects(plexus.Region.openAsync(uniqueName('never'), { wait: 30 }), isCode('PLEXUS_E_NOT_FOUND'));
  await assert.rejects(plexus.Region.openAsync(uniqueName('never'), { signal: AbortSignal.timeout(30) }), { name: 'TimeoutError' });
  const made = await plexus.Region.openAsync(name, { mode: 'create', size: 1 << 20 });
  made.close();
  plexus.Region.remove(name);
});

test('errors carry code and status; status, statusName, recoveredLocks, version', () => {
  let err;
  try {
    plexus.Region.openExisting(uniqueName('none'));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof plexus.PlexusError && err instanceof Error);
  assert.equal(err.name, 'PlexusError');
  assert.equal(err.code, 'PLEXUS_E_NOT_FOUND');
  assert.equal(err.status, plexus.status.E_NOT_FOUND);
  assert.match(err.message, /^PLEXUS_E_NOT_FOUND: /);
  assert.ok(new plexus.TimeoutError('x') instanceof plexus.PlexusError);
  assert.equal(new plexus.ClosedError('x').code, 'PLEXUS_CLOSED');
  assert.equal(plexus.statusName(plexus.status.OWNER_DEAD), 'PLEXUS_OWNER_DEAD');
  assert.equal(plexus.statusName(12345), 'PLEXUS_UNKNOWN_STATUS');
  for (const [short, number] of Object.entries(plexus.status)) {
    assert.equal(plexus.statusName(number), `PLEXUS_${short}`);
  }
  assert.equal(typeof plexus.recoveredLocks(), 'number');
  assert.equal(plexus.libraryVersion, require('../package.json').version);
  assert.ok(fs.existsSync(plexus.libraryPath));
});

test('objects keep their region alive; unreferenced handles are given back when collected', () => {
  // In a child with --expose-gc: the region stays open while an array of it is
  // reachable, and its handle is closed once neither is.
  const script = `
    const plexus = require(${JSON.stringify(path.join(__dirname, '..'))});
    const name = ${JSON.stringify(uniqueName('gc'))};
    let arr = plexus.Region.recreate(name, { size: 1 << 20 }).array('a', 1);
    global.gc();
    arr.set(0, 'the region is still open');
    const observer = plexus.Region.openExisting(name);
    if (observer.info().attachedProcesses !== 2) throw new Error('expected 2 attachments');
    arr = null;
    (async () => {
      for (let i = 0; i < 50 && observer.info().attachedProcesses !== 1; i++) {
        global.gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const left = observer.info().attachedProcesses;
      observer.close();
      plexus.Region.remove(name);
      console.log(left);
    })();
  `;
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
  assert.equal(out.trim(), '1', 'the collected region handle was closed');
});

test('the library: PLEXUS_LIBRARY, next to the package, the repo target dirs; clear errors', () => {
  const run = (cwd, env, code = 'console.log(require("./index.js").libraryPath)') =>
    spawnSync(process.execPath, ['-e', code], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
  // PLEXUS_LIBRARY wins, and a wrong one is an error (no silent fallback).
  const pkgDir = path.join(__dirname, '..');
  let r = run(pkgDir, { PLEXUS_LIBRARY: plexus.libraryPath });
  assert.equal(r.stdout.trim(), plexus.libraryPath);
  r = run(pkgDir, { PLEXUS_LIBRARY: '/nonexistent/libplexus.so' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /PLEXUS_LIBRARY is set to \/nonexistent\/libplexus\.so, which does not exist/);
  r = run(pkgDir, { PLEXUS_LIBRARY: __filename });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /plexus: cannot load .*region\.test\.js/);
  // A copy of the package outside the repository finds nothing and says where it looked.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-node-pkg-'));
  try {
    for (const f of ['index.js', 'package.json']) fs.copyFileSync(path.join(pkgDir, f), path.join(dir, f));
    fs.symlinkSync(path.join(pkgDir, 'node_modules'), path.join(dir, 'node_modules'));
    const env = { PLEXUS_LIBRARY: '', CARGO_TARGET_DIR: '' };
    r = run(dir, env);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot find libplexus\.so; looked in:/);
    assert.ok(r.stderr.includes(path.join(dir, 'libplexus.so')), 'lists the package directory');
    assert.ok(r.stderr.includes(path.join(dir, 'target', 'release', 'libplexus.so')), 'lists target/release');
    assert.ok(r.stderr.includes(path.join(dir, 'target', 'debug', 'libplexus.so')), 'lists target/debug');
    assert.match(r.stderr, /set PLEXUS_LIBRARY/);
    // $CARGO_TARGET_DIR/debug is searched.
    fs.mkdirSync(path.join(dir, 'cargo', 'debug'), { recursive: true });
    fs.copyFileSync(plexus.libraryPath, path.join(dir, 'cargo', 'debug', 'libplexus.so'));
    r = run(dir, { PLEXUS_LIBRARY: '', CARGO_TARGET_DIR: path.join(dir, 'cargo') });
    assert.equal(r.stdout.trim(), path.join(dir, 'cargo', 'debug', 'libplexus.so'), r.stderr);
    // target/release in the package's directory or a parent.
    fs.mkdirSync(path.join(dir, 'target', 'release'), { recursive: true });
    fs.copyFileSync(plexus.libraryPath, path.join(dir, 'target', 'release', 'libplexus.so'));
    r = run(dir, env);
    assert.equal(r.stdout.trim(), path.join(dir, 'target', 'release', 'libplexus.so'), r.stderr);
    // Next to the package wins over target dirs.
    fs.copyFileSync(plexus.libraryPath, path.join(dir, 'libplexus.so'));
    r = run(dir, env);
    assert.equal(r.stdout.trim(), path.join(dir, 'libplexus.so'), r.stderr);
    // A library of another version is refused: a binding one minor version ahead of it
    // (derived from the library, so this stays true at every version bump).
    const [major, minor] = plexus.libraryVersion.split('.').map(Number);
    const ahead = `${major}.${minor + 1}.0`;
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'plexus', version: ahead, main: 'index.js' }));
    r = run(dir, env);
    assert.notEqual(r.status, 0);
    assert.ok(
      r.stderr.includes(`is version ${plexus.libraryVersion}, but this binding (${ahead}) needs ${major}.${minor + 1}.x`),
      r.stderr,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
