// WebSocket side of tests/distributed/e2e.test.sh: publishes events through
// the relay and reads them back, judging what comes back against a model of
// what must be visible. Prints TAP-like lines ("ok - ...", "not ok - ...",
// "# ...") that e2e.test.sh counts; exit 1 on a failed check, 2 on an error.
//
//   node e2e-client.mjs settings                       print settings.yaml for the relay
//   node e2e-client.mjs seed     URL STATE T1 T2 T3 T0  publish the initial events (every range)
//   node e2e-client.mjs verify   URL STATE [--unreachable-below TS]
//                                                      read back: spanning, pruned, tags, replaceable
//   node e2e-client.mjs after    URL STATE             after registration: new events per range,
//                                                      replacements and deletions across partitions
//   node e2e-client.mjs bg-publish URL OUT STOPFILE FROM TO
//                                                      publish until STOPFILE exists (created_at in
//                                                      [FROM, TO)); OUT: ids answered OK true
//   node e2e-client.mjs bg-read  URL OUT STOPFILE TAG EXPECT
//                                                      REQ #t TAG until STOPFILE exists; every answer
//                                                      must hold EXPECT distinct ids, none twice
//   node e2e-client.mjs ids      URL IDSFILE all|none  REQ by ids (file: one hex id per line)
//   node e2e-client.mjs tag      URL TAG EXPECT        REQ #t TAG (limit 5000): EXPECT events
//   node e2e-client.mjs one      URL FILE CREATED_AT true|false
//                                                      publish the event saved in FILE (made and saved
//                                                      first if FILE does not exist): OK must be as given
//
// STATE is a JSON file written by seed and updated by after: the authors'
// secret keys and every event published, with the range it belongs to and
// whether it must be visible.

import fs from 'node:fs';
import { connect, makeEvent, newKey, sleep, TEST_SETTINGS_YAML } from '../integration/harness.mjs';
import { getPublicKey } from 'nostr-tools/pure';

const DAY = 86400;
let failed = 0;
const ok = (what) => console.log(`ok - ${what}`);
const bad = (what) => { failed++; console.log(`not ok - ${what}`); };
const note = (what) => console.log(`# ${what}`);
const check = (cond, what, detail = '') => (cond ? ok(what) : bad(detail ? `${what}: ${detail}` : what));

function keyFromHex(hex) {
  const sk = Uint8Array.from(Buffer.from(hex, 'hex'));
  return { sk, pk: getPublicKey(sk) };
}
const loadState = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
const saveState = (f, s) => { fs.writeFileSync(`${f}.tmp`, JSON.stringify(s, null, 1)); fs.renameSync(`${f}.tmp`, f); };

function setDiff(want, got) {
  const g = new Set(got), w = new Set(want);
  return { missing: [...w].filter((x) => !g.has(x)), extra: [...g].filter((x) => !w.has(x)) };
}
function sameSet(what, want, got) {
  const dup = got.length - new Set(got).size;
  const { missing, extra } = setDiff(want, got);
  if (!missing.length && !extra.length && !dup) ok(`${what} (${want.length} events)`);
  else bad(`${what}: want ${want.length}, got ${got.length}; missing ${missing.length} [${missing.slice(0, 3).join(',')}] ` +
    `extra ${extra.length} [${extra.slice(0, 3).join(',')}] duplicates ${dup}`);
}

// Publish one event, record it in the state. expect: 'stored' | 'stale'.
async function pub(c, st, key, spec, { range, expect = 'stored', label = '' }) {
  const ev = makeEvent(key, spec);
  const m = await c.publish(ev, 30000);
  const rec = { id: ev.id, pubkey: ev.pubkey, created_at: ev.created_at, kind: ev.kind, tags: ev.tags,
    range, label, visible: expect === 'stored', ok: m[2], msg: m[3], raw: ev };
  st.events.push(rec);
  if (expect === 'stored') check(m[2] === true && m[3] === '', `publish ${label || ev.kind} (${range}) stored`, JSON.stringify(m));
  else check(/^duplicate: a newer version/.test(m[3]), `publish ${label} (${range}) refused as stale`, JSON.stringify(m));
  return rec;
}
const hide = (st, rec) => { rec.visible = false; };

