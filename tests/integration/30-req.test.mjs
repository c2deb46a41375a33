// REQ: stored queries (every filter field, limits, ordering, unions), EOSE,
// live delivery, subscription replacement, CLOSE, refused filters.
import assert from 'node:assert/strict';
import { matchFilter } from 'nostr-tools/filter';
import { useRelay, newKey, makeEvent, now, randomHex, sleep, isEventFor, isEose } from './harness.mjs';

const ctx = useRelay();

// ---- the stored data set: 30 events, 3 authors, kinds 1/7, e/p/t tags,
// created_at spread over ~50 minutes with some ties.
const [A, B, C] = [newKey(), newKey(), newKey()];
const E1 = randomHex(32), E2 = randomHex(32);
const P1 = newKey().pk, P2 = newKey().pk;
const T0 = now() - 100000;
const data = [];
for (let i = 0; i < 30; i++) {
  const tags = [];
  if (i % 3 === 0) tags.push(['e', E1]);
  if (i % 5 === 2) tags.push(['e', E2, 'wss://relay.example']);
  if (i % 2 === 0) tags.push(['p', P1]);
  if (i % 7 === 3) tags.push(['p', P2]);
  if (i % 4 === 1) tags.push(['t', 'alpha']);
  if (i % 6 === 0) tags.push(['t', 'beta']);
  if (i >= 25) tags.push(['t', 'gamma']);
  const created_at = T0 + (i - (i % 5 === 1 ? 1 : 0)) * 100; // ties: (0,1) (5,6) (10,11) …
  data.push(makeEvent([A, B, C][i % 3], { kind: i % 4 === 3 ? 7 : 1, content: `event ${i}`, tags, created_at }));
}
const byId = new Map(data.map((e) => [e.id, e]));

function matching(filter) {
  return data.filter((e) => matchFilter(filter, e));
}

function assertNoDuplicates(got) {
  const seen = new Set();
  for (const e of got) {
    assert.ok(!seen.has(e.id), `event ${e.id} (${e.content}) returned twice`);
    seen.add(e.id);
  }
}

function assertDescending(got, label) {
  for (let i = 1; i < got.length; i++) {
    assert.ok(got[i - 1].created_at >= got[i].created_at,
      `${label}: not newest first at position ${i}: ${got.map((e) => e.created_at - T0).join(',')}`);
  }
}

/** Query one filter and check it against nostr-tools' matchFilter over the data set. */
async function check(c, filter, label = JSON.stringify(filter)) {
  const got = await c.query(filter);
  assertNoDuplicates(got);
  for (const e of got) {
    assert.ok(byId.has(e.id), `${label}: returned an event that is not in the data set: ${JSON.stringify(e).slice(0, 200)}`);
    assert.deepEqual(e, byId.get(e.id), `${label}: event changed on the way`);
    assert.ok(matchFilter(filter, e), `${label}: returned a non-matching event: ${e.content}`);
  }
  assertDescending(got, label);
  const all = matching(filter).sort((a, b) => b.created_at - a.created_at);
  if (filter.limit === undefined) {
    assert.deepEqual(got.map((e) => e.id).sort(), all.map((e) => e.id).sort(),
      `${label}: got [${got.map((e) => e.content)}], want [${all.map((e) => e.content)}]`);
  } else {
    const want = all.slice(0, filter.limit);
    assert.equal(got.length, want.length, `${label}: got ${got.length} events, want ${want.length}`);
    // ties at the cut may be either event: compare the timestamps
    assert.deepEqual(got.map((e) => e.created_at), want.map((e) => e.created_at), `${label}: not the newest ${filter.limit}`);
  }
  return got;
}

ctx.test('publish the data set (30 events)', async () => {
  const c = await ctx.connect();
  for (const e of data) assert.deepEqual(await c.publish(e), ['OK', e.id, true, '']);
});

ctx.test('REQ by ids', async () => {
  const c = await ctx.connect();
  const got = await check(c, { ids: [data[3].id, data[17].id, data[29].id] });
  assert.equal(got.length, 3);
  assert.equal((await check(c, { ids: [randomHex(32)] })).length, 0);
});

