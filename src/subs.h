/* subs.h - live subscriptions and the index that finds them.
 *
 * When an event is stored, the relay must find the subscriptions it
 * matches without testing every one. Each filter is filed under one key,
 * the most selective it has: one of its ids, else one of its authors, else
 * one value of its first tag filter, else one of its kinds; filters with
 * none of these (or with hex prefixes) go on a short catch-all list. An
 * event looks up the keys it carries (its id, its author, each
 * single-letter tag value, its kind), then runs the full matcher only on
 * those candidates. Keys are hashed with SipHash under a random key, so
 * clients cannot aim many values at one bucket.
 *
 * Owned by the WebSocket thread; not thread-safe.
 */
#ifndef NS_SUBS_H
#define NS_SUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "filter.h"

typedef struct ns_sub {
    void *conn;             /* the owning connection (ws.c) */
    char *id;               /* subscription id as the client sent it */
    size_t id_len;
    ns_filter **filters;
    size_t nfilters;
    uint64_t seq;           /* distinguishes a REQ from one that replaced it */
    uint64_t stamp;         /* last fan-out that delivered to it */
    bool eose;              /* stored events done; live ones flow */
    struct ns_sub *next;    /* in the connection's list */
} ns_sub;

typedef struct ns_subindex ns_subindex;

/* Returns a new empty index (free with ns_subindex_free), or NULL. */
ns_subindex *ns_subindex_new(void);
void ns_subindex_free(ns_subindex *ix);

/* Files every filter of sub. Returns 0 or NS_ENOMEM. */
int ns_subindex_add(ns_subindex *ix, ns_sub *sub);

/* Removes every filter of sub (which must have been added). */
void ns_subindex_remove(ns_subindex *ix, ns_sub *sub);

/* Calls fn once for each subscription that ev matches. Returns the count. */
size_t ns_subindex_match(ns_subindex *ix, const ns_event *ev, void (*fn)(ns_sub *, void *), void *arg);

/* Number of filters filed. */
size_t ns_subindex_size(const ns_subindex *ix);

/* Frees a subscription's id and filters and the struct itself. */
void ns_sub_free(ns_sub *s);

#endif
