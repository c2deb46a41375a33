// Integration-test harness: a throwaway PostgreSQL 15 cluster, the relay
// binary, a small WebSocket client and event factories. See README.md.
//
// Everything here has a timeout: a test may fail, it must never hang.

import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { test, before, after } from 'node:test';
import WebSocket from 'ws';
import { generateSecretKey, getPublicKey, finalizeEvent } from 'nostr-tools/pure';

const execFileP = promisify(execFile);

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PG_BIN = process.env.PG_BIN || '/usr/lib/postgresql/15/bin';
export const KEEP_TMP = process.env.KEEP_TMP === '1';
export const RELAY_BIN = process.env.NOSTREAM_BIN
  ? path.resolve(process.env.NOSTREAM_BIN)
  : path.join(REPO, 'build', 'nostream');

export const DB_USER = 'nostr_ts_relay';
export const DB_NAME = 'nostr_ts_relay';
export const DB_PASSWORD = 'nostr_ts_relay';

// ---------------------------------------------------------------- utilities

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => Math.floor(Date.now() / 1000);
export const randomHex = (bytes = 32) => crypto.randomBytes(bytes).toString('hex');

/** Resolve with p, or reject after ms with an Error naming `what`. */
export function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Poll fn() until it returns a truthy value (returned) or timeoutMs passes. */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (lastErr ? ` (last error: ${lastErr.message})` : ''));
    }
    await sleep(intervalMs);
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tailOfFile(file, maxBytes = 8000) {
  try {
    const st = fs.statSync(file);
    const start = Math.max(0, st.size - maxBytes);
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(st.size - start);
      fs.readSync(fd, buf, 0, buf.length, start);
      return (start > 0 ? '…' : '') + buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    return `(no log: ${e.message})`;
  }
}

function rmTmp(dir) {
  if (!dir) return;
  if (KEEP_TMP) {
    process.stderr.write(`KEEP_TMP=1: kept ${dir}\n`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function childPids(ppid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces and parentheses
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === ppid) out.push(Number(d));
    } catch {
      /* process went away */
    }
  }
  return out;
}

// --------------------------------------------------------------- PostgreSQL

