/* event.c - NIP-01 event parsing, hashing, verification and output.
 *
 * Parsing copies everything a relay needs out of the jansson DOM into one
 * compact heap block (see event.h) and refuses anything NIP-01 does not
 * allow, naming the field. The canonical serialization is hand-written (see
 * buf.c) and hashed with OpenSSL; signatures are checked with libsecp256k1.
 */
#include "event.h"
#include "err.h"
#include "hex.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

/* ---- structural parsing ------------------------------------------------ */

/* Fetches a lower-case hex field of exactly `n` bytes into out. */
static int ns_get_hex_field(const json_t *obj, const char *name, uint8_t *out, size_t n,
                            char *reason, size_t rlen)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL)
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: missing field \"%s\"", name);
    if (!json_is_string(v))
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: %s must be a string", name);
    if (json_string_length(v) != 2 * n || ns_hex_decode(json_string_value(v), out, n) != 0)
        return ns_fail(reason, rlen, NS_EINVAL,
                       "invalid: %s must be %zu lower-case hex characters", name, 2 * n);
    return 0;
}

/* Fetches an integer field in [0, max]. */
static int ns_get_uint_field(const json_t *obj, const char *name, int64_t max, int64_t *out,
                             char *reason, size_t rlen)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL)
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: missing field \"%s\"", name);
    if (!json_is_integer(v))
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: %s must be an integer", name);
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > max)
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: %s must be between 0 and %lld", name,
                       (long long)max);
    *out = x;
    return 0;
}

/* Control characters that NIP-01 copies verbatim but JSON.stringify
 * escapes: every byte below 0x20 except \b \t \n \f \r. */
static bool ns_has_raw_controls(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && c != '\b' && c != '\t' && c != '\n' && c != '\f' && c != '\r')
            return true;
    }
    return false;
}

/* Sizes gathered in the first pass over the tags so the event is one block. */
typedef struct {
    size_t nfields;
    size_t strbytes;
} ns_tag_sizes;

static int ns_check_tags(const json_t *tags, ns_tag_sizes *sz, char *reason, size_t rlen)
{
    if (tags == NULL)
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: missing field \"tags\"");
    if (!json_is_array(tags))
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: tags must be an array");
    size_t i, j;
    const json_t *tag, *el;
    json_array_foreach(tags, i, tag) {
        if (!json_is_array(tag))
            return ns_fail(reason, rlen, NS_EINVAL, "invalid: tags[%zu] must be an array", i);
        if (json_array_size(tag) == 0)
            return ns_fail(reason, rlen, NS_EINVAL, "invalid: tags[%zu] must not be empty", i);
        json_array_foreach(tag, j, el) {
            if (!json_is_string(el))
                return ns_fail(reason, rlen, NS_EINVAL,
                               "invalid: tags[%zu][%zu] must be a string", i, j);
            size_t len = json_string_length(el);
            if (memchr(json_string_value(el), '\0', len) != NULL)
                return ns_fail(reason, rlen, NS_EINVAL,
                               "invalid: tags[%zu][%zu] contains a NUL character (\\u0000)", i, j);
            if (len > UINT32_MAX - 1)
                return ns_fail(reason, rlen, NS_EINVAL, "invalid: tags[%zu][%zu] is too long", i, j);
            sz->strbytes += len + 1;
        }
        sz->nfields += json_array_size(tag);
    }
    return 0;
}

/* Parses a NIP-40 expiration value: plain decimal digits, as nostream
 * accepts (anything else means the event does not expire). */
static int64_t ns_parse_expiration(const ns_str *v)
{
    if (v->len == 0 || v->len > 18)
        return NS_EVENT_NO_EXPIRATION;
    int64_t x = 0;
    for (uint32_t i = 0; i < v->len; i++) {
        if (v->ptr[i] < '0' || v->ptr[i] > '9')
            return NS_EVENT_NO_EXPIRATION;
        x = x * 10 + (v->ptr[i] - '0');
    }
    return x;
}

