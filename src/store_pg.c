/* store_pg.c - PostgreSQL storage (see store_pg.h).
 *
 * Writes go through nostream_put_event() (migrations/0002), which applies
 * the replaceable, addressable and deletion rules atomically. The writer
 * sends a whole batch in one round trip with libpq's pipeline mode:
 * BEGIN, one prepared call per event, COMMIT. Only when COMMIT is
 * confirmed are the events answered OK true. If one event makes its
 * statement fail, the batch is rolled back and each event is retried on its
 * own, so one bad event cannot fail the others.
 */
#include "store_pg.h"
#include "err.h"
#include "log.h"
#include "query.h"
#include "storage.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Server notices (a WARNING as PostgreSQL shuts down, say) go to the log as
 * one line, not raw to stderr as libpq does by default. */
static void ns_pg_notice(void *arg, const char *message)
{
    ns_log_info("%s: PostgreSQL says: %s", (const char *)arg, message);
}

PGconn *ns_pg_connect(const ns_config *c, const char *role)
{
    char app[64];
    snprintf(app, sizeof app, "nostream-c %s", role);
    const char *keys[] = {"host", "port", "user", "password", "dbname", "application_name",
                          "connect_timeout", NULL};
    const char *vals[] = {c->db_host, c->db_port, c->db_user,
                          c->db_password[0] ? c->db_password : NULL,
                          c->db_name, app, "5", NULL};
    /* A NULL value ends the list early in libpq: skip the password slot
     * rather than pass NULL in the middle. */
    if (vals[3] == NULL) {
        keys[3] = "dbname";
        vals[3] = c->db_name;
    }
    PGconn *conn = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(conn) != CONNECTION_OK) {
        /* Every thread retries on its own while PostgreSQL is away: say so
         * at most every 5 s, not on each attempt. */
        static _Atomic int64_t last_said;
        static atomic_uint unsaid;
        int64_t now = ns_now(), last = atomic_load(&last_said);
        if (now - last >= 5 && atomic_compare_exchange_strong(&last_said, &last, now))
            ns_log_warn("%s: cannot connect to PostgreSQL at %s:%s: %s (%u more failed attempts not logged)",
                        role, c->db_host, c->db_port, PQerrorMessage(conn), atomic_exchange(&unsaid, 0));
        else
            atomic_fetch_add(&unsaid, 1);
        PQfinish(conn);
        return NULL;
    }
    /* role is a string literal at every call site: it outlives conn. */
    PQsetNoticeProcessor(conn, ns_pg_notice, (void *)role);
    return conn;
}

static void ns_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int64_t ns_now(void) { return (int64_t)time(NULL); }

/* ---- migrations --------------------------------------------------------- */

