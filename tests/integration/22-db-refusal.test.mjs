// Storage layer: an event the database refuses gets OK false "error:" and
// nothing else is harmed: the events batched with it are stored, and the
// writer's connection keeps working (a failed statement inside the batch's
// transaction must not leave the session in an aborted transaction).
import assert from 'node:assert/strict';
import { useRelay, newKey, makeEvent } from './harness.mjs';

const ctx = useRelay();

ctx.test('a refused event does not block the ones with it or after it', async () => {
  await ctx.pg.psql(`
    CREATE FUNCTION refuse_boom() RETURNS trigger AS $$
    BEGIN
      IF NEW.event_content = 'boom' THEN RAISE EXCEPTION 'refused for the test'; END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;
    CREATE TRIGGER refuse_boom BEFORE INSERT ON events_hot FOR EACH ROW EXECUTE FUNCTION refuse_boom();`);
  const c = await ctx.connect();
  const k = newKey();
  assert.equal((await c.publish(makeEvent(k, { content: 'before' })))[2], true);
  const boom = await c.publish(makeEvent(k, { content: 'boom' }));
  assert.equal(boom[2], false);
  assert.match(boom[3], /^error: /);
  assert.equal((await c.publish(makeEvent(k, { content: 'after' })))[2], true, 'the next event is stored');
  // In one batch: 20 good events around a bad one.
  const evs = [];
  for (let i = 0; i < 21; i++) evs.push(makeEvent(k, { content: i === 10 ? 'boom' : `batch ${i}` }));
  const oks = await Promise.all(evs.map((e) => c.publish(e)));
  oks.forEach((ok, i) => assert.equal(ok[2], i !== 10, `event ${i}: ${ok[3]}`));
  const stored = await c.query({ authors: [k.pk], limit: 100 });
  assert.equal(stored.length, 22);
});
