'use strict';
// Services from Node: callAsync and serve (the event loop and libuv's pool stay free
// while calls wait), handler errors, timeouts, AbortSignal (the request is withdrawn,
// never sent again), the sync calls, real server and caller processes
// (test/fixtures/child.js: 2 servers x 3 callers), and a server killed holding a
// request (OwnerDeadError); every case on shared memory and on a private redis-server.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { plexus, withRegion, runChild, later, until, onBackend } = require('./helpers');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lines a child prints, as a queue: `await lines.next()` is the next one. */
function lines(child) {
  const got = [];
  const waiters = [];
  let rest = '';
  child.stdout.on('data', (d) => {
    rest += d;
    const parts = rest.split('\n');
    rest = parts.pop();
    for (const line of parts) {
      if (waiters.length) waiters.shift().resolve(line);
      else got.push(line);
    }
  });
  child.on('close', (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`child exited (${code})`));
  });
  return {
    next: () => (got.length ? Promise.resolve(got.shift()) : new Promise((resolve, reject) => waiters.push({ resolve, reject }))),
  };
}

test('the service statuses: numbers, names, classes', () => {
  assert.equal(plexus.status.E_SERVICE, 116);
  assert.equal(plexus.statusName(116), 'PLEXUS_E_SERVICE');
  assert.ok(plexus.ServiceError.prototype instanceof plexus.PlexusError);
  assert.ok(plexus.OwnerDeadError.prototype instanceof plexus.PlexusError);
  const e = new plexus.ServiceError('handler said');
  assert.equal(e.handlerMessage, 'handler said');
  assert.equal(e.code, 'PLEXUS_E_SERVICE');
  assert.equal(new plexus.OwnerDeadError('x').code, 'PLEXUS_OWNER_DEAD');
});

