// Settings layer: an operator's nostream settings.yaml is read and every
// limit in it holds, each checked at, just under and just over its bound;
// NIP-11 shows the values in force; a broken file stops the relay with a
// message naming the key and the line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useRelay, startPostgres, startRelay, httpGet, newKey, makeEvent, now, isClosed, TEST_SETTINGS_YAML } from './harness.mjs';

const blocked = newKey();
const settings = TEST_SETTINGS_YAML
  .replace(/    kind:\n      whitelist: \[\]\n      blacklist: \[\]/, '    kind:\n      whitelist: []\n      blacklist:\n        - 7\n        - [30000, 30010]')
  .replace(/      minLeadingZeroBits: 0\n      whitelist: \[\]\n      blacklist: \[\]/,
    `      minLeadingZeroBits: 0\n      whitelist: []\n      blacklist:\n        - "${blocked.pk.slice(0, 10)}"`)
  .replace(/    eventId:\n      minLeadingZeroBits: 0/, '    eventId:\n      minLeadingZeroBits: 6')
  .replace(/    content:\n[\s\S]*?    rateLimits: \[\]\n    whitelists:/,
    '    content:\n      - description: short notes\n        kinds: [1]\n        maxLength: 100\n      - maxLength: 102400\n    rateLimits: []\n    whitelists:')
  .replace('maxSubscriptions: 10', 'maxSubscriptions: 3')
  .replace('maxFilters: 10', 'maxFilters: 2')
  .replace('maxFilterValues: 2500', 'maxFilterValues: 3')
  .replace('maxSubscriptionIdLength: 256', 'maxSubscriptionIdLength: 8')
  .replace('maxLimit: 5000', 'maxLimit: 5')
  .replace('minPrefixLength: 64', 'minPrefixLength: 8')
  .replace('maxPositiveDelta: 900', 'maxPositiveDelta: 600');

const ctx = useRelay({ settingsYaml: settings });

// NIP-13: leading zero bits of the id.
const zeroBits = (hex) => { let n = 0; for (const ch of hex) { const v = parseInt(ch, 16); if (v === 0) { n += 4; continue; } n += Math.clz32(v) - 28; break; } return n; };
function mine(key, bits, exact) {
  for (let i = 0; i < 200000; i++) {
    const e = makeEvent(key, { kind: 1, content: `pow ${i}`, tags: [['nonce', String(i), String(bits)]] });
    const z = zeroBits(e.id);
    if (exact ? z === bits : z >= bits) return e;
  }
  throw new Error('could not mine');
}

ctx.test('NIP-13: id difficulty 6 accepted, 5 refused with pow:', { timeout: 120000 }, async () => {
  const c = await ctx.connect();
  const k = newKey();
  const ok = await c.publish(mine(k, 6, true));
  assert.equal(ok[2], true, ok[3]);
  const low = await c.publish(mine(k, 5, true));
  assert.equal(low[2], false);
  assert.match(low[3], /^pow: /);
});

ctx.test('kind blacklist (numbers and ranges), pubkey blacklist (prefix)', { timeout: 60000 }, async () => {
  const c = await ctx.connect();
  const k = newKey();
  for (const [kind, allowed] of [[7, false], [6, true], [8, true], [30000, false], [30010, false], [30011, true], [29999, true]]) {
    const e = mine(k, 6, false);
    const ev = makeEvent(k, { kind, content: '', tags: e.tags });
    // re-mine for this kind
    let m = ev;
    for (let i = 0; zeroBits(m.id) < 6; i++) m = makeEvent(k, { kind, content: '', tags: [['nonce', String(i), '6']] });
    const r = await c.publish(m);
    assert.equal(r[2], allowed, `kind ${kind}: ${r[3]}`);
    if (!allowed) assert.match(r[3], /^blocked: /);
  }
  let b = makeEvent(blocked, { content: 'hi' });
  for (let i = 0; zeroBits(b.id) < 6; i++) b = makeEvent(blocked, { content: 'hi', tags: [['nonce', String(i), '6']] });
  const r = await c.publish(b);
  assert.equal(r[2], false);
  assert.match(r[3], /^blocked: /);
});

ctx.test('content maxLength by kind: 100 accepted, 101 refused for kind 1; other kinds 102400', { timeout: 60000 }, async () => {
  const c = await ctx.connect();
  const k = newKey();
  const minedWith = (kind, content) => { let m = makeEvent(k, { kind, content }); for (let i = 0; zeroBits(m.id) < 6; i++) m = makeEvent(k, { kind, content, tags: [['nonce', String(i), '6']] }); return m; };
  assert.equal((await c.publish(minedWith(1, 'x'.repeat(100))))[2], true);
  const over = await c.publish(minedWith(1, 'x'.repeat(101)));
  assert.equal(over[2], false);
  assert.match(over[3], /^invalid: content/);
  assert.equal((await c.publish(minedWith(30023, 'x'.repeat(5000))))[2], true);
});

