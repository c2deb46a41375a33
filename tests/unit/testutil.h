/* testutil.h - helpers shared by the unit tests (header-only).
 *
 * Tests sign their own events with libsecp256k1 so that each case states
 * exactly the content it needs; the independent check of the id and
 * signature rules against a real client library is the vector test.
 */
#ifndef NS_TESTUTIL_H
#define NS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "event.h"
#include "hex.h"

/* True when two events hold the same fields, tags and content. */
static inline bool tu_same_event(const ns_event *a, const ns_event *b)
{
    if (memcmp(a->id, b->id, 32) || memcmp(a->pubkey, b->pubkey, 32) || memcmp(a->sig, b->sig, 64) ||
        a->created_at != b->created_at || a->kind != b->kind || a->ntags != b->ntags ||
        a->content.len != b->content.len || memcmp(a->content.ptr, b->content.ptr, a->content.len) ||
        a->expiration != b->expiration || a->has_raw_controls != b->has_raw_controls)
        return false;
    for (uint32_t i = 0; i < a->ntags; i++) {
        if (a->tags[i].n != b->tags[i].n)
            return false;
        for (uint32_t j = 0; j < a->tags[i].n; j++)
            if (a->tags[i].v[j].len != b->tags[i].v[j].len ||
                memcmp(a->tags[i].v[j].ptr, b->tags[i].v[j].ptr, a->tags[i].v[j].len) ||
                a->tags[i].v[j].ptr[a->tags[i].v[j].len] != '\0')
                return false;
    }
    return a->content.ptr[a->content.len] == '\0';
}

/* Reads a whole file; the caller frees the result. NULL when missing. */
static inline char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

/* Secret key number `seed` (1..255): 31 zero bytes and the seed. */
static inline void tu_seckey(uint8_t seed, uint8_t out[32])
{
    memset(out, 0, 32);
    out[31] = seed;
}

/* Builds and signs an event; returns its JSON text, freed by the caller.
 * tags_json is a JSON array text such as "[[\"e\",\"...\"]]". */
static inline char *tu_signed_event(uint8_t key_seed, int64_t created_at, uint32_t kind,
                                    const char *tags_json, const char *content)
{
    static secp256k1_context *ctx;
    if (ctx == NULL)
        ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    uint8_t sk[32], pub[32], sig[64];
    tu_seckey(key_seed, sk);
    secp256k1_keypair kp;
    secp256k1_xonly_pubkey xpk;
    if (!secp256k1_keypair_create(ctx, &kp, sk) ||
        !secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &kp))
        abort();
    secp256k1_xonly_pubkey_serialize(ctx, pub, &xpk);

    json_error_t jerr;
    json_t *tags = json_loads(tags_json, NS_JSON_DECODE_FLAGS, &jerr);
    if (tags == NULL)
        abort();
    char pubhex[65], zeros[129];
    ns_hex_encode(pub, 32, pubhex);
    memset(zeros, '0', 128);
    zeros[128] = '\0';
    json_t *o = json_object();
    json_object_set_new(o, "id", json_stringn(zeros, 64));
    json_object_set_new(o, "pubkey", json_string(pubhex));
    json_object_set_new(o, "created_at", json_integer(created_at));
    json_object_set_new(o, "kind", json_integer(kind));
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "content", json_string(content));
    json_object_set_new(o, "sig", json_string(zeros));
    ns_event *ev;
    if (ns_event_from_json(o, &ev, NULL, 0) != 0)
        abort();
    json_decref(o);
    if (ns_event_compute_id(ev, false, NULL, ev->id) != 0 ||
        !secp256k1_schnorrsig_sign32(ctx, sig, ev->id, &kp, NULL))
        abort();
    memcpy(ev->sig, sig, 64);
    ns_buf b = NS_BUF_INIT;
    ns_event_to_json(ev, &b);
    ns_buf_addc(&b, '\0');
    free(ev);
    return b.data;
}

#endif
