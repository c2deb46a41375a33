/* bench_core.c - cost of reading an event compared to checking its signature.
 *
 * Signs a set of realistic events outside the timed part (100 authors,
 * ~250-byte contents, a few e/p/t tags), then, on one thread, measures
 *   raw_verify_per_s    secp256k1_schnorrsig_verify alone, with the public
 *                       keys already parsed;
 *   parse_verify_per_s  what the relay does per EVENT: JSON text ->
 *                       ns_event (ns_event_parse), canonical serialization
 *                       + SHA-256 id check, public key (cached per thread)
 *                       and signature check.
 * The two are measured in alternating rounds and the best round of each is
 * kept, so a noisy neighbour hurts both alike. Prints both rates and their
 * ratio (the goal is >= 0.85).
 *
 * Then the ingest stage's scaling: parse_verify over the same events split
 * between 1 and then 2 threads (each with its own ns_verifier, as the
 * relay's verify workers have), alternating, best round of each:
 *   ingest_1_thread_per_s, ingest_2_threads_per_s, ingest_scaling (goal
 *   >= 1.7 on a 2-core machine).
 *
 * Usage: bench_core [events] [rounds]     (defaults 2000 and 5)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "event.h"
#include "hex.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Makes one signed event as JSON text (caller frees) and its parsed key. */
static char *make_event(secp256k1_context *ctx, const secp256k1_keypair *kp, int i)
{
    secp256k1_xonly_pubkey xpk;
    uint8_t pub[32];
    if (!secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, kp) ||
        !secp256k1_xonly_pubkey_serialize(ctx, pub, &xpk))
        abort();
    char pubhex[65], ref[65], content[300];
    ns_hex_encode(pub, 32, pubhex);
    uint8_t r[32];
    for (int k = 0; k < 32; k++)
        r[k] = (uint8_t)rng();
    ns_hex_encode(r, 32, ref);
    int n = snprintf(content, sizeof content, "Note %d: ", i);
    while (n < 250)
        content[n++] = "abcdefghijklmnopqrstuvwxyz .,!\n"[rng() % 31];
    content[n] = '\0';
    json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:[[s,s,s],[s,s],[s,s]], s:s, s:s}",
                          "id", "0000000000000000000000000000000000000000000000000000000000000000",
                          "pubkey", pubhex, "created_at", (json_int_t)(1700000000 + i), "kind", 1,
                          "tags", "e", ref, "wss://relay.example.com", "p", pubhex, "t", "nostr",
                          "content", content, "sig",
                          "00000000000000000000000000000000000000000000000000000000000000000000000000"
                          "000000000000000000000000000000000000000000000000000000");
    ns_event *ev;
    if (o == NULL || ns_event_from_json(o, &ev, NULL, 0) != 0)
        abort();
    json_decref(o);
    if (ns_event_compute_id(ev, false, NULL, ev->id) != 0 ||
        !secp256k1_schnorrsig_sign32(ctx, ev->sig, ev->id, kp, NULL))
        abort();
    ns_buf b = NS_BUF_INIT;
    ns_event_to_json(ev, &b);
    ns_buf_addc(&b, '\0');
    free(ev);
    return b.data;
}

/* One verify worker's share of the events for the scaling measure. */
typedef struct {
    char **texts;
    size_t *lens;
    int from, to;
} share;

static void *verify_share(void *arg)
{
    share *sh = arg;
    ns_verifier *ver = ns_verifier_new();
    char reason[256];
    for (int i = sh->from; i < sh->to; i++) {
        ns_event *ev;
        if (ns_event_parse(sh->texts[i], sh->lens[i], &ev, reason, sizeof reason) != 0 ||
            ns_event_validate(ev, ver, reason, sizeof reason) != 0)
            abort();
        free(ev);
    }
    ns_verifier_free(ver);
    return NULL;
}

/* Events per second parsed and verified by `threads` threads splitting the
 * set; thread start-up (a verifier context each) is inside the time, as a
 * fixed cost that many events amortise. */
static double verify_rate(char **texts, size_t *lens, int nev, int threads)
{
    pthread_t tid[2];
    share sh[2];
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        sh[t] = (share){texts, lens, nev * t / threads, nev * (t + 1) / threads};
        pthread_create(&tid[t], NULL, verify_share, &sh[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    return nev / (now_s() - t0);
}

int main(int argc, char **argv)
{
    int nev = argc > 1 ? atoi(argv[1]) : 2000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (nev <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: %s [events>0] [rounds>0]\n", argv[0]);
        return 2;
    }
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    enum { AUTHORS = 100 };
    secp256k1_keypair kps[AUTHORS];
    for (int a = 0; a < AUTHORS; a++) {
        uint8_t sk[32];
        for (int k = 0; k < 32; k++)
            sk[k] = (uint8_t)rng();
        if (!secp256k1_keypair_create(ctx, &kps[a], sk))
            abort();
    }
    char **texts = calloc((size_t)nev, sizeof *texts);
    size_t *lens = calloc((size_t)nev, sizeof *lens);
    ns_event **evs = calloc((size_t)nev, sizeof *evs);
    secp256k1_xonly_pubkey *pks = calloc((size_t)nev, sizeof *pks);
    for (int i = 0; i < nev; i++) {
        texts[i] = make_event(ctx, &kps[i % AUTHORS], i);
        lens[i] = strlen(texts[i]);
        if (ns_event_parse(texts[i], lens[i], &evs[i], NULL, 0) != 0 ||
            !secp256k1_xonly_pubkey_parse(ctx, &pks[i], evs[i]->pubkey))
            abort();
    }

    double best_raw = 0, best_full = 0;
    ns_verifier *ver = ns_verifier_new();
    char reason[256];
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (int i = 0; i < nev; i++)
            if (!secp256k1_schnorrsig_verify(ctx, evs[i]->sig, evs[i]->id, 32, &pks[i]))
                abort();
        double raw = nev / (now_s() - t0);

        t0 = now_s();
        for (int i = 0; i < nev; i++) {
            ns_event *ev;
            if (ns_event_parse(texts[i], lens[i], &ev, reason, sizeof reason) != 0 ||
                ns_event_validate(ev, ver, reason, sizeof reason) != 0)
                abort();
            free(ev);
        }
        double full = nev / (now_s() - t0);
        if (raw > best_raw)
            best_raw = raw;
        if (full > best_full)
            best_full = full;
    }
    printf("events %d, rounds %d, one thread, best round of each\n", nev, rounds);
    printf("raw_verify_per_s %.0f\n", best_raw);
    printf("parse_verify_per_s %.0f\n", best_full);
    printf("ratio %.3f\n", best_full / best_raw);

    double best1 = 0, best2 = 0;
    for (int r = 0; r < rounds; r++) {
        double one = verify_rate(texts, lens, nev, 1), two = verify_rate(texts, lens, nev, 2);
        best1 = one > best1 ? one : best1;
        best2 = two > best2 ? two : best2;
    }
    printf("ingest_1_thread_per_s %.0f\n", best1);
    printf("ingest_2_threads_per_s %.0f\n", best2);
    printf("ingest_scaling %.2f\n", best2 / best1);

    for (int i = 0; i < nev; i++) {
        free(texts[i]);
        free(evs[i]);
    }
    free(texts);
    free(lens);
    free(evs);
    free(pks);
    ns_verifier_free(ver);
    secp256k1_context_destroy(ctx);
    return 0;
}
