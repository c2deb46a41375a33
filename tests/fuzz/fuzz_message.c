/* fuzz_message.c - libFuzzer target for the client-message layer.
 *
 * Feeds arbitrary bytes to ns_msg_parse, under the default limits and
 * under small ones, with an admission hook that refuses ids starting with
 * '!'. Whatever the input:
 *   - the outcome is one of the five kinds, and the return code agrees;
 *     the same bytes read the same way twice;
 *   - a refusal has a reason with a NIP-01 prefix, owns no filters, and
 *     its reply is valid JSON (strict UTF-8, as a WebSocket text frame
 *     must be) that reads back as ["NOTICE", reason] or
 *     ["CLOSED", sub id, reason] exactly;
 *   - an EVENT's text is inside the message (recognised) or compact JSON
 *     of an object; when the whole message is JSON, the text recognised
 *     is the same object jansson sees;
 *   - a REQ has an id of 1..max_subid_length bytes that the hook admitted,
 *     1..max_filters filters, and the SQL built from them holds every
 *     invariant of fuzz_query.c.
 */
#define FQ_NO_ENTRY
#include "fuzz_query.c"

#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fm_admit {
    int calls;
    const char *sid;
    size_t sid_len;
} fm_admit;

static bool fm_admit_fn(void *arg, const char *sid, size_t len, char *why, size_t why_len)
{
    fm_admit *a = arg;
    a->calls++;
    a->sid = sid;
    a->sid_len = len;
    if (len > 0 && sid[0] == '!') {
        snprintf(why, why_len, "blocked: too many subscriptions: at most %d per connection", 7);
        return false;
    }
    return true;
}

static bool fm_has_prefix(const char *r)
{
    static const char *const prefixes[] = {"invalid: ", "unsupported: ", "blocked: ", "error: "};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(r, prefixes[i], strlen(prefixes[i])) == 0 && r[strlen(prefixes[i])] != '\0')
            return true;
    return false;
}

static bool fm_str_is(const json_t *j, const char *p, size_t n)
{
    return json_is_string(j) && json_string_length(j) == n && memcmp(json_string_value(j), p, n) == 0;
}

static void fm_check_refusal(const ns_msg *m)
{
    if (!fm_has_prefix(m->reason))
        abort(); /* a reason without its NIP-01 prefix */
    if (m->filters != NULL || m->nfilters != 0)
        abort();
    ns_buf b = NS_BUF_INIT;
    if (ns_msg_reply(m, &b) != 0)
        abort();
    json_error_t jerr;
    json_t *r = json_loadb(b.data, b.len, NS_JSON_DECODE_FLAGS, &jerr);
    if (r == NULL) {
        fprintf(stderr, "reply is not JSON (%s): %.*s\n", jerr.text, (int)b.len, b.data);
        abort();
    }
    bool ok;
    if (m->kind == NS_MSG_NOTICE)
        ok = json_array_size(r) == 2 && fm_str_is(json_array_get(r, 0), "NOTICE", 6) &&
             fm_str_is(json_array_get(r, 1), m->reason, strlen(m->reason));
    else
        ok = json_array_size(r) == 3 && fm_str_is(json_array_get(r, 0), "CLOSED", 6) &&
             fm_str_is(json_array_get(r, 1), m->sub_id, m->sub_id_len) &&
             fm_str_is(json_array_get(r, 2), m->reason, strlen(m->reason));
    if (!ok)
        abort(); /* the reply does not say what the refusal says */
    json_decref(r);
    ns_buf_free(&b);
}

static void fm_check_event(const ns_msg *m, const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    bool inside = m->event >= in && m->event + m->event_len <= in + size;
    if (!inside && (m->event_len != strlen(m->event) || m->event[0] != '{'))
        abort();
    json_error_t jerr;
    json_t *all = json_loadb(in, size, NS_JSON_DECODE_FLAGS, &jerr);
    if (all == NULL)
        return; /* recognised without a parse; the verify worker judges it */
    json_t *ev = json_loadb(m->event, m->event_len, NS_JSON_DECODE_FLAGS, &jerr);
    /* The whole message is JSON: then it is ["EVENT", obj] and the text
     * is obj (a recognised ["EVENT", a, b] is no JSON object: the worker
     * refuses it). */
    if (json_array_size(all) == 2 && json_is_object(json_array_get(all, 1))) {
        if (ev == NULL || !json_equal(ev, json_array_get(all, 1)))
            abort(); /* the text handed on is not the event the client sent */
    } else if (!inside || (ev != NULL && json_is_object(ev))) {
        abort(); /* something else was taken for an event */
    }
    json_decref(ev);
    json_decref(all);
}

static void fm_run(const uint8_t *data, size_t size, const ns_msg_limits *lim, int64_t def, int64_t max)
{
    fm_admit a = {0, NULL, 0};
    ns_msg m, again;
    int rc = ns_msg_parse((const char *)data, size, lim, fm_admit_fn, &a, &m);
    int rc2 = ns_msg_parse((const char *)data, size, lim, NULL, NULL, &again);
    if (m.kind < NS_MSG_EVENT || m.kind > NS_MSG_CLOSED)
        abort();
    if ((rc == 0) != (m.kind == NS_MSG_EVENT || m.kind == NS_MSG_REQ || m.kind == NS_MSG_CLOSE) ||
        (rc != 0 && rc != NS_EINVAL && rc != NS_EUNSUP && rc != NS_ERANGE && rc != NS_ENOMEM))
        abort();
    if (a.calls > 1)
        abort(); /* the hook is asked at most once */
    /* Without the hook, only the hook's refusal can differ. */
    if (rc == NS_ERANGE) {
        if (a.calls != 1 || m.kind != NS_MSG_CLOSED || a.sid_len == 0 || a.sid[0] != '!')
            abort();
    } else if (rc2 != rc || again.kind != m.kind || strcmp(again.reason, m.reason) != 0 ||
               again.sub_id_len != m.sub_id_len || again.nfilters != m.nfilters ||
               (m.sub_id_len && memcmp(again.sub_id, m.sub_id, m.sub_id_len) != 0) ||
               again.event_len != m.event_len ||
               (m.event_len && memcmp(again.event, m.event, m.event_len) != 0)) {
        abort(); /* the same bytes read differently */
    }
    ns_msg_free(&again);
    switch (m.kind) {
    case NS_MSG_EVENT:
        if (a.calls != 0)
            abort();
        fm_check_event(&m, data, size);
        break;
    case NS_MSG_CLOSE:
        if (a.calls != 0 || m.sub_id == NULL)
            abort();
        break;
    case NS_MSG_REQ:
        if (a.calls != 1 || a.sid != m.sub_id || a.sid_len != m.sub_id_len || m.sub_id_len == 0 ||
            m.sub_id_len > (size_t)lim->max_subid_length || m.nfilters == 0 ||
            m.nfilters > (size_t)lim->max_filters)
            abort();
        for (size_t i = 0; i < m.nfilters; i++)
            if (m.filters[i] == NULL)
                abort();
        fq_check(m.filters, m.nfilters, def, max, 1700000000);
        break;
    case NS_MSG_NOTICE:
    case NS_MSG_CLOSED:
        fm_check_refusal(&m);
        break;
    }
    ns_msg_free(&m);
    if (m.filters != NULL || m.json != NULL || m.text != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* nostream's defaults, and small limits that the fuzzer can reach. */
    static const ns_msg_limits deflt = {256, 10, 2500, 64};
    static const ns_msg_limits small = {4, 2, 3, 1};
    fm_run(data, size, &deflt, 500, 5000);
    fm_run(data, size, &small, 2, 3);
    return 0;
}
