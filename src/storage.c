/* storage.c - the storage-node monitor (see storage.h).
 *
 * Each round, on its own PostgreSQL connection:
 *   1. every foreign partition attached to `events` is probed with
 *      nostream_storage_probe(); one that fails in two consecutive rounds
 *      (so about 2 s: a restart of the mesh is not an outage), or whose
 *      server a reader or a writer just saw refuse a connection (clients
 *      are failing now), is swapped out with nostream_storage_hold();
 *   2. every swapped-out one is probed, and restored with
 *      nostream_storage_restore() once it answers (its held events are
 *      then on the node);
 *   3. the list of swapped-out ranges (read again only when this round
 *      changed it) is published for the WebSocket thread's NOTICEs.
 * Statements run with a statement_timeout and a lock_timeout, so a node
 * that hangs rather than refuses costs a round some seconds, never forever,
 * and the swap never queues other sessions behind it for long.
 */
#include "storage.h"
#include "log.h"
#include "queue.h"
#include "relay.h"
#include "store_pg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_STORAGE_ROUND_MS 2000
#define NS_STORAGE_MAX_GAPS 64

typedef struct {
    char table[64];
    char server[64];
    int64_t lo, hi;   /* INT64_MIN / INT64_MAX for MINVALUE / MAXVALUE */
} ns_gap;

/* What the monitor remembers about one foreign table between rounds. */
typedef struct ns_table_slot {
    char table[64]; /* "" when the slot is free */
    int fails;      /* strikes: consecutive failed probes */
    time_t next;    /* said: when the next failure may be logged */
    unsigned left_out;
} ns_table_slot;

struct ns_storage {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t started, completed; /* rounds */
    uint64_t generation;         /* bumped whenever the gaps change */
    bool kicked;
    char hint[4][64];            /* servers reported failing, held at once */
    size_t nhints;
    ns_gap gaps[NS_STORAGE_MAX_GAPS];
    size_t ngaps;
    atomic_size_t ngaps_fast;    /* ngaps, readable without the lock */
    atomic_bool has_nodes;       /* a foreign partition was attached at the last round */
    /* Monitor thread only: consecutive rounds each attached foreign table
     * failed its probe (a blip, like yggdrasil restarting, is not an
     * outage). */
    ns_table_slot strikes[NS_STORAGE_MAX_GAPS];
    /* Monitor thread only: when a table's failure to be swapped out or in
     * may next be logged, and how many were left out since. */
    ns_table_slot said[NS_STORAGE_MAX_GAPS];
};