static int ns_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *ns_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    ns_buf b = NS_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ns_buf_add(&b, chunk, n);
    fclose(f);
    ns_buf_addc(&b, '\0');
    if (!ns_buf_ok(&b)) {
        ns_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int ns_exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = ns_fail(err, errlen, NS_EIO, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

int ns_pg_migrate(const ns_config *c, int wait_s, char *err, size_t errlen)
{
    PGconn *conn = NULL;
    for (int waited = 0; (conn = ns_pg_connect(c, "migrations")) == NULL; waited++) {
        if (waited >= wait_s)
            return ns_fail(err, errlen, NS_EIO, "PostgreSQL is not reachable at %s:%s", c->db_host,
                           c->db_port);
        ns_sleep_ms(1000);
    }
    DIR *d = opendir(c->migrations_dir);
    if (d == NULL) {
        PQfinish(conn);
        return ns_fail(err, errlen, NS_ECONFIG, "cannot open migrations directory %s (MIGRATIONS_DIR)",
                       c->migrations_dir);
    }
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".sql") == 0 && de->d_name[0] >= '0' &&
            de->d_name[0] <= '9')
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], ns_cmp_names);

    int rc = ns_exec_ok(conn,
                        "CREATE TABLE IF NOT EXISTS nostream_c_migrations ("
                        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                        err, errlen);
    if (rc == 0)
        rc = ns_exec_ok(conn, "SELECT pg_advisory_lock(7170001)", err, errlen);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *params[1] = {names[i]};
        PGresult *r = PQexecParams(conn, "SELECT 1 FROM nostream_c_migrations WHERE name = $1", 1,
                                   NULL, params, NULL, NULL, 0);
        bool applied = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
        PQclear(r);
        if (applied)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", c->migrations_dir, names[i]);
        char *sql = ns_slurp(path);
        if (sql == NULL) {
            rc = ns_fail(err, errlen, NS_EIO, "cannot read %s", path);
            break;
        }
        /* One transaction per file: the file and its bookkeeping row commit
         * together or not at all. */
        rc = ns_exec_ok(conn, "BEGIN", err, errlen);
        if (rc == 0 && (rc = ns_exec_ok(conn, sql, err, errlen)) != 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", err);
            ns_fail(err, errlen, NS_EIO, "migration %s failed: %s", names[i], why);
        }
        if (rc == 0) {
            r = PQexecParams(conn, "INSERT INTO nostream_c_migrations (name) VALUES ($1)", 1, NULL,
                             params, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                rc = ns_fail(err, errlen, NS_EIO, "%s", PQresultErrorMessage(r));
            PQclear(r);
        }
        if (rc == 0)
            rc = ns_exec_ok(conn, "COMMIT", err, errlen);
        else
            PQclear(PQexec(conn, "ROLLBACK"));
        if (rc == 0)
            ns_log_info("applied migration %s", names[i]);
        free(sql);
    }
    PQclear(PQexec(conn, "SELECT pg_advisory_unlock(7170001)"));
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    PQfinish(conn);
    return rc;
}

/* ---- writer ------------------------------------------------------------- */

static const char ns_put_sql[] =
    "SELECT nostream_put_event($1, $2, $3::integer, $4::integer, $5, $6::jsonb, $7, $8::jsonb,"
    " $9::inet, $10::integer)";

