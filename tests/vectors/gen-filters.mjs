// Generates tests/vectors/filters.json: filter-matching vectors for the relay's
// C core, with the expected matches computed by nostr-tools matchFilter /
// matchFilters.
//
//   cd tests && node vectors/gen-filters.mjs
//
// Deterministic: seeded PRNG, keys derived from the seed, explicit created_at,
// BIP-340 auxiliary randomness from the PRNG. See README.md in this folder.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getPublicKey, validateEvent, verifyEvent } from 'nostr-tools/pure';
import { matchFilter, matchFilters } from 'nostr-tools/filter';
import { Rng, finalizeDeterministic, secretKey } from './lib.mjs';

const SEED = 'nostr-relay/filters/v1';
const OUT = fileURLToPath(new URL('./filters.json', import.meta.url));

const N_EVENTS = 400;
const N_FILTERS = 3000;
const N_GROUPS = 500;

const rng = new Rng(SEED);
const SK = Array.from({ length: 8 }, (_, i) => secretKey(SEED, i));
const AUTHORS = SK.map((sk) => getPublicKey(sk));
const STRANGER = getPublicKey(secretKey(SEED, 99)); // never signs an event

const KINDS = [0, 1, 3, 5, 7, 1984, 30023, 40000, 65535];
const T0 = 1700000000;
const T1 = 1700000050;
const EVENT_LETTERS = ['e', 'p', 't', 'd', 'a', 'x', 'Z'];
const FILTER_LETTERS = [...EVENT_LETTERS, 'q']; // no event has a "q" tag

// Tag values: fixed strings plus (filled in below) ids of the first events and
// two author pubkeys.
const VALUES = ['', 'nostr', 'Nostr', 'bitcoin', 'a', 'x y'];
const N_SEED_EVENTS = 4; // ids of these events join the value pool

// ---------------------------------------------------------------------------
// Events

function randTag() {
  const letter = rng.chance(0.9) ? rng.pick(EVENT_LETTERS) : rng.pick(['ee', 'E', 'z', 'tt', '']);
  const r = rng.float();
  if (r < 0.1) return [letter]; // one element: never matches a "#x" filter
  const tag = [letter, rng.pick(VALUES)];
  if (r > 0.75) {
    // extra elements; only position 1 counts for matching, so put pool values
    // there to catch implementations that look further
    const extra = rng.range(1, 3);
    for (let i = 0; i < extra; i++) tag.push(rng.chance(0.6) ? rng.pick(VALUES) : rng.pick(['wss://r.example', 'reply', 'root']));
  }
  return tag;
}

const events = [];
for (let i = 0; i < N_EVENTS; i++) {
  const k = rng.int(SK.length);
  const kind = rng.pick(KINDS);
  const created_at = rng.range(T0, T1);
  const tags = [];
  if (i >= N_SEED_EVENTS) {
    const n = rng.pick([0, 1, 1, 2, 2, 3, 4, 6]);
    for (let j = 0; j < n; j++) tags.push(randTag());
    if (tags.length && rng.chance(0.15)) tags.push([...rng.pick(tags)]); // repeated tag
  } else {
    tags.push(['t', 'seed'], ['p', AUTHORS[(k + 1) % AUTHORS.length]]);
  }
  const content = rng.pick(['', 'gm', 'hello', 'filter test', `event ${i}`, 'ünï ☕']);
  const ev = finalizeDeterministic({ kind, created_at, tags, content }, SK[k], rng);
  events.push(ev);
  if (i === N_SEED_EVENTS - 1) {
    VALUES.push(...events.map((e) => e.id), AUTHORS[0], AUTHORS[1]);
  }
}

// sanity: every event is valid for nostr-tools and ids are unique
for (const ev of events) {
  const fresh = JSON.parse(JSON.stringify(ev));
  if (!validateEvent(fresh) || !verifyEvent(fresh)) throw new Error('generated an invalid event');
}
if (new Set(events.map((e) => e.id)).size !== events.length) throw new Error('duplicate event ids');

const ALL_IDS = events.map((e) => e.id);
const CREATED = [...new Set(events.map((e) => e.created_at))];

// ---------------------------------------------------------------------------
// Filters

const nonexistentId = () => rng.hex(32);

function randTime() {
  // mostly exactly an event's created_at so equality is exercised
  const r = rng.float();
  if (r < 0.6) return rng.pick(CREATED);
  if (r < 0.9) return rng.range(T0 - 3, T1 + 3);
  return rng.pick([1, T0 - 1000, T1 + 1000, 2147483647]);
}