ctx.test('REQ by authors', async () => {
  const c = await ctx.connect();
  assert.equal((await check(c, { authors: [A.pk] })).length, 10);
  assert.equal((await check(c, { authors: [A.pk, C.pk] })).length, 20);
});

ctx.test('REQ by kinds', async () => {
  const c = await ctx.connect();
  assert.ok((await check(c, { kinds: [7] })).length > 0);
  assert.equal((await check(c, { kinds: [1, 7] })).length, 30);
  assert.equal((await check(c, { kinds: [30023] })).length, 0);
});

ctx.test('REQ by #e, #p, #t', async () => {
  const c = await ctx.connect();
  assert.ok((await check(c, { '#e': [E1] })).length > 0);
  assert.ok((await check(c, { '#e': [E2] })).length > 0, 'a tag with a third element (relay hint) still matches');
  await check(c, { '#e': [E1, E2] });
  assert.ok((await check(c, { '#p': [P1] })).length > 0);
  await check(c, { '#p': [P2] });
  assert.ok((await check(c, { '#t': ['alpha'] })).length > 0);
  await check(c, { '#t': ['beta', 'gamma'] });
  assert.equal((await check(c, { '#t': ['nope'] })).length, 0);
});

ctx.test('since/until are inclusive', async () => {
  const c = await ctx.connect();
  const since = data[8].created_at, until = data[20].created_at;
  const got = await check(c, { since, until });
  const gotIds = new Set(got.map((e) => e.id));
  assert.ok(gotIds.has(data[8].id), 'event at exactly since is included');
  assert.ok(gotIds.has(data[20].id) && gotIds.has(data[21].id), 'events at exactly until (a tie) are included');
  await check(c, { since });
  await check(c, { until });
  assert.equal((await check(c, { since: data[5].created_at, until: data[5].created_at })).length, 2, 'since == until: the two tied events');
  assert.equal((await check(c, { since: data[20].created_at, until: data[8].created_at })).length, 0, 'since > until: nothing');
});

ctx.test('limit returns the newest events, newest first', async () => {
  const c = await ctx.connect();
  assert.equal((await check(c, { limit: 5 })).length, 5);
  assert.equal((await check(c, { limit: 6 })).length, 6); // cuts between two tied events (data[25], data[26])
  assert.equal((await check(c, { authors: [B.pk], limit: 3 })).length, 3);
  assert.equal((await check(c, { '#p': [P1], until: data[20].created_at, limit: 4 })).length, 4);
  assert.equal((await check(c, { kinds: [1], limit: 1000 })).length, matching({ kinds: [1] }).length);
});

ctx.test('a filter without limit returns newest first (not the oldest page)', async () => {
  const c = await ctx.connect();
  const got = await check(c, { authors: [A.pk, B.pk, C.pk] });
  assert.equal(got.length, 30);
  assert.equal(got[0].created_at, data[29].created_at);
});

ctx.test('two filters in one REQ: the union, without duplicates', async () => {
  const c = await ctx.connect();
  const f1 = { authors: [A.pk] }, f2 = { kinds: [7] };
  const got = await c.query(f1, f2);
  assertNoDuplicates(got);
  const want = data.filter((e) => matchFilter(f1, e) || matchFilter(f2, e)).map((e) => e.id).sort();
  assert.ok(want.length < matching(f1).length + matching(f2).length, 'the filters overlap');
  assert.deepEqual(got.map((e) => e.id).sort(), want);
  // identical filters twice: still each event once
  const twice = await c.query({ '#t': ['alpha'] }, { '#t': ['alpha'] });
  assertNoDuplicates(twice);
  assert.equal(twice.length, matching({ '#t': ['alpha'] }).length);
});

ctx.test('#e and #p in one filter: both apply (events having both tags)', async () => {
  const c = await ctx.connect();
  const got = await check(c, { '#e': [E1], '#p': [P1] });
  assert.equal(got.length, 5, 'data[0,6,12,18,24] carry both');
  assert.ok(matching({ '#e': [E1] }).length > 5 && matching({ '#p': [P1] }).length > 5);
  await check(c, { '#e': [E1], '#p': [P1], '#t': ['beta'] });
  await check(c, { '#e': [E2], '#t': ['alpha'], kinds: [1] });
});

