/* fuzz_query.c - libFuzzer target for the filter-to-SQL builder.
 *
 * Filters come either from fuzzed JSON through ns_filter_from_json (an
 * input that starts with '{' or '[': one filter or a list), or, for any
 * other input, straight from the bytes as ns_filter structs that keep the
 * documented invariants (hex prefixes of 1..63 nibbles, letters as tag
 * names, tag values without NUL, -1 or non-negative numbers), so values the
 * JSON parser would never produce in one filter still reach the builder.
 *
 * Every query built must hold what store_pg.c and PostgreSQL rely on:
 *   - the SQL is NUL terminated, printable ASCII, with no comment, no
 *     semicolon, no quoted identifier, balanced parentheses;
 *   - every quoted literal is one the builder generates from validated
 *     bytes (a '\x<hex>'::bytea or a one-letter tag name), so no client
 *     text is spliced in; and the SQL does not change at all when every
 *     tag value is replaced by another (values travel only as parameters);
 *   - every $N is in 1..nparams and every parameter is used, by the tag
 *     condition it belongs to;
 *   - each parameter is a text[] literal that reads back as exactly the
 *     tag filter's values;
 *   - one subquery per filter that can match, in order, each with
 *     LIMIT min(limit or default, max_limit) in 1..max_limit, its since,
 *     until, kinds, exact ids and prefix ranges all present;
 *   - its shape follows the lead rule of query.h (written again here):
 *     led by the tag filter of fewest values (at most 16) unless ids are
 *     given, one branch per value of the lead, each comparing its own
 *     value, every other tag condition once per branch.
 * fuzz_message.c includes this file (with FQ_NO_ENTRY) to check the
 * queries of the REQs it parses (its make rule does not list this file:
 * after editing it, rebuild build/fuzz/fuzz_message by hand).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "filter.h"
#include "hex.h"
#include "query.h"

/* ---- the invariants ------------------------------------------------------ */

static const char *fq_sql_now; /* for the failure report */

static void fq_fail(const char *what)
{
    fprintf(stderr, "fuzz_query: %s\nSQL: %s\n", what, fq_sql_now ? fq_sql_now : "(none)");
    abort();
}

static bool fq_is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
static bool fq_is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Reads a PostgreSQL text[] literal of double-quoted elements back into
 * elements; true when it is exactly the n values, in order. */
static bool fq_param_is(const char *p, const ns_str *values, uint32_t n)
{
    if (*p++ != '{')
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && *p++ != ',')
            return false;
        if (*p++ != '"')
            return false;
        uint32_t k = 0;
        for (;;) {
            char c = *p++;
            if (c == '\0')
                return false;
            if (c == '"')
                break;
            if (c == '\\' && (c = *p++) == '\0')
                return false;
            if (k >= values[i].len || values[i].ptr[k] != c)
                return false;
            k++;
        }
        if (k != values[i].len)
            return false;
    }
    return p[0] == '}' && p[1] == '\0';
}

/* The effective LIMIT of a filter, or 0 when the builder must skip it. */
static int64_t fq_limit(const ns_filter *f, int64_t def, int64_t max)
{
    int64_t limit = f->limit >= 0 ? f->limit : def;
    if (limit > max)
        limit = max;
    return ns_filter_is_empty(f) ? 0 : limit;
}

/* Appends the literal a hex prefix must produce (even nibbles: equal to the
 * whole bytes; odd: between the prefix padded with 0 and with f). */
static void fq_prefix_sql(ns_buf *b, const char *col, const ns_hex_prefix *p)
{
    char hex[65];
    ns_hex_encode(p->bytes, 32, hex);
    unsigned nb = (p->nibbles + 1u) / 2;
    ns_buf_addf(b, "substring(%s from 1 for %u) ", col, nb);
    if (p->nibbles % 2 == 0)
        ns_buf_addf(b, "= '\\x%.*s'::bytea", (int)p->nibbles, hex);
    else
        ns_buf_addf(b, "BETWEEN '\\x%.*s0'::bytea AND '\\x%.*sf'::bytea", (int)p->nibbles, hex,
                    (int)p->nibbles, hex);
}

