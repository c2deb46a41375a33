/* evgen.c - realistic, signed Nostr events for the load tools (see evgen.h). */
#include "evgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <secp256k1_schnorrsig.h>

#include "err.h"
#include "hex.h"

/* ---- random numbers ------------------------------------------------------ */

static uint64_t eg_splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void eg_rng_seed(eg_rng *r, uint64_t seed)
{
    r->s = eg_splitmix(seed);
    if (r->s == 0)
        r->s = 0x2545f4914f6cdd1dull;
}

uint64_t eg_rand(eg_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint32_t eg_below(eg_rng *r, uint32_t n)
{
    return (uint32_t)(((eg_rand(r) >> 32) * (uint64_t)n) >> 32);
}

double eg_unit(eg_rng *r)
{
    return (double)(eg_rand(r) >> 11) * 0x1.0p-53;
}

uint64_t eg_os_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
    }
    return s;
}

int eg_zipf_init(eg_zipf *z, size_t n, double s)
{
    z->n = n;
    z->cdf = malloc((n ? n : 1) * sizeof *z->cdf);
    if (z->cdf == NULL)
        return NS_ENOMEM;
    double sum = 0;
    for (size_t k = 0; k < n; k++) {
        sum += 1.0 / pow((double)(k + 1), s);
        z->cdf[k] = sum;
    }
    for (size_t k = 0; k < n; k++)
        z->cdf[k] /= sum;
    if (n)
        z->cdf[n - 1] = 1.0;
    return 0;
}

size_t eg_zipf_draw(const eg_zipf *z, eg_rng *r)
{
    double u = eg_unit(r);
    size_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void eg_zipf_free(eg_zipf *z)
{
    free(z->cdf);
    z->cdf = NULL;
    z->n = 0;
}

/* ---- authors -------------------------------------------------------------- */

eg_author *eg_authors_new(const secp256k1_context *ctx, eg_rng *r, size_t n)
{
    eg_author *a = calloc(n ? n : 1, sizeof *a);
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            uint8_t sk[32];
            for (int k = 0; k < 32; k += 8) {
                uint64_t v = eg_rand(r);
                memcpy(sk + k, &v, 8);
            }
            secp256k1_xonly_pubkey xpk;
            if (secp256k1_keypair_create(ctx, &a[i].kp, sk) &&
                secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &a[i].kp) &&
                secp256k1_xonly_pubkey_serialize(ctx, a[i].pub, &xpk))
                break; /* an invalid secret key is astronomically rare: draw again */
        }
        ns_hex_encode(a[i].pub, 32, a[i].hex);
    }
    return a;
}

/* ---- text ----------------------------------------------------------------- */

static const char *const eg_words[] = {
    "the", "a", "and", "of", "to", "in", "is", "it", "that", "for", "on", "with", "as", "was",
    "this", "but", "be", "at", "by", "not", "from", "or", "have", "an", "they", "which", "you",
    "we", "all", "just", "more", "some", "time", "people", "relay", "relays", "note", "notes",
    "key", "keys", "zap", "zaps", "sats", "bitcoin", "lightning", "node", "client", "clients",
    "protocol", "signature", "event", "events", "feed", "follow", "followers", "post", "today",
    "tomorrow", "yesterday", "morning", "coffee", "good", "great", "nice", "really", "think",
    "know", "see", "want", "need", "build", "building", "shipping", "code", "bug", "fixed",
    "release", "version", "server", "database", "query", "fast", "slow", "network", "open",
    "source", "free", "speech", "censorship", "resistant", "simple", "design", "idea", "ideas",
    "world", "weekend", "music", "photo", "walk", "dog", "cat", "weather", "rain", "sun",
    "mountain", "city", "train", "book", "reading", "writing", "learning", "question", "answer",
    "thread", "reply", "replies", "thanks", "welcome", "hello", "friends", "community", "meetup",
    "conference", "talk", "slides", "video", "stream", "podcast", "episode", "privacy",
    "encryption", "wallet", "payment", "invoice", "channel", "liquidity", "fees", "block",
    "height", "difficulty", "hash", "rate", "energy", "mining", "market", "price", "chart",
    "long", "short", "term", "future", "past", "history", "maybe", "probably", "definitely",
    "again", "still", "already", "never", "always", "sometimes", "every", "day", "week", "year",
};
#define EG_NWORDS (sizeof eg_words / sizeof eg_words[0])

static const char *const eg_topics[] = {
    "nostr", "bitcoin", "grownostr", "zapathon", "plebchain", "photography", "art", "music",
    "foodstr", "dev", "linux", "privacy", "lightning", "memes", "news", "books", "coffee",
    "introductions", "asknostr", "catstr", "dogstr", "hiking", "travel", "science", "gaming",
    "sports", "running", "cycling", "gardening", "cooking",
};
#define EG_NTOPICS (sizeof eg_topics / sizeof eg_topics[0])

