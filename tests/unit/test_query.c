/* test_query.c - unit tests for src/query.c (the SQL itself is run against
 * a real PostgreSQL by the integration tests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "err.h"
#include "query.h"

static ns_filter *F(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    assert_non_null(j);
    ns_filter_opts o = {4, 100};
    ns_filter *f;
    char reason[256];
    if (ns_filter_from_json(j, &o, &f, reason, sizeof reason) != 0)
        fail_msg("%s: %s", text, reason);
    json_decref(j);
    return f;
}

static void test_shapes(void **state)
{
    (void)state;
    ns_filter *fs[3] = {
        F("{\"kinds\":[1,7],\"since\":10,\"until\":20,\"limit\":99999}"),
        F("{\"authors\":[\"abcde\",\"0000000000000000000000000000000000000000000000000000000000000001\"],"
          "\"#e\":[\"x'y\",\"a\\\"b\\\\c\"],\"#p\":[\"q\"]}"),
        F("{\"ids\":[]}"),
    };
    ns_query q;
    assert_int_equal(ns_query_build(fs, 3, 500, 5000, 12345, 0, &q), 2);
    const char *sql = q.sql.data;
    assert_non_null(strstr(sql, "event_kind IN (1,7) AND event_created_at >= 10 AND event_created_at <= 20"));
    assert_non_null(strstr(sql, "LIMIT 5000)"));   /* clamped to max */
    assert_non_null(strstr(sql, "LIMIT 500)"));    /* default */
    assert_non_null(strstr(sql, "expires_at > 12345"));
    assert_non_null(strstr(sql, " UNION "));
    assert_non_null(strstr(sql, "event_pubkey IN ('\\x0000000000000000000000000000000000000000000000000000000000000001'::bytea)"));
    assert_non_null(strstr(sql, "substring(event_pubkey from 1 for 3) BETWEEN '\\xabcde0'::bytea AND '\\xabcdef'::bytea"));
    assert_non_null(strstr(sql, "t.tag_name = 'e'"));
    assert_non_null(strstr(sql, "t.tag_name = 'p'"));
    /* Client text never appears in the SQL, only in parameters. */
    assert_null(strstr(sql, "x'y"));
    assert_int_equal(q.nparams, 2);
    assert_string_equal(q.params[0], "{\"x'y\",\"a\\\"b\\\\c\"}");
    assert_string_equal(q.params[1], "{\"q\"}");
    ns_query_free(&q);

    /* Led by a one-value tag condition: that value's event_tags rows
     * newest first within since/until, each event looked up by id and
     * created_at. The rows have no ORDER BY of their own (it would be
     * planned for all of them); the ORDER BY ... LIMIT reads them from the
     * index. Values under 200 bytes are matched by their index prefix
     * alone. */
    ns_filter *led[2] = {F("{\"#p\":[\"q\"],\"#t\":[\"a\",\"b\"],\"since\":5,\"until\":9}"),
                         F("{\"ids\":[\"abcd\"],\"#p\":[\"q\"]}")};
    static const char newest[] =
        "(SELECT event_id, event_pubkey, event_created_at, event_kind, event_tags, event_content, event_signature "
        "FROM (SELECT t.event_id AS tag_event_id, t.event_created_at AS tag_created_at "
        "FROM event_tags t WHERE t.tag_name = 'p' AND left(t.tag_value, 200) = "
        "($1::text[])[1] AND t.event_created_at >= 5 AND t.event_created_at <= 9) "
        "c CROSS JOIN LATERAL (SELECT event_id, event_pubkey, event_created_at, event_kind, event_tags, "
        "event_content, event_signature FROM %s WHERE event_id = tag_event_id AND "
        "event_created_at = tag_created_at AND deleted_at IS NULL";
    char want[1024];
    for (unsigned flags = 0; flags <= NS_QUERY_NODES; flags += NS_QUERY_NODES) {
        assert_int_equal(ns_query_build(led, 2, 500, 5000, 1, flags, &q), 2);
        sql = q.sql.data;
        snprintf(want, sizeof want, newest, flags ? "events_hot" : "events");
        const char *lead = strstr(sql, want);
        assert_non_null(lead);
        assert_true(flags ? lead > sql && strncmp(lead - 24, "(WITH a AS MATERIALIZED ", 24) == 0
                          : strncmp(lead - 6, "FROM (", 6) == 0);
        assert_non_null(strstr(lead, "t.tag_name = 't' AND left(t.tag_value, 200) = ANY($2::text[]))) LIMIT 1) e "
                                     "ORDER BY tag_created_at DESC, event_id LIMIT 500)"));
        /* With storage nodes, then the same in the plain shape over
         * `events`, no older than a's last row when a is full. */
        const char *rest = strstr(lead, ", b AS (SELECT CASE WHEN count(*) >= 500 THEN min(event_created_at) "
                                        "ELSE -2147483648 END AS lo FROM a) SELECT event_id, event_pubkey, "
                                        "event_created_at, event_kind, event_tags, event_content, event_signature "
                                        "FROM (SELECT event_id, event_pubkey, event_created_at, event_kind, "
                                        "event_tags, event_content, event_signature FROM a UNION (SELECT event_id, "
                                        "event_pubkey, event_created_at, event_kind, event_tags, event_content, "
                                        "event_signature FROM events WHERE deleted_at IS NULL AND event_created_at "
                                        ">= (SELECT lo FROM b)");
        assert_true((rest != NULL) == (flags != 0));
        if (rest)
            assert_non_null(strstr(rest, " AND event_id = ANY(ARRAY(SELECT t.event_id FROM event_tags t WHERE "
                                         "t.tag_name = 'p' AND left(t.tag_value, 200) = ($1::text[])[1] AND "
                                         "t.event_created_at >= 5 AND t.event_created_at <= 9 AND "
                                         "t.event_created_at >= (SELECT lo FROM b))) ORDER BY event_created_at "
                                         "DESC, event_id LIMIT 500)) x ORDER BY event_created_at DESC, event_id "
                                         "LIMIT 500) UNION "));
        /* With ids, the ids lead: the second subquery is the plain shape. */
        const char *second = strstr(lead, "LIMIT 500) UNION (SELECT ");
        assert_non_null(second);
        assert_null(strstr(second, "LATERAL"));
        assert_non_null(strstr(second, "t.tag_name = 'p' AND left(t.tag_value, 200) = ($3::text[])[1]))"));
        ns_query_free(&q);
    }
    ns_filter_free(led[0]);
    ns_filter_free(led[1]);

    /* A value of 200 bytes or more is compared whole as well. */
    char big[400];
    snprintf(big, sizeof big, "{\"#e\":[\"%0200d\"]}", 7);
    ns_filter *longv = F(big);
    assert_int_equal(ns_query_build(&longv, 1, 500, 5000, 1, 0, &q), 1);
    assert_non_null(strstr(q.sql.data, "left(t.tag_value, 200) = left(($1::text[])[1], 200) AND "
                                       "t.tag_value = ($1::text[])[1]"));
    ns_query_free(&q);
    ns_filter_free(longv);

    /* Led by a tag condition of a few values: one newest-first branch per
     * value, each with the filter's LIMIT, their UNION limited again. The
     * tag filter with the fewest values leads (here #t, two values); the
     * others stay conditions on the looked-up event. */
    ns_filter *multi = F("{\"#p\":[\"x\",\"y\",\"z\"],\"#t\":[\"a\",\"b\"],\"kinds\":[1],\"limit\":7}");
    assert_int_equal(ns_query_lead(multi), 1);
    assert_int_equal(ns_query_build(&multi, 1, 500, 5000, 1, 0, &q), 1);
    sql = q.sql.data;
    assert_non_null(strstr(sql, "LIMIT 7)) u ORDER BY event_created_at DESC, event_id LIMIT 7)"));
    const char *b1 = strstr(sql, "FROM event_tags t WHERE t.tag_name = 't' AND left(t.tag_value, 200) = ($2::text[])[1]) "
                                 "c CROSS JOIN LATERAL");
    const char *b2 = strstr(sql, " UNION (SELECT event_id, event_pubkey, event_created_at, event_kind, event_tags, "
                                 "event_content, event_signature FROM (SELECT t.event_id AS tag_event_id, "
                                 "t.event_created_at AS tag_created_at FROM event_tags t WHERE t.tag_name = 't' AND "
                                 "left(t.tag_value, 200) = ($2::text[])[2]) c CROSS JOIN LATERAL");
    assert_non_null(b1);
    assert_non_null(b2);
    assert_true(b1 < b2);
    assert_null(strstr(sql, "($2::text[])[3]"));
    /* Each branch keeps #p and the kinds as conditions on the event. */
    assert_non_null(strstr(b1, "t.tag_name = 'p' AND left(t.tag_value, 200) = ANY($1::text[]))) LIMIT 1) e "
                               "ORDER BY tag_created_at DESC, event_id LIMIT 7) UNION "));
    assert_non_null(strstr(b2, "t.tag_name = 'p' AND left(t.tag_value, 200) = ANY($1::text[]))) LIMIT 1) e "
                               "ORDER BY tag_created_at DESC, event_id LIMIT 7)) u ORDER BY"));
    assert_non_null(strstr(b1, "event_kind IN (1)"));
    assert_non_null(strstr(b2, "event_kind IN (1)"));
    ns_query_free(&q);
    /* With storage nodes, each branch in two parts, asking for its value. */
    assert_int_equal(ns_query_build(&multi, 1, 500, 5000, 1, NS_QUERY_NODES, &q), 1);
    sql = q.sql.data;
    assert_non_null(strstr(sql, "FROM ((WITH a AS MATERIALIZED (SELECT "));
    assert_non_null(strstr(sql, ") UNION (WITH a AS MATERIALIZED (SELECT "));
    assert_non_null(strstr(sql, "t.tag_name = 't' AND left(t.tag_value, 200) = ($2::text[])[1] AND "
                                "t.event_created_at >= (SELECT lo FROM b)"));
    assert_non_null(strstr(sql, "t.tag_name = 't' AND left(t.tag_value, 200) = ($2::text[])[2] AND "
                                "t.event_created_at >= (SELECT lo FROM b)"));
    assert_non_null(strstr(sql, "LIMIT 7)) x ORDER BY event_created_at DESC, event_id LIMIT 7)) u ORDER BY "
                                "event_created_at DESC, event_id LIMIT 7)"));
    ns_query_free(&q);
    ns_filter_free(multi);

    /* More values than NS_QUERY_LEAD_VALUES_MAX: the plain shape. */
    char many[2048];
    size_t at = (size_t)snprintf(many, sizeof many, "{\"#e\":[");
    for (int i = 0; i <= NS_QUERY_LEAD_VALUES_MAX; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%s\"v%d\"", i ? "," : "", i);
    snprintf(many + at, sizeof many - at, "]}");
    ns_filter *plain = F(many);
    assert_int_equal(ns_query_lead(plain), -1);
    assert_int_equal(ns_query_build(&plain, 1, 500, 5000, 1, 0, &q), 1);
    assert_null(strstr(q.sql.data, "LATERAL"));
    assert_non_null(strstr(q.sql.data, "FROM events WHERE deleted_at IS NULL"));
    ns_query_free(&q);
    ns_filter_free(plain);

    /* Nothing to ask: every filter empty or limit 0. */
    ns_filter *none[2] = {F("{\"ids\":[]}"), F("{\"limit\":0}")};
    assert_int_equal(ns_query_build(none, 2, 500, 5000, 1, 0, &q), 0);
    ns_query_free(&q);
    for (int i = 0; i < 3; i++)
        ns_filter_free(fs[i]);
    ns_filter_free(none[0]);
    ns_filter_free(none[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shapes)};
    return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
