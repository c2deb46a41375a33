/* relay.h - the shared state of one relay process and the jobs that move
 * between its threads.
 *
 * Threads and who owns what:
 *   - the WebSocket thread (ws.c) owns every connection, subscription and
 *     the live subscription index; nothing else touches them;
 *   - verify workers (ingest.c) parse and check EVENTs: they own a job while
 *     it is on their side and an ns_verifier each;
 *   - writers (store_pg.c, WRITER_THREADS) own one PostgreSQL connection
 *     each and store checked events in batched transactions;
 *   - readers (store_pg.c) own one connection each and answer REQs;
 *   - the maintenance thread purges expired events;
 *   - the storage monitor (storage.c) swaps unreachable storage nodes out
 *     and back in.
 * Jobs travel only through the queues below; a job belongs to whoever
 * popped it last. Results come back through `done`, whose push wakes the
 * WebSocket thread.
 */
#ifndef NS_RELAY_H
#define NS_RELAY_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "event.h"
#include "queue.h"
#include "ratelimit.h"

typedef enum { NS_JOB_EVENT = 1, NS_JOB_REQ } ns_job_type;

/* Outcome of storing one event, from nostream_put_event(). */
typedef enum {
    NS_PUT_NONE = 0,   /* not stored: rejected, or failed */
    NS_PUT_STORED,
    NS_PUT_DUPLICATE,
    NS_PUT_DELETED,
    NS_PUT_STALE,
    NS_PUT_EPHEMERAL,  /* accepted and relayed, never stored */
} ns_put_result;

/* One EVENT from a client, from arrival to OK. */
typedef struct ns_event_job {
    ns_qnode node;
    ns_job_type type;
    uint64_t conn_id;
    char remote_ip[64];
    char *text;              /* the event object as received; freed by the verifier */
    size_t len;
    ns_event *ev;            /* set by the verifier; freed with the job */
    bool have_id;            /* id known (for OK), even if the event is bad */
    uint8_t id[32];
    ns_put_result result;
    char msg[256];           /* OK message ("" or "prefix: reason") */
} ns_event_job;

/* One REQ's stored part: the SQL is built by the WebSocket thread, the rows
 * come back as event JSON, newest first. */
typedef struct ns_req_job {
    ns_qnode node;
    ns_job_type type;
    uint64_t conn_id;
    uint64_t sub_seq;        /* which version of the subscription asked */
    char *sub_id;
    char *sql;
    int nparams;
    char **params;
    ns_buf rows;             /* event JSON objects, each followed by a NUL */
    uint32_t nrows;
    bool failed;
    char msg[256];
} ns_req_job;

typedef struct ns_relay {
    ns_config cfg;           /* as started: ports, database, threads */
    /* The settings in force: replaced whole when settings.yaml changes.
     * Readers load the pointer once per message or event; replaced configs
     * are kept (on `retired`) until exit, so no reader ever sees one freed. */
    _Atomic(ns_config *) live;
    struct ns_retired *retired;
    struct lws_context *lws;
    ns_queue verify_q;       /* ns_event_job: WebSocket -> verifiers */
    /* ns_event_job: verifiers -> writers. An author's events always go to
     * the same writer (by pubkey), so two writers never wait on each
     * other's locks for one author's replaceable events or duplicates. */
    ns_queue write_q[NS_MAX_WRITERS];
    int nwriters;            /* cfg.writer_threads */
    ns_queue read_q;         /* ns_req_job: WebSocket -> readers */
    ns_queue done_q;         /* both: back to the WebSocket thread */
    atomic_bool stopping;    /* SIGTERM/SIGINT seen */
    atomic_bool db_ok;       /* the writer's last attempt reached PostgreSQL */
    ns_ratelimiter *limits;  /* connection, message and event rate limits */
    struct ns_storage *storage; /* the storage-node monitor (storage.h) */
} ns_relay;

/* The settings in force (see ns_relay.live). */
static inline const ns_config *ns_cfg(ns_relay *r) { return atomic_load(&r->live); }

void ns_event_job_free(ns_event_job *j);
void ns_req_job_free(ns_req_job *j);

/* Current Unix time in seconds. */
int64_t ns_now(void);

#endif
