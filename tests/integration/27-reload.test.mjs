// Settings layer, reload: a changed settings.yaml is put in force without a
// restart and without dropping connections; a broken one keeps the
// previous settings and the log says why.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { useRelay, httpGet, sleep, waitFor, TEST_SETTINGS_YAML } from './harness.mjs';

const withSubs = (n) => TEST_SETTINGS_YAML.replace('maxSubscriptions: 10', `maxSubscriptions: ${n}`);
const ctx = useRelay({ settingsYaml: withSubs(2) });
const maxSubs = async () => JSON.parse((await httpGet(`${ctx.relay.httpUrl}/`, { headers: { Accept: 'application/nostr+json' } })).body).limitation.max_subscriptions;

ctx.test('a valid change applies to open connections; a broken one is refused and logged', { timeout: 30000 }, async () => {
  const c = await ctx.connect();
  await c.req('a', { kinds: [1] });
  await c.req('b', { kinds: [1] });
  assert.match(await c.reqClosed('c', { kinds: [1] }), /too many subscriptions/);
  assert.equal(await maxSubs(), 2);

  const file = path.join(ctx.relay.configDir, 'settings.yaml');
  fs.writeFileSync(file + '.tmp', withSubs(4));
  fs.renameSync(file + '.tmp', file);
  await waitFor(async () => (await maxSubs()) === 4, { timeoutMs: 10000, what: 'NIP-11 to show the new limit' });
  await c.req('c', { kinds: [1] });
  await c.req('d', { kinds: [1] });
  assert.match(await c.reqClosed('e', { kinds: [1] }), /too many subscriptions/);
  assert.ok(c.isOpen, 'the connection survived the reload');

  fs.writeFileSync(file, withSubs(4).replace('maxSubscriptions: 4', 'maxSubscriptions: lots'));
  await waitFor(() => /keeping the previous settings.*maxSubscriptions/.test(ctx.relay.logTail(20000)),
    { timeoutMs: 10000, what: 'the relay to log the broken file' });
  await sleep(300);
  assert.equal(await maxSubs(), 4, 'previous settings kept');
  assert.ok(c.isOpen);
});
