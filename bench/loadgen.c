/* loadgen.c - a load generator for Nostr relays (NIP-01 over WebSocket).
 *
 * One binary, four scenarios, any NIP-01 relay at a ws:// URL:
 *   publish  N connections publish pre-signed events, closed loop (W in
 *            flight per connection) or open loop (--rate); measures OK
 *            latency and the accepted rate.
 *   req      M connections send REQs back to back (--inflight each) in one
 *            of several shapes drawn from a seeded database (bench/seed);
 *            measures latency to EOSE, REQ/s and events delivered.
 *   fanout   M subscriptions over C connections, then a publisher at
 *            --rate; every event is built to match a known set of
 *            subscriptions, so each delivery is checked: latency from
 *            publish to delivery, missed and unexpected deliveries.
 *   connect  N idle connections (optionally permessage-deflate); the
 *            relay's resident memory per connection.
 * Each prints a table for people and then one line of JSON for scripts.
 *
 * Design. Every event is generated and signed before the timed part
 * (evgen.c, several threads). Connections are spread over --threads
 * service threads, each with its own libwebsockets context (the Debian
 * build has LWS_MAX_SMP 1) on its own libuv loop (epoll; lws's default
 * poll() loop, --evlib poll, costs O(connections) per wake-up) and a 1 ms
 * tick that paces the load. The main
 * thread only moves the phases along (connect, set up, run, drain, close)
 * and watches the clock; every phase has a deadline, so a run always ends
 * by itself, whatever the relay does. A sampler thread reads the relay's
 * VmRSS every 100 ms (--pid).
 *
 * Ownership. The event pool, its id index and (fanout) the table of
 * expected deliveries are built before the service threads start and are
 * read-only afterwards, except for per-event fields written by the one
 * thread that sends the event and, for fanout, atomics. Each connection,
 * its queue and its rx buffer belong to its service thread. Per-thread
 * statistics are merged by the main thread after the threads have joined.
 *
 * Replies are parsed with jansson, except EVENT messages in the req
 * scenario, which are only counted: the subscription id is read with a
 * small scanner so that the tool does not spend its CPU building DOMs of
 * events it throws away.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "err.h"
#include "event.h"
#include "evgen.h"
#include "filter.h"
#include "hex.h"

/* ---- options ----------------------------------------------------------------- */

typedef enum { SC_PUBLISH, SC_REQ, SC_FANOUT, SC_CONNECT } lg_scenario;
typedef enum { SH_AKL10, SH_LIMIT100, SH_TAGP, SH_IDS, SH_FOLLOWS, SH_TAGT, SH_MIX } lg_shape;
static const char *const lg_shape_names[] = {"authors-kinds-limit10", "limit100", "tag-p", "ids",
                                             "follows", "tag-t", "mix"};

typedef struct lg_opts {
    lg_scenario sc;
    const char *sc_name;
    const char *url;
    char host[256];
    int port;
    char path[512];
    char hosthdr[300];
    int pid, db_pid;
    int conns;              /* connections (fanout: subscriber connections) */
    int inflight;           /* publish: events per connection; req: REQs per connection */
    double rate;            /* events/s; 0 = closed loop (publish) */
    double seconds;         /* length of the timed part */
    bool seconds_given;
    long count;             /* publish: events; req: REQs; 0 = until --seconds */
    long pool;              /* events to pre-sign (publish) */
    int threads;            /* service threads */
    int sign_threads;
    int authors;            /* publish: distinct authors */
    const char *authors_file, *ids_file;
    const char *events_file;  /* publish: replay these pre-signed events */
    lg_shape shape;
    int subs;               /* fanout subscriptions */
    int pub_conns;          /* fanout publisher connections */
    double grace;           /* drain / delivery grace, seconds */
    double timeout;         /* per REQ or EVENT, seconds */
 bool deflate;
    double hold;            /* connect: seconds to hold before the after-sample */
    bool touch;             /* connect: one REQ per connection first */
    int connect_burst;      /* handshakes in progress at once, all threads */
    double setup_timeout;   /* connecting and subscribing, seconds */
    uint64_t seed;
    int verbose;
    uint64_t evlib;         /* LWS_SERVER_OPTION_LIBUV (epoll), or 0: lws's poll() loop */
} lg_opts;

/* ---- time and small helpers ----------------------------------------------------- */

static int64_t lg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void lg_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *lg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

/* A growable array of latency samples in microseconds. */
typedef struct lg_lat {
    uint32_t *v;
    size_t n, cap;
} lg_lat;

static void lg_lat_add(lg_lat *l, int64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint32_t *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return; /* drop the sample rather than the run */
        l->v = v;
        l->cap = cap;
    }
    int64_t us = ns < 0 ? 0 : ns / 1000;
    l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void lg_lat_merge(lg_lat *into, const lg_lat *from)
{
    for (size_t i = 0; i < from->n; i++)
        lg_lat_add(into, (int64_t)from->v[i] * 1000);
}

static int lg_u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in ms of a sorted sample; -1 when empty. */
static double lg_pct(const lg_lat *l, double p)
{
    if (l->n == 0)
        return -1;
    size_t k = (size_t)ceil(p / 100.0 * (double)l->n);
    if (k < 1)
        k = 1;
    if (k > l->n)
        k = l->n;
    return l->v[k - 1] / 1000.0;
}

/* Counts by the NIP-01 prefix of a reason ("invalid", "blocked", ...). */
#define LG_NPREFIX 12
typedef struct lg_prefixes {
    char name[LG_NPREFIX][24];
    uint64_t n[LG_NPREFIX];
    uint64_t other;
} lg_prefixes;

static void lg_prefix_add_name(lg_prefixes *p, const char *pre, uint64_t k)
{
    for (int j = 0; j < LG_NPREFIX; j++) {
        if (p->n[j] && strcmp(p->name[j], pre) == 0) {
            p->n[j] += k;
            return;
        }
        if (p->n[j] == 0) {
            snprintf(p->name[j], sizeof p->name[j], "%s", pre);
            p->n[j] = k;
            return;
        }
    }
    p->other += k;
}

/* Counts a reason under its prefix, the text before the first ':'. */
static void lg_prefix_add(lg_prefixes *p, const char *msg, uint64_t k)
{
    char pre[24];
    size_t i = 0;
    while (msg[i] && msg[i] != ':' && i < sizeof pre - 1) {
        pre[i] = msg[i];
        i++;
    }
    pre[i] = '\0';
    if (msg[i] != ':')
        snprintf(pre, sizeof pre, "(none)");
    lg_prefix_add_name(p, pre, k);
}

static void lg_prefix_merge(lg_prefixes *into, const lg_prefixes *from)
{
    for (int j = 0; j < LG_NPREFIX && from->n[j]; j++)
        lg_prefix_add_name(into, from->name[j], from->n[j]);
    into->other += from->other;
}

static json_t *lg_prefix_json(const lg_prefixes *p)
{
    json_t *o = json_object();
    for (int j = 0; j < LG_NPREFIX && p->n[j]; j++)
        json_object_set_new(o, p->name[j], json_integer((json_int_t)p->n[j]));
    if (p->other)
        json_object_set_new(o, "(other)", json_integer((json_int_t)p->other));
    return o;
}

/* ---- the relay's process: memory and CPU ------------------------------------------ */

static long lg_proc_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* utime+stime of one process (all its threads) in clock ticks, and its
 * parent; -1 when it is gone. */
static long long lg_proc_ticks(int pid, int *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold anything */
    if (p == NULL)
        return -1;
    /* after ") ": state(3) ppid(4) ... utime(14) stime(15) */
    char st;
    int pp;
    unsigned long long ut, stt;
    if (sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &st, &pp, &ut, &stt) != 4)
        return -1;
    if (ppid)
        *ppid = pp;
    return (long long)(ut + stt);
}

/* CPU seconds of pid, and with children also of its direct children (the
 * backends of a PostgreSQL postmaster). */
static double lg_proc_cpu_s(int pid, bool children)
{
    long hz = sysconf(_SC_CLK_TCK);
    long long t = lg_proc_ticks(pid, NULL);
    if (t < 0)
        return -1;
    if (children) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            int c = atoi(e->d_name), pp = 0;
            if (c <= 0 || c == pid)
                continue;
            long long ct = lg_proc_ticks(c, &pp);
            if (ct >= 0 && pp == pid)
                t += ct;
        }
        if (d)
            closedir(d);
    }
    return (double)t / (double)(hz > 0 ? hz : 100);
}

static struct {
    pthread_t th;
    int pid;
    atomic_bool stop;
    atomic_long cur, peak;
} lg_sampler;

static void *lg_sampler_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&lg_sampler.stop)) {
        long kib = lg_proc_rss_kib(lg_sampler.pid);
        if (kib >= 0) {
            atomic_store(&lg_sampler.cur, kib);
            if (kib > atomic_load(&lg_sampler.peak))
                atomic_store(&lg_sampler.peak, kib);
        }
        lg_sleep_ms(100);
    }
    return NULL;
}

/* ---- shared state ------------------------------------------------------------------ */

enum { EV_NEW = 0, EV_SENT, EV_OK, EV_REJECTED };

typedef struct lg_ev {
    char *msg;               /* ["EVENT",{...}], owned by the pool */
    uint32_t len;
    uint8_t id[32];
    _Atomic uint8_t state;   /* EV_*, written by the sending thread */
    int64_t t_intended;      /* open loop: when it was due */
    atomic_llong t_send;     /* when it was written (read by other threads in fanout) */
    uint32_t exp_off, exp_n; /* fanout: its expected deliveries */
} lg_ev;

/* A fanout subscription. */
typedef struct lg_fsub {
    char *filter_json;       /* the filter object as sent */
    ns_filter *filter;       /* the same, parsed, to compute expectations */
    atomic_int state;        /* 0 pending, 1 live (EOSE), 2 refused (CLOSED) */
} lg_fsub;

enum { PH_INIT, PH_CONNECT, PH_SETUP, PH_RUN, PH_DRAIN, PH_CLOSE, PH_EXIT };
static const char *const lg_phase_names[] = {"init", "connect", "setup", "run", "drain", "close", "exit"};

typedef struct lg_stats {
    uint64_t sent, ok_true, ok_dup, ok_false, ok_unknown;
    uint64_t notices, closed, disconnects, peer_closes, connect_fail, auth, unknown_msgs;
    uint64_t reqs_done, events_rx, bytes_rx, timeouts, not_sent;
    uint64_t fan_rx, fan_unexpected, fan_duplicate, fan_unknown, fan_late;
    lg_prefixes ok_prefix, closed_prefix;
    char notice_sample[3][200];
    int nnotice_samples;
    char close_sample[200];
    int64_t t_last_reply;
} lg_stats;

struct lg_thread;

typedef struct lg_msg {
    struct lg_msg *next;
    int64_t *stamp;          /* set to the write time, or NULL */
    size_t len;
    char data[];
} lg_msg;

typedef struct lg_slot {     /* req: one REQ in flight on a connection */
    uint32_t gen;
    bool busy;
    int64_t t_sent;
    uint32_t events;
} lg_slot;

enum { C_IDLE, C_CONNECTING, C_OPEN, C_CLOSING, C_DEAD };

#define LG_RING 4096

typedef struct lg_conn {
    struct lg_thread *t;
    struct lws *wsi;
    int idx;
    int state;
    bool publisher;          /* fanout: the publishing connections */
    int64_t t_connect;
    ns_buf rx;
    lg_msg *out_head, *out_tail;
    int credit;              /* publish, closed loop: events it may still send */
    uint32_t ring[LG_RING];  /* publish/fanout open loop: due events */
    uint32_t ring_head, ring_len;
    lg_slot *slots;          /* req, connect --touch */
    int nslots;
} lg_conn;

typedef struct lg_thread {
    lws_sorted_usec_list_t sul; /* first: the tick callback finds the thread from it */
    int idx;
    pthread_t th;
    struct lws_context *ctx;
    lg_conn *conns;
    int nconns;
    int next_connect, connecting;
    int phase_seen;
    bool exit;
    uv_loop_t loop;          /* with --evlib uv: our own loop, lent to lws */
    uv_timer_t destroyer, guard;
    struct lws_context *ctx_closing;
    void *loops[1];
    bool uv;
    eg_rng rng;
    ns_buf wbuf;             /* LWS_PRE + one message */
    /* events this thread sends: [ev_lo, ev_hi), next ev_next */
    uint32_t ev_lo, ev_hi, ev_next;
    bool exhausted;
    double rate;             /* open loop: this thread's share */
    uint64_t scheduled;
    int rr;
    int64_t max_lag;         /* open loop: worst lateness of a write, ns */
    lg_stats st;
    lg_lat lat;              /* the scenario's main latency */
    lg_lat lat_connect;
} lg_thread;

static struct {
    lg_opts o;
    lg_ev *ev;
    uint32_t nev;
    uint32_t *index;         /* open addressing: event index + 1, keyed by id */
    uint32_t index_mask;
    lg_conn *conns;
    int nconns;
    lg_thread *th;
    int nthreads;
    atomic_int phase;
    int64_t t_run0, t_run_end;
    atomic_int n_open, n_dead, n_ready, n_refused;
    atomic_long outstanding;
    atomic_int exhausted;
    atomic_long req_claimed;
    /* req */
    char **authors;
    size_t nauthors;
    char **ids;
    size_t nids;
    /* fanout */
    lg_fsub *subs;
    uint32_t *exp_sub;
    _Atomic uint8_t *exp_got;
    size_t nexp;
} G;

