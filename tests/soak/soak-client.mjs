// WebSocket side of tests/soak/soak.sh: mixed load against the relay while
// soak.sh kills PostgreSQL servers, then the read-back of everything that
// was acknowledged, then the report. See README.md.
//
//   node soak-client.mjs settings                 print settings.yaml for the relay
//   node soak-client.mjs run URL OUT [options]    the load; writes into directory OUT:
//        ok-ids.txt     every id answered OK true (also late answers), one a line
//        events.jsonl   every EVENT sent: id, kind, created_at, range, outcome, OK message, latency
//        reqs.jsonl     every REQ: filter, outcome (eose/closed/timeout/disconnected), latency, NOTICE
//        live.jsonl     CLOSED/reconnects of the live subscriptions
//        state.json     the model the verification needs, and the run's figures
//      options: --seconds N (120)  --node-from TS --node-to TS (the storage node's
//        range [FROM, TO); back-dated events go there)  --publishers N (4)
//        --rate EV/S per publisher (6)  --batch N (20 events at once every 2 s; 0: none)
//        --readers N (3)  --live N (2)  --req-bound S (15)  --ok-bound S (30)
//        --stop FILE (end early once FILE exists)
//   node soak-client.mjs verify URL OUT [--grace S (60)]
//        every OK-true id readable by REQ {ids} (batches of 500) except those the
//        run deleted (kind 5) or replaced; OK-true deletions and replaced versions
//        not served. Polls until that holds or S seconds pass. Writes OUT/verify.json.
//   node soak-client.mjs report OUT               summary table + one JSON line from
//        OUT/state.json, verify.json, actions.jsonl, rss.csv, relay.json; exit 1 if
//        a check failed.
//
// Every wait has a bound: a REQ not answered (EOSE or CLOSED) within
// --req-bound seconds is a "timeout" (a hung REQ), an EVENT without OK
// within --ok-bound seconds is "unanswered". Late answers are recorded too.

import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { makeEvent, newKey, sleep, TEST_SETTINGS_YAML } from '../integration/harness.mjs';

const DAY = 86400;
const nowS = () => Math.floor(Date.now() / 1000);
const rnd = (n) => Math.floor(Math.random() * n);
const pick = (a) => a[rnd(a.length)];

function opts(argv, defaults) {
  const o = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (!(k in defaults)) throw new Error(`unknown option ${a}`);
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    o[k] = typeof defaults[k] === 'number' ? Number(v) : v;
    if (typeof defaults[k] === 'number' && !Number.isFinite(o[k])) throw new Error(`${a}: not a number: ${v}`);
  }
  return o;
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : null; };

// A reason with ids and numbers blanked, so that equal causes count together.
const normReason = (s) => String(s ?? '').replace(/[0-9a-f]{16,}/g, '<hex>').replace(/\d+/g, 'N').slice(0, 160);

// ----------------------------------------------------------- connection
// One WebSocket that reconnects; OKs and REQ answers are matched to what
// is pending on it, whatever else arrives is handed to callbacks.
class Conn {
  constructor(url, name) {
    this.url = url;
    this.name = name;
    this.ws = null;
    this.pendingOk = new Map();   // event id -> { done }
    this.pendingReq = new Map();  // sub id -> { done, n, ids?, notice }
    this.opens = 0;
    this.drops = 0;
    this.connectFailures = 0;
    this.notices = [];
    this.onLateOk = null;
    this.onSubEvent = null;
    this.onSubEnd = null;
    this.onOpen = null;
  }

  get isOpen() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  // Connected (again) before deadlineMs? Concurrent callers share one attempt.
  ensure(deadlineMs) {
    if (this.isOpen) return Promise.resolve(true);
    if (!this.opening) {
      this.opening = (async () => {
        while (!this.isOpen) {
          if (Date.now() > deadlineMs) return false;
          try {
            await this._open();
          } catch (e) {
            this.connectFailures++;
            this.lastError = e.message;
            await sleep(500);
          }
        }
        return true;
      })().finally(() => { this.opening = null; });
    }
    return this.opening;
  }