// ------------------------------------------------------------------ seed
async function seed(url, stateFile, T1, T2, T3, T0) {
  const st = { T1, T2, T3, T0, keys: {}, events: [] };
  const names = ['a', 'b', 'c', 'r'];
  const keys = {};
  for (const n of names) { keys[n] = newKey(); st.keys[n] = Buffer.from(keys[n].sk).toString('hex'); }
  st.pubkeys = Object.fromEntries(names.map((n) => [n, keys[n].pk]));
  const c = await connect(url);
  try {
    // Regular notes in every range; #p points at b (or a), #t names the range.
    const windows = {
      hist: (i) => T1 - 3 * DAY - i * 7919,                 // node1: [0, T1)
      midarch: (i) => T1 + 5000 + i * 9001,                 // events_hot, archived later (< T1 + 100000)
      mid: (i) => T1 + 200000 + i * 86400,                  // events_hot [T1, T2)
      recent: (i) => T2 + 600 + i * 3600,                   // events_hot [T2, T3)
      future: (i) => T3 + 10 + i * 17,                      // node2 [T3, MAXVALUE)
    };
    for (const [range, at] of Object.entries(windows)) {
      let i = 0;
      for (const n of ['a', 'b', 'c']) {
        const k = range === 'midarch' || range === 'future' ? 1 : 3;
        for (let j = 0; j < k; j++, i++) {
          const p = n === 'b' ? st.pubkeys.a : st.pubkeys.b;
          await pub(c, st, keys[n], { kind: 1, content: `${range} note ${i} by ${n}`, created_at: at(i),
            tags: [['t', `e2e-${range}`], ['p', p], ['t', 'e2e-all']] }, { range, label: `${range}#${i}` });
        }
      }
    }
    // NIP-09: a deletes one of its historical notes (deletion dated recent).
    const target = st.events.find((e) => e.range === 'hist' && e.pubkey === st.pubkeys.a);
    await pub(c, st, keys.a, { kind: 5, content: 'gone', created_at: T2 + 100, tags: [['e', target.id]] },
      { range: 'recent', label: 'deletion of hist#0' });
    hide(st, target);
    target.deleted = true;

    // Replaceable kind 0 of r: v1 (hist), then v2 (mid) replaces it, then an
    // older v0 (hist) is stale.
    const k0v1 = await pub(c, st, keys.r, { kind: 0, content: '{"name":"v1"}', created_at: T1 - 5 * DAY }, { range: 'hist', label: 'kind0 v1' });
    await pub(c, st, keys.r, { kind: 0, content: '{"name":"v2"}', created_at: T1 + 300000 }, { range: 'mid', label: 'kind0 v2' });
    hide(st, k0v1);
    await pub(c, st, keys.r, { kind: 0, content: '{"name":"v0"}', created_at: T1 - 6 * DAY }, { range: 'hist', label: 'kind0 v0', expect: 'stale' });
    // Addressable 30023: d=post-a lives in hist (node1 after registration);
    // d=post-b in mid (events_hot); d=post-c in the future range (node2).
    await pub(c, st, keys.r, { kind: 30023, content: 'post a v1', created_at: T1 - 2 * DAY, tags: [['d', 'post-a'], ['t', 'e2e-long']] }, { range: 'hist', label: 'post-a v1' });
    const pb0 = await pub(c, st, keys.r, { kind: 30023, content: 'post b v0', created_at: T1 + 250000, tags: [['d', 'post-b']] }, { range: 'mid', label: 'post-b v0' });
    // a newer post-b replaces it (same partition)
    await pub(c, st, keys.r, { kind: 30023, content: 'post b v1', created_at: T1 + 260000, tags: [['d', 'post-b']] }, { range: 'mid', label: 'post-b v1' });
    hide(st, pb0);
    await pub(c, st, keys.r, { kind: 30023, content: 'post c v1', created_at: T3 + 50, tags: [['d', 'post-c'], ['t', 'e2e-long']] }, { range: 'future', label: 'post-c v1' });
  } finally {
    await c.close();
  }
  saveState(stateFile, st);
  note(`seeded ${st.events.length} events, ${st.events.filter((e) => e.visible).length} visible`);
}

