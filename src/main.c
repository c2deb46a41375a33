/* main.c - the nostream binary: configuration, threads, signals.
 *
 * Starts in this order: configuration, migrations (so a relay never serves
 * with an old schema), the writer, readers, verify workers and maintenance
 * threads, then the WebSocket service loop on the main thread. SIGTERM or
 * SIGINT sets `stopping`; the loop then answers the events in flight,
 * closes every connection with 1001, and the worker queues are closed and
 * their threads joined, in pipeline order, before exit.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ingest.h"
#include "log.h"
#include "relay.h"
#include "storage.h"
#include "store_pg.h"
#include "ws.h"

static ns_relay relay;

static void ns_on_signal(int sig)
{
    (void)sig;
    atomic_store(&relay.stopping, true);
    ns_ws_wake(&relay);
}

/* Names, once, every settings key that is accepted but not acted on, not
 * known at all, or spelled the deprecated way: never silently ignored. */
static void ns_log_list(const char *path, const char *what, const ns_strlist *l)
{
    if (l->n == 0)
        return;
    ns_buf b = NS_BUF_INIT;
    for (size_t i = 0; i < l->n; i++)
        ns_buf_addf(&b, "%s%s", i ? ", " : "", l->v[i]);
    ns_buf_addc(&b, '\0');
    ns_log_warn("%s: %s: %s", path, what, b.data ? b.data : "");
    ns_buf_free(&b);
}

static void ns_log_settings_lists(const ns_config *c)
{
    ns_log_info("settings from %s", c->settings_path);
    ns_log_list(c->settings_path, "accepted but not implemented", &c->settings.unimplemented);
    ns_log_list(c->settings_path, "unknown keys (ignored)", &c->settings.unknown);
    ns_log_list(c->settings_path, "deprecated names (used)", &c->settings.deprecated);
}

/* Replaced configurations, freed at exit (see ns_relay.live). */
struct ns_retired {
    ns_config *cfg;
    struct ns_retired *next;
};

/* Watches settings.yaml and, when it changes, puts a freshly read
 * configuration in force without a restart and without dropping anyone. A
 * broken file keeps the previous settings and logs why. */
static void *ns_settings_watch_main(void *arg)
{
    ns_relay *r = arg;
    struct stat last;
    bool have = stat(r->cfg.settings_path, &last) == 0;
    while (!atomic_load(&r->stopping)) {
        struct timespec ts = {0, 250 * 1000000L};
        for (int i = 0; i < 4 && !atomic_load(&r->stopping); i++)
            nanosleep(&ts, NULL);
        struct stat now;
        if (stat(r->cfg.settings_path, &now) != 0)
            continue;
        if (have && now.st_mtim.tv_sec == last.st_mtim.tv_sec && now.st_mtim.tv_nsec == last.st_mtim.tv_nsec &&
            now.st_size == last.st_size && now.st_ino == last.st_ino)
            continue;
        last = now;
        have = true;
        char err[512];
        ns_config *fresh;
        if (ns_config_reload(ns_cfg(r), &fresh, err, sizeof err) != 0) {
            ns_log_error("settings: %s changed but cannot be used, keeping the previous settings: %s",
                         r->cfg.settings_path, err);
            continue;
        }
        struct ns_retired *old = malloc(sizeof *old);
        if (old == NULL) {
            ns_config_free(fresh);
            free(fresh);
            continue;
        }
        old->cfg = atomic_exchange(&r->live, fresh);
        old->next = r->retired;
        r->retired = old;
        ns_log_info("settings: reloaded %s", r->cfg.settings_path);
        ns_log_settings_lists(fresh);
    }
    return NULL;
}