static const char *lg_arg0 = "loadgen";

/* ---- the event pool and its index ----------------------------------------------------- */

static uint64_t lg_id_hash(const uint8_t id[32])
{
    uint64_t h;
    memcpy(&h, id, 8); /* ids are hashes already */
    return h;
}

static void lg_index_build(void)
{
    uint32_t cap = 1024;
    while (cap < G.nev * 2u)
        cap *= 2;
    G.index = lg_xcalloc(cap, sizeof *G.index);
    G.index_mask = cap - 1;
    for (uint32_t i = 0; i < G.nev; i++) {
        uint32_t s = (uint32_t)lg_id_hash(G.ev[i].id) & G.index_mask;
        while (G.index[s])
            s = (s + 1) & G.index_mask;
        G.index[s] = i + 1;
    }
}

/* The pool index of the event with this hex id, or -1. */
static long lg_index_find_hex(const char *hex, size_t len)
{
    uint8_t id[32];
    if (len != 64 || ns_hex_decode(hex, id, 32) != 0 || G.index == NULL)
        return -1;
    uint32_t s = (uint32_t)lg_id_hash(id) & G.index_mask;
    while (G.index[s]) {
        uint32_t i = G.index[s] - 1;
        if (memcmp(G.ev[i].id, id, 32) == 0)
            return i;
        s = (s + 1) & G.index_mask;
    }
    return -1;
}

/* Pre-signing: `make` writes event k (deterministic from k) on a signer. */
typedef struct lg_signer {
    secp256k1_context *ctx;
    eg_draft d;
    ns_buf scratch, content, msg;
    eg_rng r;
    uint32_t lo, hi;
    ns_event **keep;         /* fanout keeps the parsed events, else NULL */
    int (*make)(struct lg_signer *s, uint32_t k, ns_event **out);
    int rc;
} lg_signer;

static eg_author *lg_pub_authors;   /* publish/fanout authors */
static size_t lg_pub_nauthors;
static char (*lg_fan_p)[65];        /* fanout: p-tag targets */
static size_t lg_fan_np;
static char (*lg_fan_t)[24];        /* fanout: topics */
static size_t lg_fan_nt;
static int64_t lg_created_at;

static void *lg_signer_main(void *arg)
{
    lg_signer *s = arg;
    for (uint32_t k = s->lo; k < s->hi; k++) {
        eg_rng_seed(&s->r, G.o.seed * 0x100000001b3ull + k);
        ns_event *ev;
        int rc = s->make(s, k, &ev);
        if (rc != 0) {
            s->rc = rc;
            return NULL;
        }
        ns_buf_reset(&s->msg);
        eg_event_message(ev, &s->msg);
        lg_ev *e = &G.ev[k];
        e->msg = malloc(s->msg.len + 1);
        if (e->msg == NULL || !ns_buf_ok(&s->msg)) {
            free(ev);
            s->rc = NS_ENOMEM;
            return NULL;
        }
        memcpy(e->msg, s->msg.data, s->msg.len);
        e->msg[s->msg.len] = '\0';
        e->len = (uint32_t)s->msg.len;
        memcpy(e->id, ev->id, 32);
        if (s->keep)
            s->keep[k] = ev;
        else
            free(ev);
    }
    return NULL;
}

/* Signs events [0, n) on sign_threads threads; keep (optional) receives
 * the parsed events, which the caller frees. Exits on failure. */
static void lg_presign(uint32_t n, int (*make)(lg_signer *, uint32_t, ns_event **), ns_event **keep)
{
    G.nev = n;
    G.ev = lg_xcalloc(n, sizeof *G.ev);
    int nt = G.o.sign_threads;
    lg_signer *s = lg_xcalloc((size_t)nt, sizeof *s);
    pthread_t *th = lg_xcalloc((size_t)nt, sizeof *th);
    int64_t t0 = lg_now();
    uint32_t per = (n + (uint32_t)nt - 1) / (uint32_t)nt;
    for (int i = 0; i < nt; i++) {
        s[i].ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
        s[i].lo = (uint32_t)i * per < n ? (uint32_t)i * per : n;
        s[i].hi = s[i].lo + per < n ? s[i].lo + per : n;
        s[i].make = make;
        s[i].keep = keep;
        if (pthread_create(&th[i], NULL, lg_signer_main, &s[i]) != 0) {
            fprintf(stderr, "%s: cannot start a signing thread\n", lg_arg0);
            exit(1);
        }
    }
    int rc = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        if (s[i].rc)
            rc = s[i].rc;
        secp256k1_context_destroy(s[i].ctx);
        eg_draft_free(&s[i].d);
        ns_buf_free(&s[i].scratch);
        ns_buf_free(&s[i].content);
        ns_buf_free(&s[i].msg);
    }
    free(s);
    free(th);
    if (rc != 0) {
        fprintf(stderr, "%s: signing events failed: %s\n", lg_arg0, ns_strerror(rc));
        exit(1);
    }
    double el = (double)(lg_now() - t0) / 1e9;
    if (G.o.verbose || n >= 20000)
        fprintf(stderr, "%s: signed %u events in %.1f s on %d threads\n", lg_arg0, n, el, nt);
    lg_index_build();
}

/* publish: kind 1, 300-800 bytes of prose, 2-5 tags among e/p/t;
 * created_at up to 30 s before the signing time. */
static int lg_make_note(lg_signer *s, uint32_t k, ns_event **out)
{
    eg_rng *r = &s->r;
    const eg_author *a = &lg_pub_authors[k % lg_pub_nauthors];
    eg_draft_begin(&s->d, a->hex, lg_created_at - (int64_t)eg_below(r, 30), 1);
    uint32_t ntags = 2 + eg_below(r, 4);
    char hex[65];
    for (uint32_t i = 0; i < ntags; i++) {
        uint32_t roll = eg_below(r, 3);
        if (roll == 0) {
            eg_hex32(r, hex);
            eg_draft_tagv(&s->d, 4, (const char *const[]){"e", hex, "wss://relay.example.com",
                                                          i == 0 ? "root" : "reply"});
        } else if (roll == 1) {
            eg_draft_tag(&s->d, "p", lg_pub_authors[eg_below(r, (uint32_t)lg_pub_nauthors)].hex, NULL);
        } else {
            eg_draft_tag(&s->d, "t", eg_topic(r), NULL);
        }
    }
    ns_buf_reset(&s->content);
    eg_text(r, 300 + eg_below(r, 480), &s->content);
    return eg_draft_sign(&s->d, s->content.data, s->content.len, s->ctx, a, &s->scratch, out);
}

/* fanout: an author from the author pool, 1-2 p tags and a t tag from
 * this run's pools (so only this run's subscriptions can match), an e
 * tag; kind 1, or 7 one time in ten (which kinds:[1] filters skip).
 * created_at advances with the schedule (event k is due k/rate seconds
 * into the run), as it would for clients signing as they publish. */
static int lg_make_fan(lg_signer *s, uint32_t k, ns_event **out)
{
    eg_rng *r = &s->r;
    const eg_author *a = &lg_pub_authors[eg_below(r, (uint32_t)lg_pub_nauthors)];
    uint32_t kind = eg_below(r, 10) == 0 ? 7 : 1;
    eg_draft_begin(&s->d, a->hex, lg_created_at + (int64_t)((double)k / G.o.rate), kind);
    char hex[65];
    eg_hex32(r, hex);
    eg_draft_tag(&s->d, "e", hex, NULL);
    uint32_t np = 1 + eg_below(r, 2);
    for (uint32_t i = 0; i < np; i++)
        eg_draft_tag(&s->d, "p", lg_fan_p[eg_below(r, (uint32_t)lg_fan_np)], NULL);
    eg_draft_tag(&s->d, "t", lg_fan_t[eg_below(r, (uint32_t)lg_fan_nt)], NULL);
    ns_buf_reset(&s->content);
    eg_text(r, 300 + eg_below(r, 480), &s->content);
    return eg_draft_sign(&s->d, s->content.data, s->content.len, s->ctx, a, &s->scratch, out);
}

/* ---- connections: sending ----------------------------------------------------------- */

