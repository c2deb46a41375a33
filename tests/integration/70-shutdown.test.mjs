// SIGTERM: clients see 1001, in-flight writes are answered and durable, exit 0.
import assert from 'node:assert/strict';
import { useRelay, newKey, makeEvent, now, withTimeout, isOk } from './harness.mjs';

const ctx = useRelay();

ctx.test('SIGTERM with connected clients: close code 1001, exit 0, every OK true is stored', { timeout: 60000 }, async () => {
  const idle = await ctx.connect();
  const sub = await ctx.connect();
  const pub = await ctx.connect();
  await sub.req('all', {});
  const stored = makeEvent(newKey(), { content: 'before shutdown' });
  assert.deepEqual(await pub.publish(stored), ['OK', stored.id, true, '']);

  // A burst of writes, SIGTERM as soon as the first is answered.
  const k = newKey();
  const burst = Array.from({ length: 300 }, (_, i) => makeEvent(k, { content: `burst ${i}`, created_at: now() - 300 + i }));
  const answers = new Map();
  const waits = burst.map((e) => pub.next(isOk(e.id), 20000, `OK ${e.id}`).then((m) => answers.set(e.id, m), () => {}));
  for (const e of burst) pub.send(['EVENT', e]);
  await waits[0];
  const relay = ctx.relay;
  const stopping = relay.stop({ keepConfig: false });
  const closes = await Promise.all([idle, sub, pub].map((c) => withTimeout(c.closed, 15000, 'client close after SIGTERM')));
  for (const ci of closes) assert.equal(ci.code, 1001, `close code should be 1001 (going away), got ${ci.code} ${ci.reason}`);
  await stopping; // throws unless the exit code is 0
  await Promise.all(waits);

  const okTrue = burst.filter((e) => answers.get(e.id)?.[2] === true);
  for (const [id, m] of answers) {
    assert.ok(m[2] === true || /^error:/.test(m[3]), `in-flight write ${id}: OK true or "error:", got ${JSON.stringify(m)}`);
  }
  assert.ok(okTrue.length >= 1);

  // Everything acknowledged is there after a restart.
  await ctx.startRelayAgain();
  const c = await ctx.connect();
  assert.deepEqual(await c.query({ ids: [stored.id] }), [stored]);
  const got = new Set((await c.query({ authors: [k.pk] })).map((e) => e.id));
  const lost = okTrue.filter((e) => !got.has(e.id));
  assert.equal(lost.length, 0, `${lost.length} of ${okTrue.length} acknowledged events are missing after restart: ${lost.slice(0, 5).map((e) => e.content)}`);
});

ctx.test('the restarted relay serves and accepts as before', async () => {
  const c = await ctx.connect();
  const ev = makeEvent(newKey(), { content: 'after restart' });
  assert.deepEqual(await c.publish(ev), ['OK', ev.id, true, '']);
  assert.deepEqual(await c.query({ ids: [ev.id] }), [ev]);
});

ctx.test('SIGTERM with no client connected: exit 0', { timeout: 30000 }, async () => {
  await ctx.relay.stop();
  await ctx.startRelayAgain(); // so that after() has a relay to stop
});
