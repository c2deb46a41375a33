/* subs.c - the live subscription index (see subs.h). */
#include "subs.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- SipHash-2-4, written from the paper's description ------------------ */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                    \
    do {                                                                            \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                   \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                      \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                      \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                   \
    } while (0)

static uint64_t ns_siphash(const uint8_t *in, size_t len, const uint64_t k[2])
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k[0], v1 = 0x646f72616e646f6dULL ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ k[0], v3 = 0x7465646279746573ULL ^ k[1];
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m;
        memcpy(&m, in + i, 8); /* little-endian hosts only: x86-64, arm64 */
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ---------------------------------------------------------- */

typedef struct ns_ref {
    ns_sub *sub;
    const ns_filter *filter;
} ns_ref;

typedef struct ns_refs {
    ns_ref *v;
    size_t n, cap;
} ns_refs;

typedef struct ns_entry {
    struct ns_entry *next;
    uint64_t hash;
    ns_refs refs;
    uint32_t keylen;
    uint8_t key[];
} ns_entry;

struct ns_subindex {
    uint64_t sipkey[2];
    ns_entry **buckets;
    size_t nbuckets;   /* power of two */
    size_t nentries;
    size_t nfilters;
    ns_refs all;       /* filters with no usable key */
};

/* Key kinds: the first byte of every key. */
enum { K_ID = 'I', K_AUTHOR = 'A', K_TAG = 'T', K_KIND = 'K' };

ns_subindex *ns_subindex_new(void)
{
    ns_subindex *ix = calloc(1, sizeof *ix);
    if (ix == NULL)
        return NULL;
    if (getrandom(ix->sipkey, sizeof ix->sipkey, 0) != sizeof ix->sipkey) {
        ix->sipkey[0] = (uint64_t)(uintptr_t)ix * 0x9e3779b97f4a7c15ULL;
        ix->sipkey[1] = ~ix->sipkey[0];
    }
    ix->nbuckets = 256;
    ix->buckets = calloc(ix->nbuckets, sizeof *ix->buckets);
    if (ix->buckets == NULL) {
        free(ix);
        return NULL;
    }
    return ix;
}

void ns_subindex_free(ns_subindex *ix)
{
    if (ix == NULL)
        return;
    for (size_t i = 0; i < ix->nbuckets; i++) {
        ns_entry *e = ix->buckets[i];
        while (e) {
            ns_entry *next = e->next;
            free(e->refs.v);
            free(e);
            e = next;
        }
    }
    free(ix->buckets);
    free(ix->all.v);
    free(ix);
}

size_t ns_subindex_size(const ns_subindex *ix) { return ix->nfilters; }

static int ns_refs_push(ns_refs *r, ns_sub *sub, const ns_filter *f)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        ns_ref *v = realloc(r->v, cap * sizeof *v);
        if (v == NULL)
            return NS_ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n].sub = sub;
    r->v[r->n].filter = f;
    r->n++;
    return 0;
}

static void ns_refs_drop(ns_refs *r, const ns_sub *sub, const ns_filter *f)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].sub == sub && r->v[i].filter == f) {
            r->v[i] = r->v[--r->n];
            return;
        }
}

static ns_entry **ns_slot(ns_subindex *ix, const uint8_t *key, uint32_t len, uint64_t h)
{
    ns_entry **p = &ix->buckets[h & (ix->nbuckets - 1)];
    while (*p && !((*p)->hash == h && (*p)->keylen == len && memcmp((*p)->key, key, len) == 0))
        p = &(*p)->next;
    return p;
}