ctx.test('a tag filter of several values with a limit: newest first across the values, each event once', async () => {
  const c = await ctx.connect();
  // data[25] and data[29] carry both alpha and gamma
  assert.deepEqual((await check(c, { '#t': ['alpha', 'gamma'], limit: 3 })).map((e) => e.content),
    ['event 29', 'event 28', 'event 27']);
  await check(c, { '#t': ['gamma', 'alpha'], limit: 6 });
  await check(c, { '#t': ['alpha', 'beta', 'gamma'], limit: 5 });
  await check(c, { '#t': ['alpha', 'gamma'], since: data[10].created_at, until: data[27].created_at, limit: 4 });
  await check(c, { '#e': [E1, E2], kinds: [1], until: data[20].created_at, limit: 3 });
  // the tag with fewer values leads; the other still applies
  await check(c, { '#p': [P1, P2], '#t': ['alpha', 'beta', 'gamma'], limit: 4 });
  await check(c, { '#p': [P1, P2, newKey().pk], '#t': ['beta', 'gamma'], authors: [A.pk, B.pk], limit: 2 });
  // more values than lead a query (16): every match is fetched and sorted
  const many = Array.from({ length: 20 }, (_, i) => `nope${i}`).concat(['alpha', 'gamma']);
  await check(c, { '#t': many, limit: 3 });
  await check(c, { '#t': many });
});

ctx.test('ids and #t in one filter', async () => {
  const c = await ctx.connect();
  const some = [1, 2, 5, 9, 13, 14].map((i) => data[i].id);
  const got = await check(c, { ids: some, '#t': ['alpha'] });
  assert.deepEqual(got.map((e) => e.content).sort(), ['event 1', 'event 13', 'event 5', 'event 9']);
});

ctx.test('an empty list matches nothing', async () => {
  const c = await ctx.connect();
  assert.deepEqual(await c.query({ authors: [] }), []);
  assert.deepEqual(await c.query({ ids: [], kinds: [1] }), []);
});

ctx.test('EOSE comes after all stored events, then nothing more', async () => {
  const c = await ctx.connect();
  const { events, eose } = await c.req('eose-check', { authors: [A.pk] });
  assert.equal(eose, true);
  assert.equal(events.length, 10);
  await c.expectNone(isEventFor('eose-check'), 300, 'stored EVENT after EOSE');
  c.send(['CLOSE', 'eose-check']);
});

// ---- live delivery (fresh authors, so the stored checks above are unaffected)

ctx.test('live: a matching event published after EOSE is delivered, a non-matching one is not', async () => {
  const c = await ctx.connect();
  const L1 = newKey(), L2 = newKey();
  await c.req('live1', { authors: [L1.pk] });
  const ev = makeEvent(L1, { content: 'live one' });
  assert.deepEqual(await c.publish(ev), ['OK', ev.id, true, '']);
  const m = await c.next(isEventFor('live1', ev.id), 3000, 'live EVENT on the same connection');
  assert.deepEqual(m, ['EVENT', 'live1', ev]);
  const other = makeEvent(L2, { content: 'not for live1' });
  assert.deepEqual(await c.publish(other), ['OK', other.id, true, '']);
  await c.expectNone(isEventFor('live1'), 500, 'delivery of a non-matching event');
});

ctx.test('live: a subscriber on another connection receives the event once, even if two filters match', async () => {
  const sub = await ctx.connect();
  const pub = await ctx.connect();
  const L = newKey();
  const tag = `livetag-${randomHex(4)}`;
  await sub.req('live2', { '#t': [tag] }, { authors: [L.pk], kinds: [1] });
  const ev = makeEvent(L, { content: 'tagged', tags: [['t', tag]] });
  assert.deepEqual(await pub.publish(ev), ['OK', ev.id, true, '']);
  assert.deepEqual(await sub.next(isEventFor('live2', ev.id), 3000, 'live EVENT on another connection'), ['EVENT', 'live2', ev]);
  await sub.expectNone(isEventFor('live2', ev.id), 500, 'second delivery of the same event');
  const miss = makeEvent(L, { kind: 7, content: 'kind 7 without the tag' });
  assert.deepEqual(await pub.publish(miss), ['OK', miss.id, true, '']);
  await sub.expectNone(isEventFor('live2'), 500, 'delivery of a non-matching event');
});

