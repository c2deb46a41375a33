/* fuzz_filter.c - libFuzzer target for filter parsing and matching.
 *
 * Parses arbitrary bytes as a filter (with prefixes enabled, so that path
 * is explored too) and matches it against a few fixed events, checking
 * that a filter reported as empty never matches anything.
 */
#include <stdlib.h>
#include <string.h>

#include "filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const events_json[] = {
    "{\"id\":\"5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36\","
    "\"pubkey\":\"f7234bd4c1394dda46d09f35bd384dd30cc552ad5541990f98844fb06676e9ca\","
    "\"created_at\":1700000000,\"kind\":1,\"tags\":[[\"e\",\"abc\"],[\"p\",\"f7\"],[\"t\"],"
    "[\"d\",\"\"]],\"content\":\"hi\",\"sig\":\"" 
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000\"}",
    "{\"id\":\"0000000000000000000000000000000000000000000000000000000000000000\","
    "\"pubkey\":\"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\","
    "\"created_at\":0,\"kind\":65535,\"tags\":[],\"content\":\"\",\"sig\":\""
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ns_event *events[2];
    if (events[0] == NULL)
        for (int i = 0; i < 2; i++)
            if (ns_event_parse(events_json[i], strlen(events_json[i]), &events[i], NULL, 0) != 0)
                abort();
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, NS_JSON_DECODE_FLAGS, &jerr);
    if (j == NULL)
        return 0;
    ns_filter_opts opts = {1, 100};
    ns_filter *f;
    char reason[256];
    int rc = ns_filter_from_json(j, &opts, &f, reason, sizeof reason);
    json_decref(j);
    if (rc != 0) {
        if (strncmp(reason, "invalid: ", 9) && strncmp(reason, "unsupported: ", 13) &&
            strncmp(reason, "error: ", 7))
            abort();
        return 0;
    }
    bool empty = ns_filter_is_empty(f);
    for (int i = 0; i < 2; i++)
        if (ns_filter_match(f, events[i]) && empty)
            abort();
    ns_filter_free(f);
    return 0;
}