static void lg_queue(lg_conn *c, const char *data, size_t len, int64_t *stamp)
{
    lg_msg *m = malloc(sizeof *m + len);
    if (m == NULL)
        return;
    m->next = NULL;
    m->stamp = stamp;
    m->len = len;
    memcpy(m->data, data, len);
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out_head = m;
    c->out_tail = m;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

static void lg_queue_free(lg_conn *c)
{
    while (c->out_head) {
        lg_msg *m = c->out_head;
        c->out_head = m->next;
        free(m);
    }
    c->out_tail = NULL;
}

/* Writes one text message (copied: lws masks client frames in place).
 * Returns 0 or -1 (the connection is then closed). */
static int lg_write(lg_conn *c, const char *data, size_t len)
{
    ns_buf *b = &c->t->wbuf;
    ns_buf_reset(b);
    if (ns_buf_reserve(b, LWS_PRE + len) != 0)
        return -1;
    memcpy(b->data + LWS_PRE, data, len);
    if (lws_write(c->wsi, (unsigned char *)b->data + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    return 0;
}

static bool lg_run_open(void)
{
    return atomic_load_explicit(&G.phase, memory_order_acquire) == PH_RUN && lg_now() < G.t_run_end;
}

/* Open loop: events already due are still sent while the run drains. */
static bool lg_ring_open(void)
{
    int ph = atomic_load_explicit(&G.phase, memory_order_acquire);
    return ph == PH_RUN || ph == PH_DRAIN;
}

/* The next event this thread may publish, or -1 when its share is spent. */
static long lg_next_event(lg_thread *t)
{
    if (t->ev_next >= t->ev_hi) {
        if (!t->exhausted) {
            t->exhausted = true;
            atomic_fetch_add(&G.exhausted, 1);
        }
        return -1;
    }
    return t->ev_next++;
}

static int lg_send_event(lg_conn *c, uint32_t i)
{
    lg_ev *e = &G.ev[i];
    int64_t now = lg_now();
    atomic_store_explicit(&e->t_send, now, memory_order_release);
    e->state = EV_SENT;
    c->t->st.sent++;
    atomic_fetch_add(&G.outstanding, 1);
    if (e->t_intended && now - e->t_intended > c->t->max_lag)
        c->t->max_lag = now - e->t_intended;
    return lg_write(c, e->msg, e->len);
}

static int lg_on_writable(lg_conn *c)
{
    if (c->state == C_CLOSING) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
        return -1;
    }
    int rc = 0;
    if (c->out_head) {
        lg_msg *m = c->out_head;
        c->out_head = m->next;
        if (c->out_head == NULL)
            c->out_tail = NULL;
        if (m->stamp)
            *m->stamp = lg_now();
        rc = lg_write(c, m->data, m->len);
        free(m);
    } else if (c->ring_len > 0 && lg_ring_open()) {
        uint32_t i = c->ring[c->ring_head];
        c->ring_head = (c->ring_head + 1) % LG_RING;
        c->ring_len--;
        rc = lg_send_event(c, i);
    } else if (G.o.sc == SC_PUBLISH && G.o.rate <= 0 && c->credit > 0 && lg_run_open()) {
        long i = lg_next_event(c->t);
        if (i >= 0) {
            c->credit--;
            rc = lg_send_event(c, (uint32_t)i);
        }
    }
    if (rc == 0 && (c->out_head || (c->ring_len > 0 && lg_ring_open()) ||
                    (G.o.sc == SC_PUBLISH && G.o.rate <= 0 && c->credit > 0 && lg_run_open() &&
                     !c->t->exhausted)))
        lws_callback_on_writable(c->wsi);
    return rc;
}

/* ---- req: the shapes ---------------------------------------------------------------- */

static const char *lg_pick(char **v, size_t n, eg_rng *r) { return v[eg_below(r, (uint32_t)n)]; }

static void lg_req_filter(lg_thread *t, ns_buf *b)
{
    eg_rng *r = &t->rng;
    lg_shape sh = G.o.shape;
    if (sh == SH_MIX) {
        uint32_t roll = eg_below(r, 10);
        sh = roll < 4 ? SH_AKL10 : roll < 6 ? SH_TAGP : roll < 8 ? SH_IDS : roll < 9 ? SH_FOLLOWS
                                                                                    : SH_LIMIT100;
    }
    switch (sh) {
    case SH_AKL10:
        ns_buf_addf(b, "{\"authors\":[\"%s\"],\"kinds\":[1],\"limit\":10}", lg_pick(G.authors, G.nauthors, r));
        break;
    case SH_LIMIT100:
        ns_buf_adds(b, "{\"kinds\":[1],\"limit\":100}");
        break;
    case SH_TAGP:
        ns_buf_addf(b, "{\"#p\":[\"%s\"],\"kinds\":[1,7],\"limit\":20}", lg_pick(G.authors, G.nauthors, r));
        break;
    case SH_IDS:
        ns_buf_adds(b, "{\"ids\":[");
        for (int i = 0; i < 10; i++)
            ns_buf_addf(b, "%s\"%s\"", i ? "," : "", lg_pick(G.ids, G.nids, r));
        ns_buf_adds(b, "]}");
        break;
    case SH_FOLLOWS:
        ns_buf_adds(b, "{\"authors\":[");
        for (int i = 0; i < 50; i++)
            ns_buf_addf(b, "%s\"%s\"", i ? "," : "", lg_pick(G.authors, G.nauthors, r));
        ns_buf_adds(b, "],\"kinds\":[1,6],\"limit\":50}");
        break;
    case SH_TAGT: /* a feed of three followed hashtags */
        ns_buf_addf(b, "{\"#t\":[\"%s\",\"%s\",\"%s\"],\"kinds\":[1],\"limit\":50}", eg_topic(r), eg_topic(r),
                    eg_topic(r));
        break;
    default:
        break;
    }
}

/* Sends the next REQ on a slot (a fresh generation of its subscription
 * id), when the run is open and the count allows. */
static void lg_req_issue(lg_conn *c, int s)
{
    lg_slot *sl = &c->slots[s];
    if (!lg_run_open())
        return;
    if (G.o.count > 0 && atomic_fetch_add(&G.req_claimed, 1) >= G.o.count) {
        if (!c->t->exhausted) {
            c->t->exhausted = true;
            atomic_fetch_add(&G.exhausted, 1);
        }
        return;
    }
    ns_buf b = NS_BUF_INIT;
    sl->gen++;
    ns_buf_addf(&b, "[\"REQ\",\"q%d.%u\",", s, sl->gen);
    lg_req_filter(c->t, &b);
    ns_buf_addc(&b, ']');
    if (ns_buf_ok(&b)) {
        sl->busy = true;
        sl->events = 0;
        sl->t_sent = lg_now();
        c->t->st.sent++;
        atomic_fetch_add(&G.outstanding, 1);
        lg_queue(c, b.data, b.len, &sl->t_sent);
    }
    ns_buf_free(&b);
}

static void lg_req_close(lg_conn *c, int s, uint32_t gen)
{
    char m[64];
    int n = snprintf(m, sizeof m, "[\"CLOSE\",\"q%d.%u\"]", s, gen);
    lg_queue(c, m, (size_t)n, NULL);
}

/* "q<slot>.<gen>" -> the slot, when the generation is current. */
static lg_slot *lg_req_slot(lg_conn *c, const char *sid, size_t len, int *slot)
{
    if (len < 4 || sid[0] != 'q' || c->slots == NULL)
        return NULL;
    char *end;
    long s = strtol(sid + 1, &end, 10);
    if (*end != '.' || s < 0 || s >= c->nslots)
        return NULL;
    unsigned long g = strtoul(end + 1, &end, 10);
    if ((size_t)(end - sid) != len || c->slots[s].gen != g || !c->slots[s].busy)
        return NULL;
    *slot = (int)s;
    return &c->slots[s];
}

/* ---- incoming messages ---------------------------------------------------------------- */

static const char *lg_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Reads ["VERB", and returns VERB in verb (NUL-terminated, at most 15
 * characters) and the position after the comma; NULL when the message
 * does not start that way. */
static const char *lg_verb(const char *m, size_t len, char verb[16])
{
    const char *p = m, *end = m + len;
    p = lg_skip_ws(p, end);
    if (p >= end || *p++ != '[')
        return NULL;
    p = lg_skip_ws(p, end);
    if (p >= end || *p++ != '"')
        return NULL;
    size_t n = 0;
    while (p < end && *p != '"' && *p != '\\' && n < 15)
        verb[n++] = *p++;
    verb[n] = '\0';
    if (p >= end || *p++ != '"')
        return NULL;
    p = lg_skip_ws(p, end);
    if (p < end && *p == ',')
        p++;
    return lg_skip_ws(p, end);
}

static void lg_on_ok(lg_conn *c, json_t *msg)
{
    lg_thread *t = c->t;
    const char *idhex = json_string_value(json_array_get(msg, 1));
    const json_t *okv = json_array_get(msg, 2);
    const char *why = json_string_value(json_array_get(msg, 3));
    long i = idhex ? lg_index_find_hex(idhex, strlen(idhex)) : -1;
    if (i < 0 || G.ev[i].state != EV_SENT || !json_is_boolean(okv)) {
        t->st.ok_unknown++;
        return;
    }
    lg_ev *e = &G.ev[i];
    int64_t now = lg_now();
    int64_t from = e->t_intended ? e->t_intended : atomic_load(&e->t_send);
    if (G.o.sc == SC_PUBLISH) /* fanout's latency is publish to delivery */
        lg_lat_add(&t->lat, now - from);
    t->st.t_last_reply = now;
    atomic_fetch_sub(&G.outstanding, 1);
    if (json_is_true(okv)) {
        e->state = EV_OK;
        t->st.ok_true++;
        if (why && strncmp(why, "duplicate:", 10) == 0)
            t->st.ok_dup++;
    } else {
        e->state = EV_REJECTED;
        t->st.ok_false++;
        lg_prefix_add(&t->st.ok_prefix, why ? why : "", 1);
        if (G.o.verbose && t->st.ok_false <= 3)
            fprintf(stderr, "%s: OK false: %s\n", lg_arg0, why ? why : "");
    }
    if (G.o.sc == SC_PUBLISH && G.o.rate <= 0) {
        c->credit++;
        if (c->wsi)
            lws_callback_on_writable(c->wsi);
    }
}

static void lg_on_eose(lg_conn *c, const char *sid, size_t len)
{
    lg_thread *t = c->t;
    if (G.o.sc == SC_FANOUT && sid[0] == 'f') {
        long s = strtol(sid + 1, NULL, 10);
        if (s >= 0 && s < G.o.subs) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&G.subs[s].state, &expect, 1))
                atomic_fetch_add(&G.n_ready, 1);
        }
        return;
    }
    if (G.o.sc == SC_CONNECT && c->slots && c->slots[0].busy) {
        c->slots[0].busy = false;
        lg_lat_add(&t->lat, lg_now() - c->slots[0].t_sent);
        lg_queue(c, "[\"CLOSE\",\"t\"]", 13, NULL);
        atomic_fetch_add(&G.n_ready, 1);
        return;
    }
    int s;
    lg_slot *sl = lg_req_slot(c, sid, len, &s);
    if (sl == NULL)
        return;
    int64_t now = lg_now();
    lg_lat_add(&t->lat, now - sl->t_sent);
    t->st.reqs_done++;
    t->st.t_last_reply = now;
    sl->busy = false;
    atomic_fetch_sub(&G.outstanding, 1);
    lg_req_close(c, s, sl->gen);
    lg_req_issue(c, s);
}

static void lg_on_closed(lg_conn *c, const char *sid, size_t len, const char *why)
{
    lg_thread *t = c->t;
    t->st.closed++;
    lg_prefix_add(&t->st.closed_prefix, why ? why : "", 1);
    if (G.o.verbose && t->st.closed <= 3)
        fprintf(stderr, "%s: CLOSED %.*s: %s\n", lg_arg0, (int)len, sid, why ? why : "");
    if (G.o.sc == SC_FANOUT && sid[0] == 'f') {
        long s = strtol(sid + 1, NULL, 10);
        if (s >= 0 && s < G.o.subs) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&G.subs[s].state, &expect, 2))
                atomic_fetch_add(&G.n_refused, 1);
        }
        return;
    }
    if (G.o.sc == SC_CONNECT && c->slots && c->slots[0].busy) {
        c->slots[0].busy = false;
        atomic_fetch_add(&G.n_refused, 1);
        return;
    }
    int s;
    lg_slot *sl = lg_req_slot(c, sid, len, &s);
    if (sl == NULL)
        return;
    sl->busy = false;
    t->st.t_last_reply = lg_now();
    atomic_fetch_sub(&G.outstanding, 1);
    lg_req_issue(c, s);
}

/* fanout: one delivery, checked against the expectations. */
static void lg_on_fan_event(lg_conn *c, json_t *msg)
{
    lg_thread *t = c->t;
    int64_t now = lg_now();
    const char *sid = json_string_value(json_array_get(msg, 1));
    const json_t *ev = json_array_get(msg, 2);
    const char *idhex = json_string_value(json_object_get(ev, "id"));
    t->st.fan_rx++;
    long i = idhex ? lg_index_find_hex(idhex, strlen(idhex)) : -1;
    long s = (sid && sid[0] == 'f') ? strtol(sid + 1, NULL, 10) : -1;
    if (i < 0 || s < 0 || s >= G.o.subs) {
        t->st.fan_unknown++;
        return;
    }
    lg_ev *e = &G.ev[i];
    for (uint32_t k = e->exp_off; k < e->exp_off + e->exp_n; k++) {
        if (G.exp_sub[k] != (uint32_t)s)
            continue;
        if (atomic_exchange_explicit(&G.exp_got[k], 1, memory_order_relaxed)) {
            t->st.fan_duplicate++;
        } else {
            int64_t sent = atomic_load_explicit(&e->t_send, memory_order_acquire);
            lg_lat_add(&t->lat, now - sent);
            if (now - sent > (int64_t)(G.o.grace * 1e9))
                t->st.fan_late++;
        }
        return;
    }
    t->st.fan_unexpected++;
}

static void lg_on_message(lg_conn *c, const char *m, size_t len)
{
    lg_thread *t = c->t;
    char verb[16];
    t->st.bytes_rx += len;
    const char *rest = lg_verb(m, len, verb);
    if (rest == NULL) {
        t->st.unknown_msgs++;
        return;
    }
    if (strcmp(verb, "EVENT") == 0 && G.o.sc != SC_FANOUT) {
        /* Counted, not parsed: read the subscription id only. */
        const char *end = m + len, *p = rest;
        t->st.events_rx++;
        if (p < end && *p == '"') {
            const char *q = ++p;
            while (q < end && *q != '"' && *q != '\\')
                q++;
            int s;
            lg_slot *sl = lg_req_slot(c, p, (size_t)(q - p), &s);
            if (sl)
                sl->events++;
        }
        return;
    }
    json_error_t jerr;
    json_t *msg = json_loadb(m, len, JSON_ALLOW_NUL, &jerr);
    if (msg == NULL || !json_is_array(msg)) {
        t->st.unknown_msgs++;
        json_decref(msg);
        return;
    }
    const char *sid = json_string_value(json_array_get(msg, 1));
    size_t sidlen = sid ? json_string_length(json_array_get(msg, 1)) : 0;
    if (strcmp(verb, "OK") == 0) {
        lg_on_ok(c, msg);
    } else if (strcmp(verb, "EVENT") == 0) {
        lg_on_fan_event(c, msg);
    } else if (strcmp(verb, "EOSE") == 0 && sid) {
        lg_on_eose(c, sid, sidlen);
    } else if (strcmp(verb, "CLOSED") == 0 && sid) {
        lg_on_closed(c, sid, sidlen, json_string_value(json_array_get(msg, 2)));
    } else if (strcmp(verb, "NOTICE") == 0) {
        t->st.notices++;
        if (t->st.nnotice_samples < 3 && sid)
            snprintf(t->st.notice_sample[t->st.nnotice_samples++], sizeof t->st.notice_sample[0],
                     "%s", sid);
    } else if (strcmp(verb, "AUTH") == 0) {
        t->st.auth++;
    } else {
        t->st.unknown_msgs++;
    }
    json_decref(msg);
}

/* ---- the libwebsockets callback --------------------------------------------------------- */

static void lg_conn_dead(lg_conn *c)
{
    if (c->state == C_DEAD)
        return;
    if (c->state == C_CONNECTING)
        c->t->connecting--;
    c->state = C_DEAD;
    c->wsi = NULL;
    lg_queue_free(c);
    ns_buf_free(&c->rx);
    atomic_fetch_add(&G.n_dead, 1);
}

static int lg_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    lg_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (c == NULL)
            return -1;
        c->wsi = wsi;
        c->t->connecting--;
        c->state = C_OPEN;
        lg_lat_add(&c->t->lat_connect, lg_now() - c->t_connect);
        atomic_fetch_add(&G.n_open, 1);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c == NULL || c->state == C_DEAD)
            return 0;
        if (c->state == C_CONNECTING) {
            c->t->st.connect_fail++;
            if (c->t->st.connect_fail <= 3 || G.o.verbose)
                fprintf(stderr, "%s: connection %d failed: %s\n", lg_arg0, c->idx,
                        in ? (const char *)in : "(no reason)");
        } else if (atomic_load(&G.phase) < PH_CLOSE) {
            c->t->st.disconnects++;
        }
        lg_conn_dead(c);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && atomic_load(&G.phase) < PH_CLOSE) {
            c->t->st.peer_closes++;
            if (c->t->st.close_sample[0] == '\0' && len >= 2) {
                const unsigned char *p = in;
                snprintf(c->t->st.close_sample, sizeof c->t->st.close_sample, "%u %.*s",
                         (unsigned)(p[0] << 8 | p[1]), (int)(len - 2 > 150 ? 150 : len - 2),
                         (const char *)in + 2);
            }
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c == NULL)
            return 0;
        if (c->state == C_OPEN && atomic_load(&G.phase) < PH_CLOSE)
            c->t->st.disconnects++;
        lg_conn_dead(c);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c == NULL || c->state == C_DEAD)
            return 0;
        if (lws_is_first_fragment(wsi))
            ns_buf_reset(&c->rx);
        ns_buf_add(&c->rx, in, len);
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
            if (ns_buf_ok(&c->rx))
                lg_on_message(c, c->rx.data ? c->rx.data : "", c->rx.len);
            ns_buf_reset(&c->rx);
            if (c->rx.cap > (1u << 20))
                ns_buf_free(&c->rx);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c == NULL || c->state == C_DEAD)
            return 0;
        return lg_on_writable(c);
    default:
        return 0;
    }
}

