/* ws.c - the WebSocket and HTTP front end (see ws.h).
 *
 * Everything here runs on the libwebsockets service thread. A connection
 * (ns_conn) holds its reassembly buffer, its queue of outgoing messages and
 * its subscriptions. Outgoing EVENT messages share one serialization of the
 * event (ns_payload, reference counted) between all recipients; only the
 * `["EVENT","<sub id>",` head differs. Each connection's unsent output is
 * bounded (max_outbound): a reader that falls that far behind is sent a
 * NOTICE and disconnected, so one slow client cannot grow the relay's
 * memory. The other bounds on what one client can make the relay hold are
 * below: connections per address (which also caps slow handshakes, cut by
 * network.handshakeTimeoutSeconds), permessage-deflate state, and messages
 * over network.maxPayloadSize, compressed or not.
 */
#include "ws.h"
#include "err.h"
#include "filter.h"
#include "log.h"
#include "msg.h"
#include "query.h"
#include "storage.h"
#include "subs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NS_VERSION "0.1.0"

/* ---- outgoing messages ------------------------------------------------ */

typedef struct ns_payload {
    size_t refs;
    size_t len;
    uint8_t id[32];
    char data[];
} ns_payload;

static ns_payload *ns_payload_new(const char *data, size_t len)
{
    ns_payload *p = malloc(sizeof *p + len);
    if (p == NULL)
        return NULL;
    p->refs = 1;
    p->len = len;
    memcpy(p->data, data, len);
    return p;
}

static void ns_payload_unref(ns_payload *p)
{
    if (p != NULL && --p->refs == 0)
        free(p);
}

typedef struct ns_out {
    struct ns_out *next;
    ns_payload *body;  /* shared part, or NULL */
    bool close_bracket;
    size_t head_len;
    char head[];
} ns_out;

/* A live event held for a subscription until its stored events are sent. */
typedef struct ns_pending {
    struct ns_pending *next;
    ns_payload *body;
} ns_pending;

typedef struct ns_conn {
    uint64_t id;
    struct lws *wsi;
    struct ns_conn *map_next;
    char ip[64];
    ns_buf rx;
    bool rx_too_big;
    size_t rx_seen;         /* bytes of the message being received, kept or not */
    bool cut;               /* a close frame was sent: drop the connection */
    uint8_t *inflate_in;    /* compressed input zlib has not used up: see ns_pmd_rx */
    ns_out *out_head, *out_tail;
    size_t out_bytes;
    ns_sub *subs;
    int nsubs;
    int inflight;           /* EVENTs not yet answered */
    int pumping;            /* subscriptions with stored events left to send */
    int reqs;               /* REQ queries not yet answered */
    bool paused;            /* reading stopped until the backlog shrinks */
    bool closing;           /* close once the queue is written */
    enum lws_close_status close_code;
    const char *close_reason;
} ns_conn;

/* Per subscription, outside ns_sub (which subs.c owns): live events held
 * before EOSE. Kept in a side table keyed by the sub pointer would cost a
 * lookup; instead ns_sub.conn points to this wrapper's conn and the
 * pending list lives in ns_sub_ext, allocated together with the ns_sub. */
typedef struct ns_sub_ext {
    ns_sub sub;
    ns_pending *pending;
    size_t pending_bytes;
    ns_req_job *rows;       /* stored events still being sent, or NULL */
    const char *rows_next;
    uint32_t rows_left;
} ns_sub_ext;

/* Backpressure: a client that sends EVENTs or REQs faster than they are
 * answered stops being read (lws_rx_flow_control) until its backlog falls
 * to half, so the work queues stay bounded whatever clients do. */
#define NS_MAX_INFLIGHT_EVENTS 256
#define NS_MAX_PENDING_REQS 16

static void ns_flow(ns_conn *c)
{
    bool over = c->inflight >= NS_MAX_INFLIGHT_EVENTS || c->reqs >= NS_MAX_PENDING_REQS;
    bool under = c->inflight <= NS_MAX_INFLIGHT_EVENTS / 2 && c->reqs <= NS_MAX_PENDING_REQS / 2;
    if (!c->paused && over) {
        c->paused = true;
        lws_rx_flow_control(c->wsi, 0);
    } else if (c->paused && under) {
        c->paused = false;
        lws_rx_flow_control(c->wsi, 1);
    }
}

/* ---- the service thread's state ---------------------------------------- */

#define NS_CONN_BUCKETS 4096

static struct {
    ns_relay *relay;
    ns_subindex *index;
    ns_conn *buckets[NS_CONN_BUCKETS];
    uint64_t next_id;
    size_t nconns;
    long inflight;          /* EVENTs not yet answered, all connections */
    ns_buf wbuf;            /* LWS_PRE + one message, reused */
    uint64_t next_seq;
    size_t rows_held;       /* bytes of REQ results not yet sent, all connections */
    int nlinger;            /* sockets read away after a cut: see ns_linger */
} S;

/* The most REQ-result bytes the relay holds for clients that have not read
 * them yet, all connections together. Each connection's share is already
 * bounded (16 REQs in flight, the 16 MiB output cut), but many connections
 * from many addresses that send REQs and never read would add up; past
 * this, a new result is refused with CLOSED instead of held. */
#define NS_ROWS_HELD_MAX ((size_t)512 << 20)

static ns_conn *ns_conn_find(uint64_t id)
{
    for (ns_conn *c = S.buckets[id % NS_CONN_BUCKETS]; c; c = c->map_next)
        if (c->id == id)
            return c;
    return NULL;
}

static void ns_conn_unmap(ns_conn *c)
{
    ns_conn **p = &S.buckets[c->id % NS_CONN_BUCKETS];
    while (*p && *p != c)
        p = &(*p)->map_next;
    if (*p)
        *p = c->map_next;
}