  _open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: 5000, maxPayload: 64 * 1024 * 1024 });
      let opened = false;
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('connect: timed out')); }, 6000);
      ws.on('error', (e) => { if (!opened) { clearTimeout(timer); reject(e); } });
      ws.once('open', () => {
        opened = true;
        clearTimeout(timer);
        this.ws = ws;
        this.opens++;
        resolve();
        if (this.onOpen) this.onOpen();
      });
      ws.on('close', (code, reason) => {
        clearTimeout(timer);
        if (!opened) { reject(new Error(`closed before open (${code})`)); return; }
        if (this.ws === ws) this.ws = null;
        this.drops++;
        this.lastClose = `${code} ${reason.toString()}`;
        const oks = [...this.pendingOk.values()];
        const reqs = [...this.pendingReq.values()];
        this.pendingOk.clear();
        this.pendingReq.clear();
        for (const p of oks) p.done(null, 'disconnected');
        for (const r of reqs) r.done(null, 'disconnected');
      });
      ws.on('message', (d) => this._message(d));
    });
  }

  _message(d) {
    let m;
    try { m = JSON.parse(d.toString('utf8')); } catch { return; }
    if (!Array.isArray(m)) return;
    switch (m[0]) {
      case 'OK': {
        const p = this.pendingOk.get(m[1]);
        if (p) { this.pendingOk.delete(m[1]); p.done(m, 'answered'); } else if (this.onLateOk) this.onLateOk(m);
        break;
      }
      case 'EVENT': {
        const r = this.pendingReq.get(m[1]);
        if (r) { r.n++; if (r.ids && m[2]) r.ids.push(m[2]); } else if (this.onSubEvent) this.onSubEvent(m[1], m[2]);
        break;
      }
      case 'EOSE':
      case 'CLOSED': {
        const r = this.pendingReq.get(m[1]);
        if (r) { this.pendingReq.delete(m[1]); r.done(m, 'answered'); } else if (this.onSubEnd) this.onSubEnd(m);
        break;
      }
      case 'NOTICE': {
        this.notices.push(String(m[1]));
        if (this.notices.length > 50) this.notices.shift();
        for (const r of this.pendingReq.values()) if (r.notice === null) r.notice = String(m[1]);
        break;
      }
      default: break;
    }
  }

  send(a) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(a));
    return true;
  }

  // -> { m: ["OK",...] | null, outcome: 'answered'|'timeout'|'disconnected'|'notsent', ms }
  publish(ev, boundMs) {
    const t0 = Date.now();
    if (!this.send(['EVENT', ev])) return Promise.resolve({ m: null, outcome: 'notsent', ms: 0 });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingOk.delete(ev.id);
        resolve({ m: null, outcome: 'timeout', ms: Date.now() - t0 });
      }, boundMs);
      this.pendingOk.set(ev.id, { done: (m, outcome) => { clearTimeout(timer); resolve({ m, outcome, ms: Date.now() - t0 }); } });
    });
  }

  // -> { outcome: 'eose'|'closed'|'timeout'|'disconnected'|'notsent', ms, n, reason, notice, events? }
  // The subscription is CLOSEd after EOSE or the timeout unless keep.
  req(subId, filters, boundMs, { collect = false, keep = false, onLate = null } = {}) {
    const t0 = Date.now();
    if (!this.send(['REQ', subId, ...filters])) return Promise.resolve({ outcome: 'notsent', ms: 0, n: 0, reason: null, notice: null });
    return new Promise((resolve) => {
      const r = { n: 0, ids: collect ? [] : null, notice: null };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        resolve({ outcome: 'timeout', ms: Date.now() - t0, n: r.n, reason: null, notice: r.notice, events: r.ids });
        // still pending: a late answer is reported through onLate
        this.send(['CLOSE', subId]);
      }, boundMs);
      r.done = (m, how) => {
        if (timedOut) {
          if (onLate) onLate({ outcome: m ? (m[0] === 'EOSE' ? 'eose' : 'closed') : how, ms: Date.now() - t0 });
          return;
        }
        clearTimeout(timer);
        if (!m) { resolve({ outcome: how, ms: Date.now() - t0, n: r.n, reason: null, notice: r.notice, events: r.ids }); return; }
        const outcome = m[0] === 'EOSE' ? 'eose' : 'closed';
        if (outcome === 'eose' && !keep) this.send(['CLOSE', subId]);
        resolve({ outcome, ms: Date.now() - t0, n: r.n, reason: m[0] === 'CLOSED' ? String(m[2] ?? '') : null, notice: r.notice, events: r.ids });
      };
      this.pendingReq.set(subId, r);
    });
  }

  close() {
    if (this.ws) { try { this.ws.close(1000); } catch { /* gone */ } }
    const ws = this.ws;
    this.ws = null;
    setTimeout(() => { try { ws && ws.terminate(); } catch { /* gone */ } }, 1000).unref();
  }
}

