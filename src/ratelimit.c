/* ratelimit.c - exact sliding-window rate limits (see ratelimit.h). */
#include "ratelimit.h"
#include "log.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One key: for each rule, a ring of the times of its last `rate` hits.
 * The rings are laid out one after the other in `times`. */
typedef struct ns_rl_entry {
    struct ns_rl_entry *next;
    uint64_t hash;
    int64_t last_ms;         /* latest allowed hit */
    const ns_rate_limits *rules; /* the rule list the rings were sized for */
    size_t *head;            /* per rule: next slot to write */
    size_t *count;           /* per rule: slots used */
    int64_t *times;
    size_t keylen;
    char key[];
} ns_rl_entry;

struct ns_ratelimiter {
    char *redis_host;        /* NULL: in process only */
    int redis_port;
    char *redis_password;
    pthread_key_t redis_key; /* per-thread redisContext */
    pthread_mutex_t lock;
    ns_rl_entry **buckets;
    size_t nbuckets;
    size_t nkeys;
    int64_t next_sweep_ms;
};

int64_t ns_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ns_ratelimiter *ns_ratelimiter_new(void)
{
    ns_ratelimiter *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    rl->nbuckets = 1024;
    rl->buckets = calloc(rl->nbuckets, sizeof *rl->buckets);
    if (rl->buckets == NULL) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

static void ns_rl_entry_free(ns_rl_entry *e)
{
    free(e->head);
    free(e->count);
    free(e->times);
    free(e);
}

static void ns_redis_ctx_free(void *p) { redisFree(p); }

void ns_ratelimiter_use_redis(ns_ratelimiter *rl, const char *host, int port, const char *password)
{
    rl->redis_host = strdup(host);
    rl->redis_port = port;
    rl->redis_password = password && *password ? strdup(password) : NULL;
    pthread_key_create(&rl->redis_key, ns_redis_ctx_free);
}

void ns_ratelimiter_free(ns_ratelimiter *rl)
{
    if (rl == NULL)
        return;
    if (rl->redis_host) {
        /* The calling thread's connection; other threads' went with them. */
        redisContext *ctx = pthread_getspecific(rl->redis_key);
        if (ctx)
            redisFree(ctx);
        pthread_key_delete(rl->redis_key);
        free(rl->redis_host);
        free(rl->redis_password);
    }
    for (size_t i = 0; i < rl->nbuckets; i++)
        for (ns_rl_entry *e = rl->buckets[i], *n; e; e = n) {
            n = e->next;
            ns_rl_entry_free(e);
        }
    free(rl->buckets);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

/* FNV-1a: keys are IPs and pubkeys the relay has already validated, and a
 * bucket chain only costs lookups of this limiter, not the relay. */
static uint64_t ns_rl_hash(char ns, const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ (uint8_t)ns;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)k[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t ns_rl_max_period(const ns_rate_limits *rules)
{
    uint64_t m = 0;
    for (size_t i = 0; i < rules->n; i++)
        if (rules->v[i].period_ms > m)
            m = rules->v[i].period_ms;
    return m;
}

/* Drops keys whose latest hit is older than every period of their rules. */
static void ns_rl_sweep(ns_ratelimiter *rl, int64_t now_ms)
{
    for (size_t b = 0; b < rl->nbuckets; b++) {
        ns_rl_entry **p = &rl->buckets[b];
        while (*p) {
            ns_rl_entry *e = *p;
            if (now_ms - e->last_ms > (int64_t)ns_rl_max_period(e->rules)) {
                *p = e->next;
                ns_rl_entry_free(e);
                rl->nkeys--;
            } else {
                p = &e->next;
            }
        }
    }
}

static ns_rl_entry *ns_rl_new_entry(char ns, const char *key, size_t keylen, uint64_t h,
                                    const ns_rate_limits *rules)
{
    size_t total = 0;
    for (size_t i = 0; i < rules->n; i++)
        total += rules->v[i].rate;
    ns_rl_entry *e = calloc(1, sizeof *e + keylen + 1);
    if (e == NULL)
        return NULL;
    e->head = calloc(rules->n ? rules->n : 1, sizeof *e->head);
    e->count = calloc(rules->n ? rules->n : 1, sizeof *e->count);
    e->times = calloc(total ? total : 1, sizeof *e->times);
    if (e->head == NULL || e->count == NULL || e->times == NULL) {
        ns_rl_entry_free(e);
        return NULL;
    }
    e->hash = h;
    e->rules = rules;
    e->keylen = keylen + 1;
    e->key[0] = ns;
    memcpy(e->key + 1, key, keylen);
    return e;
}


static bool ns_rule_applies(const ns_rate_limit *r, int64_t kind)
{
    if (!r->has_kinds)
        return true;
    return kind >= 0 && ns_settings_kind_in_list(&r->kinds, (uint64_t)kind);
}

/* Checks every rule's window, and only if all allow, counts the hit in
 * each. KEYS: one sorted set per rule; ARGV[1]: a member unique to this
 * hit; then period and rate per rule. Returns 0, or the 1-based index of
 * the first rule exceeded. Time is Redis's own, common to every relay. */
static const char ns_redis_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "for i, k in ipairs(KEYS) do\n"
    "  local period = tonumber(ARGV[2 * i]); local rate = tonumber(ARGV[2 * i + 1])\n"
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now - period)\n"
    "  if redis.call('ZCARD', k) >= rate then return i end\n"
    "end\n"
    "for i, k in ipairs(KEYS) do\n"
    "  redis.call('ZADD', k, now, ARGV[1])\n"
    "  redis.call('PEXPIRE', k, tonumber(ARGV[2 * i]))\n"
    "end\n"
    "return 0\n";

/* While Redis is unreachable, each thread tries again at most every 5 s
 * (a connection attempt blocks the caller) and says so at most once a
 * minute. */
static _Thread_local int64_t ns_redis_retry_ms, ns_redis_logged_ms;

static redisContext *ns_redis_conn(ns_ratelimiter *rl)
{
    redisContext *ctx = pthread_getspecific(rl->redis_key);
    if (ctx != NULL && ctx->err == 0)
        return ctx;
    if (ctx != NULL) {
        redisFree(ctx);
        pthread_setspecific(rl->redis_key, NULL);
    }
    int64_t now = ns_now_ms();
    if (now < ns_redis_retry_ms)
        return NULL;
    ns_redis_retry_ms = now + 5000;
    struct timeval tv = {0, 500000};
    ctx = rl->redis_host[0] == '/' ? redisConnectUnixWithTimeout(rl->redis_host, tv)
                                   : redisConnectWithTimeout(rl->redis_host, rl->redis_port, tv);
    if (ctx == NULL || ctx->err) {
        if (now >= ns_redis_logged_ms) {
            ns_redis_logged_ms = now + 60000;
            ns_log_warn("rate limits: cannot reach Redis at %s:%d (%s); deciding in process", rl->redis_host,
                        rl->redis_port, ctx ? ctx->errstr : "out of memory");
        }
        if (ctx)
            redisFree(ctx);
        pthread_setspecific(rl->redis_key, NULL);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    if (rl->redis_password) {
        redisReply *r = redisCommand(ctx, "AUTH %s", rl->redis_password);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (!ok) {
            ns_log_warn("rate limits: Redis refused the password (REDIS_PASSWORD); deciding in process");
            redisFree(ctx);
            return NULL;
        }
    }
    pthread_setspecific(rl->redis_key, ctx);
    return ctx;
}

/* Returns 1 allowed, 0 refused (which set), -1 Redis unavailable. */
static int ns_redis_hit(ns_ratelimiter *rl, char ns, const char *key, size_t keylen,
                        const ns_rate_limits *rules, int64_t kind, size_t *which)
{
    redisContext *ctx = ns_redis_conn(rl);
    if (ctx == NULL)
        return -1;
    enum { MAXR = 32 };
    const char *argv[3 + MAXR * 3];
    size_t argl[3 + MAXR * 3];
    char keys[MAXR][200], nums[MAXR][2][24], member[64];
    size_t idx[MAXR], nk = 0;
    static atomic_ulong counter;
    snprintf(member, sizeof member, "%d-%lu-%lu", (int)getpid(), (unsigned long)pthread_self(),
             (unsigned long)atomic_fetch_add(&counter, 1));
    for (size_t i = 0; i < rules->n && nk < MAXR; i++) {
        const ns_rate_limit *r = &rules->v[i];
        if (!ns_rule_applies(r, kind))
            continue;
        snprintf(keys[nk], sizeof keys[nk], "nostream:rl:%c:%.*s:%llu:%llu", ns, (int)(keylen > 150 ? 150 : keylen),
                 key, (unsigned long long)r->period_ms, (unsigned long long)r->rate);
        snprintf(nums[nk][0], 24, "%llu", (unsigned long long)r->period_ms);
        snprintf(nums[nk][1], 24, "%llu", (unsigned long long)r->rate);
        idx[nk++] = i;
    }
    if (nk == 0)
        return 1;
    size_t a = 0;
    char nkeys[8];
    snprintf(nkeys, sizeof nkeys, "%zu", nk);
    argv[a] = "EVAL", argl[a++] = 4;
    argv[a] = ns_redis_script, argl[a++] = sizeof ns_redis_script - 1;
    argv[a] = nkeys, argl[a++] = strlen(nkeys);
    for (size_t i = 0; i < nk; i++)
        argv[a] = keys[i], argl[a++] = strlen(keys[i]);
    argv[a] = member, argl[a++] = strlen(member);
    for (size_t i = 0; i < nk; i++) {
        argv[a] = nums[i][0], argl[a++] = strlen(nums[i][0]);
        argv[a] = nums[i][1], argl[a++] = strlen(nums[i][1]);
    }
    redisReply *r = redisCommandArgv(ctx, (int)a, argv, argl);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        ns_log_warn("rate limits: Redis error (%s); deciding in process",
                    r && r->type == REDIS_REPLY_ERROR ? r->str : ctx->errstr);
        freeReplyObject(r);
        return -1;
    }
    long long res = r->integer;
    freeReplyObject(r);
    if (res == 0)
        return 1;
    if (which && res >= 1 && (size_t)res <= nk)
        *which = idx[res - 1];
    return 0;
}

bool ns_ratelimit_hit(ns_ratelimiter *rl, char ns, const char *key, size_t keylen,
                      const ns_rate_limits *rules, int64_t kind, int64_t now_ms, size_t *which)
{
    if (rules->n == 0)
        return true;
    if (rl->redis_host != NULL) {
        int rc = ns_redis_hit(rl, ns, key, keylen, rules, kind, which);
        if (rc >= 0)
            return rc == 1;
    }
    uint64_t h = ns_rl_hash(ns, key, keylen);
    pthread_mutex_lock(&rl->lock);
    if (now_ms >= rl->next_sweep_ms) {
        ns_rl_sweep(rl, now_ms);
        rl->next_sweep_ms = now_ms + 10000;
    }
    ns_rl_entry **p = &rl->buckets[h % rl->nbuckets];
    while (*p && !((*p)->hash == h && (*p)->keylen == keylen + 1 && (*p)->key[0] == ns &&
                   memcmp((*p)->key + 1, key, keylen) == 0))
        p = &(*p)->next;
    ns_rl_entry *e = *p;
    if (e != NULL && e->rules != rules) {
        /* The settings were reloaded: start this key afresh. */
        *p = e->next;
        ns_rl_entry_free(e);
        rl->nkeys--;
        e = NULL;
    }
    if (e == NULL) {
        e = ns_rl_new_entry(ns, key, keylen, h, rules);
        if (e == NULL) {
            pthread_mutex_unlock(&rl->lock);
            return true; /* out of memory: do not refuse clients for it */
        }
        e->next = rl->buckets[h % rl->nbuckets];
        rl->buckets[h % rl->nbuckets] = e;
        rl->nkeys++;
    }
    /* First check every applicable rule, then count the hit in each. */
    size_t off = 0;
    bool ok = true;
    for (size_t i = 0; i < rules->n && ok; i++) {
        const ns_rate_limit *r = &rules->v[i];
        if (ns_rule_applies(r, kind) && r->rate == 0)
            ok = false;
        else if (ns_rule_applies(r, kind) && e->count[i] == r->rate) {
            int64_t oldest = e->times[off + e->head[i]]; /* head = oldest when full */
            if (now_ms - oldest < (int64_t)r->period_ms)
                ok = false;
        }
        if (!ok && which)
            *which = i;
        off += r->rate;
    }
    if (ok) {
        off = 0;
        for (size_t i = 0; i < rules->n; i++) {
            const ns_rate_limit *r = &rules->v[i];
            if (ns_rule_applies(r, kind) && r->rate > 0) {
                e->times[off + e->head[i]] = now_ms;
                e->head[i] = (e->head[i] + 1) % r->rate;
                if (e->count[i] < r->rate)
                    e->count[i]++;
            }
            off += r->rate;
        }
        e->last_ms = now_ms;
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

size_t ns_ratelimiter_keys(ns_ratelimiter *rl)
{
    pthread_mutex_lock(&rl->lock);
    size_t n = rl->nkeys;
    pthread_mutex_unlock(&rl->lock);
    return n;
}