static void ns_out_free_all(ns_conn *c)
{
    ns_out *o = c->out_head;
    while (o) {
        ns_out *next = o->next;
        ns_payload_unref(o->body);
        free(o);
        o = next;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

static void ns_send_notice(ns_conn *c, const char *msg);
static void ns_cut_slow_reader(ns_conn *c);

/* Queues a message: head, then the shared body and a closing bracket. */
static void ns_enqueue(ns_conn *c, const char *head, size_t head_len, ns_payload *body, bool bracket)
{
    if (c->closing)
        return;
    ns_out *o = malloc(sizeof *o + head_len);
    if (o == NULL)
        return;
    o->next = NULL;
    o->body = body;
    if (body)
        body->refs++;
    o->close_bracket = bracket;
    o->head_len = head_len;
    memcpy(o->head, head, head_len);
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += head_len + (body ? body->len : 0) + 1;
    if (c->out_bytes > ns_cfg(S.relay)->max_outbound)
        ns_cut_slow_reader(c);
    lws_callback_on_writable(c->wsi);
}

/* A slow reader: drop what it has not read, tell it why, close. */
static void ns_cut_slow_reader(ns_conn *c)
{
    ns_out_free_all(c);
    ns_log_info("closing connection %llu from %s: more than %zu bytes unread",
                (unsigned long long)c->id, c->ip, ns_cfg(S.relay)->max_outbound);
    ns_send_notice(c, "error: closing the connection: too much unread output (slow reader)");
    c->closing = true;
    c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
    c->close_reason = "slow reader";
    lws_callback_on_writable(c->wsi);
}

static void ns_enqueue_buf(ns_conn *c, ns_buf *b)
{
    if (ns_buf_ok(b))
        ns_enqueue(c, b->data, b->len, NULL, false);
    ns_buf_free(b);
}

static void ns_send_notice(ns_conn *c, const char *msg)
{
    ns_buf b = NS_BUF_INIT;
    ns_buf_adds(&b, "[\"NOTICE\",");
    ns_buf_add_json_str(&b, msg, strlen(msg));
    ns_buf_addc(&b, ']');
    ns_enqueue_buf(c, &b);
}

static void ns_send_ok(ns_conn *c, const uint8_t id[32], bool ok, const char *msg)
{
    ns_buf b = NS_BUF_INIT;
    ns_buf_adds(&b, "[\"OK\",\"");
    ns_buf_add_hex(&b, id, 32);
    ns_buf_adds(&b, ok ? "\",true," : "\",false,");
    ns_buf_add_json_str(&b, msg, strlen(msg));
    ns_buf_addc(&b, ']');
    ns_enqueue_buf(c, &b);
}

static void ns_send_sub_msg(ns_conn *c, const char *verb, const char *sub, size_t sub_len, const char *msg)
{
    ns_buf b = NS_BUF_INIT;
    ns_buf_addf(&b, "[\"%s\",", verb);
    ns_buf_add_json_str(&b, sub, sub_len);
    if (msg != NULL) {
        ns_buf_addc(&b, ',');
        ns_buf_add_json_str(&b, msg, strlen(msg));
    }
    ns_buf_addc(&b, ']');
    ns_enqueue_buf(c, &b);
}

static void ns_send_event(ns_conn *c, const ns_sub *s, ns_payload *body)
{
    ns_buf b = NS_BUF_INIT;
    ns_buf_adds(&b, "[\"EVENT\",");
    ns_buf_add_json_str(&b, s->id, s->id_len);
    ns_buf_addc(&b, ',');
    if (ns_buf_ok(&b))
        ns_enqueue(c, b.data, b.len, body, true);
    ns_buf_free(&b);
}

/* ---- subscriptions ----------------------------------------------------- */

static void ns_pending_free(ns_sub_ext *x)
{
    ns_pending *p = x->pending;
    while (p) {
        ns_pending *next = p->next;
        ns_payload_unref(p->body);
        free(p);
        p = next;
    }
    x->pending = NULL;
    x->pending_bytes = 0;
}

/* Frees a subscription's REQ result (sent or not) and its share of
 * S.rows_held. */
static void ns_rows_release(ns_conn *c, ns_sub_ext *x)
{
    if (x->rows == NULL)
        return;
    S.rows_held -= x->rows->rows.cap;
    ns_req_job_free(x->rows);
    x->rows = NULL;
    c->pumping--;
}

static void ns_sub_drop(ns_conn *c, ns_sub *s)
{
    ns_sub **p = &c->subs;
    while (*p && *p != s)
        p = &(*p)->next;
    if (*p == NULL)
        return;
    *p = s->next;
    c->nsubs--;
    ns_subindex_remove(S.index, s);
    ns_sub_ext *x = (ns_sub_ext *)s;
    ns_pending_free(x);
    ns_rows_release(c, x);
    ns_sub_free(s);
}

static ns_sub *ns_sub_find(ns_conn *c, const char *id, size_t len)
{
    for (ns_sub *s = c->subs; s; s = s->next)
        if (s->id_len == len && memcmp(s->id, id, len) == 0)
            return s;
    return NULL;
}

/* Fan-out callback: one matching subscription. */
static void ns_deliver(ns_sub *s, void *arg)
{
    ns_payload *body = arg;
    ns_conn *c = s->conn;
    if (s->eose) {
        ns_send_event(c, s, body);
        return;
    }
    ns_sub_ext *x = (ns_sub_ext *)s;
    ns_pending *p = malloc(sizeof *p);
    if (p == NULL)
        return;
    p->body = body;
    body->refs++;
    p->next = x->pending;
    x->pending = p;
    x->pending_bytes += body->len;
    if (x->pending_bytes > ns_cfg(S.relay)->max_outbound) {
        ns_pending_free(x);
        ns_cut_slow_reader(c);
    }
}

static void ns_fanout(const ns_event *ev)
{
    ns_buf b = NS_BUF_INIT;
    ns_event_to_json(ev, &b);
    if (!ns_buf_ok(&b)) {
        ns_buf_free(&b);
        return;
    }
    ns_payload *body = ns_payload_new(b.data, b.len);
    ns_buf_free(&b);
    if (body == NULL)
        return;
    memcpy(body->id, ev->id, 32);
    ns_subindex_match(S.index, ev, ns_deliver, body);
    ns_payload_unref(body);
}

/* ---- incoming messages ------------------------------------------------- */

static void ns_submit_event(ns_conn *c, const char *text, size_t len)
{
    ns_event_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->text = malloc(len + 1)) == NULL) {
        free(j);
        ns_send_notice(c, "error: out of memory");
        return;
    }
    memcpy(j->text, text, len);
    j->text[len] = '\0';
    j->len = len;
    j->type = NS_JOB_EVENT;
    j->conn_id = c->id;
    snprintf(j->remote_ip, sizeof j->remote_ip, "%s", c->ip);
    if (!ns_queue_push(&S.relay->verify_q, &j->node)) {
        ns_event_job_free(j);
        ns_send_notice(c, "error: the relay is shutting down");
        return;
    }
    c->inflight++;
    S.inflight++;
    ns_flow(c);
}

/* The one REQ check that needs the connection (ns_msg_admit_fn): a new
 * subscription id must fit under limits.client.subscription.maxSubscriptions;
 * an id already open is replaced, so it always may. */
typedef struct ns_req_ctx {
    ns_conn *conn;
    const ns_config *cfg;
} ns_req_ctx;

static bool ns_req_admit(void *arg, const char *sid, size_t sid_len, char *why, size_t why_len)
{
    ns_req_ctx *rc = arg;
    if (ns_sub_find(rc->conn, sid, sid_len) != NULL || rc->conn->nsubs < rc->cfg->max_subscriptions)
        return true;
    snprintf(why, why_len, "blocked: too many subscriptions: at most %d per connection",
             rc->cfg->max_subscriptions);
    return false;
}

/* Opens the subscription of a parsed REQ (msg.c checked it and admitted it
 * with ns_req_admit): takes its filters, registers it for live events and
 * hands its SQL to a reader. */
static void ns_handle_req(ns_conn *c, const ns_config *cfg, ns_msg *m)
{
    const char *sid = m->sub_id;
    size_t sid_len = m->sub_id_len;
    ns_sub *old = ns_sub_find(c, sid, sid_len);
    ns_sub_ext *x = calloc(1, sizeof *x);
    ns_sub *s = &x->sub;
    if (x == NULL || (s->id = malloc(sid_len + 1)) == NULL) {
        if (x)
            ns_sub_free(s);
        ns_send_sub_msg(c, "CLOSED", sid, sid_len, "error: out of memory");
        return;
    }
    memcpy(s->id, sid, sid_len);
    s->id[sid_len] = '\0';
    s->id_len = sid_len;
    s->filters = m->filters; /* the subscription takes the filters */
    s->nfilters = m->nfilters;
    m->filters = NULL;
    m->nfilters = 0;
    if (old != NULL)
        ns_sub_drop(c, old); /* a REQ reusing an id replaces it */
    ns_query q;
    unsigned qflags = ns_storage_has_nodes(S.relay->storage) ? NS_QUERY_NODES : 0;
    int used = ns_query_build(s->filters, s->nfilters, cfg->default_limit, cfg->max_limit, ns_now(), qflags, &q);
    if (used < 0 || ns_subindex_add(S.index, s) != 0) {
        ns_query_free(&q);
        ns_subindex_remove(S.index, s);
        ns_sub_free(s);
        ns_send_sub_msg(c, "CLOSED", sid, sid_len, "error: out of memory");
        return;
    }
    s->conn = c;
    s->seq = ++S.next_seq;
    s->next = c->subs;
    c->subs = s;
    c->nsubs++;
    if (used == 0) {
        ns_query_free(&q);
        s->eose = true;
        ns_send_sub_msg(c, "EOSE", sid, sid_len, NULL);
        return;
    }
    ns_req_job *j = calloc(1, sizeof *j);
    if (j != NULL) {
        j->type = NS_JOB_REQ;
        j->conn_id = c->id;
        j->sub_seq = s->seq;
        j->sub_id = strdup(s->id);
        j->sql = q.sql.data;
        q.sql.data = NULL;
        j->nparams = q.nparams;
        j->params = q.params;
        q.params = NULL;
        q.nparams = 0;
    }
    ns_query_free(&q);
    if (j == NULL || j->sub_id == NULL || !ns_queue_push(&S.relay->read_q, &j->node)) {
        ns_req_job_free(j);
        ns_send_sub_msg(c, "CLOSED", sid, sid_len, "error: the relay is shutting down");
        ns_sub_drop(c, s);
        return;
    }
    c->reqs++;
    ns_flow(c);
}