// ------------------------------------------------ after registration
async function after(url, stateFile) {
  const st = loadState(stateFile);
  const { T1, T2, T3, T0 } = st;
  const keys = Object.fromEntries(Object.entries(st.keys).map(([n, h]) => [n, keyFromHex(h)]));
  const byLabel = (l) => st.events.find((e) => e.label === l);
  const c = await connect(url);
  try {
    // One new note per partition: placement is checked with psql.
    st.placed = {};
    for (const [part, at] of [['node1', T1 - DAY - 11], ['hot', T2 - 3600 - 7], ['node2', T3 + 250]]) {
      const r = await pub(c, st, keys.c, { kind: 1, content: `placed on ${part}`, created_at: at, tags: [['t', 'e2e-placed'], ['t', 'e2e-all']] },
        { range: part === 'node1' ? 'hist' : part === 'hot' ? 'mid' : 'future', label: `placed-${part}` });
      st.placed[part] = r.id;
    }
    // kind 0: v3 in the future range (node2) replaces v2 (events_hot).
    await pub(c, st, keys.r, { kind: 0, content: '{"name":"v3"}', created_at: T3 + 100 }, { range: 'future', label: 'kind0 v3' });
    hide(st, byLabel('kind0 v2'));
    // ... and an older one (events_hot range) is stale.
    await pub(c, st, keys.r, { kind: 0, content: '{"name":"v2b"}', created_at: T1 + 400000 }, { range: 'mid', label: 'kind0 v2b', expect: 'stale' });
    // post-a: v2 (events_hot) replaces v1, which is on node1.
    await pub(c, st, keys.r, { kind: 30023, content: 'post a v2', created_at: T0 - 500, tags: [['d', 'post-a'], ['t', 'e2e-long']] }, { range: 'recent', label: 'post-a v2' });
    hide(st, byLabel('post-a v1'));
    // post-b: an older version dated on node1 is stale (post-b v1 on events_hot stays).
    await pub(c, st, keys.r, { kind: 30023, content: 'post b old', created_at: T1 - DAY, tags: [['d', 'post-b']] }, { range: 'hist', label: 'post-b old', expect: 'stale' });
    // post-c: v2 on node2 replaces v1 on node2; then v3 dated on events_hot is stale.
    await pub(c, st, keys.r, { kind: 30023, content: 'post c v2', created_at: T3 + 200, tags: [['d', 'post-c'], ['t', 'e2e-long']] }, { range: 'future', label: 'post-c v2' });
    hide(st, byLabel('post-c v1'));
    await pub(c, st, keys.r, { kind: 30023, content: 'post c old', created_at: T2 + 10, tags: [['d', 'post-c']] }, { range: 'recent', label: 'post-c old', expect: 'stale' });
    // NIP-09 across partitions: b deletes its note on node2 and c one on node1.
    const tb = st.events.find((e) => e.range === 'future' && e.pubkey === st.pubkeys.b && e.kind === 1);
    const tc = st.events.find((e) => e.range === 'hist' && e.pubkey === st.pubkeys.c && e.kind === 1 && e.visible);
    await pub(c, st, keys.b, { kind: 5, content: '', created_at: T0 - 50, tags: [['e', tb.id]] }, { range: 'recent', label: 'deletion on node2' });
    await pub(c, st, keys.c, { kind: 5, content: '', created_at: T0 - 40, tags: [['e', tc.id]] }, { range: 'recent', label: 'deletion on node1' });
    hide(st, tb); tb.deleted = true;
    hide(st, tc); tc.deleted = true;
    st.deletedAfter = { node2: tb.id, node1: tc.id };
    // Publishing again: an event stored on node1 is a duplicate, one deleted
    // there (before registration) is blocked.
    const dupe = st.events.find((e) => e.range === 'hist' && e.visible && e.kind === 1);
    let m = await c.publish(dupe.raw, 30000);
    check(m[2] === true && /^duplicate:/.test(m[3]), 'an event stored on node1, published again: duplicate', JSON.stringify(m));
    const del = st.events.find((e) => e.deleted && e.range === 'hist' && e.pubkey === st.pubkeys.a);
    m = await c.publish(del.raw, 30000);
    check(m[2] === false && /^blocked:/.test(m[3]), 'an event deleted on node1, published again: blocked', JSON.stringify(m));
    st.replaced = { 'kind0 v2 (hot)': byLabel('kind0 v2').id, 'post-a v1 (node1)': byLabel('post-a v1').id, 'post-c v1 (node2)': byLabel('post-c v1').id };
  } finally {
    await c.close();
  }
  saveState(stateFile, st);
}

