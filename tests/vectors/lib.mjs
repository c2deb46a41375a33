// Shared helpers for the test-vector generators (gen-events.mjs, gen-filters.mjs).
//
// Everything here is deterministic: a seeded PRNG of our own, secret keys
// derived from the seed, and signatures whose BIP-340 auxiliary randomness is
// drawn from the same PRNG, so rerunning a generator reproduces its output
// byte for byte.

import { createHash } from 'node:crypto';
import { finalizeEvent, getPublicKey } from 'nostr-tools/pure';
import { schnorr } from '@noble/curves/secp256k1.js';

// ---------------------------------------------------------------------------
// PRNG: sfc32 (Small Fast Counting, 32-bit state words), seeded from the
// SHA-256 of a seed string.

export class Rng {
  constructor(seed) {
    const h = createHash('sha256').update(String(seed), 'utf8').digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12) | 1;
    for (let i = 0; i < 20; i++) this.u32(); // warm up
  }

  u32() {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = (this.b ^ (this.b >>> 9)) >>> 0;
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  // uniform float in [0, 1)
  float() {
    return this.u32() / 4294967296;
  }

  // uniform integer in [0, n)
  int(n) {
    if (!(n > 0)) throw new Error('Rng.int: n must be > 0');
    return Math.floor(this.float() * n);
  }

  // uniform integer in [lo, hi] (inclusive)
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }

  chance(p) {
    return this.float() < p;
  }

  pick(arr) {
    return arr[this.int(arr.length)];
  }

  // k distinct elements of arr (k clamped to arr.length), in random order
  sample(arr, k) {
    const copy = arr.slice();
    this.shuffle(copy);
    return copy.slice(0, Math.min(k, copy.length));
  }

  shuffle(arr) {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [arr[i], arr[j]] = [arr[j], arr[i]];
    }
    return arr;
  }

  bytes(n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  hex(nBytes) {
    return bytesToHex(this.bytes(nBytes));
  }
}

// ---------------------------------------------------------------------------
// small utilities

export function bytesToHex(b) {
  return Buffer.from(b).toString('hex');
}

export function hexToBytes(h) {
  if (!/^[0-9a-f]*$/.test(h) || h.length % 2) throw new Error('bad hex: ' + h);
  return new Uint8Array(Buffer.from(h, 'hex'));
}

export function sha256Hex(str) {
  return createHash('sha256').update(str, 'utf8').digest('hex');
}

// Secret key number `i` for a given seed: SHA-256("<seed>/key/<i>").
// (Checked by getPublicKey, which throws for an out-of-range scalar.)
export function secretKey(seed, i) {
  const sk = new Uint8Array(createHash('sha256').update(`${seed}/key/${i}`, 'utf8').digest());
  getPublicKey(sk);
  return sk;
}

// Deep copy of a JSON-compatible value (keeps -0, 1.5 etc. as numbers).
function clone(v) {
  if (Array.isArray(v)) return v.map(clone);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = clone(v[k]);
    return o;
  }
  return v;
}

// Plain event object with the usual key order.
export function plainEvent(ev) {
  return {
    id: ev.id,
    pubkey: ev.pubkey,
    created_at: ev.created_at,
    kind: ev.kind,
    tags: ev.tags,
    content: ev.content,
    sig: ev.sig,
  };
}

// ---------------------------------------------------------------------------
// Signing.

// Sign with nostr-tools' own finalizeEvent. finalizeEvent draws 32 bytes of
// BIP-340 auxiliary randomness from crypto.getRandomValues; for reproducible
// output we supply those bytes from our PRNG for the duration of the call.
export function finalizeDeterministic(template, sk, rng) {
  const aux = rng.bytes(32);
  const cryptoObj = globalThis.crypto;
  const own = Object.getOwnPropertyDescriptor(cryptoObj, 'getRandomValues');
  let used = 0;
  cryptoObj.getRandomValues = (arr) => {
    if (!(arr instanceof Uint8Array) || arr.length !== 32 || used++)
      throw new Error('unexpected getRandomValues call during finalizeEvent');
    arr.set(aux);
    return arr;
  };
  let ev;
  try {
    ev = finalizeEvent(
      {
        kind: clone(template.kind),
        created_at: clone(template.created_at),
        tags: clone(template.tags),
        content: clone(template.content),
      },
      sk,
    );
  } finally {
    delete cryptoObj.getRandomValues;
    if (own) Object.defineProperty(cryptoObj, 'getRandomValues', own);
  }
  if (used !== 1) throw new Error('finalizeEvent did not use our auxiliary randomness');
  return plainEvent(ev);
}

// Sign the SHA-256 of an arbitrary serialization string (used for events
// signed over something other than nostr-tools' JSON.stringify form).
export function signOverSerialization(template, sk, rng, serialize) {
  const aux = rng.bytes(32);
  const pubkey = getPublicKey(sk);
  const ev = { pubkey, created_at: template.created_at, kind: template.kind, tags: clone(template.tags), content: template.content };
  const id = sha256Hex(serialize(ev));
  const sig = bytesToHex(schnorr.sign(hexToBytes(id), sk, aux));
  return plainEvent({ ...ev, id, sig });
}

export function schnorrVerify(sigHex, msgHex, pubHex) {
  try {
    return schnorr.verify(hexToBytes(sigHex), hexToBytes(msgHex), hexToBytes(pubHex));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Serializations of the NIP-01 commitment array [0,pubkey,created_at,kind,tags,content].

// NIP-01: escape only \n \" \\ \r \t \b \f, write every other character verbatim.
export function nip01String(s) {
  let out = '"';
  for (const ch of s) {
    switch (ch) {
      case '\n': out += '\\n'; break;
      case '"': out += '\\"'; break;
      case '\\': out += '\\\\'; break;
      case '\r': out += '\\r'; break;
      case '\t': out += '\\t'; break;
      case '\b': out += '\\b'; break;
      case '\f': out += '\\f'; break;
      default: out += ch;
    }
  }
  return out + '"';
}

// JSON.stringify's string form (what nostr-tools hashes).
export const stringifyString = (s) => JSON.stringify(s);

export function serializeWith(ev, strEnc) {
  const tags = '[' + ev.tags.map((t) => '[' + t.map(strEnc).join(',') + ']').join(',') + ']';
  return `[0,${strEnc(ev.pubkey)},${ev.created_at},${ev.kind},${tags},${strEnc(ev.content)}]`;
}

export const serializeNip01 = (ev) => serializeWith(ev, nip01String);
export const serializeStringify = (ev) =>
  JSON.stringify([0, ev.pubkey, ev.created_at, ev.kind, ev.tags, ev.content]);