static void ns_handle_message(ns_conn *c, const char *text, size_t len)
{
    const ns_config *cfg = ns_cfg(S.relay);
    ns_msg_limits lim = {cfg->max_subid_length, cfg->max_filters, cfg->max_filter_values,
                         cfg->min_prefix_length};
    ns_req_ctx ctx = {c, cfg};
    ns_msg m;
    ns_msg_parse(text, len, &lim, ns_req_admit, &ctx, &m);
    switch (m.kind) {
    case NS_MSG_EVENT:
        ns_submit_event(c, m.event, m.event_len);
        break;
    case NS_MSG_REQ:
        ns_handle_req(c, cfg, &m);
        break;
    case NS_MSG_CLOSE: {
        ns_sub *s = ns_sub_find(c, m.sub_id, m.sub_id_len);
        if (s)
            ns_sub_drop(c, s);
        break;
    }
    case NS_MSG_NOTICE:
    case NS_MSG_CLOSED: {
        ns_buf b = NS_BUF_INIT;
        ns_msg_reply(&m, &b);
        ns_enqueue_buf(c, &b);
        break;
    }
    }
    ns_msg_free(&m);
}

/* ---- results from the workers ------------------------------------------ */

static void ns_event_done(ns_event_job *j)
{
    ns_conn *c = ns_conn_find(j->conn_id);
    S.inflight--;
    if (c) {
        c->inflight--;
        ns_flow(c);
    }
    bool stored = j->result == NS_PUT_STORED || j->result == NS_PUT_EPHEMERAL;
    if (stored)
        ns_fanout(j->ev);
    if (c != NULL) {
        bool ok = stored || j->result == NS_PUT_DUPLICATE;
        if (j->have_id)
            ns_send_ok(c, j->id, ok, j->msg);
        else
            ns_send_notice(c, j->msg[0] ? j->msg : "invalid: malformed event");
    }
    ns_event_job_free(j);
}

/* Sends a subscription's stored events while the connection's queue has
 * room (half of max_outbound), so a big answer is paced by the reader
 * instead of being queued whole; then EOSE and the live events held
 * meanwhile. Called again from the write path as the queue drains. */
/* A REQ whose filters reach into the range of a storage node that is
 * swapped out (storage.h) got only what the other partitions hold: say so
 * before its EOSE, so the client knows the answer may be partial. */
static void ns_notice_gaps(ns_conn *c, const ns_sub *s)
{
    int64_t since = INT64_MAX, until = 0;
    for (size_t i = 0; i < s->nfilters; i++) {
        const ns_filter *f = s->filters[i];
        since = f->since < 0 ? -1 : (since < 0 ? since : (f->since < since ? f->since : since));
        until = (until < 0 || f->until < 0) ? -1 : (f->until > until ? f->until : until);
    }
    char gaps[512], msg[768];
    if (ns_storage_describe_gaps(S.relay->storage, since, until, gaps, sizeof gaps) == 0)
        return;
    snprintf(msg, sizeof msg,
             "warning: storage unreachable: %s; stored events in that range are missing from "
             "this answer until it returns", gaps);
    ns_send_notice(c, msg);
}

static void ns_pump(ns_conn *c, ns_sub *s)
{
    ns_sub_ext *x = (ns_sub_ext *)s;
    size_t room = ns_cfg(S.relay)->max_outbound / 2;
    while (x->rows_left > 0 && c->out_bytes < room && !c->closing) {
        const char *p = x->rows_next;
        size_t len = strlen(p);
        ns_payload *body = ns_payload_new(p, len);
        if (body) {
            ns_send_event(c, s, body);
            ns_payload_unref(body);
        }
        /* A live event that is also among the stored ones is not sent twice:
         * both start with {"id":"<64 hex>". */
        for (ns_pending *q = x->pending; q; q = q->next)
            if (q->body && len > 72 && memcmp(q->body->data, p, 72) == 0) {
                ns_payload_unref(q->body);
                q->body = NULL;
            }
        x->rows_next = p + len + 1;
        x->rows_left--;
    }
    if (x->rows_left > 0 || c->closing)
        return;
    /* Held live events, oldest first (the list is newest first). */
    ns_pending *rev = NULL, *q = x->pending;
    while (q) {
        ns_pending *next = q->next;
        q->next = rev;
        rev = q;
        q = next;
    }
    x->pending = rev;
    ns_notice_gaps(c, s);
    ns_send_sub_msg(c, "EOSE", s->id, s->id_len, NULL);
    for (q = x->pending; q; q = q->next)
        if (q->body)
            ns_send_event(c, s, q->body);
    ns_pending_free(x);
    s->eose = true;
    ns_rows_release(c, x);
}

static void ns_req_done(ns_req_job *j)
{
    ns_conn *c = ns_conn_find(j->conn_id);
    if (c) {
        c->reqs--;
        ns_flow(c);
    }
    ns_sub *s = c ? ns_sub_find(c, j->sub_id, strlen(j->sub_id)) : NULL;
    if (s == NULL || s->seq != j->sub_seq || s->eose) {
        ns_req_job_free(j); /* closed or replaced meanwhile */
        return;
    }
    if (j->failed) {
        ns_send_sub_msg(c, "CLOSED", s->id, s->id_len, j->msg);
        ns_sub_drop(c, s);
        ns_req_job_free(j);
        return;
    }
    if (S.rows_held + j->rows.cap > NS_ROWS_HELD_MAX) {
        ns_send_sub_msg(c, "CLOSED", s->id, s->id_len,
                        "rate-limited: the relay holds too many unread results, please retry");
        ns_sub_drop(c, s);
        ns_req_job_free(j);
        return;
    }
    ns_sub_ext *x = (ns_sub_ext *)s;
    x->rows = j;
    x->rows_next = j->rows.data;
    x->rows_left = j->nrows;
    S.rows_held += j->rows.cap;
    c->pumping++;
    ns_pump(c, s);
}

static void ns_drain_done(void)
{
    ns_qnode *n = ns_queue_take_all(&S.relay->done_q);
    while (n) {
        ns_qnode *next = n->next;
        ns_job_type t = ((ns_event_job *)n)->type;
        if (t == NS_JOB_EVENT)
            ns_event_done((ns_event_job *)n);
        else
            ns_req_done((ns_req_job *)n);
        n = next;
    }
}

