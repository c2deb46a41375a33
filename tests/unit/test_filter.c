/* test_filter.c - unit tests for src/filter.c: parsing rules and matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "filter.h"
#include "testutil.h"

static char reason[256];

static int parse(const char *text, const ns_filter_opts *o, ns_filter **out)
{
    json_error_t jerr;
    json_t *j = json_loads(text, NS_JSON_DECODE_FLAGS, &jerr);
    if (j == NULL)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    reason[0] = '\0';
    int rc = ns_filter_from_json(j, o, out, reason, sizeof reason);
    json_decref(j);
    return rc;
}

static void expect_bad(const char *text, int code, const char *needle)
{
    ns_filter_opts o = NS_FILTER_OPTS_DEFAULT;
    o.max_values = 3;
    ns_filter *f = (ns_filter *)1;
    int rc = parse(text, &o, &f);
    if (rc != code || strstr(reason, needle) == NULL)
        fail_msg("%s: rc=%d reason=%s (wanted %d, \"%s\")", text, rc, reason, code, needle);
    assert_null(f);
}

static void test_rejects(void **state)
{
    (void)state;
    const char *id = "\"0000000000000000000000000000000000000000000000000000000000000001\"";
    char t[512];
    expect_bad("[]", NS_EINVAL, "invalid: a filter must be a JSON object");
    expect_bad("{\"ids\":\"x\"}", NS_EINVAL, "invalid: ids must be an array");
    expect_bad("{\"ids\":[1]}", NS_EINVAL, "invalid: ids[0] must be 64 lower-case hex");
    expect_bad("{\"ids\":[\"ABCD\"]}", NS_EINVAL, "ids[0] must be 64");
    snprintf(t, sizeof t, "{\"authors\":[%s,\"%0126d\"]}", id, 0);
    expect_bad(t, NS_EINVAL, "authors[1] must be 64");
    snprintf(t, sizeof t, "{\"ids\":[%s,%s,%s,%s]}", id, id, id, id);
    expect_bad(t, NS_EINVAL, "invalid: ids has 4 values, more than the maximum of 3");
    expect_bad("{\"kinds\":[1,-1]}", NS_EINVAL, "kinds[1] must be an integer between 0 and 65535");
    expect_bad("{\"kinds\":[65536]}", NS_EINVAL, "kinds[0] must be an integer");
    expect_bad("{\"kinds\":[1.0]}", NS_EINVAL, "kinds[0] must be an integer");
    expect_bad("{\"kinds\":[\"1\"]}", NS_EINVAL, "kinds[0] must be an integer");
    expect_bad("{\"kinds\":1}", NS_EINVAL, "kinds must be an array");
    expect_bad("{\"since\":-1}", NS_EINVAL, "since must be a non-negative integer");
    expect_bad("{\"until\":1.5}", NS_EINVAL, "until must be a non-negative integer");
    expect_bad("{\"limit\":\"10\"}", NS_EINVAL, "limit must be a non-negative integer");
    expect_bad("{\"limit\":null}", NS_EINVAL, "limit must be a non-negative integer");
    expect_bad("{\"#e\":\"x\"}", NS_EINVAL, "#e must be an array");
    expect_bad("{\"#e\":[1]}", NS_EINVAL, "#e[0] must be a string");
    expect_bad("{\"#e\":[\"a\\u0000\"]}", NS_EINVAL, "#e[0] contains a NUL");
    expect_bad("{\"#e\":[\"a\",\"b\",\"c\",\"d\"]}", NS_EINVAL, "#e has 4 values");
    expect_bad("{\"#emoji\":[\"x\"]}", NS_EUNSUP, "unsupported: tag filter \"#emoji\"");
    expect_bad("{\"#1\":[\"x\"]}", NS_EUNSUP, "unsupported: tag filter");
    expect_bad("{\"#\":[\"x\"]}", NS_EUNSUP, "unsupported: tag filter");
    expect_bad("{\"search\":\"x\"}", NS_EUNSUP, "unsupported: unknown filter field \"search\"");
}

static void test_prefixes(void **state)
{
    (void)state;
    ns_filter_opts o = NS_FILTER_OPTS_DEFAULT;
    ns_filter *f;
    /* Full values only by default. */
    assert_int_equal(parse("{\"authors\":[\"abcd\"]}", &o, &f), NS_EINVAL);
    o.min_prefix_len = 4;
    assert_int_equal(parse("{\"authors\":[\"abc\"]}", &o, &f), NS_EINVAL);
    assert_non_null(strstr(reason, "authors[0] must be 4 to 64 lower-case hex"));
    assert_int_equal(parse("{\"authors\":[\"abcd1\",\"ffff\"]}", &o, &f), 0);
    assert_int_equal(f->authors.n_prefix, 2);
    char *json = tu_signed_event(1, 1, 1, "[]", "");
    ns_event *ev;
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
    free(json);
    ns_filter_free(f);
    char pk[65], t[200];
    ns_hex_encode(ev->pubkey, 32, pk);
    for (int n = 4; n <= 64; n++) {
        snprintf(t, sizeof t, "{\"authors\":[\"%.*s\"]}", n, pk);
        assert_int_equal(parse(t, &o, &f), 0);
        assert_true(ns_filter_match(f, ev));
        ns_filter_free(f);
        /* Change the last digit of the prefix: no match. */
        char last = pk[n - 1];
        snprintf(t, sizeof t, "{\"authors\":[\"%.*s%c\"]}", n - 1, pk, last == '0' ? '1' : '0');
        assert_int_equal(parse(t, &o, &f), 0);
        assert_false(ns_filter_match(f, ev));
        ns_filter_free(f);
    }
    free(ev);
}

