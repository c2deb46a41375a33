/* test_msg.c - unit tests for src/msg.c: each kind of client message, each
 * refusal with its exact reply text, the limits, the admission hook, and
 * the replies as written on the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "msg.h"
#include "testutil.h"

#define ID64 "0000000000000000000000000000000000000000000000000000000000000001"

static const ns_msg_limits small = {8, 3, 2, 64};

static int parse(const char *text, ns_msg *m)
{
    return ns_msg_parse(text, strlen(text), &small, NULL, NULL, m);
}

/* The reply m would send, as a NUL-terminated string (freed by caller). */
static char *reply(const ns_msg *m)
{
    ns_buf b = NS_BUF_INIT;
    assert_int_equal(ns_msg_reply(m, &b), 0);
    ns_buf_addc(&b, '\0');
    assert_true(ns_buf_ok(&b));
    return b.data;
}

static void expect_reply(const char *text, const ns_msg_limits *lim, int code, ns_msg_kind kind,
                         const char *want)
{
    ns_msg m;
    int rc = ns_msg_parse(text, strlen(text), lim, NULL, NULL, &m);
    char *got = reply(&m);
    if (rc != code || m.kind != kind || strcmp(got, want) != 0)
        fail_msg("%s: rc=%d kind=%d reply=%s (wanted %d, %d, %s)", text, rc, m.kind, got, code, kind, want);
    assert_null(m.filters);
    assert_int_equal(m.nfilters, 0);
    free(got);
    ns_msg_free(&m);
}

static void test_event(void **state)
{
    (void)state;
    ns_msg m;
    /* The usual spelling is recognised without a parse: the text points
     * into the message, everything between the comma and the last ']'. */
    const char *text = " [ \"EVENT\" ,\t{\"kind\": 1, \"x\": [1,2]} ]\n";
    assert_int_equal(ns_msg_parse(text, strlen(text), &small, NULL, NULL, &m), 0);
    assert_int_equal(m.kind, NS_MSG_EVENT);
    assert_ptr_equal(m.event, strchr(text, '\t'));
    assert_int_equal(m.event_len, strlen("\t{\"kind\": 1, \"x\": [1,2]} "));
    assert_memory_equal(m.event, "\t{\"kind\": 1, \"x\": [1,2]} ", m.event_len);
    ns_msg_free(&m);
    /* Whatever lies there: the verify worker judges it. */
    assert_int_equal(parse("[\"EVENT\",{},\"more\"]", &m), 0);
    assert_int_equal(m.kind, NS_MSG_EVENT);
    assert_memory_equal(m.event, "{},\"more\"", m.event_len);
    ns_msg_free(&m);

    /* Not a prefix match: the length is honoured, no NUL needed. */
    char raw[] = "[\"EVENT\",{}]XYZ";
    assert_int_equal(ns_msg_parse(raw, 12, &small, NULL, NULL, &m), 0);
    assert_int_equal(m.kind, NS_MSG_EVENT);
    assert_int_equal(m.event_len, 2);
    ns_msg_free(&m);

    /* Any other spelling goes through jansson, which writes the object
     * back compactly. */
    assert_int_equal(parse("[\"EV\\u0045NT\", {\"a\": \"b\\u00e9\", \"n\": [1, 2]}]", &m), 0);
    assert_int_equal(m.kind, NS_MSG_EVENT);
    assert_int_equal(m.event_len, strlen(m.event));
    assert_string_equal(m.event, "{\"a\":\"b\xc3\xa9\",\"n\":[1,2]}");
    ns_msg_free(&m);

    const char *bad = "invalid: EVENT must be [\\\"EVENT\\\", <event object>]";
    char want[128];
    snprintf(want, sizeof want, "[\"NOTICE\",\"%s\"]", bad);
    expect_reply("[\"EVENT\"]", &small, NS_EINVAL, NS_MSG_NOTICE, want);
    expect_reply("[\"EVENT\" ]", &small, NS_EINVAL, NS_MSG_NOTICE, want);
    expect_reply("[\"EVENT\",1", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: message is not valid JSON (byte 10: ']' expected near end of file)\"]");
    expect_reply("[\"\\u0045VENT\",[]]", &small, NS_EINVAL, NS_MSG_NOTICE, want);
    expect_reply("[\"\\u0045VENT\",{},{}]", &small, NS_EINVAL, NS_MSG_NOTICE, want);
}

