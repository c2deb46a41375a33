// Generates tests/vectors/events.jsonl: event-validation vectors for the relay's
// C core, cross-checked against nostr-tools.
//
//   cd tests && node vectors/gen-events.mjs
//
// Deterministic: seeded PRNG, keys derived from the seed, explicit created_at,
// BIP-340 auxiliary randomness from the PRNG. See README.md in this folder.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getEventHash, getPublicKey, validateEvent, verifyEvent } from 'nostr-tools/pure';
import {
  Rng,
  bytesToHex,
  finalizeDeterministic,
  hexToBytes,
  nip01String,
  schnorrVerify,
  secretKey,
  serializeNip01,
  serializeStringify,
  serializeWith,
  sha256Hex,
  signOverSerialization,
  stringifyString,
} from './lib.mjs';

const SEED = 'nostr-relay/events/v1';
const OUT = fileURLToPath(new URL('./events.jsonl', import.meta.url));

const rng = new Rng(SEED);
const SK = Array.from({ length: 8 }, (_, i) => secretKey(SEED, i));
const PK = SK.map((sk) => getPublicKey(sk));

// ---------------------------------------------------------------------------
// Deviation texts (expect_valid != lib_valid)

const DEV = {
  emptyTag:
    'nostr-tools validateEvent accepts an empty tag []; the relay requires every tag to have at least one element',
  nul: 'nostr-tools accepts U+0000 in strings; the relay rejects it because PostgreSQL text/jsonb cannot store NUL',
  createdAt:
    "nostr-tools only checks typeof created_at === 'number'; the relay requires an integer in 0..2147483647",
  createdAtText:
    'JSON.parse reads this number as an integer so nostr-tools accepts it; the relay requires integer syntax (no fraction, no exponent) for created_at',
  kind: "nostr-tools only checks typeof kind === 'number'; the relay requires an integer in 0..65535",
  kindText:
    'JSON.parse reads this number as an integer so nostr-tools accepts it; the relay requires integer syntax (no fraction, no exponent) for kind',
  sigCase:
    'nostr-tools hex-decodes sig with @noble/hashes hexToBytes, which accepts upper-case A-F; the relay requires lower-case hex',
  verbatim:
    'id is the hash of the NIP-01 serialization (control characters written verbatim); nostr-tools only recomputes the JSON.stringify form (\\u00XX escapes); the relay accepts either form',
};

// ---------------------------------------------------------------------------
// Model of the C core's rules, used to cross-check every hand-written
// expectation (a mismatch aborts the generator).

const FIELDS = ['id', 'pubkey', 'created_at', 'kind', 'tags', 'content', 'sig'];
const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

function cModel(o) {
  const bad = (reason) => ({ valid: false, reason });
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return bad('event');
  for (const f of FIELDS) if (!Object.prototype.hasOwnProperty.call(o, f)) return bad(f);
  if (typeof o.id !== 'string' || !HEX64.test(o.id)) return bad('id');
  if (typeof o.pubkey !== 'string' || !HEX64.test(o.pubkey)) return bad('pubkey');
  if (typeof o.sig !== 'string' || !HEX128.test(o.sig)) return bad('sig');
  if (!Number.isInteger(o.created_at) || o.created_at < 0 || o.created_at > 2147483647) return bad('created_at');
  if (!Number.isInteger(o.kind) || o.kind < 0 || o.kind > 65535) return bad('kind');
  if (!Array.isArray(o.tags)) return bad('tags');
  for (const t of o.tags) {
    if (!Array.isArray(t) || t.length === 0) return bad('tags');
    for (const s of t) if (typeof s !== 'string') return bad('tags');
  }
  if (typeof o.content !== 'string') return bad('content');
  if (o.content.includes('\0') || o.tags.some((t) => t.some((s) => s.includes('\0')))) return bad('NUL');
  if (o.id !== sha256Hex(serializeNip01(o)) && o.id !== sha256Hex(serializeStringify(o))) return bad('id');
  if (!schnorrVerify(o.sig, o.id, o.pubkey)) return bad('sig');
  return { valid: true };
}

// ---------------------------------------------------------------------------
// nostr-tools' view

function libValid(text) {
  try {
    const o = JSON.parse(text); // fresh object: verifyEvent caches a symbol on it
    return validateEvent(o) === true && verifyEvent(o) === true;
  } catch {
    return false;
  }
}

