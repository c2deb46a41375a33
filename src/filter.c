/* filter.c - NIP-01 filter parsing and matching (see filter.h). */
#include "filter.h"
#include "err.h"
#include "hex.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------- */

static int ns_cmp_id32(const void *a, const void *b) { return memcmp(a, b, 32); }

static int ns_cmp_u16(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

static int ns_cmp_str(const void *a, const void *b)
{
    const ns_str *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->ptr, y->ptr, x->len);
}

/* Sorts n elements and drops duplicates; returns the new count. */
static uint32_t ns_sort_unique(void *base, uint32_t n, size_t size,
                               int (*cmp)(const void *, const void *))
{
    if (n < 2)
        return n;
    qsort(base, n, size, cmp);
    char *p = base;
    uint32_t w = 1;
    for (uint32_t r = 1; r < n; r++) {
        if (cmp(p + (size_t)(w - 1) * size, p + (size_t)r * size) != 0) {
            if (w != r)
                memcpy(p + (size_t)w * size, p + (size_t)r * size, size);
            w++;
        }
    }
    return w;
}

static int ns_check_list(const json_t *v, const char *field, const ns_filter_opts *o, char *reason,
                         size_t rlen)
{
    if (!json_is_array(v))
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: %s must be an array", field);
    if (o->max_values && json_array_size(v) > o->max_values)
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: %s has %zu values, more than the maximum of %u",
                       field, json_array_size(v), o->max_values);
    return 0;
}

/* ---- parsing ----------------------------------------------------------- */

static int ns_parse_hexset(const json_t *v, const char *field, const ns_filter_opts *o,
                           ns_hexset *hs, char *reason, size_t rlen)
{
    int rc = ns_check_list(v, field, o, reason, rlen);
    if (rc != 0)
        return rc;
    size_t n = json_array_size(v);
    hs->present = true;
    hs->exact = malloc(n ? n * 32 : 1);
    hs->prefix = malloc(n ? n * sizeof(ns_hex_prefix) : 1);
    if (hs->exact == NULL || hs->prefix == NULL)
        return ns_fail(reason, rlen, NS_ENOMEM, "error: out of memory");
    uint32_t minlen = o->min_prefix_len < 1 ? 1 : o->min_prefix_len > 64 ? 64 : o->min_prefix_len;
    size_t i;
    const json_t *el;
    json_array_foreach(v, i, el) {
        const char *s = json_string_value(el);
        size_t len = json_string_length(el);
        if (s == NULL || len < minlen || len > 64 || !ns_hex_is_lower(s, len)) {
            if (minlen == 64)
                return ns_fail(reason, rlen, NS_EINVAL,
                               "invalid: %s[%zu] must be 64 lower-case hex characters", field, i);
            return ns_fail(reason, rlen, NS_EINVAL,
                           "invalid: %s[%zu] must be %u to 64 lower-case hex characters", field, i,
                           minlen);
        }
        if (len == 64) {
            ns_hex_decode(s, hs->exact[hs->n_exact++], 32);
        } else {
            ns_hex_prefix *p = &hs->prefix[hs->n_prefix++];
            memset(p, 0, sizeof *p);
            p->nibbles = (uint8_t)len;
            for (size_t k = 0; k < len; k++)
                p->bytes[k / 2] |= (uint8_t)(ns_hex_val((unsigned char)s[k]) << (k % 2 ? 0 : 4));
        }
    }
    hs->n_exact = ns_sort_unique(hs->exact, hs->n_exact, 32, ns_cmp_id32);
    return 0;
}

static int ns_parse_kinds(const json_t *v, const ns_filter_opts *o, ns_filter *f, char *reason,
                          size_t rlen)
{
    int rc = ns_check_list(v, "kinds", o, reason, rlen);
    if (rc != 0)
        return rc;
    size_t n = json_array_size(v);
    f->has_kinds = true;
    f->kinds = malloc(n ? n * sizeof(uint16_t) : 1);
    if (f->kinds == NULL)
        return ns_fail(reason, rlen, NS_ENOMEM, "error: out of memory");
    size_t i;
    const json_t *el;
    json_array_foreach(v, i, el) {
        if (!json_is_integer(el) || json_integer_value(el) < 0 ||
            json_integer_value(el) > (json_int_t)NS_EVENT_MAX_KIND)
            return ns_fail(reason, rlen, NS_EINVAL,
                           "invalid: kinds[%zu] must be an integer between 0 and 65535", i);
        f->kinds[f->n_kinds++] = (uint16_t)json_integer_value(el);
    }
    f->n_kinds = ns_sort_unique(f->kinds, f->n_kinds, sizeof(uint16_t), ns_cmp_u16);
    return 0;
}