async function asPostgres(cmd, args, { timeoutMs = 60000, env } = {}) {
  try {
    return await execFileP('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, cmd), ...args], {
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, LC_ALL: 'C', ...env },
      cwd: '/tmp',
    });
  } catch (e) {
    const err = new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout || ''}${e.stderr || ''}`);
    err.stdout = e.stdout;
    err.stderr = e.stderr;
    throw err;
  }
}

/**
 * Start a throwaway PostgreSQL 15 cluster reachable only through a unix
 * socket. Returns { socketDir, port, user, db, password, dir, dataDir,
 * logFile, env, psql(sql, opts), start(), stopServer(mode), restart(opts),
 * kill9(), stop(), logTail() }.
 */
export async function startPostgres({ extraConf = '' } = {}) {
  const dir = fs.mkdtempSync(path.join('/tmp', 'nostream-it-pg-'));
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'sock');
  const logFile = path.join(dir, 'postgres.log');
  const port = await freePort(); // only names the socket file: .s.PGSQL.<port>
  let stopped = false;

  const pw = await execFileP('id', ['-u', 'postgres']);
  const pgUid = Number(pw.stdout.trim());
  const pgGid = Number((await execFileP('id', ['-g', 'postgres'])).stdout.trim());
  fs.chownSync(dir, pgUid, pgGid);
  fs.chmodSync(dir, 0o700);
  fs.mkdirSync(socketDir);
  fs.chownSync(socketDir, pgUid, pgGid);
  fs.chmodSync(socketDir, 0o777);

  const pg = {
    dir, dataDir, socketDir, port, logFile,
    user: DB_USER, db: DB_NAME, password: DB_PASSWORD,
    env: { DB_HOST: socketDir, DB_PORT: String(port), DB_USER, DB_PASSWORD, DB_NAME },
    logTail: (n) => tailOfFile(logFile, n),
    running: false,
  };

  try {
    await asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C']);
    fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), 'local all all trust\n');
    fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), [
      '',
      '# nostream integration tests',
      "listen_addresses = ''",
      `unix_socket_directories = '${socketDir}'`,
      'unix_socket_permissions = 0777',
      `port = ${port}`,
      'fsync = on',
      'synchronous_commit = on',
      'full_page_writes = on',
      'max_connections = 100',
      'shared_buffers = 64MB',
      extraConf,
      '',
    ].join('\n'));
  } catch (e) {
    rmTmp(dir);
    throw e;
  }

  pg.start = async () => {
    // After kill9 the orphaned backends may hold the shared memory a moment.
    let lastErr;
    for (let i = 0; i < 20; i++) {
      try {
        await asPostgres('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
        pg.running = true;
        return;
      } catch (e) {
        lastErr = e;
        await sleep(250);
      }
    }
    throw new Error(`PostgreSQL did not start: ${lastErr.message}\n--- postgres.log ---\n${pg.logTail()}`);
  };

  /** pg_ctl stop; mode 'fast' (default), 'smart' or 'immediate' (a crash). */
  pg.stopServer = async (mode = 'fast') => {
    await asPostgres('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    pg.running = false;
  };

  /** Stop (mode), stay down downMs, start again. */
  pg.restart = async ({ mode = 'fast', downMs = 0 } = {}) => {
    await pg.stopServer(mode);
    if (downMs) await sleep(downMs);
    await pg.start();
  };

  /** SIGKILL the postmaster and its children; start() brings it back (crash recovery). */
  pg.kill9 = async () => {
    const pidFile = path.join(dataDir, 'postmaster.pid');
    const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    const kids = childPids(pid);
    process.kill(pid, 'SIGKILL');
    for (const k of kids) {
      try { process.kill(k, 'SIGKILL'); } catch { /* gone */ }
    }
    await waitFor(() => !pidAlive(pid) && kids.every((k) => !pidAlive(k)),
      { timeoutMs: 10000, what: 'postgres processes to die' });
    pg.running = false;
  };

  /** Run SQL with psql as the postgres superuser; resolves to unaligned, tuples-only text. */
  pg.psql = async (sql, { db = DB_NAME, user = 'postgres', timeoutMs = 30000 } = {}) => {
    const { stdout } = await asPostgres('psql', [
      '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
      '-h', socketDir, '-p', String(port), '-U', user, '-d', db, '-c', sql,
    ], { timeoutMs });
    return stdout.replace(/\n$/, '');
  };

  /** Stop the server and remove everything (KEEP_TMP=1 keeps the directory). */
  pg.stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (fs.existsSync(path.join(dataDir, 'postmaster.pid'))) {
        try {
          await pg.stopServer('fast');
        } catch {
          await pg.stopServer('immediate').catch(() => {});
        }
      }
    } finally {
      rmTmp(dir);
    }
  };

  try {
    await pg.start();
    await pg.psql(`CREATE ROLE ${DB_USER} LOGIN CREATEDB PASSWORD '${DB_PASSWORD}'`, { db: 'postgres' });
    await pg.psql(`CREATE DATABASE ${DB_NAME} OWNER ${DB_USER}`, { db: 'postgres' });
    await pg.psql('CREATE EXTENSION IF NOT EXISTS postgres_fdw', { db: DB_NAME });
  } catch (e) {
    await pg.stop().catch(() => {});
    throw e;
  }
  return pg;
}

// -------------------------------------------------------------------- relay

/**
 * nostream-format settings used by default: nostream's defaults, except
 * that rate limits are off (the suite publishes thousands of events from
 * 127.0.0.1, which nostream's defaults do not whitelist).
 */
export const TEST_SETTINGS_YAML = `info:
  relay_url: ws://127.0.0.1/
  name: nostream-c integration test
  description: Throwaway relay started by tests/integration
  pubkey: ""
  contact: ""
payments:
  enabled: false
network:
  maxPayloadSize: 524288
workers:
  count: 0
mirroring:
  static: []
limits:
  connection:
    rateLimits: []
    ipWhitelist:
      - "127.0.0.1"
      - "::ffff:127.0.0.1"
      - "::1"
  event:
    eventId:
      minLeadingZeroBits: 0
    kind:
      whitelist: []
      blacklist: []
    pubkey:
      minBalance: 0
      minLeadingZeroBits: 0
      whitelist: []
      blacklist: []
    createdAt:
      maxPositiveDelta: 900
      maxNegativeDelta: 0
    content:
      - description: 100 KB for every kind
        maxLength: 102400
        kinds:
          - - 0
            - 65535
    rateLimits: []
    whitelists:
      pubkeys: []
      ipAddresses:
        - "127.0.0.1"
        - "::ffff:127.0.0.1"
        - "::1"
  client:
    subscription:
      maxSubscriptions: 10
      maxFilters: 10
      maxFilterValues: 2500
      maxSubscriptionIdLength: 256
      maxLimit: 5000
      minPrefixLength: 64
  message:
    rateLimits: []
    ipWhitelist:
      - "127.0.0.1"
      - "::ffff:127.0.0.1"
      - "::1"