function libHash(text) {
  try {
    return getEventHash(JSON.parse(text));
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Vector collection

const vectors = [];
const names = new Set();

// reason === null: expect valid. opts.deviation: why we differ from nostr-tools.
// opts.textLevel: the fault is only visible in the JSON text (number syntax),
// so the object-level model must consider the parsed event valid.
function add(name, text, reason = null, opts = {}) {
  if (names.has(name)) throw new Error(`duplicate vector name: ${name}`);
  names.add(name);
  if (typeof text !== 'string') throw new Error(`${name}: json must be a string`);
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name}: not valid JSON: ${e.message}`);
  }
  const expectValid = reason === null;
  const model = cModel(parsed);
  if (opts.textLevel) {
    if (!model.valid) throw new Error(`${name}: text-level vector must otherwise be valid, model says ${model.reason}`);
  } else if (model.valid !== expectValid || (!expectValid && model.reason !== reason)) {
    throw new Error(`${name}: expectation ${reason ?? 'valid'} disagrees with model ${model.reason ?? 'valid'}`);
  }
  const lv = libValid(text);
  if (lv !== expectValid && !opts.deviation) throw new Error(`${name}: lib_valid=${lv} but expected ${expectValid}, no deviation given`);
  if (lv === expectValid && opts.deviation) throw new Error(`${name}: deviation given but lib agrees`);
  const rec = { name, json: text, lib_valid: lv, lib_hash: libHash(text), expect_valid: expectValid };
  if (!expectValid) rec.expect_reason = reason;
  if (opts.deviation) rec.deviation = opts.deviation;
  vectors.push(rec);
}

// ---------------------------------------------------------------------------
// Building blocks

const tpl = (kind, created_at, tags, content) => ({ kind, created_at, tags, content });
const sign = (t, k = 0) => finalizeDeterministic(t, SK[k], rng);
const text = (ev) => JSON.stringify(ev);
const signNip01 = (t, k = 0) => signOverSerialization(t, SK[k], rng, serializeNip01);

function replaceOnce(s, from, to) {
  const i = s.indexOf(from);
  if (i < 0 || s.indexOf(from, i + 1) >= 0) throw new Error(`replaceOnce: ${from} not found exactly once`);
  return s.slice(0, i) + to + s.slice(i + from.length);
}

function flipBit(hex, bit) {
  const b = hexToBytes(hex);
  b[bit >> 3] ^= 0x80 >> (bit & 7);
  return bytesToHex(b);
}

const hex4 = (n, upper = false) => {
  const h = n.toString(16).padStart(4, '0');
  return upper ? h.toUpperCase() : h;
};
const cp = (n) => String.fromCodePoint(n);
const uName = (n) => 'U+' + n.toString(16).toUpperCase().padStart(4, '0');

// Generic JSON writer so that hand-crafted texts can vary escapes, whitespace
// and key order while staying valid JSON.
function writeJson(v, o = {}) {
  const ws = o.ws || (() => '');
  const str = o.str || stringifyString;
  if (typeof v === 'string') return str(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return '[' + ws() + ']';
    return '[' + ws() + v.map((x) => writeJson(x, o)).join(ws() + ',' + ws()) + ws() + ']';
  }
  const keys = o.order ? o.order(Object.keys(v)) : Object.keys(v);
  const key = o.key || str;
  if (keys.length === 0) return '{' + ws() + '}';
  return (
    '{' +
    ws() +
    keys.map((k) => key(k) + ws() + ':' + ws() + writeJson(v[k], o)).join(ws() + ',' + ws()) +
    ws() +
    '}'
  );
}

// String encoder built per code point; `alt` returns a replacement escape or null.
function encoder(alt) {
  return (s) => {
    let out = '"';
    for (const ch of s) {
      const r = alt(ch);
      out += r ?? JSON.stringify(ch).slice(1, -1);
    }
    return out + '"';
  };
}

const utf16Escapes = (ch, upper) => {
  let r = '';
  for (let i = 0; i < ch.length; i++) r += '\\u' + hex4(ch.charCodeAt(i), upper);
  return r;
};
const encAsciiLower = encoder((ch) => (ch.codePointAt(0) >= 0x80 ? utf16Escapes(ch, false) : null));
const encAsciiUpper = encoder((ch) => (ch.codePointAt(0) >= 0x80 ? utf16Escapes(ch, true) : null));
const encSlash = encoder((ch) => (ch === '/' ? '\\/' : null));
const encAllU = encoder((ch) => utf16Escapes(ch, false));
const encShortAsU = encoder((ch) => ('\n\r\t\b\f"\\'.includes(ch) ? utf16Escapes(ch, false) : null));
const encCtlUpper = encoder((ch) => (ch.codePointAt(0) < 0x20 ? utf16Escapes(ch, true) : null));

const WS = [' ', '\n', '\t', '\r', '  ', '\r\n', '\n\t\t', ' \n '];
const randWs = () => WS[rng.int(WS.length)];

// ---------------------------------------------------------------------------
// Random content

const WORDS = ['hello', 'nostr', 'relay', 'gm', 'bitcoin', 'lorem', 'ipsum', 'zap', 'note', 'test', 'pura', 'vida'];
const SPECIAL = [
  'café', 'naïve', 'Ärger', 'Ωμέγα', 'Привет', 'שלום', 'مرحبا', '漢字', 'かな', 'カナ', '한국어', 'ไทย',
  '😀', '👩‍👩‍👧', '🇩🇪', '𝄞', '𐍈', 'e\u0301', '\u2028', '\u2029', '\ufeff', '\u00a0', '\u200b',
  '\n', '\t', '\r', '"', '\\', '/', '<b>', '&amp;', '{"a":[1,2]}', "it's", '\u007f', '\b', '\f',
  '\u0001', '\u001b[0m', '\u001f', '#nostr', 'https://example.com/a?b=c&d=e', 'nostr:npub1xyz',
];

function randText(maxWords = 12) {
  const n = rng.int(maxWords + 1);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(rng.chance(0.3) ? rng.pick(SPECIAL) : rng.pick(WORDS));
  return parts.join(rng.chance(0.8) ? ' ' : '');
}

const randHex32 = () => rng.hex(32);
const randCreated = () => rng.range(1600000000, 1800000000);

function randTags(max = 5) {
  const n = rng.int(max + 1);
  const tags = [];
  for (let i = 0; i < n; i++) {
    switch (rng.int(6)) {
      case 0: tags.push(['e', randHex32()]); break;
      case 1: tags.push(['p', rng.pick(PK), 'wss://relay.example.com']); break;
      case 2: tags.push(['t', rng.pick(WORDS)]); break;
      case 3: tags.push(['e', randHex32(), '', rng.pick(['root', 'reply', 'mention'])]); break;
      case 4: tags.push([rng.pick(['client', 'alt', 'subject', 'r', 'x', 'Z'])].concat(rng.chance(0.8) ? [randText(4)] : [])); break;
      default: tags.push(['expiration', String(randCreated())]);
    }
  }
  return tags;
}

// ===========================================================================
// 1. Plain valid events of many kinds

function kindTemplate(kind) {
  const created = randCreated();
  switch (kind) {
    case 0:
      return tpl(0, created, [], JSON.stringify({ name: rng.pick(WORDS), about: randText(8), picture: 'https://example.com/p.png' }));
    case 3:
      return tpl(3, created, rng.sample(PK, rng.range(0, 8)).map((p) => (rng.chance(0.5) ? ['p', p] : ['p', p, 'wss://r.example', rng.pick(WORDS)])), rng.chance(0.5) ? '' : '{"wss://r.example":{"read":true,"write":true}}');
    case 5:
      return tpl(5, created, Array.from({ length: rng.range(1, 4) }, () => ['e', randHex32()]).concat(rng.chance(0.5) ? [['k', '1']] : []), rng.chance(0.5) ? '' : 'posted by mistake');
    case 7:
      return tpl(7, created, [['e', randHex32()], ['p', rng.pick(PK)], ['k', '1']], rng.pick(['+', '-', '🤙', ':soapbox:', '❤️', '']));
    case 41:
      return tpl(41, created, [['e', randHex32(), 'wss://r.example', 'root']], JSON.stringify({ name: rng.pick(WORDS), about: randText(5), picture: '' }));
    case 10002:
      return tpl(10002, created, [['r', 'wss://a.example'], ['r', 'wss://b.example', 'read'], ['r', 'wss://c.example/', 'write']], '');
    case 30023:
    case 39999:
    case 30000:
      return tpl(kind, created, [['d', rng.pick(['', 'my-article', 'ünïcode-d', randHex32().slice(0, 8)])], ['title', randText(4)], ['published_at', String(created)], ['t', rng.pick(WORDS)]], '# ' + randText(5) + '\n\n' + randText(40));
    default:
      return tpl(kind, created, randTags(5), randText(20));
  }
}

const MAIN_KINDS = [0, 1, 3, 5, 7, 41, 1000, 10002, 20001, 30023, 39999, 65535];
const MORE_KINDS = [2, 4, 6, 16, 40, 42, 1063, 1311, 1984, 9734, 9735, 10000, 19999, 20000, 29999, 30000, 40000, 65534];
for (const kind of MAIN_KINDS) {
  for (let i = 0; i < 7; i++) add(`valid kind ${kind} #${i}`, text(sign(kindTemplate(kind), rng.int(SK.length))));
}
for (const kind of MORE_KINDS) {
  for (let i = 0; i < 2; i++) add(`valid kind ${kind} #${i}`, text(sign(kindTemplate(kind), rng.int(SK.length))));
}
for (let k = 0; k < SK.length; k++) add(`valid kind 1 signer ${k}`, text(sign(tpl(1, randCreated(), randTags(3), randText(10)), k)));

// addressable with several d-tag shapes
for (const [label, tags] of [
  ['d empty', [['d', '']]],
  ['d only name', [['d']]],
  ['d slug', [['d', 'hello-world']]],
  ['d unicode', [['d', 'Grüße 🌍']]],
  ['d long', [['d', 'x'.repeat(1000)]]],
  ['two d tags', [['d', 'a'], ['d', 'b']]],
  ['no d tag', [['title', 't']]],
]) {
  add(`valid kind 30023 ${label}`, text(sign(tpl(30023, 1700000000, tags, 'article body'), 1)));
}

// ===========================================================================
// 2. Strings: escapes, control characters, unicode

const SHORT_ESC = [['\\n', '\n'], ['\\"', '"'], ['\\\\', '\\'], ['\\r', '\r'], ['\\t', '\t'], ['\\b', '\b'], ['\\f', '\f']];
for (const [label, ch] of SHORT_ESC) {
  add(`content escape ${label}`, text(sign(tpl(1, 1700000100, [], `a${ch}b`))));
  add(`content only ${label}`, text(sign(tpl(1, 1700000101, [], ch))));
  add(`tag value escape ${label}`, text(sign(tpl(1, 1700000102, [['t', `x${ch}y`]], 'tag escape'))));
  add(`tag name escape ${label}`, text(sign(tpl(1, 1700000103, [[`${ch}`, 'v']], 'tag name escape'))));
}
add('content all NIP-01 escapes', text(sign(tpl(1, 1700000104, [['t', '\n"\\\r\t\b\f']], 'x\n"\\\r\t\b\fy\\n'))));
add('content backslash sequences literal', text(sign(tpl(1, 1700000105, [], 'literal \\u00e9 \\n \\/ \\\\'))));

const CTL = [];
for (let c = 1; c <= 0x1f; c++) CTL.push(c);
CTL.push(0x7f);
const SHORT_CODES = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d]);
for (const c of CTL) {
  const ch = cp(c);
  add(`control ${uName(c)} in content`, text(sign(tpl(1, 1700000200 + c, [], `before${ch}after`), 2)));
  add(`control ${uName(c)} in tag value`, text(sign(tpl(1, 1700000300 + c, [['t', `v${ch}`]], 'ctl tag'), 3)));
  if (!SHORT_CODES.has(c) && c !== 0x7f) {
    // nostr-tools and NIP-01 serializations differ for this character
    add(`control ${uName(c)} in content, id over NIP-01 form`, text(signNip01(tpl(1, 1700000400 + c, [], `before${ch}after`), 2)), null, { deviation: DEV.verbatim });
    add(`control ${uName(c)} in tag, id over NIP-01 form`, text(signNip01(tpl(1, 1700000500 + c, [['t', `v${ch}`, `${ch}`]], 'ctl tag'), 3)), null, { deviation: DEV.verbatim });
  }
}
const ALL_CTL = CTL.map(cp).join('');
add('all control chars in content', text(sign(tpl(1, 1700000600, [], ALL_CTL))));
add('all control chars in tags', text(sign(tpl(1, 1700000601, [['t', ALL_CTL], [ALL_CTL]], 'x'))));
add('all control chars, id over NIP-01 form', text(signNip01(tpl(1, 1700000602, [['t', ALL_CTL]], ALL_CTL))), null, { deviation: DEV.verbatim });
add('control chars with upper-case \\u00XX in json text', writeJson(sign(tpl(1, 1700000603, [['t', '\u001f\u001a']], 'a\u001b\u000b\u0001b')), { str: encCtlUpper }));
add('control chars NIP-01 form, upper-case \\u in json text', writeJson(signNip01(tpl(1, 1700000604, [], 'a\u001b\u000bb')), { str: encCtlUpper }), null, { deviation: DEV.verbatim });