static PGconn *ns_writer_connect(ns_relay *r)
{
    PGconn *conn = ns_pg_connect(&r->cfg, "writer");
    if (conn == NULL)
        return NULL;
    PGresult *res = PQprepare(conn, "put_event", ns_put_sql, 10, NULL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        ns_log_warn("writer: cannot prepare put_event: %s", PQresultErrorMessage(res));
    PQclear(res);
    if (!ok) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* The text of the parameters of one event, kept alive while it is sent. */
typedef struct {
    char kind[16], created_at[16], expires[24];
    ns_buf tags, dedup;
    const char *values[10];
    int lengths[10];
    int formats[10];
} ns_put_params;

static void ns_put_params_fill(ns_put_params *p, const ns_event_job *j)
{
    const ns_event *ev = j->ev;
    memset(p, 0, sizeof *p);
    snprintf(p->kind, sizeof p->kind, "%u", ev->kind);
    snprintf(p->created_at, sizeof p->created_at, "%lld", (long long)ev->created_at);
    ns_event_tags_to_json(ev, &p->tags);
    ns_buf_addc(&p->tags, '\0');
    bool dedup = ns_event_dedup_key(ev, &p->dedup);
    ns_buf_addc(&p->dedup, '\0');
    p->values[0] = (const char *)ev->id, p->lengths[0] = 32, p->formats[0] = 1;
    p->values[1] = (const char *)ev->pubkey, p->lengths[1] = 32, p->formats[1] = 1;
    p->values[2] = p->kind;
    p->values[3] = p->created_at;
    p->values[4] = ev->content.ptr;
    p->values[5] = p->tags.data;
    p->values[6] = (const char *)ev->sig, p->lengths[6] = 64, p->formats[6] = 1;
    p->values[7] = dedup ? p->dedup.data : NULL;
    p->values[8] = j->remote_ip[0] ? j->remote_ip : NULL;
    if (ev->expiration != NS_EVENT_NO_EXPIRATION && ev->expiration <= INT32_MAX) {
        snprintf(p->expires, sizeof p->expires, "%lld", (long long)ev->expiration);
        p->values[9] = p->expires;
    }
}

static void ns_put_params_free(ns_put_params *p)
{
    ns_buf_free(&p->tags);
    ns_buf_free(&p->dedup);
}

static ns_put_result ns_put_parse(PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return NS_PUT_NONE;
    const char *v = PQgetvalue(res, 0, 0);
    if (strcmp(v, "stored") == 0)
        return NS_PUT_STORED;
    if (strcmp(v, "duplicate") == 0)
        return NS_PUT_DUPLICATE;
    if (strcmp(v, "deleted") == 0)
        return NS_PUT_DELETED;
    if (strcmp(v, "stale") == 0)
        return NS_PUT_STALE;
    return NS_PUT_NONE;
}

/* Sends BEGIN, the events, COMMIT in one pipeline and reads the answers.
 * Returns 0 when committed (results set), 1 when a statement failed (the
 * transaction rolled back, connection fine), -1 when the connection broke
 * (outcome unknown: nothing may be answered OK true). The first failure's
 * text goes to why, its SQLSTATE to state. */
static int ns_write_batch(PGconn *conn, ns_event_job **jobs, size_t n, char *why, size_t whylen,
                          char state[6])
{
    state[0] = '\0';
    ns_put_params *pp = calloc(n, sizeof *pp);
    ns_put_result *res = calloc(n, sizeof *res);
    if (pp == NULL || res == NULL) {
        free(pp);
        free(res);
        snprintf(why, whylen, "out of memory");
        return 1;
    }
    int outcome = -1;
    if (!PQenterPipelineMode(conn))
        goto out;
    bool sent = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (size_t i = 0; i < n && sent; i++) {
        ns_put_params_fill(&pp[i], jobs[i]);
        sent = PQsendQueryPrepared(conn, "put_event", 10, pp[i].values, pp[i].lengths, pp[i].formats, 0);
    }
    sent = sent && PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) &&
           PQpipelineSync(conn);
    if (!sent) {
        snprintf(why, whylen, "%s", PQerrorMessage(conn));
        goto out;
    }
    /* Results: BEGIN, n calls, COMMIT, each followed by NULL; then SYNC. */
    bool failed = false, committed = false, broken = false;
    for (size_t q = 0; q < n + 2 && !broken; q++) {
        PGresult *r = PQgetResult(conn);
        if (r == NULL) {
            broken = true;
            break;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR) {
            if (!failed) {
                snprintf(why, whylen, "%s", PQresultErrorMessage(r));
                const char *st5 = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                snprintf(state, 6, "%s", st5 ? st5 : "");
            }
            failed = true;
        } else if (q >= 1 && q <= n) {
            res[q - 1] = ns_put_parse(r);
        } else if (q == n + 1) {
            committed = st == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
        }
        PQclear(r);
        PGresult *sep = PQgetResult(conn); /* the NULL that ends each result */
        if (sep != NULL)
            PQclear(sep);
    }
    if (!broken) {
        PGresult *r = PQgetResult(conn);
        broken = r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC;
        if (r)
            PQclear(r);
    }
    if (broken || PQstatus(conn) != CONNECTION_OK) {
        if (why[0] == '\0')
            snprintf(why, whylen, "%s", PQerrorMessage(conn));
        goto out;
    }
    PQexitPipelineMode(conn);
    /* A statement that failed inside BEGIN leaves the session in an aborted
     * transaction block after the Sync (COMMIT was skipped): end it, or
     * every later batch on this connection would fail too. */
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    if (committed && !failed) {
        for (size_t i = 0; i < n; i++)
            jobs[i]->result = res[i];
        outcome = 0;
    } else {
        outcome = 1;
    }
out:
    for (size_t i = 0; i < n; i++)
        ns_put_params_free(&pp[i]);
    free(pp);
    free(res);
    return outcome;
}

static void ns_answer(ns_event_job *j)
{
    switch (j->result) {
    case NS_PUT_STORED:
        j->msg[0] = '\0';
        break;
    case NS_PUT_DUPLICATE:
        snprintf(j->msg, sizeof j->msg, "duplicate: already have this event");
        break;
    case NS_PUT_DELETED:
        snprintf(j->msg, sizeof j->msg, "blocked: this event was deleted by its author");
        break;
    case NS_PUT_STALE:
        snprintf(j->msg, sizeof j->msg, "duplicate: a newer version of this event is stored");
        break;
    default:
        if (j->msg[0] == '\0')
            snprintf(j->msg, sizeof j->msg, "error: could not store the event, please retry");
        break;
    }
}

void *ns_pg_writer_main(void *arg)
{
    ns_relay *r = ((ns_writer_arg *)arg)->relay;
    ns_queue *q = &r->write_q[((ns_writer_arg *)arg)->index];
    size_t max = (size_t)r->cfg.write_batch;
    ns_qnode **nodes = calloc(max, sizeof *nodes);
    ns_event_job **jobs = calloc(max, sizeof *jobs);
    PGconn *conn = NULL;
    int backoff_ms = 100;
    for (;;) {
        size_t n = ns_queue_pop_many(q, nodes, max, 1000);
        if (n == 0) {
            if (q->closed && ns_queue_len(q) == 0)
                break;
            continue;
        }
        for (size_t i = 0; i < n; i++)
            jobs[i] = (ns_event_job *)nodes[i];
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            if (conn)
                PQfinish(conn);
            conn = ns_writer_connect(r);
            atomic_store(&r->db_ok, conn != NULL);
        }
        char why[512] = "", state[6];
        uint64_t gen = ns_storage_generation(r->storage);
        int outcome = conn ? ns_write_batch(conn, jobs, n, why, sizeof why, state) : -1;
        if (outcome < 0 && conn != NULL) {
            /* Often a connection that died while idle (PostgreSQL restarted).
             * Retrying on a new one is safe even if the first attempt did
             * commit: nostream_put_event then answers 'duplicate'. */
            PQfinish(conn);
            conn = ns_writer_connect(r);
            why[0] = '\0';
            outcome = conn ? ns_write_batch(conn, jobs, n, why, sizeof why, state) : -1;
        }
        if (outcome == 1 && ns_storage_suspect(state, why) &&
            ns_storage_recheck(r->storage, why, gen, 20000)) {
            /* A storage node failed the batch and has been swapped out
             * since (its range is now held locally): once more. */
            why[0] = '\0';
            outcome = ns_write_batch(conn, jobs, n, why, sizeof why, state);
        }
        if (outcome == 1 && n > 1) {
            /* Find the culprit: each event on its own. */
            outcome = 0;
            for (size_t i = 0; i < n && outcome == 0; i++) {
                char w[512] = "";
                int o = ns_write_batch(conn, &jobs[i], 1, w, sizeof w, state);
                if (o == 1) {
                    ns_log_warn("writer: event refused by the database: %s", w);
                    snprintf(jobs[i]->msg, sizeof jobs[i]->msg, "error: the database refused this event");
                } else if (o < 0) {
                    outcome = -1;
                    snprintf(why, sizeof why, "%s", w);
                }
            }
        } else if (outcome == 1) {
            ns_log_warn("writer: event refused by the database: %s", why);
            snprintf(jobs[0]->msg, sizeof jobs[0]->msg, "error: the database refused this event");
        }
        if (outcome < 0) {
            if (conn != NULL)
                ns_log_warn("writer: lost the database connection: %s", why);
            for (size_t i = 0; i < n; i++)
                if (jobs[i]->result == NS_PUT_NONE)
                    snprintf(jobs[i]->msg, sizeof jobs[i]->msg,
                             "error: the database is unavailable, please retry");
            if (conn)
                PQfinish(conn);
            conn = NULL;
            atomic_store(&r->db_ok, false);
            ns_sleep_ms(backoff_ms);
            backoff_ms = backoff_ms < 2000 ? backoff_ms * 2 : 2000;
        } else {
            backoff_ms = 100;
        }
        for (size_t i = 0; i < n; i++) {
            ns_answer(jobs[i]);
            if (!ns_queue_push(&r->done_q, &jobs[i]->node))
                ns_event_job_free(jobs[i]);
        }
    }
    if (conn)
        PQfinish(conn);
    free(nodes);
    free(jobs);
    return NULL;
}

