/* explain_plans.c - the common REQ shapes use an index on 1M events.
 *
 * Loads one million synthetic events (and their tags) straight into
 * events_hot with SQL, ANALYZEs, then for each common filter shape builds
 * the relay's own SQL (query.c) and checks with EXPLAIN that PostgreSQL
 * answers it with an index and without scanning events_hot or event_tags
 * in full. Connects with the relay's DB_* variables. Exit status 0 when
 * every shape passes; prints each plan's first lines either way.
 *
 * Usage: explain_plans [events]    (default 1000000)
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "filter.h"
#include "query.h"

static PGconn *conn;

static void exec_or_die(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "explain_plans: %s\n%s\n", sql, PQresultErrorMessage(r));
        exit(2);
    }
    PQclear(r);
}

static int check_shape(const char *name, const char *filter_json)
{
    json_error_t jerr;
    json_t *j = json_loads(filter_json, 0, &jerr);
    ns_filter_opts o = NS_FILTER_OPTS_DEFAULT;
    ns_filter *f;
    char reason[256];
    if (j == NULL || ns_filter_from_json(j, &o, &f, reason, sizeof reason) != 0) {
        fprintf(stderr, "bad filter %s\n", filter_json);
        exit(2);
    }
    json_decref(j);
    ns_query q;
    ns_query_build(&f, 1, 500, 5000, 1700000000, 0, &q);
    char *sql = malloc(q.sql.len + 32);
    sprintf(sql, "EXPLAIN %s", q.sql.data);
    PGresult *r = PQexecParams(conn, sql, q.nparams, NULL, (const char *const *)q.params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s\n", name, PQresultErrorMessage(r));
        exit(2);
    }
    bool index = false, seq = false;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *line = PQgetvalue(r, i, 0);
        if (strstr(line, "Index Scan") || strstr(line, "Index Only Scan") || strstr(line, "Bitmap Index Scan"))
            index = true;
        if (strstr(line, "Seq Scan on events_hot") || strstr(line, "Seq Scan on event_tags"))
            seq = true;
    }
    bool ok = index && !seq;
    printf("%s %-22s %s\n", ok ? "ok  " : "FAIL", name, filter_json);
    for (int i = 0; i < PQntuples(r) && (!ok || i < 6); i++)
        printf("       %s\n", PQgetvalue(r, i, 0));
    PQclear(r);
    free(sql);
    ns_query_free(&q);
    ns_filter_free(f);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    ns_config c;
    char err[256];
    if (ns_config_load(&c, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    const char *keys[] = {"host", "port", "user", "dbname", NULL};
    const char *vals[] = {c.db_host, c.db_port, c.db_user, c.db_name, NULL};
    conn = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "explain_plans: %s", PQerrorMessage(conn));
        return 2;
    }
    char sql[2048];
    /* 5000 authors, 977 p-tag targets, e tags pointing at earlier events. */
    snprintf(sql, sizeof sql,
             "INSERT INTO events_hot (event_id, event_pubkey, event_kind, event_created_at,"
             " event_content, event_tags, event_signature)"
             " SELECT sha256(int4send(i)), sha256(int4send(100000000 + i %% 5000)),"
             " (ARRAY[1,1,1,1,7,7,0,3,30023,6])[1 + i %% 10], 1600000000 + i * 60,"
             " 'note ' || i, jsonb_build_array("
             "   jsonb_build_array('e', encode(sha256(int4send(i / 2)), 'hex')),"
             "   jsonb_build_array('p', encode(sha256(int4send(200000000 + i %% 977)), 'hex'))),"
             " '\\x00'::bytea FROM generate_series(1, %ld) AS i", n);
    exec_or_die(sql);
    exec_or_die("INSERT INTO event_tags (event_id, tag_name, tag_value, event_created_at)"
                " SELECT DISTINCT event_id, t->>0, t->>1, event_created_at"
                " FROM events_hot, jsonb_array_elements(event_tags) t");
    exec_or_die("ANALYZE events_hot");
    exec_or_die("ANALYZE event_tags");

    const char *author = "\"8c0d9a8ec5b6d7e4b6a7b6c0e0d0f0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0\"";
    PGresult *r = PQexec(conn, "SELECT encode(event_pubkey, 'hex'), encode(event_id, 'hex') FROM events_hot LIMIT 1");
    char a[80], id[80];
    snprintf(a, sizeof a, "\"%s\"", PQntuples(r) ? PQgetvalue(r, 0, 0) : author + 1);
    snprintf(id, sizeof id, "\"%s\"", PQntuples(r) ? PQgetvalue(r, 0, 1) : author + 1);
    PQclear(r);
    char f[7][512];
    snprintf(f[0], sizeof f[0], "{\"ids\":[%s]}", id);
    snprintf(f[1], sizeof f[1], "{\"authors\":[%s],\"kinds\":[1]}", a);
    snprintf(f[2], sizeof f[2], "{\"#e\":[%s]}", id);
    snprintf(f[3], sizeof f[3], "{\"#p\":[%s],\"limit\":20}", a);
    snprintf(f[4], sizeof f[4], "{\"kinds\":[7],\"since\":1659000000}");
    snprintf(f[5], sizeof f[5], "{\"authors\":[%s],\"limit\":10}", a);
    snprintf(f[6], sizeof f[6], "{\"#p\":[%s,%s],\"kinds\":[1,7],\"limit\":20}", a, id);
    const char *names[7] = {"ids", "authors+kinds", "#e", "#p+limit", "kinds+since", "authors+limit",
                            "#p(2)+kinds+limit"};
    int bad = 0;
    for (int i = 0; i < 7; i++)
        bad += check_shape(names[i], f[i]);
    PQfinish(conn);
    printf("%d passed, %d failed\n", 7 - bad, bad);
    return bad ? 1 : 0;
}
