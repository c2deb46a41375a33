/* test_event.c - unit tests for src/event.c: parsing rules, canonical
 * serialization, id and signature checks, kind classes, output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "event.h"
#include "testutil.h"

static ns_verifier *ver;

static int setup(void **state)
{
    (void)state;
    ver = ns_verifier_new();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ns_verifier_free(ver);
    return 0;
}

/* Parses text and returns the code; the reason lands in `reason`. */
static char reason[256];
static int parse_code(const char *text)
{
    ns_event *ev = NULL;
    reason[0] = '\0';
    int rc = ns_event_parse(text, strlen(text), &ev, reason, sizeof reason);
    if (rc == 0) {
        rc = ns_event_validate(ev, ver, reason, sizeof reason);
        free(ev);
    } else {
        assert_null(ev);
    }
    return rc;
}

/* Replaces the first occurrence of `field` value in a signed event's JSON
 * (given as "\"field\":<old>") with new text, returning a new string. */
static char *replace(const char *json, const char *from, const char *to)
{
    const char *p = strstr(json, from);
    assert_non_null(p);
    size_t n = strlen(json) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(p - json), json, to, p + strlen(from));
    return out;
}

static void expect_reject(const char *json, const char *from, const char *to, const char *needle)
{
    char *bad = replace(json, from, to);
    int rc = parse_code(bad);
    if (rc == 0 || strstr(reason, needle) == NULL)
        fail_msg("accepted or wrong reason for %s -> %s: rc=%d reason=%s", from, to, rc, reason);
    assert_true(strncmp(reason, "invalid: ", 9) == 0);
    free(bad);
}

static void test_valid_event_roundtrip(void **state)
{
    (void)state;
    char *json = tu_signed_event(1, 1700000000, 1, "[[\"e\",\"abc\",\"wss://r\"],[\"t\",\"x\"]]",
                                 "hello \"world\"\n");
    ns_event *ev;
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, reason, sizeof reason), 0);
    assert_int_equal(ns_event_validate(ev, ver, reason, sizeof reason), 0);
    assert_int_equal(ev->created_at, 1700000000);
    assert_int_equal(ev->kind, 1);
    assert_int_equal(ev->ntags, 2);
    assert_int_equal(ev->tags[0].n, 3);
    assert_string_equal(ev->tags[0].v[2].ptr, "wss://r");
    assert_string_equal(ev->content.ptr, "hello \"world\"\n");
    assert_int_equal(ev->expiration, NS_EVENT_NO_EXPIRATION);
    /* Writing back is byte-for-byte stable. */
    ns_buf b = NS_BUF_INIT;
    ns_event_to_json(ev, &b);
    assert_int_equal(b.len, strlen(json));
    assert_memory_equal(b.data, json, b.len);
    ns_buf_free(&b);
    free(ev);
    free(json);
}

