/* filter.h - NIP-01 subscription filters: strict parsing and matching.
 *
 * A filter is parsed once when a REQ arrives and then matched against every
 * candidate event for the life of the subscription, so parsing does the
 * work up front: hex is decoded to bytes, every value list is sorted and
 * deduplicated so that matching is a binary search, and anything malformed
 * is refused with a reason ready for CLOSED.
 *
 * Semantics (NIP-01): the fields of one filter are ANDed, the values of one
 * field ORed; since <= created_at <= until; a tag filter #x matches when
 * some tag has the name "x" and one of the values as its second element. An
 * empty value list matches nothing (as nostr-tools does). A list of filters
 * matches when any filter does.
 */
#ifndef NS_FILTER_H
#define NS_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"

typedef struct ns_filter_opts {
    /* Shortest accepted hex prefix for ids and authors (nostream's
     * minPrefixLength); 64 accepts full values only, as NIP-01 now says. */
    uint32_t min_prefix_len;
    /* Most values in any one list (nostream's maxFilterValues); 0: no limit. */
    uint32_t max_values;
} ns_filter_opts;

#define NS_FILTER_OPTS_DEFAULT {64, 2500}

/* A hex prefix of an id or pubkey: `nibbles` hex digits in `bytes`. */
typedef struct ns_hex_prefix {
    uint8_t bytes[32];
    uint8_t nibbles; /* 1..63 */
} ns_hex_prefix;

/* The ids or authors of a filter. */
typedef struct ns_hexset {
    bool present;             /* the field was given (maybe empty) */
    uint32_t n_exact;
    uint8_t (*exact)[32];     /* sorted, unique */
    uint32_t n_prefix;
    ns_hex_prefix *prefix;
} ns_hexset;

typedef struct ns_tag_filter {
    char name;                /* the tag letter, a-z or A-Z */
    uint32_t n;
    ns_str *values;           /* sorted by (length, bytes), unique */
} ns_tag_filter;

typedef struct ns_filter {
    ns_hexset ids;
    ns_hexset authors;
    bool has_kinds;
    uint32_t n_kinds;
    uint16_t *kinds;          /* sorted, unique */
    int64_t since;            /* -1 when absent */
    int64_t until;            /* -1 when absent */
    int64_t limit;            /* -1 when absent */
    uint32_t n_tags;
    ns_tag_filter *tags;      /* sorted by name */
} ns_filter;

/* Parses one filter object.
 *
 * Returns: 0; NS_EINVAL for a malformed filter; NS_EUNSUP for a field the
 *          relay does not support (e.g. NIP-50 "search"); NS_ENOMEM.
 * In:      obj   the decoded filter (not retained); opts  the limits.
 * Out:     out   on success a new filter, freed with ns_filter_free().
 *          reason  "invalid: ..." or "unsupported: ..." naming the field.
 */
int ns_filter_from_json(const json_t *obj, const ns_filter_opts *opts, ns_filter **out,
                        char *reason, size_t reason_len);

/* Frees a filter from ns_filter_from_json; NULL is ignored. */
void ns_filter_free(ns_filter *f);

/* True when ev matches f. */
bool ns_filter_match(const ns_filter *f, const ns_event *ev);

/* True when ev matches any of the n filters. */
bool ns_filters_match(ns_filter *const *fs, size_t n, const ns_event *ev);

/* True when the filter can match no event at all (an empty list, or
 * since > until), so a REQ need not touch storage for it. */
bool ns_filter_is_empty(const ns_filter *f);

#endif