const UNI = [
  ['U+2028', '\u2028'], ['U+2029', '\u2029'], ['U+2028 U+2029 together', 'line\u2028para\u2029end'],
  ['emoji', 'gm 😀🎉🔥'], ['emoji ZWJ family', '👩‍👩‍👧‍👦'], ['flag emoji', '🇨🇷🇩🇪🇯🇵'], ['skin tone', '👍🏽'],
  ['astral musical symbol', '𝄞 𝄢'], ['astral gothic', '𐍈𐌰'], ['astral CJK ext B', '𠀀𪚥'],
  ['U+10FFFF', '\u{10FFFF}'], ['U+10000', '\u{10000}'], ['U+FFFF', '\uffff'], ['U+FFFE', '\ufffe'], ['BOM U+FEFF', '\ufeffbom'],
  ['U+0080', '\u0080'], ['U+00A0', 'a\u00a0b'], ['U+07FF', '\u07ff'], ['U+0800', '\u0800'], ['U+D7FF', '\ud7ff'], ['U+E000', '\ue000'],
  ['accented', 'café naïve façade Ärger Øre ñandú'], ['combining', 'e\u0301 a\u0308 n\u0303'],
  ['CJK', '漢字と仮名カタカナ、한국어 中文'], ['cyrillic greek', 'Привет, Γειά σου'], ['RTL', 'שלום مرحبا \u202eRLO'],
  ['zero width', 'a\u200bb\u200cc\u200dd'], ['fullwidth', 'ＡＢＣ１２３'], ['replacement char', '\ufffd'],
];
for (const [label, s] of UNI) {
  add(`unicode ${label} in content`, text(sign(tpl(1, 1700000700, [], s), 4)));
  add(`unicode ${label} in tag`, text(sign(tpl(1, 1700000701, [['t', s], ['subject', `re: ${s}`]], 'unicode tag'), 4)));
}

// ===========================================================================
// 3. Sizes and shapes