static const char *const eg_emoji[] = {
    "\xf0\x9f\xa4\x99", /* call me hand */
    "\xe2\x9a\xa1",     /* high voltage */
    "\xf0\x9f\xab\x82", /* people hugging */
    "\xf0\x9f\x98\x82", /* tears of joy */
    "\xf0\x9f\x94\xa5", /* fire */
    "\xf0\x9f\x9a\x80", /* rocket */
    "\xe2\x9d\xa4\xef\xb8\x8f", /* red heart */
    "\xf0\x9f\x91\x80", /* eyes */
    "\xc3\xa9t\xc3\xa9", /* accented word */
    "\xe6\x97\xa5\xe6\x9c\xac", /* CJK */
};
#define EG_NEMOJI (sizeof eg_emoji / sizeof eg_emoji[0])

const char *eg_topic(eg_rng *r) { return eg_topics[eg_below(r, EG_NTOPICS)]; }

void eg_hex32(eg_rng *r, char out[65])
{
    uint8_t b[32];
    for (int k = 0; k < 32; k += 8) {
        uint64_t v = eg_rand(r);
        memcpy(b + k, &v, 8);
    }
    ns_hex_encode(b, 32, out);
}

void eg_text(eg_rng *r, size_t len, ns_buf *out)
{
    size_t start = out->len;
    bool sentence_start = true;
    while (out->len - start < len) {
        uint32_t roll = eg_below(r, 1000);
        if (!sentence_start)
            ns_buf_addc(out, ' ');
        if (roll < 15) {
            ns_buf_addf(out, "#%s", eg_topic(r));
        } else if (roll < 22) {
            ns_buf_addf(out, "https://example.com/%08x", (unsigned)eg_rand(r));
        } else if (roll < 40) {
            ns_buf_adds(out, eg_emoji[eg_below(r, EG_NEMOJI)]);
        } else {
            const char *w = eg_words[eg_below(r, EG_NWORDS)];
            if (sentence_start && w[0] >= 'a' && w[0] <= 'z') {
                ns_buf_addc(out, (char)(w[0] - 'a' + 'A'));
                ns_buf_adds(out, w + 1);
            } else {
                ns_buf_adds(out, w);
            }
        }
        sentence_start = false;
        uint32_t end = eg_below(r, 100);
        if (end < 8) {
            ns_buf_addc(out, end < 6 ? '.' : end < 7 ? '!' : '?');
            sentence_start = true;
            if (eg_below(r, 6) == 0)
                ns_buf_adds(out, eg_below(r, 2) ? "\n" : "\n\n");
        } else if (end < 12) {
            ns_buf_addc(out, ',');
        }
    }
}

/* ---- drafts and signing ----------------------------------------------------- */

static const char eg_zero_id[] = "0000000000000000000000000000000000000000000000000000000000000000";

void eg_draft_begin(eg_draft *d, const char *pubhex, int64_t created_at, uint32_t kind)
{
    ns_buf_reset(&d->b);
    d->ntags = 0;
    ns_buf_adds(&d->b, "{\"id\":\"");
    ns_buf_adds(&d->b, eg_zero_id);
    ns_buf_adds(&d->b, "\",\"pubkey\":\"");
    ns_buf_adds(&d->b, pubhex);
    ns_buf_adds(&d->b, "\",\"created_at\":");
    ns_buf_add_i64(&d->b, created_at);
    ns_buf_addf(&d->b, ",\"kind\":%u,\"tags\":[", kind);
}

void eg_draft_tagv(eg_draft *d, size_t n, const char *const *v)
{
    if (d->ntags++ > 0)
        ns_buf_addc(&d->b, ',');
    ns_buf_addc(&d->b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            ns_buf_addc(&d->b, ',');
        ns_buf_add_json_str(&d->b, v[i], strlen(v[i]));
    }
    ns_buf_addc(&d->b, ']');
}

void eg_draft_tag(eg_draft *d, const char *name, const char *v1, const char *v2)
{
    const char *v[3] = {name, v1, v2};
    eg_draft_tagv(d, v2 ? 3 : 2, v);
}

int eg_draft_sign(eg_draft *d, const char *content, size_t len, const secp256k1_context *ctx,
                  const eg_author *a, ns_buf *scratch, ns_event **out)
{
    ns_buf_adds(&d->b, "],\"content\":");
    ns_buf_add_json_str(&d->b, content, len);
    ns_buf_adds(&d->b, ",\"sig\":\"");
    ns_buf_adds(&d->b, eg_zero_id);
    ns_buf_adds(&d->b, eg_zero_id);
    ns_buf_adds(&d->b, "\"}");
    if (!ns_buf_ok(&d->b))
        return NS_ENOMEM;
    char why[256];
    ns_event *ev;
    int rc = ns_event_parse(d->b.data, d->b.len, &ev, why, sizeof why);
    if (rc != 0) {
        if (rc != NS_ENOMEM)
            fprintf(stderr, "evgen: bad draft (%s): %.200s\n", why, d->b.data);
        return rc;
    }
    rc = ns_event_compute_id(ev, false, scratch, ev->id);
    if (rc == 0 && !secp256k1_schnorrsig_sign32(ctx, ev->sig, ev->id, &a->kp, NULL))
        rc = NS_EINVAL;
    if (rc != 0) {
        free(ev);
        return rc;
    }
    *out = ev;
    return 0;
}

void eg_draft_free(eg_draft *d) { ns_buf_free(&d->b); }

void eg_event_message(const ns_event *ev, ns_buf *out)
{
    ns_buf_adds(out, "[\"EVENT\",");
    ns_event_to_json(ev, out);
    ns_buf_addc(out, ']');
}