static void test_field_rules(void **state)
{
    (void)state;
    char *json = tu_signed_event(2, 1700000000, 1, "[[\"p\",\"x\"]]", "c");
    ns_event *ev;
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
    char idhex[65], pkhex[65], sighex[129];
    ns_hex_encode(ev->id, 32, idhex);
    ns_hex_encode(ev->pubkey, 32, pkhex);
    ns_hex_encode(ev->sig, 64, sighex);
    free(ev);
    char from[200], to[200];

    /* Upper case, wrong lengths, non-hex, wrong types. */
    snprintf(from, sizeof from, "\"id\":\"%s\"", idhex);
    snprintf(to, sizeof to, "\"id\":\"%.63sA\"", idhex);
    expect_reject(json, from, to, "id must be 64 lower-case hex");
    snprintf(to, sizeof to, "\"id\":\"%.63s\"", idhex);
    expect_reject(json, from, to, "id must be 64");
    snprintf(to, sizeof to, "\"id\":\"%s0\"", idhex);
    expect_reject(json, from, to, "id must be 64");
    snprintf(to, sizeof to, "\"id\":\"%.63sg\"", idhex);
    expect_reject(json, from, to, "id must be 64");
    expect_reject(json, from, "\"id\":1", "id must be a string");
    expect_reject(json, from, "\"x\":1", "missing field \"id\"");
    /* A different but well-formed id is a hash mismatch. */
    snprintf(to, sizeof to, "\"id\":\"%.63s%c\"", idhex, idhex[63] == '0' ? '1' : '0');
    expect_reject(json, from, to, "event id does not match");

    snprintf(from, sizeof from, "\"pubkey\":\"%s\"", pkhex);
    for (char *c = pkhex; *c; c++)
        *c = (char)(*c >= 'a' ? *c - 32 : *c);
    snprintf(to, sizeof to, "\"pubkey\":\"%s\"", pkhex);
    expect_reject(json, from, to, "pubkey must be 64 lower-case hex");
    expect_reject(json, from, "\"pubkey\":null", "pubkey must be a string");

    snprintf(from, sizeof from, "\"sig\":\"%s\"", sighex);
    snprintf(to, sizeof to, "\"sig\":\"%.127s\"", sighex);
    expect_reject(json, from, to, "sig must be 128 lower-case hex");
    snprintf(to, sizeof to, "\"sig\":\"%.127s%c\"", sighex, sighex[127] == '0' ? '1' : '0');
    expect_reject(json, from, to, "sig is not a valid signature");
    expect_reject(json, from, "\"nosig\":1", "missing field \"sig\"");

    const char *ca = "\"created_at\":1700000000";
    expect_reject(json, ca, "\"created_at\":1700000000.0", "created_at must be an integer");
    expect_reject(json, ca, "\"created_at\":1.7e9", "created_at must be an integer");
    expect_reject(json, ca, "\"created_at\":\"1700000000\"", "created_at must be an integer");
    expect_reject(json, ca, "\"created_at\":-1", "created_at must be between 0 and 2147483647");
    expect_reject(json, ca, "\"created_at\":2147483648", "created_at must be between");
    expect_reject(json, ca, "\"created_at\":true", "created_at must be an integer");

    const char *kd = "\"kind\":1";
    expect_reject(json, kd, "\"kind\":-1", "kind must be between 0 and 65535");
    expect_reject(json, kd, "\"kind\":65536", "kind must be between 0 and 65535");
    expect_reject(json, kd, "\"kind\":1.5", "kind must be an integer");
    expect_reject(json, kd, "\"kind\":\"1\"", "kind must be an integer");

    const char *tg = "\"tags\":[[\"p\",\"x\"]]";
    expect_reject(json, tg, "\"tags\":{}", "tags must be an array");
    expect_reject(json, tg, "\"tags\":[[]]", "tags[0] must not be empty");
    expect_reject(json, tg, "\"tags\":[\"p\"]", "tags[0] must be an array");
    expect_reject(json, tg, "\"tags\":[[\"p\",1]]", "tags[0][1] must be a string");
    expect_reject(json, tg, "\"tags\":[[\"p\",[\"x\"]]]", "tags[0][1] must be a string");
    expect_reject(json, tg, "\"tags\":[[\"p\",\"a\\u0000b\"]]", "tags[0][1] contains a NUL");
    expect_reject(json, tg, "\"tagz\":[]", "missing field \"tags\"");

    const char *ct = "\"content\":\"c\"";
    expect_reject(json, ct, "\"content\":1", "content must be a string");
    expect_reject(json, ct, "\"content\":null", "content must be a string");
    expect_reject(json, ct, "\"content\":\"a\\u0000\"", "content contains a NUL");
    expect_reject(json, ct, "\"contentx\":\"c\"", "missing field \"content\"");
    /* Content changed after signing. */
    expect_reject(json, ct, "\"content\":\"d\"", "event id does not match");

    /* Extra fields are ignored, field order does not matter. */
    char *extra = replace(json, "{", "{\"seen_on\":[1,2],\"x\":{},");
    assert_int_equal(parse_code(extra), 0);
    free(extra);

    /* Not JSON at all, not an object, invalid UTF-8, lone surrogates. */
    assert_int_equal(parse_code("[1,2"), NS_EINVAL);
    assert_non_null(strstr(reason, "malformed JSON"));
    assert_int_equal(parse_code("[1,2]"), NS_EINVAL);
    assert_non_null(strstr(reason, "must be a JSON object"));
    char *badutf = replace(json, "\"content\":\"c\"", "\"content\":\"\xc3\x28\"");
    assert_int_equal(parse_code(badutf), NS_EINVAL);
    assert_non_null(strstr(reason, "malformed JSON"));
    free(badutf);
    char *surr = replace(json, "\"content\":\"c\"", "\"content\":\"\\ud800\"");
    assert_int_equal(parse_code(surr), NS_EINVAL);
    assert_non_null(strstr(reason, "malformed JSON"));
    free(surr);
    free(json);
}