static void fq_must_contain(const char *hay, size_t hay_len, ns_buf *needle, const char *what)
{
    ns_buf_addc(needle, '\0');
    if (!ns_buf_ok(needle) || memmem(hay, hay_len, needle->data, needle->len - 1) == NULL) {
        fprintf(stderr, "missing: %s\n", needle->data ? needle->data : "");
        fq_fail(what);
    }
    ns_buf_reset(needle);
}

/* A filter's subquery opens with this and "events WHERE ", or is one
 * branch led by a tag value, or opens with this and "(" and the first of
 * such branches, one per value (query.c, ns_filter_sql). A branch opens
 * with FQ_NEWEST, or, with storage nodes (NS_QUERY_NODES), with FQ_WITH. */
#define FQ_HEAD                                                                                      \
    "(SELECT event_id, event_pubkey, event_created_at, event_kind, event_tags, event_content, "         \
    "event_signature FROM "
static const char fq_head[] = FQ_HEAD;
#define FQ_NEWEST FQ_HEAD "(SELECT t.event_id AS tag_event_id"
#define FQ_WITH "(WITH a AS MATERIALIZED " FQ_NEWEST

/* Whether s opens a branch led by a tag value, of the form nodes asks. */
static bool fq_is_branch(const char *s, bool nodes)
{
    return nodes ? strncmp(s, FQ_WITH, sizeof FQ_WITH - 1) == 0 : strncmp(s, FQ_NEWEST, sizeof FQ_NEWEST - 1) == 0;
}

/* The tag filter that must lead, written again from query.h's contract:
 * no ids, and the fewest values, at most NS_QUERY_LEAD_VALUES_MAX, the
 * first of equals; or -1. */
static int fq_lead(const ns_filter *f)
{
    int lead = -1;
    for (uint32_t i = 0; i < f->n_tags && !f->ids.present; i++) {
        uint32_t n = f->tags[i].n;
        if (n <= NS_QUERY_LEAD_VALUES_MAX && (lead < 0 || n < f->tags[lead].n))
            lead = (int)i;
    }
    return lead;
}