ns_storage *ns_storage_new(void)
{
    ns_storage *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

void ns_storage_free(ns_storage *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

bool ns_storage_suspect(const char *sqlstate, const char *message)
{
    if (sqlstate != NULL && (strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57014") == 0))
        return true;
    return message != NULL && strstr(message, "could not connect to server") != NULL;
}

/* Copies the server name out of postgres_fdw's 'could not connect to server
 * "name"' into out (64 bytes). Returns false when the message has none. */
static bool ns_storage_server_in(const char *message, char out[64])
{
    const char *p = message ? strstr(message, "could not connect to server \"") : NULL;
    if (p == NULL)
        return false;
    p += strlen("could not connect to server \"");
    const char *q = strchr(p, '"');
    if (q == NULL || q == p || (size_t)(q - p) >= 64)
        return false;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
    return true;
}

bool ns_storage_has_nodes(ns_storage *s)
{
    return s != NULL && atomic_load(&s->has_nodes);
}

uint64_t ns_storage_generation(ns_storage *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t g = s->generation;
    pthread_mutex_unlock(&s->mu);
    return g;
}

bool ns_storage_recheck(ns_storage *s, const char *message, uint64_t before, int timeout_ms)
{
    struct timespec until;
    ns_deadline_in(&until, CLOCK_REALTIME, timeout_ms); /* s->cv uses the default clock */
    pthread_mutex_lock(&s->mu);
    uint64_t need = s->started + 1; /* a round that starts after now */
    char server[64];
    if (ns_storage_server_in(message, server) && s->nhints < 4) {
        bool known = false;
        for (size_t i = 0; i < s->nhints; i++)
            known = known || strcmp(s->hint[i], server) == 0;
        if (!known)
            memcpy(s->hint[s->nhints++], server, sizeof server);
    }
    s->kicked = true;
    pthread_cond_broadcast(&s->cv);
    int rc = 0;
    while (s->completed < need && rc == 0)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
    bool changed = s->generation != before;
    pthread_mutex_unlock(&s->mu);
    return changed;
}

static bool ns_overlaps(const ns_gap *g, int64_t since, int64_t until)
{
    /* gap is [lo, hi); the window is [since, until], open ends as -1 */
    if (until >= 0 && g->lo != INT64_MIN && until < g->lo)
        return false;
    if (since >= 0 && g->hi != INT64_MAX && since >= g->hi)
        return false;
    return true;
}

size_t ns_storage_describe_gaps(ns_storage *s, int64_t since, int64_t until, char *out,
                                size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (s == NULL || atomic_load(&s->ngaps_fast) == 0)
        return 0;
    size_t n = 0, used = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->ngaps; i++) {
        const ns_gap *g = &s->gaps[i];
        if (!ns_overlaps(g, since, until))
            continue;
        char lo[24] = "the beginning", hi[24] = "the end";
        if (g->lo != INT64_MIN)
            snprintf(lo, sizeof lo, "%lld", (long long)g->lo);
        if (g->hi != INT64_MAX)
            snprintf(hi, sizeof hi, "%lld", (long long)g->hi);
        int w = snprintf(out + used, outlen > used ? outlen - used : 0, "%s%s (created_at %s to %s)",
                         n ? ", " : "", g->server, lo, hi);
        if (w > 0)
            used += (size_t)w;
        if (used >= outlen)
            used = outlen ? outlen - 1 : 0;
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- the monitor thread --------------------------------------------------- */

/* Runs one single-value statement with one text parameter. Returns the
 * PGresult (caller PQclears) or NULL on a broken connection. */
static PGresult *ns_storage_call(PGconn *conn, const char *sql, const char *a, const char *b)
{
    const char *params[2] = {a, b};
    return PQexecParams(conn, sql, b ? 2 : 1, NULL, params, NULL, NULL, 0);
}

/* Probes one foreign table. Returns NULL when it answered, else a malloc'd
 * reason (caller frees). */
static char *ns_storage_probe(PGconn *conn, const char *ft)
{
    PGresult *r = ns_storage_call(conn, "SELECT nostream_storage_probe($1)", ft, NULL);
    char *why = NULL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        why = strdup(PQresultErrorMessage(r));
    else if (!PQgetisnull(r, 0, 0))
        why = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (why != NULL) {
        why[strcspn(why, "\n")] = '\0';
    }
    return why;
}

/* ft's slot in slots (NS_STORAGE_MAX_GAPS of them), or with claim, a free
 * one given to ft, zeroed; NULL when there is none. */
static ns_table_slot *ns_storage_slot(ns_table_slot *slots, const char *ft, bool claim)
{
    ns_table_slot *free_slot = NULL;
    for (size_t i = 0; i < NS_STORAGE_MAX_GAPS; i++) {
        if (slots[i].table[0] == '\0')
            free_slot = free_slot ? free_slot : &slots[i];
        else if (strcmp(slots[i].table, ft) == 0)
            return &slots[i];
    }
    if (!claim || free_slot == NULL)
        return NULL;
    memset(free_slot, 0, sizeof *free_slot);
    snprintf(free_slot->table, sizeof free_slot->table, "%s", ft);
    return free_slot;
}

/* Whether a failure about ft, retried every round (2 s), is logged now:
 * the first, then one a minute. Out: left_out, how many were not logged
 * since the last one. ok = true (it worked) forgets ft and returns false. */
static bool ns_storage_say(ns_storage *s, const char *ft, bool ok, unsigned *left_out)
{
    time_t now = time(NULL);
    ns_table_slot *slot = ns_storage_slot(s->said, ft, !ok);
    *left_out = 0;
    if (ok) {
        if (slot)
            slot->table[0] = '\0';
        return false;
    }
    if (slot == NULL)
        return true; /* no room to remember: log every time */
    if (now < slot->next) {
        slot->left_out++;
        return false;
    }
    *left_out = slot->left_out;
    slot->left_out = 0;
    slot->next = now + 60;
    return true;
}

static void ns_storage_note(char *out, size_t outlen, unsigned left_out)
{
    if (left_out)
        snprintf(out, outlen, "still failing (%u more times since the last message)", left_out);
    else
        snprintf(out, outlen, "will retry every round (logged once a minute)");
}

static void ns_storage_hold(ns_storage *s, PGconn *conn, const char *ft, const char *server, const char *why)
{
    PGresult *r = ns_storage_call(conn, "SELECT nostream_storage_hold($1, $2)", ft, why);
    unsigned left_out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        ns_storage_say(s, ft, true, &left_out);
        ns_log_warn("storage: node %s (%s) is unreachable (%s): %s; its range is held locally", server,
                    ft, why, PQgetvalue(r, 0, 0));
    } else if (ns_storage_say(s, ft, false, &left_out)) {
        char note[80];
        ns_storage_note(note, sizeof note, left_out);
        ns_log_warn("storage: could not swap out %s, %s: %s", ft, note, PQresultErrorMessage(r));
    }
    PQclear(r);
}

static void ns_storage_restore(ns_storage *s, PGconn *conn, const char *ft)
{
    PGresult *r = ns_storage_call(conn, "SELECT nostream_storage_restore($1)", ft, NULL);
    unsigned left_out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        ns_storage_say(s, ft, true, &left_out);
        if (!PQgetisnull(r, 0, 0))
            ns_log_info("storage: %s answers again: %s held events delivered, back in events", ft,
                        PQgetvalue(r, 0, 0));
    } else if (ns_storage_say(s, ft, false, &left_out)) {
        char note[80];
        ns_storage_note(note, sizeof note, left_out);
        ns_log_warn("storage: could not restore %s yet, %s: %s", ft, note, PQresultErrorMessage(r));
    }
    PQclear(r);
}

static const char ns_attached_sql[] =
    "SELECT c.relname, s.srvname FROM pg_inherits i"
    " JOIN pg_class c ON c.oid = i.inhrelid"
    " JOIN pg_foreign_table f ON f.ftrelid = c.oid"
    " JOIN pg_foreign_server s ON s.oid = f.ftserver"
    " WHERE i.inhparent = 'events'::regclass ORDER BY 1";

static const char ns_outage_sql[] =
    "SELECT foreign_table, server, coalesce(range_lo::text, ''), coalesce(range_hi::text, '')"
    " FROM nostream_storage_outage ORDER BY 1";

/* Counts one more failed round for ft (fails = true) or clears it.
 * Returns the number of consecutive failed rounds. */
static int ns_storage_strike(ns_storage *s, const char *ft, bool fails)
{
    ns_table_slot *slot = ns_storage_slot(s->strikes, ft, fails);
    if (!fails) {
        if (slot)
            slot->table[0] = '\0';
        return 0;
    }
    if (slot == NULL)
        return 2; /* no room to count: treat as confirmed */
    return ++slot->fails;
}

/* One round. `hints` are servers known to be failing. */
static void ns_storage_round(ns_storage *s, PGconn *conn, char hints[][64], size_t nhints)
{
    bool acted = false; /* swapped something out or in: the outage list changed */
    PGresult *att = PQexec(conn, ns_attached_sql);
    if (PQresultStatus(att) == PGRES_TUPLES_OK)
        atomic_store(&s->has_nodes, PQntuples(att) > 0);
    for (int i = 0; PQresultStatus(att) == PGRES_TUPLES_OK && i < PQntuples(att); i++) {
        const char *ft = PQgetvalue(att, i, 0), *srv = PQgetvalue(att, i, 1);
        bool hinted = false;
        for (size_t h = 0; h < nhints; h++)
            hinted = hinted || strcmp(hints[h], srv) == 0;
        char *why = hinted ? strdup("a query could not connect to it") : ns_storage_probe(conn, ft);
        int strikes = ns_storage_strike(s, ft, why != NULL);
        if (why != NULL && (hinted || strikes >= 2)) {
            ns_storage_hold(s, conn, ft, srv, why);
            ns_storage_strike(s, ft, false);
            acted = true;
        }
        free(why);
    }
    PQclear(att);

    /* The outage list, also as another relay on this database left it. */
    PGresult *out = PQexec(conn, ns_outage_sql);
    for (int i = 0; PQresultStatus(out) == PGRES_TUPLES_OK && i < PQntuples(out); i++) {
        const char *ft = PQgetvalue(out, i, 0);
        char *why = ns_storage_probe(conn, ft);
        if (why == NULL) {
            ns_storage_restore(s, conn, ft);
            acted = true;
        }
        free(why);
    }
    if (acted) {
        PQclear(out);
        out = PQexec(conn, ns_outage_sql);
    }
    if (PQresultStatus(out) != PGRES_TUPLES_OK) {
        PQclear(out);
        return;
    }

    /* Publish what is out now. */
    ns_gap gaps[NS_STORAGE_MAX_GAPS];
    memset(gaps, 0, sizeof gaps); /* compared whole below */
    size_t n = 0;
    for (int i = 0; i < PQntuples(out) && n < NS_STORAGE_MAX_GAPS; i++, n++) {
        snprintf(gaps[n].table, sizeof gaps[n].table, "%s", PQgetvalue(out, i, 0));
        snprintf(gaps[n].server, sizeof gaps[n].server, "%s", PQgetvalue(out, i, 1));
        const char *lo = PQgetvalue(out, i, 2), *hi = PQgetvalue(out, i, 3);
        gaps[n].lo = *lo ? strtoll(lo, NULL, 10) : INT64_MIN;
        gaps[n].hi = *hi ? strtoll(hi, NULL, 10) : INT64_MAX;
    }
    PQclear(out);
    pthread_mutex_lock(&s->mu);
    if (n != s->ngaps || memcmp(gaps, s->gaps, n * sizeof gaps[0]) != 0) {
        memcpy(s->gaps, gaps, n * sizeof gaps[0]);
        s->ngaps = n;
        atomic_store(&s->ngaps_fast, n);
        s->generation++;
    }
    pthread_mutex_unlock(&s->mu);
}

void *ns_storage_main(void *arg)
{
    ns_relay *r = arg;
    ns_storage *s = r->storage;
    PGconn *conn = NULL;
    while (!atomic_load(&r->stopping)) {
        pthread_mutex_lock(&s->mu);
        if (!s->kicked) {
            struct timespec until;
            ns_deadline_in(&until, CLOCK_REALTIME, NS_STORAGE_ROUND_MS);
            pthread_cond_timedwait(&s->cv, &s->mu, &until);
        }
        s->kicked = false;
        s->started++;
        char hints[4][64];
        size_t nhints = s->nhints;
        memcpy(hints, s->hint, sizeof hints);
        s->nhints = 0;
        pthread_mutex_unlock(&s->mu);
        if (atomic_load(&r->stopping))
            break;

        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            if (conn)
                PQfinish(conn);
            conn = ns_pg_connect(&r->cfg, "storage monitor");
            if (conn)
                PQclear(PQexec(conn, "SET statement_timeout = '12s'; SET lock_timeout = '4s'"));
        }
        if (conn != NULL)
            ns_storage_round(s, conn, hints, nhints);

        pthread_mutex_lock(&s->mu);
        s->completed++;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    if (conn)
        PQfinish(conn);
    /* Nobody waits on a stopped monitor. */
    pthread_mutex_lock(&s->mu);
    s->completed = UINT64_MAX / 2;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
