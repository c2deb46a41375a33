// Storage layer: a database made by nostream (TypeScript) is adopted in
// place. The schema below is what nostream's knex migrations leave (a plain
// events table, its tag trigger, event_tags with a btree on
// (tag_name, tag_value)); rows are written the way nostream writes them.
// After the relay starts on it, events is partitioned, every event and tag
// is still there and served, deleted ones stay deleted, and new events work.
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import { startPostgres, startRelay, connect, newKey, makeEvent, now, DB_USER } from './harness.mjs';

let pg, relay;
const key = newKey();
const t = now() - 100;
const note = makeEvent(key, { kind: 1, content: 'from nostream', tags: [['t', 'old'], ['p', 'a'.repeat(64)]], created_at: t });
const gone = makeEvent(key, { kind: 1, content: 'deleted in nostream', created_at: t + 1 });
const meta = makeEvent(key, { kind: 0, content: '{"name":"old"}', created_at: t + 2 });

const hex = (h) => `'\\x${h}'::bytea`;
const lit = (s) => `'${s.replace(/'/g, "''")}'`;
function row(e, extra = {}) {
  const dedup = extra.dedup ? lit(JSON.stringify(extra.dedup)) : 'NULL';
  return `(${hex(e.id)}, ${hex(e.pubkey)}, ${e.kind}, ${e.created_at}, ${lit(e.content)}, ` +
    `${lit(JSON.stringify(e.tags))}::jsonb, ${hex(e.sig)}, ${extra.deleted ? 'now()' : 'NULL'}, ${dedup}::jsonb)`;
}

before(async () => {
  pg = await startPostgres();
  await pg.psql(`
    CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
    CREATE TABLE events (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), event_id bytea NOT NULL UNIQUE,
      event_pubkey bytea NOT NULL, event_kind integer NOT NULL, event_created_at integer NOT NULL,
      event_content text NOT NULL, event_tags jsonb, event_signature bytea NOT NULL,
      first_seen timestamp DEFAULT now(), deleted_at timestamp, event_deduplication jsonb,
      remote_address inet, expires_at integer);
    CREATE UNIQUE INDEX replaceable_events_idx ON events (event_pubkey, event_kind, event_deduplication)
      WHERE event_kind = 0 OR event_kind = 3 OR (event_kind >= 10000 AND event_kind < 20000);
    CREATE TABLE event_tags (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), event_id bytea NOT NULL,
      tag_name text NOT NULL, tag_value text NOT NULL);
    CREATE INDEX event_tags_event_id_index ON event_tags (event_id);
    CREATE INDEX event_tags_tag_name_tag_value_index ON event_tags (tag_name, tag_value);
    CREATE FUNCTION process_event_tags() RETURNS trigger AS $$
    BEGIN
      DELETE FROM event_tags WHERE event_id = OLD.event_id;
      IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
        INSERT INTO event_tags (event_id, tag_name, tag_value)
        SELECT NEW.event_id, t->>0, t->>1 FROM jsonb_array_elements(NEW.event_tags) t
         WHERE length(t->>0) = 1 AND coalesce(t->>1, '') <> '';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;
    CREATE TRIGGER insert_event_tags AFTER INSERT OR UPDATE OR DELETE ON events
      FOR EACH ROW EXECUTE FUNCTION process_event_tags();
    INSERT INTO events (event_id, event_pubkey, event_kind, event_created_at, event_content, event_tags,
                        event_signature, deleted_at, event_deduplication) VALUES
      ${row(note)}, ${row(gone, { deleted: true })}, ${row(meta, { dedup: [meta.pubkey, 0] })};
    ALTER TABLE events OWNER TO ${DB_USER};
    ALTER TABLE event_tags OWNER TO ${DB_USER};
  `);
  relay = await startRelay(pg);
}, { timeout: 90000 });

after(async () => {
  if (relay) { await relay.stop().catch(() => {}); await relay.dispose(); }
  if (pg) await pg.stop();
}, { timeout: 60000 });

test('events is now partitioned and every row and tag was kept', async () => {
  assert.equal(await pg.psql("SELECT relkind FROM pg_class WHERE relname = 'events'"), 'p');
  assert.equal(await pg.psql('SELECT count(*) FROM events'), '3');
  assert.equal(await pg.psql("SELECT count(*) FROM event_tags WHERE tag_name IN ('t', 'p')"), '2');
  assert.equal(await pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'events_nostream_v2'"), '0');
  assert.equal(await pg.psql("SELECT count(*) FROM pg_trigger WHERE tgname = 'insert_event_tags'"), '0');
});

test('old events are served, by id and by tag; deleted ones are not', async () => {
  const c = await connect(relay.url);
  try {
    const byId = await c.query({ ids: [note.id, gone.id, meta.id] });
    assert.deepEqual(byId.map((e) => e.id).sort(), [note.id, meta.id].sort());
    assert.deepEqual(byId.find((e) => e.id === note.id), note, 'served byte-for-byte as signed');
    const byTag = await c.query({ '#t': ['old'] });
    assert.deepEqual(byTag.map((e) => e.id), [note.id]);
    const again = await c.publish(gone);
    assert.equal(again[2], false, 'a deleted event cannot come back');
  } finally {
    await c.close();
  }
});

test('replaceable rules hold across the old and new rows; new events work', async () => {
  const c = await connect(relay.url);
  try {
    const older = makeEvent(key, { kind: 0, content: '{"name":"older"}', created_at: t });
    const newer = makeEvent(key, { kind: 0, content: '{"name":"new"}', created_at: t + 50 });
    assert.notEqual((await c.publish(older))[2], true, 'older than the adopted version');
    assert.equal((await c.publish(newer))[2], true);
    const got = await c.query({ kinds: [0], authors: [key.pk] });
    assert.deepEqual(got.map((e) => e.id), [newer.id]);
  } finally {
    await c.close();
  }
});