/* What one filter's subquery [s, s+len) must say. */
static void fq_check_subquery(const char *s, size_t len, const ns_filter *f, int64_t limit, int64_t now,
                              bool nodes)
{
    /* The shape follows the lead (fq_lead): one newest-first branch, one per
     * value under a UNION, or events filtered directly. Its lookups go to
     * events, or with storage nodes to events_hot. */
    int lead = fq_lead(f);
    bool led = fq_is_branch(s, nodes);
    const char *rest = s + sizeof fq_head - 1;
    bool unioned = !led && rest[0] == '(' && fq_is_branch(rest + 1, nodes);
    if (led != (lead >= 0 && f->tags[lead].n == 1) || unioned != (lead >= 0 && f->tags[lead].n > 1))
        fq_fail("the wrong shape for the filter");
    static const char other[] = " WHERE event_id = tag_event_id";
    ns_buf w = NS_BUF_INIT;
    ns_buf_addf(&w, " FROM %s%s", nodes ? "events" : "events_hot", other);
    if ((led || unioned) && memmem(s, len, w.data, w.len) != NULL)
        fq_fail("events looked up in the wrong table");
    ns_buf_free(&w);
    if (unioned) {
        ns_buf u = NS_BUF_INIT;
        ns_buf_addf(&u, ") u ORDER BY event_created_at DESC, event_id LIMIT %" PRId64 ")", limit);
        fq_must_contain(s, len, &u, "the union of branches is not limited");
        ns_buf_free(&u);
    }
    ns_buf b = NS_BUF_INIT;
    ns_buf_addf(&b, "expires_at > %" PRId64 ")", now);
    fq_must_contain(s, len, &b, "the expiration condition is missing");
    ns_buf_addf(&b, " LIMIT %" PRId64 ")", limit);
    fq_must_contain(s, len, &b, "wrong LIMIT");
    if (f->since >= 0) {
        ns_buf_addf(&b, " AND event_created_at >= %" PRId64 " ", f->since);
        fq_must_contain(s, len, &b, "since is missing");
    }
    if (f->until >= 0) {
        ns_buf_addf(&b, " AND event_created_at <= %" PRId64 " ", f->until);
        fq_must_contain(s, len, &b, "until is missing");
    }
    if (f->has_kinds) {
        ns_buf_adds(&b, " AND event_kind IN (");
        for (uint32_t i = 0; i < f->n_kinds; i++)
            ns_buf_addf(&b, "%s%u", i ? "," : "", (unsigned)f->kinds[i]);
        ns_buf_adds(&b, ")");
        fq_must_contain(s, len, &b, "kinds are missing");
    }
    const ns_hexset *sets[2] = {&f->ids, &f->authors};
    const char *cols[2] = {"event_id", "event_pubkey"};
    for (int k = 0; k < 2; k++) {
        if (!sets[k]->present)
            continue;
        char hex[65];
        for (uint32_t i = 0; i < sets[k]->n_exact; i++) {
            ns_hex_encode(sets[k]->exact[i], 32, hex);
            ns_buf_addf(&b, "'\\x%s'::bytea", hex);
            fq_must_contain(s, len, &b, "an exact id or author is missing");
        }
        for (uint32_t i = 0; i < sets[k]->n_prefix; i++) {
            fq_prefix_sql(&b, cols[k], &sets[k]->prefix[i]);
            fq_must_contain(s, len, &b, "a prefix range is missing or wrong");
        }
    }
    for (uint32_t i = 0; i < f->n_tags; i++) {
        ns_buf_addf(&b, "t.tag_name = '%c'", f->tags[i].name);
        fq_must_contain(s, len, &b, "a tag condition is missing");
    }
    ns_buf_free(&b);
}

/* Every tag condition of a subquery [s, e) names a tag filter and uses
 * its parameter only (first + its index), and no other placeholder is
 * there. Each tag filter's condition comes once per branch (one branch,
 * or one per value of the lead when there are several); each names the
 * element it compares, [k], exactly when it compares one value: the
 * lead's conditions compare each of its values once, a one-value filter
 * [1], a filter of more values all of them (ANY). */
static void fq_check_tags(const char *s, const char *e, const ns_filter *f, int first, bool nodes)
{
    static const char cond[] = "t.tag_name = '";
    int lead = fq_lead(f);
    uint32_t branches = lead >= 0 ? f->tags[lead].n : 1;
    uint32_t parts = lead >= 0 && nodes ? 2 : 1; /* with nodes: events_hot, then the rest */
    uint8_t elem_seen[NS_QUERY_LEAD_VALUES_MAX + 1] = {0};
    uint32_t *seen = calloc((size_t)f->n_tags + 1, sizeof *seen);
    if (seen == NULL)
        abort();
    const char *at = memmem(s, (size_t)(e - s), cond, sizeof cond - 1);
    for (const char *d = s; d < (at ? at : e); d++)
        if (*d == '$')
            fq_fail("a placeholder outside a tag condition");
    while (at != NULL) {
        const char *from = at + sizeof cond - 1;
        const char *next = memmem(from, (size_t)(e - from), cond, sizeof cond - 1);
        const char *end = next ? next : e;
        int t = -1;
        long elem = -1;
        for (const char *d = from; d < end; d++) {
            if (*d != '$')
                continue;
            char *after;
            long v = strtol(d + 1, &after, 10);
            if (v < first || v >= first + (long)f->n_tags || (t >= 0 && v - first != t))
                fq_fail("a placeholder in the wrong tag condition");
            t = (int)(v - first);
            long k = 0; /* 0: ANY, all values */
            if (strncmp(after, "::text[])[", 10) == 0)
                k = strtol(after + 10, NULL, 10);
            if (elem >= 0 && k != elem)
                fq_fail("one tag condition compares two elements");
            elem = k;
        }
        if (t < 0)
            fq_fail("a tag condition without its parameter");
        if (*from != f->tags[t].name)
            fq_fail("a tag condition names another tag than its parameter's");
        if (t == lead && branches > 1) {
            if (elem < 1 || elem > (long)branches || elem_seen[elem] >= parts)
                fq_fail("the lead's branches do not compare each value once per part");
            elem_seen[elem]++;
        } else if (elem != (f->tags[t].n == 1 ? 1 : 0)) {
            fq_fail("a tag condition compares the wrong elements");
        }
        seen[t]++;
        at = next;
    }
    for (uint32_t t = 0; t < f->n_tags; t++)
        if (seen[t] != branches * parts)
            fq_fail("not one tag condition per tag filter, branch and part");
    free(seen);
}

