/* query.c - filters to one SQL statement (see query.h). */
#include "query.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

static int ns_query_param(ns_query *q, ns_buf *text)
{
    char **p = realloc(q->params, (size_t)(q->nparams + 1) * sizeof *p);
    if (p == NULL)
        return NS_ENOMEM;
    q->params = p;
    ns_buf_addc(text, '\0');
    if (!ns_buf_ok(text))
        return NS_ENOMEM;
    q->params[q->nparams++] = text->data; /* the query takes the buffer */
    text->data = NULL;
    ns_buf_free(text);
    return q->nparams;
}

static void ns_bytea_lit(ns_buf *b, const uint8_t *p, size_t n)
{
    ns_buf_adds(b, "'\\x");
    ns_buf_add_hex(b, p, n);
    ns_buf_adds(b, "'::bytea");
}

/* (col IN (...) OR prefix conditions) for ids or authors. */
static void ns_hexset_sql(ns_buf *b, const char *col, const ns_hexset *hs)
{
    bool first = true;
    ns_buf_addc(b, '(');
    if (hs->n_exact) {
        ns_buf_addf(b, "%s IN (", col);
        for (uint32_t i = 0; i < hs->n_exact; i++) {
            if (i)
                ns_buf_addc(b, ',');
            ns_bytea_lit(b, hs->exact[i], 32);
        }
        ns_buf_addc(b, ')');
        first = false;
    }
    for (uint32_t i = 0; i < hs->n_prefix; i++) {
        const ns_hex_prefix *p = &hs->prefix[i];
        size_t full = p->nibbles / 2;
        if (!first)
            ns_buf_adds(b, " OR ");
        first = false;
        if (p->nibbles % 2 == 0) {
            ns_buf_addf(b, "substring(%s from 1 for %zu) = ", col, full);
            ns_bytea_lit(b, p->bytes, full);
        } else {
            uint8_t lo[32], hi[32];
            memcpy(lo, p->bytes, full + 1);
            memcpy(hi, p->bytes, full + 1);
            lo[full] &= 0xf0;
            hi[full] |= 0x0f;
            ns_buf_addf(b, "substring(%s from 1 for %zu) BETWEEN ", col, full + 1);
            ns_bytea_lit(b, lo, full + 1);
            ns_buf_adds(b, " AND ");
            ns_bytea_lit(b, hi, full + 1);
        }
    }
    ns_buf_addc(b, ')');
}

/* A PostgreSQL text[] literal: every element double-quoted, with \ and "
 * escaped, so any string (tag values never hold NUL) round-trips. */
static void ns_text_array(ns_buf *b, const ns_tag_filter *tf)
{
    ns_buf_addc(b, '{');
    for (uint32_t i = 0; i < tf->n; i++) {
        if (i)
            ns_buf_addc(b, ',');
        ns_buf_addc(b, '"');
        const char *s = tf->values[i].ptr;
        for (uint32_t k = 0; k < tf->values[i].len; k++) {
            if (s[k] == '"' || s[k] == '\\')
                ns_buf_addc(b, '\\');
            ns_buf_addc(b, s[k]);
        }
        ns_buf_addc(b, '"');
    }
    ns_buf_addc(b, '}');
}

/* The tag condition of tf (parameter $p, its values as a text[]) on the
 * event_tags row `t`; with elem 1..n, only that value's. Tag values can
 * exceed a btree entry, so the index holds their first 200 characters; a
 * value shorter than 200 bytes is matched exactly by that prefix alone (a
 * longer stored value has a longer prefix), so the whole value is compared
 * only when some value is that long. That matters beyond saving work:
 * PostgreSQL estimates the two comparisons as independent, believes almost
 * no row matches both, and then plans the newest-first scan away
 * (docs/performance.md). One value is plain equality, which the index
 * answers newest first. */
