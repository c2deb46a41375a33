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

static int ns_filter_sql(ns_query *q, const ns_filter *f, int64_t limit, int64_t now)
{
    ns_buf *b = &q->sql;
    ns_buf_adds(b, "(SELECT event_id, event_pubkey, event_created_at, event_kind, event_tags, "
                   "event_content, event_signature FROM events WHERE deleted_at IS NULL");
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
        ns_buf arr = NS_BUF_INIT;
        ns_text_array(&arr, &f->tags[i]);
        int p = ns_query_param(q, &arr);
        if (p < 0)
            return p;
        /* The matching ids come from the local event_tags first (an
         * InitPlan), then every partition, local or foreign, is asked for
         * `event_id = ANY(those ids)`: postgres_fdw ships that array to the
         * storage node, where the unique index on event_id answers it. A
         * semi-join instead could pull a whole remote table across. */
        ns_buf_addf(b, " AND event_id = ANY(ARRAY(SELECT t.event_id FROM event_tags t WHERE t.tag_name = '%c'"
                       " AND left(t.tag_value, 200) = ANY(ARRAY(SELECT left(v, 200) FROM "
                       "unnest($%d::text[]) v)) AND t.tag_value = ANY($%d::text[])))",
                    f->tags[i].name, p, p);
    }
    ns_buf_addf(b, " ORDER BY event_created_at DESC, event_id LIMIT %lld)", (long long)limit);
    return 0;
}

int ns_query_build(ns_filter *const *fs, size_t n, int64_t default_limit, int64_t max_limit,
                   int64_t now, ns_query *q)
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
        int rc = ns_filter_sql(q, f, limit, now);
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