/* ---- HTTP -------------------------------------------------------------- */

static void ns_nip11(ns_buf *b)
{
    const ns_config *c = ns_cfg(S.relay);
    ns_nip11_limitation l;
    ns_settings_limitation(&c->settings, &l);
    json_t *lim = json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:b, s:b}",
                            "max_message_length", (json_int_t)l.max_message_length,
                            "max_subscriptions", c->max_subscriptions,
                            "max_filters", c->max_filters,
                            "max_limit", c->max_limit,
                            "max_subid_length", c->max_subid_length,
                            "min_prefix", c->min_prefix_length,
                            "min_pow_difficulty", (int)l.min_pow_difficulty,
                            "auth_required", 0, "payment_required", 0,
                            "restricted_writes", l.restricted_writes);
    if (lim && l.max_content_length > 0)
        json_object_set_new(lim, "max_content_length", json_integer((json_int_t)l.max_content_length));
    if (lim && l.created_at_lower_limit > 0)
        json_object_set_new(lim, "created_at_lower_limit", json_integer((json_int_t)l.created_at_lower_limit));
    if (lim && l.created_at_upper_limit > 0)
        json_object_set_new(lim, "created_at_upper_limit", json_integer((json_int_t)l.created_at_upper_limit));
    json_t *info = json_pack("{s:s, s:s, s:s, s:s, s:[i,i,i,i,i,i,i,i], s:s, s:s, s:o}",
                             "name", c->relay_name, "description", c->relay_description,
                             "pubkey", c->relay_pubkey, "contact", c->relay_contact,
                             "supported_nips", 1, 2, 4, 9, 11, 13, 33, 40,
                             "software", "https://github.com/Cameri/nostream (C implementation)",
                             "version", NS_VERSION, "limitation", lim);
    char *s = info ? json_dumps(info, JSON_COMPACT) : NULL;
    if (s)
        ns_buf_adds(b, s);
    free(s);
    json_decref(info);
}

static int ns_http_reply(struct lws *wsi, unsigned status, const char *type, const char *body,
                         size_t len, bool cors)
{
    uint8_t hdr[LWS_PRE + 1024];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, status, type, len, &p, end))
        return -1;
    if (cors && (lws_add_http_header_by_name(wsi, (const uint8_t *)"access-control-allow-origin:",
                                             (const uint8_t *)"*", 1, &p, end) ||
                 lws_add_http_header_by_name(wsi, (const uint8_t *)"access-control-allow-headers:",
                                             (const uint8_t *)"*", 1, &p, end) ||
                 lws_add_http_header_by_name(wsi, (const uint8_t *)"access-control-allow-methods:",
                                             (const uint8_t *)"GET, OPTIONS", 12, &p, end)))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    ns_buf_reset(&S.wbuf);
    ns_buf_reserve(&S.wbuf, LWS_PRE + len);
    if (!ns_buf_ok(&S.wbuf))
        return -1;
    memcpy(S.wbuf.data + LWS_PRE, body, len);
    if (len > 0 && lws_write(wsi, (uint8_t *)S.wbuf.data + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) < (int)len)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int ns_http(struct lws *wsi, const char *uri)
{
    char accept[256] = "";
    lws_hdr_copy(wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT);
    if (strcmp(uri, "/healthz") == 0) {
        bool ok = atomic_load(&S.relay->db_ok);
        const char *t = ok ? "ok\n" : "database unavailable\n";
        return ns_http_reply(wsi, ok ? 200 : 503, "text/plain", t, strlen(t), false);
    }
    if (strcmp(uri, "/") != 0) {
        const char *t = "not found\n";
        return ns_http_reply(wsi, 404, "text/plain", t, strlen(t), false);
    }
    if (strstr(accept, "application/nostr+json") != NULL) {
        ns_buf b = NS_BUF_INIT;
        ns_nip11(&b);
        int rc = ns_http_reply(wsi, 200, "application/nostr+json", b.data ? b.data : "{}",
                               b.data ? b.len : 2, true);
        ns_buf_free(&b);
        return rc;
    }
    const char *page = "<!doctype html><html><head><title>nostream-c</title></head><body>"
                       "<h1>nostream-c</h1><p>This is a Nostr relay. Connect a Nostr client to "
                       "this address with WebSocket (ws:// or wss://).</p></body></html>\n";
    return ns_http_reply(wsi, 200, "text/html; charset=utf-8", page, strlen(page), false);
}

/* ---- client addresses and rate limits ----------------------------------- */

/* The client's address: the peer's, or, when the peer is one of
 * network.trustedProxies, what network.remoteIpHeader says (anyone else's
 * header is ignored, so it cannot be used to dodge rate limits). */
static void ns_client_ip(struct lws *wsi, char *out, size_t len)
{
    const ns_settings *s = &ns_cfg(S.relay)->settings;
    char peer[64] = "", hdr[512] = "", name[80];
    lws_get_peer_simple(wsi, peer, sizeof peer);
    const char *h = s->network.remote_ip_header;
    if (h != NULL && *h != '\0' && ns_settings_ip_in_list(peer, &s->network.trusted_proxies)) {
        /* Headers libwebsockets knows are not "custom": ask for those by token. */
        int rc;
        if (strcmp(h, "x-forwarded-for") == 0)
            rc = lws_hdr_copy(wsi, hdr, sizeof hdr, WSI_TOKEN_X_FORWARDED_FOR);
        else if (strcmp(h, "x-real-ip") == 0)
            rc = lws_hdr_copy(wsi, hdr, sizeof hdr, WSI_TOKEN_HTTP_X_REAL_IP);
        else {
            snprintf(name, sizeof name, "%s:", h);
            rc = lws_hdr_custom_copy(wsi, hdr, sizeof hdr, name, (int)strlen(name));
        }
        if (rc < 0)
            hdr[0] = '\0';
    }
    if (ns_settings_client_ip(s, peer, hdr[0] ? hdr : NULL, out, len) < 0)
        snprintf(out, len, "%s", peer);
}

static bool ns_connection_allowed(ns_conn *c)
{
    const ns_settings *s = &ns_cfg(S.relay)->settings;
    if (ns_settings_ip_in_list(c->ip, &s->limits.connection.ip_blacklist)) {
        ns_send_notice(c, "blocked: connections from this address are not allowed");
        return false;
    }
    if (ns_settings_ip_in_list(c->ip, &s->limits.connection.ip_whitelist))
        return true;
    size_t rule;
    if (ns_ratelimit_hit(S.relay->limits, 'c', c->ip, strlen(c->ip), &s->limits.connection.rate_limits,
                         -1, ns_now_ms(), &rule))
        return true;
    char why[160];
    snprintf(why, sizeof why, "rate-limited: too many connections: at most %llu per %llu ms",
             (unsigned long long)s->limits.connection.rate_limits.v[rule].rate,
             (unsigned long long)s->limits.connection.rate_limits.v[rule].period_ms);
    ns_send_notice(c, why);
    return false;
}

/* Counts one message of the client's address; answers and returns false
 * when it is over limits.message.rateLimits (the message is dropped). */
static bool ns_message_allowed(ns_conn *c)
{
    const ns_settings *s = &ns_cfg(S.relay)->settings;
    if (ns_settings_ip_in_list(c->ip, &s->limits.message.ip_whitelist))
        return true;
    size_t rule;
    if (ns_ratelimit_hit(S.relay->limits, 'm', c->ip, strlen(c->ip), &s->limits.message.rate_limits, -1,
                         ns_now_ms(), &rule))
        return true;
    char why[160];
    snprintf(why, sizeof why, "rate-limited: slow down: at most %llu messages per %llu ms",
             (unsigned long long)s->limits.message.rate_limits.v[rule].rate,
             (unsigned long long)s->limits.message.rate_limits.v[rule].period_ms);
    ns_send_notice(c, why);
    return false;
}

