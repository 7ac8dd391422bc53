'use strict';
// The README's Node quick start runs as written and prints what it says.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

test("the README's Node quick start runs as written", () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Node quick start'));
  assert.ok(readme.includes('## Node quick start'), 'README has a Node quick start');
  const start = section.indexOf('```js\n') + '```js\n'.length;
  const code = section.slice(start, section.indexOf('```', start));
  assert.match(code, /require\('plexus'\)/);
  // Inside the package directory, require('plexus') resolves to this package (self-reference).
  const file = path.join(__dirname, `.readme-quickstart-${process.pid}.js`);
  fs.writeFileSync(file, code);
  try {
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 30000 });
    assert.equal(out, 'hello\n5\n{ job: 17 }\n');
  } finally {
    fs.rmSync(file, { force: true });
  }
});
