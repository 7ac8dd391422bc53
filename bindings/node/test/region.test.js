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
    const oldId = r.info().regionId;
    const fresh = plexus.Region.recreate(name, { size: 1 << 20 });
    assert.notEqual(fresh.info().regionId, oldId, 'recreate makes a new region');
    assert.throws(() => fresh.array('a'), isCode('PLEXUS_E_NOT_FOUND'));
    assert.throws(() => r.array('a'), plexus.RemovedError, 'the replaced one tells its users');
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
    assert.equal(info.formatVersion, 3); // the format this library creates
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

test('objects() lists every object once with its kind and shape', () => {
  const name = uniqueName('objects');
  const r = plexus.Region.create(name, { size: 1 << 20 });
  try {
    assert.deepEqual(r.objects(), []);
    r.array('a', 3);
    r.queue('s', 4, { lifo: true });
    r.mutex('m');
    assert.deepEqual(r.objects(), [
      { name: 'a', kind: 'array', shape: 3 },
      { name: 'm', kind: 'mutex', shape: 1 },
      { name: 's', kind: 'stack', shape: 4 },
    ]);
  } finally {
    r.close();
    plexus.Region.remove(name);
  }
});

test('a removed region: every handle throws RemovedError, and a waiting pop ends with it', async () => {
  const name = uniqueName('removed');
  const r = plexus.Region.create(name, { size: 1 << 20 });
  try {
    const q = r.queue('q', 2);
    const a = r.array('a', 1);
    const waiting = q.popAsync(30000);
    setTimeout(() => plexus.Region.remove(name), 100);
    await assert.rejects(waiting, (e) => e instanceof plexus.RemovedError && e.status === 112);
    assert.throws(() => a.get(0), isCode('PLEXUS_E_REMOVED'));
    assert.throws(() => q.push(1, 0), plexus.RemovedError);
    assert.throws(() => r.info(), plexus.RemovedError);
  } finally {
    r.close();
  }
  assert.equal(plexus.Region.remove(name, { force: true }), false);
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

test('the library: PLEXUS_LIBRARY, prebuilds, the checkout target dirs, the system loader; clear errors', () => {
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

  // A copy of the package as bindings/node of a directory that is not (yet) a checkout.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-node-pkg-'));
  const pkg = path.join(dir, 'bindings', 'node');
  const lib = (...parts) => path.join(dir, ...parts, 'libplexus.so');
  const put = (file) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.copyFileSync(plexus.libraryPath, file);
  };
  // No env variable points anywhere (LD_LIBRARY_PATH: cargo test's names this build).
  const env = { PLEXUS_LIBRARY: '', CARGO_TARGET_DIR: '', LD_LIBRARY_PATH: '' };
  try {
    fs.mkdirSync(pkg, { recursive: true });
    for (const f of ['index.js', 'package.json']) fs.copyFileSync(path.join(pkgDir, f), path.join(pkg, f));

    // Without koffi: a clear message saying what to run.
    r = run(pkg, env);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /plexus: cannot find koffi, its one dependency/);
    assert.ok(r.stderr.includes(`run \`npm ci --omit=dev\` in ${pkg}`), r.stderr);
    fs.symlinkSync(path.join(pkgDir, 'node_modules'), path.join(pkg, 'node_modules'));

    // Nothing found: the message lists where it looked (unless this machine has an installed libplexus).
    const installed = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout || '';
    if (!installed.includes('libplexus.so')) {
      r = run(pkg, env);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /cannot find libplexus\.so; looked in:/);
      assert.ok(r.stderr.includes(path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'libplexus.so')), r.stderr);
      assert.ok(r.stderr.includes("libplexus.so through the system's loader"), r.stderr);
      assert.match(r.stderr, /set PLEXUS_LIBRARY/);
    }
    // A file found that does not load is named as such.
    fs.mkdirSync(path.join(dir, 'bad', 'debug'), { recursive: true });
    fs.writeFileSync(lib('bad', 'debug'), 'not a library');
    r = run(pkg, { ...env, CARGO_TARGET_DIR: path.join(dir, 'bad') });
    assert.notEqual(r.status, 0);
    assert.ok(r.stderr.includes(`plexus: cannot load ${lib('bad', 'debug')}`), r.stderr);
    // The system's loader: LD_LIBRARY_PATH names a directory holding it.
    put(lib('sys'));
    r = run(pkg, { ...env, LD_LIBRARY_PATH: path.join(dir, 'sys') });
    assert.equal(r.stdout.trim(), 'libplexus.so', r.stderr);
    // $CARGO_TARGET_DIR/debug is searched.
    put(lib('cargo', 'debug'));
    r = run(pkg, { ...env, CARGO_TARGET_DIR: path.join(dir, 'cargo') });
    assert.equal(r.stdout.trim(), lib('cargo', 'debug'), r.stderr);
    // target/ of the checkout: only once the directory is a plexus checkout.
    put(lib('target', 'release'));
    r = run(pkg, env);
    assert.notEqual(r.stdout.trim(), lib('target', 'release'), 'not a checkout: its target/ is not used');
    fs.mkdirSync(path.join(dir, 'include'));
    fs.writeFileSync(path.join(dir, 'include', 'plexus.h'), '');
    fs.writeFileSync(path.join(dir, 'Cargo.toml'), '');
    r = run(pkg, env);
    assert.equal(r.stdout.trim(), lib('target', 'release'), r.stderr);
    // The newer of release and debug.
    put(lib('target', 'debug'));
    const old = new Date(Date.now() - 60000);
    fs.utimesSync(lib('target', 'release'), old, old);
    r = run(pkg, env);
    assert.equal(r.stdout.trim(), lib('target', 'debug'), r.stderr);
    // A copy of the folder elsewhere finds the checkout through checkout.json.
    const copy = path.join(dir, 'elsewhere', 'node_modules', 'plexus');
    fs.mkdirSync(copy, { recursive: true });
    for (const f of ['index.js', 'package.json']) fs.copyFileSync(path.join(pkg, f), path.join(copy, f));
    fs.symlinkSync(path.join(pkgDir, 'node_modules'), path.join(copy, 'node_modules'));
    fs.writeFileSync(path.join(copy, 'checkout.json'), JSON.stringify({ root: dir }));
    r = run(copy, env);
    assert.equal(r.stdout.trim(), lib('target', 'debug'), r.stderr);
    fs.rmSync(path.join(copy, 'checkout.json'));
    r = run(copy, env);
    assert.notEqual(r.stdout.trim(), lib('target', 'debug'), 'without checkout.json the copy does not know the checkout');
    // The packed copy wins over everything but PLEXUS_LIBRARY.
    const packed = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'libplexus.so');
    put(packed);
    r = run(pkg, { ...env, CARGO_TARGET_DIR: path.join(dir, 'cargo') });
    assert.equal(r.stdout.trim(), packed, r.stderr);
    // A library of another version is refused: a binding one minor version ahead of it
    // (derived from the library, so this stays true at every version bump).
    const [major, minor] = plexus.libraryVersion.split('.').map(Number);
    const ahead = `${major}.${minor + 1}.0`;
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'plexus', version: ahead, main: 'index.js' }));
    r = run(pkg, env);
    assert.notEqual(r.status, 0);
    assert.ok(
      r.stderr.includes(`is version ${plexus.libraryVersion}, but this binding (${ahead}) needs ${major}.${minor + 1}.x`),
      r.stderr,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
