/* settings.h - nostream's settings.yaml, read into a C struct.
 *
 * Operators move to this relay with the settings.yaml they already have, so
 * the reader takes nostream's file as it is: every key nostream knows keeps
 * its name, type, default and meaning (docs/settings.md lists them all).
 * A load starts from nostream's defaults (resources/default-settings.yaml,
 * which is also embedded here) and each key present in the file replaces
 * the default, the way nostream merges its file over the defaults: mappings
 * merge key by key, lists and scalars replace.
 *
 * Nothing is dropped in silence. Keys nostream knows but this relay does not
 * implement (payments, mirroring, ...) are accepted and listed in
 * `unimplemented`; keys nostream does not know are listed in `unknown`;
 * deprecated spellings nostream still honours are used and listed in
 * `deprecated`. The caller logs the three lists once at startup. A value of
 * the wrong type or out of range is an error naming the file, the line and
 * the dotted key, e.g.
 *   settings.yaml:42: limits.event.createdAt.maxPositiveDelta must be a
 *   non-negative integer, not "abc"
 *
 * YAML anchors may be written but aliases (*name) are refused, as are
 * several documents in one file. Files over NS_SETTINGS_MAX_FILE bytes,
 * nesting deeper than NS_SETTINGS_MAX_DEPTH and more than
 * NS_SETTINGS_MAX_NODES values are refused too, so a hostile file costs a
 * bounded amount of memory and time.
 *
 * A loaded ns_settings is read-only: threads may share it without locks.
 * Every pointer in it points either to static default data or to memory
 * owned by the struct, released together by ns_settings_free.
 */
#ifndef NS_SETTINGS_H
#define NS_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define NS_SETTINGS_MAX_FILE (1u << 20)  /* bytes */
#define NS_SETTINGS_MAX_DEPTH 32         /* nested mappings and lists */
#define NS_SETTINGS_MAX_NODES 100000     /* scalars, mappings and lists */
#define NS_SETTINGS_MAX_KEYS 1024        /* keys in one mapping */

/* An event kind or an inclusive range of kinds; a single kind k is {k, k}.
 * nostream writes "every kind above 50" as [50, 9007199254740991]. */
typedef struct ns_kind_range {
    uint64_t min, max;
} ns_kind_range;

typedef struct ns_kindlist {
    const ns_kind_range *v;
    size_t n;
} ns_kindlist;

typedef struct ns_strlist {
    const char *const *v;
    size_t n;
} ns_strlist;

/* An address or network. IPv4 is held IPv4-mapped (::ffff:a.b.c.d, bits
 * counted over all 128), so "10.0.0.1" and "::ffff:10.0.0.1" are one
 * address. Host bits beyond `bits` are zero. */
typedef struct ns_ipnet {
    uint8_t addr[16];
    uint8_t bits; /* 0..128; 128 is one address */
} ns_ipnet;

typedef struct ns_iplist {
    const ns_ipnet *v;
    size_t n;
} ns_iplist;

/* One sliding-window rate limit: at most `rate` hits per `period_ms`. */
typedef struct ns_rate_limit {
    const char *description; /* NULL when absent */
    bool has_kinds;          /* false: applies to every kind */
    ns_kindlist kinds;       /* with has_kinds, the kinds it counts (empty: none) */
    uint64_t period_ms;      /* > 0 */
    uint64_t rate;
} ns_rate_limit;

typedef struct ns_rate_limits {
    const ns_rate_limit *v;
    size_t n;
} ns_rate_limits;

/* One entry of limits.event.content. */
typedef struct ns_content_limit {
    const char *description; /* NULL when absent */
    bool has_kinds;          /* false: applies to every kind */
    ns_kindlist kinds;       /* with has_kinds, the kinds it applies to (empty: none) */
    uint64_t max_length;     /* 0: this entry sets no limit */
} ns_content_limit;

typedef struct ns_content_limits {
    const ns_content_limit *v;
    size_t n;
} ns_content_limits;

/* Every setting the relay reads. Field comments give the YAML key and
 * nostream's default. Counts and lengths use 0 for "no limit" exactly
 * where nostream does. Strings are NUL-terminated; NULL means absent. */
