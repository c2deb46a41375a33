// A storage node goes down and comes back (issue 7): REQs keep answering
// with what the reachable partitions hold plus a NOTICE naming the missing
// range; REQs that do not touch it are unaffected; events in its range are
// held locally (OK true only after the local commit) and delivered when it
// returns, none lost and none duplicated; deletions and replaceable
// versions that arrived meanwhile reach the node's rows too.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { test, before, after } from 'node:test';
import {
  startPostgres, startRelay, connect, newKey, makeEvent, now, sleep, waitFor, isNotice,
  attachStorageNode, REPO, DB_USER, DB_NAME,
} from './harness.mjs';

const execFileP = promisify(execFile);
const T = now() - 10000;           // events_hot: [T, MAX); the node: [MIN, T)
let coord, storage, relay, c;

before(async () => {
  storage = await startPostgres();
  coord = await startPostgres();
  relay = await startRelay(coord);
  await attachStorageNode(coord, storage, { name: 'n1', below: T });
  c = await connect(relay.url);
}, { timeout: 90000 });

after(async () => {
  if (c) await c.close();
  if (relay) { await relay.stop().catch(() => {}); await relay.dispose(); }
  if (coord) await coord.stop();
  if (storage) await storage.stop();
}, { timeout: 60000 });

const key = newKey();
const onNode = makeEvent(key, { kind: 1, content: 'on the node', created_at: T - 500 });
const doomed = makeEvent(key, { kind: 1, content: 'deleted while the node is down', created_at: T - 400 });
const recent = makeEvent(key, { kind: 1, content: 'recent', created_at: T + 100 });
const profileOld = makeEvent(key, { kind: 0, content: '{"name":"old"}', created_at: T - 300 });
const held = makeEvent(key, { kind: 1, content: 'held while down', created_at: T - 200 });
const profileNew = makeEvent(key, { kind: 0, content: '{"name":"new"}', created_at: T + 50 });
const deletion = makeEvent(key, { kind: 5, tags: [['e', doomed.id]], created_at: T + 60 });

const ids = (evs) => evs.map((e) => e.id).sort();
const outageRows = () => coord.psql('SELECT count(*) FROM nostream_storage_outage');

/** scripts/storage-status.sh --json; exit 4 (a node is not up) is an answer too. */
async function status({ expectCode = 0 } = {}) {
  let stdout, code = 0;
  try {
    ({ stdout } = await execFileP(path.join(REPO, 'scripts', 'storage-status.sh'), ['--json'], {
      env: { ...process.env, DB_HOST: coord.socketDir, DB_PORT: String(coord.port), DB_USER, DB_NAME, DB_PASSWORD: '' },
      timeout: 30000,
    }));
  } catch (e) {
    if (e.code === undefined || e.stdout === undefined) throw e;
    ({ stdout, code } = e);
  }
  assert.equal(code, expectCode, `storage-status.sh exit code (output: ${stdout})`);
  return JSON.parse(stdout);
}

test('before the outage: events land on the node and in events_hot', async () => {
  for (const e of [onNode, doomed, recent, profileOld]) assert.equal((await c.publish(e))[2], true, e.content);
  assert.equal(await storage.psql('SELECT count(*) FROM events_data'), '3');
  const st = await status();
  assert.equal(st.nodes.length, 1);
  assert.equal(st.nodes[0].state, 'up');
  assert.equal(st.nodes[0].rows, 3);
  assert.equal(st.nodes[0].range_hi, T);
});

