/* buf.c - growable byte buffer and the JSON string escapers.
 *
 * The two escapers are the heart of id computation and of what clients
 * receive, so they are written by hand: no JSON library escapes exactly as
 * NIP-01 requires (only seven characters escaped, everything else verbatim).
 */
#include "buf.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int ns_buf_reserve(ns_buf *b, size_t extra)
{
    if (b->failed)
        return NS_ENOMEM;
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len) { /* overflow */
        b->failed = true;
        return NS_ENOMEM;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return NS_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void ns_buf_add_i64(ns_buf *b, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof tmp, *p = end;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    ns_buf_add(b, p, (size_t)(end - p));
}

void ns_buf_addf(ns_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || ns_buf_reserve(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static const char ns_hexdig[] = "0123456789abcdef";

void ns_buf_add_hex(ns_buf *b, const uint8_t *p, size_t n)
{
    if (ns_buf_reserve(b, 2 * n) != 0)
        return;
    char *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        o[2 * i] = ns_hexdig[p[i] >> 4];
        o[2 * i + 1] = ns_hexdig[p[i] & 15];
    }
    b->len += 2 * n;
}

/* Escape class of each byte: 0 verbatim, a letter for a two-character
 * escape, 'u' for \u00XX. Only bytes below 0x20, '"' and '\\' are special. */
static const char ns_esc_class[256] = {
    ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
    ['"'] = '"', ['\\'] = '\\',
    [0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',
    [0x05] = 'u', [0x06] = 'u', [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u',
    [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u', [0x13] = 'u',
    [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u',
    [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u',
    [0x1e] = 'u', [0x1f] = 'u',
};

/* One escaper for both forms: `uctl` says whether 'u'-class bytes are escaped as \u00XX
 * (true) or copied verbatim (false, the NIP-01 canonical rule). */
void ns_buf_add_canon_str(ns_buf *b, const char *s, size_t n, bool uctl)
{
    /* Worst case 6 output bytes per input byte, plus the quotes. */
    if (n > (SIZE_MAX - 2) / 6 || ns_buf_reserve(b, 6 * n + 2) != 0) {
        b->failed = true;
        return;
    }
    char *o = b->data + b->len;
    *o++ = '"';
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && ns_esc_class[*p] == 0)
            p++;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p == end)
            break;
        char cls = ns_esc_class[*p];
        if (cls != 'u') {
            *o++ = '\\';
            *o++ = cls;
        } else if (uctl) {
            memcpy(o, "\\u00", 4);
            o[4] = ns_hexdig[*p >> 4];
            o[5] = ns_hexdig[*p & 15];
            o += 6;
        } else {
            *o++ = (char)*p;
        }
        p++;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}


void ns_buf_free(ns_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}