typedef struct ns_settings {
    struct {
        const char *relay_url;        /* wss://nostream.your-domain.com */
        const char *name;             /* nostream.your-domain.com */
        const char *description;      /* A nostr relay written in Typescript. */
        const char *pubkey;           /* hex or npub, as written (see ns_settings_info_pubkey) */
        const char *contact;          /* mailto:operator@your-domain.com */
        const char *banner;           /* newer nostream; NULL */
        const char *icon;             /* newer nostream; NULL */
        const char *self;             /* newer nostream; NULL */
        const char *terms_of_service; /* newer nostream; NULL */
    } info;
    struct {
        uint64_t max_payload_size;    /* maxPayloadSize, 524288 bytes */
        const char *remote_ip_header; /* remoteIpHeader, lower-cased; "x-forwarded-for" */
        ns_iplist trusted_proxies;    /* trustedProxies: 127.0.0.1, ::1 */
        /* Our additions (nostream has no such keys), see docs/settings.md. */
        uint32_t handshake_timeout_seconds; /* handshakeTimeoutSeconds, 10 (read at start) */
        struct {
            bool enabled;                   /* compression.enabled: offer permessage-deflate, true */
            uint32_t server_max_window_bits; /* compression.serverMaxWindowBits, 9..15, 12 */
            bool server_no_context_takeover; /* compression.serverNoContextTakeover, true */
        } compression;
    } network;
    struct {
        uint32_t count; /* workers.count, 0: one per CPU */
    } workers;
    struct ns_settings_limits {
        struct {
            ns_rate_limits rate_limits; /* 12/1 s and 48/60 s per IP */
            ns_iplist ip_whitelist;     /* ::1, 10.10.10.1, ::ffff:10.10.10.1 */
            ns_iplist ip_blacklist;     /* empty */
            uint32_t max_per_ip;        /* maxConnectionsPerIp, 256 (our addition); 0: no limit */
        } connection;
        struct ns_settings_event {
            uint32_t event_id_min_leading_zero_bits; /* eventId.minLeadingZeroBits, 0 */
            uint32_t pubkey_min_leading_zero_bits;   /* pubkey.minLeadingZeroBits, 0 */
            ns_strlist pubkey_whitelist;             /* pubkey.whitelist: lower-case hex prefixes */
            ns_strlist pubkey_blacklist;             /* pubkey.blacklist: lower-case hex prefixes */
            ns_kindlist kind_whitelist;              /* kind.whitelist, empty */
            ns_kindlist kind_blacklist;              /* kind.blacklist, empty */
            uint64_t created_at_max_positive_delta;  /* createdAt.maxPositiveDelta, 900 s; 0: off */
            uint64_t created_at_max_negative_delta;  /* createdAt.maxNegativeDelta, 0: off */
            ns_content_limits content;               /* content: 102400 for every kind */
            ns_rate_limits rate_limits;              /* rateLimits: six per-pubkey limits */
            ns_strlist whitelist_pubkeys;            /* whitelists.pubkeys: 64-hex, exact */
            ns_iplist whitelist_ip_addresses;        /* whitelists.ipAddresses */
        } event;
        struct {
            uint32_t max_subscriptions;          /* 10; 0: no limit */
            uint32_t max_filters;                /* 10; 0: no limit */
            uint32_t max_filter_values;          /* 2500; 0: no limit */
            uint32_t max_subscription_id_length; /* 256; 0: no limit */
            uint32_t max_limit;                  /* 5000; 0: no limit */
            uint32_t min_prefix_length;          /* 4; 64: full ids and pubkeys only */
        } subscription;
        struct {
            ns_rate_limits rate_limits; /* 240/60 s per IP */
            ns_iplist ip_whitelist;     /* ::1, 10.10.10.1, ::ffff:10.10.10.1 */
        } message;
    } limits;
    ns_strlist unimplemented; /* dotted keys accepted but not acted on */
    ns_strlist unknown;       /* dotted keys nostream does not know */
    ns_strlist deprecated;    /* deprecated spellings that were used */
    void *mem;                /* private: memory owned by this struct */
} ns_settings;

/* The NIP-11 `limitation` object this configuration implies. Zero in a
 * count means "no limit": leave the field out of the document. */
typedef struct ns_nip11_limitation {
    uint64_t max_message_length;     /* network.maxPayloadSize */
    uint32_t max_subscriptions;
    uint32_t max_filters;            /* maxFilters (nostream 2.x wrongly sent maxFilterValues) */
    uint32_t max_limit;
    uint32_t max_subid_length;
    uint32_t min_prefix;
    uint64_t max_content_length;     /* largest limit any kind 0..65535 has; 0: some kind has none */
    uint32_t min_pow_difficulty;     /* limits.event.eventId.minLeadingZeroBits */
    uint64_t created_at_lower_limit; /* maxNegativeDelta (seconds into the past), 0: none */
    uint64_t created_at_upper_limit; /* maxPositiveDelta (seconds into the future), 0: none */
    bool auth_required;              /* always false: NIP-42 is not required */
    bool payment_required;           /* always false: payments are not implemented */
    bool restricted_writes;          /* a PoW, pubkey or kind rule can refuse events */
} ns_nip11_limitation;

/* Fills s with nostream's defaults (the values of
 * resources/default-settings.yaml). Allocates nothing; s->mem is NULL.
 * Calling ns_settings_free on the result is allowed and does nothing. */