static const struct lws_protocols lg_protocols[] = {
    {"loadgen", lg_callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_extension lg_deflate_ext[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate, "permessage-deflate; client_max_window_bits"},
    {NULL, NULL, NULL},
};

/* ---- the service threads ------------------------------------------------------------------ */

static void lg_connect_one(lg_thread *t, lg_conn *c)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = t->ctx;
    ci.address = G.o.host;
    ci.port = G.o.port;
    ci.path = G.o.path;
    ci.host = G.o.hosthdr;
    ci.origin = G.o.hosthdr;
    ci.local_protocol_name = "loadgen";
    ci.userdata = c;
    ci.pwsi = &c->wsi;
    c->state = C_CONNECTING;
    c->t_connect = lg_now();
    t->connecting++;
    if (lws_client_connect_via_info(&ci) == NULL && c->state == C_CONNECTING) {
        t->st.connect_fail++;
        lg_conn_dead(c);
    }
}

/* Entering a phase: what each scenario does once per connection. */
static void lg_enter_phase(lg_thread *t, int ph)
{
    for (int i = 0; i < t->nconns; i++) {
        lg_conn *c = &t->conns[i];
        if (c->state != C_OPEN)
            continue;
        if (ph == PH_SETUP && G.o.sc == SC_FANOUT && !c->publisher) {
            ns_buf b = NS_BUF_INIT;
            for (int s = c->idx - G.o.pub_conns; s < G.o.subs; s += G.o.conns) {
                ns_buf_reset(&b);
                ns_buf_addf(&b, "[\"REQ\",\"f%d\",%s]", s, G.subs[s].filter_json);
                if (ns_buf_ok(&b))
                    lg_queue(c, b.data, b.len, NULL);
            }
            ns_buf_free(&b);
        } else if (ph == PH_SETUP && G.o.sc == SC_CONNECT && G.o.touch) {
            char m[160], hex[65];
            eg_hex32(&t->rng, hex);
            int n = snprintf(m, sizeof m, "[\"REQ\",\"t\",{\"ids\":[\"%s\"]}]", hex);
            c->slots[0].busy = true;
            c->slots[0].t_sent = lg_now();
            lg_queue(c, m, (size_t)n, &c->slots[0].t_sent);
        } else if (ph == PH_RUN && G.o.sc == SC_PUBLISH && G.o.rate <= 0) {
            c->credit = G.o.inflight;
            lws_callback_on_writable(c->wsi);
        } else if (ph == PH_RUN && G.o.sc == SC_REQ) {
            for (int s = 0; s < c->nslots; s++)
                lg_req_issue(c, s);
        } else if (ph == PH_CLOSE) {
            t->st.not_sent += c->ring_len;
            c->ring_len = 0;
            c->state = C_CLOSING;
            lws_callback_on_writable(c->wsi);
        }
    }
}

/* Open loop: hands the events due by now to the publishing connections,
 * round robin, each with the time it was due. */
static void lg_schedule(lg_thread *t, int64_t now)
{
    if (t->rate <= 0 || now >= G.t_run_end)
        return;
    uint64_t due = (uint64_t)((double)(now - G.t_run0) / 1e9 * t->rate);
    while (t->scheduled < due) {
        long i = lg_next_event(t);
        if (i < 0)
            return;
        int64_t when = G.t_run0 + (int64_t)((double)t->scheduled * 1e9 / t->rate);
        t->scheduled++;
        G.ev[i].t_intended = when ? when : 1;
        /* fanout's publishers are the first connections of thread 0 */
        int span = G.o.sc == SC_FANOUT ? G.o.pub_conns : t->nconns;
        lg_conn *c = NULL;
        for (int k = 0; k < span && c == NULL; k++) {
            lg_conn *x = &t->conns[(t->rr + k) % span];
            if (x->state == C_OPEN)
                c = x;
        }
        if (c == NULL) {
            t->st.not_sent++;
            continue;
        }
        t->rr = (int)((c - t->conns) + 1) % span;
        if (c->ring_len == LG_RING) {
            t->st.not_sent++;
            continue;
        }
        c->ring[(c->ring_head + c->ring_len) % LG_RING] = (uint32_t)i;
        c->ring_len++;
        lws_callback_on_writable(c->wsi);
    }
}

/* req: REQs that got no EOSE within --timeout are given up and replaced. */
static void lg_req_timeouts(lg_thread *t, int64_t now)
{
    int64_t limit = (int64_t)(G.o.timeout * 1e9);
    for (int i = 0; i < t->nconns; i++) {
        lg_conn *c = &t->conns[i];
        if (c->state != C_OPEN || c->slots == NULL)
            continue;
        for (int s = 0; s < c->nslots; s++) {
            lg_slot *sl = &c->slots[s];
            if (sl->busy && now - sl->t_sent > limit) {
                t->st.timeouts++;
                sl->busy = false;
                atomic_fetch_sub(&G.outstanding, 1);
                lg_req_close(c, s, sl->gen);
                lg_req_issue(c, s);
            }
        }
    }
}

static void lg_destroy_cb(uv_timer_t *timer);

static void lg_tick(lws_sorted_usec_list_t *sul)
{
    lg_thread *t = (lg_thread *)sul; /* sul is the first member */
    int ph = atomic_load_explicit(&G.phase, memory_order_acquire);
    int64_t now = lg_now();
    while (t->phase_seen < ph) {
        t->phase_seen++;
        lg_enter_phase(t, t->phase_seen);
    }
    if (ph == PH_CONNECT) {
        int burst = G.o.connect_burst / G.nthreads;
        while (t->next_connect < t->nconns && t->connecting < (burst > 0 ? burst : 1))
            lg_connect_one(t, &t->conns[t->next_connect++]);
    }
    if (ph == PH_RUN) {
        lg_schedule(t, now);
        if (G.o.sc == SC_REQ)
            lg_req_timeouts(t, now);
    }
    if (ph == PH_EXIT) {
        t->exit = true;
        if (t->uv) {
            uv_timer_init(&t->loop, &t->destroyer);
            t->destroyer.data = t;
            uv_timer_start(&t->destroyer, lg_destroy_cb, 0, 0);
        } else {
            lws_cancel_service(t->ctx); /* so that lws_service returns now */
        }
        return;
    }
    lws_sul_schedule(t->ctx, 0, &t->sul, lg_tick, 1000);
}

static void lg_guard_cb(uv_timer_t *timer) { uv_stop(timer->loop); }

/* libuv: the context is destroyed from a timer of the loop, as lws wants
 * for a loop it was lent, and the loop runs on until lws has closed its
 * handles and freed the rest; the guard (which alone does not keep the
 * loop alive) bounds that to 3 s. */
static void lg_destroy_cb(uv_timer_t *timer)
{
    lg_thread *t = timer->data;
    uv_close((uv_handle_t *)timer, NULL);
    lws_context_destroy(t->ctx);
    t->ctx_closing = t->ctx;
    t->ctx = NULL;
    uv_timer_init(&t->loop, &t->guard);
    uv_timer_start(&t->guard, lg_guard_cb, 3000, 0);
    uv_unref((uv_handle_t *)&t->guard);
}

static void *lg_thread_main(void *arg)
{
    lg_thread *t = arg;
    if (t->uv) {
        while (t->ctx != NULL)
            uv_run(&t->loop, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&t->guard, NULL);
        uv_run(&t->loop, UV_RUN_NOWAIT);
        lws_context_destroy(t->ctx_closing); /* the second call frees the context (lws 4.1) */
        uv_loop_close(&t->loop);
    } else {
        while (!t->exit)
            if (lws_service(t->ctx, 0) < 0)
                break;
        lws_context_destroy(t->ctx); /* closes whatever is still open */
        t->ctx = NULL;
    }
    for (int i = 0; i < t->nconns; i++) {
        lg_queue_free(&t->conns[i]);
        ns_buf_free(&t->conns[i].rx);
    }
    ns_buf_free(&t->wbuf);
    return NULL;
}

static int lg_threads_start(void)
{
    G.th = lg_xcalloc((size_t)G.nthreads, sizeof *G.th);
    for (int k = 0; k < G.nthreads; k++) {
        lg_thread *t = &G.th[k];
        t->idx = k;
        int lo = (int)((long)G.nconns * k / G.nthreads), hi = (int)((long)G.nconns * (k + 1) / G.nthreads);
        t->conns = &G.conns[lo];
        t->nconns = hi - lo;
        for (int i = 0; i < t->nconns; i++)
            t->conns[i].t = t;
        eg_rng_seed(&t->rng, G.o.seed + 1000003u * (uint64_t)(k + 1));
        struct lws_context_creation_info info;
        memset(&info, 0, sizeof info);
        info.port = CONTEXT_PORT_NO_LISTEN;
        info.protocols = lg_protocols;
        info.extensions = G.o.deflate ? lg_deflate_ext : NULL;
        info.options = LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        info.timeout_secs = 30;
        info.connect_timeout_secs = (unsigned)(G.o.setup_timeout > 1 ? G.o.setup_timeout : 1);
        if (G.o.evlib && uv_loop_init(&t->loop) == 0) {
            /* A loop of our own ("foreign" to lws), so that we can stop it:
             * lws 4.1's internal libuv loop never returns from lws_service. */
            t->loops[0] = &t->loop;
            info.foreign_loops = t->loops;
            info.options |= LWS_SERVER_OPTION_LIBUV;
            t->ctx = lws_create_context(&info);
            if (t->ctx == NULL) {
                uv_loop_close(&t->loop);
                fprintf(stderr, "%s: libuv event loop unavailable, using poll()\n", lg_arg0);
                G.o.evlib = 0;
                info.foreign_loops = NULL;
                info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBUV;
            } else {
                t->uv = true;
            }
        }
        if (t->ctx == NULL)
            t->ctx = lws_create_context(&info);
        if (t->ctx == NULL) {
            fprintf(stderr, "%s: cannot create a libwebsockets context\n", lg_arg0);
            return -1;
        }
        lws_sul_schedule(t->ctx, 0, &t->sul, lg_tick, 1000);
    }
    for (int k = 0; k < G.nthreads; k++)
        if (pthread_create(&G.th[k].th, NULL, lg_thread_main, &G.th[k]) != 0) {
            fprintf(stderr, "%s: cannot start a thread\n", lg_arg0);
            return -1;
        }
    return 0;
}

static void lg_set_phase(int ph)
{
    if (atomic_load(&G.phase) == ph)
        return;
    if (G.o.verbose)
        fprintf(stderr, "%s: phase %s\n", lg_arg0, lg_phase_names[ph]);
    atomic_store_explicit(&G.phase, ph, memory_order_release);
}

/* Waits (polling every 5 ms) until done() or the deadline; true if done. */
static bool lg_wait(bool (*done)(void), int64_t deadline)
{
    while (!done()) {
        if (lg_now() >= deadline)
            return false;
        lg_sleep_ms(5);
    }
    return true;
}

static bool lg_all_connected(void)
{
    return atomic_load(&G.n_open) + atomic_load(&G.n_dead) >= G.nconns;
}
static bool lg_all_subscribed(void)
{
    int want = G.o.sc == SC_FANOUT ? G.o.subs : atomic_load(&G.n_open);
    return atomic_load(&G.n_ready) + atomic_load(&G.n_refused) >= want;
}
static bool lg_run_over(void)
{
    return lg_now() >= G.t_run_end ||
           (atomic_load(&G.exhausted) >= G.nthreads && atomic_load(&G.outstanding) <= 0) ||
           atomic_load(&G.n_dead) >= G.nconns;
}
static bool lg_all_answered(void) { return atomic_load(&G.outstanding) <= 0; }
static bool lg_all_closed(void) { return atomic_load(&G.n_dead) >= G.nconns; }

/* fanout: every OK in and every expected delivery of an accepted event
 * to a live subscription received. Reads the atomics only. */
static bool lg_fan_complete(void)
{
    if (atomic_load(&G.outstanding) > 0)
        return false;
    for (uint32_t i = 0; i < G.nev; i++) {
        const lg_ev *e = &G.ev[i];
        if (e->state != EV_OK)
            continue;
        for (uint32_t k = e->exp_off; k < e->exp_off + e->exp_n; k++)
            if (!atomic_load_explicit(&G.exp_got[k], memory_order_relaxed) &&
                atomic_load(&G.subs[G.exp_sub[k]].state) == 1)
                return false;
    }
    return true;
}

/* ---- scenario preparation ---------------------------------------------------------------- */

static char **lg_read_hex_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", lg_arg0, path, strerror(errno));
        exit(2);
    }
    size_t cap = 1024, k = 0;
    char **v = lg_xcalloc(cap, sizeof *v);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0)
            continue;
        if (len != 64 || !ns_hex_is_lower(line, 64)) {
            fprintf(stderr, "%s: %s: not a 64-character lower-case hex line: %.80s\n", lg_arg0, path, line);
            exit(2);
        }
        if (k == cap) {
            cap *= 2;
            char **nv = realloc(v, cap * sizeof *v);
            if (nv == NULL) {
                fprintf(stderr, "%s: out of memory\n", lg_arg0);
                exit(1);
            }
            v = nv;
        }
        v[k++] = strdup(line);
    }
    fclose(f);
    if (k == 0) {
        fprintf(stderr, "%s: %s is empty\n", lg_arg0, path);
        exit(2);
    }
    *n = k;
    return v;
}

/* publish --events-file: pre-signed events, one per line, either as
 * ["EVENT",{...}] (seed --format jsonl) or as bare {...} objects. Each is
 * read with the relay core's parser for its id; the text is sent as is. */