static void ns_tag_cond_sql(ns_buf *b, const ns_tag_filter *tf, int p, uint32_t elem)
{
    bool long_value = false;
    for (uint32_t i = 0; i < tf->n; i++)
        if (elem == 0 || elem == i + 1)
            long_value |= tf->values[i].len >= 200;
    if (elem == 0 && tf->n == 1)
        elem = 1;
    ns_buf_addf(b, "t.tag_name = '%c' AND left(t.tag_value, 200) = ", tf->name);
    if (elem && long_value)
        ns_buf_addf(b, "left(($%d::text[])[%u], 200) AND t.tag_value = ($%d::text[])[%u]", p, elem, p, elem);
    else if (elem)
        ns_buf_addf(b, "($%d::text[])[%u]", p, elem);
    else if (long_value)
        ns_buf_addf(b, "ANY(ARRAY(SELECT left(v, 200) FROM unnest($%d::text[]) v)) AND t.tag_value = ANY($%d::text[])",
                    p, p);
    else
        ns_buf_addf(b, "ANY($%d::text[])", p);
}

#define NS_EVENT_COLUMNS "event_id, event_pubkey, event_created_at, event_kind, event_tags, event_content, event_signature"

/* The conditions on `events` other than the lead tag's (see ns_filter_sql),
 * each starting with " AND ". */
static void ns_event_conds_sql(ns_buf *b, const ns_filter *f, int64_t now, int first, int lead)
{
    ns_buf_addf(b, " AND (expires_at IS NULL OR expires_at > %lld)", (long long)now);
    if (f->ids.present) {
        ns_buf_adds(b, " AND ");
        ns_hexset_sql(b, "event_id", &f->ids);
    }
    if (f->authors.present) {
        ns_buf_adds(b, " AND ");
        ns_hexset_sql(b, "event_pubkey", &f->authors);
    }
    if (f->has_kinds) {
        ns_buf_adds(b, " AND event_kind IN (");
        for (uint32_t i = 0; i < f->n_kinds; i++)
            ns_buf_addf(b, "%s%u", i ? "," : "", f->kinds[i]);
        ns_buf_addc(b, ')');
    }
    if (f->since >= 0)
        ns_buf_addf(b, " AND event_created_at >= %lld", (long long)f->since);
    if (f->until >= 0)
        ns_buf_addf(b, " AND event_created_at <= %lld", (long long)f->until);
    for (uint32_t i = 0; i < f->n_tags; i++) {
        if ((int)i == lead)
            continue;
        ns_buf_adds(b, " AND event_id = ANY(ARRAY(SELECT t.event_id FROM event_tags t WHERE ");
        ns_tag_cond_sql(b, &f->tags[i], first + (int)i, 0);
        ns_buf_adds(b, "))");
    }
}

/* The lead's condition for value elem, with since and until on the row. */
static void ns_lead_cond_sql(ns_buf *b, const ns_filter *f, int first, int lead, uint32_t elem)
{
    ns_tag_cond_sql(b, &f->tags[lead], first + lead, elem);
    if (f->since >= 0)
        ns_buf_addf(b, " AND t.event_created_at >= %lld", (long long)f->since);
    if (f->until >= 0)
        ns_buf_addf(b, " AND t.event_created_at <= %lld", (long long)f->until);
}

/* The newest-first lookup led by value elem of tag filter `lead`, LIMIT
 * limit, its events looked up in `table`. */
static void ns_newest_sql(ns_buf *b, const ns_filter *f, int64_t limit, int64_t now, int first, int lead,
                          uint32_t elem, const char *table)
{
    ns_buf_adds(b, "(SELECT " NS_EVENT_COLUMNS " FROM (SELECT t.event_id AS tag_event_id, t.event_created_at "
                   "AS tag_created_at FROM event_tags t WHERE ");
    ns_lead_cond_sql(b, f, first, lead, elem);
    ns_buf_addf(b, ") c CROSS JOIN LATERAL (SELECT " NS_EVENT_COLUMNS " FROM %s WHERE event_id = tag_event_id "
                   "AND event_created_at = tag_created_at AND deleted_at IS NULL", table);
    ns_event_conds_sql(b, f, now, first, lead);
    ns_buf_addf(b, " LIMIT 1) e ORDER BY tag_created_at DESC, event_id LIMIT %lld)", (long long)limit);
}