/* ---- open connections per client address --------------------------------
 *
 * limits.connection.maxConnectionsPerIp bounds the connections one address
 * holds open at once, counted from the TCP accept (so handshakes that never
 * finish count too) until libwebsockets frees the connection; one over is
 * closed at accept, before it costs a handshake. A peer in
 * network.trustedProxies is not counted at accept: its connections are
 * counted by the client address it reports, when the handshake brings the
 * header, and one over gets a NOTICE and a 1008 close. An IPv6 address
 * counts by its /64 (one host usually holds a whole /64, so counting single
 * addresses would bound nothing); addresses in limits.connection.ipWhitelist
 * are not counted. The count rides on the connection as libwebsockets'
 * opaque user pointer and is released at LWS_CALLBACK_WSI_DESTROY. */

typedef struct ns_addr_count {
    struct ns_addr_count *next;
    uint8_t key[16]; /* IPv4-mapped, or an IPv6 /64 with the host half zero */
    uint32_t n;
} ns_addr_count;

#define NS_ADDR_BUCKETS 4096

static struct {
    ns_addr_count *buckets[NS_ADDR_BUCKETS];
    uint64_t k0, k1;   /* random hash key: clients cannot aim at one bucket */
    int64_t logged_ms; /* last refusal logged (one line per second at most) */
} A;

/* Picks the hash key (at start; the table is empty). */
static void ns_addr_init(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        k[0] = (uint64_t)ns_now_ms() * 0x9e3779b97f4a7c15ull;
        k[1] = (uint64_t)(uintptr_t)&A ^ (uint64_t)getpid();
    }
    A.k0 = k[0];
    A.k1 = k[1];
}

/* The counting key of an address in text form; false when it is not one. */
static bool ns_addr_key(const char *ip, uint8_t key[16])
{
    struct in_addr a4;
    struct in6_addr a6;
    memset(key, 0, 16);
    if (inet_pton(AF_INET, ip, &a4) == 1) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a4, 4);
        return true;
    }
    if (inet_pton(AF_INET6, ip, &a6) != 1)
        return false;
    memcpy(key, &a6, 16);
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(key, mapped, 12) != 0)
        memset(key + 8, 0, 8);
    return true;
}

/* A socket address as text (IPv4-mapped IPv6 as plain IPv4, the form the
 * settings' IP lists and rate limits use); "" when it is neither family. */
static void ns_addr_text(const struct sockaddr_storage *sa, char *out, size_t len)
{
    out[0] = '\0';
    if (sa->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    } else if (sa->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)len);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)len);
    }
}

/* The bucket of key: a keyed mix of its two halves, so that which
 * addresses share a bucket is unknown outside this process. */
static size_t ns_addr_bucket(const uint8_t key[16])
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    uint64_t h = (a ^ A.k0) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    h = (h ^ b ^ A.k1) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)(h % NS_ADDR_BUCKETS);
}

/* The entry of key; with create, made (count 0) when missing. NULL when
 * missing (or out of memory). */
static ns_addr_count *ns_addr_find(const uint8_t key[16], bool create)
{
    ns_addr_count **head = &A.buckets[ns_addr_bucket(key)];
    for (ns_addr_count *e = *head; e; e = e->next)
        if (memcmp(e->key, key, 16) == 0)
            return e;
    if (!create)
        return NULL;
    ns_addr_count *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    memcpy(e->key, key, 16);
    e->next = *head;
    *head = e;
    return e;
}

/* Counts one connection of e's address less; frees e at zero. */
static void ns_addr_release(ns_addr_count *e)
{
    if (--e->n > 0)
        return;
    ns_addr_count **p = &A.buckets[ns_addr_bucket(e->key)];
    while (*p && *p != e)
        p = &(*p)->next;
    if (*p)
        *p = e->next;
    free(e);
}

/* True when ip is over limits.connection.maxConnectionsPerIp already (a new
 * connection from it must be refused); logs the first refusal of a second. */
static bool ns_addr_full(const ns_settings *s, const char *ip, const uint8_t key[16])
{
    uint32_t max = s->limits.connection.max_per_ip;
    const ns_addr_count *e = max > 0 ? ns_addr_find(key, false) : NULL;
    if (e == NULL || e->n < max)
        return false;
    int64_t now = ns_now_ms();
    if (now - A.logged_ms >= 1000) {
        A.logged_ms = now;
        ns_log_info("refusing connections from %s: %u open (limits.connection.maxConnectionsPerIp)", ip,
                    e->n);
    }
    return true;
}

/* Counts wsi's connection under key (released when the wsi is freed). */
static void ns_addr_hold(struct lws *wsi, const uint8_t key[16])
{
    ns_addr_count *e = ns_addr_find(key, true);
    if (e == NULL)
        return; /* out of memory: not counted rather than refused */
    e->n++;
    lws_set_opaque_user_data(wsi, e);
}

/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: false refuses the new TCP
 * connection (libwebsockets closes it before reading anything). */
static bool ns_addr_accept(const struct lws_filter_network_conn_args *f)
{
    const ns_settings *s = &ns_cfg(S.relay)->settings;
    char ip[INET6_ADDRSTRLEN];
    uint8_t key[16];
    if (f == NULL)
        return true;
    ns_addr_text(&f->cli_addr, ip, sizeof ip);
    if (!ns_addr_key(ip, key) || ns_settings_ip_in_list(ip, &s->network.trusted_proxies) ||
        ns_settings_ip_in_list(ip, &s->limits.connection.ip_whitelist))
        return true;
    return !ns_addr_full(s, ip, key);
}

/* LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED, right after the accept above
 * let the connection in: counts it under its peer address. */
static void ns_addr_new_client(struct lws *wsi)
{
    const ns_settings *s = &ns_cfg(S.relay)->settings;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    char ip[INET6_ADDRSTRLEN];
    uint8_t key[16];
    if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&sa, &sl) != 0)
        return;
    ns_addr_text(&sa, ip, sizeof ip);
    if (ns_addr_key(ip, key) && !ns_settings_ip_in_list(ip, &s->network.trusted_proxies) &&
        !ns_settings_ip_in_list(ip, &s->limits.connection.ip_whitelist))
        ns_addr_hold(wsi, key);
}

/* At the handshake: a connection not counted at accept (it came through a
 * trusted proxy) is counted under the client address the proxy reported.
 * Returns false, with a NOTICE sent, when that address is over the limit. */
static bool ns_addr_established(ns_conn *c)
{
    const ns_settings *s = &ns_cfg(S.relay)->settings;
    uint8_t key[16];
    if (lws_get_opaque_user_data(c->wsi) != NULL || !ns_addr_key(c->ip, key) ||
        ns_settings_ip_in_list(c->ip, &s->limits.connection.ip_whitelist))
        return true;
    if (ns_addr_full(s, c->ip, key)) {
        char why[160];
        snprintf(why, sizeof why, "rate-limited: too many connections from this address: at most %u open",
                 s->limits.connection.max_per_ip);
        ns_send_notice(c, why);
        return false;
    }
    ns_addr_hold(c->wsi, key);
    return true;
}

/* LWS_CALLBACK_WSI_DESTROY: releases what the connection counted. */
static void ns_addr_destroy(struct lws *wsi)
{
    ns_addr_count *e = lws_get_opaque_user_data(wsi);
    if (e != NULL) {
        lws_set_opaque_user_data(wsi, NULL);
        ns_addr_release(e);
    }
}