static void lg_load_events_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", lg_arg0, path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, n = 0, lcap = 0, lineno = 0;
    G.ev = lg_xcalloc(cap, sizeof *G.ev);
    char *line = NULL;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        const char *open = strchr(line, '{'), *close = strrchr(line, '}');
        ns_event *ev;
        char why[256];
        if (open == NULL || close == NULL || close < open ||
            ns_event_parse(open, (size_t)(close - open + 1), &ev, why, sizeof why) != 0) {
            fprintf(stderr, "%s: %s:%zu: not an event (%s)\n", lg_arg0, path, lineno,
                    open ? why : "no object");
            exit(2);
        }
        if (n == cap) {
            cap *= 2;
            lg_ev *v = realloc(G.ev, cap * sizeof *v);
            if (v == NULL) {
                fprintf(stderr, "%s: out of memory\n", lg_arg0);
                exit(1);
            }
            memset(v + n, 0, (cap - n) * sizeof *v);
            G.ev = v;
        }
        lg_ev *e = &G.ev[n++];
        memcpy(e->id, ev->id, 32);
        free(ev);
        ns_buf b = NS_BUF_INIT;
        if (line[0] == '{')
            ns_buf_adds(&b, "[\"EVENT\",");
        ns_buf_add(&b, line, (size_t)len);
        if (line[0] == '{')
            ns_buf_addc(&b, ']');
        ns_buf_addc(&b, '\0');
        if (!ns_buf_ok(&b) || b.len - 1 > UINT32_MAX) {
            fprintf(stderr, "%s: out of memory\n", lg_arg0);
            exit(1);
        }
        e->msg = b.data; /* the pool owns it */
        e->len = (uint32_t)(b.len - 1);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    if (n == 0) {
        fprintf(stderr, "%s: %s holds no events\n", lg_arg0, path);
        exit(2);
    }
    G.o.pool = (long)n;
    if (G.o.count > 0 && G.o.count < G.o.pool) {
        for (size_t i = (size_t)G.o.count; i < n; i++)
            free(G.ev[i].msg);
        G.o.pool = G.o.count;
    }
    G.nev = (uint32_t)G.o.pool;
    lg_index_build();
}

static void lg_prepare_publish(void)
{
    if (G.o.events_file) {
        lg_load_events_file(G.o.events_file);
        return;
    }
    eg_rng r;
    eg_rng_seed(&r, G.o.seed ^ 0x5bd1e995u);
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    lg_pub_nauthors = (size_t)G.o.authors;
    lg_pub_authors = eg_authors_new(ctx, &r, lg_pub_nauthors);
    secp256k1_context_destroy(ctx);
    if (lg_pub_authors == NULL) {
        fprintf(stderr, "%s: out of memory\n", lg_arg0);
        exit(1);
    }
    lg_presign((uint32_t)G.o.pool, lg_make_note, NULL);
}

static void lg_add_sub(uint32_t **lists, uint32_t *lens, uint32_t *caps, size_t key, uint32_t s)
{
    if (lens[key] == caps[key]) {
        caps[key] = caps[key] ? caps[key] * 2 : 4;
        uint32_t *v = realloc(lists[key], caps[key] * sizeof *v);
        if (v == NULL) {
            fprintf(stderr, "%s: out of memory\n", lg_arg0);
            exit(1);
        }
        lists[key] = v;
    }
    lists[key][lens[key]++] = s;
}

/* fanout: pools of authors, p targets and topics unique to this run;
 * subscriptions over them; events over them; and for every event the
 * exact set of subscriptions it matches (by the same filter code the
 * relay core uses, proven against nostr-tools). */
static void lg_prepare_fanout(void)
{
    size_t M = (size_t)G.o.subs;
    eg_rng r;
    eg_rng_seed(&r, G.o.seed ^ 0xfa0u);
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    lg_pub_nauthors = M / 5 > 100 ? M / 5 : 100;
    lg_pub_authors = eg_authors_new(ctx, &r, lg_pub_nauthors);
    secp256k1_context_destroy(ctx);
    lg_fan_np = lg_pub_nauthors;
    lg_fan_p = lg_xcalloc(lg_fan_np, sizeof *lg_fan_p);
    for (size_t i = 0; i < lg_fan_np; i++)
        eg_hex32(&r, lg_fan_p[i]);
    lg_fan_nt = M / 50 > 20 ? M / 50 : 20;
    lg_fan_t = lg_xcalloc(lg_fan_nt, sizeof *lg_fan_t);
    uint32_t run = (uint32_t)eg_rand(&r);
    for (size_t i = 0; i < lg_fan_nt; i++)
        snprintf(lg_fan_t[i], sizeof lg_fan_t[i], "lg%08x-%u", run, (unsigned)(i % 1000000));

    /* Subscriptions: 40% one author (30% of them with two more authors),
     * 20% one author and kinds [1], 30% one p target, 10% one topic and
     * kinds [1]; all with since = the events' created_at, so stored
     * events from other runs cannot match. */
    uint32_t **by_a = lg_xcalloc(lg_pub_nauthors, sizeof *by_a), *na = lg_xcalloc(lg_pub_nauthors, 4),
             *ca = lg_xcalloc(lg_pub_nauthors, 4);
    uint32_t **by_p = lg_xcalloc(lg_fan_np, sizeof *by_p), *np = lg_xcalloc(lg_fan_np, 4),
             *cp = lg_xcalloc(lg_fan_np, 4);
    uint32_t **by_t = lg_xcalloc(lg_fan_nt, sizeof *by_t), *nt = lg_xcalloc(lg_fan_nt, 4),
             *ct = lg_xcalloc(lg_fan_nt, 4);
    G.subs = lg_xcalloc(M, sizeof *G.subs);
    ns_filter_opts fo = {64, 0};
    ns_buf b = NS_BUF_INIT;
    for (uint32_t s = 0; s < M; s++) {
        ns_buf_reset(&b);
        uint32_t shape = s % 10;
        if (shape < 4) {
            uint32_t a = eg_below(&r, (uint32_t)lg_pub_nauthors);
            lg_add_sub(by_a, na, ca, a, s);
            ns_buf_addf(&b, "{\"authors\":[\"%s\"", lg_pub_authors[a].hex);
            if (shape == 3)
                for (int k = 0; k < 2; k++) {
                    uint32_t a2 = eg_below(&r, (uint32_t)lg_pub_nauthors);
                    if (a2 == a)
                        continue;
                    lg_add_sub(by_a, na, ca, a2, s);
                    ns_buf_addf(&b, ",\"%s\"", lg_pub_authors[a2].hex);
                }
            ns_buf_adds(&b, "]");
        } else if (shape < 6) {
            uint32_t a = eg_below(&r, (uint32_t)lg_pub_nauthors);
            lg_add_sub(by_a, na, ca, a, s);
            ns_buf_addf(&b, "{\"authors\":[\"%s\"],\"kinds\":[1]", lg_pub_authors[a].hex);
        } else if (shape < 9) {
            uint32_t p = eg_below(&r, (uint32_t)lg_fan_np);
            lg_add_sub(by_p, np, cp, p, s);
            ns_buf_addf(&b, "{\"#p\":[\"%s\"]", lg_fan_p[p]);
        } else {
            uint32_t tt = eg_below(&r, (uint32_t)lg_fan_nt);
            lg_add_sub(by_t, nt, ct, tt, s);
            ns_buf_addf(&b, "{\"#t\":[\"%s\"],\"kinds\":[1]", lg_fan_t[tt]);
        }
        ns_buf_addf(&b, ",\"since\":%" PRId64 "}", lg_created_at);
        if (!ns_buf_ok(&b)) {
            fprintf(stderr, "%s: out of memory\n", lg_arg0);
            exit(1);
        }
        G.subs[s].filter_json = strndup(b.data, b.len);
        json_t *j = json_loadb(b.data, b.len, 0, NULL);
        char why[256];
        if (j == NULL || ns_filter_from_json(j, &fo, &G.subs[s].filter, why, sizeof why) != 0) {
            fprintf(stderr, "%s: internal error: bad filter %s\n", lg_arg0, G.subs[s].filter_json);
            exit(1);
        }
        json_decref(j);
    }
    ns_buf_free(&b);

    uint32_t nev = (uint32_t)ceil(G.o.rate * G.o.seconds) + 1;
    ns_event **evs = lg_xcalloc(nev, sizeof *evs);
    lg_presign(nev, lg_make_fan, evs);

    /* Expectations: candidates by author, p and t, confirmed by the matcher. */
    uint32_t *stamp = lg_xcalloc(M, sizeof *stamp);
    size_t cap = (size_t)nev * 8, n = 0;
    G.exp_sub = lg_xcalloc(cap, sizeof *G.exp_sub);
    for (uint32_t i = 0; i < nev; i++) {
        const ns_event *ev = evs[i];
        G.ev[i].exp_off = (uint32_t)n;
        uint32_t *lists[8];
        uint32_t lens[8];
        int nl = 0;
        for (size_t a = 0; a < lg_pub_nauthors; a++)
            if (memcmp(lg_pub_authors[a].pub, ev->pubkey, 32) == 0) {
                lists[nl] = by_a[a];
                lens[nl++] = na[a];
                break;
            }
        for (uint32_t g = 0; g < ev->ntags && nl < 8; g++) {
            const ns_tag *tg = &ev->tags[g];
            if (tg->n < 2)
                continue;
            if (tg->v[0].ptr[0] == 'p') {
                for (size_t p = 0; p < lg_fan_np; p++)
                    if (strcmp(lg_fan_p[p], tg->v[1].ptr) == 0) {
                        lists[nl] = by_p[p];
                        lens[nl++] = np[p];
                        break;
                    }
            } else if (tg->v[0].ptr[0] == 't') {
                for (size_t k = 0; k < lg_fan_nt; k++)
                    if (strcmp(lg_fan_t[k], tg->v[1].ptr) == 0) {
                        lists[nl] = by_t[k];
                        lens[nl++] = nt[k];
                        break;
                    }
            }
        }
        for (int l = 0; l < nl; l++)
            for (uint32_t k = 0; k < lens[l]; k++) {
                uint32_t s = lists[l][k];
                if (stamp[s] == i + 1)
                    continue;
                stamp[s] = i + 1;
                if (!ns_filter_match(G.subs[s].filter, ev))
                    continue;
                if (n == cap) {
                    cap *= 2;
                    uint32_t *v = realloc(G.exp_sub, cap * sizeof *v);
                    if (v == NULL) {
                        fprintf(stderr, "%s: out of memory\n", lg_arg0);
                        exit(1);
                    }
                    G.exp_sub = v;
                }
                G.exp_sub[n++] = s;
            }
        G.ev[i].exp_n = (uint32_t)(n - G.ev[i].exp_off);
        free(evs[i]);
    }
    G.nexp = n;
    G.exp_got = lg_xcalloc(n, sizeof *G.exp_got);
    free(evs);
    free(stamp);
    for (size_t a = 0; a < lg_pub_nauthors; a++)
        free(by_a[a]);
    for (size_t p = 0; p < lg_fan_np; p++)
        free(by_p[p]);
    for (size_t k = 0; k < lg_fan_nt; k++)
        free(by_t[k]);
    free(by_a), free(na), free(ca), free(by_p), free(np), free(cp), free(by_t), free(nt), free(ct);
    if (G.o.verbose)
        fprintf(stderr, "%s: %u events, %zu expected deliveries (%.1f per event)\n", lg_arg0, nev, n,
                (double)n / nev);
}

/* ---- command line --------------------------------------------------------------------------- */

static void lg_usage(FILE *f)
{
    fprintf(f,
            "usage: loadgen SCENARIO --url ws://HOST:PORT[/PATH] [--pid RELAY_PID] [options]\n"
            "scenarios:\n"
            "  publish   pre-signed kind-1 events (300-800 B, 2-5 e/p/t tags); OK latency, accepted/s\n"
            "  req       REQ after REQ against a seeded database; latency to EOSE, REQ/s\n"
            "  fanout    subscriptions, then a publisher; publish-to-delivery latency, missed\n"
            "  connect   idle connections; the relay's memory per connection (needs --pid)\n"
            "common options:\n"
            "  --url URL            relay (ws:// only; default ws://127.0.0.1:8008)\n"
            "  --pid PID            the relay's process: RSS every 100 ms and CPU seconds\n"
            "  --db-pid PID         also CPU seconds of this process and its children (postmaster)\n"
            "  -c, --conns N        connections (publish 50, req 20, fanout 1000, connect 10000)\n"
            "  -s, --seconds S      length of the timed part (10)\n"
            "  --threads T          client service threads (1)\n"
            "  --sign-threads T     threads signing events before the run (number of CPUs)\n"
            "  --seed X             random seed (default: from the OS; events are new each run)\n"
            "  --timeout S          publish: answer wait at the end; req: per REQ (10)\n"
            "  --setup-timeout S    connecting and subscribing (60)\n"
            "  --connect-burst N    handshakes in progress at once (200)\n"
            "  --evlib uv|poll      client event loop: libuv/epoll (default) or lws's poll()\n"
            "  -v, --verbose\n"
            "publish:\n"
            "  -w, --inflight W     events in flight per connection, closed loop (20)\n"
            "  -r, --rate R         open loop at R events/s instead (latency from the due time)\n"
            "  -n, --count N        stop after N events (the run ends at --seconds too)\n"
            "  --pool N             events to pre-sign (count, else rate*seconds, else 15000*seconds)\n"
            "  --authors N          distinct authors (1000)\n"
            "  --events-file F      replay pre-signed events instead, one per line (seed --format\n"
            "                       jsonl; '-' for stdin); ends when spent (or --count/--seconds)\n"
            "req:\n"
            "  --authors-file F     public keys, one per line (seed --authors-out)  [required]\n"
            "  --ids-file F         event ids, one per line (seed --ids-out)  [for ids, mix]\n"
            "  --shape S            authors-kinds-limit10 (default) | limit100 | tag-p | ids |\n"
            "                       follows | tag-t | mix\n"
            "  -w, --inflight K     REQs in flight per connection (1; relays allow ~10 subs)\n"
            "  -n, --count N        stop after N REQs\n"
            "fanout:\n"
            "  --subs M             subscriptions (10000), spread evenly over --conns\n"
            "  -r, --rate R         events/s published (1000)\n"
            "  --pub-conns P        publishing connections (4)\n"
            "  --grace S            wait for deliveries after the last publish (5)\n"
            "connect:\n"
            "  -n, --count N        same as --conns\n"
            "  --deflate            offer permessage-deflate\n"
            "  --touch              send one REQ (and CLOSE) on each connection first\n"
            "  --hold S             seconds to hold the connections before the last sample (3)\n");
}

