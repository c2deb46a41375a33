/* store_pg.h - PostgreSQL storage: connections, migrations, the writer,
 * the REQ readers and the expiration purge.
 *
 * Each thread here owns its own libpq connection and never shares it. A
 * lost connection is re-opened by the thread that owns it, with back-off;
 * while PostgreSQL is away, events are answered `error:` (never `OK true`)
 * and REQs get CLOSED, so clients can retry.
 */
#ifndef NS_STORE_PG_H
#define NS_STORE_PG_H

#include <libpq-fe.h>

#include "relay.h"

/* Opens a connection from the DB_* settings; `role` names the thread in
 * pg_stat_activity (and in its log lines). Returns NULL on failure, logging
 * why at most every 5 s across threads. The caller
 * closes it with PQfinish. */
PGconn *ns_pg_connect(const ns_config *c, const char *role);

/* Applies every migrations/NNNN_*.sql not yet applied, in order, each in a
 * transaction, under an advisory lock so that two relays starting at once
 * do not race. Retries the connection for up to `wait_s` seconds.
 * Returns 0, or a negative code with the reason in err. */
int ns_pg_migrate(const ns_config *c, int wait_s, char *err, size_t errlen);

/* What a writer thread is given: the relay, and which write queue is its. */
typedef struct ns_writer_arg {
    ns_relay *relay;
    int index;
} ns_writer_arg;

/* Thread bodies. They return when their input queue is closed and drained
 * (maintenance: when stopping is set). The writer's argument is an
 * ns_writer_arg, the others' the ns_relay. */
void *ns_pg_writer_main(void *writer_arg);
void *ns_pg_reader_main(void *relay);
void *ns_pg_maint_main(void *relay);

#endif
