// Hostile clients, message level: deeply nested JSON, thousands of
// subscriptions, filters with thousands of values, REQ floods. As in
// 95-hostile-transport: each attacker has its own loopback address
// (127.0.0.x), a well-behaved client on 127.0.0.1 times EVENT->OK and
// REQ->EOSE round trips, and one line per attack gives the figures:
//   hostile <attack> good_p50_ms=.. good_p99_ms=.. ...
import assert from 'node:assert/strict';
import {
  useRelay, TEST_SETTINGS_YAML, connect, sleep, randomHex,
  underAttack as underAttackOn,
} from './harness.mjs';

const MAX_SUBS = 10;            // limits.client.subscription.maxSubscriptions
const MAX_VALUES = 2500;        // limits.client.subscription.maxFilterValues
const PER_IP = 40;              // limits.connection.maxConnectionsPerIp
const MSG_RATE = 3000;          // limits.message.rateLimits: per 10 s per address
const P99_MS = 250;

const ctx = useRelay({
  settingsYaml: TEST_SETTINGS_YAML
    .replace('  connection:\n    rateLimits: []\n', `  connection:\n    rateLimits: []\n    maxConnectionsPerIp: ${PER_IP}\n`)
    // 127.0.0.1 (the well-behaved client) stays whitelisted; attackers are not.
    .replace('  message:\n    rateLimits: []\n', `  message:\n    rateLimits:\n      - period: 10000\n        rate: ${MSG_RATE}\n`),
});

/** The harness's underAttack on this file's relay, with its p99 bound. */
const underAttack = (name, attack, opts = {}) => underAttackOn(ctx, name, attack, { p99Ms: P99_MS, ...opts });

const isArr = Array.isArray;
/** Waits until n messages matching pred arrived on c (consumed), or throws after ms. */
async function collect(c, pred, n, ms, what) {
  const got = [];
  const deadline = Date.now() + ms;
  while (got.length < n) {
    got.push(await c.next(pred, Math.max(1, deadline - Date.now()), `${what} (${got.length} of ${n} so far)`));
  }
  return got;
}

/** Resolves once c has received nothing for quietMs (throws after maxMs). */
async function quiet(c, quietMs, maxMs) {
  const deadline = Date.now() + maxMs;
  let last = -1;
  while (c.received !== last) {
    if (Date.now() > deadline) throw new Error(`still receiving after ${maxMs} ms`);
    last = c.received;
    await sleep(quietMs);
  }
}

ctx.test('deeply nested JSON is refused with invalid: (jansson stops at depth 2048)', async () => {
  const deep = 100000;
  const bombs = [
    '['.repeat(deep),
    '{"a":'.repeat(deep),
    `["REQ","n",${'['.repeat(deep)}${']'.repeat(deep)}]`,
    `["REQ","n",{"#e":${'['.repeat(deep)}${']'.repeat(deep)}}]`,
    `["EVENT",${'{"a":'.repeat(deep)}1${'}'.repeat(deep)}]`,
    `["EVENT",{"id":"${'0'.repeat(64)}","tags":${'['.repeat(deep)}${']'.repeat(deep)}}]`,
    `["CLOSE",${'['.repeat(deep)}]`,
  ];
  const answers = await underAttack('nested_json', async () => {
    const c = await connect(ctx.relay.url, { localAddress: '127.0.0.2' });
    const out = [];
    for (let round = 0; round < 15; round++) {
      for (const b of bombs) {
        c.send(b);
        out.push(await c.next((m) => isArr(m) && ['NOTICE', 'OK', 'CLOSED'].includes(m[0]), 5000, `an answer to ${b.slice(0, 24)}…`));
      }
    }
    await c.close();
    return out;
  });
  for (const m of answers) {
    const reason = m[0] === 'NOTICE' ? m[1] : m[0] === 'OK' ? m[3] : m[2];
    if (m[0] === 'OK') assert.equal(m[2], false);
    assert.match(reason, /^invalid: /, JSON.stringify(m).slice(0, 200));
  }
});

