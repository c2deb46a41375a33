// Ephemeral events (20000-29999): delivered live, never stored.
import assert from 'node:assert/strict';
import { useRelay, newKey, makeEvent, isEventFor } from './harness.mjs';

const ctx = useRelay();

ctx.test('kind 20001 is delivered live to a matching subscriber and never returned by a later REQ', async () => {
  const sub = await ctx.connect();
  const pub = await ctx.connect();
  const k = newKey();
  await sub.req('eph', { authors: [k.pk], kinds: [20001] });
  const ev = makeEvent(k, { kind: 20001, content: 'now or never' });
  const ok = await pub.publish(ev);
  assert.equal(ok[2], true, `ephemeral event should be accepted: ${JSON.stringify(ok)}`);
  assert.deepEqual(await sub.next(isEventFor('eph', ev.id), 3000, 'live ephemeral EVENT'), ['EVENT', 'eph', ev]);
  const later = await ctx.connect();
  assert.deepEqual(await later.query({ ids: [ev.id] }), []);
  assert.deepEqual(await later.query({ authors: [k.pk] }), []);
  assert.deepEqual(await later.query({ kinds: [20001] }), []);
});

ctx.test('an ephemeral event with no subscriber is accepted and gone', async () => {
  const c = await ctx.connect();
  const k = newKey();
  const ev = makeEvent(k, { kind: 29999, content: 'nobody listens' });
  assert.equal((await c.publish(ev))[2], true);
  assert.deepEqual(await c.query({ ids: [ev.id] }), []);
});

ctx.test('a non-matching subscriber does not get the ephemeral event', async () => {
  const sub = await ctx.connect();
  const pub = await ctx.connect();
  const k = newKey();
  await sub.req('eph-other', { authors: [k.pk], kinds: [20002] });
  const ev = makeEvent(k, { kind: 20001, content: 'wrong kind' });
  assert.equal((await pub.publish(ev))[2], true);
  await sub.expectNone(isEventFor('eph-other'), 500, 'delivery of a non-matching ephemeral event');
});
