/* ingest.h - verify workers (see ingest.c). */
#ifndef NS_INGEST_H
#define NS_INGEST_H

#include "relay.h"

/* Thread body: checks events from verify_q until it is closed and empty. */
void *ns_ingest_main(void *relay);

#endif