static int ns_parse_uint(const json_t *v, const char *field, int64_t *out, char *reason, size_t rlen)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: %s must be a non-negative integer", field);
    *out = json_integer_value(v);
    return 0;
}

static int ns_parse_tag_values(const json_t *v, const char *field, const ns_filter_opts *o,
                               ns_tag_filter *tf, char *reason, size_t rlen)
{
    int rc = ns_check_list(v, field, o, reason, rlen);
    if (rc != 0)
        return rc;
    size_t n = json_array_size(v), bytes = 0, i;
    const json_t *el;
    json_array_foreach(v, i, el) {
        if (!json_is_string(el))
            return ns_fail(reason, rlen, NS_EINVAL, "invalid: %s[%zu] must be a string", field, i);
        size_t len = json_string_length(el);
        if (memchr(json_string_value(el), '\0', len) != NULL)
            return ns_fail(reason, rlen, NS_EINVAL,
                           "invalid: %s[%zu] contains a NUL character (\\u0000)", field, i);
        if (len > UINT32_MAX - 1)
            return ns_fail(reason, rlen, NS_EINVAL, "invalid: %s[%zu] is too long", field, i);
        bytes += len + 1;
    }
    /* The value table and the bytes it points to share one allocation. */
    char *block = malloc(n * sizeof(ns_str) + bytes + 1);
    if (block == NULL)
        return ns_fail(reason, rlen, NS_ENOMEM, "error: out of memory");
    tf->values = (ns_str *)block;
    char *s = block + n * sizeof(ns_str);
    json_array_foreach(v, i, el) {
        size_t len = json_string_length(el);
        memcpy(s, json_string_value(el), len);
        s[len] = '\0';
        tf->values[i].ptr = s;
        tf->values[i].len = (uint32_t)len;
        s += len + 1;
    }
    tf->n = ns_sort_unique(tf->values, (uint32_t)n, sizeof(ns_str), ns_cmp_str);
    return 0;
}

static bool ns_is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int ns_cmp_tag_filter(const void *a, const void *b)
{
    const ns_tag_filter *x = a, *y = b;
    return (x->name > y->name) - (x->name < y->name);
}

int ns_filter_from_json(const json_t *obj, const ns_filter_opts *o, ns_filter **out, char *reason,
                        size_t rlen)
{
    *out = NULL;
    if (!json_is_object(obj))
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: a filter must be a JSON object");
    ns_filter *f = calloc(1, sizeof *f);
    if (f == NULL)
        return ns_fail(reason, rlen, NS_ENOMEM, "error: out of memory");
    f->since = f->until = f->limit = -1;

    size_t ntag_keys = 0;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (key[0] == '#')
            ntag_keys++;
    }
    if (ntag_keys > 0 && (f->tags = calloc(ntag_keys, sizeof(ns_tag_filter))) == NULL) {
        free(f);
        return ns_fail(reason, rlen, NS_ENOMEM, "error: out of memory");
    }

    int rc = 0;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "ids") == 0)
            rc = ns_parse_hexset(v, "ids", o, &f->ids, reason, rlen);
        else if (strcmp(key, "authors") == 0)
            rc = ns_parse_hexset(v, "authors", o, &f->authors, reason, rlen);
        else if (strcmp(key, "kinds") == 0)
            rc = ns_parse_kinds(v, o, f, reason, rlen);
        else if (strcmp(key, "since") == 0)
            rc = ns_parse_uint(v, "since", &f->since, reason, rlen);
        else if (strcmp(key, "until") == 0)
            rc = ns_parse_uint(v, "until", &f->until, reason, rlen);
        else if (strcmp(key, "limit") == 0)
            rc = ns_parse_uint(v, "limit", &f->limit, reason, rlen);
        else if (key[0] == '#' && ns_is_letter(key[1]) && key[2] == '\0') {
            ns_tag_filter *tf = &f->tags[f->n_tags++];
            tf->name = key[1];
            rc = ns_parse_tag_values(v, key, o, tf, reason, rlen);
        } else if (key[0] == '#')
            rc = ns_fail(reason, rlen, NS_EUNSUP,
                         "unsupported: tag filter \"%.40s\": only single-letter tags are indexed", key);
        else
            rc = ns_fail(reason, rlen, NS_EUNSUP, "unsupported: unknown filter field \"%.40s\"", key);
        if (rc != 0) {
            ns_filter_free(f);
            return rc;
        }
    }
    if (f->n_tags > 1)
        qsort(f->tags, f->n_tags, sizeof(ns_tag_filter), ns_cmp_tag_filter);
    *out = f;
    return 0;
}

