/* ratelimit.c - exact sliding-window rate limits (see ratelimit.h). */
#include "ratelimit.h"

#include <pthread.h>
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

void ns_ratelimiter_free(ns_ratelimiter *rl)
{
    if (rl == NULL)
        return;
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

bool ns_ratelimit_hit(ns_ratelimiter *rl, char ns, const char *key, size_t keylen,
                      const ns_rate_limits *rules, int64_t kind, int64_t now_ms, size_t *which)
{
    if (rules->n == 0)
        return true;
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
