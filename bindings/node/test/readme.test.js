'use strict';
// The README's Node quick start runs as written and prints what it says, on a local
// region and, with its region name replaced by a redis:// URL, on a private redis-server.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startRedis } = require('./helpers');

const EXPECTED = 'hello\n5\n{ job: 17 }\n';

function quickStart() {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  assert.ok(readme.includes('## Node quick start'), 'README has a Node quick start');
  const section = readme.slice(readme.indexOf('## Node quick start'));
  const start = section.indexOf('```js\n') + '```js\n'.length;
  const code = section.slice(start, section.indexOf('```', start));
  assert.match(code, /require\('plexus'\)/);
  return code;
}

function run(code) {
  // Inside the package directory, require('plexus') resolves to this package (self-reference).
  const file = path.join(__dirname, `.readme-quickstart-${process.pid}.js`);
  fs.writeFileSync(file, code);
  try {
    return execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 30000 });
  } finally {
    fs.rmSync(file, { force: true });
  }
}

test("the README's Node quick start runs as written", () => {
  assert.equal(run(quickStart()), EXPECTED);
});

test("the README's Node quick start on a redis:// region (one string changed)", async (t) => {
  const code = quickStart();
  const server = await startRedis(t);
  if (!server) return;
  const m = code.match(/Region\.open\('([^']+)'/);
  assert.ok(m, "the quick start opens plexus.Region.open('NAME')");
  const literal = `'${m[1]}'`;
  assert.ok(code.split(literal).length - 1 >= 2, 'it opens and removes the region');
  assert.equal(run(code.split(literal).join(`'${server.url(m[1])}'`)), EXPECTED);
});
