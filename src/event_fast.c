/* event_fast.c - a single-pass reader for the common shape of an event.
 *
 * jansson costs about a fifth of a signature check per event: its lexer
 * reads one character at a time through callbacks and builds a DOM that is
 * thrown away at once. This reader handles the shape almost every client
 * sends: one JSON object with exactly the seven NIP-01 fields, plain
 * decimal integers, strings with the standard escapes. It decodes straight
 * into the ns_event block.
 *
 * It never refuses anything itself. Whenever the input leaves that shape
 * (an unknown or repeated key, a number that is not a plain integer in
 * range, hex that is not exactly right, an empty tag, \u0000, a lone
 * surrogate, invalid UTF-8, anything else) it answers NS_EUNSUP and the
 * caller parses the same text with jansson, which accepts or refuses it
 * with the proper reason. So the rules stay in one place (event.c), and
 * the fuzz target fuzz_event checks that whenever this reader accepts, the
 * jansson path accepts too and builds the identical event.
 */
#include "event.h"
#include "err.h"
#include "hex.h"

#include <stdlib.h>
#include <string.h>

/* A string found in the first pass: where it is and how long it will be
 * once decoded. */
typedef struct {
    const char *src;  /* first byte after the opening quote */
    uint32_t srclen;  /* bytes up to the closing quote */
    uint32_t len;     /* decoded length */
    bool escaped;     /* holds at least one backslash escape */
} ns_fast_str;

typedef struct {
    const char *p, *end;
    ns_fast_str *strs;   /* tag elements, in order */
    uint32_t nstrs, cap;
    ns_fast_str local[64];
} ns_fast;

static inline void ns_fast_ws(ns_fast *f)
{
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\r' || *f->p == '\t'))
        f->p++;
}

static inline bool ns_fast_eat(ns_fast *f, char c)
{
    ns_fast_ws(f);
    if (f->p < f->end && *f->p == c) {
        f->p++;
        return true;
    }
    return false;
}

static int ns_fast_hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Length of the strict UTF-8 sequence at s (1..4), or 0 if invalid; the
 * same rules as jansson: no overlong forms, no surrogates, <= U+10FFFF. */
static int ns_fast_utf8(const unsigned char *s, const unsigned char *end)
{
    unsigned char c = s[0];
    int n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (end - s < n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Scans a string starting at the opening quote. Computes the decoded
 * length; returns false for anything the fast path leaves to jansson. */
static bool ns_fast_scan_str(ns_fast *f, ns_fast_str *out)
{
    ns_fast_ws(f);
    if (f->p >= f->end || *f->p != '"')
        return false;
    const unsigned char *p = (const unsigned char *)f->p + 1, *end = (const unsigned char *)f->end;
    const unsigned char *start = p;
    size_t len = 0;
    bool escaped = false;
    for (;;) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        len += (size_t)(p - run);
        if (p >= end)
            return false;
        unsigned char c = *p;
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            int n = ns_fast_utf8(p, end);
            if (n == 0)
                return false;
            p += n;
            len += (size_t)n;
            continue;
        }
        /* backslash */
        escaped = true;
        if (end - p < 2)
            return false;
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            len += 1;
            break;
        case 'u': {
            if (end - p < 6)
                return false;
            int cp = ns_fast_hex4((const char *)p + 2);
            if (cp <= 0 || (cp >= 0xdc00 && cp <= 0xdfff))
                return false; /* \u0000 or a lone low surrogate: jansson decides */
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
                    return false;
                int lo = ns_fast_hex4((const char *)p + 8);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return false;
                p += 12;
                len += 4;
            } else {
                p += 6;
                len += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
            }
            break;
        }
        default:
            return false;
        }
    }
    if (len > UINT32_MAX - 1)
        return false;
    out->src = (const char *)start;
    out->srclen = (uint32_t)(p - start);
    out->len = (uint32_t)len;
    out->escaped = escaped;
    f->p = (const char *)p + 1;
    return true;
}

/* Decodes a scanned string into dst (out->len bytes plus a NUL). Returns
 * true when it produced a control character (only \u escapes can). */
