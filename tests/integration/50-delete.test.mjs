// NIP-09 deletion requests (kind 5): e tags, a tags, other authors.
import assert from 'node:assert/strict';
import { useRelay, newKey, makeEvent, now } from './harness.mjs';

const ctx = useRelay();

ctx.test('kind 5 with e tags deletes the author\'s events; the kind 5 itself is served', async () => {
  const c = await ctx.connect();
  const k = newKey();
  const t = now() - 1000;
  const [e1, e2, keep] = ['one', 'two', 'keep'].map((s, i) => makeEvent(k, { content: s, created_at: t + i }));
  const r7 = makeEvent(k, { kind: 7, content: '+', created_at: t + 3, tags: [['e', keep.id]] });
  for (const e of [e1, e2, keep, r7]) assert.deepEqual(await c.publish(e), ['OK', e.id, true, '']);
  const del = makeEvent(k, { kind: 5, content: 'oops', tags: [['e', e1.id], ['e', e2.id], ['e', r7.id]], created_at: t + 10 });
  assert.deepEqual(await c.publish(del), ['OK', del.id, true, '']);
  assert.deepEqual(await c.query({ ids: [e1.id, e2.id, r7.id] }), [], 'deleted events are not served');
  assert.deepEqual(await c.query({ authors: [k.pk], kinds: [1, 7] }), [keep]);
  assert.deepEqual(await c.query({ kinds: [5], authors: [k.pk] }), [del], 'the deletion request is served');
  assert.deepEqual(await c.query({ '#e': [e1.id] }), [del], 'found through its e tag');
});

ctx.test('re-publishing a deleted event is refused and it stays unserved', async () => {
  const c = await ctx.connect();
  const k = newKey();
  const ev = makeEvent(k, { content: 'to be deleted', created_at: now() - 100 });
  assert.deepEqual(await c.publish(ev), ['OK', ev.id, true, '']);
  const del = makeEvent(k, { kind: 5, tags: [['e', ev.id]], created_at: now() - 50 });
  assert.deepEqual(await c.publish(del), ['OK', del.id, true, '']);
  const m = await c.publish(ev);
  assert.equal(m[2], false, `re-publishing a deleted event: want OK false, got ${JSON.stringify(m)}`);
  assert.deepEqual(await c.query({ ids: [ev.id] }), []);
  // also from a fresh connection
  const c2 = await ctx.connect();
  const m2 = await c2.publish(ev);
  assert.equal(m2[2], false, JSON.stringify(m2));
  assert.deepEqual(await c2.query({ ids: [ev.id] }), []);
});

ctx.test('a kind 5 from another pubkey deletes nothing', async () => {
  const c = await ctx.connect();
  const owner = newKey(), mallory = newKey();
  const ev = makeEvent(owner, { content: 'mine', created_at: now() - 100 });
  const art = makeEvent(owner, { kind: 30023, content: 'article', tags: [['d', 'post']], created_at: now() - 100 });
  for (const e of [ev, art]) assert.deepEqual(await c.publish(e), ['OK', e.id, true, '']);
  const del = makeEvent(mallory, { kind: 5, tags: [['e', ev.id], ['e', art.id], ['a', `30023:${owner.pk}:post`]], created_at: now() - 50 });
  const m = await c.publish(del);
  assert.equal(m[0], 'OK');
  assert.deepEqual(await c.query({ ids: [ev.id] }), [ev]);
  assert.deepEqual(await c.query({ authors: [owner.pk], kinds: [30023] }), [art]);
  // and the owner can still publish a newer version
  const art2 = makeEvent(owner, { kind: 30023, content: 'article v2', tags: [['d', 'post']], created_at: now() - 40 });
  assert.deepEqual(await c.publish(art2), ['OK', art2.id, true, '']);
  assert.deepEqual(await c.query({ authors: [owner.pk], kinds: [30023] }), [art2]);
});

ctx.test("a stranger's kind 5 cannot delete someone's kind 5", async () => {
  const c = await ctx.connect();
  const owner = newKey(), mallory = newKey();
  const del = makeEvent(owner, { kind: 5, tags: [['e', '0'.repeat(64)]], created_at: now() - 100 });
  assert.deepEqual(await c.publish(del), ['OK', del.id, true, '']);
  const del2 = makeEvent(mallory, { kind: 5, tags: [['e', del.id]], created_at: now() - 50 });
  assert.equal((await c.publish(del2))[0], 'OK');
  assert.deepEqual(await c.query({ ids: [del.id] }), [del]);
});

ctx.test('a tag "30023:<pubkey>:<d>" deletes versions up to its created_at; a newer version is served', async () => {
  const c = await ctx.connect();
  const k = newKey();
  const t = now() - 1000;
  const v1 = makeEvent(k, { kind: 30023, content: 'v1', tags: [['d', 'doc']], created_at: t });
  const other = makeEvent(k, { kind: 30023, content: 'other d', tags: [['d', 'other']], created_at: t });
  for (const e of [v1, other]) assert.deepEqual(await c.publish(e), ['OK', e.id, true, '']);
  const del = makeEvent(k, { kind: 5, tags: [['a', `30023:${k.pk}:doc`]], created_at: t + 100 });
  assert.deepEqual(await c.publish(del), ['OK', del.id, true, '']);
  assert.deepEqual(await c.query({ authors: [k.pk], kinds: [30023], '#d': ['doc'] }), [], 'v1 is deleted');
  assert.deepEqual(await c.query({ authors: [k.pk], kinds: [30023], '#d': ['other'] }), [other], 'another d is untouched');
  assert.deepEqual(await c.query({ authors: [k.pk], kinds: [5] }), [del]);
  const v2 = makeEvent(k, { kind: 30023, content: 'v2', tags: [['d', 'doc']], created_at: t + 200 });
  assert.deepEqual(await c.publish(v2), ['OK', v2.id, true, '']);
  assert.deepEqual(await c.query({ authors: [k.pk], kinds: [30023], '#d': ['doc'] }), [v2], 'a version newer than the deletion is served');
});

ctx.test('a tag deletion also covers an older version that arrives afterwards', async () => {
  const c = await ctx.connect();
  const k = newKey();
  const t = now() - 1000;
  const del = makeEvent(k, { kind: 5, tags: [['a', `30023:${k.pk}:late`]], created_at: t + 100 });
  assert.deepEqual(await c.publish(del), ['OK', del.id, true, '']);
  const old = makeEvent(k, { kind: 30023, content: 'old', tags: [['d', 'late']], created_at: t + 50 });
  const same = makeEvent(k, { kind: 30023, content: 'same second', tags: [['d', 'late']], created_at: t + 100 });
  for (const e of [old, same]) assert.equal((await c.publish(e))[0], 'OK');
  assert.deepEqual(await c.query({ authors: [k.pk], kinds: [30023] }), [],
    'versions with created_at <= the deletion\'s must not be served');
  const newer = makeEvent(k, { kind: 30023, content: 'newer', tags: [['d', 'late']], created_at: t + 101 });
  assert.deepEqual(await c.publish(newer), ['OK', newer.id, true, '']);
  assert.deepEqual(await c.query({ authors: [k.pk], kinds: [30023] }), [newer]);
});