/* Walks the SQL once: allowed bytes, literals, placeholders, parentheses,
 * subqueries. Marks the parameters used in `used` (nparams + 1 entries). */
static void fq_check_text(const char *sql, size_t len, int nparams, bool *used, size_t *nsub,
                          const char **sub_at, size_t max_sub)
{
    /* Filters' subqueries are the heads at depth 1, inside the outer
     * SELECT's FROM (...); branches and lookups are deeper. */
    static const char *const head = fq_head;
    const size_t head_len = sizeof fq_head - 1;
    long depth = 0;
    *nsub = 0;
    for (size_t i = 0; i < len; i++) {
        char c = sql[i];
        if (c < 0x20 || c > 0x7e)
            fq_fail("a byte outside printable ASCII");
        if (c == ';' || c == '"' || c == '`')
            fq_fail("a semicolon or a quoted identifier");
        if ((c == '-' && sql[i + 1] == '-') || (c == '/' && sql[i + 1] == '*'))
            fq_fail("a comment");
        if (c == '(') {
            if (depth == 1) {
                bool with = strncmp(sql + i, FQ_WITH, sizeof FQ_WITH - 1) == 0;
                if (!with && strncmp(sql + i, head, head_len) != 0)
                    fq_fail("a filter's subquery with another head");
                const char *rest = sql + i + head_len;
                if (!with && strncmp(rest, "events WHERE ", 13) != 0 &&
                    strncmp(rest, "(SELECT t.event_id AS tag_event_id", 34) != 0 &&
                    (rest[0] != '(' || (!fq_is_branch(rest + 1, false) && !fq_is_branch(rest + 1, true))))
                    fq_fail("a subquery that is neither filtered nor led by a tag condition");
                if (*nsub < max_sub)
                    sub_at[*nsub] = sql + i;
                (*nsub)++;
            }
            depth++;
        } else if (c == ')') {
            if (--depth < 0)
                fq_fail("a ')' without its '('");
        } else if (c == '$') {
            long v = 0;
            size_t k = i + 1;
            while (k < len && sql[k] >= '0' && sql[k] <= '9' && k - i <= 9)
                v = v * 10 + (sql[k++] - '0');
            if (k == i + 1 || v < 1 || v > nparams)
                fq_fail("a placeholder outside 1..nparams");
            if (strncmp(sql + k, "::text[]", 8) != 0)
                fq_fail("a placeholder not cast to text[]");
            used[v] = true;
            i = k - 1;
        } else if (c == '\'') {
            size_t k = i + 1;
            if (fq_is_letter(sql[k]) && sql[k + 1] == '\'') {
                if (i < 11 || strncmp(sql + i - 11, "tag_name = ", 11) != 0)
                    fq_fail("a one-letter literal outside a tag condition");
                k += 1;
            } else {
                if (sql[k] != '\\' || sql[k + 1] != 'x')
                    fq_fail("a quoted literal the builder does not make");
                k += 2;
                size_t start = k;
                while (fq_is_hex(sql[k]))
                    k++;
                if (sql[k] != '\'' || (k - start) % 2 != 0 || k == start || k - start > 64 ||
                    strncmp(sql + k + 1, "::bytea", 7) != 0)
                    fq_fail("a bytea literal that is not whole lower-case hex");
            }
            i = k; /* the closing quote */
        }
    }
    if (depth != 0)
        fq_fail("unbalanced parentheses");
}