static void test_canonical_serialization(void **state)
{
    (void)state;
    /* Every NIP-01 escape, other control characters, DEL, U+2028, emoji. */
    const char *content = "q\" b\\ n\n r\r t\t b\b f\f c\x01 e\x1f d\x7f ls\xe2\x80\xa8 "
                          "emoji\xf0\x9f\x98\x80 \xc3\xa9";
    char *json = tu_signed_event(3, 42, 7, "[[\"x\",\"\\u0002\"]]", content);
    ns_event *ev;
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, reason, sizeof reason), 0);
    assert_true(ev->has_raw_controls);
    ns_buf b = NS_BUF_INIT;
    ns_event_serialize_canonical(ev, false, &b);
    char pk[65];
    ns_hex_encode(ev->pubkey, 32, pk);
    char want[512];
    snprintf(want, sizeof want,
             "[0,\"%s\",42,7,[[\"x\",\"\x02\"]],\"q\\\" b\\\\ n\\n r\\r t\\t b\\b f\\f c\x01 e\x1f "
             "d\x7f ls\xe2\x80\xa8 emoji\xf0\x9f\x98\x80 \xc3\xa9\"]", pk);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    ns_buf_reset(&b);
    ns_event_serialize_canonical(ev, true, &b);
    snprintf(want, sizeof want,
             "[0,\"%s\",42,7,[[\"x\",\"\\u0002\"]],\"q\\\" b\\\\ n\\n r\\r t\\t b\\b f\\f c\\u0001 "
             "e\\u001f d\x7f ls\xe2\x80\xa8 emoji\xf0\x9f\x98\x80 \xc3\xa9\"]", pk);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    /* The test signer hashed the verbatim form: it verifies. */
    assert_int_equal(ns_event_validate(ev, ver, reason, sizeof reason), 0);
    /* An id over the JSON.stringify form is accepted as well. */
    uint8_t alt[32];
    assert_int_equal(ns_event_compute_id(ev, true, &b, alt), 0);
    assert_memory_not_equal(alt, ev->id, 32);
    memcpy(ev->id, alt, 32);
    assert_int_equal(ns_event_check_id(ev, &b), 0);
    ns_buf_free(&b);
    free(ev);
    free(json);

    /* Without raw controls only the one form counts. */
    json = tu_signed_event(3, 42, 7, "[]", "plain\n");
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, reason, sizeof reason), 0);
    assert_false(ev->has_raw_controls);
    free(ev);
    free(json);
}

static void test_unicode_escapes_in_input(void **state)
{
    (void)state;
    /* "\u00e9" in the JSON text means the same string as a raw é. */
    char *json = tu_signed_event(4, 1, 1, "[]", "caf\xc3\xa9 \xf0\x9f\x98\x80/");
    char *esc = replace(json, "caf\xc3\xa9 \xf0\x9f\x98\x80/", "caf\\u00e9 \\ud83d\\ude00\\/");
    assert_int_equal(parse_code(esc), 0);
    free(esc);
    free(json);
}

