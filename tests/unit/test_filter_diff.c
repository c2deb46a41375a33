/* test_filter_diff.c - differential test of filter matching.
 *
 * tests/vectors/filters.json holds random events, random filters and, for
 * each filter and each group of filters, the events that nostr-tools'
 * matchFilter / matchFilters select. Our matcher must select exactly the
 * same events for every one: zero disagreements.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "filter.h"
#include "testutil.h"

/* Compares our match set over all events with the expected index list. */
static int compare(ns_filter *const *fs, size_t nf, ns_event **evs, size_t nev, const json_t *want,
                   const char *what, size_t idx, size_t *pairs, size_t *hits)
{
    bool *expected = calloc(nev, sizeof(bool));
    size_t i;
    const json_t *x;
    json_array_foreach(want, i, x) {
        json_int_t k = json_integer_value(x);
        assert_true(k >= 0 && (size_t)k < nev);
        expected[k] = true;
    }
    int bad = 0;
    for (size_t e = 0; e < nev; e++) {
        bool ours = ns_filters_match(fs, nf, evs[e]);
        (*pairs)++;
        *hits += ours;
        if (ours != expected[e]) {
            if (bad++ < 3)
                print_error("%s %zu, event %zu: we say %d, nostr-tools %d\n", what, idx, e, ours,
                            expected[e]);
        }
    }
    free(expected);
    return bad;
}

static void test_filter_differential(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file("tests/vectors/filters.json", JSON_ALLOW_NUL, &jerr);
    if (root == NULL)
        fail_msg("tests/vectors/filters.json: %s", jerr.text);
    const json_t *jevents = json_object_get(root, "events"), *jfilters = json_object_get(root, "filters");
    const json_t *jmatches = json_object_get(root, "matches"), *jgroups = json_object_get(root, "groups");
    size_t nev = json_array_size(jevents), nf = json_array_size(jfilters);
    assert_true(nev >= 100 && nf >= 1000);
    assert_int_equal(json_array_size(jmatches), nf);

    ns_event **evs = calloc(nev, sizeof *evs);
    for (size_t i = 0; i < nev; i++) {
        const json_t *t = json_array_get(jevents, i);
        char reason[256];
        if (ns_event_parse(json_string_value(t), json_string_length(t), &evs[i], reason, sizeof reason))
            fail_msg("event %zu: %s", i, reason);
    }
    ns_filter **fs = calloc(nf, sizeof *fs);
    ns_filter_opts opts = {64, 0};
    for (size_t i = 0; i < nf; i++) {
        char reason[256];
        if (ns_filter_from_json(json_array_get(jfilters, i), &opts, &fs[i], reason, sizeof reason))
            fail_msg("filter %zu: %s", i, reason);
    }

    size_t pairs = 0, hits = 0;
    int bad = 0;
    for (size_t i = 0; i < nf; i++)
        bad += compare(&fs[i], 1, evs, nev, json_array_get(jmatches, i), "filter", i, &pairs, &hits);
    size_t gi;
    const json_t *g;
    json_array_foreach(jgroups, gi, g) {
        const json_t *members = json_object_get(g, "filters");
        size_t n = json_array_size(members);
        ns_filter **sel = calloc(n ? n : 1, sizeof *sel);
        for (size_t k = 0; k < n; k++)
            sel[k] = fs[json_integer_value(json_array_get(members, k))];
        bad += compare(sel, n, evs, nev, json_object_get(g, "matches"), "group", gi, &pairs, &hits);
        free(sel);
    }
    print_message("%zu event x filter pairs compared, %zu matches, %d disagreements\n", pairs, hits, bad);
    assert_int_equal(bad, 0);
    assert_true(hits > pairs / 100); /* the data exercises matches, not only misses */

    for (size_t i = 0; i < nev; i++)
        free(evs[i]);
    for (size_t i = 0; i < nf; i++)
        ns_filter_free(fs[i]);
    free(evs);
    free(fs);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_filter_differential)};
    return cmocka_run_group_tests_name("filter_diff", tests, NULL, NULL);
}