function randFilter() {
  if (rng.chance(0.05)) return {};
  for (;;) {
    const f = randConditions();
    // keep the share of {} (and of limit-only filters, which also match
    // everything) at the 5% above: re-roll filters without any condition
    if (Object.keys(f).some((k) => k !== 'limit')) return f;
  }
}

function randConditions() {
  const f = {};
  if (rng.chance(0.15)) {
    f.ids = Array.from({ length: rng.range(1, 4) }, () => (rng.chance(0.9) ? rng.pick(ALL_IDS) : nonexistentId()));
  }
  if (rng.chance(0.4)) {
    f.authors = Array.from({ length: rng.range(1, 4) }, () => (rng.chance(0.95) ? rng.pick(AUTHORS) : STRANGER));
  }
  if (rng.chance(0.45)) {
    f.kinds = Array.from({ length: rng.range(1, 4) }, () => (rng.chance(0.9) ? rng.pick(KINDS) : rng.pick([2, 4, 10000, 30000])));
  }
  const nTags = rng.pick([0, 0, 0, 1, 1, 2]);
  for (const letter of rng.sample(FILTER_LETTERS, nTags)) {
    f[`#${letter}`] = Array.from({ length: rng.range(1, 3) }, () => rng.pick(VALUES));
  }
  if (rng.chance(0.3)) f.since = rng.chance(0.03) ? 0 : randTime();
  if (rng.chance(0.3)) f.until = randTime(); // never 0: see README
  if (rng.chance(0.2)) f.limit = rng.pick([1, 2, 10, 100, 500, 5000]);
  // about 3% of filters carry an empty array
  if (rng.chance(0.03)) {
    const key = rng.pick(['ids', 'authors', 'kinds', `#${rng.pick(FILTER_LETTERS)}`]);
    f[key] = [];
  }
  return f;
}

// Shuffle keys so implementations don't depend on key order, but keep it
// deterministic; duplicate values inside an array are allowed (and happen).
function shuffleKeys(f) {
  const keys = rng.shuffle(Object.keys(f));
  const o = {};
  for (const k of keys) o[k] = f[k];
  return o;
}

const filters = [];
for (let i = 0; i < N_FILTERS; i++) filters.push(shuffleKeys(randFilter()));

const matches = filters.map((f) => {
  const m = [];
  events.forEach((ev, j) => {
    if (matchFilter(f, ev)) m.push(j);
  });
  return m;
});

// ---------------------------------------------------------------------------
// Groups (one REQ with several filters: OR of the filters)

const groups = [];
for (let g = 0; g < N_GROUPS; g++) {
  const idx = Array.from({ length: rng.range(1, 4) }, () => rng.int(N_FILTERS));
  const fs = idx.map((i) => filters[i]);
  const m = [];
  events.forEach((ev, j) => {
    if (matchFilters(fs, ev)) m.push(j);
  });
  groups.push({ filters: idx, matches: m });
}

// ---------------------------------------------------------------------------
// Output: one JSON object, one array element per line for readable diffs.

const lines = (arr) => arr.map((x) => '  ' + JSON.stringify(x)).join(',\n');
const outText =
  '{\n' +
  '"events": [\n' + lines(events.map((e) => JSON.stringify(e))) + '\n],\n' +
  '"filters": [\n' + lines(filters) + '\n],\n' +
  '"matches": [\n' + lines(matches) + '\n],\n' +
  '"groups": [\n' + lines(groups) + '\n]\n' +
  '}\n';
JSON.parse(outText); // must be valid JSON
writeFileSync(OUT, outText);

// ---------------------------------------------------------------------------
// Statistics

const pairs = matches.reduce((a, m) => a + m.length, 0);
const anyMatch = matches.filter((m) => m.length > 0).length;
const several = matches.filter((m) => m.length >= 5).length;
const partial = matches.filter((m) => m.length > 0 && m.length < N_EVENTS).length;
const emptyFilters = filters.filter((f) => Object.keys(f).length === 0).length;
const emptyArr = filters.filter((f) => Object.values(f).some((v) => Array.isArray(v) && v.length === 0)).length;
const gAny = groups.filter((g) => g.matches.length > 0).length;
console.log(
  `filters.json: ${events.length} events, ${filters.length} filters (${emptyFilters} {}, ${emptyArr} with an empty array), ${groups.length} groups\n` +
    `  matching pairs: ${pairs} of ${filters.length * events.length} (${((100 * pairs) / (filters.length * events.length)).toFixed(1)}%)\n` +
    `  filters matching >=1 event: ${anyMatch} (${((100 * anyMatch) / filters.length).toFixed(1)}%), >=5 events: ${several}, ` +
    `some but not all events: ${partial}\n` +
    `  groups matching >=1 event: ${gAny}; ${Buffer.byteLength(outText)} bytes`,
);
