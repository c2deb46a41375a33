/* ratelimit.h - exact sliding-window rate limits, in process.
 *
 * nostream's settings express limits as "at most `rate` hits per `period`
 * milliseconds" per client IP (connections, messages) or per author
 * (events, optionally only some kinds). This module answers "may key K
 * have one more hit now?" for a list of such rules, exactly: each (key,
 * rule) keeps the times of its last `rate` allowed hits in a ring, and a
 * new hit is allowed when the ring is not full or its oldest time has left
 * the window. One limiter is shared by all threads under a mutex; keys
 * idle for longer than every period are dropped, so memory follows the
 * number of active keys. Hits that are refused are not counted.
 *
 * With Redis configured (REDIS_HOST, as nostream), the same windows live in
 * Redis instead, as sorted sets of hit times updated by one Lua script per
 * hit (check every rule, then count in each), timed by Redis's own clock,
 * so several relay processes behind one load balancer share their limits.
 * Each thread has its own connection. If Redis cannot be reached the hit
 * is decided in process (logged), so an outage of Redis never stops the
 * relay.
 */
#ifndef NS_RATELIMIT_H
#define NS_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "settings.h"

typedef struct ns_ratelimiter ns_ratelimiter;

/* Returns a new in-process limiter (free with ns_ratelimiter_free), or NULL. */
ns_ratelimiter *ns_ratelimiter_new(void);

/* Makes rl share its windows through Redis at host (a path: a unix socket)
 * and port, with an optional password (NULL or ""). Nothing is connected
 * yet: each thread connects on its first hit. The strings are copied. */
void ns_ratelimiter_use_redis(ns_ratelimiter *rl, const char *host, int port, const char *password);
void ns_ratelimiter_free(ns_ratelimiter *rl);

/* Records one hit of `key` (in namespace `ns`, e.g. 'c' connections, 'm'
 * messages, 'e' events) against the rules that apply to `kind` (rules
 * without kinds apply always; pass kind -1 to apply only those).
 * Returns: true when every applicable rule allows it (and the hit is then
 * counted by each); false when one is exceeded (nothing counted); with
 * `which` set to the index of the first exceeded rule. */
bool ns_ratelimit_hit(ns_ratelimiter *rl, char ns, const char *key, size_t keylen,
                      const ns_rate_limits *rules, int64_t kind, int64_t now_ms, size_t *which);

/* Number of keys held (for tests and memory checks). */
size_t ns_ratelimiter_keys(ns_ratelimiter *rl);

/* Milliseconds of a monotonic clock. */
int64_t ns_now_ms(void);

#endif