/* Builds the query for n filters and checks every invariant; then again
 * with every tag value replaced, which must change nothing but the
 * parameters. Returns the builder's count of filters used. */
static int fq_check_flags(ns_filter *const *fs, size_t n, int64_t def, int64_t max, int64_t now, unsigned flags)
{
    ns_query q;
    bool nodes = (flags & NS_QUERY_NODES) != 0;
    int rc = ns_query_build(fs, n, def, max, now, flags, &q);
    fq_sql_now = q.sql.data;
    if (rc < 0)
        fq_fail("ns_query_build failed");
    if (q.sql.len == 0 || q.sql.data[q.sql.len - 1] != '\0' || strlen(q.sql.data) != q.sql.len - 1)
        fq_fail("the SQL is not one NUL-terminated string");
    if (q.nparams < 0 || (q.nparams > 0 && q.params == NULL))
        fq_fail("bad parameter count");

    /* What the builder must have used, in order. */
    size_t expect_used = 0, expect_params = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t lim = fq_limit(fs[i], def, max);
        if (lim > 0) {
            expect_used++;
            expect_params += fs[i]->n_tags;
        } else if (lim < 0) {
            fq_fail("a negative LIMIT would be generated");
        }
    }
    if ((size_t)rc != expect_used || (size_t)q.nparams != expect_params)
        fq_fail("wrong number of subqueries or parameters");

    bool *used = calloc((size_t)q.nparams + 1, 1);
    const char **sub_at = calloc(expect_used + 1, sizeof *sub_at);
    if (used == NULL || sub_at == NULL)
        abort();
    size_t nsub;
    fq_check_text(q.sql.data, q.sql.len - 1, q.nparams, used, &nsub, sub_at, expect_used);
    if (nsub != expect_used)
        fq_fail("subquery count differs from the filters used");
    for (int p = 1; p <= q.nparams; p++)
        if (!used[p])
            fq_fail("a parameter is never referenced");

    /* Per filter: its subquery and its parameters, in order. */
    size_t si = 0;
    int pi = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t lim = fq_limit(fs[i], def, max);
        if (lim <= 0)
            continue;
        const char *s = sub_at[si];
        const char *e = si + 1 < nsub ? sub_at[si + 1] : q.sql.data + q.sql.len - 1;
        fq_check_subquery(s, (size_t)(e - s), fs[i], lim, now, nodes);
        fq_check_tags(s, e, fs[i], pi + 1, nodes);
        for (uint32_t t = 0; t < fs[i]->n_tags; t++, pi++)
            if (!fq_param_is(q.params[pi], fs[i]->tags[t].values, fs[i]->tags[t].n))
                fq_fail("a parameter does not read back as its tag values");
        si++;
    }
    free(used);
    free(sub_at);

    /* The same filters with other tag values: the same SQL. Each value
     * becomes quotes, a backslash, a placeholder and its bytes flipped, of
     * its length (the builder treats values of 200 bytes and more
     * differently), so any byte of it spliced into the SQL would show. */
    size_t ntags = 0, bytes = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t t = 0; t < fs[i]->n_tags; t++) {
            ntags++;
            for (uint32_t k = 0; k < fs[i]->tags[t].n; k++)
                bytes += fs[i]->tags[t].values[k].len + 7;
        }
    ns_str **orig = calloc(ntags + 1, sizeof *orig);
    ns_str **repl = calloc(ntags + 1, sizeof *repl);
    char *text = malloc(bytes + 1), *dst = text;
    if (orig == NULL || repl == NULL || text == NULL)
        abort();
    size_t ti = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t t = 0; t < fs[i]->n_tags; t++, ti++) {
            ns_tag_filter *tf = &fs[i]->tags[t];
            if ((repl[ti] = calloc(tf->n + 1, sizeof(ns_str))) == NULL)
                abort();
            for (uint32_t k = 0; k < tf->n; k++) {
                const ns_str *v = &tf->values[k];
                static const char odd[] = "'\"\\$1;";
                for (uint32_t c = 0; c < v->len; c++)
                    dst[c] = c < 6 ? odd[c] : v->ptr[c] == 'a' ? 'b' : 'a';
                dst[v->len] = '\0';
                repl[ti][k].ptr = dst;
                repl[ti][k].len = v->len;
                dst += v->len + 7;
            }
            orig[ti] = tf->values;
            tf->values = repl[ti];
        }
    ns_query q2;
    int rc2 = ns_query_build(fs, n, def, max, now, flags, &q2);
    /* The real values go back before anything can abort. */
    ti = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t t = 0; t < fs[i]->n_tags; t++, ti++) {
            fs[i]->tags[t].values = orig[ti];
            free(repl[ti]);
        }
    free(orig);
    free(repl);
    free(text);
    if (rc2 != rc || q2.nparams != q.nparams || q2.sql.len != q.sql.len ||
        memcmp(q2.sql.data, q.sql.data, q.sql.len) != 0)
        fq_fail("the SQL depends on the tag values");
    ns_query_free(&q2);
    ns_query_free(&q);
    fq_sql_now = NULL;
    return rc;
}

