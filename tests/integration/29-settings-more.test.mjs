// Settings layer, the remaining limits at their bounds: proof of work on
// the pubkey, kind and pubkey whitelists, createdAt.maxNegativeDelta,
// connection ipBlacklist, and network.maxPayloadSize exactly at its bound.
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import { startPostgres, startRelay, connect, newKey, makeEvent, now, isNotice, sleep, TEST_SETTINGS_YAML } from './harness.mjs';

const zeroBits = (hex) => { let n = 0; for (const ch of hex) { const v = parseInt(ch, 16); if (v === 0) { n += 4; continue; } n += Math.clz32(v) - 28; break; } return n; };
function keyWithBits(bits, exact) {
  for (let i = 0; i < 100000; i++) {
    const k = newKey();
    const z = zeroBits(k.pk);
    if (exact ? z === bits : z >= bits) return k;
  }
  throw new Error('no key');
}
const good = keyWithBits(4, true);   // whitelisted by prefix, difficulty 4
const weak = keyWithBits(3, true);   // difficulty 3

let pg;
before(async () => { pg = await startPostgres(); }, { timeout: 60000 });
after(async () => { if (pg) await pg.stop(); }, { timeout: 60000 });

async function withRelay(settingsYaml, fn) {
  const relay = await startRelay(pg, { settingsYaml });
  try { await fn(relay); } finally { await relay.stop().catch(() => {}); await relay.dispose(); }
}

test('pubkey PoW, kind and pubkey whitelists, maxNegativeDelta', { timeout: 60000 }, async () => {
  const settings = TEST_SETTINGS_YAML
    .replace(/      minLeadingZeroBits: 0\n      whitelist: \[\]/,
      `      minLeadingZeroBits: 4\n      whitelist:\n        - "${good.pk.slice(0, 6)}"\n        - "${weak.pk.slice(0, 6)}"`)
    .replace(/    kind:\n      whitelist: \[\]/, '    kind:\n      whitelist:\n        - 1\n        - [30000, 30001]')
    .replace('maxNegativeDelta: 0', 'maxNegativeDelta: 3600');
  await withRelay(settings, async (relay) => {
    const c = await connect(relay.url);
    assert.equal((await c.publish(makeEvent(good, { content: 'ok' })))[2], true, 'difficulty 4, whitelisted, kind 1');
    const w = await c.publish(makeEvent(weak, { content: 'weak' }));
    assert.equal(w[2], false);
    assert.match(w[3], /^pow: /, 'pubkey difficulty 3 < 4');
    const other = keyWithBits(4, false);
    const o = await c.publish(makeEvent(other, { content: 'not listed' }));
    assert.equal(o[2], false);
    assert.match(o[3], /^blocked: /, 'not in the pubkey whitelist');
    for (const [kind, ok] of [[1, true], [30000, true], [30001, true], [30002, false], [7, false]]) {
      const r = await c.publish(makeEvent(good, { kind, content: '' }));
      assert.equal(r[2], ok, `kind ${kind}: ${r[3]}`);
    }
    assert.equal((await c.publish(makeEvent(good, { created_at: now() - 3500 })))[2], true, '3500 s old');
    const old = await c.publish(makeEvent(good, { created_at: now() - 3700 }));
    assert.equal(old[2], false, '3700 s old');
    assert.match(old[3], /^invalid: created_at/);
    await c.close();
  });
});

test('connection ipBlacklist refuses the address', { timeout: 60000 }, async () => {
  const settings = TEST_SETTINGS_YAML.replace(/  connection:\n    rateLimits: \[\]\n    ipWhitelist:\n(      - .*\n)+/,
    '  connection:\n    rateLimits: []\n    ipWhitelist: []\n    ipBlacklist:\n      - "127.0.0.0/8"\n      - "::1"\n');
  await withRelay(settings, async (relay) => {
    const c = await connect(relay.url);
    const n = await c.next(isNotice, 3000);
    assert.match(n[1], /^blocked: /);
    const closed = await Promise.race([c.closed.then(() => true), sleep(3000).then(() => false)]);
    assert.equal(closed, true);
  });
});

test('network.maxPayloadSize: a message of exactly the bound is read, one byte more is refused', { timeout: 60000 }, async () => {
  const settings = TEST_SETTINGS_YAML.replace('maxPayloadSize: 524288', 'maxPayloadSize: 4096');
  await withRelay(settings, async (relay) => {
    const c = await connect(relay.url);
    const msg = (n) => { const head = '["CLOSE","'; const tail = '"]'; return head + 'x'.repeat(n - head.length - tail.length) + tail; };
    c.send(msg(4096));
    await c.expectNone(isNotice, 500, 'a NOTICE for a 4096-byte message');
    c.send(msg(4097));
    const n = await c.next(isNotice, 3000);
    assert.match(n[1], /larger than 4096/);
    assert.ok(c.isOpen);
    await c.close();
  });
});