static ns_event *event_of(uint8_t key, int64_t ts, uint32_t kind, const char *tags)
{
    char *json = tu_signed_event(key, ts, kind, tags, "x");
    ns_event *ev;
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
    free(json);
    return ev;
}

static bool matches(const char *filter, const ns_event *ev)
{
    ns_filter_opts o = NS_FILTER_OPTS_DEFAULT;
    ns_filter *f;
    if (parse(filter, &o, &f) != 0)
        fail_msg("filter %s: %s", filter, reason);
    bool m = ns_filter_match(f, ev);
    ns_filter_free(f);
    return m;
}

static void test_matching(void **state)
{
    (void)state;
    ns_event *ev = event_of(9, 1000, 7,
                            "[[\"e\",\"E1\"],[\"p\",\"P1\",\"relay\"],[\"t\"],[\"T\",\"Up\"],[\"d\",\"\"]]");
    char id[65], pk[65], t[512];
    ns_hex_encode(ev->id, 32, id);
    ns_hex_encode(ev->pubkey, 32, pk);

    assert_true(matches("{}", ev));
    /* since and until are inclusive. */
    assert_true(matches("{\"since\":1000}", ev));
    assert_false(matches("{\"since\":1001}", ev));
    assert_true(matches("{\"until\":1000}", ev));
    assert_false(matches("{\"until\":999}", ev));
    assert_true(matches("{\"since\":1000,\"until\":1000}", ev));
    assert_false(matches("{\"since\":1001,\"until\":999}", ev));
    assert_true(matches("{\"since\":0}", ev));
    /* limit does not affect matching. */
    assert_true(matches("{\"limit\":0}", ev));

    assert_true(matches("{\"kinds\":[1,7,9]}", ev));
    assert_false(matches("{\"kinds\":[1,9]}", ev));
    assert_false(matches("{\"kinds\":[]}", ev));

    snprintf(t, sizeof t, "{\"ids\":[\"%s\"]}", id);
    assert_true(matches(t, ev));
    snprintf(t, sizeof t, "{\"authors\":[\"%s\"],\"ids\":[\"%s\"]}", id, id);
    assert_false(matches(t, ev));
    snprintf(t, sizeof t, "{\"authors\":[\"%s\",\"%s\"],\"ids\":[\"%s\"],\"kinds\":[7]}", id, pk, id);
    assert_true(matches(t, ev));
    assert_false(matches("{\"ids\":[]}", ev));
    assert_false(matches("{\"authors\":[]}", ev));

    /* Tags: letter and second element, case-sensitive, ANDed across keys. */
    assert_true(matches("{\"#e\":[\"E1\"]}", ev));
    assert_true(matches("{\"#e\":[\"zz\",\"E1\"]}", ev));
    assert_false(matches("{\"#e\":[\"e1\"]}", ev));
    assert_false(matches("{\"#E\":[\"E1\"]}", ev));
    assert_true(matches("{\"#T\":[\"Up\"]}", ev));
    assert_true(matches("{\"#p\":[\"P1\"]}", ev));
    assert_false(matches("{\"#p\":[\"relay\"]}", ev));
    assert_true(matches("{\"#e\":[\"E1\"],\"#p\":[\"P1\"]}", ev));
    assert_false(matches("{\"#e\":[\"E1\"],\"#p\":[\"P2\"]}", ev));
    assert_false(matches("{\"#t\":[\"\"]}", ev)); /* ["t"] has no value */
    assert_true(matches("{\"#d\":[\"\"]}", ev));
    assert_false(matches("{\"#e\":[]}", ev));
    assert_false(matches("{\"#q\":[\"E1\"]}", ev));
    snprintf(t, sizeof t, "{\"ids\":[\"%s\"],\"#e\":[\"E1\"],\"kinds\":[7],\"since\":1000}", id);
    assert_true(matches(t, ev));

    /* A list of filters is ORed. */
    ns_filter_opts o = NS_FILTER_OPTS_DEFAULT;
    ns_filter *fs[2];
    assert_int_equal(parse("{\"kinds\":[1]}", &o, &fs[0]), 0);
    assert_int_equal(parse("{\"#e\":[\"E1\"]}", &o, &fs[1]), 0);
    assert_true(ns_filters_match(fs, 2, ev));
    assert_false(ns_filters_match(fs, 1, ev));
    ns_filter_free(fs[0]);
    ns_filter_free(fs[1]);
    free(ev);
}

static void test_normalisation_and_empty(void **state)
{
    (void)state;
    ns_filter_opts o = NS_FILTER_OPTS_DEFAULT;
    ns_filter *f;
    assert_int_equal(parse("{\"kinds\":[7,1,7,1,3],\"#x\":[\"b\",\"a\",\"b\"],\"#a\":[\"q\"]}", &o, &f), 0);
    assert_int_equal(f->n_kinds, 3);
    assert_int_equal(f->kinds[0], 1);
    assert_int_equal(f->kinds[2], 7);
    assert_int_equal(f->n_tags, 2);
    assert_int_equal(f->tags[0].name, 'a');
    assert_int_equal(f->tags[1].n, 2);
    assert_false(ns_filter_is_empty(f));
    ns_filter_free(f);
    const char *empties[] = {"{\"ids\":[]}", "{\"authors\":[]}", "{\"kinds\":[]}", "{\"#p\":[]}",
                             "{\"since\":5,\"until\":4}"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(parse(empties[i], &o, &f), 0);
        assert_true(ns_filter_is_empty(f));
        ns_filter_free(f);
    }
    assert_int_equal(parse("{\"since\":5,\"until\":5,\"limit\":0}", &o, &f), 0);
    assert_false(ns_filter_is_empty(f));
    assert_int_equal(f->limit, 0);
    ns_filter_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_normalisation_and_empty),
    };
    return cmocka_run_group_tests_name("filter", tests, NULL, NULL);
}
