import fs from 'node:fs';
import { startPostgres, startRelay, attachStorageNode, connect, newKey, makeEvent, now, randomHex, DB_USER } from './harness.mjs';
const T = now() - 10000;
const storage = await startPostgres({ extraConf: "log_statement = 'all'" });
const coord = await startPostgres();
const relay = await startRelay(coord);
await attachStorageNode(coord, storage, { name: 'archive_test', below: T });
const c = await connect(relay.url);
const X = randomHex(32), Y = randomHex(32), k = newKey();
for (let i = 0; i < 60; i++) await c.publish(makeEvent(k, { tags: [['e', X]], created_at: T - 1000 + i, content: `old ${i}` }));
for (let i = 0; i < 60; i++) await c.publish(makeEvent(k, { tags: [['e', Y]], created_at: T - 1000 + i, content: `oldY ${i}` }));
for (let i = 0; i < 60; i++) await c.publish(makeEvent(k, { tags: [['e', Y]], created_at: T + 100 + i, content: `newY ${i}` }));
const lines = () => fs.readFileSync(storage.logFile, 'utf8').split('\n').filter((l) => /statement: /.test(l)).length;
const COLS = 'event_id, event_pubkey, event_created_at, event_kind, event_tags, event_content, event_signature';
const q = (v, n) => `SELECT count(*) FROM (WITH a AS MATERIALIZED (SELECT ${COLS} FROM (SELECT t.event_id AS tag_event_id, t.event_created_at AS tag_created_at FROM event_tags t WHERE t.tag_name = 'e' AND left(t.tag_value, 200) = '${v}') c CROSS JOIN LATERAL (SELECT ${COLS} FROM events_hot WHERE event_id = tag_event_id AND event_created_at = tag_created_at AND deleted_at IS NULL LIMIT 1) e ORDER BY tag_created_at DESC, event_id LIMIT ${n}), b AS (SELECT CASE WHEN count(*) >= ${n} THEN min(event_created_at) ELSE -2147483648 END AS lo FROM a)
 SELECT ${COLS} FROM (SELECT * FROM a UNION (SELECT ${COLS} FROM events WHERE (SELECT count(*) > 1 FROM pg_inherits WHERE inhparent = 'events'::regclass) AND deleted_at IS NULL AND event_created_at >= (SELECT lo FROM b) AND event_id = ANY(ARRAY(SELECT t.event_id FROM event_tags t WHERE t.tag_name = 'e' AND left(t.tag_value, 200) = '${v}' AND t.event_created_at >= (SELECT lo FROM b))) ORDER BY event_created_at DESC, event_id LIMIT ${n})) x ORDER BY event_created_at DESC, event_id LIMIT ${n}) z`;
for (const [v, n] of [[X, 20], [X, 500], [Y, 20], [Y, 100]]) {
  const before = lines(); const t0 = Date.now();
  const r = await coord.psql(q(v, n), { user: DB_USER });
  console.log(`${v === X ? 'X' : 'Y'} limit ${n}: ${r} rows, ${Date.now() - t0} ms, ${lines() - before} statements on the node`);
}
console.log(await coord.psql('EXPLAIN (ANALYZE, COSTS OFF) ' + q(Y, 20).replace(/^SELECT count\(\*\) FROM /, 'SELECT * FROM '), { user: DB_USER }));
await c.close(); await relay.stop(); await relay.dispose(); await coord.stop(); await storage.stop();