/* One branch led by value elem of tag filter `lead`, LIMIT limit (see
 * ns_filter_sql). Without storage nodes, the newest-first lookup in
 * `events`. With them, in two parts: `a`, the lookup in events_hot; then
 * the same as plain lookups in `events`, restricted to what could still
 * rank: when `a` is full, no older than its last row. */
static void ns_led_sql(ns_buf *b, const ns_filter *f, int64_t limit, int64_t now, int first, int lead,
                       uint32_t elem, bool nodes)
{
    if (!nodes) {
        ns_newest_sql(b, f, limit, now, first, lead, elem, "events");
        return;
    }
    ns_buf_adds(b, "(WITH a AS MATERIALIZED ");
    ns_newest_sql(b, f, limit, now, first, lead, elem, "events_hot");
    ns_buf_addf(b, ", b AS (SELECT CASE WHEN count(*) >= %lld THEN min(event_created_at) ELSE -2147483648 END "
                   "AS lo FROM a) ",
                (long long)limit);
    ns_buf_adds(b, "SELECT " NS_EVENT_COLUMNS " FROM (SELECT " NS_EVENT_COLUMNS " FROM a UNION (SELECT "
                   NS_EVENT_COLUMNS " FROM events WHERE deleted_at IS NULL AND event_created_at >= "
                   "(SELECT lo FROM b)");
    ns_event_conds_sql(b, f, now, first, lead);
    ns_buf_adds(b, " AND event_id = ANY(ARRAY(SELECT t.event_id FROM event_tags t WHERE ");
    ns_lead_cond_sql(b, f, first, lead, elem);
    ns_buf_addf(b, " AND t.event_created_at >= (SELECT lo FROM b))) ORDER BY event_created_at DESC, event_id "
                   "LIMIT %lld)) x ORDER BY event_created_at DESC, event_id LIMIT %lld)",
                (long long)limit, (long long)limit);
}

/* The tag filter that leads f's subquery: the one with the fewest values,
 * at most NS_QUERY_LEAD_VALUES_MAX of them (the first of equals), or -1 for
 * none: no tag filter, ids given (they are the better lead), or every tag
 * filter has more values. */
int ns_query_lead(const ns_filter *f)
{
    int lead = -1;
    if (f->ids.present)
        return -1;
    for (uint32_t i = 0; i < f->n_tags; i++)
        if (f->tags[i].n <= NS_QUERY_LEAD_VALUES_MAX && (lead < 0 || f->tags[i].n < f->tags[lead].n))
            lead = (int)i;
    return lead;
}

/* One filter's subquery. Three shapes:
 *
 * - Led by a one-value tag condition, e.g. {"#p":[key], "limit":20}: that
 *   value's event_tags rows newest first (within since and until), and for
 *   each, its event looked up by (event_id, event_created_at), which
 *   prunes the lookup to the one partition that can hold it; the LIMIT
 *   ends the scan, so the cost follows the limit, not how often the value
 *   was ever mentioned (migrations/0006). With storage nodes (flag
 *   NS_QUERY_NODES) a lookup that lands on a node would be a remote round
 *   trip per event (through postgres_fdw: 82 statements on the node for
 *   40 events), so the lookups go to events_hot only, and the rest is
 *   asked of `events` in the last shape below, restricted, when the local
 *   part filled the LIMIT, to rows no older than its last: that prunes, at
 *   run time, every partition older than that, and a node that is asked
 *   gets one query. Both forms are right whatever the partitions are; the
 *   flag only picks the faster (without nodes the second made `#p` REQs
 *   40-60 % and three-hashtag REQs 80 % slower, bench/run.sh tag-p and
 *   tag-t at 1M events). The lookup is a LATERAL ... LIMIT 1 subquery,
 *   which PostgreSQL cannot flatten: as a plain join it multiplies the
 *   selectivities of event_id and event_created_at as if independent,
 *   expects about one row, and sorts every match instead of stopping
 *   early. The tag rows must not come from
 *   an ORDER BY subquery either: that one is planned apart, for all its
 *   rows, so a popular value's are all read and sorted (163 ms against
 *   0.7 ms for a key with 61,302 mentions, docs/performance.md). An event
 *   has at most one row per tag value (nostream_put_event), so none comes
 *   twice.
 * - Led by a tag condition of 2..NS_QUERY_LEAD_VALUES_MAX values, e.g.
 *   {"#t":["nostr","bitcoin"], "limit":50}: one such branch per value, each
 *   with the filter's LIMIT, their UNION (an event tagged with two of the
 *   values comes once) newest first, LIMIT again. It reads at most LIMIT
 *   rows per value, and never more than fetching every match would.
 * - Otherwise: `events` with each tag condition as `event_id = ANY(the
 *   matching ids from the local event_tags)`, an InitPlan: every partition,
 *   local or foreign, is asked for those ids, which postgres_fdw ships to
 *   the storage node, where the unique index on event_id answers them. A
 *   semi-join instead could pull a whole remote table across.
 * The other tag conditions are always of this last kind. */