/* ---- readers ------------------------------------------------------------ */

static uint32_t ns_be32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

/* Turns one binary-format row into event JSON appended to out. */
static bool ns_row_to_json(PGresult *res, int row, ns_buf *out)
{
    if (PQgetlength(res, row, NS_QCOL_ID) != 32 || PQgetlength(res, row, NS_QCOL_PUBKEY) != 32 ||
        PQgetlength(res, row, NS_QCOL_SIG) != 64 || PQgetlength(res, row, NS_QCOL_CREATED_AT) != 4 ||
        PQgetlength(res, row, NS_QCOL_KIND) != 4)
        return false;
    ns_buf text = NS_BUF_INIT;
    ns_buf_adds(&text, "{\"id\":\"");
    ns_buf_add_hex(&text, (const uint8_t *)PQgetvalue(res, row, NS_QCOL_ID), 32);
    ns_buf_adds(&text, "\",\"pubkey\":\"");
    ns_buf_add_hex(&text, (const uint8_t *)PQgetvalue(res, row, NS_QCOL_PUBKEY), 32);
    ns_buf_adds(&text, "\",\"created_at\":");
    ns_buf_add_i64(&text, (int32_t)ns_be32(PQgetvalue(res, row, NS_QCOL_CREATED_AT)));
    ns_buf_adds(&text, ",\"kind\":");
    ns_buf_add_i64(&text, (int32_t)ns_be32(PQgetvalue(res, row, NS_QCOL_KIND)));
    ns_buf_adds(&text, ",\"tags\":");
    ns_buf_add(&text, PQgetvalue(res, row, NS_QCOL_TAGS), (size_t)PQgetlength(res, row, NS_QCOL_TAGS));
    ns_buf_adds(&text, ",\"content\":");
    ns_buf_add_json_str(&text, PQgetvalue(res, row, NS_QCOL_CONTENT),
                        (size_t)PQgetlength(res, row, NS_QCOL_CONTENT));
    ns_buf_adds(&text, ",\"sig\":\"");
    ns_buf_add_hex(&text, (const uint8_t *)PQgetvalue(res, row, NS_QCOL_SIG), 64);
    ns_buf_adds(&text, "\"}");
    ns_event *ev = NULL;
    bool ok = ns_buf_ok(&text) && ns_event_parse(text.data, text.len, &ev, NULL, 0) == 0;
    if (ok) {
        ns_event_to_json(ev, out);
        ns_buf_addc(out, '\0');
    }
    free(ev);
    ns_buf_free(&text);
    return ok;
}