static void test_not_a_message(void **state)
{
    (void)state;
    expect_reply("", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: message is not valid JSON (byte 0: '[' or '{' expected near end of file)\"]");
    expect_reply("[1,", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: message is not valid JSON (byte 3: ']' expected near end of file)\"]");
    expect_reply("[\"a\xff\"]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: message is not valid JSON (byte 3: unable to decode byte 0xff near '\\\"a')\"]");
    const char *arr = "[\"NOTICE\",\"invalid: a message must be a JSON array starting with its type\"]";
    expect_reply("{}", &small, NS_EINVAL, NS_MSG_NOTICE, arr);
    expect_reply("[]", &small, NS_EINVAL, NS_MSG_NOTICE, arr);
    expect_reply("[1,\"REQ\"]", &small, NS_EINVAL, NS_MSG_NOTICE, arr);
    expect_reply("[null]", &small, NS_EINVAL, NS_MSG_NOTICE, arr);
    expect_reply("[\"AUTH\",{}]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: unknown message type \\\"AUTH\\\"\"]");
    expect_reply("[\"req\",\"s\",{}]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: unknown message type \\\"req\\\"\"]");
    /* The type is echoed up to 32 bytes. */
    expect_reply("[\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\"]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: unknown message type \\\"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\\\"\"]");
}

