/* test_buf.c - unit tests for src/buf.c and the error table in src/err.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"

static void test_growth_and_numbers(void **state)
{
    (void)state;
    ns_buf b = NS_BUF_INIT;
    for (int i = 0; i < 10000; i++)
        ns_buf_addc(&b, 'x');
    assert_int_equal(b.len, 10000);
    ns_buf_reset(&b);
    ns_buf_add_i64(&b, 0);
    ns_buf_addc(&b, ' ');
    ns_buf_add_i64(&b, -42);
    ns_buf_addc(&b, ' ');
    ns_buf_add_i64(&b, INT64_MIN);
    ns_buf_addc(&b, ' ');
    ns_buf_add_i64(&b, INT64_MAX);
    ns_buf_addf(&b, " %s=%d", "k", 7);
    ns_buf_addc(&b, '\0');
    assert_string_equal(b.data, "0 -42 -9223372036854775808 9223372036854775807 k=7");
    assert_true(ns_buf_ok(&b));
    ns_buf_free(&b);
    assert_null(b.data);
}

static void test_escapers(void **state)
{
    (void)state;
    /* Every byte 0x00..0x7f plus a multi-byte character. */
    char in[130];
    for (int i = 0; i < 128; i++)
        in[i] = (char)i;
    memcpy(in + 128, "\xc3\xa9", 2);
    ns_buf canon = NS_BUF_INIT, json = NS_BUF_INIT;
    ns_buf_add_canon_str(&canon, in, sizeof in, false);
    ns_buf_add_json_str(&json, in, sizeof in);
    /* Canonical: 7 two-byte escapes, everything else verbatim, quotes. */
    assert_int_equal(canon.len, sizeof in + 7 + 2);
    const char *want_prefix = "\"\x00\x01\x02\x03\x04\x05\x06\x07\\b\\t\\n\x0b\\f\\r";
    assert_memory_equal(canon.data, want_prefix, 19);
    /* JSON: the 27 other controls become \u00XX (5 more bytes each). */
    assert_int_equal(json.len, sizeof in + 7 + 27 * 5 + 2);
    assert_memory_equal(json.data, "\"\\u0000\\u0001", 13);
    assert_non_null(memmem(json.data, json.len, "\\u001f !\\\"", 10));
    assert_non_null(memmem(json.data, json.len, "\\\\]", 3));
    assert_memory_equal(json.data + json.len - 4, "\x7f\xc3\xa9\"", 4);
    ns_buf_free(&canon);
    ns_buf_free(&json);
}

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(ns_strerror(0), "success");
    assert_string_equal(ns_strerror(NS_EBADSIG), "event signature is not valid");
    assert_string_equal(ns_err_name(NS_EINVAL), "NS_EINVAL");
    assert_string_equal(ns_err_name(12345), "NS_UNKNOWN");
    assert_true(NS_EINVAL < 0 && NS_ECONFIG < 0);
    char r[16];
    assert_int_equal(ns_fail(r, sizeof r, NS_ERANGE, "%s", "a long reason text"), NS_ERANGE);
    assert_string_equal(r, "a long reason t");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_and_numbers),
        cmocka_unit_test(test_escapers),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