const big = 'lorem ipsum dolor sit amet '.repeat(4000).slice(0, 102400);
add('content 100 KiB ascii', text(sign(tpl(1, 1700000800, [], big))));
let bigUni = '';
while (Buffer.byteLength(bigUni) < 100000) bigUni += 'café 漢字 😀 \n\t"\\ ';
add('content ~100 KB multibyte and escapes', text(sign(tpl(1, 1700000801, [], bigUni))));
add('content 20 KiB of control chars', text(sign(tpl(1, 1700000802, [], '\u0001\u001f'.repeat(10240)))));
add('empty content', text(sign(tpl(1, 1700000803, [['t', 'x']], ''))));
add('empty content and empty tags', text(sign(tpl(1, 1700000804, [], ''))));
add('empty tags array', text(sign(tpl(1, 1700000805, [], 'no tags'))));
add('1000 tags', text(sign(tpl(1, 1700000806, Array.from({ length: 1000 }, (_, i) => ['t', `tag${i}`]), 'many tags'))));
add('1000 e tags', text(sign(tpl(5, 1700000807, Array.from({ length: 1000 }, () => ['e', randHex32()]), ''))));
add('1000 one-element tags', text(sign(tpl(1, 1700000808, Array.from({ length: 1000 }, (_, i) => [`n${i}`]), ''))));
add('tag with 200 elements', text(sign(tpl(1, 1700000809, [Array.from({ length: 200 }, (_, i) => String(i))], ''))));
add('tag value 10 KiB', text(sign(tpl(1, 1700000810, [['t', 'v'.repeat(10240)]], 'long tag'))));
add('tag value 10 KB multibyte', text(sign(tpl(1, 1700000811, [['t', '漢'.repeat(3414)]], 'long tag'))));
add('tag name 10 KiB', text(sign(tpl(1, 1700000812, [['n'.repeat(10240), 'v']], 'long tag name'))));
add('tag ["e",""]', text(sign(tpl(1, 1700000813, [['e', '']], 'empty tag value'))));
add('tag [""]', text(sign(tpl(1, 1700000814, [['']], 'empty tag name'))));
add('tag ["",""]', text(sign(tpl(1, 1700000815, [['', '']], 'empty name and value'))));
add('tag ["p","","",""]', text(sign(tpl(1, 1700000816, [['p', '', '', '']], ''))));
add('tag one element ["t"]', text(sign(tpl(1, 1700000817, [['t']], 'one-element tag'))));
add('tags one element mixed', text(sign(tpl(1, 1700000818, [['e'], ['p', PK[1]], ['-'], ['t', 'x']], 'mixed'))));
add('protected tag ["-"]', text(sign(tpl(1, 1700000819, [['-']], 'protected'))));
add('repeated identical tags', text(sign(tpl(1, 1700000820, [['t', 'a'], ['t', 'a'], ['t', 'a']], 'dup'))));
add('multi-letter and upper-case tag names', text(sign(tpl(1, 1700000821, [['E', 'x'], ['ee', 'y'], ['Tt', 'z'], ['#t', 'w']], ''))));
add('tag value looks like json', text(sign(tpl(1, 1700000822, [['j', '{"a":[1,{"b":null}]}'], ['k', '[]']], '{}'))));
add('content looks like event json', text(sign(tpl(1, 1700000823, [], JSON.stringify({ id: 'x', sig: 'y', content: 'z', tags: [[]] })))));
add('content with numbers text', text(sign(tpl(1, 1700000824, [['amount', '1e9'], ['n', '-0'], ['f', '1.50']], '0'))));

// created_at and kind boundaries (valid)
for (const [label, c] of [['0', 0], ['1', 1], ['2147483647', 2147483647], ['2147483646', 2147483646], ['1700000000', 1700000000], ['999999999', 999999999], ['1000000000', 1000000000]]) {
  add(`created_at ${label}`, text(sign(tpl(1, c, [], `created_at ${label}`), 5)));
}
for (const k of [0, 1, 9999, 10000, 19999, 20000, 29999, 30000, 39999, 40000, 65534, 65535]) {
  add(`kind boundary ${k}`, text(sign(tpl(k, 1700000900, k >= 30000 && k < 40000 ? [['d', 'b']] : [], `kind ${k}`), 5)));
}
add('kind 0 created_at 0 empty', text(sign(tpl(0, 0, [], ''), 5)));
add('kind 65535 created_at max', text(sign(tpl(65535, 2147483647, [['t', 'max']], 'max'), 5)));

// ===========================================================================
// 4. Hand-crafted JSON text for valid events (escapes, whitespace, order, extras)

