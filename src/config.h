/* config.h - the relay's configuration.
 *
 * One struct holds every knob, filled from defaults (nostream's default
 * settings), then from $NOSTR_CONFIG_DIR/settings.yaml (settings.c, later),
 * then from the environment variables nostream uses (RELAY_PORT, DB_*,
 * REDIS_*). Threads read it without locks: it is built before they start
 * and never changed while they run.
 */
#ifndef NS_CONFIG_H
#define NS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "settings.h"

/* Most writer threads (WRITER_THREADS). */
#define NS_MAX_WRITERS 8

typedef struct ns_config {
    /* network */
    int port;                      /* RELAY_PORT, 8008 */
    size_t max_payload;            /* network.maxPayloadSize, 524288 bytes */
    size_t max_outbound;           /* bytes queued for one slow reader before it is cut */
    /* database */
    char db_host[256];             /* DB_HOST; "/dir" is a unix socket directory */
    char db_port[16];              /* DB_PORT */
    char db_user[128];             /* DB_USER */
    char db_password[256];         /* DB_PASSWORD (never logged) */
    char db_name[128];             /* DB_NAME */
    char config_dir[512];          /* NOSTR_CONFIG_DIR */
    char redis_host[256];          /* REDIS_HOST: "" keeps rate limits in process */
    int redis_port;                /* REDIS_PORT, 6379 */
    char redis_password[256];      /* REDIS_PASSWORD (never logged) */
    char migrations_dir[512];      /* MIGRATIONS_DIR */
    int verify_threads;            /* signature-checking workers */
    int reader_threads;            /* REQ query workers, one connection each */
    int writer_threads;            /* event writers, one connection each (WRITER_THREADS, 2) */
    int write_batch;               /* most events per write transaction */
    /* limits.client.subscription */
    int max_subscriptions;         /* per connection, 10 */
    int max_filters;               /* per REQ, 10 */
    int max_filter_values;         /* per list in a filter, 2500 */
    int max_subid_length;          /* 256 */
    int max_limit;                 /* 5000 */
    int default_limit;             /* rows per filter without limit, 500 */
    int min_prefix_length;         /* 64: full ids and pubkeys only */
    /* limits.event */
    int64_t created_at_max_positive_delta; /* 900 s into the future */
    int64_t created_at_max_negative_delta; /* 0: no limit into the past */
    size_t content_max_length;     /* 102400 */
    /* info (NIP-11) */
    char relay_name[128];
    char relay_description[512];
    char relay_pubkey[65];
    char relay_contact[128];
    char relay_url[256];
    /* settings.yaml as read (owned; ns_config_free releases it) */
    ns_settings settings;
    char settings_path[600];
} ns_config;

/* Fills c with defaults, then $NOSTR_CONFIG_DIR/settings.yaml (written from
 * nostream's defaults when missing), then the environment, which wins.
 * Returns 0, or NS_ECONFIG / NS_EIO with a message naming the bad
 * variable, or the settings key and line, in err. Release with
 * ns_config_free (also after a failure). */
int ns_config_load(ns_config *c, char *err, size_t errlen);

void ns_config_free(ns_config *c);

/* Builds a new configuration from `old` with settings.yaml read again (the
 * environment still wins). Returns 0 with *out a new heap config (release
 * with ns_config_free then free), or an error with the reason in err and
 * *out NULL: the caller keeps the old one. */
int ns_config_reload(const ns_config *old, ns_config **out, char *err, size_t errlen);

#endif