ctx.test('thousands of subscriptions: maxSubscriptions per connection, maxConnectionsPerIp connections', { timeout: 60000 }, async () => {
  const REQS = 3000;
  const r = await underAttack('subscriptions', async () => {
    // One connection asking for 3000 subscriptions.
    const c = await connect(ctx.relay.url, { localAddress: '127.0.0.3' });
    for (let i = 0; i < REQS; i++) c.send(['REQ', `s${i}`, { ids: [randomHex(32)] }]);
    const answers = await collect(c, (m) => isArr(m) && (m[0] === 'EOSE' || m[0] === 'CLOSED'), REQS, 20000, 'EOSE or CLOSED');
    await c.close();
    // And every connection the address may hold, each with all its
    // subscriptions matching every note: the probe's events fan out to them.
    const conns = [];
    for (let i = 0; i < PER_IP; i++) conns.push(await connect(ctx.relay.url, { localAddress: '127.0.0.6' }));
    await Promise.all(conns.map(async (x, i) => {
      for (let s = 0; s < MAX_SUBS; s++) await x.req(`k${i}-${s}`, { kinds: [1], limit: 1 });
    }));
    await sleep(2000); // fan-out to 400 subscriptions while the probe publishes
    const delivered = conns.reduce((n, x) => n + x.buf.filter((m) => isArr(m) && m[0] === 'EVENT').length, 0);
    await Promise.all(conns.map((x) => x.close()));
    return { answers, delivered };
  }, { minMs: 3000 });
  const eose = r.answers.filter((m) => m[0] === 'EOSE');
  const closed = r.answers.filter((m) => m[0] === 'CLOSED');
  console.log(`hostile subscriptions eose=${eose.length} closed=${closed.length} live_deliveries=${r.delivered}`);
  assert.equal(eose.length, MAX_SUBS);
  assert.equal(closed.length, REQS - MAX_SUBS);
  for (const m of closed) assert.match(m[2], new RegExp(`^blocked: too many subscriptions: at most ${MAX_SUBS}`));
  assert.ok(r.delivered > PER_IP * MAX_SUBS, 'the live subscriptions were served');
});

ctx.test('filters with thousands of values: maxFilterValues, and the largest legal REQs do not starve others', { timeout: 60000 }, async () => {
  const r = await underAttack('filter_values', async () => {
    const c = await connect(ctx.relay.url, { localAddress: '127.0.0.4' });
    const refused = [];
    for (const field of ['ids', 'authors', '#e', '#p', 'kinds']) {
      const values = field === 'kinds' ? Array.from({ length: MAX_VALUES + 1 }, (_, i) => i) :
        Array.from({ length: MAX_VALUES + 1 }, () => randomHex(32));
      refused.push(await c.reqClosed(`v-${field}`, { [field]: values }));
    }
    // Legal: 3 filters of 2500 authors each (~500 KB, just under
    // maxPayloadSize), 30 times from 4 connections at once.
    const big = Array.from({ length: 3 }, () => ({ authors: Array.from({ length: MAX_VALUES }, () => randomHex(32)), limit: 10 }));
    const conns = [c];
    for (let i = 0; i < 3; i++) conns.push(await connect(ctx.relay.url, { localAddress: '127.0.0.4' }));
    const eose = await Promise.all(conns.map(async (x) => {
      let n = 0;
      for (let i = 0; i < 30; i++) { await x.reqWith('big', big, { timeoutMs: 20000 }); n++; }
      return n;
    }));
    await Promise.all(conns.map((x) => x.close()));
    return { refused, eose };
  });
  console.log(`hostile filter_values refused=${r.refused.length} big_reqs_answered=${r.eose.reduce((a, b) => a + b, 0)}`);
  for (const why of r.refused) assert.match(why, new RegExp(`^invalid: .* more than the maximum of ${MAX_VALUES}`));
  assert.deepEqual(r.eose, [30, 30, 30, 30]);
});

ctx.test('REQ floods: limits.message.rateLimits per address, 16 REQs in flight per connection', { timeout: 60000 }, async () => {
  const CONNS = 4, PER_CONN = 4000, FLOOD_MS = 6000;
  const r = await underAttack('req_flood', async () => {
    const conns = [];
    for (let i = 0; i < CONNS; i++) conns.push(await connect(ctx.relay.url, { localAddress: '127.0.0.5' }));
    // Each REQ replaces the last (same id): a query each, never more
    // subscriptions. The relay reads a connection only while fewer than 16
    // of its REQs wait for the database, and answers every message past
    // the address's rate with a NOTICE.
    for (const x of conns) for (let i = 0; i < PER_CONN; i++) x.send(['REQ', 'flood', { kinds: [1], limit: 5 }]);
    await sleep(FLOOD_MS);
    const counts = conns.map((x) => ({
      eose: x.buf.filter((m) => isArr(m) && m[0] === 'EOSE').length,
      limited: x.buf.filter((m) => isArr(m) && m[0] === 'NOTICE' && /^rate-limited: /.test(m[1])).length,
    }));
    await Promise.all(conns.map((x) => x.close()));
    return counts;
  }, { minMs: FLOOD_MS });
  const eose = r.reduce((n, x) => n + x.eose, 0);
  const limited = r.reduce((n, x) => n + x.limited, 0);
  console.log(`hostile req_flood sent=${CONNS * PER_CONN} eose=${eose} rate_limited=${limited} in ${FLOOD_MS} ms`);
  // Within one 10 s window at most MSG_RATE of the address's messages are
  // read as REQs; the rest that were read got the NOTICE.
  assert.ok(eose <= MSG_RATE, `${eose} REQs answered within one window (want <= ${MSG_RATE})`);
  assert.ok(limited >= (CONNS * PER_CONN) / 2, `most of the flood was read and refused: ${limited} NOTICEs`);
});