const escBases = [
  ['accented', sign(tpl(1, 1700001000, [['t', 'café'], ['subject', 'Grüße']], 'café crème brûlée'), 6)],
  ['astral', sign(tpl(1, 1700001001, [['emoji', '😀']], 'smile 😀 and 𝄞 clef'), 6)],
  ['cjk', sign(tpl(1, 1700001002, [['t', '漢字']], '日本語のテキスト'), 6)],
  ['slashes', sign(tpl(1, 1700001003, [['r', 'https://example.com/a/b/'], ['e', randHex32(), 'wss://relay.example/']], 'see https://example.com/path/to/x and </script>'), 6)],
  ['escapes', sign(tpl(1, 1700001004, [['t', 'tab\there']], 'line1\nline2 "quoted" back\\slash \r\b\f'), 6)],
  ['controls', sign(tpl(1, 1700001005, [['t', '\u0001\u001f']], 'bell\u0007 esc\u001b del\u007f'), 6)],
  ['separators', sign(tpl(1, 1700001006, [], 'ls\u2028ps\u2029'), 6)],
  ['mixed', sign(tpl(30023, 1700001007, [['d', 'ünï/code'], ['title', '¿Qué?']], '# Título\n\nTexto con acentos y 🙂 emoji / slash'), 6)],
];
// only keep a re-encoding if it actually changes the text
const addIfDiff = (name, ev, body) => {
  if (body !== text(ev)) add(name, body);
};
for (const [label, ev] of escBases) {
  addIfDiff(`json \\u escapes lower-case (${label})`, ev, writeJson(ev, { str: encAsciiLower }));
  addIfDiff(`json \\u escapes upper-case (${label})`, ev, writeJson(ev, { str: encAsciiUpper }));
  add(`json every char as \\u (${label})`, writeJson(ev, { str: encAllU }));
  addIfDiff(`json short escapes written as \\u (${label})`, ev, writeJson(ev, { str: encShortAsU }));
  addIfDiff(`json control chars upper-case \\u00XX (${label})`, ev, writeJson(ev, { str: encCtlUpper }));
  add(`json whitespace between tokens (${label})`, writeJson(ev, { ws: randWs }));
  add(`json reordered fields (${label})`, writeJson(ev, { order: (ks) => rng.shuffle(ks.slice()) }));
}
for (const [label, ev] of escBases.filter(([l]) => ['slashes', 'mixed', 'accented'].includes(l))) {
  addIfDiff(`json \\/ escapes (${label})`, ev, writeJson(ev, { str: encSlash }));
  add(`json \\/ escapes and whitespace (${label})`, writeJson(ev, { str: encSlash, ws: randWs }));
}
{
  const ev = sign(tpl(1, 1700001010, [['t', 'café']], 'café'), 7);
  add('json "caf\\u00e9" decodes to café', replaceOnce(replaceOnce(text(ev), '"content":"café"', '"content":"caf\\u00e9"'), '["t","café"]', '["t","caf\\u00e9"]'));
  add('json pretty-printed 2 spaces', JSON.stringify(ev, null, 2));
  add('json pretty-printed tabs', JSON.stringify(ev, null, '\t'));
  add('json CRLF pretty-printed', JSON.stringify(ev, null, 1).replace(/\n/g, '\r\n'));
  add('json leading and trailing whitespace', ' \n\t' + text(ev) + '\r\n ');
  add('json reversed field order', writeJson(ev, { order: (ks) => ks.slice().reverse() }));
  add('json content first sig second', writeJson(ev, { order: () => ['content', 'sig', 'tags', 'kind', 'created_at', 'pubkey', 'id'] }));
  add('json escaped keys', writeJson(ev, { key: encAllU }));
  add('json key "\\u0069d"', replaceOnce(text(ev), '"id":', '"\\u0069d":'));
  add('json key "conten\\u0074"', replaceOnce(text(ev), '"content":', '"conten\\u0074":'));
  add('json hex fields as \\u escapes', writeJson(ev, { str: (s) => (/^[0-9a-f]{64,128}$/.test(s) ? encAllU(s) : stringifyString(s)) }));
  add('json \\/ in extra key', '{"a\\/b":1,' + text(ev).slice(1));
  const extras = [
    ['extra number field', { extra: 1 }],
    ['extra string field', { relay: 'wss://x.example/' }],
    ['extra null field', { nothing: null }],
    ['extra bool field', { seen: true }],
    ['extra nested object', { meta: { a: [1, 2, { b: null, c: 'd' }], e: {} } }],
    ['extra array field', { seen_on: ['wss://a', 'wss://b'] }],
    ['extra empty key', { '': '' }],
    ['extra upper-case Id field', { Id: 'x', ID: 1, PUBKEY: null }],
    ['extra deep nesting', { deep: JSON.parse('['.repeat(20) + ']'.repeat(20)) }],
    ['extra field with escapes', { 'we\u0001ird\n': 'va\u001fl\u2028😀' }],
    ['extra float and exponent', { f: 1.5, g: -1e-7, h: 1e300 }],
    ['extra large field', { padding: 'p'.repeat(20000) }],
  ];
  for (const [label, ex] of extras) add(`json ${label}`, JSON.stringify({ ...ex, ...ev }));
  add('json extras between fields', writeJson({ id: ev.id, x1: [1], pubkey: ev.pubkey, x2: {}, created_at: ev.created_at, x3: 'y', kind: ev.kind, x4: null, tags: ev.tags, x5: false, content: ev.content, x6: 0, sig: ev.sig }));
}

// ===========================================================================
// 5. Broken events derived from valid signed ones

const brokenBases = [
  ['plain', sign(tpl(1, 1700002000, [['t', 'nostr']], 'hello world'), 0)],
  ['unicode', sign(tpl(1, 1700002001, [['p', PK[2]]], 'café 😀 漢字'), 1)],
  ['controls', sign(tpl(1, 1700002002, [['t', '\u0001']], 'a\u0002b\nc'), 2)],
  ['addressable', sign(tpl(30023, 1700002003, [['d', 'slug'], ['title', 'T']], '# md'), 3)],
  ['empty', sign(tpl(7, 0, [], ''), 4)],
  ['kind0', sign(tpl(0, 2147483647, [], '{"name":"n"}'), 5)],
];

const ev2 = (ev, patch) => ({ ...ev, ...patch });
const recomputeId = (ev) => ({ ...ev, id: sha256Hex(serializeStringify(ev)) });

for (const [label, ev] of brokenBases) {
  for (const bit of [0, 1, 7, 100, 255, 256, 257, 400, 504, 511]) add(`sig bit ${bit} flipped (${label})`, text(ev2(ev, { sig: flipBit(ev.sig, bit) })), 'sig');
  for (const bit of [0, 63, 128, 255]) add(`id bit ${bit} flipped (${label})`, text(ev2(ev, { id: flipBit(ev.id, bit) })), 'id');
  add(`content changed after signing (${label})`, text(ev2(ev, { content: ev.content + ' ' })), 'id');
  add(`content emptied after signing (${label})`, text(ev2(ev, { content: ev.content === '' ? 'x' : '' })), 'id');
  add(`tag appended after signing (${label})`, text(ev2(ev, { tags: [...ev.tags, ['t', 'extra']] })), 'id');
  add(`tags emptied after signing (${label})`, text(ev2(ev, { tags: ev.tags.length ? [] : [['t']] })), 'id');
  add(`kind changed after signing (${label})`, text(ev2(ev, { kind: ev.kind === 1 ? 2 : 1 })), 'id');
  add(`created_at changed after signing (${label})`, text(ev2(ev, { created_at: ev.created_at === 0 ? 1 : ev.created_at - 1 })), 'id');
  const other = PK[(PK.indexOf(ev.pubkey) + 1) % PK.length];
  add(`wrong pubkey, id not recomputed (${label})`, text(ev2(ev, { pubkey: other })), 'id');
  add(`wrong pubkey, id recomputed (${label})`, text(recomputeId(ev2(ev, { pubkey: other }))), 'sig');
  add(`content changed, id recomputed (${label})`, text(recomputeId(ev2(ev, { content: ev.content + '!' }))), 'sig');
  add(`sig of another event (${label})`, text(ev2(ev, { sig: brokenBases[0][1] === ev ? brokenBases[1][1].sig : brokenBases[0][1].sig })), 'sig');
  add(`id and sig of another event (${label})`, text(ev2(ev, { id: (brokenBases[0][1] === ev ? brokenBases[1][1] : brokenBases[0][1]).id, sig: (brokenBases[0][1] === ev ? brokenBases[1][1] : brokenBases[0][1]).sig })), 'id');
  add(`sig all zeros (${label})`, text(ev2(ev, { sig: '0'.repeat(128) })), 'sig');
  add(`sig r and s swapped (${label})`, text(ev2(ev, { sig: ev.sig.slice(64) + ev.sig.slice(0, 64) })), 'sig');
}
{
  const [, ev] = brokenBases[0];
  add('sig all ff (r >= p, s >= n)', text(ev2(ev, { sig: 'f'.repeat(128) })), 'sig');
  add('sig s >= n', text(ev2(ev, { sig: ev.sig.slice(0, 64) + 'f'.repeat(64) })), 'sig');
  add('sig r >= p', text(ev2(ev, { sig: 'f'.repeat(64) + ev.sig.slice(64) })), 'sig');
  add('pubkey not on curve, id recomputed', text(recomputeId(ev2(ev, { pubkey: 'f'.repeat(64) }))), 'sig');
  add('pubkey all zeros, id recomputed', text(recomputeId(ev2(ev, { pubkey: '0'.repeat(64) }))), 'sig');
  add('pubkey x=5 (not on curve), id recomputed', text(recomputeId(ev2(ev, { pubkey: '0'.repeat(63) + '5' }))), 'sig');
  add('id of empty string hash', text(ev2(ev, { id: sha256Hex('') })), 'id');
  add('id all zeros', text(ev2(ev, { id: '0'.repeat(64) })), 'id');
}