static void ns_grow(ns_subindex *ix)
{
    size_t n = ix->nbuckets * 2;
    ns_entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return; /* keep the old, longer chains */
    for (size_t i = 0; i < ix->nbuckets; i++) {
        ns_entry *e = ix->buckets[i];
        while (e) {
            ns_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(ix->buckets);
    ix->buckets = b;
    ix->nbuckets = n;
}

static int ns_file(ns_subindex *ix, const uint8_t *key, uint32_t len, ns_sub *sub, const ns_filter *f)
{
    uint64_t h = ns_siphash(key, len, ix->sipkey);
    ns_entry **p = ns_slot(ix, key, len, h);
    if (*p == NULL) {
        ns_entry *e = calloc(1, sizeof *e + len);
        if (e == NULL)
            return NS_ENOMEM;
        e->hash = h;
        e->keylen = len;
        memcpy(e->key, key, len);
        *p = e;
        if (++ix->nentries > ix->nbuckets * 2)
            ns_grow(ix);
        p = ns_slot(ix, key, len, h);
    }
    return ns_refs_push(&(*p)->refs, sub, f);
}

static void ns_unfile(ns_subindex *ix, const uint8_t *key, uint32_t len, ns_sub *sub, const ns_filter *f)
{
    uint64_t h = ns_siphash(key, len, ix->sipkey);
    ns_entry **p = ns_slot(ix, key, len, h);
    if (*p == NULL)
        return;
    ns_refs_drop(&(*p)->refs, sub, f);
    if ((*p)->refs.n == 0) {
        ns_entry *e = *p;
        *p = e->next;
        free(e->refs.v);
        free(e);
        ix->nentries--;
    }
}

/* Builds key number i of filter f into buf; returns its length, or 0 when
 * i is past the last key. A filter filed under no key returns 0 for i=0
 * and goes on the catch-all list. */
static uint32_t ns_filter_key(const ns_filter *f, uint32_t i, uint8_t *buf, size_t cap)
{
    if (f->ids.present && f->ids.n_prefix == 0 && f->ids.n_exact > 0) {
        if (i >= f->ids.n_exact)
            return 0;
        buf[0] = K_ID;
        memcpy(buf + 1, f->ids.exact[i], 32);
        return 33;
    }
    if (f->authors.present && f->authors.n_prefix == 0 && f->authors.n_exact > 0) {
        if (i >= f->authors.n_exact)
            return 0;
        buf[0] = K_AUTHOR;
        memcpy(buf + 1, f->authors.exact[i], 32);
        return 33;
    }
    if (f->n_tags > 0 && f->tags[0].n > 0) {
        if (i >= f->tags[0].n)
            return 0;
        const ns_str *v = &f->tags[0].values[i];
        if ((size_t)v->len + 2 > cap)
            return UINT32_MAX; /* too long for the key buffer: catch-all */
        buf[0] = K_TAG;
        buf[1] = (uint8_t)f->tags[0].name;
        memcpy(buf + 2, v->ptr, v->len);
        return v->len + 2;
    }
    if (f->has_kinds && f->n_kinds > 0) {
        if (i >= f->n_kinds)
            return 0;
        buf[0] = K_KIND;
        buf[1] = (uint8_t)(f->kinds[i] >> 8);
        buf[2] = (uint8_t)f->kinds[i];
        return 3;
    }
    return 0;
}

enum { NS_KEY_MAX = 1024 };

/* True when the filter goes on the catch-all list: it has no key, or one
 * of its keys is too long to build (an event's lookup skips those too). */
static bool ns_keyless(const ns_filter *f)
{
    uint8_t buf[NS_KEY_MAX];
    uint32_t len = ns_filter_key(f, 0, buf, sizeof buf);
    for (uint32_t i = 1; len != 0 && len != UINT32_MAX; i++)
        len = ns_filter_key(f, i, buf, sizeof buf);
    return len == UINT32_MAX || ns_filter_key(f, 0, buf, sizeof buf) == 0;
}

int ns_subindex_add(ns_subindex *ix, ns_sub *sub)
{
    uint8_t buf[NS_KEY_MAX];
    for (size_t k = 0; k < sub->nfilters; k++) {
        const ns_filter *f = sub->filters[k];
        if (ns_filter_is_empty(f))
            continue; /* can never match: not filed at all */
        int rc = 0;
        if (ns_keyless(f)) {
            rc = ns_refs_push(&ix->all, sub, f);
        } else {
            uint32_t len;
            for (uint32_t i = 0; rc == 0 && (len = ns_filter_key(f, i, buf, sizeof buf)) != 0; i++)
                rc = ns_file(ix, buf, len, sub, f);
        }
        if (rc != 0)
            return rc;
        ix->nfilters++;
    }
    return 0;
}

void ns_subindex_remove(ns_subindex *ix, ns_sub *sub)
{
    uint8_t buf[NS_KEY_MAX];
    for (size_t k = 0; k < sub->nfilters; k++) {
        const ns_filter *f = sub->filters[k];
        if (ns_filter_is_empty(f))
            continue;
        if (ns_keyless(f)) {
            ns_refs_drop(&ix->all, sub, f);
        } else {
            uint32_t len;
            for (uint32_t i = 0; (len = ns_filter_key(f, i, buf, sizeof buf)) != 0; i++)
                ns_unfile(ix, buf, len, sub, f);
        }
        ix->nfilters--;
    }
}

typedef struct {
    const ns_event *ev;
    uint64_t stamp;
    void (*fn)(ns_sub *, void *);
    void *arg;
    size_t count;
} ns_match_ctx;

static void ns_try_refs(const ns_refs *r, ns_match_ctx *m)
{
    for (size_t i = 0; i < r->n; i++) {
        ns_sub *s = r->v[i].sub;
        if (s->stamp == m->stamp || !ns_filter_match(r->v[i].filter, m->ev))
            continue;
        s->stamp = m->stamp;
        m->count++;
        m->fn(s, m->arg);
    }
}

static void ns_try_key(ns_subindex *ix, const uint8_t *key, uint32_t len, ns_match_ctx *m)
{
    uint64_t h = ns_siphash(key, len, ix->sipkey);
    ns_entry **p = ns_slot(ix, key, len, h);
    if (*p)
        ns_try_refs(&(*p)->refs, m);
}

size_t ns_subindex_match(ns_subindex *ix, const ns_event *ev, void (*fn)(ns_sub *, void *), void *arg)
{
    static uint64_t stamp_counter;
    ns_match_ctx m = {ev, ++stamp_counter, fn, arg, 0};
    uint8_t buf[NS_KEY_MAX];
    buf[0] = K_ID;
    memcpy(buf + 1, ev->id, 32);
    ns_try_key(ix, buf, 33, &m);
    buf[0] = K_AUTHOR;
    memcpy(buf + 1, ev->pubkey, 32);
    ns_try_key(ix, buf, 33, &m);
    buf[0] = K_KIND;
    buf[1] = (uint8_t)(ev->kind >> 8);
    buf[2] = (uint8_t)ev->kind;
    ns_try_key(ix, buf, 3, &m);
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const ns_tag *t = &ev->tags[i];
        if (t->n < 2 || t->v[0].len != 1 || (size_t)t->v[1].len + 2 > sizeof buf)
            continue;
        buf[0] = K_TAG;
        buf[1] = (uint8_t)t->v[0].ptr[0];
        memcpy(buf + 2, t->v[1].ptr, t->v[1].len);
        ns_try_key(ix, buf, t->v[1].len + 2, &m);
    }
    ns_try_refs(&ix->all, &m);
    return m.count;
}

void ns_sub_free(ns_sub *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nfilters; i++)
        ns_filter_free(s->filters[i]);
    free(s->filters);
    free(s->id);
    free(s);
}
