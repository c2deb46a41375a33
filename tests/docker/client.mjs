// WebSocket client of tests/docker/compose.test.sh (run inside the relay
// container's network namespace, so the URL is the relay's own loopback).
//
//   node tests/docker/client.mjs URL OLD_CREATED_AT
//
// Publishes two signed kind-1 events: one with created_at OLD_CREATED_AT
// (inside the storage node's range) and one with the current time (stays in
// events_hot); requires OK true for both, then reads them back with REQs
// and requires the exact events. Prints one JSON line on stdout:
//   {"ok":true,"old":"<id>","new":"<id>","pubkey":"<hex>"}
// or {"ok":false,"error":"..."} (exit status 1). Every wait has a timeout.
import WebSocket from 'ws';
import crypto from 'node:crypto';
import { generateSecretKey, getPublicKey, finalizeEvent } from 'nostr-tools/pure';

const [url, oldArg] = process.argv.slice(2);
const TIMEOUT_MS = 20000;

function fail(msg) {
  process.stdout.write(JSON.stringify({ ok: false, error: msg }) + '\n');
  process.exit(1);
}
if (!url || !/^\d+$/.test(oldArg || '')) fail('usage: client.mjs URL OLD_CREATED_AT');

const timer = setTimeout(() => fail(`timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS);

// One connection; messages queued until a waiter takes them.
function connect(u) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(u);
    const queue = [];
    let waiter = null;
    ws.on('message', (data) => {
      let msg;
      try { msg = JSON.parse(data.toString()); } catch { msg = ['BAD', data.toString()]; }
      queue.push(msg);
      if (waiter) { const w = waiter; waiter = null; w(); }
    });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws,
      send: (m) => ws.send(JSON.stringify(m)),
      async next() {
        while (queue.length === 0) await new Promise((r) => { waiter = r; });
        return queue.shift();
      },
    }));
  });
}

async function publish(c, ev) {
  c.send(['EVENT', ev]);
  for (;;) {
    const m = await c.next();
    if (m[0] === 'OK' && m[1] === ev.id) {
      if (m[2] !== true) fail(`event ${ev.id} refused: ${m[3]}`);
      return;
    }
    if (m[0] === 'NOTICE') fail(`NOTICE while publishing: ${m[1]}`);
  }
}

async function req(c, subId, filter) {
  c.send(['REQ', subId, filter]);
  const got = [];
  for (;;) {
    const m = await c.next();
    if (m[1] !== subId) continue;
    if (m[0] === 'EVENT') got.push(m[2]);
    else if (m[0] === 'EOSE') { c.send(['CLOSE', subId]); return got; }
    else if (m[0] === 'CLOSED') fail(`REQ ${subId} closed: ${m[2]}`);
  }
}

const same = (a, b) => ['id', 'pubkey', 'created_at', 'kind', 'content', 'sig']
  .every((k) => a[k] === b[k]) && JSON.stringify(a.tags) === JSON.stringify(b.tags);

try {
  const sk = generateSecretKey();
  const pubkey = getPublicKey(sk);
  const tag = crypto.randomBytes(8).toString('hex');
  const now = Math.floor(Date.now() / 1000);
  const oldEv = finalizeEvent({
    kind: 1, created_at: Number(oldArg), tags: [['t', tag]],
    content: `compose.test.sh: archived event ${tag}`,
  }, sk);
  const newEv = finalizeEvent({
    kind: 1, created_at: now, tags: [['t', tag]],
    content: `compose.test.sh: recent event ${tag}`,
  }, sk);

  const c = await connect(url);
  await publish(c, oldEv);
  await publish(c, newEv);

  // Both by id (a query over every partition), newest first.
  const byId = await req(c, 'ids', { ids: [oldEv.id, newEv.id] });
  if (byId.length !== 2 || !same(byId[0], newEv) || !same(byId[1], oldEv)) {
    fail(`REQ by ids returned ${JSON.stringify(byId)}`);
  }
  // The old one alone, by author and time (only the node's range matches).
  const old = await req(c, 'old', { authors: [pubkey], until: Number(oldArg) });
  if (old.length !== 1 || !same(old[0], oldEv)) fail(`REQ until returned ${JSON.stringify(old)}`);
  // By tag: event_tags stays local, the row comes from the node.
  const byTag = await req(c, 'tag', { '#t': [tag] });
  if (byTag.length !== 2) fail(`REQ #t returned ${byTag.length} events`);

  c.ws.close();
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ ok: true, old: oldEv.id, new: newEv.id, pubkey }) + '\n');
} catch (e) {
  fail(String(e && e.stack || e));
}