static bool ns_fast_decode(const ns_fast_str *s, char *dst)
{
    if (!s->escaped) {
        memcpy(dst, s->src, s->len);
        dst[s->len] = '\0';
        return false;
    }
    const char *p = s->src, *end = s->src + s->srclen;
    bool controls = false;
    while (p < end) {
        if (*p != '\\') {
            *dst++ = *p++;
            continue;
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case 'b': *dst++ = '\b'; break;
        case 'f': *dst++ = '\f'; break;
        case 'n': *dst++ = '\n'; break;
        case 'r': *dst++ = '\r'; break;
        case 't': *dst++ = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)ns_fast_hex4(p);
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo = (uint32_t)ns_fast_hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp < 0x80) {
                if (cp < 0x20 && cp != '\b' && cp != '\t' && cp != '\n' && cp != '\f' && cp != '\r')
                    controls = true;
                *dst++ = (char)cp;
            } else if (cp < 0x800) {
                *dst++ = (char)(0xc0 | cp >> 6);
                *dst++ = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                *dst++ = (char)(0xe0 | cp >> 12);
                *dst++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *dst++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *dst++ = (char)(0xf0 | cp >> 18);
                *dst++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                *dst++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *dst++ = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default: *dst++ = e; break; /* " \ / */
        }
    }
    *dst = '\0';
    return controls;
}

/* A plain non-negative decimal integer no larger than max. */
static bool ns_fast_uint(ns_fast *f, int64_t max, int64_t *out)
{
    ns_fast_ws(f);
    const char *p = f->p;
    if (p >= f->end || *p < '0' || *p > '9')
        return false;
    if (*p == '0' && p + 1 < f->end && p[1] >= '0' && p[1] <= '9')
        return false;
    int64_t v = 0;
    while (p < f->end && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > max)
            return false;
        p++;
    }
    if (p < f->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return false;
    *out = v;
    f->p = p;
    return true;
}

static bool ns_fast_hex(ns_fast *f, uint8_t *out, size_t n)
{
    ns_fast_str s;
    if (!ns_fast_scan_str(f, &s) || s.escaped || s.len != 2 * n)
        return false;
    return ns_hex_decode(s.src, out, n) == 0;
}

static bool ns_fast_push(ns_fast *f, const ns_fast_str *s)
{
    if (f->nstrs == f->cap) {
        uint32_t cap = f->cap * 2;
        ns_fast_str *n = malloc(cap * sizeof *n);
        if (n == NULL)
            return false;
        memcpy(n, f->strs, f->nstrs * sizeof *n);
        if (f->strs != f->local)
            free(f->strs);
        f->strs = n;
        f->cap = cap;
    }
    f->strs[f->nstrs++] = *s;
    return true;
}

/* tags: [[s,...],...]; records every element and, per tag, its count
 * (stored in the `len` of a marker entry with src == NULL). */
static bool ns_fast_tags(ns_fast *f, uint32_t *ntags)
{
    if (!ns_fast_eat(f, '['))
        return false;
    *ntags = 0;
    if (ns_fast_eat(f, ']'))
        return true;
    do {
        if (!ns_fast_eat(f, '['))
            return false;
        ns_fast_str marker = {NULL, 0, 0, false};
        uint32_t at = f->nstrs;
        if (!ns_fast_push(f, &marker))
            return false;
        uint32_t n = 0;
        do {
            ns_fast_str s;
            if (!ns_fast_scan_str(f, &s) || !ns_fast_push(f, &s))
                return false;
            n++;
        } while (ns_fast_eat(f, ','));
        if (!ns_fast_eat(f, ']'))
            return false;
        f->strs[at].len = n;
        (*ntags)++;
    } while (ns_fast_eat(f, ','));
    return ns_fast_eat(f, ']');
}

enum { F_ID = 1, F_PUBKEY = 2, F_CREATED = 4, F_KIND = 8, F_TAGS = 16, F_CONTENT = 32, F_SIG = 64 };

