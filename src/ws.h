/* ws.h - the WebSocket and HTTP front end (libwebsockets).
 *
 * Runs on its own thread and owns every client connection. It reads
 * messages, answers what it can at once (CLOSE, malformed input, refused
 * REQs), passes EVENTs to the verify workers and REQ queries to the
 * readers, and writes results and live events back, never waiting on
 * PostgreSQL or on a signature check.
 */
#ifndef NS_WS_H
#define NS_WS_H

#include "relay.h"

/* Creates the libwebsockets context listening on cfg.port.
 * Returns 0 or a negative code (message logged). */
int ns_ws_init(ns_relay *r);

/* Serves until stopping is set and in-flight events are answered, then
 * closes every connection with 1001. Returns 0. */
int ns_ws_run(ns_relay *r);

/* Wakes the service loop from any thread (and from a signal handler). */
void ns_ws_wake(void *relay);

void ns_ws_destroy(ns_relay *r);

#endif
