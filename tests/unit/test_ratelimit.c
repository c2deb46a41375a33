/* test_ratelimit.c - unit tests for src/ratelimit.c: exact sliding
 * windows, several rules, kinds, keys apart, idle keys dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ratelimit.h"

static void test_sliding_window_is_exact(void **state)
{
    (void)state;
    ns_rate_limit r[1] = {{NULL, false, {NULL, 0}, 1000, 3}};
    ns_rate_limits rules = {r, 1};
    ns_ratelimiter *rl = ns_ratelimiter_new();
    size_t which = 99;
    /* hits at 0, 100, 200 allowed; 300 refused; 999 refused; 1000 allowed
     * (the hit at 0 left the window); 1050 refused (100 and 200 and 1000). */
    assert_true(ns_ratelimit_hit(rl, 'm', "a", 1, &rules, -1, 0, &which));
    assert_true(ns_ratelimit_hit(rl, 'm', "a", 1, &rules, -1, 100, &which));
    assert_true(ns_ratelimit_hit(rl, 'm', "a", 1, &rules, -1, 200, &which));
    assert_false(ns_ratelimit_hit(rl, 'm', "a", 1, &rules, -1, 300, &which));
    assert_int_equal(which, 0);
    assert_false(ns_ratelimit_hit(rl, 'm', "a", 1, &rules, -1, 999, &which));
    assert_true(ns_ratelimit_hit(rl, 'm', "a", 1, &rules, -1, 1000, &which));
    assert_false(ns_ratelimit_hit(rl, 'm', "a", 1, &rules, -1, 1050, &which));
    assert_true(ns_ratelimit_hit(rl, 'm', "a", 1, &rules, -1, 1100, &which));
    /* Other keys and other namespaces are counted apart. */
    assert_true(ns_ratelimit_hit(rl, 'm', "b", 1, &rules, -1, 1100, &which));
    assert_true(ns_ratelimit_hit(rl, 'c', "a", 1, &rules, -1, 1100, &which));
    assert_int_equal(ns_ratelimiter_keys(rl), 3);
    /* Idle keys go at the next sweep (every 10 s). */
    assert_true(ns_ratelimit_hit(rl, 'm', "z", 1, &rules, -1, 20000, &which));
    assert_int_equal(ns_ratelimiter_keys(rl), 1);
    ns_ratelimiter_free(rl);
}

static void test_rules_and_kinds(void **state)
{
    (void)state;
    ns_kind_range notes[1] = {{1, 1}};
    ns_rate_limit r[2] = {
        {"all", false, {NULL, 0}, 60000, 5},
        {"notes", true, {notes, 1}, 60000, 2},
    };
    ns_rate_limits rules = {r, 2};
    ns_ratelimiter *rl = ns_ratelimiter_new();
    size_t which = 99;
    assert_true(ns_ratelimit_hit(rl, 'e', "pk", 2, &rules, 1, 0, &which));
    assert_true(ns_ratelimit_hit(rl, 'e', "pk", 2, &rules, 1, 1, &which));
    assert_false(ns_ratelimit_hit(rl, 'e', "pk", 2, &rules, 1, 2, &which));
    assert_int_equal(which, 1);
    /* Kind 7 only meets the general rule: 2 used of 5 (the refused hit
     * was not counted). */
    assert_true(ns_ratelimit_hit(rl, 'e', "pk", 2, &rules, 7, 3, &which));
    assert_true(ns_ratelimit_hit(rl, 'e', "pk", 2, &rules, 7, 4, &which));
    assert_true(ns_ratelimit_hit(rl, 'e', "pk", 2, &rules, 7, 5, &which));
    assert_false(ns_ratelimit_hit(rl, 'e', "pk", 2, &rules, 7, 6, &which));
    assert_int_equal(which, 0);
    /* No rules: always allowed, nothing held. */
    ns_rate_limits none = {NULL, 0};
    assert_true(ns_ratelimit_hit(rl, 'x', "q", 1, &none, -1, 0, &which));
    ns_ratelimiter_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sliding_window_is_exact),
        cmocka_unit_test(test_rules_and_kinds),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