static int lg_parse_url(lg_opts *o)
{
    const char *u = o->url;
    if (strncmp(u, "wss://", 6) == 0) {
        fprintf(stderr, "%s: wss:// is not supported: measure over ws:// on the relay's host\n", lg_arg0);
        return -1;
    }
    if (strncmp(u, "ws://", 5) != 0) {
        fprintf(stderr, "%s: the URL must start with ws://\n", lg_arg0);
        return -1;
    }
    u += 5;
    const char *hend;
    if (*u == '[') {
        hend = strchr(u, ']');
        if (hend == NULL)
            return -1;
        snprintf(o->host, sizeof o->host, "%.*s", (int)(hend - u - 1), u + 1);
        hend++;
    } else {
        hend = u + strcspn(u, ":/");
        snprintf(o->host, sizeof o->host, "%.*s", (int)(hend - u), u);
    }
    o->port = 80;
    if (*hend == ':') {
        char *end;
        long p = strtol(hend + 1, &end, 10);
        if (p <= 0 || p > 65535)
            return -1;
        o->port = (int)p;
        hend = end;
    }
    snprintf(o->path, sizeof o->path, "%s", *hend == '/' ? hend : "/");
    snprintf(o->hosthdr, sizeof o->hosthdr, "%.*s", (int)(hend - (o->url + 5)), o->url + 5);
    return o->host[0] ? 0 : -1;
}

static double lg_num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || v < 0) {
        fprintf(stderr, "%s: bad value for %s: '%s'\n", lg_arg0, what, s);
        exit(2);
    }
    return v;
}

static void lg_parse_args(int argc, char **argv, lg_opts *o)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        lg_usage(argc < 2 ? stderr : stdout);
        exit(argc < 2 ? 2 : 0);
    }
    memset(o, 0, sizeof *o);
    o->sc_name = argv[1];
    if (strcmp(argv[1], "publish") == 0)
        o->sc = SC_PUBLISH;
    else if (strcmp(argv[1], "req") == 0)
        o->sc = SC_REQ;
    else if (strcmp(argv[1], "fanout") == 0)
        o->sc = SC_FANOUT;
    else if (strcmp(argv[1], "connect") == 0)
        o->sc = SC_CONNECT;
    else {
        fprintf(stderr, "%s: unknown scenario '%s'\n", lg_arg0, argv[1]);
        lg_usage(stderr);
        exit(2);
    }
    static const int defconns[] = {50, 20, 1000, 10000};
    o->url = "ws://127.0.0.1:8008";
    o->conns = -1;
    o->inflight = -1;
    o->rate = -1;
    o->seconds = 10;
    o->threads = 1;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    o->sign_threads = nproc > 0 ? (int)nproc : 1;
    o->authors = 1000;
    o->subs = 10000;
    o->pub_conns = 4;
    o->grace = 5;
    o->timeout = 10;
    o->hold = 3;
    o->connect_burst = 200;
    o->setup_timeout = 60;
    o->seed = eg_os_seed();
    o->shape = SH_AKL10;
    o->evlib = LWS_SERVER_OPTION_LIBUV;
    static const struct option lo[] = {
        {"url", required_argument, NULL, 'u'},        {"pid", required_argument, NULL, 'P'},
        {"db-pid", required_argument, NULL, 'D'},     {"conns", required_argument, NULL, 'c'},
        {"seconds", required_argument, NULL, 's'},    {"threads", required_argument, NULL, 'T'},
        {"sign-threads", required_argument, NULL, 'S'}, {"seed", required_argument, NULL, 'x'},
        {"timeout", required_argument, NULL, 'o'},    {"setup-timeout", required_argument, NULL, 'O'},
        {"connect-burst", required_argument, NULL, 'b'}, {"inflight", required_argument, NULL, 'w'},
        {"rate", required_argument, NULL, 'r'},       {"count", required_argument, NULL, 'n'},
        {"pool", required_argument, NULL, 'p'},       {"authors", required_argument, NULL, 'a'},
        {"authors-file", required_argument, NULL, 'A'}, {"ids-file", required_argument, NULL, 'I'},
        {"events-file", required_argument, NULL, 'E'},
        {"shape", required_argument, NULL, 'h'},      {"subs", required_argument, NULL, 'm'},
        {"pub-conns", required_argument, NULL, 'q'},  {"grace", required_argument, NULL, 'g'},
        {"deflate", no_argument, NULL, 'z'},          {"touch", no_argument, NULL, 't'},
        {"hold", required_argument, NULL, 'H'},       {"verbose", no_argument, NULL, 'v'},
        {"evlib", required_argument, NULL, 'e'},      {"help", no_argument, NULL, '?'},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "c:s:w:r:n:v", lo, NULL)) != -1) {
        switch (c) {
        case 'u': o->url = optarg; break;
        case 'P': o->pid = (int)lg_num(optarg, "--pid"); break;
        case 'D': o->db_pid = (int)lg_num(optarg, "--db-pid"); break;
        case 'c': o->conns = (int)lg_num(optarg, "--conns"); break;
        case 's': o->seconds = lg_num(optarg, "--seconds"); o->seconds_given = true; break;
        case 'T': o->threads = (int)lg_num(optarg, "--threads"); break;
        case 'S': o->sign_threads = (int)lg_num(optarg, "--sign-threads"); break;
        case 'x': o->seed = strtoull(optarg, NULL, 0); break;
        case 'o': o->timeout = lg_num(optarg, "--timeout"); break;
        case 'O': o->setup_timeout = lg_num(optarg, "--setup-timeout"); break;
        case 'b': o->connect_burst = (int)lg_num(optarg, "--connect-burst"); break;
        case 'w': o->inflight = (int)lg_num(optarg, "--inflight"); break;
        case 'r': o->rate = lg_num(optarg, "--rate"); break;
        case 'n': o->count = (long)lg_num(optarg, "--count"); break;
        case 'p': o->pool = (long)lg_num(optarg, "--pool"); break;
        case 'a': o->authors = (int)lg_num(optarg, "--authors"); break;
        case 'A': o->authors_file = optarg; break;
        case 'I': o->ids_file = optarg; break;
        case 'E': o->events_file = optarg; break;
        case 'm': o->subs = (int)lg_num(optarg, "--subs"); break;
        case 'q': o->pub_conns = (int)lg_num(optarg, "--pub-conns"); break;
        case 'g': o->grace = lg_num(optarg, "--grace"); break;
        case 'z': o->deflate = true; break;
        case 't': o->touch = true; break;
        case 'H': o->hold = lg_num(optarg, "--hold"); break;
        case 'v': o->verbose++; break;
        case 'e':
            if (strcmp(optarg, "poll") == 0)
                o->evlib = 0;
            else if (strcmp(optarg, "uv") == 0)
                o->evlib = LWS_SERVER_OPTION_LIBUV;
            else {
                fprintf(stderr, "%s: --evlib is uv or poll\n", lg_arg0);
                exit(2);
            }
            break;
        case 'h': {
            bool found = false;
            for (int k = 0; k <= SH_MIX; k++)
                if (strcmp(optarg, lg_shape_names[k]) == 0) {
                    o->shape = (lg_shape)k;
                    found = true;
                }
            if (!found) {
                fprintf(stderr, "%s: unknown shape '%s'\n", lg_arg0, optarg);
                exit(2);
            }
            break;
        }
        default: lg_usage(stderr); exit(2);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", lg_arg0, argv[optind]);
        exit(2);
    }
    if (lg_parse_url(o) != 0) {
        fprintf(stderr, "%s: bad URL '%s'\n", lg_arg0, o->url);
        exit(2);
    }
    if (o->sc == SC_CONNECT && o->count > 0 && o->conns < 0)
        o->conns = (int)o->count;
    if (o->conns < 0)
        o->conns = defconns[o->sc];
    if (o->inflight < 0)
        o->inflight = o->sc == SC_PUBLISH ? 20 : 1;
    if (o->rate < 0)
        o->rate = o->sc == SC_FANOUT ? 1000 : 0;
    /* Every run is bounded in time: with --count alone, at most 300 s. */
    if (o->count > 0 && !o->seconds_given && o->sc != SC_CONNECT)
        o->seconds = 300;
    if (o->events_file && !o->seconds_given)
        o->seconds = 3600; /* a replay ends when the file is spent */
    if (o->events_file && (o->sc != SC_PUBLISH || o->rate > 0)) {
        fprintf(stderr, "%s: --events-file is for publish, closed loop\n", lg_arg0);
        exit(2);
    }
    if (o->conns < 1 || o->threads < 1 || o->threads > 64 || o->sign_threads < 1 || o->inflight < 1 ||
        o->seconds <= 0 || o->seconds > 3600 || o->authors < 1 || o->subs < 1 || o->pub_conns < 1 ||
        o->connect_burst < 1 || o->timeout <= 0) {
        fprintf(stderr, "%s: an option is out of range (see --help)\n", lg_arg0);
        exit(2);
    }
    if (o->threads > o->conns)
        o->threads = o->conns;
    /* fanout's publishers must all be on thread 0 (the first connections) */
    while (o->sc == SC_FANOUT && o->threads > 1 && (o->conns + o->pub_conns) / o->threads < o->pub_conns)
        o->threads--;
    if (o->sc == SC_PUBLISH && o->pool <= 0 && !o->events_file)
        o->pool = o->count > 0 ? o->count
                  : o->rate > 0 ? (long)ceil(o->rate * o->seconds) + 1
                                : (long)(15000 * o->seconds);
    if (o->sc == SC_PUBLISH && o->count > 0 && o->pool > o->count)
        o->pool = o->count;
    if (o->sc == SC_PUBLISH && o->pool > 20000000) {
        fprintf(stderr, "%s: --pool above 20,000,000 events\n", lg_arg0);
        exit(2);
    }
    if (o->sc == SC_FANOUT && (o->rate <= 0 || o->rate * o->seconds > 5e6)) {
        fprintf(stderr, "%s: fanout needs 0 < rate*seconds <= 5,000,000\n", lg_arg0);
        exit(2);
    }
    if (o->sc == SC_REQ && o->authors_file == NULL) {
        fprintf(stderr, "%s: req needs --authors-file (from seed --authors-out)\n", lg_arg0);
        exit(2);
    }
    if (o->sc == SC_REQ && (o->shape == SH_IDS || o->shape == SH_MIX) && o->ids_file == NULL) {
        fprintf(stderr, "%s: --shape %s needs --ids-file (from seed --ids-out)\n", lg_arg0,
                lg_shape_names[o->shape]);
        exit(2);
    }
    if (o->pid > 0 && lg_proc_rss_kib(o->pid) < 0) {
        fprintf(stderr, "%s: --pid %d: no such process (or no /proc/%d/status)\n", lg_arg0, o->pid, o->pid);
        exit(2);
    }
    if (o->sc == SC_CONNECT && o->pid <= 0)
        fprintf(stderr, "%s: connect without --pid measures connection time only, not memory\n", lg_arg0);
}

/* Raises the soft limit on open files as far as needed (up to the hard
 * limit); for connect without an explicit count, fits the count to it. */
static void lg_fd_limit(lg_opts *o, bool explicit_conns)
{
    int extra = 64 + 4 * o->threads;
    long need = (long)o->conns + (o->sc == SC_FANOUT ? o->pub_conns : 0) + extra;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if ((rlim_t)need > rl.rlim_cur) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || (rlim_t)need < rl.rlim_max ? (rlim_t)need : rl.rlim_max;
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((rlim_t)need <= rl.rlim_cur)
        return;
    if (o->sc == SC_CONNECT && !explicit_conns && (long)rl.rlim_cur > extra + 100) {
        o->conns = (int)((long)rl.rlim_cur - extra);
        fprintf(stderr, "%s: open-file limit %llu: opening %d connections instead of 10000\n", lg_arg0,
                (unsigned long long)rl.rlim_cur, o->conns);
        return;
    }
    fprintf(stderr,
            "%s: %ld file descriptors needed but the limit is %llu (hard limit %llu).\n"
            "  Raise it (as root: ulimit -Hn %ld; ulimit -n %ld) or ask for fewer connections.\n"
            "  The relay needs as many on its side.\n",
            lg_arg0, need, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, need, need);
    exit(2);
}

/* ---- the report ------------------------------------------------------------------------------- */