void ns_settings_defaults(ns_settings *s);

/* Reads the settings file at path into out: defaults first, then every key
 * present in the file. Returns 0; NS_EIO when the file cannot be read (the
 * message names path and the reason, e.g. no such file); NS_ECONFIG for
 * anything wrong inside it (the message reads "<path>:<line>: <key> ...").
 * In: path, err/errlen (the message, always NUL-terminated when errlen > 0).
 * Out: *out, overwritten. On success the caller frees it with
 * ns_settings_free. On failure *out holds the defaults and owns nothing. */
int ns_settings_load(const char *path, ns_settings *out, char *err, size_t errlen);

/* As ns_settings_load, for text already in memory (len bytes, not
 * necessarily NUL-terminated); `name` stands for the file in messages.
 * Empty text, or text holding only comments, gives the defaults. */
int ns_settings_parse(const char *name, const char *text, size_t len, ns_settings *out, char *err,
                      size_t errlen);

/* Releases what load or parse allocated. s holds the defaults afterwards
 * and may be freed again or reused. */
void ns_settings_free(ns_settings *s);

/* Creates path holding resources/default-settings.yaml byte for byte when
 * no file (or anything else) is at path, making missing parent directories
 * with mode 0700. Never overwrites: the file appears whole or not at all
 * (written to a temporary name, then linked in place).
 * Returns 1 when it wrote the file, 0 when path already existed, NS_EIO
 * with a message naming the path otherwise. */
int ns_settings_write_default(const char *path, char *err, size_t errlen);

/* The embedded default settings text (NUL-terminated) and its length. */
const char *ns_settings_default_text(size_t *len);

/* True when `kind` is in one of the list's kinds or ranges. */
bool ns_settings_kind_in_list(const ns_kindlist *l, uint64_t kind);

/* True when limits.event.kind lets `kind` in, as nostream decides: a
 * non-empty whitelist must contain it, a non-empty blacklist must not. */
bool ns_settings_kind_allowed(const ns_settings *s, uint32_t kind);

/* True when limits.event.pubkey lets the author in, as nostream decides:
 * with a non-empty whitelist one of its prefixes must start pubkey_hex; no
 * blacklist prefix may. pubkey_hex is the event's lower-case hex pubkey. */
bool ns_settings_pubkey_allowed(const ns_settings *s, const char *pubkey_hex);

/* The content length limit for `kind`: the smallest positive maxLength of
 * the limits.event.content entries that apply to it (an entry without
 * `kinds` applies to every kind), or 0 when none limits it. nostream
 * rejects when any applicable entry is exceeded, which is the same rule. */
size_t ns_settings_content_limit(const ns_settings *s, uint32_t kind);

/* True when ip (IPv4 or IPv6 text, "::ffff:a.b.c.d" equal to "a.b.c.d") is
 * in one of the list's addresses or networks. False for text that is not
 * an address. */
bool ns_settings_ip_in_list(const char *ip, const ns_iplist *l);

/* True when an event escapes limits.event.rateLimits: its author is in
 * limits.event.whitelists.pubkeys (whole 64-hex key, as nostream) or the
 * client's address is in whitelists.ipAddresses. ip may be NULL. */
bool ns_settings_event_rate_exempt(const ns_settings *s, const char *pubkey_hex, const char *ip);

/* The client's address for rate limits and whitelists. peer is the TCP
 * peer; header is the value of network.remoteIpHeader on the request (NULL
 * when absent). The header is believed only when a header name is set and
 * peer is in network.trustedProxies; then the rightmost address in it that
 * is not itself a trusted proxy is the client (a client can prepend
 * anything to X-Forwarded-For, only what the proxies appended is true).
 * Out: out[outlen], the address in canonical text (IPv4-mapped written as
 * IPv4), or peer as given when peer is not an address.
 * Returns 1 when the address came from the header, 0 when it is peer,
 * NS_ERANGE when out is too small. */
int ns_settings_client_ip(const ns_settings *s, const char *peer, const char *header, char *out,
                          size_t outlen);

/* info.pubkey as 64 lower-case hex characters: hex is taken as is (any
 * case), an npub1... (NIP-19) is decoded, as nostream does for NIP-11.
 * Out: out[65]. Returns 0, or NS_EINVAL when it is neither (e.g. the
 * placeholder "replace-with-your-pubkey-in-hex"); out is then "". */
int ns_settings_info_pubkey(const ns_settings *s, char out[65]);

/* Fills *out with the NIP-11 limitation values of s. */
void ns_settings_limitation(const ns_settings *s, ns_nip11_limitation *out);

/* Appends every effective value to out, one "dotted.key = value" line
 * each, in a fixed order (for logs and tests; not YAML). */
void ns_settings_describe(const ns_settings *s, ns_buf *out);

#endif
