'use strict';
// Shared by the tests (no tests of its own).
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const plexus = require('..');

let counter = 0;

/** A region name no other test (or concurrent test run) uses. */
function uniqueName(tag) {
  counter += 1;
  return `nodetest-${tag}-${process.pid}-${counter}`;
}

/** Runs fn(region, name) on a fresh 1 MiB region, then closes and removes it. */
async function withRegion(tag, fn, options = {}) {
  const name = uniqueName(tag);
  const region = plexus.Region.recreate(name, { size: 1 << 20, ...options });
  try {
    return await fn(region, name);
  } finally {
    region.close();
    plexus.Region.remove(name, { force: true });
  }
}

const CHILD = path.join(__dirname, 'fixtures', 'child.js');

/** Starts test/fixtures/child.js with a role and arguments; resolves to { code, signal, stdout, stderr }. */
function runChild(args, options = {}) {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Skips test `t` with a loud banner on stderr, or fails it when CI is set (CI must not skip it). */
function skipLoudly(t, why, ciMust) {
  if (process.env.CI) throw new Error(`${why}, and CI is set: CI must ${ciMust}`);
  const bar = '*'.repeat(78);
  process.stderr.write(`\n${bar}\nSKIPPED: ${why}: ${t.name} did not run\n${bar}\n`);
  t.skip(`SKIPPED LOUDLY: ${why}`);
}

/** The first executable `name` on the PATH, or null. */
function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const file = path.join(dir || '.', name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** A TCP port of 127.0.0.1 nothing listens on (at the time of the call). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a server on `port` answers PING with +PONG. */
function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      got += d;
      if (got.length >= 7) done(got.startsWith('+PONG\r\n'));
    });
  });
}

/**
 * Starts a private redis-server for test `t` on a free port of 127.0.0.1, without
 * persistence, in its own temporary directory; it is killed (and the directory removed)
 * when the test ends. Resolves to { port, url(region), stop() }, or to null after a loud
 * skip when redis-server (or valkey-server) is not on the PATH (a failure under CI).
 */
async function startRedis(t) {
  const bin = onPath('redis-server') || onPath('valkey-server');
  if (!bin) {
    skipLoudly(t, 'redis-server is not installed (apt-get install redis-server)', 'install redis-server (.ci/run does)');
    return null;
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-redis-'));
    const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
    });
    let exited = false;
    child.on('exit', () => (exited = true));
    const stop = () => {
      if (!exited) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      process.removeListener('exit', stop);
    };
    process.on('exit', stop); // also when this test process ends early
    const deadline = Date.now() + 10000;
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) {
        t.after(stop);
        return { port, url: (region) => `redis://127.0.0.1:${port}/${region}`, stop };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    stop(); // the port was taken meanwhile, or it did not start
  }
  throw new Error(`${bin} did not answer PING on 127.0.0.1 (5 attempts)`);
}

/**
 * A Promise that rejects later, with its rejection handled at once (so it is not an
 * "unhandled rejection" while the test awaits something else first).
 */
function later(promise) {
  promise.catch(() => {});
  return promise;
}

/** Polls `predicate` every 5 ms (at most a minute). */
async function until(predicate, what) {
  const deadline = Date.now() + 60000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs fn(region, name) on a fresh region of `backend` ('shm' or 'redis'); null if skipped. */
async function onBackend(t, backend, tag, fn) {
  if (backend === 'shm') return withRegion(tag, fn);
  const server = await startRedis(t);
  if (!server) return null;
  // A short lease: a killed server is noticed within about half a second.
  const name = `${server.url(uniqueName(tag))}?lease_ms=500`;
  const region = plexus.Region.create(name);
  try {
    return await fn(region, name);
  } finally {
    region.close();
    plexus.Region.remove(name, { force: true });
  }
}

module.exports = { plexus, uniqueName, withRegion, runChild, skipLoudly, freePort, startRedis, later, until, onBackend };