static void ns_join_all(pthread_t *t, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

int main(void)
{
    char err[512];
    if (ns_config_load(&relay.cfg, err, sizeof err) != 0) {
        ns_log_error("configuration: %s", err);
        ns_config_free(&relay.cfg);
        return 2;
    }
    ns_log_settings_lists(&relay.cfg);
    signal(SIGPIPE, SIG_IGN);
    ns_log_info("nostream-c starting: port %d, database %s@%s:%s/%s", relay.cfg.port, relay.cfg.db_user,
                relay.cfg.db_host, relay.cfg.db_port, relay.cfg.db_name);
    if (ns_pg_migrate(&relay.cfg, 30, err, sizeof err) != 0) {
        ns_log_error("database: %s", err);
        return 1;
    }
    atomic_store(&relay.db_ok, true);

    atomic_store(&relay.live, &relay.cfg);
    relay.limits = ns_ratelimiter_new();
    relay.storage = ns_storage_new();
    if (relay.limits == NULL || relay.storage == NULL)
        return 1;
    if (relay.cfg.redis_host[0]) {
        ns_ratelimiter_use_redis(relay.limits, relay.cfg.redis_host, relay.cfg.redis_port,
                                 relay.cfg.redis_password);
        ns_log_info("rate limits shared through Redis at %s:%d", relay.cfg.redis_host, relay.cfg.redis_port);
    }
    ns_queue_init(&relay.verify_q, NULL, NULL);
    relay.nwriters = relay.cfg.writer_threads;
    for (int i = 0; i < relay.nwriters; i++)
        ns_queue_init(&relay.write_q[i], NULL, NULL);
    ns_queue_init(&relay.read_q, NULL, NULL);
    ns_queue_init(&relay.done_q, ns_ws_wake, &relay);
    if (ns_ws_init(&relay) != 0)
        return 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ns_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int nv = relay.cfg.verify_threads, nr = relay.cfg.reader_threads;
    pthread_t *verifiers = calloc((size_t)nv, sizeof *verifiers);
    pthread_t *readers = calloc((size_t)nr, sizeof *readers);
    pthread_t writers[NS_MAX_WRITERS], maint, watcher, monitor;
    ns_writer_arg wargs[NS_MAX_WRITERS];
    pthread_create(&monitor, NULL, ns_storage_main, &relay);
    for (int i = 0; i < relay.nwriters; i++) {
        wargs[i] = (ns_writer_arg){&relay, i};
        pthread_create(&writers[i], NULL, ns_pg_writer_main, &wargs[i]);
    }
    pthread_create(&maint, NULL, ns_pg_maint_main, &relay);
    pthread_create(&watcher, NULL, ns_settings_watch_main, &relay);
    for (int i = 0; i < nv; i++)
        pthread_create(&verifiers[i], NULL, ns_ingest_main, &relay);
    for (int i = 0; i < nr; i++)
        pthread_create(&readers[i], NULL, ns_pg_reader_main, &relay);
    ns_log_info("listening on port %d (%d verify threads, %d writers, %d readers)", relay.cfg.port, nv,
                relay.nwriters, nr);

    ns_ws_run(&relay);

    /* Close the pipeline from its start: verifiers drain into the writer,
     * which drains into done (answered above or dropped with the socket). */
    ns_queue_close(&relay.verify_q);
    ns_join_all(verifiers, nv);
    for (int i = 0; i < relay.nwriters; i++)
        ns_queue_close(&relay.write_q[i]);
    ns_join_all(writers, relay.nwriters);
    ns_queue_close(&relay.read_q);
    ns_join_all(readers, nr);
    pthread_join(maint, NULL);
    pthread_join(watcher, NULL);
    pthread_join(monitor, NULL); /* after the writer and readers: they may wait on it */
    ns_queue_close(&relay.done_q);
    ns_ws_destroy(&relay);
    for (ns_qnode *n = ns_queue_take_all(&relay.done_q); n;) {
        ns_qnode *next = n->next;
        if (((ns_event_job *)n)->type == NS_JOB_EVENT)
            ns_event_job_free((ns_event_job *)n);
        else
            ns_req_job_free((ns_req_job *)n);
        n = next;
    }
    ns_queue_destroy(&relay.verify_q);
    for (int i = 0; i < relay.nwriters; i++)
        ns_queue_destroy(&relay.write_q[i]);
    ns_queue_destroy(&relay.read_q);
    ns_queue_destroy(&relay.done_q);
    free(verifiers);
    free(readers);
    ns_ratelimiter_free(relay.limits);
    ns_storage_free(relay.storage);
    /* The live config is either relay.cfg or the newest retired one's
     * successor; free every heap config exactly once. */
    ns_config *live = atomic_load(&relay.live);
    if (live != &relay.cfg) {
        ns_config_free(live);
        free(live);
    }
    for (struct ns_retired *x = relay.retired, *n; x; x = n) {
        n = x->next;
        if (x->cfg != &relay.cfg) {
            ns_config_free(x->cfg);
            free(x->cfg);
        }
        free(x);
    }
    ns_config_free(&relay.cfg);
    ns_log_info("stopped");
    return 0;
}
