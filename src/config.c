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

/* nostream reads 0 as "no limit" for these counts. */
static int ns_unlimited(uint64_t v) { return v == 0 || v > INT_MAX ? INT_MAX : (int)v; }

static void ns_copy_opt(char *dst, size_t n, const char *src)
{
    if (src != NULL)
        ns_copy(dst, n, src);
}

/* Reads settings.yaml (writing the default first if there is none) and
 * takes the values the relay enforces from it. */
static int ns_config_apply_settings(ns_config *c, char *err, size_t errlen)
{
    snprintf(c->settings_path, sizeof c->settings_path, "%s/settings.yaml", c->config_dir);
    int rc = ns_settings_write_default(c->settings_path, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = ns_settings_load(c->settings_path, &c->settings, err, errlen)) != 0)
        return rc;
    const ns_settings *s = &c->settings;
    c->max_payload = (size_t)s->network.max_payload_size;
    if (s->workers.count > 0)
        c->verify_threads = s->workers.count > 64 ? 64 : (int)s->workers.count;
    c->max_subscriptions = ns_unlimited(s->limits.subscription.max_subscriptions);
    c->max_filters = ns_unlimited(s->limits.subscription.max_filters);
    c->max_filter_values = s->limits.subscription.max_filter_values > INT_MAX
                               ? INT_MAX : (int)s->limits.subscription.max_filter_values;
    c->max_subid_length = ns_unlimited(s->limits.subscription.max_subscription_id_length);
    c->max_limit = ns_unlimited(s->limits.subscription.max_limit);
    if (c->default_limit > c->max_limit)
        c->default_limit = c->max_limit;
    uint64_t mpl = s->limits.subscription.min_prefix_length;
    c->min_prefix_length = mpl == 0 ? 1 : mpl > 64 ? 64 : (int)mpl;
    c->created_at_max_positive_delta = (int64_t)s->limits.event.created_at_max_positive_delta;
    c->created_at_max_negative_delta = (int64_t)s->limits.event.created_at_max_negative_delta;
    c->content_max_length = 0; /* per kind: ns_settings_content_limit */
    ns_copy_opt(c->relay_name, sizeof c->relay_name, s->info.name);
    ns_copy_opt(c->relay_description, sizeof c->relay_description, s->info.description);
    ns_copy_opt(c->relay_contact, sizeof c->relay_contact, s->info.contact);
    ns_copy_opt(c->relay_url, sizeof c->relay_url, s->info.relay_url);
    char pk[65];
    if (ns_settings_info_pubkey(s, pk) == 0)
        ns_copy(c->relay_pubkey, sizeof c->relay_pubkey, pk);
    return 0;
}

void ns_config_free(ns_config *c) { ns_settings_free(&c->settings); }

int ns_config_reload(const ns_config *old, ns_config **out, char *err, size_t errlen)
{
    *out = NULL;
    /* The simplest way to get exactly what a start would give: load anew,
     * then keep what cannot change while running (port, database, threads). */
    ns_config *c = malloc(sizeof *c);
    if (c == NULL)
        return ns_fail(err, errlen, NS_ENOMEM, "out of memory");
    int rc = ns_config_load(c, err, errlen);
    if (rc != 0) {
        ns_config_free(c);
        free(c);
        return rc;
    }
    c->port = old->port;
    c->verify_threads = old->verify_threads;
    c->reader_threads = old->reader_threads;
    c->writer_threads = old->writer_threads;
    memcpy(c->db_host, old->db_host, sizeof c->db_host);
    memcpy(c->db_port, old->db_port, sizeof c->db_port);
    memcpy(c->db_user, old->db_user, sizeof c->db_user);
    memcpy(c->db_password, old->db_password, sizeof c->db_password);
    memcpy(c->db_name, old->db_name, sizeof c->db_name);
    *out = c;
    return 0;
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
    ns_settings_defaults(&c->settings);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->verify_threads = cpus > 0 ? (int)cpus : 2;
    c->reader_threads = 4;
    c->writer_threads = 2;
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
    ns_env_str("NOSTR_CONFIG_DIR", c->config_dir, sizeof c->config_dir);
    if ((rc = ns_env_int("RELAY_PORT", 1, 65535, &c->port, err, errlen)) != 0)
        return rc;
    ns_env_str("DB_HOST", c->db_host, sizeof c->db_host);
    ns_env_str("DB_PORT", c->db_port, sizeof c->db_port);
    ns_env_str("DB_USER", c->db_user, sizeof c->db_user);
    ns_env_str("DB_PASSWORD", c->db_password, sizeof c->db_password);
    ns_env_str("DB_NAME", c->db_name, sizeof c->db_name);
    ns_env_str("MIGRATIONS_DIR", c->migrations_dir, sizeof c->migrations_dir);
    ns_env_str("REDIS_HOST", c->redis_host, sizeof c->redis_host);
    ns_env_str("REDIS_PASSWORD", c->redis_password, sizeof c->redis_password);
    c->redis_port = 6379;
    if ((rc = ns_env_int("REDIS_PORT", 1, 65535, &c->redis_port, err, errlen)) != 0)
        return rc;
    if ((rc = ns_config_apply_settings(c, err, errlen)) != 0)
        return rc;
    int port;
    if (ns_env_int("DB_PORT", 1, 65535, &port, err, errlen) != 0)
        return NS_ECONFIG;
    if ((rc = ns_env_int("VERIFY_THREADS", 1, 64, &c->verify_threads, err, errlen)) != 0 ||
        (rc = ns_env_int("READER_THREADS", 1, 64, &c->reader_threads, err, errlen)) != 0 ||
        (rc = ns_env_int("WRITER_THREADS", 1, NS_MAX_WRITERS, &c->writer_threads, err, errlen)) != 0)
        return rc;
    return 0;
}