// ------------------------------------------------------------- verify
async function verify(url, stateFile, unreachableBelow) {
  const st = loadState(stateFile);
  const { T1, T2, T3, T0 } = st;
  const authors = Object.values(st.pubkeys);
  const reach = (e) => unreachableBelow === undefined || e.created_at >= unreachableBelow;
  const visible = st.events.filter((e) => e.visible && reach(e));
  const c = await connect(url);
  c.defaultTimeoutMs = 30000;
  try {
    const q = async (f) => (await c.query(f)).map((e) => e.id);
    sameSet('spanning filter (authors, no time bounds): exactly the visible events', visible.map((e) => e.id),
      await q({ authors, limit: 5000 }));
    const windows = [
      ['node1 range [0, T1)', 0, T1 - 1],
      ['events_hot range [T1, T3)', T1, T3 - 1],
      ['node2 range [T3, MAX)', T3, 2147483647],
      ['inside node1 (hist window)', T1 - 10 * DAY, T1 - 1],
      ['inside events_hot (mid window)', T1 + 150000, T2 - 1],
      ['inside events_hot (recent window)', T2, T0],
      ['inside node2 (future window)', T3, T3 + 1000],
    ];
    for (const [what, since, until] of windows) {
      const want = visible.filter((e) => e.created_at >= since && e.created_at <= until).map((e) => e.id);
      sameSet(`pruned filter ${what}`, want, await q({ authors, since, until, limit: 5000 }));
    }
    for (const t of ['e2e-hist', 'e2e-midarch', 'e2e-mid', 'e2e-future', 'e2e-long', 'e2e-all']) {
      const want = visible.filter((e) => e.tags.some((x) => x[0] === 't' && x[1] === t)).map((e) => e.id);
      sameSet(`#t ${t}`, want, await q({ '#t': [t], limit: 5000 }));
    }
    for (const n of ['a', 'b']) {
      const pk = st.pubkeys[n];
      const want = visible.filter((e) => e.tags.some((x) => x[0] === 'p' && x[1] === pk)).map((e) => e.id);
      sameSet(`#p ${n} (events on every partition)`, want, await q({ '#p': [pk], limit: 5000 }));
    }
    // Replaceable / addressable: the one current version, wherever it lives.
    const r = st.pubkeys.r;
    const cur0 = visible.filter((e) => e.kind === 0);
    const got0 = await c.query({ authors: [r], kinds: [0] });
    check(got0.length === cur0.length && got0.every((e, i) => e.id === cur0[i].id),
      `kind 0: only the newest version (${cur0.map((e) => e.label).join(',') || 'none reachable'})`,
      `got ${got0.map((e) => e.content).join(',')}`);
    for (const d of ['post-a', 'post-b', 'post-c']) {
      const want = visible.filter((e) => e.kind === 30023 && e.tags.some((x) => x[0] === 'd' && x[1] === d));
      const got = await c.query({ authors: [r], kinds: [30023], '#d': [d] });
      check(got.length === want.length && got.every((e, i) => e.id === want[i].id),
        `30023 ${d}: only the newest version (${want.map((e) => e.label).join(',') || 'none reachable'})`,
        `got ${got.map((e) => e.content).join(',')}`);
    }
    // Hidden events are not served, asked for by id.
    const hidden = st.events.filter((e) => !e.visible && e.ok === true && !/^duplicate/.test(e.msg)).map((e) => e.id);
    const gotHidden = await q({ ids: hidden });
    check(gotHidden.length === 0, `deleted and replaced events not served by id (${hidden.length} asked)`, `got ${gotHidden.length}`);
    if (unreachableBelow !== undefined) {
      const gone = st.events.filter((e) => e.visible && !reach(e)).map((e) => e.id);
      const got = await q({ ids: gone });
      check(gone.length > 0 && got.length === 0, `events of the removed node's range not served (${gone.length} asked)`, `got ${got.length}`);
    }
  } finally {
    await c.close();
  }
}

// --------------------------------------------------------- background
async function bgPublish(url, out, stop, from, to) {
  const c = await connect(url);
  c.defaultTimeoutMs = 60000;
  const key = newKey();
  const okIds = [];
  let refused = 0, n = 0, maxMs = 0;
  const fd = fs.openSync(out, 'w');
  try {
    while (!fs.existsSync(stop) && n < 20000) {
      const batch = [];
      for (let i = 0; i < 10; i++, n++) {
        batch.push(makeEvent(key, { kind: 1, content: `bg ${n}`, created_at: from + ((n * 7919) % (to - from)),
          tags: [['t', 'e2e-bg']] }));
      }
      const t0 = Date.now();
      const answers = await Promise.all(batch.map((e) => c.publish(e, 120000)));
      maxMs = Math.max(maxMs, Date.now() - t0);
      for (const m of answers) {
        if (m[2] === true) { okIds.push(m[1]); fs.writeSync(fd, `${m[1]}\n`); } else refused++;
      }
      await sleep(20);
    }
  } finally {
    fs.closeSync(fd);
    await c.close();
  }
  note(`bg-publish: ${okIds.length} OK true, ${refused} refused, slowest batch of 10 ${maxMs} ms`);
  check(refused === 0, 'background publisher: every event answered OK true', `${refused} refused`);
  check(okIds.length > 0, 'background publisher published during the archive');
}