// ------------------------------------------------------------------ run
async function run(url, out, o) {
  fs.mkdirSync(out, { recursive: true });
  const T_START = Date.now();
  const END = T_START + o.seconds * 1000;
  const stopped = () => Date.now() >= END || (o.stop && fs.existsSync(o.stop));
  const nodeLo = Math.max(o['node-from'], o['node-to'] - 20 * DAY);
  const nodeHi = o['node-to'] - 1;
  if (!(nodeHi > nodeLo)) throw new Error('--node-from/--node-to: empty range');
  const inNode = (ca) => ca >= o['node-from'] && ca < o['node-to'];
  const REQ_BOUND = o['req-bound'] * 1000;
  const OK_BOUND = o['ok-bound'] * 1000;

  const okFd = fs.openSync(path.join(out, 'ok-ids.txt'), 'w');
  const evFd = fs.openSync(path.join(out, 'events.jsonl'), 'w');
  const reqFd = fs.openSync(path.join(out, 'reqs.jsonl'), 'w');
  const liveFd = fs.openSync(path.join(out, 'live.jsonl'), 'w');
  const jl = (fd, x) => fs.writeSync(fd, `${JSON.stringify(x)}\n`);

  const recs = new Map();          // id -> record of what was sent and answered
  const seq = [];                  // records in send order
  const deletionTargets = new Map(); // target id -> [deletion ids]
  const recentOk = [];             // recent OK-true kind-1 ids (readers' {ids} filter)
  const liveSeen = new Set();      // ids seen by the live subscriptions
  const pubkeys = [];
  const counters = { sent: 0, okTrue: 0, okFalse: 0, timeout: 0, disconnected: 0, notsent: 0, late: 0, reqs: 0, reqTimeouts: 0 };

  const lateOk = (m) => {
    const rec = recs.get(m[1]);
    if (!rec || rec.outcome === 'answered') return;
    counters.late++;
    rec.late = { ok: m[2] === true, msg: String(m[3] ?? ''), ms: Date.now() - rec.sentAt };
    jl(evFd, { late: true, id: rec.id, ok: rec.late.ok, msg: rec.late.msg, ms: rec.late.ms, was: rec.outcome });
    if (rec.late.ok) { rec.ok = true; fs.writeSync(okFd, `${rec.id}\n`); }
  };

  // Publish one event, record everything about it.
  async function send(conn, ev, meta) {
    const rec = { id: ev.id, pk: ev.pubkey, kind: ev.kind, ca: ev.created_at, range: inNode(ev.created_at) ? 'node' : 'hot',
      key: meta.key || null, d: meta.d ?? null, del: meta.del || null, live: ev.tags.some((t) => t[0] === 't' && t[1] === 'soak-live'),
      sentAt: Date.now(), ok: null, msg: null, outcome: null, ms: null, late: null, who: meta.who };
    recs.set(ev.id, rec);
    seq.push(rec);
    counters.sent++;
    if (rec.del) for (const t of rec.del) { if (!deletionTargets.has(t)) deletionTargets.set(t, []); deletionTargets.get(t).push(ev.id); }
    if (!conn.isOpen) await conn.ensure(Date.now() + 10000);
    const r = await conn.publish(ev, OK_BOUND);
    rec.outcome = r.outcome;
    rec.ms = r.ms;
    if (r.m) {
      rec.ok = r.m[2] === true;
      rec.msg = String(r.m[3] ?? '');
      if (rec.ok) { counters.okTrue++; fs.writeSync(okFd, `${ev.id}\n`); } else counters.okFalse++;
    } else counters[r.outcome]++;
    jl(evFd, { t: rec.sentAt, id: rec.id, kind: rec.kind, ca: rec.ca, range: rec.range, key: rec.key, del: rec.del,
      who: rec.who, outcome: rec.outcome, ok: rec.ok, msg: rec.msg, ms: rec.ms });
    return rec;
  }

  // --- publishers: sequential, paced to --rate events/s each
  async function publisher(p) {
    const key = newKey();
    pubkeys.push(key.pk);
    const conn = new Conn(url, `pub${p}`);
    conn.onLateOk = lateOk;
    await conn.ensure(END + 60000);
    const mine = [];                // my OK-true kind-1 ids not yet targeted by a deletion
    let k0last = 0, nodeSeries = 0, crossIdx = 0, crossStage = 0, n = 0;
    const nodeSeriesBase = o['node-to'] - 10 * DAY;
    let next = Date.now();
    while (!stopped()) {
      const r = Math.random();
      const who = `pub${p}`;
      const tags = [['t', 'soak'], ['t', `soak-p${p}`]];
      if (pubkeys.length > 1) tags.push(['p', pick(pubkeys)]);
      let ev, meta = { who };
      if (r < 0.66) {                                         // current note, some for the live subscriptions
        if (Math.random() < 0.3) tags.push(['t', 'soak-live']);
        ev = makeEvent(key, { kind: 1, content: `soak note ${p}/${n}`, created_at: nowS() - rnd(5), tags });
      } else if (r < 0.80) {                                  // back-dated into the node's range
        ev = makeEvent(key, { kind: 1, content: `soak old note ${p}/${n}`, created_at: nodeLo + rnd(nodeHi - nodeLo), tags: [...tags, ['t', 'soak-old']] });
      } else if (r < 0.85) {                                  // kind 0, current
        k0last = Math.max(nowS(), k0last + 1);
        ev = makeEvent(key, { kind: 0, content: JSON.stringify({ name: `soak ${p}`, v: n }), created_at: k0last });
        meta = { who, key: `${key.pk}:0` };
      } else if (r < 0.89) {                                  // addressable, a series on the node
        nodeSeries++;
        ev = makeEvent(key, { kind: 30023, content: `node series v${nodeSeries}`, created_at: nodeSeriesBase + nodeSeries,
          tags: [['d', `node-${p}`], ['t', 'soak-repl']] });
        meta = { who, key: `${key.pk}:30023:node-${p}`, d: `node-${p}` };
      } else if (r < 0.94) {                                  // addressable: v1 on the node, v2 in events_hot
        const d = `cross-${p}-${crossIdx}`;
        const ca = crossStage === 0 ? o['node-to'] - 5 * DAY - crossIdx : nowS();
        ev = makeEvent(key, { kind: 30023, content: `cross ${crossIdx} v${crossStage + 1}`, created_at: ca, tags: [['d', d], ['t', 'soak-repl']] });
        meta = { who, key: `${key.pk}:30023:${d}`, d };
        if (crossStage === 0) crossStage = 1; else { crossStage = 0; crossIdx++; }
      } else if (mine.length >= 3) {                          // NIP-09: delete 1-3 of my own notes
        const del = [];
        const k = 1 + rnd(3);
        for (let i = 0; i < k && mine.length; i++) del.push(mine.splice(rnd(mine.length), 1)[0]);
        ev = makeEvent(key, { kind: 5, content: 'soak deletion', created_at: nowS(), tags: [...del.map((id) => ['e', id]), ['t', 'soak']] });
        meta = { who, del };
      } else {
        ev = makeEvent(key, { kind: 1, content: `soak note ${p}/${n}`, created_at: nowS(), tags });
      }
      n++;
      const rec = await send(conn, ev, meta);
      if (rec.ok && rec.kind === 1) {
        mine.push(rec.id);
        recentOk.push(rec.id);
        if (recentOk.length > 400) recentOk.splice(0, 200);
      }
      next += 1000 / o.rate;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait); else if (wait < -2000) next = Date.now();
    }
    conn.close();
  }

  // --- one publisher sending --batch events at once every 2 s
  async function batcher() {
    const key = newKey();
    const conn = new Conn(url, 'batch');
    conn.onLateOk = lateOk;
    await conn.ensure(END + 60000);
    let n = 0;
    while (!stopped()) {
      const evs = [];
      for (let i = 0; i < o.batch; i++, n++) {
        const old = Math.random() < 0.2;
        evs.push(makeEvent(key, { kind: 1, content: `soak batch ${n}`, created_at: old ? nodeLo + rnd(nodeHi - nodeLo) : nowS(),
          tags: [['t', 'soak'], ['t', 'soak-batch']] }));
      }
      await Promise.all(evs.map((ev) => send(conn, ev, { who: 'batch' })));
      await sleep(2000);
    }
    conn.close();
  }

  // --- readers: REQ loops with various filters
  const FILTERS = [
    ['recent', () => [{ kinds: [1], limit: 50 }]],
    ['author', () => [{ authors: [pick(pubkeys)], limit: 100 }]],
    ['tag', () => [{ '#t': ['soak-live'], limit: 100 }]],
    ['node-range', () => [{ since: o['node-from'], until: o['node-to'] - 1, limit: 100 }]],
    ['hot-window', () => [{ kinds: [1], since: nowS() - 120, limit: 100 }]],
    ['replaceable', () => [{ kinds: [0, 30023], authors: pubkeys, limit: 200 }]],
    ['ids', () => [{ ids: Array.from({ length: Math.min(20, recentOk.length) }, () => pick(recentOk)) }]],
    ['multi', () => [{ kinds: [1], limit: 20 }, { '#p': [pick(pubkeys)], limit: 20 }, { kinds: [5], limit: 10 }]],
  ];
  const reqStats = { idsPartial: 0, idsPartialNoNotice: 0, idsMissing: 0 };
  async function reader(ri) {
    const conn = new Conn(url, `reader${ri}`);
    await conn.ensure(END + 60000);
    let i = 0;
    while (!stopped()) {
      if (!pubkeys.length || !recentOk.length) { await sleep(200); continue; }
      const [name, mk] = FILTERS[(i + ri) % FILTERS.length];
      const filters = mk();
      const subId = `r${ri}-${i++}`;
      if (!conn.isOpen) await conn.ensure(Date.now() + 10000);
      const t = Date.now();
      const rec = { t, r: ri, f: name };
      const res = await conn.req(subId, filters, REQ_BOUND, {
        collect: name === 'ids',
        onLate: (late) => jl(reqFd, { late: true, t, r: ri, f: name, sub: subId, outcome: late.outcome, ms: late.ms }),
      });
      counters.reqs++;
      if (res.outcome === 'timeout') counters.reqTimeouts++;
      Object.assign(rec, { o: res.outcome, ms: res.ms, n: res.n, reason: res.reason, notice: res.notice });
      if (name === 'ids' && res.outcome === 'eose') {
        // Read-your-writes: an id answered OK true and not deleted since, missing from EOSE.
        const got = new Set(res.events.map((e) => e.id));
        const want = [...new Set(filters[0].ids)].filter((id) => !deletionTargets.has(id));
        rec.missing = want.filter((id) => !got.has(id)).length;
        if (rec.missing) {
          reqStats.idsPartial++;
          reqStats.idsMissing += rec.missing;
          if (!res.notice) reqStats.idsPartialNoNotice++;
        }
      }
      jl(reqFd, rec);
      await sleep(150 + rnd(300));
    }
    conn.close();
  }

  // --- live subscriptions
  const liveSince = nowS() - 5;
  const liveStats = { since: liveSince, closed: 0, reasons: {}, resubscribed: 0, events: 0, eose: 0, subTimeouts: 0 };
  async function live(li) {
    const conn = new Conn(url, `live${li}`);
    const since = liveSince;
    const subs = { [`live-t${li}`]: [{ '#t': ['soak-live'], since }], [`live-r${li}`]: [{ kinds: [0, 5, 30023], since }] };
    const subscribe = async (sub) => {
      const res = await conn.req(sub, subs[sub], REQ_BOUND, { keep: true, collect: true });
      for (const e of res.events || []) liveSeen.add(e.id);
      if (res.outcome === 'eose') liveStats.eose++;
      else {
        if (res.outcome === 'timeout') liveStats.subTimeouts++;
        jl(liveFd, { t: Date.now(), sub, outcome: res.outcome, reason: res.reason, ms: res.ms });
      }
      return res.outcome;
    };
    conn.onSubEvent = (sub, ev) => { if (ev && ev.id) { liveSeen.add(ev.id); liveStats.events++; } };
    conn.onSubEnd = (m) => {
      if (m[0] !== 'CLOSED' || !subs[m[1]]) return;
      liveStats.closed++;
      const k = normReason(m[2]);
      liveStats.reasons[k] = (liveStats.reasons[k] || 0) + 1;
      jl(liveFd, { t: Date.now(), sub: m[1], closed: String(m[2] ?? '') });
      if (!stopped()) setTimeout(() => { liveStats.resubscribed++; subscribe(m[1]); }, 1000);
    };
    while (!stopped()) {
      if (!conn.isOpen) {
        if (conn.opens > 0) jl(liveFd, { t: Date.now(), reconnect: true, why: conn.lastClose });
        if (!(await conn.ensure(END))) break;
        for (const sub of Object.keys(subs)) {
          const outcome = await subscribe(sub);
          if (outcome !== 'eose' && outcome !== 'timeout' && !stopped()) setTimeout(() => { liveStats.resubscribed++; subscribe(sub); }, 1000);
        }
      }
      await sleep(500);
    }
    conn.close();
    return conn;
  }

  // --- progress every 30 s
  const progress = setInterval(() => {
    console.log(`# ${Math.round((Date.now() - T_START) / 1000)} s: sent ${counters.sent}, OK true ${counters.okTrue}, OK false ${counters.okFalse}, ` +
      `unanswered ${counters.timeout}, REQs ${counters.reqs} (timeouts ${counters.reqTimeouts}), live events ${liveStats.events}`);
  }, 30000);

  const tasks = [];
  for (let p = 0; p < o.publishers; p++) tasks.push(publisher(p));
  if (o.batch > 0) tasks.push(batcher());
  for (let r = 0; r < o.readers; r++) tasks.push(reader(r));
  const lives = [];
  for (let l = 0; l < o.live; l++) lives.push(live(l));
  await Promise.all(tasks);
  await Promise.all(lives);
  clearInterval(progress);
  // Late OKs of the last events: give them the bound to arrive.
  await sleep(1000);

  // ---- the model for verify
  const byKey = {};
  for (const r of seq) if (r.key) (byKey[r.key] ||= []).push({ id: r.id, ca: r.ca, ok: r.ok, outcome: r.outcome, msg: r.msg, range: r.range, pk: r.pk, kind: r.kind, d: r.d });
  const st = {
    started: T_START, ended: Date.now(), options: o, pubkeys,
    events: seq.map((r) => ({ id: r.id, pk: r.pk, kind: r.kind, ca: r.ca, range: r.range, key: r.key, del: r.del, ok: r.ok,
      msg: r.msg, outcome: r.outcome, ms: r.ms, late: r.late ? r.late.ok : null, t: r.sentAt, live: r.live })),
    deletionTargets: Object.fromEntries(deletionTargets),
    byKey,
    live: { ...liveStats, seen: [...liveSeen] },
    reqStats,
    counters,
  };
  fs.writeFileSync(path.join(out, 'state.json'), JSON.stringify(st));
  for (const fd of [okFd, evFd, reqFd, liveFd]) fs.closeSync(fd);
  console.log(`# run done: sent ${counters.sent}, OK true ${counters.okTrue}, OK false ${counters.okFalse}, unanswered ${counters.timeout}, ` +
    `late answers ${counters.late}, REQs ${counters.reqs}, REQ timeouts ${counters.reqTimeouts}`);
}

