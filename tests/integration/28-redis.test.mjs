// Settings layer, shared limits: with REDIS_HOST set, two relay processes
// on one database share their rate limits through a real Redis server, as
// relays behind one load balancer must. Without Redis each process would
// allow the full rate on its own.
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgres, startRelay, connect, newKey, makeEvent, isNotice, waitFor, TEST_SETTINGS_YAML } from './harness.mjs';

const settings = TEST_SETTINGS_YAML
  .replace(/  message:\n    rateLimits: \[\]\n    ipWhitelist:\n(      - .*\n)+/,
    '  message:\n    rateLimits:\n      - period: 20000\n        rate: 8\n    ipWhitelist: []\n')
  .replace(/    rateLimits: \[\]\n    whitelists:\n      pubkeys: \[\]\n      ipAddresses:\n(        - .*\n)+/,
    '    rateLimits:\n      - kinds: [1]\n        period: 60000\n        rate: 3\n    whitelists:\n      pubkeys: []\n      ipAddresses: []\n');

let pg, redis, dir, a, b;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nostream-it-redis-'));
  const sock = path.join(dir, 'redis.sock');
  redis = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700',
    '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await waitFor(() => fs.existsSync(sock), { timeoutMs: 10000, what: 'redis-server socket' });
  pg = await startPostgres();
  a = await startRelay(pg, { settingsYaml: settings, env: { REDIS_HOST: sock } });
  b = await startRelay(pg, { settingsYaml: settings, env: { REDIS_HOST: sock } });
}, { timeout: 90000 });

after(async () => {
  for (const r of [a, b]) if (r) { await r.stop().catch(() => {}); await r.dispose(); }
  if (pg) await pg.stop();
  if (redis) redis.kill('SIGTERM');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, { timeout: 60000 });

test('message and event limits are shared by two relay processes', { timeout: 60000 }, async () => {
  const ca = await connect(a.url);
  const cb = await connect(b.url);
  const k = newKey();
  // Events: 3 kind-1 per author per minute, across both relays.
  assert.equal((await ca.publish(makeEvent(k, { content: '1' })))[2], true);
  assert.equal((await cb.publish(makeEvent(k, { content: '2' })))[2], true);
  assert.equal((await ca.publish(makeEvent(k, { content: '3' })))[2], true);
  const over = await cb.publish(makeEvent(k, { content: '4' }));
  assert.equal(over[2], false, 'the 4th event, on the other relay, is over the shared limit');
  assert.match(over[3], /^rate-limited: /);
  // Messages: 8 per 20 s per address; 4 were sent above (2 on each), 4 more pass.
  ca.send(['CLOSE', 'x']); cb.send(['CLOSE', 'x']); ca.send(['CLOSE', 'y']); cb.send(['CLOSE', 'y']);
  await ca.expectNone(isNotice, 300);
  await cb.expectNone(isNotice, 10);
  cb.send(['CLOSE', 'z']);
  const n = await cb.next(isNotice, 3000);
  assert.match(n[1], /^rate-limited: /, 'the 9th message overall is refused');
  await ca.close();
  await cb.close();
  assert.doesNotMatch(a.logTail(4000) + b.logTail(4000), /cannot reach Redis/);
});