/* The connection's user space (lws_wsi_user): its ns_conn once established. */
typedef struct {
    ns_conn *conn;
} ns_pss;

/* ---- permessage-deflate -------------------------------------------------
 *
 * libwebsockets 4.1.6 implements RFC 7692 (lws_extension_callback_pm_deflate)
 * with two flaws for a server, worked around here rather than inherited:
 *   - one argument, server_max_window_bits, sizes both the inflater of the
 *     client's messages and the deflater of ours; the client compresses with
 *     up to 15 bits (lws never asks it for fewer), so our window could not be
 *     made smaller without breaking its messages. ns_pmd_callback sets the
 *     argument before each use: 15 to inflate, the configured
 *     network.compression.serverMaxWindowBits to deflate (zlib reads it only
 *     when it sets a stream up).
 *   - its two reset flags are the wrong way round for a server: it drops the
 *     inflater after each message when the client asked for
 *     server_no_context_takeover, and the deflater when the client asked for
 *     client_no_context_takeover. A client asking for the first (the `ws`
 *     package's serverNoContextTakeover, for one) had its second compressed
 *     message fail and was disconnected. ns_pmd_established sets them from
 *     what the client offered: the inflater is reset only when the client
 *     promised client_no_context_takeover; the deflater is reset after every
 *     message when network.compression.serverNoContextTakeover is on (the
 *     default; RFC 7692 lets a sender do so without asking) or the client
 *     asked for it.
 * So the deflater lives only while one message is compressed (one at a time
 * on this thread): an idle connection holds none. The inflater (zlib's 32
 * KiB window and ~7 KiB state) lives as long as the connection for a client
 * that compresses and keeps its context, which RFC 7692 lets it do. */

/* Sets one of lws's permessage-deflate arguments (by its option name) on
 * the connection whose extension state is user. */
static void ns_pmd_arg(struct lws_context *ctx, const struct lws_extension *ext, struct lws *wsi, void *user,
                       const char *name, unsigned value)
{
    char v[12];
    snprintf(v, sizeof v, "%u", value);
    struct lws_ext_option_arg oa = {name, 0, v, (int)strlen(v)};
    lws_extension_callback_pm_deflate(ctx, ext, wsi, LWS_EXT_CB_NAMED_OPTION_SET, user, &oa, 0);
}

/* ---- inflating the client's messages ----------------------------------
 *
 * libwebsockets 4.1.6 hands the inflater each chunk of compressed payload
 * where it read it, in the service thread's one receive buffer, and the
 * inflater keeps pointing there while it produces output 1 KiB per service
 * round. A message inflating far beyond its size (compression bombs, but
 * any highly compressible message) leaves input unused across rounds; a
 * read for another connection meanwhile overwrites it, and the inflater
 * goes on with foreign bytes: zlib errors ("invalid stored block lengths")
 * or, raw deflate having no checksum, wrong text. So each new chunk is
 * copied to the connection's own buffer first, kept until the inflater has
 * used it all. The buffer lives only while input is pending: idle
 * connections hold none.
 *
 * lws's argument is private in 4.1.6 (struct lws_ext_pm_deflate_rx_ebufs:
 * the input and the output, two public lws_tokens) and so is its return
 * code for "input left" (PMDR_HAS_PENDING, 2); both are restated here. */
typedef struct {
    struct lws_tokens in, out;
} ns_pmd_rx_bufs;

static void ns_rx_abort(ns_conn *c, struct lws *wsi, enum lws_close_status code, const char *why);
#define NS_PMD_HAS_PENDING 2

/* An inflation step lws 4.1.6 makes with its input moved to c's buffer as
 * above; when lws fails it (corrupt compressed data), the connection is
 * closed with 1007 at once: lws would otherwise leave it neither served nor
 * closed (it ignores the failure when it happens while draining). */
