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

/* The relay's own limits on an otherwise valid event; fills msg. */
static bool ns_event_allowed(const ns_config *c, const ns_event *ev, int64_t now, char *msg, size_t n)
{
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
    if (c->content_max_length > 0 && ev->content.len > c->content_max_length) {
        snprintf(msg, n, "invalid: content is longer than %zu bytes", c->content_max_length);
        return false;
    }
    if (ns_event_expired(ev, now)) {
        snprintf(msg, n, "invalid: event has expired (NIP-40)");
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
        if (rc == 0 && !ns_event_allowed(&r->cfg, j->ev, ns_now(), j->msg, sizeof j->msg))
            rc = NS_EINVAL;
    }
    free(j->text);
    j->text = NULL;
    if (rc == 0 && ns_kind_classify(j->ev->kind) != NS_KIND_EPHEMERAL) {
        if (ns_queue_push(&r->write_q, &j->node))
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
