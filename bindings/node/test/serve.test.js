'use strict';
// `plexus serve` from Node's own fetch: the JSON routes, and a change stream of a key
// (server-sent events) read while this process writes the key through the binding.
// The tool is the one this build made: tests/node.rs passes its path as PLEXUS_CLI.
const test = require('node:test');
const assert = require('node:assert/strict');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { withRegion, skipLoudly } = require('./helpers');

/** Starts `plexus serve` on a free port of 127.0.0.1; resolves to { child, base }. */
async function serve(args) {
  const child = spawn(process.env.PLEXUS_CLI, ['serve', '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const [first] = await Promise.race([
    require('node:events').once(lines, 'line'),
    require('node:events').once(child, 'exit').then((c) => {
      throw new Error(`plexus serve exited (${c}) before it listened`);
    }),
  ]);
  const url = first.split(' ').find((w) => w.startsWith('http://'));
  return { child, base: url.replace(/\/regions$/, '') };
}

/** The events of a server-sent event stream, as { id, event, data } objects. */
async function* events(response) {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body) {
    text += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const e = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // comments: the greeting, keep-alives
        const at = line.indexOf(': ');
        e[line.slice(0, at)] = line.slice(at + 2);
      }
      if (e.data !== undefined) yield { id: Number(e.id), event: e.event, data: JSON.parse(e.data) };
    }
  }
}

test('plexus serve: JSON routes and a key change stream, from fetch', async (t) => {
  if (!process.env.PLEXUS_CLI) {
    skipLoudly(t, 'PLEXUS_CLI (the plexus tool of this build) is not set', 'run this through cargo test --test node');
    return;
  }
  await withRegion('serve', async (r, name) => {
    const m = r.map('conf/main', 8);
    m.set('k', 0);
    const { child, base } = await serve([name]);
    const stopped = require('node:events').once(child, 'exit');
    try {
      const region = `${base}/regions/${encodeURIComponent(name)}`;
      const obj = await (await fetch(`${region}/${encodeURIComponent('conf/main')}`)).json();
      assert.deepEqual(obj, {
        name: 'conf/main',
        kind: 'map',
        capacity: 8,
        entries: { k: { value: 0, full: false, version: 1 } },
      });
      const missing = await fetch(`${region}/nope`);
      assert.equal(missing.status, 404);
      assert.match((await missing.json()).error, /no object/);

      const stream = await fetch(`${region}/conf%2Fmain/k?watch`);
      assert.equal(stream.headers.get('content-type'), 'text/event-stream');
      const it = events(stream);
      const first = (await it.next()).value;
      assert.deepEqual(first, { id: 1, event: 'value', data: { key: 'k', value: 0, full: false, version: 1 } });
      for (let i = 1; i <= 50; i++) m.set('k', i);
      let prev = first;
      for (;;) {
        const e = (await it.next()).value;
        assert.equal(e.event, 'value');
        assert.equal(e.data.version, e.id);
        assert.ok(e.id > prev.id && e.data.value > prev.data.value, `${JSON.stringify(e)} after ${JSON.stringify(prev)}`);
        prev = e;
        if (e.data.value === 50) break;
      }
      await it.return();
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await stopped;
    assert.equal(code, 0, 'plexus serve ends cleanly on SIGTERM');
  });
});