`;

function httpGet(url, { headers = {}, timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
export { httpGet };

/**
 * Start the relay binary against `pg`. opts:
 *   env          extra environment (overrides the defaults below)
 *   settingsYaml settings.yaml content; default TEST_SETTINGS_YAML; null = none (the relay writes its default)
 *   configDir    reuse an existing NOSTR_CONFIG_DIR (e.g. for a restart)
 *   startTimeoutMs  how long to wait for GET /healthz = 200 (15000)
 * Returns { url, httpUrl, port, pid, configDir, logFile, proc, exited, stop(), kill9(), logTail() }.
 */
export async function startRelay(pg, opts = {}) {
  const { env = {}, settingsYaml = TEST_SETTINGS_YAML, startTimeoutMs = 15000 } = opts;
  if (!fs.existsSync(RELAY_BIN)) {
    throw new Error(`relay binary ${RELAY_BIN} does not exist: run \`make\` in ${REPO} or set NOSTREAM_BIN`);
  }
  const port = await freePort();
  const ownConfigDir = !opts.configDir;
  const configDir = opts.configDir || fs.mkdtempSync(path.join(os.tmpdir(), 'nostream-it-relay-'));
  if (ownConfigDir && settingsYaml != null) fs.writeFileSync(path.join(configDir, 'settings.yaml'), settingsYaml);
  const logFile = path.join(configDir, `relay-${port}.log`);
  const logFd = fs.openSync(logFile, 'a');

  const childEnv = {
    ...process.env,
    RELAY_PORT: String(port),
    ...pg.env,
    NOSTR_CONFIG_DIR: configDir,
    MIGRATIONS_DIR: process.env.MIGRATIONS_DIR || path.join(REPO, 'migrations'),
    ...env,
  };
  const proc = spawn(RELAY_BIN, [], { cwd: REPO, env: childEnv, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);

  const relay = {
    url: `ws://127.0.0.1:${port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    port, pid: proc.pid, configDir, logFile, proc,
    exitCode: undefined, exitSignal: undefined,
    logTail: (n) => tailOfFile(logFile, n),
  };
  let expectingExit = true; // during start-up a failure is reported by the thrown error
  let spawnError = null;
  relay.exited = new Promise((resolve) => {
    proc.on('error', (e) => { spawnError = e; resolve({ code: null, signal: null, error: e }); });
    proc.on('exit', (code, signal) => {
      relay.exitCode = code;
      relay.exitSignal = signal;
      if (!expectingExit) {
        relay.crashed = { code, signal };
        process.stderr.write(`\n*** relay (pid ${proc.pid}) exited unexpectedly: code ${code} signal ${signal}\n` +
          `--- relay log tail (${logFile}) ---\n${relay.logTail()}\n--- end of relay log ---\n`);
      }
      resolve({ code, signal });
    });
  });
  const isRunning = () => relay.exitCode === undefined && relay.exitSignal === undefined && !spawnError;
  relay.isRunning = isRunning;

  const cleanup = () => { if (ownConfigDir) rmTmp(configDir); };

  /** SIGTERM, wait for exit (timeoutMs), throw unless the exit code is 0. */
  relay.stop = async ({ timeoutMs = 15000, keepConfig = false } = {}) => {
    expectingExit = true;
    try {
      if (!isRunning()) {
        throw new Error(`relay was not running when stop() was called (exit code ${relay.exitCode}, signal ${relay.exitSignal})`);
      }
      proc.kill('SIGTERM');
      let res;
      try {
        res = await withTimeout(relay.exited, timeoutMs, `relay to exit after SIGTERM`);
      } catch (e) {
        proc.kill('SIGKILL');
        await withTimeout(relay.exited, 5000, 'relay to exit after SIGKILL').catch(() => {});
        throw new Error(`${e.message}; killed it\n--- relay log tail ---\n${relay.logTail()}`);
      }
      if (res.code !== 0) {
        throw new Error(`relay exited with code ${res.code} signal ${res.signal} after SIGTERM (want 0)\n` +
          `--- relay log tail ---\n${relay.logTail()}`);
      }
      return res;
    } finally {
      if (!keepConfig) cleanup();
    }
  };

  relay.kill9 = async () => {
    expectingExit = true;
    if (isRunning()) proc.kill('SIGKILL');
    return withTimeout(relay.exited, 5000, 'relay to die after SIGKILL');
  };

  /** Make sure nothing is left running (used by after hooks); never throws. */
  relay.dispose = async () => {
    expectingExit = true;
    if (isRunning()) {
      proc.kill('SIGKILL');
      await withTimeout(relay.exited, 5000, 'relay to die').catch(() => {});
    }
    cleanup();
  };

  // Wait for /healthz.
  const deadline = Date.now() + startTimeoutMs;
  let last = 'no answer yet';
  for (;;) {
    if (!isRunning()) {
      await withTimeout(relay.exited, 1000, 'exit').catch(() => {});
      const why = spawnError ? `could not be started: ${spawnError.message}` : `exited during start-up (code ${relay.exitCode}, signal ${relay.exitSignal})`;
      const tail = relay.logTail();
      cleanup();
      throw new Error(`relay ${RELAY_BIN} ${why}\n--- relay log tail ---\n${tail}`);
    }
    try {
      const res = await httpGet(`${relay.httpUrl}/healthz`, { timeoutMs: 1000 });
      if (res.status === 200) break;
      last = `HTTP ${res.status} ${res.body.slice(0, 200)}`;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() >= deadline) {
      const tail = relay.logTail();
      await relay.dispose();
      throw new Error(`relay did not answer GET /healthz with 200 within ${startTimeoutMs} ms (last: ${last})\n` +
        `--- relay log tail ---\n${tail}`);
    }
    await sleep(100);
  }
  expectingExit = false;
  return relay;
}

// ------------------------------------------------------------------- client

const isArr = Array.isArray;
export const isOk = (id) => (m) => isArr(m) && m[0] === 'OK' && m[1] === id;
export const isNotice = (m) => isArr(m) && m[0] === 'NOTICE';
export const isEventFor = (subId, id) => (m) => isArr(m) && m[0] === 'EVENT' && m[1] === subId &&
  (id === undefined || (m[2] && m[2].id === id));
export const isEose = (subId) => (m) => isArr(m) && m[0] === 'EOSE' && m[1] === subId;
export const isClosed = (subId) => (m) => isArr(m) && m[0] === 'CLOSED' && m[1] === subId;

function short(m) {
  let s;
  try { s = typeof m === 'string' ? m : JSON.stringify(m); } catch { s = String(m); }
  return s.length > 300 ? `${s.slice(0, 300)}…(${s.length} chars)` : s;
}

let subCounter = 0;

export class Client {
  constructor(ws, url) {
    this.ws = ws;
    this.url = url;
    this.buf = [];          // received, not yet consumed by next()
    this.recent = [];       // last few messages received (for error messages)
    this.waiters = [];
    this.received = 0;
    this.defaultTimeoutMs = 5000;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`connection closed (code ${code} ${reason}) while waiting for ${w.what}; ` +
            `last messages: ${this.recent.map(short).join(' | ') || '(none)'}`));
        }
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => this._onMessage(data, isBinary));
    ws.on('error', (e) => { this.lastError = e; });
  }

  _onMessage(data, isBinary) {
    const text = data.toString('utf8');
    let m;
    try { m = JSON.parse(text); } catch { m = { unparsable: text, isBinary }; }
    this.received++;
    this.recent.push(m);
    if (this.recent.length > 8) this.recent.shift();
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      let hit = false;
      try { hit = w.pred(m); } catch { hit = false; }
      if (hit) {
        this.waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(m);
        return;
      }
    }
    this.buf.push(m);
  }

  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }

  /** Send an array/object as JSON, or a string as-is. */
  send(msg) {
    if (!this.isOpen) throw new Error(`send on a connection that is not open (readyState ${this.ws.readyState})`);
    this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
  }

  /** Next message matching pred (buffered ones first, oldest first); others stay buffered. */
  next(pred, timeoutMs = this.defaultTimeoutMs, what = pred.name || String(pred)) {
    for (let i = 0; i < this.buf.length; i++) {
      let hit = false;
      try { hit = pred(this.buf[i]); } catch { hit = false; }
      if (hit) return Promise.resolve(this.buf.splice(i, 1)[0]);
    }
    if (this.closeInfo) {
      return Promise.reject(new Error(`connection is closed (code ${this.closeInfo.code}); cannot wait for ${what}`));
    }
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject, what };
      w.timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ` +
          `last messages: ${this.recent.map(short).join(' | ') || '(none received)'}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Throw if a message matching pred is buffered or arrives within ms. */
  async expectNone(pred, ms = 500, what = 'an unexpected message') {
    const got = await this.next(pred, ms, what).catch(() => null);
    if (got) throw new Error(`expected no ${what}, got ${short(got)}`);
  }

  /** Drop buffered messages (optionally only those matching pred). */
  drain(pred = () => true) {
    this.buf = this.buf.filter((m) => { try { return !pred(m); } catch { return true; } });
  }

  /** Publish; resolves to the ["OK", id, bool, msg] answer. */
  publish(event, timeoutMs = this.defaultTimeoutMs) {
    this.send(['EVENT', event]);
    return this.next(isOk(event.id), timeoutMs, `["OK","${event.id}",…]`);
  }

  /** Publish; resolves to the OK for event.id or, failing that, a NOTICE (for events whose id is unreadable). */
  publishOkOrNotice(event, timeoutMs = this.defaultTimeoutMs) {
    this.send(['EVENT', event]);
    const id = event && event.id;
    return this.next((m) => isOk(id)(m) || isNotice(m), timeoutMs, `OK for ${short(id)} or NOTICE`);
  }

  /**
   * REQ; resolves to { events, eose: true } at EOSE, rejects on CLOSED with
   * an Error whose .closed is the reason. The subscription stays open.
   */
  async reqWith(subId, filters, { timeoutMs = this.defaultTimeoutMs } = {}) {
    this.send(['REQ', subId, ...filters]);
    const events = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for EOSE of "${subId}" (${events.length} events so far)`);
      const m = await this.next((x) => isArr(x) && ['EVENT', 'EOSE', 'CLOSED'].includes(x[0]) && x[1] === subId,
        left, `EVENT/EOSE/CLOSED for "${subId}" (${events.length} events so far)`);
      if (m[0] === 'EVENT') events.push(m[2]);
      else if (m[0] === 'EOSE') return { events, eose: true };
      else {
        const err = new Error(`subscription "${subId}" CLOSED by the relay: ${m[2]}`);
        err.closed = m[2];
        err.subId = subId;
        throw err;
      }
    }
  }

  req(subId, ...filters) { return this.reqWith(subId, filters); }

  /** REQ with a fresh sub id, CLOSE after EOSE; resolves to the stored events. */
  async query(...filters) {
    const id = `q${++subCounter}-${randomHex(3)}`;
    const { events } = await this.reqWith(id, filters);
    if (this.isOpen) this.send(['CLOSE', id]);
    return events;
  }

  /** REQ expected to be refused; resolves to the CLOSED reason, throws if EOSE comes instead. */
  async reqClosed(subId, ...filters) {
    let r;
    try {
      r = await this.reqWith(subId, filters);
    } catch (e) {
      if (e.closed !== undefined) return e.closed;
      throw e;
    }
    throw new Error(`expected ["CLOSED","${subId}",…] but the relay answered EOSE with ${r.events.length} events`);
  }

  /** Close the connection (code 1000), terminate if the relay does not answer within timeoutMs. */
  async close(timeoutMs = 3000) {
    if (this.closeInfo) return this.closeInfo;
    try {
      if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
      return await withTimeout(this.closed, timeoutMs, 'close handshake');
    } catch {
      this.ws.terminate();
      return withTimeout(this.closed, 2000, 'terminate').catch(() => null);
    }
  }
}