ctx.test('createdAt.maxPositiveDelta 600: +590 s accepted, +620 s refused', { timeout: 60000 }, async () => {
  const c = await ctx.connect();
  const k = newKey();
  const at = (t) => { let m = makeEvent(k, { created_at: t }); for (let i = 0; zeroBits(m.id) < 6; i++) m = makeEvent(k, { created_at: t, tags: [['nonce', String(i), '6']] }); return m; };
  assert.equal((await c.publish(at(now() + 590)))[2], true);
  const r = await c.publish(at(now() + 620));
  assert.equal(r[2], false);
  assert.match(r[3], /^invalid: created_at/);
});

ctx.test('subscription limits: maxSubscriptions, maxFilters, maxFilterValues, id length, maxLimit, minPrefixLength', async () => {
  const c = await ctx.connect();
  for (const id of ['s1', 's2', 's3']) await c.req(id, { kinds: [1], limit: 1 });
  assert.match(await c.reqClosed('s4', { kinds: [1] }), /^blocked: .*subscriptions/);
  await c.req('s3', { kinds: [2] }); // reusing an id replaces: still 3
  for (const id of ['s1', 's2', 's3']) c.send(['CLOSE', id]);
  await c.req('f2', { kinds: [1] }, { kinds: [2] });
  assert.match(await c.reqClosed('f3', { kinds: [1] }, { kinds: [2] }, { kinds: [3] }), /^invalid: .*filters/);
  c.send(['CLOSE', 'f2']);
  await c.req('v3', { kinds: [1, 2, 3] });
  assert.match(await c.reqClosed('v4', { kinds: [1, 2, 3, 4] }), /^invalid: kinds has 4 values/);
  c.send(['CLOSE', 'v3']);
  await c.req('12345678', { kinds: [1] });
  assert.match(await c.reqClosed('123456789', { kinds: [1] }), /^invalid: subscription id/);
  c.send(['CLOSE', '12345678']);
  const k = newKey();
  for (let i = 0; i < 8; i++) {
    let m = makeEvent(k, { created_at: now() - i, content: `n${i}` });
    for (let j = 0; zeroBits(m.id) < 6; j++) m = makeEvent(k, { created_at: now() - i, content: `n${i}`, tags: [['nonce', String(j), '6']] });
    assert.equal((await c.publish(m))[2], true);
  }
  const { events } = await c.req('lim', { authors: [k.pk], limit: 100 });
  assert.equal(events.length, 5, 'limit capped at maxLimit');
  c.send(['CLOSE', 'lim']);
  const { events: byPrefix } = await c.req('pfx', { authors: [k.pk.slice(0, 8)], limit: 5 });
  assert.equal(byPrefix.length, 5, 'an 8-digit prefix is accepted');
  c.send(['CLOSE', 'pfx']);
  assert.match(await c.reqClosed('pfx7', { authors: [k.pk.slice(0, 7)] }), /^invalid: authors\[0\]/);
});

ctx.test('NIP-11 limitation shows the settings in force', async () => {
  const r = await httpGet(`${ctx.relay.httpUrl}/`, { headers: { Accept: 'application/nostr+json' } });
  const l = JSON.parse(r.body).limitation;
  assert.equal(l.max_subscriptions, 3);
  assert.equal(l.max_filters, 2);
  assert.equal(l.max_limit, 5);
  assert.equal(l.max_subid_length, 8);
  assert.equal(l.min_pow_difficulty, 6);
  assert.equal(l.max_message_length, 524288);
  assert.equal(l.restricted_writes, true);
});

test('a broken settings.yaml stops the relay with the key and the line', { timeout: 60000 }, async () => {
  const pg = await startPostgres();
  try {
    const bad = TEST_SETTINGS_YAML.replace('maxPositiveDelta: 900', 'maxPositiveDelta: soon');
    const line = bad.split('\n').findIndex((l) => l.includes('maxPositiveDelta')) + 1;
    await assert.rejects(startRelay(pg, { settingsYaml: bad, startTimeoutMs: 8000 }), (e) => {
      assert.match(e.message, new RegExp(`settings.yaml:${line}: limits.event.createdAt.maxPositiveDelta`));
      return true;
    });
  } finally {
    await pg.stop();
  }
});