void *ns_pg_reader_main(void *arg)
{
    ns_relay *r = arg;
    PGconn *conn = NULL;
    ns_qnode *node;
    while (ns_queue_pop_many(&r->read_q, &node, 1, -1) == 1) {
        ns_req_job *j = (ns_req_job *)node;
        PGresult *res = NULL;
        uint64_t gen = ns_storage_generation(r->storage);
        bool rechecked = false;
    again:
        /* A connection that died while idle (PostgreSQL restarted) is only
         * noticed when used: then reconnect and try once more. */
        for (int attempt = 0; attempt < 2; attempt++) {
            if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
                if (conn)
                    PQfinish(conn);
                conn = ns_pg_connect(&r->cfg, "reader");
                if (conn)
                    PQclear(PQexec(conn, "SET statement_timeout = '15s'"));
            }
            if (conn == NULL)
                break;
            PQclear(res);
            res = PQexecParams(conn, j->sql, j->nparams, NULL, (const char *const *)j->params, NULL,
                               NULL, 1);
            if (PQresultStatus(res) == PGRES_TUPLES_OK || PQstatus(conn) == CONNECTION_OK)
                break;
        }
        if (!rechecked && conn != NULL && PQstatus(conn) == CONNECTION_OK &&
            PQresultStatus(res) != PGRES_TUPLES_OK &&
            ns_storage_suspect(PQresultErrorField(res, PG_DIAG_SQLSTATE), PQresultErrorMessage(res))) {
            /* A storage node did not answer: once it is swapped out, the
             * query returns what every other partition has. */
            rechecked = true;
            if (ns_storage_recheck(r->storage, PQresultErrorMessage(res), gen, 20000))
                goto again;
        }
        if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
            int rows = PQntuples(res);
            for (int i = 0; i < rows; i++)
                if (ns_row_to_json(res, i, &j->rows))
                    j->nrows++;
            if (!ns_buf_ok(&j->rows)) {
                j->failed = true;
                snprintf(j->msg, sizeof j->msg, "error: out of memory");
            }
        } else {
            j->failed = true;
            if (res != NULL)
                ns_log_warn("reader: query failed: %s", PQresultErrorMessage(res));
            snprintf(j->msg, sizeof j->msg, "error: the database is unavailable, please retry");
            if (conn && PQstatus(conn) != CONNECTION_OK) {
                PQfinish(conn);
                conn = NULL;
            }
        }
        PQclear(res);
        if (!ns_queue_push(&r->done_q, &j->node))
            ns_req_job_free(j);
    }
    if (conn)
        PQfinish(conn);
    return NULL;
}