// escape / serialization confusion (each must be rejected on the id)
{
  const evLit = sign(tpl(1, 1700002100, [], 'caf\\u00e9'), 0); // content is literally caf\u00e9
  add('content signed as literal "caf\\\\u00e9", json decodes to café', replaceOnce(text(evLit), '"content":"caf\\\\u00e9"', '"content":"caf\\u00e9"'), 'id');
  const evCafe = sign(tpl(1, 1700002101, [], 'café'), 0);
  add('content signed as café, json has literal backslash-u', replaceOnce(text(evCafe), '"content":"café"', '"content":"caf\\\\u00e9"'), 'id');
  const evSlash = sign(tpl(1, 1700002102, [], 'a\\/b'), 0); // literally a\/b
  add('content signed as literal a\\\\/b, json "a\\/b" decodes to a/b', replaceOnce(text(evSlash), '"content":"a\\\\/b"', '"content":"a\\/b"'), 'id');
  const t = tpl(1, 1700002103, [['t', 'é\u0001/']], 'é\u0001\u001f\u007f/\u2028😀\n');
  const bad = (label, enc) => add(`id over non-canonical serialization: ${label}`, text(signOverSerialization(t, SK[1], rng, (e) => serializeWith(e, enc))), 'id');
  bad('non-ASCII as \\u', encAsciiLower);
  bad('slash as \\/', encoder((ch) => (ch === '/' ? '\\/' : ch === '\u0001' ? '\\u0001' : null)));
  bad('control chars upper-case \\u00XX', encoder((ch) => (ch === '\u001f' ? '\\u001F' : null)));
  bad('DEL as \\u007f', encoder((ch) => (ch === '\u007f' ? '\\u007f' : ch === '\u0001' ? '\\u0001' : null)));
  bad('U+2028 as \\u2028', encoder((ch) => (ch === '\u2028' ? '\\u2028' : null)));
  bad('newline as \\u000a', encoder((ch) => (ch === '\n' ? '\\u000a' : null)));
  bad('hybrid: content NIP-01, tags JSON.stringify', (s) => (s === t.content ? nip01String(s) : stringifyString(s)));
  add('id over serialization with spaces', text(signOverSerialization(t, SK[1], rng, (e) => JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content], null, 1))), 'id');
  add('id over serialization without leading 0', text(signOverSerialization(t, SK[1], rng, (e) => JSON.stringify([e.pubkey, e.created_at, e.kind, e.tags, e.content]))), 'id');
  add('id over serialization with id field', text(signOverSerialization(t, SK[1], rng, (e) => JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content, '']))), 'id');
}

// ===========================================================================
// 6. Hex formats of id / pubkey / sig

{
  const fmtBases = [sign(tpl(1, 1700003000, [['t', 'hex']], 'hex format tests'), 0), sign(tpl(1, 1700003001, [], 'more hex'), 6)];
  fmtBases.forEach((ev, bi) => {
    const b = `base ${bi}`;
    const firstLetter = (h) => h.search(/[a-f]/);
    const upOne = (h) => {
      const i = firstLetter(h);
      return h.slice(0, i) + h[i].toUpperCase() + h.slice(i + 1);
    };
    const lastLetter = (h) => {
      let i = h.length - 1;
      while (!/[a-f]/.test(h[i])) i--;
      return h.slice(0, i) + h[i].toUpperCase() + h.slice(i + 1);
    };
    for (const [field, reason] of [['id', 'id'], ['pubkey', 'pubkey'], ['sig', 'sig']]) {
      const v = ev[field];
      const dev = field === 'sig' ? { deviation: DEV.sigCase } : {};
      add(`${field} all upper-case (${b})`, text(ev2(ev, { [field]: v.toUpperCase() })), reason, dev);
      add(`${field} one upper-case char first (${b})`, text(ev2(ev, { [field]: upOne(v) })), reason, dev);
      add(`${field} one upper-case char last (${b})`, text(ev2(ev, { [field]: lastLetter(v) })), reason, dev);
      const n = v.length;
      add(`${field} length ${n - 1} (${b})`, text(ev2(ev, { [field]: v.slice(0, -1) })), reason);
      add(`${field} length ${n + 1} (${b})`, text(ev2(ev, { [field]: v + '0' })), reason);
      add(`${field} length ${n - 2} (${b})`, text(ev2(ev, { [field]: v.slice(0, -2) })), reason);
      add(`${field} length ${n + 2} (${b})`, text(ev2(ev, { [field]: v + '00' })), reason);
      // still well-formed hex: a wrong pubkey shows up as an id mismatch
      add(`${field} shifted right by one hex digit (${b})`, text(ev2(ev, { [field]: '0' + v.slice(0, -1) })), field === 'pubkey' ? 'id' : reason);
      add(`${field} empty string (${b})`, text(ev2(ev, { [field]: '' })), reason);
      add(`${field} non-hex g (${b})`, text(ev2(ev, { [field]: v.slice(0, 10) + 'g' + v.slice(11) })), reason);
      add(`${field} non-hex G at end (${b})`, text(ev2(ev, { [field]: v.slice(0, -1) + 'G' })), reason);
      add(`${field} space inside (${b})`, text(ev2(ev, { [field]: v.slice(0, 20) + ' ' + v.slice(21) })), reason);
      add(`${field} trailing space (${b})`, text(ev2(ev, { [field]: v + ' ' })), reason);
      add(`${field} 0x prefix (${b})`, text(ev2(ev, { [field]: '0x' + v.slice(2) })), reason);
      add(`${field} with fullwidth digit (${b})`, text(ev2(ev, { [field]: '\uff10' + v.slice(1) })), reason);
      add(`${field} colon (char after 9) (${b})`, text(ev2(ev, { [field]: ':' + v.slice(1) })), reason);
      add(`${field} backtick (char before a) (${b})`, text(ev2(ev, { [field]: v.slice(0, -1) + '`' })), reason);
      if (bi === 0) {
        add(`${field} double length (${b})`, text(ev2(ev, { [field]: v + v })), reason);
      }
    }
  });
}

