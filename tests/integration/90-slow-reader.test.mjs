// A subscriber that never reads must not hold the relay hostage: other
// clients stay served, the slow one is eventually disconnected.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useRelay, newKey, makeEvent, now, sleep, isOk, withTimeout } from './harness.mjs';

const ctx = useRelay();

const N = 2000;
const CONTENT_BYTES = 15000; // 20000 base64 characters
const WINDOW = 50;

ctx.test('a paused subscriber gets disconnected while the relay stays responsive', { timeout: 150000 }, async (t) => {
  const k = newKey();
  const base = now() - N - 10;
  const events = Array.from({ length: N }, (_, i) =>
    makeEvent(k, { content: crypto.randomBytes(CONTENT_BYTES).toString('base64'), created_at: base + i }));
  t.diagnostic(`${N} events of ${events[0].content.length} characters made`);

  const probe = await ctx.connect();
  const small = makeEvent(newKey(), { content: 'small' });
  assert.deepEqual(await probe.publish(small), ['OK', small.id, true, '']);

  // The slow reader: subscribes to everything, then stops reading.
  const slow = await ctx.connect();
  await slow.req('everything', {});
  slow.ws._socket.pause();
  let slowClosedAt = null;
  slow.closed.then(() => { slowClosedAt = Date.now(); });
  // Pings make a dead connection visible although we do not read.
  const pinger = setInterval(() => { try { if (slow.isOpen) slow.ws.ping(); } catch { /* closed */ } }, 1000);

  // Latency probe on a third connection.
  const latencies = [];
  let probing = true;
  let probeError = null;
  const prober = (async () => {
    while (probing) {
      const t1 = Date.now();
      try {
        const got = await probe.query({ ids: [small.id] });
        if (got.length !== 1) throw new Error(`probe REQ returned ${got.length} events`);
      } catch (e) {
        probeError = e;
        return;
      }
      latencies.push(Date.now() - t1);
      await sleep(200);
    }
  })();

  // The publisher: N large events, WINDOW in flight.
  const pub = await ctx.connect();
  const answers = [];
  const t0 = Date.now();
  try {
    let next = 0;
    await Promise.all(Array.from({ length: WINDOW }, async () => {
      while (next < N) {
        const ev = events[next++];
        pub.send(['EVENT', ev]);
        answers.push(await pub.next(isOk(ev.id), 30000, `OK for event ${next}`));
      }
    }));
    const publishMs = Date.now() - t0;
    t.diagnostic(`published ${N} events in ${publishMs} ms; slow reader ${slowClosedAt ? `closed after ${slowClosedAt - t0} ms` : 'still open'}`);

    // Give the relay a moment to notice.
    const deadline = Date.now() + 10000;
    while (!slowClosedAt && Date.now() < deadline) await sleep(200);
  } finally {
    probing = false;
    clearInterval(pinger);
    await prober;
  }
  assert.ok(!probeError, `probe REQ failed: ${probeError && probeError.message}`);

  const bad = answers.filter((m) => m[2] !== true);
  assert.equal(bad.length, 0, `every publish should be accepted: ${bad.slice(0, 3).map((m) => JSON.stringify(m)).join(' ')}`);
  const maxLatency = Math.max(...latencies);
  t.diagnostic(`${latencies.length} probe REQs, max latency ${maxLatency} ms`);
  assert.ok(latencies.length >= 3, 'the probe ran');
  assert.ok(maxLatency < 1000, `REQ latency on another connection reached ${maxLatency} ms (want < 1000)`);

  if (!slowClosedAt) {
    // Still open as far as we can tell: read what is there. A relay that
    // kept everything queued now delivers all N events and stays open.
    slow.ws._socket.resume();
    await withTimeout(slow.closed, 10000, 'the slow reader to be disconnected').catch(() => {});
  }
  const delivered = slow.buf.filter((m) => Array.isArray(m) && m[0] === 'EVENT').length;
  t.diagnostic(`slow reader received ${delivered} of ${N} events; ${slowClosedAt ? `closed at +${slowClosedAt - t0} ms with ${JSON.stringify(slow.closeInfo)}` : 'not closed'}`);
  assert.ok(slow.closeInfo, `the slow reader was never disconnected (it received ${delivered} of ${N} events)`);
  assert.ok(delivered < N, 'the slow reader was disconnected only after everything was delivered');

  // The relay is fine afterwards.
  const c = await ctx.connect();
  assert.equal((await c.query({ authors: [k.pk], limit: 5 })).length, 5);
});