static int ns_pmd_rx(ns_conn *c, struct lws_context *ctx, const struct lws_extension *ext, struct lws *wsi,
                     void *user, ns_pmd_rx_bufs *b)
{
    if (b->in.token != NULL && b->in.len > 0 && c->inflate_in == NULL) {
        c->inflate_in = malloc((size_t)b->in.len);
        if (c->inflate_in == NULL)
            return -1;
        memcpy(c->inflate_in, b->in.token, (size_t)b->in.len);
        b->in.token = c->inflate_in;
    }
    int r = lws_extension_callback_pm_deflate(ctx, ext, wsi, LWS_EXT_CB_PAYLOAD_RX, user, b, 0);
    if (r != NS_PMD_HAS_PENDING) {
        free(c->inflate_in); /* all used (or never copied) */
        c->inflate_in = NULL;
    }
    if (r < 0) {
        ns_log_info("closing connection %llu from %s: its compressed message does not inflate",
                    (unsigned long long)c->id, c->ip);
        ns_rx_abort(c, wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid compressed data");
    }
    return r;
}

/* The extension callback libwebsockets calls: lws's own, with the window
 * and memory level each stream is set up with chosen here (see above), and
 * its input kept stable (ns_pmd_rx).
 * zlib's memLevel follows the window (15 bits: 8, its default; 12 bits: 5),
 * so the deflater takes 2^(bits+2) + 2^(bits+2) bytes plus ~6 KiB. */
static int ns_pmd_callback(struct lws_context *ctx, const struct lws_extension *ext, struct lws *wsi,
                           enum lws_extension_callback_reasons reason, void *user, void *in, size_t len)
{
    if (reason == LWS_EXT_CB_PAYLOAD_RX) {
        const ns_pss *pss = lws_wsi_user(wsi);
        ns_conn *c = pss != NULL ? pss->conn : NULL;
        if (c != NULL && c->cut)
            return -1; /* inflate no more: see ns_rx_hopeless's section */
        ns_pmd_arg(ctx, ext, wsi, user, "server_max_window_bits", 15);
        if (c != NULL)
            return ns_pmd_rx(c, ctx, ext, wsi, user, in);
    } else if (reason == LWS_EXT_CB_PAYLOAD_TX) {
        unsigned bits = ns_cfg(S.relay)->settings.network.compression.server_max_window_bits;
        bits = bits < 9 ? 9 : bits > 15 ? 15 : bits;
        ns_pmd_arg(ctx, ext, wsi, user, "server_max_window_bits", bits);
        ns_pmd_arg(ctx, ext, wsi, user, "mem_level", bits - 7);
    }
    return lws_extension_callback_pm_deflate(ctx, ext, wsi, reason, user, in, len);
}

/* What the client's permessage-deflate offer asks, read as libwebsockets
 * reads it: the first element of Sec-WebSocket-Extensions named
 * permessage-deflate, its parameters up to the next comma. */
static void ns_pmd_offer(const char *h, bool *client_nct, bool *server_nct)
{
    static const char name[] = "permessage-deflate";
    *client_nct = *server_nct = false;
    while (*h) {
        const char *end = h + strcspn(h, ",");
        const char *p = h + strspn(h, " \t");
        size_t n = strcspn(p, ";, \t");
        if (n == sizeof name - 1 && memcmp(p, name, n) == 0) {
            for (p += n; p < end; p++) {
                if (*p != ';')
                    continue;
                const char *q = p + 1 + strspn(p + 1, " \t");
                if (strncmp(q, "client_no_context_takeover", 26) == 0)
                    *client_nct = true;
                else if (strncmp(q, "server_no_context_takeover", 26) == 0)
                    *server_nct = true;
            }
            return;
        }
        h = *end ? end + 1 : end;
    }
}

/* LWS_CALLBACK_ESTABLISHED: sets lws's two reset flags the right way round
 * (see above) when the extension is on for this connection. */
static void ns_pmd_established(struct lws *wsi)
{
    char h[512];
    bool client_nct, server_nct;
    if (lws_hdr_copy(wsi, h, sizeof h, WSI_TOKEN_EXTENSIONS) <= 0)
        return;
    ns_pmd_offer(h, &client_nct, &server_nct);
    bool reset_ours = server_nct || ns_cfg(S.relay)->settings.network.compression.server_no_context_takeover;
    /* lws's names: "server_no_context_takeover" resets its inflater,
     * "client_no_context_takeover" its deflater. -1: not negotiated here. */
    if (lws_set_extension_option(wsi, "permessage-deflate", "server_no_context_takeover",
                                 client_nct ? "1" : "0") < 0)
        return;
    lws_set_extension_option(wsi, "permessage-deflate", "client_no_context_takeover", reset_ours ? "1" : "0");
}

/* ---- messages over network.maxPayloadSize --------------------------------
 *
 * A message a little over the limit is read to its end, dropped, and
 * answered with a NOTICE; the connection stays usable. Reading costs the
 * relay only time, but a frame that declares 2^63 bytes, or a compressed
 * message that inflates a thousandfold, would cost it without end: once a
 * message is known to exceed NS_RX_DRAIN_FACTOR times the limit (counting
 * what the current frame still declares), the connection is closed with
 * 1009 (message too big, RFC 6455) instead.
 *
 * Not through libwebsockets' close handshake (lws_close_reason and -1 from
 * LWS_CALLBACK_RECEIVE): lws 4.1.6 then goes on reading and, with
 * permessage-deflate, inflating the frame while it waits to send its close
 * frame, under load for seconds and all of a bomb; and -1 without a close
 * reason, in the middle of inflated output, left the connection neither
 * served nor closed, its socket spinning the service loop. Instead:
 * ns_rx_cut writes the close frame to the socket itself; lws_set_timeout
 * (LWS_TO_KILL_ASYNC) has lws close the connection at its next timeout
 * check, its ordinary way; until then LWS_CALLBACK_RECEIVE drops what
 * comes, and ns_pmd_callback fails the extension's next inflation step so
 * that no more of a bomb is inflated (lws takes a failing extension off its
 * list of connections with inflated output pending). */
#define NS_RX_DRAIN_FACTOR 2

/* ---- lingering after a cut ----------------------------------------------
 *
 * A client still sending when its connection is cut would have the rest
 * of its data arrive at a closed socket, which answers with a reset; the
 * reset can reach the client before it has read the close frame, and the
 * client sees "connection reset" instead of the reason. So the socket is
 * kept open a little longer under a second descriptor (lws closes its own
 * as usual) and what arrives is read and dropped until the client closes,
 * NS_LINGER_SECONDS pass or NS_LINGER_BYTES arrive, whichever is first.
 * The descriptor is adopted into lws as a raw socket of the
 * "nostream-linger" protocol, served by ns_linger_callback on the same
 * thread; at most NS_LINGER_MAX at a time (beyond that, no lingering). */
#define NS_LINGER_SECONDS 2
#define NS_LINGER_BYTES ((size_t)1 << 20)
#define NS_LINGER_MAX 64

static void ns_linger(struct lws *wsi, int fd)
{
    if (S.nlinger >= NS_LINGER_MAX)
        return;
    lws_sock_file_fd_type sock;
    sock.sockfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (sock.sockfd < 0)
        return;
    /* On failure lws closes the descriptor itself. */
    (void)lws_adopt_descriptor_vhost(lws_get_vhost(wsi), LWS_ADOPT_SOCKET, sock, "nostream-linger", NULL);
}

/* The lingering sockets' protocol: reads are dropped, nothing is written,
 * and it serves nothing else (a WebSocket client asking for it by name is
 * refused). */
static int ns_linger_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    size_t *seen = user;
    (void)in;
    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        S.nlinger++;
        *seen = 0;
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, NS_LINGER_SECONDS);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        *seen += len;
        return *seen > NS_LINGER_BYTES ? -1 : 0;
    case LWS_CALLBACK_RAW_CLOSE:
        S.nlinger--;
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_HTTP:
        return -1;
    default:
        return 0;
    }
}

/* Writes a close frame (code, reason why) straight to wsi's socket, ends
 * our side of it, reads away what the client had sent meanwhile, and has
 * the socket linger (above) if the client is not done sending. Skipped
 * when lws holds part of an earlier frame unsent (ours would land inside
 * it): the client then sees the connection cut. */