/**
 * Open a WebSocket to url. permessage-deflate is off by default so that
 * byte counts on the wire are what the test wrote.
 */
export function connect(url, { timeoutMs = 5000, perMessageDeflate = false, ...wsOpts } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate, handshakeTimeout: timeoutMs, ...wsOpts });
    let client = null;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`connect ${url}: timed out after ${timeoutMs} ms`));
    }, timeoutMs + 500);
    // Attach handlers before 'open' so no early message is missed.
    client = new Client(ws, url);
    ws.once('open', () => { clearTimeout(timer); resolve(client); });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer);
      reject(new Error(`connect ${url}: HTTP ${res.statusCode} instead of a WebSocket upgrade`));
      ws.terminate();
    });
    ws.once('close', () => { clearTimeout(timer); reject(new Error(`connect ${url}: closed before open${client.lastError ? `: ${client.lastError.message}` : ''}`)); });
    ws.once('error', (e) => { clearTimeout(timer); reject(new Error(`connect ${url}: ${e.message}`)); });
  });
}

// ------------------------------------------------------------------- events

/** A fresh key pair: { sk (Uint8Array), pk (hex) }. */
export function newKey() {
  const sk = generateSecretKey();
  return { sk, pk: getPublicKey(sk) };
}

/** A signed event as a plain object (no nostr-tools symbol properties). */
export function makeEvent(key, { kind = 1, content = '', tags = [], created_at = now() } = {}) {
  const e = finalizeEvent({ kind, content, tags, created_at }, key.sk);
  return { id: e.id, pubkey: e.pubkey, created_at: e.created_at, kind: e.kind, tags: e.tags, content: e.content, sig: e.sig };
}