static void test_kind_classes(void **state)
{
    (void)state;
    static const struct { uint32_t kind; ns_kind_class c; } cases[] = {
        {0, NS_KIND_REPLACEABLE},     {1, NS_KIND_REGULAR},        {2, NS_KIND_REGULAR},
        {3, NS_KIND_REPLACEABLE},     {40, NS_KIND_REGULAR},       {41, NS_KIND_REPLACEABLE},
        {42, NS_KIND_REGULAR},        {9999, NS_KIND_REGULAR},     {10000, NS_KIND_REPLACEABLE},
        {19999, NS_KIND_REPLACEABLE}, {20000, NS_KIND_EPHEMERAL},  {29999, NS_KIND_EPHEMERAL},
        {30000, NS_KIND_ADDRESSABLE}, {39999, NS_KIND_ADDRESSABLE}, {40000, NS_KIND_REGULAR},
        {65535, NS_KIND_REGULAR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(ns_kind_classify(cases[i].kind), cases[i].c);
    assert_string_equal(ns_kind_class_name(NS_KIND_ADDRESSABLE), "addressable");
}

static void test_dedup_and_d_tag(void **state)
{
    (void)state;
    ns_event *ev;
    ns_buf b = NS_BUF_INIT;
    char pk[65];

    char *json = tu_signed_event(5, 1, 10002, "[[\"d\",\"ignored\"]]", "");
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
    ns_hex_encode(ev->pubkey, 32, pk);
    assert_true(ns_event_dedup_key(ev, &b));
    char want[128];
    snprintf(want, sizeof want, "[\"%s\",10002]", pk);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    free(ev);
    free(json);

    /* The first d tag with a value counts; ["d"] alone is skipped. */
    json = tu_signed_event(5, 1, 30023, "[[\"d\"],[\"d\",\"a\\\"b\"],[\"d\",\"second\"]]", "");
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
    assert_string_equal(ns_event_d_tag(ev).ptr, "a\"b");
    ns_buf_reset(&b);
    assert_true(ns_event_dedup_key(ev, &b));
    assert_int_equal(b.len, strlen("[\"a\\\"b\"]"));
    assert_memory_equal(b.data, "[\"a\\\"b\"]", b.len);
    free(ev);
    free(json);

    /* Addressable without d: the empty key. */
    json = tu_signed_event(5, 1, 30000, "[]", "");
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
    ns_buf_reset(&b);
    assert_true(ns_event_dedup_key(ev, &b));
    assert_memory_equal(b.data, "[\"\"]", 4);
    free(ev);
    free(json);

    /* Regular and ephemeral kinds have no key. */
    json = tu_signed_event(5, 1, 20001, "[]", "");
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
    ns_buf_reset(&b);
    assert_false(ns_event_dedup_key(ev, &b));
    assert_int_equal(b.len, 0);
    free(ev);
    free(json);
    ns_buf_free(&b);
}

static void test_expiration(void **state)
{
    (void)state;
    static const struct { const char *tags; int64_t want; } cases[] = {
        {"[[\"expiration\",\"1700000000\"]]", 1700000000},
        {"[[\"t\",\"x\"],[\"expiration\",\"5\"],[\"expiration\",\"9\"]]", 5},
        {"[[\"expiration\"],[\"expiration\",\"7\"]]", 7},
        {"[[\"expiration\",\"\"]]", NS_EVENT_NO_EXPIRATION},
        {"[[\"expiration\",\"-5\"]]", NS_EVENT_NO_EXPIRATION},
        {"[[\"expiration\",\"12abc\"]]", NS_EVENT_NO_EXPIRATION},
        {"[[\"expiration\",\"1.5\"]]", NS_EVENT_NO_EXPIRATION},
        {"[]", NS_EVENT_NO_EXPIRATION},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = tu_signed_event(6, 1, 1, cases[i].tags, "");
        ns_event *ev;
        assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
        assert_int_equal(ev->expiration, cases[i].want);
        if (cases[i].want > 0) {
            assert_false(ns_event_expired(ev, cases[i].want - 1));
            assert_true(ns_event_expired(ev, cases[i].want));
        } else {
            assert_false(ns_event_expired(ev, INT64_MAX));
        }
        free(ev);
        free(json);
    }
}

static void test_bad_pubkey_point(void **state)
{
    (void)state;
    /* x = 0xff..ff is not on the curve: a clean signature failure. */
    char *json = tu_signed_event(7, 1, 1, "[]", "");
    ns_event *ev;
    assert_int_equal(ns_event_parse(json, strlen(json), &ev, NULL, 0), 0);
    memset(ev->pubkey, 0xff, 32);
    assert_int_equal(ns_event_verify_sig(ev, ver), NS_EBADSIG);
    free(ev);
    free(json);
}

static void test_large_event(void **state)
{
    (void)state;
    /* 1000 tags and 100 KB of content survive parse, hash and output. */
    ns_buf tags = NS_BUF_INIT;
    ns_buf_addc(&tags, '[');
    for (int i = 0; i < 1000; i++)
        ns_buf_addf(&tags, "%s[\"t\",\"v%d\"]", i ? "," : "", i);
    ns_buf_adds(&tags, "]");
    ns_buf_addc(&tags, '\0');
    char *content = malloc(100001);
    memset(content, 'z', 100000);
    content[100000] = '\0';
    char *json = tu_signed_event(8, 1, 1, tags.data, content);
    assert_int_equal(parse_code(json), 0);
    free(json);
    free(content);
    ns_buf_free(&tags);
}

/* The fast reader and the jansson path agree on shapes the vectors do not
 * stress: whitespace, escapes in keys, repeated keys, odd numbers. */
static void test_fast_reader_agrees(void **state)
{
    (void)state;
    char *json = tu_signed_event(10, 1700000000, 1, "[[\"e\",\"x\"]]", "caf\xc3\xa9 \xf0\x9f\x98\x80");
    static const struct { const char *from, *to; bool fast; } cases[] = {
        {"{", " \n\t{ ", true},
        {"\"kind\":1", "\"kind\" : 1 ", true},
        {"\"tags\":[[\"e\",\"x\"]]", "\"tags\":[ [ \"e\" , \"x\" ] ]", true},
        {"caf\xc3\xa9", "caf\\u00e9", true},
        {"caf\xc3\xa9", "caf\\u00E9", true},
        {"\xf0\x9f\x98\x80", "\\ud83d\\ude00", true},
        {"\"kind\":1", "\"kind\":1,\"kind\":1", false},   /* repeated key: last wins */
        {"\"kind\":1", "\"kind\":1,\"extra\":[{}]", false},/* unknown key */
        {"\"kind\":1", "\"\\u006bind\":1", false},          /* escaped key */
        {"\"kind\":1", "\"kind\":1.0", false},               /* refused by jansson path */
        {"\"kind\":1", "\"kind\":01", false},                /* not JSON */
        {"\"kind\":1", "\"kind\":-0", false},
        {"caf\xc3\xa9", "caf\\u0000", false},                 /* NUL: refused */
        {"caf\xc3\xa9", "caf\\ud800", false},                 /* lone surrogate */
        {"caf\xc3\xa9", "caf\xc0\xa9", false},                /* overlong UTF-8 */
        {"caf\xc3\xa9", "caf\xed\xa0\x80", false},            /* UTF-8 surrogate */
        {"caf\xc3\xa9", "caf\x01", false},                    /* raw control char */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = replace(json, cases[i].from, cases[i].to);
        size_t len = strlen(text);
        const char *after;
        ns_event *fast = NULL, *viaparse = NULL, *slow = NULL;
        int frc = ns_event_parse_fast(text, len, &after, &fast);
        if ((frc == 0) != cases[i].fast)
            fail_msg("case %zu: fast reader %s", i, frc == 0 ? "accepted" : "declined");
        int prc = ns_event_parse(text, len, &viaparse, reason, sizeof reason);
        json_error_t jerr;
        json_t *obj = json_loadb(text, len, NS_JSON_DECODE_FLAGS, &jerr);
        int src = obj ? ns_event_from_json(obj, &slow, NULL, 0) : NS_EINVAL;
        assert_int_equal(prc == 0, src == 0);
        if (prc == 0)
            assert_true(tu_same_event(viaparse, slow));
        if (frc == 0)
            assert_true(tu_same_event(fast, slow));
        json_decref(obj);
        free(fast);
        free(viaparse);
        free(slow);
        free(text);
    }
    /* Trailing garbage after a good object is left to jansson, which refuses. */
    size_t n = strlen(json);
    char *trail = malloc(n + 3);
    memcpy(trail, json, n);
    memcpy(trail + n, " x", 3);
    assert_int_equal(parse_code(trail), NS_EINVAL);
    assert_non_null(strstr(reason, "malformed JSON"));
    free(trail);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_event_roundtrip),
        cmocka_unit_test(test_field_rules),
        cmocka_unit_test(test_canonical_serialization),
        cmocka_unit_test(test_unicode_escapes_in_input),
        cmocka_unit_test(test_kind_classes),
        cmocka_unit_test(test_dedup_and_d_tag),
        cmocka_unit_test(test_expiration),
        cmocka_unit_test(test_bad_pubkey_point),
        cmocka_unit_test(test_large_event),
        cmocka_unit_test(test_fast_reader_agrees),
    };
    return cmocka_run_group_tests_name("event", tests, setup, teardown);
}
