// Storage layer with a foreign partition: the relay keeps every promise
// when part of `events` lives on another PostgreSQL through postgres_fdw
// (what a storage node is, minus the Yggdrasil transport, which
// tests/distributed/ covers). Here events_hot covers [T, MAXVALUE) and a
// second cluster holds [MINVALUE, T).
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import { startPostgres, startRelay, connect, newKey, makeEvent, now, attachStorageNode, DB_USER } from './harness.mjs';

const T = now() - 10000;           // the boundary between the two partitions
let coord, storage, relay, c;

before(async () => {
  storage = await startPostgres();
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