test('node down: REQs answer with what is reachable, a NOTICE names the gap', async () => {
  await storage.stopServer('immediate');
  const t0 = Date.now();
  const all = await c.reqWith('all', [{ authors: [key.pk] }], { timeoutMs: 30000 });
  const took = Date.now() - t0;
  assert.deepEqual(ids(all.events), ids([recent]), 'the hot partition still answers');
  assert.ok(took < 25000, `bounded: answered in ${took} ms`);
  const notice = await c.next(isNotice, 2000, 'NOTICE naming the missing range');
  assert.match(notice[1], /storage_n1/);
  assert.match(notice[1], new RegExp(`created_at the beginning to ${T}`));
  c.send(['CLOSE', 'all']);
  await waitFor(async () => (await outageRows()) === '1', { what: 'the node swapped out' });

  // A REQ that prunes the node away: no NOTICE, fast.
  const t1 = Date.now();
  assert.deepEqual(ids(await c.query({ authors: [key.pk], since: T })), ids([recent]));
  assert.ok(Date.now() - t1 < 2000);
  await c.expectNone(isNotice, 300, 'NOTICE for a REQ outside the gap');
  const st = await status({ expectCode: 4 });
  assert.equal(st.nodes[0].state, 'down');
  assert.equal(st.nodes[0].rows, null, 'no row count from a node that does not answer');
});

test('node down: writes in its range are held locally, OK true after commit', async () => {
  for (const e of [held, profileNew, deletion]) {
    const ok = await c.publish(e, 30000);
    assert.equal(ok[2], true, `${e.content}: ${ok[3]}`);
  }
  assert.match((await c.publish(held))[3], /^duplicate:/, 'the held copy is seen');
  assert.deepEqual(ids(await c.query({ authors: [key.pk], kinds: [1] })), ids([recent, held]));
  assert.match((await c.next(isNotice, 2000, 'NOTICE'))[1], /storage unreachable: storage_n1/);
  const st = await status({ expectCode: 4 });
  assert.equal(st.nodes[0].held, 1, 'one event waits for the node');
  assert.equal(st.replay, 2, 'the profile and the deletion wait for replay');
});

test('node back: held events delivered once, deletions and replacements replayed', async () => {
  await storage.start();
  await waitFor(async () => (await outageRows()) === '0', { timeoutMs: 20000, what: 'the node restored' });
  await sleep(300); // the monitor publishes the gaps right after its commit
  assert.equal(await storage.psql(`SELECT count(*) FROM events_data WHERE event_id = '\\x${held.id}'`), '1');
  assert.notEqual(await storage.psql(`SELECT deleted_at FROM events_data WHERE event_id = '\\x${doomed.id}'`), '',
    'the deletion reached the node');
  assert.equal(await storage.psql('SELECT count(*) FROM events_data WHERE event_kind = 0'), '0',
    'the old profile on the node was replaced');
  assert.deepEqual(ids(await c.query({ authors: [key.pk] })), ids([onNode, recent, held, profileNew, deletion]));
  await c.expectNone(isNotice, 300, 'NOTICE once the node is back');
  assert.match((await c.publish(held))[3], /^duplicate:/, 'no second copy');
  assert.equal(await coord.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'events_n1_held%'"), '0');
  const st = await status();
  assert.equal(st.nodes[0].state, 'up');
  assert.equal(st.nodes[0].rows, 3, 'onNode, doomed (marked deleted) and held; the old profile is gone');
  assert.equal(st.replay, 0);
});

test('a node given up for good: nostream_storage_forget keeps the held events as a local partition', async () => {
  await storage.stopServer('immediate');
  const late = makeEvent(key, { kind: 1, content: 'held, node never returns', created_at: T - 100 });
  assert.equal((await c.publish(late, 30000))[2], true);
  await waitFor(async () => (await outageRows()) === '1', { what: 'the node swapped out' });
  assert.equal(await coord.psql("SELECT nostream_storage_forget('events_n1')"), 'events_n1_local');
  assert.equal(await outageRows(), '0');
  assert.equal(await coord.psql("SELECT count(*) FROM pg_inherits WHERE inhrelid = 'events_n1_local'::regclass"), '1');
  assert.equal(await coord.psql("SELECT count(*) FROM pg_inherits WHERE inhrelid = 'events_n1'::regclass"), '0');
  await sleep(2500); // a monitor round: nothing to probe any more
  assert.deepEqual(ids(await c.query({ ids: [late.id] })), [late.id]);
  await c.expectNone(isNotice, 300, 'NOTICE after the node was given up');
  assert.deepEqual((await status()).nodes, [], 'no node is listed any more');
});
