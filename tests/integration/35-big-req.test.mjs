// WebSocket layer, large traffic: a REQ whose stored answer is bigger than
// the per-connection output limit is paced, not cut off; an oversized
// message gets a NOTICE and the connection keeps working; permessage-deflate
// is negotiated and works both ways.
import assert from 'node:assert/strict';
import { useRelay, newKey, makeEvent, now, isNotice } from './harness.mjs';

const ctx = useRelay();

ctx.test('a 24 MB answer reaches a normal reader complete, newest first', { timeout: 120000 }, async () => {
  const pub = await ctx.connect();
  const key = newKey();
  const t0 = now() - 1000;
  const content = 'z'.repeat(60000);
  const events = [];
  for (let i = 0; i < 400; i++) events.push(makeEvent(key, { kind: 1, content, created_at: t0 + i }));
  // 20 in flight at a time.
  for (let i = 0; i < events.length; i += 20) {
    const oks = await Promise.all(events.slice(i, i + 20).map((e) => pub.publish(e, 20000)));
    for (const ok of oks) assert.equal(ok[2], true, `publish refused: ${ok[3]}`);
  }
  const reader = await ctx.connect();
  const { events: got } = await reader.reqWith('big', [{ authors: [events[0].pubkey], limit: 500 }], { timeoutMs: 60000 });
  assert.equal(got.length, 400, 'every stored event, none dropped');
  for (let i = 1; i < got.length; i++) assert.ok(got[i - 1].created_at >= got[i].created_at, 'newest first');
  assert.ok(reader.isOpen, 'the reader was not disconnected');
});

ctx.test('an oversized message gets a NOTICE; the connection stays usable', { timeout: 30000 }, async () => {
  const c = await ctx.connect();
  c.send(JSON.stringify(['REQ', 'huge', { '#t': ['x'.repeat(600 * 1024)] }]));
  const n = await c.next(isNotice, 5000);
  assert.match(n[1], /larger than/);
  const ok = await c.publish(makeEvent(newKey(), { content: 'after the big one' }));
  assert.equal(ok[2], true);
});

ctx.test('permessage-deflate: publish and receive compressed', async () => {
  const c = await ctx.connect({ perMessageDeflate: true });
  assert.match(c.ws.extensions || '', /permessage-deflate/, 'extension negotiated');
  const e = makeEvent(newKey(), { content: 'compressible '.repeat(500) });
  const ok = await c.publish(e);
  assert.equal(ok[2], true);
  const got = await c.query({ ids: [e.id] });
  assert.equal(got.length, 1);
  assert.equal(got[0].content, e.content);
});