int ns_event_from_json(const json_t *obj, ns_event **out, char *reason, size_t rlen)
{
    *out = NULL;
    if (!json_is_object(obj))
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: event must be a JSON object");

    ns_event head;
    memset(&head, 0, sizeof head);
    int64_t created_at, kind;
    int rc;
    if ((rc = ns_get_hex_field(obj, "id", head.id, 32, reason, rlen)) != 0 ||
        (rc = ns_get_hex_field(obj, "pubkey", head.pubkey, 32, reason, rlen)) != 0 ||
        (rc = ns_get_uint_field(obj, "created_at", NS_EVENT_MAX_CREATED_AT, &created_at, reason,
                                rlen)) != 0 ||
        (rc = ns_get_uint_field(obj, "kind", NS_EVENT_MAX_KIND, &kind, reason, rlen)) != 0)
        return rc;

    const json_t *tags = json_object_get(obj, "tags");
    ns_tag_sizes sz = {0, 0};
    if ((rc = ns_check_tags(tags, &sz, reason, rlen)) != 0)
        return rc;

    const json_t *content = json_object_get(obj, "content");
    if (content == NULL)
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: missing field \"content\"");
    if (!json_is_string(content))
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: content must be a string");
    size_t clen = json_string_length(content);
    const char *cstr = json_string_value(content);
    if (memchr(cstr, '\0', clen) != NULL)
        return ns_fail(reason, rlen, NS_EINVAL,
                       "invalid: content contains a NUL character (\\u0000)");
    if (clen > UINT32_MAX - 1)
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: content is too long");
    if ((rc = ns_get_hex_field(obj, "sig", head.sig, 64, reason, rlen)) != 0)
        return rc;

    /* One block: header, tag table, field table, string bytes. */
    size_t ntags = json_array_size(tags);
    size_t off_tags = sizeof(ns_event);
    size_t off_fields = off_tags + ntags * sizeof(ns_tag);
    size_t off_strs = off_fields + sz.nfields * sizeof(ns_str);
    size_t total = off_strs + sz.strbytes + clen + 1;
    char *block = malloc(total);
    if (block == NULL)
        return ns_fail(reason, rlen, NS_ENOMEM, "error: out of memory");

    ns_event *ev = (ns_event *)block;
    *ev = head;
    ev->created_at = created_at;
    ev->kind = (uint32_t)kind;
    ev->ntags = (uint32_t)ntags;
    ev->expiration = NS_EVENT_NO_EXPIRATION;
    ns_tag *tagv = (ns_tag *)(block + off_tags);
    ns_str *fields = (ns_str *)(block + off_fields);
    char *s = block + off_strs;
    bool controls = false;

    size_t i, j;
    const json_t *tag, *el;
    json_array_foreach(tags, i, tag) {
        tagv[i].n = (uint32_t)json_array_size(tag);
        tagv[i].v = fields;
        json_array_foreach(tag, j, el) {
            size_t len = json_string_length(el);
            memcpy(s, json_string_value(el), len);
            s[len] = '\0';
            controls = controls || ns_has_raw_controls(s, len);
            fields->ptr = s;
            fields->len = (uint32_t)len;
            fields++;
            s += len + 1;
        }
    }
    ev->tags = tagv;
    memcpy(s, cstr, clen);
    s[clen] = '\0';
    ev->content.ptr = s;
    ev->content.len = (uint32_t)clen;
    ev->has_raw_controls = controls || ns_has_raw_controls(s, clen);

    ns_event_finish(ev);
    *out = ev;
    return 0;
}

void ns_event_finish(ns_event *ev)
{
    const ns_tag *exp = ns_event_find_tag(ev, "expiration", 2);
    ev->expiration = exp != NULL ? ns_parse_expiration(&exp->v[1]) : NS_EVENT_NO_EXPIRATION;
}

int ns_event_parse(const char *text, size_t len, ns_event **out, char *reason, size_t rlen)
{
    const char *after;
    int rc = ns_event_parse_fast(text, len, &after, out);
    if (rc == 0) {
        const char *end = text + len;
        while (after < end && (*after == ' ' || *after == '\n' || *after == '\r' || *after == '\t'))
            after++;
        if (after == end)
            return 0;
        free(*out); /* trailing bytes: let jansson name the error */
        *out = NULL;
    } else if (rc == NS_ENOMEM) {
        return ns_fail(reason, rlen, rc, "error: out of memory");
    }
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, NS_JSON_DECODE_FLAGS, &jerr);
    if (obj == NULL) {
        *out = NULL;
        return ns_fail(reason, rlen, NS_EINVAL, "invalid: malformed JSON at byte %d: %s",
                       jerr.position, jerr.text);
    }
    rc = ns_event_from_json(obj, out, reason, rlen);
    json_decref(obj);
    return rc;
}

/* ---- canonical serialization and id ------------------------------------ */

