// PostgreSQL stops (immediate mode = a crash) and comes back under load:
// nothing acknowledged is lost, refusals say "error:", the relay recovers alone.
import assert from 'node:assert/strict';
import { useRelay, newKey, makeEvent, sleep, isEventFor } from './harness.mjs';

const ctx = useRelay();

const CONNS = 5;
const IN_FLIGHT_PER_CONN = 3;

ctx.test('publishing through a PostgreSQL crash and restart', { timeout: 120000 }, async (t) => {
  const sub = await ctx.connect();
  const L = newKey();
  await sub.req('live', { authors: [L.pk] });
  const pubs = await Promise.all(Array.from({ length: CONNS }, () => ctx.connect()));

  const results = []; // { ev, conn, m?, err?, at }
  let running = true;
  const loops = [];
  for (let ci = 0; ci < CONNS; ci++) {
    for (let j = 0; j < IN_FLIGHT_PER_CONN; j++) {
      const k = newKey();
      loops.push((async () => {
        let i = 0;
        while (running && pubs[ci].isOpen) {
          const ev = makeEvent(k, { content: `conn ${ci} loop ${j} #${i++}` });
          try {
            const m = await pubs[ci].publish(ev, 30000);
            results.push({ ev, conn: ci, m, at: Date.now() });
          } catch (err) {
            results.push({ ev, conn: ci, err, at: Date.now() });
            return;
          }
        }
      })());
    }
  }

  await sleep(1500);
  const tDown = Date.now();
  await ctx.pg.stopServer('immediate');
  t.diagnostic(`PostgreSQL stopped (immediate) after ${results.length} answers`);
  await sleep(2000);
  await ctx.pg.start();
  const tUp = Date.now();
  t.diagnostic(`PostgreSQL back after ${tUp - tDown} ms`);

  // A new publish succeeds within 10 s of PostgreSQL being back.
  const probeConn = await ctx.connect();
  const probeKey = newKey();
  let recoveredAt = null;
  let lastProbe = null;
  while (Date.now() - tUp < 10000) {
    const probe = makeEvent(probeKey, { content: `probe ${Date.now()}` });
    try {
      lastProbe = await probeConn.publish(probe, Math.max(500, 10000 - (Date.now() - tUp)));
    } catch (e) {
      lastProbe = e.message;
      break;
    }
    if (lastProbe[2] === true) { recoveredAt = Date.now(); break; }
    await sleep(200);
  }
  assert.ok(recoveredAt, `no publish succeeded within 10 s of PostgreSQL restarting; last answer: ${JSON.stringify(lastProbe)}`);
  t.diagnostic(`a new publish succeeded ${recoveredAt - tUp} ms after PostgreSQL was back`);

  await sleep(1500);
  running = false;
  await Promise.all(loops);

  // Every publish got an answer.
  const unanswered = results.filter((r) => r.err);
  assert.equal(unanswered.length, 0, `publishes without an answer: ${unanswered.slice(0, 3).map((r) => r.err.message).join(' / ')}`);
  const okTrue = results.filter((r) => r.m[2] === true);
  const okFalse = results.filter((r) => r.m[2] === false);
  t.diagnostic(`${results.length} answers: ${okTrue.length} OK true, ${okFalse.length} OK false`);
  for (const r of okFalse) {
    assert.match(r.m[3], /^error:/, `a refusal caused by the outage should start with "error:": ${JSON.stringify(r.m)}`);
  }
  for (const r of okTrue) assert.ok(r.m[3] === '' || /^duplicate:/.test(r.m[3]), JSON.stringify(r.m));
  // The existing connections recovered too.
  for (let ci = 0; ci < CONNS; ci++) {
    assert.ok(okTrue.some((r) => r.conn === ci && r.at > recoveredAt),
      `connection ${ci} got no OK true after the relay recovered`);
  }

  // None lost: every acknowledged event is readable.
  const reader = await ctx.connect();
  const missing = [];
  for (let i = 0; i < okTrue.length; i += 200) {
    const chunk = okTrue.slice(i, i + 200).map((r) => r.ev);
    const got = new Set((await reader.reqWith(`chk${i}`, [{ ids: chunk.map((e) => e.id) }], { timeoutMs: 15000 })).events.map((e) => e.id));
    reader.send(['CLOSE', `chk${i}`]);
    for (const e of chunk) if (!got.has(e.id)) missing.push(e);
  }
  assert.equal(missing.length, 0, `${missing.length} of ${okTrue.length} acknowledged events were lost: ${missing.slice(0, 5).map((e) => e.content).join(', ')}`);

  // A live subscription opened before the outage still delivers.
  const ev = makeEvent(L, { content: 'live after the outage' });
  assert.deepEqual(await pubs[0].publish(ev, 10000), ['OK', ev.id, true, '']);
  assert.deepEqual(await sub.next(isEventFor('live', ev.id), 5000, 'live EVENT after the outage'), ['EVENT', 'live', ev]);
});

ctx.test('REQ works again after the outage', async () => {
  const c = await ctx.connect();
  const k = newKey();
  const ev = makeEvent(k, { content: 'after' });
  assert.deepEqual(await c.publish(ev), ['OK', ev.id, true, '']);
  assert.deepEqual(await c.query({ authors: [k.pk] }), [ev]);
});