static int ns_fast_key(const ns_fast_str *k)
{
    if (k->escaped)
        return 0;
    switch (k->len) {
    case 2: return memcmp(k->src, "id", 2) == 0 ? F_ID : 0;
    case 3: return memcmp(k->src, "sig", 3) == 0 ? F_SIG : 0;
    case 4: return memcmp(k->src, "kind", 4) == 0 ? F_KIND : memcmp(k->src, "tags", 4) == 0 ? F_TAGS : 0;
    case 6: return memcmp(k->src, "pubkey", 6) == 0 ? F_PUBKEY : 0;
    case 7: return memcmp(k->src, "content", 7) == 0 ? F_CONTENT : 0;
    case 10: return memcmp(k->src, "created_at", 10) == 0 ? F_CREATED : 0;
    default: return 0;
    }
}

static int ns_fast_parse(ns_fast *f, ns_event **out)
{
    ns_event head;
    memset(&head, 0, sizeof head);
    ns_fast_str content = {NULL, 0, 0, false};
    uint32_t ntags = 0;
    int64_t v;
    int seen = 0;
    if (!ns_fast_eat(f, '{'))
        return NS_EUNSUP;
    do {
        ns_fast_str k;
        if (!ns_fast_scan_str(f, &k) || !ns_fast_eat(f, ':'))
            return NS_EUNSUP;
        int field = ns_fast_key(&k);
        if (field == 0 || (seen & field))
            return NS_EUNSUP;
        seen |= field;
        bool ok;
        switch (field) {
        case F_ID: ok = ns_fast_hex(f, head.id, 32); break;
        case F_PUBKEY: ok = ns_fast_hex(f, head.pubkey, 32); break;
        case F_SIG: ok = ns_fast_hex(f, head.sig, 64); break;
        case F_CREATED:
            ok = ns_fast_uint(f, NS_EVENT_MAX_CREATED_AT, &v);
            head.created_at = v;
            break;
        case F_KIND:
            ok = ns_fast_uint(f, NS_EVENT_MAX_KIND, &v);
            head.kind = (uint32_t)v;
            break;
        case F_TAGS: ok = ns_fast_tags(f, &ntags); break;
        default: ok = ns_fast_scan_str(f, &content); break;
        }
        if (!ok)
            return NS_EUNSUP;
    } while (ns_fast_eat(f, ','));
    if (!ns_fast_eat(f, '}') || seen != 127)
        return NS_EUNSUP;

    /* Same block layout as ns_event_from_json. */
    size_t nfields = f->nstrs - ntags, strbytes = content.len + 1;
    for (uint32_t i = 0; i < f->nstrs; i++)
        if (f->strs[i].src != NULL)
            strbytes += f->strs[i].len + 1;
    size_t off_tags = sizeof(ns_event);
    size_t off_fields = off_tags + ntags * sizeof(ns_tag);
    size_t off_strs = off_fields + nfields * sizeof(ns_str);
    char *block = malloc(off_strs + strbytes);
    if (block == NULL)
        return NS_ENOMEM;
    ns_event *ev = (ns_event *)block;
    *ev = head;
    ev->ntags = ntags;
    ns_tag *tagv = (ns_tag *)(block + off_tags);
    ns_str *fields = (ns_str *)(block + off_fields);
    char *s = block + off_strs;
    bool controls = false;
    uint32_t t = 0;
    for (uint32_t i = 0; i < f->nstrs; i++) {
        const ns_fast_str *x = &f->strs[i];
        if (x->src == NULL) {
            tagv[t].n = x->len;
            tagv[t].v = fields;
            t++;
            continue;
        }
        controls |= ns_fast_decode(x, s);
        fields->ptr = s;
        fields->len = x->len;
        fields++;
        s += x->len + 1;
    }
    ev->tags = tagv;
    controls |= ns_fast_decode(&content, s);
    ev->content.ptr = s;
    ev->content.len = content.len;
    ev->has_raw_controls = controls;
    ns_event_finish(ev);
    *out = ev;
    return 0;
}

int ns_event_parse_fast(const char *text, size_t len, const char **after, ns_event **out)
{
    ns_fast f;
    f.p = text;
    f.end = text + len;
    f.strs = f.local;
    f.nstrs = 0;
    f.cap = sizeof f.local / sizeof f.local[0];
    *out = NULL;
    int rc = ns_fast_parse(&f, out);
    if (f.strs != f.local)
        free(f.strs);
    if (rc == 0)
        *after = f.p;
    return rc;
}
