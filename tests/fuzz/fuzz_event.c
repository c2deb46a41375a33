/* fuzz_event.c - libFuzzer target for event parsing and serialization.
 *
 * Feeds arbitrary bytes to ns_event_parse. For every event that parses it
 * checks the invariants the relay relies on: the JSON written back parses
 * to the same event and is byte-for-byte stable, both canonical forms can be
 * produced and hashed, and the derived keys are well formed.
 */
#include <stdlib.h>
#include <string.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_event(const ns_event *a, const ns_event *b)
{
    if (memcmp(a->id, b->id, 32) || memcmp(a->pubkey, b->pubkey, 32) || memcmp(a->sig, b->sig, 64) ||
        a->created_at != b->created_at || a->kind != b->kind || a->ntags != b->ntags ||
        a->content.len != b->content.len || memcmp(a->content.ptr, b->content.ptr, a->content.len) ||
        a->expiration != b->expiration || a->has_raw_controls != b->has_raw_controls)
        return false;
    for (uint32_t i = 0; i < a->ntags; i++) {
        if (a->tags[i].n != b->tags[i].n)
            return false;
        for (uint32_t j = 0; j < a->tags[i].n; j++)
            if (a->tags[i].v[j].len != b->tags[i].v[j].len ||
                memcmp(a->tags[i].v[j].ptr, b->tags[i].v[j].ptr, a->tags[i].v[j].len))
                return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_event *ev;
    char reason[256];
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
    if (!same_event(ev, ev2) || out.len != again.len || memcmp(out.data, again.data, out.len))
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
