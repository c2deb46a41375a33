// EVENT: acceptance, duplicates, validation, malformed messages, NIP-40.
import assert from 'node:assert/strict';
import { useRelay, newKey, makeEvent, now, randomHex, sleep, isOk, isNotice } from './harness.mjs';

const ctx = useRelay();
const alice = newKey();

function assertInvalidAnswer(m, id, label, idReadable) {
  if (m[0] === 'NOTICE') return; // allowed only where the caller says the id is unreadable
  assert.equal(m[0], 'OK', `${label}: expected OK or NOTICE, got ${JSON.stringify(m)}`);
  if (idReadable) assert.equal(m[1], id, `${label}: OK for the wrong id`);
  assert.equal(m[2], false, `${label}: should be refused, got ${JSON.stringify(m)}`);
  assert.match(m[3], /^invalid:/, `${label}: reason should start with "invalid:", got ${JSON.stringify(m[3])}`);
}

ctx.test('a valid event is accepted: ["OK", id, true, ""] and served back unchanged', async () => {
  const c = await ctx.connect();
  const ev = makeEvent(alice, { content: 'hello, relay', tags: [['t', 'hello'], ['p', alice.pk, 'wss://x']] });
  assert.deepEqual(await c.publish(ev), ['OK', ev.id, true, '']);
  const got = await c.query({ ids: [ev.id] });
  assert.deepEqual(got, [ev]);
});

ctx.test('the same event again: OK true with "duplicate:"', async () => {
  const c = await ctx.connect();
  const ev = makeEvent(alice, { content: 'twice' });
  assert.deepEqual(await c.publish(ev), ['OK', ev.id, true, '']);
  const m = await c.publish(ev);
  assert.equal(m[2], true, JSON.stringify(m));
  assert.match(m[3], /^duplicate:/);
  assert.equal((await c.query({ ids: [ev.id] })).length, 1);
});

ctx.test('control characters as JSON.stringify writes them (\\u0001) are accepted and round-trip', async () => {
  const c = await ctx.connect();
  const ev = makeEvent(alice, { content: 'a\u0001b\u001fc\ttab\nnl "q" \\ é 𝄞' });
  assert.deepEqual(await c.publish(ev), ['OK', ev.id, true, '']);
  assert.deepEqual(await c.query({ ids: [ev.id] }), [ev]);
});

// [label, build(): {ev (object or raw JSON string of the EVENT message), id, idReadable}]
const invalidCases = [
  ['bad signature', () => {
    const ev = makeEvent(alice, { content: 'bad sig' });
    ev.sig = (ev.sig[0] === '0' ? '1' : '0') + ev.sig.slice(1);
    return { ev, idReadable: true };
  }],
  ['id that is not the hash', () => {
    const ev = makeEvent(alice, { content: 'bad id' });
    ev.id = randomHex(32);
    return { ev, idReadable: true };
  }],
  ['upper-case hex id', () => {
    const ev = makeEvent(alice, { content: 'upper id' });
    ev.id = ev.id.toUpperCase();
    return { ev, idReadable: false };
  }],
  ['upper-case hex pubkey', () => {
    const ev = makeEvent(alice, { content: 'upper pubkey' });
    ev.pubkey = ev.pubkey.toUpperCase();
    return { ev, idReadable: true };
  }],
  ['upper-case hex sig', () => {
    const ev = makeEvent(alice, { content: 'upper sig' });
    ev.sig = ev.sig.toUpperCase();
    return { ev, idReadable: true };
  }],
  ['created_at float 1.5', () => {
    const ev = makeEvent(alice, { content: 'float', created_at: now() });
    ev.created_at += 0.5;
    return { ev, idReadable: true };
  }],
  ['created_at written 1700000000.0', () => {
    const ev = makeEvent(alice, { content: 'float0', created_at: 1700000000 });
    const raw = JSON.stringify(['EVENT', ev]).replace('"created_at":1700000000', '"created_at":1700000000.0');
    assert.ok(raw.includes('1700000000.0'));
    return { ev, raw, idReadable: true };
  }],
  ['created_at as a string', () => {
    const ev = makeEvent(alice, { content: 'str time' });
    ev.created_at = String(ev.created_at);
    return { ev, idReadable: true };
  }],
  ['kind 70000', () => ({ ev: makeEvent(alice, { kind: 70000, content: 'big kind' }), idReadable: true })],
  ['missing sig', () => {
    const ev = makeEvent(alice, { content: 'no sig' });
    delete ev.sig;
    return { ev, idReadable: true };
  }],
  ['missing content', () => {
    const ev = makeEvent(alice, { content: '' });
    delete ev.content;
    return { ev, idReadable: true };
  }],
  ['missing tags', () => {
    const ev = makeEvent(alice, { content: 'no tags' });
    delete ev.tags;
    return { ev, idReadable: true };
  }],
  ['tags [[]]', () => ({ ev: makeEvent(alice, { content: 'empty tag', tags: [[]] }), idReadable: true })],
  ['tag with a number', () => {
    const ev = makeEvent(alice, { content: 'num tag', tags: [['t', 'x']] });
    ev.tags = [['t', 1]];
    return { ev, idReadable: true };
  }],
  ['NUL in content', () => ({ ev: makeEvent(alice, { content: 'nul\u0000here' }), idReadable: true })],
  ['missing id', () => {
    const ev = makeEvent(alice, { content: 'no id' });
    delete ev.id;
    return { ev, idReadable: false };
  }],
];