static int ns_filter_sql(ns_query *q, const ns_filter *f, int64_t limit, int64_t now, bool nodes)
{
    ns_buf *b = &q->sql;
    int first = q->nparams + 1; /* tag filter i's values are parameter first + i */
    for (uint32_t i = 0; i < f->n_tags; i++) {
        ns_buf arr = NS_BUF_INIT;
        ns_text_array(&arr, &f->tags[i]);
        int p = ns_query_param(q, &arr);
        if (p < 0)
            return p;
    }
    int lead = ns_query_lead(f);
    if (lead >= 0 && f->tags[lead].n == 1) {
        ns_led_sql(b, f, limit, now, first, lead, 1, nodes);
    } else if (lead >= 0) {
        ns_buf_adds(b, "(SELECT " NS_EVENT_COLUMNS " FROM (");
        for (uint32_t v = 1; v <= f->tags[lead].n; v++) {
            if (v > 1)
                ns_buf_adds(b, " UNION ");
            ns_led_sql(b, f, limit, now, first, lead, v, nodes);
        }
        ns_buf_addf(b, ") u ORDER BY event_created_at DESC, event_id LIMIT %lld)", (long long)limit);
    } else {
        ns_buf_adds(b, "(SELECT " NS_EVENT_COLUMNS " FROM events WHERE deleted_at IS NULL");
        ns_event_conds_sql(b, f, now, first, -1);
        ns_buf_addf(b, " ORDER BY event_created_at DESC, event_id LIMIT %lld)", (long long)limit);
    }
    return 0;
}

int ns_query_build(ns_filter *const *fs, size_t n, int64_t default_limit, int64_t max_limit,
                   int64_t now, unsigned flags, ns_query *q)
{
    memset(q, 0, sizeof *q);
    int used = 0;
    ns_buf_adds(&q->sql, "SELECT event_id, event_pubkey, event_created_at, event_kind, "
                         "event_tags::text, event_content, event_signature FROM (");
    for (size_t i = 0; i < n; i++) {
        const ns_filter *f = fs[i];
        int64_t limit = f->limit >= 0 ? f->limit : default_limit;
        if (limit > max_limit)
            limit = max_limit;
        if (limit == 0 || ns_filter_is_empty(f))
            continue;
        if (used++)
            ns_buf_adds(&q->sql, " UNION ");
        int rc = ns_filter_sql(q, f, limit, now, (flags & NS_QUERY_NODES) != 0);
        if (rc < 0)
            return rc;
    }
    ns_buf_adds(&q->sql, ") AS e ORDER BY event_created_at DESC, event_id");
    ns_buf_addc(&q->sql, '\0');
    return ns_buf_ok(&q->sql) ? used : NS_ENOMEM;
}

void ns_query_free(ns_query *q)
{
    ns_buf_free(&q->sql);
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    q->params = NULL;
    q->nparams = 0;
}