/* fq_check_flags without storage nodes and with: the same count. */
static int fq_check(ns_filter *const *fs, size_t n, int64_t def, int64_t max, int64_t now)
{
    int rc = fq_check_flags(fs, n, def, max, now, 0);
    if (fq_check_flags(fs, n, def, max, now, NS_QUERY_NODES) != rc)
        fq_fail("storage nodes change the filters used");
    return rc;
}

#ifndef FQ_NO_ENTRY

/* ---- filters from bytes ---------------------------------------------- */

typedef struct fq_in {
    const uint8_t *p;
    size_t n;
} fq_in;

static uint8_t fq_u8(fq_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t fq_u64(fq_in *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | fq_u8(in);
    return v;
}

/* -1 (absent) or a non-negative number, often a small or an extreme one. */
static int64_t fq_num(fq_in *in)
{
    switch (fq_u8(in) % 6) {
    case 0: return -1;
    case 1: return 0;
    case 2: return fq_u8(in);
    case 3: return (int64_t)fq_u64(in, 2);
    case 4: return (int64_t)(fq_u64(in, 8) & INT64_MAX);
    default: return INT64_MAX;
    }
}

static void fq_hexset(fq_in *in, ns_hexset *hs)
{
    uint8_t ctl = fq_u8(in);
    if (!(ctl & 1))
        return;
    hs->present = true;
    hs->n_exact = (ctl >> 1) % 4;
    hs->n_prefix = (ctl >> 3) % 4;
    hs->exact = calloc(hs->n_exact + 1, 32);
    hs->prefix = calloc(hs->n_prefix + 1, sizeof *hs->prefix);
    if (hs->exact == NULL || hs->prefix == NULL)
        abort();
    for (uint32_t i = 0; i < hs->n_exact; i++)
        for (int k = 0; k < 32; k++)
            hs->exact[i][k] = fq_u8(in);
    for (uint32_t i = 0; i < hs->n_prefix; i++) {
        ns_hex_prefix *p = &hs->prefix[i];
        p->nibbles = (uint8_t)(1 + fq_u8(in) % 63);
        for (int k = 0; k < (p->nibbles + 1) / 2; k++)
            p->bytes[k] = fq_u8(in);
        if (p->nibbles % 2)
            p->bytes[p->nibbles / 2] &= 0xf0; /* as the parser leaves it */
    }
}

static ns_filter *fq_filter(fq_in *in)
{
    ns_filter *f = calloc(1, sizeof *f);
    if (f == NULL)
        abort();
    fq_hexset(in, &f->ids);
    fq_hexset(in, &f->authors);
    uint8_t ctl = fq_u8(in);
    if (ctl & 1) {
        f->has_kinds = true;
        f->n_kinds = (ctl >> 1) % 6;
        if ((f->kinds = calloc(f->n_kinds + 1, sizeof *f->kinds)) == NULL)
            abort();
        for (uint32_t i = 0; i < f->n_kinds; i++)
            f->kinds[i] = (uint16_t)fq_u64(in, 2);
    }
    f->since = fq_num(in);
    f->until = fq_num(in);
    f->limit = fq_num(in);
    f->n_tags = (ctl >> 4) % 4;
    if ((f->tags = calloc(f->n_tags + 1, sizeof *f->tags)) == NULL)
        abort();
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (uint32_t t = 0; t < f->n_tags; t++) {
        ns_tag_filter *tf = &f->tags[t];
        tf->name = letters[fq_u8(in) % 52];
        tf->n = fq_u8(in) % 5;
        uint8_t lens[4];
        size_t bytes = 0;
        for (uint32_t k = 0; k < tf->n; k++)
            bytes += (lens[k] = fq_u8(in) % 24) + 1u;
        /* One block, as the parser allocates it (ns_filter_free frees it). */
        char *block = malloc(tf->n * sizeof(ns_str) + bytes + 1);
        if (block == NULL)
            abort();
        tf->values = (ns_str *)block;
        char *s = block + tf->n * sizeof(ns_str);
        for (uint32_t k = 0; k < tf->n; k++) {
            for (uint8_t c = 0; c < lens[k]; c++) {
                s[c] = (char)fq_u8(in);
                if (s[c] == '\0')
                    s[c] = '\'';
            }
            s[lens[k]] = '\0';
            tf->values[k].ptr = s;
            tf->values[k].len = lens[k];
            s += lens[k] + 1;
        }
    }
    return f;
}

/* ---- the target -------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FQ_MAX_FILTERS = 12 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_filter *fs[FQ_MAX_FILTERS];
    size_t n = 0;
    if (size > 0 && (data[0] == '{' || data[0] == '[')) {
        json_error_t jerr;
        json_t *j = json_loadb((const char *)data, size, NS_JSON_DECODE_FLAGS, &jerr);
        if (j == NULL)
            return 0;
        static const ns_filter_opts opts[2] = {{1, 0}, {64, 2500}};
        for (int o = 0; o < 2; o++) {
            n = 0;
            char reason[256];
            if (json_is_array(j)) {
                for (size_t i = 0; i < json_array_size(j) && n < FQ_MAX_FILTERS; i++)
                    if (ns_filter_from_json(json_array_get(j, i), &opts[o], &fs[n], reason, sizeof reason) == 0)
                        n++;
            } else if (ns_filter_from_json(j, &opts[o], &fs[n], reason, sizeof reason) == 0) {
                n++;
            }
            fq_check(fs, n, 500, 5000, 1700000000);
            fq_check(fs, n, 2, 3, 0);
            fq_check(fs, n, 0, 0, INT64_MAX);
            for (size_t i = 0; i < n; i++)
                ns_filter_free(fs[i]);
        }
        json_decref(j);
        return 0;
    }
    fq_in in = {data, size};
    int64_t max = fq_u8(&in) % 2 ? (int64_t)fq_u64(&in, 2) : (int64_t)(fq_u64(&in, 4) & INT32_MAX);
    int64_t def = (int64_t)fq_u64(&in, 2);
    int64_t now = (int64_t)(fq_u64(&in, 8) & INT64_MAX);
    n = fq_u8(&in) % 5;
    for (size_t i = 0; i < n; i++)
        fs[i] = fq_filter(&in);
    fq_check(fs, n, def, max, now);
    for (size_t i = 0; i < n; i++)
        ns_filter_free(fs[i]);
    return 0;
}

#endif