/* Writes the tags array; `escape_controls` picks \u00XX for the control
 * characters that the NIP-01 canonical form leaves verbatim. */
static void ns_add_tags(const ns_event *ev, bool escape_controls, ns_buf *out)
{
    ns_buf_addc(out, '[');
    for (uint32_t i = 0; i < ev->ntags; i++) {
        if (i)
            ns_buf_addc(out, ',');
        ns_buf_addc(out, '[');
        for (uint32_t j = 0; j < ev->tags[i].n; j++) {
            if (j)
                ns_buf_addc(out, ',');
            const ns_str *f = &ev->tags[i].v[j];
            ns_buf_add_canon_str(out, f->ptr, f->len, escape_controls);
        }
        ns_buf_addc(out, ']');
    }
    ns_buf_addc(out, ']');
}

void ns_event_serialize_canonical(const ns_event *ev, bool stringify, ns_buf *out)
{
    ns_buf_add(out, "[0,\"", 4);
    ns_buf_add_hex(out, ev->pubkey, 32);
    ns_buf_add(out, "\",", 2);
    ns_buf_add_i64(out, ev->created_at);
    ns_buf_addc(out, ',');
    ns_buf_add_i64(out, ev->kind);
    ns_buf_addc(out, ',');
    ns_add_tags(ev, stringify, out);
    ns_buf_addc(out, ',');
    ns_buf_add_canon_str(out, ev->content.ptr, ev->content.len, stringify);
    ns_buf_addc(out, ']');
}

/* OpenSSL 3 looks an algorithm up on every EVP_sha256() use unless it is
 * fetched once; the fetched object is immutable and shared by all threads. */
static EVP_MD *ns_sha256_md;
static pthread_once_t ns_sha256_once = PTHREAD_ONCE_INIT;
static void ns_sha256_init(void) { ns_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

int ns_event_compute_id(const ns_event *ev, bool stringify, ns_buf *scratch, uint8_t out[32])
{
    ns_buf local = NS_BUF_INIT;
    ns_buf *b = scratch ? scratch : &local;
    ns_buf_reset(b);
    ns_event_serialize_canonical(ev, stringify, b);
    int rc = NS_ENOMEM;
    pthread_once(&ns_sha256_once, ns_sha256_init);
    if (ns_buf_ok(b) && ns_sha256_md != NULL &&
        EVP_Digest(b->data, b->len, out, NULL, ns_sha256_md, NULL) == 1)
        rc = 0;
    ns_buf_free(&local);
    return rc;
}

int ns_event_check_id(const ns_event *ev, ns_buf *scratch)
{
    uint8_t h[32];
    int rc = ns_event_compute_id(ev, false, scratch, h);
    if (rc != 0)
        return rc;
    if (memcmp(h, ev->id, 32) == 0)
        return 0;
    if (!ev->has_raw_controls)
        return NS_EBADID;
    rc = ns_event_compute_id(ev, true, scratch, h);
    if (rc != 0)
        return rc;
    return memcmp(h, ev->id, 32) == 0 ? 0 : NS_EBADID;
}

/* Direct-mapped: the slot is picked by the key's first bytes, which are
 * uniformly distributed (an x coordinate), and a full compare decides. */
#define NS_PUBKEY_CACHE_SLOTS 4096

struct ns_verifier {
    secp256k1_context *ctx;
    ns_buf scratch;
    struct {
        uint8_t key[32];
        bool used;
        secp256k1_xonly_pubkey pk;
    } cache[NS_PUBKEY_CACHE_SLOTS];
};

ns_verifier *ns_verifier_new(void)
{
    ns_verifier *v = calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    v->ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (v->ctx == NULL) {
        free(v);
        return NULL;
    }
    return v;
}

void ns_verifier_free(ns_verifier *v)
{
    if (v == NULL)
        return;
    secp256k1_context_destroy(v->ctx);
    ns_buf_free(&v->scratch);
    free(v);
}

int ns_event_verify_sig(const ns_event *ev, ns_verifier *v)
{
    unsigned slot = ((unsigned)ev->pubkey[0] << 8 | ev->pubkey[1]) % NS_PUBKEY_CACHE_SLOTS;
    if (!v->cache[slot].used || memcmp(v->cache[slot].key, ev->pubkey, 32) != 0) {
        if (!secp256k1_xonly_pubkey_parse(v->ctx, &v->cache[slot].pk, ev->pubkey)) {
            v->cache[slot].used = false;
            return NS_EBADSIG;
        }
        memcpy(v->cache[slot].key, ev->pubkey, 32);
        v->cache[slot].used = true;
    }
    if (!secp256k1_schnorrsig_verify(v->ctx, ev->sig, ev->id, 32, &v->cache[slot].pk))
        return NS_EBADSIG;
    return 0;
}

int ns_event_validate(const ns_event *ev, ns_verifier *v, char *reason, size_t rlen)
{
    int rc = ns_event_check_id(ev, &v->scratch);
    if (rc == NS_EBADID)
        return ns_fail(reason, rlen, rc, "invalid: event id does not match the hash of the event");
    if (rc != 0)
        return ns_fail(reason, rlen, rc, "error: out of memory");
    rc = ns_event_verify_sig(ev, v);
    if (rc != 0)
        return ns_fail(reason, rlen, rc, "invalid: sig is not a valid signature of the event id");
    return 0;
}

/* ---- kinds ------------------------------------------------------------- */

ns_kind_class ns_kind_classify(uint32_t kind)
{
    if (kind == 0 || kind == 3 || kind == 41 || (kind >= 10000 && kind < 20000))
        return NS_KIND_REPLACEABLE;
    if (kind >= 20000 && kind < 30000)
        return NS_KIND_EPHEMERAL;
    if (kind >= 30000 && kind < 40000)
        return NS_KIND_ADDRESSABLE;
    return NS_KIND_REGULAR;
}

const char *ns_kind_class_name(ns_kind_class c)
{
    switch (c) {
    case NS_KIND_REPLACEABLE: return "replaceable";
    case NS_KIND_EPHEMERAL: return "ephemeral";
    case NS_KIND_ADDRESSABLE: return "addressable";
    default: return "regular";
    }
}

const ns_tag *ns_event_find_tag(const ns_event *ev, const char *name, uint32_t min_n)
{
    size_t nlen = strlen(name);
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const ns_tag *t = &ev->tags[i];
        if (t->n >= min_n && t->v[0].len == nlen && memcmp(t->v[0].ptr, name, nlen) == 0)
            return t;
    }
    return NULL;
}

