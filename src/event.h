/* event.h - NIP-01 events: strict parsing, id and signature checks, kind
 * classes, and the JSON the relay writes back.
 *
 * An ns_event is one immutable heap block: the fixed fields, the tag table
 * and copies of every string, so it can be handed between threads, kept in
 * subscription queues and freed with a single free(). All strings inside
 * are NUL terminated for convenience, but carry their length because NIP-01
 * content may legitimately contain any character but NUL.
 *
 * Checking an event is three separate steps, so that each runs where it is
 * cheapest: ns_event_from_json (structure, on any thread), ns_event_check_id
 * (SHA-256 of the canonical serialization) and ns_event_verify_sig
 * (BIP-340, on a worker thread with its own secp256k1 context).
 */
#ifndef NS_EVENT_H
#define NS_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

/* created_at must fit nostream's `event_created_at integer` column. */
#define NS_EVENT_MAX_CREATED_AT INT64_C(2147483647)
#define NS_EVENT_MAX_KIND 65535u
#define NS_EVENT_NO_EXPIRATION INT64_C(-1)
/* Decoder flags the relay uses for every client message: NUL is allowed by
 * the decoder only so that the event parser can refuse it with a reason. */
#define NS_JSON_DECODE_FLAGS (JSON_ALLOW_NUL)

typedef struct ns_str {
    const char *ptr; /* NUL terminated; may contain no other NUL */
    uint32_t len;
} ns_str;

typedef struct ns_tag {
    uint32_t n;      /* number of elements, at least 1 */
    const ns_str *v; /* v[0] is the tag name */
} ns_tag;

typedef enum ns_kind_class {
    NS_KIND_REGULAR = 0,
    NS_KIND_REPLACEABLE,  /* 0, 3, 41 (as nostream) and 10000..19999 */
    NS_KIND_EPHEMERAL,    /* 20000..29999: relayed, never stored */
    NS_KIND_ADDRESSABLE,  /* 30000..39999: replaceable per `d` tag value */
} ns_kind_class;

typedef struct ns_event {
    uint8_t id[32];
    uint8_t pubkey[32];
    uint8_t sig[64];
    int64_t created_at;
    uint32_t kind;
    uint32_t ntags;
    const ns_tag *tags;
    ns_str content;
    int64_t expiration;  /* NIP-40 expiration tag, or NS_EVENT_NO_EXPIRATION */
    /* Some string holds a control character that NIP-01 writes verbatim but
     * JSON.stringify writes as \u00XX; the id may then be either hash. */
    bool has_raw_controls;
} ns_event;

/* Builds an event from a decoded JSON object, checking every field strictly
 * (see the rules in the README). Does not check the id or the signature.
 *
 * Returns: 0 on success, NS_EINVAL for a malformed event, NS_ENOMEM.
 * In:      obj     the decoded event object (not modified, not retained).
 * Out:     out     on success a new event; the caller frees it with free().
 *          reason  on failure a message naming the field, starting with
 *                  "invalid: ", ready for an OK false. May be NULL.
 */
int ns_event_from_json(const json_t *obj, ns_event **out, char *reason, size_t reason_len);

/* Like ns_event_from_json, from JSON text (decoded with NS_JSON_DECODE_FLAGS).
 * The reason names the JSON error position when the text is not JSON. */
int ns_event_parse(const char *text, size_t len, ns_event **out, char *reason, size_t reason_len);

/* The fast path of ns_event_parse (see event_fast.c): reads one event
 * object at the start of text, without jansson.
 * Returns: 0, with *after just past the object's closing brace; NS_EUNSUP
 *          when the text is not in the common shape (the caller then uses
 *          jansson, which decides); NS_ENOMEM.
 * Out:     out  the event on success, freed by the caller with free(). */
int ns_event_parse_fast(const char *text, size_t len, const char **after, ns_event **out);

/* Internal: fills the fields derived from the tags (the NIP-40 expiration)
 * of a freshly built event. */
void ns_event_finish(ns_event *ev);

/* Appends the NIP-01 canonical serialization [0,pubkey,created_at,kind,
 * tags,content] to out. With stringify_controls, other control characters
 * are written as \u00XX (the JSON.stringify form that nostr-tools hashes). */
void ns_event_serialize_canonical(const ns_event *ev, bool stringify_controls, ns_buf *out);

/* Computes the SHA-256 of a canonical serialization.
 * Returns: 0, or NS_ENOMEM.
 * Args:    scratch  a reusable buffer owned by the caller, or NULL. */
int ns_event_compute_id(const ns_event *ev, bool stringify_controls, ns_buf *scratch,
                        uint8_t out[32]);

/* Checks that ev->id is the hash of the event's content. The NIP-01
 * verbatim form is tried first; only for an event that holds raw control
 * characters is the JSON.stringify form tried too (see README: both spell
 * the same content unambiguously, and real clients sign the latter).
 * Returns: 0, NS_EBADID or NS_ENOMEM.
 * Args:    scratch  a reusable buffer owned by the caller, or NULL. */
int ns_event_check_id(const ns_event *ev, ns_buf *scratch);

/* What one thread needs to check events: its own secp256k1 context, a
 * cache of parsed public keys (parsing one costs a field square root, an
 * eighth of a verification, and authors repeat), and a scratch buffer for
 * the canonical serialization. Not shared between threads. */
typedef struct ns_verifier ns_verifier;

/* Returns a new verifier (freed with ns_verifier_free), or NULL. */
ns_verifier *ns_verifier_new(void);
void ns_verifier_free(ns_verifier *v);

/* Checks the BIP-340 signature over ev->id with ev->pubkey.
 * Returns: 0 or NS_EBADSIG (also when pubkey is not a curve point). */
int ns_event_verify_sig(const ns_event *ev, ns_verifier *v);

/* check_id then verify_sig, with the client-facing reason on failure.
 * Returns: 0, NS_EBADID, NS_EBADSIG or NS_ENOMEM. */
int ns_event_validate(const ns_event *ev, ns_verifier *v, char *reason, size_t reason_len);

ns_kind_class ns_kind_classify(uint32_t kind);
const char *ns_kind_class_name(ns_kind_class c);

/* The value of the first `d` tag that has a value, or the empty string:
 * the key of an addressable event, as nostream reads it. */
ns_str ns_event_d_tag(const ns_event *ev);

/* Appends the deduplication key that nostream stores in
 * events.event_deduplication: ["<pubkey>",<kind>] for replaceable kinds,
 * ["<d tag>"] for addressable kinds. Returns false (appending nothing) for
 * regular and ephemeral kinds. */
bool ns_event_dedup_key(const ns_event *ev, ns_buf *out);

/* True when the NIP-40 expiration is set and at or before `now`. */
bool ns_event_expired(const ns_event *ev, int64_t now);

/* Appends the event as the JSON object sent in EVENT messages:
 * {"id","pubkey","created_at","kind","tags","content","sig"} in that order,
 * byte-for-byte the same for the same event. */
void ns_event_to_json(const ns_event *ev, ns_buf *out);

/* Appends just the tags array as JSON (the events.event_tags column). */
void ns_event_tags_to_json(const ns_event *ev, ns_buf *out);

/* Finds the first tag named `name` with at least `min_n` elements. */
const ns_tag *ns_event_find_tag(const ns_event *ev, const char *name, uint32_t min_n);

#endif
