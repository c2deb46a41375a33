/* storage.h - the storage-node monitor: riding out a node that is down.
 *
 * One thread probes every foreign partition of `events` (the storage nodes)
 * every two seconds. A node that does not answer is swapped out for a
 * local held table (migrations/0005), so reads and writes carry on with
 * what is reachable; when it answers again its held events are delivered
 * and it is swapped back in. Readers and the writer that hit a connection
 * error from a node ask for a check at once (ns_storage_recheck) and retry
 * when it changed something. The WebSocket thread asks which missing
 * ranges a REQ touches (ns_storage_describe_gaps), to say so in a NOTICE.
 */
#ifndef NS_STORAGE_H
#define NS_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ns_storage ns_storage;

/* Returns: a new monitor state (no outage known), or NULL on ENOMEM.
 * Freed by ns_storage_free after the monitor thread has been joined. */
ns_storage *ns_storage_new(void);
void ns_storage_free(ns_storage *s);

/* Thread body; the argument is the ns_relay (whose `storage` is set).
 * Returns when the relay is stopping. */
void *ns_storage_main(void *relay);

/* Is this failed statement (SQLSTATE, message) one a storage node may have
 * caused: a connection error reported by postgres_fdw, or a timeout?
 * In: sqlstate  5 characters or NULL; message  the error text or NULL. */
bool ns_storage_suspect(const char *sqlstate, const char *message);

/* Returns: the current generation of the swapped-out set; read it before a
 * statement, pass it to ns_storage_recheck after one failed. */
uint64_t ns_storage_generation(ns_storage *s);

/* Whether `events` had a foreign partition (an attached storage node) at
 * the monitor's last round; false before the first. Lock-free, for the I/O
 * thread: the query builder picks its shape by it (query.h,
 * NS_QUERY_NODES), and either shape is correct, so a stale answer only
 * costs speed for a round. */
bool ns_storage_has_nodes(ns_storage *s);

/* Asks the monitor for a check now and waits for one that started after
 * this call to finish, for at most timeout_ms.
 * Returns: true when the set of swapped-out nodes is no longer the one of
 *          generation `before` (so a retry may now succeed), false
 *          otherwise or on timeout.
 * In: message  the error text; a postgres_fdw "could not connect to server
 *              \"name\"" names the server, which is then held without
 *              waiting for a probe of its own. May be NULL. */
bool ns_storage_recheck(ns_storage *s, const char *message, uint64_t before, int timeout_ms);

/* Describes the ranges of nodes that are swapped out and overlap the
 * created_at window [since, until] (-1: open end) as text for a NOTICE.
 * Cheap when no node is out (one atomic load); never waits on PostgreSQL.
 * Returns: the number of such ranges (0: out untouched).
 * Out: out  NUL-terminated text, truncated to outlen. */
size_t ns_storage_describe_gaps(ns_storage *s, int64_t since, int64_t until, char *out,
                                size_t outlen);

#endif