static void ns_rx_cut(struct lws *wsi, enum lws_close_status code, const char *why)
{
    if (lws_partial_buffered(wsi))
        return;
    uint8_t f[4 + 123];
    size_t n = strlen(why);
    n = n > 123 ? 123 : n;
    f[0] = 0x88; /* FIN, close */
    f[1] = (uint8_t)(2 + n);
    f[2] = (uint8_t)((unsigned)code >> 8);
    f[3] = (uint8_t)((unsigned)code & 0xff);
    memcpy(f + 4, why, n);
    int fd = lws_get_socket_fd(wsi);
    if (send(fd, f, 4 + n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(4 + n))
        return;
    shutdown(fd, SHUT_WR);
    char sink[4096];
    ssize_t got = 1;
    for (int i = 0; i < 64 && (got = recv(fd, sink, sizeof sink, MSG_DONTWAIT)) > 0; i++)
        ;
    if (got != 0) /* not at the client's end of data */
        ns_linger(wsi, fd);
}

/* Closes c at once, as this section says: the close frame (code, why)
 * goes out now, nothing more is read or inflated, and lws drops the
 * connection at its next timeout check. */
static void ns_rx_abort(ns_conn *c, struct lws *wsi, enum lws_close_status code, const char *why)
{
    ns_rx_cut(wsi, code, why);
    ns_out_free_all(c);
    c->closing = true;
    c->cut = true;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* Counts len more bytes of the message being received; true when the
 * connection is to be dropped (the close frame is sent, c->cut set). */
static bool ns_rx_hopeless(ns_conn *c, struct lws *wsi, size_t len, size_t max)
{
    c->rx_seen += len;
    size_t declared = lws_remaining_packet_payload(wsi);
    size_t budget = max * NS_RX_DRAIN_FACTOR;
    if (c->rx_seen <= budget && declared <= budget - c->rx_seen)
        return false;
    char why[96];
    snprintf(why, sizeof why, "message too big: the limit is %zu bytes", max);
    ns_log_info("closing connection %llu from %s: a message of more than %zu bytes",
                (unsigned long long)c->id, c->ip, budget);
    ns_rx_abort(c, wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, why);
    return true;
}

/* ---- the libwebsockets callback ---------------------------------------- */

static void ns_conn_close(ns_conn *c)
{
    while (c->subs)
        ns_sub_drop(c, c->subs);
    ns_out_free_all(c);
    ns_conn_unmap(c);
    ns_buf_free(&c->rx);
    free(c->inflate_in);
    S.nconns--;
    free(c);
}

static int ns_write_one(ns_conn *c)
{
    ns_out *o = c->out_head;
    if (o == NULL) {
        if (c->closing) {
            lws_close_reason(c->wsi, c->close_code, (unsigned char *)c->close_reason,
                             strlen(c->close_reason));
            return -1;
        }
        return 0;
    }
    size_t len = o->head_len + (o->body ? o->body->len : 0) + (o->close_bracket ? 1 : 0);
    ns_buf_reset(&S.wbuf);
    if (ns_buf_reserve(&S.wbuf, LWS_PRE + len) != 0)
        return -1;
    char *p = S.wbuf.data + LWS_PRE;
    memcpy(p, o->head, o->head_len);
    if (o->body)
        memcpy(p + o->head_len, o->body->data, o->body->len);
    if (o->close_bracket)
        p[len - 1] = ']';
    c->out_head = o->next;
    if (c->out_head == NULL)
        c->out_tail = NULL;
    c->out_bytes -= o->head_len + (o->body ? o->body->len : 0) + 1;
    ns_payload_unref(o->body);
    free(o);
    if (lws_write(c->wsi, (uint8_t *)p, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    if (c->pumping > 0 && c->out_bytes < ns_cfg(S.relay)->max_outbound / 2)
        for (ns_sub *s = c->subs; s; s = s->next)
            if (((ns_sub_ext *)s)->rows)
                ns_pump(c, s);
    if (c->out_head || c->closing)
        lws_callback_on_writable(c->wsi);
    return 0;
}

static int ns_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    ns_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        ns_drain_done();
        return 0;
    case LWS_CALLBACK_HTTP:
        return ns_http(wsi, (const char *)in);
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return ns_addr_accept(user) ? 0 : -1;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        ns_addr_new_client(wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        ns_addr_destroy(wsi);
        return 0;
    case LWS_CALLBACK_CONFIRM_EXTENSION_OKAY:
        /* nonzero: permessage-deflate is not offered back */
        return ns_cfg(S.relay)->settings.network.compression.enabled ? 0 : 1;
    case LWS_CALLBACK_ESTABLISHED: {
        ns_conn *c = calloc(1, sizeof *c);
        if (c == NULL)
            return -1;
        c->id = ++S.next_id;
        c->wsi = wsi;
        ns_client_ip(wsi, c->ip, sizeof c->ip);
        c->map_next = S.buckets[c->id % NS_CONN_BUCKETS];
        S.buckets[c->id % NS_CONN_BUCKETS] = c;
        S.nconns++;
        pss->conn = c;
        ns_pmd_established(wsi);
        if (atomic_load(&S.relay->stopping)) {
            c->closing = true;
            c->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
            c->close_reason = "relay shutting down";
            lws_callback_on_writable(wsi);
        } else if (!ns_connection_allowed(c) || !ns_addr_established(c)) {
            c->closing = true;
            c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
            c->close_reason = "rate limited";
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
        ns_conn *c = pss->conn;
        if (c == NULL)
            return -1;
        size_t max = ns_cfg(S.relay)->max_payload;
        if (c->cut || ns_rx_hopeless(c, wsi, len, max))
            return 0; /* 1009 sent, lws drops the connection: see ns_rx_cut */
        if (!c->rx_too_big && c->rx.len + len <= max)
            ns_buf_add(&c->rx, in, len);
        else
            c->rx_too_big = true;
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
            return 0;
        if (!c->rx_too_big && !ns_message_allowed(c)) {
            /* dropped, answered inside */
        } else if (c->rx_too_big) {
            char why[128];
            snprintf(why, sizeof why, "invalid: message is larger than %zu bytes", max);
            ns_send_notice(c, why);
        } else if (!c->closing && !atomic_load(&S.relay->stopping)) {
            ns_handle_message(c, c->rx.data ? c->rx.data : "", c->rx.len);
        } else if (atomic_load(&S.relay->stopping)) {
            ns_send_notice(c, "error: the relay is shutting down");
        }
        ns_buf_reset(&c->rx);
        c->rx_too_big = false;
        c->rx_seen = 0;
        if (c->rx.cap > 16384)
            ns_buf_free(&c->rx); /* an idle connection keeps at most 16 KiB */
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss->conn ? ns_write_one(pss->conn) : 0;
    case LWS_CALLBACK_CLOSED:
        if (pss->conn) {
            ns_conn_close(pss->conn);
            pss->conn = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

/* rx_buffer_size: lws gives every connection a buffer this large and fills
 * it with frame payload before each LWS_CALLBACK_RECEIVE; at 64 KiB a
 * connection that once sent a big message kept 64 KiB resident. */
static const struct lws_protocols ns_protocols[] = {
    {"nostr", ns_callback, sizeof(ns_pss), 16384, 0, NULL, 0},
    {"nostream-linger", ns_linger_callback, sizeof(size_t), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_extension ns_extensions[] = {
    {"permessage-deflate", ns_pmd_callback,
     "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
    {NULL, NULL, NULL},
};

static const uint32_t ns_retry_table[] = {1000};
static const lws_retry_bo_t ns_retry = {
    .retry_ms_table = ns_retry_table,
    .retry_ms_table_count = 1,
    .conceal_count = 0,
    .secs_since_valid_ping = 60,
    .secs_since_valid_hangup = 120,
    .jitter_percent = 0,
};

int ns_ws_init(ns_relay *r)
{
    memset(&S, 0, sizeof S);
    S.relay = r;
    memset(&A, 0, sizeof A);
    ns_addr_init();
    S.index = ns_subindex_new();
    if (S.index == NULL)
        return NS_ENOMEM;
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = r->cfg.port;
    info.protocols = ns_protocols;
    info.extensions = ns_extensions;
    info.retry_and_idle_policy = &ns_retry;
    info.timeout_secs = 20;
    /* A client has this long to finish its handshake, however slowly it
     * sends it (slowloris): lws does not restart the clock per byte. */
    info.timeout_secs_ah_idle = ns_cfg(r)->settings.network.handshake_timeout_seconds;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 * 0;
    r->lws = lws_create_context(&info);
    if (r->lws == NULL) {
        ns_log_error("cannot listen on port %d", r->cfg.port);
        return NS_EIO;
    }
    return 0;
}

void ns_ws_wake(void *relay)
{
    ns_relay *r = relay;
    if (r->lws)
        lws_cancel_service(r->lws);
}

static atomic_bool ns_tick_stop;

/* Wakes the service loop every 100 ms during shutdown, so its deadlines
 * are checked even when no result arrives. */
static void *ns_ticker(void *arg)
{
    ns_relay *r = arg;
    while (!atomic_load(&ns_tick_stop)) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        ns_ws_wake(r);
    }
    return NULL;
}

int ns_ws_run(ns_relay *r)
{
    while (!atomic_load(&r->stopping))
        lws_service(r->lws, 0);
    ns_log_info("shutting down: answering %ld events in flight", S.inflight);
    pthread_t tick;
    bool ticking = pthread_create(&tick, NULL, ns_ticker, r) == 0;
    time_t deadline = time(NULL) + 10;
    while (S.inflight > 0 && time(NULL) < deadline) {
        lws_service(r->lws, 0);
        ns_drain_done();
    }
    /* Everyone gets what is queued, then a 1001 close. */
    for (size_t b = 0; b < NS_CONN_BUCKETS; b++)
        for (ns_conn *c = S.buckets[b]; c; c = c->map_next) {
            if (!c->closing) {
                c->closing = true;
                c->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
                c->close_reason = "relay shutting down";
            }
            lws_callback_on_writable(c->wsi);
        }
    deadline = time(NULL) + 3;
    while (S.nconns > 0 && time(NULL) < deadline)
        lws_service(r->lws, 0);
    atomic_store(&ns_tick_stop, true);
    if (ticking)
        pthread_join(tick, NULL);
    return 0;
}

void ns_ws_destroy(ns_relay *r)
{
    if (r->lws)
        lws_context_destroy(r->lws);
    r->lws = NULL;
    ns_subindex_free(S.index);
    S.index = NULL;
    ns_buf_free(&S.wbuf);
}