export const ids = (events) => events.map((e) => e.id);
export const sortedIds = (events) => ids(events).sort();
/** Newest first; ties by id ascending (only for building expectations). */
export const newestFirst = (events) => [...events].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));

// ----------------------------------------------------------- node:test glue

/**
 * Give the calling test file its own PostgreSQL cluster and relay:
 * started in before(), stopped in after() (the relay must exit 0 on SIGTERM).
 *
 *   const ctx = useRelay();
 *   ctx.test('name', async (t) => { const c = await ctx.connect(); ... });
 *
 * ctx.pg, ctx.relay are set once before() has run. ctx.connect() opens a
 * client that is closed in after(). ctx.test() wraps node:test's test(): a
 * per-test timeout, and the relay log tail printed when the test fails.
 */
export function useRelay(opts = {}) {
  const ctx = { pg: null, relay: null, clients: new Set(), opts };

  before(async () => {
    if (!fs.existsSync(RELAY_BIN)) {
      throw new Error(`relay binary ${RELAY_BIN} does not exist: run \`make\` in ${REPO} or set NOSTREAM_BIN`);
    }
    ctx.pg = await startPostgres(opts.pg);
    ctx.relay = await startRelay(ctx.pg, opts);
  }, { timeout: 90000 });

  after(async () => {
    await Promise.all([...ctx.clients].map((c) => c.close(2000).catch(() => {})));
    let stopErr = null;
    try {
      if (ctx.relay && ctx.relay.crashed) {
        throw new Error(`the relay exited unexpectedly during the tests (code ${ctx.relay.crashed.code}, signal ${ctx.relay.crashed.signal})`);
      }
      if (ctx.relay && ctx.relay.isRunning()) await ctx.relay.stop();
    } catch (e) {
      stopErr = e;
    } finally {
      if (ctx.relay) await ctx.relay.dispose();
      if (ctx.pg) await ctx.pg.stop().catch((e) => process.stderr.write(`pg.stop: ${e.message}\n`));
    }
    if (stopErr) throw stopErr;
  }, { timeout: 60000 });

  ctx.connect = async (o) => {
    if (!ctx.relay) throw new Error('relay not started (before hook failed?)');
    const c = await connect(ctx.relay.url, o);
    ctx.clients.add(c);
    c.closed.then(() => ctx.clients.delete(c));
    return c;
  };

  /** Replace ctx.relay with a new relay process on the same database. */
  ctx.startRelayAgain = async (o = {}) => {
    ctx.relay = await startRelay(ctx.pg, { ...opts, ...o });
    return ctx.relay;
  };

  ctx.test = (name, topts, fn) => {
    if (typeof topts === 'function') { fn = topts; topts = {}; }
    return test(name, { timeout: 30000, ...topts }, async (t) => {
      try {
        if (ctx.relay && ctx.relay.crashed) {
          throw new Error(`the relay is not running: it exited earlier (code ${ctx.relay.crashed.code}, signal ${ctx.relay.crashed.signal})`);
        }
        await fn(t);
      } catch (e) {
        const where = ctx.relay ? ctx.relay.logFile : '(relay not started)';
        process.stderr.write(`\n*** test "${name}" failed: ${e && e.message}\n` +
          (ctx.relay ? `--- relay log tail (${where}) ---\n${ctx.relay.logTail(4000)}\n--- end of relay log ---\n` : ''));
        throw e;
      }
    });
  };

  return ctx;
}