typedef struct lg_report {
    lg_stats st;
    lg_lat lat, lat_connect;
    int64_t max_lag;
    double elapsed;
    long rss_before, rss_after, rss_peak;
    double cpu_s, db_cpu_s, own_cpu_s;
    double cpu_window;       /* seconds over which the CPU figures were taken */
    uint64_t fan_expected, fan_missed, fan_delivered_unacked;
    int subs_live, subs_refused;
} lg_report;

static void lg_merge(lg_report *r)
{
    memset(&r->st, 0, sizeof r->st);
    for (int k = 0; k < G.nthreads; k++) {
        const lg_thread *t = &G.th[k];
        const lg_stats *s = &t->st;
        lg_stats *d = &r->st;
        d->sent += s->sent, d->ok_true += s->ok_true, d->ok_dup += s->ok_dup;
        d->ok_false += s->ok_false, d->ok_unknown += s->ok_unknown, d->notices += s->notices;
        d->closed += s->closed, d->disconnects += s->disconnects, d->peer_closes += s->peer_closes;
        d->connect_fail += s->connect_fail, d->auth += s->auth, d->unknown_msgs += s->unknown_msgs;
        d->reqs_done += s->reqs_done, d->events_rx += s->events_rx, d->bytes_rx += s->bytes_rx;
        d->timeouts += s->timeouts, d->not_sent += s->not_sent, d->fan_rx += s->fan_rx;
        d->fan_unexpected += s->fan_unexpected, d->fan_duplicate += s->fan_duplicate;
        d->fan_unknown += s->fan_unknown, d->fan_late += s->fan_late;
        lg_prefix_merge(&d->ok_prefix, &s->ok_prefix);
        lg_prefix_merge(&d->closed_prefix, &s->closed_prefix);
        for (int i = 0; i < s->nnotice_samples && d->nnotice_samples < 3; i++)
            memcpy(d->notice_sample[d->nnotice_samples++], s->notice_sample[i], sizeof s->notice_sample[i]);
        if (d->close_sample[0] == '\0')
            memcpy(d->close_sample, s->close_sample, sizeof s->close_sample);
        if (s->t_last_reply > d->t_last_reply)
            d->t_last_reply = s->t_last_reply;
        if (t->max_lag > r->max_lag)
            r->max_lag = t->max_lag;
        lg_lat_merge(&r->lat, &t->lat);
        lg_lat_merge(&r->lat_connect, &t->lat_connect);
    }
    if (r->lat.n)
        qsort(r->lat.v, r->lat.n, sizeof *r->lat.v, lg_u32_cmp);
    if (r->lat_connect.n)
        qsort(r->lat_connect.v, r->lat_connect.n, sizeof *r->lat_connect.v, lg_u32_cmp);
}