ctx.test('REQ with the same sub id replaces the old subscription', async () => {
  const sub = await ctx.connect();
  const pub = await ctx.connect();
  const L = newKey();
  await sub.req('same', { authors: [L.pk], kinds: [1] });
  await sub.req('same', { authors: [L.pk], kinds: [7] });
  const k1 = makeEvent(L, { kind: 1, content: 'old filter' });
  const k7 = makeEvent(L, { kind: 7, content: 'new filter' });
  assert.deepEqual(await pub.publish(k1), ['OK', k1.id, true, '']);
  assert.deepEqual(await pub.publish(k7), ['OK', k7.id, true, '']);
  assert.deepEqual(await sub.next(isEventFor('same', k7.id), 3000, 'live EVENT for the new filter'), ['EVENT', 'same', k7]);
  await sub.expectNone(isEventFor('same', k1.id), 500, 'delivery through the replaced filter');
});

ctx.test('CLOSE stops delivery', async () => {
  const sub = await ctx.connect();
  const pub = await ctx.connect();
  const L = newKey();
  await sub.req('closing', { authors: [L.pk] });
  const before = makeEvent(L, { content: 'before CLOSE' });
  assert.deepEqual(await pub.publish(before), ['OK', before.id, true, '']);
  await sub.next(isEventFor('closing', before.id), 3000, 'live EVENT before CLOSE');
  sub.send(['CLOSE', 'closing']);
  await sub.query({ ids: [before.id] }); // a round trip after the CLOSE
  await sleep(200);
  const after = makeEvent(L, { content: 'after CLOSE' });
  assert.deepEqual(await pub.publish(after), ['OK', after.id, true, '']);
  await sub.expectNone(isEventFor('closing'), 500, 'delivery after CLOSE');
});

const invalidFilters = [
  { kinds: 'x' },
  { kinds: [1.5] },
  { kinds: ['1'] },
  { authors: ['ABC'] },
  { authors: [A.pk.toUpperCase()] },
  { authors: 'abc' },
  { ids: ['not hex'] },
  { since: -1 },
  { until: 'yesterday' },
  { limit: -5 },
  { limit: 1.5 },
  { '#e': [1] },
  { '#t': 'alpha' },
];
for (const f of invalidFilters) {
  ctx.test(`invalid filter ${JSON.stringify(f)} -> CLOSED "invalid:", connection usable`, async () => {
    const c = await ctx.connect();
    const reason = await c.reqClosed('bad', f);
    assert.match(reason, /^invalid:/, `reason ${JSON.stringify(reason)}`);
    await c.expectNone(isEose('bad'), 100, 'EOSE after CLOSED');
    assert.equal((await c.query({ authors: [A.pk], limit: 1 })).length, 1, 'a valid REQ afterwards works');
  });
}

for (const f of [{ search: 'x' }, { '#ab': ['x'] }]) {
  ctx.test(`unsupported filter field ${JSON.stringify(f)} -> CLOSED "unsupported:"`, async () => {
    const c = await ctx.connect();
    const reason = await c.reqClosed('unsup', f);
    assert.match(reason, /^unsupported:/, `reason ${JSON.stringify(reason)}`);
    assert.equal((await c.query({ authors: [A.pk], limit: 1 })).length, 1, 'a valid REQ afterwards works');
  });
}

ctx.test('one invalid filter among valid ones refuses the whole REQ', async () => {
  const c = await ctx.connect();
  const reason = await c.reqClosed('mixed', { authors: [A.pk] }, { kinds: 'x' });
  assert.match(reason, /^invalid:/);
  await c.expectNone(isEventFor('mixed'), 300, 'events for a refused REQ');
});