// ------------------------------------------------------- storage nodes

/**
 * Makes `storage` (a startPostgres() cluster) a storage node of `coord`,
 * as scripts/add-storage-node.sh would, minus the Yggdrasil transport:
 * an `events_data` table there, a foreign server `storage_<name>` and a
 * foreign table `events_<name>` here, attached to `events` for
 * [MINVALUE, below) while events_hot keeps [below, MAXVALUE). The relay
 * must have applied its migrations on `coord` already.
 */
export async function attachStorageNode(coord, storage, { name, below }) {
  await storage.psql(`
    CREATE TABLE events_data (
      id uuid NOT NULL DEFAULT gen_random_uuid(), event_id bytea NOT NULL, event_pubkey bytea NOT NULL,
      event_kind integer NOT NULL, event_created_at integer NOT NULL, event_content text NOT NULL,
      event_tags jsonb NOT NULL DEFAULT '[]'::jsonb, event_signature bytea NOT NULL,
      first_seen timestamp NOT NULL DEFAULT now(), deleted_at timestamp, event_deduplication jsonb,
      remote_address inet, expires_at integer);
    CREATE UNIQUE INDEX events_data_event_id_idx ON events_data (event_id);
    ALTER TABLE events_data OWNER TO ${DB_USER};`);
  await coord.psql(`
    CREATE SERVER storage_${name} FOREIGN DATA WRAPPER postgres_fdw
      OPTIONS (host '${storage.socketDir}', port '${storage.port}', dbname '${DB_NAME}',
               async_capable 'true', fetch_size '1000', batch_size '100', connect_timeout '5');
    CREATE USER MAPPING FOR ${DB_USER} SERVER storage_${name}
      OPTIONS (user '${DB_USER}', password_required 'false');
    CREATE FOREIGN TABLE events_${name} (
      id uuid NOT NULL, event_id bytea NOT NULL, event_pubkey bytea NOT NULL, event_kind integer NOT NULL,
      event_created_at integer NOT NULL, event_content text NOT NULL, event_tags jsonb NOT NULL,
      event_signature bytea NOT NULL, first_seen timestamp NOT NULL, deleted_at timestamp,
      event_deduplication jsonb, remote_address inet, expires_at integer)
      SERVER storage_${name} OPTIONS (schema_name 'public', table_name 'events_data');
    ALTER FOREIGN TABLE events_${name} ALTER COLUMN id SET DEFAULT gen_random_uuid(),
      ALTER COLUMN event_tags SET DEFAULT '[]'::jsonb, ALTER COLUMN first_seen SET DEFAULT now();
    ALTER FOREIGN TABLE events_${name} OWNER TO ${DB_USER};
    ALTER TABLE events DETACH PARTITION events_hot;
    ALTER TABLE events ATTACH PARTITION events_hot FOR VALUES FROM (${below}) TO (MAXVALUE);
    ALTER TABLE events ATTACH PARTITION events_${name} FOR VALUES FROM (MINVALUE) TO (${below});`);
}

