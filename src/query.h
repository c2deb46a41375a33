/* query.h - one SQL statement for one REQ.
 *
 * Builds the SELECT that answers a list of filters: each filter becomes a
 * subquery with its own ORDER BY ... LIMIT, the subqueries are combined with
 * UNION (so no event comes twice), and the whole is ordered newest first.
 * Deleted and expired rows are excluded inside each subquery, before its
 * LIMIT, so a page never comes back short. Two tag filters in one filter
 * are two independent conditions (nostream's single join could never
 * satisfy both).
 *
 * Values that come from clients as text (tag values) travel as parameters;
 * everything inlined is generated here from validated numbers and bytes
 * (hex), so no client text is ever spliced into SQL.
 */
#ifndef NS_QUERY_H
#define NS_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "filter.h"

typedef struct ns_query {
    ns_buf sql;       /* NUL terminated */
    int nparams;
    char **params;    /* text-format parameters, each malloc'd */
} ns_query;

/* ns_query_build flags. NODES: `events` has foreign partitions (storage
 * nodes): look events up in events_hot only and ask the rest in one query
 * per node (query.c, ns_filter_sql). The SQL is right either way. */
#define NS_QUERY_NODES 1u

/* Builds the query for n filters, skipping filters that cannot match.
 * Returns: the number of filters used (0: nothing to query), or NS_ENOMEM.
 * In:  default_limit  rows for a filter without limit; max_limit  cap.
 *      now  the current time, for NIP-40 expiration.
 *      flags  0 or NS_QUERY_NODES.
 * Out: q  initialised here; release with ns_query_free (also on error). */
int ns_query_build(ns_filter *const *fs, size_t n, int64_t default_limit, int64_t max_limit,
                   int64_t now, unsigned flags, ns_query *q);

void ns_query_free(ns_query *q);

/* The most values a tag filter may have to lead its filter's query: one
 * newest-first branch per value (query.c, ns_filter_sql). */
#define NS_QUERY_LEAD_VALUES_MAX 16

/* Which tag filter of f leads its subquery (an index into f->tags), or -1
 * when none does. Returns: -1..f->n_tags-1. */
int ns_query_lead(const ns_filter *f);

/* The columns every row of the query has, in this order. */
enum { NS_QCOL_ID, NS_QCOL_PUBKEY, NS_QCOL_CREATED_AT, NS_QCOL_KIND, NS_QCOL_TAGS, NS_QCOL_CONTENT,
       NS_QCOL_SIG };

#endif