// --------------------------------------------------------------- verify
async function verify(url, out, o) {
  const st = JSON.parse(fs.readFileSync(path.join(out, 'state.json'), 'utf8'));
  const ev = new Map(st.events.map((e) => [e.id, e]));
  const targets = st.deletionTargets;
  // Deletions that were acknowledged must have taken effect.
  const deletedOk = new Set();
  for (const [t, dels] of Object.entries(targets)) if (dels.some((d) => ev.get(d) && ev.get(d).ok === true)) deletedOk.add(t);
  // Replaceable keys: the last OK-true version must be current, unless a
  // version sent after it (answered OK false, or not at all) was stored
  // after all; earlier OK-true versions must be gone.
  const winners = new Map(); // id -> key
  const replaced = [];
  for (const [key, vs] of Object.entries(st.byKey)) {
    let w = -1;
    vs.forEach((v, i) => { if (v.ok === true) w = i; });
    if (w < 0) continue;
    winners.set(vs[w].id, key);
    for (let i = 0; i < w; i++) if (vs[i].ok === true) replaced.push(vs[i].id);
  }
  const required = st.events.filter((e) => e.ok === true && !e.key && !(e.id in targets)).map((e) => e.id).concat([...winners.keys()]);
  const mustNot = [...deletedOk, ...replaced];
  const excluded = { deletionTargets: Object.keys(targets).filter((t) => ev.get(t) && ev.get(t).ok === true).length, replaced: replaced.length };

  const conn = new Conn(url, 'verify');
  const t0 = Date.now();
  const deadline = t0 + o.grace * 1000;
  let missing = required.slice();
  let served = mustNot.slice();
  const mismatched = new Set();
  let passes = 0, reqs = 0, closed = 0, timeouts = 0, missingFirstPass = null;
  const closedReasons = {};
  let subN = 0;
  // REQ {ids} in batches; -> Set of ids served (null entries: batches not answered)
  async function fetchIds(ids) {
    const got = new Set();
    let complete = true;
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      if (!(await conn.ensure(Date.now() + 15000))) { complete = false; break; }
      const res = await conn.req(`v${subN++}`, [{ ids: chunk, limit: chunk.length }], 30000, { collect: true });
      reqs++;
      if (res.outcome !== 'eose') {
        complete = false;
        if (res.outcome === 'closed') { closed++; const k = normReason(res.reason); closedReasons[k] = (closedReasons[k] || 0) + 1; }
        if (res.outcome === 'timeout') timeouts++;
      }
      for (const e of res.events || []) {
        got.add(e.id);
        const want = ev.get(e.id);
        if (want && (want.kind !== e.kind || want.ca !== e.created_at || want.pk !== e.pubkey)) mismatched.add(e.id);
      }
    }
    return { got, complete };
  }
  for (;;) {
    passes++;
    const a = await fetchIds(missing);
    missing = missing.filter((id) => !a.got.has(id));
    if (missingFirstPass === null) missingFirstPass = missing.length;
    const b = await fetchIds(served);
    served = served.filter((id) => b.got.has(id) || !b.complete);
    if ((!missing.length && !served.length) || Date.now() >= deadline) break;
    await sleep(Math.min(5000, Math.max(0, deadline - Date.now())));
  }
  const settleMs = Date.now() - t0;
  // Winners still missing: is a later version (answered OK false or not at all) current?
  const excusedLater = [];
  if (missing.some((id) => winners.has(id))) {
    for (const id of missing.filter((x) => winners.has(x))) {
      const key = winners.get(id);
      const vs = st.byKey[key];
      const w = vs.findIndex((v) => v.id === id);
      const later = new Set(vs.slice(w + 1).map((v) => v.id));
      const f = { authors: [vs[w].pk], kinds: [vs[w].kind] };
      if (vs[w].d !== null && vs[w].d !== undefined) f['#d'] = [vs[w].d];
      await conn.ensure(Date.now() + 15000);
      const res = await conn.req(`k${subN++}`, [f], 30000, { collect: true });
      const cur = (res.events || []).map((e) => e.id);
      if (cur.length && cur.every((x) => later.has(x))) excusedLater.push({ id, current: cur[0], currentAnswer: vs.find((v) => v.id === cur[0]) });
    }
    const ex = new Set(excusedLater.map((x) => x.id));
    missing = missing.filter((id) => !ex.has(id));
  }
  conn.close();
  const missingInfo = missing.slice(0, 20).map((id) => {
    const e = ev.get(id);
    return { id, kind: e.kind, ca: e.ca, range: e.range, t: e.t, msg: e.msg, late: e.late };
  });
  const byRange = {};
  for (const id of missing) { const r = ev.get(id).range; byRange[r] = (byRange[r] || 0) + 1; }
  const v = {
    required: required.length, missing: missing.length, missingByRange: byRange, missingSample: missingInfo,
    mustNotServe: mustNot.length, deletedOk: deletedOk.size, servedAnyway: served.length, servedSample: served.slice(0, 10),
    mismatched: mismatched.size, missingFirstPass, excluded, excusedLater, settleMs, passes, reqs, closed, timeouts, closedReasons, grace: o.grace,
  };
  fs.writeFileSync(path.join(out, 'verify.json'), JSON.stringify(v, null, 1));
  console.log(`# verify: ${required.length} required, ${missing.length} missing, ${served.length} of ${mustNot.length} deleted/replaced still served, ` +
    `${mismatched.size} mismatched, ${excusedLater.length} winners replaced by a later non-OK version, ${passes} passes in ${(settleMs / 1000).toFixed(1)} s` +
    ` (${closed} REQs CLOSED, ${timeouts} timed out)`);
}

