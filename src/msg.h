/* msg.h - what a client's message asks for, or why it is refused.
 *
 * A client speaks NIP-01 in JSON text frames: ["EVENT", <event>],
 * ["REQ", <sub id>, <filter>...], ["CLOSE", <sub id>], and ["COUNT", ...],
 * which this relay refuses. This module turns one frame's text into either
 * a typed message for the WebSocket thread to act on, or the exact reply
 * that refuses it (a NOTICE, or a CLOSED for a subscription), with a
 * reason carrying the NIP-01 prefix ("invalid: ", "unsupported: ",
 * "blocked: ", "error: ").
 *
 * It is pure: no connection, no global state, no libwebsockets. The limits
 * it enforces arrive as plain numbers, and the one check that needs the
 * connection's state (may one more subscription open?) is asked through a
 * callback, at the moment the relay has always asked it: after the
 * subscription id and the number of filters are known to be right, before
 * any filter is parsed, so a refused REQ costs no filter parsing.
 *
 * An EVENT is recognised by its first bytes when it is written the usual
 * way (["EVENT", {...}]): its object text is handed on without a parse,
 * since a verify worker parses it anyway. Anything else goes through
 * jansson.
 */
#ifndef NS_MSG_H
#define NS_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "filter.h"

typedef enum ns_msg_kind {
    NS_MSG_EVENT = 1, /* an event to verify and store: event, event_len */
    NS_MSG_REQ,       /* a subscription to open: sub_id, filters */
    NS_MSG_CLOSE,     /* a subscription to close: sub_id */
    NS_MSG_NOTICE,    /* refused: answer ["NOTICE", reason] */
    NS_MSG_CLOSED,    /* refused: answer ["CLOSED", sub_id, reason] */
} ns_msg_kind;

/* limits.client.subscription, as ns_config holds them. */
typedef struct ns_msg_limits {
    int max_subid_length;  /* bytes of a subscription id */
    int max_filters;       /* filters in one REQ */
    int max_filter_values; /* values in one list of a filter; 0: no limit */
    int min_prefix_length; /* shortest hex prefix of an id or author */
} ns_msg_limits;

/* Whether the subscription sub_id (sub_id_len bytes, not NUL terminated)
 * may open. Returns true to go on; false to refuse it, with the reason
 * (e.g. "blocked: ...") written to reason, which is sent in CLOSED. */
typedef bool ns_msg_admit_fn(void *arg, const char *sub_id, size_t sub_id_len, char *reason,
                             size_t reason_len);

typedef struct ns_msg {
    ns_msg_kind kind;
    /* NS_MSG_EVENT: the event object's text, not NUL terminated; it points
     * into the message text or into memory the ns_msg owns. */
    const char *event;
    size_t event_len;
    /* NS_MSG_REQ, NS_MSG_CLOSE, NS_MSG_CLOSED: the subscription id, as
     * decoded (valid UTF-8; it may hold NUL bytes), not NUL terminated;
     * owned by the ns_msg. A CLOSED for an id that is too long echoes at
     * most its first 1024 bytes, cut at a character boundary. */
    const char *sub_id;
    size_t sub_id_len;
    /* NS_MSG_REQ: the parsed filters, 1..max_filters of them, owned by the
     * ns_msg; a caller that keeps them sets filters to NULL and nfilters to
     * 0 before ns_msg_free, and frees each with ns_filter_free. */
    ns_filter **filters;
    size_t nfilters;
    /* NS_MSG_NOTICE, NS_MSG_CLOSED: the reason, with its NIP-01 prefix;
     * always valid UTF-8 (a byte that is not, such as half a character
     * quoted from a malformed message, is written as '?'). */
    char reason[256];
    /* private */
    json_t *json;
    char *text;
} ns_msg;

/* Reads one client message.
 *
 * Returns: 0 when m holds a message to act on (EVENT, REQ or CLOSE);
 *          otherwise m holds a refusal (NOTICE or CLOSED) and the code says
 *          why: NS_EINVAL (malformed), NS_EUNSUP (COUNT, an unsupported
 *          filter field), NS_ERANGE (refused by admit), NS_ENOMEM.
 * Args:    admit  asked once per well-formed REQ (see ns_msg_admit_fn);
 *                 NULL admits every subscription. arg is passed to it.
 * In:      text, len  the message as received (any bytes; not retained,
 *                     except that m->event may point into it);
 *          lim    the limits.
 * Out:     m      always initialised, whatever the return; release with
 *                 ns_msg_free.
 */
int ns_msg_parse(const char *text, size_t len, const ns_msg_limits *lim, ns_msg_admit_fn *admit,
                 void *arg, ns_msg *m);

/* Releases what m owns (filters not taken, the decoded JSON); m is then
 * empty. NULL is ignored. */
void ns_msg_free(ns_msg *m);

/* Appends the reply that refuses m: ["NOTICE","<reason>"] or
 * ["CLOSED","<sub id>","<reason>"], in the relay's JSON escaping.
 * Returns: 0; NS_EINVAL when m is not a NOTICE or CLOSED; NS_ENOMEM.
 * In:      m.  Out: out  the reply appended (the caller owns out). */
int ns_msg_reply(const ns_msg *m, ns_buf *out);

#endif
