/* config.c - defaults and environment variables (see config.h). */
#include "config.h"
#include "err.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void ns_copy(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src); }

static int ns_env_int(const char *name, long lo, long hi, int *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end != '\0' || x < lo || x > hi)
        return ns_fail(err, errlen, NS_ECONFIG, "%s must be an integer from %ld to %ld, not \"%s\"",
                       name, lo, hi, v);
    *out = (int)x;
    return 0;
}

static void ns_env_str(const char *name, char *dst, size_t n)
{
    const char *v = getenv(name);
    if (v != NULL && *v != '\0')
        ns_copy(dst, n, v);
}

/* <dir of the binary>/../migrations: the layout of the repository
 * (build/nostream) and of the container image (/app/build/nostream). */
static void ns_default_migrations(char *dst, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
        ns_copy(dst, n, "migrations");
        return;
    }
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    size_t len2 = strlen(exe);
    if (len2 + sizeof "/../migrations" > n) {
        ns_copy(dst, n, "migrations");
        return;
    }
    memcpy(dst, exe, len2);
    memcpy(dst + len2, "/../migrations", sizeof "/../migrations");
}

int ns_config_load(ns_config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->port = 8008;
    c->max_payload = 524288;
    c->max_outbound = 16u << 20;
    ns_copy(c->db_host, sizeof c->db_host, "localhost");
    ns_copy(c->db_port, sizeof c->db_port, "5432");
    ns_copy(c->db_user, sizeof c->db_user, "nostr_ts_relay");
    ns_copy(c->db_name, sizeof c->db_name, "nostr_ts_relay");
    ns_copy(c->config_dir, sizeof c->config_dir, ".nostr");
    ns_default_migrations(c->migrations_dir, sizeof c->migrations_dir);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->verify_threads = cpus > 0 ? (int)cpus : 2;
    c->reader_threads = 4;
    c->write_batch = 256;
    c->max_subscriptions = 10;
    c->max_filters = 10;
    c->max_filter_values = 2500;
    c->max_subid_length = 256;
    c->max_limit = 5000;
    c->default_limit = 500;
    c->min_prefix_length = 64;
    c->created_at_max_positive_delta = 900;
    c->created_at_max_negative_delta = 0;
    c->content_max_length = 102400;
    ns_copy(c->relay_name, sizeof c->relay_name, "nostream-c");
    ns_copy(c->relay_description, sizeof c->relay_description,
            "A nostream-compatible Nostr relay written in C");

    int rc;
    if ((rc = ns_env_int("RELAY_PORT", 1, 65535, &c->port, err, errlen)) != 0)
        return rc;
    ns_env_str("DB_HOST", c->db_host, sizeof c->db_host);
    ns_env_str("DB_PORT", c->db_port, sizeof c->db_port);
    ns_env_str("DB_USER", c->db_user, sizeof c->db_user);
    ns_env_str("DB_PASSWORD", c->db_password, sizeof c->db_password);
    ns_env_str("DB_NAME", c->db_name, sizeof c->db_name);
    ns_env_str("NOSTR_CONFIG_DIR", c->config_dir, sizeof c->config_dir);
    ns_env_str("MIGRATIONS_DIR", c->migrations_dir, sizeof c->migrations_dir);
    int port;
    if (ns_env_int("DB_PORT", 1, 65535, &port, err, errlen) != 0)
        return NS_ECONFIG;
    if ((rc = ns_env_int("VERIFY_THREADS", 1, 64, &c->verify_threads, err, errlen)) != 0 ||
        (rc = ns_env_int("READER_THREADS", 1, 64, &c->reader_threads, err, errlen)) != 0)
        return rc;
    return 0;
}
