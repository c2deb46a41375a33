/* buf.h - a growable byte buffer.
 *
 * Used wherever the relay builds output of unknown length: the canonical
 * serialization that is hashed into an event id, the JSON written to
 * clients, SQL text. A buffer starts empty and owns its memory; ns_buf_free
 * releases it. Appends never fail silently: on allocation failure the buffer
 * is marked failed, later appends are no-ops, and ns_buf_ok() reports it, so
 * a caller can build a whole message and check once at the end.
 */
#ifndef NS_BUF_H
#define NS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ns_buf {
    char *data;   /* heap memory owned by the buffer, or NULL when empty */
    size_t len;   /* bytes in use */
    size_t cap;   /* bytes allocated */
    bool failed;  /* an allocation failed; contents are incomplete */
} ns_buf;

#define NS_BUF_INIT {NULL, 0, 0, false}

/* Makes room for at least `extra` more bytes. Returns 0 or NS_ENOMEM. */
int ns_buf_reserve(ns_buf *b, size_t extra);

/* Appends n bytes. */
static inline void ns_buf_add(ns_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n && ns_buf_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void ns_buf_addc(ns_buf *b, char c)
{
    if (b->cap == b->len && ns_buf_reserve(b, 1) != 0)
        return;
    b->data[b->len++] = c;
}

static inline void ns_buf_adds(ns_buf *b, const char *s) { ns_buf_add(b, s, strlen(s)); }

/* Appends the decimal form of v. */
void ns_buf_add_i64(ns_buf *b, int64_t v);

/* Appends printf-formatted text. */
void ns_buf_addf(ns_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends 2*n lower-case hex digits for n bytes. */
void ns_buf_add_hex(ns_buf *b, const uint8_t *p, size_t n);

/* Appends s as a string of the NIP-01 canonical serialization: only
 * \n \" \\ \r \t \b \f escaped, every other byte verbatim. With
 * `stringify_controls` set, other control characters below 0x20 are written
 * as \u00XX instead, the way JSON.stringify (and so nostr-tools) does. */
void ns_buf_add_canon_str(ns_buf *b, const char *s, size_t n, bool stringify_controls);

/* Appends s as a JSON string (quotes included) with the escaping the relay
 * uses on the wire: \" \\ \b \f \n \r \t, \u00XX for the other control
 * characters, every other byte verbatim. s must be valid UTF-8. */
static inline void ns_buf_add_json_str(ns_buf *b, const char *s, size_t n)
{
    ns_buf_add_canon_str(b, s, n, true);
}

static inline bool ns_buf_ok(const ns_buf *b) { return !b->failed; }
static inline void ns_buf_reset(ns_buf *b) { b->len = 0; b->failed = false; }

/* Releases the memory; the buffer is empty and reusable afterwards. */
void ns_buf_free(ns_buf *b);

#endif