for (const [label, build] of invalidCases) {
  ctx.test(`invalid event refused: ${label}`, async () => {
    const c = await ctx.connect();
    const { ev, raw, idReadable } = build();
    c.send(raw || ['EVENT', ev]);
    // An unreadable id may be answered with a NOTICE or with an OK false carrying whatever id the relay could read.
    const m = await c.next((x) => isOk(ev.id)(x) || isNotice(x) || (!idReadable && x[0] === 'OK' && x[2] === false),
      5000, `OK false or NOTICE for ${label}`);
    if (idReadable) assert.equal(m[0], 'OK', `${label}: the id is readable, so the answer should be OK false, got ${JSON.stringify(m)}`);
    assertInvalidAnswer(m, ev.id, label, idReadable);
    if (typeof ev.id === 'string' && /^[0-9a-fA-F]{64}$/.test(ev.id)) {
      assert.deepEqual(await c.query({ ids: [ev.id.toLowerCase()] }), [], `${label}: must not be stored`);
    }
    // connection still usable
    const ok = makeEvent(alice, { content: `after ${label}` });
    assert.deepEqual(await c.publish(ok), ['OK', ok.id, true, '']);
  });
}

const malformed = [
  ['not JSON', 'this is not json'],
  ['truncated JSON', '["EVENT", {"id":'],
  ['not an array', '{"EVENT": 1}'],
  ['a JSON string', '"EVENT"'],
  ['empty array', '[]'],
  ['unknown verb', '["HELLO", "x"]'],
  ['verb is not a string', '[1, 2, 3]'],
  ['["EVENT"] without an object', '["EVENT"]'],
  ['["EVENT", 1]', '["EVENT", 1]'],
  ['["EVENT", []]', '["EVENT", []]'],
  // 100 KB: below nostream's smallest default maxPayloadSize (128 KB)
  ['huge garbage (100 KB)', 'x'.repeat(100 * 1024)],
  ['huge garbage array (100 KB)', JSON.stringify(['EVENT', { junk: 'y'.repeat(100 * 1024) }])],
];

for (const [label, text] of malformed) {
  ctx.test(`malformed message answered with NOTICE, connection stays usable: ${label}`, async () => {
    const c = await ctx.connect();
    c.send(text);
    const m = await c.next(isNotice, 5000, `NOTICE for ${label}`);
    assert.equal(typeof m[1], 'string');
    assert.ok(c.isOpen, 'connection should stay open');
    const ok = makeEvent(alice, { content: `after malformed ${label}` });
    assert.deepEqual(await c.publish(ok), ['OK', ok.id, true, '']);
  });
}

ctx.test('NIP-40: an event whose expiration is in the past is refused ("invalid:", mentions expir)', async () => {
  const c = await ctx.connect();
  const ev = makeEvent(alice, { content: 'already expired', tags: [['expiration', String(now() - 10)]] });
  const m = await c.publish(ev);
  assert.equal(m[2], false, JSON.stringify(m));
  assert.match(m[3], /^invalid:/);
  assert.match(m[3], /expir/i);
  assert.deepEqual(await c.query({ ids: [ev.id] }), []);
});

ctx.test('NIP-40: an event expiring in 2 s is served before and not after', async () => {
  const c = await ctx.connect();
  const exp = now() + 2;
  const ev = makeEvent(alice, { content: 'short-lived', tags: [['expiration', String(exp)]] });
  const keeper = makeEvent(alice, { content: 'long-lived', tags: [['expiration', String(now() + 3600)]] });
  assert.deepEqual(await c.publish(ev), ['OK', ev.id, true, '']);
  assert.deepEqual(await c.publish(keeper), ['OK', keeper.id, true, '']);
  assert.deepEqual(await c.query({ ids: [ev.id] }), [ev], 'served before it expires');
  while (now() <= exp) await sleep(100);
  await sleep(200);
  assert.deepEqual(await c.query({ ids: [ev.id] }), [], 'not served once expired');
  assert.deepEqual(await c.query({ ids: [keeper.id] }), [keeper], 'an event expiring later is still served');
});
