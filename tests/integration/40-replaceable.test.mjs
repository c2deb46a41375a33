// Replaceable (0, 3, 10002) and addressable (30023) events, and concurrent replacement.
import assert from 'node:assert/strict';
import { useRelay, newKey, makeEvent, now } from './harness.mjs';

const ctx = useRelay();

async function current(c, key, kind, extra = {}) {
  return c.query({ authors: [key.pk], kinds: [kind], ...extra });
}

for (const kind of [0, 3, 10002]) {
  ctx.test(`kind ${kind}: a newer version replaces, an older arrival does not`, async () => {
    const c = await ctx.connect();
    const k = newKey();
    const t = now() - 1000;
    const v1 = makeEvent(k, { kind, content: kind === 0 ? '{"name":"v1"}' : 'v1', created_at: t });
    const v2 = makeEvent(k, { kind, content: kind === 0 ? '{"name":"v2"}' : 'v2', created_at: t + 10 });
    const v0 = makeEvent(k, { kind, content: kind === 0 ? '{"name":"v0"}' : 'v0', created_at: t - 10 });
    assert.deepEqual(await c.publish(v1), ['OK', v1.id, true, '']);
    assert.deepEqual(await current(c, k, kind), [v1]);
    assert.deepEqual(await c.publish(v2), ['OK', v2.id, true, '']);
    assert.deepEqual(await current(c, k, kind), [v2], 'only the newest is served');
    assert.deepEqual(await c.query({ ids: [v1.id] }), [], 'the replaced version is gone');
    const m = await c.publish(v0);
    assert.ok(m[2] === false || /^duplicate:/.test(m[3]), `older version: want OK false or "duplicate:", got ${JSON.stringify(m)}`);
    assert.deepEqual(await current(c, k, kind), [v2], 'an older arrival does not replace');
    assert.deepEqual(await c.query({ ids: [v0.id] }), [], 'the older arrival is not served');
  });
}

ctx.test('equal created_at: the lowest id wins, whatever the arrival order', async () => {
  const c = await ctx.connect();
  for (const lowFirst of [true, false]) {
    for (const kind of [0, 10002, 30023]) {
      const k = newKey();
      const t = now() - 500;
      const tags = kind === 30023 ? [['d', 'same']] : [];
      let a = makeEvent(k, { kind, content: 'a', created_at: t, tags });
      let b = makeEvent(k, { kind, content: 'b', created_at: t, tags });
      if (a.id > b.id) [a, b] = [b, a]; // a has the lower id
      const order = lowFirst ? [a, b] : [b, a];
      for (const e of order) {
        const m = await c.publish(e);
        assert.equal(m[0], 'OK');
      }
      assert.deepEqual(await current(c, k, kind), [a], `kind ${kind}, ${lowFirst ? 'lower' : 'higher'} id first: the lower id must win`);
    }
  }
});

