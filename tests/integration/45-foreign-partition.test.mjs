// Storage layer with a foreign partition: the relay keeps every promise
// when part of `events` lives on another PostgreSQL through postgres_fdw
// (what a storage node is, minus the Yggdrasil transport, which
// tests/distributed/ covers). Here events_hot covers [T, MAXVALUE) and a
// second cluster holds [MINVALUE, T).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test, before, after } from 'node:test';
import { startPostgres, startRelay, connect, newKey, makeEvent, now, randomHex, sleep, attachStorageNode, DB_USER } from './harness.mjs';

const T = now() - 10000;           // the boundary between the two partitions
let coord, storage, relay, c;

before(async () => {
  storage = await startPostgres({ extraConf: "log_statement = 'all'" }); // counted below
  coord = await startPostgres();
  relay = await startRelay(coord);       // applies the migrations
  await attachStorageNode(coord, storage, { name: 'archive_test', below: T });
  c = await connect(relay.url);
}, { timeout: 90000 });

after(async () => {
  if (c) await c.close();
  if (relay) { await relay.stop().catch(() => {}); await relay.dispose(); }
  if (coord) await coord.stop();
  if (storage) await storage.stop();
}, { timeout: 60000 });

const key = newKey();
const old = makeEvent(key, { kind: 1, content: 'old', tags: [['t', 'span']], created_at: T - 100 });
const recent = makeEvent(key, { kind: 1, content: 'recent', tags: [['t', 'span']], created_at: T + 100 });

test('inserts are routed by created_at; REQ spans both and prunes with since/until', async () => {
  assert.equal((await c.publish(old))[2], true);
  assert.equal((await c.publish(recent))[2], true);
  assert.equal(await storage.psql('SELECT count(*) FROM events_data'), '1', 'the old event is on the node');
  assert.equal(await coord.psql('SELECT count(*) FROM events_hot'), '1');
  assert.deepEqual((await c.query({ authors: [key.pk] })).map((e) => e.id), [recent.id, old.id]);
  assert.deepEqual((await c.query({ '#t': ['span'] })).map((e) => e.id), [recent.id, old.id], 'tags from local event_tags');
  assert.deepEqual((await c.query({ '#t': ['nope', 'span'], limit: 5 })).map((e) => e.id), [recent.id, old.id],
    'a tag of several values, each looked up in its partition');
  assert.deepEqual((await c.query({ '#t': ['span', 'nope'], until: T - 1, limit: 1 })).map((e) => e.id), [old.id]);
  assert.deepEqual((await c.query({ authors: [key.pk], since: T })).map((e) => e.id), [recent.id]);
  assert.deepEqual((await c.query({ authors: [key.pk], until: T - 1 })).map((e) => e.id), [old.id]);
  assert.equal((await c.publish(old))[3].startsWith('duplicate:'), true, 'duplicate detected on the node');
});

test('tag queries ask a node once, not once per event; not at all when events_hot fills the limit', async () => {
  await sleep(3000); // the storage monitor sees the node at its next round (every 2 s)
  const k = newKey(), X = randomHex(32), Y = randomHex(32);
  for (let i = 0; i < 40; i++) {
    assert.equal((await c.publish(makeEvent(k, { tags: [['e', X]], created_at: T - 1000 + i })))[2], true);
    assert.equal((await c.publish(makeEvent(k, { tags: [['e', Y]], created_at: T - 1000 + i })))[2], true);
    assert.equal((await c.publish(makeEvent(k, { tags: [['e', Y]], created_at: T + 1000 + i })))[2], true);
  }
  // Statements the node's PostgreSQL ran (log_statement = all) during fn.
  const statements = async (fn) => {
    const count = () => (fs.readFileSync(storage.logFile, 'utf8').match(/ statement: /g) || []).length;
    const before = count();
    const out = await fn();
    return [out, count() - before];
  };
  // X: all 40 on the node. One lookup per event would be 80 statements or more.
  let [got, n] = await statements(() => c.query({ '#e': [X] }));
  assert.equal(got.length, 40);
  assert.ok(n <= 10, `${n} statements on the node for one REQ`);
  [got, n] = await statements(() => c.query({ '#e': [X, randomHex(32)], limit: 30 }));
  assert.equal(got.length, 30);
  assert.ok(n <= 20, `${n} statements on the node for one REQ of two values`);
  // Y: the newest 20 are in events_hot: the node's partition is pruned.
  [got, n] = await statements(() => c.query({ '#e': [Y], limit: 20 }));
  assert.deepEqual(got.map((e) => e.created_at), Array.from({ length: 20 }, (_, i) => T + 1039 - i));
  assert.ok(n <= 4, `${n} statements on the node when events_hot had the 20 newest`);
  // Y without a limit below its count: both parts, newest first.
  got = await c.query({ '#e': [Y], limit: 50 });
  assert.deepEqual(got.map((e) => e.created_at),
    [...Array.from({ length: 40 }, (_, i) => T + 1039 - i), ...Array.from({ length: 10 }, (_, i) => T - 961 - i)]);
});

test('replaceable events: a newer version in the hot range replaces one on the node', async () => {
  const k = newKey();
  const v1 = makeEvent(k, { kind: 0, content: 'v1', created_at: T - 50 });
  const v2 = makeEvent(k, { kind: 0, content: 'v2', created_at: T + 50 });
  const v0 = makeEvent(k, { kind: 0, content: 'v0', created_at: T - 60 });
  assert.equal((await c.publish(v1))[2], true);
  assert.equal((await c.publish(v2))[2], true);
  assert.notEqual((await c.publish(v0))[2], true, 'older than the stored version');
  assert.deepEqual((await c.query({ kinds: [0], authors: [k.pk] })).map((e) => e.id), [v2.id]);
  assert.equal(await storage.psql('SELECT count(*) FROM events_data WHERE event_kind = 0'), '0', 'old version removed from the node');
  const a1 = makeEvent(k, { kind: 30023, content: 'a1', tags: [['d', 'x']], created_at: T + 10 });
  const a2 = makeEvent(k, { kind: 30023, content: 'a2', tags: [['d', 'x']], created_at: T - 10 });
  assert.equal((await c.publish(a1))[2], true);
  assert.notEqual((await c.publish(a2))[2], true, 'older addressable version refused across partitions');
  assert.deepEqual((await c.query({ kinds: [30023], authors: [k.pk] })).map((e) => e.id), [a1.id]);
});

test('NIP-09 deletion reaches events on the node, and they cannot come back', async () => {
  const del = makeEvent(key, { kind: 5, tags: [['e', old.id]], created_at: T + 200 });
  assert.equal((await c.publish(del))[2], true);
  assert.deepEqual((await c.query({ ids: [old.id] })), []);
  assert.notEqual((await c.publish(old))[2], true);
  assert.notEqual(await storage.psql(`SELECT deleted_at FROM events_data WHERE event_id = '\\x${old.id}'`), '');
});

test('plan: a spanning query scans both partitions, the foreign one asynchronously', async () => {
  const plan = await coord.psql('EXPLAIN SELECT count(*) FROM events WHERE event_created_at > 0', { user: DB_USER });
  assert.match(plan, /events_hot/);
  assert.match(plan, /Async Foreign Scan on events_archive_test/);
  const pruned = await coord.psql(`EXPLAIN SELECT count(*) FROM events WHERE event_created_at >= ${T}`, { user: DB_USER });
  assert.doesNotMatch(pruned, /events_archive_test/);
});
