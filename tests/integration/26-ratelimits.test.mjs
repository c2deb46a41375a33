// Settings layer, rate limits: connections and messages per client IP,
// events per author by kinds, their whitelists, and network.remoteIpHeader
// honoured only from network.trustedProxies. Each limit is checked at its
// bound and one over.
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import { startPostgres, startRelay, connect, newKey, makeEvent, isNotice, sleep, TEST_SETTINGS_YAML } from './harness.mjs';

const exempt = newKey();
function settingsWith({ proxies }) {
  return TEST_SETTINGS_YAML
    // connection: 3 per 4 s, no whitelist
    .replace(/  connection:\n    rateLimits: \[\]\n    ipWhitelist:\n(      - .*\n)+/,
      '  connection:\n    rateLimits:\n      - period: 4000\n        rate: 3\n    ipWhitelist: []\n')
    // message: 6 per 3 s, no whitelist
    .replace(/  message:\n    rateLimits: \[\]\n    ipWhitelist:\n(      - .*\n)+/,
      '  message:\n    rateLimits:\n      - period: 3000\n        rate: 6\n    ipWhitelist: []\n')
    // events: 3 kind-1 events per minute per author; one exempt author
    .replace(/    rateLimits: \[\]\n    whitelists:\n      pubkeys: \[\]\n      ipAddresses:\n(        - .*\n)+/,
      `    rateLimits:\n      - description: notes\n        kinds: [1]\n        period: 60000\n        rate: 3\n    whitelists:\n      pubkeys:\n        - "${exempt.pk}"\n      ipAddresses: []\n`)
    .replace('network:\n  maxPayloadSize: 524288\n',
      `network:\n  maxPayloadSize: 524288\n  remoteIpHeader: x-forwarded-for\n  trustedProxies: ${proxies}\n`);
}

let pg;
before(async () => { pg = await startPostgres(); }, { timeout: 60000 });
after(async () => { if (pg) await pg.stop(); }, { timeout: 60000 });

async function withRelay(settingsYaml, fn) {
  const relay = await startRelay(pg, { settingsYaml });
  try { await fn(relay); } finally { await relay.stop().catch(() => {}); await relay.dispose(); }
}

const xff = (ip) => ({ headers: { 'X-Forwarded-For': ip } });
async function closedSoon(c, ms = 3000) {
  const r = await Promise.race([c.closed, sleep(ms).then(() => null)]);
  return r !== null;
}

test('connections, messages and events are limited; whitelisted authors are not', { timeout: 60000 }, async () => {
  await withRelay(settingsWith({ proxies: '[]' }), async (relay) => {
    // messages: 6 per 3 s on one address
    const c = await connect(relay.url);
    for (let i = 0; i < 6; i++) c.send(['CLOSE', `x${i}`]);
    await c.expectNone(isNotice, 300, 'a NOTICE for the first 6 messages');
    c.send(['CLOSE', 'x7']);
    const n = await c.next(isNotice, 3000);
    assert.match(n[1], /^rate-limited: /);
    await sleep(3100); // the window slides: allowed again
    // events: 3 kind-1 per author per minute (each publish is one message too)
    const k = newKey();
    for (let i = 0; i < 3; i++) assert.equal((await c.publish(makeEvent(k, { content: `n${i}` })))[2], true);
    const over = await c.publish(makeEvent(k, { content: 'n3' }));
    assert.equal(over[2], false);
    assert.match(over[3], /^rate-limited: /);
    assert.equal((await c.publish(makeEvent(k, { kind: 7, content: '+' })))[2], true, 'kind 7 is not counted');
    await sleep(3100);
    for (let i = 0; i < 5; i++) assert.equal((await c.publish(makeEvent(exempt, { content: `e${i}` })))[2], true, 'whitelisted author');
    await c.close();

    // connections: 3 per 4 s per address (the first one above counted)
    await sleep(4100);
    const conns = [];
    for (let i = 0; i < 3; i++) conns.push(await connect(relay.url));
    for (const x of conns) assert.equal(await closedSoon(x, 300), false, 'within the limit');
    const fourth = await connect(relay.url);
    assert.equal(await closedSoon(fourth), true, 'the 4th connection is closed');
    for (const x of conns) await x.close();
  });
});

test('X-Forwarded-For from an untrusted peer is ignored: it cannot dodge the limit', { timeout: 60000 }, async () => {
  await withRelay(settingsWith({ proxies: '[]' }), async (relay) => {
    const conns = [];
    for (let i = 0; i < 3; i++) conns.push(await connect(relay.url, xff(`203.0.113.${i + 1}`)));
    const fourth = await connect(relay.url, xff('203.0.113.99'));
    assert.equal(await closedSoon(fourth), true, 'same peer address, same limit');
    for (const x of conns) await x.close();
  });
});

test('from a trusted proxy, X-Forwarded-For names the client', { timeout: 60000 }, async () => {
  await withRelay(settingsWith({ proxies: '["127.0.0.1", "::1"]' }), async (relay) => {
    const conns = [];
    for (let i = 0; i < 6; i++) conns.push(await connect(relay.url, xff(`203.0.113.${i + 1}`)));
    for (const x of conns) assert.equal(await closedSoon(x, 200), false, 'each client has its own limit');
    for (let i = 0; i < 3; i++) conns.push(await connect(relay.url, xff('198.51.100.7')));
    const fourth = await connect(relay.url, xff('198.51.100.7'));
    assert.equal(await closedSoon(fourth), true, 'the 4th from one client is closed');
    for (const x of conns) await x.close();
  });
});
