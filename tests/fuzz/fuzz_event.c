/* fuzz_event.c - libFuzzer target for event parsing and serialization.
 *
 * Feeds arbitrary bytes to the fast reader and to the jansson path: when
 * the fast reader accepts, jansson must accept and build the same event.
 * Then through ns_event_parse: for every event that parses it
 * checks the invariants the relay relies on: the JSON written back parses
 * to the same event and is byte-for-byte stable, both canonical forms can be
 * produced and hashed, and the derived keys are well formed.
 */
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_event *ev;
    char reason[256];
    const char *after;
    if (ns_event_parse_fast((const char *)data, size, &after, &ev) == 0) {
        const char *end = (const char *)data + size;
        while (after < end && (*after == ' ' || *after == '\n' || *after == '\r' || *after == '\t'))
            after++;
        if (after == end) {
            json_error_t jerr;
            json_t *j = json_loadb((const char *)data, size, NS_JSON_DECODE_FLAGS, &jerr);
            ns_event *slow;
            if (j == NULL || ns_event_from_json(j, &slow, reason, sizeof reason) != 0)
                abort(); /* the fast reader accepted what jansson refuses */
            if (!tu_same_event(ev, slow))
                abort(); /* the two readers disagree on the content */
            json_decref(j);
            free(slow);
        }
        free(ev);
    }
    if (ns_event_parse((const char *)data, size, &ev, reason, sizeof reason) != 0) {
        if (strncmp(reason, "invalid: ", 9) != 0 && strncmp(reason, "error: ", 7) != 0)
            abort();
        return 0;
    }
    ns_buf out = NS_BUF_INIT, again = NS_BUF_INIT;
    ns_event_to_json(ev, &out);
    ns_event *ev2;
    if (ns_event_parse(out.data, out.len, &ev2, reason, sizeof reason) != 0)
        abort(); /* we wrote JSON that we cannot read back */
    ns_event_to_json(ev2, &again);
    if (!tu_same_event(ev, ev2) || out.len != again.len || memcmp(out.data, again.data, out.len))
        abort();
    uint8_t h[32];
    if (ns_event_compute_id(ev, false, &again, h) != 0 || ns_event_compute_id(ev, true, &again, h) != 0)
        abort();
    (void)ns_event_check_id(ev, &again);
    ns_buf_reset(&again);
    bool has_key = ns_event_dedup_key(ev, &again);
    ns_kind_class c = ns_kind_classify(ev->kind);
    if (has_key != (c == NS_KIND_REPLACEABLE || c == NS_KIND_ADDRESSABLE))
        abort();
    ns_buf_free(&out);
    ns_buf_free(&again);
    free(ev);
    free(ev2);
    return 0;
}