ns_str ns_event_d_tag(const ns_event *ev)
{
    const ns_tag *t = ns_event_find_tag(ev, "d", 2);
    if (t != NULL)
        return t->v[1];
    ns_str empty = {"", 0};
    return empty;
}

bool ns_event_dedup_key(const ns_event *ev, ns_buf *out)
{
    switch (ns_kind_classify(ev->kind)) {
    case NS_KIND_REPLACEABLE:
        ns_buf_add(out, "[\"", 2);
        ns_buf_add_hex(out, ev->pubkey, 32);
        ns_buf_add(out, "\",", 2);
        ns_buf_add_i64(out, ev->kind);
        ns_buf_addc(out, ']');
        return true;
    case NS_KIND_ADDRESSABLE: {
        ns_str d = ns_event_d_tag(ev);
        ns_buf_addc(out, '[');
        ns_buf_add_json_str(out, d.ptr, d.len);
        ns_buf_addc(out, ']');
        return true;
    }
    default:
        return false;
    }
}

bool ns_event_expired(const ns_event *ev, int64_t now)
{
    return ev->expiration != NS_EVENT_NO_EXPIRATION && ev->expiration <= now;
}

/* ---- output ------------------------------------------------------------ */

void ns_event_tags_to_json(const ns_event *ev, ns_buf *out) { ns_add_tags(ev, true, out); }

void ns_event_to_json(const ns_event *ev, ns_buf *out)
{
    ns_buf_adds(out, "{\"id\":\"");
    ns_buf_add_hex(out, ev->id, 32);
    ns_buf_adds(out, "\",\"pubkey\":\"");
    ns_buf_add_hex(out, ev->pubkey, 32);
    ns_buf_adds(out, "\",\"created_at\":");
    ns_buf_add_i64(out, ev->created_at);
    ns_buf_adds(out, ",\"kind\":");
    ns_buf_add_i64(out, ev->kind);
    ns_buf_adds(out, ",\"tags\":");
    ns_add_tags(ev, true, out);
    ns_buf_adds(out, ",\"content\":");
    ns_buf_add_json_str(out, ev->content.ptr, ev->content.len);
    ns_buf_adds(out, ",\"sig\":\"");
    ns_buf_add_hex(out, ev->sig, 64);
    ns_buf_adds(out, "\"}");
}
