'use strict';
// Shared by the tests (no tests of its own).
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

module.exports = { plexus, uniqueName, withRegion, runChild };