static void lg_row(const char *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lg_row(const char *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  %-26s ", k);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void lg_json_lat(json_t *o, const char *prefix, const lg_lat *l)
{
    static const double ps[] = {50, 90, 99};
    static const char *const names[] = {"p50", "p90", "p99"};
    char key[48];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s%s_ms", prefix, names[i]);
        json_object_set_new(o, key, l->n ? json_real(round(lg_pct(l, ps[i]) * 1000) / 1000) : json_null());
    }
    snprintf(key, sizeof key, "%smax_ms", prefix);
    json_object_set_new(o, key, l->n ? json_real(l->v[l->n - 1] / 1000.0) : json_null());
}

static double lg_r1(double v) { return round(v * 10) / 10; }

static void lg_print(const lg_report *r)
{
    const lg_opts *o = &G.o;
    const lg_stats *s = &r->st;
    double el = r->elapsed > 0 ? r->elapsed : 1e-9;
    json_t *j = json_object();
    json_object_set_new(j, "scenario", json_string(o->sc_name));
    json_object_set_new(j, "url", json_string(o->url));
    json_t *par = json_object();
    json_object_set(j, "params", par); /* filled below; placed early in the line */
    json_object_set_new(par, "conns", json_integer(o->conns));
    json_object_set_new(par, "threads", json_integer(o->threads));
    json_object_set_new(par, "seconds", json_real(o->seconds));

    printf("%s against %s\n", o->sc_name, o->url);
    int open = atomic_load(&G.n_open);
    switch (o->sc) {
    case SC_PUBLISH:
        json_object_set_new(par, "mode", json_string(o->rate > 0 ? "open" : "closed"));
        if (o->rate > 0)
            json_object_set_new(par, "rate", json_real(o->rate));
        else
            json_object_set_new(par, "inflight", json_integer(o->inflight));
        json_object_set_new(par, "pool", json_integer(o->pool));
        if (o->events_file)
            json_object_set_new(par, "events_file", json_string(o->events_file));
        else
            json_object_set_new(par, "authors", json_integer(o->authors));
        json_object_set_new(j, "duration_s", json_real(lg_r1(el * 10) / 10));
        json_object_set_new(j, "sent", json_integer((json_int_t)s->sent));
        json_object_set_new(j, "accepted", json_integer((json_int_t)s->ok_true));
        json_object_set_new(j, "events_per_s", json_real(lg_r1((double)s->ok_true / el)));
        json_object_set_new(j, "sent_per_s", json_real(lg_r1((double)s->sent / el)));
        lg_row("connections", "%d open of %d, %s", open, o->conns,
               o->rate > 0 ? "open loop" : "closed loop");
        if (o->rate > 0)
            lg_row("target rate", "%.0f events/s", o->rate);
        else
            lg_row("in flight / connection", "%d", o->inflight);
        lg_row("duration", "%.2f s", el);
        lg_row("sent", "%" PRIu64 " (%.0f/s)", s->sent, (double)s->sent / el);
        lg_row("accepted (OK true)", "%" PRIu64 " (%.0f/s), %" PRIu64 " of them duplicate:", s->ok_true,
               (double)s->ok_true / el, s->ok_dup);
        lg_row("rejected (OK false)", "%" PRIu64, s->ok_false);
        lg_row("no answer", "%" PRIu64, s->sent - s->ok_true - s->ok_false);
        if (o->rate > 0)
            lg_row("not sent (backlog)", "%" PRIu64 ", worst send lag %.1f ms", s->not_sent,
                   (double)r->max_lag / 1e6);
        if (o->count == 0 && !o->events_file && s->sent >= (uint64_t)o->pool && el < o->seconds - 0.5) {
            lg_row("NOTE", "the pool of %ld events ran out after %.1f s: raise --pool", o->pool, el);
            json_object_set_new(j, "pool_exhausted", json_true());
        }
        break;
    case SC_REQ:
        json_object_set_new(par, "shape", json_string(lg_shape_names[o->shape]));
        json_object_set_new(par, "inflight", json_integer(o->inflight));
        json_object_set_new(j, "duration_s", json_real(lg_r1(el * 10) / 10));
        json_object_set_new(j, "reqs", json_integer((json_int_t)s->reqs_done));
        json_object_set_new(j, "req_per_s", json_real(lg_r1((double)s->reqs_done / el)));
        json_object_set_new(j, "events_per_s", json_real(lg_r1((double)s->events_rx / el)));
        json_object_set_new(j, "events_per_req",
                            json_real(s->reqs_done ? lg_r1((double)s->events_rx / (double)s->reqs_done) : 0));
        json_object_set_new(j, "mib_per_s", json_real(lg_r1((double)s->bytes_rx / el / 1048576.0)));
        lg_row("connections", "%d open of %d, %d REQ in flight each", open, o->conns, o->inflight);
        lg_row("shape", "%s", lg_shape_names[o->shape]);
        lg_row("duration", "%.2f s", el);
        lg_row("REQs answered (EOSE)", "%" PRIu64 " (%.0f/s)", s->reqs_done, (double)s->reqs_done / el);
        lg_row("events delivered", "%" PRIu64 " (%.0f/s, %.1f per REQ)", s->events_rx,
               (double)s->events_rx / el, s->reqs_done ? (double)s->events_rx / (double)s->reqs_done : 0);
        lg_row("received", "%.1f MiB/s", (double)s->bytes_rx / el / 1048576.0);
        lg_row("CLOSED", "%" PRIu64, s->closed);
        lg_row("timeouts", "%" PRIu64 " (no EOSE within %.0f s)", s->timeouts, o->timeout);
        break;
    case SC_FANOUT:
        json_object_set_new(par, "subs", json_integer(o->subs));
        json_object_set_new(par, "rate", json_real(o->rate));
        json_object_set_new(par, "pub_conns", json_integer(o->pub_conns));
        json_object_set_new(par, "grace_s", json_real(o->grace));
        json_object_set_new(j, "published", json_integer((json_int_t)s->sent));
        json_object_set_new(j, "accepted", json_integer((json_int_t)s->ok_true));
        json_object_set_new(j, "subs_live", json_integer(r->subs_live));
        json_object_set_new(j, "subs_refused", json_integer(r->subs_refused));
        json_object_set_new(j, "expected", json_integer((json_int_t)r->fan_expected));
        json_object_set_new(j, "delivered", json_integer((json_int_t)s->fan_rx));
        json_object_set_new(j, "deliveries_per_s", json_real(lg_r1((double)s->fan_rx / el)));
        json_object_set_new(j, "missed", json_integer((json_int_t)r->fan_missed));
        json_object_set_new(j, "late", json_integer((json_int_t)s->fan_late));
        json_object_set_new(j, "unexpected",
                            json_integer((json_int_t)(s->fan_unexpected + s->fan_unknown)));
        json_object_set_new(j, "duplicates", json_integer((json_int_t)s->fan_duplicate));
        lg_row("connections", "%d open of %d (%d publishing)", open, o->conns + o->pub_conns, o->pub_conns);
        lg_row("subscriptions", "%d live, %d refused, of %d", r->subs_live, r->subs_refused, o->subs);
        lg_row("published", "%" PRIu64 " at %.0f/s target, %" PRIu64 " accepted, worst lag %.1f ms",
               s->sent, o->rate, s->ok_true, (double)r->max_lag / 1e6);
        lg_row("deliveries expected", "%" PRIu64 " (%.1f per accepted event)", r->fan_expected,
               s->ok_true ? (double)r->fan_expected / (double)s->ok_true : 0);
        lg_row("deliveries received", "%" PRIu64 " (%.0f/s)", s->fan_rx, (double)s->fan_rx / el);
        lg_row("missed", "%" PRIu64 " (not received within the run + %.0f s)", r->fan_missed, o->grace);
        lg_row("late", "%" PRIu64 " (received, later than %.0f s)", s->fan_late, o->grace);
        lg_row("unexpected", "%" PRIu64 " (+%" PRIu64 " duplicates, %" PRIu64 " for unaccepted events)",
               s->fan_unexpected + s->fan_unknown, s->fan_duplicate, r->fan_delivered_unacked);
        break;
    case SC_CONNECT:
        json_object_set_new(par, "deflate", json_boolean(o->deflate));
        json_object_set_new(par, "touch", json_boolean(o->touch));
        json_object_set_new(par, "hold_s", json_real(o->hold));
        json_object_set_new(j, "opened", json_integer(open));
        json_object_set_new(j, "connect_s", json_real(round(el * 100) / 100));
        json_object_set_new(j, "conns_per_s", json_real(lg_r1(open / el)));
        lg_row("connections", "%d open of %d%s%s", open, o->conns, o->deflate ? ", permessage-deflate" : "",
               o->touch ? ", one REQ each" : "");
        lg_row("time to open all", "%.2f s (%.0f/s)", el, open / el);
        if (r->rss_before >= 0 && r->rss_after >= 0 && open > 0) {
            double per = (double)(r->rss_after - r->rss_before) / open;
            json_object_set_new(j, "kib_per_conn", json_real(round(per * 100) / 100));
            lg_row("relay memory / connection", "%.2f KiB", per);
        } else {
            json_object_set_new(j, "kib_per_conn", json_null());
        }
        break;
    }
    json_decref(par);

    const lg_lat *L = o->sc == SC_CONNECT ? &r->lat_connect : &r->lat;
    const char *what = o->sc == SC_PUBLISH ? (o->rate > 0 ? "OK latency (from due time)" : "OK latency")
                       : o->sc == SC_REQ   ? "EOSE latency"
                       : o->sc == SC_FANOUT ? "publish->delivery"
                                            : "handshake latency";
    if (L->n)
        lg_row(what, "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms (%zu samples)", lg_pct(L, 50), lg_pct(L, 90),
               lg_pct(L, 99), L->v[L->n - 1] / 1000.0, L->n);
    else
        lg_row(what, "no samples");
    lg_json_lat(j, "", L);
    json_object_set_new(j, "samples", json_integer((json_int_t)L->n));

    json_t *err = json_object();
    json_object_set_new(err, "ok_false", json_integer((json_int_t)s->ok_false));
    json_object_set_new(err, "ok_false_by_prefix", lg_prefix_json(&s->ok_prefix));
    json_object_set_new(err, "no_answer",
                        json_integer((json_int_t)(o->sc == SC_PUBLISH || o->sc == SC_FANOUT
                                                      ? s->sent - s->ok_true - s->ok_false : 0)));
    json_object_set_new(err, "notices", json_integer((json_int_t)s->notices));
    json_object_set_new(err, "closed", json_integer((json_int_t)s->closed));
    json_object_set_new(err, "closed_by_prefix", lg_prefix_json(&s->closed_prefix));
    json_object_set_new(err, "disconnects", json_integer((json_int_t)s->disconnects));
    json_object_set_new(err, "connect_failures", json_integer((json_int_t)s->connect_fail));
    json_object_set_new(err, "timeouts", json_integer((json_int_t)s->timeouts));
    json_object_set_new(err, "not_sent", json_integer((json_int_t)s->not_sent));
    json_object_set_new(err, "unknown_messages", json_integer((json_int_t)(s->unknown_msgs + s->ok_unknown)));
    json_object_set_new(j, "errors", err);
    lg_row("errors", "OK false %" PRIu64 ", NOTICE %" PRIu64 ", CLOSED %" PRIu64 ", disconnects %" PRIu64
           ", connect failures %" PRIu64,
           s->ok_false, s->notices, s->closed, s->disconnects, s->connect_fail);
    for (int j2 = 0; j2 < LG_NPREFIX && s->ok_prefix.n[j2]; j2++)
        lg_row("  OK false", "%s: %" PRIu64, s->ok_prefix.name[j2], s->ok_prefix.n[j2]);
    for (int j2 = 0; j2 < LG_NPREFIX && s->closed_prefix.n[j2]; j2++)
        lg_row("  CLOSED", "%s: %" PRIu64, s->closed_prefix.name[j2], s->closed_prefix.n[j2]);
    for (int i = 0; i < s->nnotice_samples; i++)
        lg_row("  NOTICE", "%s", s->notice_sample[i]);
    if (s->close_sample[0])
        lg_row("  closed by relay", "%s (%" PRIu64 " times)", s->close_sample, s->peer_closes);
    if (s->unknown_msgs + s->ok_unknown)
        lg_row("  unrecognised", "%" PRIu64, s->unknown_msgs + s->ok_unknown);

    if (o->sc != SC_CONNECT && r->lat_connect.n)
        lg_row("handshake latency", "p50 %.2f  p99 %.2f ms", lg_pct(&r->lat_connect, 50),
               lg_pct(&r->lat_connect, 99));
    if (o->pid > 0) {
        json_object_set_new(j, "relay_pid", json_integer(o->pid));
        json_object_set_new(j, "relay_rss_before_kib", json_integer(r->rss_before));
        json_object_set_new(j, "relay_rss_after_kib", json_integer(r->rss_after));
        json_object_set_new(j, "relay_rss_peak_kib", json_integer(r->rss_peak));
        json_object_set_new(j, "relay_cpu_s", r->cpu_s >= 0 ? json_real(round(r->cpu_s * 100) / 100) : json_null());
        lg_row("relay RSS", "before %ld, after %ld, peak %ld KiB", r->rss_before, r->rss_after, r->rss_peak);
        lg_row("relay CPU", "%.2f s (%.0f%% of one core)", r->cpu_s, 100 * r->cpu_s / r->cpu_window);
    }
    if (o->db_pid > 0) {
        json_object_set_new(j, "db_cpu_s", r->db_cpu_s >= 0 ? json_real(round(r->db_cpu_s * 100) / 100) : json_null());
        lg_row("database CPU", "%.2f s (%.0f%% of one core)", r->db_cpu_s, 100 * r->db_cpu_s / r->cpu_window);
    }
    json_object_set_new(j, "loadgen_cpu_s", json_real(round(r->own_cpu_s * 100) / 100));
    lg_row("loadgen CPU", "%.2f s (%.0f%% of one core)", r->own_cpu_s, 100 * r->own_cpu_s / r->cpu_window);
    json_object_set_new(j, "cpu_window_s", json_real(round(r->cpu_window * 100) / 100));

    char *line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    printf("%s\n", line ? line : "{}");
    fflush(stdout);
    free(line);
    json_decref(j);
}

static double lg_own_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- main ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    lg_opts *o = &G.o;
    bool explicit_conns = false;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-c") == 0 || strncmp(argv[i], "--conns", 7) == 0 ||
            strcmp(argv[i], "-n") == 0 || strncmp(argv[i], "--count", 7) == 0)
            explicit_conns = true;
    lg_parse_args(argc, argv, o);
    lg_fd_limit(o, explicit_conns);
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0);
    lws_set_log_level(o->verbose > 1 ? LLL_ERR | LLL_WARN | LLL_NOTICE : o->verbose ? LLL_ERR : 0, NULL);
    lg_created_at = (int64_t)time(NULL);

    /* Preparation, outside every measurement. */
    if (o->sc == SC_PUBLISH)
        lg_prepare_publish();
    if (o->sc == SC_REQ) {
        G.authors = lg_read_hex_lines(o->authors_file, &G.nauthors);
        if (o->ids_file)
            G.ids = lg_read_hex_lines(o->ids_file, &G.nids);
    }
    if (o->sc == SC_FANOUT)
        lg_prepare_fanout();

    G.nconns = o->conns + (o->sc == SC_FANOUT ? o->pub_conns : 0);
    G.conns = lg_xcalloc((size_t)G.nconns, sizeof *G.conns);
    G.nthreads = o->threads;
    for (int i = 0; i < G.nconns; i++) {
        lg_conn *c = &G.conns[i];
        c->idx = i;
        c->publisher = o->sc == SC_FANOUT && i < o->pub_conns;
        if (o->sc == SC_REQ || (o->sc == SC_CONNECT && o->touch)) {
            c->nslots = o->sc == SC_REQ ? o->inflight : 1;
            c->slots = lg_xcalloc((size_t)c->nslots, sizeof *c->slots);
        }
    }
    if (lg_threads_start() != 0)
        return 1;
    /* Who publishes what: each thread its share of the pool and the rate;
     * in fanout the publishers all live in thread 0. */
    for (int k = 0; k < G.nthreads; k++) {
        lg_thread *t = &G.th[k];
        if (o->sc == SC_PUBLISH) {
            t->ev_lo = (uint32_t)((uint64_t)G.nev * (uint64_t)k / (uint64_t)G.nthreads);
            t->ev_hi = (uint32_t)((uint64_t)G.nev * (uint64_t)(k + 1) / (uint64_t)G.nthreads);
            t->rate = o->rate > 0 ? o->rate / G.nthreads : 0;
        } else if (o->sc == SC_FANOUT && k == 0) {
            t->ev_lo = 0;
            t->ev_hi = G.nev;
            t->rate = o->rate;
        } else if (o->sc == SC_FANOUT || o->sc == SC_REQ) {
            /* Nothing to publish: spent from the start (count ends a req run). */
            if (o->sc == SC_FANOUT) {
                t->exhausted = true;
                atomic_fetch_add(&G.exhausted, 1);
            }
        }
        t->ev_next = t->ev_lo;
    }

    if (o->pid > 0) {
        lg_sampler.pid = o->pid;
        long kib = lg_proc_rss_kib(o->pid);
        atomic_store(&lg_sampler.cur, kib);
        atomic_store(&lg_sampler.peak, kib);
        pthread_create(&lg_sampler.th, NULL, lg_sampler_main, NULL);
    }
    lg_report rep;
    memset(&rep, 0, sizeof rep);
    rep.rss_before = o->pid > 0 ? lg_proc_rss_kib(o->pid) : -1;
    double cpu0 = 0, db0 = 0, own0 = 0;
    int64_t t_cpu0 = 0;

    /* Connect. */
    int64_t t_conn0 = lg_now();
    if (o->sc == SC_CONNECT) {
        t_cpu0 = lg_now();
        cpu0 = o->pid > 0 ? lg_proc_cpu_s(o->pid, false) : 0;
        db0 = o->db_pid > 0 ? lg_proc_cpu_s(o->db_pid, true) : 0;
        own0 = lg_own_cpu_s();
    }
    lg_set_phase(PH_CONNECT);
    bool ok = lg_wait(lg_all_connected, t_conn0 + (int64_t)(o->setup_timeout * 1e9));
    int64_t t_conn1 = lg_now();
    int nopen = atomic_load(&G.n_open);
    if (!ok || nopen < G.nconns)
        fprintf(stderr, "%s: %d of %d connections open after %.1f s\n", lg_arg0, nopen, G.nconns,
                (double)(t_conn1 - t_conn0) / 1e9);
    if (nopen == 0) {
        fprintf(stderr, "%s: could not connect to %s\n", lg_arg0, o->url);
        lg_set_phase(PH_EXIT);
        for (int k = 0; k < G.nthreads; k++)
            pthread_join(G.th[k].th, NULL);
        return 1;
    }

    /* Set up: subscriptions (fanout), one REQ each (connect --touch). */
    if (o->sc == SC_FANOUT || (o->sc == SC_CONNECT && o->touch)) {
        lg_set_phase(PH_SETUP);
        if (!lg_wait(lg_all_subscribed, lg_now() + (int64_t)(o->setup_timeout * 1e9)))
            fprintf(stderr, "%s: set-up incomplete: %d answered, %d refused\n", lg_arg0,
                    atomic_load(&G.n_ready), atomic_load(&G.n_refused));
    }

    if (o->sc == SC_CONNECT) {
        rep.elapsed = (double)(t_conn1 - t_conn0) / 1e9;
        lg_sleep_ms((int)(o->hold * 1000));
        rep.rss_after = o->pid > 0 ? lg_proc_rss_kib(o->pid) : -1;
    } else {
        /* The timed part. */
        lg_set_phase(PH_SETUP); /* no-op when already there */
        t_cpu0 = lg_now();
        cpu0 = o->pid > 0 ? lg_proc_cpu_s(o->pid, false) : 0;
        db0 = o->db_pid > 0 ? lg_proc_cpu_s(o->db_pid, true) : 0;
        own0 = lg_own_cpu_s();
        G.t_run0 = lg_now();
        G.t_run_end = G.t_run0 + (int64_t)(o->seconds * 1e9);
        lg_set_phase(PH_RUN);
        lg_wait(lg_run_over, G.t_run_end + 1000000000LL);
        int64_t t_stop = lg_now();
        lg_set_phase(PH_DRAIN);
        double wait = o->sc == SC_FANOUT ? o->grace : o->timeout;
        if (o->sc == SC_FANOUT)
            lg_wait(lg_fan_complete, t_stop + (int64_t)(wait * 1e9));
        else
            lg_wait(lg_all_answered, t_stop + (int64_t)(wait * 1e9));
        int64_t t_end = lg_now();
        rep.rss_after = o->pid > 0 ? lg_proc_rss_kib(o->pid) : -1;
        /* Throughput: over the time until the last answer (or the stop). */
        int64_t last = 0;
        for (int k = 0; k < G.nthreads; k++)
            if (G.th[k].st.t_last_reply > last)
                last = G.th[k].st.t_last_reply; /* racy read, only for the end time */
        if (o->sc == SC_FANOUT || last <= G.t_run0)
            last = o->sc == SC_FANOUT ? t_stop : t_end;
        rep.elapsed = (double)(last - G.t_run0) / 1e9;
    }
    double cpu1 = o->pid > 0 ? lg_proc_cpu_s(o->pid, false) : 0;
    double db1 = o->db_pid > 0 ? lg_proc_cpu_s(o->db_pid, true) : 0;
    rep.cpu_window = (double)(lg_now() - t_cpu0) / 1e9;
    rep.cpu_s = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1; /* -1: the process went away */
    rep.db_cpu_s = db0 >= 0 && db1 >= 0 ? db1 - db0 : -1;
    rep.own_cpu_s = lg_own_cpu_s() - own0;

    /* Close everything, then stop the threads. */
    lg_set_phase(PH_CLOSE);
    lg_wait(lg_all_closed, lg_now() + 10 * 1000000000LL);
    lg_set_phase(PH_EXIT);
    for (int k = 0; k < G.nthreads; k++)
        pthread_join(G.th[k].th, NULL);
    if (o->pid > 0) {
        atomic_store(&lg_sampler.stop, true);
        pthread_join(lg_sampler.th, NULL);
        rep.rss_peak = atomic_load(&lg_sampler.peak);
    }

    lg_merge(&rep);
    if (o->sc == SC_FANOUT) {
        for (int s = 0; s < o->subs; s++) {
            int stt = atomic_load(&G.subs[s].state);
            rep.subs_live += stt == 1;
            rep.subs_refused += stt == 2;
        }
        for (uint32_t i = 0; i < G.nev; i++) {
            const lg_ev *e = &G.ev[i];
            for (uint32_t k = e->exp_off; k < e->exp_off + e->exp_n; k++) {
                bool live = atomic_load(&G.subs[G.exp_sub[k]].state) == 1;
                bool got = atomic_load(&G.exp_got[k]);
                if (e->state == EV_OK && live) {
                    rep.fan_expected++;
                    rep.fan_missed += !got;
                } else if (got) {
                    rep.fan_delivered_unacked++;
                }
            }
        }
    }
    lg_print(&rep);

    /* Tidy up (the process ends anyway; this keeps leak checkers quiet). */
    for (uint32_t i = 0; i < G.nev; i++)
        free(G.ev[i].msg);
    free(G.ev);
    free(G.index);
    for (int i = 0; i < G.nconns; i++)
        free(G.conns[i].slots);
    free(G.conns);
    for (int k = 0; k < G.nthreads; k++) {
        free(G.th[k].lat.v);
        free(G.th[k].lat_connect.v);
    }
    free(G.th);
    free(rep.lat.v);
    free(rep.lat_connect.v);
    for (size_t i = 0; i < G.nauthors; i++)
        free(G.authors[i]);
    free(G.authors);
    for (size_t i = 0; i < G.nids; i++)
        free(G.ids[i]);
    free(G.ids);
    if (G.subs)
        for (int s = 0; s < o->subs; s++) {
            free(G.subs[s].filter_json);
            ns_filter_free(G.subs[s].filter);
        }
    free(G.subs);
    free(G.exp_sub);
    free((void *)G.exp_got);
    free(lg_pub_authors);
    free(lg_fan_p);
    free(lg_fan_t);
    return 0;
}