for (const backend of ['shm', 'redis']) {
  test(`${backend}: serve and callAsync, every value type`, async (t) => {
    await onBackend(t, backend, 'svc-values', async (r) => {
      const svc = r.service('echo', 4);
      assert.equal(svc.capacity, 4);
      assert.equal(svc.pending, 0);
      const stop = svc.serve((v) => v);
      const values = [null, true, 7, -(2 ** 40), 2n ** 62n, 1.5, 'text', Buffer.from([0, 1, 2]), { a: [1, 2] }, [null]];
      for (const v of values) assert.deepStrictEqual(await svc.callAsync(v, 30000), v);
      assert.deepStrictEqual(await Promise.all([1, 2, 3].map((v) => svc.callAsync(v, 30000))), [1, 2, 3]);
      assert.equal(await stop(), values.length + 3);
      assert.equal(svc.pending, 0);
      // Opening it again (capacity 0) reaches the same service; other open rules.
      assert.equal(r.service('echo').capacity, 4);
      assert.throws(() => r.service('echo', 5), (e) => e.code === 'PLEXUS_E_INCOMPATIBLE');
      assert.throws(() => r.service('absent'), (e) => e.code === 'PLEXUS_E_NOT_FOUND');
      assert.throws(() => r.service('echo', 4, { exclusive: true }), (e) => e.code === 'PLEXUS_E_EXISTS');
    });
  });

  test(`${backend}: handler errors are ServiceError with the handler's message`, async (t) => {
    await onBackend(t, backend, 'svc-errors', async (r) => {
      const svc = r.service('fails', 2);
      const stop = svc.serve(async (v) => {
        if (v === 'throw') throw new RangeError('out of range: 9');
        if (v === 'string') throw 'a bare string'; // eslint-disable-line no-throw-literal
        if (v === 'nul') throw new Error('a\0b');
        if (v === 'unsendable') return () => 1;
        return v;
      });
      const rejects = async (v, message) =>
        assert.rejects(svc.callAsync(v, 30000), (e) => {
          assert.ok(e instanceof plexus.ServiceError, String(e));
          assert.equal(e.status, 116);
          assert.equal(e.handlerMessage, message);
          return true;
        });
      await rejects('throw', 'out of range: 9');
      await rejects('string', 'a bare string');
      await rejects('nul', 'a\\0b');
      await assert.rejects(svc.callAsync('unsendable', 30000), (e) => e instanceof plexus.ServiceError && /cannot be sent/.test(e.handlerMessage));
      assert.equal(await svc.callAsync('fine', 30000), 'fine'); // the loop went on
      assert.equal(await stop(), 5);
    });
  });

  test(`${backend}: next and reply by hand, sync and async`, async (t) => {
    await onBackend(t, backend, 'svc-manual', async (r) => {
      const svc = r.service('calc', 4);
      const call = svc.callAsync(20, 30000);
      const req = svc.next(30000); // the call waits on its own thread: this one may block
      assert.ok(req instanceof plexus.ServiceRequest);
      assert.equal(req.value, 20);
      assert.equal(typeof req.id, 'bigint');
      req.reply(41);
      assert.equal(await call, 41);
      assert.throws(() => req.reply(0), (e) => e.code === 'PLEXUS_E_INVALID_ARGUMENT');
      assert.throws(() => svc.replyError(12345n, 'no such request'), (e) => e.code === 'PLEXUS_E_INVALID_ARGUMENT');
      const failing = later(svc.callAsync('x', 30000));
      const req2 = await svc.nextAsync(30000);
      req2.replyError('é went wrong');
      await assert.rejects(failing, (e) => e instanceof plexus.ServiceError && e.handlerMessage === 'é went wrong');
      assert.equal(svc.pending, 0);
    });
  });

  test(`${backend}: timeouts withdraw the request; a late reply is discarded`, async (t) => {
    await onBackend(t, backend, 'svc-timeouts', async (r) => {
      const svc = r.service('slow', 1);
      await assert.rejects(svc.callAsync('nobody', 100), plexus.TimeoutError);
      assert.throws(() => svc.call('nobody', 0), plexus.TimeoutError);
      assert.throws(() => svc.call('nobody', 50), plexus.TimeoutError);
      assert.equal(svc.pending, 0);
      assert.throws(() => svc.next(0), plexus.TimeoutError);
      assert.throws(() => svc.next(50), plexus.TimeoutError);
      await assert.rejects(svc.nextAsync(50), plexus.TimeoutError);
      // A server takes it and answers after the caller gave up: discarded.
      const late = later(svc.callAsync('late', 1000));
      const req = await svc.nextAsync(30000);
      await assert.rejects(late, plexus.TimeoutError);
      req.reply('too late');
      const stop = svc.serve((v) => `answer to ${v}`);
      assert.equal(await svc.callAsync('fresh', 30000), 'answer to fresh');
      await stop();
      assert.equal(svc.pending, 0);
      assert.throws(() => svc.call(1, -5), RangeError);
    });
  });

  test(`${backend}: an abort withdraws the request, which is never sent again`, async (t) => {
    await onBackend(t, backend, 'svc-abort', async (r) => {
      const svc = r.service('abort', 2);
      // Pending, nobody serving: aborted.
      const ac = new AbortController();
      const call = later(svc.callAsync('first', { signal: ac.signal }));
      await until(() => svc.pending === 1, 'the request placed');
      ac.abort(new Error('user gave up'));
      await assert.rejects(call, /user gave up/);
      assert.equal(svc.pending, 0);
      assert.throws(() => svc.next(0), plexus.TimeoutError);
      // Taken by a server, then aborted: the reply is discarded.
      const ac2 = new AbortController();
      const call2 = later(svc.callAsync('second', { signal: ac2.signal, timeout: 60000 }));
      const req = await svc.nextAsync(30000);
      assert.equal(req.value, 'second');
      ac2.abort(new Error('gave up again'));
      await assert.rejects(call2, /gave up again/);
      req.reply('unheard');
      assert.equal(svc.pending, 0);
      // Aborted before it starts.
      await assert.rejects(svc.callAsync('never', { signal: AbortSignal.abort(new Error('already')) }), /already/);
      assert.throws(() => svc.next(0), plexus.TimeoutError);
    });
  });

  test(`${backend}: waiting calls leave the event loop and libuv's pool free`, async (t) => {
    await onBackend(t, backend, 'svc-free', async (r) => {
      const svc = r.service('held', 8);
      // Six calls wait (more than the pool's four threads) while a server holds them.
      const calls = [0, 1, 2, 3, 4, 5].map((i) => svc.callAsync(i, 60000));
      const taken = [];
      while (taken.length < 6) taken.push(await svc.nextAsync(30000));
      // The pool still runs other work (this would never finish if the calls held it).
      const text = await fs.promises.readFile(__filename, 'utf8');
      assert.match(text, /libuv's pool free/);
      for (const req of taken) req.reply(req.value * 10);
      assert.deepStrictEqual(await Promise.all(calls), [0, 10, 20, 30, 40, 50]);
      // A handler slower than a wait slice (50 ms) is still heard: calls are not sliced.
      const stop = svc.serve(async (v) => {
        await sleep(200);
        return v;
      });
      assert.equal(await svc.callAsync('slow handler', 30000), 'slow handler');
      await stop();
    });
  });

  test(`${backend}: 2 server processes x 3 caller processes, every reply to its own caller`, async (t) => {
    await onBackend(t, backend, 'svc-mp', async (r, name) => {
      const svc = r.service('mp', 4);
      const servers = [runChild(['serve', name, 'mp']), runChild(['serve', name, 'mp'])];
      const outs = servers.map((s) => lines(s.child)); // listening before anything is printed
      for (const out of outs) assert.equal(await out.next(), 'ready');
      try {
        const n = 40;
        const callers = [0, 1, 2].map((k) => runChild(['call', name, 'mp', String(k), String(n)]));
        const pids = servers.map((s) => s.child.pid);
        for (const c of callers) {
          const { code, stdout, stderr } = await c.done;
          assert.equal(code, 0, stderr);
          const got = JSON.parse(stdout);
          assert.equal(got.calls, n);
          assert.equal(got.wrong, 0);
          for (const pid of got.servers) assert.ok(pids.includes(pid), `${pid} is not a server`);
        }
        // The sync call from this process, and a handler error across processes.
        const [pid, y] = svc.call(5, 30000);
        assert.ok(pids.includes(pid));
        assert.equal(y, 11);
        assert.throws(() => svc.call(-3, 30000), (e) => e instanceof plexus.ServiceError && e.handlerMessage === 'negative: -3');
      } finally {
        for (const s of servers) s.child.kill('SIGKILL');
        for (const s of servers) await s.done;
      }
    });
  });

  test(`${backend}: a server killed holding a request is OwnerDeadError`, async (t) => {
    await onBackend(t, backend, 'svc-dies', async (r, name) => {
      const svc = r.service('dies', 2);
      const server = runChild(['take-hang', name, 'dies']);
      const out = lines(server.child);
      const call = later(svc.callAsync('doomed', 120000));
      assert.equal(await out.next(), 'taken doomed');
      server.child.kill('SIGKILL');
      await server.done;
      await assert.rejects(call, (e) => {
        assert.ok(e instanceof plexus.OwnerDeadError, String(e));
        assert.equal(e.code, 'PLEXUS_OWNER_DEAD');
        assert.match(e.message, /died before replying/);
        return true;
      });
      // The service works on: a new server answers the retry.
      const stop = svc.serve((v) => `retried ${v}`);
      assert.equal(await svc.callAsync('doomed', 30000), 'retried doomed');
      await stop();
      assert.equal(svc.pending, 0);
    });
  });
}

test('serve: bad arguments, a stop signal, and the error that ends the loop', async () => {
  await withRegion('svc-serve', async (r) => {
    const svc = r.service('s', 2);
    assert.throws(() => svc.serve('not a function'), TypeError);
    assert.throws(() => svc.serve(() => 1, { concurrency: 0 }), RangeError);
    const ac = new AbortController();
    const stop = svc.serve((v) => v + 1, { signal: ac.signal, concurrency: 3 });
    assert.equal(await svc.callAsync(1, 30000), 2);
    ac.abort();
    assert.equal(await stop.finished, 1);
    // Removing the service ends the loop with RemovedError, reported by stop().
    const stop2 = svc.serve((v) => v);
    r.removeObject('s');
    await assert.rejects(stop2.finished, plexus.RemovedError);
    await assert.rejects(stop2(), plexus.RemovedError);
    svc.close();
    await assert.rejects(svc.callAsync(1, 0), (e) => e.code === 'PLEXUS_E_BAD_HANDLE');
  });
});