/* ---- maintenance -------------------------------------------------------- */

/* The purge works one partition at a time, so that a storage node that
 * cannot be reached (or is being re-attached) only delays its own purge. */
static const char ns_partitions_sql[] =
    "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'events'::regclass ORDER BY 1";

static bool ns_purge_partition(PGconn *conn, const char *part, const char *now)
{
    ns_buf sql = NS_BUF_INIT;
    /* `part` comes from regclass::text, which quotes it as an identifier. */
    ns_buf_addf(&sql,
                "WITH gone AS (DELETE FROM %s WHERE event_id IN ("
                "  SELECT event_id FROM %s WHERE expires_at IS NOT NULL AND expires_at <= $1::integer"
                "  LIMIT 5000) RETURNING event_id),"
                " tags AS (DELETE FROM event_tags WHERE event_id IN (SELECT event_id FROM gone))"
                " SELECT count(*) FROM gone",
                part, part);
    ns_buf_addc(&sql, '\0');
    const char *params[1] = {now};
    bool more = false;
    for (int round = 0; round < 100 && ns_buf_ok(&sql); round++) {
        PGresult *res = PQexecParams(conn, sql.data, 1, NULL, params, NULL, NULL, 0);
        bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
        more = ok && atoi(PQgetvalue(res, 0, 0)) > 0;
        if (!ok)
            ns_log_warn("maintenance: purge of expired events in %s failed, will retry: %s", part,
                        PQresultErrorMessage(res));
        PQclear(res);
        if (!more)
            break;
    }
    ns_buf_free(&sql);
    return PQstatus(conn) == CONNECTION_OK;
}

void *ns_pg_maint_main(void *arg)
{
    ns_relay *r = arg;
    PGconn *conn = NULL;
    int64_t next = 0;
    while (!atomic_load(&r->stopping)) {
        if (ns_now() < next) {
            ns_sleep_ms(200);
            continue;
        }
        next = ns_now() + 30;
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            if (conn)
                PQfinish(conn);
            conn = ns_pg_connect(&r->cfg, "maintenance");
            if (conn == NULL)
                continue;
        }
        char now[24];
        snprintf(now, sizeof now, "%lld", (long long)ns_now());
        PGresult *parts = PQexec(conn, ns_partitions_sql);
        if (PQresultStatus(parts) == PGRES_TUPLES_OK)
            for (int i = 0; i < PQntuples(parts) && !atomic_load(&r->stopping); i++)
                if (!ns_purge_partition(conn, PQgetvalue(parts, i, 0), now))
                    break;
        PQclear(parts);
    }
    if (conn)
        PQfinish(conn);
    return NULL;
}
