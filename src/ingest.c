/* ingest.c - the verify workers: from EVENT text to a checked event.
 *
 * Each worker owns an ns_verifier. It parses the event (event.c), checks id
 * and signature, applies the relay's event limits (created_at window,
 * content length, NIP-40 expiration), then hands the event on: ephemeral
 * events straight back to the WebSocket thread to be relayed, the rest to
 * the writer. Refusals go back with their OK message.
 */
#include "ingest.h"
#include "err.h"
#include "hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For an event we cannot read, still try to learn its id so the client
 * gets an OK it can match, not only a NOTICE. */
static void ns_salvage_id(ns_event_job *j)
{
    json_error_t jerr;
    json_t *o = json_loadb(j->text, j->len, NS_JSON_DECODE_FLAGS, &jerr);
    const json_t *id = json_object_get(o, "id");
    if (json_is_string(id) && json_string_length(id) == 64 &&
        ns_hex_decode(json_string_value(id), j->id, 32) == 0)
        j->have_id = true;
    json_decref(o);
}

/* NIP-13: the number of leading zero bits of a 32-byte value. */
static uint32_t ns_leading_zero_bits(const uint8_t *v)
{
    uint32_t bits = 0;
    for (int i = 0; i < 32; i++) {
        if (v[i] == 0) {
            bits += 8;
            continue;
        }
        for (uint8_t b = v[i]; (b & 0x80) == 0; b <<= 1)
            bits++;
        break;
    }
    return bits;
}

/* The relay's own limits on an otherwise valid event (settings.yaml
 * limits.event); fills msg with the NIP-01 prefix nostream uses. */
static bool ns_event_allowed(const ns_config *c, ns_ratelimiter *limits, const char *ip,
                             const ns_event *ev, int64_t now, char *msg, size_t n)
{
    const struct ns_settings_event *le = &c->settings.limits.event;
    char pk[65];
    ns_hex_encode(ev->pubkey, 32, pk);
    if (!ns_settings_pubkey_allowed(&c->settings, pk)) {
        snprintf(msg, n, "blocked: pubkey not allowed");
        return false;
    }
    if (!ns_settings_kind_allowed(&c->settings, ev->kind)) {
        snprintf(msg, n, "blocked: event kind %u not allowed", ev->kind);
        return false;
    }
    uint32_t pow = ns_leading_zero_bits(ev->id);
    if (le->event_id_min_leading_zero_bits > 0 && pow < le->event_id_min_leading_zero_bits) {
        snprintf(msg, n, "pow: difficulty %u is less than %u", pow, le->event_id_min_leading_zero_bits);
        return false;
    }
    pow = ns_leading_zero_bits(ev->pubkey);
    if (le->pubkey_min_leading_zero_bits > 0 && pow < le->pubkey_min_leading_zero_bits) {
        snprintf(msg, n, "pow: pubkey difficulty %u is less than %u", pow, le->pubkey_min_leading_zero_bits);
        return false;
    }
    if (c->created_at_max_positive_delta > 0 && ev->created_at > now + c->created_at_max_positive_delta) {
        snprintf(msg, n, "invalid: created_at is more than %lld seconds in the future",
                 (long long)c->created_at_max_positive_delta);
        return false;
    }
    if (c->created_at_max_negative_delta > 0 && ev->created_at < now - c->created_at_max_negative_delta) {
        snprintf(msg, n, "invalid: created_at is more than %lld seconds in the past",
                 (long long)c->created_at_max_negative_delta);
        return false;
    }
    size_t max_content = ns_settings_content_limit(&c->settings, ev->kind);
    if (max_content > 0 && ev->content.len > max_content) {
        snprintf(msg, n, "invalid: content is longer than %zu bytes", max_content);
        return false;
    }
    if (ns_event_expired(ev, now)) {
        snprintf(msg, n, "invalid: event has expired (NIP-40)");
        return false;
    }
    /* Last: only an event that passes every other check is counted. */
    size_t rule;
    if (!ns_settings_event_rate_exempt(&c->settings, pk, ip) &&
        !ns_ratelimit_hit(limits, 'e', pk, 64, &le->rate_limits, ev->kind, ns_now_ms(), &rule)) {
        const ns_rate_limit *r = &le->rate_limits.v[rule];
        snprintf(msg, n, "rate-limited: slow down: at most %llu events per %llu ms%s%s",
                 (unsigned long long)r->rate, (unsigned long long)r->period_ms,
                 r->description ? " for " : "", r->description ? r->description : "");
        return false;
    }
    return true;
}

static void ns_ingest_one(ns_relay *r, ns_verifier *v, ns_event_job *j)
{
    int rc = ns_event_parse(j->text, j->len, &j->ev, j->msg, sizeof j->msg);
    if (rc != 0) {
        ns_salvage_id(j);
    } else {
        memcpy(j->id, j->ev->id, 32);
        j->have_id = true;
        rc = ns_event_validate(j->ev, v, j->msg, sizeof j->msg);
        if (rc == 0 && !ns_event_allowed(ns_cfg(r), r->limits, j->remote_ip, j->ev, ns_now(), j->msg,
                                         sizeof j->msg))
            rc = NS_EINVAL;
    }
    free(j->text);
    j->text = NULL;
    if (rc == 0 && ns_kind_classify(j->ev->kind) != NS_KIND_EPHEMERAL) {
        if (ns_queue_push(&r->write_q[j->ev->pubkey[0] % r->nwriters], &j->node))
            return;
        snprintf(j->msg, sizeof j->msg, "error: the relay is shutting down");
        rc = NS_EIO;
    }
    if (rc == 0) {
        j->result = NS_PUT_EPHEMERAL;
        j->msg[0] = '\0';
    }
    if (!ns_queue_push(&r->done_q, &j->node))
        ns_event_job_free(j);
}

void *ns_ingest_main(void *arg)
{
    ns_relay *r = arg;
    ns_verifier *v = ns_verifier_new();
    ns_qnode *nodes[16];
    size_t n;
    while ((n = ns_queue_pop_many(&r->verify_q, nodes, 16, -1)) > 0)
        for (size_t i = 0; i < n; i++)
            ns_ingest_one(r, v, (ns_event_job *)nodes[i]);
    ns_verifier_free(v);
    return NULL;
}

void ns_event_job_free(ns_event_job *j)
{
    if (j == NULL)
        return;
    free(j->text);
    free(j->ev);
    free(j);
}

void ns_req_job_free(ns_req_job *j)
{
    if (j == NULL)
        return;
    free(j->sub_id);
    free(j->sql);
    for (int i = 0; i < j->nparams; i++)
        free(j->params[i]);
    free(j->params);
    ns_buf_free(&j->rows);
    free(j);
}
