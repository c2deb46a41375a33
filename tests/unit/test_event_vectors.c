/* test_event_vectors.c - the event core against nostr-tools.
 *
 * tests/vectors/events.jsonl holds events made and judged by a real client
 * library (see tests/vectors/README.md). For every vector this test checks
 * that our verdict is the expected one (the library's, except for the
 * deviations the file names and explains), that a rejection's reason names
 * the field, and that our serialization hashes to exactly the id the
 * library computes for every event we can read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "event.h"
#include "testutil.h"

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* True when `word` occurs in s as a whole word: "id" must not be found
 * inside "invalid" or "width". */
static bool has_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word))
        if ((p == s || !is_word_char(p[-1])) && !is_word_char(p[n]))
            return true;
    return false;
}

static void test_vectors(void **state)
{
    (void)state;
    size_t len;
    char *text = tu_read_file("tests/vectors/events.jsonl", &len);
    assert_non_null(text);
    ns_verifier *ver = ns_verifier_new();
    int total = 0, valid = 0, invalid = 0, deviations = 0, hashed = 0, failures = 0, fast_path = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *v = json_loads(line, JSON_ALLOW_NUL, &jerr);
        if (v == NULL)
            fail_msg("vector line %d is not JSON: %s", total + 1, jerr.text);
        const char *name = json_string_value(json_object_get(v, "name"));
        const json_t *jj = json_object_get(v, "json");
        bool lib_valid = json_is_true(json_object_get(v, "lib_valid"));
        bool expect_valid = json_is_true(json_object_get(v, "expect_valid"));
        const char *expect_reason = json_string_value(json_object_get(v, "expect_reason"));
        const char *lib_hash = json_string_value(json_object_get(v, "lib_hash"));
        const char *deviation = json_string_value(json_object_get(v, "deviation"));
        assert_non_null(name);
        assert_true(json_is_string(jj));
        total++;
        if (expect_valid != lib_valid) {
            deviations++;
            if (deviation == NULL || deviation[0] == '\0') {
                print_error("vector %s: differs from the library without a stated deviation\n", name);
                failures++;
            }
        }

        char reason[256] = "";
        ns_event *ev = NULL, *fast = NULL;
        /* Where the fast reader accepts, the jansson path must agree. */
        const char *after;
        if (ns_event_parse_fast(json_string_value(jj), json_string_length(jj), &after, &fast) == 0) {
            json_t *obj = json_loadb(json_string_value(jj), json_string_length(jj),
                                     NS_JSON_DECODE_FLAGS, &jerr);
            ns_event *slow = NULL;
            if (obj == NULL || ns_event_from_json(obj, &slow, reason, sizeof reason) != 0 ||
                !tu_same_event(fast, slow)) {
                print_error("vector %s: the fast reader and jansson disagree\n", name);
                failures++;
            }
            fast_path++;
            json_decref(obj);
            free(slow);
            free(fast);
        }
        int rc = ns_event_parse(json_string_value(jj), json_string_length(jj), &ev, reason,
                                sizeof reason);
        if (rc == 0 && lib_hash != NULL) {
            /* The library hashes the JSON.stringify form; so must we. */
            uint8_t h[32];
            char hex[65];
            assert_int_equal(ns_event_compute_id(ev, true, NULL, h), 0);
            ns_hex_encode(h, 32, hex);
            if (strcmp(hex, lib_hash) != 0) {
                print_error("vector %s: our hash %s, the library's %s\n", name, hex, lib_hash);
                failures++;
            }
            hashed++;
        }
        if (rc == 0)
            rc = ns_event_validate(ev, ver, reason, sizeof reason);
        free(ev);
        bool ours = rc == 0;
        ours ? valid++ : invalid++;
        if (ours != expect_valid) {
            print_error("vector %s: we say %s (%s), expected %s\n", name, ours ? "valid" : "invalid",
                        reason, expect_valid ? "valid" : "invalid");
            failures++;
        } else if (!ours && (strncmp(reason, "invalid: ", 9) != 0 ||
                             (expect_reason && !has_word(reason + 9, expect_reason)))) {
            print_error("vector %s: reason \"%s\" lacks \"%s\"\n", name, reason,
                        expect_reason ? expect_reason : "invalid: ");
            failures++;
        }
        json_decref(v);
    }
    print_message("%d vectors: %d valid, %d invalid, %d deliberate deviations, %d hashes compared, "
                  "%d read by the fast reader\n", total, valid, invalid, deviations, hashed, fast_path);
    ns_verifier_free(ver);
    free(text);
    assert_int_equal(failures, 0);
    assert_true(total >= 500);
    assert_true(valid >= 100 && invalid >= 100 && hashed >= 300);
    assert_true(fast_path >= valid / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vectors)};
    return cmocka_run_group_tests_name("event_vectors", tests, NULL, NULL);
}
