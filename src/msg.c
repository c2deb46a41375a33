/* msg.c - client messages to typed requests or refusals (see msg.h).
 *
 * Each reply text here is part of the relay's behaviour (clients and the
 * integration tests read them): change one only on purpose.
 */
#include "msg.h"
#include "err.h"
#include "event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most of a refused subscription id echoed back in CLOSED. */
#define NS_MSG_ECHO_MAX 1024

static bool ns_is_ws(char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; }

/* Recognises ["EVENT", {...}] without a full parse: the object text goes
 * to a verify worker as is. Returns false when the message does not start
 * that way (jansson then reads it). */
static bool ns_sniff_event(const char *m, size_t len, const char **obj, size_t *obj_len)
{
    const char *p = m, *end = m + len;
    while (p < end && ns_is_ws(*p))
        p++;
    if (p >= end || *p++ != '[')
        return false;
    while (p < end && ns_is_ws(*p))
        p++;
    if (end - p < 7 || memcmp(p, "\"EVENT\"", 7) != 0)
        return false;
    p += 7;
    while (p < end && ns_is_ws(*p))
        p++;
    if (p >= end || *p++ != ',')
        return false;
    while (end > p && ns_is_ws(end[-1]))
        end--;
    if (end <= p || end[-1] != ']')
        return false;
    end--;
    *obj = p;
    *obj_len = (size_t)(end - p);
    return true;
}

/* Length of the UTF-8 sequence at s[0..n) (1..4), or 0 when it is not one
 * whole valid sequence (overlong forms, surrogates and code points above
 * U+10FFFF are invalid, as jansson decides). */
static size_t ns_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp, min;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* How much of the valid UTF-8 s[0..n) to echo when at most max bytes may
 * be: max, moved back to the start of the character it would split. */
static size_t ns_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/* Replaces each byte of s that is not part of a valid UTF-8 sequence with
 * '?': a reason goes into a WebSocket text frame, which must be UTF-8 (a
 * client fails the connection otherwise), and some reasons quote text the
 * relay did not write (jansson quotes the bytes near a JSON error, even
 * half a character) or were cut short by a length limit. */
static void ns_utf8_scrub(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = ns_utf8_seq((const unsigned char *)s + i, n - i);
        if (k == 0) {
            s[i] = '?';
            k = 1;
        }
        i += k;
    }
}

/* Makes m a refusal of the given kind (NOTICE, or CLOSED for m->sub_id)
 * with the formatted reason; returns err. */
static int ns_refuse(ns_msg *m, ns_msg_kind kind, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ns_refuse(ns_msg *m, ns_msg_kind kind, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->reason, sizeof m->reason, fmt, ap);
    va_end(ap);
    m->kind = kind;
    return err;
}

static int ns_parse_req(ns_msg *m, const json_t *msg, const ns_msg_limits *lim, ns_msg_admit_fn *admit,
                        void *arg)
{
    const json_t *jid = json_array_get(msg, 1);
    if (!json_is_string(jid))
        return ns_refuse(m, NS_MSG_NOTICE, NS_EINVAL, "invalid: REQ needs a subscription id string");
    m->sub_id = json_string_value(jid);
    m->sub_id_len = json_string_length(jid);
    if (m->sub_id_len == 0 || m->sub_id_len > (size_t)lim->max_subid_length) {
        m->sub_id_len = ns_utf8_cut(m->sub_id, m->sub_id_len, NS_MSG_ECHO_MAX);
        return ns_refuse(m, NS_MSG_CLOSED, NS_EINVAL, "invalid: subscription id must be 1 to %d characters",
                         lim->max_subid_length);
    }
    /* The relay keeps ids as C strings; a NUL inside would make the id
     * match nothing later (no stored events, no EOSE): refuse it now. */
    if (memchr(m->sub_id, '\0', m->sub_id_len) != NULL)
        return ns_refuse(m, NS_MSG_CLOSED, NS_EINVAL, "invalid: subscription id must not contain NUL");
    size_t nf = json_array_size(msg) - 2;
    if (nf == 0 || nf > (size_t)lim->max_filters)
        return ns_refuse(m, NS_MSG_CLOSED, NS_EINVAL, "invalid: a REQ needs 1 to %d filters",
                         lim->max_filters);
    if (admit != NULL && !admit(arg, m->sub_id, m->sub_id_len, m->reason, sizeof m->reason)) {
        m->kind = NS_MSG_CLOSED;
        return NS_ERANGE;
    }
    if ((m->filters = calloc(nf, sizeof *m->filters)) == NULL)
        return ns_refuse(m, NS_MSG_CLOSED, NS_ENOMEM, "error: out of memory");
    ns_filter_opts opts = {(uint32_t)lim->min_prefix_length, (uint32_t)lim->max_filter_values};
    for (size_t i = 0; i < nf; i++) {
        int rc = ns_filter_from_json(json_array_get(msg, i + 2), &opts, &m->filters[i], m->reason,
                                     sizeof m->reason);
        if (rc != 0) {
            for (size_t k = 0; k < i; k++)
                ns_filter_free(m->filters[k]);
            free(m->filters);
            m->filters = NULL;
            m->nfilters = 0;
            m->kind = NS_MSG_CLOSED;
            return rc;
        }
        m->nfilters = i + 1;
    }
    m->kind = NS_MSG_REQ;
    return 0;
}

