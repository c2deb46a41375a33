// Storage layer: on a table of 1M events, the relay's SQL for the common
// REQ shapes (ids; authors+kinds; #e; #p+limit; kinds+since; authors+limit;
// #p of two keys+kinds+limit) is answered with an index, never a full scan
// (build/explain_plans does the loading and the EXPLAINs; see
// tests/integration/explain_plans.c).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { useRelay, REPO, DB_USER, DB_NAME } from './harness.mjs';

const ctx = useRelay();

ctx.test('common REQ shapes use an index on 1M events', { timeout: 600000 }, async () => {
  const events = process.env.EXPLAIN_EVENTS || '1000000';
  const r = spawnSync(path.join(REPO, 'build', 'explain_plans'), [events], {
    env: { ...process.env, DB_HOST: ctx.pg.socketDir, DB_PORT: String(ctx.pg.port), DB_USER, DB_NAME },
    encoding: 'utf8',
    timeout: 590000,
  });
  process.stdout.write(r.stdout.split('\n').map((l) => `# ${l}`).join('\n') + '\n');
  assert.equal(r.status, 0, `explain_plans failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^7 passed, 0 failed$/m);
});
