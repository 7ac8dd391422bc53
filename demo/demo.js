'use strict';
// The Node participant of the cross-language demo (./demo.sh runs it when node and the
// binding's koffi dependency are installed; see demo.c for the plan).
//
//   node demo/demo.js REGION IDS        e.g. ... plexus-demo-42 c,cpp,python,node
//
// It uses the async variants of the blocking calls (readFEAsync, waitAsync...), so the
// event loop keeps running while it waits: a timer prints how many times it ticked.
// REGION may be redis://host:port/NAME (./demo.sh --redis); a password is never printed.
// Every line starts with "[Node]". Exit status 0 on success, 1 on failure.

const plexus = require('../bindings/node');

const INCREMENTS = 10000;
// Generous limits (ms): over the network (./demo.sh --redis) every call is a round trip.
const WAIT = 60000;
const BARRIER_WAIT = 120000;
const say = (line) => console.log(`[Node]   ${line}`);

async function main() {
  const [name, list] = process.argv.slice(2);
  if (!name || !list) {
    console.error('usage: node demo.js REGION IDS (e.g. demo.js plexus-demo c,cpp,python,node)');
    return 2;
  }
  const ids = list.split(',');
  const right = ids[(ids.indexOf('node') + 1) % ids.length];
  let loopTicks = 0;
  const timer = setInterval(() => loopTicks++, 1);

  // The C process creates the region and, last, the barrier: wait for both.
  const region = await plexus.Region.openAsync(name, { wait: WAIT });
  await region.waitObjectAsync('meet', WAIT);
  const m = region.map('demo');
  const barrier = region.barrier('meet');
  let rounds = 0;
  const meet = async () => {
    rounds += 1;
    if (await barrier.waitAsync(BARRIER_WAIT)) {
      say(`barrier 'meet' round ${rounds}: all ${ids.length} processes arrived (Node was last)`);
    }
  };
  say(`opened region '${plexus.shownName(name)}' (libplexus through koffi)`);

  // 1. greetings around the ring
  const text = `hello from Node (pid ${process.pid})`;
  await m.writeEFAsync(`hello/${right}`, text, WAIT);
  say(`writeEF hello/${right} <- '${text}'`);
  say(`readFE hello/node -> '${await m.readFEAsync('hello/node', WAIT)}'`);
  await meet();

  // 2. the shared counter
  for (let i = 0; i < INCREMENTS; i++) m.faa('counter', 1);
  await meet();
  const total = m.get('counter');
  if (total !== ids.length * INCREMENTS) {
    throw new Error(`counter is ${total}, expected ${ids.length * INCREMENTS}`);
  }
  say(`counter = ${total}: correct`);
  await meet();

  // 3. Python edits "config" between rounds 3 and 4
  await meet();
  const cfg = m.get('config');
  say(`config.limits.queue = ${cfg.limits.queue}, config.edited_by = '${cfg.edited_by}'`);
  await meet();

  // 4. the C process stops the C++ background updater meanwhile
  await meet();
  m.faa('done', 1); // past the last barrier (C waits for it)
  clearInterval(timer);
  say(`done (the event loop ran ${loopTicks} timer callbacks while this process waited)`);
  region.close();
  return 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(`[Node]   failed: ${err.message}`);
    process.exit(1); // the loop-tick timer of main() would keep the process alive
  },
);
