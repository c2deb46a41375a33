/* test_subs.c - the live subscription index against brute force.
 *
 * Files thousands of subscriptions with random filters (ids, authors, tag
 * values, kinds, catch-all, prefixes, empty lists), then for random events
 * checks that the index reports exactly the subscriptions that a plain
 * loop over ns_filters_match finds, each once; then removes half the
 * subscriptions and checks again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "filter.h"
#include "subs.h"
#include "testutil.h"

enum { NEVENTS = 300, NSUBS = 2000 };

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs % n);
}

static const char *const values[] = {"a", "b", "c", "", "x y", "\xc3\xa9"};
static const char letters[] = {'e', 'p', 't', 'Z'};
static ns_event *events[NEVENTS];
static char idhex[NEVENTS][65], pkhex[NEVENTS][65];

static void make_events(void)
{
    for (int i = 0; i < NEVENTS; i++) {
        char tags[512] = "[";
        int nt = (int)rnd(4);
        for (int t = 0; t < nt; t++) {
            char one[64];
            snprintf(one, sizeof one, "%s[\"%c\",\"%s\"]", t ? "," : "", letters[rnd(4)],
                     values[rnd(6)]);
            strcat(tags, one);
        }
        strcat(tags, "]");
        static const uint32_t kinds[] = {0, 1, 7, 30023, 20001};
        char *json = tu_signed_event((uint8_t)(1 + rnd(6)), 1000 + rnd(20), kinds[rnd(5)], tags, "x");
        assert_int_equal(ns_event_parse(json, strlen(json), &events[i], NULL, 0), 0);
        free(json);
        ns_hex_encode(events[i]->id, 32, idhex[i]);
        ns_hex_encode(events[i]->pubkey, 32, pkhex[i]);
    }
}

static ns_filter *random_filter(void)
{
    char f[1024] = "{";
    bool first = true;
#define SEP (first ? (first = false, "") : ",")
    if (rnd(5) == 0) {
        char one[200];
        snprintf(one, sizeof one, "%s\"ids\":[\"%s\"%s]", SEP, idhex[rnd(NEVENTS)], rnd(3) ? "" : ",\"abcd\"");
        strcat(f, one);
    }
    if (rnd(3) == 0) {
        char one[200];
        int e = (int)rnd(NEVENTS);
        if (rnd(4) == 0)
            snprintf(one, sizeof one, "%s\"authors\":[\"%.5s\"]", SEP, pkhex[e]);
        else
            snprintf(one, sizeof one, "%s\"authors\":[\"%s\"]", SEP, pkhex[e]);
        strcat(f, one);
    }
    if (rnd(3) == 0) {
        char one[64];
        snprintf(one, sizeof one, "%s\"#%c\":[\"%s\",\"%s\"]", SEP, letters[rnd(4)], values[rnd(6)],
                 values[rnd(6)]);
        strcat(f, one);
    }
    if (rnd(4) == 0)
        strcat(f, rnd(2) ? (first ? (first = false, "\"kinds\":[1,7]") : ",\"kinds\":[1,7]")
                         : (first ? (first = false, "\"kinds\":[]") : ",\"kinds\":[]"));
    if (rnd(4) == 0) {
        char one[64];
        snprintf(one, sizeof one, "%s\"since\":%u", SEP, 1000 + rnd(20));
        strcat(f, one);
    }
#undef SEP
    strcat(f, "}");
    json_error_t jerr;
    json_t *j = json_loads(f, 0, &jerr);
    assert_non_null(j);
    ns_filter_opts o = {4, 100};
    ns_filter *out;
    char reason[256];
    if (ns_filter_from_json(j, &o, &out, reason, sizeof reason) != 0)
        fail_msg("%s: %s", f, reason);
    json_decref(j);
    return out;
}

static size_t hits[NSUBS];
static void count_hit(ns_sub *s, void *arg)
{
    (void)arg;
    hits[(size_t)s->seq]++;
}

static int check(ns_subindex *ix, ns_sub **subs, bool *live)
{
    int bad = 0;
    for (int e = 0; e < NEVENTS; e++) {
        memset(hits, 0, sizeof hits);
        ns_subindex_match(ix, events[e], count_hit, NULL);
        for (int s = 0; s < NSUBS; s++) {
            size_t want = live[s] && ns_filters_match(subs[s]->filters, subs[s]->nfilters, events[e]);
            if (hits[s] != want && bad++ < 5)
                print_error("event %d sub %d: index %zu, brute force %zu\n", e, s, hits[s], want);
        }
    }
    return bad;
}

static void test_index_matches_brute_force(void **state)
{
    (void)state;
    make_events();
    ns_subindex *ix = ns_subindex_new();
    ns_sub *subs[NSUBS];
    bool live[NSUBS];
    for (int s = 0; s < NSUBS; s++) {
        subs[s] = calloc(1, sizeof(ns_sub));
        subs[s]->seq = (uint64_t)s;
        subs[s]->nfilters = 1 + rnd(3);
        subs[s]->filters = calloc(subs[s]->nfilters, sizeof(ns_filter *));
        for (size_t k = 0; k < subs[s]->nfilters; k++)
            subs[s]->filters[k] = random_filter();
        assert_int_equal(ns_subindex_add(ix, subs[s]), 0);
        live[s] = true;
    }
    assert_int_equal(check(ix, subs, live), 0);
    for (int s = 0; s < NSUBS; s += 2) {
        ns_subindex_remove(ix, subs[s]);
        live[s] = false;
    }
    assert_int_equal(check(ix, subs, live), 0);
    for (int s = 1; s < NSUBS; s += 2)
        ns_subindex_remove(ix, subs[s]);
    assert_int_equal(ns_subindex_size(ix), 0);
    for (int s = 0; s < NSUBS; s++)
        ns_sub_free(subs[s]);
    for (int e = 0; e < NEVENTS; e++)
        free(events[e]);
    ns_subindex_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_index_matches_brute_force)};
    return cmocka_run_group_tests_name("subs", tests, NULL, NULL);
}