void ns_filter_free(ns_filter *f)
{
    if (f == NULL)
        return;
    free(f->ids.exact);
    free(f->ids.prefix);
    free(f->authors.exact);
    free(f->authors.prefix);
    free(f->kinds);
    for (uint32_t i = 0; i < f->n_tags; i++)
        free(f->tags[i].values);
    free(f->tags);
    free(f);
}

/* ---- matching ---------------------------------------------------------- */

static bool ns_prefix_match(const ns_hex_prefix *p, const uint8_t *v)
{
    size_t full = p->nibbles / 2;
    if (memcmp(p->bytes, v, full) != 0)
        return false;
    return p->nibbles % 2 == 0 || (p->bytes[full] & 0xf0) == (v[full] & 0xf0);
}

static bool ns_hexset_match(const ns_hexset *hs, const uint8_t *v)
{
    if (!hs->present)
        return true;
    if (hs->n_exact && bsearch(v, hs->exact, hs->n_exact, 32, ns_cmp_id32) != NULL)
        return true;
    for (uint32_t i = 0; i < hs->n_prefix; i++)
        if (ns_prefix_match(&hs->prefix[i], v))
            return true;
    return false;
}

static bool ns_tag_filter_match(const ns_tag_filter *tf, const ns_event *ev)
{
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const ns_tag *t = &ev->tags[i];
        if (t->n >= 2 && t->v[0].len == 1 && t->v[0].ptr[0] == tf->name &&
            bsearch(&t->v[1], tf->values, tf->n, sizeof(ns_str), ns_cmp_str) != NULL)
            return true;
    }
    return false;
}

bool ns_filter_match(const ns_filter *f, const ns_event *ev)
{
    if (f->since >= 0 && ev->created_at < f->since)
        return false;
    if (f->until >= 0 && ev->created_at > f->until)
        return false;
    if (f->has_kinds) {
        uint16_t k = (uint16_t)ev->kind;
        if (ev->kind > NS_EVENT_MAX_KIND ||
            bsearch(&k, f->kinds, f->n_kinds, sizeof(uint16_t), ns_cmp_u16) == NULL)
            return false;
    }
    if (!ns_hexset_match(&f->ids, ev->id) || !ns_hexset_match(&f->authors, ev->pubkey))
        return false;
    for (uint32_t i = 0; i < f->n_tags; i++)
        if (!ns_tag_filter_match(&f->tags[i], ev))
            return false;
    return true;
}

bool ns_filters_match(ns_filter *const *fs, size_t n, const ns_event *ev)
{
    for (size_t i = 0; i < n; i++)
        if (ns_filter_match(fs[i], ev))
            return true;
    return false;
}

bool ns_filter_is_empty(const ns_filter *f)
{
    if (f->ids.present && f->ids.n_exact == 0 && f->ids.n_prefix == 0)
        return true;
    if (f->authors.present && f->authors.n_exact == 0 && f->authors.n_prefix == 0)
        return true;
    if (f->has_kinds && f->n_kinds == 0)
        return true;
    for (uint32_t i = 0; i < f->n_tags; i++)
        if (f->tags[i].n == 0)
            return true;
    return f->since >= 0 && f->until >= 0 && f->since > f->until;
}