// ------------------------------------------------------- hostile clients
//
// For tests/integration/9[5-7]-hostile*: a relay's process figures, a
// well-behaved client that times its round trips while an attack runs, and
// a raw WebSocket client that can write what `ws` refuses to (frames that
// declare more than they carry, hand-made compressed frames). Attackers
// connect from other loopback addresses (127.0.0.2, ...) so that per-address
// limits apply to them and not to the well-behaved client on 127.0.0.1.

/**
 * True when the relay under test is the ASan+UBSan build (make
 * integration-san): its memory figures are ASan's (freed memory waits in
 * a quarantine of up to 256 MiB), so tests skip their memory bounds.
 */
export const RELAY_SANITIZED = /-san$/.test(path.basename(RELAY_BIN)) || Boolean(process.env.ASAN_OPTIONS);

/** The resident memory of process pid in KiB (VmRSS, /proc/<pid>/status). */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** CPU seconds (user + system) process pid has used (/proc/<pid>/stat, 100 ticks/s). */
export function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15)
}

/** The p-th percentile (0..100, nearest rank) of numbers; NaN when empty. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * A well-behaved client on its own connection (from 127.0.0.1): publishes
 * a small event and waits for its OK, then asks for it by id and waits for
 * EOSE, again and again with pauseMs between round trips, timing each. Any
 * failure (a timeout, OK false, a disconnect) is recorded, not thrown.
 * stop() ends the loop and resolves to { samples, p50, p99, max, errors }.
 */
export async function startProbe(url, { pauseMs = 20, timeoutMs = 5000 } = {}) {
  const c = await connect(url, { timeoutMs });
  const key = newKey();
  const times = [];
  const errors = [];
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      try {
        const ev = makeEvent(key, { content: `probe ${n++} ${randomHex(4)}` });
        let t0 = performance.now();
        const ok = await c.publish(ev, timeoutMs);
        times.push(performance.now() - t0);
        if (ok[2] !== true) errors.push(`OK false: ${ok[3]}`);
        t0 = performance.now();
        const got = await c.query({ ids: [ev.id] });
        times.push(performance.now() - t0);
        if (got.length !== 1) errors.push(`REQ by id returned ${got.length} events`);
      } catch (e) {
        errors.push(e.message);
        if (!c.isOpen) return;
      }
      await sleep(pauseMs);
    }
  })();
  return {
    client: c,
    async stop() {
      running = false;
      await withTimeout(loop, timeoutMs * 2 + 1000, 'the probe loop to end');
      await c.close();
      const r = (x) => Math.round(x * 10) / 10;
      return { samples: times.length, p50: r(percentile(times, 50)), p99: r(percentile(times, 99)),
        max: r(Math.max(...times)), errors };
    },
  };
}

/**
 * A raw WebSocket client on a plain TCP socket from localAddress: does the
 * handshake itself (headers: extra request header lines), then lets the
 * test write any frame. Frames are masked with the key 0 (the payload goes
 * as is). Resolves once the relay answered 101; rejects otherwise.
 * Returns { sock, response (the 101 head), messages (text frames
 * received, parsed when JSON), closeFrame ({code, reason} or null),
 * ended (a promise: the socket closed), frame(opts), write(buf) }.
 * frame({ opcode = 1, fin = true, rsv1 = false, payload, length }): writes
 * one frame whose header declares `length` (default payload.length) bytes.
 */