static void test_req(void **state)
{
    (void)state;
    ns_msg m;
    assert_int_equal(parse("[\"REQ\",\"sub1\",{\"kinds\":[7,7]},{\"ids\":[\"" ID64 "\"],\"limit\":5}]", &m),
                     0);
    assert_int_equal(m.kind, NS_MSG_REQ);
    assert_int_equal(m.sub_id_len, 4);
    assert_memory_equal(m.sub_id, "sub1", 4);
    assert_int_equal(m.nfilters, 2);
    assert_true(m.filters[0]->has_kinds);
    assert_int_equal(m.filters[0]->n_kinds, 1); /* deduplicated */
    assert_int_equal(m.filters[1]->ids.n_exact, 1);
    assert_int_equal(m.filters[1]->limit, 5);
    /* The caller may take the filters. */
    ns_filter **fs = m.filters;
    size_t n = m.nfilters;
    m.filters = NULL;
    m.nfilters = 0;
    ns_msg_free(&m);
    for (size_t i = 0; i < n; i++)
        ns_filter_free(fs[i]);
    free(fs);

    /* A subscription id is bytes as decoded (a NUL in it is refused, see
     * test_req_refused); as many filters as the limit; an empty filter is
     * fine. */
    assert_int_equal(parse("[\"REQ\",\"a\\u00e9b\",{},{},{}]", &m), 0);
    assert_int_equal(m.kind, NS_MSG_REQ);
    assert_int_equal(m.sub_id_len, 4);
    assert_memory_equal(m.sub_id, "a\xc3\xa9" "b", 4);
    assert_int_equal(m.nfilters, 3);
    ns_msg_free(&m);
    assert_null(m.filters); /* emptied */
    ns_msg_free(&m);        /* and so harmless twice */
    ns_msg_free(NULL);

    /* Exactly max_subid_length bytes (8), counted in bytes. */
    assert_int_equal(parse("[\"REQ\",\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",{}]", &m), 0);
    assert_int_equal(m.sub_id_len, 8);
    ns_msg_free(&m);
}

static void test_req_refused(void **state)
{
    (void)state;
    const char *noid = "[\"NOTICE\",\"invalid: REQ needs a subscription id string\"]";
    expect_reply("[\"REQ\"]", &small, NS_EINVAL, NS_MSG_NOTICE, noid);
    expect_reply("[\"REQ\",1,{}]", &small, NS_EINVAL, NS_MSG_NOTICE, noid);
    expect_reply("[\"REQ\",null,{}]", &small, NS_EINVAL, NS_MSG_NOTICE, noid);
    expect_reply("[\"REQ\",\"\",{}]", &small, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"\",\"invalid: subscription id must be 1 to 8 characters\"]");
    expect_reply("[\"REQ\",\"123456789\",{}]", &small, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"123456789\",\"invalid: subscription id must be 1 to 8 characters\"]");
    expect_reply("[\"REQ\",\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x\",{}]", &small, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x\",\"invalid: subscription id must be 1 to 8 "
                 "characters\"]");
    expect_reply("[\"REQ\",\"a\\u0000b\",{}]", &small, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"a\\u0000b\",\"invalid: subscription id must not contain NUL\"]");
    /* A long refused id is echoed up to 1024 bytes. */
    char text[2100], want[2100];
    memset(text, 0, sizeof text);
    strcpy(text, "[\"REQ\",\"");
    memset(text + strlen(text), 'x', 2000);
    strcat(text, "\",{}]");
    ns_msg m;
    assert_int_equal(parse(text, &m), NS_EINVAL);
    assert_int_equal(m.kind, NS_MSG_CLOSED);
    assert_int_equal(m.sub_id_len, 1024);
    char *got = reply(&m);
    snprintf(want, sizeof want, "[\"CLOSED\",\"%.1024s\",\"invalid: subscription id must be 1 to 8 characters\"]",
             text + 8);
    assert_string_equal(got, want);
    free(got);
    ns_msg_free(&m);

    const char *nf = "[\"CLOSED\",\"s\",\"invalid: a REQ needs 1 to 3 filters\"]";
    expect_reply("[\"REQ\",\"s\"]", &small, NS_EINVAL, NS_MSG_CLOSED, nf);
    expect_reply("[\"REQ\",\"s\",{},{},{},{}]", &small, NS_EINVAL, NS_MSG_CLOSED, nf);

    /* The filter's own reason, in CLOSED; filters before it are freed. */
    expect_reply("[\"REQ\",\"s\",{},{\"kinds\":\"x\"}]", &small, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"s\",\"invalid: kinds must be an array\"]");
    expect_reply("[\"REQ\",\"s\",[]]", &small, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"s\",\"invalid: a filter must be a JSON object\"]");
    expect_reply("[\"REQ\",\"s\",{\"kinds\":[1]},{\"search\":\"x\"}]", &small, NS_EUNSUP, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"s\",\"unsupported: unknown filter field \\\"search\\\"\"]");
    expect_reply("[\"REQ\",\"s\",{\"#ab\":[\"x\"]}]", &small, NS_EUNSUP, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"s\",\"unsupported: tag filter \\\"#ab\\\": only single-letter tags are "
                 "indexed\"]");
    /* max_filter_values and min_prefix_length reach the filter parser. */
    expect_reply("[\"REQ\",\"s\",{\"kinds\":[1,2,3]}]", &small, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"s\",\"invalid: kinds has 3 values, more than the maximum of 2\"]");
    expect_reply("[\"REQ\",\"s\",{\"authors\":[\"abcd\"]}]", &small, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"s\",\"invalid: authors[0] must be 64 lower-case hex characters\"]");
    ns_msg_limits loose = {256, 10, 0, 4};
    const char *pre = "[\"REQ\",\"s\",{\"authors\":[\"abcd\"],\"kinds\":[1,2,3]}]";
    assert_int_equal(ns_msg_parse(pre, strlen(pre), &loose, NULL, NULL, &m), 0);
    assert_int_equal(m.kind, NS_MSG_REQ);
    assert_int_equal(m.filters[0]->authors.n_prefix, 1);
    assert_int_equal(m.filters[0]->n_kinds, 3);
    ns_msg_free(&m);
    expect_reply("[\"REQ\",\"s\",{\"authors\":[\"abc\"]}]", &loose, NS_EINVAL, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"s\",\"invalid: authors[0] must be 4 to 64 lower-case hex characters\"]");
}

typedef struct {
    int calls;
    bool allow;
    char seen[16];
} admit_state;

static bool admit(void *arg, const char *sid, size_t len, char *why, size_t why_len)
{
    admit_state *a = arg;
    a->calls++;
    snprintf(a->seen, sizeof a->seen, "%.*s", (int)len, sid);
    if (!a->allow)
        snprintf(why, why_len, "blocked: too many subscriptions: at most %d per connection", 2);
    return a->allow;
}

static void test_admit(void **state)
{
    (void)state;
    ns_msg m;
    admit_state a = {0, true, ""};
    const char *ok = "[\"REQ\",\"q\",{}]";
    assert_int_equal(ns_msg_parse(ok, strlen(ok), &small, admit, &a, &m), 0);
    assert_int_equal(m.kind, NS_MSG_REQ);
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.seen, "q");
    ns_msg_free(&m);

    /* Refused: CLOSED with the hook's reason. It is asked before the
     * filters are read, so their errors do not show. */
    a.allow = false;
    const char *bad = "[\"REQ\",\"q\",{\"kinds\":\"x\"}]";
    assert_int_equal(ns_msg_parse(bad, strlen(bad), &small, admit, &a, &m), NS_ERANGE);
    assert_int_equal(m.kind, NS_MSG_CLOSED);
    assert_null(m.filters);
    char *got = reply(&m);
    assert_string_equal(got, "[\"CLOSED\",\"q\",\"blocked: too many subscriptions: at most 2 per connection\"]");
    free(got);
    ns_msg_free(&m);
    assert_int_equal(a.calls, 2);

    /* Not asked when the id or the filter count is already wrong, nor for
     * other messages. */
    const char *never[] = {"[\"REQ\",\"\",{}]", "[\"REQ\",\"q\"]", "[\"REQ\",1,{}]", "[\"CLOSE\",\"q\"]",
                           "[\"COUNT\",\"q\",{}]", "[\"EVENT\",{}]"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        ns_msg_parse(never[i], strlen(never[i]), &small, admit, &a, &m);
        ns_msg_free(&m);
    }
    assert_int_equal(a.calls, 2);
}

