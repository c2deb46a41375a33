/* test_hex.c - unit tests for src/hex.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "hex.h"

static void test_decode_encode(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(ns_hex_decode("00ff10ab", out, 4), 0);
    assert_memory_equal(out, "\x00\xff\x10\xab", 4);
    char s[9];
    ns_hex_encode(out, 4, s);
    assert_string_equal(s, "00ff10ab");
    assert_int_equal(ns_hex_decode("00FF10ab", out, 4), NS_EINVAL);
    assert_int_equal(ns_hex_decode("0g", out, 1), NS_EINVAL);
    assert_int_equal(ns_hex_decode(" 0", out, 1), NS_EINVAL);
}

static void test_is_lower_and_val(void **state)
{
    (void)state;
    assert_true(ns_hex_is_lower("0123456789abcdef", 16));
    assert_true(ns_hex_is_lower("", 0));
    assert_false(ns_hex_is_lower("A", 1));
    assert_false(ns_hex_is_lower("a\0", 2));
    for (int c = 0; c < 256; c++) {
        int want = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        assert_int_equal(ns_hex_val((unsigned char)c), want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_encode),
        cmocka_unit_test(test_is_lower_and_val),
    };
    return cmocka_run_group_tests_name("hex", tests, NULL, NULL);
}
