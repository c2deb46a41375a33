// HTTP side: /healthz, NIP-11 relay information document, plain page.
import assert from 'node:assert/strict';
import { useRelay, httpGet } from './harness.mjs';

const ctx = useRelay();

ctx.test('GET /healthz answers 200 "ok"', async () => {
  const r = await httpGet(`${ctx.relay.httpUrl}/healthz`);
  assert.equal(r.status, 200);
  assert.equal(r.body.trim(), 'ok');
});

ctx.test('NIP-11 document on GET / with Accept: application/nostr+json', async () => {
  const r = await httpGet(`${ctx.relay.httpUrl}/`, { headers: { Accept: 'application/nostr+json' } });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] || '', /json/, 'content-type should be (nostr+)json');
  assert.equal(r.headers['access-control-allow-origin'], '*', 'CORS header Access-Control-Allow-Origin: *');
  let doc;
  assert.doesNotThrow(() => { doc = JSON.parse(r.body); }, `body is not JSON: ${r.body.slice(0, 200)}`);
  assert.equal(typeof doc, 'object');
  for (const f of ['name', 'description', 'software', 'version']) {
    assert.equal(typeof doc[f], 'string', `${f} should be a string`);
  }
  for (const f of ['pubkey', 'contact']) {
    assert.ok(doc[f] === undefined || typeof doc[f] === 'string', `${f} should be a string when present`);
  }
  assert.ok(Array.isArray(doc.supported_nips), 'supported_nips should be an array');
  for (const n of [1, 9, 11, 40]) assert.ok(doc.supported_nips.includes(n), `supported_nips should include ${n}`);
  assert.ok(doc.supported_nips.every(Number.isInteger), 'supported_nips should be integers');
  const l = doc.limitation;
  assert.equal(typeof l, 'object', 'limitation object');
  for (const f of ['max_message_length', 'max_subscriptions', 'max_filters', 'max_limit', 'max_subid_length', 'min_pow_difficulty']) {
    assert.ok(Number.isInteger(l[f]) && l[f] >= 0, `limitation.${f} should be a non-negative integer, got ${JSON.stringify(l[f])}`);
  }
  assert.ok(l.max_message_length > 0 && l.max_subscriptions > 0 && l.max_filters > 0 && l.max_limit > 0 && l.max_subid_length > 0);
  assert.equal(l.auth_required, false);
  assert.equal(l.payment_required, false);
});

ctx.test('NIP-11 values follow settings.yaml (limits.client.subscription)', async () => {
  const r = await httpGet(`${ctx.relay.httpUrl}/`, { headers: { Accept: 'application/nostr+json' } });
  const l = JSON.parse(r.body).limitation;
  // TEST_SETTINGS_YAML: maxSubscriptions 10, maxFilters 10, maxLimit 5000, maxSubscriptionIdLength 256
  assert.equal(l.max_subscriptions, 10);
  assert.equal(l.max_filters, 10);
  assert.equal(l.max_limit, 5000);
  assert.equal(l.max_subid_length, 256);
});

ctx.test('GET / without the nostr Accept header is a plain page, not the NIP-11 JSON', async () => {
  const r = await httpGet(`${ctx.relay.httpUrl}/`, { headers: { Accept: 'text/html' } });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] || '', /^text\/(html|plain)/);
  assert.ok(r.body.length > 0);
  assert.ok(!r.body.includes('supported_nips'), 'the plain page must not be the NIP-11 document');
});