static void test_close_count(void **state)
{
    (void)state;
    ns_msg m;
    assert_int_equal(parse("[\"CLOSE\",\"sub1\"]", &m), 0);
    assert_int_equal(m.kind, NS_MSG_CLOSE);
    assert_int_equal(m.sub_id_len, 4);
    assert_memory_equal(m.sub_id, "sub1", 4);
    /* Not a refusal: there is no reply to write. */
    ns_buf b = NS_BUF_INIT;
    assert_int_equal(ns_msg_reply(&m, &b), NS_EINVAL);
    assert_int_equal(b.len, 0);
    ns_msg_free(&m);
    /* CLOSE takes any id (closing an unknown one is silent); the extra
     * elements are ignored. */
    assert_int_equal(parse("[\"CLOSE\",\"\",1,2]", &m), 0);
    assert_int_equal(m.kind, NS_MSG_CLOSE);
    assert_int_equal(m.sub_id_len, 0);
    ns_msg_free(&m);
    const char *noid = "[\"NOTICE\",\"invalid: CLOSE needs a subscription id string\"]";
    expect_reply("[\"CLOSE\"]", &small, NS_EINVAL, NS_MSG_NOTICE, noid);
    expect_reply("[\"CLOSE\",{}]", &small, NS_EINVAL, NS_MSG_NOTICE, noid);

    expect_reply("[\"COUNT\",\"c1\",{\"kinds\":[1]}]", &small, NS_EUNSUP, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"c1\",\"unsupported: COUNT is not supported by this relay\"]");
    expect_reply("[\"COUNT\"]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: unknown message type \\\"COUNT\\\"\"]");
    expect_reply("[\"COUNT\",7]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: unknown message type \\\"COUNT\\\"\"]");
}

static void test_reply_escaping(void **state)
{
    (void)state;
    /* The id comes back in the relay's JSON escaping. */
    expect_reply("[\"COUNT\",\"a\\\"b\\\\c\\n\\u0001\\u0000\xc3\xa9\"]", &small, NS_EUNSUP, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"a\\\"b\\\\c\\n\\u0001\\u0000\xc3\xa9\",\"unsupported: COUNT is not supported by "
                 "this relay\"]");
}

/* Replies go out as WebSocket text frames, which must be UTF-8: found by
 * fuzz_message (tests/fuzz/regress/message/). */
static void test_reply_utf8(void **state)
{
    (void)state;
    /* jansson quotes the bytes near a JSON error, here half of U+02F1. */
    expect_reply("[ \"EV\\u004\xcb\xb1\xab\xe6 , {}]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: message is not valid JSON (byte 11: invalid escape near "
                 "'\\\"EV\\\\u004?')\"]");
    /* The type is cut at 32 bytes, but not inside a character. */
    expect_reply("[\"TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT\xc3\xa9\xc3\xa9\"]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: unknown message type \\\"TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT\\\"\"]");
    expect_reply("[\"TTTTTTTTTTTTTTTTTTTTTTTTTTTTTT\xc3\xa9\xc3\xa9\"]", &small, NS_EINVAL, NS_MSG_NOTICE,
                 "[\"NOTICE\",\"invalid: unknown message type \\\"TTTTTTTTTTTTTTTTTTTTTTTTTTTTTT\xc3\xa9\\\"\"]");
    /* The echoed id likewise at 1024 bytes: n of 'x', then é's; with 1023
     * the é at 1023..1024 would be split and is left out. */
    for (size_t n = 1022; n <= 1023; n++) {
        char text[2200];
        strcpy(text, "[\"REQ\",\"");
        size_t at = strlen(text);
        memset(text + at, 'x', n);
        text[at + n] = '\0';
        for (int i = 0; i < 40; i++)
            strcat(text, "\xc3\xa9");
        strcat(text, "\",{}]");
        ns_msg m;
        assert_int_equal(parse(text, &m), NS_EINVAL);
        assert_int_equal(m.kind, NS_MSG_CLOSED);
        assert_int_equal(m.sub_id_len, n == 1022 ? 1024 : 1023);
        assert_memory_equal(m.sub_id, text + at, m.sub_id_len);
        ns_msg_free(&m);
    }
    /* A filter's reason is cut at 40 bytes of the field name (filter.c). */
    const char *field = "[\"REQ\",\"s\",{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\":1}]";
    expect_reply(field, &small, NS_EUNSUP, NS_MSG_CLOSED,
                 "[\"CLOSED\",\"s\",\"unsupported: unknown filter field "
                 "\\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?\\\"\"]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event),     cmocka_unit_test(test_not_a_message),
        cmocka_unit_test(test_req),       cmocka_unit_test(test_req_refused),
        cmocka_unit_test(test_admit),     cmocka_unit_test(test_close_count),
        cmocka_unit_test(test_reply_escaping), cmocka_unit_test(test_reply_utf8),
    };
    return cmocka_run_group_tests_name("msg", tests, NULL, NULL);
}