// ===========================================================================
// 7. Wrong types and missing fields

{
  const typeBases = [sign(tpl(1, 1700004000, [['t', 'types']], 'type tests'), 1), sign(tpl(3, 1700004001, [['p', PK[0]]], ''), 2)];
  typeBases.forEach((ev, bi) => {
    const b = `base ${bi}`;
    const TYPES = [
      ['number', 1],
      ['zero', 0],
      ['null', null],
      ['object', {}],
      ['array', []],
      ['true', true],
      ['false', false],
    ];
    for (const f of ['id', 'pubkey', 'sig', 'content']) {
      for (const [tn, val] of TYPES) add(`${f} is ${tn} (${b})`, text(ev2(ev, { [f]: val })), f);
      add(`${f} is array of its string (${b})`, text(ev2(ev, { [f]: [ev[f]] })), f);
      add(`${f} is object holding it (${b})`, text(ev2(ev, { [f]: { v: ev[f] } })), f);
    }
    for (const f of ['created_at', 'kind']) {
      add(`${f} is string of its value (${b})`, text(ev2(ev, { [f]: String(ev[f]) })), f);
      add(`${f} is empty string (${b})`, text(ev2(ev, { [f]: '' })), f);
      for (const [tn, val] of TYPES.filter(([tn]) => !['number', 'zero'].includes(tn))) add(`${f} is ${tn} (${b})`, text(ev2(ev, { [f]: val })), f);
      add(`${f} is array of its value (${b})`, text(ev2(ev, { [f]: [ev[f]] })), f);
    }
    for (const [tn, val] of [
      ['string', 'tags'],
      ['json string', JSON.stringify(ev.tags)],
      ['number', 0],
      ['null', null],
      ['object', {}],
      ['object with index keys', { 0: ['t', 'x'] }],
      ['true', true],
    ])
      add(`tags is ${tn} (${b})`, text(ev2(ev, { tags: val })), 'tags');
    for (const f of FIELDS) {
      const o = { ...ev };
      delete o[f];
      add(`missing ${f} (${b})`, text(o), f);
    }
  });
  const ev = typeBases[0];
  add('field "Content" instead of "content"', replaceOnce(text(ev), '"content":', '"Content":'), 'content');
  add('field "created" instead of "created_at"', replaceOnce(text(ev), '"created_at":', '"created":'), 'created_at');
  add('field "tag" instead of "tags"', replaceOnce(text(ev), '"tags":', '"tag":'), 'tags');
  add('field "signature" instead of "sig"', replaceOnce(text(ev), '"sig":', '"signature":'), 'sig');
  add('field " id" with space', replaceOnce(text(ev), '"id":', '" id":'), 'id');
}

// tags structure
{
  const T = (label, tags, reason, opts) => {
    // sign where the library can (so only the structural fault remains)
    let ev;
    try {
      ev = sign(tpl(1, 1700005000, tags, 'tag structure'), 3);
    } catch {
      ev = { ...sign(tpl(1, 1700005000, [], 'tag structure'), 3), tags };
    }
    add(label, text(ev), reason, opts);
  };
  T('empty inner tag []', [[]], 'tags', { deviation: DEV.emptyTag });
  T('empty inner tag after a valid one', [['t', 'x'], []], 'tags', { deviation: DEV.emptyTag });
  T('empty inner tag before a valid one', [[], ['p', PK[1]]], 'tags', { deviation: DEV.emptyTag });
  T('two empty inner tags', [[], []], 'tags', { deviation: DEV.emptyTag });
  T('tag element is number', [['e', 1]], 'tags');
  T('tag name is number', [[1, 'x']], 'tags');
  T('tag element is null', [['e', null]], 'tags');
  T('tag element is true', [['e', true]], 'tags');
  T('tag element is object', [['e', {}]], 'tags');
  T('tag element is nested array', [['e', ['x']]], 'tags');
  T('tag element is empty nested array', [['e', []]], 'tags');
  T('tag is nested array only', [[['e', 'x']]], 'tags');
  T('tag is a string', ['e'], 'tags');
  T('tag is a number', [1], 'tags');
  T('tag is null', [null], 'tags');
  T('tag is object', [{ 0: 'e', 1: 'x' }], 'tags');
  T('bad tag after 50 good ones', [...Array.from({ length: 50 }, (_, i) => ['t', String(i)]), ['t', 5]], 'tags');
  T('third tag element is number', [['e', 'x', 7]], 'tags');
  T('tag element is float', [['amount', 1.5]], 'tags');
}

// ===========================================================================
// 8. created_at / kind ranges and number syntax