// --------------------------------------------------------------- report
function readJsonl(f) {
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
}

function report(out) {
  const st = JSON.parse(fs.readFileSync(path.join(out, 'state.json'), 'utf8'));
  const v = fs.existsSync(path.join(out, 'verify.json')) ? JSON.parse(fs.readFileSync(path.join(out, 'verify.json'), 'utf8')) : null;
  const relay = fs.existsSync(path.join(out, 'relay.json')) ? JSON.parse(fs.readFileSync(path.join(out, 'relay.json'), 'utf8')) : {};
  const actions = readJsonl(path.join(out, 'actions.jsonl'));
  const reqsAll = readJsonl(path.join(out, 'reqs.jsonl'));
  const reqs = reqsAll.filter((r) => !r.late);
  const lateReqs = reqsAll.filter((r) => r.late);
  const o = st.options;

  // Outage windows from the actions: [down, up) per kind, and 20 s of recovery after.
  const windows = [];
  const open = {};
  for (const a of actions) {
    if (a.action === 'kill-node' || a.action === 'stop-coord') open[a.action] = a.t;
    if (a.action === 'node-up' && open['kill-node']) { windows.push({ kind: 'node-down', from: open['kill-node'], to: a.t }); delete open['kill-node']; }
    if (a.action === 'coord-up' && open['stop-coord']) { windows.push({ kind: 'coord-down', from: open['stop-coord'], to: a.t }); delete open['stop-coord']; }
  }
  for (const [k, t] of Object.entries(open)) windows.push({ kind: k === 'kill-node' ? 'node-down' : 'coord-down', from: t, to: Infinity });
  const stateAt = (t) => {
    for (const w of windows) if (t >= w.from && t < w.to) return w.kind;
    for (const w of windows) if (t >= w.to && t < w.to + 20000) return 'recovery';
    return 'normal';
  };
  const kills = { node: actions.filter((a) => a.action === 'kill-node').length, coord: actions.filter((a) => a.action === 'stop-coord').length };

  // Events
  const evs = st.events;
  const okTrue = evs.filter((e) => e.ok === true);
  const okFalse = evs.filter((e) => e.ok === false);
  const unanswered = evs.filter((e) => e.outcome === 'timeout');
  const disconnected = evs.filter((e) => e.outcome === 'disconnected' || e.outcome === 'notsent');
  const reasons = {};
  for (const e of okFalse) { const k = normReason(e.msg); reasons[k] = (reasons[k] || 0) + 1; }
  const okMsgs = {};
  for (const e of okTrue) if (e.msg) { const k = normReason(e.msg); okMsgs[k] = (okMsgs[k] || 0) + 1; }
  const nodeOk = okTrue.filter((e) => e.range === 'node').length;
  const okLat = okTrue.concat(okFalse).map((e) => e.ms).filter((x) => x !== null).sort((a, b) => a - b);

  // REQs
  const answered = reqs.filter((r) => r.o === 'eose' || r.o === 'closed');
  const lat = answered.map((r) => r.ms).sort((a, b) => a - b);
  const reqClosedReasons = {};
  for (const r of reqs.filter((x) => x.o === 'closed')) { const k = normReason(r.reason); reqClosedReasons[k] = (reqClosedReasons[k] || 0) + 1; }
  const noticeTexts = {};
  for (const r of reqs.filter((x) => x.notice)) { const k = normReason(r.notice); noticeTexts[k] = (noticeTexts[k] || 0) + 1; }

  // Per state
  const states = ['normal', 'node-down', 'coord-down', 'recovery'];
  const per = {};
  for (const s of states) per[s] = { ev: 0, okT: 0, okF: 0, unans: 0, rq: 0, eose: 0, closed: 0, timeout: 0, notice: 0, lat: [], okLat: [], reasons: {} };
  for (const e of evs) {
    const p = per[stateAt(e.t)];
    p.ev++;
    if (e.ok === true) p.okT++; else if (e.ok === false) { p.okF++; const k = normReason(e.msg); p.reasons[k] = (p.reasons[k] || 0) + 1; }
    if (e.outcome === 'timeout') p.unans++;
    if (e.ms !== null && e.outcome === 'answered') p.okLat.push(e.ms);
  }
  for (const r of reqs) {
    const p = per[stateAt(r.t)];
    p.rq++;
    if (r.o === 'eose') p.eose++; else if (r.o === 'closed') p.closed++; else if (r.o === 'timeout') p.timeout++;
    if (r.notice) p.notice++;
    if (r.o === 'eose' || r.o === 'closed') p.lat.push(r.ms);
  }
  // Per filter, while the node was down: which REQs could still be answered with EOSE
  const perFilter = {};
  for (const r of reqs) {
    const s = stateAt(r.t);
    const k = `${r.f}`;
    perFilter[k] ||= { normal: [0, 0], 'node-down': [0, 0], 'coord-down': [0, 0], recovery: [0, 0] };
    perFilter[k][s][0]++;
    if (r.o === 'eose') perFilter[k][s][1]++;
  }

  // RSS: samples taken during the load; the second half's growth.
  let rss = null;
  const csvF = path.join(out, 'rss.csv');
  if (fs.existsSync(csvF)) {
    const rows = fs.readFileSync(csvF, 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split(','));
    const all = rows.map((x) => ({ t: Number(x[0]), rss: Number(x[2]), fds: Number(x[3]), thr: Number(x[4]), phase: x[5] }));
    const load = all.filter((x) => x.phase === 'load' && x.rss > 0);
    if (load.length >= 6) {
      const half = load.slice(Math.floor(load.length / 2));
      const start = median(load.slice(0, 3).map((x) => x.rss));
      const mid = median(half.slice(0, 3).map((x) => x.rss));
      const end = median(half.slice(-3).map((x) => x.rss));
      // least squares over the second half, KiB per minute
      const n = half.length, mt = half.reduce((s, x) => s + x.t, 0) / n, mr = half.reduce((s, x) => s + x.rss, 0) / n;
      const sxy = half.reduce((s, x) => s + (x.t - mt) * (x.rss - mr), 0), sxx = half.reduce((s, x) => s + (x.t - mt) ** 2, 0);
      const slope = sxx > 0 ? (sxy / sxx) * 60 : 0;
      // README.md, "Memory": 20% of the mid-run RSS or SOAK_RSS_FLOOR_MIB (8 MiB), whichever is larger.
      const floorKiB = Math.round(Number(process.env.SOAK_RSS_FLOOR_MIB || 8) * 1024);
      const bound = Math.max(Math.round(0.2 * mid), floorKiB);
      const last = all[all.length - 1];
      rss = { samples: load.length, floorKiB, start, mid, end, max: Math.max(...load.map((x) => x.rss)), growth: end - mid, bound,
        slopeKiBPerMin: Math.round(slope), afterSettle: last ? last.rss : null,
        fds: { start: median(load.slice(0, 3).map((x) => x.fds)), end: median(half.slice(-3).map((x) => x.fds)), max: Math.max(...load.map((x) => x.fds)) },
        threads: { start: load[0].thr, end: load[load.length - 1].thr } };
    } else rss = { samples: load.length };
  }

  // Checks
  const checks = [];
  const chk = (name, pass, detail) => checks.push({ name, pass: !!pass, detail });
  chk('load ran: events OK true, some in the node range', okTrue.length > 0 && nodeOk > 0, `${okTrue.length} OK true, ${nodeOk} of them in the node's range`);
  chk('kills done (node PostgreSQL kill -9, coordinator PostgreSQL stop -m immediate)',
    kills.node + kills.coord === relay.killsPlanned && kills.node > 0 && windows.every((w) => w.to !== Infinity),
    `${kills.node} node kills, ${kills.coord} coordinator stops of ${relay.killsPlanned} planned, all restarted`);
  chk('rows on the storage node', (relay.nodeRows || 0) > 0, `${relay.nodeRows} rows in node1's events_data`);
  if (v) {
    chk('every OK-true event readable at the end (except deleted/replaced)', v.missing === 0,
      `${v.required - v.missing} of ${v.required} readable after ${(v.settleMs / 1000).toFixed(1)} s (grace ${v.grace} s)` +
      (v.missing ? `; missing by range ${JSON.stringify(v.missingByRange)}; e.g. ${JSON.stringify(v.missingSample.slice(0, 3))}` : ''));
    chk('OK-true deletions and replacements took effect', v.servedAnyway === 0, `${v.servedAnyway} of ${v.mustNotServe} deleted/replaced events still served`);
    chk('events read back match what was sent', v.mismatched === 0, `${v.mismatched} mismatched`);
  } else chk('verification ran', false, 'no verify.json');
  chk('no REQ hung', reqs.filter((r) => r.o === 'timeout').length === 0,
    `${reqs.filter((r) => r.o === 'timeout').length} REQs without EOSE/CLOSED within ${o['req-bound']} s` +
    (lateReqs.length ? ` (${lateReqs.length} answered late)` : ''));
  chk('every EVENT answered', unanswered.length === 0, `${unanswered.length} EVENTs without OK within ${o['ok-bound']} s`);
  chk('relay never crashed (same PID throughout)', relay.samePid === true, `pid ${relay.pid}: ${relay.samePid ? 'same process' : relay.why || 'gone'}`);
  chk('relay exits 0 on SIGTERM, no crash in its log', relay.exit === 0 && !relay.crashInLog, `exit ${relay.exit}${relay.crashInLog ? `; log: ${relay.crashInLog}` : ''}`);
  if (rss && rss.mid) {
    chk(`memory flat: RSS growth over the second half < max(20%, ${(rss.floorKiB / 1024).toFixed(0)} MiB)`, rss.growth < rss.bound,
      `mid ${(rss.mid / 1024).toFixed(1)} MiB -> end ${(rss.end / 1024).toFixed(1)} MiB (growth ${(rss.growth / 1024).toFixed(1)} MiB, bound ${(rss.bound / 1024).toFixed(1)} MiB, slope ${rss.slopeKiBPerMin} KiB/min)`);
  } else chk('memory flat', false, `not enough RSS samples during the load (${rss ? rss.samples : 0})`);

  // Output: table
  const L = (s = '') => console.log(s);
  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  L('==================== soak summary ====================');
  L(`duration ${o.seconds} s load, kill every ${relay.killEvery} s; kills: ${kills.node} storage node (kill -9), ${kills.coord} coordinator (stop -m immediate)`);
  for (const a of actions) L(`  ${a.ts}  ${a.action}${a.detail ? `  ${a.detail}` : ''}`);
  L();
  L(`EVENTs sent ${evs.length}: OK true ${okTrue.length} (node range ${nodeOk}), OK false ${okFalse.length}, unanswered ${unanswered.length}, ` +
    `disconnected ${disconnected.length}, late answers ${evs.filter((e) => e.late !== null).length}; OK latency p50 ${pct(okLat, 50)} ms p99 ${pct(okLat, 99)} ms max ${okLat[okLat.length - 1] ?? '-'} ms`);
  for (const [k, n] of Object.entries(reasons).sort((a, b) => b[1] - a[1])) L(`  OK false x${n}: ${k}`);
  for (const [k, n] of Object.entries(okMsgs).sort((a, b) => b[1] - a[1])) L(`  OK true with message x${n}: ${k}`);
  L(`REQs ${reqs.length}: EOSE ${reqs.filter((r) => r.o === 'eose').length}, CLOSED ${reqs.filter((r) => r.o === 'closed').length}, ` +
    `timeout ${reqs.filter((r) => r.o === 'timeout').length}, disconnected ${reqs.filter((r) => r.o === 'disconnected' || r.o === 'notsent').length}, ` +
    `with NOTICE ${reqs.filter((r) => r.notice).length}; latency p50 ${pct(lat, 50)} ms p99 ${pct(lat, 99)} ms max ${lat[lat.length - 1] ?? '-'} ms; ` +
    `{ids} REQs with OK-true ids missing at EOSE: ${st.reqStats.idsPartial} (${st.reqStats.idsMissing} ids; ${st.reqStats.idsPartialNoNotice} of these REQs without a NOTICE)`);
  for (const [k, n] of Object.entries(reqClosedReasons).sort((a, b) => b[1] - a[1])) L(`  CLOSED x${n}: ${k}`);
  for (const [k, n] of Object.entries(noticeTexts).sort((a, b) => b[1] - a[1])) L(`  NOTICE x${n}: ${k}`);
  const liveExpected = okTrue.filter((e) => e.live && e.ca >= st.live.since);
  const seen = new Set(st.live.seen);
  const liveGot = liveExpected.filter((e) => seen.has(e.id)).length;
  const liveNotOk = evs.filter((e) => e.live && e.ok !== true && seen.has(e.id)).length;
  L(`live subscriptions: ${liveGot} of ${liveExpected.length} OK-true #t soak-live events delivered; ${liveNotOk} delivered though not OK true; ` +
    `CLOSED ${st.live.closed}, resubscribed ${st.live.resubscribed}`);
  for (const [k, n] of Object.entries(st.live.reasons)) L(`  live CLOSED x${n}: ${k}`);
  L();
  L(`${pad('state', 11)}${lpad('EVENTs', 8)}${lpad('OK true', 9)}${lpad('OK false', 10)}${lpad('unansw', 8)}${lpad('OK p99', 8)}${lpad('REQs', 7)}${lpad('EOSE', 7)}${lpad('CLOSED', 8)}${lpad('timeout', 9)}${lpad('NOTICE', 8)}${lpad('p50', 7)}${lpad('p99', 7)}`);
  for (const s of states) {
    const p = per[s];
    const sl = p.lat.sort((a, b) => a - b), so = p.okLat.sort((a, b) => a - b);
    L(`${pad(s, 11)}${lpad(p.ev, 8)}${lpad(p.okT, 9)}${lpad(p.okF, 10)}${lpad(p.unans, 8)}${lpad(pct(so, 99) ?? '-', 8)}${lpad(p.rq, 7)}${lpad(p.eose, 7)}${lpad(p.closed, 8)}${lpad(p.timeout, 9)}${lpad(p.notice, 8)}${lpad(pct(sl, 50) ?? '-', 7)}${lpad(pct(sl, 99) ?? '-', 7)}`);
  }
  L('(state of the moment an EVENT/REQ was sent; "recovery" = the 20 s after a restart)');
  for (const s of ['node-down', 'coord-down', 'recovery']) {
    for (const [k, n] of Object.entries(per[s].reasons).sort((a, b) => b[1] - a[1])) L(`  ${s}: OK false x${n}: ${k}`);
  }
  L('REQ answered with EOSE, per filter (EOSE/sent):');
  for (const [f, x] of Object.entries(perFilter)) L(`  ${pad(f, 12)} ${states.map((s) => `${s} ${x[s][1]}/${x[s][0]}`).join('   ')}`);
  L();
  if (rss && rss.mid) {
    L(`relay RSS (KiB): start ${rss.start}, mid ${rss.mid}, end ${rss.end}, max ${rss.max}, after settle ${rss.afterSettle}; ` +
      `second half growth ${rss.growth} (bound ${rss.bound}), slope ${rss.slopeKiBPerMin} KiB/min; fds ${rss.fds.start} -> ${rss.fds.end} (max ${rss.fds.max}); threads ${rss.threads.start} -> ${rss.threads.end}`);
  }
  if (v) {
    L(`verify: ${v.required} required (excluded: ${v.excluded.deletionTargets} deletion targets, ${v.excluded.replaced} replaced versions), ` +
      `${v.missing} missing (${v.missingFirstPass} at the first pass), ${v.servedAnyway}/${v.mustNotServe} deleted/replaced still served, settled after ${(v.settleMs / 1000).toFixed(1)} s in ${v.passes} passes` +
      `${v.closed ? `, ${v.closed} verify REQs CLOSED` : ''}${v.excusedLater.length ? `, ${v.excusedLater.length} replaceable winners superseded by a later version answered OK false/unanswered (stored after all)` : ''}`);
  }
  L();
  for (const c of checks) L(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  const pass = checks.every((c) => c.pass);
  L(`soak: ${pass ? 'PASSED' : 'FAILED'} (${checks.filter((c) => c.pass).length}/${checks.length} checks)`);
  const topReasons = Object.fromEntries(Object.entries(reasons).sort((a, b) => b[1] - a[1]).slice(0, 8));
  const json = {
    soak: 'nostream', pass, load_seconds: o.seconds, kill_every: relay.killEvery, kills,
    events: { sent: evs.length, ok_true: okTrue.length, ok_true_node_range: nodeOk, ok_false: okFalse.length, unanswered: unanswered.length,
      disconnected: disconnected.length, ok_false_by_reason: topReasons },
    reqs: { sent: reqs.length, answered: answered.length, eose: reqs.filter((r) => r.o === 'eose').length, closed: reqs.filter((r) => r.o === 'closed').length,
      timed_out: reqs.filter((r) => r.o === 'timeout').length, with_notice: reqs.filter((r) => r.notice).length, p50_ms: pct(lat, 50), p99_ms: pct(lat, 99), max_ms: lat[lat.length - 1] ?? null,
      closed_by_reason: Object.fromEntries(Object.entries(reqClosedReasons).sort((a, b) => b[1] - a[1]).slice(0, 5)),
      ids_reqs_partial: st.reqStats.idsPartial, ids_reqs_partial_without_notice: st.reqStats.idsPartialNoNotice },
    live: { expected: liveExpected.length, delivered: liveGot },
    verify: v ? { required: v.required, missing: v.missing, missing_first_pass: v.missingFirstPass, still_served: v.servedAnyway, settle_s: Math.round(v.settleMs / 100) / 10 } : null,
    rss_kib: rss && rss.mid ? { start: rss.start, mid: rss.mid, end: rss.end, max: rss.max, growth: rss.growth, bound: rss.bound } : null,
    relay: { same_pid: relay.samePid === true, exit: relay.exit ?? null },
    failed: checks.filter((c) => !c.pass).map((c) => c.name),
  };
  L(`SOAK_JSON ${JSON.stringify(json)}`);
  return pass;
}

// ----------------------------------------------------------------- main
const [cmd, ...a] = process.argv.slice(2);
try {
  switch (cmd) {
    case 'settings': process.stdout.write(TEST_SETTINGS_YAML); break;
    case 'run': {
      const o = opts(a.slice(2), { seconds: 120, 'node-from': 0, 'node-to': 0, publishers: 4, rate: 6, batch: 20, readers: 3, live: 2,
        'req-bound': 15, 'ok-bound': 30, stop: '' });
      if (!a[0] || !a[1]) throw new Error('run URL OUT [options]');
      if (!o['node-to']) throw new Error('--node-to is required');
      await run(a[0], a[1], o);
      break;
    }
    case 'verify': await verify(a[0], a[1], opts(a.slice(2), { grace: 60 })); break;
    case 'report': process.exit(report(a[0]) ? 0 : 1); break;
    default: console.error(`usage: see the header of ${process.argv[1]}`); process.exit(2);
  }
} catch (e) {
  console.error(`soak-client ${cmd}: ${e && e.stack ? e.stack : e}`);
  process.exit(2);
}
process.exit(0);