async function bgRead(url, out, stop, tag, expect) {
  const c = await connect(url);
  c.defaultTimeoutMs = 120000;
  let rounds = 0, badRounds = 0, maxMs = 0;
  const seen = [];
  try {
    while (!fs.existsSync(stop)) {
      const t0 = Date.now();
      const evs = await c.query({ '#t': [tag], limit: 5000 });
      maxMs = Math.max(maxMs, Date.now() - t0);
      const ids = evs.map((e) => e.id);
      const distinct = new Set(ids).size;
      rounds++;
      if (distinct !== expect || ids.length !== expect) {
        badRounds++;
        if (seen.length < 5) seen.push(`${ids.length} events, ${distinct} distinct`);
      }
      await sleep(50);
    }
  } finally {
    await c.close();
  }
  fs.writeFileSync(out, JSON.stringify({ rounds, badRounds, maxMs, seen }));
  note(`bg-read #t ${tag}: ${rounds} REQs during the archive, slowest ${maxMs} ms`);
  check(rounds > 0 && badRounds === 0, `concurrent REQ #t ${tag} during the archive: always ${expect} events, none twice (${rounds} REQs)`,
    `${badRounds} bad answers: ${seen.join('; ')}`);
}

async function idsCmd(url, file, mode) {
  const ids = fs.readFileSync(file, 'utf8').split('\n').filter((x) => /^[0-9a-f]{64}$/.test(x));
  const c = await connect(url);
  c.defaultTimeoutMs = 30000;
  let found = 0;
  try {
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const got = await c.query({ ids: chunk, limit: 5000 });
      const want = new Set(chunk);
      found += new Set(got.map((e) => e.id).filter((x) => want.has(x))).size;
    }
  } finally {
    await c.close();
  }
  if (mode === 'all') check(ids.length > 0 && found === ids.length, `REQ by ids: all ${ids.length} served`, `${found} found`);
  else check(ids.length > 0 && found === 0, `REQ by ids: none of ${ids.length} served`, `${found} found`);
}

async function tagCmd(url, tag, expect) {
  const c = await connect(url);
  c.defaultTimeoutMs = 30000;
  try {
    const got = await c.query({ '#t': [tag], limit: 5000 });
    const n = new Set(got.map((e) => e.id)).size;
    check(n === expect && got.length === expect, `REQ #t ${tag}: ${expect} events`, `got ${got.length} (${n} distinct)`);
  } finally {
    await c.close();
  }
}

async function oneCmd(url, file, createdAt, want) {
  let ev;
  if (fs.existsSync(file)) ev = JSON.parse(fs.readFileSync(file, 'utf8'));
  else {
    ev = makeEvent(newKey(), { kind: 1, content: 'in a range without partition', created_at: createdAt, tags: [['t', 'e2e-gap']] });
    fs.writeFileSync(file, JSON.stringify(ev));
  }
  const c = await connect(url);
  try {
    const m = await c.publish(ev, 30000);
    check(m[2] === want, `publish an event dated ${ev.created_at}: OK ${want}`, JSON.stringify(m));
    if (want === false) check(/^error:/.test(m[3]), 'the refusal is an error: message', JSON.stringify(m));
  } finally {
    await c.close();
  }
}

// ---------------------------------------------------------------- main
const [cmd, ...a] = process.argv.slice(2);
const num = (x) => { const v = Number(x); if (!Number.isInteger(v)) throw new Error(`not an integer: ${x}`); return v; };
try {
  switch (cmd) {
    case 'settings': process.stdout.write(TEST_SETTINGS_YAML); break;
    case 'seed': await seed(a[0], a[1], num(a[2]), num(a[3]), num(a[4]), num(a[5])); break;
    case 'after': await after(a[0], a[1]); break;
    case 'verify': {
      const i = a.indexOf('--unreachable-below');
      await verify(a[0], a[1], i >= 0 ? num(a[i + 1]) : undefined);
      break;
    }
    case 'bg-publish': await bgPublish(a[0], a[1], a[2], num(a[3]), num(a[4])); break;
    case 'bg-read': await bgRead(a[0], a[1], a[2], a[3], num(a[4])); break;
    case 'ids': await idsCmd(a[0], a[1], a[2]); break;
    case 'tag': await tagCmd(a[0], a[1], num(a[2])); break;
    case 'one': await oneCmd(a[0], a[1], num(a[2]), a[3] === 'true'); break;
    default: console.error(`usage: see the header of ${process.argv[1]}`); process.exit(2);
  }
} catch (e) {
  bad(`${cmd}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
  process.exit(2);
}
process.exit(failed ? 1 : 0);