static int ns_msg_read(const char *text, size_t len, const ns_msg_limits *lim, ns_msg_admit_fn *admit,
                       void *arg, ns_msg *m)
{
    if (ns_sniff_event(text, len, &m->event, &m->event_len)) {
        m->kind = NS_MSG_EVENT;
        return 0;
    }
    json_error_t jerr;
    m->json = json_loadb(text, len, NS_JSON_DECODE_FLAGS, &jerr);
    if (m->json == NULL)
        return ns_refuse(m, NS_MSG_NOTICE, NS_EINVAL, "invalid: message is not valid JSON (byte %d: %s)",
                         jerr.position, jerr.text);
    const json_t *msg = m->json;
    const char *verb = json_string_value(json_array_get(msg, 0));
    if (!json_is_array(msg) || verb == NULL)
        return ns_refuse(m, NS_MSG_NOTICE, NS_EINVAL,
                         "invalid: a message must be a JSON array starting with its type");
    if (strcmp(verb, "EVENT") == 0) {
        json_t *ev = json_array_get(msg, 1);
        if (json_array_size(msg) == 2 && json_is_object(ev))
            m->text = json_dumps(ev, JSON_COMPACT | JSON_ENCODE_ANY);
        if (m->text == NULL)
            return ns_refuse(m, NS_MSG_NOTICE, NS_EINVAL, "invalid: EVENT must be [\"EVENT\", <event object>]");
        m->event = m->text;
        m->event_len = strlen(m->text);
        m->kind = NS_MSG_EVENT;
        return 0;
    }
    if (strcmp(verb, "REQ") == 0)
        return ns_parse_req(m, msg, lim, admit, arg);
    if (strcmp(verb, "CLOSE") == 0) {
        const json_t *jid = json_array_get(msg, 1);
        if (!json_is_string(jid))
            return ns_refuse(m, NS_MSG_NOTICE, NS_EINVAL, "invalid: CLOSE needs a subscription id string");
        m->sub_id = json_string_value(jid);
        m->sub_id_len = json_string_length(jid);
        m->kind = NS_MSG_CLOSE;
        return 0;
    }
    if (strcmp(verb, "COUNT") == 0 && json_is_string(json_array_get(msg, 1))) {
        const json_t *jid = json_array_get(msg, 1);
        m->sub_id = json_string_value(jid);
        m->sub_id_len = json_string_length(jid);
        return ns_refuse(m, NS_MSG_CLOSED, NS_EUNSUP, "unsupported: COUNT is not supported by this relay");
    }
    return ns_refuse(m, NS_MSG_NOTICE, NS_EINVAL, "invalid: unknown message type \"%.*s\"",
                     (int)ns_utf8_cut(verb, strlen(verb), 32), verb);
}

int ns_msg_parse(const char *text, size_t len, const ns_msg_limits *lim, ns_msg_admit_fn *admit,
                 void *arg, ns_msg *m)
{
    memset(m, 0, sizeof *m);
    int rc = ns_msg_read(text, len, lim, admit, arg, m);
    if (m->kind == NS_MSG_NOTICE || m->kind == NS_MSG_CLOSED)
        ns_utf8_scrub(m->reason);
    return rc;
}

void ns_msg_free(ns_msg *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nfilters; i++)
        ns_filter_free(m->filters[i]);
    free(m->filters);
    json_decref(m->json);
    free(m->text);
    memset(m, 0, sizeof *m);
}

int ns_msg_reply(const ns_msg *m, ns_buf *out)
{
    if (m->kind != NS_MSG_NOTICE && m->kind != NS_MSG_CLOSED)
        return NS_EINVAL;
    if (m->kind == NS_MSG_NOTICE) {
        ns_buf_adds(out, "[\"NOTICE\",");
    } else {
        ns_buf_adds(out, "[\"CLOSED\",");
        ns_buf_add_json_str(out, m->sub_id, m->sub_id_len);
        ns_buf_addc(out, ',');
    }
    ns_buf_add_json_str(out, m->reason, strlen(m->reason));
    ns_buf_addc(out, ']');
    return ns_buf_ok(out) ? 0 : NS_ENOMEM;
}