{
  const N = (label, field, value, reason, opts) => add(label, text(sign(tpl(field === 'kind' ? value : 1, field === 'created_at' ? value : 1700006000, [], `${field} ${label}`), 4)), reason, opts);
  N('created_at -1', 'created_at', -1, 'created_at', { deviation: DEV.createdAt });
  N('created_at -1700000000', 'created_at', -1700000000, 'created_at', { deviation: DEV.createdAt });
  N('created_at -2147483648', 'created_at', -2147483648, 'created_at', { deviation: DEV.createdAt });
  N('created_at 2147483648', 'created_at', 2147483648, 'created_at', { deviation: DEV.createdAt });
  N('created_at 4294967295', 'created_at', 4294967295, 'created_at', { deviation: DEV.createdAt });
  N('created_at 4294967296', 'created_at', 4294967296, 'created_at', { deviation: DEV.createdAt });
  N('created_at 9007199254740991', 'created_at', 9007199254740991, 'created_at', { deviation: DEV.createdAt });
  N('created_at 1700000000000 (ms)', 'created_at', 1700000000000, 'created_at', { deviation: DEV.createdAt });
  N('created_at 1.5', 'created_at', 1.5, 'created_at', { deviation: DEV.createdAt });
  N('created_at 1700000000.5', 'created_at', 1700000000.5, 'created_at', { deviation: DEV.createdAt });
  N('created_at 0.1', 'created_at', 0.1, 'created_at', { deviation: DEV.createdAt });
  N('created_at -0.5', 'created_at', -0.5, 'created_at', { deviation: DEV.createdAt });
  N('kind -1', 'kind', -1, 'kind', { deviation: DEV.kind });
  N('kind -65535', 'kind', -65535, 'kind', { deviation: DEV.kind });
  N('kind 65536', 'kind', 65536, 'kind', { deviation: DEV.kind });
  N('kind 70000', 'kind', 70000, 'kind', { deviation: DEV.kind });
  N('kind 2147483648', 'kind', 2147483648, 'kind', { deviation: DEV.kind });
  N('kind 4294967297', 'kind', 4294967297, 'kind', { deviation: DEV.kind });
  N('kind 1.5', 'kind', 1.5, 'kind', { deviation: DEV.kind });
  N('kind 0.5', 'kind', 0.5, 'kind', { deviation: DEV.kind });
  N('kind 65535.5', 'kind', 65535.5, 'kind', { deviation: DEV.kind });

  // Number syntax that JSON.parse maps onto an integer.
  const S = (label, field, value, written) => {
    const ev = sign(tpl(field === 'kind' ? value : 1, field === 'created_at' ? value : 1700006001, [], `syntax ${label}`), 4);
    const t = replaceOnce(text(ev), `"${field}":${value},`, `"${field}":${written},`);
    if (JSON.parse(t)[field] !== value) throw new Error(`${label}: ${written} does not parse to ${value}`);
    add(label, t, field, { deviation: field === 'kind' ? DEV.kindText : DEV.createdAtText, textLevel: true });
  };
  S('created_at 1.0', 'created_at', 1, '1.0');
  S('created_at 1700000000.0', 'created_at', 1700000000, '1700000000.0');
  S('created_at 1700000000.000', 'created_at', 1700000000, '1700000000.000');
  S('created_at 1e9', 'created_at', 1000000000, '1e9');
  S('created_at 1E9', 'created_at', 1000000000, '1E9');
  S('created_at 1e+9', 'created_at', 1000000000, '1e+9');
  S('created_at 1.7e9', 'created_at', 1700000000, '1.7e9');
  S('created_at 17e8', 'created_at', 1700000000, '17e8');
  S('created_at 17000000000e-1', 'created_at', 1700000000, '17000000000e-1');
  S('created_at 0.0', 'created_at', 0, '0.0');
  S('created_at 0e0', 'created_at', 0, '0e0');
  S('kind 1.0', 'kind', 1, '1.0');
  S('kind 7.00', 'kind', 7, '7.00');
  S('kind 1e3', 'kind', 1000, '1e3');
  S('kind 1E0', 'kind', 1, '1E0');
  S('kind 30023e0', 'kind', 30023, '30023e0');
  S('kind 0.0', 'kind', 0, '0.0');
}

// ===========================================================================
// 9. NUL (U+0000)

{
  const Z = (label, tags, content) => add(label, text(sign(tpl(1, 1700007000, tags, content), 5)), 'NUL', { deviation: DEV.nul });
  Z('content is NUL', [], '\u0000');
  Z('content with NUL in middle', [], 'a\u0000b');
  Z('content with NUL at end', [], 'abc\u0000');
  Z('content with NUL at start', [], '\u0000abc');
  Z('content NUL after multibyte', [], 'é😀\u0000');
  Z('content NUL among controls', [], '\u0001\u0000\u001f');
  Z('tag value with NUL', [['t', 'a\u0000']], 'nul tag');
  Z('tag name NUL', [['\u0000', 'v']], 'nul tag name');
  Z('third tag element NUL', [['e', PK[0], '\u0000']], 'nul third');
  Z('NUL in last of many tags', [...Array.from({ length: 20 }, (_, i) => ['t', String(i)]), ['t', '\u0000']], 'nul last tag');
  const evU = sign(tpl(1, 1700007001, [], 'x\u0000y'), 5);
  add('content NUL as upper-case \\u0000 escape text', writeJson(evU, { str: encAllU }), 'NUL', { deviation: DEV.nul });
  // nostr-tools rejects this one too (it hashes the \u0000 form), so no deviation
  add('content NUL id over NIP-01 form', text(signNip01(tpl(1, 1700007002, [], 'nul\u0000verbatim'), 5)), 'NUL');
}

// ===========================================================================
// 10. Random valid events (and random single mutations of them)

for (let i = 0; i < 80; i++) {
  const kind = rng.pick([...MAIN_KINDS, ...MORE_KINDS, rng.int(65536)]);
  const t = tpl(kind, rng.chance(0.05) ? rng.pick([0, 2147483647]) : randCreated(), randTags(rng.pick([0, 1, 3, 8])), randText(rng.pick([0, 5, 30])));
  const useNip01 = rng.chance(0.15);
  const ev = useNip01 ? signNip01(t, rng.int(SK.length)) : sign(t, rng.int(SK.length));
  const differs = serializeNip01(ev) !== serializeStringify(ev);
  const shape = rng.int(4);
  const body =
    shape === 0 ? text(ev)
      : shape === 1 ? writeJson(ev, { ws: randWs })
        : shape === 2 ? writeJson(ev, { str: encAsciiLower, order: (ks) => rng.shuffle(ks.slice()) })
          : writeJson(ev, { str: rng.pick([encSlash, encAllU, encShortAsU, encAsciiUpper]) });
  add(`random valid #${i}${useNip01 ? ' (NIP-01 form)' : ''}`, body, null, useNip01 && differs ? { deviation: DEV.verbatim } : {});
  // one random mutation
  const m = rng.int(5);
  if (m === 0) add(`random #${i} sig bit flipped`, text(ev2(ev, { sig: flipBit(ev.sig, rng.int(512)) })), 'sig');
  else if (m === 1) add(`random #${i} id bit flipped`, text(ev2(ev, { id: flipBit(ev.id, rng.int(256)) })), 'id');
  else if (m === 2) add(`random #${i} content changed`, text(ev2(ev, { content: ev.content + rng.pick(WORDS) })), 'id');
  else if (m === 3) add(`random #${i} created_at changed`, text(ev2(ev, { created_at: ev.created_at ^ 1 })), 'id');
  else add(`random #${i} tag added`, text(ev2(ev, { tags: [...ev.tags, ['t', rng.pick(WORDS)]] })), 'id');
}

// ===========================================================================

const outText = vectors.map((v) => JSON.stringify(v)).join('\n') + '\n';
writeFileSync(OUT, outText);

const valid = vectors.filter((v) => v.expect_valid).length;
const dev = vectors.filter((v) => v.deviation).length;
const libTrue = vectors.filter((v) => v.lib_valid).length;
console.log(
  `events.jsonl: ${vectors.length} vectors, ${valid} expect_valid, ${vectors.length - valid} expect invalid, ` +
    `${libTrue} lib_valid, ${dev} deviations, ${Buffer.byteLength(outText)} bytes`,
);
