/* evgen.h - realistic, signed Nostr events for the load tools.
 *
 * bench/seed (a database of a million events) and bench/loadgen (events to
 * publish) both need events that look like real traffic: prose of a few
 * hundred bytes with the odd emoji, URL and newline, e/p/t tags, authors
 * whose activity follows a Zipf-like law. This module makes them.
 *
 * Everything is driven by a caller-owned random generator (eg_rng), so the
 * same seed gives the same events: seed can be run twice to write the two
 * tables of a database, and a run can be repeated exactly. Signing uses
 * libsecp256k1 (BIP-340, deterministic nonces: no aux randomness), and the
 * id is computed with the relay's own canonical serialization
 * (ns_event_compute_id), which is proven against nostr-tools.
 *
 * An event is written as a JSON draft (eg_draft) with an all-zero id and
 * signature, parsed with ns_event_parse, then given its id and signature in
 * place; the caller writes it back out with ns_event_to_json. Nothing here
 * keeps global state: any number of threads may generate at once, each
 * with its own rng, draft, scratch buffer and secp256k1 context.
 */
#ifndef EG_EVGEN_H
#define EG_EVGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>

#include "buf.h"
#include "event.h"

/* ---- random numbers ------------------------------------------------------ */

/* xorshift64*, seeded through splitmix64 so that nearby seeds (an event's
 * index, say) give unrelated streams. */
typedef struct eg_rng {
    uint64_t s;
} eg_rng;

void eg_rng_seed(eg_rng *r, uint64_t seed);
uint64_t eg_rand(eg_rng *r);
/* Uniform in [0, n); n > 0. */
uint32_t eg_below(eg_rng *r, uint32_t n);
/* Uniform in [0, 1). */
double eg_unit(eg_rng *r);
/* A seed from the operating system's random source (getrandom). */
uint64_t eg_os_seed(void);

/* A Zipf-like law over n ranks: rank k (0-based) has weight 1/(k+1)^s. */
typedef struct eg_zipf {
    double *cdf;  /* n cumulative weights, the last one 1.0; owned */
    size_t n;
} eg_zipf;

/* Returns 0 or NS_ENOMEM. Free with eg_zipf_free. */
int eg_zipf_init(eg_zipf *z, size_t n, double s);
size_t eg_zipf_draw(const eg_zipf *z, eg_rng *r);
void eg_zipf_free(eg_zipf *z);

/* ---- authors -------------------------------------------------------------- */

typedef struct eg_author {
    secp256k1_keypair kp;
    uint8_t pub[32];
    char hex[65];   /* x-only public key, lower-case hex */
} eg_author;

/* Makes n authors with secret keys drawn from r (so a seed names them).
 * Returns an array the caller frees with free(), or NULL. */
eg_author *eg_authors_new(const secp256k1_context *ctx, eg_rng *r, size_t n);

/* ---- text ----------------------------------------------------------------- */

/* Appends about `len` bytes (never less, at most ~40 more) of English-like
 * prose: sentences of common words with now and then a hashtag, a URL, an
 * emoji (multi-byte UTF-8) or a line break. Valid UTF-8, no control
 * characters other than '\n'. */
void eg_text(eg_rng *r, size_t len, ns_buf *out);

/* A hashtag word (static storage), from a small set of popular topics. */
const char *eg_topic(eg_rng *r);

/* 32 random bytes as 64 hex characters and a NUL. */
void eg_hex32(eg_rng *r, char out[65]);

/* ---- drafts and signing ----------------------------------------------------- */

/* An event being written: call eg_draft_begin, any number of eg_draft_tag*,
 * then eg_draft_sign. The draft's buffer is reused from event to event;
 * eg_draft_free releases it. */
typedef struct eg_draft {
    ns_buf b;
    uint32_t ntags;
} eg_draft;

#define EG_DRAFT_INIT {NS_BUF_INIT, 0}

void eg_draft_begin(eg_draft *d, const char *pubhex, int64_t created_at, uint32_t kind);
/* Appends a tag of n strings (n >= 1); any valid UTF-8 without NUL. */
void eg_draft_tagv(eg_draft *d, size_t n, const char *const *v);
/* Shorthand for a two- or three-element tag (v2 may be NULL). */
void eg_draft_tag(eg_draft *d, const char *name, const char *v1, const char *v2);

/* Closes the draft with its content, parses it and gives it its id and
 * signature.
 * Returns: 0; NS_EINVAL when the draft is not an acceptable event (a bug in
 *          the caller, reported with its reason on stderr); NS_ENOMEM.
 * In:      ctx  a secp256k1 context of the calling thread;
 *          a    the author, whose hex the draft was begun with;
 *          scratch  a reusable buffer for the canonical serialization.
 * Out:     out  the signed event; the caller frees it with free(). */
int eg_draft_sign(eg_draft *d, const char *content, size_t len, const secp256k1_context *ctx,
                  const eg_author *a, ns_buf *scratch, ns_event **out);

void eg_draft_free(eg_draft *d);

/* Appends ["EVENT",<event>] (the message a client publishes with). */
void eg_event_message(const ns_event *ev, ns_buf *out);

#endif