ctx.test('addressable 30023: d tags are independent and each is replaced on its own', async () => {
  const c = await ctx.connect();
  const k = newKey();
  const t = now() - 1000;
  const a1 = makeEvent(k, { kind: 30023, content: 'a1', tags: [['d', 'a']], created_at: t });
  const b1 = makeEvent(k, { kind: 30023, content: 'b1', tags: [['d', 'b']], created_at: t + 1 });
  const a2 = makeEvent(k, { kind: 30023, content: 'a2', tags: [['d', 'a'], ['t', 'x']], created_at: t + 5 });
  const b0 = makeEvent(k, { kind: 30023, content: 'b0', tags: [['d', 'b']], created_at: t - 5 });
  const b2 = makeEvent(k, { kind: 30023, content: 'b2', tags: [['d', 'b']], created_at: t + 7 });
  for (const e of [a1, b1]) assert.deepEqual(await c.publish(e), ['OK', e.id, true, '']);
  assert.deepEqual((await current(c, k, 30023)).map((e) => e.content).sort(), ['a1', 'b1']);
  assert.deepEqual(await c.publish(a2), ['OK', a2.id, true, '']);
  assert.deepEqual((await current(c, k, 30023)).map((e) => e.content).sort(), ['a2', 'b1']);
  const m = await c.publish(b0);
  assert.ok(m[2] === false || /^duplicate:/.test(m[3]), JSON.stringify(m));
  assert.deepEqual((await current(c, k, 30023)).map((e) => e.content).sort(), ['a2', 'b1']);
  assert.deepEqual(await c.publish(b2), ['OK', b2.id, true, '']);
  assert.deepEqual((await current(c, k, 30023)).map((e) => e.content).sort(), ['a2', 'b2']);
  assert.deepEqual(await current(c, k, 30023, { '#d': ['a'] }), [a2]);
  assert.deepEqual(await current(c, k, 30023, { '#d': ['b'] }), [b2]);
  // another author's "a" is independent too
  const other = newKey();
  const oa = makeEvent(other, { kind: 30023, content: 'other a', tags: [['d', 'a']], created_at: t + 100 });
  assert.deepEqual(await c.publish(oa), ['OK', oa.id, true, '']);
  assert.deepEqual(await current(c, k, 30023, { '#d': ['a'] }), [a2]);
  // and another kind with the same d
  const k2 = makeEvent(k, { kind: 30024, content: 'draft a', tags: [['d', 'a']], created_at: t + 100 });
  assert.deepEqual(await c.publish(k2), ['OK', k2.id, true, '']);
  assert.deepEqual(await current(c, k, 30023, { '#d': ['a'] }), [a2]);
});

ctx.test('addressable: no d tag is the same address as an empty d', async () => {
  const c = await ctx.connect();
  const k = newKey();
  const t = now() - 1000;
  const none = makeEvent(k, { kind: 30023, content: 'no d', created_at: t });
  const empty = makeEvent(k, { kind: 30023, content: 'empty d', tags: [['d', '']], created_at: t + 1 });
  const valueless = makeEvent(k, { kind: 30023, content: 'valueless d', tags: [['d']], created_at: t + 2 });
  const named = makeEvent(k, { kind: 30023, content: 'named', tags: [['d', 'x']], created_at: t });
  for (const e of [none, named]) assert.deepEqual(await c.publish(e), ['OK', e.id, true, '']);
  assert.deepEqual(await c.publish(empty), ['OK', empty.id, true, '']);
  assert.deepEqual((await current(c, k, 30023)).map((e) => e.content).sort(), ['empty d', 'named'], 'empty d replaced no d');
  assert.deepEqual(await c.publish(valueless), ['OK', valueless.id, true, '']);
  assert.deepEqual((await current(c, k, 30023)).map((e) => e.content).sort(), ['named', 'valueless d'], '["d"] is the empty address too');
});

ctx.test('concurrency: 20 connections publish 20 versions at once, the newest survives (3 rounds)', { timeout: 60000 }, async () => {
  const k = newKey();
  const conns = await Promise.all(Array.from({ length: 20 }, () => ctx.connect()));
  const check = await ctx.connect();
  const base = now() - 10000;
  for (let round = 0; round < 3; round++) {
    for (const kind of [0, 30023]) {
      const tags = kind === 30023 ? [['d', 'race']] : [];
      const versions = Array.from({ length: 20 }, (_, i) =>
        makeEvent(k, { kind, content: `round ${round} v${i}`, tags, created_at: base + round * 100 + i }));
      // Newest not last: send in a shuffled order, all at once.
      const order = versions.map((v, i) => [v, conns[(i * 7) % 20]]).sort(() => Math.random() - 0.5);
      const oks = await Promise.all(order.map(([v, c]) => c.publish(v, 15000)));
      for (const m of oks) assert.equal(m[0], 'OK');
      const newest = versions[19];
      const okNewest = oks.find((m) => m[1] === newest.id);
      assert.equal(okNewest[2], true, `the newest version must be accepted: ${JSON.stringify(okNewest)}`);
      const got = await check.query({ authors: [k.pk], kinds: [kind] });
      assert.equal(got.length, 1, `round ${round} kind ${kind}: exactly one version must survive, got ${got.map((e) => e.content)}`);
      assert.deepEqual(got[0], newest, `round ${round} kind ${kind}: the newest must survive, got ${got[0].content}`);
    }
  }
  await Promise.all(conns.map((c) => c.close()));
});