export function rawWebSocket(relay, { localAddress, headers = [], timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port: relay.port, localAddress });
    const ws = { sock, response: '', messages: [], closeFrame: null, received: 0 };
    ws.ended = new Promise((r) => sock.on('close', r));
    let buf = Buffer.alloc(0);
    let open = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`raw handshake: no 101 within ${timeoutMs} ms`)); }, timeoutMs);
    sock.on('error', (e) => { ws.error = e; });
    sock.on('close', () => { clearTimeout(timer); if (!open) reject(new Error(`raw handshake: closed before 101 (${ws.error ? ws.error.message : 'no error'})`)); });
    sock.on('connect', () => {
      sock.write(['GET / HTTP/1.1', `Host: 127.0.0.1:${relay.port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
        ...headers, '', ''].join('\r\n'));
    });
    sock.on('data', (d) => {
      ws.received += d.length;
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        ws.response = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        if (!/^HTTP\/1\.1 101/.test(ws.response)) { sock.destroy(); return; }
        open = true;
        clearTimeout(timer);
        resolve(ws);
      }
      // Server frames: unmasked; lengths up to 64 bits (ours stay small).
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f, off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const op = buf[0] & 0x0f;
        let payload = buf.subarray(off, off + len);
        // Compressed (RSV1): readable when the client asked for server_no_context_takeover.
        if (buf[0] & 0x40) payload = zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        buf = buf.subarray(off + len);
        if (op === 8) {
          ws.closeFrame = { code: payload.length >= 2 ? payload.readUInt16BE(0) : null, reason: payload.subarray(2).toString('utf8') };
          ws.frame({ opcode: 8, payload: Buffer.from(payload.subarray(0, 2)) }); // echo, as a client must
        } else if (op === 1) {
          const t = payload.toString('utf8');
          try { ws.messages.push(JSON.parse(t)); } catch { ws.messages.push(t); }
        }
      }
    });
    ws.write = (b) => { if (!sock.destroyed) sock.write(b); };
    ws.frame = ({ opcode = 1, fin = true, rsv1 = false, payload = Buffer.alloc(0), length } = {}) => {
      const n = length === undefined ? payload.length : length;
      const head = [((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode)];
      let ext = Buffer.alloc(0);
      if (n < 126) head.push(0x80 | n);
      else if (n < 65536) { head.push(0x80 | 126); ext = Buffer.alloc(2); ext.writeUInt16BE(n); }
      else { head.push(0x80 | 127); ext = Buffer.alloc(8); ext.writeBigUInt64BE(BigInt(n)); }
      ws.write(Buffer.concat([Buffer.from(head), ext, Buffer.alloc(4), payload])); // mask key 0
    };
  });
}

/**
 * For the hostile-client tests: runs attack() while a well-behaved client
 * (startProbe) measures round trips on ctx's relay, samples the relay's RSS
 * every 50 ms, prints one `hostile <name> good_p50_ms=…` line and checks
 * the common bounds: the relay is alive, its RSS grew by less than
 * rssBoundKiB (not under ASan, whose quarantine keeps freed memory), the
 * probe saw no error and a p99 under p99Ms. Returns what attack() returned.
 */
export async function underAttack(ctx, name, attack, { rssBoundKiB = 64 * 1024, minMs = 1500, p99Ms = 250 } = {}) {
  const pid = ctx.relay.pid;
  const rss0 = rssKiB(pid);
  const cpu0 = cpuSeconds(pid);
  let peak = rss0;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssKiB(pid)); } catch { /* gone */ } }, 50);
  const probe = await startProbe(ctx.relay.url);
  const t0 = Date.now();
  let result;
  try {
    result = await attack();
    await sleep(minMs - (Date.now() - t0)); // enough round trips to speak of a p99
  } finally {
    clearInterval(sampler);
  }
  const p = await probe.stop();
  const cpu = cpuSeconds(pid) - cpu0;
  console.log(`hostile ${name} good_p50_ms=${p.p50} good_p99_ms=${p.p99} good_max_ms=${p.max} samples=${p.samples} ` +
    `relay_rss_kib=${rss0}->${rssKiB(pid)} peak_kib=${peak} relay_cpu_s=${cpu.toFixed(2)} attack_ms=${Date.now() - t0}`);
  assert.ok(ctx.relay.isRunning(), 'the relay is still running');
  assert.deepEqual(p.errors, [], 'the well-behaved client saw no error');
  assert.ok(p.samples >= 10, `the probe ran (${p.samples} round trips)`);
  assert.ok(p.p99 < p99Ms, `well-behaved p99 ${p.p99} ms during ${name} (want < ${p99Ms})`);
  if (!RELAY_SANITIZED) {
    assert.ok(peak - rss0 < rssBoundKiB, `relay RSS grew by ${peak - rss0} KiB during ${name} (want < ${rssBoundKiB})`);
  }
  return result;
}
